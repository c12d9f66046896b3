/*
 * test_burrow.c - Burrow's rules: every status, in Burrow's order, on
 * windows filled by hand, and the ring that holds them.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include "burrow.h"

/* One commit of a test window. */
typedef struct commit {
	int64_t offset;
	int64_t lag;
	long long ts_ms;
} commit;

/* Makes @p w hold @p n commits in a window of @p size. */
static void
fill(il_burrow_window *w, size_t size, const commit *c, size_t n)
{
	size_t i;

	il_burrow_window_init(w, size);
	for (i = 0; i < n; i++)
		il_burrow_window_push(w, c[i].offset, c[i].lag, c[i].ts_ms);
}

/* The status of @p c (oldest first) in a window just large enough. */
static il_burrow_status
status_of(const commit *c, size_t n, int64_t current_lag, long long now_ms)
{
	il_burrow_window w;
	il_burrow_status st;

	fill(&w, n, c, n);
	st = il_burrow_partition_status(&w, current_lag, now_ms);
	il_burrow_window_free(&w);
	return st;
}

#define NC(a) (sizeof(a) / sizeof((a)[0]))

static void
test_ring(void **state)
{
	il_burrow_window w;
	size_t i;

	(void)state;
	il_burrow_window_init(&w, 3);
	assert_int_equal(w.n, 0);
	assert_false(il_burrow_window_complete(&w));
	il_burrow_window_push(&w, 10, 5, 1000);
	il_burrow_window_push(&w, 20, 4, 2000);
	assert_int_equal(w.n, 2);
	assert_false(il_burrow_window_complete(&w));
	assert_int_equal(il_burrow_window_at(&w, 0)->offset, 10);
	assert_int_equal(il_burrow_window_at(&w, 1)->offset, 20);
	il_burrow_window_push(&w, 30, 3, 3000);
	assert_true(il_burrow_window_complete(&w));
	/* Past full, the oldest goes, around the ring several times. */
	for (i = 4; i <= 10; i++)
		il_burrow_window_push(&w, (int64_t)i * 10, 1, (long long)i * 1000);
	assert_int_equal(w.n, 3);
	assert_true(il_burrow_window_complete(&w));
	assert_int_equal(il_burrow_window_at(&w, 0)->offset, 80);
	assert_int_equal(il_burrow_window_at(&w, 1)->offset, 90);
	assert_int_equal(il_burrow_window_at(&w, 2)->offset, 100);
	assert_int_equal(il_burrow_window_at(&w, 2)->ts_ms, 10000);
	/* A negative lag (the broker's end read before the commit) is zero. */
	il_burrow_window_push(&w, 110, -3, 11000);
	assert_int_equal(il_burrow_window_at(&w, 2)->lag, 0);
	il_burrow_window_free(&w);
	assert_null(w.c);
	assert_int_equal(w.n, 0);
	/* A window of size 0 still holds one commit. */
	il_burrow_window_init(&w, 0);
	il_burrow_window_push(&w, 1, 1, 1);
	il_burrow_window_push(&w, 2, 1, 2);
	assert_int_equal(w.n, 1);
	assert_true(il_burrow_window_complete(&w));
	assert_int_equal(il_burrow_window_at(&w, 0)->offset, 2);
	il_burrow_window_free(&w);
}

static void
test_empty_and_no_lag(void **state)
{
	static const commit stalled[] = {
		{ 100, 50, 1000 }, { 100, 60, 2000 }, { 100, 70, 3000 },
	};
	il_burrow_window w;

	(void)state;
	il_burrow_window_init(&w, 10);
	assert_int_equal(il_burrow_partition_status(&w, 100, 999999), IL_BURROW_OK);
	assert_int_equal(il_burrow_partition_status(&w, 0, 999999), IL_BURROW_OK);
	il_burrow_window_free(&w);
	/* Whatever the window says, no lag now is OK: stopped long ago... */
	assert_int_equal(status_of(stalled, NC(stalled), 0, 999999), IL_BURROW_OK);
	/* ... and the same window with lag is STOP, then STALL while fresh. */
	assert_int_equal(status_of(stalled, NC(stalled), 70, 999999), IL_BURROW_STOP);
	assert_int_equal(status_of(stalled, NC(stalled), 70, 3500), IL_BURROW_STALL);
}

static void
test_stop(void **state)
{
	/* Spans 4 s: silent for more than 4 s is STOP, exactly 4 s is not. */
	static const commit c[] = {
		{ 10, 5, 1000 }, { 20, 4, 2000 }, { 30, 3, 3000 }, { 40, 2, 4000 }, { 50, 1, 5000 },
	};

	(void)state;
	assert_int_equal(status_of(c, NC(c), 1, 9000), IL_BURROW_OK);
	assert_int_equal(status_of(c, NC(c), 1, 9001), IL_BURROW_STOP);
	/* STOP comes before the zero-lag rule: a window that once had no lag
	 * and has lag now is STOP once silent. */
	{
		static const commit z[] = { { 10, 0, 1000 }, { 20, 0, 2000 } };

		assert_int_equal(status_of(z, NC(z), 5, 3000), IL_BURROW_OK);
		assert_int_equal(status_of(z, NC(z), 5, 3001), IL_BURROW_STOP);
	}
}

static void
test_incomplete_window(void **state)
{
	static const commit c[] = { { 10, 5, 1000 }, { 20, 6, 2000 }, { 30, 7, 3000 } };
	il_burrow_window w;

	(void)state;
	/* Three commits in a window of ten are judged all the same (Burrow
	 * only reports how complete the window is). */
	fill(&w, 10, c, NC(c));
	assert_false(il_burrow_window_complete(&w));
	assert_int_equal(il_burrow_partition_status(&w, 7, 3000), IL_BURROW_WARN);
	assert_int_equal(il_burrow_partition_status(&w, 7, 5001), IL_BURROW_STOP);
	il_burrow_window_free(&w);
}

static void
test_single_commit(void **state)
{
	static const commit c[] = { { 10, 5, 1000 } };

	(void)state;
	/* A window of one spans nothing: any silence after it is STOP, and at
	 * the same millisecond a single offset counts as not moving. */
	assert_int_equal(status_of(c, NC(c), 5, 1001), IL_BURROW_STOP);
	assert_int_equal(status_of(c, NC(c), 5, 1000), IL_BURROW_STALL);
}

static void
test_equal_timestamps(void **state)
{
	/* Every commit in the same millisecond: the window spans 0 ms. */
	static const commit moving[] = { { 10, 5, 1000 }, { 20, 4, 1000 }, { 30, 3, 1000 } };
	static const commit growing[] = { { 10, 5, 1000 }, { 20, 6, 1000 } };

	(void)state;
	assert_int_equal(status_of(moving, NC(moving), 3, 1000), IL_BURROW_OK);
	assert_int_equal(status_of(moving, NC(moving), 3, 1001), IL_BURROW_STOP);
	assert_int_equal(status_of(growing, NC(growing), 6, 1000), IL_BURROW_WARN);
	/* Time going backwards (a clock stepped) is not silence. */
	assert_int_equal(status_of(growing, NC(growing), 6, 500), IL_BURROW_WARN);
}

static void
test_zero_lag_in_window(void **state)
{
	/* Lag was zero once: OK though the offset went back and stalls after. */
	static const commit c[] = {
		{ 100, 0, 1000 }, { 90, 10, 2000 }, { 90, 15, 3000 }, { 90, 20, 4000 },
	};

	(void)state;
	assert_int_equal(status_of(c, NC(c), 20, 4000), IL_BURROW_OK);
}

static void
test_rewind(void **state)
{
	/* Backwards anywhere in the window, even with the lag shrinking. */
	static const commit c[] = {
		{ 100, 50, 1000 }, { 110, 40, 2000 }, { 105, 45, 3000 }, { 120, 30, 4000 },
	};
	/* A rewind also beats a stall (checked first). */
	static const commit s[] = { { 100, 5, 1000 }, { 99, 6, 2000 }, { 99, 6, 3000 } };

	(void)state;
	assert_int_equal(status_of(c, NC(c), 30, 4000), IL_BURROW_REWIND);
	assert_int_equal(status_of(s, NC(s), 6, 3000), IL_BURROW_REWIND);
}

static void
test_stall(void **state)
{
	/* Commits keep coming with the same offset while lag grows. */
	static const commit c[] = {
		{ 100, 5, 1000 }, { 100, 10, 2000 }, { 100, 20, 3000 }, { 100, 20, 4000 },
	};

	(void)state;
	assert_int_equal(status_of(c, NC(c), 20, 4000), IL_BURROW_STALL);
	assert_int_equal(status_of(c, NC(c), 20, 7000), IL_BURROW_STALL);
	assert_int_equal(status_of(c, NC(c), 20, 7001), IL_BURROW_STOP);
}

static void
test_warn_and_ok(void **state)
{
	/* Moving, lag never shrinking (equal counts as not shrinking). */
	static const commit warn[] = {
		{ 100, 5, 1000 }, { 110, 5, 2000 }, { 120, 8, 3000 }, { 130, 9, 4000 },
	};
	/* Moving, lag shrank once: OK (a recovering consumer). */
	static const commit ok[] = {
		{ 100, 5, 1000 }, { 110, 9, 2000 }, { 120, 8, 3000 }, { 130, 9, 4000 },
	};

	(void)state;
	assert_int_equal(status_of(warn, NC(warn), 9, 4000), IL_BURROW_WARN);
	assert_int_equal(status_of(ok, NC(ok), 9, 4000), IL_BURROW_OK);
}

static void
test_recovery_through_ring(void **state)
{
	il_burrow_window w;
	long long t = 0;
	int64_t off = 1000, lag = 10;
	int i;

	(void)state;
	il_burrow_window_init(&w, 5);
	/* A slow consumer: moving, lag growing: WARN. */
	for (i = 0; i < 8; i++) {
		t += 1000;
		off += 10;
		lag += 5;
		il_burrow_window_push(&w, off, lag, t);
	}
	assert_int_equal(il_burrow_partition_status(&w, lag, t), IL_BURROW_WARN);
	/* It catches up: the lag shrinks once inside the window: OK. */
	t += 1000;
	off += 100;
	lag -= 20;
	il_burrow_window_push(&w, off, lag, t);
	assert_int_equal(il_burrow_partition_status(&w, lag, t), IL_BURROW_OK);
	/* It hangs committing the same offset: once the shrinking commit has
	 * left the ring (three commits later), STALL. */
	for (i = 0; i < 3; i++) {
		t += 1000;
		lag += 5;
		il_burrow_window_push(&w, off, lag, t);
		assert_int_equal(il_burrow_partition_status(&w, lag, t), IL_BURROW_OK);
	}
	t += 1000;
	lag += 5;
	il_burrow_window_push(&w, off, lag, t);
	assert_int_equal(il_burrow_partition_status(&w, lag, t), IL_BURROW_STALL);
	/* Silence: STOP once longer than the window spans (4 s). */
	assert_int_equal(il_burrow_partition_status(&w, lag, t + 4000), IL_BURROW_STALL);
	assert_int_equal(il_burrow_partition_status(&w, lag, t + 4001), IL_BURROW_STOP);
	il_burrow_window_free(&w);
}

static void
test_group(void **state)
{
	static const il_burrow_status ok[] = { IL_BURROW_OK, IL_BURROW_OK };
	static const il_burrow_status warn[] = { IL_BURROW_OK, IL_BURROW_WARN, IL_BURROW_OK };
	static const il_burrow_status stop[] = { IL_BURROW_WARN, IL_BURROW_STOP };
	static const il_burrow_status stall[] = { IL_BURROW_STALL, IL_BURROW_OK };
	static const il_burrow_status rewind[] = { IL_BURROW_OK, IL_BURROW_REWIND, IL_BURROW_WARN };
	static const il_burrow_status nf[] = { IL_BURROW_NOTFOUND, IL_BURROW_NOTFOUND };

	(void)state;
	assert_int_equal(il_burrow_group_status(NULL, 0), IL_BURROW_OK);
	assert_int_equal(il_burrow_group_status(ok, NC(ok)), IL_BURROW_OK);
	assert_int_equal(il_burrow_group_status(warn, NC(warn)), IL_BURROW_WARN);
	assert_int_equal(il_burrow_group_status(stop, NC(stop)), IL_BURROW_ERR);
	assert_int_equal(il_burrow_group_status(stall, NC(stall)), IL_BURROW_ERR);
	assert_int_equal(il_burrow_group_status(rewind, NC(rewind)), IL_BURROW_ERR);
	assert_int_equal(il_burrow_group_status(nf, NC(nf)), IL_BURROW_OK);
}

static void
test_names(void **state)
{
	(void)state;
	assert_string_equal(il_burrow_status_name(IL_BURROW_NOTFOUND), "NOTFOUND");
	assert_string_equal(il_burrow_status_name(IL_BURROW_OK), "OK");
	assert_string_equal(il_burrow_status_name(IL_BURROW_WARN), "WARN");
	assert_string_equal(il_burrow_status_name(IL_BURROW_ERR), "ERR");
	assert_string_equal(il_burrow_status_name(IL_BURROW_STOP), "STOP");
	assert_string_equal(il_burrow_status_name(IL_BURROW_STALL), "STALL");
	assert_string_equal(il_burrow_status_name(IL_BURROW_REWIND), "REWIND");
	assert_string_equal(il_burrow_status_name((il_burrow_status)42), "NOTFOUND");
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_ring),
		cmocka_unit_test(test_empty_and_no_lag),
		cmocka_unit_test(test_stop),
		cmocka_unit_test(test_incomplete_window),
		cmocka_unit_test(test_single_commit),
		cmocka_unit_test(test_equal_timestamps),
		cmocka_unit_test(test_zero_lag_in_window),
		cmocka_unit_test(test_rewind),
		cmocka_unit_test(test_stall),
		cmocka_unit_test(test_warn_and_ok),
		cmocka_unit_test(test_recovery_through_ring),
		cmocka_unit_test(test_group),
		cmocka_unit_test(test_names),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
