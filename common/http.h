/*
 * http.h - the HTTP endpoint of every daemon, on libmicrohttpd.
 *
 * Always serves GET /metrics (Prometheus text) and GET /healthz (JSON with a
 * status and details from the health callback; 200 when ok or degraded, 503
 * when down).  Programs that take requests (the DCI gateway, the emulators)
 * add routes; a route's handler sees the whole body, already bounded by
 * http.max.body.bytes (over it: 413 without calling the handler).  Unknown
 * paths get 404 and wrong methods 405, each with a JSON reason.
 *
 * Handlers run on libmicrohttpd's threads: they must only touch thread-safe
 * state (metrics are) or state they protect themselves.
 */
#ifndef IL_HTTP_H
#define IL_HTTP_H

#include <stdbool.h>
#include <stddef.h>

#include "buf.h"
#include "err.h"
#include "metrics.h"

typedef struct il_http il_http;

typedef enum il_health {
	IL_HEALTH_OK = 0,        /* working normally */
	IL_HEALTH_DEGRADED = 1,  /* working, with a problem an operator should see */
	IL_HEALTH_DOWN = 2,      /* not doing its job */
} il_health;

/** A request as a handler sees it; everything is owned by the server. */
typedef struct il_http_request {
	const char *method;      /* "GET", "POST", ... */
	const char *path;        /* URL path without the query */
	const char *body;        /* NUL-terminated body, "" when none */
	size_t body_len;         /* bytes in body */
	void *conn;              /* opaque, for il_http_header() and il_http_query() */
} il_http_request;

/** A response a handler fills in. */
typedef struct il_http_response {
	int status;              /* HTTP status; 200 when left unset */
	const char *content_type; /* static string; "application/json" when NULL */
	il_buf body;             /* owned by the server, bounded */
	bool drop;               /* true: close the connection without any answer (fault injection) */
	il_buf headers;          /* extra headers, "name\0value\0" pairs; fill with il_http_set_header() */
} il_http_response;

/** Fills @p resp for @p req; runs on a server thread. */
typedef void (il_http_handler)(const il_http_request *req, il_http_response *resp, void *ctx);
/** Writes details for /healthz as JSON members into @p out ("\"kafka\":\"up\""); @returns the status. */
typedef il_health (il_health_cb)(il_buf *out, void *ctx);

/**
 * @brief Prepares a server for @p address:@p port (port 0 picks a free one);
 * nothing listens until il_http_listen().  @p metrics and @p health are
 * borrowed and must outlive the server.  @returns a server; free with il_http_stop().
 */
il_http *il_http_new(const char *address, int port, size_t max_body,
    il_metrics *metrics, il_health_cb *health, void *health_ctx);
/** Adds a route (exact path match); only before il_http_listen(). */
void il_http_route(il_http *h, const char *method, const char *path,
    il_http_handler *handler, void *ctx);
/**
 * @brief Adds a route for every path that starts with @p prefix
 * ("/api/api_fhir_r4/Patient/" sees "/api/api_fhir_r4/Patient/<uuid>/");
 * @p method NULL or "*" matches any method.  An exact route wins over a
 * prefix route, and the longest matching prefix wins among prefix routes.
 * Only before il_http_listen().
 */
void il_http_route_prefix(il_http *h, const char *method, const char *prefix,
    il_http_handler *handler, void *ctx);
/**
 * @brief Sets how many connections are served at once (default 256; each
 * has its own thread); beyond it new connections are refused.  Only before
 * il_http_listen().
 */
void il_http_set_max_connections(il_http *h, unsigned int n);
/**
 * @brief Binds and starts serving.
 * @returns IL_ERR_IO with the reason in @p errbuf ("could not listen on
 * 127.0.0.1:9464: Address already in use"), IL_ERR_INVALID when the address
 * is not an IPv4 address or the port is out of range.
 */
il_err il_http_listen(il_http *h, char *errbuf, size_t errsz);
/** @returns the port actually bound. */
int il_http_port(const il_http *h);
/** @returns a request header's value or NULL; valid during the handler. */
const char *il_http_header(const il_http_request *req, const char *name);
/** @returns a query parameter's value or NULL; valid during the handler. */
const char *il_http_query(const il_http_request *req, const char *name);
/** @returns the client's IPv4/IPv6 address as text in @p out ("" when unknown); valid any time. */
const char *il_http_client_ip(const il_http_request *req, char *out, size_t outsz);
/**
 * @brief Adds a response header (e.g. Location of a 301); Content-Type is
 * set through content_type instead.  @returns IL_ERR_NOMEM when the
 * headers exceed their bound (8 KiB).
 */
il_err il_http_set_header(il_http_response *resp, const char *name, const char *value);
/** Stops serving, waits for running handlers, frees @p h; NULL is a no-op. */
void il_http_stop(il_http *h);

#endif
