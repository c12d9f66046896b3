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
 */
#include <errno.h>
#include <getopt.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <curl/curl.h>
#include <librdkafka/rdkafka.h>

#include "buf.h"
#include "event.h"
#include "imislink.h"
#include "kafka.h"
#include "log.h"
#include "serde.h"
#include "sig.h"
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

/* Fields the mapping may do without (--allow-missing). */
enum {
	ALLOW_IDS = 1,
	ALLOW_GENDER = 2,
	ALLOW_BIRTHDATE = 4,
	ALLOW_ALL = 7,
};

/* A published message waiting for its delivery report. */
struct pull_msg {
	long long registrant;           /* res_partner id */
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

static cJSON *
receipt(long long registrant, const char *status)
{
	cJSON *out = cJSON_CreateObject();

	if (registrant > 0)
		cJSON_AddNumberToObject(out, "registrant", (double)registrant);
	else
		cJSON_AddNullToObject(out, "registrant");
	cJSON_AddStringToObject(out, "status", status);
	return out;
}

static void
print_status(struct pull *pl, long long registrant, const char *status, const char *reason)
{
	cJSON *out = receipt(registrant, status);

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

/*
 * GETs @p path (with its query) from openspp.api.url into pl->body.  A
 * refused login and a call without an HTTP answer are fatal (exit 1).
 * @returns the HTTP status.
 */
static long
api_get(struct pull *pl, const char *path)
{
	const char *base = il_conf_get(pl->conf, "openspp.api.url");
	size_t blen = strlen(base);
	char *url;
	long status = 0;
	CURLcode rc;

	/* One slash between the base and the path, whatever the base ends with. */
	while (blen > 0 && base[blen - 1] == '/')
		blen--;
	url = il_xasprintf("%.*s%s", (int)blen, base, path);
	il_buf_reset(&pl->body);
	curl_easy_setopt(pl->curl, CURLOPT_URL, url);
	rc = curl_easy_perform(pl->curl);
	/* Only on_body() fails a write: the answer outgrew its bound. */
	if (rc == CURLE_WRITE_ERROR)
		il_cli_fatal("could not read the answer of \"%s\": longer than %zu bytes", url, pl->body.max);
	if (rc != CURLE_OK)
		il_cli_fatal("could not get \"%s\": %s", url, curl_easy_strerror(rc));
	curl_easy_getinfo(pl->curl, CURLINFO_RESPONSE_CODE, &status);
	if (status == 401 || status == 403)
		il_cli_fatal("openSPP refused the login of user \"%s\" (HTTP %ld) at \"%s\": check "
		    "openspp.api.username and openspp.api.password", il_conf_get(pl->conf, "openspp.api.username"),
		    status, url);
	il_log_debug("openSPP answered", IL_STR("url", url), IL_INT("status", status),
	    IL_INT("bytes", pl->body.len));
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
		out = receipt(m->registrant, "published");
		cJSON_AddStringToObject(out, "event_id", m->event_id);
		cJSON_AddNumberToObject(out, "partition", partition);
		cJSON_AddNumberToObject(out, "offset", (double)offset);
		cJSON_AddItemToObject(out, "unknown", m->unknown);
		m->unknown = NULL;
		print_receipt(pl, out);
	} else if (pl->purged && pl->interrupted) {
		fail(pl, m->registrant, PULL_INTERRUPTED);
	} else {
		snprintf(reason, sizeof(reason), "delivery: %s", errstr != NULL ? errstr : il_err_str(err));
		fail(pl, m->registrant, reason);
	}
	cJSON_Delete(m->unknown);
	free(m->event_id);
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
		out = receipt(sid, "checked");
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
		fail(pl, m->registrant, pl->interrupted ? PULL_INTERRUPTED :
		    "delivery: no report before the producer stopped");
	}
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
		{ "help", no_argument, NULL, 'h' },
		{ NULL, 0, NULL, 0 },
	};
	long long v;
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
		case 'h':
			il_cli_cmd_usage(&il_cmd_pull_entry);
		default:
			il_cli_usage_error("pull", "invalid option");
		}
	}
	if (optind < argc)
		il_cli_usage_error("pull", "unexpected argument \"%s\"", argv[optind]);
	if ((pl->nids > 0) + (pl->name != NULL) + pl->all != 1)
		il_cli_usage_error("pull", "give exactly one of --id (repeatable), --name or --all");
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
	curl_easy_setopt(pl->curl, CURLOPT_HTTPAUTH, (long)CURLAUTH_BASIC);
	curl_easy_setopt(pl->curl, CURLOPT_USERNAME, il_conf_get(pl->conf, "openspp.api.username"));
	curl_easy_setopt(pl->curl, CURLOPT_PASSWORD, il_conf_get(pl->conf, "openspp.api.password"));
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
	int rc;

	parse_options(&pl, argc, argv);
	if (pl.topic == NULL)
		pl.topic = il_conf_get(pl.conf, "topic.eligibility");
	pl.ectx.instance = il_conf_get(pl.conf, "openspp.instance");
	pl.ectx.key_id_type = il_conf_get(pl.conf, "openspp.key.id.type");
	il_sig_install();
	setup_http(&pl);
	bodies = fetch(&pl);
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
		free(m);
	}
	il_serde_destroy(pl.sd);
	il_schema_set_destroy(pl.schemas);
	il_buf_free(&pl.value);
	cJSON_Delete(bodies);
	free(pl.ids);
	return rc;
}

const il_cmd_entry il_cmd_pull_entry = {
	"pull",
	"pull (--id N [--id N]...|--name TEXT|--all) --programme-id P [--programme-name S]\n"
	"          [--allow-missing ids,gender,birthdate] [-t TOPIC] [--dry-run]",
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
	"  Exit status: 0 all published, 2 some refused, 1 failures or fatal.\n",
	cmd_pull,
};
