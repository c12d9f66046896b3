/*
 * replay_republish.c - `imislink replay republish`: copies the events of a
 * time range back into a topic while the workers keep running.
 *
 * Every partition is read from the first offset at or after --from to the
 * first offset at or after --to, or to its log end offset taken at the
 * start when nothing is that recent: the copies land after that end, so they
 * are never read again, however long the run.  A copy keeps the original's
 * key, value bytes (never decoded and encoded again) and headers, goes to
 * the same partition number when the destination has as many partitions
 * (per-key order then holds whatever partitioner the original producer
 * used), and gets two headers in place of any __imislink.replay.* it had
 * (an earlier replay's, this one's or `dlq replay`'s):
 *	__imislink.replay.of	"<topic>/<partition>/<offset>" of the original
 *	                	(the format `dlq replay` uses too)
 *	__imislink.replay.at	when this run started, ISO-8601 UTC
 * A copy counts only once its delivery report says so (idempotent producer,
 * acks=all); the run ends with every report in, and exits 1 when any copy
 * failed.
 *
 * Throughput comes from librdkafka's batching: the consumer reads ahead
 * while the producer's batches (linger.ms) fill, and delivery reports are
 * served every few hundred messages rather than after each.  The consumer
 * reads ahead more than a worker's does (REPUBLISH_CONSUMER_DEFAULTS): in
 * librdkafka 2.0.2 a partition whose local queue reaches
 * queued.max.messages.kbytes is not fetched again for a whole second
 * (librdkafka issue #2879, fetch.queue.backoff.ms only came in 2.2.0), so
 * the queue must hold more than a second of copying, or the copy runs at
 * the pace of that second: 20,000 events/s with a worker's 4 MiB.
 */
#include <errno.h>
#include <getopt.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <librdkafka/rdkafka.h>

#include "event.h"
#include "imislink.h"
#include "kafka.h"
#include "log.h"
#include "serde.h"
#include "sig.h"
#include "timefmt.h"
#include "xalloc.h"

/* The header names a copy carries, and what every replay header starts with. */
#define REPLAY_HDR_OF "__imislink.replay.of"
#define REPLAY_HDR_AT "__imislink.replay.at"
#define REPLAY_HDR_PREFIX "__imislink.replay."

/* How long offset queries may take at the start. */
#define REPUBLISH_QUERY_MS 30000
/* The longest single wait: bounds how late a stop request is noticed. */
#define REPUBLISH_WAIT_MS 100
/* Delivery reports are served after this many messages read. */
#define REPUBLISH_POLL_EVERY 256
/* Copies queued but not yet reported, and their bytes: bounds memory
 * whatever the size of the range. */
#define REPUBLISH_MAX_INFLIGHT 20000
#define REPUBLISH_MAX_INFLIGHT_BYTES (16LL << 20)
/* After a stop request or a fatal error, how long outstanding delivery
 * reports are awaited, then the reports of what was purged. */
#define REPUBLISH_DRAIN_MS 10000
#define REPUBLISH_PURGE_MS 2000
/* Progress: the bar's refresh on a terminal, else a log line this often. */
#define REPUBLISH_BAR_MS 200
#define REPUBLISH_LOG_MS 2000
#define REPUBLISH_BAR_WIDTH 30
/* Delivery failures logged one by one; the rest only counted. */
#define REPUBLISH_LOG_FAILURES 10

/* The consumer's read-ahead (see the top of the file), unless -X says
 * otherwise: about 32 MiB, a second and more of copying. */
static const char *const republish_consumer_defaults[] = {
	"queued.max.messages.kbytes", "32768",
	"queued.min.messages", "1000000",
	NULL,
};

/* One partition of the source topic. */
struct rp_part {
	int64_t start;          /* first offset to read */
	int64_t end;            /* first offset not to read */
	bool done;              /* read up to end (or nothing to read) */
};

/* What a copy carries to its delivery report. */
struct rp_msg {
	int32_t partition;      /* the original's partition */
	int64_t offset;         /* and offset */
	size_t bytes;           /* key and value, for the in-flight bound */
};

struct republish {
	/* options */
	const char *topic;      /* --topic, else topic.eligibility */
	const char *to_topic;   /* --to-topic, else topic */
	int64_t from_ms;        /* --from */
	int64_t to_ms;          /* --to */
	const char **keys;      /* --key values */
	size_t nkeys;
	long long *prog_ids;    /* --programme given as numbers */
	size_t nprog_ids;
	const char **prog_names;        /* --programme given as names */
	size_t nprog_names;
	bool dry_run;           /* --dry-run */

	/* resources */
	il_conf *conf;          /* borrowed from main */
	il_consumer *c;         /* reads, without a group */
	il_producer *p;         /* writes the copies; NULL with --dry-run */
	il_schema_set *schemas; /* --programme only */
	il_serde *sd;           /* --programme only: decodes values */
	il_kafka_header *hdrs;  /* headers of the copy being sent */
	size_t caphdrs;         /* entries allocated in hdrs */

	/* plan */
	struct rp_part *parts;  /* indexed by partition id */
	int nparts;             /* partitions of the source */
	int parts_left;         /* partitions not done */
	bool same_partition;    /* the destination has as many partitions */
	char at[IL_TIME_LEN];   /* the run's start, __imislink.replay.at */

	/* counts */
	long long total;        /* messages in the range */
	long long read;         /* of them read */
	long long matched;      /* of them passing the filters */
	long long copied;       /* copies the broker acknowledged */
	long long failed;       /* copies that could not be delivered or sent */
	long long undecodable;  /* --programme: values that do not decode (not copied) */
	long long inflight;     /* copies sent, report not yet seen */
	long long inflight_bytes;

	/* progress */
	long long start_ms;     /* when reading began */
	long long next_progress_ms;
	bool tty;               /* stderr is a terminal: draw a bar */
	bool bar_drawn;         /* a bar is on the terminal's last line */

	/* ending */
	bool fatal;             /* nothing more can be read or published */
	bool interrupted;       /* SIGINT/SIGTERM */
};

static void
on_delivery(void *msg_opaque, il_err err, const char *errstr, const char *topic,
    int32_t partition, int64_t offset, void *cb_ctx)
{
	struct republish *rp = cb_ctx;
	struct rp_msg *m = msg_opaque;

	(void)partition;
	(void)offset;
	rp->inflight--;
	rp->inflight_bytes -= (long long)m->bytes;
	if (err == IL_OK) {
		rp->copied++;
	} else {
		rp->failed++;
		if (rp->failed <= REPUBLISH_LOG_FAILURES)
			il_log_error("could not republish an event", IL_STR("topic", topic),
			    IL_STR("source_topic", rp->topic), IL_INT("source_partition", m->partition),
			    IL_INT("source_offset", m->offset), IL_STR("reason", errstr));
		if (err == IL_ERR_FATAL)
			rp->fatal = true;
	}
	free(m);
}

/* Serves delivery reports for up to @p ms. */
static void
serve_reports(struct republish *rp, int ms)
{
	char errbuf[512];

	if (rp->p == NULL)
		return;
	il_producer_poll(rp->p, ms);
	if (!rp->fatal && il_producer_fatal(rp->p, errbuf, sizeof(errbuf)) == IL_ERR_FATAL) {
		il_log_error("the producer failed: stopping", IL_STR("reason", errbuf));
		rp->fatal = true;
	}
}

/* ---- progress ---------------------------------------------------------- */

static void
format_duration(long long s, char *out, size_t outsz)
{
	if (s < 0)
		snprintf(out, outsz, "--:--");
	else if (s >= 3600)
		snprintf(out, outsz, "%lld:%02lld:%02lld", s / 3600, s / 60 % 60, s % 60);
	else
		snprintf(out, outsz, "%lld:%02lld", s / 60, s % 60);
}

static void
draw_bar(struct republish *rp, double rate, long long eta_s)
{
	char bar[REPUBLISH_BAR_WIDTH + 1], eta[32], failed[48] = "";
	double frac = rp->total > 0 ? (double)rp->read / (double)rp->total : 1.0;
	int fill = (int)(frac * REPUBLISH_BAR_WIDTH), i;

	for (i = 0; i < REPUBLISH_BAR_WIDTH; i++)
		bar[i] = i < fill ? '#' : '.';
	bar[REPUBLISH_BAR_WIDTH] = '\0';
	format_duration(eta_s, eta, sizeof(eta));
	if (rp->failed > 0)
		snprintf(failed, sizeof(failed), ", %lld failed", rp->failed);
	/* \r and erase-to-end: the bar redraws its own line. */
	fprintf(stderr, "\r[%s] %3.0f%% %lld/%lld read, %lld %s%s, %.0f/s, ETA %s\033[K", bar,
	    frac * 100.0, rp->read, rp->total, rp->dry_run ? rp->matched : rp->copied,
	    rp->dry_run ? "matched" : "copied", failed, rate, eta);
	fflush(stderr);
	rp->bar_drawn = true;
}

static void
progress(struct republish *rp, bool force)
{
	long long now = il_event_now_ms(), elapsed = now - rp->start_ms, eta_s = -1;
	double rate;

	if (!force && now < rp->next_progress_ms)
		return;
	rp->next_progress_ms = now + (rp->tty ? REPUBLISH_BAR_MS : REPUBLISH_LOG_MS);
	rate = elapsed > 0 ? (double)rp->read * 1000.0 / (double)elapsed : 0.0;
	if (rate > 0.0)
		eta_s = (long long)((double)(rp->total - rp->read) / rate + 0.5);
	if (rp->tty) {
		draw_bar(rp, rate, eta_s);
		return;
	}
	il_log_info("republish progress", IL_STR("topic", rp->topic), IL_INT("read", rp->read),
	    IL_INT("total", rp->total), IL_INT("matched", rp->matched), IL_INT("copied", rp->copied),
	    IL_INT("failed", rp->failed), IL_DBL("rate_per_s", rate), IL_INT("eta_s", eta_s));
}

/* Ends the bar's line, so a log line that follows starts on its own. */
static void
end_bar(struct republish *rp)
{
	if (!rp->bar_drawn)
		return;
	fputc('\n', stderr);
	rp->bar_drawn = false;
}

/* ---- the plan ---------------------------------------------------------- */

/* Finds each partition's range and assigns the partitions that have one. */
static void
plan(struct republish *rp)
{
	rd_kafka_t *rk = il_consumer_handle(rp->c);
	rd_kafka_topic_partition_list_t *list;
	rd_kafka_resp_err_t err;
	char when[IL_TIME_LEN];
	int64_t *high, *from, *to;
	int i;

	rp->nparts = il_cli_topic_partitions(rk, rp->topic, il_conf_get(rp->conf, "kafka.bootstrap.servers"));
	rp->parts = il_xcalloc((size_t)rp->nparts, sizeof(*rp->parts));
	high = il_xcalloc((size_t)rp->nparts, sizeof(*high));
	from = il_xcalloc((size_t)rp->nparts, sizeof(*from));
	to = il_xcalloc((size_t)rp->nparts, sizeof(*to));
	/* The ends first: whatever arrives later, copies included, lies
	 * beyond them. */
	il_cli_log_ends(rk, rp->topic, rp->nparts, high, REPUBLISH_QUERY_MS);
	il_time_format_ms(rp->from_ms, when);
	il_cli_offsets_at(rk, rp->topic, rp->nparts, rp->from_ms, high, from, "--from", when, REPUBLISH_QUERY_MS);
	il_time_format_ms(rp->to_ms, when);
	il_cli_offsets_at(rk, rp->topic, rp->nparts, rp->to_ms, high, to, "--to", when, REPUBLISH_QUERY_MS);
	list = rd_kafka_topic_partition_list_new(rp->nparts);
	for (i = 0; i < rp->nparts; i++) {
		struct rp_part *pt = &rp->parts[i];

		pt->start = from[i];
		pt->end = to[i] < high[i] ? to[i] : high[i];
		if (pt->start >= pt->end) {
			pt->done = true;
			continue;
		}
		rp->total += pt->end - pt->start;
		rp->parts_left++;
		rd_kafka_topic_partition_list_add(list, rp->topic, i)->offset = pt->start;
		il_log_debug("partition range", IL_STR("topic", rp->topic), IL_INT("partition", i),
		    IL_INT("start", pt->start), IL_INT("end", pt->end));
	}
	if (list->cnt > 0) {
		err = rd_kafka_assign(rk, list);
		if (err != RD_KAFKA_RESP_ERR_NO_ERROR)
			il_cli_fatal("could not assign the partitions of topic \"%s\": %s", rp->topic,
			    rd_kafka_err2str(err));
	}
	rd_kafka_topic_partition_list_destroy(list);
	free(high);
	free(from);
	free(to);
}

/* ---- one message ------------------------------------------------------- */

static bool
key_matches(const struct republish *rp, const rd_kafka_message_t *rkm)
{
	size_t i, len;

	if (rp->nkeys == 0)
		return true;
	if (rkm->key == NULL)
		return false;
	for (i = 0; i < rp->nkeys; i++) {
		len = strlen(rp->keys[i]);
		if (len == rkm->key_len && memcmp(rp->keys[i], rkm->key, len) == 0)
			return true;
	}
	return false;
}

/* @returns whether the event's programme is one of --programme; a value
 * that does not decode matches nothing (counted), a registry that cannot
 * answer stops the run. */
static bool
programme_matches(struct republish *rp, const rd_kafka_message_t *rkm)
{
	const cJSON *prog, *id, *name;
	cJSON *json = NULL;
	char errbuf[1024];
	bool match = false;
	il_err err;
	size_t i;

	if (rp->sd == NULL)
		return true;
	if (rkm->payload == NULL) {
		rp->undecodable++;
		return false;
	}
	err = il_serde_decode(rp->sd, rkm->payload, rkm->len, &json, NULL, errbuf, sizeof(errbuf));
	if (err == IL_ERR_TRANSIENT || err == IL_ERR_CONFIG) {
		il_log_error("could not decode an event to check its programme: stopping",
		    IL_INT("partition", rkm->partition), IL_INT("offset", rkm->offset), IL_STR("reason", errbuf));
		rp->fatal = true;
		return false;
	}
	if (err != IL_OK) {
		rp->undecodable++;
		il_log_debug("undecodable event: not republished", IL_INT("partition", rkm->partition),
		    IL_INT("offset", rkm->offset), IL_STR("reason", errbuf));
		return false;
	}
	prog = cJSON_GetObjectItemCaseSensitive(json, "programme");
	id = cJSON_GetObjectItemCaseSensitive(prog, "id");
	name = cJSON_GetObjectItemCaseSensitive(prog, "name");
	for (i = 0; !match && cJSON_IsNumber(id) && i < rp->nprog_ids; i++)
		match = id->valuedouble == (double)rp->prog_ids[i];
	for (i = 0; !match && cJSON_IsString(name) && i < rp->nprog_names; i++)
		match = strcmp(name->valuestring, rp->prog_names[i]) == 0;
	cJSON_Delete(json);
	return match;
}

/* The copy's headers: the original's without the replay headers of an
 * earlier replay (ours, or `dlq replay`'s: a copy describes this replay
 * only), then ours.  @returns how many; they point into @p rkm and @p of. */
static size_t
copy_headers(struct republish *rp, const rd_kafka_message_t *rkm, const char *of)
{
	rd_kafka_headers_t *hdrs = NULL;
	const void *val;
	const char *name;
	size_t i, n = 0, size;

	if (rd_kafka_message_headers(rkm, &hdrs) == RD_KAFKA_RESP_ERR_NO_ERROR) {
		for (i = 0; rd_kafka_header_get_all(hdrs, i, &name, &val, &size) == RD_KAFKA_RESP_ERR_NO_ERROR;
		    i++) {
			if (strncmp(name, REPLAY_HDR_PREFIX, strlen(REPLAY_HDR_PREFIX)) == 0)
				continue;
			if (n + 2 >= rp->caphdrs) {
				rp->caphdrs = rp->caphdrs * 2;
				rp->hdrs = il_xrealloc(rp->hdrs, rp->caphdrs * sizeof(*rp->hdrs));
			}
			rp->hdrs[n].name = name;
			rp->hdrs[n].value = val;
			rp->hdrs[n].len = size;
			n++;
		}
	}
	rp->hdrs[n].name = REPLAY_HDR_OF;
	rp->hdrs[n].value = of;
	rp->hdrs[n].len = strlen(of);
	n++;
	rp->hdrs[n].name = REPLAY_HDR_AT;
	rp->hdrs[n].value = rp->at;
	rp->hdrs[n].len = strlen(rp->at);
	return n + 1;
}

/* Queues the copy of @p rkm, waiting while the producer's queue or our
 * in-flight bound is full. */
static void
send_copy(struct republish *rp, const rd_kafka_message_t *rkm)
{
	struct rp_msg *m;
	char of[320];
	size_t nhdrs;
	il_err err;

	while (rp->inflight >= REPUBLISH_MAX_INFLIGHT || rp->inflight_bytes >= REPUBLISH_MAX_INFLIGHT_BYTES) {
		serve_reports(rp, 10);
		if (rp->fatal || il_sig_stop_requested())
			break;
	}
	snprintf(of, sizeof(of), "%s/%" PRId32 "/%" PRId64, rp->topic, rkm->partition, rkm->offset);
	nhdrs = copy_headers(rp, rkm, of);
	m = il_xmalloc(sizeof(*m));
	m->partition = rkm->partition;
	m->offset = rkm->offset;
	m->bytes = rkm->key_len + rkm->len;
	for (;;) {
		err = il_producer_send(rp->p, rp->to_topic,
		    rp->same_partition ? rkm->partition : RD_KAFKA_PARTITION_UA,
		    rkm->key, rkm->key_len, rkm->payload, rkm->len, rp->hdrs, nhdrs, m, REPUBLISH_WAIT_MS);
		if (err != IL_ERR_TIMEOUT || rp->fatal || il_sig_stop_requested())
			break;
		serve_reports(rp, 0);
	}
	if (err == IL_OK) {
		rp->inflight++;
		rp->inflight_bytes += (long long)m->bytes;
		return;
	}
	rp->failed++;
	if (rp->failed <= REPUBLISH_LOG_FAILURES)
		il_log_error("could not republish an event", IL_STR("topic", rp->to_topic),
		    IL_STR("source_topic", rp->topic), IL_INT("source_partition", rkm->partition),
		    IL_INT("source_offset", rkm->offset), IL_STR("reason", il_err_str(err)));
	if (err == IL_ERR_FATAL)
		rp->fatal = true;
	free(m);
}

static void
part_done(struct republish *rp, int32_t partition)
{
	struct rp_part *pt = &rp->parts[partition];

	if (pt->done)
		return;
	pt->done = true;
	rp->parts_left--;
	/* Stop fetching what lies beyond: the copies, among others. */
	if (il_consumer_pause(rp->c, rp->topic, partition) != IL_OK)
		il_log_debug("could not pause a finished partition", IL_INT("partition", partition));
}

static void
handle_message(struct republish *rp, const rd_kafka_message_t *rkm)
{
	struct rp_part *pt;

	if (rkm->partition < 0 || rkm->partition >= rp->nparts)
		return;
	pt = &rp->parts[rkm->partition];
	if (pt->done || rkm->offset < pt->start)
		return;
	if (rkm->offset >= pt->end) {
		part_done(rp, rkm->partition);
		return;
	}
	rp->read++;
	if (key_matches(rp, rkm) && programme_matches(rp, rkm)) {
		rp->matched++;
		if (!rp->dry_run)
			send_copy(rp, rkm);
	}
	if (rkm->offset + 1 >= pt->end)
		part_done(rp, rkm->partition);
}

static void
handle_error(struct republish *rp, const rd_kafka_message_t *rkm)
{
	char errbuf[512];

	switch (rkm->err) {
	case RD_KAFKA_RESP_ERR__PARTITION_EOF:
		/* The log's end at or beyond the range's: nothing more of it
		 * will come (compaction or transaction markers may leave its
		 * last offsets without a message).  An end before it is a
		 * read_committed consumer waiting on an open transaction. */
		if (rkm->partition >= 0 && rkm->partition < rp->nparts &&
		    rkm->offset >= rp->parts[rkm->partition].end)
			part_done(rp, rkm->partition);
		return;
	case RD_KAFKA_RESP_ERR__UNKNOWN_TOPIC:
	case RD_KAFKA_RESP_ERR_UNKNOWN_TOPIC_OR_PART:
	case RD_KAFKA_RESP_ERR__UNKNOWN_PARTITION:
	case RD_KAFKA_RESP_ERR_TOPIC_AUTHORIZATION_FAILED:
		il_log_error("cannot read the topic", IL_STR("topic", rp->topic),
		    IL_STR("reason", rd_kafka_message_errstr(rkm)));
		rp->fatal = true;
		return;
	default:
		break;
	}
	if (il_consumer_fatal(rp->c, errbuf, sizeof(errbuf)) == IL_ERR_FATAL) {
		il_log_error("the consumer failed: stopping", IL_STR("reason", errbuf));
		rp->fatal = true;
		return;
	}
	il_log_warn("consumer error", IL_STR("topic", rp->topic), IL_INT("partition", rkm->partition),
	    IL_STR("reason", rd_kafka_message_errstr(rkm)));
}

/* ---- the run ----------------------------------------------------------- */

static void
run(struct republish *rp)
{
	rd_kafka_message_t *rkm;
	unsigned since_poll = 0;

	while (rp->parts_left > 0 && !rp->fatal) {
		if (il_sig_stop_requested()) {
			rp->interrupted = true;
			break;
		}
		rkm = il_consumer_poll(rp->c, REPUBLISH_WAIT_MS);
		if (rkm == NULL) {
			serve_reports(rp, 0);
			progress(rp, false);
			continue;
		}
		if (rkm->err != RD_KAFKA_RESP_ERR_NO_ERROR)
			handle_error(rp, rkm);
		else
			handle_message(rp, rkm);
		rd_kafka_message_destroy(rkm);
		if (++since_poll >= REPUBLISH_POLL_EVERY) {
			since_poll = 0;
			serve_reports(rp, 0);
			progress(rp, false);
		}
	}
}

/*
 * Waits for every delivery report.  A stop request or a fatal error bounds
 * the wait; what is left then is purged and counted as failed.
 */
static void
drain(struct republish *rp)
{
	long long deadline = -1;

	while (rp->p != NULL && rp->inflight > 0) {
		if (deadline < 0 && (rp->interrupted || rp->fatal || il_sig_stop_requested())) {
			if (!rp->fatal)
				rp->interrupted = true;
			deadline = il_event_now_ms() + REPUBLISH_DRAIN_MS;
		}
		if (deadline >= 0 && il_event_now_ms() >= deadline)
			break;
		serve_reports(rp, REPUBLISH_WAIT_MS);
		progress(rp, false);
	}
	if (rp->p == NULL || rp->inflight == 0)
		return;
	end_bar(rp);
	il_log_warn("purging copies not yet delivered", IL_INT("count", rp->inflight));
	rd_kafka_purge(il_producer_handle(rp->p), RD_KAFKA_PURGE_F_QUEUE | RD_KAFKA_PURGE_F_INFLIGHT);
	deadline = il_event_now_ms() + REPUBLISH_PURGE_MS;
	while (rp->inflight > 0 && il_event_now_ms() < deadline)
		il_producer_poll(rp->p, REPUBLISH_WAIT_MS);
}

/* Prints the summary line on stdout; @returns false when stdout failed. */
static bool
print_summary(const struct republish *rp, long long elapsed_ms)
{
	cJSON *out = cJSON_CreateObject();
	char when[IL_TIME_LEN];
	bool ok;

	cJSON_AddStringToObject(out, "topic", rp->topic);
	cJSON_AddStringToObject(out, "to_topic", rp->to_topic);
	il_time_format_ms(rp->from_ms, when);
	cJSON_AddStringToObject(out, "from", when);
	il_time_format_ms(rp->to_ms, when);
	cJSON_AddStringToObject(out, "to", when);
	cJSON_AddBoolToObject(out, "dry_run", rp->dry_run);
	cJSON_AddNumberToObject(out, "total", (double)rp->total);
	cJSON_AddNumberToObject(out, "read", (double)rp->read);
	cJSON_AddNumberToObject(out, "matched", (double)rp->matched);
	cJSON_AddNumberToObject(out, "copied", (double)rp->copied);
	cJSON_AddNumberToObject(out, "failed", (double)rp->failed);
	if (rp->sd != NULL)
		cJSON_AddNumberToObject(out, "undecodable", (double)rp->undecodable);
	cJSON_AddBoolToObject(out, "interrupted", rp->interrupted);
	cJSON_AddStringToObject(out, "replay_at", rp->at);
	cJSON_AddNumberToObject(out, "elapsed_ms", (double)elapsed_ms);
	cJSON_AddNumberToObject(out, "rate_per_s",
	    elapsed_ms > 0 ? (double)(long long)((double)rp->read * 1000.0 / (double)elapsed_ms) : 0.0);
	ok = il_cli_print_json(out) && fflush(stdout) == 0;
	cJSON_Delete(out);
	return ok;
}

static void
add_programme(struct republish *rp, const char *arg)
{
	long long id;

	if (il_cli_parse_int(arg, 0, 9007199254740992LL, &id)) {
		rp->prog_ids = il_xrealloc(rp->prog_ids, (rp->nprog_ids + 1) * sizeof(*rp->prog_ids));
		rp->prog_ids[rp->nprog_ids++] = id;
		return;
	}
	if (arg[0] == '\0')
		il_cli_usage_error("replay", "invalid value for --programme: expected an id or a name, got \"\"");
	rp->prog_names = il_xrealloc(rp->prog_names, (rp->nprog_names + 1) * sizeof(*rp->prog_names));
	rp->prog_names[rp->nprog_names++] = arg;
}

static void
parse_options(struct republish *rp, int argc, char **argv)
{
	static const struct option longopts[] = {
		/* what */
		{ "from", required_argument, NULL, 'f' },
		{ "to", required_argument, NULL, 'T' },
		{ "topic", required_argument, NULL, 't' },
		/* which of it */
		{ "key", required_argument, NULL, 'k' },
		{ "programme", required_argument, NULL, 'P' },
		/* where to */
		{ "to-topic", required_argument, NULL, 'o' },
		{ "dry-run", no_argument, NULL, 'n' },
		{ "help", no_argument, NULL, 'h' },
		{ NULL, 0, NULL, 0 },
	};
	bool have_from = false, have_to = false;
	int c;

	optind = 0;
	while ((c = il_replay_getopt(argc, argv, "t:k:h", longopts)) != -1) {
		switch (c) {
		case 'f':
			rp->from_ms = il_cli_parse_time("replay", "--from", optarg);
			have_from = true;
			break;
		case 'T':
			rp->to_ms = il_cli_parse_time("replay", "--to", optarg);
			have_to = true;
			break;
		case 't':
			rp->topic = optarg;
			break;
		case 'k':
			rp->keys = il_xrealloc(rp->keys, (rp->nkeys + 1) * sizeof(*rp->keys));
			rp->keys[rp->nkeys++] = optarg;
			break;
		case 'P':
			add_programme(rp, optarg);
			break;
		case 'o':
			rp->to_topic = optarg;
			break;
		case 'n':
			rp->dry_run = true;
			break;
		}
	}
	if (!have_from || !have_to)
		il_cli_usage_error("replay", "republish needs --from and --to: the time range to copy");
	if (rp->from_ms >= rp->to_ms)
		il_cli_usage_error("replay", "--from must lie before --to: the range [--from, --to) is empty");
}

/* Finds whether the operator set a librdkafka property (-X, rdkafka.*). */
struct conf_find {
	const char *key;        /* what to look for */
	bool found;             /* it was set */
};

static il_err
conf_find_cb(const char *key, const char *value, void *ctx, char *errbuf, size_t errsz)
{
	struct conf_find *f = ctx;

	(void)value;
	(void)errbuf;
	(void)errsz;
	if (strcmp(key, f->key) == 0)
		f->found = true;
	return IL_OK;
}

/* Sets the consumer's properties: ours where the operator set none, then
 * what the loop relies on. */
static void
consumer_settings(il_conf *conf)
{
	const char *const *d;
	char errbuf[512], arg[256];
	struct conf_find f;

	for (d = republish_consumer_defaults; d[0] != NULL; d += 2) {
		f.key = d[0];
		f.found = false;
		if (il_conf_rdkafka_foreach(conf, conf_find_cb, &f, errbuf, sizeof(errbuf)) != IL_OK || f.found)
			continue;
		snprintf(arg, sizeof(arg), "%s=%s", d[0], d[1]);
		if (il_conf_set_rdkafka_arg(conf, arg, errbuf, sizeof(errbuf)) != IL_OK)
			il_cli_fatal("%s", errbuf);
	}
	/* The end of a partition's log ends its range too (handle_error()). */
	if (il_conf_set_rdkafka_arg(conf, "enable.partition.eof=true", errbuf, sizeof(errbuf)) != IL_OK)
		il_cli_fatal("%s", errbuf);
}

/* Opens the clients; fatal on error. */
static void
setup(struct republish *rp)
{
	char errbuf[1024];
	int dst_parts;

	if (rp->nprog_ids + rp->nprog_names > 0)
		rp->sd = il_cli_serde_new(rp->conf, &rp->schemas);
	/* The producer first: the consumer's settings are no producer's
	 * business (librdkafka would warn about each). */
	if (!rp->dry_run) {
		rp->p = il_producer_new(rp->conf, on_delivery, rp, errbuf, sizeof(errbuf));
		if (rp->p == NULL)
			il_cli_fatal("%s", errbuf);
	}
	consumer_settings(rp->conf);
	rp->c = il_consumer_new(rp->conf, NULL, NULL, NULL, errbuf, sizeof(errbuf));
	if (rp->c == NULL)
		il_cli_fatal("%s", errbuf);
	plan(rp);
	if (rp->p != NULL) {
		dst_parts = strcmp(rp->to_topic, rp->topic) == 0 ? rp->nparts :
		    il_cli_topic_partitions(il_producer_handle(rp->p), rp->to_topic,
		    il_conf_get(rp->conf, "kafka.bootstrap.servers"));
		rp->same_partition = dst_parts == rp->nparts;
	}
}

int
il_replay_republish(il_cli *cli, int argc, char **argv)
{
	struct republish rp = { .conf = cli->conf, .caphdrs = 8 };
	char from[IL_TIME_LEN], to[IL_TIME_LEN];
	long long elapsed;
	bool out_ok;
	int rc;

	parse_options(&rp, argc, argv);
	if (rp.topic == NULL)
		rp.topic = il_conf_get(rp.conf, "topic.eligibility");
	if (rp.to_topic == NULL)
		rp.to_topic = rp.topic;
	rp.hdrs = il_xcalloc(rp.caphdrs, sizeof(*rp.hdrs));
	/* -q asks for errors only: no bar either. */
	rp.tty = isatty(STDERR_FILENO) == 1 && cli->verbose >= 0;
	il_sig_install();
	setup(&rp);

	rp.start_ms = il_event_now_ms();
	il_time_format_ms(rp.start_ms, rp.at);
	il_time_format_ms(rp.from_ms, from);
	il_time_format_ms(rp.to_ms, to);
	il_log_info(rp.dry_run ? "republish dry run: counting, publishing nothing" : "republish starting",
	    IL_STR("topic", rp.topic), IL_STR("to_topic", rp.to_topic), IL_STR("from", from), IL_STR("to", to),
	    IL_INT("partitions", rp.nparts), IL_INT("total", rp.total));
	rp.next_progress_ms = rp.start_ms + (rp.tty ? REPUBLISH_BAR_MS : REPUBLISH_LOG_MS);
	run(&rp);
	drain(&rp);
	elapsed = il_event_now_ms() - rp.start_ms;
	if (rp.tty)
		progress(&rp, true);
	end_bar(&rp);
	/* What never got a report was lost to the purge. */
	rp.failed += rp.inflight;
	if (rp.interrupted)
		il_log_warn("republish interrupted before the end of the range", IL_INT("read", rp.read),
		    IL_INT("total", rp.total));
	il_log_info("republish finished", IL_STR("topic", rp.topic), IL_STR("to_topic", rp.to_topic),
	    IL_INT("read", rp.read), IL_INT("matched", rp.matched), IL_INT("copied", rp.copied),
	    IL_INT("failed", rp.failed), IL_INT("elapsed_ms", elapsed));
	out_ok = print_summary(&rp, elapsed);
	if (!out_ok)
		il_log_error("could not write the summary to stdout", IL_STR("reason", strerror(errno)));
	rc = rp.failed > 0 || rp.fatal || rp.interrupted || !out_ok ? 1 : 0;

	il_consumer_destroy(rp.c);
	/* Reports that still come free their messages. */
	il_producer_destroy(rp.p);
	il_serde_destroy(rp.sd);
	il_schema_set_destroy(rp.schemas);
	free(rp.parts);
	free(rp.hdrs);
	free(rp.keys);
	free(rp.prog_ids);
	free(rp.prog_names);
	return rc;
}
