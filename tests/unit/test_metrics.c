/*
 * test_metrics.c - the Prometheus text output, byte for byte, and thread safety.
 */
#include <math.h>
#include <pthread.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "metrics.h"

#define RENDER_MAX (1 << 20)

/* Renders @p m and compares with @p want. */
static void
assert_render(il_metrics *m, const char *want)
{
	il_buf out;

	il_buf_init(&out, RENDER_MAX);
	assert_int_equal(il_metrics_render(m, &out), IL_OK);
	assert_string_equal(out.data != NULL ? out.data : "", want);
	il_buf_free(&out);
}

static void
test_empty(void **state)
{
	il_metrics *m = il_metrics_new();

	(void)state;
	assert_render(m, "");
	il_metrics_destroy(m);
	il_metrics_destroy(NULL);
}

static void
test_counter_no_labels(void **state)
{
	il_metrics *m = il_metrics_new();
	il_metric *c = il_metrics_counter(m, "il_events_total", "Events published.", NULL);

	(void)state;
	il_metric_inc(c, 1);
	il_metric_inc(c, 2);
	/* Counters never go down. */
	il_metric_inc(c, -5);
	assert_true(il_metric_value(c) == 3);
	assert_render(m,
	    "# HELP il_events_total Events published.\n"
	    "# TYPE il_events_total counter\n"
	    "il_events_total 3\n");
	il_metrics_destroy(m);
}

static void
test_gauge_labels_and_grouping(void **state)
{
	il_metrics *m = il_metrics_new();
	char l1[128], l2[128], lbl[256];
	il_metric *g1, *g2, *c, *again;

	(void)state;
	il_metrics_label(l1, sizeof(l1), "topic", "a");
	il_metrics_label(l2, sizeof(l2), "partition", "0");
	snprintf(lbl, sizeof(lbl), "%s,%s", l1, l2);
	g1 = il_metrics_gauge(m, "il_lag", "Lag in messages.", lbl);
	/* Another family in between must not split il_lag's samples. */
	c = il_metrics_counter(m, "il_errors_total", "Errors.", "");
	il_metrics_label(l2, sizeof(l2), "partition", "1");
	snprintf(lbl, sizeof(lbl), "%s,%s", l1, l2);
	g2 = il_metrics_gauge(m, "il_lag", "Lag in messages.", lbl);
	again = il_metrics_gauge(m, "il_lag", "ignored", "topic=\"a\",partition=\"0\"");
	assert_ptr_equal(again, g1);
	il_metric_set(g1, 42);
	il_metric_set(g2, -7);
	il_metric_inc(g2, 0.5);
	il_metric_inc(c, 1);
	assert_render(m,
	    "# HELP il_lag Lag in messages.\n"
	    "# TYPE il_lag gauge\n"
	    "il_lag{topic=\"a\",partition=\"0\"} 42\n"
	    "il_lag{topic=\"a\",partition=\"1\"} -6.5\n"
	    "# HELP il_errors_total Errors.\n"
	    "# TYPE il_errors_total counter\n"
	    "il_errors_total 1\n");
	il_metrics_destroy(m);
}

static void
test_histogram(void **state)
{
	static const double bounds[] = { 0.005, 0.1, 1, 2.5 };
	il_metrics *m = il_metrics_new();
	il_metric *h, *hl;

	(void)state;
	h = il_metrics_histogram(m, "il_latency_seconds", "Latency.", NULL, bounds, 4);
	hl = il_metrics_histogram(m, "il_latency_seconds", "Latency.", "route=\"/x\"", bounds, 4);
	il_metric_observe(h, 0.001);
	il_metric_observe(h, 0.1);      /* le is inclusive */
	il_metric_observe(h, 0.5);
	il_metric_observe(h, 3);
	il_metric_observe(hl, 2);
	assert_true(il_metric_value(h) == 4);
	assert_render(m,
	    "# HELP il_latency_seconds Latency.\n"
	    "# TYPE il_latency_seconds histogram\n"
	    "il_latency_seconds_bucket{le=\"0.005\"} 1\n"
	    "il_latency_seconds_bucket{le=\"0.1\"} 2\n"
	    "il_latency_seconds_bucket{le=\"1\"} 3\n"
	    "il_latency_seconds_bucket{le=\"2.5\"} 3\n"
	    "il_latency_seconds_bucket{le=\"+Inf\"} 4\n"
	    "il_latency_seconds_sum 3.601\n"
	    "il_latency_seconds_count 4\n"
	    "il_latency_seconds_bucket{route=\"/x\",le=\"0.005\"} 0\n"
	    "il_latency_seconds_bucket{route=\"/x\",le=\"0.1\"} 0\n"
	    "il_latency_seconds_bucket{route=\"/x\",le=\"1\"} 0\n"
	    "il_latency_seconds_bucket{route=\"/x\",le=\"2.5\"} 1\n"
	    "il_latency_seconds_bucket{route=\"/x\",le=\"+Inf\"} 1\n"
	    "il_latency_seconds_sum{route=\"/x\"} 2\n"
	    "il_latency_seconds_count{route=\"/x\"} 1\n");
	il_metrics_destroy(m);
}

static void
test_histogram_no_bounds(void **state)
{
	il_metrics *m = il_metrics_new();
	il_metric *h = il_metrics_histogram(m, "h", "H.", NULL, NULL, 0);

	(void)state;
	il_metric_observe(h, 1e20);
	assert_render(m,
	    "# HELP h H.\n"
	    "# TYPE h histogram\n"
	    "h_bucket{le=\"+Inf\"} 1\n"
	    "h_sum 1e+20\n"
	    "h_count 1\n");
	il_metrics_destroy(m);
}

static void
test_escaping(void **state)
{
	il_metrics *m = il_metrics_new();
	char lbl[128];
	il_metric *g;

	(void)state;
	assert_string_equal(il_metrics_label(lbl, sizeof(lbl), "path", "a\\b\"c\nd"),
	    "path=\"a\\\\b\\\"c\\nd\"");
	g = il_metrics_gauge(m, "g", "Help with \\ and\nnewline \"quoted\".", lbl);
	il_metric_set(g, 1);
	assert_render(m,
	    "# HELP g Help with \\\\ and\\nnewline \"quoted\".\n"
	    "# TYPE g gauge\n"
	    "g{path=\"a\\\\b\\\"c\\nd\"} 1\n");
	il_metrics_destroy(m);
}

static void
test_label_truncation(void **state)
{
	char lbl[12];

	(void)state;
	/* Cut, but still a well-formed label; never half an escape. */
	assert_string_equal(il_metrics_label(lbl, sizeof(lbl), "k", "abcdefghijkl"), "k=\"abcdefg\"");
	assert_string_equal(il_metrics_label(lbl, sizeof(lbl), "k", "abcdef\"x"), "k=\"abcdef\"");
	assert_string_equal(il_metrics_label(lbl, sizeof(lbl), "k", NULL), "k=\"\"");
	assert_string_equal(il_metrics_label(lbl, 4, "long", "v"), "");
}

static void
test_special_values(void **state)
{
	il_metrics *m = il_metrics_new();

	(void)state;
	il_metric_set(il_metrics_gauge(m, "g", "G.", "v=\"inf\""), INFINITY);
	il_metric_set(il_metrics_gauge(m, "g", "G.", "v=\"-inf\""), -INFINITY);
	il_metric_set(il_metrics_gauge(m, "g", "G.", "v=\"nan\""), NAN);
	il_metric_set(il_metrics_gauge(m, "g", "G.", "v=\"negzero\""), -0.0);
	il_metric_set(il_metrics_gauge(m, "g", "G.", "v=\"big\""), 1234567890123.0);
	il_metric_set(il_metrics_gauge(m, "g", "G.", "v=\"frac\""), 0.1 + 0.2);
	il_metric_set(il_metrics_gauge(m, "g", "G.", "v=\"small\""), 1.5e-9);
	assert_render(m,
	    "# HELP g G.\n"
	    "# TYPE g gauge\n"
	    "g{v=\"inf\"} +Inf\n"
	    "g{v=\"-inf\"} -Inf\n"
	    "g{v=\"nan\"} NaN\n"
	    "g{v=\"negzero\"} 0\n"
	    "g{v=\"big\"} 1234567890123\n"
	    "g{v=\"frac\"} 0.30000000000000004\n"
	    "g{v=\"small\"} 1.5e-09\n");
	il_metrics_destroy(m);
}

static void
test_render_bounded(void **state)
{
	il_metrics *m = il_metrics_new();
	il_buf out;

	(void)state;
	il_metric_inc(il_metrics_counter(m, "a_long_counter_name_total", "Help.", NULL), 1);
	il_buf_init(&out, 16);
	assert_int_equal(il_metrics_render(m, &out), IL_ERR_NOMEM);
	il_buf_free(&out);
	il_metrics_destroy(m);
}

static void
test_process(void **state)
{
	il_metrics *m = il_metrics_new();
	il_buf out;

	(void)state;
	il_metrics_add_process(m);
	il_buf_init(&out, RENDER_MAX);
	assert_int_equal(il_metrics_render(m, &out), IL_OK);
	assert_non_null(out.data);
	assert_non_null(strstr(out.data, "# TYPE process_cpu_seconds_total counter\nprocess_cpu_seconds_total "));
	assert_non_null(strstr(out.data, "# TYPE process_resident_memory_bytes gauge\nprocess_resident_memory_bytes "));
	assert_non_null(strstr(out.data, "# TYPE process_start_time_seconds gauge\nprocess_start_time_seconds "));
	assert_non_null(strstr(out.data, "\nprocess_open_fds "));
	assert_non_null(strstr(out.data, "\nprocess_virtual_memory_bytes "));
	il_buf_free(&out);
	il_metrics_destroy(m);
}

#define THREADS 8
#define ROUNDS 20000

struct worker {
	il_metrics *m;
	int id;
};

static void *
worker_main(void *arg)
{
	static const double bounds[] = { 1, 10 };
	struct worker *w = arg;
	il_metric *c, *h;
	int i;

	for (i = 0; i < ROUNDS; i++) {
		/* Look up lazily, as call sites do, so creation races too. */
		c = il_metrics_counter(w->m, "il_hits_total", "Hits.", i % 2 ? "k=\"odd\"" : "k=\"even\"");
		il_metric_inc(c, 1);
		h = il_metrics_histogram(w->m, "il_h", "H.", NULL, bounds, 2);
		il_metric_observe(h, (double)(i % 20));
	}
	return NULL;
}

static void
test_concurrent(void **state)
{
	il_metrics *m = il_metrics_new();
	pthread_t tid[THREADS];
	struct worker w[THREADS];
	il_buf out;
	int i;

	(void)state;
	for (i = 0; i < THREADS; i++) {
		w[i].m = m;
		w[i].id = i;
		assert_int_equal(pthread_create(&tid[i], NULL, worker_main, &w[i]), 0);
	}
	/* Render while the workers update: must not crash or tear. */
	for (i = 0; i < 50; i++) {
		il_buf_init(&out, RENDER_MAX);
		assert_int_equal(il_metrics_render(m, &out), IL_OK);
		il_buf_free(&out);
	}
	for (i = 0; i < THREADS; i++)
		assert_int_equal(pthread_join(tid[i], NULL), 0);
	assert_true(il_metric_value(il_metrics_counter(m, "il_hits_total", "", "k=\"odd\"")) == THREADS * ROUNDS / 2);
	assert_true(il_metric_value(il_metrics_counter(m, "il_hits_total", "", "k=\"even\"")) == THREADS * ROUNDS / 2);
	assert_true(il_metric_value(il_metrics_histogram(m, "il_h", "", NULL, (const double[]){ 1, 10 }, 2)) ==
	    THREADS * ROUNDS);
	/* Per 20 rounds: 0,1 -> le 1; 2..10 -> le 10; 11..19 -> +Inf; sum 190. */
	assert_render(m,
	    "# HELP il_hits_total Hits.\n"
	    "# TYPE il_hits_total counter\n"
	    "il_hits_total{k=\"even\"} 80000\n"
	    "il_hits_total{k=\"odd\"} 80000\n"
	    "# HELP il_h H.\n"
	    "# TYPE il_h histogram\n"
	    "il_h_bucket{le=\"1\"} 16000\n"
	    "il_h_bucket{le=\"10\"} 88000\n"
	    "il_h_bucket{le=\"+Inf\"} 160000\n"
	    "il_h_sum 1520000\n"
	    "il_h_count 160000\n");
	il_metrics_destroy(m);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_empty),
		cmocka_unit_test(test_counter_no_labels),
		cmocka_unit_test(test_gauge_labels_and_grouping),
		cmocka_unit_test(test_histogram),
		cmocka_unit_test(test_histogram_no_bounds),
		cmocka_unit_test(test_escaping),
		cmocka_unit_test(test_label_truncation),
		cmocka_unit_test(test_special_values),
		cmocka_unit_test(test_render_bounded),
		cmocka_unit_test(test_process),
		cmocka_unit_test(test_concurrent),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
