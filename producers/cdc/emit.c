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
 * then built, keyed and encoded, and queued in batch order, so events of one
 * key follow the order of their changes.  REGISTRANT_UPDATED and
 * HOUSEHOLD_CHANGED always carry "#p<programme id>" in their position, so
 * that an event's id does not depend on how many programmes it fanned out to.
 *
 * enrich_sql answers plain typed rows, not JSON: building the JSON in the
 * server (json_build_object, json_agg) cost several times the reads on a
 * registry of 20,000 households, and the text had to be parsed here anyway.
 *
 * The pool: the queries of one batch keep one PostgreSQL backend busy, and
 * building and encoding its events one core, one after the other; done on
 * the caller's thread, the next batch waited for both.  With workers, a full
 * or flushed batch becomes a job that a worker thread runs on its own
 * connection (and its own serde: one per thread), leaving the encoded events
 * in the job; the caller's thread alone talks to Kafka, taking finished jobs
 * strictly in submission order, so that per-key order is kept.  At most
 * workers + 1 jobs are submitted and not yet produced: that bounds memory,
 * and a caller finding them all taken produces the oldest first.  A job that
 * failed is reported to the caller and nothing after it is produced: every
 * job not yet produced is dropped (its running queries cancelled), the
 * caller starts again from its last acknowledged position.  A batch read
 * inside the caller's transaction (the initial load's snapshot) cannot be
 * read by another session: it runs on the caller's thread and connection,
 * after every job before it was produced.
 *
 * Locking: e->mu guards the jobs' states, e->head and e->count (written by
 * the caller only, read by workers), the workers' running jobs and cancel
 * handles.  A job's other contents belong to the caller while it is free
 * or done, to its worker while it runs; a queued job is written before it
 * is queued, under e->mu.
 */
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <cjson/cJSON.h>
#include <librdkafka/rdkafka.h>

#include "avro.h"
#include "buf.h"
#include "emit.h"
#include "kafka.h"
#include "serde.h"
#include "sig.h"
#include "timefmt.h"
#include "xalloc.h"

/* Array literals of one flush: ids of at most a few batches. */
#define EMIT_ARRAY_MAX ((size_t)64 << 20)
/* Up to this many partners, a flush reads IDs by key rather than by a scan
 * (measured on 20,000 households: the two cost the same near 300). */
#define EMIT_FEW_PARTNERS 200
/* How long one send waits on a full queue, and one wait polls, before
 * looking at the stop flag again. */
#define EMIT_BLOCK_MS 100
/* How long the caller waits for a job before serving delivery reports and
 * looking at the stop flag again. */
#define EMIT_WAIT_MS 20
/* Delivery reports are served after this many events sent. */
#define EMIT_POLL_EVERY 64
/* The encoded events of one batch, at most. */
#define EMIT_OUT_MAX ((size_t)1 << 30)

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
 * an active member of.  The memberships of group partners come with the
 * first scan of g2p_group_membership; a second one reads the households of
 * individual partners, and is skipped when there are none (One-Time
 * Filter).  Values are printed as PostgreSQL prints them (dates need
 * DateStyle ISO, see iso_dates()): to_char() cost more than the reads.
 */
#define ENRICH_HEAD \
	"WITH gma AS MATERIALIZED (SELECT gm.id, gm.\"group\" AS hid, gm.individual, gm.start_date, gm.ended_date " \
	"  FROM g2p_group_membership gm " \
	"  WHERE (gm.individual = ANY($1::int[]) OR gm.\"group\" = ANY($1::int[])) AND " GM_ACTIVE "), " \
	"hh1 AS MATERIALIZED (SELECT DISTINCT ON (pid) pid, hid FROM (" \
	"  SELECT r.id AS pid, r.id AS hid FROM res_partner r WHERE r.id = ANY($1::int[]) AND r.is_group " \
	"  UNION ALL SELECT individual, hid FROM gma WHERE individual = ANY($1::int[])) h ORDER BY pid, hid), " \
	"far AS MATERIALIZED (SELECT DISTINCT hid FROM hh1 WHERE hid <> ALL($1::int[])), " \
	"mem AS MATERIALIZED (SELECT id AS gmid, hid, individual, start_date, ended_date FROM gma " \
	"  WHERE hid = ANY($1::int[]) AND hid IN (SELECT hid FROM hh1) " \
	"  UNION ALL SELECT gm.id, gm.\"group\", gm.individual, gm.start_date, gm.ended_date " \
	"  FROM g2p_group_membership gm WHERE EXISTS (SELECT 1 FROM far) " \
	"  AND gm.\"group\" IN (SELECT hid FROM far) AND " GM_ACTIVE "), " \
	"people AS MATERIALIZED (SELECT unnest($1::int[]) AS id UNION SELECT hid FROM hh1 " \
	"  UNION SELECT individual FROM mem) " \
	"SELECT 0, pid, hid, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, " \
	"  NULL, NULL, NULL FROM hh1 " \
	"UNION ALL SELECT 1, hid, gmid, individual::text, start_date::date::text, ended_date::date::text, " \
	"  NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL FROM mem " \
	"UNION ALL SELECT 2, r.id, 0, r.is_group::text, r.name, r.given_name, r.family_name, r.addl_name, " \
	"  r.gender, r.birthdate::text, r.birthdate_not_exact::text, r.birth_place, " \
	"  r.registration_date::text, r.email, r.address, a.id::text, a.code, a.name " \
	"  FROM res_partner r LEFT JOIN spp_area a ON a.id = r.area_id WHERE r.id IN (SELECT id FROM people) "

/* IDs by a scan of g2p_reg_id (stock Odoo has no index on partner_id) ... */
#define ENRICH_IDS_SCAN \
	"UNION ALL SELECT 3, x.partner_id, t.id, t.name, x.value, x.status, x.expiry_date::text, x.description, " \
	"  NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL " \
	"  FROM g2p_reg_id x JOIN g2p_id_type t ON t.id = x.id_type " \
	"  WHERE x.partner_id IN (SELECT id FROM people) AND x.value IS NOT NULL "

/* ... or by the unique key (id_type, partner_id), one probe per person and
 * type: cheaper for a few people, dearer for thousands. */
#define ENRICH_IDS_PROBE \
	"UNION ALL SELECT 3, x.partner_id, t.id, t.name, x.value, x.status, x.expiry_date::text, x.description, " \
	"  NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL " \
	"  FROM people CROSS JOIN g2p_id_type t CROSS JOIN LATERAL (SELECT * FROM g2p_reg_id x " \
	"  WHERE x.id_type = t.id AND x.partner_id = people.id AND x.value IS NOT NULL OFFSET 0) x "

#define ENRICH_TAIL \
	"UNION ALL SELECT 4, partner_id, id, phone_no, phone_sanitized, date_collected::text, " \
	"  NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL " \
	"  FROM g2p_phone_number WHERE partner_id IN (SELECT id FROM people) AND disabled IS NULL " \
	"UNION ALL SELECT 5, k.g2p_group_membership_id, gk.id, gk.name, NULL, NULL, NULL, NULL, NULL, NULL, " \
	"  NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL " \
	"  FROM mem JOIN g2p_group_membership_g2p_group_membership_kind_rel k ON k.g2p_group_membership_id = mem.gmid " \
	"  JOIN g2p_group_membership_kind gk ON gk.id = k.g2p_group_membership_kind_id"

static const char enrich_sql[] = ENRICH_HEAD ENRICH_IDS_SCAN ENRICH_TAIL;
static const char enrich_few_sql[] = ENRICH_HEAD ENRICH_IDS_PROBE ENRICH_TAIL;

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

/* A growable list of ids, kept by a worker between batches. */
typedef struct idvec {
	long long *v;
	size_t n;
	size_t cap;
} idvec;

/* What one flush read. */
typedef struct flush {
	PGresult *gm;           /* id, group; by id */
	PGresult *enr;          /* partner, programme, membership id, enrolled, exit; by partner, programme */
	PGresult *rows;         /* enrich_sql */
	PGresult *prog;         /* id, name, target type; by id */
	rowref *ix;             /* rows sorted by kind, a, b */
	size_t nix;
	char produced[IL_TIME_LEN];
} flush;

/* One event built, keyed and encoded by a job, waiting to be produced. */
typedef struct out_event {
	size_t key;             /* offset of the key in the job's data */
	size_t key_len;
	size_t val;             /* offset of the encoded value */
	size_t val_len;
	int type;               /* EV_* */
	char id[65];            /* event id, for messages */
} out_event;

typedef enum job_state {
	JOB_FREE = 0,           /* the caller's */
	JOB_QUEUED,             /* submitted, no worker has it yet */
	JOB_RUNNING,            /* a worker's */
	JOB_DONE,               /* built (or failed), the caller's to produce */
} job_state;

/* A batch and, once built, its events. */
typedef struct job {
	job_state state;
	atomic_bool cancel;     /* dropped while running: stop early */
	cdc_change *batch;      /* batch_size slots */
	size_t nbatch;
	il_err err;             /* how building it ended */
	char errbuf[1024];
	out_event *out;         /* events in batch order */
	size_t nout;
	size_t capout;
	size_t next;            /* the first event not yet queued on Kafka */
	il_buf data;            /* keys and values of out */
} job;

/* What one thread needs to build a batch's events. */
typedef struct worker {
	cdc_emitter *e;
	pthread_t thread;
	bool started;
	PGconn *db;             /* a pool worker's own connection, opened when first needed */
	PGcancel *cancel;       /* of db; under e->mu */
	job *job;               /* the job it runs; under e->mu */
	il_schema_set *own;     /* a pool worker's copy of the schemas */
	const il_schema *schema;        /* EligibilityEvent, latest, of own or e->schemas */
	il_serde *serde;
	long long *target;      /* per change: the partner its events are about, 0 for none */
	idvec ids[4];           /* query parameters being collected */
	il_buf arr;             /* array literals of the query parameters */
	il_buf val;             /* encoded value, reused for every event */
} worker;

struct cdc_emitter {
	il_event_ctx ectx;              /* instance and key ID type */
	const char *source_kind;        /* "CDC" or "POLL" */
	const char *topic;              /* topic.eligibility */
	const il_conf *conf;
	char *conninfo;                 /* the pool's database; NULL without a pool */
	long long *programmes;          /* configured programmes, owned copy */
	size_t nprogrammes;
	char *programme_array;          /* "{1,2}", or NULL for every programme */
	cdc_change *batch;              /* the batch being filled, batch_size slots */
	size_t nbatch;
	size_t batch_size;
	size_t max_value;               /* avro.max.message.bytes */
	il_schema_set *schemas;         /* of the caller's thread */
	worker local;                   /* the caller's thread: batches inside its transaction */
	job sync;                       /* the job of local */
	worker *workers;                /* the pool */
	int nworkers;
	job *jobs;                      /* nworkers + 1, a ring: head is the oldest */
	size_t njobs;
	size_t head;                    /* under mu; written by the caller only */
	size_t count;                   /* jobs submitted, not yet produced; as head */
	size_t queued;                  /* changes in them */
	bool pool_ready;                /* mu, cvs made */
	bool stopping;                  /* under mu: workers end */
	pthread_mutex_t mu;
	pthread_cond_t work_cv;         /* a job was queued, or stopping */
	pthread_cond_t done_cv;         /* a job is done */
	il_err deferred;                /* a failure met by cdc_emitter_poll(), not yet reported */
	char deferred_reason[1024];
	size_t deferred_changes;        /* changes it dropped */
	il_producer *prod;
	long pending;                   /* events queued, not yet reported */
	long failed;                    /* events refused since the last wait */
	char fail_reason[256];          /* the first refusal's reason */
	bool dropping;                  /* being destroyed: refusals are purges */
	il_metric *m_produced[EV_NTYPES];
	il_metric *m_failures;
};

static void
delivered(void *msg_opaque, il_err err, const char *errstr, const char *topic,
    int32_t partition, int64_t offset, void *cb_ctx)
{
	cdc_emitter *e = cb_ctx;

	(void)topic;
	(void)partition;
	(void)offset;
	e->pending--;
	if (err == IL_OK) {
		/* the opaque is the counter of the event's type */
		il_metric_inc(msg_opaque, 1);
		return;
	}
	if (e->dropping)
		return;
	il_metric_inc(e->m_failures, 1);
	if (e->failed++ == 0)
		snprintf(e->fail_reason, sizeof(e->fail_reason), "%s", errstr != NULL ? errstr : "unknown");
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

/* Keys and encodes @p ev (freed here) into @p j's events. */
static il_err
keep_event(worker *w, job *j, cJSON *ev, int type, const char *id, const cdc_change *ch,
    const char *position)
{
	const cdc_emitter *e = w->e;
	char why[512];
	out_event *o;
	char *key;
	size_t len;
	il_err err;

	key = il_event_key(&e->ectx, ev, why, sizeof(why));
	if (key == NULL) {
		snprintf(j->errbuf, sizeof(j->errbuf), "could not key event \"%s\" of \"%s\" \"%s\" at \"%s\": %s",
		    id, ch->table, ch->pk, position, why);
		err = IL_ERR_INVALID;
		goto done;
	}
	il_buf_reset(&w->val);
	err = il_serde_encode(w->serde, e->topic, w->schema, ev, &w->val, why, sizeof(why));
	if (err != IL_OK) {
		snprintf(j->errbuf, sizeof(j->errbuf), "could not encode event \"%s\" of \"%s\" \"%s\" at \"%s\": %s",
		    id, ch->table, ch->pk, position, why);
		/* an unreachable registry or refused credentials are not the
		 * event's fault */
		if (err != IL_ERR_TRANSIENT && err != IL_ERR_CONFIG)
			err = IL_ERR_INVALID;
		goto done;
	}
	if (j->nout == j->capout) {
		j->capout = j->capout > 0 ? j->capout * 2 : 256;
		j->out = il_xrealloc(j->out, j->capout * sizeof(j->out[0]));
	}
	o = &j->out[j->nout];
	len = strlen(key);
	o->key = j->data.len;
	o->key_len = len;
	o->val = len + j->data.len;
	o->val_len = w->val.len;
	o->type = type;
	snprintf(o->id, sizeof(o->id), "%s", id);
	if (il_buf_add(&j->data, key, len) != IL_OK || il_buf_add(&j->data, w->val.data, w->val.len) != IL_OK) {
		snprintf(j->errbuf, sizeof(j->errbuf), "could not hold event \"%s\" of \"%s\" \"%s\" at \"%s\": "
		    "the events of one batch take more than %zu bytes", id, ch->table, ch->pk, position,
		    j->data.max);
		err = IL_ERR_INVALID;
		goto done;
	}
	j->nout++;
done:
	free(key);
	cJSON_Delete(ev);
	return err;
}

static bool
cancelled(job *j)
{
	return atomic_load_explicit(&j->cancel, memory_order_relaxed);
}

static il_err
emit_membership(worker *w, job *j, const flush *f, const cdc_change *ch)
{
	char id[65];
	cJSON *ev = event_new(w->e, f, ch, EV_MEMBERSHIP, ch->position, id);

	put(ev, "programme", programme_json(f, ch->program_id));
	put(ev, "membership", membership_json(ch->state, ch->prev, ch->enrolled, ch->exit_date));
	put(ev, "registrant", person_json(f, ch->partner_id));
	put(ev, "household", household_json(f, ch->partner_id));
	return keep_event(w, j, ev, EV_MEMBERSHIP, id, ch, ch->position);
}

/* One event per ENROLLED membership of @p partner (query 2's rows). */
static il_err
emit_fanout(worker *w, job *j, const flush *f, const cdc_change *ch, int type, long long partner)
{
	int row, n = f->enr != NULL ? PQntuples(f->enr) : 0;
	il_err err = IL_OK;

	for (row = lower_row(f->enr, partner); row < n && num(f->enr, row, 0) == partner; row++) {
		long long prog = num(f->enr, row, 1);
		char position[sizeof(ch->position) + 24], id[65];
		cJSON *ev;

		snprintf(position, sizeof(position), "%s#p%lld", ch->position, prog);
		ev = event_new(w->e, f, ch, type, position, id);
		put(ev, "programme", programme_json(f, prog));
		put(ev, "membership", membership_json("enrolled", "",
		    PQgetvalue(f->enr, row, 3), PQgetvalue(f->enr, row, 4)));
		put(ev, "registrant", person_json(f, partner));
		put(ev, "household", household_json(f, partner));
		err = keep_event(w, j, ev, type, id, ch, position);
		if (err != IL_OK)
			break;
	}
	return err;
}

static il_err
query(PGconn *db, job *j, const char *what, const char *sql, int n, const char *const *params,
    PGresult **res)
{
	if (cancelled(j)) {
		snprintf(j->errbuf, sizeof(j->errbuf), "batch dropped");
		return IL_ERR_CANCELLED;
	}
	*res = PQexecParams(db, sql, n, NULL, params, NULL, NULL, 0);
	if (PQresultStatus(*res) == PGRES_TUPLES_OK)
		return IL_OK;
	snprintf(j->errbuf, sizeof(j->errbuf), "could not read %s: %s", what, PQerrorMessage(db));
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
		snprintf(errbuf, errsz, "could not set \"DateStyle\" to ISO: %s", PQerrorMessage(db));
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
coalesce(worker *w, const job *j)
{
	dup *d = il_xmalloc((j->nbatch > 0 ? j->nbatch : 1) * sizeof(*d));
	size_t i, n = 0;

	for (i = 0; i < j->nbatch; i++) {
		if (j->batch[i].kind == CDC_MEMBERSHIP || w->target[i] == 0)
			continue;
		d[n].cls = is_household(j->batch[i].kind);
		d[n].partner = w->target[i];
		d[n].i = i;
		n++;
	}
	qsort(d, n, sizeof(*d), dup_cmp);
	for (i = 1; i < n; i++) {
		if (d[i].cls == d[i - 1].cls && d[i].partner == d[i - 1].partner)
			w->target[d[i].i] = 0;
	}
	free(d);
}

/* Builds a query parameter into w->arr; the error goes to @p j. */
static il_err
job_array(worker *w, job *j, const idvec *x, size_t *off)
{
	return put_array(&w->arr, x, off, j->errbuf, sizeof(j->errbuf));
}

/* Query 1: the households of CDC_HOUSEHOLD_OF_GM changes; sets the targets. */
static il_err
read_targets(worker *w, job *j, PGconn *db, flush *f)
{
	const char *params[1];
	size_t i, off;
	il_err err;

	w->ids[0].n = 0;
	for (i = 0; i < j->nbatch; i++) {
		w->target[i] = j->batch[i].partner_id;
		if (j->batch[i].kind == CDC_HOUSEHOLD_OF_GM)
			idvec_push(&w->ids[0], j->batch[i].id);
	}
	if (w->ids[0].n > 0) {
		il_buf_reset(&w->arr);
		err = job_array(w, j, &w->ids[0], &off);
		if (err != IL_OK)
			return err;
		params[0] = w->arr.data + off;
		err = query(db, j, "household memberships", gm_sql, 1, params, &f->gm);
		if (err != IL_OK)
			return err;
		for (i = 0; i < j->nbatch; i++) {
			int row;

			if (j->batch[i].kind != CDC_HOUSEHOLD_OF_GM)
				continue;
			/* deleted since: its own DELETE made a CDC_HOUSEHOLD */
			row = find_row(f->gm, j->batch[i].id);
			w->target[i] = row >= 0 ? num(f->gm, row, 1) : 0;
		}
	}
	coalesce(w, j);
	return IL_OK;
}

/* Query 2: the ENROLLED memberships of the registrants and households. */
static il_err
read_enrolled(worker *w, job *j, PGconn *db, flush *f)
{
	const char *params[3];
	size_t i, off[2];
	il_err err;

	w->ids[0].n = 0;
	w->ids[1].n = 0;
	for (i = 0; i < j->nbatch; i++) {
		if (j->batch[i].kind == CDC_MEMBERSHIP || w->target[i] == 0)
			continue;
		idvec_push(&w->ids[is_household(j->batch[i].kind) ? 1 : 0], w->target[i]);
	}
	if (w->ids[0].n == 0 && w->ids[1].n == 0)
		return IL_OK;
	il_buf_reset(&w->arr);
	err = job_array(w, j, &w->ids[0], &off[0]);
	if (err == IL_OK)
		err = job_array(w, j, &w->ids[1], &off[1]);
	if (err != IL_OK)
		return err;
	params[0] = w->arr.data + off[0];
	params[1] = w->arr.data + off[1];
	params[2] = w->e->programme_array;
	return query(db, j, "enrolled memberships", enrolled_sql, 3, params, &f->enr);
}

/* Queries 3 and 4: what the events carry, and their programmes. */
static il_err
read_enrichment(worker *w, job *j, PGconn *db, flush *f)
{
	idvec *partners = &w->ids[2], *progs = &w->ids[3];
	int row, n = f->enr != NULL ? PQntuples(f->enr) : 0;
	const char *params[1];
	size_t i, off[2];
	il_err err;

	partners->n = 0;
	progs->n = 0;
	for (i = 0; i < j->nbatch; i++) {
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
	il_buf_reset(&w->arr);
	err = job_array(w, j, partners, &off[0]);
	if (err == IL_OK)
		err = job_array(w, j, progs, &off[1]);
	if (err != IL_OK)
		return err;
	params[0] = w->arr.data + off[0];
	err = query(db, j, "registrants", partners->n <= EMIT_FEW_PARTNERS ? enrich_few_sql : enrich_sql, 1,
	    params, &f->rows);
	if (err != IL_OK)
		return err;
	params[0] = w->arr.data + off[1];
	err = query(db, j, "programmes", programme_sql, 1, params, &f->prog);
	if (err != IL_OK)
		return err;
	index_rows(f);
	return IL_OK;
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

/* Empties @p j's events, keeping its memory for the next batch. */
static void
job_reset(job *j)
{
	j->nout = 0;
	j->next = 0;
	j->err = IL_OK;
	j->errbuf[0] = '\0';
	il_buf_reset(&j->data);
}

/*
 * Reads what the events of @p j's batch carry on @p db and builds, keys and
 * encodes them into the job; sets j->err and j->errbuf.
 */
static void
build(worker *w, job *j, PGconn *db)
{
	flush f;
	size_t i;
	il_err err;

	job_reset(j);
	memset(&f, 0, sizeof(f));
	il_time_format_ms(il_event_now_ms(), f.produced);
	err = iso_dates(db, j->errbuf, sizeof(j->errbuf));
	if (err == IL_OK)
		err = read_targets(w, j, db, &f);
	if (err == IL_OK)
		err = read_enrolled(w, j, db, &f);
	if (err == IL_OK)
		err = read_enrichment(w, j, db, &f);
	for (i = 0; err == IL_OK && i < j->nbatch; i++) {
		const cdc_change *ch = &j->batch[i];

		if (cancelled(j)) {
			snprintf(j->errbuf, sizeof(j->errbuf), "batch dropped");
			err = IL_ERR_CANCELLED;
		} else if (ch->kind == CDC_MEMBERSHIP) {
			err = emit_membership(w, j, &f, ch);
		} else if (w->target[i] != 0) {
			err = emit_fanout(w, j, &f, ch, is_household(ch->kind) ? EV_HOUSEHOLD : EV_REGISTRANT,
			    w->target[i]);
		}
	}
	j->err = err;
	flush_clear(&f);
}

/* ---- the pool ---- */

/* Closes @p w's connection; under e->mu (its cancel handle goes with it). */
static void
worker_close(worker *w)
{
	PQfreeCancel(w->cancel);
	w->cancel = NULL;
	PQfinish(w->db);
	w->db = NULL;
}

/*
 * Opens @p w's connection to the pool's database.  The defaults bound every
 * wait on the network (as common/audit.c does): without them a server that
 * vanished mid-query hangs the worker, and with it every batch after its
 * own.  Whatever the connection string says wins over them.
 */
static il_err
worker_connect(worker *w, pthread_mutex_t *mu, char *errbuf, size_t errsz)
{
	const char *keys[] = {
		"connect_timeout", "fallback_application_name", "client_encoding",
		"keepalives", "keepalives_idle", "keepalives_interval", "keepalives_count", "tcp_user_timeout",
		"dbname", NULL,
	};
	const char *vals[] = {
		"10", "imislink-cdc", "UTF8",
		"1", "10", "5", "3", "30000",
		w->e->conninfo, NULL,
	};
	PGconn *db;
	il_err err;

	db = PQconnectdbParams(keys, vals, 1);
	if (db == NULL) {
		snprintf(errbuf, errsz, "could not connect to openSPP's database: out of memory");
		return IL_ERR_TRANSIENT;
	}
	if (PQstatus(db) != CONNECTION_OK) {
		snprintf(errbuf, errsz, "could not connect to openSPP's database: %s", PQerrorMessage(db));
		PQfinish(db);
		return IL_ERR_TRANSIENT;
	}
	err = iso_dates(db, errbuf, errsz);
	if (err != IL_OK) {
		PQfinish(db);
		return err;
	}
	pthread_mutex_lock(mu);
	w->db = db;
	w->cancel = PQgetCancel(db);
	pthread_mutex_unlock(mu);
	return IL_OK;
}

/* A job queued and not yet taken, the oldest first; under e->mu. */
static job *
next_queued(cdc_emitter *e)
{
	size_t i;

	for (i = 0; i < e->count; i++) {
		job *j = &e->jobs[(e->head + i) % e->njobs];

		if (j->state == JOB_QUEUED)
			return j;
	}
	return NULL;
}

static void *
worker_main(void *arg)
{
	worker *w = arg;
	cdc_emitter *e = w->e;
	job *j = NULL;

	pthread_mutex_lock(&e->mu);
	for (;;) {
		while (!e->stopping && (j = next_queued(e)) == NULL)
			pthread_cond_wait(&e->work_cv, &e->mu);
		if (e->stopping)
			break;
		j->state = JOB_RUNNING;
		w->job = j;
		pthread_mutex_unlock(&e->mu);
		job_reset(j);
		if (w->db != NULL || (j->err = worker_connect(w, &e->mu, j->errbuf, sizeof(j->errbuf))) == IL_OK)
			build(w, j, w->db);
		pthread_mutex_lock(&e->mu);
		/* a broken connection, or one left inside a transaction, is
		 * opened again for the next job */
		if (w->db != NULL && (PQstatus(w->db) != CONNECTION_OK ||
		    PQtransactionStatus(w->db) != PQTRANS_IDLE))
			worker_close(w);
		j->state = JOB_DONE;
		w->job = NULL;
		pthread_cond_broadcast(&e->done_cv);
	}
	pthread_mutex_unlock(&e->mu);
	return NULL;
}

/* Asks every running job to stop, cancelling its query; under e->mu. */
static void
cancel_running(cdc_emitter *e)
{
	char why[256];
	int i;

	for (i = 0; i < e->nworkers; i++) {
		worker *w = &e->workers[i];

		if (w->job == NULL)
			continue;
		atomic_store(&w->job->cancel, true);
		/* best effort: a query the cancel misses ends by itself */
		if (w->cancel != NULL)
			(void)PQcancel(w->cancel, why, (int)sizeof(why));
	}
}

/*
 * Drops every job not yet produced and the batch being filled: waits for
 * the running ones, cancelled, to end.
 */
static void
drop_all(cdc_emitter *e)
{
	size_t i;
	bool running;

	e->nbatch = 0;
	e->queued = 0;
	if (e->njobs == 0)
		return;
	pthread_mutex_lock(&e->mu);
	/* no worker may take a queued job while we wait for the running ones */
	for (i = 0; i < e->njobs; i++) {
		if (e->jobs[i].state == JOB_QUEUED)
			e->jobs[i].state = JOB_FREE;
	}
	cancel_running(e);
	for (;;) {
		running = false;
		for (i = 0; i < e->njobs; i++)
			running = running || e->jobs[i].state == JOB_RUNNING;
		if (!running)
			break;
		pthread_cond_wait(&e->done_cv, &e->mu);
	}
	for (i = 0; i < e->njobs; i++) {
		job_reset(&e->jobs[i]);
		e->jobs[i].state = JOB_FREE;
		atomic_store(&e->jobs[i].cancel, false);
	}
	e->head = 0;
	e->count = 0;
	pthread_mutex_unlock(&e->mu);
}

/* Waits on done_cv for at most @p ms; under e->mu. */
static void
wait_done(cdc_emitter *e, long ms)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	ts.tv_nsec += ms * 1000000L;
	ts.tv_sec += ts.tv_nsec / 1000000000L;
	ts.tv_nsec %= 1000000000L;
	(void)pthread_cond_timedwait(&e->done_cv, &e->mu, &ts);
}

/* Queues @p j's events on Kafka, from the first not yet queued. */
static il_err
send_job(cdc_emitter *e, job *j, char *errbuf, size_t errsz)
{
	il_err err;

	while (j->next < j->nout) {
		const out_event *o = &j->out[j->next];

		err = il_producer_send(e->prod, e->topic, RD_KAFKA_PARTITION_UA, j->data.data + o->key,
		    o->key_len, j->data.data + o->val, o->val_len, NULL, 0, e->m_produced[o->type],
		    EMIT_BLOCK_MS);
		if (err == IL_ERR_TIMEOUT) {
			/* a full queue drains only as fast as Kafka confirms:
			 * never hold a stop up behind it */
			if (il_sig_stop_requested()) {
				snprintf(errbuf, errsz, "stop requested while the producer queue was full");
				return IL_ERR_CANCELLED;
			}
			continue;
		}
		if (err != IL_OK) {
			snprintf(errbuf, errsz, "could not queue event \"%s\" for \"%s\"", o->id, e->topic);
			return err;
		}
		e->pending++;
		j->next++;
		/* serve delivery reports as we go, so the queue never fills
		 * up with reports nobody reads */
		if (j->next % EMIT_POLL_EVERY == 0)
			il_producer_poll(e->prod, 0);
	}
	il_producer_poll(e->prod, 0);
	return IL_OK;
}

/*
 * Produces the oldest job once it is built; with @p block, waits for it,
 * serving delivery reports and giving up on a stop.  *@p done says whether
 * one was produced.
 * @returns IL_OK, or the failure of the job or of its sending.
 */
static il_err
produce_head(cdc_emitter *e, bool block, bool *done, char *errbuf, size_t errsz)
{
	job *j;
	il_err err;

	*done = false;
	if (e->count == 0)
		return IL_OK;
	j = &e->jobs[e->head];
	pthread_mutex_lock(&e->mu);
	while (j->state != JOB_DONE) {
		if (!block) {
			pthread_mutex_unlock(&e->mu);
			return IL_OK;
		}
		pthread_mutex_unlock(&e->mu);
		if (il_sig_stop_requested()) {
			snprintf(errbuf, errsz, "stop requested while a batch was being enriched");
			return IL_ERR_CANCELLED;
		}
		il_producer_poll(e->prod, 0);
		pthread_mutex_lock(&e->mu);
		if (j->state != JOB_DONE)
			wait_done(e, EMIT_WAIT_MS);
	}
	pthread_mutex_unlock(&e->mu);
	if (j->err != IL_OK) {
		snprintf(errbuf, errsz, "%s", j->errbuf);
		return j->err;
	}
	err = send_job(e, j, errbuf, errsz);
	if (err != IL_OK)
		return err;
	e->queued -= j->nbatch;
	job_reset(j);
	pthread_mutex_lock(&e->mu);
	j->state = JOB_FREE;
	e->head = (e->head + 1) % e->njobs;
	e->count--;
	pthread_mutex_unlock(&e->mu);
	*done = true;
	return IL_OK;
}

/* Produces every job already built, in order, without waiting. */
static il_err
produce_ready(cdc_emitter *e, char *errbuf, size_t errsz)
{
	bool done;
	il_err err;

	do
		err = produce_head(e, false, &done, errbuf, errsz);
	while (err == IL_OK && done);
	return err;
}

/* Produces every job submitted, in order, waiting for each. */
static il_err
produce_all(cdc_emitter *e, char *errbuf, size_t errsz)
{
	bool done;
	il_err err = IL_OK;

	while (err == IL_OK && e->count > 0)
		err = produce_head(e, true, &done, errbuf, errsz);
	return err;
}

/* Hands the batch to the pool, once a job is free. */
static il_err
submit(cdc_emitter *e, char *errbuf, size_t errsz)
{
	bool done;
	cdc_change *swap;
	il_err err;
	job *j;

	err = produce_ready(e, errbuf, errsz);
	while (err == IL_OK && e->count == e->njobs)
		err = produce_head(e, true, &done, errbuf, errsz);
	if (err != IL_OK)
		return err;
	j = &e->jobs[(e->head + e->count) % e->njobs];
	swap = j->batch;
	j->batch = e->batch;
	j->nbatch = e->nbatch;
	e->batch = swap;
	e->queued += e->nbatch;
	e->nbatch = 0;
	job_reset(j);
	pthread_mutex_lock(&e->mu);
	j->state = JOB_QUEUED;
	e->count++;
	pthread_cond_signal(&e->work_cv);
	pthread_mutex_unlock(&e->mu);
	return IL_OK;
}

/* The batch on the caller's thread and @p db, after every job before it. */
static il_err
flush_here(cdc_emitter *e, PGconn *db, char *errbuf, size_t errsz)
{
	cdc_change *swap;
	job *j = &e->sync;
	il_err err;

	err = produce_all(e, errbuf, errsz);
	if (err != IL_OK)
		return err;
	swap = j->batch;
	j->batch = e->batch;
	j->nbatch = e->nbatch;
	e->batch = swap;
	e->nbatch = 0;
	build(&e->local, j, db);
	err = j->err;
	if (err != IL_OK)
		snprintf(errbuf, errsz, "%s", j->errbuf);
	else
		err = send_job(e, j, errbuf, errsz);
	job_reset(j);
	return err;
}

/* @returns a failure cdc_emitter_poll() met, once. */
static il_err
take_deferred(cdc_emitter *e, char *errbuf, size_t errsz)
{
	il_err err = e->deferred;

	snprintf(errbuf, errsz, "%s", e->deferred_reason);
	e->deferred = IL_OK;
	e->deferred_changes = 0;
	return err;
}

/* After a failure nothing more may be produced: the caller starts again. */
static il_err
give_up(cdc_emitter *e, il_err err)
{
	if (err != IL_OK)
		drop_all(e);
	return err;
}

il_err
cdc_emitter_flush(cdc_emitter *e, PGconn *db, char *errbuf, size_t errsz)
{
	if (e->deferred != IL_OK)
		return take_deferred(e, errbuf, errsz);
	if (e->nbatch == 0)
		return give_up(e, produce_ready(e, errbuf, errsz));
	/*
	 * Another session cannot see inside the caller's transaction.  A
	 * batch flushed before it is full (a transaction's end) with no job
	 * before it gains nothing from a worker, as the caller waits for it
	 * next: read at once on the caller's connection, it misses less of
	 * the state at its commit than after the hand-over.
	 */
	if (e->nworkers > 0 && PQtransactionStatus(db) == PQTRANS_IDLE &&
	    (e->count > 0 || e->nbatch == e->batch_size))
		return give_up(e, submit(e, errbuf, errsz));
	return give_up(e, flush_here(e, db, errbuf, errsz));
}

il_err
cdc_emitter_add(cdc_emitter *e, PGconn *db, const cdc_change *ch, char *errbuf, size_t errsz)
{
	il_err err;

	if (e->deferred != IL_OK)
		return take_deferred(e, errbuf, errsz);
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

il_err
cdc_emitter_wait(cdc_emitter *e, char *errbuf, size_t errsz)
{
	il_err err;

	if (e->deferred != IL_OK)
		return take_deferred(e, errbuf, errsz);
	err = give_up(e, produce_all(e, errbuf, errsz));
	if (err != IL_OK)
		return err;
	while (e->pending > 0) {
		if (il_sig_stop_requested()) {
			snprintf(errbuf, errsz, "stop requested with %ld events not confirmed", e->pending);
			return IL_ERR_CANCELLED;
		}
		il_producer_poll(e->prod, EMIT_BLOCK_MS);
	}
	if (e->failed > 0) {
		snprintf(errbuf, errsz, "kafka refused %ld events: %s", e->failed, e->fail_reason);
		e->failed = 0;
		return IL_ERR_TRANSIENT;
	}
	return IL_OK;
}

void
cdc_emitter_discard(cdc_emitter *e)
{
	drop_all(e);
	e->deferred = IL_OK;
	e->deferred_changes = 0;
}

void
cdc_emitter_poll(cdc_emitter *e)
{
	size_t had;
	il_err err;

	il_producer_poll(e->prod, 0);
	if (e->deferred != IL_OK)
		return;
	had = e->nbatch + e->queued;
	err = produce_ready(e, e->deferred_reason, sizeof(e->deferred_reason));
	if (err != IL_OK) {
		drop_all(e);
		e->deferred = err;
		e->deferred_changes = had;
	}
}

size_t
cdc_emitter_batched(const cdc_emitter *e)
{
	return e->nbatch + e->queued + e->deferred_changes;
}

long
cdc_emitter_in_flight(const cdc_emitter *e)
{
	return e->pending;
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

/*
 * Makes @p w's scratch and serde.  A pool worker has its own copy of the
 * schemas: a schema keeps one set of reusable avro-c values, and a second
 * thread encoding with it at the same time builds and frees a whole set per
 * event, which costs more than the encoding.
 */
static il_err
worker_init(cdc_emitter *e, worker *w, bool own, const il_conf *conf, char *errbuf, size_t errsz)
{
	const il_schema_set *set = e->schemas;

	w->e = e;
	w->target = il_xcalloc(e->batch_size, sizeof(w->target[0]));
	il_buf_init(&w->arr, EMIT_ARRAY_MAX);
	il_buf_init(&w->val, e->max_value);
	if (own) {
		w->own = il_schema_set_load(il_conf_get(conf, "schemas.dir"), errbuf, errsz);
		if (w->own == NULL)
			return IL_ERR_CONFIG;
		set = w->own;
	}
	w->schema = il_schema_set_latest(set, "EligibilityEvent");
	if (w->schema == NULL) {
		snprintf(errbuf, errsz, "schema \"EligibilityEvent\" is missing from \"%s\"",
		    il_conf_get(conf, "schemas.dir"));
		return IL_ERR_CONFIG;
	}
	w->serde = il_serde_new(conf, set, errbuf, errsz);
	return w->serde != NULL ? IL_OK : IL_ERR_CONFIG;
}

static void
worker_fini(worker *w)
{
	size_t i;

	if (w->e == NULL)
		return;
	PQfreeCancel(w->cancel);
	PQfinish(w->db);
	il_serde_destroy(w->serde);
	il_schema_set_destroy(w->own);
	for (i = 0; i < sizeof(w->ids) / sizeof(w->ids[0]); i++)
		free(w->ids[i].v);
	il_buf_free(&w->arr);
	il_buf_free(&w->val);
	free(w->target);
}

static void
job_init(cdc_emitter *e, job *j)
{
	j->batch = il_xcalloc(e->batch_size, sizeof(j->batch[0]));
	atomic_init(&j->cancel, false);
	il_buf_init(&j->data, EMIT_OUT_MAX);
}

static void
job_fini(job *j)
{
	free(j->batch);
	free(j->out);
	il_buf_free(&j->data);
}

/* Starts the pool of @p n workers. */
static il_err
pool_start(cdc_emitter *e, const il_conf *conf, int n, char *errbuf, size_t errsz)
{
	pthread_condattr_t ca;
	size_t i;
	int k, rc;

	/* done_cv is waited on with timeouts: on the monotonic clock, which
	 * no clock change moves */
	if (pthread_condattr_init(&ca) != 0) {
		snprintf(errbuf, errsz, "could not make the emitter's pool: out of resources");
		return IL_ERR_NOMEM;
	}
	rc = pthread_condattr_setclock(&ca, CLOCK_MONOTONIC);
	if (rc == 0)
		rc = pthread_mutex_init(&e->mu, NULL);
	if (rc == 0 && (rc = pthread_cond_init(&e->work_cv, NULL)) != 0)
		pthread_mutex_destroy(&e->mu);
	if (rc == 0 && (rc = pthread_cond_init(&e->done_cv, &ca)) != 0) {
		pthread_cond_destroy(&e->work_cv);
		pthread_mutex_destroy(&e->mu);
	}
	pthread_condattr_destroy(&ca);
	if (rc != 0) {
		snprintf(errbuf, errsz, "could not make the emitter's pool: %s", strerror(rc));
		return IL_ERR_NOMEM;
	}
	e->pool_ready = true;
	e->njobs = (size_t)n + 1;
	e->jobs = il_xcalloc(e->njobs, sizeof(e->jobs[0]));
	for (i = 0; i < e->njobs; i++)
		job_init(e, &e->jobs[i]);
	e->workers = il_xcalloc((size_t)n, sizeof(e->workers[0]));
	e->nworkers = n;
	for (k = 0; k < n; k++) {
		if (worker_init(e, &e->workers[k], true, conf, errbuf, errsz) != IL_OK)
			return IL_ERR_CONFIG;
	}
	for (k = 0; k < n; k++) {
		rc = pthread_create(&e->workers[k].thread, NULL, worker_main, &e->workers[k]);
		if (rc != 0) {
			snprintf(errbuf, errsz, "could not start the emitter's worker threads: %s", strerror(rc));
			return IL_ERR_NOMEM;
		}
		e->workers[k].started = true;
	}
	return IL_OK;
}

/* Ends the workers, cancelling what they run, and frees the pool. */
static void
pool_stop(cdc_emitter *e)
{
	size_t i;
	int k;

	if (e->pool_ready) {
		pthread_mutex_lock(&e->mu);
		e->stopping = true;
		cancel_running(e);
		pthread_cond_broadcast(&e->work_cv);
		pthread_mutex_unlock(&e->mu);
	}
	for (k = 0; k < e->nworkers; k++) {
		if (e->workers[k].started)
			pthread_join(e->workers[k].thread, NULL);
		worker_fini(&e->workers[k]);
	}
	for (i = 0; i < e->njobs; i++)
		job_fini(&e->jobs[i]);
	free(e->workers);
	free(e->jobs);
	if (e->pool_ready) {
		pthread_cond_destroy(&e->done_cv);
		pthread_cond_destroy(&e->work_cv);
		pthread_mutex_destroy(&e->mu);
	}
}

cdc_emitter *
cdc_emitter_new(const cdc_emitter_opts *o, char *errbuf, size_t errsz)
{
	const char *dir = il_conf_get(o->conf, "schemas.dir");
	char label[96];
	cdc_emitter *e;
	idvec progs = { NULL, 0, 0 };
	il_buf arr;
	size_t off;
	int t;

	if (o->batch_size == 0 || o->source_kind == NULL || o->ectx.instance == NULL || o->metrics == NULL ||
	    o->workers < 0) {
		snprintf(errbuf, errsz, "could not make the emitter: batch size, source kind, instance and "
		    "metrics are required, and workers may not be negative");
		return NULL;
	}
	e = il_xcalloc(1, sizeof(*e));
	e->ectx = o->ectx;
	e->source_kind = o->source_kind;
	e->topic = il_conf_get(o->conf, "topic.eligibility");
	e->batch_size = o->batch_size;
	e->batch = il_xcalloc(o->batch_size, sizeof(e->batch[0]));
	e->max_value = (size_t)il_conf_get_int(o->conf, "avro.max.message.bytes");
	il_buf_init(&arr, EMIT_ARRAY_MAX);
	if (o->nprogrammes > 0) {
		e->programmes = il_xmalloc(o->nprogrammes * sizeof(e->programmes[0]));
		memcpy(e->programmes, o->programmes, o->nprogrammes * sizeof(e->programmes[0]));
		e->nprogrammes = o->nprogrammes;
		progs.v = e->programmes;
		progs.n = e->nprogrammes;
		if (put_array(&arr, &progs, &off, errbuf, errsz) != IL_OK)
			goto fail;
		e->programme_array = il_buf_take(&arr);
	}
	e->schemas = il_schema_set_load(dir, errbuf, errsz);
	if (e->schemas == NULL)
		goto fail;
	job_init(e, &e->sync);
	if (worker_init(e, &e->local, false, o->conf, errbuf, errsz) != IL_OK)
		goto fail;
	if (o->conninfo != NULL && o->workers > 0) {
		e->conninfo = il_xstrdup(o->conninfo);
		if (pool_start(e, o->conf, o->workers, errbuf, errsz) != IL_OK)
			goto fail;
	}
	e->prod = il_producer_new(o->conf, delivered, e, errbuf, errsz);
	if (e->prod == NULL)
		goto fail;
	for (t = 0; t < EV_NTYPES; t++) {
		il_metrics_label(label, sizeof(label), "type", ev_names[t]);
		e->m_produced[t] = il_metrics_counter(o->metrics, "imislink_cdc_events_produced_total",
		    "events Kafka confirmed", label);
	}
	e->m_failures = il_metrics_counter(o->metrics, "imislink_cdc_delivery_failures_total",
	    "events Kafka refused or timed out", NULL);
	il_buf_free(&arr);
	return e;
fail:
	il_buf_free(&arr);
	cdc_emitter_destroy(e);
	return NULL;
}

void
cdc_emitter_destroy(cdc_emitter *e)
{
	if (e == NULL)
		return;
	/* the workers first: nothing they built is produced any more */
	pool_stop(e);
	if (e->prod != NULL) {
		/* Nothing unconfirmed was acknowledged at the source: drop it
		 * rather than wait for librdkafka's message timeout. */
		e->dropping = true;
		rd_kafka_purge(il_producer_handle(e->prod), RD_KAFKA_PURGE_F_QUEUE | RD_KAFKA_PURGE_F_INFLIGHT);
		il_producer_destroy(e->prod);
	}
	worker_fini(&e->local);
	job_fini(&e->sync);
	il_schema_set_destroy(e->schemas);
	free(e->conninfo);
	free(e->programme_array);
	free(e->programmes);
	free(e->batch);
	free(e);
}
