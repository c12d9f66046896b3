/*
 * imislink.h - what the commands of the `imislink` operator tool share.
 *
 * main.c parses the global options, loads the configuration and runs one
 * command from the table; each command lives in its own cmd_<name>.c and
 * parses its own options, as tmux's cmd_entry table does.
 */
#ifndef IL_IMISLINK_H
#define IL_IMISLINK_H

#include <getopt.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include <cjson/cJSON.h>
#include <librdkafka/rdkafka.h>

#include "avro.h"
#include "cli.h"
#include "conf.h"
#include "serde.h"

#define IL_CLI_NAME "imislink"
#define IL_CLI_VERSION "0.1.0"

/* What main hands to a command. */
typedef struct il_cli {
	il_conf *conf;          /* loaded configuration; the command may add -X pairs */
	int verbose;            /* -v count minus -q */
} il_cli;

/**
 * Runs a command with its own arguments (argv[0] is the command name).
 * @returns the process exit code.
 */
typedef int (il_cmd_exec)(il_cli *cli, int argc, char **argv);

/* One entry of the command table. */
typedef struct il_cmd_entry {
	const char *name;       /* what the operator types */
	const char *usage;      /* the synopsis line, options included */
	const char *help;       /* option lines and examples for --help */
	il_cmd_exec *exec;      /* runs it */
} il_cmd_entry;

extern const il_cmd_entry il_cmd_produce_entry;
extern const il_cmd_entry il_cmd_consume_entry;
extern const il_cmd_entry il_cmd_dlq_entry;     /* the audit store's dead letters */
extern const il_cmd_entry il_cmd_replay_entry;  /* rewind a group, republish a time range */
extern const il_cmd_entry il_cmd_lag_entry;     /* consumer lag and Burrow status */
extern const il_cmd_entry il_cmd_pull_entry;    /* registrants from openSPP's REST API */

/** `imislink replay republish` (replay_republish.c); @returns the exit code. */
int il_replay_republish(il_cli *cli, int argc, char **argv);

/**
 * @brief getopt_long() over the options of a `replay` mode (cmd_replay.c),
 * with what both modes do alike: -h/--help prints the command's help and
 * exits 0; an unknown option, a missing value or an operand left after the
 * options is a usage error (exit 1).  The caller sets optind to 0 first.
 * @returns the next option of @p longopts or @p shortopts, -1 at the end.
 */
int il_replay_getopt(int argc, char **argv, const char *shortopts, const struct option *longopts);

/**
 * @brief Like il_cli_fatal() (cli.h), with the hint to read --help (for
 * @p cmd, or the tool when NULL): for a mistake on the command line.
 */
__attribute__((noreturn, format(printf, 2, 3)))
void il_cli_usage_error(const char *cmd, const char *fmt, ...);

/** @brief Prints @p e's synopsis and option help on stdout and exits 0. */
__attribute__((noreturn))
void il_cli_cmd_usage(const il_cmd_entry *e);

/**
 * @brief Loads the schemas of "schemas.dir" into *@p schemas and makes the
 * serde over them that a command reads or writes Avro with.  Refuses to
 * start (exit 1) when either fails.
 * @returns the serde; the caller destroys it, then *@p schemas.
 */
il_serde *il_cli_serde_new(const il_conf *conf, il_schema_set **schemas);

/**
 * @brief Fetches the metadata of @p topic through @p rk.  Refuses to start
 * (exit 1) when the topic does not exist or @p brokers cannot be reached:
 * with automatic topic creation off, a producer would otherwise wait
 * message.timeout.ms for every message before failing it.
 * @returns the topic's partition count.
 */
int il_cli_topic_partitions(rd_kafka_t *rk, const char *topic, const char *brokers);

/**
 * @brief Parses the time argument @p arg of option @p opt of command @p cmd:
 * ISO-8601 (a zone may be given; none is UTC) or milliseconds since 1970.
 * A usage error (exit 1) when it is neither, or lies before 1970: offset
 * queries read -1 and -2 as "latest" and "earliest".
 * @returns the time in milliseconds since 1970.
 */
int64_t il_cli_parse_time(const char *cmd, const char *opt, const char *arg);

/**
 * @brief Reads the log end offset of each of the @p nparts partitions of
 * @p topic into @p end (indexed by partition), each query bounded by
 * @p timeout_ms.  Fatal (exit 1) on error.
 */
void il_cli_log_ends(rd_kafka_t *rk, const char *topic, int nparts, int64_t *end, int timeout_ms);

/**
 * @brief Finds, per partition of @p topic, the first offset whose message
 * timestamp is at or after @p ts_ms, else @p fallback of that partition (no
 * message that recent), into @p out (indexed by partition).  Errors name the
 * time as "@p what @p when" and are fatal (exit 1).
 */
void il_cli_offsets_at(rd_kafka_t *rk, const char *topic, int nparts, int64_t ts_ms, const int64_t *fallback,
    int64_t *out, const char *what, const char *when, int timeout_ms);

/**
 * @brief Sets the "programme" of the event in JSON form @p event (cmd_produce.c):
 * id @p id (-1: null) and name @p name (NULL: null), target type unknown.
 * Leaves @p event as it is when neither is given.
 */
void il_cli_event_programme(cJSON *event, long long id, const char *name);

/**
 * @brief Writes @p json as one line on stdout (compact, then a newline).
 * The line may still sit in stdout's buffer: only a successful fflush()
 * says it was handed on.
 * @returns false when it could not be printed, with errno saying why
 * (ENOMEM, or the write error: EPIPE once the reader went away).  After a
 * write error stdout's error indicator stays set, so every later call fails
 * too.
 */
bool il_cli_print_json(const cJSON *json);

/**
 * @brief Makes a JSON string of @p len bytes when they are UTF-8 without
 * NUL, else NULL (the caller then shows them as base64).
 */
cJSON *il_cli_json_text(const void *data, size_t len);

/** @brief Makes a JSON string holding the base64 form of @p len bytes. */
cJSON *il_cli_json_base64(const void *data, size_t len);

#endif
