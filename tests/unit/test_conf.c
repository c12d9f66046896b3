/*
 * test_conf.c - the configuration table, its four sources and their order,
 * every value check, the error messages people will read, and the promise
 * that secrets never reach printed output.
 *
 * The module is included rather than linked so that its value checks can be
 * driven with keys the table does not (yet) have, such as a bool; the public
 * functions are exercised exactly as programs call them.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include "conf.c"

#include <fcntl.h>
#include <signal.h>
#include <stdio.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#define FIXTURE(name) IL_SCHEMAS_DIR "/../tests/data/conf/" name
#define EXAMPLE_FILE IL_SCHEMAS_DIR "/../deploy/imislink.properties.example"

static char errbuf[1024];
static char tmpdir[] = "/tmp/test_conf.XXXXXX";
static char *tmpfiles[64];
static size_t ntmpfiles;

/* The keys as the brief lists them: the table must match this. */
static const struct {
	const char *key;
	const char *env;
	const char *def;
	il_conf_type type;
} spec[] = {
	{ "audit.db.url", "IMISLINK_AUDIT_DB_URL", "", IL_CONF_STRING },
	{ "audit.migrations.dir", "IMISLINK_AUDIT_MIGRATIONS_DIR", IL_AUDIT_SQL_DIR, IL_CONF_STRING },
	{ "avro.max.message.bytes", "IMISLINK_AVRO_MAX_MESSAGE_BYTES", "1048576", IL_CONF_INT },
	{ "cdc.db.url", "IMISLINK_CDC_DB_URL", "", IL_CONF_STRING },
	{ "cdc.enrich.connections", "IMISLINK_CDC_ENRICH_CONNECTIONS", "2", IL_CONF_INT },
	{ "cdc.mode", "IMISLINK_CDC_MODE", "replication", IL_CONF_ENUM },
	{ "cdc.poll.batch.size", "IMISLINK_CDC_POLL_BATCH_SIZE", "1000", IL_CONF_INT },
	{ "cdc.poll.interval.ms", "IMISLINK_CDC_POLL_INTERVAL_MS", "2000", IL_CONF_INT },
	{ "cdc.poll.overlap.s", "IMISLINK_CDC_POLL_OVERLAP_S", "300", IL_CONF_INT },
	{ "cdc.programmes", "IMISLINK_CDC_PROGRAMMES", "", IL_CONF_STRING },
	{ "cdc.publication.name", "IMISLINK_CDC_PUBLICATION_NAME", "imislink", IL_CONF_STRING },
	{ "cdc.slot.lag.warn.bytes", "IMISLINK_CDC_SLOT_LAG_WARN_BYTES", "1073741824", IL_CONF_INT },
	{ "cdc.slot.name", "IMISLINK_CDC_SLOT_NAME", "imislink", IL_CONF_STRING },
	{ "cdc.snapshot", "IMISLINK_CDC_SNAPSHOT", "initial", IL_CONF_ENUM },
	{ "cdc.state.file", "IMISLINK_CDC_STATE_FILE", "imislink-cdc.state", IL_CONF_STRING },
	{ "deadletter.batch.ms", "IMISLINK_DEADLETTER_BATCH_MS", "200", IL_CONF_INT },
	{ "deadletter.batch.size", "IMISLINK_DEADLETTER_BATCH_SIZE", "1000", IL_CONF_INT },
	{ "deadletter.group.id", "IMISLINK_DEADLETTER_GROUP_ID", "imislink-deadletter", IL_CONF_STRING },
	{ "enroll.mapping.file", "IMISLINK_ENROLL_MAPPING_FILE", "", IL_CONF_STRING },
	{ "enroll.max.buffered", "IMISLINK_ENROLL_MAX_BUFFERED", "20000", IL_CONF_INT },
	{ "enroll.max.in.flight", "IMISLINK_ENROLL_MAX_IN_FLIGHT", "256", IL_CONF_INT },
	{ "enroll.shutdown.timeout.ms", "IMISLINK_ENROLL_SHUTDOWN_TIMEOUT_MS", "10000", IL_CONF_INT },
	{ "enroll.worker.id", "IMISLINK_WORKER_ID", "", IL_CONF_STRING },
	{ "gateway.delivery.timeout.ms", "IMISLINK_GATEWAY_DELIVERY_TIMEOUT_MS", "30000", IL_CONF_INT },
	{ "gateway.oauth.clients.file", "IMISLINK_GATEWAY_OAUTH_CLIENTS_FILE", "", IL_CONF_STRING },
	{ "gateway.programme.id", "IMISLINK_GATEWAY_PROGRAMME_ID", "0", IL_CONF_INT },
	{ "gateway.rate.per.second", "IMISLINK_GATEWAY_RATE_PER_SECOND", "5000", IL_CONF_INT },
	{ "gateway.sender.id", "IMISLINK_GATEWAY_SENDER_ID", "imislink-gateway", IL_CONF_STRING },
	{ "gateway.token.lifetime.s", "IMISLINK_GATEWAY_TOKEN_LIFETIME_S", "3600", IL_CONF_INT },
	{ "gateway.token.signing.key", "IMISLINK_GATEWAY_TOKEN_SIGNING_KEY", "", IL_CONF_SECRET },
	{ "gateway.tokens.file", "IMISLINK_GATEWAY_TOKENS_FILE", "", IL_CONF_STRING },
	{ "http.address", "IMISLINK_HTTP_ADDRESS", "127.0.0.1", IL_CONF_IPV4 },
	{ "http.max.body.bytes", "IMISLINK_HTTP_MAX_BODY_BYTES", "1048576", IL_CONF_INT },
	{ "http.port", "IMISLINK_HTTP_PORT", "9464", IL_CONF_INT },
	{ "kafka.bootstrap.servers", "KAFKA_BOOTSTRAP_SERVERS", "127.0.0.1:9092", IL_CONF_BROKERS },
	{ "kafka.client.id", "IMISLINK_CLIENT_ID", "imislink", IL_CONF_STRING },
	{ "kafka.group.id", "IMISLINK_GROUP_ID", "imislink-enroll", IL_CONF_STRING },
	{ "lag.cluster.name", "IMISLINK_LAG_CLUSTER_NAME", "kafka", IL_CONF_STRING },
	{ "lag.groups", "IMISLINK_LAG_GROUPS", "", IL_CONF_STRING },
	{ "lag.interval.ms", "IMISLINK_LAG_INTERVAL_MS", "5000", IL_CONF_INT },
	{ "lag.window.size", "IMISLINK_LAG_WINDOW_SIZE", "10", IL_CONF_INT },
	{ "log.level", "IMISLINK_LOG_LEVEL", "info", IL_CONF_ENUM },
	{ "openimis.api.url", "OPENIMIS_API_URL", "http://127.0.0.1:8000", IL_CONF_URL },
	{ "openimis.breaker.failures", "OPENIMIS_BREAKER_FAILURES", "20", IL_CONF_INT },
	{ "openimis.breaker.probe.ms", "OPENIMIS_BREAKER_PROBE_MS", "5000", IL_CONF_INT },
	{ "openimis.calls.per.second", "OPENIMIS_CALLS_PER_SECOND", "2", IL_CONF_INT },
	{ "openimis.password", "OPENIMIS_PASSWORD", "", IL_CONF_SECRET },
	{ "openimis.retry.backoff.max.ms", "OPENIMIS_RETRY_BACKOFF_MAX_MS", "60000", IL_CONF_INT },
	{ "openimis.retry.backoff.ms", "OPENIMIS_RETRY_BACKOFF_MS", "300", IL_CONF_INT },
	{ "openimis.retry.budget.ms", "OPENIMIS_RETRY_BUDGET_MS", "600000", IL_CONF_INT },
	{ "openimis.timeout.ms", "OPENIMIS_TIMEOUT_MS", "30000", IL_CONF_INT },
	{ "openimis.username", "OPENIMIS_USERNAME", "Admin", IL_CONF_STRING },
	{ "openspp.api.password", "OPENSPP_API_PASSWORD", "", IL_CONF_SECRET },
	{ "openspp.api.url", "OPENSPP_API_URL", "", IL_CONF_URL },
	{ "openspp.api.username", "OPENSPP_API_USERNAME", "", IL_CONF_STRING },
	{ "openspp.instance", "OPENSPP_INSTANCE", "openspp", IL_CONF_STRING },
	{ "openspp.key.id.type", "OPENSPP_KEY_ID_TYPE", "National ID", IL_CONF_STRING },
	{ "schema.registry.password", "SCHEMA_REGISTRY_PASSWORD", "", IL_CONF_SECRET },
	{ "schema.registry.url", "SCHEMA_REGISTRY_URL", "", IL_CONF_URL },
	{ "schema.registry.username", "SCHEMA_REGISTRY_USERNAME", "", IL_CONF_STRING },
	{ "schemas.dir", "IMISLINK_SCHEMAS_DIR", IL_SCHEMAS_DIR, IL_CONF_STRING },
	{ "topic.dlq", "IMISLINK_TOPIC_DLQ", "openspp.eligibility.v1.dlq", IL_CONF_TOPIC },
	{ "topic.eligibility", "IMISLINK_TOPIC_ELIGIBILITY", "openspp.eligibility.v1", IL_CONF_TOPIC },
	{ "topic.results", "IMISLINK_TOPIC_RESULTS", "imis.enrollment.results.v1", IL_CONF_TOPIC },
};
#define NSPEC (sizeof(spec) / sizeof(spec[0]))

/* Every variable the module reads, so no test sees the caller's environment. */
static void
clear_env(void)
{
	char name[128];
	size_t i;

	for (i = 0; i < IL_CONF_NKEYS; i++) {
		unsetenv(il_conf_keys[i].env);
		snprintf(name, sizeof(name), "%s_FILE", il_conf_keys[i].env);
		unsetenv(name);
	}
	unsetenv("IMISLINK_CONFIG");
}

static int
group_setup(void **state)
{
	(void)state;
	if (mkdtemp(tmpdir) == NULL)
		return -1;
	/* Aborts and other diagnostics of the module go nowhere visible. */
	il_log_init("test_conf", IL_LOG_ERROR, NULL);
	return 0;
}

static int
group_teardown(void **state)
{
	size_t i;

	(void)state;
	for (i = 0; i < ntmpfiles; i++) {
		unlink(tmpfiles[i]);
		rmdir(tmpfiles[i]);
		free(tmpfiles[i]);
	}
	rmdir(tmpdir);
	clear_env();
	return 0;
}

static int
test_setup(void **state)
{
	il_conf *conf;

	clear_env();
	errbuf[0] = '\0';
	conf = il_conf_new();
	assert_non_null(conf);
	*state = conf;
	return 0;
}

static int
test_teardown(void **state)
{
	il_conf_destroy(*state);
	clear_env();
	return 0;
}

/* Writes a scratch file; the path lives until the group ends. */
static const char *
write_tmp(const char *name, const void *data, size_t len)
{
	char *path;
	FILE *fp;

	assert_true(ntmpfiles < sizeof(tmpfiles) / sizeof(tmpfiles[0]));
	path = il_xasprintf("%s/%s", tmpdir, name);
	fp = fopen(path, "wb");
	assert_non_null(fp);
	assert_int_equal(fwrite(data, 1, len, fp), len);
	assert_int_equal(fclose(fp), 0);
	tmpfiles[ntmpfiles++] = path;
	return path;
}

static const char *
write_tmps(const char *name, const char *text)
{
	return write_tmp(name, text, strlen(text));
}

/* @returns what il_conf_dump() prints; caller frees. */
static char *
dump(const il_conf *conf)
{
	char *text = NULL;
	size_t len = 0;
	FILE *fp = open_memstream(&text, &len);

	assert_non_null(fp);
	il_conf_dump(conf, fp);
	assert_int_equal(fclose(fp), 0);
	return text;
}

/* @returns the dump line of @p key, without its newline, in @p line. */
static void
dump_line(const il_conf *conf, const char *key, char *line, size_t linesz)
{
	char *text = dump(conf), *p = text, *end;
	size_t klen = strlen(key);

	line[0] = '\0';
	while (p != NULL && *p != '\0') {
		end = strchr(p, '\n');
		if (strncmp(p, key, klen) == 0 && (p[klen] == ' ' || p[klen] == '=')) {
			snprintf(line, linesz, "%.*s", (int)(end != NULL ? end - p : (ptrdiff_t)strlen(p)), p);
			break;
		}
		p = end != NULL ? end + 1 : NULL;
	}
	free(text);
	assert_true(line[0] != '\0');
}

/* @returns the text after "# " in the dump line of @p key. */
static void
assert_source(const il_conf *conf, const char *key, const char *want)
{
	char line[1024];
	const char *hash;

	dump_line(conf, key, line, sizeof(line));
	hash = strstr(line, "  # ");
	assert_non_null(hash);
	assert_string_equal(hash + 4, want);
}

static void
assert_set_ok(il_conf *conf, const char *key, const char *value, const char *want)
{
	errbuf[0] = '\0';
	assert_int_equal(il_conf_set(conf, key, value, "test", errbuf, sizeof(errbuf)), IL_OK);
	assert_string_equal(errbuf, "");
	assert_string_equal(il_conf_get(conf, key), want);
}

/* Refused with "test: invalid value for "key": <expected>, got "value"", value kept. */
static void
assert_set_refused(il_conf *conf, const char *key, const char *value, const char *expected)
{
	char *before = il_xstrdup(il_conf_get(conf, key));
	char want[1024];

	assert_int_equal(il_conf_set(conf, key, value, "test", errbuf, sizeof(errbuf)), IL_ERR_CONFIG);
	if (expected != NULL) {
		snprintf(want, sizeof(want), "test: invalid value for \"%s\": %s, got \"%s\"", key, expected, value);
		assert_string_equal(errbuf, want);
	}
	assert_string_equal(il_conf_get(conf, key), before);
	free(before);
}

static void
test_defaults_match_spec(void **state)
{
	il_conf *conf = *state;
	const il_conf_key *k;
	size_t i;

	assert_int_equal(IL_CONF_NKEYS, NSPEC);
	for (i = 0; i < NSPEC; i++) {
		k = il_conf_find(spec[i].key);
		assert_non_null(k);
		assert_string_equal(k->env, spec[i].env);
		assert_int_equal(k->type, spec[i].type);
		assert_string_equal(il_conf_get(conf, spec[i].key), spec[i].def);
		assert_source(conf, spec[i].key, "default");
	}
	assert_int_equal(il_conf_get_int(conf, "http.port"), 9464);
	assert_int_equal(il_conf_get_int(conf, "avro.max.message.bytes"), 1048576);
	assert_int_equal(il_conf_get_int(conf, "http.max.body.bytes"), 1048576);
	k = il_conf_find("http.port");
	assert_int_equal(k->min, 0);
	assert_int_equal(k->max, 65535);
	k = il_conf_find("avro.max.message.bytes");
	assert_int_equal(k->min, 1024);
	assert_int_equal(k->max, 104857600);
	assert_string_equal(il_conf_find("log.level")->choices, "error,warn,info,debug");
}

static void
test_table_well_formed(void **state)
{
	il_conf_check res;
	char expbuf[128];
	size_t i, j;

	(void)state;
	for (i = 0; i < IL_CONF_NKEYS; i++) {
		if (i > 0)
			assert_true(strcmp(il_conf_keys[i - 1].name, il_conf_keys[i].name) < 0);
		for (j = i + 1; j < IL_CONF_NKEYS; j++)
			assert_true(strcmp(il_conf_keys[i].env, il_conf_keys[j].env) != 0);
		assert_true(strlen(il_conf_keys[i].desc) > 10);
		il_conf_check_value(&il_conf_keys[i], il_conf_keys[i].def, &res, expbuf, sizeof(expbuf));
		assert_null(res.expected);
		assert_string_equal(res.canon, il_conf_keys[i].def);
		free(res.canon);
	}
	/* Only the log level is applied on reload; everything else builds clients. */
	for (i = 0; i < IL_CONF_NKEYS; i++)
		assert_int_equal(il_conf_keys[i].reload, strcmp(il_conf_keys[i].name, "log.level") == 0);
}

static void
test_int_values(void **state)
{
	il_conf *conf = *state;
	const char *port = "expected an integer from 0 to 65535";

	assert_set_ok(conf, "http.port", "0", "0");
	assert_int_equal(il_conf_get_int(conf, "http.port"), 0);
	assert_set_ok(conf, "http.port", "65535", "65535");
	assert_int_equal(il_conf_get_int(conf, "http.port"), 65535);
	/* Kept in canonical form. */
	assert_set_ok(conf, "http.port", "+80", "80");
	assert_set_ok(conf, "http.port", "0080", "80");
	assert_int_equal(il_conf_get_int(conf, "http.port"), 80);
	assert_set_refused(conf, "http.port", "abc", port);
	assert_string_equal(errbuf, "test: invalid value for \"http.port\": expected an integer from 0 to 65535, got \"abc\"");
	assert_set_refused(conf, "http.port", "", port);
	assert_set_refused(conf, "http.port", "-1", port);
	assert_set_refused(conf, "http.port", "65536", port);
	assert_set_refused(conf, "http.port", "1.5", port);
	assert_set_refused(conf, "http.port", " 1", port);
	assert_set_refused(conf, "http.port", "1 ", port);
	assert_set_refused(conf, "http.port", "0x10", port);
	assert_set_refused(conf, "http.port", "-", port);
	assert_set_refused(conf, "http.port", "+", port);
	assert_set_refused(conf, "http.port", "99999999999999999999999", port);
	assert_int_equal(il_conf_get_int(conf, "http.port"), 80);
	assert_set_refused(conf, "avro.max.message.bytes", "1023", "expected an integer from 1024 to 104857600");
	assert_set_ok(conf, "avro.max.message.bytes", "1024", "1024");
	assert_set_ok(conf, "avro.max.message.bytes", "104857600", "104857600");
	assert_set_refused(conf, "avro.max.message.bytes", "104857601", NULL);
	assert_set_refused(conf, "http.max.body.bytes", "0", "expected an integer from 1024 to 104857600");
	assert_int_equal(il_conf_get_int(conf, "avro.max.message.bytes"), 104857600);
}

static void
test_parse_ll_limits(void **state)
{
	long long v = 0;

	(void)state;
	assert_true(il_conf_parse_ll("9223372036854775807", &v));
	assert_true(v == LLONG_MAX);
	assert_true(il_conf_parse_ll("-9223372036854775808", &v));
	assert_true(v == LLONG_MIN);
	assert_false(il_conf_parse_ll("9223372036854775808", &v));
	assert_false(il_conf_parse_ll("-9223372036854775809", &v));
	assert_true(il_conf_parse_ll("-0", &v));
	assert_true(v == 0);
	assert_false(il_conf_parse_ll("", &v));
	assert_false(il_conf_parse_ll("1e3", &v));
}

static void
check_ok(const il_conf_key *k, const char *value, const char *canon, long long num)
{
	il_conf_check res;
	char expbuf[128];

	il_conf_check_value(k, value, &res, expbuf, sizeof(expbuf));
	assert_null(res.expected);
	assert_string_equal(res.canon, canon);
	assert_true(res.num == num);
	free(res.canon);
}

static void
check_refused(const il_conf_key *k, const char *value, const char *expected)
{
	il_conf_check res;
	char expbuf[128];

	il_conf_check_value(k, value, &res, expbuf, sizeof(expbuf));
	assert_non_null(res.expected);
	assert_string_equal(res.expected, expected);
	assert_null(res.canon);
}

static void
test_bool_values(void **state)
{
	static const il_conf_key flag = IL_K_BOOL("x.flag", "X_FLAG", "false", IL_RESTART, "a flag for this test");
	const char *want = "expected true or false (or yes/no, on/off, 1/0)";

	(void)state;
	check_ok(&flag, "true", "true", 1);
	check_ok(&flag, "YES", "true", 1);
	check_ok(&flag, "on", "true", 1);
	check_ok(&flag, "1", "true", 1);
	check_ok(&flag, "false", "false", 0);
	check_ok(&flag, "No", "false", 0);
	check_ok(&flag, "OFF", "false", 0);
	check_ok(&flag, "0", "false", 0);
	check_refused(&flag, "", want);
	check_refused(&flag, "2", want);
	check_refused(&flag, "truee", want);
	check_refused(&flag, "y", want);
	check_refused(&flag, " true", want);
}

static void
test_enum_values(void **state)
{
	static const il_conf_key mode = IL_K_ENUM("x.mode", "X_MODE", "a,bb,ccc", "a", IL_RESTART, "a mode for this test");
	il_conf *conf = *state;
	const char *want = "expected one of error, warn, info, debug";

	assert_set_ok(conf, "log.level", "debug", "debug");
	assert_set_ok(conf, "log.level", "WARN", "warn");
	assert_set_ok(conf, "log.level", "Error", "error");
	assert_set_refused(conf, "log.level", "verbose", want);
	assert_string_equal(errbuf, "test: invalid value for \"log.level\": expected one of error, warn, info, debug, got \"verbose\"");
	assert_set_refused(conf, "log.level", "", want);
	assert_set_refused(conf, "log.level", "inf", want);
	assert_set_refused(conf, "log.level", "info,debug", want);
	assert_set_refused(conf, "log.level", "error,", want);
	assert_string_equal(il_conf_get(conf, "log.level"), "error");
	check_ok(&mode, "BB", "bb", 0);
	check_ok(&mode, "ccc", "ccc", 0);
	check_refused(&mode, "b", "expected one of a, bb, ccc");
	check_refused(&mode, "cc", "expected one of a, bb, ccc");
	check_refused(&mode, "a,bb", "expected one of a, bb, ccc");
}

static void
test_url_values(void **state)
{
	il_conf *conf = *state;
	const char *want = "expected an http:// or https:// URL";
	const char *shape = "expected an http:// or https:// URL with a host and no spaces";

	assert_set_ok(conf, "openimis.api.url", "http://h", "http://h");
	assert_set_ok(conf, "openimis.api.url", "https://openimis.example.org:8443/api/", "https://openimis.example.org:8443/api/");
	assert_set_ok(conf, "openimis.api.url", "HTTPS://H", "HTTPS://H");
	assert_set_ok(conf, "openimis.api.url", "http://[::1]:8000", "http://[::1]:8000");
	/* An @ after the host is part of the path, not a credential. */
	assert_set_ok(conf, "openimis.api.url", "http://h/a@b", "http://h/a@b");
	assert_set_refused(conf, "openimis.api.url", "", want);
	assert_set_refused(conf, "openimis.api.url", "ftp://h", want);
	assert_set_refused(conf, "openimis.api.url", "h:80", want);
	assert_set_refused(conf, "openimis.api.url", "http:/h", want);
	assert_set_refused(conf, "openimis.api.url", "http://", shape);
	assert_set_refused(conf, "openimis.api.url", "http:///path", shape);
	assert_set_refused(conf, "openimis.api.url", "http://a b", shape);
	assert_set_refused(conf, "openimis.api.url", "http://h\n", shape);
	/* A credential in a URL is refused without being repeated. */
	assert_int_equal(il_conf_set(conf, "openimis.api.url", "http://admin:hunter2@h/", "test", errbuf, sizeof(errbuf)), IL_ERR_CONFIG);
	assert_string_equal(errbuf, "test: invalid value for \"openimis.api.url\": expected a URL without user:password (use the username and password keys)");
	assert_int_equal(il_conf_set(conf, "schema.registry.url", "https://u@h", "test", errbuf, sizeof(errbuf)), IL_ERR_CONFIG);
	assert_null(strstr(errbuf, "u@h"));
	assert_string_equal(il_conf_get(conf, "openimis.api.url"), "http://h/a@b");
	/* Empty where the default is empty: the registry is optional. */
	assert_set_ok(conf, "schema.registry.url", "http://registry:8081", "http://registry:8081");
	assert_set_ok(conf, "schema.registry.url", "", "");
	assert_set_refused(conf, "schema.registry.url", "registry:8081", "expected an http:// or https:// URL, or nothing");
}

static void
test_brokers_values(void **state)
{
	il_conf *conf = *state;
	const char *want = "expected a comma-separated list of host:port";
	static const char *const good[] = {
		"a:1", "a:1,b:2", " a:1 , b:2 ", "[::1]:9092", "kafka-1.example.org:9093,10.0.0.2:9092",
		"my_host:65535", "[fe80::1]:1,h:2",
	};
	static const char *const bad[] = {
		"", "a", "a:", ":1", "a:0", "a:65536", "a:1,", ",a:1", "a:1,,b:2", "a:b", "a b:1",
		"a:1:2", "[::1]", "[]:1", "[::1]9092", "[::g]:1", "PLAINTEXT://a:1", "a:123456", "a:-1",
	};
	size_t i;

	for (i = 0; i < sizeof(good) / sizeof(good[0]); i++)
		assert_set_ok(conf, "kafka.bootstrap.servers", good[i], good[i]);
	for (i = 0; i < sizeof(bad) / sizeof(bad[0]); i++)
		assert_set_refused(conf, "kafka.bootstrap.servers", bad[i], want);
}

static void
test_topic_values(void **state)
{
	il_conf *conf = *state;
	const char *want = "expected a Kafka topic name: 1 to 249 of A-Z a-z 0-9 . _ -";
	char name[251];

	assert_set_ok(conf, "topic.results", "a", "a");
	assert_set_ok(conf, "topic.results", "A.b_c-1", "A.b_c-1");
	assert_set_ok(conf, "topic.results", "...", "...");
	memset(name, 'x', 249);
	name[249] = '\0';
	assert_set_ok(conf, "topic.results", name, name);
	name[249] = 'x';
	name[250] = '\0';
	assert_set_refused(conf, "topic.results", name, NULL);
	assert_set_refused(conf, "topic.results", "", want);
	assert_set_refused(conf, "topic.results", ".", want);
	assert_set_refused(conf, "topic.results", "..", want);
	assert_set_refused(conf, "topic.dlq", "a b", want);
	assert_string_equal(errbuf, "test: invalid value for \"topic.dlq\": expected a Kafka topic name: 1 to 249 of A-Z a-z 0-9 . _ -, got \"a b\"");
	assert_set_refused(conf, "topic.eligibility", "a/b", want);
	assert_set_refused(conf, "topic.eligibility", "t\xc3\xa4", want);
	assert_set_refused(conf, "topic.eligibility", "a:b", want);
}

/* http.address is bound with inet_pton(): anything else is refused at load, naming the key. */
static void
test_ipv4_values(void **state)
{
	il_conf *conf = *state;
	const char *want = "expected an IPv4 address such as 127.0.0.1 or 0.0.0.0";

	assert_set_ok(conf, "http.address", "0.0.0.0", "0.0.0.0");
	assert_set_ok(conf, "http.address", "10.1.2.3", "10.1.2.3");
	assert_set_ok(conf, "http.address", "255.255.255.255", "255.255.255.255");
	assert_set_refused(conf, "http.address", "localhost", want);
	assert_string_equal(errbuf, "test: invalid value for \"http.address\": expected an IPv4 address "
	    "such as 127.0.0.1 or 0.0.0.0, got \"localhost\"");
	assert_set_refused(conf, "http.address", "", want);
	assert_set_refused(conf, "http.address", "::1", want);
	assert_set_refused(conf, "http.address", "127.0.0.256", want);
	assert_set_refused(conf, "http.address", "127.1", want);
	assert_set_refused(conf, "http.address", " 127.0.0.1", want);
	assert_set_refused(conf, "http.address", "127.0.0.1:9464", want);
	assert_string_equal(il_conf_get(conf, "http.address"), "255.255.255.255");

	/* From the environment the message names the variable, then the key. */
	setenv("IMISLINK_HTTP_ADDRESS", "my-host", 1);
	assert_int_equal(il_conf_load_env(conf, errbuf, sizeof(errbuf)), IL_ERR_CONFIG);
	assert_string_equal(errbuf, "environment variable IMISLINK_HTTP_ADDRESS: invalid value for "
	    "\"http.address\": expected an IPv4 address such as 127.0.0.1 or 0.0.0.0, got \"my-host\"");
	unsetenv("IMISLINK_HTTP_ADDRESS");
}

static void
test_string_values(void **state)
{
	il_conf *conf = *state;

	assert_set_ok(conf, "kafka.group.id", "group-2", "group-2");
	assert_set_refused(conf, "kafka.group.id", "", "expected a non-empty value");
	assert_set_refused(conf, "kafka.client.id", "a\tb", "expected text without control characters");
	assert_set_refused(conf, "openspp.instance", "a\x7f", "expected text without control characters");
	assert_set_ok(conf, "openspp.key.id.type", "Num\xc3\xa9ro national", "Num\xc3\xa9ro national");
	/* Optional where the default is empty. */
	assert_set_ok(conf, "schema.registry.username", "reg", "reg");
	assert_set_ok(conf, "schema.registry.username", "", "");
}

static void
test_secret_values(void **state)
{
	il_conf *conf = *state;

	assert_set_ok(conf, "openimis.password", "p@ss w0rd\twith\x01" "control", "p@ss w0rd\twith\x01" "control");
	assert_set_ok(conf, "openimis.password", "", "");
	assert_set_ok(conf, "schema.registry.password", "x", "x");
}

static void
test_quote_is_bounded(void **state)
{
	il_conf *conf = *state;
	char value[301];

	memset(value, '7', 300);
	value[300] = 'z';
	value[300] = '\0';
	value[0] = 'z';
	assert_int_equal(il_conf_set(conf, "http.port", value, "test", errbuf, sizeof(errbuf)), IL_ERR_CONFIG);
	assert_non_null(strstr(errbuf, "...\""));
	assert_true(strlen(errbuf) < 200);
	/* No buffer for the message is allowed too. */
	assert_int_equal(il_conf_set(conf, "http.port", "x", "test", NULL, 0), IL_ERR_CONFIG);
	assert_int_equal(il_conf_set(conf, "no.such", "x", "test", NULL, 0), IL_ERR_CONFIG);
	assert_int_equal(il_conf_load_file(conf, FIXTURE("bad-value.properties"), true, NULL, 0), IL_ERR_CONFIG);
	assert_int_equal(il_conf_load_file(conf, FIXTURE("missing.properties"), true, NULL, 0), IL_ERR_IO);
}

static void
test_file_valid(void **state)
{
	il_conf *conf = *state;

	assert_int_equal(il_conf_load_file(conf, FIXTURE("valid.properties"), true, errbuf, sizeof(errbuf)), IL_OK);
	/* A key given twice: the later line wins. */
	assert_string_equal(il_conf_get(conf, "http.port"), "2000");
	assert_source(conf, "http.port", FIXTURE("valid.properties") ":13");
	assert_string_equal(il_conf_get(conf, "kafka.client.id"), "spaced-client");
	assert_source(conf, "kafka.client.id", FIXTURE("valid.properties") ":6");
	assert_string_equal(il_conf_get(conf, "kafka.group.id"), "tabbed-group");
	assert_string_equal(il_conf_get(conf, "openspp.key.id.type"), "National ID = with equals");
	assert_string_equal(il_conf_get(conf, "log.level"), "debug");
	assert_string_equal(il_conf_get(conf, "openimis.password"), "file-secret-value");
	/* CRLF line ends. */
	assert_string_equal(il_conf_get(conf, "schema.registry.url"), "https://registry.example.org:8081");
	assert_string_equal(il_conf_get(conf, "openimis.api.url"), "http://openimis.example.org/api");
	assert_string_equal(il_conf_get(conf, "http.address"), "127.0.0.1");
	assert_source(conf, "http.address", "default");
}

static void
assert_file_error(il_conf *conf, const char *path, il_err want_err, const char *suffix)
{
	char want[1024];

	assert_int_equal(il_conf_load_file(conf, path, true, errbuf, sizeof(errbuf)), want_err);
	snprintf(want, sizeof(want), "\"%s\":%s", path, suffix);
	assert_string_equal(errbuf, want);
}

static void
test_file_unknown_key(void **state)
{
	il_conf *conf = *state;

	assert_file_error(conf, FIXTURE("unknown-key.properties"), IL_ERR_CONFIG,
	    "4: unknown key \"kafka.grup.id\"; did you mean \"kafka.group.id\"?");
	/* Lines before the error are applied, none after it. */
	assert_string_equal(il_conf_get(conf, "http.port"), "1111");
	assert_string_equal(il_conf_get(conf, "http.address"), "127.0.0.1");
}

static void
test_file_bad_value(void **state)
{
	il_conf *conf = *state;

	assert_file_error(conf, FIXTURE("bad-value.properties"), IL_ERR_CONFIG,
	    "3: invalid value for \"http.port\": expected an integer from 0 to 65535, got \"abc\"");
	assert_string_equal(il_conf_get(conf, "kafka.client.id"), "before-error");
	assert_string_equal(il_conf_get(conf, "kafka.group.id"), "imislink-enroll");
	assert_string_equal(il_conf_get(conf, "http.port"), "9464");
}

static void
test_file_malformed_lines(void **state)
{
	il_conf *conf = *state;

	assert_file_error(conf, FIXTURE("no-equals.properties"), IL_ERR_CONFIG,
	    "1: expected key=value, got a line without \"=\"");
	assert_file_error(conf, FIXTURE("empty-key.properties"), IL_ERR_CONFIG,
	    "2: expected key=value, got no key before \"=\"");
	assert_file_error(conf, FIXTURE("rdkafka-empty.properties"), IL_ERR_CONFIG,
	    "1: expected a librdkafka property after \"rdkafka.\"");
	assert_file_error(conf, FIXTURE("far-unknown.properties"), IL_ERR_CONFIG,
	    "1: unknown key \"foo.bar\"");
	/* Someone who wrote the variable's name gets the key's. */
	assert_file_error(conf, FIXTURE("env-name-key.properties"), IL_ERR_CONFIG,
	    "1: unknown key \"KAFKA_BOOTSTRAP_SERVERS\"; did you mean \"kafka.bootstrap.servers\"?");
}

static void
test_file_forms(void **state)
{
	il_conf *conf = *state;

	assert_int_equal(il_conf_load_file(conf, FIXTURE("bom.properties"), true, errbuf, sizeof(errbuf)), IL_OK);
	assert_string_equal(il_conf_get(conf, "http.port"), "4321");
	assert_int_equal(il_conf_load_file(conf, FIXTURE("no-final-newline.properties"), true, errbuf, sizeof(errbuf)), IL_OK);
	assert_string_equal(il_conf_get(conf, "http.port"), "5555");
	assert_int_equal(il_conf_load_file(conf, FIXTURE("empty.properties"), true, errbuf, sizeof(errbuf)), IL_OK);
	assert_string_equal(il_conf_get(conf, "http.port"), "5555");
}

static void
test_file_io_errors(void **state)
{
	il_conf *conf = *state;
	char want[1024];
	char *big;
	const char *path;

	assert_int_equal(il_conf_load_file(conf, FIXTURE("missing.properties"), true, errbuf, sizeof(errbuf)), IL_ERR_IO);
	snprintf(want, sizeof(want), "could not open file \"%s\": No such file or directory", FIXTURE("missing.properties"));
	assert_string_equal(errbuf, want);
	/* An optional file may be absent, even under a non-directory. */
	errbuf[0] = '\0';
	assert_int_equal(il_conf_load_file(conf, FIXTURE("missing.properties"), false, errbuf, sizeof(errbuf)), IL_OK);
	assert_int_equal(il_conf_load_file(conf, FIXTURE("valid.properties") "/x", false, errbuf, sizeof(errbuf)), IL_OK);
	assert_string_equal(errbuf, "");
	/* A directory opens but does not read: an error even when optional. */
	assert_int_equal(il_conf_load_file(conf, tmpdir, false, errbuf, sizeof(errbuf)), IL_ERR_IO);
	snprintf(want, sizeof(want), "could not read file \"%s\": Is a directory", tmpdir);
	assert_string_equal(errbuf, want);

	big = malloc(70001);
	assert_non_null(big);
	memcpy(big, "http.port=", 10);
	memset(big + 10, '1', 69990);
	big[70000] = '\n';
	path = write_tmp("long.properties", big, 70001);
	free(big);
	assert_file_error(conf, path, IL_ERR_CONFIG, "1: line longer than 65536 bytes");
	path = write_tmp("nul.properties", "# ok\nhttp.port=1\0\n", 18);
	assert_file_error(conf, path, IL_ERR_CONFIG, "2: line contains a NUL byte");

	if (geteuid() != 0) {
		path = write_tmps("unreadable.properties", "http.port=1\n");
		assert_int_equal(chmod(path, 0), 0);
		assert_int_equal(il_conf_load_file(conf, path, false, errbuf, sizeof(errbuf)), IL_ERR_IO);
		assert_non_null(strstr(errbuf, "Permission denied"));
	}
	assert_string_equal(il_conf_get(conf, "http.port"), "9464");
}

static void
test_env_values(void **state)
{
	il_conf *conf = *state;

	setenv("IMISLINK_HTTP_PORT", "8080", 1);
	setenv("SCHEMA_REGISTRY_URL", "", 1);
	setenv("IMISLINK_LOG_LEVEL", "DEBUG", 1);
	assert_int_equal(il_conf_load_env(conf, errbuf, sizeof(errbuf)), IL_OK);
	assert_int_equal(il_conf_get_int(conf, "http.port"), 8080);
	assert_source(conf, "http.port", "env IMISLINK_HTTP_PORT");
	assert_string_equal(il_conf_get(conf, "schema.registry.url"), "");
	assert_source(conf, "schema.registry.url", "env SCHEMA_REGISTRY_URL");
	assert_string_equal(il_conf_get(conf, "log.level"), "debug");
	assert_source(conf, "kafka.group.id", "default");

	setenv("IMISLINK_HTTP_PORT", "abc", 1);
	assert_int_equal(il_conf_load_env(conf, errbuf, sizeof(errbuf)), IL_ERR_CONFIG);
	assert_string_equal(errbuf, "environment variable IMISLINK_HTTP_PORT: invalid value for \"http.port\": "
	    "expected an integer from 0 to 65535, got \"abc\"");
	unsetenv("IMISLINK_HTTP_PORT");
	/* Set but empty is set: a required value cannot be blanked this way. */
	setenv("KAFKA_BOOTSTRAP_SERVERS", "", 1);
	assert_int_equal(il_conf_load_env(conf, errbuf, sizeof(errbuf)), IL_ERR_CONFIG);
	assert_string_equal(errbuf, "environment variable KAFKA_BOOTSTRAP_SERVERS: invalid value for "
	    "\"kafka.bootstrap.servers\": expected a comma-separated list of host:port, got \"\"");
	/* Only secrets read a _FILE twin. */
	unsetenv("KAFKA_BOOTSTRAP_SERVERS");
	setenv("IMISLINK_HTTP_PORT_FILE", "/nonexistent", 1);
	assert_int_equal(il_conf_load_env(conf, errbuf, sizeof(errbuf)), IL_OK);
	assert_int_equal(il_conf_get_int(conf, "http.port"), 8080);
}

static void
test_precedence(void **state)
{
	il_conf *conf = *state;
	const char *path = FIXTURE("valid.properties");

	assert_string_equal(il_conf_get(conf, "http.port"), "9464");
	assert_int_equal(il_conf_load_file(conf, path, true, errbuf, sizeof(errbuf)), IL_OK);
	assert_string_equal(il_conf_get(conf, "http.port"), "2000");
	setenv("IMISLINK_HTTP_PORT", "3000", 1);
	setenv("IMISLINK_CLIENT_ID", "env-client", 1);
	assert_int_equal(il_conf_load_env(conf, errbuf, sizeof(errbuf)), IL_OK);
	assert_string_equal(il_conf_get(conf, "http.port"), "3000");
	assert_string_equal(il_conf_get(conf, "kafka.client.id"), "env-client");
	assert_int_equal(il_conf_set_arg(conf, "http.port=4000", errbuf, sizeof(errbuf)), IL_OK);
	assert_string_equal(il_conf_get(conf, "http.port"), "4000");
	/* Each key remembers its own winning source. */
	assert_source(conf, "http.port", "command line");
	assert_source(conf, "kafka.client.id", "env IMISLINK_CLIENT_ID");
	assert_source(conf, "kafka.group.id", FIXTURE("valid.properties") ":7");
	assert_source(conf, "http.address", "default");

	/* The standard sequence: file, then environment, then the caller's options. */
	il_conf_destroy(conf);
	conf = *state = il_conf_new();
	setenv("IMISLINK_CONFIG", FIXTURE("bad-value.properties"), 1);
	assert_int_equal(il_conf_load_standard(conf, path, errbuf, sizeof(errbuf)), IL_OK);
	assert_string_equal(il_conf_get(conf, "http.port"), "3000");
	assert_string_equal(il_conf_get(conf, "log.level"), "debug");
	assert_int_equal(il_conf_set(conf, "http.port", "5000", NULL, errbuf, sizeof(errbuf)), IL_OK);
	assert_source(conf, "http.port", "command line");
}

static void
test_load_standard_sources(void **state)
{
	il_conf *conf = *state;
	char want[1024];
	struct stat st;

	setenv("IMISLINK_CONFIG", FIXTURE("bom.properties"), 1);
	assert_int_equal(il_conf_load_standard(conf, NULL, errbuf, sizeof(errbuf)), IL_OK);
	assert_string_equal(il_conf_get(conf, "http.port"), "4321");

	setenv("IMISLINK_CONFIG", FIXTURE("missing.properties"), 1);
	assert_int_equal(il_conf_load_standard(conf, NULL, errbuf, sizeof(errbuf)), IL_ERR_IO);
	snprintf(want, sizeof(want), "environment variable IMISLINK_CONFIG: could not open file \"%s\": "
	    "No such file or directory", FIXTURE("missing.properties"));
	assert_string_equal(errbuf, want);

	setenv("IMISLINK_CONFIG", FIXTURE("bad-value.properties"), 1);
	assert_int_equal(il_conf_load_standard(conf, NULL, errbuf, sizeof(errbuf)), IL_ERR_CONFIG);
	assert_non_null(strstr(errbuf, "bad-value.properties\":3: invalid value for \"http.port\""));

	/* An explicit path must exist, and it beats IMISLINK_CONFIG. */
	assert_int_equal(il_conf_load_standard(conf, FIXTURE("missing.properties"), errbuf, sizeof(errbuf)), IL_ERR_IO);
	snprintf(want, sizeof(want), "could not open file \"%s\": No such file or directory", FIXTURE("missing.properties"));
	assert_string_equal(errbuf, want);

	/* The environment is read after the file, and its errors stop the load. */
	unsetenv("IMISLINK_CONFIG");
	setenv("IMISLINK_HTTP_PORT", "70000", 1);
	assert_int_equal(il_conf_load_standard(conf, FIXTURE("no-final-newline.properties"), errbuf, sizeof(errbuf)), IL_ERR_CONFIG);
	assert_non_null(strstr(errbuf, "environment variable IMISLINK_HTTP_PORT"));
	assert_string_equal(il_conf_get(conf, "http.port"), "5555");
	unsetenv("IMISLINK_HTTP_PORT");

	/* Without -F or IMISLINK_CONFIG the default path is optional. */
	if (stat(IL_CONF_DEFAULT_PATH, &st) != 0) {
		setenv("IMISLINK_CONFIG", "", 1);
		assert_int_equal(il_conf_load_standard(conf, NULL, errbuf, sizeof(errbuf)), IL_OK);
		unsetenv("IMISLINK_CONFIG");
		assert_int_equal(il_conf_load_standard(conf, NULL, errbuf, sizeof(errbuf)), IL_OK);
	}
}

static void
test_secret_files(void **state)
{
	il_conf *conf = *state;
	char want[1024];
	const char *path;
	char *big;

	path = write_tmps("pw1", "s3cret\n");
	setenv("OPENIMIS_PASSWORD_FILE", path, 1);
	assert_int_equal(il_conf_load_env(conf, errbuf, sizeof(errbuf)), IL_OK);
	assert_string_equal(il_conf_get(conf, "openimis.password"), "s3cret");
	assert_source(conf, "openimis.password", "env OPENIMIS_PASSWORD_FILE");

	setenv("OPENIMIS_PASSWORD_FILE", write_tmps("pw2", "crlf\r\n"), 1);
	assert_int_equal(il_conf_load_env(conf, errbuf, sizeof(errbuf)), IL_OK);
	assert_string_equal(il_conf_get(conf, "openimis.password"), "crlf");
	/* Only one trailing newline is the editor's; the rest is the secret's. */
	setenv("OPENIMIS_PASSWORD_FILE", write_tmps("pw3", "two\n\n"), 1);
	assert_int_equal(il_conf_load_env(conf, errbuf, sizeof(errbuf)), IL_OK);
	assert_string_equal(il_conf_get(conf, "openimis.password"), "two\n");
	setenv("OPENIMIS_PASSWORD_FILE", write_tmps("pw4", " spaced \t"), 1);
	assert_int_equal(il_conf_load_env(conf, errbuf, sizeof(errbuf)), IL_OK);
	assert_string_equal(il_conf_get(conf, "openimis.password"), " spaced \t");
	setenv("OPENIMIS_PASSWORD_FILE", write_tmps("pw5", ""), 1);
	assert_int_equal(il_conf_load_env(conf, errbuf, sizeof(errbuf)), IL_OK);
	assert_string_equal(il_conf_get(conf, "openimis.password"), "");

	setenv("SCHEMA_REGISTRY_PASSWORD_FILE", write_tmps("pw6", "registry-pw\n"), 1);
	assert_int_equal(il_conf_load_env(conf, errbuf, sizeof(errbuf)), IL_OK);
	assert_string_equal(il_conf_get(conf, "schema.registry.password"), "registry-pw");
	unsetenv("SCHEMA_REGISTRY_PASSWORD_FILE");

	/* A file that cannot be read names the variable and the path. */
	setenv("OPENIMIS_PASSWORD_FILE", "/nonexistent/imislink/pw", 1);
	assert_int_equal(il_conf_load_env(conf, errbuf, sizeof(errbuf)), IL_ERR_CONFIG);
	assert_string_equal(errbuf, "environment variable OPENIMIS_PASSWORD_FILE: could not open file "
	    "\"/nonexistent/imislink/pw\": No such file or directory");
	setenv("OPENIMIS_PASSWORD_FILE", tmpdir, 1);
	assert_int_equal(il_conf_load_env(conf, errbuf, sizeof(errbuf)), IL_ERR_CONFIG);
	snprintf(want, sizeof(want), "environment variable OPENIMIS_PASSWORD_FILE: could not read file \"%s\": "
	    "Is a directory", tmpdir);
	assert_string_equal(errbuf, want);

	big = malloc(65537);
	assert_non_null(big);
	memset(big, 'k', 65537);
	/* The bound itself is allowed, one byte more is not. */
	setenv("OPENIMIS_PASSWORD_FILE", write_tmp("pw-max", big, 65536), 1);
	assert_int_equal(il_conf_load_env(conf, errbuf, sizeof(errbuf)), IL_OK);
	assert_int_equal(strlen(il_conf_get(conf, "openimis.password")), 65536);
	path = write_tmp("pw-big", big, 65537);
	free(big);
	setenv("OPENIMIS_PASSWORD_FILE", path, 1);
	assert_int_equal(il_conf_load_env(conf, errbuf, sizeof(errbuf)), IL_ERR_CONFIG);
	snprintf(want, sizeof(want), "environment variable OPENIMIS_PASSWORD_FILE: could not read file \"%s\": "
	    "larger than 65536 bytes", path);
	assert_string_equal(errbuf, want);
	path = write_tmp("pw-nul", "ab\0cd", 5);
	setenv("OPENIMIS_PASSWORD_FILE", path, 1);
	assert_int_equal(il_conf_load_env(conf, errbuf, sizeof(errbuf)), IL_ERR_CONFIG);
	snprintf(want, sizeof(want), "environment variable OPENIMIS_PASSWORD_FILE: file \"%s\" contains a NUL byte", path);
	assert_string_equal(errbuf, want);

	/* Both ways at once is ambiguous. */
	setenv("OPENIMIS_PASSWORD_FILE", write_tmps("pw7", "x\n"), 1);
	setenv("OPENIMIS_PASSWORD", "y", 1);
	assert_int_equal(il_conf_load_env(conf, errbuf, sizeof(errbuf)), IL_ERR_CONFIG);
	assert_string_equal(errbuf, "environment variables OPENIMIS_PASSWORD and OPENIMIS_PASSWORD_FILE are both set: use one");
	unsetenv("OPENIMIS_PASSWORD_FILE");
	assert_int_equal(il_conf_load_env(conf, errbuf, sizeof(errbuf)), IL_OK);
	assert_string_equal(il_conf_get(conf, "openimis.password"), "y");
	assert_source(conf, "openimis.password", "env OPENIMIS_PASSWORD");
}

/* The dump aligns values on the longest key's name: @returns "key" padded to it. */
static const char *
padded_key(const char *key, char *out, size_t outsz)
{
	size_t i, width = 0;

	for (i = 0; i < IL_CONF_NKEYS; i++)
		if (strlen(il_conf_keys[i].name) > width)
			width = strlen(il_conf_keys[i].name);
	snprintf(out, outsz, "%-*s", (int)width, key);
	return out;
}

static void
test_dump_never_shows_secrets(void **state)
{
	il_conf *conf = *state;
	static const char *const secrets[] = {
		"env-secret-xyz", "set-secret-abc", "xpw-123", "kpw-456", "PEMDATA", "oauth-s", "ks-pw",
		"file-secret-value", "file-rdkafka-secret",
	};
	char line[1024], key[128];
	char *text;
	size_t i, n;
	const char *p;

	/* Unset secrets show as empty: there is nothing to hide. */
	dump_line(conf, "openimis.password", line, sizeof(line));
	assert_true(strncmp(line, "openimis.password ", 18) == 0);
	assert_non_null(strstr(line, " =   # default"));
	assert_int_equal(strspn(line + 18, " "), strcspn(line + 18, "="));

	assert_int_equal(il_conf_load_file(conf, FIXTURE("valid.properties"), true, errbuf, sizeof(errbuf)), IL_OK);
	setenv("OPENIMIS_PASSWORD", "env-secret-xyz", 1);
	assert_int_equal(il_conf_load_env(conf, errbuf, sizeof(errbuf)), IL_OK);
	assert_int_equal(il_conf_set_arg(conf, "schema.registry.password=set-secret-abc", errbuf, sizeof(errbuf)), IL_OK);
	assert_int_equal(il_conf_set_rdkafka_arg(conf, "sasl.password=xpw-123", errbuf, sizeof(errbuf)), IL_OK);
	assert_int_equal(il_conf_set_rdkafka_arg(conf, "ssl.key.password=kpw-456", errbuf, sizeof(errbuf)), IL_OK);
	assert_int_equal(il_conf_set_rdkafka_arg(conf, "ssl.key.pem=PEMDATA", errbuf, sizeof(errbuf)), IL_OK);
	assert_int_equal(il_conf_set_rdkafka_arg(conf, "sasl.oauthbearer.client.secret=oauth-s", errbuf, sizeof(errbuf)), IL_OK);
	assert_int_equal(il_conf_set_rdkafka_arg(conf, "ssl.keystore.password=ks-pw", errbuf, sizeof(errbuf)), IL_OK);
	assert_int_equal(il_conf_set_rdkafka_arg(conf, "sasl.username=alice", errbuf, sizeof(errbuf)), IL_OK);
	text = dump(conf);
	for (i = 0; i < sizeof(secrets) / sizeof(secrets[0]); i++)
		assert_null(strstr(text, secrets[i]));
	n = 0;
	for (p = strstr(text, "(secret)"); p != NULL; p = strstr(p + 1, "(secret)"))
		n++;
	assert_int_equal(n, 8);
	snprintf(line, sizeof(line), "%s = (secret)  # env OPENIMIS_PASSWORD\n",
	    padded_key("openimis.password", key, sizeof(key)));
	assert_non_null(strstr(text, line));
	snprintf(line, sizeof(line), "%s = (secret)  # command line\n",
	    padded_key("schema.registry.password", key, sizeof(key)));
	assert_non_null(strstr(text, line));
	assert_non_null(strstr(text, "rdkafka.sasl.password = (secret)  # command line\n"));
	assert_non_null(strstr(text, "rdkafka.sasl.username = alice  # command line\n"));
	assert_non_null(strstr(text, "rdkafka.linger.ms = 5  # " FIXTURE("valid.properties") ":9\n"));
	snprintf(line, sizeof(line), "%s = 2000  # " FIXTURE("valid.properties") ":13\n",
	    padded_key("http.port", key, sizeof(key)));
	assert_non_null(strstr(text, line));
	free(text);
}

static void
test_suggestions(void **state)
{
	il_conf *conf = *state;

	assert_int_equal(il_conf_set(conf, "kafka.grup.id", "x", "test", errbuf, sizeof(errbuf)), IL_ERR_CONFIG);
	assert_string_equal(errbuf, "test: unknown key \"kafka.grup.id\"; did you mean \"kafka.group.id\"?");
	assert_int_equal(il_conf_set(conf, "http.prot", "1", "test", errbuf, sizeof(errbuf)), IL_ERR_CONFIG);
	assert_string_equal(errbuf, "test: unknown key \"http.prot\"; did you mean \"http.port\"?");
	assert_int_equal(il_conf_set(conf, "topic.result", "x", "test", errbuf, sizeof(errbuf)), IL_ERR_CONFIG);
	assert_string_equal(errbuf, "test: unknown key \"topic.result\"; did you mean \"topic.results\"?");
	assert_int_equal(il_conf_set(conf, "log.levle", "x", "test", errbuf, sizeof(errbuf)), IL_ERR_CONFIG);
	assert_string_equal(errbuf, "test: unknown key \"log.levle\"; did you mean \"log.level\"?");
	/* Three edits away is too far to guess. */
	assert_int_equal(il_conf_set(conf, "htp.prot", "1", "test", errbuf, sizeof(errbuf)), IL_ERR_CONFIG);
	assert_string_equal(errbuf, "test: unknown key \"htp.prot\"");
	assert_int_equal(il_conf_set(conf, "", "1", "test", errbuf, sizeof(errbuf)), IL_ERR_CONFIG);
	assert_string_equal(errbuf, "test: unknown key \"\"");
	assert_int_equal(il_conf_set(conf, "OPENIMIS_PASSWORD", "1", "test", errbuf, sizeof(errbuf)), IL_ERR_CONFIG);
	assert_string_equal(errbuf, "test: unknown key \"OPENIMIS_PASSWORD\"; did you mean \"openimis.password\"?");

	assert_int_equal(il_conf_distance("", "", 2), 0);
	assert_int_equal(il_conf_distance("abc", "abc", 2), 0);
	assert_int_equal(il_conf_distance("abc", "abd", 2), 1);
	assert_int_equal(il_conf_distance("abc", "", 5), 3);
	assert_int_equal(il_conf_distance("kitten", "sitting", 5), 3);
	assert_int_equal(il_conf_distance("kitten", "sitting", 2), 3);
	assert_int_equal(il_conf_distance("a", "abcd", 2), 3);
}

static void
test_set_arg(void **state)
{
	il_conf *conf = *state;

	assert_int_equal(il_conf_set_arg(conf, "http.port=1234", errbuf, sizeof(errbuf)), IL_OK);
	assert_int_equal(il_conf_get_int(conf, "http.port"), 1234);
	assert_source(conf, "http.port", "command line");
	assert_int_equal(il_conf_set_arg(conf, "openspp.key.id.type=a=b", errbuf, sizeof(errbuf)), IL_OK);
	assert_string_equal(il_conf_get(conf, "openspp.key.id.type"), "a=b");
	assert_int_equal(il_conf_set_arg(conf, "http.port", errbuf, sizeof(errbuf)), IL_ERR_CONFIG);
	assert_string_equal(errbuf, "option --set \"http.port\": expected key=value");
	assert_int_equal(il_conf_set_arg(conf, "=5", errbuf, sizeof(errbuf)), IL_ERR_CONFIG);
	assert_string_equal(errbuf, "option --set \"=5\": expected key=value");
	assert_int_equal(il_conf_set_arg(conf, "http.port=", errbuf, sizeof(errbuf)), IL_ERR_CONFIG);
	assert_string_equal(errbuf, "option --set: invalid value for \"http.port\": expected an integer from 0 to 65535, got \"\"");
	assert_int_equal(il_conf_set_arg(conf, "x.y=1", errbuf, sizeof(errbuf)), IL_ERR_CONFIG);
	assert_string_equal(errbuf, "option --set: unknown key \"x.y\"");
	assert_int_equal(il_conf_get_int(conf, "http.port"), 1234);
}

/* Collects the librdkafka pairs as "k=v;" and can fail on a chosen call. */
typedef struct collect {
	char out[1024];         /* pairs seen so far */
	int calls;              /* callbacks made */
	int fail_at;            /* call number that fails, 0 for none */
	const char *msg;        /* what the failing call writes to errbuf */
} collect;

static il_err
collect_cb(const char *key, const char *value, void *ctx, char *eb, size_t esz)
{
	collect *c = ctx;
	size_t n = strlen(c->out);

	c->calls++;
	if (c->calls == c->fail_at) {
		if (c->msg != NULL)
			snprintf(eb, esz, "%s", c->msg);
		return IL_ERR_CONFIG;
	}
	snprintf(c->out + n, sizeof(c->out) - n, "%s=%s;", key, value);
	return IL_OK;
}

static void
test_rdkafka_order(void **state)
{
	il_conf *conf = *state;
	collect c = { .fail_at = 0 };

	assert_int_equal(il_conf_rdkafka_foreach(conf, collect_cb, &c, errbuf, sizeof(errbuf)), IL_OK);
	assert_int_equal(c.calls, 0);
	assert_int_equal(il_conf_load_file(conf, FIXTURE("rdkafka-order.properties"), true, errbuf, sizeof(errbuf)), IL_OK);
	assert_int_equal(il_conf_set_rdkafka_arg(conf, "acks=all", errbuf, sizeof(errbuf)), IL_OK);
	assert_int_equal(il_conf_set_rdkafka_arg(conf, "linger.ms=10", errbuf, sizeof(errbuf)), IL_OK);
	assert_int_equal(il_conf_set_rdkafka_arg(conf, "a=b=c", errbuf, sizeof(errbuf)), IL_OK);
	assert_int_equal(il_conf_set_rdkafka_arg(conf, "topic.acks=1", errbuf, sizeof(errbuf)), IL_OK);
	assert_int_equal(il_conf_set_rdkafka_arg(conf, "empty=", errbuf, sizeof(errbuf)), IL_OK);
	assert_int_equal(il_conf_set_rdkafka_arg(conf, "nokey", errbuf, sizeof(errbuf)), IL_ERR_CONFIG);
	assert_string_equal(errbuf, "option -X \"nokey\": expected key=value");
	assert_int_equal(il_conf_set_rdkafka_arg(conf, "=v", errbuf, sizeof(errbuf)), IL_ERR_CONFIG);
	assert_string_equal(errbuf, "option -X \"=v\": expected key=value");
	assert_int_equal(il_conf_rdkafka_foreach(conf, collect_cb, &c, errbuf, sizeof(errbuf)), IL_OK);
	/* File lines first, then -X, each in the order given, untouched. */
	assert_string_equal(c.out, "linger.ms=5;compression.type=lz4;acks=all;linger.ms=10;a=b=c;topic.acks=1;empty=;");
	assert_int_equal(c.calls, 7);
}

static void
test_rdkafka_foreach_error(void **state)
{
	il_conf *conf = *state;
	collect c = { .fail_at = 2, .msg = "No such configuration property: \"compression.type\"" };
	char want[1024];

	assert_int_equal(il_conf_load_file(conf, FIXTURE("rdkafka-order.properties"), true, errbuf, sizeof(errbuf)), IL_OK);
	assert_int_equal(il_conf_set_rdkafka_arg(conf, "acks=all", errbuf, sizeof(errbuf)), IL_OK);
	assert_int_equal(il_conf_rdkafka_foreach(conf, collect_cb, &c, errbuf, sizeof(errbuf)), IL_ERR_CONFIG);
	/* It stops at the failing property and says where that came from. */
	assert_int_equal(c.calls, 2);
	snprintf(want, sizeof(want), "\"%s\":2: No such configuration property: \"compression.type\"",
	    FIXTURE("rdkafka-order.properties"));
	assert_string_equal(errbuf, want);

	c = (collect){ .fail_at = 3, .msg = NULL };
	assert_int_equal(il_conf_rdkafka_foreach(conf, collect_cb, &c, errbuf, sizeof(errbuf)), IL_ERR_CONFIG);
	assert_string_equal(errbuf, "option -X: librdkafka property \"acks\": configuration error");
	c = (collect){ .fail_at = 1, .msg = "x" };
	assert_int_equal(il_conf_rdkafka_foreach(conf, collect_cb, &c, NULL, 0), IL_ERR_CONFIG);
}

/* Runs @p fn in a child and expects it to abort, logging @p needle. */
static void
assert_aborts(void (*fn)(const il_conf *), const il_conf *conf, const char *needle)
{
	FILE *log = tmpfile();
	char line[512] = "";
	pid_t pid;
	int status;

	assert_non_null(log);
	fflush(NULL);
	pid = fork();
	assert_true(pid >= 0);
	if (pid == 0) {
		/* cmocka catches SIGABRT; the child must die of it. */
		signal(SIGABRT, SIG_DFL);
		il_log_init("child", IL_LOG_ERROR, log);
		fn(conf);
		_exit(0);
	}
	assert_int_equal(waitpid(pid, &status, 0), pid);
	assert_true(WIFSIGNALED(status));
	assert_int_equal(WTERMSIG(status), SIGABRT);
	rewind(log);
	assert_non_null(fgets(line, sizeof(line), log));
	assert_non_null(strstr(line, needle));
	fclose(log);
}

static void
get_unknown(const il_conf *conf)
{
	(void)il_conf_get(conf, "no.such.key");
}

static void
get_int_of_string(const il_conf *conf)
{
	(void)il_conf_get_int(conf, "kafka.client.id");
}

static void
get_bool_of_int(const il_conf *conf)
{
	(void)il_conf_get_bool(conf, "http.port");
}

static void
test_programming_errors_abort(void **state)
{
	il_conf *conf = *state;

	assert_aborts(get_unknown, conf, "\"msg\":\"unknown configuration key\",\"conf_key\":\"no.such.key\"");
	assert_aborts(get_int_of_string, conf, "\"conf_key\":\"kafka.client.id\"");
	assert_aborts(get_bool_of_int, conf, "\"conf_key\":\"http.port\"");
	/* A secret reads like any other key, for the code that needs it. */
	assert_string_equal(il_conf_get(conf, "openimis.password"), "");
}

static void
test_usage(void **state)
{
	char *text = NULL;
	size_t len = 0, i;
	FILE *fp = open_memstream(&text, &len);

	(void)state;
	assert_non_null(fp);
	il_conf_usage(fp);
	assert_int_equal(fclose(fp), 0);
	for (i = 0; i < IL_CONF_NKEYS; i++) {
		char want[512];

		snprintf(want, sizeof(want), "  %s  %s  [%s]\n      %s (", il_conf_keys[i].name, il_conf_keys[i].env,
		    *il_conf_keys[i].def != '\0' ? il_conf_keys[i].def : "none", il_conf_keys[i].desc);
		assert_non_null(strstr(text, want));
	}
	assert_non_null(strstr(text, "or read from the file named by OPENIMIS_PASSWORD_FILE"));
	assert_non_null(strstr(text, "(one of error,warn,info,debug; applied on reload)"));
	assert_non_null(strstr(text, "(integer 0 to 65535)"));
	assert_non_null(strstr(text, "rdkafka.<property>"));
	assert_non_null(strstr(text, IL_CONF_DEFAULT_PATH));
	free(text);
}

static void
test_reload_check(void **state)
{
	il_conf *cur = *state, *next = il_conf_new();

	assert_int_equal(il_conf_reload_check(cur, next, errbuf, sizeof(errbuf)), IL_OK);
	assert_int_equal(il_conf_set(next, "log.level", "debug", NULL, errbuf, sizeof(errbuf)), IL_OK);
	assert_int_equal(il_conf_reload_check(cur, next, errbuf, sizeof(errbuf)), IL_OK);
	assert_int_equal(il_conf_set(next, "http.port", "1", NULL, errbuf, sizeof(errbuf)), IL_OK);
	assert_int_equal(il_conf_reload_check(cur, next, errbuf, sizeof(errbuf)), IL_ERR_CONFIG);
	assert_string_equal(errbuf, "\"http.port\" changed from \"9464\" to \"1\": it takes effect only after a restart");
	il_conf_destroy(next);

	next = il_conf_new();
	assert_int_equal(il_conf_set(next, "openimis.password", "rotated-pw", NULL, errbuf, sizeof(errbuf)), IL_OK);
	assert_int_equal(il_conf_reload_check(cur, next, errbuf, sizeof(errbuf)), IL_ERR_CONFIG);
	assert_string_equal(errbuf, "\"openimis.password\" changed: it takes effect only after a restart");
	il_conf_destroy(next);

	next = il_conf_new();
	assert_int_equal(il_conf_set_rdkafka_arg(next, "linger.ms=5", errbuf, sizeof(errbuf)), IL_OK);
	assert_int_equal(il_conf_reload_check(cur, next, errbuf, sizeof(errbuf)), IL_ERR_CONFIG);
	assert_string_equal(errbuf, "librdkafka property \"linger.ms\" changed: it takes effect only after a restart");
	assert_int_equal(il_conf_set_rdkafka_arg(cur, "linger.ms=5", errbuf, sizeof(errbuf)), IL_OK);
	assert_int_equal(il_conf_reload_check(cur, next, errbuf, sizeof(errbuf)), IL_OK);
	assert_int_equal(il_conf_set_rdkafka_arg(cur, "acks=all", errbuf, sizeof(errbuf)), IL_OK);
	assert_int_equal(il_conf_reload_check(cur, next, errbuf, sizeof(errbuf)), IL_ERR_CONFIG);
	assert_string_equal(errbuf, "librdkafka property \"acks\" changed: it takes effect only after a restart");
	il_conf_destroy(next);
}

/*
 * A reload reads the file again, keeps the command line on top, and either
 * replaces the configuration or leaves the running one untouched.
 */
static void
test_reload(void **state)
{
	il_conf *conf = *state;
	const char *path;

	path = write_tmps("reload.properties", "log.level = info\nhttp.port = 9000\n");
	assert_int_equal(il_conf_load_standard(conf, path, errbuf, sizeof(errbuf)), IL_OK);
	assert_int_equal(il_conf_set_arg(conf, "kafka.client.id=from-cli", errbuf, sizeof(errbuf)), IL_OK);
	assert_int_equal(il_conf_set(conf, "kafka.bootstrap.servers", "h:1", "-b", errbuf, sizeof(errbuf)), IL_OK);
	assert_int_equal(il_conf_set_rdkafka_arg(conf, "linger.ms=7", errbuf, sizeof(errbuf)), IL_OK);

	/* A reloadable change is taken; command-line values survive it. */
	write_tmps("reload.properties", "log.level = debug\nhttp.port = 9000\nkafka.client.id = from-file\n");
	assert_int_equal(il_conf_reload(&conf, path, errbuf, sizeof(errbuf)), IL_OK);
	*state = conf;
	assert_string_equal(il_conf_get(conf, "log.level"), "debug");
	assert_string_equal(il_conf_get(conf, "kafka.client.id"), "from-cli");
	assert_string_equal(il_conf_get(conf, "kafka.bootstrap.servers"), "h:1");

	/* A change that needs a restart is refused and nothing moves. */
	write_tmps("reload.properties", "log.level = warn\nhttp.port = 9001\n");
	assert_int_equal(il_conf_reload(&conf, path, errbuf, sizeof(errbuf)), IL_ERR_CONFIG);
	assert_ptr_equal(conf, *state);
	assert_string_equal(errbuf, "\"http.port\" changed from \"9000\" to \"9001\": it takes effect only after a restart");
	assert_string_equal(il_conf_get(conf, "log.level"), "debug");

	/* So is a file that no longer parses, with its line named. */
	write_tmps("reload.properties", "log.level = loud\n");
	assert_int_equal(il_conf_reload(&conf, path, errbuf, sizeof(errbuf)), IL_ERR_CONFIG);
	assert_non_null(strstr(errbuf, ":1: invalid value for \"log.level\""));
	assert_string_equal(il_conf_get(conf, "log.level"), "debug");

	/* Twice in a row: the command line is remembered by the new configuration too. */
	write_tmps("reload.properties", "log.level = error\nhttp.port = 9000\n");
	assert_int_equal(il_conf_reload(&conf, path, errbuf, sizeof(errbuf)), IL_OK);
	*state = conf;
	assert_int_equal(il_conf_reload(&conf, path, errbuf, sizeof(errbuf)), IL_OK);
	*state = conf;
	assert_string_equal(il_conf_get(conf, "log.level"), "error");
	assert_string_equal(il_conf_get(conf, "kafka.client.id"), "from-cli");
}

/*
 * The example file documents every key: uncommenting each "#key = value"
 * line gives a file that loads and restates the defaults.
 */
static void
test_example_file(void **state)
{
	il_conf *conf = *state;
	FILE *fp = fopen(EXAMPLE_FILE, "r");
	char *line = NULL, *text = NULL;
	size_t sz = 0, len = 0, i;
	ssize_t n;
	FILE *out;
	collect c = { .fail_at = 0 };

	assert_non_null(fp);
	out = open_memstream(&text, &len);
	assert_non_null(out);
	for (n = getline(&line, &sz, fp); n > 0; n = getline(&line, &sz, fp)) {
		if (line[0] == '#' && line[1] >= 'a' && line[1] <= 'z' && strstr(line, " =") != NULL)
			fputs(line + 1, out);
	}
	free(line);
	fclose(fp);
	assert_int_equal(fclose(out), 0);
	assert_int_equal(il_conf_load_file(conf, write_tmps("example.properties", text), true, errbuf, sizeof(errbuf)), IL_OK);
	free(text);
	for (i = 0; i < IL_CONF_NKEYS; i++) {
		assert_non_null(conf->values[i].source);
		/* Directories of the tree the programs were built from: the
		 * example shows an installed path instead. */
		if (strcmp(il_conf_keys[i].name, "schemas.dir") != 0 &&
		    strcmp(il_conf_keys[i].name, "audit.migrations.dir") != 0)
			assert_string_equal(conf->values[i].value, il_conf_keys[i].def);
	}
	assert_int_equal(il_conf_rdkafka_foreach(conf, collect_cb, &c, errbuf, sizeof(errbuf)), IL_OK);
	assert_true(c.calls >= 1);
}

static void
test_destroy_null(void **state)
{
	(void)state;
	il_conf_destroy(NULL);
}

#define T(fn) cmocka_unit_test_setup_teardown(fn, test_setup, test_teardown)

int
main(void)
{
	const struct CMUnitTest tests[] = {
		T(test_defaults_match_spec),
		T(test_table_well_formed),
		T(test_int_values),
		T(test_parse_ll_limits),
		T(test_bool_values),
		T(test_enum_values),
		T(test_url_values),
		T(test_brokers_values),
		T(test_topic_values),
		T(test_ipv4_values),
		T(test_string_values),
		T(test_secret_values),
		T(test_quote_is_bounded),
		T(test_file_valid),
		T(test_file_unknown_key),
		T(test_file_bad_value),
		T(test_file_malformed_lines),
		T(test_file_forms),
		T(test_file_io_errors),
		T(test_env_values),
		T(test_precedence),
		T(test_load_standard_sources),
		T(test_secret_files),
		T(test_dump_never_shows_secrets),
		T(test_suggestions),
		T(test_set_arg),
		T(test_rdkafka_order),
		T(test_rdkafka_foreach_error),
		T(test_programming_errors_abort),
		T(test_usage),
		T(test_reload_check),
		T(test_reload),
		T(test_example_file),
		T(test_destroy_null),
	};

	return cmocka_run_group_tests(tests, group_setup, group_teardown);
}
