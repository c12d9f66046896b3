/*
 * fhir.c - the FHIR R4 API of the emulator: login, Patient, Contract and
 * the reference look-ups, with the quirks of contracts/openimis.md
 * (validation errors as 500, the broken ?identifier= search, write-then-fail
 * on a non-village, the "starts inside" overlap rule, ...).
 */
#include <ctype.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "cli.h"
#include "emu.h"
#include "log.h"
#include "xalloc.h"

/* Room for a validation message. */
#define IL_EMU_MSG 512
/* Default page size of a FHIR list. */
#define IL_EMU_PAGE 10

/* What a Patient body says beyond the insuree's own fields. */
typedef struct il_emu_patient_in {
	bool has_extension;             /* any extension at all */
	bool has_head_flag;             /* patient-is-head present */
	bool head;                      /* its value */
	const char *group_uuid;         /* from patient-group-reference, or NULL */
	const char *location_key;       /* uuid or code after "Location/" */
} il_emu_patient_in;

/* ---- small JSON helpers ----------------------------------------------- */

static void
il_emu_add_identifier(cJSON *arr, const char *code, const char *value)
{
	cJSON *id = cJSON_CreateObject(), *type = cJSON_CreateObject(), *coding = cJSON_CreateObject();

	cJSON_AddStringToObject(coding, "system", IL_EMU_ID_SYSTEM);
	cJSON_AddStringToObject(coding, "code", code);
	cJSON_AddItemToArray(cJSON_AddArrayToObject(type, "coding"), coding);
	cJSON_AddItemToObject(id, "type", type);
	cJSON_AddStringToObject(id, "value", value);
	cJSON_AddItemToArray(arr, id);
}

static cJSON *
il_emu_reference(const char *kind, const char *id)
{
	cJSON *ref = cJSON_CreateObject();
	char *text = il_xasprintf("%s/%s", kind, id);

	cJSON_AddStringToObject(ref, "reference", text);
	free(text);
	return ref;
}

static void
il_emu_add_extension_ref(cJSON *arr, const char *name, const char *kind, const char *id)
{
	cJSON *ext = cJSON_CreateObject();
	char *url = il_xasprintf("%s%s", IL_EMU_EXT_BASE, name);

	cJSON_AddStringToObject(ext, "url", url);
	cJSON_AddItemToObject(ext, "valueReference", il_emu_reference(kind, id));
	cJSON_AddItemToArray(arr, ext);
	free(url);
}

/* @returns the id after "<kind>/" in a reference object, or NULL. */
static const char *
il_emu_ref_id(const cJSON *ref, const char *kind)
{
	const char *r = il_emu_jstr(ref, "reference");
	size_t n = strlen(kind);

	if (r == NULL || strncmp(r, kind, n) != 0 || r[n] != '/' || r[n + 1] == '\0')
		return NULL;
	return r + n + 1;
}

/* @returns true when @p url is the extension @p name. */
static bool
il_emu_is_ext(const cJSON *ext, const char *name)
{
	const char *url = il_emu_jstr(ext, "url");
	size_t n = strlen(IL_EMU_EXT_BASE);

	return url != NULL && strncmp(url, IL_EMU_EXT_BASE, n) == 0 && strcmp(url + n, name) == 0;
}

/* @returns the value of the identifier whose type code is @p code, or NULL. */
static const char *
il_emu_identifier(const cJSON *res, const char *code)
{
	const cJSON *id, *c;

	cJSON_ArrayForEach(id, cJSON_GetObjectItemCaseSensitive(res, "identifier")) {
		cJSON_ArrayForEach(c, cJSON_GetObjectItemCaseSensitive(
		    cJSON_GetObjectItemCaseSensitive(id, "type"), "coding")) {
			const char *cc = il_emu_jstr(c, "code");

			if (cc != NULL && strcmp(cc, code) == 0)
				return il_emu_jstr(id, "value");
		}
	}
	return NULL;
}

static cJSON *
il_emu_bundle(cJSON **entries)
{
	cJSON *b = cJSON_CreateObject();

	cJSON_AddStringToObject(b, "resourceType", "Bundle");
	cJSON_AddStringToObject(b, "type", "searchset");
	*entries = cJSON_CreateArray();
	return b;
}

static void
il_emu_bundle_add(cJSON *entries, const char *kind, const char *id, cJSON *res)
{
	cJSON *e = cJSON_CreateObject();
	char *url = il_xasprintf("%s%s/%s", IL_EMU_FHIR_BASE, kind, id);

	cJSON_AddStringToObject(e, "fullUrl", url);
	cJSON_AddItemToObject(e, "resource", res);
	cJSON_AddItemToArray(entries, e);
	free(url);
}

static void
il_emu_bundle_finish(il_http_response *resp, cJSON *b, cJSON *entries, size_t total)
{
	cJSON_AddNumberToObject(b, "total", (double)total);
	cJSON_AddItemToObject(b, "entry", entries);
	il_emu_reply(resp, 200, b);
}

static void
il_emu_now_iso(char out[24])
{
	time_t now = time(NULL);
	struct tm tm;

	gmtime_r(&now, &tm);
	strftime(out, 24, "%Y-%m-%dT%H:%M:%S", &tm);
}

/* @returns true for YYYY-MM-DD (what follows is not looked at). */
static bool
il_emu_is_date(const char *s)
{
	int i;

	if (s == NULL || strlen(s) < 10)
		return false;
	for (i = 0; i < 10; i++) {
		if (i == 4 || i == 7) {
			if (s[i] != '-')
				return false;
		} else if (!isdigit((unsigned char)s[i])) {
			return false;
		}
	}
	return true;
}

/* ---- login ------------------------------------------------------------ */

void
il_emu_login(il_emu *emu, const il_http_request *req, il_http_response *resp)
{
	cJSON *in = cJSON_ParseWithLength(req->body, req->body_len), *out;
	const char *user = il_emu_jstr(in, "username"), *pw = il_emu_jstr(in, "password");
	bool locked, ok;
	char *token;
	long long exp;

	if (user == NULL || pw == NULL) {
		resp->status = 400;
		if (il_buf_adds(&resp->body, user == NULL ? "\"username is required\"" :
		    "\"password is required\"") != IL_OK)
			il_buf_reset(&resp->body);
		goto out;
	}
	if (strcmp(user, emu->cfg.username) != 0) {
		resp->status = 401;
		if (il_buf_adds(&resp->body, "\"INCORRECT_CREDENTIALS\"") != IL_OK)
			il_buf_reset(&resp->body);
		goto out;
	}
	pthread_mutex_lock(&emu->fault_mu);
	locked = emu->failed_logins >= 5;
	ok = !locked && strcmp(pw, emu->cfg.password) == 0;
	if (!locked)
		emu->failed_logins = ok ? 0 : emu->failed_logins + 1;
	pthread_mutex_unlock(&emu->fault_mu);
	if (!ok) {
		/* An existing user with a wrong password, or locked out: empty 400. */
		il_log_info("login refused", IL_STR("reason", locked ? "locked out" : "wrong password"));
		resp->status = 400;
		goto out;
	}
	exp = (long long)time(NULL) + emu->cfg.token_lifetime;
	token = il_emu_jwt_make(emu->jwt_key, user, exp);
	out = cJSON_CreateObject();
	cJSON_AddStringToObject(out, "token", token);
	cJSON_AddNumberToObject(out, "exp", (double)exp);
	free(token);
	il_emu_reply(resp, 200, out);
out:
	cJSON_Delete(in);
}

/* ---- Patient ---------------------------------------------------------- */

/* @returns true when @p chf passes the configured rule; else writes why. */
static bool
il_emu_chfid_ok(const il_emu_config *cfg, const char *chf, char *msg, size_t msgsz)
{
	size_t n = strlen(chf), i;
	int sum = 0;

	if (n == 0 || n > 12 || (cfg->chfid_length > 0 && n != (size_t)cfg->chfid_length)) {
		if (cfg->chfid_length > 0)
			snprintf(msg, msgsz, "Invalid insuree number `%s`: it must be %d characters long",
			    chf, cfg->chfid_length);
		else
			snprintf(msg, msgsz, "Invalid insuree number `%s`: it must be 1 to 12 characters",
			    chf);
		return false;
	}
	for (i = 0; i < n; i++) {
		if (!isalnum((unsigned char)chf[i])) {
			snprintf(msg, msgsz, "Invalid insuree number `%s`: only letters and digits", chf);
			return false;
		}
	}
	if (!cfg->chfid_check_digit)
		return true;
	/* Luhn over all digits including the check digit: the sum is 0 mod 10. */
	for (i = 0; i < n; i++) {
		int d = chf[n - 1 - i] - '0';

		if (d < 0 || d > 9) {
			snprintf(msg, msgsz, "Invalid insuree number `%s`: the check digit rule needs digits",
			    chf);
			return false;
		}
		if (i % 2 == 1) {
			d *= 2;
			if (d > 9)
				d -= 9;
		}
		sum += d;
	}
	if (n < 2 || sum % 10 != 0) {
		snprintf(msg, msgsz, "Invalid insuree number `%s`: wrong check digit", chf);
		return false;
	}
	return true;
}

static bool
il_emu_nonempty(const char *s)
{
	return s != NULL && s[0] != '\0';
}

/*
 * Reads and checks a Patient body into a new insuree (*out) and @p pin.
 * @returns false with the message in @p msg (the insuree is then not made).
 * Only the structure is checked here; the store is consulted by the caller.
 */
static bool
il_emu_patient_parse(il_emu *emu, const cJSON *p, bool need_head_ext, il_emu_insuree **out,
    il_emu_patient_in *pin, char *msg, size_t msgsz)
{
	const cJSON *it, *name = NULL, *addr = NULL, *given, *ext;
	const char *chf, *gender, *birth, *municipality = NULL;
	il_emu_insuree *ins;
	int physical = 0, next = 0;

	memset(pin, 0, sizeof(*pin));
	*out = NULL;
	if (!cJSON_IsObject(p)) {
		snprintf(msg, msgsz, "JSON parse error: the body is not a JSON object");
		return false;
	}
	chf = il_emu_identifier(p, "Code");
	if (!il_emu_nonempty(chf)) {
		snprintf(msg, msgsz, "Insuree number (identifier of type `Code`) is required");
		return false;
	}
	if (!il_emu_chfid_ok(&emu->cfg, chf, msg, msgsz))
		return false;
	cJSON_ArrayForEach(it, cJSON_GetObjectItemCaseSensitive(p, "name")) {
		const char *use = il_emu_jstr(it, "use");

		if (use != NULL && strcmp(use, "usual") == 0)
			name = it;
	}
	given = cJSON_GetArrayItem(cJSON_GetObjectItemCaseSensitive(name, "given"), 0);
	if (name == NULL || !il_emu_nonempty(il_emu_jstr(name, "family")) ||
	    !cJSON_IsString(given) || given->valuestring[0] == '\0') {
		snprintf(msg, msgsz, "Patient name with use `usual`, `family` and `given` is required");
		return false;
	}
	cJSON_ArrayForEach(ext, cJSON_GetObjectItemCaseSensitive(p, "extension")) {
		pin->has_extension = true;
		if (il_emu_is_ext(ext, "patient-is-head")) {
			pin->has_head_flag = true;
			pin->head = cJSON_IsTrue(cJSON_GetObjectItemCaseSensitive(ext, "valueBoolean"));
		} else if (il_emu_is_ext(ext, "patient-group-reference")) {
			pin->group_uuid = il_emu_ref_id(cJSON_GetObjectItemCaseSensitive(ext,
			    "valueReference"), "Group");
			if (pin->group_uuid == NULL) {
				snprintf(msg, msgsz, "Extension `patient-group-reference` must reference a Group");
				return false;
			}
		}
	}
	/* The real check is only "some extension present". */
	if (need_head_ext && !pin->has_extension) {
		snprintf(msg, msgsz, "Extension `patient-is-head` is required");
		return false;
	}
	cJSON_ArrayForEach(it, cJSON_GetObjectItemCaseSensitive(p, "address")) {
		const char *type = il_emu_jstr(it, "type");

		if (type != NULL && strcmp(type, "physical") == 0) {
			physical++;
			addr = it;
		}
	}
	if (physical != 1) {
		snprintf(msg, msgsz, "Patient must have exactly one address of type `physical`");
		return false;
	}
	if (!il_emu_nonempty(il_emu_jstr(addr, "city")) ||
	    !il_emu_nonempty(il_emu_jstr(addr, "district")) ||
	    !il_emu_nonempty(il_emu_jstr(addr, "state"))) {
		snprintf(msg, msgsz, "Address `city`, `district` and `state` are required");
		return false;
	}
	cJSON_ArrayForEach(ext, cJSON_GetObjectItemCaseSensitive(addr, "extension")) {
		next++;
		if (il_emu_is_ext(ext, "address-municipality"))
			municipality = il_emu_jstr(ext, "valueString");
		else if (il_emu_is_ext(ext, "address-location-reference"))
			pin->location_key = il_emu_ref_id(cJSON_GetObjectItemCaseSensitive(ext,
			    "valueReference"), "Location");
	}
	if (next != 2 || !il_emu_nonempty(municipality) || pin->location_key == NULL) {
		snprintf(msg, msgsz, "Address must have exactly two extensions: "
		    "`address-municipality` and `address-location-reference`");
		return false;
	}
	birth = il_emu_jstr(p, "birthDate");
	if (!il_emu_is_date(birth)) {
		snprintf(msg, msgsz, "Patient `birthDate` is required (YYYY-MM-DD)");
		return false;
	}
	gender = il_emu_jstr(p, "gender");
	if (gender == NULL || (strcmp(gender, "male") != 0 && strcmp(gender, "female") != 0 &&
	    strcmp(gender, "other") != 0)) {
		snprintf(msg, msgsz, "Patient gender `%s` is not supported (male, female, other)",
		    gender != NULL ? gender : "");
		return false;
	}
	ins = il_xcalloc(1, sizeof(*ins));
	ins->chf_id = il_xstrdup(chf);
	ins->given = il_xstrdup(given->valuestring);
	ins->family_name = il_xstrdup(il_emu_jstr(name, "family"));
	ins->gender = il_xstrdup(gender);
	snprintf(ins->birth_date, sizeof(ins->birth_date), "%.10s", birth);
	ins->is_head = pin->has_head_flag && pin->head;
	ins->city = il_xstrdup(il_emu_jstr(addr, "city"));
	ins->district = il_xstrdup(il_emu_jstr(addr, "district"));
	ins->state = il_xstrdup(il_emu_jstr(addr, "state"));
	ins->municipality = il_xstrdup(municipality);
	cJSON_ArrayForEach(it, cJSON_GetObjectItemCaseSensitive(p, "telecom")) {
		const char *sys = il_emu_jstr(it, "system");

		if (sys != NULL && strcmp(sys, "phone") == 0 && il_emu_jstr(it, "value") != NULL &&
		    ins->phone == NULL)
			ins->phone = il_xstrdup(il_emu_jstr(it, "value"));
	}
	il_emu_now_iso(ins->updated);
	*out = ins;
	return true;
}

static cJSON *
il_emu_patient_json(const il_emu_insuree *ins)
{
	cJSON *p = cJSON_CreateObject(), *ids, *name, *addr, *ext, *aext, *x;
	char *url;

	cJSON_AddStringToObject(p, "resourceType", "Patient");
	cJSON_AddStringToObject(p, "id", ins->uuid);
	ids = cJSON_AddArrayToObject(p, "identifier");
	il_emu_add_identifier(ids, "UUID", ins->uuid);
	il_emu_add_identifier(ids, "Code", ins->chf_id);
	name = cJSON_CreateObject();
	cJSON_AddStringToObject(name, "use", "usual");
	cJSON_AddStringToObject(name, "family", ins->family_name);
	cJSON_AddItemToArray(cJSON_AddArrayToObject(name, "given"), cJSON_CreateString(ins->given));
	cJSON_AddItemToArray(cJSON_AddArrayToObject(p, "name"), name);
	cJSON_AddStringToObject(p, "gender", ins->gender);
	cJSON_AddStringToObject(p, "birthDate", ins->birth_date);
	if (ins->phone != NULL) {
		x = cJSON_CreateObject();
		cJSON_AddStringToObject(x, "system", "phone");
		cJSON_AddStringToObject(x, "value", ins->phone);
		cJSON_AddItemToArray(cJSON_AddArrayToObject(p, "telecom"), x);
	}
	addr = cJSON_CreateObject();
	cJSON_AddStringToObject(addr, "use", "home");
	cJSON_AddStringToObject(addr, "type", "physical");
	cJSON_AddStringToObject(addr, "city", ins->city);
	cJSON_AddStringToObject(addr, "district", ins->district);
	cJSON_AddStringToObject(addr, "state", ins->state);
	aext = cJSON_AddArrayToObject(addr, "extension");
	x = cJSON_CreateObject();
	url = il_xasprintf("%saddress-municipality", IL_EMU_EXT_BASE);
	cJSON_AddStringToObject(x, "url", url);
	free(url);
	cJSON_AddStringToObject(x, "valueString", ins->municipality);
	cJSON_AddItemToArray(aext, x);
	il_emu_add_extension_ref(aext, "address-location-reference", "Location", ins->location_uuid);
	cJSON_AddItemToArray(cJSON_AddArrayToObject(p, "address"), addr);
	ext = cJSON_AddArrayToObject(p, "extension");
	x = cJSON_CreateObject();
	url = il_xasprintf("%spatient-is-head", IL_EMU_EXT_BASE);
	cJSON_AddStringToObject(x, "url", url);
	free(url);
	cJSON_AddBoolToObject(x, "valueBoolean", ins->is_head);
	cJSON_AddItemToArray(ext, x);
	if (ins->family_uuid[0] != '\0')
		il_emu_add_extension_ref(ext, "patient-group-reference", "Group", ins->family_uuid);
	return p;
}

static void
il_emu_patient_create(il_emu *emu, const il_http_request *req, il_http_response *resp)
{
	il_emu_store *st = emu->store;
	cJSON *in = cJSON_ParseWithLength(req->body, req->body_len);
	il_emu_insuree *ins = NULL;
	il_emu_patient_in pin;
	il_emu_location *loc;
	char msg[IL_EMU_MSG];
	bool locked = false;

	if (!il_emu_patient_parse(emu, in, true, &ins, &pin, msg, sizeof(msg)))
		goto refuse;
	pthread_mutex_lock(&st->mu);
	locked = true;
	if (il_emu_map_get(st->insuree_by_chf, ins->chf_id) != NULL) {
		snprintf(msg, sizeof(msg), "Exists patient with following chfid `%s`", ins->chf_id);
		goto refuse;
	}
	if (pin.group_uuid != NULL && ins->is_head) {
		snprintf(msg, sizeof(msg), "Patient assigned to existing family can't be head");
		goto refuse;
	}
	if (pin.group_uuid != NULL && il_emu_map_get(st->family_by_uuid, pin.group_uuid) == NULL) {
		snprintf(msg, sizeof(msg), "Family with uuid `%s` does not exist", pin.group_uuid);
		goto refuse;
	}
	loc = il_emu_map_get(st->location_by_key, pin.location_key);
	if (loc == NULL) {
		snprintf(msg, sizeof(msg), "Location `%s` does not exist", pin.location_key);
		goto refuse;
	}
	il_emu_store_uuid(st, ins->uuid);
	ins->id = il_emu_store_next_id(st);
	snprintf(ins->location_uuid, sizeof(ins->location_uuid), "%s", loc->uuid);
	il_emu_store_add_insuree(st, ins);
	if (loc->type != 'V') {
		/* Written, then the family/village step fails: no transaction. */
		snprintf(msg, sizeof(msg), "Location `%s` is not a village", loc->code);
		il_log_info("patient stored then failed", IL_STR("uuid", ins->uuid),
		    IL_STR("location", loc->code));
		ins = NULL;
		goto refuse;
	}
	if (ins->is_head)
		il_emu_store_add_family(st, ins, loc->code);
	else if (pin.group_uuid != NULL)
		snprintf(ins->family_uuid, sizeof(ins->family_uuid), "%s", pin.group_uuid);
	il_emu_reply(resp, 201, il_emu_patient_json(ins));
	pthread_mutex_unlock(&st->mu);
	cJSON_Delete(in);
	return;
refuse:
	if (locked)
		pthread_mutex_unlock(&st->mu);
	il_emu_insuree_free(ins);
	cJSON_Delete(in);
	il_emu_outcome(resp, 500, "error", "exception", msg);
}

static void
il_emu_patient_update(il_emu *emu, const il_http_request *req, il_http_response *resp)
{
	il_emu_store *st = emu->store;
	cJSON *in = cJSON_ParseWithLength(req->body, req->body_len);
	il_emu_insuree *upd = NULL, *ins;
	il_emu_patient_in pin;
	il_emu_location *loc;
	char msg[IL_EMU_MSG];

	if (!il_emu_patient_parse(emu, in, false, &upd, &pin, msg, sizeof(msg))) {
		il_emu_outcome(resp, 500, "error", "exception", msg);
		goto out;
	}
	pthread_mutex_lock(&st->mu);
	/* The CHF ID in the body picks the insuree, whatever the URL says. */
	ins = il_emu_map_get(st->insuree_by_chf, upd->chf_id);
	loc = il_emu_map_get(st->location_by_key, pin.location_key);
	if (ins == NULL || loc == NULL ||
	    (pin.group_uuid != NULL && il_emu_map_get(st->family_by_uuid, pin.group_uuid) == NULL)) {
		pthread_mutex_unlock(&st->mu);
		snprintf(msg, sizeof(msg), ins == NULL ? "Insuree with chfid `%s` does not exist" :
		    loc == NULL ? "Location `%s` does not exist" : "Family with uuid `%s` does not exist",
		    ins == NULL ? upd->chf_id : loc == NULL ? pin.location_key : pin.group_uuid);
		il_emu_outcome(resp, 500, "error", "exception", msg);
		goto out;
	}
#define IL_EMU_SWAP(field) do { char *t_ = ins->field; ins->field = upd->field; upd->field = t_; } while (0)
	IL_EMU_SWAP(given);
	IL_EMU_SWAP(family_name);
	IL_EMU_SWAP(gender);
	IL_EMU_SWAP(city);
	IL_EMU_SWAP(district);
	IL_EMU_SWAP(state);
	IL_EMU_SWAP(municipality);
	IL_EMU_SWAP(phone);
#undef IL_EMU_SWAP
	memcpy(ins->birth_date, upd->birth_date, sizeof(ins->birth_date));
	memcpy(ins->updated, upd->updated, sizeof(ins->updated));
	snprintf(ins->location_uuid, sizeof(ins->location_uuid), "%s", loc->uuid);
	if (pin.has_head_flag)
		ins->is_head = pin.head;
	/* Without the group reference the insuree leaves its family. */
	snprintf(ins->family_uuid, sizeof(ins->family_uuid), "%s",
	    pin.group_uuid != NULL ? pin.group_uuid : "");
	il_emu_reply(resp, 200, il_emu_patient_json(ins));
	pthread_mutex_unlock(&st->mu);
out:
	il_emu_insuree_free(upd);
	cJSON_Delete(in);
}

static void
il_emu_patient_get(il_emu *emu, const char *id, il_http_response *resp)
{
	il_emu_insuree *ins;

	pthread_mutex_lock(&emu->store->mu);
	ins = il_emu_map_get(emu->store->insuree_by_uuid, id);
	if (ins != NULL)
		il_emu_reply(resp, 200, il_emu_patient_json(ins));
	pthread_mutex_unlock(&emu->store->mu);
	if (ins == NULL) {
		char msg[IL_EMU_MSG];

		/* Not a 404: the real server fails on an unknown UUID. */
		snprintf(msg, sizeof(msg), "Insuree matching query does not exist. (uuid `%.64s`)", id);
		il_emu_outcome(resp, 500, "error", "exception", msg);
	}
}

static void
il_emu_patient_list(il_emu *emu, const il_http_request *req, il_http_response *resp)
{
	const char *ident = il_http_query(req, "identifier");
	const char *cnt = il_http_query(req, "_count"), *off = il_http_query(req, "page-offset");
	const char *since = il_http_query(req, "_lastUpdated");
	il_emu_store *st = emu->store;
	long long count = IL_EMU_PAGE, page = 1;
	size_t i, total = 0, skip;
	cJSON *b, *entries;
	char msg[IL_EMU_MSG];

	if (ident != NULL) {
		il_emu_insuree *ins;

		/* The validator bug: a valid CHF ID is never searched. */
		if (il_emu_chfid_ok(&emu->cfg, ident, msg, sizeof(msg))) {
			il_emu_outcome(resp, 404, "error", "not-found", "Patient not found");
			return;
		}
		pthread_mutex_lock(&st->mu);
		ins = il_emu_map_get(st->insuree_by_uuid, ident);
		if (ins != NULL)
			il_emu_reply(resp, 200, il_emu_patient_json(ins));
		pthread_mutex_unlock(&st->mu);
		if (ins == NULL)
			il_emu_outcome(resp, 404, "error", "not-found", "Patient not found");
		return;
	}
	if ((cnt != NULL && !il_cli_parse_int(cnt, 1, 1000, &count)) ||
	    (off != NULL && !il_cli_parse_int(off, 1, 1000000000, &page))) {
		il_emu_outcome(resp, 500, "error", "exception", "invalid _count or page-offset");
		return;
	}
	if (since != NULL && strncmp(since, "ge", 2) == 0)
		since += 2;
	skip = (size_t)((page - 1) * count);
	b = il_emu_bundle(&entries);
	pthread_mutex_lock(&st->mu);
	for (i = 0; i < st->insurees.n; i++) {
		il_emu_insuree *ins = st->insurees.v[i];

		if (since != NULL && strcmp(ins->updated, since) < 0)
			continue;
		if (total >= skip && total < skip + (size_t)count)
			il_emu_bundle_add(entries, "Patient", ins->uuid, il_emu_patient_json(ins));
		total++;
	}
	pthread_mutex_unlock(&st->mu);
	il_emu_bundle_finish(resp, b, entries, total);
}

/* ---- Contract --------------------------------------------------------- */

static void
il_emu_contract_create(il_emu *emu, const il_http_request *req, il_http_response *resp)
{
	il_emu_store *st = emu->store;
	cJSON *in = cJSON_ParseWithLength(req->body, req->body_len), *asset, *vi, *ids;
	const char *status, *legal, *officer, *subject, *start, *end, *use_start, *product;
	const cJSON *net;
	il_emu_ref *off, *prod;
	il_emu_family *fam = NULL;
	il_emu_policy *pol;
	char msg[IL_EMU_MSG], today[IL_EMU_DATE_LEN];
	bool locked = false;
	size_t i;

	if (!cJSON_IsObject(in)) {
		snprintf(msg, sizeof(msg), "JSON parse error: the body is not a JSON object");
		goto refuse;
	}
	status = il_emu_jstr(in, "status");
	legal = il_emu_jstr(cJSON_GetObjectItemCaseSensitive(in, "legalState"), "text");
	officer = il_emu_ref_id(cJSON_GetObjectItemCaseSensitive(in, "author"), "Practitioner");
	subject = il_emu_jstr(cJSON_GetArrayItem(cJSON_GetObjectItemCaseSensitive(in, "subject"), 0),
	    "reference");
	asset = cJSON_GetArrayItem(cJSON_GetObjectItemCaseSensitive(
	    cJSON_GetArrayItem(cJSON_GetObjectItemCaseSensitive(in, "term"), 0), "asset"), 0);
	start = il_emu_jstr(cJSON_GetArrayItem(cJSON_GetObjectItemCaseSensitive(asset, "period"), 0),
	    "start");
	end = il_emu_jstr(cJSON_GetArrayItem(cJSON_GetObjectItemCaseSensitive(asset, "period"), 0),
	    "end");
	use_start = il_emu_jstr(cJSON_GetArrayItem(cJSON_GetObjectItemCaseSensitive(asset,
	    "usePeriod"), 0), "start");
	vi = cJSON_GetArrayItem(cJSON_GetObjectItemCaseSensitive(asset, "valuedItem"), 0);
	product = il_emu_ref_id(cJSON_GetObjectItemCaseSensitive(vi, "entityReference"),
	    "InsurancePlan");
	net = cJSON_GetObjectItemCaseSensitive(cJSON_GetObjectItemCaseSensitive(vi, "net"), "value");
	if (legal == NULL) {
		snprintf(msg, sizeof(msg), "Missing `legalState` attribute");
		goto refuse;
	}
	if (strcmp(legal, "Offered") != 0) {
		snprintf(msg, sizeof(msg), "Contract with legalState `%s` is not supported", legal);
		goto refuse;
	}
	if (cJSON_GetObjectItemCaseSensitive(asset, "typeReference") == NULL &&
	    cJSON_GetObjectItemCaseSensitive(asset, "context") == NULL &&
	    cJSON_GetObjectItemCaseSensitive(in, "context") == NULL) {
		snprintf(msg, sizeof(msg), "Missing `context` attribute");
		goto refuse;
	}
	if (officer == NULL) {
		snprintf(msg, sizeof(msg), "Missing `author` attribute (Practitioner reference)");
		goto refuse;
	}
	if (subject == NULL) {
		snprintf(msg, sizeof(msg), "Missing `subject` attribute");
		goto refuse;
	}
	if (!il_emu_is_date(start) || !il_emu_is_date(end)) {
		snprintf(msg, sizeof(msg), "Missing `period` start and end in term.asset");
		goto refuse;
	}
	if (product == NULL || !cJSON_IsNumber(net)) {
		snprintf(msg, sizeof(msg), "Missing `valuedItem` with InsurancePlan reference and net value");
		goto refuse;
	}
	il_emu_today(today);
	if (strncmp(start, today, 10) > 0) {
		snprintf(msg, sizeof(msg), "Enroll date cannot be in the future");
		goto refuse;
	}
	pthread_mutex_lock(&st->mu);
	locked = true;
	off = il_emu_map_get(st->officer_by_key, officer);
	if (off == NULL) {
		snprintf(msg, sizeof(msg), "Officer matching query does not exist. (`%.64s`)", officer);
		goto refuse;
	}
	prod = il_emu_map_get(st->product_by_key, product);
	if (prod == NULL) {
		snprintf(msg, sizeof(msg), "Product matching query does not exist. (`%.64s`)", product);
		goto refuse;
	}
	if (strncmp(subject, "Group/", 6) == 0) {
		fam = il_emu_map_get(st->family_by_uuid, subject + 6);
	} else if (strncmp(subject, "Patient/", 8) == 0) {
		il_emu_insuree *head = il_emu_map_get(st->insuree_by_uuid, subject + 8);

		if (head != NULL && head->is_head && head->family_uuid[0] != '\0')
			fam = il_emu_map_get(st->family_by_uuid, head->family_uuid);
	}
	if (fam == NULL) {
		snprintf(msg, sizeof(msg), "Family matching query does not exist. (`%.80s`)", subject);
		goto refuse;
	}
	/* Only a policy STARTING inside the new period is refused. */
	for (i = 0; i < fam->policies.n; i++) {
		il_emu_policy *p = fam->policies.v[i];

		if (strncmp(p->enroll_date, start, 10) >= 0 && strncmp(p->enroll_date, end, 10) <= 0) {
			snprintf(msg, sizeof(msg), "Contract exists for this patient");
			goto refuse;
		}
	}
	pol = il_xcalloc(1, sizeof(*pol));
	il_emu_store_uuid(st, pol->uuid);
	pol->id = il_emu_store_next_id(st);
	snprintf(pol->family_uuid, sizeof(pol->family_uuid), "%s", fam->uuid);
	pol->product_code = il_xstrdup(prod->code);
	snprintf(pol->enroll_date, sizeof(pol->enroll_date), "%.10s", start);
	snprintf(pol->start_date, sizeof(pol->start_date), "%.10s",
	    il_emu_is_date(use_start) ? use_start : start);
	snprintf(pol->expiry_date, sizeof(pol->expiry_date), "%.10s", end);
	pol->value = net->valuedouble;
	/* Only lower-case "active" activates; anything else is an idle policy. */
	pol->status = status != NULL && strcmp(status, "active") == 0 ? 2 : 1;
	snprintf(pol->officer_uuid, sizeof(pol->officer_uuid), "%s", off->uuid);
	il_emu_vec_push(&st->policies, pol);
	il_emu_vec_push(&fam->policies, pol);
	/* The answer: the Contract as sent, without "id", with UUID and ACSN. */
	cJSON_DeleteItemFromObjectCaseSensitive(in, "id");
	cJSON_DeleteItemFromObjectCaseSensitive(in, "identifier");
	ids = cJSON_AddArrayToObject(in, "identifier");
	il_emu_add_identifier(ids, "UUID", pol->uuid);
	snprintf(msg, sizeof(msg), "%ld", pol->id);
	il_emu_add_identifier(ids, "ACSN", msg);
	pthread_mutex_unlock(&st->mu);
	il_emu_reply(resp, 201, in);
	return;
refuse:
	if (locked)
		pthread_mutex_unlock(&st->mu);
	cJSON_Delete(in);
	il_emu_outcome(resp, 500, "error", "exception", msg);
}

/* ---- reference look-ups ----------------------------------------------- */

static cJSON *
il_emu_location_json(const il_emu_location *l)
{
	cJSON *o = cJSON_CreateObject(), *ids, *type, *coding;
	char code[2] = { l->type, '\0' };

	cJSON_AddStringToObject(o, "resourceType", "Location");
	cJSON_AddStringToObject(o, "id", l->uuid);
	ids = cJSON_AddArrayToObject(o, "identifier");
	il_emu_add_identifier(ids, "Code", l->code);
	il_emu_add_identifier(ids, "UUID", l->uuid);
	cJSON_AddStringToObject(o, "name", l->name);
	cJSON_AddStringToObject(o, "status", "active");
	type = cJSON_CreateObject();
	coding = cJSON_CreateObject();
	cJSON_AddStringToObject(coding, "system", IL_EMU_LOCTYPE_SYSTEM);
	cJSON_AddStringToObject(coding, "code", code);
	cJSON_AddItemToArray(cJSON_AddArrayToObject(type, "coding"), coding);
	cJSON_AddItemToArray(cJSON_AddArrayToObject(o, "type"), type);
	if (l->parent_uuid[0] != '\0')
		cJSON_AddItemToObject(o, "partOf", il_emu_reference("Location", l->parent_uuid));
	return o;
}

static cJSON *
il_emu_ref_json(const char *kind, const il_emu_ref *r)
{
	cJSON *o = cJSON_CreateObject(), *ids;

	cJSON_AddStringToObject(o, "resourceType", kind);
	cJSON_AddStringToObject(o, "id", r->uuid);
	ids = cJSON_AddArrayToObject(o, "identifier");
	il_emu_add_identifier(ids, "Code", r->code);
	il_emu_add_identifier(ids, "UUID", r->uuid);
	if (strcmp(kind, "Practitioner") == 0) {
		cJSON *name = cJSON_CreateObject();

		cJSON_AddStringToObject(name, "use", "usual");
		cJSON_AddStringToObject(name, "text", r->name);
		cJSON_AddItemToArray(cJSON_AddArrayToObject(o, "name"), name);
	} else {
		cJSON_AddStringToObject(o, "name", r->name);
		cJSON_AddStringToObject(o, "status", "active");
	}
	return o;
}

/* Lists Location (@p refs NULL) or one kind of il_emu_ref matching @p key (NULL: all). */
static void
il_emu_lookup(il_emu *emu, const char *kind, const il_emu_vec *refs, const char *key,
    il_http_response *resp)
{
	il_emu_store *st = emu->store;
	cJSON *b, *entries;
	size_t i, total = 0;

	b = il_emu_bundle(&entries);
	pthread_mutex_lock(&st->mu);
	if (refs == NULL) {
		for (i = 0; i < st->locations.n; i++) {
			il_emu_location *l = st->locations.v[i];

			if (key != NULL && strcmp(l->code, key) != 0 && strcmp(l->uuid, key) != 0)
				continue;
			il_emu_bundle_add(entries, kind, l->uuid, il_emu_location_json(l));
			total++;
		}
	} else {
		for (i = 0; i < refs->n; i++) {
			il_emu_ref *r = refs->v[i];

			if (key != NULL && strcmp(r->code, key) != 0 && strcmp(r->uuid, key) != 0)
				continue;
			il_emu_bundle_add(entries, kind, r->uuid, il_emu_ref_json(kind, r));
			total++;
		}
	}
	pthread_mutex_unlock(&st->mu);
	il_emu_bundle_finish(resp, b, entries, total);
}

/* ---- dispatch --------------------------------------------------------- */

static void
il_emu_not_allowed(const il_http_request *req, il_http_response *resp)
{
	char *text = il_xasprintf("{\"detail\":\"Method \\\"%s\\\" not allowed.\"}", req->method);

	resp->status = 405;
	if (il_buf_adds(&resp->body, text) != IL_OK)
		il_buf_reset(&resp->body);
	free(text);
}

void
il_emu_fhir(il_emu *emu, const il_http_request *req, il_http_response *resp, il_emu_call *call)
{
	const char *rest = req->path + strlen(IL_EMU_FHIR_BASE), *slash;
	char resource[32], id[128];
	bool get = strcmp(req->method, "GET") == 0;
	bool post = strcmp(req->method, "POST") == 0;
	bool put = strcmp(req->method, "PUT") == 0;
	size_t n;

	/* "<Resource>/" or "<Resource>/<id>/": the trailing slash is checked before. */
	slash = strchr(rest, '/');
	n = slash != NULL ? (size_t)(slash - rest) : 0;
	if (slash == NULL || n == 0 || n >= sizeof(resource)) {
		il_emu_outcome(resp, 404, "error", "not-found", "Not found");
		return;
	}
	memcpy(resource, rest, n);
	resource[n] = '\0';
	rest = slash + 1;
	id[0] = '\0';
	if (*rest != '\0') {
		slash = strchr(rest, '/');
		n = (size_t)(slash - rest);
		if (slash[1] != '\0' || n == 0 || n >= sizeof(id)) {
			il_emu_outcome(resp, 404, "error", "not-found", "Not found");
			return;
		}
		memcpy(id, rest, n);
		id[n] = '\0';
	}
	if (strcmp(resource, "Patient") == 0) {
		if (id[0] == '\0' && post) {
			call->write = true;
			il_emu_patient_create(emu, req, resp);
		} else if (id[0] == '\0' && get) {
			il_emu_patient_list(emu, req, resp);
		} else if (id[0] != '\0' && get) {
			il_emu_patient_get(emu, id, resp);
		} else if (id[0] != '\0' && put) {
			call->write = true;
			il_emu_patient_update(emu, req, resp);
		} else {
			il_emu_not_allowed(req, resp);
		}
	} else if (strcmp(resource, "Contract") == 0) {
		if (id[0] == '\0' && post) {
			call->write = true;
			il_emu_contract_create(emu, req, resp);
		} else {
			il_emu_not_allowed(req, resp);
		}
	} else if (strcmp(resource, "Location") == 0 && get) {
		il_emu_lookup(emu, "Location", NULL, id[0] != '\0' ? id :
		    il_http_query(req, "identifier"), resp);
	} else if (strcmp(resource, "Practitioner") == 0 && get) {
		const char *rt = il_http_query(req, "resourceType");

		if (rt == NULL || strcmp(rt, "eo") != 0) {
			il_emu_outcome(resp, 500, "error", "exception",
			    "'NoneType' object has no attribute 'objects'");
			return;
		}
		il_emu_lookup(emu, "Practitioner", &emu->store->officers, id[0] != '\0' ? id :
		    il_http_query(req, "code"), resp);
	} else if (strcmp(resource, "InsurancePlan") == 0 && get) {
		il_emu_lookup(emu, "InsurancePlan", &emu->store->products, id[0] != '\0' ? id :
		    il_http_query(req, "identifier"), resp);
	} else if (strcmp(resource, "Location") == 0 || strcmp(resource, "Practitioner") == 0 ||
	    strcmp(resource, "InsurancePlan") == 0) {
		il_emu_not_allowed(req, resp);
	} else {
		il_emu_outcome(resp, 404, "error", "not-found", "Not found");
	}
}
