/*
 * poll.c - the polling fallback of imislink-cdc (cdc.mode=poll), for
 * databases that cannot grant REPLICATION: keyset polling of openSPP's
 * tables on (write_date, id), which Odoo's ORM sets at every write.
 *
 * What a row whose write_date moved becomes (the cdc_change kinds of emit.h):
 *  - g2p_program_membership of a configured programme: MEMBERSHIP, without
 *    a previous state (polling sees only the row as it is now);
 *  - res_partner individuals (is_registrant, not is_group): REGISTRANT.
 *    Groups are skipped: their write_date moves whenever Odoo recomputes
 *    their aggregates, and what changes a household is seen through
 *    g2p_group_membership;
 *  - g2p_group_membership: HOUSEHOLD of its "group";
 *  - g2p_reg_id, g2p_phone_number: REGISTRANT of their partner_id (the ORM
 *    moves their own write_date when it writes them).
 * A row whose partner or programme is NULL (a database without openSPP's
 * NOT NULL) gives no event: it is logged once per run and row version, counted in
 * imislink_cdc_ignored_changes_total{reason="incomplete row"}, and the cursor
 * moves past it, so one such row cannot hold the polling up.
 *
 * The cursor is each table's last (write_date, id), read with
 *	WHERE (write_date, id) > ($1, $2) ORDER BY write_date, id LIMIT batch
 * one page per table per round.  It lives in cdc.state.file:
 *	imislink-cdc-poll 1
 *	g2p_program_membership 2026-11-22T04:46:36.123456 1234
 *	res_partner -infinity 0
 *	...
 * one line per table (write_date as UTC with microseconds, "-infinity"
 * before the first row), replaced atomically (a temporary file in the same
 * directory, fsync, rename, fsync of the directory) and only after Kafka
 * confirmed every event before the new cursor.  Without the file,
 * memberships start from the beginning (the initial load) unless
 * cdc.snapshot is never, every other table at the database's now().  With
 * the file and cdc.snapshot=always, memberships start from the beginning
 * again and the other tables from their cursors.
 *
 * write_date is the writing transaction's start time, so a long transaction
 * can commit rows older than the cursor.  Once per cdc.poll.interval.ms
 * (and first of all at every start) the window [cursor -
 * cdc.poll.overlap.s, cursor] of every table is read again, in pages too,
 * and rows already published in this run are dropped: an in-memory set of
 * (table, id, write_date) holds what was published with a write_date inside
 * the window, and forgets what the window has left behind.  After a restart
 * the set is empty, so the window is published again: repeats, recognisable
 * because a row version always gives the same source (position
 * "poll:<write_date>", table, id) and so the same event id.  A fresh start
 * at now() reads the window before it as well, which catches transactions
 * that were running at the start.
 *
 * Limits, inherent to polling (cdc.mode=replication has none of them):
 *  - deletes are invisible (a member, ID or phone removed; a registrant
 *    deleted with its memberships);
 *  - the membership-kind link table has no write_date: a Head moved from
 *    one member to another is invisible;
 *  - a row written several times between two polls is seen once, as it is
 *    at the poll; a row whose write_date is NULL is never seen;
 *  - a transaction committing more than cdc.poll.overlap.s after it began
 *    (minus up to one poll interval) can be missed;
 *  - programmes added to cdc.programmes later get no initial load (their
 *    memberships appear when they next change), and the order of events of
 *    different tables is the polling order, not the commit order.
 * Without an index on (write_date, id) every poll reads the whole table; a
 * warning at start names the tables lacking one.
 */
#include <errno.h>
#include <fcntl.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include <libpq-fe.h>

#include "cdc.h"
#include "err.h"
#include "log.h"
#include "metrics.h"
#include "pgrepl.h"
#include "sig.h"
#include "state.h"
#include "timefmt.h"
#include "text.h"
#include "xalloc.h"

#define POLL_NTABLES 5
#define POLL_STATE_MAGIC "imislink-cdc-poll 1"
#define POLL_WD_LEN 40                  /* write_date as the queries print it */
#define POLL_LINE_MAX 256               /* longest line of the state file */
#define POLL_SEEN_MAX (1u << 20)        /* row versions the overlap set remembers */
#define POLL_SEEN_MIN_CAP 1024u
#define POLL_STEP_MS 100                /* sleeps are cut into steps to notice signals */
#define POLL_NEVER INT64_MIN            /* wd_us of "-infinity" */

/* Types of the query parameters (pg_type oids): the forward query leaves
 * $5..$7 unused and only memberships use $4, which PostgreSQL accepts when
 * the types are given. */
#define POLL_OID_INT4 23
#define POLL_OID_INT8 20
#define POLL_OID_TIMESTAMP 1114
#define POLL_OID_INT4_ARRAY 1007
#define POLL_NPARAMS 7

/* One table the fallback polls. */
typedef struct poll_table {
	const char *name;       /* source table, the state file's and the metric's label */
	cdc_change_kind kind;   /* what one of its rows becomes */
	const char *cols;       /* partner, programme, state, enrollment, exit (columns 2 to 6) */
	const char *filter;     /* which rows count */
} poll_table;

/* Memberships first: the state file and the log list them in this order. */
static const poll_table poll_tables[POLL_NTABLES] = {
	{ "g2p_program_membership", CDC_MEMBERSHIP,
	    "t.partner_id, t.program_id, t.state, "
	    "to_char(t.enrollment_date, 'YYYY-MM-DD\"T\"HH24:MI:SS.MS\"Z\"'), to_char(t.exit_date, 'YYYY-MM-DD')",
	    "($4 IS NULL OR t.program_id = ANY($4))" },
	{ "res_partner", CDC_REGISTRANT, "t.id, 0, NULL, NULL, NULL",
	    "t.is_registrant AND NOT COALESCE(t.is_group, false)" },
	{ "g2p_group_membership", CDC_HOUSEHOLD, "t.\"group\", 0, NULL, NULL, NULL", "true" },
	{ "g2p_reg_id", CDC_REGISTRANT, "t.partner_id, 0, NULL, NULL, NULL", "true" },
	{ "g2p_phone_number", CDC_REGISTRANT, "t.partner_id, 0, NULL, NULL, NULL", "true" },
};

/*
 * $1, $2 the page's last (write_date, id); $3 the page size; $4 the
 * programmes ("{1,2}", NULL for all).  The overlap query adds $5, $6 the
 * cursor and $7 the window in seconds.  write_date is printed with all its
 * microseconds so that it goes back into $1 unchanged.
 */
static const char poll_select[] =
	"SELECT t.id, to_char(t.write_date, 'YYYY-MM-DD\"T\"HH24:MI:SS.US'), %s FROM %s t "
	"WHERE (t.write_date, t.id) > ($1, $2) AND %s%s ORDER BY t.write_date, t.id LIMIT $3";
static const char poll_window[] =
	" AND (t.write_date, t.id) <= ($5, $6) AND t.write_date >= $5 - make_interval(secs => $7)";

/* Read as write_date is, so that it compares with the cursors exactly. */
static const char poll_now_sql[] =
	"SELECT to_char(now() AT TIME ZONE 'UTC', 'YYYY-MM-DD\"T\"HH24:MI:SS.US')";

/* The polled tables without an index whose first column is write_date. */
static const char poll_index_sql[] =
	"SELECT n FROM unnest($1::text[]) AS u(n) WHERE NOT EXISTS (SELECT 1 FROM pg_index i "
	"JOIN pg_class c ON c.oid = i.indrelid "
	"JOIN pg_attribute a ON a.attrelid = c.oid AND a.attnum = i.indkey[0] "
	"WHERE c.relname = u.n AND a.attname = 'write_date' AND pg_table_is_visible(c.oid)) ORDER BY n";

/* A table's position. */
typedef struct poll_cursor {
	char wd[POLL_WD_LEN];   /* write_date as the queries print it, or "-infinity" */
	int64_t wd_us;          /* the same in microseconds since the epoch; POLL_NEVER for -infinity */
	long long id;           /* the last id at that write_date */
} poll_cursor;

/* One row version published, or ignored as incomplete, in this run. */
typedef struct poll_seen_slot {
	int64_t wd_us;          /* its write_date */
	long long id;           /* its primary key */
	int table;              /* index in poll_tables; -1: empty slot */
	bool ignored;           /* skipped as incomplete, not published */
} poll_seen_slot;

/* Open addressing set of the row versions published (or ignored) inside
 * the window. */
typedef struct poll_seen {
	poll_seen_slot *slots;
	size_t cap;             /* a power of two */
	size_t n;               /* slots in use */
	bool warned;            /* the "set full" warning was logged */
} poll_seen;

typedef struct poller {
	cdc_ctx *c;
	PGconn *db;
	const char *state_path;         /* cdc.state.file */
	long long batch;                /* rows per query */
	long long interval_ms;          /* pause between polls that found nothing */
	long long overlap_s;            /* the window read again */
	char *fwd_sql[POLL_NTABLES];    /* forward keyset query of each table */
	char *ovl_sql[POLL_NTABLES];    /* overlap window query of each table */
	poll_cursor cur[POLL_NTABLES];  /* confirmed and in the state file */
	poll_cursor next[POLL_NTABLES]; /* read, waiting for Kafka */
	int64_t complete_us[POLL_NTABLES]; /* database time up to which a table was read; POLL_NEVER unknown */
	long long found[POLL_NTABLES];  /* rows passed on by the current round */
	char now_wd[POLL_WD_LEN];       /* the database's now() at the round's start, UTC */
	int64_t now_us;
	int64_t last_overlap_us;        /* database time of the last overlap pass; POLL_NEVER none */
	poll_seen seen;
	il_metric *m_rows[POLL_NTABLES];
	il_metric *m_lag;
	il_metric *m_repeats;
	il_metric *m_incomplete;        /* rows without partner or programme */
} poller;

/* ---- the set of published row versions ---- */

static uint64_t
seen_hash(int table, long long id, int64_t wd_us)
{
	uint64_t h = (uint64_t)wd_us * 0x9E3779B97F4A7C15ULL ^ (uint64_t)id * 0xC2B2AE3D27D4EB4FULL ^
	    (uint64_t)table;

	h ^= h >> 31;
	h *= 0xBF58476D1CE4E5B9ULL;
	h ^= h >> 29;
	return h;
}

static void
seen_alloc(poll_seen *s, size_t cap)
{
	size_t i;

	s->slots = il_xmalloc(cap * sizeof(*s->slots));
	s->cap = cap;
	s->n = 0;
	for (i = 0; i < cap; i++)
		s->slots[i].table = -1;
}

/* The slot holding the version, or the empty slot where it belongs. */
static poll_seen_slot *
seen_slot(const poll_seen *s, int table, long long id, int64_t wd_us)
{
	size_t i = (size_t)seen_hash(table, id, wd_us) & (s->cap - 1);

	for (;;) {
		poll_seen_slot *x = &s->slots[i];

		if (x->table < 0 || (x->table == table && x->id == id && x->wd_us == wd_us))
			return x;
		i = (i + 1) & (s->cap - 1);
	}
}

/* The version's slot, NULL when it is not in the set. */
static const poll_seen_slot *
seen_find(const poll_seen *s, int table, long long id, int64_t wd_us)
{
	const poll_seen_slot *x;

	if (s->n == 0)
		return NULL;
	x = seen_slot(s, table, id, wd_us);
	return x->table >= 0 ? x : NULL;
}

/* Moves the versions into a table of @p cap slots, except those older
 * than their table's @p floor_us (NULL: all of them). */
static void
seen_rehash(poll_seen *s, size_t cap, const int64_t *floor_us)
{
	poll_seen_slot *old = s->slots;
	size_t oldcap = s->cap, i;

	seen_alloc(s, cap);
	for (i = 0; i < oldcap; i++) {
		poll_seen_slot *x = &old[i];

		if (x->table < 0 || (floor_us != NULL && x->wd_us < floor_us[x->table]))
			continue;
		*seen_slot(s, x->table, x->id, x->wd_us) = *x;
		s->n++;
	}
	free(old);
}

static void
seen_add(poll_seen *s, int table, long long id, int64_t wd_us, bool ignored)
{
	poll_seen_slot *x;

	if (s->n >= POLL_SEEN_MAX) {
		/* Memory stays bounded; a row of the window read again is then
		 * published again, with the same event id. */
		if (!s->warned)
			il_log_warn("polling: too many rows inside the overlap window to remember, "
			    "some will be published twice", IL_INT("limit", POLL_SEEN_MAX));
		s->warned = true;
		return;
	}
	if ((s->n + 1) * 2 > s->cap)
		seen_rehash(s, s->cap * 2, NULL);
	x = seen_slot(s, table, id, wd_us);
	if (x->table >= 0)
		return;
	x->table = table;
	x->id = id;
	x->wd_us = wd_us;
	x->ignored = ignored;
	s->n++;
}

/* Forgets the versions older than each table's window. */
static void
seen_prune(poller *p)
{
	int64_t floor_us[POLL_NTABLES];
	size_t cap = POLL_SEEN_MIN_CAP;
	int t;

	for (t = 0; t < POLL_NTABLES; t++) {
		int64_t w = p->overlap_s * 1000000;

		floor_us[t] = p->cur[t].wd_us == POLL_NEVER || p->cur[t].wd_us < INT64_MIN + w ?
		    POLL_NEVER : p->cur[t].wd_us - w;
	}
	/* Sized for the survivors, which are at most the present ones. */
	while (cap < p->seen.n * 2 && cap < POLL_SEEN_MAX * 2)
		cap *= 2;
	seen_rehash(&p->seen, cap, floor_us);
	if (p->seen.n < POLL_SEEN_MAX / 2)
		p->seen.warned = false;
}

/* ---- small helpers ---- */

static bool
parse_ll(const char *s, long long *out)
{
	char *end;

	errno = 0;
	*out = strtoll(s, &end, 10);
	return s[0] != '\0' && *end == '\0' && errno == 0;
}

/* Reads "YYYY-MM-DDTHH:MM:SS.ffffff" (as the queries print write_date) or
 * "-infinity" into @p c; false when it is neither. */
static bool
parse_wd(const char *text, poll_cursor *c)
{
	int64_t ms;
	int i;

	if (strcmp(text, "-infinity") == 0) {
		snprintf(c->wd, sizeof(c->wd), "-infinity");
		c->wd_us = POLL_NEVER;
		return true;
	}
	if (strlen(text) != 26 || text[10] != 'T' || text[19] != '.')
		return false;
	for (i = 20; i < 26; i++) {
		if (text[i] < '0' || text[i] > '9')
			return false;
	}
	if (il_time_parse_ms(text, IL_TIME_LENIENT, &ms) != NULL)
		return false;
	snprintf(c->wd, sizeof(c->wd), "%s", text);
	c->wd_us = ms * 1000 + (text[23] - '0') * 100 + (text[24] - '0') * 10 + (text[25] - '0');
	return true;
}


/*
 * The reason of a failed query into @p errbuf.  @returns IL_ERR_CONFIG for
 * class 42 (a missing table, column or privilege: the operator must act),
 * IL_ERR_TRANSIENT otherwise (a lost connection, a shutdown, our statement
 * timeout: start again).
 */
static il_err
pg_fail(PGconn *db, const PGresult *r, const char *what, char *errbuf, size_t errsz)
{
	const char *state = r != NULL ? PQresultErrorField(r, PG_DIAG_SQLSTATE) : NULL;
	char line[512];

	il_text_one_line(r != NULL && PQresultErrorMessage(r)[0] != '\0' ? PQresultErrorMessage(r) :
	    PQerrorMessage(db), line, sizeof(line));
	if (state != NULL)
		il_err_setf(errbuf, errsz, "%s: %s (SQLSTATE %s)", what, line, state);
	else
		il_err_setf(errbuf, errsz, "%s: %s", what, line);
	if (PQstatus(db) == CONNECTION_OK && state != NULL && strncmp(state, "42", 2) == 0)
		return IL_ERR_CONFIG;
	return IL_ERR_TRANSIENT;
}

static void
on_notice(void *arg, const char *message)
{
	char line[512];

	(void)arg;
	il_text_one_line(message, line, sizeof(line));
	il_log_debug("polling: server notice", IL_STR("notice", line));
}

/* Sleeps @p ms in steps, serving delivery reports and SIGHUP; @returns
 * false as soon as a stop is requested. */
static bool
poll_sleep(poller *p, long long ms)
{
	while (ms > 0) {
		long long step = ms < POLL_STEP_MS ? ms : POLL_STEP_MS;
		struct timespec ts = { (time_t)(step / 1000), (long)(step % 1000) * 1000000L };

		if (il_sig_stop_requested())
			return false;
		if (il_sig_take_reload())
			il_daemon_reload(p->c->d);
		cdc_emitter_poll(p->c->em);
		nanosleep(&ts, NULL);
		ms -= step;
	}
	return !il_sig_stop_requested();
}

/* ---- the state file ---- */

/* Reads cdc.state.file into p->cur; *@p found false when there is none. */
static il_err
state_load(poller *p, bool *found, char *errbuf, size_t errsz)
{
	char line[POLL_LINE_MAX];
	bool have[POLL_NTABLES] = { false };
	size_t lineno = 0;
	il_err err = IL_ERR_CONFIG;
	FILE *f;
	int t;

	*found = false;
	f = fopen(p->state_path, "r");
	if (f == NULL) {
		if (errno == ENOENT)
			return IL_OK;
		il_err_setf(errbuf, errsz, "could not open cdc.state.file \"%s\": %s", p->state_path,
		    strerror(errno));
		return IL_ERR_CONFIG;
	}
	*found = true;
	while (fgets(line, sizeof(line), f) != NULL) {
		char *save = NULL, *name, *wd, *id, *extra;
		size_t len = strlen(line);
		poll_cursor c;

		lineno++;
		if (len == 0 || line[len - 1] != '\n') {
			il_err_setf(errbuf, errsz, "could not read cdc.state.file \"%s\": line %zu is "
			    "too long or unterminated", p->state_path, lineno);
			goto done;
		}
		line[len - 1] = '\0';
		if (lineno == 1) {
			if (strcmp(line, POLL_STATE_MAGIC) != 0) {
				il_err_setf(errbuf, errsz, "could not read cdc.state.file \"%s\": "
				    "line 1 is not \"%s\"", p->state_path, POLL_STATE_MAGIC);
				goto done;
			}
			continue;
		}
		name = strtok_r(line, " ", &save);
		wd = strtok_r(NULL, " ", &save);
		id = strtok_r(NULL, " ", &save);
		extra = strtok_r(NULL, " ", &save);
		if (name == NULL || wd == NULL || id == NULL || extra != NULL ||
		    !parse_wd(wd, &c) || !parse_ll(id, &c.id)) {
			il_err_setf(errbuf, errsz, "could not read cdc.state.file \"%s\": line %zu: "
			    "expected \"<table> <write_date> <id>\"", p->state_path, lineno);
			goto done;
		}
		for (t = 0; t < POLL_NTABLES; t++) {
			if (strcmp(name, poll_tables[t].name) == 0)
				break;
		}
		if (t == POLL_NTABLES || have[t]) {
			il_err_setf(errbuf, errsz, "could not read cdc.state.file \"%s\": line %zu: "
			    "%s table \"%s\"", p->state_path, lineno, t == POLL_NTABLES ? "unknown" : "repeated",
			    name);
			goto done;
		}
		have[t] = true;
		p->cur[t] = c;
	}
	if (ferror(f)) {
		il_err_setf(errbuf, errsz, "could not read cdc.state.file \"%s\": %s", p->state_path,
		    strerror(errno));
		goto done;
	}
	for (t = 0; t < POLL_NTABLES; t++) {
		if (!have[t]) {
			il_err_setf(errbuf, errsz, "could not read cdc.state.file \"%s\": no line for "
			    "table \"%s\"", p->state_path, poll_tables[t].name);
			goto done;
		}
	}
	err = IL_OK;
done:
	fclose(f);
	return err;
}

/*
 * Replaces cdc.state.file with p->cur: a crash leaves either the old
 * file or the new one, never a mixture.  @returns IL_ERR_IO with the reason.
 */
static il_err
state_write(poller *p, char *errbuf, size_t errsz)
{
	char text[POLL_NTABLES * (POLL_WD_LEN + 96) + 64];
	size_t len;
	int t;

	len = (size_t)snprintf(text, sizeof(text), "%s\n", POLL_STATE_MAGIC);
	for (t = 0; t < POLL_NTABLES; t++)
		len += (size_t)snprintf(text + len, sizeof(text) - len, "%s %s %lld\n", poll_tables[t].name,
		    p->cur[t].wd, p->cur[t].id);
	return cdc_state_replace(p->state_path, text, len, errbuf, errsz);
}

/* Microseconds between two reads of the overlap window. */
static int64_t
overlap_every_us(const poller *p)
{
	int64_t quarter = (int64_t)p->overlap_s * 1000000 / 4, interval = (int64_t)p->interval_ms * 1000;

	return quarter > interval ? quarter : interval;
}

/* ---- queries ---- */

/* Connects as common/audit.c does: every wait on the network bounded. */
static il_err
poll_connect(poller *p, char *errbuf, size_t errsz)
{
	il_err err;

	err = il_pgrepl_connect_db(p->c->conninfo, CDC_STATEMENT_TIMEOUT_MS, &p->db, errbuf, errsz);
	if (err == IL_ERR_CONFIG) {
		char why[256];

		snprintf(why, sizeof(why), "%s", errbuf);
		il_err_setf(errbuf, errsz, "cdc.db.url: %s", why);
	}
	if (err != IL_OK)
		return err;
	PQsetNoticeProcessor(p->db, on_notice, NULL);
	return IL_OK;
}

/* The database's clock, UTC, into p->now_wd and p->now_us. */
static il_err
db_now(poller *p, char *errbuf, size_t errsz)
{
	PGresult *r = PQexec(p->db, poll_now_sql);
	il_err err = IL_OK;
	poll_cursor c;

	if (PQresultStatus(r) != PGRES_TUPLES_OK) {
		err = pg_fail(p->db, r, "could not read the database's clock", errbuf, errsz);
		goto done;
	}
	if (PQntuples(r) != 1 || PQnfields(r) != 1 || !parse_wd(PQgetvalue(r, 0, 0), &c)) {
		il_err_setf(errbuf, errsz, "could not read the database's clock: got %d rows and %d fields, "
		    "expected 1 row and 1 field", PQntuples(r), PQnfields(r));
		err = IL_ERR_TRANSIENT;
		goto done;
	}
	snprintf(p->now_wd, sizeof(p->now_wd), "%s", c.wd);
	p->now_us = c.wd_us;
done:
	PQclear(r);
	return err;
}

/* Warns about every polled table without an index on write_date; best effort. */
static void
check_indexes(poller *p)
{
	const char *params[1];
	char names[512];
	size_t len = 0;
	PGresult *r;
	int t, i;

	names[len++] = '{';
	for (t = 0; t < POLL_NTABLES; t++)
		len += (size_t)snprintf(names + len, sizeof(names) - len, "%s%s", t > 0 ? "," : "",
		    poll_tables[t].name);
	snprintf(names + len, sizeof(names) - len, "}");
	params[0] = names;
	r = PQexecParams(p->db, poll_index_sql, 1, NULL, params, NULL, NULL, 0);
	for (i = 0; PQresultStatus(r) == PGRES_TUPLES_OK && i < PQntuples(r); i++)
		il_log_warn("polling: table has no index on write_date, every poll reads all of it",
		    IL_STR("table", PQgetvalue(r, i, 0)), IL_STR("hint", "CREATE INDEX ON <table> (write_date, id)"));
	PQclear(r);
}

/* Runs a page query of table @p t after @p from; the window query when
 * @p window. */
static PGresult *
page_query(poller *p, int t, const poll_cursor *from, bool window)
{
	static const Oid types[POLL_NPARAMS] = {
		POLL_OID_TIMESTAMP, POLL_OID_INT8, POLL_OID_INT8, POLL_OID_INT4_ARRAY,
		POLL_OID_TIMESTAMP, POLL_OID_INT8, POLL_OID_INT4,
	};
	const char *params[POLL_NPARAMS];
	char id[24], limit[24], cur_id[24], overlap[24];

	snprintf(id, sizeof(id), "%lld", from->id);
	snprintf(limit, sizeof(limit), "%lld", p->batch);
	snprintf(cur_id, sizeof(cur_id), "%lld", p->cur[t].id);
	snprintf(overlap, sizeof(overlap), "%lld", p->overlap_s);
	params[0] = from->wd;
	params[1] = id;
	params[2] = limit;
	params[3] = p->c->programme_array;
	params[4] = p->cur[t].wd;
	params[5] = cur_id;
	params[6] = overlap;
	return PQexecParams(p->db, window ? p->ovl_sql[t] : p->fwd_sql[t], POLL_NPARAMS, types, params,
	    NULL, NULL, 0);
}

/*
 * A row without partner or programme: nothing to enrich or key, so no
 * event.  Remembered with the published versions, so that the re-reads of
 * the overlap window neither log nor count it again.
 */
static void
ignore_row(poller *p, int t, const poll_cursor *row)
{
	il_log_warn("polling: row without partner or programme skipped, it gives no event",
	    IL_STR("table", poll_tables[t].name), IL_INT("id", row->id));
	il_metric_inc(p->m_incomplete, 1);
	seen_add(&p->seen, t, row->id, row->wd_us, true);
}

/*
 * Passes the rows of @p r (table @p t) to the emitter, except versions
 * already published or ignored in this run and incomplete rows, and sets
 * @p last to the last row.  @returns IL_OK, IL_ERR_TRANSIENT for an answer
 * of another shape, or the emitter's error.
 */
static il_err
take_rows(poller *p, int t, PGresult *r, poll_cursor *last, long long *taken, char *errbuf, size_t errsz)
{
	const poll_table *pt = &poll_tables[t];
	int i, n = PQntuples(r);
	il_err err;

	*taken = 0;
	if (PQnfields(r) != 7) {
		il_err_setf(errbuf, errsz, "could not read \"%s\": got %d fields, expected 7", pt->name,
		    PQnfields(r));
		return IL_ERR_TRANSIENT;
	}
	for (i = 0; i < n; i++) {
		const poll_seen_slot *seen;
		cdc_change ch;
		poll_cursor row;

		memset(&ch, 0, sizeof(ch));
		if (!parse_ll(PQgetvalue(r, i, 0), &row.id) || !parse_wd(PQgetvalue(r, i, 1), &row)) {
			il_err_setf(errbuf, errsz, "could not read \"%s\": row %d is not (id, write_date, "
			    "partner, programme)", pt->name, i);
			return IL_ERR_TRANSIENT;
		}
		*last = row;
		seen = seen_find(&p->seen, t, row.id, row.wd_us);
		if (seen != NULL) {
			if (!seen->ignored)
				il_metric_inc(p->m_repeats, 1);
			continue;
		}
		if (PQgetisnull(r, i, 2) || PQgetisnull(r, i, 3)) {
			ignore_row(p, t, &row);
			continue;
		}
		if (!parse_ll(PQgetvalue(r, i, 2), &ch.partner_id) ||
		    !parse_ll(PQgetvalue(r, i, 3), &ch.program_id)) {
			il_err_setf(errbuf, errsz, "could not read \"%s\": row %d is not (id, write_date, "
			    "partner, programme)", pt->name, i);
			return IL_ERR_TRANSIENT;
		}
		ch.kind = pt->kind;
		ch.id = row.id;
		snprintf(ch.state, sizeof(ch.state), "%s", PQgetvalue(r, i, 4));
		snprintf(ch.enrolled, sizeof(ch.enrolled), "%s", PQgetvalue(r, i, 5));
		snprintf(ch.exit_date, sizeof(ch.exit_date), "%s", PQgetvalue(r, i, 6));
		snprintf(ch.position, sizeof(ch.position), "poll:%s", row.wd);
		snprintf(ch.table, sizeof(ch.table), "%s", pt->name);
		snprintf(ch.pk, sizeof(ch.pk), "%lld", row.id);
		ch.occurred_ms = row.wd_us / 1000;
		err = cdc_emitter_add(p->c->em, p->db, &ch, errbuf, errsz);
		if (err != IL_OK)
			return err;
		seen_add(&p->seen, t, row.id, row.wd_us, false);
		il_metric_inc(p->m_rows[t], 1);
		(*taken)++;
	}
	return IL_OK;
}

/* Flushes the emitter and waits until Kafka confirmed all of it. */
static il_err
confirm(poller *p, char *errbuf, size_t errsz)
{
	il_err err = cdc_emitter_flush(p->c->em, p->db, errbuf, errsz);

	if (err == IL_OK)
		err = cdc_emitter_wait(p->c->em, errbuf, errsz);
	return err;
}

static void
update_lag(poller *p)
{
	int64_t lag = 0;
	int t;

	for (t = 0; t < POLL_NTABLES; t++) {
		if (p->complete_us[t] != POLL_NEVER && p->now_us - p->complete_us[t] > lag)
			lag = p->now_us - p->complete_us[t];
	}
	il_metric_set(p->m_lag, (double)lag / 1e6);
}

/*
 * One page of every table after its cursor; once Kafka confirmed them, the
 * cursors move and the state file is replaced.  @returns IL_OK with
 * *@p more true when some table filled its page (more may follow at once).
 */
static il_err
forward_round(poller *p, bool *more, char *errbuf, size_t errsz)
{
	long long read = 0, taken = 0, n;
	bool full[POLL_NTABLES];
	il_err err;
	int t;

	*more = false;
	for (t = 0; t < POLL_NTABLES; t++) {
		PGresult *r = page_query(p, t, &p->cur[t], false);

		p->next[t] = p->cur[t];
		p->found[t] = 0;
		if (PQresultStatus(r) != PGRES_TUPLES_OK) {
			err = pg_fail(p->db, r, "could not poll the changed rows", errbuf, errsz);
			PQclear(r);
			return err;
		}
		err = take_rows(p, t, r, &p->next[t], &n, errbuf, errsz);
		full[t] = PQntuples(r) >= p->batch;
		read += PQntuples(r);
		PQclear(r);
		if (err != IL_OK)
			return err;
		p->found[t] = n;
		taken += n;
		*more = *more || full[t];
	}
	if (read == 0) {
		for (t = 0; t < POLL_NTABLES; t++)
			p->complete_us[t] = p->now_us;
		return IL_OK;
	}
	err = confirm(p, errbuf, errsz);
	if (err != IL_OK)
		return err;
	/* Everything up to next[] is in Kafka: only now may the file say so. */
	for (t = 0; t < POLL_NTABLES; t++) {
		p->cur[t] = p->next[t];
		p->complete_us[t] = full[t] ? p->cur[t].wd_us : p->now_us;
	}
	err = state_write(p, errbuf, errsz);
	if (err != IL_OK)
		return IL_ERR_TRANSIENT;
	if (taken > 0)
		il_log_info("polled changed rows", IL_INT(poll_tables[0].name, p->found[0]),
		    IL_INT(poll_tables[1].name, p->found[1]), IL_INT(poll_tables[2].name, p->found[2]),
		    IL_INT(poll_tables[3].name, p->found[3]), IL_INT(poll_tables[4].name, p->found[4]),
		    IL_INT("read", read), IL_STR("cursor", p->cur[0].wd));
	return IL_OK;
}

/*
 * Reads every table's window [cursor - overlap, cursor] again, in pages,
 * and publishes the rows not yet published in this run: rows of
 * transactions that committed after the cursor passed their write_date.
 */
static il_err
overlap_pass(poller *p, char *errbuf, size_t errsz)
{
	long long late = 0, n;
	il_err err;
	int t;

	for (t = 0; t < POLL_NTABLES; t++) {
		poll_cursor page;

		p->found[t] = 0;
		if (p->cur[t].wd_us == POLL_NEVER)
			continue;
		parse_wd("-infinity", &page);
		page.id = 0;
		for (;;) {
			PGresult *r = page_query(p, t, &page, true);
			int rows;

			if (PQresultStatus(r) != PGRES_TUPLES_OK) {
				err = pg_fail(p->db, r, "could not read the overlap window", errbuf, errsz);
				PQclear(r);
				return err;
			}
			rows = PQntuples(r);
			err = take_rows(p, t, r, &page, &n, errbuf, errsz);
			PQclear(r);
			if (err != IL_OK)
				return err;
			p->found[t] += n;
			late += n;
			if (rows < p->batch)
				break;
			if (il_sig_stop_requested())
				return IL_ERR_CANCELLED;
		}
	}
	if (late > 0) {
		err = confirm(p, errbuf, errsz);
		if (err != IL_OK)
			return err;
		il_log_info("polled rows of the overlap window not published before "
		    "(committed late, or read again after a start)",
		    IL_INT(poll_tables[0].name, p->found[0]), IL_INT(poll_tables[1].name, p->found[1]),
		    IL_INT(poll_tables[2].name, p->found[2]), IL_INT(poll_tables[3].name, p->found[3]),
		    IL_INT(poll_tables[4].name, p->found[4]));
	}
	seen_prune(p);
	return IL_OK;
}

/* The membership cursors before the first row: every membership is a
 * change for the (initial) load. */
static void
memberships_from_beginning(poller *p)
{
	int t;

	for (t = 0; t < POLL_NTABLES; t++) {
		if (poll_tables[t].kind != CDC_MEMBERSHIP)
			continue;
		parse_wd("-infinity", &p->cur[t]);
		p->cur[t].id = 0;
	}
}

/* The cursors without a state file: where cdc.snapshot says. */
static il_err
start_cursors(poller *p, char *errbuf, size_t errsz)
{
	int t;

	/* The past of the other tables is not wanted. */
	for (t = 0; t < POLL_NTABLES; t++) {
		parse_wd(p->now_wd, &p->cur[t]);
		p->cur[t].id = 0;
	}
	if (strcmp(il_conf_get(p->c->d->conf, "cdc.snapshot"), "never") != 0)
		memberships_from_beginning(p);
	/* Written at once: a crash before the first change keeps this start,
	 * and a file that cannot be written is found now. */
	if (state_write(p, errbuf, errsz) != IL_OK)
		return IL_ERR_CONFIG;
	il_log_info("polling: no state file, starting", IL_STR("conf_key", "cdc.state.file"),
	    IL_STR("file", p->state_path), IL_STR("memberships", p->cur[0].wd), IL_STR("others", p->now_wd));
	return IL_OK;
}

/*
 * cdc.snapshot=always with a state file: the memberships are loaded again
 * from the beginning, while every other table goes on from its cursor (its
 * changes since the last run are still wanted).  The file keeps the old
 * membership cursor until the load moves it, so a load cut short starts
 * again at the next start.
 */
static void
reload_memberships_maybe(poller *p)
{
	if (strcmp(il_conf_get(p->c->d->conf, "cdc.snapshot"), "always") != 0)
		return;
	memberships_from_beginning(p);
	il_log_info("polling: cdc.snapshot is always, memberships loaded again from the beginning",
	    IL_STR("conf_key", "cdc.snapshot"));
}

static void
poller_init(poller *p, cdc_ctx *c)
{
	const il_conf *conf = c->d->conf;
	char label[128];
	int t;

	memset(p, 0, sizeof(*p));
	p->c = c;
	p->state_path = il_conf_get(conf, "cdc.state.file");
	p->batch = il_conf_get_int(conf, "cdc.poll.batch.size");
	p->interval_ms = il_conf_get_int(conf, "cdc.poll.interval.ms");
	p->overlap_s = il_conf_get_int(conf, "cdc.poll.overlap.s");
	p->last_overlap_us = POLL_NEVER;
	seen_alloc(&p->seen, POLL_SEEN_MIN_CAP);
	for (t = 0; t < POLL_NTABLES; t++) {
		const poll_table *pt = &poll_tables[t];

		p->fwd_sql[t] = il_xasprintf(poll_select, pt->cols, pt->name, pt->filter, "");
		p->ovl_sql[t] = il_xasprintf(poll_select, pt->cols, pt->name, pt->filter, poll_window);
		p->complete_us[t] = POLL_NEVER;
		il_metrics_label(label, sizeof(label), "table", pt->name);
		p->m_rows[t] = il_metrics_counter(c->d->metrics, "imislink_cdc_poll_rows_total",
		    "changed rows the polling fallback passed on, by table", label);
	}
	p->m_lag = il_metrics_gauge(c->d->metrics, "imislink_cdc_poll_cursor_lag_seconds",
	    "the database's now() minus the oldest point up to which a table has been polled "
	    "(a table that was caught up counts as polled up to that poll)", NULL);
	/* Not duplicates avoided: the window follows the cursor, so a row is
	 * counted at every pass while it lies in it (without end on a table
	 * nothing newer is written to); a repeat sent after a restart is not
	 * counted at all. */
	p->m_repeats = il_metrics_counter(c->d->metrics, "imislink_cdc_poll_repeats_dropped_total",
	    "rows read again (by the re-reads of the overlap window) and not published because this "
	    "run already published them; a row counts at every re-read", NULL);
	il_metrics_label(label, sizeof(label), "reason", "incomplete row");
	p->m_incomplete = il_metrics_counter(c->d->metrics, "imislink_cdc_ignored_changes_total",
	    "changes that give no event", label);
}

static void
poller_fini(poller *p)
{
	int t;

	for (t = 0; t < POLL_NTABLES; t++) {
		free(p->fwd_sql[t]);
		free(p->ovl_sql[t]);
	}
	free(p->seen.slots);
	PQfinish(p->db);
}

il_err
cdc_poll_run(cdc_ctx *c, char *errbuf, size_t errsz)
{
	poller p;
	bool found;
	il_err err;
	int t;

	poller_init(&p, c);
	/* The file first: a malformed one is the operator's to fix, whatever
	 * the database's state. */
	err = state_load(&p, &found, errbuf, errsz);
	if (err != IL_OK)
		goto done;
	err = poll_connect(&p, errbuf, errsz);
	if (err == IL_OK)
		err = db_now(&p, errbuf, errsz);
	if (err == IL_OK && !found)
		err = start_cursors(&p, errbuf, errsz);
	else if (err == IL_OK)
		reload_memberships_maybe(&p);
	if (err != IL_OK)
		goto done;
	for (t = 0; t < POLL_NTABLES; t++)
		p.complete_us[t] = p.cur[t].wd_us;
	check_indexes(&p);
	il_log_info("polling", IL_STR("file", p.state_path), IL_INT("interval_ms", p.interval_ms),
	    IL_INT("overlap_s", p.overlap_s), IL_INT("batch", p.batch));
	for (;;) {
		bool more = false;

		if (il_sig_stop_requested()) {
			err = IL_ERR_CANCELLED;
			break;
		}
		if (il_sig_take_reload())
			il_daemon_reload(c->d);
		err = db_now(&p, errbuf, errsz);
		if (err != IL_OK)
			break;
		/* The window is read again a few times over its length, not at
		 * every poll: a row committed late waits at most a quarter of it. */
		if (p.overlap_s > 0 && (p.last_overlap_us == POLL_NEVER ||
		    p.now_us - p.last_overlap_us >= overlap_every_us(&p))) {
			err = overlap_pass(&p, errbuf, errsz);
			if (err != IL_OK)
				break;
			p.last_overlap_us = p.now_us;
		}
		err = forward_round(&p, &more, errbuf, errsz);
		if (err != IL_OK)
			break;
		atomic_store(&c->health, IL_HEALTH_OK);
		update_lag(&p);
		if (!more && !poll_sleep(&p, p.interval_ms)) {
			err = IL_ERR_CANCELLED;
			break;
		}
	}
	if (err == IL_ERR_CANCELLED)
		il_err_setf(errbuf, errsz, "polling stopped");
done:
	if (err != IL_ERR_CANCELLED)
		atomic_store(&c->health, IL_HEALTH_DOWN);
	/* What was not confirmed is read again from the cursor at restart. */
	cdc_emitter_discard(c->em);
	poller_fini(&p);
	return err;
}
