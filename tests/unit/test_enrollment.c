/*
 * test_enrollment - the state machine of workers/enroll/enrollment.c,
 * walked with canned openIMIS answers shaped as the server (and the
 * emulator) sends them, quirks included: validation errors as 500, the
 * duplicate CHF ID 500, write-then-fail, 401/429, asynchronous mutations.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "../../workers/enroll/enrollment.h"
#include "xalloc.h"

#define U_VILLAGE "0a000000-0000-4000-8000-000000000001"
#define U_OFFICER "0b000000-0000-4000-8000-000000000001"
#define U_PRODUCT "0c000000-0000-4000-8000-000000000001"
#define U_BPLAN   "0d000000-0000-4000-8000-000000000001"
#define U_HEAD    "10000000-0000-4000-8000-000000000001"
#define U_SPOUSE  "10000000-0000-4000-8000-000000000002"
#define U_CHILD   "10000000-0000-4000-8000-000000000003"
#define U_FAMILY  "20000000-0000-4000-8000-000000000001"
#define U_OTHERF  "20000000-0000-4000-8000-000000000002"
#define U_POLICY  "30000000-0000-4000-8000-000000000001"
#define U_INDIV   "40000000-0000-4000-8000-000000000001"

#define EXT "https://openimis.github.io/openimis_fhir_r4_ig/StructureDefinition/"
#define IDS "https://openimis.github.io/openimis_fhir_r4_ig/CodeSystem/openimis-identifiers"

#define NOT_FOUND "{\"data\":{\"insurees\":{\"edges\":[]}}}"
#define FOUND(u, f) "{\"data\":{\"insurees\":{\"edges\":[{\"node\":{\"uuid\":\"" u \
	"\",\"chfId\":\"x\",\"family\":{\"uuid\":\"" f "\"}}}]}}}"
#define FOUND_NOFAM(u) "{\"data\":{\"insurees\":{\"edges\":[{\"node\":{\"uuid\":\"" u \
	"\",\"chfId\":\"x\",\"family\":null}}]}}}"
#define PATIENT(u, f) "{\"resourceType\":\"Patient\",\"id\":\"" u "\",\"identifier\":[" \
	"{\"type\":{\"coding\":[{\"system\":\"" IDS "\",\"code\":\"UUID\"}]},\"value\":\"" u "\"}]," \
	"\"extension\":[{\"url\":\"" EXT "patient-is-head\",\"valueBoolean\":true}," \
	"{\"url\":\"" EXT "patient-group-reference\",\"valueReference\":{\"reference\":\"Group/" f "\"}}]}"
#define OUTCOME(text) "{\"resourceType\":\"OperationOutcome\",\"issue\":[{\"severity\":\"error\"," \
	"\"code\":\"exception\",\"details\":{\"text\":\"" text "\"}}]}"
#define BARE_500 "{\"resourceType\":\"OperationOutcome\",\"issue\":[{\"severity\":\"error\",\"code\":\"exception\"}]}"
#define NO_POLICY "{\"data\":{\"policiesByFamily\":{\"edges\":[]}}}"
#define POLICY(u, prod, start, end) "{\"data\":{\"policiesByFamily\":{\"edges\":[{\"node\":{" \
	"\"policyUuid\":\"" u "\",\"productCode\":\"" prod "\",\"startDate\":\"" start "\"," \
	"\"expiryDate\":\"" end "\",\"status\":2}}]}}}"
#define CONTRACT(u) "{\"resourceType\":\"Contract\",\"identifier\":[{\"type\":{\"coding\":[{\"system\":\"" \
	IDS "\",\"code\":\"UUID\"}]},\"value\":\"" u "\"},{\"type\":{\"coding\":[{\"system\":\"" IDS \
	"\",\"code\":\"ACSN\"}]},\"value\":\"17\"}]}"
#define MLOG_NONE "{\"data\":{\"mutationLogs\":{\"edges\":[]}}}"
#define MLOG(st) "{\"data\":{\"mutationLogs\":{\"edges\":[{\"node\":{\"status\":" #st \
	",\"error\":null,\"clientMutationId\":\"x\"}}]}}}"
#define MLOG_ERR "{\"data\":{\"mutationLogs\":{\"edges\":[{\"node\":{\"status\":1," \
	"\"error\":\"[{\\\"message\\\": \\\"benefit plan unknown\\\", \\\"detail\\\": \\\"\\\"}]\"," \
	"\"clientMutationId\":\"x\"}}]}}}"
#define MUTATED(name) "{\"data\":{\"" name "\":{\"clientMutationId\":\"x\",\"internalId\":\"7\"}}}"
#define INDIVIDUAL(u) "{\"data\":{\"individual\":{\"edges\":[{\"node\":{\"id\":\"" u "\"}}]}}}"
#define THROTTLED "{\"detail\":\"Request was throttled.\"}"
#define NO_AUTH "{\"detail\":\"Authentication credentials were not provided.\"}"

/* The calls one enrollment made, as "endpoint,endpoint,...". */
typedef struct run {
	il_enrollment *e;
	char trace[2048];
	int writes;
} run;

static il_catalog *
catalog(void)
{
	il_catalog *c = il_catalog_new();
	il_imis_village v;

	memset(&v, 0, sizeof(v));
	snprintf(v.uuid, sizeof(v.uuid), "%s", U_VILLAGE);
	snprintf(v.code, sizeof(v.code), "R1D1M1V1");
	snprintf(v.name, sizeof(v.name), "Village One");
	snprintf(v.municipality, sizeof(v.municipality), "Ward One");
	snprintf(v.district, sizeof(v.district), "District One");
	snprintf(v.region, sizeof(v.region), "Region One");
	il_catalog_add_village(c, &v);
	il_catalog_add_officer(c, "E00001", U_OFFICER);
	il_catalog_add_product(c, "FCTP", U_PRODUCT);
	return c;
}

static void
person(il_plan_person *p, const char *chf, const char *given, bool head, long long src,
    const char *role)
{
	p->chf_id = il_xstrdup(chf);
	p->given = il_xstrdup(given);
	p->family = il_xstrdup("Okello");
	p->birthdate = il_xstrdup("1980-04-02");
	p->gender = "female";
	p->is_head = head;
	p->role = il_xstrdup(role);
	p->village_code = il_xstrdup("R1D1M1V1");
	p->phone = NULL;
	p->email = NULL;
	p->source_id = src;
}

/* A household of @p n (1..3): head, spouse, child; with the product when @p policy. */
static il_plan *
plan(il_plan_action action, size_t n, bool policy)
{
	il_plan *p = il_xcalloc(1, sizeof(*p));

	p->action = action;
	p->target = IL_PLAN_INSURANCE;
	p->programme_id = 7;
	p->people = il_xcalloc(3, sizeof(*p->people));
	p->npeople = n;
	if (n > 0)
		person(&p->people[0], "100001", "Amina", true, 11, "HEAD");
	if (n > 1)
		person(&p->people[1], "100002", "Baraka", false, 12, "SPOUSE");
	if (n > 2)
		person(&p->people[2], "100003", "Chausiku", false, 13, "DAUGHTER");
	if (policy) {
		p->product_code = il_xstrdup("FCTP");
		p->officer_code = il_xstrdup("E00001");
		p->enroll_date = il_xstrdup("2025-03-01");
		p->start_date = il_xstrdup("2025-03-01");
		p->expiry_date = il_xstrdup("2026-02-28");
		p->policy_value = 10000;
	}
	return p;
}

static il_plan *
sp_plan(size_t n, bool auto_approved, const char *status)
{
	il_plan *p = plan(IL_PLAN_ENROLL, n, false);

	p->target = IL_PLAN_SOCIAL_PROTECTION;
	p->benefit_plan = il_xstrdup(U_BPLAN);
	p->auto_approved = auto_approved;
	p->sp_status = status;
	p->enroll_date = il_xstrdup("2025-03-01");
	return p;
}

static void
start(run *r, il_plan *p, const il_catalog *c)
{
	char err[256] = "";

	memset(r, 0, sizeof(*r));
	r->e = il_enrollment_new(p, c, err, sizeof(err));
	if (r->e == NULL)
		fail_msg("il_enrollment_new: %s", err);
}

/* Takes the next call (which must be @p endpoint) and answers it. */
static il_enroll_step
answer(run *r, const char *endpoint, long status, const char *body)
{
	const il_enroll_call *call = NULL;
	size_t n = strlen(r->trace);

	assert_int_equal(il_enrollment_next(r->e, &call), IL_ENROLL_CALL);
	assert_non_null(call);
	assert_string_equal(call->endpoint, endpoint);
	assert_non_null(call->path);
	assert_non_null(call->body);
	/* every path is relative and keeps what the server demands */
	assert_true(call->path[0] != '/');
	snprintf(r->trace + n, sizeof(r->trace) - n, "%s%s", n > 0 ? "," : "", endpoint);
	if (call->write)
		r->writes++;
	return il_enrollment_answer(r->e, status, body, body != NULL ? strlen(body) : 0);
}

static const il_enroll_call *
peek(run *r)
{
	const il_enroll_call *call = NULL;

	assert_int_equal(il_enrollment_next(r->e, &call), IL_ENROLL_CALL);
	return call;
}

static const il_enroll_result *
done(run *r, il_enroll_outcome o)
{
	const il_enroll_call *call = (const il_enroll_call *)1;
	const il_enroll_result *res = il_enrollment_result(r->e);

	assert_int_equal(il_enrollment_next(r->e, &call), IL_ENROLL_DONE);
	assert_null(call);
	if (res->outcome != o)
		fail_msg("outcome %s, expected %s (%s)", il_enroll_outcome_name(res->outcome),
		    il_enroll_outcome_name(o), res->error_message != NULL ? res->error_message : "");
	return res;
}

/* ---- insurance ---- */

static void
test_household_enrolled(void **state)
{
	il_catalog *c = catalog();
	const il_enroll_call *call;
	const il_enroll_result *res;
	run r;

	(void)state;
	start(&r, plan(IL_PLAN_ENROLL, 3, true), c);
	call = peek(&r);
	assert_string_equal(call->method, "POST");
	assert_string_equal(call->path, IL_IMIS_PATH_GRAPHQL);
	assert_false(call->write);
	assert_non_null(strstr(call->body, "100001"));
	assert_int_equal(answer(&r, "insuree_lookup", 200, NOT_FOUND), IL_ENROLL_CALL);
	/* the head founds the family: no group reference, is-head true */
	call = peek(&r);
	assert_string_equal(call->method, "POST");
	assert_string_equal(call->path, "api/api_fhir_r4/Patient/");
	assert_true(call->write);
	assert_null(strstr(call->body, "patient-group-reference"));
	assert_non_null(strstr(call->body, U_VILLAGE));
	assert_int_equal(answer(&r, "patient_create", 201, PATIENT(U_HEAD, U_FAMILY)), IL_ENROLL_CALL);
	assert_int_equal(answer(&r, "insuree_lookup", 200, NOT_FOUND), IL_ENROLL_CALL);
	/* a dependant joins the family the head's 201 named */
	call = peek(&r);
	assert_non_null(strstr(call->body, "Group/" U_FAMILY));
	assert_int_equal(answer(&r, "patient_create", 201, PATIENT(U_SPOUSE, U_FAMILY)), IL_ENROLL_CALL);
	assert_int_equal(answer(&r, "insuree_lookup", 200, NOT_FOUND), IL_ENROLL_CALL);
	assert_int_equal(answer(&r, "patient_create", 201, PATIENT(U_CHILD, U_FAMILY)), IL_ENROLL_CALL);
	call = peek(&r);
	assert_non_null(strstr(call->body, U_FAMILY));
	assert_int_equal(answer(&r, "policy_lookup", 200, NO_POLICY), IL_ENROLL_CALL);
	call = peek(&r);
	assert_string_equal(call->path, "api/api_fhir_r4/Contract/");
	assert_non_null(strstr(call->body, "Practitioner/" U_OFFICER));
	assert_non_null(strstr(call->body, "InsurancePlan/" U_PRODUCT));
	assert_int_equal(answer(&r, "contract_create", 201, CONTRACT(U_POLICY)), IL_ENROLL_DONE);

	res = done(&r, IL_OUTCOME_ENROLLED);
	assert_string_equal(r.trace, "insuree_lookup,patient_create,insuree_lookup,patient_create,"
	    "insuree_lookup,patient_create,policy_lookup,contract_create");
	assert_int_equal(res->calls, 8);
	assert_int_equal(res->target, IL_PLAN_INSURANCE);
	assert_string_equal(res->chf_id, "100001");
	assert_string_equal(res->insuree_uuid, U_HEAD);
	assert_string_equal(res->family_uuid, U_FAMILY);
	assert_string_equal(res->policy_uuid, U_POLICY);
	assert_null(res->error_class);
	assert_null(res->error_message);
	assert_int_equal(il_enrollment_last_class(r.e), IL_IMIS_OK);
	/* after DONE, answers change nothing */
	assert_int_equal(il_enrollment_answer(r.e, 200, "{}", 2), IL_ENROLL_DONE);
	assert_int_equal(res->calls, 8);
	il_enrollment_destroy(r.e);
	il_catalog_destroy(c);
}

static void
test_rerun_already_enrolled(void **state)
{
	il_catalog *c = catalog();
	const il_enroll_result *res;
	run r;

	(void)state;
	start(&r, plan(IL_PLAN_ENROLL, 3, true), c);
	answer(&r, "insuree_lookup", 200, FOUND(U_HEAD, U_FAMILY));
	answer(&r, "insuree_lookup", 200, FOUND(U_SPOUSE, U_FAMILY));
	/* a dependant found in another family stays there */
	answer(&r, "insuree_lookup", 200, FOUND(U_CHILD, U_OTHERF));
	assert_non_null(strstr(peek(&r)->body, U_FAMILY));
	/* an earlier-starting policy that overlaps the period counts */
	assert_int_equal(answer(&r, "policy_lookup", 200, POLICY(U_POLICY, "FCTP", "2024-06-01", "2025-05-31")),
	    IL_ENROLL_DONE);
	res = done(&r, IL_OUTCOME_ALREADY_ENROLLED);
	assert_int_equal(r.writes, 0);
	assert_int_equal(res->calls, 4);
	assert_string_equal(res->insuree_uuid, U_HEAD);
	assert_string_equal(res->family_uuid, U_FAMILY);
	assert_string_equal(res->policy_uuid, U_POLICY);
	il_enrollment_destroy(r.e);
	il_catalog_destroy(c);
}

static void
test_policy_of_other_product_or_period(void **state)
{
	il_catalog *c = catalog();
	const il_enroll_result *res;
	run r;

	(void)state;
	/* the family exists but its policies do not cover this product and period */
	start(&r, plan(IL_PLAN_ENROLL, 1, true), c);
	answer(&r, "insuree_lookup", 200, FOUND(U_HEAD, U_FAMILY));
	answer(&r, "policy_lookup", 200, POLICY(U_OTHERF, "SCHP", "2025-03-01", "2026-02-28"));
	answer(&r, "contract_create", 201, CONTRACT(U_POLICY));
	res = done(&r, IL_OUTCOME_ENROLLED);
	assert_string_equal(res->policy_uuid, U_POLICY);

	il_enrollment_destroy(r.e);
	start(&r, plan(IL_PLAN_ENROLL, 1, true), c);
	answer(&r, "insuree_lookup", 200, FOUND(U_HEAD, U_FAMILY));
	answer(&r, "policy_lookup", 200, POLICY(U_OTHERF, "FCTP", "2023-01-01", "2023-12-31"));
	assert_int_equal(answer(&r, "contract_create", 201, CONTRACT(U_POLICY)), IL_ENROLL_DONE);
	done(&r, IL_OUTCOME_ENROLLED);
	il_enrollment_destroy(r.e);
	il_catalog_destroy(c);
}

static void
test_new_head_existing_policy(void **state)
{
	il_catalog *c = catalog();
	const il_enroll_result *res;
	run r;

	(void)state;
	/* no product: the policy steps are skipped */
	start(&r, plan(IL_PLAN_ENROLL, 2, false), c);
	answer(&r, "insuree_lookup", 200, FOUND(U_HEAD, U_FAMILY));
	answer(&r, "insuree_lookup", 200, NOT_FOUND);
	assert_int_equal(answer(&r, "patient_create", 201, PATIENT(U_SPOUSE, U_FAMILY)), IL_ENROLL_DONE);
	res = done(&r, IL_OUTCOME_ENROLLED);
	assert_null(res->policy_uuid);
	assert_string_equal(r.trace, "insuree_lookup,insuree_lookup,patient_create");
	il_enrollment_destroy(r.e);
	il_catalog_destroy(c);
}

static void
test_write_then_fail(void **state)
{
	il_catalog *c = catalog();
	const il_enroll_result *res;
	run r;

	(void)state;
	start(&r, plan(IL_PLAN_ENROLL, 2, false), c);
	answer(&r, "insuree_lookup", 200, NOT_FOUND);
	/* stored, then a bare 500: the next call is the lookup, not the POST */
	assert_int_equal(answer(&r, "patient_create", 500, BARE_500), IL_ENROLL_RETRY);
	assert_int_equal(il_enrollment_last_class(r.e), IL_IMIS_TRANSIENT);
	assert_int_equal(answer(&r, "insuree_lookup", 200, FOUND(U_HEAD, U_FAMILY)), IL_ENROLL_CALL);
	answer(&r, "insuree_lookup", 200, NOT_FOUND);
	/* no answer at all (status 0), then 502: still the lookup each time */
	assert_int_equal(answer(&r, "patient_create", 0, NULL), IL_ENROLL_RETRY);
	assert_int_equal(answer(&r, "insuree_lookup", 502, "<html>bad gateway</html>"), IL_ENROLL_RETRY);
	/* the write did not happen after all: now it is made again */
	answer(&r, "insuree_lookup", 200, NOT_FOUND);
	assert_int_equal(answer(&r, "patient_create", 201, PATIENT(U_SPOUSE, U_FAMILY)), IL_ENROLL_DONE);
	res = done(&r, IL_OUTCOME_ENROLLED);
	assert_string_equal(r.trace, "insuree_lookup,patient_create,insuree_lookup,insuree_lookup,"
	    "patient_create,insuree_lookup,insuree_lookup,patient_create");
	assert_int_equal(res->calls, 8);
	assert_string_equal(res->insuree_uuid, U_HEAD);
	il_enrollment_destroy(r.e);
	il_catalog_destroy(c);
}

static void
test_duplicate(void **state)
{
	il_catalog *c = catalog();
	const il_enroll_result *res;
	run r;

	(void)state;
	/* lookup missed it (a race), the POST says it exists: look again */
	start(&r, plan(IL_PLAN_ENROLL, 1, false), c);
	answer(&r, "insuree_lookup", 200, NOT_FOUND);
	assert_int_equal(answer(&r, "patient_create", 500,
	    OUTCOME("Exists patient with following chfid `100001`")), IL_ENROLL_CALL);
	assert_int_equal(il_enrollment_last_class(r.e), IL_IMIS_DUPLICATE);
	assert_int_equal(answer(&r, "insuree_lookup", 200, FOUND(U_HEAD, U_FAMILY)), IL_ENROLL_DONE);
	res = done(&r, IL_OUTCOME_ALREADY_ENROLLED);
	assert_string_equal(res->family_uuid, U_FAMILY);
	il_enrollment_destroy(r.e);

	/* a server that says "exists" but never finds it does not loop */
	start(&r, plan(IL_PLAN_ENROLL, 1, false), c);
	answer(&r, "insuree_lookup", 200, NOT_FOUND);
	answer(&r, "patient_create", 500, OUTCOME("Exists patient with following chfid `100001`"));
	answer(&r, "insuree_lookup", 200, NOT_FOUND);
	assert_int_equal(answer(&r, "patient_create", 500,
	    OUTCOME("Exists patient with following chfid `100001`")), IL_ENROLL_DONE);
	res = done(&r, IL_OUTCOME_FAILED);
	assert_string_equal(res->error_class, "permanent");
	assert_null(strstr(res->error_message, "100001"));
	il_enrollment_destroy(r.e);
	il_catalog_destroy(c);
}

static void
test_validation_failed(void **state)
{
	il_catalog *c = catalog();
	const il_enroll_result *res;
	run r;

	(void)state;
	start(&r, plan(IL_PLAN_ENROLL, 2, true), c);
	answer(&r, "insuree_lookup", 200, FOUND(U_HEAD, U_FAMILY));
	answer(&r, "insuree_lookup", 200, NOT_FOUND);
	assert_int_equal(answer(&r, "patient_create", 500,
	    OUTCOME("Invalid chfid 100002: check digit wrong")), IL_ENROLL_DONE);
	assert_int_equal(il_enrollment_last_class(r.e), IL_IMIS_INVALID);
	res = done(&r, IL_OUTCOME_FAILED);
	assert_string_equal(res->error_class, "permanent");
	/* the step and person are named; the CHF ID the server echoed is not */
	assert_string_equal(res->error_message, "household member 2 (res_partner 12): openIMIS refused "
	    "the insuree: Invalid chfid ***: check digit wrong");
	assert_string_equal(res->insuree_uuid, U_HEAD);
	il_enrollment_destroy(r.e);

	/* the head: "head (res_partner 11)" */
	start(&r, plan(IL_PLAN_ENROLL, 1, false), c);
	answer(&r, "insuree_lookup", 200, NOT_FOUND);
	answer(&r, "patient_create", 500, OUTCOME("Location R1D1M1V1 is not a village"));
	res = done(&r, IL_OUTCOME_FAILED);
	assert_string_equal(res->error_message, "head (res_partner 11): openIMIS refused the insuree: "
	    "Location R1D1M1V1 is not a village");
	il_enrollment_destroy(r.e);

	/* a GraphQL error on the lookup is a refusal too */
	start(&r, plan(IL_PLAN_ENROLL, 1, false), c);
	assert_int_equal(answer(&r, "insuree_lookup", 200,
	    "{\"errors\":[{\"message\":\"Cannot query field chfId\"}]}"), IL_ENROLL_DONE);
	res = done(&r, IL_OUTCOME_FAILED);
	assert_non_null(strstr(res->error_message, "Cannot query field chfId"));
	il_enrollment_destroy(r.e);

	/* a found head without a family cannot anchor dependants */
	start(&r, plan(IL_PLAN_ENROLL, 2, false), c);
	answer(&r, "insuree_lookup", 200, FOUND_NOFAM(U_HEAD));
	res = done(&r, IL_OUTCOME_FAILED);
	assert_non_null(strstr(res->error_message, "without a family"));
	il_enrollment_destroy(r.e);
	il_catalog_destroy(c);
}

static void
test_login_and_throttle(void **state)
{
	il_catalog *c = catalog();
	const il_enroll_call *call;
	const il_enroll_result *res;
	char *body;
	run r;

	(void)state;
	start(&r, plan(IL_PLAN_ENROLL, 1, false), c);
	body = il_xstrdup(peek(&r)->body);
	assert_int_equal(answer(&r, "insuree_lookup", 401, NO_AUTH), IL_ENROLL_LOGIN);
	/* after the login, the same call */
	call = peek(&r);
	assert_string_equal(call->body, body);
	assert_int_equal(answer(&r, "insuree_lookup", 429, THROTTLED), IL_ENROLL_SLOW_DOWN);
	assert_string_equal(peek(&r)->body, body);
	free(body);
	assert_int_equal(answer(&r, "insuree_lookup", 200, NOT_FOUND), IL_ENROLL_CALL);
	/* 429 on a write: the same write again (it was not made) */
	assert_int_equal(answer(&r, "patient_create", 429, THROTTLED), IL_ENROLL_SLOW_DOWN);
	assert_int_equal(answer(&r, "patient_create", 401, NO_AUTH), IL_ENROLL_LOGIN);
	assert_int_equal(answer(&r, "patient_create", 201, PATIENT(U_HEAD, U_FAMILY)), IL_ENROLL_DONE);
	res = done(&r, IL_OUTCOME_ENROLLED);
	assert_int_equal(res->calls, 6);
	il_enrollment_destroy(r.e);

	/* 401 right after a fresh login: the token is refused, stop */
	start(&r, plan(IL_PLAN_ENROLL, 1, false), c);
	assert_int_equal(answer(&r, "insuree_lookup", 401, NO_AUTH), IL_ENROLL_LOGIN);
	assert_int_equal(answer(&r, "insuree_lookup", 401, NO_AUTH), IL_ENROLL_DONE);
	res = done(&r, IL_OUTCOME_FAILED);
	assert_string_equal(res->error_class, "permanent");
	assert_string_equal(res->error_message, "openIMIS refuses the API user's token");
	il_enrollment_destroy(r.e);

	/* 403: the API user lacks a right */
	start(&r, plan(IL_PLAN_ENROLL, 1, false), c);
	answer(&r, "insuree_lookup", 200, NOT_FOUND);
	assert_int_equal(answer(&r, "patient_create", 403,
	    "{\"resourceType\":\"OperationOutcome\",\"issue\":[{\"severity\":\"fatal\",\"code\":\"forbidden\","
	    "\"details\":{\"text\":\"User not authorized for this operation\"}}]}"), IL_ENROLL_DONE);
	assert_int_equal(il_enrollment_last_class(r.e), IL_IMIS_FORBIDDEN);
	res = done(&r, IL_OUTCOME_FAILED);
	assert_non_null(strstr(res->error_message, "User not authorized for this operation"));
	il_enrollment_destroy(r.e);

	/* a 404 from the GraphQL endpoint: a wrong URL, not a missing insuree */
	start(&r, plan(IL_PLAN_ENROLL, 1, false), c);
	assert_int_equal(answer(&r, "insuree_lookup", 404, "{\"detail\":\"Not found.\"}"), IL_ENROLL_DONE);
	res = done(&r, IL_OUTCOME_FAILED);
	assert_non_null(strstr(res->error_message, "not found"));
	il_enrollment_destroy(r.e);
	il_catalog_destroy(c);
}

static void
test_contract_transient_then_found(void **state)
{
	il_catalog *c = catalog();
	const il_enroll_result *res;
	run r;

	(void)state;
	start(&r, plan(IL_PLAN_ENROLL, 1, true), c);
	answer(&r, "insuree_lookup", 200, FOUND(U_HEAD, U_FAMILY));
	assert_int_equal(answer(&r, "policy_lookup", 503, ""), IL_ENROLL_RETRY);
	answer(&r, "policy_lookup", 200, NO_POLICY);
	assert_int_equal(answer(&r, "contract_create", 504, ""), IL_ENROLL_RETRY);
	/* the policy was stored before the failure: no second Contract */
	assert_int_equal(answer(&r, "policy_lookup", 200, POLICY(U_POLICY, "FCTP", "2025-03-01", "2026-02-28")),
	    IL_ENROLL_DONE);
	res = done(&r, IL_OUTCOME_ENROLLED);
	assert_string_equal(r.trace, "insuree_lookup,policy_lookup,policy_lookup,contract_create,policy_lookup");
	assert_string_equal(res->policy_uuid, U_POLICY);
	il_enrollment_destroy(r.e);

	/* "Contract exists": read it back */
	start(&r, plan(IL_PLAN_ENROLL, 1, true), c);
	answer(&r, "insuree_lookup", 200, FOUND(U_HEAD, U_FAMILY));
	answer(&r, "policy_lookup", 200, NO_POLICY);
	assert_int_equal(answer(&r, "contract_create", 500, OUTCOME("Contract exists for this patient")),
	    IL_ENROLL_CALL);
	answer(&r, "policy_lookup", 200, POLICY(U_POLICY, "FCTP", "2025-03-01", "2026-02-28"));
	res = done(&r, IL_OUTCOME_ALREADY_ENROLLED);
	assert_string_equal(res->policy_uuid, U_POLICY);
	il_enrollment_destroy(r.e);

	/* "Contract exists" for a policy we do not see: stop, do not loop */
	start(&r, plan(IL_PLAN_ENROLL, 1, true), c);
	answer(&r, "insuree_lookup", 200, FOUND(U_HEAD, U_FAMILY));
	answer(&r, "policy_lookup", 200, NO_POLICY);
	answer(&r, "contract_create", 500, OUTCOME("Contract exists for this patient"));
	answer(&r, "policy_lookup", 200, POLICY(U_OTHERF, "SCHP", "2025-03-01", "2026-02-28"));
	answer(&r, "contract_create", 500, OUTCOME("Contract exists for this patient"));
	res = done(&r, IL_OUTCOME_FAILED);
	assert_string_equal(res->error_message, "policy: openIMIS refused the policy: Contract exists for this patient");
	il_enrollment_destroy(r.e);

	/* a refused Contract */
	start(&r, plan(IL_PLAN_ENROLL, 1, true), c);
	answer(&r, "insuree_lookup", 200, FOUND(U_HEAD, U_FAMILY));
	answer(&r, "policy_lookup", 200, NO_POLICY);
	assert_int_equal(answer(&r, "contract_create", 500, OUTCOME("Missing `context` attribute")),
	    IL_ENROLL_DONE);
	res = done(&r, IL_OUTCOME_FAILED);
	assert_string_equal(res->error_message, "policy: openIMIS refused the policy: Missing `context` attribute");
	assert_string_equal(res->family_uuid, U_FAMILY);
	assert_null(res->policy_uuid);
	il_enrollment_destroy(r.e);
	il_catalog_destroy(c);
}

static void
test_odd_answers(void **state)
{
	il_catalog *c = catalog();
	const il_enroll_result *res;
	il_plan *p;
	run r;

	(void)state;
	/* a 201 that does not say what was stored: read it back, it counts */
	start(&r, plan(IL_PLAN_ENROLL, 1, true), c);
	answer(&r, "insuree_lookup", 200, NOT_FOUND);
	assert_int_equal(answer(&r, "patient_create", 201, "{\"resourceType\":\"Patient\"}"), IL_ENROLL_CALL);
	answer(&r, "insuree_lookup", 200, FOUND(U_HEAD, U_FAMILY));
	answer(&r, "policy_lookup", 200, NO_POLICY);
	assert_int_equal(answer(&r, "contract_create", 201, "{\"resourceType\":\"Contract\"}"), IL_ENROLL_CALL);
	answer(&r, "policy_lookup", 200, POLICY(U_POLICY, "FCTP", "2025-03-01", "2026-02-28"));
	res = done(&r, IL_OUTCOME_ENROLLED);
	assert_string_equal(res->policy_uuid, U_POLICY);
	assert_int_equal(r.writes, 2);
	il_enrollment_destroy(r.e);

	/* a lookup answer without the data asked for is a refusal */
	start(&r, plan(IL_PLAN_ENROLL, 1, true), c);
	assert_int_equal(answer(&r, "insuree_lookup", 200, "{\"data\":{}}"), IL_ENROLL_DONE);
	res = done(&r, IL_OUTCOME_FAILED);
	assert_non_null(strstr(res->error_message, "head (res_partner 11): openIMIS refused the insuree lookup"));
	il_enrollment_destroy(r.e);
	start(&r, plan(IL_PLAN_ENROLL, 1, true), c);
	answer(&r, "insuree_lookup", 200, FOUND(U_HEAD, U_FAMILY));
	answer(&r, "policy_lookup", 200, "{\"data\":{\"policiesByFamily\":null}}");
	res = done(&r, IL_OUTCOME_FAILED);
	assert_non_null(strstr(res->error_message, "policy: openIMIS refused the policy lookup"));
	il_enrollment_destroy(r.e);
	start(&r, sp_plan(1, false, "ACTIVE"), c);
	answer(&r, "mutation_log", 200, "{\"data\":{\"mutationLogs\":{\"edges\":[{\"node\":{}}]}}}");
	done(&r, IL_OUTCOME_FAILED);
	il_enrollment_destroy(r.e);
	start(&r, sp_plan(1, false, "ACTIVE"), c);
	answer(&r, "mutation_log", 200, MLOG(2));
	answer(&r, "individual_read", 200, "[]");
	done(&r, IL_OUTCOME_FAILED);
	il_enrollment_destroy(r.e);

	/* a createIndividual without an answer: its log tells, then it is made */
	start(&r, sp_plan(1, false, "ACTIVE"), c);
	answer(&r, "mutation_log", 200, MLOG_NONE);
	assert_int_equal(answer(&r, "individual_create", 0, NULL), IL_ENROLL_RETRY);
	answer(&r, "mutation_log", 200, MLOG_NONE);
	answer(&r, "individual_create", 200, MUTATED("createIndividual"));
	assert_string_equal(r.trace, "mutation_log,individual_create,mutation_log,individual_create");
	il_enrollment_destroy(r.e);

	/* social protection has no update; a person without CHF ID or a
	 * product without officer is a mapping gap */
	p = sp_plan(1, false, "ACTIVE");
	p->action = IL_PLAN_UPDATE;
	start(&r, p, c);
	done(&r, IL_OUTCOME_SKIPPED);
	il_enrollment_destroy(r.e);
	p = plan(IL_PLAN_ENROLL, 2, false);
	free(p->people[1].chf_id);
	p->people[1].chf_id = il_xstrdup("");
	{
		char err[256];

		assert_null(il_enrollment_new(p, c, err, sizeof(err)));
		assert_string_equal(err, "household member 2 (res_partner 12): no CHF ID");
		p = plan(IL_PLAN_ENROLL, 1, true);
		free(p->officer_code);
		p->officer_code = NULL;
		assert_null(il_enrollment_new(p, c, err, sizeof(err)));
		assert_string_equal(err, "product \"FCTP\" has no enrolment officer in enroll.mapping.file");
		p = plan(IL_PLAN_ENROLL, 1, true);
		free(p->expiry_date);
		p->expiry_date = NULL;
		assert_null(il_enrollment_new(p, c, err, sizeof(err)));
		assert_string_equal(err, "product \"FCTP\": the plan has no policy period");
	}
	il_catalog_destroy(c);
}

/* ---- update ---- */

static void
test_update(void **state)
{
	il_catalog *c = catalog();
	const il_enroll_call *call;
	const il_enroll_result *res;
	run r;

	(void)state;
	start(&r, plan(IL_PLAN_UPDATE, 2, false), c);
	answer(&r, "insuree_lookup", 200, FOUND(U_HEAD, U_FAMILY));
	call = peek(&r);
	assert_string_equal(call->method, "PUT");
	assert_string_equal(call->path, "api/api_fhir_r4/Patient/" U_HEAD "/");
	assert_true(call->write);
	/* the group reference is sent again, or the PUT detaches the insuree */
	assert_non_null(strstr(call->body, "Group/" U_FAMILY));
	/* transient PUT: look up again, then PUT again */
	assert_int_equal(answer(&r, "patient_update", 502, ""), IL_ENROLL_RETRY);
	answer(&r, "insuree_lookup", 200, FOUND(U_HEAD, U_FAMILY));
	assert_int_equal(answer(&r, "patient_update", 200, PATIENT(U_HEAD, U_FAMILY)), IL_ENROLL_CALL);
	/* the spouse is not in openIMIS: skipped, nothing created */
	assert_int_equal(answer(&r, "insuree_lookup", 200, NOT_FOUND), IL_ENROLL_DONE);
	res = done(&r, IL_OUTCOME_UPDATED);
	assert_string_equal(r.trace, "insuree_lookup,patient_update,insuree_lookup,patient_update,insuree_lookup");
	assert_string_equal(res->insuree_uuid, U_HEAD);
	assert_null(res->error_message);
	il_enrollment_destroy(r.e);

	/* the last person updated ends it */
	start(&r, plan(IL_PLAN_UPDATE, 1, false), c);
	answer(&r, "insuree_lookup", 200, FOUND_NOFAM(U_HEAD));
	/* no family known: nothing to send back */
	assert_null(strstr(peek(&r)->body, "patient-group-reference"));
	assert_int_equal(answer(&r, "patient_update", 200, PATIENT(U_HEAD, U_FAMILY)), IL_ENROLL_DONE);
	done(&r, IL_OUTCOME_UPDATED);
	il_enrollment_destroy(r.e);

	/* nobody known: SKIPPED */
	start(&r, plan(IL_PLAN_UPDATE, 2, false), c);
	answer(&r, "insuree_lookup", 200, NOT_FOUND);
	answer(&r, "insuree_lookup", 200, NOT_FOUND);
	res = done(&r, IL_OUTCOME_SKIPPED);
	assert_string_equal(res->error_message, "not enrolled in openIMIS");
	assert_null(res->error_class);
	assert_int_equal(r.writes, 0);
	il_enrollment_destroy(r.e);

	/* a dependant found later, and a refused update */
	start(&r, plan(IL_PLAN_UPDATE, 2, false), c);
	answer(&r, "insuree_lookup", 200, NOT_FOUND);
	answer(&r, "insuree_lookup", 200, FOUND(U_SPOUSE, U_FAMILY));
	assert_int_equal(answer(&r, "patient_update", 500, OUTCOME("Gender is required")), IL_ENROLL_DONE);
	res = done(&r, IL_OUTCOME_FAILED);
	assert_string_equal(res->error_message, "household member 2 (res_partner 12): openIMIS refused the "
	    "update: Gender is required");
	il_enrollment_destroy(r.e);
	il_catalog_destroy(c);
}

static void
test_record(void **state)
{
	il_catalog *c = catalog();
	const il_enroll_result *res;
	il_plan *p = plan(IL_PLAN_RECORD, 1, false);
	run r;

	(void)state;
	p->reason = il_xstrdup("membership EXITED: no new coverage");
	/* nothing from the catalogue is needed to record */
	free(p->people[0].village_code);
	p->people[0].village_code = il_xstrdup("NOWHERE");
	start(&r, p, c);
	res = done(&r, IL_OUTCOME_SKIPPED);
	assert_string_equal(res->error_message, "membership EXITED: no new coverage");
	assert_int_equal(res->calls, 0);
	assert_int_equal(il_enrollment_answer(r.e, 200, "{}", 2), IL_ENROLL_DONE);
	il_enrollment_destroy(r.e);

	/* nobody in the plan */
	start(&r, plan(IL_PLAN_ENROLL, 0, true), c);
	done(&r, IL_OUTCOME_SKIPPED);
	il_enrollment_destroy(r.e);

	/* insurance has no suspension in the API */
	start(&r, plan(IL_PLAN_SUSPEND, 1, false), c);
	res = done(&r, IL_OUTCOME_SKIPPED);
	assert_non_null(strstr(res->error_message, "suspension"));
	il_enrollment_destroy(r.e);
	il_catalog_destroy(c);
}

/* ---- social protection ---- */

static void
test_sp_pending(void **state)
{
	il_catalog *c = catalog();
	const il_enroll_call *call;
	const il_enroll_result *res;
	char ind_id[64] = "";
	const char *p;
	run r;

	(void)state;
	start(&r, sp_plan(1, false, "ACTIVE"), c);
	call = peek(&r);
	assert_string_equal(call->path, IL_IMIS_PATH_GRAPHQL);
	assert_false(call->write);
	p = strstr(call->body, "imislink-");
	assert_non_null(p);
	snprintf(ind_id, sizeof(ind_id), "%.29s", p);
	assert_non_null(strstr(ind_id, "-ind"));
	assert_int_equal(answer(&r, "mutation_log", 200, MLOG_NONE), IL_ENROLL_CALL);
	call = peek(&r);
	assert_true(call->write);
	assert_non_null(strstr(call->body, ind_id));
	assert_non_null(strstr(call->body, U_VILLAGE));
	assert_int_equal(answer(&r, "individual_create", 200, MUTATED("createIndividual")), IL_ENROLL_CALL);
	/* still running: wait, then poll again */
	assert_int_equal(answer(&r, "mutation_log", 200, MLOG(0)), IL_ENROLL_RETRY);
	assert_int_equal(answer(&r, "mutation_log", 200, MLOG(0)), IL_ENROLL_RETRY);
	assert_int_equal(answer(&r, "mutation_log", 200, MLOG(2)), IL_ENROLL_CALL);
	assert_non_null(strstr(peek(&r)->body, ind_id));
	answer(&r, "individual_read", 200, INDIVIDUAL(U_INDIV));
	answer(&r, "mutation_log", 200, MLOG_NONE);
	call = peek(&r);
	assert_non_null(strstr(call->body, U_INDIV));
	assert_non_null(strstr(call->body, U_BPLAN));
	assert_non_null(strstr(call->body, "ACTIVE"));
	assert_non_null(strstr(call->body, "-ben"));
	/* a transient mutation: its log tells whether it arrived */
	assert_int_equal(answer(&r, "beneficiary_create", 503, ""), IL_ENROLL_RETRY);
	assert_int_equal(answer(&r, "mutation_log", 200, MLOG(0)), IL_ENROLL_RETRY);
	assert_int_equal(answer(&r, "mutation_log", 200, MLOG(2)), IL_ENROLL_DONE);
	res = done(&r, IL_OUTCOME_PENDING_APPROVAL);
	assert_int_equal(res->target, IL_PLAN_SOCIAL_PROTECTION);
	assert_string_equal(res->individual_uuid, U_INDIV);
	assert_string_equal(res->chf_id, "100001");
	assert_int_equal(r.writes, 2);
	il_enrollment_destroy(r.e);

	/* the same person again: the same clientMutationId, found finished */
	start(&r, sp_plan(1, false, "ACTIVE"), c);
	assert_non_null(strstr(peek(&r)->body, ind_id));
	answer(&r, "mutation_log", 200, MLOG(2));
	answer(&r, "individual_read", 200, INDIVIDUAL(U_INDIV));
	assert_int_equal(answer(&r, "mutation_log", 200, MLOG(2)), IL_ENROLL_DONE);
	res = done(&r, IL_OUTCOME_ALREADY_ENROLLED);
	assert_int_equal(r.writes, 0);
	assert_string_equal(res->individual_uuid, U_INDIV);
	il_enrollment_destroy(r.e);
	il_catalog_destroy(c);
}

static void
test_sp_auto_approved(void **state)
{
	il_catalog *c = catalog();
	const il_enroll_result *res;
	char first[64] = "";
	run r;

	(void)state;
	/* two people; the individuals exist already, the beneficiaries do not */
	start(&r, sp_plan(2, true, "ACTIVE"), c);
	snprintf(first, sizeof(first), "%.29s", strstr(peek(&r)->body, "imislink-"));
	answer(&r, "mutation_log", 200, MLOG(2));
	answer(&r, "individual_read", 200, INDIVIDUAL(U_INDIV));
	answer(&r, "mutation_log", 200, MLOG_NONE);
	answer(&r, "beneficiary_create", 200, MUTATED("createBeneficiary"));
	answer(&r, "mutation_log", 200, MLOG(2));
	/* the second person has its own id */
	assert_null(strstr(peek(&r)->body, first));
	answer(&r, "mutation_log", 200, MLOG(2));
	answer(&r, "individual_read", 200, INDIVIDUAL(U_CHILD));
	assert_int_equal(answer(&r, "mutation_log", 200, MLOG(2)), IL_ENROLL_DONE);
	res = done(&r, IL_OUTCOME_ENROLLED);
	assert_string_equal(res->individual_uuid, U_INDIV);
	il_enrollment_destroy(r.e);

	/* a failed mutation ends the event with its error */
	start(&r, sp_plan(1, true, "SUSPENDED"), c);
	answer(&r, "mutation_log", 200, MLOG(2));
	answer(&r, "individual_read", 200, INDIVIDUAL(U_INDIV));
	answer(&r, "mutation_log", 200, MLOG_NONE);
	assert_non_null(strstr(peek(&r)->body, "SUSPENDED"));
	answer(&r, "beneficiary_create", 200, MUTATED("createBeneficiary"));
	assert_int_equal(answer(&r, "mutation_log", 200, MLOG_ERR), IL_ENROLL_DONE);
	res = done(&r, IL_OUTCOME_FAILED);
	assert_string_equal(res->error_class, "permanent");
	assert_string_equal(res->error_message, "head (res_partner 11): openIMIS refused the beneficiary: "
	    "benefit plan unknown");
	il_enrollment_destroy(r.e);

	/* finished individual that the server does not return */
	start(&r, sp_plan(1, true, "ACTIVE"), c);
	answer(&r, "mutation_log", 200, MLOG(2));
	answer(&r, "individual_read", 200, "{\"data\":{\"individual\":{\"edges\":[]}}}");
	done(&r, IL_OUTCOME_FAILED);
	il_enrollment_destroy(r.e);

	/* a GraphQL error on a mutation */
	start(&r, sp_plan(1, true, "ACTIVE"), c);
	answer(&r, "mutation_log", 200, MLOG_NONE);
	answer(&r, "individual_create", 200, "{\"errors\":[{\"message\":\"locationId is invalid\"}]}");
	res = done(&r, IL_OUTCOME_FAILED);
	assert_non_null(strstr(res->error_message, "locationId is invalid"));
	il_enrollment_destroy(r.e);
	il_catalog_destroy(c);
}

/* ---- construction ---- */

static void
expect_gap(il_plan *p, const il_catalog *c, const char *want)
{
	char err[256] = "";

	assert_null(il_enrollment_new(p, c, err, sizeof(err)));
	assert_string_equal(err, want);
}

static void
test_catalog_gap(void **state)
{
	il_catalog *c = catalog();
	il_plan *p;

	(void)state;
	p = plan(IL_PLAN_ENROLL, 2, true);
	free(p->people[1].village_code);
	p->people[1].village_code = il_xstrdup("R9D9M9V9");
	expect_gap(p, c, "openIMIS has no village \"R9D9M9V9\" (mapped from the area in enroll.mapping.file)");

	p = plan(IL_PLAN_ENROLL, 1, true);
	free(p->product_code);
	p->product_code = il_xstrdup("XXXX");
	expect_gap(p, c, "openIMIS has no product \"XXXX\" (named in enroll.mapping.file)");

	p = plan(IL_PLAN_ENROLL, 1, true);
	free(p->officer_code);
	p->officer_code = il_xstrdup("E99999");
	expect_gap(p, c, "openIMIS has no enrolment officer \"E99999\" (named in enroll.mapping.file)");

	p = plan(IL_PLAN_UPDATE, 1, false);
	free(p->people[0].village_code);
	p->people[0].village_code = NULL;
	expect_gap(p, c, "head (res_partner 11): no openIMIS village (the area has none in enroll.mapping.file)");

	p = sp_plan(1, false, "ACTIVE");
	free(p->benefit_plan);
	p->benefit_plan = NULL;
	expect_gap(p, c, "the programme has no benefit plan in enroll.mapping.file");

	p = plan(IL_PLAN_ENROLL, 2, false);
	p->people[0].is_head = false;
	expect_gap(p, c, "the household has no head to enroll first");

	il_enrollment_destroy(NULL);
	il_catalog_destroy(c);
}

static void
test_outcome_names(void **state)
{
	(void)state;
	assert_string_equal(il_enroll_outcome_name(IL_OUTCOME_ENROLLED), "ENROLLED");
	assert_string_equal(il_enroll_outcome_name(IL_OUTCOME_UPDATED), "UPDATED");
	assert_string_equal(il_enroll_outcome_name(IL_OUTCOME_ALREADY_ENROLLED), "ALREADY_ENROLLED");
	assert_string_equal(il_enroll_outcome_name(IL_OUTCOME_SKIPPED), "SKIPPED");
	assert_string_equal(il_enroll_outcome_name(IL_OUTCOME_PENDING_APPROVAL), "PENDING_APPROVAL");
	assert_string_equal(il_enroll_outcome_name(IL_OUTCOME_FAILED), "FAILED");
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_household_enrolled),
		cmocka_unit_test(test_rerun_already_enrolled),
		cmocka_unit_test(test_policy_of_other_product_or_period),
		cmocka_unit_test(test_new_head_existing_policy),
		cmocka_unit_test(test_write_then_fail),
		cmocka_unit_test(test_duplicate),
		cmocka_unit_test(test_validation_failed),
		cmocka_unit_test(test_login_and_throttle),
		cmocka_unit_test(test_contract_transient_then_found),
		cmocka_unit_test(test_odd_answers),
		cmocka_unit_test(test_update),
		cmocka_unit_test(test_record),
		cmocka_unit_test(test_sp_pending),
		cmocka_unit_test(test_sp_auto_approved),
		cmocka_unit_test(test_catalog_gap),
		cmocka_unit_test(test_outcome_names),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
