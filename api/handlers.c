/*
 * handlers.c — the route table and the handlers that read (see
 * handlers.h).
 */
#include "handlers.h"

#include <inttypes.h>
#include <stdlib.h>
#include <string.h>
#include <sys/types.h>

#include "ids.h"
#include "job.h"
#include "job_store.h"
#include "log.h"
#include "reply.h"
#include "scrape.h"
#include "server.h"
#include "submit.h"

/* A GET has no business with a body; one larger than this closes the
 * connection. */
#define HANDLERS_GET_BODY_MAX (64 * 1024)

/* handlers_wait (handlers.h) reports whether a reading handler must wait:
 * it answers only once the whole request is in, because libmicrohttpd
 * 0.9.75 closes the connection after a reply queued on the first call, and
 * a client polling a job should keep its connection. A body (not expected) is
 * dropped. Returns 1 to wait (MHD_YES), 0 to answer now, -1 to close the
 * connection (the body is too large). */
int handlers_wait(struct api_request *req, size_t *upload_data_size)
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

/* handlers_may_see returns true when req's caller may see rec: always with
 * auth off and for operators, else only its own tenant's jobs. */
static bool handlers_may_see(const struct api_request *req, const struct job_record *rec)
{
	return req->tenant[0] == '\0' || req->is_operator ||
	       strcmp(rec->spec.tenant, req->tenant) == 0;
}

/* handlers_fetch reads the job named by the route's {id} into *rec.
 * Returns 0, or -1 with *e set: 404 job_not_found (a malformed id is as
 * unknown as an expired one, and another tenant's job as unknown as
 * both), 503, 500. */
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
		if (s == JOB_STORE_OK && handlers_may_see(req, rec))
			return 0;
		if (s != JOB_STORE_NOT_FOUND && s != JOB_STORE_OK) {
			handlers_store_failed(req, st, "fetch", s, e);
			return -1;
		}
	}
	reply_error_set(e, MHD_HTTP_NOT_FOUND, "job_not_found",
			"No job has this id; it may never have existed or may have expired.");
	return -1;
}

static enum MHD_Result handlers_reply_job_with_errors(struct api_request *req, unsigned status,
						      const struct job_record *rec);

/* handlers_get_job answers GET /v1/jobs/{id}: the job view with its
 * "errors" (one per failed attempt, oldest first). */
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
	return handlers_reply_job_with_errors(req, MHD_HTTP_OK, &rec);
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
		s = job_store_read_result(st, r->id, r->total, pos, buf, max, &n);
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
	/* A refused layout is not an outage: the breaker must not count it. */
	if (s != JOB_STORE_ENOMEM && s != JOB_STORE_EREFUSED)
		reply_error_store(&e, JOB_STORE_EUNAVAILABLE);
	return reply_send_error(req, &e);
}

/* ---- Changing a job ----------------------------------------------------- */

/* handlers_owner returns the tenant whose jobs req may change, "" for
 * any (auth off, or an operator's key). The scripts that change a job
 * check it in the same atomic step (another tenant's job is no such job),
 * at no extra round trip. */
static const char *handlers_owner(const struct api_request *req)
{
	return req->is_operator ? "" : req->tenant;
}

/* ---- Cancelling a job --------------------------------------------------- */

/* The message a job cancelled before it ran keeps (the worker's is the
 * same). */
#define HANDLERS_CANCEL_MESSAGE "the job was cancelled"

/* handlers_cancel_failed sets *e for a cancel that changed nothing:
 * 409 job_finished (with "status") or 404 job_not_found. */
static void handlers_cancel_failed(const struct job_record *rec, enum job_store_status s,
				   struct reply_error *e)
{
	const char *name = job_status_name(rec->status);

	if (s != JOB_STORE_CONFLICT) {
		reply_error_set(e, MHD_HTTP_NOT_FOUND, "job_not_found",
				"No job has this id; it may never have existed or may have expired.");
		return;
	}
	reply_error_set(e, MHD_HTTP_CONFLICT, "job_finished",
			"The job has %s; only a queued or running job can be cancelled.", name);
	reply_error_detail_text(e, "status", name, strlen(name));
}

/* handlers_delete_job answers DELETE /v1/jobs/{id}: 200 with the job when
 * it is cancelled (now, or already before), 202 with the job when it is
 * running and its worker has been asked to stop, 409 job_finished when it
 * succeeded or failed, 404 when unknown (see job_store_cancel). */
static enum MHD_Result handlers_delete_job(struct api_request *req, const char *upload_data,
					   size_t *upload_data_size)
{
	struct reply_error e = { 0 };
	struct job_record rec;
	struct job_store *st;
	enum job_store_status s = JOB_STORE_NOT_FOUND;
	int wait;

	(void)upload_data;
	if ((wait = handlers_wait(req, upload_data_size)) != 0)
		return wait > 0 ? MHD_YES : MHD_NO;
	if (ids_job_id_valid(req->id)) {
		st = api_server_store(req->server);
		if (st == NULL) {
			reply_error_oom(&e);
			return reply_send_error(req, &e);
		}
		s = job_store_cancel(st, req->id, req->server->cfg.result_ttl_s,
				     HANDLERS_CANCEL_MESSAGE, handlers_owner(req), &rec);
		if (s < 0) {
			handlers_store_failed(req, st, "cancel", s, &e);
			return reply_send_error(req, &e);
		}
	}
	if (s != JOB_STORE_OK && s != JOB_STORE_CANCEL) {
		handlers_cancel_failed(&rec, s, &e);
		return reply_send_error(req, &e);
	}
	log_job(LOG_INFO, s == JOB_STORE_OK ? "job cancelled" : "job cancel requested",
		req->request_id, req->id, NULL);
	return reply_json(req, s == JOB_STORE_OK ? MHD_HTTP_OK : MHD_HTTP_ACCEPTED,
			  job_record_to_json(&rec), NULL, 0);
}

/* ---- Retries and dead letters --------------------------------------------- */

/* GET /v1/dead lists this many dead letters unless ?limit= says otherwise,
 * and never more than the maximum. */
#define HANDLERS_DEAD_DEFAULT 100
#define HANDLERS_DEAD_MAX 1000

/* handlers_view_with_errors returns rec's view with "errors" added from
 * the store, or NULL when it cannot be had; *s tells why. */
static json_t *handlers_view_with_errors(struct job_store *st, const struct job_record *rec,
					 enum job_store_status *s)
{
	json_t *view = job_record_to_json(rec), *errors = NULL;

	*s = JOB_STORE_ENOMEM;
	if (view == NULL)
		return NULL;
	*s = job_store_errors(st, rec->spec.id, &errors);
	if (*s == JOB_STORE_OK && json_object_set_new(view, "errors", errors) == 0)
		return view;
	if (*s == JOB_STORE_OK)
		*s = JOB_STORE_ENOMEM;
	json_decref(view);
	return NULL;
}

/* handlers_reply_job_with_errors answers status with rec's view and its
 * errors, or 503 / 500 when the errors cannot be read. */
static enum MHD_Result handlers_reply_job_with_errors(struct api_request *req, unsigned status,
						      const struct job_record *rec)
{
	struct reply_error e = { 0 };
	struct job_store *st = api_server_store(req->server);
	enum job_store_status s = JOB_STORE_ENOMEM;
	json_t *view = st != NULL ? handlers_view_with_errors(st, rec, &s) : NULL;

	if (view != NULL)
		return reply_json(req, status, view, NULL, 0);
	if (st != NULL)
		handlers_store_failed(req, st, "errors", s, &e);
	else
		reply_error_oom(&e);
	return reply_send_error(req, &e);
}

/* handlers_retry_failed sets *e for a retry that changed nothing: 404,
 * 409 job_not_failed (with "status"), 410 input_expired, or the store's
 * error (logged). */
static void handlers_retry_failed(struct api_request *req, struct job_store *st,
				  enum job_store_status s, const char *status, struct reply_error *e)
{
	switch (s) {
	case JOB_STORE_NOT_FOUND:
		reply_error_set(e, MHD_HTTP_NOT_FOUND, "job_not_found",
				"No job has this id; it may never have existed or may have expired.");
		break;
	case JOB_STORE_CONFLICT:
		reply_error_set(e, MHD_HTTP_CONFLICT, "job_not_failed",
				"The job is %s; only a failed job can be retried.", status);
		reply_error_detail_text(e, "status", status, strlen(status));
		break;
	case JOB_STORE_INPUT_GONE:
		reply_error_set(e, MHD_HTTP_GONE, "input_expired",
				"The job's input has expired, so it cannot run again; submit it anew.");
		break;
	default:
		handlers_store_failed(req, st, "retry", s, e);
		break;
	}
}

/* handlers_post_retry answers POST /v1/jobs/{id}/retry: 202 with the job,
 * queued again with attempts 0 (job_store_retry), or an error from
 * handlers_retry_failed. */
static enum MHD_Result handlers_post_retry(struct api_request *req, const char *upload_data,
					   size_t *upload_data_size)
{
	struct reply_error e = { 0 };
	struct job_record rec;
	struct job_store *st = NULL;
	enum job_store_status s = JOB_STORE_NOT_FOUND;
	char status[16] = "";
	int wait;

	(void)upload_data;
	if ((wait = handlers_wait(req, upload_data_size)) != 0)
		return wait > 0 ? MHD_YES : MHD_NO;
	if (ids_job_id_valid(req->id)) {
		st = api_server_store(req->server);
		if (st == NULL) {
			reply_error_oom(&e);
			return reply_send_error(req, &e);
		}
		s = job_store_retry(st, req->id, handlers_owner(req), status);
	}
	if (s != JOB_STORE_OK) {
		handlers_retry_failed(req, st, s, status, &e);
		return reply_send_error(req, &e);
	}
	log_job(LOG_INFO, "job queued again by request", req->request_id, req->id, NULL);
	if (handlers_fetch(req, &rec, &e) != 0)
		return reply_send_error(req, &e);
	return handlers_reply_job_with_errors(req, MHD_HTTP_ACCEPTED, &rec);
}

/* handlers_dead_limit reads ?limit= into *limit: 1..HANDLERS_DEAD_MAX,
 * default HANDLERS_DEAD_DEFAULT. Returns 0, or -1 with *e set to 400
 * invalid_limit. */
static int handlers_dead_limit(struct api_request *req, size_t *limit, struct reply_error *e)
{
	const char *v = MHD_lookup_connection_value(req->conn, MHD_GET_ARGUMENT_KIND, "limit");
	size_t n = 0, len;

	*limit = HANDLERS_DEAD_DEFAULT;
	if (v == NULL)
		return 0;
	len = strlen(v);
	if (len >= 1 && len <= 4 && strspn(v, "0123456789") == len)
		n = (size_t)strtoul(v, NULL, 10);
	if (n >= 1 && n <= HANDLERS_DEAD_MAX) {
		*limit = n;
		return 0;
	}
	reply_error_set(e, MHD_HTTP_BAD_REQUEST, "invalid_limit",
			"limit must be a whole number from 1 to %d.", HANDLERS_DEAD_MAX);
	return -1;
}

/* handlers_dead_cursor reads ?before= (a cursor a page gave as "next":
 * "<ms>-<id>") into *after and sets *has. Returns 0, or -1 with *e set to
 * 400 invalid_cursor. */
static int handlers_dead_cursor(struct api_request *req, struct job_store_dead_entry *after,
				bool *has, struct reply_error *e)
{
	const char *v = MHD_lookup_connection_value(req->conn, MHD_GET_ARGUMENT_KIND, "before");
	size_t digits;

	*has = v != NULL;
	if (v == NULL)
		return 0;
	digits = strspn(v, "0123456789");
	if (digits >= 1 && digits <= 15 && v[digits] == '-' &&
	    strlen(v + digits + 1) == JOB_ID_HEX &&
	    strspn(v + digits + 1, "0123456789abcdef") == JOB_ID_HEX) {
		after->at_ms = (int64_t)strtoll(v, NULL, 10);
		memcpy(after->id, v + digits + 1, JOB_ID_HEX + 1);
		return 0;
	}
	reply_error_set(e, MHD_HTTP_BAD_REQUEST, "invalid_cursor",
			"before must be the \"next\" cursor of an earlier page of /v1/dead.");
	return -1;
}

/* handlers_dead_jobs appends the view of each of the n dead letters that
 * req's caller may see to jobs, until jobs holds limit; those whose job
 * has expired are skipped. *used is how many of the n it went through.
 * Returns OK or the store's error. */
static enum job_store_status handlers_dead_jobs(struct api_request *req, struct job_store *st,
						const struct job_store_dead_entry *dead, size_t n,
						size_t limit, json_t *jobs, size_t *used)
{
	struct job_record rec;

	for (*used = 0; *used < n && json_array_size(jobs) < limit; (*used)++) {
		enum job_store_status s = job_store_fetch(st, dead[*used].id, &rec);
		if (s == JOB_STORE_NOT_FOUND || (s == JOB_STORE_OK && !handlers_may_see(req, &rec)))
			continue;
		if (s != JOB_STORE_OK)
			return s;
		if (json_array_append_new(jobs, job_record_to_json(&rec)) != 0)
			return JOB_STORE_ENOMEM;
	}
	return JOB_STORE_OK;
}

/* A page of GET /v1/dead being made. */
struct dead_page {
	struct job_store_dead_entry *entries; /* read, newest first; then those the caller may own */
	size_t want, n;
	struct job_store_dead_entry last;     /* the last one read, for the cursor */
	bool more;                            /* the read was full: more may follow */
};

/* handlers_dead_next returns the page's "next" cursor: the place after the
 * last of p's entries that the page went through (used of them) when it
 * stopped before the end of them; else after the last one read, when more
 * may follow; else JSON null, the end of the list. */
static json_t *handlers_dead_next(const struct dead_page *p, size_t used)
{
	const struct job_store_dead_entry *at = used < p->n ? &p->entries[used - 1] : &p->last;
	char cursor[24 + JOB_ID_HEX];

	if (used == p->n && !p->more)
		return json_null();
	snprintf(cursor, sizeof cursor, "%" PRId64 "-%s", at->at_ms, at->id);
	return json_string(cursor);
}

/* handlers_dead_read reads the page's dead letters after *after (NULL: from
 * the newest) into p and, for a tenant's key (tenant), keeps its tenant's
 * in place. Returns OK or the store's error. */
static enum job_store_status handlers_dead_read(struct api_request *req, struct job_store *st,
						const struct job_store_dead_entry *after, bool tenant,
						struct dead_page *p)
{
	enum job_store_status s = job_store_dead(st, after, p->entries, p->want, &p->n, &p->more);

	if (s != JOB_STORE_OK || p->n == 0)
		return s;
	p->last = p->entries[p->n - 1];
	/* A tenant's own among them: one round trip, not one each. */
	return tenant ? job_store_keep_tenant(st, req->tenant, p->entries, &p->n) : s;
}

/* handlers_dead_body makes the page's body, {"jobs":[...],"next":...},
 * into *body (NULL when out of memory). Returns OK or the store's error. */
static enum job_store_status handlers_dead_body(struct api_request *req, struct job_store *st,
						const struct dead_page *p, size_t limit,
						json_t **body)
{
	json_t *jobs = json_array();
	size_t used = 0;
	enum job_store_status s = jobs != NULL ? JOB_STORE_OK : JOB_STORE_ENOMEM;

	if (s == JOB_STORE_OK)
		s = handlers_dead_jobs(req, st, p->entries, p->n, limit, jobs, &used);
	*body = NULL;
	if (s == JOB_STORE_OK)
		*body = json_pack("{s:o, s:o}", "jobs", jobs, "next", handlers_dead_next(p, used));
	else
		json_decref(jobs);
	return s;
}

/* handlers_get_dead answers GET /v1/dead?limit=N&before=C: {"jobs":[...],
 * "next":C'|null}, dead letters newest first, starting after cursor C. A
 * tenant's key sees only its tenant's, looked for among the next
 * HANDLERS_DEAD_MAX of all tenants: a page may hold fewer than limit (even
 * none) while "next" says more may follow. */
static enum MHD_Result handlers_get_dead(struct api_request *req, const char *upload_data,
					 size_t *upload_data_size)
{
	struct reply_error e = { 0 };
	struct job_store_dead_entry after;
	struct dead_page p = { 0 };
	struct job_store *st;
	enum job_store_status s = JOB_STORE_ENOMEM;
	json_t *body = NULL;
	size_t limit;
	bool has_after, tenant;
	int wait;

	(void)upload_data;
	if ((wait = handlers_wait(req, upload_data_size)) != 0)
		return wait > 0 ? MHD_YES : MHD_NO;
	if (handlers_dead_limit(req, &limit, &e) != 0 ||
	    handlers_dead_cursor(req, &after, &has_after, &e) != 0)
		return reply_send_error(req, &e);
	tenant = req->tenant[0] != '\0' && !req->is_operator;
	p.want = tenant ? HANDLERS_DEAD_MAX : limit;
	st = api_server_store(req->server);
	p.entries = malloc(p.want * sizeof *p.entries);
	if (st != NULL && p.entries != NULL) {
		s = handlers_dead_read(req, st, has_after ? &after : NULL, tenant, &p);
		if (s == JOB_STORE_OK)
			s = handlers_dead_body(req, st, &p, limit, &body);
	}
	free(p.entries);
	if (s == JOB_STORE_OK && body != NULL)
		return reply_json(req, MHD_HTTP_OK, body, NULL, 0);
	if (st != NULL && s != JOB_STORE_OK)
		handlers_store_failed(req, st, "dead", s, &e);
	else
		reply_error_oom(&e);
	return reply_send_error(req, &e);
}

/* ---- Queues and workers --------------------------------------------------- */

/* handlers_get_queues answers GET /v1/queues: every queue's counts and
 * every live worker (job_store_overview). */
static enum MHD_Result handlers_get_queues(struct api_request *req, const char *upload_data,
					   size_t *upload_data_size)
{
	struct reply_error e = { 0 };
	struct job_store *st;
	enum job_store_status s;
	json_t *overview = NULL;
	int wait;

	(void)upload_data;
	if ((wait = handlers_wait(req, upload_data_size)) != 0)
		return wait > 0 ? MHD_YES : MHD_NO;
	st = api_server_store(req->server);
	if (st == NULL) {
		reply_error_oom(&e);
		return reply_send_error(req, &e);
	}
	s = job_store_overview(st, &overview);
	if (s == JOB_STORE_OK)
		return reply_json(req, MHD_HTTP_OK, overview, NULL, 0);
	handlers_store_failed(req, st, "overview", s, &e);
	return reply_send_error(req, &e);
}

/* ---- The table ---------------------------------------------------------- */

/* The /v1/ routes and /metrics need a key (and take a rate token); the
 * health checks stay open. The operator views are /v1/queues and /metrics.
 * Every route but /healthz and /metrics (which serves its own figures
 * while Redis is down) needs the store. */
const struct route handlers_routes[] = {
	{ "POST", "/v1/jobs", submit_handle, ROUTE_KEY | ROUTE_SUBMIT | ROUTE_STORE },
	{ "GET", "/v1/jobs/{id}", handlers_get_job, ROUTE_KEY | ROUTE_STORE },
	{ "GET", "/v1/jobs/{id}/result", handlers_get_result, ROUTE_KEY | ROUTE_STORE },
	{ "POST", "/v1/jobs/{id}/retry", handlers_post_retry, ROUTE_KEY | ROUTE_STORE },
	{ "GET", "/v1/dead", handlers_get_dead, ROUTE_KEY | ROUTE_STORE },
	{ "GET", "/v1/queues", handlers_get_queues, ROUTE_KEY | ROUTE_OPERATOR | ROUTE_STORE },
	{ "DELETE", "/v1/jobs/{id}", handlers_delete_job, ROUTE_KEY | ROUTE_STORE },
	{ "GET", "/healthz", handlers_healthz, 0 },
	{ "GET", "/readyz", handlers_readyz, ROUTE_STORE },
	{ "GET", "/metrics", scrape_handle, ROUTE_KEY | ROUTE_OPERATOR },
};

const size_t handlers_routes_len = sizeof handlers_routes / sizeof handlers_routes[0];
