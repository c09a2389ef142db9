/*
 * profile_run: one profile task driven record by record in a unit test,
 * its result gathered in memory. Shared by the profile tests (the task's
 * statistics, test_profile.c) and the thread-cap tests
 * (test_profile_threads.c), which feed it the same way.
 *
 * Every function asserts (Criterion) instead of returning an error that
 * a test would have to check. A run owns its task and its gathered text
 * until profile_run_free.
 */
#ifndef JOBQ_TESTS_PROFILE_RUN_H
#define JOBQ_TESTS_PROFILE_RUN_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "task.h"

/* The task's output: everything written, or a refusal when refuse is set. */
struct profile_sink {
	char *data; /* NUL-terminated; NULL until the first write */
	size_t len;
	size_t writes;
	bool refuse;
};

struct profile_run {
	struct profile_sink sink;
	struct task_output out;
	void *task; /* NULL once finished */
	uint64_t line;
};

/* profile_run_start creates the profile task of a comma-separated input of
 * bytes_total bytes (0: unknown, a small job), with a header record or not.
 * Asserts the task was created. */
void profile_run_start(struct profile_run *r, bool header, uint64_t bytes_total);

/* profile_run_record feeds one record of n cells and returns what
 * record_end, or the first failing field, returned. */
int profile_run_record(struct profile_run *r, size_t n, const char *const *cells);

/* profile_run_finish asserts the task finishes, destroys it and returns the
 * result's text, which stays the run's (freed by profile_run_free). */
const char *profile_run_finish(struct profile_run *r);

/* profile_run_free destroys the task if it was not finished (a stopped
 * job) and frees the gathered text. */
void profile_run_free(struct profile_run *r);

#endif
