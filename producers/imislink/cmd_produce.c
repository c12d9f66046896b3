/*
 * cmd_produce.c - `imislink produce`: JSON lines in, Avro events to Kafka.
 *
 * Each line is an EligibilityEvent in its JSON form or an openSPP individual
 * body.  A line's fate is printed only when it is known for certain: refused
 * at once (with every reason), published or failed only from the delivery
 * report, so the output is a receipt an operator can rely on.
 */
#include <errno.h>
#include <stdarg.h>
#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <librdkafka/rdkafka.h>

#include "avro.h"
#include "buf.h"
#include "event.h"
#include "imislink.h"
#include "kafka.h"
#include "log.h"
#include "serde.h"
#include "sig.h"
#include "text.h"
#include "timefmt.h"
#include "xalloc.h"

/* Lines queued but not yet reported: bounds memory for any input size while
 * keeping enough in flight for librdkafka to batch. */
#define PRODUCE_MAX_INFLIGHT 10000
/* Progress lines: every this many ms, once more than PROGRESS_AFTER lines. */
#define PRODUCE_PROGRESS_MS 2000
#define PRODUCE_PROGRESS_AFTER 5000
/* How long one send may wait for room in librdkafka's local queue. */
#define PRODUCE_SEND_BLOCK_MS 30000
/* How long an interrupted run waits for outstanding delivery reports. */
#define PRODUCE_DRAIN_MS 10000
/* Room for the reasons of one refused line. */
#define PRODUCE_REASON_MAX 4096

enum produce_format {
	FORMAT_AUTO,            /* decide per line */
	FORMAT_EVENT,           /* EligibilityEvent JSON form */
	FORMAT_OPENSPP,         /* openSPP individual body */
};

/* What a queued message carries to its delivery report. */
struct produce_msg {
	unsigned long long line;        /* input line number, from 1 */
	char event_id[65];              /* the event's id, for the receipt */
};

struct produce {
	/* options */
	const char *topic;              /* -t, else topic.eligibility */
	const char *file;               /* -f; NULL or "-" is stdin */
	enum produce_format format;     /* --format */
	long long programme_id;         /* --programme-id, -1 when not given */
	const char *programme_name;     /* --programme-name */
	const char *position_prefix;    /* --position-prefix, else the file name */

	/* resources */
	il_conf *conf;                  /* borrowed from main */
	il_schema_set *schemas;         /* schemas.dir */
	const il_schema *schema;        /* latest EligibilityEvent, in schemas */
	il_serde *sd;                   /* encoder and schema ids */
	il_producer *p;                 /* idempotent producer */
	FILE *in;                       /* the input */
	il_event_ctx ectx;              /* instance and key id type */
	il_buf line;                    /* current line, bounded */
	il_buf value;                   /* encoded message, bounded */

	/* state */
	unsigned long long lines;       /* lines read, blank ones included */
	unsigned long long published;   /* delivery reports that said success */
	unsigned long long refused;     /* lines refused before sending */
	unsigned long long failed;      /* lines that could not be delivered */
	unsigned long long inflight;    /* sent, report not yet seen */
	long long start_ms;             /* when reading began */
	long long next_progress_ms;     /* when the next progress line is due */
	bool progress;                  /* the input is not a terminal */
	bool fatal;                     /* stop: nothing more can be published */
	bool interrupted;               /* stop: SIGINT/SIGTERM */
};

/* Prints a line's receipt for a refusal or failure; @p reason may hold
 * several lines, and bytes that are not UTF-8 are shown as '?'. */
static void
print_status(unsigned long long line, const char *status, const char *reason)
{
	cJSON *out = cJSON_CreateObject();
	char *safe = il_xstrdup(reason);
	size_t i;

	if (!il_text_utf8_valid(safe, strlen(safe), NULL)) {
		for (i = 0; safe[i] != '\0'; i++) {
			if ((unsigned char)safe[i] >= 0x80)
				safe[i] = '?';
		}
	}
	cJSON_AddNumberToObject(out, "line", (double)line);
	cJSON_AddStringToObject(out, "status", status);
	cJSON_AddStringToObject(out, "reason", safe);
	il_cli_print_json(out);
	cJSON_Delete(out);
	free(safe);
}

__attribute__((format(printf, 2, 3)))
static void
refuse(struct produce *pr, const char *fmt, ...)
{
	char reason[PRODUCE_REASON_MAX];
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(reason, sizeof(reason), fmt, ap);
	va_end(ap);
	pr->refused++;
	print_status(pr->lines, "refused", reason);
}

static void
on_delivery(void *msg_opaque, il_err err, const char *errstr, const char *topic,
    int32_t partition, int64_t offset, void *cb_ctx)
{
	struct produce *pr = cb_ctx;
	struct produce_msg *m = msg_opaque;
	char reason[512];

	(void)topic;
	pr->inflight--;
	if (err == IL_OK) {
		pr->published++;
		printf("{\"line\":%llu,\"status\":\"published\",\"event_id\":\"%s\","
		    "\"partition\":%d,\"offset\":%lld}\n",
		    m->line, m->event_id, (int)partition, (long long)offset);
	} else {
		pr->failed++;
		snprintf(reason, sizeof(reason), "delivery: %s", errstr != NULL ? errstr : il_err_str(err));
		print_status(m->line, "failed", reason);
	}
	free(m);
}

/*
 * Reads one line into pr->line without its newline (and a CR before it).
 * A line over the buffer's bound is read to its end and dropped, with
 * *toolong set, so one huge line costs no more memory than a legal one.
 * @returns 1 for a line, 0 at the end of input, -1 on a read error.
 */
static int
read_line(struct produce *pr, bool *toolong)
{
	char chunk[4096];
	size_t n = 0;
	bool any = false;
	int c;

	il_buf_reset(&pr->line);
	*toolong = false;
	while ((c = getc_unlocked(pr->in)) != EOF) {
		any = true;
		if (c == '\n')
			break;
		if (*toolong)
			continue;
		chunk[n++] = (char)c;
		if (n == sizeof(chunk)) {
			if (il_buf_add(&pr->line, chunk, n) != IL_OK)
				*toolong = true;
			n = 0;
		}
	}
	if (c == EOF && ferror(pr->in))
		return -1;
	if (!any)
		return 0;
	if (!*toolong && n > 0 && il_buf_add(&pr->line, chunk, n) != IL_OK)
		*toolong = true;
	if (!*toolong && pr->line.len > 0 && pr->line.data[pr->line.len - 1] == '\r')
		pr->line.data[--pr->line.len] = '\0';
	return 1;
}

static bool
is_blank(const il_buf *b)
{
	size_t i;

	for (i = 0; i < b->len; i++) {
		if (b->data[i] != ' ' && b->data[i] != '\t')
			return false;
	}
	return true;
}

/* @returns the format of @p json under auto: NULL reason when known. */
static enum produce_format
detect_format(const cJSON *json, const char **reason)
{
	static const char *const openspp_marks[] = {
		"ids", "given_name", "family_name", "is_group", "phone_numbers", "registration_date",
	};
	size_t i;

	*reason = NULL;
	if (cJSON_GetObjectItemCaseSensitive(json, "event_type") != NULL)
		return FORMAT_EVENT;
	for (i = 0; i < sizeof(openspp_marks) / sizeof(openspp_marks[0]); i++) {
		if (cJSON_GetObjectItemCaseSensitive(json, openspp_marks[i]) != NULL)
			return FORMAT_OPENSPP;
	}
	*reason = "neither an EligibilityEvent (no \"event_type\") nor an openSPP individual body "
	    "(no \"ids\", \"given_name\", \"family_name\" or \"is_group\")";
	return FORMAT_AUTO;
}

static const char *
str_member(const cJSON *obj, const char *name)
{
	const cJSON *v = cJSON_GetObjectItemCaseSensitive(obj, name);

	return cJSON_IsString(v) ? v->valuestring : NULL;
}

/* Sets member @p name of @p obj to @p item, replacing any old value. */
static void
set_member(cJSON *obj, const char *name, cJSON *item)
{
	if (cJSON_GetObjectItemCaseSensitive(obj, name) != NULL)
		cJSON_ReplaceItemInObjectCaseSensitive(obj, name, item);
	else
		cJSON_AddItemToObject(obj, name, item);
}

/* Completes an event given in its JSON form: a missing event_id is derived
 * from its source as any producer would, a missing produced_at is now. */
static void
complete_event(cJSON *event, const char *position)
{
	const cJSON *id = cJSON_GetObjectItemCaseSensitive(event, "event_id");
	const cJSON *at = cJSON_GetObjectItemCaseSensitive(event, "produced_at");
	const cJSON *src = cJSON_GetObjectItemCaseSensitive(event, "source");
	char eid[65], ts[IL_TIME_LEN];
	const char *pos;

	if (id == NULL || cJSON_IsNull(id)) {
		/* Without a source position the line's own position keeps two
		 * different events of one file from sharing an id. */
		pos = str_member(src, "position");
		il_event_id(str_member(src, "system"), str_member(src, "instance"),
		    str_member(src, "kind"), pos != NULL ? pos : position,
		    str_member(src, "table"), str_member(src, "primary_key"), eid);
		set_member(event, "event_id", cJSON_CreateString(eid));
	}
	if (at == NULL || cJSON_IsNull(at)) {
		il_time_format_ms(il_event_now_ms(), ts);
		set_member(event, "produced_at", cJSON_CreateString(ts));
	}
}

static void
add_programme(struct produce *pr, cJSON *event)
{
	cJSON *prog;

	if (pr->programme_id < 0 && pr->programme_name == NULL)
		return;
	prog = cJSON_CreateObject();
	if (pr->programme_id >= 0)
		cJSON_AddNumberToObject(prog, "id", (double)pr->programme_id);
	else
		cJSON_AddNullToObject(prog, "id");
	if (pr->programme_name != NULL)
		cJSON_AddStringToObject(prog, "name", pr->programme_name);
	else
		cJSON_AddNullToObject(prog, "name");
	cJSON_AddNullToObject(prog, "target_type");
	set_member(event, "programme", prog);
}

/*
 * Turns the parsed line into an event in JSON form.
 * @returns the event (the caller frees it; it may be @p json itself, then
 * *json_taken is set), or NULL after refusing the line.
 */
static cJSON *
line_to_event(struct produce *pr, cJSON *json, bool *json_taken)
{
	char position[512], reasons[PRODUCE_REASON_MAX];
	enum produce_format fmt = pr->format;
	const char *why = NULL;
	cJSON *event;

	*json_taken = false;
	if (!cJSON_IsObject(json)) {
		refuse(pr, "line: expected a JSON object, got %s",
		    cJSON_IsArray(json) ? "an array" : "a scalar");
		return NULL;
	}
	if (fmt == FORMAT_AUTO)
		fmt = detect_format(json, &why);
	if (why != NULL) {
		refuse(pr, "line: %s", why);
		return NULL;
	}
	snprintf(position, sizeof(position), "%s:%llu", pr->position_prefix, pr->lines);
	if (fmt == FORMAT_EVENT) {
		complete_event(json, position);
		*json_taken = true;
		return json;
	}
	event = il_event_from_openspp(&pr->ectx, json, "FILE", position, reasons, sizeof(reasons));
	if (event == NULL) {
		refuse(pr, "%s", reasons);
		return NULL;
	}
	add_programme(pr, event);
	return event;
}

/* Waits until fewer than PRODUCE_MAX_INFLIGHT lines are unreported. */
static void
wait_for_room(struct produce *pr)
{
	while (pr->inflight >= PRODUCE_MAX_INFLIGHT && !pr->fatal) {
		il_producer_poll(pr->p, 100);
		if (il_producer_fatal(pr->p, NULL, 0) == IL_ERR_FATAL)
			pr->fatal = true;
	}
}

/* Encodes and sends one event; the receipt comes from the delivery report. */
static void
publish(struct produce *pr, const cJSON *event)
{
	char errbuf[PRODUCE_REASON_MAX], *key = NULL;
	struct produce_msg *m;
	const cJSON *id;
	il_err err;

	key = il_event_key(&pr->ectx, event, errbuf, sizeof(errbuf));
	if (key == NULL) {
		refuse(pr, "%s", errbuf);
		return;
	}
	il_buf_reset(&pr->value);
	errbuf[0] = '\0';
	err = il_serde_encode(pr->sd, pr->topic, pr->schema, event, &pr->value, errbuf, sizeof(errbuf));
	if (IL_ERR_CLASS(err) == IL_ERR_ENCODE || IL_ERR_CLASS(err) == IL_ERR_INVALID) {
		refuse(pr, "%s", errbuf);
		goto done;
	}
	if (err == IL_ERR_NOMEM) {
		refuse(pr, "event: encoded form is larger than avro.max.message.bytes (%zu bytes)", pr->value.max);
		goto done;
	}
	if (err != IL_OK) {
		/* The registry refused or cannot be reached: every further
		 * line would fail the same way. */
		pr->failed++;
		print_status(pr->lines, "failed", errbuf[0] != '\0' ? errbuf : il_err_str(err));
		il_log_error("schema registry failed, stopping", IL_STR("reason", errbuf));
		pr->fatal = true;
		goto done;
	}

	wait_for_room(pr);
	if (pr->fatal) {
		pr->failed++;
		print_status(pr->lines, "failed", "delivery: the producer hit a fatal error");
		goto done;
	}
	m = il_xmalloc(sizeof(*m));
	m->line = pr->lines;
	id = cJSON_GetObjectItemCaseSensitive(event, "event_id");
	snprintf(m->event_id, sizeof(m->event_id), "%s", cJSON_IsString(id) ? id->valuestring : "");
	pr->inflight++;
	err = il_producer_send(pr->p, pr->topic, RD_KAFKA_PARTITION_UA, key, strlen(key),
	    pr->value.data, pr->value.len, NULL, 0, m, PRODUCE_SEND_BLOCK_MS);
	if (err != IL_OK) {
		pr->inflight--;
		pr->failed++;
		free(m);
		if (err == IL_ERR_FATAL)
			pr->fatal = true;
		print_status(pr->lines, "failed", err == IL_ERR_TIMEOUT ?
		    "delivery: the local queue stayed full" : err == IL_ERR_FATAL ?
		    "delivery: the producer hit a fatal error" :
		    "delivery: the producer refused the message (unknown topic or too large)");
	}

done:
	free(key);
}

static void
handle_line(struct produce *pr, bool toolong)
{
	const char *end = NULL;
	bool taken = false;
	cJSON *json, *event;

	if (toolong) {
		refuse(pr, "line: longer than avro.max.message.bytes (%zu bytes)", pr->line.max);
		return;
	}
	if (is_blank(&pr->line))
		return;
	if (memchr(pr->line.data, '\0', pr->line.len) != NULL) {
		refuse(pr, "line: contains a NUL byte");
		return;
	}
	json = cJSON_ParseWithOpts(pr->line.data, &end, 1);
	if (json == NULL) {
		refuse(pr, "line: invalid JSON at byte %zu",
		    end != NULL && end >= pr->line.data ? (size_t)(end - pr->line.data) + 1 : (size_t)1);
		return;
	}
	event = line_to_event(pr, json, &taken);
	if (event != NULL)
		publish(pr, event);
	if (!taken)
		cJSON_Delete(json);
	cJSON_Delete(event);
}

static void
log_progress(struct produce *pr, const char *msg)
{
	long long elapsed = il_event_now_ms() - pr->start_ms;

	il_log_info(msg, IL_STR("topic", pr->topic), IL_INT("lines", pr->lines),
	    IL_INT("published", pr->published), IL_INT("refused", pr->refused),
	    IL_INT("failed", pr->failed), IL_INT("in_flight", pr->inflight),
	    IL_INT("elapsed_ms", elapsed),
	    IL_DBL("rate_per_s", elapsed > 0 ? (double)pr->lines * 1000.0 / (double)elapsed : 0.0));
}

static void
maybe_progress(struct produce *pr)
{
	long long now;

	if (!pr->progress || pr->lines <= PRODUCE_PROGRESS_AFTER)
		return;
	now = il_event_now_ms();
	if (now < pr->next_progress_ms)
		return;
	pr->next_progress_ms = now + PRODUCE_PROGRESS_MS;
	fflush(stdout);
	log_progress(pr, "produce progress");
}

static void
read_input(struct produce *pr)
{
	bool toolong;
	int rc;

	while (!pr->fatal) {
		if (il_sig_stop_requested()) {
			pr->interrupted = true;
			break;
		}
		rc = read_line(pr, &toolong);
		if (rc == 0)
			break;
		if (rc < 0) {
			if (errno == EINTR) {
				/* A signal cut the read short: go on unless it was
				 * a stop request, checked at the top. */
				clearerr(pr->in);
				continue;
			}
			il_log_error("could not read input", IL_STR("file", pr->file), IL_STR("reason", strerror(errno)));
			pr->fatal = true;
			break;
		}
		pr->lines++;
		handle_line(pr, toolong);
		il_producer_poll(pr->p, 0);
		if (il_producer_fatal(pr->p, NULL, 0) == IL_ERR_FATAL)
			pr->fatal = true;
		maybe_progress(pr);
	}
}

/* Waits for every delivery report; a stop request or a fatal error bounds the
 * wait, and what is still queued then is purged and reported as failed. */
static void
drain(struct produce *pr)
{
	long long deadline = -1;
	int i;

	while (pr->inflight > 0) {
		if (deadline < 0 && (pr->interrupted || pr->fatal || il_sig_stop_requested())) {
			if (!pr->fatal)
				pr->interrupted = true;
			deadline = il_event_now_ms() + PRODUCE_DRAIN_MS;
		}
		if (deadline >= 0 && il_event_now_ms() >= deadline)
			break;
		il_producer_poll(pr->p, 100);
		if (il_producer_fatal(pr->p, NULL, 0) == IL_ERR_FATAL)
			pr->fatal = true;
	}
	if (pr->inflight == 0)
		return;
	il_log_warn("purging messages not yet delivered", IL_INT("count", pr->inflight));
	rd_kafka_purge(il_producer_handle(pr->p), RD_KAFKA_PURGE_F_QUEUE | RD_KAFKA_PURGE_F_INFLIGHT);
	for (i = 0; i < 50 && pr->inflight > 0; i++)
		il_producer_poll(pr->p, 100);
}

static void
parse_options(struct produce *pr, int argc, char **argv)
{
	static const struct option longopts[] = {
		/* where to */
		{ "topic", required_argument, NULL, 't' },
		/* what */
		{ "file", required_argument, NULL, 'f' },
		{ "format", required_argument, NULL, 'F' },
		/* openSPP bodies */
		{ "programme-id", required_argument, NULL, 'P' },
		{ "programme-name", required_argument, NULL, 'N' },
		{ "position-prefix", required_argument, NULL, 'x' },
		{ "help", no_argument, NULL, 'h' },
		{ NULL, 0, NULL, 0 },
	};
	int c;

	optind = 0;
	while ((c = getopt_long(argc, argv, "t:f:h", longopts, NULL)) != -1) {
		switch (c) {
		case 't':
			pr->topic = optarg;
			break;
		case 'f':
			pr->file = optarg;
			break;
		case 'F':
			if (strcmp(optarg, "auto") == 0)
				pr->format = FORMAT_AUTO;
			else if (strcmp(optarg, "event") == 0)
				pr->format = FORMAT_EVENT;
			else if (strcmp(optarg, "openspp") == 0)
				pr->format = FORMAT_OPENSPP;
			else
				il_cli_usage_error("produce", "invalid value for --format: expected auto, "
				    "event or openspp, got \"%s\"", optarg);
			break;
		case 'P':
			if (!il_cli_parse_int(optarg, 0, 9007199254740992LL, &pr->programme_id))
				il_cli_usage_error("produce", "invalid value for --programme-id: expected "
				    "a non-negative integer, got \"%s\"", optarg);
			break;
		case 'N':
			pr->programme_name = optarg;
			break;
		case 'x':
			pr->position_prefix = optarg;
			break;
		case 'h':
			il_cli_cmd_usage(&il_cmd_produce_entry);
		default:
			il_cli_usage_error("produce", "invalid option");
		}
	}
	if (optind < argc)
		il_cli_usage_error("produce", "unexpected argument \"%s\"", argv[optind]);
	if (pr->format == FORMAT_EVENT && (pr->programme_id >= 0 || pr->programme_name != NULL))
		il_cli_usage_error("produce", "--programme-id and --programme-name apply to openSPP bodies, "
		    "not to --format event");
}

/* Opens the input and the Kafka, Avro and registry clients; fatal on error. */
static void
setup(struct produce *pr)
{
	char errbuf[1024];
	const char *base;
	struct stat st;

	if (pr->file == NULL || strcmp(pr->file, "-") == 0) {
		pr->in = stdin;
		pr->file = "-";
		base = "stdin";
	} else {
		pr->in = fopen(pr->file, "r");
		if (pr->in == NULL)
			il_cli_fatal("could not open file \"%s\": %s", pr->file, strerror(errno));
		base = strrchr(pr->file, '/') != NULL ? strrchr(pr->file, '/') + 1 : pr->file;
	}
	/* The base name, so the same file read from another directory gives
	 * the same positions and so the same event ids. */
	if (pr->position_prefix == NULL)
		pr->position_prefix = base;
	pr->progress = !isatty(fileno(pr->in));
	/* Streamed input (a pipe, a terminal) may pause for a long time: each
	 * receipt must then reach the reader at once, not when a buffer fills. */
	if (fstat(fileno(pr->in), &st) != 0 || !S_ISREG(st.st_mode))
		setvbuf(stdout, NULL, _IOLBF, 0);

	pr->sd = il_cli_serde_new(pr->conf, &pr->schemas);
	pr->schema = il_schema_set_latest(pr->schemas, "EligibilityEvent");
	if (pr->schema == NULL)
		il_cli_fatal("no EligibilityEvent schema in \"%s\"", il_conf_get(pr->conf, "schemas.dir"));
	pr->p = il_producer_new(pr->conf, on_delivery, pr, errbuf, sizeof(errbuf));
	if (pr->p == NULL)
		il_cli_fatal("%s", errbuf);
	il_cli_topic_partitions(il_producer_handle(pr->p), pr->topic,
	    il_conf_get(pr->conf, "kafka.bootstrap.servers"));
}

static int
cmd_produce(il_cli *cli, int argc, char **argv)
{
	struct produce pr = {
		.format = FORMAT_AUTO,
		.programme_id = -1,
		.conf = cli->conf,
	};
	size_t max;
	int rc;

	parse_options(&pr, argc, argv);
	if (pr.topic == NULL)
		pr.topic = il_conf_get(pr.conf, "topic.eligibility");
	pr.ectx.instance = il_conf_get(pr.conf, "openspp.instance");
	pr.ectx.key_id_type = il_conf_get(pr.conf, "openspp.key.id.type");
	max = (size_t)il_conf_get_int(pr.conf, "avro.max.message.bytes");
	il_buf_init(&pr.line, max);
	il_buf_init(&pr.value, max);
	il_sig_install();
	setup(&pr);

	pr.start_ms = il_event_now_ms();
	pr.next_progress_ms = pr.start_ms + PRODUCE_PROGRESS_MS;
	read_input(&pr);
	drain(&pr);
	if (fflush(stdout) != 0 || ferror(stdout)) {
		il_log_error("could not write the receipts to stdout", IL_STR("reason", strerror(errno)));
		pr.fatal = true;
	}
	if (pr.interrupted)
		il_log_warn("produce interrupted before the end of the input", IL_INT("lines", pr.lines));
	log_progress(&pr, "produce finished");

	if (pr.failed > 0 || pr.fatal || pr.interrupted || pr.inflight > 0)
		rc = 1;
	else if (pr.refused > 0)
		rc = 2;
	else
		rc = 0;

	il_producer_destroy(pr.p);
	il_serde_destroy(pr.sd);
	il_schema_set_destroy(pr.schemas);
	il_buf_free(&pr.line);
	il_buf_free(&pr.value);
	if (pr.in != stdin)
		fclose(pr.in);
	return rc;
}

const il_cmd_entry il_cmd_produce_entry = {
	"produce",
	"produce [-t TOPIC] [-f FILE|-] [--format auto|event|openspp] [--programme-id N]\n"
	"          [--programme-name S] [--position-prefix S]",
	"  -t, --topic TOPIC        topic to publish to (default: topic.eligibility)\n"
	"  -f, --file FILE|-        JSON lines to read (default -: standard input)\n"
	"  --format FORMAT          auto (default): a line with \"event_type\" is an\n"
	"                           EligibilityEvent in JSON form, one with openSPP members\n"
	"                           (ids, given_name, is_group, ...) an openSPP individual;\n"
	"                           event or openspp force one reading\n"
	"  --programme-id N         programme.id of events made from openSPP bodies\n"
	"  --programme-name S       programme.name of events made from openSPP bodies\n"
	"  --position-prefix S      source.position of an openSPP line is S:LINE\n"
	"                           (default: the file's base name, or \"stdin\")\n"
	"  Prints one JSON line per input line once its fate is known:\n"
	"  {\"line\":N,\"status\":\"published\",\"event_id\":...,\"partition\":P,\"offset\":O}\n"
	"  after the broker acknowledged it, \"refused\" with every reason, or \"failed\".\n"
	"  Exit status: 0 all published, 2 some refused, 1 delivery failures or fatal.\n",
	cmd_produce,
};
