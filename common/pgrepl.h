/*
 * pgrepl.h - a libpq client of PostgreSQL's streaming replication protocol
 * for logical slots (pgoutput): the replication connection
 * (replication=database), the checks of what logical replication needs, the
 * publication and the slot, START_REPLICATION, reading the CopyData stream
 * and standby status updates.  It maps nothing: the messages it returns are
 * decoded further with il_pgoutput_decode().
 *
 * Durability is the caller's: il_pgrepl_send_status() acknowledges only the
 * LSN the caller passes, and the server resumes a slot from the last
 * acknowledged (confirmed_flush) position.  A primary keepalive with
 * reply_requested set must be answered at once with il_pgrepl_send_status()
 * carrying the caller's acknowledged LSN; unanswered, the server ends the
 * connection after wal_sender_timeout.  The keepalive's wal_end (the
 * server's sent position) may be acknowledged only when no transaction is
 * open and everything received was delivered: every transaction that
 * committed before it has then been sent, and one still being decoded is
 * sent again after a restart, as pg_recvlogical relies on.
 *
 * Every connection sets DateStyle ISO, so dates arrive as YYYY-MM-DD whatever
 * the server's default.
 *
 * One il_pgrepl is used by one thread at a time.
 */
#ifndef IL_PGREPL_H
#define IL_PGREPL_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include <libpq-fe.h>

#include "err.h"
#include "pgoutput.h"

/* Longest slot and publication name PostgreSQL keeps (NAMEDATALEN - 1). */
#define IL_PGREPL_NAME_MAX 63
/* Room for an exported snapshot's name ("00000003-00000002-1"). */
#define IL_PGREPL_SNAPSHOT_LEN 64

typedef struct il_pgrepl il_pgrepl;

/** What IDENTIFY_SYSTEM answered when the connection was made. */
typedef struct il_pgrepl_system {
	char systemid[32];      /* the cluster's system identifier, decimal */
	uint32_t timeline;      /* current timeline */
	uint64_t xlogpos;       /* current WAL flush position */
	char dbname[64];        /* database the connection is bound to */
} il_pgrepl_system;

/** A slot as pg_replication_slots shows it. */
typedef struct il_pgrepl_slot {
	char plugin[64];                /* output plugin, "pgoutput" */
	char database[64];              /* database of the slot */
	bool active;                    /* a walsender streams from it now */
	uint64_t confirmed_flush_lsn;   /* where a new START_REPLICATION resumes; 0 when null */
	uint64_t restart_lsn;           /* oldest WAL the slot needs; 0 when null */
	int64_t retained_bytes;         /* WAL from restart_lsn to the current position */
} il_pgrepl_slot;

/**
 * @brief Checks, over a normal connection made with @p conninfo, what
 * logical replication needs: wal_level = logical, a role with REPLICATION
 * (or superuser), max_replication_slots and max_wal_senders above 0.
 * @returns IL_OK; IL_ERR_PERMANENT with a message in @p errbuf naming what
 * is missing and how to fix it; IL_ERR_TRANSIENT when the server cannot be
 * reached; IL_ERR_CONFIG for a malformed @p conninfo.
 */
__attribute__((warn_unused_result))
il_err il_pgrepl_check(const char *conninfo, char *errbuf, size_t errsz);

/**
 * @brief Opens a replication connection (replication=database forced over
 * whatever @p conninfo says) and runs IDENTIFY_SYSTEM.  When the server
 * refuses the connection, il_pgrepl_check() says why when it can (a role
 * without REPLICATION, wal_level).
 * @returns IL_OK with @p *out set (free with il_pgrepl_close()); otherwise
 * @p *out is NULL and the code is that of il_pgrepl_check(), or
 * IL_ERR_TRANSIENT for a server that cannot be reached.
 */
__attribute__((warn_unused_result))
il_err il_pgrepl_connect(const char *conninfo, il_pgrepl **out, char *errbuf, size_t errsz);

/**
 * @brief Opens a normal (not replication) connection with the same defaults
 * as the replication one (connect timeout, keepalives, TCP user timeout,
 * UTF8, DateStyle ISO; the caller's @p conninfo wins where it says otherwise)
 * and a statement timeout of @p statement_timeout_ms unless the server or
 * the role set one, so that no query can block its caller for ever.
 * @returns IL_OK with @p *out set (the caller PQfinish()es it);
 * IL_ERR_CONFIG for a malformed @p conninfo (the value is never shown: it
 * may hold a password); IL_ERR_TRANSIENT when the server cannot be reached.
 */
__attribute__((warn_unused_result))
il_err il_pgrepl_connect_db(const char *conninfo, int statement_timeout_ms, PGconn **out,
    char *errbuf, size_t errsz);

/** Closes the connection and frees @p r; NULL is a no-op. */
void il_pgrepl_close(il_pgrepl *r);

/** @returns what IDENTIFY_SYSTEM answered on connecting. */
const il_pgrepl_system *il_pgrepl_system_info(const il_pgrepl *r);

/**
 * @brief Makes sure publication @p name exists over the normal connection
 * @p conn and publishes each table of the NULL-terminated @p tables ("table"
 * or "schema.table", unquoted): creates it with them when missing, adds the
 * ones it lacks when it exists.  @p created (may be NULL) tells whether it
 * was created.
 * @returns IL_OK; IL_ERR_INVALID for an empty list or a bad name;
 * IL_ERR_PERMANENT when the server refuses (a missing table, no privilege);
 * IL_ERR_TRANSIENT when the connection failed.
 */
__attribute__((warn_unused_result))
il_err il_pgrepl_ensure_publication(PGconn *conn, const char *name, const char *const *tables,
    bool *created, char *errbuf, size_t errsz);

/**
 * @brief Creates logical slot @p slot (pgoutput).  With @p export_snapshot
 * the snapshot of the slot's consistent point is exported: its name goes to
 * @p snapshot (IL_PGREPL_SNAPSHOT_LEN bytes), usable by other connections
 * with SET TRANSACTION SNAPSHOT only until the next command on @p r (start
 * streaming after the initial load).  A slot that already exists (SQLSTATE
 * 42710) is not an error: @p *existed is set, @p snapshot is "" and
 * @p *consistent_lsn 0, and the caller resumes from the slot's
 * confirmed_flush_lsn (START_REPLICATION from 0/0 does it).
 * @returns IL_OK; IL_ERR_INVALID for a name PostgreSQL refuses (only a-z,
 * 0-9 and _, at most 63); IL_ERR_PERMANENT when the server refuses;
 * IL_ERR_TRANSIENT when the connection failed.
 */
__attribute__((warn_unused_result))
il_err il_pgrepl_create_slot(il_pgrepl *r, const char *slot, bool export_snapshot,
    char *snapshot, uint64_t *consistent_lsn, bool *existed, char *errbuf, size_t errsz);

/**
 * @brief Reads slot @p slot from pg_replication_slots over the normal
 * connection @p conn, with the WAL it holds back (retained_bytes, for the
 * metric and the warning).
 * @returns IL_OK; IL_ERR_NOTFOUND when there is no such slot; IL_ERR_TRANSIENT
 * or IL_ERR_PERMANENT as the query failed.
 */
__attribute__((warn_unused_result))
il_err il_pgrepl_slot_info(PGconn *conn, const char *slot, il_pgrepl_slot *out,
    char *errbuf, size_t errsz);

/**
 * @brief START_REPLICATION SLOT @p slot LOGICAL @p start_lsn with
 * proto_version 1 and publication @p publication.  A @p start_lsn of 0 (or
 * one before the slot's confirmed_flush_lsn) resumes from confirmed_flush_lsn.
 * @returns IL_OK with the connection streaming; IL_ERR_INVALID for bad
 * names; IL_ERR_PERMANENT when the server refuses (no such slot,
 * publication); IL_ERR_TRANSIENT when the slot is in use by another process
 * or the connection failed.
 */
__attribute__((warn_unused_result))
il_err il_pgrepl_start(il_pgrepl *r, const char *slot, uint64_t start_lsn, const char *publication,
    char *errbuf, size_t errsz);

/**
 * @brief Waits up to @p timeout_ms (0: does not wait; negative: without
 * bound) for the next CopyData of the stream and parses it into @p msg
 * (XLogData or keepalive).  @p msg->data points into a buffer that stays
 * valid until the next read or close: the caller frees nothing.
 * @returns IL_OK; IL_ERR_TIMEOUT when nothing came; IL_ERR_CANCELLED when a
 * signal interrupted the wait (the caller checks its flags and reads again);
 * IL_ERR_DECODE when the payload does not parse; IL_ERR_TRANSIENT when the
 * server ended the stream or the connection (shutdown, restart, network);
 * IL_ERR_PERMANENT when the server ended it with an error retrying cannot fix.
 */
__attribute__((warn_unused_result))
il_err il_pgrepl_read(il_pgrepl *r, int timeout_ms, il_pgoutput_copydata *msg,
    char *errbuf, size_t errsz);

/**
 * @brief Sends a standby status update: @p written, @p flushed and
 * @p applied LSNs (the caller's acknowledged position: the slot's
 * confirmed_flush_lsn becomes @p flushed), and whether the server should
 * answer with a keepalive at once (@p reply).
 * @returns IL_OK; IL_ERR_TRANSIENT when the connection failed.
 */
__attribute__((warn_unused_result))
il_err il_pgrepl_send_status(il_pgrepl *r, uint64_t written, uint64_t flushed, uint64_t applied,
    bool reply, char *errbuf, size_t errsz);

#endif
