#include "err.h"

#include <stdarg.h>
#include <stdio.h>

const char *
il_err_str(il_err err)
{
	switch (err) {
	case IL_OK: return "success";
	case IL_ERR_INVALID: return "invalid argument";
	case IL_ERR_CONFIG: return "configuration error";
	case IL_ERR_IO: return "input/output error";
	case IL_ERR_NOMEM: return "out of memory or buffer full";
	case IL_ERR_DECODE: return "undecodable input";
	case IL_ERR_ENCODE: return "value does not fit the schema";
	case IL_ERR_NOTFOUND: return "not found";
	case IL_ERR_TRANSIENT: return "transient failure";
	case IL_ERR_PERMANENT: return "permanent failure";
	case IL_ERR_FATAL: return "fatal error";
	case IL_ERR_TIMEOUT: return "timed out";
	case IL_ERR_CANCELLED: return "cancelled";
	case IL_ERR_TOOBIG: return "over the size limit";
	case IL_ERR_PARSE: return "unexpected answer";
	case IL_ERR_DECODE_MAGIC: return "wrong magic byte";
	case IL_ERR_DECODE_SHORT: return "message shorter than the wire header";
	case IL_ERR_DECODE_SCHEMA: return "unknown schema id";
	case IL_ERR_DECODE_BODY: return "malformed Avro body";
	case IL_ERR_DECODE_TOOBIG: return "message larger than the size limit";
	case IL_ERR_DECODE_TRAILING: return "trailing bytes after the Avro body";
	case IL_ERR_DECODE_JSON: return "malformed JSON";
	}
	return "unknown error";
}

void
il_err_setf(char *errbuf, size_t errsz, const char *fmt, ...)
{
	va_list ap;

	if (errbuf == NULL || errsz == 0)
		return;
	va_start(ap, fmt);
	vsnprintf(errbuf, errsz, fmt, ap);
	va_end(ap);
}
