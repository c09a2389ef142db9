/*
 * reply — the responses jobq-api sends, and its error shape.
 *
 * Every response carries X-Request-ID and, unless it is a job result in
 * its own media type, Content-Type: application/json. An error body is
 *
 *     {"error":{"code":"<stable_code>","message":"<sentence>", ...details}}
 *
 * where code is one of a fixed set clients may branch on and message is
 * for people. Queueing a reply records its status and body size in the
 * request for the access log.
 *
 * Out of memory while building a reply turns it into 503 out_of_memory
 * with a body from static storage (and a log line); if not even that can be
 * made, the reply function returns MHD_NO and libmicrohttpd closes the
 * connection.
 *
 * A struct reply_error may be filled in one place and sent later: an upload
 * rejected in the middle of its body is answered once the body has ended,
 * because libmicrohttpd 0.9.75 accepts a reply only before the body or
 * after it. It owns its details until sent or cleared.
 */
#ifndef JOBQ_API_REPLY_H
#define JOBQ_API_REPLY_H

#include <jansson.h>
#include <microhttpd.h>
#include <stddef.h>
#include <stdint.h>

#include "job_store.h"
#include "server.h"

/* An extra response header. */
struct reply_header {
	const char *name;
	const char *value;
};

/* An error to answer with. It starts zeroed ({0}); status 0 means "no
 * error". */
struct reply_error {
	unsigned status;
	const char *code;      /* stable code, static storage */
	char message[256];     /* human sentence */
	json_t *details;       /* owned: extra members of "error", or NULL */
	int retry_after_s;     /* > 0 adds Retry-After */
	const char *allow;     /* 405: the Allow header (not owned; must outlive the send) */
	const char *authenticate; /* 401: the WWW-Authenticate header (static) */
};

/* reply_error_set makes e the error status/code with a message formatted
 * from fmt, dropping any earlier details. */
__attribute__((format(printf, 4, 5)))
void reply_error_set(struct reply_error *e, unsigned status, const char *code,
		     const char *fmt, ...);

/* reply_error_detail_u64 adds "key": n to e's details. Out of memory turns
 * e into 503 out_of_memory. */
void reply_error_detail_u64(struct reply_error *e, const char *key, uint64_t n);

/* reply_error_detail_text adds "key": text (len bytes from a client, shown
 * as printable ASCII, other bytes as '?', at most 64) to e's details. Out
 * of memory turns e into 503 out_of_memory. */
void reply_error_detail_text(struct reply_error *e, const char *key, const char *text,
			     size_t len);

/* reply_error_detail_name adds "key": name to e's details: a name the
 * server made (a Redis key), shown whole. Out of memory turns e into 503
 * out_of_memory. */
void reply_error_detail_name(struct reply_error *e, const char *key, const char *name);

/* reply_error_oom makes e 503 out_of_memory. */
void reply_error_oom(struct reply_error *e);

/* reply_error_store makes e the answer to a job_store failure s (not OK):
 * 503 unavailable with Retry-After: 1, 503 out_of_memory, or 500
 * internal_error. NOT_FOUND and the worker's codes are the caller's. */
void reply_error_store(struct reply_error *e, enum job_store_status s);

/* reply_error_clear releases e's details and makes it "no error". */
void reply_error_clear(struct reply_error *e);

/* reply_send_error queues e as req's reply and clears e. Returns MHD's
 * answer (MHD_NO: the connection is to be closed). */
enum MHD_Result reply_send_error(struct api_request *req, struct reply_error *e);

/* reply_error queues an error without details: status, code and a message
 * formatted from fmt. */
__attribute__((format(printf, 4, 5)))
enum MHD_Result reply_error(struct api_request *req, unsigned status, const char *code,
			    const char *fmt, ...);

/* reply_json queues body (stolen; NULL means it could not be built: the
 * reply becomes 503 out_of_memory) with status and the n extra headers. */
enum MHD_Result reply_json(struct api_request *req, unsigned status, json_t *body,
			   const struct reply_header *headers, size_t n);

/* reply_json_text is reply_json for a body already written as JSON text
 * (len bytes at text, copied: the caller keeps text). */
enum MHD_Result reply_json_text(struct api_request *req, unsigned status, const char *text,
				size_t len, const struct reply_header *headers, size_t n);

/* reply_queue adds X-Request-ID (and Connection: close while draining) to
 * resp, queues it with status, records status and body_len in req, and
 * destroys resp (libmicrohttpd keeps its own reference). */
enum MHD_Result reply_queue(struct api_request *req, unsigned status, struct MHD_Response *resp,
			    uint64_t body_len);

#endif
