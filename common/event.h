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
 * @p kind ("FILE" or "PUSH") and position @p position.
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
