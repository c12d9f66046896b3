/*
 * keyq.c - work items serialised per key.
 *
 * A chained hash map from key bytes to the key's line of items, a singly
 * linked FIFO.  A key whose line empties is unlinked at once, so millions of
 * distinct keys over a run cost only the keys alive at the same time; the
 * entries and item nodes of emptied lines go to free lists and are reused,
 * which keeps the hot path free of malloc once the queue has warmed up.
 */
#include "keyq.h"

#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "xalloc.h"

/* Keys up to this long live inside their entry: Kafka keys are short ids. */
#define IL_KEYQ_INLINE_KEY 48
#define IL_KEYQ_MIN_BUCKETS 64
/* Free lists keep at most this many spares, so a burst does not pin memory forever. */
#define IL_KEYQ_MAX_SPARE 4096

typedef struct il_keyq_node {
	void *item;                   /* the caller's item */
	struct il_keyq_node *next;    /* the item behind it, or the next spare */
} il_keyq_node;

typedef struct il_keyq_entry {
	struct il_keyq_entry *next;   /* next entry of the bucket, or the next spare */
	uint64_t hash;                /* hash of the key */
	size_t keylen;                /* bytes of key */
	unsigned char *key;           /* inline_key, or an allocation when longer */
	il_keyq_node *head;           /* front item: the ready one */
	il_keyq_node *tail;           /* last item */
	unsigned char inline_key[IL_KEYQ_INLINE_KEY]; /* storage of short keys */
} il_keyq_entry;

struct il_keyq {
	il_keyq_entry **buckets;      /* chains; the count is a power of two */
	size_t nbuckets;              /* number of buckets */
	size_t nkeys;                 /* entries in the map: keys with items */
	size_t nitems;                /* items queued */
	il_keyq_entry *spare_entries; /* emptied entries kept for reuse */
	size_t nspare_entries;        /* their number */
	il_keyq_node *spare_nodes;    /* emptied nodes kept for reuse */
	size_t nspare_nodes;          /* their number */
};

/* FNV-1a with a final avalanche, so the low bits used for buckets mix well. */
static uint64_t
keyq_hash(const void *key, size_t keylen)
{
	const unsigned char *p = key;
	uint64_t h = 0xcbf29ce484222325ULL;
	size_t i;

	for (i = 0; i < keylen; i++) {
		h ^= p[i];
		h *= 0x100000001b3ULL;
	}
	h ^= h >> 33;
	h *= 0xff51afd7ed558ccdULL;
	h ^= h >> 33;
	return h;
}

il_keyq *
il_keyq_new(void)
{
	il_keyq *q = il_xcalloc(1, sizeof(*q));

	q->nbuckets = IL_KEYQ_MIN_BUCKETS;
	q->buckets = il_xcalloc(q->nbuckets, sizeof(*q->buckets));
	return q;
}

static void
keyq_entry_free(il_keyq_entry *e)
{
	if (e->key != e->inline_key)
		free(e->key);
	free(e);
}

static void
keyq_nodes_free(il_keyq_node *n)
{
	il_keyq_node *next;

	for (; n != NULL; n = next) {
		next = n->next;
		free(n);
	}
}

void
il_keyq_destroy(il_keyq *q)
{
	il_keyq_entry *e, *next;
	size_t i;

	if (q == NULL)
		return;
	for (i = 0; i < q->nbuckets; i++) {
		for (e = q->buckets[i]; e != NULL; e = next) {
			next = e->next;
			keyq_nodes_free(e->head);
			keyq_entry_free(e);
		}
	}
	for (e = q->spare_entries; e != NULL; e = next) {
		next = e->next;
		free(e);
	}
	keyq_nodes_free(q->spare_nodes);
	free(q->buckets);
	free(q);
}

static il_keyq_entry **
keyq_slot(const il_keyq *q, uint64_t hash, const void *key, size_t keylen)
{
	il_keyq_entry **pe = &q->buckets[hash & (q->nbuckets - 1)];

	for (; *pe != NULL; pe = &(*pe)->next) {
		if ((*pe)->hash == hash && (*pe)->keylen == keylen &&
		    (keylen == 0 || memcmp((*pe)->key, key, keylen) == 0))
			return pe;
	}
	return pe;
}

static void
keyq_grow(il_keyq *q)
{
	size_t n = q->nbuckets * 2, i;
	il_keyq_entry **b = il_xcalloc(n, sizeof(*b));
	il_keyq_entry *e, *next;

	for (i = 0; i < q->nbuckets; i++) {
		for (e = q->buckets[i]; e != NULL; e = next) {
			next = e->next;
			e->next = b[e->hash & (n - 1)];
			b[e->hash & (n - 1)] = e;
		}
	}
	free(q->buckets);
	q->buckets = b;
	q->nbuckets = n;
}

static il_keyq_node *
keyq_node_get(il_keyq *q, void *item)
{
	il_keyq_node *n = q->spare_nodes;

	if (n != NULL) {
		q->spare_nodes = n->next;
		q->nspare_nodes--;
	} else {
		n = il_xmalloc(sizeof(*n));
	}
	n->item = item;
	n->next = NULL;
	return n;
}

static void
keyq_node_put(il_keyq *q, il_keyq_node *n)
{
	if (q->nspare_nodes >= IL_KEYQ_MAX_SPARE) {
		free(n);
		return;
	}
	n->next = q->spare_nodes;
	q->spare_nodes = n;
	q->nspare_nodes++;
}

static il_keyq_entry *
keyq_entry_get(il_keyq *q, uint64_t hash, const void *key, size_t keylen)
{
	il_keyq_entry *e = q->spare_entries;

	if (e != NULL) {
		q->spare_entries = e->next;
		q->nspare_entries--;
	} else {
		e = il_xmalloc(sizeof(*e));
	}
	e->next = NULL;
	e->hash = hash;
	e->keylen = keylen;
	e->key = keylen <= IL_KEYQ_INLINE_KEY ? e->inline_key : il_xmalloc(keylen);
	if (keylen > 0)
		memcpy(e->key, key, keylen);
	e->head = NULL;
	e->tail = NULL;
	return e;
}

static void
keyq_entry_put(il_keyq *q, il_keyq_entry *e)
{
	if (e->key != e->inline_key) {
		free(e->key);
		e->key = NULL;
	}
	if (q->nspare_entries >= IL_KEYQ_MAX_SPARE) {
		free(e);
		return;
	}
	e->next = q->spare_entries;
	q->spare_entries = e;
	q->nspare_entries++;
}

bool
il_keyq_push(il_keyq *q, const void *key, size_t keylen, void *item)
{
	uint64_t hash = keyq_hash(key, keylen);
	il_keyq_entry **pe = keyq_slot(q, hash, key, keylen);
	il_keyq_node *n = keyq_node_get(q, item);
	il_keyq_entry *e = *pe;

	q->nitems++;
	if (e != NULL) {
		e->tail->next = n;
		e->tail = n;
		return false;
	}
	e = keyq_entry_get(q, hash, key, keylen);
	e->head = n;
	e->tail = n;
	*pe = e;
	q->nkeys++;
	/* Load factor 1: chains stay short, growth is amortised O(1). */
	if (q->nkeys > q->nbuckets)
		keyq_grow(q);
	return true;
}

void *
il_keyq_finish(il_keyq *q, const void *key, size_t keylen, void *item)
{
	uint64_t hash = keyq_hash(key, keylen);
	il_keyq_entry **pe = keyq_slot(q, hash, key, keylen);
	il_keyq_entry *e = *pe;
	il_keyq_node *n;

	/* A caller finishing what is not at the front is a bug: change nothing. */
	if (e == NULL || e->head->item != item)
		return NULL;
	n = e->head;
	e->head = n->next;
	keyq_node_put(q, n);
	q->nitems--;
	if (e->head != NULL)
		return e->head->item;
	*pe = e->next;
	keyq_entry_put(q, e);
	q->nkeys--;
	return NULL;
}

size_t
il_keyq_count(const il_keyq *q)
{
	return q->nitems;
}

size_t
il_keyq_keys(const il_keyq *q)
{
	return q->nkeys;
}
