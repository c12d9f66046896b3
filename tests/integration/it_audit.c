/*
 * it_audit.c - common/audit.c (connection, migrations, batched writes)
 * against a real PostgreSQL.
 *
 * Each run creates databases of its own through the libpq environment
 * (PGHOST, PGPORT, PGUSER, PGDATABASE name the maintenance connection) and
 * drops them at the end.  Checks: connection failures and their reasons;
 * il_audit_check() before and after the migrations; malformed migration
 * directories refused; migrations applied once, in order, each in its own
 * transaction (a failing one leaves nothing behind), also by two connections
 * at once; a store newer than the files refused; a batch written whole,
 * again without effect, with duplicates inside it, larger than one INSERT;
 * values stored as given (bytea null or empty, times, nulls, text that is
 * not UTF-8 repaired); a refused batch leaves nothing; a connection killed
 * under the writer is transient and a reconnect cures it; SQLSTATEs
 * classified; keepalives, tcp_user_timeout and a statement timeout by
 * default (the connection string's win; migrations lift the timeout); a
 * malformed connection string's value never in the reason; a result time
 * out of range never null.
 *
 * usage: it_audit
 * Prints one "PASS name" or "FAIL name: reason" line per check; exits 1 when
 * any check failed.
 */
#include <errno.h>
#include <pthread.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <arpa/inet.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include <libpq-fe.h>

#include "audit.h"
#include "audit_int.h"
#include "log.h"
#include "xalloc.h"

static int failures;

static void
check(bool ok, const char *name, const char *fmt, ...)
{
	va_list ap;

	if (ok) {
		printf("PASS audit-%s\n", name);
	} else {
		failures++;
		printf("FAIL audit-%s: ", name);
		va_start(ap, fmt);
		vprintf(fmt, ap);
		va_end(ap);
		printf("\n");
	}
	fflush(stdout);
}

/* Runs @p sql on the maintenance connection (database creation and removal). */
static bool
admin(const char *fmt, const char *name)
{
	char *sql = il_xasprintf(fmt, name);
	PGconn *pg = PQconnectdb("");
	PGresult *r = PQexec(pg, sql);
	bool ok = PQresultStatus(r) == PGRES_COMMAND_OK;

	if (!ok)
		fprintf(stderr, "it_audit: \"%s\": %s", sql, PQerrorMessage(pg));
	PQclear(r);
	PQfinish(pg);
	free(sql);
	return ok;
}

/* @returns the first value of @p sql on a new connection to @p db as a number; -1 on failure. */
static long long
query_int(const char *db, const char *sql)
{
	/* Times compare as text: in UTC whatever the server's zone. */
	const char *keys[] = { "dbname", "options", NULL };
	const char *vals[] = { db, "-c TimeZone=UTC", NULL };
	PGconn *pg = PQconnectdbParams(keys, vals, 0);
	PGresult *r = PQexec(pg, sql);
	long long v = -1;

	if (PQresultStatus(r) == PGRES_TUPLES_OK && PQntuples(r) == 1 && !PQgetisnull(r, 0, 0))
		v = strtoll(PQgetvalue(r, 0, 0), NULL, 10);
	else if (PQresultStatus(r) != PGRES_TUPLES_OK)
		fprintf(stderr, "it_audit: \"%s\": %s", sql, PQerrorMessage(pg));
	PQclear(r);
	PQfinish(pg);
	return v;
}

/* @returns the first value of @p sql as text (caller frees), NULL for null or failure. */
static char *
query_text(const char *db, const char *sql)
{
	/* Times compare as text: in UTC whatever the server's zone. */
	const char *keys[] = { "dbname", "options", NULL };
	const char *vals[] = { db, "-c TimeZone=UTC", NULL };
	PGconn *pg = PQconnectdbParams(keys, vals, 0);
	PGresult *r = PQexec(pg, sql);
	char *v = NULL;

	if (PQresultStatus(r) == PGRES_TUPLES_OK && PQntuples(r) == 1 && !PQgetisnull(r, 0, 0))
		v = il_xstrdup(PQgetvalue(r, 0, 0));
	else if (PQresultStatus(r) != PGRES_TUPLES_OK)
		fprintf(stderr, "it_audit: \"%s\": %s", sql, PQerrorMessage(pg));
	PQclear(r);
	PQfinish(pg);
	return v;
}

static bool
exec_on(const char *db, const char *sql)
{
	/* Times compare as text: in UTC whatever the server's zone. */
	const char *keys[] = { "dbname", "options", NULL };
	const char *vals[] = { db, "-c TimeZone=UTC", NULL };
	PGconn *pg = PQconnectdbParams(keys, vals, 0);
	PGresult *r = PQexec(pg, sql);
	bool ok = PQresultStatus(r) == PGRES_COMMAND_OK || PQresultStatus(r) == PGRES_TUPLES_OK;

	if (!ok)
		fprintf(stderr, "it_audit: \"%s\": %s", sql, PQerrorMessage(pg));
	PQclear(r);
	PQfinish(pg);
	return ok;
}

/* Runs @p sql on @p a's own connection, for the session settings of a test. */
static void
exec_on_conn(il_audit *a, const char *sql)
{
	PGresult *r = PQexec(a->pg, sql);

	if (PQresultStatus(r) != PGRES_COMMAND_OK)
		fprintf(stderr, "it_audit: \"%s\": %s", sql, PQerrorMessage(a->pg));
	PQclear(r);
}

static void
write_file(const char *dir, const char *name, const char *text)
{
	char *path = il_xasprintf("%s/%s", dir, name);
	FILE *f = fopen(path, "w");

	if (f == NULL || fputs(text, f) < 0 || fclose(f) != 0) {
		fprintf(stderr, "it_audit: could not write \"%s\"\n", path);
		exit(1);
	}
	free(path);
}

/* A migration directory of its own under @p base: @p name, with 0001_init.sql of the tree when @p init. */
static char *
migration_dir(const char *base, const char *name, bool init)
{
	char *dir = il_xasprintf("%s/%s", base, name), *src, *text;
	FILE *f;
	size_t n;

	if (mkdir(dir, 0700) != 0) {
		fprintf(stderr, "it_audit: could not create \"%s\": %s\n", dir, strerror(errno));
		exit(1);
	}
	if (!init)
		return dir;
	src = il_xasprintf("%s/0001_init.sql", IL_AUDIT_SQL_DIR);
	f = fopen(src, "r");
	if (f == NULL) {
		fprintf(stderr, "it_audit: could not open \"%s\"\n", src);
		exit(1);
	}
	text = il_xcalloc(1, 1 << 20);
	n = fread(text, 1, (1 << 20) - 1, f);
	fclose(f);
	text[n] = '\0';
	write_file(dir, "0001_init.sql", text);
	free(text);
	free(src);
	return dir;
}

static il_audit *
connect_db(const char *db)
{
	char *conninfo = il_xasprintf("dbname=%s", db), err[512];
	il_audit *a = il_audit_connect(conninfo, err, sizeof(err));

	if (a == NULL) {
		fprintf(stderr, "it_audit: could not connect to \"%s\": %s\n", db, err);
		exit(1);
	}
	free(conninfo);
	return a;
}

/* @returns a loopback port the kernel just gave out and nobody listens on. */
static int
free_port(void)
{
	struct sockaddr_in sin;
	socklen_t len = sizeof(sin);
	int fd = socket(AF_INET, SOCK_STREAM, 0), port = 9;

	memset(&sin, 0, sizeof(sin));
	sin.sin_family = AF_INET;
	sin.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
	if (fd >= 0 && bind(fd, (struct sockaddr *)&sin, sizeof(sin)) == 0 &&
	    getsockname(fd, (struct sockaddr *)&sin, &len) == 0)
		port = ntohs(sin.sin_port);
	if (fd >= 0)
		close(fd);
	return port;
}

static void
test_connect(const char *db)
{
	char err[512], *conninfo;
	il_audit *a;
	int port;

	il_audit_destroy(NULL);
	err[0] = '\0';
	a = il_audit_connect("host=127.0.0.1 port", err, sizeof(err));
	check(a == NULL && strstr(err, "invalid connection string") != NULL, "connect-malformed",
	    "got %p, \"%s\"", (void *)a, err);
	il_audit_destroy(a);
	/* A port nothing listens on: closed right after we bound it. */
	port = free_port();
	conninfo = il_xasprintf("host=127.0.0.1 port=%d dbname=%s connect_timeout=2 password=hunter2", port, db);
	err[0] = '\0';
	a = il_audit_connect(conninfo, err, sizeof(err));
	check(a == NULL && strstr(err, "could not connect to the audit store") != NULL &&
	    strstr(err, "hunter2") == NULL, "connect-unreachable", "got %p, \"%s\"", (void *)a, err);
	il_audit_destroy(a);
	free(conninfo);
	/* libpq's reason would quote the URI, password and all. */
	err[0] = '\0';
	a = il_audit_connect("postgresql://u:s3cretpw@[::1/x", err, sizeof(err));
	check(a == NULL && strstr(err, "invalid connection string") != NULL && strstr(err, "s3cretpw") == NULL,
	    "connect-malformed-hides-value", "got %p, \"%s\"", (void *)a, err);
	il_audit_destroy(a);
	a = connect_db(db);
	check(il_audit_connected(a), "connect", "not connected");
	il_audit_destroy(a);
}

/* @returns the value of connection option @p key of @p a, or "" (caller frees). */
static char *
conn_option(const il_audit *a, const char *key)
{
	PQconninfoOption *opts = PQconninfo(a->pg), *o;
	char *v = NULL;

	for (o = opts; o != NULL && o->keyword != NULL; o++)
		if (strcmp(o->keyword, key) == 0 && o->val != NULL)
			v = il_xstrdup(o->val);
	PQconninfoFree(opts);
	return v != NULL ? v : il_xstrdup("");
}

/* @returns the session's setting @p name on @p a's own connection (caller frees). */
static char *
session_setting(il_audit *a, const char *name)
{
	char *sql = il_xasprintf("SELECT current_setting('%s')", name), *v;
	PGresult *r = PQexec(a->pg, sql);

	v = il_xstrdup(PQresultStatus(r) == PGRES_TUPLES_OK && PQntuples(r) == 1 ? PQgetvalue(r, 0, 0) : "?");
	PQclear(r);
	free(sql);
	return v;
}

/*
 * No libpq call waits without bound: keepalives, tcp_user_timeout and a
 * statement timeout by default, the connection string's own values winning;
 * migrations run without the statement timeout.
 */
static void
test_timeouts(const char *base, const char *db)
{
	static const char *const want[][2] = {
		{ "keepalives", "1" }, { "keepalives_idle", "10" }, { "keepalives_interval", "5" },
		{ "keepalives_count", "3" }, { "tcp_user_timeout", "30000" }, { "connect_timeout", "10" },
	};
	char *conninfo, *v, *v2, *dir, err[1024];
	bool ok = true;
	il_audit *a;
	int version;
	size_t i;
	il_err e;

	a = connect_db(db);
	for (i = 0; i < sizeof(want) / sizeof(want[0]); i++) {
		v = conn_option(a, want[i][0]);
		if (strcmp(v, want[i][1]) != 0) {
			ok = false;
			printf("# %s = \"%s\", expected %s\n", want[i][0], v, want[i][1]);
		}
		free(v);
	}
	check(ok, "connection-defaults", "see the lines above");
	v = session_setting(a, "statement_timeout");
	check(strcmp(v, "1min") == 0, "statement-timeout-default", "statement_timeout is %s", v);
	free(v);

	/* A migration longer than the session's statement timeout still applies. */
	exec_on_conn(a, "SET statement_timeout = '100ms'");
	dir = migration_dir(base, "slow", true);
	write_file(dir, "0002_slow.sql", "CREATE TABLE slow_done (x int);\nSELECT pg_sleep(0.5);\n");
	e = il_audit_migrate(a, dir, &version, err, sizeof(err));
	check(e == IL_OK && version == 2 && query_int(db, "SELECT count(*) FROM pg_tables WHERE tablename = "
	    "'slow_done'") == 1, "migrate-without-statement-timeout", "got %s, \"%s\"", il_err_str(e), err);
	v = session_setting(a, "statement_timeout");
	check(strcmp(v, "100ms") == 0, "migrate-keeps-session-timeout", "statement_timeout is %s after", v);
	free(v);
	free(dir);
	exec_on(db, "DELETE FROM audit_schema_migrations WHERE version > 1; DROP TABLE slow_done");
	il_audit_destroy(a);

	/* What the connection string says wins, and so does a timeout the session has. */
	conninfo = il_xasprintf("dbname=%s keepalives_idle=20 tcp_user_timeout=1000 options='-c statement_timeout=5s'",
	    db);
	a = il_audit_connect(conninfo, err, sizeof(err));
	if (a == NULL) {
		check(false, "connection-string-wins", "could not connect: %s", err);
		free(conninfo);
		return;
	}
	v = conn_option(a, "keepalives_idle");
	v2 = conn_option(a, "tcp_user_timeout");
	check(strcmp(v, "20") == 0 && strcmp(v2, "1000") == 0, "connection-string-wins",
	    "keepalives_idle %s, tcp_user_timeout %s", v, v2);
	free(v);
	free(v2);
	v = session_setting(a, "statement_timeout");
	check(strcmp(v, "5s") == 0, "statement-timeout-of-the-session-wins", "statement_timeout is %s", v);
	free(v);
	il_audit_destroy(a);
	free(conninfo);
}

static void
test_migrations(const char *base, const char *db)
{
	il_audit *a = connect_db(db);
	char err[1024], *dir, *text;
	int version = -1;
	il_err e;

	e = il_audit_check(a, &version, err, sizeof(err));
	check(e == IL_ERR_INVALID && strstr(err, "not initialised") != NULL, "check-empty",
	    "got %s, \"%s\"", il_err_str(e), err);

	dir = il_xasprintf("%s/none", base);
	e = il_audit_migrate(a, dir, &version, err, sizeof(err));
	check(e == IL_ERR_CONFIG && strstr(err, dir) != NULL, "migrate-no-directory", "got %s, \"%s\"",
	    il_err_str(e), err);
	free(dir);
	dir = migration_dir(base, "empty", false);
	write_file(dir, "README", "not a migration");
	e = il_audit_migrate(a, dir, &version, err, sizeof(err));
	check(e == IL_ERR_CONFIG && strstr(err, "no migration") != NULL, "migrate-empty-directory",
	    "got %s, \"%s\"", il_err_str(e), err);
	free(dir);
	dir = migration_dir(base, "malformed", true);
	write_file(dir, "02_later.sql", "SELECT 1;");
	e = il_audit_migrate(a, dir, &version, err, sizeof(err));
	check(e == IL_ERR_CONFIG && strstr(err, "02_later.sql") != NULL, "migrate-malformed-name",
	    "got %s, \"%s\"", il_err_str(e), err);
	free(dir);
	dir = migration_dir(base, "twice", true);
	write_file(dir, "0001_again.sql", "SELECT 1;");
	e = il_audit_migrate(a, dir, &version, err, sizeof(err));
	check(e == IL_ERR_CONFIG && strstr(err, "same version") != NULL, "migrate-duplicate-version",
	    "got %s, \"%s\"", il_err_str(e), err);
	free(dir);
	check(query_int(db, "SELECT count(*) FROM pg_tables WHERE tablename = 'dead_letters'") == 0,
	    "migrate-refused-leaves-nothing", "a refused directory created tables");

	/* The tree's migrations, twice: the second run applies nothing. */
	e = il_audit_migrate(a, IL_AUDIT_SQL_DIR, &version, err, sizeof(err));
	check(e == IL_OK && version >= 1, "migrate-tree", "got %s, version %d, \"%s\"", il_err_str(e), version, err);
	e = il_audit_migrate(a, IL_AUDIT_SQL_DIR, &version, err, sizeof(err));
	check(e == IL_OK && query_int(db, "SELECT count(*) FROM audit_schema_migrations") == version,
	    "migrate-idempotent", "got %s, \"%s\"", il_err_str(e), err);
	e = il_audit_check(a, &version, err, sizeof(err));
	check(e == IL_OK && version >= 1, "check-migrated", "got %s, \"%s\"", il_err_str(e), err);

	/* A failing migration: its transaction leaves nothing, the version stays. */
	dir = migration_dir(base, "failing", true);
	write_file(dir, "0002_half.sql", "CREATE TABLE half_done (x int);\nSELECT no_such_column FROM dead_letters;\n");
	e = il_audit_migrate(a, dir, &version, err, sizeof(err));
	check(e == IL_ERR_INVALID && strstr(err, "0002_half.sql") != NULL && strstr(err, "42703") != NULL,
	    "migrate-failing-refused", "got %s, \"%s\"", il_err_str(e), err);
	check(query_int(db, "SELECT count(*) FROM pg_tables WHERE tablename = 'half_done'") == 0 &&
	    query_int(db, "SELECT max(version) FROM audit_schema_migrations") == 1,
	    "migrate-failing-rolled-back", "the failed migration left something behind");
	/* Fixed, it applies, in order after 0001. */
	write_file(dir, "0002_half.sql", "CREATE TABLE half_done (x int);\n");
	write_file(dir, "0003_more.sql", "ALTER TABLE half_done ADD COLUMN y int;\n");
	e = il_audit_migrate(a, dir, &version, err, sizeof(err));
	text = query_text(db, "SELECT string_agg(name, ',' ORDER BY version) FROM audit_schema_migrations");
	check(e == IL_OK && version == 3 && text != NULL &&
	    strcmp(text, "0001_init.sql,0002_half.sql,0003_more.sql") == 0, "migrate-new-files",
	    "got %s, version %d, applied %s, \"%s\"", il_err_str(e), version, text ? text : "-", err);
	free(text);
	/* The tree alone is now older than the store. */
	e = il_audit_migrate(a, IL_AUDIT_SQL_DIR, &version, err, sizeof(err));
	check(e == IL_ERR_INVALID && strstr(err, "newer") != NULL, "migrate-store-newer",
	    "got %s, \"%s\"", il_err_str(e), err);
	free(dir);
	exec_on(db, "DELETE FROM audit_schema_migrations WHERE version > 1; DROP TABLE half_done");
	il_audit_destroy(a);
}

struct racer {
	const char *db;
	il_err err;
	int version;
	char msg[512];
};

static void *
race(void *arg)
{
	struct racer *r = arg;
	il_audit *a = connect_db(r->db);

	r->err = il_audit_migrate(a, IL_AUDIT_SQL_DIR, &r->version, r->msg, sizeof(r->msg));
	il_audit_destroy(a);
	return NULL;
}

static void
test_migration_race(const char *db)
{
	struct racer r[2] = { { .db = db }, { .db = db } };
	pthread_t t[2];
	int i;

	for (i = 0; i < 2; i++)
		pthread_create(&t[i], NULL, race, &r[i]);
	for (i = 0; i < 2; i++)
		pthread_join(t[i], NULL);
	check(r[0].err == IL_OK && r[1].err == IL_OK && r[0].version == r[1].version &&
	    query_int(db, "SELECT count(*) FROM audit_schema_migrations") == r[0].version,
	    "migrate-two-at-once", "got %s (%s) and %s (%s)", il_err_str(r[0].err), r[0].msg,
	    il_err_str(r[1].err), r[1].msg);
}

static il_audit_dead_letter
dead_letter(const char *topic, int32_t partition, int64_t offset)
{
	il_audit_dead_letter d = {
		.topic = topic, .partition = partition, .offset = offset, .timestamp_ms = 1780272000123LL,
		.key = "HH-1", .keylen = 4, .value = "\x00\x01\x02\xff", .vallen = 4,
		.headers_json = "[{\"name\": \"__imislink.errors.class\", \"value\": \"mapping\"}]",
		.source_topic = "openspp.eligibility.v1", .source_partition = 3, .source_offset = offset * 10,
		.error_class = "mapping", .error_stage = "TRANSFORMATION", .error_message = "area unknown",
		.attempts = 2, .first_failure_ms = 1780272000000LL, .last_failure_ms = 1780272000500LL,
		.event_id = "e1", .event_key = "HH-1", .programme_id = 7,
		.decoded_json = "{\"event_id\": \"e1\"}",
	};

	return d;
}

static il_audit_result
result(const char *topic, int32_t partition, int64_t offset)
{
	il_audit_result r = {
		.topic = topic, .partition = partition, .offset = offset, .event_id = "e1", .event_key = "HH-1",
		.outcome = "ENROLLED", .target = "INSURANCE", .programme_id = 7, .insuree_uuid = "u1",
		.chf_id = "070707070", .attempts = 1, .duration_ms = 42, .source_topic = "openspp.eligibility.v1",
		.source_partition = 1, .source_offset = 99, .worker_id = "w1", .processed_at_ms = 1780272000999LL,
	};

	return r;
}

static void
test_writes(const char *db)
{
	il_audit *a = connect_db(db);
	il_audit_dead_letter dls[1100];
	il_audit_result res[300];
	size_t stored = 99, i;
	char err[1024], *text;
	il_err e;

	/* Nothing at all: nothing to do. */
	e = il_audit_write(a, NULL, 0, NULL, 0, &stored, err, sizeof(err));
	check(e == IL_OK && stored == 0, "write-empty", "got %s, %zu", il_err_str(e), stored);

	/* One of each: every column as given. */
	dls[0] = dead_letter("t.dlq", 0, 0);
	dls[1] = dead_letter("t.dlq", 0, 1);
	dls[1].key = NULL;
	dls[1].keylen = 0;
	dls[1].value = "";
	dls[1].vallen = 0;
	dls[1].timestamp_ms = -1;
	dls[1].source_topic = NULL;
	dls[1].source_partition = -1;
	dls[1].source_offset = -1;
	dls[1].attempts = -1;
	dls[1].first_failure_ms = -1;
	dls[1].last_failure_ms = -1;
	dls[1].programme_id = -1;
	dls[1].decoded_json = NULL;
	dls[1].event_id = NULL;
	dls[1].error_message = "bad \xff byte";
	dls[1].headers_json = "[{\"name\": \"x\", \"value\": \"\xc3\x28\"}]";
	res[0] = result("t.results", 2, 5);
	e = il_audit_write(a, dls, 2, res, 1, &stored, err, sizeof(err));
	check(e == IL_OK && stored == 3, "write-rows", "got %s, %zu stored, \"%s\"", il_err_str(e), stored, err);
	text = query_text(db, "SELECT concat_ws('|', topic, kafka_partition, kafka_offset, kafka_timestamp, "
	    "encode(msg_key, 'escape'), encode(msg_value, 'hex'), headers->0->>'value', source_topic, source_partition, "
	    "source_offset, error_class, error_stage, error_message, attempts, first_failure, last_failure, event_id, "
	    "event_key, programme_id, decoded->>'event_id', status, replay_count) FROM dead_letters WHERE kafka_offset = 0");
	check(text != NULL && strcmp(text, "t.dlq|0|0|2026-06-01 00:00:00.123+00|HH-1|000102ff|mapping|"
	    "openspp.eligibility.v1|3|0|mapping|TRANSFORMATION|area unknown|2|2026-06-01 00:00:00+00|"
	    "2026-06-01 00:00:00.5+00|e1|HH-1|7|e1|open|0") == 0, "write-dead-letter-values", "got %s",
	    text != NULL ? text : "(nothing)");
	free(text);
	text = query_text(db, "SELECT concat_ws('|', msg_key IS NULL, length(msg_value), kafka_timestamp IS NULL, "
	    "source_topic IS NULL, source_offset IS NULL, attempts IS NULL, first_failure IS NULL, programme_id IS NULL, "
	    "decoded IS NULL, error_message, headers->0->>'value') FROM dead_letters WHERE kafka_offset = 1");
	check(text != NULL && strcmp(text, "t|0|t|t|t|t|t|t|t|bad \xef\xbf\xbd byte|\xef\xbf\xbd(") == 0,
	    "write-nulls-and-repaired-text", "got %s", text != NULL ? text : "(nothing)");
	free(text);
	text = query_text(db, "SELECT concat_ws('|', topic, kafka_partition, kafka_offset, event_id, event_key, "
	    "outcome, target, programme_id, insuree_uuid, chf_id, family_uuid IS NULL, attempts, duration_ms, "
	    "error_class IS NULL, source_topic, source_partition, source_offset, worker_id, processed_at) FROM results");
	check(text != NULL && strcmp(text, "t.results|2|5|e1|HH-1|ENROLLED|INSURANCE|7|u1|070707070|t|1|42|t|"
	    "openspp.eligibility.v1|1|99|w1|2026-06-01 00:00:00.999+00") == 0, "write-result-values", "got %s",
	    text != NULL ? text : "(nothing)");
	free(text);

	/* The same again: nothing new. */
	e = il_audit_write(a, dls, 2, res, 1, &stored, err, sizeof(err));
	check(e == IL_OK && stored == 0, "write-again-no-effect", "got %s, %zu stored", il_err_str(e), stored);

	/* A time a NOT NULL column cannot hold never becomes a null that refuses the batch. */
	res[0] = result("t.results", 3, 0);
	res[0].processed_at_ms = 253402300800000LL;     /* 10000-01-01 */
	res[1] = result("t.results", 3, 1);
	res[1].processed_at_ms = -5;
	res[1].topic = NULL;
	e = il_audit_write(a, NULL, 0, res, 2, &stored, err, sizeof(err));
	text = query_text(db, "SELECT string_agg(concat_ws('|', topic, processed_at), ',' ORDER BY kafka_offset) "
	    "FROM results WHERE kafka_partition = 3");
	check(e == IL_OK && stored == 2 && text != NULL && strcmp(text, "t.results|9999-12-31 23:59:59.999+00,"
	    "|1970-01-01 00:00:00+00") == 0, "write-result-time-never-null", "got %s, %zu stored, %s, \"%s\"",
	    il_err_str(e), stored, text != NULL ? text : "(nothing)", err);
	free(text);

	/* More than one INSERT's worth, with old rows and a duplicate inside. */
	for (i = 0; i < 1100; i++)
		dls[i] = dead_letter("t.dlq", 1, (int64_t)i);
	dls[1099] = dead_letter("t.dlq", 1, 5);
	dls[1098] = dead_letter("t.dlq", 0, 0);
	for (i = 0; i < 300; i++)
		res[i] = result("t.results", 0, (int64_t)i);
	e = il_audit_write(a, dls, 1100, res, 300, &stored, err, sizeof(err));
	check(e == IL_OK && stored == 1098 + 300 && query_int(db, "SELECT count(*) FROM dead_letters") == 1100,
	    "write-large-batch", "got %s, %zu stored, \"%s\"", il_err_str(e), stored, err);

	/* Refused data: nothing of the batch is written. */
	dls[0] = dead_letter("t.dlq", 2, 0);
	dls[1] = dead_letter("t.dlq", 2, 1);
	dls[1].headers_json = "not json";
	e = il_audit_write(a, dls, 2, NULL, 0, &stored, err, sizeof(err));
	check(e == IL_ERR_INVALID && strstr(err, "22P02") != NULL &&
	    query_int(db, "SELECT count(*) FROM dead_letters WHERE kafka_partition = 2") == 0,
	    "write-refused-whole", "got %s, \"%s\"", il_err_str(e), err);
	e = il_audit_write(a, dls, 1, NULL, 0, &stored, err, sizeof(err));
	check(e == IL_OK && stored == 1, "write-after-refusal", "got %s, \"%s\"", il_err_str(e), err);

	/* The server ends the session under the writer: transient, and a new connection cures it. */
	{
		char sql[128];

		snprintf(sql, sizeof(sql), "SELECT pg_terminate_backend(%d)", PQbackendPID(a->pg));
		exec_on(db, sql);
	}
	dls[0] = dead_letter("t.dlq", 3, 0);
	e = il_audit_write(a, dls, 1, NULL, 0, &stored, err, sizeof(err));
	check(e == IL_ERR_TRANSIENT && !il_audit_connected(a), "write-connection-killed",
	    "got %s, connected %d, \"%s\"", il_err_str(e), il_audit_connected(a), err);
	e = il_audit_reconnect(a, err, sizeof(err));
	if (e == IL_OK)
		e = il_audit_write(a, dls, 1, NULL, 0, &stored, err, sizeof(err));
	check(e == IL_OK && stored == 1, "write-after-reconnect", "got %s, %zu, \"%s\"", il_err_str(e), stored, err);
	for (i = 0; i < 300; i++)
		dls[i] = dead_letter("t.dlq", 4, (int64_t)i);
	e = il_audit_write(a, dls, 300, NULL, 0, &stored, err, sizeof(err));
	check(e == IL_OK && stored == 300, "write-prepared-again", "got %s, %zu, \"%s\"", il_err_str(e), stored, err);
	il_audit_destroy(a);
}

static void
test_classification(const char *db)
{
	static const struct {
		const char *state;
		il_err want;
	} cases[] = {
		{ "08006", IL_ERR_TRANSIENT }, { "57P01", IL_ERR_TRANSIENT }, { "57P03", IL_ERR_TRANSIENT },
		{ "40001", IL_ERR_TRANSIENT }, { "40P01", IL_ERR_TRANSIENT }, { "53300", IL_ERR_TRANSIENT },
		{ "53100", IL_ERR_TRANSIENT }, { "23505", IL_ERR_INVALID }, { "22012", IL_ERR_INVALID },
		{ "42P01", IL_ERR_INVALID }, { "57014", IL_ERR_TRANSIENT }, { "23502", IL_ERR_INVALID },
	};
	il_audit *a = connect_db(db);
	char sql[160], err[512];
	bool ok = true;
	size_t i;

	for (i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		PGresult *r;
		il_err e;

		snprintf(sql, sizeof(sql), "DO $$ BEGIN RAISE EXCEPTION 'raised' USING ERRCODE = '%s'; END $$",
		    cases[i].state);
		r = PQexec(a->pg, sql);
		e = il_audit_pg_error(a, r, "test", err, sizeof(err));
		PQclear(r);
		if (e != cases[i].want || strstr(err, cases[i].state) == NULL || strncmp(err, "test: raised", 12) != 0) {
			ok = false;
			printf("# SQLSTATE %s: got %s, \"%s\"\n", cases[i].state, il_err_str(e), err);
		}
	}
	check(ok, "sqlstate-classes", "see the lines above");
	il_audit_destroy(a);
}

int
main(void)
{
	char db[64], db2[80], base[256];

	il_log_init("it_audit", IL_LOG_WARN, NULL);
	snprintf(db, sizeof(db), "it_audit_%ld_%lld", (long)getpid(), (long long)time(NULL));
	snprintf(db2, sizeof(db2), "%s_race", db);
	snprintf(base, sizeof(base), "%s/it_audit.XXXXXX", getenv("TMPDIR") != NULL ? getenv("TMPDIR") : "/tmp");
	if (mkdtemp(base) == NULL) {
		fprintf(stderr, "it_audit: could not create a directory: %s\n", strerror(errno));
		return 1;
	}
	if (!admin("CREATE DATABASE %s", db) || !admin("CREATE DATABASE %s", db2)) {
		printf("FAIL audit-createdb: could not create the test databases (PGHOST, PGPORT, PGUSER?)\n");
		return 1;
	}
	test_connect(db);
	test_migrations(base, db);
	test_timeouts(base, db);
	test_migration_race(db2);
	test_writes(db);
	test_classification(db);
	admin("DROP DATABASE IF EXISTS %s WITH (FORCE)", db);
	admin("DROP DATABASE IF EXISTS %s WITH (FORCE)", db2);
	{
		char *cmd = il_xasprintf("rm -rf '%s'", base);

		if (system(cmd) != 0)
			fprintf(stderr, "it_audit: could not remove \"%s\"\n", base);
		free(cmd);
	}
	return failures > 0 ? 1 : 0;
}
