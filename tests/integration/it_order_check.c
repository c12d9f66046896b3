/*
 * it_order_check.c - asserts from the openIMIS emulator's request log that
 * the enrollment worker never ran two events of one key at once and never
 * ran them out of order.
 *
 *	it_order_check [--allow-replay] EXPECT REQUESTS...
 *
 * EXPECT is it_gen_events's expect file (each event's id, key and sequence
 * number); each REQUESTS file one page of GET /_emu/requests.  The worker
 * sends X-Correlation-ID: <event id> with every call, so each logged call
 * belongs to one event.  Per key, the calls sorted by start time fall into
 * segments of one event each; the checks:
 *  - no overlap: a segment starts only after every earlier segment of the key
 *    ended (end_us of the last call of event i <= start_us of the first call
 *    of event i+1);
 *  - order: events appear first in their sequence order;
 *  - without --allow-replay, no event comes back after a later one started
 *    (with it, an event redone after a crash or a rebalance is accepted: it is
 *    an earlier one, seen before, and the key goes on from there).
 * A call the emulator hung or reset had no answer: the client gave up on it
 * at an unknown time before the emulator logged its end, so it counts as
 * ending when it started.
 * Prints a report (counts, then each violation, at most 20) and exits 0 when
 * every check holds and at least one pair of events of one key was checked,
 * else 1; 2 for usage errors.
 */
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cjson/cJSON.h>

#include "cli.h"
#include "log.h"
#include "xalloc.h"

#define MAX_REPORTED 20
#define MAX_FILE (512L * 1024 * 1024)

/* One event of the expect file. */
struct event {
	const char *id;         /* borrowed from the expect JSON */
	const char *key;        /* borrowed */
	long long seq;          /* place in the stream, from 1 */
	int key_index;          /* dense number of its key */
};

/* One logged call that belongs to an event. */
struct call {
	long long req_seq;      /* the emulator's request number */
	long long start_us;
	long long end_us;       /* start_us for calls without an answer */
	const struct event *ev;
};

static int
event_cmp_id(const void *a, const void *b)
{
	return strcmp(((const struct event *)a)->id, ((const struct event *)b)->id);
}

static int
event_cmp_key(const void *a, const void *b)
{
	const struct event *x = *(const struct event *const *)a, *y = *(const struct event *const *)b;

	return strcmp(x->key, y->key);
}

static int
call_cmp_seq(const void *a, const void *b)
{
	const struct call *x = a, *y = b;

	return x->req_seq < y->req_seq ? -1 : x->req_seq > y->req_seq;
}

/* By key, then start, then end: a key's calls in the order they began. */
static int
call_cmp_key_start(const void *a, const void *b)
{
	const struct call *x = a, *y = b;

	if (x->ev->key_index != y->ev->key_index)
		return x->ev->key_index < y->ev->key_index ? -1 : 1;
	if (x->start_us != y->start_us)
		return x->start_us < y->start_us ? -1 : 1;
	if (x->end_us != y->end_us)
		return x->end_us < y->end_us ? -1 : 1;
	return call_cmp_seq(a, b);
}

/* @returns the parsed JSON of file @p path; exits 2 when unreadable. */
static cJSON *
read_json(const char *path)
{
	FILE *f = fopen(path, "rb");
	char *text;
	long len;
	cJSON *j;

	if (f == NULL)
		il_cli_fatal("could not open file \"%s\"", path);
	if (fseek(f, 0, SEEK_END) != 0 || (len = ftell(f)) < 0 || len > MAX_FILE ||
	    fseek(f, 0, SEEK_SET) != 0) {
		fclose(f);
		il_cli_fatal("could not size file \"%s\"", path);
	}
	text = il_xmalloc((size_t)len + 1);
	if (fread(text, 1, (size_t)len, f) != (size_t)len) {
		fclose(f);
		free(text);
		il_cli_fatal("could not read file \"%s\"", path);
	}
	fclose(f);
	text[len] = '\0';
	j = cJSON_ParseWithLength(text, (size_t)len);
	free(text);
	if (j == NULL)
		il_cli_fatal("could not parse file \"%s\": not JSON", path);
	return j;
}

static long long
num(const cJSON *o, const char *name, bool *ok)
{
	const cJSON *v = cJSON_GetObjectItemCaseSensitive(o, name);

	if (!cJSON_IsNumber(v)) {
		*ok = false;
		return 0;
	}
	return (long long)v->valuedouble;
}

/* Prints one violation of event @p a against event @p b, up to MAX_REPORTED of them. */
static void
violation(int *n, const char *what, const struct event *a, const struct event *b,
    long long start_us, long long end_us)
{
	const char *how;

	if (++*n > MAX_REPORTED)
		return;
	if (strcmp(what, "overlap") == 0)
		how = "started before the calls of";
	else if (strcmp(what, "order") == 0)
		how = "began after";
	else if (strcmp(what, "replay") == 0)
		how = "ran again after";
	else
		how = "ran in two parts around";
	printf("  %s: key %s: event %lld (%s) %s event %lld (%s)", what, a->key, a->seq, a->id, how,
	    b->seq, b->id);
	if (strcmp(what, "overlap") == 0)
		printf(" ended (%lld us < %lld us)", start_us, end_us);
	printf("\n");
}

int
main(int argc, char **argv)
{
	bool allow_replay = false, ok;
	cJSON *expect, **pages = NULL;
	const cJSON *evs, *x, *reqs, *r;
	struct event *events, **by_key;
	struct call *calls = NULL;
	size_t nevents, ncalls = 0, capcalls = 0, npages = 0, i, j;
	long long nreq = 0, nuncorrelated = 0, nforeign = 0, nbad = 0;
	long long pairs = 0, keys_multi = 0, replays = 0;
	int overlaps = 0, reorders = 0, nreported = 0, nkeys = 0, argi = 1;

	il_log_init("it_order_check", IL_LOG_INFO, NULL);
	if (argi < argc && strcmp(argv[argi], "--allow-replay") == 0) {
		allow_replay = true;
		argi++;
	}
	if (argc - argi < 2) {
		fprintf(stderr, "usage: it_order_check [--allow-replay] EXPECT REQUESTS...\n");
		return 2;
	}

	/* The events, sorted by id for lookups, each with a dense key number. */
	expect = read_json(argv[argi]);
	evs = cJSON_GetObjectItemCaseSensitive(expect, "events");
	nevents = (size_t)cJSON_GetArraySize(evs);
	if (!cJSON_IsArray(evs) || nevents == 0)
		il_cli_fatal("file \"%s\": no \"events\" array", argv[argi]);
	events = il_xcalloc(nevents, sizeof(*events));
	by_key = il_xcalloc(nevents, sizeof(*by_key));
	i = 0;
	cJSON_ArrayForEach(x, evs) {
		const cJSON *id = cJSON_GetObjectItemCaseSensitive(x, "event_id");
		const cJSON *key = cJSON_GetObjectItemCaseSensitive(x, "key");

		ok = true;
		events[i].seq = num(x, "seq", &ok);
		if (!ok || !cJSON_IsString(id) || !cJSON_IsString(key))
			il_cli_fatal("file \"%s\": event %zu lacks event_id, key or seq", argv[argi], i);
		events[i].id = id->valuestring;
		events[i].key = key->valuestring;
		i++;
	}
	qsort(events, nevents, sizeof(*events), event_cmp_id);
	for (i = 0; i < nevents; i++)
		by_key[i] = &events[i];
	qsort(by_key, nevents, sizeof(*by_key), event_cmp_key);
	for (i = 0; i < nevents; i++) {
		if (i > 0 && strcmp(by_key[i]->key, by_key[i - 1]->key) != 0)
			nkeys++;
		by_key[i]->key_index = nkeys;
	}
	nkeys++;

	/* The calls of known events, from every page, each request once. */
	pages = il_xcalloc((size_t)(argc - argi - 1), sizeof(*pages));
	for (argi++; argi < argc; argi++) {
		cJSON *page = read_json(argv[argi]);

		pages[npages++] = page;
		reqs = cJSON_GetObjectItemCaseSensitive(page, "requests");
		if (!cJSON_IsArray(reqs))
			il_cli_fatal("file \"%s\": no \"requests\" array", argv[argi]);
		cJSON_ArrayForEach(r, reqs) {
			const cJSON *corr = cJSON_GetObjectItemCaseSensitive(r, "correlation");
			const cJSON *fault = cJSON_GetObjectItemCaseSensitive(r, "fault");
			struct event probe, *ev;
			struct call c;

			nreq++;
			if (!cJSON_IsString(corr)) {
				nuncorrelated++;
				continue;
			}
			probe.id = corr->valuestring;
			ev = bsearch(&probe, events, nevents, sizeof(*events), event_cmp_id);
			if (ev == NULL) {
				nforeign++;
				continue;
			}
			ok = true;
			c.req_seq = num(r, "seq", &ok);
			c.start_us = num(r, "start_us", &ok);
			c.end_us = num(r, "end_us", &ok);
			if (!ok) {
				nbad++;
				continue;
			}
			if (cJSON_IsString(fault) && (strcmp(fault->valuestring, "hang") == 0 ||
			    strcmp(fault->valuestring, "reset") == 0))
				c.end_us = c.start_us;
			c.ev = ev;
			if (ncalls == capcalls) {
				capcalls = capcalls == 0 ? 4096 : capcalls * 2;
				calls = il_xrealloc(calls, capcalls * sizeof(*calls));
			}
			calls[ncalls++] = c;
		}
	}
	/* Pages fetched with overlapping ranges name a request twice. */
	if (ncalls > 0) {
		qsort(calls, ncalls, sizeof(*calls), call_cmp_seq);
		for (i = 1, j = 1; i < ncalls; i++) {
			if (calls[i].req_seq != calls[j - 1].req_seq)
				calls[j++] = calls[i];
		}
		ncalls = j;
		qsort(calls, ncalls, sizeof(*calls), call_cmp_key_start);
	}

	printf("order check: %lld requests logged, %zu calls of the %zu known events, %lld without "
	    "correlation id, %lld of other events%s\n", nreq, ncalls, nevents, nuncorrelated, nforeign,
	    allow_replay ? " (replays allowed)" : "");
	if (nbad > 0)
		printf("  %lld requests lacked seq, start_us or end_us\n", nbad);

	/* Per key: its calls in start order, cut into segments of one event. */
	for (i = 0; i < ncalls;) {
		const struct event *prev = NULL;  /* the event of the previous segment */
		long long max_end = -1;         /* latest end of the earlier segments */
		const struct event *max_end_ev = NULL; /* whose segment ended then */
		long long max_seq = 0;          /* highest sequence number begun */
		const struct event *max_ev = NULL;
		const struct event **seen = NULL;
		size_t nseen = 0, k;
		int key = calls[i].ev->key_index;

		for (j = i; j < ncalls && calls[j].ev->key_index == key;) {
			const struct event *ev = calls[j].ev;
			long long start = calls[j].start_us, end = calls[j].end_us;
			bool was_seen = false;

			while (++j < ncalls && calls[j].ev == ev) {
				if (calls[j].end_us > end)
					end = calls[j].end_us;
			}
			if (prev != NULL && start < max_end) {
				overlaps++;
				violation(&nreported, "overlap", ev, max_end_ev, start, max_end);
			}
			if (prev != NULL)
				pairs++;
			for (k = 0; k < nseen; k++) {
				if (seen[k] == ev)
					was_seen = true;
			}
			if (ev->seq < max_seq) {
				if (!was_seen) {
					reorders++;
					violation(&nreported, "order", ev, max_ev, 0, 0);
				} else if (!allow_replay) {
					reorders++;
					violation(&nreported, "replay", ev, max_ev, 0, 0);
				} else {
					replays++;
				}
			} else if (was_seen && !allow_replay) {
				reorders++;
				violation(&nreported, "split", ev, prev, 0, 0);
			}
			if (ev->seq > max_seq) {
				max_seq = ev->seq;
				max_ev = ev;
			}
			if (!was_seen) {
				seen = il_xrealloc(seen, (nseen + 1) * sizeof(*seen));
				seen[nseen++] = ev;
			}
			if (end > max_end) {
				max_end = end;
				max_end_ev = ev;
			}
			prev = ev;
		}
		if (nseen > 1)
			keys_multi++;
		free(seen);
		i = j;
	}

	if (nreported > MAX_REPORTED)
		printf("  ... and %d more violations\n", nreported - MAX_REPORTED);
	printf("order check: %d keys, %lld with calls of several events, %lld consecutive pairs "
	    "checked, %lld replays, %d overlaps, %d order violations\n", nkeys, keys_multi, pairs,
	    replays, overlaps, reorders);
	ok = overlaps == 0 && reorders == 0 && pairs > 0;
	if (pairs == 0)
		printf("order check: nothing to check: no key had calls of two events\n");
	printf("order check: %s\n", ok ? "ok" : "FAILED");

	for (i = 0; i < npages; i++)
		cJSON_Delete(pages[i]);
	free(pages);
	free(calls);
	free(by_key);
	free(events);
	cJSON_Delete(expect);
	return ok ? 0 : 1;
}
