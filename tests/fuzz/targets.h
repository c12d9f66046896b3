/*
 * targets.h - the entry functions of the fuzz targets, shared by the
 * libFuzzer programs (tests/fuzz/fuzz_*.c, built with clang by `make fuzz`)
 * and by tests/unit/test_fuzz_corpus.c, which replays every file of
 * tests/data/fuzz/<target>/ through the same functions under the normal
 * sanitizer build, so that a crash once found stays fixed on machines
 * without clang.
 *
 * Each fuzz_<target>_one() feeds one input to a parser that takes bytes from
 * outside and then checks what the product promises about the answer: a
 * refusal carries a reason, an accepted Kafka value survives a round trip
 * through the JSON form, an accepted openSPP body makes an event that has a
 * key and encodes, a time that parses formats back to itself.  A broken
 * promise calls ctx->on_fail, which aborts (libFuzzer then keeps the input as
 * a crash) unless the caller put something else there (the unit test:
 * cmocka's fail_msg).
 *
 * Header-only (static inline): each program links only libimislink.a or the
 * common/ objects.
 */
#ifndef IL_FUZZ_TARGETS_H
#define IL_FUZZ_TARGETS_H

#include <errno.h>
#include <inttypes.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/syscall.h>
#include <unistd.h>

#include <cjson/cJSON.h>

#include "avro.h"
#include "buf.h"
#include "commitlog.h"
#include "conf.h"
#include "err.h"
#include "event.h"
#include "pgoutput.h"
#include "serde.h"
#include "text.h"
#include "timefmt.h"
#include "xalloc.h"

#ifndef IL_SCHEMAS_DIR
#error "IL_SCHEMAS_DIR must name schemas/ (the Makefile defines it)"
#endif

/* Reasons are written into buffers of this size, as the programs do. */
#define FUZZ_ERRSZ 512
/* Bound of the encode buffers: twice the default avro.max.message.bytes. */
#define FUZZ_OUT_MAX (2 * 1024 * 1024)

typedef struct fuzz_ctx fuzz_ctx;

/** Reports a broken promise; must not return (the default aborts). */
typedef void (fuzz_fail_fn)(const fuzz_ctx *ctx, const char *msg);

struct fuzz_ctx {
	il_schema_set *schemas;         /* the tree's schemas */
	const il_schema *event;         /* latest EligibilityEvent */
	const il_schema *result;        /* latest EnrollmentResult */
	il_conf *conf;                  /* defaults, offline: what il_serde needs */
	il_serde *serde;                /* offline serde over schemas */
	cJSON *typical;                 /* a valid event, encoded between two encodes */
	int memfd;                      /* holds a properties file being read */
	char conf_path[64];             /* /proc/self/fd/<memfd> */
	FILE *devnull;                  /* where il_conf_dump() writes */
	fuzz_fail_fn *on_fail;          /* called on a broken promise */
	const char *label;              /* the input being replayed, for messages; may be NULL */
};

static inline void
fuzz_fail_abort(const fuzz_ctx *ctx, const char *msg)
{
	fprintf(stderr, "fuzz: broken promise%s%s: %s\n", ctx->label != NULL ? " in " : "",
	    ctx->label != NULL ? ctx->label : "", msg);
	abort();
}

static inline void
fuzz_fail(const fuzz_ctx *ctx, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

static inline void
fuzz_fail(const fuzz_ctx *ctx, const char *fmt, ...)
{
	char msg[2048];
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(msg, sizeof(msg), fmt, ap);
	va_end(ap);
	ctx->on_fail(ctx, msg);
	/* a fail function that returns breaks its own contract */
	abort();
}

/* Stops the process at set-up: nothing can be fuzzed without the fixtures. */
static inline void
fuzz_setup_fail(const char *what, const char *why)
{
	fprintf(stderr, "fuzz: could not set up %s: %s\n", what, why);
	exit(1);
}

/**
 * @brief Makes the state the targets share: the tree's schemas, an offline
 * serde, a memfd for properties files.  Exits on failure (start-up).
 * @returns a context to free with fuzz_ctx_destroy().
 */
static inline fuzz_ctx *
fuzz_ctx_new(void)
{
	static const char typical[] =
	    "{\"event_id\":\"e\",\"event_type\":\"REGISTRANT_UPDATED\","
	    "\"source\":{\"system\":\"openspp\",\"instance\":\"i\",\"kind\":\"CDC\",\"position\":\"0/1\"},"
	    "\"occurred_at\":\"2026-01-02T03:04:05.678Z\",\"produced_at\":1,"
	    "\"registrant\":{\"source_id\":7,\"external_ids\":[{\"type\":\"National ID\",\"value\":\"X\"},"
	    "{\"type\":\"t\",\"value\":\"v\",\"status\":\"valid\",\"expiry_date\":\"2030-01-01\"}],"
	    "\"phones\":[{\"number\":\"1\"}],\"birthdate\":\"1990-01-01\"}}";
	fuzz_ctx *ctx = il_xcalloc(1, sizeof(*ctx));
	char err[FUZZ_ERRSZ];

	ctx->on_fail = fuzz_fail_abort;
	ctx->memfd = -1;
	ctx->schemas = il_schema_set_load(IL_SCHEMAS_DIR, err, sizeof(err));
	if (ctx->schemas == NULL)
		fuzz_setup_fail("the schemas", err);
	ctx->event = il_schema_set_latest(ctx->schemas, "EligibilityEvent");
	ctx->result = il_schema_set_latest(ctx->schemas, "EnrollmentResult");
	if (ctx->event == NULL || ctx->result == NULL)
		fuzz_setup_fail("the schemas", "EligibilityEvent or EnrollmentResult missing");
	ctx->conf = il_conf_new();
	if (il_conf_set(ctx->conf, "schema.registry.url", "", "fuzz", err, sizeof(err)) != IL_OK ||
	    il_conf_set(ctx->conf, "schemas.dir", IL_SCHEMAS_DIR, "fuzz", err, sizeof(err)) != IL_OK)
		fuzz_setup_fail("the configuration", err);
	ctx->serde = il_serde_new(ctx->conf, ctx->schemas, err, sizeof(err));
	if (ctx->serde == NULL)
		fuzz_setup_fail("the serde", err);
	ctx->typical = cJSON_Parse(typical);
	if (ctx->typical == NULL)
		fuzz_setup_fail("the typical event", "not JSON");
	/* memfd_create() is declared only with _GNU_SOURCE: call it by number */
	ctx->memfd = (int)syscall(SYS_memfd_create, "fuzz-properties", 0);
	if (ctx->memfd < 0)
		fuzz_setup_fail("a memfd", strerror(errno));
	snprintf(ctx->conf_path, sizeof(ctx->conf_path), "/proc/self/fd/%d", ctx->memfd);
	ctx->devnull = fopen("/dev/null", "w");
	if (ctx->devnull == NULL)
		fuzz_setup_fail("/dev/null", strerror(errno));
	return ctx;
}

/** Frees @p ctx; NULL is a no-op. */
static inline void
fuzz_ctx_destroy(fuzz_ctx *ctx)
{
	if (ctx == NULL)
		return;
	if (ctx->devnull != NULL)
		fclose(ctx->devnull);
	if (ctx->memfd >= 0)
		close(ctx->memfd);
	cJSON_Delete(ctx->typical);
	il_serde_destroy(ctx->serde);
	il_conf_destroy(ctx->conf);
	il_schema_set_destroy(ctx->schemas);
	free(ctx);
}

/* -------------------------------------------------------------- checks */

/*
 * A refusal must say why; with @p utf8, in UTF-8 (the reasons of a refused
 * Kafka value become dead-letter headers, UTF-8 strings, and those of a
 * refused openSPP body an HTTP answer).  Reasons about the caller's own
 * JSON, a file or an argument may quote them as they were written.
 */
static inline void
fuzz_check_reason(const fuzz_ctx *ctx, const char *what, il_err err, const char *errbuf,
    bool utf8)
{
	if (errbuf[0] == '\0')
		fuzz_fail(ctx, "%s refused (%s) without a reason", what, il_err_str(err));
	if (utf8 && !il_text_utf8_valid(errbuf, strlen(errbuf), NULL))
		fuzz_fail(ctx, "%s refused with a reason that is not UTF-8: %s", what, errbuf);
}

/*
 * Compares two JSON forms by their text (cJSON_Compare() finds a NaN, which
 * a float or double of a registry's schema may hold, unequal to itself).
 */
static inline void
fuzz_check_same_json(const fuzz_ctx *ctx, const char *what, const cJSON *a, const cJSON *b)
{
	char *ta = cJSON_PrintUnformatted(a), *tb = cJSON_PrintUnformatted(b);

	if (ta == NULL || tb == NULL || strcmp(ta, tb) != 0)
		fuzz_fail(ctx, "%s: %s became %s", what, ta != NULL ? ta : "?", tb != NULL ? tb : "?");
	free(ta);
	free(tb);
}

/*
 * An accepted body must survive the JSON form: the JSON form encodes
 * (a dead letter or a replay re-encodes it), and decodes to itself again.
 */
static inline void
fuzz_check_round_trip(const fuzz_ctx *ctx, const il_schema *s, const cJSON *json)
{
	char err[FUZZ_ERRSZ] = "";
	cJSON *again = NULL;
	il_buf b;
	il_err rc;

	il_buf_init(&b, FUZZ_OUT_MAX);
	rc = il_avro_encode_json(s, json, &b, err, sizeof(err));
	if (rc != IL_OK)
		fuzz_fail(ctx, "a decoded %s does not encode again: %s", il_schema_name(s), err);
	rc = il_avro_decode_json(s, b.data, b.len, &again, err, sizeof(err));
	if (rc != IL_OK)
		fuzz_fail(ctx, "a re-encoded %s does not decode: %s", il_schema_name(s), err);
	fuzz_check_same_json(ctx, "decode, encode, decode", json, again);
	cJSON_Delete(again);
	il_buf_free(&b);
}

/*
 * il_avro_decode_json() walks a body before avro-c reads it so that avro-c
 * never fails (a failed avro-c read leaks, and trusts length prefixes): a
 * refusal that comes from avro-c means the walk let something through.
 */
static inline void
fuzz_check_walk(const fuzz_ctx *ctx, il_err rc, const char *errbuf)
{
	if (rc == IL_ERR_DECODE_BODY && strstr(errbuf, "avro-c ") != NULL)
		fuzz_fail(ctx, "the body walk accepted what avro-c refused: %s", errbuf);
}

/* Decodes a whole Kafka value and checks the answer. */
static inline void
fuzz_serde_check(const fuzz_ctx *ctx, const uint8_t *msg, size_t len)
{
	char err[FUZZ_ERRSZ] = "";
	const il_schema *writer = NULL;
	cJSON *json = NULL;
	il_err rc;

	rc = il_serde_decode(ctx->serde, msg, len, &json, &writer, err, sizeof(err));
	if (rc != IL_OK) {
		if (json != NULL)
			fuzz_fail(ctx, "il_serde_decode failed (%s) but gave a value", il_err_str(rc));
		if (IL_ERR_CLASS(rc) != IL_ERR_DECODE)
			fuzz_fail(ctx, "il_serde_decode failed with %s, not a decode error: %s",
			    il_err_str(rc), err);
		fuzz_check_reason(ctx, "il_serde_decode", rc, err, true);
		fuzz_check_walk(ctx, rc, err);
		return;
	}
	if (json == NULL || writer == NULL)
		fuzz_fail(ctx, "il_serde_decode succeeded without a value or a writer schema");
	fuzz_check_round_trip(ctx, writer, json);
	cJSON_Delete(json);
}

/* ------------------------------------------------------------- targets */

/**
 * fuzz_serde_decode: @p data is a whole Kafka value (wire header and body).
 * It is decoded as it is, then again with the header forced to a known
 * schema id (1 or 2 by the low bit of byte 4) so that the body walker sees
 * every input, not only the few that start with a valid header.
 */
static inline void
fuzz_serde_decode_one(const fuzz_ctx *ctx, const uint8_t *data, size_t size)
{
	unsigned char *copy;

	fuzz_serde_check(ctx, data, size);
	if (size < IL_WIRE_HEADER_LEN)
		return;
	copy = il_xmalloc(size);
	memcpy(copy, data, size);
	il_wire_header((data[4] & 1) ? 2 : 1, copy);
	fuzz_serde_check(ctx, copy, size);
	free(copy);
}

/**
 * fuzz_avro_decode: byte 0 picks the schema (low bit: 0 EligibilityEvent,
 * 1 EnrollmentResult), the rest is an Avro body for il_avro_decode_json().
 */
static inline void
fuzz_avro_decode_one(const fuzz_ctx *ctx, const uint8_t *data, size_t size)
{
	const il_schema *s;
	char err[FUZZ_ERRSZ] = "";
	cJSON *json = NULL;
	il_err rc;

	if (size == 0)
		return;
	s = (data[0] & 1) ? ctx->result : ctx->event;
	rc = il_avro_decode_json(s, data + 1, size - 1, &json, err, sizeof(err));
	if (rc != IL_OK) {
		if (json != NULL)
			fuzz_fail(ctx, "il_avro_decode_json failed but gave a value");
		if (rc != IL_ERR_DECODE_BODY && rc != IL_ERR_DECODE_TRAILING)
			fuzz_fail(ctx, "il_avro_decode_json failed with %s: %s", il_err_str(rc), err);
		fuzz_check_reason(ctx, "il_avro_decode_json", rc, err, true);
		fuzz_check_walk(ctx, rc, err);
		return;
	}
	if (json == NULL)
		fuzz_fail(ctx, "il_avro_decode_json succeeded without a value");
	fuzz_check_round_trip(ctx, s, json);
	cJSON_Delete(json);
}

/* Encodes @p json with @p s, then checks the bytes and a second encode. */
static inline void
fuzz_encode_check(const fuzz_ctx *ctx, const il_schema *s, const cJSON *json)
{
	char err[FUZZ_ERRSZ] = "";
	il_buf first, between, second;
	cJSON *back = NULL;
	il_err rc;

	il_buf_init(&first, FUZZ_OUT_MAX);
	il_buf_init(&between, FUZZ_OUT_MAX);
	il_buf_init(&second, FUZZ_OUT_MAX);
	rc = il_avro_encode_json(s, json, &first, err, sizeof(err));
	if (rc != IL_OK) {
		if (rc != IL_ERR_ENCODE)
			fuzz_fail(ctx, "il_avro_encode_json failed with %s: %s", il_err_str(rc), err);
		if (first.len != 0)
			fuzz_fail(ctx, "il_avro_encode_json failed but wrote %zu bytes", first.len);
		fuzz_check_reason(ctx, "il_avro_encode_json", rc, err, true);
		goto done;
	}
	/* what we write, we must read */
	rc = il_avro_decode_json(s, first.data, first.len, &back, err, sizeof(err));
	if (rc != IL_OK)
		fuzz_fail(ctx, "an encoded %s does not decode: %s", il_schema_name(s), err);
	fuzz_check_round_trip(ctx, s, back);
	/*
	 * The encoder reuses avro-c values from one call to the next: the
	 * same value must give the same bytes whatever was encoded between.
	 */
	rc = il_avro_encode_json(ctx->event, ctx->typical, &between, err, sizeof(err));
	if (rc != IL_OK)
		fuzz_fail(ctx, "the typical event no longer encodes: %s", err);
	rc = il_avro_encode_json(s, json, &second, err, sizeof(err));
	if (rc != IL_OK || second.len != first.len || memcmp(first.data, second.data, first.len) != 0)
		fuzz_fail(ctx, "a second encode of the same %s gave other bytes (%s)",
		    il_schema_name(s), rc != IL_OK ? err : "different output");
done:
	cJSON_Delete(back);
	il_buf_free(&first);
	il_buf_free(&between);
	il_buf_free(&second);
}

/**
 * fuzz_avro_encode: @p data is JSON text; what parses is encoded with both
 * schemas by il_avro_encode_json() (the validation of the JSON form).
 */
static inline void
fuzz_avro_encode_one(const fuzz_ctx *ctx, const uint8_t *data, size_t size)
{
	cJSON *json = cJSON_ParseWithLength((const char *)data, size);

	if (json == NULL)
		return;
	fuzz_encode_check(ctx, ctx->event, json);
	fuzz_encode_check(ctx, ctx->result, json);
	cJSON_Delete(json);
}

/**
 * fuzz_event_openspp: @p data is JSON text, as an openSPP body for
 * il_event_from_openspp() and as an event for il_event_key().
 */
static inline void
fuzz_event_openspp_one(const fuzz_ctx *ctx, const uint8_t *data, size_t size)
{
	const il_event_ctx ectx = { "openspp-fuzz", "National ID" };
	char err[FUZZ_ERRSZ] = "";
	cJSON *body = cJSON_ParseWithLength((const char *)data, size), *ev;
	char *key;
	il_buf b;
	il_err rc;

	if (body == NULL)
		return;
	key = il_event_key(&ectx, body, err, sizeof(err));
	if (key == NULL)
		fuzz_check_reason(ctx, "il_event_key", IL_ERR_INVALID, err, true);
	else if (key[0] == '\0')
		fuzz_fail(ctx, "il_event_key gave an empty key");
	free(key);

	err[0] = '\0';
	ev = il_event_from_openspp(&ectx, body, "PUSH", "fuzz:1", err, sizeof(err));
	cJSON_Delete(body);
	if (ev == NULL) {
		fuzz_check_reason(ctx, "il_event_from_openspp", IL_ERR_INVALID, err, true);
		return;
	}
	/* an accepted body makes an event that has a key and fits the schema */
	key = il_event_key(&ectx, ev, err, sizeof(err));
	if (key == NULL || key[0] == '\0')
		fuzz_fail(ctx, "an event made from an accepted body has no key: %s", err);
	if (!il_text_utf8_valid(key, strlen(key), NULL))
		fuzz_fail(ctx, "an event made from an accepted body has a key that is not UTF-8");
	free(key);
	il_buf_init(&b, FUZZ_OUT_MAX);
	rc = il_avro_encode_json(ctx->event, ev, &b, err, sizeof(err));
	if (rc != IL_OK)
		fuzz_fail(ctx, "an event made from an accepted body does not encode: %s", err);
	il_buf_free(&b);
	cJSON_Delete(ev);
}

static inline il_err
fuzz_conf_pair_cb(const char *key, const char *value, void *arg, char *errbuf, size_t errsz)
{
	size_t *count = arg;

	(void)errbuf;
	(void)errsz;
	if (key == NULL || value == NULL || key[0] == '\0')
		return IL_ERR_INVALID;
	(*count)++;
	return IL_OK;
}

/* Reads the properties file in the memfd and checks the answer. */
static inline void
fuzz_conf_check_file(const fuzz_ctx *ctx)
{
	char err[FUZZ_ERRSZ] = "", err2[FUZZ_ERRSZ];
	il_conf *conf = il_conf_new(), *fresh = il_conf_new();
	size_t count = 0;
	il_err rc;

	rc = il_conf_load_file(conf, ctx->conf_path, true, err, sizeof(err));
	if (rc != IL_OK) {
		if (rc != IL_ERR_CONFIG && rc != IL_ERR_IO)
			fuzz_fail(ctx, "il_conf_load_file failed with %s: %s", il_err_str(rc), err);
		fuzz_check_reason(ctx, "il_conf_load_file", rc, err, false);
		/* the message names the file (and the line) */
		if (strstr(err, ctx->conf_path) == NULL)
			fuzz_fail(ctx, "il_conf_load_file refused without naming the file: %s", err);
	}
	/* whatever was applied before a refusal is a configuration to use */
	il_conf_dump(conf, ctx->devnull);
	rc = il_conf_rdkafka_foreach(conf, fuzz_conf_pair_cb, &count, err, sizeof(err));
	if (rc != IL_OK)
		fuzz_fail(ctx, "a librdkafka property without a name: %s", err);
	(void)il_conf_reload_check(conf, fresh, err2, sizeof(err2));
	(void)il_conf_reload_check(fresh, conf, err2, sizeof(err2));
	(void)il_conf_get_int(conf, "http.port");
	il_conf_destroy(fresh);
	il_conf_destroy(conf);
}

/**
 * fuzz_conf_file: @p data is a properties file for il_conf_load_file()
 * (through a memfd), and each of its lines an argument of --set and -X.
 */
static inline void
fuzz_conf_file_one(const fuzz_ctx *ctx, const uint8_t *data, size_t size)
{
	char err[FUZZ_ERRSZ];
	const uint8_t *line = data, *nl;
	il_conf *conf;
	char *arg;
	size_t n;
	il_err rc;

	if (ftruncate(ctx->memfd, 0) != 0 ||
	    (size > 0 && pwrite(ctx->memfd, data, size, 0) != (ssize_t)size))
		fuzz_fail(ctx, "could not write the memfd: %s", strerror(errno));
	fuzz_conf_check_file(ctx);

	conf = il_conf_new();
	while (line < data + size) {
		nl = memchr(line, '\n', (size_t)(data + size - line));
		n = nl != NULL ? (size_t)(nl - line) : (size_t)(data + size - line);
		/* an argument is a C string: it ends at a NUL */
		arg = il_xstrndup((const char *)line, n);
		err[0] = '\0';
		rc = il_conf_set_arg(conf, arg, err, sizeof(err));
		if (rc != IL_OK)
			fuzz_check_reason(ctx, "il_conf_set_arg", rc, err, false);
		err[0] = '\0';
		rc = il_conf_set_rdkafka_arg(conf, arg, err, sizeof(err));
		if (rc != IL_OK)
			fuzz_check_reason(ctx, "il_conf_set_rdkafka_arg", rc, err, false);
		free(arg);
		line += n + 1;
	}
	il_conf_dump(conf, ctx->devnull);
	il_conf_destroy(conf);
}

/**
 * fuzz_schema: @p data is the text of a schema, as a Schema Registry answer
 * gives it to il_schema_from_json(); a schema that loads decodes @p data
 * itself as a body (what decodes must survive the round trip through the
 * JSON form).  il_schema_check_backward() is left out: it only ever sees
 * the tree's own schemas, and avro-c's schema resolution leaks on a record
 * that holds an array of itself.
 */
static inline void
fuzz_schema_one(const fuzz_ctx *ctx, const uint8_t *data, size_t size)
{
	char err[FUZZ_ERRSZ] = "";
	cJSON *json = NULL;
	il_schema *s;
	il_err rc;

	s = il_schema_from_json((const char *)data, size, err, sizeof(err));
	if (s == NULL) {
		fuzz_check_reason(ctx, "il_schema_from_json", IL_ERR_DECODE_SCHEMA, err, false);
		return;
	}
	if (il_schema_fullname(s) == NULL || il_schema_text(s) == NULL)
		fuzz_fail(ctx, "a loaded schema has no name or no text");
	rc = il_avro_decode_json(s, data, size, &json, err, sizeof(err));
	if (rc != IL_OK) {
		fuzz_check_reason(ctx, "il_avro_decode_json", rc, err, true);
		fuzz_check_walk(ctx, rc, err);
	} else {
		fuzz_check_round_trip(ctx, s, json);
	}
	cJSON_Delete(json);
	il_schema_destroy(s);
}

/* A point in time that parsed must format and parse back to itself. */
static inline void
fuzz_time_check_ms(const fuzz_ctx *ctx, const char *text, unsigned flags, int64_t ms)
{
	char out[IL_TIME_LEN];
	const char *why;
	int64_t again = 0;

	if (!il_time_format_ms(ms, out))
		return;
	why = il_time_parse_ms(out, 0, &again);
	if (why != NULL || again != ms)
		fuzz_fail(ctx, "\"%s\" (flags %u) is %" PRId64 " ms, formatted \"%s\", which parses "
		    "to %" PRId64 " (%s)", text, flags, ms, out, again, why != NULL ? why : "ok");
}

/**
 * fuzz_time: @p data (cut at a NUL) is text for il_time_parse_ms() with
 * every flag combination and for il_time_parse_date(); its first 8 bytes
 * are also a number of milliseconds and of days to format and parse back.
 */
static inline void
fuzz_time_one(const fuzz_ctx *ctx, const uint8_t *data, size_t size)
{
	static const unsigned flagsets[] = {
		0, IL_TIME_LENIENT, IL_TIME_MILLIS, IL_TIME_LENIENT | IL_TIME_MILLIS,
	};
	char *text = il_xstrndup((const char *)data, size);
	char out[IL_TIME_LEN], date[IL_TIME_DATE_LEN];
	int64_t ms[4], days = 0, x = 0, back = 0;
	const char *why[4], *dwhy;
	size_t i, j;
	uint64_t u = 0;
	bool in;

	for (i = 0; i < 4; i++) {
		ms[i] = 0;
		why[i] = il_time_parse_ms(text, flagsets[i], &ms[i]);
		if (why[i] == NULL)
			fuzz_time_check_ms(ctx, text, flagsets[i], ms[i]);
	}
	/* more flags only ever accept more, with the same meaning */
	for (i = 0; i < 4; i++) {
		for (j = 0; j < 4; j++) {
			if ((flagsets[i] & flagsets[j]) != flagsets[i] || why[i] != NULL)
				continue;
			if (why[j] != NULL || ms[j] != ms[i])
				fuzz_fail(ctx, "\"%s\" parses with flags %u but not the same with flags %u",
				    text, flagsets[i], flagsets[j]);
		}
	}
	dwhy = il_time_parse_date(text, &days);
	if (dwhy == NULL) {
		if (!il_time_format_date(days, date) || strcmp(date, text) != 0)
			fuzz_fail(ctx, "date \"%s\" is day %" PRId64 ", formatted \"%s\"", text, days, date);
		if (why[1] != NULL || ms[1] != days * IL_TIME_MS_PER_DAY)
			fuzz_fail(ctx, "date \"%s\" is not midnight UTC of its day when lenient", text);
	}
	free(text);

	if (size < 8)
		return;
	for (i = 0; i < 8; i++)
		u = u << 8 | data[i];
	x = (int64_t)u;
	/* out of range, the text is the nearer end of the range: still a time */
	in = il_time_format_ms(x, out);
	if (il_time_parse_ms(out, 0, &back) != NULL || (in && back != x))
		fuzz_fail(ctx, "%" PRId64 " ms formats as \"%s\", which parses to %" PRId64, x, out,
		    back);
	in = il_time_format_date(x, date);
	if (il_time_parse_date(date, &back) != NULL || (in && back != x))
		fuzz_fail(ctx, "day %" PRId64 " formats as \"%s\", which parses to %" PRId64, x, date,
		    back);
}

/*
 * The libFuzzer program of one target: the state is made once, before the
 * first input (libFuzzer gives its entry point nothing to carry it).
 * avro-c keeps pointers at unaligned addresses inside its generic values
 * (records packed into arrays), which LeakSanitizer does not scan by
 * default: without use_unaligned=1 the values cached with a schema look
 * leaked whenever a leak check runs while they are alive.
 */
#define FUZZ_MAIN(one)                                                          \
	static fuzz_ctx *fuzz_main_ctx;                                         \
	const char *__lsan_default_options(void);                               \
	int LLVMFuzzerInitialize(int *argc, char ***argv);                      \
	int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);           \
	const char *                                                            \
	__lsan_default_options(void)                                            \
	{                                                                       \
		return "use_unaligned=1";                                       \
	}                                                                       \
	int                                                                     \
	LLVMFuzzerInitialize(int *argc, char ***argv)                           \
	{                                                                       \
		(void)argc;                                                     \
		(void)argv;                                                     \
		fuzz_main_ctx = fuzz_ctx_new();                                 \
		return 0;                                                       \
	}                                                                       \
	int                                                                     \
	LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)                \
	{                                                                       \
		one(fuzz_main_ctx, data, size);                                 \
		return 0;                                                       \
	}

/*
 * fuzz_commitlog: a record of __consumer_offsets for il_commitlog_decode().
 *	byte 0      flags: bit 0 set = a tombstone (value NULL), bit 1 set =
 *	            no key at all (key NULL)
 *	bytes 1-2   the key's length, big-endian (cut to what follows)
 *	then        the key, then the value (the rest)
 * An input shorter than three bytes is a key alone (a tombstone).  Key and
 * value are copied into buffers of their exact size, so ASan reports a read
 * past either end.
 */
/* Flags of byte 0. */
#define FUZZ_COMMITLOG_TOMBSTONE 0x01
#define FUZZ_COMMITLOG_NO_KEY 0x02
/* Large enough for any key or value the decoder accepts from an input of
 * libFuzzer's default size; longer fields are not re-encoded. */
#define FUZZ_COMMITLOG_REC_MAX 8192

/* A record re-encoded from a decoded commit. */
typedef struct fuzz_commitlog_rec {
	unsigned char b[FUZZ_COMMITLOG_REC_MAX];
	size_t n;
	bool overflow;          /* a field did not fit: the record is not used */
} fuzz_commitlog_rec;

static inline void
fuzz_commitlog_put(fuzz_commitlog_rec *r, uint64_t v, int bytes)
{
	int i;

	if (r->n + (size_t)bytes > sizeof(r->b)) {
		r->overflow = true;
		return;
	}
	for (i = bytes - 1; i >= 0; i--)
		r->b[r->n++] = (unsigned char)(v >> (8 * i));
}

static inline void
fuzz_commitlog_put_bytes(fuzz_commitlog_rec *r, const char *s, size_t len)
{
	if (len > sizeof(r->b) - r->n) {
		r->overflow = true;
		return;
	}
	if (len > 0)
		memcpy(r->b + r->n, s, len);
	r->n += len;
}

static inline void
fuzz_commitlog_put_str(fuzz_commitlog_rec *r, const char *s, size_t len)
{
	fuzz_commitlog_put(r, len, 2);
	fuzz_commitlog_put_bytes(r, s, len);
}

static inline void
fuzz_commitlog_put_uvarint(fuzz_commitlog_rec *r, uint32_t v)
{
	while (v >= 0x80) {
		fuzz_commitlog_put(r, (v & 0x7f) | 0x80, 1);
		v >>= 7;
	}
	fuzz_commitlog_put(r, v, 1);
}

/*
 * A decoded string lies inside the bytes it came from, or is the "" that
 * stands for a null string (addresses compared as integers: the pointers
 * may belong to different objects).
 */
static inline void
fuzz_commitlog_check_within(const fuzz_ctx *ctx, const char *what, const char *s, size_t len,
    const unsigned char *buf, size_t buflen)
{
	uintptr_t p = (uintptr_t)s, lo = (uintptr_t)buf;

	if (s == NULL)
		fuzz_fail(ctx, "%s is NULL", what);
	if (buf != NULL && p >= lo && p - lo <= buflen && len <= buflen - (p - lo))
		return;
	if (len == 0 && s[0] == '\0')
		return;
	fuzz_fail(ctx, "%s (%zu bytes) is not inside the %zu bytes it was read from", what, len,
	    buflen);
}

static inline int
fuzz_commitlog_i16(const unsigned char *b)
{
	return (int16_t)(uint16_t)(((unsigned)b[0] << 8) | b[1]);
}

/* Two decodes of one commit say the same (strings compared by content). */
static inline void
fuzz_commitlog_check_same(const fuzz_ctx *ctx, const char *what, const il_commitlog_commit *a,
    const il_commitlog_commit *b)
{
	if (a->kind != b->kind || a->key_version != b->key_version ||
	    a->value_version != b->value_version)
		fuzz_fail(ctx, "%s: kind %d/%d, versions %d.%d/%d.%d", what, (int)a->kind,
		    (int)b->kind, a->key_version, b->key_version, a->value_version, b->value_version);
	if (a->kind == IL_COMMITLOG_OTHER)
		return;         /* only the key's version was read */
	if (a->partition != b->partition || a->group_len != b->group_len ||
	    memcmp(a->group, b->group, a->group_len) != 0 || a->topic_len != b->topic_len ||
	    memcmp(a->topic, b->topic, a->topic_len) != 0)
		fuzz_fail(ctx, "%s: another group, topic or partition (%" PRId32 "/%" PRId32 ")",
		    what, a->partition, b->partition);
	if (a->kind != IL_COMMITLOG_COMMIT)
		return;
	if (a->offset != b->offset || a->leader_epoch != b->leader_epoch ||
	    a->commit_ts_ms != b->commit_ts_ms || a->expire_ts_ms != b->expire_ts_ms ||
	    a->metadata_len != b->metadata_len ||
	    memcmp(a->metadata, b->metadata, a->metadata_len) != 0)
		fuzz_fail(ctx, "%s: offset %" PRId64 "/%" PRId64 ", epoch %" PRId32 "/%" PRId32
		    ", committed %" PRId64 "/%" PRId64 ", expires %" PRId64 "/%" PRId64
		    ", metadata %zu/%zu bytes", what, a->offset, b->offset, a->leader_epoch,
		    b->leader_epoch, a->commit_ts_ms, b->commit_ts_ms, a->expire_ts_ms,
		    b->expire_ts_ms, a->metadata_len, b->metadata_len);
}

/*
 * What decodes must encode again, as Kafka writes it, to a record that
 * decodes the same: the decoder may not invent or drop a field.
 */
static inline void
fuzz_commitlog_check_round_trip(const fuzz_ctx *ctx, const il_commitlog_commit *c)
{
	fuzz_commitlog_rec *k = il_xcalloc(1, sizeof(*k)), *v = il_xcalloc(1, sizeof(*v));
	il_commitlog_commit again;
	char err[FUZZ_ERRSZ] = "";
	int vv = c->value_version;
	il_err rc;

	fuzz_commitlog_put(k, (uint16_t)c->key_version, 2);
	fuzz_commitlog_put_str(k, c->group, c->group_len);
	fuzz_commitlog_put_str(k, c->topic, c->topic_len);
	fuzz_commitlog_put(k, (uint32_t)c->partition, 4);
	if (c->kind == IL_COMMITLOG_COMMIT) {
		fuzz_commitlog_put(v, (uint16_t)vv, 2);
		fuzz_commitlog_put(v, (uint64_t)c->offset, 8);
		if (vv >= 3)
			fuzz_commitlog_put(v, (uint32_t)c->leader_epoch, 4);
		if (vv >= 4) {
			fuzz_commitlog_put_uvarint(v, (uint32_t)c->metadata_len + 1);
			fuzz_commitlog_put_bytes(v, c->metadata, c->metadata_len);
		} else {
			fuzz_commitlog_put_str(v, c->metadata, c->metadata_len);
		}
		fuzz_commitlog_put(v, (uint64_t)c->commit_ts_ms, 8);
		if (vv == 1)
			fuzz_commitlog_put(v, (uint64_t)c->expire_ts_ms, 8);
		if (vv >= 4)
			fuzz_commitlog_put_uvarint(v, 0);
	}
	if (k->overflow || v->overflow)
		goto done;
	rc = il_commitlog_decode(k->b, k->n, c->kind == IL_COMMITLOG_COMMIT ? v->b : NULL, v->n,
	    &again, err, sizeof(err));
	if (rc != IL_OK)
		fuzz_fail(ctx, "a decoded record does not decode once encoded again: %s", err);
	fuzz_commitlog_check_same(ctx, "decode, encode, decode", c, &again);
done:
	free(k);
	free(v);
}

/* Checks an answer of il_commitlog_decode() against the bytes it was given. */
static inline void
fuzz_commitlog_check(const fuzz_ctx *ctx, const unsigned char *key, size_t keylen,
    const unsigned char *value, size_t vallen, il_err rc, const il_commitlog_commit *c,
    const char *err)
{
	int kv;

	if (rc != IL_OK) {
		if (rc != IL_ERR_DECODE)
			fuzz_fail(ctx, "il_commitlog_decode failed with %s: %s", il_err_str(rc), err);
		fuzz_check_reason(ctx, "il_commitlog_decode", rc, err, true);
		return;
	}
	if (key == NULL || keylen < 2)
		fuzz_fail(ctx, "a key of %zu bytes decoded", key == NULL ? 0 : keylen);
	kv = fuzz_commitlog_i16(key);
	if (c->key_version != kv)
		fuzz_fail(ctx, "key version %d, the bytes say %d", c->key_version, kv);
	if (kv != 0 && kv != 1) {
		if (c->kind != IL_COMMITLOG_OTHER)
			fuzz_fail(ctx, "a key of version %d decoded as kind %d", kv, (int)c->kind);
		return;
	}
	fuzz_commitlog_check_within(ctx, "the group", c->group, c->group_len, key, keylen);
	fuzz_commitlog_check_within(ctx, "the topic", c->topic, c->topic_len, key, keylen);
	if (value == NULL) {
		if (c->kind != IL_COMMITLOG_TOMBSTONE || c->value_version != -1)
			fuzz_fail(ctx, "a key without value decoded as kind %d, value version %d",
			    (int)c->kind, c->value_version);
	} else {
		if (c->kind != IL_COMMITLOG_COMMIT)
			fuzz_fail(ctx, "a commit with a value decoded as kind %d", (int)c->kind);
		if (vallen < 2 || c->value_version != fuzz_commitlog_i16(value) ||
		    c->value_version < 0 || c->value_version > 4)
			fuzz_fail(ctx, "value version %d from %zu bytes", c->value_version, vallen);
		fuzz_commitlog_check_within(ctx, "the metadata", c->metadata, c->metadata_len, value,
		    vallen);
		if (c->value_version < 3 && c->leader_epoch != -1)
			fuzz_fail(ctx, "value version %d has leader epoch %" PRId32, c->value_version,
			    c->leader_epoch);
		if (c->value_version != 1 && c->expire_ts_ms != -1)
			fuzz_fail(ctx, "value version %d has expire timestamp %" PRId64,
			    c->value_version, c->expire_ts_ms);
	}
	fuzz_commitlog_check_round_trip(ctx, c);
}

/**
 * fuzz_commitlog: @p data is a record of __consumer_offsets, its key and
 * value split as this file's header says, for il_commitlog_decode().
 */
static inline void
fuzz_commitlog_one(const fuzz_ctx *ctx, const uint8_t *data, size_t size)
{
	unsigned char *key = NULL, *value = NULL;
	size_t keylen, vallen = 0;
	il_commitlog_commit c, c2;
	char err[FUZZ_ERRSZ] = "", err2[FUZZ_ERRSZ] = "";
	bool tombstone = true, nokey = false;
	il_err rc, rc2;

	if (size < 3) {
		keylen = size;
	} else {
		tombstone = (data[0] & FUZZ_COMMITLOG_TOMBSTONE) != 0;
		nokey = (data[0] & FUZZ_COMMITLOG_NO_KEY) != 0;
		keylen = ((size_t)data[1] << 8) | data[2];
		data += 3;
		size -= 3;
		if (keylen > size)
			keylen = size;
		vallen = size - keylen;
	}
	/* Buffers of the exact size: ASan's redzone starts right after the
	 * bytes (one byte, never read, where the size is 0). */
	if (!nokey) {
		key = il_xmalloc(keylen > 0 ? keylen : 1);
		memcpy(key, data, keylen);
	}
	if (!tombstone) {
		value = il_xmalloc(vallen > 0 ? vallen : 1);
		memcpy(value, data + keylen, vallen);
	}

	rc = il_commitlog_decode(key, nokey ? 0 : keylen, value, vallen, &c, err, sizeof(err));
	fuzz_commitlog_check(ctx, key, nokey ? 0 : keylen, value, vallen, rc, &c, err);
	/* No hidden state: the same bytes give the same answer. */
	rc2 = il_commitlog_decode(key, nokey ? 0 : keylen, value, vallen, &c2, err2, sizeof(err2));
	if (rc2 != rc || (rc != IL_OK && strcmp(err, err2) != 0))
		fuzz_fail(ctx, "a second decode of the same bytes answered otherwise: %s / %s", err, err2);
	if (rc == IL_OK)
		fuzz_commitlog_check_same(ctx, "a second decode of the same bytes", &c, &c2);
	free(key);
	free(value);
}

/*
 * fuzz_pgoutput: a piece of a logical replication stream, for
 * il_pgoutput_parse_copydata(), il_pgoutput_decode() and the relation cache.
 *	byte 0      flags: bit 0 set = decode into a small arena (a few values,
 *	            columns and relation ids), so that "too big" is reached
 *	then        frames: a length (2 bytes, big-endian, cut to what follows)
 *	            and one CopyData payload ('w' XLogData with a pgoutput
 *	            message, 'k' keepalive, anything else)
 * Each payload is copied into a buffer of its exact size, so ASan reports a
 * read past its end.  One relation cache serves the frames of an input, as
 * one serves a stream: Relation messages are put, changes look their
 * relation up.
 */
#define FUZZ_PGOUTPUT_SMALL 0x01
/* Bytes of an XLogData header: 'w', dataStart, walEnd, sendTime. */
#define FUZZ_PGOUTPUT_XLOG_HDR 25
/* Bytes of a primary keepalive: 'k', walEnd, sendTime, replyRequested. */
#define FUZZ_PGOUTPUT_KEEPALIVE 18

/* A message encoded again from its decoded form. */
typedef struct fuzz_pgoutput_out {
	uint8_t *b;
	size_t n, cap;
} fuzz_pgoutput_out;

static inline void
fuzz_pgoutput_put(fuzz_pgoutput_out *o, const void *p, size_t len)
{
	if (len > o->cap - o->n) {
		o->cap = 2 * (o->n + len);
		o->b = il_xrealloc(o->b, o->cap);
	}
	if (len > 0)
		memcpy(o->b + o->n, p, len);
	o->n += len;
}

static inline void
fuzz_pgoutput_put_int(fuzz_pgoutput_out *o, uint64_t v, int bytes)
{
	uint8_t b[8];
	int i;

	for (i = bytes - 1; i >= 0; i--) {
		b[i] = (uint8_t)(v & 0xff);
		v >>= 8;
	}
	fuzz_pgoutput_put(o, b, (size_t)bytes);
}

static inline void
fuzz_pgoutput_put_str(fuzz_pgoutput_out *o, const char *s)
{
	fuzz_pgoutput_put(o, s, strlen(s) + 1);
}

static inline uint64_t
fuzz_pgoutput_i64(int64_t v)
{
	uint64_t u;

	memcpy(&u, &v, sizeof(u));
	return u;
}

/* Checks that the @p len bytes at @p p (a string: up to its NUL) lie in the input. */
static inline void
fuzz_pgoutput_check_within(const fuzz_ctx *ctx, const char *what, const void *p, size_t len,
    const uint8_t *in, size_t inlen)
{
	const uint8_t *b = p;

	if (b == NULL || b < in || b > in + inlen || len > (size_t)(in + inlen - b))
		fuzz_fail(ctx, "%s (%zu bytes) is not within the message", what, len);
}

static inline void
fuzz_pgoutput_check_str(const fuzz_ctx *ctx, const char *what, const char *s, const uint8_t *in,
    size_t inlen)
{
	const uint8_t *nul;

	if (s == NULL || (const uint8_t *)s < in || (const uint8_t *)s >= in + inlen)
		fuzz_fail(ctx, "%s does not point into the message", what);
	nul = memchr(s, '\0', (size_t)(in + inlen - (const uint8_t *)s));
	if (nul == NULL)
		fuzz_fail(ctx, "%s has no NUL within the message", what);
}

static inline void
fuzz_pgoutput_put_tuple(const fuzz_ctx *ctx, fuzz_pgoutput_out *o, const il_pgoutput_tuple *t,
    const uint8_t *in, size_t inlen)
{
	uint16_t i;

	fuzz_pgoutput_put_int(o, t->ncols, 2);
	for (i = 0; i < t->ncols; i++) {
		const il_pgoutput_value *v = &t->values[i];
		uint8_t k = (uint8_t)v->kind;

		fuzz_pgoutput_put(o, &k, 1);
		switch (v->kind) {
		case IL_PGOUTPUT_NULL:
		case IL_PGOUTPUT_UNCHANGED:
			if (v->data != NULL || v->len != 0)
				fuzz_fail(ctx, "a %c column has %u bytes of value", k, v->len);
			break;
		case IL_PGOUTPUT_TEXT:
		case IL_PGOUTPUT_BINARY:
			fuzz_pgoutput_check_within(ctx, "a column value", v->data, v->len, in, inlen);
			fuzz_pgoutput_put_int(o, v->len, 4);
			fuzz_pgoutput_put(o, v->data, v->len);
			break;
		default:
			fuzz_fail(ctx, "a column of unknown kind 0x%02x decoded", k);
		}
	}
}

/*
 * Encodes @p m again as PostgreSQL's proto.c writes it into @p o, checking
 * on the way that every string and value points into the input.
 */
static inline void
fuzz_pgoutput_encode(const fuzz_ctx *ctx, const il_pgoutput_msg *m, const uint8_t *in, size_t inlen,
    fuzz_pgoutput_out *o)
{
	uint8_t t = (uint8_t)m->type, b;
	uint32_t i;

	fuzz_pgoutput_put(o, &t, 1);
	switch (m->type) {
	case IL_PGOUTPUT_BEGIN:
		fuzz_pgoutput_put_int(o, m->u.begin.final_lsn, 8);
		fuzz_pgoutput_put_int(o, fuzz_pgoutput_i64(m->u.begin.commit_time), 8);
		fuzz_pgoutput_put_int(o, m->u.begin.xid, 4);
		break;
	case IL_PGOUTPUT_COMMIT:
		fuzz_pgoutput_put_int(o, m->u.commit.flags, 1);
		fuzz_pgoutput_put_int(o, m->u.commit.commit_lsn, 8);
		fuzz_pgoutput_put_int(o, m->u.commit.end_lsn, 8);
		fuzz_pgoutput_put_int(o, fuzz_pgoutput_i64(m->u.commit.commit_time), 8);
		break;
	case IL_PGOUTPUT_ORIGIN:
		fuzz_pgoutput_put_int(o, m->u.origin.commit_lsn, 8);
		fuzz_pgoutput_check_str(ctx, "the origin name", m->u.origin.name, in, inlen);
		fuzz_pgoutput_put_str(o, m->u.origin.name);
		break;
	case IL_PGOUTPUT_RELATION:
		fuzz_pgoutput_put_int(o, m->u.relation.relid, 4);
		fuzz_pgoutput_check_str(ctx, "the namespace", m->u.relation.nspname, in, inlen);
		fuzz_pgoutput_check_str(ctx, "the relation name", m->u.relation.relname, in, inlen);
		fuzz_pgoutput_put_str(o, m->u.relation.nspname);
		fuzz_pgoutput_put_str(o, m->u.relation.relname);
		b = (uint8_t)m->u.relation.replident;
		fuzz_pgoutput_put(o, &b, 1);
		fuzz_pgoutput_put_int(o, m->u.relation.ncols, 2);
		if (m->u.relation.ncols > IL_PGOUTPUT_MAX_COLS)
			fuzz_fail(ctx, "a relation of %u columns decoded", m->u.relation.ncols);
		for (i = 0; i < m->u.relation.ncols; i++) {
			const il_pgoutput_column *c = &m->u.relation.cols[i];
			uint32_t typmod;

			fuzz_pgoutput_put_int(o, c->flags, 1);
			fuzz_pgoutput_check_str(ctx, "a column name", c->name, in, inlen);
			fuzz_pgoutput_put_str(o, c->name);
			fuzz_pgoutput_put_int(o, c->type_oid, 4);
			memcpy(&typmod, &c->typmod, sizeof(typmod));
			fuzz_pgoutput_put_int(o, typmod, 4);
		}
		break;
	case IL_PGOUTPUT_TYPE:
		fuzz_pgoutput_put_int(o, m->u.type.oid, 4);
		fuzz_pgoutput_check_str(ctx, "the type's namespace", m->u.type.nspname, in, inlen);
		fuzz_pgoutput_check_str(ctx, "the type name", m->u.type.name, in, inlen);
		fuzz_pgoutput_put_str(o, m->u.type.nspname);
		fuzz_pgoutput_put_str(o, m->u.type.name);
		break;
	case IL_PGOUTPUT_INSERT:
	case IL_PGOUTPUT_UPDATE:
	case IL_PGOUTPUT_DELETE:
		fuzz_pgoutput_put_int(o, m->u.change.relid, 4);
		if (m->type == IL_PGOUTPUT_INSERT && m->u.change.old_kind != IL_PGOUTPUT_OLD_NONE)
			fuzz_fail(ctx, "an Insert with an old tuple decoded");
		if (m->type == IL_PGOUTPUT_DELETE && m->u.change.old_kind != IL_PGOUTPUT_OLD_KEY &&
		    m->u.change.old_kind != IL_PGOUTPUT_OLD_FULL)
			fuzz_fail(ctx, "a Delete without an old tuple decoded");
		if (m->u.change.old_kind != IL_PGOUTPUT_OLD_NONE) {
			b = (uint8_t)m->u.change.old_kind;
			fuzz_pgoutput_put(o, &b, 1);
			fuzz_pgoutput_put_tuple(ctx, o, &m->u.change.old_tuple, in, inlen);
		} else if (m->u.change.old_tuple.ncols != 0) {
			fuzz_fail(ctx, "an old tuple of %u columns without its marker",
			    m->u.change.old_tuple.ncols);
		}
		if (m->type != IL_PGOUTPUT_DELETE) {
			b = 'N';
			fuzz_pgoutput_put(o, &b, 1);
			fuzz_pgoutput_put_tuple(ctx, o, &m->u.change.new_tuple, in, inlen);
		} else if (m->u.change.new_tuple.ncols != 0) {
			fuzz_fail(ctx, "a Delete with a new tuple of %u columns", m->u.change.new_tuple.ncols);
		}
		break;
	case IL_PGOUTPUT_TRUNCATE:
		fuzz_pgoutput_put_int(o, m->u.truncate.nrelids, 4);
		fuzz_pgoutput_put_int(o, m->u.truncate.options, 1);
		for (i = 0; i < m->u.truncate.nrelids; i++)
			fuzz_pgoutput_put_int(o, m->u.truncate.relids[i], 4);
		break;
	default:
		fuzz_fail(ctx, "a message of unknown type 0x%02x decoded", t);
	}
}

/* The cache's copy must be what was put, and be found by its id. */
static inline void
fuzz_pgoutput_check_relcache(const fuzz_ctx *ctx, il_pgoutput_relcache *cache,
    const il_pgoutput_relation *rel)
{
	const il_pgoutput_relation *before = il_pgoutput_relcache_get(cache, rel->relid), *copy;
	size_t count = il_pgoutput_relcache_count(cache);
	uint16_t i;
	int at;

	copy = il_pgoutput_relcache_put(cache, rel);
	if (il_pgoutput_relcache_count(cache) != count + (before == NULL ? 1 : 0))
		fuzz_fail(ctx, "the cache holds %zu relations after a put, %zu before (the id %s)",
		    il_pgoutput_relcache_count(cache), count, before == NULL ? "new" : "known");
	if (copy == NULL || il_pgoutput_relcache_get(cache, rel->relid) != copy)
		fuzz_fail(ctx, "relation %" PRIu32 " is not found after its put", rel->relid);
	if (copy->relid != rel->relid || copy->replident != rel->replident || copy->ncols != rel->ncols ||
	    strcmp(copy->nspname, rel->nspname) != 0 || strcmp(copy->relname, rel->relname) != 0)
		fuzz_fail(ctx, "the cache's copy of relation %" PRIu32 " differs", rel->relid);
	for (i = 0; i < rel->ncols; i++) {
		if (copy->cols[i].flags != rel->cols[i].flags ||
		    copy->cols[i].type_oid != rel->cols[i].type_oid ||
		    copy->cols[i].typmod != rel->cols[i].typmod ||
		    strcmp(copy->cols[i].name, rel->cols[i].name) != 0)
			fuzz_fail(ctx, "column %u of the cache's copy of relation %" PRIu32 " differs",
			    (unsigned)i + 1, rel->relid);
		/* the first column of that name */
		at = il_pgoutput_relation_column(copy, copy->cols[i].name);
		if (at < 0 || at > i || strcmp(copy->cols[at].name, copy->cols[i].name) != 0)
			fuzz_fail(ctx, "column \"%s\" is found at %d, it is at %u", copy->cols[i].name, at,
			    (unsigned)i);
	}
}

/* Decodes one pgoutput message and checks the answer. */
static inline void
fuzz_pgoutput_message(const fuzz_ctx *ctx, const uint8_t *msg, size_t len, il_pgoutput_arena *arena,
    il_pgoutput_relcache *cache, fuzz_pgoutput_out *o)
{
	char err[FUZZ_ERRSZ] = "";
	const il_pgoutput_relation *rel;
	il_pgoutput_msg m;
	il_err rc;

	memset(&m, 0, sizeof(m));
	rc = il_pgoutput_decode(msg, len, arena, &m, err, sizeof(err));
	if (rc != IL_OK) {
		if (IL_ERR_CLASS(rc) != IL_ERR_DECODE)
			fuzz_fail(ctx, "il_pgoutput_decode failed with %s: %s", il_err_str(rc), err);
		fuzz_check_reason(ctx, "il_pgoutput_decode", rc, err, true);
		return;
	}
	if (len == 0 || (uint8_t)m.type != msg[0])
		fuzz_fail(ctx, "a message of type 0x%02x decoded as 0x%02x", len > 0 ? msg[0] : 0,
		    (unsigned)m.type);
	/* the decoder may not invent or drop a byte */
	o->n = 0;
	fuzz_pgoutput_encode(ctx, &m, msg, len, o);
	if (o->n != len || memcmp(o->b, msg, len) != 0)
		fuzz_fail(ctx, "a %s message of %zu bytes encodes again to %zu other bytes",
		    il_pgoutput_type_name(m.type), len, o->n);
	switch (m.type) {
	case IL_PGOUTPUT_RELATION:
		fuzz_pgoutput_check_relcache(ctx, cache, &m.u.relation);
		break;
	case IL_PGOUTPUT_INSERT:
	case IL_PGOUTPUT_UPDATE:
	case IL_PGOUTPUT_DELETE:
		/* what the producer does with a change: find its columns */
		rel = il_pgoutput_relcache_get(cache, m.u.change.relid);
		if (rel != NULL && rel->relid != m.u.change.relid)
			fuzz_fail(ctx, "relation %" PRIu32 " found for id %" PRIu32, rel->relid,
			    m.u.change.relid);
		if (rel != NULL && rel->ncols > 0)
			(void)il_pgoutput_relation_column(rel, rel->cols[rel->ncols - 1].name);
		break;
	case IL_PGOUTPUT_BEGIN:
		(void)il_pgoutput_time_to_unix_us(m.u.begin.commit_time);
		break;
	default:
		break;
	}
}

/* Parses one CopyData payload and checks the answer. */
static inline void
fuzz_pgoutput_copydata(const fuzz_ctx *ctx, const uint8_t *buf, size_t len, il_pgoutput_arena *arena,
    il_pgoutput_relcache *cache, fuzz_pgoutput_out *o)
{
	char err[FUZZ_ERRSZ] = "", lsn[IL_PGOUTPUT_LSN_LEN];
	il_pgoutput_copydata cd;
	uint64_t back = 0;
	il_err rc;

	rc = il_pgoutput_parse_copydata(buf, len, &cd, err, sizeof(err));
	if (rc != IL_OK) {
		if (IL_ERR_CLASS(rc) != IL_ERR_DECODE)
			fuzz_fail(ctx, "il_pgoutput_parse_copydata failed with %s: %s", il_err_str(rc), err);
		fuzz_check_reason(ctx, "il_pgoutput_parse_copydata", rc, err, true);
		return;
	}
	if (len == 0 || cd.kind != (char)buf[0])
		fuzz_fail(ctx, "a payload of kind 0x%02x parsed as kind 0x%02x", len > 0 ? buf[0] : 0,
		    (unsigned char)cd.kind);
	if (!il_pgoutput_lsn_parse(il_pgoutput_lsn_format(cd.wal_end, lsn), &back) || back != cd.wal_end)
		fuzz_fail(ctx, "LSN %" PRIu64 " formats as \"%s\", which parses to %" PRIu64, cd.wal_end,
		    lsn, back);
	if (cd.kind == 'k') {
		if (len != FUZZ_PGOUTPUT_KEEPALIVE || cd.data != NULL || cd.len != 0 || cd.wal_start != 0)
			fuzz_fail(ctx, "a keepalive of %zu bytes parsed with %zu bytes of data", len, cd.len);
		return;
	}
	if (cd.kind != 'w' || len < FUZZ_PGOUTPUT_XLOG_HDR || cd.data != buf + FUZZ_PGOUTPUT_XLOG_HDR ||
	    cd.len != len - FUZZ_PGOUTPUT_XLOG_HDR)
		fuzz_fail(ctx, "a payload of %zu bytes parsed as kind 0x%02x with %zu bytes of data", len,
		    (unsigned char)cd.kind, cd.len);
	fuzz_pgoutput_message(ctx, cd.data, cd.len, arena, cache, o);
}

/**
 * fuzz_pgoutput: @p data is a flags byte and CopyData frames, as this
 * file's comment above says.
 */
static inline void
fuzz_pgoutput_one(const fuzz_ctx *ctx, const uint8_t *data, size_t size)
{
	il_pgoutput_arena small_arena, *arena = NULL;
	il_pgoutput_value values[8];
	il_pgoutput_column columns[4];
	uint32_t relids[2];
	il_pgoutput_relcache *cache;
	fuzz_pgoutput_out o = { NULL, 0, 0 };
	size_t len;
	uint8_t *frame;

	if (size == 0)
		return;
	small_arena = (il_pgoutput_arena){ values, 8, columns, 4, relids, 2 };
	if ((data[0] & FUZZ_PGOUTPUT_SMALL) == 0)
		arena = il_pgoutput_arena_new();
	cache = il_pgoutput_relcache_new();
	data++;
	size--;
	while (size >= 2) {
		len = ((size_t)data[0] << 8) | data[1];
		data += 2;
		size -= 2;
		if (len > size)
			len = size;
		frame = il_xmalloc(len > 0 ? len : 1);
		if (len > 0)
			memcpy(frame, data, len);
		fuzz_pgoutput_copydata(ctx, frame, len, arena != NULL ? arena : &small_arena, cache, &o);
		free(frame);
		data += len;
		size -= len;
	}
	il_pgoutput_relcache_destroy(cache);
	il_pgoutput_arena_destroy(arena);
	free(o.b);
}

#endif
