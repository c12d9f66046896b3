/*
 * serde.h - wire-format encode and decode with schema ids from a registry.
 *
 * Online: ids come from a Confluent-compatible Schema Registry over HTTP
 * (POST /subjects/<subject>/versions to register, GET /schemas/ids/<id> to
 * resolve), cached for the life of the process: a schema id never changes
 * meaning, so the cache needs no expiry.  Offline (an empty
 * schema.registry.url, for the embedded demo): ids are the fixed ones listed in
 * schemas/offline-ids.properties and only local schemas decode.
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
 * @returns IL_ERR_TRANSIENT when the registry cannot be reached,
 * IL_ERR_PERMANENT when it refuses (409: incompatible).
 */
il_err il_serde_schema_id(il_serde *sd, const char *subject, const il_schema *s,
    int32_t *id, char *errbuf, size_t errsz);
/**
 * @brief Resolves @p id to a schema (local first, then the registry).
 * @returns IL_ERR_DECODE_SCHEMA when the id is unknown; the schema is owned by @p sd.
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
 * @returns one of the IL_ERR_DECODE_* details with a precise reason.
 */
il_err il_serde_decode(il_serde *sd, const void *msg, size_t len, cJSON **json,
    const il_schema **writer, char *errbuf, size_t errsz);

#endif
