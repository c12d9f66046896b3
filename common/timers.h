/*
 * timers.h - a min-heap of deadlines for one thread's event loop: retries
 * after backoff, waits for the rate limiter, periodic chores.  Times are
 * monotonic milliseconds supplied by the caller, read with il_timers_now_ms().
 */
#ifndef IL_TIMERS_H
#define IL_TIMERS_H

#include <stddef.h>

typedef struct il_timers il_timers;

/**
 * @brief Reads the monotonic clock (CLOCK_MONOTONIC), which wall-clock steps
 * do not move: the time base of this heap, ratelimit.h and retry.h, and of
 * every deadline and interval a loop keeps.
 * @returns milliseconds since an unspecified start; never fails.
 */
long long il_timers_now_ms(void);

/** @returns an empty heap; free with il_timers_destroy(). */
il_timers *il_timers_new(void);
/** Frees @p t (pending entries are dropped, their contexts untouched); NULL is a no-op. */
void il_timers_destroy(il_timers *t);
/** Schedules @p ctx for @p at_ms; entries of equal time come out in insertion order. */
void il_timers_add(il_timers *t, long long at_ms, void *ctx);
/** @returns the earliest deadline, or -1 when empty. */
long long il_timers_next(const il_timers *t);
/** @returns one context due at @p now_ms (removed), or NULL when none is due. */
void *il_timers_pop_due(il_timers *t, long long now_ms);
/** @returns the number of entries. */
size_t il_timers_count(const il_timers *t);
/** Removes every entry whose context is @p ctx. @returns how many. */
size_t il_timers_remove(il_timers *t, const void *ctx);

#endif
