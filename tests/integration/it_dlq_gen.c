/*
 * it_dlq_gen.c - puts a deterministic mix of dead letters, enrollment
 * results and unreadable messages on the dead-letter and results topics, as
 * imislink-enroll would have written them, for tests of
 * imislink-deadletter.
 *
 *	it_dlq_gen --dlq TOPIC --results TOPIC [--source TOPIC] [--seed N]
 *	    [--first N] [--dead-letters N] [--results-count N] [--unreadable N] --out FILE
 *
 * Dead letter i has class undecodable, mapping, permanent or transient in
 * turn (i mod 4), Connect's and imislink's headers (dlq.h) with source
 * offset i, the key "DL<seed>-<i>", and as value an EligibilityEvent in wire
 * format, or for the undecodable ones bytes that do not decode (text, an
 * unknown schema id, a truncated body).  Result j is an EnrollmentResult
 * with key "RS<seed>-<j>".  The unreadable messages carry no header: on the
 * dead-letter topic garbage, a tombstone or a valid event without headers;
 * on the results topic (one in three) garbage.  --first numbers the
 * messages of each kind from N (default 0): a second run with --first after
 * the first run's counts continues the same sequences.
 *
 * FILE gets one JSON line per message the broker acknowledged: topic,
 * partition, offset, kind (dead_letter or result: the table its row goes
 * to), class (the error class the row must have; null for a result),
 * source_offset (null when none), event_id (null when none), decodes.
 * Exits 0 once every message was acknowledged.  Schemas come from the
 * registry of SCHEMA_REGISTRY_URL, or offline ids without it.
 */
#include <getopt.h>
#include <inttypes.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cjson/cJSON.h>

#include "avro.h"
#include "buf.h"
#include "cli.h"
#include "conf.h"
#include "dlq.h"
#include "event.h"
#include "kafka.h"
#include "log.h"
#include "serde.h"
#include "timefmt.h"
#include "xalloc.h"
#include "../testevent.h"

#define GEN_NAME "it_dlq_gen"
#define GEN_SEND_BLOCK_MS 30000
/* 2026-06-01T00:00:00Z: failures happened then, whatever the clock says. */
#define GEN_BASE_MS 1780272000000LL

/* One message sent, as its delivery report completes it. */
struct sent {
	const char *topic;      /* static or argv */
	const char *kind;       /* "dead_letter" or "result" */
	const char *cls;        /* expected error class; NULL for a result */
	long long source_offset;        /* -1: none */
	char event_id[65];      /* "" when none */
	bool decodes;
	int32_t partition;      /* from the report */
	int64_t offset;
	bool delivered;
	bool failed;
};

struct gen {
	il_conf *conf;
	il_schema_set *schemas;
	il_serde *sd;
	il_producer *prod;
	const il_schema *event_schema;
	const il_schema *result_schema;
	const char *dlq, *results, *source;
	long long seed;
	struct sent *sent;
	size_t nsent, cap;
};

static const char *const classes[] = { "undecodable", "mapping", "permanent", "transient" };
static const char *const stages[] = { "VALUE_CONVERTER", "TRANSFORMATION", "TASK_PUT", "TASK_PUT" };
static const char *const outcomes[] = { "ENROLLED", "UPDATED", "ALREADY_ENROLLED", "SKIPPED", "PENDING_APPROVAL" };

/* An eligibility event of one person, as the benchmarks publish. */
static const char *event_template = TEST_EVENT_PERSON_JSON("x", "it-dlq");

static void
on_delivery(void *msg_opaque, il_err err, const char *errstr, const char *topic, int32_t partition,
    int64_t offset, void *cb_ctx)
{
	struct gen *g = cb_ctx;
	struct sent *s = &g->sent[(uintptr_t)msg_opaque - 1];

	(void)topic;
	if (err != IL_OK) {
		il_log_error("delivery failed", IL_STR("reason", errstr));
		s->failed = true;
		return;
	}
	s->partition = partition;
	s->offset = offset;
	s->delivered = true;
}

/* Records and sends one message; exits on a refusal. */
static void
put(struct gen *g, const char *topic, const char *key, const void *value, size_t vallen,
    const il_kafka_header *hdrs, size_t nhdrs, const struct sent *what)
{
	il_err err;

	if (g->nsent == g->cap) {
		g->cap = g->cap == 0 ? 1024 : g->cap * 2;
		g->sent = il_xrealloc(g->sent, g->cap * sizeof(*g->sent));
	}
	g->sent[g->nsent] = *what;
	g->sent[g->nsent].topic = topic;
	g->nsent++;
	err = il_producer_send(g->prod, topic, RD_KAFKA_PARTITION_UA, key, key != NULL ? strlen(key) : 0,
	    value, vallen, hdrs, nhdrs, (void *)(uintptr_t)g->nsent, GEN_SEND_BLOCK_MS);
	if (err != IL_OK)
		il_cli_fatal("could not send to \"%s\": %s", topic, il_err_str(err));
	il_producer_poll(g->prod, 0);
}

static void
encode(struct gen *g, const char *topic, const il_schema *s, const cJSON *json, il_buf *out)
{
	char errbuf[512];

	il_buf_reset(out);
	if (il_serde_encode(g->sd, topic, s, json, out, errbuf, sizeof(errbuf)) != IL_OK)
		il_cli_fatal("could not encode: %s", errbuf);
}

/* Event @p i as its JSON form, with its id in @p eid. */
static cJSON *
make_event(struct gen *g, long long i, const char *key, char eid[65])
{
	cJSON *event = cJSON_Parse(event_template), *reg, *src, *id;
	char pk[32];

	if (event == NULL)
		il_cli_fatal("the event template does not parse");
	reg = cJSON_GetObjectItem(event, "registrant");
	src = cJSON_GetObjectItem(event, "source");
	id = cJSON_GetArrayItem(cJSON_GetObjectItem(reg, "external_ids"), 0);
	snprintf(pk, sizeof(pk), "%lld", g->seed * 1000000000LL + i);
	il_event_id("openspp", "it-dlq", "CDC", key, "g2p_program_membership", pk, eid);
	cJSON_ReplaceItemInObject(id, "value", cJSON_CreateString(key));
	cJSON_ReplaceItemInObject(src, "primary_key", cJSON_CreateString(pk));
	cJSON_ReplaceItemInObject(event, "event_id", cJSON_CreateString(eid));
	cJSON_ReplaceItemInObject(cJSON_GetObjectItem(event, "programme"), "id",
	    cJSON_CreateNumber((double)(7 + i % 3)));
	return event;
}

static void
dead_letter(struct gen *g, long long i, il_buf *val)
{
	int c = (int)(i % 4);
	char key[48], msg[128], task[32], eid[65] = "";
	struct sent what = { 0 };
	il_dlq_headers h;
	il_dlq_failure f;
	cJSON *event;

	snprintf(key, sizeof(key), "DL%lld-%lld", g->seed, i);
	if (c == 0) {
		unsigned char junk[32];

		il_buf_reset(val);
		switch ((i / 4) % 3) {
		case 0:         /* not the wire format at all */
			if (il_buf_printf(val, "not avro: dead letter %lld", i) != IL_OK)
				il_cli_fatal("buffer full");
			break;
		case 1:         /* a schema id no registry has */
			il_wire_header(2000000000 + (int32_t)(i % 1000), junk);
			memset(junk + IL_WIRE_HEADER_LEN, 0x42, 8);
			if (il_buf_add(val, junk, IL_WIRE_HEADER_LEN + 8) != IL_OK)
				il_cli_fatal("buffer full");
			break;
		default:        /* a real event cut short */
			event = make_event(g, i, key, eid);
			encode(g, g->source, g->event_schema, event, val);
			cJSON_Delete(event);
			val->len = val->len / 2;
			eid[0] = '\0';
			break;
		}
	} else {
		event = make_event(g, i, key, eid);
		encode(g, g->source, g->event_schema, event, val);
		cJSON_Delete(event);
	}
	snprintf(msg, sizeof(msg), "it_dlq_gen: %s failure of dead letter %lld", classes[c], i);
	snprintf(task, sizeof(task), "it-dlq-gen-%lld", g->seed);
	f = (il_dlq_failure){
		.topic = g->source, .partition = (int32_t)(i % 6), .offset = i,
		.connector = "imislink-enroll", .task = task, .stage = stages[c],
		.error_class = classes[c], .message = msg, .attempts = 1 + (int)(i % 5),
		.first_failure_ms = GEN_BASE_MS + i * 1000, .last_failure_ms = GEN_BASE_MS + i * 1000 + 500,
		.event_id = eid[0] != '\0' ? eid : NULL,
	};
	il_dlq_headers_fill(&h, &f);
	what.kind = "dead_letter";
	what.cls = classes[c];
	what.source_offset = i;
	what.decodes = c != 0;
	snprintf(what.event_id, sizeof(what.event_id), "%s", eid);
	put(g, g->dlq, key, val->data, val->len, h.h, h.n, &what);
}

static void
result(struct gen *g, long long j, il_buf *val)
{
	cJSON *o = cJSON_CreateObject(), *refs;
	struct sent what = { 0 };
	char key[48], eid[65], when[IL_TIME_LEN], uuid[40];

	snprintf(key, sizeof(key), "RS%lld-%lld", g->seed, j);
	il_event_id("openspp", "it-dlq", "RESULT", key, "results", key, eid);
	snprintf(uuid, sizeof(uuid), "00000000-0000-4000-8000-%012lld", j % 1000000000000LL);
	il_time_format_ms(GEN_BASE_MS + j * 10, when);
	cJSON_AddStringToObject(o, "event_id", eid);
	cJSON_AddStringToObject(o, "key", key);
	cJSON_AddStringToObject(o, "outcome", outcomes[j % 5]);
	cJSON_AddStringToObject(o, "target", "INSURANCE");
	cJSON_AddNumberToObject(o, "programme_id", 7);
	refs = cJSON_AddObjectToObject(o, "openimis");
	cJSON_AddStringToObject(refs, "insuree_uuid", uuid);
	cJSON_AddStringToObject(refs, "chf_id", key);
	cJSON_AddStringToObject(refs, "family_uuid", uuid);
	cJSON_AddStringToObject(refs, "policy_uuid", uuid);
	cJSON_AddNullToObject(refs, "individual_uuid");
	cJSON_AddNullToObject(refs, "beneficiary_uuid");
	cJSON_AddNumberToObject(o, "attempts", 1 + (double)(j % 3));
	cJSON_AddNumberToObject(o, "duration_ms", (double)(j % 100));
	cJSON_AddNullToObject(o, "error_class");
	cJSON_AddNullToObject(o, "error_message");
	cJSON_AddStringToObject(o, "source_topic", g->source);
	cJSON_AddNumberToObject(o, "source_partition", (double)(j % 6));
	cJSON_AddNumberToObject(o, "source_offset", (double)j);
	cJSON_AddStringToObject(o, "worker_id", "it-dlq-gen");
	cJSON_AddStringToObject(o, "processed_at", when);
	encode(g, g->results, g->result_schema, o, val);
	cJSON_Delete(o);
	what.kind = "result";
	what.source_offset = j;
	what.decodes = true;
	snprintf(what.event_id, sizeof(what.event_id), "%s", eid);
	put(g, g->results, key, val->data, val->len, NULL, 0, &what);
}

/* Message @p u without headers: undecodable rows, whatever it holds. */
static void
unreadable(struct gen *g, long long u, il_buf *val)
{
	struct sent what = { 0 };
	char key[48], eid[65];
	cJSON *event;

	what.kind = "dead_letter";
	what.cls = "undecodable";
	what.source_offset = -1;
	snprintf(key, sizeof(key), "UR%lld-%lld", g->seed, u);
	il_buf_reset(val);
	if (u % 3 == 2) {
		if (il_buf_printf(val, "\xff\xfe garbage on the results topic %lld", u) != IL_OK)
			il_cli_fatal("buffer full");
		put(g, g->results, key, val->data, val->len, NULL, 0, &what);
		return;
	}
	switch ((u / 3) % 3) {
	case 0:
		if (il_buf_printf(val, "\x01 garbage %lld \x80\x81", u) != IL_OK)
			il_cli_fatal("buffer full");
		put(g, g->dlq, key, val->data, val->len, NULL, 0, &what);
		break;
	case 1:         /* a tombstone, without a key either */
		put(g, g->dlq, NULL, NULL, 0, NULL, 0, &what);
		break;
	default:        /* a real event that lacks the headers */
		event = make_event(g, 1000000 + u, key, eid);
		encode(g, g->source, g->event_schema, event, val);
		cJSON_Delete(event);
		what.decodes = true;
		snprintf(what.event_id, sizeof(what.event_id), "%s", eid);
		put(g, g->dlq, key, val->data, val->len, NULL, 0, &what);
		break;
	}
}

static void
write_out(struct gen *g, const char *path)
{
	FILE *f = fopen(path, "w");
	size_t i;

	if (f == NULL)
		il_cli_fatal("could not open file \"%s\" for writing", path);
	for (i = 0; i < g->nsent; i++) {
		const struct sent *s = &g->sent[i];

		fprintf(f, "{\"topic\":\"%s\",\"partition\":%d,\"offset\":%" PRId64 ",\"kind\":\"%s\",",
		    s->topic, (int)s->partition, s->offset, s->kind);
		if (s->cls != NULL)
			fprintf(f, "\"class\":\"%s\",", s->cls);
		else
			fprintf(f, "\"class\":null,");
		if (s->source_offset >= 0)
			fprintf(f, "\"source_offset\":%lld,", s->source_offset);
		else
			fprintf(f, "\"source_offset\":null,");
		if (s->event_id[0] != '\0')
			fprintf(f, "\"event_id\":\"%s\",", s->event_id);
		else
			fprintf(f, "\"event_id\":null,");
		fprintf(f, "\"decodes\":%s}\n", s->decodes ? "true" : "false");
	}
	if (fclose(f) != 0)
		il_cli_fatal("could not write file \"%s\"", path);
}

int
main(int argc, char **argv)
{
	static const struct option longopts[] = {
		{ "dlq", required_argument, NULL, 'd' },
		{ "results", required_argument, NULL, 'r' },
		{ "source", required_argument, NULL, 's' },
		{ "seed", required_argument, NULL, 'S' },
		{ "first", required_argument, NULL, 'f' },
		{ "dead-letters", required_argument, NULL, 'n' },
		{ "results-count", required_argument, NULL, 'm' },
		{ "unreadable", required_argument, NULL, 'u' },
		{ "out", required_argument, NULL, 'o' },
		{ NULL, 0, NULL, 0 },
	};
	struct gen g = { 0 };
	long long ndl = 0, nres = 0, nun = 0, first = 0, i;
	const char *out = NULL;
	char errbuf[512];
	size_t failed = 0, k;
	il_buf val;
	int c;

	il_log_init(GEN_NAME, IL_LOG_WARN, NULL);
	g.source = "openspp.eligibility.v1";
	while ((c = getopt_long(argc, argv, "", longopts, NULL)) != -1) {
		switch (c) {
		case 'd': g.dlq = optarg; break;
		case 'r': g.results = optarg; break;
		case 's': g.source = optarg; break;
		case 'o': out = optarg; break;
		case 'S':
			if (!il_cli_parse_int(optarg, 0, 1000000, &g.seed))
				il_cli_fatal("invalid --seed: expected 0 to 1000000, got \"%s\"", optarg);
			break;
		case 'f':
			if (!il_cli_parse_int(optarg, 0, 100000000, &first))
				il_cli_fatal("invalid --first: \"%s\"", optarg);
			break;
		case 'n':
			if (!il_cli_parse_int(optarg, 0, 100000000, &ndl))
				il_cli_fatal("invalid --dead-letters: \"%s\"", optarg);
			break;
		case 'm':
			if (!il_cli_parse_int(optarg, 0, 100000000, &nres))
				il_cli_fatal("invalid --results-count: \"%s\"", optarg);
			break;
		case 'u':
			if (!il_cli_parse_int(optarg, 0, 100000000, &nun))
				il_cli_fatal("invalid --unreadable: \"%s\"", optarg);
			break;
		default:
			il_cli_bad_usage(GEN_NAME, "invalid option", argv[optind - 1]);
		}
	}
	if (g.dlq == NULL || g.results == NULL || out == NULL || optind != argc)
		il_cli_fatal("usage: %s --dlq TOPIC --results TOPIC [--source TOPIC] [--seed N] [--first N] [--dead-letters N] "
		    "[--results-count N] [--unreadable N] --out FILE", GEN_NAME);
	g.conf = il_conf_new();
	if (il_conf_load_env(g.conf, errbuf, sizeof(errbuf)) != IL_OK)
		il_cli_fatal("%s", errbuf);
	g.schemas = il_schema_set_load(il_conf_get(g.conf, "schemas.dir"), errbuf, sizeof(errbuf));
	if (g.schemas == NULL)
		il_cli_fatal("%s", errbuf);
	g.event_schema = il_schema_set_latest(g.schemas, "EligibilityEvent");
	g.result_schema = il_schema_set_latest(g.schemas, "EnrollmentResult");
	if (g.event_schema == NULL || g.result_schema == NULL)
		il_cli_fatal("no EligibilityEvent or EnrollmentResult schema");
	g.sd = il_serde_new(g.conf, g.schemas, errbuf, sizeof(errbuf));
	if (g.sd == NULL)
		il_cli_fatal("%s", errbuf);
	g.prod = il_producer_new(g.conf, on_delivery, &g, errbuf, sizeof(errbuf));
	if (g.prod == NULL)
		il_cli_fatal("%s", errbuf);
	il_buf_init(&val, 1 << 20);
	/* Interleaved, as a pipeline writes them. */
	for (i = 0; i < ndl || i < nres || i < nun; i++) {
		if (i < ndl)
			dead_letter(&g, first + i, &val);
		if (i < nres)
			result(&g, first + i, &val);
		if (i < nun)
			unreadable(&g, first + i, &val);
	}
	if (il_producer_flush(g.prod, 120000) != IL_OK)
		il_cli_fatal("messages still unacknowledged after 120 s");
	for (k = 0; k < g.nsent; k++)
		if (!g.sent[k].delivered)
			failed++;
	if (failed > 0)
		il_cli_fatal("%zu of %zu messages not acknowledged", failed, g.nsent);
	write_out(&g, out);
	fprintf(stderr, "%s: %zu messages acknowledged\n", GEN_NAME, g.nsent);
	il_buf_free(&val);
	il_producer_destroy(g.prod);
	il_serde_destroy(g.sd);
	il_schema_set_destroy(g.schemas);
	il_conf_destroy(g.conf);
	free(g.sent);
	return 0;
}
