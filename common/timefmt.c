/*
 * timefmt.c - calendar dates and points in time as text.
 *
 * Text is read in two passes: first its shape, then the ranges of what was
 * read.  So a text of the wrong shape is refused as such ("") even when a
 * part of it would also be out of range, and a reason such as "no such day"
 * is only given for text that has the right shape.
 */
#include "timefmt.h"

#include <stddef.h>
#include <string.h>

/* 0001-01-01 and 9999-12-31 in days since 1970-01-01: the text forms' range. */
#define IL_TIME_DAYS_MIN (-719162LL)
#define IL_TIME_DAYS_MAX 2932896LL
/* Milliseconds since the epoch reach year 33658 with 15 digits: more is a mistake. */
#define IL_TIME_MILLIS_DIGITS 15
/* Digits of a fraction of a second: nanoseconds at the most. */
#define IL_TIME_FRACTION_DIGITS 9

/* The fields of a date and time as written, before any range check. */
struct parts {
	int y, mo, d;           /* date */
	int h, mi, s;           /* time of day; 0 when not written */
	int ms;                 /* the fraction of a second, in milliseconds */
	int off_sign;           /* -1 or +1; 0 for "Z" or no zone at all */
	int off_h, off_mi;      /* the offset's hours and minutes */
};

/* Days since 1970-01-01 of a proleptic Gregorian date (H. Hinnant's
 * days_from_civil). */
int64_t
il_time_days_from_civil(int64_t y, int m, int d)
{
	int64_t era, yoe, doy, doe;

	y -= m <= 2;
	era = (y >= 0 ? y : y - 399) / 400;
	yoe = y - era * 400;
	doy = (153 * (m + (m > 2 ? -3 : 9)) + 2) / 5 + d - 1;
	doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
	return era * 146097 + doe - 719468;
}

void
il_time_civil_from_days(int64_t z, int64_t *y, int *m, int *d)
{
	int64_t era, doe, yoe, doy, mp;

	z += 719468;
	era = (z >= 0 ? z : z - 146096) / 146097;
	doe = z - era * 146097;
	yoe = (doe - doe / 1460 + doe / 36524 - doe / 146096) / 365;
	doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
	mp = (5 * doy + 2) / 153;
	*d = (int)(doy - (153 * mp + 2) / 5 + 1);
	*m = (int)(mp < 10 ? mp + 3 : mp - 9);
	*y = yoe + era * 400 + (*m <= 2);
}

static int
days_in_month(int64_t y, int m)
{
	static const int mdays[12] = { 31, 28, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31 };
	bool leap = (y % 4 == 0 && y % 100 != 0) || y % 400 == 0;

	return m == 2 && leap ? 29 : mdays[m - 1];
}

/* Reads exactly @p n digits at *p and steps past them; @returns -1 when they
 * are not there (a NUL is not a digit, so this never reads past the text). */
static int
digits(const char **p, int n)
{
	int v = 0, i;

	for (i = 0; i < n; i++) {
		if ((*p)[i] < '0' || (*p)[i] > '9')
			return -1;
		v = v * 10 + ((*p)[i] - '0');
	}
	*p += n;
	return v;
}

/* Reads the shape "YYYY-MM-DD" at *p. */
static bool
scan_date(const char **p, struct parts *t)
{
	const char *s = *p;

	t->y = digits(&s, 4);
	if (t->y < 0 || *s++ != '-')
		return false;
	t->mo = digits(&s, 2);
	if (t->mo < 0 || *s++ != '-')
		return false;
	t->d = digits(&s, 2);
	if (t->d < 0)
		return false;
	*p = s;
	return true;
}

/* Reads the shape "HH:MM:SS[.fraction]" at *p; lenient, seconds are
 * optional and ',' may stand for '.'. */
static bool
scan_clock(const char **p, unsigned flags, struct parts *t)
{
	const char *s = *p;
	int n;

	t->h = digits(&s, 2);
	if (t->h < 0 || *s++ != ':')
		return false;
	t->mi = digits(&s, 2);
	if (t->mi < 0)
		return false;
	if (*s == ':') {
		s++;
		t->s = digits(&s, 2);
		if (t->s < 0)
			return false;
		if (*s == '.' || (*s == ',' && (flags & IL_TIME_LENIENT))) {
			s++;
			for (n = 0; s[n] >= '0' && s[n] <= '9'; n++) {
				if (n < 3)
					t->ms = t->ms * 10 + (s[n] - '0');
			}
			if (n == 0 || n > IL_TIME_FRACTION_DIGITS)
				return false;
			s += n;
			/* ".5" is 500 ms */
			for (; n < 3; n++)
				t->ms *= 10;
		}
	} else if (!(flags & IL_TIME_LENIENT)) {
		return false;
	}
	*p = s;
	return true;
}

/* Reads the shape "Z" or "+HH:MM" / "-HH:MM" at *p; lenient, also "z",
 * "+HHMM" and no zone at all. */
static bool
scan_zone(const char **p, unsigned flags, struct parts *t)
{
	bool lenient = (flags & IL_TIME_LENIENT) != 0;
	const char *s = *p;

	if (*s == 'Z' || (*s == 'z' && lenient)) {
		s++;
	} else if (*s == '+' || *s == '-') {
		t->off_sign = *s++ == '-' ? -1 : 1;
		t->off_h = digits(&s, 2);
		if (t->off_h < 0)
			return false;
		if (*s == ':')
			s++;
		else if (!lenient)
			return false;
		t->off_mi = digits(&s, 2);
		if (t->off_mi < 0)
			return false;
	} else if (!lenient) {
		return false;
	}
	*p = s;
	return true;
}

/* The range checks of a date read by scan_date(). */
static const char *
check_date(const struct parts *t, int64_t *days)
{
	if (t->y < 1)
		return "no year 0000";
	if (t->mo < 1 || t->mo > 12)
		return "no such month";
	if (t->d < 1 || t->d > days_in_month(t->y, t->mo))
		return "no such day";
	*days = il_time_days_from_civil(t->y, t->mo, t->d);
	return NULL;
}

const char *
il_time_parse_date(const char *text, int64_t *days)
{
	struct parts t = { 0 };
	const char *s = text;

	if (text == NULL || !scan_date(&s, &t) || *s != '\0')
		return "";
	return check_date(&t, days);
}

/* Reads 1 to 15 digits of milliseconds; @returns false for anything else. */
static bool
parse_millis(const char *text, int64_t *ms)
{
	size_t len = strlen(text), i;
	int64_t v = 0;

	if (len == 0 || len > IL_TIME_MILLIS_DIGITS || strspn(text, "0123456789") != len)
		return false;
	for (i = 0; i < len; i++)
		v = v * 10 + (text[i] - '0');
	*ms = v;
	return true;
}

const char *
il_time_parse_ms(const char *text, unsigned flags, int64_t *ms)
{
	struct parts t = { 0 };
	const char *s = text, *why;
	int64_t days;

	if (text == NULL)
		return "";
	if ((flags & IL_TIME_MILLIS) && parse_millis(text, ms))
		return NULL;
	if (!scan_date(&s, &t))
		return "";
	if (*s == 'T' || ((*s == 't' || *s == ' ') && (flags & IL_TIME_LENIENT))) {
		s++;
		if (!scan_clock(&s, flags, &t) || !scan_zone(&s, flags, &t))
			return "";
	} else if (!(flags & IL_TIME_LENIENT)) {
		return "";
	}
	if (*s != '\0')
		return "";
	why = check_date(&t, &days);
	if (why != NULL)
		return why;
	if (t.h > 23 || t.mi > 59 || t.s > 59)
		return "no such time of day";
	if (t.off_h > 23 || t.off_mi > 59)
		return "no such offset";
	*ms = days * IL_TIME_MS_PER_DAY + ((int64_t)t.h * 3600 + t.mi * 60 + t.s) * 1000 + t.ms -
	    t.off_sign * ((int64_t)t.off_h * 60 + t.off_mi) * 60000;
	return NULL;
}

/* Writes @p v as exactly @p n digits (decoding formats many dates: no printf). */
static char *
put_digits(char *p, int v, int n)
{
	int i;

	for (i = n - 1; i >= 0; i--) {
		p[i] = (char)('0' + v % 10);
		v /= 10;
	}
	return p + n;
}

bool
il_time_format_date(int64_t days, char out[IL_TIME_DATE_LEN])
{
	bool in_range = days >= IL_TIME_DAYS_MIN && days <= IL_TIME_DAYS_MAX;
	char *p = out;
	int64_t y;
	int m, d;

	if (days < IL_TIME_DAYS_MIN)
		days = IL_TIME_DAYS_MIN;
	if (days > IL_TIME_DAYS_MAX)
		days = IL_TIME_DAYS_MAX;
	il_time_civil_from_days(days, &y, &m, &d);
	p = put_digits(p, (int)y, 4);
	*p++ = '-';
	p = put_digits(p, m, 2);
	*p++ = '-';
	p = put_digits(p, d, 2);
	*p = '\0';
	return in_range;
}

bool
il_time_format_ms(int64_t ms, char out[IL_TIME_LEN])
{
	const int64_t lo = IL_TIME_DAYS_MIN * IL_TIME_MS_PER_DAY;
	const int64_t hi = (IL_TIME_DAYS_MAX + 1) * IL_TIME_MS_PER_DAY - 1;
	bool in_range = ms >= lo && ms <= hi;
	int64_t days, rem;
	char *p;

	if (ms < lo)
		ms = lo;
	if (ms > hi)
		ms = hi;
	/* Floor division: -1 ms is the last millisecond of 1969-12-31. */
	days = ms / IL_TIME_MS_PER_DAY;
	rem = ms % IL_TIME_MS_PER_DAY;
	if (rem < 0) {
		rem += IL_TIME_MS_PER_DAY;
		days--;
	}
	il_time_format_date(days, out);
	p = out + IL_TIME_DATE_LEN - 1;
	*p++ = 'T';
	p = put_digits(p, (int)(rem / 3600000), 2);
	*p++ = ':';
	p = put_digits(p, (int)(rem / 60000 % 60), 2);
	*p++ = ':';
	p = put_digits(p, (int)(rem / 1000 % 60), 2);
	*p++ = '.';
	p = put_digits(p, (int)(rem % 1000), 3);
	*p++ = 'Z';
	*p = '\0';
	return in_range;
}
