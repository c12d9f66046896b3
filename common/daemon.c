/*
 * daemon.c - the command line, configuration, reload and HTTP endpoint
 * every imislink daemon shares (see daemon.h).
 */
#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cli.h"
#include "conf.h"
#include "daemon.h"
#include "log.h"
#include "xalloc.h"

enum { OPT_SET = 256 };

/* The command line, before the configuration is built from it. */
struct daemon_args {
	const char *config_path;        /* -F */
	const char **sets;              /* --set KEY=VALUE, in order */
	size_t nsets;
	const char **rdkafka;           /* -X PROPERTY=VALUE, in order */
	size_t nrdkafka;
	bool dump;                      /* -X dump */
};

__attribute__((noreturn))
static void
usage(const il_daemon_info *info)
{
	printf("%s - %s\n\n"
	    "Usage:\n  %s [-F FILE] [--set KEY=VALUE]... [-X PROPERTY=VALUE]...\n\n"
	    "Options:\n"
	    "  -F, --config FILE        properties file (see deploy/imislink.properties.example)\n"
	    "  --set KEY=VALUE          set a configuration key\n"
	    "  -X PROPERTY=VALUE        a librdkafka property, as kcat takes it; -X dump prints\n"
	    "                           the configuration in effect and exits\n"
	    "  -h, --help               this help, then every configuration key\n"
	    "  -V, --version            print the version and exit\n\n"
	    "%s\n\n",
	    info->name, info->purpose, info->name, info->details);
	il_conf_usage(stdout);
	exit(0);
}

static void
parse_options(const il_daemon_info *info, int argc, char **argv, struct daemon_args *a)
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
			usage(info);
		case 'V':
			printf("%s %s\n", info->name, info->version);
			exit(0);
		default:
			il_cli_bad_usage(info->name, "invalid option", argv[optind - 1]);
		}
	}
	if (optind < argc)
		il_cli_bad_usage(info->name, "unexpected argument", argv[optind]);
}

static void
apply_log_level(const il_conf *conf)
{
	il_log_level level;

	if (il_log_level_parse(il_conf_get(conf, "log.level"), &level) == 0)
		il_log_set_level(level);
}

/* @returns the configuration the command line describes; exits naming the key when it is wrong. */
static il_conf *
load_conf(const il_daemon_info *info, const struct daemon_args *a)
{
	const il_daemon_required *r;
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
	for (r = info->required; r != NULL && r->key != NULL; r++)
		if (il_conf_get(conf, r->key)[0] == '\0')
			il_cli_fatal("%s: not set: %s", r->key, r->hint);
	return conf;
}

void
il_daemon_init(il_daemon *d, const il_daemon_info *info, int argc, char **argv)
{
	struct daemon_args args = { 0 };

	memset(d, 0, sizeof(*d));
	d->info = info;
	il_log_init(info->name, IL_LOG_INFO, NULL);
	args.sets = il_xcalloc((size_t)argc, sizeof(*args.sets));
	args.rdkafka = il_xcalloc((size_t)argc, sizeof(*args.rdkafka));
	parse_options(info, argc, argv, &args);
	d->config_path = args.config_path;
	d->conf = load_conf(info, &args);
	/* The running configuration is borrowed by the engine for its whole
	 * life; a reload works on a copy of its own. */
	d->shadow = load_conf(info, &args);
	free(args.sets);
	free(args.rdkafka);
	if (args.dump) {
		il_conf_dump(d->conf, stdout);
		il_daemon_fini(d);
		exit(0);
	}
	apply_log_level(d->conf);
	d->metrics = il_metrics_new();
	il_metrics_add_process(d->metrics);
}

il_http *
il_daemon_http(il_daemon *d, il_health_cb *health, void *health_ctx)
{
	d->http = il_http_new(il_conf_get(d->conf, "http.address"), (int)il_conf_get_int(d->conf, "http.port"),
	    (size_t)il_conf_get_int(d->conf, "http.max.body.bytes"), d->metrics, health, health_ctx);
	return d->http;
}

void
il_daemon_listen(il_daemon *d)
{
	char errbuf[512];

	if (il_http_listen(d->http, errbuf, sizeof(errbuf)) != IL_OK)
		il_cli_fatal("%s", errbuf);
}

void
il_daemon_reload(void *ctx)
{
	il_daemon *d = ctx;
	char errbuf[1024];

	if (il_conf_reload(&d->shadow, d->config_path, errbuf, sizeof(errbuf)) != IL_OK) {
		il_log_warn("configuration not reloaded; the running one stays", IL_STR("reason", errbuf));
		return;
	}
	apply_log_level(d->shadow);
	il_log_info("configuration reloaded", IL_STR("log_level", il_conf_get(d->shadow, "log.level")));
}

void
il_daemon_fini(il_daemon *d)
{
	if (d->http != NULL)
		il_http_stop(d->http);
	d->http = NULL;
	il_metrics_destroy(d->metrics);
	d->metrics = NULL;
	il_conf_destroy(d->conf);
	d->conf = NULL;
	il_conf_destroy(d->shadow);
	d->shadow = NULL;
}
