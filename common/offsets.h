/*
 * offsets.h - which offset of a partition may be committed while work on its
 * messages finishes out of order.
 *
 * A worker keeps many messages of one partition in flight and they finish in
 * any order; the committed offset must never pass a message whose outcome is
 * not durable.  Per partition the tracker keeps the offsets handed out, in
 * order, and which are done: the commit point is the lowest offset not done
 * (or the one after the last offset seen when all are).  Offsets of a
 * partition must be added in increasing order (as Kafka delivers them).
 */
#ifndef IL_OFFSETS_H
#define IL_OFFSETS_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

typedef struct il_offsets il_offsets;

/** @returns an empty tracker; free with il_offsets_destroy(). */
il_offsets *il_offsets_new(void);
/** Frees @p o; NULL is a no-op. */
void il_offsets_destroy(il_offsets *o);
/**
 * @brief Records that @p offset of @p topic / @p partition is now in work.
 * @returns false (and records nothing) when @p offset is not above the last one
 * added for that partition (a re-delivery the caller must drop).
 */
bool il_offsets_add(il_offsets *o, const char *topic, int32_t partition, int64_t offset);
/** Marks @p offset done; unknown offsets are ignored. */
void il_offsets_done(il_offsets *o, const char *topic, int32_t partition, int64_t offset);
/**
 * @returns the next offset to commit for the partition (lowest not done, or
 * the last added + 1), or -1 when nothing was added since the last forget.
 */
int64_t il_offsets_commit_point(const il_offsets *o, const char *topic, int32_t partition);
/** @returns the number of offsets added and not yet done in the partition. */
size_t il_offsets_pending(const il_offsets *o, const char *topic, int32_t partition);
/** @returns the number of offsets not done in all partitions. */
size_t il_offsets_pending_total(const il_offsets *o);
/** Forgets a partition (after revocation). */
void il_offsets_forget(il_offsets *o, const char *topic, int32_t partition);

/** Called for each partition the tracker knows. */
typedef void (il_offsets_cb)(const char *topic, int32_t partition, int64_t commit_point, void *ctx);
/** Visits every known partition with its commit point (-1 when none). */
void il_offsets_foreach(const il_offsets *o, il_offsets_cb *cb, void *ctx);

#endif
