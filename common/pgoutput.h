/*
 * pgoutput.h - a decoder of PostgreSQL's logical replication stream, without
 * I/O: the CopyData wrappers of the streaming replication protocol ('w'
 * XLogData, 'k' primary keepalive, 'r' standby status update) and the
 * messages of the pgoutput plugin, protocol version 1 (Begin, Commit,
 * Origin, Relation, Type, Insert, Update, Delete, Truncate).
 *
 * Every byte comes from outside, so every length is checked against the
 * bytes that remain before it is used; a message that does not decode is
 * refused whole with a reason naming the message, the field and its offset.
 * Nothing is allocated per message: strings and values point into the
 * caller's input, which must outlive the decoded message, and arrays
 * (columns, tuple values, truncated relations) go to a caller's arena.
 *
 * A Relation message describes the columns of the tuples that follow for its
 * relation id; it is sent again after DDL, so the relation cache replaces an
 * earlier description with a later one.
 *
 * Integers are big-endian on the wire.  LSNs are 64-bit WAL positions, times
 * are microseconds since 2000-01-01 00:00 UTC (PostgreSQL's epoch).
 */
#ifndef IL_PGOUTPUT_H
#define IL_PGOUTPUT_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "err.h"

/* The most attributes a PostgreSQL tuple can have (MaxTupleAttributeNumber). */
#define IL_PGOUTPUT_MAX_COLS 1664
/* Bytes of an encoded standby status update ('r' and five fields). */
#define IL_PGOUTPUT_STANDBY_STATUS_LEN 34
/* "XXXXXXXX/XXXXXXXX" plus the NUL. */
#define IL_PGOUTPUT_LSN_LEN 18
/* Seconds from 1970-01-01 to 2000-01-01, PostgreSQL's epoch. */
#define IL_PGOUTPUT_EPOCH_OFFSET_S 946684800LL

/* ---- CopyData wrappers of the replication stream ---- */

/** What one CopyData payload of a replication stream carries. */
typedef struct il_pgoutput_copydata {
	char kind;              /* 'w' XLogData or 'k' primary keepalive */
	uint64_t wal_start;     /* 'w': LSN where the message's WAL starts; 'k': 0 */
	uint64_t wal_end;       /* server's current end of WAL */
	int64_t send_time;      /* server's clock when sent, PostgreSQL epoch, us */
	bool reply_requested;   /* 'k': the server wants a status update now */
	const uint8_t *data;    /* 'w': the pgoutput message, into the input; 'k': NULL */
	size_t len;             /* 'w': bytes at data; 'k': 0 */
} il_pgoutput_copydata;

/**
 * @brief Parses the CopyData payload @p buf of @p len bytes (as
 * PQgetCopyData returns it) into @p out.
 * @returns IL_OK; IL_ERR_DECODE (a class, masked with IL_ERR_CLASS()) when the
 * payload is short, has trailing bytes after a keepalive or is of another
 * kind, with the reason in @p errbuf.  @p out->data points into @p buf.
 */
__attribute__((warn_unused_result))
il_err il_pgoutput_parse_copydata(const void *buf, size_t len, il_pgoutput_copydata *out,
    char *errbuf, size_t errsz);

/**
 * @brief Encodes a standby status update ('r') into @p buf of @p bufsz bytes:
 * the LSNs written, flushed and applied (sent as given: the caller passes the
 * position after the last byte it holds), the client's @p now (PostgreSQL
 * epoch, microseconds) and whether the server should answer at once.
 * @returns the bytes written (IL_PGOUTPUT_STANDBY_STATUS_LEN), or 0, writing
 * nothing, when @p bufsz is smaller.
 */
size_t il_pgoutput_standby_status(uint8_t *buf, size_t bufsz, uint64_t written,
    uint64_t flushed, uint64_t applied, int64_t now, bool reply_requested);

/* ---- pgoutput messages ---- */

typedef enum il_pgoutput_type {
	IL_PGOUTPUT_BEGIN = 'B',        /* a transaction starts */
	IL_PGOUTPUT_COMMIT = 'C',       /* it committed */
	IL_PGOUTPUT_ORIGIN = 'O',       /* its changes came from a replication origin */
	IL_PGOUTPUT_RELATION = 'R',     /* the columns of a relation id */
	IL_PGOUTPUT_TYPE = 'Y',         /* the name of a non-built-in type */
	IL_PGOUTPUT_INSERT = 'I',       /* a row inserted */
	IL_PGOUTPUT_UPDATE = 'U',       /* a row updated */
	IL_PGOUTPUT_DELETE = 'D',       /* a row deleted */
	IL_PGOUTPUT_TRUNCATE = 'T',     /* relations truncated */
} il_pgoutput_type;

/* Kinds of a tuple's column value (TupleData). */
typedef enum il_pgoutput_colkind {
	IL_PGOUTPUT_NULL = 'n',         /* SQL NULL */
	IL_PGOUTPUT_UNCHANGED = 'u',    /* unchanged TOASTed value: not sent */
	IL_PGOUTPUT_TEXT = 't',         /* the value's text form */
	IL_PGOUTPUT_BINARY = 'b',       /* the value's binary form (option "binary") */
} il_pgoutput_colkind;

/* Kinds of the old tuple of an Update or a Delete. */
#define IL_PGOUTPUT_OLD_NONE 0          /* not sent (Update of no key column) */
#define IL_PGOUTPUT_OLD_KEY 'K'         /* only the replica identity's key columns */
#define IL_PGOUTPUT_OLD_FULL 'O'        /* the whole old row (REPLICA IDENTITY FULL) */

/* Column flag of a Relation message. */
#define IL_PGOUTPUT_COL_KEY 0x1         /* part of the replica identity key */

/* Options of a Truncate message. */
#define IL_PGOUTPUT_TRUNCATE_CASCADE 0x1
#define IL_PGOUTPUT_TRUNCATE_RESTART_IDENTITY 0x2

/** One column value of a tuple. */
typedef struct il_pgoutput_value {
	il_pgoutput_colkind kind;       /* null, unchanged TOAST, text or binary */
	const char *data;               /* text/binary: into the input, not NUL-terminated; else NULL */
	uint32_t len;                   /* bytes at data; 0 for null and unchanged */
} il_pgoutput_value;

/** A tuple: one value per column of the relation, in the relation's order. */
typedef struct il_pgoutput_tuple {
	uint16_t ncols;                 /* number of values; 0 when absent */
	const il_pgoutput_value *values; /* ncols values, in the arena */
} il_pgoutput_tuple;

/** One column of a relation. */
typedef struct il_pgoutput_column {
	uint8_t flags;                  /* IL_PGOUTPUT_COL_KEY */
	const char *name;               /* NUL-terminated; into the input (or the cache's copy) */
	uint32_t type_oid;              /* pg_type oid */
	int32_t typmod;                 /* atttypmod, -1 for none */
} il_pgoutput_column;

/** A relation's description (Relation message, or the cache's copy of one). */
typedef struct il_pgoutput_relation {
	uint32_t relid;                 /* the relation's oid, as the changes name it */
	const char *nspname;            /* schema; "" for pg_catalog */
	const char *relname;            /* table name */
	char replident;                 /* replica identity: 'd' default, 'n' nothing, 'f' full, 'i' index */
	uint16_t ncols;                 /* columns published */
	const il_pgoutput_column *cols; /* ncols columns */
} il_pgoutput_relation;

/** A decoded pgoutput message; which member is valid depends on type. */
typedef struct il_pgoutput_msg {
	il_pgoutput_type type;          /* the message's first byte */
	union {
		struct {
			uint64_t final_lsn;     /* LSN of the commit record */
			int64_t commit_time;    /* PostgreSQL epoch, us */
			uint32_t xid;           /* transaction id */
		} begin;
		struct {
			uint8_t flags;          /* unused, 0 */
			uint64_t commit_lsn;    /* LSN of the commit record */
			uint64_t end_lsn;       /* end of the transaction's WAL: what to acknowledge */
			int64_t commit_time;    /* PostgreSQL epoch, us */
		} commit;
		struct {
			uint64_t commit_lsn;    /* LSN of the commit on the origin server */
			const char *name;       /* origin's name, into the input */
		} origin;
		il_pgoutput_relation relation;
		struct {
			uint32_t oid;           /* type oid */
			const char *nspname;    /* schema, into the input */
			const char *name;       /* type name, into the input */
		} type;
		struct {
			uint32_t relid;         /* the relation changed (see the relation cache) */
			char old_kind;          /* IL_PGOUTPUT_OLD_NONE, _KEY or _FULL */
			il_pgoutput_tuple old_tuple; /* Update with old_kind, Delete; else empty */
			il_pgoutput_tuple new_tuple; /* Insert, Update; empty for Delete */
		} change;                       /* Insert, Update, Delete */
		struct {
			uint8_t options;        /* IL_PGOUTPUT_TRUNCATE_* */
			uint32_t nrelids;       /* relations truncated */
			const uint32_t *relids; /* nrelids oids, in the arena */
		} truncate;
	} u;
} il_pgoutput_msg;

/**
 * The caller's space for the arrays of a decoded message; reused message
 * after message (a decode overwrites what the previous one put there).
 * Fill it with own arrays or take one sized for any message from
 * il_pgoutput_arena_new().
 */
typedef struct il_pgoutput_arena {
	il_pgoutput_value *values;      /* tuple values: an Update needs two tuples' worth */
	size_t nvalues;                 /* length of values */
	il_pgoutput_column *columns;    /* Relation columns */
	size_t ncolumns;                /* length of columns */
	uint32_t *relids;               /* Truncate relation ids */
	size_t nrelids;                 /* length of relids */
} il_pgoutput_arena;

/** @returns an arena large enough for any message PostgreSQL sends; free with il_pgoutput_arena_destroy(). */
il_pgoutput_arena *il_pgoutput_arena_new(void);
/** Frees an arena from il_pgoutput_arena_new(); NULL is a no-op. */
void il_pgoutput_arena_destroy(il_pgoutput_arena *arena);

/**
 * @brief Decodes one pgoutput protocol version 1 message, @p len bytes at
 * @p buf (an XLogData's data), into @p out.
 * Strings and values in @p out point into @p buf, arrays into @p arena: both
 * must outlive the use of @p out.
 * @returns IL_OK; an IL_ERR_DECODE class code when the message is short
 * (IL_ERR_DECODE_SHORT), has bytes left over (IL_ERR_DECODE_TRAILING), has
 * more entries than @p arena holds (IL_ERR_DECODE_TOOBIG) or is otherwise
 * malformed or of an unknown type (IL_ERR_DECODE), with the message, the
 * field and its offset in @p errbuf.  @p out is undefined on failure.
 */
__attribute__((warn_unused_result))
il_err il_pgoutput_decode(const void *buf, size_t len, il_pgoutput_arena *arena,
    il_pgoutput_msg *out, char *errbuf, size_t errsz);

/** @returns the protocol name of @p type ("Begin", "Update"), "unknown" for others. */
const char *il_pgoutput_type_name(il_pgoutput_type type);

/* ---- relation cache ---- */

typedef struct il_pgoutput_relcache il_pgoutput_relcache;

/** @returns an empty cache; free with il_pgoutput_relcache_destroy(). */
il_pgoutput_relcache *il_pgoutput_relcache_new(void);
/** Frees @p cache and every relation in it; NULL is a no-op. */
void il_pgoutput_relcache_destroy(il_pgoutput_relcache *cache);
/**
 * @brief Stores a copy of @p rel (its strings and columns included, so the
 * message's input may go), replacing the relation of the same id.
 * @returns the cache's copy, valid until the next put of the same id or the
 * cache's destruction.
 */
const il_pgoutput_relation *il_pgoutput_relcache_put(il_pgoutput_relcache *cache,
    const il_pgoutput_relation *rel);
/** @returns the relation of @p relid, NULL when none was put (same lifetime as put's). */
const il_pgoutput_relation *il_pgoutput_relcache_get(const il_pgoutput_relcache *cache,
    uint32_t relid);
/** @returns the number of relations in @p cache. */
size_t il_pgoutput_relcache_count(const il_pgoutput_relcache *cache);
/** @returns the index of the column named @p name in @p rel, -1 when it has none. */
int il_pgoutput_relation_column(const il_pgoutput_relation *rel, const char *name);

/* ---- LSNs and times ---- */

/**
 * @brief Writes @p lsn as PostgreSQL does ("16/B374D848": upper and lower 32
 * bits in upper-case hex) into @p buf of IL_PGOUTPUT_LSN_LEN bytes.
 * @returns @p buf.
 */
char *il_pgoutput_lsn_format(uint64_t lsn, char buf[IL_PGOUTPUT_LSN_LEN]);
/**
 * @brief Parses all of @p text as "X/X" (1 to 8 hex digits each side, either case).
 * @returns true with @p lsn set; false, @p lsn untouched, when malformed.
 */
bool il_pgoutput_lsn_parse(const char *text, uint64_t *lsn);

/** @returns @p pgtime (PostgreSQL epoch, us) as microseconds since 1970-01-01. */
int64_t il_pgoutput_time_to_unix_us(int64_t pgtime);
/** @returns @p unix_us (us since 1970-01-01) as PostgreSQL epoch microseconds. */
int64_t il_pgoutput_time_from_unix_us(int64_t unix_us);

#endif
