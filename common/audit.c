/*
 * audit.c - the audit store's connection, migrations and the batched writes
 * of the dead-letter worker (see audit.h; the operator commands' half is
 * audit_query.c).
 *
 * A batch is one transaction of multi-row INSERT ... ON CONFLICT DO NOTHING
 * statements, chunk by chunk, with every value a parameter (bytea in binary
 * format): no value is ever spliced into SQL text.  The full-chunk statement
 * is prepared once per connection, so a batch costs a few round trips and
 * no parsing.
 */
#include <ctype.h>
#include <dirent.h>
#include <errno.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <libpq-fe.h>

#include "audit.h"
#include "audit_int.h"
#include "buf.h"
#include "log.h"
#include "text.h"
#include "timefmt.h"
#include "xalloc.h"

/* Built-in type OIDs (PostgreSQL's pg_type.dat); they never change. */
#define OID_BYTEA 17
#define OID_INT8 20
#define OID_INT4 23
#define OID_TEXT 25
#define OID_TIMESTAMPTZ 1184
#define OID_JSONB 3802

/* The advisory lock of migrations: "imislink" in ASCII, so that it reads
 * as ours in pg_locks. */
#define AUDIT_LOCK_KEY "7596553715479849579"
/* A migration file larger than this is a mistake, not a schema. */
#define AUDIT_MIGRATION_MAX (16u << 20)
#define AUDIT_MAX_MIGRATIONS 10000
/* Rows per INSERT: 256 x 23 parameters stays far below the protocol's 65535. */
#define AUDIT_CHUNK_ROWS 256
/* Text parameters of a row that need formatting (numbers and times). */
#define AUDIT_ROW_SCRATCH 12
#define AUDIT_SCRATCH_LEN 32

/* Longest a statement of ours may run (see il_audit_reconnect()). */
#define AUDIT_STATEMENT_TIMEOUT "60s"

#define AUDIT_PREPARED_DL 0x1
#define AUDIT_PREPARED_RES 0x2

/* One table's INSERT: its columns and their types, in parameter order. */
struct table {
	const char *name;
	const char *stmt;       /* name of the prepared full-chunk statement */
	unsigned prepared_bit;
	const char *columns;
	const Oid *types;
	int ncols;
};

static const Oid dl_types[] = {
	OID_TEXT, OID_INT4, OID_INT8, OID_TIMESTAMPTZ, OID_BYTEA, OID_BYTEA, OID_JSONB,
	OID_TEXT, OID_INT4, OID_INT8, OID_TEXT, OID_TEXT, OID_TEXT, OID_INT4,
	OID_TIMESTAMPTZ, OID_TIMESTAMPTZ, OID_TEXT, OID_TEXT, OID_INT8, OID_JSONB,
};

static const struct table dl_table = {
	"dead_letters", "il_audit_dl_chunk", AUDIT_PREPARED_DL,
	"topic, kafka_partition, kafka_offset, kafka_timestamp, msg_key, msg_value, headers, "
	"source_topic, source_partition, source_offset, error_class, error_stage, error_message, "
	"attempts, first_failure, last_failure, event_id, event_key, programme_id, decoded",
	dl_types, (int)(sizeof(dl_types) / sizeof(dl_types[0])),
};

static const Oid res_types[] = {
	OID_TEXT, OID_INT4, OID_INT8, OID_TEXT, OID_TEXT, OID_TEXT, OID_TEXT, OID_INT8,
	OID_TEXT, OID_TEXT, OID_TEXT, OID_TEXT, OID_TEXT, OID_TEXT, OID_INT4, OID_INT8,
	OID_TEXT, OID_TEXT, OID_TEXT, OID_INT4, OID_INT8, OID_TEXT, OID_TIMESTAMPTZ,
};

static const struct table res_table = {
	"results", "il_audit_res_chunk", AUDIT_PREPARED_RES,
	"topic, kafka_partition, kafka_offset, event_id, event_key, outcome, target, programme_id, "
	"insuree_uuid, chf_id, family_uuid, policy_uuid, individual_uuid, beneficiary_uuid, "
	"attempts, duration_ms, error_class, error_message, source_topic, source_partition, "
	"source_offset, worker_id, processed_at",
	res_types, (int)(sizeof(res_types) / sizeof(res_types[0])),
};

/* The parameters of one INSERT being built. */
struct params {
	const char **values;
	int *lengths;
	int *formats;
	int n;                  /* parameters so far */
	char (*scratch)[AUDIT_SCRATCH_LEN];     /* formatted numbers and times */
	int nscratch;
	char **owned;           /* sanitized copies of text that was not UTF-8 */
	int nowned;
};


/* Notices ("relation already exists, skipping") would go to stderr in
 * libpq's own format and break the JSON log; they tell nothing an operator
 * needs. */
static void
on_notice(void *arg, const char *message)
{
	char line[512];

	(void)arg;
	il_text_one_line(message, line, sizeof(line));
	il_log_debug("audit store notice", IL_STR("notice", line));
}

static bool
transient_state(const char *state)
{
	static const char *const states[] = {
		"57P01", "57P02", "57P03",      /* admin or crash shutdown, cannot connect now */
		"40001", "40P01",               /* serialization failure, deadlock */
		"55P03",                        /* lock not available */
		/* Cancelled: our statement_timeout (a stalled server, a lock held
		 * elsewhere) or an administrator; a retry later is the cure. */
		"57014",
		NULL,
	};
	size_t i;

	if (state == NULL)
		return false;
	/* connection exceptions; insufficient resources (disk full, too many connections) */
	if (strncmp(state, "08", 2) == 0 || strncmp(state, "53", 2) == 0)
		return true;
	for (i = 0; states[i] != NULL; i++)
		if (strcmp(state, states[i]) == 0)
			return true;
	return false;
}

il_err
il_audit_pg_error(il_audit *a, const PGresult *r, const char *what, char *errbuf, size_t errsz)
{
	const char *state = r != NULL ? PQresultErrorField(r, PG_DIAG_SQLSTATE) : NULL;
	const char *msg = r != NULL ? PQresultErrorField(r, PG_DIAG_MESSAGE_PRIMARY) : NULL;
	bool bad = a == NULL || a->pg == NULL || PQstatus(a->pg) != CONNECTION_OK;
	char line[512];

	if (msg == NULL && r != NULL && PQresultErrorMessage(r)[0] != '\0')
		msg = PQresultErrorMessage(r);
	if (msg == NULL && a != NULL && a->pg != NULL && PQerrorMessage(a->pg)[0] != '\0')
		msg = PQerrorMessage(a->pg);
	if (msg == NULL)
		msg = r != NULL ? PQresStatus(PQresultStatus(r)) : "no answer from the server";
	il_text_one_line(msg, line, sizeof(line));
	if (state != NULL)
		il_err_setf(errbuf, errsz, "%s: %s (SQLSTATE %s)", what, line, state);
	else
		il_err_setf(errbuf, errsz, "%s: %s", what, line);
	if (bad || r == NULL || transient_state(state))
		return IL_ERR_TRANSIENT;
	return IL_ERR_INVALID;
}

/* ---- connection ---- */

il_audit *
il_audit_connect(const char *conninfo, char *errbuf, size_t errsz)
{
	il_audit *a = il_xcalloc(1, sizeof(*a));

	a->conninfo = il_xstrdup(conninfo != NULL ? conninfo : "");
	if (il_audit_reconnect(a, errbuf, errsz) != IL_OK) {
		il_audit_destroy(a);
		return NULL;
	}
	return a;
}

void
il_audit_destroy(il_audit *a)
{
	if (a == NULL)
		return;
	if (a->pg != NULL)
		PQfinish(a->pg);
	/* The string may hold a password. */
	if (a->conninfo != NULL)
		memset(a->conninfo, 0, strlen(a->conninfo));
	free(a->conninfo);
	free(a);
}

il_err
il_audit_reconnect(il_audit *a, char *errbuf, size_t errsz)
{
	/*
	 * Defaults first: whatever the connection string says wins over them
	 * (expand_dbname applies it after).  They bound every wait on the
	 * network, which libpq otherwise does not: without a connect timeout
	 * a server that vanished hangs the connect; without keepalives and
	 * tcp_user_timeout a server that vanished mid-query (host down, cable
	 * cut, no RST ever comes) hangs PQexec for good, and with it the
	 * worker, its batch and its partitions.  Keepalives find a silent
	 * peer gone after 10 + 3 x 5 s of idle; tcp_user_timeout drops a
	 * connection whose data stays unacknowledged 30 s.  Both then surface
	 * as a broken connection: transient, reconnected, retried.
	 */
	const char *keys[] = {
		"connect_timeout", "fallback_application_name", "client_encoding",
		"keepalives", "keepalives_idle", "keepalives_interval", "keepalives_count", "tcp_user_timeout",
		"dbname", NULL,
	};
	const char *vals[] = {
		"10", "imislink", "UTF8",
		"1", "10", "5", "3", "30000",
		a->conninfo, NULL,
	};
	PQconninfoOption *opts;
	char *perr = NULL, line[512];
	PGresult *r;

	if (a->pg != NULL)
		PQfinish(a->pg);
	a->pg = NULL;
	a->prepared = 0;
	opts = PQconninfoParse(a->conninfo, &perr);
	if (opts == NULL) {
		/* libpq's reason quotes the string (a URI whole, password and
		 * all): none of it goes into a message that is logged. */
		il_err_setf(errbuf, errsz, "%s", perr != NULL ? "invalid connection string (see libpq's "
		    "connection string syntax; the value is not shown: it may hold a password)" :
		    "invalid connection string: out of memory");
		PQfreemem(perr);
		return IL_ERR_CONFIG;
	}
	PQconninfoFree(opts);
	a->pg = PQconnectdbParams(keys, vals, 1);
	if (a->pg == NULL) {
		il_err_setf(errbuf, errsz, "could not connect to the audit store: out of memory");
		return IL_ERR_TRANSIENT;
	}
	if (PQstatus(a->pg) != CONNECTION_OK) {
		il_text_one_line(PQerrorMessage(a->pg), line, sizeof(line));
		il_err_setf(errbuf, errsz, "could not connect to the audit store: %s", line);
		PQfinish(a->pg);
		a->pg = NULL;
		return IL_ERR_TRANSIENT;
	}
	PQsetNoticeProcessor(a->pg, on_notice, NULL);
	/* A dead letter's row is larger than TOAST's threshold (headers and
	 * decoded event): lz4 compresses it several times faster than pglz,
	 * which doubles what the store takes per second.  Best effort: a
	 * server built without lz4 refuses, and keeps its default. */
	r = PQexec(a->pg, "SET default_toast_compression = lz4");
	PQclear(r);
	/* Keepalives do not help against a server that answers the network
	 * but never the query (a lock held by someone, a stalled disk): the
	 * statement timeout bounds that, and its cancellation (57014) is
	 * transient, so the batch is kept and retried.  Only when nobody set
	 * one (connection options, ALTER ROLE/DATABASE ... SET): theirs wins.
	 * Migrations lift it for their own transaction.  Best effort too. */
	r = PQexec(a->pg, "SELECT set_config('statement_timeout', '" AUDIT_STATEMENT_TIMEOUT "', false) "
	    "WHERE current_setting('statement_timeout') = '0'");
	PQclear(r);
	return IL_OK;
}

bool
il_audit_connected(const il_audit *a)
{
	return a != NULL && a->pg != NULL && PQstatus(a->pg) == CONNECTION_OK;
}

/* Runs @p sql (no parameters) expecting @p want; @returns IL_OK or the classified failure. */
static il_err
exec_simple(il_audit *a, const char *sql, ExecStatusType want, const char *what, char *errbuf, size_t errsz)
{
	PGresult *r = PQexec(a->pg, sql);
	il_err err = IL_OK;

	if (r == NULL || PQresultStatus(r) != want)
		err = il_audit_pg_error(a, r, what, errbuf, errsz);
	PQclear(r);
	return err;
}

/* After a failure inside a transaction: leave it, if the connection still works. */
static void
rollback(il_audit *a)
{
	PGresult *r;

	if (!il_audit_connected(a) || PQtransactionStatus(a->pg) == PQTRANS_IDLE)
		return;
	r = PQexec(a->pg, "ROLLBACK");
	PQclear(r);
}

/* @returns a value of column 0 of row 0 as an integer, or @p dflt when null. */
static long long
result_int(const PGresult *r, long long dflt)
{
	const char *s;
	char *end;
	long long v;

	if (PQntuples(r) < 1 || PQnfields(r) < 1 || PQgetisnull(r, 0, 0))
		return dflt;
	s = PQgetvalue(r, 0, 0);
	errno = 0;
	v = strtoll(s, &end, 10);
	if (errno != 0 || end == s || *end != '\0')
		return dflt;
	return v;
}

/* ---- migrations ---- */

struct migration {
	int version;
	char *name;             /* the file name */
};

static int
migration_cmp(const void *x, const void *y)
{
	const struct migration *a = x, *b = y;

	return (a->version > b->version) - (a->version < b->version);
}

/* NNNN_name.sql with a name of [A-Za-z0-9_-]; @returns the version, or -1. */
static int
migration_version(const char *file)
{
	size_t len = strlen(file), i;
	int v = 0;

	if (len < 10 || strcmp(file + len - 4, ".sql") != 0 || file[4] != '_')
		return -1;
	for (i = 0; i < 4; i++) {
		if (!isdigit((unsigned char)file[i]))
			return -1;
		v = v * 10 + (file[i] - '0');
	}
	for (i = 5; i < len - 4; i++)
		if (!isalnum((unsigned char)file[i]) && file[i] != '_' && file[i] != '-')
			return -1;
	return v > 0 ? v : -1;
}

static void
migrations_free(struct migration *m, size_t n)
{
	size_t i;

	for (i = 0; i < n; i++)
		free(m[i].name);
	free(m);
}

/* Lists the *.sql files of @p dir in version order. */
static il_err
migrations_list(const char *dir, struct migration **out, size_t *nout, char *errbuf, size_t errsz)
{
	struct migration *m = NULL;
	size_t n = 0, cap = 0, i;
	struct dirent *de;
	il_err err = IL_OK;
	DIR *d;

	d = opendir(dir);
	if (d == NULL) {
		il_err_setf(errbuf, errsz, "could not open migrations directory \"%s\": %s", dir, strerror(errno));
		return IL_ERR_CONFIG;
	}
	while ((de = readdir(d)) != NULL) {
		size_t len = strlen(de->d_name);
		int v;

		if (len < 4 || strcmp(de->d_name + len - 4, ".sql") != 0)
			continue;
		v = migration_version(de->d_name);
		if (v < 0) {
			il_err_setf(errbuf, errsz, "migration \"%s/%s\": malformed file name: expected "
			    "NNNN_name.sql (NNNN from 0001)", dir, de->d_name);
			err = IL_ERR_CONFIG;
			goto out;
		}
		if (n == AUDIT_MAX_MIGRATIONS) {
			il_err_setf(errbuf, errsz, "migrations directory \"%s\": more than %d migrations", dir,
			    AUDIT_MAX_MIGRATIONS);
			err = IL_ERR_CONFIG;
			goto out;
		}
		if (n == cap) {
			cap = cap == 0 ? 16 : cap * 2;
			m = il_xrealloc(m, cap * sizeof(*m));
		}
		m[n].version = v;
		m[n].name = il_xstrdup(de->d_name);
		n++;
	}
	if (n == 0) {
		il_err_setf(errbuf, errsz, "migrations directory \"%s\": no migration (NNNN_name.sql)", dir);
		err = IL_ERR_CONFIG;
		goto out;
	}
	qsort(m, n, sizeof(*m), migration_cmp);
	for (i = 1; i < n; i++) {
		if (m[i].version == m[i - 1].version) {
			il_err_setf(errbuf, errsz, "migrations directory \"%s\": \"%s\" and \"%s\" have the same "
			    "version", dir, m[i - 1].name, m[i].name);
			err = IL_ERR_CONFIG;
			goto out;
		}
	}
out:
	closedir(d);
	if (err != IL_OK) {
		migrations_free(m, n);
		return err;
	}
	*out = m;
	*nout = n;
	return IL_OK;
}

/* Applies one migration file in a transaction of its own and records it. */
static il_err
migration_apply(il_audit *a, const char *dir, const struct migration *m, char *errbuf, size_t errsz)
{
	char *path = il_xasprintf("%s/%s", dir, m->name), *what = NULL, version[16];
	const char *params[2] = { version, m->name };
	PGresult *r = NULL;
	il_buf sql;
	il_err err;

	il_buf_init(&sql, AUDIT_MIGRATION_MAX);
	err = il_buf_read_file(&sql, path, errbuf, errsz);
	if (err != IL_OK) {
		err = IL_ERR_IO;
		goto out;
	}
	if (sql.len == 0 || memchr(sql.data, '\0', sql.len) != NULL) {
		il_err_setf(errbuf, errsz, "migration \"%s\": empty or not text", path);
		err = IL_ERR_IO;
		goto out;
	}
	what = il_xasprintf("could not apply migration \"%s\"", path);
	err = exec_simple(a, "BEGIN", PGRES_COMMAND_OK, what, errbuf, errsz);
	/* A migration may rewrite a large table: the statement timeout that
	 * bounds the worker's writes is lifted for this transaction only. */
	if (err == IL_OK)
		err = exec_simple(a, "SET LOCAL statement_timeout = 0", PGRES_COMMAND_OK, what, errbuf, errsz);
	if (err != IL_OK)
		goto out;
	/* A file holds several statements: the simple protocol runs them all. */
	r = PQexec(a->pg, sql.data);
	/* The status is the last statement's: a file may well end in a SELECT. */
	if (r == NULL || (PQresultStatus(r) != PGRES_COMMAND_OK && PQresultStatus(r) != PGRES_TUPLES_OK)) {
		err = il_audit_pg_error(a, r, what, errbuf, errsz);
		goto out;
	}
	PQclear(r);
	snprintf(version, sizeof(version), "%d", m->version);
	r = PQexecParams(a->pg, "INSERT INTO audit_schema_migrations (version, name) VALUES ($1, $2)",
	    2, NULL, params, NULL, NULL, 0);
	if (r == NULL || PQresultStatus(r) != PGRES_COMMAND_OK) {
		err = il_audit_pg_error(a, r, what, errbuf, errsz);
		goto out;
	}
	err = exec_simple(a, "COMMIT", PGRES_COMMAND_OK, what, errbuf, errsz);
	if (err == IL_OK)
		il_log_info("audit store migrated", IL_STR("migration", m->name), IL_INT("version", m->version));
out:
	PQclear(r);
	if (err != IL_OK)
		rollback(a);
	il_buf_free(&sql);
	free(what);
	free(path);
	return err;
}

il_err
il_audit_migrate(il_audit *a, const char *dir, int *version, char *errbuf, size_t errsz)
{
	struct migration *m = NULL;
	size_t n = 0, i;
	long long current;
	bool locked = false;
	PGresult *r = NULL;
	il_err err;

	err = migrations_list(dir, &m, &n, errbuf, errsz);
	if (err != IL_OK)
		return err;
	if (!il_audit_connected(a)) {
		il_err_setf(errbuf, errsz, "could not migrate the audit store: not connected");
		err = IL_ERR_TRANSIENT;
		goto out;
	}
	/* Two workers starting together: the second waits, then finds nothing to do. */
	err = exec_simple(a, "SELECT pg_advisory_lock(" AUDIT_LOCK_KEY ")", PGRES_TUPLES_OK,
	    "could not lock the audit store for migrations", errbuf, errsz);
	if (err != IL_OK)
		goto out;
	locked = true;
	err = exec_simple(a, "CREATE TABLE IF NOT EXISTS audit_schema_migrations ("
	    "version integer PRIMARY KEY, name text NOT NULL, applied_at timestamptz NOT NULL DEFAULT now())",
	    PGRES_COMMAND_OK, "could not create table \"audit_schema_migrations\"", errbuf, errsz);
	if (err != IL_OK)
		goto out;
	r = PQexec(a->pg, "SELECT max(version) FROM audit_schema_migrations");
	if (r == NULL || PQresultStatus(r) != PGRES_TUPLES_OK || PQntuples(r) != 1 || PQnfields(r) != 1) {
		err = il_audit_pg_error(a, r, "could not read the audit store's version", errbuf, errsz);
		goto out;
	}
	current = result_int(r, 0);
	PQclear(r);
	r = NULL;
	if (current > m[n - 1].version) {
		il_err_setf(errbuf, errsz, "the audit store is at schema version %lld, newer than the last "
		    "migration of \"%s\" (%d, \"%s\"): this program is older than the store; run a newer one",
		    current, dir, m[n - 1].version, m[n - 1].name);
		err = IL_ERR_INVALID;
		goto out;
	}
	for (i = 0; i < n; i++) {
		char v[16];
		const char *params[1] = { v };

		snprintf(v, sizeof(v), "%d", m[i].version);
		r = PQexecParams(a->pg, "SELECT 1 FROM audit_schema_migrations WHERE version = $1",
		    1, NULL, params, NULL, NULL, 0);
		if (r == NULL || PQresultStatus(r) != PGRES_TUPLES_OK) {
			err = il_audit_pg_error(a, r, "could not read the audit store's migrations", errbuf, errsz);
			goto out;
		}
		if (PQntuples(r) == 0) {
			err = migration_apply(a, dir, &m[i], errbuf, errsz);
			if (err != IL_OK)
				goto out;
		}
		PQclear(r);
		r = NULL;
	}
	if (version != NULL)
		*version = m[n - 1].version > current ? m[n - 1].version : (int)current;
out:
	PQclear(r);
	if (locked && il_audit_connected(a)) {
		r = PQexec(a->pg, "SELECT pg_advisory_unlock(" AUDIT_LOCK_KEY ")");
		PQclear(r);
	}
	migrations_free(m, n);
	return err;
}

il_err
il_audit_check(il_audit *a, int *version, char *errbuf, size_t errsz)
{
	PGresult *r = NULL;
	il_err err = IL_OK;
	long long v;

	if (!il_audit_connected(a)) {
		il_err_setf(errbuf, errsz, "could not read the audit store: not connected");
		return IL_ERR_TRANSIENT;
	}
	r = PQexec(a->pg, "SELECT to_regclass('audit_schema_migrations') IS NOT NULL, "
	    "to_regclass('dead_letters') IS NOT NULL AND to_regclass('results') IS NOT NULL");
	if (r == NULL || PQresultStatus(r) != PGRES_TUPLES_OK || PQntuples(r) != 1 || PQnfields(r) != 2) {
		err = il_audit_pg_error(a, r, "could not read the audit store's version", errbuf, errsz);
		goto out;
	}
	if (strcmp(PQgetvalue(r, 0, 0), "t") != 0) {
		il_err_setf(errbuf, errsz, "the audit store is not initialised: start imislink-deadletter once");
		err = IL_ERR_INVALID;
		goto out;
	}
	if (strcmp(PQgetvalue(r, 0, 1), "t") != 0) {
		il_err_setf(errbuf, errsz, "the audit store has no table \"dead_letters\" or \"results\": "
		    "start imislink-deadletter once");
		err = IL_ERR_INVALID;
		goto out;
	}
	PQclear(r);
	r = PQexec(a->pg, "SELECT max(version) FROM audit_schema_migrations");
	if (r == NULL || PQresultStatus(r) != PGRES_TUPLES_OK || PQntuples(r) != 1 || PQnfields(r) != 1) {
		err = il_audit_pg_error(a, r, "could not read the audit store's version", errbuf, errsz);
		goto out;
	}
	v = result_int(r, 0);
	if (v <= 0) {
		il_err_setf(errbuf, errsz, "the audit store is not initialised: start imislink-deadletter once");
		err = IL_ERR_INVALID;
		goto out;
	}
	if (version != NULL)
		*version = (int)v;
out:
	PQclear(r);
	return err;
}

/* ---- writes ---- */

static void
params_init(struct params *p, int ncols, int rows)
{
	int n = ncols * rows;

	memset(p, 0, sizeof(*p));
	p->values = il_xcalloc((size_t)n, sizeof(*p->values));
	p->lengths = il_xcalloc((size_t)n, sizeof(*p->lengths));
	p->formats = il_xcalloc((size_t)n, sizeof(*p->formats));
	p->scratch = il_xcalloc((size_t)rows * AUDIT_ROW_SCRATCH, sizeof(*p->scratch));
	p->owned = il_xcalloc((size_t)n, sizeof(*p->owned));
}

static void
params_reset(struct params *p)
{
	int i;

	for (i = 0; i < p->nowned; i++)
		free(p->owned[i]);
	p->nowned = 0;
	p->n = 0;
	p->nscratch = 0;
}

static void
params_free(struct params *p)
{
	params_reset(p);
	free(p->values);
	free(p->lengths);
	free(p->formats);
	free(p->scratch);
	free(p->owned);
}

/* @returns a copy of @p s with every byte that does not start a valid
 * UTF-8 character replaced by U+FFFD (PostgreSQL refuses such text). */
static char *
utf8_repair(const char *s)
{
	size_t len = strlen(s), bad, n = 0;
	char *out = il_xmalloc(len * 3 + 1);

	while (len > 0) {
		if (il_text_utf8_valid(s, len, &bad)) {
			bad = len;
		}
		memcpy(out + n, s, bad);
		n += bad;
		s += bad;
		len -= bad;
		if (len == 0)
			break;
		memcpy(out + n, "\xef\xbf\xbd", 3);
		n += 3;
		s++;
		len--;
	}
	out[n] = '\0';
	return out;
}

static void
add_text(struct params *p, const char *s)
{
	if (s != NULL && !il_text_utf8_valid(s, strlen(s), NULL)) {
		p->owned[p->nowned] = utf8_repair(s);
		s = p->owned[p->nowned++];
	}
	p->values[p->n] = s;
	p->lengths[p->n] = 0;
	p->formats[p->n] = 0;
	p->n++;
}

static void
add_bytes(struct params *p, const void *data, size_t len)
{
	/* Binary format: the bytes as they are; a zero length still needs a pointer. */
	p->values[p->n] = data != NULL ? (len > 0 ? data : "") : NULL;
	p->lengths[p->n] = (int)len;
	p->formats[p->n] = 1;
	p->n++;
}

static void
add_int(struct params *p, long long v, bool null)
{
	char *s;

	if (null) {
		add_text(p, NULL);
		return;
	}
	s = p->scratch[p->nscratch++];
	snprintf(s, AUDIT_SCRATCH_LEN, "%lld", v);
	add_text(p, s);
}

static void
add_time(struct params *p, long long ms)
{
	char *s;

	if (ms < 0) {
		add_text(p, NULL);
		return;
	}
	s = p->scratch[p->nscratch++];
	/* Out of the years 0001..9999 is not a time anyone meant: unknown. */
	if (!il_time_format_ms(ms, s)) {
		add_text(p, NULL);
		return;
	}
	add_text(p, s);
}

/*
 * A time for a NOT NULL column: never null, which would refuse the whole
 * batch.  Callers check their times (workers/deadletter/record.c refuses
 * such a message); past the years 0001..9999 the nearer end stands in.
 */
static void
add_time_required(struct params *p, long long ms)
{
	char *s = p->scratch[p->nscratch++];

	(void)il_time_format_ms(ms < 0 ? 0 : ms, s);
	add_text(p, s);
}

static void
add_dead_letter(struct params *p, const il_audit_dead_letter *d)
{
	/* NOT NULL columns get "" rather than a refused batch. */
	add_text(p, d->topic != NULL ? d->topic : "");
	add_int(p, d->partition, false);
	add_int(p, d->offset, false);
	add_time(p, d->timestamp_ms);
	add_bytes(p, d->key, d->keylen);
	add_bytes(p, d->value, d->vallen);
	add_text(p, d->headers_json != NULL ? d->headers_json : "[]");
	add_text(p, d->source_topic);
	add_int(p, d->source_partition, d->source_partition < 0);
	add_int(p, d->source_offset, d->source_offset < 0);
	add_text(p, d->error_class != NULL ? d->error_class : "undecodable");
	add_text(p, d->error_stage);
	add_text(p, d->error_message);
	add_int(p, d->attempts, d->attempts < 0);
	add_time(p, d->first_failure_ms);
	add_time(p, d->last_failure_ms);
	add_text(p, d->event_id);
	add_text(p, d->event_key);
	add_int(p, d->programme_id, d->programme_id < 0);
	add_text(p, d->decoded_json);
}

static void
add_result(struct params *p, const il_audit_result *r)
{
	/* NOT NULL columns get "" (or a time) rather than a refused batch. */
	add_text(p, r->topic != NULL ? r->topic : "");
	add_int(p, r->partition, false);
	add_int(p, r->offset, false);
	add_text(p, r->event_id != NULL ? r->event_id : "");
	add_text(p, r->event_key != NULL ? r->event_key : "");
	add_text(p, r->outcome != NULL ? r->outcome : "");
	add_text(p, r->target);
	add_int(p, r->programme_id, r->programme_id < 0);
	add_text(p, r->insuree_uuid);
	add_text(p, r->chf_id);
	add_text(p, r->family_uuid);
	add_text(p, r->policy_uuid);
	add_text(p, r->individual_uuid);
	add_text(p, r->beneficiary_uuid);
	add_int(p, r->attempts, false);
	add_int(p, r->duration_ms, false);
	add_text(p, r->error_class);
	add_text(p, r->error_message);
	add_text(p, r->source_topic);
	add_int(p, r->source_partition, r->source_partition < 0);
	add_int(p, r->source_offset, r->source_offset < 0);
	add_text(p, r->worker_id != NULL ? r->worker_id : "");
	add_time_required(p, r->processed_at_ms);
}

/* The INSERT of @p rows rows into @p t: placeholders only, never values. */
static char *
insert_sql(const struct table *t, int rows)
{
	il_buf sql;
	int row, col, n = 1;
	il_err err;

	il_buf_init(&sql, 1u << 20);
	err = il_buf_printf(&sql, "INSERT INTO %s (%s) VALUES ", t->name, t->columns);
	for (row = 0; err == IL_OK && row < rows; row++) {
		err = il_buf_adds(&sql, row == 0 ? "(" : ",(");
		for (col = 0; err == IL_OK && col < t->ncols; col++)
			err = il_buf_printf(&sql, col == 0 ? "$%d" : ",$%d", n++);
		if (err == IL_OK)
			err = il_buf_adds(&sql, ")");
	}
	if (err == IL_OK)
		err = il_buf_adds(&sql, " ON CONFLICT (topic, kafka_partition, kafka_offset) DO NOTHING");
	if (err != IL_OK) {
		/* 256 rows of 23 columns fit many times over: a bug. */
		il_buf_free(&sql);
		abort();
	}
	return il_buf_take(&sql);
}

static Oid *
chunk_types(const struct table *t, int rows)
{
	Oid *types = il_xcalloc((size_t)(t->ncols * rows), sizeof(*types));
	int i;

	for (i = 0; i < rows; i++)
		memcpy(types + i * t->ncols, t->types, (size_t)t->ncols * sizeof(*types));
	return types;
}

/* Prepares the full-chunk INSERT of @p t on this connection, once. */
static il_err
prepare_chunk(il_audit *a, const struct table *t, char *errbuf, size_t errsz)
{
	char *sql;
	Oid *types;
	PGresult *r;
	il_err err = IL_OK;

	if (a->prepared & t->prepared_bit)
		return IL_OK;
	sql = insert_sql(t, AUDIT_CHUNK_ROWS);
	types = chunk_types(t, AUDIT_CHUNK_ROWS);
	r = PQprepare(a->pg, t->stmt, sql, t->ncols * AUDIT_CHUNK_ROWS, types);
	if (r == NULL || PQresultStatus(r) != PGRES_COMMAND_OK)
		err = il_audit_pg_error(a, r, "could not prepare the insert of the audit store", errbuf, errsz);
	else
		a->prepared |= t->prepared_bit;
	PQclear(r);
	free(types);
	free(sql);
	return err;
}

/* Runs one chunk of @p rows already in @p p; adds the rows inserted to @p stored. */
static il_err
exec_chunk(il_audit *a, const struct table *t, struct params *p, int rows, size_t *stored,
    char *errbuf, size_t errsz)
{
	char what[96], *sql = NULL, *end;
	const char *tuples;
	Oid *types = NULL;
	PGresult *r;
	il_err err = IL_OK;
	long long n;

	snprintf(what, sizeof(what), "could not insert into \"%s\"", t->name);
	if (rows == AUDIT_CHUNK_ROWS) {
		err = prepare_chunk(a, t, errbuf, errsz);
		if (err != IL_OK)
			return err;
		r = PQexecPrepared(a->pg, t->stmt, p->n, p->values, p->lengths, p->formats, 0);
	} else {
		sql = insert_sql(t, rows);
		types = chunk_types(t, rows);
		r = PQexecParams(a->pg, sql, p->n, types, p->values, p->lengths, p->formats, 0);
	}
	if (r == NULL || PQresultStatus(r) != PGRES_COMMAND_OK) {
		err = il_audit_pg_error(a, r, what, errbuf, errsz);
		goto out;
	}
	tuples = PQcmdTuples(r);
	errno = 0;
	n = strtoll(tuples, &end, 10);
	if (errno != 0 || end == tuples || *end != '\0' || n < 0 || n > rows) {
		il_err_setf(errbuf, errsz, "%s: unexpected answer \"%s\"", what, PQcmdStatus(r));
		err = IL_ERR_INVALID;
		goto out;
	}
	*stored += (size_t)n;
out:
	PQclear(r);
	free(types);
	free(sql);
	return err;
}

il_err
il_audit_write(il_audit *a, const il_audit_dead_letter *dls, size_t ndls,
    const il_audit_result *results, size_t nresults, size_t *stored, char *errbuf, size_t errsz)
{
	struct params p;
	size_t i, done = 0;
	int rows = 0;
	il_err err;
	PGresult *r;

	*stored = 0;
	if (ndls == 0 && nresults == 0)
		return IL_OK;
	if (!il_audit_connected(a)) {
		il_err_setf(errbuf, errsz, "could not write to the audit store: not connected");
		return IL_ERR_TRANSIENT;
	}
	params_init(&p, res_table.ncols > dl_table.ncols ? res_table.ncols : dl_table.ncols, AUDIT_CHUNK_ROWS);
	err = exec_simple(a, "BEGIN", PGRES_COMMAND_OK, "could not write to the audit store", errbuf, errsz);
	for (i = 0; err == IL_OK && i < ndls; i++) {
		add_dead_letter(&p, &dls[i]);
		if (++rows == AUDIT_CHUNK_ROWS || i + 1 == ndls) {
			err = exec_chunk(a, &dl_table, &p, rows, &done, errbuf, errsz);
			params_reset(&p);
			rows = 0;
		}
	}
	for (i = 0; err == IL_OK && i < nresults; i++) {
		add_result(&p, &results[i]);
		if (++rows == AUDIT_CHUNK_ROWS || i + 1 == nresults) {
			err = exec_chunk(a, &res_table, &p, rows, &done, errbuf, errsz);
			params_reset(&p);
			rows = 0;
		}
	}
	if (err == IL_OK) {
		r = PQexec(a->pg, "COMMIT");
		/* COMMIT of a transaction that failed answers "ROLLBACK". */
		if (r == NULL || PQresultStatus(r) != PGRES_COMMAND_OK || strcmp(PQcmdStatus(r), "COMMIT") != 0)
			err = il_audit_pg_error(a, r, "could not commit to the audit store", errbuf, errsz);
		PQclear(r);
	}
	if (err != IL_OK)
		rollback(a);
	else
		*stored = done;
	params_free(&p);
	return err;
}
