#include "log.h"

#include <math.h>
#include <pthread.h>
#include <stdatomic.h>
#include <string.h>
#include <strings.h>
#include <time.h>

#include "buf.h"
#include "text.h"

/* Longest string value written as is; longer ones are cut at a character. */
#define IL_LOG_VALUE_MAX 4096
/*
 * Bound of one line.  With values capped above, only an absurd number of
 * fields can reach it; the line then degrades to the fallback below instead
 * of being lost or written half.
 */
#define IL_LOG_LINE_MAX (1024 * 1024)
/* Room for a masked value: longer ones keep fewer asterisks, not fewer tail. */
#define IL_LOG_MASK_MAX 256
/* Asterisks of a masked value, whatever its length: the length would tell. */
#define IL_LOG_MASK_STARS 8
#define IL_LOG_PROGRAM_MAX 64

/*
 * The one piece of global state the project allows besides signal flags.
 * The level is atomic because the hot path reads it without the lock while
 * a SIGHUP reload may change it from the main thread.
 */
static struct {
	pthread_mutex_t lock;                   /* serialises writes to out */
	atomic_int level;                       /* threshold, an il_log_level */
	char program[IL_LOG_PROGRAM_MAX];       /* set before threads start */
	FILE *out;                              /* NULL means stderr */
} il_log_state = {
	PTHREAD_MUTEX_INITIALIZER, IL_LOG_INFO, "imislink", NULL
};

static const char *const il_log_level_names[] = {
	"error", "warn", "info", "debug",
};

void
il_log_init(const char *program, il_log_level level, FILE *out)
{
	pthread_mutex_lock(&il_log_state.lock);
	if (program != NULL)
		snprintf(il_log_state.program, sizeof(il_log_state.program), "%s", program);
	il_log_state.out = out;
	pthread_mutex_unlock(&il_log_state.lock);
	il_log_set_level(level);
}

void
il_log_set_level(il_log_level level)
{
	atomic_store_explicit(&il_log_state.level, (int)level, memory_order_relaxed);
}

int
il_log_level_parse(const char *name, il_log_level *level)
{
	size_t i;

	if (name == NULL)
		return -1;
	for (i = 0; i < sizeof(il_log_level_names) / sizeof(il_log_level_names[0]); i++) {
		if (strcasecmp(name, il_log_level_names[i]) == 0) {
			*level = (il_log_level)i;
			return 0;
		}
	}
	return -1;
}

bool
il_log_enabled(il_log_level level)
{
	return (int)level <= atomic_load_explicit(&il_log_state.level, memory_order_relaxed);
}

/*
 * Length of the character at @p s, which has @p avail bytes before its NUL:
 * the length its first byte announces when il_text_utf8_valid() accepts
 * that many bytes, else 0 (a byte that becomes U+FFFD).
 */
static size_t
il_log_char_len(const char *s, size_t avail)
{
	unsigned char c = (unsigned char)s[0];
	size_t n;

	if (c < 0x80)
		n = 1;
	else if (c >= 0xc0 && c <= 0xdf)
		n = 2;
	else if (c >= 0xe0 && c <= 0xef)
		n = 3;
	else if (c >= 0xf0 && c <= 0xf7)
		n = 4;
	else
		return 0;
	if (n > avail || !il_text_utf8_valid(s, n, NULL))
		return 0;
	return n;
}

/*
 * Copies @p s into @p tmp as well-formed UTF-8 of at most IL_LOG_VALUE_MAX
 * bytes, each bad byte replaced by U+FFFD.  @returns the text to escape:
 * @p s itself when it needed nothing (the common case costs no copy).
 */
static const char *
il_log_sanitize(const char *s, il_buf *tmp, bool *truncated)
{
	size_t len = strnlen(s, IL_LOG_VALUE_MAX + 1), at = 0, n;

	if (len <= IL_LOG_VALUE_MAX && il_text_utf8_valid(s, len, NULL))
		return s;

	il_buf_reset(tmp);
	while (s[at] != '\0') {
		/* Only the next four bytes matter: no character is longer. */
		n = il_log_char_len(s + at, strnlen(s + at, 4));
		if (tmp->len + (n ? n : 3) > IL_LOG_VALUE_MAX) {
			*truncated = true;
			break;
		}
		/* tmp is bounded well above IL_LOG_VALUE_MAX, so these cannot fail. */
		if (n > 0) {
			if (il_buf_add(tmp, s + at, n) != IL_OK)
				break;
		} else if (il_buf_adds(tmp, "\xef\xbf\xbd") != IL_OK) {
			break;
		}
		at += n ? n : 1;
	}
	return tmp->data != NULL ? tmp->data : "";
}

static il_err
il_log_add_string(il_buf *line, il_buf *tmp, const char *s, bool *truncated)
{
	il_err err;

	if (s == NULL)
		return il_buf_adds(line, "null");
	err = il_buf_adds(line, "\"");
	if (err == IL_OK)
		err = il_buf_add_json_escaped(line, il_log_sanitize(s, tmp, truncated));
	if (err == IL_OK)
		err = il_buf_adds(line, "\"");
	return err;
}

static il_err
il_log_add_field(il_buf *line, il_buf *tmp, const il_log_field *f, bool *truncated)
{
	char masked[IL_LOG_MASK_MAX];
	il_err err;

	err = il_buf_adds(line, ",");
	if (err == IL_OK)
		err = il_log_add_string(line, tmp, f->key != NULL ? f->key : "", truncated);
	if (err == IL_OK)
		err = il_buf_adds(line, ":");
	if (err != IL_OK)
		return err;
	switch (f->kind) {
	case IL_LOG_F_STR:
		return il_log_add_string(line, tmp, f->s, truncated);
	case IL_LOG_F_PII:
		if (f->s == NULL)
			return il_buf_adds(line, "null");
		return il_log_add_string(line, tmp, il_log_mask(f->s, masked, sizeof(masked)), truncated);
	case IL_LOG_F_INT:
		return il_buf_printf(line, "%lld", f->i);
	case IL_LOG_F_DBL:
		/* JSON has no NaN or infinity. */
		if (!isfinite(f->d))
			return il_buf_adds(line, "null");
		return il_buf_printf(line, "%.15g", f->d);
	case IL_LOG_F_END:
		break;
	}
	return il_buf_adds(line, "null");
}

static il_err
il_log_add_head(il_buf *line, il_buf *tmp, il_log_level level, const char *msg, bool *truncated)
{
	struct timespec now;
	struct tm tm;
	char ts[32];
	il_err err;

	clock_gettime(CLOCK_REALTIME, &now);
	gmtime_r(&now.tv_sec, &tm);
	strftime(ts, sizeof(ts), "%Y-%m-%dT%H:%M:%S", &tm);
	err = il_buf_printf(line, "{\"ts\":\"%s.%03ldZ\",\"level\":\"%s\",\"program\":",
	    ts, now.tv_nsec / 1000000L, il_log_level_names[level]);
	if (err == IL_OK)
		err = il_log_add_string(line, tmp, il_log_state.program, truncated);
	if (err == IL_OK)
		err = il_buf_adds(line, ",\"msg\":");
	if (err == IL_OK)
		err = il_log_add_string(line, tmp, msg, truncated);
	return err;
}

void
il_log_emit(il_log_level level, const char *msg, const il_log_field *fields)
{
	il_buf line, tmp;
	bool truncated = false;
	il_err err;
	FILE *out;

	if (!il_log_enabled(level))
		return;
	if ((int)level < IL_LOG_ERROR)
		level = IL_LOG_ERROR;

	if ((int)level > IL_LOG_DEBUG)
		level = IL_LOG_DEBUG;

	/* Formatting happens outside the lock; only the write is serialised. */
	il_buf_init(&line, IL_LOG_LINE_MAX);
	il_buf_init(&tmp, 2 * IL_LOG_VALUE_MAX);
	err = il_log_add_head(&line, &tmp, level, msg, &truncated);
	for (; err == IL_OK && fields != NULL && fields->kind != IL_LOG_F_END; fields++)
		err = il_log_add_field(&line, &tmp, fields, &truncated);
	if (err != IL_OK) {
		/* Keep the message and say what was lost rather than drop the line. */
		il_buf_reset(&line);
		truncated = true;
		err = il_log_add_head(&line, &tmp, level, msg, &truncated);
	}
	if (err == IL_OK && truncated)
		err = il_buf_adds(&line, ",\"truncated\":true");
	if (err == IL_OK)
		err = il_buf_adds(&line, "}\n");
	if (err == IL_OK) {
		pthread_mutex_lock(&il_log_state.lock);
		out = il_log_state.out != NULL ? il_log_state.out : stderr;
		/* Nothing sensible is left to report a failing log stream to. */
		(void)fwrite(line.data, 1, line.len, out);
		(void)fflush(out);
		pthread_mutex_unlock(&il_log_state.lock);
	}
	il_buf_free(&tmp);
	il_buf_free(&line);
}

char *
il_log_mask(const char *value, char *out, size_t outsz)
{
	size_t chars = 0, tail, stars = IL_LOG_MASK_STARS, n, len;
	size_t last[2] = { 0, 0 };      /* byte lengths of the last two characters */

	if (outsz == 0)
		return out;
	out[0] = '\0';
	if (value == NULL)
		return out;
	/* An invalid byte counts as one character, as it will be one U+FFFD. */
	for (len = 0; value[len] != '\0'; len += n) {
		n = il_log_char_len(value + len, strnlen(value + len, 4));
		if (n == 0)
			n = 1;
		last[0] = last[1];
		last[1] = n;
		chars++;
	}
	if (chars < 6) {
		snprintf(out, outsz, "***");
		return out;
	}
	tail = last[0] + last[1];
	if (tail + 3 >= outsz) {
		snprintf(out, outsz, "***");
		return out;
	}
	if (stars + tail >= outsz)
		stars = outsz - tail - 1;
	memset(out, '*', stars);
	memcpy(out + stars, value + len - tail, tail);
	out[stars + tail] = '\0';
	return out;
}
