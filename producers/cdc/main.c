/*
 * main.c - imislink-cdc: eligibility changes from openSPP's PostgreSQL to
 * Kafka, by logical replication (capture.c) or, where REPLICATION cannot be
 * granted, by keyset polling (poll.c; cdc.mode=poll).  Both hand their changes
 * to the emitter (emit.c), which enriches them into EligibilityEvents on
 * topic.eligibility; a source position is acknowledged only after Kafka
 * confirmed every event before it.
 *
 * A transient failure (openSPP's database restarting, a lost connection,
 * Kafka refusing events) restarts the capture after a backoff, from the last
 * acknowledged position; a missing privilege or setting stops the program
 * with exit status 1 and a message saying what to grant or set.
 */
#include <malloc.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "cli.h"
#include "cdc.h"
#include "log.h"
#include "retry.h"
#include "sig.h"
#include "timers.h"
#include "xalloc.h"

#define CDC_NAME "imislink-cdc"
#define CDC_VERSION "0.2.0"
#define CDC_MAX_PROGRAMMES 256
/*
 * Changes enriched together.  The pipeline holds up to three batches' query
 * results (about 24 rows per household): 500 kept the producer near 50 MiB
 * on a 100,000-change transaction, 1,000 near 61 MiB for 5% more speed.
 */
#define CDC_BATCH 500
#define CDC_BACKOFF_BASE_MS 500
#define CDC_BACKOFF_MAX_MS 30000
#define CDC_STABLE_MS 60000             /* a run this long resets the backoff */

static const il_daemon_info info = {
	CDC_NAME, CDC_VERSION,
	"stream openSPP eligibility changes from PostgreSQL to Kafka",
	"Connects to openSPP's PostgreSQL (cdc.db.url).  cdc.mode=replication (the\n"
	"default) streams a logical replication slot (cdc.slot.name, pgoutput) of\n"
	"publication cdc.publication.name, both created when missing; it needs\n"
	"wal_level=logical and a role with REPLICATION.  The initial load\n"
	"(cdc.snapshot: initial, never, always) publishes the current memberships\n"
	"of cdc.programmes from the slot's exported snapshot.  cdc.mode=poll polls\n"
	"the tables on (write_date, id) instead, with its cursor in\n"
	"cdc.state.file: no deletes, no previous state, no Head changes.\n"
	"Membership state changes become MEMBERSHIP_CHANGED events (with the\n"
	"previous state when the table has REPLICA IDENTITY FULL), changes of an\n"
	"enrolled registrant REGISTRANT_UPDATED, changes of an enrolled household's\n"
	"members HOUSEHOLD_CHANGED, on topic.eligibility, each with the registrant\n"
	"and the household.  A position is acknowledged only after Kafka confirmed\n"
	"its events.  Serves /metrics and /healthz on http.address:http.port.\n"
	"Runs until SIGINT or SIGTERM.\n\n"
	"Environment: IMISLINK_CDC_DB_URL (empty: PGHOST, PGPORT, PGUSER,\n"
	"PGDATABASE, PGPASSWORD), KAFKA_BOOTSTRAP_SERVERS, ...",
	NULL,
};

static il_health
cdc_health(il_buf *out, void *ctx)
{
	cdc_ctx *c = ctx;
	int h = atomic_load(&c->health);
	const char *what = h == IL_HEALTH_OK ? "streaming" : h == IL_HEALTH_DOWN ? "starting" : "reconnecting";

	if (il_buf_adds(out, what) != IL_OK)
		return IL_HEALTH_DEGRADED;
	return (il_health)h;
}

/*
 * Parses cdc.programmes into @p ids (at most CDC_MAX_PROGRAMMES) and the SQL
 * array text "{1,2}" (NULL when the list is empty: every programme).
 * @returns IL_OK, or IL_ERR_CONFIG naming the key.
 */
static il_err
parse_programmes(const char *list, long long *ids, size_t *n, char **array, char *errbuf, size_t errsz)
{
	char *copy = il_xstrdup(list), *save = NULL, *tok, *end;
	il_buf text;
	il_err err = IL_OK;

	*n = 0;
	*array = NULL;
	il_buf_init(&text, (size_t)CDC_MAX_PROGRAMMES * 12 + 3);
	for (tok = strtok_r(copy, ", ", &save); tok != NULL; tok = strtok_r(NULL, ", ", &save)) {
		long long v = strtoll(tok, &end, 10);

		if (*end != '\0' || v <= 0 || v > 2147483647LL || *n == CDC_MAX_PROGRAMMES) {
			snprintf(errbuf, errsz, "cdc.programmes: could not read \"%s\": expected at most %d programme ids",
			    tok, CDC_MAX_PROGRAMMES);
			err = IL_ERR_CONFIG;
			goto done;
		}
		ids[(*n)++] = v;
	}
	/* The buffer's bound holds the longest list: appends cannot fail. */
	for (size_t i = 0; i < *n && err == IL_OK; i++)
		err = il_buf_printf(&text, "%s%lld", i == 0 ? "{" : ",", ids[i]);
	if (*n > 0 && err == IL_OK && il_buf_adds(&text, "}") == IL_OK)
		*array = il_xstrdup(text.data);
done:
	il_buf_free(&text);
	free(copy);
	return err;
}

/* Sleeps @p ms, waking early for a stop. */
static void
pause_ms(long long ms)
{
	long long end = il_timers_now_ms() + ms;

	while (!il_sig_stop_requested() && il_timers_now_ms() < end) {
		struct timespec ts = { 0, 100 * 1000000L };

		nanosleep(&ts, NULL);
	}
}

/* Runs the configured mode, again after every transient failure. */
static il_err
run(cdc_ctx *c, char *errbuf, size_t errsz)
{
	bool poll = strcmp(il_conf_get(c->d->conf, "cdc.mode"), "poll") == 0;
	uint64_t rng = (uint64_t)il_timers_now_ms() ^ (uint64_t)getpid();
	int attempt = 0;

	for (;;) {
		long long started = il_timers_now_ms(), wait_ms;
		il_err err;

		err = poll ? cdc_poll_run(c, errbuf, errsz) : cdc_capture_run(c, errbuf, errsz);
		if (err == IL_OK || err == IL_ERR_CANCELLED)
			return IL_ERR_CANCELLED;
		/* A refusal stays one even when a stop came meanwhile. */
		if (IL_ERR_CLASS(err) != IL_ERR_TRANSIENT)
			return err;
		if (il_sig_stop_requested())
			return IL_ERR_CANCELLED;
		if (il_timers_now_ms() - started > CDC_STABLE_MS)
			attempt = 0;
		wait_ms = il_retry_backoff_ms(++attempt, CDC_BACKOFF_BASE_MS, CDC_BACKOFF_MAX_MS, &rng);
		atomic_store(&c->health, IL_HEALTH_DEGRADED);
		il_log_warn("capture failed: starting again", IL_STR("reason", errbuf), IL_INT("attempt", attempt),
		    IL_INT("wait_ms", wait_ms));
		pause_ms(wait_ms);
	}
}

int
main(int argc, char **argv)
{
	long long programmes[CDC_MAX_PROGRAMMES];
	cdc_emitter_opts eo;
	char *array = NULL, *conninfo;
	char errbuf[1024];
	const char *url;
	il_daemon d;
	cdc_ctx c;
	il_err err;

	/*
	 * One arena: the threads mostly hand memory to each other (a reader's
	 * results are freed by the encoder), and every further arena kept its
	 * own high-water mark of batches.  Measured on a 100,000-change
	 * transaction: 12 MiB less at the peak with one than with two, at the
	 * same throughput.
	 */
	mallopt(M_ARENA_MAX, 1);
	il_daemon_init(&d, &info, argc, argv);
	memset(&c, 0, sizeof(c));
	memset(&eo, 0, sizeof(eo));
	c.d = &d;
	url = il_conf_get(d.conf, "cdc.db.url");
	conninfo = il_xstrdup(url != NULL ? url : "");
	c.conninfo = conninfo;
	atomic_init(&c.health, IL_HEALTH_DOWN);
	if (parse_programmes(il_conf_get(d.conf, "cdc.programmes"), programmes, &eo.nprogrammes, &array,
	    errbuf, sizeof(errbuf)) != IL_OK)
		il_cli_fatal("%s", errbuf);
	c.programme_array = array;
	eo.conf = d.conf;
	eo.metrics = d.metrics;
	eo.ectx.instance = il_conf_get(d.conf, "openspp.instance");
	eo.ectx.key_id_type = il_conf_get(d.conf, "openspp.key.id.type");
	eo.source_kind = strcmp(il_conf_get(d.conf, "cdc.mode"), "poll") == 0 ? "POLL" : "CDC";
	eo.programmes = programmes;
	eo.batch_size = CDC_BATCH;
	eo.conninfo = conninfo;
	eo.readers = (size_t)il_conf_get_int(d.conf, "cdc.enrich.connections");
	il_sig_install();
	c.em = cdc_emitter_new(&eo, errbuf, sizeof(errbuf));
	if (c.em == NULL)
		il_cli_fatal("%s", errbuf);
	il_daemon_http(&d, cdc_health, &c);
	il_daemon_listen(&d);

	err = run(&c, errbuf, sizeof(errbuf));
	if (err != IL_ERR_CANCELLED)
		il_log_error("stopping", IL_STR("reason", errbuf));
	il_http_stop(d.http);
	d.http = NULL;
	/* Events queued but not confirmed were never acknowledged: a restart
	 * reads their changes again. */
	cdc_emitter_destroy(c.em);
	free(array);
	free(conninfo);
	il_daemon_fini(&d);
	il_log_info("stopped");
	return err == IL_ERR_CANCELLED ? 0 : 1;
}
