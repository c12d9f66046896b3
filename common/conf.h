/*
 * conf.h - configuration: one table of keys, four sources, checked at start.
 *
 * Sources, later ones winning: the built-in defaults, a properties file
 * (key=value lines, '#' comments), environment variables (each key has one,
 * e.g. kafka.bootstrap.servers <- KAFKA_BOOTSTRAP_SERVERS; a secret key also
 * reads <VAR>_FILE), and the command line (--set key=value, and -X key=value
 * which goes to librdkafka untouched as in kcat).  Properties-file lines whose
 * key starts with "rdkafka." also go to librdkafka, without the prefix.
 *
 * An unknown key or a malformed value is refused with a message that names the
 * key, its source (file:line or variable) and the expected form.  Secret values
 * are never printed: il_conf_dump() shows "(secret)".
 */
#ifndef IL_CONF_H
#define IL_CONF_H

#include <stdbool.h>
#include <stddef.h>
#include <stdio.h>

#include "err.h"

/* The properties file read when neither -F nor $IMISLINK_CONFIG names one. */
#define IL_CONF_DEFAULT_PATH "/etc/imislink/imislink.properties"

typedef struct il_conf il_conf;

/** Callback for il_conf_rdkafka_foreach(): one librdkafka property. */
typedef il_err (il_conf_pair_cb)(const char *key, const char *value, void *ctx, char *errbuf, size_t errsz);

/** @returns a configuration holding every key's default; destroy with il_conf_destroy(). */
il_conf *il_conf_new(void);
/** Frees @p conf; NULL is a no-op. */
void il_conf_destroy(il_conf *conf);

/**
 * Reads a properties file.  @p required false makes a missing file silent
 * (the default path).  On error nothing after the offending line is applied.
 */
il_err il_conf_load_file(il_conf *conf, const char *path, bool required, char *errbuf, size_t errsz);
/** Called with each line of a properties-style file (NUL-free, bounded, without a byte order mark). */
typedef il_err (il_conf_line_cb)(char *line, size_t lineno, void *ctx, char *errbuf, size_t errsz);
/**
 * @brief Reads @p path line by line for files of the properties syntax that
 * are not the configuration itself (the enrollment mapping): the same limits
 * and messages as il_conf_load_file().  A missing file is no error unless
 * @p required.
 * @returns IL_ERR_IO when the file cannot be read, IL_ERR_CONFIG for a line
 * too long or holding a NUL, or the first error @p cb returned.
 */
il_err il_conf_read_lines(const char *path, bool required, il_conf_line_cb *cb, void *ctx,
    char *errbuf, size_t errsz);
/** Reads every key's environment variable (and <VAR>_FILE for secrets). */
il_err il_conf_load_env(il_conf *conf, char *errbuf, size_t errsz);
/** Sets one imislink key from "key=value" (the --set option). */
il_err il_conf_set_arg(il_conf *conf, const char *arg, char *errbuf, size_t errsz);
/**
 * Sets one imislink key; @p origin names where it came from in error messages
 * and in il_conf_dump() (NULL: "command line").
 */
il_err il_conf_set(il_conf *conf, const char *key, const char *value, const char *origin, char *errbuf, size_t errsz);
/** Records a librdkafka property from "key=value" (the -X option); checked when a client is made. */
il_err il_conf_set_rdkafka_arg(il_conf *conf, const char *arg, char *errbuf, size_t errsz);

/**
 * The standard start-up sequence of every program: the file named by
 * @p path_opt, else $IMISLINK_CONFIG (required when set and not empty), else
 * IL_CONF_DEFAULT_PATH (optional), then the environment.  Command-line values
 * are applied by the caller afterwards.
 */
il_err il_conf_load_standard(il_conf *conf, const char *path_opt, char *errbuf, size_t errsz);

/** @returns the value of @p key (never NULL for a known key, "" when unset); aborts on an unknown key: a programming error. */
const char *il_conf_get(const il_conf *conf, const char *key);
/** @returns the integer value of @p key (validated when it was set). */
long long il_conf_get_int(const il_conf *conf, const char *key);
/** @returns the boolean value of @p key. */
bool il_conf_get_bool(const il_conf *conf, const char *key);

/**
 * Calls @p cb for each librdkafka property in the order given (file lines,
 * then -X options); stops at the first error and returns it, with the
 * property's origin put before the callback's message in @p errbuf.
 */
il_err il_conf_rdkafka_foreach(const il_conf *conf, il_conf_pair_cb *cb, void *ctx, char *errbuf, size_t errsz);

/**
 * Prints every key as "key = value  # source", then the librdkafka properties
 * as "rdkafka.<property> = value  # source" (the -X dump / --dump-config
 * output).  Secret keys, and librdkafka properties whose name says password,
 * secret or private key, show "(secret)" when set.
 */
void il_conf_dump(const il_conf *conf, FILE *out);
/** Prints the table of keys: name, variable, type, default, description (for --help). */
void il_conf_usage(FILE *out);

/**
 * Decides whether @p next may replace @p cur on a reload (SIGHUP): only keys
 * marked reloadable in the table may differ, and the librdkafka properties
 * must be the same.
 * @returns IL_OK, or IL_ERR_CONFIG naming the first key that needs a restart
 * (the caller keeps @p cur).
 */
il_err il_conf_reload_check(const il_conf *cur, const il_conf *next, char *errbuf, size_t errsz);
/**
 * @brief Reloads (SIGHUP): reads the standard sources again as
 * il_conf_load_standard() does with @p path_opt, applies this configuration's
 * command-line values (--set, -X, il_conf_set) again on top, and replaces
 * *@p conf when il_conf_reload_check() accepts the result.
 * @returns IL_OK with *@p conf replaced and the old configuration destroyed
 * (strings it returned are gone: read values again), or an error with the
 * reason in @p errbuf and *@p conf untouched, so a bad reload keeps the
 * configuration the program runs with.
 */
il_err il_conf_reload(il_conf **conf, const char *path_opt, char *errbuf, size_t errsz);

#endif
