/*
 * it_kafka_group.c - il_producer and il_consumer against a real broker.
 *
 * Produces 10,000 events (500 keys, 20 each) into a new 6-partition topic and
 * counts the delivery reports, then consumes them with a group of two
 * consumers on two threads.  The second joins while the first holds its
 * partitions half-read (paused), so a real rebalance moves unread partitions
 * from one member to the other.  Both commit synchronously as they go and in
 * the revocation callback.  Checks: each key's events arrive in order, every
 * event is handled exactly once, and the committed offsets equal the high
 * watermarks.  Then the rest of common/kafka.c: reading without a group,
 * pause and resume (also when librdkafka refuses them), -X properties
 * refused (by librdkafka, or because they would weaken the guarantees),
 * fatal errors, a full queue, and librdkafka's log lines.  Last, with the
 * eager assignors, closing consumers during a rebalance the coordinator
 * holds, and ones that stopped polling, stays within its bound.
 *
 * usage: it_kafka_group TOPIC GROUP [PARTITION.ASSIGNMENT.STRATEGY]
 * Prints one "PASS name" or "FAIL name: reason" line per check; exits 1 when
 * any check failed.  Needs KAFKA_BOOTSTRAP_SERVERS.
 */
#include <dlfcn.h>
#include <inttypes.h>
#include <pthread.h>
#include <stdarg.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "conf.h"
#include "kafka.h"
#include "log.h"
#include "timers.h"
#include "../unit/testutil.h"

#define NKEYS 500               /* distinct keys */
#define NSEQ 20                 /* events per key */
#define NEVENTS (NKEYS * NSEQ)  /* events in all */
#define NPARTS 6                /* partitions of the topic */
#define HOLD_AFTER 1000         /* events the first consumer reads before the second joins */
#define COMMIT_EVERY 100        /* handled events per partition between commits */
#define RUN_LIMIT_MS 120000     /* the whole program gives up after this */
#define QUERY_MS 10000          /* bound of each admin or offset query */
#define HELD_REBALANCE_MS "180000" /* rebalance timeout of the held group */
#define HELD_CLOSE_LIMIT_MS 60000 /* a close that waited for it took longer */

/* Delivery report tally. */
struct produce_state {
	int ok;                 /* reports that said success */
	int failed;             /* reports that said failure */
	char first_error[256];  /* reason of the first failure */
	int partition_of[NKEYS]; /* partition each key went to; -1 unseen */
	int key_moved;          /* keys reported in two partitions */
	int64_t deadline;       /* monotonic ms when the program gives up */
};

/* What the two consumers share; guarded by lock. */
struct shared {
	pthread_mutex_t lock;
	pthread_cond_t cond;            /* signalled when a flag below changes */
	const char *topic;              /* topic consumed */
	int next_seq[NKEYS];            /* next sequence number expected per key */
	unsigned char seen[NKEYS][NSEQ]; /* times each event was handled */
	int total;                      /* events handled by both */
	int order_errors;               /* events out of order or repeated */
	int bad_events;                 /* events whose bytes do not parse */
	char first_error[256];          /* the first problem, for the FAIL line */
	bool a_holding;                 /* the first consumer paused, waiting */
	bool b_assigned;                /* the second consumer got partitions */
	int64_t deadline;               /* monotonic ms when everything gives up */
};

/* One member of the group. */
struct member {
	struct shared *sh;              /* shared tally */
	const il_conf *conf;            /* consumer configuration */
	const char *group;              /* group id */
	const char *name;               /* "a" or "b", for messages */
	bool is_first;                  /* the member that holds until the other joins */
	il_consumer *c;                 /* its consumer */
	int64_t next_offset[NPARTS];    /* offset after the last handled event */
	int pending[NPARTS];            /* handled but not yet committed */
	int handled;                    /* events it handled */
	int assigned;                   /* assignment callbacks with partitions */
	int revoked;                    /* revocation callbacks with partitions */
	int commit_errors;              /* commits that failed */
	char commit_error[256];         /* the first failure */
	bool setup_failed;              /* could not create or subscribe */
	char setup_error[256];          /* why */
};

static int failures;

/*
 * Fault injection for check_pause_refused(): librdkafka 2.0.2 refuses to
 * pause or resume only a partition of a topic it does not know, which a
 * paused partition's topic always is, so a refusal cannot be had from the
 * broker.  These definitions take the place of librdkafka's for common/kafka.c
 * (linked into this program), count the calls that reach librdkafka, and
 * make the next inject_failures calls fail as an unknown partition would.
 * Set only while no other thread uses a consumer.
 */
static atomic_int inject_failures;      /* calls left to refuse */
static atomic_int real_pauses;          /* rd_kafka_pause_partitions() calls passed on */
static atomic_int real_resumes;         /* rd_kafka_resume_partitions() calls passed on */

typedef rd_kafka_resp_err_t (pause_resume_fn)(rd_kafka_t *, rd_kafka_topic_partition_list_t *);

static rd_kafka_resp_err_t
pass_on(const char *name, atomic_int *calls, rd_kafka_t *rk, rd_kafka_topic_partition_list_t *parts)
{
	pause_resume_fn *real;
	int i;

	if (atomic_load(&inject_failures) > 0) {
		atomic_fetch_sub(&inject_failures, 1);
		for (i = 0; i < parts->cnt; i++)
			parts->elems[i].err = RD_KAFKA_RESP_ERR__UNKNOWN_PARTITION;
		return RD_KAFKA_RESP_ERR_NO_ERROR;
	}
	/* POSIX's way to turn dlsym()'s answer into a function pointer. */
	*(void **)&real = dlsym(RTLD_NEXT, name);
	if (real == NULL)
		abort();
	atomic_fetch_add(calls, 1);
	return real(rk, parts);
}

rd_kafka_resp_err_t
rd_kafka_pause_partitions(rd_kafka_t *rk, rd_kafka_topic_partition_list_t *partitions)
{
	return pass_on("rd_kafka_pause_partitions", &real_pauses, rk, partitions);
}

rd_kafka_resp_err_t
rd_kafka_resume_partitions(rd_kafka_t *rk, rd_kafka_topic_partition_list_t *partitions)
{
	return pass_on("rd_kafka_resume_partitions", &real_resumes, rk, partitions);
}

static il_conf *make_conf(const char *strategy);

static void
check(bool ok, const char *name, const char *fmt, ...)
{
	va_list ap;

	if (ok) {
		printf("PASS %s\n", name);
	} else {
		printf("FAIL %s: ", name);
		va_start(ap, fmt);
		vprintf(fmt, ap);
		va_end(ap);
		printf("\n");
		failures++;
	}
	fflush(stdout);
}

/* Creates @p topic with NPARTS partitions and waits until every one has a leader. */
static bool
create_topic(rd_kafka_t *rk, const char *topic, char *why, size_t whysz)
{
	rd_kafka_NewTopic_t *nt;
	rd_kafka_AdminOptions_t *opts;
	rd_kafka_queue_t *q;
	rd_kafka_event_t *ev;
	const rd_kafka_CreateTopics_result_t *res;
	const rd_kafka_topic_result_t **tres;
	const struct rd_kafka_metadata *md;
	rd_kafka_topic_t *rkt;
	char errstr[256];
	size_t cnt;
	int64_t until;
	bool ok = false;
	int i, led;

	nt = rd_kafka_NewTopic_new(topic, NPARTS, 1, errstr, sizeof(errstr));
	if (nt == NULL) {
		snprintf(why, whysz, "invalid topic \"%s\": %s", topic, errstr);
		return false;
	}
	q = rd_kafka_queue_new(rk);
	opts = rd_kafka_AdminOptions_new(rk, RD_KAFKA_ADMIN_OP_CREATETOPICS);
	rd_kafka_AdminOptions_set_operation_timeout(opts, QUERY_MS, errstr, sizeof(errstr));
	rd_kafka_CreateTopics(rk, &nt, 1, opts, q);
	ev = rd_kafka_queue_poll(q, QUERY_MS * 2);
	if (ev == NULL) {
		snprintf(why, whysz, "could not create topic \"%s\": no answer", topic);
		goto out;
	}
	if (rd_kafka_event_error(ev) != RD_KAFKA_RESP_ERR_NO_ERROR) {
		snprintf(why, whysz, "could not create topic \"%s\": %s", topic, rd_kafka_event_error_string(ev));
		goto out;
	}
	res = rd_kafka_event_CreateTopics_result(ev);
	tres = rd_kafka_CreateTopics_result_topics(res, &cnt);
	if (cnt != 1 || rd_kafka_topic_result_error(tres[0]) != RD_KAFKA_RESP_ERR_NO_ERROR) {
		snprintf(why, whysz, "could not create topic \"%s\": %s", topic,
		    cnt == 1 ? rd_kafka_topic_result_error_string(tres[0]) : "no result");
		goto out;
	}
	/* The controller answered; the partitions need leaders before producing. */
	rkt = rd_kafka_topic_new(rk, topic, NULL);
	for (until = il_timers_now_ms() + QUERY_MS * 3; !ok && il_timers_now_ms() < until;) {
		if (rd_kafka_metadata(rk, 0, rkt, &md, QUERY_MS) != RD_KAFKA_RESP_ERR_NO_ERROR)
			continue;
		led = 0;
		if (md->topic_cnt == 1 && md->topics[0].err == 0)
			for (i = 0; i < md->topics[0].partition_cnt; i++)
				led += md->topics[0].partitions[i].leader >= 0;
		ok = led == NPARTS;
		rd_kafka_metadata_destroy(md);
	}
	rd_kafka_topic_destroy(rkt);
	if (!ok)
		snprintf(why, whysz, "topic \"%s\" has no leader for all %d partitions", topic, NPARTS);
out:
	if (ev != NULL)
		rd_kafka_event_destroy(ev);
	rd_kafka_AdminOptions_destroy(opts);
	rd_kafka_NewTopic_destroy(nt);
	rd_kafka_queue_destroy(q);
	return ok;
}

static void
on_delivery(void *msg_opaque, il_err err, const char *errstr, const char *topic,
    int32_t partition, int64_t offset, void *cb_ctx)
{
	struct produce_state *ps = cb_ctx;
	int key = (int)(intptr_t)msg_opaque;

	(void)topic;
	(void)offset;
	if (err != IL_OK) {
		if (ps->failed++ == 0)
			snprintf(ps->first_error, sizeof(ps->first_error), "%s: %s", il_err_str(err), errstr);
		return;
	}
	ps->ok++;
	if (ps->partition_of[key] >= 0 && ps->partition_of[key] != partition)
		ps->key_moved++;
	ps->partition_of[key] = partition;
}

/*
 * Sends every event: for each sequence number, every key, so each partition
 * interleaves many keys.  Even keys carry headers, odd ones none, so both
 * paths of il_producer_send() are used.
 */
static void
produce_all(il_producer *p, const char *topic, struct produce_state *ps)
{
	char key[16], value[32], seqhdr[8];
	il_kafka_header hdrs[2];
	il_err err;
	int k, s, queued = 0;

	for (s = 0; s < NSEQ; s++) {
		for (k = 0; k < NKEYS; k++) {
			snprintf(key, sizeof(key), "key-%03d", k);
			snprintf(value, sizeof(value), "key-%03d %02d", k, s);
			snprintf(seqhdr, sizeof(seqhdr), "%d", s);
			hdrs[0] = (il_kafka_header){ "il-seq", seqhdr, strlen(seqhdr) };
			hdrs[1] = (il_kafka_header){ "il-empty", NULL, 0 };
			err = il_producer_send(p, topic, RD_KAFKA_PARTITION_UA, key, strlen(key),
			    value, strlen(value), k % 2 == 0 ? hdrs : NULL, k % 2 == 0 ? 2 : 0,
			    (void *)(intptr_t)k, 10000);
			if (err != IL_OK || il_timers_now_ms() >= ps->deadline) {
				check(false, "kafka-group-produce", "could not queue event %d of key %d: %s",
				    s, k, err != IL_OK ? il_err_str(err) : "out of time");
				return;
			}
			queued++;
		}
	}
	while (il_producer_outq_len(p) > 0 && il_timers_now_ms() < ps->deadline)
		il_producer_flush(p, 1000);
	check(ps->ok == NEVENTS && ps->failed == 0 && queued == NEVENTS, "kafka-group-produce",
	    "%d events queued, %d delivered, %d failed (%s), %d unreported", queued, ps->ok,
	    ps->failed, ps->first_error, il_producer_outq_len(p));
}

static void
check_spread(const struct produce_state *ps)
{
	int used[NPARTS] = { 0 };
	int k, nused = 0;

	for (k = 0; k < NKEYS; k++)
		if (ps->partition_of[k] >= 0 && ps->partition_of[k] < NPARTS)
			used[ps->partition_of[k]]++;
	for (k = 0; k < NPARTS; k++)
		nused += used[k] > 0;
	check(nused == NPARTS && ps->key_moved == 0, "kafka-group-key-partitioning",
	    "keys landed in %d of %d partitions, %d keys in more than one", nused, NPARTS, ps->key_moved);
}

/* Commits what @p m handled on @p partition, if anything; synchronous. */
static void
commit_partition(struct member *m, int32_t partition)
{
	char errbuf[256];

	if (partition < 0 || partition >= NPARTS || m->pending[partition] == 0)
		return;
	if (il_consumer_commit(m->c, m->sh->topic, partition, m->next_offset[partition], false,
	    errbuf, sizeof(errbuf)) != IL_OK) {
		if (m->commit_errors++ == 0)
			snprintf(m->commit_error, sizeof(m->commit_error), "%s", errbuf);
		return;
	}
	m->pending[partition] = 0;
}

static void
set_paused(struct member *m, bool pause)
{
	rd_kafka_topic_partition_list_t *parts = NULL;
	int i;

	if (rd_kafka_assignment(il_consumer_handle(m->c), &parts) != RD_KAFKA_RESP_ERR_NO_ERROR)
		return;
	for (i = 0; i < parts->cnt; i++) {
		if (pause)
			il_consumer_pause(m->c, parts->elems[i].topic, parts->elems[i].partition);
		else
			il_consumer_resume(m->c, parts->elems[i].topic, parts->elems[i].partition);
	}
	rd_kafka_topic_partition_list_destroy(parts);
}

static void
on_rebalance(il_consumer *c, bool assigned, const rd_kafka_topic_partition_list_t *parts, void *ctx)
{
	struct member *m = ctx;
	bool released;
	int i;

	(void)c;
	if (!assigned) {
		/* Last chance: once given up, another member starts from the commit. */
		for (i = 0; i < parts->cnt; i++)
			commit_partition(m, parts->elems[i].partition);
		m->revoked += parts->cnt > 0;
		return;
	}
	m->assigned += parts->cnt > 0;
	pthread_mutex_lock(&m->sh->lock);
	if (!m->is_first && parts->cnt > 0)
		m->sh->b_assigned = true;
	released = m->sh->b_assigned;
	pthread_cond_broadcast(&m->sh->cond);
	pthread_mutex_unlock(&m->sh->lock);
	/* Whether a pause outlives a reassignment is librdkafka's business; be explicit. */
	if (m->is_first && released)
		for (i = 0; i < parts->cnt; i++)
			il_consumer_resume(m->c, parts->elems[i].topic, parts->elems[i].partition);
}

/* Parses "key-042" and "key-042 07". @returns false when they do not match. */
static bool
parse_event(const rd_kafka_message_t *rkm, int *key, int *seq)
{
	char kbuf[16], vbuf[32], want[32];
	int k = 0, s = 0, i;

	if (rkm->key_len != 7 || rkm->len != 10)
		return false;
	memcpy(kbuf, rkm->key, 7);
	kbuf[7] = '\0';
	memcpy(vbuf, rkm->payload, 10);
	vbuf[10] = '\0';
	for (i = 4; i < 7; i++)
		k = k * 10 + (kbuf[i] - '0');
	for (i = 8; i < 10; i++)
		s = s * 10 + (vbuf[i] - '0');
	snprintf(want, sizeof(want), "key-%03d %02d", k, s);
	if (k < 0 || k >= NKEYS || s < 0 || s >= NSEQ || strcmp(want, vbuf) != 0 ||
	    memcmp(kbuf, vbuf, 7) != 0)
		return false;
	*key = k;
	*seq = s;
	return true;
}

/* Even keys carry il-seq and an empty il-empty; odd keys carry nothing. */
static bool
headers_match(rd_kafka_message_t *rkm, int key, int seq)
{
	rd_kafka_headers_t *hdrs = NULL;
	const void *val;
	size_t size;
	char want[8];

	if (rd_kafka_message_headers(rkm, &hdrs) != RD_KAFKA_RESP_ERR_NO_ERROR)
		return key % 2 == 1;
	if (key % 2 == 1)
		return false;
	snprintf(want, sizeof(want), "%d", seq);
	if (rd_kafka_header_get_last(hdrs, "il-seq", &val, &size) != RD_KAFKA_RESP_ERR_NO_ERROR ||
	    size != strlen(want) || memcmp(val, want, size) != 0)
		return false;
	return rd_kafka_header_get_last(hdrs, "il-empty", &val, &size) == RD_KAFKA_RESP_ERR_NO_ERROR &&
	    val == NULL;
}

static void
handle(struct member *m, rd_kafka_message_t *rkm)
{
	struct shared *sh = m->sh;
	int key, seq;
	bool ok = parse_event(rkm, &key, &seq);

	if (ok && !headers_match(rkm, key, seq)) {
		pthread_mutex_lock(&sh->lock);
		if (sh->bad_events++ == 0)
			snprintf(sh->first_error, sizeof(sh->first_error),
			    "headers of key %d event %d are not as sent", key, seq);
		pthread_mutex_unlock(&sh->lock);
	}
	pthread_mutex_lock(&sh->lock);
	if (!ok) {
		if (sh->bad_events++ == 0)
			snprintf(sh->first_error, sizeof(sh->first_error),
			    "event at [%" PRId32 "] offset %" PRId64 " does not parse", rkm->partition, rkm->offset);
	} else {
		if (seq != sh->next_seq[key] && sh->order_errors++ == 0)
			snprintf(sh->first_error, sizeof(sh->first_error),
			    "key %d: got event %d, expected %d (member %s)", key, seq, sh->next_seq[key], m->name);
		sh->next_seq[key] = seq + 1;
		sh->seen[key][seq]++;
	}
	sh->total++;
	pthread_cond_broadcast(&sh->cond);
	pthread_mutex_unlock(&sh->lock);
	m->handled++;
	if (rkm->partition >= 0 && rkm->partition < NPARTS) {
		m->next_offset[rkm->partition] = rkm->offset + 1;
		if (++m->pending[rkm->partition] >= COMMIT_EVERY)
			commit_partition(m, rkm->partition);
	}
}

/*
 * @returns true while the member should keep polling.  The first member
 * pauses after HOLD_AFTER events and resumes once the second has partitions.
 */
static bool
keep_going(struct member *m, bool *holding)
{
	struct shared *sh = m->sh;
	bool go, hold_now = false, release = false;

	pthread_mutex_lock(&sh->lock);
	go = sh->total < NEVENTS && il_timers_now_ms() < sh->deadline;
	if (m->is_first && !*holding && !sh->a_holding && m->handled >= HOLD_AFTER) {
		sh->a_holding = true;
		hold_now = true;
		pthread_cond_broadcast(&sh->cond);
	}
	if (*holding && sh->b_assigned)
		release = true;
	pthread_mutex_unlock(&sh->lock);
	if (hold_now) {
		set_paused(m, true);
		*holding = true;
	}
	if (release) {
		set_paused(m, false);
		*holding = false;
	}
	return go;
}

static void *
member_main(void *arg)
{
	struct member *m = arg;
	const char *topics[1] = { m->sh->topic };
	rd_kafka_message_t *rkm;
	bool holding = false;
	int i;

	m->c = il_consumer_new(m->conf, m->group, on_rebalance, m, m->setup_error, sizeof(m->setup_error));
	if (m->c == NULL || il_consumer_subscribe(m->c, topics, 1, m->setup_error,
	    sizeof(m->setup_error)) != IL_OK) {
		m->setup_failed = true;
		goto out;
	}
	while (keep_going(m, &holding)) {
		rkm = il_consumer_poll(m->c, 100);
		if (rkm == NULL)
			continue;
		if (rkm->err == RD_KAFKA_RESP_ERR_NO_ERROR)
			handle(m, rkm);
		rd_kafka_message_destroy(rkm);
	}
	for (i = 0; i < NPARTS; i++)
		commit_partition(m, i);
out:
	/* Closing revokes what is left; the callback commits nothing new. */
	il_consumer_destroy(m->c);
	m->c = NULL;
	return NULL;
}

/* Starts the first member, then the second once the first holds half-read partitions. */
static void
consume_all(struct shared *sh, struct member *a, struct member *b)
{
	pthread_t ta, tb;
	bool b_started = false;

	if (pthread_create(&ta, NULL, member_main, a) != 0) {
		check(false, "kafka-group-consume", "could not start a thread");
		return;
	}
	pthread_mutex_lock(&sh->lock);
	while (!sh->a_holding && sh->total < NEVENTS && !a->setup_failed && il_timers_now_ms() < sh->deadline) {
		struct timespec ts;

		clock_gettime(CLOCK_REALTIME, &ts);
		ts.tv_sec += 1;
		pthread_cond_timedwait(&sh->cond, &sh->lock, &ts);
	}
	pthread_mutex_unlock(&sh->lock);
	if (pthread_create(&tb, NULL, member_main, b) == 0)
		b_started = true;
	pthread_join(ta, NULL);
	if (b_started)
		pthread_join(tb, NULL);
	check(!a->setup_failed && !b->setup_failed && b_started, "kafka-group-consume",
	    "%s", a->setup_failed ? a->setup_error : b->setup_failed ? b->setup_error : "could not start a thread");
}

static void
check_consumed(struct shared *sh, struct member *a, struct member *b)
{
	int k, s, missing = 0, doubled = 0;

	for (k = 0; k < NKEYS; k++) {
		for (s = 0; s < NSEQ; s++) {
			missing += sh->seen[k][s] == 0;
			doubled += sh->seen[k][s] > 1;
		}
	}
	check(a->handled > 0 && b->handled > 0 && a->revoked > 0 && b->assigned > 0, "kafka-group-rebalance",
	    "member a handled %d events (%d revocations), member b %d (%d assignments)",
	    a->handled, a->revoked, b->handled, b->assigned);
	check(sh->order_errors == 0 && sh->bad_events == 0, "kafka-group-order",
	    "%d events out of order, %d malformed; first: %s", sh->order_errors, sh->bad_events, sh->first_error);
	check(missing == 0 && doubled == 0 && sh->total == NEVENTS, "kafka-group-exactly-once",
	    "%d events handled in all, %d never, %d more than once", sh->total, missing, doubled);
	printf("# member a handled %d events (%d assignments, %d revocations), member b %d (%d, %d)\n",
	    a->handled, a->assigned, a->revoked, b->handled, b->assigned, b->revoked);
}

/* Compares the group's committed offsets with the high watermarks. */
static void
check_committed(const il_conf *conf, const char *topic, const char *group,
    const struct member *a, const struct member *b)
{
	rd_kafka_topic_partition_list_t *parts;
	il_consumer *c;
	char errbuf[256], why[512] = "";
	int64_t lo, hi, sum = 0;
	rd_kafka_resp_err_t rerr;
	int i;

	/* A member of the group that never subscribes only reads its offsets. */
	c = il_consumer_new(conf, group, NULL, NULL, errbuf, sizeof(errbuf));
	if (c == NULL) {
		check(false, "kafka-group-committed", "%s", errbuf);
		return;
	}
	parts = rd_kafka_topic_partition_list_new(NPARTS);
	for (i = 0; i < NPARTS; i++)
		rd_kafka_topic_partition_list_add(parts, topic, i);
	rerr = rd_kafka_committed(il_consumer_handle(c), parts, QUERY_MS);
	if (rerr != RD_KAFKA_RESP_ERR_NO_ERROR)
		snprintf(why, sizeof(why), "could not read committed offsets: %s", rd_kafka_err2str(rerr));
	for (i = 0; why[0] == '\0' && i < NPARTS; i++) {
		rerr = rd_kafka_query_watermark_offsets(il_consumer_handle(c), topic, i, &lo, &hi, QUERY_MS);
		if (rerr != RD_KAFKA_RESP_ERR_NO_ERROR)
			snprintf(why, sizeof(why), "could not read watermarks of [%d]: %s", i, rd_kafka_err2str(rerr));
		else if (parts->elems[i].offset != hi)
			snprintf(why, sizeof(why), "partition %d: committed %" PRId64 ", high watermark %" PRId64,
			    i, parts->elems[i].offset, hi);
		sum += hi;
	}
	if (why[0] == '\0' && sum != NEVENTS)
		snprintf(why, sizeof(why), "high watermarks add up to %" PRId64 ", not %d", sum, NEVENTS);
	if (why[0] == '\0' && (a->commit_errors > 0 || b->commit_errors > 0))
		snprintf(why, sizeof(why), "%d commits failed; first: %s", a->commit_errors + b->commit_errors,
		    a->commit_errors > 0 ? a->commit_error : b->commit_error);
	check(why[0] == '\0', "kafka-group-committed", "%s", why);
	rd_kafka_topic_partition_list_destroy(parts);
	il_consumer_destroy(c);
}

/*
 * Reads up to @p want events with a group-less consumer; each partition's
 * offsets must follow on from @p next (a repeat or a skip counts in @p jumps).
 * @returns the number read.
 */
static int
drain(il_consumer *c, int want, int64_t until, int64_t next[NPARTS], int *jumps)
{
	rd_kafka_message_t *rkm;
	int n = 0;

	while (n < want && il_timers_now_ms() < until) {
		rkm = il_consumer_poll(c, 100);
		if (rkm == NULL)
			continue;
		if (rkm->err == RD_KAFKA_RESP_ERR_NO_ERROR && rkm->partition >= 0 && rkm->partition < NPARTS) {
			*jumps += rkm->offset != next[rkm->partition];
			next[rkm->partition] = rkm->offset + 1;
			n++;
		}
		rd_kafka_message_destroy(rkm);
	}
	return n;
}

/* Pauses or resumes every partition of @p topic; @returns how many calls failed. */
static int
pause_all(il_consumer *c, const char *topic, bool pause)
{
	int i, bad = 0;

	for (i = 0; i < NPARTS; i++)
		bad += (pause ? il_consumer_pause(c, topic, i) : il_consumer_resume(c, topic, i)) != IL_OK;
	return bad;
}

/*
 * Reads the whole topic from the start while pausing and resuming, with
 * needless calls in between (a resume of a running partition made librdkafka
 * 2.0.2 fetch again from an old offset): every event exactly once, in order.
 */
static void
check_pause_resume(il_consumer *c, const char *topic, int64_t deadline)
{
	int64_t next[NPARTS] = { 0 };
	int n, jumps = 0, bad = 0;

	n = drain(c, 100, deadline, next, &jumps);
	bad += pause_all(c, topic, true);
	bad += il_consumer_pause(c, topic, 0) != IL_OK;
	bad += pause_all(c, topic, false);
	n += drain(c, 100, deadline, next, &jumps);
	bad += pause_all(c, topic, false);
	bad += il_consumer_pause(c, topic, 1) != IL_OK;
	bad += il_consumer_resume(c, topic, 1) != IL_OK;
	bad += il_consumer_resume(c, topic, 1) != IL_OK;
	n += drain(c, NEVENTS - n, deadline, next, &jumps);
	bad += il_consumer_pause(c, "it-not-assigned", 0) != IL_ERR_NOTFOUND;
	check(n == NEVENTS && jumps == 0 && bad == 0, "kafka-group-pause-resume",
	    "read %d of %d events, %d offset jumps, %d calls answered wrongly", n, NEVENTS, jumps, bad);
}

/*
 * A pause or resume librdkafka refuses leaves il_consumer's record of paused
 * partitions as it was: the failed call reports the refusal, and the next
 * call is passed on to librdkafka again instead of being taken as already
 * done.  A resume that failed once must still resume: read from the start,
 * every event comes (partition 0 among them), in order.
 */
static void
check_pause_refused(il_consumer *c, const char *topic, int64_t deadline)
{
	int64_t next[NPARTS] = { 0 };
	int pauses, resumes, jumps = 0, n = 0;
	il_err err[6];
	char errbuf[512] = "";

	if (il_consumer_assign_all(c, topic, RD_KAFKA_OFFSET_BEGINNING, -1, errbuf,
	    sizeof(errbuf)) != IL_OK) {
		check(false, "kafka-group-pause-refused", "could not assign: %s", errbuf);
		return;
	}
	pauses = atomic_load(&real_pauses);
	resumes = atomic_load(&real_resumes);
	err[0] = il_consumer_pause(c, topic, 0);
	inject_failures = 1;
	err[1] = il_consumer_resume(c, topic, 0);
	err[2] = il_consumer_resume(c, topic, 0);
	inject_failures = 1;
	err[3] = il_consumer_pause(c, topic, 1);
	err[4] = il_consumer_pause(c, topic, 1);
	err[5] = il_consumer_resume(c, topic, 1);
	inject_failures = 0;
	pauses = atomic_load(&real_pauses) - pauses;
	resumes = atomic_load(&real_resumes) - resumes;
	if (err[5] == IL_OK)
		n = drain(c, NEVENTS, deadline < il_timers_now_ms() + 30000 ? deadline : il_timers_now_ms() + 30000,
		    next, &jumps);
	check(err[0] == IL_OK && err[1] == IL_ERR_NOTFOUND && err[2] == IL_OK &&
	    err[3] == IL_ERR_NOTFOUND && err[4] == IL_OK && err[5] == IL_OK && pauses == 2 &&
	    resumes == 2 && n == NEVENTS && jumps == 0, "kafka-group-pause-refused",
	    "pause %s, refused resume %s, resume %s, refused pause %s, pause %s, resume %s; "
	    "%d pauses and %d resumes reached librdkafka (want 2 and 2); read %d of %d events, "
	    "%d offset jumps", il_err_str(err[0]), il_err_str(err[1]), il_err_str(err[2]),
	    il_err_str(err[3]), il_err_str(err[4]), il_err_str(err[5]), pauses, resumes, n,
	    NEVENTS, jumps);
}

/* @returns how many partitions of @p c's assignment start at @p offset. */
static int
assigned_at(il_consumer *c, int64_t offset)
{
	rd_kafka_topic_partition_list_t *parts = NULL;
	int i, n = 0;

	if (rd_kafka_assignment(il_consumer_handle(c), &parts) != RD_KAFKA_RESP_ERR_NO_ERROR)
		return -1;
	for (i = 0; i < parts->cnt; i++)
		n += parts->elems[i].offset == offset;
	rd_kafka_topic_partition_list_destroy(parts);
	return n;
}

/* il_consumer_assign_all() without a group: from the start, by time, errors. */
static void
check_assign_all(const il_conf *conf, const char *topic, int64_t deadline)
{
	il_consumer *c;
	char errbuf[512], want[300];
	struct timespec ts;
	int64_t future;
	il_err err;
	int n;

	c = il_consumer_new(conf, NULL, NULL, NULL, errbuf, sizeof(errbuf));
	if (c == NULL) {
		check(false, "kafka-group-assign-beginning", "%s", errbuf);
		return;
	}
	err = il_consumer_assign_all(c, topic, RD_KAFKA_OFFSET_BEGINNING, -1, errbuf, sizeof(errbuf));
	n = assigned_at(c, RD_KAFKA_OFFSET_BEGINNING);
	check(err == IL_OK && n == NPARTS, "kafka-group-assign-beginning", "%s; %d partitions at the start",
	    err == IL_OK ? "assigned" : errbuf, n);
	if (err == IL_OK) {
		check_pause_resume(c, topic, deadline);
		check_pause_refused(c, topic, deadline);
	}

	/* Time 0 is before every event: each partition starts at its first offset. */
	err = il_consumer_assign_all(c, topic, RD_KAFKA_OFFSET_END, 0, errbuf, sizeof(errbuf));
	check(err == IL_OK && assigned_at(c, 0) == NPARTS, "kafka-group-assign-time-past",
	    "%s; %d partitions at offset 0", err == IL_OK ? "assigned" : errbuf, assigned_at(c, 0));
	/* An hour ahead is after every event: each partition starts at the end. */
	clock_gettime(CLOCK_REALTIME, &ts);
	future = (int64_t)ts.tv_sec * 1000 + 3600 * 1000;
	err = il_consumer_assign_all(c, topic, RD_KAFKA_OFFSET_BEGINNING, future, errbuf, sizeof(errbuf));
	check(err == IL_OK && assigned_at(c, RD_KAFKA_OFFSET_END) == NPARTS, "kafka-group-assign-time-future",
	    "%s; %d partitions at the end", err == IL_OK ? "assigned" : errbuf, assigned_at(c, RD_KAFKA_OFFSET_END));

	err = il_consumer_assign_all(c, "it-no-such-topic", RD_KAFKA_OFFSET_BEGINNING, -1, errbuf, sizeof(errbuf));
	check(err == IL_ERR_NOTFOUND && strcmp(errbuf, "topic \"it-no-such-topic\" does not exist") == 0,
	    "kafka-group-assign-missing-topic", "got %s: %s", il_err_str(err), errbuf);

	err = il_consumer_commit(c, topic, 0, 1, false, errbuf, sizeof(errbuf));
	snprintf(want, sizeof(want), "could not commit offset 1 of \"%s\" [0]: the consumer has no group", topic);
	check(err == IL_ERR_INVALID && strcmp(errbuf, want) == 0, "kafka-group-assign-no-commit",
	    "got %s: %s", il_err_str(err), errbuf);
	il_consumer_destroy(c);
}

/*
 * Makes a producer (@p group NULL) or a consumer in @p group from -X
 * @p props (NULL-terminated), then destroys it.
 * @returns whether it was made; the reason in @p errbuf when not.
 */
static bool
make_client(const char *const *props, const char *group, char *errbuf, size_t errsz)
{
	il_conf *conf = il_conf_new();
	il_producer *p = NULL;
	il_consumer *c = NULL;
	bool ok = true;

	errbuf[0] = '\0';
	/* Nothing listens there: the client is made, never used. */
	ok = il_conf_set(conf, "kafka.bootstrap.servers", "127.0.0.1:1", NULL, errbuf, errsz) == IL_OK;
	for (; ok && *props != NULL; props++)
		ok = il_conf_set_rdkafka_arg(conf, *props, errbuf, errsz) == IL_OK;
	if (ok && group == NULL)
		ok = (p = il_producer_new(conf, NULL, NULL, errbuf, errsz)) != NULL;
	else if (ok)
		ok = (c = il_consumer_new(conf, group, NULL, NULL, errbuf, errsz)) != NULL;
	il_producer_destroy(p);
	il_consumer_destroy(c);
	il_conf_destroy(conf);
	return ok;
}

/*
 * -X cannot weaken the guarantees: a producer that is not idempotent with
 * acks=all, or a consumer that commits or stores offsets by itself, is
 * refused with the property, its value and why; the same values spelled as
 * librdkafka spells them are accepted.
 */
static void
check_config_guards(void)
{
	static const char producer_why[] = "refused: imislink's delivery guarantee needs acks=all "
	    "(idempotent producer)";
	static const struct {
		const char *props[3];   /* -X arguments */
		const char *group;      /* NULL: a producer */
		const char *want;       /* the message; NULL: accepted */
	} cases[] = {
		{ { "enable.idempotence=false", "acks=1", NULL }, NULL,
		    "option -X: enable.idempotence=false: refused: imislink's delivery guarantee needs "
		    "the idempotent producer (enable.idempotence=true)" },
		{ { "acks=1", NULL }, NULL, producer_why },
		{ { "request.required.acks=0", NULL }, NULL, producer_why },
		{ { "topic.acks=1", NULL }, NULL, producer_why },
		{ { "enable.idempotence=0", NULL }, NULL, "enable.idempotence=0: refused: " },
		{ { "acks=all", "enable.idempotence=true", NULL }, NULL, NULL },
		{ { "acks=-1", "linger.ms=5", NULL }, NULL, NULL },
		{ { "enable.auto.commit=true", NULL }, "it-guard",
		    "option -X: enable.auto.commit=true: refused: imislink commits an offset only once "
		    "its event's outcome is durable (enable.auto.commit=false)" },
		{ { "enable.auto.offset.store=true", NULL }, "it-guard",
		    "option -X: enable.auto.offset.store=true: refused: imislink stores an offset only "
		    "once its event's outcome is durable (enable.auto.offset.store=false)" },
		{ { "enable.auto.commit=false", "enable.auto.offset.store=false", NULL }, "it-guard", NULL },
		/* The guards of a producer are not a consumer's, and the other way round. */
		{ { "acks=1", NULL }, "it-guard", NULL },
	};
	const size_t n = sizeof(cases) / sizeof(cases[0]);
	char errbuf[512] = "";
	bool made = false, ok = true;
	size_t i;

	for (i = 0; ok && i < n; i++) {
		made = make_client(cases[i].props, cases[i].group, errbuf, sizeof(errbuf));
		ok = cases[i].want == NULL ? made : !made && strstr(errbuf, cases[i].want) != NULL;
	}
	i = ok ? n - 1 : i - 1;
	check(ok, "kafka-group-config-guards", "-X %s for a %s: %s \"%s\"", cases[i].props[0],
	    cases[i].group == NULL ? "producer" : "consumer", made ? "accepted" : "refused with",
	    errbuf);
}

/* A -X property librdkafka refuses is named with librdkafka's reason. */
static void
check_config_errors(void)
{
	static const char *const bad[][2] = {
		{ "linger.ms=abc", "invalid librdkafka property \"linger.ms\": " },
		{ "no.such.property=1", "invalid librdkafka property \"no.such.property\": " },
	};
	il_conf *conf;
	il_producer *p;
	char errbuf[512];
	size_t i;
	bool ok = true;

	errbuf[0] = '\0';
	for (i = 0; ok && i < sizeof(bad) / sizeof(bad[0]); i++) {
		conf = il_conf_new();
		ok = il_conf_set_rdkafka_arg(conf, bad[i][0], errbuf, sizeof(errbuf)) == IL_OK;
		p = ok ? il_producer_new(conf, NULL, NULL, errbuf, sizeof(errbuf)) : NULL;
		ok = ok && p == NULL && strstr(errbuf, bad[i][1]) != NULL;
		il_producer_destroy(p);
		il_conf_destroy(conf);
	}
	check(ok, "kafka-group-config-errors", "-X %s: got \"%s\"", bad[i - 1][0], errbuf);
}

/* A fatal error (as a fenced producer gets) is remembered and stops sends. */
static void
check_fatal(const il_conf *conf)
{
	il_producer *p;
	char errbuf[512] = "";
	il_err before, after, send;

	p = il_producer_new(conf, NULL, NULL, errbuf, sizeof(errbuf));
	if (p == NULL) {
		check(false, "kafka-group-producer-fatal", "%s", errbuf);
		return;
	}
	before = il_producer_fatal(p, errbuf, sizeof(errbuf));
	rd_kafka_test_fatal_error(il_producer_handle(p), RD_KAFKA_RESP_ERR_PRODUCER_FENCED, "fenced by test");
	il_producer_poll(p, 0);
	after = il_producer_fatal(p, errbuf, sizeof(errbuf));
	send = il_producer_send(p, "any", RD_KAFKA_PARTITION_UA, "k", 1, "v", 1, NULL, 0, NULL, 0);
	check(before == IL_OK && after == IL_ERR_FATAL && send == IL_ERR_FATAL &&
	    strcmp(errbuf, "PRODUCER_FENCED: test_fatal_error: fenced by test") == 0,
	    "kafka-group-producer-fatal", "before %s, after %s (\"%s\"), send %s",
	    il_err_str(before), il_err_str(after), errbuf, il_err_str(send));
	il_producer_destroy(p);
}

/* Lines of librdkafka's own log callback, as il_kafka_log_cb() writes them. */
#define RDKAFKA_LINE "\"msg\":\"librdkafka\""

/*
 * With no broker, librdkafka reports the same connection failure again and
 * again (after a second or so, adding "(after 0ms in state CONNECT, 1
 * identical error(s) suppressed)").  Its log lines are written only by the
 * thread that polls, never by librdkafka's broker threads (whose connection
 * fails at once: a second without polling writes nothing), so a slow log
 * cannot stall a broker; and each line at most once per ten seconds (this
 * check polls for five).  A consumer's lines come through il_consumer_poll().
 */
static void
check_log_lines(il_log_level level, bool consumer)
{
	static char keys[64][512];              /* distinct lines seen, without ts */
	const char *name = consumer ? "kafka-group-log-consumer" : "kafka-group-log-limit";
	const char *topics[1] = { "it-log-lines" };
	struct timespec pause = { 1, 0 };
	char path[] = "/tmp/it_kafka_group.log.XXXXXXXX";
	il_conf *conf = il_conf_new();
	il_producer *p = NULL;
	il_consumer *c = NULL;
	rd_kafka_message_t *rkm;
	char errbuf[512] = "", line[4096];
	const char *from, *to;
	int nkeys = 0, lines = 0, repeats = 0, bad = 0, unpolled = -1, fd, i;
	int64_t until;
	FILE *out = NULL, *in = NULL;
	bool made = false;

	fd = mkstemp(path);
	if (fd >= 0)
		out = fdopen(fd, "w");
	if (out == NULL || il_conf_set(conf, "kafka.bootstrap.servers", "127.0.0.1:1", NULL,
	    errbuf, sizeof(errbuf)) != IL_OK) {
		check(false, name, "could not prepare: %s", errbuf);
		goto out;
	}
	il_log_init(NULL, IL_LOG_WARN, out);
	if (consumer) {
		c = il_consumer_new(conf, "it-log-lines", NULL, NULL, errbuf, sizeof(errbuf));
		if (c != NULL && il_consumer_subscribe(c, topics, 1, errbuf, sizeof(errbuf)) != IL_OK) {
			il_consumer_destroy(c);
			c = NULL;
		}
	} else {
		p = il_producer_new(conf, NULL, NULL, errbuf, sizeof(errbuf));
	}
	made = p != NULL || c != NULL;
	if (made) {
		nanosleep(&pause, NULL);
		unpolled = il_test_count_lines(path, RDKAFKA_LINE);
	}
	for (until = il_timers_now_ms() + 5000; (p != NULL || c != NULL) && il_timers_now_ms() < until;) {
		if (p != NULL) {
			il_producer_poll(p, 100);
			continue;
		}
		rkm = il_consumer_poll(c, 100);
		if (rkm != NULL)
			rd_kafka_message_destroy(rkm);
		/* Seeing the lines arrive is all this one is about. */
		if (il_test_count_lines(path, RDKAFKA_LINE) > 0)
			break;
	}
	il_producer_destroy(p);
	il_consumer_destroy(c);
	il_log_init(NULL, level, stderr);
	in = fopen(path, "r");
	while (in != NULL && fgets(line, sizeof(line), in) != NULL) {
		lines += strstr(line, RDKAFKA_LINE) != NULL;
		from = strstr(line, "\"msg\":");
		bad += strncmp(line, "{\"ts\":", 6) != 0 || from == NULL;
		if (from == NULL || consumer)
			continue;
		/* librdkafka's "(after 3ms in state CONNECT)" differs each time. */
		to = strstr(from, " (after ");
		snprintf(keys[nkeys < 64 ? nkeys : 63], sizeof(keys[0]), "%.*s",
		    (int)(to != NULL ? to - from : (long)strlen(from)), from);
		for (i = 0; i < nkeys && strcmp(keys[i], keys[nkeys < 64 ? nkeys : 63]) != 0; i++)
			;
		if (i < nkeys)
			repeats++;
		else if (nkeys < 63)
			nkeys++;
	}
	check(made && unpolled == 0 && lines > 0 &&
	    repeats == 0 && bad == 0, name,
	    "%s%d lines written without a poll, %d librdkafka lines in all, %d repeated within "
	    "the window, %d not JSON", errbuf, unpolled, lines, repeats, bad);
out:
	if (in != NULL)
		fclose(in);
	if (out != NULL)
		fclose(out);
	else if (fd >= 0)
		close(fd);
	if (fd >= 0)
		unlink(path);
	il_conf_destroy(conf);
}

/* Delivery reports of check_queue_full(). */
struct queue_full_state {
	int reports;            /* delivery reports seen */
	il_err err[4];          /* by message number (the opaque) */
};

static void
on_queue_full_delivery(void *msg_opaque, il_err err, const char *errstr, const char *topic,
    int32_t partition, int64_t offset, void *cb_ctx)
{
	struct queue_full_state *st = cb_ctx;
	intptr_t n = (intptr_t)msg_opaque;

	(void)errstr;
	(void)topic;
	(void)partition;
	(void)offset;
	st->reports++;
	if (n >= 0 && n < 4)
		st->err[n] = err;
}

/*
 * A local queue of one message, held by a topic that does not exist (it
 * fails after topic.metadata.propagation.max.ms): a send that may not wait
 * times out; one that may wait polls, which reports the first message as
 * failed, and is then refused since the topic is now known not to exist.
 */
static void
check_queue_full(il_log_level level)
{
	static const char *const props[] = {
		"queue.buffering.max.messages=1", "topic.metadata.propagation.max.ms=1000",
	};
	struct queue_full_state st = { 0, { IL_OK, IL_OK, IL_OK, IL_OK } };
	il_conf *conf;
	il_producer *p;
	il_err first, nowait, wait;
	char errbuf[512] = "";
	size_t i;

	conf = make_conf(NULL);
	for (i = 0; conf != NULL && i < sizeof(props) / sizeof(props[0]); i++)
		if (il_conf_set_rdkafka_arg(conf, props[i], errbuf, sizeof(errbuf)) != IL_OK)
			break;
	p = conf != NULL && errbuf[0] == '\0' ?
	    il_producer_new(conf, on_queue_full_delivery, &st, errbuf, sizeof(errbuf)) : NULL;
	if (p == NULL) {
		check(false, "kafka-group-queue-full", "could not make the producer: %s", errbuf);
		il_conf_destroy(conf);
		return;
	}
	/* The unknown topic is expected: keep its warnings out of the output. */
	il_log_set_level(IL_LOG_ERROR);
	first = il_producer_send(p, "it-no-such-topic", 0, "k", 1, "1", 1, NULL, 0, (void *)1, 0);
	nowait = il_producer_send(p, "it-no-such-topic", 0, "k", 1, "2", 1, NULL, 0, (void *)2, 0);
	wait = il_producer_send(p, "it-no-such-topic", 0, "k", 1, "3", 1, NULL, 0, (void *)3, 10000);
	il_producer_destroy(p);
	il_log_set_level(level);
	check(first == IL_OK && nowait == IL_ERR_TIMEOUT && wait == IL_ERR_INVALID &&
	    st.reports == 1 && st.err[1] == IL_ERR_INVALID, "kafka-group-queue-full",
	    "sends: %s, %s, %s; %d reports, the first: %s", il_err_str(first),
	    il_err_str(nowait), il_err_str(wait), st.reports, il_err_str(st.err[1]));
	il_conf_destroy(conf);
}

/* Makes the configuration from the environment, plus a strategy for consumers. */
static il_conf *
make_conf(const char *strategy)
{
	il_conf *conf = il_conf_new();
	char errbuf[512], arg[256];

	if (il_conf_load_env(conf, errbuf, sizeof(errbuf)) != IL_OK ||
	    il_conf_set(conf, "kafka.client.id", "it_kafka_group", NULL, errbuf, sizeof(errbuf)) != IL_OK)
		goto fail;
	if (strategy != NULL) {
		snprintf(arg, sizeof(arg), "partition.assignment.strategy=%s", strategy);
		if (il_conf_set_rdkafka_arg(conf, arg, errbuf, sizeof(errbuf)) != IL_OK)
			goto fail;
	}
	return conf;
fail:
	check(false, "kafka-group-config", "%s", errbuf);
	il_conf_destroy(conf);
	return NULL;
}

/* Polls @p c for @p ms, dropping what it reads; rebalance callbacks run. */
static void
poll_for(il_consumer *c, int ms)
{
	int64_t until = il_timers_now_ms() + ms;
	rd_kafka_message_t *rkm;

	while (il_timers_now_ms() < until) {
		rkm = il_consumer_poll(c, 100);
		if (rkm != NULL)
			rd_kafka_message_destroy(rkm);
	}
}

static bool
has_assignment(il_consumer *c)
{
	rd_kafka_topic_partition_list_t *parts = NULL;
	bool has;

	if (rd_kafka_assignment(il_consumer_handle(c), &parts) != RD_KAFKA_RESP_ERR_NO_ERROR)
		return false;
	has = parts->cnt > 0;
	rd_kafka_topic_partition_list_destroy(parts);
	return has;
}

/* A member of the held group (eager assignors): subscribed, with a long
 * rebalance timeout. */
static il_consumer *
held_member(const char *topic, const char *group)
{
	il_conf *conf = make_conf(NULL);
	il_consumer *c = NULL;
	char errbuf[512];

	if (conf == NULL)
		return NULL;
	if (il_conf_set_rdkafka_arg(conf, "max.poll.interval.ms=" HELD_REBALANCE_MS, errbuf, sizeof(errbuf)) == IL_OK &&
	    il_conf_set_rdkafka_arg(conf, "session.timeout.ms=30000", errbuf, sizeof(errbuf)) == IL_OK)
		c = il_consumer_new(conf, group, NULL, NULL, errbuf, sizeof(errbuf));
	if (c != NULL && il_consumer_subscribe(c, &topic, 1, errbuf, sizeof(errbuf)) != IL_OK) {
		il_consumer_destroy(c);
		c = NULL;
	}
	check(c != NULL, "kafka-group-held-member", "%s", errbuf);
	il_conf_destroy(conf);
	return c;
}

/*
 * Closing a consumer whose JoinGroup the coordinator holds: x and y share
 * the partitions, then y stops polling and z joins.  The coordinator waits
 * for y to rejoin, for up to the group's rebalance timeout (y's
 * max.poll.interval.ms, minutes), while x, which did rejoin, has its
 * JoinGroup answered only then.  il_consumer_destroy(x) must still return
 * within its bound instead of waiting out the rebalance, and so must y's,
 * whose revocation waits unserved in its queue when it closes.
 */
static void
check_close_held(const char *topic, const char *group)
{
	il_consumer *x, *y = NULL, *z = NULL;
	int64_t t0, took;

	x = held_member(topic, group);
	if (x == NULL)
		return;
	t0 = il_timers_now_ms();
	while (!has_assignment(x) && il_timers_now_ms() - t0 < 30000)
		poll_for(x, 200);
	y = held_member(topic, group);
	if (y == NULL)
		goto out;
	/* Both poll until the rebalance gave each of them partitions. */
	t0 = il_timers_now_ms();
	while (!(has_assignment(x) && has_assignment(y)) && il_timers_now_ms() - t0 < 30000) {
		poll_for(x, 100);
		poll_for(y, 100);
	}
	check(has_assignment(x) && has_assignment(y), "kafka-group-held-shared",
	    "x and y did not both get partitions in 30 s");
	z = held_member(topic, group);
	if (z == NULL)
		goto out;
	/* From here on y is never polled: x revokes and rejoins, y does not. */
	poll_for(x, 5000);
	t0 = il_timers_now_ms();
	il_consumer_destroy(x);
	took = il_timers_now_ms() - t0;
	x = NULL;
	printf("# closing a member during a held rebalance took %.1f s\n", (double)took / 1000.0);
	check(took < HELD_CLOSE_LIMIT_MS, "kafka-group-close-held-bounded",
	    "il_consumer_destroy() took %.1f s", (double)took / 1000.0);
	t0 = il_timers_now_ms();
	il_consumer_destroy(y);
	y = NULL;
	il_consumer_destroy(z);
	z = NULL;
	took = il_timers_now_ms() - t0;
	check(took < HELD_CLOSE_LIMIT_MS, "kafka-group-close-unpolled-bounded",
	    "closing the members that stopped polling took %.1f s", (double)took / 1000.0);
out:
	il_consumer_destroy(x);
	il_consumer_destroy(y);
	il_consumer_destroy(z);
}

int
main(int argc, char **argv)
{
	static struct shared sh;                /* tally of both members (large) */
	struct produce_state ps;                /* delivery reports */
	struct member a, b;                     /* the two members of the group */
	il_conf *pconf = NULL, *cconf = NULL;   /* producer and consumer settings */
	il_producer *p = NULL;                  /* the producer */
	const char *topic, *group;              /* names the script made unique */
	il_log_level level;                     /* log threshold */
	char errbuf[512], held[300];
	bool ok;
	int k;

	if (argc < 3 || argc > 4 || getenv("KAFKA_BOOTSTRAP_SERVERS") == NULL) {
		fprintf(stderr, "usage: KAFKA_BOOTSTRAP_SERVERS=host:port %s TOPIC GROUP [STRATEGY]\n", argv[0]);
		return 2;
	}
	topic = argv[1];
	group = argv[2];
	pconf = make_conf(NULL);
	cconf = make_conf(argc == 4 ? argv[3] : NULL);
	if (pconf == NULL || cconf == NULL)
		goto out;
	/* Warnings only, unless IMISLINK_LOG_LEVEL asks for another level. */
	if (getenv("IMISLINK_LOG_LEVEL") == NULL ||
	    il_log_level_parse(il_conf_get(pconf, "log.level"), &level) != 0)
		level = IL_LOG_WARN;
	il_log_init("it_kafka_group", level, stderr);

	memset(&ps, 0, sizeof(ps));
	ps.deadline = il_timers_now_ms() + RUN_LIMIT_MS;
	for (k = 0; k < NKEYS; k++)
		ps.partition_of[k] = -1;
	p = il_producer_new(pconf, on_delivery, &ps, errbuf, sizeof(errbuf));
	check(p != NULL, "kafka-group-producer", "%s", errbuf);
	if (p == NULL)
		goto out;
	ok = create_topic(il_producer_handle(p), topic, errbuf, sizeof(errbuf));
	check(ok, "kafka-group-create-topic", "%s", errbuf);
	if (!ok)
		goto out;
	produce_all(p, topic, &ps);
	check_spread(&ps);
	if (failures > 0)
		goto out;

	pthread_mutex_init(&sh.lock, NULL);
	pthread_cond_init(&sh.cond, NULL);
	sh.topic = topic;
	sh.deadline = ps.deadline;
	a = (struct member){ .sh = &sh, .conf = cconf, .group = group, .name = "a", .is_first = true };
	b = (struct member){ .sh = &sh, .conf = cconf, .group = group, .name = "b", .is_first = false };
	consume_all(&sh, &a, &b);
	check(il_timers_now_ms() < sh.deadline, "kafka-group-in-time", "gave up after %d s with %d of %d events handled",
	    RUN_LIMIT_MS / 1000, sh.total, NEVENTS);
	check_consumed(&sh, &a, &b);
	check_committed(cconf, topic, group, &a, &b);
	check_assign_all(pconf, topic, sh.deadline);
	check_config_errors();
	check_config_guards();
	check_fatal(pconf);
	check_queue_full(level);
	check_log_lines(level, false);
	check_log_lines(level, true);
	/* Eager assignors only, the daemons' default: with cooperative-sticky,
	 * librdkafka 2.0.2 never finishes a close that an assignment reaches
	 * (its issue #4527, fixed in 2.4.0), and then hangs in destroy. */
	if (argc < 4 || strstr(argv[3], "cooperative") == NULL) {
		snprintf(held, sizeof(held), "%s-held", group);
		check_close_held(topic, held);
	}
	pthread_cond_destroy(&sh.cond);
	pthread_mutex_destroy(&sh.lock);
out:
	il_producer_destroy(p);
	il_conf_destroy(pconf);
	il_conf_destroy(cconf);
	return failures > 0 ? 1 : 0;
}
