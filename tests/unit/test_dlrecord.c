/*
 * test_dlrecord - workers/deadletter/record.c: messages of the dead-letter
 * and results topics as rows of the audit store, without a broker or a
 * database.
 *
 * Messages are il_dlrecord_msg values built here with real librdkafka
 * header lists (rd_kafka_headers_new); values are encoded with the offline
 * serde from the fixtures of tests/data/avro.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "conf.h"
#include "dlq.h"
#include "log.h"
#include "../../workers/deadletter/record.h"
#include "serde.h"
#include "testutil.h"
#include "xalloc.h"

#define DLQ "openspp.eligibility.v1.dlq"
#define RESULTS "imis.enrollment.results.v1"
#define EVENT_ID "5f2b4c9e0a7d41e3b8c6f1a2d3e4f5a6b7c8d9e0f1a2b3c4d5e6f7a8b9c0d1e2"

typedef struct fixture {
	il_conf *conf;          /* offline configuration */
	il_schema_set *set;     /* the tree's schemas */
	il_serde *sd;           /* offline serde over them */
	il_buf event;           /* event-full.json in wire format */
	il_buf result;          /* result-full.json in wire format */
	rd_kafka_headers_t *hdrs;       /* per test; freed by the teardown */
	il_dlrecord rec;        /* per test; cleared by the teardown */
} fixture;

static void
conf_set(il_conf *conf, const char *key, const char *value)
{
	char err[512];

	if (il_conf_set(conf, key, value, "test", err, sizeof(err)) != IL_OK)
		fail_msg("%s", err);
}

static void
encode_fixture(fixture *f, const char *schema, const char *file, il_buf *out)
{
	cJSON *j = il_test_avro_json(file);
	char err[512];

	il_buf_init(out, 1 << 20);
	if (il_serde_encode(f->sd, "t", il_schema_set_latest(f->set, schema), j, out, err, sizeof(err)) != IL_OK)
		fail_msg("%s", err);
	cJSON_Delete(j);
}

/* result-full.json with processed_at @p ms, in wire format. */
static void
encode_result_at(fixture *f, long long ms, il_buf *out)
{
	cJSON *j = il_test_avro_json("result-full.json");
	char err[512];

	cJSON_ReplaceItemInObjectCaseSensitive(j, "processed_at", cJSON_CreateNumber((double)ms));
	il_buf_init(out, 1 << 20);
	if (il_serde_encode(f->sd, "t", il_schema_set_latest(f->set, "EnrollmentResult"), j, out, err,
	    sizeof(err)) != IL_OK)
		fail_msg("%s", err);
	cJSON_Delete(j);
}

static int
setup(void **state)
{
	fixture *f = il_xcalloc(1, sizeof(*f));
	char err[512];

	il_log_init("test_dlrecord", IL_LOG_ERROR, NULL);
	f->conf = il_conf_new();
	conf_set(f->conf, "schema.registry.url", "");
	conf_set(f->conf, "schemas.dir", IL_SCHEMAS_DIR);
	f->set = il_test_load_schemas(IL_SCHEMAS_DIR);
	f->sd = il_serde_new(f->conf, f->set, err, sizeof(err));
	if (f->sd == NULL)
		fail_msg("%s", err);
	encode_fixture(f, "EligibilityEvent", "event-full.json", &f->event);
	encode_fixture(f, "EnrollmentResult", "result-full.json", &f->result);
	*state = f;
	return 0;
}

static int
teardown(void **state)
{
	fixture *f = *state;

	il_dlrecord_clear(&f->rec);
	if (f->hdrs != NULL)
		rd_kafka_headers_destroy(f->hdrs);
	il_buf_free(&f->event);
	il_buf_free(&f->result);
	il_serde_destroy(f->sd);
	il_schema_set_destroy(f->set);
	il_conf_destroy(f->conf);
	free(f);
	return 0;
}

/* The headers imislink-enroll writes for a failure of class @p cls. */
static rd_kafka_headers_t *
dlq_headers(const char *cls, const char *event_id)
{
	rd_kafka_headers_t *hdrs = rd_kafka_headers_new(IL_DLQ_NHEADERS);
	il_dlq_headers h;
	il_dlq_failure fl = {
		.topic = "openspp.eligibility.v1", .partition = 5, .offset = 123456789012LL,
		.connector = "imislink-enroll", .task = "w1", .stage = "TRANSFORMATION",
		.error_class = cls, .message = "area \"SPP-A99\" has no village in the mapping",
		.attempts = 3, .first_failure_ms = 1780272000000LL, .last_failure_ms = 1780272001500LL,
		.event_id = event_id,
	};
	size_t i;

	il_dlq_headers_fill(&h, &fl);
	for (i = 0; i < h.n; i++)
		rd_kafka_header_add(hdrs, h.h[i].name, -1, h.h[i].value, (ssize_t)h.h[i].len);
	return hdrs;
}

static il_dlrecord_msg
message(const char *topic, const char *key, const void *value, size_t vallen, rd_kafka_headers_t *hdrs)
{
	il_dlrecord_msg m = {
		.topic = topic, .partition = 2, .offset = 77, .timestamp_ms = 1780272002000LL,
		.key = key, .keylen = key != NULL ? strlen(key) : 0,
		.value = value, .vallen = vallen, .headers = hdrs,
	};

	return m;
}

static il_dlrecord *
convert(fixture *f, const il_dlrecord_msg *m, bool is_result)
{
	char err[512];

	assert_int_equal(il_dlrecord_convert(&f->rec, m, is_result, f->sd, err, sizeof(err)), IL_OK);
	return &f->rec;
}

static cJSON *
parse(const char *text)
{
	assert_non_null(text);
	return il_test_parse_json(text);
}

static void
test_dead_letter_with_headers(void **state)
{
	fixture *f = *state;
	il_dlrecord_msg m;
	il_dlrecord *r;
	cJSON *h, *first, *decoded;

	f->hdrs = dlq_headers("mapping", EVENT_ID);
	m = message(DLQ, "HH-000042", f->event.data, f->event.len, f->hdrs);
	r = convert(f, &m, false);
	assert_int_equal(r->kind, IL_DLRECORD_DEAD_LETTER);
	assert_false(r->undecodable);
	assert_string_equal(r->dl.topic, DLQ);
	assert_int_equal(r->dl.partition, 2);
	assert_int_equal(r->dl.offset, 77);
	assert_int_equal(r->dl.timestamp_ms, 1780272002000LL);
	/* the original bytes, copied */
	assert_int_equal(r->dl.keylen, 9);
	assert_memory_equal(r->dl.key, "HH-000042", 9);
	assert_ptr_not_equal(r->dl.value, f->event.data);
	assert_int_equal(r->dl.vallen, f->event.len);
	assert_memory_equal(r->dl.value, f->event.data, f->event.len);
	assert_string_equal(r->dl.source_topic, "openspp.eligibility.v1");
	assert_int_equal(r->dl.source_partition, 5);
	assert_int_equal(r->dl.source_offset, 123456789012LL);
	assert_string_equal(r->dl.error_class, "mapping");
	assert_string_equal(r->dl.error_stage, "TRANSFORMATION");
	assert_string_equal(r->dl.error_message, "area \"SPP-A99\" has no village in the mapping");
	assert_int_equal(r->dl.attempts, 3);
	assert_int_equal(r->dl.first_failure_ms, 1780272000000LL);
	assert_int_equal(r->dl.last_failure_ms, 1780272001500LL);
	assert_string_equal(r->dl.event_id, EVENT_ID);
	assert_string_equal(r->dl.event_key, "HH-000042");
	assert_int_equal(r->dl.programme_id, 3);
	/* every header, in order, as text */
	h = parse(r->dl.headers_json);
	assert_int_equal(cJSON_GetArraySize(h), IL_DLQ_NHEADERS);
	first = cJSON_GetArrayItem(h, 0);
	assert_string_equal(cJSON_GetObjectItem(first, "name")->valuestring, IL_DLQ_H_TOPIC);
	assert_string_equal(cJSON_GetObjectItem(first, "value")->valuestring, "openspp.eligibility.v1");
	cJSON_Delete(h);
	/* the decoded view is the event itself */
	decoded = parse(r->dl.decoded_json);
	h = il_test_avro_json("event-full.json");
	assert_true(cJSON_Compare(decoded, h, 1));
	cJSON_Delete(h);
	cJSON_Delete(decoded);
}

static void
test_dead_letter_undecodable_class(void **state)
{
	static const char bytes[] = "\x00\x7f\xff\xff\xf0garbage";
	fixture *f = *state;
	il_dlrecord_msg m;
	il_dlrecord *r;

	f->hdrs = dlq_headers("undecodable", NULL);
	m = message(DLQ, "HH-1", bytes, sizeof(bytes) - 1, f->hdrs);
	r = convert(f, &m, false);
	assert_int_equal(r->kind, IL_DLRECORD_DEAD_LETTER);
	assert_true(r->undecodable);
	assert_string_equal(r->dl.error_class, "undecodable");
	/* the enrollment worker's reason stays: it is the one that dead-lettered */
	assert_string_equal(r->dl.error_message, "area \"SPP-A99\" has no village in the mapping");
	assert_null(r->dl.decoded_json);
	assert_null(r->dl.event_id);
	assert_int_equal(r->dl.programme_id, -1);
	assert_int_equal(r->dl.vallen, sizeof(bytes) - 1);
	assert_memory_equal(r->dl.value, bytes, sizeof(bytes) - 1);
}

static void
test_no_headers_garbage(void **state)
{
	static const char bytes[] = "\x01 not avro \x80";
	fixture *f = *state;
	il_dlrecord_msg m;
	il_dlrecord *r;

	m = message(DLQ, "k", bytes, sizeof(bytes) - 1, NULL);
	r = convert(f, &m, false);
	assert_true(r->undecodable);
	assert_string_equal(r->dl.error_class, "undecodable");
	assert_string_equal(r->dl.error_stage, "VALUE_CONVERTER");
	assert_non_null(strstr(r->dl.error_message, "the value does not decode: "));
	assert_non_null(strstr(r->dl.error_message, "magic"));
	assert_string_equal(r->dl.headers_json, "[]");
	assert_null(r->dl.source_topic);
	assert_int_equal(r->dl.source_partition, -1);
	assert_int_equal(r->dl.source_offset, -1);
	assert_int_equal(r->dl.attempts, -1);
	assert_int_equal(r->dl.first_failure_ms, -1);
	assert_int_equal(r->dl.last_failure_ms, -1);
	assert_null(r->dl.decoded_json);
}

static void
test_no_headers_valid_event(void **state)
{
	fixture *f = *state;
	il_dlrecord_msg m;
	il_dlrecord *r;

	m = message(DLQ, "HH-000042", f->event.data, f->event.len, NULL);
	r = convert(f, &m, false);
	assert_false(r->undecodable);
	/* nothing says why it is here */
	assert_string_equal(r->dl.error_class, "undecodable");
	assert_non_null(strstr(r->dl.error_message, "no dead-letter headers"));
	assert_null(r->dl.error_stage);
	assert_string_equal(r->dl.event_id, EVENT_ID);
	assert_int_equal(r->dl.programme_id, 3);
	assert_non_null(r->dl.decoded_json);
}

static void
test_tombstone(void **state)
{
	fixture *f = *state;
	il_dlrecord_msg m;
	il_dlrecord *r;

	m = message(DLQ, NULL, NULL, 0, NULL);
	r = convert(f, &m, false);
	assert_true(r->undecodable);
	assert_null(r->dl.key);
	assert_null(r->dl.value);
	assert_null(r->dl.event_key);
	assert_non_null(strstr(r->dl.error_message, "no value"));
}

static void
test_binary_header_and_key(void **state)
{
	static const unsigned char bin[] = { 0xff, 0x00, 0xfe };
	static const char key[] = "\xc3\x28 key";        /* not UTF-8 */
	fixture *f = *state;
	il_dlrecord_msg m;
	il_dlrecord *r;
	cJSON *h, *item;

	f->hdrs = rd_kafka_headers_new(4);
	rd_kafka_header_add(f->hdrs, "bin", -1, bin, sizeof(bin));
	rd_kafka_header_add(f->hdrs, "null", -1, NULL, 0);
	rd_kafka_header_add(f->hdrs, IL_DLQ_H_PARTITION, -1, "abc", 3);
	rd_kafka_header_add(f->hdrs, IL_DLQ_H_ATTEMPTS, -1, "-3", 2);
	rd_kafka_header_add(f->hdrs, IL_DLQ_H_LAST, -1, "yesterday", 9);
	rd_kafka_header_add(f->hdrs, IL_DLQ_H_ERR_CLASS, -1, "\xff", 1);
	rd_kafka_header_add(f->hdrs, "q\"uote\\", -1, "a\"b\\c\n\x01" "d\xc3\xa9", 10);
	m = message(DLQ, key, f->event.data, f->event.len, f->hdrs);
	r = convert(f, &m, false);
	h = parse(r->dl.headers_json);
	assert_int_equal(cJSON_GetArraySize(h), 7);
	/* text with quotes, backslashes and control characters comes back as it was */
	item = cJSON_GetArrayItem(h, 6);
	assert_string_equal(cJSON_GetObjectItem(item, "name")->valuestring, "q\"uote\\");
	assert_string_equal(cJSON_GetObjectItem(item, "value")->valuestring, "a\"b\\c\n\x01" "d\xc3\xa9");
	item = cJSON_GetArrayItem(h, 0);
	assert_string_equal(cJSON_GetObjectItem(item, "base64")->valuestring, "/wD+");
	assert_null(cJSON_GetObjectItem(item, "value"));
	item = cJSON_GetArrayItem(h, 1);
	assert_true(cJSON_IsNull(cJSON_GetObjectItem(item, "value")));
	cJSON_Delete(h);
	assert_int_equal(r->dl.source_partition, -1);
	assert_int_equal(r->dl.attempts, -1);
	assert_int_equal(r->dl.last_failure_ms, -1);
	/* a class that is not text is no class */
	assert_string_equal(r->dl.error_class, "undecodable");
	assert_null(r->dl.event_key);
	assert_int_equal(r->dl.keylen, sizeof(key) - 1);
}

static void
test_result(void **state)
{
	fixture *f = *state;
	il_dlrecord_msg m;
	il_dlrecord *r;

	m = message(RESULTS, "HH-000042", f->result.data, f->result.len, NULL);
	r = convert(f, &m, true);
	assert_int_equal(r->kind, IL_DLRECORD_RESULT);
	assert_false(r->undecodable);
	assert_string_equal(r->res.topic, RESULTS);
	assert_int_equal(r->res.partition, 2);
	assert_int_equal(r->res.offset, 77);
	assert_string_equal(r->res.event_id, EVENT_ID);
	assert_string_equal(r->res.event_key, "HH-000042");
	assert_string_equal(r->res.outcome, "ENROLLED");
	assert_string_equal(r->res.target, "SOCIAL_PROTECTION");
	assert_int_equal(r->res.programme_id, 3);
	assert_string_equal(r->res.insuree_uuid, "3b0f7a8e-1c2d-4e5f-8a9b-0c1d2e3f4a5b");
	assert_string_equal(r->res.chf_id, "070707070");
	assert_string_equal(r->res.beneficiary_uuid, "7f4cbec0-5061-4293-aedf-4a5b6c7d8e9f");
	assert_int_equal(r->res.attempts, 3);
	assert_int_equal(r->res.duration_ms, 1234);
	assert_string_equal(r->res.error_class, "transient");
	assert_non_null(strstr(r->res.error_message, "503"));
	assert_string_equal(r->res.source_topic, "openspp.eligibility.v1");
	assert_int_equal(r->res.source_partition, 5);
	assert_int_equal(r->res.source_offset, 9007199254740991LL);
	assert_string_equal(r->res.worker_id, "enroll-1@host-\xc3\xbc");
	assert_int_equal(r->res.processed_at_ms, 1795255202001LL);
}

static void
test_result_nulls(void **state)
{
	fixture *f = *state;
	il_dlrecord_msg m;
	il_dlrecord *r;
	il_buf v;

	encode_fixture(f, "EnrollmentResult", "result-nulls.json", &v);
	m = message(RESULTS, "k", v.data, v.len, NULL);
	r = convert(f, &m, true);
	assert_int_equal(r->kind, IL_DLRECORD_RESULT);
	assert_null(r->res.target);
	assert_int_equal(r->res.programme_id, -1);
	assert_null(r->res.insuree_uuid);
	assert_null(r->res.error_class);
	assert_int_equal(r->res.source_partition, -1);
	assert_int_equal(r->res.source_offset, -1);
	il_buf_free(&v);
}

static void
test_result_undecodable(void **state)
{
	static const char bytes[] = "\xff\xfe garbage";
	fixture *f = *state;
	il_dlrecord_msg m;
	il_dlrecord *r;

	m = message(RESULTS, "k", bytes, sizeof(bytes) - 1, NULL);
	r = convert(f, &m, true);
	assert_int_equal(r->kind, IL_DLRECORD_DEAD_LETTER);
	assert_true(r->undecodable);
	assert_string_equal(r->dl.topic, RESULTS);
	assert_string_equal(r->dl.error_class, "undecodable");
	assert_string_equal(r->dl.error_stage, "VALUE_CONVERTER");
	assert_non_null(strstr(r->dl.error_message, "results topic"));
	assert_memory_equal(r->dl.value, bytes, sizeof(bytes) - 1);
}

static void
test_result_of_another_schema(void **state)
{
	fixture *f = *state;
	il_dlrecord_msg m;
	il_dlrecord *r;

	/* even with a dead-letter class header, a results message is judged by its value */
	f->hdrs = dlq_headers("mapping", EVENT_ID);
	m = message(RESULTS, "k", f->event.data, f->event.len, f->hdrs);
	r = convert(f, &m, true);
	assert_int_equal(r->kind, IL_DLRECORD_DEAD_LETTER);
	assert_true(r->undecodable);
	assert_string_equal(r->dl.error_class, "undecodable");
	assert_non_null(strstr(r->dl.error_message, "no EnrollmentResult: written with schema"));
	assert_non_null(r->dl.decoded_json);
}

/*
 * A result the store would refuse (processed_at is NOT NULL there and
 * takes the years 0001..9999 only): it decodes, but becomes a dead letter
 * of class undecodable with its bytes and the reason, never a row that
 * refuses the whole batch.
 */
static void
test_result_processed_at_beyond_9999(void **state)
{
	fixture *f = *state;
	il_dlrecord_msg m;
	il_dlrecord *r;
	il_buf v;

	encode_result_at(f, 253402300800000LL, &v);     /* 10000-01-01T00:00:00.000Z */
	m = message(RESULTS, "HH-000042", v.data, v.len, NULL);
	r = convert(f, &m, true);
	assert_int_equal(r->kind, IL_DLRECORD_DEAD_LETTER);
	assert_true(r->undecodable);
	assert_string_equal(r->dl.topic, RESULTS);
	assert_int_equal(r->dl.offset, 77);
	assert_string_equal(r->dl.error_class, "undecodable");
	assert_string_equal(r->dl.error_stage, "VALUE_CONVERTER");
	assert_non_null(strstr(r->dl.error_message, "results topic"));
	assert_non_null(strstr(r->dl.error_message, "processed_at 253402300800000 ms lies outside the years"));
	assert_int_equal(r->dl.vallen, v.len);
	assert_memory_equal(r->dl.value, v.data, v.len);
	/* decoded all the same: an operator sees what it said */
	assert_non_null(r->dl.decoded_json);
	assert_string_equal(r->dl.event_id, EVENT_ID);
	il_buf_free(&v);
	il_dlrecord_clear(&f->rec);

	/* The last millisecond of 9999 is still a time the store takes. */
	encode_result_at(f, 253402300799999LL, &v);
	m = message(RESULTS, "HH-000042", v.data, v.len, NULL);
	r = convert(f, &m, true);
	assert_int_equal(r->kind, IL_DLRECORD_RESULT);
	assert_int_equal(r->res.processed_at_ms, 253402300799999LL);
	il_buf_free(&v);
}

/* The row the store refused, as the dead letter that replaces it. */
static void
test_refused(void **state)
{
	static const char reason[] = "could not insert into \"dead_letters\": raised (SQLSTATE 23514)";
	fixture *f = *state;
	il_dlrecord_msg m;
	il_dlrecord *r = &f->rec;
	cJSON *h;

	f->hdrs = dlq_headers("mapping", EVENT_ID);
	m = message(DLQ, "HH-000042", f->event.data, f->event.len, f->hdrs);
	il_dlrecord_refused(r, &m, false, reason);
	assert_int_equal(r->kind, IL_DLRECORD_DEAD_LETTER);
	assert_true(r->undecodable);
	assert_string_equal(r->dl.topic, DLQ);
	assert_int_equal(r->dl.partition, 2);
	assert_int_equal(r->dl.offset, 77);
	assert_string_equal(r->dl.error_class, "undecodable");
	assert_string_equal(r->dl.error_stage, "TASK_PUT");
	assert_non_null(strstr(r->dl.error_message, "the audit store refused the row: "));
	assert_non_null(strstr(r->dl.error_message, reason));
	/* its bytes, copied, and what the headers say of the source */
	assert_ptr_not_equal(r->dl.value, f->event.data);
	assert_memory_equal(r->dl.value, f->event.data, f->event.len);
	assert_memory_equal(r->dl.key, "HH-000042", 9);
	assert_string_equal(r->dl.source_topic, "openspp.eligibility.v1");
	assert_int_equal(r->dl.source_offset, 123456789012LL);
	assert_string_equal(r->dl.event_id, EVENT_ID);
	h = parse(r->dl.headers_json);
	assert_int_equal(cJSON_GetArraySize(h), IL_DLQ_NHEADERS);
	cJSON_Delete(h);
	/* nothing decoded: the refused row was made from that */
	assert_null(r->dl.decoded_json);
	assert_int_equal(r->dl.programme_id, -1);
	il_dlrecord_clear(r);

	/* From the results topic: no dead-letter header is believed. */
	m = message(RESULTS, NULL, f->result.data, f->result.len, f->hdrs);
	il_dlrecord_refused(r, &m, true, reason);
	assert_int_equal(r->kind, IL_DLRECORD_DEAD_LETTER);
	assert_string_equal(r->dl.topic, RESULTS);
	assert_string_equal(r->dl.error_class, "undecodable");
	assert_null(r->dl.source_topic);
	assert_null(r->dl.event_id);
	assert_null(r->dl.key);
	assert_memory_equal(r->dl.value, f->result.data, f->result.len);
}

static void
test_registry_unreachable(void **state)
{
	static const char bytes[] = "\x00\x00\x00\x03\x09\x02";
	fixture *f = *state;
	il_serde *online;
	il_conf *conf = il_conf_new();
	il_dlrecord_msg m;
	char err[512];

	/* Port 9 on loopback: nothing listens, the connection is refused. */
	conf_set(conf, "schema.registry.url", "http://127.0.0.1:9");
	conf_set(conf, "schemas.dir", IL_SCHEMAS_DIR);
	online = il_serde_new(conf, f->set, err, sizeof(err));
	assert_non_null(online);
	m = message(DLQ, "k", bytes, sizeof(bytes) - 1, NULL);
	err[0] = '\0';
	assert_int_equal(il_dlrecord_convert(&f->rec, &m, false, online, err, sizeof(err)), IL_ERR_TRANSIENT);
	assert_true(err[0] != '\0');
	assert_int_equal(f->rec.nowned, 0);
	assert_null(f->rec.value);
	il_serde_destroy(online);
	il_conf_destroy(conf);
}

static void
test_clear_twice(void **state)
{
	fixture *f = *state;
	il_dlrecord_msg m;
	il_dlrecord empty;

	memset(&empty, 0, sizeof(empty));
	il_dlrecord_clear(&empty);
	il_dlrecord_clear(NULL);
	m = message(DLQ, "k", f->event.data, f->event.len, NULL);
	convert(f, &m, false);
	il_dlrecord_clear(&f->rec);
	il_dlrecord_clear(&f->rec);
	assert_int_equal(f->rec.nowned, 0);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_setup_teardown(test_dead_letter_with_headers, setup, teardown),
		cmocka_unit_test_setup_teardown(test_dead_letter_undecodable_class, setup, teardown),
		cmocka_unit_test_setup_teardown(test_no_headers_garbage, setup, teardown),
		cmocka_unit_test_setup_teardown(test_no_headers_valid_event, setup, teardown),
		cmocka_unit_test_setup_teardown(test_tombstone, setup, teardown),
		cmocka_unit_test_setup_teardown(test_binary_header_and_key, setup, teardown),
		cmocka_unit_test_setup_teardown(test_result, setup, teardown),
		cmocka_unit_test_setup_teardown(test_result_nulls, setup, teardown),
		cmocka_unit_test_setup_teardown(test_result_undecodable, setup, teardown),
		cmocka_unit_test_setup_teardown(test_result_of_another_schema, setup, teardown),
		cmocka_unit_test_setup_teardown(test_result_processed_at_beyond_9999, setup, teardown),
		cmocka_unit_test_setup_teardown(test_refused, setup, teardown),
		cmocka_unit_test_setup_teardown(test_registry_unreachable, setup, teardown),
		cmocka_unit_test_setup_teardown(test_clear_twice, setup, teardown),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
