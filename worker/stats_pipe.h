/*
 * stats_pipe — lets one large profile job use two cores: the consumer
 * thread parses the CSV and copies each data cell into a batch; a second
 * thread, the pipe's own, adds the cells of each full batch to their
 * column_stats.
 *
 * Batches go through a bounded ring of STATS_PIPE_BATCHES (the parser waits
 * when all are full, so memory stays bounded: about 2.5 MiB, more only for
 * cells longer than a batch, each bounded by the upload's max field size).
 * The stats thread takes batches in order and cells in order, so every
 * column sees exactly the cells, in exactly the order, a single thread
 * would give it: results are identical.
 *
 * Threads: the ring's bookkeeping (head, count, closed, failed) is shared
 * and guarded by the pipe's mutex. The batch being filled belongs to the
 * parser; a full batch belongs to the stats thread until it hands it back.
 * The column_stats array belongs to the stats thread from stats_pipe_start
 * until stats_pipe_finish returns; the parser must not touch it meanwhile.
 *
 * Ownership: the caller owns the pipe (stats_pipe_free) and the columns.
 */
#ifndef JOBQ_STATS_PIPE_H
#define JOBQ_STATS_PIPE_H

#include <stddef.h>

#include "column_stats.h"

#define STATS_PIPE_BATCHES 4
#define STATS_PIPE_BATCH_BYTES (256 * 1024)
#define STATS_PIPE_BATCH_CELLS 16384

struct stats_pipe;

/* stats_pipe_start starts the stats thread for cols (borrowed, see
 * above). Returns the pipe, or NULL when out of memory or no thread could
 * be started (nothing is left then; the caller adds cells itself). */
struct stats_pipe *stats_pipe_start(struct column_stats *cols);

/* stats_pipe_add queues cell data (len bytes, copied) for column col.
 * Returns 0, or -1 when the stats thread ran out of memory (then the
 * statistics are incomplete) or a batch could not grow. */
int stats_pipe_add(struct stats_pipe *p, size_t col, const char *data, size_t len);

/* stats_pipe_finish hands over the last cells and waits until every cell
 * is added and the thread has ended; the columns are the caller's again.
 * Returns 0, or -1 when some cell could not be added (out of memory). */
int stats_pipe_finish(struct stats_pipe *p);

/* stats_pipe_free stops the thread (after the queued batches, without the
 * one being filled) if stats_pipe_finish did not, and frees p. NULL is
 * allowed. */
void stats_pipe_free(struct stats_pipe *p);

#endif
