/*
 * audit_int.h - what the two halves of the audit store (audit.c and
 * audit_query.c) share and nobody else may see: the connection itself and
 * the classification of libpq failures.
 *
 * Not a public header: only common/audit*.c include it.  Callers outside
 * the audit store use the opaque il_audit of audit.h.
 */
#ifndef IL_AUDIT_INT_H
#define IL_AUDIT_INT_H

#include <stddef.h>

#include <libpq-fe.h>

#include "audit.h"
#include "err.h"

struct il_audit {
	PGconn *pg;             /* the connection; NULL after a failed reconnect */
	char *conninfo;         /* owned copy of what il_audit_connect() was given */
	unsigned prepared;      /* audit.c's statements prepared on this connection (bits);
	                         * 0 after every reconnect */
};

/**
 * @brief Classifies the failure of a libpq call and writes its reason.
 * @p r is the failed result (may be NULL when the call returned none, e.g.
 * PQexec on a dead connection or a failed PQsendQuery); it is not freed.
 * @p what names the operation for the message ("could not insert dead
 * letters: <PostgreSQL's message>").
 * @returns IL_ERR_TRANSIENT when a retry after a reconnect can cure it:
 * the connection is bad, no result, or SQLSTATE class 08 (connection
 * exception), 57P01-57P03 (admin/crash shutdown, cannot connect now),
 * 40001 (serialization failure), 40P01 (deadlock), 55P03 (lock not
 * available), 57014 (query cancelled: the statement timeout of
 * il_audit_reconnect() or an administrator), class 53 (insufficient
 * resources: disk full, too many connections); IL_ERR_INVALID for
 * everything else (PostgreSQL refused the statement or the data).  The reason goes to @p errbuf as "<what>:
 * <PostgreSQL's primary message> (SQLSTATE xxxxx)", one line, no detail
 * (details may quote values).
 */
il_err il_audit_pg_error(il_audit *a, const PGresult *r, const char *what, char *errbuf, size_t errsz);

#endif
