/*
 * cmd_pull.c - `imislink pull`: registrants from openSPP's REST API v1
 * (g2p_registry_rest_api) to EligibilityEvents on Kafka.
 *
 * For operators without database access and for backfills.  Everything is
 * fetched first (one call per --id, or one search), so a refused login or an
 * unreachable server stops the run before anything is published; then each
 * registrant is mapped, keyed and published, with one receipt per registrant
 * once its fate is known, as `imislink produce` prints one per line.
 *
 * The API's known defect (gender, birthdate, IDs and more come back null or
 * empty for every record) is detected, never published as facts: a record
 * with null gender, null birthdate and no IDs is refused unless
 * --allow-missing names all three; a record without an ID of the key type
 * (openspp.key.id.type) is refused unless --allow-missing names ids, since
 * its events would be keyed otherwise than the change producers key them.
 * Other nulls are published as null (unknown) and listed in the receipt.
 *
 * Each event's source is kind POLL at position "api:individual:<id>", so a
 * repeated pull of the same registrant gives the same event id.
 *
 * With --dci the same pull goes through openSPP's DCI server instead
 * (spp_dci_api_server, SPDCI Social Registry API): a token from
 * /oauth2/client/token (client credentials openspp.api.username and
 * openspp.api.password in the JSON body with --db-name; no HTTP Basic), then
 * POST /registry/sync/search page by page until pagination.total_count.
 * Its records ({identifier: [{name, identifier}], birthDate, givenName,
 * familyName, sex, birthPlace}, or SPDCI's {identifier: [{identifier_type,
 * identifier_value}], name: {given_name, surname}, sex, birth_date}) carry
 * gender, birthdate and IDs, which the REST API loses, but no openSPP id: a
 * record without an ID of the key type is refused, and the position is
 * "dci:individual:<HMAC-SHA256 of the key ID under the client secret>", so
 * a repeated pull gives the same event ids while no guessable national ID
 * goes into a printed hash.  Odoo's False for an empty field ("False" as a
 * birthDate, false or "" elsewhere) counts as unknown.
 */
#include <errno.h>
#include <getopt.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <curl/curl.h>
#include <librdkafka/rdkafka.h>
#include <openssl/evp.h>
#include <openssl/hmac.h>

#include "buf.h"
#include "dci.h"
#include "event.h"
#include "imislink.h"
#include "kafka.h"
#include "log.h"
#include "serde.h"
#include "sig.h"
#include "timefmt.h"
#include "xalloc.h"

#define PULL_BASE "/api/v1/registry/individual"
/* Largest answer taken from the API: it has no pagination, so "all" is one
 * answer holding every individual. */
#define PULL_MAX_BODY ((size_t)256 * 1024 * 1024)
#define PULL_TIMEOUT_MS 60000L
#define PULL_CONNECT_TIMEOUT_MS 10000L
/* The longest single wait for delivery reports; bounds how late a stop
 * request is noticed. */
#define PULL_WAIT_MS 100
/* How long reports of purged messages are waited for after a stop. */
#define PULL_PURGE_MS 2000
#define PULL_REASON_MAX 4096
/* What the API answers for an id it does not hold (HTTP 400). */
#define PULL_NOT_PRESENT "Record is not present in the database."
#define PULL_DEFECT "openSPP's REST API returned null gender/birthdate and no IDs: known defect of " \
	"g2p_registry_rest_api; refusing rather than publishing unknowns as facts"
#define PULL_INTERRUPTED "interrupted before delivery"
#define PULL_DCI_TOKEN "/oauth2/client/token"
#define PULL_DCI_SEARCH "/registry/sync/search"
#define PULL_DCI_REG_TYPE "SPP:RegistryType:Individual"
#define PULL_DCI_PAGE_SIZE 100
/* Pages asked for at most, whatever total_count says: a registry that
 * keeps answering full pages must not keep a pull going forever. */
#define PULL_DCI_MAX_PAGES 1000000LL

/* Fields the mapping may do without (--allow-missing). */
enum {
	ALLOW_IDS = 1,
	ALLOW_GENDER = 2,
	ALLOW_BIRTHDATE = 4,
	ALLOW_ALL = 7,
};

/* A published message waiting for its delivery report. */
struct pull_msg {
	long long registrant;           /* res_partner id, 0 for a DCI record */
	char *record;                   /* a DCI record's "page/index", or NULL */
	char *event_id;
	cJSON *unknown;                 /* fields published as unknown; owned */
	bool reported;                  /* its receipt is out already */
	struct pull_msg *prev;
	struct pull_msg *next;
};

struct pull {
	/* options */
	long long *ids;                 /* --id, in the order given */
	size_t nids;
	const char *name;               /* --name */
	bool all;                       /* --all */
	long long programme_id;         /* --programme-id, required */
	const char *programme_name;     /* --programme-name */
	const char *topic;              /* -t, else topic.eligibility */
	unsigned allow;                 /* --allow-missing, ALLOW_* bits */
	bool dry_run;                   /* --dry-run */
	bool dci;                       /* --dci */
	const char *birth_from;         /* --birthdate-from (DCI) */
	const char *birth_to;           /* --birthdate-to (DCI) */
	const char *identifier;         /* --identifier (DCI) */
	const char *db_name;            /* --db-name (DCI) */
	const char *reg_type;           /* --reg-type (DCI) */
	long long page_size;            /* --page-size (DCI) */

	/* resources */
	il_conf *conf;                  /* borrowed from main */
	CURL *curl;
	il_buf body;                    /* the answer being read */
	il_event_ctx ectx;
	il_schema_set *schemas;
	const il_schema *schema;
	il_serde *sd;
	il_producer *p;
	il_buf value;                   /* encoded message */
	struct pull_msg *sent;          /* sent, no delivery report yet */
	char *token;                    /* the DCI access token */
	const char *cur_record;         /* the DCI record receipts are about, or NULL */

	/* state */
	unsigned long long published, refused, failed, inflight;
	bool fatal, interrupted, purged, out_failed;
};

static void
print_receipt(struct pull *pl, cJSON *out)
{
	if (!pl->out_failed && !il_cli_print_json(out)) {
		pl->out_failed = true;
		pl->fatal = true;
		il_log_error("could not write the receipts to stdout, stopping", IL_STR("reason", strerror(errno)));
	}
	cJSON_Delete(out);
}

/* A receipt about a registrant, or about DCI record @p record ("page/index"). */
static cJSON *
receipt(long long registrant, const char *record, const char *status)
{
	cJSON *out = cJSON_CreateObject();

	if (registrant > 0)
		cJSON_AddNumberToObject(out, "registrant", (double)registrant);
	else
		cJSON_AddNullToObject(out, "registrant");
	if (record != NULL)
		cJSON_AddStringToObject(out, "record", record);
	cJSON_AddStringToObject(out, "status", status);
	return out;
}

static void
print_status(struct pull *pl, long long registrant, const char *status, const char *reason)
{
	cJSON *out = receipt(registrant, pl->cur_record, status);

	cJSON_AddStringToObject(out, "reason", reason);
	print_receipt(pl, out);
}

__attribute__((format(printf, 3, 4)))
static void
refuse(struct pull *pl, long long registrant, const char *fmt, ...)
{
	char reason[PULL_REASON_MAX];
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(reason, sizeof(reason), fmt, ap);
	va_end(ap);
	pl->refused++;
	print_status(pl, registrant, "refused", reason);
}

static void
fail(struct pull *pl, long long registrant, const char *reason)
{
	pl->failed++;
	print_status(pl, registrant, "failed", reason);
}

/* ---- fetching ------------------------------------------------------------ */

static size_t
on_body(char *data, size_t size, size_t n, void *ctx)
{
	il_buf *b = ctx;

	if (il_buf_add(b, data, size * n) != IL_OK)
		return 0;
	return size * n;
}

/* The base URL with @p path, one slash between them. */
static char *
api_url(struct pull *pl, const char *path)
{
	const char *base = il_conf_get(pl->conf, "openspp.api.url");
	size_t blen = strlen(base);

	while (blen > 0 && base[blen - 1] == '/')
		blen--;
	return il_xasprintf("%.*s%s", (int)blen, base, path);
}

/*
 * The HTTP status of the call to @p url that ended with @p rc (@p verb
 * names it in the message: "get", "post to").  A call without an HTTP
 * answer is fatal.
 */
static long
api_status(struct pull *pl, const char *url, CURLcode rc, const char *verb)
{
	long status = 0;

	/* Only on_body() fails a write: the answer outgrew its bound. */
	if (rc == CURLE_WRITE_ERROR)
		il_cli_fatal("could not read the answer of \"%s\": longer than %zu bytes", url, pl->body.max);
	if (rc != CURLE_OK)
		il_cli_fatal("could not %s \"%s\": %s", verb, url, curl_easy_strerror(rc));
	curl_easy_getinfo(pl->curl, CURLINFO_RESPONSE_CODE, &status);
	il_log_debug("openSPP answered", IL_STR("url", url), IL_INT("status", status),
	    IL_INT("bytes", pl->body.len));
	return status;
}

/*
 * GETs @p path (with its query) from openspp.api.url into pl->body.  A
 * refused login and a call without an HTTP answer are fatal (exit 1).
 * @returns the HTTP status.
 */
static long
api_get(struct pull *pl, const char *path)
{
	char *url = api_url(pl, path);
	long status;

	il_buf_reset(&pl->body);
	curl_easy_setopt(pl->curl, CURLOPT_URL, url);
	status = api_status(pl, url, curl_easy_perform(pl->curl), "get");
	if (status == 401 || status == 403)
		il_cli_fatal("openSPP refused the login of user \"%s\" (HTTP %ld) at \"%s\": check "
		    "openspp.api.username and openspp.api.password", il_conf_get(pl->conf, "openspp.api.username"),
		    status, url);
	free(url);
	return status;
}

/* @returns the "detail" of an error answer in pl->body, or "". */
static char *
api_detail(struct pull *pl)
{
	cJSON *json = cJSON_ParseWithLength(pl->body.data != NULL ? pl->body.data : "", pl->body.len);
	const cJSON *d = cJSON_GetObjectItemCaseSensitive(json, "detail");
	char *out;

	if (cJSON_IsString(d))
		out = il_xstrdup(d->valuestring);
	else
		out = il_xasprintf("%.200s", pl->body.data != NULL ? pl->body.data : "");
	cJSON_Delete(json);
	return out;
}

/*
 * Fetches what the options ask for.  An --id the API does not hold is
 * refused at once.
 * @returns an array of the individuals' bodies, in the API's order.
 */
static cJSON *
fetch(struct pull *pl)
{
	cJSON *all = cJSON_CreateArray(), *json, *e;
	char *path, *esc, *detail;
	long status;
	size_t i;

	if (pl->nids > 0) {
		for (i = 0; i < pl->nids; i++) {
			path = il_xasprintf(PULL_BASE "/%lld", pl->ids[i]);
			status = api_get(pl, path);
			free(path);
			if (status != 200) {
				detail = api_detail(pl);
				if (status == 400 && strcmp(detail, PULL_NOT_PRESENT) == 0)
					refuse(pl, pl->ids[i], "no such registrant");
				else
					fail(pl, pl->ids[i], detail);
				free(detail);
				continue;
			}
			json = cJSON_ParseWithLength(pl->body.data, pl->body.len);
			if (!cJSON_IsObject(json)) {
				cJSON_Delete(json);
				fail(pl, pl->ids[i], "openSPP answered something other than a JSON object");
				continue;
			}
			cJSON_AddItemToArray(all, json);
		}
		return all;
	}
	if (pl->name != NULL) {
		esc = curl_easy_escape(pl->curl, pl->name, 0);
		if (esc == NULL)
			il_cli_fatal("could not encode the name for the URL: out of memory");
		path = il_xasprintf(PULL_BASE "?name=%s", esc);
		curl_free(esc);
	} else {
		path = il_xstrdup(PULL_BASE);
	}
	status = api_get(pl, path);
	free(path);
	if (status != 200) {
		detail = api_detail(pl);
		cJSON_Delete(all);
		il_cli_fatal("openSPP refused the search (HTTP %ld): %s", status, detail);
	}
	cJSON_Delete(all);
	all = cJSON_ParseWithLength(pl->body.data, pl->body.len);
	if (!cJSON_IsArray(all))
		il_cli_fatal("openSPP answered the search with something other than a JSON array");
	cJSON_ArrayForEach(e, all) {
		if (!cJSON_IsObject(e))
			il_cli_fatal("openSPP answered the search with an array holding something other than objects");
	}
	return all;
}

/* ---- fetching through DCI ------------------------------------------------ */

/*
 * POSTs the JSON @p json to @p path, with the access token unless @p bearer
 * is false; the answer lands in pl->body.  A call without an HTTP answer is
 * fatal.  @returns the HTTP status.
 */
static long
api_post(struct pull *pl, const char *path, const cJSON *json, bool bearer)
{
	char *url = api_url(pl, path), *text = cJSON_PrintUnformatted(json), *auth = NULL;
	struct curl_slist *hdrs = NULL, *h;
	long status;
	CURLcode rc;

	if (text == NULL)
		il_cli_fatal("could not encode a request to \"%s\": out of memory", url);
	hdrs = curl_slist_append(hdrs, "Content-Type: application/json");
	if (hdrs == NULL)
		il_cli_fatal("could not build the request headers: out of memory");
	if (bearer) {
		auth = il_xasprintf("Authorization: Bearer %s", pl->token);
		h = curl_slist_append(hdrs, auth);
		if (h == NULL)
			il_cli_fatal("could not build the request headers: out of memory");
		hdrs = h;
	}
	il_buf_reset(&pl->body);
	curl_easy_setopt(pl->curl, CURLOPT_URL, url);
	curl_easy_setopt(pl->curl, CURLOPT_HTTPHEADER, hdrs);
	curl_easy_setopt(pl->curl, CURLOPT_POSTFIELDS, text);
	curl_easy_setopt(pl->curl, CURLOPT_POSTFIELDSIZE, (long)strlen(text));
	rc = curl_easy_perform(pl->curl);
	curl_easy_setopt(pl->curl, CURLOPT_HTTPHEADER, NULL);
	curl_slist_free_all(hdrs);
	free(auth);
	free(text);
	status = api_status(pl, url, rc, "post to");
	free(url);
	return status;
}

/* The parsed answer in pl->body, or NULL. */
static cJSON *
body_json(struct pull *pl)
{
	return cJSON_ParseWithLength(pl->body.data != NULL ? pl->body.data : "", pl->body.len);
}

/*
 * What an error answer says: openSPP's {"error": {"code", "message"}} or
 * {"error", "error_description"}, SPDCI's {"message": {"error": {"code",
 * "message"}}}, else the start of the body.  @returns a new string.
 */
static char *
dci_detail(struct pull *pl)
{
	cJSON *json = body_json(pl);
	const cJSON *e = cJSON_GetObjectItemCaseSensitive(json, "error"), *c, *m;
	const cJSON *d = cJSON_GetObjectItemCaseSensitive(json, "error_description");
	char *out;

	if (cJSON_IsString(e) && cJSON_IsString(d)) {
		out = il_xasprintf("%s: %s", e->valuestring, d->valuestring);
		goto done;
	}
	if (!cJSON_IsObject(e))
		e = cJSON_GetObjectItemCaseSensitive(cJSON_GetObjectItemCaseSensitive(json, "message"), "error");
	c = cJSON_GetObjectItemCaseSensitive(e, "code");
	m = cJSON_GetObjectItemCaseSensitive(e, "message");
	if (cJSON_IsString(c) && cJSON_IsString(m))
		out = il_xasprintf("%s: %s", c->valuestring, m->valuestring);
	else if (cJSON_IsString(m))
		out = il_xstrdup(m->valuestring);
	else
		out = il_xasprintf("%.200s", pl->body.data != NULL ? pl->body.data : "");
done:
	cJSON_Delete(json);
	return out;
}

/* Gets an access token with the client credentials; failures are fatal. */
static void
dci_token(struct pull *pl)
{
	const char *id = il_conf_get(pl->conf, "openspp.api.username");
	cJSON *req = cJSON_CreateObject(), *ans;
	const cJSON *tok;
	char *detail;
	long status;

	cJSON_AddStringToObject(req, "client_id", id);
	cJSON_AddStringToObject(req, "client_secret", il_conf_get(pl->conf, "openspp.api.password"));
	cJSON_AddStringToObject(req, "grant_type", "client_credentials");
	cJSON_AddStringToObject(req, "db_name", pl->db_name);
	status = api_post(pl, PULL_DCI_TOKEN, req, false);
	cJSON_Delete(req);
	if (status != 200) {
		detail = dci_detail(pl);
		il_cli_fatal("openSPP refused a DCI token to client \"%s\" (HTTP %ld): %s: check "
		    "openspp.api.username, openspp.api.password and --db-name", id, status, detail);
	}
	ans = body_json(pl);
	tok = cJSON_GetObjectItemCaseSensitive(ans, "access_token");
	if (!cJSON_IsString(tok) || tok->valuestring[0] == '\0')
		il_cli_fatal("openSPP answered the token request without an access_token");
	free(pl->token);
	pl->token = il_xstrdup(tok->valuestring);
	cJSON_Delete(ans);
}

static void
random_uuid(char out[IL_DCI_UUID_LEN])
{
	unsigned char b[16];
	long long now = il_event_now_ms();
	size_t i;

	/* Without entropy the clock stands in (see il_dci_uuid). */
	for (i = 0; i < sizeof(b); i++)
		b[i] = (unsigned char)((unsigned long long)now >> (8 * (i % 8))) ^ (unsigned char)(i * 31);
	il_dci_uuid(out, b);
}

/* Adds {expression1: {attribute_name: birthdate, operator, attribute_value}}. */
static void
add_predicate(cJSON *query, const char *op, const char *date)
{
	cJSON *e = cJSON_CreateObject(), *x = cJSON_AddObjectToObject(e, "expression1");

	cJSON_AddNumberToObject(e, "seq_num", cJSON_GetArraySize(query) + 1);
	cJSON_AddStringToObject(x, "attribute_name", "birthdate");
	cJSON_AddStringToObject(x, "operator", op);
	cJSON_AddStringToObject(x, "attribute_value", date);
	if (cJSON_GetArraySize(query) > 0)
		cJSON_AddStringToObject(e, "condition", "and");
	cJSON_AddItemToArray(query, e);
}

/* The search envelope of page @p page. */
static cJSON *
dci_request(struct pull *pl, const char *txn, const char *ref, long long page)
{
	cJSON *env = cJSON_CreateObject(), *h, *m, *reqs, *r, *sc, *q, *pg;
	char uuid[IL_DCI_UUID_LEN], ts[IL_TIME_LEN];

	random_uuid(uuid);
	il_time_format_ms(il_event_now_ms(), ts);
	h = cJSON_AddObjectToObject(env, "header");
	cJSON_AddStringToObject(h, "version", "1.0.0");
	cJSON_AddStringToObject(h, "message_id", uuid);
	cJSON_AddStringToObject(h, "message_ts", ts);
	cJSON_AddStringToObject(h, "action", "search");
	cJSON_AddStringToObject(h, "sender_id", IL_CLI_NAME);
	cJSON_AddNumberToObject(h, "total_count", 1);
	cJSON_AddFalseToObject(h, "is_msg_encrypted");
	m = cJSON_AddObjectToObject(env, "message");
	cJSON_AddStringToObject(m, "transaction_id", txn);
	reqs = cJSON_AddArrayToObject(m, "search_request");
	r = cJSON_CreateObject();
	cJSON_AddItemToArray(reqs, r);
	cJSON_AddStringToObject(r, "reference_id", ref);
	cJSON_AddStringToObject(r, "timestamp", ts);
	sc = cJSON_AddObjectToObject(r, "search_criteria");
	cJSON_AddStringToObject(sc, "version", "1.0.0");
	cJSON_AddStringToObject(sc, "reg_type", pl->reg_type);
	if (pl->identifier != NULL) {
		cJSON_AddStringToObject(sc, "query_type", "idtype-value");
		q = cJSON_AddObjectToObject(sc, "query");
		cJSON_AddStringToObject(q, "type", pl->ectx.key_id_type);
		cJSON_AddStringToObject(q, "value", pl->identifier);
	} else {
		/* openSPP's only query: predicates on birthdate; none is everyone. */
		cJSON_AddStringToObject(sc, "query_type", "predicate");
		q = cJSON_AddArrayToObject(sc, "query");
		if (pl->birth_from != NULL)
			add_predicate(q, "ge", pl->birth_from);
		if (pl->birth_to != NULL)
			add_predicate(q, "le", pl->birth_to);
	}
	pg = cJSON_AddObjectToObject(sc, "pagination");
	cJSON_AddNumberToObject(pg, "page_size", (double)pl->page_size);
	cJSON_AddNumberToObject(pg, "page_number", (double)page);
	cJSON_AddStringToObject(r, "locale", "eng");
	return env;
}

/* A string member, or "" when absent or not a string. */
static const char *
member_str(const cJSON *o, const char *name)
{
	const cJSON *v = cJSON_GetObjectItemCaseSensitive(o, name);

	return cJSON_IsString(v) && v->valuestring != NULL ? v->valuestring : "";
}

/*
 * Asks for page @p page; @returns its answer's records (a new array, empty
 * when the registry answered no entry for our reference, as openSPP does for
 * a search that finds nothing) and the total in *@p total (-1 when the
 * answer has no pagination).  Every refusal is fatal.
 */
static cJSON *
dci_page(struct pull *pl, const char *txn, long long page, long long *total)
{
	char ref[64], *detail;
	cJSON *env, *ans, *recs;
	const cJSON *h, *e, *item = NULL, *tc;
	long status;
	int attempt;

	snprintf(ref, sizeof(ref), "%s-p%lld", txn, page);
	env = dci_request(pl, txn, ref, page);
	for (attempt = 0;; attempt++) {
		status = api_post(pl, PULL_DCI_SEARCH, env, true);
		/* A token can expire between pages (openSPP's last ten minutes):
		 * one new token, then a refusal is final. */
		if (status != 401 || attempt > 0)
			break;
		il_log_info("DCI access token refused, getting a new one", IL_INT("page", page));
		dci_token(pl);
		cJSON_Delete(env);
		env = dci_request(pl, txn, ref, page);
	}
	cJSON_Delete(env);
	if (status == 401 || status == 403) {
		detail = dci_detail(pl);
		il_cli_fatal("openSPP refused the DCI access token of client \"%s\" (HTTP %ld): %s",
		    il_conf_get(pl->conf, "openspp.api.username"), status, detail);
	}
	if (status != 200) {
		detail = dci_detail(pl);
		il_cli_fatal("openSPP refused the DCI search (HTTP %ld): %s", status, detail);
	}
	ans = body_json(pl);
	h = cJSON_GetObjectItemCaseSensitive(ans, "header");
	if (!cJSON_IsObject(h) || !cJSON_IsObject(cJSON_GetObjectItemCaseSensitive(ans, "message")))
		il_cli_fatal("openSPP answered the DCI search with something other than an envelope "
		    "{header, message}");
	if (strcmp(member_str(h, "status"), "rjct") == 0)
		il_cli_fatal("openSPP rejected the DCI search message (%s): %s",
		    member_str(h, "status_reason_code"), member_str(h, "status_reason_message"));
	cJSON_ArrayForEach(e, cJSON_GetObjectItemCaseSensitive(cJSON_GetObjectItemCaseSensitive(ans,
	    "message"), "search_response")) {
		if (strcmp(member_str(e, "reference_id"), ref) == 0) {
			item = e;
			break;
		}
	}
	*total = -1;
	recs = cJSON_CreateArray();
	if (item == NULL) {
		cJSON_Delete(ans);
		return recs;
	}
	if (strcmp(member_str(item, "status"), "succ") != 0)
		il_cli_fatal("openSPP rejected the DCI search (%s): %s",
		    member_str(item, "status_reason_code")[0] != '\0' ? member_str(item, "status_reason_code") :
		    member_str(item, "status"), member_str(item, "status_reason_message"));
	e = cJSON_GetObjectItemCaseSensitive(cJSON_GetObjectItemCaseSensitive(item, "data"), "reg_records");
	if (!cJSON_IsArray(e))
		il_cli_fatal("openSPP answered the DCI search without data.reg_records");
	tc = cJSON_GetObjectItemCaseSensitive(cJSON_GetObjectItemCaseSensitive(item, "pagination"),
	    "total_count");
	if (cJSON_IsNumber(tc) && tc->valuedouble >= 0)
		*total = (long long)tc->valuedouble;
	cJSON_Delete(recs);
	recs = cJSON_DetachItemViaPointer(cJSON_GetObjectItemCaseSensitive(item, "data"), (cJSON *)e);
	cJSON_Delete(ans);
	return recs;
}

/*
 * Fetches every page of the search the options ask for.
 * @returns an array of {"record": "page/index", "raw": the DCI record}.
 */
static cJSON *
fetch_dci(struct pull *pl)
{
	cJSON *all = cJSON_CreateArray(), *recs, *rec, *w;
	char txn[IL_DCI_UUID_LEN], label[48];
	long long page, total = -1, got = 0, idx;

	random_uuid(txn);
	dci_token(pl);
	for (page = 1; page <= PULL_DCI_MAX_PAGES; page++) {
		if (il_sig_stop_requested())
			il_cli_fatal("interrupted while fetching page %lld", page);
		recs = dci_page(pl, txn, page, &total);
		idx = 0;
		while ((rec = cJSON_DetachItemFromArray(recs, 0)) != NULL) {
			snprintf(label, sizeof(label), "%lld/%lld", page, ++idx);
			w = cJSON_CreateObject();
			cJSON_AddStringToObject(w, "record", label);
			cJSON_AddItemToObject(w, "raw", rec);
			cJSON_AddItemToArray(all, w);
		}
		cJSON_Delete(recs);
		got += idx;
		il_log_debug("DCI page read", IL_INT("page", page), IL_INT("records", idx),
		    IL_INT("total_count", total));
		/* The end: an empty page, a registry that ignores pagination
		 * (everything at once), or total_count reached. */
		if (idx == 0 || total < 0 || page * pl->page_size >= total)
			break;
	}
	if (total >= 0 && got != total)
		il_log_warn("DCI search gave another number of records than its total_count",
		    IL_INT("records", got), IL_INT("total_count", total));
	return all;
}

/* ---- mapping ------------------------------------------------------------- */

static bool
is_null(const cJSON *v)
{
	return v == NULL || cJSON_IsNull(v) || (cJSON_IsString(v) && v->valuestring[0] == '\0');
}

/* @returns true when @p ids holds a non-empty value of type @p type. */
static bool
has_id_of_type(const cJSON *ids, const char *type)
{
	const cJSON *e, *t, *v;

	cJSON_ArrayForEach(e, (cJSON_IsArray(ids) ? ids : NULL)) {
		t = cJSON_GetObjectItemCaseSensitive(e, "id_type");
		v = cJSON_GetObjectItemCaseSensitive(e, "value");
		if (cJSON_IsString(t) && strcmp(t->valuestring, type) == 0 && cJSON_IsString(v) &&
		    v->valuestring[0] != '\0')
			return true;
	}
	return false;
}

/*
 * Maps one body to an event, or refuses it.  *@p unknown receives the
 * fields the event carries as unknown (null).
 * @returns the event, or NULL after refusing it.
 */
static cJSON *
body_to_event(struct pull *pl, const cJSON *body, long long sid, cJSON **unknown)
{
	static const char *const nullable[] = {
		"gender", "birthdate", "addl_name", "birth_place", "email", "address",
	};
	const cJSON *ids = cJSON_GetObjectItemCaseSensitive(body, "ids");
	const cJSON *phones = cJSON_GetObjectItemCaseSensitive(body, "phone_numbers");
	bool no_gender = is_null(cJSON_GetObjectItemCaseSensitive(body, "gender"));
	bool no_birthdate = is_null(cJSON_GetObjectItemCaseSensitive(body, "birthdate"));
	bool no_ids = cJSON_GetArraySize(ids) == 0;
	bool no_key = !has_id_of_type(ids, pl->ectx.key_id_type);
	char reasons[PULL_REASON_MAX], *position;
	cJSON *event;
	size_t i;

	*unknown = NULL;
	if (no_gender && no_birthdate && no_ids && (pl->allow & ALLOW_ALL) != ALLOW_ALL) {
		refuse(pl, sid, "%s (--allow-missing ids,gender,birthdate publishes it with them unknown)",
		    PULL_DEFECT);
		return NULL;
	}
	if (no_key && !(pl->allow & ALLOW_IDS)) {
		refuse(pl, sid, "ids: no ID of type \"%s\", so its events could not be keyed as the change "
		    "producers key them (--allow-missing ids keys it by its openSPP id)", pl->ectx.key_id_type);
		return NULL;
	}
	position = il_xasprintf("api:individual:%lld", sid);
	event = il_event_from_openspp(&pl->ectx, body, "POLL", position, reasons, sizeof(reasons));
	free(position);
	if (event == NULL) {
		refuse(pl, sid, "%s", reasons);
		return NULL;
	}
	il_cli_event_programme(event, pl->programme_id, pl->programme_name);
	*unknown = cJSON_CreateArray();
	if (no_key)
		cJSON_AddItemToArray(*unknown, cJSON_CreateString("ids"));
	if (cJSON_GetArraySize(phones) == 0)
		cJSON_AddItemToArray(*unknown, cJSON_CreateString("phone_numbers"));
	for (i = 0; i < sizeof(nullable) / sizeof(nullable[0]); i++) {
		if (is_null(cJSON_GetObjectItemCaseSensitive(body, nullable[i])))
			cJSON_AddItemToArray(*unknown, cJSON_CreateString(nullable[i]));
	}
	return event;
}

/* ---- publishing ---------------------------------------------------------- */

static void
on_delivery(void *msg_opaque, il_err err, const char *errstr, const char *topic,
    int32_t partition, int64_t offset, void *cb_ctx)
{
	struct pull *pl = cb_ctx;
	struct pull_msg *m = msg_opaque;
	char reason[512];
	cJSON *out;

	(void)topic;
	if (m->prev != NULL)
		m->prev->next = m->next;
	else
		pl->sent = m->next;
	if (m->next != NULL)
		m->next->prev = m->prev;
	pl->inflight--;
	if (m->reported) {
		/* Given up on already: its receipt said so. */
	} else if (err == IL_OK) {
		pl->published++;
		out = receipt(m->registrant, m->record, "published");
		cJSON_AddStringToObject(out, "event_id", m->event_id);
		cJSON_AddNumberToObject(out, "partition", partition);
		cJSON_AddNumberToObject(out, "offset", (double)offset);
		cJSON_AddItemToObject(out, "unknown", m->unknown);
		m->unknown = NULL;
		print_receipt(pl, out);
	} else if (pl->purged && pl->interrupted) {
		pl->cur_record = m->record;
		fail(pl, m->registrant, PULL_INTERRUPTED);
	} else {
		snprintf(reason, sizeof(reason), "delivery: %s", errstr != NULL ? errstr : il_err_str(err));
		pl->cur_record = m->record;
		fail(pl, m->registrant, reason);
	}
	pl->cur_record = NULL;
	cJSON_Delete(m->unknown);
	free(m->event_id);
	free(m->record);
	free(m);
}

static void
serve_reports(struct pull *pl, int ms)
{
	il_producer_poll(pl->p, ms);
	if (il_producer_fatal(pl->p, NULL, 0) == IL_ERR_FATAL)
		pl->fatal = true;
}

/* Encodes and queues one event; the receipt comes with the delivery report.
 * Takes @p unknown. */
static void
publish(struct pull *pl, long long sid, const cJSON *event, cJSON *unknown)
{
	char errbuf[PULL_REASON_MAX], *key;
	const cJSON *id = cJSON_GetObjectItemCaseSensitive(event, "event_id");
	struct pull_msg *m;
	cJSON *out;
	il_err err;

	key = il_event_key(&pl->ectx, event, errbuf, sizeof(errbuf));
	if (key == NULL) {
		refuse(pl, sid, "%s", errbuf);
		cJSON_Delete(unknown);
		return;
	}
	if (pl->dry_run) {
		out = receipt(sid, pl->cur_record, "checked");
		cJSON_AddStringToObject(out, "event_id", id->valuestring);
		cJSON_AddItemToObject(out, "unknown", unknown);
		print_receipt(pl, out);
		free(key);
		return;
	}
	il_buf_reset(&pl->value);
	errbuf[0] = '\0';
	err = il_serde_encode(pl->sd, pl->topic, pl->schema, event, &pl->value, errbuf, sizeof(errbuf));
	if (IL_ERR_CLASS(err) == IL_ERR_ENCODE || IL_ERR_CLASS(err) == IL_ERR_INVALID || err == IL_ERR_NOMEM) {
		refuse(pl, sid, "%s", errbuf[0] != '\0' ? errbuf : il_err_str(err));
		goto done;
	}
	if (err != IL_OK) {
		fail(pl, sid, errbuf[0] != '\0' ? errbuf : il_err_str(err));
		il_log_error("schema registry failed, stopping", IL_STR("reason", errbuf));
		pl->fatal = true;
		goto done;
	}
	m = il_xcalloc(1, sizeof(*m));
	m->registrant = sid;
	m->record = pl->cur_record != NULL ? il_xstrdup(pl->cur_record) : NULL;
	m->event_id = il_xstrdup(id->valuestring);
	m->unknown = unknown;
	unknown = NULL;
	for (;;) {
		err = il_producer_send(pl->p, pl->topic, RD_KAFKA_PARTITION_UA, key, strlen(key),
		    pl->value.data, pl->value.len, NULL, 0, m, PULL_WAIT_MS);
		if (err != IL_ERR_TIMEOUT || il_sig_stop_requested())
			break;
		serve_reports(pl, 0);
		if (pl->fatal)
			break;
	}
	if (err != IL_OK) {
		if (err == IL_ERR_FATAL)
			pl->fatal = true;
		if (il_sig_stop_requested())
			pl->interrupted = true;
		fail(pl, sid, pl->interrupted ? PULL_INTERRUPTED : err == IL_ERR_TIMEOUT || err == IL_ERR_FATAL ?
		    "delivery: the producer hit a fatal error" :
		    "delivery: the producer refused the message (unknown topic or too large)");
		cJSON_Delete(m->unknown);
		free(m->event_id);
		free(m->record);
		free(m);
		goto done;
	}
	m->next = pl->sent;
	if (pl->sent != NULL)
		pl->sent->prev = m;
	pl->sent = m;
	pl->inflight++;

done:
	cJSON_Delete(unknown);
	free(key);
}

/* Waits for every delivery report; a stop request or a fatal error purges
 * what is still queued, and each registrant not confirmed gets "failed". */
static void
drain(struct pull *pl)
{
	struct pull_msg *m;
	long long deadline;

	while (pl->inflight > 0 && !pl->fatal) {
		if (il_sig_stop_requested()) {
			pl->interrupted = true;
			break;
		}
		serve_reports(pl, PULL_WAIT_MS);
	}
	if (pl->inflight == 0)
		return;
	il_log_warn("purging messages not yet delivered", IL_INT("count", pl->inflight));
	pl->purged = true;
	rd_kafka_purge(il_producer_handle(pl->p), RD_KAFKA_PURGE_F_QUEUE | RD_KAFKA_PURGE_F_INFLIGHT);
	deadline = il_event_now_ms() + PULL_PURGE_MS;
	while (pl->inflight > 0 && il_event_now_ms() < deadline)
		il_producer_poll(pl->p, PULL_WAIT_MS);
	for (m = pl->sent; m != NULL; m = m->next) {
		if (m->reported)
			continue;
		m->reported = true;
		pl->cur_record = m->record;
		fail(pl, m->registrant, pl->interrupted ? PULL_INTERRUPTED :
		    "delivery: no report before the producer stopped");
	}
	pl->cur_record = NULL;
}

static void
handle(struct pull *pl, const cJSON *body)
{
	const cJSON *id = cJSON_GetObjectItemCaseSensitive(body, "id");
	cJSON *event, *unknown;
	long long sid;

	if (!cJSON_IsNumber(id) || id->valuedouble < 1 || id->valuedouble > 9007199254740992.0 ||
	    id->valuedouble != (double)(long long)id->valuedouble) {
		refuse(pl, -1, "id: expected the registrant's positive integer id");
		return;
	}
	sid = (long long)id->valuedouble;
	event = body_to_event(pl, body, sid, &unknown);
	if (event == NULL)
		return;
	publish(pl, sid, event, unknown);
	cJSON_Delete(event);
	if (pl->p != NULL)
		serve_reports(pl, 0);
}

/* ---- mapping DCI records --------------------------------------------------- */

/* Odoo's False for an empty field, and its str(): false, "", "False", "None". */
static bool
dci_empty(const cJSON *v)
{
	return v == NULL || cJSON_IsNull(v) || cJSON_IsFalse(v) || (cJSON_IsString(v) &&
	    (v->valuestring[0] == '\0' || strcmp(v->valuestring, "False") == 0 ||
	    strcmp(v->valuestring, "None") == 0));
}

/* The first of @p a, @p b present in @p o. */
static const cJSON *
either(const cJSON *o, const char *a, const char *b)
{
	const cJSON *v = cJSON_GetObjectItemCaseSensitive(o, a);

	return v != NULL ? v : cJSON_GetObjectItemCaseSensitive(o, b);
}

/* Copies @p v as @p key of @p out: null when empty, as is otherwise (so the
 * event mapping checks and reports a value of the wrong kind). */
static void
put_value(cJSON *out, const char *key, const cJSON *v)
{
	cJSON_AddItemToObject(out, key, dci_empty(v) ? cJSON_CreateNull() : cJSON_Duplicate(v, true));
}

/*
 * Maps a DCI record (openSPP's or SPDCI's form) to the seed's body:
 * ids, given_name, family_name, name "FAMILY, GIVEN" (openSPP's form of it),
 * gender as openSPP stores it ("female" -> "Female"), birthdate (a date, or
 * the date of an ISO-8601 time), birth_place.  @returns the body.
 */
static cJSON *
dci_body(const cJSON *raw)
{
	cJSON *b = cJSON_CreateObject(), *ids = cJSON_AddArrayToObject(b, "ids"), *x;
	const cJSON *name = cJSON_GetObjectItemCaseSensitive(raw, "name"), *e, *t, *v;
	const cJSON *given = either(raw, "givenName", "given_name"), *family = cJSON_GetObjectItemCaseSensitive(raw,
	    "familyName"), *sex = cJSON_GetObjectItemCaseSensitive(raw, "sex");
	const cJSON *bd = either(raw, "birthDate", "birth_date");
	char date[11], *full;

	if (cJSON_IsObject(name)) {
		if (given == NULL)
			given = cJSON_GetObjectItemCaseSensitive(name, "given_name");
		if (family == NULL)
			family = cJSON_GetObjectItemCaseSensitive(name, "surname");
	}
	cJSON_ArrayForEach(e, cJSON_GetObjectItemCaseSensitive(raw, "identifier")) {
		t = either(e, "name", "identifier_type");
		v = cJSON_GetObjectItemCaseSensitive(e, "identifier");
		if (v == NULL)
			v = cJSON_GetObjectItemCaseSensitive(e, "identifier_value");
		if (!cJSON_IsString(t) || !cJSON_IsString(v) || v->valuestring[0] == '\0')
			continue;
		x = cJSON_CreateObject();
		cJSON_AddStringToObject(x, "id_type", t->valuestring);
		cJSON_AddStringToObject(x, "value", v->valuestring);
		cJSON_AddItemToArray(ids, x);
	}
	put_value(b, "given_name", given);
	put_value(b, "family_name", family);
	if (cJSON_IsString(given) && cJSON_IsString(family) && !dci_empty(given) && !dci_empty(family)) {
		full = il_xasprintf("%s, %s", family->valuestring, given->valuestring);
		cJSON_AddStringToObject(b, "name", full);
		free(full);
	}
	if (cJSON_IsString(sex) && !dci_empty(sex)) {
		full = il_xstrdup(sex->valuestring);
		if (full[0] >= 'a' && full[0] <= 'z')
			full[0] = (char)(full[0] - 32);
		cJSON_AddStringToObject(b, "gender", full);
		free(full);
	} else {
		put_value(b, "gender", sex);
	}
	/* SPDCI's birth_date may be a whole time ("1985-05-20T00:00:00Z"). */
	if (cJSON_IsString(bd) && strlen(bd->valuestring) > 10 && bd->valuestring[10] == 'T') {
		memcpy(date, bd->valuestring, 10);
		date[10] = '\0';
		cJSON_AddStringToObject(b, "birthdate", date);
	} else {
		put_value(b, "birthdate", bd);
	}
	put_value(b, "birth_place", either(raw, "birthPlace", "birth_place"));
	cJSON_AddFalseToObject(b, "is_group");
	return b;
}

/* The position of a DCI record: an HMAC of its key ID, never the ID itself. */
static char *
dci_position(struct pull *pl, const char *value)
{
	const char *secret = il_conf_get(pl->conf, "openspp.api.password");
	unsigned char mac[EVP_MAX_MD_SIZE];
	unsigned int maclen = 0;
	char *msg, hex[33];
	size_t len, i;

	msg = il_xasprintf("%s%c%s%c%s", pl->ectx.instance, '\0', pl->ectx.key_id_type, '\0', value);
	len = strlen(pl->ectx.instance) + 1 + strlen(pl->ectx.key_id_type) + 1 + strlen(value);
	if (HMAC(EVP_sha256(), secret, (int)strlen(secret), (const unsigned char *)msg, len, mac, &maclen) == NULL ||
	    maclen < 16)
		il_cli_fatal("could not compute an HMAC-SHA256: OpenSSL failed");
	for (i = 0; i < 16; i++)
		snprintf(hex + 2 * i, 3, "%02x", mac[i]);
	free(msg);
	return il_xasprintf("dci:individual:%s", hex);
}

/* The value of the first ID of type @p type in a body's ids, or NULL. */
static const char *
id_of_type(const cJSON *ids, const char *type)
{
	const cJSON *e;

	cJSON_ArrayForEach(e, ids) {
		if (strcmp(member_str(e, "id_type"), type) == 0 && member_str(e, "value")[0] != '\0')
			return member_str(e, "value");
	}
	return NULL;
}

/* Maps, checks and publishes one DCI record ({"record", "raw"}). */
static void
handle_dci(struct pull *pl, const cJSON *w, il_dci_seen *seen)
{
	static const char *const nullable[] = { "gender", "birthdate", "birth_place" };
	const cJSON *raw = cJSON_GetObjectItemCaseSensitive(w, "raw");
	char reasons[PULL_REASON_MAX], *position;
	const char *key;
	cJSON *body, *event, *unknown;
	size_t i;

	pl->cur_record = member_str(w, "record");
	if (!cJSON_IsObject(raw)) {
		refuse(pl, 0, "record: expected an object in data.reg_records");
		goto out;
	}
	body = dci_body(raw);
	key = id_of_type(cJSON_GetObjectItemCaseSensitive(body, "ids"), pl->ectx.key_id_type);
	if (key == NULL) {
		refuse(pl, 0, "ids: no ID of type \"%s\" in the DCI record, and DCI records carry no openSPP "
		    "id to key it by", pl->ectx.key_id_type);
		goto done;
	}
	if (il_dci_seen_has(seen, "", key)) {
		/* The registry changed between pages and gave it twice. */
		il_log_warn("DCI record given twice, published once", IL_STR("record", pl->cur_record));
		goto done;
	}
	il_dci_seen_add(seen, "", key);
	if (is_null(cJSON_GetObjectItemCaseSensitive(body, "gender")) &&
	    is_null(cJSON_GetObjectItemCaseSensitive(body, "birthdate")) &&
	    (pl->allow & (ALLOW_GENDER | ALLOW_BIRTHDATE)) != (ALLOW_GENDER | ALLOW_BIRTHDATE)) {
		refuse(pl, 0, "gender, birthdate: both unknown in the DCI record (--allow-missing "
		    "gender,birthdate publishes it with them unknown)");
		goto done;
	}
	position = dci_position(pl, key);
	event = il_event_from_openspp(&pl->ectx, body, "POLL", position, reasons, sizeof(reasons));
	free(position);
	if (event == NULL) {
		refuse(pl, 0, "%s", reasons);
		goto done;
	}
	il_cli_event_programme(event, pl->programme_id, pl->programme_name);
	unknown = cJSON_CreateArray();
	for (i = 0; i < sizeof(nullable) / sizeof(nullable[0]); i++) {
		if (is_null(cJSON_GetObjectItemCaseSensitive(body, nullable[i])))
			cJSON_AddItemToArray(unknown, cJSON_CreateString(nullable[i]));
	}
	publish(pl, 0, event, unknown);
	cJSON_Delete(event);
	if (pl->p != NULL)
		serve_reports(pl, 0);
done:
	cJSON_Delete(body);
out:
	pl->cur_record = NULL;
}

/* ---- options and setup ----------------------------------------------------- */

static void
parse_allow(struct pull *pl, const char *arg)
{
	char *copy = il_xstrdup(arg), *save = NULL, *tok;

	for (tok = strtok_r(copy, ",", &save); tok != NULL; tok = strtok_r(NULL, ",", &save)) {
		if (strcmp(tok, "ids") == 0)
			pl->allow |= ALLOW_IDS;
		else if (strcmp(tok, "gender") == 0)
			pl->allow |= ALLOW_GENDER;
		else if (strcmp(tok, "birthdate") == 0)
			pl->allow |= ALLOW_BIRTHDATE;
		else
			il_cli_usage_error("pull", "invalid value for --allow-missing: expected ids, gender or "
			    "birthdate, comma-separated, got \"%s\"", tok);
	}
	free(copy);
}

static void
parse_options(struct pull *pl, int argc, char **argv)
{
	static const struct option longopts[] = {
		{ "id", required_argument, NULL, 'i' },
		{ "name", required_argument, NULL, 'n' },
		{ "all", no_argument, NULL, 'a' },
		{ "programme-id", required_argument, NULL, 'P' },
		{ "programme-name", required_argument, NULL, 'N' },
		{ "allow-missing", required_argument, NULL, 'M' },
		{ "topic", required_argument, NULL, 't' },
		{ "dry-run", no_argument, NULL, 'D' },
		{ "dci", no_argument, NULL, 'C' },
		{ "birthdate-from", required_argument, NULL, 'F' },
		{ "birthdate-to", required_argument, NULL, 'T' },
		{ "identifier", required_argument, NULL, 'I' },
		{ "db-name", required_argument, NULL, 'B' },
		{ "reg-type", required_argument, NULL, 'R' },
		{ "page-size", required_argument, NULL, 'S' },
		{ "help", no_argument, NULL, 'h' },
		{ NULL, 0, NULL, 0 },
	};
	long long v;
	int64_t days;
	int c;

	optind = 0;
	while ((c = getopt_long(argc, argv, "t:h", longopts, NULL)) != -1) {
		switch (c) {
		case 'i':
			if (!il_cli_parse_int(optarg, 1, 9007199254740992LL, &v))
				il_cli_usage_error("pull", "invalid value for --id: expected a positive integer, "
				    "got \"%s\"", optarg);
			pl->ids = il_xrealloc(pl->ids, (pl->nids + 1) * sizeof(*pl->ids));
			pl->ids[pl->nids++] = v;
			break;
		case 'n':
			pl->name = optarg;
			break;
		case 'a':
			pl->all = true;
			break;
		case 'P':
			if (!il_cli_parse_int(optarg, 0, 9007199254740992LL, &pl->programme_id))
				il_cli_usage_error("pull", "invalid value for --programme-id: expected a "
				    "non-negative integer, got \"%s\"", optarg);
			break;
		case 'N':
			pl->programme_name = optarg;
			break;
		case 'M':
			parse_allow(pl, optarg);
			break;
		case 't':
			pl->topic = optarg;
			break;
		case 'D':
			pl->dry_run = true;
			break;
		case 'C':
			pl->dci = true;
			break;
		case 'F':
		case 'T':
			if (strlen(optarg) != 10 || il_time_parse_date(optarg, &days) != NULL)
				il_cli_usage_error("pull", "invalid value for --birthdate-%s: expected a date "
				    "YYYY-MM-DD, got \"%s\"", c == 'F' ? "from" : "to", optarg);
			if (c == 'F')
				pl->birth_from = optarg;
			else
				pl->birth_to = optarg;
			break;
		case 'I':
			if (optarg[0] == '\0')
				il_cli_usage_error("pull", "invalid value for --identifier: expected an ID value");
			pl->identifier = optarg;
			break;
		case 'B':
			pl->db_name = optarg;
			break;
		case 'R':
			pl->reg_type = optarg;
			break;
		case 'S':
			if (!il_cli_parse_int(optarg, 1, 100000, &pl->page_size))
				il_cli_usage_error("pull", "invalid value for --page-size: expected an integer "
				    "1 to 100000, got \"%s\"", optarg);
			break;
		case 'h':
			il_cli_cmd_usage(&il_cmd_pull_entry);
		default:
			il_cli_usage_error("pull", "invalid option");
		}
	}
	if (optind < argc)
		il_cli_usage_error("pull", "unexpected argument \"%s\"", argv[optind]);
	if (pl->dci) {
		if (pl->nids > 0 || pl->name != NULL)
			il_cli_usage_error("pull", "--id and --name are REST API selections: with --dci give "
			    "--all, --identifier or --birthdate-from/--birthdate-to");
		if (pl->all + (pl->identifier != NULL) + (pl->birth_from != NULL || pl->birth_to != NULL) != 1)
			il_cli_usage_error("pull", "with --dci give exactly one of --all, --identifier or "
			    "--birthdate-from/--birthdate-to");
		if (pl->allow & ALLOW_IDS)
			il_cli_usage_error("pull", "--allow-missing ids does not apply to --dci: DCI records "
			    "carry no openSPP id to key a record without an ID by");
	} else {
		if (pl->identifier != NULL || pl->birth_from != NULL || pl->birth_to != NULL ||
		    pl->db_name != NULL || pl->reg_type != NULL || pl->page_size != 0)
			il_cli_usage_error("pull", "--identifier, --birthdate-from, --birthdate-to, --db-name, "
			    "--reg-type and --page-size need --dci");
		if ((pl->nids > 0) + (pl->name != NULL) + pl->all != 1)
			il_cli_usage_error("pull", "give exactly one of --id (repeatable), --name or --all");
	}
	if (pl->name != NULL && pl->name[0] == '\0')
		il_cli_usage_error("pull", "invalid value for --name: expected some text (--all pulls everyone)");
	if (pl->programme_id < 0)
		il_cli_usage_error("pull", "--programme-id is required: the events are about one programme");
}

static void
setup_http(struct pull *pl)
{
	if (il_conf_get(pl->conf, "openspp.api.url")[0] == '\0')
		il_cli_fatal("openspp.api.url is not set: the base URL of openSPP's REST API is needed");
	pl->curl = curl_easy_init();
	if (pl->curl == NULL)
		il_cli_fatal("could not start an HTTP client: out of memory");
	il_buf_init(&pl->body, PULL_MAX_BODY);
	curl_easy_setopt(pl->curl, CURLOPT_NOSIGNAL, 1L);
	/* DCI sends its credentials in the token request, never as Basic. */
	if (!pl->dci) {
		curl_easy_setopt(pl->curl, CURLOPT_HTTPAUTH, (long)CURLAUTH_BASIC);
		curl_easy_setopt(pl->curl, CURLOPT_USERNAME, il_conf_get(pl->conf, "openspp.api.username"));
		curl_easy_setopt(pl->curl, CURLOPT_PASSWORD, il_conf_get(pl->conf, "openspp.api.password"));
	}
	curl_easy_setopt(pl->curl, CURLOPT_TIMEOUT_MS, PULL_TIMEOUT_MS);
	curl_easy_setopt(pl->curl, CURLOPT_CONNECTTIMEOUT_MS, PULL_CONNECT_TIMEOUT_MS);
	curl_easy_setopt(pl->curl, CURLOPT_FOLLOWLOCATION, 0L);
	curl_easy_setopt(pl->curl, CURLOPT_WRITEFUNCTION, on_body);
	curl_easy_setopt(pl->curl, CURLOPT_WRITEDATA, &pl->body);
	curl_easy_setopt(pl->curl, CURLOPT_USERAGENT, IL_CLI_NAME "/" IL_CLI_VERSION);
}

static void
setup_kafka(struct pull *pl)
{
	char errbuf[1024];
	size_t max = (size_t)il_conf_get_int(pl->conf, "avro.max.message.bytes");

	il_buf_init(&pl->value, max);
	if (pl->dry_run)
		return;
	pl->sd = il_cli_serde_new(pl->conf, &pl->schemas);
	pl->schema = il_schema_set_latest(pl->schemas, "EligibilityEvent");
	if (pl->schema == NULL)
		il_cli_fatal("no EligibilityEvent schema in \"%s\"", il_conf_get(pl->conf, "schemas.dir"));
	pl->p = il_producer_new(pl->conf, on_delivery, pl, errbuf, sizeof(errbuf));
	if (pl->p == NULL)
		il_cli_fatal("%s", errbuf);
	il_cli_topic_partitions(il_producer_handle(pl->p), pl->topic,
	    il_conf_get(pl->conf, "kafka.bootstrap.servers"));
}

static int
cmd_pull(il_cli *cli, int argc, char **argv)
{
	struct pull pl = {
		.programme_id = -1,
		.conf = cli->conf,
	};
	struct pull_msg *m;
	const cJSON *body;
	cJSON *bodies;
	il_dci_seen *seen = NULL;
	int rc;

	parse_options(&pl, argc, argv);
	if (pl.topic == NULL)
		pl.topic = il_conf_get(pl.conf, "topic.eligibility");
	pl.ectx.instance = il_conf_get(pl.conf, "openspp.instance");
	pl.ectx.key_id_type = il_conf_get(pl.conf, "openspp.key.id.type");
	if (pl.dci) {
		if (pl.db_name == NULL)
			pl.db_name = pl.ectx.instance;
		if (pl.reg_type == NULL)
			pl.reg_type = PULL_DCI_REG_TYPE;
		if (pl.page_size == 0)
			pl.page_size = PULL_DCI_PAGE_SIZE;
		if (il_conf_get(pl.conf, "openspp.api.username")[0] == '\0')
			il_cli_fatal("openspp.api.username is not set: the DCI client_id is needed");
	}
	il_sig_install();
	setup_http(&pl);
	bodies = pl.dci ? fetch_dci(&pl) : fetch(&pl);
	/* Every record's key ID, to publish a record that two pages gave once. */
	if (pl.dci)
		seen = il_dci_seen_new((size_t)cJSON_GetArraySize(bodies) + 1);
	curl_easy_cleanup(pl.curl);
	pl.curl = NULL;
	il_buf_free(&pl.body);
	if (cJSON_GetArraySize(bodies) == 0)
		il_log_warn("openSPP returned no registrant", IL_INT("ids", pl.nids));
	else
		setup_kafka(&pl);

	cJSON_ArrayForEach(body, bodies) {
		if (pl.fatal)
			break;
		if (il_sig_stop_requested()) {
			pl.interrupted = true;
			break;
		}
		if (pl.dci)
			handle_dci(&pl, body, seen);
		else
			handle(&pl, body);
	}
	if (pl.p != NULL)
		drain(&pl);
	if (!pl.out_failed && (fflush(stdout) != 0 || ferror(stdout))) {
		pl.fatal = true;
		il_log_error("could not write the receipts to stdout", IL_STR("reason", strerror(errno)));
	}
	il_log_info("pull finished", IL_STR("topic", pl.topic), IL_INT("registrants", cJSON_GetArraySize(bodies)),
	    IL_INT("published", pl.published), IL_INT("refused", pl.refused), IL_INT("failed", pl.failed));
	if (pl.interrupted)
		il_log_warn("pull interrupted before every registrant was published");

	if (pl.failed > 0 || pl.fatal || pl.interrupted || pl.inflight > 0)
		rc = 1;
	else if (pl.refused > 0)
		rc = 2;
	else
		rc = 0;

	il_producer_destroy(pl.p);
	while (pl.sent != NULL) {
		m = pl.sent;
		pl.sent = m->next;
		cJSON_Delete(m->unknown);
		free(m->event_id);
		free(m->record);
		free(m);
	}
	il_serde_destroy(pl.sd);
	il_schema_set_destroy(pl.schemas);
	il_buf_free(&pl.value);
	cJSON_Delete(bodies);
	il_dci_seen_destroy(seen);
	free(pl.token);
	free(pl.ids);
	return rc;
}

const il_cmd_entry il_cmd_pull_entry = {
	"pull",
	"pull (--id N [--id N]...|--name TEXT|--all) --programme-id P [--programme-name S]\n"
	"          [--allow-missing ids,gender,birthdate] [-t TOPIC] [--dry-run]\n"
	"     pull --dci (--all|--identifier V|--birthdate-from D --birthdate-to D)\n"
	"          --programme-id P [--db-name DB] [--page-size N] [--reg-type T] ...",
	"  --id N                   GET /api/v1/registry/individual/N (repeatable)\n"
	"  --name TEXT              the individuals whose name contains TEXT, matched\n"
	"                           case-sensitively as openSPP's API does\n"
	"  --all                    every individual (the API has no pagination)\n"
	"  --programme-id P         programme.id of the events (required)\n"
	"  --programme-name S       programme.name of the events\n"
	"  --allow-missing LIST     fields the events may do without: ids (key an\n"
	"                           individual without an ID of openspp.key.id.type by\n"
	"                           its openSPP id), gender, birthdate\n"
	"  -t, --topic TOPIC        topic to publish to (default: topic.eligibility)\n"
	"  --dry-run                fetch, check and map, print receipts \"checked\",\n"
	"                           publish nothing\n"
	"  Reads openspp.api.url with HTTP Basic openspp.api.username and\n"
	"  openspp.api.password.  openSPP's REST API has a known defect: gender,\n"
	"  birthdate, IDs and more come back null or empty for every record.  Such a\n"
	"  record (null gender and birthdate, no IDs) is refused, never published as\n"
	"  facts, unless --allow-missing names all three; one without an ID of the\n"
	"  key type is refused unless it names ids.  Other nulls are published as\n"
	"  unknown (null) and listed in the receipt's \"unknown\".  The source is\n"
	"  kind POLL at \"api:individual:N\": pulling again gives the same event ids.\n"
	"  Prints one JSON line per registrant once its fate is known:\n"
	"  {\"registrant\":N,\"status\":\"published\",\"event_id\":...,\"partition\":P,\n"
	"  \"offset\":O,\"unknown\":[...]}, \"refused\" with the reason (an unknown id:\n"
	"  \"no such registrant\") or \"failed\".  A refused login (HTTP 401) or an\n"
	"  unreachable server stops the run before anything is published.\n"
	"  Exit status: 0 all published, 2 some refused, 1 failures or fatal.\n"
	"DCI (openSPP's spp_dci_api_server, SPDCI Social Registry API):\n"
	"  --dci                    pull through POST /registry/sync/search instead,\n"
	"                           with a token from POST /oauth2/client/token\n"
	"                           (client_id openspp.api.username, client_secret\n"
	"                           openspp.api.password, in the JSON body; no Basic)\n"
	"  --all                    everyone (a predicate query without expressions)\n"
	"  --identifier V           the individual whose openspp.key.id.type ID is V\n"
	"                           (query_type idtype-value)\n"
	"  --birthdate-from D, --birthdate-to D  born in [D, D] (predicates ge/le\n"
	"                           on birthdate, the one attribute openSPP 17 queries)\n"
	"  --db-name DB             the Odoo database (default: openspp.instance)\n"
	"  --page-size N            records per page (default 100); pages are read\n"
	"                           until pagination.total_count\n"
	"  --reg-type T             reg_type (default SPP:RegistryType:Individual)\n"
	"  DCI records carry gender, birthdate and IDs but no openSPP id: each\n"
	"  receipt names the record as \"record\":\"page/index\"; one without an ID\n"
	"  of openspp.key.id.type is refused; one with neither gender nor birthdate\n"
	"  is refused unless --allow-missing gender,birthdate.  The position is\n"
	"  \"dci:individual:<HMAC-SHA256 of the ID under openspp.api.password>\",\n"
	"  so pulling again gives the same event ids while the secret is unchanged.\n"
	"  A rejected message or search (rjct), an unusable token or a refused\n"
	"  client stops the run before anything is published.\n",
	cmd_pull,
};
