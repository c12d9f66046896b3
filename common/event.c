/*
 * event.c - event ids, Kafka keys and the openSPP body mapping.
 *
 * Everything here is pure: no I/O, no global state, so the producers (the
 * operator tool, the CDC producer, the DCI gateway) agree on ids and keys by
 * construction.
 */
#include "event.h"

#include <stdarg.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <openssl/evp.h>

#include "buf.h"
#include "xalloc.h"

/* Problems beyond this many are counted, not described: a hostile body with
 * thousands of unknown members must not cost thousands of formatted lines. */
#define PROBLEMS_MAX 50
/* The problem list is built here before it is cut to the caller's buffer. */
#define PROBLEMS_BYTES 8192
/* An offending value is quoted in a reason only up to this many bytes. */
#define QUOTE_MAX 40

/* The members of the seed's enrollment body, plus the two that openSPP's REST
 * API adds to the same document ("id", the res_partner id, and "age", which is
 * computed from the birthdate and so carries no fact of its own). */
enum body_member {
	B_NAME, B_IDS, B_REGISTRATION_DATE, B_PHONE_NUMBERS, B_EMAIL, B_ADDRESS,
	B_GIVEN_NAME, B_ADDL_NAME, B_FAMILY_NAME, B_GENDER, B_BIRTHDATE,
	B_BIRTH_PLACE, B_IS_GROUP, B_ID, B_AGE, B_COUNT
};
static const char *const openspp_members[B_COUNT] = {
	"name", "ids", "registration_date", "phone_numbers", "email",
	"address", "given_name", "addl_name", "family_name", "gender",
	"birthdate", "birth_place", "is_group", "id", "age",
};

static const char *const source_kinds[] = {
	"CDC", "POLL", "PUSH", "FILE", "REPLAY",
};

/* The problems found in one body, described one per line. */
struct problems {
	il_buf text;        /* the lines, '\n'-separated */
	int count;          /* every problem found, described or not */
	int omitted;        /* problems counted but not described */
};

void
il_event_id(const char *system, const char *instance, const char *kind,
    const char *position, const char *table, const char *pk, char out[65])
{
	const char *fields[6] = { system, instance, kind, position, table, pk };
	static const char hex[] = "0123456789abcdef";
	unsigned char md[EVP_MAX_MD_SIZE];
	unsigned int mdlen = 0;
	size_t total = 0, off = 0, i;
	unsigned char small[512], *data = small;

	for (i = 0; i < 6; i++)
		total += (fields[i] != NULL ? strlen(fields[i]) : 0) + 1;
	/* The usual fields fit on the stack: no allocation per event. */
	if (total > sizeof(small))
		data = il_xmalloc(total);
	for (i = 0; i < 6; i++) {
		size_t n = fields[i] != NULL ? strlen(fields[i]) : 0;

		if (n > 0)
			memcpy(data + off, fields[i], n);
		off += n;
		/* The separator keeps ("ab", "c") and ("a", "bc") apart. */
		if (i < 5)
			data[off++] = '\0';
	}
	if (!EVP_Digest(data, off, md, &mdlen, EVP_sha256(), NULL) || mdlen != 32) {
		/* SHA-256 is built into every libcrypto: failing here means a
		 * broken installation, and an event without an id must never go
		 * out. */
		fprintf(stderr, "{\"level\":\"fatal\",\"msg\":\"could not compute SHA-256: libcrypto failed\"}\n");
		abort();
	}
	if (data != small)
		free(data);
	for (i = 0; i < 32; i++) {
		out[2 * i] = hex[md[i] >> 4];
		out[2 * i + 1] = hex[md[i] & 0x0f];
	}
	out[64] = '\0';
}

long long
il_event_now_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_REALTIME, &ts);
	return (long long)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

static bool
is_leap(long long y)
{
	return (y % 4 == 0 && y % 100 != 0) || y % 400 == 0;
}

static int
days_in_month(long long y, int m)
{
	static const int days[12] = { 31, 28, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31 };

	if (m == 2 && is_leap(y))
		return 29;
	return days[m - 1];
}

/* Days since 1970-01-01 of a proleptic Gregorian date (H. Hinnant's
 * days_from_civil), so no time zone or libc range limit is involved. */
static long long
days_from_civil(long long y, int m, int d)
{
	long long era, yoe, doy, doe;

	y -= m <= 2;
	era = (y >= 0 ? y : y - 399) / 400;
	yoe = y - era * 400;
	doy = (153 * (m + (m > 2 ? -3 : 9)) + 2) / 5 + d - 1;
	doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
	return era * 146097 + doe - 719468;
}

static void
civil_from_days(long long z, long long *y, int *m, int *d)
{
	long long era, doe, yoe, doy, mp;

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

char *
il_event_format_time(long long ms, char out[IL_EVENT_TIME_LEN])
{
	/* 0000-01-01 and 9999-12-31T23:59:59.999, the range of the text form */
	const long long lo = -62167219200000LL, hi = 253402300799999LL;
	long long days, rem, y;
	char tmp[96];
	int m, d;

	if (ms < lo)
		ms = lo;
	if (ms > hi)
		ms = hi;
	days = ms / 86400000;
	rem = ms % 86400000;
	if (rem < 0) {
		rem += 86400000;
		days--;
	}
	civil_from_days(days, &y, &m, &d);
	/* Formatted through a roomy buffer: the compiler cannot see that the
	 * clamp keeps every field to its width. */
	snprintf(tmp, sizeof(tmp), "%04lld-%02d-%02dT%02lld:%02lld:%02lld.%03lldZ",
	    y, m, d, rem / 3600000, rem / 60000 % 60, rem / 1000 % 60, rem % 1000);
	memcpy(out, tmp, IL_EVENT_TIME_LEN - 1);
	out[IL_EVENT_TIME_LEN - 1] = '\0';
	return out;
}

/* Reads exactly @p n digits at *p; @returns -1 when they are not there. */
static long long
digits(const char **p, int n)
{
	long long v = 0;
	int i;

	for (i = 0; i < n; i++) {
		if ((*p)[i] < '0' || (*p)[i] > '9')
			return -1;
		v = v * 10 + ((*p)[i] - '0');
	}
	*p += n;
	return v;
}

/* Parses "YYYY-MM-DD" at *p, a real calendar date; @returns false if not. */
static bool
parse_date(const char **p, long long *y, int *m, int *d)
{
	const char *s = *p;
	long long yy, mm, dd;

	yy = digits(&s, 4);
	if (yy < 0 || *s++ != '-')
		return false;
	mm = digits(&s, 2);
	if (mm < 1 || mm > 12 || *s++ != '-')
		return false;
	dd = digits(&s, 2);
	if (dd < 1 || dd > days_in_month(yy, (int)mm))
		return false;
	*y = yy;
	*m = (int)mm;
	*d = (int)dd;
	*p = s;
	return true;
}

static bool
is_date(const char *s)
{
	long long y;
	int m, d;

	return parse_date(&s, &y, &m, &d) && *s == '\0';
}

/* Parses "HH:MM[:SS[.fff]]" at *p into milliseconds of the day. */
static bool
parse_clock(const char **p, long long *ms)
{
	const char *s = *p;
	long long hh, mi, ss = 0, frac = 0;
	int scale = 100;

	hh = digits(&s, 2);
	if (hh < 0 || hh > 23 || *s++ != ':')
		return false;
	mi = digits(&s, 2);
	if (mi < 0 || mi > 59)
		return false;
	if (*s == ':') {
		s++;
		ss = digits(&s, 2);
		if (ss < 0 || ss > 59)
			return false;
		if (*s == '.' || *s == ',') {
			s++;
			if (*s < '0' || *s > '9')
				return false;
			/* Digits beyond milliseconds are read and dropped. */
			for (; *s >= '0' && *s <= '9'; s++) {
				frac += (*s - '0') * scale;
				scale /= 10;
			}
		}
	}
	*ms = ((hh * 60 + mi) * 60 + ss) * 1000 + frac;
	*p = s;
	return true;
}

/* Parses "Z" or "+HH:MM" / "-HHMM" at *p into an offset in milliseconds. */
static bool
parse_zone(const char **p, long long *off)
{
	const char *s = *p;
	long long hh, mi;
	int sign;

	if (*s == 'Z' || *s == 'z') {
		*off = 0;
		*p = s + 1;
		return true;
	}
	if (*s != '+' && *s != '-')
		return false;
	sign = *s++ == '-' ? -1 : 1;
	hh = digits(&s, 2);
	if (hh < 0 || hh > 23)
		return false;
	if (*s == ':')
		s++;
	mi = digits(&s, 2);
	if (mi < 0 || mi > 59)
		return false;
	*off = sign * (hh * 60 + mi) * 60000;
	*p = s;
	return true;
}

il_err
il_event_parse_time(const char *text, long long *ms)
{
	const char *s = text;
	long long y, clock = 0, off = 0, v = 0;
	int m, d;

	if (text == NULL || *text == '\0')
		return IL_ERR_INVALID;
	if (strspn(text, "0123456789") == strlen(text)) {
		/* 15 digits reach year 33658: anything longer is a mistake. */
		if (strlen(text) > 15)
			return IL_ERR_INVALID;
		for (; *s != '\0'; s++)
			v = v * 10 + (*s - '0');
		*ms = v;
		return IL_OK;
	}
	if (!parse_date(&s, &y, &m, &d))
		return IL_ERR_INVALID;
	if (*s == 'T' || *s == 't' || *s == ' ') {
		s++;
		if (!parse_clock(&s, &clock))
			return IL_ERR_INVALID;
		/* Without a zone a time is taken as UTC, like the JSON form. */
		if (*s != '\0' && !parse_zone(&s, &off))
			return IL_ERR_INVALID;
	}
	if (*s != '\0')
		return IL_ERR_INVALID;
	*ms = days_from_civil(y, m, d) * 86400000 + clock - off;
	return IL_OK;
}

/* Strict UTF-8 (no overlong forms, no surrogates, nothing above U+10FFFF):
 * Avro strings are UTF-8 and a bad byte must be refused by field name here
 * rather than by the encoder later. */
bool
il_event_utf8_valid(const char *str, size_t len)
{
	const unsigned char *s = (const unsigned char *)str;
	const unsigned char *end = s + len;

	while (s < end) {
		unsigned char c = *s;
		size_t n, i;
		uint32_t cp;

		if (c < 0x80) {
			s++;
			continue;
		}
		if (c >= 0xc2 && c <= 0xdf) {
			n = 1;
			cp = c & 0x1f;
		} else if (c >= 0xe0 && c <= 0xef) {
			n = 2;
			cp = c & 0x0f;
		} else if (c >= 0xf0 && c <= 0xf4) {
			n = 3;
			cp = c & 0x07;
		} else {
			return false;
		}
		if ((size_t)(end - s) <= n)
			return false;
		for (i = 1; i <= n; i++) {
			if ((s[i] & 0xc0) != 0x80)
				return false;
			cp = (cp << 6) | (s[i] & 0x3f);
		}
		if ((n == 2 && cp < 0x800) || (n == 3 && (cp < 0x10000 || cp > 0x10ffff)) ||
		    (cp >= 0xd800 && cp <= 0xdfff))
			return false;
		s += n + 1;
	}
	return true;
}

static const char *
json_type(const cJSON *v)
{
	if (cJSON_IsNull(v))
		return "null";
	if (cJSON_IsBool(v))
		return cJSON_IsTrue(v) ? "true" : "false";
	if (cJSON_IsNumber(v))
		return "a number";
	if (cJSON_IsString(v))
		return "a string";
	if (cJSON_IsArray(v))
		return "an array";
	if (cJSON_IsObject(v))
		return "an object";
	return "an invalid value";
}

/* Copies a short, printable-ASCII rendering of @p s for quoting in a reason:
 * reasons are printed as data, and an odd byte must not spoil them. */
static const char *
quote(const char *s, char *out, size_t outsz)
{
	size_t i, n = 0;

	for (i = 0; s[i] != '\0' && n + 4 < outsz; i++) {
		if (n >= QUOTE_MAX) {
			memcpy(out + n, "...", 3);
			n += 3;
			break;
		}
		out[n++] = (s[i] >= 0x20 && s[i] < 0x7f && s[i] != '"') ? s[i] : '?';
	}
	out[n] = '\0';
	return out;
}

__attribute__((format(printf, 2, 3)))
static void
problem(struct problems *pr, const char *fmt, ...)
{
	va_list ap;
	size_t mark;
	il_err err = IL_OK;

	/* NULL: the caller only wants the side effects of a check. */
	if (pr == NULL)
		return;
	mark = pr->text.len;
	pr->count++;
	if (pr->count > PROBLEMS_MAX) {
		pr->omitted++;
		return;
	}
	if (pr->text.len > 0)
		err = il_buf_adds(&pr->text, "\n");
	if (err == IL_OK) {
		va_start(ap, fmt);
		err = il_buf_vprintf(&pr->text, fmt, ap);
		va_end(ap);
	}
	if (err != IL_OK) {
		/* Keep whole lines only: undo the partial one. */
		pr->text.len = mark;
		if (pr->text.data != NULL)
			pr->text.data[mark] = '\0';
		pr->omitted++;
	}
}

/* Copies the problem list to the caller's buffer, cut at a line boundary
 * with a count of what did not fit. */
static void
problems_report(struct problems *pr, char *errbuf, size_t errsz)
{
	const char *text = pr->text.data != NULL ? pr->text.data : "";
	size_t keep = strlen(text), nl;
	int omitted = pr->omitted, taillen = 0;
	char tail[48] = "";

	if (errsz == 0)
		return;
	for (;;) {
		taillen = 0;
		tail[0] = '\0';
		if (omitted > 0)
			taillen = snprintf(tail, sizeof(tail), "\n(%d more problem%s)", omitted,
			    omitted == 1 ? "" : "s");
		if (keep + (size_t)taillen < errsz)
			break;
		/* Drop the last line; a lone first line is cut instead. */
		for (nl = keep; nl > 0 && text[nl - 1] != '\n'; nl--)
			;
		if (nl == 0)
			break;
		keep = nl - 1;
		omitted++;
	}
	snprintf(errbuf, errsz, "%.*s%s", (int)keep, text, tail);
}

/* Where a member lives, for messages: the top level (array NULL) or an entry
 * of an array ("ids[2]").  The path is only formatted for a problem. */
struct at {
	const char *array;  /* "ids", "phone_numbers", or NULL */
	int index;          /* entry of array */
};

static const struct at top = { NULL, 0 };

static const char *
path(const struct at *at, const char *name, char *buf, size_t sz)
{
	char q[QUOTE_MAX + 8];

	if (at->array == NULL)
		snprintf(buf, sz, "%s", quote(name, q, sizeof(q)));
	else if (name == NULL)
		snprintf(buf, sz, "%s[%d]", at->array, at->index);
	else
		snprintf(buf, sz, "%s[%d].%s", at->array, at->index, quote(name, q, sizeof(q)));
	return buf;
}

/*
 * Sorts the members of @p obj into @p out by their place in @p names, in one
 * pass, refusing unknown ones by name (a typo must not vanish silently) and
 * repeated ones (JSON parsers differ on which one wins).
 */
static void
index_members(struct problems *pr, const struct at *at, const cJSON *obj,
    const char *const *names, size_t nnames, const cJSON **out)
{
	const cJSON *m;
	char p[128];
	size_t i;

	for (i = 0; i < nnames; i++)
		out[i] = NULL;
	cJSON_ArrayForEach(m, obj) {
		const char *name = m->string != NULL ? m->string : "";

		for (i = 0; i < nnames; i++) {
			if (strcmp(name, names[i]) == 0)
				break;
		}
		if (i == nnames)
			problem(pr, "%s: unknown member", path(at, name, p, sizeof(p)));
		else if (out[i] != NULL)
			problem(pr, "%s: duplicate member", path(at, name, p, sizeof(p)));
		else
			out[i] = m;
	}
}

/* Checks an optional string member; @returns the string or NULL. */
static const char *
check_string(struct problems *pr, const struct at *at, const char *name, const cJSON *v)
{
	char p[128];

	if (v == NULL || cJSON_IsNull(v))
		return NULL;
	if (!cJSON_IsString(v) || v->valuestring == NULL) {
		problem(pr, "%s: expected a string or null, got %s", path(at, name, p, sizeof(p)),
		    json_type(v));
		return NULL;
	}
	if (!il_event_utf8_valid(v->valuestring, strlen(v->valuestring))) {
		problem(pr, "%s: invalid UTF-8", path(at, name, p, sizeof(p)));
		return NULL;
	}
	return v->valuestring;
}

/* Checks a required, non-empty string member. */
static const char *
check_required_string(struct problems *pr, const struct at *at, const char *name, const cJSON *v)
{
	const char *s;
	char p[128];

	if (v == NULL || cJSON_IsNull(v)) {
		problem(pr, "%s: required", path(at, name, p, sizeof(p)));
		return NULL;
	}
	s = check_string(pr, at, name, v);
	if (s != NULL && *s == '\0') {
		problem(pr, "%s: must not be empty", path(at, name, p, sizeof(p)));
		return NULL;
	}
	return s;
}

static void
check_date(struct problems *pr, const struct at *at, const char *name, const cJSON *v)
{
	char q[QUOTE_MAX + 8], p[128];
	const char *s;

	if (v == NULL || cJSON_IsNull(v))
		return;
	if (!cJSON_IsString(v) || v->valuestring == NULL) {
		problem(pr, "%s: expected YYYY-MM-DD or null, got %s", path(at, name, p, sizeof(p)),
		    json_type(v));
		return;
	}
	s = v->valuestring;
	if (!is_date(s))
		problem(pr, "%s: expected YYYY-MM-DD, got \"%s\"%s", path(at, name, p, sizeof(p)),
		    quote(s, q, sizeof(q)),
		    (strlen(s) == 10 && s[4] == '-' && s[7] == '-') ? " (no such day)" : "");
}

enum id_member { I_ID_TYPE, I_VALUE, I_EXPIRY_DATE, I_STATUS, I_DESCRIPTION, I_COUNT };
static const char *const id_members[I_COUNT] = {
	"id_type", "value", "expiry_date", "status", "description",
};

/* Checks "ids"; @returns the value of the first id of @p key_type, or NULL. */
static const char *
check_ids(struct problems *pr, const cJSON *ids, const char *key_type)
{
	const char *key_value = NULL;
	const cJSON *e, *prev, *m[I_COUNT];
	char q[QUOTE_MAX + 8];
	struct at at = { "ids", 0 };

	if (ids == NULL || cJSON_IsNull(ids))
		return NULL;
	if (!cJSON_IsArray(ids)) {
		problem(pr, "ids: expected an array or null, got %s", json_type(ids));
		return NULL;
	}
	cJSON_ArrayForEach(e, ids) {
		const char *type, *value, *status;
		int j = 0;

		if (!cJSON_IsObject(e)) {
			problem(pr, "ids[%d]: expected an object, got %s", at.index++, json_type(e));
			continue;
		}
		index_members(pr, &at, e, id_members, I_COUNT, m);
		type = check_required_string(pr, &at, "id_type", m[I_ID_TYPE]);
		value = check_required_string(pr, &at, "value", m[I_VALUE]);
		check_date(pr, &at, "expiry_date", m[I_EXPIRY_DATE]);
		status = check_string(pr, &at, "status", m[I_STATUS]);
		if (status != NULL && strcmp(status, "valid") != 0 && strcmp(status, "invalid") != 0)
			problem(pr, "ids[%d].status: expected \"valid\" or \"invalid\", got \"%s\"", at.index,
			    quote(status, q, sizeof(q)));
		check_string(pr, &at, "description", m[I_DESCRIPTION]);
		if (type != NULL) {
			/* openSPP keeps one ID per (registrant, type): two of a
			 * type would make the key ambiguous. */
			cJSON_ArrayForEach(prev, ids) {
				const cJSON *pt;

				if (j++ >= at.index)
					break;
				pt = cJSON_GetObjectItemCaseSensitive(prev, "id_type");
				if (cJSON_IsString(pt) && pt->valuestring != NULL &&
				    strcmp(pt->valuestring, type) == 0) {
					problem(pr, "ids[%d].id_type: duplicate id type \"%s\"", at.index,
					    quote(type, q, sizeof(q)));
					break;
				}
			}
		}
		if (type != NULL && value != NULL && key_value == NULL &&
		    key_type != NULL && strcmp(type, key_type) == 0)
			key_value = value;
		at.index++;
	}
	return key_value;
}

enum phone_member { P_PHONE_NO, P_DATE_COLLECTED, P_COUNT };
static const char *const phone_members[P_COUNT] = { "phone_no", "date_collected" };

static void
check_phones(struct problems *pr, const cJSON *phones)
{
	const cJSON *e, *m[P_COUNT];
	struct at at = { "phone_numbers", 0 };

	if (phones == NULL || cJSON_IsNull(phones))
		return;
	if (!cJSON_IsArray(phones)) {
		problem(pr, "phone_numbers: expected an array or null, got %s", json_type(phones));
		return;
	}
	cJSON_ArrayForEach(e, phones) {
		if (!cJSON_IsObject(e)) {
			problem(pr, "phone_numbers[%d]: expected an object, got %s", at.index++, json_type(e));
			continue;
		}
		index_members(pr, &at, e, phone_members, P_COUNT, m);
		check_required_string(pr, &at, "phone_no", m[P_PHONE_NO]);
		check_date(pr, &at, "date_collected", m[P_DATE_COLLECTED]);
		at.index++;
	}
}

/* Checks "id", the res_partner id the REST API adds; @returns it, or -1. */
static long long
check_source_id(struct problems *pr, const cJSON *v)
{
	if (v == NULL || cJSON_IsNull(v))
		return -1;
	/* 2^53: beyond it a JSON number is no longer an exact integer. */
	if (!cJSON_IsNumber(v) || v->valuedouble < 1 || v->valuedouble > 9007199254740992.0 ||
	    v->valuedouble != (double)(long long)v->valuedouble) {
		problem(pr, "id: expected a positive integer or null, got %s", json_type(v));
		return -1;
	}
	return (long long)v->valuedouble;
}

/* Adds @p item to @p obj; @returns false (and frees @p item) on failure. */
static bool
put(cJSON *obj, const char *name, cJSON *item)
{
	if (item == NULL)
		return false;
	if (obj == NULL || !cJSON_AddItemToObject(obj, name, item)) {
		cJSON_Delete(item);
		return false;
	}
	return true;
}

static bool
append(cJSON *arr, cJSON *item)
{
	if (item == NULL)
		return false;
	if (!cJSON_AddItemToArray(arr, item)) {
		cJSON_Delete(item);
		return false;
	}
	return true;
}

/* A copy of a string member, or null: absent and null both stay null, so a
 * defect of the source never turns into an invented value. */
static cJSON *
str_or_null(const cJSON *v)
{
	if (cJSON_IsString(v) && v->valuestring != NULL)
		return cJSON_CreateString(v->valuestring);
	return cJSON_CreateNull();
}

static cJSON *
map_ids(const cJSON *ids)
{
	cJSON *out = cJSON_CreateArray();
	const cJSON *e, *m[I_COUNT];
	bool ok = out != NULL;

	cJSON_ArrayForEach(e, (cJSON_IsArray(ids) ? ids : NULL)) {
		cJSON *x = cJSON_CreateObject();

		/* Checked already: indexing again finds no problem. */
		index_members(NULL, &top, e, id_members, I_COUNT, m);
		ok = ok && x != NULL;
		ok = ok && put(x, "type", str_or_null(m[I_ID_TYPE]));
		ok = ok && put(x, "value", str_or_null(m[I_VALUE]));
		ok = ok && put(x, "status", str_or_null(m[I_STATUS]));
		ok = ok && put(x, "expiry_date", str_or_null(m[I_EXPIRY_DATE]));
		ok = ok && put(x, "description", str_or_null(m[I_DESCRIPTION]));
		if (!ok) {
			cJSON_Delete(x);
			break;
		}
		if (!append(out, x)) {
			ok = false;
			break;
		}
	}
	if (!ok) {
		cJSON_Delete(out);
		return NULL;
	}
	return out;
}

static cJSON *
map_phones(const cJSON *phones)
{
	cJSON *out = cJSON_CreateArray();
	const cJSON *e, *m[P_COUNT];
	bool ok = out != NULL;

	cJSON_ArrayForEach(e, (cJSON_IsArray(phones) ? phones : NULL)) {
		cJSON *x = cJSON_CreateObject();

		index_members(NULL, &top, e, phone_members, P_COUNT, m);
		ok = ok && x != NULL;
		ok = ok && put(x, "number", str_or_null(m[P_PHONE_NO]));
		/* openSPP's body has no E.164 form: leave it unknown. */
		ok = ok && put(x, "sanitized", cJSON_CreateNull());
		ok = ok && put(x, "date_collected", str_or_null(m[P_DATE_COLLECTED]));
		if (!ok) {
			cJSON_Delete(x);
			break;
		}
		if (!append(out, x)) {
			ok = false;
			break;
		}
	}
	if (!ok) {
		cJSON_Delete(out);
		return NULL;
	}
	return out;
}

static cJSON *
map_registrant(const cJSON *const *m, long long source_id)
{
	cJSON *r = cJSON_CreateObject();
	bool ok = r != NULL;

	ok = ok && put(r, "source_id", source_id > 0 ? cJSON_CreateNumber((double)source_id) : cJSON_CreateNull());
	ok = ok && put(r, "external_ids", map_ids(m[B_IDS]));
	ok = ok && put(r, "is_group", cJSON_CreateBool(cJSON_IsTrue(m[B_IS_GROUP])));
	ok = ok && put(r, "name", str_or_null(m[B_NAME]));
	ok = ok && put(r, "given_name", str_or_null(m[B_GIVEN_NAME]));
	ok = ok && put(r, "family_name", str_or_null(m[B_FAMILY_NAME]));
	ok = ok && put(r, "addl_name", str_or_null(m[B_ADDL_NAME]));
	ok = ok && put(r, "gender", str_or_null(m[B_GENDER]));
	ok = ok && put(r, "birthdate", str_or_null(m[B_BIRTHDATE]));
	/* The body does not say whether a birthdate is exact. */
	ok = ok && put(r, "birthdate_exact", cJSON_CreateNull());
	ok = ok && put(r, "birth_place", str_or_null(m[B_BIRTH_PLACE]));
	ok = ok && put(r, "registration_date", str_or_null(m[B_REGISTRATION_DATE]));
	ok = ok && put(r, "phones", map_phones(m[B_PHONE_NUMBERS]));
	ok = ok && put(r, "email", str_or_null(m[B_EMAIL]));
	ok = ok && put(r, "address", str_or_null(m[B_ADDRESS]));
	ok = ok && put(r, "area", cJSON_CreateNull());
	if (!ok) {
		cJSON_Delete(r);
		return NULL;
	}
	return r;
}

static cJSON *
map_source(const il_event_ctx *ctx, const char *kind, const char *position, const char *pk)
{
	cJSON *s = cJSON_CreateObject();
	bool ok = s != NULL;

	ok = ok && put(s, "system", cJSON_CreateString("openspp"));
	ok = ok && put(s, "instance", cJSON_CreateString(ctx->instance));
	ok = ok && put(s, "kind", cJSON_CreateString(kind));
	ok = ok && put(s, "position", position != NULL ? cJSON_CreateString(position) : cJSON_CreateNull());
	ok = ok && put(s, "table", cJSON_CreateString("res_partner"));
	ok = ok && put(s, "primary_key", pk != NULL ? cJSON_CreateString(pk) : cJSON_CreateNull());
	if (!ok) {
		cJSON_Delete(s);
		return NULL;
	}
	return s;
}

/* Checks the whole body, every problem into @p pr, with its members already
 * in @p m; @returns the key id value (or NULL) through @p key_value and the
 * source id (or -1) through @p sid. */
static void
check_body(const il_event_ctx *ctx, const cJSON *const *m, struct problems *pr,
    const char **key_value, long long *sid)
{
	static const enum body_member strings[] = {
		B_NAME, B_EMAIL, B_ADDRESS, B_GIVEN_NAME, B_ADDL_NAME, B_FAMILY_NAME, B_GENDER, B_BIRTH_PLACE,
	};
	size_t i;

	for (i = 0; i < sizeof(strings) / sizeof(strings[0]); i++)
		check_string(pr, &top, openspp_members[strings[i]], m[strings[i]]);
	check_date(pr, &top, "birthdate", m[B_BIRTHDATE]);
	check_date(pr, &top, "registration_date", m[B_REGISTRATION_DATE]);
	if (m[B_IS_GROUP] != NULL && !cJSON_IsNull(m[B_IS_GROUP]) && !cJSON_IsBool(m[B_IS_GROUP]))
		problem(pr, "is_group: expected true or false, got %s", json_type(m[B_IS_GROUP]));
	if (m[B_AGE] != NULL && !cJSON_IsNull(m[B_AGE]) && !cJSON_IsString(m[B_AGE]) &&
	    !cJSON_IsNumber(m[B_AGE]))
		problem(pr, "age: expected a string, a number or null, got %s", json_type(m[B_AGE]));
	*key_value = check_ids(pr, m[B_IDS], ctx->key_id_type);
	check_phones(pr, m[B_PHONE_NUMBERS]);
	*sid = check_source_id(pr, m[B_ID]);
	/* Checked here too, not only by il_event_key(), so the sender learns of
	 * every problem in one answer. */
	if (*key_value == NULL && *sid < 0)
		problem(pr, "event has no stable identity: no external id of type \"%s\" and no source id",
		    ctx->key_id_type != NULL ? ctx->key_id_type : "");
}

cJSON *
il_event_from_openspp(const il_event_ctx *ctx, const cJSON *body, const char *kind,
    const char *position, char *errbuf, size_t errsz)
{
	struct problems pr = { .count = 0, .omitted = 0 };
	const cJSON *m[B_COUNT];
	const char *key_value = NULL;
	char id[65], ts[IL_EVENT_TIME_LEN], pk[24];
	long long sid = -1;
	cJSON *ev = NULL;
	bool ok = true;
	size_t i;

	il_buf_init(&pr.text, PROBLEMS_BYTES);
	if (ctx == NULL || ctx->instance == NULL || kind == NULL) {
		problem(&pr, "event context: instance and kind are required");
		goto done;
	}
	for (i = 0; i < sizeof(source_kinds) / sizeof(source_kinds[0]); i++) {
		if (strcmp(kind, source_kinds[i]) == 0)
			break;
	}
	if (i == sizeof(source_kinds) / sizeof(source_kinds[0])) {
		problem(&pr, "source.kind: unknown kind \"%s\"", kind);
		goto done;
	}
	if (!cJSON_IsObject(body)) {
		problem(&pr, "body: expected a JSON object, got %s", json_type(body));
		goto done;
	}
	index_members(&pr, &top, body, openspp_members, B_COUNT, m);
	check_body(ctx, m, &pr, &key_value, &sid);
	if (pr.count > 0)
		goto done;

	pk[0] = '\0';
	if (sid > 0)
		snprintf(pk, sizeof(pk), "%lld", sid);
	/* The id covers where the body came from and whom it is about, so the
	 * same line of the same file gives the same id on every run. */
	il_event_id("openspp", ctx->instance, kind, position, "res_partner",
	    key_value != NULL ? key_value : pk, id);
	il_event_format_time(il_event_now_ms(), ts);

	ev = cJSON_CreateObject();
	ok = ev != NULL;
	ok = ok && put(ev, "event_id", cJSON_CreateString(id));
	ok = ok && put(ev, "event_type", cJSON_CreateString("REGISTRANT_SUBMITTED"));
	ok = ok && put(ev, "source", map_source(ctx, kind, position, sid > 0 ? pk : NULL));
	ok = ok && put(ev, "occurred_at", cJSON_CreateString(ts));
	ok = ok && put(ev, "produced_at", cJSON_CreateString(ts));
	ok = ok && put(ev, "programme", cJSON_CreateNull());
	ok = ok && put(ev, "membership", cJSON_CreateNull());
	ok = ok && put(ev, "registrant", map_registrant(m, sid));
	ok = ok && put(ev, "household", cJSON_CreateNull());
	if (!ok) {
		cJSON_Delete(ev);
		ev = NULL;
		problem(&pr, "event: out of memory building the JSON form");
	}

done:
	if (ev == NULL)
		problems_report(&pr, errbuf, errsz);
	il_buf_free(&pr.text);
	return ev;
}

/* @returns the value of the first external id of @p type in @p ids, or NULL. */
static const char *
find_external_id(const cJSON *ids, const char *type)
{
	const cJSON *e;

	if (type == NULL || *type == '\0')
		return NULL;
	cJSON_ArrayForEach(e, (cJSON_IsArray(ids) ? ids : NULL)) {
		const cJSON *t = cJSON_GetObjectItemCaseSensitive(e, "type");
		const cJSON *v = cJSON_GetObjectItemCaseSensitive(e, "value");

		if (cJSON_IsString(t) && t->valuestring != NULL && strcmp(t->valuestring, type) == 0 &&
		    cJSON_IsString(v) && v->valuestring != NULL && v->valuestring[0] != '\0')
			return v->valuestring;
	}
	return NULL;
}

/* The key of one party (household or registrant): its external id of the
 * configured type, else its database id qualified by the instance. */
static char *
party_key(const il_event_ctx *ctx, const cJSON *party)
{
	const char *ext;
	const cJSON *sid;

	ext = find_external_id(cJSON_GetObjectItemCaseSensitive(party, "external_ids"), ctx->key_id_type);
	if (ext != NULL)
		return il_xstrdup(ext);
	sid = cJSON_GetObjectItemCaseSensitive(party, "source_id");
	if (cJSON_IsNumber(sid) && sid->valuedouble >= 1 && sid->valuedouble <= 9007199254740992.0 &&
	    sid->valuedouble == (double)(long long)sid->valuedouble && ctx->instance != NULL)
		return il_xasprintf("%s:res_partner:%lld", ctx->instance, (long long)sid->valuedouble);
	return NULL;
}

char *
il_event_key(const il_event_ctx *ctx, const cJSON *event, char *errbuf, size_t errsz)
{
	const cJSON *household, *registrant;
	const char *type;
	char *key;

	type = ctx != NULL && ctx->key_id_type != NULL ? ctx->key_id_type : "";
	if (ctx == NULL || !cJSON_IsObject(event)) {
		snprintf(errbuf, errsz, "event has no stable identity: not an event object");
		return NULL;
	}
	household = cJSON_GetObjectItemCaseSensitive(event, "household");
	if (cJSON_IsObject(household)) {
		/* A family's key comes from the family itself, never from the
		 * member at hand or its head: members and heads change, and all
		 * of a family's events must stay on one partition. */
		key = party_key(ctx, household);
		if (key == NULL)
			snprintf(errbuf, errsz, "event has no stable identity: household has no external id "
			    "of type \"%s\" and no source id", type);
		return key;
	}
	registrant = cJSON_GetObjectItemCaseSensitive(event, "registrant");
	key = cJSON_IsObject(registrant) ? party_key(ctx, registrant) : NULL;
	if (key == NULL)
		snprintf(errbuf, errsz, "event has no stable identity: no external id of type \"%s\" "
		    "and no source id", type);
	return key;
}
