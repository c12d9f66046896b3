/*
 * cmd_dlq.c - `imislink dlq`: the dead letters of the audit store (filled
 * by imislink-deadletter), for the operator who reads, counts, discards
 * and replays them.
 *
 *	dlq list     the dead letters of a filter, a table or JSON lines
 *	dlq show     one dead letter whole: headers and the decoded event
 *	dlq stats    counts by class and status, by day; results by outcome
 *	dlq discard  close dead letters nobody will replay, with a reason
 *	dlq replay   publish the original key and value to the source topic again
 *
 * Personal data (the event key, names, birthdates, ID values, phones,
 * email, address) is masked with il_log_mask() unless --unmask is given:
 * an operator's screen and terminal scrollback are as public as a log.
 *
 * A replay marks a row replayed only after Kafka's delivery report said the
 * broker has the message (acks=all), a page at a time, so a crash or a
 * failed delivery leaves the row open (or as it was) and the next run
 * replays it; rows already replayed are skipped unless --again, so running
 * the same replay twice publishes nothing the second time.  A stop request
 * purges what the producer has not sent yet (so nothing leaves behind an
 * open row), and what was sent without an answer is reported "in doubt".
 * One replay runs at a time (il_audit_replay_lock()): two would select the
 * same open rows.
 *
 * Only rows of the dead-letter topic (topic.dlq) that name their source
 * topic or hold an event are replayed: the audit store also keeps the
 * messages of the results topic that are no EnrollmentResult, and their
 * bytes are nothing the enrollment worker could take.  Those rows are
 * counted "not replayable", with the reason, and stay as they are.
 *
 * Each message carries three headers:
 *	__imislink.replay.of              "<topic>/<partition>/<offset>" of the
 *	                                  dead letter copied (the format of
 *	                                  `replay republish`)
 *	__imislink.replay.dead.letter.id  the row's id in the audit store
 *	                                  (decimal, as `dlq show ID` takes it)
 *	__imislink.replay.count           which replay of that dead letter this
 *	                                  is (1, 2, ...)
 */
#include <errno.h>
#include <getopt.h>
#include <inttypes.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <cjson/cJSON.h>
#include <librdkafka/rdkafka.h>

#include "audit.h"
#include "imislink.h"
#include "kafka.h"
#include "log.h"
#include "sig.h"
#include "text.h"
#include "timefmt.h"
#include "timers.h"
#include "xalloc.h"

/* Rows read from the store at a time by list and replay (--page-size):
 * bounds memory for any number of dead letters. */
#define DLQ_PAGE 500
#define DLQ_PAGE_MAX 100000
/* The longest single wait for delivery reports; bounds how late a stop
 * request is noticed. */
#define DLQ_WAIT_MS 100
/* How long an interrupted replay waits for the reports of what was sent,
 * then for those of what it purged. */
#define DLQ_DRAIN_MS 10000
#define DLQ_PURGE_MS 2000
/* Progress lines at most this often. */
#define DLQ_PROGRESS_MS 1000
/* A masked value: eight asterisks, two characters of up to four bytes. */
#define DLQ_MASK_LEN 32
/* The reason column of the table is cut to this many bytes. */
#define DLQ_REASON_COLS 72
/* The replay headers. */
#define DLQ_H_REPLAY_OF "__imislink.replay.of"
#define DLQ_H_REPLAY_DL_ID "__imislink.replay.dead.letter.id"
#define DLQ_H_REPLAY_COUNT "__imislink.replay.count"
#define DLQ_NHEADERS 3
/* Rows not replayable and delivery failures logged one by one. */
#define DLQ_LOG_ROWS 10

enum dlq_sub {
	SUB_LIST,
	SUB_SHOW,
	SUB_STATS,
	SUB_DISCARD,
	SUB_REPLAY,
	NSUBS
};
static const char *const sub_names[NSUBS] = { "list", "show", "stats", "discard", "replay" };

/* Options, each a bit, so a subcommand can refuse those that are not its. */
enum {
	OPT_STATUS = 0x1,
	OPT_CLASS = 0x2,
	OPT_PROGRAMME = 0x4,
	OPT_SINCE = 0x8,
	OPT_UNTIL = 0x10,
	OPT_LIMIT = 0x20,
	OPT_JSON = 0x40,
	OPT_UNMASK = 0x80,
	OPT_BY = 0x100,
	OPT_REASON = 0x200,
	OPT_DRY_RUN = 0x400,
	OPT_AGAIN = 0x800,
	OPT_ALL_OPEN = 0x1000,
	OPT_PAGE = 0x2000,
};
#define OPT_FILTERS (OPT_STATUS | OPT_CLASS | OPT_PROGRAMME | OPT_SINCE | OPT_UNTIL)

/* The options each subcommand takes. */
static const unsigned sub_options[NSUBS] = {
	[SUB_LIST] = OPT_FILTERS | OPT_LIMIT | OPT_JSON | OPT_UNMASK | OPT_PAGE,
	[SUB_SHOW] = OPT_UNMASK | OPT_JSON,
	[SUB_STATS] = OPT_FILTERS | OPT_JSON,
	[SUB_DISCARD] = OPT_BY | OPT_REASON | OPT_JSON,
	[SUB_REPLAY] = OPT_FILTERS | OPT_LIMIT | OPT_JSON | OPT_BY | OPT_REASON | OPT_DRY_RUN |
	    OPT_AGAIN | OPT_ALL_OPEN | OPT_PAGE,
};

/* Where a replayed message stands. */
enum slot_state {
	SLOT_PENDING,                   /* sent, no report yet */
	SLOT_OK,                        /* the broker has it */
	SLOT_FAILED,                    /* not delivered */
};

/* Why a selected row is not replayed whatever the options say. */
enum unreplayable {
	NR_NONE,                        /* replayable */
	NR_TOPIC,                       /* not a message of the dead-letter topic */
	NR_SOURCE,                      /* no source topic, and no event either */
	NR_COUNT
};
static const char *const nr_reasons[NR_COUNT] = {
	[NR_NONE] = "",
	[NR_TOPIC] = "not a message of the dead-letter topic (topic.dlq): nothing the enrollment "
	    "worker could take",
	[NR_SOURCE] = "no source topic (__connect.errors.topic) and no event id: not an event",
};

/* One message of a replay page: the delivery report's opaque. */
struct dlq_slot {
	struct dlq *d;                  /* the run */
	long long id;                   /* the dead letter */
	enum slot_state state;
	bool in_doubt;                  /* sent, no report when the run stopped */
};

struct dlq {
	/* options */
	enum dlq_sub sub;
	unsigned given;                 /* OPT_* seen */
	il_audit_filter f;              /* --status, --class, ... (ids below) */
	long long limit;                /* --limit, 0 for none */
	long long page;                 /* --page-size */
	bool json;                      /* --json */
	bool unmask;                    /* --unmask */
	const char *by;                 /* --by, else $USER */
	const char *reason;             /* --reason */
	bool dry_run;                   /* --dry-run */
	bool again;                     /* --again */
	bool all_open;                  /* --all-open */
	long long *ids;                 /* ID arguments, sorted, distinct */
	size_t nids;

	/* resources */
	il_conf *conf;                  /* borrowed from main */
	il_audit *a;                    /* the audit store */
	il_producer *p;                 /* replay only */
	const char *dlq_topic;          /* replay: topic.dlq, the only topic replayed from */
	char **topics_checked;          /* replay: source topics known to exist */
	size_t ntopics_checked;

	/* replay state */
	struct dlq_slot *slots;         /* the page in flight */
	size_t inflight;                /* slots still pending */
	bool fatal;                     /* the producer can no longer produce */
	bool interrupted;               /* SIGINT/SIGTERM */
	long long total;                /* rows the selection holds */
	long long examined;             /* rows looked at so far */
	long long replayed;             /* delivered and marked */
	long long skipped;              /* selected but not to be replayed */
	long long not_replayable[NR_COUNT]; /* selected, never replayable, by reason */
	long long failed;               /* not delivered, or delivered and not marked */
	long long in_doubt;             /* sent, no report: maybe delivered, rows left open */
	long long purged;               /* dropped unsent by a stop request, rows left open */
	bool purging;                   /* a purge's reports come: not logged one by one */
	long long start_ms;
	long long next_progress_ms;
	bool progress_tty;              /* progress as one rewritten line */
	int failure_logs;               /* delivery failures logged one by one */
};

static int
cmp_ids(const void *x, const void *y)
{
	long long a = *(const long long *)x, b = *(const long long *)y;

	return a < b ? -1 : a > b;
}

/* Takes the ID arguments: positive integers, kept sorted and distinct. */
static void
parse_ids(struct dlq *d, int argc, char **argv, int first)
{
	size_t i, n = 0;
	int k;

	d->ids = il_xcalloc((size_t)(argc - first) + 1, sizeof(*d->ids));
	for (k = first; k < argc; k++) {
		if (!il_cli_parse_int(argv[k], 1, INT64_MAX, &d->ids[n]))
			il_cli_usage_error("dlq", "invalid dead-letter id \"%s\": expected a positive integer", argv[k]);
		n++;
	}
	qsort(d->ids, n, sizeof(*d->ids), cmp_ids);
	d->nids = 0;
	for (i = 0; i < n; i++) {
		if (d->nids == 0 || d->ids[d->nids - 1] != d->ids[i])
			d->ids[d->nids++] = d->ids[i];
	}
}

static long long
parse_time(const char *opt, const char *arg)
{
	int64_t ms;

	if (il_time_parse_ms(arg, IL_TIME_LENIENT | IL_TIME_MILLIS, &ms) != NULL || ms < 0)
		il_cli_usage_error("dlq", "invalid value for %s: expected ISO-8601 or ms since 1970, "
		    "got \"%s\"", opt, arg);
	return (long long)ms;
}

static void
parse_options(struct dlq *d, int argc, char **argv)
{
	static const struct option longopts[] = {
		/* which dead letters */
		{ "status", required_argument, NULL, 's' },
		{ "class", required_argument, NULL, 'c' },
		{ "programme", required_argument, NULL, 'P' },
		{ "since", required_argument, NULL, 'S' },
		{ "until", required_argument, NULL, 'U' },
		{ "limit", required_argument, NULL, 'n' },
		{ "all-open", no_argument, NULL, 'A' },
		{ "page-size", required_argument, NULL, 'p' },
		/* output */
		{ "json", no_argument, NULL, 'j' },
		{ "unmask", no_argument, NULL, 'u' },
		/* changes */
		{ "by", required_argument, NULL, 'b' },
		{ "reason", required_argument, NULL, 'r' },
		{ "dry-run", no_argument, NULL, 'd' },
		{ "again", no_argument, NULL, 'a' },
		{ "help", no_argument, NULL, 'h' },
		{ NULL, 0, NULL, 0 },
	};
	static const struct { int c; unsigned bit; const char *name; } bits[] = {
		{ 's', OPT_STATUS, "--status" }, { 'c', OPT_CLASS, "--class" },
		{ 'P', OPT_PROGRAMME, "--programme" }, { 'S', OPT_SINCE, "--since" },
		{ 'U', OPT_UNTIL, "--until" }, { 'n', OPT_LIMIT, "--limit" },
		{ 'A', OPT_ALL_OPEN, "--all-open" }, { 'j', OPT_JSON, "--json" },
		{ 'u', OPT_UNMASK, "--unmask" }, { 'b', OPT_BY, "--by" },
		{ 'r', OPT_REASON, "--reason" }, { 'd', OPT_DRY_RUN, "--dry-run" },
		{ 'a', OPT_AGAIN, "--again" }, { 'p', OPT_PAGE, "--page-size" },
	};
	size_t i;
	int c, s;

	if (argc < 2)
		il_cli_usage_error("dlq", "no subcommand given: expected list, show, stats, discard or replay");
	if (strcmp(argv[1], "--help") == 0 || strcmp(argv[1], "-h") == 0)
		il_cli_cmd_usage(&il_cmd_dlq_entry);
	for (s = 0; s < NSUBS && strcmp(argv[1], sub_names[s]) != 0; s++)
		;
	if (s == NSUBS)
		il_cli_usage_error("dlq", "unknown subcommand \"%s\": expected list, show, stats, discard "
		    "or replay", argv[1]);
	d->sub = (enum dlq_sub)s;
	argc--;
	argv++;

	optind = 0;
	while ((c = getopt_long(argc, argv, "h", longopts, NULL)) != -1) {
		for (i = 0; i < sizeof(bits) / sizeof(bits[0]); i++) {
			if (bits[i].c != c)
				continue;
			if (!(sub_options[d->sub] & bits[i].bit))
				il_cli_usage_error("dlq", "option %s does not apply to \"dlq %s\"", bits[i].name,
				    sub_names[d->sub]);
			d->given |= bits[i].bit;
		}
		switch (c) {
		case 's':
			if (strcmp(optarg, "open") != 0 && strcmp(optarg, "replayed") != 0 &&
			    strcmp(optarg, "discarded") != 0)
				il_cli_usage_error("dlq", "invalid value for --status: expected open, replayed or "
				    "discarded, got \"%s\"", optarg);
			d->f.status = optarg;
			break;
		case 'c':
			d->f.error_class = optarg;
			break;
		case 'P':
			if (!il_cli_parse_int(optarg, 0, INT64_MAX, &d->f.programme_id))
				il_cli_usage_error("dlq", "invalid value for --programme: expected a non-negative "
				    "integer, got \"%s\"", optarg);
			break;
		case 'S':
			d->f.since_ms = parse_time("--since", optarg);
			break;
		case 'U':
			d->f.until_ms = parse_time("--until", optarg);
			break;
		case 'n':
			if (!il_cli_parse_int(optarg, 1, INT64_MAX, &d->limit))
				il_cli_usage_error("dlq", "invalid value for --limit: expected a positive integer, "
				    "got \"%s\"", optarg);
			break;
		case 'A':
			d->all_open = true;
			break;
		case 'p':
			if (!il_cli_parse_int(optarg, 1, DLQ_PAGE_MAX, &d->page))
				il_cli_usage_error("dlq", "invalid value for --page-size: expected 1 to 100000, "
				    "got \"%s\"", optarg);
			break;
		case 'j':
			d->json = true;
			break;
		case 'u':
			d->unmask = true;
			break;
		case 'b':
			if (optarg[0] == '\0')
				il_cli_usage_error("dlq", "invalid value for --by: empty");
			d->by = optarg;
			break;
		case 'r':
			d->reason = optarg;
			break;
		case 'd':
			d->dry_run = true;
			break;
		case 'a':
			d->again = true;
			break;
		case 'h':
			il_cli_cmd_usage(&il_cmd_dlq_entry);
		default:
			il_cli_usage_error("dlq", "invalid option");
		}
	}
	parse_ids(d, argc, argv, optind);
}

/* Refuses what the options and arguments cannot mean together. */
static void
check_options(struct dlq *d)
{
	const char *sub = sub_names[d->sub];

	switch (d->sub) {
	case SUB_LIST:
	case SUB_STATS:
		if (d->nids > 0)
			il_cli_usage_error("dlq", "\"dlq %s\" takes no ids: use \"dlq show ID\"", sub);
		break;
	case SUB_SHOW:
		if (d->nids != 1)
			il_cli_usage_error("dlq", "\"dlq %s\" takes exactly one id", sub);
		break;
	case SUB_DISCARD:
		if (d->nids == 0)
			il_cli_usage_error("dlq", "\"dlq %s\" needs at least one id", sub);
		if (d->reason == NULL || d->reason[0] == '\0')
			il_cli_usage_error("dlq", "\"dlq %s\" needs --reason TEXT: say why nobody will replay them", sub);
		break;
	case SUB_REPLAY:
		if (d->all_open && (d->nids > 0 || (d->given & OPT_STATUS) || d->again))
			il_cli_usage_error("dlq", "--all-open selects every open dead letter: ids, --status and "
			    "--again do not mix with it");
		if (d->nids == 0 && !d->all_open && !(d->given & OPT_FILTERS))
			il_cli_usage_error("dlq", "\"dlq %s\" needs ids, --all-open or a filter (--status, --class, "
			    "--programme, --since, --until)", sub);
		if (d->f.status != NULL && strcmp(d->f.status, "replayed") == 0 && !d->again)
			il_cli_usage_error("dlq", "--status replayed selects rows replayed already: add --again");
		if (d->reason != NULL && d->reason[0] == '\0')
			il_cli_usage_error("dlq", "invalid value for --reason: empty");
		break;
	case NSUBS:
		break;
	}
	if (d->by == NULL)
		d->by = getenv("USER");
	if (d->by == NULL || d->by[0] == '\0')
		d->by = getenv("LOGNAME");
	if (d->by == NULL || d->by[0] == '\0')
		d->by = "unknown";
}

/* Connects to the audit store and checks that it was initialised. */
static void
open_store(struct dlq *d)
{
	char errbuf[1024];
	int version = 0;

	d->a = il_audit_connect(il_conf_get(d->conf, "audit.db.url"), errbuf, sizeof(errbuf));
	if (d->a == NULL)
		il_cli_fatal("%s", errbuf);
	if (il_audit_check(d->a, &version, errbuf, sizeof(errbuf)) != IL_OK) {
		il_audit_destroy(d->a);
		d->a = NULL;
		il_cli_fatal("%s", errbuf);
	}
	il_log_debug("audit store ready", IL_INT("schema_version", version));
}

/* ---- masking ---- */

static void
mask_text(const char *s, char out[DLQ_MASK_LEN])
{
	il_log_mask(s, out, DLQ_MASK_LEN);
}

/* Replaces @p item of @p parent by the string @p text, keeping its member
 * name (cJSON_ReplaceItemViaPointer() alone would drop it). */
static void
replace_with_text(cJSON *parent, cJSON *item, const char *text)
{
	if (item->string != NULL)
		cJSON_ReplaceItemInObjectCaseSensitive(parent, item->string, cJSON_CreateString(text));
	else
		cJSON_ReplaceItemViaPointer(parent, item, cJSON_CreateString(text));
}

/* Replaces string member @p name of @p obj by its masked form. */
static void
mask_member(cJSON *obj, const char *name)
{
	cJSON *v = cJSON_GetObjectItemCaseSensitive(obj, name);
	char m[DLQ_MASK_LEN];

	if (!cJSON_IsString(v))
		return;
	mask_text(v->valuestring, m);
	replace_with_text(obj, v, m);
}

/* Masks every string and number under @p item (itself included). */
static void
mask_all(cJSON *parent, cJSON *item)
{
	char m[DLQ_MASK_LEN], num[32];
	cJSON *c, *next;

	if (cJSON_IsString(item)) {
		mask_text(item->valuestring, m);
		replace_with_text(parent, item, m);
	} else if (cJSON_IsNumber(item)) {
		snprintf(num, sizeof(num), "%.17g", item->valuedouble);
		mask_text(num, m);
		replace_with_text(parent, item, m);
	} else if (cJSON_IsObject(item) || cJSON_IsArray(item)) {
		for (c = item->child; c != NULL; c = next) {
			next = c->next;
			mask_all(item, c);
		}
	}
}

/* Members that hold personal data wherever they are (EligibilityEvent's
 * Registrant, Phone and Household). */
static const char *const pii_members[] = {
	"given_name", "family_name", "addl_name", "birthdate", "birth_place", "email", "address",
	"phones", "number", "sanitized",
};
/* Records whose "name" is no person's: a programme, an area, an enum. */
static const char *const named_things[] = { "programme", "area", "source" };

static bool
in_list(const char *s, const char *const *list, size_t n)
{
	size_t i;

	for (i = 0; s != NULL && i < n; i++) {
		if (strcmp(s, list[i]) == 0)
			return true;
	}
	return false;
}

/*
 * Masks the personal data of a decoded event in place, by member name, so
 * that it holds for later schema versions too: names (except of a
 * programme, area or source), birthdates, ID values (external_ids[].value
 * and description), phones, email and address.  @p name is the member that
 * holds @p node (NULL at the top).
 */
static void
mask_event(cJSON *node, const char *name)
{
	cJSON *c, *next;

	if (cJSON_IsArray(node)) {
		for (c = node->child; c != NULL; c = c->next)
			mask_event(c, name);
		return;
	}
	if (!cJSON_IsObject(node))
		return;
	for (c = node->child; c != NULL; c = next) {
		next = c->next;
		if (in_list(c->string, pii_members, sizeof(pii_members) / sizeof(pii_members[0])) ||
		    (strcmp(c->string, "name") == 0 &&
		    !in_list(name, named_things, sizeof(named_things) / sizeof(named_things[0])))) {
			mask_all(node, c);
		} else if (strcmp(c->string, "external_ids") == 0 && cJSON_IsArray(c)) {
			cJSON *id;

			for (id = c->child; id != NULL; id = id->next) {
				cJSON *v = cJSON_GetObjectItemCaseSensitive(id, "value");
				cJSON *desc = cJSON_GetObjectItemCaseSensitive(id, "description");

				if (v != NULL)
					mask_all(id, v);
				if (desc != NULL)
					mask_all(id, desc);
			}
		} else {
			mask_event(c, c->string);
		}
	}
}

/* ---- list ---- */

/* Cuts @p s to at most @p max bytes at a character boundary, into @p out. */
static void
cut_text(const char *s, size_t max, char *out, size_t outsz)
{
	size_t n = strlen(s);
	bool cut = false;

	if (n > max) {
		n = max;
		while (n > 0 && ((unsigned char)s[n] & 0xc0) == 0x80)
			n--;
		cut = true;
	}
	snprintf(out, outsz, "%.*s%s", (int)n, s, cut ? "..." : "");
}

static const char *
str_of(const cJSON *row, const char *name)
{
	const cJSON *v = cJSON_GetObjectItemCaseSensitive(row, name);

	return cJSON_IsString(v) ? v->valuestring : NULL;
}

/* A number member as text, "-" when null. */
static void
num_of(const cJSON *row, const char *name, char *out, size_t outsz)
{
	const cJSON *v = cJSON_GetObjectItemCaseSensitive(row, name);

	if (cJSON_IsNumber(v))
		snprintf(out, outsz, "%.0f", v->valuedouble);
	else
		snprintf(out, outsz, "-");
}

static void
print_table_header(void)
{
	printf("%8s  %-9s  %-11s  %5s  %3s  %-24s  %-12s  %-12s  %s\n", "ID", "STATUS", "CLASS",
	    "PROG", "ATT", "LAST FAILURE (UTC)", "KEY", "SOURCE", "REASON");
}

static void
print_table_row(const struct dlq *d, const cJSON *row)
{
	char id[24], prog[24], att[24], sp[24], so[24], src[56], key[DLQ_MASK_LEN + 40];
	char reason[DLQ_REASON_COLS + 8];
	const char *k = str_of(row, "event_key"), *msg = str_of(row, "error_message");

	num_of(row, "id", id, sizeof(id));
	num_of(row, "programme_id", prog, sizeof(prog));
	num_of(row, "attempts", att, sizeof(att));
	num_of(row, "source_partition", sp, sizeof(sp));
	num_of(row, "source_offset", so, sizeof(so));
	snprintf(src, sizeof(src), "%s/%s", sp, so);
	if (k == NULL)
		snprintf(key, sizeof(key), "-");
	else if (d->unmask)
		cut_text(k, 24, key, sizeof(key));
	else
		mask_text(k, key);
	cut_text(msg != NULL ? msg : "-", DLQ_REASON_COLS, reason, sizeof(reason));
	printf("%8s  %-9s  %-11s  %5s  %3s  %-24s  %-12s  %-12s  %s\n", id,
	    str_of(row, "status") != NULL ? str_of(row, "status") : "-",
	    str_of(row, "error_class") != NULL ? str_of(row, "error_class") : "-", prog, att,
	    str_of(row, "last_failure") != NULL ? str_of(row, "last_failure") : "-", key, src, reason);
}

/* Masks the event key of a listed row unless --unmask. */
static void
mask_row(const struct dlq *d, cJSON *row)
{
	if (!d->unmask)
		mask_member(row, "event_key");
}

/* Flushes stdout; false (logged) when the reader went away. */
static bool
flush_out(void)
{
	if (fflush(stdout) == 0 && !ferror(stdout))
		return true;
	il_log_error("could not write to stdout", IL_STR("reason", strerror(errno != 0 ? errno : EIO)));
	return false;
}

static int
cmd_list(struct dlq *d)
{
	il_audit_filter f = d->f;
	long long shown = 0;
	cJSON *rows = NULL, *row;
	char errbuf[1024];
	bool out_ok = true;
	int n;

	if (!d->json)
		print_table_header();
	for (;;) {
		f.limit = d->page;
		if (d->limit > 0 && d->limit - shown < f.limit)
			f.limit = d->limit - shown;
		if (f.limit <= 0)
			break;
		if (il_audit_dl_list(d->a, &f, &rows, errbuf, sizeof(errbuf)) != IL_OK) {
			il_log_error("could not list dead letters", IL_STR("reason", errbuf));
			return 1;
		}
		n = cJSON_GetArraySize(rows);
		cJSON_ArrayForEach(row, rows) {
			mask_row(d, row);
			if (d->json)
				out_ok = il_cli_print_json(row) && out_ok;
			else
				print_table_row(d, row);
			if (cJSON_IsNumber(cJSON_GetObjectItemCaseSensitive(row, "id")))
				f.after_id = (long long)cJSON_GetObjectItemCaseSensitive(row, "id")->valuedouble;
		}
		cJSON_Delete(rows);
		shown += n;
		if (!out_ok || !flush_out())
			return 1;
		if (n < f.limit)
			break;
	}
	if (!d->json)
		printf("(%lld dead letter%s)\n", shown, shown == 1 ? "" : "s");
	return flush_out() ? 0 : 1;
}

/* ---- show ---- */

static int
cmd_show(struct dlq *d)
{
	char errbuf[1024];
	cJSON *row = NULL, *decoded;
	char *text;
	il_err err;
	int rc = 1;

	err = il_audit_dl_get(d->a, d->ids[0], &row, errbuf, sizeof(errbuf));
	if (err != IL_OK) {
		il_log_error(err == IL_ERR_NOTFOUND ? "no such dead letter" : "could not read dead letter",
		    IL_INT("id", d->ids[0]), IL_STR("reason", errbuf));
		return 1;
	}
	if (!d->unmask) {
		mask_row(d, row);
		/* The key is an ID value, the value the whole event. */
		mask_member(row, "key");
		mask_member(row, "value");
		decoded = cJSON_GetObjectItemCaseSensitive(row, "decoded");
		mask_event(decoded, NULL);
	}
	if (d->json) {
		rc = il_cli_print_json(row) ? 0 : 1;
	} else {
		text = cJSON_Print(row);
		if (text != NULL && puts(text) != EOF)
			rc = 0;
		cJSON_free(text);
	}
	cJSON_Delete(row);
	return flush_out() ? rc : 1;
}

/* ---- stats ---- */

static void
print_stats(const cJSON *dls, const cJSON *res)
{
	const cJSON *row;
	char count[24];

	num_of(dls, "total", count, sizeof(count));
	printf("dead letters: %s\n\n  %-16s  %-10s  %8s\n", count, "CLASS", "STATUS", "COUNT");
	cJSON_ArrayForEach(row, cJSON_GetObjectItemCaseSensitive(dls, "by_class")) {
		num_of(row, "count", count, sizeof(count));
		printf("  %-16s  %-10s  %8s\n", str_of(row, "error_class") != NULL ?
		    str_of(row, "error_class") : "-", str_of(row, "status") != NULL ?
		    str_of(row, "status") : "-", count);
	}
	printf("\n  %-10s  %-16s  %8s   (day of the last failure, UTC)\n", "DAY", "CLASS", "COUNT");
	cJSON_ArrayForEach(row, cJSON_GetObjectItemCaseSensitive(dls, "by_day")) {
		num_of(row, "count", count, sizeof(count));
		printf("  %-10s  %-16s  %8s\n", str_of(row, "day") != NULL ? str_of(row, "day") : "-",
		    str_of(row, "error_class") != NULL ? str_of(row, "error_class") : "-", count);
	}
	num_of(res, "total", count, sizeof(count));
	printf("\nresults: %s (all, not filtered)\n\n  %-20s  %8s\n", count, "OUTCOME", "COUNT");
	cJSON_ArrayForEach(row, cJSON_GetObjectItemCaseSensitive(res, "by_outcome")) {
		num_of(row, "count", count, sizeof(count));
		printf("  %-20s  %8s\n", str_of(row, "outcome") != NULL ? str_of(row, "outcome") : "-",
		    count);
	}
}

static int
cmd_stats(struct dlq *d)
{
	cJSON *dls = NULL, *res = NULL, *out;
	char errbuf[1024];
	int rc = 1;

	if (il_audit_dl_stats(d->a, &d->f, &dls, errbuf, sizeof(errbuf)) != IL_OK) {
		il_log_error("could not count dead letters", IL_STR("reason", errbuf));
		return 1;
	}
	if (il_audit_result_stats(d->a, &res, errbuf, sizeof(errbuf)) != IL_OK) {
		il_log_error("could not count results", IL_STR("reason", errbuf));
		cJSON_Delete(dls);
		return 1;
	}
	if (d->json) {
		out = cJSON_CreateObject();
		cJSON_AddItemToObject(out, "dead_letters", dls);
		cJSON_AddItemToObject(out, "results", res);
		rc = il_cli_print_json(out) ? 0 : 1;
		cJSON_Delete(out);
	} else {
		print_stats(dls, res);
		rc = 0;
		cJSON_Delete(dls);
		cJSON_Delete(res);
	}
	return flush_out() ? rc : 1;
}

/* ---- discard ---- */

static int
cmd_discard(struct dlq *d)
{
	il_audit_filter f;
	cJSON *rows = NULL, *row, *out, *missing, *unchanged;
	char errbuf[1024], idtext[24];
	size_t changed = 0, ndiscarded = 0, i;
	long long id;
	bool found;
	int rc = 0;

	if (il_audit_dl_discard(d->a, d->ids, d->nids, d->by, d->reason, &changed, errbuf,
	    sizeof(errbuf)) != IL_OK) {
		il_log_error("could not discard dead letters", IL_STR("reason", errbuf));
		return 1;
	}
	/* What became of each id that did not change: absent, or not open. */
	missing = cJSON_CreateArray();
	unchanged = cJSON_CreateArray();
	il_audit_filter_init(&f);
	f.ids = d->ids;
	f.nids = d->nids;
	if (changed < d->nids && il_audit_dl_list(d->a, &f, &rows, errbuf, sizeof(errbuf)) != IL_OK) {
		il_log_warn("could not read the dead letters back", IL_STR("reason", errbuf));
		rows = NULL;
	}
	for (i = 0; rows != NULL && i < d->nids; i++) {
		found = false;
		cJSON_ArrayForEach(row, rows) {
			num_of(row, "id", idtext, sizeof(idtext));
			if (!il_cli_parse_int(idtext, 0, INT64_MAX, &id) || id != d->ids[i])
				continue;
			found = true;
			/* Discarded by this call, or before (by someone, for a reason). */
			if (str_of(row, "status") != NULL && strcmp(str_of(row, "status"), "discarded") == 0) {
				ndiscarded++;
			} else {
				cJSON_AddItemToArray(unchanged, cJSON_CreateNumber((double)id));
				il_log_warn("dead letter not open: left as it is", IL_INT("id", id),
				    IL_STR("status", str_of(row, "status")));
			}
		}
		if (!found) {
			cJSON_AddItemToArray(missing, cJSON_CreateNumber((double)d->ids[i]));
			il_log_error("no such dead letter", IL_INT("id", d->ids[i]));
			rc = 1;
		}
	}
	cJSON_Delete(rows);
	if (d->json) {
		out = cJSON_CreateObject();
		cJSON_AddNumberToObject(out, "requested", (double)d->nids);
		cJSON_AddNumberToObject(out, "discarded", (double)changed);
		cJSON_AddNumberToObject(out, "discarded_before",
		    (double)(ndiscarded > changed ? ndiscarded - changed : 0));
		cJSON_AddItemToObject(out, "not_open", unchanged);
		cJSON_AddItemToObject(out, "not_found", missing);
		if (!il_cli_print_json(out))
			rc = 1;
		cJSON_Delete(out);
	} else {
		printf("discarded %zu of %zu dead letter%s (%zu discarded before, %d not open, "
		    "%d not found)\n", changed, d->nids, d->nids == 1 ? "" : "s",
		    ndiscarded > changed ? ndiscarded - changed : 0, cJSON_GetArraySize(unchanged),
		    cJSON_GetArraySize(missing));
		cJSON_Delete(unchanged);
		cJSON_Delete(missing);
	}
	return flush_out() ? rc : 1;
}

/* ---- replay ---- */

static void
on_delivery(void *msg_opaque, il_err err, const char *errstr, const char *topic,
    int32_t partition, int64_t offset, void *cb_ctx)
{
	struct dlq_slot *slot = msg_opaque;
	struct dlq *d = cb_ctx;

	(void)partition;
	(void)offset;
	if (slot->state == SLOT_PENDING && d->inflight > 0)
		d->inflight--;
	if (err == IL_OK) {
		slot->state = SLOT_OK;
		return;
	}
	slot->state = SLOT_FAILED;
	/* A purge's reports say "purged", once per message: counted, not
	 * logged one by one. */
	if (d->purging) {
		if (!slot->in_doubt)
			d->purged++;
		return;
	}
	if (d->failure_logs++ < DLQ_LOG_ROWS)
		il_log_error("replay not delivered", IL_INT("id", slot->id), IL_STR("topic", topic),
		    IL_STR("reason", errstr));
}

/* Makes sure @p topic exists before anything goes to it (fatal when not). */
static void
check_topic(struct dlq *d, const char *topic)
{
	size_t i;

	for (i = 0; i < d->ntopics_checked; i++) {
		if (strcmp(d->topics_checked[i], topic) == 0)
			return;
	}
	il_cli_topic_partitions(il_producer_handle(d->p), topic,
	    il_conf_get(d->conf, "kafka.bootstrap.servers"));
	d->topics_checked = il_xrealloc(d->topics_checked, (d->ntopics_checked + 1) *
	    sizeof(*d->topics_checked));
	d->topics_checked[d->ntopics_checked++] = il_xstrdup(topic);
}

static const char *
source_topic(const struct dlq *d, const il_audit_replay_item *it)
{
	return it->source_topic != NULL && it->source_topic[0] != '\0' ? it->source_topic :
	    il_conf_get(d->conf, "topic.eligibility");
}

/* Whether a selected row is replayed: not a discarded one unless asked by
 * --status discarded, not a replayed one unless --again. */
static bool
wanted(const struct dlq *d, const il_audit_replay_item *it)
{
	if (it->status == NULL)
		return false;
	if (strcmp(it->status, "replayed") == 0)
		return d->again;
	if (strcmp(it->status, "discarded") == 0)
		return d->f.status != NULL && strcmp(d->f.status, "discarded") == 0;
	return true;
}

/*
 * Whether a row can be replayed at all.  Only a message of the dead-letter
 * topic holds an event a worker failed on; the store keeps the results
 * topic's undecodable messages too, and their bytes sent to the
 * eligibility topic would only come back as dead letters, on every replay.
 * A dead letter without a source topic goes to topic.eligibility, so it
 * must at least be an event (an event id, from its headers or its value).
 */
static enum unreplayable
why_not(const struct dlq *d, const il_audit_replay_item *it)
{
	if (it->topic == NULL || strcmp(it->topic, d->dlq_topic) != 0)
		return NR_TOPIC;
	if ((it->source_topic == NULL || it->source_topic[0] == '\0') &&
	    (it->event_id == NULL || it->event_id[0] == '\0'))
		return NR_SOURCE;
	return NR_NONE;
}

static long long
not_replayable_total(const struct dlq *d)
{
	long long n = 0;
	int i;

	for (i = 0; i < NR_COUNT; i++)
		n += d->not_replayable[i];
	return n;
}

/*
 * Sorts a selected row: @returns true when it is to be replayed; else it
 * is counted skipped (its status) or not replayable (logged, the first few).
 */
static bool
to_replay(struct dlq *d, const il_audit_replay_item *it)
{
	enum unreplayable why;

	if (!wanted(d, it)) {
		d->skipped++;
		return false;
	}
	why = why_not(d, it);
	if (why == NR_NONE)
		return true;
	if (not_replayable_total(d) < DLQ_LOG_ROWS)
		il_log_warn("dead letter not replayable: left as it is (dlq discard closes it)",
		    IL_INT("id", it->id), IL_STR("topic", it->topic != NULL ? it->topic : ""),
		    IL_STR("dlq_topic", d->dlq_topic), IL_STR("reason", nr_reasons[why]));
	d->not_replayable[why]++;
	return false;
}

static void
progress(struct dlq *d, bool last)
{
	long long now = il_timers_now_ms(), elapsed = now - d->start_ms;
	double rate = elapsed > 0 ? (double)d->examined * 1000.0 / (double)elapsed : 0.0;
	long long eta = rate > 0.0 && d->total > d->examined ?
	    (long long)((double)(d->total - d->examined) / rate + 0.5) : 0;

	if (!last && now < d->next_progress_ms)
		return;
	d->next_progress_ms = now + DLQ_PROGRESS_MS;
	if (d->progress_tty) {
		fprintf(stderr, "\rreplay: %lld/%lld (%3.0f%%)  %.0f/s  ETA %llds  replayed %lld  "
		    "skipped %lld  not replayable %lld  failed %lld%s", d->examined, d->total,
		    d->total > 0 ? 100.0 * (double)d->examined / (double)d->total : 100.0, rate, eta,
		    d->replayed, d->skipped, not_replayable_total(d), d->failed, last ? "\n" : "  ");
		fflush(stderr);
		return;
	}
	il_log_info(last ? "dlq replay finished" : "dlq replay progress", IL_INT("done", d->examined),
	    IL_INT("total", d->total), IL_DBL("rate_per_s", rate), IL_INT("eta_s", eta),
	    IL_INT("replayed", d->replayed), IL_INT("skipped", d->skipped),
	    IL_INT("not_replayable", not_replayable_total(d)), IL_INT("failed", d->failed),
	    IL_INT("in_doubt", d->in_doubt), IL_INT("elapsed_ms", elapsed));
}

/* Counts the rows of the selection, for the progress's total and ETA. */
static void
count_selection(struct dlq *d, const il_audit_filter *f)
{
	cJSON *stats = NULL, *row;
	char errbuf[1024], count[24];
	long long n;

	if (il_audit_dl_stats(d->a, f, &stats, errbuf, sizeof(errbuf)) != IL_OK) {
		il_log_warn("could not count the selection: progress without a total",
		    IL_STR("reason", errbuf));
		return;
	}
	d->total = 0;
	cJSON_ArrayForEach(row, cJSON_GetObjectItemCaseSensitive(stats, "by_class")) {
		num_of(row, "count", count, sizeof(count));
		if (il_cli_parse_int(count, 0, INT64_MAX, &n))
			d->total += n;
	}
	cJSON_Delete(stats);
	if (d->limit > 0 && d->total > d->limit)
		d->total = d->limit;
}

/* "<topic>/<partition>/<offset>" of the dead letter: __imislink.replay.of. */
static void
replay_of(const il_audit_replay_item *it, char *out, size_t outsz)
{
	snprintf(out, outsz, "%s/%" PRId32 "/%" PRId64, it->topic != NULL ? it->topic : "", it->partition,
	    it->offset);
}

static void
print_dry_run(const struct dlq *d, const il_audit_replay_item *it)
{
	char of[320];
	cJSON *out;

	replay_of(it, of, sizeof(of));
	if (!d->json) {
		printf("%8lld  %-40s  %-16.16s  replay %d  of %s\n", it->id, source_topic(d, it),
		    it->event_id != NULL ? it->event_id : "-", it->replay_count + 1, of);
		return;
	}
	out = cJSON_CreateObject();
	cJSON_AddNumberToObject(out, "id", (double)it->id);
	cJSON_AddStringToObject(out, "source_topic", source_topic(d, it));
	if (it->event_id != NULL)
		cJSON_AddStringToObject(out, "event_id", it->event_id);
	else
		cJSON_AddNullToObject(out, "event_id");
	cJSON_AddStringToObject(out, "status", it->status != NULL ? it->status : "");
	cJSON_AddNumberToObject(out, "replay_count", it->replay_count + 1);
	cJSON_AddStringToObject(out, "replay_of", of);
	il_cli_print_json(out);
	cJSON_Delete(out);
}

/* Serves delivery reports for up to @p ms and notes a fatal producer. */
static void
serve_reports(struct dlq *d, int ms)
{
	il_producer_poll(d->p, ms);
	if (il_producer_fatal(d->p, NULL, 0) == IL_ERR_FATAL)
		d->fatal = true;
}

/*
 * Queues one dead letter; the slot's state says what became of it.
 * @returns false, the slot unused, when a stop request or a fatal producer
 * came first.
 */
static bool
send_item(struct dlq *d, const il_audit_replay_item *it, struct dlq_slot *slot)
{
	char of[320], id[24], count[16];
	il_kafka_header h[DLQ_NHEADERS];
	il_err err;

	replay_of(it, of, sizeof(of));
	snprintf(id, sizeof(id), "%lld", it->id);
	snprintf(count, sizeof(count), "%d", it->replay_count + 1);
	h[0].name = DLQ_H_REPLAY_OF;
	h[0].value = of;
	h[0].len = strlen(of);
	h[1].name = DLQ_H_REPLAY_DL_ID;
	h[1].value = id;
	h[1].len = strlen(id);
	h[2].name = DLQ_H_REPLAY_COUNT;
	h[2].value = count;
	h[2].len = strlen(count);
	slot->d = d;
	slot->id = it->id;
	slot->state = SLOT_PENDING;
	slot->in_doubt = false;
	for (;;) {
		if (il_sig_stop_requested() || d->fatal) {
			d->interrupted = d->interrupted || !d->fatal;
			return false;
		}
		err = il_producer_send(d->p, source_topic(d, it), RD_KAFKA_PARTITION_UA, it->key,
		    it->keylen, it->value, it->vallen, h, DLQ_NHEADERS, slot, DLQ_WAIT_MS);
		if (err == IL_OK) {
			d->inflight++;
			return true;
		}
		if (err != IL_ERR_TIMEOUT)
			break;
		serve_reports(d, 0);
	}
	if (err == IL_ERR_FATAL)
		d->fatal = true;
	slot->state = SLOT_FAILED;
	il_log_error("could not queue a replay", IL_INT("id", it->id), IL_STR("topic", source_topic(d, it)),
	    IL_STR("reason", il_err_str(err)));
	return true;
}

/* Purges @p what (RD_KAFKA_PURGE_F_*) and serves the purge's reports, for
 * at most DLQ_PURGE_MS. */
static void
purge(struct dlq *d, int what)
{
	rd_kafka_resp_err_t err;
	long long deadline;

	d->purging = true;
	err = rd_kafka_purge(il_producer_handle(d->p), what);
	if (err != RD_KAFKA_RESP_ERR_NO_ERROR)
		il_log_warn("could not purge the producer's queue", IL_STR("reason", rd_kafka_err2str(err)));
	/* The reports of what was queued come with the next poll; those of
	 * what was in flight may take a little longer. */
	serve_reports(d, 0);
	deadline = il_timers_now_ms() + DLQ_PURGE_MS;
	while ((what & RD_KAFKA_PURGE_F_INFLIGHT) && d->inflight > 0 && il_timers_now_ms() < deadline)
		serve_reports(d, DLQ_WAIT_MS);
	d->purging = false;
}

/*
 * Waits for the reports of the page.  librdkafka reports every message,
 * at the latest when its message.timeout.ms ran out, so only a stop request
 * (or a fatal producer) bounds the wait.  Then what was not sent yet is
 * purged at once: reported failed, it can never reach the broker behind an
 * open row (il_producer_destroy() would otherwise flush it, and the next
 * run publish it again).  What was sent gets DLQ_DRAIN_MS to be answered;
 * what is still unanswered then is in doubt (the broker may have it), its
 * row left open, and purged too.
 */
static void
wait_reports(struct dlq *d, size_t nslots)
{
	long long drain = -1;
	size_t i;

	while (d->inflight > 0) {
		if (drain < 0 && (il_sig_stop_requested() || d->fatal)) {
			d->interrupted = d->interrupted || !d->fatal;
			purge(d, RD_KAFKA_PURGE_F_QUEUE);
			drain = il_timers_now_ms() + DLQ_DRAIN_MS;
			continue;
		}
		if (drain >= 0 && il_timers_now_ms() >= drain)
			break;
		serve_reports(d, DLQ_WAIT_MS);
	}
	if (d->purged > 0)
		il_log_warn("stopped: replays not yet sent were dropped, their rows stay open",
		    IL_INT("count", d->purged));
	if (d->inflight == 0)
		return;
	for (i = 0; i < nslots; i++) {
		if (d->slots[i].state == SLOT_PENDING)
			d->slots[i].in_doubt = true;
	}
	il_log_warn("replays in doubt: sent without an answer, the broker may have them; their rows "
	    "stay open, so a later replay publishes them again (enrollment finds them done)",
	    IL_INT("count", d->inflight));
	purge(d, RD_KAFKA_PURGE_F_QUEUE | RD_KAFKA_PURGE_F_INFLIGHT);
}

/* Takes the replay lock again after a reconnect (a new session lost it). */
static bool
relock(struct dlq *d)
{
	char errbuf[1024];

	if (il_audit_replay_lock(d->a, errbuf, sizeof(errbuf)) == IL_OK)
		return true;
	il_log_error("lost the replay lock with the connection: stopping", IL_STR("reason", errbuf));
	return false;
}

/*
 * Marks the delivered rows of a page replayed; one retry after a reconnect
 * when the store went away.  Rows delivered but not marked count as failed:
 * the next run replays them again, which idempotent enrollment absorbs.
 */
static void
mark_page(struct dlq *d, size_t nslots)
{
	long long *ids = il_xcalloc(nslots + 1, sizeof(*ids));
	char errbuf[1024];
	size_t i, n = 0;
	bool locked = true;
	il_err err;

	for (i = 0; i < nslots; i++) {
		if (d->slots[i].state == SLOT_OK)
			ids[n++] = d->slots[i].id;
		else if (d->slots[i].in_doubt)
			d->in_doubt++;
		else
			d->failed++;
	}
	err = il_audit_dl_mark_replayed(d->a, ids, n, d->by, d->reason, errbuf, sizeof(errbuf));
	if (err == IL_ERR_TRANSIENT && il_audit_reconnect(d->a, errbuf, sizeof(errbuf)) == IL_OK) {
		/* Delivered is delivered: the rows are marked even when another
		 * run took the lock meanwhile, but this run stops there. */
		locked = relock(d);
		err = il_audit_dl_mark_replayed(d->a, ids, n, d->by, d->reason, errbuf, sizeof(errbuf));
	}
	if (err == IL_OK) {
		d->replayed += (long long)n;
	} else {
		il_log_error("replayed but could not mark the dead letters: a later replay publishes "
		    "them again", IL_INT("count", n), IL_INT("first_id", n > 0 ? ids[0] : 0),
		    IL_STR("reason", errbuf));
		d->failed += (long long)n;
		d->fatal = true;
	}
	if (!locked)
		d->fatal = true;
	free(ids);
}

/* Replays one page; false when the run must stop. */
static bool
replay_page(struct dlq *d, il_audit_replay_item *items, size_t n)
{
	bool *go = il_xcalloc(n + 1, sizeof(*go));
	size_t i, nslots = 0;

	/* Sorted first, so each topic is checked before anything is sent. */
	for (i = 0; i < n; i++) {
		go[i] = to_replay(d, &items[i]);
		if (go[i])
			check_topic(d, source_topic(d, &items[i]));
		else
			d->examined++;
	}
	for (i = 0; i < n; i++) {
		if (!go[i])
			continue;
		/* Rows a stop left unsent are neither replayed nor failed. */
		if (!send_item(d, &items[i], &d->slots[nslots]))
			break;
		d->examined++;
		nslots++;
		serve_reports(d, 0);
		progress(d, false);
	}
	free(go);
	il_log_debug("page sent: waiting for its delivery reports", IL_INT("messages", nslots),
	    IL_INT("pending", d->inflight));
	wait_reports(d, nslots);
	for (i = 0; i < nslots; i++) {
		if (d->slots[i].state == SLOT_PENDING)
			d->slots[i].state = SLOT_FAILED;
	}
	mark_page(d, nslots);
	return !d->interrupted && !d->fatal && d->failed == 0;
}

/* The not-replayable counts by reason, a JSON array (non-zero ones). */
static cJSON *
not_replayable_json(const struct dlq *d)
{
	cJSON *arr = cJSON_CreateArray(), *obj;
	int i;

	for (i = NR_NONE + 1; i < NR_COUNT; i++) {
		if (d->not_replayable[i] == 0)
			continue;
		obj = cJSON_CreateObject();
		cJSON_AddStringToObject(obj, "reason", nr_reasons[i]);
		cJSON_AddNumberToObject(obj, "count", (double)d->not_replayable[i]);
		cJSON_AddItemToArray(arr, obj);
	}
	return arr;
}

static void
print_summary(const struct dlq *d, long long elapsed)
{
	long long nr = not_replayable_total(d), would = d->examined - d->skipped - nr;
	cJSON *out;
	int i;

	if (!d->json) {
		if (d->dry_run)
			printf("dry run: %lld dead letter%s would be replayed (%lld selected, %lld skipped, "
			    "%lld not replayable)\n", would, would == 1 ? "" : "s", d->examined, d->skipped, nr);
		else
			printf("replayed %lld dead letter%s (%lld selected, %lld skipped, %lld not replayable, "
			    "%lld failed, %lld in doubt) in %.1f s\n", d->replayed, d->replayed == 1 ? "" : "s",
			    d->examined, d->skipped, nr, d->failed, d->in_doubt, (double)elapsed / 1000.0);
		for (i = NR_NONE + 1; i < NR_COUNT; i++) {
			if (d->not_replayable[i] > 0)
				printf("  not replayable: %lld: %s\n", d->not_replayable[i], nr_reasons[i]);
		}
		return;
	}
	out = cJSON_CreateObject();
	cJSON_AddBoolToObject(out, "dry_run", d->dry_run);
	cJSON_AddNumberToObject(out, "selected", (double)d->examined);
	cJSON_AddNumberToObject(out, "skipped", (double)d->skipped);
	cJSON_AddNumberToObject(out, "replayed", (double)(d->dry_run ? 0 : d->replayed));
	if (d->dry_run)
		cJSON_AddNumberToObject(out, "would_replay", (double)would);
	cJSON_AddNumberToObject(out, "failed", (double)d->failed);
	cJSON_AddNumberToObject(out, "not_replayable", (double)nr);
	cJSON_AddItemToObject(out, "not_replayable_reasons", not_replayable_json(d));
	cJSON_AddNumberToObject(out, "in_doubt", (double)d->in_doubt);
	cJSON_AddBoolToObject(out, "interrupted", d->interrupted);
	cJSON_AddNumberToObject(out, "elapsed_ms", (double)elapsed);
	il_cli_print_json(out);
	cJSON_Delete(out);
}

/* The rows a replay reads: open ones, unless --again or --status says more. */
static void
replay_filter(struct dlq *d, il_audit_filter *f)
{
	*f = d->f;
	if (d->all_open || (d->f.status == NULL && !d->again))
		f->status = "open";
	/* --again without --status: open and replayed rows, read as "any";
	 * wanted() leaves the discarded ones out. */
	if (d->nids > 0) {
		f->ids = d->ids;
		f->nids = d->nids;
	}
}

/* Takes the replay lock; false (logged) when it cannot be had. */
static bool
lock_replay(struct dlq *d)
{
	char errbuf[1024];
	il_err err;

	err = il_audit_replay_lock(d->a, errbuf, sizeof(errbuf));
	if (err == IL_OK)
		return true;
	if (err == IL_ERR_TIMEOUT)
		il_log_error("another dlq replay is running: refusing to select the same rows",
		    IL_STR("reason", errbuf));
	else
		il_log_error("could not take the replay lock", IL_STR("reason", errbuf));
	return false;
}

static int
cmd_replay(struct dlq *d)
{
	il_audit_replay_item *items = NULL;
	il_audit_filter f;
	char errbuf[1024];
	size_t n = 0, i;
	bool go = true;

	d->dlq_topic = il_conf_get(d->conf, "topic.dlq");
	/* A dry run changes nothing: it needs no lock. */
	if (!d->dry_run && !lock_replay(d))
		return 1;
	replay_filter(d, &f);
	count_selection(d, &f);
	if (!d->dry_run) {
		d->p = il_producer_new(d->conf, on_delivery, d, errbuf, sizeof(errbuf));
		if (d->p == NULL)
			il_cli_fatal("%s", errbuf);
		d->slots = il_xcalloc((size_t)d->page, sizeof(*d->slots));
	}
	d->progress_tty = isatty(STDERR_FILENO) == 1;
	d->start_ms = il_timers_now_ms();
	d->next_progress_ms = d->start_ms + DLQ_PROGRESS_MS;
	while (go) {
		f.limit = d->page;
		if (d->limit > 0 && d->limit - d->examined < f.limit)
			f.limit = d->limit - d->examined;
		if (f.limit <= 0)
			break;
		if (il_audit_dl_replay_batch(d->a, &f, &items, &n, errbuf, sizeof(errbuf)) != IL_OK) {
			il_log_error("could not read dead letters to replay", IL_STR("reason", errbuf));
			d->fatal = true;
			break;
		}
		if (n == 0) {
			il_audit_replay_items_free(items, n);
			items = NULL;
			break;
		}
		f.after_id = items[n - 1].id;
		if (d->dry_run) {
			for (i = 0; i < n; i++) {
				d->examined++;
				if (to_replay(d, &items[i]))
					print_dry_run(d, &items[i]);
			}
		} else {
			go = replay_page(d, items, n);
		}
		il_audit_replay_items_free(items, n);
		items = NULL;
		if (n < (size_t)f.limit || il_sig_stop_requested())
			break;
	}
	if (il_sig_stop_requested())
		d->interrupted = true;
	if (!d->dry_run)
		progress(d, true);
	print_summary(d, il_timers_now_ms() - d->start_ms);
	if (d->nids > 0 && d->examined < (long long)d->nids && !d->interrupted && !d->fatal)
		il_log_warn("some ids were not selected: not found, or not open (--again replays "
		    "replayed ones, --status discarded discarded ones)",
		    IL_INT("requested", d->nids), IL_INT("selected", d->examined));
	for (i = 0; i < d->ntopics_checked; i++)
		free(d->topics_checked[i]);
	free(d->topics_checked);
	d->topics_checked = NULL;
	/* Every message was reported or purged: nothing left to deliver. */
	il_producer_destroy(d->p);
	d->p = NULL;
	free(d->slots);
	d->slots = NULL;
	if (!flush_out())
		return 1;
	return d->failed > 0 || d->in_doubt > 0 || d->fatal || d->interrupted ? 1 : 0;
}

static int
cmd_dlq(il_cli *cli, int argc, char **argv)
{
	struct dlq d;
	int rc = 1;

	memset(&d, 0, sizeof(d));
	d.conf = cli->conf;
	d.page = DLQ_PAGE;
	il_audit_filter_init(&d.f);
	parse_options(&d, argc, argv);
	check_options(&d);
	il_sig_install();
	open_store(&d);
	switch (d.sub) {
	case SUB_LIST:
		rc = cmd_list(&d);
		break;
	case SUB_SHOW:
		rc = cmd_show(&d);
		break;
	case SUB_STATS:
		rc = cmd_stats(&d);
		break;
	case SUB_DISCARD:
		rc = cmd_discard(&d);
		break;
	case SUB_REPLAY:
		rc = cmd_replay(&d);
		break;
	case NSUBS:
		break;
	}
	il_audit_destroy(d.a);
	free(d.ids);
	return rc;
}

const il_cmd_entry il_cmd_dlq_entry = {
	"dlq",
	"dlq list [--status S] [--class C] [--programme N] [--since T] [--until T]\n"
	"          [--limit N] [--page-size N] [--json] [--unmask]\n"
	"  dlq show ID [--unmask] [--json]\n"
	"  dlq stats [--status S] [--class C] [--programme N] [--since T] [--until T] [--json]\n"
	"  dlq discard ID... --reason TEXT [--by WHO] [--json]\n"
	"  dlq replay (ID... | --all-open | FILTERS) [--again] [--dry-run] [--limit N]\n"
	"          [--page-size N] [--reason TEXT] [--by WHO] [--json]",
	"  The dead letters of the audit store (audit.db.url; imislink-deadletter fills it).\n"
	"  --status S               open, replayed or discarded\n"
	"  --class C                error class: mapping, permanent, transient, undecodable\n"
	"  --programme N            programme id of the event\n"
	"  --since T, --until T     last failure (else the time stored) at or after T,\n"
	"                           before T: ISO-8601 (2026-11-21T08:00:00Z, a bare date)\n"
	"                           or ms since 1970\n"
	"  --limit N                at most N rows\n"
	"  --page-size N            rows read from the store at a time (default 500);\n"
	"                           replay waits for each page's delivery reports\n"
	"  --json                   JSON lines (list, replay), one JSON object (show,\n"
	"                           stats, discard) instead of a table\n"
	"  --unmask                 show personal data (event key, names, birthdates, ID\n"
	"                           values, phones, email, address; masked by default)\n"
	"  --reason TEXT            why (required by discard; stored with the row)\n"
	"  --by WHO                 who (default: $USER)\n"
	"  --all-open               replay: every open dead letter\n"
	"  --again                  replay: also rows replayed already (by default they are\n"
	"                           skipped, so a replay run twice publishes nothing new)\n"
	"  --dry-run                replay: list what would be replayed, publish nothing\n"
	"  stats: dead letters by class and status and by day of the last failure (UTC),\n"
	"  and enrollment results by outcome (all of them, not filtered).\n"
	"  discard: closes open dead letters; rows not open are left as they are.\n"
	"  replay: publishes each dead letter's original key and value to its source\n"
	"  topic (__connect.errors.topic, else topic.eligibility) with the headers\n"
	"  __imislink.replay.of (TOPIC/PARTITION/OFFSET of the dead letter, as replay\n"
	"  republish writes it), __imislink.replay.dead.letter.id (its id here) and\n"
	"  __imislink.replay.count (which replay), in id order, a page at a time; a row\n"
	"  is marked replayed only once Kafka acknowledged its message.  Only rows of\n"
	"  the dead-letter topic (topic.dlq) with a source topic or an event id are\n"
	"  replayed: the others (e.g. results-topic messages that do not decode) are\n"
	"  counted \"not replayable\" with the reason; dlq discard closes them.  One\n"
	"  replay at a time: a second refuses (\"another dlq replay is running\").  A stop\n"
	"  (Ctrl-C) drops what was not sent yet; what was sent unanswered is \"in doubt\"\n"
	"  and stays open.  Progress on stderr, a summary on stdout.\n"
	"  Selects open rows unless --again or --status discarded.\n"
	"  Exit status: 0 done, 1 a failure, a stop or replays in doubt (nothing\n"
	"  undelivered is ever marked).\n",
	cmd_dlq,
};
