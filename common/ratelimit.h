/*
 * ratelimit.h - a client-side budget of calls per second (token bucket),
 * shared by all the work of one process, that backs off when the server says
 * 429 and recovers slowly.
 *
 * openIMIS limits each client IP (150 calls a minute by default) and sends no
 * Retry-After: a worker that trips the limit gets nothing done, so it stays
 * under its configured rate and, on a 429, halves its effective rate for a
 * while (multiplicative decrease), then climbs back towards the configured
 * rate (additive increase).  Times are milliseconds of a monotonic clock the
 * caller passes in, so tests need no sleeping.
 */
#ifndef IL_RATELIMIT_H
#define IL_RATELIMIT_H

#include <stdbool.h>

typedef struct il_ratelimit il_ratelimit;

/**
 * @brief A bucket of @p per_second calls a second with a burst of @p burst
 * (at least 1); full at @p now_ms.  @returns it; free with il_ratelimit_destroy().
 */
il_ratelimit *il_ratelimit_new(double per_second, double burst, long long now_ms);
/** Frees @p r; NULL is a no-op. */
void il_ratelimit_destroy(il_ratelimit *r);
/** @returns true and takes one call's token when one is available at @p now_ms. */
bool il_ratelimit_take(il_ratelimit *r, long long now_ms);
/** @returns milliseconds until a token is available (0: now). */
long long il_ratelimit_wait_ms(il_ratelimit *r, long long now_ms);
/** The server said 429: halve the effective rate (not below 1 call in 10 s) and empty the bucket. */
void il_ratelimit_throttled(il_ratelimit *r, long long now_ms);
/** @returns the effective rate now, in calls per second (for /metrics). */
double il_ratelimit_rate(const il_ratelimit *r, long long now_ms);

#endif
