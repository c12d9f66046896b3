/*
 * test_log.c - every line is one valid JSON object with the fixed members
 * first, personal data is masked, strings survive escaping byte for byte,
 * bad UTF-8 cannot break a line, and the threshold holds.
 */
#include <math.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <pthread.h>

#include <cmocka.h>
#include <cjson/cJSON.h>

#include "log.h"

/* Lines captured from one test; the file is where il_log writes. */
typedef struct capture {
	FILE *fp;               /* il_log output */
	char **lines;           /* raw lines, without their newline */
	cJSON **json;           /* each line parsed, NULL when it did not parse */
	size_t n;               /* lines read */
} capture;

static int
cap_setup(void **state)
{
	capture *cap = calloc(1, sizeof(*cap));

	assert_non_null(cap);
	cap->fp = tmpfile();
	assert_non_null(cap->fp);
	il_log_init("test", IL_LOG_DEBUG, cap->fp);
	*state = cap;
	return 0;
}

static void
cap_clear(capture *cap)
{
	size_t i;

	for (i = 0; i < cap->n; i++) {
		free(cap->lines[i]);
		cJSON_Delete(cap->json[i]);
	}
	free(cap->lines);
	free(cap->json);
	cap->lines = NULL;
	cap->json = NULL;
	cap->n = 0;
}

static int
cap_teardown(void **state)
{
	capture *cap = *state;

	il_log_init("imislink", IL_LOG_INFO, NULL);
	cap_clear(cap);
	fclose(cap->fp);
	free(cap);
	return 0;
}

/* Reads back everything written so far; each line must end with '\n'. */
static void
cap_read(capture *cap)
{
	char *line = NULL;
	size_t sz = 0;
	ssize_t len;

	cap_clear(cap);
	assert_int_equal(fseek(cap->fp, 0, SEEK_SET), 0);
	for (len = getline(&line, &sz, cap->fp); len > 0; len = getline(&line, &sz, cap->fp)) {
		assert_int_equal(line[len - 1], '\n');
		line[len - 1] = '\0';
		/* One object a line: no other newline, no raw control byte. */
		for (ssize_t i = 0; i < len - 1; i++)
			assert_true((unsigned char)line[i] >= 0x20);
		cap->lines = realloc(cap->lines, (cap->n + 1) * sizeof(*cap->lines));
		cap->json = realloc(cap->json, (cap->n + 1) * sizeof(*cap->json));
		assert_non_null(cap->lines);
		assert_non_null(cap->json);
		cap->lines[cap->n] = strdup(line);
		cap->json[cap->n] = cJSON_Parse(line);
		cap->n++;
	}
	free(line);
	assert_int_equal(fseek(cap->fp, 0, SEEK_END), 0);
}

/*
 * Drops what was captured so far.  A new file rather than ftruncate(): stdio
 * would serve a seek back to 0 from its stale read buffer.
 */
static void
cap_reset(capture *cap)
{
	cap_clear(cap);
	fclose(cap->fp);
	cap->fp = tmpfile();
	assert_non_null(cap->fp);
	il_log_init(NULL, IL_LOG_DEBUG, cap->fp);
}

static const char *
jstr(const cJSON *obj, const char *key)
{
	const cJSON *item = cJSON_GetObjectItemCaseSensitive(obj, key);

	assert_non_null(item);
	assert_true(cJSON_IsString(item));
	return item->valuestring;
}

/*
 * Strict UTF-8 check written independently of log.c (Unicode table 3-7),
 * since cJSON accepts any bytes inside strings.
 */
static int
valid_utf8(const unsigned char *s)
{
	while (*s != '\0') {
		unsigned c = *s;
		int n;
		unsigned cp;

		if (c < 0x80) {
			s++;
			continue;
		}
		if ((c & 0xe0) == 0xc0) {
			n = 1;
			cp = c & 0x1f;
		} else if ((c & 0xf0) == 0xe0) {
			n = 2;
			cp = c & 0x0f;
		} else if ((c & 0xf8) == 0xf0) {
			n = 3;
			cp = c & 0x07;
		} else {
			return 0;
		}
		for (int i = 1; i <= n; i++) {
			if ((s[i] & 0xc0) != 0x80)
				return 0;
			cp = (cp << 6) | (s[i] & 0x3f);
		}
		if ((n == 1 && cp < 0x80) || (n == 2 && cp < 0x800) || (n == 3 && cp < 0x10000))
			return 0;
		if (cp > 0x10ffff || (cp >= 0xd800 && cp <= 0xdfff))
			return 0;
		s += n + 1;
	}
	return 1;
}

static void
test_line_shape(void **state)
{
	capture *cap = *state;
	const cJSON *o, *item;
	const char *ts;
	static const char *const order[] = { "ts", "level", "program", "msg", "topic", "partition", "ratio", "big" };
	size_t i = 0;

	il_log_info("event published", IL_STR("topic", "openspp.eligibility.v1"), IL_INT("partition", 3),
	    IL_DBL("ratio", 0.25), IL_INT("big", -9007199254740993LL));
	cap_read(cap);
	assert_int_equal(cap->n, 1);
	o = cap->json[0];
	assert_non_null(o);
	assert_true(cJSON_IsObject(o));
	/* The fixed members come first, then the fields in call order. */
	cJSON_ArrayForEach(item, o) {
		assert_true(i < sizeof(order) / sizeof(order[0]));
		assert_string_equal(item->string, order[i]);
		i++;
	}
	assert_int_equal(i, sizeof(order) / sizeof(order[0]));
	ts = jstr(o, "ts");
	/* 2026-11-21T21:40:00.123Z */
	assert_int_equal(strlen(ts), 24);
	assert_int_equal(ts[4], '-');
	assert_int_equal(ts[10], 'T');
	assert_int_equal(ts[19], '.');
	assert_int_equal(ts[23], 'Z');
	assert_string_equal(jstr(o, "level"), "info");
	assert_string_equal(jstr(o, "program"), "test");
	assert_string_equal(jstr(o, "msg"), "event published");
	assert_string_equal(jstr(o, "topic"), "openspp.eligibility.v1");
	assert_true(cJSON_IsNumber(cJSON_GetObjectItem(o, "partition")));
	assert_int_equal(cJSON_GetObjectItem(o, "partition")->valueint, 3);
	assert_true(cJSON_GetObjectItem(o, "ratio")->valuedouble == 0.25);
	/* Integers are written exactly, beyond what a double holds. */
	assert_non_null(strstr(cap->lines[0], "\"big\":-9007199254740993"));
}

static void
test_no_fields(void **state)
{
	capture *cap = *state;

	il_log_error("stopped");
	il_log_warn("slow");
	il_log_debug("detail");
	cap_read(cap);
	assert_int_equal(cap->n, 3);
	assert_int_equal(cJSON_GetArraySize(cap->json[0]), 4);
	assert_string_equal(jstr(cap->json[0], "level"), "error");
	assert_string_equal(jstr(cap->json[1], "level"), "warn");
	assert_string_equal(jstr(cap->json[2], "level"), "debug");
	assert_string_equal(jstr(cap->json[2], "msg"), "detail");
}

static void
test_null_and_special_values(void **state)
{
	capture *cap = *state;
	const cJSON *o;
	il_log_info(NULL, IL_STR("s", NULL), IL_PII("p", NULL), IL_DBL("nan", NAN),
	    IL_DBL("inf", INFINITY), IL_DBL("neg", -1.5e300), IL_STR(NULL, "x"));
	cap_read(cap);
	assert_int_equal(cap->n, 1);
	o = cap->json[0];
	assert_non_null(o);
	assert_true(cJSON_IsNull(cJSON_GetObjectItem(o, "msg")));
	assert_true(cJSON_IsNull(cJSON_GetObjectItem(o, "s")));
	assert_true(cJSON_IsNull(cJSON_GetObjectItem(o, "p")));
	/* JSON has no NaN or infinity. */
	assert_true(cJSON_IsNull(cJSON_GetObjectItem(o, "nan")));
	assert_true(cJSON_IsNull(cJSON_GetObjectItem(o, "inf")));
	assert_true(cJSON_GetObjectItem(o, "neg")->valuedouble == -1.5e300);
	assert_string_equal(jstr(o, ""), "x");
}

static void
test_escaping_round_trip(void **state)
{
	capture *cap = *state;
	const char *nasty = "quote \" backslash \\ nl \n cr \r tab \t bell \x07 esc \x1b us \x1f del \x7f "
	    "slash / e\xcc\x81 \xc3\xa9 \xe2\x82\xac \xf0\x9f\x98\x80 \xe2\x80\xa8";

	il_log_warn(nasty, IL_STR("k\"ey\n", nasty));
	cap_read(cap);
	assert_int_equal(cap->n, 1);
	assert_non_null(cap->json[0]);
	assert_string_equal(jstr(cap->json[0], "msg"), nasty);
	assert_string_equal(jstr(cap->json[0], "k\"ey\n"), nasty);
	assert_non_null(strstr(cap->lines[0], "\\u0007"));
	assert_non_null(strstr(cap->lines[0], "\\u001b"));
	assert_true(valid_utf8((const unsigned char *)cap->lines[0]));
}

static void
test_invalid_utf8_replaced(void **state)
{
	capture *cap = *state;
	static const struct {
		const char *in;
		const char *out;
	} cases[] = {
		{ "a\xff" "b", "a\xef\xbf\xbd" "b" },
		{ "cut \xc3", "cut \xef\xbf\xbd" },
		{ "cut3 \xe2\x82", "cut3 \xef\xbf\xbd\xef\xbf\xbd" },
		{ "over \xc0\xaf", "over \xef\xbf\xbd\xef\xbf\xbd" },
		{ "surr \xed\xa0\x80", "surr \xef\xbf\xbd\xef\xbf\xbd\xef\xbf\xbd" },
		{ "big \xf4\x90\x80\x80", "big \xef\xbf\xbd\xef\xbf\xbd\xef\xbf\xbd\xef\xbf\xbd" },
		{ "lone \x80 cont", "lone \xef\xbf\xbd cont" },
		{ "ok \xf4\x8f\xbf\xbf", "ok \xf4\x8f\xbf\xbf" },
		{ "\xfe\"\xfe", "\xef\xbf\xbd\"\xef\xbf\xbd" },
	};
	size_t i;

	for (i = 0; i < sizeof(cases) / sizeof(cases[0]); i++)
		il_log_info(cases[i].in, IL_STR("v", cases[i].in));
	cap_read(cap);
	assert_int_equal(cap->n, sizeof(cases) / sizeof(cases[0]));
	for (i = 0; i < cap->n; i++) {
		assert_non_null(cap->json[i]);
		assert_true(valid_utf8((const unsigned char *)cap->lines[i]));
		assert_string_equal(jstr(cap->json[i], "msg"), cases[i].out);
		assert_string_equal(jstr(cap->json[i], "v"), cases[i].out);
	}
}

static void
test_pii_masked_in_line(void **state)
{
	capture *cap = *state;
	const cJSON *o;

	il_log_info("registrant", IL_PII("name", "Alice Smith"), IL_PII("short", "Bob"),
	    IL_PII("id", "1234567842"), IL_PII("six", "123456"), IL_PII("utf8", "Jos\xc3\xa9 Mar\xc3\xad" "a"),
	    IL_PII("empty", ""), IL_STR("clear", "not personal"));
	cap_read(cap);
	assert_int_equal(cap->n, 1);
	o = cap->json[0];
	assert_non_null(o);
	assert_string_equal(jstr(o, "name"), "********th");
	assert_string_equal(jstr(o, "short"), "***");
	assert_string_equal(jstr(o, "id"), "********42");
	assert_string_equal(jstr(o, "six"), "********56");
	assert_string_equal(jstr(o, "utf8"), "********\xc3\xad" "a");
	assert_string_equal(jstr(o, "empty"), "***");
	assert_string_equal(jstr(o, "clear"), "not personal");
	assert_null(strstr(cap->lines[0], "Alice"));
	assert_null(strstr(cap->lines[0], "Bob"));
	assert_null(strstr(cap->lines[0], "12345678"));
	assert_null(strstr(cap->lines[0], "Jos"));
}

static void
test_mask_function(void **state)
{
	char out[64];

	(void)state;
	assert_string_equal(il_log_mask("12345", out, sizeof(out)), "***");
	assert_string_equal(il_log_mask("", out, sizeof(out)), "***");
	/* Fixed width: six characters and twelve look alike, the length does not show. */
	assert_string_equal(il_log_mask("123456", out, sizeof(out)), "********56");
	assert_string_equal(il_log_mask("0123456789AB", out, sizeof(out)), "********AB");
	assert_ptr_equal(il_log_mask("x", out, sizeof(out)), out);
	assert_string_equal(il_log_mask(NULL, out, sizeof(out)), "");
	/* Five characters of two bytes each are still five: nothing kept. */
	assert_string_equal(il_log_mask("\xc3\xa9\xc3\xa9\xc3\xa9\xc3\xa9\xc3\xa9", out, sizeof(out)), "***");
	/* The kept tail is whole characters, never half of one. */
	assert_string_equal(il_log_mask("abcd\xe2\x82\xac\xf0\x9f\x98\x80", out, sizeof(out)),
	    "********\xe2\x82\xac\xf0\x9f\x98\x80");
	/* An invalid byte is one character, kept as U+FFFD on the way out. */
	assert_string_equal(il_log_mask("abcdef\xff", out, sizeof(out)), "********f\xff");
}

static void
test_mask_small_output(void **state)
{
	char out[16];

	(void)state;
	/* Too little room: asterisks go first, the NUL always fits. */
	memset(out, 'X', sizeof(out));
	assert_string_equal(il_log_mask("abcdefghijklmnopqrstuvwxyz", out, 8), "*****yz");
	memset(out, 'X', sizeof(out));
	assert_string_equal(il_log_mask("abcdefghijklmnopqrstuvwxyz", out, 6), "***yz");
	assert_int_equal(out[6], 'X');
	memset(out, 'X', sizeof(out));
	assert_string_equal(il_log_mask("abcdefghijklmnopqrstuvwxyz", out, 5), "***");
	assert_int_equal(out[5], 'X');
	memset(out, 'X', sizeof(out));
	assert_string_equal(il_log_mask("abcdefghij", out, 3), "**");
	memset(out, 'X', sizeof(out));
	assert_string_equal(il_log_mask("abcdefghij", out, 1), "");
	assert_int_equal(out[1], 'X');
	memset(out, 'X', sizeof(out));
	il_log_mask("abcdefghij", out, 0);
	assert_int_equal(out[0], 'X');
}

static void
test_long_pii_hides_length(void **state)
{
	capture *cap = *state;
	char value[1001];
	const char *masked;

	(void)state;
	memset(value, 'q', 998);
	memcpy(value + 998, "77", 3);
	il_log_info("long", IL_PII("v", value), IL_PII("short", "qqqq77"));
	cap_read(cap);
	assert_non_null(cap->json[0]);
	masked = jstr(cap->json[0], "v");
	assert_string_equal(masked, "********77");
	assert_string_equal(jstr(cap->json[0], "short"), masked);
}

static int calls;

static int
counted(void)
{
	return ++calls;
}

static void
test_threshold(void **state)
{
	capture *cap = *state;

	il_log_set_level(IL_LOG_INFO);
	assert_true(il_log_enabled(IL_LOG_ERROR));
	assert_true(il_log_enabled(IL_LOG_INFO));
	assert_false(il_log_enabled(IL_LOG_DEBUG));
	calls = 0;
	il_log_debug("hidden", IL_INT("n", counted()));
	/* A suppressed line does not even evaluate its fields. */
	assert_int_equal(calls, 0);
	il_log_info("shown", IL_INT("n", counted()));
	assert_int_equal(calls, 1);
	il_log_set_level(IL_LOG_WARN);
	il_log_info("hidden too");
	il_log_warn("warned");
	il_log_error("failed");
	il_log_set_level(IL_LOG_ERROR);
	il_log_warn("hidden three");
	il_log_error("failed again");
	il_log_set_level(IL_LOG_DEBUG);
	il_log_debug("debug now");
	il_log_emit(IL_LOG_DEBUG, "direct", NULL);
	cap_read(cap);
	assert_int_equal(cap->n, 6);
	assert_string_equal(jstr(cap->json[0], "msg"), "shown");
	assert_string_equal(jstr(cap->json[1], "msg"), "warned");
	assert_string_equal(jstr(cap->json[2], "msg"), "failed");
	assert_string_equal(jstr(cap->json[3], "msg"), "failed again");
	assert_string_equal(jstr(cap->json[4], "msg"), "debug now");
	assert_string_equal(jstr(cap->json[5], "msg"), "direct");
	/* il_log_emit() checks the threshold itself as well. */
	cap_reset(cap);
	il_log_set_level(IL_LOG_ERROR);
	il_log_emit(IL_LOG_INFO, "below", NULL);
	cap_read(cap);
	assert_int_equal(cap->n, 0);
}

static void
test_level_parse(void **state)
{
	il_log_level level = IL_LOG_WARN;

	(void)state;
	assert_int_equal(il_log_level_parse("error", &level), 0);
	assert_int_equal(level, IL_LOG_ERROR);
	assert_int_equal(il_log_level_parse("warn", &level), 0);
	assert_int_equal(level, IL_LOG_WARN);
	assert_int_equal(il_log_level_parse("info", &level), 0);
	assert_int_equal(level, IL_LOG_INFO);
	assert_int_equal(il_log_level_parse("DEBUG", &level), 0);
	assert_int_equal(level, IL_LOG_DEBUG);
	assert_int_equal(il_log_level_parse("verbose", &level), -1);
	assert_int_equal(il_log_level_parse("", &level), -1);
	assert_int_equal(il_log_level_parse("info ", &level), -1);
	assert_int_equal(il_log_level_parse(NULL, &level), -1);
	/* A refused name leaves the level alone. */
	assert_int_equal(level, IL_LOG_DEBUG);
}

static void
test_program_name(void **state)
{
	capture *cap = *state;
	char longname[200];

	il_log_init("imislink-enroll", IL_LOG_INFO, cap->fp);
	il_log_info("a");
	/* NULL keeps the name already set. */
	il_log_init(NULL, IL_LOG_INFO, cap->fp);
	il_log_info("b");
	memset(longname, 'n', sizeof(longname) - 1);
	longname[sizeof(longname) - 1] = '\0';
	il_log_init(longname, IL_LOG_INFO, cap->fp);
	il_log_info("c");
	il_log_init("prog\"q", IL_LOG_INFO, cap->fp);
	il_log_info("d");
	cap_read(cap);
	assert_int_equal(cap->n, 4);
	assert_string_equal(jstr(cap->json[0], "program"), "imislink-enroll");
	assert_string_equal(jstr(cap->json[1], "program"), "imislink-enroll");
	assert_int_equal(strspn(jstr(cap->json[2], "program"), "n"), strlen(jstr(cap->json[2], "program")));
	assert_true(strlen(jstr(cap->json[2], "program")) > 0);
	assert_string_equal(jstr(cap->json[3], "program"), "prog\"q");
}

static void
test_long_value_truncated(void **state)
{
	capture *cap = *state;
	char *big = malloc(10001), *euros = malloc(6001);
	const char *v;
	size_t i;

	assert_non_null(big);
	assert_non_null(euros);
	memset(big, 'b', 10000);
	big[10000] = '\0';
	for (i = 0; i < 2000; i++)
		memcpy(euros + 3 * i, "\xe2\x82\xac", 3);
	euros[6000] = '\0';
	il_log_info("big", IL_STR("v", big));
	il_log_info("euros", IL_STR("v", euros));
	il_log_info("small", IL_STR("v", "x"));
	cap_read(cap);
	assert_int_equal(cap->n, 3);
	v = jstr(cap->json[0], "v");
	assert_int_equal(strlen(v), 4096);
	assert_true(cJSON_IsTrue(cJSON_GetObjectItem(cap->json[0], "truncated")));
	/* Cut at a character boundary, so still valid UTF-8. */
	v = jstr(cap->json[1], "v");
	assert_int_equal(strlen(v) % 3, 0);
	assert_true(strlen(v) > 4000 && strlen(v) <= 4096);
	assert_true(valid_utf8((const unsigned char *)cap->lines[1]));
	assert_true(cJSON_IsTrue(cJSON_GetObjectItem(cap->json[1], "truncated")));
	assert_null(cJSON_GetObjectItem(cap->json[2], "truncated"));
	free(big);
	free(euros);
}

static void
test_oversized_line_degrades(void **state)
{
	capture *cap = *state;
	enum { NFIELDS = 400 };
	il_log_field *fields = calloc(NFIELDS + 1, sizeof(*fields));
	char *value = malloc(4001);
	const cJSON *o;

	assert_non_null(fields);
	assert_non_null(value);
	memset(value, '\x01', 4000);
	value[4000] = '\0';
	/* 400 fields of 4000 control bytes escape to ~9.6 MB: over the line bound. */
	for (int i = 0; i < NFIELDS; i++) {
		fields[i].key = "f";
		fields[i].kind = IL_LOG_F_STR;
		fields[i].s = value;
	}
	fields[NFIELDS].kind = IL_LOG_F_END;
	il_log_emit(IL_LOG_ERROR, "too much", fields);
	cap_read(cap);
	assert_int_equal(cap->n, 1);
	o = cap->json[0];
	assert_non_null(o);
	assert_string_equal(jstr(o, "msg"), "too much");
	assert_true(cJSON_IsTrue(cJSON_GetObjectItem(o, "truncated")));
	assert_null(cJSON_GetObjectItem(o, "f"));
	free(value);
	free(fields);
}

enum { NTHREADS = 4, PER_THREAD = 300 };

static void *
writer(void *arg)
{
	long id = (long)(intptr_t)arg;
	char filler[2048];

	memset(filler, 'a' + (int)id, sizeof(filler) - 1);
	filler[sizeof(filler) - 1] = '\0';
	for (int i = 0; i < PER_THREAD; i++)
		il_log_info("concurrent", IL_INT("thread", id), IL_INT("seq", i), IL_STR("filler", filler));
	return NULL;
}

static void
test_concurrent_lines_do_not_interleave(void **state)
{
	capture *cap = *state;
	pthread_t threads[NTHREADS];
	int next[NTHREADS] = { 0 };
	const cJSON *o;
	long t;

	il_log_set_level(IL_LOG_INFO);
	for (t = 0; t < NTHREADS; t++)
		assert_int_equal(pthread_create(&threads[t], NULL, writer, (void *)(intptr_t)t), 0);
	for (t = 0; t < NTHREADS; t++)
		assert_int_equal(pthread_join(threads[t], NULL), 0);
	cap_read(cap);
	assert_int_equal(cap->n, NTHREADS * PER_THREAD);
	for (size_t i = 0; i < cap->n; i++) {
		o = cap->json[i];
		assert_non_null(o);
		t = (long)cJSON_GetObjectItem(o, "thread")->valueint;
		assert_true(t >= 0 && t < NTHREADS);
		/* Each thread's lines arrive whole and in its own order. */
		assert_int_equal(cJSON_GetObjectItem(o, "seq")->valueint, next[t]);
		next[t]++;
		assert_int_equal(strlen(jstr(o, "filler")), 2047);
	}
}

static void
test_default_stream_is_stderr(void **state)
{
	FILE *tmp = tmpfile();
	int saved;
	char line[512];

	(void)state;
	assert_non_null(tmp);
	fflush(stderr);
	saved = dup(STDERR_FILENO);
	assert_true(saved >= 0);
	assert_true(dup2(fileno(tmp), STDERR_FILENO) >= 0);
	il_log_init("errtest", IL_LOG_INFO, NULL);
	il_log_info("to stderr");
	fflush(stderr);
	assert_true(dup2(saved, STDERR_FILENO) >= 0);
	close(saved);
	rewind(tmp);
	assert_non_null(fgets(line, sizeof(line), tmp));
	assert_non_null(strstr(line, "\"program\":\"errtest\""));
	assert_non_null(strstr(line, "\"msg\":\"to stderr\""));
	fclose(tmp);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_setup_teardown(test_line_shape, cap_setup, cap_teardown),
		cmocka_unit_test_setup_teardown(test_no_fields, cap_setup, cap_teardown),
		cmocka_unit_test_setup_teardown(test_null_and_special_values, cap_setup, cap_teardown),
		cmocka_unit_test_setup_teardown(test_escaping_round_trip, cap_setup, cap_teardown),
		cmocka_unit_test_setup_teardown(test_invalid_utf8_replaced, cap_setup, cap_teardown),
		cmocka_unit_test_setup_teardown(test_pii_masked_in_line, cap_setup, cap_teardown),
		cmocka_unit_test(test_mask_function),
		cmocka_unit_test(test_mask_small_output),
		cmocka_unit_test_setup_teardown(test_long_pii_hides_length, cap_setup, cap_teardown),
		cmocka_unit_test_setup_teardown(test_threshold, cap_setup, cap_teardown),
		cmocka_unit_test(test_level_parse),
		cmocka_unit_test_setup_teardown(test_program_name, cap_setup, cap_teardown),
		cmocka_unit_test_setup_teardown(test_long_value_truncated, cap_setup, cap_teardown),
		cmocka_unit_test_setup_teardown(test_oversized_line_degrades, cap_setup, cap_teardown),
		cmocka_unit_test_setup_teardown(test_concurrent_lines_do_not_interleave, cap_setup, cap_teardown),
		cmocka_unit_test(test_default_stream_is_stderr),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
