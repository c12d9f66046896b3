/*
 * benchutil.h - what the benchmarks that drive imislink's own programs
 * share: a producer with offline serde that counts its delivery reports,
 * topics, child processes (started, waited for, stopped), their /proc
 * figures, and a daemon's /metrics.
 *
 * Define BENCH_NAME (the program's name, a string literal) before including
 * it: every message on stderr starts with it.
 */
#ifndef IL_BENCHUTIL_H
#define IL_BENCHUTIL_H

#ifndef BENCH_NAME
#error "define BENCH_NAME before including benchutil.h"
#endif

#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <signal.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/types.h>
#include <sys/wait.h>
#include <unistd.h>

#include <curl/curl.h>
#include <librdkafka/rdkafka.h>

#include "avro.h"
#include "bench.h"
#include "buf.h"
#include "cli.h"
#include "conf.h"
#include "kafka.h"
#include "serde.h"
#include "xalloc.h"

#define BENCH_STOP_S 30.0       /* SIGTERM, then SIGKILL after this */

extern char **environ;

/* The producer of a benchmark and what its delivery reports said. */
struct bench_kafka {
	il_conf *conf;          /* environment, offline serde, linger.ms=20 */
	il_schema_set *schemas; /* the tree's schemas */
	il_serde *serde;
	il_producer *prod;
	long delivered;         /* delivery reports with success */
	long failed;            /* delivery reports with an error */
};

static inline void
bench_on_delivery(void *msg_opaque, il_err err, const char *errstr, const char *topic,
    int32_t partition, int64_t offset, void *cb_ctx)
{
	struct bench_kafka *k = cb_ctx;

	(void)msg_opaque; (void)errstr; (void)topic; (void)partition; (void)offset;
	if (err != IL_OK)
		k->failed++;
	else
		k->delivered++;
}

/*
 * Sets up @p k from the environment with offline serde (schema ids from
 * schemas/offline-ids.properties, like the programs measured, which get no
 * registry either); @returns 0, or -1 after saying why.  Free with
 * bench_kafka_close(), also after a failure.
 */
static inline int
bench_kafka_open(struct bench_kafka *k)
{
	char errbuf[512];

	memset(k, 0, sizeof(*k));
	k->conf = il_conf_new();
	if (il_conf_load_env(k->conf, errbuf, sizeof(errbuf)) != IL_OK ||
	    il_conf_set(k->conf, "schema.registry.url", "", BENCH_NAME, errbuf, sizeof(errbuf)) != IL_OK ||
	    il_conf_set_rdkafka_arg(k->conf, "linger.ms=20", errbuf, sizeof(errbuf)) != IL_OK) {
		fprintf(stderr, BENCH_NAME ": configuration: %s\n", errbuf);
		return -1;
	}
	k->schemas = il_schema_set_load(il_conf_get(k->conf, "schemas.dir"), errbuf, sizeof(errbuf));
	if (k->schemas == NULL || (k->serde = il_serde_new(k->conf, k->schemas, errbuf, sizeof(errbuf))) == NULL) {
		fprintf(stderr, BENCH_NAME ": schemas: %s\n", errbuf);
		return -1;
	}
	k->prod = il_producer_new(k->conf, bench_on_delivery, k, errbuf, sizeof(errbuf));
	if (k->prod == NULL) {
		fprintf(stderr, BENCH_NAME ": producer: %s\n", errbuf);
		return -1;
	}
	return 0;
}

static inline void
bench_kafka_close(struct bench_kafka *k)
{
	il_producer_destroy(k->prod);
	il_serde_destroy(k->serde);
	il_schema_set_destroy(k->schemas);
	il_conf_destroy(k->conf);
	memset(k, 0, sizeof(*k));
}

/*
 * Queues message @p i, @p what ("event"), waiting while the producer's queue
 * is full; @returns 0, or -1 after saying why.
 */
static inline int
bench_send(struct bench_kafka *k, const char *topic, const char *key, const void *value, size_t len,
    const il_kafka_header *hdrs, size_t nhdrs, const char *what, long i)
{
	il_err err;

	for (;;) {
		err = il_producer_send(k->prod, topic, RD_KAFKA_PARTITION_UA, key, strlen(key),
		    value, len, hdrs, nhdrs, NULL, 10000);
		if (err == IL_OK)
			break;
		if (err != IL_ERR_TIMEOUT && err != IL_ERR_TRANSIENT) {
			fprintf(stderr, BENCH_NAME ": could not send %s %ld: %s\n", what, i, il_err_str(err));
			return -1;
		}
		il_producer_poll(k->prod, 100);
	}
	il_producer_poll(k->prod, 0);
	return 0;
}

/*
 * Waits until the @p n messages, @p what ("events"), sent since the counts
 * were last zeroed are durable; @returns 0, or -1 after saying how many are not.
 */
static inline int
bench_flush(struct bench_kafka *k, long n, const char *what)
{
	if (il_producer_flush(k->prod, 120000) != IL_OK || k->failed > 0 || k->delivered != n) {
		fprintf(stderr, BENCH_NAME ": %ld of %ld %s not delivered\n", n - k->delivered, n, what);
		return -1;
	}
	return 0;
}

/* Waits for the answer to an admin request on @p q; @returns it, or NULL after saying why. */
static inline rd_kafka_event_t *
bench_admin_wait(rd_kafka_queue_t *q, const char *what)
{
	rd_kafka_event_t *ev = rd_kafka_queue_poll(q, 60000);

	if (ev == NULL) {
		fprintf(stderr, BENCH_NAME ": could not %s: no answer within 60 s\n", what);
		return NULL;
	}
	if (rd_kafka_event_error(ev) != RD_KAFKA_RESP_ERR_NO_ERROR) {
		fprintf(stderr, BENCH_NAME ": could not %s: %s\n", what, rd_kafka_event_error_string(ev));
		rd_kafka_event_destroy(ev);
		return NULL;
	}
	return ev;
}

/*
 * Waits up to 30 s until the broker's metadata lists topic @p name with its
 * partitions: CreateTopics answers once the controller made it, and a client
 * asking the broker at once can still be told it does not exist.
 * @returns 0, or -1 after saying why.
 */
static inline int
bench_wait_topic(rd_kafka_t *rk, const char *name)
{
	rd_kafka_topic_t *rkt = rd_kafka_topic_new(rk, name, NULL);
	const struct rd_kafka_metadata *md;
	int tries, ok = 0;

	for (tries = 0; rkt != NULL && tries < 300 && !ok; tries++) {
		if (tries > 0)
			usleep(100000);
		if (rd_kafka_metadata(rk, 0, rkt, &md, 5000) != RD_KAFKA_RESP_ERR_NO_ERROR)
			continue;
		ok = md->topic_cnt == 1 && md->topics[0].err == RD_KAFKA_RESP_ERR_NO_ERROR &&
		    md->topics[0].partition_cnt > 0;
		rd_kafka_metadata_destroy(md);
	}
	if (rkt != NULL)
		rd_kafka_topic_destroy(rkt);
	if (!ok)
		fprintf(stderr, BENCH_NAME ": topic \"%s\" was created but the broker does not list it\n", name);
	return ok ? 0 : -1;
}

/* Creates the @p n topics @p names, @p partitions each, replication 1, and
 * waits until the broker lists them; @returns 0 or -1. */
static inline int
bench_create_topics(struct bench_kafka *k, char *const *names, const int *partitions, size_t n)
{
	rd_kafka_t *rk = il_producer_handle(k->prod);
	rd_kafka_NewTopic_t **nt = il_xcalloc(n, sizeof(*nt));
	rd_kafka_AdminOptions_t *opts = NULL;
	rd_kafka_queue_t *q = NULL;
	rd_kafka_event_t *ev = NULL;
	const rd_kafka_topic_result_t **tr;
	char errbuf[512];
	size_t i, cnt = 0;
	int rc = -1;

	for (i = 0; i < n; i++) {
		nt[i] = rd_kafka_NewTopic_new(names[i], partitions[i], 1, errbuf, sizeof(errbuf));
		if (nt[i] == NULL) {
			fprintf(stderr, BENCH_NAME ": could not describe topic \"%s\": %s\n", names[i], errbuf);
			goto out;
		}
	}
	opts = rd_kafka_AdminOptions_new(rk, RD_KAFKA_ADMIN_OP_CREATETOPICS);
	if (rd_kafka_AdminOptions_set_operation_timeout(opts, 30000, errbuf, sizeof(errbuf)) !=
	    RD_KAFKA_RESP_ERR_NO_ERROR) {
		fprintf(stderr, BENCH_NAME ": admin options: %s\n", errbuf);
		goto out;
	}
	q = rd_kafka_queue_new(rk);
	rd_kafka_CreateTopics(rk, nt, n, opts, q);
	ev = bench_admin_wait(q, "create topics");
	if (ev == NULL)
		goto out;
	tr = rd_kafka_CreateTopics_result_topics(rd_kafka_event_CreateTopics_result(ev), &cnt);
	for (i = 0; i < cnt; i++) {
		if (rd_kafka_topic_result_error(tr[i]) != RD_KAFKA_RESP_ERR_NO_ERROR) {
			fprintf(stderr, BENCH_NAME ": could not create topic \"%s\": %s\n",
			    rd_kafka_topic_result_name(tr[i]), rd_kafka_topic_result_error_string(tr[i]));
			goto out;
		}
	}
	for (i = 0; i < n; i++)
		if (bench_wait_topic(rk, names[i]) != 0)
			goto out;
	rc = 0;
out:
	if (ev != NULL)
		rd_kafka_event_destroy(ev);
	if (q != NULL)
		rd_kafka_queue_destroy(q);
	if (opts != NULL)
		rd_kafka_AdminOptions_destroy(opts);
	for (i = 0; i < n; i++)
		if (nt[i] != NULL)
			rd_kafka_NewTopic_destroy(nt[i]);
	free(nt);
	return rc;
}

/* Deletes topic @p name; @returns 0, or -1 after saying why. */
static inline int
bench_delete_topic(struct bench_kafka *k, const char *name)
{
	rd_kafka_t *rk = il_producer_handle(k->prod);
	rd_kafka_DeleteTopic_t *dt = rd_kafka_DeleteTopic_new(name);
	rd_kafka_queue_t *q = rd_kafka_queue_new(rk);
	rd_kafka_event_t *ev;

	rd_kafka_DeleteTopics(rk, &dt, 1, NULL, q);
	ev = bench_admin_wait(q, "delete the topic");
	if (ev != NULL)
		rd_kafka_event_destroy(ev);
	rd_kafka_queue_destroy(q);
	rd_kafka_DeleteTopic_destroy(dt);
	return ev != NULL ? 0 : -1;
}

/* @returns $KAFKA_BOOTSTRAP_SERVERS, or NULL after saying it is not set. */
static inline const char *
bench_bootstrap(void)
{
	const char *bootstrap = getenv("KAFKA_BOOTSTRAP_SERVERS");

	if (bootstrap == NULL || bootstrap[0] == '\0') {
		fprintf(stderr, BENCH_NAME ": KAFKA_BOOTSTRAP_SERVERS is not set\n");
		return NULL;
	}
	return bootstrap;
}

/* Appends -X @p arg to the @p *n of @p max in @p xs; exits 1 when they are full. */
static inline void
bench_add_x(const char **xs, size_t *n, size_t max, const char *arg)
{
	if (*n == max) {
		fprintf(stderr, BENCH_NAME ": at most %zu -X options\n", max);
		exit(1);
	}
	xs[(*n)++] = arg;
}

/* @returns a new curl handle for /metrics, or NULL after saying why. */
static inline CURL *
bench_curl_new(void)
{
	CURL *curl = curl_easy_init();

	if (curl == NULL)
		fprintf(stderr, BENCH_NAME ": could not initialise libcurl\n");
	return curl;
}

/*
 * Creates a fresh directory for the children's logs as @p dir:
 * $TMPDIR/<stem>.XXXXXX; @returns 0, or -1 with @p dir "".
 */
static inline int
bench_workdir_make(char dir[PATH_MAX], const char *stem)
{
	snprintf(dir, PATH_MAX, "%s/%s.XXXXXX", getenv("TMPDIR") != NULL ? getenv("TMPDIR") : "/tmp", stem);
	if (mkdtemp(dir) == NULL) {
		fprintf(stderr, BENCH_NAME ": could not create a directory \"%s\": %s\n", dir, strerror(errno));
		dir[0] = '\0';
		return -1;
	}
	return 0;
}

/* Removes @p dir after a good run; keeps it, saying where, after a failed one. */
static inline void
bench_workdir_done(const char *dir, bool ok)
{
	char *cmd;

	if (dir[0] == '\0')
		return;
	if (!ok) {
		fprintf(stderr, BENCH_NAME ": logs kept in %s\n", dir);
		return;
	}
	cmd = il_xasprintf("rm -rf '%s'", dir);
	if (system(cmd) != 0)
		fprintf(stderr, BENCH_NAME ": could not remove \"%s\"\n", dir);
	free(cmd);
}

/*
 * The environment of a child: ours without the variables @p set names, then
 * @p set ("NAME=value").  Built before fork(): the child of a threaded
 * process may only call async-signal-safe functions.  Free the array only.
 */
static inline char **
bench_child_env(const char *const *set, size_t nset)
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
static inline pid_t
bench_spawn(char *const *argv, char *const *envp, const char *log)
{
	pid_t pid, parent = getpid();
	int fd;

	pid = fork();
	if (pid < 0) {
		fprintf(stderr, BENCH_NAME ": could not fork: %s\n", strerror(errno));
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

/* SIGTERM, then SIGKILL after BENCH_STOP_S; sets *@p pid to 0; @returns the exit status. */
static inline int
bench_stop_child(pid_t *pid)
{
	double deadline = bench_now() + BENCH_STOP_S;
	int status = 0;

	if (*pid <= 0)
		return 0;
	kill(*pid, SIGTERM);
	for (;;) {
		pid_t r = waitpid(*pid, &status, WNOHANG);

		if (r == *pid || (r < 0 && errno != EINTR))
			break;
		if (bench_now() > deadline) {
			fprintf(stderr, BENCH_NAME ": process %ld did not stop within %.0f s: killing it\n",
			    (long)*pid, BENCH_STOP_S);
			kill(*pid, SIGKILL);
			waitpid(*pid, &status, 0);
			break;
		}
		usleep(20000);
	}
	*pid = 0;
	return status;
}

/* @returns true while @p pid runs (and reaps it when it exited). */
static inline bool
bench_alive(pid_t pid)
{
	int status;

	return pid > 0 && waitpid(pid, &status, WNOHANG) == 0;
}

/* One line "<field>: <n> kB" of /proc/<pid>/status, in MiB; -1 when absent. */
static inline double
bench_proc_status_mb(pid_t pid, const char *field)
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

/* utime + stime of process @p pid (all its threads) in seconds; -1 when unknown. */
static inline double
bench_proc_cpu_s(long pid)
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
	/* After ") " come state (field 3) ... utime (14) and stime (15). */
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

/* Prints the last lines of @p path to stderr. */
static inline void
bench_print_tail(const char *path)
{
	char *cmd = il_xasprintf("tail -n 15 '%s' >&2", path);

	fprintf(stderr, "---- last lines of %s\n", path);
	if (system(cmd) != 0)
		fprintf(stderr, "(could not read it)\n");
	free(cmd);
}

/* Waits for the "http listening" log line of the daemon @p pid in @p log; @returns its port or -1. */
static inline long
bench_wait_listening(const char *log, pid_t pid, double timeout_s)
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
		if (!bench_alive(pid))
			return -1;
		usleep(50000);
	}
	return -1;
}

/*
 * Starts the daemon @p exe with "--set" @p sets and "-X" @p xs, in the
 * environment @p envp, its output to @p log, printing its command line after
 * BENCH_NAME and @p tag (NULL: none), and waits up to @p timeout_s for its
 * "http listening" line.  @returns its port, or -1 after saying why, with
 * *@p pid the child to stop (0 when none started).
 */
static inline long
bench_start_daemon(const char *tag, const char *exe, char *const *sets, size_t nsets,
    const char *const *xs, size_t nxs, char *const *envp, const char *log, double timeout_s, pid_t *pid)
{
	char **argv = il_xcalloc(2 + 2 * (nsets + nxs), sizeof(*argv));
	size_t a = 0;
	long port = -1;

	argv[a++] = (char *)exe;
	for (size_t i = 0; i < nsets; i++) {
		argv[a++] = "--set";
		argv[a++] = sets[i];
	}
	for (size_t i = 0; i < nxs; i++) {
		argv[a++] = "-X";
		argv[a++] = (char *)xs[i];
	}
	argv[a] = NULL;
	fprintf(stderr, BENCH_NAME ":");
	if (tag != NULL)
		fprintf(stderr, " %s:", tag);
	for (size_t i = 0; i < a; i++)
		fprintf(stderr, " %s", argv[i]);
	fprintf(stderr, "\n");
	*pid = bench_spawn(argv, envp, log);
	if (*pid < 0) {
		*pid = 0;
		goto out;
	}
	port = bench_wait_listening(log, *pid, timeout_s);
	if (port < 0) {
		fprintf(stderr, BENCH_NAME ": the worker \"%s\" did not listen within %.0f s\n", exe, timeout_s);
		bench_print_tail(log);
	}
out:
	free(argv);
	return port;
}

static inline size_t
bench_on_body(char *data, size_t size, size_t nmemb, void *ctx)
{
	il_buf *body = ctx;

	return il_buf_add(body, data, size * nmemb) == IL_OK ? size * nmemb : 0;
}

/* GET @p url with @p curl into @p body (NUL-terminated); @returns the HTTP status, or -1. */
static inline long
bench_http_get(CURL *curl, il_buf *body, const char *url)
{
	long status = -1;

	il_buf_reset(body);
	curl_easy_setopt(curl, CURLOPT_URL, url);
	curl_easy_setopt(curl, CURLOPT_WRITEFUNCTION, bench_on_body);
	curl_easy_setopt(curl, CURLOPT_WRITEDATA, body);
	curl_easy_setopt(curl, CURLOPT_TIMEOUT_MS, 5000L);
	curl_easy_setopt(curl, CURLOPT_NOSIGNAL, 1L);
	if (curl_easy_perform(curl) != CURLE_OK)
		return -1;
	curl_easy_getinfo(curl, CURLINFO_RESPONSE_CODE, &status);
	if (body->data == NULL && il_buf_adds(body, "") != IL_OK)
		return -1;
	return status;
}

/*
 * The sum of the samples of metric @p name in the Prometheus text @p text
 * whose labels contain @p label (NULL: every sample).
 */
static inline double
bench_metric_sum(const char *text, const char *name, const char *label)
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
			bool match = label == NULL;

			if (label != NULL && labels_end != NULL) {
				size_t llen = strlen(label);

				for (const char *p = line + nlen; p + llen <= labels_end && !match; p++)
					match = strncmp(p, label, llen) == 0;
			}
			if (match && value != NULL)
				sum += strtod(value + 1, NULL);
		}
		line = end != NULL ? end + 1 : NULL;
	}
	return sum;
}

/* Reads @p s as a number from @p min to @p max for option @p what; exits 1 when it is not one. */
static inline long
bench_parse_long(const char *s, long min, long max, const char *what)
{
	long long v;

	if (!il_cli_parse_int(s, min, max, &v)) {
		fprintf(stderr, BENCH_NAME ": invalid value for %s: expected %ld to %ld, got \"%s\"\n",
		    what, min, max, s);
		exit(1);
	}
	return (long)v;
}

/*
 * A count a daemon exports on /metrics (results, rows) watched until it
 * reaches a total: the rate is taken from the first poll that saw it above
 * zero to the last that saw it grow, so start-up is not counted.
 */
struct bench_count {
	double done;            /* the last reading */
	double n_first;         /* the first reading above zero */
	double t_first;         /* when it was taken; 0 before */
	double t_last;          /* the last poll that saw the count grow */
	double last_change;     /* the same, or the start: for the stall check */
};

/* Starts watching now. */
static inline void
bench_count_start(struct bench_count *c)
{
	memset(c, 0, sizeof(*c));
	c->last_change = bench_now();
}

/*
 * Waits @p poll_ms, then reads the sum of @p metric from @p url into @p c
 * (the page stays in @p body for the caller's other figures).
 * @returns -1 when @p pid exited, 0 when /metrics did not answer, 1 after a
 * reading.
 */
static inline int
bench_count_poll(struct bench_count *c, pid_t pid, CURL *curl, il_buf *body, const char *url,
    const char *metric, int poll_ms)
{
	double now, before = c->done;

	usleep((useconds_t)poll_ms * 1000);
	if (!bench_alive(pid))
		return -1;
	if (bench_http_get(curl, body, url) != 200)
		return 0;
	now = bench_now();
	c->done = bench_metric_sum(body->data, metric, NULL);
	if (c->done > 0 && c->t_first == 0) {
		c->t_first = now;
		c->n_first = c->done;
	}
	if (c->done > before) {
		c->last_change = now;
		c->t_last = now;
	}
	return 1;
}

/* @returns the rate between the first reading above zero and the last growth (0 without one). */
static inline double
bench_count_rate(const struct bench_count *c)
{
	return c->t_last > c->t_first ? (c->done - c->n_first) / (c->t_last - c->t_first) : 0.0;
}

#endif
