/*
 * main.c - imislink-deadletter: the dead-letter topic and the enrollment
 * results become rows of the audit store (PostgreSQL), where operators list,
 * inspect, discard and replay them (`imislink dlq ...`).
 *
 * Any number of these share the partitions of topic.dlq and topic.results
 * in one consumer group (deadletter.group.id).  The store's unique
 * (topic, partition, offset) and offsets committed behind its transactions
 * are the whole truth: a killed worker is simply started again.  The engine
 * is in dlworker.c; this file is the command line, the configuration and
 * the HTTP endpoint.
 */
#include <malloc.h>
#include <stdlib.h>
#include <unistd.h>

#include "avro.h"
#include "cli.h"
#include "daemon.h"
#include "dlworker.h"
#include "log.h"
#include "sig.h"

#define DEADLETTER_NAME "imislink-deadletter"
#define DEADLETTER_VERSION "0.1.0"
/* Leaving the group is bounded by this (the stop writes the batch first). */
#define DEADLETTER_STOP_S 60

static const il_daemon_info info = {
	DEADLETTER_NAME, DEADLETTER_VERSION,
	"store dead letters and enrollment results in the audit store",
	"Consumes topic.dlq and topic.results in group deadletter.group.id and writes\n"
	"every message to the PostgreSQL of audit.db.url (tables dead_letters and\n"
	"results), in batches of deadletter.batch.size messages or deadletter.batch.ms,\n"
	"one transaction each, committing offsets only behind them.  Applies the\n"
	"migrations of audit.migrations.dir at start.  While PostgreSQL is down the\n"
	"worker pauses, keeps its batch and retries; /healthz says degraded.\n"
	"Serves /metrics and /healthz on http.address:http.port.  Runs until SIGINT\n"
	"or SIGTERM, then writes and commits what it holds.  SIGHUP reloads the log\n"
	"level.\n\n"
	"Environment: IMISLINK_AUDIT_DB_URL (empty: PGHOST, PGPORT, PGUSER,\n"
	"PGDATABASE, PGPASSWORD), KAFKA_BOOTSTRAP_SERVERS, SCHEMA_REGISTRY_URL, ...",
	NULL,
};

int
main(int argc, char **argv)
{
	il_schema_set *schemas;         /* the tree's schemas, for decoding */
	il_dlworker *w;                 /* the engine */
	il_dlworker_env env;
	il_daemon d;                    /* command line, configuration, HTTP */
	char errbuf[1024];
	il_err err;

	/* librdkafka's threads would each get a glibc arena of their own, and
	 * the resident size would creep up; two arenas keep it flat. */
	mallopt(M_ARENA_MAX, 2);
	il_daemon_init(&d, &info, argc, argv);
	schemas = il_schema_set_load(il_conf_get(d.conf, "schemas.dir"), errbuf, sizeof(errbuf));
	if (schemas == NULL)
		il_cli_fatal("%s", errbuf);
	il_sig_install();

	env = (il_dlworker_env){ d.conf, d.metrics, schemas, il_daemon_reload, &d };
	w = il_dlworker_new(&env, errbuf, sizeof(errbuf));
	if (w == NULL)
		il_cli_fatal("%s", errbuf);
	/* Up before the store is: /healthz tells an operator what it waits for. */
	il_daemon_http(&d, il_dlworker_health, w);
	il_daemon_listen(&d);

	err = il_dlworker_prepare(w, errbuf, sizeof(errbuf));
	if (err == IL_OK)
		err = il_dlworker_run(w, errbuf, sizeof(errbuf));
	/* librdkafka can wait on a coordinator that forgot this member; past
	 * the bound SIGALRM ends the process, as safe as a crash. */
	alarm(DEADLETTER_STOP_S);
	if (err != IL_OK && err != IL_ERR_CANCELLED)
		il_log_error("stopping", IL_STR("reason", errbuf));
	il_http_stop(d.http);
	d.http = NULL;
	il_dlworker_destroy(w);
	il_schema_set_destroy(schemas);
	il_daemon_fini(&d);
	il_log_info("stopped");
	return err == IL_OK || err == IL_ERR_CANCELLED ? 0 : 1;
}
