/*
 * dlworker.c - the dead-letter worker's engine (see dlworker.h).
 *
 * Messages are held as librdkafka gave them until their batch is written:
 * converting them (record.c) happens at write time, so a batch that could
 * not be written is simply written again later, whatever failed (the
 * store, or the schema registry needed to decode a value).  Per partition
 * the worker remembers the offset after the last message it took; that is
 * what it commits once the batch is in the store, and a message below it
 * (fetched again after a pause) is skipped.
 */
#include <malloc.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include <libpq-fe.h>

#include "audit.h"
#include "dlworker.h"
#include "kafka.h"
#include "log.h"
#include "record.h"
#include "retry.h"
#include "serde.h"
#include "sig.h"
#include "timers.h"
#include "xalloc.h"

/* Longest wait of the loop: bounds how late a stop, a flush or a retry is seen. */
#define D_IDLE_MS 100
/* Backoff of writes and connections while the store fails. */
#define D_BACKOFF_MS 100
#define D_BACKOFF_MAX_MS 5000
/* What a stopping worker gives a failing store before it leaves the batch
 * uncommitted (it is read again at the next start). */
#define D_SHUTDOWN_MS 10000
/* Freed heap goes back to the system at this pace (see il_worker_run of enroll). */
#define D_TRIM_EVERY_MS 10000

enum { T_DLQ = 0, T_RESULTS = 1 };

static const char *const kind_names[] = { "dead_letter", "result" };

struct part {
	int topic;              /* T_DLQ or T_RESULTS */
	int32_t partition;
	int64_t next;           /* offset after the last message taken; -1: none yet */
	int64_t committed;      /* last commit sent; -1: none */
	bool revoking;          /* being given up */
};

struct il_dlworker {
	il_dlworker_env env;
	il_consumer *consumer;
	il_serde *sd;
	il_audit *audit;
	const char *conninfo;   /* audit.db.url */
	const char *topics[2];  /* topic.dlq, topic.results */
	long long batch_ms, batch_size;
	/* the batch: messages taken and not yet in the store, in arrival order */
	rd_kafka_message_t **batch;
	size_t n, cap;
	long long batch_first;  /* when its first message was taken (monotonic) */
	il_dlrecord *recs;      /* conversion at write time, cap of them */
	il_audit_dead_letter *dls;
	il_audit_result *res;
	struct part *parts;     /* assigned partitions; grows as the assignment does */
	size_t nparts, partcap;
	bool paused;            /* fetching paused: the store fails */
	bool store_down;
	int failures;           /* writes or connections failed in a row */
	long long retry_at;     /* monotonic; next attempt while the store is down */
	uint64_t rng;
	il_err fatal;
	char fatal_msg[1024];
	atomic_int health;      /* il_health, read by the HTTP thread */
	atomic_int store_up;
	atomic_long held;       /* messages in the batch */
	/* metrics */
	il_metric *m_rows[2], *m_duplicates, *m_batches, *m_write_seconds, *m_store_up;
	il_metric *m_undecodable, *m_messages, *m_write_failures, *m_paused, *m_held;
};

/* Sleeps @p ms unless a stop is requested meanwhile. */
static void
nap(long long ms)
{
	long long until = il_timers_now_ms() + ms;
	struct timespec ts;

	while (!il_sig_stop_requested() && il_timers_now_ms() < until) {
		long long left = until - il_timers_now_ms();

		if (left > 50)
			left = 50;
		ts.tv_sec = 0;
		ts.tv_nsec = (long)(left > 0 ? left : 0) * 1000000L;
		nanosleep(&ts, NULL);
	}
}

static void
set_fatal(il_dlworker *w, il_err err, const char *msg)
{
	if (w->fatal != IL_OK)
		return;
	w->fatal = err;
	il_err_setf(w->fatal_msg, sizeof(w->fatal_msg), "%s", msg);
	atomic_store(&w->health, IL_HEALTH_DOWN);
	il_sig_request_stop();
}

/* ---- partitions ---- */

static int
topic_index(il_dlworker *w, const char *topic)
{
	if (strcmp(topic, w->topics[T_DLQ]) == 0)
		return T_DLQ;
	if (strcmp(topic, w->topics[T_RESULTS]) == 0)
		return T_RESULTS;
	return -1;
}

static struct part *
part_find(il_dlworker *w, int topic, int32_t partition)
{
	size_t i;

	for (i = 0; i < w->nparts; i++)
		if (w->parts[i].topic == topic && w->parts[i].partition == partition)
			return &w->parts[i];
	return NULL;
}

static void
pause_all(il_dlworker *w, bool pause)
{
	size_t i;

	for (i = 0; i < w->nparts; i++) {
		const char *topic = w->topics[w->parts[i].topic];

		if (pause)
			il_consumer_pause(w->consumer, topic, w->parts[i].partition);
		else
			il_consumer_resume(w->consumer, topic, w->parts[i].partition);
	}
	w->paused = pause;
	il_metric_set(w->m_paused, pause ? 1 : 0);
}

/*
 * Commits what the store holds: every partition (@p only_revoking: those
 * being given up) whose batch was written.  @p sync waits for the answer.
 */
static void
commit_parts(il_dlworker *w, bool sync, bool only_revoking)
{
	char errbuf[512];
	size_t i;

	for (i = 0; i < w->nparts; i++) {
		struct part *p = &w->parts[i];

		if (p->next < 0 || (only_revoking && !p->revoking))
			continue;
		/* A sync commit goes even when an async one of the same offset
		 * was sent: that one may have failed. */
		if (!sync && p->next <= p->committed)
			continue;
		if (il_consumer_commit(w->consumer, w->topics[p->topic], p->partition, p->next, !sync,
		    errbuf, sizeof(errbuf)) != IL_OK) {
			il_log_warn("commit failed; the partition's next owner reads again what is not committed "
			    "(the store skips it)", IL_STR("topic", w->topics[p->topic]),
			    IL_INT("partition", p->partition), IL_INT("offset", p->next), IL_STR("reason", errbuf));
			/* Once the group refused one (this member is gone), the
			 * others would be refused too, each after a wait. */
			if (sync)
				return;
			continue;
		}
		p->committed = p->next;
	}
}

/* ---- the batch ---- */

static void
batch_grow(il_dlworker *w)
{
	size_t cap = w->cap == 0 ? 1024 : w->cap * 2;

	w->batch = il_xrealloc(w->batch, cap * sizeof(*w->batch));
	w->recs = il_xrealloc(w->recs, cap * sizeof(*w->recs));
	memset(w->recs + w->cap, 0, (cap - w->cap) * sizeof(*w->recs));
	w->dls = il_xrealloc(w->dls, cap * sizeof(*w->dls));
	w->res = il_xrealloc(w->res, cap * sizeof(*w->res));
	w->cap = cap;
}

static void
held_update(il_dlworker *w)
{
	atomic_store(&w->held, (long)w->n);
	il_metric_set(w->m_held, (double)w->n);
}

/*
 * Forgets the messages of the partitions being given up (@p all: every
 * message), uncommitted: the partition's next owner reads them again.
 */
static void
batch_drop(il_dlworker *w, bool all)
{
	size_t i, k = 0;

	for (i = 0; i < w->n; i++) {
		rd_kafka_message_t *msg = w->batch[i];
		struct part *p = part_find(w, topic_index(w, rd_kafka_topic_name(msg->rkt)), msg->partition);

		if (all || p == NULL || p->revoking)
			rd_kafka_message_destroy(msg);
		else
			w->batch[k++] = msg;
	}
	w->n = k;
	/* What was taken and dropped must not be committed. */
	for (i = 0; i < w->nparts; i++)
		if (all || w->parts[i].revoking)
			w->parts[i].next = w->parts[i].committed;
	held_update(w);
}

static void
recs_clear(il_dlworker *w, size_t n)
{
	size_t i;

	for (i = 0; i < n; i++)
		il_dlrecord_clear(&w->recs[i]);
}

/* What a write of the batch did, for the metrics. */
struct written {
	size_t nd, nr;          /* rows written as dead letters, as results */
	size_t stored;          /* rows really inserted (the others were there) */
	size_t undecodable;     /* messages whose value did not decode, or whose row was refused */
};

/*
 * The store refused the batch (IL_ERR_INVALID: the data, not the
 * connection).  Bad input never blocks a partition: every message is
 * written again alone, in a transaction of its own, and one whose row is
 * refused becomes a dead letter of class "undecodable" with its bytes and
 * PostgreSQL's reason.  Messages already written this way are skipped by
 * the store when a transient failure makes the whole batch come again.
 * @returns IL_OK; IL_ERR_TRANSIENT (or IL_ERR_CONFIG) as il_audit_write()
 * and the reconnect say; IL_ERR_INVALID when even the dead letter is
 * refused: a bug of ours, nothing to retry.
 */
static il_err
write_one_by_one(il_dlworker *w, struct written *out, char *errbuf, size_t errsz)
{
	char reason[1024];
	il_dlrecord refused;
	il_dlrecord_msg m;
	size_t i, stored;
	il_err err;

	memset(out, 0, sizeof(*out));
	for (i = 0; i < w->n; i++) {
		il_dlrecord *rec = &w->recs[i];
		bool is_result = rec->kind == IL_DLRECORD_RESULT;

		if (!il_audit_connected(w->audit)) {
			err = il_audit_reconnect(w->audit, errbuf, errsz);
			if (err != IL_OK)
				return err == IL_ERR_CONFIG ? IL_ERR_CONFIG : IL_ERR_TRANSIENT;
		}
		stored = 0;
		err = il_audit_write(w->audit, is_result ? NULL : &rec->dl, is_result ? 0 : 1,
		    is_result ? &rec->res : NULL, is_result ? 1 : 0, &stored, reason, sizeof(reason));
		if (err == IL_OK) {
			out->nd += is_result ? 0 : 1;
			out->nr += is_result ? 1 : 0;
			out->stored += stored;
			out->undecodable += rec->undecodable ? 1 : 0;
			continue;
		}
		if (err != IL_ERR_INVALID) {
			il_err_setf(errbuf, errsz, "%s", reason);
			return err;
		}
		il_dlrecord_msg_of(w->batch[i], &m);
		il_log_warn("the audit store refused a message's row: stored as a dead letter of class undecodable",
		    IL_STR("topic", m.topic), IL_INT("partition", m.partition), IL_INT("offset", m.offset),
		    IL_STR("reason", reason));
		il_dlrecord_refused(&refused, &m, topic_index(w, m.topic) == T_RESULTS, reason);
		stored = 0;
		err = il_audit_write(w->audit, &refused.dl, 1, NULL, 0, &stored, errbuf, errsz);
		il_dlrecord_clear(&refused);
		if (err == IL_ERR_INVALID) {
			char why[1024];

			il_err_setf(why, sizeof(why), "%s", errbuf);
			il_err_setf(errbuf, errsz, "the audit store refused the message of \"%s\" partition %d "
			    "offset %lld even as a dead letter (a bug): %s", m.topic, (int)m.partition,
			    (long long)m.offset, why);
			return err;
		}
		if (err != IL_OK)
			return err;
		out->nd++;
		out->stored += stored;
		out->undecodable++;
	}
	return IL_OK;
}

/*
 * Converts and writes the whole batch in one transaction (one message at a
 * time when the store refuses it).  On success the messages are released;
 * on failure the batch stays as it was.
 * @returns IL_OK, or the failure: IL_ERR_TRANSIENT (store or registry
 * unavailable: try again later), IL_ERR_CONFIG (registry credentials),
 * IL_ERR_INVALID (the store refused even a message as a dead letter).
 */
static il_err
batch_write(il_dlworker *w, char *errbuf, size_t errsz)
{
	struct written done = { 0, 0, 0, 0 };
	il_dlrecord_msg m;
	double t0, secs;
	size_t i;
	il_err err;

	if (w->n == 0)
		return IL_OK;
	if (!il_audit_connected(w->audit)) {
		err = il_audit_reconnect(w->audit, errbuf, errsz);
		if (err != IL_OK)
			return err == IL_ERR_CONFIG ? IL_ERR_CONFIG : IL_ERR_TRANSIENT;
	}
	for (i = 0; i < w->n; i++) {
		il_dlrecord_msg_of(w->batch[i], &m);
		err = il_dlrecord_convert(&w->recs[i], &m, topic_index(w, m.topic) == T_RESULTS, w->sd,
		    errbuf, errsz);
		if (err != IL_OK) {
			recs_clear(w, i);
			return err;
		}
		if (w->recs[i].kind == IL_DLRECORD_RESULT)
			w->res[done.nr++] = w->recs[i].res;
		else
			w->dls[done.nd++] = w->recs[i].dl;
		if (w->recs[i].undecodable)
			done.undecodable++;
	}
	t0 = (double)il_timers_now_ms();
	err = il_audit_write(w->audit, w->dls, done.nd, w->res, done.nr, &done.stored, errbuf, errsz);
	if (err == IL_ERR_INVALID) {
		il_log_warn("the audit store refused a batch: writing it one message at a time",
		    IL_STR("reason", errbuf), IL_INT("held", (long long)w->n));
		err = write_one_by_one(w, &done, errbuf, errsz);
	}
	secs = ((double)il_timers_now_ms() - t0) / 1000.0;
	recs_clear(w, w->n);
	if (err != IL_OK)
		return err;
	il_metric_observe(w->m_write_seconds, secs);
	il_metric_inc(w->m_rows[T_DLQ], (double)done.nd);
	il_metric_inc(w->m_rows[T_RESULTS], (double)done.nr);
	il_metric_inc(w->m_duplicates, (double)(done.nd + done.nr - done.stored));
	il_metric_inc(w->m_undecodable, (double)done.undecodable);
	il_metric_inc(w->m_batches, 1);
	il_log_debug("batch written", IL_INT("dead_letters", (long long)done.nd),
	    IL_INT("results", (long long)done.nr), IL_INT("stored", (long long)done.stored), IL_DBL("seconds", secs));
	for (i = 0; i < w->n; i++)
		rd_kafka_message_destroy(w->batch[i]);
	w->n = 0;
	held_update(w);
	return IL_OK;
}

/* The store is @p up or down: fetching resumes or pauses, and /healthz and
 * the store_up gauge say so (a fatal error keeps its own health). */
static void
store_state(il_dlworker *w, bool up)
{
	w->store_down = !up;
	if (w->paused == up)
		pause_all(w, !up);
	atomic_store(&w->store_up, up ? 1 : 0);
	il_metric_set(w->m_store_up, up ? 1 : 0);
	if (w->fatal == IL_OK)
		atomic_store(&w->health, up ? IL_HEALTH_OK : IL_HEALTH_DEGRADED);
}

/* The store answers again: fetching resumes. */
static void
store_ok(il_dlworker *w)
{
	if (w->store_down)
		il_log_info("audit store writable again: fetching resumes", IL_INT("failures", w->failures));
	w->failures = 0;
	store_state(w, true);
}

/* A write or a probe failed with @p err: pause and retry later, or stop. */
static void
store_failed(il_dlworker *w, il_err err, const char *reason)
{
	long long wait;

	il_metric_inc(w->m_write_failures, 1);
	if (err != IL_ERR_TRANSIENT) {
		char msg[1280];

		il_err_setf(msg, sizeof(msg), "could not store %zu messages, and trying again cannot help: %s", w->n, reason);
		set_fatal(w, err, msg);
		return;
	}
	w->failures++;
	wait = il_retry_backoff_ms(w->failures, D_BACKOFF_MS, D_BACKOFF_MAX_MS, &w->rng);
	w->retry_at = il_timers_now_ms() + wait;
	il_log_warn(w->store_down ? "audit store still unavailable; batch kept, trying again" :
	    "audit store unavailable: fetching paused, batch kept, trying again",
	    IL_STR("reason", reason), IL_INT("held", (long long)w->n), IL_INT("failures", w->failures),
	    IL_INT("retry_in_ms", wait));
	store_state(w, false);
}

/* Writes the batch, then commits (async); a failure leaves the batch for a retry. */
static il_err
flush(il_dlworker *w)
{
	char errbuf[1024];
	il_err err;

	if (w->n == 0 && w->store_down) {
		/* Nothing to write (a rebalance dropped it): ask the store itself. */
		err = il_audit_connected(w->audit) ? IL_OK : il_audit_reconnect(w->audit, errbuf, sizeof(errbuf));
		if (err == IL_OK)
			err = il_audit_check(w->audit, NULL, errbuf, sizeof(errbuf));
		if (err == IL_ERR_INVALID)
			err = IL_ERR_TRANSIENT;     /* someone dropped the tables? the write will tell */
	} else {
		err = batch_write(w, errbuf, sizeof(errbuf));
	}
	if (err != IL_OK) {
		store_failed(w, err, errbuf);
		return err;
	}
	store_ok(w);
	commit_parts(w, false, false);
	return IL_OK;
}

/* ---- messages and rebalances ---- */

static void
handle_message(il_dlworker *w, rd_kafka_message_t *msg)
{
	struct part *p;
	char errbuf[512];
	int t;

	if (msg->err != RD_KAFKA_RESP_ERR_NO_ERROR) {
		if (msg->err != RD_KAFKA_RESP_ERR__PARTITION_EOF)
			il_log_warn("consumer error", IL_STR("reason", rd_kafka_message_errstr(msg)));
		if (il_consumer_fatal(w->consumer, errbuf, sizeof(errbuf)) != IL_OK)
			set_fatal(w, IL_ERR_FATAL, errbuf);
		rd_kafka_message_destroy(msg);
		return;
	}
	t = topic_index(w, rd_kafka_topic_name(msg->rkt));
	p = t >= 0 ? part_find(w, t, msg->partition) : NULL;
	/* A late message of a partition given up, or one fetched again after a pause. */
	if (p == NULL || p->revoking || (p->next >= 0 && msg->offset < p->next)) {
		rd_kafka_message_destroy(msg);
		return;
	}
	if (w->n == w->cap)
		batch_grow(w);
	if (w->n == 0)
		w->batch_first = il_timers_now_ms();
	w->batch[w->n++] = msg;
	p->next = msg->offset + 1;
	il_metric_inc(w->m_messages, 1);
	held_update(w);
}

/*
 * Partitions are being given up: their batch is written and committed if
 * the store takes it (one attempt: the group waits), else dropped
 * uncommitted, for the next owner to read again.
 */
static void
give_up(il_dlworker *w)
{
	char errbuf[1024];
	bool theirs = false;
	size_t i;
	il_err err;

	for (i = 0; i < w->n && !theirs; i++) {
		rd_kafka_message_t *msg = w->batch[i];
		struct part *p = part_find(w, topic_index(w, rd_kafka_topic_name(msg->rkt)), msg->partition);

		theirs = p == NULL || p->revoking;
	}
	if (theirs) {
		err = batch_write(w, errbuf, sizeof(errbuf));
		if (err == IL_OK) {
			store_ok(w);
			/* the partitions kept were in the batch too */
			commit_parts(w, false, false);
		} else {
			il_log_warn("partitions revoked while their batch cannot be written: dropped uncommitted, "
			    "the next owner reads it again", IL_STR("reason", errbuf), IL_INT("held", (long long)w->n));
			if (err != IL_ERR_TRANSIENT)
				store_failed(w, err, errbuf);
			batch_drop(w, false);
		}
	}
	commit_parts(w, true, true);
}

static void
on_rebalance(il_consumer *c, bool assigned, const rd_kafka_topic_partition_list_t *parts, void *ctx)
{
	il_dlworker *w = ctx;
	struct part *p;
	size_t k;
	int i, t;

	(void)c;
	for (i = 0; i < parts->cnt; i++) {
		t = topic_index(w, parts->elems[i].topic);
		if (t < 0)
			continue;
		p = part_find(w, t, parts->elems[i].partition);
		if (!assigned) {
			if (p != NULL)
				p->revoking = true;
			continue;
		}
		if (p == NULL) {
			/* No limit: a partition left out would never be stored nor committed. */
			if (w->nparts == w->partcap) {
				w->partcap = w->partcap == 0 ? 64 : w->partcap * 2;
				w->parts = il_xrealloc(w->parts, w->partcap * sizeof(*w->parts));
			}
			p = &w->parts[w->nparts++];
			p->topic = t;
			p->partition = parts->elems[i].partition;
		}
		p->next = -1;
		p->committed = -1;
		p->revoking = false;
		/* A re-assigned partition comes back running (kafka.h). */
		if (w->paused)
			il_consumer_pause(w->consumer, w->topics[t], p->partition);
	}
	if (!assigned) {
		give_up(w);
		for (k = 0; k < w->nparts;) {
			if (w->parts[k].revoking)
				w->parts[k] = w->parts[--w->nparts];
			else
				k++;
		}
	}
	il_log_info(assigned ? "partitions assigned" : "partitions given up", IL_INT("count", parts->cnt),
	    IL_INT("assigned_now", (long long)w->nparts));
}

/* ---- the loop ---- */

/* Takes what the consumer has, waiting up to @p wait_ms for the first. */
static void
take(il_dlworker *w, int wait_ms)
{
	rd_kafka_message_t *msg;
	size_t taken = 0;

	/* Polled even while paused: rebalances are served there, and
	 * messages fetched before the pause still come (kept, not lost). */
	while ((msg = il_consumer_poll(w->consumer, taken == 0 ? wait_ms : 0)) != NULL) {
		handle_message(w, msg);
		if (++taken >= (size_t)w->batch_size || (!w->store_down && w->n >= (size_t)w->batch_size))
			break;
	}
}

static int
poll_wait(il_dlworker *w, long long now)
{
	long long wait = D_IDLE_MS;

	if (w->store_down)
		wait = w->retry_at - now;
	else if (w->n > 0)
		wait = w->batch_first + w->batch_ms - now;
	if (wait > D_IDLE_MS)
		wait = D_IDLE_MS;
	return wait < 0 ? 0 : (int)wait;
}

/* Stopping: the batch goes to the store (trying for a while), then the final commits. */
static void
finish(il_dlworker *w)
{
	long long deadline = il_timers_now_ms() + D_SHUTDOWN_MS;
	char errbuf[1024];
	il_err err;

	il_log_info("stopping: writing the batch", IL_INT("held", (long long)w->n));
	while (w->n > 0 && w->fatal == IL_OK) {
		err = batch_write(w, errbuf, sizeof(errbuf));
		if (err == IL_OK) {
			store_ok(w);
			break;
		}
		if (err != IL_ERR_TRANSIENT) {
			store_failed(w, err, errbuf);
			break;
		}
		if (il_timers_now_ms() >= deadline) {
			il_log_warn("stopping with the batch unwritten and uncommitted: it is read again at the next "
			    "start", IL_STR("reason", errbuf), IL_INT("held", (long long)w->n));
			return;
		}
		w->failures++;
		/* il_sig's stop flag is already set: nap() would not wait. */
		{
			struct timespec ts = { 0, 200 * 1000000L };

			nanosleep(&ts, NULL);
		}
	}
	if (w->n == 0)
		commit_parts(w, true, false);
}

il_err
il_dlworker_run(il_dlworker *w, char *errbuf, size_t errsz)
{
	long long now, last_trim = il_timers_now_ms();

	if (il_consumer_subscribe(w->consumer, w->topics, 2, errbuf, errsz) != IL_OK)
		return IL_ERR_FATAL;
	il_log_info("consuming", IL_STR("dead_letter_topic", w->topics[T_DLQ]),
	    IL_STR("results_topic", w->topics[T_RESULTS]),
	    IL_STR("group", il_conf_get(w->env.conf, "deadletter.group.id")),
	    IL_INT("batch_size", w->batch_size), IL_INT("batch_ms", w->batch_ms));
	while (!il_sig_stop_requested() && w->fatal == IL_OK) {
		if (il_sig_take_reload() && w->env.reload != NULL)
			w->env.reload(w->env.reload_ctx);
		take(w, poll_wait(w, il_timers_now_ms()));
		now = il_timers_now_ms();
		if (w->store_down) {
			if (now >= w->retry_at)
				flush(w);
		} else if (w->n > 0 && (w->n >= (size_t)w->batch_size || now - w->batch_first >= w->batch_ms)) {
			flush(w);
		}
		/* librdkafka's threads free the fetch buffers this thread held:
		 * glibc keeps the holes unless they are given back. */
		if (now - last_trim >= D_TRIM_EVERY_MS) {
			malloc_trim(0);
			last_trim = now;
		}
	}
	if (w->fatal == IL_OK)
		finish(w);
	if (w->fatal != IL_OK) {
		il_err_setf(errbuf, errsz, "%s", w->fatal_msg);
		return w->fatal;
	}
	return IL_OK;
}

/* ---- start ---- */

il_err
il_dlworker_prepare(il_dlworker *w, char *errbuf, size_t errsz)
{
	const char *dir = il_conf_get(w->env.conf, "audit.migrations.dir");
	char reason[1024];
	long long wait;
	int version = 0, attempt = 0;
	il_err err;

	for (;;) {
		if (il_sig_stop_requested()) {
			il_err_setf(errbuf, errsz, "stopped before the audit store was ready");
			return IL_ERR_CANCELLED;
		}
		if (w->audit == NULL) {
			w->audit = il_audit_connect(w->conninfo, reason, sizeof(reason));
			err = w->audit != NULL ? IL_OK : IL_ERR_TRANSIENT;
		} else if (!il_audit_connected(w->audit)) {
			err = il_audit_reconnect(w->audit, reason, sizeof(reason));
		} else {
			err = IL_OK;
		}
		if (err == IL_OK)
			err = il_audit_migrate(w->audit, dir, &version, reason, sizeof(reason));
		if (err == IL_OK)
			break;
		if (err != IL_ERR_TRANSIENT) {
			if (err == IL_ERR_CONFIG)
				il_err_setf(errbuf, errsz, "audit.migrations.dir: %s", reason);
			else
				il_err_setf(errbuf, errsz, "%s", reason);
			return err;
		}
		attempt++;
		wait = il_retry_backoff_ms(attempt, D_BACKOFF_MS * 5, D_BACKOFF_MAX_MS, &w->rng);
		il_log_warn("audit store unavailable at start; trying again", IL_STR("conf_key", "audit.db.url"),
		    IL_STR("reason", reason), IL_INT("attempt", attempt), IL_INT("retry_in_ms", wait));
		nap(wait);
	}
	il_log_info("audit store ready", IL_INT("schema_version", version));
	store_ok(w);
	return IL_OK;
}

static void
make_metrics(il_dlworker *w)
{
	static const double bounds[] = { 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10 };
	il_metrics *m = w->env.metrics;
	char labels[64];
	size_t i;

	for (i = 0; i < 2; i++) {
		il_metrics_label(labels, sizeof(labels), "kind", kind_names[i]);
		w->m_rows[i] = il_metrics_counter(m, "imislink_deadletter_rows_total",
		    "Messages written to the audit store, by row kind (duplicates included)", labels);
	}
	w->m_duplicates = il_metrics_counter(m, "imislink_deadletter_duplicates_total",
	    "Messages the store already held (read again after a restart or rebalance): skipped", NULL);
	w->m_batches = il_metrics_counter(m, "imislink_deadletter_batches_total",
	    "Batches written, one transaction each", NULL);
	w->m_write_seconds = il_metrics_histogram(m, "imislink_deadletter_write_seconds",
	    "Duration of a batch's write (conversion excluded)", NULL, bounds, sizeof(bounds) / sizeof(bounds[0]));
	w->m_store_up = il_metrics_gauge(m, "imislink_deadletter_store_up",
	    "1 while the audit store takes writes", NULL);
	w->m_undecodable = il_metrics_counter(m, "imislink_deadletter_undecodable_total",
	    "Messages stored whose value does not decode (dead letters of class undecodable and others)", NULL);
	w->m_messages = il_metrics_counter(m, "imislink_deadletter_messages_total",
	    "Messages taken from the dead-letter and results topics", NULL);
	w->m_write_failures = il_metrics_counter(m, "imislink_deadletter_write_failures_total",
	    "Batch writes that failed (retried)", NULL);
	w->m_paused = il_metrics_gauge(m, "imislink_deadletter_fetch_paused",
	    "1 while fetching is paused (the audit store fails)", NULL);
	w->m_held = il_metrics_gauge(m, "imislink_deadletter_batch_messages",
	    "Messages held, not yet in the store", NULL);
}

il_dlworker *
il_dlworker_new(const il_dlworker_env *env, char *errbuf, size_t errsz)
{
	il_dlworker *w = il_xcalloc(1, sizeof(*w));
	const il_conf *conf = env->conf;
	PQconninfoOption *opts;
	char *perr = NULL;

	w->env = *env;
	w->fatal = IL_OK;
	w->conninfo = il_conf_get(conf, "audit.db.url");
	w->topics[T_DLQ] = il_conf_get(conf, "topic.dlq");
	w->topics[T_RESULTS] = il_conf_get(conf, "topic.results");
	w->batch_ms = il_conf_get_int(conf, "deadletter.batch.ms");
	w->batch_size = il_conf_get_int(conf, "deadletter.batch.size");
	w->rng = (uint64_t)il_timers_now_ms() * 0x9E3779B97F4A7C15ull ^ (uint64_t)getpid();
	atomic_store(&w->health, IL_HEALTH_DOWN);
	make_metrics(w);
	il_metric_set(w->m_store_up, 0);
	/* A connection string that does not parse is a configuration error:
	 * no retry makes it right (an unreachable server is retried). */
	opts = PQconninfoParse(w->conninfo, &perr);
	if (opts == NULL) {
		/* libpq's reason quotes the string, a URI whole: it may hold a
		 * password, so nothing of it is shown. */
		il_err_setf(errbuf, errsz, "%s", perr != NULL ? "audit.db.url: invalid connection string (see "
		    "libpq's connection string syntax; the value is not shown: it may hold a password)" :
		    "audit.db.url: could not parse the connection string: out of memory");
		PQfreemem(perr);
		goto fail;
	}
	PQconninfoFree(opts);
	if (strcmp(w->topics[T_DLQ], w->topics[T_RESULTS]) == 0) {
		il_err_setf(errbuf, errsz, "topic.results: the same topic as topic.dlq (\"%s\")", w->topics[T_DLQ]);
		goto fail;
	}
	w->sd = il_serde_new(conf, env->schemas, errbuf, errsz);
	if (w->sd == NULL)
		goto fail;
	w->consumer = il_consumer_new(conf, il_conf_get(conf, "deadletter.group.id"), on_rebalance, w,
	    errbuf, errsz);
	if (w->consumer == NULL)
		goto fail;
	return w;
fail:
	il_dlworker_destroy(w);
	return NULL;
}

void
il_dlworker_destroy(il_dlworker *w)
{
	if (w == NULL)
		return;
	/* The consumer first: leaving the group runs the revocation (a last
	 * write and commit when the store takes it). */
	il_consumer_destroy(w->consumer);
	w->consumer = NULL;
	batch_drop(w, true);
	il_serde_destroy(w->sd);
	il_audit_destroy(w->audit);
	free(w->parts);
	free(w->batch);
	free(w->recs);
	free(w->dls);
	free(w->res);
	free(w);
}

il_health
il_dlworker_health(il_buf *out, void *ctx)
{
	il_dlworker *w = ctx;
	int h = atomic_load(&w->health);

	if (il_buf_printf(out, "\"audit_store\":\"%s\",\"held\":%ld", atomic_load(&w->store_up) ? "up" : "down",
	    (long)atomic_load(&w->held)) != IL_OK)
		return IL_HEALTH_DEGRADED;
	return (il_health)h;
}
