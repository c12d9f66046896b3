/*
 * log.h - structured logging: one JSON object a line on stderr.
 *
 * Every line carries "ts" (UTC, milliseconds), "level", "program", "msg" and
 * the caller's context fields.  Personal data never reaches a log line in
 * clear: a field made with IL_PII() is masked by il_log_mask() on the way out,
 * and call sites pass names, birthdates, ID values and phone numbers only
 * through IL_PII().  Secrets are never passed at all.
 *
 *	il_log_info("event published",
 *	    IL_STR("topic", topic), IL_INT("partition", p), IL_PII("key", key));
 */
#ifndef IL_LOG_H
#define IL_LOG_H

#include <stdbool.h>
#include <stddef.h>
#include <stdio.h>

typedef enum il_log_level {
	IL_LOG_ERROR = 0,   /* the operation failed and needs a person */
	IL_LOG_WARN = 1,    /* something is off but the process copes */
	IL_LOG_INFO = 2,    /* lifecycle and progress; the default */
	IL_LOG_DEBUG = 3,   /* per-message detail; raised by -v */
} il_log_level;

typedef enum il_log_kind {
	IL_LOG_F_END = 0,   /* terminates a field list */
	IL_LOG_F_STR,       /* JSON string */
	IL_LOG_F_INT,       /* JSON integer */
	IL_LOG_F_DBL,       /* JSON number */
	IL_LOG_F_PII,       /* JSON string, masked by il_log_mask() */
} il_log_kind;

typedef struct il_log_field {
	const char *key;    /* JSON member name */
	il_log_kind kind;   /* which of the values below is used */
	const char *s;      /* IL_LOG_F_STR / IL_LOG_F_PII; NULL renders null */
	long long i;        /* IL_LOG_F_INT */
	double d;           /* IL_LOG_F_DBL */
} il_log_field;

#define IL_STR(k, v) { (k), IL_LOG_F_STR, (v), 0, 0 }
#define IL_INT(k, v) { (k), IL_LOG_F_INT, NULL, (long long)(v), 0 }
#define IL_DBL(k, v) { (k), IL_LOG_F_DBL, NULL, 0, (double)(v) }
#define IL_PII(k, v) { (k), IL_LOG_F_PII, (v), 0, 0 }

/*
 * The field list always ends with the terminator, so the macros need no
 * __VA_OPT__ (C2x) and no GNU comma swallowing: a call with no fields is
 * plain C11.  The braces of IL_STR() and friends are split at their commas
 * when rescanned, but every piece lands in IL_LOG_EMIT_'s variadic tail and is
 * joined back unchanged.  The threshold is checked before the field array is
 * built, so a suppressed line costs one call and one load.
 */
#define IL_LOG_END_ { NULL, IL_LOG_F_END, NULL, 0, 0 }
#define IL_LOG_EMIT_(level, msg, ...) \
	(il_log_enabled(level) ? \
	    il_log_emit((level), (msg), (const il_log_field[]){ __VA_ARGS__ }) : (void)0)

#define il_log_error(...) IL_LOG_EMIT_(IL_LOG_ERROR, __VA_ARGS__, IL_LOG_END_)
#define il_log_warn(...) IL_LOG_EMIT_(IL_LOG_WARN, __VA_ARGS__, IL_LOG_END_)
#define il_log_info(...) IL_LOG_EMIT_(IL_LOG_INFO, __VA_ARGS__, IL_LOG_END_)
#define il_log_debug(...) IL_LOG_EMIT_(IL_LOG_DEBUG, __VA_ARGS__, IL_LOG_END_)

/**
 * Sets the program name and threshold; lines go to @p out (stderr when NULL).
 * Call it at start-up, before other threads log.
 */
void il_log_init(const char *program, il_log_level level, FILE *out);
/** Raises or lowers the threshold at run time (e.g. on SIGHUP). */
void il_log_set_level(il_log_level level);
/** @returns 0 and sets @p level from "error", "warn", "info" or "debug"; -1 otherwise. */
int il_log_level_parse(const char *name, il_log_level *level);
/** @returns true when a line of @p level would be written (cheap: one atomic load). */
bool il_log_enabled(il_log_level level);
/**
 * Writes one line if @p level passes the threshold; @p fields ends with
 * IL_LOG_F_END.  The line is written with one fwrite and a flush under a lock,
 * so lines of concurrent threads never interleave.  String values longer than
 * 4096 bytes are cut (the line says "truncated":true); invalid UTF-8 becomes
 * U+FFFD so the line stays valid JSON.
 */
void il_log_emit(il_log_level level, const char *msg, const il_log_field *fields);

/**
 * Masks personal data to a fixed width, so that not even the length shows:
 * eight asterisks and the last two characters of values of six or more
 * characters ("********42"), "***" for shorter ones.  Lengths count UTF-8
 * characters, so the kept tail is whole characters.  When @p out is too
 * small the asterisks are cut first.  NULL gives "" (il_log_emit() renders
 * it as JSON null).  Writes a NUL-terminated result into @p out unless
 * @p outsz is 0.
 * @returns @p out.
 */
char *il_log_mask(const char *value, char *out, size_t outsz);

#endif
