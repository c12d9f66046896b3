/*
 * commitlog.h - the records of Kafka's internal topic __consumer_offsets,
 * where a group coordinator writes every offset commit (the stream Burrow
 * reads to see each commit with its time).
 *
 * Bytes from the broker, so untrusted: every length is checked before use
 * and nothing is allocated; the strings of a decoded commit point into the
 * caller's key and value bytes.
 *
 * Layouts (Kafka's OffsetCommitKey and OffsetCommitValue, big-endian):
 *   key   int16 version (0 or 1 = an offset commit; 2 = group metadata),
 *         string group, string topic, int32 partition
 *   value int16 version, then
 *         v0: int64 offset, string metadata, int64 commit_timestamp
 *         v1: as v0, then int64 expire_timestamp
 *         v2: as v0
 *         v3: int64 offset, int32 leader_epoch, string metadata,
 *             int64 commit_timestamp
 *         v4: as v3 in the flexible encoding (compact string, tagged fields)
 *   where string = int16 length and bytes; a null value is a tombstone (the
 *   commit was deleted or expired).
 */
#ifndef IL_COMMITLOG_H
#define IL_COMMITLOG_H

#include <stddef.h>
#include <stdint.h>

#include "err.h"

/* The internal topic's name. */
#define IL_COMMITLOG_TOPIC "__consumer_offsets"

/** What a record of __consumer_offsets is. */
typedef enum il_commitlog_kind {
	IL_COMMITLOG_OTHER = 0,         /* not an offset commit (group metadata, newer kinds) */
	IL_COMMITLOG_COMMIT = 1,        /* an offset commit: every field below is set */
	IL_COMMITLOG_TOMBSTONE = 2,     /* a commit's key without value: only the key's fields */
} il_commitlog_kind;

/** One decoded record; strings point into the record's bytes, not NUL-terminated. */
typedef struct il_commitlog_commit {
	il_commitlog_kind kind;         /* what the record is */
	int key_version;                /* the key's schema version */
	int value_version;              /* the value's schema version; -1 for a tombstone */
	const char *group;              /* the consumer group */
	size_t group_len;               /* bytes in group */
	const char *topic;              /* the committed topic */
	size_t topic_len;               /* bytes in topic */
	int32_t partition;              /* the committed partition */
	int64_t offset;                 /* the committed offset: the next one to read */
	int32_t leader_epoch;           /* value v3+; -1 when not recorded */
	const char *metadata;           /* the committer's metadata string ("" when none) */
	size_t metadata_len;            /* bytes in metadata */
	int64_t commit_ts_ms;           /* when the commit was made, ms since the epoch */
	int64_t expire_ts_ms;           /* value v1 only; -1 otherwise */
} il_commitlog_commit;

/**
 * @brief Decodes one record of __consumer_offsets from its key and value
 * (@p value NULL: a tombstone).
 * @returns IL_OK with @p out filled (out->kind says what the record is;
 * for IL_COMMITLOG_OTHER only key_version is set), or IL_ERR_DECODE when the
 * bytes are malformed or of an offset commit value version this code does
 * not know, with the reason in @p errbuf.  @p out then holds nothing useful.
 */
il_err il_commitlog_decode(const void *key, size_t keylen, const void *value, size_t vallen,
    il_commitlog_commit *out, char *errbuf, size_t errsz);

#endif
