/*
 * job_buffer — a ring of claimed jobs between the producer and the
 * consumers. See job_buffer.h for the design; here every function takes
 * b->lock for its whole body, so the fields are never seen half-updated.
 */
#include "job_buffer.h"

#include <errno.h>
#include <stdlib.h>

#include "worker.h"

int job_buffer_init(struct job_buffer *b, size_t capacity)
{
	*b = (struct job_buffer){.capacity = capacity};
	b->slots = calloc(capacity ? capacity : 1, sizeof *b->slots);
	if (b->slots == NULL)
		return -1;
	if (pthread_mutex_init(&b->lock, NULL) != 0)
		goto fail_slots;
	if (worker_cond_init(&b->not_empty) != 0)
		goto fail_lock;
	if (worker_cond_init(&b->idle) != 0)
		goto fail_not_empty;
	return 0;

fail_not_empty:
	pthread_cond_destroy(&b->not_empty);
fail_lock:
	pthread_mutex_destroy(&b->lock);
fail_slots:
	free(b->slots);
	b->slots = NULL;
	return -1;
}

void job_buffer_destroy(struct job_buffer *b)
{
	pthread_cond_destroy(&b->idle);
	pthread_cond_destroy(&b->not_empty);
	pthread_mutex_destroy(&b->lock);
	free(b->slots);
	b->slots = NULL;
}

/* buffer_claimable is the number of idle consumers not yet promised a
 * buffered job. Caller holds b->lock. */
static size_t buffer_claimable(const struct job_buffer *b)
{
	return b->idle_consumers > b->count ? b->idle_consumers - b->count : 0;
}

size_t job_buffer_wait_idle(struct job_buffer *b, int timeout_ms)
{
	struct timespec until = worker_timespec_after(timeout_ms > 0 ? timeout_ms : 0);
	size_t n;

	pthread_mutex_lock(&b->lock);
	while (!b->closed && buffer_claimable(b) == 0) {
		if (timeout_ms < 0)
			pthread_cond_wait(&b->idle, &b->lock);
		else if (pthread_cond_timedwait(&b->idle, &b->lock, &until) == ETIMEDOUT)
			break;
	}
	n = b->closed ? 0 : buffer_claimable(b);
	pthread_mutex_unlock(&b->lock);
	return n;
}

int job_buffer_put(struct job_buffer *b, const struct job_claim *c)
{
	int rc = -1;

	pthread_mutex_lock(&b->lock);
	if (!b->closed && b->count < b->capacity) {
		b->slots[(b->head + b->count) % b->capacity] = *c;
		b->count++;
		pthread_cond_signal(&b->not_empty);
		rc = 0;
	}
	pthread_mutex_unlock(&b->lock);
	return rc;
}

int job_buffer_take(struct job_buffer *b, struct job_claim *out)
{
	int rc = -1;

	pthread_mutex_lock(&b->lock);
	/* While we wait we are an idle consumer: the producer may claim for us. */
	b->idle_consumers++;
	pthread_cond_signal(&b->idle);
	while (b->count == 0 && !b->closed)
		pthread_cond_wait(&b->not_empty, &b->lock);
	b->idle_consumers--;
	if (b->count > 0) {
		*out = b->slots[b->head];
		b->head = (b->head + 1) % b->capacity;
		b->count--;
		rc = 0;
	}
	pthread_mutex_unlock(&b->lock);
	return rc;
}

void job_buffer_close(struct job_buffer *b)
{
	pthread_mutex_lock(&b->lock);
	b->closed = true;
	pthread_cond_broadcast(&b->not_empty);
	pthread_cond_broadcast(&b->idle);
	pthread_mutex_unlock(&b->lock);
}
