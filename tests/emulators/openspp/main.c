/*
 * imislink-openspp - an openSPP API emulator for tests and the demo.
 *
 * Answers `g2p_registry_rest_api` under /api/v1/registry as
 * contracts/openspp.md describes it, with HTTP Basic authentication and the
 * known defects of current openSPP (on by default), and openSPP 17's DCI
 * server (token and sync search).  See spp.h for the modules.  Startup,
 * signals and the loop live here.
 */
#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "cli.h"
#include "http.h"
#include "log.h"
#include "metrics.h"
#include "sig.h"
#include "spp.h"
#include "xalloc.h"

/* Entries of the request log ring. */
#define IL_SPP_LOG_CAP 100000
/* Request bodies above this get 413. */
#define IL_SPP_MAX_BODY (1u << 20)

__attribute__((noreturn)) static void
usage(int code, const char *reason)
{
	FILE *out = code == 0 ? stdout : stderr;

	if (reason != NULL)
		fprintf(stderr, "imislink-openspp: %s\n", reason);
	fprintf(out,
	    "usage: imislink-openspp [options]\n"
	    "\n"
	    "An openSPP REST API v1 emulator (g2p_registry_rest_api, known defects included)\n"
	    "and openSPP 17's DCI server (spp_dci_api_server).\n"
	    "\n"
	    "Server:\n"
	    "  --address A              listen address (default 127.0.0.1)\n"
	    "  --port N                 port (default 8069; 0 = any free port)\n"
	    "  --port-file F            write the bound port to F once listening\n"
	    "  -v                       more logging (repeat for debug)\n"
	    "\n"
	    "Behaviour:\n"
	    "  --user U --password P    the Odoo login for HTTP Basic (default admin / admin)\n"
	    "  --registry F             registrants from F ({\"individuals\":[...],\"groups\":[...]})\n"
	    "  --generate N             generate N individuals in households instead (default 30)\n"
	    "  --seed S                 seed of --generate (default 1)\n"
	    "  --no-defects             answer whole records (default: gender, birthdate,\n"
	    "                           addl_name, birth_place, email, address null, ids and\n"
	    "                           phone_numbers empty, age \"No Birthdate!\", as openSPP does)\n"
	    "  --dump                   print the registry as JSON and exit\n"
	    "\n"
	    "DCI:\n"
	    "  --dci-client ID:SECRET   the client credential of /oauth2/client/token\n"
	    "                           (default dci-client:dci-secret)\n"
	    "  --db-name D              the database a token request must name (default openspp)\n"
	    "  --token-lifetime S       seconds a token is valid (default 600, openSPP's)\n"
	    "  --dci-max-records N      most records of a search without pagination (default\n"
	    "                           1000; more: rjct.search.too_many_records_found)\n"
	    "  --dci-max-page-size N    largest page_size (default 1000)\n"
	    "  --dci-keep-unidentified  answer individuals without any ID too (openSPP\n"
	    "                           leaves them out)\n"
	    "  --dci-token-uses N       refuse every token after N searches until a new\n"
	    "                           one is issued (tests token renewal; default 0: never)\n"
	    "\n"
	    "API: GET /api/v1/registry/individual/{id}, /individual?_id=&name=,\n"
	    "/group/{id}, /group?_id=&name=&include_members_full=; DCI: POST\n"
	    "/oauth2/client/token, POST /registry/sync/search (predicate on birthdate,\n"
	    "idtype-value, pagination).  Test-only:\n"
	    "GET /_emu/requests?since=N&limit=M, GET /_emu/state, POST /_emu/reset;\n"
	    "/metrics, /healthz.\n"
	    "\n"
	    "Example:\n"
	    "  imislink-openspp --port 0 --port-file /tmp/port \\\n"
	    "      --registry tests/data/openspp/registry.json\n");
	exit(code);
}

static long long
parse_int(const char *opt, const char *s, long long min, long long max)
{
	long long v;

	if (!il_cli_parse_int(s, min, max, &v))
		il_cli_fatal("invalid value \"%s\" for %s: expected an integer %lld to %lld", s, opt,
		    min, max);
	return v;
}

static void
write_port_file(const char *path, int port)
{
	char *tmp = il_xasprintf("%s.tmp", path);
	FILE *f = fopen(tmp, "w");

	/* Written aside and renamed: a reader never sees half a number. */
	if (f == NULL || fprintf(f, "%d\n", port) < 0 || fclose(f) != 0 || rename(tmp, path) != 0)
		il_cli_fatal("could not write port file \"%s\"", path);
	free(tmp);
}

static void *
il_spp_cjson_malloc(size_t n)
{
	return il_xmalloc(n);
}

int
main(int argc, char **argv)
{
	enum {
		OPT_ADDRESS = 256, OPT_PORT, OPT_PORT_FILE, OPT_USER, OPT_PASSWORD, OPT_REGISTRY,
		OPT_GENERATE, OPT_SEED, OPT_NO_DEFECTS, OPT_DUMP, OPT_HELP, OPT_DCI_CLIENT, OPT_DB_NAME,
		OPT_TOKEN_LIFETIME, OPT_DCI_MAX_RECORDS, OPT_DCI_MAX_PAGE, OPT_DCI_KEEP, OPT_DCI_USES,
	};
	static const struct option longopts[] = {
		{ "address", required_argument, NULL, OPT_ADDRESS },
		{ "port", required_argument, NULL, OPT_PORT },
		{ "port-file", required_argument, NULL, OPT_PORT_FILE },
		{ "user", required_argument, NULL, OPT_USER },
		{ "password", required_argument, NULL, OPT_PASSWORD },
		{ "registry", required_argument, NULL, OPT_REGISTRY },
		{ "generate", required_argument, NULL, OPT_GENERATE },
		{ "seed", required_argument, NULL, OPT_SEED },
		{ "no-defects", no_argument, NULL, OPT_NO_DEFECTS },
		{ "dump", no_argument, NULL, OPT_DUMP },
		{ "help", no_argument, NULL, OPT_HELP },
		{ "dci-client", required_argument, NULL, OPT_DCI_CLIENT },
		{ "db-name", required_argument, NULL, OPT_DB_NAME },
		{ "token-lifetime", required_argument, NULL, OPT_TOKEN_LIFETIME },
		{ "dci-max-records", required_argument, NULL, OPT_DCI_MAX_RECORDS },
		{ "dci-max-page-size", required_argument, NULL, OPT_DCI_MAX_PAGE },
		{ "dci-keep-unidentified", no_argument, NULL, OPT_DCI_KEEP },
		{ "dci-token-uses", required_argument, NULL, OPT_DCI_USES },
		{ NULL, 0, NULL, 0 },
	};
	const char *address = "127.0.0.1";     /* listen address */
	const char *port_file = NULL;           /* where the bound port goes */
	const char *registry = NULL;            /* registry file, NULL = generated */
	long long port = 8069;                  /* listen port, Odoo's */
	long long generate = 30;                /* individuals generated */
	long long seed = 1;                     /* generator seed */
	bool dump = false;                      /* print the registry and exit */
	int verbose = 0;                        /* -v count */
	il_spp spp;                             /* shared by every handler */
	il_metrics *metrics = NULL;             /* /metrics */
	il_http *http = NULL;                   /* the server */
	cJSON_Hooks hooks = { il_spp_cjson_malloc, free };
	char errbuf[512], *client = NULL, *colon;
	int c;

	memset(&spp, 0, sizeof(spp));
	spp.cfg.user = "admin";
	spp.cfg.password = "admin";
	spp.cfg.defects = true;
	spp.cfg.dci_client_id = "dci-client";
	spp.cfg.dci_client_secret = "dci-secret";
	spp.cfg.dci_db_name = "openspp";
	spp.cfg.dci_token_lifetime_s = 600;
	spp.cfg.dci_max_records = 1000;
	spp.cfg.dci_max_page_size = 1000;
	il_log_init("imislink-openspp", IL_LOG_INFO, NULL);
	while ((c = getopt_long(argc, argv, "vh", longopts, NULL)) != -1) {
		switch (c) {
		case OPT_ADDRESS: address = optarg; break;
		case OPT_PORT: port = parse_int("--port", optarg, 0, 65535); break;
		case OPT_PORT_FILE: port_file = optarg; break;
		case OPT_USER: spp.cfg.user = optarg; break;
		case OPT_PASSWORD: spp.cfg.password = optarg; break;
		case OPT_REGISTRY: registry = optarg; break;
		case OPT_GENERATE: generate = parse_int("--generate", optarg, 0, 10000000); break;
		case OPT_SEED: seed = parse_int("--seed", optarg, 0, INT64_MAX); break;
		case OPT_NO_DEFECTS: spp.cfg.defects = false; break;
		case OPT_DUMP: dump = true; break;
		case OPT_DCI_CLIENT:
			free(client);
			client = il_xstrdup(optarg);
			colon = strchr(client, ':');
			if (colon == NULL || colon == client || colon[1] == '\0')
				usage(1, "invalid value for --dci-client: expected ID:SECRET");
			*colon = '\0';
			spp.cfg.dci_client_id = client;
			spp.cfg.dci_client_secret = colon + 1;
			break;
		case OPT_DB_NAME: spp.cfg.dci_db_name = optarg; break;
		case OPT_TOKEN_LIFETIME:
			spp.cfg.dci_token_lifetime_s = parse_int("--token-lifetime", optarg, 1, 86400 * 365);
			break;
		case OPT_DCI_MAX_RECORDS:
			spp.cfg.dci_max_records = parse_int("--dci-max-records", optarg, 1, 100000000);
			break;
		case OPT_DCI_MAX_PAGE:
			spp.cfg.dci_max_page_size = parse_int("--dci-max-page-size", optarg, 1, 100000000);
			break;
		case OPT_DCI_KEEP: spp.cfg.dci_keep_unidentified = true; break;
		case OPT_DCI_USES:
			spp.cfg.dci_token_uses = parse_int("--dci-token-uses", optarg, 0, 1000000000);
			break;
		case 'v': verbose++; break;
		case 'h': case OPT_HELP: usage(0, NULL);
		default: usage(1, "unknown option; try \"imislink-openspp --help\"");
		}
	}
	if (optind < argc)
		usage(1, "unexpected argument; try \"imislink-openspp --help\"");
	if (verbose > 0)
		il_log_set_level(verbose > 1 ? IL_LOG_DEBUG : IL_LOG_INFO);
	/* cJSON's allocations abort on exhaustion like the rest of the program:
	 * a NULL from cJSON then only ever means a malformed input. */
	cJSON_InitHooks(&hooks);

	if (registry != NULL) {
		spp.registry = il_spp_registry_load(registry, errbuf, sizeof(errbuf));
		if (spp.registry == NULL)
			il_cli_fatal("%s", errbuf);
	} else {
		spp.registry = il_spp_registry_generate((int)generate, (uint64_t)seed);
	}
	if (dump) {
		char *text = cJSON_Print(spp.registry);
		int rc = puts(text) < 0 || fflush(stdout) != 0;

		free(text);
		cJSON_Delete(spp.registry);
		free(client);
		return rc;
	}
	il_sig_install();
	il_spp_dci_init(&spp);
	spp.log = il_spp_reqlog_new(IL_SPP_LOG_CAP);
	metrics = il_metrics_new();
	il_metrics_add_process(metrics);
	spp.metrics = metrics;
	http = il_http_new(address, (int)port, IL_SPP_MAX_BODY, metrics, NULL, NULL);
	il_spp_routes(&spp, http);
	if (il_http_listen(http, errbuf, sizeof(errbuf)) != IL_OK)
		il_cli_fatal("%s", errbuf);
	if (port_file != NULL)
		write_port_file(port_file, il_http_port(http));
	il_log_info("openspp emulator ready", IL_INT("port", il_http_port(http)),
	    IL_INT("individuals", cJSON_GetArraySize(cJSON_GetObjectItemCaseSensitive(spp.registry,
	    "individuals"))), IL_INT("defects", spp.cfg.defects));

	while (!il_sig_stop_requested()) {
		struct timespec ts = { 0, 200000000L };

		nanosleep(&ts, NULL);
	}
	il_log_info("openspp emulator stopping");
	il_http_stop(http);
	il_metrics_destroy(metrics);
	il_spp_reqlog_destroy(spp.log);
	il_spp_dci_fini(&spp);
	cJSON_Delete(spp.registry);
	free(client);
	return 0;
}
