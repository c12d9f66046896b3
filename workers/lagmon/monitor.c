/*
 * monitor.c - the engine of imislink-lagmon (monitor.h).
 *
 * Everything an HTTP request may need is rendered once per round on the
 * main thread: the Prometheus text of the lag series, and for every group
 * Burrow's answers to /status and /lag.  The result is swapped in under a
 * mutex, so a scrape costs a copy and never waits for a round, and il_lag
 * (librdkafka handles, a snapshot rewritten by each round) is only ever
 * touched by the thread that runs the rounds.
 */
#include "monitor.h"

#include <pthread.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <cjson/cJSON.h>

#include "burrow.h"
#include "lag.h"
#include "log.h"
#include "timers.h"
#include "xalloc.h"

/* Bound of the rendered lag series: some 150 bytes a series, 10 series a
 * partition, so room for tens of thousands of partitions. */
#define LM_MAX_METRICS (64u << 20)
/* The health of the monitor goes bad after this many intervals without a round. */
#define LM_STALE_INTERVALS 3

/* One group as the HTTP side serves it. */
typedef struct lm_group_view {
	char *group;            /* the group's name */
	char *status_json;      /* Burrow's "status" object of /status (partitions not OK) */
	char *lag_json;         /* the same with every partition (/lag) */
} lm_group_view;

/* What a round publishes; replaced whole, never changed in place. */
typedef struct lm_view {
	lm_group_view *groups;  /* sorted by name */
	size_t ngroups;
	char *metrics;          /* the lag series in the Prometheus text format */
	size_t metrics_len;
} lm_view;

/* A group's status at the last round, to log changes. */
typedef struct lm_seen {
	char *group;
	il_burrow_status status;
} lm_seen;

struct il_lagmon {
	il_lag *lag;            /* only touched by the thread that runs rounds */
	il_metrics *metrics;    /* borrowed */
	char *cluster;          /* lag.cluster.name */
	char host[256];         /* our host name, for Burrow's "request" */
	long long interval_ms;  /* lag.interval.ms */
	int timeout_ms;         /* bound of each broker request of a round */
	size_t window_size;     /* lag.window.size, for Burrow's "complete" */
	lm_seen *seen;          /* groups of the last good round, sorted by name */
	size_t nseen;
	bool failing;           /* the last round failed (to log only the first of a series) */
	char last_reason[512];  /* why it failed */

	/* own metrics */
	il_metric *m_rounds;
	il_metric *m_errors;
	il_metric *m_seconds;
	il_metric *m_groups;
	il_metric *m_partitions;
	il_metric *m_last_ok;

	/* shared with the HTTP threads, under mu */
	pthread_mutex_t mu;
	lm_view *view;          /* NULL before the first good round */
	long long start_mono;   /* when the monitor was made */
	long long last_end_mono;/* when the last round ended; -1 none yet */
	bool last_failed;       /* the last round failed */
	long long rounds;       /* rounds run */
	char health_reason[512];/* why the last round failed */
};

static void
view_free(lm_view *v)
{
	size_t i;

	if (v == NULL)
		return;
	for (i = 0; i < v->ngroups; i++) {
		free(v->groups[i].group);
		cJSON_free(v->groups[i].status_json);
		cJSON_free(v->groups[i].lag_json);
	}
	free(v->groups);
	free(v->metrics);
	free(v);
}

static void
seen_free(lm_seen *s, size_t n)
{
	size_t i;

	for (i = 0; i < n; i++)
		free(s[i].group);
	free(s);
}

static il_err
collect(il_buf *out, void *ctx)
{
	il_lagmon *m = ctx;
	il_err err = IL_OK;

	pthread_mutex_lock(&m->mu);
	if (m->view != NULL && m->view->metrics_len > 0)
		err = il_buf_add(out, m->view->metrics, m->view->metrics_len);
	pthread_mutex_unlock(&m->mu);
	return err;
}

il_lagmon *
il_lagmon_new(const il_conf *conf, il_metrics *metrics, char *errbuf, size_t errsz)
{
	static const double bounds[] = { 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30 };
	il_lagmon *m;
	il_lag *lag;
	long long t;

	lag = il_lag_new(conf, errbuf, errsz);
	if (lag == NULL)
		return NULL;
	m = il_xcalloc(1, sizeof(*m));
	m->lag = lag;
	m->metrics = metrics;
	m->cluster = il_xstrdup(il_conf_get(conf, "lag.cluster.name"));
	if (gethostname(m->host, sizeof(m->host)) != 0)
		snprintf(m->host, sizeof(m->host), "localhost");
	m->host[sizeof(m->host) - 1] = '\0';
	m->interval_ms = il_conf_get_int(conf, "lag.interval.ms");
	/* A request may take two intervals, within 2 s and 10 s: a short
	 * interval must not make a healthy but busy broker look down. */
	t = m->interval_ms * 2;
	m->timeout_ms = (int)(t < 2000 ? 2000 : t > 10000 ? 10000 : t);
	m->window_size = (size_t)il_conf_get_int(conf, "lag.window.size");
	pthread_mutex_init(&m->mu, NULL);
	m->start_mono = il_timers_now_ms();
	m->last_end_mono = -1;

	m->m_rounds = il_metrics_counter(metrics, "imislink_lagmon_rounds_total",
	    "lag evaluation rounds run", NULL);
	m->m_errors = il_metrics_counter(metrics, "imislink_lagmon_round_errors_total",
	    "lag evaluation rounds that could not read the cluster", NULL);
	m->m_seconds = il_metrics_histogram(metrics, "imislink_lagmon_round_seconds",
	    "duration of a lag evaluation round", NULL, bounds, sizeof(bounds) / sizeof(bounds[0]));
	m->m_groups = il_metrics_gauge(metrics, "imislink_lagmon_groups",
	    "consumer groups in the last good round", NULL);
	m->m_partitions = il_metrics_gauge(metrics, "imislink_lagmon_partitions",
	    "group partitions in the last good round", NULL);
	m->m_last_ok = il_metrics_gauge(metrics, "imislink_lagmon_last_success_timestamp_seconds",
	    "when the last good round ended, seconds since 1970", NULL);
	il_metrics_set_collector(metrics, collect, m);
	return m;
}

void
il_lagmon_destroy(il_lagmon *m)
{
	if (m == NULL)
		return;
	il_metrics_set_collector(m->metrics, NULL, NULL);
	view_free(m->view);
	seen_free(m->seen, m->nseen);
	il_lag_destroy(m->lag);
	pthread_mutex_destroy(&m->mu);
	free(m->cluster);
	free(m);
}

long long
il_lagmon_interval_ms(const il_lagmon *m)
{
	return m->interval_ms;
}

/* Burrow's ConsumerOffset of a commit of the window, or null when the window is empty. */
static cJSON *
burrow_offset(const il_burrow_commit *c)
{
	cJSON *o;

	if (c->offset < 0)
		return cJSON_CreateNull();
	o = cJSON_CreateObject();
	cJSON_AddNumberToObject(o, "offset", (double)c->offset);
	cJSON_AddNumberToObject(o, "timestamp", (double)c->ts_ms);
	cJSON_AddNumberToObject(o, "lag", (double)c->lag);
	return o;
}

/* Burrow's PartitionStatus, plus log_end_offset and lag_seconds. */
static cJSON *
burrow_partition(const il_lagmon *m, const il_lag_partition *p)
{
	cJSON *o = cJSON_CreateObject();
	double complete = m->window_size > 0 ? (double)p->window / (double)m->window_size : 0;

	cJSON_AddStringToObject(o, "topic", p->topic);
	cJSON_AddNumberToObject(o, "partition", p->partition);
	cJSON_AddStringToObject(o, "owner", p->host != NULL ? p->host : "");
	cJSON_AddStringToObject(o, "client_id", p->client_id != NULL ? p->client_id : "");
	cJSON_AddStringToObject(o, "status", il_burrow_status_name(p->status));
	cJSON_AddItemToObject(o, "start", burrow_offset(&p->start));
	cJSON_AddItemToObject(o, "end", burrow_offset(&p->end));
	cJSON_AddNumberToObject(o, "current_lag", (double)(p->lag > 0 ? p->lag : 0));
	cJSON_AddNumberToObject(o, "complete", p->complete || complete > 1 ? 1 : complete);
	cJSON_AddNumberToObject(o, "log_end_offset", (double)p->log_end);
	if (p->lag_seconds >= 0)
		cJSON_AddNumberToObject(o, "lag_seconds", p->lag_seconds);
	else
		cJSON_AddNullToObject(o, "lag_seconds");
	return o;
}

/*
 * Burrow's ConsumerGroupStatus for group @p g: every partition with a
 * committed offset when @p all (/lag), else only those not OK (/status).
 * @returns the compact JSON text (free with cJSON_free()).
 */
static char *
burrow_group(const il_lagmon *m, const il_lag_snapshot *snap, const il_lag_group *g, bool all)
{
	const il_lag_partition *p, *maxp = NULL;
	cJSON *o = cJSON_CreateObject(), *parts = cJSON_CreateArray();
	size_t i, count = 0, complete = 0;
	int64_t total = 0;
	char *text;

	for (i = 0; i < g->nparts; i++) {
		p = &snap->parts[g->first + i];
		/* Burrow only knows partitions the group committed. */
		if (p->committed < 0)
			continue;
		count++;
		complete += p->complete;
		total += p->lag > 0 ? p->lag : 0;
		if (maxp == NULL || p->lag > maxp->lag)
			maxp = p;
		if (all || p->status != IL_BURROW_OK)
			cJSON_AddItemToArray(parts, burrow_partition(m, p));
	}
	cJSON_AddStringToObject(o, "cluster", m->cluster);
	cJSON_AddStringToObject(o, "group", g->group);
	cJSON_AddStringToObject(o, "status", il_burrow_status_name(g->status));
	cJSON_AddNumberToObject(o, "complete", count > 0 ? (double)complete / (double)count : 0);
	cJSON_AddItemToObject(o, "partitions", parts);
	cJSON_AddNumberToObject(o, "partition_count", (double)count);
	cJSON_AddItemToObject(o, "maxlag", maxp != NULL ? burrow_partition(m, maxp) : cJSON_CreateNull());
	cJSON_AddNumberToObject(o, "totallag", (double)total);
	text = cJSON_PrintUnformatted(o);
	cJSON_Delete(o);
	/* cJSON fails only without memory: abort as il_xmalloc() does. */
	if (text == NULL) {
		il_log_error("out of memory rendering a consumer group", IL_STR("group", g->group));
		abort();
	}
	return text;
}

static int
cmp_view(const void *a, const void *b)
{
	return strcmp(((const lm_group_view *)a)->group, ((const lm_group_view *)b)->group);
}

static int
cmp_seen(const void *a, const void *b)
{
	return strcmp(((const lm_seen *)a)->group, ((const lm_seen *)b)->group);
}

/* @returns the view of @p snap, or NULL with the reason when the series do not fit. */
static lm_view *
view_build(const il_lagmon *m, const il_lag_snapshot *snap, char *errbuf, size_t errsz)
{
	lm_view *v = il_xcalloc(1, sizeof(*v));
	il_buf text;
	size_t i;

	il_buf_init(&text, LM_MAX_METRICS);
	if (il_lag_render_metrics(m->lag, &text) != IL_OK) {
		il_err_setf(errbuf, errsz, "could not render the lag series: larger than %u bytes",
		    LM_MAX_METRICS);
		il_buf_free(&text);
		free(v);
		return NULL;
	}
	v->metrics_len = text.len;
	v->metrics = il_buf_take(&text);
	v->groups = il_xcalloc(snap->ngroups > 0 ? snap->ngroups : 1, sizeof(*v->groups));
	for (i = 0; i < snap->ngroups; i++) {
		/* A named group the broker says does not exist: Burrow does not
		 * know it either, and answers 404. */
		if (snap->groups[i].status == IL_BURROW_NOTFOUND)
			continue;
		v->groups[v->ngroups].group = il_xstrdup(snap->groups[i].group);
		v->groups[v->ngroups].status_json = burrow_group(m, snap, &snap->groups[i], false);
		v->groups[v->ngroups].lag_json = burrow_group(m, snap, &snap->groups[i], true);
		v->ngroups++;
	}
	qsort(v->groups, v->ngroups, sizeof(*v->groups), cmp_view);
	return v;
}

/* Logs each group that appeared, went away or changed status since the last round. */
static void
log_changes(il_lagmon *m, const il_lag_snapshot *snap)
{
	lm_seen *now = il_xcalloc(snap->ngroups > 0 ? snap->ngroups : 1, sizeof(*now));
	const lm_seen *old;
	const il_lag_group *g;
	size_t i;

	for (i = 0; i < snap->ngroups; i++) {
		now[i].group = il_xstrdup(snap->groups[i].group);
		now[i].status = snap->groups[i].status;
	}
	qsort(now, snap->ngroups, sizeof(*now), cmp_seen);
	for (i = 0; i < snap->ngroups; i++) {
		g = &snap->groups[i];
		old = m->nseen > 0 ? bsearch(&(lm_seen){ (char *)g->group, IL_BURROW_NOTFOUND }, m->seen,
		    m->nseen, sizeof(*m->seen), cmp_seen) : NULL;
		if (old != NULL ? old->status == g->status : g->status == IL_BURROW_NOTFOUND)
			continue;
		if (g->status >= IL_BURROW_WARN)
			il_log_warn("consumer group status changed", IL_STR("cluster", m->cluster),
			    IL_STR("group", g->group),
			    IL_STR("from", il_burrow_status_name(old != NULL ? old->status : IL_BURROW_NOTFOUND)),
			    IL_STR("to", il_burrow_status_name(g->status)), IL_INT("total_lag", g->sum_lag),
			    IL_INT("max_lag", g->max_lag), IL_DBL("max_lag_seconds", g->max_lag_seconds));
		else
			il_log_info("consumer group status changed", IL_STR("cluster", m->cluster),
			    IL_STR("group", g->group),
			    IL_STR("from", il_burrow_status_name(old != NULL ? old->status : IL_BURROW_NOTFOUND)),
			    IL_STR("to", il_burrow_status_name(g->status)), IL_INT("total_lag", g->sum_lag),
			    IL_INT("max_lag", g->max_lag), IL_DBL("max_lag_seconds", g->max_lag_seconds));
	}
	for (i = 0; i < m->nseen; i++) {
		if (snap->ngroups == 0 || bsearch(&m->seen[i], now, snap->ngroups, sizeof(*now), cmp_seen) == NULL)
			il_log_info("consumer group status changed", IL_STR("cluster", m->cluster),
			    IL_STR("group", m->seen[i].group),
			    IL_STR("from", il_burrow_status_name(m->seen[i].status)), IL_STR("to", "NOTFOUND"));
	}
	seen_free(m->seen, m->nseen);
	m->seen = now;
	m->nseen = snap->ngroups;
}

/* Counts the rounds and records what /healthz reports. */
static void
note_round(il_lagmon *m, bool failed, const char *reason, lm_view *view)
{
	lm_view *old = NULL;

	pthread_mutex_lock(&m->mu);
	m->rounds++;
	m->last_end_mono = il_timers_now_ms();
	m->last_failed = failed;
	snprintf(m->health_reason, sizeof(m->health_reason), "%s", failed ? reason : "");
	if (view != NULL) {
		old = m->view;
		m->view = view;
	}
	pthread_mutex_unlock(&m->mu);
	/* The old view is freed outside the lock: a scrape never waits on it. */
	view_free(old);
}

il_err
il_lagmon_round(il_lagmon *m)
{
	const il_lag_snapshot *snap;
	char errbuf[512] = "";
	long long t0 = il_timers_now_ms();
	lm_view *view = NULL;
	il_err err;

	err = il_lag_evaluate(m->lag, m->timeout_ms, errbuf, sizeof(errbuf));
	il_metric_inc(m->m_rounds, 1);
	il_metric_observe(m->m_seconds, (double)(il_timers_now_ms() - t0) / 1000.0);
	if (err == IL_OK) {
		snap = il_lag_get_snapshot(m->lag);
		view = view_build(m, snap, errbuf, sizeof(errbuf));
		if (view == NULL)
			err = IL_ERR_NOMEM;
		else
			log_changes(m, snap);
	}
	if (err != IL_OK) {
		il_metric_inc(m->m_errors, 1);
		/* One line when rounds start failing or the reason changes, not
		 * one a round: an outage at a 500 ms interval would flood the log. */
		if (!m->failing || strcmp(m->last_reason, errbuf) != 0)
			il_log_warn("lag round failed; the last figures stay", IL_STR("cluster", m->cluster),
			    IL_STR("reason", errbuf));
		m->failing = true;
		snprintf(m->last_reason, sizeof(m->last_reason), "%s", errbuf);
		note_round(m, true, errbuf, NULL);
		return err;
	}
	if (m->failing)
		il_log_info("lag rounds recovered", IL_STR("cluster", m->cluster));
	m->failing = false;
	il_metric_set(m->m_groups, (double)snap->ngroups);
	il_metric_set(m->m_partitions, (double)snap->nparts);
	il_metric_set(m->m_last_ok, (double)snap->taken_ms / 1000.0);
	note_round(m, false, NULL, view);
	return IL_OK;
}

il_health
il_lagmon_health(il_buf *out, void *ctx)
{
	il_lagmon *m = ctx;
	long long now = il_timers_now_ms(), age, stale = m->interval_ms * LM_STALE_INTERVALS;
	il_health h = IL_HEALTH_OK;
	const char *state = "ok";
	char reason[512];
	long long rounds;
	size_t ngroups;
	bool ended;
	il_buf d;

	pthread_mutex_lock(&m->mu);
	ended = m->last_end_mono >= 0;
	age = now - (ended ? m->last_end_mono : m->start_mono);
	rounds = m->rounds;
	ngroups = m->view != NULL ? m->view->ngroups : 0;
	snprintf(reason, sizeof(reason), "%s", m->health_reason);
	if (m->last_failed) {
		h = IL_HEALTH_DEGRADED;
		state = "failing";
	} else if (age > stale + m->timeout_ms) {
		/* A round may take up to its request bound on top of the interval. */
		h = IL_HEALTH_DEGRADED;
		state = ended ? "stale" : "starting";
	}
	pthread_mutex_unlock(&m->mu);
	/* The details are made apart and added whole: one that does not fit
	 * leaves the answer well formed, and the status stays right. */
	il_buf_init(&d, 4096);
	if (il_buf_printf(&d, "\"lag\":\"%s\",\"cluster\":\"", state) == IL_OK &&
	    il_buf_add_json_escaped(&d, m->cluster) == IL_OK &&
	    il_buf_printf(&d, "\",\"rounds\":%lld,\"groups\":%zu,\"last_round_age_ms\":%lld",
	    rounds, ngroups, ended ? age : -1) == IL_OK &&
	    (reason[0] == '\0' || (il_buf_adds(&d, ",\"reason\":\"") == IL_OK &&
	    il_buf_add_json_escaped(&d, reason) == IL_OK && il_buf_adds(&d, "\"") == IL_OK)) &&
	    il_buf_add(out, d.data, d.len) != IL_OK)
		il_log_debug("health details left out: too long");
	il_buf_free(&d);
	return h;
}

/* Burrow's "request" member. */
static void
add_request(const il_lagmon *m, cJSON *o, const il_http_request *req)
{
	cJSON *r = cJSON_AddObjectToObject(o, "request");

	cJSON_AddStringToObject(r, "url", req->path);
	cJSON_AddStringToObject(r, "host", m->host);
}

/* Writes @p o (deleted here) as the body of @p resp with @p status. */
static void
respond(il_http_response *resp, int status, cJSON *o)
{
	char *text = cJSON_PrintUnformatted(o);

	cJSON_Delete(o);
	resp->status = status;
	if (text == NULL || il_buf_adds(&resp->body, text) != IL_OK)
		resp->status = 500;
	cJSON_free(text);
}

/* Burrow's error answer: {"error":true,"message":...,"request":...}. */
static void
respond_error(const il_lagmon *m, const il_http_request *req, il_http_response *resp, int status,
    const char *msg)
{
	cJSON *o = cJSON_CreateObject();

	cJSON_AddBoolToObject(o, "error", true);
	cJSON_AddStringToObject(o, "message", msg);
	add_request(m, o, req);
	respond(resp, status, o);
}

/* GET /v3/kafka: the one cluster this monitor watches. */
static void
on_clusters(const il_http_request *req, il_http_response *resp, void *ctx)
{
	il_lagmon *m = ctx;
	cJSON *o = cJSON_CreateObject(), *list;

	cJSON_AddBoolToObject(o, "error", false);
	cJSON_AddStringToObject(o, "message", "cluster list returned");
	list = cJSON_AddArrayToObject(o, "clusters");
	cJSON_AddItemToArray(list, cJSON_CreateString(m->cluster));
	add_request(m, o, req);
	respond(resp, 200, o);
}

/* GET /v3/kafka/<cluster>/consumer */
static void
answer_list(il_lagmon *m, const il_http_request *req, il_http_response *resp)
{
	cJSON *o = cJSON_CreateObject(), *list;
	size_t i;

	cJSON_AddBoolToObject(o, "error", false);
	cJSON_AddStringToObject(o, "message", "consumer list returned");
	list = cJSON_AddArrayToObject(o, "consumers");
	pthread_mutex_lock(&m->mu);
	for (i = 0; m->view != NULL && i < m->view->ngroups; i++)
		cJSON_AddItemToArray(list, cJSON_CreateString(m->view->groups[i].group));
	pthread_mutex_unlock(&m->mu);
	add_request(m, o, req);
	respond(resp, 200, o);
}

/* GET /v3/kafka/<cluster>/consumer/<group>/status or /lag */
static void
answer_group(il_lagmon *m, const il_http_request *req, il_http_response *resp, const char *group,
    bool all)
{
	lm_group_view key = { (char *)group, NULL, NULL };
	const lm_group_view *g = NULL;
	cJSON *o, *st;
	il_err err = IL_OK;
	char *msg;

	/* The stored object goes into the answer as text, copied under the lock. */
	pthread_mutex_lock(&m->mu);
	if (m->view != NULL && m->view->ngroups > 0)
		g = bsearch(&key, m->view->groups, m->view->ngroups, sizeof(*g), cmp_view);
	if (g != NULL) {
		err = il_buf_adds(&resp->body, "{\"error\":false,\"message\":\"consumer status returned\","
		    "\"status\":");
		if (err == IL_OK)
			err = il_buf_adds(&resp->body, all ? g->lag_json : g->status_json);
	}
	pthread_mutex_unlock(&m->mu);
	if (g != NULL) {
		if (err == IL_OK)
			err = il_buf_adds(&resp->body, ",\"request\":{\"url\":\"");
		if (err == IL_OK)
			err = il_buf_add_json_escaped(&resp->body, req->path);
		if (err == IL_OK)
			err = il_buf_adds(&resp->body, "\",\"host\":\"");
		if (err == IL_OK)
			err = il_buf_add_json_escaped(&resp->body, m->host);
		if (err == IL_OK)
			err = il_buf_adds(&resp->body, "\"}}");
		resp->status = err == IL_OK ? 200 : 500;
		return;
	}
	/* Burrow answers an unknown group with 404 and a NOTFOUND status. */
	msg = il_xasprintf("consumer group \"%s\" not found in cluster \"%s\"", group, m->cluster);
	o = cJSON_CreateObject();
	cJSON_AddBoolToObject(o, "error", true);
	cJSON_AddStringToObject(o, "message", msg);
	free(msg);
	st = cJSON_AddObjectToObject(o, "status");
	cJSON_AddStringToObject(st, "cluster", m->cluster);
	cJSON_AddStringToObject(st, "group", group);
	cJSON_AddStringToObject(st, "status", "NOTFOUND");
	cJSON_AddNumberToObject(st, "complete", 0);
	cJSON_AddArrayToObject(st, "partitions");
	cJSON_AddNumberToObject(st, "partition_count", 0);
	cJSON_AddNullToObject(st, "maxlag");
	cJSON_AddNumberToObject(st, "totallag", 0);
	add_request(m, o, req);
	respond(resp, 404, o);
}

/*
 * Everything under /v3/kafka/: <cluster>/consumer, and
 * <cluster>/consumer/<group>/status|lag.  The path is already URL-decoded;
 * a group name holding a '/' is therefore out of reach, as it is in Burrow.
 */
static void
on_kafka(const il_http_request *req, il_http_response *resp, void *ctx)
{
	static const char prefix[] = "/v3/kafka/";
	il_lagmon *m = ctx;
	const char *rest = req->path + sizeof(prefix) - 1, *slash, *group, *end;
	size_t clen = strlen(m->cluster), glen;
	char name[512], *msg;

	slash = strchr(rest, '/');
	if (slash == NULL || (size_t)(slash - rest) != clen || strncmp(rest, m->cluster, clen) != 0) {
		msg = il_xasprintf("cluster \"%.*s\" not found: this monitor watches \"%s\"",
		    slash != NULL ? (int)(slash - rest) : (int)strlen(rest), rest, m->cluster);
		respond_error(m, req, resp, 404, msg);
		free(msg);
		return;
	}
	rest = slash + 1;
	if (strcmp(rest, "consumer") == 0 || strcmp(rest, "consumer/") == 0) {
		answer_list(m, req, resp);
		return;
	}
	if (strncmp(rest, "consumer/", 9) != 0) {
		respond_error(m, req, resp, 404, "unknown path: see /v3/kafka/<cluster>/consumer");
		return;
	}
	group = rest + 9;
	end = strrchr(group, '/');
	if (end == NULL || end == group || (strcmp(end, "/status") != 0 && strcmp(end, "/lag") != 0)) {
		respond_error(m, req, resp, 404,
		    "unknown path: expected /v3/kafka/<cluster>/consumer/<group>/status or /lag");
		return;
	}
	glen = (size_t)(end - group);
	if (glen >= sizeof(name)) {
		respond_error(m, req, resp, 404, "consumer group name too long");
		return;
	}
	memcpy(name, group, glen);
	name[glen] = '\0';
	answer_group(m, req, resp, name, strcmp(end, "/lag") == 0);
}

void
il_lagmon_routes(il_lagmon *m, il_http *h)
{
	il_http_route(h, "GET", "/v3/kafka", on_clusters, m);
	il_http_route_prefix(h, "GET", "/v3/kafka/", on_kafka, m);
}
