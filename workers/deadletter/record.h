/*
 * record.h - one message of the dead-letter topic or of the results topic
 * as a row of the audit store (common/audit.h).
 *
 * Nothing is refused: a dead letter whose value does not decode, or that
 * carries no dead-letter headers, is stored as it came, with its bytes and
 * the reason; so is a results message that is no EnrollmentResult, as a dead
 * letter of class "undecodable"; so is a result the store would refuse
 * (a processed_at past the year 9999).  Only a registry that cannot answer
 * now delays a conversion (the caller tries again later).
 */
#ifndef IL_DLRECORD_H
#define IL_DLRECORD_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include <cjson/cJSON.h>
#include <librdkafka/rdkafka.h>

#include "audit.h"
#include "err.h"
#include "serde.h"

/* Strings a record may own (copies of headers, texts, JSON). */
#define IL_DLRECORD_MAX_OWNED 24

/** A Kafka message as the conversion reads it; everything borrowed. */
typedef struct il_dlrecord_msg {
	const char *topic;
	int32_t partition;
	int64_t offset;
	long long timestamp_ms;         /* -1 unknown */
	const void *key;                /* NULL for a null key */
	size_t keylen;
	const void *value;              /* NULL for a null value */
	size_t vallen;
	const rd_kafka_headers_t *headers;      /* NULL when none */
} il_dlrecord_msg;

typedef enum il_dlrecord_kind {
	IL_DLRECORD_DEAD_LETTER = 0,    /* a row of dead_letters: the dl member */
	IL_DLRECORD_RESULT = 1,         /* a row of results: the res member */
} il_dlrecord_kind;

/** A converted message; the row's strings live inside the record. */
typedef struct il_dlrecord {
	il_dlrecord_kind kind;
	il_audit_dead_letter dl;        /* kind IL_DLRECORD_DEAD_LETTER */
	il_audit_result res;            /* kind IL_DLRECORD_RESULT */
	bool undecodable;               /* the value did not decode */
	/* private: what the row borrows from */
	void *key;                      /* copy of the key bytes */
	void *value;                    /* copy of the value bytes */
	cJSON *json;                    /* the decoded value */
	char *owned[IL_DLRECORD_MAX_OWNED];
	size_t nowned;
} il_dlrecord;

/**
 * @brief Fills @p out from a consumed message (its headers included); @p out
 * then borrows from @p msg.
 */
void il_dlrecord_msg_of(const rd_kafka_message_t *msg, il_dlrecord_msg *out);

/**
 * @brief Converts @p msg, read from the dead-letter topic (@p is_result
 * false) or from the results topic (true), decoding its value with @p sd.
 * The record copies what it needs: @p msg may go once this returns.
 * @returns IL_OK (an undecodable message included: see the top of this
 * file); IL_ERR_TRANSIENT when the schema registry cannot tell now, or
 * IL_ERR_CONFIG when it refuses our credentials, with the reason in
 * @p errbuf and @p rec left empty.
 */
il_err il_dlrecord_convert(il_dlrecord *rec, const il_dlrecord_msg *msg, bool is_result,
    il_serde *sd, char *errbuf, size_t errsz);

/**
 * @brief Makes @p rec the row of a message whose own row the audit store
 * refused: a dead letter of class "undecodable", stage "TASK_PUT", with the
 * message's bytes and headers (and, for a message of the dead-letter topic,
 * what its headers say of the source), nothing decoded, and "the audit
 * store refused the row: @p reason" as its error message.  @p is_result as
 * for il_dlrecord_convert().  Never fails; @p msg may go once this returns.
 */
void il_dlrecord_refused(il_dlrecord *rec, const il_dlrecord_msg *msg, bool is_result, const char *reason);

/** Frees what @p rec owns and empties it; an empty (zeroed) record is a no-op. */
void il_dlrecord_clear(il_dlrecord *rec);

#endif
