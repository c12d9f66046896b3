/*
 * registry.c - the registrants of the openSPP emulator: loaded from a file
 * or generated, and rendered as g2p_registry_rest_api answers them.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "buf.h"
#include "spp.h"
#include "timefmt.h"
#include "xalloc.h"

/* Largest registry file read. */
#define IL_SPP_MAX_FILE (64u << 20)

/* Checks one list of records: objects with a unique integer id and a name. */
static bool
il_spp_check_list(const cJSON *reg, const char *kind, char *errbuf, size_t errsz)
{
	const cJSON *list = cJSON_GetObjectItemCaseSensitive(reg, kind), *rec, *other;

	if (list == NULL)
		return true;
	if (!cJSON_IsArray(list)) {
		snprintf(errbuf, errsz, "invalid registry: \"%s\" is not an array", kind);
		return false;
	}
	cJSON_ArrayForEach(rec, list) {
		const cJSON *id = cJSON_GetObjectItemCaseSensitive(rec, "id");
		const cJSON *name = cJSON_GetObjectItemCaseSensitive(rec, "name");

		if (!cJSON_IsObject(rec) || !cJSON_IsNumber(id) ||
		    id->valuedouble != (double)(long long)id->valuedouble || !cJSON_IsString(name)) {
			snprintf(errbuf, errsz, "invalid registry: a record of \"%s\" lacks an integer "
			    "\"id\" or a string \"name\"", kind);
			return false;
		}
		for (other = rec->next; other != NULL; other = other->next) {
			const cJSON *oid = cJSON_GetObjectItemCaseSensitive(other, "id");

			if (cJSON_IsNumber(oid) && oid->valuedouble == id->valuedouble) {
				snprintf(errbuf, errsz, "invalid registry: id %lld is used twice in \"%s\"",
				    (long long)id->valuedouble, kind);
				return false;
			}
		}
	}
	return true;
}

cJSON *
il_spp_registry_load(const char *path, char *errbuf, size_t errsz)
{
	il_buf b;
	cJSON *reg = NULL;

	il_buf_init(&b, IL_SPP_MAX_FILE);
	if (il_buf_read_file(&b, path, errbuf, errsz) != IL_OK)
		goto out;
	reg = cJSON_ParseWithLength(b.data, b.len);
	if (!cJSON_IsObject(reg)) {
		snprintf(errbuf, errsz, "could not read registry \"%s\": not a JSON object", path);
		cJSON_Delete(reg);
		reg = NULL;
		goto out;
	}
	if (!il_spp_check_list(reg, "individuals", errbuf, errsz) ||
	    !il_spp_check_list(reg, "groups", errbuf, errsz)) {
		cJSON_Delete(reg);
		reg = NULL;
		goto out;
	}
	if (cJSON_GetObjectItemCaseSensitive(reg, "individuals") == NULL)
		cJSON_AddArrayToObject(reg, "individuals");
	if (cJSON_GetObjectItemCaseSensitive(reg, "groups") == NULL)
		cJSON_AddArrayToObject(reg, "groups");
out:
	il_buf_free(&b);
	return reg;
}

const cJSON *
il_spp_registry_find(const cJSON *reg, const char *kind, long long id)
{
	const cJSON *rec;

	cJSON_ArrayForEach(rec, cJSON_GetObjectItemCaseSensitive(reg, kind)) {
		if ((long long)cJSON_GetObjectItemCaseSensitive(rec, "id")->valuedouble == id)
			return rec;
	}
	return NULL;
}

/* ---- generation -------------------------------------------------------- */

static uint64_t
il_spp_next(uint64_t *s)
{
	uint64_t z = (*s += 0x9E3779B97F4A7C15ULL);

	z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9ULL;
	z = (z ^ (z >> 27)) * 0x94D049BB133111EBULL;
	return z ^ (z >> 31);
}

static int
il_spp_pick(uint64_t *s, int n)
{
	return (int)(il_spp_next(s) % (uint64_t)n);
}

static const char *const il_spp_families[] = {
	"OTIENO", "MWANGI", "NGUYỄN", "MÜLLER", "MUÑOZ",
	"O'BRIEN", "KAMAU", "ÅSTRÖM", "DUBOIS", "OKAFOR",
};
static const char *const il_spp_given_f[] = { "AMINA", "THỊ", "ZOË", "GRACE", "AMANI", "SOFÍA" };
static const char *const il_spp_given_m[] = { "JOSÉ", "PETER", "JÜRGEN", "KWAME", "LUCA", "ØYVIND" };

static cJSON *
il_spp_gen_person(uint64_t *s, long long id, const char *family, int seedno)
{
	cJSON *p = cJSON_CreateObject(), *ids, *phones, *x;
	bool female = il_spp_pick(s, 2) == 0;
	const char *given = female ? il_spp_given_f[il_spp_pick(s, 6)] : il_spp_given_m[il_spp_pick(s, 6)];
	char name[128], buf[64], date[IL_TIME_DATE_LEN];

	snprintf(name, sizeof(name), "%s, %s", family, given);
	cJSON_AddNumberToObject(p, "id", (double)id);
	cJSON_AddStringToObject(p, "name", name);
	ids = cJSON_AddArrayToObject(p, "ids");
	x = cJSON_CreateObject();
	cJSON_AddStringToObject(x, "id_type", "National ID");
	snprintf(buf, sizeof(buf), "NID-%d-%lld", seedno, id);
	cJSON_AddStringToObject(x, "value", buf);
	cJSON_AddStringToObject(x, "expiry_date", "2032-12-31");
	cJSON_AddStringToObject(x, "status", "valid");
	cJSON_AddNullToObject(x, "description");
	cJSON_AddItemToArray(ids, x);
	il_time_format_date(il_time_days_from_civil(2024, 1, 1) + il_spp_pick(s, 360), date);
	cJSON_AddStringToObject(p, "registration_date", date);
	phones = cJSON_AddArrayToObject(p, "phone_numbers");
	if (il_spp_pick(s, 4) != 0) {
		x = cJSON_CreateObject();
		snprintf(buf, sizeof(buf), "+254 7%02d %06lld", il_spp_pick(s, 100), id);
		cJSON_AddStringToObject(x, "phone_no", buf);
		cJSON_AddStringToObject(x, "date_collected", date);
		cJSON_AddItemToArray(phones, x);
	}
	cJSON_AddNullToObject(p, "email");
	cJSON_AddStringToObject(p, "address", "Kondele, Kisumu");
	cJSON_AddStringToObject(p, "given_name", given);
	cJSON_AddNullToObject(p, "addl_name");
	cJSON_AddStringToObject(p, "family_name", family);
	cJSON_AddStringToObject(p, "gender", female ? "Female" : "Male");
	/* About one in twenty has no birthdate, as in real registries. */
	if (il_spp_pick(s, 20) == 0) {
		cJSON_AddNullToObject(p, "birthdate");
	} else {
		il_time_format_date(il_time_days_from_civil(1940, 1, 1) + il_spp_pick(s, 30000), date);
		cJSON_AddStringToObject(p, "birthdate", date);
	}
	cJSON_AddStringToObject(p, "birth_place", "Kisumu");
	cJSON_AddFalseToObject(p, "is_group");
	return p;
}

cJSON *
il_spp_registry_generate(int n, uint64_t seed)
{
	cJSON *reg = cJSON_CreateObject();
	cJSON *inds = cJSON_AddArrayToObject(reg, "individuals");
	cJSON *groups = cJSON_AddArrayToObject(reg, "groups");
	uint64_t s = seed;
	long long next_id = 1;
	int made = 0;

	while (made < n) {
		const char *family = il_spp_families[il_spp_pick(&s, 10)];
		int size = 1 + il_spp_pick(&s, 5), i;
		cJSON *g = cJSON_CreateObject(), *members;
		char name[128];

		if (size > n - made)
			size = n - made;
		/* Groups and individuals share res_partner's ids, as in openSPP. */
		snprintf(name, sizeof(name), "%s household", family);
		cJSON_AddNumberToObject(g, "id", (double)next_id++);
		cJSON_AddStringToObject(g, "name", name);
		cJSON_AddArrayToObject(g, "ids");
		cJSON_AddStringToObject(g, "registration_date", "2024-01-01");
		cJSON_AddArrayToObject(g, "phone_numbers");
		cJSON_AddNullToObject(g, "email");
		cJSON_AddStringToObject(g, "address", "Kondele, Kisumu");
		cJSON_AddTrueToObject(g, "is_group");
		members = cJSON_AddArrayToObject(g, "members");
		for (i = 0; i < size; i++) {
			cJSON *m = cJSON_CreateObject();

			cJSON_AddNumberToObject(m, "id", (double)next_id);
			cJSON_AddStringToObject(m, "kind", i == 0 ? "Head" : "Child");
			cJSON_AddItemToArray(members, m);
			cJSON_AddItemToArray(inds, il_spp_gen_person(&s, next_id++, family,
			    (int)(seed % 1000)));
		}
		cJSON_AddItemToArray(groups, g);
		made += size;
	}
	return reg;
}

/* ---- rendering ---------------------------------------------------------- */

/* Copies @p key of @p rec into @p out (null when absent). */
static void
il_spp_copy(cJSON *out, const cJSON *rec, const char *key)
{
	const cJSON *v = cJSON_GetObjectItemCaseSensitive(rec, key);

	cJSON_AddItemToObject(out, key, v != NULL ? cJSON_Duplicate(v, true) : cJSON_CreateNull());
}

/* Copies a list of @p rec, or an empty one: the defect empties it. */
static void
il_spp_copy_list(cJSON *out, const cJSON *rec, const char *key, bool defects)
{
	const cJSON *v = cJSON_GetObjectItemCaseSensitive(rec, key);

	if (!defects && cJSON_IsArray(v))
		cJSON_AddItemToObject(out, key, cJSON_Duplicate(v, true));
	else
		cJSON_AddArrayToObject(out, key);
}

/* Copies a field the defect turns into null. */
static void
il_spp_copy_lost(cJSON *out, const cJSON *rec, const char *key, bool defects)
{
	if (defects)
		cJSON_AddNullToObject(out, key);
	else
		il_spp_copy(out, rec, key);
}

/* openSPP's computed age: whole years today, or its "No Birthdate!". */
static void
il_spp_age(cJSON *out, const char *birthdate)
{
	int64_t bdays, y, by;
	int m, d, bm, bd;
	char buf[16];

	if (birthdate == NULL || il_time_parse_date(birthdate, &bdays) != NULL) {
		cJSON_AddStringToObject(out, "age", "No Birthdate!");
		return;
	}
	il_time_civil_from_days((int64_t)(time(NULL) / 86400), &y, &m, &d);
	il_time_civil_from_days(bdays, &by, &bm, &bd);
	snprintf(buf, sizeof(buf), "%lld", (long long)(y - by - ((m < bm || (m == bm && d < bd)) ? 1 : 0)));
	cJSON_AddStringToObject(out, "age", buf);
}

cJSON *
il_spp_render_individual(const cJSON *rec, bool defects)
{
	cJSON *out = cJSON_CreateObject();
	const cJSON *bd = cJSON_GetObjectItemCaseSensitive(rec, "birthdate");

	/* The order of the seed's sample answer (individual 66). */
	il_spp_copy(out, rec, "id");
	il_spp_copy(out, rec, "name");
	il_spp_copy_list(out, rec, "ids", defects);
	il_spp_copy(out, rec, "registration_date");
	il_spp_copy_list(out, rec, "phone_numbers", defects);
	il_spp_copy_lost(out, rec, "email", defects);
	il_spp_copy_lost(out, rec, "address", defects);
	il_spp_copy(out, rec, "given_name");
	il_spp_copy_lost(out, rec, "addl_name", defects);
	il_spp_copy(out, rec, "family_name");
	il_spp_copy_lost(out, rec, "gender", defects);
	il_spp_copy_lost(out, rec, "birthdate", defects);
	il_spp_age(out, defects || !cJSON_IsString(bd) ? NULL : bd->valuestring);
	il_spp_copy_lost(out, rec, "birth_place", defects);
	cJSON_AddFalseToObject(out, "is_group");
	return out;
}

cJSON *
il_spp_render_group(const cJSON *reg, const cJSON *rec, bool defects, bool members_full)
{
	cJSON *out = cJSON_CreateObject(), *members;
	const cJSON *m;

	il_spp_copy(out, rec, "id");
	il_spp_copy(out, rec, "name");
	il_spp_copy_list(out, rec, "ids", defects);
	il_spp_copy(out, rec, "registration_date");
	il_spp_copy_list(out, rec, "phone_numbers", defects);
	il_spp_copy_lost(out, rec, "email", defects);
	il_spp_copy_lost(out, rec, "address", defects);
	cJSON_AddTrueToObject(out, "is_group");
	members = cJSON_AddArrayToObject(out, "members");
	cJSON_ArrayForEach(m, cJSON_GetObjectItemCaseSensitive(rec, "members")) {
		const cJSON *id = cJSON_GetObjectItemCaseSensitive(m, "id");
		const cJSON *kind = cJSON_GetObjectItemCaseSensitive(m, "kind");
		const cJSON *ind;
		cJSON *mo, *kinds, *k;

		if (!cJSON_IsNumber(id))
			continue;
		ind = il_spp_registry_find(reg, "individuals", (long long)id->valuedouble);
		if (ind == NULL)
			continue;
		if (members_full) {
			mo = il_spp_render_individual(ind, defects);
		} else {
			mo = cJSON_CreateObject();
			il_spp_copy(mo, ind, "id");
			il_spp_copy(mo, ind, "name");
		}
		kinds = cJSON_AddArrayToObject(mo, "kind");
		if (cJSON_IsString(kind)) {
			k = cJSON_CreateObject();
			cJSON_AddStringToObject(k, "name", kind->valuestring);
			cJSON_AddItemToArray(kinds, k);
		}
		cJSON_AddItemToArray(members, mo);
	}
	return out;
}
