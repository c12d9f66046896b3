/*
 * catalog.c - openIMIS reference data by code: three small chained hash
 * tables (villages, enrolment officers, products) that copy what they are
 * given.  Filled once at start, read-only afterwards, so no locking.
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "catalog.h"
#include "xalloc.h"

/* A power of two; a deployment maps a few thousand villages at most, and a
 * chain of a few entries costs nothing next to an HTTP call. */
#define CATALOG_BUCKETS 256

typedef struct entry {
	struct entry *next;
	char *code;              /* owned */
	il_imis_village village; /* villages only */
	char uuid[IL_IMIS_UUID_LEN]; /* officers and products */
} entry;

typedef struct table {
	entry *buckets[CATALOG_BUCKETS];
} table;

struct il_catalog {
	table villages;
	table officers;
	table products;
};

static uint32_t
hash(const char *s)
{
	uint32_t h = 2166136261u;	/* FNV-1a */

	for (; *s != '\0'; s++) {
		h ^= (unsigned char)*s;
		h *= 16777619u;
	}
	return h;
}

static entry *
table_find(const table *t, const char *code)
{
	entry *en;

	if (code == NULL)
		return NULL;
	for (en = t->buckets[hash(code) & (CATALOG_BUCKETS - 1)]; en != NULL; en = en->next)
		if (strcmp(en->code, code) == 0)
			return en;
	return NULL;
}

/* Returns the entry of @p code, a new zeroed one when there was none. */
static entry *
table_put(table *t, const char *code)
{
	entry *en = table_find(t, code);
	uint32_t b;

	if (en != NULL)
		return en;
	b = hash(code) & (CATALOG_BUCKETS - 1);
	en = il_xcalloc(1, sizeof(*en));
	en->code = il_xstrdup(code);
	en->next = t->buckets[b];
	t->buckets[b] = en;
	return en;
}

static void
table_free(table *t)
{
	entry *en, *next;
	size_t i;

	for (i = 0; i < CATALOG_BUCKETS; i++) {
		for (en = t->buckets[i]; en != NULL; en = next) {
			next = en->next;
			free(en->code);
			free(en);
		}
		t->buckets[i] = NULL;
	}
}

/* Copies @p src into the fixed buffer @p dst, cut to fit. */
static void
copy_text(char *dst, size_t dstsz, const char *src)
{
	size_t n = src != NULL ? strlen(src) : 0;

	if (n >= dstsz)
		n = dstsz - 1;
	if (n > 0)
		memcpy(dst, src, n);
	dst[n] = '\0';
}

il_catalog *
il_catalog_new(void)
{
	return il_xcalloc(1, sizeof(il_catalog));
}

void
il_catalog_destroy(il_catalog *c)
{
	if (c == NULL)
		return;
	table_free(&c->villages);
	table_free(&c->officers);
	table_free(&c->products);
	free(c);
}

void
il_catalog_add_village(il_catalog *c, const il_imis_village *v)
{
	char code[sizeof(v->code)];
	entry *en;

	if (c == NULL || v == NULL)
		return;
	/* the caller's fixed buffer may be full to its last byte */
	memcpy(code, v->code, sizeof(code));
	code[sizeof(code) - 1] = '\0';
	en = table_put(&c->villages, code);
	en->village = *v;
	memcpy(en->village.code, code, sizeof(code));
}

static void
add_uuid(table *t, const char *code, const char *uuid)
{
	entry *en;

	if (code == NULL || uuid == NULL)
		return;
	en = table_put(t, code);
	copy_text(en->uuid, sizeof(en->uuid), uuid);
}

void
il_catalog_add_officer(il_catalog *c, const char *code, const char *uuid)
{
	if (c != NULL)
		add_uuid(&c->officers, code, uuid);
}

void
il_catalog_add_product(il_catalog *c, const char *code, const char *uuid)
{
	if (c != NULL)
		add_uuid(&c->products, code, uuid);
}

const il_imis_village *
il_catalog_village(const il_catalog *c, const char *code)
{
	const entry *en = c != NULL ? table_find(&c->villages, code) : NULL;

	return en != NULL ? &en->village : NULL;
}

const char *
il_catalog_officer(const il_catalog *c, const char *code)
{
	const entry *en = c != NULL ? table_find(&c->officers, code) : NULL;

	return en != NULL ? en->uuid : NULL;
}

const char *
il_catalog_product(const il_catalog *c, const char *code)
{
	const entry *en = c != NULL ? table_find(&c->products, code) : NULL;

	return en != NULL ? en->uuid : NULL;
}
