/*
 * text.h - checking text from outside and naming what it holds.
 *
 * Avro strings, log lines and the operator tool's output are UTF-8, and the
 * modules that take text from outside (the JSON form, untrusted Avro bodies,
 * openSPP bodies, Kafka keys) refuse anything else by the same rule.  Their
 * messages name a refused JSON value by its kind in the same words.
 */
#ifndef IL_TEXT_H
#define IL_TEXT_H

#include <stdbool.h>
#include <stddef.h>

#include <cjson/cJSON.h>

/**
 * @brief Checks that the @p len bytes at @p s are strict UTF-8: no overlong
 * forms, no surrogates, nothing above U+10FFFF (NUL bytes are UTF-8).
 * @returns true when they are; false otherwise, with the offset of the first
 * byte that does not start a valid character in @p bad unless it is NULL.
 */
bool il_text_utf8_valid(const char *s, size_t len, size_t *bad);

/**
 * @brief Names the kind of JSON value @p j for an error message: "null",
 * "a number" (raw numbers included), "a string", "an array", "an object",
 * "an invalid value"; a boolean is "a boolean", or with @p bool_value its
 * value, "true" or "false" (as short, and more telling to someone who wrote
 * the value by hand, as with openSPP bodies).
 * @returns a static string.
 */
const char *il_text_json_kind(const cJSON *j, bool bool_value);

/**
 * @brief Copies @p msg (NULL counts as "") into @p out of @p outsz bytes on
 * one line: runs of white space, line breaks included, become one space,
 * and none leads or trails.  libpq's messages end in a newline and may span
 * several lines (DETAIL, HINT); a log line must not.  Cut to fit.
 */
void il_text_one_line(const char *msg, char *out, size_t outsz);

/** @returns the value of hexadecimal digit @p c (either case), or -1. */
int il_text_hex_digit(char c);

#endif
