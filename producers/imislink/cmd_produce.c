/*
 * cmd_produce.c - `imislink produce`: JSON lines in, Avro events to Kafka.
 *
 * Each line is an EligibilityEvent in its JSON form or an openSPP individual
 * body.  A line's fate is printed only when it is known for certain: refused
 * at once (with every reason), published or failed only from the delivery
 * report, so the output is a receipt an operator can rely on.
 *
 * Every wait is bounded (PRODUCE_WAIT_MS) and serves delivery reports: input
 * that pauses does not hold receipts back, a full queue does not hide a stop
 * request.  SIGINT/SIGTERM stop the reading, the delivery reports get a
 * bounded drain, and each line read but not confirmed is reported "failed"
 * ("interrupted before delivery").  SIGHUP changes nothing (no reload).
 */
#include <errno.h>
#include <fcntl.h>
#include <getopt.h>
#include <poll.h>
#include <stdarg.h>
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
/* Progress lines: every this many ms, once more than PRODUCE_PROGRESS_AFTER lines. */
#define PRODUCE_PROGRESS_MS 2000
#define PRODUCE_PROGRESS_AFTER 5000
/* The longest single wait: for input, for room in the queue, for delivery
 * reports.  Bounds how late a stop request is noticed and, while the input
 * pauses, how late a receipt is printed. */
#define PRODUCE_WAIT_MS 100
/* How long an interrupted run waits for outstanding delivery reports, and
 * then for the reports of what it purged. */
#define PRODUCE_DRAIN_MS 10000
#define PRODUCE_PURGE_MS 2000
/* Bytes taken from the input by one read. */
#define PRODUCE_READ_BYTES 65536
/* Room for the reasons of one refused line. */
#define PRODUCE_REASON_MAX 4096
/* An offending event_id is quoted in a refusal up to this many bytes. */
#define PRODUCE_QUOTE_MAX 80
/* The receipt reason of every line a stop request left unconfirmed. */
#define PRODUCE_INTERRUPTED "interrupted before delivery"

enum produce_format {
	FORMAT_AUTO,            /* decide per line */
	FORMAT_EVENT,           /* EligibilityEvent JSON form */
	FORMAT_OPENSPP,         /* openSPP individual body */
};

/* The members that mark an openSPP individual body under --format auto;
 * the refusal of an unrecognised line names exactly these. */
static const char *const openspp_marks[] = {
	"ids", "given_name", "family_name", "is_group", "phone_numbers", "registration_date",
};
#define NOPENSPP_MARKS (sizeof(openspp_marks) / sizeof(openspp_marks[0]))

/* What a queued message carries to its delivery report.  Every message sent
 * is on the list of struct produce until its report came, so a run that
 * stops can name each line it gave up on and free what librdkafka never
 * reported. */
struct produce_msg {
	unsigned long long line;        /* input line number, from 1 */
	char *event_id;                 /* the event's id, whole, for the receipt */
	bool reported;                  /* its receipt is out already (given up on) */
	struct produce_msg *prev;       /* neighbours on the list of unreported messages */
	struct produce_msg *next;
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
	int fd;                         /* the input */
	bool own_fd;                    /* fd was opened here (-f FILE) */
	char *inbuf;                    /* bytes read, not yet taken into lines */
	size_t inpos;                   /* next byte of inbuf to take */
	size_t inlen;                   /* bytes in inbuf */
	il_event_ctx ectx;              /* instance and key id type */
	il_buf line;                    /* current line, bounded */
	il_buf value;                   /* encoded message, bounded */
	struct produce_msg *sent;       /* sent, no delivery report yet */

	/* state */
	bool line_started;              /* bytes of the next line were taken */
	bool line_toolong;              /* the line outgrew its bound: dropped */
	bool eof;                       /* the input ended */
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
	bool purged;                    /* what was still queued was purged */
	bool out_failed;                /* stdout failed: receipts are lost */
};

/* Stops the run once stdout failed with @p err (the errno saved at the
 * failure): receipts are the point of the tool, and without them nobody
 * could tell which lines went out. */
static void
output_failed(struct produce *pr, int err)
{
	pr->fatal = true;
	if (pr->out_failed)
		return;
	pr->out_failed = true;
	il_log_error("could not write the receipts to stdout, stopping", IL_STR("reason", strerror(err)));
}

static void
print_receipt(struct produce *pr, const cJSON *out)
{
	if (!pr->out_failed && !il_cli_print_json(out))
		output_failed(pr, errno);
}

static void
flush_receipts(struct produce *pr)
{
	int err;

	if (pr->out_failed)
		return;
	errno = 0;
	if (fflush(stdout) == 0 && !ferror(stdout))
		return;
	err = errno != 0 ? errno : EIO;
	output_failed(pr, err);
}

/* Prints a line's receipt for a refusal or failure; @p reason may hold
 * several lines, and bytes that are not UTF-8 are shown as '?'. */
static void
print_status(struct produce *pr, unsigned long long line, const char *status, const char *reason)
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
	print_receipt(pr, out);
	cJSON_Delete(out);
	free(safe);
}

static void
print_published(struct produce *pr, const struct produce_msg *m, int32_t partition, int64_t offset)
{
	cJSON *out = cJSON_CreateObject();

	cJSON_AddNumberToObject(out, "line", (double)m->line);
	cJSON_AddStringToObject(out, "status", "published");
	cJSON_AddStringToObject(out, "event_id", m->event_id);
	cJSON_AddNumberToObject(out, "partition", partition);
	cJSON_AddNumberToObject(out, "offset", (double)offset);
	print_receipt(pr, out);
	cJSON_Delete(out);
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
	print_status(pr, pr->lines, "refused", reason);
}

/* A line that will never be sent: counted as failed, with @p reason. */
static void
fail_line(struct produce *pr, unsigned long long line, const char *reason)
{
	pr->failed++;
	print_status(pr, line, "failed", reason);
}

static void
on_delivery(void *msg_opaque, il_err err, const char *errstr, const char *topic,
    int32_t partition, int64_t offset, void *cb_ctx)
{
	struct produce *pr = cb_ctx;
	struct produce_msg *m = msg_opaque;
	char reason[512];

	(void)topic;
	if (m->prev != NULL)
		m->prev->next = m->next;
	else
		pr->sent = m->next;
	if (m->next != NULL)
		m->next->prev = m->prev;
	pr->inflight--;
	if (m->reported) {
		/* Given up on already: its receipt said so. */
	} else if (err == IL_OK) {
		pr->published++;
		print_published(pr, m, partition, offset);
	} else if (pr->purged && pr->interrupted) {
		fail_line(pr, m->line, PRODUCE_INTERRUPTED);
	} else {
		snprintf(reason, sizeof(reason), "delivery: %s", errstr != NULL ? errstr : il_err_str(err));
		fail_line(pr, m->line, reason);
	}
	free(m->event_id);
	free(m);
}

/* Serves delivery reports for up to @p ms and notes a fatal producer. */
static void
serve_reports(struct produce *pr, int ms)
{
	il_producer_poll(pr->p, ms);
	if (il_producer_fatal(pr->p, NULL, 0) == IL_ERR_FATAL)
		pr->fatal = true;
}

static void
input_failed(struct produce *pr, int err)
{
	il_log_error("could not read input", IL_STR("file", pr->file), IL_STR("reason", strerror(err)));
	pr->fatal = true;
}

/*
 * Waits up to PRODUCE_WAIT_MS for input and reads what came, serving
 * delivery reports after the wait: a receipt must not wait for the next
 * line (a producer feeding a pipe may pause for hours).  A signal only
 * shortens the wait; the line being assembled stays in pr->line.
 */
static void
fill_input(struct produce *pr)
{
	struct pollfd pfd = { pr->fd, POLLIN, 0 };
	ssize_t n;
	int rc;

	rc = poll(&pfd, 1, PRODUCE_WAIT_MS);
	if (rc < 0 && errno != EINTR) {
		input_failed(pr, errno);
		return;
	}
	if (rc > 0) {
		/* Ready: this read does not block, whether or not the fd is
		 * in non-blocking mode (stdin's is the shell's to set). */
		n = read(pr->fd, pr->inbuf, PRODUCE_READ_BYTES);
		if (n > 0) {
			pr->inpos = 0;
			pr->inlen = (size_t)n;
		} else if (n == 0) {
			pr->eof = true;
		} else if (errno != EINTR && errno != EAGAIN && errno != EWOULDBLOCK) {
			input_failed(pr, errno);
			return;
		}
	}
	serve_reports(pr, 0);
}

/*
 * Takes the next line out of the bytes read into pr->line, without its
 * newline (and a CR before it); at the end of the input, the last line
 * even without a newline.  A line over the buffer's bound is taken to its
 * end and dropped, with pr->line_toolong set, so one huge line costs no more
 * memory than a legal one.
 * @returns true for a line, false when more input is needed.
 */
static bool
take_line(struct produce *pr)
{
	const char *start, *nl;
	size_t n;

	if (pr->inpos < pr->inlen) {
		if (!pr->line_started) {
			il_buf_reset(&pr->line);
			pr->line_toolong = false;
			pr->line_started = true;
		}
		start = pr->inbuf + pr->inpos;
		nl = memchr(start, '\n', pr->inlen - pr->inpos);
		n = nl != NULL ? (size_t)(nl - start) : pr->inlen - pr->inpos;
		if (!pr->line_toolong && il_buf_add(&pr->line, start, n) != IL_OK)
			pr->line_toolong = true;
		pr->inpos += n + (nl != NULL ? 1 : 0);
		if (nl == NULL)
			return false;
	} else if (!pr->eof || !pr->line_started) {
		return false;
	}
	pr->line_started = false;
	if (!pr->line_toolong && pr->line.len > 0 && pr->line.data[pr->line.len - 1] == '\r')
		pr->line.data[--pr->line.len] = '\0';
	return true;
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
detect_format(const cJSON *json, char *reason, size_t reasonsz)
{
	size_t i;
	int n;

	reason[0] = '\0';
	if (cJSON_GetObjectItemCaseSensitive(json, "event_type") != NULL)
		return FORMAT_EVENT;
	for (i = 0; i < NOPENSPP_MARKS; i++) {
		if (cJSON_GetObjectItemCaseSensitive(json, openspp_marks[i]) != NULL)
			return FORMAT_OPENSPP;
	}
	n = snprintf(reason, reasonsz, "neither an EligibilityEvent (no \"event_type\") nor an openSPP "
	    "individual body (no ");
	for (i = 0; i < NOPENSPP_MARKS && n >= 0 && (size_t)n < reasonsz; i++)
		n += snprintf(reason + n, reasonsz - (size_t)n, "%s\"%s\"",
		    i == 0 ? "" : i + 1 == NOPENSPP_MARKS ? " or " : ", ", openspp_marks[i]);
	if (n >= 0 && (size_t)n < reasonsz)
		snprintf(reason + n, reasonsz - (size_t)n, ")");
	return FORMAT_AUTO;
}

static cJSON *
member(const cJSON *obj, const char *name)
{
	return cJSON_GetObjectItemCaseSensitive(obj, name);
}

/* Sets member @p name of @p obj to @p item, replacing any old value. */
static void
set_member(cJSON *obj, const char *name, cJSON *item)
{
	if (member(obj, name) != NULL)
		cJSON_ReplaceItemInObjectCaseSensitive(obj, name, item);
	else
		cJSON_AddItemToObject(obj, name, item);
}

static bool
absent(const cJSON *v)
{
	return v == NULL || cJSON_IsNull(v);
}

/*
 * Checks and completes an event given in its JSON form.  A given event_id
 * must have the form the schema promises; a missing one is derived from the
 * event's own source fields as any producer derives it, the source position
 * first set to the line's own @p position when the line has none (else two
 * events of one file about one record would share an id).  A missing
 * produced_at is now.
 * @returns false after refusing the line.
 */
static bool
complete_event(struct produce *pr, cJSON *event, const char *position)
{
	const cJSON *id = member(event, "event_id");
	cJSON *src = member(event, "source");
	char eid[65], ts[IL_TIME_LEN];
	size_t len;

	if (!absent(id) && !(cJSON_IsString(id) && il_event_id_valid(id->valuestring))) {
		if (!cJSON_IsString(id)) {
			refuse(pr, "event_id: expected 64 lower-case hex digits, got %s",
			    il_text_json_kind(id, true));
			return false;
		}
		len = strlen(id->valuestring);
		refuse(pr, "event_id: expected 64 lower-case hex digits, got \"%.*s\"%s",
		    (int)(len > PRODUCE_QUOTE_MAX ? PRODUCE_QUOTE_MAX : len), id->valuestring,
		    len > PRODUCE_QUOTE_MAX ? "..." : "");
		return false;
	}
	if (absent(id)) {
		if (cJSON_IsObject(src) && absent(member(src, "position")))
			set_member(src, "position", cJSON_CreateString(position));
		il_event_id_of_source(src, eid);
		set_member(event, "event_id", cJSON_CreateString(eid));
	}
	if (absent(member(event, "produced_at"))) {
		il_time_format_ms(il_event_now_ms(), ts);
		set_member(event, "produced_at", cJSON_CreateString(ts));
	}
	return true;
}

void
il_cli_event_programme(cJSON *event, long long id, const char *name)
{
	cJSON *prog;

	if (id < 0 && name == NULL)
		return;
	prog = cJSON_CreateObject();
	if (id >= 0)
		cJSON_AddNumberToObject(prog, "id", (double)id);
	else
		cJSON_AddNullToObject(prog, "id");
	if (name != NULL)
		cJSON_AddStringToObject(prog, "name", name);
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
	char reasons[PRODUCE_REASON_MAX], *position;
	enum produce_format fmt = pr->format;
	cJSON *event = NULL;

	*json_taken = false;
	if (!cJSON_IsObject(json)) {
		refuse(pr, "line: expected a JSON object, got %s",
		    cJSON_IsArray(json) ? "an array" : "a scalar");
		return NULL;
	}
	if (fmt == FORMAT_AUTO)
		fmt = detect_format(json, reasons, sizeof(reasons));
	if (fmt == FORMAT_AUTO) {
		refuse(pr, "line: %s", reasons);
		return NULL;
	}
	position = il_event_file_position(pr->position_prefix, pr->lines, pr->line.data, pr->line.len);
	if (fmt == FORMAT_EVENT) {
		if (complete_event(pr, json, position)) {
			*json_taken = true;
			event = json;
		}
		goto done;
	}
	event = il_event_from_openspp(&pr->ectx, json, "FILE", position, reasons, sizeof(reasons));
	if (event == NULL) {
		refuse(pr, "%s", reasons);
		goto done;
	}
	il_cli_event_programme(event, pr->programme_id, pr->programme_name);

done:
	free(position);
	return event;
}

/*
 * Queues @p m's message, waiting while PRODUCE_MAX_INFLIGHT lines are
 * unreported or librdkafka's queue is full, in waits of PRODUCE_WAIT_MS that
 * serve delivery reports and check for a stop request.
 * @returns IL_OK when queued; otherwise the line's receipt is printed.
 */
static il_err
send_message(struct produce *pr, const char *key, struct produce_msg *m)
{
	il_err err;

	for (;;) {
		if (il_sig_stop_requested()) {
			pr->interrupted = true;
			fail_line(pr, m->line, PRODUCE_INTERRUPTED);
			return IL_ERR_TIMEOUT;
		}
		if (pr->fatal) {
			fail_line(pr, m->line, "delivery: the producer hit a fatal error");
			return IL_ERR_FATAL;
		}
		if (pr->inflight >= PRODUCE_MAX_INFLIGHT) {
			serve_reports(pr, PRODUCE_WAIT_MS);
			continue;
		}
		err = il_producer_send(pr->p, pr->topic, RD_KAFKA_PARTITION_UA, key, strlen(key),
		    pr->value.data, pr->value.len, NULL, 0, m, PRODUCE_WAIT_MS);
		if (err == IL_OK)
			return IL_OK;
		if (err != IL_ERR_TIMEOUT)
			break;
		/* The local queue stayed full for one wait: it served reports
		 * meanwhile; look at the flags and try again. */
		if (il_producer_fatal(pr->p, NULL, 0) == IL_ERR_FATAL)
			pr->fatal = true;
	}
	if (err == IL_ERR_FATAL)
		pr->fatal = true;
	fail_line(pr, m->line, err == IL_ERR_FATAL ? "delivery: the producer hit a fatal error" :
	    "delivery: the producer refused the message (unknown topic or too large)");
	return err;
}

/* Encodes and sends one event; the receipt comes from the delivery report. */
static void
publish(struct produce *pr, const cJSON *event)
{
	char errbuf[PRODUCE_REASON_MAX], *key = NULL;
	struct produce_msg *m = NULL;
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
		fail_line(pr, pr->lines, errbuf[0] != '\0' ? errbuf : il_err_str(err));
		il_log_error("schema registry failed, stopping", IL_STR("reason", errbuf));
		pr->fatal = true;
		goto done;
	}

	m = il_xcalloc(1, sizeof(*m));
	m->line = pr->lines;
	id = cJSON_GetObjectItemCaseSensitive(event, "event_id");
	m->event_id = il_xstrdup(cJSON_IsString(id) ? id->valuestring : "");
	if (send_message(pr, key, m) != IL_OK)
		goto done;
	/* librdkafka holds it now, until the delivery report. */
	m->next = pr->sent;
	if (pr->sent != NULL)
		pr->sent->prev = m;
	pr->sent = m;
	pr->inflight++;
	m = NULL;

done:
	if (m != NULL) {
		free(m->event_id);
		free(m);
	}
	free(key);
}

static void
handle_line(struct produce *pr)
{
	const char *end = NULL;
	bool taken = false;
	cJSON *json, *event;

	if (pr->line_toolong) {
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
	flush_receipts(pr);
	log_progress(pr, "produce progress");
}

/* After a stop request: the complete lines already read are not sent, and
 * each gets its receipt, so the output names every line taken from the
 * input.  A line cut short by the stop was not complete: only logged. */
static void
fail_unread_lines(struct produce *pr)
{
	bool eof = pr->eof;

	pr->eof = false;
	while (take_line(pr)) {
		pr->lines++;
		if (pr->line_toolong || !is_blank(&pr->line))
			fail_line(pr, pr->lines, PRODUCE_INTERRUPTED);
	}
	pr->eof = eof;
	if (pr->line_started)
		il_log_warn("the stop cut a line short: it was not read", IL_INT("line", pr->lines + 1),
		    IL_INT("bytes", pr->line.len));
}

static void
read_input(struct produce *pr)
{
	while (!pr->fatal) {
		if (il_sig_stop_requested()) {
			pr->interrupted = true;
			break;
		}
		if (take_line(pr)) {
			pr->lines++;
			handle_line(pr);
			serve_reports(pr, 0);
			maybe_progress(pr);
			continue;
		}
		if (pr->eof)
			break;
		fill_input(pr);
	}
	if (pr->interrupted)
		fail_unread_lines(pr);
}

/*
 * Waits for every delivery report.  A stop request or a fatal error bounds
 * the wait: what is still queued then is purged, and every line whose report
 * still did not come gets its receipt here.
 */
static void
drain(struct produce *pr)
{
	struct produce_msg *m;
	long long deadline = -1;

	while (pr->inflight > 0) {
		if (deadline < 0 && (pr->interrupted || pr->fatal || il_sig_stop_requested())) {
			if (!pr->fatal)
				pr->interrupted = true;
			deadline = il_event_now_ms() + PRODUCE_DRAIN_MS;
		}
		if (deadline >= 0 && il_event_now_ms() >= deadline)
			break;
		serve_reports(pr, PRODUCE_WAIT_MS);
	}
	if (pr->inflight == 0)
		return;
	il_log_warn("purging messages not yet delivered", IL_INT("count", pr->inflight));
	pr->purged = true;
	rd_kafka_purge(il_producer_handle(pr->p), RD_KAFKA_PURGE_F_QUEUE | RD_KAFKA_PURGE_F_INFLIGHT);
	deadline = il_event_now_ms() + PRODUCE_PURGE_MS;
	while (pr->inflight > 0 && il_event_now_ms() < deadline)
		il_producer_poll(pr->p, PRODUCE_WAIT_MS);
	for (m = pr->sent; m != NULL; m = m->next) {
		if (m->reported)
			continue;
		m->reported = true;
		fail_line(pr, m->line, pr->interrupted ? PRODUCE_INTERRUPTED :
		    "delivery: no report before the producer stopped");
	}
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

/* Opens the input; fatal on error. */
static void
open_input(struct produce *pr)
{
	const char *base;
	struct stat st;
	int flags;

	if (pr->file == NULL || strcmp(pr->file, "-") == 0) {
		pr->fd = STDIN_FILENO;
		pr->file = "-";
		base = "stdin";
	} else {
		/* A FIFO blocks here until its writer opens it. */
		pr->fd = open(pr->file, O_RDONLY | O_CLOEXEC);
		if (pr->fd < 0)
			il_cli_fatal("could not open file \"%s\": %s", pr->file, strerror(errno));
		pr->own_fd = true;
		base = strrchr(pr->file, '/') != NULL ? strrchr(pr->file, '/') + 1 : pr->file;
	}
	/* The base name, so the same file read from another directory gives
	 * the same positions and so the same event ids. */
	if (pr->position_prefix == NULL)
		pr->position_prefix = base;
	pr->progress = !isatty(pr->fd);
	if (fstat(pr->fd, &st) != 0)
		il_cli_fatal("could not read file \"%s\": %s", pr->file, strerror(errno));
	if (!S_ISREG(st.st_mode)) {
		/* Streamed input (a pipe, a terminal) may pause for a long
		 * time: each receipt must then reach the reader at once, not
		 * when a buffer fills. */
		setvbuf(stdout, NULL, _IOLBF, 0);
		/* Non-blocking reads on a description of our own; stdin's is
		 * shared with the shell, and poll() already says when a read
		 * will not block. */
		flags = pr->own_fd ? fcntl(pr->fd, F_GETFL) : -1;
		if (flags >= 0)
			(void)fcntl(pr->fd, F_SETFL, flags | O_NONBLOCK);
	}
	pr->inbuf = il_xmalloc(PRODUCE_READ_BYTES);
}

/* Opens the input and the Kafka, Avro and registry clients; fatal on error. */
static void
setup(struct produce *pr)
{
	char errbuf[1024];

	open_input(pr);
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
		.fd = -1,
	};
	struct produce_msg *m;
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
	flush_receipts(&pr);
	if (pr.interrupted)
		il_log_warn("produce interrupted before the end of the input", IL_INT("lines", pr.lines));
	log_progress(&pr, "produce finished");

	if (pr.failed > 0 || pr.fatal || pr.interrupted || pr.inflight > 0)
		rc = 1;
	else if (pr.refused > 0)
		rc = 2;
	else
		rc = 0;

	/* Reports that still come are for lines given up on: freed unprinted. */
	il_producer_destroy(pr.p);
	while (pr.sent != NULL) {
		m = pr.sent;
		pr.sent = m->next;
		free(m->event_id);
		free(m);
	}
	il_serde_destroy(pr.sd);
	il_schema_set_destroy(pr.schemas);
	il_buf_free(&pr.line);
	il_buf_free(&pr.value);
	free(pr.inbuf);
	if (pr.own_fd)
		close(pr.fd);
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
	"  --position-prefix S      source.position of a line is S:LINE:HASH, HASH the\n"
	"                           first 16 hex digits of the line's SHA-256 (default S:\n"
	"                           the file's base name, or \"stdin\"); an event line with\n"
	"                           neither event_id nor source.position gets it too\n"
	"  An event's id is the SHA-256 of its source fields: the same file gives the\n"
	"  same ids again, a changed line a new one.  A given event_id must be 64\n"
	"  lower-case hex digits.\n"
	"  Prints one JSON line per input line once its fate is known:\n"
	"  {\"line\":N,\"status\":\"published\",\"event_id\":...,\"partition\":P,\"offset\":O}\n"
	"  after the broker acknowledged it, \"refused\" with every reason, or \"failed\"\n"
	"  (\"interrupted before delivery\" for each line a SIGINT/SIGTERM left unconfirmed).\n"
	"  Exit status: 0 all published, 2 some refused, 1 delivery failures or fatal.\n",
	cmd_produce,
};
