/*
 * retry.c - backoff with jitter and the breaker of retry.h.
 */
#include "retry.h"

#include <limits.h>

/* splitmix64: any state, including 0, gives a good sequence. */
static uint64_t
retry_rand(uint64_t *rng)
{
	uint64_t z;

	*rng += 0x9e3779b97f4a7c15ULL;
	z = *rng;
	z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ULL;
	z = (z ^ (z >> 27)) * 0x94d049bb133111ebULL;
	return z ^ (z >> 31);
}

long long
il_retry_backoff_ms(int attempt, long long base_ms, long long max_ms, uint64_t *rng)
{
	long long wait = base_ms > 0 ? base_ms : 0, half;
	uint64_t span;
	int i;

	if (max_ms < wait)
		max_ms = wait;
	/* Doubling stops at max, so the product never overflows. */
	for (i = 1; i < attempt && wait < max_ms; i++)
		wait = wait > max_ms / 2 ? max_ms : wait * 2;
	if (wait <= 0)
		return 0;
	half = wait / 2;
	span = (uint64_t)(wait - half) + 1;
	return half + (long long)(retry_rand(rng) % span);
}

void
il_breaker_init(il_breaker *b, int threshold, long long probe_every_ms)
{
	b->state = IL_BREAKER_CLOSED;
	b->consecutive = 0;
	b->threshold = threshold > 0 ? threshold : 1;
	b->probe_every_ms = probe_every_ms > 0 ? probe_every_ms : 0;
	b->next_probe_ms = 0;
	b->opened_ms = 0;
	b->open_total_ms = 0;
	b->opens = 0;
}

bool
il_breaker_success(il_breaker *b, long long now_ms)
{
	b->consecutive = 0;
	if (b->state == IL_BREAKER_CLOSED)
		return false;
	if (now_ms > b->opened_ms)
		b->open_total_ms += now_ms - b->opened_ms;
	b->state = IL_BREAKER_CLOSED;
	return true;
}

bool
il_breaker_failure(il_breaker *b, long long now_ms)
{
	if (b->consecutive < INT_MAX)
		b->consecutive++;
	switch (b->state) {
	case IL_BREAKER_CLOSED:
		if (b->consecutive < b->threshold)
			return false;
		b->state = IL_BREAKER_OPEN;
		b->opened_ms = now_ms;
		b->next_probe_ms = now_ms + b->probe_every_ms;
		b->opens++;
		return true;
	case IL_BREAKER_PROBING:
		/* The probe failed: wait a whole interval before the next one. */
		b->state = IL_BREAKER_OPEN;
		b->next_probe_ms = now_ms + b->probe_every_ms;
		return false;
	case IL_BREAKER_OPEN:
		/* A late answer of a call started before the opening. */
		return false;
	}
	return false;
}

bool
il_breaker_probe_due(il_breaker *b, long long now_ms)
{
	if (b->state != IL_BREAKER_OPEN || now_ms < b->next_probe_ms)
		return false;
	b->state = IL_BREAKER_PROBING;
	return true;
}

long long
il_breaker_open_ms(const il_breaker *b, long long now_ms)
{
	long long total = b->open_total_ms;

	if (b->state != IL_BREAKER_CLOSED && now_ms > b->opened_ms)
		total += now_ms - b->opened_ms;
	return total;
}
