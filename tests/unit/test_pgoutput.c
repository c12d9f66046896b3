/*
 * test_pgoutput.c - the pgoutput v1 decoder on hand-built byte strings:
 * every message type, nulls and unchanged TOAST, updates with and without an
 * old tuple, every truncation of every message (each copied to an exact-size
 * allocation, so AddressSanitizer sees any read past the end), hostile
 * lengths, the XLogData and keepalive wrappers, the standby status update,
 * LSN text and the relation cache.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "pgoutput.h"
#include "xalloc.h"

/* A message under construction. */
typedef struct msg {
	uint8_t b[512];
	size_t len;
} msg;

static void
u8(msg *m, unsigned v)
{
	assert_true(m->len < sizeof(m->b));
	m->b[m->len++] = (uint8_t)v;
}

static void
u16(msg *m, unsigned v)
{
	u8(m, v >> 8 & 0xff);
	u8(m, v & 0xff);
}

static void
u32(msg *m, uint32_t v)
{
	u16(m, v >> 16);
	u16(m, v & 0xffff);
}

static void
u64(msg *m, uint64_t v)
{
	u32(m, (uint32_t)(v >> 32));
	u32(m, (uint32_t)v);
}

static void
str(msg *m, const char *s)
{
	size_t n = strlen(s) + 1;

	assert_true(m->len + n <= sizeof(m->b));
	memcpy(m->b + m->len, s, n);
	m->len += n;
}

static void
text(msg *m, const char *s)
{
	size_t n = strlen(s);

	u8(m, 't');
	u32(m, (uint32_t)n);
	assert_true(m->len + n <= sizeof(m->b));
	memcpy(m->b + m->len, s, n);
	m->len += n;
}

/* Decodes @p m from an allocation of exactly its size. */
static il_err
decode(const msg *m, size_t len, il_pgoutput_arena *a, il_pgoutput_msg *out,
    char *err, size_t errsz)
{
	uint8_t *copy = il_xmalloc(len > 0 ? len : 1);
	il_err rc;

	memcpy(copy, m->b, len);
	rc = il_pgoutput_decode(len > 0 ? copy : NULL, len, a, out, err, errsz);
	free(copy);
	return rc;
}

/* Every proper prefix of @p m fails cleanly; one byte more is trailing. */
static void
check_truncations(const msg *m)
{
	il_pgoutput_arena *a = il_pgoutput_arena_new();
	il_pgoutput_msg out;
	char err[256];
	msg longer = *m;
	size_t n;
	il_err rc;

	for (n = 0; n < m->len; n++) {
		err[0] = '\0';
		rc = decode(m, n, a, &out, err, sizeof(err));
		if (IL_ERR_CLASS(rc) != IL_ERR_DECODE)
			fail_msg("prefix of %zu of %zu bytes: got %d", n, m->len, rc);
		assert_true(strlen(err) > 0);
	}
	assert_int_equal(decode(m, m->len, a, &out, err, sizeof(err)), IL_OK);
	u8(&longer, 0);
	assert_int_equal(decode(&longer, longer.len, a, &out, err, sizeof(err)),
	    IL_ERR_DECODE_TRAILING);
	assert_non_null(strstr(err, "left over"));
	il_pgoutput_arena_destroy(a);
}

static void
test_begin_commit(void **state)
{
	il_pgoutput_arena *a = il_pgoutput_arena_new();
	il_pgoutput_msg out;
	char err[256];
	msg b = { .len = 0 }, c = { .len = 0 };

	(void)state;
	u8(&b, 'B');
	u64(&b, 0x16B374D848ULL);
	u64(&b, (uint64_t)-5);  /* a time before 2000 */
	u32(&b, 4000000000u);
	assert_int_equal(decode(&b, b.len, a, &out, err, sizeof(err)), IL_OK);
	assert_int_equal(out.type, IL_PGOUTPUT_BEGIN);
	assert_true(out.u.begin.final_lsn == 0x16B374D848ULL);
	assert_true(out.u.begin.commit_time == -5);
	assert_true(out.u.begin.xid == 4000000000u);
	check_truncations(&b);

	u8(&c, 'C');
	u8(&c, 0);
	u64(&c, 0x100);
	u64(&c, 0x1A0);
	u64(&c, 700000000000000ULL);
	assert_int_equal(decode(&c, c.len, a, &out, err, sizeof(err)), IL_OK);
	assert_int_equal(out.type, IL_PGOUTPUT_COMMIT);
	assert_int_equal(out.u.commit.flags, 0);
	assert_true(out.u.commit.commit_lsn == 0x100);
	assert_true(out.u.commit.end_lsn == 0x1A0);
	assert_true(out.u.commit.commit_time == 700000000000000LL);
	check_truncations(&c);
	il_pgoutput_arena_destroy(a);
}

static void
test_origin_type(void **state)
{
	il_pgoutput_arena *a = il_pgoutput_arena_new();
	il_pgoutput_msg out;
	char err[256];
	msg o = { .len = 0 }, y = { .len = 0 };

	(void)state;
	u8(&o, 'O');
	u64(&o, 42);
	str(&o, "pg_16384");
	assert_int_equal(decode(&o, o.len, a, &out, err, sizeof(err)), IL_OK);
	assert_int_equal(out.type, IL_PGOUTPUT_ORIGIN);
	assert_true(out.u.origin.commit_lsn == 42);
	check_truncations(&o);

	u8(&y, 'Y');
	u32(&y, 16500);
	str(&y, "public");
	str(&y, "membership_state");
	assert_int_equal(il_pgoutput_decode(y.b, y.len, a, &out, err, sizeof(err)), IL_OK);
	assert_int_equal(out.type, IL_PGOUTPUT_TYPE);
	assert_int_equal(out.u.type.oid, 16500);
	assert_string_equal(out.u.type.nspname, "public");
	assert_string_equal(out.u.type.name, "membership_state");
	/* strings point into the input */
	assert_ptr_equal(out.u.type.nspname, (const char *)y.b + 5);
	check_truncations(&y);
	assert_string_equal(il_pgoutput_type_name(IL_PGOUTPUT_TYPE), "Type");
	assert_string_equal(il_pgoutput_type_name((il_pgoutput_type)'Z'), "unknown");
	il_pgoutput_arena_destroy(a);
}

static void
relation_msg(msg *r, uint32_t relid, const char *extra_col)
{
	u8(r, 'R');
	u32(r, relid);
	str(r, "public");
	str(r, "g2p_program_membership");
	u8(r, 'f');
	u16(r, extra_col != NULL ? 3 : 2);
	u8(r, 1);
	str(r, "id");
	u32(r, 23);
	u32(r, 0xffffffffu);
	u8(r, 0);
	str(r, "state");
	u32(r, 1043);
	u32(r, 20 + 4);
	if (extra_col != NULL) {
		u8(r, 0);
		str(r, extra_col);
		u32(r, 25);
		u32(r, 0xffffffffu);
	}
}

static void
test_relation_and_cache(void **state)
{
	il_pgoutput_arena *a = il_pgoutput_arena_new();
	il_pgoutput_relcache *cache = il_pgoutput_relcache_new();
	const il_pgoutput_relation *rel;
	il_pgoutput_msg out;
	char err[256];
	msg r = { .len = 0 }, r2 = { .len = 0 };
	uint32_t i;

	(void)state;
	relation_msg(&r, 16390, NULL);
	assert_int_equal(il_pgoutput_decode(r.b, r.len, a, &out, err, sizeof(err)), IL_OK);
	assert_int_equal(out.type, IL_PGOUTPUT_RELATION);
	assert_int_equal(out.u.relation.relid, 16390);
	assert_string_equal(out.u.relation.nspname, "public");
	assert_string_equal(out.u.relation.relname, "g2p_program_membership");
	assert_int_equal(out.u.relation.replident, 'f');
	assert_int_equal(out.u.relation.ncols, 2);
	assert_int_equal(out.u.relation.cols[0].flags, IL_PGOUTPUT_COL_KEY);
	assert_string_equal(out.u.relation.cols[0].name, "id");
	assert_int_equal(out.u.relation.cols[0].type_oid, 23);
	assert_int_equal(out.u.relation.cols[0].typmod, -1);
	assert_string_equal(out.u.relation.cols[1].name, "state");
	assert_int_equal(out.u.relation.cols[1].typmod, 24);
	check_truncations(&r);

	assert_null(il_pgoutput_relcache_get(cache, 16390));
	rel = il_pgoutput_relcache_put(cache, &out.u.relation);
	/* the copy owns its strings: the message may go */
	memset(r.b, 0, sizeof(r.b));
	assert_ptr_equal(il_pgoutput_relcache_get(cache, 16390), rel);
	assert_string_equal(rel->relname, "g2p_program_membership");
	assert_string_equal(rel->cols[1].name, "state");
	assert_int_equal(il_pgoutput_relation_column(rel, "state"), 1);
	assert_int_equal(il_pgoutput_relation_column(rel, "note"), -1);

	/* after DDL the relation is sent again and replaces the first */
	relation_msg(&r2, 16390, "note");
	assert_int_equal(il_pgoutput_decode(r2.b, r2.len, a, &out, err, sizeof(err)), IL_OK);
	rel = il_pgoutput_relcache_put(cache, &out.u.relation);
	assert_int_equal(il_pgoutput_relcache_count(cache), 1);
	rel = il_pgoutput_relcache_get(cache, 16390);
	assert_int_equal(rel->ncols, 3);
	assert_int_equal(il_pgoutput_relation_column(rel, "note"), 2);

	/* many relations: the table grows and keeps every one */
	for (i = 0; i < 1000; i++) {
		out.u.relation.relid = 20000 + i * 7;
		(void)il_pgoutput_relcache_put(cache, &out.u.relation);
	}
	assert_int_equal(il_pgoutput_relcache_count(cache), 1001);
	for (i = 0; i < 1000; i++) {
		rel = il_pgoutput_relcache_get(cache, 20000 + i * 7);
		assert_non_null(rel);
		assert_int_equal(rel->relid, 20000 + i * 7);
	}
	assert_null(il_pgoutput_relcache_get(cache, 20001));
	assert_int_equal(il_pgoutput_relcache_get(cache, 16390)->ncols, 3);
	il_pgoutput_relcache_destroy(cache);
	il_pgoutput_relcache_destroy(NULL);
	il_pgoutput_arena_destroy(a);
	il_pgoutput_arena_destroy(NULL);
}

static void
test_insert(void **state)
{
	il_pgoutput_arena *a = il_pgoutput_arena_new();
	il_pgoutput_msg out;
	char err[256];
	msg m = { .len = 0 };
	const il_pgoutput_value *v;

	(void)state;
	u8(&m, 'I');
	u32(&m, 16390);
	u8(&m, 'N');
	u16(&m, 4);
	text(&m, "17");
	u8(&m, 'n');
	u8(&m, 'u');
	text(&m, "Zo\xc3\xab");
	assert_int_equal(il_pgoutput_decode(m.b, m.len, a, &out, err, sizeof(err)), IL_OK);
	assert_int_equal(out.type, IL_PGOUTPUT_INSERT);
	assert_int_equal(out.u.change.relid, 16390);
	assert_int_equal(out.u.change.old_kind, IL_PGOUTPUT_OLD_NONE);
	assert_int_equal(out.u.change.old_tuple.ncols, 0);
	assert_int_equal(out.u.change.new_tuple.ncols, 4);
	v = out.u.change.new_tuple.values;
	assert_int_equal(v[0].kind, IL_PGOUTPUT_TEXT);
	assert_int_equal(v[0].len, 2);
	assert_memory_equal(v[0].data, "17", 2);
	assert_ptr_equal(v[0].data, (const char *)m.b + 13);
	assert_int_equal(v[1].kind, IL_PGOUTPUT_NULL);
	assert_null(v[1].data);
	assert_int_equal(v[2].kind, IL_PGOUTPUT_UNCHANGED);
	assert_int_equal(v[2].len, 0);
	assert_int_equal(v[3].len, 4);
	assert_memory_equal(v[3].data, "Zo\xc3\xab", 4);
	check_truncations(&m);
	il_pgoutput_arena_destroy(a);
}

static void
test_update_delete(void **state)
{
	il_pgoutput_arena *a = il_pgoutput_arena_new();
	il_pgoutput_msg out;
	char err[256];
	msg plain = { .len = 0 }, key = { .len = 0 }, full = { .len = 0 };
	msg dk = { .len = 0 }, dfull = { .len = 0 };

	(void)state;
	/* no old tuple: the key did not change under REPLICA IDENTITY DEFAULT */
	u8(&plain, 'U');
	u32(&plain, 7);
	u8(&plain, 'N');
	u16(&plain, 2);
	text(&plain, "1");
	text(&plain, "enrolled");
	assert_int_equal(il_pgoutput_decode(plain.b, plain.len, a, &out, err, sizeof(err)), IL_OK);
	assert_int_equal(out.type, IL_PGOUTPUT_UPDATE);
	assert_int_equal(out.u.change.old_kind, IL_PGOUTPUT_OLD_NONE);
	assert_int_equal(out.u.change.old_tuple.ncols, 0);
	assert_int_equal(out.u.change.new_tuple.ncols, 2);
	assert_memory_equal(out.u.change.new_tuple.values[1].data, "enrolled", 8);
	check_truncations(&plain);

	/* 'K': the old key, other columns null */
	u8(&key, 'U');
	u32(&key, 7);
	u8(&key, 'K');
	u16(&key, 2);
	text(&key, "1");
	u8(&key, 'n');
	u8(&key, 'N');
	u16(&key, 2);
	text(&key, "2");
	text(&key, "enrolled");
	assert_int_equal(il_pgoutput_decode(key.b, key.len, a, &out, err, sizeof(err)), IL_OK);
	assert_int_equal(out.u.change.old_kind, IL_PGOUTPUT_OLD_KEY);
	assert_int_equal(out.u.change.old_tuple.ncols, 2);
	assert_memory_equal(out.u.change.old_tuple.values[0].data, "1", 1);
	assert_int_equal(out.u.change.old_tuple.values[1].kind, IL_PGOUTPUT_NULL);
	assert_memory_equal(out.u.change.new_tuple.values[0].data, "2", 1);
	/* the two tuples do not share arena space */
	assert_ptr_not_equal(out.u.change.old_tuple.values, out.u.change.new_tuple.values);
	check_truncations(&key);

	/* 'O': the whole old row (REPLICA IDENTITY FULL), unchanged TOAST in the new */
	u8(&full, 'U');
	u32(&full, 7);
	u8(&full, 'O');
	u16(&full, 3);
	text(&full, "1");
	text(&full, "draft");
	text(&full, "");
	u8(&full, 'N');
	u16(&full, 3);
	text(&full, "1");
	text(&full, "enrolled");
	u8(&full, 'u');
	assert_int_equal(il_pgoutput_decode(full.b, full.len, a, &out, err, sizeof(err)), IL_OK);
	assert_int_equal(out.u.change.old_kind, IL_PGOUTPUT_OLD_FULL);
	assert_memory_equal(out.u.change.old_tuple.values[1].data, "draft", 5);
	assert_int_equal(out.u.change.old_tuple.values[2].kind, IL_PGOUTPUT_TEXT);
	assert_int_equal(out.u.change.old_tuple.values[2].len, 0);
	assert_int_equal(out.u.change.new_tuple.values[2].kind, IL_PGOUTPUT_UNCHANGED);
	check_truncations(&full);

	u8(&dk, 'D');
	u32(&dk, 7);
	u8(&dk, 'K');
	u16(&dk, 2);
	text(&dk, "1");
	u8(&dk, 'n');
	assert_int_equal(il_pgoutput_decode(dk.b, dk.len, a, &out, err, sizeof(err)), IL_OK);
	assert_int_equal(out.type, IL_PGOUTPUT_DELETE);
	assert_int_equal(out.u.change.old_kind, IL_PGOUTPUT_OLD_KEY);
	assert_int_equal(out.u.change.old_tuple.ncols, 2);
	assert_int_equal(out.u.change.new_tuple.ncols, 0);
	check_truncations(&dk);

	u8(&dfull, 'D');
	u32(&dfull, 7);
	u8(&dfull, 'O');
	u16(&dfull, 2);
	text(&dfull, "1");
	text(&dfull, "exited");
	assert_int_equal(il_pgoutput_decode(dfull.b, dfull.len, a, &out, err, sizeof(err)), IL_OK);
	assert_int_equal(out.u.change.old_kind, IL_PGOUTPUT_OLD_FULL);
	assert_memory_equal(out.u.change.old_tuple.values[1].data, "exited", 6);
	check_truncations(&dfull);

	/* a Delete always has an old tuple; an Insert only 'N' */
	dk.b[5] = 'N';
	assert_int_equal(il_pgoutput_decode(dk.b, dk.len, a, &out, err, sizeof(err)), IL_ERR_DECODE);
	assert_non_null(strstr(err, "tuple marker at offset 5"));
	dk.b[0] = 'I';
	dk.b[5] = 'K';
	assert_int_equal(il_pgoutput_decode(dk.b, dk.len, a, &out, err, sizeof(err)), IL_ERR_DECODE);
	assert_non_null(strstr(err, "Insert message"));
	/* an Update's second marker must be 'N' */
	key.b[5 + 3 + 6 + 1] = 'O';
	assert_int_equal(il_pgoutput_decode(key.b, key.len, a, &out, err, sizeof(err)), IL_ERR_DECODE);
	il_pgoutput_arena_destroy(a);
}

static void
test_truncate(void **state)
{
	il_pgoutput_arena *a = il_pgoutput_arena_new();
	il_pgoutput_msg out;
	char err[256];
	msg t = { .len = 0 };

	(void)state;
	u8(&t, 'T');
	u32(&t, 2);
	u8(&t, IL_PGOUTPUT_TRUNCATE_CASCADE);
	u32(&t, 16390);
	u32(&t, 16400);
	assert_int_equal(il_pgoutput_decode(t.b, t.len, a, &out, err, sizeof(err)), IL_OK);
	assert_int_equal(out.type, IL_PGOUTPUT_TRUNCATE);
	assert_int_equal(out.u.truncate.options, IL_PGOUTPUT_TRUNCATE_CASCADE);
	assert_int_equal(out.u.truncate.nrelids, 2);
	assert_int_equal(out.u.truncate.relids[0], 16390);
	assert_int_equal(out.u.truncate.relids[1], 16400);
	check_truncations(&t);
	il_pgoutput_arena_destroy(a);
}

static void
test_hostile(void **state)
{
	il_pgoutput_arena *a = il_pgoutput_arena_new();
	il_pgoutput_arena small;
	il_pgoutput_value vals[2];
	il_pgoutput_column cols[1];
	il_pgoutput_msg out;
	char err[256];
	msg m;

	(void)state;
	/* a text length far past the end */
	m.len = 0;
	u8(&m, 'I');
	u32(&m, 1);
	u8(&m, 'N');
	u16(&m, 1);
	u8(&m, 't');
	u32(&m, 0xffffffffu);
	u8(&m, 'x');
	assert_int_equal(decode(&m, m.len, a, &out, err, sizeof(err)), IL_ERR_DECODE_SHORT);
	assert_string_equal(err, "could not decode pgoutput Insert message: column 1 value at offset 13 "
	    "has length 4294967295, 1 bytes left");

	/* a column count the bytes cannot hold */
	m.len = 0;
	u8(&m, 'I');
	u32(&m, 1);
	u8(&m, 'N');
	u16(&m, 0xffff);
	u8(&m, 'n');
	assert_int_equal(decode(&m, m.len, a, &out, err, sizeof(err)), IL_ERR_DECODE_SHORT);

	/* a relation with 65535 columns in a few bytes */
	m.len = 0;
	u8(&m, 'R');
	u32(&m, 1);
	str(&m, "");
	str(&m, "t");
	u8(&m, 'd');
	u16(&m, 0xffff);
	u8(&m, 0);
	assert_int_equal(decode(&m, m.len, a, &out, err, sizeof(err)), IL_ERR_DECODE_SHORT);

	/* a string without its NUL */
	m.len = 0;
	u8(&m, 'Y');
	u32(&m, 1);
	str(&m, "public");
	u8(&m, 'x');
	assert_int_equal(decode(&m, m.len, a, &out, err, sizeof(err)), IL_ERR_DECODE_SHORT);
	assert_non_null(strstr(err, "string \"type name\" at offset 12 has no terminating NUL"));

	/* four billion truncated relations */
	m.len = 0;
	u8(&m, 'T');
	u32(&m, 0xffffffffu);
	u8(&m, 0);
	u32(&m, 1);
	assert_int_equal(decode(&m, m.len, a, &out, err, sizeof(err)), IL_ERR_DECODE_SHORT);

	/* unknown column kind, unknown message type */
	m.len = 0;
	u8(&m, 'I');
	u32(&m, 1);
	u8(&m, 'N');
	u16(&m, 1);
	u8(&m, 'x');
	assert_int_equal(decode(&m, m.len, a, &out, err, sizeof(err)), IL_ERR_DECODE);
	assert_non_null(strstr(err, "column 1 at offset 8 has unknown kind 0x78"));
	m.len = 0;
	u8(&m, 'M');
	u8(&m, 0);
	assert_int_equal(decode(&m, m.len, a, &out, err, sizeof(err)), IL_ERR_DECODE);
	assert_non_null(strstr(err, "unknown message type 0x4d"));
	assert_int_equal(decode(&m, 0, a, &out, err, sizeof(err)), IL_ERR_DECODE_SHORT);

	/* binary values (option "binary") are length-prefixed like text */
	m.len = 0;
	u8(&m, 'I');
	u32(&m, 1);
	u8(&m, 'N');
	u16(&m, 1);
	u8(&m, 'b');
	u32(&m, 2);
	u16(&m, 0x0102);
	assert_int_equal(decode(&m, m.len, a, &out, err, sizeof(err)), IL_OK);
	assert_int_equal(out.u.change.new_tuple.values[0].kind, IL_PGOUTPUT_BINARY);

	/* an arena too small: refused, never overrun */
	memset(&small, 0, sizeof(small));
	small.values = vals;
	small.nvalues = 2;
	small.columns = cols;
	small.ncolumns = 1;
	m.len = 0;
	u8(&m, 'U');
	u32(&m, 1);
	u8(&m, 'O');
	u16(&m, 2);
	u8(&m, 'n');
	u8(&m, 'n');
	u8(&m, 'N');
	u16(&m, 1);
	u8(&m, 'n');
	assert_int_equal(decode(&m, m.len, &small, &out, err, sizeof(err)), IL_ERR_DECODE_TOOBIG);
	m.len = 0;
	relation_msg(&m, 5, NULL);
	assert_int_equal(decode(&m, m.len, &small, &out, err, sizeof(err)), IL_ERR_DECODE_TOOBIG);
	m.len = 0;
	u8(&m, 'T');
	u32(&m, 1);
	u8(&m, 0);
	u32(&m, 1);
	assert_int_equal(decode(&m, m.len, &small, &out, err, sizeof(err)), IL_ERR_DECODE_TOOBIG);
	/* without an error buffer the codes are the same */
	assert_int_equal(decode(&m, m.len, &small, &out, NULL, 0), IL_ERR_DECODE_TOOBIG);
	il_pgoutput_arena_destroy(a);
}

static void
test_copydata(void **state)
{
	il_pgoutput_copydata cd;
	char err[256];
	msg w = { .len = 0 }, k = { .len = 0 };
	uint8_t *copy;
	size_t n;

	(void)state;
	u8(&w, 'w');
	u64(&w, 0x1000);
	u64(&w, 0x2000);
	u64(&w, 123456789);
	u8(&w, 'B');
	u8(&w, 0);
	assert_int_equal(il_pgoutput_parse_copydata(w.b, w.len, &cd, err, sizeof(err)), IL_OK);
	assert_int_equal(cd.kind, 'w');
	assert_true(cd.wal_start == 0x1000);
	assert_true(cd.wal_end == 0x2000);
	assert_true(cd.send_time == 123456789);
	assert_int_equal(cd.len, 2);
	assert_ptr_equal(cd.data, w.b + 25);
	/* an XLogData with an empty message parses; the message decoder refuses it */
	assert_int_equal(il_pgoutput_parse_copydata(w.b, 25, &cd, err, sizeof(err)), IL_OK);
	assert_int_equal(cd.len, 0);

	u8(&k, 'k');
	u64(&k, 0xABCDEF0123ULL);
	u64(&k, 99);
	u8(&k, 1);
	assert_int_equal(il_pgoutput_parse_copydata(k.b, k.len, &cd, err, sizeof(err)), IL_OK);
	assert_int_equal(cd.kind, 'k');
	assert_true(cd.wal_end == 0xABCDEF0123ULL);
	assert_true(cd.send_time == 99);
	assert_true(cd.reply_requested);
	assert_null(cd.data);
	k.b[17] = 0;
	assert_int_equal(il_pgoutput_parse_copydata(k.b, k.len, &cd, err, sizeof(err)), IL_OK);
	assert_false(cd.reply_requested);

	for (n = 0; n < k.len; n++) {
		copy = il_xmalloc(n + 1);
		memcpy(copy, k.b, n);
		assert_int_equal(il_pgoutput_parse_copydata(copy, n, &cd, err, sizeof(err)),
		    IL_ERR_DECODE_SHORT);
		free(copy);
	}
	for (n = 0; n < 25; n++) {
		copy = il_xmalloc(n + 1);
		memcpy(copy, w.b, n);
		assert_int_equal(il_pgoutput_parse_copydata(copy, n, &cd, err, sizeof(err)),
		    IL_ERR_DECODE_SHORT);
		free(copy);
	}
	u8(&k, 0);
	assert_int_equal(il_pgoutput_parse_copydata(k.b, k.len, &cd, err, sizeof(err)),
	    IL_ERR_DECODE_TRAILING);
	k.b[0] = 'x';
	assert_int_equal(il_pgoutput_parse_copydata(k.b, k.len, &cd, err, sizeof(err)), IL_ERR_DECODE);
	assert_non_null(strstr(err, "unknown kind 0x78"));
}

static void
test_standby_status(void **state)
{
	uint8_t buf[40];
	static const uint8_t want[IL_PGOUTPUT_STANDBY_STATUS_LEN] = {
		'r',
		0, 0, 0, 0x16, 0xB3, 0x74, 0xD8, 0x48,
		0, 0, 0, 0x16, 0xB3, 0x74, 0xD8, 0x00,
		0, 0, 0, 0, 0, 0, 0, 0,
		0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xfe,
		1,
	};

	(void)state;
	memset(buf, 0xaa, sizeof(buf));
	assert_int_equal(il_pgoutput_standby_status(buf, sizeof(buf), 0x16B374D848ULL,
	    0x16B374D800ULL, 0, -2, true), IL_PGOUTPUT_STANDBY_STATUS_LEN);
	assert_memory_equal(buf, want, sizeof(want));
	assert_int_equal(buf[34], 0xaa);
	assert_int_equal(il_pgoutput_standby_status(buf, 33, 1, 1, 1, 1, false), 0);
	assert_int_equal(il_pgoutput_standby_status(buf, 34, 1, 1, 1, 1, false), 34);
	assert_int_equal(buf[33], 0);
}

static void
test_lsn(void **state)
{
	static const uint64_t lsns[] = {
		0, 1, 0x16B374D848ULL, 0xFFFFFFFFULL, 0x100000000ULL, UINT64_MAX,
	};
	static const char *bad[] = {
		"", "/", "0/", "/0", "0", "0/0/0", "g/0", "0/ 1", " 0/1", "0/1 ",
		"123456789/0", "0/123456789", "-1/0", "0x1/0", "+1/0",
	};
	char buf[IL_PGOUTPUT_LSN_LEN];
	uint64_t lsn;
	size_t i;

	(void)state;
	assert_string_equal(il_pgoutput_lsn_format(0x16B374D848ULL, buf), "16/B374D848");
	assert_string_equal(il_pgoutput_lsn_format(0, buf), "0/0");
	assert_string_equal(il_pgoutput_lsn_format(UINT64_MAX, buf), "FFFFFFFF/FFFFFFFF");
	for (i = 0; i < sizeof(lsns) / sizeof(lsns[0]); i++) {
		assert_true(il_pgoutput_lsn_parse(il_pgoutput_lsn_format(lsns[i], buf), &lsn));
		assert_true(lsn == lsns[i]);
	}
	assert_true(il_pgoutput_lsn_parse("16/b374d848", &lsn));
	assert_true(lsn == 0x16B374D848ULL);
	assert_true(il_pgoutput_lsn_parse("00000016/0000000A", &lsn));
	assert_true(lsn == 0x160000000AULL);
	for (i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		lsn = 7;
		if (il_pgoutput_lsn_parse(bad[i], &lsn))
			fail_msg("\"%s\" parsed", bad[i]);
		assert_true(lsn == 7);
	}
	assert_false(il_pgoutput_lsn_parse(NULL, &lsn));
}

static void
test_time(void **state)
{
	(void)state;
	assert_true(il_pgoutput_time_to_unix_us(0) == 946684800000000LL);
	assert_true(il_pgoutput_time_from_unix_us(946684800000000LL) == 0);
	assert_true(il_pgoutput_time_from_unix_us(il_pgoutput_time_to_unix_us(-123)) == -123);
	assert_true(il_pgoutput_time_to_unix_us(INT64_MAX) == INT64_MAX);
	assert_true(il_pgoutput_time_from_unix_us(INT64_MIN) == INT64_MIN);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_begin_commit),
		cmocka_unit_test(test_origin_type),
		cmocka_unit_test(test_relation_and_cache),
		cmocka_unit_test(test_insert),
		cmocka_unit_test(test_update_delete),
		cmocka_unit_test(test_truncate),
		cmocka_unit_test(test_hostile),
		cmocka_unit_test(test_copydata),
		cmocka_unit_test(test_standby_status),
		cmocka_unit_test(test_lsn),
		cmocka_unit_test(test_time),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
