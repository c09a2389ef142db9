/*
 * submit.c — POST /v1/jobs (see submit.h for when what is answered).
 *
 * Layout: where a form's parts go (form.h reads them; options.h parses
 * query parameters and form fields alike), the media type, then the
 * request's three phases: start (first call), body pieces, end.
 */
#include "submit.h"

#include <errno.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "committer.h"
#include "idem.h"
#include "ids.h"
#include "log.h"
#include "form.h"
#include "options.h"
#include "task_catalog.h"
#include "reply.h"
#include "upload.h"

/* How many bytes a form's framing and option fields may add to the CSV
 * before the body as a whole counts as too large. */
#define SUBMIT_FORM_SLACK (64 * 1024)

/* The post processor's own buffer: part headers must fit in it. */
#define SUBMIT_PP_BUFFER (64 * 1024)

/* ---- The submission ----------------------------------------------------- */

enum submit_body { SUBMIT_RAW, SUBMIT_FORM };

struct submit {
	struct api_request *req;          /* not owned: it owns this */
	struct options opts;
	struct upload *upload;            /* owned; NULL until the CSV starts */
	struct MHD_PostProcessor *pp;     /* owned; forms only */
	struct form form;                 /* forms: the parts read so far */
	bool rejected;                    /* error holds the answer; the body is dropped */
	struct reply_error error;
	uint64_t body_limit;              /* body bytes allowed before 413 */
	uint64_t drain_left;              /* rejected: bytes still dropped before cutting off */
	char idem_key[IDEM_KEY_MAX + 1];  /* the Idempotency-Key, "" when none */
	bool committing;                  /* suspended: commit is with the committer */
	struct committer_entry commit;    /* the job's enqueue, while and after committing */
};

/* submit_too_large makes s->error the 413. */
static void submit_too_large(struct submit *s)
{
	uint64_t limit = s->req->server->cfg.max_upload;

	reply_error_set(&s->error, MHD_HTTP_CONTENT_TOO_LARGE, "payload_too_large",
			"The upload is larger than the limit of %llu bytes.", (unsigned long long)limit);
	reply_error_detail_u64(&s->error, "limit", limit);
}

/* submit_store returns this thread's store, or NULL with s->error set. */
static struct job_store *submit_store(struct submit *s)
{
	struct job_store *st = api_server_store(s->req->server);

	if (st == NULL)
		reply_error_oom(&s->error);
	return st;
}

/* submit_idem_start gives the upload its Idempotency-Key, with the
 * options as the start of the fingerprint: task, queue, delimiter and
 * header by value (left out is the same as its fixed default), max_attempts
 * and timeout as given, 0 when left out (their defaults are the operator's
 * and may change between a request and its retry). Returns 0, or -1 with
 * s->error set. */
static int submit_idem_start(struct submit *s)
{
	const struct options *o = &s->opts;
	char params[256];
	int n = snprintf(params, sizeof params,
			 "task=%s\nqueue=%s\ndelimiter=%c\nheader=%d\nmax_attempts=%d\ntimeout=%d\n\n",
			 o->task, o->queue, (char)o->delimiter, o->header ? 1 : 0, o->max_attempts,
			 o->timeout_s);
	struct job_store *st = submit_store(s);

	if (st == NULL)
		return -1;
	return upload_idempotent(s->upload, st, s->req->tenant, s->idem_key, params, (size_t)n,
				 &s->error);
}

/* submit_upload_start starts the upload with the options as they are now.
 * Returns 0, or -1 with s->error set. */
static int submit_upload_start(struct submit *s)
{
	const struct api_config *cfg = &s->req->server->cfg;
	struct upload_limits lim = { cfg->max_upload, (size_t)cfg->max_field, cfg->staging_ttl_s,
				     cfg->max_queue_depth };
	struct job_spec spec;

	memset(&spec, 0, sizeof spec);
	memcpy(spec.task, s->opts.task, sizeof spec.task);
	memcpy(spec.queue, s->opts.queue, sizeof spec.queue);
	snprintf(spec.request_id, sizeof spec.request_id, "%s", s->req->request_id);
	memcpy(spec.tenant, s->req->tenant, sizeof spec.tenant);
	spec.delimiter = s->opts.delimiter;
	spec.header = s->opts.header;
	spec.max_attempts = s->opts.max_attempts > 0 ? s->opts.max_attempts : cfg->max_attempts;
	spec.timeout_s = s->opts.timeout_s > 0 ? s->opts.timeout_s : cfg->job_timeout_s;
	s->upload = upload_new(&spec, &lim, &s->error);
	if (s->upload == NULL)
		return -1;
	return s->idem_key[0] != '\0' ? submit_idem_start(s) : 0;
}

/* submit_feed hands CSV bytes to the upload. Returns 0, or -1 with
 * s->error set. */
static int submit_feed(struct submit *s, const char *data, size_t len)
{
	struct job_store *st = submit_store(s);

	if (st == NULL)
		return -1;
	return upload_feed(s->upload, st, data, len, &s->error);
}

/* ---- Form parts ------------------------------------------------------- */

/* submit_file_begin is the form's file_begin: the upload starts with the
 * options given so far. */
static int submit_file_begin(void *cls)
{
	return submit_upload_start(cls);
}

/* submit_file_data is the form's file_data: CSV bytes of the file part. */
static int submit_file_data(void *cls, const char *data, size_t len)
{
	return submit_feed(cls, data, len);
}

/* ---- Start: headers and query ------------------------------------------ */

/* submit_charset_ok returns true when the text/csv parameters params name
 * no charset, or UTF-8 (or its subset US-ASCII). */
static bool submit_charset_ok(const char *params)
{
	const char *p = strcasestr(params, "charset=");
	size_t len;

	if (p == NULL)
		return true;
	p += strlen("charset=");
	p += *p == '"';
	len = strcspn(p, "\"; \t");
	return (len == 5 && strncasecmp(p, "utf-8", 5) == 0) ||
	       (len == 8 && strncasecmp(p, "us-ascii", 8) == 0);
}

/* submit_media_type reads Content-Type ct (may be NULL) into *body.
 * Returns 0, or -1 with *e set (415, or 400 for a form without boundary). */
static int submit_media_type(const char *ct, enum submit_body *body, struct reply_error *e)
{
	const char *boundary;
	size_t len;

	ct = ct != NULL ? ct + strspn(ct, " \t") : "";
	len = strcspn(ct, "; \t");
	if (len == 8 && strncasecmp(ct, "text/csv", 8) == 0) {
		*body = SUBMIT_RAW;
		if (submit_charset_ok(ct + len))
			return 0;
		reply_error_set(e, MHD_HTTP_UNSUPPORTED_MEDIA_TYPE, "unsupported_media_type",
				"A CSV upload must be UTF-8 (text/csv; charset=utf-8).");
		return -1;
	}
	if (len == 19 && strncasecmp(ct, "multipart/form-data", 19) == 0) {
		*body = SUBMIT_FORM;
		boundary = strcasestr(ct + len, "boundary=");
		if (boundary != NULL && strcspn(boundary + 9, "; \t") > 0)
			return 0;
		reply_error_set(e, MHD_HTTP_BAD_REQUEST, "invalid_multipart",
				"The multipart/form-data Content-Type has no boundary.");
		return -1;
	}
	reply_error_set(e, MHD_HTTP_UNSUPPORTED_MEDIA_TYPE, "unsupported_media_type",
			"Send the CSV as text/csv, or as the part named file of multipart/form-data.");
	return -1;
}

/* submit_query_param applies one query parameter; MHD_NO stops the
 * iteration once s->error is set. */
static enum MHD_Result submit_query_param(void *cls, enum MHD_ValueKind kind, const char *key,
					  size_t key_size, const char *value, size_t value_size)
{
	struct submit *s = cls;

	(void)kind;
	if (value == NULL) /* "?header" without '=' */
		value_size = 0;
	if (options_apply(&s->opts, key, key_size, value != NULL ? value : "", value_size,
			  &s->error) != 0)
		return MHD_NO;
	return MHD_YES;
}

/* submit_query applies the query parameters. Returns 0, or -1 with
 * s->error set. */
static int submit_query(struct submit *s)
{
	MHD_get_connection_values_n(s->req->conn, MHD_GET_ARGUMENT_KIND, submit_query_param, s);
	return s->error.status != 0 ? -1 : 0;
}

/* submit_length_check refuses a body whose Content-Length already exceeds
 * the limit, before a byte of it is read. Returns 0, or -1 with s->error
 * set. (libmicrohttpd has checked that the header is a number.) */
static int submit_length_check(struct submit *s)
{
	const char *cl = MHD_lookup_connection_value(s->req->conn, MHD_HEADER_KIND,
						     MHD_HTTP_HEADER_CONTENT_LENGTH);
	unsigned long long n;

	if (cl == NULL)
		return 0;
	errno = 0;
	n = strtoull(cl, NULL, 10);
	if (errno != ERANGE && n <= s->body_limit)
		return 0;
	submit_too_large(s);
	return -1;
}

/* submit_idem_count counts the Idempotency-Key headers into *(int *)cls. */
static enum MHD_Result submit_idem_count(void *cls, enum MHD_ValueKind kind, const char *key,
					 const char *value)
{
	(void)kind;
	(void)value;
	if (strcasecmp(key, "Idempotency-Key") == 0)
		(*(int *)cls)++;
	return MHD_YES;
}

/* submit_idem_header reads the Idempotency-Key header, if any, into
 * s->idem_key. Returns 0, or -1 with s->error set to 400
 * invalid_idempotency_key (a bad value, or the header more than once: which
 * one the client meant cannot be told). */
static int submit_idem_header(struct submit *s)
{
	const char *v = NULL;
	size_t len = 0;
	int n = 0;

	MHD_get_connection_values(s->req->conn, MHD_HEADER_KIND, submit_idem_count, &n);
	if (n == 0)
		return 0;
	if (n == 1 && MHD_lookup_connection_value_n(s->req->conn, MHD_HEADER_KIND, "Idempotency-Key",
						    strlen("Idempotency-Key"), &v, &len) == MHD_YES &&
	    v != NULL && idem_key_valid(v, len)) {
		memcpy(s->idem_key, v, len);
		s->idem_key[len] = '\0';
		return 0;
	}
	reply_error_set(&s->error, MHD_HTTP_BAD_REQUEST, "invalid_idempotency_key",
			"Send one Idempotency-Key of 1 to %d characters of A-Z a-z 0-9 . _ : -.",
			IDEM_KEY_MAX);
	return -1;
}

/* submit_open prepares for the body: the upload of a raw CSV, or the post
 * processor of a form. Returns 0, or -1 with s->error set. */
static int submit_open(struct submit *s, enum submit_body body)
{
	if (body == SUBMIT_RAW)
		return submit_upload_start(s);
	const struct form_sink sink = { submit_file_begin, submit_file_data, s };

	form_init(&s->form, &s->opts, &s->error, &sink);
	s->pp = MHD_create_post_processor(s->req->conn, SUBMIT_PP_BUFFER, form_piece, &s->form);
	if (s->pp == NULL) {
		/* libmicrohttpd refuses a boundary it cannot handle (it needs at
		 * least two characters, though RFC 2046 allows one); that, not
		 * memory, is what a NULL here almost always means. */
		reply_error_set(&s->error, MHD_HTTP_BAD_REQUEST, "invalid_multipart",
				"The multipart boundary must be 2 to 70 characters long.");
		return -1;
	}
	return 0;
}

/* submit_free releases a submission at completion, aborting an upload
 * that was not committed (the client went away, the daemon is stopping, or
 * the submission was rejected). */
static void submit_free(struct api_request *req, enum MHD_RequestTerminationCode toe)
{
	struct submit *s = req->ctx;

	(void)toe;
	if (s->pp != NULL) /* first: it may still hand a piece to the upload */
		MHD_destroy_post_processor(s->pp);
	if (s->upload != NULL)
		upload_abort(s->upload, api_server_store(req->server));
	upload_free(s->upload);
	reply_error_clear(&s->error);
	free(s);
	req->ctx = NULL;
}

/* submit_start handles the first call: everything the headers and query
 * decide is answered now, before the client sends the body. */
static enum MHD_Result submit_start(struct api_request *req)
{
	struct reply_error e = { 0 };
	enum submit_body body;
	struct submit *s;

	if (submit_media_type(MHD_lookup_connection_value(req->conn, MHD_HEADER_KIND,
							  MHD_HTTP_HEADER_CONTENT_TYPE),
			      &body, &e) != 0)
		return reply_send_error(req, &e);
	s = calloc(1, sizeof *s);
	if (s == NULL) {
		reply_error_oom(&e);
		return reply_send_error(req, &e);
	}
	s->req = req;
	options_default(&s->opts);
	s->body_limit = req->server->cfg.max_upload + (body == SUBMIT_FORM ? SUBMIT_FORM_SLACK : 0);
	req->ctx = s;
	req->ctx_free = submit_free;
	if (submit_query(s) != 0 || submit_idem_header(s) != 0 || submit_length_check(s) != 0 ||
	    submit_open(s, body) != 0)
		return reply_send_error(req, &s->error);
	return MHD_YES;
}

/* ---- Body and end ------------------------------------------------------- */

/* submit_reject gives up the upload: the staging pieces are discarded now, and
 * the body from here on is only counted and dropped. */
static void submit_reject(struct submit *s)
{
	s->rejected = true;
	s->form.stopped = true; /* before the post processor goes: see struct form */
	if (s->pp != NULL)
		MHD_destroy_post_processor(s->pp);
	s->pp = NULL;
	if (s->upload != NULL)
		upload_abort(s->upload, api_server_store(s->req->server));
	upload_free(s->upload);
	s->upload = NULL;
	s->drain_left = s->req->server->cfg.max_upload;
}

/* submit_body_piece processes size body bytes. Returns 0, or -1 with
 * s->error set. */
static int submit_body_piece(struct submit *s, const char *data, size_t size)
{
	if (s->pp == NULL)
		return submit_feed(s, data, size);
	if (s->req->bytes_in > s->body_limit) {
		submit_too_large(s);
		return -1;
	}
	return form_feed(&s->form, s->pp, data, size);
}

/* submit_drain drops body bytes after a rejection, and cuts the client off
 * (MHD_NO: libmicrohttpd closes the connection) once it has sent more than
 * the allowance: the reply cannot go out before the body ends, and a body
 * need not end. */
static enum MHD_Result submit_drain(struct submit *s, size_t *size)
{
	if (*size > s->drain_left) {
		s->req->status = s->error.status;
		s->req->error_code = s->error.code;
		log_job(LOG_WARN, "upload cut off: the client kept sending after its rejection",
			s->req->request_id, NULL, json_pack("{s:s}", "code", s->error.code));
		return MHD_NO;
	}
	s->drain_left -= *size;
	*size = 0;
	return MHD_YES;
}

/* submit_finish ends the CSV and hands the job's enqueue to the committer,
 * which suspends the connection. Returns 2 when it did (the answer waits
 * for submit_committed); otherwise the commit was decided on this thread
 * (a replay found as the upload started, or the committer is stopping):
 * 0 (queued), 1 (an Idempotency-Key replay), or -1 with s->error set. */
static int submit_finish(struct submit *s)
{
	struct job_store *st;
	struct job_store_enqueue_cmd *cmd = NULL;
	int r;

	if (s->pp != NULL && form_close(&s->form, &s->pp) != 0)
		return -1;
	st = submit_store(s);
	if (st == NULL)
		return -1;
	r = upload_commit_prepare(s->upload, st, &cmd, &s->error);
	if (r != 0)
		return r;
	s->commit.cmd = cmd;
	s->commit.conn = s->req->conn;
	if (committer_submit(s->req->server->committer, &s->commit) == 0) {
		s->committing = true;
		return 2;
	}
	return upload_commit_wait(s->upload, st, &s->error);
}

/* submit_accepted answers 202 with the queued job and its Location. */
static enum MHD_Result submit_accepted(struct submit *s)
{
	const struct job_spec *spec = upload_spec(s->upload);
	char location[sizeof "/v1/jobs/" + JOB_ID_HEX], body[JOB_ACCEPTED_TEXT_MAX];
	struct reply_header h = { MHD_HTTP_HEADER_LOCATION, location };
	size_t len;

	snprintf(location, sizeof location, "/v1/jobs/%s", spec->id);
	memcpy(s->req->job_id, spec->id, sizeof s->req->job_id);
	metrics_job_submitted(s->req->server->metrics, spec->queue, spec->task);
	s->req->queued = spec; /* its fields go on the access line (server.h) */
	/* The template saves building and dumping a JSON value per request.
	 * It cannot fail for a job that a submission made: its names passed
	 * options.c's and auth.c's checks, so none needs escaping, and the
	 * longest such body fits (job.c asserts it at compile time). A 0
	 * would be a bug in those checks: the job is queued, the log says so. */
	len = job_accepted_text(spec, body, sizeof body);
	if (len > 0)
		return reply_json_text(s->req, MHD_HTTP_ACCEPTED, body, len, &h, 1);
	log_job(LOG_ERROR, "202 body not written", spec->request_id, spec->id, NULL);
	reply_error_set(&s->error, MHD_HTTP_INTERNAL_SERVER_ERROR, "internal_error",
			"The job was queued but its summary could not be written.");
	return reply_send_error(s->req, &s->error);
}

/* submit_replayed answers an Idempotency-Key replay: 200 with the job the
 * key names as it is now, its Location, and Idempotent-Replayed: true. */
static enum MHD_Result submit_replayed(struct submit *s)
{
	const char *id = upload_spec(s->upload)->id;
	char location[sizeof "/v1/jobs/" + JOB_ID_HEX];
	struct reply_header h[] = { { MHD_HTTP_HEADER_LOCATION, location },
				    { "Idempotent-Replayed", "true" } };
	struct job_store *st = submit_store(s);
	struct job_record rec;
	enum job_store_status rs;

	if (st == NULL)
		return reply_send_error(s->req, &s->error);
	snprintf(location, sizeof location, "/v1/jobs/%s", id);
	memcpy(s->req->job_id, id, sizeof s->req->job_id);
	log_job(LOG_INFO, "idempotent replay", s->req->request_id, id,
		json_pack("{s:s}", "idempotency_key", s->idem_key));
	rs = job_store_fetch(st, id, &rec);
	if (rs == JOB_STORE_OK)
		return reply_json(s->req, MHD_HTTP_OK, job_record_to_json(&rec), h, 2);
	/* NOT_FOUND: the job expired since the script saw it; sent again, the
	 * request makes a new job. Redis answered, so the code is not
	 * "unavailable" (which the breaker and the metrics count). */
	if (rs == JOB_STORE_NOT_FOUND) {
		reply_error_set(&s->error, MHD_HTTP_SERVICE_UNAVAILABLE, "idempotency_key_expired",
				"The job this Idempotency-Key named expired just now; send it again.");
		s->error.retry_after_s = 1;
	} else {
		reply_error_store(&s->error, rs);
	}
	return reply_send_error(s->req, &s->error);
}

/* submit_piece handles one piece of body. */
static enum MHD_Result submit_piece(struct submit *s, const char *data, size_t *size)
{
	metrics_upload_bytes(s->req->server->metrics, *size);
	if (s->rejected)
		return submit_drain(s, size);
	if (submit_body_piece(s, data, *size) != 0)
		submit_reject(s);
	*size = 0;
	return MHD_YES;
}

/* submit_answer queues the submission's reply for the commit's outcome
 * done (submit_finish's 0, 1 or -1; -1 when it was rejected before): its
 * error, 202, or the replay's 200. */
static enum MHD_Result submit_answer(struct submit *s, int done)
{
	if (!s->rejected && done < 0)
		submit_reject(s);
	if (s->rejected)
		return reply_send_error(s->req, &s->error);
	return done == 1 ? submit_replayed(s) : submit_accepted(s);
}

/* submit_committed handles the call after the committer resumed the
 * connection: the entry holds what Redis said about the job. */
static enum MHD_Result submit_committed(struct submit *s)
{
	enum job_store_status st = s->commit.status;

	s->committing = false;
	s->req->redis_answered = st != JOB_STORE_EUNAVAILABLE && st != JOB_STORE_ENOMEM;
	s->req->client_left = api_server_client_gone(s->req);
	return submit_answer(s, upload_commit_result(s->upload, api_server_store(s->req->server), st,
						     job_store_enqueue_cmd_errstr(s->commit.cmd),
						     &s->error));
}

/* submit_end handles the end of the body: the job is enqueued before the
 * reply is queued, so it exists even if the client is gone by now. The
 * enqueue usually goes through the committer; the access handler is then
 * called once more, with the result, after the connection is resumed. */
static enum MHD_Result submit_end(struct submit *s)
{
	int done;

	if (s->committing)
		return submit_committed(s);
	done = s->rejected ? -1 : submit_finish(s);
	if (done == 2)
		return MHD_YES;
	return submit_answer(s, done);
}

enum MHD_Result submit_handle(struct api_request *req, const char *upload_data,
			      size_t *upload_data_size)
{
	if (!req->started)
		return submit_start(req);
	if (*upload_data_size > 0)
		return submit_piece(req->ctx, upload_data, upload_data_size);
	return submit_end(req->ctx);
}
