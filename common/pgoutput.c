/*
 * pgoutput.c - decoder of the replication stream's CopyData wrappers and of
 * pgoutput protocol version 1 messages (see pgoutput.h), after PostgreSQL's
 * src/backend/replication/logical/proto.c and the chapter "Logical
 * Replication Message Formats".
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "pgoutput.h"
#include "text.h"
#include "xalloc.h"

/* A cursor over untrusted bytes; every read checks what remains. */
typedef struct rd {
	const uint8_t *p;       /* the input */
	size_t len;             /* its length */
	size_t off;             /* next byte to read */
	const char *what;       /* "Begin message", for the reasons */
	char *errbuf;           /* the caller's reason buffer */
	size_t errsz;
} rd;

static il_err
rd_short(rd *r, const char *field, size_t need)
{
	il_err_setf(r->errbuf, r->errsz,
	    "could not decode pgoutput %s: field \"%s\" at offset %zu needs %zu bytes, %zu left",
	    r->what, field, r->off, need, r->len - r->off);
	return IL_ERR_DECODE_SHORT;
}

static il_err
rd_need(rd *r, const char *field, size_t need)
{
	if (r->len - r->off < need)
		return rd_short(r, field, need);
	return IL_OK;
}

static il_err
rd_u8(rd *r, const char *field, uint8_t *v)
{
	if (rd_need(r, field, 1) != IL_OK)
		return IL_ERR_DECODE_SHORT;
	*v = r->p[r->off++];
	return IL_OK;
}

static il_err
rd_u16(rd *r, const char *field, uint16_t *v)
{
	if (rd_need(r, field, 2) != IL_OK)
		return IL_ERR_DECODE_SHORT;
	*v = (uint16_t)((unsigned)r->p[r->off] << 8 | r->p[r->off + 1]);
	r->off += 2;
	return IL_OK;
}

static il_err
rd_u32(rd *r, const char *field, uint32_t *v)
{
	const uint8_t *p;

	if (rd_need(r, field, 4) != IL_OK)
		return IL_ERR_DECODE_SHORT;
	p = r->p + r->off;
	*v = (uint32_t)p[0] << 24 | (uint32_t)p[1] << 16 | (uint32_t)p[2] << 8 | p[3];
	r->off += 4;
	return IL_OK;
}

static il_err
rd_u64(rd *r, const char *field, uint64_t *v)
{
	uint32_t hi, lo;

	if (rd_need(r, field, 8) != IL_OK)
		return IL_ERR_DECODE_SHORT;
	(void)rd_u32(r, field, &hi);
	(void)rd_u32(r, field, &lo);
	*v = (uint64_t)hi << 32 | lo;
	return IL_OK;
}

static il_err
rd_i64(rd *r, const char *field, int64_t *v)
{
	uint64_t u;

	if (rd_u64(r, field, &u) != IL_OK)
		return IL_ERR_DECODE_SHORT;
	/* two's complement on the wire; memcpy avoids implementation-defined conversion */
	memcpy(v, &u, sizeof(*v));
	return IL_OK;
}

/* A NUL-terminated string; *s points into the input. */
static il_err
rd_str(rd *r, const char *field, const char **s)
{
	const uint8_t *nul;

	nul = r->len > r->off ? memchr(r->p + r->off, '\0', r->len - r->off) : NULL;
	if (nul == NULL) {
		il_err_setf(r->errbuf, r->errsz,
		    "could not decode pgoutput %s: string \"%s\" at offset %zu has no terminating NUL in the %zu bytes left",
		    r->what, field, r->off, r->len - r->off);
		return IL_ERR_DECODE_SHORT;
	}
	*s = (const char *)(r->p + r->off);
	r->off = (size_t)(nul - r->p) + 1;
	return IL_OK;
}

static il_err
rd_end(rd *r)
{
	if (r->off != r->len) {
		il_err_setf(r->errbuf, r->errsz,
		    "could not decode pgoutput %s: %zu bytes left over at offset %zu",
		    r->what, r->len - r->off, r->off);
		return IL_ERR_DECODE_TRAILING;
	}
	return IL_OK;
}

/* Shorthand: return the error of a read at once. */
#define TRY(expr) do { il_err e_ = (expr); if (e_ != IL_OK) return e_; } while (0)

il_err
il_pgoutput_parse_copydata(const void *buf, size_t len, il_pgoutput_copydata *out,
    char *errbuf, size_t errsz)
{
	rd r = { buf, len, 0, "CopyData", errbuf, errsz };
	uint8_t kind, reply;

	memset(out, 0, sizeof(*out));
	TRY(rd_u8(&r, "kind", &kind));
	if (kind == 'w') {
		r.what = "XLogData";
		TRY(rd_u64(&r, "dataStart", &out->wal_start));
		TRY(rd_u64(&r, "walEnd", &out->wal_end));
		TRY(rd_i64(&r, "sendTime", &out->send_time));
		out->kind = 'w';
		out->data = r.p + r.off;
		out->len = r.len - r.off;
		return IL_OK;
	}
	if (kind == 'k') {
		r.what = "primary keepalive";
		TRY(rd_u64(&r, "walEnd", &out->wal_end));
		TRY(rd_i64(&r, "sendTime", &out->send_time));
		TRY(rd_u8(&r, "replyRequested", &reply));
		TRY(rd_end(&r));
		out->kind = 'k';
		out->reply_requested = reply != 0;
		return IL_OK;
	}
	il_err_setf(errbuf, errsz,
	    "could not decode replication CopyData: unknown kind 0x%02x at offset 0 (expected 'w' or 'k')",
	    kind);
	return IL_ERR_DECODE;
}

static void
put_u64(uint8_t *p, uint64_t v)
{
	int i;

	for (i = 7; i >= 0; i--) {
		p[i] = (uint8_t)(v & 0xff);
		v >>= 8;
	}
}

size_t
il_pgoutput_standby_status(uint8_t *buf, size_t bufsz, uint64_t written,
    uint64_t flushed, uint64_t applied, int64_t now, bool reply_requested)
{
	uint64_t unow;

	if (buf == NULL || bufsz < IL_PGOUTPUT_STANDBY_STATUS_LEN)
		return 0;
	memcpy(&unow, &now, sizeof(unow));
	buf[0] = 'r';
	put_u64(buf + 1, written);      /* last WAL byte + 1 received and written */
	put_u64(buf + 9, flushed);      /* ... flushed: what the server may free */
	put_u64(buf + 17, applied);     /* ... applied */
	put_u64(buf + 25, unow);        /* client's clock */
	buf[33] = reply_requested ? 1 : 0;
	return IL_PGOUTPUT_STANDBY_STATUS_LEN;
}

/* ---- pgoutput messages ---- */

const char *
il_pgoutput_type_name(il_pgoutput_type type)
{
	switch (type) {
	case IL_PGOUTPUT_BEGIN: return "Begin";
	case IL_PGOUTPUT_COMMIT: return "Commit";
	case IL_PGOUTPUT_ORIGIN: return "Origin";
	case IL_PGOUTPUT_RELATION: return "Relation";
	case IL_PGOUTPUT_TYPE: return "Type";
	case IL_PGOUTPUT_INSERT: return "Insert";
	case IL_PGOUTPUT_UPDATE: return "Update";
	case IL_PGOUTPUT_DELETE: return "Delete";
	case IL_PGOUTPUT_TRUNCATE: return "Truncate";
	}
	return "unknown";
}

il_pgoutput_arena *
il_pgoutput_arena_new(void)
{
	il_pgoutput_arena *a = il_xcalloc(1, sizeof(*a));

	/* an Update carries an old and a new tuple */
	a->nvalues = 2 * IL_PGOUTPUT_MAX_COLS;
	a->values = il_xcalloc(a->nvalues, sizeof(*a->values));
	a->ncolumns = IL_PGOUTPUT_MAX_COLS;
	a->columns = il_xcalloc(a->ncolumns, sizeof(*a->columns));
	/* a Truncate names as many relations as its transaction truncated:
	 * PostgreSQL has no small bound, so large ones are refused as too big */
	a->nrelids = 4096;
	a->relids = il_xcalloc(a->nrelids, sizeof(*a->relids));
	return a;
}

void
il_pgoutput_arena_destroy(il_pgoutput_arena *arena)
{
	if (arena == NULL)
		return;
	free(arena->values);
	free(arena->columns);
	free(arena->relids);
	free(arena);
}

static il_err
arena_full(rd *r, const char *field, size_t n, size_t room)
{
	il_err_setf(r->errbuf, r->errsz,
	    "could not decode pgoutput %s: field \"%s\" at offset %zu: %zu entries, the arena holds %zu",
	    r->what, field, r->off, n, room);
	return IL_ERR_DECODE_TOOBIG;
}

/* TupleData: Int16 ncols, then per column a kind byte and for 't'/'b' an
 * Int32 length and the bytes.  Values go to arena->values from *used on. */
static il_err
rd_tuple(rd *r, il_pgoutput_arena *arena, size_t *used, il_pgoutput_tuple *t)
{
	uint16_t ncols, i;
	uint8_t kind;
	uint32_t vlen;
	il_pgoutput_value *v;
	size_t at;

	TRY(rd_u16(r, "TupleData ncols", &ncols));
	/* each column takes at least its kind byte: a count the bytes cannot
	 * hold is refused before it sizes anything */
	if (ncols > r->len - r->off)
		return rd_short(r, "TupleData columns", ncols);
	if (ncols > arena->nvalues - *used)
		return arena_full(r, "TupleData ncols", ncols, arena->nvalues - *used);
	v = arena->values + *used;
	for (i = 0; i < ncols; i++) {
		at = r->off;
		TRY(rd_u8(r, "TupleData column kind", &kind));
		v[i].data = NULL;
		v[i].len = 0;
		switch (kind) {
		case 'n':
		case 'u':
			v[i].kind = (il_pgoutput_colkind)kind;
			break;
		case 't':
		case 'b':
			v[i].kind = (il_pgoutput_colkind)kind;
			TRY(rd_u32(r, "TupleData column length", &vlen));
			if (vlen > r->len - r->off) {
				il_err_setf(r->errbuf, r->errsz,
				    "could not decode pgoutput %s: column %u value at offset %zu has length %u, %zu bytes left",
				    r->what, (unsigned)i + 1, r->off, vlen, r->len - r->off);
				return IL_ERR_DECODE_SHORT;
			}
			v[i].data = (const char *)(r->p + r->off);
			v[i].len = vlen;
			r->off += vlen;
			break;
		default:
			il_err_setf(r->errbuf, r->errsz,
			    "could not decode pgoutput %s: column %u at offset %zu has unknown kind 0x%02x (expected 'n', 'u', 't' or 'b')",
			    r->what, (unsigned)i + 1, at, kind);
			return IL_ERR_DECODE;
		}
	}
	t->ncols = ncols;
	t->values = v;
	*used += ncols;
	return IL_OK;
}

/* The marker byte before a tuple: one of @p allowed. */
static il_err
rd_marker(rd *r, const char *allowed, uint8_t *m)
{
	size_t at = r->off;

	TRY(rd_u8(r, "tuple marker", m));
	if (*m == '\0' || strchr(allowed, *m) == NULL) {
		il_err_setf(r->errbuf, r->errsz,
		    "could not decode pgoutput %s: tuple marker at offset %zu is 0x%02x, expected one of \"%s\"",
		    r->what, at, *m, allowed);
		return IL_ERR_DECODE;
	}
	return IL_OK;
}

static il_err
decode_relation(rd *r, il_pgoutput_arena *arena, il_pgoutput_relation *rel)
{
	uint8_t ident;
	uint16_t ncols, i;
	il_pgoutput_column *c;

	TRY(rd_u32(r, "relation id", &rel->relid));
	TRY(rd_str(r, "namespace", &rel->nspname));
	TRY(rd_str(r, "relation name", &rel->relname));
	TRY(rd_u8(r, "replica identity", &ident));
	TRY(rd_u16(r, "ncols", &ncols));
	/* a column takes at least 10 bytes: flags, NUL, oid, typmod */
	if ((size_t)ncols * 10 > r->len - r->off)
		return rd_short(r, "columns", (size_t)ncols * 10);
	if (ncols > arena->ncolumns)
		return arena_full(r, "ncols", ncols, arena->ncolumns);
	c = arena->columns;
	for (i = 0; i < ncols; i++) {
		uint32_t typmod;

		TRY(rd_u8(r, "column flags", &c[i].flags));
		TRY(rd_str(r, "column name", &c[i].name));
		TRY(rd_u32(r, "column type oid", &c[i].type_oid));
		TRY(rd_u32(r, "column typmod", &typmod));
		memcpy(&c[i].typmod, &typmod, sizeof(typmod));
	}
	rel->replident = (char)ident;
	rel->ncols = ncols;
	rel->cols = c;
	return IL_OK;
}

static il_err
decode_change(rd *r, il_pgoutput_type type, il_pgoutput_arena *arena, il_pgoutput_msg *out)
{
	size_t used = 0;
	uint8_t m;

	TRY(rd_u32(r, "relation id", &out->u.change.relid));
	out->u.change.old_kind = IL_PGOUTPUT_OLD_NONE;
	out->u.change.old_tuple.ncols = 0;
	out->u.change.old_tuple.values = NULL;
	out->u.change.new_tuple.ncols = 0;
	out->u.change.new_tuple.values = NULL;
	switch (type) {
	case IL_PGOUTPUT_INSERT:
		TRY(rd_marker(r, "N", &m));
		return rd_tuple(r, arena, &used, &out->u.change.new_tuple);
	case IL_PGOUTPUT_UPDATE:
		TRY(rd_marker(r, "KON", &m));
		if (m != 'N') {
			out->u.change.old_kind = (char)m;
			TRY(rd_tuple(r, arena, &used, &out->u.change.old_tuple));
			TRY(rd_marker(r, "N", &m));
		}
		return rd_tuple(r, arena, &used, &out->u.change.new_tuple);
	default:
		TRY(rd_marker(r, "KO", &m));
		out->u.change.old_kind = (char)m;
		return rd_tuple(r, arena, &used, &out->u.change.old_tuple);
	}
}

static il_err
decode_truncate(rd *r, il_pgoutput_arena *arena, il_pgoutput_msg *out)
{
	uint32_t n, i;

	TRY(rd_u32(r, "nrelids", &n));
	TRY(rd_u8(r, "options", &out->u.truncate.options));
	if (n > (r->len - r->off) / 4)
		return rd_short(r, "relation ids", (size_t)n * 4);
	if (n > arena->nrelids)
		return arena_full(r, "nrelids", n, arena->nrelids);
	for (i = 0; i < n; i++)
		TRY(rd_u32(r, "relation id", &arena->relids[i]));
	out->u.truncate.nrelids = n;
	out->u.truncate.relids = arena->relids;
	return IL_OK;
}

static il_err
decode_body(rd *r, uint8_t type, il_pgoutput_arena *arena, il_pgoutput_msg *out)
{
	switch (type) {
	case IL_PGOUTPUT_BEGIN:
		TRY(rd_u64(r, "final LSN", &out->u.begin.final_lsn));
		TRY(rd_i64(r, "commit time", &out->u.begin.commit_time));
		return rd_u32(r, "xid", &out->u.begin.xid);
	case IL_PGOUTPUT_COMMIT:
		TRY(rd_u8(r, "flags", &out->u.commit.flags));
		TRY(rd_u64(r, "commit LSN", &out->u.commit.commit_lsn));
		TRY(rd_u64(r, "end LSN", &out->u.commit.end_lsn));
		return rd_i64(r, "commit time", &out->u.commit.commit_time);
	case IL_PGOUTPUT_ORIGIN:
		TRY(rd_u64(r, "commit LSN", &out->u.origin.commit_lsn));
		return rd_str(r, "origin name", &out->u.origin.name);
	case IL_PGOUTPUT_RELATION:
		return decode_relation(r, arena, &out->u.relation);
	case IL_PGOUTPUT_TYPE:
		TRY(rd_u32(r, "type oid", &out->u.type.oid));
		TRY(rd_str(r, "namespace", &out->u.type.nspname));
		return rd_str(r, "type name", &out->u.type.name);
	case IL_PGOUTPUT_INSERT:
	case IL_PGOUTPUT_UPDATE:
	case IL_PGOUTPUT_DELETE:
		return decode_change(r, (il_pgoutput_type)type, arena, out);
	case IL_PGOUTPUT_TRUNCATE:
		return decode_truncate(r, arena, out);
	}
	il_err_setf(r->errbuf, r->errsz,
	    "could not decode pgoutput message: unknown message type 0x%02x at offset 0", type);
	return IL_ERR_DECODE;
}

il_err
il_pgoutput_decode(const void *buf, size_t len, il_pgoutput_arena *arena,
    il_pgoutput_msg *out, char *errbuf, size_t errsz)
{
	char what[32];
	rd r = { buf, len, 0, "message", errbuf, errsz };
	uint8_t type;

	if (buf == NULL && len > 0) {
		il_err_setf(errbuf, errsz, "could not decode pgoutput message: no input");
		return IL_ERR_INVALID;
	}
	TRY(rd_u8(&r, "message type", &type));
	out->type = (il_pgoutput_type)type;
	snprintf(what, sizeof(what), "%s message",
	    il_pgoutput_type_name((il_pgoutput_type)type));
	r.what = what;
	TRY(decode_body(&r, type, arena, out));
	return rd_end(&r);
}

/* ---- relation cache ---- */

/* Open addressing over relation ids; no removal (Relation messages only
 * replace), so no tombstones. */
struct il_pgoutput_relcache {
	il_pgoutput_relation **slots;   /* cap slots, NULL when free; each one allocation */
	size_t cap;                     /* a power of two */
	size_t count;                   /* slots in use */
};

static size_t
slot_of(uint32_t relid, size_t cap)
{
	/* Fibonacci hashing: oids come in runs */
	return (size_t)((relid * 2654435769u) & (cap - 1));
}

il_pgoutput_relcache *
il_pgoutput_relcache_new(void)
{
	il_pgoutput_relcache *c = il_xcalloc(1, sizeof(*c));

	c->cap = 16;
	c->slots = il_xcalloc(c->cap, sizeof(*c->slots));
	return c;
}

void
il_pgoutput_relcache_destroy(il_pgoutput_relcache *cache)
{
	size_t i;

	if (cache == NULL)
		return;
	for (i = 0; i < cache->cap; i++)
		free(cache->slots[i]);
	free(cache->slots);
	free(cache);
}

static size_t
find_slot(il_pgoutput_relation **slots, size_t cap, uint32_t relid)
{
	size_t i = slot_of(relid, cap);

	while (slots[i] != NULL && slots[i]->relid != relid)
		i = (i + 1) & (cap - 1);
	return i;
}

static void
grow(il_pgoutput_relcache *c)
{
	il_pgoutput_relation **slots;
	size_t cap = c->cap * 2, i;

	slots = il_xcalloc(cap, sizeof(*slots));
	for (i = 0; i < c->cap; i++)
		if (c->slots[i] != NULL)
			slots[find_slot(slots, cap, c->slots[i]->relid)] = c->slots[i];
	free(c->slots);
	c->slots = slots;
	c->cap = cap;
}

/* One allocation: the relation, its columns, then every string. */
static il_pgoutput_relation *
relation_copy(const il_pgoutput_relation *rel)
{
	il_pgoutput_relation *copy;
	il_pgoutput_column *cols;
	size_t size, n, i;
	char *s;

	size = sizeof(*copy) + (size_t)rel->ncols * sizeof(*cols);
	size += strlen(rel->nspname) + 1 + strlen(rel->relname) + 1;
	for (i = 0; i < rel->ncols; i++)
		size += strlen(rel->cols[i].name) + 1;
	copy = il_xmalloc(size);
	*copy = *rel;
	cols = (il_pgoutput_column *)(copy + 1);
	s = (char *)(cols + rel->ncols);
	n = strlen(rel->nspname) + 1;
	memcpy(s, rel->nspname, n);
	copy->nspname = s;
	s += n;
	n = strlen(rel->relname) + 1;
	memcpy(s, rel->relname, n);
	copy->relname = s;
	s += n;
	for (i = 0; i < rel->ncols; i++) {
		cols[i] = rel->cols[i];
		n = strlen(rel->cols[i].name) + 1;
		memcpy(s, rel->cols[i].name, n);
		cols[i].name = s;
		s += n;
	}
	copy->cols = rel->ncols > 0 ? cols : NULL;
	return copy;
}

const il_pgoutput_relation *
il_pgoutput_relcache_put(il_pgoutput_relcache *cache, const il_pgoutput_relation *rel)
{
	il_pgoutput_relation *copy = relation_copy(rel);
	size_t i;

	i = find_slot(cache->slots, cache->cap, rel->relid);
	if (cache->slots[i] != NULL) {
		free(cache->slots[i]);
		cache->slots[i] = copy;
		return copy;
	}
	/* keep the load under three quarters so probes stay short */
	if ((cache->count + 1) * 4 > cache->cap * 3) {
		grow(cache);
		i = find_slot(cache->slots, cache->cap, rel->relid);
	}
	cache->slots[i] = copy;
	cache->count++;
	return copy;
}

const il_pgoutput_relation *
il_pgoutput_relcache_get(const il_pgoutput_relcache *cache, uint32_t relid)
{
	return cache->slots[find_slot(cache->slots, cache->cap, relid)];
}

size_t
il_pgoutput_relcache_count(const il_pgoutput_relcache *cache)
{
	return cache->count;
}

int
il_pgoutput_relation_column(const il_pgoutput_relation *rel, const char *name)
{
	uint16_t i;

	for (i = 0; i < rel->ncols; i++)
		if (strcmp(rel->cols[i].name, name) == 0)
			return i;
	return -1;
}

/* ---- LSNs and times ---- */

char *
il_pgoutput_lsn_format(uint64_t lsn, char buf[IL_PGOUTPUT_LSN_LEN])
{
	snprintf(buf, IL_PGOUTPUT_LSN_LEN, "%X/%X",
	    (unsigned)(lsn >> 32), (unsigned)(lsn & 0xffffffffu));
	return buf;
}

/* 1 to 8 hex digits from *p; advances *p. */
static bool
hex32(const char **p, uint32_t *v)
{
	int n = 0, d;

	*v = 0;
	for (;;) {
		d = il_text_hex_digit(**p);
		if (d < 0)
			break;
		if (++n > 8)
			return false;
		*v = *v << 4 | (uint32_t)d;
		(*p)++;
	}
	return n > 0;
}

bool
il_pgoutput_lsn_parse(const char *text, uint64_t *lsn)
{
	const char *p = text;
	uint32_t hi, lo;

	if (text == NULL || !hex32(&p, &hi) || *p++ != '/' || !hex32(&p, &lo) || *p != '\0')
		return false;
	*lsn = (uint64_t)hi << 32 | lo;
	return true;
}

int64_t
il_pgoutput_time_to_unix_us(int64_t pgtime)
{
	int64_t r;

	/* saturate: a hostile time must not overflow */
	if (__builtin_add_overflow(pgtime, IL_PGOUTPUT_EPOCH_OFFSET_S * 1000000, &r))
		return INT64_MAX;
	return r;
}

int64_t
il_pgoutput_time_from_unix_us(int64_t unix_us)
{
	int64_t r;

	if (__builtin_sub_overflow(unix_us, IL_PGOUTPUT_EPOCH_OFFSET_S * 1000000, &r))
		return INT64_MIN;
	return r;
}
