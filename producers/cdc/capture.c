/*
 * capture.c - change capture by logical replication (pgoutput).
 *
 * Start: the settings are checked (il_pgrepl_check names what is missing),
 * the publication and the slot are made when missing, and the slot's
 * exported snapshot gives the initial load of the current memberships
 * (cdc.snapshot).  Then the stream is decoded and every row change of the
 * published tables that matters becomes a cdc_change for the emitter:
 *
 *  g2p_program_membership  Insert, or Update whose state changed -> MEMBERSHIP
 *  res_partner             Update of a mapped column of a registrant -> REGISTRANT
 *                          (a group: HOUSEHOLD of itself)
 *  g2p_reg_id, g2p_phone_number   any change -> REGISTRANT of partner_id
 *  g2p_group_membership    Insert, Delete, Update of who/when -> HOUSEHOLD
 *  the membership-kind link table  Insert, Delete -> HOUSEHOLD_OF_GM
 *
 * Whether an Update changed something is read from the old tuple, which
 * PostgreSQL sends only for tables with REPLICA IDENTITY FULL.  Without it a
 * membership Update always counts (previous state unknown), an individual's
 * Update always counts, a group's never (its write_date moves whenever Odoo
 * recomputes its aggregates), and a Delete carries only the primary key, so
 * the registrant or household it concerns is unknown.  Deletes of
 * memberships and Truncates give no event: they are counted and logged.
 *
 * The finished initial load is recorded in cdc.state.file; a load cut short
 * runs again at the next start.  A transaction's end LSN is acknowledged only
 * after Kafka confirmed every event of it (commits close together share one
 * wait); between transactions, a keepalive's WAL end is acknowledged
 * when nothing is waiting, so the slot does not hold back WAL that other
 * databases of the cluster write.  Each change's position is its own LSN,
 * so two changes of one row in a transaction have distinct event ids.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <libpq-fe.h>

#include "cdc.h"
#include "log.h"
#include "metrics.h"
#include "pgoutput.h"
#include "pgrepl.h"
#include "sig.h"
#include "state.h"
#include "text.h"
#include "timefmt.h"
#include "timers.h"

#define CAPTURE_STATUS_MS 10000         /* standby status at least this often */
#define CAPTURE_SLOT_CHECK_MS 5000      /* slot lag read this often */
#define CAPTURE_SNAPSHOT_PAGE "1000"
#define CAPTURE_SETTLE_MS 200           /* commits wait at most this long for their acknowledgement */
#define CAPTURE_STATE_MAGIC "imislink-cdc-slot 1"

static const char *const capture_tables[] = {
	"g2p_program_membership", "res_partner", "g2p_reg_id", "g2p_phone_number",
	"g2p_group_membership", "g2p_group_membership_g2p_group_membership_kind_rel", "g2p_program",
	NULL,
};

/* Columns of res_partner an event carries: a change to another one (write_date,
 * a stored aggregate) is noise. */
static const char *const registrant_columns[] = {
	"name", "given_name", "family_name", "addl_name", "birthdate", "birthdate_not_exact",
	"birth_place", "gender", "registration_date", "address", "phone", "mobile", "email",
	"active", "disabled", "area_id", NULL,
};

/* Columns of g2p_group_membership that say who belongs to a household, and when. */
static const char *const household_columns[] = {
	"group", "individual", "start_date", "ended_date", "is_ended", "status", NULL,
};

/*
 * A snapshot event occurred when its row was last written (Odoo's
 * write_date, UTC without time zone; else create_date; else the load's
 * start): a load cut short and run again at the same position, nothing
 * written meanwhile, gives the same events, ids and contents alike.
 */
static const char snapshot_sql[] =
	"SELECT id, partner_id, program_id, state, enrollment_date::text, exit_date::text, "
	"  (extract(epoch FROM coalesce(write_date, create_date, now() AT TIME ZONE 'UTC')) * 1000)::bigint "
	"FROM g2p_program_membership WHERE id > $1 AND ($2::int[] IS NULL OR program_id = ANY($2::int[])) "
	"ORDER BY id LIMIT " CAPTURE_SNAPSHOT_PAGE;

typedef struct capture {
	cdc_ctx *c;
	const char *slot;
	const char *publication;
	PGconn *db;                     /* normal connection: snapshot, enrichment, slot info */
	il_pgrepl *repl;
	il_pgoutput_relcache *rels;
	il_pgoutput_arena *arena;
	const char *state_path;         /* cdc.state.file: the slot whose initial load finished */
	bool in_txn;
	int64_t txn_time_ms;            /* the open transaction's commit time */
	uint64_t committed;             /* end LSN of the last Commit received */
	int64_t committed_time_ms;      /* its commit time */
	int64_t settle_due_ms;          /* when the commits received must be acknowledged */
	uint64_t acked;                 /* last end LSN acknowledged */
	int64_t last_status_ms;
	int64_t last_slot_ms;
	int64_t warn_bytes;
	il_metric *m_delay;
	il_metric *m_retained;
	il_metric *m_snapshot;
	il_metric *m_txns;
	il_metric *m_deletes;
	il_metric *m_truncates;
} capture;

/* The value of column @p col as a NUL-terminated string in @p out; "" for
 * null, unchanged TOAST or a missing column. */
static void
tuple_text(const il_pgoutput_relation *rel, const il_pgoutput_tuple *t, const char *col,
    char *out, size_t outsz)
{
	int i = il_pgoutput_relation_column(rel, col);
	size_t n;

	out[0] = '\0';
	if (i < 0 || i >= (int)t->ncols || t->values[i].kind != IL_PGOUTPUT_TEXT)
		return;
	n = t->values[i].len < outsz - 1 ? t->values[i].len : outsz - 1;
	memcpy(out, t->values[i].data, n);
	out[n] = '\0';
}

static long long
tuple_ll(const il_pgoutput_relation *rel, const il_pgoutput_tuple *t, const char *col)
{
	char num[24];

	tuple_text(rel, t, col, num, sizeof(num));
	return strtoll(num, NULL, 10);
}

/* Whether an Update changed one of @p cols; true when the old tuple is not
 * known.  A value that did not change may arrive as unchanged TOAST. */
static bool
columns_changed(const il_pgoutput_relation *rel, const il_pgoutput_msg *m, const char *const *cols)
{
	const il_pgoutput_tuple *o = &m->u.change.old_tuple, *n = &m->u.change.new_tuple;
	size_t k;

	if (m->u.change.old_kind != IL_PGOUTPUT_OLD_FULL)
		return true;
	for (k = 0; cols[k] != NULL; k++) {
		int i = il_pgoutput_relation_column(rel, cols[k]);
		const il_pgoutput_value *a, *b;

		if (i < 0 || i >= (int)o->ncols || i >= (int)n->ncols)
			continue;
		a = &o->values[i];
		b = &n->values[i];
		if (a->kind == IL_PGOUTPUT_UNCHANGED || b->kind == IL_PGOUTPUT_UNCHANGED)
			continue;
		if (a->kind != b->kind || a->len != b->len || (a->len > 0 && memcmp(a->data, b->data, a->len) != 0))
			return true;
	}
	return false;
}

/* The tuple a change is about: the new one, or the old one of a Delete. */
static const il_pgoutput_tuple *
row_of(const il_pgoutput_msg *m)
{
	return m->type == IL_PGOUTPUT_DELETE ? &m->u.change.old_tuple : &m->u.change.new_tuple;
}

static void
change_init(cdc_change *ch, cdc_change_kind kind, const il_pgoutput_relation *rel, const il_pgoutput_msg *m,
    uint64_t lsn, int64_t occurred_ms)
{
	memset(ch, 0, sizeof(*ch));
	ch->kind = kind;
	il_pgoutput_lsn_format(lsn, ch->position);
	snprintf(ch->table, sizeof(ch->table), "%s", rel->relname);
	if (kind == CDC_HOUSEHOLD_OF_GM)
		snprintf(ch->pk, sizeof(ch->pk), "%lld,%lld",
		    tuple_ll(rel, row_of(m), "g2p_group_membership_id"),
		    tuple_ll(rel, row_of(m), "g2p_group_membership_kind_id"));
	else
		snprintf(ch->pk, sizeof(ch->pk), "%lld", tuple_ll(rel, row_of(m), "id"));
	ch->occurred_ms = occurred_ms;
}

static il_err
add(capture *cp, const cdc_change *ch, char *errbuf, size_t errsz)
{
	return cdc_emitter_add(cp->c->em, cp->db, ch, errbuf, errsz);
}

static il_err
on_membership(capture *cp, const il_pgoutput_relation *rel, const il_pgoutput_msg *m, uint64_t lsn,
    char *errbuf, size_t errsz)
{
	const il_pgoutput_tuple *t = &m->u.change.new_tuple;
	cdc_change ch;

	if (m->type == IL_PGOUTPUT_DELETE) {
		/* openSPP exits members by state; a deleted membership has no
		 * state an event could carry. */
		il_metric_inc(cp->m_deletes, 1);
		il_log_info("membership deleted: no event", IL_STR("table", rel->relname),
		    IL_INT("id", tuple_ll(rel, &m->u.change.old_tuple, "id")));
		return IL_OK;
	}
	change_init(&ch, CDC_MEMBERSHIP, rel, m, lsn, cp->txn_time_ms);
	ch.id = tuple_ll(rel, t, "id");
	ch.partner_id = tuple_ll(rel, t, "partner_id");
	ch.program_id = tuple_ll(rel, t, "program_id");
	if (!cdc_emitter_wants_programme(cp->c->em, ch.program_id))
		return IL_OK;
	tuple_text(rel, t, "state", ch.state, sizeof(ch.state));
	tuple_text(rel, t, "enrollment_date", ch.enrolled, sizeof(ch.enrolled));
	tuple_text(rel, t, "exit_date", ch.exit_date, sizeof(ch.exit_date));
	if (m->type == IL_PGOUTPUT_UPDATE && m->u.change.old_kind == IL_PGOUTPUT_OLD_FULL) {
		tuple_text(rel, &m->u.change.old_tuple, "state", ch.prev, sizeof(ch.prev));
		if (strcmp(ch.prev, ch.state) == 0)
			return IL_OK;
	}
	return add(cp, &ch, errbuf, errsz);
}

static il_err
on_partner(capture *cp, const il_pgoutput_relation *rel, const il_pgoutput_msg *m, uint64_t lsn,
    char *errbuf, size_t errsz)
{
	const il_pgoutput_tuple *t = &m->u.change.new_tuple;
	char is_group[8], is_registrant[8];
	cdc_change ch;

	/* A new registrant is enrolled in nothing yet; a deleted one leaves
	 * its households, which their memberships' Deletes report. */
	if (m->type != IL_PGOUTPUT_UPDATE)
		return IL_OK;
	tuple_text(rel, t, "is_registrant", is_registrant, sizeof(is_registrant));
	tuple_text(rel, t, "is_group", is_group, sizeof(is_group));
	if (strcmp(is_registrant, "t") != 0)
		return IL_OK;
	if (strcmp(is_group, "t") == 0 && m->u.change.old_kind != IL_PGOUTPUT_OLD_FULL)
		return IL_OK;
	if (!columns_changed(rel, m, registrant_columns))
		return IL_OK;
	change_init(&ch, strcmp(is_group, "t") == 0 ? CDC_HOUSEHOLD : CDC_REGISTRANT, rel, m, lsn, cp->txn_time_ms);
	ch.partner_id = tuple_ll(rel, t, "id");
	return add(cp, &ch, errbuf, errsz);
}

/*
 * A row that belongs to a registrant or household, named in @p column: an
 * ID or phone (partner_id: REGISTRANT) or a household membership ("group":
 * HOUSEHOLD).  A row moved from one owner to another changed both.
 */
static il_err
on_owned_row(capture *cp, const il_pgoutput_relation *rel, const il_pgoutput_msg *m, uint64_t lsn,
    cdc_change_kind kind, const char *column, char *errbuf, size_t errsz)
{
	cdc_change ch;

	change_init(&ch, kind, rel, m, lsn, cp->txn_time_ms);
	ch.partner_id = tuple_ll(rel, row_of(m), column);
	if (m->type == IL_PGOUTPUT_UPDATE && m->u.change.old_kind == IL_PGOUTPUT_OLD_FULL) {
		long long before = tuple_ll(rel, &m->u.change.old_tuple, column);

		if (before > 0 && before != ch.partner_id) {
			cdc_change old = ch;
			il_err err;

			old.partner_id = before;
			err = add(cp, &old, errbuf, errsz);
			if (err != IL_OK)
				return err;
		}
	}
	if (ch.partner_id <= 0) {
		/* A Delete without REPLICA IDENTITY FULL names only its id. */
		il_log_info("change without its owner: no event", IL_STR("table", rel->relname),
		    IL_STR("id", ch.pk));
		return IL_OK;
	}
	return add(cp, &ch, errbuf, errsz);
}

static il_err
on_member_kind(capture *cp, const il_pgoutput_relation *rel, const il_pgoutput_msg *m, uint64_t lsn,
    char *errbuf, size_t errsz)
{
	cdc_change ch;

	change_init(&ch, CDC_HOUSEHOLD_OF_GM, rel, m, lsn, cp->txn_time_ms);
	ch.id = tuple_ll(rel, row_of(m), "g2p_group_membership_id");
	if (ch.id <= 0)
		return IL_OK;
	return add(cp, &ch, errbuf, errsz);
}

/* One Insert, Update or Delete of a published table. */
static il_err
on_change(capture *cp, const il_pgoutput_msg *m, uint64_t lsn, char *errbuf, size_t errsz)
{
	const il_pgoutput_relation *rel = il_pgoutput_relcache_get(cp->rels, m->u.change.relid);
	const char *t;

	if (rel == NULL) {
		snprintf(errbuf, errsz, "change of relation %u before its description", m->u.change.relid);
		return IL_ERR_DECODE;
	}
	t = rel->relname;
	if (strcmp(t, "g2p_program_membership") == 0)
		return on_membership(cp, rel, m, lsn, errbuf, errsz);
	if (strcmp(t, "res_partner") == 0)
		return on_partner(cp, rel, m, lsn, errbuf, errsz);
	if (strcmp(t, "g2p_reg_id") == 0 || strcmp(t, "g2p_phone_number") == 0)
		return on_owned_row(cp, rel, m, lsn, CDC_REGISTRANT, "partner_id", errbuf, errsz);
	if (strcmp(t, "g2p_group_membership") == 0) {
		if (m->type == IL_PGOUTPUT_UPDATE && !columns_changed(rel, m, household_columns))
			return IL_OK;
		return on_owned_row(cp, rel, m, lsn, CDC_HOUSEHOLD, "group", errbuf, errsz);
	}
	if (strcmp(t, "g2p_group_membership_g2p_group_membership_kind_rel") == 0)
		return on_member_kind(cp, rel, m, lsn, errbuf, errsz);
	/* g2p_program: programmes are read when events are built. */
	return IL_OK;
}

static il_err
exec_ok(PGconn *db, const char *sql, char *errbuf, size_t errsz)
{
	PGresult *r = PQexec(db, sql);
	il_err err = IL_OK;

	if (PQresultStatus(r) != PGRES_COMMAND_OK) {
		char line[512];

		il_text_one_line(PQerrorMessage(db), line, sizeof(line));
		snprintf(errbuf, errsz, "could not run \"%s\": %s", sql, line);
		err = IL_ERR_TRANSIENT;
	}
	PQclear(r);
	return err;
}

/* Adds one page of the initial load; @returns the rows read, or -1 with
 * the error in @p err. */
static int
snapshot_page(capture *cp, const char *position, char *last, size_t lastsz, il_err *err,
    char *errbuf, size_t errsz)
{
	const char *params[2] = { last, cp->c->programme_array };
	PGresult *r;
	int n, i;

	r = PQexecParams(cp->db, snapshot_sql, 2, NULL, params, NULL, NULL, 0);
	if (PQresultStatus(r) != PGRES_TUPLES_OK) {
		char line[512];

		il_text_one_line(PQerrorMessage(cp->db), line, sizeof(line));
		snprintf(errbuf, errsz, "could not read memberships: %s", line);
		PQclear(r);
		*err = IL_ERR_TRANSIENT;
		return -1;
	}
	n = PQntuples(r);
	for (i = 0; i < n; i++) {
		cdc_change ch;

		memset(&ch, 0, sizeof(ch));
		ch.kind = CDC_MEMBERSHIP;
		ch.id = strtoll(PQgetvalue(r, i, 0), NULL, 10);
		ch.partner_id = strtoll(PQgetvalue(r, i, 1), NULL, 10);
		ch.program_id = strtoll(PQgetvalue(r, i, 2), NULL, 10);
		snprintf(ch.state, sizeof(ch.state), "%s", PQgetvalue(r, i, 3));
		snprintf(ch.enrolled, sizeof(ch.enrolled), "%s", PQgetvalue(r, i, 4));
		snprintf(ch.exit_date, sizeof(ch.exit_date), "%s", PQgetvalue(r, i, 5));
		snprintf(ch.position, sizeof(ch.position), "%s", position);
		snprintf(ch.table, sizeof(ch.table), "g2p_program_membership");
		snprintf(ch.pk, sizeof(ch.pk), "%lld", ch.id);
		ch.occurred_ms = strtoll(PQgetvalue(r, i, 6), NULL, 10);
		*err = add(cp, &ch, errbuf, errsz);
		if (*err != IL_OK) {
			PQclear(r);
			return -1;
		}
	}
	if (n > 0)
		snprintf(last, lastsz, "%s", PQgetvalue(r, n - 1, 0));
	PQclear(r);
	return n;
}

/*
 * The initial load: every current membership of the configured programmes,
 * read in the slot's exported snapshot (or a fresh one when @p snapshot is
 * ""), so that the stream continues exactly where the load ends.
 */
static il_err
initial_load(capture *cp, const char *snapshot, uint64_t lsn, char *errbuf, size_t errsz)
{
	char position[48], lsnbuf[IL_PGOUTPUT_LSN_LEN], last[24] = "0", sql[160];
	long long total = 0;
	il_err err;

	snprintf(position, sizeof(position), "snapshot:%s", il_pgoutput_lsn_format(lsn, lsnbuf));
	err = exec_ok(cp->db, "BEGIN ISOLATION LEVEL REPEATABLE READ READ ONLY", errbuf, errsz);
	if (err != IL_OK)
		return err;
	if (snapshot[0] != '\0') {
		snprintf(sql, sizeof(sql), "SET TRANSACTION SNAPSHOT '%s'", snapshot);
		err = exec_ok(cp->db, sql, errbuf, errsz);
		if (err != IL_OK)
			goto done;
	}
	il_log_info("initial load started", IL_STR("position", position));
	for (;;) {
		int n = snapshot_page(cp, position, last, sizeof(last), &err, errbuf, errsz);

		if (n < 0)
			goto done;
		if (n == 0)
			break;
		err = cdc_emitter_flush(cp->c->em, cp->db, errbuf, errsz);
		if (err == IL_OK)
			err = cdc_emitter_wait(cp->c->em, errbuf, errsz);
		if (err != IL_OK)
			goto done;
		total += n;
		il_metric_inc(cp->m_snapshot, n);
		il_log_info("initial load progress", IL_INT("memberships", total));
		if (il_sig_stop_requested()) {
			snprintf(errbuf, errsz, "initial load interrupted");
			err = IL_ERR_CANCELLED;
			goto done;
		}
	}
	il_log_info("initial load done", IL_INT("memberships", total));
done:
	if (err == IL_OK)
		return exec_ok(cp->db, "COMMIT", errbuf, errsz);
	cdc_emitter_discard(cp->c->em);
	PQclear(PQexec(cp->db, "ROLLBACK"));
	return err;
}

static il_err
send_status(capture *cp, char *errbuf, size_t errsz)
{
	cp->last_status_ms = il_timers_now_ms();
	return il_pgrepl_send_status(cp->repl, cp->acked, cp->acked, cp->acked, false, errbuf, errsz);
}

static void
check_slot(capture *cp)
{
	il_pgrepl_slot s;
	char errbuf[256];

	cp->last_slot_ms = il_timers_now_ms();
	if (il_pgrepl_slot_info(cp->db, cp->slot, &s, errbuf, sizeof(errbuf)) != IL_OK) {
		il_log_warn("could not read slot", IL_STR("slot", cp->slot), IL_STR("reason", errbuf));
		return;
	}
	il_metric_set(cp->m_retained, (double)s.retained_bytes);
	if (cp->warn_bytes > 0 && s.retained_bytes > cp->warn_bytes)
		il_log_warn("replication slot holds back too much WAL", IL_STR("slot", cp->slot),
		    IL_INT("bytes", s.retained_bytes), IL_INT("limit", cp->warn_bytes));
}

/*
 * Commit: the transaction's end LSN waits for its acknowledgement with the
 * commits that follow within CAPTURE_SETTLE_MS, so that a registry committing
 * one row at a time costs one Kafka round trip per group, not per commit.
 */
static void
on_commit(capture *cp, const il_pgoutput_msg *m)
{
	if (cp->committed <= cp->acked)
		cp->settle_due_ms = il_timers_now_ms() + CAPTURE_SETTLE_MS;
	cp->committed = m->u.commit.end_lsn;
	cp->committed_time_ms = cp->txn_time_ms;
	cp->in_txn = false;
	il_metric_inc(cp->m_txns, 1);
}

/*
 * Everything received to Kafka, then the last commit acknowledged: the wait
 * covers every event queued before it, hence every transaction committed.
 */
static il_err
settle(capture *cp, char *errbuf, size_t errsz)
{
	il_err err;

	err = cdc_emitter_flush(cp->c->em, cp->db, errbuf, errsz);
	if (err == IL_OK)
		err = cdc_emitter_wait(cp->c->em, errbuf, errsz);
	if (err != IL_OK)
		return err;
	cp->acked = cp->committed;
	il_metric_set(cp->m_delay, (double)(il_event_now_ms() - cp->committed_time_ms) / 1e3);
	return send_status(cp, errbuf, errsz);
}

/*
 * A keepalive: the server has sent everything before its WAL end.  With no
 * transaction open and nothing waiting for Kafka, that position is ours too.
 */
static il_err
on_keepalive(capture *cp, const il_pgoutput_copydata *cd, char *errbuf, size_t errsz)
{
	if (!cp->in_txn && cp->committed <= cp->acked && cdc_emitter_batched(cp->c->em) == 0 &&
	    cdc_emitter_in_flight(cp->c->em) == 0 && cd->wal_end > cp->acked) {
		cp->acked = cd->wal_end;
		return send_status(cp, errbuf, errsz);
	}
	if (cd->reply_requested)
		return send_status(cp, errbuf, errsz);
	return IL_OK;
}

static il_err
on_message(capture *cp, const il_pgoutput_copydata *cd, char *errbuf, size_t errsz)
{
	il_pgoutput_msg m;
	il_err err;

	err = il_pgoutput_decode(cd->data, cd->len, cp->arena, &m, errbuf, errsz);
	if (err != IL_OK)
		return err;
	switch (m.type) {
	case IL_PGOUTPUT_BEGIN:
		cp->in_txn = true;
		cp->txn_time_ms = il_pgoutput_time_to_unix_us(m.u.begin.commit_time) / 1000;
		return IL_OK;
	case IL_PGOUTPUT_RELATION:
		/* Sent again after DDL (a column added): the new description
		 * replaces the old one. */
		(void)il_pgoutput_relcache_put(cp->rels, &m.u.relation);
		return IL_OK;
	case IL_PGOUTPUT_INSERT:
	case IL_PGOUTPUT_UPDATE:
	case IL_PGOUTPUT_DELETE:
		return on_change(cp, &m, cd->wal_start, errbuf, errsz);
	case IL_PGOUTPUT_TRUNCATE:
		il_metric_inc(cp->m_truncates, 1);
		il_log_warn("tables truncated: no event", IL_INT("relations", m.u.truncate.nrelids));
		return IL_OK;
	case IL_PGOUTPUT_COMMIT:
		on_commit(cp, &m);
		return IL_OK;
	default:
		return IL_OK;
	}
}

/* Streams until a stop is requested or something fails. */
static il_err
stream(capture *cp, char *errbuf, size_t errsz)
{
	il_pgoutput_copydata cd;
	il_err err;

	err = il_pgrepl_start(cp->repl, cp->slot, 0, cp->publication, errbuf, errsz);
	if (err != IL_OK)
		return err;
	atomic_store(&cp->c->health, IL_HEALTH_OK);
	il_log_info("streaming", IL_STR("slot", cp->slot), IL_STR("publication", cp->publication));
	while (!il_sig_stop_requested()) {
		int64_t t = il_timers_now_ms();
		bool settling;

		if (il_sig_take_reload())
			il_daemon_reload(cp->c->d);
		if (t - cp->last_status_ms > CAPTURE_STATUS_MS) {
			err = send_status(cp, errbuf, errsz);
			if (err != IL_OK)
				return err;
		}
		if (t - cp->last_slot_ms > CAPTURE_SLOT_CHECK_MS)
			check_slot(cp);
		cdc_emitter_poll(cp->c->em);
		settling = cp->committed > cp->acked;
		if (settling && t >= cp->settle_due_ms) {
			err = settle(cp, errbuf, errsz);
			if (err != IL_OK)
				return err;
			continue;
		}
		/* With commits waiting, a quiet moment is the time to settle them. */
		err = il_pgrepl_read(cp->repl, settling ? 0 : 1000, &cd, errbuf, errsz);
		if (err == IL_ERR_TIMEOUT && settling) {
			err = settle(cp, errbuf, errsz);
			if (err != IL_OK)
				return err;
			continue;
		}
		if (err == IL_ERR_TIMEOUT || err == IL_ERR_CANCELLED)
			continue;
		if (err != IL_OK)
			return err;
		err = cd.kind == 'k' ? on_keepalive(cp, &cd, errbuf, errsz) : on_message(cp, &cd, errbuf, errsz);
		if (err != IL_OK)
			return err;
	}
	return IL_ERR_CANCELLED;
}

/*
 * Whether cdc.state.file records that the initial load of this slot
 * finished.  Losing the file only makes the load run again (repeats, with
 * the same ids); a file of another kind is refused rather than overwritten.
 */
static il_err
load_recorded(capture *cp, bool *done, char *errbuf, size_t errsz)
{
	size_t mlen = strlen(CAPTURE_STATE_MAGIC), slen = strlen(cp->slot);
	const char *line;
	bool found;
	il_buf text;
	il_err err;

	*done = false;
	il_buf_init(&text, 4096);
	err = cdc_state_read(cp->state_path, &text, &found, errbuf, errsz);
	if (err != IL_OK || !found)
		goto out;
	if (text.len < mlen + 1 || memcmp(text.data, CAPTURE_STATE_MAGIC "\n", mlen + 1) != 0) {
		il_err_setf(errbuf, errsz, "cdc.state.file \"%s\" is not a replication state (line 1 is not "
		    "\"%s\"): a polling cursor? give each mode its own file", cp->state_path, CAPTURE_STATE_MAGIC);
		err = IL_ERR_CONFIG;
		goto out;
	}
	line = text.data + mlen + 1;
	*done = strncmp(line, cp->slot, slen) == 0 && line[slen] == ' ';
out:
	il_buf_free(&text);
	return err;
}

static il_err
record_load(capture *cp, uint64_t lsn, char *errbuf, size_t errsz)
{
	char text[256], lsnbuf[IL_PGOUTPUT_LSN_LEN];
	int n;

	n = snprintf(text, sizeof(text), "%s\n%s %s\n", CAPTURE_STATE_MAGIC, cp->slot,
	    il_pgoutput_lsn_format(lsn, lsnbuf));
	if (n < 0 || (size_t)n >= sizeof(text)) {
		il_err_setf(errbuf, errsz, "slot name \"%s\" too long for cdc.state.file", cp->slot);
		return IL_ERR_CONFIG;
	}
	return cdc_state_replace(cp->state_path, text, (size_t)n, errbuf, errsz);
}

/* Tells, once, which tables lack REPLICA IDENTITY FULL and what is lost. */
static void
check_replica_identity(capture *cp)
{
	static const char sql[] =
		"SELECT c.relname FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace "
		"WHERE n.nspname = current_schema() AND c.relreplident <> 'f' AND c.relname = ANY('{"
		"g2p_program_membership,res_partner,g2p_reg_id,g2p_phone_number,g2p_group_membership}') "
		"ORDER BY 1";
	PGresult *r = PQexec(cp->db, sql);
	int i;

	for (i = 0; PQresultStatus(r) == PGRES_TUPLES_OK && i < PQntuples(r); i++)
		il_log_warn("table without REPLICA IDENTITY FULL: previous states, the filter of unchanged "
		    "updates and the registrant of a deleted row are lost; run ALTER TABLE ... REPLICA IDENTITY FULL",
		    IL_STR("table", PQgetvalue(r, i, 0)));
	PQclear(r);
}

static il_err
start(capture *cp, char *errbuf, size_t errsz)
{
	const char *mode = il_conf_get(cp->c->d->conf, "cdc.snapshot");
	char snapshot[IL_PGREPL_SNAPSHOT_LEN] = "";
	uint64_t consistent = 0;
	bool existed = false, created = false, loaded = false;
	il_err err;

	err = il_pgrepl_check(cp->c->conninfo, errbuf, errsz);
	if (err != IL_OK)
		return err;
	err = il_pgrepl_connect_db(cp->c->conninfo, CDC_STATEMENT_TIMEOUT_MS, &cp->db, errbuf, errsz);
	if (err != IL_OK)
		return err;
	check_replica_identity(cp);
	err = il_pgrepl_ensure_publication(cp->db, cp->publication, capture_tables, &created, errbuf, errsz);
	if (err != IL_OK)
		return err;
	if (created)
		il_log_info("publication created", IL_STR("publication", cp->publication));
	err = il_pgrepl_connect(cp->c->conninfo, &cp->repl, errbuf, errsz);
	if (err != IL_OK)
		return err;
	err = il_pgrepl_create_slot(cp->repl, cp->slot, strcmp(mode, "never") != 0, snapshot, &consistent,
	    &existed, errbuf, errsz);
	if (err != IL_OK)
		return err;
	if (!existed)
		il_log_info("slot created", IL_STR("slot", cp->slot));
	if (strcmp(mode, "never") == 0)
		return IL_OK;
	if (existed && strcmp(mode, "initial") == 0) {
		err = load_recorded(cp, &loaded, errbuf, errsz);
		if (err != IL_OK || loaded)
			return err;
		/* A load cut short (a crash, a lost connection): the stream
		 * resumes at the slot, and a fresh snapshot covers the rest. */
		il_log_warn("slot exists but its initial load did not finish: loading again",
		    IL_STR("slot", cp->slot), IL_STR("file", cp->state_path));
	}
	if (existed)
		consistent = il_pgrepl_system_info(cp->repl)->xlogpos;
	err = initial_load(cp, snapshot, consistent, errbuf, errsz);
	if (err == IL_OK)
		err = record_load(cp, consistent, errbuf, errsz);
	return err;
}

il_err
cdc_capture_run(cdc_ctx *c, char *errbuf, size_t errsz)
{
	il_metrics *mx = c->d->metrics;
	capture cp;
	il_err err;

	memset(&cp, 0, sizeof(cp));
	cp.c = c;
	cp.slot = il_conf_get(c->d->conf, "cdc.slot.name");
	cp.publication = il_conf_get(c->d->conf, "cdc.publication.name");
	cp.warn_bytes = il_conf_get_int(c->d->conf, "cdc.slot.lag.warn.bytes");
	cp.state_path = il_conf_get(c->d->conf, "cdc.state.file");
	cp.rels = il_pgoutput_relcache_new();
	cp.arena = il_pgoutput_arena_new();
	cp.m_delay = il_metrics_gauge(mx, "imislink_cdc_replication_delay_seconds",
	    "now minus the commit time of the last acknowledged transaction, at its acknowledgement", NULL);
	cp.m_retained = il_metrics_gauge(mx, "imislink_cdc_slot_retained_wal_bytes",
	    "WAL the replication slot holds back", NULL);
	cp.m_snapshot = il_metrics_counter(mx, "imislink_cdc_snapshot_memberships_total",
	    "memberships published by the initial load", NULL);
	cp.m_txns = il_metrics_counter(mx, "imislink_cdc_transactions_acknowledged_total",
	    "transactions acknowledged to PostgreSQL", NULL);
	cp.m_deletes = il_metrics_counter(mx, "imislink_cdc_ignored_changes_total",
	    "changes that give no event", "reason=\"membership deleted\"");
	cp.m_truncates = il_metrics_counter(mx, "imislink_cdc_ignored_changes_total",
	    "changes that give no event", "reason=\"truncate\"");

	err = start(&cp, errbuf, errsz);
	if (err == IL_OK)
		err = stream(&cp, errbuf, errsz);
	/* Changes of a transaction not acknowledged come again on restart. */
	cdc_emitter_discard(c->em);
	il_pgrepl_close(cp.repl);
	PQfinish(cp.db);
	il_pgoutput_relcache_destroy(cp.rels);
	il_pgoutput_arena_destroy(cp.arena);
	return err;
}
