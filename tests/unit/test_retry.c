/*
 * test_retry.c - backoff bounds and jitter, and the breaker's states on a
 * clock the test moves by hand.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include "retry.h"

static void
test_backoff_bounds(void **state)
{
	uint64_t rng = 0;
	long long w, expect;
	int attempt, i;

	(void)state;
	for (attempt = 1; attempt <= 40; attempt++) {
		expect = 100LL << (attempt < 12 ? attempt - 1 : 11);
		if (expect > 60000)
			expect = 60000;
		for (i = 0; i < 200; i++) {
			w = il_retry_backoff_ms(attempt, 100, 60000, &rng);
			assert_true(w >= expect / 2);
			assert_true(w <= expect);
		}
	}
	/* Huge attempt numbers do not overflow. */
	w = il_retry_backoff_ms(1000000, 100, 60000, &rng);
	assert_true(w >= 30000 && w <= 60000);
	/* Attempt 0 or less is treated as the first. */
	w = il_retry_backoff_ms(0, 100, 60000, &rng);
	assert_true(w >= 50 && w <= 100);
	/* A max below base caps at base; zero base waits nothing. */
	w = il_retry_backoff_ms(3, 500, 100, &rng);
	assert_true(w >= 250 && w <= 500);
	assert_int_equal(il_retry_backoff_ms(3, 0, 0, &rng), 0);
}

static void
test_backoff_jitter(void **state)
{
	uint64_t rng = 7;
	long long w, lo = 1LL << 40, hi = 0;
	int i, distinct = 0;
	long long prev = -1;

	(void)state;
	for (i = 0; i < 1000; i++) {
		w = il_retry_backoff_ms(5, 1000, 60000, &rng);
		lo = w < lo ? w : lo;
		hi = w > hi ? w : hi;
		distinct += w != prev;
		prev = w;
	}
	/* Spread over the window [8000, 16000], not in lockstep. */
	assert_true(lo < 9000);
	assert_true(hi > 15000);
	assert_true(distinct > 900);
}

static void
test_breaker_opens_at_threshold(void **state)
{
	il_breaker b;

	(void)state;
	il_breaker_init(&b, 3, 5000);
	assert_int_equal(b.state, IL_BREAKER_CLOSED);
	assert_false(il_breaker_failure(&b, 100));
	assert_false(il_breaker_failure(&b, 200));
	/* A success in between resets the count. */
	assert_false(il_breaker_success(&b, 250));
	assert_int_equal(b.consecutive, 0);
	assert_false(il_breaker_failure(&b, 300));
	assert_false(il_breaker_failure(&b, 400));
	assert_false(il_breaker_probe_due(&b, 400));
	assert_true(il_breaker_failure(&b, 500));
	assert_int_equal(b.state, IL_BREAKER_OPEN);
	assert_int_equal(b.opens, 1);
	assert_int_equal(b.next_probe_ms, 5500);
	/* Late failures while open change nothing. */
	assert_false(il_breaker_failure(&b, 600));
	assert_int_equal(b.state, IL_BREAKER_OPEN);
	assert_int_equal(b.opens, 1);
}

static void
test_breaker_probes(void **state)
{
	il_breaker b;

	(void)state;
	il_breaker_init(&b, 1, 1000);
	assert_true(il_breaker_failure(&b, 10000));
	assert_false(il_breaker_probe_due(&b, 10999));
	assert_true(il_breaker_probe_due(&b, 11000));
	assert_int_equal(b.state, IL_BREAKER_PROBING);
	/* One probe at a time. */
	assert_false(il_breaker_probe_due(&b, 20000));
	/* The probe fails: the next one a whole interval later. */
	assert_false(il_breaker_failure(&b, 11500));
	assert_int_equal(b.state, IL_BREAKER_OPEN);
	assert_int_equal(b.next_probe_ms, 12500);
	assert_false(il_breaker_probe_due(&b, 12499));
	assert_true(il_breaker_probe_due(&b, 12500));
	assert_int_equal(il_breaker_open_ms(&b, 13000), 3000);
	/* The probe succeeds: closed, and open time accounted. */
	assert_true(il_breaker_success(&b, 13000));
	assert_int_equal(b.state, IL_BREAKER_CLOSED);
	assert_int_equal(b.consecutive, 0);
	assert_int_equal(il_breaker_open_ms(&b, 50000), 3000);
	assert_false(il_breaker_success(&b, 13100));
	assert_false(il_breaker_probe_due(&b, 60000));
}

static void
test_breaker_late_success_and_reopen(void **state)
{
	il_breaker b;

	(void)state;
	il_breaker_init(&b, 2, 1000);
	assert_false(il_breaker_failure(&b, 0));
	assert_true(il_breaker_failure(&b, 0));
	/* A late answer of an older call closes it while open. */
	assert_true(il_breaker_success(&b, 400));
	assert_int_equal(il_breaker_open_ms(&b, 400), 400);
	assert_false(il_breaker_failure(&b, 1000));
	assert_true(il_breaker_failure(&b, 1100));
	assert_int_equal(b.opens, 2);
	assert_int_equal(il_breaker_open_ms(&b, 1600), 900);
	assert_true(il_breaker_success(&b, 2100));
	assert_int_equal(il_breaker_open_ms(&b, 9999), 1400);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_backoff_bounds),
		cmocka_unit_test(test_backoff_jitter),
		cmocka_unit_test(test_breaker_opens_at_threshold),
		cmocka_unit_test(test_breaker_probes),
		cmocka_unit_test(test_breaker_late_success_and_reopen),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
