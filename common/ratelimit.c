/*
 * ratelimit.c - a token bucket whose rate follows AIMD.
 *
 * The effective rate is a function of time since the last 429: right after
 * it the rate is r0 (half of what it was), then it climbs by a tenth of the
 * configured rate per second until it is back at the configured rate.  Keeping
 * it in closed form (r0, t0) makes il_ratelimit_rate() a pure read and the
 * refill an integral of a piecewise linear function.
 *
 * Hundreds of calls in flight all answer 429 when the server starts refusing;
 * halving once per answer would drive the rate to the floor for one episode.
 * So a 429 within IL_RATELIMIT_HOLD_MS of the last decrease empties the bucket
 * but does not halve again (one decrease per round trip, as TCP does).
 */
#include "ratelimit.h"

#include <math.h>
#include <stdlib.h>

#include "xalloc.h"

/* The floor of the effective rate: one call in ten seconds. */
#define IL_RATELIMIT_MIN_RATE 0.1
/* Additive increase: this share of the configured rate, per second. */
#define IL_RATELIMIT_STEP 0.1
/* 429s closer than this to the last decrease do not halve again. */
#define IL_RATELIMIT_HOLD_MS 1000
/* Slack for rounding: a token computed as 0.9999999 is a token. */
#define IL_RATELIMIT_EPS 1e-9

struct il_ratelimit {
	double rate;            /* configured calls per second */
	double burst;           /* bucket size, at least 1 */
	double tokens;          /* tokens in the bucket at last_ms */
	long long last_ms;      /* time of the last refill */
	bool throttled;         /* a 429 happened: r0 and t0 are meaningful */
	double r0;              /* effective rate right after the last decrease */
	long long t0_ms;        /* start of the current climb */
	long long cut_ms;       /* time of the last halving */
};

/* Effective rate at @p now_ms. */
static double
rl_rate_at(const il_ratelimit *r, long long now_ms)
{
	double rate;

	if (!r->throttled || now_ms <= r->t0_ms)
		return r->throttled ? r->r0 : r->rate;
	rate = r->r0 + IL_RATELIMIT_STEP * r->rate * (double)(now_ms - r->t0_ms) / 1000.0;
	return rate < r->rate ? rate : r->rate;
}

/* Tokens earned from @p a_ms to @p b_ms: the integral of the rate. */
static double
rl_earned(const il_ratelimit *r, long long a_ms, long long b_ms)
{
	double ra, slope, tcap, earned;

	if (b_ms <= a_ms)
		return 0;
	ra = rl_rate_at(r, a_ms);
	if (!r->throttled || ra >= r->rate)
		return r->rate * (double)(b_ms - a_ms) / 1000.0;
	/* Linear climb until the rate reaches the configured one, flat after. */
	slope = IL_RATELIMIT_STEP * r->rate / 1000.0;       /* per ms, per ms */
	tcap = (double)a_ms + (r->rate - ra) / slope;
	if ((double)b_ms <= tcap) {
		return (ra + rl_rate_at(r, b_ms)) / 2.0 * (double)(b_ms - a_ms) / 1000.0;
	}
	earned = (ra + r->rate) / 2.0 * (tcap - (double)a_ms) / 1000.0;
	return earned + r->rate * ((double)b_ms - tcap) / 1000.0;
}

static void
rl_refill(il_ratelimit *r, long long now_ms)
{
	if (now_ms <= r->last_ms)
		return;
	r->tokens += rl_earned(r, r->last_ms, now_ms);
	if (r->tokens > r->burst)
		r->tokens = r->burst;
	r->last_ms = now_ms;
	/* Back at the configured rate: forget the episode. */
	if (r->throttled && rl_rate_at(r, now_ms) >= r->rate)
		r->throttled = false;
}

il_ratelimit *
il_ratelimit_new(double per_second, double burst, long long now_ms)
{
	il_ratelimit *r = il_xcalloc(1, sizeof(*r));

	r->rate = per_second > IL_RATELIMIT_MIN_RATE ? per_second : IL_RATELIMIT_MIN_RATE;
	r->burst = burst > 1 ? burst : 1;
	r->tokens = r->burst;
	r->last_ms = now_ms;
	return r;
}

void
il_ratelimit_destroy(il_ratelimit *r)
{
	free(r);
}

bool
il_ratelimit_take(il_ratelimit *r, long long now_ms)
{
	rl_refill(r, now_ms);
	if (r->tokens < 1.0 - IL_RATELIMIT_EPS)
		return false;
	r->tokens = r->tokens > 1.0 ? r->tokens - 1.0 : 0;
	return true;
}

long long
il_ratelimit_wait_ms(il_ratelimit *r, long long now_ms)
{
	double need, rate;
	long long lo, hi, mid;

	rl_refill(r, now_ms);
	if (r->tokens >= 1.0 - IL_RATELIMIT_EPS)
		return 0;
	need = 1.0 - r->tokens;
	rate = rl_rate_at(r, now_ms);
	hi = (long long)ceil(need / rate * 1000.0 - IL_RATELIMIT_EPS);
	if (hi < 1)
		hi = 1;
	if (!r->throttled)
		return hi;
	/* The rate climbs meanwhile: the first ms with a whole token, by bisection. */
	lo = 1;
	while (lo < hi) {
		mid = lo + (hi - lo) / 2;
		if (rl_earned(r, now_ms, now_ms + mid) >= need)
			hi = mid;
		else
			lo = mid + 1;
	}
	return hi;
}

void
il_ratelimit_throttled(il_ratelimit *r, long long now_ms)
{
	double rate;

	rl_refill(r, now_ms);
	r->tokens = 0;
	if (r->throttled && now_ms - r->cut_ms < IL_RATELIMIT_HOLD_MS) {
		/* Answers to calls sent before the cut: hold the rate, do not halve. */
		r->r0 = rl_rate_at(r, now_ms);
		r->t0_ms = now_ms;
		return;
	}
	rate = rl_rate_at(r, now_ms) / 2.0;
	r->r0 = rate > IL_RATELIMIT_MIN_RATE ? rate : IL_RATELIMIT_MIN_RATE;
	r->t0_ms = now_ms;
	r->cut_ms = now_ms;
	r->throttled = true;
}

double
il_ratelimit_rate(const il_ratelimit *r, long long now_ms)
{
	return rl_rate_at(r, now_ms);
}
