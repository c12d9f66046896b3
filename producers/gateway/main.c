/*
 * main.c - imislink-gateway: the DCI push gateway.  openSPP, or any registry
 * that speaks DCI, pushes individuals here and they become EligibilityEvents
 * on topic.eligibility.
 *
 * A request is answered 2xx only once Kafka confirmed every event of it
 * (acks=all): the handler thread sends, then waits on a condition variable
 * that the delivery reports signal; one poller thread serves the producer's
 * reports for every handler.  A request whose deliveries fail or do not
 * finish within gateway.delivery.timeout.ms gets 503; its events may still
 * arrive later, as repeats a consumer recognises by event id.
 */
#include <errno.h>
#include <malloc.h>
#include <poll.h>
#include <stdarg.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <openssl/crypto.h>
#include <openssl/evp.h>
#include <openssl/rand.h>

#include "avro.h"
#include "buf.h"
#include "cli.h"
#include "daemon.h"
#include "dci.h"
#include "event.h"
#include "jwt.h"
#include "kafka.h"
#include "log.h"
#include "ratelimit.h"
#include "serde.h"
#include "sig.h"
#include "text.h"
#include "xalloc.h"

/* How often the main loop looks at the signal flags. */
#define GW_TICK_MS 100
/* Longest wait of one poll of the producer (bounds how late a stop is seen). */
#define GW_POLL_MS 100
/* Room for every field problem of one request. */
#define GW_PROBLEMS_BYTES 16384
/* Envelopes remembered for rjct.message_id.duplicate. */
#define GW_SEEN_CAP 65536
/* Longest Idempotency-Key taken into an event's position. */
#define GW_IDEMPOTENCY_MAX 128
/* Lines of a tokens or clients file, and their length. */
#define GW_SECRETS_MAX 10000
#define GW_LINE_MAX 1024

static const char *const gw_latency_labels[] = { "individual", "notify", "token" };
static const double gw_latency_bounds[] = {
	0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30,
};

static const il_daemon_info gw_info = {
	"imislink-gateway",
	"0.1.0",
	"DCI push gateway: openSPP individuals and SPDCI notify envelopes to Kafka",
	"Endpoints (http.address:http.port), each POST with a bearer token:\n"
	"  POST /registry/individual[?programme_id=N]  the openSPP individual body;\n"
	"      202 {\"event_id\"} once Kafka confirmed it, 400 with every field error,\n"
	"      401, 413 (over http.max.body.bytes), 429, 503 (Kafka cannot take it)\n"
	"  POST /registry/notify  the SPDCI envelope; answered with the DCI\n"
	"      acknowledgement once every record is durable, rjct.* / err.* otherwise\n"
	"  POST /oauth2/client/token  OAuth2 client credentials (form or HTTP Basic)\n"
	"      from gateway.oauth.clients.file: an HS256 token valid\n"
	"      gateway.token.lifetime.s\n"
	"  GET /metrics, GET /healthz\n"
	"Bearer tokens: the lines of gateway.tokens.file, or tokens issued above.\n"
	"Not supported: /registry/sync/search, /registry/subscribe.\n"
	"Runs until SIGINT or SIGTERM; SIGHUP reloads the log level.",
	NULL,
};

/* The deliveries one request waits for. */
struct gw_wait {
	pthread_cond_t cond;    /* signalled when pending reaches 0 */
	int pending;            /* messages not yet reported */
	int failed;             /* messages reported as not delivered */
	bool abandoned;         /* the handler gave up: the last report frees it */
	char reason[256];       /* first failure */
};

struct gw_client {
	char *id;
	char *secret;
};

struct gateway {
	const il_conf *conf;
	il_metrics *metrics;
	const il_schema *schema;        /* EligibilityEvent, latest */
	il_event_ctx ectx;
	const char *topic;
	const char *sender_id;
	long long programme_id;         /* 0: none configured */
	long long delivery_timeout_ms;
	long long token_lifetime_s;

	pthread_mutex_t serde_mu;       /* il_serde is not thread-safe */
	il_serde *sd;

	il_producer *p;
	pthread_t poller;
	bool poller_started;
	atomic_bool stop;
	atomic_bool kafka_failing;      /* the last delivery report was a failure */

	pthread_mutex_t mu;             /* waits, the rate limit, the envelope memory */
	il_ratelimit *rl;
	il_dci_seen *seen;

	char **tokens;                  /* static bearer tokens */
	size_t ntokens;
	struct gw_client *clients;      /* OAuth2 clients */
	size_t nclients;
	unsigned char key[64];          /* HS256 key of issued tokens */
	size_t keylen;

	il_metric *published;
	il_metric *failures;
	il_metric *latency[3];
};

/* One route: its metric name and handler. */
struct gw_route {
	struct gateway *gw;
	const char *endpoint;   /* label value */
	int latency;            /* index into gateway.latency */
	void (*fn)(struct gateway *gw, const il_http_request *req, il_http_response *resp);
};

static long long
now_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (long long)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

/* Answers @p status with the JSON text of @p j, which it frees. */
static void
reply_json(il_http_response *resp, int status, cJSON *j)
{
	char *text = j != NULL ? cJSON_PrintUnformatted(j) : NULL;

	resp->status = text != NULL ? status : 500;
	if (il_buf_adds(&resp->body, text != NULL ? text : "{\"error\":\"out of memory\"}") != IL_OK) {
		il_buf_reset(&resp->body);
		resp->status = 500;
		if (il_buf_adds(&resp->body, "{\"error\":\"answer too large\"}") != IL_OK)
			il_buf_reset(&resp->body);
	}
	cJSON_free(text);
	cJSON_Delete(j);
}

/* Answers {"error": @p error, "message": @p message}. */
static void
reply_error(il_http_response *resp, int status, const char *error, const char *message)
{
	cJSON *j = cJSON_CreateObject();

	cJSON_AddStringToObject(j, "error", error);
	if (message != NULL)
		cJSON_AddStringToObject(j, "message", message);
	reply_json(resp, status, j);
}

/* ---- files of secrets ---- */

/* Reads the non-empty, non-comment lines of @p path, trimmed, into @p lines. */
static il_err
read_lines(const char *path, char ***lines, size_t *n, char *errbuf, size_t errsz)
{
	char buf[GW_LINE_MAX + 2];
	size_t len;
	FILE *fp;
	char *s;

	*lines = NULL;
	*n = 0;
	fp = fopen(path, "r");
	if (fp == NULL) {
		snprintf(errbuf, errsz, "could not open file \"%s\": %s", path, strerror(errno));
		return IL_ERR_IO;
	}
	while (fgets(buf, sizeof(buf), fp) != NULL) {
		len = strlen(buf);
		if (len > GW_LINE_MAX || *n >= GW_SECRETS_MAX) {
			snprintf(errbuf, errsz, "could not read file \"%s\": more than %d lines or a line over %d bytes",
			    path, GW_SECRETS_MAX, GW_LINE_MAX);
			fclose(fp);
			return IL_ERR_INVALID;
		}
		while (len > 0 && (buf[len - 1] == '\n' || buf[len - 1] == '\r' || buf[len - 1] == ' ' ||
		    buf[len - 1] == '\t'))
			buf[--len] = '\0';
		s = buf + strspn(buf, " \t");
		if (*s == '\0' || *s == '#')
			continue;
		*lines = il_xrealloc(*lines, (*n + 1) * sizeof(**lines));
		(*lines)[(*n)++] = il_xstrdup(s);
	}
	fclose(fp);
	return IL_OK;
}

static void
free_lines(char **lines, size_t n)
{
	size_t i;

	for (i = 0; i < n; i++) {
		OPENSSL_cleanse(lines[i], strlen(lines[i]));
		free(lines[i]);
	}
	free(lines);
}

/* Loads gateway.tokens.file and gateway.oauth.clients.file. */
static il_err
load_secrets(struct gateway *gw, char *errbuf, size_t errsz)
{
	const char *tokens = il_conf_get(gw->conf, "gateway.tokens.file");
	const char *clients = il_conf_get(gw->conf, "gateway.oauth.clients.file");
	char **lines = NULL, *colon;
	size_t n = 0, i;
	il_err err;

	if (tokens[0] != '\0') {
		err = read_lines(tokens, &gw->tokens, &gw->ntokens, errbuf, errsz);
		if (err != IL_OK)
			return err;
	}
	if (clients[0] != '\0') {
		err = read_lines(clients, &lines, &n, errbuf, errsz);
		if (err != IL_OK)
			return err;
		gw->clients = il_xcalloc(n > 0 ? n : 1, sizeof(*gw->clients));
		for (i = 0; i < n; i++) {
			colon = strchr(lines[i], ':');
			if (colon == NULL || colon == lines[i] || colon[1] == '\0') {
				snprintf(errbuf, errsz, "invalid line %zu of file \"%s\": expected client_id:client_secret",
				    i + 1, clients);
				free_lines(lines, n);
				return IL_ERR_INVALID;
			}
			gw->clients[i].id = il_xstrndup(lines[i], (size_t)(colon - lines[i]));
			gw->clients[i].secret = il_xstrdup(colon + 1);
			gw->nclients++;
		}
		free_lines(lines, n);
	}
	if (gw->ntokens == 0 && gw->nclients == 0) {
		snprintf(errbuf, errsz, "the gateway accepts no credentials: set gateway.tokens.file or "
		    "gateway.oauth.clients.file (a file with at least one entry)");
		return IL_ERR_CONFIG;
	}
	return IL_OK;
}

/* ---- authentication ---- */

static bool
equal_secret(const char *a, const char *b)
{
	size_t la = strlen(a), lb = strlen(b);

	return la == lb && CRYPTO_memcmp(a, b, la) == 0;
}

/* Checks the bearer token of @p req; @returns the client's name in @p who or false. */
static bool
authenticate(struct gateway *gw, const il_http_request *req, char *who, size_t whosz)
{
	const char *auth = il_http_header(req, "Authorization"), *token;
	char errbuf[256];
	const cJSON *sub;
	cJSON *claims = NULL;
	size_t i;

	if (auth == NULL || strncasecmp(auth, "Bearer ", 7) != 0)
		return false;
	token = auth + 7 + strspn(auth + 7, " ");
	for (i = 0; i < gw->ntokens; i++) {
		if (equal_secret(token, gw->tokens[i])) {
			snprintf(who, whosz, "token%zu", i + 1);
			return true;
		}
	}
	if (gw->nclients == 0 || il_jwt_check(gw->key, gw->keylen, token, (long long)time(NULL), &claims,
	    errbuf, sizeof(errbuf)) != IL_OK)
		return false;
	sub = cJSON_GetObjectItemCaseSensitive(claims, "sub");
	snprintf(who, whosz, "%s", cJSON_IsString(sub) ? sub->valuestring : "client");
	cJSON_Delete(claims);
	return true;
}

/* Decodes application/x-www-form-urlencoded @p s of @p n bytes into @p out. */
static bool
form_decode(const char *s, size_t n, char *out, size_t outsz)
{
	size_t i, o = 0;
	unsigned v;

	for (i = 0; i < n; i++) {
		if (o + 1 >= outsz)
			return false;
		if (s[i] == '+') {
			out[o++] = ' ';
		} else if (s[i] == '%') {
			if (i + 2 >= n || il_text_hex_digit(s[i + 1]) < 0 || il_text_hex_digit(s[i + 2]) < 0)
				return false;
			v = (unsigned)(il_text_hex_digit(s[i + 1]) * 16 + il_text_hex_digit(s[i + 2]));
			if (v == 0)
				return false;
			out[o++] = (char)v;
			i += 2;
		} else {
			out[o++] = s[i];
		}
	}
	out[o] = '\0';
	return true;
}

/* Finds @p name in the form @p body; @returns whether it was there and decoded. */
static bool
form_get(const char *body, const char *name, char *out, size_t outsz)
{
	const char *p = body, *amp, *eq;
	size_t nl = strlen(name);

	while (*p != '\0') {
		amp = strchr(p, '&');
		if (amp == NULL)
			amp = p + strlen(p);
		eq = memchr(p, '=', (size_t)(amp - p));
		if (eq != NULL && (size_t)(eq - p) == nl && memcmp(p, name, nl) == 0)
			return form_decode(eq + 1, (size_t)(amp - eq - 1), out, outsz);
		p = *amp == '&' ? amp + 1 : amp;
	}
	return false;
}

/* Reads HTTP Basic credentials, if any, into @p id and @p secret. */
static bool
basic_credentials(const il_http_request *req, char *id, size_t idsz, char *secret, size_t secretsz)
{
	const char *auth = il_http_header(req, "Authorization");
	unsigned char dec[GW_LINE_MAX];
	char *colon;
	size_t len;
	int n;

	if (auth == NULL || strncasecmp(auth, "Basic ", 6) != 0)
		return false;
	auth += 6 + strspn(auth + 6, " ");
	len = strlen(auth);
	if (len == 0 || len % 4 != 0 || len / 4 * 3 >= sizeof(dec))
		return false;
	n = EVP_DecodeBlock(dec, (const unsigned char *)auth, (int)len);
	if (n < 0)
		return false;
	/* EVP_DecodeBlock counts the padding as zero bytes. */
	if (len >= 1 && auth[len - 1] == '=')
		n--;
	if (len >= 2 && auth[len - 2] == '=')
		n--;
	dec[n] = '\0';
	if (strlen((char *)dec) != (size_t)n)
		return false;
	colon = strchr((char *)dec, ':');
	if (colon == NULL)
		return false;
	*colon = '\0';
	snprintf(id, idsz, "%s", (char *)dec);
	snprintf(secret, secretsz, "%s", colon + 1);
	OPENSSL_cleanse(dec, sizeof(dec));
	return true;
}

/* POST /oauth2/client/token: the client credentials grant (RFC 6749 4.4). */
static void
handle_token(struct gateway *gw, const il_http_request *req, il_http_response *resp)
{
	char grant[64], id[256], secret[512], *token;
	cJSON *claims, *j;
	long long now = (long long)time(NULL);
	bool found = false;
	size_t i;

	if (!form_get(req->body, "grant_type", grant, sizeof(grant)) ||
	    strcmp(grant, "client_credentials") != 0) {
		reply_error(resp, 400, "unsupported_grant_type", "grant_type must be client_credentials");
		return;
	}
	if (!basic_credentials(req, id, sizeof(id), secret, sizeof(secret)) &&
	    (!form_get(req->body, "client_id", id, sizeof(id)) ||
	    !form_get(req->body, "client_secret", secret, sizeof(secret)))) {
		reply_error(resp, 401, "invalid_client", "client_id and client_secret are required");
		return;
	}
	for (i = 0; i < gw->nclients; i++) {
		/* Every entry is compared, so timing tells nothing of the list. */
		if (equal_secret(id, gw->clients[i].id) & equal_secret(secret, gw->clients[i].secret))
			found = true;
	}
	OPENSSL_cleanse(secret, sizeof(secret));
	if (!found) {
		il_http_set_header(resp, "WWW-Authenticate", "Basic realm=\"imislink\"");
		reply_error(resp, 401, "invalid_client", "unknown client or wrong secret");
		return;
	}
	claims = cJSON_CreateObject();
	cJSON_AddStringToObject(claims, "sub", id);
	cJSON_AddStringToObject(claims, "iss", gw->sender_id);
	cJSON_AddNumberToObject(claims, "iat", (double)now);
	cJSON_AddNumberToObject(claims, "exp", (double)(now + gw->token_lifetime_s));
	token = il_jwt_make(gw->key, gw->keylen, claims);
	cJSON_Delete(claims);
	if (token == NULL) {
		reply_error(resp, 500, "server_error", "could not make a token");
		return;
	}
	j = cJSON_CreateObject();
	cJSON_AddStringToObject(j, "access_token", token);
	cJSON_AddStringToObject(j, "token_type", "Bearer");
	cJSON_AddNumberToObject(j, "expires_in", (double)gw->token_lifetime_s);
	free(token);
	il_http_set_header(resp, "Cache-Control", "no-store");
	il_log_info("token issued", IL_STR("client", id));
	reply_json(resp, 200, j);
}

/* ---- publishing ---- */

static void
wait_free(struct gw_wait *w)
{
	pthread_cond_destroy(&w->cond);
	free(w);
}

/* Delivery report, on the poller thread (or wherever librdkafka serves it). */
static void
on_delivery(void *msg_opaque, il_err err, const char *errstr, const char *topic,
    int32_t partition, int64_t offset, void *cb_ctx)
{
	struct gateway *gw = cb_ctx;
	struct gw_wait *w = msg_opaque;

	(void)topic;
	(void)partition;
	(void)offset;
	atomic_store(&gw->kafka_failing, err != IL_OK);
	il_metric_inc(err == IL_OK ? gw->published : gw->failures, 1);
	pthread_mutex_lock(&gw->mu);
	if (err != IL_OK) {
		w->failed++;
		if (w->reason[0] == '\0')
			snprintf(w->reason, sizeof(w->reason), "%s", errstr != NULL ? errstr : il_err_str(err));
	}
	w->pending--;
	if (w->pending == 0) {
		if (w->abandoned)
			wait_free(w);
		else
			pthread_cond_signal(&w->cond);
	}
	pthread_mutex_unlock(&gw->mu);
}

static void *
poller_main(void *arg)
{
	struct gateway *gw = arg;

	while (!atomic_load(&gw->stop))
		il_producer_poll(gw->p, GW_POLL_MS);
	return NULL;
}

/*
 * Sends @p n events and waits until Kafka confirmed them all.
 * @returns 0 when every one is durable, 400 when an event does not fit the
 * schema (the reason in @p reason), 503 otherwise.
 */
static int
publish(struct gateway *gw, cJSON *const *events, size_t n, char *reason, size_t rsz)
{
	struct gw_wait *w;
	struct timespec deadline;
	il_buf value;
	char errbuf[1024], *key;
	long long ms;
	size_t i;
	il_err err;
	int status = 0, rc = 0;
	bool abandoned;

	w = il_xcalloc(1, sizeof(*w));
	{
		pthread_condattr_t attr;

		pthread_condattr_init(&attr);
		pthread_condattr_setclock(&attr, CLOCK_MONOTONIC);
		pthread_cond_init(&w->cond, &attr);
		pthread_condattr_destroy(&attr);
	}
	il_buf_init(&value, (size_t)il_conf_get_int(gw->conf, "avro.max.message.bytes"));
	for (i = 0; i < n && status == 0; i++) {
		key = il_event_key(&gw->ectx, events[i], errbuf, sizeof(errbuf));
		if (key == NULL) {
			snprintf(reason, rsz, "%s", errbuf);
			status = 400;
			break;
		}
		il_buf_reset(&value);
		errbuf[0] = '\0';
		pthread_mutex_lock(&gw->serde_mu);
		err = il_serde_encode(gw->sd, gw->topic, gw->schema, events[i], &value, errbuf, sizeof(errbuf));
		pthread_mutex_unlock(&gw->serde_mu);
		if (err != IL_OK) {
			snprintf(reason, rsz, "%s", errbuf[0] != '\0' ? errbuf : il_err_str(err));
			status = IL_ERR_CLASS(err) == IL_ERR_ENCODE || IL_ERR_CLASS(err) == IL_ERR_INVALID ||
			    err == IL_ERR_NOMEM ? 400 : 503;
			free(key);
			break;
		}
		pthread_mutex_lock(&gw->mu);
		w->pending++;
		pthread_mutex_unlock(&gw->mu);
		err = il_producer_send(gw->p, gw->topic, RD_KAFKA_PARTITION_UA, key, strlen(key),
		    value.data, value.len, NULL, 0, w, 0);
		free(key);
		if (err != IL_OK) {
			pthread_mutex_lock(&gw->mu);
			w->pending--;
			pthread_mutex_unlock(&gw->mu);
			snprintf(reason, rsz, "kafka refused the event: %s", il_err_str(err));
			status = 503;
		}
	}
	il_buf_free(&value);

	/* Even after a refusal, what was sent must be waited for or handed
	 * to the last delivery report. */
	ms = gw->delivery_timeout_ms;
	clock_gettime(CLOCK_MONOTONIC, &deadline);
	deadline.tv_sec += ms / 1000;
	deadline.tv_nsec += (ms % 1000) * 1000000;
	if (deadline.tv_nsec >= 1000000000) {
		deadline.tv_sec++;
		deadline.tv_nsec -= 1000000000;
	}
	pthread_mutex_lock(&gw->mu);
	while (w->pending > 0 && rc != ETIMEDOUT)
		rc = pthread_cond_timedwait(&w->cond, &gw->mu, &deadline);
	if (w->pending > 0) {
		w->abandoned = true;
		if (status == 0) {
			snprintf(reason, rsz, "kafka did not confirm within %lld ms", ms);
			status = 503;
		}
	} else if (w->failed > 0 && status == 0) {
		snprintf(reason, rsz, "kafka could not take %d of %zu events: %s", w->failed, n, w->reason);
		status = 503;
	}
	/* Read under the lock: once abandoned, the last report frees it. */
	abandoned = w->abandoned;
	pthread_mutex_unlock(&gw->mu);
	if (!abandoned)
		wait_free(w);
	return status;
}

/* Sets the event's programme to @p id. */
static void
set_programme(cJSON *event, long long id)
{
	cJSON *prog = cJSON_CreateObject();

	cJSON_AddNumberToObject(prog, "id", (double)id);
	cJSON_ReplaceItemInObjectCaseSensitive(event, "programme", prog);
}

/* A random position for a push without an Idempotency-Key. */
static void
random_hex(char out[33])
{
	unsigned char r[16];
	size_t i;

	if (RAND_bytes(r, sizeof(r)) != 1) {
		/* No entropy: a clock-derived position is still unique enough
		 * within one process, and ids are not secrets. */
		long long t = now_ms();

		memset(r, 0, sizeof(r));
		memcpy(r, &t, sizeof(t));
	}
	for (i = 0; i < sizeof(r); i++)
		snprintf(out + 2 * i, 3, "%02x", r[i]);
}

/* @returns the programme of a request, 0 when none, -1 when ?programme_id= is malformed. */
static long long
request_programme(struct gateway *gw, const il_http_request *req)
{
	const char *q = il_http_query(req, "programme_id");
	char *end;
	long long v;

	if (q == NULL)
		return gw->programme_id;
	errno = 0;
	v = strtoll(q, &end, 10);
	if (errno != 0 || end == q || *end != '\0' || v < 1 || v > 9007199254740992LL)
		return -1;
	return v;
}

/* Answers 400 with the problems, one per line of @p text, as a list. */
static void
reply_problems(il_http_response *resp, const char *text)
{
	cJSON *j = cJSON_CreateObject(), *arr;
	const char *p = text, *nl;
	char *line;

	cJSON_AddStringToObject(j, "error", "invalid");
	arr = cJSON_AddArrayToObject(j, "errors");
	while (*p != '\0') {
		nl = strchr(p, '\n');
		if (nl == NULL)
			nl = p + strlen(p);
		if (nl > p) {
			line = il_xstrndup(p, (size_t)(nl - p));
			cJSON_AddItemToArray(arr, cJSON_CreateString(line));
			free(line);
		}
		p = *nl == '\n' ? nl + 1 : nl;
	}
	reply_json(resp, 400, j);
}

/* POST /registry/individual */
static void
handle_individual(struct gateway *gw, const il_http_request *req, il_http_response *resp)
{
	char who[160], pos[GW_IDEMPOTENCY_MAX + 200], rnd[33], *errbuf = NULL, reason[1024];
	const char *idem = il_http_header(req, "Idempotency-Key");
	const cJSON *id;
	cJSON *body = NULL, *ev = NULL, *j;
	long long programme;
	int status;

	if (!authenticate(gw, req, who, sizeof(who))) {
		il_http_set_header(resp, "WWW-Authenticate", "Bearer realm=\"imislink\"");
		reply_error(resp, 401, "unauthorized", "a valid bearer token is required");
		return;
	}
	programme = request_programme(gw, req);
	if (programme <= 0) {
		reply_problems(resp, programme < 0 ? "programme_id: expected a positive integer" :
		    "programme_id: no programme: give ?programme_id= or set gateway.programme.id");
		return;
	}
	body = cJSON_ParseWithLength(req->body, req->body_len);
	if (body == NULL) {
		reply_problems(resp, "body: not JSON");
		return;
	}
	if (idem != NULL && idem[0] != '\0' && strlen(idem) <= GW_IDEMPOTENCY_MAX) {
		snprintf(pos, sizeof(pos), "push:%s:%s", who, idem);
	} else {
		random_hex(rnd);
		snprintf(pos, sizeof(pos), "push:%s", rnd);
	}
	errbuf = il_xmalloc(GW_PROBLEMS_BYTES);
	ev = il_event_from_openspp(&gw->ectx, body, "PUSH", pos, errbuf, GW_PROBLEMS_BYTES);
	if (ev == NULL) {
		reply_problems(resp, errbuf);
		goto done;
	}
	set_programme(ev, programme);
	status = publish(gw, &ev, 1, reason, sizeof(reason));
	if (status != 0) {
		if (status == 503) {
			il_http_set_header(resp, "Retry-After", "5");
			il_log_warn("individual not published", IL_STR("client", who), IL_STR("reason", reason));
			reply_error(resp, 503, "unavailable", reason);
		} else {
			reply_problems(resp, reason);
		}
		goto done;
	}
	id = cJSON_GetObjectItemCaseSensitive(ev, "event_id");
	j = cJSON_CreateObject();
	cJSON_AddStringToObject(j, "event_id", cJSON_IsString(id) ? id->valuestring : "");
	reply_json(resp, 202, j);

done:
	free(errbuf);
	cJSON_Delete(ev);
	cJSON_Delete(body);
}

/* Answers a refused envelope with its rjct / err body. */
static void
reply_dci_error(struct gateway *gw, il_http_response *resp, int status, const il_dci_error *derr)
{
	reply_json(resp, status, il_dci_error_body(derr, gw->sender_id, il_event_now_ms()));
}

/* Adds one line to @p b; the answer's message is bounded, so a line that
 * does not fit is left out (il_dci_error still says how many there were). */
__attribute__((format(printf, 2, 3)))
static void
add_problem(il_buf *b, const char *fmt, ...)
{
	size_t len = b->len;
	va_list ap;

	va_start(ap, fmt);
	if ((len > 0 && il_buf_adds(b, "\n") != IL_OK) || il_buf_vprintf(b, fmt, ap) != IL_OK) {
		b->len = len;
		if (b->data != NULL)
			b->data[len] = '\0';
	}
	va_end(ap);
}

/* Builds the events of every record of @p n into @p events; problems into @p derr. */
static size_t
notify_events(struct gateway *gw, const il_dci_notify *n, cJSON **events, il_dci_error *derr)
{
	char *errbuf = il_xmalloc(GW_PROBLEMS_BYTES), *pos;
	const cJSON *recs, *rec;
	il_buf problems;
	il_dci_kind kind;
	size_t i, r, count = 0, bad = 0;

	il_buf_init(&problems, sizeof(derr->message) - 1);
	for (i = 0; i < il_dci_notify_count(n); i++) {
		recs = il_dci_records(n, i, &kind, NULL, NULL);
		if (kind == IL_DCI_KIND_DELETE || kind == IL_DCI_KIND_LINK || kind == IL_DCI_KIND_UNLINK) {
			bad++;
			add_problem(&problems, "message.notify_event[%zu]: %s events are not supported by this gateway",
			    i, il_dci_kind_name(kind));
			continue;
		}
		r = 0;
		cJSON_ArrayForEach(rec, recs) {
			pos = il_dci_record_position(n, i, r);
			events[count] = il_event_from_openspp(&gw->ectx, rec, "PUSH", pos, errbuf, GW_PROBLEMS_BYTES);
			free(pos);
			if (events[count] == NULL) {
				bad++;
				add_problem(&problems, "message.notify_event[%zu].data.reg_records[%zu]: %s",
				    i, r, errbuf);
			} else {
				count++;
			}
			r++;
		}
	}
	if (bad > 0)
		il_dci_error_set(derr, "rjct.notify_event.invalid", "%.*s", (int)problems.len,
		    problems.data != NULL ? problems.data : "");
	il_buf_free(&problems);
	free(errbuf);
	return bad > 0 ? (size_t)-1 : count;
}

/* POST /registry/notify */
static void
handle_notify(struct gateway *gw, const il_http_request *req, il_http_response *resp)
{
	char who[160], reason[1024];
	il_dci_notify *n = NULL;
	il_dci_error derr;
	il_dci_ack_info ai;
	cJSON **events = NULL;
	long long programme;
	size_t count = 0, total, i;
	il_err err;
	bool dup;
	int status;

	if (!authenticate(gw, req, who, sizeof(who))) {
		il_http_set_header(resp, "WWW-Authenticate", "Bearer realm=\"imislink\"");
		reply_error(resp, 401, "unauthorized", "a valid bearer token is required");
		return;
	}
	err = il_dci_parse_notify(req->body, req->body_len, NULL, &n, &derr);
	if (err != IL_OK) {
		reply_dci_error(gw, resp, err == IL_ERR_TOOBIG ? 413 : 400, &derr);
		return;
	}
	programme = request_programme(gw, req);
	if (programme <= 0) {
		il_dci_error_set(&derr, "rjct.notify_event.invalid", "%s", programme < 0 ?
		    "programme_id: expected a positive integer" :
		    "programme_id: no programme: give ?programme_id= or set gateway.programme.id");
		reply_dci_error(gw, resp, 400, &derr);
		goto done;
	}
	pthread_mutex_lock(&gw->mu);
	dup = il_dci_seen_has(gw->seen, il_dci_notify_sender_id(n), il_dci_notify_message_id(n));
	pthread_mutex_unlock(&gw->mu);
	if (dup) {
		il_dci_error_set(&derr, "rjct.message_id.duplicate", "message_id \"%s\" was already processed",
		    il_dci_notify_message_id(n));
		/* SPDCI answers a refusal in the body (its responses are 401, 403,
		 * 500 and a default; no 409), and this envelope's events were made
		 * durable when it was first acknowledged: 200 with rjct. */
		reply_dci_error(gw, resp, 200, &derr);
		goto done;
	}
	total = il_dci_notify_records_total(n);
	events = il_xcalloc(total > 0 ? total : 1, sizeof(*events));
	count = notify_events(gw, n, events, &derr);
	if (count == (size_t)-1) {
		count = total;
		reply_dci_error(gw, resp, 400, &derr);
		goto done;
	}
	for (i = 0; i < count; i++)
		set_programme(events[i], programme);
	status = count > 0 ? publish(gw, events, count, reason, sizeof(reason)) : 0;
	if (status != 0) {
		il_dci_error_set(&derr, status == 400 ? "rjct.notify_event.invalid" : "err.service.unavailable",
		    "%s", reason);
		if (status == 503)
			il_http_set_header(resp, "Retry-After", "5");
		il_log_warn("envelope not published", IL_STR("client", who), IL_STR("reason", reason));
		reply_dci_error(gw, resp, status, &derr);
		goto done;
	}
	pthread_mutex_lock(&gw->mu);
	il_dci_seen_add(gw->seen, il_dci_notify_sender_id(n), il_dci_notify_message_id(n));
	pthread_mutex_unlock(&gw->mu);
	ai = (il_dci_ack_info){
		.message_id = NULL,
		.correlation_id = il_dci_notify_message_id(n),
		.transaction_id = il_dci_notify_transaction_id(n),
		.sender_id = gw->sender_id,
		.receiver_id = il_dci_notify_sender_id(n),
		.status = IL_DCI_SUCC,
		.total_count = (long long)il_dci_notify_count(n),
		.completed_count = (long long)il_dci_notify_count(n),
		.now_ms = il_event_now_ms(),
	};
	reply_json(resp, 200, il_dci_ack(&ai));

done:
	for (i = 0; events != NULL && i < count; i++)
		cJSON_Delete(events[i]);
	free(events);
	il_dci_notify_destroy(n);
}

/* Every route: rate limit, the handler, then metrics. */
static void
dispatch(const il_http_request *req, il_http_response *resp, void *ctx)
{
	const struct gw_route *rt = ctx;
	struct gateway *gw = rt->gw;
	char labels[128], code[8];
	long long t0 = now_ms();
	bool allowed;
	size_t n;

	pthread_mutex_lock(&gw->mu);
	allowed = il_ratelimit_take(gw->rl, t0);
	pthread_mutex_unlock(&gw->mu);
	if (!allowed) {
		il_http_set_header(resp, "Retry-After", "1");
		reply_error(resp, 429, "too_many_requests", "over gateway.rate.per.second");
	} else {
		rt->fn(gw, req, resp);
	}
	snprintf(code, sizeof(code), "%d", resp->status != 0 ? resp->status : 200);
	il_metrics_label(labels, sizeof(labels), "endpoint", rt->endpoint);
	n = strlen(labels);
	il_metrics_label(labels + n + 1, sizeof(labels) - n - 1, "status", code);
	labels[n] = ',';
	il_metric_inc(il_metrics_counter(gw->metrics, "imislink_gateway_requests_total",
	    "requests answered, by endpoint and HTTP status", labels), 1);
	il_metric_observe(gw->latency[rt->latency], (double)(now_ms() - t0) / 1000.0);
}

static il_health
gw_health(il_buf *out, void *ctx)
{
	struct gateway *gw = ctx;
	bool failing = atomic_load(&gw->kafka_failing);

	if (il_buf_printf(out, "\"kafka\":\"%s\"", failing ? "failing" : "ok") != IL_OK)
		return IL_HEALTH_DEGRADED;
	return failing ? IL_HEALTH_DEGRADED : IL_HEALTH_OK;
}

/* ---- life ---- */

static void
gw_destroy(struct gateway *gw)
{
	size_t i;

	if (gw->poller_started) {
		atomic_store(&gw->stop, true);
		pthread_join(gw->poller, NULL);
	}
	/* Its last reports free what abandoned handlers left behind. */
	il_producer_destroy(gw->p);
	il_serde_destroy(gw->sd);
	il_ratelimit_destroy(gw->rl);
	il_dci_seen_destroy(gw->seen);
	free_lines(gw->tokens, gw->ntokens);
	for (i = 0; i < gw->nclients; i++) {
		OPENSSL_cleanse(gw->clients[i].secret, strlen(gw->clients[i].secret));
		free(gw->clients[i].id);
		free(gw->clients[i].secret);
	}
	free(gw->clients);
	OPENSSL_cleanse(gw->key, sizeof(gw->key));
	pthread_mutex_destroy(&gw->mu);
	pthread_mutex_destroy(&gw->serde_mu);
}

static il_err
gw_init(struct gateway *gw, const il_conf *conf, il_metrics *metrics, const il_schema_set *schemas,
    char *errbuf, size_t errsz)
{
	const char *signing = il_conf_get(conf, "gateway.token.signing.key");
	double rate;
	size_t i;
	il_err err;
	int rc;

	memset(gw, 0, sizeof(*gw));
	pthread_mutex_init(&gw->mu, NULL);
	pthread_mutex_init(&gw->serde_mu, NULL);
	atomic_init(&gw->stop, false);
	atomic_init(&gw->kafka_failing, false);
	gw->conf = conf;
	gw->metrics = metrics;
	gw->topic = il_conf_get(conf, "topic.eligibility");
	gw->sender_id = il_conf_get(conf, "gateway.sender.id");
	gw->programme_id = il_conf_get_int(conf, "gateway.programme.id");
	gw->delivery_timeout_ms = il_conf_get_int(conf, "gateway.delivery.timeout.ms");
	gw->token_lifetime_s = il_conf_get_int(conf, "gateway.token.lifetime.s");
	gw->ectx.instance = il_conf_get(conf, "openspp.instance");
	gw->ectx.key_id_type = il_conf_get(conf, "openspp.key.id.type");
	gw->schema = il_schema_set_latest(schemas, "EligibilityEvent");
	if (gw->schema == NULL) {
		snprintf(errbuf, errsz, "no EligibilityEvent schema in \"%s\"", il_conf_get(conf, "schemas.dir"));
		return IL_ERR_CONFIG;
	}
	err = load_secrets(gw, errbuf, errsz);
	if (err != IL_OK)
		return err;
	if (signing[0] != '\0') {
		gw->keylen = strlen(signing) < sizeof(gw->key) ? strlen(signing) : sizeof(gw->key);
		memcpy(gw->key, signing, gw->keylen);
	} else {
		gw->keylen = 32;
		if (RAND_bytes(gw->key, (int)gw->keylen) != 1) {
			snprintf(errbuf, errsz, "could not make a token signing key: no randomness");
			return IL_ERR_IO;
		}
	}
	rate = (double)il_conf_get_int(conf, "gateway.rate.per.second");
	gw->rl = il_ratelimit_new(rate, rate, now_ms());
	gw->seen = il_dci_seen_new(GW_SEEN_CAP);
	gw->published = il_metrics_counter(metrics, "imislink_gateway_events_published_total",
	    "events Kafka confirmed", NULL);
	gw->failures = il_metrics_counter(metrics, "imislink_gateway_delivery_failures_total",
	    "events Kafka reported as not delivered", NULL);
	for (i = 0; i < 3; i++) {
		char labels[64];

		il_metrics_label(labels, sizeof(labels), "endpoint", gw_latency_labels[i]);
		gw->latency[i] = il_metrics_histogram(metrics, "imislink_gateway_request_duration_seconds",
		    "time from a request to its answer", labels, gw_latency_bounds,
		    sizeof(gw_latency_bounds) / sizeof(gw_latency_bounds[0]));
	}
	gw->sd = il_serde_new(conf, schemas, errbuf, errsz);
	if (gw->sd == NULL)
		return IL_ERR_CONFIG;
	gw->p = il_producer_new(conf, on_delivery, gw, errbuf, errsz);
	if (gw->p == NULL)
		return IL_ERR_CONFIG;
	rc = il_sig_thread_create(&gw->poller, poller_main, gw);
	if (rc != 0) {
		snprintf(errbuf, errsz, "could not start the delivery poller: %s", strerror(rc));
		return IL_ERR_IO;
	}
	gw->poller_started = true;
	return IL_OK;
}

int
main(int argc, char **argv)
{
	il_schema_set *schemas;
	struct gateway gw;
	struct gw_route routes[] = {
		{ &gw, "/registry/individual", 0, handle_individual },
		{ &gw, "/registry/notify", 1, handle_notify },
		{ &gw, "/oauth2/client/token", 2, handle_token },
	};
	il_daemon d;
	char errbuf[1024];
	size_t i;

	/* librdkafka's threads and one thread per connection would each get
	 * a glibc arena; a few keep the resident size flat. */
	mallopt(M_ARENA_MAX, 4);
	il_daemon_init(&d, &gw_info, argc, argv);
	schemas = il_schema_set_load(il_conf_get(d.conf, "schemas.dir"), errbuf, sizeof(errbuf));
	if (schemas == NULL) {
		il_daemon_fini(&d);
		il_cli_fatal("%s", errbuf);
	}
	il_sig_install();
	if (gw_init(&gw, d.conf, d.metrics, schemas, errbuf, sizeof(errbuf)) != IL_OK) {
		gw_destroy(&gw);
		il_schema_set_destroy(schemas);
		il_daemon_fini(&d);
		il_cli_fatal("%s", errbuf);
	}
	il_daemon_http(&d, gw_health, &gw);
	for (i = 0; i < sizeof(routes) / sizeof(routes[0]); i++)
		il_http_route(d.http, "POST", routes[i].endpoint, dispatch, &routes[i]);
	il_daemon_listen(&d);
	il_log_info("started", IL_STR("topic", gw.topic), IL_INT("tokens", gw.ntokens),
	    IL_INT("oauth_clients", gw.nclients), IL_INT("programme_id", gw.programme_id));

	while (!il_sig_stop_requested()) {
		if (il_sig_take_reload())
			il_daemon_reload(&d);
		poll(NULL, 0, GW_TICK_MS);
	}

	/* HTTP first: its handlers wait on deliveries the poller serves. */
	il_http_stop(d.http);
	d.http = NULL;
	gw_destroy(&gw);
	il_schema_set_destroy(schemas);
	il_daemon_fini(&d);
	il_log_info("stopped");
	return 0;
}
