/*
 * test_jwt.c - HS256 tokens: made and checked, and refused when expired,
 * tampered with, signed with another key or not tokens at all.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "jwt.h"

static const char key[] = "0123456789abcdef0123456789abcdef";
static char errbuf[256];

static char *
make(const char *sub, double exp)
{
	cJSON *c = cJSON_CreateObject();
	char *t;

	cJSON_AddStringToObject(c, "sub", sub);
	cJSON_AddNumberToObject(c, "exp", exp);
	t = il_jwt_make(key, sizeof(key) - 1, c);
	cJSON_Delete(c);
	assert_non_null(t);
	return t;
}

static void
test_roundtrip(void **state)
{
	char *t = make("client-a", 2000);
	cJSON *claims = NULL;

	(void)state;
	assert_int_equal(il_jwt_check(key, sizeof(key) - 1, t, 1999, &claims, errbuf, sizeof(errbuf)), IL_OK);
	assert_string_equal(cJSON_GetObjectItem(claims, "sub")->valuestring, "client-a");
	cJSON_Delete(claims);
	assert_int_equal(il_jwt_check(key, sizeof(key) - 1, t, 1999, NULL, errbuf, sizeof(errbuf)), IL_OK);
	free(t);
}

static void
test_expired(void **state)
{
	char *t = make("client-a", 2000);
	cJSON *claims = (cJSON *)1;

	(void)state;
	assert_int_equal(il_jwt_check(key, sizeof(key) - 1, t, 2000, &claims, errbuf, sizeof(errbuf)), IL_ERR_TIMEOUT);
	assert_null(claims);
	assert_non_null(strstr(errbuf, "expired"));
	free(t);
}

static void
test_tampered(void **state)
{
	char *t = make("client-a", 2000), *dot;

	(void)state;
	/* Another key. */
	assert_int_equal(il_jwt_check("other", 5, t, 1000, NULL, errbuf, sizeof(errbuf)), IL_ERR_DECODE);
	assert_non_null(strstr(errbuf, "signature"));
	/* One payload character changed. */
	dot = strchr(t, '.') + 1;
	*dot = *dot == 'A' ? 'B' : 'A';
	assert_int_equal(il_jwt_check(key, sizeof(key) - 1, t, 1000, NULL, errbuf, sizeof(errbuf)), IL_ERR_DECODE);
	free(t);
}

static void
test_garbage(void **state)
{
	static const char *const bad[] = {
		"", "abc", "a.b", "a.b.c.d", "!!.??.**",
		/* {"alg":"none"} . {"exp":9999999999} . (no signature) */
		"eyJhbGciOiJub25lIn0.eyJleHAiOjk5OTk5OTk5OTl9.",
	};
	size_t i;

	(void)state;
	for (i = 0; i < sizeof(bad) / sizeof(bad[0]); i++)
		assert_int_equal(il_jwt_check(key, sizeof(key) - 1, bad[i], 0, NULL, errbuf, sizeof(errbuf)),
		    IL_ERR_DECODE);
	assert_int_equal(il_jwt_check(key, sizeof(key) - 1, NULL, 0, NULL, errbuf, sizeof(errbuf)), IL_ERR_DECODE);
	assert_null(il_jwt_make(key, sizeof(key) - 1, NULL));
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_roundtrip),
		cmocka_unit_test(test_expired),
		cmocka_unit_test(test_tampered),
		cmocka_unit_test(test_garbage),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
