/*
 * test_sig.c - the signal flags, and threads that never take a signal: the
 * mask il_sig_thread_create() gives a thread, il_sig_block_all() and
 * il_sig_restore() around a library's own thread start, and a process-wide
 * signal reaching the flags through the one thread that takes it.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <unistd.h>

#include <cmocka.h>

#include "sig.h"

/* What a started thread saw of its own mask. */
struct seen {
	sigset_t mask;
};

static void *
record_mask(void *arg)
{
	struct seen *s = arg;

	pthread_sigmask(SIG_SETMASK, NULL, &s->mask);
	return NULL;
}

static void
test_thread_blocks_every_signal(void **state)
{
	struct seen s;
	sigset_t before, after;
	pthread_t t;

	(void)state;
	pthread_sigmask(SIG_SETMASK, NULL, &before);
	assert_int_equal(il_sig_thread_create(&t, record_mask, &s), 0);
	assert_int_equal(pthread_join(t, NULL), 0);
	assert_true(sigismember(&s.mask, SIGHUP));
	assert_true(sigismember(&s.mask, SIGINT));
	assert_true(sigismember(&s.mask, SIGTERM));
	/* The caller's own mask is as it was. */
	pthread_sigmask(SIG_SETMASK, NULL, &after);
	assert_false(sigismember(&after, SIGHUP));
	assert_int_equal(sigismember(&after, SIGTERM), sigismember(&before, SIGTERM));
}

static void
test_block_all_and_restore(void **state)
{
	struct seen s;
	sigset_t saved, now;
	pthread_t t;

	(void)state;
	il_sig_block_all(&saved);
	pthread_sigmask(SIG_SETMASK, NULL, &now);
	assert_true(sigismember(&now, SIGHUP));
	/* A thread a library starts in between inherits the full mask. */
	assert_int_equal(pthread_create(&t, NULL, record_mask, &s), 0);
	assert_int_equal(pthread_join(t, NULL), 0);
	assert_true(sigismember(&s.mask, SIGTERM));
	il_sig_restore(&saved);
	pthread_sigmask(SIG_SETMASK, NULL, &now);
	assert_false(sigismember(&now, SIGHUP));
	assert_false(sigismember(&now, SIGTERM));
}

static volatile int sleeper_done;

static void *
sleep_a_while(void *arg)
{
	(void)arg;
	/* A thread that would take the signal if its mask let it. */
	while (!sleeper_done)
		usleep(1000);
	return NULL;
}

static void
test_process_signal_sets_the_flags(void **state)
{
	pthread_t t;

	(void)state;
	il_sig_install();
	assert_false(il_sig_take_reload());
	assert_int_equal(il_sig_thread_create(&t, sleep_a_while, NULL), 0);
	/* kill(), not raise(): directed at the process, like an operator's
	 * kill -HUP; only this thread may take it. */
	assert_int_equal(kill(getpid(), SIGHUP), 0);
	assert_true(il_sig_take_reload());
	assert_false(il_sig_take_reload());
	assert_false(il_sig_stop_requested());
	assert_int_equal(kill(getpid(), SIGTERM), 0);
	assert_true(il_sig_stop_requested());
	sleeper_done = 1;
	assert_int_equal(pthread_join(t, NULL), 0);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_thread_blocks_every_signal),
		cmocka_unit_test(test_block_all_and_restore),
		cmocka_unit_test(test_process_signal_sets_the_flags),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
