/*
 * bench_gateway - acknowledged POSTs per second and their p99 latency at the
 * DCI push gateway (imislink-gateway), with C connections in parallel.
 *
 * Each connection is a thread with one keep-alive libcurl handle that posts
 * the valid individual of tests/data/gateway/individual.json to
 * /registry/individual again and again, N requests in all.  Only a 202 (the
 * event confirmed by Kafka) counts as acknowledged; anything else is counted
 * and reported, and makes the run fail.  The gateway is started by the
 * caller (tests/bench/run.sh) with a rate limit above the load.
 *
 * Figures: gateway_acked_per_s (target at least 3000) and gateway_p99_ms
 * (target under 50), at 64 connections.
 *
 *	bench_gateway -u BASE_URL -k TOKEN [-c CONNECTIONS] [-n REQUESTS]
 */
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <curl/curl.h>

#include "bench.h"
#include "buf.h"
#include "xalloc.h"

#define BENCH_BODY_FILE IL_TEST_DATA_DIR "/gateway/individual.json"

struct bench_gw {
	const char *url;        /* BASE_URL/registry/individual */
	const char *auth;       /* "Authorization: Bearer TOKEN" */
	const char *body;
	long requests;          /* -n */
	atomic_long next;       /* requests handed out */
	atomic_long acked;      /* 202s */
	atomic_long refused;    /* anything else */
	double *latency;        /* seconds, one per request */
};

static size_t
discard(char *ptr, size_t size, size_t nmemb, void *ctx)
{
	(void)ptr;
	(void)ctx;
	return size * nmemb;
}

static void *
worker(void *arg)
{
	struct bench_gw *b = arg;
	struct curl_slist *hdrs = NULL;
	CURL *h = curl_easy_init();
	long i, code;
	double t0;

	if (h == NULL)
		return NULL;
	hdrs = curl_slist_append(hdrs, b->auth);
	hdrs = curl_slist_append(hdrs, "Content-Type: application/json");
	curl_easy_setopt(h, CURLOPT_URL, b->url);
	curl_easy_setopt(h, CURLOPT_HTTPHEADER, hdrs);
	curl_easy_setopt(h, CURLOPT_POSTFIELDS, b->body);
	curl_easy_setopt(h, CURLOPT_WRITEFUNCTION, discard);
	curl_easy_setopt(h, CURLOPT_TIMEOUT, 60L);
	curl_easy_setopt(h, CURLOPT_NOSIGNAL, 1L);
	while ((i = atomic_fetch_add(&b->next, 1)) < b->requests) {
		t0 = bench_now();
		code = 0;
		if (curl_easy_perform(h) == CURLE_OK)
			curl_easy_getinfo(h, CURLINFO_RESPONSE_CODE, &code);
		b->latency[i] = bench_now() - t0;
		if (code == 202)
			atomic_fetch_add(&b->acked, 1);
		else
			atomic_fetch_add(&b->refused, 1);
	}
	curl_slist_free_all(hdrs);
	curl_easy_cleanup(h);
	return NULL;
}

static int
cmp_double(const void *a, const void *b)
{
	double x = *(const double *)a, y = *(const double *)b;

	return (x > y) - (x < y);
}

int
main(int argc, char **argv)
{
	struct bench_gw b = { .requests = 30000 };
	const char *base = NULL, *token = NULL;
	pthread_t *threads;
	char errbuf[256], *auth = NULL;
	size_t p99;
	il_buf body;
	long conns = 64, i, started = 0;
	double t0, elapsed;
	int opt, rc = 1;

	bench_init(argc, argv);
	while ((opt = getopt(argc, argv, "u:k:c:n:")) != -1) {
		switch (opt) {
		case 'u': base = optarg; break;
		case 'k': token = optarg; break;
		case 'c': conns = strtol(optarg, NULL, 10); break;
		case 'n': b.requests = strtol(optarg, NULL, 10); break;
		default:
			fprintf(stderr, "usage: bench_gateway -u BASE_URL -k TOKEN [-c CONNECTIONS] [-n REQUESTS]\n");
			return 2;
		}
	}
	if (base == NULL || token == NULL || conns < 1 || conns > 1024 || b.requests < 1) {
		fprintf(stderr, "usage: bench_gateway -u BASE_URL -k TOKEN [-c CONNECTIONS] [-n REQUESTS]\n");
		return 2;
	}
	il_buf_init(&body, 1 << 20);
	if (il_buf_read_file(&body, BENCH_BODY_FILE, errbuf, sizeof(errbuf)) != IL_OK) {
		fprintf(stderr, "bench_gateway: %s\n", errbuf);
		il_buf_free(&body);
		return 1;
	}
	curl_global_init(CURL_GLOBAL_DEFAULT);
	b.body = body.data;
	b.url = il_xasprintf("%s/registry/individual", base);
	b.auth = auth = il_xasprintf("Authorization: Bearer %s", token);
	atomic_init(&b.next, 0);
	atomic_init(&b.acked, 0);
	atomic_init(&b.refused, 0);
	b.latency = calloc((size_t)b.requests, sizeof(double));
	threads = calloc((size_t)conns, sizeof(*threads));
	if (b.latency == NULL || threads == NULL) {
		fprintf(stderr, "bench_gateway: out of memory\n");
		goto done;
	}
	t0 = bench_now();
	for (i = 0; i < conns; i++) {
		if (pthread_create(&threads[i], NULL, worker, &b) != 0)
			break;
		started++;
	}
	for (i = 0; i < started; i++)
		pthread_join(threads[i], NULL);
	elapsed = bench_now() - t0;
	if (started < conns || atomic_load(&b.refused) > 0) {
		fprintf(stderr, "bench_gateway: %ld connections of %ld, %ld requests not answered 202\n",
		    started, conns, atomic_load(&b.refused));
		goto done;
	}
	qsort(b.latency, (size_t)b.requests, sizeof(double), cmp_double);
	bench_report("gateway_acked_per_s", (double)atomic_load(&b.acked) / elapsed, "req/s", ">= 3000");
	/* The nearest-rank p99: the smallest latency at or above 99 % of them. */
	p99 = (size_t)((b.requests * 99 + 99) / 100) - 1;
	bench_report("gateway_p99_ms", b.latency[p99] * 1000.0, "ms", "< 50");
	rc = 0;

done:
	free(threads);
	free(b.latency);
	free((char *)b.url);
	free(auth);
	il_buf_free(&body);
	curl_global_cleanup();
	return rc;
}
