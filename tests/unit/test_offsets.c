/*
 * test_offsets.c - commit points while messages finish out of order, per
 * partition, with gaps, re-deliveries and forgotten partitions.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include <cmocka.h>

#include "offsets.h"

static void
test_empty(void **state)
{
	il_offsets *o = il_offsets_new();

	(void)state;
	assert_int_equal(il_offsets_commit_point(o, "t", 0), -1);
	assert_int_equal(il_offsets_pending(o, "t", 0), 0);
	assert_int_equal(il_offsets_pending_total(o), 0);
	il_offsets_done(o, "t", 0, 5);
	il_offsets_forget(o, "t", 0);
	il_offsets_destroy(o);
	il_offsets_destroy(NULL);
}

static void
test_out_of_order(void **state)
{
	il_offsets *o = il_offsets_new();
	int64_t i;

	(void)state;
	for (i = 10; i < 15; i++)
		assert_true(il_offsets_add(o, "t", 0, i));
	assert_int_equal(il_offsets_commit_point(o, "t", 0), 10);
	assert_int_equal(il_offsets_pending(o, "t", 0), 5);
	il_offsets_done(o, "t", 0, 12);
	il_offsets_done(o, "t", 0, 11);
	assert_int_equal(il_offsets_commit_point(o, "t", 0), 10);
	assert_int_equal(il_offsets_pending(o, "t", 0), 3);
	il_offsets_done(o, "t", 0, 10);
	assert_int_equal(il_offsets_commit_point(o, "t", 0), 13);
	/* Done twice and unknown offsets change nothing. */
	il_offsets_done(o, "t", 0, 12);
	il_offsets_done(o, "t", 0, 99);
	il_offsets_done(o, "t", 0, 3);
	assert_int_equal(il_offsets_pending(o, "t", 0), 2);
	il_offsets_done(o, "t", 0, 14);
	assert_int_equal(il_offsets_commit_point(o, "t", 0), 13);
	il_offsets_done(o, "t", 0, 13);
	assert_int_equal(il_offsets_commit_point(o, "t", 0), 15);
	assert_int_equal(il_offsets_pending(o, "t", 0), 0);
	assert_int_equal(il_offsets_pending_total(o), 0);
	il_offsets_destroy(o);
}

static void
test_gaps_and_redelivery(void **state)
{
	il_offsets *o = il_offsets_new();

	(void)state;
	assert_true(il_offsets_add(o, "t", 1, 100));
	assert_true(il_offsets_add(o, "t", 1, 105));
	assert_true(il_offsets_add(o, "t", 1, 200));
	assert_false(il_offsets_add(o, "t", 1, 200));
	assert_false(il_offsets_add(o, "t", 1, 150));
	assert_false(il_offsets_add(o, "t", 1, -1));
	assert_int_equal(il_offsets_pending(o, "t", 1), 3);
	il_offsets_done(o, "t", 1, 150);
	il_offsets_done(o, "t", 1, 100);
	assert_int_equal(il_offsets_commit_point(o, "t", 1), 105);
	il_offsets_done(o, "t", 1, 105);
	assert_int_equal(il_offsets_commit_point(o, "t", 1), 200);
	il_offsets_done(o, "t", 1, 200);
	assert_int_equal(il_offsets_commit_point(o, "t", 1), 201);
	/* Offset 0 is a real offset. */
	assert_true(il_offsets_add(o, "u", 0, 0));
	assert_int_equal(il_offsets_commit_point(o, "u", 0), 0);
	il_offsets_done(o, "u", 0, 0);
	assert_int_equal(il_offsets_commit_point(o, "u", 0), 1);
	il_offsets_destroy(o);
}

static void
test_partitions_and_forget(void **state)
{
	il_offsets *o = il_offsets_new();
	int32_t p;

	(void)state;
	for (p = 0; p < 100; p++) {
		assert_true(il_offsets_add(o, "a", p, 1000 + p));
		assert_true(il_offsets_add(o, "b", p, 2000 + p));
	}
	assert_int_equal(il_offsets_pending_total(o), 200);
	for (p = 0; p < 100; p++) {
		assert_int_equal(il_offsets_commit_point(o, "a", p), 1000 + p);
		assert_int_equal(il_offsets_commit_point(o, "b", p), 2000 + p);
	}
	il_offsets_done(o, "a", 7, 1007);
	assert_int_equal(il_offsets_commit_point(o, "a", 7), 1008);
	assert_int_equal(il_offsets_commit_point(o, "b", 7), 2007);
	il_offsets_forget(o, "b", 7);
	assert_int_equal(il_offsets_commit_point(o, "b", 7), -1);
	assert_int_equal(il_offsets_pending(o, "b", 7), 0);
	assert_int_equal(il_offsets_pending_total(o), 198);
	/* After a forget, the partition starts over: an older offset is fine. */
	assert_true(il_offsets_add(o, "b", 7, 5));
	assert_int_equal(il_offsets_commit_point(o, "b", 7), 5);
	il_offsets_forget(o, "nope", 3);
	il_offsets_destroy(o);
}

struct seen {
	int count;              /* partitions visited */
	int64_t sum;            /* sum of commit points */
};

static void
visit(const char *topic, int32_t partition, int64_t commit_point, void *ctx)
{
	struct seen *s = ctx;

	assert_string_equal(topic, "t");
	assert_int_equal(commit_point, partition == 2 ? 11 : 10);
	s->count++;
	s->sum += commit_point;
}

static void
test_foreach(void **state)
{
	il_offsets *o = il_offsets_new();
	struct seen s = { 0, 0 };
	int32_t p;

	(void)state;
	for (p = 0; p < 3; p++) {
		assert_true(il_offsets_add(o, "t", p, 10));
		assert_true(il_offsets_add(o, "t", p, 11));
	}
	il_offsets_done(o, "t", 2, 10);
	il_offsets_foreach(o, visit, &s);
	assert_int_equal(s.count, 3);
	assert_int_equal(s.sum, 31);
	il_offsets_destroy(o);
}

/* A long run with a window of messages in flight, finishing in a shuffled order. */
static void
test_long_run(void **state)
{
	enum { N = 200000, W = 500 };
	il_offsets *o = il_offsets_new();
	static int64_t window[W];
	uint64_t rng = 42;
	int64_t next = 0, lowest;
	size_t n = 0, k, i;

	(void)state;
	while (next < N || n > 0) {
		while (next < N && n < W) {
			assert_true(il_offsets_add(o, "t", 0, next));
			window[n++] = next++;
		}
		rng = rng * 6364136223846793005ULL + 1442695040888963407ULL;
		k = (size_t)(rng >> 33) % n;
		il_offsets_done(o, "t", 0, window[k]);
		window[k] = window[--n];
		lowest = next;
		for (i = 0; i < n; i++)
			if (window[i] < lowest)
				lowest = window[i];
		assert_int_equal(il_offsets_commit_point(o, "t", 0), lowest);
		assert_int_equal(il_offsets_pending(o, "t", 0), n);
	}
	assert_int_equal(il_offsets_commit_point(o, "t", 0), N);
	il_offsets_destroy(o);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_empty),
		cmocka_unit_test(test_out_of_order),
		cmocka_unit_test(test_gaps_and_redelivery),
		cmocka_unit_test(test_partitions_and_forget),
		cmocka_unit_test(test_foreach),
		cmocka_unit_test(test_long_run),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
