/*
 * enrollment.c - one event's way through openIMIS as a state machine (see
 * enrollment.h for the steps).
 *
 * The machine holds one pending call at a time.  A step that must be
 * repeated (429, 401, a transient failure of a lookup) leaves the call as it
 * is, so il_enrollment_next() hands out the same request again; a write that
 * failed transiently is never repeated as such: the call becomes the lookup
 * that tells whether the write happened, because openIMIS has no transaction
 * around a create.
 */
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <openssl/evp.h>

#include "enrollment.h"
#include "xalloc.h"

/* Messages from openIMIS are cut to this; they end up in a Kafka record. */
#define ENROLL_MSG_MAX 1024
/* Policies of one family read per lookup: years of renewals fit. */
#define ENROLL_POLICIES_MAX 128
/* "imislink-" + 16 hex digits, and the "-ind"/"-ben" the builders append. */
#define ENROLL_MID_MAX 48

typedef enum phase {
	PH_INS_LOOKUP = 0,       /* insurees(chfId) of person idx */
	PH_INS_CREATE,           /* POST Patient/ of person idx */
	PH_POL_LOOKUP,           /* policiesByFamily of the household */
	PH_POL_CREATE,           /* POST Contract/ */
	PH_UPD_LOOKUP,           /* insurees(chfId) of person idx, for an update */
	PH_UPD_PUT,              /* PUT Patient/<uuid>/ of person idx */
	PH_IND_LOG,              /* mutationLogs of person idx's createIndividual */
	PH_IND_CREATE,           /* createIndividual */
	PH_IND_READ,             /* individual(clientMutationId) */
	PH_BEN_LOG,              /* mutationLogs of person idx's createBeneficiary */
	PH_BEN_CREATE,           /* createBeneficiary */
	PH_DONE,
} phase;

/* What openIMIS holds of one person, as learnt on the way. */
typedef struct person_state {
	const il_imis_village *village; /* borrowed from the catalogue */
	char uuid[IL_IMIS_UUID_LEN];     /* insuree */
	char family[IL_IMIS_UUID_LEN];   /* the insuree's family ("" when none) */
	char individual[IL_IMIS_UUID_LEN];
	char ind_mid[ENROLL_MID_MAX];    /* base of the createIndividual clientMutationId */
	char ben_mid[ENROLL_MID_MAX];    /* base of the createBeneficiary clientMutationId */
	char ind_log[ENROLL_MID_MAX + 4]; /* the full ids, as mutationLogs knows them */
	char ben_log[ENROLL_MID_MAX + 4];
} person_state;

struct il_enrollment {
	il_plan *plan;           /* owned */
	const il_catalog *cat;   /* borrowed */
	const char *officer_uuid; /* borrowed from the catalogue, NULL without a policy */
	const char *product_uuid;
	person_state *ps;        /* one per plan->people */
	phase ph;
	size_t idx;              /* the person the current step is about */
	il_enroll_call call;     /* the pending call */
	char *path;              /* owned by call */
	char *body;
	int logins;              /* 401 answers in a row to the current call */
	int dups;                /* duplicate answers of the current person or policy */
	bool wrote;              /* something was created or updated */
	bool unsure;             /* a write failed transiently: the next lookup tells */
	bool first_look;         /* SP: the mutationLogs call precedes any create */
	bool all_before;         /* SP: every mutation was finished before this event */
	il_imis_class last;
	char family[IL_IMIS_UUID_LEN]; /* the household's */
	char policy[IL_IMIS_UUID_LEN];
	char msg[ENROLL_MSG_MAX];
	il_enroll_result res;
};

const char *
il_enroll_outcome_name(il_enroll_outcome o)
{
	switch (o) {
	case IL_OUTCOME_ENROLLED:
		return "ENROLLED";
	case IL_OUTCOME_UPDATED:
		return "UPDATED";
	case IL_OUTCOME_ALREADY_ENROLLED:
		return "ALREADY_ENROLLED";
	case IL_OUTCOME_SKIPPED:
		return "SKIPPED";
	case IL_OUTCOME_PENDING_APPROVAL:
		return "PENDING_APPROVAL";
	case IL_OUTCOME_FAILED:
		return "FAILED";
	}
	return "FAILED";
}

static bool
has_text(const char *s)
{
	return s != NULL && s[0] != '\0';
}

static void
copy_uuid(char dst[IL_IMIS_UUID_LEN], const char *src)
{
	snprintf(dst, IL_IMIS_UUID_LEN, "%s", src != NULL ? src : "");
}

/*
 * Names person @p i without personal data: its role or position and its
 * res_partner id ("head (res_partner 12)", "household member 2").
 */
static void
who(const il_enrollment *e, size_t i, char *buf, size_t bufsz)
{
	const il_plan_person *p = &e->plan->people[i];
	int n;

	if (p->is_head)
		n = snprintf(buf, bufsz, "head");
	else
		n = snprintf(buf, bufsz, "household member %zu", i + 1);
	if (p->source_id >= 0 && n >= 0 && (size_t)n < bufsz)
		snprintf(buf + n, bufsz - (size_t)n, " (res_partner %lld)", p->source_id);
}

/* Replaces every occurrence of @p needle in @p s (of size @p sz) with "***". */
static void
redact_one(char *s, size_t sz, const char *needle)
{
	char out[ENROLL_MSG_MAX];
	size_t nl, o = 0;
	const char *r = s, *hit;

	if (!has_text(needle) || strlen(needle) < 3 || strstr(s, needle) == NULL)
		return;
	nl = strlen(needle);
	while ((hit = strstr(r, needle)) != NULL && o < sizeof(out) - 1) {
		size_t pre = (size_t)(hit - r);

		if (pre > sizeof(out) - 1 - o)
			pre = sizeof(out) - 1 - o;
		memcpy(out + o, r, pre);
		o += pre;
		o += (size_t)snprintf(out + o, sizeof(out) - o, "%s",
		    o < sizeof(out) - 4 ? "***" : "");
		r = hit + nl;
	}
	snprintf(out + o, sizeof(out) - o, "%s", r);
	snprintf(s, sz, "%s", out);
}

/*
 * openIMIS echoes what it refused ("Exists patient with following chfid
 * `X`", a bad birth date): the message goes to Kafka and logs, so the
 * plan's personal values are masked in it.
 */
static void
redact(const il_enrollment *e, char *s, size_t sz)
{
	size_t i;

	for (i = 0; i < e->plan->npeople; i++) {
		const il_plan_person *p = &e->plan->people[i];

		redact_one(s, sz, p->chf_id);
		redact_one(s, sz, p->given);
		redact_one(s, sz, p->family);
		redact_one(s, sz, p->birthdate);
		redact_one(s, sz, p->phone);
		redact_one(s, sz, p->email);
	}
}

static void
drop_call(il_enrollment *e)
{
	free(e->path);
	free(e->body);
	e->path = NULL;
	e->body = NULL;
	memset(&e->call, 0, sizeof(e->call));
}

static void
fill_result_ids(il_enrollment *e)
{
	il_enroll_result *r = &e->res;

	r->chf_id = e->plan->npeople > 0 ? e->plan->people[0].chf_id : NULL;
	if (e->plan->npeople > 0 && has_text(e->ps[0].uuid))
		r->insuree_uuid = e->ps[0].uuid;
	if (e->plan->npeople > 0 && has_text(e->ps[0].individual))
		r->individual_uuid = e->ps[0].individual;
	if (has_text(e->family))
		r->family_uuid = e->family;
	if (has_text(e->policy))
		r->policy_uuid = e->policy;
}

static il_enroll_step
finish(il_enrollment *e, il_enroll_outcome o, const char *why)
{
	drop_call(e);
	e->ph = PH_DONE;
	e->res.outcome = o;
	if (why != NULL) {
		snprintf(e->msg, sizeof(e->msg), "%s", why);
		e->res.error_message = e->msg;
	}
	fill_result_ids(e);
	return IL_ENROLL_DONE;
}

__attribute__((format(printf, 2, 3)))
static il_enroll_step
fail(il_enrollment *e, const char *fmt, ...)
{
	va_list ap;

	drop_call(e);
	va_start(ap, fmt);
	vsnprintf(e->msg, sizeof(e->msg), fmt, ap);
	va_end(ap);
	redact(e, e->msg, sizeof(e->msg));
	e->ph = PH_DONE;
	e->res.outcome = IL_OUTCOME_FAILED;
	e->res.error_class = "permanent";
	e->res.error_message = e->msg;
	fill_result_ids(e);
	return IL_ENROLL_DONE;
}

static void
fill_person(const il_enrollment *e, size_t i, il_imis_person *ip)
{
	const il_plan_person *p = &e->plan->people[i];

	memset(ip, 0, sizeof(*ip));
	ip->chf_id = p->chf_id;
	ip->given = p->given;
	ip->family = p->family;
	ip->birthdate = p->birthdate;
	ip->gender = p->gender;
	ip->is_head = p->is_head;
	ip->village = e->ps[i].village;
	ip->phone = p->phone;
	ip->email = p->email;
}

static void
fill_policy(const il_enrollment *e, il_imis_policy *pol)
{
	const il_plan *pl = e->plan;

	memset(pol, 0, sizeof(*pol));
	pol->family_uuid = e->family;
	pol->head_uuid = e->ps[0].uuid;
	pol->officer_uuid = e->officer_uuid;
	pol->product_uuid = e->product_uuid;
	pol->product_code = pl->product_code;
	pol->enroll_date = pl->enroll_date;
	pol->start_date = has_text(pl->start_date) ? pl->start_date : pl->enroll_date;
	pol->expiry_date = pl->expiry_date;
	pol->value = pl->policy_value;
}

static void
fill_beneficiary(const il_enrollment *e, size_t i, bool ben, il_imis_beneficiary *b)
{
	const il_plan_person *p = &e->plan->people[i];
	const person_state *s = &e->ps[i];

	memset(b, 0, sizeof(*b));
	b->client_mutation_id = ben ? s->ben_mid : s->ind_mid;
	b->given = p->given;
	b->family = p->family;
	b->birthdate = p->birthdate;
	b->gender = p->gender;
	b->chf_id = p->chf_id;
	b->location_uuid = s->village != NULL ? s->village->uuid : NULL;
	b->benefit_plan = e->plan->benefit_plan;
	b->status = e->plan->sp_status != NULL ? e->plan->sp_status : "ACTIVE";
	b->individual_uuid = s->individual;
	b->date_from = has_text(e->plan->start_date) ? e->plan->start_date : e->plan->enroll_date;
}

/*
 * Makes the request of phase @p ph about person e->idx the pending call.
 * @returns IL_ENROLL_CALL, or DONE (FAILED) when a body cannot be built.
 */
static il_enroll_step
set_call(il_enrollment *e, phase ph)
{
	const char *method = "POST", *endpoint = NULL;
	il_imis_person ip;
	il_imis_policy pol;
	il_imis_beneficiary b;
	person_state *s = e->idx < e->plan->npeople ? &e->ps[e->idx] : NULL;
	bool write = false;
	char *path = NULL, *body = NULL;

	drop_call(e);
	e->ph = ph;
	e->logins = 0;
	switch (ph) {
	case PH_INS_LOOKUP:
	case PH_UPD_LOOKUP:
		endpoint = "insuree_lookup";
		body = il_imis_gql_insuree(e->plan->people[e->idx].chf_id);
		break;
	case PH_INS_CREATE:
		endpoint = "patient_create";
		write = true;
		path = il_xstrdup(IL_IMIS_PATH_PATIENT);
		fill_person(e, e->idx, &ip);
		/* a head founds a new family; a dependant joins the head's */
		ip.family_uuid = ip.is_head ? NULL : e->family;
		body = il_imis_patient_body(&ip);
		break;
	case PH_UPD_PUT:
		method = "PUT";
		endpoint = "patient_update";
		write = true;
		path = il_xasprintf("%s%s/", IL_IMIS_PATH_PATIENT, s->uuid);
		fill_person(e, e->idx, &ip);
		/* a PUT without the group reference detaches the insuree */
		ip.family_uuid = has_text(s->family) ? s->family : NULL;
		ip.uuid = s->uuid;
		body = il_imis_patient_body(&ip);
		break;
	case PH_POL_LOOKUP:
		endpoint = "policy_lookup";
		body = il_imis_gql_family_policies(e->family);
		break;
	case PH_POL_CREATE:
		endpoint = "contract_create";
		write = true;
		path = il_xstrdup(IL_IMIS_PATH_CONTRACT);
		fill_policy(e, &pol);
		body = il_imis_contract_body(&pol);
		break;
	case PH_IND_LOG:
		endpoint = "mutation_log";
		body = il_imis_gql_mutation_log(s->ind_log);
		break;
	case PH_IND_CREATE:
		endpoint = "individual_create";
		write = true;
		fill_beneficiary(e, e->idx, false, &b);
		body = il_imis_gql_create_individual(&b);
		break;
	case PH_IND_READ:
		endpoint = "individual_read";
		body = il_imis_gql_individual(s->ind_log);
		break;
	case PH_BEN_LOG:
		endpoint = "mutation_log";
		body = il_imis_gql_mutation_log(s->ben_log);
		break;
	case PH_BEN_CREATE:
		endpoint = "beneficiary_create";
		write = true;
		fill_beneficiary(e, e->idx, true, &b);
		body = il_imis_gql_create_beneficiary(&b);
		break;
	case PH_DONE:
		return IL_ENROLL_DONE;
	}
	if (path == NULL)
		path = il_xstrdup(IL_IMIS_PATH_GRAPHQL);
	if (body == NULL) {
		free(path);
		return fail(e, "could not build the %s request", endpoint);
	}
	e->path = path;
	e->body = body;
	e->call.method = method;
	e->call.path = path;
	e->call.body = body;
	e->call.endpoint = endpoint;
	e->call.write = write;
	return IL_ENROLL_CALL;
}

/* ---- insurance ---- */

static il_enroll_step
ins_next_person(il_enrollment *e)
{
	const il_plan *pl = e->plan;

	e->dups = 0;
	e->unsure = false;
	if (++e->idx < pl->npeople)
		return set_call(e, PH_INS_LOOKUP);
	if (has_text(pl->product_code))
		return set_call(e, PH_POL_LOOKUP);
	return finish(e, e->wrote ? IL_OUTCOME_ENROLLED : IL_OUTCOME_ALREADY_ENROLLED, NULL);
}

/* Takes what openIMIS has of person idx; the head's family is the household's. */
static il_enroll_step
ins_found(il_enrollment *e, const char *uuid, const char *family)
{
	person_state *s = &e->ps[e->idx];
	char w[64];

	copy_uuid(s->uuid, uuid);
	copy_uuid(s->family, family);
	if (e->idx == 0) {
		if (!has_text(family)) {
			who(e, e->idx, w, sizeof(w));
			return fail(e, "%s: openIMIS holds the insuree without a family", w);
		}
		copy_uuid(e->family, family);
	}
	/* a dependant found in another family (or none) stays where it is:
	 * moving people between families is for an operator to decide */
	return ins_next_person(e);
}

/*
 * An answer that could not be read: with the server's message it is a
 * refusal, without one a glitch worth another try of the same call.
 */
static il_enroll_step
unreadable(il_enrollment *e, const char *subject, const char *what, const char *err)
{
	if (has_text(err))
		return fail(e, "%s: openIMIS refused the %s: %s", subject, what, err);
	e->last = IL_IMIS_TRANSIENT;
	return IL_ENROLL_RETRY;
}

static il_enroll_step
on_ins_lookup(il_enrollment *e, const char *body, size_t len, const char *w)
{
	char uuid[IL_IMIS_UUID_LEN] = "", family[IL_IMIS_UUID_LEN] = "";
	char err[ENROLL_MSG_MAX] = "";
	bool found = false;

	if (il_imis_parse_insuree(body, len, &found, uuid, family, err, sizeof(err)) != IL_OK)
		return unreadable(e, w, "insuree lookup", err);
	if (!found) {
		/* a write that failed transiently did not happen: make it now */
		e->unsure = false;
		if (e->ph == PH_UPD_LOOKUP) {
			e->dups = 0;
			if (++e->idx < e->plan->npeople)
				return set_call(e, PH_UPD_LOOKUP);
			return finish(e, e->wrote ? IL_OUTCOME_UPDATED : IL_OUTCOME_SKIPPED,
			    e->wrote ? NULL : "not enrolled in openIMIS");
		}
		return set_call(e, PH_INS_CREATE);
	}
	if (e->ph == PH_UPD_LOOKUP) {
		copy_uuid(e->ps[e->idx].uuid, uuid);
		copy_uuid(e->ps[e->idx].family, family);
		if (e->idx == 0)
			copy_uuid(e->family, family);
		return set_call(e, PH_UPD_PUT);
	}
	if (e->unsure)
		e->wrote = true;
	return ins_found(e, uuid, family);
}

static il_enroll_step
on_ins_create(il_enrollment *e, il_imis_class c, const char *body, size_t len,
    const char *w, const char *msg)
{
	char uuid[IL_IMIS_UUID_LEN] = "", family[IL_IMIS_UUID_LEN] = "";

	if (c == IL_IMIS_DUPLICATE) {
		/* it exists: its UUIDs come from the lookup; a second duplicate
		 * after a lookup that did not find it would loop */
		if (++e->dups > 1)
			return fail(e, "%s: openIMIS reports the insuree as existing but does not find it", w);
		return set_call(e, PH_INS_LOOKUP);
	}
	if (c != IL_IMIS_OK)
		return fail(e, "%s: openIMIS refused the insuree: %s", w, has_text(msg) ? msg : "no reason given");
	if (il_imis_parse_patient(body, len, uuid, family) != IL_OK ||
	    (e->idx == 0 && !has_text(family))) {
		/* stored, but the answer does not say what: read it back */
		e->unsure = true;
		return set_call(e, PH_INS_LOOKUP);
	}
	e->wrote = true;
	return ins_found(e, uuid, family);
}

static il_enroll_step
on_pol_lookup(il_enrollment *e, const char *body, size_t len)
{
	il_imis_policy_ref *refs = il_xcalloc(ENROLL_POLICIES_MAX, sizeof(*refs));
	char err[ENROLL_MSG_MAX] = "";
	il_imis_policy pol;
	il_enroll_step st;
	size_t n = 0;
	long at;

	if (il_imis_parse_family_policies(body, len, refs, ENROLL_POLICIES_MAX, &n, err,
	    sizeof(err)) != IL_OK) {
		st = unreadable(e, "policy", "policy lookup", err);
		goto out;
	}
	fill_policy(e, &pol);
	at = il_imis_policy_overlap(&pol, refs, n);
	if (at < 0) {
		e->unsure = false;
		st = set_call(e, PH_POL_CREATE);
		goto out;
	}
	copy_uuid(e->policy, refs[at].uuid);
	if (e->unsure)
		e->wrote = true;
	st = finish(e, e->wrote ? IL_OUTCOME_ENROLLED : IL_OUTCOME_ALREADY_ENROLLED, NULL);
out:
	free(refs);
	return st;
}

static il_enroll_step
on_pol_create(il_enrollment *e, il_imis_class c, const char *body, size_t len, const char *msg)
{
	char uuid[IL_IMIS_UUID_LEN] = "";

	if (c == IL_IMIS_DUPLICATE) {
		/* "Contract exists": read it; if the lookup finds none of our
		 * product, the server's rule and ours disagree, so stop */
		if (++e->dups > 1)
			return fail(e, "policy: openIMIS refused the policy: %s", has_text(msg) ? msg : "a policy exists");
		return set_call(e, PH_POL_LOOKUP);
	}
	if (c != IL_IMIS_OK)
		return fail(e, "policy: openIMIS refused the policy: %s", has_text(msg) ? msg : "no reason given");
	if (il_imis_parse_contract(body, len, uuid) != IL_OK) {
		e->unsure = true;
		return set_call(e, PH_POL_LOOKUP);
	}
	copy_uuid(e->policy, uuid);
	e->wrote = true;
	return finish(e, IL_OUTCOME_ENROLLED, NULL);
}

/* ---- update ---- */

static il_enroll_step
on_upd_put(il_enrollment *e, il_imis_class c, const char *w, const char *msg)
{
	if (c != IL_IMIS_OK)
		return fail(e, "%s: openIMIS refused the update: %s", w, has_text(msg) ? msg : "no reason given");
	e->wrote = true;
	if (++e->idx < e->plan->npeople)
		return set_call(e, PH_UPD_LOOKUP);
	return finish(e, IL_OUTCOME_UPDATED, NULL);
}

/* ---- social protection ---- */

static il_enroll_step
sp_done(il_enrollment *e)
{
	il_enroll_outcome o;

	if (e->all_before)
		o = IL_OUTCOME_ALREADY_ENROLLED;
	else if (e->plan->auto_approved)
		o = IL_OUTCOME_ENROLLED;
	else
		o = IL_OUTCOME_PENDING_APPROVAL;
	return finish(e, o, NULL);
}

static il_enroll_step
on_mutation_log(il_enrollment *e, const char *body, size_t len, const char *w)
{
	bool ind = e->ph == PH_IND_LOG, found = false, first = e->first_look;
	char err[ENROLL_MSG_MAX] = "";
	const char *what = ind ? "individual" : "beneficiary";
	int status = 0;

	if (il_imis_parse_mutation_log(body, len, &found, &status, err, sizeof(err)) != IL_OK)
		return unreadable(e, w, what, err);
	e->first_look = false;
	if (!(first && found && status == 2))
		e->all_before = false;
	if (!found)
		return set_call(e, ind ? PH_IND_CREATE : PH_BEN_CREATE);
	if (status == 1)
		return fail(e, "%s: openIMIS refused the %s: %s", w, what, has_text(err) ? err : "no reason given");
	if (status != 2)
		return IL_ENROLL_RETRY; /* still running: poll again after a pause */
	if (ind)
		return set_call(e, PH_IND_READ);
	e->first_look = true;
	if (++e->idx < e->plan->npeople)
		return set_call(e, PH_IND_LOG);
	return sp_done(e);
}

static il_enroll_step
on_ind_read(il_enrollment *e, const char *body, size_t len, const char *w)
{
	char uuid[IL_IMIS_UUID_LEN] = "", err[ENROLL_MSG_MAX] = "";
	bool found = false;

	if (il_imis_parse_individual(body, len, &found, uuid, err, sizeof(err)) != IL_OK)
		return unreadable(e, w, "individual", err);
	if (!found || !has_text(uuid))
		return fail(e, "%s: openIMIS finished the individual but does not return it", w);
	copy_uuid(e->ps[e->idx].individual, uuid);
	e->first_look = true;
	return set_call(e, PH_BEN_LOG);
}

/* ---- answers ---- */

/* A transient failure: a lookup is repeated, a write becomes its lookup. */
static il_enroll_step
on_transient(il_enrollment *e)
{
	il_enroll_step st = IL_ENROLL_CALL;

	switch (e->ph) {
	case PH_INS_CREATE:
		e->unsure = true;
		st = set_call(e, PH_INS_LOOKUP);
		break;
	case PH_POL_CREATE:
		e->unsure = true;
		st = set_call(e, PH_POL_LOOKUP);
		break;
	case PH_UPD_PUT:
		st = set_call(e, PH_UPD_LOOKUP);
		break;
	case PH_IND_CREATE:
		st = set_call(e, PH_IND_LOG);
		break;
	case PH_BEN_CREATE:
		st = set_call(e, PH_BEN_LOG);
		break;
	default:
		break;
	}
	return st == IL_ENROLL_CALL ? IL_ENROLL_RETRY : st;
}

static il_enroll_step
on_refused(il_enrollment *e, il_imis_class c, const char *w, const char *msg)
{
	if (c == IL_IMIS_NOT_FOUND)
		return fail(e, "%s: openIMIS answered not found to the %s call", w, e->call.endpoint);
	return fail(e, "%s: openIMIS refused the %s call: %s", w, e->call.endpoint,
	    has_text(msg) ? msg : "no reason given");
}

il_enroll_step
il_enrollment_answer(il_enrollment *e, long status, const char *body, size_t len)
{
	char msg[ENROLL_MSG_MAX] = "", w[64] = "policy";
	il_imis_class c;

	if (e == NULL || e->ph == PH_DONE)
		return IL_ENROLL_DONE;
	if (body == NULL) {
		body = "";
		len = 0;
	}
	e->res.calls++;
	c = il_imis_classify(status, !e->call.write, body, len, msg, sizeof(msg));
	e->last = c;
	if (c != IL_IMIS_UNAUTHORIZED)
		e->logins = 0;
	if (e->ph != PH_POL_LOOKUP && e->ph != PH_POL_CREATE)
		who(e, e->idx, w, sizeof(w));
	switch (c) {
	case IL_IMIS_RATE_LIMITED:
		return IL_ENROLL_SLOW_DOWN;
	case IL_IMIS_UNAUTHORIZED:
		/* a 401 right after a fresh login is not an expired token */
		if (e->logins++ > 0)
			return fail(e, "openIMIS refuses the API user's token");
		return IL_ENROLL_LOGIN;
	case IL_IMIS_FORBIDDEN:
		return fail(e, "openIMIS forbids the API user the %s call: %s", e->call.endpoint,
		    has_text(msg) ? msg : "no reason given");
	case IL_IMIS_TRANSIENT:
		return on_transient(e);
	default:
		break;
	}
	switch (e->ph) {
	case PH_INS_CREATE:
		return on_ins_create(e, c, body, len, w, msg);
	case PH_POL_CREATE:
		return on_pol_create(e, c, body, len, msg);
	case PH_UPD_PUT:
		return on_upd_put(e, c, w, msg);
	default:
		break;
	}
	if (c != IL_IMIS_OK)
		return on_refused(e, c, w, msg);
	switch (e->ph) {
	case PH_INS_LOOKUP:
	case PH_UPD_LOOKUP:
		return on_ins_lookup(e, body, len, w);
	case PH_POL_LOOKUP:
		return on_pol_lookup(e, body, len);
	case PH_IND_LOG:
	case PH_BEN_LOG:
		return on_mutation_log(e, body, len, w);
	case PH_IND_READ:
		return on_ind_read(e, body, len, w);
	case PH_IND_CREATE:
	case PH_BEN_CREATE:
		/* accepted, not done: the work runs later, its log says when */
		e->first_look = false;
		return set_call(e, e->ph == PH_IND_CREATE ? PH_IND_LOG : PH_BEN_LOG);
	default:
		break;
	}
	return IL_ENROLL_DONE;
}

/* ---- construction ---- */

/* "imislink-" + the first 16 hex digits of SHA-256(@p a|@p b[|@p c]). */
static bool
mutation_id(char out[ENROLL_MID_MAX], const char *a, const char *b, const char *c)
{
	unsigned char md[EVP_MAX_MD_SIZE];
	unsigned int mdlen = 0;
	char *text = c != NULL ? il_xasprintf("%s|%s|%s", a, b, c) : il_xasprintf("%s|%s", a, b);
	bool ok;
	int i;

	ok = EVP_Digest(text, strlen(text), md, &mdlen, EVP_sha256(), NULL) == 1 && mdlen >= 8;
	free(text);
	if (!ok)
		return false;
	memcpy(out, "imislink-", 9);
	for (i = 0; i < 8; i++)
		snprintf(out + 9 + 2 * i, 3, "%02x", md[i]);
	return true;
}

/* Checks the reference data @p e's plan needs; fills what each person uses. */
static bool
resolve(il_enrollment *e, bool need_village, char *errbuf, size_t errsz)
{
	const il_plan *pl = e->plan;
	bool sp = pl->target == IL_PLAN_SOCIAL_PROTECTION;
	char w[64];
	size_t i;

	for (i = 0; i < pl->npeople; i++) {
		const il_plan_person *p = &pl->people[i];
		person_state *s = &e->ps[i];

		if (need_village && !has_text(p->village_code)) {
			who(e, i, w, sizeof(w));
			il_err_setf(errbuf, errsz, "%s: no openIMIS village (the area has none in enroll.mapping.file)", w);
			return false;
		}
		if (need_village) {
			s->village = il_catalog_village(e->cat, p->village_code);
			if (s->village == NULL) {
				il_err_setf(errbuf, errsz, "openIMIS has no village \"%s\" (mapped from the area in enroll.mapping.file)",
				    p->village_code);
				return false;
			}
		}
		if (!has_text(p->chf_id)) {
			who(e, i, w, sizeof(w));
			il_err_setf(errbuf, errsz, "%s: no CHF ID", w);
			return false;
		}
		if (sp && pl->action != IL_PLAN_RECORD) {
			if (!mutation_id(s->ind_mid, pl->benefit_plan, p->chf_id, NULL) ||
			    !mutation_id(s->ben_mid, pl->benefit_plan, p->chf_id, pl->sp_status)) {
				il_err_setf(errbuf, errsz, "could not compute a clientMutationId: SHA-256 failed");
				return false;
			}
			snprintf(s->ind_log, sizeof(s->ind_log), "%s-ind", s->ind_mid);
			snprintf(s->ben_log, sizeof(s->ben_log), "%s-ben", s->ben_mid);
		}
	}
	if (pl->target != IL_PLAN_INSURANCE || pl->action != IL_PLAN_ENROLL ||
	    !has_text(pl->product_code))
		return true;
	e->product_uuid = il_catalog_product(e->cat, pl->product_code);
	if (e->product_uuid == NULL) {
		il_err_setf(errbuf, errsz, "openIMIS has no product \"%s\" (named in enroll.mapping.file)",
		    pl->product_code);
		return false;
	}
	if (!has_text(pl->officer_code)) {
		il_err_setf(errbuf, errsz, "product \"%s\" has no enrolment officer in enroll.mapping.file",
		    pl->product_code);
		return false;
	}
	e->officer_uuid = il_catalog_officer(e->cat, pl->officer_code);
	if (e->officer_uuid == NULL) {
		il_err_setf(errbuf, errsz, "openIMIS has no enrolment officer \"%s\" (named in enroll.mapping.file)",
		    pl->officer_code);
		return false;
	}
	if (!has_text(pl->enroll_date) || !has_text(pl->expiry_date)) {
		il_err_setf(errbuf, errsz, "product \"%s\": the plan has no policy period", pl->product_code);
		return false;
	}
	return true;
}

/* Plans with nothing to send end at once; @returns true then. */
static bool
start_trivial(il_enrollment *e)
{
	const il_plan *pl = e->plan;

	if (pl->action == IL_PLAN_RECORD) {
		finish(e, IL_OUTCOME_SKIPPED, has_text(pl->reason) ? pl->reason : "nothing to do in openIMIS");
		return true;
	}
	if (pl->npeople == 0) {
		finish(e, IL_OUTCOME_SKIPPED, "nobody to enroll");
		return true;
	}
	if (pl->target == IL_PLAN_INSURANCE && pl->action == IL_PLAN_SUSPEND) {
		finish(e, IL_OUTCOME_SKIPPED, "openIMIS's API offers no policy suspension");
		return true;
	}
	if (pl->target == IL_PLAN_SOCIAL_PROTECTION && pl->action == IL_PLAN_UPDATE) {
		finish(e, IL_OUTCOME_SKIPPED, "openIMIS individuals are not updated");
		return true;
	}
	return false;
}

il_enrollment *
il_enrollment_new(il_plan *plan, const il_catalog *cat, char *errbuf, size_t errsz)
{
	il_enrollment *e;
	bool sp, need_village;

	if (plan == NULL || cat == NULL) {
		il_err_setf(errbuf, errsz, "no plan or no catalogue");
		il_plan_destroy(plan);
		return NULL;
	}
	e = il_xcalloc(1, sizeof(*e));
	e->plan = plan;
	e->cat = cat;
	e->ps = il_xcalloc(plan->npeople > 0 ? plan->npeople : 1, sizeof(*e->ps));
	e->res.target = plan->target;
	e->last = IL_IMIS_OK;
	e->all_before = true;
	if (start_trivial(e))
		return e;
	sp = plan->target == IL_PLAN_SOCIAL_PROTECTION;
	need_village = sp || plan->action == IL_PLAN_ENROLL || plan->action == IL_PLAN_UPDATE;
	if (sp && !has_text(plan->benefit_plan)) {
		il_err_setf(errbuf, errsz, "the programme has no benefit plan in enroll.mapping.file");
		goto fail;
	}
	if (!sp && plan->action == IL_PLAN_ENROLL && !plan->people[0].is_head) {
		il_err_setf(errbuf, errsz, "the household has no head to enroll first");
		goto fail;
	}
	if (!resolve(e, need_village, errbuf, errsz))
		goto fail;
	if (sp)
		e->first_look = true;
	if (set_call(e, sp ? PH_IND_LOG :
	    plan->action == IL_PLAN_UPDATE ? PH_UPD_LOOKUP : PH_INS_LOOKUP) != IL_ENROLL_CALL) {
		il_err_setf(errbuf, errsz, "%s", e->msg);
		goto fail;
	}
	return e;
fail:
	il_enrollment_destroy(e);
	return NULL;
}

void
il_enrollment_destroy(il_enrollment *e)
{
	if (e == NULL)
		return;
	drop_call(e);
	il_plan_destroy(e->plan);
	free(e->ps);
	free(e);
}

il_enroll_step
il_enrollment_next(il_enrollment *e, const il_enroll_call **call)
{
	if (call != NULL)
		*call = NULL;
	if (e == NULL || e->ph == PH_DONE)
		return IL_ENROLL_DONE;
	if (call != NULL)
		*call = &e->call;
	return IL_ENROLL_CALL;
}

const il_enroll_result *
il_enrollment_result(const il_enrollment *e)
{
	return &e->res;
}

il_imis_class
il_enrollment_last_class(const il_enrollment *e)
{
	return e->last;
}
