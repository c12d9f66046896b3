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
#include <errno.h>
#include <fcntl.h>
#include <getopt.h>
#include <limits.h>
#include <signal.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/stat.h>
#include <sys/types.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include <curl/curl.h>
#include <libpq-fe.h>
#include <librdkafka/rdkafka.h>

#include "avro.h"
#include "bench.h"
#include "buf.h"
#include "conf.h"
#include "dlq.h"
#include "event.h"
#include "kafka.h"
#include "log.h"
#include "serde.h"
#include "xalloc.h"

#define POLL_MS 50              /* metrics polling interval */
#define PROGRESS_S 5.0          /* a progress line this often */
#define STALL_S 60.0            /* no new row for this long: the run fails */
#define START_S 60.0            /* the worker's "http listening" line */
#define STOP_S 30.0             /* SIGTERM, then SIGKILL after this */
#define METRICS_MAX (4u << 20)  /* largest /metrics body read */
#define NVARIANTS 64            /* distinct event values cycled through */
#define MAX_X 16                /* -X options passed on to the worker */

extern char **environ;

struct bench {
	const char *bin;        /* directory of imislink-deadletter */
	const char *bootstrap;
	char workdir[PATH_MAX]; /* the worker's log */
	char dbname[64];        /* the fresh database; "" until created */
	il_conf *conf;
	il_schema_set *schemas;
	il_serde *serde;
	il_producer *prod;
	long delivered, failed;
	CURL *curl;
	il_buf body;            /* last HTTP answer */
	pid_t worker_pid;
	const char *rdkafka[MAX_X];
	size_t nrdkafka;
};

static const char *const classes[] = { "undecodable", "mapping", "permanent", "transient" };

/* bench_enroll's single-person event. */
static const char *event_template =
    "{\"event_id\":\"x\",\"event_type\":\"MEMBERSHIP_CHANGED\","
    "\"source\":{\"system\":\"openspp\",\"instance\":\"bench\",\"kind\":\"CDC\","
    "\"position\":\"0/16B3748\",\"table\":\"g2p_program_membership\",\"primary_key\":\"1\"},"
    "\"occurred_at\":\"2026-06-01T10:00:00.000Z\",\"produced_at\":\"2026-06-01T10:00:00.100Z\","
    "\"programme\":{\"id\":7,\"name\":\"Community health insurance\",\"target_type\":\"INDIVIDUAL\"},"
    "\"membership\":{\"state\":\"ENROLLED\",\"previous_state\":\"DRAFT\","
    "\"enrollment_date\":\"2026-06-01T09:59:00.000Z\",\"exit_date\":null},"
    "\"registrant\":{\"source_id\":1,\"external_ids\":[{\"type\":\"National ID\",\"value\":\"0\","
    "\"status\":\"valid\",\"expiry_date\":null,\"description\":null}],\"is_group\":false,"
    "\"name\":\"DOE, JANE\",\"given_name\":\"Jane\",\"family_name\":\"Doe\",\"addl_name\":null,"
    "\"gender\":\"Female\",\"birthdate\":\"1990-04-12\",\"birthdate_exact\":true,"
    "\"birth_place\":\"Kigali\",\"registration_date\":\"2024-01-15\","
    "\"phones\":[{\"number\":\"+250788000000\",\"sanitized\":\"+250788000000\",\"date_collected\":\"2024-01-15\"}],"
    "\"email\":null,\"address\":\"Village 12\",\"area\":{\"id\":1,\"code\":\"SPP-A01\",\"name\":\"Area 1\"}},"
    "\"household\":null}";

static void
on_delivery(void *msg_opaque, il_err err, const char *errstr, const char *topic,
    int32_t partition, int64_t offset, void *cb_ctx)
{
	struct bench *b = cb_ctx;

	(void)msg_opaque; (void)errstr; (void)topic; (void)partition; (void)offset;
	if (err != IL_OK)
		b->failed++;
	else
		b->delivered++;
}

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

static int
create_topics(struct bench *b, char *const *names, size_t n, int partitions)
{
	rd_kafka_t *rk = il_producer_handle(b->prod);
	rd_kafka_NewTopic_t *nt[2] = { NULL };
	rd_kafka_AdminOptions_t *opts = NULL;
	rd_kafka_queue_t *q = NULL;
	rd_kafka_event_t *ev = NULL;
	const rd_kafka_topic_result_t **tr;
	char errbuf[512];
	size_t i, cnt = 0;
	int rc = -1;

	for (i = 0; i < n && i < 2; i++) {
		nt[i] = rd_kafka_NewTopic_new(names[i], partitions, 1, errbuf, sizeof(errbuf));
		if (nt[i] == NULL) {
			fprintf(stderr, "bench_dlq: could not describe topic \"%s\": %s\n", names[i], errbuf);
			goto out;
		}
	}
	opts = rd_kafka_AdminOptions_new(rk, RD_KAFKA_ADMIN_OP_CREATETOPICS);
	if (rd_kafka_AdminOptions_set_operation_timeout(opts, 30000, errbuf, sizeof(errbuf)) !=
	    RD_KAFKA_RESP_ERR_NO_ERROR) {
		fprintf(stderr, "bench_dlq: admin options: %s\n", errbuf);
		goto out;
	}
	q = rd_kafka_queue_new(rk);
	rd_kafka_CreateTopics(rk, nt, n, opts, q);
	ev = rd_kafka_queue_poll(q, 60000);
	if (ev == NULL || rd_kafka_event_error(ev) != RD_KAFKA_RESP_ERR_NO_ERROR) {
		fprintf(stderr, "bench_dlq: could not create topics: %s\n",
		    ev != NULL ? rd_kafka_event_error_string(ev) : "no answer within 60 s");
		goto out;
	}
	tr = rd_kafka_CreateTopics_result_topics(rd_kafka_event_CreateTopics_result(ev), &cnt);
	for (i = 0; i < cnt; i++) {
		if (rd_kafka_topic_result_error(tr[i]) != RD_KAFKA_RESP_ERR_NO_ERROR) {
			fprintf(stderr, "bench_dlq: could not create topic \"%s\": %s\n",
			    rd_kafka_topic_result_name(tr[i]), rd_kafka_topic_result_error_string(tr[i]));
			goto out;
		}
	}
	rc = 0;
out:
	if (ev != NULL)
		rd_kafka_event_destroy(ev);
	if (q != NULL)
		rd_kafka_queue_destroy(q);
	if (opts != NULL)
		rd_kafka_AdminOptions_destroy(opts);
	for (i = 0; i < n && i < 2; i++)
		if (nt[i] != NULL)
			rd_kafka_NewTopic_destroy(nt[i]);
	return rc;
}

/* Encodes NVARIANTS distinct events into @p values (each il_buf initialised here). */
static int
make_variants(struct bench *b, il_buf *values, char eids[][65])
{
	const il_schema *schema = il_schema_set_latest(b->schemas, "EligibilityEvent");
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
		if (il_serde_encode(b->serde, "bench.eligibility", schema, event, &values[i], errbuf,
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
	b->delivered = 0;
	b->failed = 0;
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
		il_err err;

		snprintf(key, sizeof(key), "D%09ld", i);
		snprintf(msg, sizeof(msg), "bench_dlq: %s failure %ld", classes[c], i);
		il_dlq_headers_fill(&h, &f);
		for (;;) {
			err = il_producer_send(b->prod, topic, RD_KAFKA_PARTITION_UA, key, strlen(key),
			    value, len, h.h, h.n, NULL, 10000);
			if (err == IL_OK)
				break;
			if (err != IL_ERR_TIMEOUT && err != IL_ERR_TRANSIENT) {
				fprintf(stderr, "bench_dlq: could not send dead letter %ld: %s\n", i, il_err_str(err));
				goto out;
			}
			il_producer_poll(b->prod, 100);
		}
		il_producer_poll(b->prod, 0);
		if (bench_now() - last >= PROGRESS_S) {
			last = bench_now();
			fprintf(stderr, "bench_dlq: published %ld/%ld dead letters\n", i + 1, n);
		}
	}
	if (il_producer_flush(b->prod, 120000) != IL_OK || b->failed > 0 || b->delivered != n) {
		fprintf(stderr, "bench_dlq: %ld of %ld dead letters not delivered\n", n - b->delivered, n);
		goto out;
	}
	fprintf(stderr, "bench_dlq: published %ld dead letters in %.1f s\n", n, bench_now() - t0);
	rc = 0;
out:
	for (int i = 0; i < NVARIANTS; i++)
		il_buf_free(&values[i]);
	return rc;
}

/* The environment of a child: ours without the variables @p set names, then @p set. */
static char **
child_env(const char *const *set, size_t nset)
{
	size_t n = 0, k = 0;
	char **env;

	while (environ[n] != NULL)
		n++;
	env = il_xcalloc(n + nset + 1, sizeof(*env));
	for (size_t i = 0; i < n; i++) {
		bool replaced = false;

		for (size_t j = 0; j < nset && !replaced; j++) {
			size_t len = strcspn(set[j], "=") + 1;

			replaced = strncmp(environ[i], set[j], len) == 0;
		}
		if (!replaced)
			env[k++] = environ[i];
	}
	for (size_t j = 0; j < nset; j++)
		env[k++] = (char *)set[j];
	return env;
}

/* Starts @p argv with stdout and stderr to @p log; @returns its pid or -1. */
static pid_t
spawn(char *const *argv, char *const *envp, const char *log)
{
	pid_t pid, parent = getpid();
	int fd;

	pid = fork();
	if (pid < 0) {
		fprintf(stderr, "bench_dlq: could not fork: %s\n", strerror(errno));
		return -1;
	}
	if (pid > 0)
		return pid;
	/* A bench that dies takes its children along. */
	prctl(PR_SET_PDEATHSIG, SIGTERM);
	if (getppid() != parent)
		_exit(127);
	fd = open(log, O_WRONLY | O_CREAT | O_TRUNC, 0644);
	if (fd < 0)
		_exit(127);
	dup2(fd, 1);
	dup2(fd, 2);
	close(fd);
	fd = open("/dev/null", O_RDONLY);
	if (fd >= 0) {
		dup2(fd, 0);
		close(fd);
	}
	execve(argv[0], argv, envp);
	_exit(127);
}

/* SIGTERM, then SIGKILL after STOP_S; @returns the exit status. */
static int
stop_child(pid_t *pid)
{
	double deadline = bench_now() + STOP_S;
	int status = 0;

	if (*pid <= 0)
		return 0;
	kill(*pid, SIGTERM);
	for (;;) {
		pid_t r = waitpid(*pid, &status, WNOHANG);

		if (r == *pid || (r < 0 && errno != EINTR))
			break;
		if (bench_now() > deadline) {
			fprintf(stderr, "bench_dlq: process %ld did not stop within %.0f s: killing it\n",
			    (long)*pid, STOP_S);
			kill(*pid, SIGKILL);
			waitpid(*pid, &status, 0);
			break;
		}
		usleep(20000);
	}
	*pid = 0;
	return status;
}

static bool
alive(pid_t pid)
{
	int status;

	return pid > 0 && waitpid(pid, &status, WNOHANG) == 0;
}

/* One line "<field>: <n> kB" of /proc/<pid>/status, in MiB; -1 when absent. */
static double
proc_status_mb(pid_t pid, const char *field)
{
	char path[64], line[256];
	size_t flen = strlen(field);
	double mb = -1.0;
	FILE *f;

	snprintf(path, sizeof(path), "/proc/%ld/status", (long)pid);
	f = fopen(path, "r");
	if (f == NULL)
		return -1.0;
	while (fgets(line, sizeof(line), f) != NULL) {
		if (strncmp(line, field, flen) == 0 && line[flen] == ':') {
			mb = strtod(line + flen + 1, NULL) / 1024.0;
			break;
		}
	}
	fclose(f);
	return mb;
}

/* utime + stime of @p pid (all its threads) in seconds; -1 when unknown. */
static double
proc_cpu_s(long pid)
{
	char path[64], line[2048], *p, *end;
	unsigned long long v[2];
	FILE *f;
	int field;

	snprintf(path, sizeof(path), "/proc/%ld/stat", pid);
	f = fopen(path, "r");
	if (f == NULL)
		return -1.0;
	p = fgets(line, sizeof(line), f);
	fclose(f);
	/* The command name may hold spaces: fields count from its closing ")". */
	if (p == NULL || (p = strrchr(line, ')')) == NULL)
		return -1.0;
	for (field = 3; field < 14 && p != NULL; field++)
		p = strchr(p + 1, ' ');
	if (p == NULL)
		return -1.0;
	errno = 0;
	v[0] = strtoull(p + 1, &end, 10);
	if (errno != 0 || end == p + 1 || *end != ' ')
		return -1.0;
	v[1] = strtoull(end + 1, &p, 10);
	if (errno != 0 || p == end + 1)
		return -1.0;
	return (double)(v[0] + v[1]) / (double)sysconf(_SC_CLK_TCK);
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

static size_t
on_body(char *data, size_t size, size_t nmemb, void *ctx)
{
	il_buf *body = ctx;

	return il_buf_add(body, data, size * nmemb) == IL_OK ? size * nmemb : 0;
}

static long
http_get(struct bench *b, const char *url)
{
	long status = -1;

	il_buf_reset(&b->body);
	curl_easy_setopt(b->curl, CURLOPT_URL, url);
	curl_easy_setopt(b->curl, CURLOPT_WRITEFUNCTION, on_body);
	curl_easy_setopt(b->curl, CURLOPT_WRITEDATA, &b->body);
	curl_easy_setopt(b->curl, CURLOPT_TIMEOUT_MS, 5000L);
	curl_easy_setopt(b->curl, CURLOPT_NOSIGNAL, 1L);
	if (curl_easy_perform(b->curl) != CURLE_OK)
		return -1;
	curl_easy_getinfo(b->curl, CURLINFO_RESPONSE_CODE, &status);
	if (b->body.data == NULL && il_buf_adds(&b->body, "") != IL_OK)
		return -1;
	return status;
}

/* The sum of the samples of metric @p name (every label set) in Prometheus text. */
static double
metric_sum(const char *text, const char *name)
{
	size_t nlen = strlen(name);
	double sum = 0.0;
	const char *line = text;

	while (line != NULL && *line != '\0') {
		const char *end = strchr(line, '\n');
		size_t len = end != NULL ? (size_t)(end - line) : strlen(line);

		if (line[0] != '#' && len > nlen && strncmp(line, name, nlen) == 0 &&
		    (line[nlen] == '{' || line[nlen] == ' ')) {
			const char *labels_end = line[nlen] == '{' ? memchr(line, '}', len) : line + nlen;
			const char *value = labels_end != NULL ? memchr(labels_end, ' ', len -
			    (size_t)(labels_end - line)) : NULL;

			if (value != NULL)
				sum += strtod(value + 1, NULL);
		}
		line = end != NULL ? end + 1 : NULL;
	}
	return sum;
}

/* Waits for the worker's "http listening" line; @returns its port or -1. */
static long
wait_worker_port(const char *log, pid_t pid, double timeout_s)
{
	double deadline = bench_now() + timeout_s;
	char line[4096];

	while (bench_now() < deadline) {
		FILE *f = fopen(log, "r");
		long port = -1;

		if (f != NULL) {
			while (port < 0 && fgets(line, sizeof(line), f) != NULL) {
				const char *p;

				if (strstr(line, "\"msg\":\"http listening\"") != NULL &&
				    (p = strstr(line, "\"port\":")) != NULL)
					port = strtol(p + 7, NULL, 10);
			}
			fclose(f);
			if (port > 0)
				return port;
		}
		if (!alive(pid))
			return -1;
		usleep(50000);
	}
	return -1;
}

static void
print_tail(const char *path)
{
	char *cmd = il_xasprintf("tail -n 15 '%s' >&2", path);

	fprintf(stderr, "---- last lines of %s\n", path);
	if (system(cmd) != 0)
		fprintf(stderr, "(could not read it)\n");
	free(cmd);
}

static int
start_worker(struct bench *b, const char *dlq, const char *results, long batch_size, long *port,
    char **logp)
{
	char *log = il_xasprintf("%s/worker.log", b->workdir);
	char *exe = il_xasprintf("%s/imislink-deadletter", b->bin);
	char *sets[8];
	char *argv[2 + 2 * 8 + 2 * MAX_X];
	/* Offline serde like the producer above; no operator file. */
	const char *env_set[] = { "SCHEMA_REGISTRY_URL=", "IMISLINK_CONFIG=/dev/null" };
	char **envp = child_env(env_set, sizeof(env_set) / sizeof(env_set[0]));
	size_t n = 0, a = 0;
	int rc = -1;

	sets[n++] = il_xasprintf("kafka.bootstrap.servers=%s", b->bootstrap);
	sets[n++] = il_xasprintf("deadletter.group.id=bench-dlq-%ld-%lld", (long)getpid(), (long long)time(NULL));
	sets[n++] = il_xasprintf("topic.dlq=%s", dlq);
	sets[n++] = il_xasprintf("topic.results=%s", results);
	/* The rest of the connection comes from PGHOST, PGPORT, PGUSER. */
	sets[n++] = il_xasprintf("audit.db.url=dbname=%s", b->dbname);
	sets[n++] = il_xasprintf("http.port=0");
	if (batch_size > 0)
		sets[n++] = il_xasprintf("deadletter.batch.size=%ld", batch_size);
	argv[a++] = exe;
	for (size_t i = 0; i < n; i++) {
		argv[a++] = "--set";
		argv[a++] = sets[i];
	}
	for (size_t i = 0; i < b->nrdkafka; i++) {
		argv[a++] = "-X";
		argv[a++] = (char *)b->rdkafka[i];
	}
	argv[a] = NULL;
	fprintf(stderr, "bench_dlq:");
	for (size_t i = 0; i < a; i++)
		fprintf(stderr, " %s", argv[i]);
	fprintf(stderr, "\n");
	b->worker_pid = spawn(argv, envp, log);
	if (b->worker_pid < 0) {
		b->worker_pid = 0;
		goto out;
	}
	*port = wait_worker_port(log, b->worker_pid, START_S);
	if (*port < 0) {
		fprintf(stderr, "bench_dlq: the worker \"%s\" did not listen within %.0f s\n", exe, START_S);
		print_tail(log);
		goto out;
	}
	rc = 0;
out:
	*logp = log;
	for (size_t i = 0; i < n; i++)
		free(sets[i]);
	free(envp);
	free(exe);
	return rc;
}

/* One run; @returns 0 with the figures set, -1 on failure. */
static int
run(struct bench *b, long n, int partitions, long batch_size, double *per_s, double *hwm_mb)
{
	char *names[2], *log = NULL, *metrics_url = NULL, *sql = NULL;
	double t_first = 0, n_first = 0, t_last = 0, done = 0, last_change, last_progress, prev_done = 0;
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
	if (create_topics(b, names, 2, partitions) != 0 || produce(b, names[0], n) != 0)
		goto out;
	if (start_worker(b, names[0], names[1], batch_size, &port, &log) != 0)
		goto out;
	metrics_url = il_xasprintf("http://127.0.0.1:%ld/metrics", port);
	last_change = last_progress = bench_now();
	while (done < (double)n) {
		double now, before = done;

		usleep(POLL_MS * 1000);
		if (!alive(b->worker_pid)) {
			fprintf(stderr, "bench_dlq: the worker exited before the end\n");
			print_tail(log);
			goto out;
		}
		if (http_get(b, metrics_url) != 200)
			continue;
		now = bench_now();
		done = metric_sum(b->body.data, "imislink_deadletter_rows_total");
		if (done > 0 && t_first == 0) {
			t_first = now;
			n_first = done;
		}
		if (done > before) {
			last_change = now;
			t_last = now;
		}
		if (now - last_progress >= PROGRESS_S) {
			fprintf(stderr, "bench_dlq: %.0f/%ld rows, %.0f/s now, VmRSS %.1f MiB\n", done, n,
			    (done - prev_done) / (now - last_progress), proc_status_mb(b->worker_pid, "VmRSS"));
			last_progress = now;
			prev_done = done;
		}
		if (now - last_change > STALL_S) {
			fprintf(stderr, "bench_dlq: no new row for %.0f s at %.0f/%ld\n", STALL_S, done, n);
			print_tail(log);
			goto out;
		}
	}
	*hwm_mb = proc_status_mb(b->worker_pid, "VmHWM");
	/* Where the time went, for a machine shared with other work: the
	 * worker's CPU (all its threads) and that of its PostgreSQL backend
	 * (readable when the bench runs as the same user or root). */
	{
		long backend = pg_backend_pid(b);
		double wcpu = proc_cpu_s(b->worker_pid), pcpu = backend > 0 ? proc_cpu_s(backend) : -1.0;

		fprintf(stderr, "bench_dlq: CPU per row: worker %.1f us, PostgreSQL backend %s%.1f us\n",
		    wcpu * 1e6 / (double)n, pcpu < 0 ? "(unreadable) " : "", pcpu * 1e6 / (double)n);
	}
	/* The first poll that saw rows already missed those before it: count
	 * from there, so a run of one batch still has a rate. */
	*per_s = t_last > t_first ? (done - n_first) / (t_last - t_first) : 0.0;
	stored = pg_count(b);
	fprintf(stderr, "bench_dlq: %.0f rows in %.2f s, table holds %ld, worker VmHWM %.1f MiB; %.0f batches, "
	    "%.2f s of them in the store's transactions\n", done, t_last - t_first, stored, *hwm_mb,
	    metric_sum(b->body.data, "imislink_deadletter_batches_total"),
	    metric_sum(b->body.data, "imislink_deadletter_write_seconds_sum"));
	if (stored != n) {
		fprintf(stderr, "bench_dlq: the table holds %ld rows, expected %ld\n", stored, n);
		goto out;
	}
	rc = 0;
out:
	if (stop_child(&b->worker_pid) != 0 && rc == 0) {
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

static long
parse_long(const char *s, long min, long max, const char *what)
{
	char *end;
	long v;

	errno = 0;
	v = strtol(s, &end, 10);
	if (errno != 0 || end == s || *end != '\0' || v < min || v > max) {
		fprintf(stderr, "bench_dlq: invalid value for %s: expected %ld to %ld, got \"%s\"\n",
		    what, min, max, s);
		exit(1);
	}
	return v;
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
	char errbuf[512];

	bench_init(argc, argv);
	memset(&b, 0, sizeof(b));
	while ((opt = getopt_long(argc, argv, "hn:X:", longopts, NULL)) != -1) {
		switch (opt) {
		case 'B': b.bin = optarg; break;
		case 'n': n = parse_long(optarg, 1, 100000000, "-n"); break;
		case 'p': partitions = (int)parse_long(optarg, 1, 1000, "--partitions"); break;
		case 'b': batch_size = parse_long(optarg, 1, 100000, "--batch-size"); break;
		case 'X':
			if (b.nrdkafka == MAX_X) {
				fprintf(stderr, "bench_dlq: at most %d -X options\n", MAX_X);
				return 1;
			}
			b.rdkafka[b.nrdkafka++] = optarg;
			break;
		case 'h': usage(0);
		default: usage(1);
		}
	}
	if (optind != argc || b.bin == NULL)
		usage(1);
	il_log_init("bench_dlq", IL_LOG_WARN, NULL);
	signal(SIGPIPE, SIG_IGN);
	il_buf_init(&b.body, METRICS_MAX);
	b.bootstrap = getenv("KAFKA_BOOTSTRAP_SERVERS");
	if (b.bootstrap == NULL || b.bootstrap[0] == '\0') {
		fprintf(stderr, "bench_dlq: KAFKA_BOOTSTRAP_SERVERS is not set\n");
		goto out;
	}
	snprintf(b.workdir, sizeof(b.workdir), "%s/bench-dlq.XXXXXX",
	    getenv("TMPDIR") != NULL ? getenv("TMPDIR") : "/tmp");
	if (mkdtemp(b.workdir) == NULL) {
		fprintf(stderr, "bench_dlq: could not create a directory \"%s\": %s\n", b.workdir, strerror(errno));
		b.workdir[0] = '\0';
		goto out;
	}
	b.conf = il_conf_new();
	if (il_conf_load_env(b.conf, errbuf, sizeof(errbuf)) != IL_OK ||
	    il_conf_set(b.conf, "schema.registry.url", "", "bench_dlq", errbuf, sizeof(errbuf)) != IL_OK ||
	    il_conf_set_rdkafka_arg(b.conf, "linger.ms=20", errbuf, sizeof(errbuf)) != IL_OK) {
		fprintf(stderr, "bench_dlq: configuration: %s\n", errbuf);
		goto out;
	}
	b.schemas = il_schema_set_load(il_conf_get(b.conf, "schemas.dir"), errbuf, sizeof(errbuf));
	if (b.schemas == NULL || (b.serde = il_serde_new(b.conf, b.schemas, errbuf, sizeof(errbuf))) == NULL) {
		fprintf(stderr, "bench_dlq: schemas: %s\n", errbuf);
		goto out;
	}
	b.prod = il_producer_new(b.conf, on_delivery, &b, errbuf, sizeof(errbuf));
	if (b.prod == NULL) {
		fprintf(stderr, "bench_dlq: producer: %s\n", errbuf);
		goto out;
	}
	b.curl = curl_easy_init();
	if (b.curl == NULL) {
		fprintf(stderr, "bench_dlq: could not initialise libcurl\n");
		goto out;
	}
	if (run(&b, n, partitions, batch_size, &per_s, &hwm_mb) != 0)
		goto out;
	printf("# %ld dead letters (3 in 4 decode), %d partitions, one worker\n", n, partitions);
	bench_report("dlq_rows_per_s", per_s, "rows/s", ">=5000");
	bench_report("dlq_peak_rss_mb", hwm_mb, "MiB", "");
	rc = 0;
out:
	stop_child(&b.worker_pid);
	if (b.workdir[0] != '\0') {
		if (rc == 0) {
			char *cmd = il_xasprintf("rm -rf '%s'", b.workdir);

			if (system(cmd) != 0)
				fprintf(stderr, "bench_dlq: could not remove \"%s\"\n", b.workdir);
			free(cmd);
		} else {
			fprintf(stderr, "bench_dlq: logs kept in %s\n", b.workdir);
		}
	}
	if (b.curl != NULL)
		curl_easy_cleanup(b.curl);
	il_producer_destroy(b.prod);
	il_serde_destroy(b.serde);
	il_schema_set_destroy(b.schemas);
	il_conf_destroy(b.conf);
	il_buf_free(&b.body);
	return rc;
}
