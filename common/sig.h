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
 *
 * Signals are for the main thread only.  A handler that ran on another
 * thread would still set the flag, but the poll() it interrupted there
 * fails with EINTR, and a library's thread may not survive that (librdkafka's
 * mock cluster ends its thread on any poll error).  So every thread is
 * started with all signals blocked: ours through il_sig_thread_create(), a
 * library's by wrapping the call that starts it in il_sig_block_all() and
 * il_sig_restore(), as librdkafka does for its own threads.
 */
#ifndef IL_SIG_H
#define IL_SIG_H

#include <pthread.h>
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
/** Blocks every signal in the calling thread; the old mask goes to @p saved. */
void il_sig_block_all(sigset_t *saved);
/** Puts back the mask il_sig_block_all() saved. */
void il_sig_restore(const sigset_t *saved);
/** pthread_create() of a thread that receives no signal.
 * @returns 0 or pthread_create()'s error number. */
int il_sig_thread_create(pthread_t *thread, void *(*start)(void *), void *arg);

#endif
