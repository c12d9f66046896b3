/*
 * retry.h - when to try again: exponential backoff with jitter, and the
 * breaker that tells "openIMIS is down" from "this call failed".
 *
 * Backoff follows Kafka Connect's errors.retry.* (operators know it): the
 * first wait is base, doubling each attempt up to max, with "full jitter"
 * (a uniform draw in [wait/2, wait]) so that hundreds of in-flight events do
 * not retry in lockstep.
 *
 * The breaker counts consecutive transient failures across all calls.  At
 * the threshold it opens: the worker pauses its partitions and sends one probe
 * at a time, every probe interval.  A success while open (a probe or a late
 * answer) closes it.  Times are caller-supplied monotonic milliseconds.
 */
#ifndef IL_RETRY_H
#define IL_RETRY_H

#include <stdbool.h>
#include <stdint.h>

/**
 * @returns the wait before attempt @p attempt (1 = the first retry) with
 * jitter from @p rng (any state; updated), in milliseconds.
 */
long long il_retry_backoff_ms(int attempt, long long base_ms, long long max_ms, uint64_t *rng);

typedef enum il_breaker_state {
	IL_BREAKER_CLOSED = 0,   /* normal work */
	IL_BREAKER_OPEN,         /* down: no work starts; a probe is due at il_breaker_probe_due() */
	IL_BREAKER_PROBING,      /* down, one probe in flight */
} il_breaker_state;

typedef struct il_breaker {
	il_breaker_state state;
	int consecutive;         /* transient failures in a row */
	int threshold;           /* opens at this many */
	long long probe_every_ms;
	long long next_probe_ms; /* when open: the next probe's time */
	long long opened_ms;     /* when it last opened */
	long long open_total_ms; /* time spent open before the current opening */
	long long opens;         /* how often it opened */
} il_breaker;

/** Sets @p b closed with the given threshold and probe interval. */
void il_breaker_init(il_breaker *b, int threshold, long long probe_every_ms);
/** A call succeeded (any answer that is not transient): closes the breaker. @returns true when that closed it. */
bool il_breaker_success(il_breaker *b, long long now_ms);
/** A call failed transiently. @returns true when that opened the breaker. */
bool il_breaker_failure(il_breaker *b, long long now_ms);
/** @returns true when a probe should start now (then the state is PROBING until success or failure). */
bool il_breaker_probe_due(il_breaker *b, long long now_ms);
/** @returns milliseconds spent open in total up to @p now_ms (excluded from retry budgets). */
long long il_breaker_open_ms(const il_breaker *b, long long now_ms);

#endif
