/*
 * test_fuzz_corpus - replays every file of tests/data/fuzz/<target>/
 * through the entry function of that fuzz target (tests/fuzz/targets.h),
 * under the normal build and in `make test` under ASan and UBSan.
 *
 * The corpora hold the seeds, what libFuzzer found worth keeping (merged
 * down with -merge=1) and the minimised input of every crash that was
 * fixed, so a fixed crash stays fixed on machines without clang.  A broken
 * promise of a target fails the test naming the file; a crash or a
 * sanitizer report stops the binary, which the runner counts as a failure.
 */
#include <dirent.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "testutil.h"
#include "xalloc.h"

#include "../fuzz/targets.h"

/* A target's corpus: its directory under tests/data/fuzz and its function. */
typedef struct corpus {
	const char *name;       /* the fuzz target, e.g. "fuzz_time" */
	void (*one)(const fuzz_ctx *, const uint8_t *, size_t);
} corpus;

static const corpus corpora[] = {
	{ "fuzz_avro_decode", fuzz_avro_decode_one },
	{ "fuzz_avro_encode", fuzz_avro_encode_one },
	{ "fuzz_commitlog", fuzz_commitlog_one },
	{ "fuzz_conf_file", fuzz_conf_file_one },
	{ "fuzz_event_openspp", fuzz_event_openspp_one },
	{ "fuzz_pgoutput", fuzz_pgoutput_one },
	{ "fuzz_schema", fuzz_schema_one },
	{ "fuzz_serde_decode", fuzz_serde_decode_one },
	{ "fuzz_time", fuzz_time_one },
};

static void
fail_cmocka(const fuzz_ctx *ctx, const char *msg)
{
	fail_msg("%s: %s", ctx->label != NULL ? ctx->label : "?", msg);
}

static int
setup(void **state)
{
	fuzz_ctx *ctx = fuzz_ctx_new();

	ctx->on_fail = fail_cmocka;
	*state = ctx;
	return 0;
}

static int
teardown(void **state)
{
	fuzz_ctx_destroy(*state);
	return 0;
}

static int
name_order(const void *a, const void *b)
{
	return strcmp(*(char *const *)a, *(char *const *)b);
}

/* Replays the files of one corpus in name order; @returns how many. */
static size_t
replay(fuzz_ctx *ctx, const corpus *c)
{
	char *dir = il_xasprintf("%s/fuzz/%s", IL_TEST_DATA_DIR, c->name);
	char **names = NULL, *path, *data;
	size_t n = 0, cap = 0, i, len;
	struct dirent *de;
	DIR *d;

	d = opendir(dir);
	if (d == NULL)
		fail_msg("could not open directory \"%s\"", dir);
	while ((de = readdir(d)) != NULL) {
		if (de->d_name[0] == '.')
			continue;
		if (n == cap) {
			cap = cap ? 2 * cap : 64;
			names = il_xrealloc(names, cap * sizeof(*names));
		}
		names[n++] = il_xstrdup(de->d_name);
	}
	closedir(d);
	if (n > 0)
		qsort(names, n, sizeof(*names), name_order);
	for (i = 0; i < n; i++) {
		path = il_xasprintf("%s/%s", dir, names[i]);
		data = il_test_read_file(path, &len);
		ctx->label = path;
		c->one(ctx, (const uint8_t *)data, len);
		ctx->label = NULL;
		free(data);
		free(path);
		free(names[i]);
	}
	free(names);
	free(dir);
	return n;
}

static void
test_corpus(void **state, const char *name)
{
	size_t i;

	for (i = 0; i < sizeof(corpora) / sizeof(corpora[0]); i++) {
		if (strcmp(corpora[i].name, name) == 0) {
			/* an empty corpus would pass without testing anything */
			assert_true(replay(*state, &corpora[i]) > 0);
			return;
		}
	}
	fail_msg("no corpus \"%s\"", name);
}

static void
test_avro_decode(void **state)
{
	test_corpus(state, "fuzz_avro_decode");
}

static void
test_avro_encode(void **state)
{
	test_corpus(state, "fuzz_avro_encode");
}

static void
test_conf_file(void **state)
{
	test_corpus(state, "fuzz_conf_file");
}

static void
test_event_openspp(void **state)
{
	test_corpus(state, "fuzz_event_openspp");
}

static void
test_commitlog(void **state)
{
	test_corpus(state, "fuzz_commitlog");
}

static void
test_pgoutput(void **state)
{
	test_corpus(state, "fuzz_pgoutput");
}

static void
test_schema(void **state)
{
	test_corpus(state, "fuzz_schema");
}

static void
test_serde_decode(void **state)
{
	test_corpus(state, "fuzz_serde_decode");
}

static void
test_time(void **state)
{
	test_corpus(state, "fuzz_time");
}

/* Every corpus directory has its target here, so none is silently skipped. */
static void
test_every_corpus_known(void **state)
{
	char *dir = il_xasprintf("%s/fuzz", IL_TEST_DATA_DIR);
	struct dirent *de;
	size_t i;
	DIR *d;

	(void)state;
	d = opendir(dir);
	if (d == NULL)
		fail_msg("could not open directory \"%s\"", dir);
	while ((de = readdir(d)) != NULL) {
		if (de->d_name[0] == '.' || strncmp(de->d_name, "fuzz_", 5) != 0)
			continue;
		for (i = 0; i < sizeof(corpora) / sizeof(corpora[0]); i++) {
			if (strcmp(corpora[i].name, de->d_name) == 0)
				break;
		}
		/* Reported before closedir(), which frees the entry. */
		if (i == sizeof(corpora) / sizeof(corpora[0]))
			fail_msg("corpus \"%s\" has no target in test_fuzz_corpus", de->d_name);
	}
	closedir(d);
	free(dir);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_setup_teardown(test_avro_decode, setup, teardown),
		cmocka_unit_test_setup_teardown(test_avro_encode, setup, teardown),
		cmocka_unit_test_setup_teardown(test_commitlog, setup, teardown),
		cmocka_unit_test_setup_teardown(test_conf_file, setup, teardown),
		cmocka_unit_test_setup_teardown(test_event_openspp, setup, teardown),
		cmocka_unit_test_setup_teardown(test_pgoutput, setup, teardown),
		cmocka_unit_test_setup_teardown(test_schema, setup, teardown),
		cmocka_unit_test_setup_teardown(test_serde_decode, setup, teardown),
		cmocka_unit_test_setup_teardown(test_time, setup, teardown),
		cmocka_unit_test(test_every_corpus_known),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
