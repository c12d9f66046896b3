/*
 * sig.h - the signal flags of a daemon.
 *
 * Handlers only set flags; the main loop reads them.  SIGINT/SIGTERM ask for a
 * graceful drain and a second one for an immediate exit; SIGHUP asks for a
 * reload; SIGPIPE is ignored so a closed socket is an error return, not death.
 */
#ifndef IL_SIG_H
#define IL_SIG_H

#include <signal.h>
#include <stdbool.h>

/** Installs the handlers; call once at start. */
void il_sig_install(void);
/** @returns true once SIGINT or SIGTERM arrived. */
bool il_sig_stop_requested(void);
/** @returns true, once, after each SIGHUP. */
bool il_sig_take_reload(void);
/** Sets the stop flag from code (tests, --endpos, fatal errors). */
void il_sig_request_stop(void);

#endif
