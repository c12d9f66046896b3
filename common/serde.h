/*
 * serde.h - wire-format encode and decode with schema ids from a registry.
 *
 * Online: ids come from a Confluent-compatible Schema Registry over HTTP
 * (POST /subjects/<subject>/versions to register, GET /schemas/ids/<id> to
 * resolve), cached for the life of the process: a schema id never changes
 * meaning, so the cache needs no expiry.  An id the registry does not know is
 * remembered as such for a minute (at most 1024 ids), so a flood of messages
 * with garbage ids costs one request per id per minute.  Offline (an empty
 * schema.registry.url, for the embedded demo): ids are the fixed ones listed in
 * schemas/offline-ids.properties and only local schemas decode.
 *
 * What a caller does with the result classes of the functions below:
 *  - IL_ERR_DECODE_* (decode only): the message itself is bad; dead-letter it.
 *  - IL_ERR_TRANSIENT: the registry is unreachable, overloaded or answered
 *    something unusable; retry later (pause the partition), never dead-letter.
 *  - IL_ERR_CONFIG: the registry refused our credentials (HTTP 401/403), or
 *    schema.registry.url does not point at a registry; no retry and no
 *    message fixes that: stop with the message, which names what to check.
 *  - IL_ERR_PERMANENT (registration only): the registry refused the schema.
 *
 * Not thread-safe: one il_serde per thread.
 */
#ifndef IL_SERDE_H
#define IL_SERDE_H

#include <stddef.h>
#include <stdint.h>

#include <cjson/cJSON.h>

#include "avro.h"
#include "buf.h"
#include "conf.h"
#include "err.h"

typedef struct il_serde il_serde;

/**
 * @brief Makes a serde over @p schemas (borrowed; must outlive it), online
 * when schema.registry.url is set, with the size cap avro.max.message.bytes.
 * @returns NULL with the reason in @p errbuf.
 */
il_serde *il_serde_new(const il_conf *conf, const il_schema_set *schemas,
    char *errbuf, size_t errsz);
/** Frees @p sd and its cache; NULL is a no-op. */
void il_serde_destroy(il_serde *sd);

/**
 * @brief Finds (registering when needed) the id of @p s under @p subject.
 * @returns IL_ERR_TRANSIENT when the registry cannot be reached or answers
 * 408, 429 or 5xx, IL_ERR_CONFIG when it refuses the credentials (401, 403),
 * IL_ERR_PERMANENT when it refuses the schema (409: incompatible, 422:
 * invalid, or any other answer) or when offline ids have none for it.
 */
il_err il_serde_schema_id(il_serde *sd, const char *subject, const il_schema *s,
    int32_t *id, char *errbuf, size_t errsz);
/**
 * @brief Resolves @p id to a schema (local first, then the registry); the
 * schema is owned by @p sd.
 * @returns IL_ERR_DECODE_SCHEMA when the registry does not know the id or
 * holds no usable Avro schema for it (remembered for a minute),
 * IL_ERR_TRANSIENT or IL_ERR_CONFIG as the header comment says.
 */
il_err il_serde_schema_by_id(il_serde *sd, int32_t id, const il_schema **s,
    char *errbuf, size_t errsz);

/**
 * @brief Encodes @p json with @p s as a wire-format message appended to @p out,
 * under the subject "<topic>-value".
 */
il_err il_serde_encode(il_serde *sd, const char *topic, const il_schema *s,
    const cJSON *json, il_buf *out, char *errbuf, size_t errsz);
/**
 * @brief Decodes a wire-format message to its JSON form (caller frees with
 * cJSON_Delete); @p writer (optional) receives the schema it was written with.
 * @returns IL_OK; one of the IL_ERR_DECODE_* details with a precise reason
 * when the message is bad (dead-letter it); IL_ERR_TRANSIENT when the
 * registry cannot tell now (retry later); IL_ERR_CONFIG when it refuses our
 * credentials (stop).  Nothing else.
 */
il_err il_serde_decode(il_serde *sd, const void *msg, size_t len, cJSON **json,
    const il_schema **writer, char *errbuf, size_t errsz);

#endif
