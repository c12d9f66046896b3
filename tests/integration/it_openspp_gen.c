/*
 * it_openspp_gen.c - writes a synthetic openSPP 17 registry as SQL, for the
 * fixtures of the change producer (tests/data/openspp/schema.sql holds the
 * tables and their seed rows).
 *
 *	it_openspp_gen [--households N] [--seed S] [--programmes LIST] [--summary]
 *	it_openspp_gen --scenario NAME [--program P] [--count K]
 *
 * Without --scenario: COPY blocks for an empty database loaded with
 * schema.sql, on stdout: two non-registrant partners (the company and the
 * administrator, as Odoo has them), then N households.  A household is a
 * group with its own National ID and 1 to 8 active members, exactly one of
 * them the Head; some also have a member whose membership ended in the past,
 * or one whose end date lies in the future (status still active, as Odoo
 * leaves it).  Individuals have upper-case Odoo names ("FAMILY, GIVEN
 * ADDL"), many of them non-ASCII, birthdates missing or inexact now and
 * then, National, CHF and birth certificate IDs, phones, disabled ones.
 * LIST names the programmes, comma-separated, each "group" or "individual"
 * optionally followed by ":NAME" (default "group,individual": programme 1
 * "Community health insurance" for households, programme 2 "Elderly cash
 * transfer" for individuals); every programme holds memberships in all six
 * states.  The output ends with the sequences set past the rows, and one
 * comment line "-- count NAME N" per figure; --summary prints only those
 * figures, as "NAME N" lines.  Same options, same bytes.
 *
 * With --scenario: the SQL of one scenario of issue 3, against a registry
 * this program generated (every generated write_date lies before 2025;
 * rows a scenario writes get now()):
 *   targeting           K (default all) draft memberships of programme P
 *                       (default 1) enrolled in one transaction
 *   pause-exit          K (default 10) enrolled memberships of P paused in one
 *                       transaction, then K others exited in a second one
 *   birthdate-fix       the first member of a household enrolled in P with
 *                       an inexact birthdate gets the exact one (15 March of
 *                       that year)
 *   member-leaves       the first non-Head active member of a household
 *                       enrolled in P leaves it (ended now), and the
 *                       household's write_date moves as Odoo's recomputed
 *                       aggregates move it, in one transaction
 *   registrant-deleted  the first non-Head active member of a household
 *                       enrolled in P is deleted (its IDs, phones and
 *                       memberships go with it, ON DELETE CASCADE)
 *   noise               K (default 1) households enrolled in P: their
 *                       res_partner rows get a new write_date and nothing
 *                       else, as Odoo's recompute of stored aggregates
 *                       leaves them, in one transaction
 *   new-head            in the first household enrolled in P with another
 *                       active member, the Head kind moves from the Head to
 *                       that member (a Spouse when there is one), in one
 *                       transaction: DELETE and INSERT in the kind link
 *                       table, and both memberships' write_date moves, as
 *                       Odoo's write of the many2many does
 *   id-change           the first member (by id) with a valid National ID of a
 *                       household enrolled in P gets a new value: "9" before
 *                       the old one (UPDATE g2p_reg_id)
 * Every scenario runs as one transaction (pause-exit: two).  Those that
 * change one registrant or household answer, before COMMIT, one row per
 * household they changed: "target|HOUSEHOLD|REGISTRANT" (res_partner ids;
 * REGISTRANT empty for noise), so that a test knows what to expect (psql
 * -At prints it as is).
 */
#include <getopt.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cli.h"
#include "log.h"
#include "xalloc.h"

#define GEN_NAME "it_openspp_gen"
#define GEN_MAX_PROGRAMMES 8
#define GEN_MAX_PEOPLE 10	/* 8 active members, one ended, one leaving later */
#define GEN_NSTATES 6
#define GEN_UID 2		/* the administrator writes everything */

/* A name and its upper case, which C's toupper() cannot make for UTF-8. */
struct name {
	const char *mixed;
	const char *upper;
};

static const struct name families[] = {
	{ "Nguyễn", "NGUYỄN" }, { "Müller", "MÜLLER" }, { "Núñez", "NÚÑEZ" },
	{ "Okafor", "OKAFOR" }, { "Smith", "SMITH" }, { "Østergaard", "ØSTERGAARD" },
	{ "Çelik", "ÇELIK" }, { "Dubois", "DUBOIS" }, { "Wiśniewska", "WIŚNIEWSKA" },
	{ "Mensah", "MENSAH" }, { "Traoré", "TRAORÉ" }, { "Sánchez", "SÁNCHEZ" },
	{ "Björk", "BJÖRK" }, { "Ibrahim", "IBRAHIM" }, { "Đặng", "ĐẶNG" },
	{ "O'Brien", "O'BRIEN" }, { "Tarasova", "TARASOVA" }, { "Ñuñoa", "ÑUÑOA" },
};

static const struct name given_f[] = {
	{ "Thị Hương", "THỊ HƯƠNG" }, { "Amina", "AMINA" }, { "Zoë", "ZOË" },
	{ "María José", "MARÍA JOSÉ" }, { "Grace", "GRACE" }, { "Ingrid", "INGRID" },
	{ "Ayşe", "AYŞE" }, { "Chloé", "CHLOÉ" }, { "Agnieszka", "AGNIESZKA" },
	{ "Fatoumata", "FATOUMATA" },
};

static const struct name given_m[] = {
	{ "Văn Minh", "VĂN MINH" }, { "Jürgen", "JÜRGEN" }, { "José", "JOSÉ" },
	{ "Chinedu", "CHINEDU" }, { "John", "JOHN" }, { "Søren", "SØREN" },
	{ "Emre", "EMRE" }, { "François", "FRANÇOIS" }, { "Kwame", "KWAME" },
	{ "Mamadou", "MAMADOU" },
};

static const char *const places[] = { "Riverside", "Hillcrest", "Ñuñoa", "Đồng Tháp", "Würzburg", NULL };

static const char *const states[GEN_NSTATES] = {
	"draft", "enrolled", "paused", "exited", "not_eligible", "duplicated",
};

/* Cumulative per-mille of each state above: most drafts and enrolled. */
static const int state_cdf[GEN_NSTATES] = { 400, 750, 820, 890, 950, 1000 };

enum kind { KIND_HEAD = 1, KIND_SPOUSE, KIND_CHILD, KIND_OTHER };

enum end { END_NONE, END_PAST, END_FUTURE };

/* One individual of a household, with everything its rows need. */
struct person {
	int id;				/* res_partner.id */
	const struct name *given;
	const struct name *family;
	const struct name *addl;	/* NULL: none */
	const char *gender;		/* NULL: unknown */
	enum kind kind;
	enum end end;			/* of its group membership */
	int by, bm, bd;			/* birthdate */
	bool birth_null;
	bool birth_inexact;
	const char *birth_place;	/* NULL: none */
	bool disabled;
	bool has_nid, has_chf, has_bc;
	bool nid_invalid;
	bool has_phone;
	bool has_email;
	int pstate[GEN_MAX_PROGRAMMES];	/* individual programmes: state index, -1 none */
};

struct household {
	int id;				/* res_partner.id of the group */
	const struct name *family;
	int area;			/* spp_area.id, 2 to 7 */
	int rm, rd;			/* registration date in 2023: month, day */
	int sec;			/* seconds into that day */
	bool disabled;
	int pstate[GEN_MAX_PROGRAMMES];	/* group programmes: state index, -1 none */
	int n;
	struct person p[GEN_MAX_PEOPLE];
};

struct programme {
	bool group;			/* target_type group, else individual */
	const char *name;
};

/* Running ids and figures of one pass over the households. */
struct tally {
	long long partners, households, individuals, reg_ids, phones;
	long long gm, gm_ended, gm_future, rel, pm, disabled, birth_null, birth_inexact;
	long long pm_state[GEN_MAX_PROGRAMMES][GEN_NSTATES];
	int next_partner, next_reg, next_phone, next_gm, next_pm;
};

struct gen {
	long long households;
	long long seed;
	struct programme prog[GEN_MAX_PROGRAMMES];
	int nprog;
	const char *spec;		/* --programmes as given (argv) */
	char *names;			/* owned copy of it, cut into names */
};

static uint64_t
splitmix(uint64_t *s)
{
	uint64_t z = (*s += 0x9e3779b97f4a7c15ULL);

	z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ULL;
	z = (z ^ (z >> 27)) * 0x94d049bb133111ebULL;
	return z ^ (z >> 31);
}

/* A number in [0, n). */
static int
pick(uint64_t *s, int n)
{
	return (int)(splitmix(s) % (uint64_t)n);
}

static bool
chance(uint64_t *s, int per_mille)
{
	return pick(s, 1000) < per_mille;
}

static int
pick_state(uint64_t *s)
{
	int r = pick(s, 1000), i;

	for (i = 0; i < GEN_NSTATES - 1; i++)
		if (r < state_cdf[i])
			break;
	return i;
}

static void
make_person(uint64_t *s, struct person *p, const struct household *hh, enum kind kind,
    const struct gen *g)
{
	bool female = chance(s, 500);
	int age, k;

	memset(p, 0, sizeof(*p));
	p->kind = kind;
	p->given = female ? &given_f[pick(s, 10)] : &given_m[pick(s, 10)];
	/* Spouses and others keep their own family name now and then. */
	p->family = (kind == KIND_SPOUSE || kind == KIND_OTHER) && chance(s, 300) ?
	    &families[pick(s, (int)(sizeof(families) / sizeof(families[0])))] : hh->family;
	if (chance(s, 300))
		p->addl = female ? &given_f[pick(s, 10)] : &given_m[pick(s, 10)];
	p->gender = chance(s, 20) ? NULL : female ? "Female" : "Male";
	age = kind == KIND_CHILD ? pick(s, 18) : 18 + pick(s, 70);
	p->by = 2024 - age;
	p->bm = 1 + pick(s, 12);
	p->bd = 1 + pick(s, 28);
	p->birth_null = chance(s, 50);
	/* Odoo's convention for an age-only birthdate: 1 January or 1 July. */
	p->birth_inexact = !p->birth_null && chance(s, 120);
	if (p->birth_inexact) {
		p->bm = chance(s, 500) ? 1 : 7;
		p->bd = 1;
	}
	p->birth_place = places[pick(s, 6)];
	p->disabled = chance(s, 20);
	p->has_nid = age >= 16 && !chance(s, 100);
	p->nid_invalid = p->has_nid && chance(s, 30);
	p->has_chf = chance(s, 300);
	p->has_bc = age < 18 || chance(s, 100);
	p->has_phone = kind == KIND_HEAD || (age >= 18 && chance(s, 250));
	p->has_email = age >= 18 && chance(s, 200);
	for (k = 0; k < g->nprog; k++) {
		p->pstate[k] = -1;
		if (!g->prog[k].group && chance(s, 300))
			p->pstate[k] = pick_state(s);
	}
}

/*
 * Household h, from its own random stream (so that every pass sees it the
 * same), with ids taken from the running counters of @p t.
 */
static void
make_household(const struct gen *g, long long h, struct household *hh, struct tally *t)
{
	uint64_t s = (uint64_t)g->seed * 0x100000001b3ULL ^ (uint64_t)h * 0x9e3779b97f4a7c15ULL;
	int members, i, k;

	memset(hh, 0, sizeof(*hh));
	hh->family = &families[pick(&s, (int)(sizeof(families) / sizeof(families[0])))];
	hh->area = 2 + pick(&s, 6);
	hh->rm = 1 + pick(&s, 12);
	hh->rd = 1 + pick(&s, 28);
	hh->sec = pick(&s, 86400);
	hh->disabled = chance(&s, 10);
	for (k = 0; k < g->nprog; k++) {
		hh->pstate[k] = -1;
		if (!g->prog[k].group)
			continue;
		/* The first six households cover the six states in any registry. */
		hh->pstate[k] = h <= GEN_NSTATES ? (int)(h - 1) : pick_state(&s);
	}
	members = 1 + pick(&s, 8);
	for (i = 0; i < members; i++) {
		enum kind kind = i == 0 ? KIND_HEAD : i == 1 && chance(&s, 700) ? KIND_SPOUSE :
		    chance(&s, 800) ? KIND_CHILD : KIND_OTHER;

		make_person(&s, &hh->p[hh->n++], hh, kind, g);
	}
	if (chance(&s, 80)) {
		make_person(&s, &hh->p[hh->n], hh, chance(&s, 500) ? KIND_CHILD : KIND_OTHER, g);
		hh->p[hh->n++].end = END_PAST;
	}
	if (chance(&s, 20)) {
		make_person(&s, &hh->p[hh->n], hh, KIND_OTHER, g);
		hh->p[hh->n++].end = END_FUTURE;
	}
	hh->id = t->next_partner++;
	for (i = 0; i < hh->n; i++)
		hh->p[i].id = t->next_partner++;
}

/* COPY text format: backslash, tab, newline and carriage return escaped. */
static void
put_text(const char *v)
{
	const char *c;

	if (v == NULL) {
		fputs("\\N", stdout);
		return;
	}
	for (c = v; *c != '\0'; c++) {
		switch (*c) {
		case '\\': fputs("\\\\", stdout); break;
		case '\t': fputs("\\t", stdout); break;
		case '\n': fputs("\\n", stdout); break;
		case '\r': fputs("\\r", stdout); break;
		default: putchar(*c);
		}
	}
}

/* The four audit columns: created at registration in 2023, last written in 2024. */
static void
put_audit(int m, int d, int sec)
{
	printf("\t%d\t2023-%02d-%02d %02d:%02d:%02d\t%d\t2024-%02d-%02d %02d:%02d:%02d\n",
	    GEN_UID, m, d, sec / 3600, sec / 60 % 60, sec % 60,
	    GEN_UID, m, d, sec / 3600, sec / 60 % 60, sec % 60);
}

static void
put_date(bool null, int y, int m, int d)
{
	if (null)
		fputs("\\N", stdout);
	else
		printf("%04d-%02d-%02d", y, m, d);
}

static void
put_bool(bool b)
{
	fputs(b ? "t" : "f", stdout);
}

static void
partner_row(const struct household *hh, const struct person *p)
{
	char name[256], phone[32], email[96];

	if (p == NULL) {
		printf("%d\t", hh->id);
		put_text(hh->family->mixed);
		putchar('\t');
		put_text(hh->family->mixed);
		fputs("\tcontact\tf\tt\tt\t\\N\t\\N\t\\N\t\\N\t\\N\t\\N\t\\N\t", stdout);
		printf("2023-%02d-%02d\t", hh->rm, hh->rd);
		printf("%d Market Street\t\\N\t\\N\t\\N\tt\t", hh->id % 500 + 1);
		if (hh->disabled)
			printf("2024-%02d-%02d 10:00:00\tMoved away\t%d\t", hh->rm, hh->rd, GEN_UID);
		else
			fputs("\\N\t\\N\t\\N\t", stdout);
		printf("%d\t1", hh->area);
		put_audit(hh->rm, hh->rd, hh->sec);
		return;
	}
	if (p->addl != NULL)
		snprintf(name, sizeof(name), "%s, %s %s", p->family->upper, p->given->upper,
		    p->addl->upper);
	else
		snprintf(name, sizeof(name), "%s, %s", p->family->upper, p->given->upper);
	snprintf(phone, sizeof(phone), "07%08d", p->id % 100000000);
	snprintf(email, sizeof(email), "person%d@example.org", p->id);
	printf("%d\t", p->id);
	put_text(name);
	putchar('\t');
	put_text(name);
	fputs("\tcontact\tf\tt\tf\t", stdout);
	put_text(p->given->mixed);
	putchar('\t');
	put_text(p->family->mixed);
	putchar('\t');
	put_text(p->addl != NULL ? p->addl->mixed : NULL);
	putchar('\t');
	put_date(p->birth_null, p->by, p->bm, p->bd);
	putchar('\t');
	put_bool(p->birth_inexact);
	putchar('\t');
	put_text(p->birth_place);
	putchar('\t');
	put_text(p->gender);
	printf("\t2023-%02d-%02d\t", hh->rm, hh->rd);
	printf("%d Market Street\t", hh->id % 500 + 1);
	put_text(p->has_phone ? phone : NULL);
	fputs("\t\\N\t", stdout);
	put_text(p->has_email ? email : NULL);
	fputs("\tt\t", stdout);
	if (p->disabled)
		printf("2024-%02d-%02d 09:30:00\tDeceased\t%d\t", hh->rm, hh->rd, GEN_UID);
	else
		fputs("\\N\t\\N\t\\N\t", stdout);
	printf("%d\t\\N", hh->area);
	put_audit(hh->rm, hh->rd, hh->sec);
}

static void
reg_id_row(struct tally *t, const struct household *hh, int partner, int type, const char *value,
    bool invalid, bool expires)
{
	printf("%d\t%d\t%d\t", t->next_reg++, partner, type);
	put_text(value);
	putchar('\t');
	put_date(!expires, 2030 + partner % 8, hh->rm, hh->rd);
	printf("\t%s\t", invalid ? "invalid" : "valid");
	put_text(invalid ? "failed verification" : NULL);
	put_audit(hh->rm, hh->rd, hh->sec);
}

/* A programme membership: dates as its state implies them. */
static void
pm_row(struct tally *t, const struct household *hh, int partner, int k, int st)
{
	printf("%d\t%d\t%d\t%s", t->next_pm++, partner, k + 1, states[st]);
	/* enrolled, paused and exited were enrolled once */
	if (st >= 1 && st <= 3)
		printf("\t2024-%02d-%02d 12:00:00", hh->rm, hh->rd);
	else
		fputs("\t\\N", stdout);
	if (st == 3)
		printf("\t2024-%02d-%02d", hh->rm, hh->rd + 1);
	else
		fputs("\t\\N", stdout);
	printf("\t%s", st == 5 ? "duplicate" : "no_duplicate");
	put_audit(hh->rm, hh->rd, hh->sec);
}

/* The tables, in the order of the output. */
enum table {
	T_PARTNER, T_REG_ID, T_PHONE, T_GM, T_REL, T_PM, T_COUNT_ONLY,
};

/* The rows of table @p tab for household @p hh; counts every table into @p t. */

static void
emit(const struct gen *g, enum table tab, const struct household *hh, struct tally *t)
{
	char value[64];
	bool out;
	int i, k;

	t->households++;
	t->partners += 1 + hh->n;
	t->disabled += hh->disabled;
	out = tab == T_PARTNER;
	if (out)
		partner_row(hh, NULL);
	out = tab == T_REG_ID;
	t->reg_ids++;
	if (out) {
		snprintf(value, sizeof(value), "HH-%lld-%07d", g->seed, hh->id);
		reg_id_row(t, hh, hh->id, 1, value, false, false);
	}
	for (i = 0; i < hh->n; i++) {
		const struct person *p = &hh->p[i];

		t->individuals++;
		t->disabled += p->disabled;
		t->birth_null += p->birth_null;
		t->birth_inexact += p->birth_inexact;
		if (tab == T_PARTNER)
			partner_row(hh, p);
		out = tab == T_REG_ID;
		if (p->has_nid) {
			t->reg_ids++;
			snprintf(value, sizeof(value), "%02lld%08d", g->seed % 100, p->id);
			if (out)
				reg_id_row(t, hh, p->id, 1, value, p->nid_invalid, true);
		}
		if (p->has_chf) {
			t->reg_ids++;
			snprintf(value, sizeof(value), "CHF%09d", p->id);
			if (out)
				reg_id_row(t, hh, p->id, 2, value, false, false);
		}
		if (p->has_bc) {
			t->reg_ids++;
			snprintf(value, sizeof(value), "BC/%d/%06d", p->by, p->id);
			if (out)
				reg_id_row(t, hh, p->id, 3, value, false, false);
		}
		if (p->has_phone) {
			t->phones++;
			if (tab == T_PHONE) {
				printf("%d\t%d\t07%08d\t+2557%08d\t2023-%02d-%02d\t\\N\t\\N",
				    t->next_phone++, p->id, p->id % 100000000, p->id % 100000000,
				    hh->rm, hh->rd);
				put_audit(hh->rm, hh->rd, hh->sec);
			}
		}
		t->gm++;
		t->rel++;
		t->gm_ended += p->end == END_PAST;
		t->gm_future += p->end == END_FUTURE;
		if (tab == T_GM) {
			printf("%d\t%d\t%d\t2023-%02d-%02d 00:00:00\t", t->next_gm, hh->id, p->id,
			    hh->rm, hh->rd);
			if (p->end == END_PAST)
				printf("2024-%02d-%02d 00:00:00\tinactive\tt", hh->rm, hh->rd);
			else if (p->end == END_FUTURE)
				fputs("2099-12-31 00:00:00\tactive\tf", stdout);
			else
				fputs("\\N\tactive\tf", stdout);
			put_audit(hh->rm, hh->rd, hh->sec);
		}
		if (tab == T_REL)
			printf("%d\t%d\n", t->next_gm, (int)p->kind);
		t->next_gm++;
		for (k = 0; k < g->nprog; k++) {
			if (p->pstate[k] < 0)
				continue;
			t->pm++;
			t->pm_state[k][p->pstate[k]]++;
			if (tab == T_PM)
				pm_row(t, hh, p->id, k, p->pstate[k]);
		}
	}
	for (k = 0; k < g->nprog; k++) {
		if (hh->pstate[k] < 0)
			continue;
		t->pm++;
		t->pm_state[k][hh->pstate[k]]++;
		if (tab == T_PM)
			pm_row(t, hh, hh->id, k, hh->pstate[k]);
	}
}

/* One pass over every household for table @p tab; returns the figures. */
static void
pass(const struct gen *g, enum table tab, struct tally *t)
{
	struct household hh;
	long long h;

	memset(t, 0, sizeof(*t));
	/* Odoo's own partners come first: the company and the administrator. */
	t->next_partner = 3;
	t->next_reg = t->next_phone = t->next_gm = t->next_pm = 1;
	t->partners = 2;
	for (h = 1; h <= g->households; h++) {
		make_household(g, h, &hh, t);
		emit(g, tab, &hh, t);
	}
}

static const char *const copy_heads[] = {
	[T_PARTNER] = "COPY res_partner (id, name, complete_name, type, is_company, is_registrant, "
	    "is_group, given_name, family_name, addl_name, birthdate, birthdate_not_exact, "
	    "birth_place, gender, registration_date, address, phone, mobile, email, active, "
	    "disabled, disabled_reason, disabled_by, area_id, kind, create_uid, create_date, "
	    "write_uid, write_date) FROM stdin;",
	[T_REG_ID] = "COPY g2p_reg_id (id, partner_id, id_type, value, expiry_date, status, "
	    "description, create_uid, create_date, write_uid, write_date) FROM stdin;",
	[T_PHONE] = "COPY g2p_phone_number (id, partner_id, phone_no, phone_sanitized, "
	    "date_collected, disabled, disabled_by, create_uid, create_date, write_uid, "
	    "write_date) FROM stdin;",
	[T_GM] = "COPY g2p_group_membership (id, \"group\", individual, start_date, ended_date, "
	    "status, is_ended, create_uid, create_date, write_uid, write_date) FROM stdin;",
	[T_REL] = "COPY g2p_group_membership_g2p_group_membership_kind_rel "
	    "(g2p_group_membership_id, g2p_group_membership_kind_id) FROM stdin;",
	[T_PM] = "COPY g2p_program_membership (id, partner_id, program_id, state, "
	    "enrollment_date, exit_date, deduplication_status, create_uid, create_date, "
	    "write_uid, write_date) FROM stdin;",
};

static void
print_counts(const struct gen *g, const struct tally *t, const char *prefix)
{
	int k, i;

	printf("%shouseholds %lld\n", prefix, t->households);
	printf("%sindividuals %lld\n", prefix, t->individuals);
	printf("%sres_partner %lld\n", prefix, t->partners);
	printf("%sg2p_reg_id %lld\n", prefix, t->reg_ids);
	printf("%sg2p_phone_number %lld\n", prefix, t->phones);
	printf("%sg2p_group_membership %lld\n", prefix, t->gm);
	printf("%sg2p_group_membership_g2p_group_membership_kind_rel %lld\n", prefix, t->rel);
	printf("%sg2p_program %d\n", prefix, g->nprog);
	printf("%sg2p_program_membership %lld\n", prefix, t->pm);
	printf("%smemberships_ended %lld\n", prefix, t->gm_ended);
	printf("%smemberships_ending_later %lld\n", prefix, t->gm_future);
	printf("%sdisabled %lld\n", prefix, t->disabled);
	printf("%sbirthdate_missing %lld\n", prefix, t->birth_null);
	printf("%sbirthdate_inexact %lld\n", prefix, t->birth_inexact);
	for (k = 0; k < g->nprog; k++)
		for (i = 0; i < GEN_NSTATES; i++)
			printf("%sprogram_%d_%s %lld\n", prefix, k + 1, states[i], t->pm_state[k][i]);
}

static void
generate(const struct gen *g)
{
	static const char *const seqs[][2] = {
		{ "res_partner", "res_partner_id_seq" },
		{ "g2p_reg_id", "g2p_reg_id_id_seq" },
		{ "g2p_phone_number", "g2p_phone_number_id_seq" },
		{ "g2p_group_membership", "g2p_group_membership_id_seq" },
		{ "g2p_program", "g2p_program_id_seq" },
		{ "g2p_program_membership", "g2p_program_membership_id_seq" },
	};
	struct tally t;
	int tab, k;
	size_t i;

	printf("-- synthetic openSPP 17 registry: %s --households %lld --seed %lld --programmes %s\n",
	    GEN_NAME, g->households, g->seed, g->spec);
	puts("SET client_encoding = 'UTF8';");
	puts("INSERT INTO res_partner (id, name, complete_name, type, is_company, is_registrant, "
	    "is_group, active, create_uid, create_date, write_uid, write_date) VALUES\n"
	    "\t(1, 'YourCompany', 'YourCompany', 'contact', true, false, false, true, 1, "
	    "'2023-01-01 00:00:00', 1, '2023-01-01 00:00:00'),\n"
	    "\t(2, 'Administrator', 'Administrator', 'contact', false, false, false, true, 1, "
	    "'2023-01-01 00:00:00', 1, '2023-01-01 00:00:00');");
	puts("INSERT INTO g2p_program (id, name, target_type, state, active, create_uid, "
	    "create_date, write_uid, write_date) VALUES");
	for (k = 0; k < g->nprog; k++) {
		printf("\t(%d, '", k + 1);
		for (i = 0; g->prog[k].name[i] != '\0'; i++) {
			if (g->prog[k].name[i] == '\'')
				putchar('\'');
			putchar(g->prog[k].name[i]);
		}
		printf("', '%s', 'active', true, %d, '2023-01-01 00:00:00', %d, "
		    "'2023-01-01 00:00:00')%s\n", g->prog[k].group ? "group" : "individual",
		    GEN_UID, GEN_UID, k + 1 < g->nprog ? "," : ";");
	}
	for (tab = T_PARTNER; tab <= T_PM; tab++) {
		puts(copy_heads[tab]);
		pass(g, (enum table)tab, &t);
		puts("\\.");
	}
	for (i = 0; i < sizeof(seqs) / sizeof(seqs[0]); i++)
		printf("SELECT setval('%s', (SELECT coalesce(max(id), 0) + 1 FROM %s), false);\n",
		    seqs[i][1], seqs[i][0]);
	pass(g, T_COUNT_ONLY, &t);
	print_counts(g, &t, "-- count ");
}

/* A membership of an individual in a household enrolled in programme P. */
#define ENROLLED_MEMBER(p) \
	"SELECT gm.id, gm.individual, gm.\"group\" FROM g2p_group_membership gm " \
	"JOIN g2p_program_membership pm ON pm.partner_id = gm.\"group\" " \
	"AND pm.program_id = " p " AND pm.state = 'enrolled' " \
	"WHERE (gm.ended_date IS NULL OR gm.ended_date > (now() AT TIME ZONE 'UTC')) "

#define KIND_REL "g2p_group_membership_g2p_group_membership_kind_rel"

#define NOT_HEAD \
	"AND NOT EXISTS (SELECT 1 FROM " KIND_REL " r " \
	"WHERE r.g2p_group_membership_id = gm.id AND r.g2p_group_membership_kind_id = 1) "

#define NOW_UTC "(now() AT TIME ZONE 'UTC')"

/*
 * Prints one transaction moving the memberships of programme @p p in state
 * @p from to state @p to, setting the columns @p set as well ("" or
 * "column = value,\n\t"), the first ones by id when @p limit is " LIMIT n".
 */
static void
print_move(const char *p, const char *from, const char *to, const char *set, const char *limit)
{
	printf("BEGIN;\n"
	    "UPDATE g2p_program_membership SET state = '%s', %swrite_uid = %d, write_date = %s\n"
	    "WHERE id IN (SELECT id FROM g2p_program_membership\n"
	    "\tWHERE program_id = %s AND state = '%s' ORDER BY id%s);\n"
	    "COMMIT;\n", to, set, GEN_UID, NOW_UTC, p, from, limit);
}

static int
scenario(const char *name, long long prog, long long count)
{
	char p[24], limit[40];

	snprintf(p, sizeof(p), "%lld", prog);
	limit[0] = '\0';
	if (count > 0)
		snprintf(limit, sizeof(limit), " LIMIT %lld", count);
	printf("-- scenario %s, programme %s\n", name, p);
	if (strcmp(name, "targeting") == 0) {
		print_move(p, "draft", "enrolled", "enrollment_date = " NOW_UTC ",\n\t", limit);
	} else if (strcmp(name, "pause-exit") == 0) {
		if (count <= 0)
			snprintf(limit, sizeof(limit), " LIMIT 10");
		print_move(p, "enrolled", "paused", "", limit);
		print_move(p, "enrolled", "exited", "exit_date = " NOW_UTC "::date,\n\t", limit);
	} else if (strcmp(name, "birthdate-fix") == 0) {
		printf("BEGIN;\n"
		    "WITH target AS (SELECT e.\"group\", e.individual FROM (" ENROLLED_MEMBER("%s") ") e\n"
		    "\tJOIN res_partner rp ON rp.id = e.individual\n"
		    "\tWHERE rp.birthdate_not_exact AND rp.birthdate IS NOT NULL\n"
		    "\tORDER BY e.individual LIMIT 1)\n"
		    "UPDATE res_partner rp SET birthdate = make_date(extract(year FROM rp.birthdate)::int, 3, 15),\n"
		    "\tbirthdate_not_exact = false, write_uid = %d, write_date = %s\n"
		    "FROM target WHERE rp.id = target.individual\n"
		    "RETURNING 'target', target.\"group\", rp.id;\n"
		    "COMMIT;\n", p, GEN_UID, NOW_UTC);
	} else if (strcmp(name, "member-leaves") == 0) {
		printf("BEGIN;\n"
		    "WITH target AS (" ENROLLED_MEMBER("%s") NOT_HEAD "ORDER BY gm.id LIMIT 1),\n"
		    "ended AS (UPDATE g2p_group_membership gm SET ended_date = %s, status = 'inactive',\n"
		    "\tis_ended = true, write_uid = %d, write_date = %s\n"
		    "\tFROM target WHERE gm.id = target.id RETURNING gm.\"group\", gm.individual)\n"
		    "UPDATE res_partner rp SET write_uid = %d, write_date = %s\n"
		    "FROM ended WHERE rp.id = ended.\"group\"\n"
		    "RETURNING 'target', ended.\"group\", ended.individual;\n"
		    "COMMIT;\n", p, NOW_UTC, GEN_UID, NOW_UTC, GEN_UID, NOW_UTC);
	} else if (strcmp(name, "registrant-deleted") == 0) {
		printf("BEGIN;\n"
		    "WITH target AS (SELECT e.\"group\", e.individual FROM\n"
		    "\t(" ENROLLED_MEMBER("%s") NOT_HEAD ") e ORDER BY e.individual LIMIT 1)\n"
		    "DELETE FROM res_partner rp USING target WHERE rp.id = target.individual\n"
		    "RETURNING 'target', target.\"group\", rp.id;\n"
		    "COMMIT;\n", p);
	} else if (strcmp(name, "noise") == 0) {
		if (count <= 0)
			snprintf(limit, sizeof(limit), " LIMIT 1");
		/* Only write_date: the aggregates Odoo recomputes are not in the schema. */
		printf("BEGIN;\n"
		    "UPDATE res_partner rp SET write_uid = %d, write_date = %s\n"
		    "FROM (SELECT pm.partner_id FROM g2p_program_membership pm\n"
		    "\tJOIN res_partner g ON g.id = pm.partner_id AND g.is_group\n"
		    "\tWHERE pm.program_id = %s AND pm.state = 'enrolled' ORDER BY pm.partner_id%s) t\n"
		    "WHERE rp.id = t.partner_id\n"
		    "RETURNING 'target', rp.id, NULL;\n"
		    "COMMIT;\n", GEN_UID, NOW_UTC, p, limit);
	} else if (strcmp(name, "new-head") == 0) {
		/*
		 * One statement: the household and both memberships are chosen
		 * once, before the Head kind leaves the old one.
		 */
		printf("BEGIN;\n"
		    "WITH m AS (SELECT e.id, e.\"group\", e.individual,\n"
		    "\tEXISTS (SELECT 1 FROM " KIND_REL " r WHERE r.g2p_group_membership_id = e.id\n"
		    "\t\tAND r.g2p_group_membership_kind_id = 1) AS head,\n"
		    "\tEXISTS (SELECT 1 FROM " KIND_REL " r WHERE r.g2p_group_membership_id = e.id\n"
		    "\t\tAND r.g2p_group_membership_kind_id = 2) AS spouse\n"
		    "\tFROM (" ENROLLED_MEMBER("%s") ") e),\n"
		    "hh AS (SELECT \"group\" FROM m GROUP BY \"group\"\n"
		    "\tHAVING bool_or(head) AND bool_or(NOT head) ORDER BY \"group\" LIMIT 1),\n"
		    "old_head AS (SELECT m.id FROM m JOIN hh USING (\"group\") WHERE m.head),\n"
		    "new_head AS (SELECT m.id, m.\"group\", m.individual FROM m JOIN hh USING (\"group\")\n"
		    "\tWHERE NOT m.head ORDER BY m.spouse DESC, m.id LIMIT 1),\n"
		    "del AS (DELETE FROM " KIND_REL " r USING old_head\n"
		    "\tWHERE r.g2p_group_membership_id = old_head.id AND r.g2p_group_membership_kind_id = 1\n"
		    "\tRETURNING r.g2p_group_membership_id),\n"
		    "ins AS (INSERT INTO " KIND_REL "\n"
		    "\t(g2p_group_membership_id, g2p_group_membership_kind_id)\n"
		    "\tSELECT new_head.id, 1 FROM new_head RETURNING g2p_group_membership_id),\n"
		    "touched AS (UPDATE g2p_group_membership gm SET write_uid = %d, write_date = %s\n"
		    "\tWHERE gm.id IN (SELECT id FROM old_head UNION ALL SELECT id FROM new_head) RETURNING gm.id)\n"
		    "SELECT 'target', new_head.\"group\", new_head.individual FROM new_head\n"
		    "WHERE (SELECT count(*) FROM del) = 1 AND (SELECT count(*) FROM ins) = 1\n"
		    "\tAND (SELECT count(*) FROM touched) = 2;\n"
		    "COMMIT;\n", p, GEN_UID, NOW_UTC);
	} else if (strcmp(name, "id-change") == 0) {
		printf("BEGIN;\n"
		    "WITH target AS (SELECT e.\"group\", e.individual FROM (" ENROLLED_MEMBER("%s") ") e\n"
		    "\tJOIN g2p_reg_id i ON i.partner_id = e.individual AND i.id_type = 1\n"
		    "\tAND i.status = 'valid' ORDER BY e.individual LIMIT 1)\n"
		    "UPDATE g2p_reg_id i SET value = '9' || i.value, write_uid = %d, write_date = %s\n"
		    "FROM target WHERE i.partner_id = target.individual AND i.id_type = 1\n"
		    "RETURNING 'target', target.\"group\", target.individual;\n"
		    "COMMIT;\n", p, GEN_UID, NOW_UTC);
	} else {
		return -1;
	}
	return 0;
}

static const char *const default_names[] = {
	"Community health insurance", "Elderly cash transfer", "School feeding",
	"Disability allowance", "Public works", "Emergency relief", "Nutrition support",
	"Housing grant",
};

/*
 * Parses "group[:NAME],individual[:NAME],..." into @p g; false when invalid.
 * The names point into g->names, a copy of @p spec cut at its commas.
 */
static bool
parse_programmes(struct gen *g, const char *spec)
{
	char *item, *next, *colon;

	g->spec = spec;
	free(g->names);
	g->names = il_xstrdup(spec);
	g->nprog = 0;
	for (item = g->names; item != NULL; item = next) {
		next = strchr(item, ',');
		if (next != NULL)
			*next++ = '\0';
		if (g->nprog == GEN_MAX_PROGRAMMES)
			return false;
		colon = strchr(item, ':');
		if (colon != NULL)
			*colon++ = '\0';
		if (strcmp(item, "group") == 0)
			g->prog[g->nprog].group = true;
		else if (strcmp(item, "individual") == 0)
			g->prog[g->nprog].group = false;
		else
			return false;
		g->prog[g->nprog].name = colon != NULL && *colon != '\0' ? colon :
		    default_names[g->nprog];
		g->nprog++;
	}
	return true;
}

static void
usage(int code)
{
	fprintf(code == 0 ? stdout : stderr,
	    "usage: %s [--households N] [--seed S] [--programmes LIST] [--summary]\n"
	    "       %s --scenario NAME [--program P] [--count K]\n"
	    "\n"
	    "Writes a synthetic openSPP 17 registry as SQL (COPY blocks) on stdout,\n"
	    "for a database loaded with tests/data/openspp/schema.sql.\n"
	    "  --households N     households to generate (default 100)\n"
	    "  --seed S           random seed (default 1)\n"
	    "  --programmes LIST  comma-separated group|individual[:NAME]\n"
	    "                     (default \"group,individual\")\n"
	    "  --summary          print only the figures, \"NAME N\" a line\n"
	    "  --scenario NAME    print the SQL of one scenario instead: targeting,\n"
	    "                     pause-exit, birthdate-fix, member-leaves,\n"
	    "                     registrant-deleted, noise, new-head, id-change\n"
	    "                     (those of one household answer a row\n"
	    "                     \"target|HOUSEHOLD|REGISTRANT\", res_partner ids)\n"
	    "  --program P        the scenario's programme (default 1)\n"
	    "  --count K          memberships the scenario changes (targeting: all\n"
	    "                     drafts; pause-exit: 10 each), or households\n"
	    "                     (noise: 1)\n"
	    "\n"
	    "Examples:\n"
	    "  %s --households 2000 --seed 7 | psql -q -v ON_ERROR_STOP=1\n"
	    "  %s --scenario targeting --program 1 --count 500 | psql -q\n",
	    GEN_NAME, GEN_NAME, GEN_NAME, GEN_NAME);
	exit(code);
}

int
main(int argc, char **argv)
{
	static const struct option longopts[] = {
		/* registry */
		{ "households", required_argument, NULL, 'n' },
		{ "seed", required_argument, NULL, 's' },
		{ "programmes", required_argument, NULL, 'p' },
		{ "summary", no_argument, NULL, 'S' },
		/* scenarios */
		{ "scenario", required_argument, NULL, 'c' },
		{ "program", required_argument, NULL, 'P' },
		{ "count", required_argument, NULL, 'k' },
		{ "help", no_argument, NULL, 'h' },
		{ NULL, 0, NULL, 0 },
	};
	struct gen g;			/* the registry's shape */
	const char *scen = NULL;	/* --scenario */
	long long prog = 1;		/* --program */
	long long count = 0;		/* --count, 0: the scenario's default */
	bool summary = false;		/* --summary */
	struct tally t;
	int c, rc = 0;

	il_log_init(GEN_NAME, IL_LOG_WARN, NULL);
	memset(&g, 0, sizeof(g));
	g.households = 100;
	g.seed = 1;
	if (!parse_programmes(&g, "group,individual"))
		il_cli_fatal("invalid default programmes");
	while ((c = getopt_long(argc, argv, "", longopts, NULL)) != -1) {
		switch (c) {
		case 'n':
			if (!il_cli_parse_int(optarg, 0, 10000000, &g.households))
				il_cli_fatal("invalid --households: expected 0 to 10000000, got \"%s\"", optarg);
			break;
		case 's':
			if (!il_cli_parse_int(optarg, 0, 1000000000, &g.seed))
				il_cli_fatal("invalid --seed: expected 0 to 1000000000, got \"%s\"", optarg);
			break;
		case 'p':
			if (!parse_programmes(&g, optarg))
				il_cli_fatal("invalid --programmes: expected 1 to %d of "
				    "group|individual[:NAME], got \"%s\"", GEN_MAX_PROGRAMMES, optarg);
			break;
		case 'S': summary = true; break;
		case 'c': scen = optarg; break;
		case 'P':
			if (!il_cli_parse_int(optarg, 1, 1000000, &prog))
				il_cli_fatal("invalid --program: \"%s\"", optarg);
			break;
		case 'k':
			if (!il_cli_parse_int(optarg, 0, 100000000, &count))
				il_cli_fatal("invalid --count: \"%s\"", optarg);
			break;
		case 'h':
			free(g.names);
			usage(0);
			break;
		default:
			il_cli_bad_usage(GEN_NAME, "invalid option", argv[optind - 1]);
		}
	}
	if (optind != argc)
		il_cli_bad_usage(GEN_NAME, "unexpected argument", argv[optind]);
	if (scen != NULL) {
		if (scenario(scen, prog, count) != 0) {
			free(g.names);
			il_cli_fatal("unknown scenario \"%s\"", scen);
		}
	} else if (summary) {
		pass(&g, T_COUNT_ONLY, &t);
		print_counts(&g, &t, "");
	} else {
		generate(&g);
	}
	free(g.names);
	if (fflush(stdout) != 0 || ferror(stdout)) {
		il_log_error("could not write to standard output");
		rc = 1;
	}
	return rc;
}
