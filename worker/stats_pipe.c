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

#include <stdbool.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

/* ---- Stats threads ------------------------------------------------------ */

/* pipe_apply adds the cells of part t, thread w's, to their columns.
 * Returns 0, or -1 when one could not be added (the rest are still
 * tried, so that each column's failure is the same as with one thread:
 * it is out of memory anyway). */
static int pipe_apply(struct stats_pipe *p, const struct stats_pipe_part *t, struct stats_pipe_worker *w)
{
	const size_t step = p->nthreads, ncols = p->ncols;
	const char *bytes = t->bytes;
	size_t col = w->col;
	int rc = 0;

	for (size_t i = 0; i < t->n; i++) {
		size_t len = t->lens[i];
		if (__builtin_expect(len == STATS_PIPE_LONG_CELL, 0)) {
			len = (size_t)((uint64_t)t->lens[i + 1] | (uint64_t)t->lens[i + 2] << 32);
			i += 2;
		}
		if (column_stats_add(&p->cols[col], bytes, len) != 0)
			rc = -1;
		bytes += len;
		col += step;
		if (col >= ncols)
			col = w->index;
	}
	w->col = col;
	return rc;
}

static void *pipe_main(void *arg)
{
	struct stats_pipe_worker *w = arg;
	struct stats_pipe *p = w->pipe;

	pthread_mutex_lock(&p->lock);
	for (;;) {
		while (w->done == p->handed && !p->closed)
			pthread_cond_wait(&p->filled, &p->lock);
		if (w->done == p->handed)
			break;
		const struct stats_pipe_part *t = &p->batch[w->done % STATS_PIPE_BATCHES].part[w->index];
		pthread_mutex_unlock(&p->lock);
		int rc = pipe_apply(p, t, w);
		pthread_mutex_lock(&p->lock);
		p->failed |= rc != 0;
		w->done++;
		pthread_cond_signal(&p->emptied);
	}
	pthread_mutex_unlock(&p->lock);
	return NULL;
}

/* ---- Start and stop ----------------------------------------------------- */

/* pipe_free_buffers frees every part's buffers and the owner table. */
static void pipe_free_buffers(struct stats_pipe *p)
{
	for (size_t i = 0; i < STATS_PIPE_BATCHES; i++)
		for (size_t k = 0; k < STATS_PIPE_MAX_THREADS; k++) {
			free(p->batch[i].part[k].bytes);
			free(p->batch[i].part[k].lens);
		}
	free(p->owner);
}

/* pipe_alloc_part gives t an even share of a batch's room among nthreads
 * parts, and counts it in p->held. Returns 0, or -1 out of memory (what
 * was taken is freed with the pipe's buffers). */
static int pipe_alloc_part(struct stats_pipe *p, struct stats_pipe_part *t, unsigned nthreads)
{
	t->cap = STATS_PIPE_BATCH_BYTES / nthreads;
	t->ncap = STATS_PIPE_BATCH_CELLS / nthreads;
	t->bytes = malloc(t->cap);
	t->lens = malloc(t->ncap * sizeof *t->lens);
	p->held += t->cap + t->ncap * sizeof *t->lens;
	p->peak = p->held;
	return t->bytes != NULL && t->lens != NULL ? 0 : -1;
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
		/* c % nthreads: pipe_apply walks a part's columns so too. */
		p->owner[c] = (unsigned char)(c % nthreads);
	for (size_t i = 0; !bad && i < STATS_PIPE_BATCHES; i++)
		for (unsigned k = 0; !bad && k < nthreads; k++)
			bad = pipe_alloc_part(p, &p->batch[i].part[k], nthreads) != 0;
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
		p->workers[k] = (struct stats_pipe_worker){.pipe = p, .index = k, .col = k};
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

size_t stats_pipe_peak_bytes(const struct stats_pipe *p)
{
	return p->peak;
}

size_t stats_pipe_bound(size_t longest_cell)
{
	size_t batch = STATS_PIPE_BATCH_BYTES;
	size_t extra = longest_cell > batch ? longest_cell : batch;

	return STATS_PIPE_BATCHES * (batch + extra + STATS_PIPE_BATCH_CELLS * sizeof(uint32_t));
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

/* pipe_set_cap reallocates part t's bytes to cap and keeps p->held and
 * p->peak true. Returns 0, or -1 out of memory (t is unchanged). */
static int pipe_set_cap(struct stats_pipe *p, struct stats_pipe_part *t, size_t cap)
{
	char *bytes = realloc(t->bytes, cap);

	if (bytes == NULL)
		return -1;
	p->held = p->held - t->cap + cap;
	if (p->held > p->peak)
		p->peak = p->held;
	t->bytes = bytes;
	t->cap = cap;
	return 0;
}

/* pipe_empty_filling empties the batch being filled, which no stats thread
 * reads any more, and shrinks each part a long cell grew back to its
 * share, so that a long cell costs its length only while it is in the
 * ring. A shrink that fails keeps the larger part (and counts it). */
static void pipe_empty_filling(struct stats_pipe *p)
{
	const size_t share = STATS_PIPE_BATCH_BYTES / p->nthreads;

	for (unsigned k = 0; k < p->nthreads; k++) {
		struct stats_pipe_part *t = &p->filling->part[k];
		t->n = 0;
		t->used = 0;
		if (t->cap > share)
			(void)pipe_set_cap(p, t, share);
	}
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
	pipe_empty_filling(p);
	return failed ? -1 : 0;
}

/* pipe_filling_bytes returns the room of every part of the batch being
 * filled. */
static size_t pipe_filling_bytes(const struct stats_pipe *p)
{
	size_t sum = 0;

	for (unsigned k = 0; k < p->nthreads; k++)
		sum += p->filling->part[k].cap;
	return sum;
}

static bool pipe_filling_empty(const struct stats_pipe *p);

/* pipe_may_grow says whether part t of the batch being filled may grow to
 * len bytes: while the batch's parts then hold at most twice a batch's
 * room, or when the batch is empty (the cell then travels alone). So a
 * batch holds at most STATS_PIPE_BATCH_BYTES plus the larger of that and
 * one cell, whatever the number of threads. */
static bool pipe_may_grow(const struct stats_pipe *p, const struct stats_pipe_part *t, size_t len)
{
	return pipe_filling_bytes(p) - t->cap + len <= 2 * (size_t)STATS_PIPE_BATCH_BYTES ||
	       pipe_filling_empty(p);
}

/* pipe_make_room makes the part of the batch being filled that column
 * col's cells go to able to take a cell of len bytes, handing the batch
 * over first when that part is full or may not grow as the cell needs.
 * Returns 0 or -1. */
static int pipe_make_room(struct stats_pipe *p, size_t col, size_t len)
{
	struct stats_pipe_part *t = &p->filling->part[p->owner[col]];

	if (t->n + 3 <= t->ncap && len <= t->cap - t->used)
		return 0;
	if (t->n > 0 || (len > t->cap && !pipe_may_grow(p, t, len))) {
		if (pipe_hand_over(p) != 0)
			return -1;
		t = &p->filling->part[p->owner[col]];
	}
	if (len > t->cap) /* a cell longer than a part: this part grows */
		return pipe_set_cap(p, t, len);
	return 0;
}

/* stats_pipe_add_slow is stats_pipe_add when the part is full: it hands
 * the batch over first. Returns 0 or -1. */
int stats_pipe_add_slow(struct stats_pipe *p, size_t col, const char *data, size_t len)
{
	if (pipe_make_room(p, col, len) != 0)
		return -1;
	stats_pipe_put(&p->filling->part[p->owner[col]], data, len);
	return 0;
}

/* pipe_filling_empty says whether no cell waits in the batch being filled. */
static bool pipe_filling_empty(const struct stats_pipe *p)
{
	for (unsigned k = 0; k < p->nthreads; k++)
		if (p->filling->part[k].n > 0)
			return false;
	return true;
}

int stats_pipe_finish(struct stats_pipe *p)
{
	int rc = 0;

	if (!pipe_filling_empty(p))
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
