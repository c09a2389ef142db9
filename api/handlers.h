/*
 * handlers — jobq-api's routes, and the handlers that read.
 *
 * handlers_routes is the table the server routes every request through
 * (router.h):
 *
 *     POST /v1/jobs               submit a CSV (submit.h)
 *     GET  /v1/jobs/{id}          the job as JSON
 *     GET  /v1/jobs/{id}/result   the result of a succeeded job, streamed
 *     DELETE /v1/jobs/{id}        cancel the job (job_store_cancel)
 *     POST /v1/jobs/{id}/retry    run a failed job again
 *     GET  /v1/dead               dead letters, newest first
 *     GET  /v1/queues             queue counts and live workers
 *     GET  /healthz               the process is up
 *     GET  /readyz                the process can reach Redis
 *     GET  /metrics               Prometheus metrics (scrape.h)
 *
 * Each route's flags (router.h) say whether it needs a key, an operator's
 * key, which rate-limit class it takes, and whether it needs Redis.
 *
 * The reading handlers answer once the request is complete (see
 * handlers_wait: that keeps the connection alive). A result is streamed
 * from Redis in blocks of HANDLERS_RESULT_BLOCK bytes, each read by the
 * connection's own thread with that thread's store when libmicrohttpd
 * wants more to send; its size is known up front (Content-Length), so a
 * result that vanishes half-way (expired) ends the connection early and
 * the client sees a short body, never a wrong one.
 */
#ifndef JOBQ_API_HANDLERS_H
#define JOBQ_API_HANDLERS_H

#include <stdbool.h>
#include <stddef.h>

#include "router.h"

#define HANDLERS_RESULT_BLOCK (256 * 1024)

extern const struct route handlers_routes[];
extern const size_t handlers_routes_len;

struct api_request;

/* handlers_wait reports whether a handler that takes no body must wait:
 * it answers only once the whole request is in (libmicrohttpd 0.9.75
 * closes the connection after a reply queued on the first call). A body is
 * dropped. Returns 1 to wait (MHD_YES), 0 to answer now, -1 to close the
 * connection (the body is too large). */
int handlers_wait(struct api_request *req, size_t *upload_data_size);

#endif
