/*
 * kafka.h - the producer and consumer every imislink program uses.
 *
 * Thin on purpose: librdkafka's own types (rd_kafka_message_t, partition
 * lists) pass through, so its documentation applies.  What this module adds is
 * the configuration (il_conf plus -X pass-through), the durability rules of
 * the design, and the error classes of librdkafka's examples:
 *  - producer: idempotent (acks=all, ordered retries); a message counts as
 *    published only when its delivery report says so; QUEUE_FULL is absorbed
 *    by polling and retrying within a bound;
 *  - consumer: manual offset commits only (enable.auto.commit=false and
 *    enable.auto.offset.store=false), rd_kafka_consumer_poll() with
 *    pause/resume (the batch API mishandles offsets around pause in 2.0.2),
 *    rebalance callbacks that let the caller commit finished work before
 *    partitions are taken away.
 * -X may tune anything else, but a property that would weaken these rules
 * (enable.idempotence and acks of a producer, enable.auto.commit and
 * enable.auto.offset.store of a consumer) is refused when the client is made.
 *
 * librdkafka's own log lines (log.queue=true) are written by the thread that
 * polls, in il_producer_poll() and friends or il_consumer_poll(), never from
 * librdkafka's broker threads, so a slow log cannot stall a broker
 * connection.  A client must therefore be polled regularly, as it must be
 * anyway for delivery reports and rebalances.
 */
#ifndef IL_KAFKA_H
#define IL_KAFKA_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include <librdkafka/rdkafka.h>

#include "conf.h"
#include "err.h"

typedef struct il_producer il_producer;
typedef struct il_consumer il_consumer;

/** One message header; the value is raw bytes (UTF-8 text for Connect's headers). */
typedef struct il_kafka_header {
	const char *name;       /* header name */
	const void *value;      /* header value, may be NULL */
	size_t len;             /* bytes in value */
} il_kafka_header;

/**
 * Delivery report for one message: @p err is IL_OK once the broker has it
 * durably (acks=all); else a reason in @p errstr (IL_ERR_FATAL after a fatal
 * error, IL_ERR_INVALID for an unknown topic or an oversized message,
 * IL_ERR_TRANSIENT otherwise, e.g. message.timeout.ms ran out).
 * @p msg_opaque is what the caller passed to il_producer_send().  Runs inside
 * il_producer_poll(), il_producer_flush(), il_producer_destroy() or an
 * il_producer_send() that waits on a full queue, on the caller's thread.
 */
typedef void (il_delivery_cb)(void *msg_opaque, il_err err, const char *errstr,
    const char *topic, int32_t partition, int64_t offset, void *cb_ctx);

/**
 * @brief Makes an idempotent producer from @p conf (bootstrap servers and -X
 * properties).
 * @returns NULL with a message naming the offending property in @p errbuf:
 * one librdkafka refuses, or enable.idempotence other than true or acks other
 * than all ("option -X: acks=1: refused: imislink's delivery guarantee needs
 * acks=all (idempotent producer)").
 */
il_producer *il_producer_new(const il_conf *conf, il_delivery_cb *cb, void *cb_ctx,
    char *errbuf, size_t errsz);

/* Properties il_producer_new_tuned() takes at most. */
#define IL_PRODUCER_TUNING_MAX 4

/**
 * @brief il_producer_new() with librdkafka defaults of the caller's own:
 * @p tuning holds key, value, ..., NULL (at most IL_PRODUCER_TUNING_MAX
 * pairs), set before the operator's -X/rdkafka.* properties, which override
 * them (a daemon trading latency for throughput: linger.ms).
 */
il_producer *il_producer_new_tuned(const il_conf *conf, const char *const *tuning, il_delivery_cb *cb,
    void *cb_ctx, char *errbuf, size_t errsz);
/**
 * Queues one message; key, value and headers are copied.  @p partition
 * RD_KAFKA_PARTITION_UA lets the partitioner choose by key.  Waits (polling)
 * while the local queue is full, for at most @p block_ms.
 * @returns IL_OK when queued (delivery is told later), IL_ERR_TIMEOUT when the
 * queue stayed full, IL_ERR_FATAL when the producer can no longer produce,
 * IL_ERR_INVALID for an unknown topic or an oversized message,
 * IL_ERR_TRANSIENT for any other refusal (logged with librdkafka's reason).
 */
il_err il_producer_send(il_producer *p, const char *topic, int32_t partition,
    const void *key, size_t keylen, const void *value, size_t vallen,
    const il_kafka_header *hdrs, size_t nhdrs, void *msg_opaque, int block_ms);
/** Serves delivery reports and events for up to @p timeout_ms; @returns how many were served. */
int il_producer_poll(il_producer *p, int timeout_ms);
/** Waits for every queued message to be reported; @returns IL_ERR_TIMEOUT when some remain. */
il_err il_producer_flush(il_producer *p, int timeout_ms);
/** @returns the number of messages queued or in flight. */
int il_producer_outq_len(il_producer *p);
/** @returns IL_ERR_FATAL with the reason in @p errbuf once the producer hit a fatal error. */
il_err il_producer_fatal(il_producer *p, char *errbuf, size_t errsz);
/** @returns the underlying handle (for metadata queries); still owned by @p p. */
rd_kafka_t *il_producer_handle(il_producer *p);
/**
 * Flushes for at most 10 s and frees @p p; NULL is a no-op.  Delivery
 * reports still arrive during the call (so the callback's context must be
 * alive); messages left after the flush are purged and reported as failed.
 */
void il_producer_destroy(il_producer *p);

/**
 * Called on a rebalance.  On revocation it runs before the partitions are
 * given up, so the caller can finish or commit work for them; on assignment
 * it runs after they were assigned.
 */
typedef void (il_rebalance_cb)(il_consumer *c, bool assigned,
    const rd_kafka_topic_partition_list_t *parts, void *ctx);

/**
 * @brief Makes a consumer in group @p group_id (NULL: no group, manual
 * assignment only) with manual commits.
 * @returns NULL with the reason in @p errbuf, e.g. a property librdkafka
 * refuses, or enable.auto.commit or enable.auto.offset.store other than false.
 */
il_consumer *il_consumer_new(const il_conf *conf, const char *group_id,
    il_rebalance_cb *cb, void *cb_ctx, char *errbuf, size_t errsz);
/** Joins the group for @p topics. */
il_err il_consumer_subscribe(il_consumer *c, const char *const *topics, size_t ntopics,
    char *errbuf, size_t errsz);
/**
 * Reads without a group: every partition of @p topic from @p offset, or the
 * first offset at or after @p ts_ms when @p ts_ms >= 0 (offset then ignored).
 * @p offset may be RD_KAFKA_OFFSET_BEGINNING or RD_KAFKA_OFFSET_END.
 */
il_err il_consumer_assign_all(il_consumer *c, const char *topic, int64_t offset,
    int64_t ts_ms, char *errbuf, size_t errsz);
/**
 * Waits up to @p timeout_ms for one message.
 * @returns a message the caller destroys with rd_kafka_message_destroy(), or
 * NULL on timeout.  Errors come back as messages with ->err set: EOF and
 * transient errors are for the caller to log and go on; a fatal one is also
 * reported by il_consumer_fatal().
 */
rd_kafka_message_t *il_consumer_poll(il_consumer *c, int timeout_ms);
/**
 * Commits @p next_offset (the offset after the last handled message) for one
 * partition; @p async returns at once and a failure is only logged.
 * @returns IL_ERR_INVALID for a consumer without a group, IL_ERR_TRANSIENT
 * when the group refused or could not be reached (e.g. a rebalance took the
 * partition), IL_ERR_FATAL after a fatal error; the reason in @p errbuf.
 */
il_err il_consumer_commit(il_consumer *c, const char *topic, int32_t partition,
    int64_t next_offset, bool async, char *errbuf, size_t errsz);
/**
 * Stops or restarts fetching of one partition; in-flight work is the caller's.
 * Pausing a paused partition or resuming a running one does nothing (librdkafka
 * 2.0.2 would fetch again from an old offset).  A partition that leaves the
 * assignment (revocation, il_consumer_assign_all()) is no longer paused: when
 * it comes back it starts from its committed offset, running; pause it again
 * from the assignment callback if needed.  Call from the polling thread.
 * When librdkafka refuses the change, the partition stays as it was (a
 * failed resume leaves it paused, and the next resume tries again).
 * @returns IL_ERR_NOTFOUND when the partition is not assigned, IL_ERR_INVALID
 * when librdkafka refuses for another reason.
 */
il_err il_consumer_pause(il_consumer *c, const char *topic, int32_t partition);
il_err il_consumer_resume(il_consumer *c, const char *topic, int32_t partition);
/** @returns IL_ERR_FATAL with the reason once the consumer hit a fatal error. */
il_err il_consumer_fatal(il_consumer *c, char *errbuf, size_t errsz);
/** @returns the underlying handle; still owned by @p c. */
rd_kafka_t *il_consumer_handle(il_consumer *c);
/** Leaves the group (revocation callback runs), closes and frees @p c; NULL is a no-op. */
void il_consumer_destroy(il_consumer *c);

#endif
