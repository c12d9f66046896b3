/*
 * http.c - the HTTP endpoint on libmicrohttpd.
 *
 * One thread per connection: route handlers may block (the DCI gateway waits
 * for Kafka's delivery report before it answers), and a blocked handler must
 * not hold up /metrics or /healthz for the scraper.  We bind the listening
 * socket ourselves so a busy port is reported with errno's reason, which
 * MHD_start_daemon() would swallow.
 */
#include "http.h"

#include <arpa/inet.h>
#include <errno.h>
#include <microhttpd.h>
#include <netinet/in.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include "log.h"
#include "sig.h"
#include "xalloc.h"

/* A response may be larger than a request (a metrics page, a listing). */
#define IL_HTTP_MAX_RESPONSE (64u << 20)
/* What a health callback may write. */
#define IL_HTTP_MAX_HEALTH (64u << 10)
/* Connections served at once by default; beyond it libmicrohttpd refuses new ones. */
#define IL_HTTP_MAX_CONNECTIONS 256
/* Extra response headers a handler may set. */
#define IL_HTTP_MAX_HEADERS (8u << 10)
/* Seconds an idle connection is kept. */
#define IL_HTTP_IDLE_TIMEOUT 30

typedef struct il_http_route_entry il_http_route_entry;

struct il_http_route_entry {
	char *method;                   /* exact method, e.g. "POST" */
	char *path;                     /* exact path or prefix, no query */
	size_t path_len;                /* strlen(path) */
	bool prefix;                    /* true: matches every path starting with path */
	il_http_handler *handler;       /* called with the whole body */
	void *ctx;                      /* handler's argument */
	il_http_route_entry *next;      /* next route in registration order */
};

struct il_http {
	char *address;                  /* IPv4 address to bind */
	int port;                       /* requested port; 0 = any */
	int bound_port;                 /* port actually bound, after listen */
	size_t max_body;                /* request bodies above this get 413 */
	il_metrics *metrics;            /* borrowed; rendered at GET /metrics */
	il_health_cb *health;           /* borrowed; NULL = always ok */
	void *health_ctx;               /* health's argument */
	il_http_route_entry *routes;    /* built-in routes first */
	il_http_route_entry *last;      /* where the next route goes */
	unsigned int max_connections;   /* connections served at once */
	struct MHD_Daemon *daemon;      /* NULL until listening */
};

/* Per-request state, kept by libmicrohttpd between calls. */
typedef struct il_http_conn {
	il_buf body;                    /* request body so far, bounded by max_body */
	bool too_big;                   /* the body went over max_body: answer 413 */
} il_http_conn;

static void il_http_metrics(const il_http_request *req, il_http_response *resp, void *ctx);
static void il_http_healthz(const il_http_request *req, il_http_response *resp, void *ctx);

il_http *
il_http_new(const char *address, int port, size_t max_body,
    il_metrics *metrics, il_health_cb *health, void *health_ctx)
{
	il_http *h = il_xcalloc(1, sizeof(*h));

	h->address = il_xstrdup(address != NULL ? address : "127.0.0.1");
	h->port = port;
	h->max_body = max_body;
	h->metrics = metrics;
	h->health = health;
	h->health_ctx = health_ctx;
	h->max_connections = IL_HTTP_MAX_CONNECTIONS;
	il_http_route(h, "GET", "/metrics", il_http_metrics, h);
	il_http_route(h, "GET", "/healthz", il_http_healthz, h);
	return h;
}

static void
il_http_add_route(il_http *h, const char *method, const char *path, bool prefix,
    il_http_handler *handler, void *ctx)
{
	il_http_route_entry *r = il_xcalloc(1, sizeof(*r));

	/* "*" stands for any method: one spelling to compare against. */
	r->method = il_xstrdup(method != NULL ? method : "*");
	r->path = il_xstrdup(path);
	r->path_len = strlen(path);
	r->prefix = prefix;
	r->handler = handler;
	r->ctx = ctx;
	if (h->last != NULL)
		h->last->next = r;
	else
		h->routes = r;
	h->last = r;
}

void
il_http_route(il_http *h, const char *method, const char *path,
    il_http_handler *handler, void *ctx)
{
	il_http_add_route(h, method, path, false, handler, ctx);
}

void
il_http_route_prefix(il_http *h, const char *method, const char *prefix,
    il_http_handler *handler, void *ctx)
{
	il_http_add_route(h, method, prefix, true, handler, ctx);
}

void
il_http_set_max_connections(il_http *h, unsigned int n)
{
	h->max_connections = n > 0 ? n : IL_HTTP_MAX_CONNECTIONS;
}

il_err
il_http_set_header(il_http_response *resp, const char *name, const char *value)
{
	size_t used = resp->headers.len;

	if (il_buf_add(&resp->headers, name, strlen(name) + 1) != IL_OK ||
	    il_buf_add(&resp->headers, value, strlen(value) + 1) != IL_OK) {
		/* Keep whole pairs only. */
		resp->headers.len = used;
		return IL_ERR_NOMEM;
	}
	return IL_OK;
}

const char *
il_http_client_ip(const il_http_request *req, char *out, size_t outsz)
{
	const union MHD_ConnectionInfo *info;
	const struct sockaddr *sa;

	if (outsz == 0)
		return out;
	out[0] = '\0';
	info = MHD_get_connection_info(req->conn, MHD_CONNECTION_INFO_CLIENT_ADDRESS);
	if (info == NULL || info->client_addr == NULL)
		return out;
	sa = info->client_addr;
	if (sa->sa_family == AF_INET) {
		if (inet_ntop(AF_INET, &((const struct sockaddr_in *)(const void *)sa)->sin_addr,
		    out, (socklen_t)outsz) == NULL)
			out[0] = '\0';
	} else if (sa->sa_family == AF_INET6) {
		if (inet_ntop(AF_INET6, &((const struct sockaddr_in6 *)(const void *)sa)->sin6_addr,
		    out, (socklen_t)outsz) == NULL)
			out[0] = '\0';
	}
	return out;
}

/* Queues @p body (malloc'ed; always taken) as the response; @p extra holds
 * "name\0value\0" pairs or is NULL. */
static enum MHD_Result
il_http_send(struct MHD_Connection *conn, int status, const char *ctype,
    char *body, size_t len, const char *allow, const il_buf *extra)
{
	struct MHD_Response *resp;
	enum MHD_Result ret;
	size_t off;

	resp = MHD_create_response_from_buffer(len, body, MHD_RESPMEM_MUST_FREE);
	if (resp == NULL) {
		free(body);
		return MHD_NO;
	}
	if (MHD_add_response_header(resp, MHD_HTTP_HEADER_CONTENT_TYPE, ctype) != MHD_YES ||
	    (allow != NULL &&
	    MHD_add_response_header(resp, MHD_HTTP_HEADER_ALLOW, allow) != MHD_YES)) {
		MHD_destroy_response(resp);
		return MHD_NO;
	}
	for (off = 0; extra != NULL && off < extra->len; ) {
		const char *name = extra->data + off;
		const char *value = name + strlen(name) + 1;

		if (MHD_add_response_header(resp, name, value) != MHD_YES) {
			MHD_destroy_response(resp);
			return MHD_NO;
		}
		off = (size_t)(value - extra->data) + strlen(value) + 1;
	}
	ret = MHD_queue_response(conn, (unsigned int)status, resp);
	MHD_destroy_response(resp);
	return ret;
}

/* Answers {"error": "<formatted reason>"} with @p status. */
static enum MHD_Result
il_http_error(struct MHD_Connection *conn, int status, const char *allow, const char *fmt, ...)
{
	char msg[1024];
	va_list ap;
	il_buf body;
	size_t len;

	va_start(ap, fmt);
	vsnprintf(msg, sizeof(msg), fmt, ap);
	va_end(ap);
	il_buf_init(&body, sizeof(msg) * 6 + 32);
	/* Bounded at six bytes per input byte, the worst JSON escape: cannot fail. */
	if (il_buf_adds(&body, "{\"error\":\"") != IL_OK ||
	    il_buf_add_json_escaped(&body, msg) != IL_OK ||
	    il_buf_adds(&body, "\"}") != IL_OK) {
		il_buf_free(&body);
		return MHD_NO;
	}
	il_log_debug("http request refused", IL_INT("status", status), IL_STR("reason", msg));
	len = body.len;
	return il_http_send(conn, status, "application/json", il_buf_take(&body), len, allow, NULL);
}

static bool
il_http_method_matches(const il_http_route_entry *r, const char *method)
{
	return strcmp(r->method, "*") == 0 || strcmp(r->method, method) == 0;
}

/* Finds the route for @p method and @p path; *path_known tells a 405 from a 404. */
static il_http_route_entry *
il_http_find(il_http *h, const char *method, const char *path, bool *path_known)
{
	il_http_route_entry *r;

	il_http_route_entry *best = NULL;

	*path_known = false;
	for (r = h->routes; r != NULL; r = r->next) {
		if (r->prefix || strcmp(r->path, path) != 0)
			continue;
		*path_known = true;
		if (il_http_method_matches(r, method))
			return r;
	}
	if (*path_known)
		return NULL;
	for (r = h->routes; r != NULL; r = r->next) {
		if (!r->prefix || strncmp(r->path, path, r->path_len) != 0)
			continue;
		*path_known = true;
		if (il_http_method_matches(r, method) &&
		    (best == NULL || r->path_len > best->path_len))
			best = r;
	}
	return best;
}

/* Answers 404 or 405 (with Allow listing the path's methods). */
static enum MHD_Result
il_http_no_route(il_http *h, struct MHD_Connection *conn, const char *method,
    const char *path, bool path_known)
{
	il_http_route_entry *r;
	char allow[256];
	size_t n = 0;

	if (!path_known)
		return il_http_error(conn, MHD_HTTP_NOT_FOUND, NULL, "no such path \"%s\"", path);
	allow[0] = '\0';
	for (r = h->routes; r != NULL; r = r->next) {
		int len;

		if (r->prefix ? strncmp(r->path, path, r->path_len) != 0 : strcmp(r->path, path) != 0)
			continue;
		len = snprintf(allow + n, sizeof(allow) - n, "%s%s", n > 0 ? ", " : "", r->method);
		if (len < 0 || (size_t)len >= sizeof(allow) - n)
			break;
		n += (size_t)len;
	}
	return il_http_error(conn, MHD_HTTP_METHOD_NOT_ALLOWED, allow,
	    "method \"%s\" not allowed for \"%s\"", method, path);
}

/* @returns true when the Content-Length header announces more than max_body. */
static bool
il_http_announced_too_big(il_http *h, struct MHD_Connection *conn)
{
	const char *cl;
	unsigned long long n = 0;

	cl = MHD_lookup_connection_value(conn, MHD_HEADER_KIND, MHD_HTTP_HEADER_CONTENT_LENGTH);
	if (cl == NULL)
		return false;
	/* Stops as soon as the value passes max_body, so it cannot overflow. */
	for (; *cl >= '0' && *cl <= '9'; cl++) {
		n = n * 10 + (unsigned long long)(*cl - '0');
		if (n > h->max_body)
			return true;
	}
	return false;
}

static enum MHD_Result
il_http_too_big(il_http *h, struct MHD_Connection *conn)
{
	return il_http_error(conn, MHD_HTTP_CONTENT_TOO_LARGE, NULL,
	    "request body larger than %zu bytes", h->max_body);
}

static enum MHD_Result
il_http_dispatch(struct MHD_Connection *conn, il_http_route_entry *r,
    const char *method, const char *path, il_http_conn *st)
{
	il_http_request req;
	il_http_response resp;
	enum MHD_Result ret;
	size_t len;

	req.method = method;
	req.path = path;
	req.body = st->body.data != NULL ? st->body.data : "";
	req.body_len = st->body.len;
	req.conn = conn;
	resp.status = 0;
	resp.content_type = NULL;
	resp.drop = false;
	il_buf_init(&resp.body, IL_HTTP_MAX_RESPONSE);
	il_buf_init(&resp.headers, IL_HTTP_MAX_HEADERS);
	r->handler(&req, &resp, r->ctx);
	if (resp.drop) {
		/* MHD_NO makes libmicrohttpd close the connection unanswered. */
		il_log_debug("http request dropped", IL_STR("method", method), IL_STR("path", path));
		il_buf_free(&resp.body);
		il_buf_free(&resp.headers);
		return MHD_NO;
	}
	if (resp.status == 0)
		resp.status = MHD_HTTP_OK;
	il_log_debug("http request", IL_STR("method", method), IL_STR("path", path),
	    IL_INT("status", resp.status));
	len = resp.body.len;
	ret = il_http_send(conn, resp.status,
	    resp.content_type != NULL ? resp.content_type : "application/json",
	    il_buf_take(&resp.body), len, NULL, &resp.headers);
	il_buf_free(&resp.headers);
	return ret;
}

static enum MHD_Result
il_http_access(void *cls, struct MHD_Connection *conn, const char *url,
    const char *method, const char *version, const char *upload_data,
    size_t *upload_data_size, void **con_cls)
{
	il_http *h = cls;
	il_http_conn *st = *con_cls;
	il_http_route_entry *r;
	bool path_known;

	(void)version;
	r = il_http_find(h, method, url, &path_known);
	if (st == NULL) {
		st = il_xcalloc(1, sizeof(*st));
		il_buf_init(&st->body, h->max_body);
		*con_cls = st;
		/* Refuse before the body is read: the client is told at once
		 * (no 100 Continue) and we never buffer what we would discard. */
		if (r == NULL)
			return il_http_no_route(h, conn, method, url, path_known);
		if (il_http_announced_too_big(h, conn))
			return il_http_too_big(h, conn);
		return MHD_YES;
	}
	if (*upload_data_size > 0) {
		/* A chunked body has no length up front: keep reading, keep nothing. */
		if (!st->too_big &&
		    il_buf_add(&st->body, upload_data, *upload_data_size) != IL_OK) {
			st->too_big = true;
			il_buf_free(&st->body);
		}
		*upload_data_size = 0;
		return MHD_YES;
	}
	if (st->too_big)
		return il_http_too_big(h, conn);
	if (r == NULL)
		return il_http_no_route(h, conn, method, url, path_known);
	return il_http_dispatch(conn, r, method, url, st);
}

static void
il_http_completed(void *cls, struct MHD_Connection *conn, void **con_cls,
    enum MHD_RequestTerminationCode toe)
{
	il_http_conn *st = *con_cls;

	(void)cls;
	(void)conn;
	(void)toe;
	if (st == NULL)
		return;
	il_buf_free(&st->body);
	free(st);
	*con_cls = NULL;
}

static void
il_http_metrics(const il_http_request *req, il_http_response *resp, void *ctx)
{
	il_http *h = ctx;

	(void)req;
	resp->content_type = "text/plain; version=0.0.4; charset=utf-8";
	if (h->metrics == NULL)
		return;
	if (il_metrics_render(h->metrics, &resp->body) != IL_OK) {
		il_buf_reset(&resp->body);
		resp->status = MHD_HTTP_INTERNAL_SERVER_ERROR;
		resp->content_type = "application/json";
		if (il_buf_adds(&resp->body,
		    "{\"error\":\"metrics larger than the response limit\"}") != IL_OK)
			il_buf_reset(&resp->body);
	}
}

static const char *
il_health_name(il_health health)
{
	switch (health) {
	case IL_HEALTH_OK: return "ok";
	case IL_HEALTH_DEGRADED: return "degraded";
	case IL_HEALTH_DOWN: return "down";
	}
	return "down";
}

static void
il_http_healthz(const il_http_request *req, il_http_response *resp, void *ctx)
{
	il_http *h = ctx;
	il_health health = IL_HEALTH_OK;
	il_buf details;

	(void)req;
	il_buf_init(&details, IL_HTTP_MAX_HEALTH);
	if (h->health != NULL)
		health = h->health(&details, h->health_ctx);
	resp->status = health == IL_HEALTH_DOWN ? MHD_HTTP_SERVICE_UNAVAILABLE : MHD_HTTP_OK;
	if (il_buf_printf(&resp->body, "{\"status\":\"%s\"%s%s}", il_health_name(health),
	    details.len > 0 ? "," : "", details.len > 0 ? details.data : "") != IL_OK) {
		/* Only a health callback writing megabytes gets here. */
		il_buf_reset(&resp->body);
		resp->status = MHD_HTTP_INTERNAL_SERVER_ERROR;
		if (il_buf_adds(&resp->body,
		    "{\"status\":\"down\",\"error\":\"health details too large\"}") != IL_OK)
			il_buf_reset(&resp->body);
	}
	il_buf_free(&details);
}

il_err
il_http_listen(il_http *h, char *errbuf, size_t errsz)
{
	struct sockaddr_in sin;
	const union MHD_DaemonInfo *info;
	char reason[256];
	int fd = -1, one = 1;
	il_err err = IL_ERR_IO;
	sigset_t sigs;

	if (h->daemon != NULL) {
		il_err_setf(errbuf, errsz, "HTTP server on %s:%d is already listening", h->address,
		    h->bound_port);
		return IL_ERR_INVALID;
	}
	if (h->port < 0 || h->port > 65535) {
		il_err_setf(errbuf, errsz, "invalid HTTP port %d: expected 0 to 65535", h->port);
		return IL_ERR_INVALID;
	}
	memset(&sin, 0, sizeof(sin));
	sin.sin_family = AF_INET;
	sin.sin_port = htons((uint16_t)h->port);
	if (inet_pton(AF_INET, h->address, &sin.sin_addr) != 1) {
		il_err_setf(errbuf, errsz, "invalid HTTP address \"%s\": expected an IPv4 address",
		    h->address);
		return IL_ERR_INVALID;
	}
	fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
	if (fd < 0)
		goto sockerr;
	/* A restarted daemon must not wait for old connections in TIME_WAIT. */
	if (setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one)) != 0)
		goto sockerr;
	if (bind(fd, (struct sockaddr *)&sin, sizeof(sin)) != 0 || listen(fd, SOMAXCONN) != 0)
		goto sockerr;
	il_sig_block_all(&sigs);	/* its threads inherit the mask */
	h->daemon = MHD_start_daemon(MHD_USE_THREAD_PER_CONNECTION |
	    MHD_USE_INTERNAL_POLLING_THREAD | MHD_USE_POLL, 0, NULL, NULL, il_http_access, h,
	    MHD_OPTION_LISTEN_SOCKET, fd,
	    MHD_OPTION_NOTIFY_COMPLETED, il_http_completed, h,
	    MHD_OPTION_CONNECTION_LIMIT, h->max_connections,
	    MHD_OPTION_CONNECTION_TIMEOUT, (unsigned int)IL_HTTP_IDLE_TIMEOUT,
	    MHD_OPTION_END);
	il_sig_restore(&sigs);
	if (h->daemon == NULL) {
		il_err_setf(errbuf, errsz, "could not start HTTP server on %s:%d", h->address,
		    h->port);
		goto out;
	}
	/* The daemon owns the socket now and closes it on stop. */
	fd = -1;
	info = MHD_get_daemon_info(h->daemon, MHD_DAEMON_INFO_BIND_PORT);
	h->bound_port = info != NULL && info->port != 0 ? info->port : h->port;
	il_log_info("http listening", IL_STR("address", h->address), IL_INT("port", h->bound_port));
	return IL_OK;
sockerr:
	if (strerror_r(errno, reason, sizeof(reason)) != 0)
		snprintf(reason, sizeof(reason), "error %d", errno);
	il_err_setf(errbuf, errsz, "could not listen on %s:%d: %s", h->address, h->port, reason);
out:
	if (fd >= 0)
		close(fd);
	return err;
}

int
il_http_port(const il_http *h)
{
	return h->daemon != NULL ? h->bound_port : h->port;
}

const char *
il_http_header(const il_http_request *req, const char *name)
{
	return MHD_lookup_connection_value(req->conn, MHD_HEADER_KIND, name);
}

const char *
il_http_query(const il_http_request *req, const char *name)
{
	return MHD_lookup_connection_value(req->conn, MHD_GET_ARGUMENT_KIND, name);
}

void
il_http_stop(il_http *h)
{
	il_http_route_entry *r, *next;

	if (h == NULL)
		return;
	if (h->daemon != NULL)
		MHD_stop_daemon(h->daemon);
	for (r = h->routes; r != NULL; r = next) {
		next = r->next;
		free(r->method);
		free(r->path);
		free(r);
	}
	free(h->address);
	free(h);
}
