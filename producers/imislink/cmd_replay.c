/*
 * cmd_replay.c - `imislink replay`: history again, two ways.
 *
 *  - rewind: moves an inactive consumer group's committed offsets to the
 *    first offset at or after a time, per partition, as
 *    `kafka-consumer-groups --reset-offsets --to-datetime` does (a partition
 *    without a message at or after the time goes to its log end offset).
 *    Without --execute it only prints the plan, as the Java tool does.
 *  - republish: copies the events of a time range back into a topic while
 *    the workers keep running (replay_republish.c).
 *
 * Idempotent enrollment makes both safe: an event processed again is found
 * done (ALREADY_ENROLLED) and creates nothing in openIMIS.
 *
 * The group's state comes from DescribeConsumerGroups and its offsets from
 * ListConsumerGroupOffsets; AlterConsumerGroupOffsets commits the new ones
 * (an OffsetCommit with generation -1, which the broker refuses for a group
 * with members: a worker that joins between the check and the commit still
 * cannot have its offsets moved under it).
 */
#include <getopt.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <librdkafka/rdkafka.h>

#include "imislink.h"
#include "kafka.h"
#include "event.h"
#include "log.h"
#include "timefmt.h"
#include "xalloc.h"

/* How long one admin request or offset query may take. */
#define REWIND_REQUEST_MS 30000

/* One partition of the plan. */
struct rewind_part {
	int64_t current;        /* committed offset, -1 when the group has none */
	int64_t target;         /* where the plan moves it */
};

struct rewind {
	/* options */
	const char *group;      /* --group */
	const char *topic;      /* --topic, else topic.eligibility */
	int64_t to_ms;          /* --to-datetime / --by-duration */
	const char *to_text;    /* the time as given, for messages */
	bool execute;           /* --execute: commit; else only print */

	/* resources */
	il_conf *conf;          /* borrowed from main */
	il_consumer *c;         /* no group: metadata, offsets and admin requests */
	rd_kafka_t *rk;         /* c's handle */

	/* state */
	struct rewind_part *parts;      /* indexed by partition id */
	int nparts;                     /* partitions of the topic */
	rd_kafka_consumer_group_state_t state;  /* the group's, before the commit */
	int members;                    /* the group's members, before the commit */
};

/*
 * Runs one admin request whose result lands on @p q and waits for it.
 * @returns the result event (caller destroys) or NULL with the reason in
 * @p errbuf (no answer in time, or an error of the request as a whole).
 */
static rd_kafka_event_t *
admin_wait(rd_kafka_queue_t *q, const char *what, char *errbuf, size_t errsz)
{
	rd_kafka_event_t *ev;

	/* The request itself times out after REWIND_REQUEST_MS: a little more
	 * here, so its own error is what comes back. */
	ev = rd_kafka_queue_poll(q, REWIND_REQUEST_MS + 5000);
	if (ev == NULL) {
		il_err_setf(errbuf, errsz, "could not %s: no answer within %d s", what,
		    REWIND_REQUEST_MS / 1000 + 5);
		return NULL;
	}
	if (rd_kafka_event_error(ev) != RD_KAFKA_RESP_ERR_NO_ERROR) {
		il_err_setf(errbuf, errsz, "could not %s: %s", what, rd_kafka_event_error_string(ev));
		rd_kafka_event_destroy(ev);
		return NULL;
	}
	return ev;
}

static rd_kafka_AdminOptions_t *
admin_options(rd_kafka_t *rk, rd_kafka_admin_op_t op)
{
	rd_kafka_AdminOptions_t *opts = rd_kafka_AdminOptions_new(rk, op);
	char errbuf[256];

	if (rd_kafka_AdminOptions_set_request_timeout(opts, REWIND_REQUEST_MS, errbuf, sizeof(errbuf)) !=
	    RD_KAFKA_RESP_ERR_NO_ERROR)
		il_log_warn("could not set the admin request timeout", IL_STR("reason", errbuf));
	return opts;
}

/* Reads the group's state and member count into @p rw; fatal on error. */
static void
describe_group(struct rewind *rw)
{
	const rd_kafka_ConsumerGroupDescription_t **groups;
	const rd_kafka_error_t *gerr;
	rd_kafka_AdminOptions_t *opts;
	rd_kafka_queue_t *q = rd_kafka_queue_new(rw->rk);
	rd_kafka_event_t *ev;
	const char *names[1] = { rw->group };
	char errbuf[512];
	size_t n = 0;

	opts = admin_options(rw->rk, RD_KAFKA_ADMIN_OP_DESCRIBECONSUMERGROUPS);
	rd_kafka_DescribeConsumerGroups(rw->rk, names, 1, opts, q);
	rd_kafka_AdminOptions_destroy(opts);
	ev = admin_wait(q, "describe the consumer group", errbuf, sizeof(errbuf));
	rd_kafka_queue_destroy(q);
	if (ev == NULL)
		il_cli_fatal("%s \"%s\"", errbuf, rw->group);
	groups = rd_kafka_DescribeConsumerGroups_result_groups(
	    rd_kafka_event_DescribeConsumerGroups_result(ev), &n);
	if (n != 1) {
		rd_kafka_event_destroy(ev);
		il_cli_fatal("could not describe consumer group \"%s\": %zu answers, expected 1", rw->group, n);
	}
	gerr = rd_kafka_ConsumerGroupDescription_error(groups[0]);
	if (gerr != NULL) {
		snprintf(errbuf, sizeof(errbuf), "%s", rd_kafka_error_string(gerr));
		rd_kafka_event_destroy(ev);
		il_cli_fatal("could not describe consumer group \"%s\": %s", rw->group, errbuf);
	}
	rw->state = rd_kafka_ConsumerGroupDescription_state(groups[0]);
	rw->members = (int)rd_kafka_ConsumerGroupDescription_member_count(groups[0]);
	rd_kafka_event_destroy(ev);
}

/* @returns true when the group has no member: a group that never existed
 * is Dead, one whose members all left is Empty. */
static bool
group_inactive(const struct rewind *rw)
{
	return (rw->state == RD_KAFKA_CONSUMER_GROUP_STATE_EMPTY ||
	    rw->state == RD_KAFKA_CONSUMER_GROUP_STATE_DEAD) && rw->members == 0;
}

/*
 * Runs the group's ListConsumerGroupOffsets (@p alter false) or
 * AlterConsumerGroupOffsets request for the partitions of @p list (destroyed
 * here) and waits for it.  @returns the result event, the caller destroys it,
 * with the group's partitions in *@p got; or NULL with the reason in @p errbuf.
 */
static rd_kafka_event_t *
group_offsets(struct rewind *rw, bool alter, rd_kafka_topic_partition_list_t *list,
    const rd_kafka_topic_partition_list_t **got, char *errbuf, size_t errsz)
{
	const char *what = alter ? "commit the new offsets" : "read the committed offsets of the consumer group";
	rd_kafka_AlterConsumerGroupOffsets_t *alter_req;
	rd_kafka_ListConsumerGroupOffsets_t *list_req;
	const rd_kafka_group_result_t **groups;
	rd_kafka_AdminOptions_t *opts;
	rd_kafka_queue_t *q = rd_kafka_queue_new(rw->rk);
	rd_kafka_event_t *ev;
	size_t n = 0;

	if (alter) {
		alter_req = rd_kafka_AlterConsumerGroupOffsets_new(rw->group, list);
		opts = admin_options(rw->rk, RD_KAFKA_ADMIN_OP_ALTERCONSUMERGROUPOFFSETS);
		rd_kafka_AlterConsumerGroupOffsets(rw->rk, &alter_req, 1, opts, q);
		rd_kafka_AlterConsumerGroupOffsets_destroy(alter_req);
	} else {
		list_req = rd_kafka_ListConsumerGroupOffsets_new(rw->group, list);
		opts = admin_options(rw->rk, RD_KAFKA_ADMIN_OP_LISTCONSUMERGROUPOFFSETS);
		rd_kafka_ListConsumerGroupOffsets(rw->rk, &list_req, 1, opts, q);
		rd_kafka_ListConsumerGroupOffsets_destroy(list_req);
	}
	rd_kafka_AdminOptions_destroy(opts);
	rd_kafka_topic_partition_list_destroy(list);
	ev = admin_wait(q, what, errbuf, errsz);
	rd_kafka_queue_destroy(q);
	if (ev == NULL)
		return NULL;
	if (alter)
		groups = rd_kafka_AlterConsumerGroupOffsets_result_groups(
		    rd_kafka_event_AlterConsumerGroupOffsets_result(ev), &n);
	else
		groups = rd_kafka_ListConsumerGroupOffsets_result_groups(
		    rd_kafka_event_ListConsumerGroupOffsets_result(ev), &n);
	if (n != 1) {
		il_err_setf(errbuf, errsz, "could not %s: %zu answers, expected 1", what, n);
		goto fail;
	}
	if (rd_kafka_group_result_error(groups[0]) != NULL) {
		il_err_setf(errbuf, errsz, "could not %s: %s", what,
		    rd_kafka_error_string(rd_kafka_group_result_error(groups[0])));
		goto fail;
	}
	*got = rd_kafka_group_result_partitions(groups[0]);
	return ev;
fail:
	rd_kafka_event_destroy(ev);
	return NULL;
}

/*
 * The group's committed offsets of every partition of the topic, into
 * @p out (indexed by partition, -1 when none).  @returns false with the
 * reason in @p errbuf.
 */
static bool
committed_offsets(struct rewind *rw, int64_t *out, char *errbuf, size_t errsz)
{
	rd_kafka_topic_partition_list_t *list = rd_kafka_topic_partition_list_new(rw->nparts);
	const rd_kafka_topic_partition_list_t *got = NULL;
	rd_kafka_event_t *ev;
	bool ok = false;
	int i;

	for (i = 0; i < rw->nparts; i++) {
		rd_kafka_topic_partition_list_add(list, rw->topic, i);
		out[i] = -1;
	}
	ev = group_offsets(rw, false, list, &got, errbuf, errsz);
	if (ev == NULL)
		return false;
	for (i = 0; got != NULL && i < got->cnt; i++) {
		const rd_kafka_topic_partition_t *tp = &got->elems[i];

		if (strcmp(tp->topic, rw->topic) != 0 || tp->partition < 0 || tp->partition >= rw->nparts)
			continue;
		if (tp->err != RD_KAFKA_RESP_ERR_NO_ERROR) {
			il_err_setf(errbuf, errsz, "could not read the committed offset of partition %" PRId32
			    ": %s", tp->partition, rd_kafka_err2str(tp->err));
			goto out;
		}
		out[tp->partition] = tp->offset >= 0 ? tp->offset : -1;
	}
	ok = true;
out:
	rd_kafka_event_destroy(ev);
	return ok;
}

/* Fills each partition's target: the first offset at or after the time,
 * else its log end offset.  Fatal on error. */
static void
plan_targets(struct rewind *rw)
{
	int64_t *end = il_xcalloc((size_t)rw->nparts, sizeof(*end));
	int64_t *target = il_xcalloc((size_t)rw->nparts, sizeof(*target));
	int i;

	il_cli_log_ends(rw->rk, rw->topic, rw->nparts, end, REWIND_REQUEST_MS);
	/* No message at or after the time: the log end, as the Java tool does
	 * (it never moves a group past the end). */
	il_cli_offsets_at(rw->rk, rw->topic, rw->nparts, rw->to_ms, end, target, "time", rw->to_text,
	    REWIND_REQUEST_MS);
	for (i = 0; i < rw->nparts; i++)
		rw->parts[i].target = target[i];
	free(target);
	free(end);
}

/* Prints the plan as the Java tool does, one partition a line; fatal when
 * stdout fails. */
static void
print_plan(const struct rewind *rw)
{
	int gw = (int)strlen(rw->group), tw = (int)strlen(rw->topic), i;
	char cur[32];

	if (gw < 5)
		gw = 5;
	if (tw < 5)
		tw = 5;
	printf("%-*s %-*s %-10s %-15s %-15s\n", gw, "GROUP", tw, "TOPIC", "PARTITION", "CURRENT-OFFSET",
	    "NEW-OFFSET");
	for (i = 0; i < rw->nparts; i++) {
		if (rw->parts[i].current >= 0)
			snprintf(cur, sizeof(cur), "%" PRId64, rw->parts[i].current);
		else
			snprintf(cur, sizeof(cur), "-");
		printf("%-*s %-*s %-10d %-15s %-15" PRId64 "\n", gw, rw->group, tw, rw->topic, i, cur,
		    rw->parts[i].target);
	}
	if (fflush(stdout) != 0 || ferror(stdout))
		il_cli_fatal("could not write the plan to stdout");
}

/* Commits the plan; @returns false with the reason in @p errbuf. */
static bool
commit_plan(struct rewind *rw, char *errbuf, size_t errsz)
{
	rd_kafka_topic_partition_list_t *list = rd_kafka_topic_partition_list_new(rw->nparts);
	const rd_kafka_topic_partition_list_t *got = NULL;
	rd_kafka_event_t *ev;
	bool ok = false;
	int i;

	for (i = 0; i < rw->nparts; i++)
		rd_kafka_topic_partition_list_add(list, rw->topic, i)->offset = rw->parts[i].target;
	ev = group_offsets(rw, true, list, &got, errbuf, errsz);
	if (ev == NULL)
		return false;
	for (i = 0; got != NULL && i < got->cnt; i++) {
		rd_kafka_resp_err_t perr = got->elems[i].err;

		if (perr == RD_KAFKA_RESP_ERR_NO_ERROR)
			continue;
		/* A member joined after the check: the broker keeps its offsets. */
		if (perr == RD_KAFKA_RESP_ERR_UNKNOWN_MEMBER_ID || perr == RD_KAFKA_RESP_ERR_ILLEGAL_GENERATION ||
		    perr == RD_KAFKA_RESP_ERR_REBALANCE_IN_PROGRESS)
			il_err_setf(errbuf, errsz, "could not commit the new offset of partition %" PRId32
			    ": the group became active (%s): stop the workers first", got->elems[i].partition,
			    rd_kafka_err2str(perr));
		else
			il_err_setf(errbuf, errsz, "could not commit the new offset of partition %" PRId32 ": %s",
			    got->elems[i].partition, rd_kafka_err2str(perr));
		goto out;
	}
	ok = true;
out:
	rd_kafka_event_destroy(ev);
	return ok;
}

/* Reads the offsets back: what the group will start from is what counts. */
static bool
verify_plan(struct rewind *rw, char *errbuf, size_t errsz)
{
	int64_t *now = il_xcalloc((size_t)rw->nparts, sizeof(*now));
	bool ok;
	int i;

	ok = committed_offsets(rw, now, errbuf, errsz);
	for (i = 0; ok && i < rw->nparts; i++) {
		if (now[i] == rw->parts[i].target)
			continue;
		il_err_setf(errbuf, errsz, "partition %d: committed offset %" PRId64 " after the commit, "
		    "expected %" PRId64, i, now[i], rw->parts[i].target);
		ok = false;
	}
	free(now);
	return ok;
}

/* Parses an ISO-8601 duration of days, hours, minutes and seconds, as
 * --by-duration of the Java tool takes it ("PT1H", "P1DT30M", "PT0.5S").
 * @returns false when @p s is not one. */
static bool
parse_duration(const char *s, int64_t *ms)
{
	bool in_time = false, any = false;
	double total = 0.0, v, scale, unit;

	if (*s != 'P')
		return false;
	for (s++; *s != '\0'; s++) {
		if (*s == 'T' && !in_time) {
			in_time = true;
			continue;
		}
		if (*s < '0' || *s > '9')
			return false;
		for (v = 0.0; *s >= '0' && *s <= '9'; s++)
			v = v * 10.0 + (*s - '0');
		if (*s == '.' || *s == ',') {
			for (s++, scale = 0.1; *s >= '0' && *s <= '9'; s++, scale /= 10.0)
				v += (*s - '0') * scale;
		}
		if (*s == 'D' && !in_time)
			unit = 86400000.0;
		else if (*s == 'H' && in_time)
			unit = 3600000.0;
		else if (*s == 'M' && in_time)
			unit = 60000.0;
		else if (*s == 'S' && in_time)
			unit = 1000.0;
		else
			return false;
		total += v * unit;
		if (total > 1e15)
			return false;
		any = true;
	}
	if (!any)
		return false;
	*ms = (int64_t)total;
	return true;
}

int
il_replay_getopt(int argc, char **argv, const char *shortopts, const struct option *longopts)
{
	int c = getopt_long(argc, argv, shortopts, longopts, NULL);

	if (c == 'h')
		il_cli_cmd_usage(&il_cmd_replay_entry);
	if (c == '?' || c == ':')
		il_cli_usage_error("replay", "invalid option");
	if (c == -1 && optind < argc)
		il_cli_usage_error("replay", "unexpected argument \"%s\"", argv[optind]);
	return c;
}

static void
parse_rewind_options(struct rewind *rw, int argc, char **argv)
{
	static const struct option longopts[] = {
		/* which offsets */
		{ "group", required_argument, NULL, 'g' },
		{ "topic", required_argument, NULL, 't' },
		/* to where */
		{ "to-datetime", required_argument, NULL, 'T' },
		{ "by-duration", required_argument, NULL, 'D' },
		/* what to do */
		{ "dry-run", no_argument, NULL, 'n' },
		{ "execute", no_argument, NULL, 'x' },
		{ "help", no_argument, NULL, 'h' },
		{ NULL, 0, NULL, 0 },
	};
	bool dry_run = false, have_time = false;
	int64_t ms;
	int c;

	optind = 0;
	while ((c = il_replay_getopt(argc, argv, "g:t:h", longopts)) != -1) {
		switch (c) {
		case 'g':
			rw->group = optarg;
			break;
		case 't':
			rw->topic = optarg;
			break;
		case 'T':
			if (have_time)
				il_cli_usage_error("replay", "--to-datetime and --by-duration do not mix: "
				    "give one time");
			rw->to_ms = il_cli_parse_time("replay", "--to-datetime", optarg);
			rw->to_text = optarg;
			have_time = true;
			break;
		case 'D':
			if (have_time)
				il_cli_usage_error("replay", "--to-datetime and --by-duration do not mix: "
				    "give one time");
			if (!parse_duration(optarg, &ms))
				il_cli_usage_error("replay", "invalid value for --by-duration: expected an "
				    "ISO-8601 duration (PT1H, P1DT12H), got \"%s\"", optarg);
			rw->to_ms = il_event_now_ms() - ms;
			if (rw->to_ms < 0)
				il_cli_usage_error("replay", "invalid value for --by-duration: \"%s\" ago lies "
				    "before 1970: Kafka reads a negative time as latest or earliest", optarg);
			rw->to_text = optarg;
			have_time = true;
			break;
		case 'n':
			dry_run = true;
			break;
		case 'x':
			rw->execute = true;
			break;
		}
	}
	if (rw->group == NULL)
		il_cli_usage_error("replay", "rewind needs --group: the consumer group to move");
	if (!have_time)
		il_cli_usage_error("replay", "rewind needs --to-datetime (or --by-duration): where to move "
		    "the group");
	if (dry_run && rw->execute)
		il_cli_usage_error("replay", "--dry-run and --execute do not mix: give one");
}

static int
replay_rewind(il_cli *cli, int argc, char **argv)
{
	struct rewind rw = { .conf = cli->conf, .state = RD_KAFKA_CONSUMER_GROUP_STATE_UNKNOWN };
	char errbuf[1024], when[IL_TIME_LEN];
	int64_t *current;
	int i, rc = 1;

	parse_rewind_options(&rw, argc, argv);
	if (rw.topic == NULL)
		rw.topic = il_conf_get(rw.conf, "topic.eligibility");
	il_time_format_ms(rw.to_ms, when);

	/* A consumer without a group never joins one: it only asks. */
	rw.c = il_consumer_new(rw.conf, NULL, NULL, NULL, errbuf, sizeof(errbuf));
	if (rw.c == NULL)
		il_cli_fatal("%s", errbuf);
	rw.rk = il_consumer_handle(rw.c);
	rw.nparts = il_cli_topic_partitions(rw.rk, rw.topic, il_conf_get(rw.conf, "kafka.bootstrap.servers"));
	rw.parts = il_xcalloc((size_t)rw.nparts, sizeof(*rw.parts));

	describe_group(&rw);
	if (!group_inactive(&rw)) {
		if (rw.execute) {
			il_log_error("refusing to move the offsets of an active consumer group: stop the workers "
			    "first", IL_STR("group", rw.group),
			    IL_STR("state", rd_kafka_consumer_group_state_name(rw.state)),
			    IL_INT("members", rw.members));
			goto out;
		}
		il_log_warn("the consumer group is active: --execute will refuse until the workers are stopped",
		    IL_STR("group", rw.group), IL_STR("state", rd_kafka_consumer_group_state_name(rw.state)),
		    IL_INT("members", rw.members));
	}

	current = il_xcalloc((size_t)rw.nparts, sizeof(*current));
	if (!committed_offsets(&rw, current, errbuf, sizeof(errbuf))) {
		free(current);
		il_log_error(errbuf, IL_STR("group", rw.group), IL_STR("topic", rw.topic));
		goto out;
	}
	for (i = 0; i < rw.nparts; i++)
		rw.parts[i].current = current[i];
	free(current);
	plan_targets(&rw);
	print_plan(&rw);

	if (!rw.execute) {
		il_log_info("dry run: nothing changed; add --execute to commit these offsets",
		    IL_STR("group", rw.group), IL_STR("topic", rw.topic), IL_STR("to", when));
		rc = 0;
		goto out;
	}
	if (!commit_plan(&rw, errbuf, sizeof(errbuf)) || !verify_plan(&rw, errbuf, sizeof(errbuf))) {
		il_log_error(errbuf, IL_STR("group", rw.group), IL_STR("topic", rw.topic));
		goto out;
	}
	il_log_info("offsets moved: the group starts from them when its workers start",
	    IL_STR("group", rw.group), IL_STR("topic", rw.topic), IL_STR("to", when),
	    IL_INT("partitions", rw.nparts));
	rc = 0;
out:
	il_consumer_destroy(rw.c);
	free(rw.parts);
	return rc;
}

static int
cmd_replay(il_cli *cli, int argc, char **argv)
{
	if (argc < 2)
		il_cli_usage_error("replay", "replay needs a mode: rewind or republish");
	if (strcmp(argv[1], "-h") == 0 || strcmp(argv[1], "--help") == 0)
		il_cli_cmd_usage(&il_cmd_replay_entry);
	if (strcmp(argv[1], "rewind") == 0)
		return replay_rewind(cli, argc - 1, argv + 1);
	if (strcmp(argv[1], "republish") == 0)
		return il_replay_republish(cli, argc - 1, argv + 1);
	il_cli_usage_error("replay", "unknown mode \"%s\": expected rewind or republish", argv[1]);
}

const il_cmd_entry il_cmd_replay_entry = {
	"replay",
	"replay rewind --group GROUP --to-datetime TIME [--topic TOPIC] [--dry-run|--execute]\n"
	"  replay republish --from TIME --to TIME [--topic TOPIC] [--to-topic TOPIC] [--key KEY]...\n"
	"          [--programme N]... [--dry-run]",
	"  rewind: move an inactive consumer group to the first offset at or after TIME in\n"
	"  each partition (the log end where no message is that recent), as\n"
	"  kafka-consumer-groups --reset-offsets --to-datetime does; its workers then\n"
	"  process everything from there again.\n"
	"  -g, --group GROUP        consumer group to move (its workers must be stopped)\n"
	"  -t, --topic TOPIC        topic whose offsets move (default: topic.eligibility)\n"
	"  --to-datetime TIME       ISO-8601 (2026-11-21T08:00:00Z, +02:00 allowed; no zone:\n"
	"                           UTC) or ms since 1970 (earlier times are refused)\n"
	"  --by-duration DURATION   instead of a time: that long ago (ISO-8601, PT1H)\n"
	"  --dry-run                print the plan only (the default)\n"
	"  --execute                commit the plan\n"
	"  Prints GROUP TOPIC PARTITION CURRENT-OFFSET NEW-OFFSET per partition (\"-\": no\n"
	"  committed offset).  Refuses (exit 1) to --execute while the group has members.\n"
	"\n"
	"  republish: copy the events of [--from, --to) back into a topic while the\n"
	"  workers keep running; copies keep the original key, value and headers and get\n"
	"  __imislink.replay.of (TOPIC/PARTITION/OFFSET of the original, as dlq replay\n"
	"  writes it) and __imislink.replay.at in place of earlier __imislink.replay.*\n"
	"  headers.  What is read ends at the offsets found at the start, so the copies\n"
	"  themselves are never read again.\n"
	"  --from TIME, --to TIME   the time range, by message timestamp (as above)\n"
	"  -t, --topic TOPIC        topic to read (default: topic.eligibility)\n"
	"  --to-topic TOPIC         topic to write (default: the topic read)\n"
	"  -k, --key KEY            only events with this key (repeatable)\n"
	"  --programme N            only events of programme N: an id, or else a name\n"
	"                           (repeatable; decodes the values with the registry)\n"
	"  --dry-run                read and count, publish nothing\n"
	"  Shows progress on stderr (a bar on a terminal, else a log line every 2 s) and\n"
	"  prints one JSON summary line: {\"read\",\"matched\",\"copied\",\"failed\",...}.\n"
	"  Exit status 0 when every matching event was copied, else 1.\n"
	"  Examples:\n"
	"    imislink replay rewind -g imislink-enroll --to-datetime 2026-11-21T08:00:00Z\n"
	"    imislink replay rewind -g imislink-enroll --to-datetime 2026-11-21T08:00:00Z --execute\n"
	"    imislink replay republish --from 2026-11-21T08:00Z --to 2026-11-21T09:00Z --programme 7\n",
	cmd_replay,
};
