/*
 * timers.c - a binary min-heap of deadlines.
 *
 * Entries are ordered by time, then by an insertion sequence number, so
 * entries of equal time leave in the order they came (a heap alone is not
 * stable).  Adding and popping are O(log n); il_timers_remove() is O(n), as
 * it is only used when a piece of work is abandoned, not per event.
 */
#include "timers.h"

#include <stdint.h>
#include <stdlib.h>
#include <time.h>

#include "xalloc.h"

#define IL_TIMERS_MIN_CAP 16

typedef struct il_timer {
	long long at_ms;        /* deadline */
	uint64_t seq;           /* insertion order, breaks ties */
	void *ctx;              /* the caller's context */
} il_timer;

struct il_timers {
	il_timer *heap;         /* heap[0] is the earliest */
	size_t count;           /* entries in use */
	size_t cap;             /* entries allocated */
	uint64_t next_seq;      /* sequence number of the next entry */
};

long long
il_timers_now_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (long long)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

static int
timer_before(const il_timer *a, const il_timer *b)
{
	if (a->at_ms != b->at_ms)
		return a->at_ms < b->at_ms;
	return a->seq < b->seq;
}

static void
sift_up(il_timer *h, size_t i)
{
	il_timer t = h[i];
	size_t parent;

	while (i > 0) {
		parent = (i - 1) / 2;
		if (!timer_before(&t, &h[parent]))
			break;
		h[i] = h[parent];
		i = parent;
	}
	h[i] = t;
}

static void
sift_down(il_timer *h, size_t n, size_t i)
{
	il_timer t = h[i];
	size_t child;

	for (;;) {
		child = 2 * i + 1;
		if (child >= n)
			break;
		if (child + 1 < n && timer_before(&h[child + 1], &h[child]))
			child++;
		if (!timer_before(&h[child], &t))
			break;
		h[i] = h[child];
		i = child;
	}
	h[i] = t;
}

il_timers *
il_timers_new(void)
{
	il_timers *t = il_xcalloc(1, sizeof(*t));

	t->cap = IL_TIMERS_MIN_CAP;
	t->heap = il_xmalloc(t->cap * sizeof(*t->heap));
	return t;
}

void
il_timers_destroy(il_timers *t)
{
	if (t == NULL)
		return;
	free(t->heap);
	free(t);
}

void
il_timers_add(il_timers *t, long long at_ms, void *ctx)
{
	if (t->count == t->cap) {
		t->cap *= 2;
		t->heap = il_xrealloc(t->heap, t->cap * sizeof(*t->heap));
	}
	t->heap[t->count].at_ms = at_ms;
	t->heap[t->count].seq = t->next_seq++;
	t->heap[t->count].ctx = ctx;
	t->count++;
	sift_up(t->heap, t->count - 1);
}

long long
il_timers_next(const il_timers *t)
{
	return t->count > 0 ? t->heap[0].at_ms : -1;
}

void *
il_timers_pop_due(il_timers *t, long long now_ms)
{
	void *ctx;

	if (t->count == 0 || t->heap[0].at_ms > now_ms)
		return NULL;
	ctx = t->heap[0].ctx;
	t->count--;
	if (t->count > 0) {
		t->heap[0] = t->heap[t->count];
		sift_down(t->heap, t->count, 0);
	}
	return ctx;
}

size_t
il_timers_count(const il_timers *t)
{
	return t->count;
}

size_t
il_timers_remove(il_timers *t, const void *ctx)
{
	size_t i, kept = 0, removed;

	for (i = 0; i < t->count; i++) {
		if (t->heap[i].ctx != ctx)
			t->heap[kept++] = t->heap[i];
	}
	removed = t->count - kept;
	t->count = kept;
	if (removed == 0)
		return 0;
	/* Rebuild bottom-up; the sequence numbers keep ties in order. */
	for (i = kept / 2; i-- > 0;)
		sift_down(t->heap, kept, i);
	return removed;
}
