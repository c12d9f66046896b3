/*
 * testutil.h - fixtures the unit tests, integration programs and benchmarks
 * share: the tree's schemas, the files of tests/data, JSON text.
 *
 * Header-only (static inline): a unit test links only libimislink.a.  A
 * helper that cannot give what it was asked for stops the test: through
 * cmocka's fail_msg() when cmocka.h was included before this header, else
 * with the reason on stderr and exit status 1 (integration programs and
 * benchmarks, which do not run under cmocka).
 */
#ifndef IL_TESTUTIL_H
#define IL_TESTUTIL_H

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cjson/cJSON.h>

#include "avro.h"
#include "buf.h"
#include "serde.h"
#include "xalloc.h"

#ifndef IL_TEST_DATA_DIR
#error "IL_TEST_DATA_DIR must name tests/data (the Makefile defines it)"
#endif
#ifndef IL_SCHEMAS_DIR
#error "IL_SCHEMAS_DIR must name schemas/ (the Makefile defines it)"
#endif

/* A fixture file larger than this is a mistake, not a fixture. */
#define IL_TEST_FILE_MAX (16 * 1024 * 1024)

/* fail_msg() of cmocka 1.1 is not declared noreturn: every use below is
 * followed by a return, so the compiler sees a value on every path. */
#ifdef fail_msg
#define IL_TEST_FAIL(fmt, ...) fail_msg(fmt, __VA_ARGS__)
#else
#define IL_TEST_FAIL(fmt, ...) (fprintf(stderr, fmt "\n", __VA_ARGS__), exit(1))
#endif

/**
 * @brief Reads the file at @p path.
 * @returns its bytes, NUL-terminated, with their count in @p len unless
 * NULL; the caller frees.
 */
static inline char *
il_test_read_file(const char *path, size_t *len)
{
	FILE *f = fopen(path, "rb");
	char chunk[4096];
	il_buf b;
	size_t n;

	if (f == NULL) {
		IL_TEST_FAIL("could not open file \"%s\"", path);
		return NULL;
	}
	il_buf_init(&b, IL_TEST_FILE_MAX);
	while ((n = fread(chunk, 1, sizeof(chunk), f)) > 0 && il_buf_add(&b, chunk, n) == IL_OK)
		;
	if (n > 0 || ferror(f)) {
		fclose(f);
		il_buf_free(&b);
		IL_TEST_FAIL("could not read file \"%s\": %s", path,
		    n > 0 ? "larger than the fixture limit" : "read error");
		return NULL;
	}
	fclose(f);
	if (len != NULL)
		*len = b.len;
	return il_buf_take(&b);
}

/** @returns @p text parsed; the caller frees with cJSON_Delete(). */
static inline cJSON *
il_test_parse_json(const char *text)
{
	cJSON *j = cJSON_Parse(text);

	if (j == NULL)
		IL_TEST_FAIL("not valid JSON: %.80s", text);
	return j;
}

/**
 * @returns the JSON form fixture tests/data/avro/@p name parsed; the caller
 * frees with cJSON_Delete().
 */
static inline cJSON *
il_test_avro_json(const char *name)
{
	char *path = il_xasprintf("%s/avro/%s", IL_TEST_DATA_DIR, name);
	char *text = il_test_read_file(path, NULL);
	cJSON *j = cJSON_Parse(text);

	if (j == NULL)
		IL_TEST_FAIL("could not parse fixture \"%s\"", path);
	free(text);
	free(path);
	return j;
}

/**
 * @returns every schema of @p dir (IL_SCHEMAS_DIR: the tree's); the caller
 * frees with il_schema_set_destroy().
 */
static inline il_schema_set *
il_test_load_schemas(const char *dir)
{
	char err[512];
	il_schema_set *set = il_schema_set_load(dir, err, sizeof(err));

	if (set == NULL)
		IL_TEST_FAIL("could not load the schemas of \"%s\": %s", dir, err);
	return set;
}

/* @returns how many lines of the file at @p path hold @p needle; -1 when unreadable. */
static inline int
il_test_count_lines(const char *path, const char *needle)
{
	FILE *f = fopen(path, "r");
	char line[4096];
	int n = 0;

	if (f == NULL)
		return -1;
	while (fgets(line, sizeof(line), f) != NULL)
		n += strstr(line, needle) != NULL;
	fclose(f);
	return n;
}

/*
 * Decodes a message of schema id @p id with a one-byte body: what the serde
 * answers for the id alone.  A refused message leaves no value behind.
 */
static inline il_err
il_test_decode_id(il_serde *sd, int32_t id, char *err, size_t errsz)
{
	unsigned char msg[IL_WIRE_HEADER_LEN + 1];
	cJSON *out = NULL;
	il_err rc;

	il_wire_header(id, msg);
	msg[IL_WIRE_HEADER_LEN] = 0;
	rc = il_serde_decode(sd, msg, sizeof(msg), &out, NULL, err, errsz);
	if (rc != IL_OK && out != NULL) {
		cJSON_Delete(out);
		IL_TEST_FAIL("il_serde_decode refused id %d but returned a value", (int)id);
		return rc;
	}
	cJSON_Delete(out);
	return rc;
}

#endif
