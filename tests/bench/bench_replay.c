/*
 * bench_replay - how fast `imislink replay republish` copies a time range.
 *
 * Creates a fresh topic (P partitions) on the broker in
 * $KAFKA_BOOTSTRAP_SERVERS, publishes N EligibilityEvents to it (one encoded
 * event, a distinct key each: about 600 bytes, the size of a real
 * single-person event), then runs the tool from --bin over the whole range,
 * copying into the same topic as an operator would, and measures it from
 * its start to its exit (process start-up, offset lookups and the wait for
 * the last delivery report included):
 *  - republish_per_s: copies acknowledged by the broker per second of that
 *    run (target >= 50,000);
 *  - republish_peak_rss_mb: the tool's peak RSS.
 * The run counts only when the tool's summary says every event was read
 * and copied and the topic holds 2N messages afterwards.
 *
 *	bench_replay --bin DIR [-n COUNT] [--partitions P] [--keep]
 */
#include <errno.h>
#include <fcntl.h>
#include <getopt.h>
#include <signal.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/types.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cjson/cJSON.h>
#include <librdkafka/rdkafka.h>

#include "avro.h"
#include "bench.h"
#include "buf.h"
#include "cli.h"
#include "conf.h"
#include "event.h"
#include "kafka.h"
#include "log.h"
#include "serde.h"
#include "xalloc.h"

#define PROGRESS_S 5.0          /* a progress line this often while publishing */
#define SUMMARY_MAX 65536       /* largest summary line read back */

/* Everything a run shares. */
struct bench {
	const char *bin;        /* directory of the imislink binary */
	const char *bootstrap;  /* the broker */
	il_conf *conf;          /* environment, offline serde */
	il_schema_set *schemas;
	il_serde *serde;
	il_producer *prod;      /* publishes the events to copy */
	long delivered;         /* delivery reports with success */
	long failed;            /* delivery reports with an error */
};

static const char *event_template =
    "{\"event_id\":\"0000000000000000000000000000000000000000000000000000000000000000\","
    "\"event_type\":\"MEMBERSHIP_CHANGED\","
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

__attribute__((noreturn))
static void
usage(int code)
{
	fprintf(code == 0 ? stdout : stderr,
	    "usage: bench_replay --bin DIR [-n COUNT] [--partitions P] [--keep]\n"
	    "  --bin DIR         directory holding the imislink binary\n"
	    "  -n COUNT          events to publish and copy (default 500000)\n"
	    "  --partitions P    partitions of the topic (default 6)\n"
	    "  --keep            keep the topic (default: delete it)\n");
	exit(code);
}

static long
parse_long(const char *s, long min, long max, const char *what)
{
	long long v;

	if (!il_cli_parse_int(s, min, max, &v)) {
		fprintf(stderr, "bench_replay: invalid %s: expected %ld to %ld, got \"%s\"\n", what, min, max, s);
		exit(1);
	}
	return (long)v;
}

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

/* Runs one admin request on the producer's handle and waits for its result. */
static rd_kafka_event_t *
admin_wait(rd_kafka_queue_t *q, const char *what)
{
	rd_kafka_event_t *ev = rd_kafka_queue_poll(q, 60000);

	if (ev == NULL) {
		fprintf(stderr, "bench_replay: could not %s: no answer within 60 s\n", what);
		return NULL;
	}
	if (rd_kafka_event_error(ev) != RD_KAFKA_RESP_ERR_NO_ERROR) {
		fprintf(stderr, "bench_replay: could not %s: %s\n", what, rd_kafka_event_error_string(ev));
		rd_kafka_event_destroy(ev);
		return NULL;
	}
	return ev;
}

static int
create_topic(struct bench *b, const char *name, int partitions)
{
	rd_kafka_t *rk = il_producer_handle(b->prod);
	const rd_kafka_topic_result_t **tr;
	rd_kafka_NewTopic_t *nt;
	rd_kafka_queue_t *q = rd_kafka_queue_new(rk);
	rd_kafka_event_t *ev;
	char errbuf[512];
	size_t cnt = 0;
	int rc = -1;

	nt = rd_kafka_NewTopic_new(name, partitions, 1, errbuf, sizeof(errbuf));
	if (nt == NULL) {
		fprintf(stderr, "bench_replay: could not describe topic \"%s\": %s\n", name, errbuf);
		rd_kafka_queue_destroy(q);
		return -1;
	}
	rd_kafka_CreateTopics(rk, &nt, 1, NULL, q);
	ev = admin_wait(q, "create the topic");
	if (ev != NULL) {
		tr = rd_kafka_CreateTopics_result_topics(rd_kafka_event_CreateTopics_result(ev), &cnt);
		if (cnt == 1 && rd_kafka_topic_result_error(tr[0]) == RD_KAFKA_RESP_ERR_NO_ERROR)
			rc = 0;
		else
			fprintf(stderr, "bench_replay: could not create topic \"%s\": %s\n", name,
			    cnt == 1 ? rd_kafka_topic_result_error_string(tr[0]) : "no result");
		rd_kafka_event_destroy(ev);
	}
	rd_kafka_NewTopic_destroy(nt);
	rd_kafka_queue_destroy(q);
	return rc;
}

static void
delete_topic(struct bench *b, const char *name)
{
	rd_kafka_t *rk = il_producer_handle(b->prod);
	rd_kafka_DeleteTopic_t *dt = rd_kafka_DeleteTopic_new(name);
	rd_kafka_queue_t *q = rd_kafka_queue_new(rk);
	rd_kafka_event_t *ev;

	rd_kafka_DeleteTopics(rk, &dt, 1, NULL, q);
	ev = admin_wait(q, "delete the topic");
	if (ev != NULL)
		rd_kafka_event_destroy(ev);
	rd_kafka_DeleteTopic_destroy(dt);
	rd_kafka_queue_destroy(q);
}

/* Publishes @p n events with distinct keys; every one durable or -1. */
static int
publish(struct bench *b, const char *topic, long n)
{
	const il_schema *schema = il_schema_set_latest(b->schemas, "EligibilityEvent");
	cJSON *event = cJSON_Parse(event_template);
	double t0 = bench_now(), last = t0;
	char errbuf[512], key[24];
	il_buf msg;
	il_err err;
	int rc = -1;
	long i;

	il_buf_init(&msg, 1 << 20);
	if (event == NULL || schema == NULL ||
	    il_serde_encode(b->serde, topic, schema, event, &msg, errbuf, sizeof(errbuf)) != IL_OK) {
		fprintf(stderr, "bench_replay: could not encode the event\n");
		goto out;
	}
	for (i = 0; i < n; i++) {
		snprintf(key, sizeof(key), "HH-%09ld", i);
		for (;;) {
			err = il_producer_send(b->prod, topic, RD_KAFKA_PARTITION_UA, key, strlen(key),
			    msg.data, msg.len, NULL, 0, NULL, 10000);
			if (err == IL_OK)
				break;
			if (err != IL_ERR_TIMEOUT && err != IL_ERR_TRANSIENT) {
				fprintf(stderr, "bench_replay: could not send event %ld: %s\n", i, il_err_str(err));
				goto out;
			}
			il_producer_poll(b->prod, 100);
		}
		il_producer_poll(b->prod, 0);
		if (bench_now() - last >= PROGRESS_S) {
			last = bench_now();
			fprintf(stderr, "bench_replay: published %ld/%ld events (%.0f/s)\n", i + 1, n,
			    (double)(i + 1) / (last - t0));
		}
	}
	if (il_producer_flush(b->prod, 120000) != IL_OK || b->failed > 0 || b->delivered != n) {
		fprintf(stderr, "bench_replay: %ld of %ld events not delivered\n", n - b->delivered, n);
		goto out;
	}
	fprintf(stderr, "bench_replay: published %ld events of %zu bytes in %.1f s\n", n, msg.len,
	    bench_now() - t0);
	rc = 0;
out:
	cJSON_Delete(event);
	il_buf_free(&msg);
	return rc;
}

/* @returns the sum of the topic's high watermarks, -1 on error. */
static long long
topic_size(struct bench *b, const char *topic, int partitions)
{
	rd_kafka_t *rk = il_producer_handle(b->prod);
	long long sum = 0;
	int64_t lo, hi;
	int i;

	for (i = 0; i < partitions; i++) {
		if (rd_kafka_query_watermark_offsets(rk, topic, i, &lo, &hi, 30000) != RD_KAFKA_RESP_ERR_NO_ERROR)
			return -1;
		sum += hi;
	}
	return sum;
}

/*
 * Runs @p argv with stdout to @p out and stderr to @p err; @returns the exit
 * status (-1 when it could not run), the wall time in @p secs and the peak
 * RSS in @p rss_mb.
 */
static int
run_tool(char *const *argv, const char *out, const char *err, double *secs, double *rss_mb)
{
	struct rusage ru;
	double t0 = bench_now();
	int status = 0, fd;
	pid_t pid;

	pid = fork();
	if (pid < 0) {
		fprintf(stderr, "bench_replay: could not fork: %s\n", strerror(errno));
		return -1;
	}
	if (pid == 0) {
		fd = open(out, O_WRONLY | O_CREAT | O_TRUNC, 0644);
		if (fd < 0 || dup2(fd, 1) < 0)
			_exit(127);
		close(fd);
		fd = open(err, O_WRONLY | O_CREAT | O_TRUNC, 0644);
		if (fd < 0 || dup2(fd, 2) < 0)
			_exit(127);
		close(fd);
		execv(argv[0], argv);
		_exit(127);
	}
	while (wait4(pid, &status, 0, &ru) < 0) {
		if (errno != EINTR) {
			fprintf(stderr, "bench_replay: could not wait for the tool: %s\n", strerror(errno));
			return -1;
		}
	}
	*secs = bench_now() - t0;
	*rss_mb = (double)ru.ru_maxrss / 1024.0;
	return WIFEXITED(status) ? WEXITSTATUS(status) : 128 + WTERMSIG(status);
}

/* Reads the tool's summary line from @p path. */
static cJSON *
read_summary(const char *path)
{
	char *line = il_xmalloc(SUMMARY_MAX);
	cJSON *json = NULL;
	FILE *f = fopen(path, "r");

	if (f != NULL && fgets(line, SUMMARY_MAX, f) != NULL)
		json = cJSON_Parse(line);
	if (f != NULL)
		fclose(f);
	free(line);
	return json;
}

static long long
member(const cJSON *o, const char *name)
{
	const cJSON *v = cJSON_GetObjectItemCaseSensitive(o, name);

	return cJSON_IsNumber(v) ? (long long)v->valuedouble : -1;
}

int
main(int argc, char **argv)
{
	static const struct option longopts[] = {
		{ "bin", required_argument, NULL, 'B' },
		{ "partitions", required_argument, NULL, 'p' },
		{ "keep", no_argument, NULL, 'k' },
		{ "help", no_argument, NULL, 'h' },
		{ NULL, 0, NULL, 0 },
	};
	struct bench b;                 /* the run */
	long n = 500000;                /* -n */
	int partitions = 6;             /* --partitions */
	bool keep = false;              /* --keep */
	char errbuf[512], topic[128], tool[4096], from[32], to[32], out[4096], err[4096];
	char *targv[16];
	double secs = 0, rss = 0;
	long long t0, t1, size;
	cJSON *summary = NULL;
	int opt, status, rc = 1;

	bench_init(argc, argv);
	memset(&b, 0, sizeof(b));
	while ((opt = getopt_long(argc, argv, "n:h", longopts, NULL)) != -1) {
		switch (opt) {
		case 'B': b.bin = optarg; break;
		case 'n': n = parse_long(optarg, 1, 100000000, "-n"); break;
		case 'p': partitions = (int)parse_long(optarg, 1, 1000, "--partitions"); break;
		case 'k': keep = true; break;
		case 'h': usage(0);
		default: usage(1);
		}
	}
	if (optind != argc || b.bin == NULL)
		usage(1);
	il_log_init("bench_replay", IL_LOG_WARN, NULL);
	signal(SIGPIPE, SIG_IGN);
	b.bootstrap = getenv("KAFKA_BOOTSTRAP_SERVERS");
	if (b.bootstrap == NULL || b.bootstrap[0] == '\0') {
		fprintf(stderr, "bench_replay: KAFKA_BOOTSTRAP_SERVERS is not set\n");
		return 1;
	}
	b.conf = il_conf_new();
	/* Offline serde: the tool does not decode without --programme. */
	if (il_conf_load_env(b.conf, errbuf, sizeof(errbuf)) != IL_OK ||
	    il_conf_set(b.conf, "schema.registry.url", "", "bench_replay", errbuf, sizeof(errbuf)) != IL_OK ||
	    il_conf_set_rdkafka_arg(b.conf, "linger.ms=20", errbuf, sizeof(errbuf)) != IL_OK) {
		fprintf(stderr, "bench_replay: configuration: %s\n", errbuf);
		goto out;
	}
	b.schemas = il_schema_set_load(il_conf_get(b.conf, "schemas.dir"), errbuf, sizeof(errbuf));
	if (b.schemas == NULL || (b.serde = il_serde_new(b.conf, b.schemas, errbuf, sizeof(errbuf))) == NULL) {
		fprintf(stderr, "bench_replay: schemas: %s\n", errbuf);
		goto out;
	}
	b.prod = il_producer_new(b.conf, on_delivery, &b, errbuf, sizeof(errbuf));
	if (b.prod == NULL) {
		fprintf(stderr, "bench_replay: producer: %s\n", errbuf);
		goto out;
	}
	snprintf(topic, sizeof(topic), "bench-replay-%ld-%lld", (long)getpid(), il_event_now_ms());
	if (create_topic(&b, topic, partitions) != 0)
		goto out;

	/* The range: from just before the first event to just after the last. */
	t0 = il_event_now_ms() - 1;
	if (publish(&b, topic, n) != 0)
		goto drop;
	t1 = il_event_now_ms() + 1;

	snprintf(tool, sizeof(tool), "%s/imislink", b.bin);
	snprintf(from, sizeof(from), "%lld", t0);
	snprintf(to, sizeof(to), "%lld", t1);
	snprintf(out, sizeof(out), "%s/bench-replay-%ld.out", getenv("TMPDIR") != NULL ? getenv("TMPDIR") : "/tmp",
	    (long)getpid());
	snprintf(err, sizeof(err), "%s/bench-replay-%ld.log", getenv("TMPDIR") != NULL ? getenv("TMPDIR") : "/tmp",
	    (long)getpid());
	targv[0] = tool;
	targv[1] = "-b";
	targv[2] = (char *)b.bootstrap;
	targv[3] = "replay";
	targv[4] = "republish";
	targv[5] = "--topic";
	targv[6] = topic;
	targv[7] = "--from";
	targv[8] = from;
	targv[9] = "--to";
	targv[10] = to;
	targv[11] = NULL;
	fprintf(stderr, "bench_replay: %s -b %s replay republish --topic %s --from %s --to %s\n", tool,
	    b.bootstrap, topic, from, to);
	status = run_tool(targv, out, err, &secs, &rss);
	summary = read_summary(out);
	if (status != 0 || summary == NULL) {
		fprintf(stderr, "bench_replay: the tool exited with status %d (log: %s)\n", status, err);
		goto drop;
	}
	if (member(summary, "read") != n || member(summary, "copied") != n || member(summary, "failed") != 0) {
		fprintf(stderr, "bench_replay: read %lld, copied %lld, failed %lld of %ld events (log: %s)\n",
		    member(summary, "read"), member(summary, "copied"), member(summary, "failed"), n, err);
		goto drop;
	}
	size = topic_size(&b, topic, partitions);
	if (size != 2LL * n) {
		fprintf(stderr, "bench_replay: the topic holds %lld messages after the copy, expected %ld\n",
		    size, 2 * n);
		goto drop;
	}
	printf("# %ld events copied in %.2f s (tool's own rate, set-up excluded: %lld/s), %d partitions\n", n,
	    secs, member(summary, "rate_per_s"), partitions);
	bench_report("republish_per_s", (double)n / secs, "events/s", ">=50000");
	bench_report("republish_peak_rss_mb", rss, "MiB", "");
	unlink(out);
	unlink(err);
	rc = 0;
drop:
	if (!keep)
		delete_topic(&b, topic);
out:
	cJSON_Delete(summary);
	il_producer_destroy(b.prod);
	il_serde_destroy(b.serde);
	il_schema_set_destroy(b.schemas);
	il_conf_destroy(b.conf);
	return rc;
}
