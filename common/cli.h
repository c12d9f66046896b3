/*
 * cli.h - the start-up helpers every imislink program needs.
 *
 * Daemons and tools alike parse options and load their configuration before
 * any work is done; a mistake found then ends the process at once with one
 * JSON log line (the pg_fatal of PostgreSQL's tools).  After start-up,
 * daemons return error codes instead and decide in their loop.
 */
#ifndef IL_CLI_H
#define IL_CLI_H

#include <stdbool.h>

/**
 * @brief Logs @p fmt as an error line (log.h) and exits 1: only at start-up,
 * before any work was done.
 */
__attribute__((noreturn, format(printf, 1, 2)))
void il_cli_fatal(const char *fmt, ...);

/**
 * @brief Parses @p s, all of it, as a decimal integer within [@p min, @p max]:
 * an optional '-' and digits, no blanks, no '+'.
 * @returns false, leaving @p out alone, when @p s is not one (NULL included).
 */
bool il_cli_parse_int(const char *s, long long min, long long max, long long *out);

/**
 * @brief Logs a usage mistake of daemon @p prog (what, the argument, and a
 * hint to run "@p prog --help") and exits 1.
 */
__attribute__((noreturn))
void il_cli_bad_usage(const char *prog, const char *what, const char *arg);

#endif
