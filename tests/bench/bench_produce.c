/*
 * bench_produce - publishing throughput of Avro EligibilityEvents.
 *
 * Encodes N events (a realistic household event, a distinct key each) with the
 * tree's schema and publishes them through the idempotent producer of
 * common/kafka.c to the broker in $KAFKA_BOOTSTRAP_SERVERS, counting an event
 * only when its delivery report says it is durable.
 *
 * Without -r it publishes as fast as it can and prints events per second and
 * the peak RSS (its latencies are mostly time spent queued, so they are not
 * reported).  With -r RATE it paces the events at RATE per second and prints
 * the enqueue-to-durable latency percentiles a source sees at that load.
 *
 *	bench_produce -t TOPIC [-n COUNT] [-r RATE]
 */
#include <errno.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "avro.h"
#include "bench.h"
#include "buf.h"
#include "conf.h"
#include "event.h"
#include "kafka.h"
#include "log.h"
#include "serde.h"
#include "xalloc.h"

/* Shared by the delivery callback and the loop that waits for it. */
typedef struct bench_state {
	double *sent_at;        /* enqueue time per event index */
	double *latency;        /* delivery latency per delivered event, seconds */
	long delivered;         /* delivery reports with success */
	long failed;            /* delivery reports with an error */
} bench_state;

static const char *event_template =
    "{\"event_id\":\"x\",\"event_type\":\"MEMBERSHIP_CHANGED\","
    "\"source\":{\"system\":\"openspp\",\"instance\":\"bench\",\"kind\":\"CDC\","
    "\"position\":\"0/16B3748\",\"table\":\"g2p_program_membership\",\"primary_key\":\"1\"},"
    "\"occurred_at\":\"2026-11-21T10:00:00.000Z\",\"produced_at\":\"2026-11-21T10:00:00.100Z\","
    "\"programme\":{\"id\":3,\"name\":\"Universal Health Coverage\",\"target_type\":\"GROUP\"},"
    "\"membership\":{\"state\":\"ENROLLED\",\"previous_state\":\"DRAFT\","
    "\"enrollment_date\":\"2026-11-21T09:59:00.000Z\",\"exit_date\":null},"
    "\"registrant\":{\"source_id\":1,\"external_ids\":[{\"type\":\"National ID\",\"value\":\"0\","
    "\"status\":\"valid\",\"expiry_date\":null,\"description\":null}],\"is_group\":false,"
    "\"name\":\"DOE, JANE\",\"given_name\":\"Jane\",\"family_name\":\"Doe\",\"addl_name\":null,"
    "\"gender\":\"Female\",\"birthdate\":\"1990-04-12\",\"birthdate_exact\":true,"
    "\"birth_place\":\"Kigali\",\"registration_date\":\"2024-01-15\","
    "\"phones\":[{\"number\":\"+250788000000\",\"sanitized\":\"+250788000000\",\"date_collected\":\"2024-01-15\"}],"
    "\"email\":null,\"address\":\"Village 12\",\"area\":{\"id\":12,\"code\":\"V12\",\"name\":\"Village 12\"}},"
    "\"household\":null}";

static void
on_delivery(void *msg_opaque, il_err err, const char *errstr, const char *topic,
    int32_t partition, int64_t offset, void *cb_ctx)
{
	bench_state *st = cb_ctx;
	long idx = (long)(intptr_t)msg_opaque;

	(void)errstr; (void)topic; (void)partition; (void)offset;
	if (err != IL_OK) {
		st->failed++;
		return;
	}
	st->latency[st->delivered++] = bench_now() - st->sent_at[idx];
}

static int
cmp_double(const void *a, const void *b)
{
	double x = *(const double *)a, y = *(const double *)b;

	return (x > y) - (x < y);
}

static double
percentile(const double *sorted, long n, double p)
{
	long i = (long)(p * (double)(n - 1));

	return n > 0 ? sorted[i] : 0.0;
}

int
main(int argc, char **argv)
{
	char errbuf[512];
	const char *topic = NULL;       /* where events go */
	long count = 200000;            /* events to publish */
	long rate = 0;                  /* events per second; 0: as fast as possible */
	il_conf *conf = NULL;
	il_schema_set *schemas = NULL;
	il_serde *serde = NULL;
	il_producer *prod = NULL;
	cJSON *event = NULL;
	bench_state st = { 0 };
	il_buf msg;
	double t0, elapsed;
	int opt, rc = 1;

	bench_init(argc, argv);
	while ((opt = getopt(argc, argv, "t:n:r:")) != -1) {
		switch (opt) {
		case 't': topic = optarg; break;
		case 'n': count = strtol(optarg, NULL, 10); break;
		case 'r': rate = strtol(optarg, NULL, 10); break;
		default:
			fprintf(stderr, "usage: %s -t TOPIC [-n COUNT] [-r RATE]\n", argv[0]);
			return 1;
		}
	}
	if (topic == NULL || count <= 0 || rate < 0) {
		fprintf(stderr, "usage: %s -t TOPIC [-n COUNT] [-r RATE]\n", argv[0]);
		return 1;
	}
	il_log_init("bench_produce", IL_LOG_WARN, NULL);
	il_buf_init(&msg, 1 << 20);
	conf = il_conf_new();
	if (il_conf_load_env(conf, errbuf, sizeof(errbuf)) != IL_OK ||
	    il_conf_set_rdkafka_arg(conf, "linger.ms=20", errbuf, sizeof(errbuf)) != IL_OK) {
		fprintf(stderr, "configuration: %s\n", errbuf);
		goto out;
	}
	schemas = il_schema_set_load(il_conf_get(conf, "schemas.dir"), errbuf, sizeof(errbuf));
	if (schemas == NULL || (serde = il_serde_new(conf, schemas, errbuf, sizeof(errbuf))) == NULL) {
		fprintf(stderr, "schemas: %s\n", errbuf);
		goto out;
	}
	prod = il_producer_new(conf, on_delivery, &st, errbuf, sizeof(errbuf));
	if (prod == NULL) {
		fprintf(stderr, "producer: %s\n", errbuf);
		goto out;
	}
	event = cJSON_Parse(event_template);
	st.sent_at = il_xcalloc((size_t)count, sizeof(double));
	st.latency = il_xcalloc((size_t)count, sizeof(double));

	t0 = bench_now();
	for (long i = 0; i < count; i++) {
		cJSON *reg = cJSON_GetObjectItem(event, "registrant");
		cJSON *id = cJSON_GetArrayItem(cJSON_GetObjectItem(reg, "external_ids"), 0);
		char key[32], eid[65];

		snprintf(key, sizeof(key), "NID%09ld", i);
		il_event_id("openspp", "bench", "CDC", key, "g2p_program_membership", key, eid);
		cJSON_ReplaceItemInObject(id, "value", cJSON_CreateString(key));
		cJSON_ReplaceItemInObject(event, "event_id", cJSON_CreateString(eid));
		il_buf_reset(&msg);
		if (il_serde_encode(serde, topic, il_schema_set_latest(schemas, "EligibilityEvent"),
		    event, &msg, errbuf, sizeof(errbuf)) != IL_OK) {
			fprintf(stderr, "encode: %s\n", errbuf);
			goto out;
		}
		/* Paced: wait for this event's slot, serving delivery reports meanwhile. */
		while (rate > 0 && bench_now() < t0 + (double)i / (double)rate)
			il_producer_poll(prod, 1);
		st.sent_at[i] = bench_now();
		if (il_producer_send(prod, topic, RD_KAFKA_PARTITION_UA, key, strlen(key),
		    msg.data, msg.len, NULL, 0, (void *)(intptr_t)i, 10000) != IL_OK) {
			fprintf(stderr, "send failed at event %ld\n", i);
			goto out;
		}
		il_producer_poll(prod, 0);
	}
	if (il_producer_flush(prod, 60000) != IL_OK || st.failed > 0) {
		fprintf(stderr, "%ld events not delivered\n", count - st.delivered);
		goto out;
	}
	elapsed = bench_now() - t0;
	qsort(st.latency, (size_t)st.delivered, sizeof(double), cmp_double);
	if (rate == 0) {
		bench_report("produce_events_per_s", (double)st.delivered / elapsed, "events/s", ">=50000");
		bench_report("produce_peak_rss_mb", bench_peak_rss_mb(), "MiB", "");
	} else {
		char name[64];

		snprintf(name, sizeof(name), "produce_latency_p50_ms_at_%ld_per_s", rate);
		bench_report(name, percentile(st.latency, st.delivered, 0.50) * 1e3, "ms", "");
		snprintf(name, sizeof(name), "produce_latency_p99_ms_at_%ld_per_s", rate);
		bench_report(name, percentile(st.latency, st.delivered, 0.99) * 1e3, "ms", "");
	}
	rc = 0;
out:
	cJSON_Delete(event);
	free(st.sent_at);
	free(st.latency);
	il_producer_destroy(prod);
	il_serde_destroy(serde);
	il_schema_set_destroy(schemas);
	il_conf_destroy(conf);
	il_buf_free(&msg);
	return rc;
}
