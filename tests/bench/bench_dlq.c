/*
 * bench_dlq - how fast imislink-deadletter writes dead letters to the audit
 * store, and its memory.
 *
 * From scratch: a fresh database on the PostgreSQL of the libpq environment
 * (PGHOST, PGPORT, PGUSER, PGDATABASE: the one it connects to create it),
 * fresh dead-letter and results topics on the broker in
 * $KAFKA_BOOTSTRAP_SERVERS, N dead letters published before anything
 * consumes them (three in four a valid EligibilityEvent with imislink's
 * headers, of classes mapping, permanent and transient; one in four bytes
 * that do not decode, class undecodable), then one worker
 * (imislink-deadletter, its own consumer group, offline serde).
 *
 * What is measured, from the worker's /metrics polled every 50 ms and its
 * /proc entries:
 *  - dlq_rows_per_s: rows written (imislink_deadletter_rows_total) from the
 *    first seen to the last, so start-up, migrations and the group join are
 *    not counted; the table must then hold exactly N rows;
 *  - dlq_peak_rss_mb: the worker's VmHWM just before it is stopped.
 *
 *	bench_dlq --bin DIR [-n N] [--partitions P] [--batch-size B] [-X PROPERTY=VALUE]...
 */
#include <getopt.h>
#include <limits.h>
#include <signal.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include <curl/curl.h>
#include <libpq-fe.h>

#define BENCH_NAME "bench_dlq"
#include "benchutil.h"
#include "buf.h"
#include "dlq.h"
#include "event.h"
#include "log.h"
#include "xalloc.h"
#include "../testevent.h"

#define POLL_MS 50              /* metrics polling interval */
#define PROGRESS_S 5.0          /* a progress line this often */
#define STALL_S 60.0            /* no new row for this long: the run fails */
#define START_S 60.0            /* the worker's "http listening" line */
#define METRICS_MAX (4u << 20)  /* largest /metrics body read */
#define NVARIANTS 64            /* distinct event values cycled through */
#define MAX_X 16                /* -X options passed on to the worker */

struct bench {
	const char *bin;        /* directory of imislink-deadletter */
	const char *bootstrap;
	char workdir[PATH_MAX]; /* the worker's log */
	char dbname[64];        /* the fresh database; "" until created */
	struct bench_kafka k;   /* publishes the dead letters */
	CURL *curl;
	il_buf body;            /* last HTTP answer */
	pid_t worker_pid;
	const char *rdkafka[MAX_X];
	size_t nrdkafka;
};

static const char *const classes[] = { "undecodable", "mapping", "permanent", "transient" };

static const char *event_template = TEST_EVENT_PERSON_JSON("x", "bench");

/* Runs @p sql on a connection to the maintenance database of the libpq environment. */
static int
pg_admin(const char *sql)
{
	PGconn *pg = PQconnectdb("");
	PGresult *r;
	int rc = -1;

	if (PQstatus(pg) != CONNECTION_OK) {
		fprintf(stderr, "bench_dlq: could not connect to PostgreSQL (PGHOST, PGPORT, ...): %s",
		    PQerrorMessage(pg));
		PQfinish(pg);
		return -1;
	}
	r = PQexec(pg, sql);
	if (PQresultStatus(r) == PGRES_COMMAND_OK)
		rc = 0;
	else
		fprintf(stderr, "bench_dlq: \"%s\" failed: %s", sql, PQerrorMessage(pg));
	PQclear(r);
	PQfinish(pg);
	return rc;
}

/* @returns the rows of dead_letters in the bench database, or -1. */
static long
pg_count(const struct bench *b)
{
	const char *keys[] = { "dbname", NULL };
	const char *vals[] = { b->dbname, NULL };
	PGconn *pg = PQconnectdbParams(keys, vals, 0);
	PGresult *r;
	long n = -1;

	if (PQstatus(pg) == CONNECTION_OK) {
		r = PQexec(pg, "SELECT count(*) FROM dead_letters");
		if (PQresultStatus(r) == PGRES_TUPLES_OK && PQntuples(r) == 1)
			n = strtol(PQgetvalue(r, 0, 0), NULL, 10);
		PQclear(r);
	}
	PQfinish(pg);
	return n;
}

/* Encodes NVARIANTS distinct events into @p values (each il_buf initialised here). */
static int
make_variants(struct bench *b, il_buf *values, char eids[][65])
{
	const il_schema *schema = il_schema_set_latest(b->k.schemas, "EligibilityEvent");
	cJSON *event = cJSON_Parse(event_template);
	char errbuf[512], key[24], pk[24];
	int rc = -1;

	if (event == NULL || schema == NULL) {
		fprintf(stderr, "bench_dlq: no event template or no EligibilityEvent schema\n");
		goto out;
	}
	for (int i = 0; i < NVARIANTS; i++) {
		snprintf(key, sizeof(key), "D%09d", i);
		snprintf(pk, sizeof(pk), "%d", i + 1);
		il_event_id("openspp", "bench", "CDC", key, "g2p_program_membership", pk, eids[i]);
		cJSON_ReplaceItemInObject(event, "event_id", cJSON_CreateString(eids[i]));
		il_buf_init(&values[i], 1 << 20);
		if (il_serde_encode(b->k.serde, "bench.eligibility", schema, event, &values[i], errbuf,
		    sizeof(errbuf)) != IL_OK) {
			fprintf(stderr, "bench_dlq: could not encode an event: %s\n", errbuf);
			goto out;
		}
	}
	rc = 0;
out:
	cJSON_Delete(event);
	return rc;
}

/* Publishes @p n dead letters to @p topic; every one durable or -1. */
static int
produce(struct bench *b, const char *topic, long n)
{
	il_buf values[NVARIANTS];
	char eids[NVARIANTS][65];
	static const char junk[] = "\x00\x7f\xff\xff\xf0 not an event";
	double t0 = bench_now(), last = t0;
	int rc = -1;

	memset(values, 0, sizeof(values));
	b->k.delivered = 0;
	b->k.failed = 0;
	if (make_variants(b, values, eids) != 0)
		goto out;
	for (long i = 0; i < n; i++) {
		int c = (int)(i % 4);
		char key[24], msg[96];
		il_dlq_headers h;
		il_dlq_failure f = {
			.topic = "bench.eligibility", .partition = (int32_t)(i % 6), .offset = i,
			.connector = "imislink-enroll", .task = "bench", .stage = c == 0 ? "VALUE_CONVERTER" :
			    c == 1 ? "TRANSFORMATION" : "TASK_PUT",
			.error_class = classes[c], .message = msg, .attempts = 1 + c,
			.first_failure_ms = 1780272000000LL + i, .last_failure_ms = 1780272000500LL + i,
			.event_id = c == 0 ? NULL : eids[i % NVARIANTS],
		};
		const void *value = c == 0 ? (const void *)junk : (const void *)values[i % NVARIANTS].data;
		size_t len = c == 0 ? sizeof(junk) - 1 : values[i % NVARIANTS].len;

		snprintf(key, sizeof(key), "D%09ld", i);
		snprintf(msg, sizeof(msg), "bench_dlq: %s failure %ld", classes[c], i);
		il_dlq_headers_fill(&h, &f);
		if (bench_send(&b->k, topic, key, value, len, h.h, h.n, "dead letter", i) != 0)
			goto out;
		if (bench_now() - last >= PROGRESS_S) {
			last = bench_now();
			fprintf(stderr, "bench_dlq: published %ld/%ld dead letters\n", i + 1, n);
		}
	}
	if (bench_flush(&b->k, n, "dead letters") != 0)
		goto out;
	fprintf(stderr, "bench_dlq: published %ld dead letters in %.1f s\n", n, bench_now() - t0);
	rc = 0;
out:
	for (int i = 0; i < NVARIANTS; i++)
		il_buf_free(&values[i]);
	return rc;
}

/* @returns the pid of the PostgreSQL backend serving the worker, or -1. */
static long
pg_backend_pid(const struct bench *b)
{
	const char *keys[] = { "dbname", NULL };
	const char *vals[] = { b->dbname, NULL };
	const char *params[1] = { b->dbname };
	PGconn *pg = PQconnectdbParams(keys, vals, 0);
	PGresult *r = PQexecParams(pg, "SELECT pid FROM pg_stat_activity WHERE datname = $1 AND "
	    "application_name = 'imislink' AND pid <> pg_backend_pid() LIMIT 1", 1, NULL, params, NULL, NULL, 0);
	long pid = -1;

	if (PQresultStatus(r) == PGRES_TUPLES_OK && PQntuples(r) == 1)
		pid = strtol(PQgetvalue(r, 0, 0), NULL, 10);
	PQclear(r);
	PQfinish(pg);
	return pid;
}

static int
start_worker(struct bench *b, const char *dlq, const char *results, long batch_size, long *port,
    char **logp)
{
	char *log = il_xasprintf("%s/worker.log", b->workdir);
	char *exe = il_xasprintf("%s/imislink-deadletter", b->bin);
	char *sets[8];
	/* Offline serde like the producer above; no operator file. */
	const char *env_set[] = { "SCHEMA_REGISTRY_URL=", "IMISLINK_CONFIG=/dev/null" };
	char **envp = bench_child_env(env_set, sizeof(env_set) / sizeof(env_set[0]));
	size_t n = 0;

	sets[n++] = il_xasprintf("kafka.bootstrap.servers=%s", b->bootstrap);
	sets[n++] = il_xasprintf("deadletter.group.id=bench-dlq-%ld-%lld", (long)getpid(), (long long)time(NULL));
	sets[n++] = il_xasprintf("topic.dlq=%s", dlq);
	sets[n++] = il_xasprintf("topic.results=%s", results);
	/* The rest of the connection comes from PGHOST, PGPORT, PGUSER. */
	sets[n++] = il_xasprintf("audit.db.url=dbname=%s", b->dbname);
	sets[n++] = il_xasprintf("http.port=0");
	if (batch_size > 0)
		sets[n++] = il_xasprintf("deadletter.batch.size=%ld", batch_size);
	*port = bench_start_daemon(NULL, exe, sets, n, b->rdkafka, b->nrdkafka, envp, log, START_S,
	    &b->worker_pid);
	*logp = log;
	for (size_t i = 0; i < n; i++)
		free(sets[i]);
	free(envp);
	free(exe);
	return *port < 0 ? -1 : 0;
}

/* One run; @returns 0 with the figures set, -1 on failure. */
static int
run(struct bench *b, long n, int partitions, long batch_size, double *per_s, double *hwm_mb)
{
	char *names[2], *log = NULL, *metrics_url = NULL, *sql = NULL;
	int parts[2] = { partitions, partitions };
	struct bench_count cnt;
	double now, last_progress, prev_done = 0;
	long port = 0, stored;
	int rc = -1;

	for (int i = 0; i < 2; i++)
		names[i] = il_xasprintf("bench-dlq-%ld-%lld.%s", (long)getpid(), (long long)time(NULL),
		    i == 0 ? "dlq" : "results");
	snprintf(b->dbname, sizeof(b->dbname), "bench_dlq_%ld_%lld", (long)getpid(), (long long)time(NULL));
	sql = il_xasprintf("CREATE DATABASE %s", b->dbname);
	if (pg_admin(sql) != 0) {
		b->dbname[0] = '\0';
		goto out;
	}
	fprintf(stderr, "bench_dlq: %ld dead letters, %d partitions, database \"%s\"\n", n, partitions, b->dbname);
	if (bench_create_topics(&b->k, names, parts, 2) != 0 || produce(b, names[0], n) != 0)
		goto out;
	if (start_worker(b, names[0], names[1], batch_size, &port, &log) != 0)
		goto out;
	metrics_url = il_xasprintf("http://127.0.0.1:%ld/metrics", port);
	bench_count_start(&cnt);
	last_progress = cnt.last_change;
	while (cnt.done < (double)n) {
		int got = bench_count_poll(&cnt, b->worker_pid, b->curl, &b->body, metrics_url,
		    "imislink_deadletter_rows_total", POLL_MS);

		if (got < 0) {
			fprintf(stderr, "bench_dlq: the worker exited before the end\n");
			bench_print_tail(log);
			goto out;
		}
		if (got == 0)
			continue;
		now = bench_now();
		if (now - last_progress >= PROGRESS_S) {
			fprintf(stderr, "bench_dlq: %.0f/%ld rows, %.0f/s now, VmRSS %.1f MiB\n", cnt.done, n,
			    (cnt.done - prev_done) / (now - last_progress), bench_proc_status_mb(b->worker_pid, "VmRSS"));
			last_progress = now;
			prev_done = cnt.done;
		}
		if (now - cnt.last_change > STALL_S) {
			fprintf(stderr, "bench_dlq: no new row for %.0f s at %.0f/%ld\n", STALL_S, cnt.done, n);
			bench_print_tail(log);
			goto out;
		}
	}
	*hwm_mb = bench_proc_status_mb(b->worker_pid, "VmHWM");
	/* Where the time went, for a machine shared with other work: the
	 * worker's CPU (all its threads) and that of its PostgreSQL backend
	 * (readable when the bench runs as the same user or root). */
	{
		long backend = pg_backend_pid(b);
		double wcpu = bench_proc_cpu_s(b->worker_pid), pcpu = backend > 0 ? bench_proc_cpu_s(backend) : -1.0;

		fprintf(stderr, "bench_dlq: CPU per row: worker %.1f us, PostgreSQL backend %s%.1f us\n",
		    wcpu * 1e6 / (double)n, pcpu < 0 ? "(unreadable) " : "", pcpu * 1e6 / (double)n);
	}
	/* The first poll that saw rows already missed those before it: count
	 * from there, so a run of one batch still has a rate. */
	*per_s = bench_count_rate(&cnt);
	stored = pg_count(b);
	fprintf(stderr, "bench_dlq: %.0f rows in %.2f s, table holds %ld, worker VmHWM %.1f MiB; %.0f batches, "
	    "%.2f s of them in the store's transactions\n", cnt.done, cnt.t_last - cnt.t_first, stored, *hwm_mb,
	    bench_metric_sum(b->body.data, "imislink_deadletter_batches_total", NULL),
	    bench_metric_sum(b->body.data, "imislink_deadletter_write_seconds_sum", NULL));
	if (stored != n) {
		fprintf(stderr, "bench_dlq: the table holds %ld rows, expected %ld\n", stored, n);
		goto out;
	}
	rc = 0;
out:
	if (bench_stop_child(&b->worker_pid) != 0 && rc == 0) {
		fprintf(stderr, "bench_dlq: the worker did not exit cleanly (see %s)\n", log);
		rc = -1;
	}
	if (b->dbname[0] != '\0') {
		free(sql);
		sql = il_xasprintf("DROP DATABASE IF EXISTS %s WITH (FORCE)", b->dbname);
		pg_admin(sql);
	}
	for (int i = 0; i < 2; i++)
		free(names[i]);
	free(sql);
	free(log);
	free(metrics_url);
	return rc;
}

__attribute__((noreturn))
static void
usage(int code)
{
	fprintf(code == 0 ? stdout : stderr,
	    "usage: bench_dlq --bin DIR [-n N] [--partitions P] [--batch-size B] [-X PROPERTY=VALUE]...\n"
	    "  --bin DIR          where imislink-deadletter is\n"
	    "  -n N               dead letters (default 100000)\n"
	    "  --partitions P     partitions of the dead-letter topic (default 6)\n"
	    "  --batch-size B     deadletter.batch.size (default: the worker's, 1000)\n"
	    "  -X PROPERTY=VALUE  a librdkafka property for the worker (repeatable)\n"
	    "The broker is $KAFKA_BOOTSTRAP_SERVERS; PostgreSQL is libpq's environment\n"
	    "(PGHOST, PGPORT, PGUSER, PGDATABASE), where a database is created and dropped.\n");
	exit(code);
}

int
main(int argc, char **argv)
{
	static const struct option longopts[] = {
		{ "bin", required_argument, NULL, 'B' },
		{ "partitions", required_argument, NULL, 'p' },
		{ "batch-size", required_argument, NULL, 'b' },
		{ "help", no_argument, NULL, 'h' },
		{ NULL, 0, NULL, 0 },
	};
	struct bench b;                 /* the run */
	long n = 100000, batch_size = 0;
	int partitions = 6, opt, rc = 1;
	double per_s = 0, hwm_mb = 0;

	bench_init(argc, argv);
	memset(&b, 0, sizeof(b));
	while ((opt = getopt_long(argc, argv, "hn:X:", longopts, NULL)) != -1) {
		switch (opt) {
		case 'B': b.bin = optarg; break;
		case 'n': n = bench_parse_long(optarg, 1, 100000000, "-n"); break;
		case 'p': partitions = (int)bench_parse_long(optarg, 1, 1000, "--partitions"); break;
		case 'b': batch_size = bench_parse_long(optarg, 1, 100000, "--batch-size"); break;
		case 'X': bench_add_x(b.rdkafka, &b.nrdkafka, MAX_X, optarg); break;
		case 'h': usage(0);
		default: usage(1);
		}
	}
	if (optind != argc || b.bin == NULL)
		usage(1);
	il_log_init("bench_dlq", IL_LOG_WARN, NULL);
	signal(SIGPIPE, SIG_IGN);
	il_buf_init(&b.body, METRICS_MAX);
	b.bootstrap = bench_bootstrap();
	if (b.bootstrap == NULL)
		goto out;
	if (bench_workdir_make(b.workdir, "bench-dlq") != 0 || bench_kafka_open(&b.k) != 0)
		goto out;
	b.curl = bench_curl_new();
	if (b.curl == NULL)
		goto out;
	if (run(&b, n, partitions, batch_size, &per_s, &hwm_mb) != 0)
		goto out;
	printf("# %ld dead letters (3 in 4 decode), %d partitions, one worker\n", n, partitions);
	bench_report("dlq_rows_per_s", per_s, "rows/s", ">=5000");
	bench_report("dlq_peak_rss_mb", hwm_mb, "MiB", "");
	rc = 0;
out:
	bench_stop_child(&b.worker_pid);
	bench_workdir_done(b.workdir, rc == 0);
	if (b.curl != NULL)
		curl_easy_cleanup(b.curl);
	bench_kafka_close(&b.k);
	il_buf_free(&b.body);
	return rc;
}
