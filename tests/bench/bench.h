/*
 * bench.h - how every benchmark program reports a figure.
 *
 * A figure is printed for people on stdout, and as one JSON line appended to
 * the file named by $IL_BENCH_JSONL (build/bench.jsonl under `make bench`), with
 * the command that produced it, so figures can be compared over time.
 */
#ifndef IL_BENCH_H
#define IL_BENCH_H

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <time.h>

/* The command line as one string, kept for the JSON record. */
static char bench_command[1024];

static inline void
bench_init(int argc, char **argv)
{
	size_t off = 0;

	for (int i = 0; i < argc && off < sizeof(bench_command) - 1; i++) {
		int n = snprintf(bench_command + off, sizeof(bench_command) - off,
		    "%s%s", i ? " " : "", argv[i]);
		if (n < 0)
			break;
		off += (size_t)n;
	}
}

static inline double
bench_now(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

/* @returns the peak resident set size of this process in MiB. */
static inline double
bench_peak_rss_mb(void)
{
	struct rusage ru;

	getrusage(RUSAGE_SELF, &ru);
	return (double)ru.ru_maxrss / 1024.0;
}

/* Prints one figure; @p target is the goal as text ("" when none). */
static inline void
bench_report(const char *name, double value, const char *unit, const char *target)
{
	const char *path = getenv("IL_BENCH_JSONL");
	FILE *f;

	printf("%-28s %14.2f %-10s target %-12s  (%s)\n", name, value, unit,
	    target[0] ? target : "-", bench_command);
	fflush(stdout);
	if (path == NULL || path[0] == '\0')
		return;
	f = fopen(path, "a");
	if (f == NULL) {
		fprintf(stderr, "could not open \"%s\" for appending\n", path);
		return;
	}
	fprintf(f, "{\"name\":\"%s\",\"value\":%.3f,\"unit\":\"%s\",\"target\":\"%s\","
	    "\"command\":\"", name, value, unit, target);
	/* The command is the only free text: escape what JSON requires. */
	for (const char *p = bench_command; *p != '\0'; p++) {
		if (*p == '"' || *p == '\\')
			fputc('\\', f);
		fputc(*p, f);
	}
	fprintf(f, "\",\"ts\":%lld}\n", (long long)time(NULL));
	fclose(f);
}

#endif
