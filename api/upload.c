/*
 * upload.c — checking, spooling and enqueueing one CSV upload (see
 * upload.h).
 *
 * The buffer is flushed lazily: only when it is full and another byte
 * arrives. An upload of exactly UPLOAD_BUFFER_SIZE bytes therefore still
 * goes to Redis in one enqueue call, with no staging piece.
 */
#include "upload.h"

#include <inttypes.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "csv_check.h"
#include "idem.h"
#include "ids.h"
#include "keys.h"
#include "log.h"

struct upload {
	struct job_spec spec;
	struct upload_limits lim;
	struct csv_check *check;  /* owned */
	char *buf;                /* owned, buf_cap bytes (NULL until the first byte) */
	size_t buf_cap;           /* grows by doubling up to UPLOAD_BUFFER_SIZE */
	size_t buf_len;           /* bytes in buf not yet staged */
	struct job_store_enqueue_cmd *cmd; /* owned; made by upload_commit_prepare */
	uint64_t bytes;           /* bytes fed so far */
	uint64_t staged_bytes;    /* bytes staged, the tail not counted */
	uint64_t staged_end;      /* staged_bytes, or past them while a flush is under way;
	                             0 once no staging piece may exist (none yet, or gone) */
	bool committed;
	struct idem_hash *idem;   /* owned; NULL without an Idempotency-Key */
	char idem_tenant[65];
	char idem_key[IDEM_KEY_MAX + 1];
	char replay_of[JOB_ID_HEX + 1]; /* the job the key named at the start; "" when none */
	char idem_hex[IDEM_HASH_HEX + 1]; /* the final fingerprint (upload_commit_prepare) */
	struct job_store_idem idem_rec; /* the key as up->cmd carries it (borrowed by the command) */
};

struct upload *upload_new(const struct job_spec *spec, const struct upload_limits *lim,
			  struct reply_error *err)
{
	struct upload *up = calloc(1, sizeof *up);

	if (up == NULL ||
	    (up->check = csv_check_new(spec->delimiter, spec->header, lim->max_field)) == NULL) {
		upload_free(up);
		reply_error_oom(err);
		return NULL;
	}
	up->spec = *spec;
	up->lim = *lim;
	if (ids_random_hex(up->spec.id, JOB_ID_HEX / 2) != 0) {
		log_job(LOG_ERROR, "getrandom failed: no job id", spec->request_id, NULL, NULL);
		upload_free(up);
		reply_error_set(err, MHD_HTTP_INTERNAL_SERVER_ERROR, "internal_error",
				"No job id could be made; try again.");
		return NULL;
	}
	return up;
}

/* upload_store_failed logs a failed job_store call (errstr: the store's
 * sentence) and sets *err from it. Returns -1 for the caller to return. */
static int upload_store_failed(struct upload *up, const char *errstr, const char *call,
			       enum job_store_status s, struct reply_error *err)
{
	log_job(LOG_WARN, "job store call failed", up->spec.request_id, up->spec.id,
		json_pack("{s:s, s:i, s:s}", "call", call, "status", (int)s, "error", errstr));
	reply_error_store(err, s);
	return -1;
}

/* upload_wrong_type sets *err to 500 internal_error for key, a key of the
 * wrong type (put there by hand; errstr: the store's sentence, logged;
 * prefix: the store's) that failed this submission: its queue's list or
 * wake list, or a key that failed the enqueue batch as a whole
 * ({p}:queues, an Idempotency-Key record, a staging key). An operator must
 * remove it. The answer names it only to a submission whose enqueue writes
 * it: the batch may hold other tenants' submissions, and a record key
 * holds a tenant's name. Returns -1. */
static int upload_wrong_type(struct upload *up, const char *errstr, const char *prefix,
			     const char *key, struct reply_error *err)
{
	upload_store_failed(up, errstr, "enqueue", JOB_STORE_EPROTO, err);
	if (!keys_enqueue_writes(key, prefix, up->spec.queue)) {
		reply_error_set(err, MHD_HTTP_INTERNAL_SERVER_ERROR, "internal_error",
				"A key of the wrong type in the job store failed this submission; "
				"nothing was written. An operator must remove it (see the log).");
		return -1;
	}
	reply_error_set(err, MHD_HTTP_INTERNAL_SERVER_ERROR, "internal_error",
			"The job store's key %s has the wrong type for jobq; nothing was "
			"written. An operator must remove or rename it.", key);
	reply_error_detail_name(err, "key", key);
	return -1;
}

/* upload_problem sets *err from the checker's problem: 422 with its code,
 * line and (ragged_record) field counts; 503 when the checker ran out of
 * memory. Returns -1. */
static int upload_problem(struct upload *up, struct reply_error *err)
{
	const struct csv_check_problem *p = csv_check_problem(up->check);

	if (p->code == NULL || strcmp(p->code, "out_of_memory") == 0) {
		reply_error_oom(err);
		return -1;
	}
	reply_error_set(err, MHD_HTTP_UNPROCESSABLE_CONTENT, p->code, "%s", p->message);
	reply_error_detail_u64(err, "line", p->line);
	if (strcmp(p->code, "ragged_record") == 0) {
		reply_error_detail_u64(err, "expected", p->expected);
		reply_error_detail_u64(err, "found", p->found);
	}
	return -1;
}

/* upload_redis_too_large sets *err to 413 payload_too_large: the input
 * would pass Redis's longest string (proto-max-bulk-len), a limit below
 * --max-upload only when the API could not read it at start or Redis's was
 * lowered since. limit is that limit in bytes when known, else 0. The
 * caller sees to the staging pieces. Returns -1. */
static int upload_redis_too_large(struct upload *up, const char *errstr, uint64_t limit,
				  struct reply_error *err)
{
	log_job(LOG_WARN, "input longer than Redis's string limit: submission refused",
		up->spec.request_id, up->spec.id, json_pack("{s:s}", "error", errstr));
	if (limit == 0) {
		reply_error_set(err, MHD_HTTP_CONTENT_TOO_LARGE, "payload_too_large",
				"The upload is longer than the job store (Redis) can hold in one "
				"string (its proto-max-bulk-len).");
		return -1;
	}
	reply_error_set(err, MHD_HTTP_CONTENT_TOO_LARGE, "payload_too_large",
			"The upload is longer than the job store (Redis) can hold in one string: "
			"%" PRIu64 " bytes (its proto-max-bulk-len).", limit);
	reply_error_detail_u64(err, "limit", limit);
	return -1;
}

/* upload_store_too_large answers an input Redis refused (why: the
 * store's sentence) because the string would pass its proto-max-bulk-len,
 * lowered since the API started: 413 naming the limit Redis has now, read
 * from st (once, on this rare path; unnamed when Redis does not say or st
 * is NULL). The caller sees to the staging pieces. Returns -1. */
static int upload_store_too_large(struct upload *up, struct job_store *st, const char *why,
				  struct reply_error *err)
{
	char errstr[256];
	uint64_t limit = 0;

	snprintf(errstr, sizeof errstr, "%s", why); /* why may be st's: CONFIG GET overwrites it */
	if (st == NULL || job_store_max_bulk(st, &limit) != JOB_STORE_OK)
		limit = 0;
	return upload_redis_too_large(up, errstr, limit, err);
}

/* upload_flush appends the buffer to the staging pieces (creating each the
 * first time) and empties the buffer. Returns 0, or -1 with *err set. */
static int upload_flush(struct upload *up, struct job_store *st, struct reply_error *err)
{
	enum job_store_status s;

	/* Set before the call: a SET that timed out may still have landed, and
	 * upload_abort should then try to delete its piece. */
	up->staged_end = up->staged_bytes + up->buf_len;
	s = job_store_stage_append(st, up->spec.id, up->staged_bytes, up->buf, up->buf_len,
				   up->lim.staging_ttl_s);
	if (s == JOB_STORE_TOO_LARGE) /* staged: upload_abort deletes the pieces */
		return upload_store_too_large(up, st, job_store_errstr(st), err);
	if (s != JOB_STORE_OK)
		return upload_store_failed(up, job_store_errstr(st), "stage_append", s, err);
	up->staged_bytes += up->buf_len;
	up->buf_len = 0;
	return 0;
}

/* upload_reserve makes room in the buffer for want more bytes, or as many
 * as fit under UPLOAD_BUFFER_SIZE. The buffer starts small and doubles: a
 * 1 KiB upload must not pay for touching 256 KiB. Returns 0, or -1 with
 * *err set (503 out_of_memory). */
static int upload_reserve(struct upload *up, size_t want, struct reply_error *err)
{
	size_t cap = up->buf_cap > 0 ? up->buf_cap : UPLOAD_BUFFER_MIN;
	char *buf;

	while (cap < UPLOAD_BUFFER_SIZE && cap - up->buf_len < want)
		cap *= 2;
	if (cap > UPLOAD_BUFFER_SIZE)
		cap = UPLOAD_BUFFER_SIZE;
	if (cap == up->buf_cap)
		return 0;
	buf = realloc(up->buf, cap);
	if (buf == NULL) {
		reply_error_oom(err);
		return -1;
	}
	up->buf = buf;
	up->buf_cap = cap;
	return 0;
}

/* upload_spool copies len bytes into the buffer, flushing it whenever it is
 * full and bytes remain. Returns 0, or -1 with *err set. */
static int upload_spool(struct upload *up, struct job_store *st, const char *buf, size_t len,
			struct reply_error *err)
{
	while (len > 0) {
		size_t room, n;

		if (up->buf_len == UPLOAD_BUFFER_SIZE && upload_flush(up, st, err) != 0)
			return -1;
		if (upload_reserve(up, len, err) != 0)
			return -1;
		room = up->buf_cap - up->buf_len;
		n = len < room ? len : room;
		memcpy(up->buf + up->buf_len, buf, n);
		up->buf_len += n;
		buf += n;
		len -= n;
	}
	return 0;
}

/* upload_hash_failed sets *err to 500 for a fingerprint OpenSSL could not
 * compute. Returns -1. */
static int upload_hash_failed(struct upload *up, struct reply_error *err)
{
	log_job(LOG_ERROR, "SHA-256 failed: no idempotency fingerprint", up->spec.request_id,
		up->spec.id, NULL);
	reply_error_set(err, MHD_HTTP_INTERNAL_SERVER_ERROR, "internal_error",
			"The submission's fingerprint could not be computed; try again.");
	return -1;
}

int upload_idempotent(struct upload *up, struct job_store *st, const char *tenant,
		      const char *key, const char *params, size_t len, struct reply_error *err)
{
	char hash[IDEM_HASH_HEX + 1];
	enum job_store_status s;

	up->idem = idem_hash_new();
	if (up->idem == NULL) {
		reply_error_oom(err);
		return -1;
	}
	snprintf(up->idem_tenant, sizeof up->idem_tenant, "%s", tenant);
	snprintf(up->idem_key, sizeof up->idem_key, "%s", key);
	if (idem_hash_update(up->idem, params, len) != 0)
		return upload_hash_failed(up, err);
	s = job_store_idem_lookup(st, tenant, key, up->replay_of, hash, sizeof hash);
	if (s == JOB_STORE_NOT_FOUND)
		up->replay_of[0] = '\0';
	else if (s != JOB_STORE_OK)
		return upload_store_failed(up, job_store_errstr(st), "idem_lookup", s, err);
	return 0;
}

int upload_feed(struct upload *up, struct job_store *st, const char *buf, size_t len,
		struct reply_error *err)
{
	if (len > up->lim.max_upload - up->bytes) {
		reply_error_set(err, MHD_HTTP_CONTENT_TOO_LARGE, "payload_too_large",
				"The upload is larger than the limit of %" PRIu64 " bytes.",
				up->lim.max_upload);
		reply_error_detail_u64(err, "limit", up->lim.max_upload);
		return -1;
	}
	up->bytes += len;
	if (up->idem != NULL && idem_hash_update(up->idem, buf, len) != 0)
		return upload_hash_failed(up, err);
	if (csv_check_feed(up->check, buf, len) != 0)
		return upload_problem(up, err);
	if (up->replay_of[0] != '\0')
		return 0; /* a replay to be: checked and fingerprinted, not kept */
	return upload_spool(up, st, buf, len, err);
}

/* upload_fill_spec completes the spec from the checker's final summary. */
static void upload_fill_spec(struct upload *up)
{
	const struct csv_check_summary *sum = csv_check_summary(up->check);

	up->spec.rows = sum->rows;
	up->spec.columns = sum->columns;
	up->spec.bytes = sum->bytes;
	up->spec.created_at_ms = job_now_ms();
}

/* upload_queue_full sets *err to 503 queue_full with Retry-After: the
 * enqueue script found the queue at its limit and stored nothing (the
 * staging pieces are discarded by upload_commit_result). Returns -1. */
static int upload_queue_full(struct upload *up, struct reply_error *err)
{
	log_job(LOG_WARN, "queue full: submission refused", up->spec.request_id, up->spec.id,
		json_pack("{s:s, s:I}", "queue", up->spec.queue,
			  "max_queue_depth", (json_int_t)up->lim.max_queue_depth));
	reply_error_set(err, MHD_HTTP_SERVICE_UNAVAILABLE, "queue_full",
			"The queue %s holds %" PRId64 " jobs, its limit; try again later.",
			up->spec.queue, up->lim.max_queue_depth);
	reply_error_detail_u64(err, "limit", (uint64_t)up->lim.max_queue_depth);
	err->retry_after_s = UPLOAD_QUEUE_FULL_RETRY_S;
	return -1;
}

/* upload_enqueued takes the answer s of an enqueue that was not a replay
 * (errstr: the store's sentence; st: this thread's store, for Redis's
 * limit). Returns 0 when the job is queued, or -1 with *err set. */
static int upload_enqueued(struct upload *up, struct job_store *st, enum job_store_status s,
			   const char *errstr, struct reply_error *err)
{
	char key[KEYS_MAX];

	if (s == JOB_STORE_NOT_FOUND) {
		log_job(LOG_WARN, "staged upload expired before enqueue", up->spec.request_id,
			up->spec.id, json_pack("{s:i}", "staging_ttl_s", up->lim.staging_ttl_s));
		reply_error_set(err, MHD_HTTP_REQUEST_TIMEOUT, "staging_expired",
				"The upload took longer than the staging TTL of %d s; send it again.",
				up->lim.staging_ttl_s);
		return -1;
	}
	if (s == JOB_STORE_FULL)
		return upload_queue_full(up, err);
	if (s == JOB_STORE_TOO_LARGE)
		return upload_store_too_large(up, st, errstr, err);
	if (s == JOB_STORE_EPROTO && job_store_enqueue_cmd_wrong_key(up->cmd, key, sizeof key))
		return upload_wrong_type(up, errstr, job_store_prefix(st), key, err);
	if (s != JOB_STORE_OK)
		return upload_store_failed(up, errstr, "enqueue", s, err);
	up->committed = true;
	up->staged_end = 0; /* the enqueue script renamed the staging pieces */
	return 0;
}

/* upload_seen takes a replay or mismatch (s) of the job idem names.
 * Returns 1 for a replay (the spec's id becomes the job's), or -1 with
 * *err set to 422 idempotency_mismatch. */
static int upload_seen(struct upload *up, const struct job_store_idem *idem,
		       enum job_store_status s, struct reply_error *err)
{
	if (s == JOB_STORE_REPLAYED) {
		memcpy(up->spec.id, idem->job_id, sizeof up->spec.id);
		up->committed = true;
		return 1;
	}
	reply_error_set(err, MHD_HTTP_UNPROCESSABLE_CONTENT, "idempotency_mismatch",
			"This Idempotency-Key was used for another submission, with a different CSV or options.");
	reply_error_detail_text(err, "job_id", idem->job_id, strlen(idem->job_id));
	return -1;
}

/* upload_commit_replay ends an upload that staged nothing because the key
 * named a job when it started: the key's record, read again, decides
 * between replay and mismatch. Returns 1, or -1 with *err set (503 with
 * Retry-After when the key's job is gone by now). */
static int upload_commit_replay(struct upload *up, struct job_store *st,
				struct job_store_idem *idem, struct reply_error *err)
{
	char recorded[IDEM_HASH_HEX + 1];
	enum job_store_status s = job_store_idem_lookup(st, idem->tenant, idem->key, idem->job_id,
							recorded, sizeof recorded);

	if (s == JOB_STORE_NOT_FOUND) {
		log_job(LOG_WARN, "idempotency key's job expired during its replay", up->spec.request_id,
			up->replay_of, NULL);
		/* Not "unavailable": Redis answered, so neither the breaker nor
		 * jobq_redis_errors_total may count it. */
		reply_error_set(err, MHD_HTTP_SERVICE_UNAVAILABLE, "idempotency_key_expired",
				"The job this Idempotency-Key named expired while the upload arrived; send it again.");
		err->retry_after_s = 1;
		return -1;
	}
	if (s != JOB_STORE_OK)
		return upload_store_failed(up, job_store_errstr(st), "idem_lookup", s, err);
	s = strcmp(recorded, idem->hash) == 0 ? JOB_STORE_REPLAYED : JOB_STORE_MISMATCH;
	return upload_seen(up, idem, s, err);
}

/* upload_commit_idem finishes the fingerprint and makes the key's part of
 * the command; an upload that staged nothing because the key named a job
 * is decided here instead. Returns 0 (send the command), 1 or -1 as
 * upload_commit_replay, or -1 with *err set. */
static int upload_commit_idem(struct upload *up, struct job_store *st, struct reply_error *err)
{
	struct job_store_idem idem = { up->idem_tenant, up->idem_key, up->idem_hex, IDEM_TTL_S, "" };

	if (idem_hash_final(up->idem, up->idem_hex) != 0)
		return upload_hash_failed(up, err);
	up->idem_rec = idem;
	if (up->replay_of[0] != '\0')
		return upload_commit_replay(up, st, &up->idem_rec, err);
	return 0;
}

int upload_commit_prepare(struct upload *up, struct job_store *st,
			  struct job_store_enqueue_cmd **cmd, struct reply_error *err)
{
	int r;

	if (csv_check_finish(up->check) != 0)
		return upload_problem(up, err);
	upload_fill_spec(up);
	r = up->idem != NULL ? upload_commit_idem(up, st, err) : 0;
	if (r != 0)
		return r;
	job_store_enqueue_cmd_free(up->cmd);
	up->cmd = job_store_enqueue_cmd_new(st, &up->spec, up->buf, up->buf_len, up->staged_bytes,
					    up->idem != NULL ? &up->idem_rec : NULL);
	if (up->cmd == NULL) {
		reply_error_oom(err);
		return -1;
	}
	*cmd = up->cmd;
	return 0;
}

static void upload_discard(struct upload *up, struct job_store *st);

int upload_commit_result(struct upload *up, struct job_store *st, enum job_store_status s,
			 const char *errstr, struct reply_error *err)
{
	/* A job not queued leaves its staging pieces to us (enqueue.lua):
	 * deleted now, one command a piece, replay or not, and before a
	 * replay makes the spec's id the key's job's. */
	if (s != JOB_STORE_OK)
		upload_discard(up, st);
	if (s == JOB_STORE_REPLAYED || s == JOB_STORE_MISMATCH)
		return upload_seen(up, &up->idem_rec, s, err);
	return upload_enqueued(up, st, s, errstr, err);
}

int upload_commit_wait(struct upload *up, struct job_store *st, struct reply_error *err)
{
	enum job_store_status s;

	job_store_enqueue_batch(st, &up->cmd, 1, &s);
	return upload_commit_result(up, st, s, job_store_enqueue_cmd_errstr(up->cmd), err);
}

const struct job_spec *upload_spec(const struct upload *up)
{
	return &up->spec;
}

/* upload_discard deletes every staging piece the upload may have written,
 * best effort (their TTL is the durable fallback), and forgets them. */
static void upload_discard(struct upload *up, struct job_store *st)
{
	uint64_t pieces = job_store_staging_pieces(up->staged_end);
	enum job_store_status s;

	if (pieces == 0 || st == NULL)
		return;
	up->staged_end = 0;
	s = job_store_discard_staging(st, up->spec.id, pieces);
	if (s != JOB_STORE_OK)
		log_job(LOG_INFO, "staging pieces left to their TTL", up->spec.request_id, up->spec.id,
			json_pack("{s:s}", "error", job_store_errstr(st)));
}

void upload_abort(struct upload *up, struct job_store *st)
{
	if (up == NULL || up->committed)
		return;
	upload_discard(up, st);
}

void upload_free(struct upload *up)
{
	if (up == NULL)
		return;
	csv_check_free(up->check);
	idem_hash_free(up->idem);
	job_store_enqueue_cmd_free(up->cmd);
	free(up->buf);
	free(up);
}
