/*
 * stats_pipe — see stats_pipe.h.
 *
 * The ring counts batches rather than indexing them: handed is how many
 * batches the parser has handed over, and each stats thread's done how
 * many it has read. Batch number i lives in slot i % STATS_PIPE_BATCHES;
 * the parser may refill a slot once the slowest thread's done has passed
 * it, so the ring is full when handed - min(done) == STATS_PIPE_BATCHES.
 */
#include "stats_pipe.h"

#include <pthread.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

/* A batch holds the cells' bytes back to back and, apart, their lengths.
 * A cell needs neither an offset (the stats threads add the lengths up as
 * they go) nor a column (cells come a whole record at a time, so the
 * column is the cell's number modulo ncols, counted across batches). A
 * length takes one 32-bit word; one of PIPE_LONG_CELL or more takes three:
 * PIPE_LONG_CELL, then the low and the high half. Four bytes a cell
 * instead of sixteen matter: every byte the parser writes is a cache line
 * another core then reads. */
#define PIPE_LONG_CELL UINT32_MAX

struct pipe_batch {
	char *bytes;             /* cap bytes */
	size_t used, cap;
	uint32_t *lens;          /* STATS_PIPE_BATCH_CELLS words */
	size_t n;                /* words used in lens */
};

/* One stats thread. */
struct pipe_worker {
	struct stats_pipe *pipe;
	unsigned index;          /* it owns the columns whose owner is index */
	size_t col;              /* the column of the next cell (its own) */
	uint64_t done;           /* batches read; guarded by the pipe's lock */
	pthread_t thread;
};

struct stats_pipe {
	pthread_mutex_t lock;    /* guards handed, every done, closed, failed */
	pthread_cond_t filled;   /* a batch was handed over, or closed */
	pthread_cond_t emptied;  /* a stats thread finished a batch */
	uint64_t handed;         /* batches handed over */
	bool closed;             /* no more batches will come */
	bool failed;             /* a cell could not be added */
	bool joined;             /* the threads have ended (parser only) */
	unsigned nthreads;
	struct pipe_batch *filling; /* the batch the parser fills (parser only) */
	struct column_stats *cols; /* the stats threads' until finish */
	size_t ncols;
	unsigned char *owner;    /* ncols: the thread that owns each column */
	struct pipe_batch batch[STATS_PIPE_BATCHES];
	struct pipe_worker workers[STATS_PIPE_MAX_THREADS];
};

/* ---- Stats threads ------------------------------------------------------ */

/* pipe_apply adds the cells of b that belong to thread w to their
 * columns. Returns 0, or -1 when one could not be added (the rest are
 * still tried, so that each column's failure is the same as with one
 * thread: it is out of memory anyway). */
static int pipe_apply(struct stats_pipe *p, const struct pipe_batch *b, struct pipe_worker *w)
{
	const unsigned char *owner = p->owner;
	const bool all = p->nthreads == 1; /* then every column is this thread's */
	const char *bytes = b->bytes;
	size_t col = w->col;
	int rc = 0;

	for (size_t i = 0; i < b->n; i++) {
		size_t len = b->lens[i];
		if (__builtin_expect(len == PIPE_LONG_CELL, 0)) {
			len = (size_t)((uint64_t)b->lens[i + 1] | (uint64_t)b->lens[i + 2] << 32);
			i += 2;
		}
		if ((all || owner[col] == w->index) && column_stats_add(&p->cols[col], bytes, len) != 0)
			rc = -1;
		bytes += len;
		if (++col == p->ncols)
			col = 0;
	}
	w->col = col;
	return rc;
}

static void *pipe_main(void *arg)
{
	struct pipe_worker *w = arg;
	struct stats_pipe *p = w->pipe;

	pthread_mutex_lock(&p->lock);
	for (;;) {
		while (w->done == p->handed && !p->closed)
			pthread_cond_wait(&p->filled, &p->lock);
		if (w->done == p->handed)
			break;
		const struct pipe_batch *b = &p->batch[w->done % STATS_PIPE_BATCHES];
		pthread_mutex_unlock(&p->lock);
		int rc = pipe_apply(p, b, w);
		pthread_mutex_lock(&p->lock);
		p->failed |= rc != 0;
		w->done++;
		pthread_cond_signal(&p->emptied);
	}
	pthread_mutex_unlock(&p->lock);
	return NULL;
}

/* ---- Start and stop ----------------------------------------------------- */

/* pipe_free_buffers frees every batch's buffers and the owner table. */
static void pipe_free_buffers(struct stats_pipe *p)
{
	for (size_t i = 0; i < STATS_PIPE_BATCHES; i++) {
		free(p->batch[i].bytes);
		free(p->batch[i].lens);
	}
	free(p->owner);
}

/* pipe_alloc returns a pipe with its buffers and owner table for ncols
 * columns over nthreads threads, or NULL out of memory. */
static struct stats_pipe *pipe_alloc(struct column_stats *cols, size_t ncols, unsigned nthreads)
{
	struct stats_pipe *p = calloc(1, sizeof *p);
	bool bad;

	if (p == NULL)
		return NULL;
	p->cols = cols;
	p->ncols = ncols;
	p->nthreads = nthreads;
	p->filling = &p->batch[0];
	p->owner = malloc(ncols > 0 ? ncols : 1);
	bad = p->owner == NULL;
	for (size_t c = 0; !bad && c < ncols; c++)
		p->owner[c] = (unsigned char)(c % nthreads);
	for (size_t i = 0; !bad && i < STATS_PIPE_BATCHES; i++) {
		p->batch[i].cap = STATS_PIPE_BATCH_BYTES;
		p->batch[i].bytes = malloc(STATS_PIPE_BATCH_BYTES);
		p->batch[i].lens = malloc(STATS_PIPE_BATCH_CELLS * sizeof *p->batch[i].lens);
		bad = p->batch[i].bytes == NULL || p->batch[i].lens == NULL;
	}
	if (!bad)
		return p;
	pipe_free_buffers(p);
	free(p);
	return NULL;
}

/* pipe_stop closes the ring and joins the first started threads, once. */
static void pipe_stop(struct stats_pipe *p, unsigned started)
{
	if (p->joined)
		return;
	pthread_mutex_lock(&p->lock);
	p->closed = true;
	pthread_cond_broadcast(&p->filled);
	pthread_mutex_unlock(&p->lock);
	for (unsigned k = 0; k < started; k++)
		pthread_join(p->workers[k].thread, NULL);
	p->joined = true;
}

/* pipe_destroy frees p once its threads have ended. */
static void pipe_destroy(struct stats_pipe *p)
{
	pthread_cond_destroy(&p->emptied);
	pthread_cond_destroy(&p->filled);
	pthread_mutex_destroy(&p->lock);
	pipe_free_buffers(p);
	free(p);
}

struct stats_pipe *stats_pipe_start(struct column_stats *cols, size_t ncols, unsigned threads)
{
	unsigned n = threads < 1 ? 1 : threads;

	if (n > STATS_PIPE_MAX_THREADS)
		n = STATS_PIPE_MAX_THREADS;
	if (ncols > 0 && n > ncols)
		n = (unsigned)ncols;
	struct stats_pipe *p = pipe_alloc(cols, ncols, n);
	if (p == NULL)
		return NULL;
	pthread_mutex_init(&p->lock, NULL);
	pthread_cond_init(&p->filled, NULL);
	pthread_cond_init(&p->emptied, NULL);
	for (unsigned k = 0; k < n; k++) {
		p->workers[k] = (struct pipe_worker){.pipe = p, .index = k};
		if (pthread_create(&p->workers[k].thread, NULL, pipe_main, &p->workers[k]) != 0) {
			pipe_stop(p, k);
			pipe_destroy(p);
			return NULL;
		}
	}
	return p;
}

unsigned stats_pipe_threads(const struct stats_pipe *p)
{
	return p->nthreads;
}

/* ---- The parser's side -------------------------------------------------- */

/* pipe_slowest returns the fewest batches any stats thread has read.
 * Called with the lock held. */
static uint64_t pipe_slowest(const struct stats_pipe *p)
{
	uint64_t least = p->workers[0].done;

	for (unsigned k = 1; k < p->nthreads; k++)
		if (p->workers[k].done < least)
			least = p->workers[k].done;
	return least;
}

/* pipe_hand_over gives the batch being filled to the stats threads and
 * waits for a free one, which it empties. Returns 0, or -1 when a stats
 * thread failed. */
static int pipe_hand_over(struct stats_pipe *p)
{
	bool failed;

	pthread_mutex_lock(&p->lock);
	p->handed++;
	pthread_cond_broadcast(&p->filled);
	while (p->handed - pipe_slowest(p) == STATS_PIPE_BATCHES)
		pthread_cond_wait(&p->emptied, &p->lock);
	p->filling = &p->batch[p->handed % STATS_PIPE_BATCHES];
	failed = p->failed;
	pthread_mutex_unlock(&p->lock);
	p->filling->n = 0;
	p->filling->used = 0;
	return failed ? -1 : 0;
}

/* pipe_make_room makes the batch being filled able to take a cell of len
 * bytes, handing it over first when it is full. Returns 0 or -1. */
static int pipe_make_room(struct stats_pipe *p, size_t len)
{
	struct pipe_batch *b = p->filling;

	if (b->n + 3 <= STATS_PIPE_BATCH_CELLS && len <= b->cap - b->used)
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

/* pipe_put appends the cell to b, which has room for it. */
static inline void pipe_put(struct pipe_batch *b, const char *data, size_t len)
{
	if (len < PIPE_LONG_CELL) {
		b->lens[b->n++] = (uint32_t)len;
	} else {
		b->lens[b->n++] = PIPE_LONG_CELL;
		b->lens[b->n++] = (uint32_t)len;
		b->lens[b->n++] = (uint32_t)((uint64_t)len >> 32);
	}
	pipe_copy(b->bytes + b->used, data, len);
	b->used += len;
}

/* pipe_add_slow is stats_pipe_add when the batch is full: it hands the
 * batch over first. Returns 0 or -1. */
__attribute__((noinline))
static int pipe_add_slow(struct stats_pipe *p, const char *data, size_t len)
{
	if (pipe_make_room(p, len) != 0)
		return -1;
	pipe_put(p->filling, data, len);
	return 0;
}

/* stats_pipe_add's full-batch case is a tail call, so that the common
 * case saves no registers. */
int stats_pipe_add(struct stats_pipe *p, const char *data, size_t len)
{
	struct pipe_batch *b = p->filling;

	if (__builtin_expect(b->n + 3 > STATS_PIPE_BATCH_CELLS || len > b->cap - b->used, 0))
		return pipe_add_slow(p, data, len);
	pipe_put(b, data, len);
	return 0;
}

int stats_pipe_finish(struct stats_pipe *p)
{
	int rc = 0;

	if (p->filling->n > 0)
		rc = pipe_hand_over(p);
	pipe_stop(p, p->nthreads);
	return rc != 0 || p->failed ? -1 : 0;
}

void stats_pipe_free(struct stats_pipe *p)
{
	if (p == NULL)
		return;
	pipe_stop(p, p->nthreads);
	pipe_destroy(p);
}
