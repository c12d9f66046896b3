/*
 * sig.h - the signal flags of a daemon.
 *
 * Handlers only set flags; the main loop reads them.  SIGINT/SIGTERM ask for a
 * graceful drain and a second one for an immediate exit; SIGHUP asks for a
 * reload (a program that does not reload simply never takes the flag);
 * SIGPIPE is ignored so a closed socket or pipe is an error return (EPIPE),
 * not death.  Handlers are installed with SA_RESTART, so a signal does not
 * make a blocking read or write on a pipe, file or terminal fail with EINTR;
 * loops therefore wait with a bounded poll() or sleep (which return EINTR
 * regardless) to notice a flag in time.
 */
#ifndef IL_SIG_H
#define IL_SIG_H

#include <signal.h>
#include <stdbool.h>

/** @brief Installs the handlers (SA_RESTART); call once at start. */
void il_sig_install(void);
/** @returns true once SIGINT or SIGTERM arrived. */
bool il_sig_stop_requested(void);
/** @returns true, once, after each SIGHUP. */
bool il_sig_take_reload(void);
/** Sets the stop flag from code (tests, --endpos, fatal errors). */
void il_sig_request_stop(void);

#endif
