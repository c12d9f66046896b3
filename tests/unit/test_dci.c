/*
 * test_dci.c - the SPDCI notify envelope, its answers and the seen-id memory,
 * common/dci.c.
 */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "buf.h"
#include "dci.h"
#include "event.h"
#include "timefmt.h"
#include "xalloc.h"

static const il_event_ctx ctx = { "openspp-test", "National ID" };

static const char person[] =
    "{\"id\": 41, \"name\": \"NGUYỄN, THỊ LAN\","
    " \"ids\": [{\"id_type\": \"National ID\", \"value\": \"NID-1001\", \"expiry_date\": null,"
    "   \"status\": \"valid\", \"description\": null}],"
    " \"registration_date\": \"2024-02-29\", \"phone_numbers\": [], \"email\": null, \"address\": null,"
    " \"given_name\": \"THỊ\", \"addl_name\": \"LAN\", \"family_name\": \"NGUYỄN\","
    " \"gender\": \"Female\", \"birthdate\": \"1988-12-31\", \"birth_place\": null, \"is_group\": false}";

/* A valid envelope of three events; the caller frees the text. */
static char *
valid_envelope(void)
{
	return il_xasprintf(
	    "{\"signature\": \"sig\","
	    " \"header\": {\"version\": \"1.0.0\", \"message_id\": \"m-1\","
	    "  \"message_ts\": \"2025-01-31T10:00:00+01:00\", \"action\": \"notify\","
	    "  \"sender_id\": \"openspp.example\", \"sender_uri\": \"https://spp.example/dci\","
	    "  \"receiver_id\": \"imislink\", \"total_count\": 3, \"is_msg_encrypted\": false},"
	    " \"message\": {\"transaction_id\": \"t-9\", \"notify_event\": ["
	    "  {\"reference_id\": \"r-1\", \"timestamp\": \"2025-01-31T09:00:00Z\","
	    "   \"data\": {\"version\": \"1.0.0\", \"reg_type\": \"ns:org:RegistryType:Social\","
	    "    \"reg_record_type\": \"Person\", \"reg_event_type\": \"register\", \"reg_records\": [%s, %s]},"
	    "   \"locale\": \"eng\"},"
	    "  {\"reference_id\": \"r-2\", \"timestamp\": \"2025-01-31T09:00:01.5Z\", \"event_type\": \"UPDATE\","
	    "   \"data\": {\"reg_records\": [%s]}},"
	    "  {\"reference_id\": \"r-3\", \"timestamp\": \"2025-01-31T09:00:02Z\","
	    "   \"data\": {\"reg_records\": []}}"
	    " ]}}", person, person, person);
}

/* Parses @text after replacing the first @from by @to; @returns the result code. */
static il_err
parse_edited(const char *from, const char *to, il_dci_error *err)
{
	char *text = valid_envelope();
	char *at = strstr(text, from);
	il_dci_notify *n = NULL;
	il_err rc;
	char *edited;

	if (at == NULL)
		fail_msg("fixture lacks \"%s\"", from);
	edited = il_xasprintf("%.*s%s%s", (int)(at - text), text, to, at + strlen(from));
	rc = il_dci_parse_notify(edited, strlen(edited), NULL, &n, err);
	if (rc == IL_OK)
		assert_non_null(n);
	else
		assert_null(n);
	il_dci_notify_destroy(n);
	free(edited);
	free(text);
	return rc;
}

static void
expect_refusal(const char *from, const char *to, il_err want_rc, const char *code, const char *line)
{
	il_dci_error err;
	il_err rc = parse_edited(from, to, &err);

	if (rc != want_rc)
		fail_msg("edit \"%s\" -> \"%s\": got %d, expected %d (%s: %s)", from, to, (int)rc,
		    (int)want_rc, err.code, err.message);
	if (strcmp(err.code, code) != 0)
		fail_msg("edit \"%s\" -> \"%s\": code \"%s\", expected \"%s\" (%s)", from, to, err.code,
		    code, err.message);
	if (strstr(err.message, line) == NULL)
		fail_msg("edit \"%s\" -> \"%s\": message lacks \"%s\": %s", from, to, line, err.message);
}

static void
test_valid(void **state)
{
	char *text = valid_envelope();
	il_dci_notify *n = NULL;
	il_dci_error err;
	const cJSON *recs;
	const char *ref;
	il_dci_kind kind;
	int64_t ts, want;
	char errbuf[512], *pos;
	cJSON *event;

	(void)state;
	assert_int_equal(il_dci_parse_notify(text, strlen(text), NULL, &n, &err), IL_OK);
	assert_int_equal(err.count, 0);
	assert_string_equal(err.code, "");
	assert_string_equal(il_dci_notify_message_id(n), "m-1");
	assert_string_equal(il_dci_notify_sender_id(n), "openspp.example");
	assert_string_equal(il_dci_notify_receiver_id(n), "imislink");
	assert_string_equal(il_dci_notify_transaction_id(n), "t-9");
	assert_null(il_time_parse_ms("2025-01-31T09:00:00Z", 0, &want));
	assert_true(il_dci_notify_ts_ms(n) == want);
	assert_int_equal(il_dci_notify_count(n), 3);
	assert_int_equal(il_dci_notify_records_total(n), 3);

	recs = il_dci_records(n, 0, &kind, &ref, &ts);
	assert_non_null(recs);
	assert_int_equal(cJSON_GetArraySize(recs), 2);
	assert_int_equal(kind, IL_DCI_KIND_REGISTER);
	assert_string_equal(ref, "r-1");
	assert_true(ts == want);
	/* a record is the seed's openSPP body: the event module maps it */
	event = il_event_from_openspp(&ctx, cJSON_GetArrayItem(recs, 0), "PUSH", "p", errbuf, sizeof(errbuf));
	if (event == NULL)
		fail_msg("record refused: %s", errbuf);
	cJSON_Delete(event);

	recs = il_dci_records(n, 1, &kind, &ref, NULL);
	assert_int_equal(cJSON_GetArraySize(recs), 1);
	assert_int_equal(kind, IL_DCI_KIND_UPDATE);
	assert_string_equal(il_dci_kind_name(kind), "UPDATE");
	recs = il_dci_records(n, 2, &kind, NULL, NULL);
	assert_int_equal(cJSON_GetArraySize(recs), 0);
	assert_int_equal(kind, IL_DCI_KIND_UNSPECIFIED);
	assert_null(il_dci_records(n, 3, NULL, NULL, NULL));

	pos = il_dci_record_position(n, 0, 1);
	assert_string_equal(pos, "dci:openspp.example:m-1:r-1:1");
	free(pos);
	assert_null(il_dci_record_position(n, 2, 0));
	assert_null(il_dci_record_position(n, 5, 0));
	il_dci_notify_destroy(n);
	il_dci_notify_destroy(NULL);
	free(text);
}

static void
test_required(void **state)
{
	(void)state;
	expect_refusal("\"message_id\": \"m-1\",", "", IL_ERR_INVALID, "rjct.message_id.invalid",
	    "header.message_id: required");
	expect_refusal("\"message_ts\": \"2025-01-31T10:00:00+01:00\",", "", IL_ERR_INVALID,
	    "rjct.message_ts.invalid", "header.message_ts: required");
	expect_refusal("\"action\": \"notify\",", "", IL_ERR_INVALID, "rjct.action.invalid",
	    "header.action: required");
	expect_refusal("\"sender_id\": \"openspp.example\",", "", IL_ERR_INVALID, "err.sender_id.invalid",
	    "header.sender_id: required");
	expect_refusal("\"total_count\": 3,", "", IL_ERR_INVALID, "rjct.total_count.invalid",
	    "header.total_count: required");
	expect_refusal("\"transaction_id\": \"t-9\",", "", IL_ERR_INVALID, "rjct.transaction_id.invalid",
	    "message.transaction_id: required");
	expect_refusal("\"reference_id\": \"r-2\",", "", IL_ERR_INVALID, "rjct.reference_id.invalid",
	    "message.notify_event[1].reference_id: required");
	expect_refusal("\"timestamp\": \"2025-01-31T09:00:02Z\",", "", IL_ERR_INVALID, "rjct.timestamp.invalid",
	    "message.notify_event[2].timestamp: required");
	expect_refusal(",   \"data\": {\"reg_records\": []}", "", IL_ERR_INVALID, "rjct.notify_event.invalid",
	    "message.notify_event[2].data: required");
	expect_refusal("\"data\": {\"reg_records\": []}", "\"data\": {}", IL_ERR_INVALID,
	    "rjct.notify_event.invalid", "message.notify_event[2].data.reg_records: required");
	expect_refusal("\"notify_event\": [", "\"x\": [", IL_ERR_INVALID, "rjct.notify_event.invalid",
	    "message.notify_event: required");
	/* optional members may go */
	assert_int_equal(parse_edited("\"version\": \"1.0.0\", ", "", &(il_dci_error){ 0 }), IL_OK);
	assert_int_equal(parse_edited("\"is_msg_encrypted\": false", "\"x\": 1", &(il_dci_error){ 0 }), IL_OK);
}

static void
test_types(void **state)
{
	il_dci_error err;

	(void)state;
	expect_refusal("\"message_id\": \"m-1\"", "\"message_id\": 7", IL_ERR_INVALID,
	    "rjct.message_id.invalid", "header.message_id: expected a string, got a number");
	expect_refusal("\"message_id\": \"m-1\"", "\"message_id\": \"\"", IL_ERR_INVALID,
	    "rjct.message_id.invalid", "header.message_id: must not be empty");
	expect_refusal("\"total_count\": 3", "\"total_count\": \"3\"", IL_ERR_INVALID,
	    "rjct.total_count.invalid", "header.total_count: expected an integer, got a string");
	expect_refusal("\"total_count\": 3", "\"total_count\": 2.5", IL_ERR_INVALID,
	    "rjct.total_count.invalid", "header.total_count: expected an integer from 0 to 10^15, got 2.5");
	expect_refusal("\"total_count\": 3", "\"total_count\": -1", IL_ERR_INVALID,
	    "rjct.total_count.invalid", "expected an integer from 0");
	expect_refusal("\"is_msg_encrypted\": false", "\"is_msg_encrypted\": \"no\"", IL_ERR_INVALID,
	    "rjct.header.invalid", "header.is_msg_encrypted: expected a boolean, got a string");
	expect_refusal("\"receiver_id\": \"imislink\"", "\"receiver_id\": []", IL_ERR_INVALID,
	    "rjct.header.invalid", "header.receiver_id: expected a string, got an array");
	expect_refusal("\"notify_event\": [", "\"notify_event\": 5, \"y\": [", IL_ERR_INVALID,
	    "rjct.notify_event.invalid", "message.notify_event: expected an array, got a number");
	expect_refusal("\"data\": {\"reg_records\": []}", "\"data\": [1]", IL_ERR_INVALID,
	    "rjct.notify_event.invalid", "message.notify_event[2].data: expected an object, got an array");
	expect_refusal("\"reg_records\": []", "\"reg_records\": [1, {}]", IL_ERR_INVALID,
	    "rjct.notify_event.invalid", "message.notify_event[2].data.reg_records[0]: expected an object, got a number");
	expect_refusal("\"reg_records\": []", "\"reg_records\": {}", IL_ERR_INVALID,
	    "rjct.notify_event.invalid", "message.notify_event[2].data.reg_records: expected an array, got an object");
	expect_refusal("\"event_type\": \"UPDATE\"", "\"event_type\": \"MERGE\"", IL_ERR_INVALID,
	    "rjct.notify_event.invalid",
	    "message.notify_event[1].event_type: expected one of REGISTER, UPDATE, DELETE, LINK, UNLINK, got \"MERGE\"");
	expect_refusal("\"reference_id\": \"r-3\"", "\"reference_id\": \"r-1\"", IL_ERR_INVALID,
	    "rjct.reference_id.duplicate", "message.notify_event[2].reference_id: the same as message.notify_event[0]");
	expect_refusal("{\"reference_id\": \"r-3\"", "7, {\"reference_id\": \"r-4\"", IL_ERR_INVALID,
	    "rjct.total_count.invalid", "message.notify_event[2]: expected an object, got a number");

	/* every problem is listed, the first one names the code */
	assert_int_equal(parse_edited("\"message_id\": \"m-1\",  \"message_ts\": \"2025-01-31T10:00:00+01:00\"",
	    "\"message_id\": null, \"message_ts\": \"yesterday\"", &err), IL_ERR_INVALID);
	assert_int_equal(err.count, 2);
	assert_string_equal(err.code, "rjct.message_id.invalid");
	assert_non_null(strstr(err.message, "header.message_id: required\nheader.message_ts: expected ISO-8601"));
	assert_string_equal(err.message_id, "");
	assert_string_equal(err.sender_id, "openspp.example");
	assert_string_equal(err.transaction_id, "t-9");
}

static void
test_timestamps(void **state)
{
	(void)state;
	expect_refusal("2025-01-31T10:00:00+01:00", "2025-01-31T10:00:00", IL_ERR_INVALID,
	    "rjct.message_ts.invalid", "header.message_ts: expected ISO-8601 with a zone");
	expect_refusal("2025-01-31T10:00:00+01:00", "2025-02-30T10:00:00Z", IL_ERR_INVALID,
	    "rjct.message_ts.invalid", "got \"2025-02-30T10:00:00Z\": no such day");
	expect_refusal("\"2025-01-31T09:00:01.5Z\"", "1738314001500", IL_ERR_INVALID,
	    "rjct.timestamp.invalid", "message.notify_event[1].timestamp: expected a string, got a number");
	expect_refusal("2025-01-31T09:00:02Z", "31/01/2025", IL_ERR_INVALID,
	    "rjct.timestamp.invalid", "message.notify_event[2].timestamp: expected ISO-8601");
}

static void
test_action_version_count(void **state)
{
	(void)state;
	expect_refusal("\"action\": \"notify\"", "\"action\": \"search\"", IL_ERR_INVALID,
	    "rjct.action.invalid", "header.action: expected \"notify\", got \"search\"");
	expect_refusal("\"version\": \"1.0.0\", \"message_id\"", "\"version\": \"2.0.0\", \"message_id\"",
	    IL_ERR_INVALID, "rjct.version.invalid", "header.version: expected \"1.0.0\", got \"2.0.0\"");
	expect_refusal("\"version\": \"1.0.0\", \"message_id\"", "\"version\": 1, \"message_id\"",
	    IL_ERR_INVALID, "rjct.version.invalid", "header.version: expected a string, got a number");
	expect_refusal("\"total_count\": 3", "\"total_count\": 4", IL_ERR_INVALID,
	    "rjct.total_count.invalid", "header.total_count: 4, but message.notify_event holds 3 events");
	expect_refusal("\"is_msg_encrypted\": false", "\"is_msg_encrypted\": true", IL_ERR_INVALID,
	    "rjct.encryption.not_supported", "header.is_msg_encrypted: encrypted messages are not supported");
}

static void
expect_bad(const char *body, size_t len, const char *line)
{
	il_dci_notify *n = (il_dci_notify *)&n;
	il_dci_error err;

	assert_int_equal(il_dci_parse_notify(body, len, NULL, &n, &err), IL_ERR_DECODE);
	assert_null(n);
	assert_string_equal(err.code, "err.request.bad");
	if (strstr(err.message, line) == NULL)
		fail_msg("message lacks \"%s\": %s", line, err.message);
}

static void
test_transport(void **state)
{
	(void)state;
	expect_bad("", 0, "body: empty");
	expect_bad(NULL, 0, "body: empty");
	expect_bad("{\"header\": ", 11, "body: not JSON");
	expect_bad("not json", 8, "body: not JSON");
	expect_bad("[1, 2]", 6, "body: expected an object, got an array");
	expect_bad("\"x\"", 3, "body: expected an object, got a string");
	expect_bad("{} {}", 5, "body: text after the JSON value at byte 3");
	expect_bad("{\"a\": \"\xff\"}", 9, "body: not UTF-8 at byte 7");
	expect_bad("{\"a\": \"x\0y\"}", 11, "body: holds a NUL byte");
	expect_bad("{\"message\": {}}", 15, "header: required");
	expect_bad("{\"header\": {}}", 14, "message: required");
	expect_bad("{\"header\": 1, \"message\": null}", 30,
	    "header: expected an object, got a number\nmessage: expected an object, got null");
	/* a body cut by its length is refused even when the buffer goes on */
	expect_bad("{\"header\": {}, \"message\": {}}", 20, "body: not JSON");
	/* trailing white space is allowed */
	{
		char *text = valid_envelope();
		char *padded = il_xasprintf("%s \r\n\t", text);
		il_dci_notify *n = NULL;
		il_dci_error err;

		assert_int_equal(il_dci_parse_notify(padded, strlen(padded), NULL, &n, &err), IL_OK);
		il_dci_notify_destroy(n);
		free(padded);
		free(text);
	}
}

/* An envelope of @events events of @records records each. */
static char *
big_envelope(size_t events, size_t records)
{
	il_buf b;
	size_t i, j;

	il_buf_init(&b, 64 * 1024 * 1024);
	assert_int_equal(il_buf_printf(&b, "{\"header\": {\"message_id\": \"m\", \"message_ts\": "
	    "\"2025-01-31T10:00:00Z\", \"action\": \"notify\", \"sender_id\": \"s\", \"total_count\": %zu},"
	    " \"message\": {\"transaction_id\": \"t\", \"notify_event\": [", events), IL_OK);
	for (i = 0; i < events; i++) {
		assert_int_equal(il_buf_printf(&b, "%s{\"reference_id\": \"r%zu\", \"timestamp\": "
		    "\"2025-01-31T10:00:00Z\", \"data\": {\"reg_records\": [", i ? "," : "", i), IL_OK);
		for (j = 0; j < records; j++)
			assert_int_equal(il_buf_adds(&b, j ? ",{}" : "{}"), IL_OK);
		assert_int_equal(il_buf_adds(&b, "]}}"), IL_OK);
	}
	assert_int_equal(il_buf_adds(&b, "]}}"), IL_OK);
	return il_buf_take(&b);
}

static void
test_limits(void **state)
{
	il_dci_limits limits = { 10, 20 };
	il_dci_notify *n = NULL;
	il_dci_error err;
	char *text;
	cJSON *body;

	(void)state;
	text = big_envelope(10, 2);
	assert_int_equal(il_dci_parse_notify(text, strlen(text), &limits, &n, &err), IL_OK);
	assert_int_equal(il_dci_notify_count(n), 10);
	assert_int_equal(il_dci_notify_records_total(n), 20);
	il_dci_notify_destroy(n);
	free(text);

	text = big_envelope(11, 0);
	assert_int_equal(il_dci_parse_notify(text, strlen(text), &limits, &n, &err), IL_ERR_TOOBIG);
	assert_null(n);
	assert_string_equal(err.code, "rjct.total_count.limit_exceeded");
	assert_string_equal(err.message, "message.notify_event: 11 events, more than the limit of 10");
	free(text);

	text = big_envelope(3, 7);
	assert_int_equal(il_dci_parse_notify(text, strlen(text), &limits, &n, &err), IL_ERR_TOOBIG);
	assert_string_equal(err.code, "rjct.total_count.limit_exceeded");
	assert_int_equal(err.count, 1);
	assert_non_null(strstr(err.message, "message.notify_event[2].data.reg_records: more than the limit of 20"));
	free(text);

	/* the defaults: 1001 events are too many */
	text = big_envelope(IL_DCI_MAX_EVENTS_DEFAULT + 1, 0);
	assert_int_equal(il_dci_parse_notify(text, strlen(text), NULL, &n, &err), IL_ERR_TOOBIG);
	free(text);

	/* a huge total_count against a small array */
	text = big_envelope(2, 0);
	{
		char *at = strstr(text, "\"total_count\": 2");
		char *edited = il_xasprintf("%.*s\"total_count\": 1e300%s", (int)(at - text), text,
		    at + strlen("\"total_count\": 2"));

		assert_int_equal(il_dci_parse_notify(edited, strlen(edited), NULL, &n, &err), IL_ERR_INVALID);
		assert_string_equal(err.code, "rjct.total_count.invalid");
		free(edited);
	}
	free(text);

	/* every problem counted, the list bounded */
	text = big_envelope(100, 1);
	{
		il_buf b;
		char *p;

		/* make each reference_id a number */
		il_buf_init(&b, 64 * 1024 * 1024);
		for (p = text; *p != '\0'; p++) {
			if (strncmp(p, "\"reference_id\": \"r", 18) == 0) {
				assert_int_equal(il_buf_adds(&b, "\"reference_id\": 1, \"x\": \"r"), IL_OK);
				p += 17;
				continue;
			}
			assert_int_equal(il_buf_add(&b, p, 1), IL_OK);
		}
		free(text);
		text = il_buf_take(&b);
	}
	assert_int_equal(il_dci_parse_notify(text, strlen(text), NULL, &n, &err), IL_ERR_INVALID);
	assert_int_equal(err.count, 100);
	assert_non_null(strstr(err.message, "\n... and "));
	assert_true(strlen(err.message) < sizeof(err.message));
	body = il_dci_error_body(&err, "imislink", 0);
	assert_non_null(body);
	cJSON_Delete(body);
	free(text);
}

static void
test_seen(void **state)
{
	il_dci_seen *s = il_dci_seen_new(3);
	char id[16];
	int i;

	(void)state;
	assert_false(il_dci_seen_has(s, "a", "m-1"));
	il_dci_seen_add(s, "a", "m-1");
	assert_true(il_dci_seen_has(s, "a", "m-1"));
	/* the sender is part of the identity, unambiguously */
	assert_false(il_dci_seen_has(s, "b", "m-1"));
	assert_false(il_dci_seen_has(s, "a:m", "1"));
	il_dci_seen_add(s, "a", "m-1");         /* no-op */
	il_dci_seen_add(s, "a", "m-2");
	il_dci_seen_add(s, "a", "m-3");
	assert_true(il_dci_seen_has(s, "a", "m-1"));
	il_dci_seen_add(s, "a", "m-4");         /* forgets m-1 */
	assert_false(il_dci_seen_has(s, "a", "m-1"));
	assert_true(il_dci_seen_has(s, "a", "m-2"));
	assert_true(il_dci_seen_has(s, "a", "m-4"));
	for (i = 0; i < 1000; i++) {
		snprintf(id, sizeof(id), "x-%d", i);
		il_dci_seen_add(s, "a", id);
		assert_true(il_dci_seen_has(s, "a", id));
	}
	assert_false(il_dci_seen_has(s, "a", "x-996"));
	assert_true(il_dci_seen_has(s, "a", "x-997"));
	assert_true(il_dci_seen_has(s, "a", "x-999"));
	il_dci_seen_destroy(s);
	il_dci_seen_destroy(NULL);

	/* how a gateway uses it: the second delivery of an envelope is refused */
	{
		char *text = valid_envelope();
		il_dci_notify *n = NULL;
		il_dci_error err;
		cJSON *body;

		s = il_dci_seen_new(16);
		assert_int_equal(il_dci_parse_notify(text, strlen(text), NULL, &n, &err), IL_OK);
		assert_false(il_dci_seen_has(s, il_dci_notify_sender_id(n), il_dci_notify_message_id(n)));
		il_dci_seen_add(s, il_dci_notify_sender_id(n), il_dci_notify_message_id(n));
		il_dci_notify_destroy(n);
		assert_int_equal(il_dci_parse_notify(text, strlen(text), NULL, &n, &err), IL_OK);
		assert_true(il_dci_seen_has(s, il_dci_notify_sender_id(n), il_dci_notify_message_id(n)));
		il_dci_error_set(&err, "rjct.message_id.duplicate", "header.message_id: \"%s\" already received",
		    il_dci_notify_message_id(n));
		body = il_dci_error_body(&err, "imislink", 0);
		assert_string_equal(cJSON_GetObjectItem(cJSON_GetObjectItem(body, "header"),
		    "status_reason_code")->valuestring, "rjct.message_id.duplicate");
		assert_string_equal(cJSON_GetObjectItem(cJSON_GetObjectItem(body, "header"),
		    "status_reason_message")->valuestring, "header.message_id: \"m-1\" already received");
		cJSON_Delete(body);
		il_dci_notify_destroy(n);
		il_dci_seen_destroy(s);
		free(text);
	}
}

static const char *
member(const cJSON *obj, const char *name)
{
	const cJSON *v = cJSON_GetObjectItemCaseSensitive(obj, name);

	return cJSON_IsString(v) ? v->valuestring : NULL;
}

static double
number(const cJSON *obj, const char *name)
{
	const cJSON *v = cJSON_GetObjectItemCaseSensitive(obj, name);

	assert_true(cJSON_IsNumber(v));
	return v->valuedouble;
}

/* Prints @body and parses it back, as a client would. */
static cJSON *
round_trip(cJSON *body)
{
	char *text = cJSON_PrintUnformatted(body);
	cJSON *back = cJSON_Parse(text);

	assert_non_null(back);
	free(text);
	cJSON_Delete(body);
	return back;
}

static void
test_ack(void **state)
{
	il_dci_ack_info a;
	const cJSON *h, *m;
	cJSON *back, *back2;
	int64_t ms, now;
	il_dci_error err;

	(void)state;
	assert_null(il_time_parse_ms("2025-01-31T10:00:00.250Z", 0, &now));
	memset(&a, 0, sizeof(a));
	a.correlation_id = "m-1";
	a.transaction_id = "t-9";
	a.sender_id = "imislink";
	a.receiver_id = "openspp.example";
	a.status = IL_DCI_SUCC;
	a.total_count = 3;
	a.completed_count = 3;
	a.now_ms = now;
	back = round_trip(il_dci_ack(&a));
	assert_true(cJSON_IsNull(cJSON_GetObjectItem(back, "signature")));
	h = cJSON_GetObjectItem(back, "header");
	m = cJSON_GetObjectItem(back, "message");
	assert_string_equal(member(h, "version"), "1.0.0");
	assert_string_equal(member(h, "action"), "on-notify");
	assert_string_equal(member(h, "status"), "succ");
	assert_string_equal(member(h, "message_ts"), "2025-01-31T10:00:00.250Z");
	assert_null(il_time_parse_ms(member(h, "message_ts"), 0, &ms));
	assert_true(ms == now);
	assert_true(number(h, "total_count") == 3);
	assert_true(number(h, "completed_count") == 3);
	assert_string_equal(member(h, "sender_id"), "imislink");
	assert_string_equal(member(h, "receiver_id"), "openspp.example");
	assert_true(cJSON_IsFalse(cJSON_GetObjectItem(h, "is_msg_encrypted")));
	assert_null(cJSON_GetObjectItem(h, "status_reason_code"));
	/* a new message id of its own: a random UUID, different each time */
	assert_int_equal(strlen(member(h, "message_id")), 36);
	assert_int_equal(member(h, "message_id")[14], '4');
	assert_string_equal(member(m, "correlation_id"), "m-1");
	assert_string_equal(member(m, "transaction_id"), "t-9");
	assert_string_equal(member(m, "ack_status"), "ACK");
	/* SPDCI's acknowledgement requires its timestamp; no error when accepted */
	assert_string_equal(member(m, "timestamp"), "2025-01-31T10:00:00.250Z");
	assert_null(cJSON_GetObjectItem(m, "error"));
	back2 = round_trip(il_dci_ack(&a));
	assert_string_not_equal(member(h, "message_id"),
	    member(cJSON_GetObjectItem(back2, "header"), "message_id"));
	cJSON_Delete(back2);
	cJSON_Delete(back);

	a.message_id = "ack-1";
	a.status = IL_DCI_RCVD;
	a.receiver_id = NULL;
	a.correlation_id = NULL;
	back = round_trip(il_dci_ack(&a));
	h = cJSON_GetObjectItem(back, "header");
	assert_string_equal(member(h, "message_id"), "ack-1");
	assert_string_equal(member(h, "status"), "rcvd");
	assert_null(cJSON_GetObjectItem(h, "receiver_id"));
	/* the acknowledgement requires a correlation_id: the answer's own id */
	assert_string_equal(member(cJSON_GetObjectItem(back, "message"), "correlation_id"), "ack-1");
	cJSON_Delete(back);

	/* the rjct answer to a refused envelope echoes what was readable */
	assert_int_equal(parse_edited("\"action\": \"notify\"", "\"action\": \"search\"", &err), IL_ERR_INVALID);
	back = round_trip(il_dci_error_body(&err, "imislink", now));
	h = cJSON_GetObjectItem(back, "header");
	m = cJSON_GetObjectItem(back, "message");
	assert_string_equal(member(h, "status"), "rjct");
	assert_string_equal(member(h, "status_reason_code"), "rjct.action.invalid");
	assert_string_equal(member(h, "status_reason_message"),
	    "header.action: expected \"notify\", got \"search\"");
	assert_string_equal(member(h, "receiver_id"), "openspp.example");
	assert_string_equal(member(h, "sender_id"), "imislink");
	assert_string_equal(member(m, "correlation_id"), "m-1");
	assert_string_equal(member(m, "transaction_id"), "t-9");
	/* a refusal is ERR with an error object; its code is SPDCI's err.*,
	 * the rjct.* reason stays in the header */
	assert_string_equal(member(m, "ack_status"), "ERR");
	assert_string_equal(member(cJSON_GetObjectItem(m, "error"), "code"), "err.request.bad");
	assert_string_equal(member(cJSON_GetObjectItem(m, "error"), "message"),
	    "header.action: expected \"notify\", got \"search\"");
	assert_string_equal(member(m, "timestamp"), "2025-01-31T10:00:00.250Z");
	assert_true(number(h, "completed_count") == 0);
	cJSON_Delete(back);

	/* error.message and status_reason_message are cut to SPDCI's maxLength
	 * of 999, on a character */
	{
		il_dci_error big;
		size_t i;

		memset(&big, 0, sizeof(big));
		for (i = 0; i + 2 < 1500; i += 2)
			memcpy(big.message + i, "\xc3\xa9", 2);
		snprintf(big.code, sizeof(big.code), "rjct.notify_event.invalid");
		back = round_trip(il_dci_error_body(&big, "imislink", now));
		m = cJSON_GetObjectItem(back, "message");
		assert_true(strlen(member(cJSON_GetObjectItem(m, "error"), "message")) <= IL_DCI_ERROR_MESSAGE_MAX);
		assert_non_null(strstr(member(cJSON_GetObjectItem(m, "error"), "message"), "\xc3\xa9..."));
		h = cJSON_GetObjectItem(back, "header");
		assert_string_equal(member(h, "status_reason_message"),
		    member(cJSON_GetObjectItem(m, "error"), "message"));
		cJSON_Delete(back);
	}

	/* and an err.* answer, with nothing readable to echo */
	{
		il_dci_notify *n = NULL;

		assert_int_equal(il_dci_parse_notify("nope", 4, NULL, &n, &err), IL_ERR_DECODE);
	}
	back = round_trip(il_dci_error_body(&err, "imislink", now));
	h = cJSON_GetObjectItem(back, "header");
	m = cJSON_GetObjectItem(back, "message");
	assert_string_equal(member(h, "status_reason_code"), "err.request.bad");
	assert_string_equal(member(m, "ack_status"), "ERR");
	assert_string_equal(member(cJSON_GetObjectItem(m, "error"), "code"), "err.request.bad");
	assert_null(cJSON_GetObjectItem(h, "receiver_id"));
	assert_string_equal(member(m, "correlation_id"), member(h, "message_id"));
	cJSON_Delete(back);

	assert_string_equal(il_dci_status_name(IL_DCI_PDNG), "pdng");
	assert_string_equal(il_dci_kind_name((il_dci_kind)99), "UNSPECIFIED");
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_valid),
		cmocka_unit_test(test_required),
		cmocka_unit_test(test_types),
		cmocka_unit_test(test_timestamps),
		cmocka_unit_test(test_action_version_count),
		cmocka_unit_test(test_transport),
		cmocka_unit_test(test_limits),
		cmocka_unit_test(test_seen),
		cmocka_unit_test(test_ack),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
