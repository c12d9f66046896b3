/*
 * test_schema_compat - the tree's schemas only evolve BACKWARD compatibly.
 *
 * Loads every <Name>.v<N>.avsc of schemas/ and checks each version against
 * the previous one of the same name (Confluent's BACKWARD: the new version
 * reads data written with the previous one).  Then proves the check itself
 * works: the fixtures of tests/data/schemas-compatible/ must pass, every pair
 * of tests/data/schemas-incompatible/ must be refused with a message naming
 * the field, and a table of Avro's resolution rules holds both ways, including
 * the places where avro-c 1.11.1 alone would answer wrongly.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>
#include <dirent.h>

#include "avro.h"
#include "testutil.h"

/* Checks every version of every name in @p set against the previous one. */
static int
check_versions(const il_schema_set *set, int *pairs, char *err, size_t errsz)
{
	size_t i;

	*pairs = 0;
	for (i = 0; i < il_schema_set_count(set); i++) {
		const il_schema *s = il_schema_set_at(set, i);
		const il_schema *prev;

		if (il_schema_version(s) == 1)
			continue;
		prev = il_schema_set_get(set, il_schema_name(s), il_schema_version(s) - 1);
		if (prev == NULL) {
			snprintf(err, errsz, "%s.v%d has no version %d before it", il_schema_name(s),
			    il_schema_version(s), il_schema_version(s) - 1);
			return -1;
		}
		(*pairs)++;
		if (il_schema_check_backward(prev, s, err, errsz) != IL_OK)
			return -1;
	}
	return 0;
}

/* Every *.avsc file of the tree is a schema that loads; none is skipped for its name. */
static void
test_tree_schemas_load(void **state)
{
	il_schema_set *set;
	struct dirent *de;
	size_t files = 0;
	DIR *d;

	(void)state;
	set = il_test_load_schemas(IL_SCHEMAS_DIR);
	d = opendir(IL_SCHEMAS_DIR);
	assert_non_null(d);
	while ((de = readdir(d)) != NULL) {
		size_t len = strlen(de->d_name);

		if (len > 5 && strcmp(de->d_name + len - 5, ".avsc") == 0)
			files++;
	}
	closedir(d);
	assert_int_equal(il_schema_set_count(set), files);
	assert_non_null(il_schema_set_get(set, "EligibilityEvent", 1));
	assert_non_null(il_schema_set_get(set, "EnrollmentResult", 1));
	il_schema_set_destroy(set);
}

static void
test_tree_schemas_backward(void **state)
{
	char err[512] = "";
	il_schema_set *set;
	int pairs;

	(void)state;
	set = il_test_load_schemas(IL_SCHEMAS_DIR);
	if (check_versions(set, &pairs, err, sizeof(err)) != 0)
		fail_msg("schemas/ breaks BACKWARD compatibility: %s", err);
	/* with one version of each name there is nothing to compare yet */
	printf("schemas/: %zu schemas, %d version pairs compatible\n", il_schema_set_count(set),
	    pairs);
	il_schema_set_destroy(set);
}

static void
test_compatible_fixtures(void **state)
{
	char err[512] = "";
	il_schema_set *set;
	int pairs;

	(void)state;
	set = il_test_load_schemas(IL_TEST_DATA_DIR "/schemas-compatible");
	if (check_versions(set, &pairs, err, sizeof(err)) != 0)
		fail_msg("a compatible fixture was refused: %s", err);
	assert_int_equal(pairs, 1);
	il_schema_set_destroy(set);
}

static void
test_incompatible_fixtures(void **state)
{
	static const struct {
		const char *name;
		const char *msg;
	} cases[] = {
		{ "AddsRequiredField", "AddsRequiredField.national_id: field is new in the reader and "
		    "has no default, so data written without it cannot be read" },
		{ "ChangesStringToInt", "ChangesStringToInt.registrant.gender: the reader's int cannot "
		    "read the writer's string" },
		{ "RemovesEnumSymbol", "RemovesEnumSymbol.membership.state: enum \"MembershipState\" "
		    "lacks the writer's symbol \"DUPLICATED\" and has no default" },
	};
	char err[512];
	il_schema_set *set;
	size_t i;

	(void)state;
	set = il_test_load_schemas(IL_TEST_DATA_DIR "/schemas-incompatible");
	assert_int_equal(il_schema_set_count(set), 6);
	for (i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		const il_schema *v1 = il_schema_set_get(set, cases[i].name, 1);
		const il_schema *v2 = il_schema_set_get(set, cases[i].name, 2);

		assert_non_null(v1);
		assert_non_null(v2);
		err[0] = '\0';
		assert_int_equal(il_schema_check_backward(v1, v2, err, sizeof(err)), IL_ERR_PERMANENT);
		assert_string_equal(err, cases[i].msg);
		/* the other way round each change is harmless, except the type change */
		err[0] = '\0';
		assert_int_equal(il_schema_check_backward(v2, v1, err, sizeof(err)),
		    i == 1 ? IL_ERR_PERMANENT : IL_OK);
	}
	il_schema_set_destroy(set);
}

static il_schema *
schema(const char *text)
{
	char err[512];
	il_schema *s = il_schema_from_json(text, strlen(text), err, sizeof(err));

	if (s == NULL)
		fail_msg("schema refused: %s: %s", err, text);
	return s;
}

/*
 * Avro's rules, one pair each (writer, reader).  The rows marked "avro-c
 * alone" are where avro_resolved_*_new() of avro-c 1.11.1 answers wrongly on
 * its own: it refuses new fields even with a default and accepts removed
 * symbols and union branches the reader lacks.
 */
static void
test_resolution_rules(void **state)
{
	static const struct {
		const char *writer;
		const char *reader;
		const char *msg;        /* NULL: compatible */
	} cases[] = {
		/* avro-c alone refuses this: it knows no defaults */
		{ "{\"type\":\"record\",\"name\":\"R\",\"fields\":[{\"name\":\"a\",\"type\":\"int\"}]}",
		  "{\"type\":\"record\",\"name\":\"R\",\"fields\":[{\"name\":\"a\",\"type\":\"int\"},"
		  "{\"name\":\"b\",\"type\":{\"type\":\"array\",\"items\":\"string\"},\"default\":[]},"
		  "{\"name\":\"c\",\"type\":[\"null\",\"long\"],\"default\":null}]}", NULL },
		/* a removed field is simply skipped */
		{ "{\"type\":\"record\",\"name\":\"R\",\"fields\":[{\"name\":\"a\",\"type\":\"int\"},"
		  "{\"name\":\"b\",\"type\":\"string\"}]}",
		  "{\"type\":\"record\",\"name\":\"R\",\"fields\":[{\"name\":\"b\",\"type\":\"string\"}]}",
		  NULL },
		/* promotions */
		{ "\"int\"", "\"long\"", NULL },
		{ "\"int\"", "\"double\"", NULL },
		{ "\"long\"", "\"float\"", NULL },
		{ "\"long\"", "\"int\"", "int: the reader's int cannot read the writer's long" },
		{ "\"double\"", "\"float\"", "float: the reader's float cannot read the writer's double" },
		/*
		 * Avro allows string <-> bytes, avro-c 1.11.1 cannot resolve it: a
		 * change the C library cannot read is refused with its reason.
		 */
		{ "\"string\"", "\"bytes\"",
		  "avro-c schema resolution refuses bytes: Cannot store string into bytes" },
		/* unions: the reader must have a branch for everything the writer may hold */
		{ "\"string\"", "[\"null\",\"string\"]", NULL },
		{ "[\"null\",\"int\"]", "[\"null\",\"long\"]", NULL },
		/* avro-c alone accepts these two */
		{ "[\"null\",\"string\"]", "\"string\"",
		  "string: the reader's string cannot read the writer's null" },
		{ "[\"null\",\"string\",\"int\"]", "[\"null\",\"string\"]",
		  "union: no type of the reader's union can read the writer's int" },
		/* enums: avro-c alone accepts a removed symbol; a reader default covers it */
		{ "{\"type\":\"enum\",\"name\":\"E\",\"symbols\":[\"A\",\"B\"]}",
		  "{\"type\":\"enum\",\"name\":\"E\",\"symbols\":[\"A\"]}",
		  "E: enum \"E\" lacks the writer's symbol \"B\" and has no default" },
		{ "{\"type\":\"enum\",\"name\":\"E\",\"symbols\":[\"A\",\"B\"]}",
		  "{\"type\":\"enum\",\"name\":\"E\",\"symbols\":[\"A\",\"U\"],\"default\":\"U\"}", NULL },
		{ "{\"type\":\"enum\",\"name\":\"E\",\"symbols\":[\"A\"]}",
		  "{\"type\":\"enum\",\"name\":\"E\",\"symbols\":[\"B\",\"A\"]}", NULL },
		/* names must match */
		{ "{\"type\":\"record\",\"name\":\"R\",\"fields\":[]}",
		  "{\"type\":\"record\",\"name\":\"Q\",\"fields\":[]}",
		  "Q: the reader's record \"Q\" does not match the writer's \"R\"" },
		{ "{\"type\":\"fixed\",\"name\":\"F\",\"size\":4}",
		  "{\"type\":\"fixed\",\"name\":\"F\",\"size\":8}",
		  "F: fixed \"F\" is 8 bytes in the reader and 4 in the writer" },
		/* deep paths: arrays of records in a nullable record */
		{ "{\"type\":\"record\",\"name\":\"R\",\"fields\":[{\"name\":\"h\",\"type\":[\"null\","
		  "{\"type\":\"record\",\"name\":\"H\",\"fields\":[{\"name\":\"m\",\"type\":{\"type\":"
		  "\"array\",\"items\":{\"type\":\"record\",\"name\":\"M\",\"fields\":[{\"name\":\"d\","
		  "\"type\":\"string\"}]}}}]}],\"default\":null}]}",
		  "{\"type\":\"record\",\"name\":\"R\",\"fields\":[{\"name\":\"h\",\"type\":[\"null\","
		  "{\"type\":\"record\",\"name\":\"H\",\"fields\":[{\"name\":\"m\",\"type\":{\"type\":"
		  "\"array\",\"items\":{\"type\":\"record\",\"name\":\"M\",\"fields\":[{\"name\":\"d\","
		  "\"type\":\"boolean\"}]}}}]}],\"default\":null}]}",
		  "R.h.m[].d: the reader's boolean cannot read the writer's string" },
		/* a field renamed with an alias is read under its old name */
		{ "{\"type\":\"record\",\"name\":\"R\",\"fields\":[{\"name\":\"old\",\"type\":\"int\"}]}",
		  "{\"type\":\"record\",\"name\":\"R\",\"fields\":[{\"name\":\"new\",\"type\":\"int\","
		  "\"aliases\":[\"old\"]}]}", NULL },
		/* a recursive type resolves without looping */
		{ "{\"type\":\"record\",\"name\":\"L\",\"fields\":[{\"name\":\"next\",\"type\":[\"null\","
		  "\"L\"]}]}",
		  "{\"type\":\"record\",\"name\":\"L\",\"fields\":[{\"name\":\"next\",\"type\":[\"null\","
		  "\"L\"]},{\"name\":\"v\",\"type\":\"int\",\"default\":0}]}", NULL },
	};
	char err[512];
	size_t i;

	(void)state;
	for (i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		il_schema *w = schema(cases[i].writer), *r = schema(cases[i].reader);
		il_err rc;

		err[0] = '\0';
		rc = il_schema_check_backward(w, r, err, sizeof(err));
		if (cases[i].msg == NULL && rc != IL_OK)
			fail_msg("case %zu: expected compatible, got: %s", i, err);
		if (cases[i].msg != NULL) {
			if (rc != IL_ERR_PERMANENT)
				fail_msg("case %zu: expected a refusal", i);
			if (strcmp(err, cases[i].msg) != 0)
				fail_msg("case %zu: expected \"%s\", got \"%s\"", i, cases[i].msg, err);
		}
		il_schema_destroy(w);
		il_schema_destroy(r);
	}
}

/* A realistic next version of the real event schema: one new optional field. */
static void
test_eligibility_event_next_version(void **state)
{
	char err[512], *text;
	il_schema_set *set;
	const il_schema *v1;
	il_schema *v2;
	cJSON *j, *fields;

	(void)state;
	set = il_test_load_schemas(IL_SCHEMAS_DIR);
	v1 = il_schema_set_get(set, "EligibilityEvent", 1);
	j = cJSON_Parse(il_schema_text(v1));
	fields = cJSON_GetObjectItemCaseSensitive(j, "fields");
	cJSON_AddItemToArray(fields, cJSON_Parse("{\"name\":\"consent\",\"type\":[\"null\","
	    "\"boolean\"],\"default\":null}"));
	text = cJSON_PrintUnformatted(j);
	v2 = schema(text);
	assert_int_equal(il_schema_check_backward(v1, v2, err, sizeof(err)), IL_OK);
	assert_int_equal(il_schema_check_backward(v2, v1, err, sizeof(err)), IL_OK);
	il_schema_destroy(v2);
	free(text);
	/* the same field without a default breaks every old event */
	cJSON_DeleteItemFromArray(fields, cJSON_GetArraySize(fields) - 1);
	cJSON_AddItemToArray(fields, cJSON_Parse("{\"name\":\"consent\",\"type\":\"boolean\"}"));
	text = cJSON_PrintUnformatted(j);
	v2 = schema(text);
	assert_int_equal(il_schema_check_backward(v1, v2, err, sizeof(err)), IL_ERR_PERMANENT);
	assert_string_equal(err, "EligibilityEvent.consent: field is new in the reader and has no "
	    "default, so data written without it cannot be read");
	il_schema_destroy(v2);
	free(text);
	cJSON_Delete(j);
	il_schema_set_destroy(set);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_tree_schemas_load),
		cmocka_unit_test(test_tree_schemas_backward),
		cmocka_unit_test(test_compatible_fixtures),
		cmocka_unit_test(test_incompatible_fixtures),
		cmocka_unit_test(test_resolution_rules),
		cmocka_unit_test(test_eligibility_event_next_version),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
