/*
 * it_produce_raw.c - puts exact bytes on a topic, for tests that need
 * messages no imislink producer would write (wrong magic byte, unknown schema
 * id, truncated bodies) or an exact timestamp.
 *
 *	it_produce_raw BROKERS TOPIC PARTITION TIMESTAMP_MS KEY HEX...
 *
 * Each HEX argument is one message value in hex ("null": no value at all);
 * KEY "-" means no key.  Exits 0 once the broker acknowledged every message.
 */
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <librdkafka/rdkafka.h>

#include "cli.h"
#include "log.h"
#include "text.h"

/* Delivery reports seen, reached through the handle's opaque. */
struct counts {
	int ok;                 /* reports that said success */
	int failed;             /* reports that said failure */
};

static void
on_delivery(rd_kafka_t *rk, const rd_kafka_message_t *rkm, void *opaque)
{
	struct counts *n = opaque;

	(void)rk;
	if (rkm->err != RD_KAFKA_RESP_ERR_NO_ERROR) {
		il_log_error("delivery failed", IL_STR("reason", rd_kafka_err2str(rkm->err)));
		n->failed++;
	} else {
		n->ok++;
	}
}

/* @returns the decoded bytes (caller frees) or NULL when @p hex is not hex. */
static unsigned char *
unhex(const char *hex, size_t *len)
{
	size_t n = strlen(hex), i;
	unsigned char *out;

	if (n % 2 != 0)
		return NULL;
	out = malloc(n / 2 + 1);
	if (out == NULL)
		return NULL;
	for (i = 0; i < n / 2; i++) {
		int hi = il_text_hex_digit(hex[2 * i]), lo = il_text_hex_digit(hex[2 * i + 1]);

		if (hi < 0 || lo < 0) {
			free(out);
			return NULL;
		}
		out[i] = (unsigned char)(hi << 4 | lo);
	}
	*len = n / 2;
	return out;
}

int
main(int argc, char **argv)
{
	struct counts counts = { 0, 0 };
	char errstr[512];
	rd_kafka_conf_t *conf;
	rd_kafka_t *rk;
	const char *key;
	size_t keylen;
	long long ts, n;
	int partition, i, rc = 1, sent = 0;

	il_log_init("it_produce_raw", IL_LOG_INFO, NULL);
	if (argc < 7) {
		fprintf(stderr, "usage: %s BROKERS TOPIC PARTITION TIMESTAMP_MS KEY|- HEX|null...\n", argv[0]);
		return 2;
	}
	if (!il_cli_parse_int(argv[3], 0, INT32_MAX, &n))
		il_cli_fatal("invalid PARTITION: expected 0 to %d, got \"%s\"", INT32_MAX, argv[3]);
	partition = (int)n;
	if (!il_cli_parse_int(argv[4], 0, INT64_MAX, &ts))
		il_cli_fatal("invalid TIMESTAMP_MS: expected milliseconds since the epoch, got \"%s\"",
		    argv[4]);
	key = strcmp(argv[5], "-") == 0 ? NULL : argv[5];
	keylen = key != NULL ? strlen(key) : 0;

	conf = rd_kafka_conf_new();
	if (rd_kafka_conf_set(conf, "bootstrap.servers", argv[1], errstr, sizeof(errstr)) != RD_KAFKA_CONF_OK ||
	    rd_kafka_conf_set(conf, "enable.idempotence", "true", errstr, sizeof(errstr)) != RD_KAFKA_CONF_OK) {
		rd_kafka_conf_destroy(conf);
		il_cli_fatal("could not configure the producer: %s", errstr);
	}
	rd_kafka_conf_set_dr_msg_cb(conf, on_delivery);
	rd_kafka_conf_set_opaque(conf, &counts);
	/* rd_kafka_new() takes ownership of conf when it succeeds. */
	rk = rd_kafka_new(RD_KAFKA_PRODUCER, conf, errstr, sizeof(errstr));
	if (rk == NULL) {
		rd_kafka_conf_destroy(conf);
		il_cli_fatal("could not create the producer: %s", errstr);
	}
	for (i = 6; i < argc; i++) {
		unsigned char *value = NULL;
		size_t len = 0;
		rd_kafka_resp_err_t err;

		if (strcmp(argv[i], "null") != 0) {
			value = unhex(argv[i], &len);
			if (value == NULL) {
				il_log_error("invalid HEX: expected pairs of hex digits or \"null\"",
				    IL_STR("argument", argv[i]));
				goto done;
			}
		}
		err = rd_kafka_producev(rk, RD_KAFKA_V_TOPIC(argv[2]), RD_KAFKA_V_PARTITION(partition),
		    RD_KAFKA_V_KEY(key, keylen), RD_KAFKA_V_VALUE(value, len),
		    RD_KAFKA_V_TIMESTAMP(ts), RD_KAFKA_V_MSGFLAGS(RD_KAFKA_MSG_F_COPY), RD_KAFKA_V_END);
		free(value);
		if (err != RD_KAFKA_RESP_ERR_NO_ERROR) {
			il_log_error("could not produce", IL_STR("reason", rd_kafka_err2str(err)));
			goto done;
		}
		sent++;
	}
	if (rd_kafka_flush(rk, 30000) != RD_KAFKA_RESP_ERR_NO_ERROR)
		il_log_error("could not flush: timed out");
	else if (counts.failed == 0 && counts.ok == sent)
		rc = 0;
done:
	rd_kafka_destroy(rk);
	return rc;
}
