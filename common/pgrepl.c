/*
 * pgrepl.c - the replication connection of a logical slot (see pgrepl.h).
 */
#include <errno.h>
#include <inttypes.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "pgrepl.h"
#include "text.h"
#include "xalloc.h"

struct il_pgrepl {
	PGconn *conn;                   /* the replication connection */
	il_pgrepl_system sys;           /* IDENTIFY_SYSTEM's answer */
	char *buf;                      /* the last CopyData read, freed at the next read */
	bool streaming;                 /* in COPY BOTH after START_REPLICATION */
};


/* SQLSTATEs after which trying again later can succeed: connection
 * failures (08), shutdowns and crashes (57P01-57P05), resources (53), a
 * slot streamed by another process (55006), serialization (40). */
static bool
transient_state(const char *state)
{
	if (state == NULL)
		return false;
	return strncmp(state, "08", 2) == 0 || strncmp(state, "57P", 3) == 0 ||
	    strncmp(state, "53", 2) == 0 || strncmp(state, "40", 2) == 0 ||
	    strcmp(state, "55006") == 0;
}

/* Writes "what: reason (SQLSTATE x)" for a failed command on @p conn.
 * @returns IL_ERR_TRANSIENT when the connection is gone or the state is
 * worth retrying, IL_ERR_PERMANENT otherwise. */
static il_err
pg_fail(PGconn *conn, const PGresult *res, const char *what, char *errbuf, size_t errsz)
{
	const char *state = res != NULL ? PQresultErrorField(res, PG_DIAG_SQLSTATE) : NULL;
	const char *msg = res != NULL ? PQresultErrorField(res, PG_DIAG_MESSAGE_PRIMARY) : NULL;
	bool gone = conn == NULL || PQstatus(conn) != CONNECTION_OK;
	char line[512];

	if (msg == NULL && conn != NULL && PQerrorMessage(conn)[0] != '\0')
		msg = PQerrorMessage(conn);
	if (msg == NULL)
		msg = res != NULL ? PQresStatus(PQresultStatus(res)) : "no answer from the server";
	il_text_one_line(msg, line, sizeof(line));
	if (state != NULL)
		il_err_setf(errbuf, errsz, "%s: %s (SQLSTATE %s)", what, line, state);
	else
		il_err_setf(errbuf, errsz, "%s: %s", what, line);
	if (gone || res == NULL || transient_state(state))
		return IL_ERR_TRANSIENT;
	return IL_ERR_PERMANENT;
}

/* Connects with @p conninfo, as a replication connection when
 * @p replication.  @returns IL_OK with @p *out set, IL_ERR_CONFIG for a
 * malformed string, IL_ERR_TRANSIENT with libpq's reason otherwise (the
 * failed connection is kept in @p *out for its message; the caller
 * finishes it). */
static il_err
open_conn(const char *conninfo, bool replication, PGconn **out, char *errbuf, size_t errsz)
{
	/*
	 * Defaults first, then the caller's string (expand_dbname), then what
	 * must hold whatever the string says: replication=database.  The
	 * keepalives and timeouts bound every wait on a server that vanished
	 * without a reset, as in audit.c.
	 */
	const char *keys[] = {
		"connect_timeout", "fallback_application_name", "client_encoding",
		"keepalives", "keepalives_idle", "keepalives_interval", "keepalives_count", "tcp_user_timeout",
		"options", "dbname", "replication", NULL,
	};
	const char *vals[] = {
		"10", "imislink-cdc", "UTF8",
		"1", "10", "5", "3", "30000",
		"-c DateStyle=ISO", conninfo != NULL ? conninfo : "", "database", NULL,
	};
	PQconninfoOption *opts;
	char *perr = NULL;

	*out = NULL;
	opts = PQconninfoParse(conninfo != NULL ? conninfo : "", &perr);
	if (opts == NULL) {
		/* libpq's reason quotes the string, password and all */
		il_err_setf(errbuf, errsz, "%s", perr != NULL ? "invalid connection string (see libpq's "
		    "connection string syntax; the value is not shown: it may hold a password)" :
		    "invalid connection string: out of memory");
		PQfreemem(perr);
		return IL_ERR_CONFIG;
	}
	PQconninfoFree(opts);
	if (!replication)
		keys[10] = NULL;
	*out = PQconnectdbParams(keys, vals, 1);
	if (*out == NULL) {
		il_err_setf(errbuf, errsz, "could not connect to PostgreSQL: out of memory");
		return IL_ERR_TRANSIENT;
	}
	if (PQstatus(*out) != CONNECTION_OK) {
		char line[512];

		il_text_one_line(PQerrorMessage(*out), line, sizeof(line));
		il_err_setf(errbuf, errsz, "could not connect to PostgreSQL%s: %s",
		    replication ? " for replication" : "", line);
		return IL_ERR_TRANSIENT;
	}
	return IL_OK;
}

il_err
il_pgrepl_connect_db(const char *conninfo, int statement_timeout_ms, PGconn **out, char *errbuf, size_t errsz)
{
	char sql[160];
	il_err rc;

	rc = open_conn(conninfo, false, out, errbuf, errsz);
	if (rc != IL_OK) {
		PQfinish(*out);
		*out = NULL;
		return rc;
	}
	/* Best effort: a failure here shows at the first real query. */
	snprintf(sql, sizeof(sql), "SELECT set_config('statement_timeout', '%d', false) "
	    "WHERE current_setting('statement_timeout') = '0'", statement_timeout_ms);
	PQclear(PQexec(*out, sql));
	return IL_OK;
}

il_err
il_pgrepl_check(const char *conninfo, char *errbuf, size_t errsz)
{
	static const char sql[] =
	    "SELECT current_setting('wal_level'), r.rolname, r.rolreplication, r.rolsuper, "
	    "current_setting('max_replication_slots')::int, current_setting('max_wal_senders')::int "
	    "FROM pg_roles r WHERE r.rolname = current_user";
	PGconn *conn = NULL;
	PGresult *res = NULL;
	const char *role;
	il_err rc;

	rc = open_conn(conninfo, false, &conn, errbuf, errsz);
	if (rc != IL_OK)
		goto out;
	res = PQexec(conn, sql);
	if (PQresultStatus(res) != PGRES_TUPLES_OK || PQntuples(res) != 1 || PQnfields(res) != 6) {
		rc = pg_fail(conn, res, "could not read the replication settings", errbuf, errsz);
		goto out;
	}
	role = PQgetvalue(res, 0, 1);
	if (strcmp(PQgetvalue(res, 0, 0), "logical") != 0) {
		il_err_setf(errbuf, errsz, "wal_level is \"%s\", logical replication needs \"logical\": "
		    "set wal_level = logical (ALTER SYSTEM SET wal_level = logical) and restart the server",
		    PQgetvalue(res, 0, 0));
		rc = IL_ERR_PERMANENT;
	} else if (strcmp(PQgetvalue(res, 0, 2), "t") != 0 && strcmp(PQgetvalue(res, 0, 3), "t") != 0) {
		il_err_setf(errbuf, errsz, "role \"%s\" lacks the REPLICATION attribute logical replication "
		    "needs: run ALTER ROLE \"%s\" REPLICATION as a superuser", role, role);
		rc = IL_ERR_PERMANENT;
	} else if (strtol(PQgetvalue(res, 0, 4), NULL, 10) < 1) {
		il_err_setf(errbuf, errsz, "max_replication_slots is 0, logical replication needs a slot: "
		    "set max_replication_slots to at least 1 and restart the server");
		rc = IL_ERR_PERMANENT;
	} else if (strtol(PQgetvalue(res, 0, 5), NULL, 10) < 1) {
		il_err_setf(errbuf, errsz, "max_wal_senders is 0, logical replication needs a WAL sender: "
		    "set max_wal_senders to at least 1 and restart the server");
		rc = IL_ERR_PERMANENT;
	}
out:
	PQclear(res);
	PQfinish(conn);
	return rc;
}

/* Parses IDENTIFY_SYSTEM's answer into @p sys. */
static il_err
identify(PGconn *conn, il_pgrepl_system *sys, char *errbuf, size_t errsz)
{
	PGresult *res = PQexec(conn, "IDENTIFY_SYSTEM");
	il_err rc = IL_OK;

	if (PQresultStatus(res) != PGRES_TUPLES_OK) {
		rc = pg_fail(conn, res, "could not identify the system", errbuf, errsz);
		goto out;
	}
	if (PQntuples(res) != 1 || PQnfields(res) < 4 ||
	    !il_pgoutput_lsn_parse(PQgetvalue(res, 0, 2), &sys->xlogpos)) {
		il_err_setf(errbuf, errsz, "could not identify the system: unexpected answer "
		    "(%d rows, %d fields)", PQntuples(res), PQnfields(res));
		rc = IL_ERR_PARSE;
		goto out;
	}
	snprintf(sys->systemid, sizeof(sys->systemid), "%s", PQgetvalue(res, 0, 0));
	sys->timeline = (uint32_t)strtoul(PQgetvalue(res, 0, 1), NULL, 10);
	snprintf(sys->dbname, sizeof(sys->dbname), "%s", PQgetvalue(res, 0, 3));
out:
	PQclear(res);
	return rc;
}

il_err
il_pgrepl_connect(const char *conninfo, il_pgrepl **out, char *errbuf, size_t errsz)
{
	il_pgrepl *r = il_xcalloc(1, sizeof(*r));
	char why[512];
	il_err rc;

	*out = NULL;
	rc = open_conn(conninfo, true, &r->conn, errbuf, errsz);
	if (rc == IL_ERR_CONFIG)
		goto fail;
	if (rc != IL_OK) {
		/* The walsender's refusal ("must be superuser or replication
		 * role") does not say how to fix it: a normal connection can
		 * tell which privilege or setting is missing. */
		rc = il_pgrepl_check(conninfo, why, sizeof(why));
		if (rc == IL_ERR_PERMANENT || rc == IL_ERR_CONFIG) {
			il_err_setf(errbuf, errsz, "%s", why);
			goto fail;
		}
		rc = IL_ERR_TRANSIENT;
		if (r->conn != NULL && strstr(PQerrorMessage(r->conn), "pg_hba.conf") != NULL) {
			il_text_one_line(PQerrorMessage(r->conn), why, sizeof(why));
			il_err_setf(errbuf, errsz, "could not connect to PostgreSQL for replication: %s "
			    "(a \"replication\" line in pg_hba.conf must allow the role)", why);
			rc = IL_ERR_PERMANENT;
		}
		goto fail;
	}
	rc = identify(r->conn, &r->sys, errbuf, errsz);
	if (rc != IL_OK)
		goto fail;
	*out = r;
	return IL_OK;
fail:
	il_pgrepl_close(r);
	return rc;
}

void
il_pgrepl_close(il_pgrepl *r)
{
	if (r == NULL)
		return;
	PQfreemem(r->buf);
	PQfinish(r->conn);
	free(r);
}

const il_pgrepl_system *
il_pgrepl_system_info(const il_pgrepl *r)
{
	return &r->sys;
}

/* @returns whether @p name is a slot name PostgreSQL accepts. */
static bool
slot_name_ok(const char *name)
{
	size_t i;

	if (name == NULL || name[0] == '\0' || strlen(name) > IL_PGREPL_NAME_MAX)
		return false;
	for (i = 0; name[i] != '\0'; i++)
		if (!((name[i] >= 'a' && name[i] <= 'z') || (name[i] >= '0' && name[i] <= '9') ||
		    name[i] == '_'))
			return false;
	return true;
}

/* @returns "schema"."table" (or "table") for @p table, quoted for SQL; NULL
 * when libpq refuses a part (bad encoding). Free with free(). */
static char *
quote_table(PGconn *conn, const char *table)
{
	const char *dot = strchr(table, '.');
	char *schema = NULL, *name = NULL, *qs = NULL, *qn = NULL, *out = NULL;

	if (dot != NULL) {
		schema = il_xstrndup(table, (size_t)(dot - table));
		name = il_xstrdup(dot + 1);
	} else {
		name = il_xstrdup(table);
	}
	if (name[0] == '\0' || (schema != NULL && schema[0] == '\0'))
		goto out;
	qn = PQescapeIdentifier(conn, name, strlen(name));
	if (qn == NULL)
		goto out;
	if (schema != NULL) {
		qs = PQescapeIdentifier(conn, schema, strlen(schema));
		if (qs == NULL)
			goto out;
		out = il_xasprintf("%s.%s", qs, qn);
	} else {
		out = il_xstrdup(qn);
	}
out:
	PQfreemem(qs);
	PQfreemem(qn);
	free(schema);
	free(name);
	return out;
}

/* Runs @p sql with one text parameter per @p params entry (@p n of them).
 * @returns the result, kept by the caller, or NULL with the failure
 * classified in @p rc. */
static PGresult *
query(PGconn *conn, const char *sql, int n, const char *const *params, ExecStatusType want,
    const char *what, il_err *rc, char *errbuf, size_t errsz)
{
	PGresult *res = PQexecParams(conn, sql, n, NULL, params, NULL, NULL, 0);

	if (PQresultStatus(res) != want) {
		*rc = pg_fail(conn, res, what, errbuf, errsz);
		PQclear(res);
		return NULL;
	}
	return res;
}

il_err
il_pgrepl_ensure_publication(PGconn *conn, const char *name, const char *const *tables,
    bool *created, char *errbuf, size_t errsz)
{
	char *qpub = NULL, *qtab = NULL, *sql = NULL, *tmp;
	const char *params[2];
	PGresult *res = NULL;
	bool all_tables;
	il_err rc = IL_OK;
	size_t i;

	if (created != NULL)
		*created = false;
	if (name == NULL || name[0] == '\0' || strlen(name) > IL_PGREPL_NAME_MAX ||
	    tables == NULL || tables[0] == NULL) {
		il_err_setf(errbuf, errsz, "could not set up publication \"%s\": %s",
		    name != NULL ? name : "", tables == NULL || tables[0] == NULL ? "no tables given" :
		    "name empty or longer than 63 bytes");
		return IL_ERR_INVALID;
	}
	qpub = PQescapeIdentifier(conn, name, strlen(name));
	if (qpub == NULL) {
		rc = pg_fail(conn, NULL, "could not quote the publication name", errbuf, errsz);
		goto out;
	}
	params[0] = name;
	res = query(conn, "SELECT puballtables FROM pg_publication WHERE pubname = $1", 1, params,
	    PGRES_TUPLES_OK, "could not look up the publication", &rc, errbuf, errsz);
	if (res == NULL)
		goto out;
	if (PQntuples(res) == 0) {
		sql = il_xasprintf("CREATE PUBLICATION %s FOR TABLE", qpub);
		for (i = 0; tables[i] != NULL; i++) {
			qtab = quote_table(conn, tables[i]);
			if (qtab == NULL) {
				il_err_setf(errbuf, errsz, "could not set up publication \"%s\": "
				    "table name \"%s\" is malformed", name, tables[i]);
				rc = IL_ERR_INVALID;
				goto out;
			}
			tmp = il_xasprintf("%s%s %s", sql, i > 0 ? "," : "", qtab);
			free(sql);
			sql = tmp;
			free(qtab);
			qtab = NULL;
		}
		PQclear(res);
		res = query(conn, sql, 0, NULL, PGRES_COMMAND_OK, "could not create the publication",
		    &rc, errbuf, errsz);
		if (res != NULL && created != NULL)
			*created = true;
		goto out;
	}
	all_tables = strcmp(PQgetvalue(res, 0, 0), "t") == 0;
	PQclear(res);
	res = NULL;
	for (i = 0; !all_tables && tables[i] != NULL; i++) {
		qtab = quote_table(conn, tables[i]);
		if (qtab == NULL) {
			il_err_setf(errbuf, errsz, "could not set up publication \"%s\": "
			    "table name \"%s\" is malformed", name, tables[i]);
			rc = IL_ERR_INVALID;
			goto out;
		}
		params[1] = qtab;
		res = query(conn, "SELECT EXISTS (SELECT 1 FROM pg_publication_rel pr JOIN pg_publication p "
		    "ON p.oid = pr.prpubid WHERE p.pubname = $1 AND pr.prrelid = $2::regclass)",
		    2, params, PGRES_TUPLES_OK, "could not look up the publication's tables", &rc,
		    errbuf, errsz);
		if (res == NULL)
			goto out;
		if (strcmp(PQgetvalue(res, 0, 0), "t") != 0) {
			PQclear(res);
			free(sql);
			sql = il_xasprintf("ALTER PUBLICATION %s ADD TABLE %s", qpub, qtab);
			res = query(conn, sql, 0, NULL, PGRES_COMMAND_OK,
			    "could not add a table to the publication", &rc, errbuf, errsz);
			if (res == NULL)
				goto out;
		}
		PQclear(res);
		res = NULL;
		free(qtab);
		qtab = NULL;
	}
out:
	PQclear(res);
	PQfreemem(qpub);
	free(qtab);
	free(sql);
	return rc;
}

il_err
il_pgrepl_create_slot(il_pgrepl *r, const char *slot, bool export_snapshot,
    char *snapshot, uint64_t *consistent_lsn, bool *existed, char *errbuf, size_t errsz)
{
	char sql[160];
	PGresult *res = NULL;
	const char *state;
	il_err rc = IL_OK;

	snapshot[0] = '\0';
	*consistent_lsn = 0;
	*existed = false;
	if (!slot_name_ok(slot)) {
		il_err_setf(errbuf, errsz, "could not create slot \"%s\": a slot name is 1 to 63 "
		    "characters of a-z, 0-9 and _", slot != NULL ? slot : "");
		return IL_ERR_INVALID;
	}
	/* The keyword form is what PostgreSQL 10 to 16 all accept. */
	snprintf(sql, sizeof(sql), "CREATE_REPLICATION_SLOT \"%s\" LOGICAL pgoutput %s", slot,
	    export_snapshot ? "EXPORT_SNAPSHOT" : "NOEXPORT_SNAPSHOT");
	res = PQexec(r->conn, sql);
	if (PQresultStatus(res) != PGRES_TUPLES_OK) {
		state = PQresultErrorField(res, PG_DIAG_SQLSTATE);
		if (state != NULL && strcmp(state, "42710") == 0) {
			*existed = true;
			goto out;
		}
		rc = pg_fail(r->conn, res, "could not create the replication slot", errbuf, errsz);
		goto out;
	}
	if (PQntuples(res) != 1 || PQnfields(res) < 3 ||
	    !il_pgoutput_lsn_parse(PQgetvalue(res, 0, 1), consistent_lsn) ||
	    strlen(PQgetvalue(res, 0, 2)) >= IL_PGREPL_SNAPSHOT_LEN) {
		il_err_setf(errbuf, errsz, "could not create slot \"%s\": unexpected answer", slot);
		rc = IL_ERR_PARSE;
		goto out;
	}
	if (export_snapshot)
		snprintf(snapshot, IL_PGREPL_SNAPSHOT_LEN, "%s", PQgetvalue(res, 0, 2));
out:
	PQclear(res);
	return rc;
}

il_err
il_pgrepl_slot_info(PGconn *conn, const char *slot, il_pgrepl_slot *out,
    char *errbuf, size_t errsz)
{
	const char *params[1] = { slot };
	PGresult *res;
	il_err rc = IL_OK;

	memset(out, 0, sizeof(*out));
	res = query(conn, "SELECT plugin, database, active, confirmed_flush_lsn::text, restart_lsn::text, "
	    "COALESCE(pg_wal_lsn_diff(pg_current_wal_lsn(), restart_lsn), 0)::bigint "
	    "FROM pg_replication_slots WHERE slot_name = $1", 1, params, PGRES_TUPLES_OK,
	    "could not read the replication slot", &rc, errbuf, errsz);
	if (res == NULL)
		return rc;
	if (PQntuples(res) != 1) {
		il_err_setf(errbuf, errsz, "could not read slot \"%s\": no such slot", slot);
		rc = IL_ERR_NOTFOUND;
		goto out;
	}
	snprintf(out->plugin, sizeof(out->plugin), "%s", PQgetvalue(res, 0, 0));
	snprintf(out->database, sizeof(out->database), "%s", PQgetvalue(res, 0, 1));
	out->active = strcmp(PQgetvalue(res, 0, 2), "t") == 0;
	if (!PQgetisnull(res, 0, 3))
		(void)il_pgoutput_lsn_parse(PQgetvalue(res, 0, 3), &out->confirmed_flush_lsn);
	if (!PQgetisnull(res, 0, 4))
		(void)il_pgoutput_lsn_parse(PQgetvalue(res, 0, 4), &out->restart_lsn);
	out->retained_bytes = strtoll(PQgetvalue(res, 0, 5), NULL, 10);
out:
	PQclear(res);
	return rc;
}

il_err
il_pgrepl_start(il_pgrepl *r, const char *slot, uint64_t start_lsn, const char *publication,
    char *errbuf, size_t errsz)
{
	/* the publication as an identifier ("" doubles ") inside a string
	 * literal ('' doubles '): at most 4 bytes per byte, plus quotes */
	char lit[4 * IL_PGREPL_NAME_MAX + 8], sql[sizeof(lit) + 160], lsn[IL_PGOUTPUT_LSN_LEN];
	PGresult *res;
	size_t i, n = 0;
	il_err rc = IL_OK;

	if (!slot_name_ok(slot) || publication == NULL || publication[0] == '\0' ||
	    strlen(publication) > IL_PGREPL_NAME_MAX) {
		il_err_setf(errbuf, errsz, "could not start replication from slot \"%s\": slot or "
		    "publication name malformed", slot != NULL ? slot : "");
		return IL_ERR_INVALID;
	}
	if (r->streaming) {
		il_err_setf(errbuf, errsz, "could not start replication from slot \"%s\": "
		    "already streaming", slot);
		return IL_ERR_INVALID;
	}
	lit[n++] = '\'';
	lit[n++] = '"';
	for (i = 0; publication[i] != '\0'; i++) {
		if (publication[i] == '"')
			lit[n++] = '"';
		else if (publication[i] == '\'')
			lit[n++] = '\'';
		lit[n++] = publication[i];
	}
	lit[n++] = '"';
	lit[n++] = '\'';
	lit[n] = '\0';
	snprintf(sql, sizeof(sql), "START_REPLICATION SLOT \"%s\" LOGICAL %s "
	    "(proto_version '1', publication_names %s)", slot, il_pgoutput_lsn_format(start_lsn, lsn), lit);
	res = PQexec(r->conn, sql);
	if (PQresultStatus(res) != PGRES_COPY_BOTH)
		rc = pg_fail(r->conn, res, "could not start replication", errbuf, errsz);
	else
		r->streaming = true;
	PQclear(res);
	return rc;
}

/* @returns milliseconds of CLOCK_MONOTONIC. */
static int64_t
now_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

/* The stream ended (PQgetCopyData said -1 or -2): @returns its cause. */
static il_err
stream_ended(il_pgrepl *r, int n, char *errbuf, size_t errsz)
{
	PGresult *res;
	il_err rc;

	r->streaming = false;
	if (n == -2)
		return pg_fail(r->conn, NULL, "replication stream failed", errbuf, errsz);
	/* One result only: after the server's CopyDone libpq may be left in
	 * COPY IN, where PQgetResult answers the same state for ever. */
	res = PQgetResult(r->conn);
	if (res != NULL && PQresultStatus(res) == PGRES_FATAL_ERROR) {
		rc = pg_fail(r->conn, res, "replication stream ended", errbuf, errsz);
	} else {
		il_err_setf(errbuf, errsz, "replication stream ended: the server ended it");
		rc = IL_ERR_TRANSIENT;
	}
	PQclear(res);
	return rc;
}

il_err
il_pgrepl_read(il_pgrepl *r, int timeout_ms, il_pgoutput_copydata *msg, char *errbuf, size_t errsz)
{
	int64_t deadline = timeout_ms >= 0 ? now_ms() + timeout_ms : 0;
	struct pollfd pfd;
	int n, wait, pr;

	PQfreemem(r->buf);
	r->buf = NULL;
	if (!r->streaming) {
		il_err_setf(errbuf, errsz, "could not read the replication stream: not streaming");
		return IL_ERR_INVALID;
	}
	for (;;) {
		n = PQgetCopyData(r->conn, &r->buf, 1);
		if (n > 0)
			return il_pgoutput_parse_copydata(r->buf, (size_t)n, msg, errbuf, errsz);
		if (n < 0)
			return stream_ended(r, n, errbuf, errsz);
		if (timeout_ms < 0) {
			wait = -1;
		} else {
			int64_t left = deadline - now_ms();

			if (left <= 0) {
				il_err_setf(errbuf, errsz, "no replication message within %d ms", timeout_ms);
				return IL_ERR_TIMEOUT;
			}
			wait = left > 1000000 ? 1000000 : (int)left;
		}
		pfd.fd = PQsocket(r->conn);
		pfd.events = POLLIN;
		pfd.revents = 0;
		if (pfd.fd < 0)
			return stream_ended(r, -2, errbuf, errsz);
		pr = poll(&pfd, 1, wait);
		if (pr < 0 && errno == EINTR) {
			il_err_setf(errbuf, errsz, "reading the replication stream interrupted by a signal");
			return IL_ERR_CANCELLED;
		}
		if (pr < 0) {
			il_err_setf(errbuf, errsz, "could not wait for the replication stream: %s",
			    strerror(errno));
			return IL_ERR_IO;
		}
		if (pr > 0 && PQconsumeInput(r->conn) == 0)
			return stream_ended(r, -2, errbuf, errsz);
	}
}

il_err
il_pgrepl_send_status(il_pgrepl *r, uint64_t written, uint64_t flushed, uint64_t applied,
    bool reply, char *errbuf, size_t errsz)
{
	uint8_t buf[IL_PGOUTPUT_STANDBY_STATUS_LEN];
	struct timespec ts;
	size_t len;

	if (!r->streaming) {
		il_err_setf(errbuf, errsz, "could not send a standby status update: not streaming");
		return IL_ERR_INVALID;
	}
	clock_gettime(CLOCK_REALTIME, &ts);
	len = il_pgoutput_standby_status(buf, sizeof(buf), written, flushed, applied,
	    il_pgoutput_time_from_unix_us((int64_t)ts.tv_sec * 1000000 + ts.tv_nsec / 1000), reply);
	if (PQputCopyData(r->conn, (const char *)buf, (int)len) != 1 || PQflush(r->conn) != 0)
		return pg_fail(r->conn, NULL, "could not send a standby status update", errbuf, errsz);
	return IL_OK;
}
