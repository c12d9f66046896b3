/*
 * metrics.h - counters, gauges and histograms, rendered as Prometheus text.
 *
 * A metric is a family name plus one fixed label set ("topic=\"a\",partition=\"0\"");
 * asking again for the same name and labels returns the same metric, so call
 * sites may look metrics up lazily.  Updates take a mutex: the HTTP server
 * renders from its own thread while the main loop updates.
 */
#ifndef IL_METRICS_H
#define IL_METRICS_H

#include <stddef.h>

#include "buf.h"
#include "err.h"

typedef struct il_metrics il_metrics;
typedef struct il_metric il_metric;

/** @returns an empty registry; destroy with il_metrics_destroy(). */
il_metrics *il_metrics_new(void);
/** Frees @p m and every metric in it; NULL is a no-op. */
void il_metrics_destroy(il_metrics *m);

/**
 * @brief Finds or creates a metric; @p labels is the inside of the braces
 * (NULL or "" for none), already escaped by il_metrics_label().
 * @returns a metric owned by @p m.  Asking for an existing name with another
 * type is a programming error and aborts.
 */
il_metric *il_metrics_counter(il_metrics *m, const char *name, const char *help, const char *labels);
il_metric *il_metrics_gauge(il_metrics *m, const char *name, const char *help, const char *labels);
/** @p bounds are the upper bounds of the buckets, ascending; +Inf is implied. */
il_metric *il_metrics_histogram(il_metrics *m, const char *name, const char *help,
    const char *labels, const double *bounds, size_t nbounds);

void il_metric_inc(il_metric *x, double by);         /* counters and gauges */
void il_metric_set(il_metric *x, double value);      /* gauges */
void il_metric_observe(il_metric *x, double value);  /* histograms */
/** @returns the current value of a counter or gauge, the count of a histogram. */
double il_metric_value(il_metric *x);

/**
 * Writes name="value" for a label into @p out, escaping backslash, quote and
 * newline as the text format requires.  A value too long for @p outsz is cut
 * (never inside an escape) and the label stays well formed; "" when not even
 * the name fits.  @returns @p out.
 */
char *il_metrics_label(char *out, size_t outsz, const char *name, const char *value);

/**
 * @brief Also renders process_cpu_seconds_total, process_open_fds,
 * process_resident_memory_bytes, process_start_time_seconds and
 * process_virtual_memory_bytes, read from /proc at each render (Linux).
 */
void il_metrics_add_process(il_metrics *m);

/** @brief Appends the whole registry in the Prometheus text format 0.0.4 to @p out. */
il_err il_metrics_render(il_metrics *m, il_buf *out);

/**
 * Appends Prometheus text to @p out for series whose label sets come and go
 * (the lag monitor's groups and partitions); runs on the HTTP server's
 * thread, so it must guard its own data.
 */
typedef il_err (il_metrics_collect_cb)(il_buf *out, void *ctx);
/** @brief Makes @p cb write after the registry's own series at every render; NULL removes it. */
void il_metrics_set_collector(il_metrics *m, il_metrics_collect_cb *cb, void *ctx);

#endif
