/*
 * it_gen_events.c - a deterministic stream of EligibilityEvents (the JSON form
 * `imislink produce` reads) for the enrollment tests, and what the worker must
 * make of it.
 *
 *	it_gen_events --seed N --households N --out-events FILE --out-expect FILE
 *	    [--key-id-type T] [--instance I] [--events-from N]
 *
 * Households of 1 to 8 members (one head each) across programmes 7 (insurance
 * FCTP), 8 (insurance SCHP), 9 (social protection CASH1) and 99 (not in the
 * mapping); membership states mostly ENROLLED, some EXITED, NOT_ELIGIBLE and
 * PAUSED; follow-ups a few households later under the same key: a registrant
 * update of an enrolled member (UPDATED) and the same household emitted again
 * (ALREADY_ENROLLED); and bad ones: a member without a birthdate, an area the
 * mapping lacks (dead letters of class "mapping").  Areas are the codes
 * SPP-A01..SPP-A40 of tests/data/enroll/mapping.properties.
 *
 * Each event's id is il_event_id_of_source() of its source (CDC positions and
 * FILE lines), its key il_event_key() (household id of type --key-id-type), so
 * both equal what `imislink produce` computes.
 *
 * The expect file is one JSON object: "nevents", "counts" (insurees, families, policies,
 * individuals, beneficiaries the emulator must hold), "results" (events by
 * outcome, FAILED for the dead letters), "dead_letters" (by class), and
 * "events": for each event its seq (line number, from 1), event_id, key,
 * type, outcome, and for a dead letter its class and the words its reason
 * must contain.
 * The same arguments always give the same two files.
 */
#include <getopt.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cjson/cJSON.h>

#include "cli.h"
#include "event.h"
#include "log.h"
#include "xalloc.h"

#define MAX_MEMBERS 8
#define NAREAS 40               /* SPP-A01..SPP-A40 in the test mapping */
#define FOLLOW_MAX_DELAY 20     /* a follow-up comes at most this many households later */
#define SOURCE_SYSTEM "openspp"

/* Outcomes and dead-letter classes, as EnrollmentResult and the DLQ name them. */
enum outcome {
	OUT_ENROLLED = 0,
	OUT_UPDATED,
	OUT_ALREADY,
	OUT_SKIPPED,
	OUT_PENDING,
	OUT_FAILED,
	NOUTCOMES
};
static const char *const outcome_names[NOUTCOMES] = {
	"ENROLLED", "UPDATED", "ALREADY_ENROLLED", "SKIPPED", "PENDING_APPROVAL", "FAILED",
};

enum hh_flaw {
	FLAW_NONE = 0,
	FLAW_NO_BIRTHDATE,      /* one member lacks the mandatory birthdate */
	FLAW_UNKNOWN_AREA,      /* the area code has no village in the mapping */
};

static const char *const given_f[] = {
	"Amina", "Fatuma", "Grace", "Aisha", "Mary", "Zawadi", "Halima", "Neema", "Rehema", "Joyce",
};
static const char *const given_m[] = {
	"Juma", "Baraka", "Daudi", "Hassan", "John", "Omari", "Peter", "Salim", "Tumaini", "Yusuf",
};
static const char *const family_names[] = {
	"Mwangi", "Otieno", "Kamau", "Njoroge", "Mushi", "Mrema", "Kimaro", "Swai", "Lyimo", "Massawe",
	"Okello", "Achieng", "Wanjiru", "Chacha", "Magesa",
};

/* One member of a household. */
struct person {
	long long source_id;    /* res_partner.id */
	char nid[16];           /* National ID: the CHF ID */
	const char *given;
	const char *family;
	const char *gender;     /* "Male" or "Female" */
	char birthdate[40];     /* YYYY-MM-DD (room for any int, to please -Wformat-truncation) */
	bool is_head;
	const char *role;       /* membership kind */
};

/* One household and what happens to it. */
struct household {
	int index;              /* from 0 */
	long long source_id;    /* res_partner.id of the group */
	char hid[32];           /* household id: the Kafka key */
	int programme;          /* 7, 8, 9 or 99 */
	const char *state;      /* membership state */
	char enroll_date[48];   /* ISO timestamp of the membership's enrollment */
	int area;               /* 1..NAREAS */
	enum hh_flaw flaw;
	int flawed_member;      /* FLAW_NO_BIRTHDATE: which member */
	int nmembers;
	struct person m[MAX_MEMBERS];
};

/* A follow-up event waiting for its turn. */
struct followup {
	int due;                /* emit after the main event of this household */
	int household;
	bool update;            /* REGISTRANT_UPDATED of member `member`, else the household again */
	int member;
};

/* What the run has written so far. */
struct gen {
	uint64_t rng;           /* splitmix64 state */
	const char *instance;
	const char *key_id_type;
	il_event_ctx ectx;
	FILE *events;           /* --out-events */
	cJSON *expect_events;   /* array, into the expect file */
	long long seq;          /* lines written */
	long long lsn;          /* next CDC position */
	long long counts_insurees, counts_families, counts_policies;
	long long counts_individuals, counts_beneficiaries;
	long long results[NOUTCOMES];
	long long dlq_mapping;
	long long file_line;    /* line of the FILE-kind source */
	long long seed;
};

static uint64_t
next_rand(struct gen *g)
{
	uint64_t z = (g->rng += 0x9e3779b97f4a7c15ULL);

	z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ULL;
	z = (z ^ (z >> 27)) * 0x94d049bb133111ebULL;
	return z ^ (z >> 31);
}

/* @returns a number in [0, n). */
static int
rand_below(struct gen *g, int n)
{
	return (int)(next_rand(g) % (uint64_t)n);
}

/* A National ID of 10 digits, distinct for distinct @p n: multiplying by an
 * odd number is a bijection modulo 2^31. */
static void
make_nid(char out[16], long long seed, long long n)
{
	uint64_t x = ((uint64_t)(n + seed * 7919) * 2654435761ULL) & 0x7fffffffULL;

	snprintf(out, 16, "%010llu", (unsigned long long)(1000000000ULL + x));
}

static void
make_household(struct gen *g, struct household *h, int index, long long *next_person)
{
	int r, i, months;

	memset(h, 0, sizeof(*h));
	h->index = index;
	h->source_id = 500000 + index;
	snprintf(h->hid, sizeof(h->hid), "HH-%lld-%06d", g->seed, index);
	r = rand_below(g, 100);
	h->programme = r < 62 ? 7 : r < 84 ? 8 : r < 92 ? 9 : 99;
	h->state = "ENROLLED";
	if (h->programme == 7 || h->programme == 8) {
		r = rand_below(g, 100);
		if (r < 4)
			h->state = "EXITED";
		else if (r < 7)
			h->state = "NOT_ELIGIBLE";
		else if (r < 9)
			h->state = "PAUSED";
	}
	months = 1 + rand_below(g, 6);
	snprintf(h->enroll_date, sizeof(h->enroll_date), "2025-%02d-%02dT08:00:00.000Z", months,
	    1 + rand_below(g, 28));
	h->area = 1 + rand_below(g, NAREAS);
	/* Mixed sizes, small ones commoner, as in a registry. */
	r = rand_below(g, 100);
	h->nmembers = r < 15 ? 1 : r < 35 ? 2 : r < 55 ? 3 : r < 72 ? 4 : r < 84 ? 5 : r < 92 ? 6 :
	    r < 97 ? 7 : 8;
	for (i = 0; i < h->nmembers; i++) {
		struct person *p = &h->m[i];
		bool female = rand_below(g, 2) == 0;
		int year;

		p->source_id = 1000000 + *next_person;
		make_nid(p->nid, g->seed, *next_person);
		(*next_person)++;
		p->gender = female ? "Female" : "Male";
		p->given = female ? given_f[rand_below(g, 10)] : given_m[rand_below(g, 10)];
		p->family = family_names[h->index % 15];
		p->is_head = i == 0;
		if (i == 0)
			p->role = "Head";
		else if (i == 1 && rand_below(g, 3) != 0)
			p->role = "Spouse";
		else
			p->role = female ? "Daughter" : "Son";
		year = i <= 1 ? 1950 + rand_below(g, 50) : 1990 + rand_below(g, 35);
		snprintf(p->birthdate, sizeof(p->birthdate), "%04d-%02d-%02d", year,
		    1 + rand_below(g, 12), 1 + rand_below(g, 28));
	}
	/* Flaws only where the worker would otherwise enroll. */
	if (h->programme == 7 && strcmp(h->state, "ENROLLED") == 0) {
		r = rand_below(g, 1000);
		if (r < 5) {
			h->flaw = FLAW_NO_BIRTHDATE;
			h->flawed_member = rand_below(g, h->nmembers);
		} else if (r < 10) {
			h->flaw = FLAW_UNKNOWN_AREA;
		}
	}
}

static void
area_code(const struct household *h, char out[24])
{
	if (h->flaw == FLAW_UNKNOWN_AREA)
		snprintf(out, 24, "SPP-X%05d", h->index);
	else
		snprintf(out, 24, "SPP-A%02d", h->area);
}

static cJSON *
area_json(const struct household *h)
{
	cJSON *a = cJSON_CreateObject();
	char code[24];

	area_code(h, code);
	cJSON_AddNumberToObject(a, "id", h->flaw == FLAW_UNKNOWN_AREA ? 9000 + h->index : h->area);
	cJSON_AddStringToObject(a, "code", code);
	cJSON_AddStringToObject(a, "name", code);
	return a;
}

static cJSON *
ext_id(const char *type, const char *value)
{
	cJSON *o = cJSON_CreateObject();

	cJSON_AddStringToObject(o, "type", type);
	cJSON_AddStringToObject(o, "value", value);
	cJSON_AddStringToObject(o, "status", "valid");
	return o;
}

/* A member as a Registrant; @p given overrides the name (updates). */
static cJSON *
person_json(const struct household *h, int i, const char *given)
{
	const struct person *p = &h->m[i];
	cJSON *r = cJSON_CreateObject(), *ids = cJSON_CreateArray(), *phones = cJSON_CreateArray();
	cJSON *ph = cJSON_CreateObject();
	char name[96], phone[32];

	given = given != NULL ? given : p->given;
	cJSON_AddNumberToObject(r, "source_id", (double)p->source_id);
	cJSON_AddItemToArray(ids, ext_id("National ID", p->nid));
	cJSON_AddItemToObject(r, "external_ids", ids);
	cJSON_AddBoolToObject(r, "is_group", false);
	snprintf(name, sizeof(name), "%s, %s", p->family, given);
	cJSON_AddStringToObject(r, "name", name);
	cJSON_AddStringToObject(r, "given_name", given);
	cJSON_AddStringToObject(r, "family_name", p->family);
	cJSON_AddStringToObject(r, "gender", p->gender);
	if (h->flaw == FLAW_NO_BIRTHDATE && h->flawed_member == i)
		cJSON_AddNullToObject(r, "birthdate");
	else
		cJSON_AddStringToObject(r, "birthdate", p->birthdate);
	snprintf(phone, sizeof(phone), "+2557%08lld", p->source_id % 100000000);
	cJSON_AddStringToObject(ph, "number", phone);
	cJSON_AddItemToArray(phones, ph);
	cJSON_AddItemToObject(r, "phones", phones);
	cJSON_AddItemToObject(r, "area", area_json(h));
	return r;
}

static cJSON *
household_json(const struct gen *g, const struct household *h)
{
	cJSON *o = cJSON_CreateObject(), *ids = cJSON_CreateArray(), *members = cJSON_CreateArray();
	char name[64];
	int i;

	cJSON_AddNumberToObject(o, "source_id", (double)h->source_id);
	cJSON_AddItemToArray(ids, ext_id(g->key_id_type, h->hid));
	cJSON_AddItemToObject(o, "external_ids", ids);
	snprintf(name, sizeof(name), "%s household %d", h->m[0].family, h->index);
	cJSON_AddStringToObject(o, "name", name);
	cJSON_AddItemToObject(o, "area", area_json(h));
	for (i = 0; i < h->nmembers; i++) {
		cJSON *mem = cJSON_CreateObject(), *roles = cJSON_CreateArray();

		cJSON_AddItemToObject(mem, "registrant", person_json(h, i, NULL));
		cJSON_AddItemToArray(roles, cJSON_CreateString(h->m[i].role));
		cJSON_AddItemToObject(mem, "roles", roles);
		cJSON_AddBoolToObject(mem, "is_head", h->m[i].is_head);
		cJSON_AddStringToObject(mem, "start_date", "2020-01-01");
		cJSON_AddItemToArray(members, mem);
	}
	cJSON_AddItemToObject(o, "members", members);
	return o;
}

/* The household's own registrant record (the group). */
static cJSON *
group_json(const struct gen *g, const struct household *h)
{
	cJSON *r = cJSON_CreateObject(), *ids = cJSON_CreateArray();
	char name[64];

	cJSON_AddNumberToObject(r, "source_id", (double)h->source_id);
	cJSON_AddItemToArray(ids, ext_id(g->key_id_type, h->hid));
	cJSON_AddItemToObject(r, "external_ids", ids);
	cJSON_AddBoolToObject(r, "is_group", true);
	snprintf(name, sizeof(name), "%s household %d", h->m[0].family, h->index);
	cJSON_AddStringToObject(r, "name", name);
	cJSON_AddItemToObject(r, "area", area_json(h));
	return r;
}

static const char *
programme_name(int id)
{
	switch (id) {
	case 7:
		return "Community health insurance";
	case 8:
		return "School health plan";
	case 9:
		return "Cash transfer";
	default:
		return "Unmapped programme";
	}
}

/* Fills the event's source, id and timestamps; every fifth household's
 * events come from a file drop, the rest from logical replication. */
static void
add_source(struct gen *g, cJSON *ev, const struct household *h, const char *table, long long pk)
{
	cJSON *src = cJSON_CreateObject();
	char pos[64], pkbuf[24], ts[32], id[65];
	long long s = g->seq + 1;

	cJSON_AddStringToObject(src, "system", SOURCE_SYSTEM);
	cJSON_AddStringToObject(src, "instance", g->instance);
	if (h->index % 5 == 4) {
		g->file_line++;
		cJSON_AddStringToObject(src, "kind", "FILE");
		snprintf(pos, sizeof(pos), "it-enroll-%lld.jsonl:%lld", g->seed, g->file_line);
		cJSON_AddStringToObject(src, "position", pos);
		cJSON_AddNullToObject(src, "table");
		cJSON_AddNullToObject(src, "primary_key");
	} else {
		g->lsn += 0x1A8 + (long long)rand_below(g, 0x400);
		cJSON_AddStringToObject(src, "kind", "CDC");
		snprintf(pos, sizeof(pos), "%llX/%08llX", (unsigned long long)(g->seed & 0xf),
		    (unsigned long long)g->lsn);
		cJSON_AddStringToObject(src, "position", pos);
		cJSON_AddStringToObject(src, "table", table);
		snprintf(pkbuf, sizeof(pkbuf), "%lld", pk);
		cJSON_AddStringToObject(src, "primary_key", pkbuf);
	}
	il_event_id_of_source(src, id);
	cJSON_AddStringToObject(ev, "event_id", id);
	cJSON_AddItemToObject(ev, "source", src);
	snprintf(ts, sizeof(ts), "2025-07-%02lldT%02lld:%02lld:%02lld.000Z", 1 + (s / 86400) % 28,
	    (s / 3600) % 24, (s / 60) % 60, s % 60);
	cJSON_AddStringToObject(ev, "occurred_at", ts);
}

/* Writes @p ev as one line and records what must become of it. */
static void
emit(struct gen *g, cJSON *ev, enum outcome out, const char *dlq_class, cJSON *reason_has)
{
	char errbuf[256], *key, *line;
	cJSON *x = cJSON_CreateObject();

	key = il_event_key(&g->ectx, ev, errbuf, sizeof(errbuf));
	if (key == NULL)
		il_cli_fatal("could not compute the key of an event: %s", errbuf);
	line = cJSON_PrintUnformatted(ev);
	if (line == NULL || fprintf(g->events, "%s\n", line) < 0)
		il_cli_fatal("could not write the events file");
	g->seq++;
	cJSON_AddNumberToObject(x, "seq", (double)g->seq);
	cJSON_AddStringToObject(x, "event_id", cJSON_GetObjectItem(ev, "event_id")->valuestring);
	cJSON_AddStringToObject(x, "key", key);
	cJSON_AddStringToObject(x, "type", cJSON_GetObjectItem(ev, "event_type")->valuestring);
	cJSON_AddStringToObject(x, "outcome", outcome_names[out]);
	if (dlq_class != NULL) {
		cJSON_AddStringToObject(x, "dlq_class", dlq_class);
		cJSON_AddItemToObject(x, "reason_has", reason_has);
		g->dlq_mapping++;
	} else {
		cJSON_Delete(reason_has);
	}
	cJSON_AddItemToArray(g->expect_events, x);
	g->results[out]++;
	free(line);
	free(key);
}

/* The membership event of household @p h; @p again: the second emission. */
static void
emit_membership(struct gen *g, const struct household *h, bool again)
{
	cJSON *ev = cJSON_CreateObject(), *prog = cJSON_CreateObject(), *mem = cJSON_CreateObject();
	cJSON *reason_has = NULL;
	enum outcome out;
	const char *dlq = NULL;
	bool enrolled = strcmp(h->state, "ENROLLED") == 0;
	char buf[64];

	cJSON_AddStringToObject(ev, "event_type", "MEMBERSHIP_CHANGED");
	add_source(g, ev, h, "g2p_program_membership", 700000 + (long long)h->index * 2 + again);
	cJSON_AddNumberToObject(prog, "id", h->programme);
	cJSON_AddStringToObject(prog, "name", programme_name(h->programme));
	cJSON_AddStringToObject(prog, "target_type", "GROUP");
	cJSON_AddItemToObject(ev, "programme", prog);
	cJSON_AddStringToObject(mem, "state", h->state);
	cJSON_AddNullToObject(mem, "previous_state");
	cJSON_AddStringToObject(mem, "enrollment_date", h->enroll_date);
	cJSON_AddItemToObject(ev, "membership", mem);
	cJSON_AddItemToObject(ev, "registrant", group_json(g, h));
	cJSON_AddItemToObject(ev, "household", household_json(g, h));

	if (h->flaw != FLAW_NONE) {
		out = OUT_FAILED;
		dlq = "mapping";
		reason_has = cJSON_CreateArray();
		if (h->flaw == FLAW_UNKNOWN_AREA) {
			area_code(h, buf);
			cJSON_AddItemToArray(reason_has, cJSON_CreateString(buf));
		} else {
			cJSON_AddItemToArray(reason_has, cJSON_CreateString("birthdate"));
			snprintf(buf, sizeof(buf), "%lld", h->m[h->flawed_member].source_id);
			cJSON_AddItemToArray(reason_has, cJSON_CreateString(buf));
		}
	} else if (h->programme == 99 || !enrolled) {
		out = OUT_SKIPPED;
	} else if (h->programme == 9) {
		out = OUT_PENDING;
		if (!again) {
			g->counts_individuals += h->nmembers;
			g->counts_beneficiaries += h->nmembers;
		}
	} else if (again) {
		out = OUT_ALREADY;
	} else {
		out = OUT_ENROLLED;
		g->counts_insurees += h->nmembers;
		g->counts_families++;
		g->counts_policies++;
	}
	emit(g, ev, out, dlq, reason_has);
	cJSON_Delete(ev);
}

/* A registrant update of member @p i of enrolled household @p h: a new given
 * name, the same National ID. */
static void
emit_update(struct gen *g, const struct household *h, int i)
{
	cJSON *ev = cJSON_CreateObject(), *prog;
	char given[48];

	snprintf(given, sizeof(given), "%s Updated", h->m[i].given);
	cJSON_AddStringToObject(ev, "event_type", "REGISTRANT_UPDATED");
	add_source(g, ev, h, "res_partner", h->m[i].source_id);
	/* The programme says which openIMIS the person lives in; the member
	 * list says whether the person heads the family. */
	prog = cJSON_AddObjectToObject(ev, "programme");
	cJSON_AddNumberToObject(prog, "id", h->programme);
	cJSON_AddStringToObject(prog, "name", programme_name(h->programme));
	cJSON_AddStringToObject(prog, "target_type", "GROUP");
	cJSON_AddNullToObject(ev, "membership");
	cJSON_AddItemToObject(ev, "registrant", person_json(h, i, given));
	cJSON_AddItemToObject(ev, "household", household_json(g, h));
	emit(g, ev, OUT_UPDATED, NULL, NULL);
	cJSON_Delete(ev);
}

static void
usage(void)
{
	fprintf(stderr, "usage: it_gen_events --seed N --households N --out-events FILE --out-expect FILE\n"
	    "                     [--key-id-type T] [--instance I]\n");
	exit(2);
}

int
main(int argc, char **argv)
{
	static const struct option opts[] = {
		{ "seed", required_argument, NULL, 's' },
		{ "households", required_argument, NULL, 'n' },
		{ "out-events", required_argument, NULL, 'e' },
		{ "out-expect", required_argument, NULL, 'x' },
		{ "key-id-type", required_argument, NULL, 'k' },
		{ "instance", required_argument, NULL, 'i' },
		{ NULL, 0, NULL, 0 },
	};
	struct gen g;                   /* the run */
	struct household *hh;           /* every household */
	struct followup *fu;            /* follow-ups, by due household */
	long long n = -1, next_person = 0, nfu = 0, fpos = 0, i, k;
	const char *events_path = NULL, *expect_path = NULL;
	cJSON *expect, *counts, *results, *dlq;
	char *text;
	FILE *fx;
	int c;

	il_log_init("it_gen_events", IL_LOG_INFO, NULL);
	memset(&g, 0, sizeof(g));
	g.seed = -1;
	g.instance = "it-openspp";
	g.key_id_type = "National ID";
	while ((c = getopt_long(argc, argv, "", opts, NULL)) != -1) {
		switch (c) {
		case 's':
			if (!il_cli_parse_int(optarg, 0, 1000000000, &g.seed))
				il_cli_fatal("invalid --seed: expected 0 to 1000000000, got \"%s\"", optarg);
			break;
		case 'n':
			if (!il_cli_parse_int(optarg, 1, 5000000, &n))
				il_cli_fatal("invalid --households: expected 1 to 5000000, got \"%s\"", optarg);
			break;
		case 'e':
			events_path = optarg;
			break;
		case 'x':
			expect_path = optarg;
			break;
		case 'k':
			g.key_id_type = optarg;
			break;
		case 'i':
			g.instance = optarg;
			break;
		default:
			usage();
		}
	}
	if (g.seed < 0 || n < 0 || events_path == NULL || expect_path == NULL || optind != argc)
		usage();
	g.rng = (uint64_t)g.seed * 0x2545F4914F6CDD1DULL + 1;
	g.ectx.instance = g.instance;
	g.ectx.key_id_type = g.key_id_type;
	g.lsn = 0x16B3748;
	g.events = fopen(events_path, "w");
	if (g.events == NULL)
		il_cli_fatal("could not open file \"%s\" for writing", events_path);
	g.expect_events = cJSON_CreateArray();
	hh = il_xcalloc((size_t)n, sizeof(*hh));
	fu = il_xcalloc((size_t)n * 2, sizeof(*fu));

	for (i = 0; i < n; i++) {
		struct household *h = &hh[i];
		bool ok_insurance;

		make_household(&g, h, (int)i, &next_person);
		emit_membership(&g, h, false);
		ok_insurance = h->flaw == FLAW_NONE && (h->programme == 7 || h->programme == 8) &&
		    strcmp(h->state, "ENROLLED") == 0;
		/* Follow-ups only of insured households: their outcomes are
		 * unambiguous (an update of an insuree, a policy found). */
		if (ok_insurance && rand_below(&g, 100) < 6) {
			fu[nfu].due = (int)i + rand_below(&g, FOLLOW_MAX_DELAY + 1);
			fu[nfu].household = (int)i;
			fu[nfu].update = true;
			fu[nfu].member = rand_below(&g, h->nmembers);
			nfu++;
		}
		if (ok_insurance && rand_below(&g, 100) < 4) {
			fu[nfu].due = (int)i + rand_below(&g, FOLLOW_MAX_DELAY + 1);
			fu[nfu].household = (int)i;
			fu[nfu].update = false;
			nfu++;
		}
		/* Due follow-ups, in the order they were planned: one key's
		 * follow-ups keep their order (update before repeat). */
		for (k = fpos; k < nfu; k++) {
			if (fu[k].due > i || fu[k].household < 0)
				continue;
			if (fu[k].update)
				emit_update(&g, &hh[fu[k].household], fu[k].member);
			else
				emit_membership(&g, &hh[fu[k].household], true);
			fu[k].household = -1;
		}
		while (fpos < nfu && fu[fpos].household < 0)
			fpos++;
	}
	for (k = fpos; k < nfu; k++) {
		if (fu[k].household < 0)
			continue;
		if (fu[k].update)
			emit_update(&g, &hh[fu[k].household], fu[k].member);
		else
			emit_membership(&g, &hh[fu[k].household], true);
	}
	if (fclose(g.events) != 0)
		il_cli_fatal("could not write file \"%s\"", events_path);

	expect = cJSON_CreateObject();
	cJSON_AddNumberToObject(expect, "seed", (double)g.seed);
	cJSON_AddNumberToObject(expect, "households", (double)n);
	cJSON_AddNumberToObject(expect, "nevents", (double)g.seq);
	counts = cJSON_AddObjectToObject(expect, "counts");
	cJSON_AddNumberToObject(counts, "insurees", (double)g.counts_insurees);
	cJSON_AddNumberToObject(counts, "families", (double)g.counts_families);
	cJSON_AddNumberToObject(counts, "policies", (double)g.counts_policies);
	cJSON_AddNumberToObject(counts, "individuals", (double)g.counts_individuals);
	cJSON_AddNumberToObject(counts, "beneficiaries", (double)g.counts_beneficiaries);
	results = cJSON_AddObjectToObject(expect, "results");
	for (c = 0; c < NOUTCOMES; c++)
		cJSON_AddNumberToObject(results, outcome_names[c], (double)g.results[c]);
	dlq = cJSON_AddObjectToObject(expect, "dead_letters");
	cJSON_AddNumberToObject(dlq, "mapping", (double)g.dlq_mapping);
	cJSON_AddItemToObject(expect, "events", g.expect_events);
	text = cJSON_PrintUnformatted(expect);
	fx = fopen(expect_path, "w");
	if (text == NULL || fx == NULL || fprintf(fx, "%s\n", text) < 0 || fclose(fx) != 0)
		il_cli_fatal("could not write file \"%s\"", expect_path);
	il_log_info("events generated", IL_INT("households", n), IL_INT("events", g.seq),
	    IL_INT("insurees", g.counts_insurees), IL_INT("dead_letters", g.dlq_mapping));
	free(text);
	cJSON_Delete(expect);
	free(fu);
	free(hh);
	return 0;
}
