/*
 * worker.c - the enrollment worker's engine (see worker.h).
 *
 * A message becomes a job.  A job waits behind its key (keyq), then behind
 * the in-flight limit (the ready line), then runs: decode, plan (mapping),
 * and the enrollment's calls, each passing the gate (breaker and rate limit)
 * before libcurl sends it.  A finished job publishes its result (and dead
 * letter) and is freed when Kafka confirmed them; only then is its offset
 * done.  Everything happens on the thread that calls il_worker_run().
 */
#include <malloc.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "curlm.h"
#include "dlq.h"
#include "enrollment.h"
#include "event.h"
#include "imis.h"
#include "kafka.h"
#include "keyq.h"
#include "log.h"
#include "offsets.h"
#include "ratelimit.h"
#include "retry.h"
#include "sig.h"
#include "timefmt.h"
#include "timers.h"
#include "worker.h"
#include "xalloc.h"

/* Longest wait of the loop when idle: bounds how late a message or a stop is seen. */
#define W_IDLE_MS 10
/* Async commits of finished offsets, at most this often. */
#define W_COMMIT_EVERY_MS 1000
/* A producer queue that stays full this long counts as a failed send. */
#define W_SEND_BLOCK_MS 1000
/* Gauges and the breaker's pause are refreshed at this pace. */
#define W_GAUGE_EVERY_MS 250
/* A registry that cannot answer, or a result that could not be published, is tried again after this. */
#define W_REPUBLISH_MS 1000
#define W_MAX_PARTS 4096
/* Freed heap goes back to the system at this pace (see il_worker_run). */
#define W_TRIM_EVERY_MS 10000

enum job_state {
	JOB_WAITING = 0,         /* behind its key or in the ready line */
	JOB_GATE,                /* wants to make a call */
	JOB_CALL,                /* a call in flight */
	JOB_TIMER,               /* waiting for a retry */
	JOB_LOGIN,               /* waiting for a new token */
	JOB_PUBLISH,             /* result sent, delivery reports outstanding */
};

enum timer_kind { TIMER_RETRY = 0, TIMER_REDECODE, TIMER_REPUBLISH };

struct job {
	struct job *prev, *next; /* every live job, in arrival order */
	struct job *qnext;       /* the ready line, the gate or the login wait */
	il_worker *w;
	int32_t partition;
	int64_t offset;
	char *key;               /* owned: the Kafka key, or "partition:offset" for a message without one */
	size_t keylen;
	bool has_key;
	char *value;             /* owned: the original bytes, for a dead letter */
	size_t vallen;
	char event_id[65];       /* "" until decoded */
	long long programme_id;
	il_enrollment *enr;
	enum job_state state;
	enum timer_kind timer;
	bool started;            /* counted in nactive */
	bool key_released;       /* no longer in keyq */
	bool abandoned;          /* its partition was revoked: no outcome, no commit */
	bool in_line;            /* in the ready line, the gate or the login wait */
	bool front;              /* first of its key in keyq */
	const char *endpoint;    /* of the call in flight (static) */
	bool timer_pending;      /* in the timers heap */
	unsigned token_gen;      /* the token its last call carried */
	long long pending_since_mono; /* first poll of a mutation still running, 0 when none */
	int attempts;            /* transient failures (the first try included in the count shown) */
	long long first_fail_ms, last_fail_ms;   /* epoch */
	long long first_fail_mono, open_at_first_fail;
	long long started_mono;
	/* the outcome, once known */
	il_enroll_outcome outcome;
	char *error_class;       /* owned; NULL on success */
	char *error_message;     /* owned */
	const char *stage;       /* Connect's stage, for a dead letter */
	bool dead;
	int deliveries;
	bool delivery_failed;
	il_buf result;           /* the encoded EnrollmentResult, until delivered */
};

struct part {
	int32_t partition;
	int64_t committed;       /* last commit sent, -1 when none */
	bool revoking;           /* being given up: its jobs drain */
};

struct call_metric {
	const char *endpoint;
	long status;
	il_metric *m;
};

struct il_worker {
	il_worker_env env;
	il_consumer *consumer;
	il_producer *producer;
	il_serde *sd;
	const il_schema *result_schema;
	il_curlm *curl;
	il_ratelimit *rate;
	il_breaker breaker;
	il_timers *timers;
	il_keyq *keyq;
	il_offsets *offsets;
	il_catalog *catalog;
	const char *topic;       /* topic.eligibility */
	const char *results_topic;
	const char *dlq_topic;
	char *api_url;           /* with a trailing slash */
	char *auth;              /* "Authorization: Bearer ..." */
	bool login_in_flight;
	bool login_timer;        /* a login retry is scheduled */
	unsigned token_gen;      /* counts logins, so a 401 of an older token does not log in again */
	bool probe_in_flight;    /* a probe of its own (no job had a call to make) */
	int login_failures;
	struct job live;         /* sentinel of the live list */
	struct job *ready_head, *ready_tail;
	struct job *gate_head, *gate_tail;
	struct job *login_head, *login_tail;
	size_t nlive, nactive;
	struct part parts[W_MAX_PARTS];
	size_t nparts;
	bool paused;
	long long max_in_flight, max_buffered;
	long long backoff_ms, backoff_max_ms, budget_ms;
	long long shutdown_ms;
	uint64_t rng;
	char today[IL_TIME_DATE_LEN];
	long long today_until_ms;
	il_err fatal;
	char fatal_msg[1024];
	atomic_int health;       /* il_health, read by the HTTP thread */
	atomic_int breaker_open;
	atomic_long in_flight_seen;
	/* metrics */
	il_metric *m_events[IL_OUTCOME_FAILED + 1];
	il_metric *m_dead[4];
	il_metric *m_in_flight, *m_calls_in_flight, *m_buffered, *m_retries, *m_throttled;
	il_metric *m_breaker, *m_breaker_opens, *m_rate, *m_messages, *m_commits, *m_paused;
	il_metric *m_duration;
	struct call_metric *call_metrics;
	size_t ncall_metrics;
	struct sync_call *sync;  /* start-up's calls (il_worker_prepare); NULL before */
};

static const char *const dead_classes[] = { "undecodable", "mapping", "permanent", "transient" };

static void job_continue(il_worker *w, struct job *j);
static void job_finish(il_worker *w, struct job *j);
static void publish(il_worker *w, struct job *j);
static void start_login(il_worker *w);

static void
set_fatal(il_worker *w, il_err err, const char *msg)
{
	if (w->fatal != IL_OK)
		return;
	w->fatal = err;
	snprintf(w->fatal_msg, sizeof(w->fatal_msg), "%.*s", (int)sizeof(w->fatal_msg) - 1, msg);
	atomic_store(&w->health, IL_HEALTH_DOWN);
	il_sig_request_stop();
}

static void
job_timer(il_worker *w, struct job *j, enum timer_kind kind, long long at)
{
	j->state = JOB_TIMER;
	j->timer = kind;
	j->timer_pending = true;
	il_timers_add(w->timers, at, j);
}

/* ---- lines of jobs ---- */

static void
line_push(struct job **head, struct job **tail, struct job *j)
{
	j->qnext = NULL;
	j->in_line = true;
	if (*tail != NULL)
		(*tail)->qnext = j;
	else
		*head = j;
	*tail = j;
}

static struct job *
line_pop(struct job **head, struct job **tail)
{
	struct job *j = *head;

	if (j == NULL)
		return NULL;
	*head = j->qnext;
	if (*head == NULL)
		*tail = NULL;
	j->qnext = NULL;
	j->in_line = false;
	return j;
}

/* ---- partitions ---- */

static struct part *
part_find(il_worker *w, int32_t partition)
{
	size_t i;

	for (i = 0; i < w->nparts; i++)
		if (w->parts[i].partition == partition)
			return &w->parts[i];
	return NULL;
}

static void
pause_all(il_worker *w, bool pause)
{
	size_t i;

	for (i = 0; i < w->nparts; i++) {
		if (pause)
			il_consumer_pause(w->consumer, w->topic, w->parts[i].partition);
		else
			il_consumer_resume(w->consumer, w->topic, w->parts[i].partition);
	}
	w->paused = pause;
	il_metric_set(w->m_paused, pause ? 1 : 0);
}

/* Fetching stops when the buffer is full or openIMIS is down, and starts
 * again below half the buffer, so it does not flap at the edge. */
static void
update_pause(il_worker *w)
{
	bool down = w->breaker.state != IL_BREAKER_CLOSED;

	if (!w->paused && (down || w->nlive >= (size_t)w->max_buffered))
		pause_all(w, true);
	else if (w->paused && !down && w->nlive <= (size_t)w->max_buffered / 2)
		pause_all(w, false);
}

/* @returns false when the group refused the commit (or did not answer). */
static bool
commit_partition(il_worker *w, struct part *p, bool sync)
{
	char errbuf[256];
	int64_t cp = il_offsets_commit_point(w->offsets, w->topic, p->partition);

	/* A sync commit goes even when an async one of the same offset was
	 * sent: that one may have failed. */
	if (cp < 0 || (!sync && cp <= p->committed))
		return true;
	if (il_consumer_commit(w->consumer, w->topic, p->partition, cp, !sync, errbuf, sizeof(errbuf)) != IL_OK) {
		il_log_warn("commit failed; the partition's next owner redoes what is not committed",
		    IL_INT("partition", p->partition), IL_INT("offset", cp), IL_STR("reason", errbuf));
		return false;
	}
	p->committed = cp;
	il_metric_inc(w->m_commits, 1);
	return true;
}

static void
commit_all(il_worker *w, bool sync)
{
	size_t i;

	for (i = 0; i < w->nparts; i++)
		commit_partition(w, &w->parts[i], sync);
}

/* ---- jobs ---- */

static struct job *
job_new(il_worker *w, const rd_kafka_message_t *msg)
{
	struct job *j = il_xcalloc(1, sizeof(*j));

	j->w = w;
	j->partition = msg->partition;
	j->offset = msg->offset;
	j->programme_id = -1;
	if (msg->key != NULL && msg->key_len > 0) {
		j->key = il_xmalloc(msg->key_len + 1);
		memcpy(j->key, msg->key, msg->key_len);
		j->key[msg->key_len] = '\0';
		j->keylen = msg->key_len;
		j->has_key = true;
	} else {
		/* Without a key there is no order to keep: a key of its own. */
		j->key = il_xasprintf("%d:%lld", (int)msg->partition, (long long)msg->offset);
		j->keylen = strlen(j->key);
	}
	j->value = il_xmalloc(msg->len + 1);
	if (msg->len > 0)
		memcpy(j->value, msg->payload, msg->len);
	j->vallen = msg->len;
	il_buf_init(&j->result, 1 << 20);
	/* append to the live list */
	j->prev = w->live.prev;
	j->next = &w->live;
	w->live.prev->next = j;
	w->live.prev = j;
	w->nlive++;
	return j;
}

/* Frees a job no one refers to any more (not in a line, no call, no delivery). */
static void
job_free(il_worker *w, struct job *j)
{
	if (j->timer_pending)
		il_timers_remove(w->timers, j);
	j->prev->next = j->next;
	j->next->prev = j->prev;
	w->nlive--;
	if (j->started)
		w->nactive--;
	il_enrollment_destroy(j->enr);
	il_buf_free(&j->result);
	free(j->error_class);
	free(j->error_message);
	free(j->key);
	free(j->value);
	free(j);
}

/* Lets the key's next job run. */
static void
release_key(il_worker *w, struct job *j)
{
	struct job *next;

	if (j->key_released)
		return;
	j->key_released = true;
	next = il_keyq_finish(w->keyq, j->key, j->keylen, j);
	if (next != NULL) {
		next->front = true;
		line_push(&w->ready_head, &w->ready_tail, next);
	}
}

/* An abandoned job leaves: its key moves on (to jobs as abandoned as it is),
 * and it is freed unless a call or a delivery report still refers to it. */
static void
job_drop(il_worker *w, struct job *j)
{
	release_key(w, j);
	if (j->state != JOB_CALL && j->deliveries == 0 && !j->in_line)
		job_free(w, j);
}

static void
record_failure(il_worker *w, struct job *j, long long now)
{
	long long epoch = il_event_now_ms();

	if (j->attempts == 0) {
		j->first_fail_ms = epoch;
		j->first_fail_mono = now;
		j->open_at_first_fail = il_breaker_open_ms(&w->breaker, now);
	}
	j->last_fail_ms = epoch;
	j->attempts++;
}

/* Ends a job as a dead letter of @p cls (one of dead_classes). */
static void
job_dead(il_worker *w, struct job *j, const char *cls, const char *stage, const char *msg)
{
	size_t i;

	if (j->attempts == 0)
		record_failure(w, j, il_timers_now_ms());
	j->dead = true;
	j->outcome = IL_OUTCOME_FAILED;
	j->stage = stage;
	free(j->error_class);
	free(j->error_message);
	j->error_class = il_xstrdup(cls);
	j->error_message = il_xstrdup(msg);
	for (i = 0; i < sizeof(dead_classes) / sizeof(dead_classes[0]); i++)
		if (strcmp(cls, dead_classes[i]) == 0)
			il_metric_inc(w->m_dead[i], 1);
	il_log_warn("event dead-lettered", IL_STR("event_id", j->event_id), IL_INT("partition", j->partition),
	    IL_INT("offset", j->offset), IL_STR("class", cls), IL_STR("reason", msg));
	job_finish(w, j);
}

static void
today(il_worker *w)
{
	long long now = il_event_now_ms();

	if (now < w->today_until_ms)
		return;
	il_time_format_date(now / 86400000, w->today);
	w->today_until_ms = (now / 86400000 + 1) * 86400000;
}

/* Decodes and plans; the job then makes its calls. */
static void
job_start(il_worker *w, struct job *j)
{
	char errbuf[1024];
	const cJSON *id, *prog, *pid;
	cJSON *event = NULL;
	il_plan *plan = NULL;
	il_err err;

	if (!j->started) {
		j->started = true;
		j->started_mono = il_timers_now_ms();
		w->nactive++;
	}
	err = il_serde_decode(w->sd, j->value, j->vallen, &event, NULL, errbuf, sizeof(errbuf));
	if (IL_ERR_CLASS(err) == IL_ERR_DECODE) {
		job_dead(w, j, "undecodable", "VALUE_CONVERTER", errbuf);
		return;
	}
	if (err == IL_ERR_CONFIG) {
		set_fatal(w, err, errbuf);
		return;
	}
	if (err != IL_OK) {
		/* The registry cannot tell now: not the message's fault. */
		il_log_warn("schema registry unavailable; decoding again later", IL_STR("reason", errbuf));
		job_timer(w, j, TIMER_REDECODE, il_timers_now_ms() + W_REPUBLISH_MS);
		return;
	}
	id = cJSON_GetObjectItemCaseSensitive(event, "event_id");
	if (cJSON_IsString(id))
		snprintf(j->event_id, sizeof(j->event_id), "%s", id->valuestring);
	prog = cJSON_GetObjectItemCaseSensitive(event, "programme");
	pid = cJSON_GetObjectItemCaseSensitive(prog, "id");
	if (cJSON_IsNumber(pid))
		j->programme_id = (long long)pid->valuedouble;
	today(w);
	err = il_mapping_plan(w->env.mapping, event, w->today, &plan, errbuf, sizeof(errbuf));
	cJSON_Delete(event);
	if (err != IL_OK) {
		job_dead(w, j, "mapping", "TRANSFORMATION", errbuf);
		return;
	}
	j->enr = il_enrollment_new(plan, w->catalog, errbuf, sizeof(errbuf));
	if (j->enr == NULL) {
		job_dead(w, j, "mapping", "TRANSFORMATION", errbuf);
		return;
	}
	job_continue(w, j);
}

/* Asks the enrollment for its next call. */
static void
job_continue(il_worker *w, struct job *j)
{
	const il_enroll_call *call;

	if (il_enrollment_next(j->enr, &call) == IL_ENROLL_DONE) {
		job_finish(w, j);
		return;
	}
	j->state = JOB_GATE;
	line_push(&w->gate_head, &w->gate_tail, j);
}

static il_metric *
call_metric(il_worker *w, const char *endpoint, long status)
{
	char labels[256], l1[96], l2[48], code[24];
	size_t i;

	for (i = 0; i < w->ncall_metrics; i++)
		if (w->call_metrics[i].status == status && strcmp(w->call_metrics[i].endpoint, endpoint) == 0)
			return w->call_metrics[i].m;
	if (status > 0)
		snprintf(code, sizeof(code), "%ld", status);
	else
		snprintf(code, sizeof(code), "error");
	il_metrics_label(l1, sizeof(l1), "endpoint", endpoint);
	il_metrics_label(l2, sizeof(l2), "status", code);
	snprintf(labels, sizeof(labels), "%s,%s", l1, l2);
	w->call_metrics = il_xrealloc(w->call_metrics, (w->ncall_metrics + 1) * sizeof(*w->call_metrics));
	w->call_metrics[w->ncall_metrics].endpoint = endpoint;
	w->call_metrics[w->ncall_metrics].status = status;
	w->call_metrics[w->ncall_metrics].m = il_metrics_counter(w->env.metrics, "imislink_openimis_calls_total",
	    "openIMIS calls by endpoint and HTTP status (error: no answer)", labels);
	return w->call_metrics[w->ncall_metrics++].m;
}

static void
breaker_event(il_worker *w, il_imis_class cls, long long now)
{
	if (cls == IL_IMIS_TRANSIENT) {
		if (il_breaker_failure(&w->breaker, now)) {
			il_metric_inc(w->m_breaker_opens, 1);
			il_log_warn("openIMIS looks down: fetching paused, probing",
			    IL_INT("consecutive_failures", w->breaker.consecutive),
			    IL_INT("probe_every_ms", w->breaker.probe_every_ms));
		}
	} else if (cls != IL_IMIS_RATE_LIMITED) {
		if (il_breaker_success(&w->breaker, now))
			il_log_info("openIMIS answers again: fetching resumes");
	} else if (w->breaker.state == IL_BREAKER_PROBING) {
		/* A 429 tells nothing of health: probe again later. */
		w->breaker.state = IL_BREAKER_OPEN;
		w->breaker.next_probe_ms = now + w->breaker.probe_every_ms;
	}
	atomic_store(&w->breaker_open, w->breaker.state != IL_BREAKER_CLOSED);
	if (w->fatal == IL_OK)
		atomic_store(&w->health, w->breaker.state != IL_BREAKER_CLOSED ? IL_HEALTH_DEGRADED : IL_HEALTH_OK);
}

static void
on_call_done(const il_curlm_result *r, void *ctx)
{
	struct job *j = ctx;
	il_worker *w = j->w;
	long long now = il_timers_now_ms(), wait;
	il_enroll_step step;
	il_imis_class cls;
	long status = r->err == IL_OK ? r->status : 0;
	char msg[512];

	il_metric_inc(w->m_calls_in_flight, -1);
	j->state = JOB_WAITING;
	if (r->err == IL_ERR_CANCELLED)
		return;  /* il_worker_destroy() frees the job */
	il_metric_inc(call_metric(w, j->endpoint, status), 1);
	il_metric_observe(w->m_duration, r->seconds);
	if (j->abandoned) {
		/* A probe must still tell the breaker what it found. */
		breaker_event(w, il_imis_classify(status, false, r->body, r->body_len, msg, sizeof(msg)), now);
		job_drop(w, j);
		return;
	}
	step = il_enrollment_answer(j->enr, status, r->body, r->body_len);
	cls = il_enrollment_last_class(j->enr);
	breaker_event(w, cls, now);
	if (r->err != IL_OK)
		il_log_debug("openIMIS call failed", IL_STR("endpoint", j->endpoint), IL_STR("reason", r->errstr),
		    IL_STR("event_id", j->event_id));
	switch (step) {
	case IL_ENROLL_CALL:
		job_continue(w, j);
		return;
	case IL_ENROLL_LOGIN:
		if (w->auth != NULL && j->token_gen != w->token_gen) {
			/* sent with a token already replaced: send again with the new one */
			j->state = JOB_GATE;
			line_push(&w->gate_head, &w->gate_tail, j);
			return;
		}
		j->state = JOB_LOGIN;
		line_push(&w->login_head, &w->login_tail, j);
		start_login(w);
		return;
	case IL_ENROLL_SLOW_DOWN:
		il_ratelimit_throttled(w->rate, now);
		il_metric_inc(w->m_throttled, 1);
		wait = il_retry_backoff_ms(1, w->backoff_ms, w->backoff_max_ms, &w->rng);
		break;
	case IL_ENROLL_RETRY:
		if (cls == IL_IMIS_OK) {
			/* A mutation still running: no failure, but not forever either. */
			if (j->pending_since_mono == 0)
				j->pending_since_mono = now;
			if (w->budget_ms > 0 && now - j->pending_since_mono > w->budget_ms) {
				job_dead(w, j, "transient", "TASK_PUT", "openIMIS did not finish the mutation within "
				    "openimis.retry.budget.ms");
				return;
			}
			wait = w->backoff_ms;
			break;
		}
		j->pending_since_mono = 0;
		record_failure(w, j, now);
		il_metric_inc(w->m_retries, 1);
		if (w->budget_ms > 0 && now - j->first_fail_mono -
		    (il_breaker_open_ms(&w->breaker, now) - j->open_at_first_fail) > w->budget_ms) {
			char last[160];

			if (status > 0)
				snprintf(last, sizeof(last), "HTTP %ld", status);
			else
				snprintf(last, sizeof(last), "%s", r->errstr);
			snprintf(msg, sizeof(msg), "openIMIS kept failing for %s (last: %s) after %d attempts; "
			    "the retry budget openimis.retry.budget.ms ran out", j->endpoint, last, j->attempts);
			job_dead(w, j, "transient", "TASK_PUT", msg);
			return;
		}
		wait = il_retry_backoff_ms(j->attempts, w->backoff_ms, w->backoff_max_ms, &w->rng);
		break;
	case IL_ENROLL_DONE:
	default:
		job_finish(w, j);
		return;
	}
	job_timer(w, j, TIMER_RETRY, now + wait);
}

static void
submit_call(il_worker *w, struct job *j)
{
	const il_enroll_call *call;
	const char *headers[5];
	char corr[96], *url;
	size_t n = 0;
	il_err err;

	il_enrollment_next(j->enr, &call);
	j->endpoint = call->endpoint;
	j->token_gen = w->token_gen;
	url = il_xasprintf("%s%s", w->api_url, call->path);
	headers[n++] = w->auth;
	headers[n++] = "Accept: application/json";
	if (call->body != NULL)
		headers[n++] = "Content-Type: application/json";
	/* Lets openIMIS's logs (and the emulator's request log) be read per event. */
	snprintf(corr, sizeof(corr), "X-Correlation-ID: %s", j->event_id);
	headers[n++] = corr;
	err = il_curlm_submit(w->curl, call->method, url, headers, n, call->body,
	    call->body != NULL ? strlen(call->body) : 0, on_call_done, j);
	free(url);
	if (err != IL_OK) {
		set_fatal(w, IL_ERR_CONFIG, "openimis.api.url: libcurl refuses the URLs made from it");
		return;
	}
	j->state = JOB_CALL;
	il_metric_inc(w->m_calls_in_flight, 1);
}

static void
on_probe_done(const il_curlm_result *r, void *ctx)
{
	il_worker *w = ctx;
	char msg[256];

	w->probe_in_flight = false;
	if (r->err == IL_ERR_CANCELLED)
		return;
	breaker_event(w, r->err != IL_OK ? IL_IMIS_TRANSIENT :
	    il_imis_classify(r->status, false, r->body, r->body_len, msg, sizeof(msg)), il_timers_now_ms());
}

/* No job has a call to make (all were given up in a rebalance, say) while
 * openIMIS counts as down: the worker asks on its own whether it is back, with
 * a lookup that changes nothing. */
static void
send_probe(il_worker *w)
{
	const char *headers[3] = { w->auth, "Content-Type: application/json", "Accept: application/json" };
	char *body = il_imis_gql_insuree("imislink-probe");
	char *url = il_xasprintf("%s%s", w->api_url, IL_IMIS_PATH_GRAPHQL);

	if (il_curlm_submit(w->curl, "POST", url, headers, 3, body, strlen(body), on_probe_done, w) == IL_OK)
		w->probe_in_flight = true;
	else
		w->breaker.state = IL_BREAKER_OPEN;
	free(url);
	free(body);
}

/* Lets calls through as the breaker and the rate limit allow. */
static void
pump_gate(il_worker *w, long long now)
{
	struct job *j;

	if (w->auth == NULL)
		return;
	if (w->gate_head == NULL && w->breaker.state == IL_BREAKER_OPEN && il_breaker_probe_due(&w->breaker, now)) {
		send_probe(w);
		return;
	}
	while (w->gate_head != NULL) {
		j = w->gate_head;
		if (j->abandoned) {
			line_pop(&w->gate_head, &w->gate_tail);
			job_drop(w, j);
			continue;
		}
		if (w->breaker.state == IL_BREAKER_PROBING)
			return;
		if (!il_ratelimit_take(w->rate, now))
			return;
		if (w->breaker.state == IL_BREAKER_OPEN && !il_breaker_probe_due(&w->breaker, now)) {
			/* the token is lost; the limit only matters while calls flow */
			return;
		}
		line_pop(&w->gate_head, &w->gate_tail);
		submit_call(w, j);
	}
}

/* ---- login ---- */

static void
on_login_done(const il_curlm_result *r, void *ctx)
{
	il_worker *w = ctx;
	char *token = NULL;
	long long exp = 0, now = il_timers_now_ms();
	il_imis_class cls;
	char msg[512];
	struct job *j;

	w->login_in_flight = false;
	if (r->err == IL_ERR_CANCELLED)
		return;
	if (r->err == IL_OK && r->status == 200 &&
	    il_imis_parse_login(r->body, r->body_len, &token, &exp) == IL_OK) {
		free(w->auth);
		w->auth = il_xasprintf("Authorization: Bearer %s", token);
		w->token_gen++;
		free(token);
		w->login_failures = 0;
		breaker_event(w, IL_IMIS_OK, now);
		il_log_info("logged in to openIMIS", IL_STR("user", il_conf_get(w->env.conf, "openimis.username")),
		    IL_INT("token_expiry", exp));
		while ((j = line_pop(&w->login_head, &w->login_tail)) != NULL) {
			if (j->abandoned) {
				job_drop(w, j);
				continue;
			}
			j->state = JOB_GATE;
			line_push(&w->gate_head, &w->gate_tail, j);
		}
		return;
	}
	cls = r->err == IL_OK ? il_imis_classify(r->status, false, r->body, r->body_len, msg, sizeof(msg))
	    : IL_IMIS_TRANSIENT;
	if (r->err == IL_OK && (r->status == 400 || r->status == 401 || r->status == 403)) {
		/* A loop of logins would lock the user out: stop and say why. */
		snprintf(msg, sizeof(msg), "openIMIS refused the login of user \"%s\" (HTTP %ld): check "
		    "openimis.username and openimis.password; openIMIS locks a user out after 5 failed logins, "
		    "so the worker does not try again", il_conf_get(w->env.conf, "openimis.username"), r->status);
		set_fatal(w, IL_ERR_CONFIG, msg);
		return;
	}
	if (cls == IL_IMIS_RATE_LIMITED)
		il_ratelimit_throttled(w->rate, now);
	breaker_event(w, cls, now);
	w->login_failures++;
	il_log_warn("openIMIS login failed; trying again", IL_STR("reason", r->err == IL_OK ? "unexpected answer" : r->errstr),
	    IL_INT("status", r->status), IL_INT("failures", w->login_failures));
	w->login_timer = true;
	il_timers_add(w->timers, now + il_retry_backoff_ms(w->login_failures, w->backoff_ms, w->backoff_max_ms,
	    &w->rng), w);
}

static void
start_login(il_worker *w)
{
	const char *headers[] = { "Content-Type: application/json", "Accept: application/json" };
	char *body, *url;

	if (w->login_in_flight || w->login_timer)
		return;
	/* A stale token sent with the login gets a 401: none is sent. */
	free(w->auth);
	w->auth = NULL;
	body = il_imis_login_body(il_conf_get(w->env.conf, "openimis.username"),
	    il_conf_get(w->env.conf, "openimis.password"));
	url = il_xasprintf("%s%s", w->api_url, IL_IMIS_PATH_LOGIN);
	il_ratelimit_take(w->rate, il_timers_now_ms());
	if (il_curlm_submit(w->curl, "POST", url, headers, 2, body, strlen(body), on_login_done, w) == IL_OK)
		w->login_in_flight = true;
	else
		set_fatal(w, IL_ERR_CONFIG, "openimis.api.url: libcurl refuses the login URL made from it");
	free(url);
	free(body);
}

/* ---- results and dead letters ---- */

static void
add_string_or_null(cJSON *o, const char *name, const char *s)
{
	if (s != NULL && s[0] != '\0')
		cJSON_AddStringToObject(o, name, s);
	else
		cJSON_AddNullToObject(o, name);
}

static cJSON *
result_json(il_worker *w, struct job *j)
{
	const il_enroll_result *r = j->enr != NULL ? il_enrollment_result(j->enr) : NULL;
	cJSON *o = cJSON_CreateObject(), *refs;
	char when[IL_TIME_LEN];

	cJSON_AddStringToObject(o, "event_id", j->event_id);
	/* A key that is not text (no key at all included) is shown as its position. */
	cJSON_AddStringToObject(o, "key", j->key);
	cJSON_AddStringToObject(o, "outcome", il_enroll_outcome_name(j->outcome));
	if (r != NULL)
		cJSON_AddStringToObject(o, "target", r->target == IL_PLAN_INSURANCE ? "INSURANCE" : "SOCIAL_PROTECTION");
	else
		cJSON_AddNullToObject(o, "target");
	if (j->programme_id >= 0)
		cJSON_AddNumberToObject(o, "programme_id", (double)j->programme_id);
	else
		cJSON_AddNullToObject(o, "programme_id");
	refs = cJSON_AddObjectToObject(o, "openimis");
	add_string_or_null(refs, "insuree_uuid", r != NULL ? r->insuree_uuid : NULL);
	add_string_or_null(refs, "chf_id", r != NULL ? r->chf_id : NULL);
	add_string_or_null(refs, "family_uuid", r != NULL ? r->family_uuid : NULL);
	add_string_or_null(refs, "policy_uuid", r != NULL ? r->policy_uuid : NULL);
	add_string_or_null(refs, "individual_uuid", r != NULL ? r->individual_uuid : NULL);
	add_string_or_null(refs, "beneficiary_uuid", r != NULL ? r->beneficiary_uuid : NULL);
	/* tries: every failure was one, and a success is one more */
	cJSON_AddNumberToObject(o, "attempts", j->dead ? j->attempts : j->attempts + 1);
	cJSON_AddNumberToObject(o, "duration_ms", (double)(il_timers_now_ms() - j->started_mono));
	add_string_or_null(o, "error_class", j->error_class);
	add_string_or_null(o, "error_message", j->error_message);
	cJSON_AddStringToObject(o, "source_topic", w->topic);
	cJSON_AddNumberToObject(o, "source_partition", j->partition);
	cJSON_AddNumberToObject(o, "source_offset", (double)j->offset);
	cJSON_AddStringToObject(o, "worker_id", w->env.worker_id);
	il_time_format_ms(il_event_now_ms(), when);
	cJSON_AddStringToObject(o, "processed_at", when);
	return o;
}

/* The job's openIMIS part is over: let its key move on and publish. */
static void
job_finish(il_worker *w, struct job *j)
{
	const il_enroll_result *r;

	if (j->enr != NULL && !j->dead) {
		r = il_enrollment_result(j->enr);
		j->outcome = r->outcome;
		if (r->outcome == IL_OUTCOME_FAILED) {
			/* openIMIS refused it for good: a dead letter, with its reason */
			job_dead(w, j, r->error_class != NULL ? r->error_class : "permanent",
			    r->error_class != NULL && strcmp(r->error_class, "mapping") == 0 ? "TRANSFORMATION" : "TASK_PUT",
			    r->error_message != NULL ? r->error_message : "openIMIS refused the event");
			return;
		}
		if (r->error_message != NULL)
			j->error_message = il_xstrdup(r->error_message);
	}
	il_metric_inc(w->m_events[j->outcome], 1);
	release_key(w, j);
	if (j->started) {
		j->started = false;
		w->nactive--;
	}
	publish(w, j);
}

/* Every report of the job's messages arrived (or a send failed before any
 * was queued): done, or published again later. */
static void
delivered(il_worker *w, struct job *j)
{
	if (j->abandoned) {
		job_drop(w, j);
		return;
	}
	if (j->delivery_failed) {
		/* both messages again: results are at-least-once anyway */
		job_timer(w, j, TIMER_REPUBLISH, il_timers_now_ms() + W_REPUBLISH_MS);
		return;
	}
	il_offsets_done(w->offsets, w->topic, j->partition, j->offset);
	job_free(w, j);
}

static il_err
send_dead_letter(il_worker *w, struct job *j)
{
	il_dlq_headers h;
	il_dlq_failure f = {
		.topic = w->topic, .partition = j->partition, .offset = j->offset,
		.connector = "imislink-enroll", .task = w->env.worker_id, .stage = j->stage,
		.error_class = j->error_class, .message = j->error_message, .attempts = j->attempts,
		.first_failure_ms = j->first_fail_ms, .last_failure_ms = j->last_fail_ms,
		.event_id = j->event_id[0] != '\0' ? j->event_id : NULL,
	};

	il_dlq_headers_fill(&h, &f);
	return il_producer_send(w->producer, w->dlq_topic, RD_KAFKA_PARTITION_UA,
	    j->has_key ? j->key : NULL, j->has_key ? j->keylen : 0, j->value, j->vallen, h.h, h.n, j,
	    W_SEND_BLOCK_MS);
}

/*
 * Sends the result, and the dead letter when there is one.  A send may wait
 * on a full queue and serve delivery reports meanwhile, the job's own
 * included: the job holds a count of its own until both are queued.
 */
static void
publish(il_worker *w, struct job *j)
{
	char errbuf[512];
	cJSON *json;
	il_err err = IL_OK;

	j->state = JOB_PUBLISH;
	j->delivery_failed = false;
	j->deliveries++;
	if (j->result.len == 0) {
		json = result_json(w, j);
		err = il_serde_encode(w->sd, w->results_topic, w->result_schema, json, &j->result, errbuf, sizeof(errbuf));
		cJSON_Delete(json);
		if (err != IL_OK) {
			il_buf_reset(&j->result);
			if (err != IL_ERR_TRANSIENT)
				set_fatal(w, err == IL_ERR_CONFIG ? err : IL_ERR_FATAL, errbuf);
			goto done;
		}
	}
	err = il_producer_send(w->producer, w->results_topic, RD_KAFKA_PARTITION_UA, j->key, j->keylen,
	    j->result.data, j->result.len, NULL, 0, j, W_SEND_BLOCK_MS);
	if (err != IL_OK)
		goto done;
	j->deliveries++;
	if (j->dead) {
		err = send_dead_letter(w, j);
		if (err == IL_OK)
			j->deliveries++;
	}
done:
	if (err == IL_ERR_FATAL || err == IL_ERR_INVALID) {
		snprintf(errbuf, sizeof(errbuf), "could not publish to Kafka: %s", il_err_str(err));
		set_fatal(w, IL_ERR_FATAL, errbuf);
	}
	if (err != IL_OK)
		j->delivery_failed = true;
	if (--j->deliveries == 0)
		delivered(w, j);
}

static void
on_delivery(void *opaque, il_err err, const char *errstr, const char *topic, int32_t partition,
    int64_t offset, void *ctx)
{
	struct job *j = opaque;
	il_worker *w = ctx;

	(void)partition;
	(void)offset;
	if (err != IL_OK) {
		il_log_warn("publishing failed; it is tried again", IL_STR("topic", topic), IL_STR("reason", errstr),
		    IL_STR("event_id", j->event_id));
		j->delivery_failed = true;
	}
	if (--j->deliveries == 0)
		delivered(w, j);
}

/* ---- the loop ---- */

static void
run_timers(il_worker *w, long long now)
{
	void *ctx;
	struct job *j;

	while ((ctx = il_timers_pop_due(w->timers, now)) != NULL) {
		if (ctx == w) {
			w->login_timer = false;
			start_login(w);
			continue;
		}
		j = ctx;
		j->timer_pending = false;
		if (j->abandoned) {
			job_drop(w, j);
			continue;
		}
		switch (j->timer) {
		case TIMER_REDECODE:
			job_start(w, j);
			break;
		case TIMER_REPUBLISH:
			publish(w, j);
			break;
		case TIMER_RETRY:
			j->state = JOB_GATE;
			line_push(&w->gate_head, &w->gate_tail, j);
			break;
		}
	}
}

static void
start_ready(il_worker *w)
{
	struct job *j;

	while (w->ready_head != NULL && w->nactive < (size_t)w->max_in_flight && w->fatal == IL_OK) {
		j = line_pop(&w->ready_head, &w->ready_tail);
		if (j->abandoned) {
			job_drop(w, j);
			continue;
		}
		job_start(w, j);
	}
}

static void
handle_message(il_worker *w, rd_kafka_message_t *msg)
{
	struct job *j;
	char errbuf[512];

	if (msg->err != RD_KAFKA_RESP_ERR_NO_ERROR) {
		if (msg->err != RD_KAFKA_RESP_ERR__PARTITION_EOF)
			il_log_warn("consumer error", IL_STR("reason", rd_kafka_message_errstr(msg)));
		if (il_consumer_fatal(w->consumer, errbuf, sizeof(errbuf)) != IL_OK)
			set_fatal(w, IL_ERR_FATAL, errbuf);
		return;
	}
	if (part_find(w, msg->partition) == NULL)
		return;  /* a late message of a partition already given up */
	if (!il_offsets_add(w->offsets, w->topic, msg->partition, msg->offset))
		return;  /* fetched again after a pause: already in work */
	il_metric_inc(w->m_messages, 1);
	j = job_new(w, msg);
	if (il_keyq_push(w->keyq, j->key, j->keylen, j)) {
		j->front = true;
		line_push(&w->ready_head, &w->ready_tail, j);
	}
}

static void
update_gauges(il_worker *w, long long now)
{
	il_metric_set(w->m_in_flight, (double)w->nactive);
	il_metric_set(w->m_buffered, (double)w->nlive);
	il_metric_set(w->m_breaker, w->breaker.state != IL_BREAKER_CLOSED ? 1 : 0);
	il_metric_set(w->m_rate, il_ratelimit_rate(w->rate, now));
	atomic_store(&w->in_flight_seen, (long)w->nactive);
}

/* One turn: fetch, start, time out, send, wait for answers, publish, commit. */
static void
turn(il_worker *w, bool consume, int max_wait_ms)
{
	rd_kafka_message_t *msg;
	long long now, next;
	int fetched = 0, wait;

	/* Polled even while paused: rebalances and the consumer's errors are
	 * served there.  Not while draining: that runs inside a rebalance. */
	while (consume && (msg = il_consumer_poll(w->consumer, 0)) != NULL) {
		handle_message(w, msg);
		rd_kafka_message_destroy(msg);
		if (++fetched >= 1000 || (size_t)w->nlive >= (size_t)w->max_buffered)
			break;
	}
	start_ready(w);
	now = il_timers_now_ms();
	run_timers(w, now);
	pump_gate(w, now);
	wait = fetched > 0 ? 0 : max_wait_ms;
	next = il_timers_next(w->timers);
	if (next >= 0 && next - now < wait)
		wait = next < now ? 0 : (int)(next - now);
	if (w->gate_head != NULL && w->auth != NULL && w->breaker.state != IL_BREAKER_PROBING) {
		long long rw = il_ratelimit_wait_ms(w->rate, now);

		if (w->breaker.state == IL_BREAKER_OPEN && w->breaker.next_probe_ms - now > rw)
			rw = w->breaker.next_probe_ms - now;
		if (rw < wait)
			wait = rw < 0 ? 0 : (int)rw;
	}
	il_curlm_run(w->curl, wait);
	il_producer_poll(w->producer, 0);
}

static bool
draining(il_worker *w, const struct job *j, bool all)
{
	const struct part *p;

	if (all)
		return true;
	p = part_find(w, j->partition);
	return p == NULL || p->revoking;
}

/*
 * Gives up the jobs of the revoking partitions (@p all: of every partition)
 * within @p timeout_ms: running enrollments may finish meanwhile (the loop
 * runs without fetching), what waits (not started, backing off, openIMIS
 * down) is abandoned at once; then the results already sent are flushed and
 * the commit points committed.  An abandoned job leaves no outcome and no
 * commit: whoever gets the partition next does it again, safely.
 */
static void
drain(il_worker *w, bool all, long long timeout_ms)
{
	long long deadline = il_timers_now_ms() + timeout_ms;
	struct job *j, *next;
	bool busy;
	size_t i;

	for (;;) {
		busy = false;
		for (j = w->live.next; j != &w->live; j = j->next) {
			if (!draining(w, j, all) || j->abandoned || j->state == JOB_PUBLISH)
				continue;
			if (!j->started || j->state == JOB_TIMER || j->state == JOB_LOGIN ||
			    (j->state == JOB_GATE && w->breaker.state != IL_BREAKER_CLOSED))
				j->abandoned = true;
			else
				busy = true;
		}
		if (!busy || il_timers_now_ms() >= deadline || w->fatal != IL_OK)
			break;
		turn(w, false, W_IDLE_MS);
	}
	il_producer_flush(w->producer, 10000);
	/* Whatever is left goes, reports still outstanding included: the next
	 * owner of the partition must not see this job's offset marked done. */
	for (j = w->live.next; j != &w->live; j = j->next)
		if (draining(w, j, all))
			j->abandoned = true;
	/* Keys leave the queue a whole line at a time, unless a call of the line
	 * is still out: then the line moves on when it returns (job_drop), and
	 * a re-fetched event of the key waits behind it, as order demands. */
	for (j = w->live.next; j != &w->live; j = j->next) {
		struct job *k = j, *after;

		if (!j->abandoned || !j->front || j->key_released || j->state == JOB_CALL)
			continue;
		while (k != NULL && !k->key_released) {
			k->key_released = true;
			after = il_keyq_finish(w->keyq, k->key, k->keylen, k);
			if (after != NULL && !after->abandoned) {
				after->front = true;
				line_push(&w->ready_head, &w->ready_tail, after);
				break;
			}
			if (after != NULL)
				after->front = true;
			k = after;
		}
	}
	/* Once the group refused one commit (this member is gone from it), the
	 * others would be refused too, each after a wait. */
	for (i = 0; i < w->nparts; i++)
		if ((all || w->parts[i].revoking) && !commit_partition(w, &w->parts[i], true))
			break;
	/* What waits for nothing goes now; the rest leaves its line, call or
	 * delivery report later (job_drop). */
	for (j = w->live.next; j != &w->live; j = next) {
		next = j->next;
		if (j->abandoned && j->key_released && j->state != JOB_CALL && j->deliveries == 0 && !j->in_line)
			job_free(w, j);
	}
}

static void
on_rebalance(il_consumer *c, bool assigned, const rd_kafka_topic_partition_list_t *parts, void *ctx)
{
	il_worker *w = ctx;
	struct part *p;
	size_t k;
	int i;

	(void)c;
	for (i = 0; i < parts->cnt; i++) {
		int32_t partition = parts->elems[i].partition;

		if (strcmp(parts->elems[i].topic, w->topic) != 0)
			continue;
		p = part_find(w, partition);
		if (assigned) {
			if (p == NULL && w->nparts < W_MAX_PARTS) {
				p = &w->parts[w->nparts++];
				p->partition = partition;
			}
			if (p == NULL)
				continue;
			p->committed = -1;
			p->revoking = false;
			/* A re-assigned partition comes back running (kafka.h). */
			if (w->paused)
				il_consumer_pause(w->consumer, w->topic, partition);
			continue;
		}
		if (p != NULL)
			p->revoking = true;
	}
	if (!assigned) {
		il_log_info("partitions revoked: finishing their work", IL_INT("count", parts->cnt),
		    IL_INT("timeout_ms", w->shutdown_ms));
		drain(w, false, w->shutdown_ms);
		for (k = 0; k < w->nparts;) {
			if (!w->parts[k].revoking) {
				k++;
				continue;
			}
			il_offsets_forget(w->offsets, w->topic, w->parts[k].partition);
			w->parts[k] = w->parts[--w->nparts];
		}
	}
	il_log_info(assigned ? "partitions assigned" : "partitions given up", IL_INT("count", parts->cnt),
	    IL_INT("assigned_now", (long long)w->nparts));
}

il_health
il_worker_health(il_buf *out, void *ctx)
{
	il_worker *w = ctx;
	int h = atomic_load(&w->health);

	if (il_buf_printf(out, "\"openimis\":\"%s\",\"in_flight\":%ld", atomic_load(&w->breaker_open) ? "down" : "up",
	    (long)atomic_load(&w->in_flight_seen)) != IL_OK)
		return IL_HEALTH_DEGRADED;
	return (il_health)h;
}

il_err
il_worker_run(il_worker *w, char *errbuf, size_t errsz)
{
	const char *topics[1] = { w->topic };
	long long now, last_commit = il_timers_now_ms(), last_gauge = 0, last_trim = il_timers_now_ms();

	/* Stopped while starting: joining the group only to leave it again
	 * would make the other workers rebalance twice for nothing. */
	if (il_sig_stop_requested() && w->fatal == IL_OK)
		return IL_OK;
	if (il_consumer_subscribe(w->consumer, topics, 1, errbuf, errsz) != IL_OK)
		return IL_ERR_FATAL;
	il_log_info("consuming", IL_STR("topic", w->topic), IL_STR("group", il_conf_get(w->env.conf, "kafka.group.id")),
	    IL_INT("max_in_flight", w->max_in_flight));
	while (!il_sig_stop_requested() && w->fatal == IL_OK) {
		if (il_sig_take_reload() && w->env.reload != NULL)
			w->env.reload(w->env.reload_ctx);
		turn(w, true, W_IDLE_MS);
		now = il_timers_now_ms();
		if (now - last_commit >= W_COMMIT_EVERY_MS) {
			commit_all(w, false);
			last_commit = now;
		}
		/* Jobs are freed on this thread while librdkafka's threads free
		 * what they allocated: glibc keeps the holes, and over millions of
		 * events the resident size creeps up unless they are given back. */
		if (now - last_trim >= W_TRIM_EVERY_MS) {
			malloc_trim(0);
			last_trim = now;
		}
		if (now - last_gauge >= W_GAUGE_EVERY_MS) {
			update_pause(w);
			update_gauges(w, now);
			last_gauge = now;
		}
	}
	il_log_info("stopping: finishing in-flight work", IL_INT("in_flight", (long long)w->nactive),
	    IL_INT("timeout_ms", w->shutdown_ms));
	if (w->nparts > 0)
		pause_all(w, true);
	drain(w, true, w->fatal == IL_OK ? w->shutdown_ms : 0);
	if (w->fatal != IL_OK) {
		il_err_setf(errbuf, errsz, "%s", w->fatal_msg);
		return w->fatal;
	}
	return IL_OK;
}

/* ---- start: login and reference data ---- */

struct sync_call {
	bool done;
	il_err err;
	long status;
	il_buf body;
	char errstr[256];
};

static void
on_sync_done(const il_curlm_result *r, void *ctx)
{
	struct sync_call *s = ctx;

	s->done = true;
	s->err = r->err;
	s->status = r->status;
	snprintf(s->errstr, sizeof(s->errstr), "%s", r->errstr);
	il_buf_reset(&s->body);
	/* An answer over the buffer reads as empty, which no parser takes. */
	if (r->body_len > 0 && il_buf_add(&s->body, r->body, r->body_len) != IL_OK)
		il_buf_reset(&s->body);
}

static il_err login_sync(il_worker *w, struct sync_call *s, char *errbuf, size_t errsz);

/* One call, waiting for it, retried while openIMIS fails transiently; an
 * expired token is renewed once.  A stop ends it at once, even between
 * answers that succeed: start-up makes a few calls per village of the
 * mapping, and at the client-side rate limit (2 per second by default) a
 * large mapping takes many minutes, which a SIGTERM must not wait for.  A
 * call left unanswered stays with libcurl: @p s belongs to the worker, so its
 * callback may still run (at the latest in il_curlm_destroy()). */
static il_err
call_sync(il_worker *w, const char *method, const char *path, const char *body, struct sync_call *s)
{
	bool login = strcmp(path, IL_IMIS_PATH_LOGIN) == 0, renewed = false;
	char *url = il_xasprintf("%s%s", w->api_url, path);
	const char *headers[3];
	int attempt = 0;
	il_imis_class cls;
	il_err err = IL_OK;
	char msg[256];
	size_t n;

	for (;;) {
		long long wait;

		n = 0;
		if (w->auth != NULL && !login)
			headers[n++] = w->auth;
		headers[n++] = "Accept: application/json";
		if (body != NULL)
			headers[n++] = "Content-Type: application/json";
		while ((wait = il_ratelimit_wait_ms(w->rate, il_timers_now_ms())) > 0 && !il_sig_stop_requested())
			il_curlm_run(w->curl, (int)(wait > 100 ? 100 : wait));
		if (il_sig_stop_requested()) {
			err = IL_ERR_CANCELLED;
			goto out;
		}
		il_ratelimit_take(w->rate, il_timers_now_ms());
		s->done = false;
		if (il_curlm_submit(w->curl, method, url, headers, n, body, body != NULL ? strlen(body) : 0,
		    on_sync_done, s) != IL_OK) {
			err = IL_ERR_CONFIG;
			goto out;
		}
		while (!s->done && !il_sig_stop_requested())
			il_curlm_run(w->curl, 100);
		if (!s->done) {
			err = IL_ERR_CANCELLED;
			goto out;
		}
		cls = s->err == IL_OK ? il_imis_classify(s->status, strcmp(method, "GET") == 0,
		    s->body.data != NULL ? s->body.data : "", s->body.len, msg, sizeof(msg)) : IL_IMIS_TRANSIENT;
		if (cls == IL_IMIS_UNAUTHORIZED && !login && !renewed) {
			char errbuf[512];

			renewed = true;
			err = login_sync(w, s, errbuf, sizeof(errbuf));
			if (err != IL_OK)
				goto out;
			continue;
		}
		if (cls != IL_IMIS_TRANSIENT && cls != IL_IMIS_RATE_LIMITED)
			break;
		if (cls == IL_IMIS_RATE_LIMITED)
			il_ratelimit_throttled(w->rate, il_timers_now_ms());
		if (il_sig_stop_requested()) {
			err = IL_ERR_CANCELLED;
			goto out;
		}
		attempt++;
		il_log_warn("openIMIS not ready; trying again", IL_STR("path", path), IL_INT("status", s->status),
		    IL_STR("reason", s->err == IL_OK ? msg : s->errstr), IL_INT("attempt", attempt));
		wait = il_retry_backoff_ms(attempt, w->backoff_ms, w->backoff_max_ms, &w->rng);
		for (long long until = il_timers_now_ms() + wait; il_timers_now_ms() < until && !il_sig_stop_requested();)
			il_curlm_run(w->curl, 100);
	}
out:
	free(url);
	return err;
}

static il_err
login_sync(il_worker *w, struct sync_call *s, char *errbuf, size_t errsz)
{
	char *body = il_imis_login_body(il_conf_get(w->env.conf, "openimis.username"),
	    il_conf_get(w->env.conf, "openimis.password"));
	char *token = NULL;
	long long exp = 0;
	il_err err;

	free(w->auth);
	w->auth = NULL;
	err = call_sync(w, "POST", IL_IMIS_PATH_LOGIN, body, s);
	free(body);
	if (err != IL_OK)
		return err;
	if (s->status != 200 || il_imis_parse_login(s->body.data, s->body.len, &token, &exp) != IL_OK) {
		il_err_setf(errbuf, errsz, "openIMIS refused the login of user \"%s\" (HTTP %ld): check "
		    "openimis.username and openimis.password; openIMIS locks a user out after 5 failed logins, "
		    "so the worker does not try again", il_conf_get(w->env.conf, "openimis.username"), s->status);
		return IL_ERR_CONFIG;
	}
	w->auth = il_xasprintf("Authorization: Bearer %s", token);
	free(token);
	il_log_info("logged in to openIMIS", IL_STR("url", il_conf_get(w->env.conf, "openimis.api.url")),
	    IL_STR("user", il_conf_get(w->env.conf, "openimis.username")), IL_INT("token_expiry", exp));
	return IL_OK;
}

/* Looks a Location up by code or UUID; IL_ERR_NOTFOUND when openIMIS has none. */
static il_err
location(il_worker *w, struct sync_call *s, const char *ident, char uuid[IL_IMIS_UUID_LEN],
    char *name, size_t namesz, char *type, char parent[IL_IMIS_UUID_LEN])
{
	char *path = il_xasprintf("%s?identifier=%s", IL_IMIS_PATH_LOCATION, ident);
	char code[64];
	il_err err = call_sync(w, "GET", path, NULL, s);

	free(path);
	if (err != IL_OK)
		return err;
	if (s->status != 200)
		return IL_ERR_NOTFOUND;
	return il_imis_parse_location(s->body.data, s->body.len, uuid, code, sizeof(code), name, namesz,
	    type, 8, parent);
}

static il_err
resolve_village(il_worker *w, struct sync_call *s, const char *code)
{
	il_imis_village v;
	char type[8], parent[IL_IMIS_UUID_LEN], uuid[IL_IMIS_UUID_LEN];
	char *levels[3];
	size_t i;
	il_err err;

	memset(&v, 0, sizeof(v));
	snprintf(v.code, sizeof(v.code), "%s", code);
	err = location(w, s, code, v.uuid, v.name, sizeof(v.name), type, parent);
	if (err == IL_ERR_CANCELLED || err == IL_ERR_CONFIG)
		return err;
	if (err != IL_OK || strcmp(type, "V") != 0) {
		il_log_warn("village of the mapping unknown to openIMIS: its events will be dead-lettered",
		    IL_STR("village", code), IL_STR("reason", err != IL_OK ? il_err_str(err) : "not a village"));
		return IL_OK;
	}
	/* The address names its ward, district and region: the parents, in order. */
	levels[0] = v.municipality;
	levels[1] = v.district;
	levels[2] = v.region;
	for (i = 0; i < 3 && parent[0] != '\0'; i++) {
		char next[IL_IMIS_UUID_LEN];

		snprintf(next, sizeof(next), "%s", parent);
		err = location(w, s, next, uuid, levels[i], sizeof(v.name), type, parent);
		if (err == IL_ERR_CANCELLED || err == IL_ERR_CONFIG)
			return err;
		if (err != IL_OK)
			break;
	}
	il_catalog_add_village(w->catalog, &v);
	return IL_OK;
}

static il_err
resolve_codes(il_worker *w, struct sync_call *s, const char *const *codes, size_t n, bool officer)
{
	char uuid[IL_IMIS_UUID_LEN], *path;
	size_t i;
	il_err err;

	for (i = 0; i < n; i++) {
		path = officer ? il_xasprintf("%s?resourceType=eo&code=%s", IL_IMIS_PATH_OFFICER, codes[i])
		    : il_xasprintf("%s?identifier=%s", IL_IMIS_PATH_PRODUCT, codes[i]);
		err = call_sync(w, "GET", path, NULL, s);
		free(path);
		if (err != IL_OK)
			return err;
		if (s->status != 200 || il_imis_parse_first_uuid(s->body.data, s->body.len, uuid) != IL_OK) {
			il_log_warn(officer ? "enrolment officer of the mapping unknown to openIMIS: its events will be dead-lettered"
			    : "product of the mapping unknown to openIMIS: its events will be dead-lettered",
			    IL_STR("code", codes[i]), IL_INT("status", s->status));
			continue;
		}
		if (officer)
			il_catalog_add_officer(w->catalog, codes[i], uuid);
		else
			il_catalog_add_product(w->catalog, codes[i], uuid);
	}
	return IL_OK;
}

il_err
il_worker_prepare(il_worker *w, char *errbuf, size_t errsz)
{
	const char *const *codes;
	struct sync_call *s;
	size_t i, n;
	il_err err;

	/* The worker's, not on this stack: a stop may leave a call in flight
	 * (see call_sync()), whose callback still writes here.  Its buffer
	 * goes below when no call is left, else with the worker after libcurl. */
	if (w->sync == NULL) {
		w->sync = il_xcalloc(1, sizeof(*w->sync));
		il_buf_init(&w->sync->body, 4 << 20);
	}
	s = w->sync;
	err = login_sync(w, s, errbuf, errsz);
	codes = il_mapping_villages(w->env.mapping, &n);
	for (i = 0; err == IL_OK && i < n; i++)
		err = resolve_village(w, s, codes[i]);
	if (err == IL_OK) {
		codes = il_mapping_officers(w->env.mapping, &n);
		err = resolve_codes(w, s, codes, n, true);
	}
	if (err == IL_OK) {
		codes = il_mapping_products(w->env.mapping, &n);
		err = resolve_codes(w, s, codes, n, false);
	}
	if (s->done)
		il_buf_free(&s->body);
	if (err == IL_ERR_CANCELLED)
		il_err_setf(errbuf, errsz, "stopped before openIMIS was ready");
	else if (err == IL_OK)
		atomic_store(&w->health, IL_HEALTH_OK);
	else if (errbuf[0] == '\0')
		il_err_setf(errbuf, errsz, "openimis.api.url: libcurl refuses the URLs made from it");
	return err;
}

/* ---- construction ---- */

static void
make_metrics(il_worker *w)
{
	static const double bounds[] = { 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30 };
	il_metrics *m = w->env.metrics;
	char labels[64];
	size_t i;

	for (i = 0; i <= IL_OUTCOME_FAILED; i++) {
		il_metrics_label(labels, sizeof(labels), "outcome", il_enroll_outcome_name((il_enroll_outcome)i));
		w->m_events[i] = il_metrics_counter(m, "imislink_enroll_events_total",
		    "Events finished, by outcome (FAILED: dead-lettered)", labels);
	}
	for (i = 0; i < 4; i++) {
		il_metrics_label(labels, sizeof(labels), "class", dead_classes[i]);
		w->m_dead[i] = il_metrics_counter(m, "imislink_enroll_dead_letters_total",
		    "Events sent to the dead-letter topic, by error class", labels);
	}
	w->m_in_flight = il_metrics_gauge(m, "imislink_enroll_in_flight", "Enrollments running now", NULL);
	w->m_calls_in_flight = il_metrics_gauge(m, "imislink_openimis_calls_in_flight", "openIMIS calls waiting for an answer", NULL);
	w->m_buffered = il_metrics_gauge(m, "imislink_enroll_buffered", "Events held: running, waiting behind their key, or publishing", NULL);
	w->m_retries = il_metrics_counter(m, "imislink_openimis_retries_total", "Transient openIMIS failures retried", NULL);
	w->m_throttled = il_metrics_counter(m, "imislink_openimis_throttled_total", "429 answers (rate limited by openIMIS)", NULL);
	w->m_breaker = il_metrics_gauge(m, "imislink_openimis_breaker_open", "1 while openIMIS counts as down (fetching paused, probing)", NULL);
	w->m_breaker_opens = il_metrics_counter(m, "imislink_openimis_breaker_opens_total", "Times openIMIS was found down", NULL);
	w->m_rate = il_metrics_gauge(m, "imislink_openimis_rate_limit_per_second", "Effective client-side rate limit", NULL);
	w->m_messages = il_metrics_counter(m, "imislink_enroll_messages_total", "Messages fetched from the eligibility topic", NULL);
	w->m_commits = il_metrics_counter(m, "imislink_enroll_commits_total", "Offset commits sent", NULL);
	w->m_paused = il_metrics_gauge(m, "imislink_enroll_fetch_paused", "1 while fetching is paused (buffer full or openIMIS down)", NULL);
	w->m_duration = il_metrics_histogram(m, "imislink_openimis_call_seconds", "Duration of openIMIS calls", NULL,
	    bounds, sizeof(bounds) / sizeof(bounds[0]));
}

il_worker *
il_worker_new(const il_worker_env *env, char *errbuf, size_t errsz)
{
	il_worker *w = il_xcalloc(1, sizeof(*w));
	const il_conf *conf = env->conf;
	const char *url = il_conf_get(conf, "openimis.api.url");
	il_curlm_opts copts;

	w->env = *env;
	w->live.next = w->live.prev = &w->live;
	w->topic = il_conf_get(conf, "topic.eligibility");
	w->results_topic = il_conf_get(conf, "topic.results");
	w->dlq_topic = il_conf_get(conf, "topic.dlq");
	w->api_url = il_xasprintf("%s%s", url, url[0] != '\0' && url[strlen(url) - 1] == '/' ? "" : "/");
	w->max_in_flight = il_conf_get_int(conf, "enroll.max.in.flight");
	w->max_buffered = il_conf_get_int(conf, "enroll.max.buffered");
	if (w->max_buffered < w->max_in_flight)
		w->max_buffered = w->max_in_flight;
	w->backoff_ms = il_conf_get_int(conf, "openimis.retry.backoff.ms");
	w->backoff_max_ms = il_conf_get_int(conf, "openimis.retry.backoff.max.ms");
	w->budget_ms = il_conf_get_int(conf, "openimis.retry.budget.ms");
	w->shutdown_ms = il_conf_get_int(conf, "enroll.shutdown.timeout.ms");
	w->rng = (uint64_t)il_timers_now_ms() * 0x9E3779B97F4A7C15ull ^ (uint64_t)getpid();
	atomic_store(&w->health, IL_HEALTH_DOWN);
	make_metrics(w);
	w->result_schema = il_schema_set_latest(env->schemas, "EnrollmentResult");
	if (w->result_schema == NULL) {
		il_err_setf(errbuf, errsz, "schemas.dir: no EnrollmentResult schema in \"%s\"", il_conf_get(conf, "schemas.dir"));
		goto fail;
	}
	w->sd = il_serde_new(conf, env->schemas, errbuf, errsz);
	if (w->sd == NULL)
		goto fail;
	w->producer = il_producer_new(conf, on_delivery, w, errbuf, errsz);
	if (w->producer == NULL)
		goto fail;
	w->consumer = il_consumer_new(conf, il_conf_get(conf, "kafka.group.id"), on_rebalance, w, errbuf, errsz);
	if (w->consumer == NULL)
		goto fail;
	copts = (il_curlm_opts){
		.timeout_ms = il_conf_get_int(conf, "openimis.timeout.ms"),
		.connect_timeout_ms = il_conf_get_int(conf, "openimis.timeout.ms"),
		.max_body = 4 << 20,
		.max_host_connections = w->max_in_flight + 8,
	};
	w->curl = il_curlm_new(&copts);
	w->rate = il_ratelimit_new((double)il_conf_get_int(conf, "openimis.calls.per.second"),
	    (double)il_conf_get_int(conf, "openimis.calls.per.second"), il_timers_now_ms());
	il_breaker_init(&w->breaker, (int)il_conf_get_int(conf, "openimis.breaker.failures"),
	    il_conf_get_int(conf, "openimis.breaker.probe.ms"));
	w->timers = il_timers_new();
	w->keyq = il_keyq_new();
	w->offsets = il_offsets_new();
	w->catalog = il_catalog_new();
	return w;
fail:
	il_worker_destroy(w);
	return NULL;
}

void
il_worker_destroy(il_worker *w)
{
	struct job *j, *next;

	if (w == NULL)
		return;
	/* The consumer first: leaving the group runs the revocation (drain). */
	il_consumer_destroy(w->consumer);
	w->consumer = NULL;
	/* Calls still running are cancelled: their jobs are freed below. */
	for (j = w->live.next; j != &w->live && j != NULL; j = j->next)
		j->abandoned = true;
	il_curlm_destroy(w->curl);
	w->curl = NULL;
	if (w->sync != NULL)
		il_buf_free(&w->sync->body);
	free(w->sync);
	il_producer_destroy(w->producer);
	w->producer = NULL;
	for (j = w->live.next; j != &w->live && j != NULL; j = next) {
		next = j->next;
		j->started = false;
		job_free(w, j);
	}
	il_serde_destroy(w->sd);
	il_ratelimit_destroy(w->rate);
	il_timers_destroy(w->timers);
	il_keyq_destroy(w->keyq);
	il_offsets_destroy(w->offsets);
	il_catalog_destroy(w->catalog);
	free(w->call_metrics);
	free(w->api_url);
	free(w->auth);
	free(w);
}
