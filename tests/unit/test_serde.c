/*
 * test_serde - wire-format encode and decode of common/serde.c, offline.
 *
 * Offline mode (empty schema.registry.url) takes its ids from
 * schemas/offline-ids.properties; the online mode is tested against the test
 * Schema Registry by tests/integration/it_serde_registry.c.  The one online
 * case here needs no service: a registry that cannot be reached.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "avro.h"
#include "conf.h"
#include "serde.h"
#include "testutil.h"
#include "xalloc.h"

typedef struct fixture {
	il_conf *conf;          /* offline configuration */
	il_schema_set *set;     /* the tree's schemas */
	il_serde *sd;           /* offline serde over them */
} fixture;

static void
conf_set(il_conf *conf, const char *key, const char *value)
{
	char err[512];

	if (il_conf_set(conf, key, value, "test", err, sizeof(err)) != IL_OK)
		fail_msg("%s", err);
}

static int
setup(void **state)
{
	fixture *f = il_xcalloc(1, sizeof(*f));
	char err[512];

	f->conf = il_conf_new();
	conf_set(f->conf, "schema.registry.url", "");
	conf_set(f->conf, "schemas.dir", IL_SCHEMAS_DIR);
	f->set = il_test_load_schemas(IL_SCHEMAS_DIR);
	f->sd = il_serde_new(f->conf, f->set, err, sizeof(err));
	if (f->sd == NULL)
		fail_msg("%s", err);
	*state = f;
	return 0;
}

static int
teardown(void **state)
{
	fixture *f = *state;

	il_serde_destroy(f->sd);
	il_schema_set_destroy(f->set);
	il_conf_destroy(f->conf);
	free(f);
	return 0;
}

static void
test_round_trip_offline_ids(void **state)
{
	static const struct {
		const char *schema;
		const char *file;
		int32_t id;
	} cases[] = {
		{ "EligibilityEvent", "event-full.json", 1 },
		{ "EnrollmentResult", "result-full.json", 2 },
	};
	fixture *f = *state;
	const il_schema *writer;
	char err[512];
	cJSON *j, *out;
	il_buf msg;
	size_t i;

	for (i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		const il_schema *s = il_schema_set_latest(f->set, cases[i].schema);
		unsigned char hdr[IL_WIRE_HEADER_LEN];
		int32_t id;

		j = il_test_avro_json(cases[i].file);
		il_buf_init(&msg, 1 << 20);
		assert_int_equal(il_serde_encode(f->sd, "openspp.eligibility.v1", s, j, &msg, err,
		    sizeof(err)), IL_OK);
		il_wire_header(cases[i].id, hdr);
		assert_memory_equal(msg.data, hdr, sizeof(hdr));
		assert_int_equal(il_serde_schema_id(f->sd, "any-subject", s, &id, err, sizeof(err)),
		    IL_OK);
		assert_int_equal(id, cases[i].id);
		out = NULL;
		writer = NULL;
		assert_int_equal(il_serde_decode(f->sd, msg.data, msg.len, &out, &writer, err,
		    sizeof(err)), IL_OK);
		assert_ptr_equal(writer, s);
		assert_true(cJSON_Compare(j, out, 1));
		cJSON_Delete(out);
		cJSON_Delete(j);
		il_buf_free(&msg);
	}
}

/* Every schema of the tree has exactly one offline id, so the demo can decode all of them. */
static void
test_every_schema_has_an_offline_id(void **state)
{
	fixture *f = *state;
	const il_schema *back;
	int32_t id, seen[64];
	char err[512];
	size_t i, k;

	assert_true(il_schema_set_count(f->set) <= 64);
	for (i = 0; i < il_schema_set_count(f->set); i++) {
		const il_schema *s = il_schema_set_at(f->set, i);

		if (il_serde_schema_id(f->sd, "x-value", s, &id, err, sizeof(err)) != IL_OK)
			fail_msg("%s", err);
		for (k = 0; k < i; k++)
			assert_int_not_equal(seen[k], id);
		seen[i] = id;
		assert_int_equal(il_serde_schema_by_id(f->sd, id, &back, err, sizeof(err)), IL_OK);
		assert_ptr_equal(back, s);
	}
}

static void
test_decode_refusals(void **state)
{
	fixture *f = *state;
	unsigned char msg[8] = { 0, 0, 0, 0, 42, 0, 0, 0 };
	char err[512], expect[512];
	cJSON *out = (cJSON *)1;

	assert_int_equal(il_serde_decode(f->sd, msg, sizeof(msg), &out, NULL, err, sizeof(err)),
	    IL_ERR_DECODE_SCHEMA);
	assert_null(out);
	snprintf(expect, sizeof(expect), "unknown schema id 42: not among the offline ids in "
	    "\"%s/offline-ids.properties\"", IL_SCHEMAS_DIR);
	assert_string_equal(err, expect);

	assert_int_equal(il_serde_decode(f->sd, msg, 3, &out, NULL, err, sizeof(err)),
	    IL_ERR_DECODE_SHORT);
	assert_string_equal(err, "message of 3 bytes is shorter than the 5-byte wire header");
	msg[0] = 0x7b;
	assert_int_equal(il_serde_decode(f->sd, msg, sizeof(msg), &out, NULL, err, sizeof(err)),
	    IL_ERR_DECODE_MAGIC);
	msg[0] = 0;
	msg[4] = 1;
	assert_int_equal(il_serde_decode(f->sd, msg, sizeof(msg), &out, NULL, err, sizeof(err)),
	    IL_ERR_DECODE_BODY);
	/* event_id "", event_type 0, source.system "", then nothing */
	assert_string_equal(err, "source.instance: body ends at offset 3 inside a string length");
}

/* Messages over avro.max.message.bytes are refused both ways. */
static void
test_size_cap(void **state)
{
	fixture *f = *state;
	const il_schema *s = il_schema_set_latest(f->set, "EligibilityEvent");
	cJSON *j = il_test_avro_json("event-full.json"), *out = NULL;
	char err[512], expect[256];
	il_conf *small = il_conf_new();
	il_serde *sd;
	il_buf msg;

	conf_set(small, "schemas.dir", IL_SCHEMAS_DIR);
	conf_set(small, "avro.max.message.bytes", "1024");
	sd = il_serde_new(small, f->set, err, sizeof(err));
	assert_non_null(sd);
	il_buf_init(&msg, 1 << 20);
	assert_int_equal(il_buf_add(&msg, "kept", 4), IL_OK);
	assert_int_equal(il_serde_encode(sd, "t", s, j, &msg, err, sizeof(err)), IL_ERR_ENCODE);
	assert_int_equal(msg.len, 4);
	assert_string_equal(msg.data, "kept");
	il_buf_reset(&msg);
	assert_int_equal(il_serde_encode(f->sd, "t", s, j, &msg, err, sizeof(err)), IL_OK);
	assert_true(msg.len > 1024);
	snprintf(expect, sizeof(expect), "encoded message of %zu bytes exceeds the limit of 1024 "
	    "bytes (avro.max.message.bytes)", msg.len);
	il_buf_reset(&msg);
	assert_int_equal(il_serde_encode(sd, "t", s, j, &msg, err, sizeof(err)), IL_ERR_ENCODE);
	assert_string_equal(err, expect);
	assert_int_equal(il_serde_encode(f->sd, "t", s, j, &msg, err, sizeof(err)), IL_OK);
	snprintf(expect, sizeof(expect), "message of %zu bytes exceeds the limit of 1024 bytes",
	    msg.len);
	assert_int_equal(il_serde_decode(sd, msg.data, msg.len, &out, NULL, err, sizeof(err)),
	    IL_ERR_DECODE_TOOBIG);
	assert_null(out);
	assert_string_equal(err, expect);
	il_buf_free(&msg);
	il_serde_destroy(sd);
	il_conf_destroy(small);
	cJSON_Delete(j);
}

/* A failed encode leaves the output as it was, whatever failed. */
static void
test_encode_failure_leaves_output(void **state)
{
	fixture *f = *state;
	const il_schema *s = il_schema_set_latest(f->set, "EligibilityEvent");
	cJSON *j = cJSON_Parse("{\"event_id\": 1}");
	char err[512];
	il_buf msg;

	il_buf_init(&msg, 1 << 20);
	assert_int_equal(il_buf_add(&msg, "abc", 3), IL_OK);
	assert_int_equal(il_serde_encode(f->sd, "t", s, j, &msg, err, sizeof(err)), IL_ERR_ENCODE);
	assert_string_equal(err, "event_id: expected a string, got 1");
	assert_int_equal(msg.len, 3);
	assert_string_equal(msg.data, "abc");
	il_buf_free(&msg);
	cJSON_Delete(j);
}

/* A schema without an offline id cannot be encoded offline. */
static void
test_schema_without_offline_id(void **state)
{
	fixture *f = *state;
	const char *text = "{\"type\":\"record\",\"name\":\"Other\",\"fields\":[]}";
	char err[512], expect[512];
	il_schema *s = il_schema_from_json(text, strlen(text), err, sizeof(err));
	int32_t id;

	assert_non_null(s);
	assert_int_equal(il_serde_schema_id(f->sd, "t-value", s, &id, err, sizeof(err)),
	    IL_ERR_PERMANENT);
	snprintf(expect, sizeof(expect), "schema \"Other\" version 0 has no id in "
	    "\"%s/offline-ids.properties\"", IL_SCHEMAS_DIR);
	assert_string_equal(err, expect);
	il_schema_destroy(s);
}

static void
test_offline_ids_file_errors(void **state)
{
	char err[512], expect[512];
	il_conf *conf = il_conf_new();
	il_schema_set *set;

	(void)state;
	conf_set(conf, "schemas.dir", IL_TEST_DATA_DIR "/schemas-offline-bad");
	set = il_schema_set_load(IL_TEST_DATA_DIR "/schemas-offline-bad", err, sizeof(err));
	assert_non_null(set);
	assert_null(il_serde_new(conf, set, err, sizeof(err)));
	snprintf(expect, sizeof(expect), "\"%s/schemas-offline-bad/offline-ids.properties\":3: "
	    "no schema \"Membership.v2\" among the loaded schemas", IL_TEST_DATA_DIR);
	assert_string_equal(err, expect);
	conf_set(conf, "schemas.dir", IL_TEST_DATA_DIR "/avro");
	assert_null(il_serde_new(conf, set, err, sizeof(err)));
	snprintf(expect, sizeof(expect), "could not open file \"%s/avro/offline-ids.properties\": "
	    "No such file or directory", IL_TEST_DATA_DIR);
	assert_string_equal(err, expect);
	il_schema_set_destroy(set);
	il_conf_destroy(conf);
	il_serde_destroy(NULL);
}

/* A registry that cannot be reached is worth a retry: IL_ERR_TRANSIENT, never a crash. */
static void
test_registry_unreachable(void **state)
{
	fixture *f = *state;
	const il_schema *s = il_schema_set_latest(f->set, "EligibilityEvent");
	unsigned char msg[6] = { 0, 0, 0, 0, 7, 0 };
	il_conf *conf = il_conf_new();
	char err[512];
	cJSON *out = NULL;
	il_serde *sd;
	int32_t id;

	/* port 1 on loopback: nothing listens there, the connection is refused */
	conf_set(conf, "schema.registry.url", "http://127.0.0.1:1/");
	conf_set(conf, "schema.registry.username", "user");
	conf_set(conf, "schema.registry.password", "secret");
	sd = il_serde_new(conf, f->set, err, sizeof(err));
	assert_non_null(sd);
	assert_int_equal(il_serde_schema_id(sd, "t-value", s, &id, err, sizeof(err)),
	    IL_ERR_TRANSIENT);
	assert_non_null(strstr(err, "could not reach schema registry \"http://127.0.0.1:1\": "));
	assert_null(strstr(err, "secret"));
	assert_int_equal(il_serde_decode(sd, msg, sizeof(msg), &out, NULL, err, sizeof(err)),
	    IL_ERR_TRANSIENT);
	assert_null(out);
	il_serde_destroy(sd);
	il_conf_destroy(conf);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_setup_teardown(test_round_trip_offline_ids, setup, teardown),
		cmocka_unit_test_setup_teardown(test_every_schema_has_an_offline_id, setup, teardown),
		cmocka_unit_test_setup_teardown(test_decode_refusals, setup, teardown),
		cmocka_unit_test_setup_teardown(test_size_cap, setup, teardown),
		cmocka_unit_test_setup_teardown(test_encode_failure_leaves_output, setup, teardown),
		cmocka_unit_test_setup_teardown(test_schema_without_offline_id, setup, teardown),
		cmocka_unit_test(test_offline_ids_file_errors),
		cmocka_unit_test_setup_teardown(test_registry_unreachable, setup, teardown),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
