/*
 * dlworker.h - the dead-letter worker's engine: the dead-letter and results
 * topics in, rows of the audit store out, offsets committed behind them.
 *
 * One thread polls, batches and writes.  Guarantees and how they are kept:
 *  - effectively once: a batch (deadletter.batch.size messages, or what came
 *    within deadletter.batch.ms) is written in one transaction whose rows
 *    are unique per (topic, partition, offset), and offsets are committed
 *    only after it committed; a message read twice is skipped by the store;
 *  - nothing lost: a store that fails (down, restarting) keeps the batch;
 *    fetching pauses (polling goes on for rebalances), the write is retried
 *    with backoff over a new connection, /healthz says degraded, and fetching
 *    resumes after the first write that succeeds;
 *  - nothing refused: a message that does not decode is stored as a dead
 *    letter of class "undecodable" with its bytes (record.h);
 *  - bad input never blocks a partition: when PostgreSQL refuses a batch,
 *    its messages are written again one at a time, and one whose row is
 *    refused is stored as a dead letter of class "undecodable" with its
 *    bytes and PostgreSQL's reason; only a refusal of that dead letter too
 *    (a bug) stops the worker.
 */
#ifndef IL_DLWORKER_H
#define IL_DLWORKER_H

#include "avro.h"
#include "buf.h"
#include "conf.h"
#include "err.h"
#include "http.h"
#include "metrics.h"

typedef struct il_dlworker il_dlworker;

/** What the worker is given; everything borrowed and must outlive it. */
typedef struct il_dlworker_env {
	const il_conf *conf;
	il_metrics *metrics;
	const il_schema_set *schemas;
	void (*reload)(void *ctx);      /* runs on SIGHUP, on the worker's thread; may be NULL */
	void *reload_ctx;
} il_dlworker_env;

/**
 * @brief Checks the configuration and makes the consumer and the serde;
 * nothing connects yet.
 * @returns NULL with the reason in @p errbuf, naming the key when the
 * configuration is wrong ("audit.db.url: invalid connection string ...",
 * never the value: it may hold a password).
 */
il_dlworker *il_dlworker_new(const il_dlworker_env *env, char *errbuf, size_t errsz);
/** Frees @p w (leaving the group first); NULL is a no-op. */
void il_dlworker_destroy(il_dlworker *w);
/**
 * @brief Connects to the audit store and applies its migrations
 * (audit.migrations.dir), retrying with backoff, and logging, while the
 * store cannot be reached or refuses the connection.
 * @returns IL_OK; IL_ERR_CANCELLED on stop; IL_ERR_CONFIG, IL_ERR_IO or
 * IL_ERR_INVALID with the reason when a retry cannot help (malformed
 * migrations, a store newer than this program, a migration PostgreSQL
 * refuses).
 */
il_err il_dlworker_prepare(il_dlworker *w, char *errbuf, size_t errsz);
/**
 * @brief Consumes until a stop is requested (il_sig), then writes and
 * commits what it holds.
 * @returns IL_OK, or IL_ERR_FATAL / IL_ERR_CONFIG / IL_ERR_INVALID with the
 * reason when it had to stop (Kafka fatal error, registry credentials
 * refused, PostgreSQL refusing a message even as a dead letter).
 */
il_err il_dlworker_run(il_dlworker *w, char *errbuf, size_t errsz);
/** The /healthz callback: "audit_store" up/down, the batch held, whether fetching is paused. */
il_health il_dlworker_health(il_buf *out, void *ctx);

#endif
