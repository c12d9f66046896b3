/*
 * test_timers.c - the deadline heap: order, ties in insertion order, due
 * checks against a caller's clock, removal.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>

#include <cmocka.h>

#include "timers.h"

static void
test_empty(void **state)
{
	il_timers *t = il_timers_new();

	(void)state;
	assert_int_equal(il_timers_next(t), -1);
	assert_null(il_timers_pop_due(t, 1000));
	assert_int_equal(il_timers_count(t), 0);
	assert_int_equal(il_timers_remove(t, NULL), 0);
	il_timers_destroy(t);
	il_timers_destroy(NULL);
}

static void
test_order_and_due(void **state)
{
	il_timers *t = il_timers_new();
	int a, b, c;

	(void)state;
	il_timers_add(t, 300, &c);
	il_timers_add(t, 100, &a);
	il_timers_add(t, 200, &b);
	assert_int_equal(il_timers_count(t), 3);
	assert_int_equal(il_timers_next(t), 100);
	assert_null(il_timers_pop_due(t, 99));
	assert_ptr_equal(il_timers_pop_due(t, 100), &a);
	assert_null(il_timers_pop_due(t, 150));
	assert_ptr_equal(il_timers_pop_due(t, 1000), &b);
	assert_ptr_equal(il_timers_pop_due(t, 1000), &c);
	assert_null(il_timers_pop_due(t, 1000));
	assert_int_equal(il_timers_next(t), -1);
	il_timers_destroy(t);
}

static void
test_ties_fifo(void **state)
{
	enum { N = 1000 };
	il_timers *t = il_timers_new();
	static int items[N];
	int i;

	(void)state;
	/* Interleave two times so the heap really reorders. */
	for (i = 0; i < N; i++)
		il_timers_add(t, i % 2 == 0 ? 50 : 40, &items[i]);
	for (i = 1; i < N; i += 2)
		assert_ptr_equal(il_timers_pop_due(t, 50), &items[i]);
	for (i = 0; i < N; i += 2)
		assert_ptr_equal(il_timers_pop_due(t, 50), &items[i]);
	assert_int_equal(il_timers_count(t), 0);
	il_timers_destroy(t);
}

static void
test_random_sorted(void **state)
{
	enum { N = 5000 };
	il_timers *t = il_timers_new();
	static long long at[N];
	long long prev = -1, now;
	uint64_t rng = 12345;
	void *ctx;
	int i, n = 0;

	(void)state;
	for (i = 0; i < N; i++) {
		rng = rng * 6364136223846793005ULL + 1442695040888963407ULL;
		at[i] = (long long)(rng >> 40) % 1000;
		il_timers_add(t, at[i], &at[i]);
	}
	while ((ctx = il_timers_pop_due(t, 1000)) != NULL) {
		now = *(long long *)ctx;
		assert_true(now >= prev);
		prev = now;
		n++;
	}
	assert_int_equal(n, N);
	il_timers_destroy(t);
}

static void
test_remove(void **state)
{
	il_timers *t = il_timers_new();
	int a, b, c;
	int i;

	(void)state;
	for (i = 0; i < 10; i++) {
		il_timers_add(t, 10 * i, &a);
		il_timers_add(t, 10 * i + 5, &b);
		il_timers_add(t, 10 * i, &c);
	}
	assert_int_equal(il_timers_remove(t, &a), 10);
	assert_int_equal(il_timers_remove(t, &a), 0);
	assert_int_equal(il_timers_count(t), 20);
	for (i = 0; i < 10; i++) {
		assert_ptr_equal(il_timers_pop_due(t, 1000), &c);
		assert_ptr_equal(il_timers_pop_due(t, 1000), &b);
	}
	assert_null(il_timers_pop_due(t, 1000));
	/* Pending entries are dropped on destroy. */
	il_timers_add(t, 1, &a);
	il_timers_destroy(t);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_empty),
		cmocka_unit_test(test_order_and_due),
		cmocka_unit_test(test_ties_fifo),
		cmocka_unit_test(test_random_sorted),
		cmocka_unit_test(test_remove),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
