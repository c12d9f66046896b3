/*
 * dci.h - the SPDCI (DCI social registry) envelope of the push gateway.
 *
 * No I/O: the gateway hands the body of a POST /registry/notify to
 * il_dci_parse_notify(), publishes the reg_records it exposes (each in the
 * seed's openSPP body form, for il_event_from_openspp()) and answers with
 * il_dci_ack() or il_dci_error_body().
 *
 * Answer codes (status_reason_code), checked against the SPDCI Social
 * Registry API (social_api_v1.0.0.yaml): "[spec]" marks the codes it
 * defines (MsgHeaderStatusReasonCode, the per-entry reason codes, the err.*
 * of its Error object); the others are this gateway's own, formed the same
 * way, for problems the specification names no code for:
 *   err.request.bad                  [spec] not JSON, not UTF-8, not an object,
 *                                    no header or message object
 *   err.sender_id.invalid            [spec] header.sender_id missing or not a string
 *   rjct.message_id.invalid          header.message_id missing or not a string
 *   rjct.message_id.duplicate        [spec] (the caller, through il_dci_seen)
 *   rjct.message_ts.invalid          [spec] header.message_ts not ISO-8601 with a zone
 *   rjct.action.invalid              [spec] header.action other than "notify"
 *   rjct.version.invalid             [spec] header.version other than "1.0.0"
 *   rjct.encryption.not_supported    header.is_msg_encrypted true (the spec has
 *                                    only err.encryption.invalid, for a bad one)
 *   rjct.header.invalid              sender_uri, receiver_id, is_msg_encrypted
 *                                    or event_type of the wrong type
 *   rjct.total_count.invalid         [spec] not an integer, or not the number of events
 *   rjct.total_count.limit_exceeded  [spec] more events or records than the limits
 *   rjct.transaction_id.invalid      message.transaction_id missing or not a string
 *   rjct.reference_id.invalid        [spec] an event's reference_id missing or not a string
 *   rjct.reference_id.duplicate      [spec] two events of one envelope share a reference_id
 *   rjct.timestamp.invalid           [spec] an event's timestamp not ISO-8601 with a zone
 *   rjct.notify_event.invalid        anything else in message.notify_event
 * When an envelope has several problems, the code is that of the first one
 * found (header before message); the message lists every one.
 *
 * The answer: SPDCI answers /registry/notify with its acknowledgement
 * {message: {ack_status ACK | NACK | ERR, timestamp, error {code, message},
 * correlation_id}} and defines no answer header and no "on-notify" action
 * (notify is itself the registry's callback, action "notify").  The
 * acknowledgement here is that one, ERR with an error for every refusal;
 * the header around it (action "on-notify", status, status_reason_code,
 * counts) is this gateway's addition, kept because it carries the rjct
 * code, which the specification's Error object (err.* codes only) cannot.
 * The specification gives no HTTP status for a refusal (only 401, 403, 500
 * and a default); the SPDCI compliance suite accepts 400 or 422 with an
 * error body, or 200 with ack_status ERR.
 */
#ifndef IL_DCI_H
#define IL_DCI_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include <cjson/cJSON.h>

#include "err.h"

#define IL_DCI_VERSION "1.0.0"
/* Defaults of il_dci_limits members left 0. */
#define IL_DCI_MAX_EVENTS_DEFAULT 1000
#define IL_DCI_MAX_RECORDS_DEFAULT 10000
/* Longest error.message of an acknowledgement (SPDCI's maxLength). */
#define IL_DCI_ERROR_MESSAGE_MAX 999
/* Problems listed in il_dci_error.message before "... and N more". */
#define IL_DCI_PROBLEMS_LISTED 32

/** What one problem answer holds; filled by il_dci_parse_notify(). */
typedef struct il_dci_error {
	char code[48];          /* status_reason_code, "" when there is no problem */
	char message[2048];     /* every problem, one per line: "path: reason" */
	unsigned count;         /* problems found, listed or not */
	char message_id[128];   /* the request's header.message_id when readable, else "" */
	char sender_id[128];    /* the request's header.sender_id when readable, else "" */
	char transaction_id[128]; /* the request's message.transaction_id when readable, else "" */
} il_dci_error;

/** Bounds of one envelope; a member left 0 takes its default. */
typedef struct il_dci_limits {
	size_t max_events;      /* notify_event entries per envelope */
	size_t max_records;     /* reg_records entries over all events of an envelope */
} il_dci_limits;

/** The kind of change a notify event reports. */
typedef enum il_dci_kind {
	IL_DCI_KIND_UNSPECIFIED = 0,    /* the event names none */
	IL_DCI_KIND_REGISTER,           /* a registrant was registered */
	IL_DCI_KIND_UPDATE,             /* a registrant changed */
	IL_DCI_KIND_DELETE,             /* a registrant was removed */
	IL_DCI_KIND_LINK,               /* a registrant joined a group */
	IL_DCI_KIND_UNLINK,             /* a registrant left a group */
} il_dci_kind;

/** Status of an answer's header. */
typedef enum il_dci_status {
	IL_DCI_RCVD = 0,        /* received, not yet processed */
	IL_DCI_PDNG,            /* processing */
	IL_DCI_SUCC,            /* processed: every event durable */
	IL_DCI_RJCT,            /* refused */
} il_dci_status;

/** A validated notify envelope (opaque). */
typedef struct il_dci_notify il_dci_notify;

/**
 * @brief Parses and validates the @p len bytes at @p body as the SPDCI
 * envelope of /registry/notify, within @p limits (NULL: the defaults).
 * Every problem is collected with its JSON path into @p err (which may not
 * be NULL and is always reset first).
 * @returns IL_OK with a new envelope in @p out, which the caller frees with
 * il_dci_notify_destroy(); else @p out is NULL and: IL_ERR_DECODE for an
 * err.request.bad, IL_ERR_TOOBIG for rjct.total_count.limit_exceeded,
 * IL_ERR_INVALID for every other refusal.
 */
il_err il_dci_parse_notify(const char *body, size_t len, const il_dci_limits *limits,
    il_dci_notify **out, il_dci_error *err);

/** Frees @p n; NULL is a no-op. */
void il_dci_notify_destroy(il_dci_notify *n);

/** @returns header.message_id, valid as long as @p n. */
const char *il_dci_notify_message_id(const il_dci_notify *n);
/** @returns header.sender_id, valid as long as @p n. */
const char *il_dci_notify_sender_id(const il_dci_notify *n);
/** @returns header.receiver_id, or NULL when absent. */
const char *il_dci_notify_receiver_id(const il_dci_notify *n);
/** @returns message.transaction_id, valid as long as @p n. */
const char *il_dci_notify_transaction_id(const il_dci_notify *n);
/** @returns header.message_ts in milliseconds since the epoch. */
int64_t il_dci_notify_ts_ms(const il_dci_notify *n);
/** @returns the number of notify events. */
size_t il_dci_notify_count(const il_dci_notify *n);
/** @returns the number of reg_records over all events. */
size_t il_dci_notify_records_total(const il_dci_notify *n);

/**
 * @brief Exposes notify event @p i (below il_dci_notify_count()): its kind
 * in @p kind, its reference_id in @p reference_id and its timestamp in
 * @p ts_ms (each unless NULL).  The kind is read from data.reg_event_type,
 * else the event's own reg_event_type or event_type, else header.event_type
 * (case-insensitive REGISTER, UPDATE, DELETE, LINK, UNLINK).
 * @returns the event's data.reg_records array, whose entries are objects
 * (the seed's openSPP body form, for il_event_from_openspp()), valid as long
 * as @p n; NULL when @p i is out of range.
 */
const cJSON *il_dci_records(const il_dci_notify *n, size_t i, il_dci_kind *kind,
    const char **reference_id, int64_t *ts_ms);

/**
 * @brief Makes the source position of record @p record of event @p event:
 * "dci:<sender_id>:<message_id>:<reference_id>:<record>", the same for a
 * repeated envelope, so its event ids repeat too.
 * @returns a new string the caller frees, or NULL when out of range.
 */
char *il_dci_record_position(const il_dci_notify *n, size_t event, size_t record);

/** @returns "REGISTER", ..., or "UNSPECIFIED"; a static string. */
const char *il_dci_kind_name(il_dci_kind kind);

/** @returns "rcvd", "pdng", "succ" or "rjct"; a static string. */
const char *il_dci_status_name(il_dci_status status);

/* A UUID as text: 36 characters and the NUL. */
#define IL_DCI_UUID_LEN 37

/**
 * @brief Writes a random (version 4) UUID, lower case with hyphens, to
 * @p out: the message, transaction and correlation ids of an envelope.
 * They need only be unique, not secret: when OpenSSL has no entropy, the 16
 * bytes at @p fallback stand in, which the caller makes unique (from the
 * clock and whatever else tells its ids apart).
 */
void il_dci_uuid(char out[IL_DCI_UUID_LEN], const unsigned char fallback[16]);

/** What an answer's envelope says. */
typedef struct il_dci_ack_info {
	const char *message_id;         /* the answer's own id; NULL: a new random UUID */
	const char *correlation_id;     /* the request's message_id; NULL: the answer's own id */
	const char *transaction_id;     /* the request's transaction_id; NULL: omitted */
	const char *sender_id;          /* this gateway's id */
	const char *receiver_id;        /* the request's sender_id; NULL: omitted */
	il_dci_status status;           /* header.status */
	const char *reason_code;        /* status_reason_code; NULL: omitted */
	const char *reason_message;     /* status_reason_message; NULL: omitted */
	long long total_count;          /* events in the request */
	long long completed_count;      /* events made durable */
	int64_t now_ms;                 /* message_ts */
} il_dci_ack_info;

/**
 * @brief Builds the answer envelope {signature, header, message}: header
 * with version, message_id, message_ts, action "on-notify", status,
 * status_reason_code, status_reason_message, total_count, completed_count,
 * sender_id, receiver_id, is_msg_encrypted false; message as SPDCI's
 * acknowledgement: transaction_id, correlation_id (the request's
 * message_id, else this answer's own), ack_status ("ACK", or "ERR" for
 * status rjct), timestamp, and for rjct an error {code, message} whose code
 * is the reason when it is an err.* code and err.request.bad otherwise (the
 * rjct.* code stays in the header).  "on-notify" is no SPDCI action (see
 * the top of this file).
 * @returns a new cJSON tree the caller frees with cJSON_Delete().
 */
cJSON *il_dci_ack(const il_dci_ack_info *a);

/**
 * @brief Builds the rjct answer to a refused envelope from @p err (as
 * il_dci_parse_notify() filled it, or the caller's own code such as
 * rjct.message_id.duplicate), echoing what of the request was readable.
 * @returns a new cJSON tree the caller frees with cJSON_Delete().
 */
cJSON *il_dci_error_body(const il_dci_error *err, const char *sender_id, int64_t now_ms);

/**
 * @brief Sets @p err to the single problem @p code with @p fmt as its
 * message (for the caller's own refusals), keeping its echoed ids.
 */
__attribute__((format(printf, 3, 4)))
void il_dci_error_set(il_dci_error *err, const char *code, const char *fmt, ...);

/**
 * A bounded memory of recent (sender_id, message_id) pairs, to refuse a
 * repeated envelope with rjct.message_id.duplicate; the oldest is forgotten
 * first.  Not thread-safe: the caller serialises access.
 */
typedef struct il_dci_seen il_dci_seen;

/** @returns a new memory of up to @p cap pairs (at least 1); destroy with il_dci_seen_destroy(). */
il_dci_seen *il_dci_seen_new(size_t cap);
/** Frees @p s; NULL is a no-op. */
void il_dci_seen_destroy(il_dci_seen *s);
/** @returns whether the pair is remembered. */
bool il_dci_seen_has(const il_dci_seen *s, const char *sender_id, const char *message_id);
/**
 * @brief Remembers the pair (a no-op when it already is), forgetting the
 * oldest when full.  Call it once the envelope was made durable, so a sender
 * may repeat one that failed.
 */
void il_dci_seen_add(il_dci_seen *s, const char *sender_id, const char *message_id);

#endif
