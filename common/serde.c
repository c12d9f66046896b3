/*
 * serde.c - wire-format encode and decode with schema ids from a registry.
 *
 * Online, ids come from a Confluent-compatible Schema Registry through one
 * reused libcurl handle; offline, from schemas/offline-ids.properties.  Both
 * fill the same two caches: subject + schema -> id for encoding, and id ->
 * schema for decoding.  A schema id never changes meaning, so neither cache
 * expires.  A third, small one remembers ids the registry does not know (or
 * holds no usable schema for) for a minute: a flood of messages with garbage
 * ids then costs one request per id per minute, not one per message, while
 * an id registered meanwhile (another region's registry catching up) still
 * becomes usable.
 */
#include "serde.h"

#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <curl/curl.h>

#include "timers.h"
#include "xalloc.h"

/* Registry calls sit on the produce and consume paths: keep them bounded. */
#define IL_SR_CONNECT_TIMEOUT_MS 5000L
#define IL_SR_TIMEOUT_MS 15000L
/* A registry answer holds one schema; anything larger is not one. */
#define IL_SR_MAX_RESPONSE (4 * 1024 * 1024)
#define IL_SR_CONTENT_TYPE "application/vnd.schemaregistry.v1+json"
/* A line of offline-ids.properties, and the whole file. */
#define IL_SR_MAX_LINE 1024
#define IL_SR_MAX_IDS_FILE (1024 * 1024)
/* How long, and for how many ids at most, an unknown id's answer is kept. */
#define IL_SR_UNKNOWN_TTL_MS 60000
#define IL_SR_UNKNOWN_MAX 1024
/* Room for the reason of a refused id. */
#define IL_SR_WHY_MAX 512

/* One known schema id. */
typedef struct il_sd_id {
	int32_t id;                     /* the registry's (or offline) id */
	const il_schema *schema;        /* the schema it means */
	il_schema *owned;               /* fetched from the registry (freed with the serde); NULL when local */
} il_sd_id;

/* An id the registry answered without a usable schema, for a while. */
typedef struct il_sd_unknown {
	int32_t id;                     /* the schema id */
	int64_t until_ms;               /* monotonic time the answer expires */
	char *why;                      /* owned; the refusal, as il_serde_decode() gave it */
} il_sd_unknown;

/* One registration: what il_serde_schema_id() answered for a subject and schema. */
typedef struct il_sd_subject {
	char *subject;                  /* e.g. "openspp.eligibility.v1-value" (owned) */
	const il_schema *schema;        /* the schema registered under it */
	int32_t id;                     /* the id the registry gave */
} il_sd_subject;

struct il_serde {
	const il_schema_set *schemas;   /* borrowed: local schemas */
	size_t max_msg;                 /* avro.max.message.bytes */
	char *url;                      /* registry base URL without a trailing '/'; NULL offline
	                                 * (il_conf refuses credentials in it, so it may be shown) */
	char *ids_path;                 /* offline: the file the ids came from */
	char *user;                     /* schema.registry.username; "" without authentication */
	CURL *curl;                     /* reused handle: keeps the connection alive */
	struct curl_slist *headers;     /* content type and accept headers */
	il_buf resp;                    /* body of the last registry answer */
	bool resp_overflow;             /* the last answer exceeded IL_SR_MAX_RESPONSE */
	char curl_err[CURL_ERROR_SIZE]; /* libcurl's detail on the last failure */
	il_sd_id *ids;                  /* id -> schema */
	size_t nids, idcap;
	il_sd_subject *subjects;        /* subject + schema -> id */
	size_t nsubjects, subjcap;
	il_sd_unknown *unknown;         /* ids refused lately, at most IL_SR_UNKNOWN_MAX */
	size_t nunknown, unknowncap;
};

static void
ids_add(il_serde *sd, int32_t id, const il_schema *s, il_schema *owned)
{
	if (sd->nids == sd->idcap) {
		sd->idcap = sd->idcap ? 2 * sd->idcap : 8;
		sd->ids = il_xrealloc(sd->ids, sd->idcap * sizeof(*sd->ids));
	}
	sd->ids[sd->nids].id = id;
	sd->ids[sd->nids].schema = s;
	sd->ids[sd->nids].owned = owned;
	sd->nids++;
}

static const il_sd_id *
ids_find(const il_serde *sd, int32_t id)
{
	size_t i;

	for (i = 0; i < sd->nids; i++) {
		if (sd->ids[i].id == id)
			return &sd->ids[i];
	}
	return NULL;
}

/* Two schema objects mean the same schema when they were loaded from the same text. */
static bool
same_schema(const il_schema *a, const il_schema *b)
{
	return a == b || strcmp(il_schema_text(a), il_schema_text(b)) == 0;
}

/* Parses a decimal int32 of at least @p min; no sign, no spaces. */
static bool
parse_id(const char *s, size_t len, int32_t min, int32_t *out)
{
	int64_t v = 0;
	size_t i;

	if (len == 0 || len > 10)
		return false;
	for (i = 0; i < len; i++) {
		if (s[i] < '0' || s[i] > '9')
			return false;
		v = v * 10 + (s[i] - '0');
	}
	if (v < min || v > INT32_MAX)
		return false;
	*out = (int32_t)v;
	return true;
}

static char *
trim(char *s)
{
	char *end;

	while (*s == ' ' || *s == '\t')
		s++;
	end = s + strlen(s);
	while (end > s && (end[-1] == ' ' || end[-1] == '\t' || end[-1] == '\r' || end[-1] == '\n'))
		end--;
	*end = '\0';
	return s;
}

/* Applies one "<Name>.v<N>=<id>" line of the offline ids file. */
static bool
offline_line(il_serde *sd, char *line, long lineno, char *errbuf, size_t errsz)
{
	char *eq = strchr(line, '='), *key, *val, *dotv;
	const il_schema *s;
	int32_t id, version;

	if (eq == NULL) {
		il_err_setf(errbuf, errsz, "\"%s\":%ld: expected <Name>.v<N>=<id>, got \"%s\"",
		    sd->ids_path, lineno, line);
		return false;
	}
	*eq = '\0';
	key = trim(line);
	val = trim(eq + 1);
	dotv = strstr(key, ".v");
	while (dotv != NULL && strstr(dotv + 2, ".v") != NULL)
		dotv = strstr(dotv + 2, ".v");
	if (dotv == NULL || dotv == key || !parse_id(dotv + 2, strlen(dotv + 2), 1, &version)) {
		il_err_setf(errbuf, errsz, "\"%s\":%ld: key \"%s\" is not <Name>.v<N>", sd->ids_path,
		    lineno, key);
		return false;
	}
	if (!parse_id(val, strlen(val), 1, &id)) {
		il_err_setf(errbuf, errsz, "\"%s\":%ld: schema id \"%s\" is not a positive integer",
		    sd->ids_path, lineno, val);
		return false;
	}
	*dotv = '\0';
	s = il_schema_set_get(sd->schemas, key, version);
	if (s == NULL) {
		il_err_setf(errbuf, errsz, "\"%s\":%ld: no schema \"%s.v%d\" among the loaded schemas",
		    sd->ids_path, lineno, key, (int)version);
		return false;
	}
	if (ids_find(sd, id) != NULL) {
		il_err_setf(errbuf, errsz, "\"%s\":%ld: schema id %d is given twice", sd->ids_path, lineno,
		    (int)id);
		return false;
	}
	ids_add(sd, id, s, NULL);
	return true;
}

static bool
offline_load(il_serde *sd, const char *dir, char *errbuf, size_t errsz)
{
	char *line, *next, *p;
	long lineno = 0;
	bool ok = true;
	il_buf text;

	sd->ids_path = il_xasprintf("%s/offline-ids.properties", dir);
	il_buf_init(&text, IL_SR_MAX_IDS_FILE);
	if (il_buf_read_file(&text, sd->ids_path, errbuf, errsz) != IL_OK) {
		ok = false;
		goto done;
	}
	if (text.len > 0 && memchr(text.data, '\0', text.len) != NULL) {
		il_err_setf(errbuf, errsz, "\"%s\": contains a NUL byte", sd->ids_path);
		ok = false;
		goto done;
	}
	for (line = text.data; ok && line != NULL && *line != '\0'; line = next) {
		lineno++;
		next = strchr(line, '\n');
		if (next != NULL)
			*next++ = '\0';
		if (strlen(line) > IL_SR_MAX_LINE - 2) {
			il_err_setf(errbuf, errsz, "\"%s\":%ld: line longer than %d bytes", sd->ids_path,
			    lineno, IL_SR_MAX_LINE - 2);
			ok = false;
			break;
		}
		p = trim(line);
		if (*p == '\0' || *p == '#' || *p == '!')
			continue;
		ok = offline_line(sd, p, lineno, errbuf, errsz);
	}
done:
	il_buf_free(&text);
	return ok;
}

static size_t
sr_write(char *ptr, size_t size, size_t nmemb, void *userdata)
{
	il_serde *sd = userdata;
	size_t n = size * nmemb;

	if (il_buf_add(&sd->resp, ptr, n) != IL_OK) {
		sd->resp_overflow = true;
		return 0;
	}
	return n;
}

static bool
online_init(il_serde *sd, const il_conf *conf, const char *url, char *errbuf, size_t errsz)
{
	const char *user = il_conf_get(conf, "schema.registry.username");
	const char *password = il_conf_get(conf, "schema.registry.password");
	size_t len = strlen(url);
	CURLcode rc = CURLE_OK;

	while (len > 0 && url[len - 1] == '/')
		len--;
	sd->url = il_xstrndup(url, len);
	sd->user = il_xstrdup(user);
	sd->curl = curl_easy_init();
	if (sd->curl == NULL) {
		il_err_setf(errbuf, errsz, "could not make a libcurl handle for the schema registry");
		return false;
	}
	sd->headers = curl_slist_append(NULL, "Content-Type: " IL_SR_CONTENT_TYPE);
	sd->headers = curl_slist_append(sd->headers,
	    "Accept: " IL_SR_CONTENT_TYPE ", application/json");
	if (sd->headers == NULL) {
		il_err_setf(errbuf, errsz, "could not make the schema registry request headers");
		return false;
	}
	rc |= curl_easy_setopt(sd->curl, CURLOPT_HTTPHEADER, sd->headers);
	rc |= curl_easy_setopt(sd->curl, CURLOPT_WRITEFUNCTION, sr_write);
	rc |= curl_easy_setopt(sd->curl, CURLOPT_WRITEDATA, sd);
	rc |= curl_easy_setopt(sd->curl, CURLOPT_ERRORBUFFER, sd->curl_err);
	rc |= curl_easy_setopt(sd->curl, CURLOPT_CONNECTTIMEOUT_MS, IL_SR_CONNECT_TIMEOUT_MS);
	rc |= curl_easy_setopt(sd->curl, CURLOPT_TIMEOUT_MS, IL_SR_TIMEOUT_MS);
	/* no signals: a timeout must not interrupt another thread's work */
	rc |= curl_easy_setopt(sd->curl, CURLOPT_NOSIGNAL, 1L);
	rc |= curl_easy_setopt(sd->curl, CURLOPT_PROTOCOLS_STR, "http,https");
	if (user[0] != '\0') {
		rc |= curl_easy_setopt(sd->curl, CURLOPT_HTTPAUTH, (long)CURLAUTH_BASIC);
		rc |= curl_easy_setopt(sd->curl, CURLOPT_USERNAME, user);
		rc |= curl_easy_setopt(sd->curl, CURLOPT_PASSWORD, password);
	}
	if (rc != CURLE_OK) {
		il_err_setf(errbuf, errsz, "could not set up libcurl for the schema registry");
		return false;
	}
	return true;
}

il_serde *
il_serde_new(const il_conf *conf, const il_schema_set *schemas, char *errbuf, size_t errsz)
{
	il_serde *sd = il_xcalloc(1, sizeof(*sd));
	const char *url = il_conf_get(conf, "schema.registry.url");

	sd->schemas = schemas;
	sd->max_msg = (size_t)il_conf_get_int(conf, "avro.max.message.bytes");
	il_buf_init(&sd->resp, IL_SR_MAX_RESPONSE);
	if (url[0] == '\0') {
		if (!offline_load(sd, il_conf_get(conf, "schemas.dir"), errbuf, errsz))
			goto fail;
	} else if (!online_init(sd, conf, url, errbuf, errsz)) {
		goto fail;
	}
	return sd;
fail:
	il_serde_destroy(sd);
	return NULL;
}

void
il_serde_destroy(il_serde *sd)
{
	size_t i;

	if (sd == NULL)
		return;
	for (i = 0; i < sd->nids; i++)
		il_schema_destroy(sd->ids[i].owned);
	free(sd->ids);
	for (i = 0; i < sd->nsubjects; i++)
		free(sd->subjects[i].subject);
	free(sd->subjects);
	for (i = 0; i < sd->nunknown; i++)
		free(sd->unknown[i].why);
	free(sd->unknown);
	if (sd->curl != NULL)
		curl_easy_cleanup(sd->curl);
	curl_slist_free_all(sd->headers);
	il_buf_free(&sd->resp);
	free(sd->ids_path);
	free(sd->user);
	free(sd->url);
	free(sd);
}

/* The registry's own words from an error answer ({"error_code", "message"}), else its start. */
static void
sr_message(const il_serde *sd, char *out, size_t outsz)
{
	cJSON *j = cJSON_ParseWithLength(sd->resp.data != NULL ? sd->resp.data : "", sd->resp.len);
	const cJSON *msg = cJSON_GetObjectItemCaseSensitive(j, "message");

	if (cJSON_IsString(msg))
		snprintf(out, outsz, "%s", msg->valuestring);
	else if (sd->resp.len > 0)
		snprintf(out, outsz, "%.120s", sd->resp.data);
	else
		snprintf(out, outsz, "empty answer");
	cJSON_Delete(j);
}

/*
 * @returns the registry's "error_code" from an error answer, or -1 when the
 * answer has none (it did not come from a registry: a proxy, a wrong URL).
 */
static long
sr_error_code(const il_serde *sd)
{
	cJSON *j = cJSON_ParseWithLength(sd->resp.data != NULL ? sd->resp.data : "", sd->resp.len);
	const cJSON *code = cJSON_GetObjectItemCaseSensitive(j, "error_code");
	long v = -1;

	if (cJSON_IsNumber(code) && code->valuedouble >= 0 && code->valuedouble < 1e9)
		v = (long)code->valuedouble;
	cJSON_Delete(j);
	return v;
}

/*
 * Explains a 401 or 403 answer to @p what: no retry fixes credentials, and
 * no message is to blame either, so the caller stops and tells the operator.
 */
static il_err
sr_refused(const il_serde *sd, long status, const char *what, char *errbuf, size_t errsz)
{
	char why[256];

	sr_message(sd, why, sizeof(why));
	if (sd->user[0] != '\0')
		il_err_setf(errbuf, errsz, "schema registry \"%s\" refused user \"%s\" (HTTP %ld) %s: "
		    "%s; check schema.registry.username and schema.registry.password", sd->url,
		    sd->user, status, what, why);
	else
		il_err_setf(errbuf, errsz, "schema registry \"%s\" refused a request without credentials "
		    "(HTTP %ld) %s: %s; set schema.registry.username and schema.registry.password",
		    sd->url, status, what, why);
	return IL_ERR_CONFIG;
}

/*
 * Makes one request (POST when @p body is set, else GET).
 * @returns IL_ERR_TRANSIENT when the registry cannot be reached, else IL_OK
 * with the HTTP status in @p status and the answer in sd->resp.
 */
static il_err
sr_call(il_serde *sd, const char *path, const char *body, long *status,
    char *errbuf, size_t errsz)
{
	char *url = il_xasprintf("%s%s", sd->url, path);
	il_err err = IL_OK;
	CURLcode rc;

	il_buf_reset(&sd->resp);
	sd->resp_overflow = false;
	sd->curl_err[0] = '\0';
	rc = curl_easy_setopt(sd->curl, CURLOPT_URL, url);
	if (rc == CURLE_OK && body != NULL) {
		rc = curl_easy_setopt(sd->curl, CURLOPT_POSTFIELDSIZE, (long)strlen(body));
		if (rc == CURLE_OK)
			rc = curl_easy_setopt(sd->curl, CURLOPT_POSTFIELDS, body);
	} else if (rc == CURLE_OK) {
		rc = curl_easy_setopt(sd->curl, CURLOPT_HTTPGET, 1L);
	}
	if (rc == CURLE_OK)
		rc = curl_easy_perform(sd->curl);
	if (rc == CURLE_WRITE_ERROR && sd->resp_overflow) {
		il_err_setf(errbuf, errsz, "schema registry answer from \"%s%s\" exceeds %d bytes",
		    sd->url, path, IL_SR_MAX_RESPONSE);
		err = IL_ERR_PERMANENT;
	} else if (rc != CURLE_OK) {
		il_err_setf(errbuf, errsz, "could not reach schema registry \"%s\": %s", sd->url,
		    sd->curl_err[0] != '\0' ? sd->curl_err : curl_easy_strerror(rc));
		err = IL_ERR_TRANSIENT;
	} else if (curl_easy_getinfo(sd->curl, CURLINFO_RESPONSE_CODE, status) != CURLE_OK) {
		il_err_setf(errbuf, errsz, "could not read the status of schema registry \"%s\"",
		    sd->url);
		err = IL_ERR_TRANSIENT;
	}
	free(url);
	return err;
}

/* @returns whether an HTTP status is worth retrying. */
static bool
status_transient(long status)
{
	return status == 408 || status == 429 || status >= 500;
}

static il_err
sr_register(il_serde *sd, const char *subject, const il_schema *s, int32_t *id,
    char *errbuf, size_t errsz)
{
	cJSON *req = cJSON_CreateObject(), *resp = NULL;
	const cJSON *jid;
	char *body = NULL, *esc = NULL, *path = NULL, *what = NULL;
	char why[256];
	long status = 0;
	il_err err;

	cJSON_AddStringToObject(req, "schema", il_schema_text(s));
	body = cJSON_PrintUnformatted(req);
	esc = curl_easy_escape(sd->curl, subject, 0);
	if (body == NULL || esc == NULL) {
		il_err_setf(errbuf, errsz, "could not build the registration of subject \"%s\"", subject);
		err = IL_ERR_NOMEM;
		goto done;
	}
	path = il_xasprintf("/subjects/%s/versions", esc);
	err = sr_call(sd, path, body, &status, errbuf, errsz);
	if (err != IL_OK)
		goto done;
	if (status == 401 || status == 403) {
		what = il_xasprintf("to the registration of \"%s\" under subject \"%s\"",
		    il_schema_fullname(s), subject);
		err = sr_refused(sd, status, what, errbuf, errsz);
		goto done;
	}
	if (status != 200) {
		sr_message(sd, why, sizeof(why));
		if (status == 409)
			il_err_setf(errbuf, errsz, "schema registry refused schema \"%s\" under subject \"%s\" "
			    "as incompatible: %s", il_schema_fullname(s), subject, why);
		else if (status == 422)
			il_err_setf(errbuf, errsz, "schema registry refused schema \"%s\" under subject \"%s\" "
			    "as invalid: %s", il_schema_fullname(s), subject, why);
		else
			il_err_setf(errbuf, errsz, "schema registry \"%s\" answered HTTP %ld to the "
			    "registration of \"%s\" under subject \"%s\": %s", sd->url, status,
			    il_schema_fullname(s), subject, why);
		err = status_transient(status) ? IL_ERR_TRANSIENT : IL_ERR_PERMANENT;
		goto done;
	}
	resp = cJSON_ParseWithLength(sd->resp.data != NULL ? sd->resp.data : "", sd->resp.len);
	jid = cJSON_GetObjectItemCaseSensitive(resp, "id");
	if (!cJSON_IsNumber(jid) || jid->valuedouble < 0 || jid->valuedouble > INT32_MAX ||
	    (double)(int32_t)jid->valuedouble != jid->valuedouble) {
		il_err_setf(errbuf, errsz, "schema registry \"%s\" answered the registration of subject "
		    "\"%s\" without a valid \"id\"", sd->url, subject);
		err = IL_ERR_PERMANENT;
		goto done;
	}
	*id = (int32_t)jid->valuedouble;
done:
	cJSON_Delete(resp);
	cJSON_Delete(req);
	free(what);
	free(path);
	curl_free(esc);
	free(body);
	return err;
}

il_err
il_serde_schema_id(il_serde *sd, const char *subject, const il_schema *s, int32_t *id,
    char *errbuf, size_t errsz)
{
	il_sd_subject *sub;
	il_err err;
	size_t i;

	for (i = 0; i < sd->nsubjects; i++) {
		sub = &sd->subjects[i];
		if (strcmp(sub->subject, subject) == 0 && same_schema(sub->schema, s)) {
			*id = sub->id;
			return IL_OK;
		}
	}
	if (sd->url == NULL) {
		/* offline ids are global: the subject does not matter */
		for (i = 0; i < sd->nids; i++) {
			if (same_schema(sd->ids[i].schema, s)) {
				*id = sd->ids[i].id;
				return IL_OK;
			}
		}
		il_err_setf(errbuf, errsz, "schema \"%s\" version %d has no id in \"%s\"",
		    il_schema_fullname(s), il_schema_version(s), sd->ids_path);
		return IL_ERR_PERMANENT;
	}
	err = sr_register(sd, subject, s, id, errbuf, errsz);
	if (err != IL_OK)
		return err;
	if (sd->nsubjects == sd->subjcap) {
		sd->subjcap = sd->subjcap ? 2 * sd->subjcap : 8;
		sd->subjects = il_xrealloc(sd->subjects, sd->subjcap * sizeof(*sd->subjects));
	}
	sd->subjects[sd->nsubjects].subject = il_xstrdup(subject);
	sd->subjects[sd->nsubjects].schema = s;
	sd->subjects[sd->nsubjects].id = *id;
	sd->nsubjects++;
	if (ids_find(sd, *id) == NULL)
		ids_add(sd, *id, s, NULL);
	return IL_OK;
}

/*
 * @returns the local schema with the same definition as @p fetched, so that
 * a message written with a schema of this tree reports its name and version.
 */
static const il_schema *
local_twin(const il_serde *sd, const il_schema *fetched)
{
	cJSON *want = cJSON_Parse(il_schema_text(fetched)), *have;
	const il_schema *found = NULL;
	size_t i;

	for (i = 0; want != NULL && found == NULL && i < il_schema_set_count(sd->schemas); i++) {
		const il_schema *s = il_schema_set_at(sd->schemas, i);

		if (strcmp(il_schema_fullname(s), il_schema_fullname(fetched)) != 0)
			continue;
		have = cJSON_Parse(il_schema_text(s));
		if (have != NULL && cJSON_Compare(want, have, 1))
			found = s;
		cJSON_Delete(have);
	}
	cJSON_Delete(want);
	return found;
}

static il_err
sr_fetch(il_serde *sd, int32_t id, const il_schema **out, char *errbuf, size_t errsz)
{
	const cJSON *text, *type;
	const il_schema *local;
	il_schema *s;
	cJSON *resp = NULL;
	char why[IL_SR_WHY_MAX], path[64], what[64];
	long status = 0, code;
	il_err err;

	snprintf(path, sizeof(path), "/schemas/ids/%d", (int)id);
	err = sr_call(sd, path, NULL, &status, why, sizeof(why));
	if (err == IL_ERR_PERMANENT) {
		/* Larger than any schema: nothing this id names can be used. */
		il_err_setf(errbuf, errsz, "schema id %d cannot be used: %s", (int)id, why);
		return IL_ERR_DECODE_SCHEMA;
	}
	if (err != IL_OK) {
		il_err_setf(errbuf, errsz, "%s", why);
		return err;
	}
	code = status == 404 ? sr_error_code(sd) : -1;
	if (code >= 40400 && code <= 40499) {
		sr_message(sd, why, sizeof(why));
		il_err_setf(errbuf, errsz, "unknown schema id %d: %s", (int)id, why);
		return IL_ERR_DECODE_SCHEMA;
	}
	if (status == 401 || status == 403) {
		snprintf(what, sizeof(what), "to the lookup of schema id %d", (int)id);
		return sr_refused(sd, status, what, errbuf, errsz);
	}
	if (status == 404) {
		/* Not a registry's "not found": every id would get it, so blaming
		 * the message would dead-letter the whole topic. */
		sr_message(sd, why, sizeof(why));
		il_err_setf(errbuf, errsz, "schema registry \"%s\" answered HTTP 404 without a registry's "
		    "error code for schema id %d: %s; check schema.registry.url", sd->url, (int)id, why);
		return IL_ERR_CONFIG;
	}
	if (status != 200) {
		/* not the message's fault (an outage, an overloaded registry): worth a retry */
		sr_message(sd, why, sizeof(why));
		il_err_setf(errbuf, errsz, "schema registry \"%s\" answered HTTP %ld for schema id %d: %s",
		    sd->url, status, (int)id, why);
		return IL_ERR_TRANSIENT;
	}
	resp = cJSON_ParseWithLength(sd->resp.data != NULL ? sd->resp.data : "", sd->resp.len);
	text = cJSON_GetObjectItemCaseSensitive(resp, "schema");
	type = cJSON_GetObjectItemCaseSensitive(resp, "schemaType");
	if (cJSON_IsString(type) && strcmp(type->valuestring, "AVRO") != 0) {
		il_err_setf(errbuf, errsz, "schema id %d is a %s schema, not Avro", (int)id,
		    type->valuestring);
		err = IL_ERR_DECODE_SCHEMA;
		goto done;
	}
	if (!cJSON_IsString(text)) {
		il_err_setf(errbuf, errsz, "schema registry \"%s\" answered schema id %d without a "
		    "\"schema\"", sd->url, (int)id);
		err = IL_ERR_TRANSIENT;
		goto done;
	}
	s = il_schema_from_json(text->valuestring, strlen(text->valuestring), why, sizeof(why));
	if (s == NULL) {
		il_err_setf(errbuf, errsz, "schema id %d cannot be used: %s", (int)id, why);
		err = IL_ERR_DECODE_SCHEMA;
		goto done;
	}
	local = local_twin(sd, s);
	if (local != NULL) {
		il_schema_destroy(s);
		ids_add(sd, id, local, NULL);
		*out = local;
	} else {
		ids_add(sd, id, s, s);
		*out = s;
	}
done:
	cJSON_Delete(resp);
	return err;
}

/* @returns the refusal of @p id still in force at @p now, or NULL. */
static const il_sd_unknown *
unknown_find(const il_serde *sd, int32_t id, int64_t now)
{
	size_t i;

	for (i = 0; i < sd->nunknown; i++)
		if (sd->unknown[i].id == id)
			return sd->unknown[i].until_ms > now ? &sd->unknown[i] : NULL;
	return NULL;
}

/* Remembers the refusal of @p id; when full, the one that expires first makes room. */
static void
unknown_add(il_serde *sd, int32_t id, const char *why, int64_t now)
{
	il_sd_unknown *u = NULL;
	size_t i;

	for (i = 0; u == NULL && i < sd->nunknown; i++)
		if (sd->unknown[i].id == id)
			u = &sd->unknown[i];
	if (u == NULL && sd->nunknown < IL_SR_UNKNOWN_MAX) {
		if (sd->nunknown == sd->unknowncap) {
			sd->unknowncap = sd->unknowncap ? 2 * sd->unknowncap : 16;
			sd->unknown = il_xrealloc(sd->unknown, sd->unknowncap * sizeof(*sd->unknown));
		}
		u = &sd->unknown[sd->nunknown++];
		u->why = NULL;
	}
	if (u == NULL) {
		u = &sd->unknown[0];
		for (i = 1; i < sd->nunknown; i++)
			if (sd->unknown[i].until_ms < u->until_ms)
				u = &sd->unknown[i];
	}
	free(u->why);
	u->id = id;
	u->until_ms = now + IL_SR_UNKNOWN_TTL_MS;
	u->why = il_xstrdup(why);
}

il_err
il_serde_schema_by_id(il_serde *sd, int32_t id, const il_schema **s,
    char *errbuf, size_t errsz)
{
	const il_sd_id *known = ids_find(sd, id);
	const il_sd_unknown *unknown;
	char why[IL_SR_WHY_MAX];
	int64_t now;
	il_err err;

	if (known != NULL) {
		*s = known->schema;
		return IL_OK;
	}
	if (sd->url == NULL) {
		il_err_setf(errbuf, errsz, "unknown schema id %d: not among the offline ids in \"%s\"",
		    (int)id, sd->ids_path);
		return IL_ERR_DECODE_SCHEMA;
	}
	now = il_timers_now_ms();
	unknown = unknown_find(sd, id, now);
	if (unknown != NULL) {
		il_err_setf(errbuf, errsz, "%s", unknown->why);
		return IL_ERR_DECODE_SCHEMA;
	}
	why[0] = '\0';
	err = sr_fetch(sd, id, s, why, sizeof(why));
	if (err == IL_ERR_DECODE_SCHEMA)
		unknown_add(sd, id, why, now);
	if (err != IL_OK)
		il_err_setf(errbuf, errsz, "%s", why);
	return err;
}

il_err
il_serde_encode(il_serde *sd, const char *topic, const il_schema *s, const cJSON *json,
    il_buf *out, char *errbuf, size_t errsz)
{
	unsigned char header[IL_WIRE_HEADER_LEN];
	size_t start = out->len;
	char *subject = il_xasprintf("%s-value", topic);
	int32_t id;
	il_err err;

	err = il_serde_schema_id(sd, subject, s, &id, errbuf, errsz);
	if (err != IL_OK)
		goto done;
	il_wire_header(id, header);
	if (il_buf_add(out, header, sizeof(header)) != IL_OK) {
		il_err_setf(errbuf, errsz, "output buffer full (at most %zu bytes)", out->max);
		err = IL_ERR_NOMEM;
		goto done;
	}
	err = il_avro_encode_json(s, json, out, errbuf, errsz);
	if (err == IL_OK && out->len - start > sd->max_msg) {
		il_err_setf(errbuf, errsz, "encoded message of %zu bytes exceeds the limit of %zu bytes "
		    "(avro.max.message.bytes)", out->len - start, sd->max_msg);
		err = IL_ERR_ENCODE;
	}
done:
	/* on failure, leave @p out as it was */
	if (err != IL_OK && out->data != NULL) {
		out->len = start;
		out->data[start] = '\0';
	}
	free(subject);
	return err;
}

il_err
il_serde_decode(il_serde *sd, const void *msg, size_t len, cJSON **json,
    const il_schema **writer, char *errbuf, size_t errsz)
{
	const il_schema *s = NULL;
	const void *body;
	size_t body_len;
	int32_t id;
	il_err err;

	*json = NULL;
	err = il_wire_parse(msg, len, sd->max_msg, &id, &body, &body_len, errbuf, errsz);
	if (err != IL_OK)
		return err;
	err = il_serde_schema_by_id(sd, id, &s, errbuf, errsz);
	if (err != IL_OK)
		return err;
	err = il_avro_decode_json(s, body, body_len, json, errbuf, errsz);
	if (err == IL_OK && writer != NULL)
		*writer = s;
	return err;
}
