/*
 * buf.h - a growable byte buffer with a hard upper bound.
 *
 * Modelled on curl's dynbuf: every buffer is created with the largest size it
 * may ever reach, so input from outside (an HTTP body, a Kafka message) can
 * never make a process allocate without limit.  The contents are always
 * NUL-terminated so text can be used in place.
 */
#ifndef IL_BUF_H
#define IL_BUF_H

#include <stdarg.h>
#include <stddef.h>

#include "err.h"

typedef struct il_buf {
	char *data;     /* owned; NULL until the first append */
	size_t len;     /* bytes in use, not counting the terminating NUL */
	size_t cap;     /* bytes allocated */
	size_t max;     /* len may never exceed this */
} il_buf;

/** Prepares an empty buffer that may hold up to @p max bytes. */
void il_buf_init(il_buf *b, size_t max);
/** Frees the contents and leaves an empty buffer with the same bound. */
void il_buf_free(il_buf *b);
/** Empties the buffer but keeps its memory for reuse. */
void il_buf_reset(il_buf *b);

/**
 * @brief Makes room for @p extra more bytes and the NUL after them, for a
 * caller that writes into data itself (then adds to len).
 * @returns IL_ERR_NOMEM, leaving the buffer unaltered, beyond its bound.
 */
il_err il_buf_reserve(il_buf *b, size_t extra);

/** @returns IL_ERR_NOMEM, leaving the buffer unaltered, when it would exceed its bound
 * (true of every append below, il_buf_add_json_escaped included). */
__attribute__((warn_unused_result))
il_err il_buf_add(il_buf *b, const void *data, size_t len);
__attribute__((warn_unused_result))
il_err il_buf_adds(il_buf *b, const char *s);
__attribute__((warn_unused_result, format(printf, 2, 3)))
il_err il_buf_printf(il_buf *b, const char *fmt, ...);
__attribute__((warn_unused_result))
il_err il_buf_vprintf(il_buf *b, const char *fmt, va_list ap);
/** Appends @p s as the body of a JSON string (quotes not included), escaped. */
__attribute__((warn_unused_result))
il_err il_buf_add_json_escaped(il_buf *b, const char *s);

/**
 * @brief Appends the whole file at @p path, at most up to the buffer's bound.
 * A regular file is read into one allocation sized up front, so no copy of
 * its bytes (a secret, say) is left behind in memory a reallocation freed.
 * @returns IL_OK; IL_ERR_IO when the file cannot be opened or read, or
 * IL_ERR_NOMEM when it does not fit, with the path and the cause in
 * @p errbuf ("could not read file \"x\": larger than 65536 bytes").  On
 * failure the bytes read are wiped and the buffer's length is as it was.
 */
__attribute__((warn_unused_result))
il_err il_buf_read_file(il_buf *b, const char *path, char *errbuf, size_t errsz);

/** @returns the contents and hands their ownership to the caller; the buffer resets. */
char *il_buf_take(il_buf *b);

#endif
