/*
 * main.c - imislink-lagmon: consumer lag and Burrow's status of every
 * consumer group, for Prometheus and for tools that speak Burrow's API.
 *
 * Start-up, signals and the timer loop; the rounds and what HTTP serves
 * from them are in monitor.c.  The monitor keeps no state worth saving: the
 * windows of commits fill again after a restart.
 */
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>

#include "cli.h"
#include "daemon.h"
#include "log.h"
#include "monitor.h"
#include "sig.h"
#include "timers.h"

/* The longest sleep of the loop: bounds how late a signal is noticed. */
#define LAGMON_TICK_MS 100

static const il_daemon_info lagmon_info = {
	"imislink-lagmon",
	"0.1.0",
	"consumer lag and Burrow status of every consumer group",
	"Every lag.interval.ms reads each consumer group's committed offsets and\n"
	"every partition's log end offset, as `kafka-consumer-groups --describe`\n"
	"does, follows the group's commits, and judges each partition and group by\n"
	"Burrow's rules over a window of lag.window.size commits (OK, WARN, ERR,\n"
	"STOP, STALL, REWIND).  Groups are those the broker lists, or lag.groups.\n"
	"Serves on http.address:http.port:\n"
	"  /metrics   kafka-lag-exporter's series (kafka_consumergroup_group_lag,\n"
	"             ..._lag_seconds, ..._max_lag, ..._sum_lag, ...) labelled\n"
	"             cluster_name, group, topic, partition, plus the status\n"
	"             (imislink_lag_group_status, imislink_lag_partition_status)\n"
	"  /healthz   degraded when the last round failed or is three intervals old\n"
	"  /v3/kafka/<lag.cluster.name>/consumer[/<group>/status|/lag]  Burrow's API\n"
	"Logs every change of a group's status.  Runs until SIGINT or SIGTERM;\n"
	"SIGHUP reloads the log level.",
	NULL,
};

/* Rounds every interval, counted from the start of the last one, until a stop signal. */
static void
run(il_daemon *d, il_lagmon *mon)
{
	long long interval = il_lagmon_interval_ms(mon), next = il_timers_now_ms(), now, wait;

	while (!il_sig_stop_requested()) {
		if (il_sig_take_reload())
			il_daemon_reload(d);
		now = il_timers_now_ms();
		if (now >= next) {
			next = now + interval;
			il_lagmon_round(mon);
			continue;
		}
		wait = next - now;
		poll(NULL, 0, (int)(wait < LAGMON_TICK_MS ? wait : LAGMON_TICK_MS));
	}
}

int
main(int argc, char **argv)
{
	il_daemon d;            /* command line, configuration, metrics, HTTP */
	il_lagmon *mon;         /* the rounds and what HTTP serves of them */
	char errbuf[1024];

	il_daemon_init(&d, &lagmon_info, argc, argv);
	il_sig_install();
	mon = il_lagmon_new(d.conf, d.metrics, errbuf, sizeof(errbuf));
	if (mon == NULL) {
		il_daemon_fini(&d);
		il_cli_fatal("%s", errbuf);
	}
	il_daemon_http(&d, il_lagmon_health, mon);
	il_lagmon_routes(mon, d.http);
	il_daemon_listen(&d);
	il_log_info("started", IL_STR("cluster", il_conf_get(d.conf, "lag.cluster.name")),
	    IL_STR("groups", il_conf_get(d.conf, "lag.groups")[0] != '\0' ?
	    il_conf_get(d.conf, "lag.groups") : "(discovered)"),
	    IL_INT("interval_ms", il_lagmon_interval_ms(mon)),
	    IL_INT("window_size", il_conf_get_int(d.conf, "lag.window.size")));

	run(&d, mon);

	/* HTTP first: its handlers and the collector read the monitor. */
	il_http_stop(d.http);
	d.http = NULL;
	il_lagmon_destroy(mon);
	il_daemon_fini(&d);
	il_log_info("stopped");
	return 0;
}
