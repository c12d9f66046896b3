/*
 * dci.c - the SPDCI notify envelope: validation, its records, the answers.
 */
#include "dci.h"

#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include <openssl/rand.h>

#include "text.h"
#include "timefmt.h"
#include "xalloc.h"

/* total_count above this cannot be a count of anything we accept */
#define TOTAL_COUNT_MAX 1e15

#define CODE_BAD "err.request.bad"
#define CODE_LIMIT "rjct.total_count.limit_exceeded"
#define CODE_EVENT "rjct.notify_event.invalid"
#define CODE_HEADER "rjct.header.invalid"

typedef struct dci_event {
	const cJSON *records;           /* data.reg_records, inside the tree */
	const char *reference_id;       /* inside the tree */
	int64_t ts_ms;                  /* timestamp */
	il_dci_kind kind;               /* from reg_event_type / event_type */
} dci_event;

struct il_dci_notify {
	cJSON *root;                    /* owned: the whole envelope */
	const char *message_id;         /* header members, inside root */
	const char *sender_id;
	const char *receiver_id;        /* NULL when absent */
	const char *transaction_id;     /* message.transaction_id */
	int64_t ts_ms;                  /* header.message_ts */
	dci_event *events;              /* owned, nevents entries */
	size_t nevents;
	size_t nrecords;                /* reg_records over all events */
};

static const char *const kind_names[] = {
	"UNSPECIFIED", "REGISTER", "UPDATE", "DELETE", "LINK", "UNLINK",
};

const char *
il_dci_kind_name(il_dci_kind kind)
{
	if ((unsigned)kind >= sizeof(kind_names) / sizeof(kind_names[0]))
		return "UNSPECIFIED";
	return kind_names[kind];
}

const char *
il_dci_status_name(il_dci_status status)
{
	switch (status) {
	case IL_DCI_RCVD:
		return "rcvd";
	case IL_DCI_PDNG:
		return "pdng";
	case IL_DCI_SUCC:
		return "succ";
	case IL_DCI_RJCT:
		break;
	}
	return "rjct";
}

static void
copy_bounded(char *dst, size_t dstsz, const char *src)
{
	size_t n = strlen(src);

	if (n >= dstsz)
		n = dstsz - 1;
	memcpy(dst, src, n);
	dst[n] = '\0';
}

/* Ends @s at or before byte @at where a UTF-8 character starts, so a cut never splits one. */
static void
cut_utf8(char *s, size_t at)
{
	while (at > 0 && ((unsigned char)s[at] & 0xc0) == 0x80)
		at--;
	s[at] = '\0';
}

/* Appends to err->message without ever overflowing it; a cut message ends in "...". */
static void
message_vappend(il_dci_error *err, const char *fmt, va_list ap)
{
	size_t used = strlen(err->message);
	size_t room = sizeof(err->message) - used;
	int n;

	if (room <= 1)
		return;
	n = vsnprintf(err->message + used, room, fmt, ap);
	if (n >= 0 && (size_t)n >= room) {
		cut_utf8(err->message, sizeof(err->message) - 4);
		used = strlen(err->message);
		memcpy(err->message + used, "...", 4);
	}
}

__attribute__((format(printf, 2, 3)))
static void
message_append(il_dci_error *err, const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	message_vappend(err, fmt, ap);
	va_end(ap);
}

/* Records one problem: the first one found names the answer's code. */
__attribute__((format(printf, 3, 4)))
static void
problem(il_dci_error *err, const char *code, const char *fmt, ...)
{
	va_list ap;

	if (err->count == 0)
		copy_bounded(err->code, sizeof(err->code), code);
	err->count++;
	if (err->count > IL_DCI_PROBLEMS_LISTED)
		return;
	if (err->count > 1)
		message_append(err, "\n");
	va_start(ap, fmt);
	message_vappend(err, fmt, ap);
	va_end(ap);
}

void
il_dci_error_set(il_dci_error *err, const char *code, const char *fmt, ...)
{
	va_list ap;

	copy_bounded(err->code, sizeof(err->code), code);
	err->message[0] = '\0';
	err->count = 1;
	va_start(ap, fmt);
	message_vappend(err, fmt, ap);
	va_end(ap);
}

/* Ends the message with the count of problems not listed, making room for it. */
static void
finish_message(il_dci_error *err)
{
	char more[40];
	size_t len, mlen;

	if (err->count <= IL_DCI_PROBLEMS_LISTED)
		return;
	snprintf(more, sizeof(more), "\n... and %u more", err->count - IL_DCI_PROBLEMS_LISTED);
	mlen = strlen(more);
	len = strlen(err->message);
	if (len + mlen >= sizeof(err->message))
		cut_utf8(err->message, sizeof(err->message) - 1 - mlen);
	len = strlen(err->message);
	memcpy(err->message + len, more, mlen + 1);
}

static bool
absent(const cJSON *v)
{
	return v == NULL || cJSON_IsNull(v);
}

/*
 * Reads member @name of @obj (at @path) as a string: required ones must be
 * present and non-empty.  @returns the string, or NULL after recording why.
 */
static const char *
get_string(il_dci_error *err, const cJSON *obj, const char *path, const char *name,
    const char *code, bool required)
{
	const cJSON *v = cJSON_GetObjectItemCaseSensitive(obj, name);

	if (absent(v)) {
		if (required)
			problem(err, code, "%s.%s: required", path, name);
		return NULL;
	}
	if (!cJSON_IsString(v) || v->valuestring == NULL) {
		problem(err, code, "%s.%s: expected a string, got %s", path, name,
		    il_text_json_kind(v, true));
		return NULL;
	}
	if (required && v->valuestring[0] == '\0') {
		problem(err, code, "%s.%s: must not be empty", path, name);
		return NULL;
	}
	return v->valuestring;
}

/* Reads a required ISO-8601 time with a zone; @returns false after recording why. */
static bool
get_time(il_dci_error *err, const cJSON *obj, const char *path, const char *name,
    const char *code, int64_t *ms)
{
	const char *s = get_string(err, obj, path, name, code, true);
	const char *why;

	if (s == NULL)
		return false;
	why = il_time_parse_ms(s, 0, ms);
	if (why == NULL)
		return true;
	problem(err, code, "%s.%s: expected ISO-8601 with a zone such as "
	    "\"2025-01-31T10:00:00Z\", got \"%.40s\"%s%s", path, name, s,
	    why[0] != '\0' ? ": " : "", why);
	return false;
}

/* Copies a readable echo (a short string) of the request for the answer. */
static void
echo(char *dst, size_t dstsz, const cJSON *obj, const char *name)
{
	const cJSON *v = cJSON_GetObjectItemCaseSensitive(obj, name);

	if (cJSON_IsString(v) && v->valuestring != NULL && strlen(v->valuestring) < dstsz)
		copy_bounded(dst, dstsz, v->valuestring);
}

/* Reads an event type; @returns false after recording an unknown one. */
static bool
read_kind(il_dci_error *err, const cJSON *obj, const char *path, const char *name,
    const char *code, il_dci_kind *kind)
{
	const cJSON *v = cJSON_GetObjectItemCaseSensitive(obj, name);
	size_t k;

	if (absent(v))
		return true;
	if (!cJSON_IsString(v) || v->valuestring == NULL) {
		problem(err, code,
		    "%s.%s: expected a string, got %s", path, name, il_text_json_kind(v, true));
		return false;
	}
	for (k = 1; k < sizeof(kind_names) / sizeof(kind_names[0]); k++) {
		if (strcasecmp(v->valuestring, kind_names[k]) == 0) {
			*kind = (il_dci_kind)k;
			return true;
		}
	}
	problem(err, code,
	    "%s.%s: expected one of REGISTER, UPDATE, DELETE, LINK, UNLINK, got \"%.40s\"",
	    path, name, v->valuestring);
	return false;
}

static void
check_header(il_dci_notify *n, const cJSON *header, il_dci_error *err, double *total_count,
    il_dci_kind *header_kind)
{
	const cJSON *v;
	const char *s;

	*total_count = -1;
	n->message_id = get_string(err, header, "header", "message_id", "rjct.message_id.invalid", true);
	get_time(err, header, "header", "message_ts", "rjct.message_ts.invalid", &n->ts_ms);
	s = get_string(err, header, "header", "action", "rjct.action.invalid", true);
	if (s != NULL && strcmp(s, "notify") != 0)
		problem(err, "rjct.action.invalid", "header.action: expected \"notify\", got \"%.40s\"", s);
	n->sender_id = get_string(err, header, "header", "sender_id", "err.sender_id.invalid", true);

	v = cJSON_GetObjectItemCaseSensitive(header, "total_count");
	if (absent(v)) {
		problem(err, "rjct.total_count.invalid", "header.total_count: required");
	} else if (!cJSON_IsNumber(v)) {
		problem(err, "rjct.total_count.invalid", "header.total_count: expected an integer, got %s",
		    il_text_json_kind(v, true));
	} else if (v->valuedouble < 0 || v->valuedouble > TOTAL_COUNT_MAX ||
	    floor(v->valuedouble) != v->valuedouble) {
		problem(err, "rjct.total_count.invalid",
		    "header.total_count: expected an integer from 0 to 10^15, got %g", v->valuedouble);
	} else {
		*total_count = v->valuedouble;
	}

	v = cJSON_GetObjectItemCaseSensitive(header, "version");
	if (!absent(v)) {
		if (!cJSON_IsString(v) || v->valuestring == NULL)
			problem(err, "rjct.version.invalid", "header.version: expected a string, got %s",
			    il_text_json_kind(v, true));
		else if (strcmp(v->valuestring, IL_DCI_VERSION) != 0)
			problem(err, "rjct.version.invalid", "header.version: expected \"%s\", got \"%.40s\"",
			    IL_DCI_VERSION, v->valuestring);
	}
	get_string(err, header, "header", "sender_uri", CODE_HEADER, false);
	n->receiver_id = get_string(err, header, "header", "receiver_id", CODE_HEADER, false);

	v = cJSON_GetObjectItemCaseSensitive(header, "is_msg_encrypted");
	if (!absent(v)) {
		if (!cJSON_IsBool(v))
			problem(err, CODE_HEADER, "header.is_msg_encrypted: expected a boolean, got %s",
			    il_text_json_kind(v, true));
		else if (cJSON_IsTrue(v))
			problem(err, "rjct.encryption.not_supported",
			    "header.is_msg_encrypted: encrypted messages are not supported");
	}
	read_kind(err, header, "header", "event_type", CODE_HEADER, header_kind);
}

static void
check_event(il_dci_notify *n, size_t i, const cJSON *ev, il_dci_kind header_kind,
    size_t max_records, il_dci_error *err)
{
	dci_event *e = &n->events[i];
	const cJSON *data, *recs, *rec;
	char path[64], dpath[80];
	size_t j, k;

	snprintf(path, sizeof(path), "message.notify_event[%zu]", i);
	if (!cJSON_IsObject(ev)) {
		problem(err, CODE_EVENT, "%s: expected an object, got %s", path, il_text_json_kind(ev, true));
		return;
	}
	e->reference_id = get_string(err, ev, path, "reference_id", "rjct.reference_id.invalid", true);
	if (e->reference_id != NULL) {
		for (k = 0; k < i; k++) {
			if (n->events[k].reference_id != NULL &&
			    strcmp(n->events[k].reference_id, e->reference_id) == 0) {
				problem(err, "rjct.reference_id.duplicate",
				    "%s.reference_id: the same as message.notify_event[%zu]", path, k);
				break;
			}
		}
	}
	get_time(err, ev, path, "timestamp", "rjct.timestamp.invalid", &e->ts_ms);
	get_string(err, ev, path, "locale", CODE_EVENT, false);

	e->kind = header_kind;
	read_kind(err, ev, path, "event_type", CODE_EVENT, &e->kind);
	read_kind(err, ev, path, "reg_event_type", CODE_EVENT, &e->kind);

	data = cJSON_GetObjectItemCaseSensitive(ev, "data");
	if (absent(data)) {
		problem(err, CODE_EVENT, "%s.data: required", path);
		return;
	}
	if (!cJSON_IsObject(data)) {
		problem(err, CODE_EVENT, "%s.data: expected an object, got %s", path,
		    il_text_json_kind(data, true));
		return;
	}
	snprintf(dpath, sizeof(dpath), "%s.data", path);
	get_string(err, data, dpath, "version", CODE_EVENT, false);
	get_string(err, data, dpath, "reg_type", CODE_EVENT, false);
	get_string(err, data, dpath, "reg_record_type", CODE_EVENT, false);
	read_kind(err, data, dpath, "reg_event_type", CODE_EVENT, &e->kind);

	recs = cJSON_GetObjectItemCaseSensitive(data, "reg_records");
	if (absent(recs)) {
		problem(err, CODE_EVENT, "%s.reg_records: required", dpath);
		return;
	}
	if (!cJSON_IsArray(recs)) {
		problem(err, CODE_EVENT, "%s.reg_records: expected an array, got %s", dpath,
		    il_text_json_kind(recs, true));
		return;
	}
	j = 0;
	cJSON_ArrayForEach(rec, recs) {
		/* counted on past the limit, which is said once */
		if (++n->nrecords == max_records + 1)
			problem(err, CODE_LIMIT, "%s.reg_records: more than the limit of %zu records "
			    "in one envelope", dpath, max_records);
		if (!cJSON_IsObject(rec))
			problem(err, CODE_EVENT, "%s.reg_records[%zu]: expected an object, got %s",
			    dpath, j, il_text_json_kind(rec, true));
		j++;
	}
	e->records = recs;
}

/* A transport-level check: @returns whether @obj has an object member @name. */
static const cJSON *
transport_object(il_dci_error *err, const cJSON *root, const char *name)
{
	const cJSON *v = cJSON_GetObjectItemCaseSensitive(root, name);

	if (v == NULL) {
		problem(err, CODE_BAD, "%s: required", name);
		return NULL;
	}
	if (!cJSON_IsObject(v)) {
		problem(err, CODE_BAD, "%s: expected an object, got %s", name, il_text_json_kind(v, true));
		return NULL;
	}
	return v;
}

static il_err
result_of(const il_dci_error *err)
{
	if (err->count == 0)
		return IL_OK;
	if (strcmp(err->code, CODE_BAD) == 0)
		return IL_ERR_DECODE;
	if (strcmp(err->code, CODE_LIMIT) == 0)
		return IL_ERR_TOOBIG;
	return IL_ERR_INVALID;
}

il_err
il_dci_parse_notify(const char *body, size_t len, const il_dci_limits *limits,
    il_dci_notify **out, il_dci_error *err)
{
	size_t max_events = IL_DCI_MAX_EVENTS_DEFAULT;
	size_t max_records = IL_DCI_MAX_RECORDS_DEFAULT;
	il_dci_notify *n = NULL;
	const cJSON *header, *message, *events, *ev;
	const char *end = NULL;
	il_dci_kind header_kind = IL_DCI_KIND_UNSPECIFIED;
	double total_count;
	size_t bad, count, i;
	il_err rc;

	memset(err, 0, sizeof(*err));
	*out = NULL;
	if (limits != NULL && limits->max_events > 0)
		max_events = limits->max_events;
	if (limits != NULL && limits->max_records > 0)
		max_records = limits->max_records;

	n = il_xcalloc(1, sizeof(*n));
	if (body == NULL || len == 0) {
		problem(err, CODE_BAD, "body: empty");
		goto done;
	}
	/* cJSON would silently cut a string at a NUL byte */
	if (memchr(body, '\0', len) != NULL) {
		problem(err, CODE_BAD, "body: holds a NUL byte");
		goto done;
	}
	if (!il_text_utf8_valid(body, len, &bad)) {
		problem(err, CODE_BAD, "body: not UTF-8 at byte %zu", bad);
		goto done;
	}
	n->root = cJSON_ParseWithLengthOpts(body, len, &end, 0);
	if (n->root == NULL) {
		/* cJSON sets end to the error position too (its global error pointer is not thread-safe) */
		problem(err, CODE_BAD, "body: not JSON (at byte %zu)",
		    end != NULL && end >= body && end <= body + len ? (size_t)(end - body) : (size_t)0);
		goto done;
	}
	for (; end != NULL && end < body + len; end++) {
		if (*end != ' ' && *end != '\t' && *end != '\n' && *end != '\r') {
			problem(err, CODE_BAD, "body: text after the JSON value at byte %zu",
			    (size_t)(end - body));
			goto done;
		}
	}
	if (!cJSON_IsObject(n->root)) {
		problem(err, CODE_BAD, "body: expected an object, got %s", il_text_json_kind(n->root, true));
		goto done;
	}
	header = transport_object(err, n->root, "header");
	message = transport_object(err, n->root, "message");
	if (err->count > 0)
		goto done;
	echo(err->message_id, sizeof(err->message_id), header, "message_id");
	echo(err->sender_id, sizeof(err->sender_id), header, "sender_id");
	echo(err->transaction_id, sizeof(err->transaction_id), message, "transaction_id");

	/* refuse an oversized envelope before spending work on its entries */
	events = cJSON_GetObjectItemCaseSensitive(message, "notify_event");
	count = cJSON_IsArray(events) ? (size_t)cJSON_GetArraySize(events) : 0;
	if (count > max_events) {
		problem(err, CODE_LIMIT, "message.notify_event: %zu events, more than the limit of %zu",
		    count, max_events);
		goto done;
	}

	check_header(n, header, err, &total_count, &header_kind);
	n->transaction_id = get_string(err, message, "message", "transaction_id",
	    "rjct.transaction_id.invalid", true);
	if (absent(events)) {
		problem(err, CODE_EVENT, "message.notify_event: required");
		goto done;
	}
	if (!cJSON_IsArray(events)) {
		problem(err, CODE_EVENT, "message.notify_event: expected an array, got %s",
		    il_text_json_kind(events, true));
		goto done;
	}
	if (count == 0)
		problem(err, CODE_EVENT, "message.notify_event: must not be empty");
	if (total_count >= 0 && total_count != (double)count)
		problem(err, "rjct.total_count.invalid",
		    "header.total_count: %.0f, but message.notify_event holds %zu events", total_count, count);

	n->events = il_xcalloc(count > 0 ? count : 1, sizeof(*n->events));
	n->nevents = count;
	i = 0;
	cJSON_ArrayForEach(ev, events) {
		check_event(n, i, ev, header_kind, max_records, err);
		i++;
	}

done:
	finish_message(err);
	rc = result_of(err);
	if (rc != IL_OK) {
		il_dci_notify_destroy(n);
		return rc;
	}
	*out = n;
	return IL_OK;
}

void
il_dci_notify_destroy(il_dci_notify *n)
{
	if (n == NULL)
		return;
	cJSON_Delete(n->root);
	free(n->events);
	free(n);
}

const char *
il_dci_notify_message_id(const il_dci_notify *n)
{
	return n->message_id;
}

const char *
il_dci_notify_sender_id(const il_dci_notify *n)
{
	return n->sender_id;
}

const char *
il_dci_notify_receiver_id(const il_dci_notify *n)
{
	return n->receiver_id;
}

const char *
il_dci_notify_transaction_id(const il_dci_notify *n)
{
	return n->transaction_id;
}

int64_t
il_dci_notify_ts_ms(const il_dci_notify *n)
{
	return n->ts_ms;
}

size_t
il_dci_notify_count(const il_dci_notify *n)
{
	return n->nevents;
}

size_t
il_dci_notify_records_total(const il_dci_notify *n)
{
	return n->nrecords;
}

const cJSON *
il_dci_records(const il_dci_notify *n, size_t i, il_dci_kind *kind,
    const char **reference_id, int64_t *ts_ms)
{
	if (n == NULL || i >= n->nevents)
		return NULL;
	if (kind != NULL)
		*kind = n->events[i].kind;
	if (reference_id != NULL)
		*reference_id = n->events[i].reference_id;
	if (ts_ms != NULL)
		*ts_ms = n->events[i].ts_ms;
	return n->events[i].records;
}

char *
il_dci_record_position(const il_dci_notify *n, size_t event, size_t record)
{
	if (n == NULL || event >= n->nevents ||
	    record >= (size_t)cJSON_GetArraySize(n->events[event].records))
		return NULL;
	return il_xasprintf("dci:%s:%s:%s:%zu", n->sender_id, n->message_id,
	    n->events[event].reference_id, record);
}

static uint64_t fnv1a(const char *s, uint64_t h);

void
il_dci_uuid(char out[IL_DCI_UUID_LEN], const unsigned char fallback[16])
{
	unsigned char b[16];

	if (RAND_bytes(b, sizeof(b)) != 1)
		memcpy(b, fallback, sizeof(b));
	b[6] = (unsigned char)((b[6] & 0x0f) | 0x40);
	b[8] = (unsigned char)((b[8] & 0x3f) | 0x80);
	snprintf(out, IL_DCI_UUID_LEN, "%02x%02x%02x%02x-%02x%02x-%02x%02x-%02x%02x-%02x%02x%02x%02x%02x%02x",
	    b[0], b[1], b[2], b[3], b[4], b[5], b[6], b[7], b[8], b[9], b[10], b[11], b[12], b[13],
	    b[14], b[15]);
}

/*
 * The answer's own id: without entropy, a hash of the correlation id and
 * the time stands in.
 */
static void
new_uuid(const il_dci_ack_info *a, char out[IL_DCI_UUID_LEN])
{
	uint64_t h[2];
	char ms[24];

	snprintf(ms, sizeof(ms), "%lld", (long long)a->now_ms);
	h[0] = fnv1a(ms, fnv1a(a->correlation_id != NULL ? a->correlation_id : "",
	    0xcbf29ce484222325ULL));
	h[1] = fnv1a(ms, h[0] ^ (uint64_t)a->completed_count);
	il_dci_uuid(out, (const unsigned char *)h);
}

static void
add_string_or_skip(cJSON *obj, const char *name, const char *value)
{
	if (value != NULL)
		cJSON_AddStringToObject(obj, name, value);
}

/* @p msg copied to @p out (IL_DCI_ERROR_MESSAGE_MAX + 1 bytes): SPDCI gives
 * status_reason_message and Error.message a maxLength of 999, so a longer
 * one is cut on a character and ends with "...". */
static void
bounded_message(char out[IL_DCI_ERROR_MESSAGE_MAX + 1], const char *msg)
{
	copy_bounded(out, IL_DCI_ERROR_MESSAGE_MAX + 1, msg);
	if (strlen(out) == IL_DCI_ERROR_MESSAGE_MAX) {
		cut_utf8(out, IL_DCI_ERROR_MESSAGE_MAX - 3);
		memcpy(out + strlen(out), "...", 4);
	}
}

cJSON *
il_dci_ack(const il_dci_ack_info *a)
{
	char uuid[IL_DCI_UUID_LEN], ts[IL_TIME_LEN], emsg[IL_DCI_ERROR_MESSAGE_MAX + 1];
	cJSON *root, *header, *message, *error;
	const char *ack = "ACK", *mid;

	if (a->message_id == NULL)
		new_uuid(a, uuid);
	mid = a->message_id != NULL ? a->message_id : uuid;
	il_time_format_ms(a->now_ms, ts);
	/* SPDCI's acknowledgement: ERR for a request the receiver cannot
	 * process, its error object holding the code and the message. */
	if (a->status == IL_DCI_RJCT)
		ack = "ERR";

	root = cJSON_CreateObject();
	if (root == NULL)
		return NULL;
	/* no signing: the field is there, empty, as the envelope requires it */
	cJSON_AddNullToObject(root, "signature");
	header = cJSON_AddObjectToObject(root, "header");
	message = cJSON_AddObjectToObject(root, "message");
	if (header == NULL || message == NULL) {
		cJSON_Delete(root);
		return NULL;
	}
	cJSON_AddStringToObject(header, "version", IL_DCI_VERSION);
	cJSON_AddStringToObject(header, "message_id", mid);
	cJSON_AddStringToObject(header, "message_ts", ts);
	cJSON_AddStringToObject(header, "action", "on-notify");
	cJSON_AddStringToObject(header, "status", il_dci_status_name(a->status));
	add_string_or_skip(header, "status_reason_code", a->reason_code);
	if (a->reason_message != NULL) {
		bounded_message(emsg, a->reason_message);
		cJSON_AddStringToObject(header, "status_reason_message", emsg);
	}
	cJSON_AddNumberToObject(header, "total_count", (double)a->total_count);
	cJSON_AddNumberToObject(header, "completed_count", (double)a->completed_count);
	add_string_or_skip(header, "sender_id", a->sender_id);
	add_string_or_skip(header, "receiver_id", a->receiver_id);
	cJSON_AddFalseToObject(header, "is_msg_encrypted");

	add_string_or_skip(message, "transaction_id", a->transaction_id);
	/* The acknowledgement requires a correlation_id: the request's
	 * message_id, or this answer's own id when none was readable. */
	cJSON_AddStringToObject(message, "correlation_id", a->correlation_id != NULL ? a->correlation_id : mid);
	cJSON_AddStringToObject(message, "ack_status", ack);
	cJSON_AddStringToObject(message, "timestamp", ts);
	if (a->status == IL_DCI_RJCT) {
		/* Error.code is one of SPDCI's err.* codes; a rjct.* reason stays
		 * in the header's status_reason_code, where the specification
		 * puts it, and the error says err.request.bad. */
		error = cJSON_AddObjectToObject(message, "error");
		if (error == NULL) {
			cJSON_Delete(root);
			return NULL;
		}
		cJSON_AddStringToObject(error, "code", a->reason_code != NULL &&
		    strncmp(a->reason_code, "err.", 4) == 0 ? a->reason_code : CODE_BAD);
		bounded_message(emsg, a->reason_message != NULL ? a->reason_message :
		    a->reason_code != NULL ? a->reason_code : "refused");
		cJSON_AddStringToObject(error, "message", emsg);
	}
	return root;
}

cJSON *
il_dci_error_body(const il_dci_error *err, const char *sender_id, int64_t now_ms)
{
	il_dci_ack_info a;

	memset(&a, 0, sizeof(a));
	a.correlation_id = err->message_id[0] != '\0' ? err->message_id : NULL;
	a.transaction_id = err->transaction_id[0] != '\0' ? err->transaction_id : NULL;
	a.sender_id = sender_id;
	a.receiver_id = err->sender_id[0] != '\0' ? err->sender_id : NULL;
	a.status = IL_DCI_RJCT;
	a.reason_code = err->code[0] != '\0' ? err->code : CODE_BAD;
	a.reason_message = err->message;
	a.now_ms = now_ms;
	return il_dci_ack(&a);
}

/* The memory of seen ids: a ring in arrival order, indexed by a chained hash. */
typedef struct seen_entry {
	char *key;              /* owned "<length of sender>:<sender>:<message_id>", unambiguous */
	uint64_t hash;
	size_t next;            /* next entry of the same bucket, or SIZE_MAX */
} seen_entry;

struct il_dci_seen {
	seen_entry *entries;    /* cap entries; used ones hold a key */
	size_t cap;
	size_t used;
	size_t oldest;          /* ring position evicted next when full */
	size_t *buckets;        /* nbuckets heads, SIZE_MAX when empty */
	size_t nbuckets;        /* a power of two, at least 2 * cap */
};

static uint64_t
fnv1a(const char *s, uint64_t h)
{
	for (; *s != '\0'; s++) {
		h ^= (unsigned char)*s;
		h *= 0x100000001b3ULL;
	}
	return h;
}

static char *
seen_key(const char *sender_id, const char *message_id, uint64_t *hash)
{
	char *key;

	if (sender_id == NULL)
		sender_id = "";
	key = il_xasprintf("%zu:%s:%s", strlen(sender_id), sender_id, message_id != NULL ? message_id : "");

	*hash = fnv1a(key, 0xcbf29ce484222325ULL);
	return key;
}

il_dci_seen *
il_dci_seen_new(size_t cap)
{
	il_dci_seen *s = il_xcalloc(1, sizeof(*s));
	size_t i;

	s->cap = cap > 0 ? cap : 1;
	s->entries = il_xcalloc(s->cap, sizeof(*s->entries));
	s->nbuckets = 2;
	while (s->nbuckets < 2 * s->cap)
		s->nbuckets *= 2;
	s->buckets = il_xmalloc(s->nbuckets * sizeof(*s->buckets));
	for (i = 0; i < s->nbuckets; i++)
		s->buckets[i] = SIZE_MAX;
	return s;
}

void
il_dci_seen_destroy(il_dci_seen *s)
{
	size_t i;

	if (s == NULL)
		return;
	for (i = 0; i < s->cap; i++)
		free(s->entries[i].key);
	free(s->entries);
	free(s->buckets);
	free(s);
}

static size_t
seen_find(const il_dci_seen *s, const char *key, uint64_t hash)
{
	size_t i;

	for (i = s->buckets[hash & (s->nbuckets - 1)]; i != SIZE_MAX; i = s->entries[i].next) {
		if (s->entries[i].hash == hash && strcmp(s->entries[i].key, key) == 0)
			return i;
	}
	return SIZE_MAX;
}

bool
il_dci_seen_has(const il_dci_seen *s, const char *sender_id, const char *message_id)
{
	uint64_t hash;
	char *key = seen_key(sender_id, message_id, &hash);
	bool found = seen_find(s, key, hash) != SIZE_MAX;

	free(key);
	return found;
}

void
il_dci_seen_add(il_dci_seen *s, const char *sender_id, const char *message_id)
{
	uint64_t hash;
	char *key = seen_key(sender_id, message_id, &hash);
	size_t slot, *link;
	seen_entry *e;

	if (seen_find(s, key, hash) != SIZE_MAX) {
		free(key);
		return;
	}
	if (s->used < s->cap) {
		slot = s->used++;
	} else {
		/* full: unlink the oldest from its bucket and reuse its slot */
		slot = s->oldest;
		s->oldest = (s->oldest + 1) % s->cap;
		e = &s->entries[slot];
		link = &s->buckets[e->hash & (s->nbuckets - 1)];
		while (*link != slot)
			link = &s->entries[*link].next;
		*link = e->next;
		free(e->key);
	}
	e = &s->entries[slot];
	e->key = key;
	e->hash = hash;
	e->next = s->buckets[hash & (s->nbuckets - 1)];
	s->buckets[hash & (s->nbuckets - 1)] = slot;
}
