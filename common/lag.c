/*
 * lag.c - consumer lag as kafka-consumer-groups prints it, judged by
 * Burrow's rules (lag.h).
 *
 * Three librdkafka handles, none of which joins a group or commits:
 *  - rk asks the Admin API (ListConsumerGroups, DescribeConsumerGroups,
 *    ListConsumerGroupOffsets), the metadata and the log end offsets;
 *  - clog reads __consumer_offsets, assigned once and kept, so that every
 *    round reads only the commits written since the last one;
 *  - probe reads, for a partition with lag, the message at the group's
 *    committed offset, whose timestamp gives the lag in seconds.
 * rk never fetches: a broker answers the requests of one connection in
 * order, so behind a fetch that waits for data (fetch.wait.max.ms) every
 * admin request would wait too.  All read with
 * isolation.level=read_uncommitted: the log end offset is then the high
 * watermark, the figure kafka-consumer-groups prints.
 *
 * What lives from round to round is one il_lag_state per (group, topic,
 * partition) a watched group has: its window of commits, its ring of log end
 * readings and a cached message time.  A state that no round needs any more
 * is freed, so memory follows the partitions being watched, not the history.
 *
 * Not thread-safe: the caller serialises il_lag_evaluate(),
 * il_lag_get_snapshot() and il_lag_render_metrics().
 */
#include "lag.h"

#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include <librdkafka/rdkafka.h>

#include "commitlog.h"
#include "log.h"
#include "metrics.h"
#include "timers.h"
#include "xalloc.h"

/* Burrow's storage min-distance: a commit less than this after the previous
 * one replaces it (keeping the earlier time), so a consumer committing every
 * few milliseconds still fills the window with seconds of history. */
#define IL_LAG_MIN_DISTANCE_MS 1000
/* OffsetFetch requests in flight at once (2.0.2 asks one group per request). */
#define IL_LAG_FETCH_INFLIGHT 32
/* Longest single wait on a queue, so a round notices its deadline. */
#define IL_LAG_POLL_SLICE_MS 100
/* Strings of a snapshot are kept in chunks of this size. */
#define IL_LAG_CHUNK 16384
/* A label value longer than this is cut in the metrics (il_metrics_label). */
#define IL_LAG_LABEL_MAX 1024

/* One chunk of the snapshot's string arena. */
typedef struct il_lag_chunk {
	struct il_lag_chunk *next;      /* the chunk allocated before */
	size_t used;                    /* bytes of data in use */
	size_t cap;                     /* bytes of data */
	char data[];                    /* the strings */
} il_lag_chunk;

/* What is kept of one partition of one group between rounds. */
typedef struct il_lag_state {
	struct il_lag_state *next;      /* hash chain */
	uint64_t hash;                  /* of (group, topic, partition) */
	char *group;                    /* owned */
	char *topic;                    /* owned */
	int32_t partition;              /* partition id */
	il_burrow_window w;             /* the last commits */
	il_burrow_ends ends;            /* the last log end readings, for the commits' lag and STOP */
	int64_t committed;              /* committed offset of the last round; -1 none */
	int64_t log_end;                /* log end offset of the last round; -1 unknown */
	bool observed;                  /* committed has been seen by a round */
	long long first_ms;             /* when a round first saw it */
	int64_t first_lag;              /* its lag then; -1 unknown */
	int64_t probe_offset;           /* offset whose message time is cached; -1 none */
	long long probe_ts_ms;          /* that message's timestamp */
	unsigned long seen;             /* the last round that needed this state */
} il_lag_state;

/* How __consumer_offsets is read. */
typedef enum il_lag_clog {
	IL_LAG_CLOG_ABSENT = 0,         /* not (yet) in the metadata: commits are seen by change */
	IL_LAG_CLOG_READING,            /* assigned to clog_rk and read every round */
	IL_LAG_CLOG_DENIED,             /* the broker refused to let us read it: by change, for good */
} il_lag_clog;

struct il_lag {
	rd_kafka_t *rk;                 /* admin, metadata, log ends; never fetches */
	rd_kafka_t *clog_rk;            /* reads __consumer_offsets */
	rd_kafka_t *probe;              /* reads messages at committed offsets */
	char *cluster;                  /* lag.cluster.name */
	char **named;                   /* lag.groups, sorted and unique; NULL: discover */
	size_t nnamed;                  /* entries in named */
	size_t window_size;             /* lag.window.size */
	il_lag_state **tab;             /* hash table of states */
	size_t tabsz;                   /* buckets, a power of two */
	size_t nstates;                 /* states held */
	unsigned long round;            /* rounds begun */
	int groups_api;                 /* ListGroups and DescribeGroups: 1 spoken, -1 not, 0 unknown */
	il_lag_clog clog;               /* how commits are seen */
	int32_t clog_parts;             /* partitions of __consumer_offsets assigned */
	int64_t *clog_pos;              /* next offset of each; -1 unknown */
	il_lag_snapshot snap;           /* the last round's figures */
	il_lag_group *groups;           /* snap.groups, owned */
	il_lag_partition *parts;        /* snap.parts, owned */
	il_lag_chunk *arena;            /* snap's strings */
};

/* A partition of a group in the round being made. */
typedef struct il_lag_rpart {
	const char *topic;              /* while merging, into a result event; then the state's */
	int32_t partition;              /* partition id */
	int64_t committed;              /* -1: none */
	const rd_kafka_MemberDescription_t *member; /* owner; NULL none */
	il_lag_state *st;               /* the state kept between rounds */
	double lag_seconds;             /* the age of the message at committed; -1 unknown */
} il_lag_rpart;

/* A group in the round being made. */
typedef struct il_lag_rgroup {
	char *name;                     /* owned */
	const rd_kafka_ConsumerGroupDescription_t *desc; /* NULL: not described */
	rd_kafka_event_t *offsets_ev;   /* the OffsetFetch answer; owns offsets */
	const rd_kafka_topic_partition_list_t *offsets; /* committed offsets */
	bool failed;                    /* offsets unread: keeps its previous figures */
	bool dead;                      /* the broker says it does not exist (Dead, or not found) */
	size_t first;                   /* its partitions: parts[first .. first + n) */
	size_t n;
} il_lag_rgroup;

/* One message time to read: a partition at an offset, for the states waiting for it. */
typedef struct il_lag_want {
	const char *topic;              /* the state's */
	int32_t partition;
	int64_t offset;                 /* the committed offset */
	long long ts_ms;                /* the answer: -1 none, -2 no message left */
	bool done;                      /* answered, or known to have no message */
	size_t rank;                    /* offsets of the same partition before this one */
} il_lag_want;

/* One round's working data. */
typedef struct il_lag_round {
	rd_kafka_queue_t *q;            /* admin answers of this round only */
	il_lag_rgroup *groups;          /* sorted by name */
	size_t ngroups;
	size_t capgroups;
	rd_kafka_event_t *describe_ev;  /* owns the descriptions */
	il_lag_rpart *parts;            /* grouped by group, sorted by topic and partition */
	size_t nparts;
	size_t capparts;
	const struct rd_kafka_metadata *md; /* the cluster's topics */
	const struct rd_kafka_metadata_topic **topics; /* md's topics sorted by name */
	bool coordinator;               /* __consumer_offsets exists: groups are kept by the broker */
	rd_kafka_topic_partition_list_t *ends; /* log end offsets, sorted, unique */
	il_lag_want *wants;             /* message times to read, sorted, unique */
	size_t nwants;
	size_t maxrank;                 /* passes needed, less one */
	il_lag_want *sub;               /* the wants of the pass being read */
	size_t nsub;
} il_lag_round;

/* Commit times are wall-clock times of the broker. */
static long long
il_lag_wall_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_REALTIME, &ts);
	return (long long)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

static int
il_lag_remaining(long long deadline)
{
	long long left = deadline - il_timers_now_ms();

	if (left <= 0)
		return 0;
	return left > IL_LAG_POLL_SLICE_MS ? IL_LAG_POLL_SLICE_MS : (int)left;
}

/* qsort() and bsearch() want a valid array even when it is empty. */
static void
il_lag_sort(void *base, size_t n, size_t size, int (*cmp)(const void *, const void *))
{
	if (n > 1)
		qsort(base, n, size, cmp);
}

static void *
il_lag_find(const void *key, const void *base, size_t n, size_t size,
    int (*cmp)(const void *, const void *))
{
	return n > 0 ? bsearch(key, base, n, size, cmp) : NULL;
}

static const char *
il_lag_str(const char *s)
{
	return s != NULL ? s : "";
}

/* ---- the string arena of a snapshot ---- */

static const char *
il_lag_intern(il_lag_chunk **arena, const char *s)
{
	size_t len = strlen(s) + 1, cap;
	il_lag_chunk *c = *arena;
	char *out;

	if (c == NULL || c->cap - c->used < len) {
		cap = len > IL_LAG_CHUNK ? len : IL_LAG_CHUNK;
		c = il_xmalloc(sizeof(*c) + cap);
		c->next = *arena;
		c->used = 0;
		c->cap = cap;
		*arena = c;
	}
	out = c->data + c->used;
	memcpy(out, s, len);
	c->used += len;
	return out;
}

static void
il_lag_arena_free(il_lag_chunk *c)
{
	il_lag_chunk *next;

	for (; c != NULL; c = next) {
		next = c->next;
		free(c);
	}
}

/* ---- states ---- */

static uint64_t
il_lag_hash(const char *group, size_t glen, const char *topic, size_t tlen, int32_t partition)
{
	uint64_t h = 1469598103934665603ULL;
	size_t i;

	for (i = 0; i < glen; i++)
		h = (h ^ (unsigned char)group[i]) * 1099511628211ULL;
	h = (h ^ 0x100) * 1099511628211ULL;
	for (i = 0; i < tlen; i++)
		h = (h ^ (unsigned char)topic[i]) * 1099511628211ULL;
	h = (h ^ 0x100) * 1099511628211ULL;
	h = (h ^ (uint32_t)partition) * 1099511628211ULL;
	return h;
}

static bool
il_lag_state_is(const il_lag_state *st, uint64_t h, const char *group, size_t glen,
    const char *topic, size_t tlen, int32_t partition)
{
	return st->hash == h && st->partition == partition &&
	    strncmp(st->group, group, glen) == 0 && st->group[glen] == '\0' &&
	    strncmp(st->topic, topic, tlen) == 0 && st->topic[tlen] == '\0';
}

/* @returns the state of (group, topic, partition), NULL when there is none;
 * the names need not be NUL-terminated (they may come from a record). */
static il_lag_state *
il_lag_state_find(const il_lag *l, const char *group, size_t glen, const char *topic,
    size_t tlen, int32_t partition)
{
	uint64_t h = il_lag_hash(group, glen, topic, tlen, partition);
	il_lag_state *st;

	for (st = l->tab[h & (l->tabsz - 1)]; st != NULL; st = st->next)
		if (il_lag_state_is(st, h, group, glen, topic, tlen, partition))
			return st;
	return NULL;
}

static void
il_lag_tab_grow(il_lag *l)
{
	size_t nsz = l->tabsz * 2, i;
	il_lag_state **ntab = il_xcalloc(nsz, sizeof(*ntab));
	il_lag_state *st, *next;

	for (i = 0; i < l->tabsz; i++) {
		for (st = l->tab[i]; st != NULL; st = next) {
			next = st->next;
			st->next = ntab[st->hash & (nsz - 1)];
			ntab[st->hash & (nsz - 1)] = st;
		}
	}
	free(l->tab);
	l->tab = ntab;
	l->tabsz = nsz;
}

static il_lag_state *
il_lag_state_get(il_lag *l, const char *group, const char *topic, int32_t partition)
{
	il_lag_state *st;
	uint64_t h;

	st = il_lag_state_find(l, group, strlen(group), topic, strlen(topic), partition);
	if (st != NULL)
		return st;
	if (l->nstates >= l->tabsz)
		il_lag_tab_grow(l);
	h = il_lag_hash(group, strlen(group), topic, strlen(topic), partition);
	st = il_xcalloc(1, sizeof(*st));
	st->hash = h;
	st->group = il_xstrdup(group);
	st->topic = il_xstrdup(topic);
	st->partition = partition;
	il_burrow_window_init(&st->w, l->window_size);
	/* As many readings as the window has commits, one a round: Burrow's
	 * broker offset ring, also sized by its window (intervals). */
	il_burrow_ends_init(&st->ends, l->window_size);
	st->committed = -1;
	st->log_end = -1;
	st->first_ms = -1;
	st->first_lag = -1;
	st->probe_offset = -1;
	st->next = l->tab[h & (l->tabsz - 1)];
	l->tab[h & (l->tabsz - 1)] = st;
	l->nstates++;
	return st;
}

static void
il_lag_state_free(il_lag_state *st)
{
	il_burrow_window_free(&st->w);
	il_burrow_ends_free(&st->ends);
	free(st->group);
	free(st->topic);
	free(st);
}

/* Frees the states no group of round @p round needed: groups and partitions that went away. */
static void
il_lag_states_prune(il_lag *l, unsigned long round)
{
	il_lag_state **pp, *st;
	size_t i;

	for (i = 0; i < l->tabsz; i++) {
		pp = &l->tab[i];
		while ((st = *pp) != NULL) {
			if (st->seen == round) {
				pp = &st->next;
				continue;
			}
			*pp = st->next;
			il_lag_state_free(st);
			l->nstates--;
		}
	}
}

/*
 * Adds a commit to a window as Burrow's storage does: one older than the
 * newest is a late arrival and dropped; one within the min-distance of the
 * newest replaces it but keeps the newest's time, so that frequent commits
 * cannot push every earlier one out of the window.
 */
static void
il_lag_window_add(il_burrow_window *w, int64_t offset, int64_t lag, long long ts_ms)
{
	il_burrow_commit *last;

	if (w->n > 0) {
		last = &w->c[(w->head + w->n - 1) % w->size];
		if (ts_ms < last->ts_ms)
			return;
		if (ts_ms - last->ts_ms < IL_LAG_MIN_DISTANCE_MS) {
			last->offset = offset;
			last->lag = lag < 0 ? 0 : lag;
			return;
		}
	}
	il_burrow_window_push(w, offset, lag, ts_ms);
}

/* ---- the handles ---- */

static void
il_lag_log_cb(const rd_kafka_t *rk, int level, const char *fac, const char *buf)
{
	/* syslog levels: 0-3 error, 4 warning, 5-6 notice/info, 7 debug */
	if (level <= 3)
		il_log_error("librdkafka", IL_STR("client", rd_kafka_name(rk)),
		    IL_STR("facility", fac), IL_STR("detail", buf));
	else if (level == 4)
		il_log_warn("librdkafka", IL_STR("client", rd_kafka_name(rk)),
		    IL_STR("facility", fac), IL_STR("detail", buf));
	else if (level <= 6)
		il_log_info("librdkafka", IL_STR("client", rd_kafka_name(rk)),
		    IL_STR("facility", fac), IL_STR("detail", buf));
	else
		il_log_debug("librdkafka", IL_STR("client", rd_kafka_name(rk)),
		    IL_STR("facility", fac), IL_STR("detail", buf));
}

static void
il_lag_error_cb(rd_kafka_t *rk, int err, const char *reason, void *opaque)
{
	(void)opaque;
	/* librdkafka reconnects by itself; a round that cannot read says so. */
	il_log_warn("kafka error", IL_STR("client", rd_kafka_name(rk)),
	    IL_STR("error", rd_kafka_err2name((rd_kafka_resp_err_t)err)), IL_STR("reason", reason));
}

static il_err
il_lag_conf_set(const char *key, const char *value, void *ctx, char *errbuf, size_t errsz)
{
	char reason[512];

	if (rd_kafka_conf_set(ctx, key, value, reason, sizeof(reason)) != RD_KAFKA_CONF_OK) {
		il_err_setf(errbuf, errsz, "invalid librdkafka property \"%s\": %s", key, reason);
		return IL_ERR_CONFIG;
	}
	return IL_OK;
}

/*
 * Makes a consumer handle that never joins a group nor commits: the
 * imislink keys, the operator's -X properties, then what the figures rely
 * on, set last so that no -X can change them.
 */
static rd_kafka_t *
il_lag_handle_new(const il_conf *conf, const char *role, const char *const *extra,
    char *errbuf, size_t errsz)
{
	rd_kafka_conf_t *rkconf = rd_kafka_conf_new();
	const char *client_id = il_conf_get(conf, "kafka.client.id");
	char group[128], reason[512];
	const char *forced[] = {
		/* librdkafka 2.0.2 refuses rd_kafka_assign() without a group.id;
		 * this one never joins, commits or shows in the broker's lists. */
		"group.id", group,
		"enable.auto.commit", "false",
		"enable.auto.offset.store", "false",
		/* The log end offset kafka-consumer-groups prints is the high
		 * watermark, which read_committed would replace by the last stable
		 * offset. */
		"isolation.level", "read_uncommitted",
		"log.queue", "true",
		NULL,
	};
	struct timespec ts;
	rd_kafka_t *rk;
	size_t i;

	clock_gettime(CLOCK_REALTIME, &ts);
	snprintf(group, sizeof(group), "imislink-lag-%s-%ld-%lld%09ld", role, (long)getpid(),
	    (long long)ts.tv_sec, ts.tv_nsec);
	if (il_lag_conf_set("bootstrap.servers", il_conf_get(conf, "kafka.bootstrap.servers"),
	    rkconf, errbuf, errsz) != IL_OK)
		goto fail;
	if (client_id[0] != '\0' &&
	    il_lag_conf_set("client.id", client_id, rkconf, errbuf, errsz) != IL_OK)
		goto fail;
	for (i = 0; extra[i] != NULL; i += 2)
		if (il_lag_conf_set(extra[i], extra[i + 1], rkconf, errbuf, errsz) != IL_OK)
			goto fail;
	if (il_conf_rdkafka_foreach(conf, il_lag_conf_set, rkconf, errbuf, errsz) != IL_OK)
		goto fail;
	for (i = 0; forced[i] != NULL; i += 2)
		if (il_lag_conf_set(forced[i], forced[i + 1], rkconf, errbuf, errsz) != IL_OK)
			goto fail;
	rd_kafka_conf_set_log_cb(rkconf, il_lag_log_cb);
	rd_kafka_conf_set_error_cb(rkconf, il_lag_error_cb);
	rk = rd_kafka_new(RD_KAFKA_CONSUMER, rkconf, reason, sizeof(reason));
	if (rk == NULL) {
		il_err_setf(errbuf, errsz, "could not create Kafka consumer for the lag monitor: %s",
		    reason);
		goto fail;
	}
	rkconf = NULL;  /* rd_kafka_new() took it */
	/* Logs and errors go to the main queue, forwarded to the consumer
	 * queue, so the rounds' rd_kafka_consumer_poll() serves them. */
	if (rd_kafka_set_log_queue(rk, NULL) != RD_KAFKA_RESP_ERR_NO_ERROR ||
	    rd_kafka_poll_set_consumer(rk) != RD_KAFKA_RESP_ERR_NO_ERROR) {
		il_err_setf(errbuf, errsz, "could not create Kafka consumer for the lag monitor: "
		    "could not set up its queues");
		rd_kafka_destroy(rk);
		return NULL;
	}
	return rk;
fail:
	rd_kafka_conf_destroy(rkconf);
	return NULL;
}

/* Serves logs and errors; drops what else waits (nothing is assigned). */
static void
il_lag_drain(rd_kafka_t *rk)
{
	rd_kafka_message_t *rkm;
	int i;

	for (i = 0; i < 10000; i++) {
		rkm = rd_kafka_consumer_poll(rk, 0);
		if (rkm == NULL)
			break;
		rd_kafka_message_destroy(rkm);
	}
}

static int
il_lag_strcmp_p(const void *a, const void *b)
{
	return strcmp(*(char *const *)a, *(char *const *)b);
}

/* Splits lag.groups: comma-separated, blanks around names ignored, sorted, unique. */
static void
il_lag_parse_groups(il_lag *l, const char *list)
{
	const char *p = list, *end, *a, *b;
	size_t n = 0, i, j;

	for (; *p != '\0'; p = *end == ',' ? end + 1 : end) {
		end = strchr(p, ',');
		if (end == NULL)
			end = p + strlen(p);
		for (a = p; a < end && (*a == ' ' || *a == '\t'); a++)
			;
		for (b = end; b > a && (b[-1] == ' ' || b[-1] == '\t'); b--)
			;
		if (a == b)
			continue;
		l->named = il_xrealloc(l->named, (n + 1) * sizeof(*l->named));
		l->named[n++] = il_xstrndup(a, (size_t)(b - a));
	}
	il_lag_sort(l->named, n, sizeof(*l->named), il_lag_strcmp_p);
	for (i = 0, j = 0; i < n; i++) {
		if (j > 0 && strcmp(l->named[j - 1], l->named[i]) == 0) {
			free(l->named[i]);
			continue;
		}
		l->named[j++] = l->named[i];
	}
	l->nnamed = j;
}

il_lag *
il_lag_new(const il_conf *conf, char *errbuf, size_t errsz)
{
	static const char *const no_props[] = { NULL };
	/* The commit log: small records, read from its start once.  A round
	 * reads it to the end it just looked up, so a fetch must not sit out
	 * the broker's default half-second wait for more data. */
	static const char *const clog_props[] = {
		"auto.offset.reset", "earliest",
		"enable.partition.eof", "true",
		"fetch.wait.max.ms", "100",
		"queued.max.messages.kbytes", "4096",
		"fetch.max.bytes", "4194304",
		NULL,
	};
	/* One message a partition is all a probe needs: fetch little. */
	static const char *const probe_props[] = {
		"auto.offset.reset", "earliest",
		"enable.partition.eof", "true",
		"fetch.wait.max.ms", "100",
		"queued.max.messages.kbytes", "1024",
		"fetch.max.bytes", "1048576",
		"max.partition.fetch.bytes", "16384",
		NULL,
	};
	il_lag *l = il_xcalloc(1, sizeof(*l));

	l->cluster = il_xstrdup(il_conf_get(conf, "lag.cluster.name"));
	l->window_size = (size_t)il_conf_get_int(conf, "lag.window.size");
	il_lag_parse_groups(l, il_conf_get(conf, "lag.groups"));
	l->tabsz = 64;
	l->tab = il_xcalloc(l->tabsz, sizeof(*l->tab));
	l->snap.taken_ms = -1;
	l->rk = il_lag_handle_new(conf, "admin", no_props, errbuf, errsz);
	if (l->rk == NULL)
		goto fail;
	l->clog_rk = il_lag_handle_new(conf, "clog", clog_props, errbuf, errsz);
	if (l->clog_rk == NULL)
		goto fail;
	l->probe = il_lag_handle_new(conf, "probe", probe_props, errbuf, errsz);
	if (l->probe == NULL)
		goto fail;
	return l;
fail:
	il_lag_destroy(l);
	return NULL;
}

void
il_lag_destroy(il_lag *l)
{
	size_t i;

	if (l == NULL)
		return;
	/* No handle is in a group: closing leaves nothing to hand back. */
	if (l->rk != NULL) {
		rd_kafka_consumer_close(l->rk);
		rd_kafka_destroy(l->rk);
	}
	if (l->clog_rk != NULL) {
		rd_kafka_consumer_close(l->clog_rk);
		rd_kafka_destroy(l->clog_rk);
	}
	if (l->probe != NULL) {
		rd_kafka_consumer_close(l->probe);
		rd_kafka_destroy(l->probe);
	}
	l->round++;
	if (l->tab != NULL)
		il_lag_states_prune(l, l->round);
	free(l->tab);
	for (i = 0; i < l->nnamed; i++)
		free(l->named[i]);
	free(l->named);
	free(l->clog_pos);
	free(l->groups);
	free(l->parts);
	il_lag_arena_free(l->arena);
	free(l->cluster);
	free(l);
}

const il_lag_snapshot *
il_lag_get_snapshot(const il_lag *l)
{
	return &l->snap;
}

/* ---- a round, step by step ---- */

static void
il_lag_round_free(il_lag_round *r)
{
	size_t i;

	for (i = 0; i < r->ngroups; i++) {
		free(r->groups[i].name);
		if (r->groups[i].offsets_ev != NULL)
			rd_kafka_event_destroy(r->groups[i].offsets_ev);
	}
	free(r->groups);
	if (r->describe_ev != NULL)
		rd_kafka_event_destroy(r->describe_ev);
	free(r->parts);
	free(r->topics);
	if (r->md != NULL)
		rd_kafka_metadata_destroy(r->md);
	if (r->ends != NULL)
		rd_kafka_topic_partition_list_destroy(r->ends);
	if (r->q != NULL)
		rd_kafka_queue_destroy(r->q);
	free(r->wants);
	free(r->sub);
}

static void
il_lag_round_add_group(il_lag_round *r, const char *name)
{
	if (r->ngroups == r->capgroups) {
		r->capgroups = r->capgroups == 0 ? 16 : r->capgroups * 2;
		r->groups = il_xrealloc(r->groups, r->capgroups * sizeof(*r->groups));
	}
	memset(&r->groups[r->ngroups], 0, sizeof(*r->groups));
	r->groups[r->ngroups++].name = il_xstrdup(name);
}

static int
il_lag_rgroup_cmp(const void *a, const void *b)
{
	return strcmp(((const il_lag_rgroup *)a)->name, ((const il_lag_rgroup *)b)->name);
}

/* Waits for the one admin answer of type @p type on @p q until @p deadline. */
static rd_kafka_event_t *
il_lag_wait_event(rd_kafka_queue_t *q, rd_kafka_event_type_t type, long long deadline)
{
	rd_kafka_event_t *ev;

	do {
		ev = rd_kafka_queue_poll(q, il_lag_remaining(deadline));
		if (ev == NULL)
			continue;
		if (rd_kafka_event_type(ev) == type)
			return ev;
		rd_kafka_event_destroy(ev);
	} while (il_timers_now_ms() < deadline);
	return NULL;
}

static rd_kafka_AdminOptions_t *
il_lag_admin_options(il_lag *l, rd_kafka_admin_op_t op, int timeout_ms, void *opaque)
{
	rd_kafka_AdminOptions_t *opts = rd_kafka_AdminOptions_new(l->rk, op);
	char reason[256];

	/* Cannot fail for a timeout within librdkafka's range. */
	(void)rd_kafka_AdminOptions_set_request_timeout(opts, timeout_ms, reason, sizeof(reason));
	rd_kafka_AdminOptions_set_opaque(opts, opaque);
	return opts;
}

static int
il_lag_mdtopic_cmp(const void *a, const void *b)
{
	return strcmp((*(const struct rd_kafka_metadata_topic *const *)a)->topic,
	    (*(const struct rd_kafka_metadata_topic *const *)b)->topic);
}

/* @returns the metadata of @p topic when it exists without error, else NULL. */
static const struct rd_kafka_metadata_topic *
il_lag_md_topic(const il_lag_round *r, const char *topic)
{
	struct rd_kafka_metadata_topic key, *kp = &key;
	const struct rd_kafka_metadata_topic **t;

	key.topic = (char *)topic;
	t = il_lag_find(&kp, r->topics, (size_t)r->md->topic_cnt, sizeof(*r->topics),
	    il_lag_mdtopic_cmp);
	if (t == NULL || (*t)->err != RD_KAFKA_RESP_ERR_NO_ERROR)
		return NULL;
	return *t;
}

/* Step 0: the metadata: which topics and partitions exist, and whether
 * __consumer_offsets does (then the broker is a real group coordinator). */
static il_err
il_lag_read_metadata(il_lag *l, il_lag_round *r, int timeout_ms, char *errbuf, size_t errsz)
{
	rd_kafka_resp_err_t rerr;
	int j;

	rerr = rd_kafka_metadata(l->rk, 1, NULL, &r->md, timeout_ms);
	if (rerr != RD_KAFKA_RESP_ERR_NO_ERROR) {
		r->md = NULL;
		il_err_setf(errbuf, errsz, "could not read the cluster's metadata: %s",
		    rd_kafka_err2str(rerr));
		return IL_ERR_TRANSIENT;
	}
	r->topics = il_xmalloc(((size_t)r->md->topic_cnt + 1) * sizeof(*r->topics));
	for (j = 0; j < r->md->topic_cnt; j++)
		r->topics[j] = &r->md->topics[j];
	il_lag_sort(r->topics, (size_t)r->md->topic_cnt, sizeof(*r->topics), il_lag_mdtopic_cmp);
	r->coordinator = il_lag_md_topic(r, IL_COMMITLOG_TOPIC) != NULL;
	return IL_OK;
}

/*
 * Asks the broker for its groups (ListGroups) and adds them to @p r;
 * learns on the way whether the broker speaks the group APIs at all.
 */
static il_err
il_lag_list_groups(il_lag *l, il_lag_round *r, int timeout_ms, char *errbuf, size_t errsz)
{
	const rd_kafka_ConsumerGroupListing_t **valid;
	const rd_kafka_ListConsumerGroups_result_t *res;
	const rd_kafka_error_t **errs;
	rd_kafka_AdminOptions_t *opts;
	rd_kafka_event_t *ev;
	size_t nvalid, nerrs, i;
	il_err err = IL_ERR_TRANSIENT;

	opts = il_lag_admin_options(l, RD_KAFKA_ADMIN_OP_LISTCONSUMERGROUPS, timeout_ms, NULL);
	rd_kafka_ListConsumerGroups(l->rk, opts, r->q);
	rd_kafka_AdminOptions_destroy(opts);
	ev = il_lag_wait_event(r->q, RD_KAFKA_EVENT_LISTCONSUMERGROUPS_RESULT,
	    il_timers_now_ms() + timeout_ms + 1000);
	if (ev == NULL) {
		il_err_setf(errbuf, errsz, "could not list consumer groups: timed out");
		return IL_ERR_TRANSIENT;
	}
	if (rd_kafka_event_error(ev) != RD_KAFKA_RESP_ERR_NO_ERROR) {
		il_err_setf(errbuf, errsz, "could not list consumer groups: %s",
		    rd_kafka_event_error_string(ev));
		goto out;
	}
	res = rd_kafka_event_ListConsumerGroups_result(ev);
	valid = rd_kafka_ListConsumerGroups_result_valid(res, &nvalid);
	errs = rd_kafka_ListConsumerGroups_result_errors(res, &nerrs);
	/* Some brokers answering is enough; none answering is a failed round. */
	if (nerrs > 0 && nvalid == 0) {
		if (rd_kafka_error_code(errs[0]) == RD_KAFKA_RESP_ERR__UNSUPPORTED_FEATURE)
			l->groups_api = -1;
		il_err_setf(errbuf, errsz, "could not list consumer groups: %s "
		    "(name the groups in lag.groups where the broker cannot list them)",
		    rd_kafka_error_string(errs[0]));
		goto out;
	}
	l->groups_api = 1;
	for (i = 0; i < nerrs; i++)
		il_log_warn("could not list the consumer groups of a broker",
		    IL_STR("error", rd_kafka_error_string(errs[i])));
	for (i = 0; i < nvalid; i++)
		il_lag_round_add_group(r, rd_kafka_ConsumerGroupListing_group_id(valid[i]));
	err = IL_OK;
out:
	rd_kafka_event_destroy(ev);
	return err;
}

/* Step 1: the groups, from lag.groups or from the broker's list. */
static il_err
il_lag_find_groups(il_lag *l, il_lag_round *r, int timeout_ms, char *errbuf, size_t errsz)
{
	il_err err;
	size_t i;

	if (l->named != NULL) {
		for (i = 0; i < l->nnamed; i++)
			il_lag_round_add_group(r, l->named[i]);
		return IL_OK;
	}
	/* A broker that once said it cannot list groups is not asked again
	 * (2.0.2 leaks a little at each such answer). */
	if (l->groups_api < 0) {
		il_err_setf(errbuf, errsz, "could not list consumer groups: the broker cannot "
		    "(name the groups in lag.groups)");
		return IL_ERR_TRANSIENT;
	}
	err = il_lag_list_groups(l, r, timeout_ms, errbuf, errsz);
	il_lag_sort(r->groups, r->ngroups, sizeof(*r->groups), il_lag_rgroup_cmp);
	return err;
}

/* Step 1b: states and members where the broker describes groups (not the mock cluster). */
static void
il_lag_describe(il_lag *l, il_lag_round *r, int timeout_ms)
{
	const rd_kafka_ConsumerGroupDescription_t **descs;
	const rd_kafka_error_t *gerr;
	rd_kafka_AdminOptions_t *opts;
	il_lag_rgroup key, *g;
	const char **names;
	size_t n, i;

	/* 2.0.2 aborts on an assertion when DescribeConsumerGroups meets a
	 * broker without DescribeGroups (the mock cluster, which has no
	 * __consumer_offsets either): only a real coordinator is asked. */
	if (r->ngroups == 0 || l->groups_api < 0 || !r->coordinator)
		return;
	names = il_xmalloc(r->ngroups * sizeof(*names));
	for (i = 0; i < r->ngroups; i++)
		names[i] = r->groups[i].name;
	opts = il_lag_admin_options(l, RD_KAFKA_ADMIN_OP_DESCRIBECONSUMERGROUPS, timeout_ms, NULL);
	rd_kafka_DescribeConsumerGroups(l->rk, names, r->ngroups, opts, r->q);
	rd_kafka_AdminOptions_destroy(opts);
	free(names);
	r->describe_ev = il_lag_wait_event(r->q, RD_KAFKA_EVENT_DESCRIBECONSUMERGROUPS_RESULT,
	    il_timers_now_ms() + timeout_ms + 1000);
	if (r->describe_ev == NULL) {
		il_log_warn("could not describe consumer groups", IL_STR("error", "timed out"));
		return;
	}
	if (rd_kafka_event_error(r->describe_ev) != RD_KAFKA_RESP_ERR_NO_ERROR) {
		/* The mock cluster has no DescribeGroups: members stay unknown. */
		il_log_debug("could not describe consumer groups",
		    IL_STR("error", rd_kafka_event_error_string(r->describe_ev)));
		return;
	}
	descs = rd_kafka_DescribeConsumerGroups_result_groups(
	    rd_kafka_event_DescribeConsumerGroups_result(r->describe_ev), &n);
	for (i = 0; i < n; i++) {
		key.name = (char *)rd_kafka_ConsumerGroupDescription_group_id(descs[i]);
		g = il_lag_find(&key, r->groups, r->ngroups, sizeof(*r->groups), il_lag_rgroup_cmp);
		gerr = rd_kafka_ConsumerGroupDescription_error(descs[i]);
		if (gerr != NULL) {
			/* A broker of the next group protocol answers an unknown
			 * group so; a classic one describes it as Dead. */
			if (g != NULL &&
			    rd_kafka_error_code(gerr) == RD_KAFKA_RESP_ERR_GROUP_ID_NOT_FOUND)
				g->dead = true;
			il_log_debug("could not describe consumer group", IL_STR("group", key.name),
			    IL_STR("error", rd_kafka_error_string(gerr)));
			continue;
		}
		if (g == NULL)
			continue;
		g->desc = descs[i];
		g->dead = rd_kafka_ConsumerGroupDescription_state(descs[i]) ==
		    RD_KAFKA_CONSUMER_GROUP_STATE_DEAD;
	}
}

/* Takes one OffsetFetch answer; @returns false when it was not one. */
static bool
il_lag_take_offsets(rd_kafka_event_t *ev)
{
	const rd_kafka_group_result_t **res;
	const rd_kafka_error_t *gerr;
	il_lag_rgroup *g = rd_kafka_event_opaque(ev);
	size_t n;

	if (rd_kafka_event_type(ev) != RD_KAFKA_EVENT_LISTCONSUMERGROUPOFFSETS_RESULT || g == NULL) {
		rd_kafka_event_destroy(ev);
		return false;
	}
	if (rd_kafka_event_error(ev) != RD_KAFKA_RESP_ERR_NO_ERROR) {
		il_log_warn("could not read the committed offsets of consumer group",
		    IL_STR("group", g->name), IL_STR("error", rd_kafka_event_error_string(ev)));
		rd_kafka_event_destroy(ev);
		return true;
	}
	res = rd_kafka_ListConsumerGroupOffsets_result_groups(
	    rd_kafka_event_ListConsumerGroupOffsets_result(ev), &n);
	gerr = n == 1 ? rd_kafka_group_result_error(res[0]) : NULL;
	if (n != 1 || gerr != NULL) {
		il_log_warn("could not read the committed offsets of consumer group",
		    IL_STR("group", g->name),
		    IL_STR("error", gerr != NULL ? rd_kafka_error_string(gerr) : "no answer for it"));
		rd_kafka_event_destroy(ev);
		return true;
	}
	g->offsets_ev = ev;
	g->offsets = rd_kafka_group_result_partitions(res[0]);
	g->failed = false;
	return true;
}

/* Step 2: every group's committed offsets, IL_LAG_FETCH_INFLIGHT requests at a time. */
static void
il_lag_fetch_committed(il_lag *l, il_lag_round *r, int timeout_ms)
{
	const struct rd_kafka_metadata_topic *t;
	rd_kafka_topic_partition_list_t *every = NULL;
	rd_kafka_ListConsumerGroupOffsets_t *req;
	rd_kafka_AdminOptions_t *opts;
	rd_kafka_event_t *ev;
	long long deadline;
	size_t sent = 0, answered = 0, i;
	int j, k;

	for (i = 0; i < r->ngroups; i++)
		r->groups[i].failed = true;
	/* No partitions: all the group has committed, as the tool asks.  The
	 * mock cluster answers that with nothing: there, every partition of
	 * every topic is asked for. */
	if (!r->coordinator) {
		every = rd_kafka_topic_partition_list_new(64);
		for (j = 0; j < r->md->topic_cnt; j++) {
			t = &r->md->topics[j];
			if (t->err != RD_KAFKA_RESP_ERR_NO_ERROR || strncmp(t->topic, "__", 2) == 0)
				continue;
			for (k = 0; k < t->partition_cnt; k++)
				rd_kafka_topic_partition_list_add(every, t->topic, k);
		}
	}
	while (answered < r->ngroups) {
		for (; sent < r->ngroups && sent - answered < IL_LAG_FETCH_INFLIGHT; sent++) {
			req = rd_kafka_ListConsumerGroupOffsets_new(r->groups[sent].name, every);
			opts = il_lag_admin_options(l, RD_KAFKA_ADMIN_OP_LISTCONSUMERGROUPOFFSETS,
			    timeout_ms, &r->groups[sent]);
			rd_kafka_ListConsumerGroupOffsets(l->rk, &req, 1, opts, r->q);
			rd_kafka_AdminOptions_destroy(opts);
			rd_kafka_ListConsumerGroupOffsets_destroy(req);
		}
		/* librdkafka answers every request by its timeout; the margin
		 * only guards against a lost answer. */
		deadline = il_timers_now_ms() + timeout_ms + 1000;
		ev = NULL;
		while (ev == NULL && il_timers_now_ms() < deadline)
			ev = rd_kafka_queue_poll(r->q, il_lag_remaining(deadline));
		if (ev == NULL)
			break;
		if (il_lag_take_offsets(ev))
			answered++;
	}
	if (every != NULL)
		rd_kafka_topic_partition_list_destroy(every);
}

static int
il_lag_rpart_cmp(const void *a, const void *b)
{
	const il_lag_rpart *x = a, *y = b;
	int c = strcmp(x->topic, y->topic);

	if (c != 0)
		return c;
	return x->partition < y->partition ? -1 : x->partition > y->partition;
}

static void
il_lag_round_add_part(il_lag_round *r, const char *topic, int32_t partition, int64_t committed,
    const rd_kafka_MemberDescription_t *member)
{
	il_lag_rpart *p;

	if (r->nparts == r->capparts) {
		r->capparts = r->capparts == 0 ? 256 : r->capparts * 2;
		r->parts = il_xrealloc(r->parts, r->capparts * sizeof(*r->parts));
	}
	p = &r->parts[r->nparts++];
	memset(p, 0, sizeof(*p));
	p->topic = topic;
	p->partition = partition;
	p->committed = committed;
	p->member = member;
	p->lag_seconds = -1;
}

/*
 * Step 2b: a group's partitions as kafka-consumer-groups lists them: those
 * its members are assigned (offset "-" when nothing is committed) and those
 * with a committed offset (consumer "-" when no member has them).
 */
static void
il_lag_build_group(il_lag *l, il_lag_round *r, il_lag_rgroup *g)
{
	const rd_kafka_topic_partition_list_t *pl;
	const rd_kafka_MemberDescription_t *m;
	size_t i, j, k, nm;

	g->first = r->nparts;
	for (i = 0; g->offsets != NULL && i < (size_t)g->offsets->cnt; i++) {
		if (g->offsets->elems[i].err != RD_KAFKA_RESP_ERR_NO_ERROR)
			continue;
		il_lag_round_add_part(r, g->offsets->elems[i].topic, g->offsets->elems[i].partition,
		    g->offsets->elems[i].offset >= 0 ? g->offsets->elems[i].offset : -1, NULL);
	}
	nm = g->desc != NULL ? rd_kafka_ConsumerGroupDescription_member_count(g->desc) : 0;
	for (i = 0; i < nm; i++) {
		m = rd_kafka_ConsumerGroupDescription_member(g->desc, i);
		pl = rd_kafka_MemberAssignment_partitions(rd_kafka_MemberDescription_assignment(m));
		for (j = 0; pl != NULL && j < (size_t)pl->cnt; j++)
			il_lag_round_add_part(r, pl->elems[j].topic, pl->elems[j].partition, -1, m);
	}
	if (r->nparts - g->first > 1)
		qsort(r->parts + g->first, r->nparts - g->first, sizeof(*r->parts), il_lag_rpart_cmp);
	/* Merge the two views of a partition; drop one with neither an offset nor an owner. */
	for (i = g->first, k = g->first; i < r->nparts; i++) {
		if (k > g->first && il_lag_rpart_cmp(&r->parts[k - 1], &r->parts[i]) == 0) {
			if (r->parts[i].committed > r->parts[k - 1].committed)
				r->parts[k - 1].committed = r->parts[i].committed;
			if (r->parts[k - 1].member == NULL)
				r->parts[k - 1].member = r->parts[i].member;
			continue;
		}
		if (r->parts[i].committed < 0 && r->parts[i].member == NULL)
			continue;
		r->parts[k++] = r->parts[i];
	}
	r->nparts = k;
	g->n = r->nparts - g->first;
	for (i = g->first; i < r->nparts; i++) {
		r->parts[i].st = il_lag_state_get(l, g->name, r->parts[i].topic, r->parts[i].partition);
		r->parts[i].st->seen = l->round;
		r->parts[i].topic = r->parts[i].st->topic;
	}
}

static int
il_lag_tp_cmp(const void *a, const void *b)
{
	const rd_kafka_topic_partition_t *x = a, *y = b;
	int c = strcmp(x->topic, y->topic);

	if (c != 0)
		return c;
	return x->partition < y->partition ? -1 : x->partition > y->partition;
}

/* @returns the entry of (topic, partition) in the round's log end offsets, or NULL. */
static rd_kafka_topic_partition_t *
il_lag_end_of(const il_lag_round *r, const char *topic, int32_t partition)
{
	rd_kafka_topic_partition_t key;

	if (r->ends == NULL)
		return NULL;
	memset(&key, 0, sizeof(key));
	key.topic = (char *)topic;
	key.partition = partition;
	return il_lag_find(&key, r->ends->elems, (size_t)r->ends->cnt, sizeof(*r->ends->elems),
	    il_lag_tp_cmp);
}

/*
 * Step 3: every needed partition's log end offset in
 * one ListOffsets "latest" per broker (rd_kafka_offsets_for_times() with
 * the time RD_KAFKA_OFFSET_END), after the committed offsets, in the order
 * kafka-consumer-groups reads them.
 */
static il_err
il_lag_read_log_ends(il_lag *l, il_lag_round *r, int timeout_ms, char *errbuf, size_t errsz)
{
	const struct rd_kafka_metadata_topic *t, *clog;
	rd_kafka_topic_partition_list_t *all;
	rd_kafka_resp_err_t rerr;
	long long read_ms;
	size_t i;
	int j, k;

	all = rd_kafka_topic_partition_list_new((int)r->nparts + 64);
	for (i = 0; i < r->nparts; i++) {
		t = il_lag_md_topic(r, r->parts[i].topic);
		if (t != NULL && r->parts[i].partition >= 0 && r->parts[i].partition < t->partition_cnt)
			rd_kafka_topic_partition_list_add(all, r->parts[i].topic,
			    r->parts[i].partition)->offset = RD_KAFKA_OFFSET_END;
	}
	clog = l->clog != IL_LAG_CLOG_DENIED ? il_lag_md_topic(r, IL_COMMITLOG_TOPIC) : NULL;
	for (j = 0; clog != NULL && j < clog->partition_cnt; j++)
		rd_kafka_topic_partition_list_add(all, IL_COMMITLOG_TOPIC, j)->offset =
		    RD_KAFKA_OFFSET_END;
	il_lag_sort(all->elems, (size_t)all->cnt, sizeof(*all->elems), il_lag_tp_cmp);
	/* Unique: several groups read the same partitions. */
	r->ends = rd_kafka_topic_partition_list_new(all->cnt > 0 ? all->cnt : 1);
	for (k = 0; k < all->cnt; k++) {
		if (k > 0 && il_lag_tp_cmp(&all->elems[k - 1], &all->elems[k]) == 0)
			continue;
		rd_kafka_topic_partition_list_add(r->ends, all->elems[k].topic,
		    all->elems[k].partition)->offset = RD_KAFKA_OFFSET_END;
	}
	rd_kafka_topic_partition_list_destroy(all);
	if (r->ends->cnt == 0)
		return IL_OK;
	rerr = rd_kafka_offsets_for_times(l->rk, r->ends, timeout_ms);
	if (rerr != RD_KAFKA_RESP_ERR_NO_ERROR) {
		il_err_setf(errbuf, errsz, "could not read the log end offsets of %d partitions: %s",
		    r->ends->cnt, rd_kafka_err2str(rerr));
		return IL_ERR_TRANSIENT;
	}
	/* Stamped when the answer is in: the broker read each end before
	 * that, so a commit made later had at least this end before it and
	 * its lag is never overstated by the time the request took. */
	read_ms = il_lag_wall_ms();
	for (k = 0; k < r->ends->cnt; k++) {
		if (r->ends->elems[k].err == RD_KAFKA_RESP_ERR_NO_ERROR)
			continue;
		il_log_warn("could not read the log end offset of partition",
		    IL_STR("topic", r->ends->elems[k].topic),
		    IL_INT("partition", r->ends->elems[k].partition),
		    IL_STR("error", rd_kafka_err2str(r->ends->elems[k].err)));
		r->ends->elems[k].offset = -1;
	}
	for (i = 0; i < r->nparts; i++) {
		rd_kafka_topic_partition_t *e = il_lag_end_of(r, r->parts[i].topic, r->parts[i].partition);
		il_lag_state *st = r->parts[i].st;

		st->log_end = e != NULL && e->offset >= 0 ? e->offset : -1;
		if (st->log_end >= 0)
			il_burrow_ends_push(&st->ends, st->log_end, read_ms);
	}
	return IL_OK;
}

/* Feeds one record of __consumer_offsets to the window it belongs to. */
static void
il_lag_take_record(il_lag *l, const rd_kafka_message_t *rkm)
{
	il_commitlog_commit c;
	il_lag_state *st;
	char err[256];

	if (il_commitlog_decode(rkm->key, rkm->key_len, rkm->payload, rkm->len, &c,
	    err, sizeof(err)) != IL_OK) {
		il_log_debug("skipped a record of the commit log", IL_INT("partition", rkm->partition),
		    IL_INT("offset", rkm->offset), IL_STR("error", err));
		return;
	}
	if (c.kind != IL_COMMITLOG_COMMIT)
		return;
	/* Only partitions a watched group has now, whose log end was read
	 * (Burrow too skips a commit until it knows the partition's end). */
	st = il_lag_state_find(l, c.group, c.group_len, c.topic, c.topic_len, c.partition);
	if (st == NULL || st->seen != l->round || st->ends.n == 0)
		return;
	/* The round reads the commits made since the last one: measured
	 * against this round's end, a consumer that keeps up would show the
	 * messages that came after each commit as its lag. */
	il_lag_window_add(&st->w, c.offset, il_burrow_commit_lag(&st->ends, c.offset,
	    (long long)c.commit_ts_ms), (long long)c.commit_ts_ms);
}

/*
 * Fills the metadata cache of @p rk: a partition assigned before its
 * leader is known waits for librdkafka's one-second retry.
 */
static void
il_lag_warm(rd_kafka_t *rk, int timeout_ms)
{
	const struct rd_kafka_metadata *md;

	if (rd_kafka_metadata(rk, 1, NULL, &md, timeout_ms) == RD_KAFKA_RESP_ERR_NO_ERROR)
		rd_kafka_metadata_destroy(md);
}

/* Starts reading __consumer_offsets from its beginning, as Burrow does. */
static void
il_lag_clog_assign(il_lag *l, const struct rd_kafka_metadata_topic *t, int timeout_ms)
{
	rd_kafka_topic_partition_list_t *parts = rd_kafka_topic_partition_list_new(t->partition_cnt);
	rd_kafka_resp_err_t rerr;
	int j;

	il_lag_warm(l->clog_rk, timeout_ms);
	for (j = 0; j < t->partition_cnt; j++)
		rd_kafka_topic_partition_list_add(parts, IL_COMMITLOG_TOPIC, j)->offset =
		    RD_KAFKA_OFFSET_BEGINNING;
	rerr = rd_kafka_assign(l->clog_rk, parts);
	rd_kafka_topic_partition_list_destroy(parts);
	if (rerr != RD_KAFKA_RESP_ERR_NO_ERROR) {
		il_log_warn("could not read the commit log", IL_STR("topic", IL_COMMITLOG_TOPIC),
		    IL_STR("error", rd_kafka_err2str(rerr)));
		return;
	}
	l->clog = IL_LAG_CLOG_READING;
	l->clog_parts = t->partition_cnt;
	free(l->clog_pos);
	l->clog_pos = il_xmalloc((size_t)t->partition_cnt * sizeof(*l->clog_pos));
	for (j = 0; j < t->partition_cnt; j++)
		l->clog_pos[j] = -1;
	il_log_info("reading the commit log", IL_STR("topic", IL_COMMITLOG_TOPIC),
	    IL_INT("partitions", t->partition_cnt));
}

static void
il_lag_clog_deny(il_lag *l, rd_kafka_resp_err_t rerr)
{
	il_log_warn("could not read the commit log: commits are seen by the changes of committed "
	    "offsets from now on", IL_STR("topic", IL_COMMITLOG_TOPIC),
	    IL_STR("error", rd_kafka_err2str(rerr)));
	(void)rd_kafka_assign(l->clog_rk, NULL);
	l->clog = IL_LAG_CLOG_DENIED;
}

/* Step 0b: starts reading the commit log as soon as the metadata shows it, so
 * that librdkafka's start-up of the fetch overlaps the admin requests. */
static void
il_lag_clog_start(il_lag *l, il_lag_round *r, int timeout_ms)
{
	const struct rd_kafka_metadata_topic *t;

	if (l->clog != IL_LAG_CLOG_ABSENT)
		return;
	t = il_lag_md_topic(r, IL_COMMITLOG_TOPIC);
	if (t != NULL && t->partition_cnt > 0)
		il_lag_clog_assign(l, t, timeout_ms);
}

/* Takes one message of the commit log; @returns false when reading it is refused. */
static bool
il_lag_clog_take(il_lag *l, const rd_kafka_message_t *rkm)
{
	switch (rkm->err) {
	case RD_KAFKA_RESP_ERR_NO_ERROR:
		l->clog_pos[rkm->partition] = rkm->offset + 1;
		il_lag_take_record(l, rkm);
		return true;
	case RD_KAFKA_RESP_ERR__PARTITION_EOF:
		l->clog_pos[rkm->partition] = rkm->offset;
		return true;
	case RD_KAFKA_RESP_ERR_TOPIC_AUTHORIZATION_FAILED:
	case RD_KAFKA_RESP_ERR_GROUP_AUTHORIZATION_FAILED:
	case RD_KAFKA_RESP_ERR_CLUSTER_AUTHORIZATION_FAILED:
		il_lag_clog_deny(l, rkm->err);
		return false;
	default:
		/* librdkafka retries by itself. */
		il_log_debug("commit log read error", IL_INT("partition", rkm->partition),
		    IL_STR("error", rd_kafka_message_errstr(rkm)));
		return true;
	}
}

/*
 * Step 4a: reads __consumer_offsets up to the ends read in step 3, every
 * commit one entry of its partition's window, for at most @p timeout_ms.
 * @returns false when commits must be seen by change this round.
 */
static bool
il_lag_read_commits(il_lag *l, il_lag_round *r, int timeout_ms)
{
	const struct rd_kafka_metadata_topic *t;
	rd_kafka_topic_partition_t *e;
	rd_kafka_message_t *rkm;
	long long deadline = il_timers_now_ms() + timeout_ms;
	int64_t *target = NULL;
	int32_t j, done = 0, p;
	bool ok = true, was;

	if (l->clog != IL_LAG_CLOG_READING)
		return false;
	t = il_lag_md_topic(r, IL_COMMITLOG_TOPIC);
	/* Reading, but without this round's ends: the next round goes on. */
	if (t == NULL)
		return true;
	target = il_xmalloc((size_t)l->clog_parts * sizeof(*target));
	for (j = 0; j < l->clog_parts; j++) {
		e = il_lag_end_of(r, IL_COMMITLOG_TOPIC, j);
		target[j] = e != NULL ? e->offset : -1;
		if (target[j] <= 0 || l->clog_pos[j] >= target[j])
			done++;
	}
	while (done < l->clog_parts && il_timers_now_ms() < deadline) {
		rkm = rd_kafka_consumer_poll(l->clog_rk, il_lag_remaining(deadline));
		if (rkm == NULL)
			continue;
		p = rkm->partition;
		if (p < 0 || p >= l->clog_parts) {
			rd_kafka_message_destroy(rkm);
			continue;
		}
		was = target[p] <= 0 || l->clog_pos[p] >= target[p];
		ok = il_lag_clog_take(l, rkm);
		rd_kafka_message_destroy(rkm);
		if (!ok)
			break;
		if (!was && l->clog_pos[p] >= target[p])
			done++;
	}
	free(target);
	if (ok && done < l->clog_parts)
		il_log_info("the commit log is not yet read to its end; the next round goes on",
		    IL_STR("topic", IL_COMMITLOG_TOPIC), IL_INT("partitions_behind", l->clog_parts - done));
	return ok;
}

/*
 * Step 4b, where the commit log cannot be read (the mock cluster has none):
 * a committed offset that changed since the last round counts as one commit
 * now.  The offset a round first saw becomes a commit, at the time it was
 * first seen, only once it changes: until then nothing says when it was
 * made, and a window of one commit would read as STALL or STOP at once.
 */
static void
il_lag_commits_by_change(il_lag *l, il_lag_round *r, long long now_ms)
{
	il_lag_state *st;
	size_t i;

	(void)l;
	for (i = 0; i < r->nparts; i++) {
		st = r->parts[i].st;
		if (r->parts[i].committed < 0 || st->log_end < 0)
			continue;
		if (!st->observed || st->committed == r->parts[i].committed)
			continue;
		if (st->w.n == 0 && st->first_ms >= 0 && st->first_lag >= 0)
			il_lag_window_add(&st->w, st->committed, st->first_lag, st->first_ms);
		il_lag_window_add(&st->w, r->parts[i].committed,
		    il_burrow_commit_lag(&st->ends, r->parts[i].committed, now_ms), now_ms);
	}
}

static int
il_lag_want_cmp(const void *a, const void *b)
{
	const il_lag_want *x = a, *y = b;
	int c = strcmp(x->topic, y->topic);

	if (c != 0)
		return c;
	if (x->partition != y->partition)
		return x->partition < y->partition ? -1 : 1;
	return x->offset < y->offset ? -1 : x->offset > y->offset;
}

/* Orders by partition only: a pass holds one offset per partition. */
static int
il_lag_want_tp_cmp(const void *a, const void *b)
{
	const il_lag_want *x = a, *y = b;
	int c = strcmp(x->topic, y->topic);

	if (c != 0)
		return c;
	return x->partition < y->partition ? -1 : x->partition > y->partition;
}

/* Pauses one partition of the probe: its answer is in. */
static void
il_lag_probe_pause(il_lag *l, const char *topic, int32_t partition)
{
	rd_kafka_topic_partition_list_t *one = rd_kafka_topic_partition_list_new(1);

	rd_kafka_topic_partition_list_add(one, topic, partition);
	(void)rd_kafka_pause_partitions(l->probe, one);
	rd_kafka_topic_partition_list_destroy(one);
}

/* Starts fetching each wanted offset in @p w[0..n) (one offset per partition). */
static void
il_lag_probe_assign(il_lag *l, const il_lag_want *w, size_t n)
{
	rd_kafka_topic_partition_list_t *parts = rd_kafka_topic_partition_list_new((int)n);
	rd_kafka_resp_err_t rerr;
	size_t i;

	for (i = 0; i < n; i++)
		rd_kafka_topic_partition_list_add(parts, w[i].topic, w[i].partition)->offset =
		    w[i].offset;
	rerr = rd_kafka_assign(l->probe, parts);
	rd_kafka_topic_partition_list_destroy(parts);
	if (rerr != RD_KAFKA_RESP_ERR_NO_ERROR)
		il_log_warn("could not read the messages at committed offsets",
		    IL_STR("error", rd_kafka_err2str(rerr)));
}

/*
 * Takes the first message at or after each wanted offset in @p w[0..n), as
 * assigned by il_lag_probe_assign(), until all are answered or @p deadline;
 * then gives the partitions up.
 */
static void
il_lag_probe_collect(il_lag *l, il_lag_want *w, size_t n, long long deadline)
{
	rd_kafka_topic_partition_list_t *parts;
	rd_kafka_timestamp_type_t tstype;
	rd_kafka_message_t *rkm;
	il_lag_want key, *hit;
	size_t i, left = n;
	int64_t ts;

	while (left > 0 && il_timers_now_ms() < deadline) {
		rkm = rd_kafka_consumer_poll(l->probe, il_lag_remaining(deadline));
		if (rkm == NULL)
			continue;
		if (rkm->rkt == NULL) {
			rd_kafka_message_destroy(rkm);
			continue;
		}
		memset(&key, 0, sizeof(key));
		key.topic = rd_kafka_topic_name(rkm->rkt);
		key.partition = rkm->partition;
		hit = il_lag_find(&key, w, n, sizeof(*w), il_lag_want_tp_cmp);
		if (hit == NULL || hit->done) {
			rd_kafka_message_destroy(rkm);
			continue;
		}
		if (rkm->err == RD_KAFKA_RESP_ERR__PARTITION_EOF) {
			/* Nothing left to read there (control records only): no age. */
			hit->done = true;
			hit->ts_ms = -2;
		} else if (rkm->err == RD_KAFKA_RESP_ERR_NO_ERROR && rkm->offset >= hit->offset) {
			ts = rd_kafka_message_timestamp(rkm, &tstype);
			hit->done = true;
			hit->ts_ms = tstype == RD_KAFKA_TIMESTAMP_NOT_AVAILABLE ? -1 : ts;
		}
		if (hit->done) {
			left--;
			il_lag_probe_pause(l, hit->topic, hit->partition);
		}
		rd_kafka_message_destroy(rkm);
	}
	/* A paused partition would stay paused in a later assignment. */
	parts = rd_kafka_topic_partition_list_new((int)n);
	for (i = 0; i < n; i++)
		rd_kafka_topic_partition_list_add(parts, w[i].topic, w[i].partition);
	(void)rd_kafka_resume_partitions(l->probe, parts);
	rd_kafka_topic_partition_list_destroy(parts);
	(void)rd_kafka_assign(l->probe, NULL);
}

/* Copies the wants of pass @p pass into r->sub, in w's order: sorted, one per partition. */
static void
il_lag_probe_select(il_lag_round *r, size_t pass)
{
	size_t i;

	for (i = 0, r->nsub = 0; i < r->nwants; i++)
		if (r->wants[i].rank == pass)
			r->sub[r->nsub++] = r->wants[i];
}

/* Puts the answers of r->sub back into r->wants. */
static void
il_lag_probe_merge(il_lag_round *r, size_t pass)
{
	size_t i, k;

	for (i = 0, k = 0; i < r->nwants; i++)
		if (r->wants[i].rank == pass)
			r->wants[i] = r->sub[k++];
}

/*
 * Step 5a, right after the log end offsets: the offsets whose message time
 * is not cached, and the first pass of reading them started, so that the
 * probe's fetching overlaps the reading of the commit log.
 */
static void
il_lag_probe_begin(il_lag *l, il_lag_round *r, int timeout_ms)
{
	il_lag_want *w;
	il_lag_rpart *p;
	size_t n = 0, i, k;

	w = r->wants = il_xmalloc((r->nparts > 0 ? r->nparts : 1) * sizeof(*w));
	for (i = 0; i < r->nparts; i++) {
		p = &r->parts[i];
		if (p->committed < 0 || p->st->log_end <= p->committed ||
		    p->st->probe_offset == p->committed)
			continue;
		w[n].topic = p->topic;
		w[n].partition = p->partition;
		w[n].offset = p->committed;
		w[n].ts_ms = -1;
		w[n].done = false;
		n++;
	}
	il_lag_sort(w, n, sizeof(*w), il_lag_want_cmp);
	/* Unique, then passes that each take one offset per partition
	 * (several groups may wait at different offsets of one partition). */
	for (i = 0, k = 0; i < n; i++)
		if (k == 0 || il_lag_want_cmp(&w[k - 1], &w[i]) != 0)
			w[k++] = w[i];
	r->nwants = k;
	for (i = 0; i < r->nwants; i++) {
		w[i].rank = i > 0 && il_lag_want_tp_cmp(&w[i - 1], &w[i]) == 0 ? w[i - 1].rank + 1 : 0;
		if (w[i].rank > r->maxrank)
			r->maxrank = w[i].rank;
	}
	r->sub = il_xmalloc((r->nwants > 0 ? r->nwants : 1) * sizeof(*r->sub));
	il_lag_drain(l->probe);
	if (r->nwants == 0)
		return;
	/* New topics and leaders come with new partitions to probe. */
	if (r->nwants > 0)
		il_lag_warm(l->probe, timeout_ms);
	il_lag_probe_select(r, 0);
	il_lag_probe_assign(l, r->sub, r->nsub);
}

/*
 * Step 5b: the lag in seconds of every partition with lag: the age of the
 * message at its committed offset, read once per committed offset.
 */
static void
il_lag_probe_end(il_lag *l, il_lag_round *r, int timeout_ms, long long now_ms)
{
	long long deadline = il_timers_now_ms() + timeout_ms;
	il_lag_want *hit, key;
	il_lag_rpart *p;
	size_t i, pass;

	for (pass = 0; pass <= r->maxrank && r->nwants > 0; pass++) {
		if (pass > 0) {
			if (il_timers_now_ms() >= deadline)
				break;
			il_lag_probe_select(r, pass);
			il_lag_probe_assign(l, r->sub, r->nsub);
		}
		il_lag_probe_collect(l, r->sub, r->nsub, deadline);
		il_lag_probe_merge(r, pass);
	}
	for (i = 0; i < r->nparts; i++) {
		p = &r->parts[i];
		if (p->committed < 0 || p->st->log_end < 0)
			continue;
		if (p->st->log_end <= p->committed) {
			p->lag_seconds = 0;
			continue;
		}
		if (p->st->probe_offset != p->committed) {
			key.topic = p->topic;
			key.partition = p->partition;
			key.offset = p->committed;
			hit = il_lag_find(&key, r->wants, r->nwants, sizeof(*r->wants), il_lag_want_cmp);
			if (hit == NULL || !hit->done || hit->ts_ms == -1)
				continue;
			if (hit->ts_ms == -2) {
				p->lag_seconds = 0;
				continue;
			}
			p->st->probe_offset = p->committed;
			p->st->probe_ts_ms = hit->ts_ms;
		}
		p->lag_seconds = now_ms > p->st->probe_ts_ms ?
		    (double)(now_ms - p->st->probe_ts_ms) / 1000.0 : 0;
	}
}

static int
il_lag_group_cmp(const void *a, const void *b)
{
	return strcmp(((const il_lag_group *)a)->group, ((const il_lag_group *)b)->group);
}

/* @returns the previous snapshot's figures of group @p name, or NULL. */
static const il_lag_group *
il_lag_previous(const il_lag *l, const char *name)
{
	il_lag_group key;

	if (l->snap.ngroups == 0)
		return NULL;
	memset(&key, 0, sizeof(key));
	key.group = name;
	return il_lag_find(&key, l->snap.groups, l->snap.ngroups, sizeof(*l->snap.groups),
	    il_lag_group_cmp);
}

/*
 * A group whose committed offsets could not be read keeps its previous
 * figures, and its windows keep taking the commits of the commit log.
 */
static void
il_lag_keep_failed_states(il_lag *l, il_lag_round *r)
{
	const il_lag_partition *op;
	const il_lag_group *old;
	il_lag_state *st;
	size_t i, j;

	for (i = 0; i < r->ngroups; i++) {
		if (!r->groups[i].failed || (old = il_lag_previous(l, r->groups[i].name)) == NULL)
			continue;
		for (j = 0; j < old->nparts; j++) {
			op = &l->snap.parts[old->first + j];
			st = il_lag_state_find(l, op->group, strlen(op->group), op->topic,
			    strlen(op->topic), op->partition);
			if (st != NULL)
				st->seen = l->round;
		}
	}
}

/* Copies a group of the previous snapshot, strings into @p arena. */
static void
il_lag_keep_previous(il_lag *l, const il_lag_group *old, il_lag_group *g, il_lag_partition *parts,
    size_t *np, il_lag_chunk **arena)
{
	const il_lag_partition *op;
	il_lag_partition *p;
	size_t i;

	*g = *old;
	g->group = il_lag_intern(arena, old->group);
	g->state = il_lag_intern(arena, old->state);
	g->first = *np;
	for (i = 0; i < old->nparts; i++) {
		op = &l->snap.parts[old->first + i];
		p = &parts[(*np)++];
		*p = *op;
		p->group = g->group;
		p->topic = il_lag_intern(arena, op->topic);
		p->consumer_id = il_lag_intern(arena, op->consumer_id);
		p->host = il_lag_intern(arena, op->host);
		p->client_id = il_lag_intern(arena, op->client_id);
	}
}

/* Fills one partition of the new snapshot from the round. */
static void
il_lag_fill_part(const il_lag_rpart *rp, il_lag_partition *p, const char *group,
    long long now_ms, il_lag_chunk **arena)
{
	const il_lag_state *st = rp->st;
	int64_t current;

	memset(p, 0, sizeof(*p));
	p->group = group;
	p->topic = il_lag_intern(arena, st->topic);
	p->partition = st->partition;
	p->committed = rp->committed;
	p->log_end = st->log_end;
	p->lag = rp->committed >= 0 && st->log_end >= 0 ?
	    (st->log_end > rp->committed ? st->log_end - rp->committed : 0) : -1;
	p->lag_seconds = rp->committed < 0 ? 0 : rp->lag_seconds;
	if (p->lag == 0)
		p->lag_seconds = 0;
	p->consumer_id = il_lag_intern(arena, rp->member != NULL ?
	    il_lag_str(rd_kafka_MemberDescription_consumer_id(rp->member)) : "");
	p->host = il_lag_intern(arena, rp->member != NULL ?
	    il_lag_str(rd_kafka_MemberDescription_host(rp->member)) : "");
	p->client_id = il_lag_intern(arena, rp->member != NULL ?
	    il_lag_str(rd_kafka_MemberDescription_client_id(rp->member)) : "");
	current = p->lag > 0 ? p->lag : 0;
	p->status = il_burrow_partition_status(&st->w, current,
	    il_burrow_recent_lag_zero(&st->w, &st->ends), now_ms);
	p->window = st->w.n;
	p->complete = il_burrow_window_complete(&st->w);
	p->start.offset = -1;
	p->start.ts_ms = -1;
	p->end = p->start;
	if (st->w.n > 0) {
		p->start = *il_burrow_window_at(&st->w, 0);
		p->end = *il_burrow_window_at(&st->w, st->w.n - 1);
	}
	p->last_commit_ms = p->end.ts_ms;
}

/* Step 6: statuses, the new snapshot in place of the old, and the states no longer needed. */
static void
il_lag_publish(il_lag *l, il_lag_round *r, long long now_ms, long long started_mono)
{
	il_lag_group *groups, *g;
	const il_lag_group *old;
	il_lag_partition *parts;
	il_burrow_status *sts = NULL;
	il_lag_chunk *arena = NULL;
	size_t cap = r->nparts, np = 0, ng = 0, i, j;

	/* Room for the groups that keep their previous partitions too. */
	for (i = 0; i < r->ngroups; i++) {
		if (!r->groups[i].failed)
			continue;
		old = il_lag_previous(l, r->groups[i].name);
		if (old != NULL)
			cap += old->nparts;
	}
	groups = il_xcalloc(r->ngroups > 0 ? r->ngroups : 1, sizeof(*groups));
	parts = il_xcalloc(cap > 0 ? cap : 1, sizeof(*parts));
	for (i = 0; i < r->ngroups; i++) {
		il_lag_rgroup *rg = &r->groups[i];

		g = &groups[ng];
		if (rg->failed) {
			old = il_lag_previous(l, rg->name);
			if (old == NULL)
				continue;
			il_lag_keep_previous(l, old, g, parts, &np, &arena);
			ng++;
			continue;
		}
		memset(g, 0, sizeof(*g));
		g->group = il_lag_intern(&arena, rg->name);
		g->state = il_lag_intern(&arena, rg->desc != NULL ? rd_kafka_consumer_group_state_name(
		    rd_kafka_ConsumerGroupDescription_state(rg->desc)) : "");
		g->first = np;
		g->nparts = rg->n;
		sts = il_xrealloc(sts, (rg->n > 0 ? rg->n : 1) * sizeof(*sts));
		for (j = 0; j < rg->n; j++) {
			il_lag_partition *p = &parts[np++];

			il_lag_fill_part(&r->parts[rg->first + j], p, g->group, now_ms, &arena);
			sts[j] = p->status;
			if (p->lag >= 0) {
				g->sum_lag += p->lag;
				if (p->lag > g->max_lag)
					g->max_lag = p->lag;
			}
			if (p->lag_seconds > g->max_lag_seconds)
				g->max_lag_seconds = p->lag_seconds;
		}
		g->status = il_burrow_group_status(sts, rg->n);
		/* Burrow knows no such group; kafka-consumer-groups says it
		 * does not exist.  Offsets would make it exist (Empty). */
		if (rg->dead && rg->n == 0)
			g->status = IL_BURROW_NOTFOUND;
		ng++;
	}
	free(sts);
	/* The committed offsets of this round are the next round's "before". */
	for (i = 0; i < r->nparts; i++) {
		il_lag_state *st = r->parts[i].st;

		if (!st->observed || st->committed != r->parts[i].committed) {
			st->first_ms = now_ms;
			st->first_lag = r->parts[i].committed >= 0 && st->log_end >= 0 ?
			    st->log_end - r->parts[i].committed : -1;
		}
		st->committed = r->parts[i].committed;
		st->observed = true;
	}
	il_lag_states_prune(l, l->round);
	free(l->groups);
	free(l->parts);
	il_lag_arena_free(l->arena);
	l->groups = groups;
	l->parts = parts;
	l->arena = arena;
	l->snap.groups = groups;
	l->snap.ngroups = ng;
	l->snap.parts = parts;
	l->snap.nparts = np;
	l->snap.taken_ms = il_lag_wall_ms();
	l->snap.eval_seconds = (double)(il_timers_now_ms() - started_mono) / 1000.0;
}

il_err
il_lag_evaluate(il_lag *l, int timeout_ms, char *errbuf, size_t errsz)
{
	long long t[7], now;
	il_lag_round r;
	il_err err;
	size_t i;

	memset(&r, 0, sizeof(r));
	t[0] = il_timers_now_ms();
	if (timeout_ms <= 0)
		timeout_ms = 1;
	l->round++;
	r.q = rd_kafka_queue_new(l->rk);
	il_lag_drain(l->rk);
	if (l->clog != IL_LAG_CLOG_READING)
		il_lag_drain(l->clog_rk);
	err = il_lag_read_metadata(l, &r, timeout_ms, errbuf, errsz);
	if (err != IL_OK)
		goto out;
	il_lag_clog_start(l, &r, timeout_ms);
	err = il_lag_find_groups(l, &r, timeout_ms, errbuf, errsz);
	if (err != IL_OK)
		goto out;
	il_lag_describe(l, &r, timeout_ms);
	t[1] = il_timers_now_ms();
	il_lag_fetch_committed(l, &r, timeout_ms);
	for (i = 0; i < r.ngroups; i++)
		if (!r.groups[i].failed)
			il_lag_build_group(l, &r, &r.groups[i]);
	il_lag_keep_failed_states(l, &r);
	t[2] = il_timers_now_ms();
	err = il_lag_read_log_ends(l, &r, timeout_ms, errbuf, errsz);
	if (err != IL_OK)
		goto out;
	il_lag_probe_begin(l, &r, timeout_ms);
	t[3] = il_timers_now_ms();
	/* One instant for the commits seen by change and for the statuses:
	 * a commit seen now is not yet a silence. */
	now = il_lag_wall_ms();
	if (!il_lag_read_commits(l, &r, timeout_ms))
		il_lag_commits_by_change(l, &r, now);
	t[4] = il_timers_now_ms();
	il_lag_probe_end(l, &r, timeout_ms, now);
	t[5] = il_timers_now_ms();
	il_lag_publish(l, &r, now, t[0]);
	t[6] = il_timers_now_ms();
	il_log_debug("lag round", IL_INT("groups", r.ngroups), IL_INT("partitions", r.nparts),
	    IL_INT("states", l->nstates), IL_INT("groups_ms", t[1] - t[0]),
	    IL_INT("committed_ms", t[2] - t[1]), IL_INT("log_ends_ms", t[3] - t[2]),
	    IL_INT("commit_log_ms", t[4] - t[3]), IL_INT("lag_seconds_ms", t[5] - t[4]),
	    IL_INT("publish_ms", t[6] - t[5]));
out:
	il_lag_round_free(&r);
	return err;
}

/* ---- Prometheus text ---- */

/* The label set of a partition: cluster_name, group, topic, partition. */
static void
il_lag_part_labels(const il_lag *l, const il_lag_partition *p, bool with_group, char *out,
    size_t outsz)
{
	char c[IL_LAG_LABEL_MAX], g[IL_LAG_LABEL_MAX], t[IL_LAG_LABEL_MAX], num[16];

	snprintf(num, sizeof(num), "%" PRId32, p->partition);
	il_metrics_label(c, sizeof(c), "cluster_name", l->cluster);
	il_metrics_label(t, sizeof(t), "topic", p->topic);
	if (with_group) {
		il_metrics_label(g, sizeof(g), "group", p->group);
		snprintf(out, outsz, "%s,%s,%s,partition=\"%s\"", c, g, t, num);
	} else {
		snprintf(out, outsz, "%s,%s,partition=\"%s\"", c, t, num);
	}
}

static void
il_lag_group_labels(const il_lag *l, const char *group, char *out, size_t outsz)
{
	char c[IL_LAG_LABEL_MAX], g[IL_LAG_LABEL_MAX];

	il_metrics_label(c, sizeof(c), "cluster_name", l->cluster);
	il_metrics_label(g, sizeof(g), "group", group);
	snprintf(out, outsz, "%s,%s", c, g);
}

static il_err
il_lag_family(il_buf *out, const char *name, const char *help)
{
	return il_buf_printf(out, "# HELP %s %s\n# TYPE %s gauge\n", name, help, name);
}

/* Which figure of a partition a family shows. */
typedef enum il_lag_pfig {
	IL_LAG_F_OFFSET,
	IL_LAG_F_LAG,
	IL_LAG_F_LAG_SECONDS,
	IL_LAG_F_STATUS,
} il_lag_pfig;

static il_err
il_lag_render_parts(const il_lag *l, il_buf *out, const char *name, const char *help,
    il_lag_pfig fig)
{
	char labels[4 * IL_LAG_LABEL_MAX + 64];
	const il_lag_partition *p;
	il_err err;
	size_t i;

	if (il_lag_family(out, name, help) != IL_OK)
		return IL_ERR_NOMEM;
	for (i = 0; i < l->snap.nparts; i++) {
		p = &l->snap.parts[i];
		il_lag_part_labels(l, p, true, labels, sizeof(labels));
		switch (fig) {
		case IL_LAG_F_OFFSET:
			if (p->committed < 0)
				continue;
			err = il_buf_printf(out, "%s{%s} %" PRId64 "\n", name, labels, p->committed);
			break;
		case IL_LAG_F_LAG:
			if (p->lag < 0)
				continue;
			err = il_buf_printf(out, "%s{%s} %" PRId64 "\n", name, labels, p->lag);
			break;
		case IL_LAG_F_LAG_SECONDS:
			if (p->lag_seconds < 0 || p->committed < 0)
				continue;
			err = il_buf_printf(out, "%s{%s} %.3f\n", name, labels, p->lag_seconds);
			break;
		default:
			err = il_buf_printf(out, "%s{%s,status=\"%s\"} %d\n", name, labels,
			    il_burrow_status_name(p->status), (int)p->status);
			break;
		}
		if (err != IL_OK)
			return err;
	}
	return IL_OK;
}

static int
il_lag_partp_cmp(const void *a, const void *b)
{
	const il_lag_partition *x = *(const il_lag_partition *const *)a;
	const il_lag_partition *y = *(const il_lag_partition *const *)b;
	int c = strcmp(x->topic, y->topic);

	if (c != 0)
		return c;
	return x->partition < y->partition ? -1 : x->partition > y->partition;
}

/* kafka_partition_latest_offset: one series per partition, however many groups read it. */
static il_err
il_lag_render_latest(const il_lag *l, il_buf *out)
{
	static const char name[] = "kafka_partition_latest_offset";
	char labels[3 * IL_LAG_LABEL_MAX + 64];
	const il_lag_partition **sorted;
	il_err err = IL_OK;
	size_t i, n = 0;

	if (il_lag_family(out, name, "Latest offset of a partition") != IL_OK)
		return IL_ERR_NOMEM;
	sorted = il_xmalloc((l->snap.nparts > 0 ? l->snap.nparts : 1) * sizeof(*sorted));
	for (i = 0; i < l->snap.nparts; i++)
		if (l->snap.parts[i].log_end >= 0)
			sorted[n++] = &l->snap.parts[i];
	il_lag_sort(sorted, n, sizeof(*sorted), il_lag_partp_cmp);
	for (i = 0; i < n && err == IL_OK; i++) {
		if (i > 0 && il_lag_partp_cmp(&sorted[i - 1], &sorted[i]) == 0)
			continue;
		il_lag_part_labels(l, sorted[i], false, labels, sizeof(labels));
		err = il_buf_printf(out, "%s{%s} %" PRId64 "\n", name, labels, sorted[i]->log_end);
	}
	free(sorted);
	return err;
}

/* Which figure of a group a family shows. */
typedef enum il_lag_gfig {
	IL_LAG_G_MAX_LAG,
	IL_LAG_G_MAX_LAG_SECONDS,
	IL_LAG_G_SUM_LAG,
	IL_LAG_G_STATUS,
} il_lag_gfig;

static il_err
il_lag_render_groups(const il_lag *l, il_buf *out, const char *name, const char *help,
    il_lag_gfig fig)
{
	char labels[2 * IL_LAG_LABEL_MAX + 8];
	const il_lag_group *g;
	il_err err;
	size_t i;

	if (il_lag_family(out, name, help) != IL_OK)
		return IL_ERR_NOMEM;
	for (i = 0; i < l->snap.ngroups; i++) {
		g = &l->snap.groups[i];
		il_lag_group_labels(l, g->group, labels, sizeof(labels));
		switch (fig) {
		case IL_LAG_G_MAX_LAG:
			err = il_buf_printf(out, "%s{%s} %" PRId64 "\n", name, labels, g->max_lag);
			break;
		case IL_LAG_G_MAX_LAG_SECONDS:
			err = il_buf_printf(out, "%s{%s} %.3f\n", name, labels, g->max_lag_seconds);
			break;
		case IL_LAG_G_SUM_LAG:
			err = il_buf_printf(out, "%s{%s} %" PRId64 "\n", name, labels, g->sum_lag);
			break;
		default:
			err = il_buf_printf(out, "%s{%s,status=\"%s\"} %d\n", name, labels,
			    il_burrow_status_name(g->status), (int)g->status);
			break;
		}
		if (err != IL_OK)
			return err;
	}
	return IL_OK;
}

il_err
il_lag_render_metrics(const il_lag *l, il_buf *out)
{
	char c[IL_LAG_LABEL_MAX];
	il_err err;

	/* Before the first round there are no figures to show. */
	if (l->snap.taken_ms < 0)
		return IL_OK;
	if ((err = il_lag_render_parts(l, out, "kafka_consumergroup_group_offset",
	    "Last group consumed offset of a partition", IL_LAG_F_OFFSET)) != IL_OK ||
	    (err = il_lag_render_parts(l, out, "kafka_consumergroup_group_lag",
	    "Group offset lag of a partition", IL_LAG_F_LAG)) != IL_OK ||
	    (err = il_lag_render_parts(l, out, "kafka_consumergroup_group_lag_seconds",
	    "Group time lag of a partition", IL_LAG_F_LAG_SECONDS)) != IL_OK ||
	    (err = il_lag_render_latest(l, out)) != IL_OK ||
	    (err = il_lag_render_groups(l, out, "kafka_consumergroup_group_max_lag",
	    "Max group offset lag", IL_LAG_G_MAX_LAG)) != IL_OK ||
	    (err = il_lag_render_groups(l, out, "kafka_consumergroup_group_max_lag_seconds",
	    "Max group time lag", IL_LAG_G_MAX_LAG_SECONDS)) != IL_OK ||
	    (err = il_lag_render_groups(l, out, "kafka_consumergroup_group_sum_lag",
	    "Sum of group offset lag", IL_LAG_G_SUM_LAG)) != IL_OK ||
	    (err = il_lag_render_parts(l, out, "imislink_lag_partition_status",
	    "Burrow status of a partition (1 OK, 2 WARN, 4 STOP, 5 STALL, 6 REWIND)",
	    IL_LAG_F_STATUS)) != IL_OK ||
	    (err = il_lag_render_groups(l, out, "imislink_lag_group_status",
	    "Burrow status of a group (1 OK, 2 WARN, 3 ERR)", IL_LAG_G_STATUS)) != IL_OK)
		return err;
	il_metrics_label(c, sizeof(c), "cluster_name", l->cluster);
	if (il_lag_family(out, "imislink_lag_eval_seconds",
	    "Duration of the last lag evaluation round") != IL_OK ||
	    il_buf_printf(out, "imislink_lag_eval_seconds{%s} %.6f\n", c, l->snap.eval_seconds) != IL_OK)
		return IL_ERR_NOMEM;
	return IL_OK;
}
