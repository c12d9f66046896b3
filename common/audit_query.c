/*
 * audit_query.c - what the operator commands `imislink dlq ...` read from
 * and change in the audit store (audit.h; the connection and the worker's
 * writes are audit.c's).
 *
 * Every statement is parameterised (PQexecParams): filter values, ids and
 * reasons come from a command line and never become SQL text.  Each call is
 * one statement, so it sees one snapshot and changes rows atomically without
 * an explicit transaction.  Times leave as epoch milliseconds and are
 * formatted here (timefmt.h), so the output never depends on the server's
 * TimeZone or DateStyle.
 */
#include <limits.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <cjson/cJSON.h>
#include <libpq-fe.h>

#include "audit.h"
#include "audit_int.h"
#include "buf.h"
#include "cli.h"
#include "timefmt.h"
#include "xalloc.h"

/* Parameters of the longest statement: every criterion of a filter plus a
 * limit, with room to spare. */
#define AQ_MAX_PARAMS 12
/* Room for one id of an int8[] literal: a sign, 19 digits and a comma. */
#define AQ_ID_CHARS 21
/* An epoch-millisecond column as text: NULL stays NULL. */
#define AQ_MS(col) "floor(extract(epoch from " col ") * 1000)::int8"
/* The advisory lock of `dlq replay`: "dlqreply" in ASCII, so that it reads
 * as ours in pg_locks (audit.c's migrations lock is "imislink"). */
#define AQ_REPLAY_LOCK_KEY "7236283437419621497"
/* The time a filter's range and the stats' day refer to. */
#define AQ_FAILURE_TIME "coalesce(last_failure, stored_at)"

/* One statement under construction: its text and its parameters. */
struct aq_query {
	il_buf sql;                     /* the statement */
	const char *values[AQ_MAX_PARAMS]; /* parameter texts, borrowed or in owned[] */
	char *owned[AQ_MAX_PARAMS];     /* the texts made here, freed with the query */
	int n;                          /* parameters so far */
	bool overflow;                  /* the text or the parameters outgrew their bounds */
};

/* How a column of a listed row becomes JSON. */
enum aq_kind {
	AQ_TEXT,                        /* text, or null */
	AQ_INT,                         /* integer text, a JSON number */
	AQ_TIME,                        /* epoch ms, ISO-8601 UTC text */
	AQ_JSON,                        /* json(b) text, parsed */
};

/* One output member and the SQL expression that makes it. */
struct aq_column {
	const char *name;               /* JSON member */
	const char *expr;               /* select-list expression */
	enum aq_kind kind;
};

/* What il_audit_dl_list() shows of a row, in its order. */
static const struct aq_column list_columns[] = {
	{ "id", "id", AQ_INT },
	{ "status", "status", AQ_TEXT },
	{ "error_class", "error_class", AQ_TEXT },
	{ "error_stage", "error_stage", AQ_TEXT },
	{ "error_message", "error_message", AQ_TEXT },
	{ "attempts", "attempts", AQ_INT },
	{ "first_failure", AQ_MS("first_failure"), AQ_TIME },
	{ "last_failure", AQ_MS("last_failure"), AQ_TIME },
	{ "topic", "topic", AQ_TEXT },
	{ "partition", "kafka_partition", AQ_INT },
	{ "offset", "kafka_offset", AQ_INT },
	{ "source_topic", "source_topic", AQ_TEXT },
	{ "source_partition", "source_partition", AQ_INT },
	{ "source_offset", "source_offset", AQ_INT },
	{ "event_id", "event_id", AQ_TEXT },
	{ "event_key", "event_key", AQ_TEXT },
	{ "programme_id", "programme_id", AQ_INT },
	{ "replay_count", "replay_count", AQ_INT },
	{ "status_by", "status_by", AQ_TEXT },
	{ "status_at", AQ_MS("status_at"), AQ_TIME },
	{ "status_reason", "status_reason", AQ_TEXT },
};
#define NLIST_COLUMNS (sizeof(list_columns) / sizeof(list_columns[0]))

/* What il_audit_dl_get() adds.  PostgreSQL's base64 breaks lines every 76
 * characters: the breaks go, so the value is one JSON string. */
static const struct aq_column get_columns[] = {
	{ "key", "translate(encode(msg_key, 'base64'), E'\\n', '')", AQ_TEXT },
	{ "value", "translate(encode(msg_value, 'base64'), E'\\n', '')", AQ_TEXT },
	{ "headers", "headers", AQ_JSON },
	{ "decoded", "decoded", AQ_JSON },
	{ "kafka_timestamp", AQ_MS("kafka_timestamp"), AQ_TIME },
	{ "stored_at", AQ_MS("stored_at"), AQ_TIME },
};
#define NGET_COLUMNS (sizeof(get_columns) / sizeof(get_columns[0]))

void
il_audit_filter_init(il_audit_filter *f)
{
	memset(f, 0, sizeof(*f));
	f->programme_id = -1;
	f->since_ms = -1;
	f->until_ms = -1;
}

static void
query_init(struct aq_query *q)
{
	memset(q, 0, sizeof(*q));
	/* Statements are short; ids travel as a parameter, not in the text. */
	il_buf_init(&q->sql, 8192);
}

static void
query_free(struct aq_query *q)
{
	int i;

	for (i = 0; i < q->n; i++)
		free(q->owned[i]);
	il_buf_free(&q->sql);
}

static void
query_add(struct aq_query *q, const char *text)
{
	if (il_buf_adds(&q->sql, text) != IL_OK)
		q->overflow = true;
}

/* Adds a parameter (@p owned: freed with the query) and its "$N" to the text. */
static void
query_param(struct aq_query *q, const char *value, char *owned)
{
	if (q->n >= AQ_MAX_PARAMS) {
		free(owned);
		q->overflow = true;
		return;
	}
	q->values[q->n] = value;
	q->owned[q->n] = owned;
	q->n++;
	if (il_buf_printf(&q->sql, "$%d", q->n) != IL_OK)
		q->overflow = true;
}

static void
query_param_int(struct aq_query *q, long long v)
{
	char *s = il_xasprintf("%lld", v);

	query_param(q, s, s);
}

/* Adds @p ids as one int8[] parameter ("{1,2,3}"). */
static void
query_param_ids(struct aq_query *q, const long long *ids, size_t nids)
{
	il_buf b;
	size_t i;
	char *text;
	il_err err;

	il_buf_init(&b, nids * AQ_ID_CHARS + 3);
	err = il_buf_adds(&b, "{");
	for (i = 0; i < nids && err == IL_OK; i++)
		err = il_buf_printf(&b, i == 0 ? "%lld" : ",%lld", ids[i]);
	if (err == IL_OK)
		err = il_buf_adds(&b, "}");
	if (err != IL_OK) {
		il_buf_free(&b);
		q->overflow = true;
		return;
	}
	text = il_buf_take(&b);
	query_param(q, text, text);
}

/* Appends the WHERE clause of @p f: every criterion but the limit. */
static void
query_where(struct aq_query *q, const il_audit_filter *f)
{
	query_add(q, " WHERE true");
	if (f->status != NULL) {
		query_add(q, " AND status = ");
		query_param(q, f->status, NULL);
	}
	if (f->error_class != NULL) {
		query_add(q, " AND error_class = ");
		query_param(q, f->error_class, NULL);
	}
	if (f->programme_id >= 0) {
		query_add(q, " AND programme_id = ");
		query_param_int(q, f->programme_id);
		query_add(q, "::int8");
	}
	if (f->since_ms >= 0) {
		query_add(q, " AND " AQ_FAILURE_TIME " >= timestamptz 'epoch' + ");
		query_param_int(q, f->since_ms);
		query_add(q, "::int8 * interval '1 millisecond'");
	}
	if (f->until_ms >= 0) {
		query_add(q, " AND " AQ_FAILURE_TIME " < timestamptz 'epoch' + ");
		query_param_int(q, f->until_ms);
		query_add(q, "::int8 * interval '1 millisecond'");
	}
	if (f->ids != NULL) {
		query_add(q, " AND id = ANY(");
		query_param_ids(q, f->ids, f->nids);
		query_add(q, "::int8[])");
	}
	if (f->after_id > 0) {
		query_add(q, " AND id > ");
		query_param_int(q, f->after_id);
		query_add(q, "::int8");
	}
}

static void
query_order_limit(struct aq_query *q, const il_audit_filter *f)
{
	query_add(q, " ORDER BY id");
	if (f->limit > 0) {
		query_add(q, " LIMIT ");
		query_param_int(q, f->limit);
		query_add(q, "::int8");
	}
}

/* A connection to talk on, else IL_ERR_TRANSIENT (a failed reconnect left none). */
static il_err
check_conn(il_audit *a, char *errbuf, size_t errsz)
{
	if (a == NULL || a->pg == NULL || PQstatus(a->pg) != CONNECTION_OK) {
		il_err_setf(errbuf, errsz, "not connected to the audit store");
		return IL_ERR_TRANSIENT;
	}
	return IL_OK;
}

/*
 * Runs @p q expecting @p want (PGRES_TUPLES_OK or PGRES_COMMAND_OK), results
 * in @p format (0 text, 1 binary).
 * @returns IL_OK with *@p res (the caller PQclear()s it), else the
 * classified failure with @p what in the reason.
 */
static il_err
query_run(il_audit *a, struct aq_query *q, ExecStatusType want, int format, const char *what,
    PGresult **res, char *errbuf, size_t errsz)
{
	PGresult *r;
	il_err err;

	*res = NULL;
	if (q->overflow) {
		/* Only a caller's absurd input gets here (millions of ids). */
		il_err_setf(errbuf, errsz, "%s: the statement is too large", what);
		return IL_ERR_INVALID;
	}
	err = check_conn(a, errbuf, errsz);
	if (err != IL_OK)
		return err;
	r = PQexecParams(a->pg, q->sql.data, q->n, NULL, q->values, NULL, NULL, format);
	if (r == NULL || PQresultStatus(r) != want) {
		err = il_audit_pg_error(a, r, what, errbuf, errsz);
		PQclear(r);
		return err;
	}
	*res = r;
	return IL_OK;
}

/* Checks a result's shape: @p nfields columns. */
static il_err
check_shape(const PGresult *r, int nfields, const char *what, char *errbuf, size_t errsz)
{
	if (PQnfields(r) != nfields) {
		il_err_setf(errbuf, errsz, "%s: got %d rows and %d fields, expected %d fields", what,
		    PQntuples(r), PQnfields(r), nfields);
		return IL_ERR_PARSE;
	}
	return IL_OK;
}

/* Parses a text integer of a result; false when it is none. */
static bool
text_int(const char *s, long long *v)
{
	return il_cli_parse_int(s, LLONG_MIN, LLONG_MAX, v);
}

/* Makes the JSON of one text-format field; NULL is JSON null. */
static cJSON *
field_json(const PGresult *r, int row, int col, enum aq_kind kind)
{
	const char *s;
	char ts[IL_TIME_LEN];
	long long v;
	cJSON *j;

	if (PQgetisnull(r, row, col))
		return cJSON_CreateNull();
	s = PQgetvalue(r, row, col);
	switch (kind) {
	case AQ_INT:
		if (text_int(s, &v))
			return cJSON_CreateNumber((double)v);
		break;
	case AQ_TIME:
		if (text_int(s, &v)) {
			il_time_format_ms(v, ts);
			return cJSON_CreateString(ts);
		}
		break;
	case AQ_JSON:
		j = cJSON_Parse(s);
		if (j != NULL)
			return j;
		break;
	case AQ_TEXT:
		break;
	}
	/* Not what the column promises: shown as the text it is. */
	return cJSON_CreateString(s);
}

/* Appends the select list of @p cols (n of them), comma-separated. */
static void
query_columns(struct aq_query *q, const struct aq_column *cols, size_t n, bool first)
{
	size_t i;

	for (i = 0; i < n; i++) {
		if (!first || i > 0)
			query_add(q, ", ");
		query_add(q, cols[i].expr);
	}
}

/* Adds @p n columns of row @p row, from field @p col0 on, to @p obj. */
static void
row_json(cJSON *obj, const PGresult *r, int row, const struct aq_column *cols, size_t n, int col0)
{
	size_t i;

	for (i = 0; i < n; i++)
		cJSON_AddItemToObject(obj, cols[i].name, field_json(r, row, col0 + (int)i, cols[i].kind));
}

il_err
il_audit_dl_list(il_audit *a, const il_audit_filter *f, cJSON **rows, char *errbuf, size_t errsz)
{
	static const char what[] = "could not list dead letters";
	struct aq_query q;
	PGresult *r = NULL;
	cJSON *arr, *obj;
	il_err err;
	int i;

	*rows = NULL;
	query_init(&q);
	query_add(&q, "SELECT ");
	query_columns(&q, list_columns, NLIST_COLUMNS, true);
	query_add(&q, " FROM dead_letters");
	query_where(&q, f);
	query_order_limit(&q, f);
	err = query_run(a, &q, PGRES_TUPLES_OK, 0, what, &r, errbuf, errsz);
	if (err == IL_OK)
		err = check_shape(r, (int)NLIST_COLUMNS, what, errbuf, errsz);
	if (err != IL_OK)
		goto done;
	arr = cJSON_CreateArray();
	for (i = 0; i < PQntuples(r); i++) {
		obj = cJSON_CreateObject();
		row_json(obj, r, i, list_columns, NLIST_COLUMNS, 0);
		cJSON_AddItemToArray(arr, obj);
	}
	*rows = arr;

done:
	PQclear(r);
	query_free(&q);
	return err;
}

il_err
il_audit_dl_get(il_audit *a, long long id, cJSON **row, char *errbuf, size_t errsz)
{
	static const char what[] = "could not read dead letter";
	struct aq_query q;
	PGresult *r = NULL;
	cJSON *obj;
	il_err err;

	*row = NULL;
	query_init(&q);
	query_add(&q, "SELECT ");
	query_columns(&q, list_columns, NLIST_COLUMNS, true);
	query_columns(&q, get_columns, NGET_COLUMNS, false);
	query_add(&q, " FROM dead_letters WHERE id = ");
	query_param_int(&q, id);
	query_add(&q, "::int8");
	err = query_run(a, &q, PGRES_TUPLES_OK, 0, what, &r, errbuf, errsz);
	if (err == IL_OK)
		err = check_shape(r, (int)(NLIST_COLUMNS + NGET_COLUMNS), what, errbuf, errsz);
	if (err != IL_OK)
		goto done;
	if (PQntuples(r) == 0) {
		il_err_setf(errbuf, errsz, "no dead letter with id %lld", id);
		err = IL_ERR_NOTFOUND;
		goto done;
	}
	obj = cJSON_CreateObject();
	row_json(obj, r, 0, list_columns, NLIST_COLUMNS, 0);
	row_json(obj, r, 0, get_columns, NGET_COLUMNS, (int)NLIST_COLUMNS);
	*row = obj;

done:
	PQclear(r);
	query_free(&q);
	return err;
}

/* A text field, or NULL for SQL NULL. */
static const char *
field_text(const PGresult *r, int row, int col)
{
	return PQgetisnull(r, row, col) ? NULL : PQgetvalue(r, row, col);
}

static void
add_text_or_null(cJSON *obj, const char *name, const char *s)
{
	if (s != NULL)
		cJSON_AddStringToObject(obj, name, s);
	else
		cJSON_AddNullToObject(obj, name);
}

il_err
il_audit_dl_stats(il_audit *a, const il_audit_filter *f, cJSON **stats, char *errbuf, size_t errsz)
{
	static const char what[] = "could not count dead letters";
	struct aq_query q;
	PGresult *r = NULL;
	cJSON *out, *by_class, *by_day, *obj;
	long long count, total = 0;
	il_err err;
	int i;

	*stats = NULL;
	query_init(&q);
	/* A count has no limit: f->limit is ignored, f->after_id is not.
	 * Both groupings in one statement, so they count the same rows even
	 * while the worker writes.  grouping(status) tells them apart. */
	query_add(&q, "SELECT grouping(status), error_class, status, day, count(*) FROM "
	    "(SELECT error_class, status, to_char(" AQ_FAILURE_TIME " AT TIME ZONE 'UTC', "
	    "'YYYY-MM-DD') AS day FROM dead_letters");
	query_where(&q, f);
	query_add(&q, ") s GROUP BY GROUPING SETS ((error_class, status), (day, error_class)) "
	    "ORDER BY 1, 4, 2, 3");
	err = query_run(a, &q, PGRES_TUPLES_OK, 0, what, &r, errbuf, errsz);
	if (err == IL_OK)
		err = check_shape(r, 5, what, errbuf, errsz);
	if (err != IL_OK)
		goto done;
	out = cJSON_CreateObject();
	by_class = cJSON_CreateArray();
	by_day = cJSON_CreateArray();
	for (i = 0; i < PQntuples(r); i++) {
		if (!text_int(PQgetvalue(r, i, 4), &count))
			count = 0;
		obj = cJSON_CreateObject();
		if (strcmp(PQgetvalue(r, i, 0), "0") == 0) {
			add_text_or_null(obj, "error_class", field_text(r, i, 1));
			add_text_or_null(obj, "status", field_text(r, i, 2));
			cJSON_AddItemToArray(by_class, obj);
			total += count;
		} else {
			add_text_or_null(obj, "day", field_text(r, i, 3));
			add_text_or_null(obj, "error_class", field_text(r, i, 1));
			cJSON_AddItemToArray(by_day, obj);
		}
		cJSON_AddNumberToObject(obj, "count", (double)count);
	}
	cJSON_AddNumberToObject(out, "total", (double)total);
	cJSON_AddItemToObject(out, "by_class", by_class);
	cJSON_AddItemToObject(out, "by_day", by_day);
	*stats = out;

done:
	PQclear(r);
	query_free(&q);
	return err;
}

/* The rows an UPDATE changed, from its command tag. */
static size_t
rows_changed(const PGresult *r)
{
	long long v;

	if (!text_int(PQcmdTuples((PGresult *)r), &v) || v < 0)
		return 0;
	return (size_t)v;
}

il_err
il_audit_dl_discard(il_audit *a, const long long *ids, size_t nids, const char *who,
    const char *reason, size_t *changed, char *errbuf, size_t errsz)
{
	static const char what[] = "could not discard dead letters";
	struct aq_query q;
	PGresult *r = NULL;
	il_err err;

	*changed = 0;
	if (reason == NULL || reason[0] == '\0') {
		il_err_setf(errbuf, errsz, "%s: a reason is required", what);
		return IL_ERR_INVALID;
	}
	if (nids == 0)
		return IL_OK;
	query_init(&q);
	query_add(&q, "UPDATE dead_letters SET status = 'discarded', status_at = now(), status_by = ");
	query_param(&q, who, NULL);
	query_add(&q, ", status_reason = ");
	query_param(&q, reason, NULL);
	query_add(&q, " WHERE status = 'open' AND id = ANY(");
	query_param_ids(&q, ids, nids);
	query_add(&q, "::int8[])");
	err = query_run(a, &q, PGRES_COMMAND_OK, 0, what, &r, errbuf, errsz);
	if (err == IL_OK)
		*changed = rows_changed(r);
	PQclear(r);
	query_free(&q);
	return err;
}

/* A binary int8 or int4 field (network order); false when its size is neither. */
static bool
binary_int(const PGresult *r, int row, int col, long long *v)
{
	const unsigned char *p = (const unsigned char *)PQgetvalue(r, row, col);
	int len = PQgetlength(r, row, col);
	uint64_t u = 0;
	int i;

	if (PQgetisnull(r, row, col) || (len != 8 && len != 4))
		return false;
	for (i = 0; i < len; i++)
		u = (u << 8) | p[i];
	*v = len == 8 ? (long long)(int64_t)u : (long long)(int32_t)(uint32_t)u;
	return true;
}

/* A copy of a binary bytea or text field; NULL for SQL NULL. */
static void *
binary_copy(const PGresult *r, int row, int col, size_t *len)
{
	size_t n;
	char *p;

	*len = 0;
	if (PQgetisnull(r, row, col))
		return NULL;
	n = (size_t)PQgetlength(r, row, col);
	/* One byte more: text fields are used as C strings. */
	p = il_xmalloc(n + 1);
	memcpy(p, PQgetvalue(r, row, col), n);
	p[n] = '\0';
	*len = n;
	return p;
}

il_err
il_audit_dl_replay_batch(il_audit *a, const il_audit_filter *f, il_audit_replay_item **items,
    size_t *n, char *errbuf, size_t errsz)
{
	static const char what[] = "could not read dead letters to replay";
	il_audit_replay_item *out = NULL, *it;
	struct aq_query q;
	PGresult *r = NULL;
	long long v, part, off;
	size_t len;
	il_err err;
	int i, nrows = 0;

	*items = NULL;
	*n = 0;
	query_init(&q);
	query_add(&q, "SELECT id, msg_key, msg_value, source_topic, event_id, status, replay_count, "
	    "topic, kafka_partition, kafka_offset FROM dead_letters");
	query_where(&q, f);
	query_order_limit(&q, f);
	/* Binary results: the key and value come as the bytes they are. */
	err = query_run(a, &q, PGRES_TUPLES_OK, 1, what, &r, errbuf, errsz);
	if (err == IL_OK)
		err = check_shape(r, 10, what, errbuf, errsz);
	if (err != IL_OK)
		goto done;
	nrows = PQntuples(r);
	if (nrows == 0)
		goto done;
	out = il_xcalloc((size_t)nrows, sizeof(*out));
	for (i = 0; i < nrows; i++) {
		it = &out[i];
		if (!binary_int(r, i, 0, &it->id) || !binary_int(r, i, 6, &v) ||
		    !binary_int(r, i, 8, &part) || !binary_int(r, i, 9, &off)) {
			il_err_setf(errbuf, errsz, "%s: row %d: id, replay_count, partition or offset is "
			    "not an integer", what, i);
			err = IL_ERR_PARSE;
			goto done;
		}
		it->replay_count = (int)v;
		it->partition = (int32_t)part;
		it->offset = (int64_t)off;
		it->topic = binary_copy(r, i, 7, &len);
		it->key = binary_copy(r, i, 1, &it->keylen);
		it->value = binary_copy(r, i, 2, &it->vallen);
		it->source_topic = binary_copy(r, i, 3, &len);
		it->event_id = binary_copy(r, i, 4, &len);
		it->status = binary_copy(r, i, 5, &len);
	}
	*items = out;
	*n = (size_t)nrows;
	out = NULL;

done:
	il_audit_replay_items_free(out, (size_t)nrows);
	PQclear(r);
	query_free(&q);
	return err;
}

void
il_audit_replay_items_free(il_audit_replay_item *items, size_t n)
{
	size_t i;

	if (items == NULL)
		return;
	for (i = 0; i < n; i++) {
		free(items[i].topic);
		free(items[i].key);
		free(items[i].value);
		free(items[i].source_topic);
		free(items[i].event_id);
		free(items[i].status);
	}
	free(items);
}

il_err
il_audit_dl_mark_replayed(il_audit *a, const long long *ids, size_t nids, const char *who,
    const char *reason, char *errbuf, size_t errsz)
{
	static const char what[] = "could not mark dead letters replayed";
	struct aq_query q;
	PGresult *r = NULL;
	il_err err;

	if (nids == 0)
		return IL_OK;
	query_init(&q);
	query_add(&q, "UPDATE dead_letters SET status = 'replayed', replay_count = replay_count + 1, "
	    "status_at = now(), status_by = ");
	query_param(&q, who, NULL);
	query_add(&q, ", status_reason = ");
	query_param(&q, reason, NULL);
	query_add(&q, " WHERE id = ANY(");
	query_param_ids(&q, ids, nids);
	query_add(&q, "::int8[])");
	err = query_run(a, &q, PGRES_COMMAND_OK, 0, what, &r, errbuf, errsz);
	PQclear(r);
	query_free(&q);
	return err;
}

il_err
il_audit_replay_lock(il_audit *a, char *errbuf, size_t errsz)
{
	static const char what[] = "could not take the dlq replay lock";
	struct aq_query q;
	PGresult *r = NULL;
	il_err err;

	query_init(&q);
	query_add(&q, "SELECT pg_try_advisory_lock(" AQ_REPLAY_LOCK_KEY ")");
	err = query_run(a, &q, PGRES_TUPLES_OK, 0, what, &r, errbuf, errsz);
	if (err == IL_OK)
		err = check_shape(r, 1, what, errbuf, errsz);
	if (err == IL_OK && PQntuples(r) != 1) {
		il_err_setf(errbuf, errsz, "%s: got %d rows and 1 field, expected 1 row", what, PQntuples(r));
		err = IL_ERR_PARSE;
	}
	if (err == IL_OK && strcmp(PQgetvalue(r, 0, 0), "t") != 0) {
		il_err_setf(errbuf, errsz, "another dlq replay is running (PostgreSQL advisory lock %s is "
		    "held): wait for it to end", AQ_REPLAY_LOCK_KEY);
		err = IL_ERR_TIMEOUT;
	}
	PQclear(r);
	query_free(&q);
	return err;
}

il_err
il_audit_result_stats(il_audit *a, cJSON **stats, char *errbuf, size_t errsz)
{
	static const char what[] = "could not count results";
	struct aq_query q;
	PGresult *r = NULL;
	cJSON *out, *by, *obj;
	long long count, total = 0;
	il_err err;
	int i;

	*stats = NULL;
	query_init(&q);
	query_add(&q, "SELECT outcome, count(*) FROM results GROUP BY outcome ORDER BY outcome");
	err = query_run(a, &q, PGRES_TUPLES_OK, 0, what, &r, errbuf, errsz);
	if (err == IL_OK)
		err = check_shape(r, 2, what, errbuf, errsz);
	if (err != IL_OK)
		goto done;
	out = cJSON_CreateObject();
	by = cJSON_CreateArray();
	for (i = 0; i < PQntuples(r); i++) {
		if (!text_int(PQgetvalue(r, i, 1), &count))
			count = 0;
		total += count;
		obj = cJSON_CreateObject();
		cJSON_AddStringToObject(obj, "outcome", PQgetvalue(r, i, 0));
		cJSON_AddNumberToObject(obj, "count", (double)count);
		cJSON_AddItemToArray(by, obj);
	}
	cJSON_AddNumberToObject(out, "total", (double)total);
	cJSON_AddItemToObject(out, "by_outcome", by);
	*stats = out;

done:
	PQclear(r);
	query_free(&q);
	return err;
}
