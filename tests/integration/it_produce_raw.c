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
#include <errno.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <librdkafka/rdkafka.h>

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
		fprintf(stderr, "it_produce_raw: delivery failed: %s\n", rd_kafka_err2str(rkm->err));
		n->failed++;
	} else {
		n->ok++;
	}
}

static int
hexval(char c)
{
	if (c >= '0' && c <= '9')
		return c - '0';
	if (c >= 'a' && c <= 'f')
		return c - 'a' + 10;
	if (c >= 'A' && c <= 'F')
		return c - 'A' + 10;
	return -1;
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
		int hi = hexval(hex[2 * i]), lo = hexval(hex[2 * i + 1]);

		if (hi < 0 || lo < 0) {
			free(out);
			return NULL;
		}
		out[i] = (unsigned char)(hi << 4 | lo);
	}
	*len = n / 2;
	return out;
}

static bool
parse_ll(const char *s, long long min, long long max, long long *out)
{
	char *end = NULL;
	long long v;

	errno = 0;
	v = strtoll(s, &end, 10);
	if (errno != 0 || end == s || *end != '\0' || v < min || v > max)
		return false;
	*out = v;
	return true;
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

	if (argc < 7) {
		fprintf(stderr, "usage: %s BROKERS TOPIC PARTITION TIMESTAMP_MS KEY|- HEX|null...\n", argv[0]);
		return 2;
	}
	if (!parse_ll(argv[3], 0, INT32_MAX, &n)) {
		fprintf(stderr, "it_produce_raw: not a partition: \"%s\"\n", argv[3]);
		return 2;
	}
	partition = (int)n;
	if (!parse_ll(argv[4], 0, INT64_MAX, &ts)) {
		fprintf(stderr, "it_produce_raw: not a timestamp in ms: \"%s\"\n", argv[4]);
		return 2;
	}
	key = strcmp(argv[5], "-") == 0 ? NULL : argv[5];
	keylen = key != NULL ? strlen(key) : 0;

	conf = rd_kafka_conf_new();
	if (rd_kafka_conf_set(conf, "bootstrap.servers", argv[1], errstr, sizeof(errstr)) != RD_KAFKA_CONF_OK ||
	    rd_kafka_conf_set(conf, "enable.idempotence", "true", errstr, sizeof(errstr)) != RD_KAFKA_CONF_OK) {
		fprintf(stderr, "it_produce_raw: %s\n", errstr);
		rd_kafka_conf_destroy(conf);
		return 1;
	}
	rd_kafka_conf_set_dr_msg_cb(conf, on_delivery);
	rd_kafka_conf_set_opaque(conf, &counts);
	/* rd_kafka_new() takes ownership of conf when it succeeds. */
	rk = rd_kafka_new(RD_KAFKA_PRODUCER, conf, errstr, sizeof(errstr));
	if (rk == NULL) {
		fprintf(stderr, "it_produce_raw: %s\n", errstr);
		rd_kafka_conf_destroy(conf);
		return 1;
	}
	for (i = 6; i < argc; i++) {
		unsigned char *value = NULL;
		size_t len = 0;
		rd_kafka_resp_err_t err;

		if (strcmp(argv[i], "null") != 0) {
			value = unhex(argv[i], &len);
			if (value == NULL) {
				fprintf(stderr, "it_produce_raw: not hex: \"%s\"\n", argv[i]);
				goto done;
			}
		}
		err = rd_kafka_producev(rk, RD_KAFKA_V_TOPIC(argv[2]), RD_KAFKA_V_PARTITION(partition),
		    RD_KAFKA_V_KEY(key, keylen), RD_KAFKA_V_VALUE(value, len),
		    RD_KAFKA_V_TIMESTAMP(ts), RD_KAFKA_V_MSGFLAGS(RD_KAFKA_MSG_F_COPY), RD_KAFKA_V_END);
		free(value);
		if (err != RD_KAFKA_RESP_ERR_NO_ERROR) {
			fprintf(stderr, "it_produce_raw: produce failed: %s\n", rd_kafka_err2str(err));
			goto done;
		}
		sent++;
	}
	if (rd_kafka_flush(rk, 30000) != RD_KAFKA_RESP_ERR_NO_ERROR)
		fprintf(stderr, "it_produce_raw: flush timed out\n");
	else if (counts.failed == 0 && counts.ok == sent)
		rc = 0;
done:
	rd_kafka_destroy(rk);
	return rc;
}
