/*
 * test_curlm.c - many calls at once against a real HTTP server on loopback
 * (common/http.c), plus a raw socket server for answers il_http cannot give
 * (a redirect with a Location, a body without a length).
 */
#include <arpa/inet.h>
#include <netinet/in.h>
#include <pthread.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include <cmocka.h>

#include "curlm.h"
#include "http.h"

#define BIG_LEN 100000

struct fixture {
	il_http *http;          /* server under test's peer */
	int port;               /* its port */
	char base[64];          /* "http://127.0.0.1:port" */
};

/* Shared with the handlers, which run on the server's threads. */
static atomic_int g_current;    /* /sleep requests running now */
static atomic_int g_max;        /* the most at once */
static atomic_int g_stop;       /* set at teardown: /slow returns */

/* What a callback saw. */
struct outcome {
	int calls;              /* times the callback ran */
	il_err err;             /* last result */
	long status;
	char errstr[256];
	char body[512];
	size_t body_len;
};

static void
msleep(long ms)
{
	struct timespec ts = { ms / 1000, (ms % 1000) * 1000000L };

	nanosleep(&ts, NULL);
}

static void
hello_handler(const il_http_request *req, il_http_response *resp, void *ctx)
{
	(void)req;
	(void)ctx;
	resp->content_type = "text/plain";
	if (il_buf_adds(&resp->body, "hello") != IL_OK)
		resp->status = 500;
}

static void
status_handler(const il_http_request *req, il_http_response *resp, void *ctx)
{
	const char *code = il_http_query(req, "code");

	(void)ctx;
	resp->status = code != NULL ? (int)strtol(code, NULL, 10) : 500;
	if (il_buf_adds(&resp->body, "{\"status\":true}") != IL_OK)
		resp->status = 500;
}

static void
echo_handler(const il_http_request *req, il_http_response *resp, void *ctx)
{
	const char *x = il_http_header(req, "X-Test");
	const char *ct = il_http_header(req, "Content-Type");
	const char *expect = il_http_header(req, "Expect");

	(void)ctx;
	resp->content_type = "text/plain";
	if (il_buf_printf(&resp->body, "%s x=%s ct=%s expect=%s len=%zu body=%.40s",
	    req->method, x != NULL ? x : "-", ct != NULL ? ct : "-",
	    expect != NULL ? expect : "-", req->body_len, req->body) != IL_OK)
		resp->status = 500;
}

static void
sleep_handler(const il_http_request *req, il_http_response *resp, void *ctx)
{
	int now = atomic_fetch_add(&g_current, 1) + 1;
	int max = atomic_load(&g_max);

	(void)req;
	(void)ctx;
	while (now > max && !atomic_compare_exchange_weak(&g_max, &max, now))
		;
	msleep(200);
	atomic_fetch_sub(&g_current, 1);
	if (il_buf_adds(&resp->body, "slept") != IL_OK)
		resp->status = 500;
}

static void
slow_handler(const il_http_request *req, il_http_response *resp, void *ctx)
{
	int i;

	(void)req;
	(void)ctx;
	for (i = 0; i < 500 && !atomic_load(&g_stop); i++)
		msleep(10);
	resp->status = 200;
}

static void
big_handler(const il_http_request *req, il_http_response *resp, void *ctx)
{
	int i;

	(void)req;
	(void)ctx;
	for (i = 0; i < BIG_LEN / 10; i++)
		if (il_buf_adds(&resp->body, "0123456789") != IL_OK)
			resp->status = 500;
}

static void
moved_handler(const il_http_request *req, il_http_response *resp, void *ctx)
{
	(void)req;
	(void)ctx;
	resp->status = 301;
}

static int
setup(void **state)
{
	struct fixture *f = calloc(1, sizeof(*f));
	char errbuf[256];

	if (f == NULL)
		return -1;
	f->http = il_http_new("127.0.0.1", 0, 1 << 20, NULL, NULL, NULL);
	il_http_route(f->http, "GET", "/hello", hello_handler, NULL);
	il_http_route(f->http, "GET", "/status", status_handler, NULL);
	il_http_route(f->http, "GET", "/echo", echo_handler, NULL);
	il_http_route(f->http, "POST", "/echo", echo_handler, NULL);
	il_http_route(f->http, "PUT", "/echo", echo_handler, NULL);
	il_http_route(f->http, "DELETE", "/echo", echo_handler, NULL);
	il_http_route(f->http, "GET", "/sleep", sleep_handler, NULL);
	il_http_route(f->http, "GET", "/slow", slow_handler, NULL);
	il_http_route(f->http, "GET", "/big", big_handler, NULL);
	il_http_route(f->http, "POST", "/moved", moved_handler, NULL);
	if (il_http_listen(f->http, errbuf, sizeof(errbuf)) != IL_OK) {
		fprintf(stderr, "listen: %s\n", errbuf);
		il_http_stop(f->http);
		free(f);
		return -1;
	}
	f->port = il_http_port(f->http);
	snprintf(f->base, sizeof(f->base), "http://127.0.0.1:%d", f->port);
	*state = f;
	return 0;
}

static int
teardown(void **state)
{
	struct fixture *f = *state;

	atomic_store(&g_stop, 1);
	il_http_stop(f->http);
	free(f);
	return 0;
}

static il_curlm *
driver(long timeout_ms, size_t max_body)
{
	il_curlm_opts opts;

	memset(&opts, 0, sizeof(opts));
	opts.timeout_ms = timeout_ms;
	opts.connect_timeout_ms = 2000;
	opts.max_body = max_body;
	opts.max_host_connections = 0;
	return il_curlm_new(&opts);
}

static void
record(const il_curlm_result *r, void *ctx)
{
	struct outcome *o = ctx;

	o->calls++;
	o->err = r->err;
	o->status = r->status;
	o->body_len = r->body_len;
	snprintf(o->errstr, sizeof(o->errstr), "%s", r->errstr);
	snprintf(o->body, sizeof(o->body), "%s", r->body);
	assert_true(r->seconds >= 0);
}

/* Runs @p m until nothing is in flight (bounded: a hung call fails the test). */
static void
drain(il_curlm *m)
{
	int i;

	for (i = 0; i < 600 && il_curlm_in_flight(m) > 0; i++)
		il_curlm_run(m, 100);
	assert_int_equal(il_curlm_in_flight(m), 0);
}

static void
call(il_curlm *m, const char *method, const char *url, const char *const *hdrs, size_t nh,
    const char *body, size_t len, struct outcome *o)
{
	memset(o, 0, sizeof(*o));
	assert_int_equal(il_curlm_submit(m, method, url, hdrs, nh, body, len, record, o), IL_OK);
	drain(m);
	assert_int_equal(o->calls, 1);
}

static void
test_get_and_status(void **state)
{
	struct fixture *f = *state;
	il_curlm *m = driver(5000, 4096);
	struct outcome o;
	char url[128];
	static const int codes[] = { 200, 201, 404, 429, 503 };
	size_t i;

	snprintf(url, sizeof(url), "%s/hello", f->base);
	call(m, "GET", url, NULL, 0, NULL, 0, &o);
	assert_int_equal(o.err, IL_OK);
	assert_int_equal(o.status, 200);
	assert_string_equal(o.body, "hello");
	assert_int_equal(o.body_len, 5);
	assert_string_equal(o.errstr, "");
	for (i = 0; i < sizeof(codes) / sizeof(codes[0]); i++) {
		snprintf(url, sizeof(url), "%s/status?code=%d", f->base, codes[i]);
		call(m, "GET", url, NULL, 0, NULL, 0, &o);
		assert_int_equal(o.err, IL_OK);
		assert_int_equal(o.status, codes[i]);
		assert_string_equal(o.body, "{\"status\":true}");
	}
	il_curlm_destroy(m);
	il_curlm_destroy(NULL);
}

static void
test_methods_bodies_headers(void **state)
{
	struct fixture *f = *state;
	il_curlm *m = driver(5000, 4096);
	const char *hdrs[] = { "X-Test: forty two", "Content-Type: application/json" };
	char url[128], big[5000], expect[256];
	struct outcome o;

	snprintf(url, sizeof(url), "%s/echo", f->base);
	call(m, "POST", url, hdrs, 2, "{\"a\":1}", 7, &o);
	assert_int_equal(o.status, 200);
	assert_string_equal(o.body,
	    "POST x=forty two ct=application/json expect=- len=7 body={\"a\":1}");
	/* A larger body goes at once, without Expect: 100-continue. */
	memset(big, 'b', sizeof(big));
	call(m, "PUT", url, hdrs, 2, big, sizeof(big), &o);
	snprintf(expect, sizeof(expect),
	    "PUT x=forty two ct=application/json expect=- len=5000 body=%.40s", big);
	assert_string_equal(o.body, expect);
	/* A reused handle forgets the last call's method, body and headers. */
	call(m, "GET", url, NULL, 0, NULL, 0, &o);
	assert_string_equal(o.body, "GET x=- ct=- expect=- len=0 body=");
	call(m, "DELETE", url, NULL, 0, NULL, 0, &o);
	assert_string_equal(o.body, "DELETE x=- ct=- expect=- len=0 body=");
	call(m, "POST", url, NULL, 0, NULL, 0, &o);
	assert_int_equal(o.status, 200);
	assert_true(strncmp(o.body, "POST x=- ", 9) == 0);
	assert_non_null(strstr(o.body, "len=0"));
	il_curlm_destroy(m);
}

static void
test_many_in_flight(void **state)
{
	enum { N = 200 };
	struct fixture *f = *state;
	il_curlm *m = driver(30000, 4096);
	static struct outcome o[N];
	char url[128];
	int i;

	snprintf(url, sizeof(url), "%s/sleep", f->base);
	atomic_store(&g_max, 0);
	for (i = 0; i < N; i++) {
		memset(&o[i], 0, sizeof(o[i]));
		assert_int_equal(il_curlm_submit(m, "GET", url, NULL, 0, NULL, 0, record, &o[i]),
		    IL_OK);
	}
	assert_int_equal(il_curlm_in_flight(m), N);
	drain(m);
	for (i = 0; i < N; i++) {
		assert_int_equal(o[i].calls, 1);
		assert_int_equal(o[i].err, IL_OK);
		assert_int_equal(o[i].status, 200);
		assert_string_equal(o[i].body, "slept");
	}
	/* The calls really ran side by side on the server. */
	assert_true(atomic_load(&g_max) >= 50);
	il_curlm_destroy(m);
}

static void
test_timeout(void **state)
{
	struct fixture *f = *state;
	il_curlm *m = driver(300, 4096);
	struct outcome o;
	char url[128];

	snprintf(url, sizeof(url), "%s/slow", f->base);
	call(m, "GET", url, NULL, 0, NULL, 0, &o);
	assert_int_equal(o.err, IL_ERR_TIMEOUT);
	assert_int_equal(o.status, 0);
	assert_string_equal(o.body, "");
	assert_true(o.errstr[0] != '\0');
	il_curlm_destroy(m);
}

static void
test_refused(void **state)
{
	struct sockaddr_in sin;
	socklen_t sl = sizeof(sin);
	il_curlm *m = driver(5000, 4096);
	struct outcome o;
	char url[128];
	int fd = socket(AF_INET, SOCK_STREAM, 0);

	(void)state;
	/* Bound but not listening: connections to it are refused. */
	assert_true(fd >= 0);
	memset(&sin, 0, sizeof(sin));
	sin.sin_family = AF_INET;
	sin.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
	assert_int_equal(bind(fd, (struct sockaddr *)&sin, sizeof(sin)), 0);
	assert_int_equal(getsockname(fd, (struct sockaddr *)&sin, &sl), 0);
	snprintf(url, sizeof(url), "http://127.0.0.1:%d/x", ntohs(sin.sin_port));
	call(m, "POST", url, NULL, 0, "x", 1, &o);
	assert_int_equal(o.err, IL_ERR_IO);
	assert_int_equal(o.status, 0);
	assert_true(o.errstr[0] != '\0');
	close(fd);
	il_curlm_destroy(m);
}

static void
test_too_big(void **state)
{
	struct fixture *f = *state;
	il_curlm *m = driver(5000, 1000);
	struct outcome o;
	char url[128];

	snprintf(url, sizeof(url), "%s/big", f->base);
	call(m, "GET", url, NULL, 0, NULL, 0, &o);
	assert_int_equal(o.err, IL_ERR_TOOBIG);
	assert_string_equal(o.body, "");
	assert_non_null(strstr(o.errstr, "1000"));
	il_curlm_destroy(m);
	/* Exactly at the bound is fine. */
	m = driver(5000, BIG_LEN);
	call(m, "GET", url, NULL, 0, NULL, 0, &o);
	assert_int_equal(o.err, IL_OK);
	assert_int_equal(o.body_len, BIG_LEN);
	il_curlm_destroy(m);
}

/* A one-shot server answering @p answer to the first connection. */
struct raw_server {
	int fd;                 /* listening socket */
	int port;               /* its port */
	const char *answer;     /* bytes to send */
	size_t len;             /* their count */
	char request[4096];     /* what the client sent (headers) */
	pthread_t thread;
};

static void *
raw_serve(void *arg)
{
	struct raw_server *s = arg;
	size_t got = 0, off = 0;
	ssize_t n;
	int c = accept(s->fd, NULL, NULL);

	if (c < 0)
		return NULL;
	while (got < sizeof(s->request) - 1) {
		n = read(c, s->request + got, sizeof(s->request) - 1 - got);
		if (n <= 0)
			break;
		got += (size_t)n;
		s->request[got] = '\0';
		if (strstr(s->request, "\r\n\r\n") != NULL)
			break;
	}
	while (off < s->len) {
		n = write(c, s->answer + off, s->len - off);
		if (n <= 0)
			break;
		off += (size_t)n;
	}
	close(c);
	return NULL;
}

static void
raw_start(struct raw_server *s, const char *answer, size_t len)
{
	struct sockaddr_in sin;
	socklen_t sl = sizeof(sin);

	memset(s, 0, sizeof(*s));
	s->answer = answer;
	s->len = len;
	s->fd = socket(AF_INET, SOCK_STREAM, 0);
	assert_true(s->fd >= 0);
	memset(&sin, 0, sizeof(sin));
	sin.sin_family = AF_INET;
	sin.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
	assert_int_equal(bind(s->fd, (struct sockaddr *)&sin, sizeof(sin)), 0);
	assert_int_equal(listen(s->fd, 4), 0);
	assert_int_equal(getsockname(s->fd, (struct sockaddr *)&sin, &sl), 0);
	s->port = ntohs(sin.sin_port);
	assert_int_equal(pthread_create(&s->thread, NULL, raw_serve, s), 0);
}

static void
raw_stop(struct raw_server *s)
{
	pthread_join(s->thread, NULL);
	close(s->fd);
}

static void
test_no_redirect(void **state)
{
	static const char answer[] = "HTTP/1.1 301 Moved Permanently\r\n"
	    "Location: /elsewhere\r\nContent-Length: 5\r\nConnection: close\r\n\r\nmoved";
	struct fixture *f = *state;
	struct raw_server s;
	il_curlm *m = driver(5000, 4096);
	struct outcome o;
	char url[128];

	raw_start(&s, answer, sizeof(answer) - 1);
	snprintf(url, sizeof(url), "http://127.0.0.1:%d/write", s.port);
	call(m, "POST", url, NULL, 0, "{}", 2, &o);
	raw_stop(&s);
	assert_int_equal(o.err, IL_OK);
	assert_int_equal(o.status, 301);
	assert_string_equal(o.body, "moved");
	assert_true(strncmp(s.request, "POST /write ", 12) == 0);
	/* And through il_http. */
	snprintf(url, sizeof(url), "%s/moved", f->base);
	call(m, "POST", url, NULL, 0, "{}", 2, &o);
	assert_int_equal(o.status, 301);
	il_curlm_destroy(m);
}

static void
test_too_big_without_length(void **state)
{
	struct raw_server s;
	il_curlm *m = driver(5000, 1000);
	char *answer = malloc(BIG_LEN);
	struct outcome o;
	char url[128];
	int hl;

	(void)state;
	assert_non_null(answer);
	/* No Content-Length: only the write callback can stop it. */
	hl = snprintf(answer, BIG_LEN, "HTTP/1.1 200 OK\r\nConnection: close\r\n\r\n");
	memset(answer + hl, 'z', BIG_LEN - (size_t)hl);
	raw_start(&s, answer, BIG_LEN);
	snprintf(url, sizeof(url), "http://127.0.0.1:%d/big", s.port);
	call(m, "GET", url, NULL, 0, NULL, 0, &o);
	raw_stop(&s);
	assert_int_equal(o.err, IL_ERR_TOOBIG);
	assert_string_equal(o.body, "");
	free(answer);
	il_curlm_destroy(m);
}

struct cancel_ctx {
	il_curlm *m;            /* the driver being destroyed */
	int cancelled;          /* callbacks with IL_ERR_CANCELLED */
	int other;              /* callbacks with anything else */
	il_err resubmit;        /* what a submit from the callback returned */
};

static void
on_cancel(const il_curlm_result *r, void *ctx)
{
	struct cancel_ctx *c = ctx;

	if (r->err == IL_ERR_CANCELLED) {
		c->cancelled++;
		assert_int_equal(r->status, 0);
		assert_string_equal(r->body, "");
		assert_true(r->errstr[0] != '\0');
	} else {
		c->other++;
	}
	c->resubmit = il_curlm_submit(c->m, "GET", "http://127.0.0.1:1/", NULL, 0, NULL, 0,
	    on_cancel, ctx);
}

static void
test_destroy_cancels(void **state)
{
	struct fixture *f = *state;
	struct cancel_ctx c;
	char url[128];
	int i;

	memset(&c, 0, sizeof(c));
	c.m = driver(10000, 4096);
	snprintf(url, sizeof(url), "%s/slow", f->base);
	for (i = 0; i < 5; i++)
		assert_int_equal(il_curlm_submit(c.m, "GET", url, NULL, 0, NULL, 0, on_cancel, &c),
		    IL_OK);
	for (i = 0; i < 3; i++)
		assert_int_equal(il_curlm_run(c.m, 20), 0);
	assert_int_equal(il_curlm_in_flight(c.m), 5);
	il_curlm_destroy(c.m);
	assert_int_equal(c.cancelled, 5);
	assert_int_equal(c.other, 0);
	assert_int_equal(c.resubmit, IL_ERR_CANCELLED);
}

struct chain {
	il_curlm *m;            /* the driver */
	const char *url;        /* what each link calls */
	int done;               /* links finished */
	int ok;                 /* of them with status 200 */
};

static void
on_link(const il_curlm_result *r, void *ctx)
{
	struct chain *ch = ctx;

	ch->done++;
	ch->ok += r->err == IL_OK && r->status == 200;
	if (ch->done < 5)
		assert_int_equal(il_curlm_submit(ch->m, "GET", ch->url, NULL, 0, NULL, 0,
		    on_link, ch), IL_OK);
}

static void
test_callback_submits(void **state)
{
	struct fixture *f = *state;
	struct chain ch;
	char url[128];

	snprintf(url, sizeof(url), "%s/hello", f->base);
	memset(&ch, 0, sizeof(ch));
	ch.m = driver(5000, 4096);
	ch.url = url;
	assert_int_equal(il_curlm_submit(ch.m, "GET", url, NULL, 0, NULL, 0, on_link, &ch), IL_OK);
	drain(ch.m);
	assert_int_equal(ch.done, 5);
	assert_int_equal(ch.ok, 5);
	il_curlm_destroy(ch.m);
}

static void
test_bad_url(void **state)
{
	il_curlm *m = driver(5000, 4096);
	struct outcome o;

	(void)state;
	memset(&o, 0, sizeof(o));
	assert_int_equal(il_curlm_submit(m, "GET", "ftp://127.0.0.1/x", NULL, 0, NULL, 0,
	    record, &o), IL_ERR_INVALID);
	assert_int_equal(il_curlm_submit(m, "GET", "http://[::1/x", NULL, 0, NULL, 0,
	    record, &o), IL_ERR_INVALID);
	assert_int_equal(il_curlm_submit(m, "GET", "not a url", NULL, 0, NULL, 0,
	    record, &o), IL_ERR_INVALID);
	assert_int_equal(il_curlm_in_flight(m), 0);
	assert_int_equal(il_curlm_run(m, 0), 0);
	assert_int_equal(o.calls, 0);
	il_curlm_destroy(m);
}

/* Many calls one after another reuse one pooled handle; each call's headers
 * and method are its own, whether the last call's were the same or not. */
static void
test_sequential_on_one_handle(void **state)
{
	struct fixture *f = *state;
	il_curlm *m = driver(5000, 4096);
	const char *h1[] = { "X-Test: one", "Content-Type: application/json" };
	const char *h2[] = { "X-Test: two" };
	char url[128], expect[256], body[32];
	struct outcome o;
	int i;

	snprintf(url, sizeof(url), "%s/echo", f->base);
	for (i = 0; i < 300; i++) {
		snprintf(body, sizeof(body), "{\"i\":%d}", i);
		switch (i % 5) {
		case 0:
		case 1:
			call(m, "POST", url, h1, 2, body, strlen(body), &o);
			snprintf(expect, sizeof(expect),
			    "POST x=one ct=application/json expect=- len=%zu body=%s",
			    strlen(body), body);
			break;
		case 2:
			call(m, "PUT", url, h2, 1, body, strlen(body), &o);
			/* No Content-Type given: libcurl's default for a body. */
			snprintf(expect, sizeof(expect),
			    "PUT x=two ct=application/x-www-form-urlencoded expect=- len=%zu body=%s",
			    strlen(body), body);
			break;
		case 3:
			call(m, "GET", url, NULL, 0, NULL, 0, &o);
			snprintf(expect, sizeof(expect), "GET x=- ct=- expect=- len=0 body=");
			break;
		default:
			call(m, "DELETE", url, h2, 1, NULL, 0, &o);
			snprintf(expect, sizeof(expect), "DELETE x=two ct=- expect=- len=0 body=");
			break;
		}
		assert_int_equal(o.err, IL_OK);
		assert_int_equal(o.status, 200);
		assert_string_equal(o.body, expect);
		assert_int_equal(il_curlm_in_flight(m), 0);
	}
	il_curlm_destroy(m);
}

/* Runs @p m with long waits until nothing is in flight; @returns the turns. */
static int
drain_long(il_curlm *m)
{
	int i;

	for (i = 0; i < 20 && il_curlm_in_flight(m) > 0; i++)
		il_curlm_run(m, 1000);
	assert_int_equal(il_curlm_in_flight(m), 0);
	return i;
}

/* A lone call whose answer comes late, and one that only libcurl's timer can
 * end (no answer at all), both finish while il_curlm_run() waits long. */
static void
test_lone_call_long_waits(void **state)
{
	struct fixture *f = *state;
	il_curlm *m = driver(5000, 4096);
	struct outcome o;
	char url[128];

	snprintf(url, sizeof(url), "%s/sleep", f->base);
	memset(&o, 0, sizeof(o));
	assert_int_equal(il_curlm_submit(m, "GET", url, NULL, 0, NULL, 0, record, &o), IL_OK);
	drain_long(m);
	assert_int_equal(o.calls, 1);
	assert_int_equal(o.err, IL_OK);
	assert_string_equal(o.body, "slept");
	il_curlm_destroy(m);

	m = driver(300, 4096);
	snprintf(url, sizeof(url), "%s/slow", f->base);
	memset(&o, 0, sizeof(o));
	assert_int_equal(il_curlm_submit(m, "GET", url, NULL, 0, NULL, 0, record, &o), IL_OK);
	drain_long(m);
	assert_int_equal(o.calls, 1);
	assert_int_equal(o.err, IL_ERR_TIMEOUT);
	il_curlm_destroy(m);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_get_and_status),
		cmocka_unit_test(test_methods_bodies_headers),
		cmocka_unit_test(test_many_in_flight),
		cmocka_unit_test(test_timeout),
		cmocka_unit_test(test_refused),
		cmocka_unit_test(test_too_big),
		cmocka_unit_test(test_too_big_without_length),
		cmocka_unit_test(test_no_redirect),
		cmocka_unit_test(test_destroy_cancels),
		cmocka_unit_test(test_callback_submits),
		cmocka_unit_test(test_bad_url),
		cmocka_unit_test(test_sequential_on_one_handle),
		cmocka_unit_test(test_lone_call_long_waits),
	};

	return cmocka_run_group_tests(tests, setup, teardown);
}
