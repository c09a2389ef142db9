/*
 * keys — the Redis key schema, written once.
 *
 * Every key jobq uses is below, under a prefix (--prefix, default "jobq").
 * The Lua scripts build the same names from the prefix they are given; the
 * README's key table is checked against keys_schema by a test.
 *
 *   {p}:job:{id}              hash    the job record; a small input is its field input
 *   {p}:job:{id}:input:{n}    string  piece n of an input not kept in the hash (> JOB_CLAIM_INLINE):
 *                                     bytes [n, n + 1) * JOB_INPUT_PIECE, byte for byte
 *   {p}:job:{id}:input        string  such an input whole, as layout 2 kept it (jobs enqueued before 3)
 *   {p}:job:{id}:result       string  the result of a succeeded job, unless it is the
 *                                     hash's field result (JOB_RESULT_INLINE, stored whole)
 *   {p}:job:{id}:partial:{token} string result being written by that attempt
 *   {p}:staging:{id}:{n}      string  piece n of an upload still streaming (TTL)
 *   {p}:queue:{name}          list    ids waiting, oldest at the right
 *   {p}:queues                set     every queue name ever used
 *   {p}:running               zset    id -> lease deadline (ms since epoch)
 *   {p}:wake:{name}           list    wake-up tokens for blocked workers
 *   {p}:scheduled             zset    id -> due time (ms) of a retry waiting out its backoff
 *   {p}:dead                  zset    id -> time of death (ms) of a job failed for good
 *   {p}:job:{id}:errors       list    one JSON line per failed attempt, oldest first (last 20)
 *   {p}:cancel                channel ids of running jobs whose cancel was asked
 *   {p}:worker:{id}           hash    a live worker: queues, concurrency, heartbeat (TTL)
 *   {p}:workers               zset    worker id -> last heartbeat (ms); pruned when listed
 *   {p}:schema_version        string  the data layout version (JOB_STORE_SCHEMA) in use
 *   {p}:idem:{tenant}:{key}   hash    an Idempotency-Key: job id and fingerprint (24 h TTL)
 *   {p}:metrics:finished      hash    "<task>|<status>" -> jobs ended so (counters)
 *   {p}:metrics:duration      hash    "<task>|<le>", "|count", "|sum_ms" -> attempt run times
 *
 * Where the input lives: an upload that came whole (not staged) of at most
 * JOB_CLAIM_INLINE bytes is the job hash's field "input", so a small job is
 * one key; any other is in pieces {p}:job:{id}:input:{n} of JOB_INPUT_PIECE
 * bytes (the last shorter), and the hash says so with the fields
 * input_key = 1 and input_pieces = their count (enqueue.lua). A job
 * enqueued before layout 3 has its input in the one key {p}:job:{id}:input
 * and no input_pieces (input_key = 1, or set by the claim for a job from
 * before inputs moved into the hash). input_key tells the scripts that
 * end a job that there are keys to give its TTL; input_pieces which
 * (lib/input.lua).
 *
 * Ownership of the staging pieces: the API thread that receives the upload
 * writes them; the enqueue script renames them to the input pieces, or
 * leaves them when it refuses the job, and that API thread deletes them
 * (one command a piece); their TTL removes them if the API dies first.
 */
#ifndef JOBQ_KEYS_H
#define JOBQ_KEYS_H

#include <stdbool.h>
#include <stddef.h>

/* Longest key name we build: prefix (<= 64) + ":job:" + id + ":partial:" + token. */
#define KEYS_MAX 192

struct keys_entry {
	const char *pattern;     /* e.g. "{p}:job:{id}" */
	const char *type;        /* Redis type */
	const char *description; /* one line */
};

/* keys_schema is the table above as data; keys_schema_len its length. */
extern const struct keys_entry keys_schema[];
extern const size_t keys_schema_len;

/* Each keys_* builder writes a key name into out (KEYS_MAX bytes) and
 * returns out. */
char *keys_job(char *out, const char *prefix, const char *id);
char *keys_input(char *out, const char *prefix, const char *id);
char *keys_result(char *out, const char *prefix, const char *id);
char *keys_input_piece(char *out, const char *prefix, const char *id, unsigned long long n);
char *keys_staging_piece(char *out, const char *prefix, const char *id, unsigned long long n);
char *keys_queue(char *out, const char *prefix, const char *queue);
char *keys_wake(char *out, const char *prefix, const char *queue);
char *keys_running(char *out, const char *prefix);
char *keys_queues(char *out, const char *prefix);

/* keys_cancel_channel writes the pub/sub channel cancel.lua publishes on
 * (not a key: it holds nothing; see worker/cancel_listener.h) and returns out. */
char *keys_cancel_channel(char *out, const char *prefix);

/* Retries and dead letters (see the scripts fail.lua and retry.lua). */
char *keys_scheduled(char *out, const char *prefix);
char *keys_dead(char *out, const char *prefix);
char *keys_errors(char *out, const char *prefix, const char *id);

/* The worker registry (heartbeat.lua, overview.lua). */
char *keys_worker(char *out, const char *prefix, const char *worker_id);
char *keys_workers(char *out, const char *prefix);

/* keys_enqueue_writes tells whether key is one that enqueue.lua writes for
 * a job of queue under prefix: {p}:queues, or that queue's list or wake
 * list (besides the job's own keys and its Idempotency-Key record). */
bool keys_enqueue_writes(const char *key, const char *prefix, const char *queue);

/* The data layout version (schema.lua, heartbeat.lua; see job_store.h). */
char *keys_schema_version(char *out, const char *prefix);

/* Longest idempotency key name: prefix (<= 64) + ":idem:" + tenant (<= 64)
 * + ":" + key (<= 128). */
#define KEYS_IDEM_MAX 272

/* keys_idem writes the name of an Idempotency-Key's record into out
 * (KEYS_IDEM_MAX bytes) and returns out. tenant "" (no auth) becomes "-". */
char *keys_idem(char *out, const char *prefix, const char *tenant, const char *key);

/* Metrics the scripts keep as they end jobs (finish.lua, fail.lua,
 * cancel.lua, claim.lua), read by GET /metrics. */
char *keys_metrics_finished(char *out, const char *prefix);
char *keys_metrics_duration(char *out, const char *prefix);

/* keys_prefix_valid returns 1 when prefix is 1..64 bytes of [A-Za-z0-9_.-:]. */
int keys_prefix_valid(const char *prefix);

#endif
