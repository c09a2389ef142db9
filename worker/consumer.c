/*
 * consumer — see consumer.h.
 */
#include "consumer.h"

#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "backoff.h"
#include "csv_reader.h"
#include "log.h"
#include "result_sink.h"
#include "task.h"
#include "task_catalog.h"
#include "task_exec.h"

_Static_assert(CONSUMER_TAILS >= RESULT_SINK_BUFFER, "a whole sink buffer fits the tails");

/* How a job ends. RUN_GOING until the first decision, which is final. */
enum run_end {
	RUN_GOING,
	RUN_SUCCEEDED,
	RUN_FAILED,    /* code and message say why */
	RUN_CANCELLED,
	RUN_REQUEUE,   /* shutdown interrupt: give the job back */
	RUN_ABANDON,   /* the lease is, or must be assumed, lost: report nothing */
};

/* One attempt at one job: everything the consumer thread holds for it.
 * It lives on the thread's stack for the whole job. */
struct job_run {
	struct consumer *c;
	struct job_claim claim;       /* the sink borrows it */
	struct running_job *rj;
	const struct task_ops *ops;      /* a built-in task, or NULL */
	const struct task_def *exec;    /* or an external program (task_exec.h) */
	void *task;                   /* owned: ops->destroy */
	struct task_output output;    /* the task borrows it */
	struct result_sink *sink;     /* owned */
	struct csv_reader *csv;       /* owned */
	uint64_t fed;                 /* input bytes given to the reader */
	int64_t started_ms;           /* worker_clock_ms */
	int64_t next_progress_ms;     /* worker_clock_ms */
	struct backoff *backoff;      /* the consumer's (reset for each job) */
	bool outage;                  /* a Redis call of this job is failing */
	const char *gave_up;          /* why run_retry stopped retrying, or NULL */
	struct held_job *held;        /* the consumer's entry for this job (borrowed) */
	enum run_end end;
	char code[65];
	char message[512];
};

/* run_decide sets how the job ends, unless that is already decided: the
 * first reason to stop is the one reported. */
__attribute__((format(printf, 4, 5)))
static void run_decide(struct job_run *run, enum run_end end, const char *code,
		       const char *fmt, ...)
{
	va_list ap;

	if (run->end != RUN_GOING)
		return;
	run->end = end;
	snprintf(run->code, sizeof run->code, "%s", code);
	va_start(ap, fmt);
	vsnprintf(run->message, sizeof run->message, fmt, ap);
	va_end(ap);
}

/* ---- Redis calls --------------------------------------------------------- */

/* run_outage_over notes that a Redis call of this job answered. */
static void run_outage_over(struct job_run *run)
{
	if (run->outage)
		log_job(LOG_INFO, "redis available again", run->claim.request_id,
			run->claim.id, NULL);
	run->outage = false;
	backoff_reset(run->backoff);
}

/* run_give_up ends the retries of this job: it will be abandoned. */
static bool run_give_up(struct job_run *run, const char *why)
{
	run->gave_up = why;
	run_decide(run, RUN_ABANDON, "redis_unavailable", "%s", why);
	return false;
}

/* run_retry is the policy for this job's Redis calls (see consumer.h).
 * Returns true when the call that answered s should be made again, after
 * waiting a backoff step; false to accept s. When it gives up on an outage
 * it sets run->gave_up and decides RUN_ABANDON. */
static bool run_retry(struct job_run *run, enum job_store_status s)
{
	int64_t left, wait;

	if (s != JOB_STORE_EUNAVAILABLE) {
		run_outage_over(run);
		return false;
	}
	left = running_job_lease_left(run->rj, worker_lease_ms(run->c->settings));
	if (left <= 0)
		return run_give_up(run, "Redis unreachable for longer than the lease");
	if (running_job_stop(run->rj) & (RUNNING_STOP_LOST | RUNNING_STOP_INTERRUPT))
		return run_give_up(run, "Redis unreachable during shutdown");
	if (!run->outage)
		log_job(LOG_WARN, "redis unavailable, retrying", run->claim.request_id,
			run->claim.id,
			json_pack("{s:s}", "error", job_store_errstr(run->c->store)));
	run->outage = true;
	wait = backoff_next_ms(run->backoff);
	running_sleep(run->c->running, run->rj, wait < left ? wait : left);
	return true;
}

/* run_sink_retry adapts run_retry to result_sink_retry_fn. */
static bool run_sink_retry(void *ctx, enum job_store_status s)
{
	return run_retry(ctx, s);
}

/* ---- Checkpoints -------------------------------------------------------- */

/* run_check_stop turns the job's stop flags into its end. With work_done a
 * shutdown interrupt is ignored: finishing is cheaper than running again.
 * Returns true when the job must stop. */
static bool run_check_stop(struct job_run *run, bool work_done)
{
	unsigned stop = running_job_stop(run->rj);

	if (stop & RUNNING_STOP_LOST)
		run_decide(run, RUN_ABANDON, "lease_lost", "another attempt owns the job");
	else if (stop & RUNNING_STOP_CANCEL)
		run_decide(run, RUN_CANCELLED, "cancelled", "the job was cancelled");
	else if ((stop & RUNNING_STOP_INTERRUPT) && !work_done)
		run_decide(run, RUN_REQUEUE, "shutdown", "the worker is shutting down");
	return run->end != RUN_GOING;
}

/* run_progress records rows and bytes done, which also extends the lease.
 * Returns true to go on; false when the answer stops the job. */
static bool run_progress(struct job_run *run)
{
	const struct worker_settings *s = run->c->settings;
	enum job_store_status st;
	int64_t sent;

	do {
		sent = worker_clock_ms();
		st = job_store_progress(run->c->store, &run->claim,
					run->task != NULL ? run->ops->rows(run->task) : 0,
					run->fed, worker_lease_ms(s));
	} while (run_retry(run, st));
	run->next_progress_ms = worker_clock_ms() + CONSUMER_PROGRESS_MS;
	if (st == JOB_STORE_OK || st == JOB_STORE_CANCEL)
		running_job_extended(run->rj, sent);
	if (st == JOB_STORE_CANCEL)
		run_decide(run, RUN_CANCELLED, "cancelled", "the job was cancelled");
	else if (st == JOB_STORE_LOST)
		run_decide(run, RUN_ABANDON, "lease_lost", "another attempt owns the job");
	else if (st == JOB_STORE_NOT_FOUND)
		run_decide(run, RUN_ABANDON, "job_gone", "the job no longer exists");
	else if (st != JOB_STORE_OK && run->end == RUN_GOING)
		/* Not fatal: the producer's renewals keep the lease meanwhile. */
		log_job(LOG_WARN, "progress not recorded", run->claim.request_id, run->claim.id,
			json_pack("{s:s}", "error", job_store_errstr(run->c->store)));
	return run->end == RUN_GOING;
}

/* run_checkpoint is what happens between slices of input: stop flags, the
 * job's deadline, and progress when it is due. Returns true to go on. */
static bool run_checkpoint(struct job_run *run)
{
	if (run_check_stop(run, false))
		return false;
	if (run->claim.deadline_ms > 0 && job_now_ms() >= run->claim.deadline_ms) {
		run_decide(run, RUN_FAILED, "timeout", "the job ran longer than its timeout");
		return false;
	}
	if (worker_clock_ms() >= run->next_progress_ms)
		return run_progress(run);
	return true;
}

/* ---- Running the task ---------------------------------------------------- */

/* run_task_failed decides the end after the task, or the output under it,
 * failed with err. An output that failed because the lease is gone, or
 * because Redis stayed away, is not the task's fault: those were decided
 * already, or are decided here as abandoned. */
static void run_task_failed(struct job_run *run, const struct task_error *err)
{
	if (result_sink_status(run->sink) == JOB_STORE_LOST)
		run_decide(run, RUN_ABANDON, "lease_lost", "another attempt owns the job");
	run_decide(run, RUN_FAILED, err->code[0] ? err->code : "task_failed", "%s",
		   err->message[0] ? err->message : "the task failed");
}

/* run_csv_failed decides the end after csv_reader returned e. */
static void run_csv_failed(struct job_run *run, enum csv_error e)
{
	struct task_error err = {.code = ""};

	if (e == CSV_ERR_ABORTED) {
		run->ops->error(run->task, &err);
		run_task_failed(run, &err);
		return;
	}
	run_decide(run, RUN_FAILED, csv_error_code(e), "%s (line %llu)", csv_error_message(e),
		   (unsigned long long)csv_reader_line(run->csv));
}

/* run_feed gives one piece of input to the reader in slices of at most
 * CONSUMER_SLICE bytes, with a checkpoint before each. Returns true to go
 * on. */
static bool run_feed(struct job_run *run, const char *buf, size_t len)
{
	for (size_t off = 0; off < len; off += CONSUMER_SLICE) {
		size_t n = len - off < CONSUMER_SLICE ? len - off : CONSUMER_SLICE;
		enum csv_error e;

		if (!run_checkpoint(run))
			return false;
		e = csv_reader_feed(run->csv, buf + off, n);
		run->fed += n;
		if (e != CSV_OK) {
			run_csv_failed(run, e);
			return false;
		}
	}
	return true;
}

/* run_input_failed decides the end after reading the input answered st. */
static void run_input_failed(struct job_run *run, enum job_store_status st)
{
	if (st == JOB_STORE_LOST)
		run_decide(run, RUN_ABANDON, "lease_lost", "another attempt owns the job");
	else if (st == JOB_STORE_NOT_FOUND)
		run_decide(run, RUN_FAILED, "input_missing", "the job's input no longer exists");
	else
		run_decide(run, RUN_FAILED, "store_error", "reading the input failed: %s",
			   job_store_errstr(run->c->store));
}

/* run_read_piece reads up to CONSUMER_PIECE bytes of the input at offset
 * (from the Redis piece that holds them, or a layout 2 job's one key:
 * job_store_read_input), retrying while Redis is away: *piece points at them, in the
 * store's last reply (valid until the next read). GETRANGE
 * answers "" for a key that is not there, so a read that ends short of the
 * claim's bytes means the input was deleted, expired, or never written
 * where this worker looks: it fails the job input_missing rather than let
 * it succeed on part of its input. Returns true with *n set; otherwise the
 * end says why. */
static bool run_read_piece(struct job_run *run, uint64_t offset, const char **piece, size_t *n)
{
	enum job_store_status st;

	do
		st = job_store_read_input(run->c->store, run->claim.id, offset, CONSUMER_PIECE,
					  piece, n);
	while (run_retry(run, st));
	if (st != JOB_STORE_OK) {
		run_input_failed(run, st);
		return false;
	}
	if (*n < CONSUMER_PIECE && offset + *n < run->claim.bytes) {
		run_decide(run, RUN_FAILED, "input_missing",
			   "the job's input holds %llu of its %llu bytes: it was deleted or expired",
			   (unsigned long long)(offset + *n), (unsigned long long)run->claim.bytes);
		return false;
	}
	return true;
}

/* run_read_input reads the input CONSUMER_PIECE bytes at a time, never
 * all of it at once, and feeds each piece. Returns true when all of it was
 * fed. */
static bool run_read_input(struct job_run *run)
{
	uint64_t offset = 0;

	if (run->claim.inlined)
		return run_feed(run, run->claim.input, (size_t)run->claim.bytes);
	while (offset < run->claim.bytes) {
		const char *piece;
		size_t n = 0;

		if (!run_read_piece(run, offset, &piece, &n) || !run_feed(run, piece, n))
			return false;
		offset += n;
	}
	return true;
}

static void run_complete_output(struct job_run *run);

/* run_complete ends the input, lets the task write the rest of its
 * result, and stores the result. Decides the end. */
static void run_complete(struct job_run *run)
{
	struct task_error err = {.code = ""};
	enum csv_error e = csv_reader_finish(run->csv);

	if (e != CSV_OK) {
		run_csv_failed(run, e);
		return;
	}
	if (run->ops->finish(run->task, &err) != 0) {
		run_task_failed(run, &err);
		return;
	}
	run_complete_output(run);
}

/* run_complete_output decides the end once the task is done. The rest of
 * the result is stored with the finish (run_defer_success). */
static void run_complete_output(struct job_run *run)
{
	struct task_error err = {.code = ""};

	if (result_sink_status(run->sink) != JOB_STORE_OK) {
		err = (struct task_error){.code = "output_failed"};
		snprintf(err.message, sizeof err.message, "the result could not be stored: %s",
			 job_store_errstr(run->c->store));
		run_task_failed(run, &err);
		return;
	}
	if (!run_check_stop(run, true))
		run_decide(run, RUN_SUCCEEDED, "", "%s", "");
}

/* ---- External programs (task_exec.h) ------------------------------------- */

/* run_exec_read is task_exec_io.read: the input at offset, from Redis. */
static int run_exec_read(void *ctx, uint64_t offset, const char **buf, size_t *n)
{
	struct job_run *run = ctx;

	*n = 0;
	if (offset >= run->claim.bytes)
		return 0;
	if (run->claim.inlined) {
		*buf = run->claim.input + offset;
		*n = (size_t)(run->claim.bytes - offset);
		return 0;
	}
	return run_read_piece(run, offset, buf, n) ? 0 : -1;
}

/* run_exec_write is task_exec_io.write: into the result sink. */
static int run_exec_write(void *ctx, const char *buf, size_t len)
{
	struct job_run *run = ctx;

	return run->output.write(run->output.ctx, buf, len);
}

/* run_exec_check is task_exec_io.check: a checkpoint. */
static bool run_exec_check(void *ctx, uint64_t fed)
{
	struct job_run *run = ctx;

	run->fed = fed;
	return run_checkpoint(run);
}

/* run_open_sink points the job's output at the consumer's sink, restarted
 * for this attempt (one 1 MiB buffer per consumer, not one per job). */
static void run_open_sink(struct job_run *run)
{
	run->sink = run->c->sink;
	result_sink_restart(run->sink, &run->claim, run_sink_retry, run);
	run->output = result_sink_output(run->sink);
}

/* run_setup_exec finds an external program called as the job's task and
 * makes the sink; its timeout caps the job's. Returns true when both are
 * there; otherwise the end says why. */
static bool run_setup_exec(struct job_run *run)
{
	struct job_claim *cl = &run->claim;
	int64_t cap;

	run->exec = task_catalog_find(task_catalog_global(), cl->task);
	if (run->exec == NULL) {
		run_decide(run, RUN_FAILED, "unknown_task", "this worker has no task called \"%s\"",
			   cl->task);
		return false;
	}
	cap = job_now_ms() + run->exec->timeout_s * 1000;
	if (run->exec->timeout_s > 0 && (cl->deadline_ms <= 0 || cap < cl->deadline_ms))
		cl->deadline_ms = cap;
	run_open_sink(run);
	return true;
}

/* run_exec runs the external program and decides the end. */
static void run_exec(struct job_run *run)
{
	struct task_exec_io io = {run, run_exec_read, run_exec_write, run_exec_check};
	struct task_error err = {.code = ""};

	switch (task_exec_run(run->exec, &io, run->c->settings->kill_grace_s, &run->fed, &err)) {
	case TASK_EXEC_SUCCEEDED:
		run_complete_output(run);
		break;
	case TASK_EXEC_FAILED:
		run_task_failed(run, &err);
		break;
	case TASK_EXEC_STOPPED: /* the checkpoint or the input read decided */
		break;
	}
}

/* run_setup finds the task and makes the task, the sink and the reader.
 * Returns true when all are there; otherwise the end says why. */
static bool run_setup(struct job_run *run)
{
	const struct job_claim *cl = &run->claim;
	struct task_params params = {cl->delimiter, cl->header, cl->bytes};
	struct task_error err = {.code = ""};
	struct csv_reader_callbacks cbs;

	run->ops = task_find(cl->task);
	if (run->ops == NULL)
		return run_setup_exec(run);
	run_open_sink(run);
	run->task = run->ops->create(&params, &run->output, &err);
	if (run->task == NULL) {
		run_task_failed(run, &err);
		return false;
	}
	cbs = (struct csv_reader_callbacks){run->ops->field, run->ops->record_end};
	run->csv = csv_reader_new(cl->delimiter, (size_t)run->c->settings->max_field, &cbs,
				  run->task);
	if (run->csv == NULL)
		run_decide(run, RUN_FAILED, "out_of_memory", "the worker ran out of memory");
	return run->csv != NULL;
}

/* ---- Reporting ------------------------------------------------------------ */

/* run_log_abandoned says that the job is left to its lease. */
static void run_log_abandoned(struct job_run *run)
{
	log_job(LOG_WARN, "lease lost, job abandoned", run->claim.request_id, run->claim.id,
		json_pack("{s:s}", "reason", run->gave_up ? run->gave_up : run->message));
}

/* run_rows returns the data records the task has seen (0 without a task). */
static uint64_t run_rows(const struct job_run *run)
{
	return run->task != NULL ? run->ops->rows(run->task) : 0;
}

/* run_tally counts what run did so far. */
static struct job_tally run_tally(const struct job_run *run)
{
	bool threads = run->task != NULL && run->ops->threads != NULL;

	return (struct job_tally){
		.rows = run_rows(run), .bytes = run->fed,
		.result_bytes = run->sink ? result_sink_bytes(run->sink) : 0,
		.duration_ms = worker_clock_ms() - run->started_ms,
		.stats_threads = threads ? (int)run->ops->threads(run->task) : -1,
	};
}

/* log_finished writes the line for job cl reported with status (code:
 * the error code, when not succeeded) and what t counts. Every job writes
 * it: flat. */
static void log_finished(const struct job_claim *cl, enum job_status status, const char *code,
			 const struct job_tally *t)
{
	struct log_field f[7] = {
		{"status", job_status_name(status), 0},
		{"rows", NULL, (int64_t)t->rows},
		{"bytes", NULL, (int64_t)t->bytes},
		{"result_bytes", NULL, (int64_t)t->result_bytes},
		{"duration_ms", NULL, t->duration_ms},
	};
	size_t n = 5;

	if (t->stats_threads >= 0)
		f[n++] = (struct log_field){"stats_threads", NULL, t->stats_threads};
	if (status != JOB_SUCCEEDED && code != NULL)
		f[n++] = (struct log_field){"error_code", code, 0};
	log_job_flat(status == JOB_FAILED ? LOG_WARN : LOG_INFO, "job finished", cl->request_id,
		     cl->id, f, n);
}

/* run_log_finished writes the line for a job reported with status. */
static void run_log_finished(struct job_run *run, enum job_status status)
{
	struct job_tally t = run_tally(run);

	log_finished(&run->claim, status, run->code, &t);
}

static void consumer_report(struct consumer *c, bool claim_next);
static bool consumer_report_due(const struct consumer *c);

/* run_defer_success keeps the success of run in its held entry, to be
 * reported with the consumer's next batch (consumer_report). When that
 * report comes before the next job runs (consumer_report_due), the
 * result's unflushed end stays in the sink, which only the next job
 * restarts; else it is copied to the consumer's tails, after earlier
 * successes are reported when it does not fit beside theirs. */
static void run_defer_success(struct job_run *run)
{
	struct consumer *c = run->c;
	struct held_job *h = run->held;
	const char *tail;
	size_t len = result_sink_pending(run->sink, &tail);

	if (!consumer_report_due(c)) {
		if (len > CONSUMER_TAILS - c->tails_used)
			consumer_report(c, false);
		memcpy(c->tails + c->tails_used, tail, len);
		tail = c->tails + c->tails_used;
		c->tails_used += len;
	}
	h->result_type = run->exec ? run->exec->result_type : run->ops->result_type;
	h->tail = tail;
	h->tail_len = len;
	h->tally = run_tally(run);
	h->done = true;
}

/* run_finish reports the job's end as status (not succeeded: that is
 * run_defer_success), exactly once. */
static void run_finish(struct job_run *run, enum job_status status)
{
	enum job_store_status st;

	do
		st = job_store_finish(run->c->store, &run->claim, status, "", run->code,
				      run->message, run_rows(run), run->fed,
				      run->c->settings->result_ttl_s);
	while (run_retry(run, st));
	if (st == JOB_STORE_OK)
		run_log_finished(run, status);
	else if (st == JOB_STORE_LOST || run->gave_up)
		run_log_abandoned(run);
	else
		log_job(LOG_ERROR, "could not report job", run->claim.request_id, run->claim.id,
			json_pack("{s:s, s:s}", "status", job_status_name(status), "error",
				  job_store_errstr(run->c->store)));
}

/* run_fail reports a failed attempt through job_store_fail: fail.lua
 * schedules another attempt after a backoff with full jitter (drawn here,
 * from --retry-base and --retry-cap) while the job has attempts left, and
 * otherwise fails it for good as a dead letter. A missing input does not
 * come back, so that failure is final at once. */
static void run_fail(struct job_run *run)
{
	const struct worker_settings *s = run->c->settings;
	enum job_store_status st;
	bool scheduled = false;
	int64_t delay = -1;
	struct backoff b;

	if (strcmp(run->code, "input_missing") != 0) {
		backoff_init(&b, s->retry_base_ms, s->retry_cap_ms);
		delay = backoff_retry_delay_ms(&b, run->claim.attempts);
	}
	do
		st = job_store_fail(run->c->store, &run->claim, run->code, run->message,
				    run_rows(run), run->fed, delay, s->result_ttl_s, &scheduled);
	while (run_retry(run, st));
	if (st == JOB_STORE_OK && scheduled)
		log_job(LOG_WARN, "attempt failed, retry scheduled", run->claim.request_id,
			run->claim.id,
			json_pack("{s:i, s:I, s:s, s:s}", "attempt", run->claim.attempts,
				  "retry_in_ms", (json_int_t)delay, "error_code", run->code,
				  "error", run->message));
	else if (st == JOB_STORE_OK)
		run_log_finished(run, JOB_FAILED);
	else if (st == JOB_STORE_LOST || run->gave_up)
		run_log_abandoned(run);
	else
		log_job(LOG_ERROR, "could not report job", run->claim.request_id, run->claim.id,
			json_pack("{s:s, s:s}", "status", "failed", "error",
				  job_store_errstr(run->c->store)));
}

/* run_requeue gives the job back to its queue (shutdown interrupt). */
static void run_requeue(struct job_run *run)
{
	enum job_store_status st;

	do
		st = job_store_requeue(run->c->store, &run->claim);
	while (run_retry(run, st));
	if (st == JOB_STORE_OK)
		log_job(LOG_INFO, "job requeued", run->claim.request_id, run->claim.id,
			json_pack("{s:s}", "reason", "shutdown"));
	else if (st == JOB_STORE_LOST || run->gave_up)
		run_log_abandoned(run);
	else
		log_job(LOG_ERROR, "could not requeue job; its lease will expire",
			run->claim.request_id, run->claim.id,
			json_pack("{s:s}", "error", job_store_errstr(run->c->store)));
}

static void run_report(struct job_run *run)
{
	switch (run->end) {
	case RUN_SUCCEEDED:
		run_defer_success(run);
		break;
	case RUN_FAILED:
		run_fail(run);
		break;
	case RUN_CANCELLED:
		run_finish(run, JOB_CANCELLED);
		break;
	case RUN_REQUEUE:
		run_requeue(run);
		break;
	case RUN_GOING: /* every path decides; if one did not, say nothing */
	case RUN_ABANDON:
		run_log_abandoned(run);
		break;
	}
}

/* ---- Batches of jobs ------------------------------------------------------- */

/* held_unregister forgets h in the registry: its job is reported or left
 * to its lease. */
static void held_unregister(struct consumer *c, struct held_job *h)
{
	if (h->rj != NULL)
		running_remove(c->running, h->rj);
	h->rj = NULL;
	h->done = false;
}

/* consumer_hold takes the n claims as the jobs to run next, registering
 * each (its lease is renewed and its cancel seen from now on). */
static void consumer_hold(struct consumer *c, const struct job_claim *claims, size_t n)
{
	c->nheld = 0;
	c->next = 0;
	for (size_t i = 0; i < n && i < CONSUMER_BATCH; i++) {
		struct held_job *h = &c->held[c->nheld];

		h->claim = claims[i];
		h->done = false;
		h->rj = running_add(c->running, &h->claim);
		if (h->rj == NULL) { /* more jobs than the registry holds: cannot happen */
			log_job(LOG_ERROR, "running registry full; job left to its lease",
				h->claim.request_id, h->claim.id, NULL);
			continue;
		}
		c->nheld++;
	}
}

/* report_retry is the retry policy of a batch report, run_retry's for
 * several jobs: retry while the lease of every job in it may still be
 * held and the worker is not interrupting. Returns true to call again;
 * when it gives up on an outage, *why says why (a static sentence). */
static bool report_retry(struct consumer *c, enum job_store_status s, bool *outage,
			 const char **why)
{
	int64_t left = INT64_MAX, wait;

	if (s != JOB_STORE_EUNAVAILABLE)
		return false;
	for (size_t i = 0; i < c->nheld; i++)
		if (c->held[i].done) {
			int64_t l = running_job_lease_left(c->held[i].rj,
							   worker_lease_ms(c->settings));
			left = l < left ? l : left;
		}
	*why = left <= 0 ? "Redis unreachable for longer than the lease" :
			   "Redis unreachable during shutdown";
	if (left <= 0 || running_phase_now(c->running) >= RUNNING_INTERRUPTING)
		return false;
	if (!*outage)
		log_event(LOG_WARN, "redis unavailable, retrying",
			json_pack("{s:s}", "error", job_store_errstr(c->store)));
	*outage = true;
	wait = backoff_next_ms(&c->backoff);
	running_sleep(c->running, NULL, wait < left ? wait : left);
	return true;
}

/* report_gather fills done with the held jobs that succeeded and are not
 * reported yet; index[k] is done[k]'s entry. Returns how many. */
static size_t report_gather(struct consumer *c, struct job_store_done *done, size_t *index)
{
	size_t n = 0;

	for (size_t i = 0; i < c->nheld; i++) {
		struct held_job *h = &c->held[i];

		if (!h->done)
			continue;
		done[n] = (struct job_store_done){
			.claim = &h->claim, .result_type = h->result_type,
			.tail = h->tail, .tail_len = h->tail_len,
			.whole = h->tail_len == h->tally.result_bytes, .rows = h->tally.rows, .bytes = h->tally.bytes,
		};
		index[n++] = i;
	}
	return n;
}

/* report_answered logs and unregisters held job h after the batch call
 * answered st for the call and code for h; why is report_retry's reason
 * when st is EUNAVAILABLE. CANCEL: its cancel was asked before the report
 * (the pub/sub message may have come before h was registered), so the job
 * ended cancelled and its result was dropped. */
static void report_answered(struct consumer *c, struct held_job *h, enum job_store_status st,
			    enum job_store_status code, const char *why)
{
	struct job_tally dropped = h->tally; /* a cancelled job's result is dropped */

	dropped.result_bytes = 0;
	if (st == JOB_STORE_OK && code == JOB_STORE_OK)
		log_finished(&h->claim, JOB_SUCCEEDED, "", &h->tally);
	else if (st == JOB_STORE_OK && code == JOB_STORE_CANCEL)
		log_finished(&h->claim, JOB_CANCELLED, "cancelled", &dropped);
	else if (st == JOB_STORE_OK || st == JOB_STORE_EUNAVAILABLE)
		log_job(LOG_WARN, "lease lost, job abandoned", h->claim.request_id, h->claim.id,
			json_pack("{s:s}", "reason", st == JOB_STORE_OK ?
				  "another attempt owns the job" : why));
	else
		log_job(LOG_ERROR, "could not report job", h->claim.request_id, h->claim.id,
			json_pack("{s:s, s:s}", "status", "succeeded", "error",
				  job_store_errstr(c->store)));
	held_unregister(c, h);
}

/* consumer_report reports every held job that succeeded since the last
 * report in one finish_next.lua call and, with claim_next while the worker
 * is claiming, claims a batch of next jobs in the same call (which become
 * the held jobs: call it so only when every held job has run). A job whose
 * report fails is left to its lease, like a single job's. */
static void consumer_report(struct consumer *c, bool claim_next)
{
	const struct worker_settings *s = c->settings;
	struct job_store_claim_req req = {
		.worker_id = s->worker_id, .queues = s->queue_names, .nqueues = s->queues.len,
		.lease_ms = worker_lease_ms(s), .batch = c->batch_tasks,
		.max = claim_next && running_phase_now(c->running) == RUNNING_CLAIMING ?
			       CONSUMER_BATCH : 0,
	};
	struct job_store_done done[CONSUMER_BATCH];
	enum job_store_status codes[CONSUMER_BATCH], st;
	size_t index[CONSUMER_BATCH], n = report_gather(c, done, index);
	bool outage = false;
	const char *why = "";
	int claimed = 0;

	if (n == 0)
		return;
	req.housekeep = worker_housekeep_due(&c->housekeep_at, worker_clock_ms());
	backoff_reset(&c->backoff);
	for (;;) {
		st = job_store_finish_batch(c->store, done, n, s->result_ttl_s, &req, codes,
					    c->incoming, &claimed);
		if (!report_retry(c, st, &outage, &why))
			break;
		/* The lost reply may have claimed jobs (their leases run out):
		 * claiming more would only add to them. */
		req.max = 0;
	}
	if (outage && st != JOB_STORE_EUNAVAILABLE)
		log_event(LOG_INFO, "redis available again", NULL);
	for (size_t k = 0; k < n; k++)
		report_answered(c, &c->held[index[k]], st, codes[k], why);
	c->tails_used = 0;
	if (claim_next)
		consumer_hold(c, c->incoming, (size_t)claimed);
}

/* held_small tells whether h is quick to run: a built-in task whose input
 * came with the claim. Successes wait for the next batch report only
 * while the jobs run between are small. */
static bool held_small(const struct held_job *h)
{
	return h->claim.inlined && task_find(h->claim.task) != NULL;
}

/* consumer_report_due tells whether the successes held so far are
 * reported before the next held job runs: every held job has run, or the
 * next one is not small. */
static bool consumer_report_due(const struct consumer *c)
{
	return c->next == c->nheld || !held_small(&c->held[c->next]);
}

/* ---- The thread ------------------------------------------------------------ */

/* run_free frees what run_setup made (the sink is the consumer's). */
static void run_free(struct job_run *run)
{
	csv_reader_free(run->csv);
	if (run->task != NULL)
		run->ops->destroy(run->task);
}

/* consumer_run runs the job of held entry h from start to its end. A job
 * that succeeded stays registered until consumer_report reports it; any
 * other end is reported here, and the job unregistered. */
static void consumer_run(struct consumer *c, struct held_job *h)
{
	struct job_run run = {.c = c, .claim = h->claim, .held = h, .rj = h->rj,
			      .backoff = &c->backoff, .end = RUN_GOING};

	run.started_ms = worker_clock_ms();
	run.next_progress_ms = run.started_ms + CONSUMER_PROGRESS_MS;
	backoff_reset(run.backoff);
	log_job_flat(LOG_INFO, "job started", h->claim.request_id, h->claim.id,
		     (const struct log_field[]){{"task", h->claim.task, 0},
						{"queue", h->claim.queue, 0},
						{"attempt", NULL, h->claim.attempts}}, 3);
	if (run_setup(&run) && run.exec != NULL)
		run_exec(&run);
	else if (run.exec == NULL && run.csv != NULL && run_read_input(&run))
		run_complete(&run);
	run_report(&run);
	run_free(&run);
	if (!h->done)
		held_unregister(c, h);
}

/* consumer_drain runs the held jobs one after the other until it holds
 * none. Successes are reported together: when every held job has run
 * (claiming the next batch in the same call), or earlier when the next
 * job is not small, so that no success waits behind a long job. */
static void consumer_drain(struct consumer *c)
{
	while (c->next < c->nheld) {
		consumer_run(c, &c->held[c->next++]);
		if (consumer_report_due(c)) /* a no-op when none succeeded */
			consumer_report(c, c->next == c->nheld);
	}
}

static void *consumer_main(void *arg)
{
	struct consumer *c = arg;
	struct job_claim claim;

	while (job_buffer_take(c->buffer, &claim) == 0) {
		consumer_hold(c, &claim, 1);
		consumer_drain(c);
	}
	if (running_consumer_exit(c->running))
		kill(getpid(), WORKER_SIG_DRAINED);
	return NULL;
}

/* consumer_free frees what consumer_start allocated. */
static void consumer_free(struct consumer *c)
{
	job_store_close(c->store);
	free(c->held);
	free(c->incoming);
	free(c->tails);
	result_sink_free(c->sink);
}

int consumer_start(struct consumer *c, const struct worker_settings *s,
		   const struct job_store_config *store_cfg, struct job_buffer *buffer,
		   struct running *running, const char **err)
{
	*c = (struct consumer){.settings = s, .buffer = buffer, .running = running};
	/* Seeded once (getrandom): a job costs no system call for it. */
	backoff_init(&c->backoff, 100, 5000);
	c->held = calloc(CONSUMER_BATCH, sizeof *c->held);
	c->incoming = calloc(CONSUMER_BATCH, sizeof *c->incoming);
	c->tails = malloc(CONSUMER_TAILS);
	*err = "out of memory";
	if (c->held == NULL || c->incoming == NULL || c->tails == NULL)
		goto fail;
	*err = "too many built-in tasks for a batch claim";
	if (task_builtin_list(c->batch_tasks, sizeof c->batch_tasks) != 0)
		goto fail;
	c->store = job_store_open(store_cfg, err);
	if (c->store == NULL)
		goto fail;
	c->sink = result_sink_new(c->store, RESULT_SINK_BUFFER);
	*err = "out of memory";
	if (c->sink == NULL)
		goto fail;
	running_consumer_enter(running);
	if (pthread_create(&c->thread, NULL, consumer_main, c) == 0)
		return 0;
	running_consumer_exit(running);
	*err = "cannot start a consumer thread";
fail:
	consumer_free(c);
	return -1;
}

void consumer_join(struct consumer *c)
{
	pthread_join(c->thread, NULL);
	consumer_free(c);
}
