/*
 * commitlog.c - records of __consumer_offsets (commitlog.h).
 *
 * A cursor over the bytes reads each field after checking that it fits, so
 * a truncated or hostile record ends in IL_ERR_DECODE, never in a read past
 * its end.
 */
#include "commitlog.h"

#include <stdbool.h>
#include <string.h>

/* A read position in untrusted bytes. */
typedef struct il_commitlog_cur {
	const unsigned char *p;         /* next byte */
	size_t left;                    /* bytes after p */
	const char *what;               /* the field being read, for the error */
} il_commitlog_cur;

static bool
il_commitlog_need(il_commitlog_cur *c, size_t n)
{
	return c->left >= n;
}

/* Reads an @p n byte big-endian integer (Kafka's byte order) into @p u. */
static bool
il_commitlog_be(il_commitlog_cur *c, size_t n, uint64_t *u)
{
	size_t i;

	if (!il_commitlog_need(c, n))
		return false;
	*u = 0;
	for (i = 0; i < n; i++)
		*u = (*u << 8) | c->p[i];
	c->p += n;
	c->left -= n;
	return true;
}

static bool
il_commitlog_i16(il_commitlog_cur *c, int16_t *v)
{
	uint64_t u;

	if (!il_commitlog_be(c, 2, &u))
		return false;
	*v = (int16_t)(uint16_t)u;
	return true;
}

static bool
il_commitlog_i32(il_commitlog_cur *c, int32_t *v)
{
	uint64_t u;

	if (!il_commitlog_be(c, 4, &u))
		return false;
	*v = (int32_t)(uint32_t)u;
	return true;
}

static bool
il_commitlog_i64(il_commitlog_cur *c, int64_t *v)
{
	uint64_t u;

	if (!il_commitlog_be(c, 8, &u))
		return false;
	*v = (int64_t)u;
	return true;
}

/* Kafka's unsigned varint (flexible versions), at most 32 bits. */
static bool
il_commitlog_uvarint(il_commitlog_cur *c, uint32_t *v)
{
	uint32_t u = 0;
	unsigned shift;
	unsigned char b;

	for (shift = 0; shift < 35; shift += 7) {
		if (!il_commitlog_need(c, 1))
			return false;
		b = c->p[0];
		c->p++;
		c->left--;
		/* The fifth byte may carry only the top four bits. */
		if (shift == 28 && (b & 0xf0) != 0)
			return false;
		u |= (uint32_t)(b & 0x7f) << shift;
		if ((b & 0x80) == 0) {
			*v = u;
			return true;
		}
	}
	return false;
}

/* A string of @p len bytes at the cursor. */
static bool
il_commitlog_bytes(il_commitlog_cur *c, size_t len, const char **s, size_t *slen)
{
	if (!il_commitlog_need(c, len))
		return false;
	*s = (const char *)c->p;
	*slen = len;
	c->p += len;
	c->left -= len;
	return true;
}

/* int16 length then bytes; a null string (-1) reads as "". */
static bool
il_commitlog_string(il_commitlog_cur *c, const char **s, size_t *slen)
{
	int16_t len;

	if (!il_commitlog_i16(c, &len) || len < -1)
		return false;
	if (len == -1) {
		*s = "";
		*slen = 0;
		return true;
	}
	return il_commitlog_bytes(c, (size_t)len, s, slen);
}

/* uvarint length + 1, then bytes; 0 is a null string, read as "". */
static bool
il_commitlog_compact_string(il_commitlog_cur *c, const char **s, size_t *slen)
{
	uint32_t n;

	if (!il_commitlog_uvarint(c, &n))
		return false;
	if (n == 0) {
		*s = "";
		*slen = 0;
		return true;
	}
	return il_commitlog_bytes(c, (size_t)n - 1, s, slen);
}

/* Skips the tagged fields of a flexible version: none is one we use. */
static bool
il_commitlog_tags(il_commitlog_cur *c)
{
	uint32_t ntags, tag, size, i;

	if (!il_commitlog_uvarint(c, &ntags))
		return false;
	for (i = 0; i < ntags; i++) {
		if (!il_commitlog_uvarint(c, &tag) || !il_commitlog_uvarint(c, &size) ||
		    !il_commitlog_need(c, size))
			return false;
		c->p += size;
		c->left -= size;
	}
	return true;
}

static bool
il_commitlog_key(il_commitlog_cur *c, il_commitlog_commit *out)
{
	c->what = "key";
	if (!il_commitlog_string(c, &out->group, &out->group_len) ||
	    !il_commitlog_string(c, &out->topic, &out->topic_len) ||
	    !il_commitlog_i32(c, &out->partition))
		return false;
	return true;
}

static bool
il_commitlog_value(il_commitlog_cur *c, int version, il_commitlog_commit *out)
{
	c->what = "value";
	if (!il_commitlog_i64(c, &out->offset))
		return false;
	if (version >= 3 && !il_commitlog_i32(c, &out->leader_epoch))
		return false;
	if (version >= 4) {
		if (!il_commitlog_compact_string(c, &out->metadata, &out->metadata_len))
			return false;
	} else if (!il_commitlog_string(c, &out->metadata, &out->metadata_len)) {
		return false;
	}
	if (!il_commitlog_i64(c, &out->commit_ts_ms))
		return false;
	if (version == 1 && !il_commitlog_i64(c, &out->expire_ts_ms))
		return false;
	if (version >= 4 && !il_commitlog_tags(c))
		return false;
	/* Bytes left over are tolerated: a broker may append fields that older
	 * readers skip, as Kafka's own readers do for non-flexible versions. */
	return true;
}

il_err
il_commitlog_decode(const void *key, size_t keylen, const void *value, size_t vallen,
    il_commitlog_commit *out, char *errbuf, size_t errsz)
{
	il_commitlog_cur c = { key, keylen, "key" };
	int16_t kv, vv;

	memset(out, 0, sizeof(*out));
	out->kind = IL_COMMITLOG_OTHER;
	out->value_version = -1;
	out->leader_epoch = -1;
	out->expire_ts_ms = -1;
	out->metadata = "";
	if (key == NULL || !il_commitlog_i16(&c, &kv)) {
		il_err_setf(errbuf, errsz, "could not decode record of \"%s\": key shorter than its version",
		    IL_COMMITLOG_TOPIC);
		return IL_ERR_DECODE;
	}
	out->key_version = kv;
	/* Group metadata (2) and the record types of newer coordinators are not commits. */
	if (kv != 0 && kv != 1)
		return IL_OK;
	if (!il_commitlog_key(&c, out))
		goto short_read;
	if (value == NULL) {
		out->kind = IL_COMMITLOG_TOMBSTONE;
		return IL_OK;
	}
	c.p = value;
	c.left = vallen;
	c.what = "value";
	if (!il_commitlog_i16(&c, &vv))
		goto short_read;
	if (vv < 0 || vv > 4) {
		il_err_setf(errbuf, errsz, "could not decode record of \"%s\": "
		    "offset commit value version %d unknown", IL_COMMITLOG_TOPIC, vv);
		return IL_ERR_DECODE;
	}
	out->value_version = vv;
	if (!il_commitlog_value(&c, vv, out))
		goto short_read;
	out->kind = IL_COMMITLOG_COMMIT;
	return IL_OK;
short_read:
	il_err_setf(errbuf, errsz, "could not decode record of \"%s\": %s truncated or malformed",
	    IL_COMMITLOG_TOPIC, c.what);
	return IL_ERR_DECODE;
}
