/*
 * daemon.h - what every imislink daemon does around its loop: the command
 * line (-F, --set, -X, -h, -V), the configuration, SIGHUP, and the HTTP
 * endpoint with /metrics and /healthz.
 *
 * A daemon's main() is then: il_daemon_init(), make its engine,
 * il_daemon_http() and il_daemon_listen(), run the loop (calling il_daemon_reload() when
 * il_sig_take_reload() says so), il_daemon_fini().
 */
#ifndef IL_DAEMON_H
#define IL_DAEMON_H

#include <stdbool.h>

#include "conf.h"
#include "http.h"
#include "metrics.h"

/** A key a daemon cannot start without, and what to tell the operator. */
typedef struct il_daemon_required {
	const char *key;
	const char *hint;       /* e.g. "the worker needs the mapping of ... (see deploy/...)" */
} il_daemon_required;

/** What a daemon is; static data. */
typedef struct il_daemon_info {
	const char *name;       /* "imislink-deadletter": logs, --version, messages */
	const char *version;
	const char *purpose;    /* the first line of --help */
	const char *details;    /* what it does, after the options in --help */
	const il_daemon_required *required; /* ends with { NULL, NULL }; may be NULL */
} il_daemon_info;

typedef struct il_daemon {
	const il_daemon_info *info;
	il_conf *conf;          /* the configuration it runs with; owned, stable for its whole life */
	il_metrics *metrics;    /* owned; process_* metrics included */
	il_http *http;          /* owned; NULL before il_daemon_listen() */
	/* private */
	const char *config_path;/* -F */
	il_conf *shadow;        /* what SIGHUP reloads (the running conf is borrowed by engines) */
} il_daemon;

/**
 * @brief Logs as @p info->name, parses the command line, loads the
 * configuration (file, environment, --set, -X) and checks the required keys.
 * Exits 1 with a message naming the key when something is wrong, 0 after
 * --help, --version or -X dump.
 */
void il_daemon_init(il_daemon *d, const il_daemon_info *info, int argc, char **argv);
/**
 * @brief Makes the HTTP endpoint on http.address:http.port with /metrics
 * and /healthz (@p health, may be NULL); add routes to d->http, then
 * il_daemon_listen().
 * @returns d->http.
 */
il_http *il_daemon_http(il_daemon *d, il_health_cb *health, void *health_ctx);
/** @brief Starts serving (il_http logs "http listening" with the port); exits 1 when it cannot listen. */
void il_daemon_listen(il_daemon *d);
/**
 * @brief SIGHUP: reads the configuration again; only reloadable keys
 * (log.level) may change, otherwise the running configuration stays and a
 * warning names the key.  @p d is an il_daemon (void * to fit callbacks).
 */
void il_daemon_reload(void *d);
/** Stops HTTP and frees what il_daemon_init() and il_daemon_http() made. */
void il_daemon_fini(il_daemon *d);

#endif
