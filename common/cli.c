/*
 * cli.c - the start-up helpers every imislink program needs.
 */
#include "cli.h"

#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>

#include "log.h"

/* Room for one fatal message; longer ones are cut, never lost. */
#define IL_CLI_MSG_MAX 1024

void
il_cli_fatal(const char *fmt, ...)
{
	char msg[IL_CLI_MSG_MAX];
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(msg, sizeof(msg), fmt, ap);
	va_end(ap);
	il_log_error(msg);
	exit(1);
}

bool
il_cli_parse_int(const char *s, long long min, long long max, long long *out)
{
	const char *digits;
	char *end = NULL;
	long long v;

	if (s == NULL)
		return false;
	/* strtoll() alone would also take leading blanks and a '+'. */
	digits = *s == '-' ? s + 1 : s;
	if (*digits < '0' || *digits > '9')
		return false;
	errno = 0;
	v = strtoll(s, &end, 10);
	if (errno != 0 || *end != '\0' || v < min || v > max)
		return false;
	*out = v;
	return true;
}

void
il_cli_bad_usage(const char *prog, const char *what, const char *arg)
{
	char hint[256];

	snprintf(hint, sizeof(hint), "Try \"%s --help\" for more information", prog);
	il_log_error(what, IL_STR("argument", arg), IL_STR("hint", hint));
	exit(1);
}
