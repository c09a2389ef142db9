/*
 * producer — the worker thread that claims jobs and keeps their leases.
 *
 * Its loop, while the phase is CLAIMING:
 *
 *     renew the leases of all running jobs if lease/3 has passed
 *     n = idle consumers not yet promised a job (wait up to 1 s)
 *     if n > 0: claim up to n jobs, put each in the buffer
 *               if none was claimed: block on the queues' wake lists
 *                                    (up to 1 s, never past the next renewal)
 *
 * so that it claims only jobs it can start at once, and sits in a blocking
 * Redis call, not a polling loop, while the queues are empty. Renewal is one
 * round trip for every running job; its answers become the jobs' stop
 * flags (CANCEL, LOST) in the running registry.
 *
 * Registry: with each renewal (every lease/3, and once at start) it also
 * writes the worker's heartbeat (job_store_heartbeat: {p}:worker:{id} with
 * a TTL of a whole lease, and its score in {p}:workers),
 * one more round trip right after the renewal's; at the end of its thread
 * it deletes both (job_store_unregister), so a worker that exits cleanly
 * leaves nothing and one that dies disappears within a lease.
 *
 * Idleness (--exit-when-idle): the producer remembers when the worker was
 * last busy — a job running or buffered, a claim that found one, or a
 * Redis call that failed (the queues may hold jobs it cannot see). When
 * that is --exit-when-idle ago, it sends WORKER_SIG_STOP to its own
 * process, once; main then shuts down as on SIGTERM.
 *
 * Data layout: each heartbeat also reads the layout version in use
 * ({p}:schema_version, see job_store.h), and each claim refuses to take
 * anything under a newer one than this worker's (claim.lua answers
 * EREFUSED; finish_next.lua claims nothing). Either way jobs may be queued
 * that this worker would misread: the producer logs it, claims nothing
 * more and sends WORKER_SIG_STOP; main shuts down and exits 2.
 *
 * On shutdown (phase DRAINING) it stops claiming, closes the buffer so that
 * idle consumers exit, and goes on renewing the leases of the jobs still
 * running until the phase is DONE.
 *
 * Redis failures: every failed call waits a backoff step (100 ms doubling
 * to 5 s, full jitter) before the loop tries again; an outage is logged
 * when it starts and when it ends, not at every try.
 *
 * Ownership: producer_start opens the producer's job_store; from then on
 * only the producer's thread uses it, and producer_join closes it. The
 * settings, buffer and registry are borrowed and shared.
 */
#ifndef JOBQ_PRODUCER_H
#define JOBQ_PRODUCER_H

#include <pthread.h>
#include <stdatomic.h>
#include <stdbool.h>

#include "backoff.h"
#include "job_buffer.h"
#include "job_store.h"
#include "running.h"
#include "worker.h"

/* Why the producer asked its process to stop (WORKER_SIG_STOP). */
enum producer_stop {
	PRODUCER_STOP_NONE,   /* it did not */
	PRODUCER_STOP_IDLE,   /* --exit-when-idle is due */
	PRODUCER_STOP_SCHEMA, /* the data layout in use is newer than this worker's */
};

struct producer {
	const struct worker_settings *settings; /* shared, read-only */
	struct job_buffer *buffer;              /* shared */
	struct running *running;                /* shared */
	struct job_store *store;                /* used only by the producer thread */
	struct job_claim *claims;               /* scratch: the registry's capacity */
	enum job_store_status *answers;         /* scratch: the registry's capacity */
	int64_t next_renewal_ms;                /* worker_clock_ms */
	int64_t housekeep_at;                   /* worker_clock_ms of the next reaping claim */
	struct backoff backoff;
	bool outage;                            /* Redis calls are failing */
	int64_t busy_ms;                        /* worker_clock_ms when last not idle */
	atomic_int stop;                        /* enum producer_stop: why WORKER_SIG_STOP was sent */
	struct job_store_worker self;           /* heartbeat: strings point into settings / queues */
	char queues[CONFIG_LIST_MAX * 66];      /* comma list of settings->queues */
	pthread_t thread;
};

/* producer_start opens a store for s and starts the producer thread.
 * Returns 0, or -1 with *err set to a static sentence (nothing is left to
 * free). */
int producer_start(struct producer *p, const struct worker_settings *s,
		   const struct job_store_config *store_cfg, struct job_buffer *buffer,
		   struct running *running, const char **err);

/* producer_join waits for the thread to end (after running_advance to
 * DONE) and frees what producer_start made. */
void producer_join(struct producer *p);

/* producer_stop_reason tells why the producer sent WORKER_SIG_STOP
 * (PRODUCER_STOP_NONE when it did not). Any thread may ask. */
enum producer_stop producer_stop_reason(struct producer *p);

#endif
