/*
 * curlm.c - many HTTP calls at once on one thread, with libcurl's multi
 * interface.
 *
 * Each call owns an easy handle, a parsed URL, its request headers and body
 * and the answer's bounded buffer.  Finished calls are kept on a free list and
 * reused: an easy handle keeps its buffers between transfers and the parsed
 * URL handle is refilled in place, so a steady load allocates little.  The
 * connections themselves live in the multi handle's cache and are shared by
 * all calls (keep-alive).
 *
 * A finished call is taken out of the multi handle and off the in-flight list
 * before its callback runs, so the callback may submit new calls (a retry, the
 * next item of a key) without disturbing the loop that reaps the others.
 *
 * The loop is libcurl's event-driven one: libcurl tells us which sockets to
 * watch (socket callback) and when it next needs a turn (timer callback), one
 * epoll instance watches the sockets, and curl_multi_socket_action() is
 * called only for the sockets that are ready or when the timer expired.
 * curl_multi_perform() and curl_multi_poll() would walk every transfer and
 * poll every socket on each turn, which at hundreds of calls in flight costs
 * more than the calls themselves.
 *
 * A handle keeps its options between calls (no curl_easy_reset()): the
 * options common to all calls are set once, and each call sets the method,
 * body and headers anew, reusing the last header list when it is the same.
 */
#include "curlm.h"

#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <time.h>

#include <errno.h>
#include <sys/epoll.h>
#include <unistd.h>

#include <curl/curl.h>

#include "buf.h"
#include "log.h"
#include "timers.h"
#include "xalloc.h"

/* Answers up to this size keep their buffer when the call is reused. */
#define IL_CURLM_KEEP_BUF (64u << 10)
/* At most this many finished calls wait on the free list. */
#define IL_CURLM_MAX_SPARE 1024
/* max_body 0 in the options: this bound instead of none at all. */
#define IL_CURLM_DEFAULT_MAX_BODY (16u << 20)
/* TCP keep-alive: first probe after this many idle seconds, then every ... */
#define IL_CURLM_KEEPIDLE 30L
#define IL_CURLM_KEEPINTVL 15L
/* Ready sockets taken from epoll per wait; more wait for the next turn. */
#define IL_CURLM_MAX_EVENTS 256

typedef struct il_curlm_call {
	struct il_curlm_call *prev;     /* in-flight list */
	struct il_curlm_call *next;     /* in-flight list, or the next spare */
	CURL *easy;                     /* the transfer */
	CURLU *url;                     /* parsed URL the transfer uses */
	struct curl_slist *headers;     /* request headers, "Expect:" last */
	char *body;                     /* copy of the request body */
	size_t body_cap;                /* bytes allocated for body */
	il_buf resp;                    /* answer body, bounded by max_body */
	bool toobig;                    /* the answer passed max_body */
	CURLcode code;                  /* how the transfer ended */
	struct timespec start;          /* when it was submitted */
	il_curlm_done_cb *cb;           /* the caller's callback */
	void *ctx;                      /* and its context */
	char errbuf[CURL_ERROR_SIZE];   /* libcurl's detail, or ours */
} il_curlm_call;

struct il_curlm {
	CURLM *multi;                   /* the multi handle: connections, polling */
	int epfd;                       /* epoll instance watching libcurl's sockets */
	long long timer_due;            /* monotonic ms of libcurl's next turn, -1: none */
	il_curlm_opts opts;             /* copy of the options */
	il_curlm_call *in_flight;       /* calls submitted and not finished */
	int n_in_flight;                /* their number */
	il_curlm_call *spare;           /* finished calls kept for reuse */
	int n_spare;                    /* their number */
	bool closing;                   /* il_curlm_destroy() is cancelling */
	struct epoll_event events[IL_CURLM_MAX_EVENTS]; /* epoll_wait()'s answer */
};

/* libcurl's CURLMOPT_TIMERFUNCTION: remembers when it wants its next turn. */
static int
on_timer(CURLM *multi, long timeout_ms, void *userp)
{
	il_curlm *m = userp;

	(void)multi;
	/* No socket_action() from here (libcurl forbids it): il_curlm_run()
	 * and il_curlm_submit() honour the deadline. */
	m->timer_due = timeout_ms < 0 ? -1 : il_timers_now_ms() + timeout_ms;
	return 0;
}

/* libcurl's CURLMOPT_SOCKETFUNCTION: mirrors what it wants watched in epoll. */
static int
on_socket(CURL *easy, curl_socket_t s, int what, void *userp, void *socketp)
{
	il_curlm *m = userp;
	struct epoll_event ev;
	int op;

	(void)easy;
	if (what == CURL_POLL_REMOVE) {
		/* The socket may already be closed, which removed it: no error. */
		epoll_ctl(m->epfd, EPOLL_CTL_DEL, s, NULL);
		return 0;
	}
	memset(&ev, 0, sizeof(ev));
	ev.events = (what & CURL_POLL_IN ? EPOLLIN : 0u) | (what & CURL_POLL_OUT ? EPOLLOUT : 0u);
	ev.data.fd = s;
	/* socketp marks a socket already in the epoll set. */
	op = socketp != NULL ? EPOLL_CTL_MOD : EPOLL_CTL_ADD;
	if (epoll_ctl(m->epfd, op, s, &ev) != 0) {
		/* Out of step with epoll (a closed and reopened descriptor):
		 * the other operation puts it right. */
		op = op == EPOLL_CTL_ADD ? EPOLL_CTL_MOD : EPOLL_CTL_ADD;
		if (epoll_ctl(m->epfd, op, s, &ev) != 0) {
			il_log_error("could not watch a socket", IL_STR("error", strerror(errno)));
			return -1;
		}
	}
	if (socketp == NULL)
		curl_multi_assign(m->multi, s, m);
	return 0;
}

il_curlm *
il_curlm_new(const il_curlm_opts *opts)
{
	il_curlm *m = il_xcalloc(1, sizeof(*m));
	CURLcode rc;

	m->opts = *opts;
	m->timer_due = -1;
	if (m->opts.max_body == 0)
		m->opts.max_body = IL_CURLM_DEFAULT_MAX_BODY;
	/* Reference-counted and thread-safe in libcurl >= 7.84: pairs with
	 * the cleanup in il_curlm_destroy(). */
	rc = curl_global_init(CURL_GLOBAL_DEFAULT);
	if (rc != CURLE_OK) {
		il_log_error("could not initialise libcurl", IL_STR("error", curl_easy_strerror(rc)));
		abort();
	}
	m->multi = curl_multi_init();
	if (m->multi == NULL) {
		il_log_error("could not make a libcurl multi handle");
		abort();
	}
	m->epfd = epoll_create1(EPOLL_CLOEXEC);
	if (m->epfd < 0) {
		il_log_error("could not make an epoll instance", IL_STR("error", strerror(errno)));
		abort();
	}
	curl_multi_setopt(m->multi, CURLMOPT_SOCKETFUNCTION, on_socket);
	curl_multi_setopt(m->multi, CURLMOPT_SOCKETDATA, m);
	curl_multi_setopt(m->multi, CURLMOPT_TIMERFUNCTION, on_timer);
	curl_multi_setopt(m->multi, CURLMOPT_TIMERDATA, m);
	if (m->opts.max_host_connections > 0)
		curl_multi_setopt(m->multi, CURLMOPT_MAX_HOST_CONNECTIONS,
		    m->opts.max_host_connections);
	return m;
}

static size_t call_write(char *data, size_t size, size_t nmemb, void *ctx);

/* The options every call of @p m shares, set once per handle. */
static bool
call_set_common(il_curlm *m, il_curlm_call *c)
{
	CURLcode rc = CURLE_OK;

	rc |= curl_easy_setopt(c->easy, CURLOPT_CURLU, c->url);
	rc |= curl_easy_setopt(c->easy, CURLOPT_PRIVATE, c);
	rc |= curl_easy_setopt(c->easy, CURLOPT_WRITEFUNCTION, call_write);
	rc |= curl_easy_setopt(c->easy, CURLOPT_WRITEDATA, c);
	rc |= curl_easy_setopt(c->easy, CURLOPT_ERRORBUFFER, c->errbuf);
	/* no signals: a timeout must not interrupt another thread's work */
	rc |= curl_easy_setopt(c->easy, CURLOPT_NOSIGNAL, 1L);
	rc |= curl_easy_setopt(c->easy, CURLOPT_TIMEOUT_MS, m->opts.timeout_ms);
	rc |= curl_easy_setopt(c->easy, CURLOPT_CONNECTTIMEOUT_MS, m->opts.connect_timeout_ms);
	/* A redirected write must not turn into a GET somewhere else. */
	rc |= curl_easy_setopt(c->easy, CURLOPT_FOLLOWLOCATION, 0L);
	rc |= curl_easy_setopt(c->easy, CURLOPT_PROTOCOLS_STR, "http,https");
	rc |= curl_easy_setopt(c->easy, CURLOPT_TCP_KEEPALIVE, 1L);
	rc |= curl_easy_setopt(c->easy, CURLOPT_TCP_KEEPIDLE, IL_CURLM_KEEPIDLE);
	rc |= curl_easy_setopt(c->easy, CURLOPT_TCP_KEEPINTVL, IL_CURLM_KEEPINTVL);
	/* Refuses an announced Content-Length over the bound before reading. */
	rc |= curl_easy_setopt(c->easy, CURLOPT_MAXFILESIZE_LARGE,
	    (curl_off_t)m->opts.max_body);
	return rc == CURLE_OK;
}

static void
call_free(il_curlm_call *c)
{
	curl_easy_cleanup(c->easy);
	curl_url_cleanup(c->url);
	curl_slist_free_all(c->headers);
	il_buf_free(&c->resp);
	free(c->body);
	free(c);
}

static il_curlm_call *
call_get(il_curlm *m)
{
	il_curlm_call *c = m->spare;

	if (c != NULL) {
		m->spare = c->next;
		m->n_spare--;
		return c;
	}
	c = il_xcalloc(1, sizeof(*c));
	il_buf_init(&c->resp, m->opts.max_body);
	c->easy = curl_easy_init();
	c->url = curl_url();
	if (c->easy == NULL || c->url == NULL || !call_set_common(m, c)) {
		il_log_error("could not make a libcurl handle");
		abort();
	}
	return c;
}

/* Returns a call that is in no list and not in the multi handle. */
static void
call_put(il_curlm *m, il_curlm_call *c)
{
	c->cb = NULL;
	c->ctx = NULL;
	if (m->n_spare >= IL_CURLM_MAX_SPARE) {
		call_free(c);
		return;
	}
	if (c->resp.cap > IL_CURLM_KEEP_BUF)
		il_buf_free(&c->resp);
	else
		il_buf_reset(&c->resp);
	/* The handle keeps its options and header list: the next call sets
	 * what differs (method, body, headers). */
	c->prev = NULL;
	c->next = m->spare;
	m->spare = c;
	m->n_spare++;
}

static void
call_link(il_curlm *m, il_curlm_call *c)
{
	c->prev = NULL;
	c->next = m->in_flight;
	if (m->in_flight != NULL)
		m->in_flight->prev = c;
	m->in_flight = c;
	m->n_in_flight++;
}

static void
call_unlink(il_curlm *m, il_curlm_call *c)
{
	if (c->prev != NULL)
		c->prev->next = c->next;
	else
		m->in_flight = c->next;
	if (c->next != NULL)
		c->next->prev = c->prev;
	c->prev = NULL;
	c->next = NULL;
	m->n_in_flight--;
}

static size_t
call_write(char *data, size_t size, size_t nmemb, void *ctx)
{
	il_curlm_call *c = ctx;
	size_t n = size * nmemb;

	if (il_buf_add(&c->resp, data, n) != IL_OK) {
		/* Not a whole answer: abort the transfer rather than buffer more. */
		c->toobig = true;
		return 0;
	}
	return n;
}

static bool
call_set_body(il_curlm_call *c, const char *body, size_t len)
{
	CURLcode rc = CURLE_OK;

	if (len > 0) {
		if (len > c->body_cap) {
			free(c->body);
			c->body = il_xmalloc(len);
			c->body_cap = len;
		}
		memcpy(c->body, body, len);
	}
	/* POSTFIELDS is not copied by libcurl: it points at the call's copy. */
	rc |= curl_easy_setopt(c->easy, CURLOPT_POSTFIELDSIZE_LARGE, (curl_off_t)len);
	rc |= curl_easy_setopt(c->easy, CURLOPT_POSTFIELDS, len > 0 ? c->body : "");
	return rc == CURLE_OK;
}

static bool
call_set_method(il_curlm_call *c, const char *method, const char *body, size_t len)
{
	/* Forgets the last call's verb and body: a plain GET unless told. */
	if (curl_easy_setopt(c->easy, CURLOPT_CUSTOMREQUEST, (char *)NULL) != CURLE_OK ||
	    curl_easy_setopt(c->easy, CURLOPT_HTTPGET, 1L) != CURLE_OK)
		return false;
	if (strcmp(method, "GET") == 0 && body == NULL)
		return curl_easy_setopt(c->easy, CURLOPT_HTTPGET, 1L) == CURLE_OK;
	if (strcmp(method, "HEAD") == 0 && body == NULL)
		return curl_easy_setopt(c->easy, CURLOPT_NOBODY, 1L) == CURLE_OK;
	if (strcmp(method, "POST") == 0)
		return call_set_body(c, body != NULL ? body : "", body != NULL ? len : 0);
	/* PUT, PATCH, DELETE...: the verb as given, the body sent like a POST's. */
	if (curl_easy_setopt(c->easy, CURLOPT_CUSTOMREQUEST, method) != CURLE_OK)
		return false;
	return body == NULL || call_set_body(c, body, len);
}

/* Whether the handle's header list is @p headers followed by "Expect:". */
static bool
headers_same(const struct curl_slist *l, const char *const *headers, size_t nheaders)
{
	size_t i;

	for (i = 0; i < nheaders; i++, l = l->next)
		if (l == NULL || strcmp(l->data, headers[i]) != 0)
			return false;
	return l != NULL && l->next == NULL && strcmp(l->data, "Expect:") == 0;
}

static bool
call_set_headers(il_curlm_call *c, const char *const *headers, size_t nheaders)
{
	struct curl_slist *l;
	size_t i;

	/* Most calls repeat the headers of the handle's last call: no copies. */
	if (c->headers != NULL && headers_same(c->headers, headers, nheaders))
		return true;
	/* The handle must never point at a freed list. */
	curl_easy_setopt(c->easy, CURLOPT_HTTPHEADER, (struct curl_slist *)NULL);
	curl_slist_free_all(c->headers);
	c->headers = NULL;
	for (i = 0; i < nheaders; i++) {
		l = curl_slist_append(c->headers, headers[i]);
		if (l == NULL)
			goto fail;
		c->headers = l;
	}
	/* No "Expect: 100-continue": libcurl would wait up to 1 s for a
	 * server that never answers it before sending a larger body. */
	l = curl_slist_append(c->headers, "Expect:");
	if (l == NULL)
		goto fail;
	c->headers = l;
	if (curl_easy_setopt(c->easy, CURLOPT_HTTPHEADER, c->headers) != CURLE_OK)
		goto fail;
	return true;
fail:
	curl_slist_free_all(c->headers);
	c->headers = NULL;
	return false;
}

static bool
url_is_http(const char *url)
{
	return strncasecmp(url, "http://", 7) == 0 || strncasecmp(url, "https://", 8) == 0;
}

il_err
il_curlm_submit(il_curlm *m, const char *method, const char *url,
    const char *const *headers, size_t nheaders, const char *body, size_t len,
    il_curlm_done_cb *cb, void *ctx)
{
	il_curlm_call *c;
	il_err err = IL_ERR_INVALID;

	if (m->closing)
		return IL_ERR_CANCELLED;
	if (url == NULL || !url_is_http(url) || method == NULL || method[0] == '\0')
		return IL_ERR_INVALID;
	c = call_get(m);
	c->errbuf[0] = '\0';
	c->toobig = false;
	if (curl_url_set(c->url, CURLUPART_URL, url, 0) != CURLUE_OK ||
	    !call_set_method(c, method, body, len))
		goto fail;
	if (!call_set_headers(c, headers, nheaders)) {
		err = IL_ERR_NOMEM;
		goto fail;
	}
	c->cb = cb;
	c->ctx = ctx;
	clock_gettime(CLOCK_MONOTONIC, &c->start);
	if (curl_multi_add_handle(m->multi, c->easy) != CURLM_OK)
		goto fail;
	call_link(m, c);
	return IL_OK;
fail:
	call_put(m, c);
	return err;
}

static double
seconds_since(const struct timespec *start)
{
	struct timespec now;

	clock_gettime(CLOCK_MONOTONIC, &now);
	return (double)(now.tv_sec - start->tv_sec) +
	    (double)(now.tv_nsec - start->tv_nsec) / 1e9;
}

/* Fills @p r from a finished transfer; the strings stay the call's. */
static void
call_result(il_curlm *m, il_curlm_call *c, CURLcode code, il_curlm_result *r)
{
	curl_off_t us = 0;
	long status = 0;

	curl_easy_getinfo(c->easy, CURLINFO_RESPONSE_CODE, &status);
	if (curl_easy_getinfo(c->easy, CURLINFO_TOTAL_TIME_T, &us) == CURLE_OK)
		r->seconds = (double)us / 1e6;
	else
		r->seconds = seconds_since(&c->start);
	r->status = status;
	r->body = "";
	r->body_len = 0;
	r->errstr = "";
	if (code == CURLE_OK) {
		r->err = IL_OK;
		r->body = c->resp.data != NULL ? c->resp.data : "";
		r->body_len = c->resp.len;
		return;
	}
	if (c->toobig || code == CURLE_FILESIZE_EXCEEDED) {
		r->err = IL_ERR_TOOBIG;
		snprintf(c->errbuf, sizeof(c->errbuf), "answer larger than %zu bytes",
		    m->opts.max_body);
	} else if (code == CURLE_OPERATION_TIMEDOUT) {
		r->err = IL_ERR_TIMEOUT;
	} else {
		r->err = IL_ERR_IO;
	}
	r->errstr = c->errbuf[0] != '\0' ? c->errbuf : curl_easy_strerror(code);
}

/* Moves every finished transfer out of the multi handle to the end of @p tail. */
static il_curlm_call **
reap(il_curlm *m, il_curlm_call **tail)
{
	il_curlm_call *c;
	CURLMsg *msg;
	char *priv;
	int left;

	while ((msg = curl_multi_info_read(m->multi, &left)) != NULL) {
		if (msg->msg != CURLMSG_DONE)
			continue;
		priv = NULL;
		curl_easy_getinfo(msg->easy_handle, CURLINFO_PRIVATE, &priv);
		if (priv == NULL)
			continue;
		c = (il_curlm_call *)(void *)priv;
		/* msg is invalid once the handle leaves: keep the code first. */
		c->code = msg->data.result;
		curl_multi_remove_handle(m->multi, c->easy);
		call_unlink(m, c);
		*tail = c;
		tail = &c->next;
	}
	return tail;
}

/* Gives libcurl the turn it asked for when its timer is due. */
static void
fire_timer(il_curlm *m)
{
	int running;

	if (m->timer_due < 0 || m->timer_due > il_timers_now_ms())
		return;
	/* The timer callback sets the next deadline, if any, from inside. */
	m->timer_due = -1;
	curl_multi_socket_action(m->multi, CURL_SOCKET_TIMEOUT, 0, &running);
}

/* Waits up to @p wait ms and hands libcurl the ready sockets and due timer. */
static void
wait_and_act(il_curlm *m, int wait)
{
	long long now = il_timers_now_ms();
	uint32_t ev;
	int i, n, bits, running;

	if (m->timer_due >= 0 && m->timer_due - now < wait)
		wait = m->timer_due <= now ? 0 : (int)(m->timer_due - now);
	n = epoll_wait(m->epfd, m->events, IL_CURLM_MAX_EVENTS, wait);
	/* EINTR: a signal for the caller's loop; nothing ready, timer below. */
	for (i = 0; i < n; i++) {
		ev = m->events[i].events;
		bits = (ev & EPOLLIN ? CURL_CSELECT_IN : 0) |
		    (ev & EPOLLOUT ? CURL_CSELECT_OUT : 0) |
		    (ev & (EPOLLERR | EPOLLHUP) ? CURL_CSELECT_ERR : 0);
		curl_multi_socket_action(m->multi, m->events[i].data.fd, bits, &running);
	}
	fire_timer(m);
}

int
il_curlm_run(il_curlm *m, int timeout_ms)
{
	il_curlm_call *done = NULL, **tail = &done, *c;
	il_curlm_result r;
	int n = 0;

	/* Starts what was submitted since the last run (libcurl asked for a
	 * turn at once) and picks up what finished in it. */
	fire_timer(m);
	tail = reap(m, tail);
	wait_and_act(m, done == NULL && timeout_ms > 0 ? timeout_ms : 0);
	tail = reap(m, tail);
	*tail = NULL;
	/* Callbacks last: a callback may submit, the finished list is ours. */
	while (done != NULL) {
		c = done;
		done = c->next;
		c->next = NULL;
		call_result(m, c, c->code, &r);
		if (c->cb != NULL)
			c->cb(&r, c->ctx);
		call_put(m, c);
		n++;
	}
	/* Sends what the callbacks submitted now rather than on the next run. */
	fire_timer(m);
	return n;
}

int
il_curlm_in_flight(const il_curlm *m)
{
	return m->n_in_flight;
}

void
il_curlm_destroy(il_curlm *m)
{
	il_curlm_result r;
	il_curlm_call *c;

	if (m == NULL)
		return;
	/* Submissions from the callbacks below are refused: nothing would run them. */
	m->closing = true;
	while ((c = m->in_flight) != NULL) {
		curl_multi_remove_handle(m->multi, c->easy);
		call_unlink(m, c);
		memset(&r, 0, sizeof(r));
		r.err = IL_ERR_CANCELLED;
		r.errstr = "call cancelled";
		r.body = "";
		r.seconds = seconds_since(&c->start);
		if (c->cb != NULL)
			c->cb(&r, c->ctx);
		call_free(c);
	}
	while ((c = m->spare) != NULL) {
		m->spare = c->next;
		call_free(c);
	}
	/* The cleanup still tells on_socket() about the cached connections. */
	curl_multi_cleanup(m->multi);
	close(m->epfd);
	curl_global_cleanup();
	free(m);
}
