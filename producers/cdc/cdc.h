/*
 * cdc.h - what the two ways of reading openSPP's database share: the
 * daemon, the emitter that turns changes into events, and the connection
 * settings.  main.c fills it; capture.c (logical replication, with the initial
 * load) or poll.c (keyset polling, cdc.mode=poll) runs on it until a stop is
 * requested or something fails, and main.c starts it again after a transient
 * failure.
 */
#ifndef IL_CDC_H
#define IL_CDC_H

#include <stdatomic.h>

#include "daemon.h"
#include "emit.h"
#include "err.h"

typedef struct cdc_ctx {
	il_daemon *d;                   /* configuration, metrics, reload */
	const char *conninfo;           /* openSPP's database, libpq connection string or URI */
	cdc_emitter *em;                /* changes to events; outlives every run */
	const char *programme_array;    /* configured programmes as "{1,2}", NULL for all */
	atomic_int health;              /* il_health of /healthz */
} cdc_ctx;

/**
 * @brief Change capture: checks the settings, makes the publication and the
 * slot when missing, runs the initial load (cdc.snapshot) and streams until
 * a stop is requested.
 * @returns IL_ERR_CANCELLED after a stop; IL_ERR_PERMANENT or IL_ERR_CONFIG
 * for a missing privilege or setting, or a state file of the wrong kind (the
 * reason says which); IL_ERR_TRANSIENT for a lost connection or a refused
 * delivery (start again).
 */
il_err cdc_capture_run(cdc_ctx *c, char *errbuf, size_t errsz);

/**
 * @brief The polling fallback: polls the tables on (write_date, id) from
 * the cursor in cdc.state.file, which it replaces only after Kafka
 * confirmed everything before the new cursor.
 * @returns as cdc_capture_run().
 */
il_err cdc_poll_run(cdc_ctx *c, char *errbuf, size_t errsz);

#endif
