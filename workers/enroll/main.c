/*
 * main.c - imislink-enroll: eligibility events from Kafka become insurees,
 * families and policies (or beneficiaries) in openIMIS.
 *
 * Any number of these share the partitions of topic.eligibility in one
 * consumer group.  A worker keeps no state of its own: Kafka's committed
 * offsets and openIMIS itself are the whole truth, so a killed worker is
 * simply started again.  The engine is in worker.c; this file is the
 * command line, the configuration and the HTTP endpoint.
 */
#include <getopt.h>
#include <malloc.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "avro.h"
#include "cli.h"
#include "conf.h"
#include "http.h"
#include "log.h"
#include "mapping.h"
#include "metrics.h"
#include "sig.h"
#include "worker.h"
#include "xalloc.h"

#define ENROLL_NAME "imislink-enroll"
#define ENROLL_VERSION "0.1.0"

enum { OPT_SET = 256 };

struct args {
	const char *config_path;        /* -F */
	const char **sets;              /* --set KEY=VALUE, in order */
	size_t nsets;
	const char **rdkafka;           /* -X PROPERTY=VALUE, in order */
	size_t nrdkafka;
	bool dump;                      /* -X dump */
};

__attribute__((noreturn))
static void
usage(void)
{
	printf("%s - enroll openSPP eligibility events into openIMIS\n\n"
	    "Usage:\n  %s [-F FILE] [--set KEY=VALUE]... [-X PROPERTY=VALUE]...\n\n"
	    "Options:\n"
	    "  -F, --config FILE        properties file (see deploy/imislink.properties.example)\n"
	    "  --set KEY=VALUE          set a configuration key (e.g. enroll.max.in.flight=64)\n"
	    "  -X PROPERTY=VALUE        a librdkafka property, as kcat takes it; -X dump prints\n"
	    "                           the configuration in effect and exits\n"
	    "  -h, --help               this help, then every configuration key\n"
	    "  -V, --version            print the version and exit\n\n"
	    "Consumes topic.eligibility in group kafka.group.id, enrolls through\n"
	    "openimis.api.url as mapped by enroll.mapping.file, publishes every outcome to\n"
	    "topic.results and every failure to topic.dlq, and commits offsets only behind\n"
	    "them.  Serves /metrics, /healthz and /readyz on http.address:http.port.\n"
	    "Runs until SIGINT or SIGTERM, then finishes in-flight work within\n"
	    "enroll.shutdown.timeout.ms.  SIGHUP reloads the log level.\n\n"
	    "Environment: OPENIMIS_API_URL, OPENIMIS_USERNAME, OPENIMIS_PASSWORD(_FILE),\n"
	    "KAFKA_BOOTSTRAP_SERVERS, SCHEMA_REGISTRY_URL, IMISLINK_ENROLL_MAPPING_FILE, ...\n\n",
	    ENROLL_NAME, ENROLL_NAME);
	il_conf_usage(stdout);
	exit(0);
}

static void
parse_options(int argc, char **argv, struct args *a)
{
	static const struct option longopts[] = {
		{ "config", required_argument, NULL, 'F' },
		{ "set", required_argument, NULL, OPT_SET },
		{ "help", no_argument, NULL, 'h' },
		{ "version", no_argument, NULL, 'V' },
		{ NULL, 0, NULL, 0 },
	};
	int c;

	while ((c = getopt_long(argc, argv, "F:X:hV", longopts, NULL)) != -1) {
		switch (c) {
		case 'F':
			a->config_path = optarg;
			break;
		case OPT_SET:
			a->sets[a->nsets++] = optarg;
			break;
		case 'X':
			if (strcmp(optarg, "dump") == 0)
				a->dump = true;
			else
				a->rdkafka[a->nrdkafka++] = optarg;
			break;
		case 'h':
			usage();
		case 'V':
			printf("%s %s\n", ENROLL_NAME, ENROLL_VERSION);
			exit(0);
		default:
			il_cli_bad_usage(ENROLL_NAME, "invalid option", argv[optind - 1]);
		}
	}
	if (optind < argc)
		il_cli_bad_usage(ENROLL_NAME, "unexpected argument", argv[optind]);
}

static void
apply_log_level(const il_conf *conf)
{
	il_log_level level;

	if (il_log_level_parse(il_conf_get(conf, "log.level"), &level) == 0)
		il_log_set_level(level);
}

static il_conf *
load_conf(const struct args *a)
{
	il_conf *conf = il_conf_new();
	char errbuf[1024];
	size_t i;

	if (il_conf_load_standard(conf, a->config_path, errbuf, sizeof(errbuf)) != IL_OK)
		il_cli_fatal("%s", errbuf);
	for (i = 0; i < a->nsets; i++)
		if (il_conf_set_arg(conf, a->sets[i], errbuf, sizeof(errbuf)) != IL_OK)
			il_cli_fatal("%s", errbuf);
	for (i = 0; i < a->nrdkafka; i++)
		if (il_conf_set_rdkafka_arg(conf, a->rdkafka[i], errbuf, sizeof(errbuf)) != IL_OK)
			il_cli_fatal("%s", errbuf);
	if (il_conf_get(conf, "enroll.mapping.file")[0] == '\0')
		il_cli_fatal("enroll.mapping.file: not set: the worker needs the mapping of programmes, areas and "
		    "IDs to openIMIS (see deploy/enroll-mapping.example; environment variable "
		    "IMISLINK_ENROLL_MAPPING_FILE)");
	apply_log_level(conf);
	return conf;
}

/* What a reload needs: the command line, and a configuration of its own,
 * since the running one is borrowed by the worker for its whole life. */
struct reload {
	const char *config_path;
	il_conf *shadow;
};

/* SIGHUP: only the log level may change while the worker runs; any other
 * change is refused with the key named, and the running configuration stays. */
static void
on_reload(void *ctx)
{
	struct reload *r = ctx;
	char errbuf[1024];

	if (il_conf_reload(&r->shadow, r->config_path, errbuf, sizeof(errbuf)) != IL_OK) {
		il_log_warn("configuration not reloaded; the running one stays", IL_STR("reason", errbuf));
		return;
	}
	apply_log_level(r->shadow);
	il_log_info("configuration reloaded", IL_STR("log_level", il_conf_get(r->shadow, "log.level")));
}

static char *
default_worker_id(void)
{
	char host[256];

	if (gethostname(host, sizeof(host)) != 0)
		snprintf(host, sizeof(host), "localhost");
	host[sizeof(host) - 1] = '\0';
	return il_xasprintf("%s-%ld", host, (long)getpid());
}

/* Ready: logged in, reference data resolved, not stopping (for load balancers and Kubernetes). */
static void
on_ready(const il_http_request *req, il_http_response *resp, void *ctx)
{
	il_buf body;
	il_health h;

	(void)req;
	il_buf_init(&body, 1024);
	h = il_worker_health(&body, ctx);
	resp->status = h == IL_HEALTH_DOWN ? 503 : 200;
	if (il_buf_printf(&resp->body, "{\"ready\":%s,%s}", h == IL_HEALTH_DOWN ? "false" : "true",
	    body.data != NULL ? body.data : "") != IL_OK)
		resp->status = 500;
	il_buf_free(&body);
}

int
main(int argc, char **argv)
{
	struct args args = { 0 };
	struct reload reload;
	il_schema_set *schemas;
	il_mapping *mapping;
	il_metrics *metrics;
	il_worker *w;
	il_http *http;
	il_conf *conf;
	il_worker_env env;
	char errbuf[1024], *worker_id;
	il_err err;

	/* librdkafka's and libcurl's threads would each get a glibc arena of
	 * their own, and a worker's resident size would creep up over millions
	 * of events; two arenas keep it flat (with the trims in worker.c). */
	mallopt(M_ARENA_MAX, 2);
	il_log_init(ENROLL_NAME, IL_LOG_INFO, NULL);
	args.sets = il_xcalloc((size_t)argc, sizeof(*args.sets));
	args.rdkafka = il_xcalloc((size_t)argc, sizeof(*args.rdkafka));
	parse_options(argc, argv, &args);
	conf = load_conf(&args);
	reload.config_path = args.config_path;
	reload.shadow = load_conf(&args);
	free(args.sets);
	free(args.rdkafka);
	if (args.dump) {
		il_conf_dump(conf, stdout);
		il_conf_destroy(conf);
		il_conf_destroy(reload.shadow);
		return 0;
	}
	mapping = il_mapping_load(il_conf_get(conf, "enroll.mapping.file"), errbuf, sizeof(errbuf));
	if (mapping == NULL)
		il_cli_fatal("%s", errbuf);
	schemas = il_schema_set_load(il_conf_get(conf, "schemas.dir"), errbuf, sizeof(errbuf));
	if (schemas == NULL)
		il_cli_fatal("%s", errbuf);
	worker_id = il_conf_get(conf, "enroll.worker.id")[0] != '\0' ?
	    il_xstrdup(il_conf_get(conf, "enroll.worker.id")) : default_worker_id();
	il_sig_install();

	metrics = il_metrics_new();
	il_metrics_add_process(metrics);
	env = (il_worker_env){ conf, mapping, metrics, schemas, worker_id, on_reload, &reload };
	w = il_worker_new(&env, errbuf, sizeof(errbuf));
	if (w == NULL)
		il_cli_fatal("%s", errbuf);
	http = il_http_new(il_conf_get(conf, "http.address"), (int)il_conf_get_int(conf, "http.port"),
	    (size_t)il_conf_get_int(conf, "http.max.body.bytes"), metrics, il_worker_health, w);
	il_http_route(http, "GET", "/readyz", on_ready, w);
	if (il_http_listen(http, errbuf, sizeof(errbuf)) != IL_OK)
		il_cli_fatal("%s", errbuf);
	il_log_info("listening", IL_INT("port", il_http_port(http)), IL_STR("worker_id", worker_id));

	err = il_worker_prepare(w, errbuf, sizeof(errbuf));
	if (err == IL_OK)
		err = il_worker_run(w, errbuf, sizeof(errbuf));
	/* Leaving the group must not hang a stopping worker forever (librdkafka
	 * can wait on a coordinator that forgot it); past this bound SIGALRM ends
	 * the process, which is as safe as a crash: only committed work counts. */
	alarm((unsigned)(il_conf_get_int(conf, "enroll.shutdown.timeout.ms") / 1000) + 30);
	if (err != IL_OK && err != IL_ERR_CANCELLED)
		il_log_error("stopping", IL_STR("reason", errbuf));
	il_http_stop(http);
	il_worker_destroy(w);
	il_metrics_destroy(metrics);
	il_schema_set_destroy(schemas);
	il_mapping_destroy(mapping);
	il_conf_destroy(conf);
	il_conf_destroy(reload.shadow);
	free(worker_id);
	il_log_info("stopped");
	return err == IL_OK || err == IL_ERR_CANCELLED ? 0 : 1;
}
