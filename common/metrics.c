/*
 * metrics.c - counters, gauges and histograms in the Prometheus text format.
 *
 * A registry is a list of families (name, help, type, histogram bounds), each
 * holding its label sets in creation order, so the rendered text is stable and
 * every family's # HELP/# TYPE appears once.  One mutex guards the registry:
 * updates are a few instructions, so contention with the renderer is short.
 */
#include "metrics.h"

#include <math.h>
#include <pthread.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <dirent.h>
#include <unistd.h>

#include "xalloc.h"

typedef enum il_metric_type {
	IL_METRIC_COUNTER,
	IL_METRIC_GAUGE,
	IL_METRIC_HISTOGRAM,
} il_metric_type;

typedef struct il_family il_family;

struct il_metric {
	il_family *fam;         /* family this label set belongs to */
	char *labels;           /* inside of the braces, "" for none */
	double value;           /* counter or gauge value; histogram sum */
	uint64_t count;         /* histogram: observations */
	uint64_t *buckets;      /* histogram: per-bucket counts, not cumulative */
	il_metric *next;        /* next label set of the family */
};

struct il_family {
	il_metrics *reg;        /* owning registry, for its mutex */
	char *name;             /* metric name */
	char *help;             /* help text, unescaped */
	il_metric_type type;    /* counter, gauge or histogram */
	double *bounds;         /* histogram upper bounds, ascending */
	size_t nbounds;         /* entries in bounds */
	il_metric *first;       /* label sets in creation order */
	il_metric *last;        /* where the next label set goes */
	il_family *next;        /* next family in creation order */
};

struct il_metrics {
	pthread_mutex_t lock;   /* guards everything below and every value */
	il_family *first;       /* families in creation order */
	il_family *last;        /* where the next family goes */
	bool process;           /* render process_* metrics from /proc */
	il_metrics_collect_cb *collect; /* appends series the registry does not hold; may be NULL */
	void *collect_ctx;
};

static const char *
il_metric_type_name(il_metric_type type)
{
	switch (type) {
	case IL_METRIC_COUNTER: return "counter";
	case IL_METRIC_GAUGE: return "gauge";
	case IL_METRIC_HISTOGRAM: return "histogram";
	}
	return "untyped";
}

il_metrics *
il_metrics_new(void)
{
	il_metrics *m = il_xcalloc(1, sizeof(*m));

	pthread_mutex_init(&m->lock, NULL);
	return m;
}

void
il_metrics_destroy(il_metrics *m)
{
	il_family *fam, *fnext;
	il_metric *x, *xnext;

	if (m == NULL)
		return;
	for (fam = m->first; fam != NULL; fam = fnext) {
		fnext = fam->next;
		for (x = fam->first; x != NULL; x = xnext) {
			xnext = x->next;
			free(x->labels);
			free(x->buckets);
			free(x);
		}
		free(fam->name);
		free(fam->help);
		free(fam->bounds);
		free(fam);
	}
	pthread_mutex_destroy(&m->lock);
	free(m);
}

static void
il_metrics_misuse(const char *name, const char *why)
{
	/* A programming error: the registry would otherwise render a lie. */
	fprintf(stderr, "{\"level\":\"fatal\",\"msg\":\"metric \\\"%s\\\": %s\"}\n", name, why);
	abort();
}

static bool
il_metrics_same_bounds(const il_family *fam, const double *bounds, size_t nbounds)
{
	size_t i;

	if (fam->nbounds != nbounds)
		return false;
	for (i = 0; i < nbounds; i++)
		if (fam->bounds[i] != bounds[i])
			return false;
	return true;
}

/* Called with the registry locked. */
static il_family *
il_metrics_family(il_metrics *m, const char *name, const char *help, il_metric_type type,
    const double *bounds, size_t nbounds)
{
	il_family *fam;
	size_t i;

	for (fam = m->first; fam != NULL; fam = fam->next) {
		if (strcmp(fam->name, name) != 0)
			continue;
		if (fam->type != type)
			il_metrics_misuse(name, "asked for with another type");
		if (type == IL_METRIC_HISTOGRAM && !il_metrics_same_bounds(fam, bounds, nbounds))
			il_metrics_misuse(name, "asked for with other bucket bounds");
		return fam;
	}
	for (i = 1; i < nbounds; i++)
		if (!(bounds[i - 1] < bounds[i]))
			il_metrics_misuse(name, "bucket bounds are not ascending");
	fam = il_xcalloc(1, sizeof(*fam));
	fam->reg = m;
	fam->name = il_xstrdup(name);
	fam->help = il_xstrdup(help != NULL ? help : "");
	fam->type = type;
	if (nbounds > 0) {
		fam->bounds = il_xcalloc(nbounds, sizeof(*fam->bounds));
		memcpy(fam->bounds, bounds, nbounds * sizeof(*bounds));
	}
	fam->nbounds = nbounds;
	if (m->last != NULL)
		m->last->next = fam;
	else
		m->first = fam;
	m->last = fam;
	return fam;
}

static il_metric *
il_metrics_get(il_metrics *m, const char *name, const char *help, const char *labels,
    il_metric_type type, const double *bounds, size_t nbounds)
{
	il_family *fam;
	il_metric *x;

	if (labels == NULL)
		labels = "";
	pthread_mutex_lock(&m->lock);
	fam = il_metrics_family(m, name, help, type, bounds, nbounds);
	for (x = fam->first; x != NULL; x = x->next)
		if (strcmp(x->labels, labels) == 0)
			goto out;
	x = il_xcalloc(1, sizeof(*x));
	x->fam = fam;
	x->labels = il_xstrdup(labels);
	if (type == IL_METRIC_HISTOGRAM)
		x->buckets = il_xcalloc(nbounds + 1, sizeof(*x->buckets));
	if (fam->last != NULL)
		fam->last->next = x;
	else
		fam->first = x;
	fam->last = x;
out:
	pthread_mutex_unlock(&m->lock);
	return x;
}

il_metric *
il_metrics_counter(il_metrics *m, const char *name, const char *help, const char *labels)
{
	return il_metrics_get(m, name, help, labels, IL_METRIC_COUNTER, NULL, 0);
}

il_metric *
il_metrics_gauge(il_metrics *m, const char *name, const char *help, const char *labels)
{
	return il_metrics_get(m, name, help, labels, IL_METRIC_GAUGE, NULL, 0);
}

il_metric *
il_metrics_histogram(il_metrics *m, const char *name, const char *help,
    const char *labels, const double *bounds, size_t nbounds)
{
	return il_metrics_get(m, name, help, labels, IL_METRIC_HISTOGRAM, bounds, nbounds);
}

void
il_metric_inc(il_metric *x, double by)
{
	il_family *fam = x->fam;

	if (fam->type == IL_METRIC_HISTOGRAM)
		il_metrics_misuse(fam->name, "a histogram cannot be incremented");
	/* A counter that went down would read as a process restart to Prometheus. */
	if (fam->type == IL_METRIC_COUNTER && !(by >= 0))
		return;
	pthread_mutex_lock(&fam->reg->lock);
	x->value += by;
	pthread_mutex_unlock(&fam->reg->lock);
}

void
il_metric_set(il_metric *x, double value)
{
	il_family *fam = x->fam;

	if (fam->type == IL_METRIC_HISTOGRAM)
		il_metrics_misuse(fam->name, "a histogram cannot be set");
	pthread_mutex_lock(&fam->reg->lock);
	x->value = value;
	pthread_mutex_unlock(&fam->reg->lock);
}

void
il_metric_observe(il_metric *x, double value)
{
	il_family *fam = x->fam;
	size_t i;

	if (fam->type != IL_METRIC_HISTOGRAM)
		il_metrics_misuse(fam->name, "only a histogram takes observations");
	/* Bucket i counts values in (bounds[i-1], bounds[i]]; the last is +Inf. */
	for (i = 0; i < fam->nbounds; i++)
		if (value <= fam->bounds[i])
			break;
	pthread_mutex_lock(&fam->reg->lock);
	x->buckets[i]++;
	x->count++;
	x->value += value;
	pthread_mutex_unlock(&fam->reg->lock);
}

double
il_metric_value(il_metric *x)
{
	il_family *fam = x->fam;
	double v;

	pthread_mutex_lock(&fam->reg->lock);
	v = fam->type == IL_METRIC_HISTOGRAM ? (double)x->count : x->value;
	pthread_mutex_unlock(&fam->reg->lock);
	return v;
}

char *
il_metrics_label(char *out, size_t outsz, const char *name, const char *value)
{
	size_t n, room;
	const char *p;
	int len;

	if (outsz == 0)
		return out;
	len = snprintf(out, outsz, "%s=\"", name);
	if (len < 0 || (size_t)len + 2 > outsz) {
		/* Not even the name fits: an empty string renders nothing wrong. */
		out[0] = '\0';
		return out;
	}
	n = (size_t)len;
	/* Keep room for the closing quote and the NUL, so a long value is cut
	 * but the label stays well formed. */
	room = outsz - 2;
	for (p = value != NULL ? value : ""; *p != '\0'; p++) {
		const char *esc = NULL;
		size_t elen;

		switch (*p) {
		case '\\': esc = "\\\\"; break;
		case '"': esc = "\\\""; break;
		case '\n': esc = "\\n"; break;
		}
		elen = esc != NULL ? 2 : 1;
		if (n + elen > room)
			break;
		if (esc != NULL)
			memcpy(out + n, esc, 2);
		else
			out[n] = *p;
		n += elen;
	}
	out[n++] = '"';
	out[n] = '\0';
	return out;
}

/*
 * Writes a sample value as Prometheus clients do: integers without a
 * fraction or exponent, +Inf/-Inf/NaN spelled the text format's way, other
 * values with the fewest digits that read back as the same double.
 */
static void
il_metrics_fmt(char *out, size_t outsz, double v)
{
	int prec;

	if (isnan(v)) {
		snprintf(out, outsz, "NaN");
	} else if (isinf(v)) {
		snprintf(out, outsz, "%s", v > 0 ? "+Inf" : "-Inf");
	} else if (v == 0) {
		snprintf(out, outsz, "0");
	} else if (v == floor(v) && fabs(v) < 1e15) {
		snprintf(out, outsz, "%.0f", v);
	} else {
		for (prec = 15; prec < 17; prec++) {
			snprintf(out, outsz, "%.*g", prec, v);
			if (strtod(out, NULL) == v)
				return;
		}
		snprintf(out, outsz, "%.17g", v);
	}
}

static il_err
il_metrics_add_help(il_buf *out, const char *help)
{
	const char *p;
	il_err err = IL_OK;

	/* The HELP line escapes only backslash and newline. */
	for (p = help; *p != '\0' && err == IL_OK; p++) {
		if (*p == '\\')
			err = il_buf_adds(out, "\\\\");
		else if (*p == '\n')
			err = il_buf_adds(out, "\\n");
		else
			err = il_buf_add(out, p, 1);
	}
	return err;
}

static il_err
il_metrics_render_header(il_buf *out, const char *name, const char *help, const char *type)
{
	il_err err;

	err = il_buf_printf(out, "# HELP %s ", name);
	if (err == IL_OK)
		err = il_metrics_add_help(out, help);
	if (err == IL_OK)
		err = il_buf_printf(out, "\n# TYPE %s %s\n", name, type);
	return err;
}

/* One sample line: name[suffix]{labels[,extra]} value */
static il_err
il_metrics_render_sample(il_buf *out, const char *name, const char *suffix,
    const char *labels, const char *extra, double v)
{
	char num[64];
	bool braces = labels[0] != '\0' || extra != NULL;

	il_metrics_fmt(num, sizeof(num), v);
	return il_buf_printf(out, "%s%s%s%s%s%s%s %s\n", name, suffix,
	    braces ? "{" : "", labels,
	    labels[0] != '\0' && extra != NULL ? "," : "",
	    extra != NULL ? extra : "", braces ? "}" : "", num);
}

static il_err
il_metrics_render_histogram(il_buf *out, const il_family *fam, const il_metric *x)
{
	char le[80], num[64];
	uint64_t cum = 0;
	size_t i;
	il_err err = IL_OK;

	for (i = 0; i <= fam->nbounds && err == IL_OK; i++) {
		cum += x->buckets[i];
		if (i < fam->nbounds)
			il_metrics_fmt(num, sizeof(num), fam->bounds[i]);
		else
			snprintf(num, sizeof(num), "+Inf");
		snprintf(le, sizeof(le), "le=\"%s\"", num);
		err = il_metrics_render_sample(out, fam->name, "_bucket", x->labels, le,
		    (double)cum);
	}
	if (err == IL_OK)
		err = il_metrics_render_sample(out, fam->name, "_sum", x->labels, NULL, x->value);
	if (err == IL_OK)
		err = il_metrics_render_sample(out, fam->name, "_count", x->labels, NULL,
		    (double)x->count);
	return err;
}

/* Skips @p n space-separated fields of /proc/self/stat and parses the next. */
static bool
il_metrics_stat_field(const char **pp, int n, unsigned long long *v)
{
	const char *p = *pp;
	unsigned long long acc = 0;

	while (n-- > 0) {
		while (*p == ' ')
			p++;
		while (*p != ' ' && *p != '\0')
			p++;
	}
	while (*p == ' ')
		p++;
	if (*p < '0' || *p > '9')
		return false;
	for (; *p >= '0' && *p <= '9'; p++)
		acc = acc * 10 + (unsigned long long)(*p - '0');
	*v = acc;
	*pp = p;
	return true;
}

static bool
il_metrics_read_file(const char *path, char *buf, size_t bufsz)
{
	FILE *fp = fopen(path, "r");
	size_t n;

	if (fp == NULL)
		return false;
	n = fread(buf, 1, bufsz - 1, fp);
	fclose(fp);
	buf[n] = '\0';
	return n > 0;
}

static bool
il_metrics_boot_time(unsigned long long *btime)
{
	char buf[8192];
	const char *p;

	if (!il_metrics_read_file("/proc/stat", buf, sizeof(buf)))
		return false;
	p = strstr(buf, "\nbtime ");
	if (p == NULL)
		return false;
	p += strlen("\nbtime");
	return il_metrics_stat_field(&p, 0, btime);
}

static double
il_metrics_open_fds(void)
{
	DIR *dir = opendir("/proc/self/fd");
	struct dirent *de;
	double n = 0;

	if (dir == NULL)
		return NAN;
	while ((de = readdir(dir)) != NULL)
		if (de->d_name[0] != '.')
			n++;
	closedir(dir);
	/* The directory handle itself is one of the entries. */
	return n - 1;
}

/* The process_* metrics of the official clients, read from /proc now. */
static il_err
il_metrics_render_process(il_buf *out)
{
	char buf[4096];
	const char *p;
	unsigned long long utime, stime, start, vsize, rss, btime;
	double ticks = (double)sysconf(_SC_CLK_TCK);
	double page = (double)sysconf(_SC_PAGESIZE);
	il_err err;

	if (!il_metrics_read_file("/proc/self/stat", buf, sizeof(buf)))
		return IL_OK;
	/* The command name may hold spaces and parentheses: fields start after the last ')'. */
	p = strrchr(buf, ')');
	if (p == NULL)
		return IL_OK;
	p++;
	/* Counting from field 3 (state): utime is 14, stime 15, starttime 22, vsize 23, rss 24. */
	if (!il_metrics_stat_field(&p, 11, &utime) || !il_metrics_stat_field(&p, 0, &stime) ||
	    !il_metrics_stat_field(&p, 6, &start) || !il_metrics_stat_field(&p, 0, &vsize) ||
	    !il_metrics_stat_field(&p, 0, &rss) || !il_metrics_boot_time(&btime))
		return IL_OK;
	err = il_metrics_render_header(out, "process_cpu_seconds_total",
	    "Total user and system CPU time spent in seconds.", "counter");
	if (err == IL_OK)
		err = il_metrics_render_sample(out, "process_cpu_seconds_total", "", "", NULL,
		    (double)(utime + stime) / ticks);
	if (err == IL_OK)
		err = il_metrics_render_header(out, "process_open_fds",
		    "Number of open file descriptors.", "gauge");
	if (err == IL_OK)
		err = il_metrics_render_sample(out, "process_open_fds", "", "", NULL,
		    il_metrics_open_fds());
	if (err == IL_OK)
		err = il_metrics_render_header(out, "process_resident_memory_bytes",
		    "Resident memory size in bytes.", "gauge");
	if (err == IL_OK)
		err = il_metrics_render_sample(out, "process_resident_memory_bytes", "", "", NULL,
		    (double)rss * page);
	if (err == IL_OK)
		err = il_metrics_render_header(out, "process_start_time_seconds",
		    "Start time of the process since unix epoch in seconds.", "gauge");
	if (err == IL_OK)
		err = il_metrics_render_sample(out, "process_start_time_seconds", "", "", NULL,
		    (double)btime + (double)start / ticks);
	if (err == IL_OK)
		err = il_metrics_render_header(out, "process_virtual_memory_bytes",
		    "Virtual memory size in bytes.", "gauge");
	if (err == IL_OK)
		err = il_metrics_render_sample(out, "process_virtual_memory_bytes", "", "", NULL,
		    (double)vsize);
	return err;
}

void
il_metrics_add_process(il_metrics *m)
{
	pthread_mutex_lock(&m->lock);
	m->process = true;
	pthread_mutex_unlock(&m->lock);
}

il_err
il_metrics_render(il_metrics *m, il_buf *out)
{
	il_family *fam;
	il_metric *x;
	il_err err = IL_OK;
	bool process;
	il_metrics_collect_cb *collect;
	void *collect_ctx;

	pthread_mutex_lock(&m->lock);
	for (fam = m->first; fam != NULL && err == IL_OK; fam = fam->next) {
		err = il_metrics_render_header(out, fam->name, fam->help,
		    il_metric_type_name(fam->type));
		for (x = fam->first; x != NULL && err == IL_OK; x = x->next) {
			if (fam->type == IL_METRIC_HISTOGRAM)
				err = il_metrics_render_histogram(out, fam, x);
			else
				err = il_metrics_render_sample(out, fam->name, "", x->labels,
				    NULL, x->value);
		}
	}
	process = m->process;
	collect = m->collect;
	collect_ctx = m->collect_ctx;
	pthread_mutex_unlock(&m->lock);
	/* /proc is read outside the lock so updates never wait for the file system. */
	if (err == IL_OK && process)
		err = il_metrics_render_process(out);
	if (err == IL_OK && collect != NULL)
		err = collect(out, collect_ctx);
	return err;
}

void
il_metrics_set_collector(il_metrics *m, il_metrics_collect_cb *cb, void *ctx)
{
	pthread_mutex_lock(&m->lock);
	m->collect = cb;
	m->collect_ctx = ctx;
	pthread_mutex_unlock(&m->lock);
}
