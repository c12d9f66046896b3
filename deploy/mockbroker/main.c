/*
 * main.c - imislink-mockbroker: librdkafka's mock cluster as a stand-alone
 * Kafka for the demo and quick local runs.
 *
 * The mock cluster implements produce, fetch, offsets and consumer groups
 * in memory, but not CreateTopics: every topic the pipeline uses is created
 * here before the bootstrap address is made known.  It keeps about 5 MiB per
 * partition and forgets everything when this process exits, so it is never
 * the broker the test-suite relies on.
 */
#include <errno.h>
#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include <librdkafka/rdkafka.h>
#include <librdkafka/rdkafka_mock.h>

#include "buf.h"
#include "cli.h"
#include "conf.h"
#include "http.h"
#include "log.h"
#include "metrics.h"
#include "sig.h"
#include "xalloc.h"

#define MOCK_NAME "imislink-mockbroker"
#define MOCK_VERSION "0.1.0"
/* The loop's bounded wait; bounds how late a stop request is seen. */
#define MOCK_TICK_MS 200
/* How often the partition offsets behind /metrics are refreshed. */
#define MOCK_OFFSETS_MS 2000
/* A watermark query on the in-process brokers answers at once or never. */
#define MOCK_QUERY_MS 1000
#define MOCK_MAX_BROKERS 16
#define MOCK_MAX_PARTITIONS 1000

enum {
	OPT_TOPIC = 256,
	OPT_BOOTSTRAP_FILE,
	OPT_SET,
};

/* One topic of the cluster and the gauges of its partitions. */
struct mock_topic {
	char *name;                     /* topic name */
	int partitions;                 /* partition count */
	il_metric **latest;             /* kafka_partition_latest_offset per partition */
	il_metric **earliest;           /* kafka_partition_earliest_offset per partition */
};

/* The command line, as given; applied once the configuration is loaded. */
struct args {
	const char *config_path;        /* -F */
	const char **sets;              /* --set KEY=VALUE, in order */
	size_t nsets;
	const char **topics;            /* --topic NAME[:PARTITIONS], in order */
	size_t ntopics;
};

struct mock {
	il_conf *conf;                  /* configuration: topics, http.* */
	int brokers;                    /* -n */
	int partitions;                 /* -p, for the pipeline's topics */
	const char *bootstrap_file;     /* --bootstrap-file */
	struct mock_topic *topics;      /* every topic to create */
	size_t ntopics;
	rd_kafka_t *rk;                 /* the handle the cluster lives in */
	rd_kafka_mock_cluster_t *mc;    /* the cluster; owned by us, uses rk */
	const char *bootstraps;         /* owned by mc */
	rd_kafka_t *probe;              /* a client of the cluster, for offsets */
	il_metrics *metrics;            /* /metrics */
	il_http *http;                  /* /metrics and /healthz */
};

__attribute__((noreturn))
static void
usage(void)
{
	printf("%s - librdkafka's mock Kafka cluster for the imislink demo\n\n"
	    "Usage:\n  %s [-n BROKERS] [-p PARTITIONS] [--topic NAME[:PARTITIONS]]...\n"
	    "      [--bootstrap-file FILE] [-F FILE] [--set KEY=VALUE]\n\n"
	    "Options:\n"
	    "  -n, --brokers N          brokers in the cluster (default 3, at most %d)\n"
	    "  -p, --partitions N       partitions of topic.eligibility, topic.dlq and\n"
	    "                           topic.results (default 6)\n"
	    "  --topic NAME[:N]         one more topic (default: -p partitions); repeatable\n"
	    "  --bootstrap-file FILE    also write the bootstrap address to FILE (atomically;\n"
	    "                           removed on exit)\n"
	    "  -F, --config FILE        properties file, as for every imislink program\n"
	    "  --set KEY=VALUE          set a configuration key (e.g. http.port=0)\n"
	    "  -h, --help               this help\n"
	    "  -V, --version            print the version and exit\n\n"
	    "Prints the bootstrap address on stdout (one line), serves /metrics and\n"
	    "/healthz on http.address:http.port, and runs until SIGINT or SIGTERM.\n"
	    "The cluster is in memory (about 5 MiB per partition) and lost on exit.\n\n"
	    "Examples:\n"
	    "  %s --set http.port=0 --bootstrap-file /tmp/bootstrap\n"
	    "  %s -n 1 -p 3 --topic scratch:1\n",
	    MOCK_NAME, MOCK_NAME, MOCK_MAX_BROKERS, MOCK_NAME, MOCK_NAME);
	exit(0);
}

/* A Kafka topic name: [A-Za-z0-9._-], 1 to 249 characters. */
static bool
topic_name_ok(const char *s, size_t len)
{
	size_t i;

	if (len == 0 || len > 249)
		return false;
	for (i = 0; i < len; i++) {
		char c = s[i];

		if (!((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
		    c == '.' || c == '_' || c == '-'))
			return false;
	}
	return true;
}

/* Parses a count within [@p min, @p max] into an int. */
static bool
parse_count(const char *s, int min, int max, int *out)
{
	long long v;

	if (!il_cli_parse_int(s, min, max, &v))
		return false;
	*out = (int)v;
	return true;
}

/* Adds a topic, or changes the partition count of one already listed. */
static void
add_topic(struct mock *m, const char *name, size_t len, int partitions)
{
	size_t i;

	for (i = 0; i < m->ntopics; i++) {
		if (strlen(m->topics[i].name) == len && strncmp(m->topics[i].name, name, len) == 0) {
			m->topics[i].partitions = partitions;
			return;
		}
	}
	m->topics = il_xrealloc(m->topics, (m->ntopics + 1) * sizeof(*m->topics));
	m->topics[m->ntopics].name = il_xstrndup(name, len);
	m->topics[m->ntopics].partitions = partitions;
	m->topics[m->ntopics].latest = NULL;
	m->topics[m->ntopics].earliest = NULL;
	m->ntopics++;
}

/* Records --topic NAME[:PARTITIONS]; partitions 0 means "as -p". */
static void
parse_topic_arg(struct mock *m, const char *arg)
{
	const char *colon = strrchr(arg, ':');
	size_t len = colon != NULL ? (size_t)(colon - arg) : strlen(arg);
	int partitions = 0;

	if (!topic_name_ok(arg, len))
		il_cli_bad_usage(MOCK_NAME, "invalid topic name: expected 1 to 249 of [A-Za-z0-9._-]", arg);
	if (colon != NULL && !parse_count(colon + 1, 1, MOCK_MAX_PARTITIONS, &partitions))
		il_cli_bad_usage(MOCK_NAME, "invalid partition count: expected 1 to 1000", arg);
	add_topic(m, arg, len, partitions);
}

/* librdkafka's log lines (syslog levels) as JSON lines. */
static void
on_rdkafka_log(const rd_kafka_t *rk, int level, const char *fac, const char *buf)
{
	(void)rk;
	/* Notices and below are librdkafka's chatter (such as the cluster's
	 * own handle having no bootstrap.servers): debug only. */
	if (level <= 3)
		il_log_error(buf, IL_STR("facility", fac));
	else if (level == 4)
		il_log_warn(buf, IL_STR("facility", fac));
	else
		il_log_debug(buf, IL_STR("facility", fac));
}

static rd_kafka_t *
new_handle(const struct mock *m, const char *bootstraps)
{
	char errstr[512];
	rd_kafka_conf_t *conf = rd_kafka_conf_new();
	rd_kafka_t *rk;

	rd_kafka_conf_set_log_cb(conf, on_rdkafka_log);
	if (rd_kafka_conf_set(conf, "client.id", il_conf_get(m->conf, "kafka.client.id"),
	    errstr, sizeof(errstr)) != RD_KAFKA_CONF_OK ||
	    (bootstraps != NULL && rd_kafka_conf_set(conf, "bootstrap.servers", bootstraps,
	    errstr, sizeof(errstr)) != RD_KAFKA_CONF_OK)) {
		rd_kafka_conf_destroy(conf);
		il_cli_fatal("could not configure a Kafka client: %s", errstr);
	}
	/* rd_kafka_new() takes ownership of conf when it succeeds. */
	rk = rd_kafka_new(RD_KAFKA_PRODUCER, conf, errstr, sizeof(errstr));
	if (rk == NULL) {
		rd_kafka_conf_destroy(conf);
		il_cli_fatal("could not create a Kafka client: %s", errstr);
	}
	return rk;
}

/* Writes the address to a temporary file renamed into place, so a script
 * waiting for the file never reads half of it. */
static void
write_bootstrap_file(const struct mock *m)
{
	char *tmp = il_xasprintf("%s.tmp.%ld", m->bootstrap_file, (long)getpid());
	FILE *f = fopen(tmp, "w");

	if (f == NULL)
		il_cli_fatal("could not open file \"%s\": %s", tmp, strerror(errno));
	if (fprintf(f, "%s\n", m->bootstraps) < 0 || fclose(f) != 0) {
		unlink(tmp);
		il_cli_fatal("could not write file \"%s\": %s", tmp, strerror(errno));
	}
	if (rename(tmp, m->bootstrap_file) != 0) {
		unlink(tmp);
		il_cli_fatal("could not rename file \"%s\" to \"%s\": %s", tmp, m->bootstrap_file,
		    strerror(errno));
	}
	free(tmp);
}

static void
create_topics(struct mock *m)
{
	int rf = m->brokers < 3 ? m->brokers : 3;
	rd_kafka_resp_err_t err;
	char labels[512], l1[300], l2[64];
	size_t i;
	int p;

	for (i = 0; i < m->ntopics; i++) {
		struct mock_topic *t = &m->topics[i];

		if (t->partitions == 0)
			t->partitions = m->partitions;
		err = rd_kafka_mock_topic_create(m->mc, t->name, t->partitions, rf);
		if (err != RD_KAFKA_RESP_ERR_NO_ERROR)
			il_cli_fatal("could not create topic \"%s\": %s", t->name, rd_kafka_err2str(err));
		t->latest = il_xcalloc((size_t)t->partitions, sizeof(*t->latest));
		t->earliest = il_xcalloc((size_t)t->partitions, sizeof(*t->earliest));
		for (p = 0; p < t->partitions; p++) {
			char pbuf[16];

			snprintf(pbuf, sizeof(pbuf), "%d", p);
			il_metrics_label(l1, sizeof(l1), "topic", t->name);
			il_metrics_label(l2, sizeof(l2), "partition", pbuf);
			snprintf(labels, sizeof(labels), "cluster_name=\"mock\",%s,%s", l1, l2);
			/* kafka-lag-exporter's names, so dashboards carry over. */
			t->latest[p] = il_metrics_gauge(m->metrics, "kafka_partition_latest_offset",
			    "Latest offset (high watermark) of a partition", labels);
			t->earliest[p] = il_metrics_gauge(m->metrics, "kafka_partition_earliest_offset",
			    "Earliest offset (low watermark) of a partition", labels);
		}
		il_log_info("topic created", IL_STR("topic", t->name), IL_INT("partitions", t->partitions),
		    IL_INT("replication_factor", rf));
	}
}

static void
refresh_offsets(struct mock *m)
{
	int64_t lo, hi;
	size_t i;
	int p;

	for (i = 0; i < m->ntopics; i++) {
		for (p = 0; p < m->topics[i].partitions; p++) {
			if (rd_kafka_query_watermark_offsets(m->probe, m->topics[i].name, p, &lo, &hi,
			    MOCK_QUERY_MS) != RD_KAFKA_RESP_ERR_NO_ERROR)
				continue;
			il_metric_set(m->topics[i].latest[p], (double)hi);
			il_metric_set(m->topics[i].earliest[p], (double)lo);
		}
	}
}

static il_health
on_health(il_buf *out, void *ctx)
{
	const struct mock *m = ctx;

	/* Both values are fixed before the server starts. */
	if (il_buf_printf(out, "\"brokers\":%d,\"bootstrap\":\"", m->brokers) != IL_OK ||
	    il_buf_add_json_escaped(out, m->bootstraps) != IL_OK || il_buf_adds(out, "\"") != IL_OK)
		return IL_HEALTH_DEGRADED;
	return IL_HEALTH_OK;
}

static void
parse_options(struct mock *m, int argc, char **argv, struct args *a)
{
	static const struct option longopts[] = {
		/* the cluster */
		{ "brokers", required_argument, NULL, 'n' },
		{ "partitions", required_argument, NULL, 'p' },
		{ "topic", required_argument, NULL, OPT_TOPIC },
		{ "bootstrap-file", required_argument, NULL, OPT_BOOTSTRAP_FILE },
		/* configuration */
		{ "config", required_argument, NULL, 'F' },
		{ "set", required_argument, NULL, OPT_SET },
		/* information */
		{ "help", no_argument, NULL, 'h' },
		{ "version", no_argument, NULL, 'V' },
		{ NULL, 0, NULL, 0 },
	};
	int c;

	while ((c = getopt_long(argc, argv, "n:p:F:hV", longopts, NULL)) != -1) {
		switch (c) {
		case 'n':
			if (!parse_count(optarg, 1, MOCK_MAX_BROKERS, &m->brokers))
				il_cli_bad_usage(MOCK_NAME, "invalid value for -n: expected 1 to 16 brokers", optarg);
			break;
		case 'p':
			if (!parse_count(optarg, 1, MOCK_MAX_PARTITIONS, &m->partitions))
				il_cli_bad_usage(MOCK_NAME, "invalid value for -p: expected 1 to 1000 partitions", optarg);
			break;
		case OPT_TOPIC:
			a->topics[a->ntopics++] = optarg;
			break;
		case OPT_BOOTSTRAP_FILE:
			m->bootstrap_file = optarg;
			break;
		case 'F':
			a->config_path = optarg;
			break;
		case OPT_SET:
			a->sets[a->nsets++] = optarg;
			break;
		case 'h':
			usage();
		case 'V':
			printf("%s %s (librdkafka %s)\n", MOCK_NAME, MOCK_VERSION, rd_kafka_version_str());
			exit(0);
		default:
			il_cli_bad_usage(MOCK_NAME, "invalid option", argv[optind - 1]);
		}
	}
	if (optind < argc)
		il_cli_bad_usage(MOCK_NAME, "unexpected argument", argv[optind]);
}

/* Loads the configuration: file, environment, then --set; fatal on error. */
static void
apply_log_level(const struct mock *m)
{
	il_log_level level;

	if (il_log_level_parse(il_conf_get(m->conf, "log.level"), &level) == 0)
		il_log_set_level(level);
}

static void
load_conf(struct mock *m, const struct args *a)
{
	char errbuf[512];
	size_t i;

	m->conf = il_conf_new();
	if (il_conf_load_standard(m->conf, a->config_path, errbuf, sizeof(errbuf)) != IL_OK)
		il_cli_fatal("%s", errbuf);
	for (i = 0; i < a->nsets; i++) {
		if (il_conf_set_arg(m->conf, a->sets[i], errbuf, sizeof(errbuf)) != IL_OK)
			il_cli_fatal("%s", errbuf);
	}
	apply_log_level(m);
}

/*
 * SIGHUP: reads the configuration again.  Only the log level can change
 * while the cluster runs; any other change is refused and the running
 * configuration stays, as a failed reload must never stop a daemon.
 */
static void
reload_conf(struct mock *m, const char *config_path)
{
	char errbuf[512];

	if (il_conf_reload(&m->conf, config_path, errbuf, sizeof(errbuf)) != IL_OK) {
		il_log_warn("configuration not reloaded; the running one stays", IL_STR("reason", errbuf));
		return;
	}
	apply_log_level(m);
	il_log_info("configuration reloaded", IL_STR("log_level", il_conf_get(m->conf, "log.level")));
}

/* The pipeline's topics first, so that a --topic of the same name can change
 * their partition count. */
static void
plan_topics(struct mock *m, const struct args *a)
{
	static const char *const keys[] = { "topic.eligibility", "topic.dlq", "topic.results" };
	size_t i;

	for (i = 0; i < sizeof(keys) / sizeof(keys[0]); i++) {
		const char *name = il_conf_get(m->conf, keys[i]);

		add_topic(m, name, strlen(name), 0);
	}
	for (i = 0; i < a->ntopics; i++)
		parse_topic_arg(m, a->topics[i]);
}

static void
start_http(struct mock *m)
{
	char errbuf[512];

	m->http = il_http_new(il_conf_get(m->conf, "http.address"), (int)il_conf_get_int(m->conf, "http.port"),
	    (size_t)il_conf_get_int(m->conf, "http.max.body.bytes"), m->metrics, on_health, m);
	if (il_http_listen(m->http, errbuf, sizeof(errbuf)) != IL_OK)
		il_cli_fatal("%s", errbuf);
}

static void
cleanup(struct mock *m)
{
	size_t i;

	if (m->bootstrap_file != NULL && m->bootstraps != NULL)
		unlink(m->bootstrap_file);
	il_http_stop(m->http);
	if (m->probe != NULL)
		rd_kafka_destroy(m->probe);
	/* The cluster first: it runs on the handle it was made with. */
	if (m->mc != NULL)
		rd_kafka_mock_cluster_destroy(m->mc);
	if (m->rk != NULL)
		rd_kafka_destroy(m->rk);
	il_metrics_destroy(m->metrics);
	for (i = 0; i < m->ntopics; i++) {
		free(m->topics[i].name);
		free(m->topics[i].latest);
		free(m->topics[i].earliest);
	}
	free(m->topics);
	il_conf_destroy(m->conf);
}

int
main(int argc, char **argv)
{
	struct mock m = { .brokers = 3, .partitions = 6 };
	struct args args = { NULL, NULL, 0, NULL, 0 };    /* the command line */
	struct timespec tick = { 0, MOCK_TICK_MS * 1000000L };
	long long since_refresh = MOCK_OFFSETS_MS;      /* refresh at once */
	il_metric *brokers;
	sigset_t sigs;

	il_log_init(MOCK_NAME, IL_LOG_INFO, NULL);
	args.sets = il_xcalloc((size_t)argc, sizeof(*args.sets));
	args.topics = il_xcalloc((size_t)argc, sizeof(*args.topics));
	parse_options(&m, argc, argv, &args);
	load_conf(&m, &args);
	plan_topics(&m, &args);
	free(args.sets);
	free(args.topics);
	il_sig_install();

	m.metrics = il_metrics_new();
	il_metrics_add_process(m.metrics);
	m.rk = new_handle(&m, NULL);
	/* Its thread must never take a signal: a poll() that fails with EINTR
	 * ends it, and the cluster with it. */
	il_sig_block_all(&sigs);
	m.mc = rd_kafka_mock_cluster_new(m.rk, m.brokers);
	il_sig_restore(&sigs);
	if (m.mc == NULL) {
		cleanup(&m);
		il_cli_fatal("could not start the mock cluster of %d brokers", m.brokers);
	}
	m.bootstraps = rd_kafka_mock_cluster_bootstraps(m.mc);
	create_topics(&m);
	brokers = il_metrics_gauge(m.metrics, "imislink_mockbroker_brokers", "Brokers in the mock cluster", NULL);
	il_metric_set(brokers, m.brokers);
	m.probe = new_handle(&m, m.bootstraps);
	start_http(&m);

	/* Only now is the cluster ready for the programs that read these. */
	printf("%s\n", m.bootstraps);
	fflush(stdout);
	if (m.bootstrap_file != NULL)
		write_bootstrap_file(&m);
	il_log_info("mock cluster ready", IL_STR("bootstrap", m.bootstraps), IL_INT("brokers", m.brokers),
	    IL_INT("http_port", il_http_port(m.http)));

	while (!il_sig_stop_requested()) {
		if (il_sig_take_reload())
			reload_conf(&m, args.config_path);
		if (since_refresh >= MOCK_OFFSETS_MS) {
			refresh_offsets(&m);
			since_refresh = 0;
		}
		nanosleep(&tick, NULL);
		since_refresh += MOCK_TICK_MS;
	}
	il_log_info("stopping the mock cluster; its data is lost");
	cleanup(&m);
	return 0;
}
