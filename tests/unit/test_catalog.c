/*
 * test_catalog - the reference data table of workers/enroll/catalog.c:
 * copies, replacement, many entries, unknown codes.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>

#include <cmocka.h>

#include "../../workers/enroll/catalog.h"

static void
village(il_imis_village *v, const char *code, const char *uuid, const char *name)
{
	memset(v, 0, sizeof(*v));
	snprintf(v->code, sizeof(v->code), "%s", code);
	snprintf(v->uuid, sizeof(v->uuid), "%s", uuid);
	snprintf(v->name, sizeof(v->name), "%s", name);
	snprintf(v->municipality, sizeof(v->municipality), "Ward One");
	snprintf(v->district, sizeof(v->district), "District One");
	snprintf(v->region, sizeof(v->region), "Region One");
}

static void
test_villages(void **state)
{
	il_catalog *c = il_catalog_new();
	il_imis_village v;
	const il_imis_village *got;

	(void)state;
	assert_null(il_catalog_village(c, "R1D1M1V1"));
	village(&v, "R1D1M1V1", "11111111-1111-4111-8111-111111111111", "Village One");
	il_catalog_add_village(c, &v);
	/* the catalogue keeps a copy: the caller's struct may change */
	memset(&v, 'x', sizeof(v));
	got = il_catalog_village(c, "R1D1M1V1");
	assert_non_null(got);
	assert_string_equal(got->uuid, "11111111-1111-4111-8111-111111111111");
	assert_string_equal(got->name, "Village One");
	assert_string_equal(got->municipality, "Ward One");
	assert_string_equal(got->district, "District One");
	assert_string_equal(got->region, "Region One");
	assert_string_equal(got->code, "R1D1M1V1");
	assert_null(il_catalog_village(c, "R1D1M1V2"));
	assert_null(il_catalog_village(c, NULL));

	/* a second add of one code replaces the first */
	village(&v, "R1D1M1V1", "22222222-2222-4222-8222-222222222222", "Village Renamed");
	il_catalog_add_village(c, &v);
	got = il_catalog_village(c, "R1D1M1V1");
	assert_string_equal(got->uuid, "22222222-2222-4222-8222-222222222222");
	assert_string_equal(got->name, "Village Renamed");

	/* a code that fills its buffer to the last byte is cut, not overrun */
	memset(&v, 0, sizeof(v));
	memset(v.code, 'A', sizeof(v.code));
	il_catalog_add_village(c, &v);
	assert_non_null(il_catalog_village(c, "AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA"));
	il_catalog_destroy(c);
}

static void
test_officers_products(void **state)
{
	il_catalog *c = il_catalog_new();

	(void)state;
	il_catalog_add_officer(c, "E00001", "33333333-3333-4333-8333-333333333333");
	il_catalog_add_product(c, "FCTP", "44444444-4444-4444-8444-444444444444");
	/* officers and products are separate namespaces */
	il_catalog_add_product(c, "E00001", "55555555-5555-4555-8555-555555555555");
	assert_string_equal(il_catalog_officer(c, "E00001"), "33333333-3333-4333-8333-333333333333");
	assert_string_equal(il_catalog_product(c, "FCTP"), "44444444-4444-4444-8444-444444444444");
	assert_string_equal(il_catalog_product(c, "E00001"), "55555555-5555-4555-8555-555555555555");
	assert_null(il_catalog_officer(c, "FCTP"));
	assert_null(il_catalog_product(c, "SCHP"));
	assert_null(il_catalog_officer(c, NULL));
	il_catalog_add_officer(c, "E00001", "66666666-6666-4666-8666-666666666666");
	assert_string_equal(il_catalog_officer(c, "E00001"), "66666666-6666-4666-8666-666666666666");
	/* NULLs are ignored, not stored */
	il_catalog_add_officer(c, NULL, "66666666-6666-4666-8666-666666666666");
	il_catalog_add_product(c, "X", NULL);
	assert_null(il_catalog_product(c, "X"));
	il_catalog_destroy(c);
}

static void
test_many(void **state)
{
	il_catalog *c = il_catalog_new();
	il_imis_village v;
	char code[32], uuid[IL_IMIS_UUID_LEN];
	int i;

	(void)state;
	/* far more entries than buckets: every chain is walked */
	for (i = 0; i < 5000; i++) {
		snprintf(code, sizeof(code), "V%05d", i);
		snprintf(uuid, sizeof(uuid), "%08d-0000-4000-8000-000000000000", i);
		village(&v, code, uuid, code);
		il_catalog_add_village(c, &v);
		il_catalog_add_product(c, code, uuid);
	}
	for (i = 0; i < 5000; i++) {
		snprintf(code, sizeof(code), "V%05d", i);
		snprintf(uuid, sizeof(uuid), "%08d-0000-4000-8000-000000000000", i);
		assert_string_equal(il_catalog_village(c, code)->uuid, uuid);
		assert_string_equal(il_catalog_product(c, code), uuid);
	}
	assert_null(il_catalog_village(c, "V05000"));
	il_catalog_destroy(c);
}

static void
test_null(void **state)
{
	(void)state;
	il_catalog_destroy(NULL);
	assert_null(il_catalog_village(NULL, "x"));
	assert_null(il_catalog_officer(NULL, "x"));
	assert_null(il_catalog_product(NULL, "x"));
	il_catalog_add_village(NULL, NULL);
	il_catalog_add_officer(NULL, "x", "y");
	il_catalog_add_product(NULL, "x", "y");
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_villages),
		cmocka_unit_test(test_officers_products),
		cmocka_unit_test(test_many),
		cmocka_unit_test(test_null),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
