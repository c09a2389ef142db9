/*
 * running — see running.h. The table is small (one entry per consumer), so
 * lookups are linear scans under the lock.
 */
#include "running.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "worker.h"

int running_init(struct running *r, size_t capacity)
{
	*r = (struct running){.capacity = capacity, .phase = RUNNING_CLAIMING};
	r->jobs = calloc(capacity ? capacity : 1, sizeof *r->jobs);
	if (r->jobs == NULL)
		return -1;
	if (pthread_mutex_init(&r->lock, NULL) != 0)
		goto fail_jobs;
	if (worker_cond_init(&r->changed) != 0)
		goto fail_lock;
	for (size_t i = 0; i < capacity; i++) {
		atomic_init(&r->jobs[i].stop, 0);
		atomic_init(&r->jobs[i].lease_from, 0);
	}
	return 0;

fail_lock:
	pthread_mutex_destroy(&r->lock);
fail_jobs:
	free(r->jobs);
	r->jobs = NULL;
	return -1;
}

void running_destroy(struct running *r)
{
	pthread_cond_destroy(&r->changed);
	pthread_mutex_destroy(&r->lock);
	free(r->jobs);
	r->jobs = NULL;
}

struct running_job *running_add(struct running *r, const struct job_claim *c)
{
	struct running_job *j = NULL;

	pthread_mutex_lock(&r->lock);
	for (size_t i = 0; i < r->capacity && j == NULL; i++)
		if (!r->jobs[i].used)
			j = &r->jobs[i];
	if (j != NULL) {
		j->used = true;
		j->claim = *c;
		atomic_store(&j->lease_from, worker_clock_ms());
		atomic_store(&j->stop, r->phase >= RUNNING_INTERRUPTING ? RUNNING_STOP_INTERRUPT : 0);
	}
	pthread_mutex_unlock(&r->lock);
	return j;
}

void running_remove(struct running *r, struct running_job *j)
{
	pthread_mutex_lock(&r->lock);
	j->used = false;
	pthread_mutex_unlock(&r->lock);
}

unsigned running_job_stop(struct running_job *j)
{
	return atomic_load(&j->stop);
}

void running_job_extended(struct running_job *j, int64_t sent_ms)
{
	int_least64_t seen = atomic_load(&j->lease_from);

	/* The producer and the consumer both extend; keep the later one. */
	while (seen < sent_ms && !atomic_compare_exchange_weak(&j->lease_from, &seen, sent_ms))
		;
}

int64_t running_job_lease_left(struct running_job *j, int lease_ms)
{
	return atomic_load(&j->lease_from) + lease_ms - worker_clock_ms();
}

size_t running_snapshot(struct running *r, struct job_claim *out, size_t max)
{
	size_t n = 0;

	pthread_mutex_lock(&r->lock);
	for (size_t i = 0; i < r->capacity && n < max; i++)
		if (r->jobs[i].used)
			out[n++] = r->jobs[i].claim;
	pthread_mutex_unlock(&r->lock);
	return n;
}

/* running_find returns the entry running attempt c, or NULL. Caller holds
 * r->lock. */
static struct running_job *running_find(struct running *r, const struct job_claim *c)
{
	for (size_t i = 0; i < r->capacity; i++) {
		struct running_job *j = &r->jobs[i];

		if (j->used && j->claim.token == c->token && strcmp(j->claim.id, c->id) == 0)
			return j;
	}
	return NULL;
}

void running_apply_renewal(struct running *r, const struct job_claim *c,
			   const enum job_store_status *status, size_t n, int64_t sent_ms)
{
	pthread_mutex_lock(&r->lock);
	for (size_t i = 0; i < n; i++) {
		struct running_job *j = running_find(r, &c[i]);

		if (j == NULL)
			continue;
		if (status[i] == JOB_STORE_OK || status[i] == JOB_STORE_CANCEL)
			running_job_extended(j, sent_ms);
		if (status[i] == JOB_STORE_CANCEL)
			atomic_fetch_or(&j->stop, RUNNING_STOP_CANCEL);
		else if (status[i] == JOB_STORE_LOST)
			atomic_fetch_or(&j->stop, RUNNING_STOP_LOST);
	}
	pthread_cond_broadcast(&r->changed);
	pthread_mutex_unlock(&r->lock);
}

size_t running_cancel_id(struct running *r, const char *id)
{
	size_t n = 0;

	pthread_mutex_lock(&r->lock);
	for (size_t i = 0; i < r->capacity; i++) {
		struct running_job *j = &r->jobs[i];

		if (j->used && strcmp(j->claim.id, id) == 0) {
			atomic_fetch_or(&j->stop, RUNNING_STOP_CANCEL);
			n++;
		}
	}
	if (n > 0)
		pthread_cond_broadcast(&r->changed);
	pthread_mutex_unlock(&r->lock);
	return n;
}

void running_advance(struct running *r, enum running_phase p)
{
	pthread_mutex_lock(&r->lock);
	if (p > r->phase) {
		r->phase = p;
		if (p >= RUNNING_INTERRUPTING)
			for (size_t i = 0; i < r->capacity; i++)
				if (r->jobs[i].used)
					atomic_fetch_or(&r->jobs[i].stop, RUNNING_STOP_INTERRUPT);
		pthread_cond_broadcast(&r->changed);
	}
	pthread_mutex_unlock(&r->lock);
}

enum running_phase running_phase_now(struct running *r)
{
	enum running_phase p;

	pthread_mutex_lock(&r->lock);
	p = r->phase;
	pthread_mutex_unlock(&r->lock);
	return p;
}

void running_sleep(struct running *r, struct running_job *j, int64_t ms)
{
	struct timespec until = worker_timespec_after(ms > 0 ? ms : 0);
	enum running_phase start;
	unsigned stop = j != NULL ? atomic_load(&j->stop) : 0;

	pthread_mutex_lock(&r->lock);
	start = r->phase;
	while (r->phase == start && (j == NULL || atomic_load(&j->stop) == stop))
		if (pthread_cond_timedwait(&r->changed, &r->lock, &until) == ETIMEDOUT)
			break;
	pthread_mutex_unlock(&r->lock);
}

void running_consumer_enter(struct running *r)
{
	pthread_mutex_lock(&r->lock);
	r->consumers++;
	pthread_mutex_unlock(&r->lock);
}

bool running_consumer_exit(struct running *r)
{
	bool last;

	pthread_mutex_lock(&r->lock);
	last = --r->consumers == 0;
	pthread_mutex_unlock(&r->lock);
	return last;
}

size_t running_consumers(struct running *r)
{
	size_t n;

	pthread_mutex_lock(&r->lock);
	n = r->consumers;
	pthread_mutex_unlock(&r->lock);
	return n;
}
