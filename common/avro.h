/*
 * avro.h - the event schemas and their two encodings.
 *
 * Schemas live in schemas/ as <Name>.v<N>.avsc.  A value has two forms:
 *  - the JSON form people and the `imislink` tool use: plain JSON, a nullable
 *    union is either null or the bare value, an enum is its symbol, a
 *    timestamp-millis is an ISO-8601 UTC string ("2026-11-21T10:00:00.000Z";
 *    an integer of milliseconds is accepted on input), a date is "YYYY-MM-DD";
 *    Other unions take Avro's JSON encoding ({"<type name>": value}, null
 *    bare), bytes and fixed are strings of code points U+0000..U+00FF, and a
 *    long beyond +-2^53 decodes to a raw JSON number (cJSON_IsRaw) so that no
 *    digit is lost; a missing field takes its schema default and an unknown
 *    member is refused.  Error messages name the field path
 *    ("household.members[0].registrant.birthdate") and may quote the
 *    offending value: log them as personal data;
 *  - the Avro binary body, written straight from the JSON form and read
 *    with avro-c's generic values.
 * The Confluent wire header (magic 0x00 + big-endian schema id) is added and
 * checked by il_wire_*; schema ids themselves come from serde.h.
 *
 * Bytes from outside are untrusted: decoding checks every length prefix
 * against the bytes that remain before avro-c allocates anything, so a
 * hostile prefix cannot make the process allocate gigabytes.  Byte offsets in
 * decode errors count from the start of the Avro body (the wire message's
 * offset is IL_WIRE_HEADER_LEN more).
 *
 * A schema may be used by several threads at once: encoding keeps no state
 * in it, and decoding takes its one set of reusable avro-c values when it
 * is free (a thread that finds it busy makes its own).
 */
#ifndef IL_AVRO_H
#define IL_AVRO_H

#include <stddef.h>
#include <stdint.h>

#include <cjson/cJSON.h>

#include "buf.h"
#include "err.h"

#define IL_WIRE_MAGIC 0x00
#define IL_WIRE_HEADER_LEN 5

typedef struct il_schema il_schema;
typedef struct il_schema_set il_schema_set;

/**
 * @brief Parses one Avro schema from JSON text.
 * @returns NULL with avro-c's reason in @p errbuf; destroy with il_schema_destroy().
 */
il_schema *il_schema_from_json(const char *json, size_t len, char *errbuf, size_t errsz);
/** Frees @p s; NULL is a no-op. */
void il_schema_destroy(il_schema *s);
/** @returns the full name, e.g. "org.imislink.events.EligibilityEvent". */
const char *il_schema_fullname(const il_schema *s);
/** @returns the short name, e.g. "EligibilityEvent". */
const char *il_schema_name(const il_schema *s);
/** @returns the version from the file name, 0 when not loaded from a file. */
int il_schema_version(const il_schema *s);
/** @returns the schema's JSON text as loaded (what is registered). */
const char *il_schema_text(const il_schema *s);

/**
 * @brief Loads every <Name>.v<N>.avsc of @p dir.
 * @returns NULL with the offending file and reason in @p errbuf.
 */
il_schema_set *il_schema_set_load(const char *dir, char *errbuf, size_t errsz);
/** Frees @p set and every schema in it; NULL is a no-op. */
void il_schema_set_destroy(il_schema_set *set);
/** @returns the highest version of short name @p name, NULL when there is none; owned by @p set. */
const il_schema *il_schema_set_latest(const il_schema_set *set, const char *name);
/** @returns version @p version of @p name, or NULL; owned by @p set. */
const il_schema *il_schema_set_get(const il_schema_set *set, const char *name, int version);
/** @returns how many schemas the set holds; il_schema_set_at() indexes them in load order. */
size_t il_schema_set_count(const il_schema_set *set);
const il_schema *il_schema_set_at(const il_schema_set *set, size_t i);

/**
 * @brief Checks that data written with @p writer can be read with @p reader
 * (Avro schema resolution): @p reader is BACKWARD compatible with @p writer.
 * @returns IL_ERR_PERMANENT with the reason when it is not.
 */
il_err il_schema_check_backward(const il_schema *writer, const il_schema *reader,
    char *errbuf, size_t errsz);

/**
 * @brief Encodes the JSON form @p json as an Avro body appended to @p out.
 * @returns IL_ERR_ENCODE with the field path and the problem in @p errbuf
 * ("registrant.birthdate: expected a date YYYY-MM-DD, got \"31/12/1990\"").
 */
il_err il_avro_encode_json(const il_schema *s, const cJSON *json, il_buf *out,
    char *errbuf, size_t errsz);
/**
 * @brief Decodes an Avro body written with @p writer into its JSON form.
 * @returns IL_OK with a new cJSON tree in @p json (caller frees with
 * cJSON_Delete), or IL_ERR_DECODE_BODY / IL_ERR_DECODE_TRAILING with the
 * byte offset and field path in @p errbuf.
 */
il_err il_avro_decode_json(const il_schema *writer, const void *body, size_t len,
    cJSON **json, char *errbuf, size_t errsz);

/** Writes the 5-byte wire header for @p schema_id into @p out. */
void il_wire_header(int32_t schema_id, unsigned char out[IL_WIRE_HEADER_LEN]);
/**
 * @brief Splits a wire-format message into schema id and body.
 * @returns IL_ERR_DECODE_SHORT, IL_ERR_DECODE_MAGIC or IL_ERR_DECODE_TOOBIG
 * (over @p max_len) with a reason in @p errbuf.
 */
il_err il_wire_parse(const void *msg, size_t len, size_t max_len, int32_t *schema_id,
    const void **body, size_t *body_len, char *errbuf, size_t errsz);

#endif
