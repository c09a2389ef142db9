/*
 * job_buffer — the bounded buffer between a worker's producer thread and its
 * consumer threads.
 *
 * Shared between threads; one mutex guards every field. The producer claims
 * from Redis only as many jobs as there are idle consumers
 * (job_buffer_wait_idle), so a claimed job never waits in the buffer behind
 * a busy consumer: jobs that a worker holds are jobs that run. Closing the
 * buffer wakes everyone: consumers drain what is left and then see the end.
 *
 * A slot holds a struct job_claim by value; nothing inside needs freeing.
 */
#ifndef JOBQ_JOB_BUFFER_H
#define JOBQ_JOB_BUFFER_H

#include <pthread.h>
#include <stdbool.h>
#include <stddef.h>

#include "job_store.h"

struct job_buffer {
	pthread_mutex_t lock;    /* guards everything below */
	pthread_cond_t not_empty;/* signalled on put and close */
	pthread_cond_t idle;     /* signalled when a consumer becomes idle, and on close */
	struct job_claim *slots; /* ring of capacity entries */
	size_t capacity;
	size_t head, count;
	size_t idle_consumers;   /* consumers waiting in job_buffer_take */
	bool closed;
};

/* job_buffer_init sets up b for capacity jobs. Returns 0, or -1 when out
 * of memory. Free with job_buffer_destroy. */
int job_buffer_init(struct job_buffer *b, size_t capacity);

/* job_buffer_destroy frees b's slots and primitives. */
void job_buffer_destroy(struct job_buffer *b);

/* job_buffer_wait_idle blocks until at least one consumer is idle and not
 * already promised a buffered job, or the buffer is closed, or timeout_ms
 * passes (< 0: no timeout). Returns how many jobs may be claimed now (0 on
 * timeout or close). */
size_t job_buffer_wait_idle(struct job_buffer *b, int timeout_ms);

/* job_buffer_put adds a claimed job. Returns 0, or -1 when the buffer is
 * closed or full (the caller still owns the claim and must give it back). */
int job_buffer_put(struct job_buffer *b, const struct job_claim *c);

/* job_buffer_take blocks until a job is there and copies it to *out.
 * Returns 0, or -1 when the buffer is closed and empty. */
int job_buffer_take(struct job_buffer *b, struct job_claim *out);

/* job_buffer_close wakes every waiter; later puts fail. */
void job_buffer_close(struct job_buffer *b);

#endif
