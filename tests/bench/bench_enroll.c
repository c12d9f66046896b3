/*
 * bench_enroll - enrollment throughput, CPU and memory of imislink-enroll
 * against the openIMIS emulator.
 *
 * Each case runs from scratch: fresh topics on the broker in
 * $KAFKA_BOOTSTRAP_SERVERS (eligibility with P partitions, results, dead
 * letters), N single-person insurance enrollments published before anything
 * consumes them (distinct keys and CHF IDs, programme 7 of the mapping), then
 * a fresh emulator (imislink-openimis --latency-ms L) and one worker
 * (imislink-enroll, enroll.max.in.flight=F, client rate limit out of the way,
 * its own consumer group).  Serde is offline on both sides: schema ids come
 * from schemas/offline-ids.properties.
 *
 * What is measured, from the worker's /metrics polled every 50 ms and its
 * /proc entries:
 *  - throughput: results (imislink_enroll_events_total, every outcome) from
 *    the first seen to the last, so start-up and login are not counted;
 *  - calls per enrollment: imislink_openimis_calls_total / enrollments;
 *  - CPU: utime + stime of the worker (every thread) just before it is
 *    stopped, per enrollment;
 *  - memory: VmHWM (peak RSS) just before it is stopped, and in the 0 ms
 *    case also when the results pass --rss-sample, for the growth figure.
 * A case whose events do not all end ENROLLED fails: figures of a run that
 * dead-lettered are not figures of enrollment.
 *
 * Cases:
 *  100ms  latency 100 ms, F in flight, P partitions: enroll_per_s_100ms and
 *         enroll_efficiency_100ms = achieved / (F / (calls per enrollment x 0.1 s));
 *  seq    latency 100 ms, the sequential baseline: one partition and
 *         enroll.max.in.flight=1, i.e. in-flight 1 per partition:
 *         enroll_sequential_per_s_100ms;
 *  0ms    latency 0, F in flight: enroll_per_s_0ms, enroll_cpu_us,
 *         enroll_peak_rss_mb, enroll_rss_growth_pct (VmHWM after all events
 *         against VmHWM after --rss-sample events).
 *
 *	bench_enroll --bin DIR [--case all|100ms|seq|0ms] [--mapping FILE]
 *	    [--events-100ms N] [--events-seq N] [--events-0ms N] [--rss-sample N]
 *	    [--partitions P] [--in-flight F] [-X PROPERTY=VALUE]...
 */
#include <getopt.h>
#include <limits.h>
#include <signal.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <curl/curl.h>
#include <librdkafka/rdkafka.h>

#define BENCH_NAME "bench_enroll"
#include "benchutil.h"
#include "buf.h"
#include "event.h"
#include "log.h"
#include "xalloc.h"
#include "../testevent.h"

#define POLL_MS 50              /* metrics polling interval */
#define PROGRESS_S 5.0          /* a progress line this often */
#define STALL_S 120.0           /* no new result for this long: the case fails */
#define START_S 60.0            /* emulator port file, worker's port line */
#define METRICS_MAX (4u << 20)  /* largest /metrics body read */
#define NAREAS 40               /* SPP-A01..SPP-A40 in the mapping */
#define MAX_X 16                /* -X options passed on to the worker */

/* One case to run. */
struct bench_case {
	const char *name;       /* 100ms, seq, 0ms: in topic names and progress */
	char id_letter;         /* first character of the case's CHF IDs */
	int latency_ms;         /* emulator latency per call */
	int in_flight;          /* enroll.max.in.flight */
	int partitions;         /* of the eligibility topic */
	long events;            /* enrollments */
	long rss_sample_at;     /* results at which VmHWM is sampled; 0: never */
};

/* What a case measured. */
struct case_result {
	double per_s;           /* results per second, first to last */
	double calls_per_enrollment;
	double cpu_us;          /* worker CPU per enrollment, microseconds */
	double hwm_mb;          /* worker VmHWM at the end, MiB */
	double hwm_sample_mb;   /* worker VmHWM when rss_sample_at results were in, MiB */
	double rss_sample_mb;   /* and VmRSS then */
	double rss_end_mb;      /* worker VmRSS at the end */
};

/* Everything a run shares. */
struct bench {
	const char *bin;        /* directory of imislink-openimis and imislink-enroll */
	const char *mapping;    /* enroll.mapping.file */
	const char *bootstrap;  /* the broker */
	char workdir[PATH_MAX]; /* logs and port files of the children */
	struct bench_kafka k;   /* publishes the events */
	CURL *curl;
	il_buf body;            /* last HTTP answer */
	pid_t emu_pid;          /* 0 when not running */
	pid_t worker_pid;
	const char *rdkafka[MAX_X];     /* -X PROPERTY=VALUE for the worker */
	size_t nrdkafka;
};

static const char *event_template = TEST_EVENT_PERSON_JSON("x", "bench");

/* Publishes @p c->events enrollments to @p topic; every one durable or -1. */
static int
produce_events(struct bench *b, const struct bench_case *c, const char *topic)
{
	const il_schema *schema = il_schema_set_latest(b->k.schemas, "EligibilityEvent");
	cJSON *event = cJSON_Parse(event_template);
	cJSON *reg, *src, *area;
	char errbuf[512];
	double t0 = bench_now(), last = t0;
	il_buf msg;
	int rc = -1;

	il_buf_init(&msg, 1 << 20);
	b->k.delivered = 0;
	b->k.failed = 0;
	if (event == NULL || schema == NULL) {
		fprintf(stderr, "bench_enroll: no event template or no EligibilityEvent schema\n");
		goto out;
	}
	reg = cJSON_GetObjectItem(event, "registrant");
	src = cJSON_GetObjectItem(event, "source");
	area = cJSON_GetObjectItem(reg, "area");
	for (long i = 0; i < c->events; i++) {
		cJSON *id = cJSON_GetArrayItem(cJSON_GetObjectItem(reg, "external_ids"), 0);
		char key[24], eid[65], pk[24], code[16];

		/* The CHF ID rule of the emulator: 1..12 of [0-9A-Za-z]. */
		snprintf(key, sizeof(key), "%c%09ld", c->id_letter, i + 1);
		snprintf(pk, sizeof(pk), "%ld", i + 1);
		snprintf(code, sizeof(code), "SPP-A%02ld", i % NAREAS + 1);
		il_event_id("openspp", "bench", "CDC", key, "g2p_program_membership", pk, eid);
		cJSON_ReplaceItemInObject(id, "value", cJSON_CreateString(key));
		cJSON_ReplaceItemInObject(src, "primary_key", cJSON_CreateString(pk));
		cJSON_ReplaceItemInObject(reg, "source_id", cJSON_CreateNumber((double)(i + 1)));
		cJSON_ReplaceItemInObject(area, "code", cJSON_CreateString(code));
		cJSON_ReplaceItemInObject(event, "event_id", cJSON_CreateString(eid));
		il_buf_reset(&msg);
		if (il_serde_encode(b->k.serde, topic, schema, event, &msg, errbuf, sizeof(errbuf)) != IL_OK) {
			fprintf(stderr, "bench_enroll: could not encode event %ld: %s\n", i, errbuf);
			goto out;
		}
		if (bench_send(&b->k, topic, key, msg.data, msg.len, NULL, 0, "event", i) != 0)
			goto out;
		if (bench_now() - last >= PROGRESS_S) {
			last = bench_now();
			fprintf(stderr, "bench_enroll: %s: published %ld/%ld events (%.0f/s)\n", c->name,
			    i + 1, c->events, (double)(i + 1) / (last - t0));
		}
	}
	if (bench_flush(&b->k, c->events, "events") != 0)
		goto out;
	fprintf(stderr, "bench_enroll: %s: published %ld events in %.1f s\n", c->name, c->events,
	    bench_now() - t0);
	rc = 0;
out:
	cJSON_Delete(event);
	il_buf_free(&msg);
	return rc;
}

/* Waits for the file @p path to hold a number; @returns it or -1. */
static long
wait_port_file(const char *path, pid_t pid, double timeout_s)
{
	double deadline = bench_now() + timeout_s;

	while (bench_now() < deadline) {
		FILE *f = fopen(path, "r");
		long port = -1;

		if (f != NULL) {
			if (fscanf(f, "%ld", &port) != 1)
				port = -1;
			fclose(f);
			if (port > 0)
				return port;
		}
		if (!bench_alive(pid))
			return -1;
		usleep(20000);
	}
	return -1;
}

static int
start_emulator(struct bench *b, const struct bench_case *c, long *port)
{
	char *portfile = il_xasprintf("%s/emu-%s.port", b->workdir, c->name);
	char *log = il_xasprintf("%s/emu-%s.log", b->workdir, c->name);
	char *exe = il_xasprintf("%s/imislink-openimis", b->bin);
	char latency[16];
	char *argv[] = { exe, "--port", "0", "--port-file", portfile, "--latency-ms", latency, NULL };
	char **envp = bench_child_env(NULL, 0);
	int rc = -1;

	snprintf(latency, sizeof(latency), "%d", c->latency_ms);
	unlink(portfile);
	b->emu_pid = bench_spawn(argv, envp, log);
	if (b->emu_pid < 0) {
		b->emu_pid = 0;
		goto out;
	}
	*port = wait_port_file(portfile, b->emu_pid, START_S);
	if (*port < 0) {
		fprintf(stderr, "bench_enroll: the emulator \"%s\" wrote no port within %.0f s\n", exe, START_S);
		bench_print_tail(log);
		goto out;
	}
	rc = 0;
out:
	free(envp);
	free(portfile);
	free(log);
	free(exe);
	return rc;
}

static int
start_worker(struct bench *b, const struct bench_case *c, long emu_port, const char *topic,
    const char *results, const char *dlq, long *port, char **logp)
{
	char *log = il_xasprintf("%s/worker-%s.log", b->workdir, c->name);
	char *exe = il_xasprintf("%s/imislink-enroll", b->bin);
	char *sets[10];
	/* Offline serde like the producer above; no operator file. */
	const char *env_set[] = { "SCHEMA_REGISTRY_URL=", "IMISLINK_CONFIG=/dev/null",
	    "OPENIMIS_PASSWORD=admin123" };
	char **envp = bench_child_env(env_set, sizeof(env_set) / sizeof(env_set[0]));
	size_t n = 0;

	sets[n++] = il_xasprintf("kafka.bootstrap.servers=%s", b->bootstrap);
	sets[n++] = il_xasprintf("kafka.group.id=bench-enroll-%s-%ld-%lld", c->name, (long)getpid(),
	    (long long)time(NULL));
	sets[n++] = il_xasprintf("topic.eligibility=%s", topic);
	sets[n++] = il_xasprintf("topic.results=%s", results);
	sets[n++] = il_xasprintf("topic.dlq=%s", dlq);
	sets[n++] = il_xasprintf("enroll.max.in.flight=%d", c->in_flight);
	sets[n++] = il_xasprintf("openimis.calls.per.second=1000000");
	sets[n++] = il_xasprintf("openimis.api.url=http://127.0.0.1:%ld", emu_port);
	sets[n++] = il_xasprintf("enroll.mapping.file=%s", b->mapping);
	sets[n++] = il_xasprintf("http.port=0");
	*port = bench_start_daemon(c->name, exe, sets, n, b->rdkafka, b->nrdkafka, envp, log, START_S,
	    &b->worker_pid);
	*logp = log;
	for (size_t i = 0; i < n; i++)
		free(sets[i]);
	free(envp);
	free(exe);
	return *port < 0 ? -1 : 0;
}

/* Prints the outcome counts of the last /metrics body. */
static void
print_outcomes(struct bench *b)
{
	static const char *const outcomes[] = { "ENROLLED", "UPDATED", "ALREADY_ENROLLED", "SKIPPED",
	    "PENDING_APPROVAL", "FAILED" };
	char label[48];

	fprintf(stderr, "bench_enroll: outcomes:");
	for (size_t i = 0; i < sizeof(outcomes) / sizeof(outcomes[0]); i++) {
		snprintf(label, sizeof(label), "outcome=\"%s\"", outcomes[i]);
		fprintf(stderr, " %s %.0f", outcomes[i],
		    bench_metric_sum(b->body.data, "imislink_enroll_events_total", label));
	}
	fprintf(stderr, "\n");
}

/* Runs one case; @returns 0 with @p r filled, -1 on failure. */
static int
run_case(struct bench *b, const struct bench_case *c, struct case_result *r)
{
	char *names[3] = { NULL };
	int parts[3] = { c->partitions, c->partitions, 1 };
	char *worker_log = NULL, *metrics_url = NULL, *dup_url = NULL;
	long emu_port = 0, worker_port = 0;
	struct bench_count cnt;
	double now, last_progress, prev_done = 0, prev_t, cpu;
	bool sampled = c->rss_sample_at <= 0;
	int rc = -1;

	memset(r, 0, sizeof(*r));
	for (int i = 0; i < 3; i++)
		names[i] = il_xasprintf("bench-enroll-%s-%ld-%lld.%s", c->name, (long)getpid(),
		    (long long)time(NULL), i == 0 ? "eligibility" : i == 1 ? "results" : "dlq");
	fprintf(stderr, "bench_enroll: case %s: %ld enrollments, latency %d ms, %d in flight, "
	    "%d partition%s\n", c->name, c->events, c->latency_ms, c->in_flight, c->partitions,
	    c->partitions == 1 ? "" : "s");
	if (bench_create_topics(&b->k, names, parts, 3) != 0 || produce_events(b, c, names[0]) != 0)
		goto out;
	if (start_emulator(b, c, &emu_port) != 0)
		goto out;
	if (start_worker(b, c, emu_port, names[0], names[1], names[2], &worker_port, &worker_log) != 0)
		goto out;
	metrics_url = il_xasprintf("http://127.0.0.1:%ld/metrics", worker_port);
	dup_url = il_xasprintf("http://127.0.0.1:%ld/_emu/duplicates", emu_port);

	bench_count_start(&cnt);
	last_progress = prev_t = cnt.last_change;
	while (cnt.done < (double)c->events) {
		int got = bench_count_poll(&cnt, b->worker_pid, b->curl, &b->body, metrics_url,
		    "imislink_enroll_events_total", POLL_MS);

		if (got < 0) {
			fprintf(stderr, "bench_enroll: the worker exited before the end\n");
			bench_print_tail(worker_log);
			goto out;
		}
		if (got == 0)
			continue;
		now = bench_now();
		if (!sampled && cnt.done >= (double)c->rss_sample_at) {
			r->hwm_sample_mb = bench_proc_status_mb(b->worker_pid, "VmHWM");
			r->rss_sample_mb = bench_proc_status_mb(b->worker_pid, "VmRSS");
			sampled = true;
			fprintf(stderr, "bench_enroll: %s: after %.0f results: VmHWM %.1f MiB, VmRSS %.1f MiB\n",
			    c->name, cnt.done, r->hwm_sample_mb, r->rss_sample_mb);
		}
		if (now - last_progress >= PROGRESS_S && cnt.done == 0) {
			fprintf(stderr, "bench_enroll: %s: no result yet (the worker joins its group and logs in)\n",
			    c->name);
			last_progress = prev_t = now;
		} else if (now - last_progress >= PROGRESS_S) {
			fprintf(stderr, "bench_enroll: %s: %.0f/%ld results, %.0f/s now, %.0f in flight, "
			    "VmRSS %.1f MiB\n", c->name, cnt.done, c->events, (cnt.done - prev_done) / (now - prev_t),
			    bench_metric_sum(b->body.data, "imislink_enroll_in_flight", NULL),
			    bench_proc_status_mb(b->worker_pid, "VmRSS"));
			last_progress = prev_t = now;
			prev_done = cnt.done;
		}
		if (now - cnt.last_change > STALL_S) {
			fprintf(stderr, "bench_enroll: %s: no new result for %.0f s at %.0f/%ld\n", c->name,
			    STALL_S, cnt.done, c->events);
			print_outcomes(b);
			bench_print_tail(worker_log);
			goto out;
		}
	}
	/* Measured before the stop: shutdown is not enrollment work. */
	cpu = bench_proc_cpu_s(b->worker_pid);
	r->hwm_mb = bench_proc_status_mb(b->worker_pid, "VmHWM");
	r->rss_end_mb = bench_proc_status_mb(b->worker_pid, "VmRSS");
	r->per_s = bench_count_rate(&cnt);
	r->calls_per_enrollment = bench_metric_sum(b->body.data, "imislink_openimis_calls_total", NULL) /
	    (double)c->events;
	r->cpu_us = cpu * 1e6 / (double)c->events;
	fprintf(stderr, "bench_enroll: %s: %.0f results in %.1f s, %.2f openIMIS calls per enrollment, "
	    "worker CPU %.1f s, VmHWM %.1f MiB\n", c->name, cnt.done, cnt.t_last - cnt.t_first,
	    r->calls_per_enrollment, cpu, r->hwm_mb);
	if (bench_metric_sum(b->body.data, "imislink_enroll_events_total", "outcome=\"ENROLLED\"") !=
	    (double)c->events) {
		fprintf(stderr, "bench_enroll: %s: not every event was enrolled\n", c->name);
		print_outcomes(b);
		bench_print_tail(worker_log);
		goto out;
	}
	if (bench_http_get(b->curl, &b->body, dup_url) != 200 || strstr(b->body.data, "\"ok\":true") == NULL) {
		fprintf(stderr, "bench_enroll: %s: the emulator's duplicate check failed: %s\n", c->name,
		    b->body.data != NULL ? b->body.data : "no answer");
		goto out;
	}
	rc = 0;
out:
	if (bench_stop_child(&b->worker_pid) != 0 && rc == 0)
		fprintf(stderr, "bench_enroll: %s: the worker did not exit cleanly (see %s)\n", c->name,
		    worker_log);
	bench_stop_child(&b->emu_pid);
	for (int i = 0; i < 3; i++)
		free(names[i]);
	free(worker_log);
	free(metrics_url);
	free(dup_url);
	return rc;
}

__attribute__((noreturn))
static void
usage(int code)
{
	fprintf(code == 0 ? stdout : stderr,
	    "usage: bench_enroll --bin DIR [--case all|100ms|seq|0ms] [--mapping FILE]\n"
	    "           [--events-100ms N] [--events-seq N] [--events-0ms N] [--rss-sample N]\n"
	    "           [--partitions P] [--in-flight F] [-X PROPERTY=VALUE]...\n"
	    "  --bin DIR          where imislink-openimis and imislink-enroll are\n"
	    "  --case C           one case, or all of them (default all)\n"
	    "  --mapping FILE     the worker's mapping (default deploy/enroll-mapping.example)\n"
	    "  --events-100ms N   enrollments at 100 ms (default 20000)\n"
	    "  --events-seq N     enrollments of the sequential baseline (default 100)\n"
	    "  --events-0ms N     enrollments at 0 ms (default 1000000)\n"
	    "  --rss-sample N     results at which the 0 ms case samples peak RSS (default N/10)\n"
	    "  --partitions P     partitions of the eligibility topic (default 6)\n"
	    "  --in-flight F      enroll.max.in.flight (default 256)\n"
	    "  -X PROPERTY=VALUE  a librdkafka property for the worker (repeatable)\n"
	    "The broker is $KAFKA_BOOTSTRAP_SERVERS.\n");
	exit(code);
}

int
main(int argc, char **argv)
{
	static const struct option longopts[] = {
		{ "bin", required_argument, NULL, 'B' },
		{ "case", required_argument, NULL, 'c' },
		{ "mapping", required_argument, NULL, 'm' },
		{ "events-100ms", required_argument, NULL, '1' },
		{ "events-seq", required_argument, NULL, 's' },
		{ "events-0ms", required_argument, NULL, '0' },
		{ "rss-sample", required_argument, NULL, 'r' },
		{ "partitions", required_argument, NULL, 'p' },
		{ "in-flight", required_argument, NULL, 'f' },
		{ "help", no_argument, NULL, 'h' },
		{ NULL, 0, NULL, 0 },
	};
	struct bench b;                 /* the run */
	const char *which = "all";      /* --case */
	long n100 = 20000, nseq = 100, nzero = 1000000, rss_sample = 0;
	int partitions = 6, in_flight = 256;
	struct case_result r100 = { 0 }, rseq = { 0 }, rzero = { 0 };
	bool do100, doseq, dozero;
	char *default_mapping = NULL;
	int opt, rc = 1;

	bench_init(argc, argv);
	memset(&b, 0, sizeof(b));
	while ((opt = getopt_long(argc, argv, "hX:", longopts, NULL)) != -1) {
		switch (opt) {
		case 'B': b.bin = optarg; break;
		case 'c': which = optarg; break;
		case 'm': b.mapping = optarg; break;
		case '1': n100 = bench_parse_long(optarg, 1, 100000000, "--events-100ms"); break;
		case 's': nseq = bench_parse_long(optarg, 1, 100000000, "--events-seq"); break;
		case '0': nzero = bench_parse_long(optarg, 1, 100000000, "--events-0ms"); break;
		case 'r': rss_sample = bench_parse_long(optarg, 1, 100000000, "--rss-sample"); break;
		case 'p': partitions = (int)bench_parse_long(optarg, 1, 1000, "--partitions"); break;
		case 'f': in_flight = (int)bench_parse_long(optarg, 1, 4096, "--in-flight"); break;
		case 'X':
			if (b.nrdkafka == MAX_X) {
				fprintf(stderr, "bench_enroll: at most %d -X options\n", MAX_X);
				return 1;
			}
			b.rdkafka[b.nrdkafka++] = optarg;
			break;
		case 'h': usage(0);
		default: usage(1);
		}
	}
	do100 = strcmp(which, "all") == 0 || strcmp(which, "100ms") == 0;
	doseq = strcmp(which, "all") == 0 || strcmp(which, "seq") == 0;
	dozero = strcmp(which, "all") == 0 || strcmp(which, "0ms") == 0;
	if (optind != argc || b.bin == NULL || !(do100 || doseq || dozero))
		usage(1);
	if (rss_sample == 0)
		rss_sample = nzero / 10 > 0 ? nzero / 10 : 1;
	if (rss_sample >= nzero) {
		fprintf(stderr, "bench_enroll: --rss-sample must be less than --events-0ms\n");
		return 1;
	}
	if (b.mapping == NULL) {
		/* tests/data/../../deploy: the tree the bench was built from. */
		default_mapping = il_xasprintf("%s/../../deploy/enroll-mapping.example", IL_TEST_DATA_DIR);
		b.mapping = default_mapping;
	}
	il_log_init("bench_enroll", IL_LOG_WARN, NULL);
	signal(SIGPIPE, SIG_IGN);
	il_buf_init(&b.body, METRICS_MAX);
	b.bootstrap = getenv("KAFKA_BOOTSTRAP_SERVERS");
	if (b.bootstrap == NULL || b.bootstrap[0] == '\0') {
		fprintf(stderr, "bench_enroll: KAFKA_BOOTSTRAP_SERVERS is not set\n");
		goto out;
	}
	if (bench_workdir_make(b.workdir, "bench-enroll") != 0 || bench_kafka_open(&b.k) != 0)
		goto out;
	b.curl = curl_easy_init();
	if (b.curl == NULL) {
		fprintf(stderr, "bench_enroll: could not initialise libcurl\n");
		goto out;
	}

	if (do100) {
		struct bench_case c = { "100ms", 'A', 100, in_flight, partitions, n100, 0 };
		double bound;

		if (run_case(&b, &c, &r100) != 0)
			goto out;
		bound = (double)in_flight / (r100.calls_per_enrollment * 0.1);
		printf("# 100 ms per call, %d in flight, %.2f calls per enrollment: bound %.1f enrollments/s\n",
		    in_flight, r100.calls_per_enrollment, bound);
		printf("# worker peak RSS at 100 ms with %d in flight: %.1f MiB\n", in_flight, r100.hwm_mb);
		bench_report("enroll_per_s_100ms", r100.per_s, "enroll/s", "");
		bench_report("enroll_efficiency_100ms", r100.per_s / bound, "ratio", ">=0.8");
	}
	if (doseq) {
		/* In-flight 1 per partition: one partition, one worker, max.in.flight=1. */
		struct bench_case c = { "seq", 'B', 100, 1, 1, nseq, 0 };

		if (run_case(&b, &c, &rseq) != 0)
			goto out;
		printf("# sequential baseline: 1 partition, enroll.max.in.flight=1, %.2f calls per "
		    "enrollment: bound %.2f enrollments/s\n", rseq.calls_per_enrollment,
		    1.0 / (rseq.calls_per_enrollment * 0.1));
		bench_report("enroll_sequential_per_s_100ms", rseq.per_s, "enroll/s", "");
	}
	if (dozero) {
		struct bench_case c = { "0ms", 'C', 0, in_flight, partitions, nzero, rss_sample };

		if (run_case(&b, &c, &rzero) != 0)
			goto out;
		printf("# 0 ms per call, %d in flight, %ld enrollments, %.2f calls per enrollment; peak RSS "
		    "%.1f MiB after %ld, %.1f MiB after %ld\n", in_flight, nzero, rzero.calls_per_enrollment,
		    rzero.hwm_sample_mb, rss_sample, rzero.hwm_mb, nzero);
		bench_report("enroll_per_s_0ms", rzero.per_s, "enroll/s", "");
		bench_report("enroll_cpu_us", rzero.cpu_us, "us/enroll", "<=100");
		/* The peak with 256 in flight: the larger of the 0 ms and 100 ms runs. */
		bench_report("enroll_peak_rss_mb", rzero.hwm_mb > r100.hwm_mb ? rzero.hwm_mb : r100.hwm_mb,
		    "MiB", "<=64");
		bench_report("enroll_rss_growth_pct", rzero.hwm_sample_mb > 0 ?
		    (rzero.hwm_mb - rzero.hwm_sample_mb) * 100.0 / rzero.hwm_sample_mb : 0.0, "%", "<=10");
	}
	rc = 0;
out:
	bench_stop_child(&b.worker_pid);
	bench_stop_child(&b.emu_pid);
	bench_workdir_done(b.workdir, rc == 0);
	if (b.curl != NULL)
		curl_easy_cleanup(b.curl);
	bench_kafka_close(&b.k);
	il_buf_free(&b.body);
	free(default_mapping);
	return rc;
}
