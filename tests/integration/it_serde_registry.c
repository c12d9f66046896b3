/*
 * it_serde_registry - common/serde.c against a real Schema Registry.
 *
 *	it_serde_registry registry TOPIC
 *	    against $SCHEMA_REGISTRY_URL: registers both schemas under subjects
 *	    of TOPIC, encodes, decodes with a fresh serde (empty cache: GET by
 *	    id), decodes a version the tree does not hold, has an incompatible
 *	    version refused (409) and an unknown id refused precisely.
 *	it_serde_registry outage URL LOG STOP-COMMAND...
 *	    against a private registry at URL that logs each request to LOG:
 *	    warms the cache, checks that a flood of messages with an unknown
 *	    id costs one request, runs STOP-COMMAND to take the registry away,
 *	    then checks that cached ids (and the unknown one) still serve and
 *	    that everything else is IL_ERR_TRANSIENT.
 *
 * Prints one "PASS <name>" or "FAIL <name>: <reason>" line per check (see
 * tests/integration/helpers.sh); exits 1 when any check failed.
 */
#include <stdarg.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/types.h>
#include <sys/wait.h>
#include <unistd.h>

#include "avro.h"
#include "conf.h"
#include "serde.h"
#include "xalloc.h"
#include "../unit/testutil.h"

/* State shared by the checks of one run. */
typedef struct it {
	il_conf *conf;                  /* online configuration */
	il_schema_set *set;             /* the tree's schemas */
	const il_schema *event;         /* EligibilityEvent, latest */
	const il_schema *result;        /* EnrollmentResult, latest */
	int fails;                      /* FAIL lines printed */
} it;

static void
pass(const char *name)
{
	printf("PASS %s\n", name);
	fflush(stdout);
}

static void
fail(it *t, const char *name, const char *fmt, ...) __attribute__((format(printf, 3, 4)));

static void
fail(it *t, const char *name, const char *fmt, ...)
{
	va_list ap;

	printf("FAIL %s: ", name);
	va_start(ap, fmt);
	vprintf(fmt, ap);
	va_end(ap);
	printf("\n");
	fflush(stdout);
	t->fails++;
}

static il_serde *
serde_new(it *t)
{
	char err[512];
	il_serde *sd = il_serde_new(t->conf, t->set, err, sizeof(err));

	if (sd == NULL) {
		fprintf(stderr, "could not make a serde: %s\n", err);
		exit(1);
	}
	return sd;
}

/* EligibilityEvent v1 plus one field: a version this tree does not hold. */
static il_schema *
event_with_field(const il_schema *v1, const char *field)
{
	cJSON *j = cJSON_Parse(il_schema_text(v1));
	char err[512], *text;
	il_schema *s;

	cJSON_AddItemToArray(cJSON_GetObjectItemCaseSensitive(j, "fields"), cJSON_Parse(field));
	text = cJSON_PrintUnformatted(j);
	s = il_schema_from_json(text, strlen(text), err, sizeof(err));
	if (s == NULL) {
		fprintf(stderr, "could not make a schema: %s\n", err);
		exit(1);
	}
	free(text);
	cJSON_Delete(j);
	return s;
}

static int32_t
header_id(const il_buf *msg)
{
	const unsigned char *p = (const unsigned char *)msg->data;

	return (int32_t)(((uint32_t)p[1] << 24) | ((uint32_t)p[2] << 16) |
	    ((uint32_t)p[3] << 8) | (uint32_t)p[4]);
}

/* Checks that @p msg decodes with a new, empty serde to @p expect, written with @p want. */
static void
check_fresh_decode(it *t, const char *name, const il_buf *msg, const cJSON *expect,
    const il_schema *want, const char *want_fullname)
{
	il_serde *sd = serde_new(t);
	const il_schema *writer = NULL;
	cJSON *out = NULL;
	char err[512];
	il_err rc;

	rc = il_serde_decode(sd, msg->data, msg->len, &out, &writer, err, sizeof(err));
	if (rc != IL_OK)
		fail(t, name, "decode with an empty cache failed: %s", err);
	else if (!cJSON_Compare(out, expect, 1))
		fail(t, name, "the decoded value differs from what was encoded");
	else if (want != NULL && writer != want)
		fail(t, name, "the writer schema is not the tree's own %s", il_schema_name(want));
	else if (want == NULL && (il_schema_version(writer) != 0 ||
	    strcmp(il_schema_fullname(writer), want_fullname) != 0))
		fail(t, name, "the writer schema is %s version %d", il_schema_fullname(writer),
		    il_schema_version(writer));
	else
		pass(name);
	cJSON_Delete(out);
	il_serde_destroy(sd);
}

static void
run_registry(it *t, const char *topic)
{
	char *subject = il_xasprintf("%s-value", topic);
	char *results = il_xasprintf("%s-results", topic);
	cJSON *full = il_test_avro_json("event-full.json"), *expect;
	il_serde *a = serde_new(t), *b = serde_new(t);
	il_schema *v2, *bad;
	int32_t id1 = 0, id2 = 0, id, idb;
	char err[512], prefix[512];
	unsigned char hdr[IL_WIRE_HEADER_LEN + 1];
	cJSON *out = NULL;
	il_buf msg;
	il_err rc;

	il_buf_init(&msg, 1 << 20);
	rc = il_serde_schema_id(a, subject, t->event, &id1, err, sizeof(err));
	if (rc == IL_OK && id1 > 0)
		pass("register_eligibility_event");
	else
		fail(t, "register_eligibility_event", "%s", err);
	rc = il_serde_schema_id(a, results, t->result, &id2, err, sizeof(err));
	if (rc == IL_OK && id2 > 0 && id2 != id1)
		pass("register_enrollment_result");
	else
		fail(t, "register_enrollment_result", "code %d, id %d: %s", (int)rc, (int)id2, err);
	rc = il_serde_schema_id(b, subject, t->event, &idb, err, sizeof(err));
	if (rc == IL_OK && idb == id1 && il_serde_schema_id(a, subject, t->event, &id, err,
	    sizeof(err)) == IL_OK && id == id1)
		pass("same_schema_same_id");
	else
		fail(t, "same_schema_same_id", "ids %d and %d: %s", (int)id1, (int)idb, err);

	rc = il_serde_encode(a, topic, t->event, full, &msg, err, sizeof(err));
	if (rc == IL_OK && msg.len > IL_WIRE_HEADER_LEN && msg.data[0] == 0 && header_id(&msg) == id1)
		pass("encode_wire_header");
	else
		fail(t, "encode_wire_header", "code %d: %s", (int)rc, err);
	check_fresh_decode(t, "decode_with_empty_cache", &msg, full, t->event, NULL);

	/* a compatible version 2 the tree does not hold: decoded with the registry's schema */
	v2 = event_with_field(t->event,
	    "{\"name\":\"consent\",\"type\":[\"null\",\"boolean\"],\"default\":null}");
	il_buf_reset(&msg);
	rc = il_serde_encode(a, topic, v2, full, &msg, err, sizeof(err));
	if (rc == IL_OK && header_id(&msg) != id1)
		pass("register_compatible_version");
	else
		fail(t, "register_compatible_version", "code %d: %s", (int)rc, err);
	expect = cJSON_Duplicate(full, 1);
	cJSON_AddNullToObject(expect, "consent");
	check_fresh_decode(t, "decode_unknown_version", &msg, expect, NULL,
	    "org.imislink.events.EligibilityEvent");
	cJSON_Delete(expect);

	/* a required field without default breaks every old event: 409 */
	bad = event_with_field(t->event, "{\"name\":\"national_id\",\"type\":\"string\"}");
	snprintf(prefix, sizeof(prefix), "schema registry refused schema "
	    "\"org.imislink.events.EligibilityEvent\" under subject \"%s\" as incompatible: ",
	    subject);
	rc = il_serde_schema_id(a, subject, bad, &id, err, sizeof(err));
	fprintf(stderr, "info: incompatible version: %s\n", err);
	if (rc == IL_ERR_PERMANENT && strncmp(err, prefix, strlen(prefix)) == 0 &&
	    strstr(err, "national_id") != NULL)
		pass("incompatible_version_refused");
	else
		fail(t, "incompatible_version_refused", "code %d: %s", (int)rc, err);

	/* an id the registry never gave */
	il_wire_header(2147483000, hdr);
	hdr[IL_WIRE_HEADER_LEN] = 0;
	rc = il_serde_decode(b, hdr, sizeof(hdr), &out, NULL, err, sizeof(err));
	fprintf(stderr, "info: unknown id: %s\n", err);
	if (rc == IL_ERR_DECODE_SCHEMA && out == NULL &&
	    strncmp(err, "unknown schema id 2147483000: ", 30) == 0)
		pass("unknown_schema_id");
	else
		fail(t, "unknown_schema_id", "code %d: %s", (int)rc, err);

	il_schema_destroy(bad);
	il_schema_destroy(v2);
	il_buf_free(&msg);
	il_serde_destroy(a);
	il_serde_destroy(b);
	cJSON_Delete(full);
	free(results);
	free(subject);
}


static int
run_command(char **argv)
{
	int status;
	pid_t pid = fork();

	if (pid < 0)
		return -1;
	if (pid == 0) {
		execvp(argv[0], argv);
		_exit(127);
	}
	if (waitpid(pid, &status, 0) != pid)
		return -1;
	return WIFEXITED(status) ? WEXITSTATUS(status) : -1;
}

static void
run_outage(it *t, const char *url, const char *log, char **stop)
{
	cJSON *full = il_test_avro_json("event-typical.json"), *out = NULL;
	il_serde *sd = serde_new(t);
	char err[512], prefix[512], first[512], needle[64];
	unsigned char hdr[IL_WIRE_HEADER_LEN + 1];
	int32_t id1 = 0, id, garbage;
	int i, bad = 0, requests;
	il_buf msg;
	il_err rc;

	il_buf_init(&msg, 1 << 20);
	rc = il_serde_encode(sd, "outage", t->event, full, &msg, err, sizeof(err));
	if (rc != IL_OK) {
		fail(t, "outage_warm_cache", "%s", err);
		goto done;
	}
	id1 = header_id(&msg);

	/* Garbage ids: each costs the registry one request, not one per message. */
	garbage = id1 + 5000;
	rc = il_test_decode_id(sd, garbage, first, sizeof(first));
	for (i = 0; i < 200; i++)
		bad += il_test_decode_id(sd, garbage, err, sizeof(err)) != IL_ERR_DECODE_SCHEMA ||
		    strcmp(err, first) != 0;
	snprintf(needle, sizeof(needle), "\"GET /schemas/ids/%d ", (int)garbage);
	requests = il_test_count_lines(log, needle);
	if (rc == IL_ERR_DECODE_SCHEMA && bad == 0 && requests == 1)
		pass("unknown_id_flood_costs_one_request");
	else
		fail(t, "unknown_id_flood_costs_one_request", "code %d (%s), %d answers differed, "
		    "%d requests for id %d in \"%s\"", (int)rc, first, bad, requests, (int)garbage, log);

	if (run_command(stop) != 0) {
		fail(t, "outage_stop_registry", "\"%s\" failed", stop[0]);
		goto done;
	}
	pass("outage_stop_registry");
	rc = il_serde_schema_id(sd, "outage-value", t->event, &id, err, sizeof(err));
	if (rc == IL_OK && id == id1)
		pass("cached_id_survives_outage");
	else
		fail(t, "cached_id_survives_outage", "code %d: %s", (int)rc, err);
	rc = il_serde_decode(sd, msg.data, msg.len, &out, NULL, err, sizeof(err));
	if (rc == IL_OK && cJSON_Compare(out, full, 1))
		pass("cached_decode_survives_outage");
	else
		fail(t, "cached_decode_survives_outage", "code %d: %s", (int)rc, err);
	cJSON_Delete(out);
	out = NULL;
	/* The registry said it does not know the id: still true in the outage. */
	rc = il_test_decode_id(sd, garbage, err, sizeof(err));
	if (rc == IL_ERR_DECODE_SCHEMA && strcmp(err, first) == 0)
		pass("unknown_id_remembered_in_outage");
	else
		fail(t, "unknown_id_remembered_in_outage", "code %d: %s", (int)rc, err);

	snprintf(prefix, sizeof(prefix), "could not reach schema registry \"%s\": ", url);
	rc = il_serde_schema_id(sd, "outage-results-value", t->result, &id, err, sizeof(err));
	fprintf(stderr, "info: registry down: %s\n", err);
	if (rc == IL_ERR_TRANSIENT && strncmp(err, prefix, strlen(prefix)) == 0)
		pass("registration_in_outage_is_transient");
	else
		fail(t, "registration_in_outage_is_transient", "code %d: %s", (int)rc, err);
	il_wire_header(id1 + 1000, hdr);
	hdr[IL_WIRE_HEADER_LEN] = 0;
	rc = il_serde_decode(sd, hdr, sizeof(hdr), &out, NULL, err, sizeof(err));
	if (rc == IL_ERR_TRANSIENT && out == NULL && strncmp(err, prefix, strlen(prefix)) == 0)
		pass("unknown_id_in_outage_is_transient");
	else
		fail(t, "unknown_id_in_outage_is_transient", "code %d: %s", (int)rc, err);
done:
	il_buf_free(&msg);
	il_serde_destroy(sd);
	cJSON_Delete(full);
}

static void
usage(const char *prog)
{
	fprintf(stderr, "usage: %s registry TOPIC\n"
	    "       %s outage URL LOG STOP-COMMAND...\n", prog, prog);
	exit(2);
}

int
main(int argc, char **argv)
{
	const char *url = NULL;
	char err[512];
	it t;

	memset(&t, 0, sizeof(t));
	if (argc == 3 && strcmp(argv[1], "registry") == 0)
		url = getenv("SCHEMA_REGISTRY_URL");
	else if (argc >= 5 && strcmp(argv[1], "outage") == 0)
		url = argv[2];
	else
		usage(argv[0]);
	if (url == NULL || url[0] == '\0') {
		printf("FAIL it_serde_registry: SCHEMA_REGISTRY_URL is not set\n");
		return 1;
	}
	t.conf = il_conf_new();
	if (il_conf_set(t.conf, "schema.registry.url", url, "test", err, sizeof(err)) != IL_OK) {
		printf("FAIL it_serde_registry: %s\n", err);
		return 1;
	}
	t.set = il_schema_set_load(IL_SCHEMAS_DIR, err, sizeof(err));
	if (t.set == NULL) {
		printf("FAIL it_serde_registry: %s\n", err);
		return 1;
	}
	t.event = il_schema_set_latest(t.set, "EligibilityEvent");
	t.result = il_schema_set_latest(t.set, "EnrollmentResult");
	if (strcmp(argv[1], "registry") == 0)
		run_registry(&t, argv[2]);
	else
		run_outage(&t, url, argv[3], argv + 4);
	il_schema_set_destroy(t.set);
	il_conf_destroy(t.conf);
	return t.fails == 0 ? 0 : 1;
}
