#include "mapping.h"

#include <errno.h>
#include <limits.h>
#include <math.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "buf.h"
#include "cli.h"
#include "conf.h"
#include "timefmt.h"
#include "xalloc.h"

/* Longest mapping-file line; anything longer is a mistake, not a value. */
/* Bound of the collected gaps of one event; errbuf cuts them further. */
#define IL_MAPPING_GAPS_MAX (64 * 1024)
/* Longest policy the file may ask for: a century. */
#define IL_MAPPING_MONTHS_MAX 1200

/* The fields of one programme, in the order of il_mapping_fields. */
typedef enum il_mapping_field {
	IL_MF_TARGET = 0,
	IL_MF_NAME,
	IL_MF_PRODUCT,
	IL_MF_OFFICER,
	IL_MF_MONTHS,
	IL_MF_VALUE,
	IL_MF_PLAN,
	IL_MF_APPROVAL,
	IL_MF_PAUSED,
	IL_MF_COUNT,
} il_mapping_field;

static const char *const il_mapping_fields[IL_MF_COUNT] = {
	"target", "name", "product", "officer", "policy.months", "policy.value",
	"benefit.plan", "approval", "paused",
};

/* Which target a field belongs to; -1: both. */
static const int il_mapping_field_target[IL_MF_COUNT] = {
	-1, -1, IL_PLAN_INSURANCE, IL_PLAN_INSURANCE, IL_PLAN_INSURANCE, IL_PLAN_INSURANCE,
	IL_PLAN_SOCIAL_PROTECTION, IL_PLAN_SOCIAL_PROTECTION, -1,
};

typedef struct il_mapping_programme {
	long long id;                   /* g2p_program.id */
	size_t line[IL_MF_COUNT];       /* line that set each field, 0 when not set */
	char *value[IL_MF_COUNT];       /* owned; each field's text as written */
	il_plan_target target;          /* from value[IL_MF_TARGET] */
	long long months;               /* policy length, default 12 */
	double policy_value;            /* default 0 */
	bool auto_approved;             /* approval = auto */
	bool suspend;                   /* paused = suspend */
} il_mapping_programme;

typedef struct il_mapping_area {
	char *code;                     /* owned; openSPP area code */
	char *village;                  /* owned; openIMIS village code */
	size_t line;                    /* where it was set */
} il_mapping_area;

typedef struct il_mapping_gender {
	char *text;                     /* owned; openSPP gender text, matched case-insensitively */
	const char *fhir;               /* static: male, female or other */
	size_t line;                    /* where it was set */
} il_mapping_gender;

/* A set of distinct codes, in the order the file first names them. */
typedef struct il_mapping_codes {
	const char **v;                 /* borrowed from the mapping's own strings */
	size_t n;
} il_mapping_codes;

struct il_mapping {
	char *path;                     /* owned; for messages */
	char *chf_id_type;              /* owned; openSPP ID type holding the CHF ID */
	size_t chf_id_type_line;
	char *area_default;             /* owned; NULL when unmapped areas are gaps */
	size_t area_default_line;
	il_mapping_area *areas;         /* sorted by code after loading */
	size_t nareas;
	il_mapping_gender *genders;     /* NULL: the defaults Male, Female, Other */
	size_t ngenders;
	il_mapping_programme *progs;    /* in order of first mention */
	size_t nprogs;
	il_mapping_codes villages;
	il_mapping_codes officers;
	il_mapping_codes products;
};

static const il_mapping_gender il_mapping_default_genders[] = {
	{ "Male", "male", 0 }, { "Female", "female", 0 }, { "Other", "other", 0 },
};

static const char *const il_mapping_roles[] = {
	"SPOUSE", "SON", "DAUGHTER", "GRANDFATHER", "GRANDMOTHER", "MOTHER", "FATHER",
};

void
il_mapping_destroy(il_mapping *m)
{
	size_t i, f;

	if (m == NULL)
		return;
	for (i = 0; i < m->nprogs; i++) {
		for (f = 0; f < IL_MF_COUNT; f++)
			free(m->progs[i].value[f]);
	}
	for (i = 0; i < m->nareas; i++) {
		free(m->areas[i].code);
		free(m->areas[i].village);
	}
	for (i = 0; i < m->ngenders; i++)
		free(m->genders[i].text);
	free(m->progs);
	free(m->areas);
	free(m->genders);
	free(m->villages.v);
	free(m->officers.v);
	free(m->products.v);
	free(m->area_default);
	free(m->chf_id_type);
	free(m->path);
	free(m);
}

static bool
il_mapping_is_space(char c)
{
	return c == ' ' || c == '\t' || c == '\f' || c == '\r' || c == '\n';
}

/*
 * A code of openIMIS (village, officer, product) ends up in URLs and GraphQL
 * text: printable ASCII without blanks or quotes, so a stray space or a
 * pasted quotation mark is caught here rather than as a lookup miss.
 */
static bool
il_mapping_code_valid(const char *s)
{
	if (*s == '\0')
		return false;
	for (; *s != '\0'; s++) {
		if ((unsigned char)*s <= 0x20 || (unsigned char)*s >= 0x7f || *s == '"' ||
		    *s == '\'' || *s == '\\')
			return false;
	}
	return true;
}

static bool
il_mapping_uuid_valid(const char *s)
{
	size_t i;

	if (strlen(s) != 36)
		return false;
	for (i = 0; i < 36; i++) {
		if (i == 8 || i == 13 || i == 18 || i == 23) {
			if (s[i] != '-')
				return false;
		} else if (!((s[i] >= '0' && s[i] <= '9') || (s[i] >= 'a' && s[i] <= 'f') ||
		    (s[i] >= 'A' && s[i] <= 'F'))) {
			return false;
		}
	}
	return true;
}

static il_mapping_programme *
il_mapping_programme_get(il_mapping *m, long long id)
{
	il_mapping_programme *p;
	size_t i;

	for (i = 0; i < m->nprogs; i++) {
		if (m->progs[i].id == id)
			return &m->progs[i];
	}
	m->progs = il_xrealloc(m->progs, (m->nprogs + 1) * sizeof(*m->progs));
	p = &m->progs[m->nprogs++];
	memset(p, 0, sizeof(*p));
	p->id = id;
	p->months = 12;
	return p;
}

static const il_mapping_programme *
il_mapping_programme_find(const il_mapping *m, long long id)
{
	size_t i;

	for (i = 0; i < m->nprogs; i++) {
		if (m->progs[i].id == id)
			return &m->progs[i];
	}
	return NULL;
}

/* Checks one programme field's value as written; @returns NULL or why it is refused. */
static const char *
il_mapping_field_check(il_mapping_programme *p, il_mapping_field f, const char *value,
    char *why, size_t whysz)
{
	char *end = NULL;
	double d;

	switch (f) {
	case IL_MF_TARGET:
		if (strcmp(value, "insurance") == 0)
			p->target = IL_PLAN_INSURANCE;
		else if (strcmp(value, "social_protection") == 0)
			p->target = IL_PLAN_SOCIAL_PROTECTION;
		else
			return "is not one of insurance, social_protection";
		return NULL;
	case IL_MF_NAME:
		return NULL;
	case IL_MF_PRODUCT:
	case IL_MF_OFFICER:
		return il_mapping_code_valid(value) ? NULL :
		    "is not a code (printable ASCII without blanks or quotes)";
	case IL_MF_MONTHS:
		if (!il_cli_parse_int(value, 1, IL_MAPPING_MONTHS_MAX, &p->months)) {
			snprintf(why, whysz, "is not a whole number of months from 1 to %d",
			    IL_MAPPING_MONTHS_MAX);
			return why;
		}
		return NULL;
	case IL_MF_VALUE:
		errno = 0;
		d = strtod(value, &end);
		if (*value == '\0' || il_mapping_is_space(*value) || *end != '\0' || errno != 0 ||
		    !isfinite(d) || d < 0)
			return "is not an amount of zero or more";
		p->policy_value = d;
		return NULL;
	case IL_MF_PLAN:
		return il_mapping_uuid_valid(value) ? NULL : "is not a benefit plan UUID";
	case IL_MF_APPROVAL:
		if (strcmp(value, "maker-checker") == 0)
			p->auto_approved = false;
		else if (strcmp(value, "auto") == 0)
			p->auto_approved = true;
		else
			return "is not one of maker-checker, auto";
		return NULL;
	case IL_MF_PAUSED:
		if (strcmp(value, "record") == 0)
			p->suspend = false;
		else if (strcmp(value, "suspend") == 0)
			p->suspend = true;
		else
			return "is not one of record, suspend";
		return NULL;
	case IL_MF_COUNT:
		break;
	}
	return "is not a known field";
}

/* programme.<id>.<field> = value */
static il_err
il_mapping_set_programme(il_mapping *m, const char *key, const char *value, size_t lineno,
    char *errbuf, size_t errsz)
{
	const char *rest = key + strlen("programme."), *dot;
	char *idtext, why[128];
	const char *bad;
	il_mapping_programme *p;
	long long id;
	size_t f;
	bool ok;

	dot = strchr(rest, '.');
	if (dot == NULL) {
		il_err_setf(errbuf, errsz, "%s:%zu: %s: unknown key (expected programme.<id>.<field>)",
		    m->path, lineno, key);
		return IL_ERR_CONFIG;
	}
	idtext = il_xstrndup(rest, (size_t)(dot - rest));
	ok = il_cli_parse_int(idtext, 0, LLONG_MAX, &id);
	free(idtext);
	if (!ok) {
		il_err_setf(errbuf, errsz, "%s:%zu: %s: \"%.*s\" is not a programme id (g2p_program.id)",
		    m->path, lineno, key, (int)(dot - rest), rest);
		return IL_ERR_CONFIG;
	}
	for (f = 0; f < IL_MF_COUNT; f++) {
		if (strcmp(dot + 1, il_mapping_fields[f]) == 0)
			break;
	}
	if (f == IL_MF_COUNT) {
		il_err_setf(errbuf, errsz, "%s:%zu: %s: unknown key (a programme has target, name, "
		    "product, officer, policy.months, policy.value, benefit.plan, approval, paused)",
		    m->path, lineno, key);
		return IL_ERR_CONFIG;
	}
	p = il_mapping_programme_get(m, id);
	if (p->line[f] != 0) {
		il_err_setf(errbuf, errsz, "%s:%zu: %s: given twice (first on line %zu)", m->path,
		    lineno, key, p->line[f]);
		return IL_ERR_CONFIG;
	}
	bad = il_mapping_field_check(p, (il_mapping_field)f, value, why, sizeof(why));
	if (bad != NULL) {
		il_err_setf(errbuf, errsz, "%s:%zu: %s: \"%.80s\" %s", m->path, lineno, key, value, bad);
		return IL_ERR_CONFIG;
	}
	p->line[f] = lineno;
	p->value[f] = il_xstrdup(value);
	return IL_OK;
}

static il_err
il_mapping_set_gender(il_mapping *m, const char *key, const char *value, size_t lineno,
    char *errbuf, size_t errsz)
{
	const char *text = key + strlen("gender."), *fhir;
	size_t i;

	if (*text == '\0') {
		il_err_setf(errbuf, errsz, "%s:%zu: %s: no openSPP gender after \"gender.\"",
		    m->path, lineno, key);
		return IL_ERR_CONFIG;
	}
	if (strcasecmp(value, "male") == 0)
		fhir = "male";
	else if (strcasecmp(value, "female") == 0)
		fhir = "female";
	else if (strcasecmp(value, "other") == 0)
		fhir = "other";
	else {
		il_err_setf(errbuf, errsz, "%s:%zu: %s: \"%.80s\" is not one of male, female, other",
		    m->path, lineno, key, value);
		return IL_ERR_CONFIG;
	}
	for (i = 0; i < m->ngenders; i++) {
		if (strcasecmp(m->genders[i].text, text) == 0) {
			il_err_setf(errbuf, errsz, "%s:%zu: %s: given twice (first on line %zu)",
			    m->path, lineno, key, m->genders[i].line);
			return IL_ERR_CONFIG;
		}
	}
	m->genders = il_xrealloc(m->genders, (m->ngenders + 1) * sizeof(*m->genders));
	m->genders[m->ngenders].text = il_xstrdup(text);
	m->genders[m->ngenders].fhir = fhir;
	m->genders[m->ngenders].line = lineno;
	m->ngenders++;
	return IL_OK;
}

static il_err
il_mapping_set_area(il_mapping *m, const char *key, const char *value, size_t lineno,
    char *errbuf, size_t errsz)
{
	const char *code = key + strlen("area.");

	if (*code == '\0') {
		il_err_setf(errbuf, errsz, "%s:%zu: %s: no openSPP area code after \"area.\"",
		    m->path, lineno, key);
		return IL_ERR_CONFIG;
	}
	if (!il_mapping_code_valid(value)) {
		il_err_setf(errbuf, errsz, "%s:%zu: %s: \"%.80s\" is not a village code "
		    "(printable ASCII without blanks or quotes)", m->path, lineno, key, value);
		return IL_ERR_CONFIG;
	}
	if (strcmp(code, "default") == 0) {
		if (m->area_default != NULL) {
			il_err_setf(errbuf, errsz, "%s:%zu: %s: given twice (first on line %zu)",
			    m->path, lineno, key, m->area_default_line);
			return IL_ERR_CONFIG;
		}
		m->area_default = il_xstrdup(value);
		m->area_default_line = lineno;
		return IL_OK;
	}
	/* Duplicates are found once the table is sorted (il_mapping_finish). */
	m->areas = il_xrealloc(m->areas, (m->nareas + 1) * sizeof(*m->areas));
	m->areas[m->nareas].code = il_xstrdup(code);
	m->areas[m->nareas].village = il_xstrdup(value);
	m->areas[m->nareas].line = lineno;
	m->nareas++;
	return IL_OK;
}

/* Applies one line (without its newline); blank lines and comments do nothing. */
static il_err
il_mapping_line(il_mapping *m, char *line, size_t lineno, char *errbuf, size_t errsz)
{
	char *key, *value, *eq, *end;

	key = line;
	while (il_mapping_is_space(*key))
		key++;
	if (*key == '\0' || *key == '#' || *key == '!')
		return IL_OK;
	eq = strchr(key, '=');
	if (eq == NULL) {
		il_err_setf(errbuf, errsz, "%s:%zu: expected key = value, got a line without \"=\"",
		    m->path, lineno);
		return IL_ERR_CONFIG;
	}
	end = eq;
	while (end > key && il_mapping_is_space(end[-1]))
		end--;
	*end = '\0';
	value = eq + 1;
	while (il_mapping_is_space(*value))
		value++;
	end = value + strlen(value);
	while (end > value && il_mapping_is_space(end[-1]))
		end--;
	*end = '\0';

	if (*key == '\0') {
		il_err_setf(errbuf, errsz, "%s:%zu: expected key = value, got no key before \"=\"",
		    m->path, lineno);
		return IL_ERR_CONFIG;
	}
	if (strcmp(key, "chf.id.type") == 0) {
		if (m->chf_id_type != NULL) {
			il_err_setf(errbuf, errsz, "%s:%zu: %s: given twice (first on line %zu)",
			    m->path, lineno, key, m->chf_id_type_line);
			return IL_ERR_CONFIG;
		}
		if (*value == '\0') {
			il_err_setf(errbuf, errsz, "%s:%zu: %s: empty (name an openSPP ID type, "
			    "e.g. National ID)", m->path, lineno, key);
			return IL_ERR_CONFIG;
		}
		m->chf_id_type = il_xstrdup(value);
		m->chf_id_type_line = lineno;
		return IL_OK;
	}
	if (strncmp(key, "gender.", strlen("gender.")) == 0)
		return il_mapping_set_gender(m, key, value, lineno, errbuf, errsz);
	if (strncmp(key, "area.", strlen("area.")) == 0)
		return il_mapping_set_area(m, key, value, lineno, errbuf, errsz);
	if (strncmp(key, "programme.", strlen("programme.")) == 0)
		return il_mapping_set_programme(m, key, value, lineno, errbuf, errsz);
	il_err_setf(errbuf, errsz, "%s:%zu: %s: unknown key", m->path, lineno, key);
	return IL_ERR_CONFIG;
}

static int
il_mapping_area_cmp(const void *a, const void *b)
{
	return strcmp(((const il_mapping_area *)a)->code, ((const il_mapping_area *)b)->code);
}

static void
il_mapping_codes_add(il_mapping_codes *c, const char *code)
{
	size_t i;

	for (i = 0; i < c->n; i++) {
		if (strcmp(c->v[i], code) == 0)
			return;
	}
	c->v = il_xrealloc(c->v, (c->n + 1) * sizeof(*c->v));
	c->v[c->n++] = code;
}

/* Checks one programme as a whole: its target, what it requires, what it may not have. */
static il_err
il_mapping_check_programme(const il_mapping *m, const il_mapping_programme *p,
    char *errbuf, size_t errsz)
{
	static const il_mapping_field ins_required[] = { IL_MF_PRODUCT, IL_MF_OFFICER };
	static const il_mapping_field sp_required[] = { IL_MF_PLAN };
	const il_mapping_field *req;
	const char *tname;
	size_t nreq, i, f;

	if (p->line[IL_MF_TARGET] == 0) {
		il_err_setf(errbuf, errsz, "%s: programme.%lld.target: missing (insurance or "
		    "social_protection)", m->path, p->id);
		return IL_ERR_CONFIG;
	}
	tname = p->target == IL_PLAN_INSURANCE ? "an insurance" : "a social_protection";
	for (f = 0; f < IL_MF_COUNT; f++) {
		if (p->line[f] != 0 && il_mapping_field_target[f] >= 0 &&
		    il_mapping_field_target[f] != (int)p->target) {
			il_err_setf(errbuf, errsz, "%s:%zu: programme.%lld.%s: not used by %s "
			    "programme", m->path, p->line[f], p->id, il_mapping_fields[f], tname);
			return IL_ERR_CONFIG;
		}
	}
	/* openIMIS's API has no way to suspend a policy: say so rather than ignore it. */
	if (p->target == IL_PLAN_INSURANCE && p->suspend) {
		il_err_setf(errbuf, errsz, "%s:%zu: programme.%lld.paused: \"suspend\" is only valid "
		    "for a social_protection programme (openIMIS cannot suspend a policy; use record)",
		    m->path, p->line[IL_MF_PAUSED], p->id);
		return IL_ERR_CONFIG;
	}
	req = p->target == IL_PLAN_INSURANCE ? ins_required : sp_required;
	nreq = p->target == IL_PLAN_INSURANCE ? 2 : 1;
	for (i = 0; i < nreq; i++) {
		if (p->line[req[i]] == 0) {
			il_err_setf(errbuf, errsz, "%s: programme.%lld.%s: missing", m->path, p->id,
			    il_mapping_fields[req[i]]);
			return IL_ERR_CONFIG;
		}
	}
	return IL_OK;
}

/* Whole-file checks once every line is read, and the code lists. */
static il_err
il_mapping_finish(il_mapping *m, char *errbuf, size_t errsz)
{
	const il_mapping_area *a, *b;
	const il_mapping_programme *p;
	size_t i;
	il_err err;

	if (m->chf_id_type == NULL) {
		il_err_setf(errbuf, errsz, "%s: chf.id.type: missing (the openSPP ID type whose "
		    "value is the CHF ID, e.g. National ID)", m->path);
		return IL_ERR_CONFIG;
	}
	if (m->nareas > 1)
		qsort(m->areas, m->nareas, sizeof(*m->areas), il_mapping_area_cmp);
	for (i = 1; i < m->nareas; i++) {
		a = &m->areas[i - 1];
		b = &m->areas[i];
		if (strcmp(a->code, b->code) == 0) {
			il_err_setf(errbuf, errsz, "%s:%zu: area.%s: given twice (first on line %zu)",
			    m->path, a->line > b->line ? a->line : b->line, a->code,
			    a->line < b->line ? a->line : b->line);
			return IL_ERR_CONFIG;
		}
	}
	for (i = 0; i < m->nprogs; i++) {
		err = il_mapping_check_programme(m, &m->progs[i], errbuf, errsz);
		if (err != IL_OK)
			return err;
	}

	/* Villages come in area-code order (the table is sorted): the worker resolves each. */
	for (i = 0; i < m->nareas; i++)
		il_mapping_codes_add(&m->villages, m->areas[i].village);
	if (m->area_default != NULL)
		il_mapping_codes_add(&m->villages, m->area_default);
	for (i = 0; i < m->nprogs; i++) {
		p = &m->progs[i];
		if (p->target != IL_PLAN_INSURANCE)
			continue;
		il_mapping_codes_add(&m->officers, p->value[IL_MF_OFFICER]);
		il_mapping_codes_add(&m->products, p->value[IL_MF_PRODUCT]);
	}
	return IL_OK;
}

static il_err
il_mapping_line_cb(char *line, size_t lineno, void *ctx, char *errbuf, size_t errsz)
{
	return il_mapping_line(ctx, line, lineno, errbuf, errsz);
}

il_mapping *
il_mapping_load(const char *path, char *errbuf, size_t errsz)
{
	il_mapping *m = il_xcalloc(1, sizeof(*m));
	il_err err;

	m->path = il_xstrdup(path);
	err = il_conf_read_lines(path, true, il_mapping_line_cb, m, errbuf, errsz);
	if (err == IL_OK)
		err = il_mapping_finish(m, errbuf, errsz);
	if (err != IL_OK) {
		il_mapping_destroy(m);
		return NULL;
	}
	return m;
}

const char *const *
il_mapping_villages(const il_mapping *m, size_t *n)
{
	*n = m->villages.n;
	return (const char *const *)m->villages.v;
}

const char *const *
il_mapping_officers(const il_mapping *m, size_t *n)
{
	*n = m->officers.n;
	return (const char *const *)m->officers.v;
}

const char *const *
il_mapping_products(const il_mapping *m, size_t *n)
{
	*n = m->products.n;
	return (const char *const *)m->products.v;
}

/* ---- planning ---- */

/* What planning one event needs along the way. */
typedef struct il_mapping_ctx {
	const il_mapping *m;
	const cJSON *household;         /* the event's household, NULL when none */
	il_plan *plan;                  /* being built */
	size_t cap;                     /* people allocated in plan */
	il_buf gaps;                    /* every gap found, "; "-separated */
} il_mapping_ctx;

static const cJSON *
il_mapping_get(const cJSON *obj, const char *name)
{
	return cJSON_IsObject(obj) ? cJSON_GetObjectItemCaseSensitive(obj, name) : NULL;
}

static const cJSON *
il_mapping_obj(const cJSON *obj, const char *name)
{
	const cJSON *j = il_mapping_get(obj, name);

	return cJSON_IsObject(j) ? j : NULL;
}

/* @returns the string member @p name, NULL when absent, null or empty. */
static const char *
il_mapping_str(const cJSON *obj, const char *name)
{
	const cJSON *j = il_mapping_get(obj, name);

	if (!cJSON_IsString(j) || j->valuestring == NULL || j->valuestring[0] == '\0')
		return NULL;
	return j->valuestring;
}

/* Reads a long, a JSON number or (beyond 2^53, see avro.h) a raw one. */
static bool
il_mapping_ll(const cJSON *obj, const char *name, long long *out)
{
	const cJSON *j = il_mapping_get(obj, name);

	if (cJSON_IsRaw(j) && j->valuestring != NULL)
		return il_cli_parse_int(j->valuestring, LLONG_MIN, LLONG_MAX, out);
	if (!cJSON_IsNumber(j) || !isfinite(j->valuedouble) || j->valuedouble != floor(j->valuedouble) ||
	    fabs(j->valuedouble) > 9007199254740992.0)
		return false;
	*out = (long long)j->valuedouble;
	return true;
}

static long long
il_mapping_source_id(const cJSON *registrant)
{
	long long id;

	return il_mapping_ll(registrant, "source_id", &id) ? id : -1;
}

/* Appends @p fmt to @p b after @p sep unless @p b is empty; a full buffer just stops growing. */
__attribute__((format(printf, 3, 4)))
static void
il_mapping_note(il_buf *b, const char *sep, const char *fmt, ...)
{
	va_list ap;

	if (b->len > 0 && il_buf_adds(b, sep) != IL_OK)
		return;
	va_start(ap, fmt);
	if (il_buf_vprintf(b, fmt, ap) != IL_OK) {
		/* Cut, not dropped: the gaps before it are the useful part. */
	}
	va_end(ap);
}

static const char *
il_mapping_gender_of(const il_mapping *m, const char *text)
{
	const il_mapping_gender *g = m->genders != NULL ? m->genders : il_mapping_default_genders;
	size_t n = m->genders != NULL ? m->ngenders : 3, i;

	for (i = 0; i < n; i++) {
		if (strcasecmp(g[i].text, text) == 0)
			return g[i].fhir;
	}
	return NULL;
}

static const char *
il_mapping_village_of(const il_mapping *m, const char *area)
{
	il_mapping_area key, *a;

	key.code = (char *)area;
	a = m->nareas == 0 ? NULL :
	    bsearch(&key, m->areas, m->nareas, sizeof(*m->areas), il_mapping_area_cmp);
	return a != NULL ? a->village : NULL;
}

static bool
il_mapping_has_role(const cJSON *member, const char *role)
{
	const cJSON *r;

	cJSON_ArrayForEach(r, il_mapping_get(member, "roles")) {
		if (cJSON_IsString(r) && r->valuestring != NULL && strcasecmp(r->valuestring, role) == 0)
			return true;
	}
	return false;
}

static bool
il_mapping_member_is_head(const cJSON *member)
{
	return cJSON_IsTrue(il_mapping_get(member, "is_head")) || il_mapping_has_role(member, "Head");
}

/*
 * The group role of a dependant: the first of its membership kinds that
 * openIMIS's social protection knows (roles may list others, "Member" say,
 * before the telling one); NULL when none.
 */
static char *
il_mapping_role_of(const cJSON *member)
{
	const cJSON *r;
	size_t i;

	cJSON_ArrayForEach(r, il_mapping_get(member, "roles")) {
		if (!cJSON_IsString(r) || r->valuestring == NULL)
			continue;
		for (i = 0; i < sizeof(il_mapping_roles) / sizeof(il_mapping_roles[0]); i++) {
			if (strcasecmp(r->valuestring, il_mapping_roles[i]) == 0)
				return il_xstrdup(il_mapping_roles[i]);
		}
	}
	return NULL;
}

/* The CHF ID: the configured type's value, skipping IDs openSPP marks invalid. */
static const char *
il_mapping_chf_id(const il_mapping *m, const cJSON *registrant)
{
	const cJSON *x;
	const char *type, *value, *status;

	cJSON_ArrayForEach(x, il_mapping_get(registrant, "external_ids")) {
		type = il_mapping_str(x, "type");
		value = il_mapping_str(x, "value");
		status = il_mapping_str(x, "status");
		if (type == NULL || value == NULL || strcmp(type, m->chf_id_type) != 0)
			continue;
		if (status != NULL && strcasecmp(status, "invalid") == 0)
			continue;
		return value;
	}
	return NULL;
}

static char *
il_mapping_dup(const char *s)
{
	return s != NULL ? il_xstrdup(s) : NULL;
}

/*
 * Adds one person to the plan, or notes its gaps.  @p member is its
 * household membership (NULL when it has none), @p position its place in the
 * household's member list (0: the registrant itself).  Gaps name the person
 * by position and res_partner id only: names, birthdates and ID values are
 * personal data and stay out of messages that reach logs and dead letters.
 */
static void
il_mapping_add_person(il_mapping_ctx *c, const cJSON *registrant, const cJSON *member,
    size_t position, bool is_head)
{
	const il_mapping *m = c->m;
	il_plan_person *p;
	const cJSON *phone;
	const char *chf, *given, *family, *birth, *gtext, *gender = NULL, *area, *village = NULL;
	const char *ph = NULL;
	long long sid = il_mapping_source_id(registrant);
	char who[96];
	il_buf gaps;

	il_buf_init(&gaps, IL_MAPPING_GAPS_MAX);
	chf = il_mapping_chf_id(m, registrant);
	if (chf == NULL)
		il_mapping_note(&gaps, ", ", "no \"%s\" to use as CHF ID", m->chf_id_type);
	given = il_mapping_str(registrant, "given_name");
	if (given == NULL)
		il_mapping_note(&gaps, ", ", "no given name");
	family = il_mapping_str(registrant, "family_name");
	if (family == NULL)
		il_mapping_note(&gaps, ", ", "no family name");
	birth = il_mapping_str(registrant, "birthdate");
	if (birth == NULL)
		il_mapping_note(&gaps, ", ", "no birthdate");
	gtext = il_mapping_str(registrant, "gender");
	if (gtext == NULL)
		il_mapping_note(&gaps, ", ", "no gender");
	else if ((gender = il_mapping_gender_of(m, gtext)) == NULL)
		il_mapping_note(&gaps, ", ", "gender \"%.40s\" has no mapping (gender.%.40s)",
		    gtext, gtext);
	area = il_mapping_str(il_mapping_obj(registrant, "area"), "code");
	if (area == NULL)
		area = il_mapping_str(il_mapping_obj(c->household, "area"), "code");
	if (area != NULL)
		village = il_mapping_village_of(m, area);
	if (village == NULL)
		village = m->area_default;
	if (village == NULL && area == NULL)
		il_mapping_note(&gaps, ", ", "no area to find an openIMIS village by");
	else if (village == NULL)
		il_mapping_note(&gaps, ", ", "area \"%.80s\" has no openIMIS village in the "
		    "mapping (area.%.80s)", area, area);

	if (gaps.len > 0) {
		if (position > 0)
			snprintf(who, sizeof(who), "member %zu", position);
		else
			snprintf(who, sizeof(who), "registrant");
		if (sid >= 0)
			snprintf(who + strlen(who), sizeof(who) - strlen(who), " (res_partner %lld)", sid);
		il_mapping_note(&c->gaps, "; ", "%s: %s", who, gaps.data);
		il_buf_free(&gaps);
		return;
	}
	il_buf_free(&gaps);
	/* Once any gap is known the event fails as a whole: keep collecting, build nothing. */
	if (c->gaps.len > 0)
		return;

	if (c->plan->npeople == c->cap) {
		c->cap = c->cap == 0 ? 4 : c->cap * 2;
		c->plan->people = il_xrealloc(c->plan->people, c->cap * sizeof(*c->plan->people));
	}
	p = &c->plan->people[c->plan->npeople++];
	memset(p, 0, sizeof(*p));
	p->chf_id = il_xstrdup(chf);
	p->given = il_xstrdup(given);
	p->family = il_xstrdup(family);
	p->birthdate = il_xstrdup(birth);
	p->gender = gender;
	p->is_head = is_head;
	p->role = is_head ? il_xstrdup("HEAD") : il_mapping_role_of(member);
	p->village_code = il_xstrdup(village);
	phone = cJSON_GetArrayItem(il_mapping_get(registrant, "phones"), 0);
	if (phone != NULL) {
		ph = il_mapping_str(phone, "sanitized");
		if (ph == NULL)
			ph = il_mapping_str(phone, "number");
	}
	p->phone = il_mapping_dup(ph);
	p->email = il_mapping_dup(il_mapping_str(registrant, "email"));
	p->source_id = sid;
}

static void
il_mapping_household_name(const cJSON *household, char *out, size_t outsz)
{
	long long sid = il_mapping_source_id(household);

	if (sid >= 0)
		snprintf(out, outsz, "household (res_partner %lld)", sid);
	else
		snprintf(out, outsz, "household");
}

/* The member whose registrant is @p sid, with its 1-based position; NULL when none. */
static const cJSON *
il_mapping_member_by_id(const cJSON *members, long long sid, size_t *position)
{
	const cJSON *mb;
	size_t i = 0;

	if (sid < 0)
		return NULL;
	cJSON_ArrayForEach(mb, members) {
		i++;
		if (il_mapping_source_id(il_mapping_obj(mb, "registrant")) == sid) {
			*position = i;
			return mb;
		}
	}
	return NULL;
}

/* Who the event covers: head first, then dependants in household order. */
static void
il_mapping_people(il_mapping_ctx *c, const cJSON *event, const cJSON *programme)
{
	const cJSON *registrant = il_mapping_obj(event, "registrant");
	const cJSON *members = il_mapping_get(c->household, "members");
	const cJSON *mb, *head = NULL, *own;
	const char *target = il_mapping_str(programme, "target_type");
	size_t nheads = 0, head_pos = 0, own_pos = 0, i;
	char hh[64];

	if (cJSON_GetArraySize(members) == 0) {
		if (cJSON_IsTrue(il_mapping_get(registrant, "is_group"))) {
			il_mapping_household_name(c->household != NULL ? c->household : registrant,
			    hh, sizeof(hh));
			il_mapping_note(&c->gaps, "; ", "%s has no members", hh);
			return;
		}
		/* No household: the registrant is the head of a family of its own. */
		il_mapping_add_person(c, registrant, NULL, 0, true);
		return;
	}
	i = 0;
	cJSON_ArrayForEach(mb, members) {
		i++;
		if (il_mapping_member_is_head(mb)) {
			nheads++;
			if (head == NULL) {
				head = mb;
				head_pos = i;
			}
		}
	}
	if (nheads != 1) {
		il_mapping_household_name(c->household, hh, sizeof(hh));
		if (nheads == 0)
			il_mapping_note(&c->gaps, "; ", "%s has no head", hh);
		else
			il_mapping_note(&c->gaps, "; ", "%s has %zu heads", hh, nheads);
		return;
	}
	if (target != NULL && strcmp(target, "INDIVIDUAL") == 0) {
		long long sid = il_mapping_source_id(registrant);

		own = il_mapping_member_by_id(members, sid, &own_pos);
		if (own == head) {
			il_mapping_add_person(c, registrant, head, head_pos, true);
			return;
		}
		il_mapping_add_person(c, il_mapping_obj(head, "registrant"), head, head_pos, true);
		il_mapping_add_person(c, registrant, own, own_pos, false);
		return;
	}
	/* GROUP (or not said): the whole household is covered. */
	il_mapping_add_person(c, il_mapping_obj(head, "registrant"), head, head_pos, true);
	i = 0;
	cJSON_ArrayForEach(mb, members) {
		i++;
		if (mb != head)
			il_mapping_add_person(c, il_mapping_obj(mb, "registrant"), mb, i, false);
	}
}

/*
 * @p days plus @p months calendar months, the day clamped to the length of
 * the month reached (2024-01-31 + 1 month = 2024-02-29), minus one day: a
 * policy of N months that starts on the 31st of January ends on the 28th of
 * February, the day before the month's anniversary.
 */
static int64_t
il_mapping_expiry(int64_t days, long long months)
{
	static const int mdays[12] = { 31, 28, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31 };
	int64_t y, total;
	int m, d, dim;

	il_time_civil_from_days(days, &y, &m, &d);
	total = y * 12 + (m - 1) + months;
	y = total / 12;
	m = (int)(total % 12) + 1;
	dim = mdays[m - 1];
	if (m == 2 && ((y % 4 == 0 && y % 100 != 0) || y % 400 == 0))
		dim = 29;
	if (d > dim)
		d = dim;
	return il_time_days_from_civil(y, m, d) - 1;
}

/*
 * The period: from the enrollment date (never after @p today) and, for a
 * policy, for the programme's months.
 */
static void
il_mapping_dates(il_mapping_ctx *c, const cJSON *membership, const il_mapping_programme *p,
    int64_t today)
{
	const cJSON *ed = il_mapping_get(membership, "enrollment_date");
	char date[IL_TIME_DATE_LEN];
	int64_t ms, days = today;

	if (cJSON_IsString(ed) && ed->valuestring != NULL) {
		if (il_time_parse_ms(ed->valuestring, 0, &ms) != NULL) {
			il_mapping_note(&c->gaps, "; ", "membership enrollment_date \"%.40s\" is not "
			    "a timestamp", ed->valuestring);
			return;
		}
		days = ms >= 0 ? ms / IL_TIME_MS_PER_DAY : -((-ms + IL_TIME_MS_PER_DAY - 1) / IL_TIME_MS_PER_DAY);
	} else if (cJSON_IsNumber(ed)) {
		ms = (int64_t)ed->valuedouble;
		days = ms >= 0 ? ms / IL_TIME_MS_PER_DAY : -((-ms + IL_TIME_MS_PER_DAY - 1) / IL_TIME_MS_PER_DAY);
	}
	/* openIMIS refuses a policy whose enroll date lies in the future. */
	if (days > today)
		days = today;
	if (!il_time_format_date(days, date)) {
		il_mapping_note(&c->gaps, "; ", "membership enrollment_date is out of range");
		return;
	}
	c->plan->enroll_date = il_xstrdup(date);
	c->plan->start_date = il_xstrdup(date);
	/* A beneficiary's validity has no end the programme sets: only a policy expires. */
	if (p->target != IL_PLAN_INSURANCE)
		return;
	if (!il_time_format_date(il_mapping_expiry(days, p->months), date)) {
		il_mapping_note(&c->gaps, "; ", "policy expiry is out of range");
		return;
	}
	c->plan->expiry_date = il_xstrdup(date);
}

static void
il_mapping_record(il_plan *plan, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

static void
il_mapping_record(il_plan *plan, const char *fmt, ...)
{
	char reason[256];
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(reason, sizeof(reason), fmt, ap);
	va_end(ap);
	plan->action = IL_PLAN_RECORD;
	free(plan->reason);
	plan->reason = il_xstrdup(reason);
}

/*
 * The action an event's membership asks for; false when it asks for
 * nothing (the plan then holds RECORD and the reason).
 */
static bool
il_mapping_action(il_plan *plan, const il_mapping_programme *p, const cJSON *membership)
{
	const char *state = il_mapping_str(membership, "state");

	if (membership == NULL || state == NULL) {
		il_mapping_record(plan, "event carries no programme membership");
		return false;
	}
	if (strcmp(state, "ENROLLED") == 0) {
		plan->action = IL_PLAN_ENROLL;
		return true;
	}
	if (strcmp(state, "PAUSED") == 0) {
		/* Load refuses suspend for insurance: here it is social protection. */
		if (p->suspend) {
			plan->action = IL_PLAN_SUSPEND;
			return true;
		}
		il_mapping_record(plan, "membership PAUSED: recorded, no change in openIMIS");
		return false;
	}
	/*
	 * DRAFT is recorded for social protection too, although the contract's
	 * table maps it to POTENTIAL: every draft would put a potential
	 * beneficiary into openIMIS's maker-checker queue, flooding it with
	 * people the programme has not yet decided on.
	 */
	il_mapping_record(plan, "membership %.20s: no new coverage", state);
	return false;
}

il_err
il_mapping_plan(const il_mapping *m, const cJSON *event, const char *today,
    il_plan **out, char *errbuf, size_t errsz)
{
	il_mapping_ctx c;
	const il_mapping_programme *p;
	const cJSON *programme, *membership, *registrant;
	const char *type;
	int64_t tdays;
	long long pid;
	il_err err = IL_OK;

	*out = NULL;
	memset(&c, 0, sizeof(c));
	if (!cJSON_IsObject(event)) {
		il_err_setf(errbuf, errsz, "event is not a JSON object");
		return IL_ERR_INVALID;
	}
	if (today == NULL || il_time_parse_date(today, &tdays) != NULL) {
		il_err_setf(errbuf, errsz, "today \"%.20s\" is not a date YYYY-MM-DD",
		    today != NULL ? today : "");
		return IL_ERR_INVALID;
	}
	type = il_mapping_str(event, "event_type");
	registrant = il_mapping_obj(event, "registrant");
	if (type == NULL || registrant == NULL) {
		il_err_setf(errbuf, errsz, "event has no %s", type == NULL ? "event_type" : "registrant");
		return IL_ERR_INVALID;
	}
	c.m = m;
	c.household = il_mapping_obj(event, "household");
	c.plan = il_xcalloc(1, sizeof(*c.plan));
	c.plan->programme_id = -1;
	il_buf_init(&c.gaps, IL_MAPPING_GAPS_MAX);

	programme = il_mapping_obj(event, "programme");
	membership = il_mapping_obj(event, "membership");
	if (programme == NULL || !il_mapping_ll(programme, "id", &pid)) {
		/* Other programmes' events share the topic: not ours is not an error. */
		il_mapping_record(c.plan, "event names no programme: not mapped to openIMIS");
		goto done;
	}
	c.plan->programme_id = pid;
	p = il_mapping_programme_find(m, pid);
	if (p == NULL) {
		il_mapping_record(c.plan, "programme %lld is not mapped to openIMIS", pid);
		goto done;
	}
	c.plan->target = p->target;
	if (strcmp(type, "REGISTRANT_UPDATED") == 0) {
		if (cJSON_IsTrue(il_mapping_get(registrant, "is_group"))) {
			il_mapping_record(c.plan, "registrant is a group: no insuree to update");
			goto done;
		}
		c.plan->action = IL_PLAN_UPDATE;
	} else if (!il_mapping_action(c.plan, p, membership)) {
		goto done;
	}

	if (c.plan->action == IL_PLAN_UPDATE) {
		const cJSON *own;
		size_t pos = 0;

		/* One person: the head flag and role come from its membership, if any. */
		own = il_mapping_member_by_id(il_mapping_get(c.household, "members"),
		    il_mapping_source_id(registrant), &pos);
		il_mapping_add_person(&c, registrant, own, pos,
		    own != NULL ? il_mapping_member_is_head(own) :
		    cJSON_GetArraySize(il_mapping_get(c.household, "members")) == 0);
	} else {
		il_mapping_people(&c, event, programme);
	}
	if (p->target == IL_PLAN_INSURANCE) {
		c.plan->product_code = il_xstrdup(p->value[IL_MF_PRODUCT]);
		c.plan->officer_code = il_xstrdup(p->value[IL_MF_OFFICER]);
		c.plan->policy_value = p->policy_value;
		if (c.plan->action == IL_PLAN_ENROLL)
			il_mapping_dates(&c, membership, p, tdays);
	} else {
		c.plan->benefit_plan = il_xstrdup(p->value[IL_MF_PLAN]);
		c.plan->auto_approved = p->auto_approved;
		/* The beneficiary is valid from the enrollment date (dateValidFrom). */
		if (c.plan->action == IL_PLAN_ENROLL || c.plan->action == IL_PLAN_SUSPEND)
			il_mapping_dates(&c, membership, p, tdays);
		if (c.plan->action == IL_PLAN_ENROLL)
			c.plan->sp_status = "ACTIVE";
		else if (c.plan->action == IL_PLAN_SUSPEND)
			c.plan->sp_status = "SUSPENDED";
	}

done:
	if (c.gaps.len > 0) {
		il_err_setf(errbuf, errsz, "%s", c.gaps.data);
		il_plan_destroy(c.plan);
		err = IL_ERR_PERMANENT;
	} else {
		*out = c.plan;
	}
	il_buf_free(&c.gaps);
	return err;
}

void
il_plan_destroy(il_plan *p)
{
	size_t i;

	if (p == NULL)
		return;
	for (i = 0; i < p->npeople; i++) {
		free(p->people[i].chf_id);
		free(p->people[i].given);
		free(p->people[i].family);
		free(p->people[i].birthdate);
		free(p->people[i].role);
		free(p->people[i].village_code);
		free(p->people[i].phone);
		free(p->people[i].email);
	}
	free(p->people);
	free(p->reason);
	free(p->product_code);
	free(p->officer_code);
	free(p->enroll_date);
	free(p->start_date);
	free(p->expiry_date);
	free(p->benefit_plan);
	free(p);
}
