/*
 * timefmt.h - calendar dates and points in time as text.
 *
 * The JSON form of the event schemas writes a date as "YYYY-MM-DD" and a
 * timestamp-millis as "YYYY-MM-DDTHH:MM:SS.mmmZ"; the operator tool also
 * reads looser ISO-8601 and plain milliseconds from its command line.  All
 * arithmetic is on the proleptic Gregorian calendar in UTC (H. Hinnant's
 * days_from_civil), so no time zone, locale or libc range limit is involved.
 * The text forms cover the years 0001 to 9999.
 */
#ifndef IL_TIMEFMT_H
#define IL_TIMEFMT_H

#include <stdbool.h>
#include <stdint.h>

#define IL_TIME_MS_PER_DAY 86400000LL
/* "YYYY-MM-DD" plus the NUL */
#define IL_TIME_DATE_LEN 11
/* "YYYY-MM-DDTHH:MM:SS.mmmZ" plus the NUL */
#define IL_TIME_LEN 25

/*
 * Flags of il_time_parse_ms(); without them only the strict form is read:
 * "YYYY-MM-DDTHH:MM:SS[.fraction](Z|+HH:MM|-HH:MM)", 1 to 9 digits of
 * fraction (those past milliseconds dropped).
 */
#define IL_TIME_LENIENT 0x1     /* also 't' or ' ' for 'T', no seconds, ',' for '.', 'z',
                                 * "+HHMM", no zone (UTC), a bare date (midnight UTC) */
#define IL_TIME_MILLIS 0x2      /* also 1 to 15 digits: milliseconds since the epoch */

/** @returns the days since 1970-01-01 of year @p y, month @p m (1-12), day @p d. */
int64_t il_time_days_from_civil(int64_t y, int m, int d);

/** Sets @p y, @p m (1-12) and @p d to the date @p days after 1970-01-01. */
void il_time_civil_from_days(int64_t days, int64_t *y, int *m, int *d);

/**
 * @brief Parses @p text, all of it, as "YYYY-MM-DD", a real calendar date.
 * @returns NULL with @p days set to the days since 1970-01-01, or why the
 * text is refused, leaving @p days alone: "" when it is not of that form at
 * all, else "no year 0000", "no such month" or "no such day".
 */
const char *il_time_parse_date(const char *text, int64_t *days);

/**
 * @brief Formats @p days since 1970-01-01 as "YYYY-MM-DD" into @p out.
 * @returns false when the date lies outside 0001-01-01..9999-12-31, which
 * has no such form; @p out then holds the nearer end of that range.
 */
bool il_time_format_date(int64_t days, char out[IL_TIME_DATE_LEN]);

/**
 * @brief Parses @p text, all of it, as a point in time in the forms
 * @p flags allow (IL_TIME_*; 0: the strict ISO-8601 form).
 * @returns NULL with @p ms set to milliseconds since the epoch, or why the
 * text is refused, leaving @p ms alone: "" when it is not of an allowed form
 * at all, else a reason such as "no such day", "no such time of day" or
 * "no such offset".
 */
const char *il_time_parse_ms(const char *text, unsigned flags, int64_t *ms);

/**
 * @brief Formats @p ms since the epoch as ISO-8601 UTC with milliseconds,
 * "2026-11-21T10:00:00.000Z", into @p out.
 * @returns false when the time lies outside the years 0001..9999; @p out
 * then holds the nearer end of that range.
 */
bool il_time_format_ms(int64_t ms, char out[IL_TIME_LEN]);

#endif
