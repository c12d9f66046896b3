/*
 * dci.c - openSPP 17's DCI server (`spp_dci_api_server`) in the emulator:
 * POST /oauth2/client/token and POST /registry/sync/search.
 *
 * Read from OpenSPP/openspp-modules spp_dci_api_server (controllers,
 * models/individual.py, tools/constants): the token request is a JSON body
 * {client_id, client_secret, grant_type, db_name} answered {access_token,
 * token_type} with a token valid ten minutes; a search takes reg_type
 * "SPP:RegistryType:Individual" and "predicate" queries on birthdate only
 * (operators eq gt lt ge le in, every expression ANDed); a record is
 * {identifier: [{name, identifier}], birthDate, givenName, familyName, sex,
 * birthPlace} with Odoo's False for empty fields (so birthDate "False"), and
 * individuals without any ID are dropped.  openSPP's own error answers
 * (HTTP 401 bodies, the token errors) are kept as it sends them.
 *
 * Added from the SPDCI Social Registry API (social_api_v1.0.0.yaml), which
 * openSPP 17 does not do itself: "idtype-value" queries ({type, value}),
 * pagination {page_size, page_number} answered with total_count, the rjct
 * codes of the header (MsgHeaderStatusReasonCode) and of each search
 * (SearchStatusReasonCode), the "on-search" callback header, and err.* in
 * an ERR acknowledgement for a body that is no envelope at all.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <time.h>

#include <openssl/rand.h>

#include "cli.h"
#include "jwt.h"
#include "spp.h"
#include "timefmt.h"
#include "xalloc.h"

#define DCI_REG_TYPE "SPP:RegistryType:Individual"
#define DCI_ISS "openspp:auth-service"
/* search_request entries one envelope may hold. */
#define DCI_MAX_REQUESTS 100
#define DCI_REASON_MAX 512

/* ---- answers -------------------------------------------------------------- */

static void
dci_uuid(char out[IL_DCI_UUID_LEN])
{
	unsigned char b[16];
	struct timespec t;

	/* Without entropy the clock stands in (see il_dci_uuid). */
	clock_gettime(CLOCK_REALTIME, &t);
	memset(b, 0, sizeof(b));
	memcpy(b, &t.tv_sec, sizeof(t.tv_sec) < 8 ? sizeof(t.tv_sec) : 8);
	memcpy(b + 8, &t.tv_nsec, sizeof(t.tv_nsec) < 8 ? sizeof(t.tv_nsec) : 8);
	il_dci_uuid(out, b);
}

static void
dci_now(char ts[IL_TIME_LEN])
{
	struct timespec t;

	clock_gettime(CLOCK_REALTIME, &t);
	il_time_format_ms((int64_t)t.tv_sec * 1000 + t.tv_nsec / 1000000, ts);
}

/* Adds @p name: @p value, or null when @p value is NULL, as openSPP does. */
static void
dci_add_string_or_null(cJSON *o, const char *name, const char *value)
{
	if (value != NULL)
		cJSON_AddStringToObject(o, name, value);
	else
		cJSON_AddNullToObject(o, name);
}

/* openSPP's {"error": {"code": N, "message": M}} (its error_wrapper()). */
static void
dci_error_wrapper(il_http_response *resp, int status, const char *message)
{
	cJSON *o = cJSON_CreateObject(), *e = cJSON_AddObjectToObject(o, "error");

	cJSON_AddNumberToObject(e, "code", status);
	cJSON_AddStringToObject(e, "message", message);
	il_spp_reply(resp, status, o);
}

/* openSPP's {"error": E, "error_description": D} (its response_wrapper()). */
static void
dci_error_desc(il_http_response *resp, int status, const char *error, const char *desc)
{
	cJSON *o = cJSON_CreateObject();

	cJSON_AddStringToObject(o, "error", error);
	cJSON_AddStringToObject(o, "error_description", desc);
	il_spp_reply(resp, status, o);
}

/* SPDCI's acknowledgement with ack_status ERR, for a body that is no envelope. */
static void
dci_ack_err(il_http_response *resp, const char *code, const char *message, const char *correlation)
{
	cJSON *o = cJSON_CreateObject(), *m = cJSON_AddObjectToObject(o, "message");
	cJSON *e;
	char ts[IL_TIME_LEN];

	dci_now(ts);
	cJSON_AddStringToObject(m, "ack_status", "ERR");
	cJSON_AddStringToObject(m, "timestamp", ts);
	e = cJSON_AddObjectToObject(m, "error");
	cJSON_AddStringToObject(e, "code", code);
	cJSON_AddStringToObject(e, "message", message);
	dci_add_string_or_null(m, "correlation_id", correlation);
	il_spp_reply(resp, 400, o);
}

/* ---- POST /oauth2/client/token ------------------------------------------ */

/* A member of a JSON object or of a form body; NULL when absent. */
static const char *
dci_field(const cJSON *json, const char *name)
{
	const cJSON *v = cJSON_GetObjectItemCaseSensitive(json, name);

	return cJSON_IsString(v) ? v->valuestring : NULL;
}

static void
dci_token(il_spp *spp, const il_http_request *req, il_http_response *resp, char *who, size_t whosz)
{
	const char *id, *secret, *grant, *db;
	cJSON *body, *claims, *out;
	long long now = (long long)time(NULL);
	char *token;

	body = cJSON_ParseWithLength(req->body_len > 0 ? req->body : "{}", req->body_len > 0 ?
	    req->body_len : 2);
	if (!cJSON_IsObject(body)) {
		cJSON_Delete(body);
		dci_error_desc(resp, 400, "Bad Request", "data must be in JSON format.");
		return;
	}
	id = dci_field(body, "client_id");
	secret = dci_field(body, "client_secret");
	grant = dci_field(body, "grant_type");
	db = dci_field(body, "db_name");
	if (id != NULL)
		snprintf(who, whosz, "%s", id);
	/* openSPP checks the database before the credentials. */
	if (db == NULL || db[0] == '\0') {
		dci_error_desc(resp, 400, "Bad Request", "db_name is required.");
		goto done;
	}
	if (strcmp(db, spp->cfg.dci_db_name) != 0) {
		dci_error_desc(resp, 404, "Not Found", "DB not found.");
		goto done;
	}
	if (id == NULL || id[0] == '\0' || secret == NULL || secret[0] == '\0' || grant == NULL ||
	    grant[0] == '\0') {
		dci_error_desc(resp, 400, "Bad Request", "client_id, client_secret, and grant_type is required.");
		goto done;
	}
	if (strcmp(id, spp->cfg.dci_client_id) != 0 || strcmp(secret, spp->cfg.dci_client_secret) != 0) {
		dci_error_desc(resp, 401, "Unauthorized", "Invalid client id or secret.");
		goto done;
	}
	claims = cJSON_CreateObject();
	cJSON_AddNumberToObject(claims, "iat", (double)now);
	cJSON_AddNumberToObject(claims, "exp", (double)(now + spp->cfg.dci_token_lifetime_s));
	cJSON_AddStringToObject(claims, "iss", DCI_ISS);
	cJSON_AddStringToObject(claims, "db_name", db);
	cJSON_AddStringToObject(claims, "client_id", id);
	token = il_jwt_make(spp->dci_key, sizeof(spp->dci_key), claims);
	cJSON_Delete(claims);
	if (token == NULL) {
		dci_error_desc(resp, 500, "Internal Server Error", "could not make a token");
		goto done;
	}
	pthread_mutex_lock(&spp->dci_mu);
	spp->dci_uses = 0;
	pthread_mutex_unlock(&spp->dci_mu);
	out = cJSON_CreateObject();
	cJSON_AddStringToObject(out, "access_token", token);
	cJSON_AddStringToObject(out, "token_type", "Bearer");
	free(token);
	il_spp_reply(resp, 200, out);
done:
	cJSON_Delete(body);
}

static void
dci_h_token(const il_http_request *req, il_http_response *resp, void *ctx)
{
	il_spp *spp = ctx;
	char who[256] = "";

	dci_token(spp, req, resp, who, sizeof(who));
	il_spp_record(spp, req, "dci_token", who[0] != '\0' ? who : NULL, resp->status);
}

/* ---- records ------------------------------------------------------------- */

/* Odoo's value of an empty field is False, and openSPP passes it on as is. */
static void
dci_add_or_false(cJSON *out, const char *key, const cJSON *v)
{
	if (cJSON_IsString(v) && v->valuestring[0] != '\0')
		cJSON_AddStringToObject(out, key, v->valuestring);
	else
		cJSON_AddFalseToObject(out, key);
}

/* An individual as get_dci_individual_registry_data() renders it. */
static cJSON *
dci_record(const cJSON *rec)
{
	cJSON *out = cJSON_CreateObject(), *idents = cJSON_AddArrayToObject(out, "identifier");
	const cJSON *e, *bd = cJSON_GetObjectItemCaseSensitive(rec, "birthdate");
	const cJSON *sex = cJSON_GetObjectItemCaseSensitive(rec, "gender");
	char lower[64];
	size_t i;

	cJSON_ArrayForEach(e, cJSON_GetObjectItemCaseSensitive(rec, "ids")) {
		const cJSON *t = cJSON_GetObjectItemCaseSensitive(e, "id_type");
		const cJSON *v = cJSON_GetObjectItemCaseSensitive(e, "value");
		cJSON *x;

		if (!cJSON_IsString(t) || !cJSON_IsString(v) || v->valuestring[0] == '\0')
			continue;
		x = cJSON_CreateObject();
		cJSON_AddStringToObject(x, "name", t->valuestring);
		cJSON_AddStringToObject(x, "identifier", v->valuestring);
		cJSON_AddItemToArray(idents, x);
	}
	/* str(rec.birthdate): "False" when the registrant has none. */
	cJSON_AddStringToObject(out, "birthDate", cJSON_IsString(bd) ? bd->valuestring : "False");
	dci_add_or_false(out, "givenName", cJSON_GetObjectItemCaseSensitive(rec, "given_name"));
	dci_add_or_false(out, "familyName", cJSON_GetObjectItemCaseSensitive(rec, "family_name"));
	lower[0] = '\0';
	if (cJSON_IsString(sex)) {
		for (i = 0; sex->valuestring[i] != '\0' && i + 1 < sizeof(lower); i++)
			lower[i] = (char)((sex->valuestring[i] >= 'A' && sex->valuestring[i] <= 'Z') ?
			    sex->valuestring[i] + 32 : sex->valuestring[i]);
		lower[i] = '\0';
	}
	cJSON_AddStringToObject(out, "sex", lower);
	dci_add_or_false(out, "birthPlace", cJSON_GetObjectItemCaseSensitive(rec, "birth_place"));
	return out;
}

static bool
dci_has_ids(const cJSON *rec)
{
	const cJSON *e;

	cJSON_ArrayForEach(e, cJSON_GetObjectItemCaseSensitive(rec, "ids")) {
		const cJSON *v = cJSON_GetObjectItemCaseSensitive(e, "value");

		if (cJSON_IsString(v) && v->valuestring[0] != '\0' &&
		    cJSON_IsString(cJSON_GetObjectItemCaseSensitive(e, "id_type")))
			return true;
	}
	return false;
}

/* ---- queries ------------------------------------------------------------- */

/* One birthdate expression of a predicate query. */
typedef struct dci_pred {
	char op[4];                     /* eq gt lt ge le in */
	const cJSON *value;             /* a date string, or for "in" an array of them */
} dci_pred;

/* What one search asks for, checked. */
typedef struct dci_query {
	bool by_id;                     /* idtype-value */
	const char *id_type, *id_value; /* idtype-value */
	dci_pred *preds;                /* predicate, npreds of them */
	size_t npreds;
} dci_query;

static bool
dci_pred_match(const dci_pred *p, const char *bd)
{
	const cJSON *v;
	int c;

	if (bd == NULL)
		return false;       /* SQL: a comparison with NULL is never true */
	if (strcmp(p->op, "in") == 0) {
		cJSON_ArrayForEach(v, p->value) {
			if (cJSON_IsString(v) && strcmp(v->valuestring, bd) == 0)
				return true;
		}
		return false;
	}
	/* Both are YYYY-MM-DD, checked: text order is date order. */
	c = strcmp(bd, p->value->valuestring);
	if (strcmp(p->op, "eq") == 0)
		return c == 0;
	if (strcmp(p->op, "gt") == 0)
		return c > 0;
	if (strcmp(p->op, "lt") == 0)
		return c < 0;
	if (strcmp(p->op, "ge") == 0)
		return c >= 0;
	return c <= 0;
}

static bool
dci_query_match(const dci_query *q, const cJSON *rec)
{
	const cJSON *bd = cJSON_GetObjectItemCaseSensitive(rec, "birthdate"), *e;
	size_t i;

	if (q->by_id) {
		cJSON_ArrayForEach(e, cJSON_GetObjectItemCaseSensitive(rec, "ids")) {
			const cJSON *t = cJSON_GetObjectItemCaseSensitive(e, "id_type");
			const cJSON *v = cJSON_GetObjectItemCaseSensitive(e, "value");

			if (cJSON_IsString(t) && cJSON_IsString(v) && strcmp(t->valuestring, q->id_type) == 0 &&
			    strcmp(v->valuestring, q->id_value) == 0)
				return true;
		}
		return false;
	}
	for (i = 0; i < q->npreds; i++) {
		if (!dci_pred_match(&q->preds[i], cJSON_IsString(bd) ? bd->valuestring : NULL))
			return false;
	}
	return true;
}

static bool
dci_is_date(const cJSON *v)
{
	int64_t days;

	return cJSON_IsString(v) && strlen(v->valuestring) == 10 &&
	    il_time_parse_date(v->valuestring, &days) == NULL;
}

/*
 * Reads search_criteria into @p q; @returns false with openSPP's wording of
 * the problem in @p why (the caller answers rjct.search_criteria.invalid).
 */
static bool
dci_read_criteria(const cJSON *sc, dci_query *q, char *why, size_t whysz)
{
	const cJSON *rt = cJSON_GetObjectItemCaseSensitive(sc, "reg_type");
	const cJSON *qt = cJSON_GetObjectItemCaseSensitive(sc, "query_type");
	const cJSON *query = cJSON_GetObjectItemCaseSensitive(sc, "query"), *e, *x, *v;
	const char *op;
	size_t n = 0;

	memset(q, 0, sizeof(*q));
	if (!cJSON_IsObject(sc) || rt == NULL || qt == NULL || query == NULL) {
		snprintf(why, whysz, "search_criteria should have these parameters: reg_type, query_type, query");
		return false;
	}
	if (!cJSON_IsString(qt) || (strcmp(qt->valuestring, "predicate") != 0 &&
	    strcmp(qt->valuestring, "idtype-value") != 0)) {
		snprintf(why, whysz, "query_type only accepts these values: predicate, idtype-value");
		return false;
	}
	if (!cJSON_IsString(rt) || strcmp(rt->valuestring, DCI_REG_TYPE) != 0) {
		snprintf(why, whysz, "These are the only supported reg type: " DCI_REG_TYPE);
		return false;
	}
	if (strcmp(qt->valuestring, "idtype-value") == 0) {
		q->by_id = true;
		q->id_type = dci_field(query, "type");
		q->id_value = dci_field(query, "value");
		if (!cJSON_IsObject(query) || q->id_type == NULL || q->id_value == NULL) {
			snprintf(why, whysz, "query should have these parameters: type, value (strings)");
			return false;
		}
		return true;
	}
	if (!cJSON_IsArray(query)) {
		snprintf(why, whysz, "query: a predicate query is a list of {expression1}");
		return false;
	}
	q->preds = il_xcalloc((size_t)cJSON_GetArraySize(query) + 1, sizeof(*q->preds));
	cJSON_ArrayForEach(e, query) {
		x = cJSON_GetObjectItemCaseSensitive(e, "expression1");
		if (!cJSON_IsObject(x)) {
			snprintf(why, whysz, "query should have these parameters: expression1");
			return false;
		}
		if (!cJSON_IsString(cJSON_GetObjectItemCaseSensitive(x, "attribute_name")) ||
		    !cJSON_IsString(cJSON_GetObjectItemCaseSensitive(x, "operator")) ||
		    (v = cJSON_GetObjectItemCaseSensitive(x, "attribute_value")) == NULL) {
			snprintf(why, whysz, "expression1 should have these parameters: attribute_name, "
			    "operator, attribute_value");
			return false;
		}
		if (strcmp(cJSON_GetObjectItemCaseSensitive(x, "attribute_name")->valuestring, "birthdate") != 0) {
			snprintf(why, whysz, "These are the only supported attribute name: birthdate");
			return false;
		}
		op = cJSON_GetObjectItemCaseSensitive(x, "operator")->valuestring;
		if (strcmp(op, "eq") != 0 && strcmp(op, "gt") != 0 && strcmp(op, "lt") != 0 &&
		    strcmp(op, "ge") != 0 && strcmp(op, "le") != 0 && strcmp(op, "in") != 0) {
			snprintf(why, whysz, "These are the only supported operator: eq, gt, lt, ge, le, in");
			return false;
		}
		snprintf(q->preds[n].op, sizeof(q->preds[n].op), "%s", op);
		if (strcmp(q->preds[n].op, "in") == 0) {
			cJSON_ArrayForEach(x, v) {
				if (!dci_is_date(x))
					break;
			}
			if (!cJSON_IsArray(v) || x != NULL) {
				snprintf(why, whysz, "attribute_value: \"in\" takes a list of dates YYYY-MM-DD");
				return false;
			}
		} else if (!dci_is_date(v)) {
			snprintf(why, whysz, "attribute_value: expected a date YYYY-MM-DD");
			return false;
		}
		q->preds[n].value = v;
		n++;
	}
	q->npreds = n;
	return true;
}

/* ---- POST /registry/sync/search ------------------------------------------ */

static cJSON *
dci_item_rjct(const char *ref, const char *ts, const char *code, const char *message)
{
	cJSON *o = cJSON_CreateObject();

	dci_add_string_or_null(o, "reference_id", ref);
	cJSON_AddStringToObject(o, "timestamp", ts);
	cJSON_AddStringToObject(o, "status", "rjct");
	cJSON_AddStringToObject(o, "status_reason_code", code);
	cJSON_AddStringToObject(o, "status_reason_message", message);
	return o;
}

/* Reads a pagination member as a positive integer; -1 when it is not one. */
static long long
dci_page_number(const cJSON *pg, const char *name, long long dflt)
{
	const cJSON *v = cJSON_GetObjectItemCaseSensitive(pg, name);

	if (v == NULL)
		return dflt;
	if (!cJSON_IsNumber(v) || v->valuedouble < 1 || v->valuedouble > 1e9 ||
	    v->valuedouble != (double)(long long)v->valuedouble)
		return -1;
	return (long long)v->valuedouble;
}

/* Answers one search_request entry; @returns its search_response entry. */
static cJSON *
dci_search_one(il_spp *spp, const cJSON *sr, const char *ts)
{
	const cJSON *ref = cJSON_GetObjectItemCaseSensitive(sr, "reference_id");
	const cJSON *rts = cJSON_GetObjectItemCaseSensitive(sr, "timestamp");
	const cJSON *sc = cJSON_GetObjectItemCaseSensitive(sr, "search_criteria");
	const cJSON *pg = cJSON_GetObjectItemCaseSensitive(sc, "pagination"), *rec;
	const char *refs = cJSON_IsString(ref) ? ref->valuestring : NULL;
	cJSON *out = NULL, *data, *recs, *page;
	long long size = 0, number = 1, total = 0, first, i = 0;
	char why[DCI_REASON_MAX];
	dci_query q;
	int64_t ms;

	memset(&q, 0, sizeof(q));
	if (refs == NULL || refs[0] == '\0')
		return dci_item_rjct(NULL, ts, "rjct.reference_id.invalid",
		    "reference_id: required, a non-empty string");
	if (!cJSON_IsString(rts) || il_time_parse_ms(rts->valuestring, 0, &ms) != NULL)
		return dci_item_rjct(refs, ts, "rjct.timestamp.invalid",
		    "timestamp: expected ISO-8601 with a zone such as \"2025-01-31T10:00:00Z\"");
	if (!dci_read_criteria(sc, &q, why, sizeof(why))) {
		out = dci_item_rjct(refs, ts, "rjct.search_criteria.invalid", why);
		goto done;
	}
	if (pg != NULL) {
		size = cJSON_IsObject(pg) ? dci_page_number(pg, "page_size", -1) : -1;
		number = cJSON_IsObject(pg) ? dci_page_number(pg, "page_number", 1) : -1;
		if (size < 1 || number < 1 || size > spp->cfg.dci_max_page_size) {
			snprintf(why, sizeof(why), "pagination: page_size (required) from 1 to %lld and "
			    "page_number from 1", spp->cfg.dci_max_page_size);
			out = dci_item_rjct(refs, ts, "rjct.pagination.invalid", why);
			goto done;
		}
	}
	cJSON_ArrayForEach(rec, cJSON_GetObjectItemCaseSensitive(spp->registry, "individuals")) {
		if (dci_query_match(&q, rec) && (spp->cfg.dci_keep_unidentified || dci_has_ids(rec)))
			total++;
	}
	if (pg == NULL && total > spp->cfg.dci_max_records) {
		snprintf(why, sizeof(why), "%lld records found, more than %lld: ask for pages", total,
		    spp->cfg.dci_max_records);
		out = dci_item_rjct(refs, ts, "rjct.search.too_many_records_found", why);
		goto done;
	}
	if (pg == NULL)
		size = total;
	first = (number - 1) * size;
	/* openSPP answers nothing at all for a search that finds nothing: no
	 * search_response entry (its "if records:").  A page past the end is
	 * such a search. */
	if (total == 0 || first >= total)
		goto done;
	out = cJSON_CreateObject();
	cJSON_AddStringToObject(out, "reference_id", refs);
	cJSON_AddStringToObject(out, "timestamp", ts);
	cJSON_AddStringToObject(out, "status", "succ");
	data = cJSON_AddObjectToObject(out, "data");
	cJSON_AddStringToObject(data, "version", "1.0.0");
	cJSON_AddStringToObject(data, "reg_record_type", "person");
	cJSON_AddStringToObject(data, "reg_type", DCI_REG_TYPE);
	recs = cJSON_AddArrayToObject(data, "reg_records");
	cJSON_ArrayForEach(rec, cJSON_GetObjectItemCaseSensitive(spp->registry, "individuals")) {
		if (!dci_query_match(&q, rec) || (!spp->cfg.dci_keep_unidentified && !dci_has_ids(rec)))
			continue;
		if (i >= first && i < first + size)
			cJSON_AddItemToArray(recs, dci_record(rec));
		i++;
	}
	if (pg != NULL) {
		page = cJSON_AddObjectToObject(out, "pagination");
		cJSON_AddNumberToObject(page, "page_size", (double)size);
		cJSON_AddNumberToObject(page, "page_number", (double)number);
		cJSON_AddNumberToObject(page, "total_count", (double)total);
	}
	cJSON_AddStringToObject(out, "locale", "eng");
done:
	free(q.preds);
	return out;
}

/* The answer's envelope: header status @p status, with @p code when rjct. */
static cJSON *
dci_envelope(const cJSON *header, const cJSON *message, const char *status, const char *code,
    const char *reason, long long total, long long completed, cJSON *responses)
{
	cJSON *o = cJSON_CreateObject(), *h = cJSON_AddObjectToObject(o, "header");
	cJSON *m = cJSON_AddObjectToObject(o, "message");
	const char *mid = dci_field(header, "message_id"), *sender = dci_field(header, "sender_id");
	const char *txn = dci_field(message, "transaction_id");
	char ts[IL_TIME_LEN], uuid[IL_DCI_UUID_LEN];

	dci_now(ts);
	cJSON_AddStringToObject(h, "version", "1.0.0");
	/* openSPP echoes the request's message_id. */
	dci_add_string_or_null(h, "message_id", mid);
	cJSON_AddStringToObject(h, "message_ts", ts);
	cJSON_AddStringToObject(h, "action", "on-search");
	cJSON_AddStringToObject(h, "status", status);
	if (code != NULL) {
		cJSON_AddStringToObject(h, "status_reason_code", code);
		cJSON_AddStringToObject(h, "status_reason_message", reason);
	}
	cJSON_AddNumberToObject(h, "total_count", (double)total);
	cJSON_AddNumberToObject(h, "completed_count", (double)completed);
	cJSON_AddStringToObject(h, "sender_id", "openspp");
	if (sender != NULL)
		cJSON_AddStringToObject(h, "receiver_id", sender);
	cJSON_AddFalseToObject(h, "is_msg_encrypted");
	dci_add_string_or_null(m, "transaction_id", txn);
	dci_uuid(uuid);
	cJSON_AddStringToObject(m, "correlation_id", uuid);
	cJSON_AddItemToObject(m, "search_response", responses != NULL ? responses : cJSON_CreateArray());
	return o;
}

/* Header checks beyond the shape; @returns the rjct code, or NULL. */
static const char *
dci_header_problem(il_spp *spp, const cJSON *header, const cJSON *requests, char *why, size_t whysz)
{
	const cJSON *v = cJSON_GetObjectItemCaseSensitive(header, "version");
	const cJSON *tc = cJSON_GetObjectItemCaseSensitive(header, "total_count");
	const char *ts = dci_field(header, "message_ts"), *action = dci_field(header, "action");
	int n = cJSON_GetArraySize(requests);
	bool dup;
	int64_t ms;

	if (v != NULL && (!cJSON_IsString(v) || strcmp(v->valuestring, "1.0.0") != 0)) {
		snprintf(why, whysz, "header.version: expected \"1.0.0\"");
		return "rjct.version.invalid";
	}
	if (ts == NULL || il_time_parse_ms(ts, 0, &ms) != NULL) {
		snprintf(why, whysz, "header.message_ts: expected ISO-8601 with a zone");
		return "rjct.message_ts.invalid";
	}
	if (action == NULL || strcmp(action, "search") != 0) {
		snprintf(why, whysz, "header.action: expected \"search\"");
		return "rjct.action.invalid";
	}
	if (!cJSON_IsNumber(tc) || tc->valuedouble != (double)n) {
		snprintf(why, whysz, "header.total_count: expected the number of search_request entries, %d", n);
		return "rjct.total_count.invalid";
	}
	if (n > DCI_MAX_REQUESTS) {
		snprintf(why, whysz, "message.search_request: %d entries, more than %d", n, DCI_MAX_REQUESTS);
		return "rjct.total_count.limit_exceeded";
	}
	pthread_mutex_lock(&spp->dci_mu);
	dup = il_dci_seen_has(spp->dci_seen, dci_field(header, "sender_id"), dci_field(header, "message_id"));
	if (!dup)
		il_dci_seen_add(spp->dci_seen, dci_field(header, "sender_id"), dci_field(header, "message_id"));
	pthread_mutex_unlock(&spp->dci_mu);
	if (dup) {
		snprintf(why, whysz, "header.message_id: \"%.64s\" was answered already", dci_field(header,
		    "message_id"));
		return "rjct.message_id.duplicate";
	}
	return NULL;
}

static void
dci_search(il_spp *spp, const il_http_request *req, il_http_response *resp, const char *who)
{
	const cJSON *header, *message, *requests, *sr, *ref, *e;
	const char *code, *mid;
	cJSON *body, *responses, *item;
	char why[DCI_REASON_MAX], ts[IL_TIME_LEN];
	long long n = 0, completed = 0;

	(void)who;
	body = cJSON_ParseWithLength(req->body, req->body_len);
	if (!cJSON_IsObject(body)) {
		dci_ack_err(resp, "err.request.bad", "data must be in JSON format.", NULL);
		goto done;
	}
	header = cJSON_GetObjectItemCaseSensitive(body, "header");
	message = cJSON_GetObjectItemCaseSensitive(body, "message");
	mid = dci_field(header, "message_id");
	if (!cJSON_IsObject(header) || mid == NULL || mid[0] == '\0' ||
	    dci_field(header, "action") == NULL || dci_field(header, "sender_id") == NULL ||
	    cJSON_GetObjectItemCaseSensitive(header, "total_count") == NULL ||
	    cJSON_GetObjectItemCaseSensitive(header, "message_ts") == NULL) {
		dci_ack_err(resp, "err.request.bad", "header should have these parameters: message_id, "
		    "message_ts, action, sender_id, total_count", mid);
		goto done;
	}
	requests = cJSON_GetObjectItemCaseSensitive(message, "search_request");
	if (!cJSON_IsObject(message) || dci_field(message, "transaction_id") == NULL ||
	    !cJSON_IsArray(requests) || cJSON_GetArraySize(requests) == 0) {
		dci_ack_err(resp, "err.request.bad", "message should have these parameters: transaction_id, "
		    "search_request (a non-empty list)", mid);
		goto done;
	}
	n = cJSON_GetArraySize(requests);
	code = dci_header_problem(spp, header, requests, why, sizeof(why));
	if (code != NULL) {
		il_spp_reply(resp, 200, dci_envelope(header, message, "rjct", code, why, n, 0, NULL));
		goto done;
	}
	dci_now(ts);
	responses = cJSON_CreateArray();
	cJSON_ArrayForEach(sr, requests) {
		ref = cJSON_GetObjectItemCaseSensitive(sr, "reference_id");
		item = NULL;
		/* A reference_id used twice in one envelope: the later one is refused. */
		for (e = requests->child; cJSON_IsString(ref) && e != sr; e = e->next) {
			const char *r = dci_field(e, "reference_id");

			if (r != NULL && strcmp(r, ref->valuestring) == 0) {
				item = dci_item_rjct(ref->valuestring, ts, "rjct.reference_id.duplicate",
				    "reference_id: used twice in this message");
				break;
			}
		}
		if (item == NULL)
			item = dci_search_one(spp, cJSON_IsObject(sr) ? sr : NULL, ts);
		completed++;
		if (item != NULL)
			cJSON_AddItemToArray(responses, item);
	}
	il_spp_reply(resp, 200, dci_envelope(header, message, "succ", NULL, NULL, n, completed, responses));
done:
	cJSON_Delete(body);
}

/* Checks the bearer token as openSPP does; fills @p resp when it fails. */
static bool
dci_auth(il_spp *spp, const il_http_request *req, il_http_response *resp, char *who, size_t whysz)
{
	const char *h = il_http_header(req, "Authorization");
	char errbuf[256];
	cJSON *claims = NULL;
	const char *id;
	bool spent;

	who[0] = '\0';
	if (h == NULL || strncmp(h, "Bearer ", 7) != 0) {
		dci_error_desc(resp, 401, "Unauthorized", "Your token could not be authenticated.");
		return false;
	}
	if (il_jwt_check(spp->dci_key, sizeof(spp->dci_key), h + 7, (long long)time(NULL), &claims, errbuf,
	    sizeof(errbuf)) != IL_OK) {
		dci_error_wrapper(resp, 401, "Invalid Access Token.");
		return false;
	}
	id = dci_field(claims, "client_id");
	snprintf(who, whysz, "%s", id != NULL ? id : "");
	cJSON_Delete(claims);
	/* --dci-token-uses: a token "expires" after so many searches, so a
	 * test sees a refusal mid-pull without waiting for a clock. */
	pthread_mutex_lock(&spp->dci_mu);
	spent = spp->cfg.dci_token_uses > 0 && spp->dci_uses >= spp->cfg.dci_token_uses;
	if (!spent)
		spp->dci_uses++;
	pthread_mutex_unlock(&spp->dci_mu);
	if (spent) {
		dci_error_wrapper(resp, 401, "Invalid Access Token.");
		return false;
	}
	return true;
}

static void
dci_h_search(const il_http_request *req, il_http_response *resp, void *ctx)
{
	il_spp *spp = ctx;
	char who[256];

	if (dci_auth(spp, req, resp, who, sizeof(who)))
		dci_search(spp, req, resp, who);
	il_spp_record(spp, req, "dci_search", who[0] != '\0' ? who : NULL, resp->status);
}

void
il_spp_dci_init(il_spp *spp)
{
	if (RAND_bytes(spp->dci_key, sizeof(spp->dci_key)) != 1)
		il_cli_fatal("could not make a token key: OpenSSL has no entropy");
	pthread_mutex_init(&spp->dci_mu, NULL);
	spp->dci_seen = il_dci_seen_new(IL_SPP_DCI_SEEN_CAP);
}

void
il_spp_dci_fini(il_spp *spp)
{
	il_dci_seen_destroy(spp->dci_seen);
	spp->dci_seen = NULL;
	pthread_mutex_destroy(&spp->dci_mu);
}

void
il_spp_dci_routes(il_spp *spp, il_http *http)
{
	il_http_route(http, "POST", "/oauth2/client/token", dci_h_token, spp);
	il_http_route(http, "POST", "/registry/sync/search", dci_h_search, spp);
}
