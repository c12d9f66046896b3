/*
 * test_serde - wire-format encode and decode of common/serde.c, offline.
 *
 * Offline mode (empty schema.registry.url) takes its ids from
 * schemas/offline-ids.properties; the online mode is tested against the test
 * Schema Registry by tests/integration/it_serde_registry.c.  The online cases
 * here need no service: a registry that cannot be reached, and answers the
 * test registry cannot give (it has no authentication): an HTTP peer on
 * common/http.c answers 401, 403, 500, a foreign schema type and a 404 that
 * is no registry's, and counts requests, which shows that unknown ids are
 * remembered and how many.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include <stdatomic.h>

#include "avro.h"
#include "conf.h"
#include "http.h"
#include "log.h"
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

/* Ids the peer below answers; first of the range it answers with 404 "not found". */
#define PEER_IDS 4096
#define PEER_FLOOD_FIRST 1000
/* The serde's bound on remembered unknown ids (serde.c IL_SR_UNKNOWN_MAX). */
#define PEER_FLOOD_COUNT 1024

/* An HTTP peer answering as a registry would; see the file comment. */
typedef struct peer {
	il_http *http;                  /* the server */
	char url[64];                   /* its base URL */
	atomic_int hits[PEER_IDS];      /* GET /schemas/ids/<id> requests per id */
	atomic_int posts;               /* registration requests */
} peer;

static void
peer_reply(il_http_response *resp, int status, const char *body)
{
	resp->status = status;
	resp->content_type = "application/vnd.schemaregistry.v1+json";
	if (il_buf_adds(&resp->body, body) != IL_OK)
		resp->status = 500;
}

static void
peer_get_id(const il_http_request *req, il_http_response *resp, void *ctx)
{
	peer *pr = ctx;
	long id = strtol(req->path + strlen("/schemas/ids/"), NULL, 10);

	if (id > 0 && id < PEER_IDS)
		atomic_fetch_add(&pr->hits[id], 1);
	if (id == 7)
		peer_reply(resp, 401, "{\"error_code\":40101,\"message\":\"Unauthorized\"}");
	else if (id == 8)
		peer_reply(resp, 403, "{\"error_code\":40301,\"message\":\"User is denied "
		    "operation Read on Subject\"}");
	else if (id == 10)
		peer_reply(resp, 500, "{\"error_code\":50001,\"message\":\"Error in the backend "
		    "data store\"}");
	else if (id == 11)
		peer_reply(resp, 200, "{\"schema\":\"syntax = \\\"proto3\\\";\","
		    "\"schemaType\":\"PROTOBUF\"}");
	else
		peer_reply(resp, 404, "{\"error_code\":40403,\"message\":\"Schema not found\"}");
}

static void
peer_post(const il_http_request *req, il_http_response *resp, void *ctx)
{
	peer *pr = ctx;

	atomic_fetch_add(&pr->posts, 1);
	if (strstr(req->path, "auth403") != NULL)
		peer_reply(resp, 403, "{\"error_code\":40301,\"message\":\"User is denied "
		    "operation Write on Subject\"}");
	else
		peer_reply(resp, 401, "{\"error_code\":40101,\"message\":\"Unauthorized\"}");
}

static peer *
peer_start(void)
{
	peer *pr = il_xcalloc(1, sizeof(*pr));
	char path[64], err[256];
	int i;

	pr->http = il_http_new("127.0.0.1", 0, 1 << 20, NULL, NULL, NULL);
	/* Id 12 has no route: the server's own 404, with no registry error code. */
	for (i = 1; i < PEER_IDS; i++) {
		if (i == 12)
			continue;
		snprintf(path, sizeof(path), "/schemas/ids/%d", i);
		il_http_route(pr->http, "GET", path, peer_get_id, pr);
	}
	il_http_route(pr->http, "POST", "/subjects/auth401-value/versions", peer_post, pr);
	il_http_route(pr->http, "POST", "/subjects/auth403-value/versions", peer_post, pr);
	if (il_http_listen(pr->http, err, sizeof(err)) != IL_OK)
		fail_msg("%s", err);
	snprintf(pr->url, sizeof(pr->url), "http://127.0.0.1:%d", il_http_port(pr->http));
	return pr;
}

static void
peer_stop(peer *pr)
{
	il_http_stop(pr->http);
	free(pr);
}

static il_serde *
peer_serde(const peer *pr, const il_schema_set *set, const char *user, il_conf **conf)
{
	char err[512];
	il_serde *sd;

	*conf = il_conf_new();
	conf_set(*conf, "schema.registry.url", pr->url);
	conf_set(*conf, "schema.registry.username", user);
	conf_set(*conf, "schema.registry.password", user[0] != '\0' ? "pw-never-shown" : "");
	sd = il_serde_new(*conf, set, err, sizeof(err));
	if (sd == NULL)
		fail_msg("%s", err);
	return sd;
}


/* Credentials refused are a configuration problem: IL_ERR_CONFIG on both paths. */
static void
test_registry_refuses_credentials(void **state)
{
	fixture *f = *state;
	const il_schema *s = il_schema_set_latest(f->set, "EligibilityEvent");
	peer *pr = peer_start();
	char err[512], want[512];
	il_conf *conf, *anon_conf;
	il_serde *sd = peer_serde(pr, f->set, "reader", &conf);
	il_serde *anon = peer_serde(pr, f->set, "", &anon_conf);
	int32_t id;

	assert_int_equal(il_test_decode_id(sd, 7, err, sizeof(err)), IL_ERR_CONFIG);
	snprintf(want, sizeof(want), "schema registry \"%s\" refused user \"reader\" (HTTP 401) to the "
	    "lookup of schema id 7: Unauthorized; check schema.registry.username and "
	    "schema.registry.password", pr->url);
	assert_string_equal(err, want);
	assert_int_equal(il_test_decode_id(sd, 8, err, sizeof(err)), IL_ERR_CONFIG);
	assert_non_null(strstr(err, "(HTTP 403) to the lookup of schema id 8: User is denied"));
	assert_int_equal(il_test_decode_id(anon, 7, err, sizeof(err)), IL_ERR_CONFIG);
	snprintf(want, sizeof(want), "schema registry \"%s\" refused a request without credentials "
	    "(HTTP 401) to the lookup of schema id 7: Unauthorized; set schema.registry.username "
	    "and schema.registry.password", pr->url);
	assert_string_equal(err, want);
	/* Not remembered: once the credentials are fixed, the id must work. */
	assert_int_equal(il_test_decode_id(sd, 7, err, sizeof(err)), IL_ERR_CONFIG);
	assert_int_equal(atomic_load(&pr->hits[7]), 3);

	assert_int_equal(il_serde_schema_id(sd, "auth401-value", s, &id, err, sizeof(err)),
	    IL_ERR_CONFIG);
	snprintf(want, sizeof(want), "schema registry \"%s\" refused user \"reader\" (HTTP 401) to the "
	    "registration of \"org.imislink.events.EligibilityEvent\" under subject \"auth401-value\": "
	    "Unauthorized; check schema.registry.username and schema.registry.password", pr->url);
	assert_string_equal(err, want);
	assert_int_equal(il_serde_schema_id(sd, "auth403-value", s, &id, err, sizeof(err)),
	    IL_ERR_CONFIG);
	assert_non_null(strstr(err, "(HTTP 403) to the registration of"));
	assert_null(strstr(err, "pw-never-shown"));

	il_serde_destroy(anon);
	il_serde_destroy(sd);
	il_conf_destroy(anon_conf);
	il_conf_destroy(conf);
	peer_stop(pr);
}

/*
 * A flood of messages with an unknown id costs one request per id, not one
 * per message; an outage-like answer (500) is never remembered; a 404 that
 * did not come from a registry blames the URL, not the message.
 */
static void
test_unknown_ids_remembered(void **state)
{
	fixture *f = *state;
	peer *pr = peer_start();
	char err[512], first[512];
	il_conf *conf;
	il_serde *sd = peer_serde(pr, f->set, "", &conf);
	int i;

	assert_int_equal(il_test_decode_id(sd, 9, first, sizeof(first)), IL_ERR_DECODE_SCHEMA);
	assert_string_equal(first, "unknown schema id 9: Schema not found");
	for (i = 0; i < 100; i++) {
		assert_int_equal(il_test_decode_id(sd, 9, err, sizeof(err)), IL_ERR_DECODE_SCHEMA);
		assert_string_equal(err, first);
	}
	assert_int_equal(atomic_load(&pr->hits[9]), 1);

	/* A schema of another kind stays unusable: remembered as well. */
	assert_int_equal(il_test_decode_id(sd, 11, err, sizeof(err)), IL_ERR_DECODE_SCHEMA);
	assert_string_equal(err, "schema id 11 is a PROTOBUF schema, not Avro");
	assert_int_equal(il_test_decode_id(sd, 11, err, sizeof(err)), IL_ERR_DECODE_SCHEMA);
	assert_int_equal(atomic_load(&pr->hits[11]), 1);

	/* The registry failing is worth a retry, each time. */
	assert_int_equal(il_test_decode_id(sd, 10, err, sizeof(err)), IL_ERR_TRANSIENT);
	assert_non_null(strstr(err, "answered HTTP 500 for schema id 10: Error in the backend"));
	assert_int_equal(il_test_decode_id(sd, 10, err, sizeof(err)), IL_ERR_TRANSIENT);
	assert_int_equal(atomic_load(&pr->hits[10]), 2);

	/* No registry said "not found": every id would get it, the URL is wrong. */
	assert_int_equal(il_test_decode_id(sd, 12, err, sizeof(err)), IL_ERR_CONFIG);
	assert_non_null(strstr(err, "answered HTTP 404 without a registry's error code for schema "
	    "id 12: "));
	assert_non_null(strstr(err, "; check schema.registry.url"));

	il_serde_destroy(sd);
	il_conf_destroy(conf);
	peer_stop(pr);
}

/* The memory of unknown ids is bounded: past the bound the oldest is forgotten. */
static void
test_unknown_ids_bounded(void **state)
{
	fixture *f = *state;
	peer *pr = peer_start();
	char err[512];
	il_conf *conf;
	il_serde *sd = peer_serde(pr, f->set, "", &conf);
	int i, again = 0;

	for (i = 0; i <= PEER_FLOOD_COUNT; i++)
		assert_int_equal(il_test_decode_id(sd, PEER_FLOOD_FIRST + i, err, sizeof(err)),
		    IL_ERR_DECODE_SCHEMA);
	/* The newest PEER_FLOOD_COUNT ids are remembered... */
	for (i = 1; i <= PEER_FLOOD_COUNT; i++) {
		assert_int_equal(il_test_decode_id(sd, PEER_FLOOD_FIRST + i, err, sizeof(err)),
		    IL_ERR_DECODE_SCHEMA);
		again += atomic_load(&pr->hits[PEER_FLOOD_FIRST + i]) != 1;
	}
	assert_int_equal(again, 0);
	/* ...the first one made room and is asked for again. */
	assert_int_equal(il_test_decode_id(sd, PEER_FLOOD_FIRST, err, sizeof(err)), IL_ERR_DECODE_SCHEMA);
	assert_int_equal(atomic_load(&pr->hits[PEER_FLOOD_FIRST]), 2);

	il_serde_destroy(sd);
	il_conf_destroy(conf);
	peer_stop(pr);
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
		cmocka_unit_test_setup_teardown(test_registry_refuses_credentials, setup, teardown),
		cmocka_unit_test_setup_teardown(test_unknown_ids_remembered, setup, teardown),
		cmocka_unit_test_setup_teardown(test_unknown_ids_bounded, setup, teardown),
	};

	/* The peer's "http listening" lines are not what this test is about. */
	il_log_init("test_serde", IL_LOG_WARN, NULL);

	return cmocka_run_group_tests(tests, NULL, NULL);
}
