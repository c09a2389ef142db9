/*
 * job_store — jobq's state in Redis, and every transition of it.
 *
 * A job_store is one hiredis connection plus the prefix and the SHA1s of the
 * Lua scripts. It belongs to exactly one thread: the API gives each of its
 * threads one, the worker gives one to its producer and one to each
 * consumer. Nothing in here is shared between stores.
 *
 * Each state transition that must be atomic is one Lua script in
 * queue/scripts/ (its header lists KEYS, ARGV and replies). Scripts are
 * loaded with SCRIPT LOAD on first use, called with EVALSHA, and loaded again
 * when Redis answers NOSCRIPT (a restart or SCRIPT FLUSH).
 *
 * Connection loss: a call that fails on I/O drops the connection and
 * returns JOB_STORE_EUNAVAILABLE; the next call reconnects. Callers decide
 * how long to wait between tries (see backoff.h). hiredis writes with
 * write(2), so a process using a store must ignore SIGPIPE, or a Redis that
 * goes away kills it.
 *
 * Fencing: each claim gives the job a new token (a counter in its hash).
 * Progress, renewal and finish carry the token; a call whose token is no
 * longer current answers JOB_STORE_LOST and changes nothing.
 *
 * Errors: functions return a job_store_status (0 is success) and leave a
 * human sentence in job_store_errstr.
 */
#ifndef JOBQ_JOB_STORE_H
#define JOBQ_JOB_STORE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "job.h"

enum job_store_status {
	JOB_STORE_OK = 0,
	JOB_STORE_NOT_FOUND = 1,       /* no such job (or a staging piece expired) */
	JOB_STORE_LOST = 2,            /* our token is no longer current */
	JOB_STORE_CANCEL = 3,          /* the job has a cancel request */
	JOB_STORE_CONFLICT = 4,        /* the job is not in the state asked for */
	JOB_STORE_INPUT_GONE = 6,      /* the job's input has expired (retry) */
	JOB_STORE_FULL = 7,            /* the queue holds max_queue_depth ids (enqueue) */
	JOB_STORE_REPLAYED = 8,        /* the Idempotency-Key names a job, same fingerprint */
	JOB_STORE_MISMATCH = 9,        /* the Idempotency-Key names a job, other fingerprint */
	JOB_STORE_TOO_LARGE = 10,      /* the input would pass Redis's longest string */
	JOB_STORE_EUNAVAILABLE = -1,   /* Redis unreachable or timed out */
	JOB_STORE_EPROTO = -2,         /* Redis answered something unexpected */
	JOB_STORE_ENOMEM = -3,
	JOB_STORE_EREFUSED = -4,       /* the data layout in use is not this binary's (schema.lua) */
};

struct job_store_config {
	const char *url;      /* redis://[:password@]host[:port][/db] or unix:///path[?db=N] */
	const char *prefix;   /* key prefix, e.g. "jobq" */
	int timeout_ms;       /* connect and command timeout (not for blocking waits) */
	/* Dead letters, written by claim's lease reaper and job_store_fail;
	 * 0 means the default (7 days, 10000, 30 days). */
	int result_ttl_s;     /* how long a job that failed for good is kept */
	int dead_max;         /* most ids kept in {p}:dead */
	int dead_ttl_s;       /* oldest id kept in {p}:dead */
	/* Backpressure (API): job_store_enqueue refuses a job when its queue
	 * already holds this many ids; 0 means no limit. */
	int64_t max_queue_depth;
	/* Most bytes of one string enqueue writes (one piece of an input):
	 * Redis's proto-max-bulk-len, past which the script's APPEND fails; 0
	 * means Redis's default, JOB_STORE_MAX_BULK_DEFAULT. */
	uint64_t max_input;
	/* jobq-api: at each new connection, claim the data layout
	 * (JOB_STORE_SCHEMA, below) before any other call; a refused claim
	 * fails the connection, and the call that made it, with EREFUSED. */
	bool schema_owner;
};

/* The version of the data layout these binaries read and write: the key
 * schema, the job hash's fields and where inputs and results live. It
 * goes up with every change an older binary would misread. 1: up to
 * small inputs and results moving into the job hash; 2: since, up to
 * inputs kept in pieces of JOB_INPUT_PIECE bytes; 3: since. The
 * version in use is {p}:schema_version, which only jobq-api raises, and
 * only while no live worker reports an older one (schema.lua); a worker
 * reports its own in each heartbeat and stops claiming when the version
 * in use is newer (heartbeat.lua). */
#define JOB_STORE_SCHEMA 3

/* An input that is not kept in the job hash is strings of this many bytes
 * (the last one shorter): {p}:job:{id}:input:{n} holds bytes
 * [n * JOB_INPUT_PIECE, (n + 1) * JOB_INPUT_PIECE), and so does its staging
 * piece {p}:staging:{id}:{n} while it streams in. Redis copies a string
 * into fresh memory as it grows and frees it in one go on its main
 * thread: 4 MiB bounds what one command costs (README, Performance). A
 * multiple of every read size that reads pieces (the worker's
 * CONSUMER_PIECE) and of the API's staging buffer, so that no read or
 * flush spans two pieces; enqueue.lua's ARGV[5]. */
#define JOB_INPUT_PIECE (4ULL << 20)

/* Redis's default proto-max-bulk-len: 512 MiB. */
#define JOB_STORE_MAX_BULK_DEFAULT (512ULL << 20)

/* Inputs up to this size come back with the claim itself (claim.lua's
 * ARGV[8]), so a small job costs no read of its own; an upload of at most
 * this size that came whole is kept in the job hash (enqueue.lua). */
#define JOB_CLAIM_INLINE 4096

/* A result of at most this size stored in one piece is the job hash's
 * field result, not a key of its own (finish_next.lua's ARGV[4]). */
#define JOB_RESULT_INLINE 4096

/* The part of a claimed job a worker needs to run it. */
struct job_claim {
	char id[JOB_ID_HEX + 1];
	uint64_t token;        /* fencing token of this attempt */
	char task[JOB_NAME_MAX + 1];
	char queue[JOB_NAME_MAX + 1];
	char request_id[JOB_REQUEST_ID_MAX + 1];
	unsigned char delimiter;
	bool header;
	uint64_t bytes;        /* input size */
	int attempts;          /* including this one */
	int64_t deadline_ms;   /* job timeout as wall-clock time, 0 = none */
	/* job_now_ms when the claim's reply came: a success reported by
	 * job_store_finish_batch gives its run time from it. */
	int64_t claimed_ms;
	bool inlined;          /* input holds the whole input (bytes of it) */
	char input[JOB_CLAIM_INLINE];
};

/* What a claim asks for (strings borrowed). */
struct job_store_claim_req {
	const char *worker_id;
	const char *const *queues; /* in order of preference */
	size_t nqueues;
	int lease_ms;
	int max;                   /* most jobs to claim; 0 is allowed */
	/* NULL to claim any max jobs. Else a batch: after the first job only
	 * jobs whose input comes with the claim and whose task is in this comma
	 * list (",profile,ndjson,"); the claim stops at the first other one,
	 * which stays queued. */
	const char *batch;
	/* Whether the call also reaps expired leases and promotes due retries
	 * (claim.lua's ARGV[10]). job_store_claim always does; a worker's
	 * threads do it at most every WORKER_HOUSEKEEP_MS each. */
	bool housekeep;
};

struct job_store;

/* job_store_open returns a store for cfg (strings are copied) or NULL when
 * out of memory or the URL is malformed (then *err, if not NULL, points to a
 * static sentence). It does not connect: the first call does. Free with
 * job_store_close. */
struct job_store *job_store_open(const struct job_store_config *cfg, const char **err);

/* job_store_close closes the connection and frees st. NULL is allowed. */
void job_store_close(struct job_store *st);

/* job_store_prefix returns st's key prefix (owned by st). */
const char *job_store_prefix(const struct job_store *st);

/* job_store_errstr returns the sentence for the last failure (owned by st). */
const char *job_store_errstr(const struct job_store *st);

/* job_store_claim_layout claims the data layout (schema.lua) for st, a
 * schema_owner store, as each new connection of one does: the version in
 * use becomes JOB_STORE_SCHEMA unless it is newer or a live worker reports
 * an older one. Returns OK; EREFUSED (job_store_errstr says why); or the
 * error of a call that failed. For a check at start and now and then:
 * connections already open are not checked again by themselves. */
enum job_store_status job_store_claim_layout(struct job_store *st);

/* job_store_layout_newer tells why st's last EREFUSED from schema.lua
 * came: true when the data's layout is newer than this binary's (running
 * it again will not help), false when live workers are older than it
 * (that passes once they are upgraded, or their entries expire). */
bool job_store_layout_newer(const struct job_store *st);

/* job_store_replies returns how many replies (errors included) Redis has
 * sent st so far: proof that Redis answered between two readings. */
uint64_t job_store_replies(const struct job_store *st);

/* job_store_ping sends PING. Returns OK or EUNAVAILABLE. */
enum job_store_status job_store_ping(struct job_store *st);

/* ---- Submission (API) ------------------------------------------------ */

/* job_store_stage_append writes len bytes of id's upload that start at
 * byte offset (the bytes staged so far) into its staging pieces
 * ({p}:staging:{id}:{n}, JOB_INPUT_PIECE bytes each), splitting them where a
 * piece ends: a piece's first bytes create it with a TTL of ttl_s seconds,
 * later ones are appended and keep it. Returns OK; TOO_LARGE when Redis
 * refused to make a piece longer than its proto-max-bulk-len (the piece is
 * as it was: the caller discards the upload); or an error. */
enum job_store_status job_store_stage_append(struct job_store *st, const char *id,
					     uint64_t offset, const char *buf, size_t len,
					     int ttl_s);

/* job_store_staging_pieces answers how many staging pieces an upload of
 * staged bytes may have written (a piece begun by a write that failed
 * counts): what job_store_discard_staging must delete. */
uint64_t job_store_staging_pieces(uint64_t staged);

/* job_store_enqueue makes the job visible, atomically: the staged input
 * (staged bytes, 0 for none) plus tail (which may be empty) become its
 * input pieces, the hash is written, and its id is pushed on its queue.
 * With staged = 0 tail is the whole input (a small upload in one round
 * trip). Returns OK, NOT_FOUND when a staging piece has expired (or holds
 * fewer bytes than staged says), FULL when the queue already holds the
 * config's max_queue_depth ids (checked in the same script), or an error;
 * on any failure nothing is visible, and the staging pieces are left for
 * the caller to discard (job_store_discard_staging). */
enum job_store_status job_store_enqueue(struct job_store *st, const struct job_spec *spec,
					const char *tail, size_t tail_len, uint64_t staged);

/* An Idempotency-Key checked and recorded by job_store_enqueue_idem
 * (strings borrowed; see api/idem.h). */
struct job_store_idem {
	const char *tenant;           /* "" when auth is off (recorded as "-") */
	const char *key;              /* the header's value */
	const char *hash;             /* the submission's fingerprint */
	int ttl_s;                    /* how long the record is kept */
	char job_id[JOB_ID_HEX + 1];  /* out: on REPLAYED or MISMATCH, the job the key names */
};

/* job_store_enqueue_idem is job_store_enqueue that, when idem is not NULL,
 * first looks the key up in the same script: when it names a job that
 * still exists it returns REPLAYED (same fingerprint) or MISMATCH (another
 * one) with that job's id in idem->job_id, queueing nothing (the staging
 * pieces are left to the caller); otherwise the job is queued and the key recorded (job
 * id and fingerprint, for idem->ttl_s) in the same step. */
enum job_store_status job_store_enqueue_idem(struct job_store *st, const struct job_spec *spec,
					     const char *tail, size_t tail_len, uint64_t staged,
					     struct job_store_idem *idem);

/* job_store_idem_lookup reads the record of Idempotency-Key key of tenant
 * ("" without auth): the job it names into job_id and its fingerprint into
 * hash (hash_cap bytes, cut to fit). Returns OK when there is a record and
 * its job still exists, NOT_FOUND when not, or an error. A plain read (two
 * round trips): it may be stale when used, so it decides nothing that must
 * be atomic; job_store_enqueue_idem does that. */
enum job_store_status job_store_idem_lookup(struct job_store *st, const char *tenant,
					    const char *key, char job_id[JOB_ID_HEX + 1],
					    char *hash, size_t hash_cap);

/* Group commit. A job_store_enqueue_cmd is one job's enqueue, built
 * (its arguments) and ready to send: job_store_enqueue_cmd_new builds it on
 * the thread that owns the upload, and job_store_enqueue_batch sends many
 * of them, from any one thread's store, as one call of enqueue.lua (up to
 * 256 jobs a call). The queue-wide work (depth, queue entry, wake-up) is
 * done once per queue per call; each job is still atomic on its own and
 * gets its own answer, as if it had been sent alone, in order. */
struct job_store_enqueue_cmd;

/* job_store_enqueue_cmd_new builds the enqueue of spec (arguments as for
 * job_store_enqueue_idem; idem may be NULL) with st's prefix and
 * max_queue_depth; it does not touch Redis. tail and idem (with its
 * strings) are borrowed: they must outlive the command, and idem->job_id
 * is written when the command's reply is read. Returns the command (free
 * with job_store_enqueue_cmd_free), or NULL when out of memory (or when its
 * arguments do not make exactly one group: a bug, answered the same way). */
struct job_store_enqueue_cmd *job_store_enqueue_cmd_new(const struct job_store *st,
							const struct job_spec *spec,
							const char *tail, size_t tail_len,
							uint64_t staged, struct job_store_idem *idem);

/* job_store_enqueue_cmd_errstr returns the sentence for cmd's failure in
 * its last job_store_enqueue_batch, "" when it had none (owned by cmd):
 * unlike job_store_errstr it is this job's, not the batch's last one. */
const char *job_store_enqueue_cmd_errstr(const struct job_store_enqueue_cmd *cmd);

/* job_store_enqueue_cmd_wrong_key copies to out (cap bytes) the key of
 * the wrong type that made cmd's last batch fail as a whole, as
 * enqueue.lua's error reply names it ("WRONGTYPE ... enqueue: <key> ...").
 * Returns true, or false (out "") when the batch did not fail so, or the
 * reply named no key (Redis's own WRONGTYPE, from a read). */
bool job_store_enqueue_cmd_wrong_key(const struct job_store_enqueue_cmd *cmd, char *out,
				     size_t cap);

/* job_store_enqueue_cmd_free frees cmd. NULL is allowed. */
void job_store_enqueue_cmd_free(struct job_store_enqueue_cmd *cmd);

/* job_store_enqueue_batch runs enqueue.lua for the n commands, one call
 * per 256 of them, and sets out[i] to command i's status, as
 * job_store_enqueue_idem would return it. Scripts Redis forgot (NOSCRIPT:
 * it restarted) are loaded again and the call sent once more. A job whose
 * input would pass cfg.max_input gets TOO_LARGE, the others of the batch
 * being queued as usual. When a call fails as a whole (an error reply,
 * such as a queue key of the wrong type, which writes nothing) every job
 * in it gets that status; after an I/O error
 * (EUNAVAILABLE) its jobs may or may not have been applied, as with a
 * single call that times out. Returns how many jobs Redis answered one by
 * one (whatever the answer): none of a call that failed as a whole. Each
 * job's sentence is in job_store_enqueue_cmd_errstr. */
size_t job_store_enqueue_batch(struct job_store *st, struct job_store_enqueue_cmd *const *cmds,
			       size_t n, enum job_store_status *out);

/* job_store_max_bulk reads Redis's proto-max-bulk-len (CONFIG GET) into
 * *bytes. Returns OK, EPROTO when Redis refuses CONFIG (renamed or
 * forbidden, as on managed Redis) or answers oddly, or EUNAVAILABLE. */
enum job_store_status job_store_max_bulk(struct job_store *st, uint64_t *bytes);

/* job_store_discard_staging deletes the first pieces staging pieces of
 * id (job_store_staging_pieces) in one round trip: the first 16 (64 MiB)
 * by one UNLINK each, the others by a TTL that ends 16 of them a second
 * from the next second on, so that neither a command nor a pass of
 * Redis's expire cycle frees a whole large upload on its main thread, and
 * the caller's thread does not wait for it. Best effort: the pieces'
 * staging TTL removes them anyway. */
enum job_store_status job_store_discard_staging(struct job_store *st, const char *id,
						uint64_t pieces);

/* ---- Reading (API) ----------------------------------------------------- */

/* job_store_fetch reads job id into *rec. Returns OK, NOT_FOUND, or an
 * error. */
enum job_store_status job_store_fetch(struct job_store *st, const char *id,
				      struct job_record *rec);

/* job_store_read_result copies up to cap bytes of id's result of total
 * bytes (the record's result_bytes) starting at offset into buf and sets
 * *n. *n < cap means the end was reached. A result of at most
 * JOB_RESULT_INLINE bytes is looked for in the job hash first (finish_one.lua
 * keeps one stored whole there), then in its key. */
enum job_store_status job_store_read_result(struct job_store *st, const char *id, uint64_t total,
					    uint64_t offset, char *buf, size_t cap,
					    size_t *n);

/* ---- Running (worker) ---------------------------------------------------- */

/* job_store_claim claims up to max queued jobs from queues (in that order
 * of preference) for worker_id, each with a lease of lease_ms, and writes
 * them to out. It also puts back on their queue up to a few jobs whose lease
 * has expired. Returns the number claimed (0..max) or a negative status. */
int job_store_claim(struct job_store *st, const char *worker_id,
		    const char *const *queues, size_t nqueues, int lease_ms,
		    struct job_claim *out, int max);

/* job_store_claim_with is job_store_claim for req: a batch as
 * req->batch says (NULL: any jobs), reaping and promoting only when
 * req->housekeep is set. */
int job_store_claim_with(struct job_store *st, const struct job_store_claim_req *req,
			 struct job_claim *out);

/* job_store_wait blocks until a job may be waiting on one of queues, or
 * timeout_s passes. Returns OK (woken or timed out; claim to find out) or an
 * error. Wake-ups may be spurious. */
enum job_store_status job_store_wait(struct job_store *st, const char *const *queues,
				     size_t nqueues, double timeout_s);

/* job_store_read_input reads up to cap bytes of id's input starting at
 * offset, never past the end of the piece that holds offset (a read at an
 * offset that is a multiple of cap, cap a divisor of JOB_INPUT_PIECE, is
 * never cut short by it): on OK *data points at them and *n says how many
 * (0 past the end, or when there is no such key). The input is looked for
 * in its pieces ({p}:job:{id}:input:{n}, layout 3) and, when the piece is
 * empty, in the one key of layout 2 ({p}:job:{id}:input): a job of either
 * layout reads the same, and a piece layout's input is never empty. The
 * bytes are st's, not copied: they stay valid until the next
 * job_store_read_input on st or job_store_close. */
enum job_store_status job_store_read_input(struct job_store *st, const char *id,
					   uint64_t offset, size_t cap, const char **data,
					   size_t *n);

/* job_store_progress records rows and bytes done and extends the lease by
 * lease_ms. Returns OK, CANCEL (go on only to stop), LOST (stop now:
 * another attempt owns the job) or an error. */
enum job_store_status job_store_progress(struct job_store *st, const struct job_claim *c,
					 uint64_t rows, uint64_t bytes, int lease_ms);

/* job_store_renew extends the leases of n claims in one round trip and
 * writes each one's answer (OK, CANCEL or LOST) to status[i]. Returns OK or
 * an error (then status is unspecified). */
enum job_store_status job_store_renew(struct job_store *st, const struct job_claim *c,
				      size_t n, int lease_ms, enum job_store_status *status);

/* job_store_result_append adds len bytes to the result this attempt is
 * writing. The result becomes visible only through job_store_finish. */
enum job_store_status job_store_result_append(struct job_store *st, const struct job_claim *c,
					      const char *buf, size_t len);

/* job_store_finish ends this attempt. status is JOB_SUCCEEDED (the written
 * result becomes the job's, with media type result_type), JOB_FAILED
 * (error_code and error_message are kept; this is job_store_fail without a
 * retry: the job is a dead letter) or JOB_CANCELLED. The job, its
 * input and result expire after ttl_s. Returns OK or LOST (nothing
 * changed), CANCEL when a success found the job's cancel requested (the
 * job ended cancelled, as a cancelled attempt ends it, and the result is
 * dropped), or an error. A success sent again by the attempt that already
 * stored it answers OK (or CANCEL) again and changes nothing, so a call
 * retried after EUNAVAILABLE reports the truth. */
enum job_store_status job_store_finish(struct job_store *st, const struct job_claim *c,
				       enum job_status status, const char *result_type,
				       const char *error_code, const char *error_message,
				       uint64_t rows, uint64_t bytes, int ttl_s);

/* One attempt that succeeded, as job_store_finish_batch reports it
 * (everything borrowed). */
struct job_store_done {
	const struct job_claim *claim;
	const char *result_type;
	const char *tail;      /* the end of the result not yet appended */
	size_t tail_len;       /* 0 for none */
	bool whole;            /* no piece was appended before: tail is all of it */
	uint64_t rows, bytes;
};

/* Most attempts one job_store_finish_batch call ends. */
#define JOB_STORE_BATCH_MAX 16

/* job_store_finish_batch ends the n (at most JOB_STORE_BATCH_MAX)
 * attempts done as succeeded, each like job_store_finish after adding its
 * tail to its result, and claims in the same atomic script call
 * (finish_next.lua) up to req->max jobs into out, like job_store_claim.
 * codes[i] is OK, LOST or CANCEL (ended cancelled instead, as
 * job_store_finish) for done[i] (each is fenced on its own: a stale
 * one changes nothing, the others finish); *claimed is how many jobs were
 * claimed. Returns OK, or an error (then codes and *claimed say nothing;
 * *claimed is 0). After EUNAVAILABLE the call may have run: a retry
 * answers OK again for the finishes that ran (see job_store_finish), but
 * the jobs the lost reply claimed are held by no one until their lease
 * expires, so a retry should claim nothing (req->max 0). */
enum job_store_status job_store_finish_batch(struct job_store *st,
					     const struct job_store_done *done, size_t n,
					     int ttl_s, const struct job_store_claim_req *req,
					     enum job_store_status *codes, struct job_claim *out,
					     int *claimed);

/* job_store_requeue gives the job back to its queue without counting the
 * attempt (worker shutdown). Returns OK or LOST, or an error. */
enum job_store_status job_store_requeue(struct job_store *st, const struct job_claim *c);

/* ---- Cancelling (API) ------------------------------------------------------ */

/* job_store_cancel cancels job id in one atomic step (cancel.lua) and
 * writes the job as it is afterwards to *rec. Returns
 *   OK         the job is cancelled: it was waiting (queued, or scheduled
 *              for a retry) and is now off its queue, cancelled with error
 *              "cancelled" / message, kept ttl_s more seconds; or it was
 *              cancelled already (nothing changed: asking twice is fine);
 *   CANCEL     the job is running: cancel_requested is set (or was) and
 *              its id published on {p}:cancel; the worker stops it at its
 *              next checkpoint and finishes it as cancelled;
 *   CONFLICT   the job succeeded or failed; nothing changed;
 *   NOT_FOUND  no such job, or it belongs to another tenant than owner
 *              (*rec is unspecified);
 * or an error (then nothing is known about the job). owner "" means any
 * tenant's job. */
enum job_store_status job_store_cancel(struct job_store *st, const char *id, int ttl_s,
				       const char *message, const char *owner,
				       struct job_record *rec);

/* ---- Retries and dead letters -------------------------------------------- */

/* job_store_fail ends a failed attempt (fail.lua): when retry_delay_ms >= 0,
 * the job has attempts left and no cancel was requested, it goes back to
 * queued with retry_at = now + retry_delay_ms and waits in {p}:scheduled
 * until a claim promotes it (*scheduled = true); otherwise it fails for
 * good: status failed, kept ttl_s seconds, its id in {p}:dead (capped by
 * the store's dead_max and dead_ttl_s). Either way code and message become
 * the job's error and are appended to {p}:job:{id}:errors. scheduled may be
 * NULL. Returns OK or LOST (nothing changed), or an error. */
enum job_store_status job_store_fail(struct job_store *st, const struct job_claim *c,
				     const char *code, const char *message, uint64_t rows,
				     uint64_t bytes, int64_t retry_delay_ms, int ttl_s,
				     bool *scheduled);

/* job_store_retry queues failed job id again (retry.lua): attempts 0, no
 * error, out of {p}:dead, at the back of its queue, no TTL. Returns OK;
 * NOT_FOUND; CONFLICT when the job is not failed (its status name is
 * copied to status, 16 bytes); INPUT_GONE when its input has expired; or an
 * error. Nothing changes unless OK. A job of another tenant than owner ("":
 * any) is NOT_FOUND. */
enum job_store_status job_store_retry(struct job_store *st, const char *id, const char *owner,
				      char status[16]);

/* job_store_errors reads id's errors list into *out: a new JSON array (the
 * caller releases it with json_decref) of one object per failed attempt,
 * oldest first, {"attempt","code","message","worker","at"} with "at" in ms
 * since the epoch; empty when there is none. Returns OK, ENOMEM, or an
 * error. */
enum job_store_status job_store_errors(struct job_store *st, const char *id, json_t **out);

/* ---- The worker registry ------------------------------------------------- */

/* What a worker tells about itself in each heartbeat (strings borrowed). */
struct job_store_worker {
	const char *id;          /* "host:pid:random" */
	int64_t started_at_ms;   /* ms since epoch */
	const char *queues;      /* comma list */
	int concurrency;
};

/* job_store_heartbeat writes w's entry {p}:worker:{id} (with now as its
 * heartbeat) with a TTL of ttl_ms, and its score in {p}:workers
 * (heartbeat.lua, one round trip). Its running jobs are not in it: they
 * are the ones {p}:running holds under its id (job_store_overview). The
 * entry says the worker's layout version, JOB_STORE_SCHEMA, and *schema
 * gets the one in use ({p}:schema_version; 0 when unset), in the same
 * step. Returns OK or an error. */
enum job_store_status job_store_heartbeat(struct job_store *st, const struct job_store_worker *w,
					  int64_t ttl_ms, long long *schema);

/* job_store_unregister deletes worker id's entry and its {p}:workers score
 * (on a clean exit). Returns OK or an error. */
enum job_store_status job_store_unregister(struct job_store *st, const char *id);

/* job_store_pending sets *pending to true when one of the n queues holds
 * a job, or any job runs under a lease or waits out a retry backoff
 * ({p}:running, {p}:scheduled, cluster-wide). One round trip (LLENs and
 * ZCARDs pipelined). Returns OK or an error. */
enum job_store_status job_store_pending(struct job_store *st, const char *const *queues,
					size_t n, bool *pending);

/* job_store_overview sets *out to a new JSON object (the caller releases
 * it): {"queues":[...],"workers":[...]} as GET /v1/queues shows it
 * (overview.lua, which also prunes dead workers from {p}:workers). Returns
 * OK, ENOMEM, or an error. */
enum job_store_status job_store_overview(struct job_store *st, json_t **out);

/* job_store_run_bounds is the upper bounds, in seconds, of the run-time
 * buckets finish.lua and fail.lua count attempts in ({p}:metrics:duration):
 * ascending, comma-separated, each as printf's %g writes it, so that the
 * hash's field names are these very strings. */
extern const char job_store_run_bounds[];

/* job_store_metrics sets *out to a new JSON object (the caller releases
 * it) holding the metrics the scripts keep: {"finished": {"<task>|<status>":
 * n, ...}, "duration": {"<task>|<le>": n, "<task>|count": n,
 * "<task>|sum_ms": n, ...}} (keys.h). Returns OK, ENOMEM, or an error. */
enum job_store_status job_store_metrics(struct job_store *st, json_t **out);

/* A dead letter: its job's id and its time of death, which together
 * place it in {p}:dead's order (newest first, then by id descending). */
struct job_store_dead_entry {
	char id[JOB_ID_HEX + 1];
	int64_t at_ms;
};

/* job_store_dead copies up to max dead letters into out, newest first,
 * and sets *n: from the newest when after is NULL, else those that come
 * after *after in that order, whether or not *after is still a dead letter
 * (dead_page.lua, one round trip; a member of {p}:dead that is no job id,
 * written by hand, is passed over). *more tells whether max came, so that
 * more may follow. Returns OK or an error. */
enum job_store_status job_store_dead(struct job_store *st, const struct job_store_dead_entry *after,
				     struct job_store_dead_entry *out, size_t max, size_t *n,
				     bool *more);

/* job_store_keep_tenant keeps, in order, the first *n entries whose job's
 * tenant is tenant, and sets *n to how many; entries of jobs that are gone
 * are dropped. One round trip. Returns OK or an error. */
enum job_store_status job_store_keep_tenant(struct job_store *st, const char *tenant,
					   struct job_store_dead_entry *entries, size_t *n);

#endif
