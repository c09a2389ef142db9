/*
 * stats_pipe — lets one large profile job use several cores: the consumer
 * thread parses the CSV and copies each data cell into a batch; the
 * pipe's own stats threads add the cells of each full batch to their
 * column_stats.
 *
 * With n stats threads, thread k owns the columns c with c % n == k: it
 * reads every batch and adds only its own columns' cells. Cells carry no
 * column number: they come a whole record at a time, so each thread
 * counts columns as it goes. A column thus
 * belongs to one thread, which takes batches in order and cells in order,
 * so every column sees exactly the cells, in exactly the order, a single
 * thread would give it: results are identical whatever n is.
 *
 * Batches go through a bounded ring of STATS_PIPE_BATCHES (the parser
 * waits when all are full, so memory stays bounded: 1.5 MiB, more
 * only for cells longer than a batch, each bounded by the upload's max
 * field size). A batch is free again once every stats thread has read it.
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

#include <stddef.h>

#include "column_stats.h"

#define STATS_PIPE_BATCHES 4
#define STATS_PIPE_BATCH_BYTES (256 * 1024)
#define STATS_PIPE_BATCH_CELLS 32768 /* 32-bit words of cell lengths */
#define STATS_PIPE_MAX_THREADS 16

struct stats_pipe;

/* stats_pipe_start starts min(threads, ncols, STATS_PIPE_MAX_THREADS)
 * stats threads (at least one) for the ncols columns cols (borrowed, see
 * above). Returns the pipe, or NULL when out of memory or some thread could
 * not be started (nothing is left then; the caller adds cells itself). */
struct stats_pipe *stats_pipe_start(struct column_stats *cols, size_t ncols, unsigned threads);

/* stats_pipe_threads returns how many stats threads p runs. */
unsigned stats_pipe_threads(const struct stats_pipe *p);

/* stats_pipe_add queues cell data (len bytes, copied) for the next column:
 * cells must come in record order, ncols to a record, the first one for
 * column 0 (a record with another count must stop the job: from there on
 * cells would reach the wrong columns). Returns 0, or -1 when a stats
 * thread ran out of memory (then the statistics are incomplete) or a
 * batch could not grow. */
int stats_pipe_add(struct stats_pipe *p, const char *data, size_t len);

/* stats_pipe_finish hands over the last cells and waits until every cell
 * is added and the threads have ended; the columns are the caller's
 * again. Returns 0, or -1 when some cell could not be added (out of
 * memory). */
int stats_pipe_finish(struct stats_pipe *p);

/* stats_pipe_free stops the threads (after the queued batches, without the
 * one being filled) if stats_pipe_finish did not, and frees p. NULL is
 * allowed. */
void stats_pipe_free(struct stats_pipe *p);

#endif
