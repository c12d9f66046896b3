/*
 * cli.c - small helpers the commands of the operator tool share.
 */
#include "imislink.h"

#include <errno.h>
#include <inttypes.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <openssl/evp.h>

#include "log.h"
#include "text.h"
#include "timefmt.h"
#include "xalloc.h"

/* How long the topic's metadata may take at start. */
#define IL_CLI_METADATA_MS 10000

void
il_cli_usage_error(const char *cmd, const char *fmt, ...)
{
	char msg[1024], hint[128];
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(msg, sizeof(msg), fmt, ap);
	va_end(ap);
	if (cmd != NULL)
		snprintf(hint, sizeof(hint), "Try \"%s %s --help\" for more information", IL_CLI_NAME, cmd);
	else
		snprintf(hint, sizeof(hint), "Try \"%s --help\" for more information", IL_CLI_NAME);
	il_log_error(msg, IL_STR("hint", hint));
	exit(1);
}

void
il_cli_cmd_usage(const il_cmd_entry *e)
{
	printf("Usage:\n  %s %s\n\n%s", IL_CLI_NAME, e->usage, e->help);
	exit(0);
}

il_serde *
il_cli_serde_new(const il_conf *conf, il_schema_set **schemas)
{
	char errbuf[1024];
	il_serde *sd;

	*schemas = il_schema_set_load(il_conf_get(conf, "schemas.dir"), errbuf, sizeof(errbuf));
	if (*schemas == NULL)
		il_cli_fatal("%s", errbuf);
	sd = il_serde_new(conf, *schemas, errbuf, sizeof(errbuf));
	if (sd == NULL)
		il_cli_fatal("%s", errbuf);
	return sd;
}

int
il_cli_topic_partitions(rd_kafka_t *rk, const char *topic, const char *brokers)
{
	const struct rd_kafka_metadata *md = NULL;
	rd_kafka_topic_t *rkt;
	rd_kafka_resp_err_t err;
	int partitions = 0;

	rkt = rd_kafka_topic_new(rk, topic, NULL);
	if (rkt == NULL)
		il_cli_fatal("invalid topic \"%s\": %s", topic, rd_kafka_err2str(rd_kafka_last_error()));
	err = rd_kafka_metadata(rk, 0, rkt, &md, IL_CLI_METADATA_MS);
	rd_kafka_topic_destroy(rkt);
	if (err != RD_KAFKA_RESP_ERR_NO_ERROR)
		il_cli_fatal("could not get metadata for topic \"%s\" from \"%s\": %s", topic, brokers,
		    rd_kafka_err2str(err));
	err = md->topic_cnt == 1 ? md->topics[0].err : RD_KAFKA_RESP_ERR__UNKNOWN_TOPIC;
	if (err == RD_KAFKA_RESP_ERR_NO_ERROR)
		partitions = md->topics[0].partition_cnt;
	rd_kafka_metadata_destroy(md);
	if (err == RD_KAFKA_RESP_ERR_UNKNOWN_TOPIC_OR_PART || err == RD_KAFKA_RESP_ERR__UNKNOWN_TOPIC)
		il_cli_fatal("topic \"%s\" does not exist", topic);
	if (err != RD_KAFKA_RESP_ERR_NO_ERROR)
		il_cli_fatal("topic \"%s\" is not usable: %s", topic, rd_kafka_err2str(err));
	if (partitions <= 0)
		il_cli_fatal("topic \"%s\" has no partitions", topic);
	return partitions;
}

int64_t
il_cli_parse_time(const char *cmd, const char *opt, const char *arg)
{
	const char *why;
	int64_t ms;

	why = il_time_parse_ms(arg, IL_TIME_LENIENT | IL_TIME_MILLIS, &ms);
	if (why != NULL)
		il_cli_usage_error(cmd, "invalid value for %s: expected ISO-8601 (2026-11-21T08:00:00Z) "
		    "or milliseconds, got \"%s\"%s%s", opt, arg, why[0] != '\0' ? ": " : "", why);
	/* Offset queries take -1 and -2 as "latest" and "earliest": a time
	 * before 1970 would silently mean one of those. */
	if (ms < 0)
		il_cli_usage_error(cmd, "invalid value for %s: \"%s\" lies before 1970 (%" PRId64
		    " ms): Kafka reads a negative time as latest or earliest", opt, arg, ms);
	return ms;
}

void
il_cli_log_ends(rd_kafka_t *rk, const char *topic, int nparts, int64_t *end, int timeout_ms)
{
	rd_kafka_resp_err_t err;
	int64_t low;
	int i;

	for (i = 0; i < nparts; i++) {
		err = rd_kafka_query_watermark_offsets(rk, topic, i, &low, &end[i], timeout_ms);
		if (err != RD_KAFKA_RESP_ERR_NO_ERROR)
			il_cli_fatal("could not read the log end offset of topic \"%s\" partition %d: %s",
			    topic, i, rd_kafka_err2str(err));
	}
}

void
il_cli_offsets_at(rd_kafka_t *rk, const char *topic, int nparts, int64_t ts_ms, const int64_t *fallback,
    int64_t *out, const char *what, const char *when, int timeout_ms)
{
	rd_kafka_topic_partition_list_t *list = rd_kafka_topic_partition_list_new(nparts);
	rd_kafka_resp_err_t err;
	int i;

	for (i = 0; i < nparts; i++)
		rd_kafka_topic_partition_list_add(list, topic, i)->offset = ts_ms;
	err = rd_kafka_offsets_for_times(rk, list, timeout_ms);
	if (err != RD_KAFKA_RESP_ERR_NO_ERROR)
		il_cli_fatal("could not find the offsets of %s %s in topic \"%s\": %s", what, when, topic,
		    rd_kafka_err2str(err));
	for (i = 0; i < list->cnt; i++) {
		const rd_kafka_topic_partition_t *tp = &list->elems[i];

		if (tp->err != RD_KAFKA_RESP_ERR_NO_ERROR)
			il_cli_fatal("could not find the offset of %s %s in topic \"%s\" partition %" PRId32
			    ": %s", what, when, topic, tp->partition, rd_kafka_err2str(tp->err));
		out[tp->partition] = tp->offset >= 0 ? tp->offset : fallback[tp->partition];
	}
	rd_kafka_topic_partition_list_destroy(list);
}

bool
il_cli_print_json(const cJSON *json)
{
	char *text = cJSON_PrintUnformatted(json);
	bool ok;
	int saved;

	if (text == NULL) {
		errno = ENOMEM;
		return false;
	}
	/* A sticky error from an earlier line fails this one too: whatever
	 * follows a lost line must not be taken for a complete output. */
	errno = 0;
	ok = fputs(text, stdout) != EOF && putchar('\n') != EOF && !ferror(stdout);
	saved = errno;
	cJSON_free(text);
	if (!ok)
		errno = saved != 0 ? saved : EIO;
	return ok;
}

cJSON *
il_cli_json_text(const void *data, size_t len)
{
	char *s;
	cJSON *j;

	if (memchr(data, '\0', len) != NULL || !il_text_utf8_valid(data, len, NULL))
		return NULL;
	s = il_xstrndup(data, len);
	j = cJSON_CreateString(s);
	free(s);
	return j;
}

cJSON *
il_cli_json_base64(const void *data, size_t len)
{
	unsigned char *out;
	cJSON *j;

	/* EVP_EncodeBlock takes an int: messages are capped far below that. */
	if (len > (size_t)0x3fffffff)
		return NULL;
	out = il_xmalloc(4 * ((len + 2) / 3) + 1);
	EVP_EncodeBlock(out, data, (int)len);
	j = cJSON_CreateString((const char *)out);
	free(out);
	return j;
}
