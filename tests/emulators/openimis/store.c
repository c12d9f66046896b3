/*
 * store.c - the emulator's data: reference data and what clients wrote.
 *
 * Hash maps keep lookups by CHF ID and UUID constant-time up to the million
 * insurees the benches write; everything sits under the store's one mutex,
 * taken by the handlers.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <openssl/sha.h>

#include "emu.h"
#include "xalloc.h"

/* Reference files are small; refuse anything absurd. */
#define IL_EMU_MAX_REFERENCE (16u << 20)

typedef struct il_emu_map_entry il_emu_map_entry;

struct il_emu_map_entry {
	char *key;                      /* owned copy */
	void *value;                    /* borrowed */
	uint64_t hash;                  /* of key */
	il_emu_map_entry *next;         /* same bucket */
};

struct il_emu_map {
	il_emu_map_entry **buckets;     /* nbuckets chains */
	size_t nbuckets;                /* a power of two */
	size_t n;                       /* entries */
};

static uint64_t
il_emu_hash(const char *s)
{
	uint64_t h = 1469598103934665603ULL;

	for (; *s != '\0'; s++) {
		h ^= (unsigned char)*s;
		h *= 1099511628211ULL;
	}
	return h;
}

il_emu_map *
il_emu_map_new(void)
{
	il_emu_map *m = il_xcalloc(1, sizeof(*m));

	m->nbuckets = 64;
	m->buckets = il_xcalloc(m->nbuckets, sizeof(*m->buckets));
	return m;
}

void
il_emu_map_clear(il_emu_map *m)
{
	size_t i;

	for (i = 0; i < m->nbuckets; i++) {
		il_emu_map_entry *e, *next;

		for (e = m->buckets[i]; e != NULL; e = next) {
			next = e->next;
			free(e->key);
			free(e);
		}
		m->buckets[i] = NULL;
	}
	m->n = 0;
}

void
il_emu_map_destroy(il_emu_map *m)
{
	if (m == NULL)
		return;
	il_emu_map_clear(m);
	free(m->buckets);
	free(m);
}

void *
il_emu_map_get(const il_emu_map *m, const char *key)
{
	uint64_t h = il_emu_hash(key);
	il_emu_map_entry *e;

	for (e = m->buckets[h & (m->nbuckets - 1)]; e != NULL; e = e->next)
		if (e->hash == h && strcmp(e->key, key) == 0)
			return e->value;
	return NULL;
}

static void
il_emu_map_grow(il_emu_map *m)
{
	size_t nb = m->nbuckets * 2, i;
	il_emu_map_entry **b = il_xcalloc(nb, sizeof(*b));

	for (i = 0; i < m->nbuckets; i++) {
		il_emu_map_entry *e, *next;

		for (e = m->buckets[i]; e != NULL; e = next) {
			next = e->next;
			e->next = b[e->hash & (nb - 1)];
			b[e->hash & (nb - 1)] = e;
		}
	}
	free(m->buckets);
	m->buckets = b;
	m->nbuckets = nb;
}

void
il_emu_map_put(il_emu_map *m, const char *key, void *value)
{
	uint64_t h = il_emu_hash(key);
	il_emu_map_entry *e;

	for (e = m->buckets[h & (m->nbuckets - 1)]; e != NULL; e = e->next) {
		if (e->hash == h && strcmp(e->key, key) == 0) {
			e->value = value;
			return;
		}
	}
	if (m->n >= m->nbuckets)
		il_emu_map_grow(m);
	e = il_xcalloc(1, sizeof(*e));
	e->key = il_xstrdup(key);
	e->value = value;
	e->hash = h;
	e->next = m->buckets[h & (m->nbuckets - 1)];
	m->buckets[h & (m->nbuckets - 1)] = e;
	m->n++;
}

void
il_emu_vec_push(il_emu_vec *vec, void *p)
{
	if (vec->n == vec->cap) {
		vec->cap = vec->cap > 0 ? vec->cap * 2 : 16;
		vec->v = il_xrealloc(vec->v, vec->cap * sizeof(*vec->v));
	}
	vec->v[vec->n++] = p;
}

void
il_emu_vec_free(il_emu_vec *vec)
{
	free(vec->v);
	vec->v = NULL;
	vec->n = vec->cap = 0;
}

/* Formats 16 bytes as a version-@p version UUID. */
static void
il_emu_uuid_format(unsigned char b[16], int version, char out[IL_EMU_UUID_LEN])
{
	b[6] = (unsigned char)((b[6] & 0x0f) | (version << 4));
	b[8] = (unsigned char)((b[8] & 0x3f) | 0x80);
	snprintf(out, IL_EMU_UUID_LEN,
	    "%02x%02x%02x%02x-%02x%02x-%02x%02x-%02x%02x-%02x%02x%02x%02x%02x%02x",
	    b[0], b[1], b[2], b[3], b[4], b[5], b[6], b[7], b[8], b[9], b[10], b[11],
	    b[12], b[13], b[14], b[15]);
}

void
il_emu_uuid_from(const char *kind, const char *code, char out[IL_EMU_UUID_LEN])
{
	unsigned char md[SHA256_DIGEST_LENGTH];
	char *text = il_xasprintf("%s:%s", kind, code);

	/* SHA-256 of "location:R1D1M1V1" (kind:code): tests can compute it. */
	SHA256((const unsigned char *)text, strlen(text), md);
	free(text);
	il_emu_uuid_format(md, 5, out);
}

static uint64_t
il_emu_rand(uint64_t *s)
{
	uint64_t x = *s;

	x ^= x << 13;
	x ^= x >> 7;
	x ^= x << 17;
	*s = x;
	return x * 0x2545F4914F6CDD1DULL;
}

void
il_emu_store_uuid(il_emu_store *st, char out[IL_EMU_UUID_LEN])
{
	unsigned char b[16];
	uint64_t r1 = il_emu_rand(&st->rng), r2 = il_emu_rand(&st->rng);

	memcpy(b, &r1, 8);
	memcpy(b + 8, &r2, 8);
	il_emu_uuid_format(b, 4, out);
}

long
il_emu_store_next_id(il_emu_store *st)
{
	return st->next_id++;
}

static il_emu_ref *
il_emu_ref_add(il_emu_store *st, il_emu_vec *vec, il_emu_map *map, const char *kind,
    const char *code, const char *name, const char *uuid)
{
	il_emu_ref *r = il_xcalloc(1, sizeof(*r));

	r->code = il_xstrdup(code);
	r->name = il_xstrdup(name != NULL ? name : code);
	if (uuid != NULL)
		snprintf(r->uuid, sizeof(r->uuid), "%s", uuid);
	else
		il_emu_uuid_from(kind, code, r->uuid);
	r->id = il_emu_store_next_id(st);
	il_emu_vec_push(vec, r);
	il_emu_map_put(map, r->code, r);
	il_emu_map_put(map, r->uuid, r);
	return r;
}

static void
il_emu_location_add(il_emu_store *st, const char *code, const char *name, char type,
    const char *parent_uuid)
{
	il_emu_location *l = il_xcalloc(1, sizeof(*l));

	l->code = il_xstrdup(code);
	l->name = il_xstrdup(name != NULL ? name : code);
	l->type = type;
	il_emu_uuid_from("location", code, l->uuid);
	snprintf(l->parent_uuid, sizeof(l->parent_uuid), "%s", parent_uuid != NULL ? parent_uuid : "");
	l->id = il_emu_store_next_id(st);
	il_emu_vec_push(&st->locations, l);
	il_emu_map_put(st->location_by_key, l->code, l);
	il_emu_map_put(st->location_by_key, l->uuid, l);
}

/* The embedded set: 2 regions x 2 districts x 2 wards x 5 villages. */
static void
il_emu_reference_default(il_emu_store *st)
{
	char rc[16], dc[32], mc[48], vc[64], name[96], parent[IL_EMU_UUID_LEN];
	int r, d, m, v;

	for (r = 1; r <= 2; r++) {
		snprintf(rc, sizeof(rc), "R%d", r);
		snprintf(name, sizeof(name), "Region %d", r);
		il_emu_location_add(st, rc, name, 'R', NULL);
		for (d = 1; d <= 2; d++) {
			snprintf(dc, sizeof(dc), "%sD%d", rc, d);
			snprintf(name, sizeof(name), "District %d.%d", r, d);
			il_emu_uuid_from("location", rc, parent);
			il_emu_location_add(st, dc, name, 'D', parent);
			for (m = 1; m <= 2; m++) {
				snprintf(mc, sizeof(mc), "%sM%d", dc, m);
				snprintf(name, sizeof(name), "Ward %d.%d.%d", r, d, m);
				il_emu_uuid_from("location", dc, parent);
				il_emu_location_add(st, mc, name, 'W', parent);
				il_emu_uuid_from("location", mc, parent);
				for (v = 1; v <= 5; v++) {
					snprintf(vc, sizeof(vc), "%sV%d", mc, v);
					snprintf(name, sizeof(name), "Village %d.%d.%d.%d", r, d, m, v);
					il_emu_location_add(st, vc, name, 'V', parent);
				}
			}
		}
	}
	il_emu_ref_add(st, &st->officers, st->officer_by_key, "officer", "E00001", "Officer One", NULL);
	il_emu_ref_add(st, &st->officers, st->officer_by_key, "officer", "E00002", "Officer Two", NULL);
	il_emu_ref_add(st, &st->officers, st->officer_by_key, "officer", "E00003", "Officer Three", NULL);
	il_emu_ref_add(st, &st->products, st->product_by_key, "product", "FCTP", "Family Cover", NULL);
	il_emu_ref_add(st, &st->products, st->product_by_key, "product", "SCHP", "School Cover", NULL);
	il_emu_ref_add(st, &st->plans, st->plan_by_key, "benefit_plan", "CASH1", "Cash Transfer One", NULL);
}

/* Reads the reference file; @returns IL_OK or IL_ERR_DECODE with the reason. */
static il_err
il_emu_reference_load(il_emu_store *st, const char *path, char *errbuf, size_t errsz)
{
	il_buf text;
	cJSON *root = NULL, *it;
	il_err err;

	il_buf_init(&text, IL_EMU_MAX_REFERENCE);
	err = il_buf_read_file(&text, path, errbuf, errsz);
	if (err != IL_OK)
		goto out;
	err = IL_ERR_DECODE;
	root = cJSON_ParseWithLength(text.data, text.len);
	if (!cJSON_IsObject(root)) {
		il_err_setf(errbuf, errsz, "could not read reference file \"%s\": not a JSON object", path);
		goto out;
	}
	cJSON_ArrayForEach(it, cJSON_GetObjectItemCaseSensitive(root, "locations")) {
		const char *code = il_emu_jstr(it, "code"), *type = il_emu_jstr(it, "type");
		const char *parent = il_emu_jstr(it, "parent");
		il_emu_location *pl = NULL;

		if (code == NULL || type == NULL || strchr("RDWV", type[0]) == NULL || type[0] == '\0') {
			il_err_setf(errbuf, errsz, "could not read reference file \"%s\": a location "
			    "needs a \"code\" and a \"type\" of R, D, W or V", path);
			goto out;
		}
		if (parent != NULL && (pl = il_emu_map_get(st->location_by_key, parent)) == NULL) {
			il_err_setf(errbuf, errsz, "could not read reference file \"%s\": location \"%s\" "
			    "names unknown parent \"%s\" (parents come first)", path, code, parent);
			goto out;
		}
		il_emu_location_add(st, code, il_emu_jstr(it, "name"), type[0],
		    pl != NULL ? pl->uuid : NULL);
	}
	cJSON_ArrayForEach(it, cJSON_GetObjectItemCaseSensitive(root, "officers"))
		if (il_emu_jstr(it, "code") != NULL)
			il_emu_ref_add(st, &st->officers, st->officer_by_key, "officer",
			    il_emu_jstr(it, "code"), il_emu_jstr(it, "name"), il_emu_jstr(it, "uuid"));
	cJSON_ArrayForEach(it, cJSON_GetObjectItemCaseSensitive(root, "products"))
		if (il_emu_jstr(it, "code") != NULL)
			il_emu_ref_add(st, &st->products, st->product_by_key, "product",
			    il_emu_jstr(it, "code"), il_emu_jstr(it, "name"), il_emu_jstr(it, "uuid"));
	cJSON_ArrayForEach(it, cJSON_GetObjectItemCaseSensitive(root, "benefit_plans"))
		if (il_emu_jstr(it, "code") != NULL)
			il_emu_ref_add(st, &st->plans, st->plan_by_key, "benefit_plan",
			    il_emu_jstr(it, "code"), il_emu_jstr(it, "name"), il_emu_jstr(it, "uuid"));
	err = IL_OK;
out:
	cJSON_Delete(root);
	il_buf_free(&text);
	return err;
}

il_emu_store *
il_emu_store_new(const char *path, uint64_t seed, char *errbuf, size_t errsz)
{
	il_emu_store *st = il_xcalloc(1, sizeof(*st));

	pthread_mutex_init(&st->mu, NULL);
	st->rng = seed != 0 ? seed * 0x9E3779B97F4A7C15ULL : 0x9E3779B97F4A7C15ULL;
	st->next_id = 1;
	st->location_by_key = il_emu_map_new();
	st->officer_by_key = il_emu_map_new();
	st->product_by_key = il_emu_map_new();
	st->plan_by_key = il_emu_map_new();
	st->insuree_by_uuid = il_emu_map_new();
	st->insuree_by_chf = il_emu_map_new();
	st->family_by_uuid = il_emu_map_new();
	st->individual_by_uuid = il_emu_map_new();
	st->mutation_by_id = il_emu_map_new();
	if (path == NULL) {
		il_emu_reference_default(st);
	} else if (il_emu_reference_load(st, path, errbuf, errsz) != IL_OK) {
		il_emu_store_destroy(st);
		return NULL;
	}
	/* Database ids of written records start clear of the reference data. */
	st->next_id = st->next_id < 1000 ? 1000 : st->next_id;
	return st;
}

void
il_emu_insuree_free(il_emu_insuree *ins)
{
	if (ins == NULL)
		return;
	free(ins->chf_id);
	free(ins->given);
	free(ins->family_name);
	free(ins->gender);
	free(ins->city);
	free(ins->district);
	free(ins->state);
	free(ins->municipality);
	free(ins->phone);
	free(ins);
}

void
il_emu_store_reset(il_emu_store *st)
{
	size_t i;

	for (i = 0; i < st->insurees.n; i++)
		il_emu_insuree_free(st->insurees.v[i]);
	for (i = 0; i < st->families.n; i++) {
		il_emu_family *f = st->families.v[i];

		il_emu_vec_free(&f->policies);
		free(f->location_code);
		free(f);
	}
	for (i = 0; i < st->policies.n; i++) {
		il_emu_policy *p = st->policies.v[i];

		free(p->product_code);
		free(p);
	}
	for (i = 0; i < st->individuals.n; i++) {
		il_emu_individual *ind = st->individuals.v[i];

		free(ind->first_name);
		free(ind->last_name);
		free(ind->dob);
		free(ind->json_ext);
		free(ind->location_id);
		free(ind->client_mutation_id);
		free(ind);
	}
	for (i = 0; i < st->groups.n; i++) {
		il_emu_group *g = st->groups.v[i];

		free(g->code);
		free(g->members);
		free(g->client_mutation_id);
		free(g);
	}
	for (i = 0; i < st->beneficiaries.n; i++) {
		il_emu_beneficiary *b = st->beneficiaries.v[i];

		free(b->status);
		free(b->date_valid_from);
		free(b->date_valid_to);
		free(b->client_mutation_id);
		free(b);
	}
	for (i = 0; i < st->mutations.n; i++) {
		il_emu_mutation *m = st->mutations.v[i];

		free(m->client_mutation_id);
		cJSON_Delete(m->input);
		free(m->error);
		free(m);
	}
	il_emu_vec_free(&st->insurees);
	il_emu_vec_free(&st->families);
	il_emu_vec_free(&st->policies);
	il_emu_vec_free(&st->individuals);
	il_emu_vec_free(&st->groups);
	il_emu_vec_free(&st->beneficiaries);
	il_emu_vec_free(&st->mutations);
	il_emu_map_clear(st->insuree_by_uuid);
	il_emu_map_clear(st->insuree_by_chf);
	il_emu_map_clear(st->family_by_uuid);
	il_emu_map_clear(st->individual_by_uuid);
	il_emu_map_clear(st->mutation_by_id);
}

static void
il_emu_refs_free(il_emu_vec *vec)
{
	size_t i;

	for (i = 0; i < vec->n; i++) {
		il_emu_ref *r = vec->v[i];

		free(r->code);
		free(r->name);
		free(r);
	}
	il_emu_vec_free(vec);
}

void
il_emu_store_destroy(il_emu_store *st)
{
	size_t i;

	if (st == NULL)
		return;
	il_emu_store_reset(st);
	for (i = 0; i < st->locations.n; i++) {
		il_emu_location *l = st->locations.v[i];

		free(l->code);
		free(l->name);
		free(l);
	}
	il_emu_vec_free(&st->locations);
	il_emu_refs_free(&st->officers);
	il_emu_refs_free(&st->products);
	il_emu_refs_free(&st->plans);
	il_emu_map_destroy(st->location_by_key);
	il_emu_map_destroy(st->officer_by_key);
	il_emu_map_destroy(st->product_by_key);
	il_emu_map_destroy(st->plan_by_key);
	il_emu_map_destroy(st->insuree_by_uuid);
	il_emu_map_destroy(st->insuree_by_chf);
	il_emu_map_destroy(st->family_by_uuid);
	il_emu_map_destroy(st->individual_by_uuid);
	il_emu_map_destroy(st->mutation_by_id);
	pthread_mutex_destroy(&st->mu);
	free(st);
}

void
il_emu_store_add_insuree(il_emu_store *st, il_emu_insuree *ins)
{
	il_emu_vec_push(&st->insurees, ins);
	il_emu_map_put(st->insuree_by_uuid, ins->uuid, ins);
	/* The first one stays findable: a duplicate can only be a bug, which
	 * /_emu/duplicates must still see. */
	if (il_emu_map_get(st->insuree_by_chf, ins->chf_id) == NULL)
		il_emu_map_put(st->insuree_by_chf, ins->chf_id, ins);
}

il_emu_family *
il_emu_store_add_family(il_emu_store *st, il_emu_insuree *head, const char *location_code)
{
	il_emu_family *f = il_xcalloc(1, sizeof(*f));

	il_emu_store_uuid(st, f->uuid);
	snprintf(f->head_uuid, sizeof(f->head_uuid), "%s", head->uuid);
	f->location_code = il_xstrdup(location_code != NULL ? location_code : "");
	f->id = il_emu_store_next_id(st);
	il_emu_vec_push(&st->families, f);
	il_emu_map_put(st->family_by_uuid, f->uuid, f);
	snprintf(head->family_uuid, sizeof(head->family_uuid), "%s", f->uuid);
	return f;
}

static void
il_emu_add_str_or_null(cJSON *obj, const char *key, const char *value)
{
	if (value != NULL && value[0] != '\0')
		cJSON_AddStringToObject(obj, key, value);
	else
		cJSON_AddNullToObject(obj, key);
}

cJSON *
il_emu_store_counts(il_emu_store *st)
{
	cJSON *c = cJSON_CreateObject();

	cJSON_AddNumberToObject(c, "insurees", (double)st->insurees.n);
	cJSON_AddNumberToObject(c, "families", (double)st->families.n);
	cJSON_AddNumberToObject(c, "policies", (double)st->policies.n);
	cJSON_AddNumberToObject(c, "individuals", (double)st->individuals.n);
	cJSON_AddNumberToObject(c, "groups", (double)st->groups.n);
	cJSON_AddNumberToObject(c, "beneficiaries", (double)st->beneficiaries.n);
	cJSON_AddNumberToObject(c, "mutations", (double)st->mutations.n);
	return c;
}

cJSON *
il_emu_store_state(il_emu_store *st, bool full)
{
	cJSON *root = cJSON_CreateObject(), *arr, *o;
	size_t i;

	if (!full) {
		cJSON_Delete(root);
		return il_emu_store_counts(st);
	}
	arr = cJSON_AddArrayToObject(root, "insurees");
	for (i = 0; i < st->insurees.n; i++) {
		il_emu_insuree *ins = st->insurees.v[i];

		o = cJSON_CreateObject();
		cJSON_AddStringToObject(o, "uuid", ins->uuid);
		cJSON_AddNumberToObject(o, "id", (double)ins->id);
		cJSON_AddStringToObject(o, "chf_id", ins->chf_id);
		il_emu_add_str_or_null(o, "family_uuid", ins->family_uuid);
		cJSON_AddBoolToObject(o, "is_head", ins->is_head);
		cJSON_AddStringToObject(o, "given", ins->given);
		cJSON_AddStringToObject(o, "family", ins->family_name);
		cJSON_AddStringToObject(o, "gender", ins->gender);
		cJSON_AddStringToObject(o, "birth_date", ins->birth_date);
		cJSON_AddStringToObject(o, "location_uuid", ins->location_uuid);
		cJSON_AddItemToArray(arr, o);
	}
	arr = cJSON_AddArrayToObject(root, "families");
	for (i = 0; i < st->families.n; i++) {
		il_emu_family *f = st->families.v[i];

		o = cJSON_CreateObject();
		cJSON_AddStringToObject(o, "uuid", f->uuid);
		cJSON_AddStringToObject(o, "head_uuid", f->head_uuid);
		cJSON_AddStringToObject(o, "location_code", f->location_code);
		cJSON_AddItemToArray(arr, o);
	}
	arr = cJSON_AddArrayToObject(root, "policies");
	for (i = 0; i < st->policies.n; i++) {
		il_emu_policy *p = st->policies.v[i];

		o = cJSON_CreateObject();
		cJSON_AddStringToObject(o, "uuid", p->uuid);
		cJSON_AddNumberToObject(o, "id", (double)p->id);
		cJSON_AddStringToObject(o, "family_uuid", p->family_uuid);
		cJSON_AddStringToObject(o, "product_code", p->product_code);
		cJSON_AddStringToObject(o, "enroll_date", p->enroll_date);
		cJSON_AddStringToObject(o, "start_date", p->start_date);
		cJSON_AddStringToObject(o, "expiry_date", p->expiry_date);
		cJSON_AddNumberToObject(o, "value", p->value);
		cJSON_AddNumberToObject(o, "status", p->status);
		cJSON_AddItemToArray(arr, o);
	}
	arr = cJSON_AddArrayToObject(root, "individuals");
	for (i = 0; i < st->individuals.n; i++) {
		il_emu_individual *ind = st->individuals.v[i];

		o = cJSON_CreateObject();
		cJSON_AddStringToObject(o, "id", ind->uuid);
		il_emu_add_str_or_null(o, "first_name", ind->first_name);
		il_emu_add_str_or_null(o, "last_name", ind->last_name);
		il_emu_add_str_or_null(o, "dob", ind->dob);
		il_emu_add_str_or_null(o, "location_id", ind->location_id);
		if (ind->json_ext != NULL)
			cJSON_AddItemToObject(o, "json_ext", cJSON_Parse(ind->json_ext));
		il_emu_add_str_or_null(o, "client_mutation_id", ind->client_mutation_id);
		cJSON_AddItemToArray(arr, o);
	}
	arr = cJSON_AddArrayToObject(root, "groups");
	for (i = 0; i < st->groups.n; i++) {
		il_emu_group *g = st->groups.v[i];

		o = cJSON_CreateObject();
		cJSON_AddStringToObject(o, "id", g->uuid);
		il_emu_add_str_or_null(o, "code", g->code);
		cJSON_AddItemToObject(o, "individuals_data", cJSON_Parse(g->members));
		cJSON_AddItemToArray(arr, o);
	}
	arr = cJSON_AddArrayToObject(root, "beneficiaries");
	for (i = 0; i < st->beneficiaries.n; i++) {
		il_emu_beneficiary *b = st->beneficiaries.v[i];

		o = cJSON_CreateObject();
		cJSON_AddStringToObject(o, "id", b->uuid);
		cJSON_AddStringToObject(o, "individual_id", b->individual_uuid);
		cJSON_AddStringToObject(o, "benefit_plan_id", b->plan_uuid);
		il_emu_add_str_or_null(o, "status", b->status);
		il_emu_add_str_or_null(o, "date_valid_from", b->date_valid_from);
		il_emu_add_str_or_null(o, "date_valid_to", b->date_valid_to);
		cJSON_AddBoolToObject(o, "pending", b->pending);
		cJSON_AddItemToArray(arr, o);
	}
	cJSON_AddItemToObject(root, "counts", il_emu_store_counts(st));
	return root;
}

cJSON *
il_emu_store_duplicates(il_emu_store *st)
{
	cJSON *root = cJSON_CreateObject();
	cJSON *dups = cJSON_AddArrayToObject(root, "chf_id_duplicates");
	cJSON *over = cJSON_AddArrayToObject(root, "overlapping_policies");
	il_emu_map *seen = il_emu_map_new();
	static char once_marker, twice_marker;
	size_t i, j, k;

	/* A real scan of the insurees, not a look at the index, which by
	 * construction holds one insuree per CHF ID. */
	for (i = 0; i < st->insurees.n; i++) {
		il_emu_insuree *ins = st->insurees.v[i];
		void *mark = il_emu_map_get(seen, ins->chf_id);

		if (mark == NULL) {
			il_emu_map_put(seen, ins->chf_id, &once_marker);
		} else if (mark == &once_marker) {
			il_emu_map_put(seen, ins->chf_id, &twice_marker);
			cJSON_AddItemToArray(dups, cJSON_CreateString(ins->chf_id));
		}
	}
	il_emu_map_destroy(seen);
	for (i = 0; i < st->families.n; i++) {
		il_emu_family *f = st->families.v[i];

		for (j = 0; j < f->policies.n; j++) {
			il_emu_policy *a = f->policies.v[j];

			for (k = j + 1; k < f->policies.n; k++) {
				il_emu_policy *b = f->policies.v[k];
				cJSON *pair;

				if (strcmp(a->enroll_date, b->expiry_date) > 0 ||
				    strcmp(b->enroll_date, a->expiry_date) > 0)
					continue;
				pair = cJSON_CreateArray();
				cJSON_AddItemToArray(pair, cJSON_CreateString(a->uuid));
				cJSON_AddItemToArray(pair, cJSON_CreateString(b->uuid));
				cJSON_AddItemToArray(over, pair);
			}
		}
	}
	cJSON_AddBoolToObject(root, "ok", cJSON_GetArraySize(dups) == 0 &&
	    cJSON_GetArraySize(over) == 0);
	return root;
}

void
il_emu_today(char out[IL_EMU_DATE_LEN])
{
	time_t now = time(NULL);
	struct tm tm;

	gmtime_r(&now, &tm);
	strftime(out, IL_EMU_DATE_LEN, "%Y-%m-%d", &tm);
}
