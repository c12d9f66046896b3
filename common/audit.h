/*
 * audit.h - the audit store: dead letters and enrollment results in
 * PostgreSQL (libpq), written by imislink-deadletter and read and changed
 * by the operator commands `imislink dlq ...`.
 *
 * The schema is deploy/sql/audit/NNNN_*.sql, applied in version order by
 * il_audit_migrate() and recorded in audit_schema_migrations.  A message is
 * one row per (topic, partition, offset): writing it again changes nothing,
 * so a consumer that commits its offsets only after the database transaction
 * committed stores every message exactly once in effect.
 *
 * Two files implement this header: audit.c (connection, migrations, the
 * batched writes of the worker) and audit_query.c (what the operator
 * commands read and change).  Neither keeps state outside the il_audit.
 */
#ifndef IL_AUDIT_H
#define IL_AUDIT_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include <cjson/cJSON.h>

#include "err.h"

typedef struct il_audit il_audit;

/**
 * @brief Connects to the audit store.  @p conninfo is a libpq connection
 * string or postgresql:// URI; "" uses libpq's environment (PGHOST, ...).
 * No call may wait without bound on a server that went silent, so unless
 * @p conninfo sets them the connection has connect_timeout=10,
 * keepalives=1, keepalives_idle=10, keepalives_interval=5,
 * keepalives_count=3 and tcp_user_timeout=30000 (a peer gone mid-query is
 * a broken connection within about 30 s), and unless the server already
 * gives the session one, statement_timeout 60s (a statement stuck on a
 * lock or a stalled server is cancelled: transient).  Migrations run
 * without the statement timeout.
 * @returns NULL with libpq's reason in @p errbuf (never the password; for a
 * connection string that does not parse, nothing of it).
 */
il_audit *il_audit_connect(const char *conninfo, char *errbuf, size_t errsz);
/** Closes the connection and frees @p a; NULL is a no-op. */
void il_audit_destroy(il_audit *a);
/**
 * @brief Connects again after the server went away (restart, failover).
 * @returns IL_ERR_TRANSIENT while the server cannot be reached,
 * IL_ERR_CONFIG when the connection string itself does not parse.
 */
il_err il_audit_reconnect(il_audit *a, char *errbuf, size_t errsz);
/** @returns true while the connection is usable (no round trip). */
bool il_audit_connected(const il_audit *a);

/**
 * @brief Applies, in version order, each migration of @p dir
 * (NNNN_name.sql) not yet recorded, each in its own transaction, under an
 * advisory lock so that two workers starting together apply it once.
 * @returns IL_ERR_CONFIG when @p dir holds no migration or a file name is
 * malformed, IL_ERR_INVALID when the database holds a version newer than
 * the files (an older program against a newer store), IL_ERR_TRANSIENT when
 * the server went away, IL_ERR_IO when a file cannot be read; the reason
 * (file and PostgreSQL's message) in @p errbuf.
 */
il_err il_audit_migrate(il_audit *a, const char *dir, int *version, char *errbuf, size_t errsz);
/**
 * @brief Reads the applied schema version (0 for an empty database) and
 * checks that the store has the tables this program needs.
 * @returns IL_ERR_INVALID with "the audit store is not initialised: start
 * imislink-deadletter once" when no migration was applied.
 */
il_err il_audit_check(il_audit *a, int *version, char *errbuf, size_t errsz);

/** One message of the dead-letter topic; everything borrowed. */
typedef struct il_audit_dead_letter {
	const char *topic;              /* the dead-letter topic */
	int32_t partition;
	int64_t offset;
	long long timestamp_ms;         /* Kafka timestamp; -1 unknown */
	const void *key;                /* NULL for a null key */
	size_t keylen;
	const void *value;              /* NULL for a null value */
	size_t vallen;
	const char *headers_json;       /* every header, a JSON array (see 0001_init.sql) */
	const char *source_topic;       /* __connect.errors.topic; NULL when absent */
	int32_t source_partition;       /* -1 when absent */
	int64_t source_offset;          /* -1 when absent */
	const char *error_class;        /* never NULL: "undecodable" when nothing says otherwise */
	const char *error_stage;        /* may be NULL */
	const char *error_message;      /* may be NULL */
	int attempts;                   /* -1 unknown */
	long long first_failure_ms;     /* -1 unknown */
	long long last_failure_ms;      /* -1 unknown */
	const char *event_id;           /* may be NULL */
	const char *event_key;          /* the event's key as text; may be NULL */
	long long programme_id;         /* -1 unknown */
	const char *decoded_json;       /* the value as JSON; NULL when it does not decode */
} il_audit_dead_letter;

/** One message of the results topic (an EnrollmentResult); everything borrowed. */
typedef struct il_audit_result {
	const char *topic;
	int32_t partition;
	int64_t offset;
	const char *event_id;
	const char *event_key;
	const char *outcome;            /* ENROLLED, UPDATED, ... */
	const char *target;             /* may be NULL */
	long long programme_id;         /* -1 when null */
	const char *insuree_uuid;       /* each of these may be NULL */
	const char *chf_id;
	const char *family_uuid;
	const char *policy_uuid;
	const char *individual_uuid;
	const char *beneficiary_uuid;
	int attempts;
	long long duration_ms;
	const char *error_class;        /* may be NULL */
	const char *error_message;      /* may be NULL */
	const char *source_topic;       /* may be NULL */
	int32_t source_partition;       /* -1 when null */
	int64_t source_offset;          /* -1 when null */
	const char *worker_id;
	long long processed_at_ms;
} il_audit_result;

/**
 * @brief Writes a batch in one transaction; rows already stored (same
 * topic, partition and offset) are skipped.  Nothing is written unless
 * everything is.
 * @returns IL_OK with *@p stored the rows really inserted;
 * IL_ERR_TRANSIENT when the server went away or the transaction failed for
 * a reason a retry can cure (the caller backs off, reconnects and writes the
 * same batch again); IL_ERR_INVALID when PostgreSQL refused the data itself
 * (a bug: the caller must not loop on it).
 */
il_err il_audit_write(il_audit *a, const il_audit_dead_letter *dls, size_t ndls,
    const il_audit_result *results, size_t nresults, size_t *stored, char *errbuf, size_t errsz);

/* ---- what the operator commands read and change (audit_query.c) ---- */

/** Which dead letters a command means; il_audit_filter_init() sets "any". */
typedef struct il_audit_filter {
	const char *status;             /* open | replayed | discarded; NULL: any */
	const char *error_class;        /* NULL: any */
	long long programme_id;         /* -1: any */
	long long since_ms;             /* last failure (else stored time) at or after; -1: open */
	long long until_ms;             /* ... before; -1: open */
	const long long *ids;           /* only these ids; NULL: any */
	size_t nids;
	long long after_id;             /* ids greater than this (paging); 0: from the start */
	long long limit;                /* rows at most; 0: no limit */
} il_audit_filter;

/** Sets every criterion of @p f to "any". */
void il_audit_filter_init(il_audit_filter *f);

/**
 * @brief Lists dead letters matching @p f, in id order.
 * @returns IL_OK with *@p rows a JSON array the caller frees with
 * cJSON_Delete(): per row id, status, error_class, error_stage,
 * error_message, attempts, first_failure, last_failure (ISO-8601 UTC or
 * null), topic, partition, offset, source_topic, source_partition,
 * source_offset, event_id, event_key, programme_id, replay_count,
 * status_by, status_at, status_reason.  Personal data is the caller's to
 * mask (event_key holds an ID value).
 */
il_err il_audit_dl_list(il_audit *a, const il_audit_filter *f, cJSON **rows, char *errbuf, size_t errsz);
/**
 * @brief Reads one dead letter whole: the list's fields plus key and value
 * (base64, or null), headers (the stored array), decoded (the stored JSON or
 * null), kafka_timestamp and stored_at.
 * @returns IL_ERR_NOTFOUND when there is no such id.
 */
il_err il_audit_dl_get(il_audit *a, long long id, cJSON **row, char *errbuf, size_t errsz);
/**
 * @brief Counts dead letters matching @p f: {"total": N, "by_class":
 * [{"error_class", "status", "count"}], "by_day": [{"day": "YYYY-MM-DD",
 * "error_class", "count"}]} (day of the last failure, UTC).
 */
il_err il_audit_dl_stats(il_audit *a, const il_audit_filter *f, cJSON **stats, char *errbuf, size_t errsz);
/**
 * @brief Marks the open dead letters among @p ids discarded, by @p who for
 * @p reason (required).  Rows not open are left as they are.
 * @returns IL_OK with *@p changed the rows that changed.
 */
il_err il_audit_dl_discard(il_audit *a, const long long *ids, size_t nids, const char *who,
    const char *reason, size_t *changed, char *errbuf, size_t errsz);

/** A dead letter as a replay needs it; owned by the array from il_audit_dl_replay_batch(). */
typedef struct il_audit_replay_item {
	long long id;
	char *topic;                    /* the topic the row was read from: the dead-letter
	                                 * topic, or the results topic for a result that
	                                 * did not decode (never to be replayed) */
	int32_t partition;              /* the dead letter's own partition in topic */
	int64_t offset;                 /* and offset */
	void *key;                      /* NULL for a null key */
	size_t keylen;
	void *value;                    /* NULL for a null value */
	size_t vallen;
	char *source_topic;             /* NULL when the dead letter does not say */
	char *event_id;                 /* NULL when unknown */
	char *status;                   /* open, replayed or discarded */
	int replay_count;               /* replays before this one */
} il_audit_replay_item;

/**
 * @brief Reads the dead letters matching @p f with their bytes, at most
 * f->limit of them (page with f->after_id).
 * @returns IL_OK with *@p items (free with il_audit_replay_items_free())
 * and *@p n.
 */
il_err il_audit_dl_replay_batch(il_audit *a, const il_audit_filter *f, il_audit_replay_item **items,
    size_t *n, char *errbuf, size_t errsz);
/** Frees what il_audit_dl_replay_batch() returned; NULL is a no-op. */
void il_audit_replay_items_free(il_audit_replay_item *items, size_t n);
/**
 * @brief Marks @p ids replayed (again): status replayed, replay_count + 1,
 * by @p who at now() for @p reason (may be NULL), in one transaction.
 */
il_err il_audit_dl_mark_replayed(il_audit *a, const long long *ids, size_t nids, const char *who,
    const char *reason, char *errbuf, size_t errsz);
/**
 * @brief Takes the replay lock, a session-level PostgreSQL advisory lock,
 * without waiting: two `dlq replay` runs at once would select the same
 * open rows and publish them twice.  The lock is held until
 * il_audit_destroy(); il_audit_reconnect() loses it (a new session), so a
 * caller that reconnects takes it again.  Taking it twice on one
 * connection succeeds.
 * @returns IL_OK when this connection holds it; IL_ERR_TIMEOUT (a wait of
 * zero ran out) when another session holds it, with "another dlq replay is
 * running" in @p errbuf; IL_ERR_TRANSIENT when the server went away.
 */
il_err il_audit_replay_lock(il_audit *a, char *errbuf, size_t errsz);

/**
 * @brief Counts results by outcome: {"total": N, "by_outcome": [{"outcome",
 * "count"}]}, for `imislink dlq stats` and the demo's summary.
 */
il_err il_audit_result_stats(il_audit *a, cJSON **stats, char *errbuf, size_t errsz);

#endif
