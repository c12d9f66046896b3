/*
 * test_http.c - the HTTP endpoint through a real client (libcurl) on loopback.
 */
#include <arpa/inet.h>
#include <netinet/in.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include <cmocka.h>
#include <curl/curl.h>

#include "http.h"
#include "metrics.h"

#define MAX_BODY 1024

/* What a request returned. */
struct reply {
	long status;            /* HTTP status */
	char ctype[128];        /* Content-Type header */
	char allow[128];        /* Allow header, "" when absent */
	char location[128];     /* Location header, "" when absent */
	CURLcode rc;            /* transfer result: not CURLE_OK when dropped */
	il_buf body;            /* response body */
};

/* What the health callback reports; set by each test. */
struct health_state {
	il_health health;       /* status to report */
	const char *details;    /* JSON members to write, may be NULL */
};

struct fixture {
	il_metrics *metrics;    /* registry served at /metrics */
	struct health_state hs; /* health reported at /healthz */
	il_http *http;          /* server under test */
	int port;               /* port it bound */
};

static size_t
on_body(char *data, size_t size, size_t nmemb, void *ctx)
{
	struct reply *r = ctx;

	if (il_buf_add(&r->body, data, size * nmemb) != IL_OK)
		return 0;
	return size * nmemb;
}

/* Keeps one header's value, without the line end. */
static void
keep_header(const char *line, size_t len, const char *name, char *out, size_t outsz)
{
	size_t nlen = strlen(name);

	if (len <= nlen + 1 || strncasecmp(line, name, nlen) != 0 || line[nlen] != ':')
		return;
	line += nlen + 1;
	len -= nlen + 1;
	while (len > 0 && *line == ' ') {
		line++;
		len--;
	}
	while (len > 0 && (line[len - 1] == '\r' || line[len - 1] == '\n'))
		len--;
	snprintf(out, outsz, "%.*s", (int)len, line);
}

static size_t
on_header(char *data, size_t size, size_t nmemb, void *ctx)
{
	struct reply *r = ctx;

	keep_header(data, size * nmemb, "Content-Type", r->ctype, sizeof(r->ctype));
	keep_header(data, size * nmemb, "Allow", r->allow, sizeof(r->allow));
	keep_header(data, size * nmemb, "Location", r->location, sizeof(r->location));
	return size * nmemb;
}

/*
 * Performs one request; @p body NULL means none; @p chunked sends without a
 * length (the body must then be a NUL-terminated string of @p len bytes).
 */
static void
request_any(int port, const char *method, const char *path, const char *body, size_t len,
    bool chunked, struct reply *r)
{
	CURL *curl = curl_easy_init();
	struct curl_slist *hdrs = NULL;
	char url[256];
	CURLcode rc;

	assert_non_null(curl);
	memset(r, 0, sizeof(*r));
	il_buf_init(&r->body, 1 << 20);
	snprintf(url, sizeof(url), "http://127.0.0.1:%d%s", port, path);
	curl_easy_setopt(curl, CURLOPT_URL, url);
	curl_easy_setopt(curl, CURLOPT_CUSTOMREQUEST, method);
	curl_easy_setopt(curl, CURLOPT_WRITEFUNCTION, on_body);
	curl_easy_setopt(curl, CURLOPT_WRITEDATA, r);
	curl_easy_setopt(curl, CURLOPT_HEADERFUNCTION, on_header);
	curl_easy_setopt(curl, CURLOPT_HEADERDATA, r);
	curl_easy_setopt(curl, CURLOPT_NOSIGNAL, 1L);
	hdrs = curl_slist_append(hdrs, "X-Test: header value");
	if (body != NULL) {
		curl_easy_setopt(curl, CURLOPT_POSTFIELDS, body);
		if (chunked)
			hdrs = curl_slist_append(hdrs, "Transfer-Encoding: chunked");
		else
			curl_easy_setopt(curl, CURLOPT_POSTFIELDSIZE_LARGE, (curl_off_t)len);
	}
	curl_easy_setopt(curl, CURLOPT_HTTPHEADER, hdrs);
	rc = curl_easy_perform(curl);
	r->rc = rc;
	curl_easy_getinfo(curl, CURLINFO_RESPONSE_CODE, &r->status);
	curl_slist_free_all(hdrs);
	curl_easy_cleanup(curl);
}

/* As request_any(), and the transfer must succeed. */
static void
request(int port, const char *method, const char *path, const char *body, size_t len,
    bool chunked, struct reply *r)
{
	request_any(port, method, path, body, len, chunked, r);
	if (r->rc != CURLE_OK)
		fail_msg("curl %s %s: %s", method, path, curl_easy_strerror(r->rc));
}

static void
reply_free(struct reply *r)
{
	il_buf_free(&r->body);
}

static const char *
reply_text(const struct reply *r)
{
	return r->body.data != NULL ? r->body.data : "";
}

static il_health
health_cb(il_buf *out, void *ctx)
{
	struct health_state *hs = ctx;

	if (hs->details != NULL && il_buf_adds(out, hs->details) != IL_OK)
		return IL_HEALTH_DOWN;
	return hs->health;
}

/* Echoes the body with the method, a header and a query parameter. */
static void
echo_handler(const il_http_request *req, il_http_response *resp, void *ctx)
{
	const char *q = il_http_query(req, "q");
	const char *hv = il_http_header(req, "x-test");

	(void)ctx;
	resp->status = 201;
	resp->content_type = "text/plain";
	if (il_buf_printf(&resp->body, "%s %s q=%s h=%s len=%zu body=", req->method, req->path,
	    q != NULL ? q : "(null)", hv != NULL ? hv : "(null)", req->body_len) != IL_OK ||
	    il_buf_add(&resp->body, req->body, req->body_len) != IL_OK)
		resp->status = 500;
}

/* Leaves everything unset: the server must default to 200 and JSON. */
static void
empty_handler(const il_http_request *req, il_http_response *resp, void *ctx)
{
	(void)req;
	(void)resp;
	(void)ctx;
}

/* Names the path it saw and the client's address; sets a Location header. */
static void
prefix_handler(const il_http_request *req, il_http_response *resp, void *ctx)
{
	char ip[64];

	resp->status = 301;
	resp->content_type = "text/plain";
	if (il_http_set_header(resp, "Location", "/elsewhere/") != IL_OK ||
	    il_buf_printf(&resp->body, "%s %s %s from %s", (const char *)ctx, req->method,
	    req->path, il_http_client_ip(req, ip, sizeof(ip))) != IL_OK)
		resp->status = 500;
}

/* Closes the connection without an answer. */
static void
drop_handler(const il_http_request *req, il_http_response *resp, void *ctx)
{
	(void)req;
	(void)ctx;
	resp->drop = true;
}

static int
setup(void **state)
{
	struct fixture *f = calloc(1, sizeof(*f));
	char errbuf[256];

	if (f == NULL)
		return -1;
	f->metrics = il_metrics_new();
	il_metric_inc(il_metrics_counter(f->metrics, "il_requests_total", "Requests.", NULL), 3);
	f->hs.health = IL_HEALTH_OK;
	f->http = il_http_new("127.0.0.1", 0, MAX_BODY, f->metrics, health_cb, &f->hs);
	il_http_route(f->http, "POST", "/echo", echo_handler, NULL);
	il_http_route(f->http, "PUT", "/echo", echo_handler, NULL);
	il_http_route(f->http, "GET", "/empty", empty_handler, NULL);
	il_http_route_prefix(f->http, "GET", "/p/", prefix_handler, "short");
	il_http_route_prefix(f->http, NULL, "/p/long/", prefix_handler, "long");
	il_http_route(f->http, "GET", "/p/exact", prefix_handler, "exact");
	il_http_route(f->http, "GET", "/drop", drop_handler, NULL);
	il_http_set_max_connections(f->http, 2048);
	if (il_http_listen(f->http, errbuf, sizeof(errbuf)) != IL_OK) {
		fprintf(stderr, "listen: %s\n", errbuf);
		return -1;
	}
	f->port = il_http_port(f->http);
	*state = f;
	return 0;
}

static int
teardown(void **state)
{
	struct fixture *f = *state;

	il_http_stop(f->http);
	il_metrics_destroy(f->metrics);
	free(f);
	return 0;
}

static void
test_port_zero(void **state)
{
	struct fixture *f = *state;

	assert_true(f->port > 0 && f->port <= 65535);
}

static void
test_metrics(void **state)
{
	struct fixture *f = *state;
	struct reply r;

	request(f->port, "GET", "/metrics", NULL, 0, false, &r);
	assert_int_equal(r.status, 200);
	assert_string_equal(r.ctype, "text/plain; version=0.0.4; charset=utf-8");
	assert_string_equal(reply_text(&r),
	    "# HELP il_requests_total Requests.\n"
	    "# TYPE il_requests_total counter\n"
	    "il_requests_total 3\n");
	reply_free(&r);
}

static void
test_healthz(void **state)
{
	struct fixture *f = *state;
	struct reply r;

	request(f->port, "GET", "/healthz", NULL, 0, false, &r);
	assert_int_equal(r.status, 200);
	assert_string_equal(r.ctype, "application/json");
	assert_string_equal(reply_text(&r), "{\"status\":\"ok\"}");
	reply_free(&r);

	f->hs.health = IL_HEALTH_DEGRADED;
	f->hs.details = "\"kafka\":\"up\",\"openimis\":\"slow\"";
	request(f->port, "GET", "/healthz", NULL, 0, false, &r);
	assert_int_equal(r.status, 200);
	assert_string_equal(reply_text(&r), "{\"status\":\"degraded\",\"kafka\":\"up\",\"openimis\":\"slow\"}");
	reply_free(&r);

	f->hs.health = IL_HEALTH_DOWN;
	f->hs.details = "\"kafka\":\"down\"";
	request(f->port, "GET", "/healthz", NULL, 0, false, &r);
	assert_int_equal(r.status, 503);
	assert_string_equal(reply_text(&r), "{\"status\":\"down\",\"kafka\":\"down\"}");
	reply_free(&r);
}

static void
test_healthz_without_callback(void **state)
{
	il_http *h = il_http_new("127.0.0.1", 0, MAX_BODY, NULL, NULL, NULL);
	char errbuf[256];
	struct reply r;

	(void)state;
	assert_int_equal(il_http_listen(h, errbuf, sizeof(errbuf)), IL_OK);
	request(il_http_port(h), "GET", "/healthz", NULL, 0, false, &r);
	assert_int_equal(r.status, 200);
	assert_string_equal(reply_text(&r), "{\"status\":\"ok\"}");
	reply_free(&r);
	/* No registry: an empty page, still the right type. */
	request(il_http_port(h), "GET", "/metrics", NULL, 0, false, &r);
	assert_int_equal(r.status, 200);
	assert_string_equal(r.ctype, "text/plain; version=0.0.4; charset=utf-8");
	assert_string_equal(reply_text(&r), "");
	reply_free(&r);
	il_http_stop(h);
}

static void
test_not_found(void **state)
{
	struct fixture *f = *state;
	struct reply r;

	request(f->port, "GET", "/nope?x=1", NULL, 0, false, &r);
	assert_int_equal(r.status, 404);
	assert_string_equal(r.ctype, "application/json");
	assert_string_equal(reply_text(&r), "{\"error\":\"no such path \\\"/nope\\\"\"}");
	reply_free(&r);

	/* A body on an unknown path is refused without being read. */
	request(f->port, "POST", "/nope", "abc", 3, false, &r);
	assert_int_equal(r.status, 404);
	reply_free(&r);
}

static void
test_method_not_allowed(void **state)
{
	struct fixture *f = *state;
	struct reply r;

	request(f->port, "POST", "/metrics", "x", 1, false, &r);
	assert_int_equal(r.status, 405);
	assert_string_equal(r.allow, "GET");
	assert_string_equal(r.ctype, "application/json");
	assert_string_equal(reply_text(&r), "{\"error\":\"method \\\"POST\\\" not allowed for \\\"/metrics\\\"\"}");
	reply_free(&r);

	request(f->port, "DELETE", "/echo", NULL, 0, false, &r);
	assert_int_equal(r.status, 405);
	assert_string_equal(r.allow, "POST, PUT");
	reply_free(&r);
}

static void
test_echo(void **state)
{
	struct fixture *f = *state;
	struct reply r;

	request(f->port, "POST", "/echo?q=a%20b&z=1", "{\"hello\":1}", 11, false, &r);
	assert_int_equal(r.status, 201);
	assert_string_equal(r.ctype, "text/plain");
	assert_string_equal(reply_text(&r), "POST /echo q=a b h=header value len=11 body={\"hello\":1}");
	reply_free(&r);

	/* No query, no body. */
	request(f->port, "PUT", "/echo", "", 0, false, &r);
	assert_int_equal(r.status, 201);
	assert_string_equal(reply_text(&r), "PUT /echo q=(null) h=header value len=0 body=");
	reply_free(&r);

	request(f->port, "GET", "/empty", NULL, 0, false, &r);
	assert_int_equal(r.status, 200);
	assert_string_equal(r.ctype, "application/json");
	assert_string_equal(reply_text(&r), "");
	reply_free(&r);
}

static void
test_prefix_routes(void **state)
{
	struct fixture *f = *state;
	struct reply r;

	request(f->port, "GET", "/p/a/b/?x=1", NULL, 0, false, &r);
	assert_int_equal(r.status, 301);
	assert_string_equal(r.location, "/elsewhere/");
	assert_string_equal(reply_text(&r), "short GET /p/a/b/ from 127.0.0.1");
	reply_free(&r);

	/* The longest prefix wins; NULL method takes any method. */
	request(f->port, "DELETE", "/p/long/x", NULL, 0, false, &r);
	assert_int_equal(r.status, 301);
	assert_string_equal(reply_text(&r), "long DELETE /p/long/x from 127.0.0.1");
	reply_free(&r);

	/* An exact route wins over a prefix. */
	request(f->port, "GET", "/p/exact", NULL, 0, false, &r);
	assert_string_equal(reply_text(&r), "exact GET /p/exact from 127.0.0.1");
	reply_free(&r);

	/* A prefix route with another method: 405 naming it. */
	request(f->port, "POST", "/p/z", "x", 1, false, &r);
	assert_int_equal(r.status, 405);
	assert_string_equal(r.allow, "GET");
	reply_free(&r);

	/* Not under any prefix: still 404. */
	request(f->port, "GET", "/p", NULL, 0, false, &r);
	assert_int_equal(r.status, 404);
	assert_string_equal(r.location, "");
	reply_free(&r);
}

static void
test_drop(void **state)
{
	struct fixture *f = *state;
	struct reply r;

	request_any(f->port, "GET", "/drop", NULL, 0, false, &r);
	assert_int_not_equal(r.rc, CURLE_OK);
	assert_int_equal(r.status, 0);
	reply_free(&r);
	/* The server goes on serving. */
	request(f->port, "GET", "/empty", NULL, 0, false, &r);
	assert_int_equal(r.status, 200);
	reply_free(&r);
}

static void
test_body_limit(void **state)
{
	struct fixture *f = *state;
	char big[MAX_BODY + 2];
	char want[64];
	struct reply r;

	/* NUL-terminated: a chunked upload takes its length from strlen(). */
	memset(big, 'x', sizeof(big) - 1);
	big[MAX_BODY + 1] = '\0';
	/* Exactly at the limit is accepted. */
	request(f->port, "POST", "/echo", big, MAX_BODY, false, &r);
	assert_int_equal(r.status, 201);
	assert_int_equal(r.body.len, strlen("POST /echo q=(null) h=header value len=1024 body=") + MAX_BODY);
	reply_free(&r);

	snprintf(want, sizeof(want), "{\"error\":\"request body larger than %d bytes\"}", MAX_BODY);
	request(f->port, "POST", "/echo", big, MAX_BODY + 1, false, &r);
	assert_int_equal(r.status, 413);
	assert_string_equal(r.ctype, "application/json");
	assert_string_equal(reply_text(&r), want);
	reply_free(&r);

	/* Without a Content-Length the body is read, dropped, and refused at the end. */
	request(f->port, "POST", "/echo", big, MAX_BODY + 1, true, &r);
	assert_int_equal(r.status, 413);
	assert_string_equal(reply_text(&r), want);
	reply_free(&r);

	request(f->port, "POST", "/echo", "chunked ok", 10, true, &r);
	assert_int_equal(r.status, 201);
	assert_string_equal(reply_text(&r), "POST /echo q=(null) h=header value len=10 body=chunked ok");
	reply_free(&r);
}

static void
test_port_in_use(void **state)
{
	struct fixture *f = *state;
	il_http *h = il_http_new("127.0.0.1", f->port, MAX_BODY, NULL, NULL, NULL);
	char errbuf[256], want[128];

	assert_int_equal(il_http_listen(h, errbuf, sizeof(errbuf)), IL_ERR_IO);
	snprintf(want, sizeof(want), "could not listen on 127.0.0.1:%d: Address already in use", f->port);
	assert_string_equal(errbuf, want);
	il_http_stop(h);
}

static void
test_bad_address(void **state)
{
	il_http *h = il_http_new("localhost", 0, MAX_BODY, NULL, NULL, NULL);
	char errbuf[256];

	(void)state;
	assert_int_equal(il_http_listen(h, errbuf, sizeof(errbuf)), IL_ERR_INVALID);
	assert_string_equal(errbuf, "invalid HTTP address \"localhost\": expected an IPv4 address");
	il_http_stop(h);

	h = il_http_new("127.0.0.1", 70000, MAX_BODY, NULL, NULL, NULL);
	assert_int_equal(il_http_listen(h, errbuf, sizeof(errbuf)), IL_ERR_INVALID);
	assert_string_equal(errbuf, "invalid HTTP port 70000: expected 0 to 65535");
	il_http_stop(h);
}

static void
test_stop(void **state)
{
	il_http *h = il_http_new("127.0.0.1", 0, MAX_BODY, NULL, NULL, NULL);
	char errbuf[256];
	struct reply r;
	int port;

	(void)state;
	il_http_stop(NULL);
	/* Never listened: stop only frees. */
	il_http_stop(il_http_new("127.0.0.1", 0, MAX_BODY, NULL, NULL, NULL));
	assert_int_equal(il_http_listen(h, errbuf, sizeof(errbuf)), IL_OK);
	port = il_http_port(h);
	request(port, "GET", "/healthz", NULL, 0, false, &r);
	assert_int_equal(r.status, 200);
	reply_free(&r);
	il_http_stop(h);
	/* The port is free again: a new server binds it. */
	h = il_http_new("127.0.0.1", port, MAX_BODY, NULL, NULL, NULL);
	assert_int_equal(il_http_listen(h, errbuf, sizeof(errbuf)), IL_OK);
	assert_int_equal(il_http_port(h), port);
	il_http_stop(h);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_port_zero),
		cmocka_unit_test(test_metrics),
		cmocka_unit_test(test_healthz),
		cmocka_unit_test(test_healthz_without_callback),
		cmocka_unit_test(test_not_found),
		cmocka_unit_test(test_method_not_allowed),
		cmocka_unit_test(test_echo),
		cmocka_unit_test(test_prefix_routes),
		cmocka_unit_test(test_drop),
		cmocka_unit_test(test_body_limit),
		cmocka_unit_test(test_port_in_use),
		cmocka_unit_test(test_bad_address),
		cmocka_unit_test(test_stop),
	};
	int rc;

	curl_global_init(CURL_GLOBAL_DEFAULT);
	rc = cmocka_run_group_tests(tests, setup, teardown);
	curl_global_cleanup();
	return rc;
}
