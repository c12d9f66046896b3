/*
 * itcheck.h - the PASS/FAIL lines of an integration program (see
 * tests/integration/helpers.sh for what tests/run.sh counts), and a libpq
 * statement that must succeed.  Header-only: define IT_NAME (a string
 * literal, the prefix of every check name and of error lines) first.
 */
#ifndef IL_ITCHECK_H
#define IL_ITCHECK_H

#ifndef IT_NAME
#error "define IT_NAME before including itcheck.h"
#endif

#include <stdarg.h>
#include <stdbool.h>
#include <stdio.h>

#include <libpq-fe.h>

/* Checks that failed so far; the program's exit status follows it. */
static int it_failures;

/* Prints "PASS <IT_NAME>-<name>", or "FAIL <IT_NAME>-<name>: <why>" and counts it. */
__attribute__((format(printf, 3, 4)))
static void
it_check(bool ok, const char *name, const char *fmt, ...)
{
	va_list ap;

	if (ok) {
		printf("PASS " IT_NAME "-%s\n", name);
	} else {
		it_failures++;
		printf("FAIL " IT_NAME "-%s: ", name);
		va_start(ap, fmt);
		vprintf(fmt, ap);
		va_end(ap);
		printf("\n");
	}
	fflush(stdout);
}

/* Runs @p sql; @returns false with the statement and libpq's reason on stderr. */
static bool
it_exec_ok(PGconn *conn, const char *sql)
{
	PGresult *res = PQexec(conn, sql);
	ExecStatusType st = PQresultStatus(res);
	bool ok = st == PGRES_COMMAND_OK || st == PGRES_TUPLES_OK;

	if (!ok)
		fprintf(stderr, "it_" IT_NAME ": \"%s\": %s", sql, PQerrorMessage(conn));
	PQclear(res);
	return ok;
}

#endif
