/*
 * lag.h - consumer lag, as `kafka-consumer-groups --describe` prints it and
 * kafka-lag-exporter exports it, judged by Burrow's rules (burrow.h).
 *
 * One il_lag watches the consumer groups of one cluster.  Each
 * il_lag_evaluate() round:
 *  1. finds the groups: the names in lag.groups, else every group the broker
 *     lists (ListGroups), and their members (DescribeGroups) where the
 *     broker answers;
 *  2. reads each group's committed offsets (OffsetFetch, as
 *     kafka-consumer-groups does) and every partition's log end offset (one
 *     batched ListOffsets "latest" per broker), kept with the time it was
 *     read in a ring of the last lag.window.size readings per partition;
 *  3. feeds each partition's window with the commits made since the last
 *     round: on a real broker the commit records of __consumer_offsets,
 *     read as Burrow does (every commit, with its commit time, also one that
 *     repeats the same offset: that is what tells STALL from STOP); where
 *     that topic cannot be read (librdkafka's mock cluster) a change of the
 *     committed offset seen by a round counts as one commit at that time.
 *     A commit's lag is measured against the log end read at or before its
 *     time (il_burrow_commit_lag()), not against this round's;
 *  4. measures the lag in seconds: the age of the oldest unconsumed message
 *     (now minus the timestamp of the message at the committed offset, read
 *     once per committed offset and cached), 0 without lag;
 *  5. computes every partition's and group's status, STOP guarded by the
 *     ring of log end readings (il_burrow_recent_lag_zero()).
 * The figures are a snapshot the caller reads until the next round.
 */
#ifndef IL_LAG_H
#define IL_LAG_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "buf.h"
#include "burrow.h"
#include "conf.h"
#include "err.h"

typedef struct il_lag il_lag;

/** One partition of one group in a snapshot; strings owned by the il_lag. */
typedef struct il_lag_partition {
	const char *group;
	const char *topic;
	int32_t partition;
	int64_t committed;      /* -1: no committed offset ("-" in kafka-consumer-groups) */
	int64_t log_end;        /* the log end offset (high watermark) */
	int64_t lag;            /* log_end - committed; -1 when nothing is committed */
	double lag_seconds;     /* age of the oldest unconsumed message; 0 without lag; -1 unknown */
	const char *consumer_id;/* the member that owns it, "" when none */
	const char *host;       /* that member's host, "" when none */
	const char *client_id;  /* that member's client.id, "" when none */
	il_burrow_status status;
	size_t window;          /* commits in the window */
	bool complete;          /* the window is full */
	long long last_commit_ms; /* time of the last commit seen; -1 none */
	/* Burrow's start and end (appended: older code never reads them). */
	il_burrow_commit start; /* the oldest commit of the window; offset -1 when empty */
	il_burrow_commit end;   /* the newest (ts_ms is last_commit_ms); offset -1 when empty */
} il_lag_partition;

/** One group in a snapshot; its partitions are parts[first .. first + nparts). */
typedef struct il_lag_group {
	const char *group;
	const char *state;      /* the broker's group state (Stable, Empty, ...); "" unknown */
	il_burrow_status status;/* NOTFOUND: the broker says it does not exist (Dead, no offsets) */
	int64_t sum_lag;        /* over partitions with a committed offset */
	int64_t max_lag;
	double max_lag_seconds;
	size_t first;
	size_t nparts;
} il_lag_group;

/** The figures of the last round, groups by name, partitions by topic and number. */
typedef struct il_lag_snapshot {
	const il_lag_group *groups;
	size_t ngroups;
	const il_lag_partition *parts;
	size_t nparts;
	long long taken_ms;     /* when the round ended */
	double eval_seconds;    /* how long the round took */
} il_lag_snapshot;

/**
 * @brief Makes a monitor from @p conf: kafka.bootstrap.servers and -X
 * (librdkafka), lag.groups, lag.window.size, lag.cluster.name.
 * @returns NULL with the reason in @p errbuf.
 */
il_lag *il_lag_new(const il_conf *conf, char *errbuf, size_t errsz);
/** Frees @p l; NULL is a no-op. */
void il_lag_destroy(il_lag *l);
/**
 * @brief Runs one round (see the top of this file), each broker request
 * bounded by @p timeout_ms.
 * @returns IL_OK, or IL_ERR_TRANSIENT when the cluster could not be read
 * (the previous snapshot stays); a group that alone fails is logged and
 * keeps its previous figures.
 */
il_err il_lag_evaluate(il_lag *l, int timeout_ms, char *errbuf, size_t errsz);
/**
 * @returns the last round's figures, valid until the next il_lag_evaluate()
 * or il_lag_destroy().  (Not named il_lag_snapshot(): C keeps typedef and
 * function names in one name space, so that name is the struct's.)
 */
const il_lag_snapshot *il_lag_get_snapshot(const il_lag *l);
/**
 * @brief Appends the snapshot as Prometheus text under kafka-lag-exporter's
 * names, labelled cluster_name, group, topic, partition:
 * kafka_consumergroup_group_lag, kafka_consumergroup_group_lag_seconds,
 * kafka_consumergroup_group_offset, kafka_partition_latest_offset,
 * kafka_consumergroup_group_max_lag, kafka_consumergroup_group_max_lag_seconds,
 * kafka_consumergroup_group_sum_lag, plus imislink_lag_partition_status and
 * imislink_lag_group_status (the Burrow status as a number, with a status
 * label) and imislink_lag_eval_seconds.  Series of groups and partitions that
 * went away are simply no longer written.
 */
il_err il_lag_render_metrics(const il_lag *l, il_buf *out);

#endif
