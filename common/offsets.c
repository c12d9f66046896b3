/*
 * offsets.c - commit points of partitions whose messages finish out of order.
 *
 * Per partition a ring of (offset, done) in the order the offsets were added;
 * done entries at the front are popped at once, so the front is always the
 * lowest offset not done and the commit point is read in O(1).  Offsets are
 * increasing but may have gaps (compaction, transaction markers), so marking
 * one done finds it by binary search in the ring: O(log n).  Partitions sit in
 * a small chained hash keyed by (topic, partition); the last one looked up is
 * remembered, since a worker mostly handles runs of one partition.
 */
#include "offsets.h"

#include <stdlib.h>
#include <string.h>

#include "xalloc.h"

#define IL_OFFSETS_MIN_RING 64
#define IL_OFFSETS_MIN_BUCKETS 16

typedef struct il_offsets_slot {
	int64_t offset;         /* the message's offset */
	bool done;              /* its outcome is durable */
} il_offsets_slot;

typedef struct il_offsets_part {
	struct il_offsets_part *next; /* next partition of the bucket */
	uint64_t hash;          /* hash of (topic, partition) */
	char *topic;            /* owned */
	int32_t partition;      /* partition number */
	il_offsets_slot *ring;  /* cap entries, a power of two */
	size_t cap;             /* entries allocated */
	size_t head;            /* index of the front entry */
	size_t len;             /* entries in the ring; the front is never done */
	size_t pending;         /* entries not done */
	int64_t last;           /* the last offset added */
} il_offsets_part;

struct il_offsets {
	il_offsets_part **buckets; /* chains; the count is a power of two */
	size_t nbuckets;        /* number of buckets */
	size_t nparts;          /* partitions known */
	size_t pending;         /* offsets not done, all partitions */
	il_offsets_part *last;  /* the partition last looked up, or NULL */
};

static uint64_t
part_hash(const char *topic, int32_t partition)
{
	const unsigned char *p = (const unsigned char *)topic;
	uint64_t h = 0xcbf29ce484222325ULL;

	for (; *p != '\0'; p++) {
		h ^= *p;
		h *= 0x100000001b3ULL;
	}
	h ^= (uint64_t)(uint32_t)partition;
	h *= 0xff51afd7ed558ccdULL;
	h ^= h >> 33;
	return h;
}

static bool
part_is(const il_offsets_part *p, const char *topic, int32_t partition)
{
	return p->partition == partition && strcmp(p->topic, topic) == 0;
}

static il_offsets_part *
part_find(const il_offsets *o, const char *topic, int32_t partition)
{
	il_offsets_part *p;

	if (o->last != NULL && part_is(o->last, topic, partition))
		return o->last;
	p = o->buckets[part_hash(topic, partition) & (o->nbuckets - 1)];
	for (; p != NULL; p = p->next) {
		if (part_is(p, topic, partition))
			return p;
	}
	return NULL;
}

static void
part_free(il_offsets_part *p)
{
	free(p->topic);
	free(p->ring);
	free(p);
}

il_offsets *
il_offsets_new(void)
{
	il_offsets *o = il_xcalloc(1, sizeof(*o));

	o->nbuckets = IL_OFFSETS_MIN_BUCKETS;
	o->buckets = il_xcalloc(o->nbuckets, sizeof(*o->buckets));
	return o;
}

void
il_offsets_destroy(il_offsets *o)
{
	il_offsets_part *p, *next;
	size_t i;

	if (o == NULL)
		return;
	for (i = 0; i < o->nbuckets; i++) {
		for (p = o->buckets[i]; p != NULL; p = next) {
			next = p->next;
			part_free(p);
		}
	}
	free(o->buckets);
	free(o);
}

static void
offsets_grow_buckets(il_offsets *o)
{
	size_t n = o->nbuckets * 2, i;
	il_offsets_part **b = il_xcalloc(n, sizeof(*b));
	il_offsets_part *p, *next;

	for (i = 0; i < o->nbuckets; i++) {
		for (p = o->buckets[i]; p != NULL; p = next) {
			next = p->next;
			p->next = b[p->hash & (n - 1)];
			b[p->hash & (n - 1)] = p;
		}
	}
	free(o->buckets);
	o->buckets = b;
	o->nbuckets = n;
}

static il_offsets_part *
part_add(il_offsets *o, const char *topic, int32_t partition)
{
	il_offsets_part *p = il_xcalloc(1, sizeof(*p));
	size_t b;

	p->hash = part_hash(topic, partition);
	p->topic = il_xstrdup(topic);
	p->partition = partition;
	p->cap = IL_OFFSETS_MIN_RING;
	p->ring = il_xmalloc(p->cap * sizeof(*p->ring));
	p->last = -1;
	b = p->hash & (o->nbuckets - 1);
	p->next = o->buckets[b];
	o->buckets[b] = p;
	o->nparts++;
	if (o->nparts > o->nbuckets)
		offsets_grow_buckets(o);
	return p;
}

static void
ring_grow(il_offsets_part *p)
{
	il_offsets_slot *r = il_xmalloc(2 * p->cap * sizeof(*r));
	size_t i;

	for (i = 0; i < p->len; i++)
		r[i] = p->ring[(p->head + i) & (p->cap - 1)];
	free(p->ring);
	p->ring = r;
	p->cap *= 2;
	p->head = 0;
}

bool
il_offsets_add(il_offsets *o, const char *topic, int32_t partition, int64_t offset)
{
	il_offsets_part *p;
	il_offsets_slot *s;

	/* Kafka offsets are never negative; -1 means "none" in the answers. */
	if (offset < 0)
		return false;
	p = part_find(o, topic, partition);
	if (p == NULL)
		p = part_add(o, topic, partition);
	o->last = p;
	if (p->last >= 0 && offset <= p->last)
		return false;
	if (p->len == p->cap)
		ring_grow(p);
	s = &p->ring[(p->head + p->len) & (p->cap - 1)];
	s->offset = offset;
	s->done = false;
	p->len++;
	p->pending++;
	p->last = offset;
	o->pending++;
	return true;
}

/* @returns the ring position (0 = front) of @p offset, or len when absent. */
static size_t
ring_find(const il_offsets_part *p, int64_t offset)
{
	size_t lo = 0, hi = p->len, mid;
	int64_t v;

	while (lo < hi) {
		mid = lo + (hi - lo) / 2;
		v = p->ring[(p->head + mid) & (p->cap - 1)].offset;
		if (v == offset)
			return mid;
		if (v < offset)
			lo = mid + 1;
		else
			hi = mid;
	}
	return p->len;
}

void
il_offsets_done(il_offsets *o, const char *topic, int32_t partition, int64_t offset)
{
	il_offsets_part *p = part_find(o, topic, partition);
	il_offsets_slot *s;
	size_t i;

	if (p == NULL)
		return;
	o->last = p;
	i = ring_find(p, offset);
	if (i == p->len)
		return;
	s = &p->ring[(p->head + i) & (p->cap - 1)];
	if (s->done)
		return;
	s->done = true;
	p->pending--;
	o->pending--;
	/* Keep the front undone: pop what finished behind the slowest message. */
	while (p->len > 0 && p->ring[p->head].done) {
		p->head = (p->head + 1) & (p->cap - 1);
		p->len--;
	}
}

static int64_t
part_commit_point(const il_offsets_part *p)
{
	if (p->last < 0)
		return -1;
	if (p->len > 0)
		return p->ring[p->head].offset;
	return p->last + 1;
}

int64_t
il_offsets_commit_point(const il_offsets *o, const char *topic, int32_t partition)
{
	const il_offsets_part *p = part_find(o, topic, partition);

	return p != NULL ? part_commit_point(p) : -1;
}

size_t
il_offsets_pending(const il_offsets *o, const char *topic, int32_t partition)
{
	const il_offsets_part *p = part_find(o, topic, partition);

	return p != NULL ? p->pending : 0;
}

size_t
il_offsets_pending_total(const il_offsets *o)
{
	return o->pending;
}

void
il_offsets_forget(il_offsets *o, const char *topic, int32_t partition)
{
	il_offsets_part **pp;
	il_offsets_part *p;

	pp = &o->buckets[part_hash(topic, partition) & (o->nbuckets - 1)];
	for (; *pp != NULL; pp = &(*pp)->next) {
		p = *pp;
		if (!part_is(p, topic, partition))
			continue;
		*pp = p->next;
		if (o->last == p)
			o->last = NULL;
		o->pending -= p->pending;
		o->nparts--;
		part_free(p);
		return;
	}
}

void
il_offsets_foreach(const il_offsets *o, il_offsets_cb *cb, void *ctx)
{
	const il_offsets_part *p, *next;
	size_t i;

	for (i = 0; i < o->nbuckets; i++) {
		for (p = o->buckets[i]; p != NULL; p = next) {
			next = p->next;
			cb(p->topic, p->partition, part_commit_point(p), ctx);
		}
	}
}
