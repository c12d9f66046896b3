/*
 * bench_lag - how long one lag evaluation round (common/lag.c) takes over
 * 1,000 partitions, and the memory of the process that holds the monitor.
 *
 * On the broker in $KAFKA_BOOTSTRAP_SERVERS it creates a topic of P
 * partitions (Admin API CreateTopics), produces N messages to each, and
 * commits half of them for a consumer group (a consumer with the group's id
 * committing a partition list, without joining), so that every partition has
 * lag in messages and in seconds.  Then it times il_lag_evaluate():
 *  - the first round, which reads __consumer_offsets from its start and the
 *    message at every committed offset (the age of the oldest unconsumed);
 *  - R steady rounds, before each of which the group commits one more message
 *    on C partitions, as a live consumer would: those commits come through
 *    the commit log and their new committed offsets are probed again.
 * It checks the figures (P partitions, the expected sum of lag) and deletes
 * the topic and the group at the end.
 *
 * Figures: lag_eval_1000_s (the mean steady round, target under 1 s; the
 * first round is printed too) and lag_peak_rss_mb.
 *
 *	bench_lag [-p PARTITIONS] [-n MESSAGES] [-r ROUNDS] [-c CHURN] [-d]
 * -d discovers the groups from the broker (ListGroups) instead of naming the
 * bench's group in lag.groups.
 */
#include <errno.h>
#include <inttypes.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include <librdkafka/rdkafka.h>

#include "bench.h"
#include "buf.h"
#include "conf.h"
#include "lag.h"
#include "log.h"

/* Bound on each admin request and on each round's broker requests. */
#define BENCH_TIMEOUT_MS 30000

/* What the run works on. */
typedef struct bench_lag {
	const char *bootstrap;  /* $KAFKA_BOOTSTRAP_SERVERS */
	char topic[128];        /* the bench's topic */
	char group[160];        /* the bench's consumer group */
	int partitions;         /* -p */
	int messages;           /* -n, per partition */
	int64_t *committed;     /* per partition, what the group committed */
} bench_lag;

static rd_kafka_t *
bench_handle(const bench_lag *b, rd_kafka_type_t type, const char *group)
{
	rd_kafka_conf_t *conf = rd_kafka_conf_new();
	char errstr[512];
	rd_kafka_t *rk;

	if (rd_kafka_conf_set(conf, "bootstrap.servers", b->bootstrap, errstr, sizeof(errstr)) !=
	    RD_KAFKA_CONF_OK || (group != NULL && rd_kafka_conf_set(conf, "group.id", group, errstr,
	    sizeof(errstr)) != RD_KAFKA_CONF_OK) || (type == RD_KAFKA_PRODUCER &&
	    rd_kafka_conf_set(conf, "linger.ms", "20", errstr, sizeof(errstr)) != RD_KAFKA_CONF_OK)) {
		fprintf(stderr, "bench_lag: %s\n", errstr);
		rd_kafka_conf_destroy(conf);
		return NULL;
	}
	rk = rd_kafka_new(type, conf, errstr, sizeof(errstr));
	if (rk == NULL) {
		fprintf(stderr, "bench_lag: could not create a Kafka client: %s\n", errstr);
		rd_kafka_conf_destroy(conf);
	}
	return rk;
}

/* Waits for the admin answer on @p q; @returns its error (of the one topic or group). */
static rd_kafka_resp_err_t
bench_admin_wait(rd_kafka_queue_t *q, char *why, size_t whysz)
{
	const rd_kafka_topic_result_t **tres;
	rd_kafka_event_t *ev = rd_kafka_queue_poll(q, BENCH_TIMEOUT_MS + 5000);
	rd_kafka_resp_err_t err;
	size_t n = 0;

	if (ev == NULL) {
		snprintf(why, whysz, "no answer");
		return RD_KAFKA_RESP_ERR__TIMED_OUT;
	}
	err = rd_kafka_event_error(ev);
	snprintf(why, whysz, "%s", err ? rd_kafka_event_error_string(ev) : "");
	if (err == RD_KAFKA_RESP_ERR_NO_ERROR &&
	    rd_kafka_event_type(ev) == RD_KAFKA_EVENT_CREATETOPICS_RESULT) {
		tres = rd_kafka_CreateTopics_result_topics(rd_kafka_event_CreateTopics_result(ev), &n);
		if (n == 1 && rd_kafka_topic_result_error(tres[0]) != RD_KAFKA_RESP_ERR_NO_ERROR) {
			err = rd_kafka_topic_result_error(tres[0]);
			snprintf(why, whysz, "%s", rd_kafka_topic_result_error_string(tres[0]));
		}
	}
	rd_kafka_event_destroy(ev);
	return err;
}

static int
bench_create_topic(const bench_lag *b, rd_kafka_t *rk)
{
	rd_kafka_queue_t *q = rd_kafka_queue_new(rk);
	rd_kafka_NewTopic_t *nt;
	char why[512];
	rd_kafka_resp_err_t err;

	nt = rd_kafka_NewTopic_new(b->topic, b->partitions, 1, why, sizeof(why));
	if (nt == NULL) {
		fprintf(stderr, "bench_lag: %s\n", why);
		rd_kafka_queue_destroy(q);
		return -1;
	}
	rd_kafka_CreateTopics(rk, &nt, 1, NULL, q);
	rd_kafka_NewTopic_destroy(nt);
	err = bench_admin_wait(q, why, sizeof(why));
	rd_kafka_queue_destroy(q);
	if (err != RD_KAFKA_RESP_ERR_NO_ERROR) {
		fprintf(stderr, "bench_lag: could not create topic \"%s\": %s\n", b->topic, why);
		return -1;
	}
	return 0;
}

static void
bench_cleanup(const bench_lag *b, rd_kafka_t *rk)
{
	rd_kafka_queue_t *q = rd_kafka_queue_new(rk);
	rd_kafka_DeleteTopic_t *dt = rd_kafka_DeleteTopic_new(b->topic);
	rd_kafka_DeleteGroup_t *dg = rd_kafka_DeleteGroup_new(b->group);
	char why[512];

	rd_kafka_DeleteGroups(rk, &dg, 1, NULL, q);
	if (bench_admin_wait(q, why, sizeof(why)) != RD_KAFKA_RESP_ERR_NO_ERROR)
		fprintf(stderr, "bench_lag: could not delete group \"%s\": %s\n", b->group, why);
	rd_kafka_DeleteTopics(rk, &dt, 1, NULL, q);
	if (bench_admin_wait(q, why, sizeof(why)) != RD_KAFKA_RESP_ERR_NO_ERROR)
		fprintf(stderr, "bench_lag: could not delete topic \"%s\": %s\n", b->topic, why);
	rd_kafka_DeleteGroup_destroy(dg);
	rd_kafka_DeleteTopic_destroy(dt);
	rd_kafka_queue_destroy(q);
}

/* Produces b->messages to every partition; @returns 0 once all are acknowledged. */
static int
bench_produce(const bench_lag *b, rd_kafka_t *rk)
{
	rd_kafka_resp_err_t err;
	int p, i;

	for (p = 0; p < b->partitions; p++) {
		for (i = 0; i < b->messages; i++) {
			do {
				err = rd_kafka_producev(rk, RD_KAFKA_V_TOPIC(b->topic),
				    RD_KAFKA_V_PARTITION(p), RD_KAFKA_V_VALUE("lag-bench", 9),
				    RD_KAFKA_V_MSGFLAGS(RD_KAFKA_MSG_F_COPY), RD_KAFKA_V_END);
				if (err == RD_KAFKA_RESP_ERR__QUEUE_FULL)
					rd_kafka_poll(rk, 100);
			} while (err == RD_KAFKA_RESP_ERR__QUEUE_FULL);
			if (err != RD_KAFKA_RESP_ERR_NO_ERROR) {
				fprintf(stderr, "bench_lag: could not produce: %s\n", rd_kafka_err2str(err));
				return -1;
			}
		}
	}
	if (rd_kafka_flush(rk, BENCH_TIMEOUT_MS) != RD_KAFKA_RESP_ERR_NO_ERROR) {
		fprintf(stderr, "bench_lag: messages left unacknowledged\n");
		return -1;
	}
	return 0;
}

/* Commits b->committed[first .. first + n) for the group, each partition modulo P. */
static int
bench_commit(const bench_lag *b, rd_kafka_t *rk, int first, int n)
{
	rd_kafka_topic_partition_list_t *parts = rd_kafka_topic_partition_list_new(n);
	rd_kafka_resp_err_t err;
	int i, p;

	for (i = 0; i < n; i++) {
		p = (first + i) % b->partitions;
		rd_kafka_topic_partition_list_add(parts, b->topic, p)->offset = b->committed[p];
	}
	err = rd_kafka_commit(rk, parts, 0);
	rd_kafka_topic_partition_list_destroy(parts);
	if (err != RD_KAFKA_RESP_ERR_NO_ERROR) {
		fprintf(stderr, "bench_lag: could not commit: %s\n", rd_kafka_err2str(err));
		return -1;
	}
	return 0;
}

/* Checks the bench group's figures; @returns 0 when they are the expected ones. */
static int
bench_check(const bench_lag *b, const il_lag_snapshot *s)
{
	const il_lag_group *g = NULL;
	int64_t want = 0;
	size_t i;
	int p;

	for (i = 0; i < s->ngroups; i++)
		if (strcmp(s->groups[i].group, b->group) == 0)
			g = &s->groups[i];
	for (p = 0; p < b->partitions; p++)
		want += b->messages - b->committed[p];
	if (g == NULL || g->nparts != (size_t)b->partitions || g->sum_lag != want) {
		fprintf(stderr, "bench_lag: wrong figures: %zu partitions, sum of lag %" PRId64
		    ", expected %d and %" PRId64 "\n", g != NULL ? g->nparts : 0,
		    g != NULL ? g->sum_lag : -1, b->partitions, want);
		return -1;
	}
	for (i = 0; i < g->nparts; i++) {
		if (s->parts[g->first + i].lag_seconds < 0) {
			fprintf(stderr, "bench_lag: no lag in seconds for partition %" PRId32 "\n",
			    s->parts[g->first + i].partition);
			return -1;
		}
	}
	return 0;
}

/* @returns the whole of @p s as an int in [@p min, @p max], or exits with the usage. */
static int
bench_int(const char *s, int min, int max, const char *argv0)
{
	char *end;
	long v;

	errno = 0;
	v = strtol(s, &end, 10);
	if (errno != 0 || end == s || *end != '\0' || v < min || v > max) {
		fprintf(stderr, "bench_lag: \"%s\" is not a number from %d to %d\n", s, min, max);
		fprintf(stderr, "usage: %s [-p PARTITIONS] [-n MESSAGES] [-r ROUNDS] [-c CHURN] [-d]\n",
		    argv0);
		exit(2);
	}
	return (int)v;
}

static void
usage(const char *argv0)
{
	fprintf(stderr, "usage: %s [-p PARTITIONS] [-n MESSAGES] [-r ROUNDS] [-c CHURN] [-d]\n", argv0);
	exit(2);
}

int
main(int argc, char **argv)
{
	bench_lag b;
	il_conf *conf = NULL;
	il_lag *lag = NULL;
	rd_kafka_t *prod = NULL, *committer = NULL;
	char errbuf[512], name[64];
	double t0, first_s, steady_s = 0;
	int rounds = 5, churn = 100, discover = 0, opt, r, rc = 1;

	memset(&b, 0, sizeof(b));
	b.partitions = 1000;
	b.messages = 10;
	bench_init(argc, argv);
	while ((opt = getopt(argc, argv, "p:n:r:c:d")) != -1) {
		switch (opt) {
		case 'p':
			b.partitions = bench_int(optarg, 1, 100000, argv[0]);
			break;
		case 'n':
			b.messages = bench_int(optarg, 2, 1000000, argv[0]);
			break;
		case 'r':
			rounds = bench_int(optarg, 1, 1000, argv[0]);
			break;
		case 'c':
			churn = bench_int(optarg, 0, 100000, argv[0]);
			break;
		case 'd':
			discover = 1;
			break;
		default:
			usage(argv[0]);
		}
	}
	if (optind != argc)
		usage(argv[0]);
	il_log_init("bench_lag", IL_LOG_WARN, NULL);
	b.bootstrap = getenv("KAFKA_BOOTSTRAP_SERVERS");
	if (b.bootstrap == NULL || b.bootstrap[0] == '\0') {
		fprintf(stderr, "bench_lag: KAFKA_BOOTSTRAP_SERVERS is not set\n");
		return 1;
	}
	snprintf(b.topic, sizeof(b.topic), "bench-lag-%ld-%lld", (long)getpid(), (long long)time(NULL));
	snprintf(b.group, sizeof(b.group), "%s-group", b.topic);
	b.committed = calloc((size_t)b.partitions, sizeof(*b.committed));
	prod = bench_handle(&b, RD_KAFKA_PRODUCER, NULL);
	committer = bench_handle(&b, RD_KAFKA_CONSUMER, b.group);
	if (b.committed == NULL || prod == NULL || committer == NULL)
		goto out;
	if (bench_create_topic(&b, prod) != 0)
		goto out;
	if (bench_produce(&b, prod) != 0)
		goto cleanup;
	for (r = 0; r < b.partitions; r++)
		b.committed[r] = b.messages / 2;
	if (bench_commit(&b, committer, 0, b.partitions) != 0)
		goto cleanup;

	conf = il_conf_new();
	if (il_conf_load_env(conf, errbuf, sizeof(errbuf)) != IL_OK ||
	    (!discover && il_conf_set(conf, "lag.groups", b.group, NULL, errbuf,
	    sizeof(errbuf)) != IL_OK)) {
		fprintf(stderr, "bench_lag: configuration: %s\n", errbuf);
		goto cleanup;
	}
	lag = il_lag_new(conf, errbuf, sizeof(errbuf));
	if (lag == NULL) {
		fprintf(stderr, "bench_lag: %s\n", errbuf);
		goto cleanup;
	}
	t0 = bench_now();
	if (il_lag_evaluate(lag, BENCH_TIMEOUT_MS, errbuf, sizeof(errbuf)) != IL_OK) {
		fprintf(stderr, "bench_lag: first round: %s\n", errbuf);
		goto cleanup;
	}
	first_s = bench_now() - t0;
	if (bench_check(&b, il_lag_get_snapshot(lag)) != 0)
		goto cleanup;
	for (r = 0; r < rounds; r++) {
		/* A live consumer: one more message on CHURN partitions, no
		 * sooner than Burrow's min-distance after the last commit. */
		usleep(1000 * 1000);
		for (int i = 0; i < churn; i++) {
			int p = (r * churn + i) % b.partitions;

			if (b.committed[p] < b.messages - 1)
				b.committed[p]++;
		}
		if (churn > 0 && bench_commit(&b, committer, (r * churn) % b.partitions,
		    churn < b.partitions ? churn : b.partitions) != 0)
			goto cleanup;
		t0 = bench_now();
		if (il_lag_evaluate(lag, BENCH_TIMEOUT_MS, errbuf, sizeof(errbuf)) != IL_OK) {
			fprintf(stderr, "bench_lag: round %d: %s\n", r + 2, errbuf);
			goto cleanup;
		}
		steady_s += bench_now() - t0;
		if (bench_check(&b, il_lag_get_snapshot(lag)) != 0)
			goto cleanup;
	}
	steady_s /= rounds;
	snprintf(name, sizeof(name), "lag_eval_%d_first_s", b.partitions);
	bench_report(name, first_s, "s", "");
	snprintf(name, sizeof(name), "lag_eval_%d_s", b.partitions);
	bench_report(name, steady_s, "s", b.partitions == 1000 ? "< 1" : "");
	bench_report("lag_peak_rss_mb", bench_peak_rss_mb(), "MiB", "");
	rc = 0;
cleanup:
	il_lag_destroy(lag);
	bench_cleanup(&b, prod);
out:
	il_conf_destroy(conf);
	if (committer != NULL) {
		rd_kafka_consumer_close(committer);
		rd_kafka_destroy(committer);
	}
	if (prod != NULL)
		rd_kafka_destroy(prod);
	free(b.committed);
	return rc;
}
