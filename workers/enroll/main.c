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
#include <malloc.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "avro.h"
#include "cli.h"
#include "conf.h"
#include "daemon.h"
#include "http.h"
#include "log.h"
#include "mapping.h"
#include "metrics.h"
#include "sig.h"
#include "worker.h"
#include "xalloc.h"

#define ENROLL_NAME "imislink-enroll"
#define ENROLL_VERSION "0.1.0"

static const il_daemon_required required[] = {
	{ "enroll.mapping.file", "the worker needs the mapping of programmes, areas and IDs to openIMIS "
	    "(see deploy/enroll-mapping.example; environment variable IMISLINK_ENROLL_MAPPING_FILE)" },
	{ NULL, NULL },
};

static const il_daemon_info info = {
	ENROLL_NAME, ENROLL_VERSION, "enroll openSPP eligibility events into openIMIS",
	"Consumes topic.eligibility in group kafka.group.id, enrolls through\n"
	"openimis.api.url as mapped by enroll.mapping.file, publishes every outcome to\n"
	"topic.results and every failure to topic.dlq, and commits offsets only behind\n"
	"them.  Serves /metrics, /healthz and /readyz on http.address:http.port.\n"
	"Runs until SIGINT or SIGTERM, then finishes in-flight work within\n"
	"enroll.shutdown.timeout.ms.  SIGHUP reloads the log level.\n\n"
	"Environment: OPENIMIS_API_URL, OPENIMIS_USERNAME, OPENIMIS_PASSWORD(_FILE),\n"
	"KAFKA_BOOTSTRAP_SERVERS, SCHEMA_REGISTRY_URL, IMISLINK_ENROLL_MAPPING_FILE, ...",
	required,
};

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
	il_schema_set *schemas;
	il_mapping *mapping;
	il_worker *w;
	il_http *http;
	il_daemon d;
	il_worker_env env;
	char errbuf[1024], *worker_id;
	il_err err;

	/* librdkafka's and libcurl's threads would each get a glibc arena of
	 * their own, and a worker's resident size would creep up over millions
	 * of events; two arenas keep it flat (with the trims in worker.c). */
	mallopt(M_ARENA_MAX, 2);
	/* First: a SIGTERM at any later moment of the start-up then ends it in
	 * order (exit 0, see il_worker_prepare()) rather than by the default
	 * action. */
	il_sig_install();
	il_daemon_init(&d, &info, argc, argv);
	mapping = il_mapping_load(il_conf_get(d.conf, "enroll.mapping.file"), errbuf, sizeof(errbuf));
	if (mapping == NULL)
		il_cli_fatal("%s", errbuf);
	schemas = il_schema_set_load(il_conf_get(d.conf, "schemas.dir"), errbuf, sizeof(errbuf));
	if (schemas == NULL)
		il_cli_fatal("%s", errbuf);
	worker_id = il_conf_get(d.conf, "enroll.worker.id")[0] != '\0' ?
	    il_xstrdup(il_conf_get(d.conf, "enroll.worker.id")) : default_worker_id();

	env = (il_worker_env){ d.conf, mapping, d.metrics, schemas, worker_id, il_daemon_reload, &d };
	w = il_worker_new(&env, errbuf, sizeof(errbuf));
	if (w == NULL)
		il_cli_fatal("%s", errbuf);
	http = il_daemon_http(&d, il_worker_health, w);
	il_http_route(http, "GET", "/readyz", on_ready, w);
	il_daemon_listen(&d);
	il_log_info("started", IL_STR("worker_id", worker_id));

	err = il_worker_prepare(w, errbuf, sizeof(errbuf));
	if (err == IL_OK)
		err = il_worker_run(w, errbuf, sizeof(errbuf));
	/* Leaving the group must not hang a stopping worker forever (librdkafka
	 * can wait on a coordinator that forgot it); past this bound SIGALRM ends
	 * the process, which is as safe as a crash: only committed work counts. */
	alarm((unsigned)(il_conf_get_int(d.conf, "enroll.shutdown.timeout.ms") / 1000) + 30);
	if (err == IL_ERR_CANCELLED)
		il_log_info("stopping", IL_STR("reason", errbuf));
	else if (err != IL_OK)
		il_log_error("stopping", IL_STR("reason", errbuf));
	il_http_stop(http);
	d.http = NULL;
	il_worker_destroy(w);
	il_schema_set_destroy(schemas);
	il_mapping_destroy(mapping);
	il_daemon_fini(&d);
	free(worker_id);
	il_log_info("stopped");
	return err == IL_OK || err == IL_ERR_CANCELLED ? 0 : 1;
}
