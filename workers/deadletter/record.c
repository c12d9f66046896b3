/*
 * record.c - a dead-letter or results message as a row of the audit store
 * (see record.h).
 */
#include <errno.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <openssl/evp.h>

#include "avro.h"
#include "buf.h"
#include "dlq.h"
#include "record.h"
#include "text.h"
#include "timefmt.h"
#include "xalloc.h"

/* Longer than this, a header is no error class. */
#define R_CLASS_MAX 64
/* Digits of a header holding a number ("-9223372036854775808"). */
#define R_NUMBER_MAX 32
/* Headers as JSON larger than this are not kept (Kafka's own limit is lower). */
#define R_HEADERS_MAX (64u << 20)

/* Keeps @p s until the record is cleared; @returns it. */
static char *
own(il_dlrecord *rec, char *s)
{
	if (rec->nowned == IL_DLRECORD_MAX_OWNED)
		abort();        /* a bug: the conversion keeps fewer */
	rec->owned[rec->nowned++] = s;
	return s;
}

static bool
is_text(const void *data, size_t len)
{
	return data != NULL && memchr(data, '\0', len) == NULL && il_text_utf8_valid(data, len, NULL);
}

/* @returns the last header @p name as text the record owns; NULL when absent, empty or not text. */
static const char *
header_text(il_dlrecord *rec, const rd_kafka_headers_t *hdrs, const char *name)
{
	const void *val = NULL;
	size_t size = 0;

	if (hdrs == NULL || rd_kafka_header_get_last(hdrs, name, &val, &size) != RD_KAFKA_RESP_ERR_NO_ERROR)
		return NULL;
	if (size == 0 || !is_text(val, size))
		return NULL;
	return own(rec, il_xstrndup(val, size));
}

/* Copies the last header @p name into @p text as a string; @returns false
 * when it is absent, empty or longer than @p textsz allows. */
static bool
header_copy(const rd_kafka_headers_t *hdrs, const char *name, char *text, size_t textsz)
{
	const void *val = NULL;
	size_t size = 0;

	if (hdrs == NULL || rd_kafka_header_get_last(hdrs, name, &val, &size) != RD_KAFKA_RESP_ERR_NO_ERROR)
		return false;
	if (val == NULL || size == 0 || size >= textsz)
		return false;
	memcpy(text, val, size);
	text[size] = '\0';
	return true;
}

/* @returns the last header @p name as an integer in [min, max]; -1 when absent or not one. */
static long long
header_int(const rd_kafka_headers_t *hdrs, const char *name, long long min, long long max)
{
	char text[R_NUMBER_MAX], *end;
	long long v;

	if (!header_copy(hdrs, name, text, sizeof(text)))
		return -1;
	errno = 0;
	v = strtoll(text, &end, 10);
	if (errno != 0 || end == text || *end != '\0' || v < min || v > max)
		return -1;
	return v;
}

/* @returns the last header @p name as epoch milliseconds; -1 when absent or not a time. */
static long long
header_time(const rd_kafka_headers_t *hdrs, const char *name)
{
	char text[64];
	int64_t ms;

	if (!header_copy(hdrs, name, text, sizeof(text)))
		return -1;
	if (il_time_parse_ms(text, IL_TIME_LENIENT | IL_TIME_MILLIS, &ms) != NULL || ms < 0)
		return -1;
	return (long long)ms;
}

/* Appends @p len bytes of text as the body of a JSON string, escaped. */
static il_err
add_json_text(il_buf *b, const char *s, size_t len)
{
	size_t i, run = 0;
	char esc[8];
	il_err err = IL_OK;

	for (i = 0; i < len && err == IL_OK; i++) {
		unsigned char c = (unsigned char)s[i];

		if (c >= 0x20 && c != '"' && c != '\\')
			continue;
		/* the plain run before it, then the escape */
		err = il_buf_add(b, s + run, i - run);
		if (err == IL_OK) {
			snprintf(esc, sizeof(esc), c == '"' || c == '\\' ? "\\%c" : "\\u%04x", c);
			err = il_buf_adds(b, esc);
		}
		run = i + 1;
	}
	if (err == IL_OK)
		err = il_buf_add(b, s + run, len - run);
	return err;
}

/*
 * Every header in order as 0001_init.sql describes: [{"name": ..., "value":
 * text or null}, or {"name": ..., "base64": ...} for bytes that are not
 * text].  Written directly: a tree of cJSON objects per message cost more
 * than all the rest of the conversion.  @returns the JSON text (the caller
 * owns it); "[]" in the absurd case of headers over R_HEADERS_MAX.
 */
static char *
headers_json(const rd_kafka_headers_t *hdrs)
{
	const char *name;
	const void *val;
	size_t size, i;
	il_buf b;
	il_err err;

	il_buf_init(&b, R_HEADERS_MAX);
	err = il_buf_adds(&b, "[");
	for (i = 0; err == IL_OK && hdrs != NULL && rd_kafka_header_get_all(hdrs, i, &name, &val, &size) ==
	    RD_KAFKA_RESP_ERR_NO_ERROR; i++) {
		err = il_buf_adds(&b, i == 0 ? "{\"name\":\"" : ",{\"name\":\"");
		if (err == IL_OK)
			err = add_json_text(&b, name, strlen(name));
		if (err != IL_OK)
			break;
		if (val == NULL) {
			err = il_buf_adds(&b, "\",\"value\":null}");
		} else if (is_text(val, size)) {
			err = il_buf_adds(&b, "\",\"value\":\"");
			if (err == IL_OK)
				err = add_json_text(&b, val, size);
			if (err == IL_OK)
				err = il_buf_adds(&b, "\"}");
		} else {
			unsigned char *b64 = il_xmalloc(4 * ((size + 2) / 3) + 1);

			EVP_EncodeBlock(b64, val, (int)size);
			err = il_buf_adds(&b, "\",\"base64\":\"");
			if (err == IL_OK)
				err = il_buf_adds(&b, (const char *)b64);
			if (err == IL_OK)
				err = il_buf_adds(&b, "\"}");
			free(b64);
		}
	}
	if (err == IL_OK)
		err = il_buf_adds(&b, "]");
	if (err != IL_OK) {
		il_buf_reset(&b);
		if (il_buf_adds(&b, "[]") != IL_OK)
			abort();
	}
	return il_buf_take(&b);
}

static const char *
json_string(const cJSON *o, const char *name)
{
	const cJSON *j = cJSON_GetObjectItemCaseSensitive(o, name);

	return cJSON_IsString(j) ? j->valuestring : NULL;
}

/* @returns member @p name as an integer; -1 when null, absent or no integer. */
static long long
json_int(const cJSON *o, const char *name)
{
	const cJSON *j = cJSON_GetObjectItemCaseSensitive(o, name);
	char *end;
	long long v;

	if (cJSON_IsNumber(j))
		return j->valuedouble >= 0 && j->valuedouble < 9.2e18 ? (long long)j->valuedouble : -1;
	if (cJSON_IsRaw(j) && j->valuestring != NULL) {
		/* a long beyond 2^53 (avro.h) */
		errno = 0;
		v = strtoll(j->valuestring, &end, 10);
		return errno == 0 && end != j->valuestring && *end == '\0' && v >= 0 ? v : -1;
	}
	return -1;
}

static long long
json_time(const cJSON *o, const char *name)
{
	const cJSON *j = cJSON_GetObjectItemCaseSensitive(o, name);
	int64_t ms;

	if (cJSON_IsString(j) && il_time_parse_ms(j->valuestring, IL_TIME_LENIENT | IL_TIME_MILLIS, &ms) == NULL)
		return ms;
	return json_int(o, name);
}

/* Fills rec->res from the decoded EnrollmentResult; @returns false with the reason when it is none. */
static bool
result_fill(il_dlrecord *rec, const il_dlrecord_msg *m, const il_schema *writer, char *why, size_t whysz)
{
	il_audit_result *r = &rec->res;
	const cJSON *o = rec->json, *refs;
	char stamp[IL_TIME_LEN];
	long long v;

	if (writer == NULL || strcmp(il_schema_name(writer), "EnrollmentResult") != 0) {
		snprintf(why, whysz, "written with schema \"%s\"",
		    writer != NULL ? il_schema_fullname(writer) : "unknown");
		return false;
	}
	r->topic = m->topic;
	r->partition = m->partition;
	r->offset = m->offset;
	r->event_id = json_string(o, "event_id");
	r->event_key = json_string(o, "key");
	r->outcome = json_string(o, "outcome");
	r->worker_id = json_string(o, "worker_id");
	r->processed_at_ms = json_time(o, "processed_at");
	if (r->event_id == NULL || r->event_key == NULL || r->outcome == NULL || r->worker_id == NULL ||
	    r->processed_at_ms < 0) {
		snprintf(why, whysz, "event_id, key, outcome, worker_id or processed_at missing");
		return false;
	}
	/* processed_at is NOT NULL in the store, which takes the years
	 * 0001..9999 only (audit.c): such a row would be refused, and with it
	 * the whole batch; as a dead letter the message is kept whole. */
	if (!il_time_format_ms(r->processed_at_ms, stamp)) {
		snprintf(why, whysz, "processed_at %lld ms lies outside the years 0001 to 9999",
		    (long long)r->processed_at_ms);
		return false;
	}
	r->target = json_string(o, "target");
	r->programme_id = json_int(o, "programme_id");
	refs = cJSON_GetObjectItemCaseSensitive(o, "openimis");
	r->insuree_uuid = json_string(refs, "insuree_uuid");
	r->chf_id = json_string(refs, "chf_id");
	r->family_uuid = json_string(refs, "family_uuid");
	r->policy_uuid = json_string(refs, "policy_uuid");
	r->individual_uuid = json_string(refs, "individual_uuid");
	r->beneficiary_uuid = json_string(refs, "beneficiary_uuid");
	v = json_int(o, "attempts");
	r->attempts = v >= 0 && v <= INT_MAX ? (int)v : 0;
	v = json_int(o, "duration_ms");
	r->duration_ms = v >= 0 ? v : 0;
	r->error_class = json_string(o, "error_class");
	r->error_message = json_string(o, "error_message");
	r->source_topic = json_string(o, "source_topic");
	v = json_int(o, "source_partition");
	r->source_partition = v >= 0 && v <= INT32_MAX ? (int32_t)v : -1;
	r->source_offset = json_int(o, "source_offset");
	rec->kind = IL_DLRECORD_RESULT;
	return true;
}

/*
 * Fills rec->dl.  @p reason says why the value did not decode (NULL when it
 * did); @p from_results: the message came from the results topic.
 */
static void
dead_letter_fill(il_dlrecord *rec, const il_dlrecord_msg *m, bool from_results, const char *reason)
{
	il_audit_dead_letter *d = &rec->dl;
	/* Dead-letter headers on the results topic say nothing of this message. */
	const rd_kafka_headers_t *h = from_results ? NULL : m->headers;
	const cJSON *prog;
	const char *cls;

	rec->kind = IL_DLRECORD_DEAD_LETTER;
	d->topic = m->topic;
	d->partition = m->partition;
	d->offset = m->offset;
	d->timestamp_ms = m->timestamp_ms;
	d->key = rec->key;
	d->keylen = m->keylen;
	d->value = rec->value;
	d->vallen = m->vallen;
	d->headers_json = own(rec, headers_json(m->headers));
	d->source_topic = header_text(rec, h, IL_DLQ_H_TOPIC);
	d->source_partition = (int32_t)header_int(h, IL_DLQ_H_PARTITION, 0, INT32_MAX);
	d->source_offset = header_int(h, IL_DLQ_H_OFFSET, 0, INT64_MAX);
	cls = header_text(rec, h, IL_DLQ_H_ERR_CLASS);
	d->error_class = cls != NULL && strlen(cls) <= R_CLASS_MAX ? cls : "undecodable";
	d->error_stage = header_text(rec, h, IL_DLQ_H_STAGE);
	d->error_message = header_text(rec, h, IL_DLQ_H_EXC_MSG);
	if (d->error_stage == NULL && reason != NULL)
		d->error_stage = "VALUE_CONVERTER";
	if (d->error_message == NULL && reason != NULL)
		d->error_message = own(rec, il_xasprintf("%s: %s", from_results ?
		    "a message of the results topic that is no EnrollmentResult" : "the value does not decode",
		    reason));
	else if (d->error_message == NULL && cls == NULL)
		d->error_message = "no dead-letter headers (" IL_DLQ_H_ERR_CLASS ")";
	d->attempts = (int)header_int(h, IL_DLQ_H_ATTEMPTS, 0, INT_MAX);
	d->first_failure_ms = header_time(h, IL_DLQ_H_FIRST);
	d->last_failure_ms = header_time(h, IL_DLQ_H_LAST);
	d->event_id = header_text(rec, h, IL_DLQ_H_EVENT_ID);
	if (d->event_id == NULL && rec->json != NULL && json_string(rec->json, "event_id") != NULL)
		d->event_id = own(rec, il_xstrdup(json_string(rec->json, "event_id")));
	/* The key is an ID value as text; a key that is not text is no event key. */
	if (rec->key != NULL && is_text(rec->key, m->keylen))
		d->event_key = own(rec, il_xstrndup(rec->key, m->keylen));
	d->programme_id = -1;
	prog = rec->json != NULL ? cJSON_GetObjectItemCaseSensitive(rec->json, "programme") : NULL;
	if (prog != NULL)
		d->programme_id = json_int(prog, "id");
	if (rec->json != NULL) {
		char *text = cJSON_PrintUnformatted(rec->json);

		if (text == NULL)
			abort();
		d->decoded_json = own(rec, text);
		/* The row needs the text only: the tree goes now rather than
		 * with the batch, which keeps a batch's memory small. */
		cJSON_Delete(rec->json);
		rec->json = NULL;
	}
}

void
il_dlrecord_msg_of(const rd_kafka_message_t *msg, il_dlrecord_msg *out)
{
	rd_kafka_timestamp_type_t tstype;
	rd_kafka_headers_t *hdrs = NULL;
	int64_t ts;

	memset(out, 0, sizeof(*out));
	out->topic = rd_kafka_topic_name(msg->rkt);
	out->partition = msg->partition;
	out->offset = msg->offset;
	ts = rd_kafka_message_timestamp(msg, &tstype);
	out->timestamp_ms = tstype != RD_KAFKA_TIMESTAMP_NOT_AVAILABLE && ts >= 0 ? ts : -1;
	out->key = msg->key;
	out->keylen = msg->key != NULL ? msg->key_len : 0;
	out->value = msg->payload;
	out->vallen = msg->payload != NULL ? msg->len : 0;
	if (rd_kafka_message_headers(msg, &hdrs) == RD_KAFKA_RESP_ERR_NO_ERROR)
		out->headers = hdrs;
}

/* The row keeps the message's bytes: copies, since the message goes. */
static void
copy_bytes(il_dlrecord *rec, const il_dlrecord_msg *m)
{
	if (m->key != NULL) {
		rec->key = il_xmalloc(m->keylen + 1);
		memcpy(rec->key, m->key, m->keylen);
	}
	if (m->value != NULL) {
		rec->value = il_xmalloc(m->vallen + 1);
		memcpy(rec->value, m->value, m->vallen);
	}
}

il_err
il_dlrecord_convert(il_dlrecord *rec, const il_dlrecord_msg *m, bool is_result, il_serde *sd,
    char *errbuf, size_t errsz)
{
	const il_schema *writer = NULL;
	char reason[512];
	bool decoded = false;
	il_err err;

	memset(rec, 0, sizeof(*rec));
	reason[0] = '\0';
	if (m->value == NULL) {
		snprintf(reason, sizeof(reason), "no value (a tombstone)");
	} else {
		err = il_serde_decode(sd, m->value, m->vallen, &rec->json, &writer, reason, sizeof(reason));
		if (err == IL_ERR_TRANSIENT || err == IL_ERR_CONFIG) {
			il_err_setf(errbuf, errsz, "%s", reason);
			il_dlrecord_clear(rec);
			return err;
		}
		decoded = err == IL_OK;
		if (!decoded && reason[0] == '\0')
			snprintf(reason, sizeof(reason), "%s", il_err_str(err));
	}
	copy_bytes(rec, m);
	if (is_result && decoded && result_fill(rec, m, writer, reason, sizeof(reason)))
		return IL_OK;
	rec->undecodable = !decoded || is_result;
	dead_letter_fill(rec, m, is_result, rec->undecodable ? reason : NULL);
	return IL_OK;
}

void
il_dlrecord_refused(il_dlrecord *rec, const il_dlrecord_msg *m, bool is_result, const char *reason)
{
	il_audit_dead_letter *d = &rec->dl;

	memset(rec, 0, sizeof(*rec));
	copy_bytes(rec, m);
	/* Nothing decoded: whatever the store refused was made from it. */
	dead_letter_fill(rec, m, is_result, NULL);
	rec->undecodable = true;
	d->error_class = "undecodable";
	/* Connect's stage for a sink's write. */
	d->error_stage = "TASK_PUT";
	d->error_message = own(rec, il_xasprintf("the audit store refused the row: %s", reason));
}

void
il_dlrecord_clear(il_dlrecord *rec)
{
	size_t i;

	if (rec == NULL)
		return;
	for (i = 0; i < rec->nowned; i++)
		free(rec->owned[i]);
	cJSON_Delete(rec->json);
	free(rec->key);
	free(rec->value);
	memset(rec, 0, sizeof(*rec));
}
