/*
 * emit.c - the emitter of emit.h: batches of openSPP changes become
 * EligibilityEvents on Kafka.
 *
 * A flush costs at most four queries, whatever the batch holds:
 *  1. gm_sql: the household of each CDC_HOUSEHOLD_OF_GM change (primary
 *     key lookups);
 *  2. enrolled_sql: the ENROLLED memberships in configured programmes of the
 *     registrants and households changed;
 *  3. enrich_sql: everything the events carry about every partner of the
 *     batch (registrant, household, members, IDs, phones, roles);
 *  4. programme_sql: the programmes named by the events.
 * Queries 1 and 2 run only when the batch holds such changes (and a SET
 * DateStyle only on a session not printing dates as ISO).  The events are
 * then built, keyed, encoded and queued by the encoder thread, batch after
 * batch in flush order, so events of one key follow the order of their
 * changes (the pipeline is described in emit.h).  REGISTRANT_UPDATED and
 * HOUSEHOLD_CHANGED always carry "#p<programme id>" in their position, so
 * that an event's id does not depend on how many programmes it fanned out to.
 *
 * enrich_sql answers plain typed rows, not JSON: building the JSON in the
 * server (json_build_object, json_agg) cost several times the reads on a
 * registry of 20,000 households, and the text had to be parsed here anyway.
 */
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <cjson/cJSON.h>
#include <librdkafka/rdkafka.h>

#include "avro.h"
#include "buf.h"
#include "dlq.h"
#include "emit.h"
#include "kafka.h"
#include "log.h"
#include "pgrepl.h"
#include "serde.h"
#include "sig.h"
#include "text.h"
#include "timefmt.h"
#include "xalloc.h"

/* Array literals of one flush: ids of at most a few batches. */
#define EMIT_ARRAY_MAX ((size_t)64 << 20)
/* How long one send waits on a full queue, and one wait polls, before
 * looking at the stop flag again. */
#define EMIT_BLOCK_MS 100

/* The event types the emitter makes, in the order of ev_names. */
enum { EV_MEMBERSHIP, EV_REGISTRANT, EV_HOUSEHOLD, EV_NTYPES };

static const char *const ev_names[EV_NTYPES] = {
	"MEMBERSHIP_CHANGED", "REGISTRANT_UPDATED", "HOUSEHOLD_CHANGED",
};

/*
 * A membership is active until its ended_date (UTC, without time zone):
 * Odoo leaves status and is_ended stale for end dates in the future.
 */
#define GM_ACTIVE "(gm.ended_date IS NULL OR gm.ended_date > (now() AT TIME ZONE 'UTC'))"

static const char gm_sql[] =
	"SELECT id, \"group\" FROM g2p_group_membership WHERE id = ANY($1::int[]) ORDER BY id";

/*
 * $1 registrants (their own memberships and their households'), $2
 * households (their own), $3 the configured programmes or NULL.  A
 * membership of the partner itself wins over its household's.  The
 * household scan (no index on individual) is skipped without registrants.
 */
static const char enrolled_sql[] =
	"WITH p AS (SELECT unnest($1::int[]) AS id UNION SELECT unnest($2::int[])), "
	"own AS (SELECT id AS pid, id AS owner FROM p "
	"  UNION SELECT gm.individual, gm.\"group\" FROM g2p_group_membership gm "
	"  WHERE cardinality($1::int[]) > 0 AND gm.individual = ANY($1::int[]) AND " GM_ACTIVE ") "
	"SELECT DISTINCT ON (own.pid, m.program_id) own.pid, m.program_id, m.id, "
	"  to_char(m.enrollment_date, 'YYYY-MM-DD\"T\"HH24:MI:SS.MS\"Z\"'), m.exit_date::text "
	"FROM own JOIN g2p_program_membership m ON m.partner_id = own.owner "
	"WHERE m.state = 'enrolled' AND ($3::int[] IS NULL OR m.program_id = ANY($3::int[])) "
	"ORDER BY own.pid, m.program_id, m.partner_id <> own.pid, m.id";

/*
 * Rows of enrich_sql: (kind, a, b, t1..t15), kinds as enum row_kind.
 * A partner's household is the group itself, or else the first group it is
 * an active member of.  $1 is joined as a set (ids), never compared with
 * other CTEs, so the row estimates stay small and the plan stays on index
 * lookups; people is made unique once, and registrants, IDs and roles are
 * read by `= ANY(ARRAY(...))` on keys stock Odoo has (the primary key, the
 * unique (id_type, partner_id), the kind link's key); phones by a semi-join,
 * as stock Odoo indexes nothing there.  Values are printed as PostgreSQL
 * prints them (dates need DateStyle ISO, see iso_dates()): to_char() cost
 * more than the reads.  Measured on 100,000 households, 1,000 partners:
 * 66 ms of backend CPU, 12-20% less than the CTE chain it replaced (and half
 * for a few partners); what remains is about 23,000 index lookups and
 * 24,000 rows.
 */
#define ENRICH_HEAD \
	"WITH ids AS MATERIALIZED (SELECT unnest($1::int[]) AS id), " \
	"hh1 AS MATERIALIZED (SELECT pid, min(hid) AS hid FROM (SELECT r.id AS pid, r.id AS hid " \
	"  FROM ids JOIN res_partner r ON r.id = ids.id WHERE r.is_group UNION ALL SELECT gm.individual, gm.\"group\" " \
	"  FROM ids JOIN g2p_group_membership gm ON gm.individual = ids.id WHERE " GM_ACTIVE ") h GROUP BY pid), " \
	"mem AS MATERIALIZED (SELECT gm.id AS gmid, gm.\"group\" AS hid, gm.individual, gm.start_date, gm.ended_date " \
	"  FROM g2p_group_membership gm WHERE gm.\"group\" IN (SELECT hid FROM hh1) AND " GM_ACTIVE "), " \
	"people AS MATERIALIZED (SELECT id FROM (SELECT id FROM ids UNION ALL SELECT hid FROM hh1 " \
	"  UNION ALL SELECT individual FROM mem) u GROUP BY id ORDER BY id) " \
	"SELECT 0, pid, hid, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL FROM hh1 " \
	"UNION ALL SELECT 1, hid, gmid, individual::text, start_date::date::text, ended_date::date::text, " \
	"  NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL FROM mem " \
	"UNION ALL SELECT 2, r.id, 0, r.is_group::text, r.name, r.given_name, r.family_name, r.addl_name, r.gender, " \
	"  r.birthdate::text, r.birthdate_not_exact::text, r.birth_place, r.registration_date::text, r.email, r.address, " \
	"  a.id::text, a.code, a.name FROM res_partner r LEFT JOIN spp_area a ON a.id = r.area_id " \
	"  WHERE r.id = ANY(ARRAY(SELECT id FROM people)) "

/* IDs on the unique key (id_type, partner_id). */
#define ENRICH_IDS \
	"UNION ALL SELECT 3, x.partner_id, t.id, t.name, x.value, x.status, x.expiry_date::text, x.description, " \
	"  NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL FROM g2p_reg_id x JOIN g2p_id_type t ON t.id = x.id_type " \
	"  WHERE x.partner_id = ANY(ARRAY(SELECT id FROM people)) " \
	"  AND x.id_type = ANY(ARRAY(SELECT id FROM g2p_id_type)) AND x.value IS NOT NULL "
#define ENRICH_TAIL \
	"UNION ALL SELECT 4, p.partner_id, p.id, p.phone_no, p.phone_sanitized, p.date_collected::text, " \
	"  NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL " \
	"  FROM g2p_phone_number p WHERE p.partner_id IN (SELECT id FROM people) AND p.disabled IS NULL " \
	"UNION ALL SELECT 5, k.g2p_group_membership_id, gk.id, gk.name, NULL, NULL, NULL, NULL, NULL, NULL, " \
	"  NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL FROM g2p_group_membership_g2p_group_membership_kind_rel k " \
	"  JOIN g2p_group_membership_kind gk ON gk.id = k.g2p_group_membership_kind_id " \
	"  WHERE k.g2p_group_membership_id = ANY(ARRAY(SELECT gmid FROM mem))"

static const char enrich_sql[] = ENRICH_HEAD ENRICH_IDS ENRICH_TAIL;

static const char programme_sql[] =
	"SELECT id, name, upper(target_type) FROM g2p_program WHERE id = ANY($1::int[]) ORDER BY id";

/* The first column of enrich_sql; a and b are its second and third. */
typedef enum row_kind {
	R_HOUSEHOLD = 0,        /* a partner, b its household */
	R_MEMBER,               /* a household, b g2p_group_membership id; individual, start, end */
	R_PERSON,               /* a res_partner id; is_group .. area name */
	R_EXTID,                /* a partner, b id type; type, value, status, expiry, description */
	R_PHONE,                /* a partner, b phone id; number, sanitized, date collected */
	R_ROLE,                 /* a g2p_group_membership id, b kind id; kind name */
} row_kind;

/* Column of text field n (1-based) of an enrich_sql row. */
#define T(n) (2 + (n))

/* One enrich_sql row, for lookups by (kind, a) in (kind, a, b) order. */
typedef struct rowref {
	int kind;
	int row;                /* in the PGresult */
	long long a;
	long long b;
} rowref;

/* A growable list of ids, kept between flushes. */
typedef struct idvec {
	long long *v;
	size_t n;
	size_t cap;
} idvec;

/* The query parameters of a flush being collected; one per reading thread. */
typedef struct params {
	idvec ids[4];
	il_buf arr;             /* their array literals */
} params;

static void
params_init(params *p)
{
	memset(p, 0, sizeof(*p));
	il_buf_init(&p->arr, EMIT_ARRAY_MAX);
}

static void
params_free(params *p)
{
	size_t i;

	for (i = 0; i < sizeof(p->ids) / sizeof(p->ids[0]); i++)
		free(p->ids[i].v);
	il_buf_free(&p->arr);
}

/* What one flush read; owned by its job. */
typedef struct flush {
	PGresult *gm;           /* id, group; by id */
	PGresult *enr;          /* partner, programme, membership id, enrolled, exit; by partner, programme */
	PGresult *rows;         /* enrich_sql */
	PGresult *prog;         /* id, name, target type; by id */
	rowref *ix;             /* rows sorted by kind, a, b */
	size_t nix;
	char produced[IL_TIME_LEN];
} flush;

/*
 * A flushed batch with what its queries read, on its way from the thread
 * that reads (the caller's) to the encoder thread, which builds, encodes and
 * queues its events.  Jobs are encoded one at a time in flush order, so
 * events of one key reach Kafka in the order of their changes.
 */
typedef struct job {
	struct job *next;
	unsigned long long seq; /* flush order, from 1 */
	cdc_change *batch;      /* owned */
	long long *target;      /* owned; per change: the partner its events are about, 0 for none */
	size_t n;
	flush f;
	bool read;              /* its queries are done (err says how) */
	il_err err;
	char errbuf[1024];
} job;

/*
 * A thread with its own connection that runs the queries of one job at a
 * time, in a REPEATABLE READ transaction: the events of a batch show one
 * state of the registry.
 */
typedef struct reader {
	cdc_emitter *e;
	pthread_t thread;
	bool started;
	PGconn *db;             /* opened on the first job and after a failure */
	PGcancel *cancel;       /* of db, for another thread; guarded by e->lock */
	params p;
	job *job;               /* assigned, NULL when idle; guarded by e->lock */
} reader;

struct cdc_emitter {
	il_event_ctx ectx;              /* instance and key ID type */
	const char *source_kind;        /* "CDC" or "POLL" */
	const char *topic;              /* topic.eligibility */
	const char *dlq_topic;          /* topic.dlq: events that cannot be keyed or encoded */
	long long *programmes;          /* configured programmes, owned copy */
	size_t nprogrammes;
	char *programme_array;          /* "{1,2}", or NULL for every programme */
	const char *conninfo;           /* openSPP's database, for the readers */
	cdc_change *batch;              /* batch_size slots */
	size_t nbatch;
	size_t batch_size;
	params p;                       /* of the flushes read on the caller's connection */
	il_buf val;                     /* encoded value, reused for every event */
	il_schema_set *schemas;
	const il_schema *schema;        /* EligibilityEvent, latest */
	il_serde *serde;
	il_producer *prod;
	pthread_t encoder;
	bool encoder_started;
	reader *readers;
	size_t nreaders;
	size_t jobs_max;                /* jobs in the pipeline at most */
	/*
	 * The caller's thread, the readers and the encoder share what follows
	 * under lock: the jobs, their outcome, and the delivery counts (reports
	 * are served by whichever thread polls the producer).
	 */
	pthread_mutex_t lock;
	pthread_cond_t cond;            /* any change of what follows */
	job *head, *tail;               /* in flush order; head is encoded next */
	size_t njobs;
	unsigned long long seq;         /* of the last job */
	unsigned long long drop_upto;   /* jobs up to this one are dropped, not encoded */
	unsigned long long encoding;    /* the job being encoded */
	bool snapshotting;              /* a reader is taking its snapshot: the next waits */
	bool quit;
	il_err job_err;                 /* the first job that failed; later ones are dropped */
	char job_errbuf[1024];
	long pending;                   /* events queued, not yet reported */
	long failed;                    /* events refused since the last wait */
	char fail_reason[256];          /* the first refusal's reason */
	bool dropping;                  /* being destroyed: refusals are purges */
	il_metric *m_produced[EV_NTYPES];
	il_metric *m_failures;
	il_metric *m_dead_letters;
};

static void
delivered(void *msg_opaque, il_err err, const char *errstr, const char *topic,
    int32_t partition, int64_t offset, void *cb_ctx)
{
	cdc_emitter *e = cb_ctx;

	(void)topic;
	(void)partition;
	(void)offset;
	if (err == IL_OK) {
		/* the opaque is the counter of the event's type */
		il_metric_inc(msg_opaque, 1);
	} else if (!e->dropping) {
		il_metric_inc(e->m_failures, 1);
	}
	pthread_mutex_lock(&e->lock);
	e->pending--;
	if (err != IL_OK && !e->dropping && e->failed++ == 0)
		snprintf(e->fail_reason, sizeof(e->fail_reason), "%s", errstr != NULL ? errstr : "unknown");
	pthread_mutex_unlock(&e->lock);
}

static void
idvec_push(idvec *x, long long id)
{
	if (x->n == x->cap) {
		x->cap = x->cap > 0 ? x->cap * 2 : 256;
		x->v = il_xrealloc(x->v, x->cap * sizeof(x->v[0]));
	}
	x->v[x->n++] = id;
}

/* Appends "{1,2}" and its NUL to @p b; @p off receives where it starts. */
static il_err
put_array(il_buf *b, const idvec *x, size_t *off, char *errbuf, size_t errsz)
{
	size_t i;

	*off = b->len;
	if (il_buf_adds(b, "{") != IL_OK)
		goto full;
	for (i = 0; i < x->n; i++) {
		if (il_buf_printf(b, i > 0 ? ",%lld" : "%lld", x->v[i]) != IL_OK)
			goto full;
	}
	if (il_buf_add(b, "}", 2) == IL_OK)
		return IL_OK;
full:
	snprintf(errbuf, errsz, "could not build a query parameter: more than %zu bytes", b->max);
	return IL_ERR_NOMEM;
}

static long long
num(const PGresult *res, int row, int col)
{
	return strtoll(PQgetvalue(res, row, col), NULL, 10);
}

/* @returns the first row whose column 0 is @p id or more (rows sorted by it). */
static int
lower_row(const PGresult *res, long long id)
{
	int lo = 0, hi = res != NULL ? PQntuples(res) : 0;

	while (lo < hi) {
		int mid = lo + (hi - lo) / 2;

		if (num(res, mid, 0) < id)
			lo = mid + 1;
		else
			hi = mid;
	}
	return lo;
}

/* @returns the row whose column 0 is @p id, or -1. */
static int
find_row(const PGresult *res, long long id)
{
	int row = lower_row(res, id);

	return res != NULL && row < PQntuples(res) && num(res, row, 0) == id ? row : -1;
}

static int
rowref_cmp(const void *x, const void *y)
{
	const rowref *p = x, *q = y;

	if (p->kind != q->kind)
		return p->kind < q->kind ? -1 : 1;
	if (p->a != q->a)
		return p->a < q->a ? -1 : 1;
	if (p->b != q->b)
		return p->b < q->b ? -1 : 1;
	return p->row < q->row ? -1 : p->row > q->row;
}

static void
index_rows(flush *f)
{
	int i, n = PQntuples(f->rows);

	f->ix = il_xmalloc((size_t)(n > 0 ? n : 1) * sizeof(f->ix[0]));
	for (i = 0; i < n; i++) {
		f->ix[i].kind = (int)num(f->rows, i, 0);
		f->ix[i].row = i;
		f->ix[i].a = num(f->rows, i, 1);
		f->ix[i].b = num(f->rows, i, 2);
	}
	f->nix = (size_t)n;
	qsort(f->ix, f->nix, sizeof(f->ix[0]), rowref_cmp);
}

/* @returns the first index entry of (@p kind, @p a), or f->nix. */
static size_t
lookup(const flush *f, row_kind kind, long long a)
{
	size_t lo = 0, hi = f->nix;

	while (lo < hi) {
		size_t mid = lo + (hi - lo) / 2;
		const rowref *r = &f->ix[mid];

		if (r->kind < (int)kind || (r->kind == (int)kind && r->a < a))
			lo = mid + 1;
		else
			hi = mid;
	}
	if (lo < f->nix && f->ix[lo].kind == (int)kind && f->ix[lo].a == a)
		return lo;
	return f->nix;
}

static bool
same(const flush *f, size_t i, row_kind kind, long long a)
{
	return i < f->nix && f->ix[i].kind == (int)kind && f->ix[i].a == a;
}

/*
 * Members are added under their constant names and text values as
 * references into the query results, which outlive the events: that saves
 * two allocations of three per member.
 */
static void
put(cJSON *o, const char *name, cJSON *item)
{
	cJSON_AddItemToObjectCS(o, name, item);
}

/* Adds text field @p col of @p row as a string, or null. */
static void
put_text(cJSON *o, const char *name, const PGresult *res, int row, int col)
{
	put(o, name, PQgetisnull(res, row, col) ? cJSON_CreateNull() :
	    cJSON_CreateStringReference(PQgetvalue(res, row, col)));
}

/* Adds a copy of @p s. */
static void
put_str(cJSON *o, const char *name, const char *s)
{
	put(o, name, cJSON_CreateString(s));
}

static void
put_num(cJSON *o, const char *name, double v)
{
	put(o, name, cJSON_CreateNumber(v));
}

static void
put_bool(cJSON *o, const char *name, bool v)
{
	put(o, name, cJSON_CreateBool(v));
}

static void
put_null(cJSON *o, const char *name)
{
	put(o, name, cJSON_CreateNull());
}

static void
upper_copy(char *out, size_t outsz, const char *in)
{
	size_t i;

	for (i = 0; i + 1 < outsz && in[i] != '\0'; i++)
		out[i] = (char)(in[i] >= 'a' && in[i] <= 'z' ? in[i] - 'a' + 'A' : in[i]);
	out[i] = '\0';
}

static cJSON *
ext_ids_json(const flush *f, long long id)
{
	cJSON *a = cJSON_CreateArray();
	size_t i;

	for (i = lookup(f, R_EXTID, id); same(f, i, R_EXTID, id); i++) {
		cJSON *x = cJSON_CreateObject();
		int row = f->ix[i].row;

		put_text(x, "type", f->rows, row, T(1));
		put_text(x, "value", f->rows, row, T(2));
		put_text(x, "status", f->rows, row, T(3));
		put_text(x, "expiry_date", f->rows, row, T(4));
		put_text(x, "description", f->rows, row, T(5));
		cJSON_AddItemToArray(a, x);
	}
	return a;
}

static cJSON *
phones_json(const flush *f, long long id)
{
	cJSON *a = cJSON_CreateArray();
	size_t i;

	for (i = lookup(f, R_PHONE, id); same(f, i, R_PHONE, id); i++) {
		cJSON *x = cJSON_CreateObject();
		int row = f->ix[i].row;

		put_text(x, "number", f->rows, row, T(1));
		put_text(x, "sanitized", f->rows, row, T(2));
		put_text(x, "date_collected", f->rows, row, T(3));
		cJSON_AddItemToArray(a, x);
	}
	return a;
}

/* The area of the R_PERSON row @p row, or null. */
static cJSON *
area_json(const PGresult *res, int row)
{
	cJSON *a;

	if (PQgetisnull(res, row, T(13)))
		return cJSON_CreateNull();
	a = cJSON_CreateObject();
	put_num(a, "id", (double)num(res, row, T(13)));
	put_text(a, "code", res, row, T(14));
	put_text(a, "name", res, row, T(15));
	return a;
}

/* The Registrant of partner @p id; only its source_id when it is gone. */
static cJSON *
person_json(const flush *f, long long id)
{
	cJSON *r = cJSON_CreateObject();
	size_t i = lookup(f, R_PERSON, id);
	const PGresult *res = f->rows;
	int row;

	put_num(r, "source_id", (double)id);
	if (i == f->nix)
		return r;
	row = f->ix[i].row;
	put(r, "external_ids", ext_ids_json(f, id));
	put_bool(r, "is_group", PQgetvalue(res, row, T(1))[0] == 't');
	put_text(r, "name", res, row, T(2));
	put_text(r, "given_name", res, row, T(3));
	put_text(r, "family_name", res, row, T(4));
	put_text(r, "addl_name", res, row, T(5));
	put_text(r, "gender", res, row, T(6));
	put_text(r, "birthdate", res, row, T(7));
	if (PQgetisnull(res, row, T(7)))
		put_null(r, "birthdate_exact");
	else
		put_bool(r, "birthdate_exact", PQgetvalue(res, row, T(8))[0] != 't');
	put_text(r, "birth_place", res, row, T(9));
	put_text(r, "registration_date", res, row, T(10));
	put(r, "phones", phones_json(f, id));
	put_text(r, "email", res, row, T(11));
	put_text(r, "address", res, row, T(12));
	put(r, "area", area_json(res, row));
	return r;
}

/* One HouseholdMember from the R_MEMBER entry @p i; NULL when the person is gone. */
static cJSON *
member_json(const flush *f, size_t i)
{
	const PGresult *res = f->rows;
	int row = f->ix[i].row;
	long long gmid = f->ix[i].b, person = num(res, row, T(1));
	cJSON *m, *roles;
	bool head = false;
	size_t k;

	if (lookup(f, R_PERSON, person) == f->nix)
		return NULL;
	m = cJSON_CreateObject();
	roles = cJSON_CreateArray();
	for (k = lookup(f, R_ROLE, gmid); same(f, k, R_ROLE, gmid); k++) {
		const char *role = PQgetvalue(res, f->ix[k].row, T(1));

		head = head || strcmp(role, "Head") == 0;
		cJSON_AddItemToArray(roles, cJSON_CreateStringReference(role));
	}
	put(m, "registrant", person_json(f, person));
	put(m, "roles", roles);
	put_bool(m, "is_head", head);
	put_text(m, "start_date", res, row, T(2));
	put_text(m, "end_date", res, row, T(3));
	return m;
}

/* The Household of partner @p id, or null when it has none. */
static cJSON *
household_json(const flush *f, long long id)
{
	size_t i = lookup(f, R_HOUSEHOLD, id), g;
	cJSON *h, *members;
	long long hid;
	int row;

	if (i == f->nix)
		return cJSON_CreateNull();
	hid = f->ix[i].b;
	g = lookup(f, R_PERSON, hid);
	if (g == f->nix)
		return cJSON_CreateNull();
	row = f->ix[g].row;
	h = cJSON_CreateObject();
	members = cJSON_CreateArray();
	put_num(h, "source_id", (double)hid);
	put(h, "external_ids", ext_ids_json(f, hid));
	put_text(h, "name", f->rows, row, T(2));
	put(h, "area", area_json(f->rows, row));
	for (i = lookup(f, R_MEMBER, hid); same(f, i, R_MEMBER, hid); i++) {
		cJSON *m = member_json(f, i);

		if (m != NULL)
			cJSON_AddItemToArray(members, m);
	}
	put(h, "members", members);
	return h;
}

static cJSON *
programme_json(const flush *f, long long id)
{
	int row = find_row(f->prog, id);
	cJSON *p;

	if (row < 0)
		return cJSON_CreateNull();
	p = cJSON_CreateObject();
	put_num(p, "id", (double)id);
	put_text(p, "name", f->prog, row, 1);
	put_text(p, "target_type", f->prog, row, 2);
	return p;
}

/* A Membership; @p prev, @p enrolled and @p exit_date may be "" for null. */
static cJSON *
membership_json(const char *state, const char *prev, const char *enrolled, const char *exit_date)
{
	cJSON *m = cJSON_CreateObject();
	char up[16], ts[IL_TIME_LEN];
	int64_t ms;

	upper_copy(up, sizeof(up), state);
	put_str(m, "state", up);
	if (prev[0] != '\0') {
		upper_copy(up, sizeof(up), prev);
		put_str(m, "previous_state", up);
	} else {
		put_null(m, "previous_state");
	}
	if (enrolled[0] != '\0' && il_time_parse_ms(enrolled, IL_TIME_LENIENT, &ms) == NULL &&
	    il_time_format_ms(ms, ts))
		put_str(m, "enrollment_date", ts);
	else
		put_null(m, "enrollment_date");
	if (exit_date[0] != '\0')
		put_str(m, "exit_date", exit_date);
	else
		put_null(m, "exit_date");
	return m;
}

/* A new event of @p type from change @p ch at @p position, without its body. */
static cJSON *
event_new(const cdc_emitter *e, const flush *f, const cdc_change *ch, int type,
    const char *position, char id[65])
{
	cJSON *ev = cJSON_CreateObject(), *src = cJSON_CreateObject();
	char ts[IL_TIME_LEN];

	put_str(src, "system", "openspp");
	put_str(src, "instance", e->ectx.instance);
	put_str(src, "kind", e->source_kind);
	put_str(src, "position", position);
	put_str(src, "table", ch->table);
	put_str(src, "primary_key", ch->pk);
	il_event_id_of_source(src, id);
	il_time_format_ms(ch->occurred_ms, ts);
	put_str(ev, "event_id", id);
	put_str(ev, "event_type", ev_names[type]);
	put(ev, "source", src);
	put_str(ev, "occurred_at", ts);
	put_str(ev, "produced_at", f->produced);
	return ev;
}

/* @returns whether the job being encoded is no longer wanted: destroyed, or dropped by cdc_emitter_discard(). */
static bool
abandoned(cdc_emitter *e)
{
	bool gone;

	pthread_mutex_lock(&e->lock);
	gone = e->quit || e->drop_upto >= e->encoding;
	pthread_mutex_unlock(&e->lock);
	return gone;
}

/*
 * Queues one message; a full queue is waited on, but never past a stop or
 * the end of the job.  Counted as pending before it is sent: its report may
 * be served at once by another thread's poll.
 */
static il_err
queue_message(cdc_emitter *e, const char *topic, const char *key, const void *val, size_t len,
    const il_kafka_header *hdrs, size_t nhdrs, il_metric *done, char *errbuf, size_t errsz)
{
	il_err err;

	pthread_mutex_lock(&e->lock);
	e->pending++;
	pthread_mutex_unlock(&e->lock);
	for (;;) {
		err = il_producer_send(e->prod, topic, RD_KAFKA_PARTITION_UA, key, strlen(key), val, len,
		    hdrs, nhdrs, done, EMIT_BLOCK_MS);
		if (err != IL_ERR_TIMEOUT)
			break;
		/* a full queue drains only as fast as Kafka confirms: never hold
		 * a stop, a discard or the end up behind it */
		if (il_sig_stop_requested() || abandoned(e)) {
			snprintf(errbuf, errsz, "stopped while the producer queue was full");
			err = IL_ERR_CANCELLED;
			break;
		}
	}
	if (err == IL_OK)
		return IL_OK;
	if (err != IL_ERR_CANCELLED)
		snprintf(errbuf, errsz, "could not queue a message for \"%s\"", topic);
	pthread_mutex_lock(&e->lock);
	e->pending--;
	pthread_mutex_unlock(&e->lock);
	return err;
}

/*
 * An event that cannot be keyed or encoded (a household too large for
 * avro.max.message.bytes, say) must neither stop the stream nor vanish: its
 * JSON form goes to the dead-letter topic with Connect's headers and the
 * reason, where the audit store keeps it and an operator sees it.
 */
static il_err
dead_letter(cdc_emitter *e, cJSON *ev, const char *key, const char *id, const cdc_change *ch,
    const char *stage, const char *why, char *errbuf, size_t errsz)
{
	long long now = il_event_now_ms();
	il_dlq_failure f = {
		.topic = e->topic, .partition = -1, .offset = -1, .connector = "imislink-cdc",
		.task = ch->position, .stage = stage, .error_class = "permanent", .message = why,
		.attempts = 1, .first_failure_ms = now, .last_failure_ms = now, .event_id = id,
	};
	char fallback[160], *json = cJSON_PrintUnformatted(ev);
	il_dlq_headers h;
	il_err err;

	if (key == NULL) {
		snprintf(fallback, sizeof(fallback), "%s:%s:%s", e->ectx.instance, ch->table, ch->pk);
		key = fallback;
	}
	il_dlq_headers_fill(&h, &f);
	il_log_error("event published as a dead letter", IL_STR("event_id", id), IL_STR("table", ch->table),
	    IL_STR("primary_key", ch->pk), IL_STR("position", ch->position));
	err = queue_message(e, e->dlq_topic, key, json, json != NULL ? strlen(json) : 0, h.h, h.n, e->m_dead_letters,
	    errbuf, errsz);
	cJSON_free(json);
	return err;
}

static il_err
queue_event(cdc_emitter *e, cJSON *ev, int type, const char *id, const cdc_change *ch,
    const char *position, char *errbuf, size_t errsz)
{
	char why[512], reason[768];
	char *key;
	il_err err;

	key = il_event_key(&e->ectx, ev, why, sizeof(why));
	if (key == NULL) {
		snprintf(reason, sizeof(reason), "could not key event \"%s\" of \"%s\" \"%s\" at \"%s\": %s",
		    id, ch->table, ch->pk, position, why);
		err = dead_letter(e, ev, NULL, id, ch, "KEY_CONVERTER", reason, errbuf, errsz);
		goto done;
	}
	il_buf_reset(&e->val);
	err = il_serde_encode(e->serde, e->topic, e->schema, ev, &e->val, why, sizeof(why));
	if (err == IL_ERR_TRANSIENT || err == IL_ERR_CONFIG) {
		/* an unreachable registry or refused credentials are not the
		 * event's fault */
		snprintf(errbuf, errsz, "could not encode event \"%s\": %s", id, why);
		goto done;
	}
	if (err != IL_OK) {
		snprintf(reason, sizeof(reason), "could not encode event \"%s\" of \"%s\" \"%s\" at \"%s\": %s",
		    id, ch->table, ch->pk, position, why);
		err = dead_letter(e, ev, key, id, ch, "VALUE_CONVERTER", reason, errbuf, errsz);
		goto done;
	}
	err = queue_message(e, e->topic, key, e->val.data, e->val.len, NULL, 0, e->m_produced[type], errbuf, errsz);
done:
	free(key);
	cJSON_Delete(ev);
	return err;
}

static il_err
emit_membership(cdc_emitter *e, const flush *f, const cdc_change *ch, char *errbuf, size_t errsz)
{
	char id[65];
	cJSON *ev = event_new(e, f, ch, EV_MEMBERSHIP, ch->position, id);

	put(ev, "programme", programme_json(f, ch->program_id));
	put(ev, "membership", membership_json(ch->state, ch->prev, ch->enrolled, ch->exit_date));
	put(ev, "registrant", person_json(f, ch->partner_id));
	put(ev, "household", household_json(f, ch->partner_id));
	return queue_event(e, ev, EV_MEMBERSHIP, id, ch, ch->position, errbuf, errsz);
}

/* One event per ENROLLED membership of @p partner (query 2's rows). */
static il_err
emit_fanout(cdc_emitter *e, const flush *f, const cdc_change *ch, int type, long long partner,
    char *errbuf, size_t errsz)
{
	int row, n = f->enr != NULL ? PQntuples(f->enr) : 0;
	il_err err = IL_OK;

	for (row = lower_row(f->enr, partner); row < n && num(f->enr, row, 0) == partner; row++) {
		long long prog = num(f->enr, row, 1);
		char position[sizeof(ch->position) + 24], id[65];
		cJSON *ev;

		snprintf(position, sizeof(position), "%s#p%lld", ch->position, prog);
		ev = event_new(e, f, ch, type, position, id);
		put(ev, "programme", programme_json(f, prog));
		put(ev, "membership", membership_json("enrolled", "",
		    PQgetvalue(f->enr, row, 3), PQgetvalue(f->enr, row, 4)));
		put(ev, "registrant", person_json(f, partner));
		put(ev, "household", household_json(f, partner));
		err = queue_event(e, ev, type, id, ch, position, errbuf, errsz);
		if (err != IL_OK)
			break;
	}
	return err;
}

/* Copies @p db's last error, on one line, after @p what. */
static void
db_error(PGconn *db, const char *what, char *errbuf, size_t errsz)
{
	char msg[512];

	il_text_one_line(PQerrorMessage(db), msg, sizeof(msg));
	snprintf(errbuf, errsz, "%s: %s", what, msg);
}

static il_err
query(PGconn *db, const char *what, const char *sql, int n, const char *const *params,
    PGresult **res, char *errbuf, size_t errsz)
{
	char failed[96];

	*res = PQexecParams(db, sql, n, NULL, params, NULL, NULL, 0);
	if (PQresultStatus(*res) == PGRES_TUPLES_OK)
		return IL_OK;
	snprintf(failed, sizeof(failed), "could not read %s", what);
	db_error(db, failed, errbuf, errsz);
	return IL_ERR_TRANSIENT;
}

/*
 * Dates are read as PostgreSQL prints them, YYYY-MM-DD only under DateStyle
 * ISO (the default): a session set otherwise is switched to it.
 */
static il_err
iso_dates(PGconn *db, char *errbuf, size_t errsz)
{
	const char *style = PQparameterStatus(db, "DateStyle");
	PGresult *res;
	il_err err = IL_OK;

	if (style != NULL && strncmp(style, "ISO", 3) == 0)
		return IL_OK;
	res = PQexec(db, "SET DateStyle = ISO");
	if (PQresultStatus(res) != PGRES_COMMAND_OK) {
		db_error(db, "could not set \"DateStyle\" to ISO", errbuf, errsz);
		err = IL_ERR_TRANSIENT;
	}
	PQclear(res);
	return err;
}

static bool
is_household(cdc_change_kind k)
{
	return k == CDC_HOUSEHOLD || k == CDC_HOUSEHOLD_OF_GM;
}

/* Coalescing: the changes of one class and partner, in batch order. */
typedef struct dup {
	int cls;                /* 0 registrant, 1 household */
	long long partner;
	size_t i;
} dup;

static int
dup_cmp(const void *x, const void *y)
{
	const dup *p = x, *q = y;

	if (p->cls != q->cls)
		return p->cls < q->cls ? -1 : 1;
	if (p->partner != q->partner)
		return p->partner < q->partner ? -1 : 1;
	return p->i < q->i ? -1 : p->i > q->i;
}

/* Keeps the first CDC_REGISTRANT or household change of each partner. */
static void
coalesce(job *j)
{
	dup *d = il_xmalloc((j->n > 0 ? j->n : 1) * sizeof(*d));
	size_t i, n = 0;

	for (i = 0; i < j->n; i++) {
		if (j->batch[i].kind == CDC_MEMBERSHIP || j->target[i] == 0)
			continue;
		d[n].cls = is_household(j->batch[i].kind);
		d[n].partner = j->target[i];
		d[n].i = i;
		n++;
	}
	qsort(d, n, sizeof(*d), dup_cmp);
	for (i = 1; i < n; i++) {
		if (d[i].cls == d[i - 1].cls && d[i].partner == d[i - 1].partner)
			j->target[d[i].i] = 0;
	}
	free(d);
}

/* Query 1: the households of CDC_HOUSEHOLD_OF_GM changes; sets the targets. */
static il_err
read_targets(params *p, PGconn *db, job *j, char *errbuf, size_t errsz)
{
	const char *param[1];
	size_t i, off;
	il_err err;

	p->ids[0].n = 0;
	for (i = 0; i < j->n; i++) {
		j->target[i] = j->batch[i].partner_id;
		if (j->batch[i].kind == CDC_HOUSEHOLD_OF_GM)
			idvec_push(&p->ids[0], j->batch[i].id);
	}
	if (p->ids[0].n > 0) {
		il_buf_reset(&p->arr);
		err = put_array(&p->arr, &p->ids[0], &off, errbuf, errsz);
		if (err != IL_OK)
			return err;
		param[0] = p->arr.data + off;
		err = query(db, "household memberships", gm_sql, 1, param, &j->f.gm, errbuf, errsz);
		if (err != IL_OK)
			return err;
		for (i = 0; i < j->n; i++) {
			int row;

			if (j->batch[i].kind != CDC_HOUSEHOLD_OF_GM)
				continue;
			/* deleted since: its own DELETE made a CDC_HOUSEHOLD */
			row = find_row(j->f.gm, j->batch[i].id);
			j->target[i] = row >= 0 ? num(j->f.gm, row, 1) : 0;
		}
	}
	coalesce(j);
	return IL_OK;
}

/* Query 2: the ENROLLED memberships of the registrants and households. */
static il_err
read_enrolled(const cdc_emitter *e, params *p, PGconn *db, job *j, char *errbuf, size_t errsz)
{
	const char *param[3];
	size_t i, off[2];
	il_err err;

	p->ids[0].n = 0;
	p->ids[1].n = 0;
	for (i = 0; i < j->n; i++) {
		if (j->batch[i].kind == CDC_MEMBERSHIP || j->target[i] == 0)
			continue;
		idvec_push(&p->ids[is_household(j->batch[i].kind) ? 1 : 0], j->target[i]);
	}
	if (p->ids[0].n == 0 && p->ids[1].n == 0)
		return IL_OK;
	il_buf_reset(&p->arr);
	err = put_array(&p->arr, &p->ids[0], &off[0], errbuf, errsz);
	if (err == IL_OK)
		err = put_array(&p->arr, &p->ids[1], &off[1], errbuf, errsz);
	if (err != IL_OK)
		return err;
	param[0] = p->arr.data + off[0];
	param[1] = p->arr.data + off[1];
	param[2] = e->programme_array;
	return query(db, "enrolled memberships", enrolled_sql, 3, param, &j->f.enr, errbuf, errsz);
}

/* Queries 3 and 4: what the events carry, and their programmes. */
static il_err
read_enrichment(params *p, PGconn *db, job *j, char *errbuf, size_t errsz)
{
	idvec *partners = &p->ids[2], *progs = &p->ids[3];
	flush *f = &j->f;
	int row, n = f->enr != NULL ? PQntuples(f->enr) : 0;
	const char *param[1];
	size_t i, off[2];
	il_err err;

	partners->n = 0;
	progs->n = 0;
	for (i = 0; i < j->n; i++) {
		if (j->batch[i].kind == CDC_MEMBERSHIP) {
			idvec_push(partners, j->batch[i].partner_id);
			idvec_push(progs, j->batch[i].program_id);
		}
	}
	for (row = 0; row < n; row++) {
		long long pid = num(f->enr, row, 0);

		if (partners->n == 0 || partners->v[partners->n - 1] != pid)
			idvec_push(partners, pid);
		idvec_push(progs, num(f->enr, row, 1));
	}
	if (partners->n == 0)
		return IL_OK;
	il_buf_reset(&p->arr);
	err = put_array(&p->arr, partners, &off[0], errbuf, errsz);
	if (err == IL_OK)
		err = put_array(&p->arr, progs, &off[1], errbuf, errsz);
	if (err != IL_OK)
		return err;
	param[0] = p->arr.data + off[0];
	err = query(db, "registrants", enrich_sql, 1, param, &f->rows, errbuf, errsz);
	if (err != IL_OK)
		return err;
	param[0] = p->arr.data + off[1];
	return query(db, "programmes", programme_sql, 1, param, &f->prog, errbuf, errsz);
}

/* Everything job @p j needs from the database, read on @p db. */
static il_err
read_job(const cdc_emitter *e, params *p, PGconn *db, job *j, char *errbuf, size_t errsz)
{
	il_err err;

	il_time_format_ms(il_event_now_ms(), j->f.produced);
	err = iso_dates(db, errbuf, errsz);
	if (err == IL_OK)
		err = read_targets(p, db, j, errbuf, errsz);
	if (err == IL_OK)
		err = read_enrolled(e, p, db, j, errbuf, errsz);
	if (err == IL_OK)
		err = read_enrichment(p, db, j, errbuf, errsz);
	return err;
}

static void
flush_clear(flush *f)
{
	PQclear(f->gm);
	PQclear(f->enr);
	PQclear(f->rows);
	PQclear(f->prog);
	free(f->ix);
}

static void
job_free(job *j)
{
	if (j == NULL)
		return;
	flush_clear(&j->f);
	free(j->batch);
	free(j->target);
	free(j);
}

/* Builds, encodes and queues the events of @p j, in batch order. */
static il_err
encode_job(cdc_emitter *e, job *j, char *errbuf, size_t errsz)
{
	il_err err = IL_OK;
	size_t i;

	if (j->f.rows != NULL)
		index_rows(&j->f);
	for (i = 0; err == IL_OK && i < j->n; i++) {
		const cdc_change *ch = &j->batch[i];

		if (ch->kind == CDC_MEMBERSHIP)
			err = emit_membership(e, &j->f, ch, errbuf, errsz);
		else if (j->target[i] != 0)
			err = emit_fanout(e, &j->f, ch, is_household(ch->kind) ? EV_HOUSEHOLD : EV_REGISTRANT,
			    j->target[i], errbuf, errsz);
		/* serve delivery reports as we go, so the queue never fills up
		 * with reports nobody reads */
		il_producer_poll(e->prod, 0);
	}
	return err;
}

/*
 * The encoder thread: the jobs in flush order, each once its queries are
 * done.  After a failure the jobs behind it are dropped, not encoded: their
 * changes come again when the caller starts over from its last acknowledged
 * position.
 */
static void *
encoder_main(void *arg)
{
	cdc_emitter *e = arg;
	char errbuf[sizeof(e->job_errbuf)];

	pthread_mutex_lock(&e->lock);
	while (!e->quit) {
		job *j = e->head;
		il_err err;
		bool wanted;

		if (j == NULL || !j->read) {
			pthread_cond_wait(&e->cond, &e->lock);
			continue;
		}
		err = j->err;
		snprintf(errbuf, sizeof(errbuf), "%s", j->errbuf);
		wanted = e->job_err == IL_OK && j->seq > e->drop_upto;
		e->encoding = j->seq;
		if (err == IL_OK && wanted) {
			pthread_mutex_unlock(&e->lock);
			err = encode_job(e, j, errbuf, sizeof(errbuf));
			pthread_mutex_lock(&e->lock);
		}
		if (err != IL_OK && wanted && e->job_err == IL_OK) {
			e->job_err = err;
			snprintf(e->job_errbuf, sizeof(e->job_errbuf), "%s", errbuf);
		}
		e->head = j->next;
		if (e->head == NULL)
			e->tail = NULL;
		e->njobs--;
		pthread_cond_broadcast(&e->cond);
		pthread_mutex_unlock(&e->lock);
		job_free(j);
		pthread_mutex_lock(&e->lock);
	}
	pthread_mutex_unlock(&e->lock);
	return NULL;
}

/* Closes the reader's connection; the next job opens a new one. */
static void
reader_close(reader *r)
{
	PGcancel *cancel;

	pthread_mutex_lock(&r->e->lock);
	cancel = r->cancel;
	r->cancel = NULL;
	pthread_mutex_unlock(&r->e->lock);
	PQfreeCancel(cancel);
	PQfinish(r->db);
	r->db = NULL;
}

static il_err
reader_open(reader *r, char *errbuf, size_t errsz)
{
	PGcancel *cancel;
	il_err err;

	err = il_pgrepl_connect_db(r->e->conninfo, CDC_STATEMENT_TIMEOUT_MS, &r->db, errbuf, errsz);
	if (err != IL_OK)
		return err;
	cancel = PQgetCancel(r->db);
	pthread_mutex_lock(&r->e->lock);
	r->cancel = cancel;
	pthread_mutex_unlock(&r->e->lock);
	return IL_OK;
}

/*
 * Cancels the query of every reader busy with a job that is no longer
 * wanted, so that a stop or a discard does not wait for the statement
 * timeout; lock held.
 */
static void
cancel_dropped_reads(cdc_emitter *e)
{
	char errbuf[256];
	size_t i;

	for (i = 0; i < e->nreaders; i++) {
		reader *r = &e->readers[i];

		if (r->cancel != NULL && r->job != NULL && (e->quit || r->job->seq <= e->drop_upto))
			(void)PQcancel(r->cancel, errbuf, sizeof(errbuf));
	}
}

/*
 * Opens the reader's connection when it has none and takes its snapshot.
 * A kept connection may have died since its last job (a terminated backend,
 * a server restart): it is opened again once before the job fails.
 */
static il_err
reader_begin(reader *r, char *errbuf, size_t errsz)
{
	bool fresh = r->db == NULL;
	PGresult *res;
	il_err err;

	for (;;) {
		if (r->db == NULL) {
			err = reader_open(r, errbuf, errsz);
			if (err != IL_OK)
				return err;
		}
		/* a transaction's snapshot is taken by its first statement */
		res = PQexec(r->db, "BEGIN ISOLATION LEVEL REPEATABLE READ READ ONLY; SELECT 1");
		err = PQresultStatus(res) == PGRES_TUPLES_OK ? IL_OK : IL_ERR_TRANSIENT;
		PQclear(res);
		if (err == IL_OK)
			return IL_OK;
		db_error(r->db, "could not begin reading registrants", errbuf, errsz);
		reader_close(r);
		if (fresh)
			return err;
		fresh = true;
	}
}

/* Runs the queries of @p j on the reader's connection. */
static il_err
reader_read(reader *r, job *j, char *errbuf, size_t errsz)
{
	cdc_emitter *e = r->e;
	il_err err = reader_begin(r, errbuf, errsz);
	PGresult *res;

	/* The next reader may take its snapshot now: it will not be older
	 * than this one, so a later batch never shows an older registry. */
	pthread_mutex_lock(&e->lock);
	e->snapshotting = false;
	pthread_cond_broadcast(&e->cond);
	pthread_mutex_unlock(&e->lock);
	if (err == IL_OK)
		err = read_job(e, &r->p, r->db, j, errbuf, errsz);
	if (err == IL_OK) {
		res = PQexec(r->db, "COMMIT");
		if (PQresultStatus(res) != PGRES_COMMAND_OK) {
			db_error(r->db, "could not end reading registrants", errbuf, errsz);
			err = IL_ERR_TRANSIENT;
		}
		PQclear(res);
	}
	/* a connection in an unknown state is opened again for the next job */
	if (err != IL_OK && r->db != NULL)
		reader_close(r);
	return err;
}

/* A reader thread: the jobs given to it, one at a time. */
static void *
reader_main(void *arg)
{
	reader *r = arg;
	cdc_emitter *e = r->e;

	pthread_mutex_lock(&e->lock);
	while (!e->quit) {
		job *j = r->job;
		il_err err;

		if (j == NULL) {
			pthread_cond_wait(&e->cond, &e->lock);
			continue;
		}
		if (j->seq <= e->drop_upto) {
			/* dropped before it started: no snapshot, no query */
			e->snapshotting = false;
			err = IL_ERR_CANCELLED;
			snprintf(j->errbuf, sizeof(j->errbuf), "batch dropped");
		} else {
			pthread_mutex_unlock(&e->lock);
			err = reader_read(r, j, j->errbuf, sizeof(j->errbuf));
			pthread_mutex_lock(&e->lock);
		}
		j->err = err;
		j->read = true;
		r->job = NULL;
		pthread_cond_broadcast(&e->cond);
	}
	pthread_mutex_unlock(&e->lock);
	return NULL;
}

/* Waits on the emitter's condition for at most EMIT_BLOCK_MS; lock held. */
static void
timed_wait(cdc_emitter *e)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	ts.tv_nsec += EMIT_BLOCK_MS * 1000000L;
	if (ts.tv_nsec >= 1000000000L) {
		ts.tv_sec++;
		ts.tv_nsec -= 1000000000L;
	}
	(void)pthread_cond_timedwait(&e->cond, &e->lock, &ts);
}

/*
 * Waits, lock held, until fewer than @p limit jobs are queued, serving
 * delivery reports meanwhile (the encoder polls only while it encodes).
 * @returns a failed job's error, or IL_ERR_CANCELLED on a stop.
 */
static il_err
wait_jobs_below(cdc_emitter *e, size_t limit, char *errbuf, size_t errsz)
{
	while (e->njobs >= limit && e->job_err == IL_OK && !il_sig_stop_requested()) {
		pthread_mutex_unlock(&e->lock);
		il_producer_poll(e->prod, 0);
		pthread_mutex_lock(&e->lock);
		if (e->njobs >= limit)
			timed_wait(e);
	}
	if (e->job_err != IL_OK) {
		snprintf(errbuf, errsz, "%s", e->job_errbuf);
		return e->job_err;
	}
	if (e->njobs >= limit) {
		snprintf(errbuf, errsz, "stop requested with %zu batches being read or encoded", e->njobs);
		return IL_ERR_CANCELLED;
	}
	return IL_OK;
}

/* @returns an idle reader that may take its snapshot now, or NULL; lock held. */
static reader *
idle_reader(cdc_emitter *e)
{
	size_t i;

	if (e->snapshotting)
		return NULL;
	for (i = 0; i < e->nreaders; i++) {
		if (e->readers[i].job == NULL)
			return &e->readers[i];
	}
	return NULL;
}

/*
 * Queues @p j (taken) for the encoder, with a reader to run its queries
 * unless they are done.  Waits while jobs_max jobs are queued, which bounds
 * the memory of a huge transaction, or while every reader is busy.
 */
static il_err
hand_off(cdc_emitter *e, job *j, char *errbuf, size_t errsz)
{
	reader *r = NULL;
	il_err err;

	pthread_mutex_lock(&e->lock);
	for (;;) {
		err = wait_jobs_below(e, e->jobs_max, errbuf, errsz);
		if (err != IL_OK || j->read || (r = idle_reader(e)) != NULL)
			break;
		if (il_sig_stop_requested()) {
			snprintf(errbuf, errsz, "stop requested with every reader busy");
			err = IL_ERR_CANCELLED;
			break;
		}
		timed_wait(e);
	}
	if (err == IL_OK) {
		j->seq = ++e->seq;
		if (e->tail != NULL)
			e->tail->next = j;
		else
			e->head = j;
		e->tail = j;
		e->njobs++;
		if (r != NULL) {
			r->job = j;
			e->snapshotting = true;
		}
		pthread_cond_broadcast(&e->cond);
		j = NULL;
	}
	pthread_mutex_unlock(&e->lock);
	job_free(j);
	return err;
}

il_err
cdc_emitter_flush(cdc_emitter *e, PGconn *db, char *errbuf, size_t errsz)
{
	job *j;
	il_err err;

	if (e->nbatch == 0) {
		/* an earlier batch's failure is not forgotten for want of a new one */
		pthread_mutex_lock(&e->lock);
		err = wait_jobs_below(e, SIZE_MAX, errbuf, errsz);
		pthread_mutex_unlock(&e->lock);
		return err;
	}
	/* The job takes the batch; the emitter starts a new one. */
	j = il_xcalloc(1, sizeof(*j));
	j->batch = e->batch;
	j->n = e->nbatch;
	j->target = il_xcalloc(j->n, sizeof(j->target[0]));
	e->batch = il_xcalloc(e->batch_size, sizeof(e->batch[0]));
	e->nbatch = 0;
	/*
	 * Inside a transaction of the caller's (the initial load's snapshot)
	 * the batch is read there, at once; else a reader reads it while the
	 * caller goes on.
	 */
	if (e->nreaders == 0 || PQtransactionStatus(db) == PQTRANS_INTRANS) {
		err = read_job(e, &e->p, db, j, errbuf, errsz);
		if (err != IL_OK) {
			job_free(j);
			return err;
		}
		j->read = true;
	}
	return hand_off(e, j, errbuf, errsz);
}

il_err
cdc_emitter_add(cdc_emitter *e, PGconn *db, const cdc_change *ch, char *errbuf, size_t errsz)
{
	il_err err;

	if (ch->kind == CDC_MEMBERSHIP && !cdc_emitter_wants_programme(e, ch->program_id))
		return IL_OK;
	/* full after a failed flush: try again before taking more */
	if (e->nbatch == e->batch_size) {
		err = cdc_emitter_flush(e, db, errbuf, errsz);
		if (err != IL_OK)
			return err;
	}
	e->batch[e->nbatch++] = *ch;
	if (e->nbatch < e->batch_size)
		return IL_OK;
	return cdc_emitter_flush(e, db, errbuf, errsz);
}

/* Waits until the encoder thread has queued every job on Kafka. */
static il_err
wait_encoded(cdc_emitter *e, char *errbuf, size_t errsz)
{
	il_err err;

	pthread_mutex_lock(&e->lock);
	err = wait_jobs_below(e, 1, errbuf, errsz);
	pthread_mutex_unlock(&e->lock);
	return err;
}

static long
pending(cdc_emitter *e)
{
	long n;

	pthread_mutex_lock(&e->lock);
	n = e->pending;
	pthread_mutex_unlock(&e->lock);
	return n;
}

il_err
cdc_emitter_wait(cdc_emitter *e, char *errbuf, size_t errsz)
{
	il_err err = wait_encoded(e, errbuf, errsz);
	long n;

	if (err != IL_OK)
		return err;
	while ((n = pending(e)) > 0) {
		if (il_sig_stop_requested()) {
			snprintf(errbuf, errsz, "stop requested with %ld events not confirmed", n);
			return IL_ERR_CANCELLED;
		}
		/* a flush sends what lingers at once (linger.ms is for the
		 * batches of a burst, not for the wait of a commit) */
		(void)il_producer_flush(e->prod, EMIT_BLOCK_MS);
	}
	pthread_mutex_lock(&e->lock);
	if (e->failed > 0) {
		snprintf(errbuf, errsz, "kafka refused %ld events: %s", e->failed, e->fail_reason);
		e->failed = 0;
		err = IL_ERR_TRANSIENT;
	}
	pthread_mutex_unlock(&e->lock);
	return err;
}

void
cdc_emitter_discard(cdc_emitter *e)
{
	e->nbatch = 0;
	pthread_mutex_lock(&e->lock);
	/* Every job is dropped: queries running are cancelled, and the one
	 * being encoded stops at its next full Kafka queue. */
	e->drop_upto = e->seq;
	pthread_cond_broadcast(&e->cond);
	while (e->njobs > 0) {
		/* again each time: a reader may have begun since */
		cancel_dropped_reads(e);
		timed_wait(e);
	}
	e->job_err = IL_OK;
	e->job_errbuf[0] = '\0';
	pthread_mutex_unlock(&e->lock);
}

void
cdc_emitter_poll(cdc_emitter *e)
{
	il_producer_poll(e->prod, 0);
}

size_t
cdc_emitter_batched(const cdc_emitter *e)
{
	return e->nbatch;
}

long
cdc_emitter_in_flight(cdc_emitter *e)
{
	long n;

	pthread_mutex_lock(&e->lock);
	n = e->pending + (long)e->njobs;
	pthread_mutex_unlock(&e->lock);
	return n;
}

bool
cdc_emitter_wants_programme(const cdc_emitter *e, long long id)
{
	size_t i;

	if (e->nprogrammes == 0)
		return true;
	for (i = 0; i < e->nprogrammes; i++) {
		if (e->programmes[i] == id)
			return true;
	}
	return false;
}

cdc_emitter *
cdc_emitter_new(const cdc_emitter_opts *o, char *errbuf, size_t errsz)
{
	/*
	 * Events come in bursts of a batch at a time: waiting 50 ms for a
	 * fuller Kafka batch (librdkafka's default is 5) halved the broker's
	 * CPU and the producer's own per change, for a delay that stays well
	 * inside the commit settling (CAPTURE_SETTLE_MS).
	 */
	static const char *const tuning[] = { "linger.ms", "50", NULL };
	const char *dir = il_conf_get(o->conf, "schemas.dir");
	pthread_condattr_t ca;
	char label[96];
	cdc_emitter *e;
	idvec progs = { NULL, 0, 0 };
	size_t off;
	int t;

	if (o->batch_size == 0 || o->source_kind == NULL || o->ectx.instance == NULL || o->metrics == NULL) {
		snprintf(errbuf, errsz, "could not make the emitter: batch size, source kind, instance and "
		    "metrics are required");
		return NULL;
	}
	e = il_xcalloc(1, sizeof(*e));
	pthread_mutex_init(&e->lock, NULL);
	/* waits measured on the monotonic clock: a clock step must not hold
	 * up the look at the stop flag */
	pthread_condattr_init(&ca);
	pthread_condattr_setclock(&ca, CLOCK_MONOTONIC);
	pthread_cond_init(&e->cond, &ca);
	pthread_condattr_destroy(&ca);
	e->ectx = o->ectx;
	e->source_kind = o->source_kind;
	e->topic = il_conf_get(o->conf, "topic.eligibility");
	e->dlq_topic = il_conf_get(o->conf, "topic.dlq");
	e->conninfo = o->conninfo != NULL ? o->conninfo : "";
	e->batch_size = o->batch_size;
	e->batch = il_xcalloc(o->batch_size, sizeof(e->batch[0]));
	params_init(&e->p);
	il_buf_init(&e->val, (size_t)il_conf_get_int(o->conf, "avro.max.message.bytes"));
	if (o->nprogrammes > 0) {
		e->programmes = il_xmalloc(o->nprogrammes * sizeof(e->programmes[0]));
		memcpy(e->programmes, o->programmes, o->nprogrammes * sizeof(e->programmes[0]));
		e->nprogrammes = o->nprogrammes;
		progs.v = e->programmes;
		progs.n = e->nprogrammes;
		if (put_array(&e->p.arr, &progs, &off, errbuf, errsz) != IL_OK)
			goto fail;
		e->programme_array = il_buf_take(&e->p.arr);
	}
	e->schemas = il_schema_set_load(dir, errbuf, errsz);
	if (e->schemas == NULL)
		goto fail;
	e->schema = il_schema_set_latest(e->schemas, "EligibilityEvent");
	if (e->schema == NULL) {
		snprintf(errbuf, errsz, "schema \"EligibilityEvent\" is missing from \"%s\"", dir);
		goto fail;
	}
	e->serde = il_serde_new(o->conf, e->schemas, errbuf, errsz);
	if (e->serde == NULL)
		goto fail;
	e->prod = il_producer_new_tuned(o->conf, tuning, delivered, e, errbuf, errsz);
	if (e->prod == NULL)
		goto fail;
	for (t = 0; t < EV_NTYPES; t++) {
		il_metrics_label(label, sizeof(label), "type", ev_names[t]);
		e->m_produced[t] = il_metrics_counter(o->metrics, "imislink_cdc_events_produced_total",
		    "events Kafka confirmed", label);
	}
	e->m_failures = il_metrics_counter(o->metrics, "imislink_cdc_delivery_failures_total",
	    "events Kafka refused or timed out", NULL);
	e->m_dead_letters = il_metrics_counter(o->metrics, "imislink_cdc_dead_letters_total",
	    "events that could not be keyed or encoded, published to topic.dlq as JSON", NULL);
	t = il_sig_thread_create(&e->encoder, encoder_main, e);
	if (t != 0) {
		snprintf(errbuf, errsz, "could not start the encoder thread: %s", strerror(t));
		goto fail;
	}
	e->encoder_started = true;
	/* one job more than readers: the encoder's, while they read the next */
	e->jobs_max = o->readers + 1 > 2 ? o->readers + 1 : 2;
	e->readers = il_xcalloc(o->readers > 0 ? o->readers : 1, sizeof(e->readers[0]));
	while (e->nreaders < o->readers) {
		reader *r = &e->readers[e->nreaders++];

		r->e = e;
		params_init(&r->p);
		t = il_sig_thread_create(&r->thread, reader_main, r);
		if (t != 0) {
			snprintf(errbuf, errsz, "could not start a reader thread: %s", strerror(t));
			goto fail;
		}
		r->started = true;
	}
	return e;
fail:
	cdc_emitter_destroy(e);
	return NULL;
}

void
cdc_emitter_destroy(cdc_emitter *e)
{
	size_t i;

	job *j, *next;

	if (e == NULL)
		return;
	pthread_mutex_lock(&e->lock);
	e->quit = true;
	cancel_dropped_reads(e);
	pthread_cond_broadcast(&e->cond);
	pthread_mutex_unlock(&e->lock);
	if (e->encoder_started)
		pthread_join(e->encoder, NULL);
	for (i = 0; i < e->nreaders; i++) {
		reader *r = &e->readers[i];

		/* the last one may have failed to start */
		if (r->started)
			pthread_join(r->thread, NULL);
		reader_close(r);
		params_free(&r->p);
	}
	free(e->readers);
	for (j = e->head; j != NULL; j = next) {
		next = j->next;
		job_free(j);
	}
	if (e->prod != NULL) {
		/* Nothing unconfirmed was acknowledged at the source: drop it
		 * rather than wait for librdkafka's message timeout. */
		e->dropping = true;
		rd_kafka_purge(il_producer_handle(e->prod), RD_KAFKA_PURGE_F_QUEUE | RD_KAFKA_PURGE_F_INFLIGHT);
		il_producer_destroy(e->prod);
	}
	il_serde_destroy(e->serde);
	il_schema_set_destroy(e->schemas);
	params_free(&e->p);
	il_buf_free(&e->val);
	free(e->programme_array);
	free(e->programmes);
	free(e->batch);
	pthread_cond_destroy(&e->cond);
	pthread_mutex_destroy(&e->lock);
	free(e);
}
