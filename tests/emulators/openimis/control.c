/*
 * control.c - what stands in front of the emulated API: faults, the per-IP
 * rate limit, trailing slashes, content types and bearer tokens, the request
 * log and metrics; and the test-only /_emu/ endpoints, never faulted.
 */
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <time.h>

#include "cli.h"
#include "emu.h"
#include "log.h"
#include "xalloc.h"

/* Most entries /_emu/requests gives at once, and by default. */
#define IL_EMU_REQUESTS_MAX 100000
#define IL_EMU_REQUESTS_DEFAULT 1000
/* Seconds of the rate-limit window (per minute). */
#define IL_EMU_RATE_WINDOW_US 60000000LL

/* One logged API call. */
typedef struct il_emu_logent {
	uint64_t seq;                   /* 1, 2, ...; 0 = never written */
	int64_t start_us;               /* CLOCK_MONOTONIC at arrival */
	int64_t end_us;                 /* when the answer was ready */
	char method[8];                 /* "POST" */
	char *path;                     /* owned */
	char *correlation;              /* X-Correlation-ID or NULL; owned */
	int status;                     /* 0 when no answer (reset, hang) */
	const char *fault;              /* static name */
} il_emu_logent;

struct il_emu_reqlog {
	pthread_mutex_t mu;             /* guards the members below */
	il_emu_logent *ring;            /* cap entries; seq s lives at (s - 1) % cap */
	size_t cap;                     /* ring size */
	uint64_t next_seq;              /* seq of the next entry */
};

/* The calls of one client IP in the last minute. */
typedef struct il_emu_bucket {
	int64_t *stamps;                /* ring of arrival times (us), per_minute long */
	size_t head;                    /* oldest */
	size_t n;                       /* in use */
} il_emu_bucket;

struct il_emu_limiter {
	pthread_mutex_t mu;             /* guards the members below */
	int per_minute;                 /* budget */
	il_emu_map *by_ip;              /* ip -> bucket */
	il_emu_vec buckets;             /* every bucket, for freeing */
};

static int64_t
il_emu_now_us(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (int64_t)ts.tv_sec * 1000000 + ts.tv_nsec / 1000;
}

/* Sleeps @p ms, in slices, ending early when the emulator stops. */
static void
il_emu_sleep_ms(il_emu *emu, long ms)
{
	while (ms > 0 && !__atomic_load_n(&emu->stopping, __ATOMIC_RELAXED)) {
		long slice = ms > 100 ? 100 : ms;
		struct timespec ts = { slice / 1000, (slice % 1000) * 1000000L };

		nanosleep(&ts, NULL);
		ms -= slice;
	}
}

/* ---- helpers shared by the handlers ----------------------------------- */

void
il_emu_reply(il_http_response *resp, int status, cJSON *json)
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

void
il_emu_outcome(il_http_response *resp, int status, const char *severity, const char *code,
    const char *text)
{
	cJSON *oo = cJSON_CreateObject(), *issue = cJSON_CreateObject();

	cJSON_AddStringToObject(oo, "resourceType", "OperationOutcome");
	cJSON_AddItemToArray(cJSON_AddArrayToObject(oo, "issue"), issue);
	cJSON_AddStringToObject(issue, "severity", severity);
	cJSON_AddStringToObject(issue, "code", code);
	if (text != NULL)
		cJSON_AddStringToObject(cJSON_AddObjectToObject(issue, "details"), "text", text);
	il_emu_reply(resp, status, oo);
}

const char *
il_emu_jstr(const cJSON *obj, const char *key)
{
	const cJSON *it = cJSON_GetObjectItemCaseSensitive(obj, key);

	return cJSON_IsString(it) ? it->valuestring : NULL;
}

static void
il_emu_text(il_http_response *resp, int status, const char *ctype, const char *text)
{
	resp->status = status;
	resp->content_type = ctype;
	il_buf_reset(&resp->body);
	if (il_buf_adds(&resp->body, text) != IL_OK)
		il_buf_reset(&resp->body);
}

/* ---- request log ------------------------------------------------------ */

il_emu_reqlog *
il_emu_reqlog_new(size_t cap)
{
	il_emu_reqlog *log = il_xcalloc(1, sizeof(*log));

	pthread_mutex_init(&log->mu, NULL);
	/* calloc: pages of a ring never filled are never touched. */
	log->ring = il_xcalloc(cap, sizeof(*log->ring));
	log->cap = cap;
	log->next_seq = 1;
	return log;
}

static void
il_emu_reqlog_clear(il_emu_reqlog *log)
{
	size_t i;

	for (i = 0; i < log->cap && (uint64_t)i + 1 < log->next_seq; i++) {
		free(log->ring[i].path);
		free(log->ring[i].correlation);
		memset(&log->ring[i], 0, sizeof(log->ring[i]));
	}
	log->next_seq = 1;
}

void
il_emu_reqlog_destroy(il_emu_reqlog *log)
{
	if (log == NULL)
		return;
	il_emu_reqlog_clear(log);
	free(log->ring);
	pthread_mutex_destroy(&log->mu);
	free(log);
}

static void
il_emu_reqlog_add(il_emu_reqlog *log, const il_emu_logent *e)
{
	il_emu_logent *slot;

	pthread_mutex_lock(&log->mu);
	slot = &log->ring[(log->next_seq - 1) % log->cap];
	free(slot->path);
	free(slot->correlation);
	*slot = *e;
	slot->seq = log->next_seq++;
	pthread_mutex_unlock(&log->mu);
}

/* ---- rate limit ------------------------------------------------------- */

il_emu_limiter *
il_emu_limiter_new(int per_minute)
{
	il_emu_limiter *l = il_xcalloc(1, sizeof(*l));

	pthread_mutex_init(&l->mu, NULL);
	l->per_minute = per_minute;
	l->by_ip = il_emu_map_new();
	return l;
}

static void
il_emu_limiter_clear(il_emu_limiter *l)
{
	size_t i;

	for (i = 0; i < l->buckets.n; i++) {
		il_emu_bucket *b = l->buckets.v[i];

		free(b->stamps);
		free(b);
	}
	il_emu_vec_free(&l->buckets);
	il_emu_map_clear(l->by_ip);
}

void
il_emu_limiter_destroy(il_emu_limiter *l)
{
	if (l == NULL)
		return;
	il_emu_limiter_clear(l);
	il_emu_map_destroy(l->by_ip);
	pthread_mutex_destroy(&l->mu);
	free(l);
}

/* @returns true when @p ip may make one more call now; counts it.  A sliding
 * window like Django REST framework's throttle: refused calls do not count. */
static bool
il_emu_limiter_allow(il_emu_limiter *l, const char *ip, int64_t now)
{
	il_emu_bucket *b;
	size_t cap = (size_t)l->per_minute;
	bool ok = false;

	pthread_mutex_lock(&l->mu);
	b = il_emu_map_get(l->by_ip, ip);
	if (b == NULL) {
		b = il_xcalloc(1, sizeof(*b));
		b->stamps = il_xcalloc(cap, sizeof(*b->stamps));
		il_emu_map_put(l->by_ip, ip, b);
		il_emu_vec_push(&l->buckets, b);
	}
	while (b->n > 0 && now - b->stamps[b->head] >= IL_EMU_RATE_WINDOW_US) {
		b->head = (b->head + 1) % cap;
		b->n--;
	}
	if (b->n < cap) {
		b->stamps[(b->head + b->n) % cap] = now;
		b->n++;
		ok = true;
	}
	pthread_mutex_unlock(&l->mu);
	return ok;
}

/* ---- the front -------------------------------------------------------- */

static double
il_emu_roll(il_emu *emu)
{
	uint64_t x = emu->rng;

	x ^= x << 13;
	x ^= x >> 7;
	x ^= x << 17;
	emu->rng = x;
	return (double)((x * 0x2545F4914F6CDD1DULL) >> 11) / 9007199254740992.0 * 100.0;
}

static const char *
il_emu_path_class(const char *path)
{
	static const struct {
		const char *prefix;
		const char *name;
	} classes[] = {
		{ IL_EMU_FHIR_BASE "login", "login" },
		{ IL_EMU_FHIR_BASE "Patient", "patient" },
		{ IL_EMU_FHIR_BASE "Contract", "contract" },
		{ IL_EMU_FHIR_BASE "Location", "location" },
		{ IL_EMU_FHIR_BASE "Practitioner", "practitioner" },
		{ IL_EMU_FHIR_BASE "InsurancePlan", "insuranceplan" },
		{ IL_EMU_FHIR_BASE, "fhir_other" },
		{ "/api/graphql", "graphql" },
	};
	size_t i;

	for (i = 0; i < sizeof(classes) / sizeof(classes[0]); i++)
		if (strncmp(path, classes[i].prefix, strlen(classes[i].prefix)) == 0)
			return classes[i].name;
	return "other";
}

/* @returns true when the bearer token is good; else answers 401. */
static bool
il_emu_authenticated(il_emu *emu, const il_http_request *req, il_http_response *resp)
{
	const char *auth = il_http_header(req, "Authorization");

	if (auth == NULL) {
		il_emu_text(resp, 401, "application/json",
		    "{\"detail\":\"Authentication credentials were not provided.\"}");
		return false;
	}
	if ((strncasecmp(auth, "Bearer ", 7) != 0 && strncasecmp(auth, "JWT ", 4) != 0) ||
	    !il_emu_jwt_check(emu->jwt_key, strchr(auth, ' ') + 1, (long long)time(NULL))) {
		il_emu_text(resp, 401, "application/json",
		    "{\"detail\":\"Invalid or expired token.\"}");
		return false;
	}
	return true;
}

/* @returns true when a write carries JSON; else answers the 500 of Django. */
static bool
il_emu_json_body(const il_http_request *req, il_http_response *resp)
{
	const char *ct = il_http_header(req, "Content-Type");

	if (strcmp(req->method, "POST") != 0 && strcmp(req->method, "PUT") != 0)
		return true;
	if (ct != NULL && strncasecmp(ct, "application/json", 16) == 0)
		return true;
	il_emu_text(resp, 500, "text/html",
	    "<!doctype html>\n<html lang=\"en\">\n<head>\n  <title>Server Error (500)</title>\n"
	    "</head>\n<body>\n  <h1>Server Error (500)</h1><p></p>\n</body>\n</html>\n");
	return false;
}

/* Everything after the faults: the API proper. */
static void
il_emu_route_api(il_emu *emu, const il_http_request *req, il_http_response *resp,
    il_emu_call *call)
{
	const char *path = req->path;
	size_t len = strlen(path);

	if (strncmp(path, IL_EMU_FHIR_BASE, strlen(IL_EMU_FHIR_BASE)) == 0) {
		if (path[len - 1] != '/') {
			/* Django's APPEND_SLASH, before any view runs. */
			char *loc = il_xasprintf("%s/", path);

			il_emu_text(resp, 301, "text/html", "");
			if (il_http_set_header(resp, "Location", loc) != IL_OK)
				resp->status = 500;
			free(loc);
			return;
		}
		if (strcmp(path, IL_EMU_FHIR_BASE "login/") == 0) {
			if (strcmp(req->method, "POST") != 0) {
				il_emu_text(resp, 405, "application/json",
				    "{\"detail\":\"Method not allowed.\"}");
				return;
			}
			/* A stale bearer on the login itself is refused. */
			if (il_http_header(req, "Authorization") != NULL &&
			    !il_emu_authenticated(emu, req, resp))
				return;
			if (il_emu_json_body(req, resp))
				il_emu_login(emu, req, resp);
			return;
		}
		if (il_emu_authenticated(emu, req, resp) && il_emu_json_body(req, resp))
			il_emu_fhir(emu, req, resp, call);
		return;
	}
	if (strcmp(path, "/api/graphql") == 0 || strcmp(path, "/api/graphql/") == 0) {
		if (!il_emu_authenticated(emu, req, resp))
			return;
		if (strcmp(req->method, "POST") != 0) {
			il_emu_text(resp, 400, "application/json",
			    "{\"errors\":[{\"message\":\"Must provide query string.\"}]}");
			return;
		}
		if (il_emu_json_body(req, resp))
			il_emu_graphql(emu, req, resp, call);
		return;
	}
	il_emu_text(resp, 404, "text/html", "<h1>Not Found</h1><p>The requested resource was "
	    "not found on this server.</p>");
}

static void
il_emu_count(il_emu *emu, const char *cls, int status, double seconds)
{
	static const double bounds[] = { 0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1,
	    0.25, 0.5, 1, 2.5, 5, 10 };
	char labels[128], cl[64], sl[32], num[16];

	if (emu->metrics == NULL)
		return;
	snprintf(num, sizeof(num), "%d", status);
	snprintf(labels, sizeof(labels), "%s,%s", il_metrics_label(cl, sizeof(cl), "class", cls),
	    il_metrics_label(sl, sizeof(sl), "status", num));
	il_metric_inc(il_metrics_counter(emu->metrics, "imislink_emu_openimis_requests_total",
	    "API calls answered by the openIMIS emulator, by path class and status (0: none).",
	    labels), 1);
	il_metric_observe(il_metrics_histogram(emu->metrics,
	    "imislink_emu_openimis_request_seconds",
	    "Time from arrival to answer of the API calls, faults included.", cl, bounds,
	    sizeof(bounds) / sizeof(bounds[0])), seconds);
}

static void
il_emu_api(const il_http_request *req, il_http_response *resp, void *ctx)
{
	il_emu *emu = ctx;
	il_emu_faults f;
	il_emu_call call = { false };
	il_emu_logent e;
	const char *corr = il_http_header(req, "X-Correlation-ID");
	double r_reset, r_hang, r_fail, r_wtf, r_which, r_lat;
	char ip[64];

	memset(&e, 0, sizeof(e));
	e.start_us = il_emu_now_us();
	e.fault = "none";
	pthread_mutex_lock(&emu->fault_mu);
	f = emu->faults;
	r_reset = il_emu_roll(emu);
	r_hang = il_emu_roll(emu);
	r_fail = il_emu_roll(emu);
	r_wtf = il_emu_roll(emu);
	r_which = il_emu_roll(emu);
	r_lat = il_emu_roll(emu);
	pthread_mutex_unlock(&emu->fault_mu);

	if (f.down) {
		il_emu_text(resp, 503, "text/html",
		    "<html><body><h1>503 Service Unavailable</h1></body></html>\n");
		e.fault = "down";
		goto out;
	}
	if (emu->limiter != NULL &&
	    !il_emu_limiter_allow(emu->limiter, il_http_client_ip(req, ip, sizeof(ip)), e.start_us)) {
		/* No Retry-After: the real server sends none. */
		il_emu_text(resp, 429, "application/json", "{\"detail\":\"Request was throttled.\"}");
		e.fault = "rate_limited";
		goto out;
	}
	if (f.latency_ms_max > 0)
		il_emu_sleep_ms(emu, f.latency_ms_min +
		    (long)(r_lat / 100.0 * (f.latency_ms_max - f.latency_ms_min + 1)));
	if (r_reset < f.reset_pct) {
		resp->drop = true;
		e.fault = "reset";
		goto out;
	}
	if (r_hang < f.hang_pct) {
		il_emu_sleep_ms(emu, f.hang_ms);
		resp->drop = true;
		e.fault = "hang";
		goto out;
	}
	if (r_fail < f.fail_pct) {
		static const int codes[] = { 500, 502, 503, 504 };

		il_emu_outcome(resp, codes[(int)(r_which / 25.0) & 3], "error", "exception", NULL);
		e.fault = "fail";
		goto out;
	}
	il_emu_route_api(emu, req, resp, &call);
	if (call.write && (resp->status == 0 || (resp->status >= 200 && resp->status < 300)) &&
	    r_wtf < f.write_then_fail_pct) {
		il_buf_reset(&resp->headers);
		il_emu_outcome(resp, 500, "error", "exception", NULL);
		e.fault = "write_then_fail";
	}
out:
	e.end_us = il_emu_now_us();
	e.status = resp->drop ? 0 : resp->status != 0 ? resp->status : 200;
	snprintf(e.method, sizeof(e.method), "%s", req->method);
	e.path = il_xstrdup(req->path);
	e.correlation = corr != NULL ? il_xstrdup(corr) : NULL;
	il_log_debug("openimis call", IL_STR("method", req->method), IL_STR("path", req->path),
	    IL_INT("status", e.status), IL_STR("fault", e.fault), IL_STR("correlation", corr));
	il_emu_count(emu, il_emu_path_class(req->path), e.status,
	    (double)(e.end_us - e.start_us) / 1e6);
	il_emu_reqlog_add(emu->log, &e);
}

/* ---- /_emu/ ----------------------------------------------------------- */

static void
il_emu_state(const il_http_request *req, il_http_response *resp, void *ctx)
{
	il_emu *emu = ctx;
	bool full = strcmp(req->path, "/_emu/state") == 0;
	cJSON *j;

	pthread_mutex_lock(&emu->store->mu);
	j = full ? il_emu_store_state(emu->store, true) : il_emu_store_counts(emu->store);
	pthread_mutex_unlock(&emu->store->mu);
	il_emu_reply(resp, 200, j);
}

static void
il_emu_duplicates(const il_http_request *req, il_http_response *resp, void *ctx)
{
	il_emu *emu = ctx;
	cJSON *j;

	(void)req;
	pthread_mutex_lock(&emu->store->mu);
	j = il_emu_store_duplicates(emu->store);
	pthread_mutex_unlock(&emu->store->mu);
	il_emu_reply(resp, 200, j);
}

static void
il_emu_requests(const il_http_request *req, il_http_response *resp, void *ctx)
{
	il_emu *emu = ctx;
	il_emu_reqlog *log = emu->log;
	long long since = 0, limit = IL_EMU_REQUESTS_DEFAULT;
	const char *s = il_http_query(req, "since"), *l = il_http_query(req, "limit");
	uint64_t seq, oldest, next;
	cJSON *root, *arr;
	long long n = 0;

	if ((s != NULL && !il_cli_parse_int(s, 0, INT64_MAX, &since)) ||
	    (l != NULL && !il_cli_parse_int(l, 1, IL_EMU_REQUESTS_MAX, &limit))) {
		il_emu_text(resp, 400, "application/json",
		    "{\"error\":\"since must be an integer >= 0 and limit 1 to 100000\"}");
		return;
	}
	root = cJSON_CreateObject();
	arr = cJSON_CreateArray();
	pthread_mutex_lock(&log->mu);
	oldest = log->next_seq > log->cap ? log->next_seq - log->cap : 1;
	seq = (uint64_t)since > oldest ? (uint64_t)since : oldest;
	next = seq;
	for (; seq < log->next_seq && n < limit; seq++, n++) {
		const il_emu_logent *e = &log->ring[(seq - 1) % log->cap];
		cJSON *o = cJSON_CreateObject();

		cJSON_AddNumberToObject(o, "seq", (double)e->seq);
		cJSON_AddNumberToObject(o, "start_us", (double)e->start_us);
		cJSON_AddNumberToObject(o, "end_us", (double)e->end_us);
		cJSON_AddStringToObject(o, "method", e->method);
		cJSON_AddStringToObject(o, "path", e->path);
		cJSON_AddNumberToObject(o, "status", e->status);
		if (e->correlation != NULL)
			cJSON_AddStringToObject(o, "correlation", e->correlation);
		else
			cJSON_AddNullToObject(o, "correlation");
		cJSON_AddStringToObject(o, "fault", e->fault);
		cJSON_AddItemToArray(arr, o);
		next = seq + 1;
	}
	pthread_mutex_unlock(&log->mu);
	cJSON_AddNumberToObject(root, "next", (double)next);
	cJSON_AddItemToObject(root, "requests", arr);
	il_emu_reply(resp, 200, root);
}

static cJSON *
il_emu_faults_json(const il_emu_faults *f)
{
	cJSON *o = cJSON_CreateObject();

	cJSON_AddNumberToObject(o, "latency_ms_min", f->latency_ms_min);
	cJSON_AddNumberToObject(o, "latency_ms_max", f->latency_ms_max);
	cJSON_AddNumberToObject(o, "fail_pct", f->fail_pct);
	cJSON_AddNumberToObject(o, "reset_pct", f->reset_pct);
	cJSON_AddNumberToObject(o, "hang_pct", f->hang_pct);
	cJSON_AddNumberToObject(o, "hang_ms", f->hang_ms);
	cJSON_AddNumberToObject(o, "write_then_fail_pct", f->write_then_fail_pct);
	cJSON_AddBoolToObject(o, "down", f->down);
	return o;
}

/* Applies the members of @p in to @p f; @returns NULL or what is wrong. */
static const char *
il_emu_faults_apply(const cJSON *in, il_emu_faults *f)
{
	static const struct {
		const char *key;
		double max;
		size_t off;
		bool is_int;
	} keys[] = {
		{ "latency_ms_min", 3600000, offsetof(il_emu_faults, latency_ms_min), true },
		{ "latency_ms_max", 3600000, offsetof(il_emu_faults, latency_ms_max), true },
		{ "fail_pct", 100, offsetof(il_emu_faults, fail_pct), false },
		{ "reset_pct", 100, offsetof(il_emu_faults, reset_pct), false },
		{ "hang_pct", 100, offsetof(il_emu_faults, hang_pct), false },
		{ "hang_ms", 3600000, offsetof(il_emu_faults, hang_ms), true },
		{ "write_then_fail_pct", 100, offsetof(il_emu_faults, write_then_fail_pct), false },
	};
	const cJSON *it;
	size_t i;

	if (!cJSON_IsObject(in))
		return "the body must be a JSON object";
	cJSON_ArrayForEach(it, in) {
		if (strcmp(it->string, "down") == 0) {
			if (!cJSON_IsBool(it))
				return "\"down\" must be true or false";
			f->down = cJSON_IsTrue(it);
			continue;
		}
		for (i = 0; i < sizeof(keys) / sizeof(keys[0]); i++)
			if (strcmp(it->string, keys[i].key) == 0)
				break;
		if (i == sizeof(keys) / sizeof(keys[0]))
			return "unknown member (expected latency_ms_min, latency_ms_max, fail_pct, "
			    "reset_pct, hang_pct, hang_ms, write_then_fail_pct, down)";
		if (!cJSON_IsNumber(it) || it->valuedouble < 0 || it->valuedouble > keys[i].max)
			return "a fault value is out of range (percentages 0 to 100, times 0 to 3600000 ms)";
		if (keys[i].is_int)
			*(int *)(void *)((char *)f + keys[i].off) = (int)it->valuedouble;
		else
			*(double *)(void *)((char *)f + keys[i].off) = it->valuedouble;
	}
	if (f->latency_ms_max < f->latency_ms_min)
		f->latency_ms_max = f->latency_ms_min;
	return NULL;
}

static void
il_emu_faults_handler(const il_http_request *req, il_http_response *resp, void *ctx)
{
	il_emu *emu = ctx;
	il_emu_faults f;
	const char *why = NULL;
	cJSON *in = NULL;

	pthread_mutex_lock(&emu->fault_mu);
	f = emu->faults;
	pthread_mutex_unlock(&emu->fault_mu);
	if (strcmp(req->method, "POST") == 0) {
		in = cJSON_ParseWithLength(req->body, req->body_len);
		why = il_emu_faults_apply(in, &f);
		cJSON_Delete(in);
		if (why != NULL) {
			cJSON *err = cJSON_CreateObject();

			cJSON_AddStringToObject(err, "error", why);
			il_emu_reply(resp, 400, err);
			return;
		}
		pthread_mutex_lock(&emu->fault_mu);
		emu->faults = f;
		pthread_mutex_unlock(&emu->fault_mu);
		il_log_info("faults changed", IL_DBL("fail_pct", f.fail_pct),
		    IL_DBL("reset_pct", f.reset_pct), IL_DBL("hang_pct", f.hang_pct),
		    IL_DBL("write_then_fail_pct", f.write_then_fail_pct),
		    IL_INT("latency_ms_min", f.latency_ms_min), IL_INT("latency_ms_max", f.latency_ms_max),
		    IL_INT("down", f.down));
	}
	il_emu_reply(resp, 200, il_emu_faults_json(&f));
}

static void
il_emu_reset(const il_http_request *req, il_http_response *resp, void *ctx)
{
	il_emu *emu = ctx;

	(void)req;
	pthread_mutex_lock(&emu->store->mu);
	il_emu_store_reset(emu->store);
	pthread_mutex_unlock(&emu->store->mu);
	pthread_mutex_lock(&emu->log->mu);
	il_emu_reqlog_clear(emu->log);
	pthread_mutex_unlock(&emu->log->mu);
	pthread_mutex_lock(&emu->fault_mu);
	emu->failed_logins = 0;
	pthread_mutex_unlock(&emu->fault_mu);
	if (emu->limiter != NULL) {
		pthread_mutex_lock(&emu->limiter->mu);
		il_emu_limiter_clear(emu->limiter);
		pthread_mutex_unlock(&emu->limiter->mu);
	}
	il_log_info("emulator reset");
	il_emu_text(resp, 200, "application/json", "{\"reset\":true}");
}

void
il_emu_routes(il_emu *emu, il_http *http)
{
	il_http_route_prefix(http, NULL, "/api/", il_emu_api, emu);
	il_http_route(http, "GET", "/_emu/state", il_emu_state, emu);
	il_http_route(http, "GET", "/_emu/counts", il_emu_state, emu);
	il_http_route(http, "GET", "/_emu/duplicates", il_emu_duplicates, emu);
	il_http_route(http, "GET", "/_emu/requests", il_emu_requests, emu);
	il_http_route(http, "GET", "/_emu/faults", il_emu_faults_handler, emu);
	il_http_route(http, "POST", "/_emu/faults", il_emu_faults_handler, emu);
	il_http_route(http, "POST", "/_emu/reset", il_emu_reset, emu);
}
