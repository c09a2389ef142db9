/*
 * stats_pipe — lets one large profile job use several cores: the consumer
 * thread parses the CSV and copies each data cell into a batch; the
 * pipe's own stats threads add the cells of each full batch to their
 * column_stats.
 *
 * With n stats threads, thread k owns the columns c with c % n == k. A
 * batch has one part per thread, and the parser puts each cell into the
 * part of its column's owner, so a thread reads only its own cells. Cells
 * carry no column number: each part gets its thread's columns a whole
 * record at a time, so the thread counts k, k + n, ... and then k again
 * as it goes. A column thus belongs to one thread, which takes batches in
 * order and cells in order, so every column sees exactly the cells, in
 * exactly the order, a single thread would give it: results are
 * identical whatever n is.
 *
 * Batches go through a bounded ring of STATS_PIPE_BATCHES (the parser
 * waits when all are full, so memory stays bounded: about 1.5 MiB
 * whatever n, since a batch's room is split evenly among its parts). A cell longer
 * than its part grows the part, but a batch's parts may grow only up to
 * twice a batch's room together, past that only to carry one cell alone,
 * and a grown part shrinks back to its share once its batch has been read:
 * at most stats_pipe_bound(longest cell) — 2.5 MiB, or 1.5 MiB plus four
 * times the longest cell past 256 KiB — whatever n.
 * A batch is handed over when one of its parts is full (or may not grow
 * as a cell needs), and is free again once every stats thread has read
 * its part.
 *
 * Threads: the ring's bookkeeping (handed, each thread's done count,
 * closed, failed) is shared and guarded by the pipe's mutex. The batch
 * being filled belongs to the parser; a full batch is read-only for the
 * stats threads until the last of them is done with it. The column_stats
 * array belongs to the stats threads (each column to its owner) from
 * stats_pipe_start until stats_pipe_finish returns; the parser must not
 * touch it meanwhile.
 *
 * Ownership: the caller owns the pipe (stats_pipe_free) and the columns.
 */
#ifndef JOBQ_STATS_PIPE_H
#define JOBQ_STATS_PIPE_H

#include <pthread.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include "column_stats.h"

#define STATS_PIPE_BATCHES 4
#define STATS_PIPE_BATCH_BYTES (256 * 1024)
#define STATS_PIPE_BATCH_CELLS 32768 /* 32-bit words of cell lengths */
#define STATS_PIPE_MAX_THREADS 16

/* The types below are in this header only so that stats_pipe_add, which
 * the parser calls once per cell, can be inline; their fields are
 * private to stats_pipe.c. */

/* A part holds one thread's cells of a batch: their bytes back to back
 * and, apart, their lengths. A cell needs neither an offset (the thread
 * adds the lengths up as it goes) nor a column (see above). A
 * length takes one 32-bit word; one of STATS_PIPE_LONG_CELL or more takes
 * three: STATS_PIPE_LONG_CELL, then the low and the high half. Four bytes
 * a cell instead of sixteen matter: every byte the parser writes is a
 * cache line another core then reads. */
#define STATS_PIPE_LONG_CELL UINT32_MAX

struct stats_pipe_part {
	char *bytes;             /* cap bytes */
	size_t used, cap;
	uint32_t *lens;          /* ncap words */
	size_t n, ncap;          /* words used in lens, and its size */
};

struct stats_pipe_batch {
	struct stats_pipe_part part[STATS_PIPE_MAX_THREADS]; /* nthreads of them */
};

/* One stats thread. */
struct stats_pipe_worker {
	struct stats_pipe *pipe;
	unsigned index;          /* it owns the columns c with c % nthreads == index */
	size_t col;              /* the column of its next cell */
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
	struct stats_pipe_batch *filling; /* the batch the parser fills (parser only) */
	struct column_stats *cols; /* the stats threads' until finish */
	size_t ncols;
	unsigned char *owner;    /* ncols: the thread that owns each column */
	size_t held, peak;       /* bytes of every part now, and at most (parser only) */
	struct stats_pipe_batch batch[STATS_PIPE_BATCHES];
	struct stats_pipe_worker workers[STATS_PIPE_MAX_THREADS];
};

/* stats_pipe_start starts min(threads, ncols, STATS_PIPE_MAX_THREADS)
 * stats threads (at least one) for the ncols columns cols (borrowed, see
 * above). Returns the pipe, or NULL when out of memory or some thread could
 * not be started (nothing is left then; the caller adds cells itself). */
struct stats_pipe *stats_pipe_start(struct column_stats *cols, size_t ncols, unsigned threads);

/* stats_pipe_threads returns how many stats threads p runs. */
unsigned stats_pipe_threads(const struct stats_pipe *p);

/* stats_pipe_peak_bytes returns the most bytes p's parts held at once
 * (cells and their lengths), for tests and measurements. */
size_t stats_pipe_peak_bytes(const struct stats_pipe *p);

/* stats_pipe_bound returns the most bytes a pipe's parts may hold when
 * no cell is longer than longest_cell, whatever its thread count. */
size_t stats_pipe_bound(size_t longest_cell);

/* stats_pipe_add queues cell data (len bytes, copied) of column col (below
 * ncols): cells must come in record order, ncols to a record, columns 0 to
 * ncols - 1 in turn (a record with another count must stop the job: from
 * there on cells would reach the wrong columns). Returns 0, or -1 when a
 * stats thread ran out of memory (then the statistics are incomplete) or
 * a part could not grow. Inline, below. */
static inline int stats_pipe_add(struct stats_pipe *p, size_t col, const char *data, size_t len);

/* stats_pipe_add_slow is stats_pipe_add when the part of the batch being
 * filled has no room for the cell: it hands the batch over first. For
 * stats_pipe_add only. */
int stats_pipe_add_slow(struct stats_pipe *p, size_t col, const char *data, size_t len);

/* stats_pipe_finish hands over the last cells and waits until every cell
 * is added and the threads have ended; the columns are the caller's
 * again. Returns 0, or -1 when some cell could not be added (out of
 * memory). */
int stats_pipe_finish(struct stats_pipe *p);

/* stats_pipe_free stops the threads (after the queued batches, without the
 * one being filled) if stats_pipe_finish did not, and frees p. NULL is
 * allowed. */
void stats_pipe_free(struct stats_pipe *p);

/* ---- The parser's fast path (inline) ------------------------------------ */

/* stats_pipe_copy copies len bytes from src to dst. Most cells are a few
 * bytes long, where a call to memcpy costs more than the copy: up to 16
 * bytes are moved with two overlapping loads and stores that stay inside
 * both buffers. */
static inline void stats_pipe_copy(char *dst, const char *src, size_t len)
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

/* stats_pipe_put appends the cell to b, which has room for it. */
static inline void stats_pipe_put(struct stats_pipe_part *b, const char *data, size_t len)
{
	if (len < STATS_PIPE_LONG_CELL) {
		b->lens[b->n++] = (uint32_t)len;
	} else {
		b->lens[b->n++] = STATS_PIPE_LONG_CELL;
		b->lens[b->n++] = (uint32_t)len;
		b->lens[b->n++] = (uint32_t)((uint64_t)len >> 32);
	}
	stats_pipe_copy(b->bytes + b->used, data, len);
	b->used += len;
}

/* A part has room for a cell when three length words (a long cell's) and
 * its bytes fit. */
static inline int stats_pipe_add(struct stats_pipe *p, size_t col, const char *data, size_t len)
{
	struct stats_pipe_part *b = &p->filling->part[p->owner[col]];

	if (__builtin_expect(b->n + 3 > b->ncap || len > b->cap - b->used, 0))
		return stats_pipe_add_slow(p, col, data, len);
	stats_pipe_put(b, data, len);
	return 0;
}

#endif
