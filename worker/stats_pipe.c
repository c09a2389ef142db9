/*
 * stats_pipe — see stats_pipe.h.
 */
#include "stats_pipe.h"

#include <pthread.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

/* A cell's bytes follow the previous cell's in the batch, so a cell needs
 * no offset: the stats thread adds the lengths up as it goes. */
struct pipe_cell {
	size_t col, len;
};

struct pipe_batch {
	char *bytes;             /* cap bytes */
	size_t used, cap;
	struct pipe_cell *cells; /* STATS_PIPE_BATCH_CELLS */
	size_t n;
};

struct stats_pipe {
	pthread_mutex_t lock;    /* guards head, count, closed, failed */
	pthread_cond_t filled;   /* a batch was handed over, or closed */
	pthread_cond_t emptied;  /* the stats thread gave a batch back */
	size_t head;             /* the oldest full batch */
	size_t count;            /* full batches, the one being added included */
	bool closed;             /* no more batches will come */
	bool failed;             /* a cell could not be added */
	bool joined;             /* the thread has ended (parser only) */
	struct pipe_batch *filling; /* the batch the parser fills (parser only) */
	struct column_stats *cols; /* the stats thread's until finish */
	struct pipe_batch batch[STATS_PIPE_BATCHES];
	pthread_t thread;
};

/* pipe_apply adds every cell of b to its column. Returns 0, or -1 when one
 * could not be added (the rest are still tried, so that each column's
 * failure is the same as with one thread: it is out of memory anyway). */
static int pipe_apply(struct stats_pipe *p, struct pipe_batch *b)
{
	const char *bytes = b->bytes;
	int rc = 0;

	for (size_t i = 0; i < b->n; i++) {
		if (column_stats_add(&p->cols[b->cells[i].col], bytes, b->cells[i].len) != 0)
			rc = -1;
		bytes += b->cells[i].len;
	}
	b->n = 0;
	b->used = 0;
	return rc;
}

static void *pipe_main(void *arg)
{
	struct stats_pipe *p = arg;

	pthread_mutex_lock(&p->lock);
	for (;;) {
		while (p->count == 0 && !p->closed)
			pthread_cond_wait(&p->filled, &p->lock);
		if (p->count == 0)
			break;
		struct pipe_batch *b = &p->batch[p->head];
		pthread_mutex_unlock(&p->lock);
		int rc = pipe_apply(p, b);
		pthread_mutex_lock(&p->lock);
		p->failed |= rc != 0;
		p->head = (p->head + 1) % STATS_PIPE_BATCHES;
		p->count--;
		pthread_cond_signal(&p->emptied);
	}
	pthread_mutex_unlock(&p->lock);
	return NULL;
}

/* pipe_free_batches frees every batch's buffers. */
static void pipe_free_batches(struct stats_pipe *p)
{
	for (size_t i = 0; i < STATS_PIPE_BATCHES; i++) {
		free(p->batch[i].bytes);
		free(p->batch[i].cells);
	}
}

struct stats_pipe *stats_pipe_start(struct column_stats *cols)
{
	struct stats_pipe *p = calloc(1, sizeof *p);

	if (p == NULL)
		return NULL;
	p->cols = cols;
	p->filling = &p->batch[0];
	for (size_t i = 0; i < STATS_PIPE_BATCHES; i++) {
		p->batch[i].cap = STATS_PIPE_BATCH_BYTES;
		p->batch[i].bytes = malloc(STATS_PIPE_BATCH_BYTES);
		p->batch[i].cells = malloc(STATS_PIPE_BATCH_CELLS * sizeof *p->batch[i].cells);
		if (p->batch[i].bytes == NULL || p->batch[i].cells == NULL)
			goto fail;
	}
	pthread_mutex_init(&p->lock, NULL);
	pthread_cond_init(&p->filled, NULL);
	pthread_cond_init(&p->emptied, NULL);
	if (pthread_create(&p->thread, NULL, pipe_main, p) == 0)
		return p;
	pthread_cond_destroy(&p->emptied);
	pthread_cond_destroy(&p->filled);
	pthread_mutex_destroy(&p->lock);
fail:
	pipe_free_batches(p);
	free(p);
	return NULL;
}

/* pipe_hand_over gives the batch being filled to the stats thread and
 * waits for a free one. Returns 0, or -1 when the stats thread failed. */
static int pipe_hand_over(struct stats_pipe *p)
{
	bool failed;

	pthread_mutex_lock(&p->lock);
	p->count++;
	pthread_cond_signal(&p->filled);
	while (p->count == STATS_PIPE_BATCHES)
		pthread_cond_wait(&p->emptied, &p->lock);
	p->filling = &p->batch[(p->head + p->count) % STATS_PIPE_BATCHES];
	failed = p->failed;
	pthread_mutex_unlock(&p->lock);
	return failed ? -1 : 0;
}

/* pipe_make_room makes the batch being filled able to take a cell of len
 * bytes, handing it over first when it is full. Returns 0 or -1. Kept out
 * of line: once per batch, it would only weigh on stats_pipe_add. */
__attribute__((noinline))
static int pipe_make_room(struct stats_pipe *p, size_t len)
{
	struct pipe_batch *b = p->filling;

	if (b->n < STATS_PIPE_BATCH_CELLS && len <= b->cap - b->used)
		return 0;
	if (b->n > 0) {
		if (pipe_hand_over(p) != 0)
			return -1;
		b = p->filling;
	}
	if (len > b->cap) { /* a cell longer than a batch: this batch grows */
		char *bytes = realloc(b->bytes, len);
		if (bytes == NULL)
			return -1;
		b->bytes = bytes;
		b->cap = len;
	}
	return 0;
}

/* pipe_copy copies len bytes from src to dst. Most cells are a few bytes
 * long, where a call to memcpy costs more than the copy: up to 16 bytes
 * are moved with two overlapping loads and stores that stay inside both
 * buffers. */
static inline void pipe_copy(char *dst, const char *src, size_t len)
{
	if (len > 16) {
		memcpy(dst, src, len);
	} else if (len >= 8) {
		uint64_t head, tail;
		memcpy(&head, src, 8);
		memcpy(&tail, src + len - 8, 8);
		memcpy(dst, &head, 8);
		memcpy(dst + len - 8, &tail, 8);
	} else if (len >= 4) {
		uint32_t head, tail;
		memcpy(&head, src, 4);
		memcpy(&tail, src + len - 4, 4);
		memcpy(dst, &head, 4);
		memcpy(dst + len - 4, &tail, 4);
	} else if (len > 0) {
		dst[0] = src[0];
		dst[len >> 1] = src[len >> 1];
		dst[len - 1] = src[len - 1];
	}
}

int stats_pipe_add(struct stats_pipe *p, size_t col, const char *data, size_t len)
{
	struct pipe_batch *b = p->filling;

	if (b->n == STATS_PIPE_BATCH_CELLS || len > b->cap - b->used) {
		if (pipe_make_room(p, len) != 0)
			return -1;
		b = p->filling;
	}
	b->cells[b->n++] = (struct pipe_cell){col, len};
	pipe_copy(b->bytes + b->used, data, len);
	b->used += len;
	return 0;
}

/* pipe_stop closes the ring and joins the thread, once. */
static void pipe_stop(struct stats_pipe *p)
{
	if (p->joined)
		return;
	pthread_mutex_lock(&p->lock);
	p->closed = true;
	pthread_cond_signal(&p->filled);
	pthread_mutex_unlock(&p->lock);
	pthread_join(p->thread, NULL);
	p->joined = true;
}

int stats_pipe_finish(struct stats_pipe *p)
{
	int rc = 0;

	if (p->filling->n > 0)
		rc = pipe_hand_over(p);
	pipe_stop(p);
	return rc != 0 || p->failed ? -1 : 0;
}

void stats_pipe_free(struct stats_pipe *p)
{
	if (p == NULL)
		return;
	pipe_stop(p);
	pthread_cond_destroy(&p->emptied);
	pthread_cond_destroy(&p->filled);
	pthread_mutex_destroy(&p->lock);
	pipe_free_batches(p);
	free(p);
}
