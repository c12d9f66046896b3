/*
 * burrow.h - Burrow's rules for the health of a consumer group
 * (contracts/kafka.md), without I/O: a sliding window of the last N commits
 * of each partition, a ring of the last N readings of its log end offset,
 * a status per partition, and the group's status.
 *
 * Rules, as Burrow 1.3+ evaluates a partition whose current lag is not zero
 * (a partition with no lag now is OK):
 *   STOP   no commit for longer than the window spans (now minus the last
 *          commit's time is greater than the last minus the first), unless
 *          the lag was zero recently: a reading of the log end offset in
 *          the ring is at or below the last commit's offset (Burrow's
 *          checkIfRecentLagZero: a consumer that commits only on progress
 *          and sat idle, caught up, is not stopped when traffic resumes);
 *   OK     the lag was zero at some commit of the window;
 *   REWIND the committed offset went backwards inside the window;
 *   STALL  commits keep coming but the offset does not move;
 *   WARN   the offset moves but the lag never shrinks;
 *   OK     otherwise.
 * The lag of a commit is the latest log end reading at or before the
 * commit's time minus its offset, at least 0, from the oldest reading when
 * none is that old (il_burrow_commit_lag()): what Burrow, which reads
 * commits as they happen, gets from its latest broker offset.
 * The group's status is the worst of its partitions, where STOP, STALL and
 * REWIND make the group ERR, as in Burrow.
 */
#ifndef IL_BURROW_H
#define IL_BURROW_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

/* Burrow's order: a greater value is worse. */
typedef enum il_burrow_status {
	IL_BURROW_NOTFOUND = 0,
	IL_BURROW_OK = 1,
	IL_BURROW_WARN = 2,
	IL_BURROW_ERR = 3,
	IL_BURROW_STOP = 4,
	IL_BURROW_STALL = 5,
	IL_BURROW_REWIND = 6,
} il_burrow_status;

/** One commit of one partition. */
typedef struct il_burrow_commit {
	int64_t offset;         /* the committed offset */
	int64_t lag;            /* log end when committed minus offset, >= 0 */
	long long ts_ms;        /* when it was committed */
} il_burrow_commit;

/** The last @c size commits of a partition, oldest first; a ring. */
typedef struct il_burrow_window {
	il_burrow_commit *c;    /* size entries */
	size_t size;            /* capacity: lag.window.size */
	size_t n;               /* entries held */
	size_t head;            /* index of the oldest */
} il_burrow_window;

/** Makes @p w empty with room for @p size commits (aborts on no memory, like il_xmalloc). */
void il_burrow_window_init(il_burrow_window *w, size_t size);
/** Frees @p w's storage; the struct itself is the caller's. */
void il_burrow_window_free(il_burrow_window *w);
/** Adds a commit, dropping the oldest when full. */
void il_burrow_window_push(il_burrow_window *w, int64_t offset, int64_t lag, long long ts_ms);
/** @returns the i-th commit, 0 the oldest; i < w->n. */
const il_burrow_commit *il_burrow_window_at(const il_burrow_window *w, size_t i);
/** @returns true when the window holds size commits (Burrow's "complete"). */
bool il_burrow_window_complete(const il_burrow_window *w);

/** One reading of a partition's log end offset. */
typedef struct il_burrow_end {
	int64_t offset;         /* the log end offset read */
	long long ts_ms;        /* when it was read (wall clock, as commit times) */
} il_burrow_end;

/** The last @c size log end readings of a partition, oldest first; a ring. */
typedef struct il_burrow_ends {
	il_burrow_end *e;       /* size entries */
	size_t size;            /* capacity: lag.window.size */
	size_t n;               /* entries held */
	size_t head;            /* index of the oldest */
} il_burrow_ends;

/** Makes @p r empty with room for @p size readings, at least 1 (aborts on no memory). */
void il_burrow_ends_init(il_burrow_ends *r, size_t size);
/** Frees @p r's storage; the struct itself is the caller's. */
void il_burrow_ends_free(il_burrow_ends *r);
/** Adds a reading, dropping the oldest when full; readings come in time order. */
void il_burrow_ends_push(il_burrow_ends *r, int64_t offset, long long ts_ms);
/** @returns the i-th reading, 0 the oldest; i < r->n. */
const il_burrow_end *il_burrow_ends_at(const il_burrow_ends *r, size_t i);
/**
 * @brief The lag of a commit of @p offset made at @p ts_ms: the latest
 * reading at or before @p ts_ms (the oldest when none is that old) minus
 * @p offset, 0 when the reading is at or below it.
 * @returns that lag, or -1 when @p r holds no reading.
 */
int64_t il_burrow_commit_lag(const il_burrow_ends *r, int64_t offset, long long ts_ms);
/**
 * @brief Burrow's checkIfRecentLagZero: some reading of @p r is at or
 * below the offset of the last commit of @p w.
 * @returns false when either is empty.
 */
bool il_burrow_recent_lag_zero(const il_burrow_window *w, const il_burrow_ends *r);

/**
 * @brief The partition's status (rules at the top of this file) given its
 * lag now, whether its lag was zero recently (il_burrow_recent_lag_zero())
 * and the time now.
 * @returns the status; an empty window is OK.
 */
il_burrow_status il_burrow_partition_status(const il_burrow_window *w, int64_t current_lag,
    bool recent_lag_zero, long long now_ms);
/** @returns the group's status from its partitions' (OK for none). */
il_burrow_status il_burrow_group_status(const il_burrow_status *parts, size_t n);
/** @returns "NOTFOUND", "OK", "WARN", "ERR", "STOP", "STALL" or "REWIND". */
const char *il_burrow_status_name(il_burrow_status s);

#endif
