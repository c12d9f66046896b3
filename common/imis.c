/*
 * imis.c - request bodies, answer parsers and the classification of answers
 * of the openIMIS API (see imis.h and contracts/openimis.md).
 *
 * Every parser reads bytes from outside: a member of the wrong type, a
 * missing one or an overlong value makes the answer unreadable
 * (IL_ERR_PARSE), never a crash.  UUIDs are checked for their 8-4-4-4-12
 * form because the worker puts them into request paths.
 */
#include "imis.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cjson/cJSON.h>

#include "log.h"
#include "xalloc.h"

#define IMIS_ID_SYSTEM "https://openimis.github.io/openimis_fhir_r4_ig/CodeSystem/openimis-identifiers"
#define IMIS_EXT_BASE "https://openimis.github.io/openimis_fhir_r4_ig/StructureDefinition/"

/* No answer of the API the worker uses comes near this; larger is garbage. */
#define IMIS_BODY_MAX (16 * 1024 * 1024)
/* A JWT longer than this is not one the worker will send back. */
#define IMIS_TOKEN_MAX 16384
/* Room for a business message before it is cut to the caller's buffer. */
#define IMIS_MSG_MAX 2048

/* What kind of message an error answer carried. */
typedef enum imis_msg_kind {
	IMIS_MSG_NONE = 0,       /* no readable message */
	IMIS_MSG_OUTCOME,        /* OperationOutcome issue text or diagnostics */
	IMIS_MSG_GRAPHQL,        /* a non-empty GraphQL "errors" list */
	IMIS_MSG_OTHER,          /* a bare JSON string or {"detail": ...} */
} imis_msg_kind;

const char *
il_imis_class_name(il_imis_class c)
{
	switch (c) {
	case IL_IMIS_OK: return "ok";
	case IL_IMIS_DUPLICATE: return "duplicate";
	case IL_IMIS_INVALID: return "invalid";
	case IL_IMIS_NOT_FOUND: return "not_found";
	case IL_IMIS_UNAUTHORIZED: return "unauthorized";
	case IL_IMIS_FORBIDDEN: return "forbidden";
	case IL_IMIS_RATE_LIMITED: return "rate_limited";
	case IL_IMIS_TRANSIENT: return "transient";
	}
	return "unknown";
}

/* ---- text helpers ---- */

/*
 * Appends @p s to the NUL-terminated text in @p dst, cut to fit without
 * splitting a UTF-8 character; control characters become spaces so the
 * message stays one line wherever it ends up (logs, dead letters).
 */
static void
text_append(char *dst, size_t dstsz, const char *s)
{
	size_t have, room, n, i;

	if (dst == NULL || dstsz == 0 || s == NULL)
		return;
	have = strnlen(dst, dstsz - 1);
	room = dstsz - 1 - have;
	n = strlen(s);
	if (n > room) {
		n = room;
		while (n > 0 && ((unsigned char)s[n] & 0xc0) == 0x80)
			n--;
	}
	for (i = 0; i < n; i++)
		dst[have + i] = (unsigned char)s[i] < 0x20 || s[i] == 0x7f ? ' ' : s[i];
	dst[have + n] = '\0';
}

static void
text_set(char *dst, size_t dstsz, const char *s)
{
	if (dst == NULL || dstsz == 0)
		return;
	dst[0] = '\0';
	text_append(dst, dstsz, s);
}

static bool
text_blank(const char *s)
{
	for (; *s != '\0'; s++) {
		if (*s != ' ' && *s != '\t' && *s != '\r' && *s != '\n')
			return false;
	}
	return true;
}

/* Appends one message of a list, "; " between messages. */
static void
text_join(char *dst, size_t dstsz, const char *s)
{
	if (dst == NULL || dstsz == 0 || s == NULL || text_blank(s))
		return;
	if (dst[0] != '\0')
		text_append(dst, dstsz, "; ");
	text_append(dst, dstsz, s);
}

/* Copies @p s whole into @p dst, or refuses: a cut code or name is a wrong one. */
static bool
copy_whole(char *dst, size_t dstsz, const char *s)
{
	size_t n;

	if (s == NULL)
		return false;
	n = strlen(s);
	if (dst == NULL)
		return true;
	if (n >= dstsz)
		return false;
	memcpy(dst, s, n + 1);
	return true;
}

static bool
is_hex(char c)
{
	return (c >= '0' && c <= '9') || (c >= 'a' && c <= 'f') || (c >= 'A' && c <= 'F');
}

/* @returns true when @p s is a UUID as text (8-4-4-4-12 hex digits). */
static bool
uuid_valid(const char *s)
{
	size_t i;

	if (s == NULL || strlen(s) != IL_IMIS_UUID_LEN - 1)
		return false;
	for (i = 0; i < IL_IMIS_UUID_LEN - 1; i++) {
		if (i == 8 || i == 13 || i == 18 || i == 23) {
			if (s[i] != '-')
				return false;
		} else if (!is_hex(s[i])) {
			return false;
		}
	}
	return true;
}

static bool
copy_uuid(char dst[IL_IMIS_UUID_LEN], const char *s)
{
	if (!uuid_valid(s))
		return false;
	memcpy(dst, s, IL_IMIS_UUID_LEN);
	return true;
}

/* Reads "<type>/<uuid>" (a FHIR reference) into @p dst. */
static bool
copy_ref_uuid(char dst[IL_IMIS_UUID_LEN], const char *ref, const char *type)
{
	size_t n = strlen(type);

	if (ref == NULL || strncmp(ref, type, n) != 0 || ref[n] != '/')
		return false;
	return copy_uuid(dst, ref + n + 1);
}

/* A date as YYYY-MM-DD, or the date part of a date-time, into 11 bytes. */
static bool
copy_date(char dst[11], const char *s)
{
	static const char form[] = "dddd-dd-dd";
	size_t i;

	if (s == NULL)
		return false;
	for (i = 0; i < 10; i++) {
		if (form[i] == 'd' ? s[i] < '0' || s[i] > '9' : s[i] != '-')
			return false;
	}
	if (s[10] != '\0' && s[10] != 'T' && s[10] != ' ')
		return false;
	memcpy(dst, s, 10);
	dst[10] = '\0';
	return true;
}

/* ---- JSON helpers ---- */

/*
 * Parses an answer: NULL when it is absent, too large, not JSON, or JSON
 * followed by anything but whitespace.
 */
static cJSON *
json_parse(const char *body, size_t len)
{
	const char *end = NULL;
	cJSON *root;

	if (body == NULL || len == 0 || len > IMIS_BODY_MAX)
		return NULL;
	root = cJSON_ParseWithLengthOpts(body, len, &end, 0);
	if (root == NULL)
		return NULL;
	for (; end != NULL && end < body + len; end++) {
		if (*end != ' ' && *end != '\t' && *end != '\r' && *end != '\n') {
			cJSON_Delete(root);
			return NULL;
		}
	}
	return root;
}

static const cJSON *
jget(const cJSON *obj, const char *key)
{
	if (!cJSON_IsObject(obj))
		return NULL;
	return cJSON_GetObjectItemCaseSensitive(obj, key);
}

static const cJSON *
jobj(const cJSON *obj, const char *key)
{
	const cJSON *j = jget(obj, key);

	return cJSON_IsObject(j) ? j : NULL;
}

static const cJSON *
jarr(const cJSON *obj, const char *key)
{
	const cJSON *j = jget(obj, key);

	return cJSON_IsArray(j) ? j : NULL;
}

static const char *
jstr(const cJSON *obj, const char *key)
{
	const cJSON *j = jget(obj, key);

	return cJSON_IsString(j) && j->valuestring != NULL ? j->valuestring : NULL;
}

/* The first element of an array member, or NULL. */
static const cJSON *
jfirst(const cJSON *obj, const char *key)
{
	const cJSON *a = jarr(obj, key);

	return a != NULL ? a->child : NULL;
}

/* @returns the value of the identifier whose type has @p code ("UUID", "Code"). */
static const char *
identifier_value(const cJSON *res, const char *code)
{
	const cJSON *id, *coding;
	const char *c;

	cJSON_ArrayForEach(id, jarr(res, "identifier")) {
		cJSON_ArrayForEach(coding, jarr(jobj(id, "type"), "coding")) {
			c = jstr(coding, "code");
			if (c != NULL && strcmp(c, code) == 0)
				return jstr(id, "value");
		}
	}
	return NULL;
}

/* The resource's UUID: its "id", else its UUID identifier. */
static bool
resource_uuid(const cJSON *res, char uuid[IL_IMIS_UUID_LEN])
{
	if (copy_uuid(uuid, jstr(res, "id")))
		return true;
	return copy_uuid(uuid, identifier_value(res, "UUID"));
}

/* The extension of @p res whose url ends in @p name. */
static const cJSON *
extension(const cJSON *res, const char *name)
{
	const cJSON *ext;
	const char *url;

	cJSON_ArrayForEach(ext, jarr(res, "extension")) {
		url = jstr(ext, "url");
		if (url != NULL && strncmp(url, IMIS_EXT_BASE, strlen(IMIS_EXT_BASE)) == 0 &&
		    strcmp(url + strlen(IMIS_EXT_BASE), name) == 0)
			return ext;
	}
	return NULL;
}

/*
 * Joins the messages of a GraphQL "errors" list into @p dst.
 * @returns true when the answer has a non-empty list.
 */
static bool
gql_errors(const cJSON *root, char *dst, size_t dstsz)
{
	const cJSON *errors = jarr(root, "errors"), *e;

	if (errors == NULL || errors->child == NULL)
		return false;
	cJSON_ArrayForEach(e, errors) {
		if (cJSON_IsString(e))
			text_join(dst, dstsz, e->valuestring);
		else
			text_join(dst, dstsz, jstr(e, "message"));
	}
	return true;
}

/* Reads the message an error answer carries into @p dst (emptied first). */
static imis_msg_kind
answer_message(const cJSON *root, char *dst, size_t dstsz)
{
	const cJSON *issue;
	const char *rt, *t;

	dst[0] = '\0';
	if (cJSON_IsString(root)) {
		text_join(dst, dstsz, root->valuestring);
		return dst[0] != '\0' ? IMIS_MSG_OTHER : IMIS_MSG_NONE;
	}
	rt = jstr(root, "resourceType");
	if (rt != NULL && strcmp(rt, "OperationOutcome") == 0) {
		cJSON_ArrayForEach(issue, jarr(root, "issue")) {
			t = jstr(jobj(issue, "details"), "text");
			if (t == NULL || text_blank(t))
				t = jstr(issue, "diagnostics");
			text_join(dst, dstsz, t);
		}
		return dst[0] != '\0' ? IMIS_MSG_OUTCOME : IMIS_MSG_NONE;
	}
	if (gql_errors(root, dst, dstsz))
		return IMIS_MSG_GRAPHQL;
	text_join(dst, dstsz, jstr(root, "detail"));
	return dst[0] != '\0' ? IMIS_MSG_OTHER : IMIS_MSG_NONE;
}

static bool
is_duplicate(const char *text)
{
	return strstr(text, "Exists patient with following chfid") != NULL ||
	    strstr(text, "Contract exists for this patient") != NULL;
}

il_imis_class
il_imis_classify(long status, bool get, const char *body, size_t len, char *msg, size_t msgsz)
{
	char text[IMIS_MSG_MAX];
	imis_msg_kind kind;
	il_imis_class c;
	cJSON *root;

	root = json_parse(body, len);
	kind = answer_message(root, text, sizeof(text));
	if (status >= 200 && status <= 299) {
		/* a 2xx that is not JSON was cut short or came from a proxy */
		if (root == NULL)
			c = IL_IMIS_TRANSIENT;
		else if (kind == IMIS_MSG_GRAPHQL)
			c = IL_IMIS_INVALID;   /* GraphQL validation: sending it again changes nothing */
		else
			c = IL_IMIS_OK;
		if (c != IL_IMIS_INVALID)
			text[0] = '\0';
	} else if (status == 401) {
		c = IL_IMIS_UNAUTHORIZED;
	} else if (status == 403) {
		c = IL_IMIS_FORBIDDEN;
	} else if (status == 404) {
		c = IL_IMIS_NOT_FOUND;
	} else if (status == 429) {
		c = IL_IMIS_RATE_LIMITED;
	} else if (status == 408) {
		c = IL_IMIS_TRANSIENT;
	} else if (status == 500) {
		/*
		 * openIMIS answers its validation errors with 500 and an
		 * OperationOutcome that says why; a 500 without one is a crash
		 * or a proxy, and the write may or may not have happened.
		 */
		if (kind != IMIS_MSG_OUTCOME) {
			c = IL_IMIS_TRANSIENT;
			text[0] = '\0';
		} else if (get) {
			c = IL_IMIS_NOT_FOUND; /* an unknown UUID */
		} else if (is_duplicate(text)) {
			c = IL_IMIS_DUPLICATE;
		} else {
			c = IL_IMIS_INVALID;
		}
	} else if (status >= 300 && status <= 499) {
		/* a redirect means a wrong URL (a write must never follow it) */
		c = IL_IMIS_INVALID;
	} else {
		/* no answer, 1xx, 502-504 and other 5xx, nonsense */
		c = IL_IMIS_TRANSIENT;
	}
	text_set(msg, msgsz, text);
	cJSON_Delete(root);
	return c;
}

/* ---- building ---- */

/* Prints and frees @p root; the text belongs to the caller. */
static char *
print_json(cJSON *root)
{
	char *text = root != NULL ? cJSON_PrintUnformatted(root) : NULL;

	cJSON_Delete(root);
	if (text == NULL) {
		/* cJSON only fails to allocate: as il_xmalloc() does, give up */
		il_log_error("out of memory building an openIMIS request");
		abort();
	}
	return text;
}

static void
add_str(cJSON *obj, const char *key, const char *s)
{
	if (s != NULL)
		cJSON_AddStringToObject(obj, key, s);
}

/* Adds {"reference": "<type>/<id>"} as @p key of @p obj, or into array @p obj when key is NULL. */
static void
add_ref(cJSON *obj, const char *key, const char *type, const char *id)
{
	cJSON *ref = cJSON_CreateObject();
	char *text = il_xasprintf("%s/%s", type, id != NULL ? id : "");

	cJSON_AddStringToObject(ref, "reference", text);
	free(text);
	if (key != NULL)
		cJSON_AddItemToObject(obj, key, ref);
	else
		cJSON_AddItemToArray(obj, ref);
}

static void
add_identifier(cJSON *arr, const char *code, const char *value)
{
	cJSON *id = cJSON_CreateObject(), *type, *coding, *c;

	type = cJSON_AddObjectToObject(id, "type");
	coding = cJSON_AddArrayToObject(type, "coding");
	c = cJSON_CreateObject();
	cJSON_AddStringToObject(c, "system", IMIS_ID_SYSTEM);
	cJSON_AddStringToObject(c, "code", code);
	cJSON_AddItemToArray(coding, c);
	add_str(id, "value", value != NULL ? value : "");
	cJSON_AddItemToArray(arr, id);
}

/* Adds an extension object {"url": base+name} to @p arr and returns it. */
static cJSON *
add_extension(cJSON *arr, const char *name)
{
	cJSON *ext = cJSON_CreateObject();
	char *url = il_xasprintf("%s%s", IMIS_EXT_BASE, name);

	cJSON_AddStringToObject(ext, "url", url);
	free(url);
	cJSON_AddItemToArray(arr, ext);
	return ext;
}

static void
add_telecom(cJSON **telecom, cJSON *patient, const char *system, const char *value)
{
	cJSON *t;

	if (value == NULL || value[0] == '\0')
		return;
	if (*telecom == NULL)
		*telecom = cJSON_AddArrayToObject(patient, "telecom");
	t = cJSON_CreateObject();
	cJSON_AddStringToObject(t, "system", system);
	cJSON_AddStringToObject(t, "value", value);
	cJSON_AddItemToArray(*telecom, t);
}

/*
 * A GraphQL body: @p query takes every value through @p vars (taken over),
 * never spliced into its text.
 */
static char *
gql_body(const char *query, cJSON *vars)
{
	cJSON *root = cJSON_CreateObject();

	cJSON_AddStringToObject(root, "query", query);
	cJSON_AddItemToObject(root, "variables", vars);
	return print_json(root);
}

char *
il_imis_login_body(const char *username, const char *password)
{
	cJSON *root = cJSON_CreateObject();

	cJSON_AddStringToObject(root, "username", username != NULL ? username : "");
	cJSON_AddStringToObject(root, "password", password != NULL ? password : "");
	return print_json(root);
}

char *
il_imis_gql_insuree(const char *chf_id)
{
	cJSON *vars = cJSON_CreateObject();

	cJSON_AddStringToObject(vars, "chfId", chf_id != NULL ? chf_id : "");
	return gql_body("query($chfId: String!) { insurees(chfId: $chfId, ignoreLocation: true) "
	    "{ edges { node { uuid chfId family { uuid } } } } }", vars);
}

char *
il_imis_patient_body(const il_imis_person *p)
{
	cJSON *root = cJSON_CreateObject(), *ids, *name, *given, *addr, *a, *exts, *ext;
	cJSON *telecom = NULL;
	const il_imis_village *v = p->village;

	cJSON_AddStringToObject(root, "resourceType", "Patient");
	add_str(root, "id", p->uuid);
	ids = cJSON_AddArrayToObject(root, "identifier");
	add_identifier(ids, "Code", p->chf_id);
	if (p->uuid != NULL)
		add_identifier(ids, "UUID", p->uuid);

	name = cJSON_CreateObject();
	cJSON_AddStringToObject(name, "use", "usual");
	add_str(name, "family", p->family);
	given = cJSON_AddArrayToObject(name, "given");
	if (p->given != NULL)
		cJSON_AddItemToArray(given, cJSON_CreateString(p->given));
	cJSON_AddItemToArray(cJSON_AddArrayToObject(root, "name"), name);

	add_str(root, "gender", p->gender);
	add_str(root, "birthDate", p->birthdate);
	add_telecom(&telecom, root, "phone", p->phone);
	add_telecom(&telecom, root, "email", p->email);

	if (v != NULL) {
		addr = cJSON_AddArrayToObject(root, "address");
		a = cJSON_CreateObject();
		cJSON_AddStringToObject(a, "type", "physical");
		cJSON_AddStringToObject(a, "use", "home");
		cJSON_AddStringToObject(a, "city", v->name);
		cJSON_AddStringToObject(a, "district", v->district);
		cJSON_AddStringToObject(a, "state", v->region);
		exts = cJSON_AddArrayToObject(a, "extension");
		ext = add_extension(exts, "address-municipality");
		cJSON_AddStringToObject(ext, "valueString", v->municipality);
		ext = add_extension(exts, "address-location-reference");
		add_ref(ext, "valueReference", "Location", v->uuid);
		cJSON_AddItemToArray(addr, a);
	}

	/* always the flag: without it openIMIS silently makes a non-head without family */
	exts = cJSON_AddArrayToObject(root, "extension");
	ext = add_extension(exts, "patient-is-head");
	cJSON_AddBoolToObject(ext, "valueBoolean", p->is_head);
	/* a PUT without the group reference detaches the insuree from its family */
	if (p->family_uuid != NULL) {
		ext = add_extension(exts, "patient-group-reference");
		add_ref(ext, "valueReference", "Group", p->family_uuid);
	}
	return print_json(root);
}

char *
il_imis_gql_family_policies(const char *family_uuid)
{
	cJSON *vars = cJSON_CreateObject();

	cJSON_AddStringToObject(vars, "familyUuid", family_uuid != NULL ? family_uuid : "");
	return gql_body("query($familyUuid: String!) { policiesByFamily(familyUuid: $familyUuid) "
	    "{ edges { node { policyUuid productCode startDate expiryDate status } } } }", vars);
}

static void
add_period(cJSON *asset, const char *key, const char *start, const char *end)
{
	cJSON *period = cJSON_CreateObject();

	add_str(period, "start", start);
	add_str(period, "end", end);
	cJSON_AddItemToArray(cJSON_AddArrayToObject(asset, key), period);
}

char *
il_imis_contract_body(const il_imis_policy *p)
{
	cJSON *root = cJSON_CreateObject(), *legal, *term, *asset, *members, *item, *net;

	cJSON_AddStringToObject(root, "resourceType", "Contract");
	/* lower case: "Active" gives an idle policy */
	cJSON_AddStringToObject(root, "status", "active");
	legal = cJSON_AddObjectToObject(root, "legalState");
	cJSON_AddStringToObject(legal, "text", "Offered");
	add_ref(root, "author", "Practitioner", p->officer_uuid);
	add_ref(cJSON_AddArrayToObject(root, "subject"), NULL, "Group", p->family_uuid);

	asset = cJSON_CreateObject();
	/* period: enrolled on .. expires; usePeriod: effective from .. expires */
	add_period(asset, "period", p->enroll_date, p->expiry_date);
	add_period(asset, "usePeriod", p->start_date, p->expiry_date);
	/* the member list; without it (and without context) the server refuses */
	members = cJSON_AddArrayToObject(asset, "typeReference");
	add_ref(members, NULL, "Patient", p->head_uuid);
	item = cJSON_CreateObject();
	add_ref(item, "entityReference", "InsurancePlan", p->product_uuid);
	net = cJSON_AddObjectToObject(item, "net");
	cJSON_AddNumberToObject(net, "value", isfinite(p->value) ? p->value : 0.0);
	cJSON_AddItemToArray(cJSON_AddArrayToObject(asset, "valuedItem"), item);
	term = cJSON_CreateObject();
	cJSON_AddItemToArray(cJSON_AddArrayToObject(term, "asset"), asset);
	cJSON_AddItemToArray(cJSON_AddArrayToObject(root, "term"), term);
	return print_json(root);
}

/* jsonExt of an individual: what openIMIS has no column for, as JSON text. */
static char *
beneficiary_ext(const il_imis_beneficiary *b)
{
	cJSON *ext = cJSON_CreateObject();

	add_str(ext, "gender", b->gender);
	add_str(ext, "registry_id", b->chf_id);
	return print_json(ext);
}

static char *
mutation_id(const il_imis_beneficiary *b, const char *suffix)
{
	return il_xasprintf("%s-%s", b->client_mutation_id != NULL ? b->client_mutation_id : "",
	    suffix);
}

char *
il_imis_gql_create_individual(const il_imis_beneficiary *b)
{
	cJSON *vars = cJSON_CreateObject();
	char *cmid = mutation_id(b, "ind"), *ext = beneficiary_ext(b);

	cJSON_AddStringToObject(vars, "clientMutationId", cmid);
	cJSON_AddStringToObject(vars, "firstName", b->given != NULL ? b->given : "");
	cJSON_AddStringToObject(vars, "lastName", b->family != NULL ? b->family : "");
	add_str(vars, "dob", b->birthdate);
	cJSON_AddStringToObject(vars, "jsonExt", ext);
	add_str(vars, "locationId", b->location_uuid);
	free(cmid);
	free(ext);
	return gql_body("mutation($clientMutationId: String, $firstName: String!, $lastName: String!, "
	    "$dob: Date!, $jsonExt: JSONString, $locationId: String) { createIndividual(input: "
	    "{clientMutationId: $clientMutationId, firstName: $firstName, lastName: $lastName, "
	    "dob: $dob, jsonExt: $jsonExt, locationId: $locationId}) "
	    "{ clientMutationId internalId } }", vars);
}

char *
il_imis_gql_create_beneficiary(const il_imis_beneficiary *b)
{
	cJSON *vars = cJSON_CreateObject();
	char *cmid = mutation_id(b, "ben"), *ext = beneficiary_ext(b);

	cJSON_AddStringToObject(vars, "clientMutationId", cmid);
	add_str(vars, "individualId", b->individual_uuid);
	add_str(vars, "benefitPlanId", b->benefit_plan);
	add_str(vars, "status", b->status);
	add_str(vars, "dateValidFrom", b->date_from);
	cJSON_AddStringToObject(vars, "jsonExt", ext);
	free(cmid);
	free(ext);
	return gql_body("mutation($clientMutationId: String, $individualId: String!, "
	    "$benefitPlanId: String!, $status: String!, $dateValidFrom: Date, $jsonExt: JSONString) "
	    "{ createBeneficiary(input: {clientMutationId: $clientMutationId, "
	    "individualId: $individualId, benefitPlanId: $benefitPlanId, status: $status, "
	    "dateValidFrom: $dateValidFrom, jsonExt: $jsonExt}) { clientMutationId internalId } }",
	    vars);
}

char *
il_imis_gql_mutation_log(const char *client_mutation_id)
{
	cJSON *vars = cJSON_CreateObject();

	cJSON_AddStringToObject(vars, "clientMutationId",
	    client_mutation_id != NULL ? client_mutation_id : "");
	return gql_body("query($clientMutationId: String!) { mutationLogs(clientMutationId: "
	    "$clientMutationId) { edges { node { status error clientMutationId } } } }", vars);
}

char *
il_imis_gql_individual(const char *client_mutation_id)
{
	cJSON *vars = cJSON_CreateObject();

	cJSON_AddStringToObject(vars, "clientMutationId",
	    client_mutation_id != NULL ? client_mutation_id : "");
	return gql_body("query($clientMutationId: String!) { individual(clientMutationId: "
	    "$clientMutationId) { edges { node { id } } } }", vars);
}

/* ---- parsing ---- */

il_err
il_imis_parse_login(const char *body, size_t len, char **token, long long *exp)
{
	cJSON *root = json_parse(body, len);
	const cJSON *jexp;
	const char *t;
	il_err err = IL_ERR_PARSE;
	size_t i, n;

	*token = NULL;
	*exp = 0;
	t = jstr(root, "token");
	if (t == NULL)
		goto done;
	n = strlen(t);
	if (n == 0 || n > IMIS_TOKEN_MAX)
		goto done;
	/* it goes into a header line: printable ASCII without spaces only */
	for (i = 0; i < n; i++) {
		if (t[i] <= ' ' || t[i] >= 0x7f)
			goto done;
	}
	jexp = jget(root, "exp");
	if (cJSON_IsNumber(jexp) && isfinite(jexp->valuedouble) && jexp->valuedouble > 0 &&
	    jexp->valuedouble < 1e15)
		*exp = (long long)jexp->valuedouble;
	*token = il_xstrdup(t);
	err = IL_OK;
done:
	cJSON_Delete(root);
	return err;
}

/*
 * The resource a lookup answered: the first entry of a Bundle or the bare
 * resource.  @returns IL_OK, IL_ERR_NOTFOUND (empty Bundle) or IL_ERR_PARSE.
 */
static il_err
lookup_resource(const cJSON *root, const cJSON **res)
{
	const char *rt = jstr(root, "resourceType");
	const cJSON *entry;

	*res = NULL;
	if (rt == NULL || strcmp(rt, "OperationOutcome") == 0)
		return IL_ERR_PARSE;
	if (strcmp(rt, "Bundle") != 0) {
		*res = root;
		return IL_OK;
	}
	if (jget(root, "entry") != NULL && jarr(root, "entry") == NULL)
		return IL_ERR_PARSE;
	entry = jfirst(root, "entry");
	if (entry == NULL)
		return IL_ERR_NOTFOUND;
	*res = jobj(entry, "resource");
	return *res != NULL ? IL_OK : IL_ERR_PARSE;
}

il_err
il_imis_parse_location(const char *body, size_t len, char uuid[IL_IMIS_UUID_LEN],
    char *code, size_t codesz, char *name, size_t namesz, char *type, size_t typesz,
    char parent_uuid[IL_IMIS_UUID_LEN])
{
	cJSON *root = json_parse(body, len);
	const cJSON *res, *coding;
	const char *ref, *t = NULL;
	il_err err;

	err = lookup_resource(root, &res);
	if (err != IL_OK)
		goto done;
	err = IL_ERR_PARSE;
	if (!resource_uuid(res, uuid))
		goto done;
	if (!copy_whole(code, codesz, identifier_value(res, "Code")))
		goto done;
	if (!copy_whole(name, namesz, jstr(res, "name")))
		goto done;
	cJSON_ArrayForEach(coding, jarr(jfirst(res, "type"), "coding")) {
		t = jstr(coding, "code");
		if (t != NULL)
			break;
	}
	if (!copy_whole(type, typesz, t))
		goto done;
	parent_uuid[0] = '\0';
	if (jget(res, "partOf") != NULL) {
		ref = jstr(jobj(res, "partOf"), "reference");
		if (!copy_ref_uuid(parent_uuid, ref, "Location"))
			goto done;
	}
	err = IL_OK;
done:
	cJSON_Delete(root);
	return err;
}

il_err
il_imis_parse_first_uuid(const char *body, size_t len, char uuid[IL_IMIS_UUID_LEN])
{
	cJSON *root = json_parse(body, len);
	const cJSON *res;
	il_err err;

	err = lookup_resource(root, &res);
	if (err == IL_OK && !resource_uuid(res, uuid))
		err = IL_ERR_PARSE;
	cJSON_Delete(root);
	return err;
}

/*
 * data.<field>.edges of a GraphQL answer, or NULL with the reason (the
 * errors' messages when it carried errors) in @p errbuf.
 */
static const cJSON *
gql_edges(const cJSON *root, const char *field, char *errbuf, size_t errsz)
{
	const cJSON *edges;

	if (errbuf != NULL && errsz > 0)
		errbuf[0] = '\0';
	if (!cJSON_IsObject(root)) {
		text_set(errbuf, errsz, "the answer is not a JSON object");
		return NULL;
	}
	if (gql_errors(root, errbuf, errsz)) {
		if (errbuf != NULL && errsz > 0 && errbuf[0] == '\0')
			text_set(errbuf, errsz, "GraphQL errors without a message");
		return NULL;
	}
	edges = jarr(jobj(jobj(root, "data"), field), "edges");
	if (edges == NULL) {
		il_err_setf(errbuf, errsz, "the answer has no data.%s.edges", field);
		return NULL;
	}
	return edges;
}

il_err
il_imis_parse_insuree(const char *body, size_t len, bool *found,
    char uuid[IL_IMIS_UUID_LEN], char family_uuid[IL_IMIS_UUID_LEN], char *errbuf, size_t errsz)
{
	cJSON *root = json_parse(body, len);
	const cJSON *edges, *node, *family;
	il_err err = IL_ERR_PARSE;

	*found = false;
	uuid[0] = '\0';
	family_uuid[0] = '\0';
	edges = gql_edges(root, "insurees", errbuf, errsz);
	if (edges == NULL)
		goto done;
	if (edges->child == NULL) {
		err = IL_OK;
		goto done;
	}
	node = jobj(edges->child, "node");
	if (!copy_uuid(uuid, jstr(node, "uuid"))) {
		uuid[0] = '\0';
		text_set(errbuf, errsz, "the insuree has no readable uuid");
		goto done;
	}
	family = jget(node, "family");
	if (family != NULL && !cJSON_IsNull(family) &&
	    !copy_uuid(family_uuid, jstr(family, "uuid"))) {
		uuid[0] = '\0';
		text_set(errbuf, errsz, "the insuree's family has no readable uuid");
		goto done;
	}
	*found = true;
	err = IL_OK;
done:
	cJSON_Delete(root);
	return err;
}

il_err
il_imis_parse_patient(const char *body, size_t len, char uuid[IL_IMIS_UUID_LEN],
    char family_uuid[IL_IMIS_UUID_LEN])
{
	cJSON *root = json_parse(body, len);
	const cJSON *ext;
	il_err err = IL_ERR_PARSE;

	uuid[0] = '\0';
	family_uuid[0] = '\0';
	if (!resource_uuid(root, uuid)) {
		uuid[0] = '\0';
		goto done;
	}
	ext = extension(root, "patient-group-reference");
	if (ext != NULL && !copy_ref_uuid(family_uuid,
	    jstr(jobj(ext, "valueReference"), "reference"), "Group")) {
		uuid[0] = '\0';
		goto done;
	}
	err = IL_OK;
done:
	cJSON_Delete(root);
	return err;
}

/* One node of policiesByFamily. */
static bool
policy_ref_read(const cJSON *node, il_imis_policy_ref *r)
{
	const cJSON *status = jget(node, "status");

	if (!copy_uuid(r->uuid, jstr(node, "policyUuid")))
		return false;
	if (!copy_whole(r->product_code, sizeof(r->product_code), jstr(node, "productCode")))
		return false;
	if (!copy_date(r->start_date, jstr(node, "startDate")) ||
	    !copy_date(r->expiry_date, jstr(node, "expiryDate")))
		return false;
	if (!cJSON_IsNumber(status) || !(status->valuedouble >= 0 && status->valuedouble <= 1000))
		return false;
	r->status = (int)status->valuedouble;
	return true;
}

il_err
il_imis_parse_family_policies(const char *body, size_t len, il_imis_policy_ref *refs,
    size_t max, size_t *n, char *errbuf, size_t errsz)
{
	cJSON *root = json_parse(body, len);
	const cJSON *edges, *edge;
	il_err err = IL_ERR_PARSE;
	size_t i = 0;

	*n = 0;
	edges = gql_edges(root, "policiesByFamily", errbuf, errsz);
	if (edges == NULL)
		goto done;
	cJSON_ArrayForEach(edge, edges) {
		if (i == max) {
			/* an incomplete list would hide an overlap: refuse it */
			il_err_setf(errbuf, errsz, "the family has more than %zu policies", max);
			err = IL_ERR_NOMEM;
			goto done;
		}
		if (!policy_ref_read(jobj(edge, "node"), &refs[i])) {
			il_err_setf(errbuf, errsz, "policy %zu of the family is unreadable", i);
			goto done;
		}
		i++;
	}
	err = IL_OK;
done:
	*n = i;
	cJSON_Delete(root);
	return err;
}

long
il_imis_policy_overlap(const il_imis_policy *p, const il_imis_policy_ref *refs, size_t n)
{
	size_t i;

	if (p->product_code == NULL || p->start_date == NULL || p->expiry_date == NULL)
		return -1;
	/* an idle or expired policy counts too: the family has it */
	for (i = 0; i < n; i++) {
		if (strcmp(refs[i].product_code, p->product_code) != 0)
			continue;
		/* YYYY-MM-DD sorts as text */
		if (strcmp(refs[i].start_date, p->expiry_date) <= 0 &&
		    strcmp(p->start_date, refs[i].expiry_date) <= 0)
			return (long)i;
	}
	return -1;
}

il_err
il_imis_parse_contract(const char *body, size_t len, char uuid[IL_IMIS_UUID_LEN])
{
	cJSON *root = json_parse(body, len);
	il_err err = IL_ERR_PARSE;

	/* the 201 has no "id": the UUID identifier first */
	if (copy_uuid(uuid, identifier_value(root, "UUID")) || copy_uuid(uuid, jstr(root, "id")))
		err = IL_OK;
	else
		uuid[0] = '\0';
	cJSON_Delete(root);
	return err;
}

/* The "error" of a mutation log: JSON text of [{message, detail}], or plain text. */
static void
mutation_error(const char *error, char *errbuf, size_t errsz)
{
	cJSON *list;
	const cJSON *e;

	if (error == NULL)
		return;
	list = json_parse(error, strlen(error));
	if (cJSON_IsArray(list)) {
		cJSON_ArrayForEach(e, list) {
			if (cJSON_IsString(e)) {
				text_join(errbuf, errsz, e->valuestring);
				continue;
			}
			text_join(errbuf, errsz, jstr(e, "message"));
			if (jstr(e, "detail") != NULL && !text_blank(jstr(e, "detail"))) {
				text_append(errbuf, errsz, ": ");
				text_append(errbuf, errsz, jstr(e, "detail"));
			}
		}
	} else if (cJSON_IsObject(list)) {
		text_join(errbuf, errsz, jstr(list, "message"));
	} else {
		text_join(errbuf, errsz, error);
	}
	cJSON_Delete(list);
}

il_err
il_imis_parse_mutation_log(const char *body, size_t len, bool *found, int *status,
    char *errbuf, size_t errsz)
{
	cJSON *root = json_parse(body, len);
	const cJSON *edges, *node, *st;
	il_err err = IL_ERR_PARSE;

	*found = false;
	*status = 0;
	edges = gql_edges(root, "mutationLogs", errbuf, errsz);
	if (edges == NULL)
		goto done;
	if (edges->child == NULL) {
		err = IL_OK;
		goto done;
	}
	node = jobj(edges->child, "node");
	st = jget(node, "status");
	if (!cJSON_IsNumber(st) || !(st->valuedouble >= 0 && st->valuedouble <= 2) ||
	    st->valuedouble != (double)(int)st->valuedouble) {
		text_set(errbuf, errsz, "the mutation log has no readable status");
		goto done;
	}
	*status = (int)st->valuedouble;
	*found = true;
	if (*status == 1 && errbuf != NULL && errsz > 0) {
		mutation_error(jstr(node, "error"), errbuf, errsz);
		if (errbuf[0] == '\0')
			text_set(errbuf, errsz, "the mutation failed without a message");
	}
	err = IL_OK;
done:
	cJSON_Delete(root);
	return err;
}

il_err
il_imis_parse_individual(const char *body, size_t len, bool *found,
    char uuid[IL_IMIS_UUID_LEN], char *errbuf, size_t errsz)
{
	cJSON *root = json_parse(body, len);
	const cJSON *edges;
	il_err err = IL_ERR_PARSE;

	*found = false;
	uuid[0] = '\0';
	edges = gql_edges(root, "individual", errbuf, errsz);
	if (edges == NULL)
		goto done;
	if (edges->child != NULL) {
		if (!copy_uuid(uuid, jstr(jobj(edges->child, "node"), "id"))) {
			uuid[0] = '\0';
			text_set(errbuf, errsz, "the individual has no readable id");
			goto done;
		}
		*found = true;
	}
	err = IL_OK;
done:
	cJSON_Delete(root);
	return err;
}
