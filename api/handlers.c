/*
 * handlers.c — the route table and the handlers that read (see
 * handlers.h).
 */
#include "handlers.h"

#include <stdlib.h>
#include <string.h>
#include <sys/types.h>

#include "ids.h"
#include "job.h"
#include "job_store.h"
#include "log.h"
#include "reply.h"
#include "server.h"
#include "submit.h"

/* A GET has no business with a body; one larger than this closes the
 * connection. */
#define HANDLERS_GET_BODY_MAX (64 * 1024)

/* handlers_wait reports whether a reading handler must wait: it answers
 * only once the whole request is in, because libmicrohttpd 0.9.75 closes
 * the connection after a reply queued on the first call, and a client
 * polling a job should keep its connection. A body (not expected) is
 * dropped. Returns 1 to wait (MHD_YES), 0 to answer now, -1 to close the
 * connection (the body is too large). */
static int handlers_wait(struct api_request *req, size_t *upload_data_size)
{
	if (!req->started)
		return 1;
	if (*upload_data_size == 0)
		return 0;
	*upload_data_size = 0;
	return req->bytes_in > HANDLERS_GET_BODY_MAX ? -1 : 1;
}

/* ---- Reading a job ------------------------------------------------------ */

/* handlers_store_failed logs a failed store call for req and sets *e. */
static void handlers_store_failed(struct api_request *req, struct job_store *st,
				  const char *call, enum job_store_status s, struct reply_error *e)
{
	log_job(LOG_WARN, "job store call failed", req->request_id, NULL,
		json_pack("{s:s, s:i, s:s}", "call", call, "status", (int)s,
			  "error", job_store_errstr(st)));
	reply_error_store(e, s);
}

/* handlers_fetch reads the job named by the route's {id} into *rec.
 * Returns 0, or -1 with *e set: 404 job_not_found (a malformed id is as
 * unknown as an expired one), 503, 500. */
static int handlers_fetch(struct api_request *req, struct job_record *rec, struct reply_error *e)
{
	struct job_store *st;
	enum job_store_status s = JOB_STORE_NOT_FOUND;

	if (ids_job_id_valid(req->id)) {
		st = api_server_store(req->server);
		if (st == NULL) {
			reply_error_oom(e);
			return -1;
		}
		s = job_store_fetch(st, req->id, rec);
		if (s == JOB_STORE_OK)
			return 0;
		if (s != JOB_STORE_NOT_FOUND) {
			handlers_store_failed(req, st, "fetch", s, e);
			return -1;
		}
	}
	reply_error_set(e, MHD_HTTP_NOT_FOUND, "job_not_found",
			"No job has this id; it may never have existed or may have expired.");
	return -1;
}

/* handlers_get_job answers GET /v1/jobs/{id}. */
static enum MHD_Result handlers_get_job(struct api_request *req, const char *upload_data,
					size_t *upload_data_size)
{
	struct reply_error e = { 0 };
	struct job_record rec;
	int wait;

	(void)upload_data;
	if ((wait = handlers_wait(req, upload_data_size)) != 0)
		return wait > 0 ? MHD_YES : MHD_NO;
	if (handlers_fetch(req, &rec, &e) != 0)
		return reply_send_error(req, &e);
	return reply_json(req, MHD_HTTP_OK, job_record_to_json(&rec), NULL, 0);
}

/* ---- Streaming a result ------------------------------------------------- */

/* What the content reader of one result needs; freed by libmicrohttpd
 * (through free) when the response is destroyed. */
struct handlers_result {
	struct api_server *server;
	char id[JOB_ID_HEX + 1];
	char request_id[JOB_REQUEST_ID_MAX + 1];
	uint64_t total;
};

/* handlers_result_read is the content reader: it copies the next block of
 * the result from Redis into buf. Returns the bytes copied, or
 * MHD_CONTENT_READER_END_WITH_ERROR (logged) when Redis fails or the
 * result ends before its announced size. */
static ssize_t handlers_result_read(void *cls, uint64_t pos, char *buf, size_t max)
{
	struct handlers_result *r = cls;
	struct job_store *st = api_server_store(r->server);
	enum job_store_status s = JOB_STORE_ENOMEM;
	size_t n = 0;

	if (pos >= r->total)
		return MHD_CONTENT_READER_END_OF_STREAM;
	if (max > r->total - pos)
		max = (size_t)(r->total - pos);
	if (st != NULL)
		s = job_store_read_result(st, r->id, pos, buf, max, &n);
	if (s == JOB_STORE_OK && n > 0)
		return (ssize_t)n;
	log_job(LOG_WARN, "result stream broken off", r->request_id, r->id,
		json_pack("{s:I, s:s}", "offset", (json_int_t)pos, "error",
			  st == NULL ? "out of memory" :
			  s == JOB_STORE_OK ? "the result is shorter than announced (expired?)" :
			  job_store_errstr(st)));
	return MHD_CONTENT_READER_END_WITH_ERROR;
}

/* handlers_result_reply queues the streamed result of rec. */
static enum MHD_Result handlers_result_reply(struct api_request *req, const struct job_record *rec)
{
	struct handlers_result *r = malloc(sizeof *r);
	const char *type = rec->result_type[0] != '\0' ? rec->result_type : "application/octet-stream";
	struct reply_error e = { 0 };
	struct MHD_Response *resp = NULL;

	if (r != NULL) {
		r->server = req->server;
		memcpy(r->id, rec->spec.id, sizeof r->id);
		memcpy(r->request_id, req->request_id, sizeof r->request_id);
		r->total = rec->result_bytes;
		resp = MHD_create_response_from_callback(r->total, HANDLERS_RESULT_BLOCK,
							 handlers_result_read, r, free);
		if (resp == NULL)
			free(r);
	}
	if (resp == NULL || MHD_add_response_header(resp, MHD_HTTP_HEADER_CONTENT_TYPE, type) != MHD_YES) {
		if (resp != NULL)
			MHD_destroy_response(resp);
		reply_error_oom(&e);
		return reply_send_error(req, &e);
	}
	return reply_queue(req, MHD_HTTP_OK, resp, rec->result_bytes);
}

/* handlers_not_succeeded sets *e to the 409 for a job without a result. */
static void handlers_not_succeeded(const struct job_record *rec, struct reply_error *e)
{
	const char *name = job_status_name(rec->status);

	if (job_status_is_terminal(rec->status))
		reply_error_set(e, MHD_HTTP_CONFLICT, "job_not_succeeded",
				"The job is %s; only a succeeded job has a result.", name);
	else
		reply_error_set(e, MHD_HTTP_CONFLICT, "job_not_finished",
				"The job is %s; its result is not ready yet.", name);
	reply_error_detail_text(e, "status", name, strlen(name));
}

/* handlers_get_result answers GET /v1/jobs/{id}/result. */
static enum MHD_Result handlers_get_result(struct api_request *req, const char *upload_data,
					   size_t *upload_data_size)
{
	struct reply_error e = { 0 };
	struct job_record rec;
	int wait;

	(void)upload_data;
	if ((wait = handlers_wait(req, upload_data_size)) != 0)
		return wait > 0 ? MHD_YES : MHD_NO;
	if (handlers_fetch(req, &rec, &e) != 0)
		return reply_send_error(req, &e);
	if (rec.status != JOB_SUCCEEDED) {
		handlers_not_succeeded(&rec, &e);
		return reply_send_error(req, &e);
	}
	return handlers_result_reply(req, &rec);
}

/* ---- Health ------------------------------------------------------------- */

/* handlers_healthz answers GET /healthz: the process serves HTTP. It does
 * not touch Redis, so an orchestrator does not restart the API for a Redis
 * outage (that is what /readyz reports). */
static enum MHD_Result handlers_healthz(struct api_request *req, const char *upload_data,
					size_t *upload_data_size)
{
	int wait;

	(void)upload_data;
	if ((wait = handlers_wait(req, upload_data_size)) != 0)
		return wait > 0 ? MHD_YES : MHD_NO;
	return reply_json(req, MHD_HTTP_OK, json_pack("{s:s}", "status", "ok"), NULL, 0);
}

/* handlers_readyz answers GET /readyz: 200 when this thread's store
 * answers PING, else 503 unavailable with Retry-After. */
static enum MHD_Result handlers_readyz(struct api_request *req, const char *upload_data,
				       size_t *upload_data_size)
{
	struct reply_error e = { 0 };
	struct job_store *st;
	enum job_store_status s;
	int wait;

	(void)upload_data;
	if ((wait = handlers_wait(req, upload_data_size)) != 0)
		return wait > 0 ? MHD_YES : MHD_NO;
	st = api_server_store(req->server);
	if (st == NULL) {
		reply_error_oom(&e);
		return reply_send_error(req, &e);
	}
	s = job_store_ping(st);
	if (s == JOB_STORE_OK)
		return reply_json(req, MHD_HTTP_OK, json_pack("{s:s}", "status", "ready"), NULL, 0);
	handlers_store_failed(req, st, "ping", s, &e);
	if (s != JOB_STORE_ENOMEM)
		reply_error_store(&e, JOB_STORE_EUNAVAILABLE);
	return reply_send_error(req, &e);
}

/* ---- The table ---------------------------------------------------------- */

const struct route handlers_routes[] = {
	{ "POST", "/v1/jobs", submit_handle },
	{ "GET", "/v1/jobs/{id}", handlers_get_job },
	{ "GET", "/v1/jobs/{id}/result", handlers_get_result },
	{ "GET", "/healthz", handlers_healthz },
	{ "GET", "/readyz", handlers_readyz },
};

const size_t handlers_routes_len = sizeof handlers_routes / sizeof handlers_routes[0];
