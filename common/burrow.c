/*
 * burrow.c - Burrow's rules for the health of a consumer group (burrow.h).
 *
 * A transcription of Burrow 1.3's caching evaluator
 * (calculatePartitionStatus and its checks), so that an operator who knows
 * Burrow's answers gets the same ones here: the checks run in Burrow's
 * order, and a window that is not yet full is judged all the same (Burrow
 * only reports how complete it is).
 */
#include "burrow.h"

#include <stdlib.h>

#include "xalloc.h"

/*
 * The bookkeeping of the two rings, the window of commits and the readings
 * of the log end: @p size slots, @p n of them held from index @p head, the
 * oldest, on.
 */

/* @returns @p want empty slots of @p elem bytes, at least one (a ring of none
 * would remember nothing), with the counts set. */
static void *
ring_init(size_t *size, size_t *n, size_t *head, size_t want, size_t elem)
{
	if (want == 0)
		want = 1;
	*size = want;
	*n = 0;
	*head = 0;
	return il_xcalloc(want, elem);
}

static void
ring_clear(size_t *size, size_t *n, size_t *head)
{
	*size = 0;
	*n = 0;
	*head = 0;
}

/* @returns the slot a push fills: the next free one, or when the ring is
 * full the oldest, whose successor then becomes the oldest. */
static size_t
ring_push(size_t size, size_t *n, size_t *head)
{
	size_t slot;

	if (*n < size)
		return (*head + (*n)++) % size;
	slot = *head;
	*head = (*head + 1) % size;
	return slot;
}

void
il_burrow_window_init(il_burrow_window *w, size_t size)
{
	w->c = ring_init(&w->size, &w->n, &w->head, size, sizeof(*w->c));
}

void
il_burrow_window_free(il_burrow_window *w)
{
	free(w->c);
	w->c = NULL;
	ring_clear(&w->size, &w->n, &w->head);
}

void
il_burrow_window_push(il_burrow_window *w, int64_t offset, int64_t lag, long long ts_ms)
{
	il_burrow_commit *slot = &w->c[ring_push(w->size, &w->n, &w->head)];

	slot->offset = offset;
	slot->lag = lag < 0 ? 0 : lag;
	slot->ts_ms = ts_ms;
}

const il_burrow_commit *
il_burrow_window_at(const il_burrow_window *w, size_t i)
{
	return &w->c[(w->head + i) % w->size];
}

bool
il_burrow_window_complete(const il_burrow_window *w)
{
	return w->size > 0 && w->n == w->size;
}

void
il_burrow_ends_init(il_burrow_ends *r, size_t size)
{
	r->e = ring_init(&r->size, &r->n, &r->head, size, sizeof(*r->e));
}

void
il_burrow_ends_free(il_burrow_ends *r)
{
	free(r->e);
	r->e = NULL;
	ring_clear(&r->size, &r->n, &r->head);
}

void
il_burrow_ends_push(il_burrow_ends *r, int64_t offset, long long ts_ms)
{
	il_burrow_end *slot = &r->e[ring_push(r->size, &r->n, &r->head)];

	slot->offset = offset;
	slot->ts_ms = ts_ms;
}

const il_burrow_end *
il_burrow_ends_at(const il_burrow_ends *r, size_t i)
{
	return &r->e[(r->head + i) % r->size];
}

int64_t
il_burrow_commit_lag(const il_burrow_ends *r, int64_t offset, long long ts_ms)
{
	const il_burrow_end *e;
	size_t i;

	if (r->n == 0)
		return -1;
	/* The end the consumer could have seen when it committed: a later
	 * reading counts messages that arrived after the commit as its lag.
	 * Older than every reading (a commit log read from its start): the
	 * oldest is the best there is. */
	e = il_burrow_ends_at(r, 0);
	for (i = r->n; i > 0; i--) {
		if (il_burrow_ends_at(r, i - 1)->ts_ms <= ts_ms) {
			e = il_burrow_ends_at(r, i - 1);
			break;
		}
	}
	/* Readings are periodic, so a commit may be ahead of the last one. */
	return e->offset > offset ? e->offset - offset : 0;
}

bool
il_burrow_recent_lag_zero(const il_burrow_window *w, const il_burrow_ends *r)
{
	int64_t last;
	size_t i;

	if (w->n == 0)
		return false;
	last = il_burrow_window_at(w, w->n - 1)->offset;
	for (i = 0; i < r->n; i++)
		if (il_burrow_ends_at(r, i)->offset <= last)
			return true;
	return false;
}

/* Burrow's checkIfOffsetsStopped: silent for longer than the window spans. */
static bool
il_burrow_stopped(const il_burrow_window *w, long long now_ms)
{
	long long first = il_burrow_window_at(w, 0)->ts_ms;
	long long last = il_burrow_window_at(w, w->n - 1)->ts_ms;

	return now_ms - last > last - first;
}

/* Burrow's isLagAlwaysNotZero, negated. */
static bool
il_burrow_lag_was_zero(const il_burrow_window *w)
{
	size_t i;

	for (i = 0; i < w->n; i++)
		if (il_burrow_window_at(w, i)->lag == 0)
			return true;
	return false;
}

/* Burrow's checkIfOffsetsRewind: some commit is below the one before. */
static bool
il_burrow_rewound(const il_burrow_window *w)
{
	size_t i;

	for (i = 1; i < w->n; i++)
		if (il_burrow_window_at(w, i)->offset < il_burrow_window_at(w, i - 1)->offset)
			return true;
	return false;
}

/* Burrow's checkIfOffsetsStalled: every commit repeats the first offset
 * (true of a single commit as well, as in Burrow). */
static bool
il_burrow_stalled(const il_burrow_window *w)
{
	size_t i;

	for (i = 1; i < w->n; i++)
		if (il_burrow_window_at(w, i)->offset != il_burrow_window_at(w, i - 1)->offset)
			return false;
	return true;
}

/* Burrow's checkIfLagNotDecreasing: no commit has less lag than the one before. */
static bool
il_burrow_lag_not_decreasing(const il_burrow_window *w)
{
	size_t i;

	for (i = 1; i < w->n; i++)
		if (il_burrow_window_at(w, i)->lag < il_burrow_window_at(w, i - 1)->lag)
			return false;
	return true;
}

il_burrow_status
il_burrow_partition_status(const il_burrow_window *w, int64_t current_lag, bool recent_lag_zero,
    long long now_ms)
{
	/* No lag now: whatever the history, the consumer has caught up. */
	if (w->n == 0 || current_lag <= 0)
		return IL_BURROW_OK;
	/* First, as in Burrow: a stopped consumer is a problem even before its
	 * window is full, and even if its window once had no lag (that may be
	 * long ago).  But a consumer that commits only on progress falls
	 * silent whenever it is caught up: lag that was zero in the last few
	 * readings says it is idle, not stopped. */
	if (il_burrow_stopped(w, now_ms) && !recent_lag_zero)
		return IL_BURROW_STOP;
	if (il_burrow_lag_was_zero(w))
		return IL_BURROW_OK;
	if (il_burrow_rewound(w))
		return IL_BURROW_REWIND;
	if (il_burrow_stalled(w))
		return IL_BURROW_STALL;
	if (il_burrow_lag_not_decreasing(w))
		return IL_BURROW_WARN;
	return IL_BURROW_OK;
}

il_burrow_status
il_burrow_group_status(const il_burrow_status *parts, size_t n)
{
	il_burrow_status st = IL_BURROW_OK;
	size_t i;

	/* The worst partition, where Burrow reports STOP, STALL and REWIND of a
	 * partition as ERR of its group. */
	for (i = 0; i < n; i++) {
		if (parts[i] <= st)
			continue;
		st = parts[i] > IL_BURROW_ERR ? IL_BURROW_ERR : parts[i];
	}
	return st;
}

const char *
il_burrow_status_name(il_burrow_status s)
{
	switch (s) {
	case IL_BURROW_NOTFOUND:
		return "NOTFOUND";
	case IL_BURROW_OK:
		return "OK";
	case IL_BURROW_WARN:
		return "WARN";
	case IL_BURROW_ERR:
		return "ERR";
	case IL_BURROW_STOP:
		return "STOP";
	case IL_BURROW_STALL:
		return "STALL";
	case IL_BURROW_REWIND:
		return "REWIND";
	}
	return "NOTFOUND";
}
