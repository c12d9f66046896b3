/*
 * main.c - the `imislink` operator tool: global options, configuration and
 * the command table.  The commands themselves live in cmd_<name>.c.
 *
 * Modelled on kcat: -b and -X as there, data on stdout, diagnostics on
 * stderr (JSON lines through common/log.h).
 */
#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cjson/cJSON.h>
#include <librdkafka/rdkafka.h>

#include "conf.h"
#include "imislink.h"
#include "log.h"
#include "xalloc.h"

/* Long options without a short form. */
enum {
	OPT_SET = 256,
};

/* One configuration value from the command line, applied in the order given
 * after the file and the environment, so the command line always wins. */
struct cli_setting {
	int opt;                /* 'X', 'b' or OPT_SET */
	const char *arg;        /* the option's argument, from argv */
};

static const il_cmd_entry *const commands[] = {
	&il_cmd_produce_entry,
	&il_cmd_consume_entry,
	&il_cmd_dlq_entry,
	&il_cmd_replay_entry,
	&il_cmd_lag_entry,
	&il_cmd_pull_entry,
};
#define NCOMMANDS (sizeof(commands) / sizeof(commands[0]))

__attribute__((noreturn))
static void
usage(void)
{
	il_conf *defaults = il_conf_new();
	size_t i;

	printf("%s - operator tool of the openSPP -> Kafka -> openIMIS pipeline\n\n", IL_CLI_NAME);
	printf("Usage:\n  %s [GLOBAL OPTIONS] COMMAND [COMMAND OPTIONS]\n\n", IL_CLI_NAME);
	printf("Commands:\n");
	for (i = 0; i < NCOMMANDS; i++)
		printf("  %s\n", commands[i]->usage);
	printf("\nGlobal options (before the command):\n"
	    "  -F, --config FILE   properties file (default: $IMISLINK_CONFIG, else\n"
	    "                      %s when it exists)\n"
	    "  -b, --brokers LIST  Kafka brokers host:port,... (kafka.bootstrap.servers,\n"
	    "                      default %s)\n"
	    "  -X KEY=VALUE        librdkafka property, passed through as in kcat\n"
	    "                      (\"topic.\" prefix: topic property)\n"
	    "  -X list             print librdkafka's properties and exit\n"
	    "  -X dump             print the effective configuration and exit\n"
	    "  --set KEY=VALUE     set an imislink key (table below)\n"
	    "  -v                  more log on stderr (repeat for debug)\n"
	    "  -q                  errors only on stderr\n"
	    "  -h, --help          this help; COMMAND --help for one command\n"
	    "  -V, --version       print the version and exit\n",
	    IL_CONF_DEFAULT_PATH, il_conf_get(defaults, "kafka.bootstrap.servers"));
	for (i = 0; i < NCOMMANDS; i++)
		printf("\n%s options:\n%s", commands[i]->name, commands[i]->help);
	printf("\n");
	il_conf_usage(stdout);
	printf("\nExamples:\n"
	    "  %s -b 127.0.0.1:9092 produce -f people.jsonl\n"
	    "  %s produce --programme-id 3 --programme-name \"Cash for work\" < people.jsonl\n"
	    "  %s consume -o beginning -e\n"
	    "  %s consume --from-time 2026-11-21T08:00:00Z -c 10\n"
	    "  %s consume -G audit-tail\n"
	    "  %s -X dump\n",
	    IL_CLI_NAME, IL_CLI_NAME, IL_CLI_NAME, IL_CLI_NAME, IL_CLI_NAME, IL_CLI_NAME);
	il_conf_destroy(defaults);
	exit(0);
}

static const il_cmd_entry *
find_command(const char *name)
{
	size_t i;

	for (i = 0; i < NCOMMANDS; i++) {
		if (strcmp(commands[i]->name, name) == 0)
			return commands[i];
	}
	return NULL;
}

/* Applies the command-line values; a bad one is fatal, naming it. */
static void
apply_settings(il_conf *conf, const struct cli_setting *set, size_t n)
{
	char errbuf[512];
	il_err err = IL_OK;
	size_t i;

	for (i = 0; i < n; i++) {
		switch (set[i].opt) {
		case 'X':
			err = il_conf_set_rdkafka_arg(conf, set[i].arg, errbuf, sizeof(errbuf));
			break;
		case 'b':
			err = il_conf_set(conf, "kafka.bootstrap.servers", set[i].arg, "-b", errbuf, sizeof(errbuf));
			break;
		default:
			err = il_conf_set_arg(conf, set[i].arg, errbuf, sizeof(errbuf));
			break;
		}
		if (err != IL_OK)
			il_cli_usage_error(NULL, "%s", errbuf);
	}
}

/* The threshold: log.level, moved by -v and -q. */
static il_log_level
log_level(const il_conf *conf, int verbose)
{
	il_log_level level = IL_LOG_INFO;
	int l;

	if (il_log_level_parse(il_conf_get(conf, "log.level"), &level) != 0)
		level = IL_LOG_INFO;
	l = (int)level + verbose;
	if (l < IL_LOG_ERROR)
		l = IL_LOG_ERROR;
	if (l > IL_LOG_DEBUG)
		l = IL_LOG_DEBUG;
	return (il_log_level)l;
}

int
main(int argc, char **argv)
{
	static const struct option longopts[] = {
		/* configuration */
		{ "config", required_argument, NULL, 'F' },
		{ "brokers", required_argument, NULL, 'b' },
		{ "set", required_argument, NULL, OPT_SET },
		/* output */
		{ "verbose", no_argument, NULL, 'v' },
		{ "quiet", no_argument, NULL, 'q' },
		/* information */
		{ "help", no_argument, NULL, 'h' },
		{ "version", no_argument, NULL, 'V' },
		{ NULL, 0, NULL, 0 },
	};
	cJSON_Hooks hooks = { il_xmalloc, free };  /* cJSON aborts on OOM like the rest */
	struct cli_setting *settings;              /* -X, -b, --set in order */
	size_t nsettings = 0;
	const char *config_path = NULL;            /* -F */
	const il_cmd_entry *cmd;                   /* the command to run */
	bool dump = false, quiet = false;          /* -X dump, -q */
	char errbuf[512];
	il_cli cli = { NULL, 0 };
	int c, rc;

	cJSON_InitHooks(&hooks);
	il_log_init(IL_CLI_NAME, IL_LOG_INFO, NULL);
	settings = il_xcalloc((size_t)argc, sizeof(*settings));

	/* "+": stop at the command, whose options are its own. */
	while ((c = getopt_long(argc, argv, "+F:X:b:vqhV", longopts, NULL)) != -1) {
		switch (c) {
		case 'F':
			config_path = optarg;
			break;
		case 'X':
			if (strcmp(optarg, "list") == 0) {
				rd_kafka_conf_properties_show(stdout);
				free(settings);
				return 0;
			}
			if (strcmp(optarg, "dump") == 0) {
				dump = true;
				break;
			}
			/* fall through */
		case 'b':
		case OPT_SET:
			settings[nsettings].opt = c;
			settings[nsettings].arg = optarg;
			nsettings++;
			break;
		case 'v':
			cli.verbose++;
			break;
		case 'q':
			quiet = true;
			break;
		case 'h':
			free(settings);
			usage();
		case 'V':
			printf("%s %s (librdkafka %s)\n", IL_CLI_NAME, IL_CLI_VERSION, rd_kafka_version_str());
			free(settings);
			return 0;
		default:
			il_cli_usage_error(NULL, "invalid global option");
		}
	}

	cli.conf = il_conf_new();
	if (il_conf_load_standard(cli.conf, config_path, errbuf, sizeof(errbuf)) != IL_OK)
		il_cli_fatal("%s", errbuf);
	apply_settings(cli.conf, settings, nsettings);
	free(settings);
	if (quiet)
		cli.verbose = -IL_LOG_DEBUG;
	il_log_init(IL_CLI_NAME, log_level(cli.conf, cli.verbose), NULL);

	if (dump) {
		il_conf_dump(cli.conf, stdout);
		il_conf_destroy(cli.conf);
		return 0;
	}
	if (optind >= argc)
		il_cli_usage_error(NULL, "no command given");
	cmd = find_command(argv[optind]);
	if (cmd == NULL)
		il_cli_usage_error(NULL, "unknown command \"%s\"", argv[optind]);

	rc = cmd->exec(&cli, argc - optind, argv + optind);
	il_conf_destroy(cli.conf);
	return rc;
}
