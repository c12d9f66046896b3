/*
 * imislink-openimis - an openIMIS emulator for tests, the demo and benches.
 *
 * Speaks the FHIR R4 and GraphQL subset of contracts/openimis.md, quirks
 * included, with faults (latency, 5xx, resets, hangs, write-then-fail,
 * down), a per-IP rate limit and test-only endpoints under /_emu/.  See
 * emu.h for the modules.  Startup, signals and the loop live here.
 */
#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <openssl/rand.h>

#include "cli.h"
#include "emu.h"
#include "http.h"
#include "log.h"
#include "metrics.h"
#include "sig.h"
#include "xalloc.h"

/* Entries of the request log ring. */
#define IL_EMU_LOG_CAP 2000000
/* Request bodies above this get 413. */
#define IL_EMU_MAX_BODY (4u << 20)

__attribute__((noreturn)) static void
usage(int code, const char *reason)
{
	FILE *out = code == 0 ? stdout : stderr;

	if (reason != NULL)
		fprintf(stderr, "imislink-openimis: %s\n", reason);
	fprintf(out,
	    "usage: imislink-openimis [options]\n"
	    "\n"
	    "An openIMIS emulator (FHIR R4 + GraphQL subset, quirks included).\n"
	    "\n"
	    "Server:\n"
	    "  --address A              listen address (default 127.0.0.1)\n"
	    "  --port N                 port (default 8000; 0 = any free port)\n"
	    "  --port-file F            write the bound port to F once listening\n"
	    "  --max-connections N      connections served at once (default 4096)\n"
	    "  -v                       more logging (repeat for debug)\n"
	    "\n"
	    "Behaviour:\n"
	    "  --reference F            reference data JSON (default: the embedded set)\n"
	    "  --username U --password P  the API user (default Admin / admin123)\n"
	    "  --token-lifetime S       JWT lifetime in seconds (default 86400)\n"
	    "  --chfid-length N         exact CHF ID length (default 0 = 1..12 chars)\n"
	    "  --chfid-check-digit      last digit is the Luhn check digit of the rest\n"
	    "  --rate-limit N           API calls per minute per client IP (default 0 = off)\n"
	    "  --sp-auto-approve        createBeneficiary takes effect at once\n"
	    "  --seed N                 RNG seed for faults (default 1)\n"
	    "\n"
	    "Faults (also at run time: POST /_emu/faults):\n"
	    "  --latency-ms MIN[-MAX]   added latency per call (default 0)\n"
	    "  --fail-pct P             calls answered 500/502/503/504 doing nothing\n"
	    "  --reset-pct P            calls whose connection is closed unanswered\n"
	    "  --hang-pct P             calls that hang --hang-ms, then close unanswered\n"
	    "  --hang-ms MS             (default 60000)\n"
	    "  --write-then-fail-pct P  writes stored, then answered 500\n"
	    "  --down                   every API call answers 503\n"
	    "\n"
	    "Reference UUIDs are SHA-256 of \"location:<code>\", \"officer:<code>\",\n"
	    "\"product:<code>\", \"benefit_plan:<code>\" formatted as a version-5 UUID.\n"
	    "\n"
	    "Example:\n"
	    "  imislink-openimis --port 0 --port-file /tmp/port --fail-pct 5 --rate-limit 150\n");
	exit(code);
}

static double
parse_pct(const char *opt, const char *s)
{
	char *end;
	double d = strtod(s, &end);

	if (end == s || *end != '\0' || d < 0 || d > 100)
		il_cli_fatal("invalid value \"%s\" for %s: expected a percentage 0 to 100", s, opt);
	return d;
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
il_emu_cjson_malloc(size_t n)
{
	return il_xmalloc(n);
}

int
main(int argc, char **argv)
{
	enum {
		OPT_ADDRESS = 256, OPT_PORT, OPT_PORT_FILE, OPT_REFERENCE, OPT_USERNAME,
		OPT_PASSWORD, OPT_TOKEN_LIFETIME, OPT_CHFID_LENGTH, OPT_CHFID_CHECK,
		OPT_RATE_LIMIT, OPT_SP_AUTO, OPT_SEED, OPT_LATENCY, OPT_FAIL, OPT_RESET,
		OPT_HANG, OPT_HANG_MS, OPT_WTF, OPT_DOWN, OPT_MAXCONN, OPT_HELP,
	};
	static const struct option longopts[] = {
		/* server */
		{ "address", required_argument, NULL, OPT_ADDRESS },
		{ "port", required_argument, NULL, OPT_PORT },
		{ "port-file", required_argument, NULL, OPT_PORT_FILE },
		{ "max-connections", required_argument, NULL, OPT_MAXCONN },
		/* behaviour */
		{ "reference", required_argument, NULL, OPT_REFERENCE },
		{ "username", required_argument, NULL, OPT_USERNAME },
		{ "password", required_argument, NULL, OPT_PASSWORD },
		{ "token-lifetime", required_argument, NULL, OPT_TOKEN_LIFETIME },
		{ "chfid-length", required_argument, NULL, OPT_CHFID_LENGTH },
		{ "chfid-check-digit", no_argument, NULL, OPT_CHFID_CHECK },
		{ "rate-limit", required_argument, NULL, OPT_RATE_LIMIT },
		{ "sp-auto-approve", no_argument, NULL, OPT_SP_AUTO },
		{ "seed", required_argument, NULL, OPT_SEED },
		/* faults */
		{ "latency-ms", required_argument, NULL, OPT_LATENCY },
		{ "fail-pct", required_argument, NULL, OPT_FAIL },
		{ "reset-pct", required_argument, NULL, OPT_RESET },
		{ "hang-pct", required_argument, NULL, OPT_HANG },
		{ "hang-ms", required_argument, NULL, OPT_HANG_MS },
		{ "write-then-fail-pct", required_argument, NULL, OPT_WTF },
		{ "down", no_argument, NULL, OPT_DOWN },
		{ "help", no_argument, NULL, OPT_HELP },
		{ NULL, 0, NULL, 0 },
	};
	const char *address = "127.0.0.1";     /* listen address */
	const char *port_file = NULL;           /* where the bound port goes */
	const char *reference = NULL;           /* reference data file, NULL = embedded */
	long long port = 8000;                  /* listen port */
	long long seed = 1;                     /* fault and UUID dice */
	long long maxconn = 4096;               /* connections at once */
	int verbose = 0;                        /* -v count */
	il_emu emu;                             /* shared by every handler */
	il_metrics *metrics = NULL;             /* /metrics */
	il_http *http = NULL;                   /* the server */
	cJSON_Hooks hooks = { il_emu_cjson_malloc, free };
	char errbuf[512];
	int c;

	memset(&emu, 0, sizeof(emu));
	emu.cfg.username = "Admin";
	emu.cfg.password = "admin123";
	emu.cfg.token_lifetime = 86400;
	emu.faults.hang_ms = 60000;
	il_log_init("imislink-openimis", IL_LOG_INFO, NULL);
	while ((c = getopt_long(argc, argv, "vh", longopts, NULL)) != -1) {
		switch (c) {
		case OPT_ADDRESS: address = optarg; break;
		case OPT_PORT: port = parse_int("--port", optarg, 0, 65535); break;
		case OPT_PORT_FILE: port_file = optarg; break;
		case OPT_MAXCONN: maxconn = parse_int("--max-connections", optarg, 1, 65536); break;
		case OPT_REFERENCE: reference = optarg; break;
		case OPT_USERNAME: emu.cfg.username = optarg; break;
		case OPT_PASSWORD: emu.cfg.password = optarg; break;
		case OPT_TOKEN_LIFETIME:
			emu.cfg.token_lifetime = (long)parse_int("--token-lifetime", optarg, 1, 315360000);
			break;
		case OPT_CHFID_LENGTH:
			emu.cfg.chfid_length = (int)parse_int("--chfid-length", optarg, 0, 12);
			break;
		case OPT_CHFID_CHECK: emu.cfg.chfid_check_digit = true; break;
		case OPT_RATE_LIMIT:
			emu.cfg.rate_limit = (int)parse_int("--rate-limit", optarg, 0, 10000000);
			break;
		case OPT_SP_AUTO: emu.cfg.sp_auto_approve = true; break;
		case OPT_SEED: seed = parse_int("--seed", optarg, 0, INT64_MAX); break;
		case OPT_LATENCY: {
			char *dash = strchr(optarg, '-');

			if (dash != NULL) {
				*dash = '\0';
				emu.faults.latency_ms_max = (int)parse_int("--latency-ms", dash + 1, 0, 3600000);
			}
			emu.faults.latency_ms_min = (int)parse_int("--latency-ms", optarg, 0, 3600000);
			if (dash == NULL)
				emu.faults.latency_ms_max = emu.faults.latency_ms_min;
			if (emu.faults.latency_ms_max < emu.faults.latency_ms_min)
				il_cli_fatal("invalid value for --latency-ms: MAX is below MIN");
			break;
		}
		case OPT_FAIL: emu.faults.fail_pct = parse_pct("--fail-pct", optarg); break;
		case OPT_RESET: emu.faults.reset_pct = parse_pct("--reset-pct", optarg); break;
		case OPT_HANG: emu.faults.hang_pct = parse_pct("--hang-pct", optarg); break;
		case OPT_HANG_MS:
			emu.faults.hang_ms = (int)parse_int("--hang-ms", optarg, 0, 3600000);
			break;
		case OPT_WTF:
			emu.faults.write_then_fail_pct = parse_pct("--write-then-fail-pct", optarg);
			break;
		case OPT_DOWN: emu.faults.down = true; break;
		case 'v': verbose++; break;
		case 'h': case OPT_HELP: usage(0, NULL);
		default: usage(1, "unknown option; try \"imislink-openimis --help\"");
		}
	}
	if (optind < argc)
		usage(1, "unexpected argument; try \"imislink-openimis --help\"");
	if (verbose > 0)
		il_log_set_level(verbose > 1 ? IL_LOG_DEBUG : IL_LOG_INFO);
	/* cJSON's allocations abort on exhaustion like the rest of the program:
	 * a NULL from cJSON then only ever means a malformed input. */
	cJSON_InitHooks(&hooks);
	il_sig_install();

	emu.rng = (uint64_t)seed * 0x9E3779B97F4A7C15ULL + 0x632BE59BD9B4E019ULL;
	pthread_mutex_init(&emu.fault_mu, NULL);
	if (RAND_bytes(emu.jwt_key, sizeof(emu.jwt_key)) != 1)
		il_cli_fatal("could not draw the token signing key");
	emu.store = il_emu_store_new(reference, (uint64_t)seed + (uint64_t)time(NULL), errbuf,
	    sizeof(errbuf));
	if (emu.store == NULL)
		il_cli_fatal("%s", errbuf);
	emu.log = il_emu_reqlog_new(IL_EMU_LOG_CAP);
	if (emu.cfg.rate_limit > 0)
		emu.limiter = il_emu_limiter_new(emu.cfg.rate_limit);
	metrics = il_metrics_new();
	il_metrics_add_process(metrics);
	emu.metrics = metrics;
	http = il_http_new(address, (int)port, IL_EMU_MAX_BODY, metrics, NULL, NULL);
	il_http_set_max_connections(http, (unsigned int)maxconn);
	il_emu_routes(&emu, http);
	if (il_http_listen(http, errbuf, sizeof(errbuf)) != IL_OK)
		il_cli_fatal("%s", errbuf);
	if (port_file != NULL)
		write_port_file(port_file, il_http_port(http));
	il_log_info("openimis emulator ready", IL_INT("port", il_http_port(http)),
	    IL_INT("locations", (long long)emu.store->locations.n),
	    IL_INT("rate_limit", emu.cfg.rate_limit), IL_INT("sp_auto_approve", emu.cfg.sp_auto_approve));

	while (!il_sig_stop_requested()) {
		struct timespec ts = { 0, 200000000L };

		nanosleep(&ts, NULL);
	}
	il_log_info("openimis emulator stopping");
	/* Hangs and latency sleeps end early, so the server's threads join fast. */
	__atomic_store_n(&emu.stopping, 1, __ATOMIC_RELAXED);
	il_http_stop(http);
	il_metrics_destroy(metrics);
	il_emu_limiter_destroy(emu.limiter);
	il_emu_reqlog_destroy(emu.log);
	il_emu_store_destroy(emu.store);
	pthread_mutex_destroy(&emu.fault_mu);
	return 0;
}
