/*
 * monitor.h - the engine of imislink-lagmon: lag rounds on a timer, and
 * what the HTTP threads serve from them (Prometheus series, Burrow's JSON,
 * health).
 *
 * The main loop calls il_lagmon_round(); each round evaluates il_lag and
 * renders everything the HTTP side may be asked for into a view published
 * under a mutex.  The HTTP threads only ever copy from that view: il_lag
 * itself is never touched off the main thread.
 */
#ifndef IL_LAGMON_MONITOR_H
#define IL_LAGMON_MONITOR_H

#include "buf.h"
#include "conf.h"
#include "err.h"
#include "http.h"
#include "metrics.h"

typedef struct il_lagmon il_lagmon;

/**
 * @brief Makes the monitor for the cluster of @p conf (see lag.h for the
 * keys it reads, plus lag.interval.ms), registering its own metrics in
 * @p metrics and the lag series as @p metrics' collector.  Both are
 * borrowed and must outlive the monitor.
 * @returns NULL with the reason in @p errbuf.
 */
il_lagmon *il_lagmon_new(const il_conf *conf, il_metrics *metrics, char *errbuf, size_t errsz);
/**
 * @brief Frees @p m and removes its collector; NULL is a no-op.  Stop the
 * HTTP server first: a handler may still be reading the view.
 */
void il_lagmon_destroy(il_lagmon *m);
/**
 * @brief Runs one round and publishes its figures; logs a failed round and
 * every change of a group's status.
 * @returns IL_OK, or the error of il_lag_evaluate() (the last good figures
 * stay published).
 */
il_err il_lagmon_round(il_lagmon *m);
/** @returns lag.interval.ms. */
long long il_lagmon_interval_ms(const il_lagmon *m);
/**
 * @brief Adds Burrow's read-only endpoints to @p h: GET /v3/kafka,
 * /v3/kafka/<cluster>/consumer, /v3/kafka/<cluster>/consumer/<group>/status
 * and .../lag (404 NOTFOUND for a group the broker says does not exist, as
 * for one not watched).  Only before il_http_listen().
 */
void il_lagmon_routes(il_lagmon *m, il_http *h);
/**
 * @brief The /healthz callback (@p ctx is the il_lagmon): degraded when the
 * last round failed, or when no round ended for three intervals (plus the
 * bound of one round's broker requests, which a round in progress may use).
 */
il_health il_lagmon_health(il_buf *out, void *ctx);

#endif
