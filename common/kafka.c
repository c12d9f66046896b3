/*
 * kafka.c - the producer and consumer of every imislink program.
 *
 * librdkafka's error classes, as its examples handle them:
 *  - QUEUE_FULL: poll (serving delivery reports frees room) and retry within
 *    the caller's bound;
 *  - transient errors (a broker went away, all brokers are down): librdkafka
 *    recovers by itself, so we only log them, at most one identical line per
 *    ten seconds so a broker outage does not flood the log;
 *  - fatal errors (a fenced idempotent producer, a fenced static member): the
 *    handle is unusable; the first one is remembered and the caller asks for
 *    it with il_producer_fatal()/il_consumer_fatal() and stops its loop.
 */
#include "kafka.h"

#include <inttypes.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "log.h"
#include "timers.h"
#include "xalloc.h"

/* Identical warnings within this window are counted, not written. */
#define IL_KAFKA_LOG_WINDOW_MS 10000
/* Distinct warnings tracked at once for that; the oldest is forgotten. */
#define IL_KAFKA_LOG_SLOTS 32
/* Bound on the metadata and offset look-ups of il_consumer_assign_all(). */
#define IL_KAFKA_QUERY_TIMEOUT_MS 10000
/* How long a QUEUE_FULL producer polls before trying again. */
#define IL_KAFKA_QUEUE_FULL_POLL_MS 100
/* il_producer_destroy(): flush bound, then the bound for serving purge reports. */
#define IL_KAFKA_CLOSE_FLUSH_MS 10000
#define IL_KAFKA_CLOSE_PURGE_MS 1000
/* il_consumer_destroy(): how long leaving the group may take.  A clean leave
 * takes milliseconds; a JoinGroup the coordinator holds during a rebalance
 * would keep rd_kafka_consumer_close() waiting up to the rebalance timeout. */
#define IL_KAFKA_CLOSE_GROUP_MS 15000
#define IL_KAFKA_CLOSE_POLL_MS 100

/* One recently written warning, for the rate limit. */
typedef struct il_kafka_seen {
	uint64_t hash;          /* hash of the line's text; 0 = free slot */
	int64_t last_ms;        /* when it was last written */
	unsigned suppressed;    /* identical lines dropped since */
} il_kafka_seen;

/*
 * State shared by producer and consumer.  It is the first member of both, so
 * the callbacks, which only get rd_kafka_opaque(), can find it.
 */
typedef struct il_kafka_base {
	rd_kafka_t *rk;                 /* the handle; NULL while it is made */
	pthread_mutex_t lock;           /* guards the rest: the polling thread's callbacks and any caller share it */
	bool fatal;                     /* a fatal error was raised */
	char fatal_reason[512];         /* "ERR_NAME: reason" of the first one */
	il_kafka_seen seen[IL_KAFKA_LOG_SLOTS]; /* rate limit of warnings */
} il_kafka_base;

struct il_producer {
	il_kafka_base base;     /* must be first */
	il_delivery_cb *cb;     /* told each delivery outcome; may be NULL */
	void *cb_ctx;           /* cb's argument */
};

/* A partition the caller paused. */
typedef struct il_paused {
	char *topic;            /* owned copy */
	int32_t partition;      /* partition id */
} il_paused;

struct il_consumer {
	il_kafka_base base;     /* must be first */
	il_rebalance_cb *cb;    /* told assignments and revocations; may be NULL */
	void *cb_ctx;           /* cb's argument */
	bool grouped;           /* false: a made-up group.id only to allow assign */
	bool cooperative;       /* incremental (cooperative-sticky) rebalances */
	il_paused *paused;      /* partitions paused now, see il_consumer_pause() */
	size_t npaused;         /* entries in use */
	size_t cappaused;       /* entries allocated */
};

static void
il_kafka_base_init(il_kafka_base *b)
{
	memset(b, 0, sizeof(*b));
	pthread_mutex_init(&b->lock, NULL);
}

static void
il_kafka_base_fini(il_kafka_base *b)
{
	pthread_mutex_destroy(&b->lock);
}

/* FNV-1a over @p a then @p b. */
static uint64_t
il_kafka_hash(const char *a, const char *b, size_t blen)
{
	uint64_t h = 1469598103934665603ULL;
	size_t i;

	for (; *a != '\0'; a++)
		h = (h ^ (unsigned char)*a) * 1099511628211ULL;
	h = (h ^ 0xff) * 1099511628211ULL;
	for (i = 0; i < blen; i++)
		h = (h ^ (unsigned char)b[i]) * 1099511628211ULL;
	return h != 0 ? h : 1;
}

/*
 * @returns true when the line (@p kind, @p text) may be written now, with the
 * number of identical lines dropped since it was last written in @p dropped.
 */
static bool
il_kafka_may_log(il_kafka_base *b, const char *kind, const char *text, unsigned *dropped)
{
	const char *tail;
	size_t len, i, victim = 0;
	uint64_t h;
	int64_t now = il_timers_now_ms();
	bool ok = true;

	/* librdkafka ends connection errors with "(after 3ms in state CONNECT)",
	 * which differs each time although the line says the same thing. */
	tail = strstr(text, " (after ");
	len = tail != NULL ? (size_t)(tail - text) : strlen(text);
	h = il_kafka_hash(kind, text, len);
	*dropped = 0;
	pthread_mutex_lock(&b->lock);
	for (i = 0; i < IL_KAFKA_LOG_SLOTS; i++) {
		if (b->seen[i].hash == h)
			break;
		if (b->seen[i].last_ms < b->seen[victim].last_ms)
			victim = i;
	}
	if (i == IL_KAFKA_LOG_SLOTS) {
		i = victim;
		b->seen[i].hash = h;
		b->seen[i].suppressed = 0;
	} else if (now - b->seen[i].last_ms < IL_KAFKA_LOG_WINDOW_MS) {
		b->seen[i].suppressed++;
		ok = false;
	}
	if (ok) {
		*dropped = b->seen[i].suppressed;
		b->seen[i].suppressed = 0;
		b->seen[i].last_ms = now;
	}
	pthread_mutex_unlock(&b->lock);
	return ok;
}

/* Remembers librdkafka's fatal error, if one was raised; logs the first. */
static void
il_kafka_note_fatal(il_kafka_base *b, rd_kafka_t *rk)
{
	char reason[400];
	rd_kafka_resp_err_t orig;
	bool first = false;

	orig = rd_kafka_fatal_error(rk, reason, sizeof(reason));
	if (orig == RD_KAFKA_RESP_ERR_NO_ERROR)
		return;
	pthread_mutex_lock(&b->lock);
	if (!b->fatal) {
		b->fatal = true;
		snprintf(b->fatal_reason, sizeof(b->fatal_reason), "%s: %s",
		    rd_kafka_err2name(orig), reason);
		first = true;
	}
	pthread_mutex_unlock(&b->lock);
	if (first)
		il_log_error("kafka fatal error", IL_STR("client", rd_kafka_name(rk)),
		    IL_STR("error", rd_kafka_err2name(orig)), IL_STR("reason", reason));
}

static il_err
il_kafka_fatal(il_kafka_base *b, char *errbuf, size_t errsz)
{
	il_err err = IL_OK;

	il_kafka_note_fatal(b, b->rk);
	pthread_mutex_lock(&b->lock);
	if (b->fatal) {
		il_err_setf(errbuf, errsz, "%s", b->fatal_reason);
		err = IL_ERR_FATAL;
	}
	pthread_mutex_unlock(&b->lock);
	return err;
}

static bool
il_kafka_is_fatal(il_kafka_base *b)
{
	bool fatal;

	pthread_mutex_lock(&b->lock);
	fatal = b->fatal;
	pthread_mutex_unlock(&b->lock);
	return fatal;
}

static void
il_kafka_error_cb(rd_kafka_t *rk, int err, const char *reason, void *opaque)
{
	il_kafka_base *b = opaque;
	unsigned dropped;

	if (err == RD_KAFKA_RESP_ERR__FATAL) {
		il_kafka_note_fatal(b, rk);
		return;
	}
	/* Everything else librdkafka retries by itself: tell, do not act. */
	if (!il_kafka_may_log(b, rd_kafka_err2name((rd_kafka_resp_err_t)err), reason, &dropped))
		return;
	il_log_warn("kafka error", IL_STR("client", rd_kafka_name(rk)),
	    IL_STR("error", rd_kafka_err2name((rd_kafka_resp_err_t)err)), IL_STR("reason", reason),
	    IL_INT("suppressed", dropped));
}

static void
il_kafka_log_cb(const rd_kafka_t *rk, int level, const char *fac, const char *buf)
{
	il_kafka_base *b = rd_kafka_opaque(rk);
	unsigned dropped = 0;

	/* syslog levels: 0-3 error, 4 warning, 5-6 notice/info, 7 debug */
	if (level <= 4 && b != NULL && !il_kafka_may_log(b, fac, buf, &dropped))
		return;
	if (level <= 3)
		il_log_error("librdkafka", IL_STR("client", rd_kafka_name(rk)),
		    IL_STR("facility", fac), IL_STR("detail", buf), IL_INT("suppressed", dropped));
	else if (level == 4)
		il_log_warn("librdkafka", IL_STR("client", rd_kafka_name(rk)),
		    IL_STR("facility", fac), IL_STR("detail", buf), IL_INT("suppressed", dropped));
	else if (level <= 6)
		il_log_info("librdkafka", IL_STR("client", rd_kafka_name(rk)),
		    IL_STR("facility", fac), IL_STR("detail", buf));
	else
		il_log_debug("librdkafka", IL_STR("client", rd_kafka_name(rk)),
		    IL_STR("facility", fac), IL_STR("detail", buf));
}

/* What il_kafka_conf_set() works on. */
typedef struct il_kafka_conf_ctx {
	rd_kafka_conf_t *rkconf;        /* the configuration being built */
	rd_kafka_type_t type;           /* whose it is: which guards apply */
	bool guarded;                   /* the operator's properties: check the guards */
} il_kafka_conf_ctx;

/*
 * A property the design's guarantees rest on.  An operator may tune anything
 * else with -X, but not these: a producer that may lose acknowledged events,
 * or a consumer that commits offsets of events not yet handled, would break
 * "nothing lost" without a word.
 */
typedef struct il_kafka_guard {
	rd_kafka_type_t type;   /* the client it applies to */
	const char *name;       /* as rd_kafka_conf_get() knows it (aliases map to it) */
	const char *want;       /* the one effective value allowed */
	const char *why;        /* the reason given when it is refused */
} il_kafka_guard;

static const il_kafka_guard il_kafka_guards[] = {
	{ RD_KAFKA_PRODUCER, "enable.idempotence", "true",
	    "imislink's delivery guarantee needs the idempotent producer (enable.idempotence=true)" },
	{ RD_KAFKA_PRODUCER, "acks", "-1",
	    "imislink's delivery guarantee needs acks=all (idempotent producer)" },
	{ RD_KAFKA_CONSUMER, "enable.auto.commit", "false",
	    "imislink commits an offset only once its event's outcome is durable "
	    "(enable.auto.commit=false)" },
	{ RD_KAFKA_CONSUMER, "enable.auto.offset.store", "false",
	    "imislink stores an offset only once its event's outcome is durable "
	    "(enable.auto.offset.store=false)" },
};

static il_err
il_kafka_conf_set(const char *key, const char *value, void *arg, char *errbuf, size_t errsz)
{
	il_kafka_conf_ctx *ctx = arg;
	char reason[512], have[64];
	size_t i, havesz;

	if (rd_kafka_conf_set(ctx->rkconf, key, value, reason, sizeof(reason)) != RD_KAFKA_CONF_OK) {
		il_err_setf(errbuf, errsz, "invalid librdkafka property \"%s\": %s", key, reason);
		return IL_ERR_CONFIG;
	}
	/* Checked on the effective values, so aliases (request.required.acks,
	 * topic.acks) and spellings (0, False) are caught as well. */
	for (i = 0; ctx->guarded && i < sizeof(il_kafka_guards) / sizeof(il_kafka_guards[0]); i++) {
		if (il_kafka_guards[i].type != ctx->type)
			continue;
		havesz = sizeof(have);
		/* Unknown: a topic property no one has set yet, still at its default. */
		if (rd_kafka_conf_get(ctx->rkconf, il_kafka_guards[i].name, have, &havesz) !=
		    RD_KAFKA_CONF_OK || strcmp(have, il_kafka_guards[i].want) == 0)
			continue;
		il_err_setf(errbuf, errsz, "%s=%s: refused: %s", key, value, il_kafka_guards[i].why);
		return IL_ERR_CONFIG;
	}
	return IL_OK;
}

/*
 * Builds a librdkafka configuration for a client of @p type: the imislink
 * keys, then @p defaults (key, value, ..., NULL), then the -X/rdkafka.*
 * properties, which come last so that an operator can override anything but
 * the guarded properties above.
 */
static rd_kafka_conf_t *
il_kafka_conf_new(const il_conf *conf, rd_kafka_type_t type, const char *const *defaults,
    il_kafka_base *b, char *errbuf, size_t errsz)
{
	il_kafka_conf_ctx ctx = { rd_kafka_conf_new(), type, false };
	const char *client_id = il_conf_get(conf, "kafka.client.id");

	if (il_kafka_conf_set("bootstrap.servers", il_conf_get(conf, "kafka.bootstrap.servers"),
	    &ctx, errbuf, errsz) != IL_OK)
		goto fail;
	if (client_id[0] != '\0' &&
	    il_kafka_conf_set("client.id", client_id, &ctx, errbuf, errsz) != IL_OK)
		goto fail;
	for (; defaults[0] != NULL; defaults += 2)
		if (il_kafka_conf_set(defaults[0], defaults[1], &ctx, errbuf, errsz) != IL_OK)
			goto fail;
	ctx.guarded = true;
	if (il_conf_rdkafka_foreach(conf, il_kafka_conf_set, &ctx, errbuf, errsz) != IL_OK)
		goto fail;
	/*
	 * librdkafka's log lines wait in a queue served by the caller's poll
	 * (see il_kafka_base_start()) instead of being written from its broker
	 * threads: a slow stderr must not stall a broker connection.  Set after
	 * the operator's properties, as the callbacks rely on it.
	 */
	if (il_kafka_conf_set("log.queue", "true", &ctx, errbuf, errsz) != IL_OK)
		goto fail;
	rd_kafka_conf_set_error_cb(ctx.rkconf, il_kafka_error_cb);
	rd_kafka_conf_set_log_cb(ctx.rkconf, il_kafka_log_cb);
	rd_kafka_conf_set_opaque(ctx.rkconf, b);
	return ctx.rkconf;
fail:
	rd_kafka_conf_destroy(ctx.rkconf);
	return NULL;
}

/* Makes the handle of @p b from @p rkconf, which is consumed either way. */
static bool
il_kafka_base_start(il_kafka_base *b, rd_kafka_type_t type, rd_kafka_conf_t *rkconf,
    char *errbuf, size_t errsz)
{
	rd_kafka_resp_err_t rerr;
	char reason[512];

	b->rk = rd_kafka_new(type, rkconf, reason, sizeof(reason));
	if (b->rk == NULL) {
		/* rd_kafka_new() takes the configuration only when it succeeds. */
		rd_kafka_conf_destroy(rkconf);
		il_err_setf(errbuf, errsz, "could not create Kafka %s: %s",
		    type == RD_KAFKA_PRODUCER ? "producer" : "consumer", reason);
		return false;
	}
	/* Log lines go to the main queue: rd_kafka_poll() serves them, and for a
	 * consumer, whose main queue il_consumer_new() forwards to the consumer
	 * queue, rd_kafka_consumer_poll(). */
	rerr = rd_kafka_set_log_queue(b->rk, NULL);
	if (rerr != RD_KAFKA_RESP_ERR_NO_ERROR) {
		il_err_setf(errbuf, errsz, "could not create Kafka %s: could not set its log queue: %s",
		    type == RD_KAFKA_PRODUCER ? "producer" : "consumer", rd_kafka_err2str(rerr));
		rd_kafka_destroy(b->rk);
		b->rk = NULL;
		return false;
	}
	return true;
}

/* Maps a librdkafka error to our classes for delivery reports and sends. */
static il_err
il_kafka_err_class(rd_kafka_resp_err_t rerr)
{
	switch (rerr) {
	case RD_KAFKA_RESP_ERR_NO_ERROR:
		return IL_OK;
	case RD_KAFKA_RESP_ERR__FATAL:
		return IL_ERR_FATAL;
	case RD_KAFKA_RESP_ERR_MSG_SIZE_TOO_LARGE:
	case RD_KAFKA_RESP_ERR__UNKNOWN_TOPIC:
	case RD_KAFKA_RESP_ERR__UNKNOWN_PARTITION:
	case RD_KAFKA_RESP_ERR_UNKNOWN_TOPIC_OR_PART:
	case RD_KAFKA_RESP_ERR__INVALID_ARG:
	case RD_KAFKA_RESP_ERR_TOPIC_AUTHORIZATION_FAILED:
	case RD_KAFKA_RESP_ERR_INVALID_RECORD:
	case RD_KAFKA_RESP_ERR_TOPIC_EXCEPTION:
		return IL_ERR_INVALID;
	default:
		return IL_ERR_TRANSIENT;
	}
}

static void
il_producer_dr(rd_kafka_t *rk, const rd_kafka_message_t *rkm, void *opaque)
{
	il_producer *p = opaque;
	il_err err = il_kafka_err_class(rkm->err);

	(void)rk;
	if (err == IL_ERR_FATAL || (err != IL_OK && il_kafka_is_fatal(&p->base)))
		err = IL_ERR_FATAL;
	/* Not rd_kafka_message_errstr(): for a produced message it returns the
	 * payload, which is no C string. */
	if (p->cb != NULL)
		p->cb(rkm->_private, err, err == IL_OK ? "" : rd_kafka_err2str(rkm->err),
		    rd_kafka_topic_name(rkm->rkt), rkm->partition, rkm->offset, p->cb_ctx);
}

il_producer *
il_producer_new(const il_conf *conf, il_delivery_cb *cb, void *cb_ctx,
    char *errbuf, size_t errsz)
{
	return il_producer_new_tuned(conf, NULL, cb, cb_ctx, errbuf, errsz);
}

il_producer *
il_producer_new_tuned(const il_conf *conf, const char *const *tuning, il_delivery_cb *cb, void *cb_ctx,
    char *errbuf, size_t errsz)
{
	/* acks=all and ordered retries: an event counts only once it is durable. */
	const char *defaults[2 + 2 * IL_PRODUCER_TUNING_MAX + 1] = { "enable.idempotence", "true" };
	il_producer *p = il_xcalloc(1, sizeof(*p));
	rd_kafka_conf_t *rkconf;
	size_t n = 2;

	for (; tuning != NULL && tuning[0] != NULL && n < 2 + 2 * IL_PRODUCER_TUNING_MAX; tuning += 2) {
		defaults[n++] = tuning[0];
		defaults[n++] = tuning[1];
	}
	defaults[n] = NULL;
	il_kafka_base_init(&p->base);
	p->cb = cb;
	p->cb_ctx = cb_ctx;
	rkconf = il_kafka_conf_new(conf, RD_KAFKA_PRODUCER, defaults, &p->base, errbuf, errsz);
	if (rkconf == NULL)
		goto fail;
	rd_kafka_conf_set_dr_msg_cb(rkconf, il_producer_dr);
	if (!il_kafka_base_start(&p->base, RD_KAFKA_PRODUCER, rkconf, errbuf, errsz))
		goto fail;
	return p;
fail:
	il_kafka_base_fini(&p->base);
	free(p);
	return NULL;
}

static rd_kafka_headers_t *
il_producer_headers(const il_kafka_header *hdrs, size_t nhdrs)
{
	rd_kafka_headers_t *rkhdrs;
	size_t i;

	if (nhdrs == 0)
		return NULL;
	rkhdrs = rd_kafka_headers_new(nhdrs);
	for (i = 0; i < nhdrs; i++)
		rd_kafka_header_add(rkhdrs, hdrs[i].name, -1, hdrs[i].value,
		    hdrs[i].value != NULL ? (ssize_t)hdrs[i].len : 0);
	return rkhdrs;
}

il_err
il_producer_send(il_producer *p, const char *topic, int32_t partition,
    const void *key, size_t keylen, const void *value, size_t vallen,
    const il_kafka_header *hdrs, size_t nhdrs, void *msg_opaque, int block_ms)
{
	rd_kafka_headers_t *rkhdrs;
	rd_kafka_resp_err_t rerr;
	int64_t deadline = il_timers_now_ms() + (block_ms > 0 ? block_ms : 0);
	int64_t left;
	il_err err;

	if (il_kafka_is_fatal(&p->base))
		return IL_ERR_FATAL;
	/* producev() takes the headers only when it succeeds, so they survive retries. */
	rkhdrs = il_producer_headers(hdrs, nhdrs);
	for (;;) {
		rerr = rd_kafka_producev(p->base.rk,
		    RD_KAFKA_V_TOPIC(topic),
		    RD_KAFKA_V_PARTITION(partition),
		    RD_KAFKA_V_MSGFLAGS(RD_KAFKA_MSG_F_COPY),
		    RD_KAFKA_V_KEY(key, keylen),
		    /* Not written to: RD_KAFKA_MSG_F_COPY copies it. */
		    RD_KAFKA_V_VALUE((void *)value, vallen),
		    RD_KAFKA_V_HEADERS(rkhdrs),
		    RD_KAFKA_V_OPAQUE(msg_opaque),
		    RD_KAFKA_V_END);
		if (rerr == RD_KAFKA_RESP_ERR_NO_ERROR)
			return IL_OK;
		if (rerr != RD_KAFKA_RESP_ERR__QUEUE_FULL)
			break;
		left = deadline - il_timers_now_ms();
		if (left <= 0)
			break;
		/* Serving delivery reports is what empties the queue. */
		if (left > IL_KAFKA_QUEUE_FULL_POLL_MS)
			left = IL_KAFKA_QUEUE_FULL_POLL_MS;
		rd_kafka_poll(p->base.rk, (int)left);
	}
	if (rkhdrs != NULL)
		rd_kafka_headers_destroy(rkhdrs);
	if (rerr == RD_KAFKA_RESP_ERR__QUEUE_FULL)
		return IL_ERR_TIMEOUT;
	err = il_kafka_err_class(rerr);
	if (err == IL_ERR_FATAL) {
		il_kafka_note_fatal(&p->base, p->base.rk);
		return IL_ERR_FATAL;
	}
	il_log_warn("could not queue message", IL_STR("topic", topic),
	    IL_INT("partition", partition), IL_STR("error", rd_kafka_err2name(rerr)),
	    IL_STR("reason", rd_kafka_err2str(rerr)));
	return err;
}

int
il_producer_poll(il_producer *p, int timeout_ms)
{
	return rd_kafka_poll(p->base.rk, timeout_ms);
}

il_err
il_producer_flush(il_producer *p, int timeout_ms)
{
	if (rd_kafka_flush(p->base.rk, timeout_ms) == RD_KAFKA_RESP_ERR__TIMED_OUT)
		return IL_ERR_TIMEOUT;
	return IL_OK;
}

int
il_producer_outq_len(il_producer *p)
{
	return rd_kafka_outq_len(p->base.rk);
}

il_err
il_producer_fatal(il_producer *p, char *errbuf, size_t errsz)
{
	return il_kafka_fatal(&p->base, errbuf, errsz);
}

rd_kafka_t *
il_producer_handle(il_producer *p)
{
	return p->base.rk;
}

void
il_producer_destroy(il_producer *p)
{
	rd_kafka_t *rk;
	int64_t deadline;
	int left;

	if (p == NULL)
		return;
	rk = p->base.rk;
	if (rd_kafka_flush(rk, IL_KAFKA_CLOSE_FLUSH_MS) == RD_KAFKA_RESP_ERR__TIMED_OUT) {
		left = rd_kafka_outq_len(rk);
		/* Purged messages get a failed delivery report, so the caller
		 * learns which were lost and can release their opaques. */
		rd_kafka_purge(rk, RD_KAFKA_PURGE_F_QUEUE | RD_KAFKA_PURGE_F_INFLIGHT);
		deadline = il_timers_now_ms() + IL_KAFKA_CLOSE_PURGE_MS;
		while (rd_kafka_outq_len(rk) > 0 && il_timers_now_ms() < deadline)
			rd_kafka_poll(rk, 100);
		il_log_warn("kafka producer closed with undelivered messages",
		    IL_STR("client", rd_kafka_name(rk)), IL_INT("messages", left),
		    IL_INT("unreported", rd_kafka_outq_len(rk)));
	}
	rd_kafka_destroy(rk);
	il_kafka_base_fini(&p->base);
	free(p);
}

/* @returns the index of (topic, partition) in the paused set, or -1. */
static long
il_consumer_paused_find(const il_consumer *c, const char *topic, int32_t partition)
{
	size_t i;

	for (i = 0; i < c->npaused; i++)
		if (c->paused[i].partition == partition && strcmp(c->paused[i].topic, topic) == 0)
			return (long)i;
	return -1;
}

static void
il_consumer_paused_add(il_consumer *c, const char *topic, int32_t partition)
{
	if (c->npaused == c->cappaused) {
		c->cappaused = c->cappaused ? c->cappaused * 2 : 8;
		c->paused = il_xrealloc(c->paused, c->cappaused * sizeof(*c->paused));
	}
	c->paused[c->npaused].topic = il_xstrdup(topic);
	c->paused[c->npaused].partition = partition;
	c->npaused++;
}

static void
il_consumer_paused_del(il_consumer *c, size_t i)
{
	free(c->paused[i].topic);
	c->paused[i] = c->paused[--c->npaused];
}

/*
 * Resumes and forgets the paused partitions among @p parts (NULL: all) before
 * they leave the assignment.  A partition assigned again then starts unpaused
 * from its committed offset whatever librdkafka does with the pause flag of an
 * unassigned partition, and our set stays true to librdkafka's.
 */
static void
il_consumer_unpause_leaving(il_consumer *c, const rd_kafka_topic_partition_list_t *parts)
{
	rd_kafka_topic_partition_list_t *resume;
	size_t i = 0;

	if (c->npaused == 0)
		return;
	resume = rd_kafka_topic_partition_list_new((int)c->npaused);
	while (i < c->npaused) {
		if (parts != NULL && rd_kafka_topic_partition_list_find(parts,
		    c->paused[i].topic, c->paused[i].partition) == NULL) {
			i++;
			continue;
		}
		rd_kafka_topic_partition_list_add(resume, c->paused[i].topic,
		    c->paused[i].partition);
		il_consumer_paused_del(c, i);
	}
	if (resume->cnt > 0)
		rd_kafka_resume_partitions(c->base.rk, resume);
	rd_kafka_topic_partition_list_destroy(resume);
}

static void
il_consumer_rebalance(rd_kafka_t *rk, rd_kafka_resp_err_t rerr,
    rd_kafka_topic_partition_list_t *parts, void *opaque)
{
	il_consumer *c = opaque;
	bool coop = c->cooperative;
	rd_kafka_error_t *error = NULL;
	rd_kafka_resp_err_t aerr = RD_KAFKA_RESP_ERR_NO_ERROR;

	switch (rerr) {
	case RD_KAFKA_RESP_ERR__ASSIGN_PARTITIONS:
		if (coop)
			error = rd_kafka_incremental_assign(rk, parts);
		else
			aerr = rd_kafka_assign(rk, parts);
		il_log_info("kafka partitions assigned", IL_STR("client", rd_kafka_name(rk)),
		    IL_INT("partitions", parts->cnt),
		    IL_STR("protocol", coop ? "COOPERATIVE" : "EAGER"));
		if (c->cb != NULL && error == NULL && aerr == RD_KAFKA_RESP_ERR_NO_ERROR)
			c->cb(c, true, parts, c->cb_ctx);
		break;
	case RD_KAFKA_RESP_ERR__REVOKE_PARTITIONS:
		if (rd_kafka_assignment_lost(rk))
			il_log_warn("kafka partitions lost: commits for them will fail",
			    IL_STR("client", rd_kafka_name(rk)), IL_INT("partitions", parts->cnt));
		else
			il_log_info("kafka partitions revoked", IL_STR("client", rd_kafka_name(rk)),
			    IL_INT("partitions", parts->cnt));
		/* Before giving them up, so finished work can still be committed. */
		if (c->cb != NULL)
			c->cb(c, false, parts, c->cb_ctx);
		il_consumer_unpause_leaving(c, parts);
		if (coop)
			error = rd_kafka_incremental_unassign(rk, parts);
		else
			aerr = rd_kafka_assign(rk, NULL);
		break;
	default:
		il_log_error("kafka rebalance failed", IL_STR("client", rd_kafka_name(rk)),
		    IL_STR("error", rd_kafka_err2name(rerr)));
		il_consumer_unpause_leaving(c, NULL);
		aerr = rd_kafka_assign(rk, NULL);
		break;
	}
	if (error != NULL) {
		il_log_error("could not change kafka assignment",
		    IL_STR("client", rd_kafka_name(rk)),
		    IL_STR("reason", rd_kafka_error_string(error)));
		rd_kafka_error_destroy(error);
	} else if (aerr != RD_KAFKA_RESP_ERR_NO_ERROR) {
		il_log_error("could not change kafka assignment",
		    IL_STR("client", rd_kafka_name(rk)), IL_STR("reason", rd_kafka_err2str(aerr)));
	}
}

/*
 * Whether the configured assignors rebalance incrementally.  Read once from
 * the configuration rather than from rd_kafka_rebalance_protocol() in the
 * callback: that call asks librdkafka's main thread and can wait forever in
 * the callback a closing consumer runs (librdkafka issue #4041).  librdkafka
 * refuses to mix eager and cooperative assignors, and cooperative-sticky is
 * its only cooperative one.
 */
static bool
il_consumer_conf_cooperative(const rd_kafka_conf_t *rkconf)
{
	char value[512];
	size_t size = sizeof(value);

	if (rd_kafka_conf_get(rkconf, "partition.assignment.strategy", value, &size) != RD_KAFKA_CONF_OK)
		return false;
	return strstr(value, "cooperative-sticky") != NULL;
}

/* Reports failed asynchronous commits; a synchronous one returns its own result. */
static void
il_consumer_committed(rd_kafka_t *rk, rd_kafka_resp_err_t rerr,
    rd_kafka_topic_partition_list_t *offsets, void *opaque)
{
	il_kafka_base *b = opaque;
	unsigned dropped;
	int i;

	for (i = 0; rerr == RD_KAFKA_RESP_ERR_NO_ERROR && offsets != NULL && i < offsets->cnt; i++)
		rerr = offsets->elems[i].err;
	if (rerr == RD_KAFKA_RESP_ERR_NO_ERROR || rerr == RD_KAFKA_RESP_ERR__NO_OFFSET)
		return;
	if (!il_kafka_may_log(b, "commit", rd_kafka_err2name(rerr), &dropped))
		return;
	il_log_warn("could not commit offsets", IL_STR("client", rd_kafka_name(rk)),
	    IL_STR("error", rd_kafka_err2name(rerr)), IL_STR("reason", rd_kafka_err2str(rerr)),
	    IL_INT("suppressed", dropped));
}

il_consumer *
il_consumer_new(const il_conf *conf, const char *group_id,
    il_rebalance_cb *cb, void *cb_ctx, char *errbuf, size_t errsz)
{
	/* Manual commits only: an offset is committed once its event's outcome
	 * is durable, never because a timer fired. */
	const char *defaults[] = {
		"group.id", NULL,
		"enable.auto.commit", "false",
		"enable.auto.offset.store", "false",
		"auto.offset.reset", "earliest",
		"enable.partition.eof", "false",
		/* librdkafka pre-fetches up to 64 MiB by default; a consumer here is
		 * bound by what follows (openIMIS, stdout), so 4 MiB ahead is plenty
		 * and keeps a worker's memory flat under a backlog of millions. */
		"queued.max.messages.kbytes", "4096",
		/* ... and a fetch answer is buffered whole: 50 MiB by default. */
		"fetch.max.bytes", "4194304",
		NULL,
	};
	il_consumer *c = il_xcalloc(1, sizeof(*c));
	rd_kafka_conf_t *rkconf;
	rd_kafka_resp_err_t rerr;
	char made_up[128];
	struct timespec ts;

	il_kafka_base_init(&c->base);
	c->cb = cb;
	c->cb_ctx = cb_ctx;
	c->grouped = group_id != NULL;
	if (group_id == NULL) {
		/* librdkafka 2.0.2 refuses rd_kafka_assign() without a group.id;
		 * a unique one that never joins or commits is harmless. */
		clock_gettime(CLOCK_REALTIME, &ts);
		snprintf(made_up, sizeof(made_up), "imislink-assign-%ld-%lld%09ld", (long)getpid(),
		    (long long)ts.tv_sec, ts.tv_nsec);
		group_id = made_up;
	}
	defaults[1] = group_id;
	rkconf = il_kafka_conf_new(conf, RD_KAFKA_CONSUMER, defaults, &c->base, errbuf, errsz);
	if (rkconf == NULL)
		goto fail;
	if (c->grouped)
		rd_kafka_conf_set_rebalance_cb(rkconf, il_consumer_rebalance);
	c->cooperative = il_consumer_conf_cooperative(rkconf);
	rd_kafka_conf_set_offset_commit_cb(rkconf, il_consumer_committed);
	if (!il_kafka_base_start(&c->base, RD_KAFKA_CONSUMER, rkconf, errbuf, errsz))
		goto fail;
	/* One queue for messages, errors and rebalances: il_consumer_poll() serves all. */
	rerr = rd_kafka_poll_set_consumer(c->base.rk);
	if (rerr != RD_KAFKA_RESP_ERR_NO_ERROR) {
		il_err_setf(errbuf, errsz, "could not create Kafka consumer: %s",
		    rd_kafka_err2str(rerr));
		rd_kafka_destroy(c->base.rk);
		goto fail;
	}
	return c;
fail:
	il_kafka_base_fini(&c->base);
	free(c);
	return NULL;
}

il_err
il_consumer_subscribe(il_consumer *c, const char *const *topics, size_t ntopics,
    char *errbuf, size_t errsz)
{
	rd_kafka_topic_partition_list_t *parts;
	rd_kafka_resp_err_t rerr;
	size_t i;

	if (!c->grouped) {
		il_err_setf(errbuf, errsz, "could not subscribe: the consumer has no group");
		return IL_ERR_INVALID;
	}
	if (ntopics == 0) {
		il_err_setf(errbuf, errsz, "could not subscribe: no topic given");
		return IL_ERR_INVALID;
	}
	parts = rd_kafka_topic_partition_list_new((int)ntopics);
	for (i = 0; i < ntopics; i++)
		rd_kafka_topic_partition_list_add(parts, topics[i], RD_KAFKA_PARTITION_UA);
	rerr = rd_kafka_subscribe(c->base.rk, parts);
	rd_kafka_topic_partition_list_destroy(parts);
	if (rerr != RD_KAFKA_RESP_ERR_NO_ERROR) {
		il_err_setf(errbuf, errsz, "could not subscribe to \"%s\"%s: %s", topics[0],
		    ntopics > 1 ? " and others" : "", rd_kafka_err2str(rerr));
		return IL_ERR_INVALID;
	}
	return IL_OK;
}

/* @returns the partition ids of @p topic in @p *parts, or an error. */
static il_err
il_consumer_partitions(il_consumer *c, const char *topic, int64_t offset,
    rd_kafka_topic_partition_list_t **parts, char *errbuf, size_t errsz)
{
	const struct rd_kafka_metadata *md = NULL;
	const rd_kafka_metadata_topic_t *mt;
	rd_kafka_topic_t *rkt;
	rd_kafka_resp_err_t rerr;
	il_err err = IL_ERR_TRANSIENT;
	int i;

	rkt = rd_kafka_topic_new(c->base.rk, topic, NULL);
	if (rkt == NULL) {
		il_err_setf(errbuf, errsz, "invalid topic \"%s\": %s", topic,
		    rd_kafka_err2str(rd_kafka_last_error()));
		return IL_ERR_INVALID;
	}
	rerr = rd_kafka_metadata(c->base.rk, 0, rkt, &md, IL_KAFKA_QUERY_TIMEOUT_MS);
	if (rerr != RD_KAFKA_RESP_ERR_NO_ERROR) {
		il_err_setf(errbuf, errsz, "could not get metadata of topic \"%s\": %s", topic,
		    rd_kafka_err2str(rerr));
		if (rerr == RD_KAFKA_RESP_ERR__TIMED_OUT)
			err = IL_ERR_TIMEOUT;
		goto out;
	}
	mt = md->topic_cnt == 1 ? &md->topics[0] : NULL;
	if (mt == NULL || mt->err == RD_KAFKA_RESP_ERR_UNKNOWN_TOPIC_OR_PART ||
	    (mt->err == RD_KAFKA_RESP_ERR_NO_ERROR && mt->partition_cnt == 0)) {
		il_err_setf(errbuf, errsz, "topic \"%s\" does not exist", topic);
		err = IL_ERR_NOTFOUND;
		goto out;
	}
	if (mt->err != RD_KAFKA_RESP_ERR_NO_ERROR) {
		il_err_setf(errbuf, errsz, "could not get metadata of topic \"%s\": %s", topic,
		    rd_kafka_err2str(mt->err));
		goto out;
	}
	*parts = rd_kafka_topic_partition_list_new(mt->partition_cnt);
	for (i = 0; i < mt->partition_cnt; i++)
		rd_kafka_topic_partition_list_add(*parts, topic,
		    mt->partitions[i].id)->offset = offset;
	err = IL_OK;
out:
	if (md != NULL)
		rd_kafka_metadata_destroy(md);
	rd_kafka_topic_destroy(rkt);
	return err;
}

il_err
il_consumer_assign_all(il_consumer *c, const char *topic, int64_t offset,
    int64_t ts_ms, char *errbuf, size_t errsz)
{
	rd_kafka_topic_partition_list_t *parts = NULL;
	rd_kafka_resp_err_t rerr;
	il_err err;
	int i;

	err = il_consumer_partitions(c, topic, ts_ms >= 0 ? ts_ms : offset, &parts, errbuf, errsz);
	if (err != IL_OK)
		return err;
	err = IL_ERR_TRANSIENT;
	if (ts_ms >= 0) {
		/* Each partition's offset holds the time to look up, and gets the answer. */
		rerr = rd_kafka_offsets_for_times(c->base.rk, parts, IL_KAFKA_QUERY_TIMEOUT_MS);
		for (i = 0; rerr == RD_KAFKA_RESP_ERR_NO_ERROR && i < parts->cnt; i++)
			rerr = parts->elems[i].err;
		if (rerr != RD_KAFKA_RESP_ERR_NO_ERROR) {
			il_err_setf(errbuf, errsz, "could not look up offsets of topic \"%s\" "
			    "at %" PRId64 " ms: %s", topic, ts_ms, rd_kafka_err2str(rerr));
			if (rerr == RD_KAFKA_RESP_ERR__TIMED_OUT)
				err = IL_ERR_TIMEOUT;
			goto out;
		}
		/* No message at or after the time: start at the end, reading only newer ones. */
		for (i = 0; i < parts->cnt; i++)
			if (parts->elems[i].offset < 0)
				parts->elems[i].offset = RD_KAFKA_OFFSET_END;
	}
	/* The new assignment replaces the old one, pauses included. */
	il_consumer_unpause_leaving(c, NULL);
	rerr = rd_kafka_assign(c->base.rk, parts);
	if (rerr != RD_KAFKA_RESP_ERR_NO_ERROR) {
		il_err_setf(errbuf, errsz, "could not assign the partitions of topic \"%s\": %s",
		    topic, rd_kafka_err2str(rerr));
		goto out;
	}
	il_log_info("kafka partitions assigned", IL_STR("client", rd_kafka_name(c->base.rk)),
	    IL_STR("topic", topic), IL_INT("partitions", parts->cnt));
	err = IL_OK;
out:
	rd_kafka_topic_partition_list_destroy(parts);
	return err;
}

rd_kafka_message_t *
il_consumer_poll(il_consumer *c, int timeout_ms)
{
	rd_kafka_message_t *rkm = rd_kafka_consumer_poll(c->base.rk, timeout_ms);

	if (rkm != NULL && rkm->err == RD_KAFKA_RESP_ERR__FATAL)
		il_kafka_note_fatal(&c->base, c->base.rk);
	return rkm;
}

/* Result of a synchronous commit, with the partition's own error. */
typedef struct il_commit_result {
	rd_kafka_resp_err_t err;        /* request error, else the partition's */
	bool done;                      /* the answer arrived */
} il_commit_result;

/* How long a synchronous commit waits for the coordinator's answer. */
#define IL_COMMIT_WAIT_MS 10000

static void
il_consumer_commit_done(rd_kafka_t *rk, rd_kafka_resp_err_t rerr,
    rd_kafka_topic_partition_list_t *offsets, void *opaque)
{
	il_commit_result *res = opaque;
	int i;

	(void)rk;
	for (i = 0; rerr == RD_KAFKA_RESP_ERR_NO_ERROR && offsets != NULL && i < offsets->cnt; i++)
		rerr = offsets->elems[i].err;
	res->err = rerr;
	res->done = true;
}

il_err
il_consumer_commit(il_consumer *c, const char *topic, int32_t partition,
    int64_t next_offset, bool async, char *errbuf, size_t errsz)
{
	rd_kafka_topic_partition_list_t *parts;
	rd_kafka_resp_err_t rerr;
	il_commit_result res = { RD_KAFKA_RESP_ERR_NO_ERROR, false };
	rd_kafka_queue_t *q;
	struct timespec t0, now;

	if (!c->grouped) {
		il_err_setf(errbuf, errsz, "could not commit offset %" PRId64 " of \"%s\" "
		    "[%" PRId32 "]: the consumer has no group", next_offset, topic, partition);
		return IL_ERR_INVALID;
	}
	parts = rd_kafka_topic_partition_list_new(1);
	rd_kafka_topic_partition_list_add(parts, topic, partition)->offset = next_offset;
	if (async) {
		/* The outcome arrives in il_consumer_committed() during a later poll. */
		rerr = rd_kafka_commit(c->base.rk, parts, 1);
	} else {
		/*
		 * commit_queue hands us the per-partition result, which
		 * rd_kafka_commit() would not show.  Its own wait (no queue) has
		 * no bound, and in 2.0.2 a commit made from the revocation
		 * callback of a member the coordinator forgot can wait forever:
		 * so a queue of ours, served for a bounded time.
		 */
		q = rd_kafka_queue_new(c->base.rk);
		rerr = rd_kafka_commit_queue(c->base.rk, parts, q, il_consumer_commit_done, &res);
		clock_gettime(CLOCK_MONOTONIC, &t0);
		while (rerr == RD_KAFKA_RESP_ERR_NO_ERROR && !res.done) {
			long waited;

			rd_kafka_queue_poll_callback(q, 100);
			clock_gettime(CLOCK_MONOTONIC, &now);
			waited = (long)(now.tv_sec - t0.tv_sec) * 1000 + (now.tv_nsec - t0.tv_nsec) / 1000000;
			if (!res.done && waited >= IL_COMMIT_WAIT_MS)
				rerr = RD_KAFKA_RESP_ERR__TIMED_OUT;
		}
		rd_kafka_queue_destroy(q);
		if (rerr == RD_KAFKA_RESP_ERR_NO_ERROR)
			rerr = res.err;
	}
	rd_kafka_topic_partition_list_destroy(parts);
	if (rerr == RD_KAFKA_RESP_ERR_NO_ERROR)
		return IL_OK;
	il_err_setf(errbuf, errsz, "could not commit offset %" PRId64 " of \"%s\" [%" PRId32 "]: %s",
	    next_offset, topic, partition, rd_kafka_err2str(rerr));
	if (rerr == RD_KAFKA_RESP_ERR__FATAL) {
		il_kafka_note_fatal(&c->base, c->base.rk);
		return IL_ERR_FATAL;
	}
	if (rerr == RD_KAFKA_RESP_ERR__INVALID_ARG)
		return IL_ERR_INVALID;
	/* A rebalance, a moved coordinator, a lost member id: the partition may
	 * have gone to another member, which starts from the last commit. */
	return IL_ERR_TRANSIENT;
}

/*
 * librdkafka 2.0.2 bumps the fetch version even for a resume it ignores (the
 * partition was not paused), and the fetcher then restarts from the position
 * saved at an earlier pause: already handled messages come again
 * (librdkafka issues #4637, #4686, fixed in 2.4.0).  So each partition is
 * paused once and resumed once, and a needless call does nothing.
 */
static il_err
il_consumer_pause_resume(il_consumer *c, const char *topic, int32_t partition, bool pause)
{
	rd_kafka_topic_partition_list_t *parts;
	rd_kafka_resp_err_t rerr;
	long at = il_consumer_paused_find(c, topic, partition);

	if ((at >= 0) == pause)
		return IL_OK;
	parts = rd_kafka_topic_partition_list_new(1);
	rd_kafka_topic_partition_list_add(parts, topic, partition);
	if (pause)
		rerr = rd_kafka_pause_partitions(c->base.rk, parts);
	else
		rerr = rd_kafka_resume_partitions(c->base.rk, parts);
	if (rerr == RD_KAFKA_RESP_ERR_NO_ERROR)
		rerr = parts->elems[0].err;
	rd_kafka_topic_partition_list_destroy(parts);
	/* The set follows librdkafka only once it took the change: after a
	 * failed resume the partition is still paused, and a later resume must
	 * try again rather than take it for running. */
	if (rerr == RD_KAFKA_RESP_ERR_NO_ERROR) {
		if (pause)
			il_consumer_paused_add(c, topic, partition);
		else
			il_consumer_paused_del(c, (size_t)at);
		return IL_OK;
	}
	il_log_warn(pause ? "could not pause partition" : "could not resume partition",
	    IL_STR("client", rd_kafka_name(c->base.rk)), IL_STR("topic", topic),
	    IL_INT("partition", partition), IL_STR("reason", rd_kafka_err2str(rerr)));
	return rerr == RD_KAFKA_RESP_ERR__UNKNOWN_PARTITION ? IL_ERR_NOTFOUND : IL_ERR_INVALID;
}

il_err
il_consumer_pause(il_consumer *c, const char *topic, int32_t partition)
{
	return il_consumer_pause_resume(c, topic, partition, true);
}

il_err
il_consumer_resume(il_consumer *c, const char *topic, int32_t partition)
{
	return il_consumer_pause_resume(c, topic, partition, false);
}

il_err
il_consumer_fatal(il_consumer *c, char *errbuf, size_t errsz)
{
	return il_kafka_fatal(&c->base, errbuf, errsz);
}

rd_kafka_t *
il_consumer_handle(il_consumer *c)
{
	return c->base.rk;
}

/*
 * Leaves the group within IL_KAFKA_CLOSE_GROUP_MS: rd_kafka_consumer_close()
 * has no bound, so the close runs on a queue of ours that we serve until it
 * is done or the time is up.  That queue hands the rebalance over as an
 * event, which goes to the same callback librdkafka would have called (the
 * revocation, with its last commits, happens in here); its other events are
 * only the close's own bookkeeping.  A rebalance librdkafka queued before
 * the close, while the caller no longer polled (a stopping worker), sits in
 * the consumer's own queue, and the group waits for it forever: that queue
 * is served too, its messages dropped (they were never committed).
 * @returns true when the consumer closed.
 */
static bool
il_consumer_close_bounded(rd_kafka_t *rk)
{
	long long deadline = il_timers_now_ms() + IL_KAFKA_CLOSE_GROUP_MS;
	rd_kafka_queue_t *q = rd_kafka_queue_new(rk);
	rd_kafka_error_t *error = rd_kafka_consumer_close_queue(rk, q);
	bool closed;

	if (error != NULL) {
		il_log_warn("could not close kafka consumer cleanly", IL_STR("client", rd_kafka_name(rk)),
		    IL_STR("reason", rd_kafka_error_string(error)));
		rd_kafka_error_destroy(error);
		rd_kafka_queue_destroy(q);
		return false;
	}
	while (!rd_kafka_consumer_closed(rk) && il_timers_now_ms() < deadline) {
		rd_kafka_message_t *rkm;
		rd_kafka_event_t *ev;

		while ((rkm = rd_kafka_consumer_poll(rk, 0)) != NULL)
			rd_kafka_message_destroy(rkm);
		ev = rd_kafka_queue_poll(q, IL_KAFKA_CLOSE_POLL_MS);
		if (ev == NULL)
			continue;
		if (rd_kafka_event_type(ev) == RD_KAFKA_EVENT_REBALANCE)
			il_consumer_rebalance(rk, rd_kafka_event_error(ev),
			    rd_kafka_event_topic_partition_list(ev), rd_kafka_opaque(rk));
		rd_kafka_event_destroy(ev);
	}
	closed = rd_kafka_consumer_closed(rk);
	rd_kafka_queue_destroy(q);
	if (!closed)
		il_log_warn("kafka consumer did not leave its group in time; the coordinator will "
		    "drop it after session.timeout.ms", IL_STR("client", rd_kafka_name(rk)),
		    IL_INT("waited_ms", IL_KAFKA_CLOSE_GROUP_MS));
	return closed;
}

void
il_consumer_destroy(il_consumer *c)
{
	if (c == NULL)
		return;
	if (il_consumer_close_bounded(c->base.rk))
		rd_kafka_destroy(c->base.rk);
	else
		rd_kafka_destroy_flags(c->base.rk, RD_KAFKA_DESTROY_F_NO_CONSUMER_CLOSE);
	while (c->npaused > 0)
		il_consumer_paused_del(c, c->npaused - 1);
	free(c->paused);
	il_kafka_base_fini(&c->base);
	free(c);
}
