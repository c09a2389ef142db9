/*
 * upload — the CSV of one submission, from its first byte to a queued job.
 *
 * Bytes are checked by csv_check as they arrive and are never held whole.
 * The first UPLOAD_BUFFER_SIZE bytes (256 KiB) stay in a buffer; when the
 * buffer is full and more bytes come, its content is appended to the job's
 * staging pieces in Redis (JOB_INPUT_PIECE bytes each, a multiple of the
 * buffer's size, so that a flush fills one piece; a piece's first bytes
 * create it with the staging TTL) and the buffer is refilled. At the end, the job's enqueue command
 * (job_store_enqueue_cmd) takes what is left in the buffer and makes the
 * job visible atomically, so an upload that fits the buffer costs no round
 * trip of its own (the committer sends it with others, committer.h) and a
 * larger one never exists half-way as a job.
 *
 * With an Idempotency-Key (upload_idempotent), every CSV byte also goes
 * into the submission's fingerprint (idem.h), and the enqueue checks and
 * records the key in the same script: a key that already names a job
 * makes the commit a replay, which queues nothing and discards the staged
 * bytes. The key is claimed only there, at enqueue: two uploads with the
 * same key may stream at the same time, and the one that ends second
 * replays (or mismatches) the first. When the key already names a job as
 * the upload starts (the usual retry), nothing is staged at all: the bytes
 * are checked and fingerprinted only, and the commit compares fingerprints
 * with the key's record.
 *
 * States:
 *
 *     open --upload_commit_prepare 0, then _result (or _wait) 0--> committed
 *       \--upload_commit_prepare 1, or _result (or _wait) 1--> replayed
 *           (the key's job; nothing stored)
 *       \--any -1 from feed or commit--> failed --upload_abort--> aborted
 *
 * After a failure the caller aborts: upload_abort deletes the staging
 * pieces, best effort, one command each; their TTL (--staging-ttl) is the
 * durable fallback. A commit that queues nothing (a refusal or a replay)
 * deletes them the same way in upload_commit_result: enqueue.lua leaves
 * them, so that no script frees a whole large upload at once.
 *
 * The job_store is passed to each call rather than kept: it belongs to the
 * calling thread (server.h), and an upload is driven only by the thread
 * that owns its connection.
 *
 * Errors are reported as the HTTP error the submission is to be answered
 * with (reply.h). Redis failures are also logged with the store's sentence,
 * which clients never see.
 */
#ifndef JOBQ_API_UPLOAD_H
#define JOBQ_API_UPLOAD_H

#include <stddef.h>
#include <stdint.h>

#include "job.h"
#include "job_store.h"
#include "reply.h"

#define UPLOAD_BUFFER_SIZE (256 * 1024)

/* A flush fills part of one staging piece, never two (job_store_stage_append
 * would split it, at a round trip's cost). */
_Static_assert(JOB_INPUT_PIECE % UPLOAD_BUFFER_SIZE == 0,
	       "a staging piece holds a whole number of upload buffers");

/* The buffer's first size; it doubles as bytes come, up to the above. */
#define UPLOAD_BUFFER_MIN (4 * 1024)

/* Retry-After of 503 queue_full: long enough for workers to drain some of
 * the queue, short enough not to leave them idle. */
#define UPLOAD_QUEUE_FULL_RETRY_S 5

struct upload_limits {
	uint64_t max_upload;  /* most CSV bytes (--max-upload) */
	size_t max_field;     /* longest field (--max-field) */
	int staging_ttl_s;    /* TTL of each staging piece (--staging-ttl) */
	int64_t max_queue_depth; /* the store's backpressure limit, for the 503 (0: none) */
};

struct upload;

/* upload_new starts the upload of a job described by spec: task, queue,
 * request_id, delimiter, header, max_attempts and timeout_s are taken from
 * it; the id is made here, the counts and created_at at commit. Returns the
 * upload (free with upload_free), or NULL with *err set (503
 * out_of_memory, or 500 internal_error when no random id could be made). */
struct upload *upload_new(const struct job_spec *spec, const struct upload_limits *lim,
			  struct reply_error *err);

/* upload_feed takes the next len bytes of CSV. Returns 0, or -1 with *err
 * set: 413 payload_too_large, 422 with the CSV problem's code, 503
 * unavailable or out_of_memory, 500 internal_error. */
int upload_feed(struct upload *up, struct job_store *st, const char *buf, size_t len,
		struct reply_error *err);

/* upload_idempotent makes the upload carry an Idempotency-Key: key
 * (validated by the caller) for tenant ("" without auth), copied. params
 * are the submission's options in a fixed text form; they start the
 * fingerprint, which the CSV bytes continue. It looks the key up in st:
 * when it names a job, the upload stages nothing. Call it before the first
 * upload_feed. Returns 0, or -1 with *err set (503 unavailable or
 * out_of_memory, 500 internal_error). */
int upload_idempotent(struct upload *up, struct job_store *st, const char *tenant,
		      const char *key, const char *params, size_t len, struct reply_error *err);

/* upload_commit_prepare ends the CSV and builds the job's enqueue command
 * without sending it (for the committer, committer.h). Returns 0 with *cmd
 * set (owned by up, valid until upload_free; it borrows up's buffer and
 * key): send it, then call upload_commit_result (or upload_commit_wait).
 * Returns 1 for a replay decided here, without a command: the upload
 * staged nothing because its Idempotency-Key named a job when it started,
 * and the key's record, read again from st, has the same fingerprint
 * (upload_spec's id is that job's). Or -1 with *err set: 422 with the CSV
 * problem's code, 422 idempotency_mismatch, 503 (also when the key's job
 * expired meanwhile: sent again, it makes a new job), 500. */
int upload_commit_prepare(struct upload *up, struct job_store *st,
			  struct job_store_enqueue_cmd **cmd, struct reply_error *err);

/* upload_commit_result takes the status the prepared command got from
 * Redis (errstr: the store's sentence for a failure). st is this thread's
 * store (NULL allowed): a 413 reads Redis's limit with it. Returns 0 (the
 * job is queued), 1 (a replay: the key names a job with the same
 * fingerprint; upload_spec's id is that job's, nothing was stored), or -1
 * with *err set and the failure logged; unless 0, the staging pieces are
 * deleted (with st, best effort) before it returns: 422 idempotency_mismatch, 408
 * staging_expired, 413 payload_too_large, 503 queue_full or unavailable,
 * 500 internal_error. */
int upload_commit_result(struct upload *up, struct job_store *st, enum job_store_status s,
			 const char *errstr, struct reply_error *err);

/* upload_commit_wait sends the command upload_commit_prepare made on st
 * and takes its reply (send and result in one call, waiting for Redis).
 * Returns as upload_commit_result. */
int upload_commit_wait(struct upload *up, struct job_store *st, struct reply_error *err);

/* upload_spec returns the job's spec (id from the start; counts and times
 * final after a successful commit). Owned by up. */
const struct job_spec *upload_spec(const struct upload *up);

/* upload_abort gives up an upload that was not committed: deletes its
 * staging pieces if any were written, best effort (st may be NULL when the
 * thread has no store; then the TTL alone cleans up). Harmless after a
 * commit or a previous abort. */
void upload_abort(struct upload *up, struct job_store *st);

/* upload_free frees up without touching Redis. NULL is allowed. */
void upload_free(struct upload *up);

#endif
