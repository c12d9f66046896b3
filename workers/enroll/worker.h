/*
 * worker.h - the enrollment worker's engine: Kafka messages in, openIMIS
 * calls out, results and dead letters back to Kafka, offsets committed
 * behind them.
 *
 * One thread does everything, in the style of librdkafka's examples: poll the
 * consumer, dispatch, drive the calls (libcurl multi), serve delivery
 * reports, commit.  Guarantees and how they are kept:
 *  - order per key: events wait behind their key (il_keyq); one event of a key
 *    runs at a time, the next starts when it finished;
 *  - nothing lost: an offset is done only when the event's result (and its
 *    dead letter, if any) is confirmed by Kafka; commits go up to the lowest
 *    offset not done (il_offsets);
 *  - no double enrollment: il_enrollment looks up before and after writes;
 *  - transient failures retry with backoff inside a budget, 429 slows the
 *    shared rate limit down, and many transient failures in a row open the
 *    breaker: fetching pauses and one probe at a time checks openIMIS.
 */
#ifndef IL_WORKER_H
#define IL_WORKER_H

#include <stdbool.h>

#include "avro.h"
#include "catalog.h"
#include "conf.h"
#include "http.h"
#include "mapping.h"
#include "metrics.h"
#include "serde.h"

typedef struct il_worker il_worker;

/** What the worker is given; everything borrowed and must outlive it. */
typedef struct il_worker_env {
	const il_conf *conf;
	const il_mapping *mapping;
	il_metrics *metrics;
	const il_schema_set *schemas;
	const char *worker_id;
	void (*reload)(void *ctx); /* runs on SIGHUP, on the worker's thread; may be NULL */
	void *reload_ctx;
} il_worker_env;

/**
 * @brief Makes the clients (consumer, producer, serde, curl) and the
 * catalogue; nothing runs yet.  @returns NULL with the reason in @p errbuf.
 */
il_worker *il_worker_new(const il_worker_env *env, char *errbuf, size_t errsz);
/** Frees @p w (after il_worker_run() returned); NULL is a no-op. */
void il_worker_destroy(il_worker *w);
/**
 * @brief Logs in and resolves the mapping's villages, officers and products,
 * retrying transient failures until they succeed or a stop is requested.
 * @returns IL_ERR_CONFIG with the reason when openIMIS refuses the user (no
 * loop of logins: the server locks users out), IL_ERR_CANCELLED on stop.
 */
il_err il_worker_prepare(il_worker *w, char *errbuf, size_t errsz);
/**
 * @brief Consumes until a stop is requested (il_sig), then finishes in-flight
 * work within enroll.shutdown.timeout.ms and commits what is done.
 * @returns IL_OK, or IL_ERR_FATAL / IL_ERR_CONFIG with the reason when the
 * worker had to stop (Kafka fatal error, credentials refused).
 */
il_err il_worker_run(il_worker *w, char *errbuf, size_t errsz);
/** The /healthz callback: "openimis" up/down, in-flight counts. */
il_health il_worker_health(il_buf *out, void *ctx);

#endif
