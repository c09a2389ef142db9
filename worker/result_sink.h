/*
 * result_sink — the task_output through which a task's result streams into
 * Redis.
 *
 * Writes are gathered in a buffer of RESULT_SINK_BUFFER bytes and appended
 * to the attempt's partial result with job_store_result_append when the
 * buffer is full, so a result costs one round trip per MiB whatever the
 * sizes of the task's writes. What is still buffered at the end
 * (result_sink_pending) goes with the consumer's finishing script call,
 * and the result becomes the job's only then.
 *
 * Redis failures: after every append the sink asks its retry function
 * whether to try again (the consumer's policy: back off while the job may
 * still own its lease). Once an append has failed for good, every later
 * write and flush fails too, and result_sink_status says why.
 *
 * Ownership: one sink per consumer thread, made and freed by it and
 * restarted (result_sink_restart) for each job attempt it runs. The store
 * and the claim are borrowed and must outlive the attempt. Sink and buffer
 * are one allocation.
 */
#ifndef JOBQ_RESULT_SINK_H
#define JOBQ_RESULT_SINK_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "job_store.h"
#include "task.h"

#define RESULT_SINK_BUFFER (1024 * 1024)

/* A retry policy: called with the status of each append; returns true when
 * the append should be made again (it has already waited), false to accept
 * the status. */
typedef bool (*result_sink_retry_fn)(void *ctx, enum job_store_status s);

struct result_sink;

/* result_sink_restart makes s serve attempt c from empty, with retry
 * policy retry (ctx retry_ctx); its buffer is kept. */
void result_sink_restart(struct result_sink *s, const struct job_claim *c,
			 result_sink_retry_fn retry, void *retry_ctx);

/* result_sink_new returns a sink writing through st (borrowed) with a
 * buffer of capacity bytes (> 0), serving no attempt until the first
 * result_sink_restart, or NULL when out of memory. Free with
 * result_sink_free. */
struct result_sink *result_sink_new(struct job_store *st, size_t capacity);

/* result_sink_free frees s; bytes not flushed are dropped. NULL is allowed. */
void result_sink_free(struct result_sink *s);

/* result_sink_output returns the task_output that writes into s. */
struct task_output result_sink_output(struct result_sink *s);


/* result_sink_pending points *buf at the bytes buffered and not yet
 * appended (owned by s, valid until the next write, flush or restart:
 * a restart empties the sink without touching its buffer, but the next
 * job's writes then reuse it) and returns
 * their length. The consumer stores them with the finish itself
 * (job_store_finish_next) instead of a flush of their own. */
size_t result_sink_pending(const struct result_sink *s, const char **buf);

/* result_sink_bytes returns how many bytes the task has written. */
uint64_t result_sink_bytes(const struct result_sink *s);

/* result_sink_status returns JOB_STORE_OK, or the status of the append that
 * failed for good. */
enum job_store_status result_sink_status(const struct result_sink *s);

#endif
