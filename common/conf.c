#include "conf.h"

#include <arpa/inet.h>
#include <ctype.h>
#include <errno.h>
#include <limits.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/types.h>

#include "buf.h"
#include "log.h"
#include "xalloc.h"

#ifndef IL_SCHEMAS_DIR
#error "IL_SCHEMAS_DIR must name the schemas/ directory (the Makefile defines it)"
#endif

/* A secret file is a password or a token, never a document. */
#define IL_CONF_SECRET_FILE_MAX (64 * 1024)
/* Longest properties-file line; anything longer is a mistake, not a value. */
#define IL_CONF_LINE_MAX (64 * 1024)
/* How much of a refused value an error message quotes. */
#define IL_CONF_QUOTE_MAX 80
/* Edit distance within which an unknown key gets a suggestion. */
#define IL_CONF_SUGGEST_MAX 2
#define IL_CONF_RDKAFKA_PREFIX "rdkafka."

typedef enum il_conf_type {
	IL_CONF_STRING,         /* any text; not empty where the default is not */
	IL_CONF_SECRET,         /* any text, never printed; also <VAR>_FILE */
	IL_CONF_INT,            /* decimal integer within min..max */
	IL_CONF_BOOL,           /* true/false/yes/no/on/off/1/0, kept as true/false */
	IL_CONF_ENUM,           /* one of choices, case-insensitive, kept as listed */
	IL_CONF_URL,            /* http:// or https://; empty where the default is */
	IL_CONF_BROKERS,        /* host:port[,host:port...] */
	IL_CONF_TOPIC,          /* a legal Kafka topic name */
	IL_CONF_IPV4,           /* a dotted IPv4 address, as inet_pton() reads it */
} il_conf_type;

typedef struct il_conf_key {
	const char *name;       /* properties-file key; the table is sorted by it */
	const char *env;        /* environment variable */
	il_conf_type type;      /* how values are checked */
	const char *def;        /* default; must pass the check itself */
	long long min;          /* IL_CONF_INT: smallest value */
	long long max;          /* IL_CONF_INT: largest value */
	const char *choices;    /* IL_CONF_ENUM: allowed values, comma-separated */
	bool reload;            /* a reload may change it without a restart */
	const char *desc;       /* one line for --help and the example file */
} il_conf_key;

/* Table helpers, so that a new key stays a one-line edit. */
#define IL_RELOAD true
#define IL_RESTART false
#define IL_K_STR(n, e, d, r, s) { n, e, IL_CONF_STRING, d, 0, 0, NULL, r, s }
#define IL_K_SECRET(n, e, r, s) { n, e, IL_CONF_SECRET, "", 0, 0, NULL, r, s }
#define IL_K_INT(n, e, lo, hi, d, r, s) { n, e, IL_CONF_INT, d, lo, hi, NULL, r, s }
#define IL_K_BOOL(n, e, d, r, s) { n, e, IL_CONF_BOOL, d, 0, 0, NULL, r, s }
#define IL_K_ENUM(n, e, c, d, r, s) { n, e, IL_CONF_ENUM, d, 0, 0, c, r, s }
#define IL_K_URL(n, e, d, r, s) { n, e, IL_CONF_URL, d, 0, 0, NULL, r, s }
#define IL_K_BROKERS(n, e, d, r, s) { n, e, IL_CONF_BROKERS, d, 0, 0, NULL, r, s }
#define IL_K_TOPIC(n, e, d, r, s) { n, e, IL_CONF_TOPIC, d, 0, 0, NULL, r, s }
#define IL_K_IPV4(n, e, d, r, s) { n, e, IL_CONF_IPV4, d, 0, 0, NULL, r, s }

/*
 * Every key imislink knows, in strict alphabetical order (lookups are binary
 * searches and il_conf_new() refuses a table out of order).  Only what a
 * program can change without rebuilding its clients is IL_RELOAD.
 */
static const il_conf_key il_conf_keys[] = {
	IL_K_STR("audit.db.url", "IMISLINK_AUDIT_DB_URL", "", IL_RESTART, "PostgreSQL of the audit store, a libpq connection string or postgresql:// URI; empty: libpq's PGHOST, PGPORT, PGUSER, PGDATABASE, PGPASSWORD (keep passwords in PGPASSWORD or ~/.pgpass, never in the URL)"),
	IL_K_STR("audit.migrations.dir", "IMISLINK_AUDIT_MIGRATIONS_DIR", IL_AUDIT_SQL_DIR, IL_RESTART, "directory of the audit store's versioned migrations (NNNN_name.sql), applied at the dead-letter worker's start"),
	IL_K_INT("avro.max.message.bytes", "IMISLINK_AVRO_MAX_MESSAGE_BYTES", 1024, 104857600, "1048576", IL_RESTART, "largest Avro message accepted or produced, in bytes"),
	IL_K_STR("cdc.db.url", "IMISLINK_CDC_DB_URL", "", IL_RESTART, "openSPP's PostgreSQL for change capture, a libpq connection string or postgresql:// URI (replication=database is added for the stream); empty: libpq's PGHOST, PGPORT, PGUSER, PGDATABASE, PGPASSWORD"),
	IL_K_INT("cdc.enrich.connections", "IMISLINK_CDC_ENRICH_CONNECTIONS", 0, 16, "2", IL_RESTART, "connections change capture reads the registrants and households of its batches on, each batch in its own REPEATABLE READ transaction, in parallel with the next batch and with the encoding of the previous one; 0: on its main connection, one batch at a time"),
	IL_K_ENUM("cdc.mode", "IMISLINK_CDC_MODE", "replication,poll", "replication", IL_RESTART, "how change capture reads openSPP: replication (a logical slot: every change, with the previous state) or poll (keyset polling on write_date, for databases that cannot grant REPLICATION: no deletes, no previous state, no Head changes)"),
	IL_K_INT("cdc.poll.batch.size", "IMISLINK_CDC_POLL_BATCH_SIZE", 1, 100000, "1000", IL_RESTART, "rows the polling fallback reads per query"),
	IL_K_INT("cdc.poll.interval.ms", "IMISLINK_CDC_POLL_INTERVAL_MS", 10, 3600000, "2000", IL_RESTART, "pause of the polling fallback between polls that found nothing new"),
	IL_K_INT("cdc.poll.overlap.s", "IMISLINK_CDC_POLL_OVERLAP_S", 0, 86400, "300", IL_RESTART, "seconds before its cursor the polling fallback reads again, for rows that long transactions committed late (write_date is the transaction's start); repeats are dropped"),
	IL_K_STR("cdc.programmes", "IMISLINK_CDC_PROGRAMMES", "", IL_RESTART, "openSPP programmes (g2p_program.id) whose memberships change capture streams, comma-separated; empty: every programme"),
	IL_K_STR("cdc.publication.name", "IMISLINK_CDC_PUBLICATION_NAME", "imislink", IL_RESTART, "publication change capture creates (when missing) and streams"),
	IL_K_INT("cdc.slot.lag.warn.bytes", "IMISLINK_CDC_SLOT_LAG_WARN_BYTES", 0, 9007199254740992LL, "1073741824", IL_RESTART, "WAL bytes the replication slot may hold back before change capture warns; 0: never warn"),
	IL_K_STR("cdc.slot.name", "IMISLINK_CDC_SLOT_NAME", "imislink", IL_RESTART, "logical replication slot (pgoutput) of change capture, created when missing"),
	IL_K_ENUM("cdc.snapshot", "IMISLINK_CDC_SNAPSHOT", "initial,never,always", "initial", IL_RESTART, "initial load of the current memberships: initial (when the slot is created), never, or always (at every start)"),
	IL_K_STR("cdc.state.file", "IMISLINK_CDC_STATE_FILE", "imislink-cdc.state", IL_RESTART, "file of change capture's own state, replaced atomically: the slot whose initial load finished (replication), or the polling cursor, written only after Kafka confirmed what it covers (poll)"),
	IL_K_INT("deadletter.batch.ms", "IMISLINK_DEADLETTER_BATCH_MS", 1, 60000, "200", IL_RESTART, "longest a dead letter or result waits in the dead-letter worker before its batch is written"),
	IL_K_INT("deadletter.batch.size", "IMISLINK_DEADLETTER_BATCH_SIZE", 1, 100000, "1000", IL_RESTART, "messages the dead-letter worker writes to the audit store in one transaction"),
	IL_K_STR("deadletter.group.id", "IMISLINK_DEADLETTER_GROUP_ID", "imislink-deadletter", IL_RESTART, "consumer group of the dead-letter worker"),
	IL_K_STR("enroll.mapping.file", "IMISLINK_ENROLL_MAPPING_FILE", "", IL_RESTART, "mapping of openSPP programmes, areas, IDs and genders to openIMIS (see deploy/enroll-mapping.example); required by the enrollment worker"),
	IL_K_INT("enroll.max.buffered", "IMISLINK_ENROLL_MAX_BUFFERED", 1, 1000000, "20000", IL_RESTART, "events a worker holds (in flight plus waiting behind their key) before it pauses fetching"),
	IL_K_INT("enroll.max.in.flight", "IMISLINK_ENROLL_MAX_IN_FLIGHT", 1, 4096, "256", IL_RESTART, "enrollments a worker runs at once (distinct keys); 1 with one partition is the sequential baseline"),
	IL_K_INT("enroll.shutdown.timeout.ms", "IMISLINK_ENROLL_SHUTDOWN_TIMEOUT_MS", 0, 600000, "10000", IL_RESTART, "how long a rebalance or a shutdown lets in-flight enrollments finish before abandoning them uncommitted"),
	IL_K_STR("enroll.worker.id", "IMISLINK_WORKER_ID", "", IL_RESTART, "name of this worker in results and dead letters; empty: host name and process id"),
	IL_K_INT("gateway.delivery.timeout.ms", "IMISLINK_GATEWAY_DELIVERY_TIMEOUT_MS", 100, 600000, "30000", IL_RESTART, "longest the DCI gateway waits for Kafka to confirm a request's events before it answers 503"),
	IL_K_STR("gateway.oauth.clients.file", "IMISLINK_GATEWAY_OAUTH_CLIENTS_FILE", "", IL_RESTART, "file of OAuth2 clients of the DCI gateway, one \"client_id:client_secret\" a line; empty: no /oauth2/client/token"),
	IL_K_INT("gateway.programme.id", "IMISLINK_GATEWAY_PROGRAMME_ID", 0, 9007199254740992LL, "0", IL_RESTART, "openSPP programme (g2p_program.id) of individuals pushed to the DCI gateway without ?programme_id=; 0: the query parameter is required"),
	IL_K_INT("gateway.rate.per.second", "IMISLINK_GATEWAY_RATE_PER_SECOND", 1, 1000000, "5000", IL_RESTART, "requests per second the DCI gateway accepts over all clients before it answers 429"),
	IL_K_STR("gateway.sender.id", "IMISLINK_GATEWAY_SENDER_ID", "imislink-gateway", IL_RESTART, "sender_id of the DCI gateway's acknowledgements"),
	IL_K_INT("gateway.token.lifetime.s", "IMISLINK_GATEWAY_TOKEN_LIFETIME_S", 1, 86400, "3600", IL_RESTART, "lifetime of the access tokens the DCI gateway issues at /oauth2/client/token, in seconds"),
	IL_K_SECRET("gateway.token.signing.key", "IMISLINK_GATEWAY_TOKEN_SIGNING_KEY", IL_RESTART, "HS256 key signing the DCI gateway's access tokens (share it between gateways behind one address); empty: a random key per start"),
	IL_K_STR("gateway.tokens.file", "IMISLINK_GATEWAY_TOKENS_FILE", "", IL_RESTART, "file of static bearer tokens the DCI gateway accepts, one a line (# starts a comment)"),
	IL_K_IPV4("http.address", "IMISLINK_HTTP_ADDRESS", "127.0.0.1", IL_RESTART, "address the HTTP endpoint (metrics, status, DCI push) listens on"),
	IL_K_INT("http.max.body.bytes", "IMISLINK_HTTP_MAX_BODY_BYTES", 1024, 104857600, "1048576", IL_RESTART, "largest HTTP request body accepted, in bytes"),
	IL_K_INT("http.port", "IMISLINK_HTTP_PORT", 0, 65535, "9464", IL_RESTART, "port of the HTTP endpoint; 0 takes any free port"),
	IL_K_BROKERS("kafka.bootstrap.servers", "KAFKA_BOOTSTRAP_SERVERS", "127.0.0.1:9092", IL_RESTART, "Kafka brokers to start from, host:port,host:port"),
	IL_K_STR("kafka.client.id", "IMISLINK_CLIENT_ID", "imislink", IL_RESTART, "client.id given to Kafka, shown by the broker's tools"),
	IL_K_STR("kafka.group.id", "IMISLINK_GROUP_ID", "imislink-enroll", IL_RESTART, "consumer group of the enrollment workers"),
	IL_K_STR("lag.cluster.name", "IMISLINK_LAG_CLUSTER_NAME", "kafka", IL_RESTART, "cluster_name label of the lag metrics and the cluster of the Burrow-style HTTP paths"),
	IL_K_STR("lag.groups", "IMISLINK_LAG_GROUPS", "", IL_RESTART, "consumer groups to watch, comma-separated; empty: every group the broker lists (name them where the broker cannot list groups, e.g. the embedded one)"),
	IL_K_INT("lag.interval.ms", "IMISLINK_LAG_INTERVAL_MS", 100, 3600000, "5000", IL_RESTART, "how often the lag monitor reads committed and log end offsets"),
	IL_K_INT("lag.window.size", "IMISLINK_LAG_WINDOW_SIZE", 2, 1000, "10", IL_RESTART, "commits per partition in the sliding window of Burrow's rules"),
	IL_K_ENUM("log.level", "IMISLINK_LOG_LEVEL", "error,warn,info,debug", "info", IL_RELOAD, "least severe log level written"),
	IL_K_URL("openimis.api.url", "OPENIMIS_API_URL", "http://127.0.0.1:8000", IL_RESTART, "base URL of the openIMIS server"),
	IL_K_INT("openimis.breaker.failures", "OPENIMIS_BREAKER_FAILURES", 1, 100000, "20", IL_RESTART, "consecutive transient failures after which openIMIS counts as down: fetching pauses and one probe at a time checks it"),
	IL_K_INT("openimis.breaker.probe.ms", "OPENIMIS_BREAKER_PROBE_MS", 100, 3600000, "5000", IL_RESTART, "interval between probes while openIMIS counts as down"),
	IL_K_INT("openimis.calls.per.second", "OPENIMIS_CALLS_PER_SECOND", 1, 1000000, "2", IL_RESTART, "client-side limit of openIMIS API calls per second, shared by all in-flight work; keep it under the server's RATELIMIT_RATE (150/min by default)"),
	IL_K_SECRET("openimis.password", "OPENIMIS_PASSWORD", IL_RESTART, "password of the openIMIS API user"),
	IL_K_INT("openimis.retry.backoff.max.ms", "OPENIMIS_RETRY_BACKOFF_MAX_MS", 1, 3600000, "60000", IL_RESTART, "longest wait between two tries of one call"),
	IL_K_INT("openimis.retry.backoff.ms", "OPENIMIS_RETRY_BACKOFF_MS", 1, 600000, "300", IL_RESTART, "first wait before a transient failure is tried again; doubles each try, with jitter"),
	IL_K_INT("openimis.retry.budget.ms", "OPENIMIS_RETRY_BUDGET_MS", 0, 86400000, "600000", IL_RESTART, "how long one event may keep failing transiently (time openIMIS counts as down excluded) before it is dead-lettered"),
	IL_K_INT("openimis.timeout.ms", "OPENIMIS_TIMEOUT_MS", 100, 600000, "30000", IL_RESTART, "timeout of one openIMIS call"),
	IL_K_STR("openimis.username", "OPENIMIS_USERNAME", "Admin", IL_RESTART, "openIMIS API user"),
	IL_K_SECRET("openspp.api.password", "OPENSPP_API_PASSWORD", IL_RESTART, "password of the openSPP REST API user (HTTP Basic), for imislink pull"),
	IL_K_URL("openspp.api.url", "OPENSPP_API_URL", "", IL_RESTART, "base URL of openSPP's REST API (the Odoo server, without /api/v1/registry), for imislink pull; empty: not configured"),
	IL_K_STR("openspp.api.username", "OPENSPP_API_USERNAME", "", IL_RESTART, "Odoo login of the openSPP REST API user (HTTP Basic), for imislink pull"),
	IL_K_STR("openspp.instance", "OPENSPP_INSTANCE", "openspp", IL_RESTART, "name of the openSPP instance, recorded as the events' source"),
	IL_K_STR("openspp.key.id.type", "OPENSPP_KEY_ID_TYPE", "National ID", IL_RESTART, "openSPP ID type whose value keys a registrant's events"),
	IL_K_SECRET("schema.registry.password", "SCHEMA_REGISTRY_PASSWORD", IL_RESTART, "password for the Schema Registry"),
	IL_K_URL("schema.registry.url", "SCHEMA_REGISTRY_URL", "", IL_RESTART, "Schema Registry base URL; empty: offline, fixed schema ids"),
	IL_K_STR("schema.registry.username", "SCHEMA_REGISTRY_USERNAME", "", IL_RESTART, "user for the Schema Registry; empty: no authentication"),
	IL_K_STR("schemas.dir", "IMISLINK_SCHEMAS_DIR", IL_SCHEMAS_DIR, IL_RESTART, "directory holding the Avro schemas (*.avsc)"),
	IL_K_TOPIC("topic.dlq", "IMISLINK_TOPIC_DLQ", "openspp.eligibility.v1.dlq", IL_RESTART, "dead-letter topic of events that cannot be enrolled"),
	IL_K_TOPIC("topic.eligibility", "IMISLINK_TOPIC_ELIGIBILITY", "openspp.eligibility.v1", IL_RESTART, "topic of openSPP eligibility events"),
	IL_K_TOPIC("topic.results", "IMISLINK_TOPIC_RESULTS", "imis.enrollment.results.v1", IL_RESTART, "topic of enrollment outcomes"),
};

#define IL_CONF_NKEYS (sizeof(il_conf_keys) / sizeof(il_conf_keys[0]))

typedef struct il_conf_value {
	char *value;            /* owned; canonical form of the current value */
	char *source;           /* owned; where it came from, NULL for the default */
	long long num;          /* IL_CONF_INT: the number; IL_CONF_BOOL: 0 or 1 */
} il_conf_value;

typedef struct il_conf_pair {
	char *key;              /* owned; librdkafka property name */
	char *value;            /* owned; passed untouched */
	char *origin;           /* owned; file:line or option, for messages */
	char *source;           /* owned; the same for il_conf_dump() */
} il_conf_pair;

/* A value given on the command line, kept so that a reload can apply it again. */
typedef struct il_conf_cmdline {
	bool rdkafka;           /* a -X property, else an imislink key */
	char *key;              /* owned */
	char *value;            /* owned; may be a secret */
	char *origin;           /* owned; the option, for messages */
} il_conf_cmdline;

struct il_conf {
	il_conf_value values[IL_CONF_NKEYS];    /* parallel to il_conf_keys */
	il_conf_pair *pairs;                    /* librdkafka properties, in order */
	size_t npairs;                          /* entries used in pairs */
	size_t pairs_cap;                       /* entries allocated */
	il_conf_cmdline *cmdline;               /* command-line values, in order */
	size_t ncmdline;                        /* entries used in cmdline */
};

/* Outcome of checking one value against its key. */
typedef struct il_conf_check {
	const char *expected;   /* NULL when valid, else what was expected */
	bool hide;              /* the refused value may hold a credential */
	char *canon;            /* owned; the value to keep */
	long long num;          /* see il_conf_value.num */
} il_conf_check;

/* Frees a string that may hold a secret, wiping it first. */
static void
il_conf_free_wiped(char *s)
{
	if (s == NULL)
		return;
	explicit_bzero(s, strlen(s));
	free(s);
}

static int
il_conf_key_cmp(const void *name, const void *entry)
{
	return strcmp(name, ((const il_conf_key *)entry)->name);
}

static const il_conf_key *
il_conf_find(const char *name)
{
	return bsearch(name, il_conf_keys, IL_CONF_NKEYS, sizeof(il_conf_keys[0]), il_conf_key_cmp);
}

static const il_conf_key *
il_conf_find_or_die(const char *name, il_conf_type type, bool any_type)
{
	const il_conf_key *k = il_conf_find(name);

	/* Callers name keys in code: a miss is a bug, not an input error. */
	if (k == NULL) {
		il_log_error("unknown configuration key", IL_STR("conf_key", name));
		abort();
	}
	if (!any_type && k->type != type) {
		il_log_error("configuration key read as the wrong type", IL_STR("conf_key", name));
		abort();
	}
	return k;
}

static size_t
il_conf_index(const il_conf_key *k)
{
	return (size_t)(k - il_conf_keys);
}

/* Levenshtein distance, giving up (returning limit + 1) beyond @p limit. */
static size_t
il_conf_distance(const char *a, const char *b, size_t limit)
{
	size_t la = strlen(a), lb = strlen(b);
	size_t *row, i, j, prev, cur, best, d;

	if ((la > lb ? la - lb : lb - la) > limit)
		return limit + 1;
	row = il_xmalloc((lb + 1) * sizeof(*row));
	for (j = 0; j <= lb; j++)
		row[j] = j;
	for (i = 1; i <= la; i++) {
		prev = row[0];
		row[0] = i;
		best = row[0];
		for (j = 1; j <= lb; j++) {
			cur = row[j];
			d = prev + (a[i - 1] != b[j - 1]);
			if (row[j] + 1 < d)
				d = row[j] + 1;
			if (row[j - 1] + 1 < d)
				d = row[j - 1] + 1;
			row[j] = d;
			prev = cur;
			if (d < best)
				best = d;
		}
		if (best > limit)
			break;
	}
	d = i <= la ? limit + 1 : row[lb];
	free(row);
	return d;
}

/*
 * The key an unknown @p name most likely meant: one whose variable it is
 * (a shell habit in a properties file), else the nearest within
 * IL_CONF_SUGGEST_MAX edits.  NULL when nothing is close.
 */
static const char *
il_conf_suggest(const char *name)
{
	const char *best = NULL;
	size_t i, d, best_d = IL_CONF_SUGGEST_MAX + 1;

	for (i = 0; i < IL_CONF_NKEYS; i++) {
		if (strcmp(name, il_conf_keys[i].env) == 0)
			return il_conf_keys[i].name;
	}
	for (i = 0; i < IL_CONF_NKEYS; i++) {
		d = il_conf_distance(name, il_conf_keys[i].name, IL_CONF_SUGGEST_MAX);
		if (d < best_d) {
			best_d = d;
			best = il_conf_keys[i].name;
		}
	}
	return best;
}

static il_err
il_conf_unknown(const char *name, const char *origin, char *errbuf, size_t errsz)
{
	const char *hint = il_conf_suggest(name);

	if (hint != NULL)
		il_err_setf(errbuf, errsz, "%s: unknown key \"%s\"; did you mean \"%s\"?", origin, name, hint);
	else
		il_err_setf(errbuf, errsz, "%s: unknown key \"%s\"", origin, name);
	return IL_ERR_CONFIG;
}

static bool
il_conf_has_ctrl(const char *s)
{
	for (; *s != '\0'; s++) {
		if ((unsigned char)*s < 0x20 || *s == 0x7f)
			return true;
	}
	return false;
}

/* Parses a whole decimal integer; no strtol, whose errno dance is easy to get wrong. */
static bool
il_conf_parse_ll(const char *s, long long *out)
{
	bool neg = false;
	unsigned long long v = 0, lim;
	unsigned d;

	if (*s == '-' || *s == '+')
		neg = *s++ == '-';
	if (*s == '\0')
		return false;
	lim = neg ? (unsigned long long)LLONG_MAX + 1 : (unsigned long long)LLONG_MAX;
	for (; *s != '\0'; s++) {
		if (*s < '0' || *s > '9')
			return false;
		d = (unsigned)(*s - '0');
		if (v > (lim - d) / 10)
			return false;
		v = v * 10 + d;
	}
	if (neg)
		*out = v == (unsigned long long)LLONG_MAX + 1 ? LLONG_MIN : -(long long)v;
	else
		*out = (long long)v;
	return true;
}

static bool
il_conf_check_bool(const char *s, long long *num)
{
	static const char *const yes[] = { "true", "yes", "on", "1" };
	static const char *const no[] = { "false", "no", "off", "0" };
	size_t i;

	for (i = 0; i < sizeof(yes) / sizeof(yes[0]); i++) {
		if (strcasecmp(s, yes[i]) == 0) {
			*num = 1;
			return true;
		}
		if (strcasecmp(s, no[i]) == 0) {
			*num = 0;
			return true;
		}
	}
	return false;
}

/* @returns the allowed value @p s names, in its listed spelling, or NULL. */
static char *
il_conf_check_enum(const char *choices, const char *s)
{
	const char *p = choices, *end;
	size_t n;

	while (*p != '\0') {
		end = strchr(p, ',');
		n = end != NULL ? (size_t)(end - p) : strlen(p);
		if (strlen(s) == n && strncasecmp(s, p, n) == 0)
			return il_xstrndup(p, n);
		p += n;
		if (*p == ',')
			p++;
	}
	return NULL;
}

static bool
il_conf_check_port(const char *s, size_t n)
{
	long long port = 0;
	size_t i;

	if (n == 0 || n > 5)
		return false;
	for (i = 0; i < n; i++) {
		if (s[i] < '0' || s[i] > '9')
			return false;
		port = port * 10 + (s[i] - '0');
	}
	return port >= 1 && port <= 65535;
}

/* One "host:port" or "[v6addr]:port" of @p n bytes. */
static bool
il_conf_check_broker(const char *s, size_t n)
{
	const char *colon, *close;
	size_t i, hostlen;

	if (n > 0 && s[0] == '[') {
		close = memchr(s, ']', n);
		if (close == NULL || close == s + 1 || (size_t)(close - s) + 1 >= n || close[1] != ':')
			return false;
		colon = close + 1;
		for (i = 1; s + i < close; i++) {
			if (!isxdigit((unsigned char)s[i]) && s[i] != ':' && s[i] != '.')
				return false;
		}
	} else {
		colon = NULL;
		for (i = 0; i < n; i++) {
			if (s[i] == ':')
				colon = s + i;
			else if (!isalnum((unsigned char)s[i]) && s[i] != '.' && s[i] != '-' && s[i] != '_')
				return false;
		}
		if (colon == NULL || colon == s || memchr(s, ':', (size_t)(colon - s)) != NULL)
			return false;
	}
	hostlen = (size_t)(colon - s);
	return il_conf_check_port(colon + 1, n - hostlen - 1);
}

static bool
il_conf_check_brokers(const char *s)
{
	const char *end;
	size_t n;

	for (;;) {
		while (*s == ' ')
			s++;
		end = strchr(s, ',');
		n = end != NULL ? (size_t)(end - s) : strlen(s);
		while (n > 0 && s[n - 1] == ' ')
			n--;
		if (!il_conf_check_broker(s, n))
			return false;
		if (end == NULL)
			return true;
		s = end + 1;
	}
}

static const char *
il_conf_check_url(const char *s, bool empty_ok, bool *hide)
{
	const char *host, *end, *at;

	if (*s == '\0')
		return empty_ok ? NULL : "expected an http:// or https:// URL";
	if (strncasecmp(s, "http://", 7) == 0)
		host = s + 7;
	else if (strncasecmp(s, "https://", 8) == 0)
		host = s + 8;
	else
		return empty_ok ? "expected an http:// or https:// URL, or nothing" : "expected an http:// or https:// URL";
	end = host + strcspn(host, "/?#");
	if (end == host || il_conf_has_ctrl(s) || strchr(s, ' ') != NULL)
		return "expected an http:// or https:// URL with a host and no spaces";
	at = memchr(host, '@', (size_t)(end - host));
	/* Credentials in a URL would end up in logs and dumps: they have keys of their own. */
	if (at != NULL) {
		*hide = true;
		return "expected a URL without user:password (use the username and password keys)";
	}
	return NULL;
}

static bool
il_conf_check_topic(const char *s)
{
	size_t n = strlen(s), i;

	/* Kafka's own rule (Topic.validate): legal characters, 1..249, not "." or "..". */
	if (n == 0 || n > 249 || strcmp(s, ".") == 0 || strcmp(s, "..") == 0)
		return false;
	for (i = 0; i < n; i++) {
		if (!isalnum((unsigned char)s[i]) && s[i] != '.' && s[i] != '_' && s[i] != '-')
			return false;
	}
	return true;
}

/*
 * Checks @p value against @p k.  On success res->canon holds the value to
 * keep; on failure res->expected says what would have been accepted.
 */
static void
il_conf_check_value(const il_conf_key *k, const char *value, il_conf_check *res, char *expbuf, size_t expsz)
{
	struct in_addr addr;
	const char *p;
	size_t n;

	res->expected = NULL;
	res->hide = false;
	res->canon = NULL;
	res->num = 0;
	switch (k->type) {
	case IL_CONF_SECRET:
		break;
	case IL_CONF_STRING:
		if (*value == '\0' && *k->def != '\0')
			res->expected = "expected a non-empty value";
		else if (il_conf_has_ctrl(value))
			res->expected = "expected text without control characters";
		break;
	case IL_CONF_INT:
		if (!il_conf_parse_ll(value, &res->num) || res->num < k->min || res->num > k->max) {
			snprintf(expbuf, expsz, "expected an integer from %lld to %lld", k->min, k->max);
			res->expected = expbuf;
		} else {
			res->canon = il_xasprintf("%lld", res->num);
		}
		break;
	case IL_CONF_BOOL:
		if (!il_conf_check_bool(value, &res->num))
			res->expected = "expected true or false (or yes/no, on/off, 1/0)";
		else
			res->canon = il_xstrdup(res->num ? "true" : "false");
		break;
	case IL_CONF_ENUM:
		res->canon = il_conf_check_enum(k->choices, value);
		if (res->canon == NULL) {
			/* "one of a, b, c": the table's list with a space after each comma. */
			n = (size_t)snprintf(expbuf, expsz, "expected one of ");
			for (p = k->choices; *p != '\0' && n + 3 < expsz; p++) {
				expbuf[n++] = *p;
				if (*p == ',')
					expbuf[n++] = ' ';
			}
			expbuf[n < expsz ? n : expsz - 1] = '\0';
			res->expected = expbuf;
		}
		break;
	case IL_CONF_URL:
		res->expected = il_conf_check_url(value, *k->def == '\0', &res->hide);
		break;
	case IL_CONF_BROKERS:
		if (!il_conf_check_brokers(value))
			res->expected = "expected a comma-separated list of host:port";
		break;
	case IL_CONF_TOPIC:
		if (!il_conf_check_topic(value))
			res->expected = "expected a Kafka topic name: 1 to 249 of A-Z a-z 0-9 . _ -";
		break;
	case IL_CONF_IPV4:
		/* The HTTP endpoint binds it with inet_pton(): refuse here what it would
		 * refuse there, with the key named, instead of failing at listen time. */
		if (inet_pton(AF_INET, value, &addr) != 1)
			res->expected = "expected an IPv4 address such as 127.0.0.1 or 0.0.0.0";
		break;
	}
	if (res->expected == NULL && res->canon == NULL)
		res->canon = il_xstrdup(value);
}

/*
 * Sets key @p k.  @p origin prefixes error messages ("file":12, environment
 * variable X, option --set); @p source is what il_conf_dump() shows.
 */
static il_err
il_conf_apply(il_conf *conf, const il_conf_key *k, const char *value, const char *origin,
    const char *source, char *errbuf, size_t errsz)
{
	il_conf_value *v = &conf->values[il_conf_index(k)];
	il_conf_check res;
	char expbuf[128];
	size_t vlen;

	il_conf_check_value(k, value, &res, expbuf, sizeof(expbuf));
	if (res.expected != NULL && res.hide) {
		il_err_setf(errbuf, errsz, "%s: invalid value for \"%s\": %s", origin, k->name, res.expected);
		return IL_ERR_CONFIG;
	}
	if (res.expected != NULL) {
		/* Secrets never fail a check, so quoting the value is safe. */
		vlen = strlen(value);
		il_err_setf(errbuf, errsz, "%s: invalid value for \"%s\": %s, got \"%.*s%s\"",
		    origin, k->name, res.expected, IL_CONF_QUOTE_MAX, value,
		    vlen > IL_CONF_QUOTE_MAX ? "..." : "");
		return IL_ERR_CONFIG;
	}
	il_conf_free_wiped(v->value);
	free(v->source);
	v->value = res.canon;
	v->source = il_xstrdup(source);
	v->num = res.num;
	return IL_OK;
}

static void
il_conf_add_pair(il_conf *conf, const char *key, size_t keylen, const char *value,
    const char *origin, const char *source)
{
	il_conf_pair *pair;

	if (conf->npairs == conf->pairs_cap) {
		conf->pairs_cap = conf->pairs_cap ? 2 * conf->pairs_cap : 8;
		conf->pairs = il_xrealloc(conf->pairs, conf->pairs_cap * sizeof(*conf->pairs));
	}
	pair = &conf->pairs[conf->npairs++];
	pair->key = il_xstrndup(key, keylen);
	pair->value = il_xstrdup(value);
	pair->origin = il_xstrdup(origin);
	pair->source = il_xstrdup(source);
}

il_conf *
il_conf_new(void)
{
	il_conf *conf = il_xcalloc(1, sizeof(*conf));
	il_conf_check res;
	char expbuf[128];
	size_t i;

	for (i = 0; i < IL_CONF_NKEYS; i++) {
		/* A table edit that breaks the order or a default is caught at once. */
		if (i > 0 && strcmp(il_conf_keys[i - 1].name, il_conf_keys[i].name) >= 0) {
			il_log_error("configuration table out of order", IL_STR("conf_key", il_conf_keys[i].name));
			abort();
		}
		il_conf_check_value(&il_conf_keys[i], il_conf_keys[i].def, &res, expbuf, sizeof(expbuf));
		if (res.expected != NULL) {
			il_log_error("configuration default invalid", IL_STR("conf_key", il_conf_keys[i].name),
			    IL_STR("expected", res.expected));
			abort();
		}
		conf->values[i].value = res.canon;
		conf->values[i].num = res.num;
	}
	return conf;
}

void
il_conf_destroy(il_conf *conf)
{
	size_t i;

	if (conf == NULL)
		return;
	for (i = 0; i < IL_CONF_NKEYS; i++) {
		il_conf_free_wiped(conf->values[i].value);
		free(conf->values[i].source);
	}
	for (i = 0; i < conf->npairs; i++) {
		free(conf->pairs[i].key);
		il_conf_free_wiped(conf->pairs[i].value);
		free(conf->pairs[i].origin);
		free(conf->pairs[i].source);
	}
	free(conf->pairs);
	for (i = 0; i < conf->ncmdline; i++) {
		free(conf->cmdline[i].key);
		il_conf_free_wiped(conf->cmdline[i].value);
		free(conf->cmdline[i].origin);
	}
	free(conf->cmdline);
	free(conf);
}

static void
il_conf_remember(il_conf *conf, bool rdkafka, const char *key, size_t keylen,
    const char *value, const char *origin)
{
	il_conf_cmdline *c;

	conf->cmdline = il_xrealloc(conf->cmdline, (conf->ncmdline + 1) * sizeof(*conf->cmdline));
	c = &conf->cmdline[conf->ncmdline++];
	c->rdkafka = rdkafka;
	c->key = il_xstrndup(key, keylen);
	c->value = il_xstrdup(value);
	c->origin = il_xstrdup(origin);
}

static bool
il_conf_is_space(char c)
{
	return c == ' ' || c == '\t' || c == '\f' || c == '\r' || c == '\n';
}

/* Applies one properties-file line (already without its newline). */
static il_err
il_conf_file_line(il_conf *conf, char *line, const char *path, size_t lineno,
    char *errbuf, size_t errsz)
{
	char *key, *value, *eq, *end;
	char *origin = NULL, *source = NULL;
	const il_conf_key *k;
	il_err err = IL_OK;

	key = line;
	while (il_conf_is_space(*key))
		key++;
	if (*key == '\0' || *key == '#' || *key == '!')
		return IL_OK;

	origin = il_xasprintf("\"%s\":%zu", path, lineno);
	source = il_xasprintf("%s:%zu", path, lineno);
	eq = strchr(key, '=');
	if (eq == NULL) {
		il_err_setf(errbuf, errsz, "%s: expected key=value, got a line without \"=\"", origin);
		err = IL_ERR_CONFIG;
		goto out;
	}
	end = eq;
	while (end > key && il_conf_is_space(end[-1]))
		end--;
	*end = '\0';
	value = eq + 1;
	while (il_conf_is_space(*value))
		value++;
	end = value + strlen(value);
	while (end > value && il_conf_is_space(end[-1]))
		end--;
	*end = '\0';

	if (*key == '\0') {
		il_err_setf(errbuf, errsz, "%s: expected key=value, got no key before \"=\"", origin);
		err = IL_ERR_CONFIG;
	} else if (strncmp(key, IL_CONF_RDKAFKA_PREFIX, strlen(IL_CONF_RDKAFKA_PREFIX)) == 0) {
		key += strlen(IL_CONF_RDKAFKA_PREFIX);
		if (*key == '\0') {
			il_err_setf(errbuf, errsz, "%s: expected a librdkafka property after \"%s\"",
			    origin, IL_CONF_RDKAFKA_PREFIX);
			err = IL_ERR_CONFIG;
			goto out;
		}
		il_conf_add_pair(conf, key, strlen(key), value, origin, source);
	} else {
		k = il_conf_find(key);
		if (k == NULL)
			err = il_conf_unknown(key, origin, errbuf, errsz);
		else
			err = il_conf_apply(conf, k, value, origin, source, errbuf, errsz);
	}
out:
	free(origin);
	free(source);
	return err;
}

il_err
il_conf_read_lines(const char *path, bool required, il_conf_line_cb *cb, void *ctx,
    char *errbuf, size_t errsz)
{
	FILE *fp;
	char *line = NULL;
	size_t cap = 0, lineno = 0;
	ssize_t n;
	il_err err = IL_OK;

	fp = fopen(path, "r");
	if (fp == NULL) {
		if (!required && (errno == ENOENT || errno == ENOTDIR))
			return IL_OK;
		il_err_setf(errbuf, errsz, "could not open file \"%s\": %s", path, strerror(errno));
		return IL_ERR_IO;
	}
	for (;;) {
		errno = 0;
		n = getline(&line, &cap, fp);
		if (n < 0) {
			if (ferror(fp)) {
				il_err_setf(errbuf, errsz, "could not read file \"%s\": %s", path,
				    strerror(errno != 0 ? errno : EIO));
				err = IL_ERR_IO;
			}
			break;
		}
		lineno++;
		if ((size_t)n > IL_CONF_LINE_MAX) {
			il_err_setf(errbuf, errsz, "\"%s\":%zu: line longer than %d bytes", path, lineno,
			    IL_CONF_LINE_MAX);
			err = IL_ERR_CONFIG;
			break;
		}
		if (memchr(line, '\0', (size_t)n) != NULL) {
			il_err_setf(errbuf, errsz, "\"%s\":%zu: line contains a NUL byte", path, lineno);
			err = IL_ERR_CONFIG;
			break;
		}
		/* Editors on some systems start a UTF-8 file with a byte order mark. */
		if (lineno == 1 && strncmp(line, "\xef\xbb\xbf", 3) == 0)
			memmove(line, line + 3, (size_t)n - 2);
		err = cb(line, lineno, ctx, errbuf, errsz);
		if (err != IL_OK)
			break;
	}
	/* The buffer held the file's lines, secrets among them. */
	if (line != NULL)
		explicit_bzero(line, cap);
	free(line);
	fclose(fp);
	return err;
}

struct il_conf_file_ctx {
	il_conf *conf;
	const char *path;
};

static il_err
il_conf_file_line_cb(char *line, size_t lineno, void *ctx, char *errbuf, size_t errsz)
{
	struct il_conf_file_ctx *c = ctx;

	return il_conf_file_line(c->conf, line, c->path, lineno, errbuf, errsz);
}

il_err
il_conf_load_file(il_conf *conf, const char *path, bool required, char *errbuf, size_t errsz)
{
	struct il_conf_file_ctx c = { conf, path };

	return il_conf_read_lines(path, required, il_conf_file_line_cb, &c, errbuf, errsz);
}

/*
 * Reads a secret from the file named by <VAR>_FILE, dropping one trailing
 * newline (what `echo` and editors add).  @returns NULL with a message.
 */
static char *
il_conf_read_secret_file(const char *var, const char *path, char *errbuf, size_t errsz)
{
	char why[512];
	il_buf b;
	size_t n;

	il_buf_init(&b, IL_CONF_SECRET_FILE_MAX);
	if (il_buf_read_file(&b, path, why, sizeof(why)) != IL_OK) {
		il_err_setf(errbuf, errsz, "environment variable %s: %s", var, why);
		goto fail;
	}
	n = b.len;
	if (memchr(b.data != NULL ? b.data : "", '\0', n) != NULL) {
		il_err_setf(errbuf, errsz, "environment variable %s: file \"%s\" contains a NUL byte",
		    var, path);
		goto fail;
	}
	if (n > 0 && b.data[n - 1] == '\n')
		n--;
	if (n > 0 && b.data[n - 1] == '\r')
		n--;
	if (b.data != NULL)
		b.data[n] = '\0';
	b.len = n;
	return il_buf_take(&b);
fail:
	if (b.data != NULL)
		explicit_bzero(b.data, b.cap);
	il_buf_free(&b);
	return NULL;
}

/* Applies one key's environment variable, or for a secret its _FILE twin. */
static il_err
il_conf_env_key(il_conf *conf, const il_conf_key *k, char *errbuf, size_t errsz)
{
	const char *value = getenv(k->env), *path = NULL;
	char *file_var = NULL, *origin = NULL, *source = NULL, *secret = NULL;
	il_err err = IL_OK;

	if (k->type == IL_CONF_SECRET) {
		file_var = il_xasprintf("%s_FILE", k->env);
		path = getenv(file_var);
	}
	if (value == NULL && path == NULL)
		goto out;
	if (value != NULL && path != NULL) {
		il_err_setf(errbuf, errsz, "environment variables %s and %s are both set: use one",
		    k->env, file_var);
		err = IL_ERR_CONFIG;
		goto out;
	}
	if (path != NULL) {
		secret = il_conf_read_secret_file(file_var, path, errbuf, errsz);
		if (secret == NULL) {
			err = IL_ERR_CONFIG;
			goto out;
		}
		value = secret;
	}
	origin = il_xasprintf("environment variable %s", path != NULL ? file_var : k->env);
	source = il_xasprintf("env %s", path != NULL ? file_var : k->env);
	err = il_conf_apply(conf, k, value, origin, source, errbuf, errsz);
out:
	il_conf_free_wiped(secret);
	free(file_var);
	free(origin);
	free(source);
	return err;
}

il_err
il_conf_load_env(il_conf *conf, char *errbuf, size_t errsz)
{
	size_t i;
	il_err err;

	for (i = 0; i < IL_CONF_NKEYS; i++) {
		err = il_conf_env_key(conf, &il_conf_keys[i], errbuf, errsz);
		if (err != IL_OK)
			return err;
	}
	return IL_OK;
}

il_err
il_conf_set(il_conf *conf, const char *key, const char *value, const char *origin, char *errbuf, size_t errsz)
{
	const il_conf_key *k = il_conf_find(key);
	il_err err;

	if (origin == NULL)
		origin = "command line";
	if (k == NULL)
		return il_conf_unknown(key, origin, errbuf, errsz);
	err = il_conf_apply(conf, k, value, origin, origin, errbuf, errsz);
	if (err == IL_OK)
		il_conf_remember(conf, false, key, strlen(key), value, origin);
	return err;
}

il_err
il_conf_set_arg(il_conf *conf, const char *arg, char *errbuf, size_t errsz)
{
	const char *eq = strchr(arg, '=');
	const il_conf_key *k;
	char *key;
	il_err err;

	if (eq == NULL || eq == arg) {
		il_err_setf(errbuf, errsz, "option --set \"%s\": expected key=value", arg);
		return IL_ERR_CONFIG;
	}
	key = il_xstrndup(arg, (size_t)(eq - arg));
	k = il_conf_find(key);
	if (k == NULL)
		err = il_conf_unknown(key, "option --set", errbuf, errsz);
	else
		err = il_conf_apply(conf, k, eq + 1, "option --set", "command line", errbuf, errsz);
	if (err == IL_OK)
		il_conf_remember(conf, false, key, strlen(key), eq + 1, "option --set");
	free(key);
	return err;
}

il_err
il_conf_set_rdkafka_arg(il_conf *conf, const char *arg, char *errbuf, size_t errsz)
{
	const char *eq = strchr(arg, '=');

	if (eq == NULL || eq == arg) {
		il_err_setf(errbuf, errsz, "option -X \"%s\": expected key=value", arg);
		return IL_ERR_CONFIG;
	}
	il_conf_add_pair(conf, arg, (size_t)(eq - arg), eq + 1, "option -X", "command line");
	il_conf_remember(conf, true, arg, (size_t)(eq - arg), eq + 1, "option -X");
	return IL_OK;
}

il_err
il_conf_load_standard(il_conf *conf, const char *path_opt, char *errbuf, size_t errsz)
{
	const char *env_path = getenv("IMISLINK_CONFIG");
	il_err err;

	if (path_opt != NULL) {
		err = il_conf_load_file(conf, path_opt, true, errbuf, errsz);
	} else if (env_path != NULL && *env_path != '\0') {
		err = il_conf_load_file(conf, env_path, true, errbuf, errsz);
		/* Say where a path nobody typed on the command line came from. */
		if (err == IL_ERR_IO && errbuf != NULL && errsz > 0) {
			char *msg = il_xstrdup(errbuf);

			il_err_setf(errbuf, errsz, "environment variable IMISLINK_CONFIG: %s", msg);
			free(msg);
		}
	} else {
		err = il_conf_load_file(conf, IL_CONF_DEFAULT_PATH, false, errbuf, errsz);
	}
	if (err != IL_OK)
		return err;
	return il_conf_load_env(conf, errbuf, errsz);
}

const char *
il_conf_get(const il_conf *conf, const char *key)
{
	const il_conf_key *k = il_conf_find_or_die(key, IL_CONF_STRING, true);

	return conf->values[il_conf_index(k)].value;
}

long long
il_conf_get_int(const il_conf *conf, const char *key)
{
	const il_conf_key *k = il_conf_find_or_die(key, IL_CONF_INT, false);

	return conf->values[il_conf_index(k)].num;
}

bool
il_conf_get_bool(const il_conf *conf, const char *key)
{
	const il_conf_key *k = il_conf_find_or_die(key, IL_CONF_BOOL, false);

	return conf->values[il_conf_index(k)].num != 0;
}

il_err
il_conf_rdkafka_foreach(const il_conf *conf, il_conf_pair_cb *cb, void *ctx, char *errbuf, size_t errsz)
{
	const il_conf_pair *pair;
	char *msg;
	size_t i;
	il_err err;

	for (i = 0; i < conf->npairs; i++) {
		pair = &conf->pairs[i];
		if (errbuf != NULL && errsz > 0)
			errbuf[0] = '\0';
		err = cb(pair->key, pair->value, ctx, errbuf, errsz);
		if (err == IL_OK)
			continue;
		if (errbuf != NULL && errsz > 0) {
			msg = il_xstrdup(errbuf);
			if (*msg != '\0')
				il_err_setf(errbuf, errsz, "%s: %s", pair->origin, msg);
			else
				il_err_setf(errbuf, errsz, "%s: librdkafka property \"%s\": %s",
				    pair->origin, pair->key, il_err_str(err));
			free(msg);
		}
		return err;
	}
	return IL_OK;
}

/*
 * librdkafka's own sensitive properties (sasl.password, ssl.key.password,
 * ssl.key.pem, ssl_key, ssl.keystore.password, sasl.oauthbearer.config,
 * sasl.oauthbearer.client.secret, ...), matched by what their names say so
 * that a later one is covered too.
 */
static bool
il_conf_rdkafka_sensitive(const char *key)
{
	return strstr(key, "password") != NULL || strstr(key, "secret") != NULL ||
	    strncmp(key, "ssl.key", 7) == 0 || strncmp(key, "ssl_key", 7) == 0 ||
	    strstr(key, "oauthbearer.config") != NULL;
}

void
il_conf_dump(const il_conf *conf, FILE *out)
{
	const il_conf_value *v;
	const il_conf_pair *pair;
	const char *shown;
	int width = 0, n;
	size_t i;

	for (i = 0; i < IL_CONF_NKEYS; i++) {
		n = (int)strlen(il_conf_keys[i].name);
		if (n > width)
			width = n;
	}
	for (i = 0; i < IL_CONF_NKEYS; i++) {
		v = &conf->values[i];
		shown = v->value;
		if (il_conf_keys[i].type == IL_CONF_SECRET && *v->value != '\0')
			shown = "(secret)";
		fprintf(out, "%-*s = %s  # %s\n", width, il_conf_keys[i].name, shown,
		    v->source != NULL ? v->source : "default");
	}
	for (i = 0; i < conf->npairs; i++) {
		pair = &conf->pairs[i];
		shown = pair->value;
		if (il_conf_rdkafka_sensitive(pair->key) && *pair->value != '\0')
			shown = "(secret)";
		fprintf(out, "%s%s = %s  # %s\n", IL_CONF_RDKAFKA_PREFIX, pair->key, shown, pair->source);
	}
}

/* The accepted form of a key's values, for --help. */
static void
il_conf_usage_form(const il_conf_key *k, FILE *out)
{
	switch (k->type) {
	case IL_CONF_STRING:
		fputs("text", out);
		break;
	case IL_CONF_SECRET:
		fprintf(out, "secret, never shown; or read from the file named by %s_FILE", k->env);
		break;
	case IL_CONF_INT:
		fprintf(out, "integer %lld to %lld", k->min, k->max);
		break;
	case IL_CONF_BOOL:
		fputs("true or false", out);
		break;
	case IL_CONF_ENUM:
		fprintf(out, "one of %s", k->choices);
		break;
	case IL_CONF_URL:
		fputs(*k->def == '\0' ? "http(s) URL or empty" : "http(s) URL", out);
		break;
	case IL_CONF_BROKERS:
		fputs("host:port list", out);
		break;
	case IL_CONF_TOPIC:
		fputs("Kafka topic name", out);
		break;
	case IL_CONF_IPV4:
		fputs("IPv4 address", out);
		break;
	}
	if (k->reload)
		fputs("; applied on reload", out);
}

void
il_conf_usage(FILE *out)
{
	const il_conf_key *k;
	size_t i;

	fputs("Configuration keys (properties file key, environment variable, default):\n", out);
	for (i = 0; i < IL_CONF_NKEYS; i++) {
		k = &il_conf_keys[i];
		fprintf(out, "  %s  %s  [%s]\n      %s (", k->name, k->env,
		    *k->def != '\0' ? k->def : "none", k->desc);
		il_conf_usage_form(k, out);
		fputs(")\n", out);
	}
	fputs("  rdkafka.<property>\n"
	    "      librdkafka property, passed through (as -X <property>=value)\n", out);
	fprintf(out, "Sources, later ones winning: defaults, the file of -F, else $IMISLINK_CONFIG,\n"
	    "else %s; the environment; the command line.\n", IL_CONF_DEFAULT_PATH);
}

il_err
il_conf_reload_check(const il_conf *cur, const il_conf *next, char *errbuf, size_t errsz)
{
	const il_conf_key *k;
	const char *a, *b;
	size_t i;

	for (i = 0; i < IL_CONF_NKEYS; i++) {
		k = &il_conf_keys[i];
		a = cur->values[i].value;
		b = next->values[i].value;
		if (k->reload || strcmp(a, b) == 0)
			continue;
		if (k->type == IL_CONF_SECRET)
			il_err_setf(errbuf, errsz, "\"%s\" changed: it takes effect only after a restart", k->name);
		else
			il_err_setf(errbuf, errsz, "\"%s\" changed from \"%s\" to \"%s\": it takes effect only after a restart",
			    k->name, a, b);
		return IL_ERR_CONFIG;
	}
	for (i = 0; i < cur->npairs || i < next->npairs; i++) {
		if (i < cur->npairs && i < next->npairs &&
		    strcmp(cur->pairs[i].key, next->pairs[i].key) == 0 &&
		    strcmp(cur->pairs[i].value, next->pairs[i].value) == 0)
			continue;
		il_err_setf(errbuf, errsz, "librdkafka property \"%s\" changed: it takes effect only after a restart",
		    i < cur->npairs ? cur->pairs[i].key : next->pairs[i].key);
		return IL_ERR_CONFIG;
	}
	return IL_OK;
}

il_err
il_conf_reload(il_conf **conf, const char *path_opt, char *errbuf, size_t errsz)
{
	il_conf *cur = *conf, *next = il_conf_new();
	const il_conf_cmdline *c;
	il_err err;
	size_t i;

	err = il_conf_load_standard(next, path_opt, errbuf, errsz);
	/* The command line still wins over what the files and variables now say. */
	for (i = 0; err == IL_OK && i < cur->ncmdline; i++) {
		c = &cur->cmdline[i];
		if (c->rdkafka) {
			il_conf_add_pair(next, c->key, strlen(c->key), c->value, c->origin, "command line");
			il_conf_remember(next, true, c->key, strlen(c->key), c->value, c->origin);
		} else {
			err = il_conf_set(next, c->key, c->value, c->origin, errbuf, errsz);
		}
	}
	if (err == IL_OK)
		err = il_conf_reload_check(cur, next, errbuf, errsz);
	if (err != IL_OK) {
		il_conf_destroy(next);
		return err;
	}
	il_conf_destroy(cur);
	*conf = next;
	return IL_OK;
}
