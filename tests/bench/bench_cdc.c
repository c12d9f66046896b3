/*
 * bench_cdc - change capture (imislink-cdc) from openSPP's PostgreSQL to
 * Kafka: throughput of a large targeting run, the producer's memory, and the
 * delay of a steady stream of changes.
 *
 * From scratch: a fresh database on the PostgreSQL of the libpq environment
 * (PGHOST, PGPORT, PGUSER, PGDATABASE: the one it connects to create it)
 * holding tests/data/openspp/schema.sql and a generated registry
 * (it_openspp_gen, programme 1 only, one membership per household) whose
 * memberships are all set to draft, g2p_program_membership with REPLICA
 * IDENTITY FULL; a fresh topic on $KAFKA_BOOTSTRAP_SERVERS; then
 * imislink-cdc (cdc.snapshot=never, cdc.programmes=1, its own slot and
 * publication, offline serde) and a consumer of the topic in this program.
 *
 * What is measured:
 *  a) one transaction moves N memberships draft -> enrolled (the targeting
 *     run): from the moment COMMIT is sent to the N-th event read from the
 *     topic -> cdc_changes_per_s; the producer's VmHWM just after ->
 *     cdc_peak_rss_mb;
 *  b) R changes per second committed steadily for S seconds (transactions of
 *     B memberships from writer sessions with synchronous_commit=on, so the
 *     WAL is flushed at commit): for each event, the time the consumer read it
 *     minus its occurred_at (the commit time; the same machine's clock)
 *     -> p50 and p99 -> cdc_delay_p99_s.  Events still missing 2 x S seconds
 *     (at least 60) after the last commit count with the delay they have at
 *     least by then, and the figures are marked as lower bounds.
 * Timing never fails the run; a set-up error, a producer that exits or
 * events that stop arriving (none for 120 s) do.  Slot, database (with the
 * publication) and topic are dropped at the end.
 *
 * The registry has the indexes tests/data/openspp/schema.sql tells a
 * deployment to add; --stock leaves them out, as a stock openSPP is.
 *
 *	bench_cdc --bin DIR [--households N] [--changes N] [--rate R] [--seconds S]
 *	    [--batch B] [--writers W] [--partitions P] [--gen PATH] [--stock]
 *	    [-X PROPERTY=VALUE]...
 */
#include <getopt.h>
#include <limits.h>
#include <pthread.h>
#include <signal.h>
#include <stdatomic.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include <cjson/cJSON.h>
#include <curl/curl.h>
#include <libpq-fe.h>

#define BENCH_NAME "bench_cdc"
#include "benchutil.h"
#include "buf.h"
#include "log.h"
#include "timefmt.h"
#include "xalloc.h"

#define POLL_MS 100             /* consumer poll timeout */
#define PROGRESS_S 5.0          /* a progress line this often */
#define STALL_S 120.0           /* no new event for this long: the run fails */
#define DRAIN_S 60.0            /* b): waited after the writers, at least (2 x --seconds) */
#define START_S 60.0            /* the producer's "http listening" line */
#define SLOT_S 60.0             /* its slot active */
#define METRICS_MAX (4u << 20)  /* largest /metrics body read */
#define MAX_X 16                /* -X options passed on to the producer */
#define MAX_WRITERS 8

#define SCHEMA_FILE IL_TEST_DATA_DIR "/openspp/schema.sql"

struct bench {
	const char *bin;        /* directory of imislink-cdc */
	const char *gen;        /* it_openspp_gen */
	const char *bootstrap;
	long households, changes, rate, seconds, batch;
	int writers, partitions;
	bool stock;             /* --stock: without the recommended indexes */
	char workdir[PATH_MAX]; /* logs */
	char dbname[64];        /* the fresh database; "" until created */
	char slot[64];          /* slot and publication name */
	char topic[128];        /* "" until created */
	struct bench_kafka k;   /* admin (topics) and the offline serde */
	il_conf *cconf;         /* the consumer's configuration */
	il_consumer *cons;
	CURL *curl;
	il_buf body;            /* last HTTP answer */
	pid_t cdc_pid;
	char *log;              /* the producer's log */
	long port;
	const char *rdkafka[MAX_X];
	size_t nrdkafka;
};

/* ------------------------------------------------------------ PostgreSQL */

/* Connects to @p db (NULL: the environment's own database); NULL after saying why. */
static PGconn *
pg_connect(const char *db)
{
	const char *keys[] = { "dbname", "application_name", NULL };
	const char *vals[] = { db, "bench_cdc", NULL };
	PGconn *pg = PQconnectdbParams(db != NULL ? keys : keys + 1, db != NULL ? vals : vals + 1, 0);

	if (PQstatus(pg) != CONNECTION_OK) {
		fprintf(stderr, "bench_cdc: could not connect to PostgreSQL (PGHOST, PGPORT, ...)%s%s: %s",
		    db != NULL ? ", database " : "", db != NULL ? db : "", PQerrorMessage(pg));
		PQfinish(pg);
		return NULL;
	}
	return pg;
}

/* Runs @p sql (no result rows wanted); @returns 0 or -1 after saying why. */
static int
pg_exec(PGconn *pg, const char *sql)
{
	PGresult *r = PQexec(pg, sql);
	int rc = 0;

	if (PQresultStatus(r) != PGRES_COMMAND_OK && PQresultStatus(r) != PGRES_TUPLES_OK) {
		fprintf(stderr, "bench_cdc: \"%.200s\" failed: %s", sql, PQerrorMessage(pg));
		rc = -1;
	}
	PQclear(r);
	return rc;
}

/* Runs @p sql on a fresh connection to @p db (NULL: the maintenance database). */
static int
pg_run(const char *db, const char *sql)
{
	PGconn *pg = pg_connect(db);
	int rc;

	if (pg == NULL)
		return -1;
	rc = pg_exec(pg, sql);
	PQfinish(pg);
	return rc;
}

/* @returns the first column of the first row of @p sql as a number, or -1. */
static long
pg_long(PGconn *pg, const char *sql, const char *param)
{
	const char *params[1] = { param };
	PGresult *r = PQexecParams(pg, sql, param != NULL ? 1 : 0, NULL, params, NULL, NULL, 0);
	long v = -1;

	if (PQresultStatus(r) == PGRES_TUPLES_OK && PQntuples(r) == 1 && !PQgetisnull(r, 0, 0))
		v = strtol(PQgetvalue(r, 0, 0), NULL, 10);
	else if (PQresultStatus(r) != PGRES_TUPLES_OK)
		fprintf(stderr, "bench_cdc: \"%.200s\" failed: %s", sql, PQerrorMessage(pg));
	PQclear(r);
	return v;
}

/* Runs a shell command (the generator into psql), its output to @p log. */
static int
shell(const char *what, const char *cmd, const char *log)
{
	char *full = il_xasprintf("( %s ) >>'%s' 2>&1", cmd, log);
	int st = system(full);

	free(full);
	if (st != 0) {
		fprintf(stderr, "bench_cdc: %s failed (status %d)\n", what, st);
		bench_print_tail(log);
		return -1;
	}
	return 0;
}

/*
 * The indexes tests/data/openspp/schema.sql says a deployment should add:
 * stock Odoo has none on the link columns the enrichment looks up.
 */
static int
make_indexes(PGconn *pg)
{
	static const char *const sql[] = {
		"CREATE INDEX ON g2p_group_membership (individual)",
		"CREATE INDEX ON g2p_group_membership (\"group\")",
		"CREATE INDEX ON g2p_reg_id (partner_id)",
		"CREATE INDEX ON g2p_phone_number (partner_id)",
		"CREATE INDEX ON g2p_program_membership (write_date, id)",
	};

	for (size_t i = 0; i < sizeof(sql) / sizeof(sql[0]); i++)
		if (pg_exec(pg, sql[i]) != 0)
			return -1;
	return 0;
}

/*
 * The fresh database: schema, registry (with the recommended indexes unless
 * --stock), every membership of programme 1 a draft.
 */
static int
make_registry(struct bench *b)
{
	char *sql = NULL, *cmd = NULL, *log = il_xasprintf("%s/load.log", b->workdir);
	char *psql = il_xasprintf("psql -X -q -v ON_ERROR_STOP=1 -d %s", b->dbname);
	PGconn *pg = NULL;
	double t0 = bench_now();
	long drafts;
	int rc = -1;

	sql = il_xasprintf("CREATE DATABASE %s", b->dbname);
	if (pg_run(NULL, sql) != 0) {
		b->dbname[0] = '\0';
		goto out;
	}
	fprintf(stderr, "bench_cdc: database \"%s\": loading a registry of %ld households\n", b->dbname,
	    b->households);
	cmd = il_xasprintf("%s -f '%s'", psql, SCHEMA_FILE);
	if (shell("loading the schema", cmd, log) != 0)
		goto out;
	free(cmd);
	cmd = il_xasprintf("'%s' --households %ld --seed 3 --programmes group | %s", b->gen, b->households,
	    psql);
	if (shell("loading the generated registry", cmd, log) != 0)
		goto out;
	pg = pg_connect(b->dbname);
	if (pg == NULL ||
	    pg_exec(pg, "ALTER TABLE g2p_program_membership REPLICA IDENTITY FULL") != 0 ||
	    pg_exec(pg, "UPDATE g2p_program_membership SET state = 'draft', enrollment_date = NULL, "
	    "exit_date = NULL WHERE program_id = 1 AND state <> 'draft'") != 0 ||
	    (!b->stock && make_indexes(pg) != 0) || pg_exec(pg, "VACUUM ANALYZE") != 0)
		goto out;
	drafts = pg_long(pg, "SELECT count(*) FROM g2p_program_membership WHERE program_id = 1 AND "
	    "state = 'draft'", NULL);
	if (drafts < b->changes) {
		fprintf(stderr, "bench_cdc: %ld draft memberships in programme 1, %ld needed: raise --households\n",
		    drafts, b->changes);
		goto out;
	}
	fprintf(stderr, "bench_cdc: registry loaded in %.1f s: %ld draft memberships in programme 1\n",
	    bench_now() - t0, drafts);
	rc = 0;
out:
	PQfinish(pg);
	free(psql);
	free(cmd);
	free(sql);
	free(log);
	return rc;
}

/* ------------------------------------------------------------- Kafka */

static int
open_consumer(struct bench *b)
{
	char errbuf[512];

	b->cconf = il_conf_new();
	if (il_conf_load_env(b->cconf, errbuf, sizeof(errbuf)) != IL_OK) {
		fprintf(stderr, "bench_cdc: configuration: %s\n", errbuf);
		return -1;
	}
	b->cons = il_consumer_new(b->cconf, NULL, NULL, NULL, errbuf, sizeof(errbuf));
	if (b->cons == NULL || il_consumer_assign_all(b->cons, b->topic, RD_KAFKA_OFFSET_BEGINNING, -1,
	    errbuf, sizeof(errbuf)) != IL_OK) {
		fprintf(stderr, "bench_cdc: consumer: %s\n", errbuf);
		return -1;
	}
	return 0;
}

/* ------------------------------------------------------------- the producer */

static int
start_cdc(struct bench *b)
{
	char *exe = il_xasprintf("%s/imislink-cdc", b->bin);
	char *pgdb = il_xasprintf("PGDATABASE=%s", b->dbname);
	/* Offline serde like the consumer here; no operator file. */
	const char *env_set[] = { "SCHEMA_REGISTRY_URL=", "IMISLINK_CONFIG=/dev/null", pgdb };
	char **envp = bench_child_env(env_set, sizeof(env_set) / sizeof(env_set[0]));
	char *sets[11];
	size_t n = 0;
	PGconn *pg = NULL;
	double deadline;
	int rc = -1;

	b->log = il_xasprintf("%s/cdc.log", b->workdir);
	sets[n++] = il_xasprintf("kafka.bootstrap.servers=%s", b->bootstrap);
	sets[n++] = il_xasprintf("topic.eligibility=%s", b->topic);
	sets[n++] = il_xasprintf("cdc.slot.name=%s", b->slot);
	sets[n++] = il_xasprintf("cdc.publication.name=%s", b->slot);
	sets[n++] = il_xasprintf("cdc.programmes=1");
	sets[n++] = il_xasprintf("cdc.snapshot=never");
	sets[n++] = il_xasprintf("openspp.instance=bench");
	sets[n++] = il_xasprintf("http.port=0");
	sets[n++] = il_xasprintf("cdc.state.file=%s/cdc.state", b->workdir);
	b->port = bench_start_daemon(NULL, exe, sets, n, b->rdkafka, b->nrdkafka, envp, b->log, START_S,
	    &b->cdc_pid);
	if (b->port < 0)
		goto out;
	/* Changes committed before the slot streams would be lost to the figures. */
	pg = pg_connect(b->dbname);
	if (pg == NULL)
		goto out;
	deadline = bench_now() + SLOT_S;
	while (pg_long(pg, "SELECT count(*) FROM pg_replication_slots WHERE slot_name = $1 AND active",
	    b->slot) != 1) {
		if (!bench_alive(b->cdc_pid) || bench_now() > deadline) {
			fprintf(stderr, "bench_cdc: the producer's slot \"%s\" is not streaming after %.0f s\n",
			    b->slot, SLOT_S);
			bench_print_tail(b->log);
			goto out;
		}
		usleep(100000);
	}
	fprintf(stderr, "bench_cdc: imislink-cdc (pid %ld) streams slot \"%s\", /metrics on port %ld, "
	    "VmRSS %.1f MiB\n", (long)b->cdc_pid, b->slot, b->port, bench_proc_status_mb(b->cdc_pid, "VmRSS"));
	rc = 0;
out:
	PQfinish(pg);
	for (size_t i = 0; i < n; i++)
		free(sets[i]);
	free(envp);
	free(pgdb);
	free(exe);
	return rc;
}

/*
 * CPU seconds of the producer, of the walsender of its slot (decoding) and
 * of the other PostgreSQL backends of the bench database (its queries).
 */
static void
cpu_now(const struct bench *b, PGconn *pg, double cpu[3])
{
	const char *params[1] = { b->slot };
	PGresult *r;

	cpu[0] = bench_proc_cpu_s(b->cdc_pid);
	cpu[1] = cpu[2] = 0;
	r = PQexecParams(pg, "SELECT pid, pid = (SELECT active_pid FROM pg_replication_slots WHERE slot_name = $1) "
	    "FROM pg_stat_activity WHERE (datname = current_database() OR backend_type = 'walsender') AND "
	    "pid <> pg_backend_pid() AND application_name <> 'bench_cdc'", 1, NULL, params, NULL, NULL, 0);
	if (PQresultStatus(r) == PGRES_TUPLES_OK) {
		for (int i = 0; i < PQntuples(r); i++) {
			double s = bench_proc_cpu_s(strtol(PQgetvalue(r, i, 0), NULL, 10));

			if (s > 0)
				cpu[strcmp(PQgetvalue(r, i, 1), "t") == 0 ? 1 : 2] += s;
		}
	}
	PQclear(r);
}

static double
metric(struct bench *b, const char *name)
{
	char *url = il_xasprintf("http://127.0.0.1:%ld/metrics", b->port);
	double v = -1;

	if (bench_http_get(b->curl, &b->body, url) == 200)
		v = bench_metric_sum(b->body.data, name, NULL);
	free(url);
	return v;
}

/* ------------------------------------------------------------- a) targeting */

static int
phase_targeting(struct bench *b, double *per_s, double *hwm_mb)
{
	PGconn *pg = pg_connect(b->dbname);
	char nbuf[24];
	const char *params[1] = { nbuf };
	PGresult *r = NULL;
	double t0, t_commit, t_last = 0, last_progress, last_change, cpu0[3], cpu1[3];
	long got = 0, prev = 0, rows;
	int rc = -1;

	if (pg == NULL || pg_exec(pg, "SET synchronous_commit = on") != 0)
		goto out;
	cpu_now(b, pg, cpu0);
	fprintf(stderr, "bench_cdc: a) one transaction moving %ld memberships draft -> enrolled\n",
	    b->changes);
	snprintf(nbuf, sizeof(nbuf), "%ld", b->changes);
	if (pg_exec(pg, "BEGIN") != 0)
		goto out;
	r = PQexecParams(pg, "UPDATE g2p_program_membership SET state = 'enrolled', enrollment_date = now(), "
	    "write_date = now(), write_uid = 2 WHERE id IN (SELECT id FROM g2p_program_membership "
	    "WHERE program_id = 1 AND state = 'draft' ORDER BY id LIMIT $1::int)", 1, NULL, params, NULL,
	    NULL, 0);
	rows = PQresultStatus(r) == PGRES_COMMAND_OK ? strtol(PQcmdTuples(r), NULL, 10) : -1;
	if (rows != b->changes) {
		fprintf(stderr, "bench_cdc: the targeting update changed %ld rows, expected %ld: %s", rows,
		    b->changes, PQerrorMessage(pg));
		goto out;
	}
	t0 = bench_now();
	if (pg_exec(pg, "COMMIT") != 0)
		goto out;
	t_commit = bench_now();
	fprintf(stderr, "bench_cdc: committed (COMMIT took %.3f s); counting events\n", t_commit - t0);
	last_progress = last_change = t_commit;
	while (got < b->changes) {
		rd_kafka_message_t *m = il_consumer_poll(b->cons, POLL_MS);
		double now = bench_now();

		if (m != NULL) {
			if (m->err == RD_KAFKA_RESP_ERR_NO_ERROR) {
				got++;
				t_last = now;
				last_change = now;
			}
			rd_kafka_message_destroy(m);
		}
		if (now - last_progress >= PROGRESS_S) {
			fprintf(stderr, "bench_cdc: %ld/%ld events, %.0f/s now, producer VmRSS %.1f MiB, "
			    "events produced %.0f\n", got, b->changes, (got - prev) / (now - last_progress),
			    bench_proc_status_mb(b->cdc_pid, "VmRSS"),
			    metric(b, "imislink_cdc_events_produced_total"));
			last_progress = now;
			prev = got;
		}
		if (!bench_alive(b->cdc_pid)) {
			fprintf(stderr, "bench_cdc: the producer exited at %ld/%ld events\n", got, b->changes);
			bench_print_tail(b->log);
			goto out;
		}
		if (now - last_change > STALL_S) {
			fprintf(stderr, "bench_cdc: no new event for %.0f s at %ld/%ld\n", STALL_S, got, b->changes);
			bench_print_tail(b->log);
			goto out;
		}
	}
	*hwm_mb = bench_proc_status_mb(b->cdc_pid, "VmHWM");
	*per_s = (double)b->changes / (t_last - t0);
	cpu_now(b, pg, cpu1);
	fprintf(stderr, "bench_cdc: %ld events in %.2f s after COMMIT; producer VmHWM %.1f MiB; CPU: "
	    "producer %.1f s, its walsender %.1f s, other PostgreSQL backends %.1f s\n", b->changes, t_last - t0,
	    *hwm_mb, cpu1[0] - cpu0[0], cpu1[1] - cpu0[1], cpu1[2] - cpu0[2]);
	rc = 0;
out:
	PQclear(r);
	PQfinish(pg);
	return rc;
}

/* ------------------------------------------------------------- b) steady changes */

struct writer {
	struct bench *b;
	int index;
	const long *ids;        /* the memberships of programme 1, sorted */
	long nids;
	long ntx;               /* transactions in all (every writer) */
	double start;           /* monotonic time of transaction 0 */
	double tx_per_s;
	long committed;         /* transactions of this writer */
	long rows;
	double behind_max;      /* worst lateness of a commit against the schedule */
	int failed;
	atomic_int finished;    /* set last: the fields above are final */
};

static void
sleep_until(double t)
{
	double d = t - bench_now();
	struct timespec ts;

	if (d <= 0)
		return;
	ts.tv_sec = (time_t)d;
	ts.tv_nsec = (long)((d - (double)ts.tv_sec) * 1e9);
	while (nanosleep(&ts, &ts) != 0)
		;
}

static void *
writer_main(void *arg)
{
	struct writer *w = arg;
	PGconn *pg = pg_connect(w->b->dbname);
	il_buf arr;

	il_buf_init(&arr, 1 << 20);
	if (pg == NULL || pg_exec(pg, "SET synchronous_commit = on") != 0) {
		w->failed = 1;
		goto out;
	}
	for (long k = w->index; k < w->ntx; k += w->b->writers) {
		double due = w->start + (double)k / w->tx_per_s, late;
		const char *params[1];
		PGresult *r;

		sleep_until(due);
		late = bench_now() - due;
		if (late > w->behind_max)
			w->behind_max = late;
		il_buf_reset(&arr);
		if (il_buf_adds(&arr, "{") != IL_OK)
			break;
		for (long j = 0; j < w->b->batch; j++) {
			char num[24];

			snprintf(num, sizeof(num), "%s%ld", j > 0 ? "," : "", w->ids[(k * w->b->batch + j) % w->nids]);
			if (il_buf_adds(&arr, num) != IL_OK)
				break;
		}
		if (il_buf_adds(&arr, "}") != IL_OK)
			break;
		params[0] = arr.data;
		/* Every row changes state, so every row is one event. */
		r = PQexecParams(pg, "UPDATE g2p_program_membership SET state = CASE state WHEN 'paused' THEN "
		    "'enrolled' ELSE 'paused' END, write_date = now(), write_uid = 3 WHERE id = ANY($1::int[])",
		    1, NULL, params, NULL, NULL, 0);
		if (PQresultStatus(r) != PGRES_COMMAND_OK) {
			fprintf(stderr, "bench_cdc: writer %d: update failed: %s", w->index, PQerrorMessage(pg));
			PQclear(r);
			w->failed = 1;
			break;
		}
		w->rows += strtol(PQcmdTuples(r), NULL, 10);
		w->committed++;
		PQclear(r);
	}
out:
	il_buf_free(&arr);
	PQfinish(pg);
	atomic_store(&w->finished, 1);
	return NULL;
}

/* @returns occurred_at of the event in @p m in ms since 1970, or -1. */
static int64_t
occurred_at(struct bench *b, const rd_kafka_message_t *m)
{
	char errbuf[512];
	const il_schema *writer = NULL;
	cJSON *json = NULL, *at;
	int64_t ms = -1;

	if (il_serde_decode(b->k.serde, m->payload, m->len, &json, &writer, errbuf, sizeof(errbuf)) != IL_OK)
		return -1;
	at = cJSON_GetObjectItemCaseSensitive(json, "occurred_at");
	if (cJSON_IsString(at)) {
		if (il_time_parse_ms(at->valuestring, 0, &ms) != NULL)
			ms = -1;
	} else if (cJSON_IsNumber(at)) {
		ms = (int64_t)at->valuedouble;
	}
	cJSON_Delete(json);
	return ms;
}

static int64_t
wall_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_REALTIME, &ts);
	return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

static int
cmp_double(const void *a, const void *b)
{
	double x = *(const double *)a, y = *(const double *)b;

	return (x > y) - (x < y);
}

/*
 * Joins the *@p n writers and says what they did; the events to wait for
 * become the changes committed.  @returns 0, or -1 when one failed.
 */
static int
writers_join(pthread_t *th, struct writer *w, int *n, double t_start, long *expected)
{
	long committed = 0, rows = 0;
	double behind = 0, t;
	int failed = 0;

	for (int i = 0; i < *n; i++)
		pthread_join(th[i], NULL);
	t = bench_now() - t_start;
	for (int i = 0; i < *n; i++) {
		committed += w[i].committed;
		rows += w[i].rows;
		if (w[i].behind_max > behind)
			behind = w[i].behind_max;
		failed |= w[i].failed;
	}
	*n = 0;
	if (failed) {
		fprintf(stderr, "bench_cdc: a writer failed\n");
		return -1;
	}
	fprintf(stderr, "bench_cdc: %ld transactions, %ld changes committed in %.1f s, %.0f/s (at most %.3f s "
	    "behind schedule)\n", committed, rows, t, (double)rows / t, behind);
	if (rows < *expected)
		*expected = rows;
	return 0;
}

/* @returns whether the @p n writers are done (without waiting: the consumer must go on). */
static bool
writers_finished(struct writer *w, int n)
{
	for (int i = 0; i < n; i++)
		if (!atomic_load(&w[i].finished))
			return false;
	return true;
}

static int
phase_steady(struct bench *b, double *p50, double *p99)
{
	struct writer w[MAX_WRITERS];
	pthread_t th[MAX_WRITERS];
	PGconn *pg = pg_connect(b->dbname);
	PGresult *r = NULL;
	long *ids = NULL, nids = 0, ntx = b->rate * b->seconds / b->batch, expected, got = 0, prev = 0;
	long undecoded = 0, missing = 0;
	double *delay = NULL, t_start, last_progress, last_change;
	double drain_s = DRAIN_S > 2.0 * (double)b->seconds ? DRAIN_S : 2.0 * (double)b->seconds;
	int64_t start_ms, done_ms = 0;
	int started = 0, rc = -1;
	bool done;

	if (pg == NULL)
		goto out;
	r = PQexec(pg, "SELECT id FROM g2p_program_membership WHERE program_id = 1 ORDER BY id");
	if (PQresultStatus(r) != PGRES_TUPLES_OK || PQntuples(r) < b->batch) {
		fprintf(stderr, "bench_cdc: could not read the memberships of programme 1: %s", PQerrorMessage(pg));
		goto out;
	}
	nids = PQntuples(r);
	ids = il_xcalloc((size_t)nids, sizeof(*ids));
	for (long i = 0; i < nids; i++)
		ids[i] = strtol(PQgetvalue(r, (int)i, 0), NULL, 10);
	expected = ntx * b->batch;
	delay = il_xcalloc((size_t)expected, sizeof(*delay));
	fprintf(stderr, "bench_cdc: b) %ld changes per second for %ld s: %ld transactions of %ld from %d "
	    "writers\n", b->rate, b->seconds, ntx, b->batch, b->writers);
	/* Events of a) repeated later are not b)'s: only commits from now count. */
	start_ms = wall_ms();
	t_start = bench_now() + 0.2;
	for (int i = 0; i < b->writers; i++) {
		w[i] = (struct writer){ .b = b, .index = i, .ids = ids, .nids = nids, .ntx = ntx,
		    .start = t_start, .tx_per_s = (double)b->rate / (double)b->batch };
		atomic_init(&w[i].finished, 0);
		if (pthread_create(&th[i], NULL, writer_main, &w[i]) != 0) {
			fprintf(stderr, "bench_cdc: could not start a writer thread\n");
			goto join;
		}
		started++;
	}
	last_progress = last_change = bench_now();
	done = false;
	while (got < expected) {
		rd_kafka_message_t *m = il_consumer_poll(b->cons, POLL_MS);
		double now = bench_now();

		if (m != NULL) {
			if (m->err == RD_KAFKA_RESP_ERR_NO_ERROR) {
				int64_t at = occurred_at(b, m), t = wall_ms();

				if (at < 0)
					undecoded++;
				else if (at >= start_ms)
					delay[got++] = (double)(t - at) / 1000.0;
				last_change = now;
			}
			rd_kafka_message_destroy(m);
		}
		if (!done && now > t_start + (double)b->seconds && writers_finished(w, started)) {
			done = true;
			if (writers_join(th, w, &started, t_start, &expected) != 0)
				goto out;
			done_ms = wall_ms();
		}
		/* A producer that cannot keep up would make the run last for
		 * ever: the events still missing count with the delay they have
		 * at least, and the figure is a lower bound. */
		if (done && (double)(wall_ms() - done_ms) / 1000.0 > drain_s) {
			double lower = (double)(wall_ms() - done_ms) / 1000.0;

			fprintf(stderr, "bench_cdc: %ld of %ld events not read %.0f s after the last commit: they "
			    "count with %.1f s, the figures are lower bounds\n", expected - got, expected, lower,
			    lower);
			missing = expected - got;
			while (got < expected)
				delay[got++] = lower;
			break;
		}
		if (now - last_progress >= PROGRESS_S) {
			fprintf(stderr, "bench_cdc: %ld/%ld events, %.0f/s now, last delay %.3f s, producer VmRSS "
			    "%.1f MiB\n", got, expected, (got - prev) / (now - last_progress),
			    got > 0 ? delay[got - 1] : 0.0, bench_proc_status_mb(b->cdc_pid, "VmRSS"));
			last_progress = now;
			prev = got;
		}
		if (!bench_alive(b->cdc_pid)) {
			fprintf(stderr, "bench_cdc: the producer exited at %ld/%ld events\n", got, expected);
			bench_print_tail(b->log);
			goto join;
		}
		if (now - last_change > STALL_S) {
			fprintf(stderr, "bench_cdc: no new event for %.0f s at %ld/%ld\n", STALL_S, got, expected);
			bench_print_tail(b->log);
			goto join;
		}
	}
	if (!done && writers_join(th, w, &started, t_start, &expected) != 0)
		goto out;
	qsort(delay, (size_t)got, sizeof(*delay), cmp_double);
	*p50 = delay[(size_t)((double)(got - 1) * 0.50)];
	*p99 = delay[(size_t)((double)(got - 1) * 0.99)];
	printf("# b) %ld events: delay p50 %.3f s, p99 %.3f s, max %.3f s%s; %ld undecodable\n", got, *p50,
	    *p99, delay[got - 1], missing > 0 ? " (lower bounds: events still missing)" : "", undecoded);
	if (missing > 0)
		printf("# b) %ld events were not read %.0f s after the last commit\n", missing, drain_s);
	rc = 0;
join:
	for (int i = 0; i < started; i++)
		pthread_join(th[i], NULL);
out:
	PQclear(r);
	PQfinish(pg);
	free(delay);
	free(ids);
	return rc;
}

/* ------------------------------------------------------------- the run */

static void
teardown(struct bench *b)
{
	char *sql;

	if (bench_stop_child(&b->cdc_pid) != 0)
		fprintf(stderr, "bench_cdc: the producer did not exit cleanly (see %s)\n", b->log);
	il_consumer_destroy(b->cons);
	b->cons = NULL;
	if (b->dbname[0] != '\0') {
		/* The walsender of a stopped producer may hold the slot a moment
		 * longer; a slot left behind would keep the database too. */
		sql = il_xasprintf("SELECT pg_drop_replication_slot(slot_name) FROM pg_replication_slots "
		    "WHERE slot_name = '%s' AND NOT active", b->slot);
		for (int i = 0; i < 20; i++) {
			PGconn *pg = pg_connect(NULL);
			long left;

			if (pg == NULL)
				break;
			pg_exec(pg, sql);
			left = pg_long(pg, "SELECT count(*) FROM pg_replication_slots WHERE slot_name = $1", b->slot);
			PQfinish(pg);
			if (left == 0)
				break;
			usleep(500000);
		}
		free(sql);
		sql = il_xasprintf("DROP DATABASE IF EXISTS %s WITH (FORCE)", b->dbname);
		pg_run(NULL, sql);
		free(sql);
		b->dbname[0] = '\0';
	}
	if (b->topic[0] != '\0' && b->k.prod != NULL) {
		bench_delete_topic(&b->k, b->topic);
		b->topic[0] = '\0';
	}
}

__attribute__((noreturn))
static void
usage(int code)
{
	fprintf(code == 0 ? stdout : stderr,
	    "usage: bench_cdc --bin DIR [--households N] [--changes N] [--rate R] [--seconds S]\n"
	    "           [--batch B] [--writers W] [--partitions P] [--gen PATH] [--stock]\n"
	    "           [-X PROPERTY=VALUE]...\n"
	    "  --bin DIR          where imislink-cdc is\n"
	    "  --households N     households of the generated registry, one membership of\n"
	    "                     programme 1 each, all drafts (default 100000)\n"
	    "  --changes N        memberships the targeting transaction enrolls (default 100000)\n"
	    "  --rate R           changes per second committed in b) (default 2000)\n"
	    "  --seconds S        for how long (default 30)\n"
	    "  --batch B          changes per transaction in b) (default 100)\n"
	    "  --writers W        writer sessions in b) (default 2)\n"
	    "  --partitions P     partitions of the topic (default 6)\n"
	    "  --gen PATH         it_openspp_gen (default DIR/../tests/it_openspp_gen)\n"
	    "  --stock            leave out the indexes a deployment should add (schema.sql):\n"
	    "                     every enrichment lookup then scans whole tables\n"
	    "  -X PROPERTY=VALUE  a librdkafka property for the producer (repeatable)\n"
	    "The broker is $KAFKA_BOOTSTRAP_SERVERS; PostgreSQL (wal_level=logical, a role with\n"
	    "REPLICATION) is libpq's environment, where a database is created and dropped.\n");
	exit(code);
}

int
main(int argc, char **argv)
{
	static const struct option longopts[] = {
		{ "bin", required_argument, NULL, 'B' },
		{ "households", required_argument, NULL, 'H' },
		{ "changes", required_argument, NULL, 'n' },
		{ "rate", required_argument, NULL, 'r' },
		{ "seconds", required_argument, NULL, 's' },
		{ "batch", required_argument, NULL, 'b' },
		{ "writers", required_argument, NULL, 'w' },
		{ "partitions", required_argument, NULL, 'p' },
		{ "gen", required_argument, NULL, 'g' },
		{ "stock", no_argument, NULL, 'S' },
		{ "help", no_argument, NULL, 'h' },
		{ NULL, 0, NULL, 0 },
	};
	struct bench b;
	char *gen = NULL, *exe = NULL;
	char *names[1];
	int parts[1], opt, rc = 1;
	double per_s = 0, hwm_mb = 0, p50 = 0, p99 = 0, load[3] = { 0, 0, 0 };

	bench_init(argc, argv);
	memset(&b, 0, sizeof(b));
	b.households = 100000;
	b.changes = 100000;
	b.rate = 2000;
	b.seconds = 30;
	b.batch = 100;
	b.writers = 2;
	b.partitions = 6;
	while ((opt = getopt_long(argc, argv, "hX:", longopts, NULL)) != -1) {
		switch (opt) {
		case 'B': b.bin = optarg; break;
		case 'H': b.households = bench_parse_long(optarg, 1, 10000000, "--households"); break;
		case 'n': b.changes = bench_parse_long(optarg, 1, 10000000, "--changes"); break;
		case 'r': b.rate = bench_parse_long(optarg, 1, 1000000, "--rate"); break;
		case 's': b.seconds = bench_parse_long(optarg, 1, 3600, "--seconds"); break;
		case 'b': b.batch = bench_parse_long(optarg, 1, 100000, "--batch"); break;
		case 'w': b.writers = (int)bench_parse_long(optarg, 1, MAX_WRITERS, "--writers"); break;
		case 'p': b.partitions = (int)bench_parse_long(optarg, 1, 1000, "--partitions"); break;
		case 'g': b.gen = optarg; break;
		case 'S': b.stock = true; break;
		case 'X': bench_add_x(b.rdkafka, &b.nrdkafka, MAX_X, optarg); break;
		case 'h': usage(0);
		default: usage(1);
		}
	}
	if (optind != argc || b.bin == NULL)
		usage(1);
	if (b.rate * b.seconds < b.batch) {
		fprintf(stderr, "bench_cdc: --rate times --seconds is less than one batch\n");
		return 1;
	}
	if (b.gen == NULL)
		b.gen = gen = il_xasprintf("%s/../tests/it_openspp_gen", b.bin);
	il_log_init("bench_cdc", IL_LOG_WARN, NULL);
	signal(SIGPIPE, SIG_IGN);
	curl_global_init(CURL_GLOBAL_DEFAULT);
	il_buf_init(&b.body, METRICS_MAX);
	b.bootstrap = bench_bootstrap();
	if (b.bootstrap == NULL)
		goto out;
	if (access(b.gen, X_OK) != 0) {
		fprintf(stderr, "bench_cdc: no generator \"%s\" (make all, or --gen)\n", b.gen);
		goto out;
	}
	exe = il_xasprintf("%s/imislink-cdc", b.bin);
	if (access(exe, X_OK) != 0) {
		fprintf(stderr, "bench_cdc: no producer \"%s\" (make all)\n", exe);
		goto out;
	}
	if (bench_workdir_make(b.workdir, "bench-cdc") != 0 || bench_kafka_open(&b.k) != 0)
		goto out;
	b.curl = bench_curl_new();
	if (b.curl == NULL)
		goto out;
	snprintf(b.dbname, sizeof(b.dbname), "bench_cdc_%ld_%lld", (long)getpid(), (long long)time(NULL));
	snprintf(b.slot, sizeof(b.slot), "%s", b.dbname);
	if (make_registry(&b) != 0)
		goto out;
	snprintf(b.topic, sizeof(b.topic), "bench-cdc-%ld-%lld", (long)getpid(), (long long)time(NULL));
	names[0] = b.topic;
	parts[0] = b.partitions;
	if (bench_create_topics(&b.k, names, parts, 1) != 0) {
		b.topic[0] = '\0';
		goto out;
	}
	if (open_consumer(&b) != 0 || start_cdc(&b) != 0)
		goto out;
	if (phase_targeting(&b, &per_s, &hwm_mb) != 0)
		goto out;
	if (getloadavg(load, 3) < 0)
		load[0] = load[1] = load[2] = -1;
	printf("# a) %ld memberships draft -> enrolled in one transaction, registry of %ld households%s, "
	    "%d partitions; load average %.2f %.2f %.2f\n", b.changes, b.households,
	    b.stock ? " without indexes (--stock)" : " with the recommended indexes", b.partitions, load[0],
	    load[1], load[2]);
	bench_report("cdc_changes_per_s", per_s, "changes/s", ">=10000");
	bench_report("cdc_peak_rss_mb", hwm_mb, "MiB", "<=64");
	if (phase_steady(&b, &p50, &p99) != 0)
		goto out;
	if (getloadavg(load, 3) < 0)
		load[0] = load[1] = load[2] = -1;
	printf("# b) %ld changes/s for %ld s in transactions of %ld; load average %.2f %.2f %.2f\n", b.rate,
	    b.seconds, b.batch, load[0], load[1], load[2]);
	bench_report("cdc_delay_p99_s", p99, "s", "<2");
	rc = 0;
out:
	teardown(&b);
	bench_workdir_done(b.workdir, rc == 0);
	if (b.curl != NULL)
		curl_easy_cleanup(b.curl);
	il_conf_destroy(b.cconf);
	bench_kafka_close(&b.k);
	il_buf_free(&b.body);
	free(b.log);
	free(exe);
	free(gen);
	curl_global_cleanup();
	return rc;
}
