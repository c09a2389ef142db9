/*
 * reply.c — building, decorating and queueing responses (see reply.h).
 */
#include "reply.h"

#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* The out-of-memory reply needs no allocation but MHD's response object. */
static const char reply_oom_body[] =
	"{\"error\":{\"code\":\"out_of_memory\","
	"\"message\":\"The server is out of memory; try again later.\"}}";

#define REPLY_DETAIL_TEXT_MAX 64

/* ---- Errors ------------------------------------------------------------- */

/* reply_error_vset is reply_error_set with a va_list. */
__attribute__((format(printf, 4, 0)))
static void reply_error_vset(struct reply_error *e, unsigned status, const char *code,
			     const char *fmt, va_list ap)
{
	json_decref(e->details);
	e->details = NULL;
	e->status = status;
	e->code = code;
	e->retry_after_s = 0;
	e->allow = NULL;
	e->authenticate = NULL;
	vsnprintf(e->message, sizeof e->message, fmt, ap);
}

void reply_error_set(struct reply_error *e, unsigned status, const char *code,
		     const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	reply_error_vset(e, status, code, fmt, ap);
	va_end(ap);
}

void reply_error_oom(struct reply_error *e)
{
	reply_error_set(e, MHD_HTTP_SERVICE_UNAVAILABLE, "out_of_memory",
			"The server is out of memory; try again later.");
	e->retry_after_s = 1;
}

/* reply_error_detail adds "key": value (stolen) to e's details, or makes e
 * out_of_memory when it cannot. */
static void reply_error_detail(struct reply_error *e, const char *key, json_t *value)
{
	if (e->details == NULL)
		e->details = json_object();
	if (value == NULL || e->details == NULL ||
	    json_object_set_new(e->details, key, value) != 0) {
		if (value != NULL && e->details == NULL)
			json_decref(value);
		reply_error_oom(e);
	}
}

void reply_error_detail_u64(struct reply_error *e, const char *key, uint64_t n)
{
	reply_error_detail(e, key, json_integer(n > INT64_MAX ? INT64_MAX : (json_int_t)n));
}

void reply_error_detail_name(struct reply_error *e, const char *key, const char *name)
{
	reply_error_detail(e, key, json_string(name));
}

/* reply_error_detail_text shows client bytes as printable ASCII so that any
 * input makes a valid JSON string (jansson refuses bytes that are not
 * UTF-8) and a bounded one. */
void reply_error_detail_text(struct reply_error *e, const char *key, const char *text,
			     size_t len)
{
	char shown[REPLY_DETAIL_TEXT_MAX];

	if (len > sizeof shown)
		len = sizeof shown;
	for (size_t i = 0; i < len; i++)
		shown[i] = text[i] >= 0x20 && text[i] < 0x7f ? text[i] : '?';
	reply_error_detail(e, key, json_stringn(shown, len));
}

void reply_error_store(struct reply_error *e, enum job_store_status s)
{
	switch (s) {
	case JOB_STORE_EUNAVAILABLE:
		reply_error_set(e, MHD_HTTP_SERVICE_UNAVAILABLE, "unavailable",
				"The job store (Redis) is unreachable; try again shortly.");
		e->retry_after_s = 1;
		break;
	case JOB_STORE_ENOMEM:
		reply_error_oom(e);
		break;
	case JOB_STORE_EREFUSED:
		reply_error_set(e, MHD_HTTP_SERVICE_UNAVAILABLE, "layout_refused",
				"This jobq-api does not match the data layout in Redis (see its log) "
				"and is shutting down.");
		e->retry_after_s = 1;
		break;
	default:
		reply_error_set(e, MHD_HTTP_INTERNAL_SERVER_ERROR, "internal_error",
				"The job store gave an unexpected answer.");
		break;
	}
}

void reply_error_clear(struct reply_error *e)
{
	json_decref(e->details);
	memset(e, 0, sizeof *e);
}

/* reply_error_merge adds each member of details to inner. Returns 0, or -1
 * when out of memory (json_object_update_missing would drop a member
 * without a word). */
static int reply_error_merge(json_t *inner, json_t *details)
{
	const char *key;
	json_t *value;

	if (inner == NULL)
		return -1;
	json_object_foreach(details, key, value) {
		if (json_object_get(inner, key) == NULL && json_object_set(inner, key, value) != 0)
			return -1;
	}
	return 0;
}

/* reply_error_body returns {"error":{code, message, details...}}, or NULL
 * when out of memory. */
static json_t *reply_error_body(const struct reply_error *e)
{
	json_t *inner = json_object(), *body = json_object();
	int rc = 0;

	rc |= json_object_set_new(inner, "code", json_string(e->code));
	rc |= json_object_set_new(inner, "message", json_string(e->message));
	if (e->details != NULL)
		rc |= reply_error_merge(inner, e->details);
	rc |= json_object_set_new(body, "error", inner);
	if (rc != 0 || body == NULL) {
		json_decref(body);
		return NULL;
	}
	return body;
}

enum MHD_Result reply_send_error(struct api_request *req, struct reply_error *e)
{
	struct reply_header headers[3];
	char retry[16];
	size_t n = 0;
	unsigned status = e->status;
	json_t *body = reply_error_body(e);

	req->error_code = e->code;

	if (e->retry_after_s > 0) {
		snprintf(retry, sizeof retry, "%d", e->retry_after_s);
		headers[n++] = (struct reply_header){ MHD_HTTP_HEADER_RETRY_AFTER, retry };
	}
	if (e->allow != NULL)
		headers[n++] = (struct reply_header){ MHD_HTTP_HEADER_ALLOW, e->allow };
	if (e->authenticate != NULL)
		headers[n++] = (struct reply_header){ MHD_HTTP_HEADER_WWW_AUTHENTICATE,
						      e->authenticate };
	reply_error_clear(e);
	return reply_json(req, status, body, headers, n);
}

enum MHD_Result reply_error(struct api_request *req, unsigned status, const char *code,
			    const char *fmt, ...)
{
	struct reply_error e = { 0 };
	va_list ap;

	va_start(ap, fmt);
	reply_error_vset(&e, status, code, fmt, ap);
	va_end(ap);
	return reply_send_error(req, &e);
}

/* ---- Queueing ----------------------------------------------------------- */

/* reply_oom queues the static 503 out_of_memory reply. */
static enum MHD_Result reply_oom(struct api_request *req)
{
	size_t len = sizeof reply_oom_body - 1;
	struct MHD_Response *resp;

	log_job(LOG_ERROR, "out of memory while replying", req->request_id, req->job_id, NULL);
	req->error_code = "out_of_memory";
	resp = MHD_create_response_from_buffer(len, (void *)reply_oom_body, MHD_RESPMEM_PERSISTENT);
	if (resp == NULL)
		return MHD_NO;
	MHD_add_response_header(resp, MHD_HTTP_HEADER_CONTENT_TYPE, "application/json");
	MHD_add_response_header(resp, MHD_HTTP_HEADER_RETRY_AFTER, "1");
	return reply_queue(req, MHD_HTTP_SERVICE_UNAVAILABLE, resp, len);
}

/* reply_add_headers adds Content-Type: application/json and the n headers.
 * Returns 0, or -1 when out of memory. */
static int reply_add_headers(struct MHD_Response *resp, const struct reply_header *headers,
			     size_t n)
{
	if (MHD_add_response_header(resp, MHD_HTTP_HEADER_CONTENT_TYPE, "application/json") != MHD_YES)
		return -1;
	for (size_t i = 0; i < n; i++)
		if (MHD_add_response_header(resp, headers[i].name, headers[i].value) != MHD_YES)
			return -1;
	return 0;
}

/* reply_buffer queues the len bytes at text, given to libmicrohttpd with
 * mode, with status and the n extra headers. With MHD_RESPMEM_MUST_FREE
 * text is the callee's to free in every case. */
static enum MHD_Result reply_buffer(struct api_request *req, unsigned status, char *text,
				    size_t len, enum MHD_ResponseMemoryMode mode,
				    const struct reply_header *headers, size_t n)
{
	struct MHD_Response *resp = MHD_create_response_from_buffer(len, text, mode);

	if (resp == NULL) {
		if (mode == MHD_RESPMEM_MUST_FREE)
			free(text);
		return reply_oom(req);
	}
	if (reply_add_headers(resp, headers, n) != 0) {
		MHD_destroy_response(resp);
		return reply_oom(req);
	}
	return reply_queue(req, status, resp, len);
}

enum MHD_Result reply_json(struct api_request *req, unsigned status, json_t *body,
			   const struct reply_header *headers, size_t n)
{
	char *text;

	if (body == NULL)
		return reply_oom(req);
	text = json_dumps(body, JSON_COMPACT);
	json_decref(body);
	if (text == NULL)
		return reply_oom(req);
	/* MUST_FREE: MHD frees text with free() when done. */
	return reply_buffer(req, status, text, strlen(text), MHD_RESPMEM_MUST_FREE, headers, n);
}

enum MHD_Result reply_json_text(struct api_request *req, unsigned status, const char *text,
				size_t len, const struct reply_header *headers, size_t n)
{
	return reply_buffer(req, status, (char *)text, len, MHD_RESPMEM_MUST_COPY, headers, n);
}

enum MHD_Result reply_queue(struct api_request *req, unsigned status, struct MHD_Response *resp,
			    uint64_t body_len)
{
	enum MHD_Result ret;

	/* Under memory pressure a reply may go out without its request id
	 * rather than not at all; the access log still has the id. */
	if (MHD_add_response_header(resp, "X-Request-ID", req->request_id) != MHD_YES)
		log_job(LOG_WARN, "reply sent without X-Request-ID", req->request_id, NULL, NULL);
	if (atomic_load(&req->server->draining))
		MHD_add_response_header(resp, MHD_HTTP_HEADER_CONNECTION, "close");
	ret = MHD_queue_response(req->conn, status, resp);
	MHD_destroy_response(resp);
	if (ret != MHD_YES) {
		log_job(LOG_ERROR, "reply could not be queued", req->request_id, req->job_id,
			json_pack("{s:i}", "status", (int)status));
		return MHD_NO;
	}
	req->status = status;
	req->bytes_out = body_len;
	return MHD_YES;
}
