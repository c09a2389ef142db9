/*
 * worker — what every thread of jobq-worker reads: its settings and its
 * clock.
 *
 * The process is one producer thread (claims jobs, renews their leases),
 * --concurrency consumer threads (run one job at a time), one cancel
 * listener thread (cancel_listener.h: pub/sub cancel requests become stop
 * flags) and the main thread (signals and shutdown). They meet in three
 * places only: the
 * job_buffer (claimed jobs on their way to a consumer), the running
 * registry (jobs being run, their stop flags and the shutdown phase) and
 * struct worker_settings below.
 *
 * Ownership: main fills one worker_settings before any thread starts and
 * frees nothing in it; after that it is read-only, so it needs no lock.
 */
#ifndef JOBQ_WORKER_H
#define JOBQ_WORKER_H

#include <pthread.h>
#include <signal.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <time.h>

#include "config.h"
#include "log.h"

/* WORKER_SIG_DRAINED is the signal the last consumer thread sends the
 * process when it exits, so that main can wait for "a second SIGTERM or
 * every job done" with one sigtimedwait. It is blocked in every thread. */
#define WORKER_SIG_DRAINED SIGUSR1

/* WORKER_SIG_STOP is the signal the producer sends its own process to ask
 * for a shutdown (producer_stop_reason says why: --exit-when-idle is due,
 * or the data layout in use is newer than this worker's); main ignores one
 * that another process sent. */
#define WORKER_SIG_STOP SIGUSR2

#define WORKER_ID_MAX 128

struct worker_settings {
	char redis_url[256];
	char prefix[256];
	int concurrency;
	struct config_list queues;
	const char *queue_names[CONFIG_LIST_MAX]; /* point into queues.items */
	int result_ttl_s;
	int lease_s;
	int shutdown_grace_s;
	int64_t retry_base_ms;         /* backoff of failed jobs (full jitter) */
	int64_t retry_cap_ms;
	int dead_max;                  /* dead letters kept in {p}:dead */
	int dead_ttl_s;
	uint64_t max_field;
	int kill_grace_s;              /* SIGTERM to SIGKILL of an external task */
	int profile_threads;           /* stats threads of one large profile job */
	int exit_when_idle_s;          /* exit after this long with nothing to do; 0: never */
	enum log_level log_level;
	char worker_id[WORKER_ID_MAX]; /* "host:pid:8-hex-random" */
};

/* Each thread of a worker that claims (the producer, every consumer) has
 * its claims reap expired leases and promote due retries at most this often
 * (job_store_claim_req.housekeep): the two ZRANGEBYSCOREs were a tenth of a
 * busy worker's Redis calls, and a lease or a backoff is seconds long. A
 * lease is thus reaped, and a retry promoted, at most this much later
 * than before, by whichever worker claims next. One such claim reaps at
 * most 64 leases and promotes at most 256 retries (CLAIM_REAP_MAX and
 * CLAIM_PROMOTE_MAX, queue/scripts/lib/claim_jobs.lua): a thread drains a
 * backlog of retries at 512 a second, and the largest call stays a few
 * milliseconds of Redis's time. */
#define WORKER_HOUSEKEEP_MS 500

/* worker_housekeep_due tells whether a claim made at now should
 * housekeep, and if so moves *at, the thread's next time, on. */
static inline bool worker_housekeep_due(int64_t *at, int64_t now)
{
	if (now < *at)
		return false;
	*at = now + WORKER_HOUSEKEEP_MS;
	return true;
}

/* worker_lease_ms returns the lease in milliseconds. */
static inline int worker_lease_ms(const struct worker_settings *s)
{
	return s->lease_s * 1000;
}

/* worker_clock_ms returns a monotonic time in ms: for intervals and
 * timeouts, never for times stored in Redis (those use job_now_ms). */
static inline int64_t worker_clock_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

/* worker_timespec_after returns the CLOCK_MONOTONIC time ms from now, the
 * form pthread_cond_timedwait wants once a condition variable has been set
 * to that clock. */
static inline struct timespec worker_timespec_after(int64_t ms)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	ts.tv_sec += ms / 1000;
	ts.tv_nsec += (ms % 1000) * 1000000;
	if (ts.tv_nsec >= 1000000000) {
		ts.tv_sec++;
		ts.tv_nsec -= 1000000000;
	}
	return ts;
}

/* worker_cond_init makes c wait against CLOCK_MONOTONIC (see
 * worker_timespec_after), so that a wall clock step cannot stretch or cut a
 * timeout. Returns 0 or an errno value. */
static inline int worker_cond_init(pthread_cond_t *c)
{
	pthread_condattr_t attr;
	int rc = pthread_condattr_init(&attr);

	if (rc != 0)
		return rc;
	rc = pthread_condattr_setclock(&attr, CLOCK_MONOTONIC);
	if (rc == 0)
		rc = pthread_cond_init(c, &attr);
	pthread_condattr_destroy(&attr);
	return rc;
}

#endif
