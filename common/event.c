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
#include "text.h"
#include "timefmt.h"
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

/* Writes the first @p nhex hex digits of SHA-256 over @p len bytes, and a NUL. */
static void
sha256_hex(const void *data, size_t len, char *out, size_t nhex)
{
	static const char hex[] = "0123456789abcdef";
	unsigned char md[EVP_MAX_MD_SIZE];
	unsigned int mdlen = 0;
	size_t i;

	if (!EVP_Digest(data, len, md, &mdlen, EVP_sha256(), NULL) || mdlen != 32) {
		/* SHA-256 is built into every libcrypto: failing here means a
		 * broken installation, and an event without an id must never go
		 * out. */
		fprintf(stderr, "{\"level\":\"fatal\",\"msg\":\"could not compute SHA-256: libcrypto failed\"}\n");
		abort();
	}
	for (i = 0; i < nhex && i < 64; i++)
		out[i] = hex[(md[i / 2] >> (i % 2 == 0 ? 4 : 0)) & 0x0f];
	out[i] = '\0';
}

void
il_event_id(const char *system, const char *instance, const char *kind,
    const char *position, const char *table, const char *pk, char out[65])
{
	const char *fields[6] = { system, instance, kind, position, table, pk };
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
	sha256_hex(data, off, out, 64);
	if (data != small)
		free(data);
}

/* A string member of @p obj, or NULL (absent, null, another type). */
static const char *
source_field(const cJSON *obj, const char *name)
{
	const cJSON *v = cJSON_GetObjectItemCaseSensitive(obj, name);

	return cJSON_IsString(v) ? v->valuestring : NULL;
}

void
il_event_id_of_source(const cJSON *source, char out[65])
{
	const cJSON *s = cJSON_IsObject(source) ? source : NULL;

	il_event_id(source_field(s, "system"), source_field(s, "instance"), source_field(s, "kind"),
	    source_field(s, "position"), source_field(s, "table"), source_field(s, "primary_key"), out);
}

bool
il_event_id_valid(const char *id)
{
	size_t i;

	if (id == NULL)
		return false;
	for (i = 0; i < 64; i++) {
		if (!((id[i] >= '0' && id[i] <= '9') || (id[i] >= 'a' && id[i] <= 'f')))
			return false;
	}
	return id[64] == '\0';
}

char *
il_event_file_position(const char *prefix, unsigned long long line, const void *data, size_t len)
{
	char digest[17];

	/* The line's digest makes the position say what was read, not only
	 * where: an edited line is a new event, an unchanged one the same. */
	sha256_hex(data, len, digest, 16);
	return il_xasprintf("%s:%llu:%s", prefix != NULL ? prefix : "", line, digest);
}

long long
il_event_now_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_REALTIME, &ts);
	return (long long)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
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

	if (errbuf == NULL || errsz == 0)
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
	il_err_setf(errbuf, errsz, "%.*s%s", (int)keep, text, tail);
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
		    il_text_json_kind(v, true));
		return NULL;
	}
	if (!il_text_utf8_valid(v->valuestring, strlen(v->valuestring), NULL)) {
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
	int64_t days;

	if (v == NULL || cJSON_IsNull(v))
		return;
	if (!cJSON_IsString(v) || v->valuestring == NULL) {
		problem(pr, "%s: expected YYYY-MM-DD or null, got %s", path(at, name, p, sizeof(p)),
		    il_text_json_kind(v, true));
		return;
	}
	s = v->valuestring;
	/* Every calendar refusal reads "no such day": the day named does not exist. */
	if (il_time_parse_date(s, &days) != NULL)
		problem(pr, "%s: expected YYYY-MM-DD, got \"%s\"%s", path(at, name, p, sizeof(p)),
		    quote(s, q, sizeof(q)),
		    (strlen(s) == 10 && s[4] == '-' && s[7] == '-') ? " (no such day)" : "");
}

enum id_member { I_ID_TYPE, I_VALUE, I_EXPIRY_DATE, I_STATUS, I_DESCRIPTION, I_COUNT };
static const char *const id_members[I_COUNT] = {
	"id_type", "value", "expiry_date", "status", "description",
};

/* An entry of "ids" by its id type, for the duplicate check. */
struct id_type_at {
	const char *type;   /* the entry's (first) "id_type" string */
	int index;          /* the entry's place in "ids" */
};

static int
id_type_order(const void *a, const void *b)
{
	const struct id_type_at *x = a, *y = b;
	int c = strcmp(x->type, y->type);

	if (c != 0)
		return c;
	return (x->index > y->index) - (x->index < y->index);
}

/*
 * Flags each entry of the array @p ids whose "id_type" an earlier entry
 * has already.  Sorting keeps this O(n log n): a 1 MiB body holds some
 * 65,000 ids, and comparing each entry with all before it took minutes.
 * @returns one flag per entry (the caller frees), NULL for an empty array.
 */
static bool *
duplicate_types(const cJSON *ids)
{
	int n = cJSON_GetArraySize(ids), k = 0, i = 0;
	struct id_type_at *all;
	const cJSON *e, *t;
	bool *dup;

	if (n <= 0)
		return NULL;
	dup = il_xcalloc((size_t)n, sizeof(*dup));
	all = il_xmalloc((size_t)n * sizeof(*all));
	cJSON_ArrayForEach(e, ids) {
		t = cJSON_GetObjectItemCaseSensitive(e, "id_type");
		if (cJSON_IsString(t) && t->valuestring != NULL) {
			all[k].type = t->valuestring;
			all[k].index = i;
			k++;
		}
		i++;
	}
	qsort(all, (size_t)k, sizeof(*all), id_type_order);
	for (i = 1; i < k; i++) {
		if (strcmp(all[i].type, all[i - 1].type) == 0)
			dup[all[i].index] = true;
	}
	free(all);
	return dup;
}

/* Checks "ids"; @returns the value of the first id of @p key_type, or NULL. */
static const char *
check_ids(struct problems *pr, const cJSON *ids, const char *key_type)
{
	const char *key_value = NULL;
	const cJSON *e, *m[I_COUNT];
	char q[QUOTE_MAX + 8];
	struct at at = { "ids", 0 };
	bool *dup;

	if (ids == NULL || cJSON_IsNull(ids))
		return NULL;
	if (!cJSON_IsArray(ids)) {
		problem(pr, "ids: expected an array or null, got %s", il_text_json_kind(ids, true));
		return NULL;
	}
	dup = duplicate_types(ids);
	cJSON_ArrayForEach(e, ids) {
		const char *type, *value, *status;

		if (!cJSON_IsObject(e)) {
			problem(pr, "ids[%d]: expected an object, got %s", at.index++,
			    il_text_json_kind(e, true));
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
		/* openSPP keeps one ID per (registrant, type): two of a
		 * type would make the key ambiguous. */
		if (type != NULL && dup[at.index])
			problem(pr, "ids[%d].id_type: duplicate id type \"%s\"", at.index,
			    quote(type, q, sizeof(q)));
		if (type != NULL && value != NULL && key_value == NULL &&
		    key_type != NULL && strcmp(type, key_type) == 0)
			key_value = value;
		at.index++;
	}
	free(dup);
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
		problem(pr, "phone_numbers: expected an array or null, got %s",
		    il_text_json_kind(phones, true));
		return;
	}
	cJSON_ArrayForEach(e, phones) {
		if (!cJSON_IsObject(e)) {
			problem(pr, "phone_numbers[%d]: expected an object, got %s", at.index++,
			    il_text_json_kind(e, true));
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
		problem(pr, "id: expected a positive integer or null, got %s", il_text_json_kind(v, true));
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

/* @returns @p obj when all its members went in (@p ok), else frees it and
 * returns NULL (out of memory). */
static cJSON *
built(cJSON *obj, bool ok)
{
	if (!ok) {
		cJSON_Delete(obj);
		return NULL;
	}
	return obj;
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

/* Maps one entry of a checked array; @returns NULL when out of memory. */
typedef cJSON *(map_entry_fn)(const cJSON *entry);

static cJSON *
map_id(const cJSON *entry)
{
	cJSON *x = cJSON_CreateObject();
	const cJSON *m[I_COUNT];
	bool ok = x != NULL;

	/* Checked already: indexing again finds no problem. */
	index_members(NULL, &top, entry, id_members, I_COUNT, m);
	ok = ok && put(x, "type", str_or_null(m[I_ID_TYPE]));
	ok = ok && put(x, "value", str_or_null(m[I_VALUE]));
	ok = ok && put(x, "status", str_or_null(m[I_STATUS]));
	ok = ok && put(x, "expiry_date", str_or_null(m[I_EXPIRY_DATE]));
	ok = ok && put(x, "description", str_or_null(m[I_DESCRIPTION]));
	return built(x, ok);
}

static cJSON *
map_phone(const cJSON *entry)
{
	cJSON *x = cJSON_CreateObject();
	const cJSON *m[P_COUNT];
	bool ok = x != NULL;

	index_members(NULL, &top, entry, phone_members, P_COUNT, m);
	ok = ok && put(x, "number", str_or_null(m[P_PHONE_NO]));
	/* openSPP's body has no E.164 form: leave it unknown. */
	ok = ok && put(x, "sanitized", cJSON_CreateNull());
	ok = ok && put(x, "date_collected", str_or_null(m[P_DATE_COLLECTED]));
	return built(x, ok);
}

/* Maps every entry of the checked array @p arr with @p map_entry; absent
 * and null give an empty array.  @returns NULL when out of memory. */
static cJSON *
map_array(const cJSON *arr, map_entry_fn *map_entry)
{
	cJSON *out = cJSON_CreateArray();
	const cJSON *e;

	if (out == NULL)
		return NULL;
	cJSON_ArrayForEach(e, (cJSON_IsArray(arr) ? arr : NULL)) {
		if (!append(out, map_entry(e))) {
			cJSON_Delete(out);
			return NULL;
		}
	}
	return out;
}

static cJSON *
map_registrant(const cJSON *const *m, long long source_id)
{
	cJSON *r = cJSON_CreateObject();
	bool ok = r != NULL;

	ok = ok && put(r, "source_id", source_id > 0 ? cJSON_CreateNumber((double)source_id) : cJSON_CreateNull());
	ok = ok && put(r, "external_ids", map_array(m[B_IDS], map_id));
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
	ok = ok && put(r, "phones", map_array(m[B_PHONE_NUMBERS], map_phone));
	ok = ok && put(r, "email", str_or_null(m[B_EMAIL]));
	ok = ok && put(r, "address", str_or_null(m[B_ADDRESS]));
	ok = ok && put(r, "area", cJSON_CreateNull());
	return built(r, ok);
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
	return built(s, ok);
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
		problem(pr, "is_group: expected true or false, got %s",
		    il_text_json_kind(m[B_IS_GROUP], true));
	if (m[B_AGE] != NULL && !cJSON_IsNull(m[B_AGE]) && !cJSON_IsString(m[B_AGE]) &&
	    !cJSON_IsNumber(m[B_AGE]))
		problem(pr, "age: expected a string, a number or null, got %s",
		    il_text_json_kind(m[B_AGE], true));
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
	char id[65], ts[IL_TIME_LEN], pk[24];
	long long sid = -1;
	cJSON *ev = NULL, *source = NULL;
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
		problem(&pr, "body: expected a JSON object, got %s", il_text_json_kind(body, true));
		goto done;
	}
	index_members(&pr, &top, body, openspp_members, B_COUNT, m);
	check_body(ctx, m, &pr, &key_value, &sid);
	if (pr.count > 0)
		goto done;

	pk[0] = '\0';
	if (sid > 0)
		snprintf(pk, sizeof(pk), "%lld", sid);
	source = map_source(ctx, kind, position, sid > 0 ? pk : NULL);
	if (source == NULL) {
		problem(&pr, "event: out of memory building the JSON form");
		goto done;
	}
	/* The id covers the event's own source fields and nothing else: the
	 * promise of the schema, and no external id (a national ID) goes into
	 * a hash that is printed and published. */
	il_event_id_of_source(source, id);
	il_time_format_ms(il_event_now_ms(), ts);

	ev = cJSON_CreateObject();
	ok = ev != NULL;
	ok = ok && put(ev, "event_id", cJSON_CreateString(id));
	ok = ok && put(ev, "event_type", cJSON_CreateString("REGISTRANT_SUBMITTED"));
	/* put() takes the source, or frees it when it fails. */
	if (ok)
		ok = put(ev, "source", source);
	else
		cJSON_Delete(source);
	source = NULL;
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
		il_err_setf(errbuf, errsz, "event has no stable identity: not an event object");
		return NULL;
	}
	household = cJSON_GetObjectItemCaseSensitive(event, "household");
	if (cJSON_IsObject(household)) {
		/* A family's key comes from the family itself, never from the
		 * member at hand or its head: members and heads change, and all
		 * of a family's events must stay on one partition. */
		key = party_key(ctx, household);
		if (key == NULL)
			il_err_setf(errbuf, errsz, "event has no stable identity: household has no external id "
			    "of type \"%s\" and no source id", type);
		return key;
	}
	registrant = cJSON_GetObjectItemCaseSensitive(event, "registrant");
	key = cJSON_IsObject(registrant) ? party_key(ctx, registrant) : NULL;
	if (key == NULL)
		il_err_setf(errbuf, errsz, "event has no stable identity: no external id of type \"%s\" "
		    "and no source id", type);
	return key;
}
