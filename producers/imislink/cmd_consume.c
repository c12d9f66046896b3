/*
 * cmd_consume.c - `imislink consume`: kcat -C with Avro decoding.
 *
 * One JSON line per message on stdout.  Bytes that do not decode are shown
 * with the precise reason and in base64, and the run goes on: an operator
 * looking at a topic wants to see the bad message, not lose the rest.  A
 * failed stdout (a reader that went away) ends the run, and with -G only
 * what was flushed to stdout is committed.
 */
#include <errno.h>
#include <getopt.h>
#include <poll.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <librdkafka/rdkafka.h>

#include "avro.h"
#include "event.h"
#include "imislink.h"
#include "kafka.h"
#include "log.h"
#include "serde.h"
#include "sig.h"
#include "timefmt.h"
#include "xalloc.h"

/* The wait of one poll; bounds how late a signal or -c is noticed. */
#define CONSUME_POLL_MS 200
/* With -G, printed offsets are committed this often, and at the end. */
#define CONSUME_COMMIT_MS 1000
#define CONSUME_COMMIT_MSGS 1000

/* Per-partition state, indexed by partition id. */
struct consume_part {
	bool assigned;          /* ours now */
	bool eof;               /* reached the end and nothing came since */
	int64_t commit;         /* -G: next offset to commit, -1 when nothing new */
};

struct consume {
	/* options */
	const char *topic;      /* -t, else topic.eligibility */
	int64_t offset;         /* -o: a logical or absolute offset */
	bool offset_given;      /* -o was given */
	long long from_ms;      /* --from-time, -1 when not given */
	long long count;        /* -c, -1 for no limit */
	bool exit_eof;          /* -e */
	long long partition;    /* -p, -1 for all */
	const char *group;      /* -G, NULL for no group */

	/* resources */
	il_conf *conf;          /* borrowed from main */
	il_schema_set *schemas; /* local schemas (offline ids, and first lookups) */
	il_serde *sd;           /* schema lookups by id, local then registry */
	size_t max_msg;         /* avro.max.message.bytes: larger values are not decoded */
	il_consumer *c;         /* the consumer */

	/* state */
	struct consume_part *parts;     /* grown to the highest partition seen */
	int nparts;                     /* entries in parts */
	int assigned;                   /* partitions assigned */
	int at_eof;                     /* assigned partitions at their end */
	long long printed;              /* messages printed */
	long long uncommitted;          /* -G: printed since the last commit */
	long long next_commit_ms;       /* -G: when to commit next */
	bool fatal;                     /* a topic, consumer or output error ends the run */
	bool out_failed;                /* stdout failed: nothing more is handed on */
};

static struct consume_part *
part(struct consume *cs, int32_t p)
{
	int i;

	if (p < 0)
		return NULL;
	if (p >= cs->nparts) {
		cs->parts = il_xrealloc(cs->parts, ((size_t)p + 1) * sizeof(*cs->parts));
		for (i = cs->nparts; i <= p; i++) {
			cs->parts[i].assigned = false;
			cs->parts[i].eof = false;
			cs->parts[i].commit = -1;
		}
		cs->nparts = p + 1;
	}
	return &cs->parts[p];
}

static void
set_eof(struct consume *cs, int32_t p, bool eof)
{
	struct consume_part *pt = part(cs, p);

	if (pt == NULL || !pt->assigned || pt->eof == eof)
		return;
	pt->eof = eof;
	cs->at_eof += eof ? 1 : -1;
}

static void
set_assigned(struct consume *cs, int32_t p, bool assigned)
{
	struct consume_part *pt = part(cs, p);

	if (pt == NULL || pt->assigned == assigned)
		return;
	if (!assigned)
		set_eof(cs, p, false);
	pt->assigned = assigned;
	cs->assigned += assigned ? 1 : -1;
}

/* Ends the run after stdout failed with @p err (the errno saved at the
 * failure): a reader that went away (EPIPE) or a full disk must not leave
 * the tool reading, and committing, messages that nobody receives. */
static void
output_failed(struct consume *cs, int err)
{
	cs->fatal = true;
	if (cs->out_failed)
		return;
	cs->out_failed = true;
	il_log_error("could not write messages to stdout, stopping", IL_STR("topic", cs->topic),
	    IL_STR("reason", strerror(err)));
}

/*
 * Hands on what was printed.  @returns false after an output failure: then
 * nothing printed since the last successful flush may count as received.
 */
static bool
flush_output(struct consume *cs)
{
	int err;

	if (cs->out_failed)
		return false;
	errno = 0;
	if (fflush(stdout) == 0 && !ferror(stdout))
		return true;
	err = errno != 0 ? errno : EIO;
	output_failed(cs, err);
	return false;
}

/* @returns true when stdout is a pipe or socket whose reader went away: a
 * write would fail with EPIPE, but an idle consumer writes nothing. */
static bool
output_closed(void)
{
	struct pollfd pfd = { STDOUT_FILENO, 0, 0 };

	return poll(&pfd, 1, 0) == 1 && (pfd.revents & (POLLERR | POLLHUP)) != 0;
}

/* Commits what was printed, stdout flushed first so a committed message was
 * really handed on (a failed flush commits nothing); @p only limits it to
 * one partition (-1: all). */
static void
commit_printed(struct consume *cs, int32_t only, bool sync)
{
	char errbuf[512];
	int i;

	if (cs->group == NULL)
		return;
	if (!flush_output(cs))
		return;
	for (i = 0; i < cs->nparts; i++) {
		if (cs->parts[i].commit < 0 || (only >= 0 && i != only))
			continue;
		if (il_consumer_commit(cs->c, cs->topic, i, cs->parts[i].commit, !sync,
		    errbuf, sizeof(errbuf)) != IL_OK)
			il_log_warn("could not commit offset", IL_STR("topic", cs->topic),
			    IL_INT("partition", i), IL_INT("offset", cs->parts[i].commit),
			    IL_STR("reason", errbuf));
		cs->parts[i].commit = -1;
	}
	if (only < 0) {
		cs->uncommitted = 0;
		cs->next_commit_ms = il_event_now_ms() + CONSUME_COMMIT_MS;
	}
}

static void
maybe_commit(struct consume *cs)
{
	if (cs->group == NULL || cs->uncommitted == 0)
		return;
	if (cs->uncommitted >= CONSUME_COMMIT_MSGS || il_event_now_ms() >= cs->next_commit_ms)
		commit_printed(cs, -1, false);
}

static void
on_rebalance(il_consumer *c, bool assigned, const rd_kafka_topic_partition_list_t *parts, void *ctx)
{
	struct consume *cs = ctx;
	int i;

	(void)c;
	for (i = 0; i < parts->cnt; i++) {
		if (strcmp(parts->elems[i].topic, cs->topic) != 0)
			continue;
		/* Before a partition goes, what was printed of it is committed,
		 * so its next owner does not print it again. */
		if (!assigned)
			commit_printed(cs, parts->elems[i].partition, true);
		set_assigned(cs, parts->elems[i].partition, assigned);
	}
	il_log_debug(assigned ? "partitions assigned" : "partitions revoked",
	    IL_STR("group", cs->group), IL_INT("count", parts->cnt), IL_INT("assigned", cs->assigned));
}

static cJSON *
headers_json(const rd_kafka_message_t *rkm)
{
	rd_kafka_headers_t *hdrs = NULL;
	cJSON *out = cJSON_CreateObject(), *v;
	const void *val;
	const char *name;
	size_t i, size;

	if (rd_kafka_message_headers(rkm, &hdrs) != RD_KAFKA_RESP_ERR_NO_ERROR)
		return out;
	for (i = 0; rd_kafka_header_get_all(hdrs, i, &name, &val, &size) == RD_KAFKA_RESP_ERR_NO_ERROR; i++) {
		if (val == NULL) {
			v = cJSON_CreateNull();
		} else {
			v = il_cli_json_text(val, size);
			if (v == NULL) {
				v = cJSON_CreateObject();
				cJSON_AddItemToObject(v, "base64", il_cli_json_base64(val, size));
			}
		}
		cJSON_AddItemToObject(out, name, v);
	}
	return out;
}

/* Decodes a wire-format value, parsing its header once for both the schema
 * id (printed) and the body.  @returns IL_OK with *@p value set. */
static il_err
decode_value(struct consume *cs, const void *payload, size_t len, int32_t *schema_id,
    cJSON **value, char *errbuf, size_t errsz)
{
	const il_schema *writer = NULL;
	const void *body;
	size_t body_len;
	il_err err;

	*value = NULL;
	err = il_wire_parse(payload, len, cs->max_msg, schema_id, &body, &body_len, errbuf, errsz);
	if (err == IL_OK)
		err = il_serde_schema_by_id(cs->sd, *schema_id, &writer, errbuf, errsz);
	if (err == IL_OK)
		err = il_avro_decode_json(writer, body, body_len, value, errbuf, errsz);
	return err;
}

/* Prints one message; @returns false when stdout failed (the reason logged). */
static bool
print_message(struct consume *cs, const rd_kafka_message_t *rkm)
{
	const unsigned char *payload = rkm->payload;
	rd_kafka_timestamp_type_t tstype;
	char errbuf[1024] = "", ts[IL_TIME_LEN];
	cJSON *out = cJSON_CreateObject(), *value = NULL, *key = NULL;
	int64_t when = rd_kafka_message_timestamp(rkm, &tstype);
	il_err err = IL_ERR_DECODE_SHORT;
	int32_t schema_id = 0;
	bool ok;

	cJSON_AddStringToObject(out, "topic", rd_kafka_topic_name(rkm->rkt));
	cJSON_AddNumberToObject(out, "partition", rkm->partition);
	cJSON_AddNumberToObject(out, "offset", (double)rkm->offset);
	if (when >= 0) {
		il_time_format_ms(when, ts);
		cJSON_AddStringToObject(out, "timestamp", ts);
	} else {
		cJSON_AddNullToObject(out, "timestamp");
	}
	if (rkm->key != NULL)
		key = il_cli_json_text(rkm->key, rkm->key_len);
	cJSON_AddItemToObject(out, "key", key != NULL ? key : cJSON_CreateNull());
	if (rkm->key != NULL && key == NULL)
		cJSON_AddItemToObject(out, "key_base64", il_cli_json_base64(rkm->key, rkm->key_len));
	cJSON_AddItemToObject(out, "headers", headers_json(rkm));

	if (payload == NULL)
		il_err_setf(errbuf, sizeof(errbuf), "message has no value (a tombstone)");
	else
		err = decode_value(cs, payload, rkm->len, &schema_id, &value, errbuf, sizeof(errbuf));
	if (payload != NULL && err == IL_OK) {
		cJSON_AddNumberToObject(out, "schema_id", schema_id);
		cJSON_AddItemToObject(out, "value", value);
	} else {
		cJSON_AddStringToObject(out, "error", errbuf[0] != '\0' ? errbuf : il_err_str(err));
		cJSON_AddItemToObject(out, "value_base64", payload != NULL ?
		    il_cli_json_base64(payload, rkm->len) : cJSON_CreateNull());
		il_log_debug("undecodable message", IL_STR("topic", cs->topic),
		    IL_INT("partition", rkm->partition), IL_INT("offset", rkm->offset),
		    IL_STR("reason", errbuf));
	}
	ok = il_cli_print_json(out);
	if (!ok)
		output_failed(cs, errno);
	cJSON_Delete(out);
	return ok;
}

static void
handle_error(struct consume *cs, const rd_kafka_message_t *rkm)
{
	char errbuf[512];

	switch (rkm->err) {
	case RD_KAFKA_RESP_ERR__PARTITION_EOF:
		set_eof(cs, rkm->partition, true);
		return;
	case RD_KAFKA_RESP_ERR__UNKNOWN_TOPIC:
	case RD_KAFKA_RESP_ERR_UNKNOWN_TOPIC_OR_PART:
	case RD_KAFKA_RESP_ERR__UNKNOWN_PARTITION:
	case RD_KAFKA_RESP_ERR_TOPIC_AUTHORIZATION_FAILED:
	case RD_KAFKA_RESP_ERR_GROUP_AUTHORIZATION_FAILED:
		il_log_error("cannot consume", IL_STR("topic", cs->topic),
		    IL_STR("reason", rd_kafka_message_errstr(rkm)));
		cs->fatal = true;
		return;
	default:
		break;
	}
	if (il_consumer_fatal(cs->c, errbuf, sizeof(errbuf)) == IL_ERR_FATAL) {
		il_log_error("consumer failed", IL_STR("reason", errbuf));
		cs->fatal = true;
		return;
	}
	il_log_warn("consumer error", IL_STR("topic", cs->topic), IL_INT("partition", rkm->partition),
	    IL_STR("reason", rd_kafka_message_errstr(rkm)));
}

static bool
done(const struct consume *cs)
{
	if (cs->fatal || il_sig_stop_requested())
		return true;
	if (cs->count >= 0 && cs->printed >= cs->count)
		return true;
	return cs->exit_eof && cs->assigned > 0 && cs->at_eof >= cs->assigned;
}

static void
run(struct consume *cs)
{
	rd_kafka_message_t *rkm;
	struct consume_part *pt;

	while (!done(cs)) {
		rkm = il_consumer_poll(cs->c, CONSUME_POLL_MS);
		if (rkm == NULL) {
			/* Idle: hand on what was printed (a reader may be
			 * following the topic), committing it with -G. */
			if (output_closed())
				output_failed(cs, EPIPE);
			else if (flush_output(cs))
				maybe_commit(cs);
			continue;
		}
		if (rkm->err != RD_KAFKA_RESP_ERR_NO_ERROR) {
			handle_error(cs, rkm);
			rd_kafka_message_destroy(rkm);
			continue;
		}
		set_eof(cs, rkm->partition, false);
		if (!print_message(cs, rkm)) {
			/* Not printed: not counted, never committed. */
			rd_kafka_message_destroy(rkm);
			break;
		}
		cs->printed++;
		pt = part(cs, rkm->partition);
		if (cs->group != NULL && pt != NULL) {
			pt->commit = rkm->offset + 1;
			cs->uncommitted++;
		}
		rd_kafka_message_destroy(rkm);
		maybe_commit(cs);
	}
}

/* -p: one partition from an offset or a time, without a group. */
static void
assign_one(struct consume *cs, int partitions)
{
	rd_kafka_t *rk = il_consumer_handle(cs->c);
	rd_kafka_topic_partition_list_t *list;
	rd_kafka_resp_err_t err;
	int64_t offset = cs->offset;

	if (cs->partition >= partitions)
		il_cli_usage_error("consume", "partition %lld does not exist: topic \"%s\" has %d",
		    cs->partition, cs->topic, partitions);
	list = rd_kafka_topic_partition_list_new(1);
	rd_kafka_topic_partition_list_add(list, cs->topic, (int32_t)cs->partition);
	if (cs->from_ms >= 0) {
		list->elems[0].offset = cs->from_ms;
		err = rd_kafka_offsets_for_times(rk, list, 10000);
		if (err == RD_KAFKA_RESP_ERR_NO_ERROR)
			err = list->elems[0].err;
		if (err != RD_KAFKA_RESP_ERR_NO_ERROR)
			il_cli_fatal("could not find the offset of time %lld in topic \"%s\" partition %lld: %s",
			    cs->from_ms, cs->topic, cs->partition, rd_kafka_err2str(err));
		/* No message at or after the time: start at the end. */
		offset = list->elems[0].offset >= 0 ? list->elems[0].offset : RD_KAFKA_OFFSET_END;
	}
	list->elems[0].offset = offset;
	err = rd_kafka_assign(rk, list);
	rd_kafka_topic_partition_list_destroy(list);
	if (err != RD_KAFKA_RESP_ERR_NO_ERROR)
		il_cli_fatal("could not assign topic \"%s\" partition %lld: %s", cs->topic, cs->partition,
		    rd_kafka_err2str(err));
	set_assigned(cs, (int32_t)cs->partition, true);
}

static void
assign_all(struct consume *cs)
{
	rd_kafka_topic_partition_list_t *list = NULL;
	char errbuf[512];
	int i;

	if (il_consumer_assign_all(cs->c, cs->topic, cs->offset, cs->from_ms, errbuf, sizeof(errbuf)) != IL_OK)
		il_cli_fatal("%s", errbuf);
	if (rd_kafka_assignment(il_consumer_handle(cs->c), &list) != RD_KAFKA_RESP_ERR_NO_ERROR)
		il_cli_fatal("could not read the assignment of topic \"%s\"", cs->topic);
	for (i = 0; i < list->cnt; i++)
		set_assigned(cs, list->elems[i].partition, true);
	rd_kafka_topic_partition_list_destroy(list);
}

static void
parse_offset(struct consume *cs, const char *arg)
{
	long long n;

	cs->offset_given = true;
	if (strcmp(arg, "beginning") == 0)
		cs->offset = RD_KAFKA_OFFSET_BEGINNING;
	else if (strcmp(arg, "end") == 0)
		cs->offset = RD_KAFKA_OFFSET_END;
	else if (il_cli_parse_int(arg, 0, INT64_MAX, &n))
		cs->offset = n;
	else
		il_cli_usage_error("consume", "invalid value for -o: expected beginning, end or an offset, "
		    "got \"%s\"", arg);
}

static void
parse_options(struct consume *cs, int argc, char **argv)
{
	static const struct option longopts[] = {
		/* what */
		{ "topic", required_argument, NULL, 't' },
		{ "partition", required_argument, NULL, 'p' },
		{ "group", required_argument, NULL, 'G' },
		/* from where */
		{ "offset", required_argument, NULL, 'o' },
		{ "from-time", required_argument, NULL, 'T' },
		/* until when */
		{ "count", required_argument, NULL, 'c' },
		{ "exit-at-end", no_argument, NULL, 'e' },
		{ "help", no_argument, NULL, 'h' },
		{ NULL, 0, NULL, 0 },
	};
	long long n;
	int64_t ms;
	int c;

	optind = 0;
	while ((c = getopt_long(argc, argv, "t:p:G:o:c:eh", longopts, NULL)) != -1) {
		switch (c) {
		case 't':
			cs->topic = optarg;
			break;
		case 'p':
			if (!il_cli_parse_int(optarg, 0, INT32_MAX, &cs->partition))
				il_cli_usage_error("consume", "invalid value for -p: expected a partition "
				    "number, got \"%s\"", optarg);
			break;
		case 'G':
			cs->group = optarg;
			break;
		case 'o':
			parse_offset(cs, optarg);
			break;
		case 'T':
			if (il_time_parse_ms(optarg, IL_TIME_LENIENT | IL_TIME_MILLIS, &ms) != NULL)
				il_cli_usage_error("consume", "invalid value for --from-time: expected "
				    "ISO-8601 (2026-11-21T08:00:00Z) or milliseconds, got \"%s\"", optarg);
			cs->from_ms = ms;
			break;
		case 'c':
			if (!il_cli_parse_int(optarg, 1, INT64_MAX, &n))
				il_cli_usage_error("consume", "invalid value for -c: expected a positive "
				    "count, got \"%s\"", optarg);
			cs->count = n;
			break;
		case 'e':
			cs->exit_eof = true;
			break;
		case 'h':
			il_cli_cmd_usage(&il_cmd_consume_entry);
		default:
			il_cli_usage_error("consume", "invalid option");
		}
	}
	if (optind < argc)
		il_cli_usage_error("consume", "unexpected argument \"%s\"", argv[optind]);
	if (cs->offset_given && cs->from_ms >= 0)
		il_cli_usage_error("consume", "-o and --from-time do not mix: give one start");
	if (cs->group != NULL && (cs->partition >= 0 || cs->from_ms >= 0 ||
	    (cs->offset_given && cs->offset >= 0)))
		il_cli_usage_error("consume", "-G does not mix with -p, --from-time or -o OFFSET: the group "
		    "decides partitions and starts from its committed offsets");
}

/* The librdkafka settings the options imply, as if given with -X. */
static void
apply_options(struct consume *cs)
{
	char errbuf[512];

	if (cs->exit_eof &&
	    il_conf_set_rdkafka_arg(cs->conf, "enable.partition.eof=true", errbuf, sizeof(errbuf)) != IL_OK)
		il_cli_fatal("%s", errbuf);
	/* In a group -o only says where to begin without a committed offset. */
	if (cs->group != NULL && cs->offset_given &&
	    il_conf_set_rdkafka_arg(cs->conf, cs->offset == RD_KAFKA_OFFSET_END ?
	    "auto.offset.reset=latest" : "auto.offset.reset=earliest", errbuf, sizeof(errbuf)) != IL_OK)
		il_cli_fatal("%s", errbuf);
}

static int
cmd_consume(il_cli *cli, int argc, char **argv)
{
	struct consume cs = {
		.offset = RD_KAFKA_OFFSET_BEGINNING,
		.from_ms = -1,
		.count = -1,
		.partition = -1,
		.conf = cli->conf,
	};
	const char *topics[1];
	char errbuf[1024];

	parse_options(&cs, argc, argv);
	if (cs.topic == NULL)
		cs.topic = il_conf_get(cs.conf, "topic.eligibility");
	apply_options(&cs);
	il_sig_install();

	cs.sd = il_cli_serde_new(cs.conf, &cs.schemas);
	cs.max_msg = (size_t)il_conf_get_int(cs.conf, "avro.max.message.bytes");
	cs.c = il_consumer_new(cs.conf, cs.group, on_rebalance, &cs, errbuf, sizeof(errbuf));
	if (cs.c == NULL)
		il_cli_fatal("%s", errbuf);

	if (cs.group != NULL) {
		/* A missing topic comes back from the subscription as
		 * UNKNOWN_TOPIC_OR_PART, which ends the run (handle_error()). */
		topics[0] = cs.topic;
		if (il_consumer_subscribe(cs.c, topics, 1, errbuf, sizeof(errbuf)) != IL_OK)
			il_cli_fatal("%s", errbuf);
	} else if (cs.partition >= 0) {
		/* An assigned partition that does not exist is only logged by
		 * librdkafka, and a missing topic surfaces after
		 * topic.metadata.propagation.max.ms: look both up first. */
		assign_one(&cs, il_cli_topic_partitions(il_consumer_handle(cs.c), cs.topic,
		    il_conf_get(cs.conf, "kafka.bootstrap.servers")));
	} else {
		/* il_consumer_assign_all() looks the topic up and refuses a
		 * missing one itself. */
		assign_all(&cs);
	}

	cs.next_commit_ms = il_event_now_ms() + CONSUME_COMMIT_MS;
	run(&cs);
	commit_printed(&cs, -1, true);
	flush_output(&cs);
	il_log_info("consume finished", IL_STR("topic", cs.topic), IL_INT("messages", cs.printed));

	il_consumer_destroy(cs.c);
	il_serde_destroy(cs.sd);
	il_schema_set_destroy(cs.schemas);
	free(cs.parts);
	return cs.fatal ? 1 : 0;
}

const il_cmd_entry il_cmd_consume_entry = {
	"consume",
	"consume [-t TOPIC] [-o beginning|end|N] [--from-time ISO-8601|ms] [-c COUNT] [-e]\n"
	"          [-p PARTITION] [-G GROUP]",
	"  -t, --topic TOPIC        topic to read (default: topic.eligibility)\n"
	"  -o, --offset WHERE       beginning (default), end, or an offset; with -G only\n"
	"                           where to begin when the group has no committed offset\n"
	"  --from-time TIME         first message at or after TIME: ISO-8601\n"
	"                           (2026-11-21T08:00:00Z, +02:00 allowed) or ms since 1970\n"
	"  -c, --count COUNT        exit after COUNT messages\n"
	"  -e, --exit-at-end        exit when every partition is read to its end\n"
	"  -p, --partition N        read only partition N (default: all)\n"
	"  -G, --group GROUP        join consumer group GROUP, commit what was handed on\n"
	"                           to stdout (a reader that goes away ends the run, exit 1)\n"
	"  Prints one JSON line per message: {\"topic\",\"partition\",\"offset\",\"timestamp\",\n"
	"  \"key\",\"headers\",\"schema_id\",\"value\"}; a message that does not decode has\n"
	"  \"error\" (the reason) and \"value_base64\" instead, and the run goes on.\n",
	cmd_consume,
};
