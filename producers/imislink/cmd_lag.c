/*
 * cmd_lag.c - `imislink lag`: consumer lag as `kafka-consumer-groups
 * --describe` prints it, with the lag in seconds and Burrow's status.
 *
 * One round of il_lag (lag.h) by default.  Burrow's status judges a window
 * of commits, and one round sees only the commits it can observe then, so a
 * single run's status is a first impression; --watch repeats the rounds in
 * one process, keeping each partition's window, and its status gains the
 * history imislink-lagmon's has.
 */
#include <errno.h>
#include <getopt.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <cjson/cJSON.h>

#include "burrow.h"
#include "imislink.h"
#include "lag.h"
#include "log.h"
#include "sig.h"
#include "timefmt.h"
#include "xalloc.h"

/* Each broker request of a round may take this long. */
#define LAG_TIMEOUT_MS 10000
/* The longest sleep of --watch: bounds how late a signal is noticed. */
#define LAG_TICK_MS 100

/* The columns of the table, kafka-consumer-groups' plus LAG-SECONDS and STATUS. */
enum {
	COL_GROUP, COL_TOPIC, COL_PARTITION, COL_CURRENT, COL_END, COL_LAG, COL_SECONDS,
	COL_STATUS, COL_CONSUMER, COL_HOST, COL_CLIENT, NCOLS
};

static const char *const col_names[NCOLS] = {
	"GROUP", "TOPIC", "PARTITION", "CURRENT-OFFSET", "LOG-END-OFFSET", "LAG", "LAG-SECONDS",
	"STATUS", "CONSUMER-ID", "HOST", "CLIENT-ID",
};

struct lag_opts {
	const char **groups;    /* --group, in order; NULL-terminated */
	size_t ngroups;
	long long watch;        /* --watch seconds; 0: one round */
	bool json;              /* --json */
};

static void
parse_options(struct lag_opts *o, int argc, char **argv)
{
	static const struct option longopts[] = {
		{ "group", required_argument, NULL, 'G' },
		{ "watch", required_argument, NULL, 'w' },
		{ "json", no_argument, NULL, 'j' },
		{ "help", no_argument, NULL, 'h' },
		{ NULL, 0, NULL, 0 },
	};
	int c;

	o->groups = il_xcalloc((size_t)argc + 1, sizeof(*o->groups));
	optind = 0;
	while ((c = getopt_long(argc, argv, "G:w:jh", longopts, NULL)) != -1) {
		switch (c) {
		case 'G':
			if (optarg[0] == '\0' || strchr(optarg, ',') != NULL)
				il_cli_usage_error("lag", "invalid value for --group: expected one group "
				    "name without a comma (repeat --group for more), got \"%s\"", optarg);
			o->groups[o->ngroups++] = optarg;
			break;
		case 'w':
			if (!il_cli_parse_int(optarg, 1, 86400, &o->watch))
				il_cli_usage_error("lag", "invalid value for --watch: expected seconds "
				    "from 1 to 86400, got \"%s\"", optarg);
			break;
		case 'j':
			o->json = true;
			break;
		case 'h':
			il_cli_cmd_usage(&il_cmd_lag_entry);
		default:
			il_cli_usage_error("lag", "invalid option");
		}
	}
	if (optind < argc)
		il_cli_usage_error("lag", "unexpected argument \"%s\"", argv[optind]);
}

/* --group names the groups as lag.groups would, replacing its value. */
static void
apply_groups(il_conf *conf, const struct lag_opts *o)
{
	char errbuf[512], *list = NULL, *next;
	size_t i;

	if (o->ngroups == 0)
		return;
	for (i = 0; i < o->ngroups; i++) {
		next = il_xasprintf("%s%s%s", list != NULL ? list : "", list != NULL ? "," : "", o->groups[i]);
		free(list);
		list = next;
	}
	if (il_conf_set(conf, "lag.groups", list, "--group", errbuf, sizeof(errbuf)) != IL_OK)
		il_cli_usage_error("lag", "%s", errbuf);
	free(list);
}

/* The text of one cell; "-" where kafka-consumer-groups shows it. */
static void
cell(const il_lag_partition *p, int col, char *out, size_t outsz)
{
	const char *s = NULL;

	switch (col) {
	case COL_GROUP:
		s = p->group;
		break;
	case COL_TOPIC:
		s = p->topic;
		break;
	case COL_PARTITION:
		snprintf(out, outsz, "%d", (int)p->partition);
		return;
	case COL_CURRENT:
		if (p->committed >= 0) {
			snprintf(out, outsz, "%lld", (long long)p->committed);
			return;
		}
		break;
	case COL_END:
		if (p->log_end >= 0) {
			snprintf(out, outsz, "%lld", (long long)p->log_end);
			return;
		}
		break;
	case COL_LAG:
		if (p->lag >= 0) {
			snprintf(out, outsz, "%lld", (long long)p->lag);
			return;
		}
		break;
	case COL_SECONDS:
		if (p->lag_seconds >= 0) {
			snprintf(out, outsz, "%.3f", p->lag_seconds);
			return;
		}
		break;
	case COL_STATUS:
		s = il_burrow_status_name(p->status);
		break;
	case COL_CONSUMER:
		s = p->consumer_id;
		break;
	case COL_HOST:
		s = p->host;
		break;
	default:
		s = p->client_id;
		break;
	}
	snprintf(out, outsz, "%s", s != NULL && s[0] != '\0' ? s : "-");
}

/* Prints a cell padded to its column, the last one ending the line. */
static void
print_cell(const char *text, const size_t *width, int col)
{
	if (col + 1 < NCOLS)
		printf("%-*s ", (int)width[col], text);
	else
		printf("%s\n", text);
}

/* Prints one group as kafka-consumer-groups does: a blank line, the header,
 * a row a partition in columns as wide as their widest cell; then the
 * group's own line. */
static void
print_group_table(const il_lag_snapshot *snap, const il_lag_group *g)
{
	size_t width[NCOLS], i, len;
	char buf[1024];
	int col;

	for (col = 0; col < NCOLS; col++)
		width[col] = strlen(col_names[col]);
	for (i = 0; i < g->nparts; i++) {
		for (col = 0; col < NCOLS; col++) {
			cell(&snap->parts[g->first + i], col, buf, sizeof(buf));
			len = strlen(buf);
			if (len > width[col])
				width[col] = len;
		}
	}
	if (g->nparts > 0) {
		printf("\n");
		for (col = 0; col < NCOLS; col++)
			print_cell(col_names[col], width, col);
		for (i = 0; i < g->nparts; i++) {
			for (col = 0; col < NCOLS; col++) {
				cell(&snap->parts[g->first + i], col, buf, sizeof(buf));
				print_cell(buf, width, col);
			}
		}
	} else {
		printf("\nConsumer group '%s' has no committed offsets.\n", g->group);
	}
	printf("group %s: status %s, state %s, total lag %lld, max lag %lld, max lag seconds %.3f\n",
	    g->group, il_burrow_status_name(g->status), g->state != NULL && g->state[0] != '\0' ?
	    g->state : "-", (long long)g->sum_lag, (long long)g->max_lag, g->max_lag_seconds);
}

static void
add_time(cJSON *o, const char *name, long long ms)
{
	char ts[IL_TIME_LEN];

	if (ms >= 0 && il_time_format_ms(ms, ts))
		cJSON_AddStringToObject(o, name, ts);
	else
		cJSON_AddNullToObject(o, name);
}

static void
add_count(cJSON *o, const char *name, long long v)
{
	if (v >= 0)
		cJSON_AddNumberToObject(o, name, (double)v);
	else
		cJSON_AddNullToObject(o, name);
}

static void
add_text(cJSON *o, const char *name, const char *s)
{
	if (s != NULL && s[0] != '\0')
		cJSON_AddStringToObject(o, name, s);
	else
		cJSON_AddNullToObject(o, name);
}

/* One JSON line a partition, then the group's line. @returns false when stdout failed. */
static bool
print_group_json(const il_lag_snapshot *snap, const il_lag_group *g, const char *cluster)
{
	const il_lag_partition *p;
	cJSON *o;
	size_t i;
	bool ok = true;

	for (i = 0; ok && i < g->nparts; i++) {
		p = &snap->parts[g->first + i];
		o = cJSON_CreateObject();
		cJSON_AddStringToObject(o, "type", "partition");
		add_time(o, "ts", snap->taken_ms);
		cJSON_AddStringToObject(o, "cluster", cluster);
		cJSON_AddStringToObject(o, "group", p->group);
		cJSON_AddStringToObject(o, "topic", p->topic);
		cJSON_AddNumberToObject(o, "partition", p->partition);
		add_count(o, "committed", p->committed);
		add_count(o, "log_end", p->log_end);
		add_count(o, "lag", p->committed >= 0 ? p->lag : -1);
		if (p->lag_seconds >= 0)
			cJSON_AddNumberToObject(o, "lag_seconds", p->lag_seconds);
		else
			cJSON_AddNullToObject(o, "lag_seconds");
		cJSON_AddStringToObject(o, "status", il_burrow_status_name(p->status));
		add_text(o, "consumer_id", p->consumer_id);
		add_text(o, "host", p->host);
		add_text(o, "client_id", p->client_id);
		cJSON_AddNumberToObject(o, "window", (double)p->window);
		cJSON_AddBoolToObject(o, "complete", p->complete);
		add_time(o, "last_commit", p->last_commit_ms);
		ok = il_cli_print_json(o);
		cJSON_Delete(o);
	}
	if (!ok)
		return false;
	o = cJSON_CreateObject();
	cJSON_AddStringToObject(o, "type", "group");
	add_time(o, "ts", snap->taken_ms);
	cJSON_AddStringToObject(o, "cluster", cluster);
	cJSON_AddStringToObject(o, "group", g->group);
	add_text(o, "state", g->state);
	cJSON_AddStringToObject(o, "status", il_burrow_status_name(g->status));
	cJSON_AddNumberToObject(o, "total_lag", (double)g->sum_lag);
	cJSON_AddNumberToObject(o, "max_lag", (double)g->max_lag);
	cJSON_AddNumberToObject(o, "max_lag_seconds", g->max_lag_seconds);
	cJSON_AddNumberToObject(o, "partitions", (double)g->nparts);
	ok = il_cli_print_json(o);
	cJSON_Delete(o);
	return ok;
}

/*
 * A group that does not exist: named with --group but not found by the
 * round, or one the broker describes as Dead without offsets (state
 * @p state, NULL when unknown), as kafka-consumer-groups reports it.
 */
static bool
print_missing(const char *group, const char *state, const char *cluster, long long ms, bool json)
{
	cJSON *o;
	bool ok;

	if (!json) {
		printf("\nConsumer group '%s' does not exist.\n"
		    "group %s: status NOTFOUND, state %s, total lag 0, max lag 0, max lag seconds 0.000\n",
		    group, group, state != NULL && state[0] != '\0' ? state : "-");
		return true;
	}
	o = cJSON_CreateObject();
	cJSON_AddStringToObject(o, "type", "group");
	add_time(o, "ts", ms);
	cJSON_AddStringToObject(o, "cluster", cluster);
	cJSON_AddStringToObject(o, "group", group);
	add_text(o, "state", state);
	cJSON_AddStringToObject(o, "status", "NOTFOUND");
	cJSON_AddNumberToObject(o, "total_lag", 0);
	cJSON_AddNumberToObject(o, "max_lag", 0);
	cJSON_AddNumberToObject(o, "max_lag_seconds", 0);
	cJSON_AddNumberToObject(o, "partitions", 0);
	ok = il_cli_print_json(o);
	cJSON_Delete(o);
	return ok;
}

static bool
found(const il_lag_snapshot *snap, const char *group)
{
	size_t i;

	for (i = 0; i < snap->ngroups; i++)
		if (strcmp(snap->groups[i].group, group) == 0)
			return true;
	return false;
}

/* Prints a round's figures; @returns false when stdout failed. */
static bool
print_round(const il_lag_snapshot *snap, const struct lag_opts *o, const char *cluster)
{
	char ts[IL_TIME_LEN];
	size_t i;
	bool ok = true;

	if (o->watch > 0 && !o->json)
		printf("\n--- %s, cluster %s\n", il_time_format_ms(snap->taken_ms, ts) ? ts : "-", cluster);
	for (i = 0; ok && i < snap->ngroups; i++) {
		/* The broker said it does not exist (lag.h): not "no offsets". */
		if (snap->groups[i].status == IL_BURROW_NOTFOUND)
			ok = print_missing(snap->groups[i].group, snap->groups[i].state, cluster,
			    snap->taken_ms, o->json);
		else if (o->json)
			ok = print_group_json(snap, &snap->groups[i], cluster);
		else
			print_group_table(snap, &snap->groups[i]);
	}
	for (i = 0; ok && i < o->ngroups; i++)
		if (!found(snap, o->groups[i]))
			ok = print_missing(o->groups[i], NULL, cluster, snap->taken_ms, o->json);
	errno = 0;
	if (fflush(stdout) != 0 || ferror(stdout))
		ok = false;
	return ok;
}

/* Sleeps @p seconds, or less when a stop signal comes. */
static void
nap(long long seconds)
{
	struct timespec t0, now;
	long long waited = 0;

	clock_gettime(CLOCK_MONOTONIC, &t0);
	while (!il_sig_stop_requested() && waited < seconds * 1000) {
		poll(NULL, 0, LAG_TICK_MS);
		clock_gettime(CLOCK_MONOTONIC, &now);
		waited = (long long)(now.tv_sec - t0.tv_sec) * 1000 + (now.tv_nsec - t0.tv_nsec) / 1000000;
	}
}

static int
cmd_lag(il_cli *cli, int argc, char **argv)
{
	struct lag_opts o = { NULL, 0, 0, false };
	const char *cluster;
	char errbuf[1024];
	il_lag *lag;
	il_err err;
	int rc = 0;

	parse_options(&o, argc, argv);
	apply_groups(cli->conf, &o);
	cluster = il_conf_get(cli->conf, "lag.cluster.name");
	il_sig_install();
	lag = il_lag_new(cli->conf, errbuf, sizeof(errbuf));
	if (lag == NULL) {
		free(o.groups);
		il_cli_fatal("%s", errbuf);
	}
	for (;;) {
		err = il_lag_evaluate(lag, LAG_TIMEOUT_MS, errbuf, sizeof(errbuf));
		if (err != IL_OK) {
			il_log_error("could not read consumer lag", IL_STR("reason", errbuf));
			if (o.watch == 0) {
				rc = 1;
				break;
			}
		} else if (!print_round(il_lag_get_snapshot(lag), &o, cluster)) {
			il_log_error("could not write to stdout, stopping",
			    IL_STR("reason", strerror(errno != 0 ? errno : EIO)));
			rc = 1;
			break;
		}
		if (o.watch == 0 || il_sig_stop_requested())
			break;
		nap(o.watch);
		if (il_sig_stop_requested())
			break;
	}
	il_lag_destroy(lag);
	free(o.groups);
	return rc;
}

const il_cmd_entry il_cmd_lag_entry = {
	"lag",
	"lag [--group GROUP]... [--watch SECONDS] [--json]",
	"  -G, --group GROUP        only this consumer group (repeat for more); also\n"
	"                           how to name groups a broker cannot list (the\n"
	"                           embedded one); default: lag.groups, else every\n"
	"                           group the broker lists\n"
	"  -w, --watch SECONDS      evaluate again every SECONDS until interrupted\n"
	"  --json                   JSON lines instead of the table\n"
	"  Prints, per group, what `kafka-consumer-groups --describe` prints (GROUP\n"
	"  TOPIC PARTITION CURRENT-OFFSET LOG-END-OFFSET LAG CONSUMER-ID HOST\n"
	"  CLIENT-ID, \"-\" where unknown) plus LAG-SECONDS (age of the oldest\n"
	"  unconsumed message) and Burrow's STATUS, then the group's line: status,\n"
	"  state, total lag, max lag.  --json: one line a partition\n"
	"  {\"type\":\"partition\",\"group\",\"topic\",\"partition\",\"committed\",\"log_end\",\n"
	"  \"lag\",\"lag_seconds\",\"status\",...} and one a group {\"type\":\"group\",\n"
	"  \"status\",\"total_lag\",\"max_lag\",...}; null where unknown.  A group\n"
	"  the broker says does not exist (state Dead) has status NOTFOUND.\n"
	"  Burrow's status judges a window of lag.window.size commits: one run\n"
	"  judges from the commits it could observe, so it is a first impression.\n"
	"  The status with history is imislink-lagmon's (/v3/kafka/<cluster>/consumer/\n"
	"  <group>/status); --watch keeps the windows across rounds too.\n"
	"  Examples: imislink lag; imislink lag --group imislink-enroll --watch 5\n",
	cmd_lag,
};
