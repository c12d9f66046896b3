#include "buf.h"

#include <errno.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "xalloc.h"

/* Growth step of il_buf_read_file() for files of unknown size (pipes, /proc). */
#define IL_BUF_READ_STEP 8192

void
il_buf_init(il_buf *b, size_t max)
{
	b->data = NULL;
	b->len = 0;
	b->cap = 0;
	b->max = max;
}

void
il_buf_free(il_buf *b)
{
	free(b->data);
	il_buf_init(b, b->max);
}

void
il_buf_reset(il_buf *b)
{
	b->len = 0;
	if (b->data != NULL)
		b->data[0] = '\0';
}

il_err
il_buf_reserve(il_buf *b, size_t extra)
{
	size_t need, cap;

	if (extra > b->max - b->len)
		return IL_ERR_NOMEM;
	need = b->len + extra + 1;
	if (need <= b->cap)
		return IL_OK;
	cap = b->cap ? b->cap : 64;
	while (cap < need)
		cap *= 2;
	/* max may be SIZE_MAX: compare without adding to it. */
	if (cap - 1 > b->max)
		cap = b->max + 1;
	b->data = il_xrealloc(b->data, cap);
	b->cap = cap;
	return IL_OK;
}

il_err
il_buf_add(il_buf *b, const void *data, size_t len)
{
	if (il_buf_reserve(b, len) != IL_OK)
		return IL_ERR_NOMEM;
	if (len > 0)
		memcpy(b->data + b->len, data, len);
	b->len += len;
	b->data[b->len] = '\0';
	return IL_OK;
}

il_err
il_buf_adds(il_buf *b, const char *s)
{
	return il_buf_add(b, s, strlen(s));
}

il_err
il_buf_vprintf(il_buf *b, const char *fmt, va_list ap)
{
	va_list ap2;
	int n;

	va_copy(ap2, ap);
	n = vsnprintf(NULL, 0, fmt, ap2);
	va_end(ap2);
	if (n < 0)
		return IL_ERR_INVALID;
	if (il_buf_reserve(b, (size_t)n) != IL_OK)
		return IL_ERR_NOMEM;
	vsnprintf(b->data + b->len, (size_t)n + 1, fmt, ap);
	b->len += (size_t)n;
	return IL_OK;
}

il_err
il_buf_printf(il_buf *b, const char *fmt, ...)
{
	va_list ap;
	il_err err;

	va_start(ap, fmt);
	err = il_buf_vprintf(b, fmt, ap);
	va_end(ap);
	return err;
}

il_err
il_buf_add_json_escaped(il_buf *b, const char *s)
{
	const unsigned char *p;
	size_t start = b->len;
	char esc[8];

	for (p = (const unsigned char *)s; *p != '\0'; p++) {
		const char *out = NULL;
		il_err err;

		switch (*p) {
		case '"': out = "\\\""; break;
		case '\\': out = "\\\\"; break;
		case '\n': out = "\\n"; break;
		case '\r': out = "\\r"; break;
		case '\t': out = "\\t"; break;
		default:
			if (*p < 0x20) {
				snprintf(esc, sizeof(esc), "\\u%04x", *p);
				out = esc;
			}
		}
		if (out != NULL)
			err = il_buf_adds(b, out);
		else
			err = il_buf_add(b, p, 1);
		if (err != IL_OK) {
			/* All or nothing: a half-escaped string would corrupt the JSON around it. */
			b->len = start;
			if (b->data != NULL)
				b->data[start] = '\0';
			return err;
		}
	}
	return IL_OK;
}

/* Undoes a failed il_buf_read_file(): wipes what it read, back to @p start bytes. */
static void
il_buf_read_undo(il_buf *b, size_t start)
{
	if (b->data == NULL)
		return;
	explicit_bzero(b->data + start, b->cap - start);
	b->len = start;
}

il_err
il_buf_read_file(il_buf *b, const char *path, char *errbuf, size_t errsz)
{
	FILE *f = fopen(path, "rb");
	size_t start = b->len, room, n;
	struct stat st;
	il_err err = IL_OK;
	char extra;

	if (f == NULL) {
		il_err_setf(errbuf, errsz, "could not open file \"%s\": %s", path, strerror(errno));
		return IL_ERR_IO;
	}
	if (fstat(fileno(f), &st) == 0 && S_ISREG(st.st_mode) && st.st_size > 0) {
		if ((uintmax_t)st.st_size > b->max - b->len) {
			il_err_setf(errbuf, errsz, "could not read file \"%s\": larger than %zu bytes",
			    path, b->max - start);
			err = IL_ERR_NOMEM;
			goto done;
		}
		/* One byte more than the size, to see the end without growing;
		 * within the bound, checked just above. */
		n = (size_t)st.st_size < b->max - b->len ? (size_t)st.st_size + 1 : (size_t)st.st_size;
		(void)il_buf_reserve(b, n);
	}
	errno = 0;
	for (;;) {
		if (b->len == b->max) {
			/* Full: one more byte means the file does not fit. */
			if (fread(&extra, 1, 1, f) == 1) {
				il_err_setf(errbuf, errsz, "could not read file \"%s\": larger than %zu bytes",
				    path, b->max - start);
				err = IL_ERR_NOMEM;
			}
			break;
		}
		if (b->cap <= b->len + 1)
			(void)il_buf_reserve(b, b->max - b->len < IL_BUF_READ_STEP ?
			    b->max - b->len : IL_BUF_READ_STEP);
		room = b->cap - 1 - b->len;
		if (room > b->max - b->len)
			room = b->max - b->len;
		n = fread(b->data + b->len, 1, room, f);
		b->len += n;
		b->data[b->len] = '\0';
		if (n < room)
			break;
	}
	if (err == IL_OK && ferror(f)) {
		il_err_setf(errbuf, errsz, "could not read file \"%s\": %s", path,
		    strerror(errno != 0 ? errno : EIO));
		err = IL_ERR_IO;
	}
done:
	if (err != IL_OK)
		il_buf_read_undo(b, start);
	fclose(f);
	return err;
}

char *
il_buf_take(il_buf *b)
{
	char *data = b->data;

	if (data == NULL)
		data = il_xstrdup("");
	il_buf_init(b, b->max);
	return data;
}
