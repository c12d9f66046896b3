/*
 * api.c - the HTTP side of the openSPP emulator: HTTP Basic authentication
 * as FastAPI answers it, the /api/v1/registry handlers, the request log,
 * metrics, and the test-only /_emu/ endpoints.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <time.h>

#include <openssl/evp.h>

#include "cli.h"
#include "log.h"
#include "spp.h"
#include "xalloc.h"

/* Most entries /_emu/requests gives at once, and by default. */
#define IL_SPP_REQUESTS_MAX 100000
#define IL_SPP_REQUESTS_DEFAULT 1000
/* Longest Authorization header value decoded. */
#define IL_SPP_AUTH_MAX 1024

/* One logged API call. */
typedef struct il_spp_logent {
	uint64_t seq;                   /* 1, 2, ...; 0 = never written */
	char method[8];                 /* "GET" */
	char *path;                     /* path without the query; owned */
	char *user;                     /* the Basic login given, or NULL; owned */
	int status;                     /* the answer's status */
} il_spp_logent;

struct il_spp_reqlog {
	pthread_mutex_t mu;             /* guards the members below */
	il_spp_logent *ring;            /* cap entries; seq s lives at (s - 1) % cap */
	size_t cap;                     /* ring size */
	uint64_t next_seq;              /* seq of the next entry */
};

il_spp_reqlog *
il_spp_reqlog_new(size_t cap)
{
	il_spp_reqlog *log = il_xcalloc(1, sizeof(*log));

	pthread_mutex_init(&log->mu, NULL);
	log->ring = il_xcalloc(cap, sizeof(*log->ring));
	log->cap = cap;
	log->next_seq = 1;
	return log;
}

static void
il_spp_reqlog_clear(il_spp_reqlog *log)
{
	size_t i;

	for (i = 0; i < log->cap; i++) {
		free(log->ring[i].path);
		free(log->ring[i].user);
		memset(&log->ring[i], 0, sizeof(log->ring[i]));
	}
}

void
il_spp_reqlog_destroy(il_spp_reqlog *log)
{
	if (log == NULL)
		return;
	il_spp_reqlog_clear(log);
	free(log->ring);
	pthread_mutex_destroy(&log->mu);
	free(log);
}

static void
il_spp_reqlog_add(il_spp_reqlog *log, const char *method, const char *path, const char *user,
    int status)
{
	il_spp_logent *e;

	pthread_mutex_lock(&log->mu);
	e = &log->ring[(log->next_seq - 1) % log->cap];
	free(e->path);
	free(e->user);
	e->seq = log->next_seq++;
	snprintf(e->method, sizeof(e->method), "%s", method);
	e->path = il_xstrdup(path);
	e->user = user != NULL ? il_xstrdup(user) : NULL;
	e->status = status;
	pthread_mutex_unlock(&log->mu);
}

/* ---- answers ------------------------------------------------------------ */

void
il_spp_reply(il_http_response *resp, int status, cJSON *json)
{
	char *text = cJSON_PrintUnformatted(json);

	resp->status = status;
	resp->content_type = "application/json";
	il_buf_reset(&resp->body);
	if (text == NULL || il_buf_adds(&resp->body, text) != IL_OK) {
		resp->status = 500;
		il_buf_reset(&resp->body);
	}
	free(text);
	cJSON_Delete(json);
}

static void
il_spp_detail(il_http_response *resp, int status, const char *detail)
{
	cJSON *o = cJSON_CreateObject();

	cJSON_AddStringToObject(o, "detail", detail);
	il_spp_reply(resp, status, o);
}

/* FastAPI's 422 for a parameter that does not parse (pydantic 1 wording). */
static void
il_spp_invalid(il_http_response *resp, const char *where, const char *name, const char *msg,
    const char *type)
{
	cJSON *o = cJSON_CreateObject(), *d = cJSON_AddArrayToObject(o, "detail");
	cJSON *e = cJSON_CreateObject(), *loc = cJSON_AddArrayToObject(e, "loc");

	cJSON_AddItemToArray(loc, cJSON_CreateString(where));
	cJSON_AddItemToArray(loc, cJSON_CreateString(name));
	cJSON_AddStringToObject(e, "msg", msg);
	cJSON_AddStringToObject(e, "type", type);
	cJSON_AddItemToArray(d, e);
	il_spp_reply(resp, 422, o);
}

/* ---- authentication ----------------------------------------------------- */

/*
 * Checks HTTP Basic credentials; on failure fills @p resp with FastAPI's
 * HTTPBasic answers: no or non-Basic header "Not authenticated", wrong
 * login "Incorrect username or password", both 401 with WWW-Authenticate.
 * @p user receives the login given (or "").
 */
static bool
il_spp_auth(const il_spp *spp, const il_http_request *req, il_http_response *resp,
    char *user, size_t usersz)
{
	const char *h = il_http_header(req, "Authorization");
	unsigned char dec[IL_SPP_AUTH_MAX];
	size_t len, pad = 0;
	int n;
	char *colon;

	user[0] = '\0';
	if (h == NULL || strncasecmp(h, "Basic ", 6) != 0)
		goto unauthenticated;
	h += 6;
	while (*h == ' ')
		h++;
	len = strlen(h);
	if (len == 0 || len % 4 != 0 || len / 4 * 3 >= sizeof(dec))
		goto invalid;
	n = EVP_DecodeBlock(dec, (const unsigned char *)h, (int)len);
	if (n < 0)
		goto invalid;
	/* EVP_DecodeBlock counts the padding as bytes: take them back. */
	if (h[len - 1] == '=')
		pad++;
	if (h[len - 2] == '=')
		pad++;
	dec[(size_t)n - pad] = '\0';
	if (strlen((char *)dec) != (size_t)n - pad)
		goto invalid;
	colon = strchr((char *)dec, ':');
	if (colon == NULL)
		goto invalid;
	*colon = '\0';
	snprintf(user, usersz, "%s", (char *)dec);
	if (strcmp((char *)dec, spp->cfg.user) != 0 || strcmp(colon + 1, spp->cfg.password) != 0) {
		il_spp_detail(resp, 401, "Incorrect username or password");
		il_http_set_header(resp, "WWW-Authenticate", "Basic");
		return false;
	}
	return true;
invalid:
	il_spp_detail(resp, 401, "Invalid authentication credentials");
	il_http_set_header(resp, "WWW-Authenticate", "Basic");
	return false;
unauthenticated:
	il_spp_detail(resp, 401, "Not authenticated");
	il_http_set_header(resp, "WWW-Authenticate", "Basic");
	return false;
}

/* ---- parameters --------------------------------------------------------- */

/* Parses an integer id as pydantic does (optional sign, digits). */
static bool
il_spp_parse_id(const char *s, long long *out)
{
	return il_cli_parse_int(s, -2147483648LL, 2147483647LL, out);
}

/* FastAPI's bool query parameter; @returns -1 when it does not parse. */
static int
il_spp_parse_bool(const char *s)
{
	static const char *const yes[] = { "1", "true", "on", "yes", "t", "y" };
	static const char *const no[] = { "0", "false", "off", "no", "f", "n" };
	size_t i;

	for (i = 0; i < sizeof(yes) / sizeof(yes[0]); i++) {
		if (strcasecmp(s, yes[i]) == 0)
			return 1;
		if (strcasecmp(s, no[i]) == 0)
			return 0;
	}
	return -1;
}

/* ---- handlers ----------------------------------------------------------- */

/* What one API handler does once authenticated. */
typedef void (il_spp_api)(il_spp *spp, const il_http_request *req, il_http_response *resp);

static void
il_spp_count(il_spp *spp, const char *cls, int status)
{
	char labels[128], cl[64], sl[32], num[16];

	snprintf(num, sizeof(num), "%d", status);
	snprintf(labels, sizeof(labels), "%s,%s", il_metrics_label(cl, sizeof(cl), "class", cls),
	    il_metrics_label(sl, sizeof(sl), "status", num));
	il_metric_inc(il_metrics_counter(spp->metrics, "imislink_emu_openspp_requests_total",
	    "API calls answered by the openSPP emulator, by path class and status.", labels), 1);
}

void
il_spp_record(il_spp *spp, const il_http_request *req, const char *cls, const char *user,
    int status)
{
	il_spp_reqlog_add(spp->log, req->method, req->path, user, status == 0 ? 200 : status);
	il_spp_count(spp, cls, status == 0 ? 200 : status);
}

/* Authenticates, runs @p api, logs and counts the call. */
static void
il_spp_call(il_spp *spp, const il_http_request *req, il_http_response *resp, const char *cls,
    il_spp_api *api)
{
	char user[256];

	if (il_spp_auth(spp, req, resp, user, sizeof(user)))
		api(spp, req, resp);
	il_spp_record(spp, req, cls, user[0] != '\0' ? user : NULL, resp->status);
}

/* GET /individual/{id} and /group/{id}. */
static void
il_spp_get_one(il_spp *spp, const il_http_request *req, il_http_response *resp, const char *kind,
    const char *prefix)
{
	const char *tail = req->path + strlen(prefix);
	const cJSON *rec;
	long long id;

	if (!il_spp_parse_id(tail, &id)) {
		il_spp_invalid(resp, "path", "_id", "value is not a valid integer", "type_error.integer");
		return;
	}
	rec = il_spp_registry_find(spp->registry, kind, id);
	if (rec == NULL) {
		il_spp_detail(resp, 400, "Record is not present in the database.");
		return;
	}
	if (strcmp(kind, "groups") == 0)
		il_spp_reply(resp, 200, il_spp_render_group(spp->registry, rec, spp->cfg.defects, false));
	else
		il_spp_reply(resp, 200, il_spp_render_individual(rec, spp->cfg.defects));
}

static void
il_spp_individual_one(il_spp *spp, const il_http_request *req, il_http_response *resp)
{
	il_spp_get_one(spp, req, resp, "individuals", IL_SPP_BASE "/individual/");
}

static void
il_spp_group_one(il_spp *spp, const il_http_request *req, il_http_response *resp)
{
	il_spp_get_one(spp, req, resp, "groups", IL_SPP_BASE "/group/");
}

/*
 * GET /individual and /group: `_id` exact, `name` a case-sensitive LIKE
 * %name% (Odoo's "like"), both together when both given, everything
 * without either, no pagination.
 */
static void
il_spp_search(il_spp *spp, const il_http_request *req, il_http_response *resp, const char *kind)
{
	const char *sid = il_http_query(req, "_id"), *name = il_http_query(req, "name");
	const char *full = il_http_query(req, "include_members_full");
	const cJSON *rec;
	cJSON *out;
	long long id = 0;
	int members_full = 0;
	bool groups = strcmp(kind, "groups") == 0;

	if (sid != NULL && !il_spp_parse_id(sid, &id)) {
		il_spp_invalid(resp, "query", "_id", "value is not a valid integer", "type_error.integer");
		return;
	}
	if (groups && full != NULL && (members_full = il_spp_parse_bool(full)) < 0) {
		il_spp_invalid(resp, "query", "include_members_full",
		    "value could not be parsed to a boolean", "type_error.bool");
		return;
	}
	out = cJSON_CreateArray();
	cJSON_ArrayForEach(rec, cJSON_GetObjectItemCaseSensitive(spp->registry, kind)) {
		const cJSON *n = cJSON_GetObjectItemCaseSensitive(rec, "name");

		if (sid != NULL && (long long)cJSON_GetObjectItemCaseSensitive(rec, "id")->valuedouble != id)
			continue;
		if (name != NULL && strstr(n->valuestring, name) == NULL)
			continue;
		cJSON_AddItemToArray(out, groups ?
		    il_spp_render_group(spp->registry, rec, spp->cfg.defects, members_full == 1) :
		    il_spp_render_individual(rec, spp->cfg.defects));
	}
	il_spp_reply(resp, 200, out);
}

static void
il_spp_individual_search(il_spp *spp, const il_http_request *req, il_http_response *resp)
{
	il_spp_search(spp, req, resp, "individuals");
}

static void
il_spp_group_search(il_spp *spp, const il_http_request *req, il_http_response *resp)
{
	il_spp_search(spp, req, resp, "groups");
}

static void
il_spp_h_individual_one(const il_http_request *req, il_http_response *resp, void *ctx)
{
	il_spp_call(ctx, req, resp, "individual", il_spp_individual_one);
}

static void
il_spp_h_individual_search(const il_http_request *req, il_http_response *resp, void *ctx)
{
	il_spp_call(ctx, req, resp, "individual_search", il_spp_individual_search);
}

static void
il_spp_h_group_one(const il_http_request *req, il_http_response *resp, void *ctx)
{
	il_spp_call(ctx, req, resp, "group", il_spp_group_one);
}

static void
il_spp_h_group_search(const il_http_request *req, il_http_response *resp, void *ctx)
{
	il_spp_call(ctx, req, resp, "group_search", il_spp_group_search);
}

/* ---- /_emu/ --------------------------------------------------------------- */

/* GET /_emu/requests?since=N&limit=M: the logged calls with seq > N. */
static void
il_spp_requests(const il_http_request *req, il_http_response *resp, void *ctx)
{
	il_spp *spp = ctx;
	il_spp_reqlog *log = spp->log;
	const char *s = il_http_query(req, "since"), *l = il_http_query(req, "limit");
	long long since = 0, limit = IL_SPP_REQUESTS_DEFAULT;
	uint64_t seq, first;
	cJSON *out = cJSON_CreateObject(), *arr;

	if ((s != NULL && !il_cli_parse_int(s, 0, INT64_MAX, &since)) ||
	    (l != NULL && !il_cli_parse_int(l, 1, IL_SPP_REQUESTS_MAX, &limit))) {
		cJSON_Delete(out);
		il_spp_detail(resp, 400, "invalid since or limit");
		return;
	}
	arr = cJSON_CreateArray();
	pthread_mutex_lock(&log->mu);
	first = log->next_seq > log->cap ? log->next_seq - log->cap : 1;
	seq = (uint64_t)since + 1 > first ? (uint64_t)since + 1 : first;
	for (; seq < log->next_seq && limit > 0; seq++, limit--) {
		const il_spp_logent *e = &log->ring[(seq - 1) % log->cap];
		cJSON *o = cJSON_CreateObject();

		cJSON_AddNumberToObject(o, "seq", (double)e->seq);
		cJSON_AddStringToObject(o, "method", e->method);
		cJSON_AddStringToObject(o, "path", e->path);
		if (e->user != NULL)
			cJSON_AddStringToObject(o, "user", e->user);
		else
			cJSON_AddNullToObject(o, "user");
		cJSON_AddNumberToObject(o, "status", e->status);
		cJSON_AddItemToArray(arr, o);
	}
	pthread_mutex_unlock(&log->mu);
	cJSON_AddNumberToObject(out, "next", (double)(seq - 1));
	cJSON_AddItemToObject(out, "requests", arr);
	il_spp_reply(resp, 200, out);
}

/* POST /_emu/reset: forgets the request log and the DCI message ids (the
 * registry never changes). */
static void
il_spp_reset(const il_http_request *req, il_http_response *resp, void *ctx)
{
	il_spp *spp = ctx;
	cJSON *out = cJSON_CreateObject();

	(void)req;
	pthread_mutex_lock(&spp->log->mu);
	il_spp_reqlog_clear(spp->log);
	spp->log->next_seq = 1;
	pthread_mutex_unlock(&spp->log->mu);
	pthread_mutex_lock(&spp->dci_mu);
	il_dci_seen_destroy(spp->dci_seen);
	spp->dci_seen = il_dci_seen_new(IL_SPP_DCI_SEEN_CAP);
	pthread_mutex_unlock(&spp->dci_mu);
	cJSON_AddBoolToObject(out, "ok", true);
	il_spp_reply(resp, 200, out);
}

/* GET /_emu/state: the registry's size and the settings. */
static void
il_spp_state(const il_http_request *req, il_http_response *resp, void *ctx)
{
	il_spp *spp = ctx;
	cJSON *out = cJSON_CreateObject();

	(void)req;
	cJSON_AddNumberToObject(out, "individuals",
	    cJSON_GetArraySize(cJSON_GetObjectItemCaseSensitive(spp->registry, "individuals")));
	cJSON_AddNumberToObject(out, "groups",
	    cJSON_GetArraySize(cJSON_GetObjectItemCaseSensitive(spp->registry, "groups")));
	cJSON_AddBoolToObject(out, "defects", spp->cfg.defects);
	il_spp_reply(resp, 200, out);
}

void
il_spp_routes(il_spp *spp, il_http *http)
{
	il_http_route(http, "GET", IL_SPP_BASE "/individual", il_spp_h_individual_search, spp);
	il_http_route_prefix(http, "GET", IL_SPP_BASE "/individual/", il_spp_h_individual_one, spp);
	il_http_route(http, "GET", IL_SPP_BASE "/group", il_spp_h_group_search, spp);
	il_http_route_prefix(http, "GET", IL_SPP_BASE "/group/", il_spp_h_group_one, spp);
	il_spp_dci_routes(spp, http);
	il_http_route(http, "GET", "/_emu/requests", il_spp_requests, spp);
	il_http_route(http, "GET", "/_emu/state", il_spp_state, spp);
	il_http_route(http, "POST", "/_emu/reset", il_spp_reset, spp);
}
