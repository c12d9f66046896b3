/*
 * test_timefmt - dates and points in time as text, common/timefmt.c.
 *
 * The strict form is what the Avro JSON form reads and writes; the lenient
 * one, with milliseconds, is what the operator tool reads on its command
 * line.  Refusals are asserted on their reason, which ends up in messages.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>

#include <cmocka.h>

#include "timefmt.h"

static void
test_civil_days(void **state)
{
	int64_t y, days;
	int m, d;

	(void)state;
	assert_int_equal(il_time_days_from_civil(1970, 1, 1), 0);
	assert_int_equal(il_time_days_from_civil(2000, 3, 1), 11017);
	assert_int_equal(il_time_days_from_civil(1, 1, 1), -719162);
	assert_int_equal(il_time_days_from_civil(9999, 12, 31), 2932896);
	/* every day of four centuries goes there and back */
	for (days = -146097; days < 2 * 146097; days++) {
		il_time_civil_from_days(days, &y, &m, &d);
		assert_int_equal(il_time_days_from_civil(y, m, d), days);
	}
	il_time_civil_from_days(-1, &y, &m, &d);
	assert_true(y == 1969 && m == 12 && d == 31);
}

static void
test_date_parse_format(void **state)
{
	static const struct {
		const char *text;
		const char *why;        /* NULL: accepted */
	} cases[] = {
		{ "2024-02-29", NULL },
		{ "0001-01-01", NULL },
		{ "9999-12-31", NULL },
		{ "2023-02-29", "no such day" },
		{ "1900-02-29", "no such day" },
		{ "1990-04-31", "no such day" },
		{ "1990-04-00", "no such day" },
		{ "1990-13-01", "no such month" },
		{ "1990-00-01", "no such month" },
		{ "0000-01-01", "no year 0000" },
		{ "1990-1-01", "" },
		{ "31/12/1990", "" },
		{ "1990-04-12T00:00:00Z", "" },
		{ "1990-04-12 ", "" },
		{ "", "" },
	};
	char out[IL_TIME_DATE_LEN];
	int64_t days;
	size_t i;

	(void)state;
	for (i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		const char *why;

		days = 12345;
		why = il_time_parse_date(cases[i].text, &days);
		if (cases[i].why == NULL) {
			if (why != NULL)
				fail_msg("\"%s\" refused: \"%s\"", cases[i].text, why);
			assert_true(il_time_format_date(days, out));
			assert_string_equal(out, cases[i].text);
		} else {
			if (why == NULL)
				fail_msg("\"%s\" accepted", cases[i].text);
			assert_string_equal(why, cases[i].why);
			assert_int_equal(days, 12345);
		}
	}
	assert_string_equal(il_time_parse_date(NULL, &days), "");
	/* outside the text form's range: the nearer end, and false */
	assert_false(il_time_format_date(-719163, out));
	assert_string_equal(out, "0001-01-01");
	assert_false(il_time_format_date(2932897, out));
	assert_string_equal(out, "9999-12-31");
}

static void
test_format_ms(void **state)
{
	char ts[IL_TIME_LEN];

	(void)state;
	assert_true(il_time_format_ms(0, ts));
	assert_string_equal(ts, "1970-01-01T00:00:00.000Z");
	assert_true(il_time_format_ms(1795255200123LL, ts));
	assert_string_equal(ts, "2026-11-21T10:00:00.123Z");
	assert_true(il_time_format_ms(951782400000LL, ts));
	assert_string_equal(ts, "2000-02-29T00:00:00.000Z");
	assert_true(il_time_format_ms(-1, ts));
	assert_string_equal(ts, "1969-12-31T23:59:59.999Z");
	assert_true(il_time_format_ms(253402300799999LL, ts));
	assert_string_equal(ts, "9999-12-31T23:59:59.999Z");
	assert_false(il_time_format_ms(253402300800000LL, ts));
	assert_string_equal(ts, "9999-12-31T23:59:59.999Z");
	assert_false(il_time_format_ms(INT64_MIN, ts));
	assert_string_equal(ts, "0001-01-01T00:00:00.000Z");
}

/* @p text parses with @p flags to @p expect. */
static void
assert_parses(const char *text, unsigned flags, int64_t expect)
{
	int64_t ms = 7;
	const char *why = il_time_parse_ms(text, flags, &ms);

	if (why != NULL)
		fail_msg("\"%s\" refused: \"%s\"", text, why);
	assert_int_equal(ms, expect);
}

/* @p text is refused with @p flags for reason @p expect (NULL: any), and
 * the output is left alone. */
static void
assert_refused(const char *text, unsigned flags, const char *expect)
{
	int64_t ms = 7;
	const char *why = il_time_parse_ms(text, flags, &ms);

	if (why == NULL)
		fail_msg("\"%s\" accepted", text);
	if (expect != NULL && strcmp(why, expect) != 0)
		fail_msg("\"%s\": expected \"%s\", got \"%s\"", text, expect, why);
	assert_int_equal(ms, 7);
}

/* The strict form: what the Avro JSON form reads. */
static void
test_parse_strict(void **state)
{
	static const char *const shape[] = {
		"2026-11-21 10:00:00Z", "2026-11-21t10:00:00Z", "2026-11-21T10:00:00",
		"2026-11-21T10:00Z", "2026-11-21T10:00:00z", "2026-11-21T10:00:00+0200",
		"2026-11-21T10:00:00+2:00", "2026-11-21T10:00:00.Z", "2026-11-21T10:00:00,5Z",
		"2026-11-21T10:00:00.1234567890Z", "2026-11-21T10:00:00ZZ", "2026-11-21",
		"1795255200123", "yesterday", "",
	};
	size_t i;

	(void)state;
	assert_parses("2026-11-21T10:00:00.123Z", 0, 1795255200123LL);
	assert_parses("2026-11-21T12:00:00+02:00", 0, 1795255200000LL);
	assert_parses("2026-11-21T01:30:00-03:30", 0, 1795237200000LL);
	assert_parses("2026-11-21T10:00:00.5Z", 0, 1795255200500LL);
	assert_parses("2026-11-21T10:00:00.123456789Z", 0, 1795255200123LL);
	assert_parses("1969-12-31T23:59:59.999Z", 0, -1);
	for (i = 0; i < sizeof(shape) / sizeof(shape[0]); i++)
		assert_refused(shape[i], 0, "");
	assert_refused("2026-11-21T24:00:00Z", 0, "no such time of day");
	assert_refused("2026-11-21T10:60:00Z", 0, "no such time of day");
	assert_refused("2026-11-21T10:00:60Z", 0, "no such time of day");
	assert_refused("2026-02-29T10:00:00Z", 0, "no such day");
	assert_refused("2026-13-01T10:00:00Z", 0, "no such month");
	assert_refused("0000-12-31T10:00:00Z", 0, "no year 0000");
	assert_refused("2026-11-21T10:00:00+24:00", 0, "no such offset");
	assert_refused("2026-11-21T10:00:00+01:60", 0, "no such offset");
	assert_refused(NULL, IL_TIME_LENIENT | IL_TIME_MILLIS, "");
}

/* The lenient form with milliseconds: what the operator tool reads. */
static void
test_parse_lenient(void **state)
{
	static const char *const bad[] = {
		"2026-02-29T00:00:00Z", "2026-11-21T24:00:00Z", "2026-11-21T10:00:00Q",
		"2026-11-21T10", "yesterday", "", "12345678901234567", "-5", "+5", " 5",
	};
	const unsigned flags = IL_TIME_LENIENT | IL_TIME_MILLIS;
	size_t i;

	(void)state;
	assert_parses("2026-11-21T10:00:00.123Z", flags, 1795255200123LL);
	assert_parses("2026-11-21T12:00:00+02:00", flags, 1795255200000LL);
	assert_parses("2026-11-21T05:30-0430", flags, 1795255200000LL);
	assert_parses("2026-11-21t10:00:00z", flags, 1795255200000LL);
	assert_parses("2026-11-21 10:00:00,25", flags, 1795255200250LL);
	assert_parses("2026-11-21T10:00", flags, 1795255200000LL);
	assert_parses("2026-11-21", flags, 1795219200000LL);
	assert_parses("1795255200123", flags, 1795255200123LL);
	assert_parses("0", flags, 0);
	for (i = 0; i < sizeof(bad) / sizeof(bad[0]); i++)
		assert_refused(bad[i], flags, NULL);
	/* milliseconds only with their flag */
	assert_refused("1795255200123", IL_TIME_LENIENT, "");
}

/* What is formatted parses back to the same millisecond. */
static void
test_round_trip(void **state)
{
	char ts[IL_TIME_LEN];
	int64_t ms, back;

	(void)state;
	for (ms = -62135596800000LL; ms < 253402300799999LL; ms += 987654321987LL) {
		assert_true(il_time_format_ms(ms, ts));
		assert_null(il_time_parse_ms(ts, 0, &back));
		assert_int_equal(back, ms);
	}
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_civil_days),
		cmocka_unit_test(test_date_parse_format),
		cmocka_unit_test(test_format_ms),
		cmocka_unit_test(test_parse_strict),
		cmocka_unit_test(test_parse_lenient),
		cmocka_unit_test(test_round_trip),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
