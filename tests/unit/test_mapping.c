/*
 * test_mapping.c - the enrollment mapping file (every kind of load error
 * and the messages people will read) and the planning of events: every
 * membership state and event type, who is covered and in what order, the
 * gaps of an event collected together, policy dates, and the promise that
 * no personal data reaches an error message.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <cjson/cJSON.h>

#include "../../workers/enroll/mapping.h"
#include "xalloc.h"

#define FIXTURE(name) IL_TEST_DATA_DIR "/mapping/" name
#define EXAMPLE_FILE IL_TEST_DATA_DIR "/../../deploy/enroll-mapping.example"
#define TODAY "2026-11-21"
#define CASH1 "0b8c4f52-3c7e-4d1a-9f8e-2a6b5c4d3e21"

static char errbuf[4096];

/* Personal data of the fixtures: none of it may reach an error message. */
static const char *const personal[] = {
	"Hoa", "Nguyen", "Amani", "Mwangi", "Lan", "Tran", "Minh",
	"1990-04-12", "1985-07-01", "2010-03-03", "2012-12-12",
	"1199080012345678", "1198570098765432", "1201000011112222", "1201200033334444",
	"+250788", "0788", "example.org", "P-4242",
};

static void
assert_no_personal_data(const char *text)
{
	size_t i;

	for (i = 0; i < sizeof(personal) / sizeof(personal[0]); i++) {
		if (strstr(text, personal[i]) != NULL)
			fail_msg("personal data \"%s\" in \"%s\"", personal[i], text);
	}
}

/* ---- events ---- */

static cJSON *
person(long long sid, const char *given, const char *family, const char *gender,
    const char *birth, const char *nid, const char *area)
{
	cJSON *r = cJSON_CreateObject(), *ids = cJSON_AddArrayToObject(r, "external_ids");
	cJSON *x, *phones, *ph, *a;
	char num[32];

	if (sid >= 0)
		cJSON_AddNumberToObject(r, "source_id", (double)sid);
	else
		cJSON_AddNullToObject(r, "source_id");
	x = cJSON_CreateObject();
	cJSON_AddStringToObject(x, "type", "Passport");
	cJSON_AddStringToObject(x, "value", "P-4242");
	cJSON_AddStringToObject(x, "status", "valid");
	cJSON_AddItemToArray(ids, x);
	if (nid != NULL) {
		x = cJSON_CreateObject();
		cJSON_AddStringToObject(x, "type", "National ID");
		cJSON_AddStringToObject(x, "value", nid);
		cJSON_AddNullToObject(x, "status");
		cJSON_AddItemToArray(ids, x);
	}
	cJSON_AddFalseToObject(r, "is_group");
	cJSON_AddNullToObject(r, "name");
	given != NULL ? (void)cJSON_AddStringToObject(r, "given_name", given) :
	    (void)cJSON_AddNullToObject(r, "given_name");
	family != NULL ? (void)cJSON_AddStringToObject(r, "family_name", family) :
	    (void)cJSON_AddNullToObject(r, "family_name");
	gender != NULL ? (void)cJSON_AddStringToObject(r, "gender", gender) :
	    (void)cJSON_AddNullToObject(r, "gender");
	birth != NULL ? (void)cJSON_AddStringToObject(r, "birthdate", birth) :
	    (void)cJSON_AddNullToObject(r, "birthdate");
	phones = cJSON_AddArrayToObject(r, "phones");
	ph = cJSON_CreateObject();
	snprintf(num, sizeof(num), "0788 %lld", sid);
	cJSON_AddStringToObject(ph, "number", num);
	snprintf(num, sizeof(num), "+250788%lld", sid);
	cJSON_AddStringToObject(ph, "sanitized", num);
	cJSON_AddItemToArray(phones, ph);
	cJSON_AddStringToObject(r, "email", "someone@example.org");
	if (area != NULL) {
		a = cJSON_AddObjectToObject(r, "area");
		cJSON_AddNumberToObject(a, "id", 7);
		cJSON_AddStringToObject(a, "code", area);
		cJSON_AddNullToObject(a, "name");
	} else {
		cJSON_AddNullToObject(r, "area");
	}
	return r;
}

static cJSON *
hoa(void)
{
	return person(4242, "Hoa", "Nguyen", "Female", "1990-04-12", "1199080012345678", "KG-03");
}

/*
 * An event of @p type for programme @p prog (-1: null) of @p target_type
 * (NULL: null), membership @p state (NULL: null) enrolled at @p enrolled
 * (NULL: null), about @p registrant (taken over).
 */
static cJSON *
event(const char *type, long long prog, const char *target_type, const char *state,
    const char *enrolled, cJSON *registrant)
{
	cJSON *e = cJSON_CreateObject(), *p, *mb;

	cJSON_AddStringToObject(e, "event_id", "00");
	cJSON_AddStringToObject(e, "event_type", type);
	cJSON_AddStringToObject(e, "occurred_at", "2026-11-21T10:00:00.123Z");
	if (prog >= 0) {
		p = cJSON_AddObjectToObject(e, "programme");
		cJSON_AddNumberToObject(p, "id", (double)prog);
		cJSON_AddStringToObject(p, "name", "a programme");
		target_type != NULL ? (void)cJSON_AddStringToObject(p, "target_type", target_type) :
		    (void)cJSON_AddNullToObject(p, "target_type");
	} else {
		cJSON_AddNullToObject(e, "programme");
	}
	if (state != NULL) {
		mb = cJSON_AddObjectToObject(e, "membership");
		cJSON_AddStringToObject(mb, "state", state);
		cJSON_AddNullToObject(mb, "previous_state");
		enrolled != NULL ? (void)cJSON_AddStringToObject(mb, "enrollment_date", enrolled) :
		    (void)cJSON_AddNullToObject(mb, "enrollment_date");
		cJSON_AddNullToObject(mb, "exit_date");
	} else {
		cJSON_AddNullToObject(e, "membership");
	}
	cJSON_AddItemToObject(e, "registrant", registrant);
	cJSON_AddNullToObject(e, "household");
	return e;
}

/* Gives @p e a household (res_partner @p sid, area @p area); @returns its member list. */
static cJSON *
household(cJSON *e, long long sid, const char *area)
{
	cJSON *h = cJSON_CreateObject(), *a;

	cJSON_ReplaceItemInObjectCaseSensitive(e, "household", h);
	cJSON_AddNumberToObject(h, "source_id", (double)sid);
	cJSON_AddArrayToObject(h, "external_ids");
	cJSON_AddStringToObject(h, "name", "Household Nguyen");
	if (area != NULL) {
		a = cJSON_AddObjectToObject(h, "area");
		cJSON_AddStringToObject(a, "code", area);
	} else {
		cJSON_AddNullToObject(h, "area");
	}
	return cJSON_AddArrayToObject(h, "members");
}

static void
member(cJSON *members, cJSON *registrant, bool is_head, const char *role1, const char *role2)
{
	cJSON *mb = cJSON_CreateObject(), *roles;

	cJSON_AddItemToObject(mb, "registrant", registrant);
	roles = cJSON_AddArrayToObject(mb, "roles");
	if (role1 != NULL)
		cJSON_AddItemToArray(roles, cJSON_CreateString(role1));
	if (role2 != NULL)
		cJSON_AddItemToArray(roles, cJSON_CreateString(role2));
	cJSON_AddBoolToObject(mb, "is_head", is_head);
	cJSON_AddItemToArray(members, mb);
}

/* The registrant as a group: what a household's own membership event carries. */
static cJSON *
group_registrant(void)
{
	cJSON *r = cJSON_CreateObject();

	cJSON_AddNumberToObject(r, "source_id", 4000);
	cJSON_AddArrayToObject(r, "external_ids");
	cJSON_AddTrueToObject(r, "is_group");
	cJSON_AddStringToObject(r, "name", "Household Nguyen");
	cJSON_AddNullToObject(r, "area");
	return r;
}

/*
 * A household of three in file order: spouse Lan (4243), head Minh by role
 * only (4244), son Amani listed as "Member" then "Son" (4245).
 */
static cJSON *
family_event(const char *type, long long prog, const char *target_type, const char *state,
    cJSON *registrant)
{
	cJSON *e = event(type, prog, target_type, state, NULL, registrant);
	cJSON *members = household(e, 4000, "KG-04");

	member(members, person(4243, "Lan", "Tran", "Female", "1985-07-01",
	    "1198570098765432", NULL), false, "Spouse", NULL);
	member(members, person(4244, "Minh", "Tran", "male", "1985-07-01",
	    "1201000011112222", "KG-03"), false, "Head", NULL);
	member(members, person(4245, "Amani", "Tran", "Male", "2010-03-03",
	    "1201200033334444", NULL), false, "Member", "Son");
	return e;
}

static il_mapping *
load(const char *path)
{
	il_mapping *m = il_mapping_load(path, errbuf, sizeof(errbuf));

	if (m == NULL)
		fail_msg("could not load \"%s\": %s", path, errbuf);
	return m;
}

/* Plans @p e (then deletes it) expecting success. */
static il_plan *
plan_ok(const il_mapping *m, cJSON *e)
{
	il_plan *p = NULL;
	il_err rc = il_mapping_plan(m, e, TODAY, &p, errbuf, sizeof(errbuf));

	cJSON_Delete(e);
	if (rc != IL_OK)
		fail_msg("planning failed: %s", errbuf);
	assert_non_null(p);
	return p;
}

/* Plans @p e (then deletes it) expecting gaps; @returns errbuf. */
static const char *
plan_gaps(const il_mapping *m, cJSON *e)
{
	il_plan *p = (il_plan *)1;
	il_err rc;

	errbuf[0] = '\0';
	rc = il_mapping_plan(m, e, TODAY, &p, errbuf, sizeof(errbuf));
	cJSON_Delete(e);
	assert_int_equal(rc, IL_ERR_PERMANENT);
	assert_null(p);
	assert_no_personal_data(errbuf);
	return errbuf;
}

/* ---- loading ---- */

static char tmpdir[] = "/tmp/test_mapping.XXXXXX";

static int
setup(void **state)
{
	(void)state;
	return mkdtemp(tmpdir) == NULL ? -1 : 0;
}

static int
teardown(void **state)
{
	char *cmd = il_xasprintf("rm -rf '%s'", tmpdir);
	int rc;

	(void)state;
	rc = system(cmd);
	free(cmd);
	return rc == 0 ? 0 : -1;
}

static char *
write_tmp(const char *name, const char *text)
{
	char *path = il_xasprintf("%s/%s", tmpdir, name);
	FILE *f = fopen(path, "w");

	assert_non_null(f);
	assert_int_equal(fputs(text, f) >= 0, 1);
	assert_int_equal(fclose(f), 0);
	return path;
}

static bool
has_code(const char *const *v, size_t n, const char *code)
{
	size_t i;

	for (i = 0; i < n; i++) {
		if (strcmp(v[i], code) == 0)
			return true;
	}
	return false;
}

static void
test_load_valid(void **state)
{
	il_mapping *m = load(FIXTURE("valid.properties"));
	const char *const *v;
	size_t n;

	(void)state;
	v = il_mapping_villages(m, &n);
	assert_int_equal(n, 2);
	assert_true(has_code(v, n, "R1D1M1V1") && has_code(v, n, "R1D1M1V2"));
	v = il_mapping_officers(m, &n);
	assert_int_equal(n, 2);
	assert_true(has_code(v, n, "E00001") && has_code(v, n, "E00002"));
	v = il_mapping_products(m, &n);
	assert_int_equal(n, 2);
	assert_true(has_code(v, n, "FCTP") && has_code(v, n, "SCHP"));
	il_mapping_destroy(m);

	m = load(FIXTURE("minimal.properties"));
	v = il_mapping_villages(m, &n);
	assert_int_equal(n, 1);
	assert_string_equal(v[0], "R2D2M2V5");
	v = il_mapping_officers(m, &n);
	assert_int_equal(n, 1);
	assert_string_equal(v[0], "E00003");
	il_mapping_destroy(m);
	il_mapping_destroy(NULL);
}

/* The documented example loads and names the emulator's reference data only. */
static void
test_load_example(void **state)
{
	il_mapping *m = load(EXAMPLE_FILE);
	const char *const *v;
	size_t n, i;

	(void)state;
	v = il_mapping_villages(m, &n);
	assert_true(n > 0);
	for (i = 0; i < n; i++) {
		assert_int_equal(strlen(v[i]), 8);
		assert_true(v[i][0] == 'R' && (v[i][1] == '1' || v[i][1] == '2') && v[i][2] == 'D' &&
		    (v[i][3] == '1' || v[i][3] == '2') && v[i][4] == 'M' &&
		    (v[i][5] == '1' || v[i][5] == '2') && v[i][6] == 'V' && v[i][7] >= '1' &&
		    v[i][7] <= '5');
	}
	v = il_mapping_officers(m, &n);
	for (i = 0; i < n; i++)
		assert_true(strcmp(v[i], "E00001") == 0 || strcmp(v[i], "E00002") == 0 ||
		    strcmp(v[i], "E00003") == 0);
	v = il_mapping_products(m, &n);
	assert_true(n > 0);
	for (i = 0; i < n; i++)
		assert_true(strcmp(v[i], "FCTP") == 0 || strcmp(v[i], "SCHP") == 0);
	il_mapping_destroy(m);

	/* The integration tests' mapping is read by the same rules. */
	m = load(IL_TEST_DATA_DIR "/enroll/mapping.properties");
	il_mapping_villages(m, &n);
	assert_int_equal(n, 40);
	il_mapping_destroy(m);
}

/* One refused file: its text and the message, "%s" standing for the path. */
static const struct {
	const char *text;
	const char *message;    /* the whole message, or its start when prefix */
	bool prefix;
} load_errors[] = {
	{ "chf.id.type = National ID\ncolour.Red = male\n",
	  "%s:2: colour.Red: unknown key", false },
	{ "chf.id.type National ID\n",
	  "%s:1: expected key = value, got a line without \"=\"", false },
	{ "chf.id.type = National ID\n = R1D1M1V1\n",
	  "%s:2: expected key = value, got no key before \"=\"", false },
	{ "area.default = R1D1M1V1\n",
	  "%s: chf.id.type: missing", true },
	{ "chf.id.type =\n",
	  "%s:1: chf.id.type: empty", true },
	{ "chf.id.type = National ID\nchf.id.type = Passport\n",
	  "%s:2: chf.id.type: given twice (first on line 1)", false },
	{ "chf.id.type = National ID\ngender.Male = man\n",
	  "%s:2: gender.Male: \"man\" is not one of male, female, other", false },
	{ "chf.id.type = National ID\ngender.Male = male\ngender.MALE = male\n",
	  "%s:3: gender.MALE: given twice (first on line 2)", false },
	{ "chf.id.type = National ID\ngender. = male\n",
	  "%s:2: gender.: no openSPP gender after \"gender.\"", false },
	{ "chf.id.type = National ID\narea.KG-03 = R1D1 M1V1\n",
	  "%s:2: area.KG-03: \"R1D1 M1V1\" is not a village code", true },
	{ "chf.id.type = National ID\narea.KG-03 =\n",
	  "%s:2: area.KG-03: \"\" is not a village code", true },
	{ "chf.id.type = National ID\narea.KG-03 = R1D1M1V1\narea.KG-01 = R1D1M1V2\n"
	  "area.KG-03 = R1D1M1V3\n",
	  "%s:4: area.KG-03: given twice (first on line 2)", false },
	{ "chf.id.type = National ID\narea.default = R1D1M1V1\narea.default = R1D1M1V2\n",
	  "%s:3: area.default: given twice (first on line 2)", false },
	{ "chf.id.type = National ID\nprogramme.x.target = insurance\n",
	  "%s:2: programme.x.target: \"x\" is not a programme id (g2p_program.id)", false },
	{ "chf.id.type = National ID\nprogramme.3 = insurance\n",
	  "%s:2: programme.3: unknown key", true },
	{ "chf.id.type = National ID\nprogramme.3.prodcut = FCTP\n",
	  "%s:2: programme.3.prodcut: unknown key", true },
	{ "chf.id.type = National ID\nprogramme.3.target = insurance\nprogramme.3.target = insurance\n",
	  "%s:3: programme.3.target: given twice (first on line 2)", false },
	{ "chf.id.type = National ID\nprogramme.3.product = FCTP\nprogramme.3.officer = E00001\n",
	  "%s: programme.3.target: missing", true },
	{ "chf.id.type = National ID\nprogramme.3.target = insurance\nprogramme.3.product = FCTP\n",
	  "%s: programme.3.officer: missing", false },
	{ "chf.id.type = National ID\nprogramme.3.policy.months = 0\n",
	  "%s:2: programme.3.policy.months: \"0\" is not a whole number of months from 1 to 1200", false },
	{ "chf.id.type = National ID\nprogramme.3.policy.months = 12x\n",
	  "%s:2: programme.3.policy.months: \"12x\" is not", true },
	{ "chf.id.type = National ID\nprogramme.3.policy.value = -1\n",
	  "%s:2: programme.3.policy.value: \"-1\" is not an amount of zero or more", false },
	{ "chf.id.type = National ID\nprogramme.3.policy.value = ten\n",
	  "%s:2: programme.3.policy.value: \"ten\" is not an amount of zero or more", false },
	{ "chf.id.type = National ID\nprogramme.3.product = FC TP\n",
	  "%s:2: programme.3.product: \"FC TP\" is not a code", true },
	{ "chf.id.type = National ID\nprogramme.7.benefit.plan = CASH1\n",
	  "%s:2: programme.7.benefit.plan: \"CASH1\" is not a benefit plan UUID", false },
	{ "chf.id.type = National ID\nprogramme.7.approval = manual\n",
	  "%s:2: programme.7.approval: \"manual\" is not one of maker-checker, auto", false },
	{ "chf.id.type = National ID\nprogramme.7.paused = stop\n",
	  "%s:2: programme.7.paused: \"stop\" is not one of record, suspend", false },
	{ "chf.id.type = National ID\nprogramme.7.target = social_protection\n",
	  "%s: programme.7.benefit.plan: missing", false },
	{ "chf.id.type = National ID\nprogramme.7.target = social_protection\n"
	  "programme.7.benefit.plan = " CASH1 "\nprogramme.7.product = FCTP\n",
	  "%s:4: programme.7.product: not used by a social_protection programme", false },
	{ "chf.id.type = National ID\nprogramme.3.target = insurance\nprogramme.3.product = FCTP\n"
	  "programme.3.officer = E00001\nprogramme.3.approval = auto\n",
	  "%s:5: programme.3.approval: not used by an insurance programme", false },
	{ "chf.id.type = National ID\n\xef\xbb\xbf" "area.X = V\n",
	  "%s:2: \xef\xbb\xbf" "area.X: unknown key", false },
};

static void
test_load_errors(void **state)
{
	char name[32], *path, *want;
	size_t i;

	(void)state;
	for (i = 0; i < sizeof(load_errors) / sizeof(load_errors[0]); i++) {
		snprintf(name, sizeof(name), "e%zu.properties", i);
		path = write_tmp(name, load_errors[i].text);
		errbuf[0] = '\0';
		if (il_mapping_load(path, errbuf, sizeof(errbuf)) != NULL)
			fail_msg("case %zu loaded", i);
		want = il_xasprintf(load_errors[i].message, path);
		if (load_errors[i].prefix ? strncmp(errbuf, want, strlen(want)) != 0 :
		    strcmp(errbuf, want) != 0)
			fail_msg("case %zu: got \"%s\", expected \"%s\"", i, errbuf, want);
		free(want);
		free(path);
	}
}

static void
test_load_fixture_errors(void **state)
{
	(void)state;
	assert_null(il_mapping_load(FIXTURE("bad-target.properties"), errbuf, sizeof(errbuf)));
	assert_string_equal(errbuf, FIXTURE("bad-target.properties") ":3: programme.3.target: "
	    "\"insurence\" is not one of insurance, social_protection");
	assert_null(il_mapping_load(FIXTURE("missing-product.properties"), errbuf, sizeof(errbuf)));
	assert_string_equal(errbuf, FIXTURE("missing-product.properties")
	    ": programme.3.product: missing");
	assert_null(il_mapping_load(FIXTURE("suspend-insurance.properties"), errbuf, sizeof(errbuf)));
	assert_non_null(strstr(errbuf, "suspend-insurance.properties:5: programme.3.paused: "
	    "\"suspend\" is only valid for a social_protection programme"));
	assert_null(il_mapping_load(FIXTURE("absent.properties"), errbuf, sizeof(errbuf)));
	assert_string_equal(errbuf, "could not open file \"" FIXTURE("absent.properties")
	    "\": No such file or directory");
}

/* BOM, CRLF, '!' comments, blanks around '=' and a missing final newline are all fine. */
static void
test_load_syntax(void **state)
{
	char *path = write_tmp("syntax.properties", "\xef\xbb\xbf# comment\r\n"
	    "  ! another\r\n\r\nchf.id.type\t=\tNational ID \r\n"
	    "gender.Not Known = OTHER\r\nprogramme.12.target=insurance\n"
	    "programme.12.product=FCTP\nprogramme.12.officer=E00001\n"
	    "programme.12.policy.value=2500.50");
	il_mapping *m = load(path);
	il_plan *p;
	cJSON *r = hoa();

	(void)state;
	cJSON_ReplaceItemInObjectCaseSensitive(r, "gender", cJSON_CreateString("not known"));
	cJSON_ReplaceItemInObjectCaseSensitive(r, "area", cJSON_CreateNull());
	/* No area mapping and no default: a gap, but gender and ID type matched. */
	assert_string_equal(plan_gaps(m, event("MEMBERSHIP_CHANGED", 12, NULL, "ENROLLED", NULL,
	    r)), "registrant (res_partner 4242): no area to find an openIMIS village by");
	il_mapping_destroy(m);
	free(path);

	path = write_tmp("syntax2.properties", "chf.id.type=National ID\narea.default=R1D1M1V1\n"
	    "gender.Not Known = OTHER\nprogramme.12.target=insurance\n"
	    "programme.12.product=FCTP\nprogramme.12.officer=E00001\n"
	    "programme.12.policy.value=2500.50\n");
	m = load(path);
	r = hoa();
	cJSON_ReplaceItemInObjectCaseSensitive(r, "gender", cJSON_CreateString("not known"));
	p = plan_ok(m, event("MEMBERSHIP_CHANGED", 12, NULL, "ENROLLED", NULL, r));
	assert_string_equal(p->people[0].gender, "other");
	assert_true(p->policy_value == 2500.5);
	il_plan_destroy(p);
	/* With gender.* keys, the defaults are gone. */
	assert_string_equal(plan_gaps(m, event("MEMBERSHIP_CHANGED", 12, NULL, "ENROLLED", NULL,
	    hoa())), "registrant (res_partner 4242): gender \"Female\" has no mapping "
	    "(gender.Female)");
	il_mapping_destroy(m);
	free(path);
}

/* ---- planning ---- */

static void
test_plan_unmapped_programme(void **state)
{
	il_mapping *m = load(FIXTURE("valid.properties"));
	il_plan *p;

	(void)state;
	p = plan_ok(m, event("MEMBERSHIP_CHANGED", -1, NULL, "ENROLLED", NULL, hoa()));
	assert_int_equal(p->action, IL_PLAN_RECORD);
	assert_int_equal(p->programme_id, -1);
	assert_string_equal(p->reason, "event names no programme: not mapped to openIMIS");
	assert_int_equal(p->npeople, 0);
	il_plan_destroy(p);

	/* Gaps do not matter for a programme that is not ours. */
	p = plan_ok(m, event("MEMBERSHIP_CHANGED", 99, "GROUP", "ENROLLED", NULL,
	    person(1, NULL, NULL, NULL, NULL, NULL, NULL)));
	assert_int_equal(p->action, IL_PLAN_RECORD);
	assert_int_equal(p->programme_id, 99);
	assert_string_equal(p->reason, "programme 99 is not mapped to openIMIS");
	il_plan_destroy(p);
	il_mapping_destroy(m);
}

static void
test_plan_enroll_insurance(void **state)
{
	il_mapping *m = load(FIXTURE("valid.properties"));
	il_plan *p;
	il_plan_person *h;

	(void)state;
	p = plan_ok(m, event("MEMBERSHIP_CHANGED", 3, "GROUP", "ENROLLED",
	    "2025-01-31T23:59:59.999Z", hoa()));
	assert_int_equal(p->action, IL_PLAN_ENROLL);
	assert_int_equal(p->target, IL_PLAN_INSURANCE);
	assert_int_equal(p->programme_id, 3);
	assert_null(p->reason);
	assert_int_equal(p->npeople, 1);
	h = &p->people[0];
	assert_string_equal(h->chf_id, "1199080012345678");
	assert_string_equal(h->given, "Hoa");
	assert_string_equal(h->family, "Nguyen");
	assert_string_equal(h->birthdate, "1990-04-12");
	assert_string_equal(h->gender, "female");
	assert_true(h->is_head);
	assert_string_equal(h->role, "HEAD");
	assert_string_equal(h->village_code, "R1D1M1V1");
	assert_string_equal(h->phone, "+2507884242");
	assert_string_equal(h->email, "someone@example.org");
	assert_int_equal(h->source_id, 4242);
	assert_string_equal(p->product_code, "FCTP");
	assert_string_equal(p->officer_code, "E00001");
	assert_true(p->policy_value == 10000);
	assert_string_equal(p->enroll_date, "2025-01-31");
	assert_string_equal(p->start_date, "2025-01-31");
	assert_string_equal(p->expiry_date, "2026-01-30");
	assert_null(p->benefit_plan);
	assert_null(p->sp_status);
	il_plan_destroy(p);

	/* Programme 4: default value 0 and 12 months; no enrollment date: today. */
	p = plan_ok(m, event("REGISTRANT_SUBMITTED", 4, NULL, "ENROLLED", NULL, hoa()));
	assert_int_equal(p->action, IL_PLAN_ENROLL);
	assert_string_equal(p->product_code, "SCHP");
	assert_string_equal(p->officer_code, "E00002");
	assert_true(p->policy_value == 0);
	assert_string_equal(p->enroll_date, TODAY);
	assert_string_equal(p->expiry_date, "2027-11-20");
	il_plan_destroy(p);
	il_mapping_destroy(m);
}

static void
test_plan_states(void **state)
{
	static const char *const none[] = { "DRAFT", "EXITED", "NOT_ELIGIBLE", "DUPLICATED" };
	static const long long progs[] = { 3, 7 };
	il_mapping *m = load(FIXTURE("valid.properties"));
	char want[128];
	il_plan *p;
	size_t i, j;

	(void)state;
	for (j = 0; j < 2; j++) {
		for (i = 0; i < 4; i++) {
			p = plan_ok(m, event("MEMBERSHIP_CHANGED", progs[j], NULL, none[i], NULL, hoa()));
			assert_int_equal(p->action, IL_PLAN_RECORD);
			assert_int_equal(p->programme_id, progs[j]);
			assert_int_equal(p->target, j == 0 ? IL_PLAN_INSURANCE : IL_PLAN_SOCIAL_PROTECTION);
			snprintf(want, sizeof(want), "membership %s: no new coverage", none[i]);
			assert_string_equal(p->reason, want);
			assert_int_equal(p->npeople, 0);
			il_plan_destroy(p);
		}
	}
	/* PAUSED: recorded for insurance and for a programme without paused=suspend. */
	p = plan_ok(m, event("MEMBERSHIP_CHANGED", 3, NULL, "PAUSED", NULL, hoa()));
	assert_int_equal(p->action, IL_PLAN_RECORD);
	assert_string_equal(p->reason, "membership PAUSED: recorded, no change in openIMIS");
	il_plan_destroy(p);
	p = plan_ok(m, event("MEMBERSHIP_CHANGED", 8, NULL, "PAUSED", NULL, hoa()));
	assert_int_equal(p->action, IL_PLAN_RECORD);
	assert_int_equal(p->target, IL_PLAN_SOCIAL_PROTECTION);
	assert_string_equal(p->reason, "membership PAUSED: recorded, no change in openIMIS");
	il_plan_destroy(p);
	p = plan_ok(m, event("MEMBERSHIP_CHANGED", 7, NULL, "PAUSED", NULL, hoa()));
	assert_int_equal(p->action, IL_PLAN_SUSPEND);
	assert_string_equal(p->sp_status, "SUSPENDED");
	assert_string_equal(p->benefit_plan, CASH1);
	assert_false(p->auto_approved);
	assert_int_equal(p->npeople, 1);
	il_plan_destroy(p);

	/* ENROLLED in social protection: ACTIVE, approval as configured. */
	p = plan_ok(m, event("MEMBERSHIP_CHANGED", 7, NULL, "ENROLLED", NULL, hoa()));
	assert_int_equal(p->action, IL_PLAN_ENROLL);
	assert_string_equal(p->sp_status, "ACTIVE");
	assert_false(p->auto_approved);
	assert_null(p->product_code);
	/* Valid from the enrollment date; a beneficiary does not expire. */
	assert_string_equal(p->enroll_date, TODAY);
	assert_string_equal(p->start_date, TODAY);
	assert_null(p->expiry_date);
	il_plan_destroy(p);
	p = plan_ok(m, event("MEMBERSHIP_CHANGED", 8, NULL, "ENROLLED",
	    "2025-03-01T08:00:00.000Z", hoa()));
	assert_string_equal(p->sp_status, "ACTIVE");
	assert_string_equal(p->start_date, "2025-03-01");
	assert_true(p->auto_approved);
	il_plan_destroy(p);

	/* No membership on a membership-driven event. */
	p = plan_ok(m, event("MEMBERSHIP_CHANGED", 3, NULL, NULL, NULL, hoa()));
	assert_int_equal(p->action, IL_PLAN_RECORD);
	assert_int_equal(p->programme_id, 3);
	assert_string_equal(p->reason, "event carries no programme membership");
	il_plan_destroy(p);
	p = plan_ok(m, event("REGISTRANT_SUBMITTED", 7, NULL, NULL, NULL, hoa()));
	assert_string_equal(p->reason, "event carries no programme membership");
	assert_int_equal(p->target, IL_PLAN_SOCIAL_PROTECTION);
	il_plan_destroy(p);
	p = plan_ok(m, event("HOUSEHOLD_CHANGED", 3, NULL, "EXITED", NULL, hoa()));
	assert_string_equal(p->reason, "membership EXITED: no new coverage");
	il_plan_destroy(p);
	il_mapping_destroy(m);
}

static void
test_plan_update(void **state)
{
	il_mapping *m = load(FIXTURE("valid.properties"));
	il_plan *p;
	cJSON *e;

	(void)state;
	/* Whatever the membership says, or with none at all. */
	p = plan_ok(m, event("REGISTRANT_UPDATED", 3, NULL, "EXITED", NULL, hoa()));
	assert_int_equal(p->action, IL_PLAN_UPDATE);
	assert_int_equal(p->npeople, 1);
	assert_true(p->people[0].is_head);
	assert_string_equal(p->people[0].chf_id, "1199080012345678");
	il_plan_destroy(p);
	p = plan_ok(m, event("REGISTRANT_UPDATED", 7, NULL, NULL, NULL, hoa()));
	assert_int_equal(p->action, IL_PLAN_UPDATE);
	assert_int_equal(p->target, IL_PLAN_SOCIAL_PROTECTION);
	assert_null(p->sp_status);
	il_plan_destroy(p);

	/* A dependant of a household: only itself, not the head. */
	e = family_event("REGISTRANT_UPDATED", 3, "GROUP", "ENROLLED",
	    person(4245, "Amani", "Tran", "Male", "2010-03-03", "1201200033334444", NULL));
	p = plan_ok(m, e);
	assert_int_equal(p->action, IL_PLAN_UPDATE);
	assert_int_equal(p->npeople, 1);
	assert_int_equal(p->people[0].source_id, 4245);
	assert_false(p->people[0].is_head);
	assert_string_equal(p->people[0].role, "SON");
	assert_string_equal(p->people[0].village_code, "R1D1M1V2");
	il_plan_destroy(p);

	/* A group updated: no person to update. */
	p = plan_ok(m, family_event("REGISTRANT_UPDATED", 3, "GROUP", NULL, group_registrant()));
	assert_int_equal(p->action, IL_PLAN_RECORD);
	assert_string_equal(p->reason, "registrant is a group: no insuree to update");
	il_plan_destroy(p);
	il_mapping_destroy(m);
}

static void
test_plan_household_group(void **state)
{
	il_mapping *m = load(FIXTURE("valid.properties"));
	const char *types[] = { "GROUP", NULL };
	il_plan *p;
	size_t i;

	(void)state;
	for (i = 0; i < 2; i++) {
		p = plan_ok(m, family_event("HOUSEHOLD_CHANGED", 3, types[i], "ENROLLED",
		    group_registrant()));
		assert_int_equal(p->action, IL_PLAN_ENROLL);
		assert_int_equal(p->npeople, 3);
		assert_int_equal(p->people[0].source_id, 4244);
		assert_true(p->people[0].is_head);
		assert_string_equal(p->people[0].role, "HEAD");
		assert_string_equal(p->people[0].gender, "male");
		assert_string_equal(p->people[0].village_code, "R1D1M1V1");
		assert_int_equal(p->people[1].source_id, 4243);
		assert_false(p->people[1].is_head);
		assert_string_equal(p->people[1].role, "SPOUSE");
		/* No area of its own: the household's. */
		assert_string_equal(p->people[1].village_code, "R1D1M1V2");
		assert_int_equal(p->people[2].source_id, 4245);
		assert_string_equal(p->people[2].role, "SON");
		il_plan_destroy(p);
	}

	/* is_head alone also marks the head; an unknown role gives no role. */
	{
		cJSON *e = event("MEMBERSHIP_CHANGED", 7, "GROUP", "ENROLLED", NULL, group_registrant());
		cJSON *members = household(e, 4000, "KG-03");

		member(members, person(4243, "Lan", "Tran", "Female", "1985-07-01",
		    "1198570098765432", NULL), false, "Cousin", NULL);
		member(members, person(4244, "Minh", "Tran", "Male", "1985-07-01",
		    "1201000011112222", NULL), true, NULL, NULL);
		p = plan_ok(m, e);
		assert_int_equal(p->npeople, 2);
		assert_int_equal(p->people[0].source_id, 4244);
		assert_string_equal(p->people[0].role, "HEAD");
		assert_null(p->people[1].role);
		assert_string_equal(p->sp_status, "ACTIVE");
		il_plan_destroy(p);
	}
	il_mapping_destroy(m);
}

static void
test_plan_household_individual(void **state)
{
	il_mapping *m = load(FIXTURE("valid.properties"));
	il_plan *p;

	(void)state;
	/* A dependant: the head (for the family), then the dependant. */
	p = plan_ok(m, family_event("MEMBERSHIP_CHANGED", 3, "INDIVIDUAL", "ENROLLED",
	    person(4243, "Lan", "Tran", "Female", "1985-07-01", "1198570098765432", NULL)));
	assert_int_equal(p->npeople, 2);
	assert_int_equal(p->people[0].source_id, 4244);
	assert_true(p->people[0].is_head);
	assert_int_equal(p->people[1].source_id, 4243);
	assert_false(p->people[1].is_head);
	assert_string_equal(p->people[1].role, "SPOUSE");
	il_plan_destroy(p);

	/* The head itself: one person. */
	p = plan_ok(m, family_event("MEMBERSHIP_CHANGED", 3, "INDIVIDUAL", "ENROLLED",
	    person(4244, "Minh", "Tran", "Male", "1985-07-01", "1201000011112222", "KG-03")));
	assert_int_equal(p->npeople, 1);
	assert_int_equal(p->people[0].source_id, 4244);
	assert_true(p->people[0].is_head);
	assert_string_equal(p->people[0].role, "HEAD");
	il_plan_destroy(p);
	il_mapping_destroy(m);
}

static void
test_plan_heads(void **state)
{
	il_mapping *m = load(FIXTURE("valid.properties"));
	cJSON *e, *members;

	(void)state;
	e = event("MEMBERSHIP_CHANGED", 3, "GROUP", "ENROLLED", NULL, group_registrant());
	members = household(e, 4000, "KG-03");
	member(members, hoa(), false, "Spouse", NULL);
	assert_string_equal(plan_gaps(m, e), "household (res_partner 4000) has no head");

	e = event("MEMBERSHIP_CHANGED", 3, "INDIVIDUAL", "ENROLLED", NULL, hoa());
	members = household(e, 4000, "KG-03");
	member(members, hoa(), true, NULL, NULL);
	member(members, person(4243, "Lan", "Tran", "Female", "1985-07-01",
	    "1198570098765432", NULL), false, "head", NULL);
	assert_string_equal(plan_gaps(m, e), "household (res_partner 4000) has 2 heads");

	/* A group without members. */
	e = event("MEMBERSHIP_CHANGED", 3, "GROUP", "ENROLLED", NULL, group_registrant());
	household(e, 4000, "KG-03");
	assert_string_equal(plan_gaps(m, e), "household (res_partner 4000) has no members");
	il_mapping_destroy(m);
}

/* Every gap of the event at once, and none of the personal data. */
static void
test_plan_gaps(void **state)
{
	il_mapping *m = load(FIXTURE("valid.properties"));
	cJSON *e, *members, *r, *ids;

	(void)state;
	e = event("MEMBERSHIP_CHANGED", 3, "GROUP", "ENROLLED", NULL, group_registrant());
	members = household(e, 4000, NULL);
	member(members, hoa(), true, "Head", NULL);
	/* Its National ID is marked invalid: no CHF ID. */
	r = person(4711, "Lan", "Tran", "Female", "1985-07-01", "1198570098765432", "KG-03");
	ids = cJSON_GetObjectItem(r, "external_ids");
	cJSON_ReplaceItemInObjectCaseSensitive(cJSON_GetArrayItem(ids, 1), "status",
	    cJSON_CreateString("invalid"));
	member(members, r, false, "Spouse", NULL);
	member(members, person(4712, NULL, "Tran", "Unknown", "2012-12-12", "1201200033334444",
	    "KG-99"), false, "Son", NULL);
	member(members, person(4713, "Minh", NULL, NULL, NULL, "1201000011112222", NULL),
	    false, "Son", NULL);
	assert_string_equal(plan_gaps(m, e),
	    "member 2 (res_partner 4711): no \"National ID\" to use as CHF ID; "
	    "member 3 (res_partner 4712): no given name, gender \"Unknown\" has no mapping "
	    "(gender.Unknown), area \"KG-99\" has no openIMIS village in the mapping (area.KG-99); "
	    "member 4 (res_partner 4713): no family name, no birthdate, no gender, "
	    "no area to find an openIMIS village by");

	/* A registrant without a source id is named by its place alone. */
	assert_string_equal(plan_gaps(m, event("MEMBERSHIP_CHANGED", 3, NULL, "ENROLLED", NULL,
	    person(-1, "Hoa", "Nguyen", "Female", "1990-04-12", NULL, "KG-03"))),
	    "registrant: no \"National ID\" to use as CHF ID");

	/* An update with a gap fails too. */
	assert_string_equal(plan_gaps(m, event("REGISTRANT_UPDATED", 4, NULL, NULL, NULL,
	    person(5, "Hoa", "Nguyen", "Female", NULL, "1199080012345678", "KG-03"))),
	    "registrant (res_partner 5): no birthdate");
	il_mapping_destroy(m);
}

static void
test_plan_person_details(void **state)
{
	il_mapping *m = load(FIXTURE("minimal.properties"));
	il_plan *p;
	cJSON *r, *ph;

	(void)state;
	/* Default genders, matched case-insensitively; unmapped area: area.default. */
	r = person(12, "Hoa", "Nguyen", "MALE", "1990-04-12", "1199080012345678", "ZZ-1");
	ph = cJSON_GetArrayItem(cJSON_GetObjectItem(r, "phones"), 0);
	cJSON_ReplaceItemInObjectCaseSensitive(ph, "sanitized", cJSON_CreateNull());
	cJSON_ReplaceItemInObjectCaseSensitive(r, "email", cJSON_CreateNull());
	p = plan_ok(m, event("MEMBERSHIP_CHANGED", 9, NULL, "ENROLLED", NULL, r));
	assert_string_equal(p->people[0].gender, "male");
	assert_string_equal(p->people[0].village_code, "R2D2M2V5");
	assert_string_equal(p->people[0].phone, "0788 12");
	assert_null(p->people[0].email);
	il_plan_destroy(p);

	r = person(13, "Hoa", "Nguyen", "other", "1990-04-12", "1199080012345678", NULL);
	cJSON_ReplaceItemInObjectCaseSensitive(r, "phones", cJSON_CreateArray());
	cJSON_ReplaceItemInObjectCaseSensitive(r, "source_id", cJSON_CreateRaw("9007199254740993"));
	p = plan_ok(m, event("MEMBERSHIP_CHANGED", 9, NULL, "ENROLLED", NULL, r));
	assert_string_equal(p->people[0].gender, "other");
	assert_null(p->people[0].phone);
	assert_true(p->people[0].source_id == 9007199254740993LL);
	il_plan_destroy(p);

	assert_string_equal(plan_gaps(m, event("MEMBERSHIP_CHANGED", 9, NULL, "ENROLLED", NULL,
	    person(14, "Hoa", "Nguyen", "Intersex", "1990-04-12", "1199080012345678", NULL))),
	    "registrant (res_partner 14): gender \"Intersex\" has no mapping (gender.Intersex)");
	il_mapping_destroy(m);
}

/* Policy periods: calendar months with the day clamped, minus one day. */
static void
test_plan_dates(void **state)
{
	static const struct {
		const char *months;
		const char *enrolled;   /* NULL: none */
		const char *today;
		const char *start;
		const char *expiry;
	} cases[] = {
		{ "1", "2024-01-31T08:00:00.000Z", "2026-11-21", "2024-01-31", "2024-02-28" },
		{ "1", "2023-01-31T08:00:00.000Z", "2026-11-21", "2023-01-31", "2023-02-27" },
		{ "12", "2024-01-01T00:00:00.000Z", "2026-11-21", "2024-01-01", "2024-12-31" },
		{ "12", "2024-02-29T12:00:00.000Z", "2026-11-21", "2024-02-29", "2025-02-27" },
		{ "1", "2024-12-15T00:00:00.000Z", "2026-11-21", "2024-12-15", "2025-01-14" },
		{ "3", "2024-11-30T00:00:00.000Z", "2026-11-21", "2024-11-30", "2025-02-27" },
		{ "12", NULL, "2026-11-21", "2026-11-21", "2027-11-20" },
		/* Later than today: clamped, openIMIS refuses a future enroll date. */
		{ "12", "2027-05-01T00:00:00.000Z", "2026-11-21", "2026-11-21", "2027-11-20" },
		/* The date is taken in UTC. */
		{ "12", "2025-12-31T23:59:59.999Z", "2026-11-21", "2025-12-31", "2026-12-30" },
		{ "24", "1969-12-31T23:00:00.000Z", "2026-11-21", "1969-12-31", "1971-12-30" },
	};
	char *text, *path;
	il_mapping *m;
	il_plan *p;
	cJSON *e;
	size_t i;

	(void)state;
	for (i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		text = il_xasprintf("chf.id.type = National ID\narea.default = R1D1M1V1\n"
		    "programme.5.target = insurance\nprogramme.5.product = FCTP\n"
		    "programme.5.officer = E00001\nprogramme.5.policy.months = %s\n", cases[i].months);
		path = write_tmp("dates.properties", text);
		m = load(path);
		e = event("MEMBERSHIP_CHANGED", 5, NULL, "ENROLLED", cases[i].enrolled, hoa());
		p = NULL;
		if (il_mapping_plan(m, e, cases[i].today, &p, errbuf, sizeof(errbuf)) != IL_OK)
			fail_msg("case %zu: %s", i, errbuf);
		if (strcmp(p->enroll_date, cases[i].start) != 0 ||
		    strcmp(p->start_date, cases[i].start) != 0 ||
		    strcmp(p->expiry_date, cases[i].expiry) != 0)
			fail_msg("case %zu: got %s..%s, expected %s..%s", i, p->start_date,
			    p->expiry_date, cases[i].start, cases[i].expiry);
		il_plan_destroy(p);
		cJSON_Delete(e);
		il_mapping_destroy(m);
		free(path);
		free(text);
	}
}

static void
test_plan_invalid(void **state)
{
	il_mapping *m = load(FIXTURE("valid.properties"));
	cJSON *e = event("MEMBERSHIP_CHANGED", 3, NULL, "ENROLLED", NULL, hoa());
	cJSON *arr = cJSON_CreateArray();
	il_plan *p = (il_plan *)1;

	(void)state;
	assert_int_equal(il_mapping_plan(m, e, "21/11/2026", &p, errbuf, sizeof(errbuf)),
	    IL_ERR_INVALID);
	assert_null(p);
	assert_string_equal(errbuf, "today \"21/11/2026\" is not a date YYYY-MM-DD");
	assert_int_equal(il_mapping_plan(m, arr, TODAY, &p, errbuf, sizeof(errbuf)), IL_ERR_INVALID);
	cJSON_DeleteItemFromObject(e, "registrant");
	assert_int_equal(il_mapping_plan(m, e, TODAY, &p, errbuf, sizeof(errbuf)), IL_ERR_INVALID);
	assert_string_equal(errbuf, "event has no registrant");
	cJSON_Delete(e);
	cJSON_Delete(arr);
	il_plan_destroy(NULL);
	il_mapping_destroy(m);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_load_valid),
		cmocka_unit_test(test_load_example),
		cmocka_unit_test(test_load_errors),
		cmocka_unit_test(test_load_fixture_errors),
		cmocka_unit_test(test_load_syntax),
		cmocka_unit_test(test_plan_unmapped_programme),
		cmocka_unit_test(test_plan_enroll_insurance),
		cmocka_unit_test(test_plan_states),
		cmocka_unit_test(test_plan_update),
		cmocka_unit_test(test_plan_household_group),
		cmocka_unit_test(test_plan_household_individual),
		cmocka_unit_test(test_plan_heads),
		cmocka_unit_test(test_plan_gaps),
		cmocka_unit_test(test_plan_person_details),
		cmocka_unit_test(test_plan_dates),
		cmocka_unit_test(test_plan_invalid),
	};

	return cmocka_run_group_tests(tests, setup, teardown);
}
