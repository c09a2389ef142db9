/*
 * consumer — a worker thread that runs one job at a time.
 *
 * For each claim it takes from the job_buffer:
 *
 *     register the job in the running registry
 *     find the task; make the task, a result_sink and a csv_reader
 *     an input of at most JOB_CLAIM_INLINE bytes came with the claim; else
 *     for each 1 MiB piece of input (job_store_read_input):
 *         for each slice of at most 64 KiB:
 *             checkpoint: stop flags, the job's deadline, and every 250 ms
 *                         job_store_progress (which also extends the lease)
 *             csv_reader_feed -> the task's field/record_end
 *     csv_reader_finish, task finish
 *     report exactly once, then unregister
 *
 * A job that succeeded is reported with job_store_finish_next: one script
 * call stores the end of the result, finishes the job and, while the
 * worker is claiming, claims this consumer's next job (with its input
 * when small), which the consumer runs at once without going through the
 * buffer. So a small job costs one round trip. Only a consumer that finds
 * nothing goes back to the buffer, where the producer claims for it and
 * blocks on the wake-up lists. Other ends (failed, cancelled, requeued)
 * are rare and reported on their own, and their result is flushed or
 * dropped first.
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
 * its input buffer; from then on only the consumer's thread uses them, and
 * consumer_join frees them. The settings, buffer and registry are borrowed
 * and shared.
 */
#ifndef JOBQ_CONSUMER_H
#define JOBQ_CONSUMER_H

#include <pthread.h>

#include "job_buffer.h"
#include "job_store.h"
#include "running.h"
#include "worker.h"

#define CONSUMER_PIECE (1024 * 1024) /* input bytes per Redis read */
#define CONSUMER_SLICE (64 * 1024)   /* input bytes between checkpoints */
#define CONSUMER_PROGRESS_MS 250     /* between progress writes */

struct consumer {
	const struct worker_settings *settings; /* shared, read-only */
	struct job_buffer *buffer;              /* shared */
	struct running *running;                /* shared */
	struct job_store *store;                /* used only by this consumer's thread */
	char *input;                            /* CONSUMER_PIECE bytes, this thread's */
	pthread_t thread;
};

/* consumer_start opens a store, allocates the input buffer and starts the
 * thread. Returns 0, or -1 with *err set to a static sentence (nothing is
 * left to free). */
int consumer_start(struct consumer *c, const struct worker_settings *s,
		   const struct job_store_config *store_cfg, struct job_buffer *buffer,
		   struct running *running, const char **err);

/* consumer_join waits for the thread to end (after the buffer is closed)
 * and frees what consumer_start made. */
void consumer_join(struct consumer *c);

#endif
