/*
 * curlm.h - many HTTP calls at once on one thread, with libcurl's multi
 * interface.
 *
 * The enrollment worker keeps hundreds of openIMIS calls in flight from its
 * single polling thread: il_curlm_submit() starts a call, il_curlm_run()
 * waits for network activity (at most a given time) and runs the completion
 * callback of every call that finished.  Connections are reused (keep-alive);
 * redirects are never followed (a redirected write must not turn into a GET);
 * bodies are bounded.  Not thread-safe: one il_curlm per thread.
 */
#ifndef IL_CURLM_H
#define IL_CURLM_H

#include <stddef.h>

#include "err.h"

typedef struct il_curlm il_curlm;

typedef struct il_curlm_opts {
	long timeout_ms;         /* whole call, connect included */
	long connect_timeout_ms;
	size_t max_body;         /* answers longer than this fail as IL_ERR_TOOBIG */
	long max_host_connections; /* connections kept per host; 0: no limit */
} il_curlm_opts;

/** How a call ended; everything borrowed for the callback's duration. */
typedef struct il_curlm_result {
	il_err err;              /* IL_OK when an HTTP answer came (any status); IL_ERR_TIMEOUT;
	                          * IL_ERR_IO (connection refused, reset...); IL_ERR_TOOBIG; IL_ERR_CANCELLED */
	const char *errstr;      /* libcurl's reason when err != IL_OK, "" otherwise */
	long status;             /* HTTP status, 0 without an answer */
	const char *body;        /* NUL-terminated answer body, "" when none */
	size_t body_len;
	double seconds;          /* duration of the call */
} il_curlm_result;

/** Runs inside il_curlm_run() (or il_curlm_destroy(), with IL_ERR_CANCELLED). */
typedef void (il_curlm_done_cb)(const il_curlm_result *r, void *ctx);

/** @returns a driver; free with il_curlm_destroy(). */
il_curlm *il_curlm_new(const il_curlm_opts *opts);
/**
 * Cancels every unfinished call (each callback runs with IL_ERR_CANCELLED)
 * and frees @p m; NULL is a no-op.
 */
void il_curlm_destroy(il_curlm *m);
/**
 * @brief Starts a call.  @p url, @p headers ("Name: value", @p nheaders of
 * them) and @p body (@p len bytes, NULL for none) are copied.  A body is
 * sent as given; the caller sets Content-Type.
 * @returns IL_OK (the callback runs exactly once later), IL_ERR_INVALID when
 * libcurl refuses the request (bad URL).
 */
il_err il_curlm_submit(il_curlm *m, const char *method, const char *url,
    const char *const *headers, size_t nheaders, const char *body, size_t len,
    il_curlm_done_cb *cb, void *ctx);
/**
 * @brief Waits for activity for at most @p timeout_ms (0: do not wait), then
 * runs the callbacks of the finished calls.
 * @returns the number of calls that finished.
 */
int il_curlm_run(il_curlm *m, int timeout_ms);
/** @returns the number of calls started and not finished. */
int il_curlm_in_flight(const il_curlm *m);

#endif
