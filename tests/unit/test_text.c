/*
 * test_text - UTF-8 validation and JSON kind names, common/text.c.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include <cmocka.h>

#include "text.h"

static void
test_utf8(void **state)
{
	static const struct {
		const char *s;
		size_t len;
		size_t bad;             /* == len: valid */
	} cases[] = {
		{ "", 0, 0 },
		{ "plain", 5, 5 },
		{ "\xc3\x91u\xc3\xb1oa", 7, 7 },                /* Ñuñoa */
		{ "\xe2\x82\xac", 3, 3 },                       /* U+20AC */
		{ "\xf0\x9f\x98\x80", 4, 4 },                   /* U+1F600 */
		{ "\xf4\x8f\xbf\xbf", 4, 4 },                   /* U+10FFFF */
		{ "a\0b", 3, 3 },                               /* NUL is UTF-8 */
		{ "\xe2\x82", 2, 0 },                           /* cut short */
		{ "\xe2\x82\xac", 2, 0 },                       /* cut by len */
		{ "\x80", 1, 0 },                               /* lone continuation */
		{ "\xc1\xbf", 2, 0 },                           /* overlong */
		{ "\xc0\xaf", 2, 0 },                           /* overlong '/' */
		{ "\xe0\x9f\xbf", 3, 0 },                       /* overlong */
		{ "\xf0\x8f\xbf\xbf", 4, 0 },                   /* overlong */
		{ "\xed\xb0\x80", 3, 0 },                       /* surrogate */
		{ "\xf4\x90\x80\x80", 4, 0 },                   /* above U+10FFFF */
		{ "\xf5\x80\x80\x80", 4, 0 },                   /* above U+10FFFF */
		{ "\xff", 1, 0 },
		{ "ok\xff", 3, 2 },
		{ "ab\xe2\x82", 4, 2 },
		{ "\xc3\x28", 2, 0 },                           /* bad continuation */
	};
	size_t i, bad;

	(void)state;
	for (i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		bad = 99;
		if (cases[i].bad == cases[i].len) {
			if (!il_text_utf8_valid(cases[i].s, cases[i].len, &bad))
				fail_msg("case %zu refused at %zu", i, bad);
			assert_int_equal(bad, 99);
		} else {
			if (il_text_utf8_valid(cases[i].s, cases[i].len, &bad))
				fail_msg("case %zu accepted", i);
			assert_int_equal(bad, cases[i].bad);
			assert_false(il_text_utf8_valid(cases[i].s, cases[i].len, NULL));
		}
	}
}

static void
test_json_kind(void **state)
{
	cJSON *j = cJSON_Parse("[null, true, false, 1.5, \"s\", [], {}]");
	cJSON *raw = cJSON_CreateRaw("123456789012345678901");
	static const char *const names[] = {
		"null", "a boolean", "a boolean", "a number", "a string", "an array", "an object",
	};
	static const char *const values[] = {
		"null", "true", "false", "a number", "a string", "an array", "an object",
	};
	const cJSON *e;
	size_t i = 0;

	(void)state;
	assert_non_null(j);
	cJSON_ArrayForEach(e, j) {
		assert_string_equal(il_text_json_kind(e, false), names[i]);
		assert_string_equal(il_text_json_kind(e, true), values[i]);
		i++;
	}
	assert_int_equal(i, 7);
	assert_string_equal(il_text_json_kind(raw, false), "a number");
	assert_string_equal(il_text_json_kind(NULL, false), "an invalid value");
	cJSON_Delete(raw);
	cJSON_Delete(j);
}

static void
test_one_line(void **state)
{
	char out[16];

	(void)state;
	il_text_one_line("could not connect\nDETAIL:  x\n", out, sizeof(out));
	assert_string_equal(out, "could not conne");
	il_text_one_line("  a\t\r\n b \n", out, sizeof(out));
	assert_string_equal(out, "a b");
	il_text_one_line(NULL, out, sizeof(out));
	assert_string_equal(out, "");
	/* no space is left dangling at the cut */
	il_text_one_line("abcdefghijklmn op", out, sizeof(out));
	assert_string_equal(out, "abcdefghijklmn");
	il_text_one_line("x", out, 1);
	assert_string_equal(out, "");
}

static void
test_hex_digit(void **state)
{
	const char *digits = "0123456789abcdef", *upper = "ABCDEF";
	int c;

	(void)state;
	for (c = 0; c < 16; c++)
		assert_int_equal(il_text_hex_digit(digits[c]), c);
	for (c = 0; c < 6; c++)
		assert_int_equal(il_text_hex_digit(upper[c]), 10 + c);
	for (c = -128; c < 128; c++) {
		if (strchr(digits, c) == NULL && strchr(upper, c) == NULL)
			assert_int_equal(il_text_hex_digit((char)c), -1);
	}
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_utf8),
		cmocka_unit_test(test_json_kind),
		cmocka_unit_test(test_one_line),
		cmocka_unit_test(test_hex_digit),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
