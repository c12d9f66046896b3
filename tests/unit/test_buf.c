/*
 * test_buf.c - the bounded buffer: the bound holds on every path, failed
 * appends leave the contents as they were, and the text stays NUL-terminated.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include <stdio.h>
#include <unistd.h>

#include "buf.h"

/* Writes @p len bytes of @p data to a new temporary file; @returns its path (static). */
static const char *
tmp_file(const void *data, size_t len)
{
	static char path[64];
	int fd;

	snprintf(path, sizeof(path), "/tmp/test_buf.XXXXXX");
	fd = mkstemp(path);
	assert_true(fd >= 0);
	assert_int_equal(write(fd, data, len), (ssize_t)len);
	assert_int_equal(close(fd), 0);
	return path;
}

static void
test_init_empty(void **state)
{
	il_buf b;

	(void)state;
	il_buf_init(&b, 16);
	assert_null(b.data);
	assert_int_equal(b.len, 0);
	assert_int_equal(b.cap, 0);
	assert_int_equal(b.max, 16);
	/* Freeing and resetting an untouched buffer are harmless. */
	il_buf_reset(&b);
	il_buf_free(&b);
	assert_null(b.data);
	assert_int_equal(b.max, 16);
}

static void
test_add_within_bound(void **state)
{
	il_buf b;

	(void)state;
	il_buf_init(&b, 10);
	assert_int_equal(il_buf_add(&b, "abc", 3), IL_OK);
	assert_int_equal(il_buf_adds(&b, "defg"), IL_OK);
	assert_int_equal(b.len, 7);
	assert_string_equal(b.data, "abcdefg");
	/* Filling up to the bound exactly is allowed. */
	assert_int_equal(il_buf_adds(&b, "hij"), IL_OK);
	assert_int_equal(b.len, 10);
	assert_string_equal(b.data, "abcdefghij");
	assert_true(b.cap >= b.len + 1);
	assert_true(b.cap <= b.max + 1);
	il_buf_free(&b);
}

static void
test_add_over_bound_leaves_unaltered(void **state)
{
	il_buf b;

	(void)state;
	il_buf_init(&b, 8);
	assert_int_equal(il_buf_adds(&b, "12345"), IL_OK);
	assert_int_equal(il_buf_adds(&b, "6789"), IL_ERR_NOMEM);
	assert_int_equal(b.len, 5);
	assert_string_equal(b.data, "12345");
	assert_int_equal(il_buf_add(&b, "xyz", 3), IL_OK);
	assert_int_equal(il_buf_add(&b, "!", 1), IL_ERR_NOMEM);
	assert_string_equal(b.data, "12345xyz");
	/* An empty append always fits, even at the bound. */
	assert_int_equal(il_buf_add(&b, "", 0), IL_OK);
	assert_int_equal(b.len, 8);
	il_buf_free(&b);
}

static void
test_zero_bound(void **state)
{
	il_buf b;

	(void)state;
	il_buf_init(&b, 0);
	assert_int_equal(il_buf_add(&b, NULL, 0), IL_OK);
	assert_non_null(b.data);
	assert_string_equal(b.data, "");
	assert_int_equal(il_buf_adds(&b, "a"), IL_ERR_NOMEM);
	assert_int_equal(b.len, 0);
	il_buf_free(&b);
}

static void
test_growth_keeps_contents(void **state)
{
	il_buf b;
	char expect[5001];
	size_t i;

	(void)state;
	il_buf_init(&b, 5000);
	for (i = 0; i < 5000; i++) {
		expect[i] = (char)('a' + i % 26);
		assert_int_equal(il_buf_add(&b, &expect[i], 1), IL_OK);
	}
	expect[5000] = '\0';
	assert_int_equal(b.len, 5000);
	assert_string_equal(b.data, expect);
	assert_true(b.cap <= b.max + 1);
	assert_int_equal(il_buf_adds(&b, "x"), IL_ERR_NOMEM);
	il_buf_free(&b);
}

static void
test_reset_keeps_memory(void **state)
{
	il_buf b;
	char *data;
	size_t cap;

	(void)state;
	il_buf_init(&b, 100);
	assert_int_equal(il_buf_adds(&b, "hello"), IL_OK);
	data = b.data;
	cap = b.cap;
	il_buf_reset(&b);
	assert_int_equal(b.len, 0);
	assert_ptr_equal(b.data, data);
	assert_int_equal(b.cap, cap);
	assert_string_equal(b.data, "");
	assert_int_equal(il_buf_adds(&b, "again"), IL_OK);
	assert_string_equal(b.data, "again");
	il_buf_free(&b);
	assert_null(b.data);
	assert_int_equal(b.len, 0);
	assert_int_equal(b.max, 100);
}

static void
test_printf(void **state)
{
	il_buf b;

	(void)state;
	il_buf_init(&b, 32);
	assert_int_equal(il_buf_printf(&b, "%s=%d", "port", 9464), IL_OK);
	assert_int_equal(il_buf_printf(&b, ";%05.1f;%c", 2.25, 'z'), IL_OK);
	assert_string_equal(b.data, "port=9464;002.2;z");
	assert_int_equal(b.len, strlen("port=9464;002.2;z"));
	/* An empty format appends nothing and succeeds. */
	assert_int_equal(il_buf_printf(&b, "%s", ""), IL_OK);
	assert_int_equal(b.len, strlen("port=9464;002.2;z"));
	il_buf_free(&b);
}

static void
test_printf_bound(void **state)
{
	il_buf b;

	(void)state;
	il_buf_init(&b, 10);
	assert_int_equal(il_buf_printf(&b, "%d", 12345), IL_OK);
	assert_int_equal(il_buf_printf(&b, "%s", "678901"), IL_ERR_NOMEM);
	assert_int_equal(b.len, 5);
	assert_string_equal(b.data, "12345");
	/* Exactly up to the bound, the NUL still fits. */
	assert_int_equal(il_buf_printf(&b, "%s", "67890"), IL_OK);
	assert_int_equal(b.len, 10);
	assert_string_equal(b.data, "1234567890");
	il_buf_free(&b);
}

static il_err
call_vprintf(il_buf *b, const char *fmt, ...)
{
	va_list ap;
	il_err err;

	va_start(ap, fmt);
	err = il_buf_vprintf(b, fmt, ap);
	va_end(ap);
	return err;
}

static void
test_vprintf(void **state)
{
	il_buf b;

	(void)state;
	il_buf_init(&b, 64);
	assert_int_equal(call_vprintf(&b, "%s-%lld-%zu", "a", -5LL, (size_t)7), IL_OK);
	assert_string_equal(b.data, "a--5-7");
	il_buf_free(&b);
}

static void
assert_escaped(const char *in, const char *want)
{
	il_buf b;

	il_buf_init(&b, 1024);
	assert_int_equal(il_buf_add_json_escaped(&b, in), IL_OK);
	assert_string_equal(b.data != NULL ? b.data : "", want);
	assert_int_equal(b.len, strlen(want));
	il_buf_free(&b);
}

static void
test_json_escaping(void **state)
{
	(void)state;
	assert_escaped("", "");
	assert_escaped("plain text", "plain text");
	assert_escaped("say \"hi\"", "say \\\"hi\\\"");
	assert_escaped("C:\\dir", "C:\\\\dir");
	assert_escaped("a\nb\rc\td", "a\\nb\\rc\\td");
	assert_escaped("\x01\x08\x0c\x1f", "\\u0001\\u0008\\u000c\\u001f");
	/* Forward slash and DEL need no escape; UTF-8 passes through as bytes. */
	assert_escaped("a/b\x7f", "a/b\x7f");
	assert_escaped("Jos\xc3\xa9 \xe2\x82\xac \xf0\x9f\x98\x80", "Jos\xc3\xa9 \xe2\x82\xac \xf0\x9f\x98\x80");
}

static void
test_json_escaping_appends(void **state)
{
	il_buf b;

	(void)state;
	il_buf_init(&b, 64);
	assert_int_equal(il_buf_adds(&b, "{\"k\":\""), IL_OK);
	assert_int_equal(il_buf_add_json_escaped(&b, "v\"1"), IL_OK);
	assert_int_equal(il_buf_adds(&b, "\"}"), IL_OK);
	assert_string_equal(b.data, "{\"k\":\"v\\\"1\"}");
	il_buf_free(&b);
}

static void
test_json_escaping_bound(void **state)
{
	il_buf b;

	(void)state;
	/* Six bytes of escape for one byte of input must still respect the bound. */
	il_buf_init(&b, 8);
	assert_int_equal(il_buf_add_json_escaped(&b, "\x01\x02"), IL_ERR_NOMEM);
	assert_true(b.len <= b.max);
	if (b.data != NULL)
		assert_int_equal(strlen(b.data), b.len);
	il_buf_free(&b);

	il_buf_init(&b, 12);
	assert_int_equal(il_buf_add_json_escaped(&b, "\x01\x02"), IL_OK);
	assert_string_equal(b.data, "\\u0001\\u0002");
	il_buf_free(&b);
}

static void
test_json_escaping_all_or_nothing(void **state)
{
	il_buf b;

	(void)state;
	/* A failed escape must not leave half a string behind the prefix. */
	il_buf_init(&b, 10);
	assert_int_equal(il_buf_adds(&b, "ab"), IL_OK);
	assert_int_equal(il_buf_add_json_escaped(&b, "cd\x01\x02"), IL_ERR_NOMEM);
	assert_int_equal(b.len, 2);
	assert_string_equal(b.data, "ab");
	il_buf_free(&b);
}

static void
test_unbounded_max(void **state)
{
	il_buf b;

	(void)state;
	/* SIZE_MAX as the bound must not wrap the capacity computation. */
	il_buf_init(&b, SIZE_MAX);
	assert_int_equal(il_buf_adds(&b, "hello"), IL_OK);
	assert_string_equal(b.data, "hello");
	assert_true(b.cap >= 6);
	il_buf_free(&b);
}

static void
test_take(void **state)
{
	il_buf b;
	char *s;

	(void)state;
	il_buf_init(&b, 50);
	assert_int_equal(il_buf_adds(&b, "owned text"), IL_OK);
	s = il_buf_take(&b);
	assert_string_equal(s, "owned text");
	/* The buffer resets and keeps its bound; the caller owns the text. */
	assert_null(b.data);
	assert_int_equal(b.len, 0);
	assert_int_equal(b.cap, 0);
	assert_int_equal(b.max, 50);
	free(s);
	assert_int_equal(il_buf_adds(&b, "next"), IL_OK);
	assert_string_equal(b.data, "next");
	il_buf_free(&b);
}

static void
test_take_empty(void **state)
{
	il_buf b;
	char *s;

	(void)state;
	il_buf_init(&b, 50);
	s = il_buf_take(&b);
	assert_non_null(s);
	assert_string_equal(s, "");
	free(s);
	assert_null(b.data);
}

/* A file is appended whole, NUL-terminated, up to the bound and not a byte more. */
static void
test_read_file(void **state)
{
	char err[256], want[256];
	const char *path;
	il_buf b;

	(void)state;
	il_buf_init(&b, 10);
	assert_int_equal(il_buf_add(&b, "ab", 2), IL_OK);
	path = tmp_file("12345678", 8);
	assert_int_equal(il_buf_read_file(&b, path, err, sizeof(err)), IL_OK);
	assert_int_equal(b.len, 10);
	assert_string_equal(b.data, "ab12345678");
	/* Nothing left: even one byte more is refused, the buffer kept. */
	il_buf_reset(&b);
	assert_int_equal(il_buf_add(&b, "ab", 2), IL_OK);
	unlink(path);
	path = tmp_file("123456789", 9);
	assert_int_equal(il_buf_read_file(&b, path, err, sizeof(err)), IL_ERR_NOMEM);
	snprintf(want, sizeof(want), "could not read file \"%s\": larger than 8 bytes", path);
	assert_string_equal(err, want);
	assert_int_equal(b.len, 2);
	assert_string_equal(b.data, "ab");
	unlink(path);
	/* An empty file adds nothing, even to a buffer that may hold nothing. */
	il_buf_free(&b);
	il_buf_init(&b, 0);
	path = tmp_file("", 0);
	assert_int_equal(il_buf_read_file(&b, path, err, sizeof(err)), IL_OK);
	assert_int_equal(b.len, 0);
	unlink(path);
	il_buf_free(&b);
}

/* Files whose size stat() does not tell are read in steps, bounded all the same. */
static void
test_read_file_unknown_size(void **state)
{
	char err[256];
	il_buf b;

	(void)state;
	il_buf_init(&b, 1 << 20);
	assert_int_equal(il_buf_read_file(&b, "/proc/self/status", err, sizeof(err)), IL_OK);
	assert_true(b.len > 0);
	assert_memory_equal(b.data, "Name:", 5);
	assert_int_equal(strlen(b.data), b.len);
	il_buf_free(&b);
	/* An endless stream stops at the bound. */
	il_buf_init(&b, 100000);
	assert_int_equal(il_buf_read_file(&b, "/dev/zero", err, sizeof(err)), IL_ERR_NOMEM);
	assert_string_equal(err, "could not read file \"/dev/zero\": larger than 100000 bytes");
	assert_int_equal(b.len, 0);
	il_buf_free(&b);
}

static void
test_read_file_errors(void **state)
{
	char err[256];
	il_buf b;

	(void)state;
	il_buf_init(&b, 64);
	assert_int_equal(il_buf_read_file(&b, "/nonexistent/test_buf", err, sizeof(err)), IL_ERR_IO);
	assert_string_equal(err, "could not open file \"/nonexistent/test_buf\": No such file or directory");
	assert_int_equal(il_buf_read_file(&b, "/tmp", err, sizeof(err)), IL_ERR_IO);
	assert_string_equal(err, "could not read file \"/tmp\": Is a directory");
	assert_int_equal(b.len, 0);
	/* The caller may not want the reason. */
	assert_int_equal(il_buf_read_file(&b, "/nonexistent/test_buf", NULL, 0), IL_ERR_IO);
	il_buf_free(&b);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_init_empty),
		cmocka_unit_test(test_add_within_bound),
		cmocka_unit_test(test_add_over_bound_leaves_unaltered),
		cmocka_unit_test(test_zero_bound),
		cmocka_unit_test(test_growth_keeps_contents),
		cmocka_unit_test(test_reset_keeps_memory),
		cmocka_unit_test(test_printf),
		cmocka_unit_test(test_printf_bound),
		cmocka_unit_test(test_vprintf),
		cmocka_unit_test(test_json_escaping),
		cmocka_unit_test(test_json_escaping_appends),
		cmocka_unit_test(test_json_escaping_all_or_nothing),
		cmocka_unit_test(test_unbounded_max),
		cmocka_unit_test(test_json_escaping_bound),
		cmocka_unit_test(test_take),
		cmocka_unit_test(test_take_empty),
		cmocka_unit_test(test_read_file),
		cmocka_unit_test(test_read_file_unknown_size),
		cmocka_unit_test(test_read_file_errors),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
