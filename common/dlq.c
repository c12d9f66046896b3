/*
 * dlq.c - the headers of a dead letter (see dlq.h).
 */
#include <stdio.h>
#include <string.h>

#include "dlq.h"
#include "timefmt.h"

static void
add(il_dlq_headers *out, const char *name, const char *value)
{
	if (value == NULL)
		return;
	out->h[out->n].name = name;
	out->h[out->n].value = value;
	out->h[out->n].len = strlen(value);
	out->n++;
}

void
il_dlq_headers_fill(il_dlq_headers *out, const il_dlq_failure *f)
{
	out->n = 0;
	snprintf(out->partition, sizeof(out->partition), "%d", (int)f->partition);
	snprintf(out->offset, sizeof(out->offset), "%lld", (long long)f->offset);
	snprintf(out->attempts, sizeof(out->attempts), "%d", f->attempts);
	/* Connect names the exception's Java class; the closest thing here is
	 * the error class, which dashboards group by. */
	snprintf(out->exc_class, sizeof(out->exc_class), "org.imislink.%s", f->error_class);
	if (!il_time_format_ms(f->first_failure_ms, out->first))
		out->first[0] = '\0';
	if (!il_time_format_ms(f->last_failure_ms, out->last))
		out->last[0] = '\0';

	add(out, IL_DLQ_H_TOPIC, f->topic);
	add(out, IL_DLQ_H_PARTITION, out->partition);
	add(out, IL_DLQ_H_OFFSET, out->offset);
	add(out, IL_DLQ_H_CONNECTOR, f->connector);
	add(out, IL_DLQ_H_TASK, f->task);
	add(out, IL_DLQ_H_STAGE, f->stage);
	add(out, IL_DLQ_H_CLASS, f->connector);
	add(out, IL_DLQ_H_EXC_CLASS, out->exc_class);
	add(out, IL_DLQ_H_EXC_MSG, f->message);
	/* A C worker has no stack trace to give; the message is the whole story. */
	add(out, IL_DLQ_H_EXC_STACK, "");
	add(out, IL_DLQ_H_ERR_CLASS, f->error_class);
	add(out, IL_DLQ_H_ATTEMPTS, out->attempts);
	add(out, IL_DLQ_H_FIRST, out->first);
	add(out, IL_DLQ_H_LAST, out->last);
	add(out, IL_DLQ_H_EVENT_ID, f->event_id);
}
