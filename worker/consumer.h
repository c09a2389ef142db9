/*
 * consumer — a worker thread that runs one job at a time.
 *
 * For each claim it takes from the job_buffer, and each job of the batches
 * it then claims itself (below):
 *
 *     register the job in the running registry (when it is claimed)
 *     find the task; make the task and a csv_reader; restart the result_sink
 *     an input of at most JOB_CLAIM_INLINE bytes came with the claim; else
 *     for each 1 MiB piece of input (job_store_read_input):
 *         for each slice of at most 64 KiB:
 *             checkpoint: stop flags, the job's deadline, and every 250 ms
 *                         job_store_progress (which also extends the lease)
 *             csv_reader_feed -> the task's field/record_end
 *     csv_reader_finish, task finish
 *     report exactly once (a success with its batch), then unregister
 *
 * Batches. A consumer holds up to CONSUMER_BATCH claimed jobs at once,
 * each registered (so its lease is renewed and its cancel seen) from its
 * claim until it is reported, and runs them one after the other. A job
 * that succeeded is not reported at once: its result's unflushed end stays
 * in the sink when the report follows before another job runs, and is
 * copied aside when one does; when every held job has run, one script call
 * (job_store_finish_batch, finish_next.lua) stores each result's end,
 * finishes each job, fenced by its own token, and, while the worker is
 * claiming, claims the consumer's next batch: up to CONSUMER_BATCH small
 * jobs (a built-in task, input inline; with their input), or one job that
 * is not small when it is first in line (alone, so that no small job
 * waits, held, behind it), which the consumer runs at once without going
 * through the buffer. So a batch of small jobs costs one round trip. The
 * successes are reported earlier, without claiming, when the next held job
 * is not small (no success waits behind a long job) or their ends do not
 * fit CONSUMER_TAILS. Only a consumer that finds nothing goes back to the
 * buffer, where the producer claims for it and blocks on the wake-up
 * lists. Other ends (failed, cancelled, requeued) are rare and reported on
 * their own, at once, and their result is flushed or dropped first; they
 * change nothing for the other held jobs. A crash loses nothing: held jobs
 * not reported yet are running in Redis under their leases, and the lease
 * reaper gives them to another attempt (each has used one at its claim,
 * started or not). A report retried after Redis did not answer claims
 * nothing: the lost reply may have claimed a batch, now held by no one
 * until its leases expire.
 *
 * How a job ends, and what is reported:
 *
 *     task done                 finish SUCCEEDED (the task's result_type)
 *     task, CSV or input error  finish FAILED with the error's code
 *     cancel (flag or answer)   finish CANCELLED, code "cancelled"
 *     deadline passed           finish FAILED, code "timeout"
 *     shutdown interrupt        job_store_requeue (the attempt does not count)
 *     lease lost                nothing: another attempt owns the job
 *
 * Redis failures during a job: the call is retried with backoff for as long
 * as the job may still own its lease, counted from the last extension that
 * succeeded (the producer's renewals fail too while Redis is down). Past
 * that, the lease must be assumed lost: the job is abandoned and the lease
 * reaper requeues it. During a shutdown interrupt a job is abandoned at the
 * first failure rather than holding the shutdown for a whole lease.
 *
 * When the buffer is closed and empty the thread exits; the last consumer
 * to exit sends the process WORKER_SIG_DRAINED.
 *
 * Ownership: consumer_start opens the consumer's job_store and allocates
 * its buffers and result sink; from then on only the consumer's thread uses them, and
 * consumer_join frees them. The settings, buffer and registry are borrowed
 * and shared.
 */
#ifndef JOBQ_CONSUMER_H
#define JOBQ_CONSUMER_H

#include <pthread.h>

#include "backoff.h"
#include "job_buffer.h"
#include "job_store.h"
#include "result_sink.h"
#include "running.h"
#include "worker.h"

#define CONSUMER_PIECE (1024 * 1024) /* input bytes per Redis read */

/* Reads start at multiples of CONSUMER_PIECE, so none spans two of the
 * input's pieces in Redis (job_store_read_input would cut it short, which
 * run_read_piece takes for a missing input). */
_Static_assert(JOB_INPUT_PIECE % CONSUMER_PIECE == 0,
	       "an input piece holds a whole number of reads");
#define CONSUMER_SLICE (64 * 1024)   /* input bytes between checkpoints */
#define CONSUMER_PROGRESS_MS 250     /* between progress writes */
#define CONSUMER_BATCH JOB_STORE_BATCH_MAX /* jobs a consumer holds at once */
#define CONSUMER_TAILS (1024 * 1024) /* bytes of unreported results' ends:
                                        at least RESULT_SINK_BUFFER */

/* What a job's "job finished" log line counts. */
struct job_tally {
	uint64_t rows, bytes, result_bytes;
	int64_t duration_ms;
	int stats_threads;            /* task_ops.threads; -1: the task has none */
};

/* One job a consumer holds: claimed and registered; waiting for its turn,
 * or (done) run, succeeded and waiting for the next batch report. */
struct held_job {
	struct job_claim claim;
	struct running_job *rj;       /* the registry's entry */
	bool done;
	/* When done: what the report needs. */
	const char *result_type;      /* static */
	/* The result's unflushed end: in tails, or still in the sink when the
	 * report follows before the next job restarts it. The result was sent
	 * whole when tail_len is tally.result_bytes. */
	const char *tail;
	size_t tail_len;
	struct job_tally tally;
};

struct consumer {
	const struct worker_settings *settings; /* shared, read-only */
	struct job_buffer *buffer;              /* shared */
	struct running *running;                /* shared */
	struct job_store *store;                /* used only by this consumer's thread */
	/* This thread's batch: held[next..nheld) are still to run; those of
	 * held[0..next) that are done succeeded and wait for the report, the
	 * ends of their results that the sink no longer holds in
	 * tails[0..tails_used). incoming receives the next batch. */
	struct held_job *held;                  /* CONSUMER_BATCH entries */
	size_t nheld, next;
	struct job_claim *incoming;             /* CONSUMER_BATCH entries */
	char *tails;                            /* CONSUMER_TAILS bytes */
	size_t tails_used;
	char batch_tasks[256];                  /* task_builtin_list */
	struct backoff backoff;                 /* Redis retries of this thread's calls */
	struct result_sink *sink;               /* restarted for each job */
	int64_t housekeep_at;                   /* worker_clock_ms of the next reaping report (WORKER_HOUSEKEEP_MS) */
	pthread_t thread;
};

/* consumer_start opens a store, allocates the buffers and starts the
 * thread. Returns 0, or -1 with *err set to a static sentence (nothing is
 * left to free). */
int consumer_start(struct consumer *c, const struct worker_settings *s,
		   const struct job_store_config *store_cfg, struct job_buffer *buffer,
		   struct running *running, const char **err);

/* consumer_join waits for the thread to end (after the buffer is closed)
 * and frees what consumer_start made. */
void consumer_join(struct consumer *c);

#endif
