/*
 * result_sink — see result_sink.h.
 */
#include "result_sink.h"

#include <stdlib.h>
#include <string.h>

struct result_sink {
	struct job_store *store;       /* borrowed */
	const struct job_claim *claim; /* borrowed */
	result_sink_retry_fn retry;
	void *retry_ctx;
	enum job_store_status status;  /* OK until an append fails for good */
	uint64_t written;              /* bytes the task gave us */
	size_t used, capacity;
	char buf[];                    /* capacity bytes */
};

struct result_sink *result_sink_new(struct job_store *st, size_t capacity)
{
	struct result_sink *s = malloc(sizeof *s + capacity);

	if (s == NULL)
		return NULL;
	*s = (struct result_sink){.store = st, .status = JOB_STORE_OK, .capacity = capacity};
	return s;
}

void result_sink_restart(struct result_sink *s, const struct job_claim *c,
			 result_sink_retry_fn retry, void *retry_ctx)
{
	s->claim = c;
	s->retry = retry;
	s->retry_ctx = retry_ctx;
	s->status = JOB_STORE_OK;
	s->written = 0;
	s->used = 0;
}

void result_sink_free(struct result_sink *s)
{
	free(s);
}

/* sink_append stores len bytes with the retry policy. Returns 0, or -1 with
 * s->status set. */
static int sink_append(struct result_sink *s, const char *buf, size_t len)
{
	enum job_store_status st;

	if (s->status != JOB_STORE_OK)
		return -1;
	if (len == 0)
		return 0;
	do
		st = job_store_result_append(s->store, s->claim, buf, len);
	while (s->retry(s->retry_ctx, st));
	s->status = st;
	return st == JOB_STORE_OK ? 0 : -1;
}

/* result_sink_flush appends whatever is buffered. Returns 0, or -1 when
 * that failed (result_sink_status says why). */
static int result_sink_flush(struct result_sink *s)
{
	int rc = sink_append(s, s->buf, s->used);

	if (rc == 0)
		s->used = 0;
	return rc;
}

/* sink_write is the task_output's write: buffer small writes, send a
 * write that would not fit even in an empty buffer straight through. */
static int sink_write(void *ctx, const char *buf, size_t len)
{
	struct result_sink *s = ctx;

	if (s->status != JOB_STORE_OK)
		return -1;
	if (len > s->capacity - s->used && result_sink_flush(s) != 0)
		return -1;
	s->written += len;
	if (len >= s->capacity)
		return sink_append(s, buf, len);
	memcpy(s->buf + s->used, buf, len);
	s->used += len;
	return 0;
}

struct task_output result_sink_output(struct result_sink *s)
{
	return (struct task_output){.write = sink_write, .ctx = s};
}

size_t result_sink_pending(const struct result_sink *s, const char **buf)
{
	*buf = s->buf;
	return s->used;
}

uint64_t result_sink_bytes(const struct result_sink *s)
{
	return s->written;
}

enum job_store_status result_sink_status(const struct result_sink *s)
{
	return s->status;
}
