/*
 * submit — POST /v1/jobs: a CSV upload in, 202 Accepted with the job out.
 *
 * The body is the CSV itself (Content-Type text/csv, charset utf-8 or
 * none) or a multipart/form-data form whose part `file` holds it. The
 * options (task, queue, delimiter, header) come as query parameters or, in
 * a form, as fields placed before the file part. The CSV goes through an
 * upload (upload.h); the job is enqueued before the reply is queued, so a
 * client that hangs up after sending its whole upload still gets its job.
 *
 * When a submission can be refused. libmicrohttpd 0.9.75 accepts a reply
 * on the access handler's first call (before the body) or after the body
 * has ended, never in between: MHD_queue_response fails while upload data
 * is being handed over. So:
 *   - What the headers and the query decide (415, 400 for options or the
 *     Idempotency-Key, 413 by Content-Length) is answered on the first call. libmicrohttpd then
 *     sends no "100 Continue" (curl waits for it before a body over 1 MiB),
 *     reads no body, and closes the connection after the reply.
 *   - What the body decides (a CSV problem, a bad form, 413 for a body
 *     without Content-Length, Redis down) is a rejection: the upload is
 *     aborted at once (staging pieces discarded, nothing stored) and the rest
 *     of the body is read and dropped. The reply goes out when the body
 *     ends. A client that sends more than --max-upload bytes after the
 *     rejection is cut off: the connection is closed without a reply.
 *
 * Idempotency-Key (idem.h): a submission carrying one is streamed and
 * checked like any other; its enqueue either makes the job and records the
 * key, or finds the key's job and answers 200 with it (a replay, nothing
 * stored) or 422 idempotency_mismatch.
 *
 * Enqueueing. At the end of the body the job's enqueue command is built
 * here and handed to the committer (committer.h), which suspends the
 * connection and sends it with other submissions' in one enqueue.lua call;
 * the handler is called once more after the connection is resumed, and
 * answers from the entry's status (a replay or mismatch of an
 * Idempotency-Key too); a client found gone by then
 * (api_server_client_gone) is logged 499. Only when the committer is
 * stopping, or when the key already named a job as the upload started
 * (nothing to enqueue: the key's record is read again), is the commit
 * decided on the submission's own thread, waiting for Redis.
 *
 * State (struct submit, the request's ctx): created on the first call,
 * freed at completion; a submission that did not commit its upload aborts
 * it then (client gone, daemon stopping).
 */
#ifndef JOBQ_API_SUBMIT_H
#define JOBQ_API_SUBMIT_H

#include <microhttpd.h>
#include <stddef.h>

#include "server.h"

/* submit_handle is the route handler of POST /v1/jobs (router.h). */
enum MHD_Result submit_handle(struct api_request *req, const char *upload_data,
			      size_t *upload_data_size);

#endif
