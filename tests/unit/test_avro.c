/*
 * test_avro - the JSON form <-> Avro body conversion of common/avro.c.
 *
 * Round trips every field of both event schemas (fixtures in tests/data/avro),
 * then feeds the decoder hostile bytes: every prefix of a valid body, crafted
 * length prefixes and counts, trailing bytes, invalid UTF-8, random mutations.
 * Each refusal is asserted on its exact message, since operators act on it.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>
#include <pthread.h>

#include <avro/generic.h>
#include <avro/io.h>
#include <avro/schema.h>
#include <avro/value.h>

#include "../testevent.h"
#include "avro.h"
#include "conf.h"
#include "serde.h"
#include "testutil.h"
#include "xalloc.h"

static il_schema_set *set;
static const il_schema *event_schema;
static const il_schema *result_schema;

static int
group_setup(void **state)
{
	(void)state;
	set = il_test_load_schemas(IL_SCHEMAS_DIR);
	event_schema = il_schema_set_latest(set, "EligibilityEvent");
	result_schema = il_schema_set_latest(set, "EnrollmentResult");
	return event_schema != NULL && result_schema != NULL ? 0 : -1;
}

static int
group_teardown(void **state)
{
	(void)state;
	il_schema_set_destroy(set);
	return 0;
}

static il_schema *
schema(const char *text)
{
	char err[512];
	il_schema *s = il_schema_from_json(text, strlen(text), err, sizeof(err));

	if (s == NULL)
		fail_msg("schema refused: %s", err);
	return s;
}

/* Encodes @p j with @p s into @p out, failing the test on error. */
static void
encode_ok(const il_schema *s, const cJSON *j, il_buf *out)
{
	char err[512] = "";
	il_err rc;

	il_buf_init(out, 1 << 20);
	rc = il_avro_encode_json(s, j, out, err, sizeof(err));
	if (rc != IL_OK)
		fail_msg("encode failed: %s", err);
}

/* Encode then decode must give @p expect back exactly. */
static void
assert_round_trip(const il_schema *s, const cJSON *in, const cJSON *expect)
{
	char err[512] = "";
	cJSON *out = NULL;
	il_buf body;
	il_err rc;

	encode_ok(s, in, &body);
	rc = il_avro_decode_json(s, body.data, body.len, &out, err, sizeof(err));
	if (rc != IL_OK)
		fail_msg("decode failed: %s", err);
	if (!cJSON_Compare(expect, out, 1)) {
		char *a = cJSON_Print(expect), *b = cJSON_Print(out);

		fprintf(stderr, "expected:\n%s\ngot:\n%s\n", a, b);
		free(a);
		free(b);
		fail_msg("round trip changed the value");
	}
	cJSON_Delete(out);
	il_buf_free(&body);
}

static void
assert_encode_error(const il_schema *s, const cJSON *j, const char *msg)
{
	char err[512] = "";
	il_buf out;
	il_err rc;

	il_buf_init(&out, 1 << 20);
	rc = il_avro_encode_json(s, j, &out, err, sizeof(err));
	assert_int_equal(rc, IL_ERR_ENCODE);
	assert_string_equal(err, msg);
	assert_int_equal(out.len, 0);
	il_buf_free(&out);
}

/* Sets member @p path ("a.b.c") of @p root to @p value (parsed), then expects @p msg. */
static void
assert_member_error(const char *file, const char *path, const char *value, const char *msg)
{
	cJSON *root = il_test_avro_json(file), *obj = root;
	char *p = il_xstrdup(path), *dot, *name = p;

	while ((dot = strchr(name, '.')) != NULL) {
		*dot = '\0';
		obj = cJSON_GetObjectItemCaseSensitive(obj, name);
		assert_non_null(obj);
		name = dot + 1;
	}
	if (value == NULL)
		cJSON_DeleteItemFromObjectCaseSensitive(obj, name);
	else if (cJSON_GetObjectItemCaseSensitive(obj, name) != NULL)
		cJSON_ReplaceItemInObjectCaseSensitive(obj, name, il_test_parse_json(value));
	else
		cJSON_AddItemToObject(obj, name, il_test_parse_json(value));
	assert_encode_error(file[0] == 'r' ? result_schema : event_schema, root, msg);
	free(p);
	cJSON_Delete(root);
}

static void
assert_decode_error(const il_schema *s, const void *body, size_t len, il_err code,
    const char *msg)
{
	char err[512] = "";
	cJSON *out = NULL;
	il_err rc;

	rc = il_avro_decode_json(s, body, len, &out, err, sizeof(err));
	if (rc != code)
		fail_msg("expected code %d, got %d: %s", (int)code, (int)rc, err);
	assert_null(out);
	if (msg != NULL)
		assert_string_equal(err, msg);
}

static int
contains(const char *hay, size_t len, const char *needle)
{
	size_t n = strlen(needle), i;

	for (i = 0; i + n <= len; i++) {
		if (memcmp(hay + i, needle, n) == 0)
			return 1;
	}
	return 0;
}

/* Appends Avro's zig-zag varint of @p v. */
static size_t
put_long(unsigned char *p, int64_t v)
{
	uint64_t n = ((uint64_t)v << 1) ^ (uint64_t)(v >> 63);
	size_t i = 0;

	while (n >= 0x80) {
		p[i++] = (unsigned char)(n | 0x80);
		n >>= 7;
	}
	p[i++] = (unsigned char)n;
	return i;
}

/* ----------------------------------------------------------------- tests */

static void
test_schema_accessors(void **state)
{
	(void)state;
	assert_int_equal(il_schema_set_count(set), 2);
	assert_string_equal(il_schema_fullname(event_schema), "org.imislink.events.EligibilityEvent");
	assert_string_equal(il_schema_name(event_schema), "EligibilityEvent");
	assert_int_equal(il_schema_version(event_schema), 1);
	assert_ptr_equal(il_schema_set_get(set, "EnrollmentResult", 1), result_schema);
	assert_null(il_schema_set_get(set, "EnrollmentResult", 2));
	assert_null(il_schema_set_latest(set, "Nope"));
	assert_ptr_equal(il_schema_set_at(set, 0), event_schema);
	assert_ptr_equal(il_schema_set_at(set, 1), result_schema);
	assert_null(il_schema_set_at(set, 2));
	assert_non_null(strstr(il_schema_text(event_schema), "\"EligibilityEvent\""));
	il_schema_destroy(NULL);
	il_schema_set_destroy(NULL);
}

static void
test_round_trip_event_full(void **state)
{
	cJSON *j = il_test_avro_json("event-full.json");

	(void)state;
	assert_round_trip(event_schema, j, j);
	cJSON_Delete(j);
}

static void
test_round_trip_event_nulls(void **state)
{
	cJSON *j = il_test_avro_json("event-nulls.json");

	(void)state;
	assert_round_trip(event_schema, j, j);
	cJSON_Delete(j);
}

/* Fields left out take their schema default; timestamps may be milliseconds. */
static void
test_minimal_event_takes_defaults(void **state)
{
	cJSON *in = il_test_avro_json("event-minimal.json");
	cJSON *expect = il_test_avro_json("event-nulls.json");

	(void)state;
	assert_round_trip(event_schema, in, expect);
	cJSON_Delete(in);
	cJSON_Delete(expect);
}

static void
test_round_trip_results(void **state)
{
	cJSON *full = il_test_avro_json("result-full.json");
	cJSON *nulls = il_test_avro_json("result-nulls.json");

	(void)state;
	assert_round_trip(result_schema, full, full);
	assert_round_trip(result_schema, nulls, nulls);
	cJSON_Delete(full);
	cJSON_Delete(nulls);
}

static void
test_round_trip_seed_individual(void **state)
{
	cJSON *j = il_test_avro_json("event-seed-individual-66.json");

	(void)state;
	assert_round_trip(event_schema, j, j);
	cJSON_Delete(j);
}

/* Non-ASCII text reaches the body as its UTF-8 bytes, unchanged. */
static void
test_non_ascii_names(void **state)
{
	static const char *names[] = {
		"Ñuñoa", "Nguyễn Thị Hoa", "فاطمة الزهراء", "👩🏽‍⚕️ Amani", "Ẑ̌ combining",
	};
	cJSON *j = il_test_avro_json("event-seed-individual-66.json");
	cJSON *reg = cJSON_GetObjectItemCaseSensitive(j, "registrant");
	il_buf body;
	size_t i;

	(void)state;
	for (i = 0; i < sizeof(names) / sizeof(names[0]); i++) {
		cJSON_ReplaceItemInObjectCaseSensitive(reg, "family_name", cJSON_CreateString(names[i]));
		assert_round_trip(event_schema, j, j);
		encode_ok(event_schema, j, &body);
		assert_true(contains(body.data, body.len, names[i]));
		il_buf_free(&body);
	}
	cJSON_Delete(j);
}

static void
test_timestamp_forms(void **state)
{
	static const struct {
		const char *in;
		const char *out;
	} cases[] = {
		{ "\"2026-11-21T12:00:00+02:00\"", "2026-11-21T10:00:00.000Z" },
		{ "\"2026-11-21T10:00:00Z\"", "2026-11-21T10:00:00.000Z" },
		{ "\"2026-11-21T10:00:00.5Z\"", "2026-11-21T10:00:00.500Z" },
		{ "\"2026-11-21T10:00:00.123456789Z\"", "2026-11-21T10:00:00.123Z" },
		{ "\"2026-11-21T01:30:00-03:30\"", "2026-11-21T05:00:00.000Z" },
		{ "\"2024-02-29T23:59:59.999Z\"", "2024-02-29T23:59:59.999Z" },
		{ "1795255200000", "2026-11-21T10:00:00.000Z" },
		{ "-1", "1969-12-31T23:59:59.999Z" },
		{ "0", "1970-01-01T00:00:00.000Z" },
	};
	cJSON *j = il_test_avro_json("event-nulls.json");
	cJSON *expect = il_test_avro_json("event-nulls.json");
	size_t i;

	(void)state;
	for (i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		cJSON_ReplaceItemInObjectCaseSensitive(j, "occurred_at",
		    il_test_parse_json(cases[i].in));
		cJSON_ReplaceItemInObjectCaseSensitive(expect, "occurred_at",
		    cJSON_CreateString(cases[i].out));
		assert_round_trip(event_schema, j, expect);
	}
	cJSON_Delete(j);
	cJSON_Delete(expect);
}

static void
test_bad_timestamps(void **state)
{
	(void)state;
	assert_member_error("event-nulls.json", "occurred_at", "\"2026-11-21 10:00:00Z\"",
	    "occurred_at: expected a timestamp like 2026-11-21T10:00:00.000Z, got "
	    "\"2026-11-21 10:00:00Z\"");
	assert_member_error("event-nulls.json", "occurred_at", "\"2026-11-21T10:00:00\"",
	    "occurred_at: expected a timestamp like 2026-11-21T10:00:00.000Z, got "
	    "\"2026-11-21T10:00:00\"");
	assert_member_error("event-nulls.json", "occurred_at", "\"2026-11-21T24:00:00Z\"",
	    "occurred_at: expected a timestamp like 2026-11-21T10:00:00.000Z, got "
	    "\"2026-11-21T24:00:00Z\" (no such time of day)");
	assert_member_error("event-nulls.json", "produced_at", "\"2026-02-29T10:00:00Z\"",
	    "produced_at: expected a timestamp like 2026-11-21T10:00:00.000Z, got "
	    "\"2026-02-29T10:00:00Z\" (no such day)");
	assert_member_error("event-nulls.json", "produced_at", "\"2026-11-21T10:00:00+2:00\"",
	    "produced_at: expected a timestamp like 2026-11-21T10:00:00.000Z, got "
	    "\"2026-11-21T10:00:00+2:00\"");
	assert_member_error("event-nulls.json", "produced_at", "1.5",
	    "produced_at: expected a timestamp like 2026-11-21T10:00:00.000Z or milliseconds, "
	    "got 1.5 (not an integer)");
	assert_member_error("event-nulls.json", "produced_at", "true",
	    "produced_at: expected a timestamp like 2026-11-21T10:00:00.000Z or milliseconds, "
	    "got a boolean");
	assert_member_error("event-full.json", "membership.enrollment_date", "\"yesterday\"",
	    "membership.enrollment_date: expected a timestamp like 2026-11-21T10:00:00.000Z, got "
	    "\"yesterday\"");
}

static void
test_bad_dates(void **state)
{
	(void)state;
	assert_member_error("event-nulls.json", "registrant.birthdate", "\"1990-02-30\"",
	    "registrant.birthdate: expected a date YYYY-MM-DD, got \"1990-02-30\" (no such day)");
	assert_member_error("event-nulls.json", "registrant.birthdate", "\"31/12/1990\"",
	    "registrant.birthdate: expected a date YYYY-MM-DD, got \"31/12/1990\"");
	assert_member_error("event-nulls.json", "registrant.birthdate", "\"1990-13-01\"",
	    "registrant.birthdate: expected a date YYYY-MM-DD, got \"1990-13-01\" (no such month)");
	assert_member_error("event-nulls.json", "registrant.birthdate", "\"1990-1-01\"",
	    "registrant.birthdate: expected a date YYYY-MM-DD, got \"1990-1-01\"");
	assert_member_error("event-nulls.json", "registrant.birthdate", "\"1900-02-29\"",
	    "registrant.birthdate: expected a date YYYY-MM-DD, got \"1900-02-29\" (no such day)");
	assert_member_error("event-nulls.json", "registrant.birthdate", "\"1990-04-12T00:00:00Z\"",
	    "registrant.birthdate: expected a date YYYY-MM-DD, got \"1990-04-12T00:00:00Z\"");
	assert_member_error("event-full.json", "household.members",
	    "[{\"registrant\": {}, \"start_date\": \"2000-02-30\"}]",
	    "household.members[0].start_date: expected a date YYYY-MM-DD, got \"2000-02-30\" "
	    "(no such day)");
}

static void
test_unknown_member(void **state)
{
	(void)state;
	assert_member_error("event-nulls.json", "evnt_type", "\"x\"",
	    "evnt_type: unknown field (record \"EligibilityEvent\" has no such field)");
	assert_member_error("event-nulls.json", "registrant.famly_name", "\"Doe\"",
	    "registrant.famly_name: unknown field (record \"Registrant\" has no such field)");
	assert_member_error("event-full.json", "household.members",
	    "[{\"registrant\": {}}, {\"registrant\": {\"given_nam\": \"Jane\"}}]",
	    "household.members[1].registrant.given_nam: unknown field (record \"Registrant\" "
	    "has no such field)");
}

static void
test_missing_required_field(void **state)
{
	(void)state;
	assert_member_error("event-nulls.json", "registrant", NULL,
	    "registrant: required field missing");
	assert_member_error("event-nulls.json", "source.kind", NULL,
	    "source.kind: required field missing");
	assert_member_error("event-nulls.json", "registrant.external_ids",
	    "[{\"type\": \"National ID\"}]",
	    "registrant.external_ids[0].value: required field missing");
	assert_member_error("result-nulls.json", "worker_id", NULL,
	    "worker_id: required field missing");
}

static void
test_type_errors(void **state)
{
	cJSON *arr = il_test_parse_json("[1]");

	(void)state;
	assert_member_error("event-nulls.json", "registrant.is_group", "\"yes\"",
	    "registrant.is_group: expected a boolean, got \"yes\"");
	assert_member_error("event-nulls.json", "registrant.source_id", "\"12\"",
	    "registrant.source_id: expected a long, got \"12\"");
	assert_member_error("event-nulls.json", "registrant.source_id", "1.5",
	    "registrant.source_id: expected a long, got 1.5 (not an integer)");
	assert_member_error("event-nulls.json", "registrant.source_id", "1e300",
	    "registrant.source_id: expected a long, got 1.0000000000000001e+300 (out of range)");
	assert_member_error("result-nulls.json", "attempts", "3000000000",
	    "attempts: expected an int, got 3000000000 (out of range)");
	assert_member_error("event-nulls.json", "event_type", "\"NOPE\"",
	    "event_type: expected one of MEMBERSHIP_CHANGED, REGISTRANT_UPDATED, "
	    "HOUSEHOLD_CHANGED, REGISTRANT_SUBMITTED (enum \"EventType\"), got \"NOPE\"");
	assert_member_error("event-nulls.json", "event_type", "null",
	    "event_type: expected one of MEMBERSHIP_CHANGED, REGISTRANT_UPDATED, "
	    "HOUSEHOLD_CHANGED, REGISTRANT_SUBMITTED (enum \"EventType\"), got null");
	assert_member_error("event-nulls.json", "registrant.phones", "{}",
	    "registrant.phones: expected an array, got an object");
	assert_member_error("event-nulls.json", "registrant.area", "\"V12\"",
	    "registrant.area: expected an object (record \"Area\"), got a string");
	assert_member_error("event-nulls.json", "event_id", "42",
	    "event_id: expected a string, got 42");
	assert_encode_error(event_schema, arr,
	    "EligibilityEvent: expected an object (record \"EligibilityEvent\"), got an array");
	cJSON_Delete(arr);
}

static void
test_invalid_utf8_encode(void **state)
{
	static const struct {
		const char *text;
		const char *msg;
	} cases[] = {
		{ "\xc3\x28", "registrant.given_name: string is not valid UTF-8 (byte 0xc3 at position 0)" },
		{ "ok\xff", "registrant.given_name: string is not valid UTF-8 (byte 0xff at position 2)" },
		{ "\xed\xa0\x80", "registrant.given_name: string is not valid UTF-8 (byte 0xed at position 0)" },
		{ "\xc0\xaf", "registrant.given_name: string is not valid UTF-8 (byte 0xc0 at position 0)" },
		{ "\xf4\x90\x80\x80", "registrant.given_name: string is not valid UTF-8 (byte 0xf4 at position 0)" },
		{ "ab\xe2\x82", "registrant.given_name: string is not valid UTF-8 (byte 0xe2 at position 2)" },
	};
	cJSON *j = il_test_avro_json("event-nulls.json");
	cJSON *reg = cJSON_GetObjectItemCaseSensitive(j, "registrant");
	size_t i;

	(void)state;
	for (i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		cJSON_ReplaceItemInObjectCaseSensitive(reg, "given_name",
		    cJSON_CreateString(cases[i].text));
		assert_encode_error(event_schema, j, cases[i].msg);
	}
	cJSON_Delete(j);
}

static void
test_invalid_utf8_decode(void **state)
{
	cJSON *j = il_test_avro_json("event-nulls.json");
	il_buf body;

	(void)state;
	encode_ok(event_schema, j, &body);
	/* event_id comes first: length 64 (two varint bytes), then its text */
	assert_int_equal((unsigned char)body.data[0], 0x80);
	assert_int_equal((unsigned char)body.data[1], 0x01);
	body.data[5] = (char)0xff;
	assert_decode_error(event_schema, body.data, body.len, IL_ERR_DECODE_BODY,
	    "event_id: string at offset 2 is not valid UTF-8 (byte 0xff at offset 5)");
	body.data[5] = '\0';
	assert_decode_error(event_schema, body.data, body.len, IL_ERR_DECODE_BODY,
	    "event_id: string at offset 2 contains a NUL byte");
	il_buf_free(&body);
	cJSON_Delete(j);
}

/* Every prefix of a valid body must be refused cleanly; none may crash. */
static void
test_truncated_bodies(void **state)
{
	cJSON *j = il_test_avro_json("event-full.json");
	char err[512];
	cJSON *out;
	il_buf body;
	size_t len;
	il_err rc;

	(void)state;
	encode_ok(event_schema, j, &body);
	for (len = 0; len < body.len; len++) {
		/* a copy of exactly len bytes, so ASan sees any read past it */
		char *prefix = il_xmalloc(len);

		memcpy(prefix, body.data, len);
		out = NULL;
		err[0] = '\0';
		rc = il_avro_decode_json(event_schema, prefix, len, &out, err, sizeof(err));
		if (rc != IL_ERR_DECODE_BODY)
			fail_msg("prefix of %zu bytes: code %d: %s", len, (int)rc, err);
		assert_null(out);
		assert_true(strstr(err, "body ends at offset") != NULL ||
		    strstr(err, "bytes left at offset") != NULL);
		free(prefix);
	}
	assert_decode_error(event_schema, body.data, 0, IL_ERR_DECODE_BODY,
	    "event_id: body ends at offset 0 inside a string length");
	il_buf_free(&body);
	cJSON_Delete(j);
}

static void
test_oversized_length_prefix(void **state)
{
	unsigned char msg[64];
	size_t n;

	(void)state;
	/* event_id claims 4 GiB and 12 bytes follow */
	n = put_long(msg, 4294967295LL);
	assert_int_equal(n, 5);
	memset(msg + n, 'a', 12);
	assert_decode_error(event_schema, msg, n + 12, IL_ERR_DECODE_BODY,
	    "event_id: string length 4294967295 exceeds the 12 bytes left at offset 5");
	n = put_long(msg, INT64_MAX);
	assert_decode_error(event_schema, msg, n, IL_ERR_DECODE_BODY,
	    "event_id: string length 9223372036854775807 exceeds the 0 bytes left at offset 10");
	n = put_long(msg, -3);
	assert_decode_error(event_schema, msg, n + 4, IL_ERR_DECODE_BODY,
	    "event_id: string length -3 is negative at offset 1");
	/* eleven continuation bytes: no varint is that long */
	memset(msg, 0xff, 11);
	assert_decode_error(event_schema, msg, 11, IL_ERR_DECODE_BODY,
	    "event_id: a string length at offset 0 is a varint beyond 64 bits");
	memset(msg, 0x80, 9);
	msg[9] = 0x02;
	assert_decode_error(event_schema, msg, 10, IL_ERR_DECODE_BODY,
	    "event_id: a string length at offset 0 is a varint beyond 64 bits");
}

static void
test_crafted_counts(void **state)
{
	il_schema *arr = schema("{\"type\":\"record\",\"name\":\"R\",\"fields\":["
	    "{\"name\":\"ids\",\"type\":{\"type\":\"array\",\"items\":\"string\"}}]}");
	il_schema *nulls = schema("{\"type\":\"record\",\"name\":\"N\",\"fields\":["
	    "{\"name\":\"xs\",\"type\":{\"type\":\"array\",\"items\":\"null\"}}]}");
	il_schema *map = schema("{\"type\":\"map\",\"values\":\"long\"}");
	unsigned char msg[64];
	char err[256];
	cJSON *out = NULL;
	size_t n;

	(void)state;
	n = put_long(msg, 1000000000);
	msg[n++] = 0;
	assert_decode_error(arr, msg, n, IL_ERR_DECODE_BODY,
	    "ids: array block of 1000000000 items exceeds the 1 bytes left at offset 5");
	/* a negative count is followed by the block size, which must fit */
	n = put_long(msg, -2);
	n += put_long(msg + n, 100);
	assert_decode_error(arr, msg, n, IL_ERR_DECODE_BODY,
	    "ids: array block size 100 does not fit the 0 bytes left at offset 3");
	n = put_long(msg, -1);
	n += put_long(msg + n, 3);
	n += put_long(msg + n, 1);
	msg[n++] = 'x';
	msg[n++] = 0;
	assert_decode_error(arr, msg, n, IL_ERR_DECODE_BODY,
	    "ids: array block size 3 does not match the 2 bytes of its items at offset 2");
	n = put_long(msg, -1);
	n += put_long(msg + n, 2);
	n += put_long(msg + n, 1);
	msg[n++] = 'x';
	msg[n++] = 0;
	assert_int_equal(il_avro_decode_json(arr, msg, n, &out, err, sizeof(err)), IL_OK);
	assert_string_equal(cJSON_GetArrayItem(cJSON_GetObjectItem(out, "ids"), 0)->valuestring, "x");
	cJSON_Delete(out);
	/* nulls take no bytes: their count is capped instead */
	n = put_long(msg, 100000);
	msg[n++] = 0;
	assert_decode_error(nulls, msg, n, IL_ERR_DECODE_BODY,
	    "xs: array block of 100000 items at offset 0 exceeds the limit of 65536 items of a "
	    "type that takes no bytes");
	n = put_long(msg, 1000);
	msg[n++] = 0;
	assert_int_equal(il_avro_decode_json(nulls, msg, n, &out, err, sizeof(err)), IL_OK);
	assert_int_equal(cJSON_GetArraySize(cJSON_GetObjectItem(out, "xs")), 1000);
	cJSON_Delete(out);
	n = put_long(msg, 3);
	msg[n++] = 0;
	assert_decode_error(map, msg, n, IL_ERR_DECODE_BODY,
	    "map: map block of 3 items exceeds the 1 bytes left at offset 1");
	il_schema_destroy(arr);
	il_schema_destroy(nulls);
	il_schema_destroy(map);
}

static void
test_crafted_branches_and_symbols(void **state)
{
	il_schema *s = schema("{\"type\":\"record\",\"name\":\"R\",\"fields\":["
	    "{\"name\":\"u\",\"type\":[\"null\",\"int\"]},"
	    "{\"name\":\"e\",\"type\":{\"type\":\"enum\",\"name\":\"E\",\"symbols\":[\"A\",\"B\"]}},"
	    "{\"name\":\"b\",\"type\":\"boolean\"},"
	    "{\"name\":\"i\",\"type\":\"int\"},"
	    "{\"name\":\"d\",\"type\":\"double\"}]}");
	unsigned char msg[64];
	size_t n;

	(void)state;
	n = put_long(msg, 2);
	assert_decode_error(s, msg, n, IL_ERR_DECODE_BODY,
	    "u: union branch index 2 at offset 0 is out of range (2 branches)");
	n = put_long(msg, -1);
	assert_decode_error(s, msg, n, IL_ERR_DECODE_BODY,
	    "u: union branch index -1 at offset 0 is out of range (2 branches)");
	n = put_long(msg, 0);
	n += put_long(msg + n, 2);
	assert_decode_error(s, msg, n, IL_ERR_DECODE_BODY,
	    "e: enum index 2 at offset 1 is out of range for \"E\" (2 symbols)");
	n = put_long(msg, 0);
	n += put_long(msg + n, 1);
	msg[n++] = 2;
	assert_decode_error(s, msg, n, IL_ERR_DECODE_BODY,
	    "b: boolean byte 0x02 at offset 2 is neither 0 nor 1");
	n = put_long(msg, 0);
	n += put_long(msg + n, 1);
	msg[n++] = 1;
	n += put_long(msg + n, 1LL << 31);
	assert_decode_error(s, msg, n, IL_ERR_DECODE_BODY,
	    "i: int 2147483648 at offset 3 is out of range");
	n = put_long(msg, 0);
	n += put_long(msg + n, 1);
	msg[n++] = 1;
	n += put_long(msg + n, 7);
	memset(msg + n, 0, 5);
	assert_decode_error(s, msg, n + 5, IL_ERR_DECODE_BODY,
	    "d: body ends at offset 4 inside a double (8 bytes, 5 left)");
	il_schema_destroy(s);
}

static void
test_trailing_bytes(void **state)
{
	cJSON *j = il_test_avro_json("event-seed-individual-66.json");
	il_buf body;
	char msg[128];
	size_t len;

	(void)state;
	encode_ok(event_schema, j, &body);
	len = body.len;
	assert_int_equal(il_buf_add(&body, "\x00\x01", 2), IL_OK);
	snprintf(msg, sizeof(msg), "2 bytes left after the body at offset %zu", len);
	assert_decode_error(event_schema, body.data, body.len, IL_ERR_DECODE_TRAILING, msg);
	il_buf_free(&body);
	cJSON_Delete(j);
}

/*
 * Random damage to a valid body either decodes (into a value that encodes
 * again) or is refused with a body error: never a crash, a leak or an
 * avro-c failure.
 */
static void
test_mutations_never_crash(void **state)
{
	cJSON *j = il_test_avro_json("event-full.json"), *out;
	uint64_t rng = 0x9e3779b97f4a7c15ULL;
	unsigned ok = 0, refused = 0;
	char err[512];
	il_buf body, again;
	int round;

	(void)state;
	encode_ok(event_schema, j, &body);
	for (round = 0; round < 20000; round++) {
		unsigned char *copy = il_xmalloc(body.len);
		size_t len = body.len;
		int flips = 1 + round % 4, f;
		il_err rc;

		memcpy(copy, body.data, body.len);
		for (f = 0; f < flips; f++) {
			rng ^= rng << 13;
			rng ^= rng >> 7;
			rng ^= rng << 17;
			copy[rng % body.len] = (unsigned char)(rng >> 32);
		}
		if (round % 5 == 0)
			len = (size_t)(rng >> 40) % body.len;
		out = NULL;
		rc = il_avro_decode_json(event_schema, copy, len, &out, err, sizeof(err));
		if (rc == IL_OK) {
			il_buf_init(&again, 1 << 20);
			if (il_avro_encode_json(event_schema, out, &again, err, sizeof(err)) != IL_OK)
				fail_msg("a decoded value does not encode: %s", err);
			il_buf_free(&again);
			cJSON_Delete(out);
			ok++;
		} else {
			assert_true(rc == IL_ERR_DECODE_BODY || rc == IL_ERR_DECODE_TRAILING);
			assert_null(out);
			assert_null(strstr(err, "avro-c"));
			refused++;
		}
		free(copy);
	}
	assert_true(ok > 0 && refused > 0);
	il_buf_free(&body);
	cJSON_Delete(j);
}

static void
test_wire_header(void **state)
{
	unsigned char msg[16], hdr[IL_WIRE_HEADER_LEN];
	const void *body;
	size_t body_len;
	int32_t id;
	char err[256];

	(void)state;
	il_wire_header(0x01020304, hdr);
	assert_memory_equal(hdr, "\x00\x01\x02\x03\x04", 5);
	memcpy(msg, hdr, 5);
	memcpy(msg + 5, "abc", 3);
	assert_int_equal(il_wire_parse(msg, 8, 8, &id, &body, &body_len, err, sizeof(err)), IL_OK);
	assert_int_equal(id, 0x01020304);
	assert_ptr_equal(body, msg + 5);
	assert_int_equal(body_len, 3);
	il_wire_header(-2, hdr);
	assert_memory_equal(hdr, "\x00\xff\xff\xff\xfe", 5);
	assert_int_equal(il_wire_parse(hdr, 5, 5, &id, &body, &body_len, err, sizeof(err)), IL_OK);
	assert_int_equal(id, -2);
	assert_int_equal(body_len, 0);

	assert_int_equal(il_wire_parse(msg, 4, 100, &id, &body, &body_len, err, sizeof(err)),
	    IL_ERR_DECODE_SHORT);
	assert_string_equal(err, "message of 4 bytes is shorter than the 5-byte wire header");
	assert_int_equal(il_wire_parse(msg, 8, 7, &id, &body, &body_len, err, sizeof(err)),
	    IL_ERR_DECODE_TOOBIG);
	assert_string_equal(err, "message of 8 bytes exceeds the limit of 7 bytes");
	msg[0] = 1;
	assert_int_equal(il_wire_parse(msg, 8, 8, &id, &body, &body_len, err, sizeof(err)),
	    IL_ERR_DECODE_MAGIC);
	assert_string_equal(err, "wrong magic byte 0x01, expected 0x00: not a Schema Registry "
	    "wire-format message");
	assert_int_equal(il_wire_parse("{\"a\":1}", 7, 8, &id, &body, &body_len, err, sizeof(err)),
	    IL_ERR_DECODE_MAGIC);
	assert_string_equal(err, "wrong magic byte 0x7b, expected 0x00: not a Schema Registry "
	    "wire-format message (JSON text?)");
}

static void
test_unknown_schema_id_offline(void **state)
{
	unsigned char msg[IL_WIRE_HEADER_LEN + 1];
	char err[512], expect[512];
	il_conf *conf = il_conf_new();
	il_serde *sd;
	cJSON *out = NULL;

	(void)state;
	assert_int_equal(il_conf_set(conf, "schema.registry.url", "", "test", err, sizeof(err)),
	    IL_OK);
	sd = il_serde_new(conf, set, err, sizeof(err));
	assert_non_null(sd);
	il_wire_header(42, msg);
	msg[5] = 0;
	assert_int_equal(il_serde_decode(sd, msg, sizeof(msg), &out, NULL, err, sizeof(err)),
	    IL_ERR_DECODE_SCHEMA);
	assert_null(out);
	snprintf(expect, sizeof(expect), "unknown schema id 42: not among the offline ids in "
	    "\"%s/offline-ids.properties\"", il_conf_get(conf, "schemas.dir"));
	assert_string_equal(err, expect);
	il_serde_destroy(sd);
	il_conf_destroy(conf);
}

static void
test_schema_errors(void **state)
{
	static const struct {
		const char *text;
		const char *msg;
	} cases[] = {
		{ "{\"type\":", "schema is not valid JSON (at byte 7)" },
		{ "{\"type\":\"record\",\"name\":\"R\",\"fields\":[{\"name\":\"a\",\"type\":\"Nope\"}]}",
		    "avro-c refuses the schema: " },
		{ "{\"type\":\"record\",\"name\":\"R\",\"fields\":[{\"name\":\"a\",\"type\":\"int\","
		    "\"default\":\"x\"}]}",
		    "record \"R\": field \"a\": invalid default: expected an int, got \"x\"" },
		{ "{\"type\":\"record\",\"name\":\"R\",\"fields\":[{\"name\":\"a\",\"type\":[\"string\","
		    "\"null\"],\"default\":null}]}",
		    "record \"R\": field \"a\": invalid default: expected a string, got null" },
		{ "{\"type\":\"record\",\"name\":\"R\",\"fields\":[{\"name\":\"a\",\"type\":{\"type\":"
		    "\"long\",\"logicalType\":\"date\"}}]}",
		    "logical type \"date\" needs an int, not long" },
		{ "{\"type\":\"record\",\"name\":\"R\",\"fields\":[{\"name\":\"a\",\"type\":\"int\"},"
		    "{\"name\":\"a\",\"type\":\"int\"}]}",
		    "record \"R\": field \"a\" is defined twice" },
		{ "{\"type\":\"enum\",\"name\":\"E\",\"symbols\":[\"A\"],\"default\":\"B\"}",
		    "enum \"E\": the default is not one of its symbols" },
	};
	char err[512];
	size_t i;

	(void)state;
	for (i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		err[0] = '\0';
		assert_null(il_schema_from_json(cases[i].text, strlen(cases[i].text), err,
		    sizeof(err)));
		if (strncmp(err, cases[i].msg, strlen(cases[i].msg)) != 0)
			fail_msg("schema %zu: expected \"%s\", got \"%s\"", i, cases[i].msg, err);
	}
}

static void
test_schema_set_errors(void **state)
{
	char err[512], expect[512];

	(void)state;
	assert_null(il_schema_set_load("/nonexistent/schemas", err, sizeof(err)));
	assert_string_equal(err, "could not open directory \"/nonexistent/schemas\": "
	    "No such file or directory");
	/* file names that are not <Name>.v<N>.avsc are not schemas: skipped */
	{
		il_schema_set *s = il_schema_set_load(IL_TEST_DATA_DIR "/schemas-offline-bad", err,
		    sizeof(err));

		assert_non_null(s);
		assert_int_equal(il_schema_set_count(s), 1);
		il_schema_set_destroy(s);
	}
	snprintf(expect, sizeof(expect), "could not load schema "
	    "\"%s/schemas-misnamed/Other.v1.avsc\": it defines \"Membership\", not \"Other\"",
	    IL_TEST_DATA_DIR);
	assert_null(il_schema_set_load(IL_TEST_DATA_DIR "/schemas-misnamed", err, sizeof(err)));
	assert_string_equal(err, expect);
}

/* Types the events do not use yet still follow Avro's JSON encoding. */
static void
test_other_types(void **state)
{
	il_schema *s = schema("{\"type\":\"record\",\"name\":\"T\",\"namespace\":\"t\",\"fields\":["
	    "{\"name\":\"m\",\"type\":{\"type\":\"map\",\"values\":\"int\"}},"
	    "{\"name\":\"u\",\"type\":[\"null\",\"string\",\"long\",{\"type\":\"record\","
	    "\"name\":\"P\",\"fields\":[{\"name\":\"x\",\"type\":\"float\"}]}]},"
	    "{\"name\":\"b\",\"type\":\"bytes\"},"
	    "{\"name\":\"f\",\"type\":{\"type\":\"fixed\",\"name\":\"F\",\"size\":2}},"
	    "{\"name\":\"d\",\"type\":\"double\"},"
	    "{\"name\":\"big\",\"type\":\"long\"},"
	    "{\"name\":\"old\",\"type\":{\"type\":\"int\",\"logicalType\":\"date\"}},"
	    "{\"name\":\"me\",\"type\":[\"null\",\"T\"],\"default\":null}]}");
	cJSON *j = il_test_parse_json("{\"m\":{\"a\":1,\"ü\":-2},\"u\":{\"t.P\":{\"x\":0.5}},"
	    "\"b\":\"\\u0000\\u00ff a\",\"f\":\"\\u00e9z\",\"d\":-1.25,"
	    "\"big\":9007199254740992,\"old\":\"0001-01-01\","
	    "\"me\":{\"m\":{},\"u\":null,\"b\":\"\",\"f\":\"zz\",\"d\":0,\"big\":0,"
	    "\"old\":\"9999-12-31\",\"me\":null}}");
	cJSON *alt = il_test_parse_json("{\"m\":{},\"u\":{\"long\":5},\"b\":\"\",\"f\":\"zz\",\"d\":0,"
	    "\"big\":-1,\"old\":-719163,\"me\":null}");
	cJSON *big = cJSON_CreateRaw("-9223372036854775808");
	cJSON *out = NULL;
	char err[256], *text;
	il_buf body;

	(void)state;
	assert_round_trip(s, j, j);
	cJSON_ReplaceItemInObjectCaseSensitive(j, "u", il_test_parse_json("{\"P\":{\"x\":0.5}}"));
	cJSON_ReplaceItemInObjectCaseSensitive(j, "big", big);
	encode_ok(s, j, &body);
	assert_int_equal(il_avro_decode_json(s, body.data, body.len, &out, err, sizeof(err)), IL_OK);
	text = cJSON_PrintUnformatted(cJSON_GetObjectItem(out, "big"));
	assert_string_equal(text, "-9223372036854775808");
	free(text);
	text = cJSON_PrintUnformatted(cJSON_GetObjectItem(out, "u"));
	assert_string_equal(text, "{\"t.P\":{\"x\":0.5}}");
	free(text);
	cJSON_Delete(out);
	il_buf_free(&body);
	/* a date before 0001-01-01 has no YYYY-MM-DD form: it stays a number */
	cJSON_ReplaceItemInObjectCaseSensitive(alt, "old", cJSON_CreateNumber(-719163));
	assert_round_trip(s, alt, alt);
	{
		cJSON *bad = il_test_parse_json("{\"m\":{},\"u\":{\"int\":5},\"b\":\"\",\"f\":\"zz\",\"d\":0,"
		    "\"big\":0,\"old\":0}");

		assert_encode_error(s, bad, "u: expected null or an object naming one type of the "
		    "union, like {\"string\": ...}, got an object");
		cJSON_ReplaceItemInObjectCaseSensitive(bad, "u", cJSON_CreateNull());
		cJSON_ReplaceItemInObjectCaseSensitive(bad, "f", cJSON_CreateString("\xc4\x80z"));
		assert_encode_error(s, bad, "f: bytes hold a character above U+00FF");
		cJSON_ReplaceItemInObjectCaseSensitive(bad, "f", cJSON_CreateString("abc"));
		assert_encode_error(s, bad, "f: expected 2 bytes for fixed \"t.F\", got 3");
		cJSON_ReplaceItemInObjectCaseSensitive(bad, "f", cJSON_CreateString("ab"));
		cJSON_ReplaceItemInObjectCaseSensitive(bad, "m", il_test_parse_json("{\"k\":\"v\"}"));
		assert_encode_error(s, bad, "m[\"k\"]: expected an int, got \"v\"");
		cJSON_Delete(bad);
	}
	cJSON_Delete(alt);
	cJSON_Delete(j);
	il_schema_destroy(s);
}

/*
 * A union of null alone is legal Avro; refusing a value for it once read
 * past its one branch (ASan: heap-buffer-overflow in enc_union).
 */
static void
test_union_of_null_alone(void **state)
{
	il_schema *s = schema("{\"type\":\"record\",\"name\":\"N\",\"fields\":["
	    "{\"name\":\"n\",\"type\":[\"null\"]},"
	    "{\"name\":\"d\",\"type\":[\"null\"],\"default\":null}]}");
	cJSON *j = il_test_parse_json("{\"n\":null,\"d\":null}");
	cJSON *bad;

	(void)state;
	assert_round_trip(s, j, j);
	bad = il_test_parse_json("{\"n\":1}");
	assert_encode_error(s, bad, "n: expected null, the only type of the union, got a number");
	cJSON_Delete(bad);
	bad = il_test_parse_json("{\"n\":{\"string\":\"x\"}}");
	assert_encode_error(s, bad, "n: expected null, the only type of the union, got an object");
	cJSON_Delete(bad);
	cJSON_Delete(j);
	il_schema_destroy(s);
}

static void
test_encode_buffer_limit(void **state)
{
	cJSON *j = il_test_avro_json("event-nulls.json");
	char err[256];
	il_buf out;

	(void)state;
	il_buf_init(&out, 10);
	assert_int_equal(il_buf_add(&out, "keep", 4), IL_OK);
	assert_int_equal(il_avro_encode_json(event_schema, j, &out, err, sizeof(err)),
	    IL_ERR_NOMEM);
	assert_int_equal(out.len, 4);
	assert_string_equal(out.data, "keep");
	il_buf_free(&out);
	cJSON_Delete(j);
}

typedef struct worker_arg {
	const cJSON *event;     /* what each thread encodes */
	const il_buf *expect;   /* the body it must produce */
	int bad;                /* set when a round differed */
} worker_arg;

static void *
worker(void *p)
{
	worker_arg *a = p;
	char err[256];
	cJSON *out;
	il_buf body;
	int i;

	for (i = 0; i < 2000; i++) {
		il_buf_init(&body, 1 << 20);
		if (il_avro_encode_json(event_schema, a->event, &body, err, sizeof(err)) != IL_OK ||
		    body.len != a->expect->len || memcmp(body.data, a->expect->data, body.len) != 0)
			a->bad = 1;
		out = NULL;
		if (il_avro_decode_json(event_schema, body.data, body.len, &out, err,
		    sizeof(err)) != IL_OK || !cJSON_Compare(out, a->event, 1))
			a->bad = 1;
		cJSON_Delete(out);
		il_buf_free(&body);
	}
	return NULL;
}

/* Threads sharing one schema take turns on its cache or make their own. */
static void
test_threads_share_a_schema(void **state)
{
	cJSON *j = il_test_avro_json("event-full.json");
	worker_arg args[4];
	pthread_t th[4];
	il_buf expect;
	int i;

	(void)state;
	encode_ok(event_schema, j, &expect);
	for (i = 0; i < 4; i++) {
		args[i].event = j;
		args[i].expect = &expect;
		args[i].bad = 0;
		assert_int_equal(pthread_create(&th[i], NULL, worker, &args[i]), 0);
	}
	for (i = 0; i < 4; i++) {
		pthread_join(th[i], NULL);
		assert_int_equal(args[i].bad, 0);
	}
	il_buf_free(&expect);
	cJSON_Delete(j);
}

/* ------------------------------------------------ the encoder and avro-c */

/* Every event fixture, and the schema it belongs to. */
static const char *const fixtures[] = {
	"event-full.json", "event-minimal.json", "event-nulls.json",
	"event-seed-individual-66.json", "event-typical.json", "result-full.json",
	"result-nulls.json",
};
#define NFIXTURES (sizeof(fixtures) / sizeof(fixtures[0]))
/* The fixtures, then the event of tests/testevent.h. */
#define NEVENTS (NFIXTURES + 1)

static const il_schema *
event_schema_of(size_t i)
{
	return i < NFIXTURES && fixtures[i][0] == 'r' ? result_schema : event_schema;
}

static cJSON *
event_json(size_t i)
{
	return i < NFIXTURES ? il_test_avro_json(fixtures[i]) :
	    il_test_parse_json(TEST_EVENT_PERSON_JSON("e-1", "openspp-1"));
}

/* Reverses the members of every object in @p j (the events hold no maps). */
static void
reverse_members(cJSON *j)
{
	cJSON *c, *next, *head = NULL;

	for (c = j->child; c != NULL; c = c->next)
		reverse_members(c);
	if (!cJSON_IsObject(j) || j->child == NULL)
		return;
	for (c = j->child; c != NULL; c = next) {
		next = c->next;
		c->next = head;
		if (head != NULL)
			head->prev = c;
		head = c;
	}
	/* cJSON keeps the last item in the first item's prev */
	head->prev = j->child;
	j->child = head;
}

/*
 * The body read by avro-c into its generic value of the schema and written
 * again by avro_value_write() must be the same bytes: what the encoder
 * writes itself is what avro-c would write.
 */
static void
assert_avro_c_rewrites(const il_schema *s, const il_buf *body)
{
	const char *text = il_schema_text(s);
	/* a body avro-c read only in part is written back shorter */
	char *again = il_xmalloc(body->len + 16);
	avro_value_iface_t *iface;
	avro_schema_t as;
	avro_reader_t r;
	avro_writer_t w;
	avro_value_t v;

	assert_int_equal(avro_schema_from_json_length(text, strlen(text), &as), 0);
	iface = avro_generic_class_from_schema(as);
	assert_non_null(iface);
	assert_int_equal(avro_generic_value_new(iface, &v), 0);
	r = avro_reader_memory(body->data, (int64_t)body->len);
	assert_int_equal(avro_value_read(r, &v), 0);
	w = avro_writer_memory(again, (int64_t)body->len + 16);
	assert_int_equal(avro_value_write(w, &v), 0);
	assert_int_equal(avro_writer_tell(w), (int64_t)body->len);
	assert_memory_equal(again, body->data, body->len);
	avro_writer_free(w);
	avro_reader_free(r);
	avro_value_decref(&v);
	avro_value_iface_decref(iface);
	avro_schema_decref(as);
	free(again);
}

static void
test_encode_matches_avro_c(void **state)
{
	il_buf body;
	cJSON *j;
	size_t i;

	(void)state;
	for (i = 0; i < NEVENTS; i++) {
		j = event_json(i);
		encode_ok(event_schema_of(i), j, &body);
		assert_avro_c_rewrites(event_schema_of(i), &body);
		il_buf_free(&body);
		cJSON_Delete(j);
	}
}

/* Members in any order make the bytes of the schema's order. */
static void
test_member_order_does_not_matter(void **state)
{
	il_buf body, reversed, mixed;
	cJSON *j, *m;
	size_t i;

	(void)state;
	for (i = 0; i < NEVENTS; i++) {
		j = event_json(i);
		encode_ok(event_schema_of(i), j, &body);
		reverse_members(j);
		encode_ok(event_schema_of(i), j, &reversed);
		assert_int_equal(reversed.len, body.len);
		assert_memory_equal(reversed.data, body.data, body.len);
		/* back in order but the second member last: one field out of place */
		reverse_members(j);
		m = cJSON_DetachItemViaPointer(j, j->child->next);
		cJSON_AddItemToObject(j, m->string, m);
		encode_ok(event_schema_of(i), j, &mixed);
		assert_int_equal(mixed.len, body.len);
		assert_memory_equal(mixed.data, body.data, body.len);
		il_buf_free(&body);
		il_buf_free(&reversed);
		il_buf_free(&mixed);
		cJSON_Delete(j);
	}
}

/* In any order, the first problem in the order the members come is the one reported. */
static void
test_member_order_errors(void **state)
{
	cJSON *j = il_test_avro_json("event-typical.json"), *reg;

	(void)state;
	reverse_members(j);
	reg = cJSON_GetObjectItemCaseSensitive(j, "registrant");
	cJSON_ReplaceItemInObjectCaseSensitive(reg, "gender", cJSON_CreateNumber(3));
	cJSON_ReplaceItemInObjectCaseSensitive(reg, "birthdate", cJSON_CreateString("31/12/1990"));
	/* reversed, birthdate comes before gender */
	assert_encode_error(event_schema, j, "registrant.birthdate: expected a date YYYY-MM-DD, "
	    "got \"31/12/1990\"");
	cJSON_ReplaceItemInObjectCaseSensitive(reg, "birthdate", cJSON_CreateString("1990-12-31"));
	assert_encode_error(event_schema, j, "registrant.gender: expected a string, got 3");
	cJSON_ReplaceItemInObjectCaseSensitive(reg, "gender", cJSON_CreateNull());
	/* members first, missing fields after them */
	cJSON_DeleteItemFromObjectCaseSensitive(j, "event_id");
	cJSON_AddItemToObject(reg, "nickname", cJSON_CreateString("x"));
	assert_encode_error(event_schema, j, "registrant.nickname: unknown field (record "
	    "\"Registrant\" has no such field)");
	cJSON_DeleteItemFromObjectCaseSensitive(reg, "nickname");
	assert_encode_error(event_schema, j, "event_id: required field missing");
	cJSON_AddItemToObject(j, "event_id", cJSON_CreateString("e-2"));
	cJSON_AddItemToObject(reg, "gender", cJSON_CreateNull());
	assert_encode_error(event_schema, j, "registrant.gender: field appears twice");
	cJSON_Delete(j);
	/* in the schema's order too */
	j = il_test_avro_json("event-typical.json");
	cJSON_AddItemToObject(j, "event_id", cJSON_CreateString("e-2"));
	assert_encode_error(event_schema, j, "event_id: field appears twice");
	cJSON_DeleteItemFromObjectCaseSensitive(j, "event_id");
	cJSON_DeleteItemFromObjectCaseSensitive(j, "event_id");
	assert_encode_error(event_schema, j, "event_id: required field missing");
	cJSON_Delete(j);
}

/* A refused value leaves nothing behind in out, wherever the refusal comes. */
static void
test_encode_error_appends_nothing(void **state)
{
	char err[256], expect[256];
	il_buf out, body;
	cJSON *j, *reg;
	int pass;

	(void)state;
	for (pass = 0; pass < 2; pass++) {
		j = il_test_avro_json("event-full.json");
		if (pass == 1)
			reverse_members(j);
		/* the last field of the household, after most of the body */
		reg = cJSON_GetObjectItemCaseSensitive(j, "household");
		cJSON_ReplaceItemInObjectCaseSensitive(reg, "members", cJSON_CreateString("x"));
		il_buf_init(&out, 1 << 20);
		assert_int_equal(il_buf_add(&out, "keep", 4), IL_OK);
		assert_int_equal(il_avro_encode_json(event_schema, j, &out, err, sizeof(err)),
		    IL_ERR_ENCODE);
		assert_string_equal(err, "household.members: expected an array, got a string");
		assert_int_equal(out.len, 4);
		assert_string_equal(out.data, "keep");
		il_buf_free(&out);
		cJSON_Delete(j);
	}
	/* too large for out: the size of the whole body, nothing appended */
	j = il_test_avro_json("event-full.json");
	encode_ok(event_schema, j, &body);
	il_buf_init(&out, 4 + body.len - 1);
	assert_int_equal(il_buf_add(&out, "keep", 4), IL_OK);
	assert_int_equal(il_avro_encode_json(event_schema, j, &out, err, sizeof(err)),
	    IL_ERR_NOMEM);
	snprintf(expect, sizeof(expect), "encoded body of %zu bytes does not fit the output buffer "
	    "(at most %zu bytes)", body.len, out.max);
	assert_string_equal(err, expect);
	assert_int_equal(out.len, 4);
	assert_string_equal(out.data, "keep");
	/* a bad value is reported before the size */
	cJSON_ReplaceItemInObjectCaseSensitive(j, "household", cJSON_CreateNumber(1));
	assert_int_equal(il_avro_encode_json(event_schema, j, &out, err, sizeof(err)),
	    IL_ERR_ENCODE);
	assert_int_equal(out.len, 4);
	il_buf_free(&out);
	/* exactly the room it needs */
	cJSON_Delete(j);
	j = il_test_avro_json("event-full.json");
	il_buf_init(&out, 4 + body.len);
	assert_int_equal(il_buf_add(&out, "keep", 4), IL_OK);
	assert_int_equal(il_avro_encode_json(event_schema, j, &out, err, sizeof(err)), IL_OK);
	assert_int_equal(out.len, 4 + body.len);
	assert_memory_equal(out.data + 4, body.data, body.len);
	il_buf_free(&out);
	il_buf_free(&body);
	cJSON_Delete(j);
}

typedef struct many_arg {
	cJSON *events[2 * NEVENTS];     /* in order, then reversed */
	il_buf expect[NEVENTS];         /* the body of each */
	int start;                      /* where this thread begins */
	int bad;                        /* set when a body differed */
} many_arg;

static void *
many_worker(void *p)
{
	many_arg *a = p;
	char err[256];
	il_buf body;
	size_t i, k;
	int round;

	il_buf_init(&body, 1 << 20);
	for (round = 0; round < 300; round++) {
		for (k = 0; k < 2 * NEVENTS; k++) {
			i = ((size_t)a->start + k) % (2 * NEVENTS);
			il_buf_reset(&body);
			if (il_avro_encode_json(event_schema_of(i % NEVENTS), a->events[i], &body, err,
			    sizeof(err)) != IL_OK || body.len != a->expect[i % NEVENTS].len ||
			    memcmp(body.data, a->expect[i % NEVENTS].data, body.len) != 0)
				a->bad = 1;
		}
	}
	il_buf_free(&body);
	return NULL;
}

/* Encoding keeps no state in the schema: threads encode with one schema at once. */
static void
test_threads_encode_at_once(void **state)
{
	many_arg args[6];
	pthread_t th[6];
	size_t i;
	int t;

	(void)state;
	for (t = 0; t < 6; t++) {
		for (i = 0; i < NEVENTS; i++) {
			args[t].events[i] = event_json(i);
			args[t].events[NEVENTS + i] = event_json(i);
			reverse_members(args[t].events[NEVENTS + i]);
			encode_ok(event_schema_of(i), args[t].events[i], &args[t].expect[i]);
		}
		args[t].start = t;
		args[t].bad = 0;
	}
	for (t = 0; t < 6; t++)
		assert_int_equal(pthread_create(&th[t], NULL, many_worker, &args[t]), 0);
	for (t = 0; t < 6; t++) {
		pthread_join(th[t], NULL);
		assert_int_equal(args[t].bad, 0);
	}
	for (t = 0; t < 6; t++) {
		for (i = 0; i < NEVENTS; i++) {
			cJSON_Delete(args[t].events[i]);
			cJSON_Delete(args[t].events[NEVENTS + i]);
			il_buf_free(&args[t].expect[i]);
		}
	}
}

/* Defaults of every kind, a map default naming a key twice among them. */
static void
test_defaults_match_avro_c(void **state)
{
	il_schema *s = schema("{\"type\":\"record\",\"name\":\"D\",\"namespace\":\"t\",\"fields\":["
	    "{\"name\":\"x\",\"type\":\"int\"},"
	    "{\"name\":\"m\",\"type\":{\"type\":\"map\",\"values\":\"int\"},"
	    "\"default\":{\"a\":1,\"b\":2,\"a\":3}},"
	    "{\"name\":\"r\",\"type\":{\"type\":\"record\",\"name\":\"R\",\"fields\":["
	    "{\"name\":\"y\",\"type\":\"long\",\"default\":-5},"
	    "{\"name\":\"u\",\"type\":[\"string\",\"null\"],\"default\":\"\\u00e9\"}]},"
	    "\"default\":{}},"
	    "{\"name\":\"a\",\"type\":{\"type\":\"array\",\"items\":\"double\"},\"default\":[1.5,-2]},"
	    "{\"name\":\"e\",\"type\":{\"type\":\"enum\",\"name\":\"E\",\"symbols\":[\"P\",\"Q\"]},"
	    "\"default\":\"Q\"},"
	    "{\"name\":\"f\",\"type\":{\"type\":\"fixed\",\"name\":\"F\",\"size\":2},"
	    "\"default\":\"\\u00ffa\"},"
	    "{\"name\":\"b\",\"type\":\"bytes\",\"default\":\"\\u0001\\u00e9\"},"
	    "{\"name\":\"t\",\"type\":\"boolean\",\"default\":true},"
	    "{\"name\":\"g\",\"type\":\"float\",\"default\":0.25}]}");
	static const unsigned char expect[] = {
		0x0e,                                   /* x: 7 */
		0x04, 0x02, 'a', 0x06, 0x02, 'b', 0x04, 0x00,   /* m: {"a": 3, "b": 2} */
		0x09, 0x00, 0x04, 0xc3, 0xa9,           /* r: y -5, u branch 0, "\u00e9" */
		0x04, 0, 0, 0, 0, 0, 0, 0xf8, 0x3f, 0, 0, 0, 0, 0, 0, 0, 0xc0, 0x00,   /* a */
		0x02,                                   /* e: Q */
		0xff, 'a',                              /* f */
		0x04, 0x01, 0xe9,                       /* b */
		0x01,                                   /* t */
		0x00, 0x00, 0x80, 0x3e,                 /* g: 0.25f */
	};
	cJSON *j = il_test_parse_json("{\"x\":7}");
	il_buf body;

	(void)state;
	encode_ok(s, j, &body);
	assert_int_equal(body.len, sizeof(expect));
	assert_memory_equal(body.data, expect, sizeof(expect));
	assert_avro_c_rewrites(s, &body);
	il_buf_free(&body);
	cJSON_Delete(j);
	il_schema_destroy(s);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_schema_accessors),
		cmocka_unit_test(test_round_trip_event_full),
		cmocka_unit_test(test_round_trip_event_nulls),
		cmocka_unit_test(test_minimal_event_takes_defaults),
		cmocka_unit_test(test_round_trip_results),
		cmocka_unit_test(test_round_trip_seed_individual),
		cmocka_unit_test(test_non_ascii_names),
		cmocka_unit_test(test_timestamp_forms),
		cmocka_unit_test(test_bad_timestamps),
		cmocka_unit_test(test_bad_dates),
		cmocka_unit_test(test_unknown_member),
		cmocka_unit_test(test_missing_required_field),
		cmocka_unit_test(test_type_errors),
		cmocka_unit_test(test_invalid_utf8_encode),
		cmocka_unit_test(test_invalid_utf8_decode),
		cmocka_unit_test(test_truncated_bodies),
		cmocka_unit_test(test_oversized_length_prefix),
		cmocka_unit_test(test_crafted_counts),
		cmocka_unit_test(test_crafted_branches_and_symbols),
		cmocka_unit_test(test_trailing_bytes),
		cmocka_unit_test(test_mutations_never_crash),
		cmocka_unit_test(test_wire_header),
		cmocka_unit_test(test_unknown_schema_id_offline),
		cmocka_unit_test(test_schema_errors),
		cmocka_unit_test(test_schema_set_errors),
		cmocka_unit_test(test_other_types),
		cmocka_unit_test(test_union_of_null_alone),
		cmocka_unit_test(test_encode_buffer_limit),
		cmocka_unit_test(test_threads_share_a_schema),
		cmocka_unit_test(test_encode_matches_avro_c),
		cmocka_unit_test(test_member_order_does_not_matter),
		cmocka_unit_test(test_member_order_errors),
		cmocka_unit_test(test_encode_error_appends_nothing),
		cmocka_unit_test(test_threads_encode_at_once),
		cmocka_unit_test(test_defaults_match_avro_c),
	};

	return cmocka_run_group_tests(tests, group_setup, group_teardown);
}
