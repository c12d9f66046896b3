/*
 * event.h - building EligibilityEvents in their JSON form.
 *
 * The pieces every producer shares: the deterministic event id, the Kafka key
 * rule of the design, and the mapping of the openSPP enrollment body (the seed
 * document's individual: name, ids, phone_numbers, given_name, ...) to an
 * event of type REGISTRANT_SUBMITTED.
 */
#ifndef IL_EVENT_H
#define IL_EVENT_H

#include <stdbool.h>
#include <stddef.h>

#include <cjson/cJSON.h>

#include "err.h"

/** What the event-building functions need to know about the deployment. */
typedef struct il_event_ctx {
	const char *instance;      /* source instance, e.g. "openspp-prod" */
	const char *key_id_type;   /* the g2p_id_type whose value keys events, e.g. "National ID" */
} il_event_ctx;

/**
 * Computes the event id: lower-case hex SHA-256 over the NUL-separated
 * @p system, @p instance, @p kind, @p position, @p table and @p pk (NULLs as
 * empty), so the same source position always gives the same id.
 * @p out receives 64 hex digits and a NUL.
 */
void il_event_id(const char *system, const char *instance, const char *kind,
    const char *position, const char *table, const char *pk, char out[65]);

/**
 * @brief Computes the id of an event from its own source record (the
 * "source" object of its JSON form) with il_event_id(): every producer
 * derives an id this way, so anyone can recompute it from the event.  An
 * absent, null or non-string member counts as empty; a @p source that is not
 * an object counts as all empty.
 */
void il_event_id_of_source(const cJSON *source, char out[65]);

/**
 * @brief Checks the form the schema promises for an event id: exactly 64
 * lower-case hex digits.
 * @returns false for anything else, NULL included.
 */
bool il_event_id_valid(const char *id);

/**
 * @brief Makes the source position of line @p line of a file read under
 * @p prefix (usually the file's base name):
 * "<prefix>:<line>:<first 16 hex digits of SHA-256 of the line>", over the
 * @p len bytes of the line without its line end.  The same file read twice
 * gives the same positions; a changed line, or the same line number in
 * another file of the same name, gives a different one.
 * @returns a new string the caller frees.
 */
char *il_event_file_position(const char *prefix, unsigned long long line, const void *data, size_t len);

/**
 * @brief Computes the Kafka key of an event in JSON form: the household's
 * external id of type ctx->key_id_type when there is a household, else the
 * registrant's; failing that, "<instance>:res_partner:<source_id>" of the
 * household or registrant.
 * @returns a new string the caller frees, or NULL with the reason in
 * @p errbuf when the event carries no stable identity at all.
 */
char *il_event_key(const il_event_ctx *ctx, const cJSON *event, char *errbuf, size_t errsz);

/**
 * @brief Maps an openSPP individual body (the seed's enrollment body) to an
 * EligibilityEvent JSON form of type REGISTRANT_SUBMITTED with source kind
 * @p kind ("FILE" or "PUSH") and position @p position.  The source's primary
 * key is the body's res_partner "id" (null without one), and the event id is
 * il_event_id_of_source() of that source: never derived from an external id
 * such as a national ID, which the id would otherwise leak to anyone who can
 * guess candidates.
 * Every field is checked; all problems are reported at once, one per line
 * ("birthdate: expected YYYY-MM-DD, got \"12/01/1980\"").
 * @returns a new cJSON tree the caller frees, or NULL with the reasons in @p errbuf.
 */
cJSON *il_event_from_openspp(const il_event_ctx *ctx, const cJSON *body, const char *kind,
    const char *position, char *errbuf, size_t errsz);

/**
 * @returns milliseconds since the epoch, UTC (timefmt.h formats and parses
 * them as text).
 */
long long il_event_now_ms(void);

#endif
