/*
 * err.h - the one result code every imislink module returns.
 *
 * A code is a class in the low byte plus an optional detail in the next byte,
 * as SQLite does with its extended result codes: callers that only care about
 * the class mask with IL_ERR_CLASS(), callers that act on the detail compare
 * the whole value.
 */
#ifndef IL_ERR_H
#define IL_ERR_H

#include <stddef.h>

#define IL_ERR_CLASS(e) ((il_err)((e) & 0xff))

typedef enum il_err {
	IL_OK = 0,              /* success */
	IL_ERR_INVALID = 1,     /* caller gave a value the function refuses */
	IL_ERR_CONFIG = 2,      /* a configuration key is unknown or malformed */
	IL_ERR_IO = 3,          /* a file or socket operation failed */
	IL_ERR_NOMEM = 4,       /* an allocation or a bounded buffer is full */
	IL_ERR_DECODE = 5,      /* bytes from outside do not decode */
	IL_ERR_ENCODE = 6,      /* a value does not fit its schema */
	IL_ERR_NOTFOUND = 7,    /* the thing looked up does not exist */
	IL_ERR_TRANSIENT = 8,   /* a peer failed in a way worth retrying */
	IL_ERR_PERMANENT = 9,   /* a peer refused in a way retrying cannot fix */
	IL_ERR_FATAL = 10,      /* the process cannot go on (e.g. fenced producer) */
	IL_ERR_TIMEOUT = 11,    /* a bounded wait ran out */
	IL_ERR_CANCELLED = 12,  /* the work was abandoned before it finished */
	IL_ERR_TOOBIG = 13,     /* an answer or input over its size limit */
	IL_ERR_PARSE = 14,      /* a peer's answer is not what its protocol promises */

	/* decode details: why untrusted bytes were refused */
	IL_ERR_DECODE_MAGIC = IL_ERR_DECODE | (1 << 8),     /* byte 0 is not 0x00 */
	IL_ERR_DECODE_SHORT = IL_ERR_DECODE | (2 << 8),     /* shorter than the header */
	IL_ERR_DECODE_SCHEMA = IL_ERR_DECODE | (3 << 8),    /* schema id unknown */
	IL_ERR_DECODE_BODY = IL_ERR_DECODE | (4 << 8),      /* Avro body malformed */
	IL_ERR_DECODE_TOOBIG = IL_ERR_DECODE | (5 << 8),    /* over the size cap */
	IL_ERR_DECODE_TRAILING = IL_ERR_DECODE | (6 << 8),  /* bytes left after body */
	IL_ERR_DECODE_JSON = IL_ERR_DECODE | (7 << 8),      /* JSON text malformed */
} il_err;

/** @returns a static lower-case description of @p err, never NULL. */
const char *il_err_str(il_err err);

/**
 * @brief Writes the reason of a failure into the caller's @p errbuf of
 * @p errsz bytes: formatted as printf does, cut to fit, NUL-terminated.
 * A NULL @p errbuf or an @p errsz of 0 writes nothing (the caller does not
 * want the reason).
 */
__attribute__((format(printf, 3, 4)))
void il_err_setf(char *errbuf, size_t errsz, const char *fmt, ...);

#endif
