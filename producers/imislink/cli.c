/*
 * cli.c - small helpers the commands of the operator tool share.
 */
#include "imislink.h"

#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <openssl/evp.h>

#include "log.h"
#include "text.h"
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
