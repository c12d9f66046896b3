/*
 * test_commitlog.c - records of __consumer_offsets: every value version,
 * tombstones, records that are not commits, and bytes cut short anywhere.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include <cmocka.h>

#include "commitlog.h"

/* A record built by hand, big-endian as Kafka writes it. */
typedef struct rec {
	unsigned char b[512];
	size_t n;
} rec;

static void
put(rec *r, uint64_t v, int bytes)
{
	int i;

	for (i = bytes - 1; i >= 0; i--)
		r->b[r->n++] = (unsigned char)(v >> (8 * i));
}

static void
put_str(rec *r, const char *s)
{
	put(r, strlen(s), 2);
	memcpy(r->b + r->n, s, strlen(s));
	r->n += strlen(s);
}

static void
put_uvarint(rec *r, uint32_t v)
{
	while (v >= 0x80) {
		r->b[r->n++] = (unsigned char)(v | 0x80);
		v >>= 7;
	}
	r->b[r->n++] = (unsigned char)v;
}

static void
put_compact_str(rec *r, const char *s)
{
	put_uvarint(r, (uint32_t)strlen(s) + 1);
	memcpy(r->b + r->n, s, strlen(s));
	r->n += strlen(s);
}

static rec
key_of(int version, const char *group, const char *topic, int32_t partition)
{
	rec r = { .n = 0 };

	put(&r, (uint64_t)version, 2);
	put_str(&r, group);
	put_str(&r, topic);
	put(&r, (uint32_t)partition, 4);
	return r;
}

/* A value of @p version for offset 1234, metadata "m", committed at 1700000000123. */
static rec
value_of(int version)
{
	rec r = { .n = 0 };

	put(&r, (uint64_t)version, 2);
	put(&r, 1234, 8);
	if (version >= 3)
		put(&r, 7, 4);                          /* leader epoch */
	if (version >= 4)
		put_compact_str(&r, "m");
	else
		put_str(&r, "m");
	put(&r, 1700000000123ULL, 8);
	if (version == 1)
		put(&r, 1700000600123ULL, 8);           /* expire timestamp */
	if (version >= 4)
		put_uvarint(&r, 0);                     /* no tagged fields */
	return r;
}

static void
check_commit(const il_commitlog_commit *c, int version)
{
	assert_int_equal(c->kind, IL_COMMITLOG_COMMIT);
	assert_int_equal(c->value_version, version);
	assert_int_equal(c->group_len, 2);
	assert_memory_equal(c->group, "g1", 2);
	assert_int_equal(c->topic_len, 5);
	assert_memory_equal(c->topic, "topic", 5);
	assert_int_equal(c->partition, 42);
	assert_int_equal(c->offset, 1234);
	assert_int_equal(c->metadata_len, 1);
	assert_memory_equal(c->metadata, "m", 1);
	assert_int_equal(c->commit_ts_ms, 1700000000123LL);
	assert_int_equal(c->leader_epoch, version >= 3 ? 7 : -1);
	assert_int_equal(c->expire_ts_ms, version == 1 ? 1700000600123LL : -1);
}

static void
test_every_value_version(void **state)
{
	il_commitlog_commit c;
	char err[256];
	rec k, v;
	int kv, vv;

	(void)state;
	for (kv = 0; kv <= 1; kv++) {
		k = key_of(kv, "g1", "topic", 42);
		for (vv = 0; vv <= 4; vv++) {
			v = value_of(vv);
			assert_int_equal(il_commitlog_decode(k.b, k.n, v.b, v.n, &c, err, sizeof(err)), IL_OK);
			assert_int_equal(c.key_version, kv);
			check_commit(&c, vv);
		}
	}
}

static void
test_tagged_fields_and_trailing(void **state)
{
	rec k = key_of(1, "g1", "topic", 42), v = { .n = 0 };
	il_commitlog_commit c;
	char err[256];

	(void)state;
	/* v4 with two tagged fields, one longer than a one-byte varint. */
	put(&v, 4, 2);
	put(&v, 1234, 8);
	put(&v, 7, 4);
	put_compact_str(&v, "m");
	put(&v, 1700000000123ULL, 8);
	put_uvarint(&v, 2);
	put_uvarint(&v, 0);
	put_uvarint(&v, 3);
	put(&v, 0xabcdef, 3);
	put_uvarint(&v, 300);
	put_uvarint(&v, 200);
	memset(v.b + v.n, 'x', 200);
	v.n += 200;
	assert_int_equal(il_commitlog_decode(k.b, k.n, v.b, v.n, &c, err, sizeof(err)), IL_OK);
	check_commit(&c, 4);
	/* A tag claiming more bytes than there are. */
	v.n -= 1;
	assert_int_equal(il_commitlog_decode(k.b, k.n, v.b, v.n, &c, err, sizeof(err)), IL_ERR_DECODE);
	/* A v3 value with bytes after it (a newer writer's fields) still decodes. */
	v = value_of(3);
	put(&v, 99, 4);
	assert_int_equal(il_commitlog_decode(k.b, k.n, v.b, v.n, &c, err, sizeof(err)), IL_OK);
	check_commit(&c, 3);
}

static void
test_null_metadata(void **state)
{
	rec k = key_of(1, "g1", "t", 0), v = { .n = 0 };
	il_commitlog_commit c;
	char err[256];

	(void)state;
	put(&v, 3, 2);
	put(&v, 5, 8);
	put(&v, 0xffffffffU, 4);        /* leader epoch -1 */
	put(&v, 0xffff, 2);             /* null metadata */
	put(&v, 10, 8);
	assert_int_equal(il_commitlog_decode(k.b, k.n, v.b, v.n, &c, err, sizeof(err)), IL_OK);
	assert_int_equal(c.metadata_len, 0);
	assert_string_equal(c.metadata, "");
	assert_int_equal(c.leader_epoch, -1);
	assert_int_equal(c.offset, 5);
	/* Compact null (length 0) in v4. */
	v.n = 0;
	put(&v, 4, 2);
	put(&v, 6, 8);
	put(&v, 1, 4);
	put_uvarint(&v, 0);
	put(&v, 11, 8);
	put_uvarint(&v, 0);
	assert_int_equal(il_commitlog_decode(k.b, k.n, v.b, v.n, &c, err, sizeof(err)), IL_OK);
	assert_int_equal(c.metadata_len, 0);
	assert_int_equal(c.commit_ts_ms, 11);
}

static void
test_tombstone_and_others(void **state)
{
	rec k = key_of(1, "g1", "topic", 42), gm = { .n = 0 };
	il_commitlog_commit c;
	char err[256];

	(void)state;
	assert_int_equal(il_commitlog_decode(k.b, k.n, NULL, 0, &c, err, sizeof(err)), IL_OK);
	assert_int_equal(c.kind, IL_COMMITLOG_TOMBSTONE);
	assert_int_equal(c.partition, 42);
	assert_memory_equal(c.group, "g1", 2);
	assert_int_equal(c.value_version, -1);
	/* Group metadata: key version 2, value not looked at. */
	put(&gm, 2, 2);
	put_str(&gm, "g1");
	assert_int_equal(il_commitlog_decode(gm.b, gm.n, "\x00\x03junk", 6, &c, err, sizeof(err)), IL_OK);
	assert_int_equal(c.kind, IL_COMMITLOG_OTHER);
	assert_int_equal(c.key_version, 2);
	/* Newer record types (a negative version too) are not commits either. */
	gm.n = 0;
	put(&gm, 0xfffe, 2);
	assert_int_equal(il_commitlog_decode(gm.b, gm.n, NULL, 0, &c, err, sizeof(err)), IL_OK);
	assert_int_equal(c.kind, IL_COMMITLOG_OTHER);
}

static void
test_unknown_value_version(void **state)
{
	rec k = key_of(0, "g1", "topic", 42), v = value_of(3);
	il_commitlog_commit c;
	char err[256];

	(void)state;
	v.b[1] = 5;
	assert_int_equal(il_commitlog_decode(k.b, k.n, v.b, v.n, &c, err, sizeof(err)), IL_ERR_DECODE);
	assert_non_null(strstr(err, "version 5 unknown"));
	v.b[0] = 0xff;
	v.b[1] = 0xff;
	assert_int_equal(il_commitlog_decode(k.b, k.n, v.b, v.n, &c, err, sizeof(err)), IL_ERR_DECODE);
}

static void
test_truncated_everywhere(void **state)
{
	il_commitlog_commit c;
	char err[256];
	rec k, v;
	size_t cut;
	int vv;

	(void)state;
	k = key_of(1, "group", "topic", 3);
	v = value_of(1);
	/* Every prefix of a key is refused. */
	for (cut = 0; cut < k.n; cut++)
		assert_int_equal(il_commitlog_decode(k.b, cut, v.b, v.n, &c, err, sizeof(err)),
		    IL_ERR_DECODE);
	assert_int_equal(il_commitlog_decode(NULL, 0, v.b, v.n, &c, err, sizeof(err)), IL_ERR_DECODE);
	/* Every prefix of every value version is refused. */
	for (vv = 0; vv <= 4; vv++) {
		v = value_of(vv);
		for (cut = 0; cut < v.n; cut++)
			assert_int_equal(il_commitlog_decode(k.b, k.n, v.b, cut, &c, err, sizeof(err)),
			    IL_ERR_DECODE);
	}
	assert_non_null(strstr(err, "value truncated"));
}

static void
test_hostile_lengths(void **state)
{
	rec k = { .n = 0 }, v = { .n = 0 };
	il_commitlog_commit c;
	char err[256];

	(void)state;
	/* A group length far past the end. */
	put(&k, 1, 2);
	put(&k, 0x7fff, 2);
	put(&k, 0, 8);
	assert_int_equal(il_commitlog_decode(k.b, k.n, NULL, 0, &c, err, sizeof(err)), IL_ERR_DECODE);
	/* A negative length other than -1. */
	k.n = 0;
	put(&k, 1, 2);
	put(&k, 0xfffe, 2);
	assert_int_equal(il_commitlog_decode(k.b, k.n, NULL, 0, &c, err, sizeof(err)), IL_ERR_DECODE);
	/* A varint that never ends, and one over 32 bits. */
	k = key_of(1, "g", "t", 0);
	put(&v, 4, 2);
	put(&v, 1, 8);
	put(&v, 1, 4);
	memset(v.b + v.n, 0xff, 5);
	v.n += 5;
	assert_int_equal(il_commitlog_decode(k.b, k.n, v.b, v.n, &c, err, sizeof(err)), IL_ERR_DECODE);
	v.b[v.n - 1] = 0x1f;
	assert_int_equal(il_commitlog_decode(k.b, k.n, v.b, v.n, &c, err, sizeof(err)), IL_ERR_DECODE);
	/* A compact length of 2^32-1 (one byte of string claimed past the end). */
	v.b[v.n - 1] = 0x0f;
	assert_int_equal(il_commitlog_decode(k.b, k.n, v.b, v.n, &c, err, sizeof(err)), IL_ERR_DECODE);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_every_value_version),
		cmocka_unit_test(test_tagged_fields_and_trailing),
		cmocka_unit_test(test_null_metadata),
		cmocka_unit_test(test_tombstone_and_others),
		cmocka_unit_test(test_unknown_value_version),
		cmocka_unit_test(test_truncated_everywhere),
		cmocka_unit_test(test_hostile_lengths),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
