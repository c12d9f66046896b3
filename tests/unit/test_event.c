/*
 * test_event.c - event ids, the key rule and the openSPP body mapping.
 */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "avro.h"
#include "buf.h"
#include "event.h"
#include "testutil.h"
#include "timefmt.h"

static const il_event_ctx ctx = { "openspp-test", "National ID" };

/* A body with every member set, each to a recognisable value. */
static const char full_body[] =
    "{\"name\": \"NGUYỄN, THỊ LAN\","
    " \"ids\": [{\"id_type\": \"National ID\", \"value\": \"NID-1001\", \"expiry_date\": \"2030-01-31\","
    "   \"status\": \"valid\", \"description\": \"issued in Hanoi\"},"
    "  {\"id_type\": \"Passport\", \"value\": \"P-77\", \"expiry_date\": null, \"status\": \"invalid\","
    "   \"description\": null}],"
    " \"registration_date\": \"2024-02-29\","
    " \"phone_numbers\": [{\"phone_no\": \"+84 912 345 678\", \"date_collected\": \"2024-03-01\"},"
    "  {\"phone_no\": \"0912000111\", \"date_collected\": null}],"
    " \"email\": \"lan@example.org\", \"address\": \"12 Phố Huế, Hà Nội\","
    " \"given_name\": \"THỊ\", \"addl_name\": \"LAN\", \"family_name\": \"NGUYỄN\","
    " \"gender\": \"Female\", \"birthdate\": \"1988-12-31\", \"birth_place\": \"Huế\","
    " \"is_group\": false}";

static const char *
str_at(const cJSON *obj, const char *name)
{
	const cJSON *v = cJSON_GetObjectItemCaseSensitive(obj, name);

	assert_true(cJSON_IsString(v));
	return v->valuestring;
}

static void
assert_null_at(const cJSON *obj, const char *name)
{
	const cJSON *v = cJSON_GetObjectItemCaseSensitive(obj, name);

	assert_non_null(v);
	assert_true(cJSON_IsNull(v));
}

static void
test_id_known_vector(void **state)
{
	char id[65];

	(void)state;
	il_event_id("openspp", "openspp-test", "FILE", "people.jsonl:3", "res_partner", "66", id);
	/* python3: hashlib.sha256(b'openspp\0openspp-test\0FILE\0people.jsonl:3\0res_partner\066') */
	assert_string_equal(id, "d1db9a619c4909625a9aa816057ea149234e44b6a41db78356d370fa583f8b30");
	il_event_id(NULL, NULL, NULL, NULL, NULL, NULL, id);
	assert_string_equal(id, "8855508aade16ec573d21e6a485dfd0a7624085c1a14b5ecdd6485de0c6839a4");
	il_event_id("", "", "", "", "", "", id);
	assert_string_equal(id, "8855508aade16ec573d21e6a485dfd0a7624085c1a14b5ecdd6485de0c6839a4");
}

static void
test_id_deterministic_and_distinct(void **state)
{
	const char *base[6] = { "openspp", "i", "CDC", "0/16B3748", "g2p_program_membership", "42" };
	char a[65], b[65], c[65];
	int i;

	(void)state;
	il_event_id(base[0], base[1], base[2], base[3], base[4], base[5], a);
	il_event_id(base[0], base[1], base[2], base[3], base[4], base[5], b);
	assert_string_equal(a, b);
	assert_int_equal(strlen(a), 64);
	assert_int_equal(strspn(a, "0123456789abcdef"), 64);
	/* Changing any one field changes the id. */
	for (i = 0; i < 6; i++) {
		const char *f[6];

		memcpy(f, base, sizeof(f));
		f[i] = "x";
		il_event_id(f[0], f[1], f[2], f[3], f[4], f[5], c);
		assert_string_not_equal(a, c);
	}
	/* The NUL separator keeps the boundary between fields. */
	il_event_id("ab", "c", "", "", "", "", a);
	il_event_id("a", "bc", "", "", "", "", b);
	assert_string_not_equal(a, b);
}

/* The id of an event is the id of its own source record, with absent, null
 * and non-string members as empty. */
static void
test_id_of_source(void **state)
{
	cJSON *full = il_test_parse_json("{\"system\": \"openspp\", \"instance\": \"i\", \"kind\": \"CDC\","
	    " \"position\": \"0/16B3748\", \"table\": \"res_partner\", \"primary_key\": \"42\"}");
	cJSON *sparse = il_test_parse_json("{\"system\": \"openspp\", \"instance\": null, \"kind\": 4,"
	    " \"table\": \"res_partner\"}");
	cJSON *notobj = il_test_parse_json("[\"openspp\"]");
	char a[65], b[65];

	(void)state;
	il_event_id_of_source(full, a);
	il_event_id("openspp", "i", "CDC", "0/16B3748", "res_partner", "42", b);
	assert_string_equal(a, b);
	il_event_id_of_source(sparse, a);
	il_event_id("openspp", NULL, NULL, NULL, "res_partner", NULL, b);
	assert_string_equal(a, b);
	il_event_id_of_source(notobj, a);
	il_event_id(NULL, NULL, NULL, NULL, NULL, NULL, b);
	assert_string_equal(a, b);
	il_event_id_of_source(NULL, a);
	assert_string_equal(a, b);
	cJSON_Delete(full);
	cJSON_Delete(sparse);
	cJSON_Delete(notobj);
}

static void
test_id_valid(void **state)
{
	char id[65], bad[66];

	(void)state;
	il_event_id("a", "b", "c", "d", "e", "f", id);
	assert_true(il_event_id_valid(id));
	assert_true(il_event_id_valid("0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef"));
	assert_false(il_event_id_valid(NULL));
	assert_false(il_event_id_valid(""));
	/* upper case, one digit short, one too many, a quote, a NUL inside */
	assert_false(il_event_id_valid("0123456789ABCDEF0123456789abcdef0123456789abcdef0123456789abcdef"));
	assert_false(il_event_id_valid("0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcde"));
	assert_false(il_event_id_valid("0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef0"));
	assert_false(il_event_id_valid("0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcde\""));
	memcpy(bad, id, 65);
	bad[10] = '\0';
	assert_false(il_event_id_valid(bad));
	memcpy(bad, id, 65);
	bad[63] = 'g';
	assert_false(il_event_id_valid(bad));
}

static void
test_file_position(void **state)
{
	char *a, *b, *c, *d, *e, *f;

	(void)state;
	/* python3: hashlib.sha256(b'abc').hexdigest()[:16] */
	a = il_event_file_position("people.jsonl", 3, "abc", 3);
	assert_string_equal(a, "people.jsonl:3:ba7816bf8f01cfea");
	/* the same line again: the same position */
	b = il_event_file_position("people.jsonl", 3, "abc", 3);
	assert_string_equal(a, b);
	/* a changed line, or the same text on another line: another one */
	c = il_event_file_position("people.jsonl", 3, "abd", 3);
	assert_string_not_equal(a, c);
	d = il_event_file_position("people.jsonl", 4, "abc", 3);
	assert_string_equal(d, "people.jsonl:4:ba7816bf8f01cfea");
	/* the bytes count, not the C string: a NUL inside is hashed too */
	e = il_event_file_position("x", 1, "a\0b", 3);
	assert_string_equal(e, "x:1:59b271ae1bbcb1d3");
	f = il_event_file_position(NULL, 18446744073709551615ULL, "", 0);
	assert_string_equal(f, ":18446744073709551615:e3b0c44298fc1c14");
	free(a);
	free(b);
	free(c);
	free(d);
	free(e);
	free(f);
}

static void
test_key_registrant_external_id(void **state)
{
	cJSON *ev = il_test_parse_json("{\"registrant\": {\"source_id\": 7, \"external_ids\": ["
	    "{\"type\": \"Passport\", \"value\": \"P-1\"},"
	    "{\"type\": \"National ID\", \"value\": \"\"},"
	    "{\"type\": \"National ID\", \"value\": \"NID-9\"}]}, \"household\": null}");
	char err[256] = "", *key;

	(void)state;
	key = il_event_key(&ctx, ev, err, sizeof(err));
	assert_non_null(key);
	/* the first non-empty id of the configured type, not another type */
	assert_string_equal(key, "NID-9");
	free(key);
	cJSON_Delete(ev);
}

static void
test_key_registrant_source_id(void **state)
{
	cJSON *ev = il_test_parse_json("{\"registrant\": {\"source_id\": 66, \"external_ids\": ["
	    "{\"type\": \"Passport\", \"value\": \"P-1\"}]}}");
	char err[256] = "", *key;

	(void)state;
	key = il_event_key(&ctx, ev, err, sizeof(err));
	assert_non_null(key);
	assert_string_equal(key, "openspp-test:res_partner:66");
	free(key);
	cJSON_Delete(ev);
}

static void
test_key_household_first(void **state)
{
	cJSON *ev = il_test_parse_json("{\"registrant\": {\"source_id\": 5, \"external_ids\": ["
	    "{\"type\": \"National ID\", \"value\": \"NID-MEMBER\"}]},"
	    " \"household\": {\"source_id\": 900, \"external_ids\": ["
	    "{\"type\": \"National ID\", \"value\": \"HH-1\"}]}}");
	cJSON *ev2 = il_test_parse_json("{\"registrant\": {\"source_id\": 5, \"external_ids\": ["
	    "{\"type\": \"National ID\", \"value\": \"NID-MEMBER\"}]},"
	    " \"household\": {\"source_id\": 900, \"external_ids\": []}}");
	char err[256] = "", *key;

	(void)state;
	key = il_event_key(&ctx, ev, err, sizeof(err));
	assert_non_null(key);
	assert_string_equal(key, "HH-1");
	free(key);
	/* A household without an external id keys by its own database id,
	 * never by the member's id: the family must stay on one key. */
	key = il_event_key(&ctx, ev2, err, sizeof(err));
	assert_non_null(key);
	assert_string_equal(key, "openspp-test:res_partner:900");
	free(key);
	cJSON_Delete(ev);
	cJSON_Delete(ev2);
}

static void
test_key_no_identity(void **state)
{
	cJSON *ev = il_test_parse_json("{\"registrant\": {\"source_id\": null, \"external_ids\": ["
	    "{\"type\": \"Passport\", \"value\": \"P-1\"}]}, \"household\": null}");
	cJSON *hh = il_test_parse_json("{\"registrant\": {\"source_id\": 5, \"external_ids\": ["
	    "{\"type\": \"National ID\", \"value\": \"NID-MEMBER\"}]},"
	    " \"household\": {\"source_id\": null, \"external_ids\": []}}");
	cJSON *bad = il_test_parse_json("{\"registrant\": {\"source_id\": 1.5}}");
	char err[256] = "";

	(void)state;
	assert_null(il_event_key(&ctx, ev, err, sizeof(err)));
	assert_string_equal(err, "event has no stable identity: no external id of type \"National ID\" "
	    "and no source id");
	err[0] = '\0';
	assert_null(il_event_key(&ctx, hh, err, sizeof(err)));
	assert_string_equal(err, "event has no stable identity: household has no external id of type "
	    "\"National ID\" and no source id");
	assert_null(il_event_key(&ctx, bad, err, sizeof(err)));
	assert_null(il_event_key(&ctx, NULL, err, sizeof(err)));
	cJSON_Delete(ev);
	cJSON_Delete(hh);
	cJSON_Delete(bad);
}

static void
test_map_every_field(void **state)
{
	cJSON *body = il_test_parse_json(full_body), *ev;
	const cJSON *src, *reg, *ids, *x, *phones;
	char err[1024] = "", id[65], *key;
	int64_t ts;

	(void)state;
	ev = il_event_from_openspp(&ctx, body, "FILE", "people.jsonl:3", err, sizeof(err));
	assert_non_null(ev);
	assert_string_equal(err, "");
	assert_string_equal(str_at(ev, "event_type"), "REGISTRANT_SUBMITTED");
	/* Without a res_partner id the primary key is unknown: the id covers
	 * the source fields only, never the national ID. */
	il_event_id("openspp", "openspp-test", "FILE", "people.jsonl:3", "res_partner", NULL, id);
	assert_string_equal(str_at(ev, "event_id"), id);
	il_event_id("openspp", "openspp-test", "FILE", "people.jsonl:3", "res_partner", "NID-1001", id);
	assert_string_not_equal(str_at(ev, "event_id"), id);

	src = cJSON_GetObjectItemCaseSensitive(ev, "source");
	il_event_id_of_source(src, id);
	assert_string_equal(str_at(ev, "event_id"), id);
	assert_string_equal(str_at(src, "system"), "openspp");
	assert_string_equal(str_at(src, "instance"), "openspp-test");
	assert_string_equal(str_at(src, "kind"), "FILE");
	assert_string_equal(str_at(src, "position"), "people.jsonl:3");
	assert_string_equal(str_at(src, "table"), "res_partner");
	assert_null_at(src, "primary_key");

	assert_null(il_time_parse_ms(str_at(ev, "occurred_at"), 0, &ts));
	assert_true(ts > 1700000000000LL);
	assert_string_equal(str_at(ev, "occurred_at"), str_at(ev, "produced_at"));
	assert_null_at(ev, "programme");
	assert_null_at(ev, "membership");
	assert_null_at(ev, "household");

	reg = cJSON_GetObjectItemCaseSensitive(ev, "registrant");
	assert_null_at(reg, "source_id");
	assert_true(cJSON_IsFalse(cJSON_GetObjectItemCaseSensitive(reg, "is_group")));
	assert_string_equal(str_at(reg, "name"), "NGUYỄN, THỊ LAN");
	assert_string_equal(str_at(reg, "given_name"), "THỊ");
	assert_string_equal(str_at(reg, "addl_name"), "LAN");
	assert_string_equal(str_at(reg, "family_name"), "NGUYỄN");
	assert_string_equal(str_at(reg, "gender"), "Female");
	assert_string_equal(str_at(reg, "birthdate"), "1988-12-31");
	assert_null_at(reg, "birthdate_exact");
	assert_string_equal(str_at(reg, "birth_place"), "Huế");
	assert_string_equal(str_at(reg, "registration_date"), "2024-02-29");
	assert_string_equal(str_at(reg, "email"), "lan@example.org");
	assert_string_equal(str_at(reg, "address"), "12 Phố Huế, Hà Nội");
	assert_null_at(reg, "area");

	ids = cJSON_GetObjectItemCaseSensitive(reg, "external_ids");
	assert_int_equal(cJSON_GetArraySize(ids), 2);
	x = cJSON_GetArrayItem(ids, 0);
	assert_string_equal(str_at(x, "type"), "National ID");
	assert_string_equal(str_at(x, "value"), "NID-1001");
	assert_string_equal(str_at(x, "status"), "valid");
	assert_string_equal(str_at(x, "expiry_date"), "2030-01-31");
	assert_string_equal(str_at(x, "description"), "issued in Hanoi");
	x = cJSON_GetArrayItem(ids, 1);
	assert_string_equal(str_at(x, "type"), "Passport");
	assert_string_equal(str_at(x, "status"), "invalid");
	assert_null_at(x, "expiry_date");
	assert_null_at(x, "description");

	phones = cJSON_GetObjectItemCaseSensitive(reg, "phones");
	assert_int_equal(cJSON_GetArraySize(phones), 2);
	x = cJSON_GetArrayItem(phones, 0);
	assert_string_equal(str_at(x, "number"), "+84 912 345 678");
	assert_null_at(x, "sanitized");
	assert_string_equal(str_at(x, "date_collected"), "2024-03-01");
	assert_null_at(cJSON_GetArrayItem(phones, 1), "date_collected");

	key = il_event_key(&ctx, ev, err, sizeof(err));
	assert_non_null(key);
	assert_string_equal(key, "NID-1001");
	free(key);
	cJSON_Delete(ev);
	cJSON_Delete(body);
}

static void
test_map_same_position_same_id(void **state)
{
	cJSON *body = il_test_parse_json(full_body), *a, *b, *c;
	char err[256];

	(void)state;
	a = il_event_from_openspp(&ctx, body, "FILE", "people.jsonl:3", err, sizeof(err));
	b = il_event_from_openspp(&ctx, body, "FILE", "people.jsonl:3", err, sizeof(err));
	c = il_event_from_openspp(&ctx, body, "FILE", "people.jsonl:4", err, sizeof(err));
	assert_non_null(a);
	assert_non_null(b);
	assert_non_null(c);
	assert_string_equal(str_at(a, "event_id"), str_at(b, "event_id"));
	assert_string_not_equal(str_at(a, "event_id"), str_at(c, "event_id"));
	cJSON_Delete(a);
	cJSON_Delete(b);
	cJSON_Delete(c);
	cJSON_Delete(body);
}

/* The primary key of the source is the res_partner id, and only it. */
static void
test_map_id_uses_source_id(void **state)
{
	cJSON *with = il_test_parse_json("{\"id\": 1001, \"ids\": [{\"id_type\": \"National ID\", \"value\": \"NID-1\"}]}");
	cJSON *other = il_test_parse_json("{\"id\": 1001, \"ids\": [{\"id_type\": \"National ID\", \"value\": \"NID-2\"}]}");
	cJSON *a, *b;
	char err[256] = "", id[65];

	(void)state;
	a = il_event_from_openspp(&ctx, with, "FILE", "f:1:00", err, sizeof(err));
	b = il_event_from_openspp(&ctx, other, "FILE", "f:1:00", err, sizeof(err));
	assert_non_null(a);
	assert_non_null(b);
	assert_string_equal(str_at(cJSON_GetObjectItemCaseSensitive(a, "source"), "primary_key"), "1001");
	il_event_id("openspp", "openspp-test", "FILE", "f:1:00", "res_partner", "1001", id);
	assert_string_equal(str_at(a, "event_id"), id);
	/* Only the source fields count (the position stands for the content). */
	assert_string_equal(str_at(a, "event_id"), str_at(b, "event_id"));
	cJSON_Delete(a);
	cJSON_Delete(b);
	cJSON_Delete(with);
	cJSON_Delete(other);
}

static void
test_map_minimal_body_keeps_nulls(void **state)
{
	cJSON *body = il_test_parse_json("{\"ids\": [{\"id_type\": \"National ID\", \"value\": \"N-1\"}]}");
	cJSON *ev;
	const cJSON *reg;
	char err[256] = "";
	static const char *const nulls[] = {
		"name", "given_name", "family_name", "addl_name", "gender",
		"birthdate", "birth_place", "registration_date", "email", "address",
	};
	size_t i;

	(void)state;
	ev = il_event_from_openspp(&ctx, body, "PUSH", NULL, err, sizeof(err));
	assert_non_null(ev);
	assert_null_at(cJSON_GetObjectItemCaseSensitive(ev, "source"), "position");
	assert_string_equal(str_at(cJSON_GetObjectItemCaseSensitive(ev, "source"), "kind"), "PUSH");
	reg = cJSON_GetObjectItemCaseSensitive(ev, "registrant");
	for (i = 0; i < sizeof(nulls) / sizeof(nulls[0]); i++)
		assert_null_at(reg, nulls[i]);
	assert_int_equal(cJSON_GetArraySize(cJSON_GetObjectItemCaseSensitive(reg, "phones")), 0);
	assert_true(cJSON_IsFalse(cJSON_GetObjectItemCaseSensitive(reg, "is_group")));
	cJSON_Delete(ev);
	cJSON_Delete(body);
}

static void
test_map_seed_individual_66(void **state)
{
	char *text = il_test_read_file(IL_TEST_DATA_DIR "/openspp/individual-66.json", NULL);
	cJSON *body = il_test_parse_json(text), *ev;
	const cJSON *reg, *src;
	char err[256] = "", id[65], *key;

	(void)state;
	ev = il_event_from_openspp(&ctx, body, "FILE", "individual-66.json:1", err, sizeof(err));
	assert_non_null(ev);
	reg = cJSON_GetObjectItemCaseSensitive(ev, "registrant");
	/* The REST API's defects stay unknowns: never "unknown" or a guess. */
	assert_null_at(reg, "gender");
	assert_null_at(reg, "birthdate");
	assert_null_at(reg, "birthdate_exact");
	assert_null_at(reg, "addl_name");
	assert_null_at(reg, "email");
	assert_null_at(reg, "address");
	assert_null_at(reg, "birth_place");
	assert_int_equal(cJSON_GetArraySize(cJSON_GetObjectItemCaseSensitive(reg, "external_ids")), 0);
	assert_int_equal(cJSON_GetArraySize(cJSON_GetObjectItemCaseSensitive(reg, "phones")), 0);
	assert_null(cJSON_GetObjectItemCaseSensitive(reg, "age"));
	assert_int_equal((int)cJSON_GetObjectItemCaseSensitive(reg, "source_id")->valuedouble, 66);
	assert_string_equal(str_at(reg, "given_name"), "AMANI");
	assert_string_equal(str_at(reg, "registration_date"), "2023-07-27");
	src = cJSON_GetObjectItemCaseSensitive(ev, "source");
	assert_string_equal(str_at(src, "primary_key"), "66");
	il_event_id("openspp", "openspp-test", "FILE", "individual-66.json:1", "res_partner", "66", id);
	assert_string_equal(str_at(ev, "event_id"), id);
	il_event_id_of_source(src, id);
	assert_string_equal(str_at(ev, "event_id"), id);
	/* No ID of the key type: the key falls back to the database id. */
	key = il_event_key(&ctx, ev, err, sizeof(err));
	assert_non_null(key);
	assert_string_equal(key, "openspp-test:res_partner:66");
	free(key);
	cJSON_Delete(ev);
	cJSON_Delete(body);
	free(text);
}

/* The mapped events fit the real schema: encoded and decoded back they are
 * the same JSON form. */
static void
test_map_encodes_with_schema(void **state)
{
	char *seed = il_test_read_file(IL_TEST_DATA_DIR "/openspp/individual-66.json", NULL);
	const char *bodies[2] = { full_body, seed };
	char err[1024] = "";
	il_schema_set *set;
	const il_schema *s;
	size_t i;

	(void)state;
	set = il_test_load_schemas(IL_SCHEMAS_DIR);
	s = il_schema_set_latest(set, "EligibilityEvent");
	assert_non_null(s);
	for (i = 0; i < 2; i++) {
		cJSON *body = il_test_parse_json(bodies[i]), *ev, *back = NULL;
		il_buf out;

		il_buf_init(&out, 1 << 20);
		ev = il_event_from_openspp(&ctx, body, "PUSH", "req-1", err, sizeof(err));
		assert_non_null(ev);
		if (il_avro_encode_json(s, ev, &out, err, sizeof(err)) != IL_OK)
			fail_msg("body %zu: %s", i, err);
		if (il_avro_decode_json(s, out.data, out.len, &back, err, sizeof(err)) != IL_OK)
			fail_msg("body %zu: %s", i, err);
		assert_true(cJSON_Compare(ev, back, 1));
		cJSON_Delete(back);
		cJSON_Delete(ev);
		cJSON_Delete(body);
		il_buf_free(&out);
	}
	il_schema_set_destroy(set);
	free(seed);
}

/* Maps @p text and checks that it is refused with exactly @p want. */
static void
assert_refused(const char *text, const char *want)
{
	cJSON *body = il_test_parse_json(text);
	char err[2048] = "";
	cJSON *ev = il_event_from_openspp(&ctx, body, "FILE", "f:1", err, sizeof(err));

	if (ev != NULL || strcmp(err, want) != 0)
		fail_msg("body %s\nwanted: %s\ngot:    %s", text, want, err);
	cJSON_Delete(body);
}

static void
test_validation_each_error(void **state)
{
	static const char id_ok[] = "\"ids\": [{\"id_type\": \"National ID\", \"value\": \"N-1\"}]";
	char text[1024];
	static const struct {
		const char *members;   /* added after the valid ids */
		const char *want;
	} cases[] = {
		{ "\"name\": 5", "name: expected a string or null, got a number" },
		{ "\"email\": false", "email: expected a string or null, got false" },
		{ "\"address\": []", "address: expected a string or null, got an array" },
		{ "\"given_name\": {}", "given_name: expected a string or null, got an object" },
		{ "\"addl_name\": true", "addl_name: expected a string or null, got true" },
		{ "\"family_name\": 1", "family_name: expected a string or null, got a number" },
		{ "\"gender\": 1", "gender: expected a string or null, got a number" },
		{ "\"birth_place\": 1", "birth_place: expected a string or null, got a number" },
		{ "\"birthdate\": \"12/01/1980\"", "birthdate: expected YYYY-MM-DD, got \"12/01/1980\"" },
		{ "\"birthdate\": \"1990-02-30\"", "birthdate: expected YYYY-MM-DD, got \"1990-02-30\" (no such day)" },
		{ "\"birthdate\": \"1900-02-29\"", "birthdate: expected YYYY-MM-DD, got \"1900-02-29\" (no such day)" },
		{ "\"birthdate\": \"1990-13-01\"", "birthdate: expected YYYY-MM-DD, got \"1990-13-01\" (no such day)" },
		{ "\"birthdate\": \"1990-01-01T00:00:00\"", "birthdate: expected YYYY-MM-DD, got \"1990-01-01T00:00:00\"" },
		{ "\"birthdate\": 19900101", "birthdate: expected YYYY-MM-DD or null, got a number" },
		{ "\"registration_date\": \"\"", "registration_date: expected YYYY-MM-DD, got \"\"" },
		{ "\"is_group\": \"no\"", "is_group: expected true or false, got a string" },
		{ "\"id\": -3", "id: expected a positive integer or null, got a number" },
		{ "\"id\": \"66\"", "id: expected a positive integer or null, got a string" },
		{ "\"age\": []", "age: expected a string, a number or null, got an array" },
		{ "\"phone_numbers\": {}", "phone_numbers: expected an array or null, got an object" },
		{ "\"phone_numbers\": [\"+1\"]", "phone_numbers[0]: expected an object, got a string" },
		{ "\"phone_numbers\": [{\"date_collected\": \"2020-01-01\"}]", "phone_numbers[0].phone_no: required" },
		{ "\"phone_numbers\": [{\"phone_no\": \"\"}]", "phone_numbers[0].phone_no: must not be empty" },
		{ "\"phone_numbers\": [{\"phone_no\": \"1\", \"date_collected\": \"2020-1-1\"}]",
		  "phone_numbers[0].date_collected: expected YYYY-MM-DD, got \"2020-1-1\"" },
		{ "\"phone_numbers\": [{\"phone_no\": \"1\", \"kind\": \"mobile\"}]",
		  "phone_numbers[0].kind: unknown member" },
		{ "\"nickname\": \"x\"", "nickname: unknown member" },
		{ "\"name\": \"A\", \"name\": \"B\"", "name: duplicate member" },
		{ "\"given_name\": \"\xc3\x28\"", "given_name: invalid UTF-8" },
		{ "\"given_name\": \"\xed\xa0\x80\"", "given_name: invalid UTF-8" },
		{ "\"given_name\": \"\xc0\xaf\"", "given_name: invalid UTF-8" },
	};
	size_t i;

	(void)state;
	for (i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		snprintf(text, sizeof(text), "{%s, %s}", id_ok, cases[i].members);
		assert_refused(text, cases[i].want);
	}
}

static void
test_validation_ids(void **state)
{
	(void)state;
	assert_refused("{\"id\": 1, \"ids\": {}}", "ids: expected an array or null, got an object");
	assert_refused("{\"id\": 1, \"ids\": [7]}", "ids[0]: expected an object, got a number");
	assert_refused("{\"id\": 1, \"ids\": [{\"value\": \"V\"}]}", "ids[0].id_type: required");
	assert_refused("{\"id\": 1, \"ids\": [{\"id_type\": \"Passport\"}]}", "ids[0].value: required");
	assert_refused("{\"id\": 1, \"ids\": [{\"id_type\": \"Passport\", \"value\": 12}]}",
	    "ids[0].value: expected a string or null, got a number");
	assert_refused("{\"id\": 1, \"ids\": [{\"id_type\": \"\", \"value\": \"V\"}]}",
	    "ids[0].id_type: must not be empty");
	assert_refused("{\"id\": 1, \"ids\": [{\"id_type\": \"P\", \"value\": \"V\", \"expiry_date\": \"2030-02-29\"}]}",
	    "ids[0].expiry_date: expected YYYY-MM-DD, got \"2030-02-29\" (no such day)");
	assert_refused("{\"id\": 1, \"ids\": [{\"id_type\": \"P\", \"value\": \"V\", \"status\": \"expired\"}]}",
	    "ids[0].status: expected \"valid\" or \"invalid\", got \"expired\"");
	assert_refused("{\"id\": 1, \"ids\": [{\"id_type\": \"P\", \"value\": \"V\", \"description\": 3}]}",
	    "ids[0].description: expected a string or null, got a number");
	assert_refused("{\"id\": 1, \"ids\": [{\"id_type\": \"P\", \"value\": \"V\", \"issuer\": \"x\"}]}",
	    "ids[0].issuer: unknown member");
	assert_refused("{\"id\": 1, \"ids\": [{\"id_type\": \"P\", \"value\": \"V\"}, {\"id_type\": \"P\", \"value\": \"W\"}]}",
	    "ids[1].id_type: duplicate id type \"P\"");
}

static void
test_validation_nested_duplicates(void **state)
{
	(void)state;
	assert_refused("{\"id\": 1, \"ids\": [{\"id_type\": \"P\", \"value\": \"V\", \"value\": \"W\"}]}",
	    "ids[0].value: duplicate member");
	assert_refused("{\"id\": 1, \"phone_numbers\": [{\"phone_no\": \"1\"}, {\"phone_no\": \"2\", \"phone_no\": \"3\"}]}",
	    "phone_numbers[1].phone_no: duplicate member");
}

static void
test_validation_identity_and_shape(void **state)
{
	il_event_ctx other = { "x", NULL };
	cJSON *body;
	char err[256] = "";

	(void)state;
	assert_refused("{\"ids\": [{\"id_type\": \"Passport\", \"value\": \"P-1\"}]}",
	    "event has no stable identity: no external id of type \"National ID\" and no source id");
	assert_refused("[1, 2]", "body: expected a JSON object, got an array");
	body = il_test_parse_json("{\"id\": 4}");
	assert_null(il_event_from_openspp(&ctx, body, "SMOKE", "p", err, sizeof(err)));
	assert_string_equal(err, "source.kind: unknown kind \"SMOKE\"");
	cJSON_Delete(body);
	/* Without a key id type only the source id can identify. */
	body = il_test_parse_json("{\"ids\": [{\"id_type\": \"National ID\", \"value\": \"N\"}]}");
	assert_null(il_event_from_openspp(&other, body, "FILE", "p", err, sizeof(err)));
	assert_string_equal(err, "event has no stable identity: no external id of type \"\" and no source id");
	cJSON_Delete(body);
}

static void
test_validation_reports_all(void **state)
{
	(void)state;
	/* Every problem, one a line, in the order of the checks. */
	assert_refused("{\"ids\": [{\"id_type\": \"National ID\"}], \"birthdate\": \"1990-02-30\","
	    " \"gender\": 1, \"is_group\": \"yes\", \"colour\": \"red\"}",
	    "colour: unknown member\n"
	    "gender: expected a string or null, got a number\n"
	    "birthdate: expected YYYY-MM-DD, got \"1990-02-30\" (no such day)\n"
	    "is_group: expected true or false, got a string\n"
	    "ids[0].value: required\n"
	    "event has no stable identity: no external id of type \"National ID\" and no source id");
}

static void
test_validation_truncates_by_line(void **state)
{
	cJSON *body = il_test_parse_json("{\"id\": 1, \"name\": 1, \"email\": 2, \"address\": 3}");
	char err[80];
	cJSON *ev;
	char big[8192];
	size_t n;
	int i;

	(void)state;
	ev = il_event_from_openspp(&ctx, body, "FILE", "f:1", err, sizeof(err));
	assert_null(ev);
	/* Whole lines only, and a count of what did not fit. */
	assert_string_equal(err, "name: expected a string or null, got a number\n(2 more problems)");
	cJSON_Delete(body);

	/* Thousands of unknown members: described up to a bound, then counted. */
	n = (size_t)snprintf(big, sizeof(big), "{\"id\": 1");
	for (i = 0; i < 500; i++)
		n += (size_t)snprintf(big + n, sizeof(big) - n, ", \"m%d\": 0", i);
	snprintf(big + n, sizeof(big) - n, "}");
	body = il_test_parse_json(big);
	{
		char *err2 = malloc(65536);

		assert_non_null(err2);
		assert_null(il_event_from_openspp(&ctx, body, "FILE", "f:1", err2, 65536));
		assert_non_null(strstr(err2, "m0: unknown member\n"));
		assert_non_null(strstr(err2, "(450 more problems)"));
		free(err2);
	}
	cJSON_Delete(body);
}

static void
test_now(void **state)
{
	(void)state;
	assert_true(il_event_now_ms() > 1700000000000LL);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_id_known_vector),
		cmocka_unit_test(test_id_deterministic_and_distinct),
		cmocka_unit_test(test_id_of_source),
		cmocka_unit_test(test_id_valid),
		cmocka_unit_test(test_file_position),
		cmocka_unit_test(test_key_registrant_external_id),
		cmocka_unit_test(test_key_registrant_source_id),
		cmocka_unit_test(test_key_household_first),
		cmocka_unit_test(test_key_no_identity),
		cmocka_unit_test(test_map_every_field),
		cmocka_unit_test(test_map_same_position_same_id),
		cmocka_unit_test(test_map_id_uses_source_id),
		cmocka_unit_test(test_map_minimal_body_keeps_nulls),
		cmocka_unit_test(test_map_seed_individual_66),
		cmocka_unit_test(test_map_encodes_with_schema),
		cmocka_unit_test(test_validation_each_error),
		cmocka_unit_test(test_validation_ids),
		cmocka_unit_test(test_validation_nested_duplicates),
		cmocka_unit_test(test_validation_identity_and_shape),
		cmocka_unit_test(test_validation_reports_all),
		cmocka_unit_test(test_validation_truncates_by_line),
		cmocka_unit_test(test_now),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
