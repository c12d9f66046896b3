/*
 * it_pgrepl.c - common/pgrepl.c against a real PostgreSQL 15
 * (wal_level=logical), in the fresh database the libpq environment names
 * (see 0320-pgrepl.sh).
 *
 * Checks: the settings check passes; the publication is created (and found
 * again); a replication connection identifies the system; the slot is
 * created with an exported snapshot another connection imports while the
 * replication connection is idle (it sees the rows before the slot, not the
 * one after); a second creation reports the slot as existing; the slot holds
 * WAL back; streaming from the consistent point yields Insert, Update (old
 * row under REPLICA IDENTITY FULL) and Delete in their transactions; a status
 * update moves confirmed_flush_lsn to the last commit's end; keepalives that
 * ask for a reply are answered and the connection outlives
 * wal_sender_timeout; a new connection started from 0/0 resends nothing
 * acknowledged; a terminated walsender reads as transient; a role without
 * REPLICATION gets a message naming it and the fix.
 *
 * usage: it_pgrepl SLOT ROLE
 * SLOT is the slot to create, ROLE a role to create without REPLICATION; the
 * program drops both.  Prints one "PASS name" or "FAIL name: reason" line
 * per check; exits 1 when any check failed.
 */
#include <inttypes.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <libpq-fe.h>

#include "pgoutput.h"
#include "pgrepl.h"
#include "xalloc.h"

#define IT_NAME "pgrepl"
#include "itcheck.h"

#define PUB "It Pub"                     /* needs quoting everywhere */
/* a short wal_sender_timeout, so keepalives ask for replies within seconds */
#define REPL_CONNINFO "options='-c wal_sender_timeout=2000'"

static void
sleep_ms(long ms)
{
	struct timespec ts = { ms / 1000, (ms % 1000) * 1000000L };

	nanosleep(&ts, NULL);
}

/* What reading a stream until a number of commits saw. */
typedef struct seen {
	char seq[64];                   /* message types in order */
	int n;
	uint64_t first_begin_final;     /* final LSN of the first Begin */
	uint64_t last_end;              /* end LSN of the last Commit */
	char ins[32], upd_old[32], upd_new[32], del_old[32]; /* "id,state" of the changes */
	int keepalives, replies;        /* keepalives seen, of them asking a reply */
} seen;

/* "id,state" of a 2-column tuple. */
static void
tuple_text(const il_pgoutput_tuple *t, char *out, size_t outsz)
{
	if (t->ncols != 2 || t->values[0].kind != IL_PGOUTPUT_TEXT || t->values[1].kind != IL_PGOUTPUT_TEXT) {
		snprintf(out, outsz, "?");
		return;
	}
	snprintf(out, outsz, "%.*s,%.*s", (int)t->values[0].len, t->values[0].data,
	    (int)t->values[1].len, t->values[1].data);
}

/*
 * Reads @p r until @p commits Commit messages came (or 10 s passed),
 * answering keepalives that ask for a reply with @p acked.
 * @returns IL_OK, or the failure of a read or decode.
 */
static il_err
read_commits(il_pgrepl *r, int commits, uint64_t acked, il_pgoutput_arena *arena, seen *s,
    char *err, size_t errsz)
{
	time_t until = time(NULL) + 10;
	il_pgoutput_copydata cd;
	il_pgoutput_msg m;
	int got = 0;
	il_err rc;

	memset(s, 0, sizeof(*s));
	while (got < commits && time(NULL) < until) {
		rc = il_pgrepl_read(r, 500, &cd, err, errsz);
		if (rc == IL_ERR_TIMEOUT)
			continue;
		if (rc != IL_OK)
			return rc;
		if (cd.kind == 'k') {
			s->keepalives++;
			if (cd.reply_requested) {
				s->replies++;
				rc = il_pgrepl_send_status(r, acked, acked, acked, false, err, errsz);
				if (rc != IL_OK)
					return rc;
			}
			continue;
		}
		rc = il_pgoutput_decode(cd.data, cd.len, arena, &m, err, errsz);
		if (rc != IL_OK)
			return rc;
		if ((size_t)s->n < sizeof(s->seq) - 1)
			s->seq[s->n++] = (char)m.type;
		switch (m.type) {
		case IL_PGOUTPUT_BEGIN:
			if (s->first_begin_final == 0)
				s->first_begin_final = m.u.begin.final_lsn;
			break;
		case IL_PGOUTPUT_COMMIT:
			s->last_end = m.u.commit.end_lsn;
			got++;
			break;
		case IL_PGOUTPUT_INSERT:
			tuple_text(&m.u.change.new_tuple, s->ins, sizeof(s->ins));
			break;
		case IL_PGOUTPUT_UPDATE:
			tuple_text(&m.u.change.old_tuple, s->upd_old, sizeof(s->upd_old));
			tuple_text(&m.u.change.new_tuple, s->upd_new, sizeof(s->upd_new));
			break;
		case IL_PGOUTPUT_DELETE:
			tuple_text(&m.u.change.old_tuple, s->del_old, sizeof(s->del_old));
			break;
		default:
			break;
		}
	}
	if (got < commits) {
		snprintf(err, errsz, "%d of %d commits within 10 s (seen \"%s\")", got, commits, s->seq);
		return IL_ERR_TIMEOUT;
	}
	return IL_OK;
}

int
main(int argc, char **argv)
{
	const char *tables[] = { "public.t", NULL };
	const char *slot, *role;
	il_pgoutput_arena *arena = il_pgoutput_arena_new();
	il_pgrepl *r = NULL;
	PGconn *conn = NULL, *snap = NULL;
	PGresult *res = NULL;
	il_pgrepl_slot info;
	char err[512], sql[512], snapshot[IL_PGREPL_SNAPSHOT_LEN];
	uint64_t consistent = 0, acked;
	bool created = false, existed = false, alive;
	il_pgoutput_copydata cd;
	time_t until;
	seen s;
	il_err rc;
	int i;

	if (argc != 3) {
		fprintf(stderr, "usage: it_pgrepl SLOT ROLE\n");
		return 2;
	}
	slot = argv[1];
	role = argv[2];
	conn = PQconnectdb("");
	if (PQstatus(conn) != CONNECTION_OK) {
		it_check(false, "connect", "%s", PQerrorMessage(conn));
		goto out;
	}
	/* the harness runs with synchronous_commit off, and a walsender sends
	 * only WAL already flushed: each commit here must flush its WAL */
	if (!it_exec_ok(conn, "SET synchronous_commit = on") ||
	    !it_exec_ok(conn, "CREATE TABLE t (id int PRIMARY KEY, state text)") ||
	    !it_exec_ok(conn, "ALTER TABLE t REPLICA IDENTITY FULL") ||
	    !it_exec_ok(conn, "INSERT INTO t VALUES (1, 'draft'), (2, 'draft')")) {
		it_check(false, "setup", "could not create the table");
		goto out;
	}

	rc = il_pgrepl_check("", err, sizeof(err));
	it_check(rc == IL_OK, "check", "%s", err);

	rc = il_pgrepl_ensure_publication(conn, PUB, tables, &created, err, sizeof(err));
	it_check(rc == IL_OK && created, "publication-created", "rc %d created %d: %s", rc, created, err);
	rc = il_pgrepl_ensure_publication(conn, PUB, tables, &created, err, sizeof(err));
	it_check(rc == IL_OK && !created, "publication-exists", "rc %d created %d: %s", rc, created, err);

	rc = il_pgrepl_connect(REPL_CONNINFO, &r, err, sizeof(err));
	if (rc != IL_OK) {
		it_check(false, "repl-connect", "%s", err);
		goto out;
	}
	it_check(strcmp(il_pgrepl_system_info(r)->dbname, PQdb(conn)) == 0 &&
	    il_pgrepl_system_info(r)->timeline >= 1 && il_pgrepl_system_info(r)->xlogpos > 0 &&
	    il_pgrepl_system_info(r)->systemid[0] != '\0', "identify-system", "dbname \"%s\"",
	    il_pgrepl_system_info(r)->dbname);

	rc = il_pgrepl_create_slot(r, slot, true, snapshot, &consistent, &existed, err, sizeof(err));
	it_check(rc == IL_OK && !existed && snapshot[0] != '\0' && consistent > 0, "slot-created",
	    "rc %d existed %d snapshot \"%s\": %s", rc, existed, snapshot, err);
	if (rc != IL_OK || existed)
		goto close;

	/* T1 after the slot: streamed, and not in the exported snapshot */
	it_check(it_exec_ok(conn, "INSERT INTO t VALUES (3, 'draft')"), "insert", "insert failed");
	snap = PQconnectdb("");
	snprintf(sql, sizeof(sql), "SET TRANSACTION SNAPSHOT '%s'", snapshot);
	it_check(PQstatus(snap) == CONNECTION_OK &&
	    it_exec_ok(snap, "BEGIN ISOLATION LEVEL REPEATABLE READ") && it_exec_ok(snap, sql),
	    "snapshot-import", "%s", PQerrorMessage(snap));
	res = PQexec(snap, "SELECT count(*) FROM t");
	it_check(PQresultStatus(res) == PGRES_TUPLES_OK && strcmp(PQgetvalue(res, 0, 0), "2") == 0,
	    "snapshot-rows", "the snapshot sees %s rows, not the 2 before the slot",
	    PQresultStatus(res) == PGRES_TUPLES_OK ? PQgetvalue(res, 0, 0) : "?");
	PQclear(res);
	res = NULL;
	(void)it_exec_ok(snap, "COMMIT");
	PQfinish(snap);
	snap = NULL;

	/* T2, T3 */
	it_check(it_exec_ok(conn, "UPDATE t SET state = 'enrolled' WHERE id = 1") &&
	    it_exec_ok(conn, "DELETE FROM t WHERE id = 2"), "changes", "update or delete failed");

	rc = il_pgrepl_create_slot(r, slot, false, snapshot, &consistent, &existed, err, sizeof(err));
	it_check(rc == IL_OK && existed && consistent == 0, "slot-exists", "rc %d existed %d: %s",
	    rc, existed, err);
	/* the earlier call's consistent point is what the slot says */
	rc = il_pgrepl_slot_info(conn, slot, &info, err, sizeof(err));
	it_check(rc == IL_OK && strcmp(info.plugin, "pgoutput") == 0 && !info.active &&
	    info.retained_bytes > 0 && info.confirmed_flush_lsn > 0, "slot-info-retained",
	    "rc %d plugin \"%s\" retained %lld: %s", rc, info.plugin, (long long)info.retained_bytes, err);
	consistent = info.confirmed_flush_lsn;
	rc = il_pgrepl_slot_info(conn, "it_pgrepl_no_such_slot", &info, err, sizeof(err));
	it_check(rc == IL_ERR_NOTFOUND, "slot-info-missing", "rc %d", rc);

	rc = il_pgrepl_start(r, slot, consistent, PUB, err, sizeof(err));
	if (rc != IL_OK) {
		it_check(false, "start", "%s", err);
		goto close;
	}
	rc = read_commits(r, 3, consistent, arena, &s, err, sizeof(err));
	it_check(rc == IL_OK && strcmp(s.seq, "BRICBUCBDC") == 0, "stream-sequence",
	    "rc %d sequence \"%s\": %s", rc, s.seq, err);
	it_check(strcmp(s.ins, "3,draft") == 0 && strcmp(s.upd_old, "1,draft") == 0 &&
	    strcmp(s.upd_new, "1,enrolled") == 0 && strcmp(s.del_old, "2,draft") == 0,
	    "stream-values", "insert \"%s\" update \"%s\" -> \"%s\" delete \"%s\"",
	    s.ins, s.upd_old, s.upd_new, s.del_old);
	if (rc != IL_OK)
		goto close;

	/* acknowledge up to the last commit's end */
	acked = s.last_end;
	rc = il_pgrepl_send_status(r, acked, acked, acked, false, err, sizeof(err));
	it_check(rc == IL_OK, "status-sent", "%s", err);
	until = time(NULL) + 10;
	do {
		if (il_pgrepl_read(r, 200, &cd, err, sizeof(err)) == IL_OK && cd.kind == 'k' &&
		    cd.reply_requested &&
		    il_pgrepl_send_status(r, acked, acked, acked, false, err, sizeof(err)) != IL_OK)
			break;
		rc = il_pgrepl_slot_info(conn, slot, &info, err, sizeof(err));
	} while (rc == IL_OK && info.confirmed_flush_lsn < acked && time(NULL) < until);
	it_check(rc == IL_OK && info.confirmed_flush_lsn == acked && info.active, "status-confirmed",
	    "confirmed_flush_lsn %" PRIu64 ", acknowledged %" PRIu64, info.confirmed_flush_lsn, acked);

	/* Keepalives: with wal_sender_timeout at 2 s the server asks for a
	 * reply after 1 s of silence, and ends a connection that does not
	 * answer within 2 s; answered, it is still alive after 4 s. */
	until = time(NULL) + 4;
	memset(&s, 0, sizeof(s));
	alive = true;
	while (time(NULL) < until) {
		rc = il_pgrepl_read(r, 500, &cd, err, sizeof(err));
		if (rc == IL_ERR_TIMEOUT)
			continue;
		if (rc != IL_OK) {
			alive = false;
			break;
		}
		if (cd.kind == 'k' && cd.reply_requested) {
			s.replies++;
			if (il_pgrepl_send_status(r, acked, acked, acked, false, err, sizeof(err)) != IL_OK) {
				alive = false;
				break;
			}
		}
	}
	it_check(alive && s.replies >= 1, "keepalive-answered", "alive %d, %d keepalives asked a reply: %s",
	    alive, s.replies, err);
	il_pgrepl_close(r);
	r = NULL;

	/* T4 while nobody streams; a new connection from 0/0 resumes after
	 * the acknowledged position: only T4 arrives */
	it_check(it_exec_ok(conn, "INSERT INTO t VALUES (4, 'draft')"), "insert-2", "insert failed");
	rc = il_pgrepl_connect(REPL_CONNINFO, &r, err, sizeof(err));
	if (rc == IL_OK) {
		/* the previous walsender may still be letting the slot go */
		for (i = 0; i < 50; i++) {
			rc = il_pgrepl_start(r, slot, 0, PUB, err, sizeof(err));
			if (rc != IL_ERR_TRANSIENT)
				break;
			sleep_ms(200);
		}
	}
	it_check(rc == IL_OK, "restart", "%s", err);
	if (rc != IL_OK)
		goto close;
	rc = read_commits(r, 1, acked, arena, &s, err, sizeof(err));
	it_check(rc == IL_OK && strcmp(s.seq, "BRIC") == 0 && strcmp(s.ins, "4,draft") == 0 &&
	    s.first_begin_final > acked, "resume-after-ack", "rc %d sequence \"%s\" insert \"%s\": %s",
	    rc, s.seq, s.ins, err);

	/* the server going away reads as transient */
	snprintf(sql, sizeof(sql), "SELECT pg_terminate_backend(active_pid) FROM pg_replication_slots "
	    "WHERE slot_name = '%s'", slot);
	it_check(it_exec_ok(conn, sql), "terminate", "could not terminate the walsender");
	until = time(NULL) + 10;
	do
		rc = il_pgrepl_read(r, 500, &cd, err, sizeof(err));
	while ((rc == IL_OK || rc == IL_ERR_TIMEOUT) && time(NULL) < until);
	it_check(rc == IL_ERR_TRANSIENT, "server-gone-transient", "rc %d: %s", rc, err);
	rc = il_pgrepl_read(r, 0, &cd, err, sizeof(err));
	it_check(rc == IL_ERR_INVALID, "read-after-end", "rc %d", rc);

	/* a role without REPLICATION */
	snprintf(sql, sizeof(sql), "CREATE ROLE \"%s\" LOGIN", role);
	if (it_exec_ok(conn, sql)) {
		il_pgrepl *bad = NULL;
		char cinfo[256];

		snprintf(cinfo, sizeof(cinfo), "user=%s", role);
		rc = il_pgrepl_check(cinfo, err, sizeof(err));
		it_check(rc == IL_ERR_PERMANENT && strstr(err, "REPLICATION") != NULL &&
		    strstr(err, "ALTER ROLE") != NULL, "check-no-replication", "rc %d: %s", rc, err);
		rc = il_pgrepl_connect(cinfo, &bad, err, sizeof(err));
		it_check(rc == IL_ERR_PERMANENT && bad == NULL && strstr(err, "REPLICATION") != NULL &&
		    strstr(err, role) != NULL, "connect-no-replication", "rc %d: %s", rc, err);
		printf("# %s\n", err);
		il_pgrepl_close(bad);
		snprintf(sql, sizeof(sql), "DROP ROLE \"%s\"", role);
		(void)it_exec_ok(conn, sql);
	} else {
		it_check(false, "no-replication-role", "could not create role \"%s\"", role);
	}

close:
	il_pgrepl_close(r);
	r = NULL;
	/* the walsender may take a moment to let the slot go */
	snprintf(sql, sizeof(sql), "SELECT pg_drop_replication_slot(slot_name) FROM pg_replication_slots "
	    "WHERE slot_name = '%s'", slot);
	for (i = 0; i < 50; i++) {
		res = PQexec(conn, sql);
		if (PQresultStatus(res) == PGRES_TUPLES_OK)
			break;
		PQclear(res);
		res = NULL;
		sleep_ms(200);
	}
	it_check(res != NULL, "drop-slot", "could not drop slot \"%s\": %s", slot, PQerrorMessage(conn));
out:
	PQclear(res);
	PQfinish(snap);
	PQfinish(conn);
	il_pgrepl_close(r);
	il_pgoutput_arena_destroy(arena);
	return it_failures > 0 ? 1 : 0;
}
