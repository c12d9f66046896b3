/*
 * it_pgoutput.c - common/pgoutput.c against the pgoutput plugin of a real
 * PostgreSQL 15 (wal_level=logical).
 *
 * In the database the libpq environment names (PGHOST, PGPORT, PGUSER,
 * PGDATABASE: a fresh one, see 0310-pgoutput.sh) it creates a table with
 * REPLICA IDENTITY FULL and one with DEFAULT, a publication and a logical
 * slot (pgoutput), makes changes (inserts with NULLs and non-ASCII text, a
 * long out-of-line TOASTed value left unchanged by updates, an update of the
 * key, a column added between changes, deletes), then reads the slot's
 * binary changes (proto_version 1) and decodes every message: the sequence
 * of messages, the previous values under FULL, the old key under DEFAULT,
 * unchanged TOAST marked 'u', the relation sent again after the ALTER, LSNs
 * that agree with the server's.  The slot is dropped at the end.
 *
 * usage: it_pgoutput
 * Prints one "PASS name" or "FAIL name: reason" line per check; exits 1 when
 * any check failed.
 */
#include <stdarg.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include <libpq-fe.h>

#include "pgoutput.h"
#include "xalloc.h"

#define IT_NAME "pgoutput"
#include "itcheck.h"

#define BIG_LEN 10000           /* bytes of the TOASTed value */
#define NAME_UTF8 "Zo\xc3\xab \xc3\x91" "and\xc3\xba \xe5\xb1\xb1\xe7\x94\xb0"

/* One decoded change, as the checks need it. */
typedef struct change {
	char type;                      /* message type */
	char rel[64];                   /* relation name from the cache */
	char old_kind;                  /* 0, 'K', 'O' */
	il_pgoutput_tuple oldt, newt;   /* values copied below */
	il_pgoutput_value oldv[8], newv[8];
	int ncols;                      /* columns of the relation when a Relation */
	bool has_extra;                 /* Relation names column "extra" */
} change;

static void
copy_tuple(const il_pgoutput_tuple *t, il_pgoutput_value *dst, il_pgoutput_tuple *out)
{
	uint16_t i, n = t->ncols < 8 ? t->ncols : 8;

	for (i = 0; i < n; i++)
		dst[i] = t->values[i];
	out->ncols = n;
	out->values = dst;
}

/* @returns whether value @p i of @p t is text equal to @p s. */
static bool
is_text(const il_pgoutput_tuple *t, int i, const char *s)
{
	const il_pgoutput_value *v;

	if (i >= t->ncols)
		return false;
	v = &t->values[i];
	return v->kind == IL_PGOUTPUT_TEXT && v->len == strlen(s) && memcmp(v->data, s, v->len) == 0;
}

static char
kind_of(const il_pgoutput_tuple *t, int i)
{
	return i < t->ncols ? (char)t->values[i].kind : '?';
}

int
main(void)
{
	PGconn *conn;                   /* the regular connection */
	PGresult *res = NULL;           /* the slot's changes, kept: values point into it */
	il_pgoutput_arena *arena = il_pgoutput_arena_new();
	il_pgoutput_relcache *cache = il_pgoutput_relcache_new();
	change *ch = NULL;              /* one per message */
	char seq[256] = "";             /* message types in order */
	char slot[64], sql[512], err[256], lsnbuf[IL_PGOUTPUT_LSN_LEN];
	const char *params[1];
	uint64_t last_end = 0, begin_final = 0, server_lsn = 0;
	bool lsn_order = true, lsn_pair = true, times_ok = true;
	int nrows = 0, i, bad = -1;
	il_err rc = IL_OK;

	snprintf(slot, sizeof(slot), "it_pgoutput_%ld", (long)getpid());
	conn = PQconnectdb("");
	if (PQstatus(conn) != CONNECTION_OK) {
		it_check(false, "connect", "%s", PQerrorMessage(conn));
		goto out;
	}
	/* the harness runs with synchronous_commit off, and decoding reads
	 * only WAL already flushed: each commit here must flush its WAL */
	if (!it_exec_ok(conn, "SET synchronous_commit = on") ||
	    !it_exec_ok(conn, "CREATE TABLE t_full (id int PRIMARY KEY, state text, note text)") ||
	    !it_exec_ok(conn, "ALTER TABLE t_full REPLICA IDENTITY FULL") ||
	    !it_exec_ok(conn, "CREATE TABLE t_def (id int PRIMARY KEY, name text, big text)") ||
	    /* out of line and uncompressed, so the value surely is TOASTed */
	    !it_exec_ok(conn, "ALTER TABLE t_def ALTER big SET STORAGE EXTERNAL") ||
	    !it_exec_ok(conn, "CREATE PUBLICATION it_pub FOR TABLE t_full, t_def")) {
		it_check(false, "setup", "could not create the tables and the publication");
		goto out;
	}
	snprintf(sql, sizeof(sql),
	    "SELECT pg_create_logical_replication_slot('%s', 'pgoutput')", slot);
	if (!it_exec_ok(conn, sql)) {
		it_check(false, "slot", "could not create slot \"%s\"", slot);
		goto out;
	}
	snprintf(sql, sizeof(sql),
	    "INSERT INTO t_def VALUES (1, '%s', repeat('x', %d))", NAME_UTF8, BIG_LEN);
	if (!it_exec_ok(conn, "INSERT INTO t_full VALUES (1, 'draft', NULL)") ||            /* T1 */
	    !it_exec_ok(conn, sql) ||                                                        /* T2 */
	    !it_exec_ok(conn, "UPDATE t_full SET state = 'enrolled' WHERE id = 1") ||       /* T3 */
	    !it_exec_ok(conn, "UPDATE t_def SET name = 'renamed' WHERE id = 1") ||          /* T4 */
	    !it_exec_ok(conn, "UPDATE t_def SET id = 2 WHERE id = 1") ||                    /* T5 */
	    !it_exec_ok(conn, "ALTER TABLE t_full ADD COLUMN extra text") ||                /* no change */
	    !it_exec_ok(conn, "INSERT INTO t_full VALUES (2, 'draft', NULL, 'new')") ||     /* T6 */
	    !it_exec_ok(conn, "BEGIN") ||                                                    /* T7 */
	    !it_exec_ok(conn, "DELETE FROM t_full WHERE id = 1") ||
	    !it_exec_ok(conn, "DELETE FROM t_def WHERE id = 2") ||
	    !it_exec_ok(conn, "COMMIT")) {
		it_check(false, "changes", "could not make the changes");
		goto drop;
	}

	snprintf(sql, sizeof(sql),
	    "SELECT data FROM pg_logical_slot_get_binary_changes($1, NULL, NULL, "
	    "'proto_version', '1', 'publication_names', 'it_pub')");
	params[0] = slot;
	/* binary results: the bytea arrives as the message's bytes */
	res = PQexecParams(conn, sql, 1, NULL, params, NULL, NULL, 1);
	if (PQresultStatus(res) != PGRES_TUPLES_OK || PQnfields(res) != 1) {
		it_check(false, "read", "got %d fields: %s", PQnfields(res), PQerrorMessage(conn));
		goto drop;
	}
	nrows = PQntuples(res);
	ch = il_xcalloc((size_t)nrows + 1, sizeof(*ch));
	for (i = 0; i < nrows; i++) {
		il_pgoutput_msg m;
		const il_pgoutput_relation *rel;

		rc = il_pgoutput_decode(PQgetvalue(res, i, 0), (size_t)PQgetlength(res, i, 0),
		    arena, &m, err, sizeof(err));
		if (rc != IL_OK) {
			bad = i;
			break;
		}
		ch[i].type = (char)m.type;
		if ((size_t)i < sizeof(seq) - 1)
			seq[i] = (char)m.type;
		switch (m.type) {
		case IL_PGOUTPUT_BEGIN:
			begin_final = m.u.begin.final_lsn;
			/* commit times within a day of now: the epoch conversion holds */
			if (llabs(il_pgoutput_time_to_unix_us(m.u.begin.commit_time) / 1000000 -
			    (long long)time(NULL)) > 86400)
				times_ok = false;
			break;
		case IL_PGOUTPUT_COMMIT:
			if (m.u.commit.end_lsn <= last_end || m.u.commit.end_lsn <= m.u.commit.commit_lsn)
				lsn_order = false;
			if (m.u.commit.commit_lsn != begin_final)
				lsn_pair = false;
			last_end = m.u.commit.end_lsn;
			break;
		case IL_PGOUTPUT_RELATION:
			rel = il_pgoutput_relcache_put(cache, &m.u.relation);
			snprintf(ch[i].rel, sizeof(ch[i].rel), "%s", rel->relname);
			ch[i].ncols = rel->ncols;
			ch[i].has_extra = il_pgoutput_relation_column(rel, "extra") == 3;
			break;
		case IL_PGOUTPUT_INSERT:
		case IL_PGOUTPUT_UPDATE:
		case IL_PGOUTPUT_DELETE:
			rel = il_pgoutput_relcache_get(cache, m.u.change.relid);
			snprintf(ch[i].rel, sizeof(ch[i].rel), "%s", rel != NULL ? rel->relname : "?");
			ch[i].old_kind = m.u.change.old_kind;
			copy_tuple(&m.u.change.old_tuple, ch[i].oldv, &ch[i].oldt);
			copy_tuple(&m.u.change.new_tuple, ch[i].newv, &ch[i].newt);
			break;
		default:
			break;
		}
	}
	it_check(bad < 0, "decode-all", "message %d of %d: %s (%s)", bad, nrows, err, il_err_str(rc));
	if (bad >= 0)
		goto drop;

	/* T1..T7; the ALTER's transaction has no change and is skipped */
	it_check(strcmp(seq, "BRICBRICBUCBUCBUCBRICBDDC") == 0, "sequence",
	    "got \"%s\", expected \"BRICBRICBUCBUCBUCBRICBDDC\"", seq);
	it_check(lsn_order && lsn_pair, "lsns", "commit LSNs out of order (%d) or not the begin's (%d)",
	    lsn_order, lsn_pair);
	it_check(times_ok, "commit-times", "a commit time is not within a day of now");
	if (strcmp(seq, "BRICBRICBUCBUCBUCBRICBDDC") != 0)
		goto drop;

	it_check(strcmp(ch[1].rel, "t_full") == 0 && ch[1].ncols == 3, "relation-full",
	    "got \"%s\" with %d columns", ch[1].rel, ch[1].ncols);
	it_check(strcmp(ch[2].rel, "t_full") == 0 && is_text(&ch[2].newt, 0, "1") &&
	    is_text(&ch[2].newt, 1, "draft") && kind_of(&ch[2].newt, 2) == 'n' &&
	    ch[2].old_kind == 0, "insert-null", "insert of t_full not (1, draft, NULL)");
	it_check(strcmp(ch[6].rel, "t_def") == 0 && is_text(&ch[6].newt, 1, NAME_UTF8) &&
	    ch[6].newt.ncols == 3 && ch[6].newt.values[2].len == BIG_LEN, "insert-utf8-toast",
	    "insert of t_def: name or big value wrong");
	it_check(ch[9].old_kind == 'O' && is_text(&ch[9].oldt, 1, "draft") &&
	    kind_of(&ch[9].oldt, 2) == 'n' && is_text(&ch[9].newt, 1, "enrolled"),
	    "update-full-old", "old kind %d, old state/new state wrong", ch[9].old_kind);
	it_check(ch[12].old_kind == 0 && ch[12].oldt.ncols == 0 && is_text(&ch[12].newt, 1, "renamed") &&
	    kind_of(&ch[12].newt, 2) == 'u', "update-default-unchanged-toast",
	    "old kind %d, big kind '%c'", ch[12].old_kind, kind_of(&ch[12].newt, 2));
	it_check(ch[15].old_kind == 'K' && is_text(&ch[15].oldt, 0, "1") &&
	    kind_of(&ch[15].oldt, 1) == 'n' && kind_of(&ch[15].oldt, 2) == 'n' &&
	    is_text(&ch[15].newt, 0, "2") && kind_of(&ch[15].newt, 2) == 'u', "update-key",
	    "old kind %d, old key or new key wrong", ch[15].old_kind);
	it_check(strcmp(ch[18].rel, "t_full") == 0 && ch[18].ncols == 4 && ch[18].has_extra,
	    "relation-resent-after-alter", "got \"%s\" with %d columns", ch[18].rel, ch[18].ncols);
	it_check(ch[19].newt.ncols == 4 && is_text(&ch[19].newt, 3, "new") &&
	    il_pgoutput_relcache_count(cache) == 2, "insert-new-column",
	    "%d values, cache of %zu", ch[19].newt.ncols, il_pgoutput_relcache_count(cache));
	it_check(strcmp(ch[22].rel, "t_full") == 0 && ch[22].old_kind == 'O' &&
	    is_text(&ch[22].oldt, 1, "enrolled") && ch[22].newt.ncols == 0, "delete-full",
	    "old kind %d", ch[22].old_kind);
	it_check(strcmp(ch[23].rel, "t_def") == 0 && ch[23].old_kind == 'K' &&
	    is_text(&ch[23].oldt, 0, "2") && kind_of(&ch[23].oldt, 1) == 'n', "delete-key",
	    "old kind %d", ch[23].old_kind);

	/* the LSN text agrees with the server's in both directions */
	PQclear(res);
	res = NULL;
	params[0] = il_pgoutput_lsn_format(last_end, lsnbuf);
	res = PQexecParams(conn, "SELECT $1::pg_lsn::text, pg_current_wal_lsn()::text",
	    1, NULL, params, NULL, NULL, 0);
	it_check(PQresultStatus(res) == PGRES_TUPLES_OK && PQntuples(res) == 1 &&
	    strcmp(PQgetvalue(res, 0, 0), lsnbuf) == 0 &&
	    il_pgoutput_lsn_parse(PQgetvalue(res, 0, 1), &server_lsn) && server_lsn >= last_end,
	    "lsn-text", "\"%s\" against the server's: %s", lsnbuf, PQerrorMessage(conn));

drop:
	PQclear(res);
	res = NULL;
	snprintf(sql, sizeof(sql), "SELECT pg_drop_replication_slot('%s')", slot);
	it_check(it_exec_ok(conn, sql), "drop-slot", "could not drop slot \"%s\"", slot);
out:
	PQclear(res);
	PQfinish(conn);
	free(ch);
	il_pgoutput_relcache_destroy(cache);
	il_pgoutput_arena_destroy(arena);
	return it_failures > 0 ? 1 : 0;
}
