/*
 * test_burrow.c - Burrow's rules: every status, in Burrow's order, on
 * windows filled by hand, the ring that holds them, and the ring of log end
 * readings that gives each commit its lag and guards STOP.
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
	st = il_burrow_partition_status(&w, current_lag, false, now_ms);
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
	assert_int_equal(il_burrow_partition_status(&w, 100, false, 999999), IL_BURROW_OK);
	assert_int_equal(il_burrow_partition_status(&w, 0, false, 999999), IL_BURROW_OK);
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
	assert_int_equal(il_burrow_partition_status(&w, 7, false, 3000), IL_BURROW_WARN);
	assert_int_equal(il_burrow_partition_status(&w, 7, false, 5001), IL_BURROW_STOP);
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
	assert_int_equal(il_burrow_partition_status(&w, lag, false, t), IL_BURROW_WARN);
	/* It catches up: the lag shrinks once inside the window: OK. */
	t += 1000;
	off += 100;
	lag -= 20;
	il_burrow_window_push(&w, off, lag, t);
	assert_int_equal(il_burrow_partition_status(&w, lag, false, t), IL_BURROW_OK);
	/* It hangs committing the same offset: once the shrinking commit has
	 * left the ring (three commits later), STALL. */
	for (i = 0; i < 3; i++) {
		t += 1000;
		lag += 5;
		il_burrow_window_push(&w, off, lag, t);
		assert_int_equal(il_burrow_partition_status(&w, lag, false, t), IL_BURROW_OK);
	}
	t += 1000;
	lag += 5;
	il_burrow_window_push(&w, off, lag, t);
	assert_int_equal(il_burrow_partition_status(&w, lag, false, t), IL_BURROW_STALL);
	/* Silence: STOP once longer than the window spans (4 s). */
	assert_int_equal(il_burrow_partition_status(&w, lag, false, t + 4000), IL_BURROW_STALL);
	assert_int_equal(il_burrow_partition_status(&w, lag, false, t + 4001), IL_BURROW_STOP);
	il_burrow_window_free(&w);
}

static void
test_ends_ring(void **state)
{
	il_burrow_ends r;
	size_t i;

	(void)state;
	il_burrow_ends_init(&r, 3);
	assert_int_equal(r.n, 0);
	for (i = 1; i <= 7; i++)
		il_burrow_ends_push(&r, (int64_t)i * 100, (long long)i * 1000);
	assert_int_equal(r.n, 3);
	assert_int_equal(il_burrow_ends_at(&r, 0)->offset, 500);
	assert_int_equal(il_burrow_ends_at(&r, 2)->offset, 700);
	assert_int_equal(il_burrow_ends_at(&r, 2)->ts_ms, 7000);
	il_burrow_ends_free(&r);
	assert_null(r.e);
	assert_int_equal(r.n, 0);
	/* A ring of size 0 still holds one reading. */
	il_burrow_ends_init(&r, 0);
	il_burrow_ends_push(&r, 1, 1);
	il_burrow_ends_push(&r, 2, 2);
	assert_int_equal(r.n, 1);
	assert_int_equal(il_burrow_ends_at(&r, 0)->offset, 2);
	il_burrow_ends_free(&r);
}

static void
test_commit_lag(void **state)
{
	il_burrow_ends r;

	(void)state;
	il_burrow_ends_init(&r, 5);
	/* No reading yet: unknown. */
	assert_int_equal(il_burrow_commit_lag(&r, 10, 1000), -1);
	il_burrow_ends_push(&r, 100, 1000);
	il_burrow_ends_push(&r, 150, 2000);
	il_burrow_ends_push(&r, 200, 3000);
	/* Against the latest reading at or before the commit, not the last. */
	assert_int_equal(il_burrow_commit_lag(&r, 140, 2500), 10);
	assert_int_equal(il_burrow_commit_lag(&r, 140, 2000), 10);
	assert_int_equal(il_burrow_commit_lag(&r, 140, 1999), 0);
	assert_int_equal(il_burrow_commit_lag(&r, 190, 3000), 10);
	assert_int_equal(il_burrow_commit_lag(&r, 190, 9000), 10);
	/* Ahead of the reading (messages came after it): no lag, never less. */
	assert_int_equal(il_burrow_commit_lag(&r, 170, 2500), 0);
	/* Older than every reading: the oldest. */
	assert_int_equal(il_burrow_commit_lag(&r, 40, 500), 60);
	il_burrow_ends_free(&r);
}

static void
test_recent_lag_zero(void **state)
{
	static const commit c[] = { { 40, 5, 1000 }, { 50, 5, 2000 } };
	il_burrow_window w, empty;
	il_burrow_ends r;

	(void)state;
	fill(&w, 5, c, NC(c));
	il_burrow_window_init(&empty, 5);
	il_burrow_ends_init(&r, 3);
	assert_false(il_burrow_recent_lag_zero(&w, &r));
	il_burrow_ends_push(&r, 60, 3000);
	il_burrow_ends_push(&r, 70, 4000);
	assert_false(il_burrow_recent_lag_zero(&w, &r));
	/* Only the last commit counts: 45 is above it... */
	il_burrow_ends_push(&r, 45, 5000);
	assert_true(il_burrow_recent_lag_zero(&w, &r));
	assert_false(il_burrow_recent_lag_zero(&empty, &r));
	/* ... and equal to it is no lag. */
	il_burrow_ends_push(&r, 80, 6000);
	il_burrow_ends_push(&r, 90, 7000);
	assert_true(il_burrow_recent_lag_zero(&w, &r));
	il_burrow_ends_push(&r, 100, 8000);
	assert_false(il_burrow_recent_lag_zero(&w, &r));
	il_burrow_ends_push(&r, 50, 9000);
	assert_true(il_burrow_recent_lag_zero(&w, &r));
	il_burrow_window_free(&w);
	il_burrow_window_free(&empty);
	il_burrow_ends_free(&r);
}

/* A partition as the lag collector keeps it: its commits and its readings. */
typedef struct part {
	il_burrow_window w;
	il_burrow_ends ends;
	int64_t log_end;        /* the last reading */
} part;

static void
part_init(part *p, size_t size)
{
	il_burrow_window_init(&p->w, size);
	il_burrow_ends_init(&p->ends, size);
	p->log_end = 0;
}

static void
part_free(part *p)
{
	il_burrow_window_free(&p->w);
	il_burrow_ends_free(&p->ends);
}

/* One round reads the log end @p end at @p t. */
static void
part_read(part *p, int64_t end, long long t)
{
	il_burrow_ends_push(&p->ends, end, t);
	p->log_end = end;
}

/* A commit of @p offset at @p t, its lag measured as the collector does. */
static void
part_commit(part *p, int64_t offset, long long t)
{
	il_burrow_window_push(&p->w, offset, il_burrow_commit_lag(&p->ends, offset, t), t);
}

/* The status at @p now, after a round. */
static il_burrow_status
part_status(const part *p, long long now)
{
	const il_burrow_commit *last = il_burrow_window_at(&p->w, p->w.n - 1);

	return il_burrow_partition_status(&p->w, p->log_end - last->offset,
	    il_burrow_recent_lag_zero(&p->w, &p->ends), now);
}

static void
test_idle_then_burst(void **state)
{
	part p;
	long long t;
	int64_t end = 0;

	(void)state;
	part_init(&p, 5);
	/* A worker that keeps up: each second a round reads the end, then the
	 * worker consumes what came and commits. */
	for (t = 1000; t <= 5000; t += 1000) {
		end += 10;
		part_read(&p, end - 10, t);
		part_commit(&p, end, t + 500);
	}
	part_read(&p, end, 6000);
	assert_int_equal(part_status(&p, 6000), IL_BURROW_OK);
	/* Caught up and idle for an hour: it commits only on progress, so
	 * nothing; every round reads the same end. */
	for (t = 7000; t <= 3600000; t += 1000)
		part_read(&p, end, t);
	assert_int_equal(part_status(&p, 3600000), IL_BURROW_OK);
	/* A burst, read before the worker's first commit: lag now, an hour
	 * of silence, but the lag was zero a round ago: idle, not STOP. */
	part_read(&p, end + 30, 3601000);
	assert_int_equal(part_status(&p, 3601000), IL_BURROW_OK);
	/* Without the guard, the same window would be STOP (Burrow 1.2). */
	assert_int_equal(il_burrow_partition_status(&p.w, 30, false, 3601000), IL_BURROW_STOP);
	/* It commits the burst: OK, with the lag of that commit zero. */
	part_commit(&p, end + 30, 3601200);
	assert_int_equal(il_burrow_window_at(&p.w, p.w.n - 1)->lag, 0);
	part_read(&p, end + 30, 3602000);
	assert_int_equal(part_status(&p, 3602000), IL_BURROW_OK);
	part_free(&p);
}

static void
test_died_while_lag_grows(void **state)
{
	part p;
	long long t;
	int64_t end = 0;
	int silent = 0;

	(void)state;
	part_init(&p, 5);
	/* As above, keeping up: commits at 1.5 s to 5.5 s, a 4 s span. */
	for (t = 1000; t <= 5000; t += 1000) {
		end += 10;
		part_read(&p, end - 10, t);
		part_commit(&p, end, t + 500);
	}
	/* It dies at offset 50; messages keep coming, 10 a second. */
	for (t = 6000; t <= 9000; t += 1000) {
		part_read(&p, end, t);
		end += 10;
	}
	/* 9.5 s: silent for 4 s, the span: not yet STOP. */
	assert_int_equal(part_status(&p, 9500), IL_BURROW_OK);
	/* Silent longer than the span, but the ring still holds readings
	 * at or below its offset (5 s and 6 s): Burrow waits (OK, from the
	 * window's zero lag). */
	assert_int_equal(part_status(&p, 9501), IL_BURROW_OK);
	/* Once every reading of the ring is above its offset, STOP, and it
	 * stays STOP while the lag keeps growing. */
	for (t = 10000; t <= 20000; t += 1000) {
		part_read(&p, end, t);
		end += 10;
		if (part_status(&p, t) == IL_BURROW_STOP)
			silent++;
		else
			assert_int_equal(t, 10000);
	}
	assert_int_equal(silent, 10);
	assert_int_equal(il_burrow_group_status(&(il_burrow_status){ part_status(&p, 20000) }, 1),
	    IL_BURROW_ERR);
	part_free(&p);
}

static void
test_steady_traffic_keeping_up(void **state)
{
	part p;
	long long t;
	int i;

	(void)state;
	/* 10 messages a second, evenly; rounds each second; the consumer
	 * commits every 700 ms what had arrived by then.  Against the end
	 * read at or before each commit the lag is zero: OK. */
	part_init(&p, 5);
	for (t = 0, i = 0; t <= 20000; t += 100) {
		if (t % 1000 == 0)
			part_read(&p, t / 100, t);
		if (t > 0 && t % 700 == 0) {
			part_commit(&p, t / 100, t);
			i++;
		}
	}
	assert_true(i > 5);
	assert_int_equal(part_status(&p, 20000), IL_BURROW_OK);
	/* The last commit, 196 at 19.6 s: no lag against the end read at
	 * 19 s; against the end of the next round (200, read at 20 s, what a
	 * round reading both used to take) the messages after it would be. */
	assert_int_equal(il_burrow_window_at(&p.w, p.w.n - 1)->offset, 196);
	assert_int_equal(il_burrow_commit_lag(&p.ends, 196, 19600), 0);
	assert_int_equal(il_burrow_commit_lag(&p.ends, 196, 20000), 4);
	part_free(&p);
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
		cmocka_unit_test(test_ends_ring),
		cmocka_unit_test(test_commit_lag),
		cmocka_unit_test(test_recent_lag_zero),
		cmocka_unit_test(test_idle_then_burst),
		cmocka_unit_test(test_died_while_lag_grows),
		cmocka_unit_test(test_steady_traffic_keeping_up),
		cmocka_unit_test(test_group),
		cmocka_unit_test(test_names),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
