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

#define BENCH_NAME "bench_replay"
#include "benchutil.h"
#include "buf.h"
#include "event.h"
#include "log.h"
#include "xalloc.h"
#include "../testevent.h"

#define PROGRESS_S 5.0          /* a progress line this often while publishing */
#define SUMMARY_MAX 65536       /* largest summary line read back */

/* Everything a run shares. */
struct bench {
	const char *bin;        /* directory of the imislink binary */
	const char *bootstrap;  /* the broker */
	struct bench_kafka k;   /* publishes the events to copy */
};

/* An event id of full length: the message has the size of a real event. */
static const char *event_template = TEST_EVENT_PERSON_JSON(
    "0000000000000000000000000000000000000000000000000000000000000000", "bench");

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

/* Publishes @p n events with distinct keys; every one durable or -1. */
static int
publish(struct bench *b, const char *topic, long n)
{
	const il_schema *schema = il_schema_set_latest(b->k.schemas, "EligibilityEvent");
	cJSON *event = cJSON_Parse(event_template);
	double t0 = bench_now(), last = t0;
	char errbuf[512], key[24];
	il_buf msg;
	int rc = -1;
	long i;

	il_buf_init(&msg, 1 << 20);
	if (event == NULL || schema == NULL ||
	    il_serde_encode(b->k.serde, topic, schema, event, &msg, errbuf, sizeof(errbuf)) != IL_OK) {
		fprintf(stderr, "bench_replay: could not encode the event\n");
		goto out;
	}
	for (i = 0; i < n; i++) {
		snprintf(key, sizeof(key), "HH-%09ld", i);
		if (bench_send(&b->k, topic, key, msg.data, msg.len, NULL, 0, "event", i) != 0)
			goto out;
		if (bench_now() - last >= PROGRESS_S) {
			last = bench_now();
			fprintf(stderr, "bench_replay: published %ld/%ld events (%.0f/s)\n", i + 1, n,
			    (double)(i + 1) / (last - t0));
		}
	}
	if (bench_flush(&b->k, n, "events") != 0)
		goto out;
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
	rd_kafka_t *rk = il_producer_handle(b->k.prod);
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
	char topic[128], tool[4096], from[32], to[32], out[4096], err[4096];
	char *targv[16], *names[1] = { topic };
	double secs = 0, rss = 0;
	long long t0, t1, size;
	cJSON *summary = NULL;
	int opt, status, rc = 1;

	bench_init(argc, argv);
	memset(&b, 0, sizeof(b));
	while ((opt = getopt_long(argc, argv, "n:h", longopts, NULL)) != -1) {
		switch (opt) {
		case 'B': b.bin = optarg; break;
		case 'n': n = bench_parse_long(optarg, 1, 100000000, "-n"); break;
		case 'p': partitions = (int)bench_parse_long(optarg, 1, 1000, "--partitions"); break;
		case 'k': keep = true; break;
		case 'h': usage(0);
		default: usage(1);
		}
	}
	if (optind != argc || b.bin == NULL)
		usage(1);
	il_log_init("bench_replay", IL_LOG_WARN, NULL);
	signal(SIGPIPE, SIG_IGN);
	b.bootstrap = bench_bootstrap();
	if (b.bootstrap == NULL)
		return 1;
	/* Offline serde: the tool does not decode without --programme. */
	if (bench_kafka_open(&b.k) != 0)
		goto out;
	snprintf(topic, sizeof(topic), "bench-replay-%ld-%lld", (long)getpid(), il_event_now_ms());
	if (bench_create_topics(&b.k, names, &partitions, 1) != 0)
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
		bench_delete_topic(&b.k, topic);
out:
	cJSON_Delete(summary);
	bench_kafka_close(&b.k);
	return rc;
}
