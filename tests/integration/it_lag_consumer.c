/*
 * it_lag_consumer.c - a producer and a consumer the lag test steers, so a
 * consumer group can be made to keep up, stall, stop and recover on demand
 * (tests/integration/0230-lag.sh).
 *
 *	it_lag_consumer produce -t TOPIC [-r RATE] [-b BURST_MS] [-n PER_PARTITION]
 *	it_lag_consumer commit -t TOPIC -G GROUP PARTITION=OFFSET...
 *	it_lag_consumer consume -t TOPIC -G GROUP -c CONTROL [-i COMMIT_MS]
 *
 * produce: writes small messages round-robin over every partition, RATE a
 * second in all (0: as fast as possible), in one burst every BURST_MS when
 * given (else evenly), until PER_PARTITION each were acknowledged or until
 * SIGTERM.
 * commit: commits the given offsets for GROUP without joining it (the group
 * must have no members), as `kafka-consumer-groups --reset-offsets` does.
 * consume: joins GROUP and obeys the one line of the file CONTROL, read
 * again every 50 ms:
 *	run [RATE]   consume (at most RATE messages a second in all, shared
 *	             evenly by the partitions) and commit every COMMIT_MS
 *	             (give or take a quarter, at random: a commit timer in step
 *	             with the monitor's rounds would see the same lag each time)
 *	stall        consume nothing, keep committing the same offsets
 *	stop         consume nothing, commit nothing
 *	exit         commit and leave
 * Each change of mode is logged ("mode", with the offsets).  Broker settings
 * come from the environment (KAFKA_BOOTSTRAP_SERVERS) as in every program.
 */
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <librdkafka/rdkafka.h>

#include "cli.h"
#include "conf.h"
#include "kafka.h"
#include "log.h"
#include "sig.h"
#include "timers.h"
#include "xalloc.h"

#define LC_NAME "it_lag_consumer"
#define LC_MAX_PARTS 256
#define LC_CONTROL_MS 50

/* What the consumer does now, from the control file. */
enum lc_mode {
	LC_RUN,
	LC_STALL,
	LC_STOP,
	LC_EXIT,
};

static const char *const mode_names[] = { "run", "stall", "stop", "exit" };

/* One partition of the consumer. */
struct lc_part {
	bool assigned;          /* ours now */
	bool paused;            /* paused by us (budget or mode) */
	int64_t pos;            /* next offset to consume; -1 before the first message */
	double taken;           /* messages consumed in this run phase */
};

struct lc {
	const char *topic;
	const char *group;
	const char *control;    /* -c */
	long long commit_ms;    /* -i */
	il_consumer *c;
	struct lc_part parts[LC_MAX_PARTS];
	enum lc_mode mode;
	double rate;            /* run: messages a second in all, 0 unlimited */
	long long phase_ms;     /* when the current run phase began */
	long long consumed;     /* messages consumed in all */
	char line[128];         /* the control line in effect */
	uint64_t rng;           /* state of the commit timer's jitter */
};

/* @returns the next commit interval: commit_ms give or take a quarter (xorshift). */
static long long
commit_interval(struct lc *lc)
{
	lc->rng ^= lc->rng << 13;
	lc->rng ^= lc->rng >> 7;
	lc->rng ^= lc->rng << 17;
	return lc->commit_ms * 3 / 4 + (long long)(lc->rng % (uint64_t)(lc->commit_ms / 2 + 1));
}

static il_conf *
load_conf(void)
{
	il_conf *conf = il_conf_new();
	char errbuf[512];

	if (il_conf_load_env(conf, errbuf, sizeof(errbuf)) != IL_OK)
		il_cli_fatal("%s", errbuf);
	return conf;
}

/* @returns the partition count of @p topic, exiting when it does not exist. */
static int
topic_partitions(rd_kafka_t *rk, const char *topic)
{
	const struct rd_kafka_metadata *md = NULL;
	rd_kafka_topic_t *rkt = rd_kafka_topic_new(rk, topic, NULL);
	rd_kafka_resp_err_t rerr;
	int n = -1;

	rerr = rd_kafka_metadata(rk, 0, rkt, &md, 10000);
	if (rerr == RD_KAFKA_RESP_ERR_NO_ERROR && md->topic_cnt == 1 && md->topics[0].err == 0)
		n = md->topics[0].partition_cnt;
	else if (rerr == RD_KAFKA_RESP_ERR_NO_ERROR && md->topic_cnt == 1)
		rerr = md->topics[0].err;
	if (md != NULL)
		rd_kafka_metadata_destroy(md);
	rd_kafka_topic_destroy(rkt);
	if (n <= 0 || n > LC_MAX_PARTS)
		il_cli_fatal("could not use topic \"%s\": %s", topic,
		    n > LC_MAX_PARTS ? "too many partitions" : rd_kafka_err2str(rerr));
	return n;
}

/* Delivery reports of produce. */
struct lc_produced {
	long long ok;
	long long failed;
};

static void
on_delivery(void *msg_opaque, il_err err, const char *errstr, const char *topic,
    int32_t partition, int64_t offset, void *cb_ctx)
{
	struct lc_produced *n = cb_ctx;

	(void)msg_opaque;
	(void)offset;
	if (err == IL_OK) {
		n->ok++;
		return;
	}
	n->failed++;
	il_log_error("delivery failed", IL_STR("topic", topic), IL_INT("partition", partition),
	    IL_STR("reason", errstr));
}

static int
cmd_produce(const char *topic, double rate, long long burst_ms, long long per_part)
{
	struct lc_produced n = { 0, 0 };
	il_conf *conf = load_conf();
	il_producer *p;
	char errbuf[512], value[64];
	long long sent = 0, start, limit;
	int nparts, rc = 0;
	il_err err;

	p = il_producer_new(conf, on_delivery, &n, errbuf, sizeof(errbuf));
	if (p == NULL)
		il_cli_fatal("%s", errbuf);
	nparts = topic_partitions(il_producer_handle(p), topic);
	limit = per_part > 0 ? per_part * nparts : -1;
	start = il_timers_now_ms();
	while (!il_sig_stop_requested() && (limit < 0 || sent < limit)) {
		long long elapsed = il_timers_now_ms() - start;
		double due;

		/* In bursts, what is due counts from the start of the burst. */
		if (burst_ms > 0)
			elapsed -= elapsed % burst_ms;
		due = rate > 0 ? rate * (double)elapsed / 1000.0 : (double)sent + 1;

		if ((double)sent >= due) {
			il_producer_poll(p, 5);
			continue;
		}
		snprintf(value, sizeof(value), "lag-test-%lld", sent);
		err = il_producer_send(p, topic, (int32_t)(sent % nparts), NULL, 0, value, strlen(value),
		    NULL, 0, NULL, 1000);
		if (err == IL_ERR_TIMEOUT)
			continue;
		if (err != IL_OK) {
			il_log_error("could not produce", IL_STR("topic", topic), IL_STR("error", il_err_str(err)));
			rc = 1;
			break;
		}
		sent++;
		il_producer_poll(p, 0);
	}
	if (il_producer_flush(p, 30000) != IL_OK)
		rc = 1;
	il_producer_destroy(p);
	if (n.failed > 0 || n.ok != sent)
		rc = 1;
	printf("{\"sent\":%lld,\"acknowledged\":%lld,\"failed\":%lld}\n", sent, n.ok, n.failed);
	il_conf_destroy(conf);
	return rc;
}

static int
cmd_commit(const char *topic, const char *group, int argc, char **argv)
{
	il_conf *conf = load_conf();
	il_consumer *c;
	char errbuf[512], *eq;
	long long part, off;
	int i, rc = 0;

	c = il_consumer_new(conf, group, NULL, NULL, errbuf, sizeof(errbuf));
	if (c == NULL)
		il_cli_fatal("%s", errbuf);
	for (i = 0; i < argc; i++) {
		eq = strchr(argv[i], '=');
		if (eq == NULL)
			il_cli_bad_usage(LC_NAME, "expected PARTITION=OFFSET", argv[i]);
		*eq = '\0';
		if (!il_cli_parse_int(argv[i], 0, INT32_MAX, &part) ||
		    !il_cli_parse_int(eq + 1, 0, INT64_MAX, &off))
			il_cli_bad_usage(LC_NAME, "expected PARTITION=OFFSET", eq + 1);
		if (il_consumer_commit(c, topic, (int32_t)part, off, false, errbuf, sizeof(errbuf)) != IL_OK) {
			il_log_error("could not commit", IL_STR("reason", errbuf));
			rc = 1;
		}
	}
	il_consumer_destroy(c);
	il_conf_destroy(conf);
	return rc;
}

static void
set_paused(struct lc *lc, int32_t p, bool paused)
{
	il_err err;

	if (!lc->parts[p].assigned || lc->parts[p].paused == paused)
		return;
	err = paused ? il_consumer_pause(lc->c, lc->topic, p) : il_consumer_resume(lc->c, lc->topic, p);
	if (err == IL_OK)
		lc->parts[p].paused = paused;
}

static void
commit_all(struct lc *lc, bool sync)
{
	char errbuf[512];
	int i;

	for (i = 0; i < LC_MAX_PARTS; i++) {
		if (!lc->parts[i].assigned || lc->parts[i].pos < 0)
			continue;
		if (il_consumer_commit(lc->c, lc->topic, i, lc->parts[i].pos, !sync, errbuf,
		    sizeof(errbuf)) != IL_OK)
			il_log_warn("could not commit", IL_STR("reason", errbuf));
	}
}

static void
on_rebalance(il_consumer *c, bool assigned, const rd_kafka_topic_partition_list_t *parts, void *ctx)
{
	struct lc *lc = ctx;
	int i;
	int32_t p;

	(void)c;
	for (i = 0; i < parts->cnt; i++) {
		p = parts->elems[i].partition;
		if (strcmp(parts->elems[i].topic, lc->topic) != 0 || p < 0 || p >= LC_MAX_PARTS)
			continue;
		if (!assigned) {
			commit_all(lc, true);
			lc->parts[p].assigned = false;
			continue;
		}
		lc->parts[p].assigned = true;
		lc->parts[p].paused = false;
		lc->parts[p].pos = -1;
		lc->parts[p].taken = 0;
		if (lc->mode != LC_RUN)
			set_paused(lc, p, true);
	}
}

/* Reads the control file; a change of mode starts a new phase. */
static void
read_control(struct lc *lc)
{
	char line[128] = "", *arg;
	long long rate = 0;
	FILE *f = fopen(lc->control, "r");
	enum lc_mode mode;
	int i;

	if (f == NULL)
		return;
	if (fgets(line, sizeof(line), f) == NULL)
		line[0] = '\0';
	fclose(f);
	line[strcspn(line, "\r\n")] = '\0';
	if (line[0] == '\0' || strcmp(line, lc->line) == 0)
		return;
	/* "run", "run RATE", "stall", "stop" or "exit" */
	arg = strchr(line, ' ');
	if (arg != NULL && !il_cli_parse_int(arg + 1, 0, 1000000, &rate))
		return;
	if (arg != NULL)
		*arg = '\0';
	if (strcmp(line, "run") == 0)
		mode = LC_RUN;
	else if (strcmp(line, "stall") == 0)
		mode = LC_STALL;
	else if (strcmp(line, "stop") == 0)
		mode = LC_STOP;
	else if (strcmp(line, "exit") == 0)
		mode = LC_EXIT;
	else
		return;
	if (arg != NULL)
		*arg = ' ';
	snprintf(lc->line, sizeof(lc->line), "%s", line);
	lc->mode = mode;
	lc->rate = mode == LC_RUN ? (double)rate : 0;
	lc->phase_ms = il_timers_now_ms();
	for (i = 0; i < LC_MAX_PARTS; i++) {
		lc->parts[i].taken = 0;
		set_paused(lc, i, mode != LC_RUN);
		if (lc->parts[i].assigned)
			il_log_info("mode", IL_STR("mode", mode_names[mode]), IL_DBL("rate", lc->rate),
			    IL_INT("partition", i), IL_INT("offset", lc->parts[i].pos));
	}
}

/* In a rate-limited run, each partition may take its share of the messages
 * due so far: one is paused once it has, and resumed when more are due, so
 * every partition moves at the same pace whatever order fetches come in. */
static void
apply_budget(struct lc *lc)
{
	double due;
	int i, assigned = 0;

	if (lc->mode != LC_RUN)
		return;
	for (i = 0; i < LC_MAX_PARTS; i++)
		assigned += lc->parts[i].assigned;
	if (assigned == 0)
		return;
	due = lc->rate / assigned * (double)(il_timers_now_ms() - lc->phase_ms) / 1000.0;
	for (i = 0; i < LC_MAX_PARTS; i++)
		set_paused(lc, i, lc->rate > 0 && lc->parts[i].taken >= due);
}

static void
take(struct lc *lc, const rd_kafka_message_t *rkm)
{
	struct lc_part *pt;

	if (rkm->partition < 0 || rkm->partition >= LC_MAX_PARTS)
		return;
	pt = &lc->parts[rkm->partition];
	/* A paused mode, or a repeat after a pause (librdkafka 2.0.2 may fetch
	 * again from an earlier position): not consumed. */
	if (lc->mode != LC_RUN || (pt->pos >= 0 && rkm->offset < pt->pos))
		return;
	pt->pos = rkm->offset + 1;
	pt->taken += 1;
	lc->consumed++;
}

static int
cmd_consume(struct lc *lc)
{
	il_conf *conf = load_conf();
	const char *topics[1] = { lc->topic };
	rd_kafka_message_t *rkm;
	long long next_control = 0, next_commit, now;
	char errbuf[512];
	int i;

	lc->c = il_consumer_new(conf, lc->group, on_rebalance, lc, errbuf, sizeof(errbuf));
	if (lc->c == NULL)
		il_cli_fatal("%s", errbuf);
	if (il_consumer_subscribe(lc->c, topics, 1, errbuf, sizeof(errbuf)) != IL_OK)
		il_cli_fatal("%s", errbuf);
	lc->rng = (uint64_t)il_timers_now_ms() * 2654435761u + (uint64_t)getpid() + 1;
	next_commit = il_timers_now_ms() + commit_interval(lc);
	while (!il_sig_stop_requested() && lc->mode != LC_EXIT) {
		now = il_timers_now_ms();
		if (now >= next_control) {
			read_control(lc);
			next_control = now + LC_CONTROL_MS;
		}
		apply_budget(lc);
		if (now >= next_commit) {
			if (lc->mode == LC_RUN || lc->mode == LC_STALL)
				commit_all(lc, false);
			next_commit = now + commit_interval(lc);
		}
		rkm = il_consumer_poll(lc->c, 10);
		if (rkm == NULL)
			continue;
		if (rkm->err == RD_KAFKA_RESP_ERR_NO_ERROR)
			take(lc, rkm);
		else if (rkm->err != RD_KAFKA_RESP_ERR__PARTITION_EOF)
			il_log_warn("consumer error", IL_STR("reason", rd_kafka_message_errstr(rkm)));
		rd_kafka_message_destroy(rkm);
	}
	if (lc->mode == LC_RUN || lc->mode == LC_EXIT)
		commit_all(lc, true);
	printf("{\"consumed\":%lld,\"positions\":{", lc->consumed);
	for (i = 0; i < LC_MAX_PARTS; i++)
		if (lc->parts[i].assigned || lc->parts[i].pos >= 0)
			printf("%s\"%d\":%lld", i > 0 ? "," : "", i, (long long)lc->parts[i].pos);
	printf("}}\n");
	il_consumer_destroy(lc->c);
	il_conf_destroy(conf);
	return 0;
}

__attribute__((noreturn))
static void
usage(void)
{
	fprintf(stderr, "usage: %s produce -t TOPIC [-r RATE] [-b BURST_MS] [-n PER_PARTITION]\n"
	    "       %s commit -t TOPIC -G GROUP PARTITION=OFFSET...\n"
	    "       %s consume -t TOPIC -G GROUP -c CONTROL [-i COMMIT_MS]\n",
	    LC_NAME, LC_NAME, LC_NAME);
	exit(1);
}

int
main(int argc, char **argv)
{
	struct lc lc = { .commit_ms = 1000, .mode = LC_STOP };
	const char *cmd;
	double rate = 0;
	long long per_part = 0, burst_ms = 0, n;
	int c, i;

	il_log_init(LC_NAME, IL_LOG_INFO, NULL);
	if (argc < 2)
		usage();
	cmd = argv[1];
	optind = 2;
	while ((c = getopt(argc, argv, "t:G:c:i:r:b:n:")) != -1) {
		switch (c) {
		case 't':
			lc.topic = optarg;
			break;
		case 'G':
			lc.group = optarg;
			break;
		case 'c':
			lc.control = optarg;
			break;
		case 'i':
			if (!il_cli_parse_int(optarg, 10, 600000, &lc.commit_ms))
				usage();
			break;
		case 'r':
			if (!il_cli_parse_int(optarg, 0, 1000000, &n))
				usage();
			rate = (double)n;
			break;
		case 'b':
			if (!il_cli_parse_int(optarg, 1, 600000, &burst_ms))
				usage();
			break;
		case 'n':
			if (!il_cli_parse_int(optarg, 1, INT32_MAX, &per_part))
				usage();
			break;
		default:
			usage();
		}
	}
	if (lc.topic == NULL)
		usage();
	for (i = 0; i < LC_MAX_PARTS; i++)
		lc.parts[i].pos = -1;
	il_sig_install();
	if (strcmp(cmd, "produce") == 0)
		return cmd_produce(lc.topic, rate, burst_ms, per_part);
	if (strcmp(cmd, "commit") == 0 && lc.group != NULL)
		return cmd_commit(lc.topic, lc.group, argc - optind, argv + optind);
	if (strcmp(cmd, "consume") == 0 && lc.group != NULL && lc.control != NULL)
		return cmd_consume(&lc);
	usage();
}
