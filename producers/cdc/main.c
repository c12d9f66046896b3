/*
 * main.c - imislink-cdc: change capture from openSPP's PostgreSQL.  A
 * logical slot (pgoutput) streams the programme memberships; every state
 * change becomes an EligibilityEvent of type MEMBERSHIP_CHANGED carrying the
 * full registrant and household, read with one batched query per chunk of
 * changes, produced to topic.eligibility.  A transaction's end LSN is
 * acknowledged only after Kafka confirmed every event of it, so a crash
 * repeats events (same event ids) and never loses one.
 *
 * Start: the settings are checked, the publication and the slot made when
 * missing; the slot's exported snapshot gives the initial load of the
 * current memberships (cdc.snapshot).
 */
#include <inttypes.h>
#include <malloc.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <cjson/cJSON.h>
#include <libpq-fe.h>
#include <librdkafka/rdkafka.h>

#include "avro.h"
#include "buf.h"
#include "cli.h"
#include "daemon.h"
#include "event.h"
#include "kafka.h"
#include "log.h"
#include "metrics.h"
#include "pgoutput.h"
#include "pgrepl.h"
#include "serde.h"
#include "sig.h"
#include "timefmt.h"
#include "xalloc.h"

#define CDC_NAME "imislink-cdc"
#define CDC_VERSION "0.1.0"
/* Changes enriched and produced together; a larger transaction is streamed
 * in chunks of this size and acknowledged at its Commit. */
#define CDC_CHUNK 1000
#define CDC_STATUS_US 10000000LL        /* standby status at least this often */
#define CDC_SLOT_CHECK_US 5000000LL     /* slot lag read this often */
#define CDC_MAX_PROGRAMMES 256
#define CDC_MEMBERSHIP "g2p_program_membership"

static const char *const cdc_tables[] = {
	"g2p_program_membership", "res_partner", "g2p_reg_id", "g2p_phone_number",
	"g2p_group_membership", "g2p_group_membership_g2p_group_membership_kind_rel", "g2p_program",
	NULL,
};

/*
 * One query per chunk reads every registrant, its household and the
 * household's members: joins, not per-row lookups, since Odoo indexes
 * neither g2p_reg_id.partner_id nor g2p_group_membership.individual.
 */
static const char enrich_sql[] =
	"WITH p AS (SELECT DISTINCT unnest($1::int[]) AS id), "
	"hh AS (SELECT p.id AS pid, p.id AS hid FROM p JOIN res_partner r ON r.id = p.id WHERE r.is_group "
	"  UNION ALL SELECT gm.individual, gm.\"group\" FROM g2p_group_membership gm JOIN p ON gm.individual = p.id "
	"  WHERE NOT COALESCE(gm.is_ended, false)), "
	"hh1 AS (SELECT DISTINCT ON (pid) pid, hid FROM hh ORDER BY pid, hid), "
	"mem AS (SELECT gm.id AS gmid, gm.\"group\" AS hid, gm.individual, gm.start_date, gm.ended_date "
	"  FROM g2p_group_membership gm WHERE gm.\"group\" IN (SELECT hid FROM hh1) AND NOT COALESCE(gm.is_ended, false)), "
	"people AS (SELECT id FROM p UNION SELECT hid FROM hh1 UNION SELECT individual FROM mem), "
	"ids AS (SELECT x.partner_id, json_agg(json_build_object('type', t.name, 'value', x.value, 'status', x.status, "
	"  'expiry_date', x.expiry_date, 'description', x.description) ORDER BY t.id) AS a "
	"  FROM g2p_reg_id x JOIN g2p_id_type t ON t.id = x.id_type "
	"  WHERE x.partner_id IN (SELECT id FROM people) AND x.value IS NOT NULL GROUP BY x.partner_id), "
	"ph AS (SELECT partner_id, json_agg(json_build_object('number', phone_no, 'sanitized', phone_sanitized, "
	"  'date_collected', date_collected) ORDER BY id) AS a FROM g2p_phone_number "
	"  WHERE partner_id IN (SELECT id FROM people) AND disabled IS NULL GROUP BY partner_id), "
	"reg AS (SELECT r.id, json_build_object('source_id', r.id, 'external_ids', COALESCE(ids.a, '[]'::json), "
	"  'is_group', COALESCE(r.is_group, false), 'name', r.name, 'given_name', r.given_name, "
	"  'family_name', r.family_name, 'addl_name', r.addl_name, 'gender', r.gender, 'birthdate', r.birthdate, "
	"  'birthdate_exact', CASE WHEN r.birthdate IS NULL THEN NULL ELSE NOT COALESCE(r.birthdate_not_exact, false) END, "
	"  'birth_place', r.birth_place, 'registration_date', r.registration_date, "
	"  'phones', COALESCE(ph.a, '[]'::json), 'email', r.email, 'address', r.address, "
	"  'area', CASE WHEN a.id IS NULL THEN NULL ELSE json_build_object('id', a.id, 'code', a.code, 'name', a.name) END) AS j "
	"  FROM res_partner r LEFT JOIN ids ON ids.partner_id = r.id LEFT JOIN ph ON ph.partner_id = r.id "
	"  LEFT JOIN spp_area a ON a.id = r.area_id WHERE r.id IN (SELECT id FROM people)), "
	"kinds AS (SELECT k.g2p_group_membership_id AS gmid, json_agg(gk.name ORDER BY gk.id) AS roles, "
	"  bool_or(gk.name = 'Head') AS head FROM g2p_group_membership_g2p_group_membership_kind_rel k "
	"  JOIN g2p_group_membership_kind gk ON gk.id = k.g2p_group_membership_kind_id "
	"  WHERE k.g2p_group_membership_id IN (SELECT gmid FROM mem) GROUP BY 1), "
	"mm AS (SELECT mem.hid, json_agg(json_build_object('registrant', rm.j, 'roles', COALESCE(kinds.roles, '[]'::json), "
	"  'is_head', COALESCE(kinds.head, false), 'start_date', mem.start_date::date, 'end_date', mem.ended_date::date) "
	"  ORDER BY mem.gmid) AS a FROM mem JOIN reg rm ON rm.id = mem.individual "
	"  LEFT JOIN kinds ON kinds.gmid = mem.gmid GROUP BY mem.hid), "
	"hj AS (SELECT h.hid, json_build_object('source_id', h.hid, 'external_ids', rg.j->'external_ids', "
	"  'name', rg.j->'name', 'area', rg.j->'area', 'members', COALESCE(mm.a, '[]'::json)) AS j "
	"  FROM (SELECT DISTINCT hid FROM hh1) h JOIN reg rg ON rg.id = h.hid LEFT JOIN mm ON mm.hid = h.hid) "
	"SELECT p.id, reg.j, hj.j FROM p LEFT JOIN reg ON reg.id = p.id LEFT JOIN hh1 ON hh1.pid = p.id "
	"LEFT JOIN hj ON hj.hid = hh1.hid ORDER BY p.id";

static const char programme_sql[] =
	"SELECT id, name, upper(target_type) FROM g2p_program WHERE id = ANY($1::int[])";

/* The initial load pages by id inside the snapshot's transaction. */
static const char snapshot_sql[] =
	"SELECT id, partner_id, program_id, state, "
	"to_char(enrollment_date, 'YYYY-MM-DD\"T\"HH24:MI:SS.MS\"Z\"'), exit_date::text "
	"FROM g2p_program_membership WHERE id > $1 AND ($2::int[] IS NULL OR program_id = ANY($2::int[])) "
	"ORDER BY id LIMIT " "1000";

/* One membership change waiting for enrichment. */
typedef struct cdc_change {
	long long id;
	long long partner_id;
	long long program_id;
	char state[16];         /* openSPP state, lower case */
	char prev[16];          /* previous state; "" when unknown */
	char enrolled[40];      /* enrollment_date as text; "" for null */
	char exit_date[16];     /* YYYY-MM-DD; "" for null */
} cdc_change;

typedef struct cdc {
	il_daemon *d;
	const char *slot;
	const char *publication;
	const char *topic;
	char *conninfo;
	il_event_ctx ectx;
	long long programmes[CDC_MAX_PROGRAMMES];
	size_t nprogrammes;
	char *programme_array;  /* "{1,2}" or NULL for all */
	PGconn *db;             /* normal connection: snapshot, enrichment, slot info */
	il_pgrepl *repl;
	il_producer *prod;
	il_serde *serde;
	const il_schema *schema;
	il_pgoutput_relcache *rels;
	il_pgoutput_arena *arena;
	cdc_change *chunk;
	size_t nchunk;
	/* deliveries of the open transaction (or snapshot batch) */
	long pending;
	long failed;
	char fail_reason[256];
	/* the open transaction */
	bool in_txn;
	uint64_t txn_lsn;       /* its commit LSN, from Begin */
	int64_t txn_time_us;    /* its commit time, unix us */
	uint64_t acked;         /* last acknowledged end LSN */
	int64_t last_status_us;
	int64_t last_slot_us;
	int64_t warn_bytes;
	atomic_int health;
	il_metric *m_produced;
	il_metric *m_failures;
	il_metric *m_delay;
	il_metric *m_retained;
	il_metric *m_snapshot;
	il_metric *m_txns;
} cdc;

static const il_daemon_info info = {
	CDC_NAME, CDC_VERSION,
	"stream openSPP programme membership changes from PostgreSQL to Kafka",
	"Connects to openSPP's PostgreSQL (cdc.db.url) with a logical replication\n"
	"slot (cdc.slot.name, pgoutput) on publication cdc.publication.name, both\n"
	"created when missing; needs wal_level=logical and a role with REPLICATION.\n"
	"The initial load (cdc.snapshot: initial, never, always) publishes the\n"
	"current memberships of cdc.programmes from the slot's exported snapshot.\n"
	"Then every membership state change becomes an EligibilityEvent\n"
	"(MEMBERSHIP_CHANGED, with the previous state when the table has REPLICA\n"
	"IDENTITY FULL) on topic.eligibility, with the registrant and household.\n"
	"A transaction is acknowledged to PostgreSQL only after Kafka confirmed\n"
	"all its events.  Serves /metrics and /healthz on http.address:http.port.\n"
	"Runs until SIGINT or SIGTERM.\n\n"
	"Environment: IMISLINK_CDC_DB_URL (empty: PGHOST, PGPORT, PGUSER,\n"
	"PGDATABASE, PGPASSWORD), KAFKA_BOOTSTRAP_SERVERS, ...",
	NULL,
};

static int64_t
now_us(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_REALTIME, &ts);
	return (int64_t)ts.tv_sec * 1000000 + ts.tv_nsec / 1000;
}

static il_health
cdc_health(il_buf *out, void *ctx)
{
	cdc *c = ctx;
	int h = atomic_load(&c->health);

	if (il_buf_adds(out, h == IL_HEALTH_OK ? "streaming" : "starting") != IL_OK)
		return IL_HEALTH_DEGRADED;
	return (il_health)h;
}

static void
cdc_delivered(void *msg_opaque, il_err err, const char *errstr, const char *topic,
    int32_t partition, int64_t offset, void *cb_ctx)
{
	cdc *c = cb_ctx;

	(void)msg_opaque;
	(void)topic;
	(void)partition;
	(void)offset;
	c->pending--;
	if (err == IL_OK) {
		il_metric_inc(c->m_produced, 1);
		return;
	}
	il_metric_inc(c->m_failures, 1);
	if (c->failed++ == 0)
		snprintf(c->fail_reason, sizeof(c->fail_reason), "%s", errstr != NULL ? errstr : "unknown");
}

/* Waits for every delivery report; @returns IL_OK when all succeeded. */
static il_err
wait_deliveries(cdc *c, char *errbuf, size_t errsz)
{
	while (c->pending > 0)
		il_producer_poll(c->prod, 100);
	if (c->failed > 0) {
		snprintf(errbuf, errsz, "kafka refused %ld events: %s", c->failed, c->fail_reason);
		c->failed = 0;
		return IL_ERR_TRANSIENT;
	}
	return IL_OK;
}

/* Writes the ids as a PostgreSQL array literal "{1,2}" into @p out, which
 * holds 21 bytes per id and 3 more. */
static void
int_array(char *out, const long long *v, size_t n, size_t stride)
{
	size_t i, len = 0, cap = n * 21 + 3;

	out[len++] = '{';
	for (i = 0; i < n; i++) {
		const long long *x = (const long long *)(const void *)((const char *)v + i * stride);

		len += (size_t)snprintf(out + len, cap - len - 2, "%s%lld", i > 0 ? "," : "", *x);
	}
	out[len++] = '}';
	out[len] = '\0';
}

/* Parses cdc.programmes into c->programmes and the SQL array text. */
static il_err
parse_programmes(cdc *c, const char *list, char *errbuf, size_t errsz)
{
	char *copy = il_xstrdup(list), *save = NULL, *tok, *end;
	il_err err = IL_OK;

	for (tok = strtok_r(copy, ", ", &save); tok != NULL; tok = strtok_r(NULL, ", ", &save)) {
		long long v = strtoll(tok, &end, 10);

		if (*end != '\0' || v <= 0 || v > 2147483647LL || c->nprogrammes == CDC_MAX_PROGRAMMES) {
			snprintf(errbuf, errsz, "cdc.programmes: could not read \"%s\": expected at most %d programme ids",
			    tok, CDC_MAX_PROGRAMMES);
			err = IL_ERR_CONFIG;
			goto done;
		}
		c->programmes[c->nprogrammes++] = v;
	}
	if (c->nprogrammes > 0) {
		c->programme_array = il_xmalloc(c->nprogrammes * 21 + 3);
		int_array(c->programme_array, c->programmes, c->nprogrammes, sizeof(c->programmes[0]));
	}
done:
	free(copy);
	return err;
}

static bool
programme_wanted(const cdc *c, long long id)
{
	size_t i;

	if (c->nprogrammes == 0)
		return true;
	for (i = 0; i < c->nprogrammes; i++) {
		if (c->programmes[i] == id)
			return true;
	}
	return false;
}

static void
upper_copy(char *out, size_t outsz, const char *in)
{
	size_t i;

	for (i = 0; i + 1 < outsz && in[i] != '\0'; i++)
		out[i] = (char)(in[i] >= 'a' && in[i] <= 'z' ? in[i] - 'a' + 'A' : in[i]);
	out[i] = '\0';
}

/* Finds the result row of partner @p id (rows sorted by id). */
static int
find_row(PGresult *res, long long id)
{
	int lo = 0, hi = PQntuples(res) - 1;

	while (lo <= hi) {
		int mid = lo + (hi - lo) / 2;
		long long v = strtoll(PQgetvalue(res, mid, 0), NULL, 10);

		if (v == id)
			return mid;
		if (v < id)
			lo = mid + 1;
		else
			hi = mid - 1;
	}
	return -1;
}

static cJSON *
parse_or_null(PGresult *res, int row, int col)
{
	cJSON *j;

	if (row < 0 || PQgetisnull(res, row, col))
		return cJSON_CreateNull();
	j = cJSON_Parse(PQgetvalue(res, row, col));
	return j != NULL ? j : cJSON_CreateNull();
}

static cJSON *
membership_json(const cdc_change *ch)
{
	cJSON *m = cJSON_CreateObject();
	char up[16], ts[IL_TIME_LEN];
	int64_t ms;

	upper_copy(up, sizeof(up), ch->state);
	cJSON_AddStringToObject(m, "state", up);
	if (ch->prev[0] != '\0') {
		upper_copy(up, sizeof(up), ch->prev);
		cJSON_AddStringToObject(m, "previous_state", up);
	} else {
		cJSON_AddNullToObject(m, "previous_state");
	}
	if (ch->enrolled[0] != '\0' && il_time_parse_ms(ch->enrolled, IL_TIME_LENIENT, &ms) == NULL &&
	    il_time_format_ms(ms, ts))
		cJSON_AddStringToObject(m, "enrollment_date", ts);
	else
		cJSON_AddNullToObject(m, "enrollment_date");
	if (ch->exit_date[0] != '\0')
		cJSON_AddStringToObject(m, "exit_date", ch->exit_date);
	else
		cJSON_AddNullToObject(m, "exit_date");
	return m;
}

static cJSON *
programme_json(PGresult *res, long long id)
{
	int i;

	for (i = 0; res != NULL && i < PQntuples(res); i++) {
		if (strtoll(PQgetvalue(res, i, 0), NULL, 10) == id) {
			cJSON *p = cJSON_CreateObject();

			cJSON_AddNumberToObject(p, "id", (double)id);
			cJSON_AddStringToObject(p, "name", PQgetvalue(res, i, 1));
			if (PQgetisnull(res, i, 2))
				cJSON_AddNullToObject(p, "target_type");
			else
				cJSON_AddStringToObject(p, "target_type", PQgetvalue(res, i, 2));
			return p;
		}
	}
	return cJSON_CreateNull();
}

/* Builds one event, encodes and queues it. */
static il_err
produce_one(cdc *c, const cdc_change *ch, const char *position, const char *occurred,
    PGresult *reg, PGresult *prog, il_buf *val, char *errbuf, size_t errsz)
{
	cJSON *ev = cJSON_CreateObject(), *src = cJSON_CreateObject();
	char id[65], pk[24], ts[IL_TIME_LEN];
	char *key = NULL;
	int row = find_row(reg, ch->partner_id);
	il_err err;

	snprintf(pk, sizeof(pk), "%lld", ch->id);
	cJSON_AddStringToObject(src, "system", "openspp");
	cJSON_AddStringToObject(src, "instance", c->ectx.instance);
	cJSON_AddStringToObject(src, "kind", "CDC");
	cJSON_AddStringToObject(src, "position", position);
	cJSON_AddStringToObject(src, "table", CDC_MEMBERSHIP);
	cJSON_AddStringToObject(src, "primary_key", pk);
	il_event_id_of_source(src, id);
	il_time_format_ms(il_event_now_ms(), ts);
	cJSON_AddStringToObject(ev, "event_id", id);
	cJSON_AddStringToObject(ev, "event_type", "MEMBERSHIP_CHANGED");
	cJSON_AddItemToObject(ev, "source", src);
	cJSON_AddStringToObject(ev, "occurred_at", occurred);
	cJSON_AddStringToObject(ev, "produced_at", ts);
	cJSON_AddItemToObject(ev, "programme", programme_json(prog, ch->program_id));
	cJSON_AddItemToObject(ev, "membership", membership_json(ch));
	if (row < 0 || PQgetisnull(reg, row, 1)) {
		/* Deleted since the change committed: the registrant's id is all
		 * that is left, and still keys the event. */
		cJSON *r = cJSON_CreateObject();

		cJSON_AddNumberToObject(r, "source_id", (double)ch->partner_id);
		cJSON_AddItemToObject(ev, "registrant", r);
	} else {
		cJSON_AddItemToObject(ev, "registrant", parse_or_null(reg, row, 1));
	}
	cJSON_AddItemToObject(ev, "household", parse_or_null(reg, row, 2));

	key = il_event_key(&c->ectx, ev, errbuf, errsz);
	if (key == NULL) {
		err = IL_ERR_INVALID;
		goto done;
	}
	il_buf_reset(val);
	err = il_serde_encode(c->serde, c->topic, c->schema, ev, val, errbuf, errsz);
	if (err != IL_OK)
		goto done;
	for (;;) {
		err = il_producer_send(c->prod, c->topic, RD_KAFKA_PARTITION_UA, key, strlen(key),
		    val->data, val->len, NULL, 0, NULL, 1000);
		if (err != IL_ERR_TIMEOUT)
			break;
	}
	if (err == IL_OK)
		c->pending++;
	else
		snprintf(errbuf, errsz, "could not queue event \"%s\" for \"%s\"", id, c->topic);
done:
	free(key);
	cJSON_Delete(ev);
	return err;
}

/* Enriches the chunk with one batched query and produces its events. */
static il_err
flush_chunk(cdc *c, const char *position, const char *occurred, char *errbuf, size_t errsz)
{
	il_buf val;
	PGresult *reg = NULL, *prog = NULL;
	const char *params[1];
	char *ids, *progs;
	il_err err = IL_OK;
	size_t i;

	if (c->nchunk == 0)
		return IL_OK;
	ids = il_xmalloc(c->nchunk * 21 + 3);
	progs = il_xmalloc(c->nchunk * 21 + 3);
	il_buf_init(&val, (size_t)il_conf_get_int(c->d->conf, "avro.max.message.bytes"));
	int_array(ids, &c->chunk[0].partner_id, c->nchunk, sizeof(c->chunk[0]));
	int_array(progs, &c->chunk[0].program_id, c->nchunk, sizeof(c->chunk[0]));
	params[0] = ids;
	reg = PQexecParams(c->db, enrich_sql, 1, NULL, params, NULL, NULL, 0);
	if (PQresultStatus(reg) != PGRES_TUPLES_OK) {
		snprintf(errbuf, errsz, "could not read registrants: %s", PQerrorMessage(c->db));
		err = IL_ERR_TRANSIENT;
		goto done;
	}
	params[0] = progs;
	prog = PQexecParams(c->db, programme_sql, 1, NULL, params, NULL, NULL, 0);
	if (PQresultStatus(prog) != PGRES_TUPLES_OK) {
		snprintf(errbuf, errsz, "could not read programmes: %s", PQerrorMessage(c->db));
		err = IL_ERR_TRANSIENT;
		goto done;
	}
	for (i = 0; i < c->nchunk; i++) {
		err = produce_one(c, &c->chunk[i], position, occurred, reg, prog, &val, errbuf, errsz);
		if (err != IL_OK)
			goto done;
		il_producer_poll(c->prod, 0);
	}
	c->nchunk = 0;
done:
	PQclear(reg);
	PQclear(prog);
	free(ids);
	free(progs);
	il_buf_free(&val);
	return err;
}

static il_err
exec_ok(PGconn *db, const char *sql, char *errbuf, size_t errsz)
{
	PGresult *r = PQexec(db, sql);
	il_err err = IL_OK;

	if (PQresultStatus(r) != PGRES_COMMAND_OK) {
		snprintf(errbuf, errsz, "could not run \"%s\": %s", sql, PQerrorMessage(db));
		err = IL_ERR_TRANSIENT;
	}
	PQclear(r);
	return err;
}

/* The initial load: every current membership of the configured programmes,
 * read in the exported snapshot (or a fresh one when @p snapshot is ""). */
static il_err
initial_load(cdc *c, const char *snapshot, uint64_t lsn, char *errbuf, size_t errsz)
{
	char lsnbuf[IL_PGOUTPUT_LSN_LEN], position[64], occurred[IL_TIME_LEN], last[24], sql[160];
	const char *params[2];
	long long total = 0;
	il_err err;

	snprintf(position, sizeof(position), "snapshot:%s", il_pgoutput_lsn_format(lsn, lsnbuf));
	il_time_format_ms(il_event_now_ms(), occurred);
	err = exec_ok(c->db, "BEGIN ISOLATION LEVEL REPEATABLE READ READ ONLY", errbuf, errsz);
	if (err != IL_OK)
		return err;
	if (snapshot[0] != '\0') {
		snprintf(sql, sizeof(sql), "SET TRANSACTION SNAPSHOT '%s'", snapshot);
		err = exec_ok(c->db, sql, errbuf, errsz);
		if (err != IL_OK)
			goto done;
	}
	il_log_info("initial load started", IL_STR("position", position));
	snprintf(last, sizeof(last), "0");
	for (;;) {
		PGresult *r;
		int n, i;

		params[0] = last;
		params[1] = c->programme_array;
		r = PQexecParams(c->db, snapshot_sql, 2, NULL, params, NULL, NULL, 0);
		if (PQresultStatus(r) != PGRES_TUPLES_OK) {
			snprintf(errbuf, errsz, "could not read memberships: %s", PQerrorMessage(c->db));
			PQclear(r);
			err = IL_ERR_TRANSIENT;
			goto done;
		}
		n = PQntuples(r);
		for (i = 0; i < n; i++) {
			cdc_change *ch = &c->chunk[c->nchunk++];

			memset(ch, 0, sizeof(*ch));
			ch->id = strtoll(PQgetvalue(r, i, 0), NULL, 10);
			ch->partner_id = strtoll(PQgetvalue(r, i, 1), NULL, 10);
			ch->program_id = strtoll(PQgetvalue(r, i, 2), NULL, 10);
			snprintf(ch->state, sizeof(ch->state), "%s", PQgetvalue(r, i, 3));
			snprintf(ch->enrolled, sizeof(ch->enrolled), "%s", PQgetvalue(r, i, 4));
			snprintf(ch->exit_date, sizeof(ch->exit_date), "%s", PQgetvalue(r, i, 5));
		}
		if (n > 0)
			snprintf(last, sizeof(last), "%s", PQgetvalue(r, n - 1, 0));
		PQclear(r);
		if (n == 0)
			break;
		err = flush_chunk(c, position, occurred, errbuf, errsz);
		if (err == IL_OK)
			err = wait_deliveries(c, errbuf, errsz);
		if (err != IL_OK)
			goto done;
		total += n;
		il_metric_inc(c->m_snapshot, n);
		il_log_info("initial load progress", IL_INT("memberships", total));
		if (il_sig_stop_requested()) {
			snprintf(errbuf, errsz, "initial load interrupted");
			err = IL_ERR_CANCELLED;
			goto done;
		}
	}
	il_log_info("initial load done", IL_INT("memberships", total));
done:
	c->nchunk = 0;
	if (err == IL_OK)
		err = exec_ok(c->db, "COMMIT", errbuf, errsz);
	else
		PQclear(PQexec(c->db, "ROLLBACK"));
	return err;
}

/* A value of the tuple as a NUL-terminated string in @p out; "" for null. */
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

/* Queues a membership Insert or Update that changed the state. */
static void
on_membership(cdc *c, const il_pgoutput_relation *rel, const il_pgoutput_msg *m)
{
	cdc_change ch;
	char num[24];

	memset(&ch, 0, sizeof(ch));
	tuple_text(rel, &m->u.change.new_tuple, "id", num, sizeof(num));
	ch.id = strtoll(num, NULL, 10);
	tuple_text(rel, &m->u.change.new_tuple, "partner_id", num, sizeof(num));
	ch.partner_id = strtoll(num, NULL, 10);
	tuple_text(rel, &m->u.change.new_tuple, "program_id", num, sizeof(num));
	ch.program_id = strtoll(num, NULL, 10);
	if (!programme_wanted(c, ch.program_id))
		return;
	tuple_text(rel, &m->u.change.new_tuple, "state", ch.state, sizeof(ch.state));
	tuple_text(rel, &m->u.change.new_tuple, "enrollment_date", ch.enrolled, sizeof(ch.enrolled));
	tuple_text(rel, &m->u.change.new_tuple, "exit_date", ch.exit_date, sizeof(ch.exit_date));
	if (m->type == IL_PGOUTPUT_UPDATE && m->u.change.old_kind == IL_PGOUTPUT_OLD_FULL) {
		tuple_text(rel, &m->u.change.old_tuple, "state", ch.prev, sizeof(ch.prev));
		/* Another column moved (write_date, a recomputation): no event. */
		if (strcmp(ch.prev, ch.state) == 0)
			return;
	}
	c->chunk[c->nchunk++] = ch;
}

static il_err
send_status(cdc *c, bool reply, char *errbuf, size_t errsz)
{
	c->last_status_us = now_us();
	return il_pgrepl_send_status(c->repl, c->acked, c->acked, c->acked, reply, errbuf, errsz);
}

static void
check_slot(cdc *c)
{
	il_pgrepl_slot s;
	char errbuf[256];

	c->last_slot_us = now_us();
	if (il_pgrepl_slot_info(c->db, c->slot, &s, errbuf, sizeof(errbuf)) != IL_OK) {
		il_log_warn("could not read slot", IL_STR("slot", c->slot), IL_STR("reason", errbuf));
		return;
	}
	il_metric_set(c->m_retained, (double)s.retained_bytes);
	if (c->warn_bytes > 0 && s.retained_bytes > c->warn_bytes)
		il_log_warn("replication slot holds back too much WAL", IL_STR("slot", c->slot),
		    IL_INT("bytes", s.retained_bytes), IL_INT("limit", c->warn_bytes));
}

/* Streams until a stop is requested or something fails. */
static il_err
stream(cdc *c, char *errbuf, size_t errsz)
{
	char lsnbuf[IL_PGOUTPUT_LSN_LEN], occurred[IL_TIME_LEN];
	il_pgoutput_copydata cd;
	il_pgoutput_msg m;
	il_err err;

	err = il_pgrepl_start(c->repl, c->slot, 0, c->publication, errbuf, errsz);
	if (err != IL_OK)
		return err;
	atomic_store(&c->health, IL_HEALTH_OK);
	il_log_info("streaming", IL_STR("slot", c->slot), IL_STR("publication", c->publication));
	while (!il_sig_stop_requested()) {
		int64_t t = now_us();

		if (il_sig_take_reload())
			il_daemon_reload(c->d);
		if (t - c->last_status_us > CDC_STATUS_US) {
			err = send_status(c, false, errbuf, errsz);
			if (err != IL_OK)
				return err;
		}
		if (t - c->last_slot_us > CDC_SLOT_CHECK_US)
			check_slot(c);
		il_producer_poll(c->prod, 0);
		err = il_pgrepl_read(c->repl, 1000, &cd, errbuf, errsz);
		if (err == IL_ERR_TIMEOUT || err == IL_ERR_CANCELLED)
			continue;
		if (err != IL_OK)
			return err;
		if (cd.kind == 'k') {
			if (cd.reply_requested) {
				err = send_status(c, false, errbuf, errsz);
				if (err != IL_OK)
					return err;
			}
			continue;
		}
		err = il_pgoutput_decode(cd.data, cd.len, c->arena, &m, errbuf, errsz);
		if (err != IL_OK)
			return err;
		switch (m.type) {
		case IL_PGOUTPUT_BEGIN:
			c->in_txn = true;
			c->txn_lsn = m.u.begin.final_lsn;
			c->txn_time_us = il_pgoutput_time_to_unix_us(m.u.begin.commit_time);
			c->nchunk = 0;
			break;
		case IL_PGOUTPUT_RELATION:
			(void)il_pgoutput_relcache_put(c->rels, &m.u.relation);
			break;
		case IL_PGOUTPUT_INSERT:
		case IL_PGOUTPUT_UPDATE: {
			const il_pgoutput_relation *rel = il_pgoutput_relcache_get(c->rels, m.u.change.relid);

			if (rel == NULL || strcmp(rel->relname, CDC_MEMBERSHIP) != 0)
				break;
			on_membership(c, rel, &m);
			if (c->nchunk < CDC_CHUNK)
				break;
			il_time_format_ms(c->txn_time_us / 1000, occurred);
			err = flush_chunk(c, il_pgoutput_lsn_format(c->txn_lsn, lsnbuf), occurred, errbuf, errsz);
			if (err != IL_OK)
				return err;
			break;
		}
		case IL_PGOUTPUT_COMMIT:
			il_time_format_ms(c->txn_time_us / 1000, occurred);
			err = flush_chunk(c, il_pgoutput_lsn_format(c->txn_lsn, lsnbuf), occurred, errbuf, errsz);
			if (err == IL_OK)
				err = wait_deliveries(c, errbuf, errsz);
			if (err != IL_OK)
				return err;
			/* Every event of the transaction is in Kafka: only now may
			 * the server forget it. */
			c->acked = m.u.commit.end_lsn;
			c->in_txn = false;
			il_metric_inc(c->m_txns, 1);
			il_metric_set(c->m_delay, (double)(now_us() - c->txn_time_us) / 1e6);
			err = send_status(c, false, errbuf, errsz);
			if (err != IL_OK)
				return err;
			break;
		default:
			break;
		}
	}
	return IL_ERR_CANCELLED;
}

static il_err
cdc_start(cdc *c, char *errbuf, size_t errsz)
{
	const char *mode = il_conf_get(c->d->conf, "cdc.snapshot");
	char snapshot[IL_PGREPL_SNAPSHOT_LEN] = "";
	uint64_t consistent = 0;
	bool existed = false, created = false;
	il_err err;

	err = il_pgrepl_check(c->conninfo, errbuf, errsz);
	if (err != IL_OK)
		return err;
	c->db = PQconnectdb(c->conninfo);
	if (PQstatus(c->db) != CONNECTION_OK) {
		snprintf(errbuf, errsz, "could not connect to openSPP's database: %s", PQerrorMessage(c->db));
		return IL_ERR_TRANSIENT;
	}
	err = il_pgrepl_ensure_publication(c->db, c->publication, cdc_tables, &created, errbuf, errsz);
	if (err != IL_OK)
		return err;
	if (created)
		il_log_info("publication created", IL_STR("publication", c->publication));
	err = il_pgrepl_connect(c->conninfo, &c->repl, errbuf, errsz);
	if (err != IL_OK)
		return err;
	err = il_pgrepl_create_slot(c->repl, c->slot, strcmp(mode, "never") != 0, snapshot, &consistent,
	    &existed, errbuf, errsz);
	if (err != IL_OK)
		return err;
	if (!existed)
		il_log_info("slot created", IL_STR("slot", c->slot));
	if (strcmp(mode, "always") == 0 || (!existed && strcmp(mode, "initial") == 0)) {
		if (existed)
			consistent = il_pgrepl_system_info(c->repl)->xlogpos;
		err = initial_load(c, snapshot, consistent, errbuf, errsz);
	}
	return err;
}

int
main(int argc, char **argv)
{
	il_schema_set *schemas;
	il_daemon d;
	cdc c;
	char errbuf[1024];
	const char *url;
	il_err err;

	mallopt(M_ARENA_MAX, 2);
	il_daemon_init(&d, &info, argc, argv);
	memset(&c, 0, sizeof(c));
	c.d = &d;
	c.slot = il_conf_get(d.conf, "cdc.slot.name");
	c.publication = il_conf_get(d.conf, "cdc.publication.name");
	c.topic = il_conf_get(d.conf, "topic.eligibility");
	c.ectx.instance = il_conf_get(d.conf, "openspp.instance");
	c.ectx.key_id_type = il_conf_get(d.conf, "openspp.key.id.type");
	c.warn_bytes = il_conf_get_int(d.conf, "cdc.slot.lag.warn.bytes");
	url = il_conf_get(d.conf, "cdc.db.url");
	c.conninfo = il_xstrdup(url != NULL ? url : "");
	atomic_init(&c.health, IL_HEALTH_DOWN);
	if (parse_programmes(&c, il_conf_get(d.conf, "cdc.programmes"), errbuf, sizeof(errbuf)) != IL_OK)
		il_cli_fatal("%s", errbuf);
	schemas = il_schema_set_load(il_conf_get(d.conf, "schemas.dir"), errbuf, sizeof(errbuf));
	if (schemas == NULL)
		il_cli_fatal("%s", errbuf);
	c.schema = il_schema_set_latest(schemas, "EligibilityEvent");
	if (c.schema == NULL)
		il_cli_fatal("schema \"EligibilityEvent\" is missing from \"%s\"", il_conf_get(d.conf, "schemas.dir"));
	il_sig_install();
	c.serde = il_serde_new(d.conf, schemas, errbuf, sizeof(errbuf));
	if (c.serde == NULL)
		il_cli_fatal("%s", errbuf);
	c.prod = il_producer_new(d.conf, cdc_delivered, &c, errbuf, sizeof(errbuf));
	if (c.prod == NULL)
		il_cli_fatal("%s", errbuf);
	c.rels = il_pgoutput_relcache_new();
	c.arena = il_pgoutput_arena_new();
	c.chunk = il_xcalloc(CDC_CHUNK, sizeof(*c.chunk));
	c.m_produced = il_metrics_counter(d.metrics, "imislink_cdc_events_produced_total",
	    "events Kafka confirmed", NULL);
	c.m_failures = il_metrics_counter(d.metrics, "imislink_cdc_delivery_failures_total",
	    "events Kafka refused or timed out", NULL);
	c.m_delay = il_metrics_gauge(d.metrics, "imislink_cdc_replication_delay_seconds",
	    "now minus the commit time of the last acknowledged transaction, at its acknowledgement", NULL);
	c.m_retained = il_metrics_gauge(d.metrics, "imislink_cdc_slot_retained_wal_bytes",
	    "WAL the replication slot holds back", NULL);
	c.m_snapshot = il_metrics_counter(d.metrics, "imislink_cdc_snapshot_memberships_total",
	    "memberships published by the initial load", NULL);
	c.m_txns = il_metrics_counter(d.metrics, "imislink_cdc_transactions_acknowledged_total",
	    "transactions acknowledged to PostgreSQL", NULL);
	il_daemon_http(&d, cdc_health, &c);
	il_daemon_listen(&d);

	err = cdc_start(&c, errbuf, sizeof(errbuf));
	if (err == IL_OK)
		err = stream(&c, errbuf, sizeof(errbuf));
	if (err != IL_OK && err != IL_ERR_CANCELLED)
		il_log_error("stopping", IL_STR("reason", errbuf));
	il_http_stop(d.http);
	d.http = NULL;
	/* Events queued but not confirmed were never acknowledged: a restart
	 * streams their transaction again. */
	il_producer_destroy(c.prod);
	il_pgrepl_close(c.repl);
	PQfinish(c.db);
	il_serde_destroy(c.serde);
	il_schema_set_destroy(schemas);
	il_pgoutput_relcache_destroy(c.rels);
	il_pgoutput_arena_destroy(c.arena);
	free(c.chunk);
	free(c.programme_array);
	free(c.conninfo);
	il_daemon_fini(&d);
	il_log_info("stopped");
	return err == IL_OK || err == IL_ERR_CANCELLED ? 0 : 1;
}
