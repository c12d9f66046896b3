/*
 * test_keyq.c - per-key serialisation: order within a key, independence of
 * keys, binary keys, and a queue that returns to empty after many keys.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>

#include <cmocka.h>

#include "keyq.h"

static void
test_one_key_in_order(void **state)
{
	il_keyq *q = il_keyq_new();
	int items[3] = { 0, 1, 2 };

	(void)state;
	assert_true(il_keyq_push(q, "k", 1, &items[0]));
	assert_false(il_keyq_push(q, "k", 1, &items[1]));
	assert_false(il_keyq_push(q, "k", 1, &items[2]));
	assert_int_equal(il_keyq_count(q), 3);
	assert_int_equal(il_keyq_keys(q), 1);
	assert_ptr_equal(il_keyq_finish(q, "k", 1, &items[0]), &items[1]);
	assert_ptr_equal(il_keyq_finish(q, "k", 1, &items[1]), &items[2]);
	assert_null(il_keyq_finish(q, "k", 1, &items[2]));
	assert_int_equal(il_keyq_count(q), 0);
	assert_int_equal(il_keyq_keys(q), 0);
	/* The key is gone: the next item is ready at once. */
	assert_true(il_keyq_push(q, "k", 1, &items[0]));
	assert_null(il_keyq_finish(q, "k", 1, &items[0]));
	il_keyq_destroy(q);
}

static void
test_keys_independent(void **state)
{
	il_keyq *q = il_keyq_new();
	int a1, a2, b1;

	(void)state;
	assert_true(il_keyq_push(q, "a", 1, &a1));
	assert_true(il_keyq_push(q, "b", 1, &b1));
	assert_false(il_keyq_push(q, "a", 1, &a2));
	/* "ab" and "a" differ; so do keys that only differ in length. */
	assert_true(il_keyq_push(q, "ab", 2, &b1));
	assert_int_equal(il_keyq_keys(q), 3);
	assert_null(il_keyq_finish(q, "b", 1, &b1));
	assert_null(il_keyq_finish(q, "ab", 2, &b1));
	assert_ptr_equal(il_keyq_finish(q, "a", 1, &a1), &a2);
	assert_null(il_keyq_finish(q, "a", 1, &a2));
	assert_int_equal(il_keyq_count(q), 0);
	il_keyq_destroy(q);
}

static void
test_binary_and_long_keys(void **state)
{
	il_keyq *q = il_keyq_new();
	const char k1[] = { 'x', '\0', 'y' };
	const char k2[] = { 'x', '\0', 'z' };
	char longkey[300];
	int i1, i2, i3, i4;

	(void)state;
	memset(longkey, 'L', sizeof(longkey));
	assert_true(il_keyq_push(q, k1, sizeof(k1), &i1));
	assert_true(il_keyq_push(q, k2, sizeof(k2), &i2));
	assert_true(il_keyq_push(q, "", 0, &i3));
	assert_true(il_keyq_push(q, longkey, sizeof(longkey), &i4));
	assert_false(il_keyq_push(q, longkey, sizeof(longkey), &i1));
	assert_false(il_keyq_push(q, "", 0, &i4));
	assert_int_equal(il_keyq_keys(q), 4);
	assert_ptr_equal(il_keyq_finish(q, longkey, sizeof(longkey), &i4), &i1);
	assert_ptr_equal(il_keyq_finish(q, "", 0, &i3), &i4);
	assert_null(il_keyq_finish(q, k1, sizeof(k1), &i1));
	/* Items are left to their owner on destroy. */
	il_keyq_destroy(q);
}

static void
test_wrong_item_ignored(void **state)
{
	il_keyq *q = il_keyq_new();
	int a, b;

	(void)state;
	assert_true(il_keyq_push(q, "k", 1, &a));
	assert_false(il_keyq_push(q, "k", 1, &b));
	assert_null(il_keyq_finish(q, "k", 1, &b));
	assert_null(il_keyq_finish(q, "zz", 2, &a));
	assert_int_equal(il_keyq_count(q), 2);
	assert_ptr_equal(il_keyq_finish(q, "k", 1, &a), &b);
	il_keyq_destroy(q);
}

/* Many keys at once (growth), then many short-lived keys (reuse). */
static void
test_many_keys(void **state)
{
	enum { N = 20000 };
	il_keyq *q = il_keyq_new();
	static int items[N];
	char key[32];
	int i, len;

	(void)state;
	for (i = 0; i < N; i++) {
		len = snprintf(key, sizeof(key), "key-%d", i);
		assert_true(il_keyq_push(q, key, (size_t)len, &items[i]));
		assert_false(il_keyq_push(q, key, (size_t)len, &items[(i + 1) % N]));
	}
	assert_int_equal(il_keyq_keys(q), N);
	assert_int_equal(il_keyq_count(q), 2 * N);
	for (i = 0; i < N; i++) {
		len = snprintf(key, sizeof(key), "key-%d", i);
		assert_ptr_equal(il_keyq_finish(q, key, (size_t)len, &items[i]),
		    &items[(i + 1) % N]);
		assert_null(il_keyq_finish(q, key, (size_t)len, &items[(i + 1) % N]));
	}
	assert_int_equal(il_keyq_keys(q), 0);
	for (i = 0; i < 10 * N; i++) {
		len = snprintf(key, sizeof(key), "short-lived-%d", i);
		assert_true(il_keyq_push(q, key, (size_t)len, &items[0]));
		assert_null(il_keyq_finish(q, key, (size_t)len, &items[0]));
	}
	assert_int_equal(il_keyq_count(q), 0);
	il_keyq_destroy(q);
}

static void
test_destroy_null(void **state)
{
	(void)state;
	il_keyq_destroy(NULL);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_one_key_in_order),
		cmocka_unit_test(test_keys_independent),
		cmocka_unit_test(test_binary_and_long_keys),
		cmocka_unit_test(test_wrong_item_ignored),
		cmocka_unit_test(test_many_keys),
		cmocka_unit_test(test_destroy_null),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
