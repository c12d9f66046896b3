/*
 * test_ratelimit.c - the token bucket and its AIMD rate, on a clock the test
 * moves by hand.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include "ratelimit.h"

/* Calls granted from @p from_ms to @p to_ms, trying every millisecond. */
static int
granted(il_ratelimit *r, long long from_ms, long long to_ms)
{
	long long t;
	int n = 0;

	for (t = from_ms; t < to_ms; t++)
		while (il_ratelimit_take(r, t))
			n++;
	return n;
}

static void
test_burst_then_rate(void **state)
{
	il_ratelimit *r = il_ratelimit_new(10, 5, 1000);

	(void)state;
	assert_true(il_ratelimit_rate(r, 1000) == 10);
	assert_int_equal(granted(r, 1000, 1001), 5);
	assert_false(il_ratelimit_take(r, 1000));
	assert_int_equal(il_ratelimit_wait_ms(r, 1000), 100);
	assert_false(il_ratelimit_take(r, 1099));
	assert_int_equal(il_ratelimit_wait_ms(r, 1099), 1);
	assert_true(il_ratelimit_take(r, 1100));
	/* Ten seconds at 10/s: 100 calls (the bucket was empty). */
	assert_int_equal(granted(r, 1101, 11101), 100);
	il_ratelimit_destroy(r);
	il_ratelimit_destroy(NULL);
}

static void
test_bucket_caps(void **state)
{
	il_ratelimit *r = il_ratelimit_new(2, 3, 0);

	(void)state;
	/* An hour idle earns no more than the burst. */
	assert_int_equal(granted(r, 3600000, 3600001), 3);
	assert_int_equal(il_ratelimit_wait_ms(r, 3600000), 500);
	il_ratelimit_destroy(r);
}

static void
test_burst_at_least_one(void **state)
{
	il_ratelimit *r = il_ratelimit_new(1, 0, 0);

	(void)state;
	assert_true(il_ratelimit_take(r, 0));
	assert_false(il_ratelimit_take(r, 0));
	assert_true(il_ratelimit_wait_ms(r, 0) > 0);
	assert_true(il_ratelimit_take(r, 1000));
	il_ratelimit_destroy(r);
}

static void
test_throttle_halves_and_recovers(void **state)
{
	il_ratelimit *r = il_ratelimit_new(10, 1, 0);
	long long t;
	double prev;

	(void)state;
	il_ratelimit_throttled(r, 1000);
	assert_true(il_ratelimit_rate(r, 1000) == 5);
	/* The bucket is empty after a 429. */
	assert_false(il_ratelimit_take(r, 1000));
	/* 5t + t^2/2 = 1 token: 196 ms, less than the 200 of a flat 5/s. */
	assert_int_equal(il_ratelimit_wait_ms(r, 1000), 197);
	/* Climbs by a tenth of the configured rate per second, never above it. */
	assert_true(il_ratelimit_rate(r, 2000) > 5.99 && il_ratelimit_rate(r, 2000) < 6.01);
	prev = il_ratelimit_rate(r, 1000);
	for (t = 1000; t < 10000; t += 250) {
		assert_true(il_ratelimit_rate(r, t) >= prev);
		prev = il_ratelimit_rate(r, t);
	}
	assert_true(il_ratelimit_rate(r, 6000) == 10);
	assert_true(il_ratelimit_rate(r, 60000) == 10);
	il_ratelimit_destroy(r);
}

static void
test_throttle_grants_fewer(void **state)
{
	il_ratelimit *plain = il_ratelimit_new(10, 1, 0);
	il_ratelimit *cut = il_ratelimit_new(10, 1, 0);
	int a, b;

	(void)state;
	il_ratelimit_throttled(cut, 0);
	a = granted(plain, 0, 5000);
	b = granted(cut, 0, 5000);
	/* 50 vs the integral of 5..10/s over 5 s, 37.5 */
	assert_int_equal(a, 50);
	assert_true(b >= 36 && b <= 38);
	/* Back at the configured rate afterwards. */
	assert_int_equal(granted(cut, 5000, 15000), 100);
	il_ratelimit_destroy(plain);
	il_ratelimit_destroy(cut);
}

static void
test_repeated_429(void **state)
{
	il_ratelimit *r = il_ratelimit_new(8, 1, 0);
	double before;
	int i;

	(void)state;
	/* A burst of 429s from calls already in flight halves once. */
	for (i = 0; i < 100; i++)
		il_ratelimit_throttled(r, 1000 + i);
	assert_true(il_ratelimit_rate(r, 1100) > 3.99 && il_ratelimit_rate(r, 1100) < 4.1);
	/* A 429 a second later halves again what the rate climbed to. */
	before = il_ratelimit_rate(r, 2100);
	assert_true(before > 4.7 && before < 4.9);
	il_ratelimit_throttled(r, 2100);
	assert_true(il_ratelimit_rate(r, 2100) > before / 2 - 1e-9);
	assert_true(il_ratelimit_rate(r, 2100) < before / 2 + 1e-9);
	/* 429s once a second keep it well below the configured rate. */
	for (i = 0; i < 20; i++)
		il_ratelimit_throttled(r, 3100 + 1000 * i);
	assert_true(il_ratelimit_rate(r, 22100) < 1.0);
	il_ratelimit_destroy(r);
	/* Never below one call in ten seconds. */
	r = il_ratelimit_new(0.15, 1, 0);
	il_ratelimit_throttled(r, 0);
	assert_true(il_ratelimit_rate(r, 0) > 0.1 - 1e-12 && il_ratelimit_rate(r, 0) < 0.1 + 1e-12);
	assert_false(il_ratelimit_take(r, 0));
	assert_true(il_ratelimit_wait_ms(r, 0) > 6000);
	assert_true(il_ratelimit_wait_ms(r, 0) <= 10000);
	il_ratelimit_destroy(r);
}

static void
test_wait_matches_take(void **state)
{
	il_ratelimit *r = il_ratelimit_new(3, 1, 0);
	long long now = 0, w;
	int i;

	(void)state;
	il_ratelimit_throttled(r, 0);
	for (i = 0; i < 50; i++) {
		w = il_ratelimit_wait_ms(r, now);
		if (w > 1)
			assert_false(il_ratelimit_take(r, now + w - 1));
		now += w;
		assert_true(il_ratelimit_take(r, now));
	}
	il_ratelimit_destroy(r);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_burst_then_rate),
		cmocka_unit_test(test_bucket_caps),
		cmocka_unit_test(test_burst_at_least_one),
		cmocka_unit_test(test_throttle_halves_and_recovers),
		cmocka_unit_test(test_throttle_grants_fewer),
		cmocka_unit_test(test_repeated_429),
		cmocka_unit_test(test_wait_matches_take),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
