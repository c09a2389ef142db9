/*
 * job — the job model shared by the API and the worker.
 *
 * A job's life:
 *
 *     queued --claim--> running --finish--> succeeded | failed
 *        \                 |
 *         `---cancel-------+------------> cancelled
 *
 * `running` goes back to `queued` when its lease expires (a worker died) or
 * its worker shuts down; each claim counts one attempt. A failed attempt
 * with attempts left also goes back to `queued`, with retry_at, after a
 * backoff (fail.lua); the last one ends `failed` as a dead letter, which
 * POST /v1/jobs/{id}/retry can turn back into `queued`. succeeded, failed
 * and cancelled are terminal: nothing leaves them but expiry after the
 * result TTL.
 *
 * struct job_record is a job as stored in its Redis hash (the field names are
 * in keys.h); job_record_to_json renders it the way GET /v1/jobs/{id} shows
 * it. Strings in a job_record are fixed-size arrays so that a record is one
 * plain value with nothing to free.
 */
#ifndef JOBQ_JOB_H
#define JOBQ_JOB_H

#include <jansson.h>
#include <stdbool.h>
#include <stdint.h>

#define JOB_ID_HEX 32          /* 128 random bits as lowercase hex */
#define JOB_NAME_MAX 64        /* task and queue names */
#define JOB_REQUEST_ID_MAX 128 /* longest request id we keep */
#define JOB_TENANT_MAX 64      /* the API key's tenant (api/auth.h) */
#define JOB_ERROR_MESSAGE_MAX 4096
#define JOB_MAX_ATTEMPTS_MAX 100   /* max_attempts is 1..100 */
#define JOB_TIMEOUT_MAX_S 604800   /* timeout is 1 s..7 days */

enum job_status {
	JOB_QUEUED,
	JOB_RUNNING,
	JOB_SUCCEEDED,
	JOB_FAILED,
	JOB_CANCELLED,
};

/* What a submission stores: written once by the API at enqueue. */
struct job_spec {
	char id[JOB_ID_HEX + 1];
	char task[JOB_NAME_MAX + 1];
	char queue[JOB_NAME_MAX + 1];
	char request_id[JOB_REQUEST_ID_MAX + 1];
	char tenant[JOB_TENANT_MAX + 1]; /* who submitted it; "" when auth was off */
	unsigned char delimiter;
	bool header;
	uint64_t rows;    /* data records, without the header */
	uint64_t columns;
	uint64_t bytes;   /* input size */
	int64_t created_at_ms;
	int max_attempts;
	int timeout_s;
};

/* A job as it is now: the spec plus everything that changes. Times are ms
 * since the epoch, 0 when not reached. */
struct job_record {
	struct job_spec spec;
	enum job_status status;
	int attempts;
	int64_t started_at_ms;
	int64_t finished_at_ms;
	int64_t retry_at_ms;     /* queued after a failed attempt: when it runs again */
	uint64_t progress_rows;
	uint64_t progress_bytes;
	bool cancel_requested;
	char error_code[JOB_NAME_MAX + 1];          /* empty when no error */
	char error_message[JOB_ERROR_MESSAGE_MAX + 1];
	char result_type[JOB_NAME_MAX + 1];         /* media type of the result */
	uint64_t result_bytes;
};

/* job_status_name returns "queued", "running", ... (static storage). */
const char *job_status_name(enum job_status s);

/* job_status_parse sets *out from a status name. Returns 0, or -1 when name
 * is not a status. */
int job_status_parse(const char *name, enum job_status *out);

/* job_status_is_terminal returns true for succeeded, failed and cancelled. */
bool job_status_is_terminal(enum job_status s);

/* job_time_format writes ms since the epoch as RFC 3339 UTC with
 * milliseconds ("2026-11-22T04:15:02.123Z") into out. */
void job_time_format(int64_t ms, char out[32]);

/* job_now_ms returns the wall clock in ms since the epoch. */
int64_t job_now_ms(void);

/* job_task_builtin returns true when name is a task every worker has built
 * in ("profile", "ndjson"). */
bool job_task_builtin(const char *name);

/* job_record_to_json returns the GET /v1/jobs/{id} view of rec: a new
 * reference the caller releases with json_decref, or NULL when out of
 * memory. */
json_t *job_record_to_json(const struct job_record *rec);

/* JOB_ACCEPTED_TEXT_MAX is room enough for any job_accepted_text of a
 * submitted job (job.c asserts it at compile time). */
#define JOB_ACCEPTED_TEXT_MAX 512

/* job_accepted_text writes the body of the 202 reply to a submission into
 * out (cap bytes, NUL-terminated), with flatjson: the bytes json_dumps
 * (JSON_COMPACT) writes for the object {id, status "queued", task, queue,
 * tenant (when set), rows, columns, bytes, created_at}. Returns its
 * length, or 0 when it does not fit, a name is not UTF-8 or created_at is
 * unset. A submitted job's names are [A-Za-z0-9_.-] (options.c, auth.c),
 * so none is escaped and its body always fits JOB_ACCEPTED_TEXT_MAX. */
size_t job_accepted_text(const struct job_spec *spec, char *out, size_t cap);

#endif
