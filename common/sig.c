/*
 * sig.c - the signal flags of a daemon: handlers only set flags.
 */
#include "sig.h"

#include <stdlib.h>
#include <unistd.h>

static volatile sig_atomic_t il_sig_stop;
static volatile sig_atomic_t il_sig_reload;

static void
il_sig_on_stop(int signo)
{
	(void)signo;
	/* A second request means the operator does not want to wait for the drain. */
	if (il_sig_stop)
		_exit(130);
	il_sig_stop = 1;
}

static void
il_sig_on_hup(int signo)
{
	(void)signo;
	il_sig_reload = 1;
}

void
il_sig_install(void)
{
	struct sigaction sa = { 0 };

	sigemptyset(&sa.sa_mask);
	/* SA_RESTART: a flag being set must not make a blocking read or write
	 * fail with EINTR halfway through a line or a message.  The waits that
	 * must see a flag soon (poll, nanosleep) return EINTR regardless and
	 * all of them are bounded. */
	sa.sa_flags = SA_RESTART;
	sa.sa_handler = il_sig_on_stop;
	sigaction(SIGINT, &sa, NULL);
	sigaction(SIGTERM, &sa, NULL);
	sa.sa_handler = il_sig_on_hup;
	sigaction(SIGHUP, &sa, NULL);
	sa.sa_handler = SIG_IGN;
	sigaction(SIGPIPE, &sa, NULL);
}

bool
il_sig_stop_requested(void)
{
	return il_sig_stop != 0;
}

bool
il_sig_take_reload(void)
{
	if (!il_sig_reload)
		return false;
	il_sig_reload = 0;
	return true;
}

void
il_sig_request_stop(void)
{
	il_sig_stop = 1;
}

void
il_sig_block_all(sigset_t *saved)
{
	sigset_t all;

	sigfillset(&all);
	pthread_sigmask(SIG_SETMASK, &all, saved);
}

void
il_sig_restore(const sigset_t *saved)
{
	pthread_sigmask(SIG_SETMASK, saved, NULL);
}

int
il_sig_thread_create(pthread_t *thread, void *(*start)(void *), void *arg)
{
	sigset_t saved;
	int rc;

	/* The new thread inherits the mask of the one that creates it. */
	il_sig_block_all(&saved);
	rc = pthread_create(thread, NULL, start, arg);
	il_sig_restore(&saved);
	return rc;
}
