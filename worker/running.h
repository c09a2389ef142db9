/*
 * running — the registry of the jobs a worker is running, and the worker's
 * shutdown phase.
 *
 * Shared by every thread of jobq-worker:
 *   - a consumer adds its job when it starts it and removes it once the job
 *     is reported (or abandoned); between the two it reads the job's stop
 *     flags at each checkpoint;
 *   - the producer copies the claims of all running jobs every lease/3,
 *     renews them in one round trip, and applies the answers: CANCEL and
 *     LOST become stop flags, OK moves the lease start forward;
 *   - the cancel listener (cancel_listener.h) sets STOP_CANCEL on a job
 *     whose cancel message it receives;
 *   - main advances the phase on signals.
 *
 * Phases only move forward:
 *
 *     CLAIMING --signal--> DRAINING --grace over / 2nd signal--> INTERRUPTING
 *         (the producer stops claiming)   (every job gets STOP_INTERRUPT)
 *                                                 |
 *     DONE <--- every consumer has exited --------'
 *         (the producer stops renewing)
 *
 * A job added while the phase is INTERRUPTING or later starts with
 * STOP_INTERRUPT set, so that no job escapes an interrupt.
 *
 * Stop flags are atomic so that a consumer can check them between every
 * 64 KiB of CSV without taking the lock; they are only ever set under the
 * lock, together with a broadcast, so that running_sleep never misses one.
 *
 * Ownership: the registry owns its table. A struct running_job belongs to
 * the registry; the consumer that added it may use it until it calls
 * running_remove.
 */
#ifndef JOBQ_RUNNING_H
#define JOBQ_RUNNING_H

#include <pthread.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "job_store.h"

/* Why a job must stop. Several may be set; consumers honour LOST first
 * (nothing may be reported), then CANCEL, then INTERRUPT. */
#define RUNNING_STOP_CANCEL 1u    /* the job has a cancel request */
#define RUNNING_STOP_LOST 2u      /* another attempt owns the job */
#define RUNNING_STOP_INTERRUPT 4u /* worker shutdown: requeue the job */

enum running_phase {
	RUNNING_CLAIMING,
	RUNNING_DRAINING,
	RUNNING_INTERRUPTING,
	RUNNING_DONE,
};

struct running_job {
	struct job_claim claim;          /* guarded by the registry's lock */
	bool used;                       /* guarded by the registry's lock */
	atomic_uint stop;                /* RUNNING_STOP_* bits */
	atomic_int_least64_t lease_from; /* worker_clock_ms when the last lease
	                                    extension that succeeded was sent */
};

struct running {
	pthread_mutex_t lock;    /* guards phase, consumers and each job's claim and used */
	pthread_cond_t changed;  /* broadcast when a stop flag is set or the phase advances */
	struct running_job *jobs;
	size_t capacity;
	enum running_phase phase;
	size_t consumers;        /* consumer threads started and not yet exited */
};

/* running_init sets up r for up to capacity jobs at once (at least the
 * number of consumers). Returns 0, or -1 when out of memory. Free with
 * running_destroy. */
int running_init(struct running *r, size_t capacity);

/* running_destroy frees r's table and primitives. */
void running_destroy(struct running *r);

/* running_add registers the job of claim c, its lease counted from now.
 * Returns its entry, or NULL when the table is full (more jobs than
 * consumers: a bug). */
struct running_job *running_add(struct running *r, const struct job_claim *c);

/* running_remove forgets j; the caller must not use j afterwards. */
void running_remove(struct running *r, struct running_job *j);

/* running_job_stop returns j's RUNNING_STOP_* bits (0: go on). */
unsigned running_job_stop(struct running_job *j);

/* running_job_extended records that a lease extension of j sent at
 * sent_ms (worker_clock_ms) succeeded. */
void running_job_extended(struct running_job *j, int64_t sent_ms);

/* running_job_lease_left returns how many ms of j's lease remain at the
 * latest, counting from the last extension that succeeded. */
int64_t running_job_lease_left(struct running_job *j, int lease_ms);

/* running_snapshot copies the claims of up to max running jobs to out and
 * returns how many it copied. */
size_t running_snapshot(struct running *r, struct job_claim *out, size_t max);

/* running_apply_renewal applies the answers of a renewal sent at sent_ms
 * for the n claims c: OK and CANCEL extend the lease, CANCEL and LOST set
 * stop flags. Claims whose job has ended meanwhile are skipped. */
void running_apply_renewal(struct running *r, const struct job_claim *c,
			   const enum job_store_status *status, size_t n, int64_t sent_ms);

/* running_cancel_id sets STOP_CANCEL on every running attempt of job id
 * (a cancel message: see cancel_listener.h). Returns how many it found (0
 * when this worker does not run the job). */
size_t running_cancel_id(struct running *r, const char *id);

/* running_advance moves the phase forward to p (never back). Entering
 * INTERRUPTING sets STOP_INTERRUPT on every running job. */
void running_advance(struct running *r, enum running_phase p);

/* running_phase_now returns the current phase. */
enum running_phase running_phase_now(struct running *r);

/* running_sleep waits up to ms, returning early when the phase advances
 * or, if j is not NULL, when j's stop flags change. (A change, not a flag
 * being set: a flag set before the sleep must not turn a backoff into a
 * busy loop.) */
void running_sleep(struct running *r, struct running_job *j, int64_t ms);

/* running_consumer_enter counts one more consumer thread. */
void running_consumer_enter(struct running *r);

/* running_consumer_exit counts one consumer thread gone. Returns true when
 * it was the last one. */
bool running_consumer_exit(struct running *r);

/* running_consumers returns how many consumer threads are still there. */
size_t running_consumers(struct running *r);

#endif
