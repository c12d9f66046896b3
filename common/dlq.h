/*
 * dlq.h - the headers of a dead letter, as Kafka Connect writes them
 * (contracts/kafka.md), so existing tooling and people who know Connect can
 * read imislink's dead-letter topic, plus what Connect lacks: the attempt
 * count, the first and last failure times, the error class and the event id.
 *
 * A dead letter keeps the original key and value bytes; only these headers
 * are added.  All values are UTF-8 text.
 */
#ifndef IL_DLQ_H
#define IL_DLQ_H

#include <stddef.h>
#include <stdint.h>

#include <librdkafka/rdkafka.h>

#include "err.h"
#include "kafka.h"

/* Connect's names */
#define IL_DLQ_H_TOPIC      "__connect.errors.topic"
#define IL_DLQ_H_PARTITION  "__connect.errors.partition"
#define IL_DLQ_H_OFFSET     "__connect.errors.offset"
#define IL_DLQ_H_CONNECTOR  "__connect.errors.connector.name"
#define IL_DLQ_H_TASK       "__connect.errors.task.id"
#define IL_DLQ_H_STAGE      "__connect.errors.stage"
#define IL_DLQ_H_CLASS      "__connect.errors.class.name"
#define IL_DLQ_H_EXC_CLASS  "__connect.errors.exception.class.name"
#define IL_DLQ_H_EXC_MSG    "__connect.errors.exception.message"
#define IL_DLQ_H_EXC_STACK  "__connect.errors.exception.stacktrace"
/* imislink's additions */
#define IL_DLQ_H_ERR_CLASS  "__imislink.errors.class"
#define IL_DLQ_H_ATTEMPTS   "__imislink.errors.attempts"
#define IL_DLQ_H_FIRST      "__imislink.errors.first.failure"
#define IL_DLQ_H_LAST       "__imislink.errors.last.failure"
#define IL_DLQ_H_EVENT_ID   "__imislink.event.id"

#define IL_DLQ_NHEADERS 15

/** Why one message is a dead letter; strings borrowed. */
typedef struct il_dlq_failure {
	const char *topic;       /* where the message was read */
	int32_t partition;
	int64_t offset;
	const char *connector;   /* the program, e.g. "imislink-enroll" */
	const char *task;        /* the worker id */
	const char *stage;       /* Connect's stage: "VALUE_CONVERTER" (undecodable), "TRANSFORMATION"
	                          * (mapping), "TASK_PUT" (openIMIS refused or never answered) */
	const char *error_class; /* undecodable, mapping, permanent, transient */
	const char *message;     /* the reason a person can act on; no personal data */
	int attempts;
	long long first_failure_ms; /* epoch milliseconds */
	long long last_failure_ms;
	const char *event_id;    /* NULL when the bytes did not decode */
} il_dlq_failure;

/** The headers of one dead letter; the text lives inside the struct. */
typedef struct il_dlq_headers {
	il_kafka_header h[IL_DLQ_NHEADERS];
	size_t n;
	char partition[16];
	char offset[24];
	char attempts[16];
	char first[32];
	char last[32];
	char exc_class[64];
} il_dlq_headers;

/** Fills @p out from @p f; @p out then borrows @p f's strings. */
void il_dlq_headers_fill(il_dlq_headers *out, const il_dlq_failure *f);

#endif
