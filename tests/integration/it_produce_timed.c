/*
 * it_produce_timed.c - publishes EligibilityEvents (the JSON form
 * `imislink produce` reads, e.g. it_gen_events' output) with chosen message
 * timestamps, for the replay tests: line N (from 0) gets START_MS + N x
 * STEP_MS, so the events of a time range are known in advance.
 *
 *	it_produce_timed --topic T --start-ms MS --step-ms MS [--file F]
 *
 * Brokers, registry and the key rule come from the environment as for every
 * imislink program (KAFKA_BOOTSTRAP_SERVERS, SCHEMA_REGISTRY_URL,
 * OPENSPP_INSTANCE, OPENSPP_KEY_ID_TYPE).  Values are encoded with serde
 * under "<topic>-value", keys computed with il_event_key(), exactly as
 * `imislink produce` does.  Prints one receipt per line once every message
 * is acknowledged: {"line","event_id","key","timestamp","partition","offset"};
 * exits 0 only when all were.
 */
#include <getopt.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cjson/cJSON.h>
#include <librdkafka/rdkafka.h>

#include "avro.h"
#include "buf.h"
#include "cli.h"
#include "conf.h"
#include "event.h"
#include "log.h"
#include "serde.h"
#include "timefmt.h"
#include "xalloc.h"

/* What the delivery report of one line fills in. */
struct receipt {
	char *event_id;         /* the event's id */
	char *key;              /* its Kafka key */
	int64_t ts;             /* the timestamp given */
	int32_t partition;      /* from the report */
	int64_t offset;         /* from the report, -1 until it came */
	bool failed;            /* the report said failure */
};

/* The handle's opaque is the address of main's receipt array, which grows
 * (moves) while messages are in flight; a message's opaque is its index. */
static void
on_delivery(rd_kafka_t *rk, const rd_kafka_message_t *rkm, void *opaque)
{
	struct receipt *r = *(struct receipt **)opaque + (uintptr_t)rkm->_private;

	(void)rk;
	if (rkm->err != RD_KAFKA_RESP_ERR_NO_ERROR) {
		il_log_error("delivery failed", IL_STR("reason", rd_kafka_err2str(rkm->err)));
		r->failed = true;
		return;
	}
	r->partition = rkm->partition;
	r->offset = rkm->offset;
}

static rd_kafka_t *
make_producer(const char *brokers, struct receipt **rc)
{
	char errstr[512];
	rd_kafka_conf_t *conf = rd_kafka_conf_new();
	rd_kafka_t *rk;

	if (rd_kafka_conf_set(conf, "bootstrap.servers", brokers, errstr, sizeof(errstr)) != RD_KAFKA_CONF_OK ||
	    rd_kafka_conf_set(conf, "enable.idempotence", "true", errstr, sizeof(errstr)) != RD_KAFKA_CONF_OK ||
	    rd_kafka_conf_set(conf, "linger.ms", "10", errstr, sizeof(errstr)) != RD_KAFKA_CONF_OK) {
		rd_kafka_conf_destroy(conf);
		il_cli_fatal("could not configure the producer: %s", errstr);
	}
	rd_kafka_conf_set_dr_msg_cb(conf, on_delivery);
	rd_kafka_conf_set_opaque(conf, rc);
	/* rd_kafka_new() takes ownership of conf when it succeeds. */
	rk = rd_kafka_new(RD_KAFKA_PRODUCER, conf, errstr, sizeof(errstr));
	if (rk == NULL) {
		rd_kafka_conf_destroy(conf);
		il_cli_fatal("could not create the producer: %s", errstr);
	}
	return rk;
}

int
main(int argc, char **argv)
{
	static const struct option opts[] = {
		{ "topic", required_argument, NULL, 't' },
		{ "start-ms", required_argument, NULL, 's' },
		{ "step-ms", required_argument, NULL, 'd' },
		{ "file", required_argument, NULL, 'f' },
		{ NULL, 0, NULL, 0 },
	};
	const char *topic = NULL, *file = NULL;         /* options */
	long long start = -1, step = -1;
	il_conf *conf = il_conf_new();                  /* environment */
	il_schema_set *schemas = NULL;
	const il_schema *schema;
	il_serde *sd = NULL;
	il_event_ctx ectx;
	struct receipt *rc = NULL;                      /* one per line */
	size_t nrc = 0, caprc = 0, i, n = 0;
	char errbuf[1024], when[IL_TIME_LEN], *line = NULL;
	size_t linecap = 0;
	ssize_t len;
	rd_kafka_t *rk;
	il_buf value;
	FILE *in;
	int c, status = 1;

	il_log_init("it_produce_timed", IL_LOG_INFO, NULL);
	while ((c = getopt_long(argc, argv, "", opts, NULL)) != -1) {
		switch (c) {
		case 't':
			topic = optarg;
			break;
		case 's':
			if (!il_cli_parse_int(optarg, 0, INT64_MAX / 2, &start))
				il_cli_fatal("invalid --start-ms: \"%s\"", optarg);
			break;
		case 'd':
			if (!il_cli_parse_int(optarg, 0, 86400000LL, &step))
				il_cli_fatal("invalid --step-ms: \"%s\"", optarg);
			break;
		case 'f':
			file = optarg;
			break;
		default:
			fprintf(stderr, "usage: it_produce_timed --topic T --start-ms MS --step-ms MS [--file F]\n");
			return 2;
		}
	}
	if (topic == NULL || start < 0 || step < 0 || optind != argc) {
		fprintf(stderr, "usage: it_produce_timed --topic T --start-ms MS --step-ms MS [--file F]\n");
		return 2;
	}
	if (il_conf_load_standard(conf, NULL, errbuf, sizeof(errbuf)) != IL_OK)
		il_cli_fatal("%s", errbuf);
	schemas = il_schema_set_load(il_conf_get(conf, "schemas.dir"), errbuf, sizeof(errbuf));
	if (schemas == NULL)
		il_cli_fatal("%s", errbuf);
	schema = il_schema_set_latest(schemas, "EligibilityEvent");
	sd = il_serde_new(conf, schemas, errbuf, sizeof(errbuf));
	if (schema == NULL || sd == NULL)
		il_cli_fatal("no EligibilityEvent schema or no serde: %s", errbuf);
	ectx.instance = il_conf_get(conf, "openspp.instance");
	ectx.key_id_type = il_conf_get(conf, "openspp.key.id.type");
	in = file != NULL ? fopen(file, "r") : stdin;
	if (in == NULL)
		il_cli_fatal("could not open file \"%s\"", file);
	rk = make_producer(il_conf_get(conf, "kafka.bootstrap.servers"), &rc);
	il_buf_init(&value, 1 << 20);

	while ((len = getline(&line, &linecap, in)) > 0) {
		cJSON *ev = cJSON_ParseWithLength(line, (size_t)len);
		const cJSON *id = cJSON_GetObjectItemCaseSensitive(ev, "event_id");
		struct receipt *r;
		rd_kafka_resp_err_t err;

		if (ev == NULL || !cJSON_IsString(id))
			il_cli_fatal("line %zu: not an event with an event_id", n + 1);
		if (nrc == caprc) {
			caprc = caprc ? caprc * 2 : 1024;
			rc = il_xrealloc(rc, caprc * sizeof(*rc));
		}
		r = &rc[nrc];
		memset(r, 0, sizeof(*r));
		r->event_id = il_xstrdup(id->valuestring);
		r->key = il_event_key(&ectx, ev, errbuf, sizeof(errbuf));
		if (r->key == NULL)
			il_cli_fatal("line %zu: %s", n + 1, errbuf);
		r->ts = start + (int64_t)n * step;
		r->offset = -1;
		/* As `imislink produce` completes an event: made "now", here the
		 * message's own time. */
		if (cJSON_GetObjectItemCaseSensitive(ev, "produced_at") == NULL) {
			il_time_format_ms(r->ts, when);
			cJSON_AddStringToObject(ev, "produced_at", when);
		}
		il_buf_reset(&value);
		if (il_serde_encode(sd, topic, schema, ev, &value, errbuf, sizeof(errbuf)) != IL_OK)
			il_cli_fatal("line %zu: %s", n + 1, errbuf);
		cJSON_Delete(ev);
		nrc++;
		n++;
		do {
			err = rd_kafka_producev(rk, RD_KAFKA_V_TOPIC(topic), RD_KAFKA_V_KEY(r->key, strlen(r->key)),
			    RD_KAFKA_V_VALUE(value.data, value.len), RD_KAFKA_V_TIMESTAMP(r->ts),
			    RD_KAFKA_V_MSGFLAGS(RD_KAFKA_MSG_F_COPY), RD_KAFKA_V_OPAQUE((void *)(uintptr_t)(nrc - 1)),
			    RD_KAFKA_V_END);
			if (err == RD_KAFKA_RESP_ERR__QUEUE_FULL)
				rd_kafka_poll(rk, 50);
		} while (err == RD_KAFKA_RESP_ERR__QUEUE_FULL);
		if (err != RD_KAFKA_RESP_ERR_NO_ERROR)
			il_cli_fatal("line %zu: could not produce: %s", n, rd_kafka_err2str(err));
		rd_kafka_poll(rk, 0);
	}
	free(line);
	if (file != NULL)
		fclose(in);
	if (rd_kafka_flush(rk, 60000) != RD_KAFKA_RESP_ERR_NO_ERROR)
		il_log_error("could not flush: timed out");
	status = 0;
	for (i = 0; i < nrc; i++) {
		cJSON *o;
		char *text;

		if (rc[i].failed || rc[i].offset < 0) {
			status = 1;
			continue;
		}
		o = cJSON_CreateObject();
		cJSON_AddNumberToObject(o, "line", (double)(i + 1));
		cJSON_AddStringToObject(o, "event_id", rc[i].event_id);
		cJSON_AddStringToObject(o, "key", rc[i].key);
		cJSON_AddNumberToObject(o, "timestamp", (double)rc[i].ts);
		cJSON_AddNumberToObject(o, "partition", rc[i].partition);
		cJSON_AddNumberToObject(o, "offset", (double)rc[i].offset);
		text = cJSON_PrintUnformatted(o);
		printf("%s\n", text);
		free(text);
		cJSON_Delete(o);
	}
	if (fflush(stdout) != 0)
		status = 1;
	il_log_info("events published", IL_STR("topic", topic), IL_INT("events", nrc), IL_INT("ok", status == 0));
	for (i = 0; i < nrc; i++) {
		free(rc[i].event_id);
		free(rc[i].key);
	}
	free(rc);
	rd_kafka_destroy(rk);
	il_buf_free(&value);
	il_serde_destroy(sd);
	il_schema_set_destroy(schemas);
	il_conf_destroy(conf);
	return status;
}
