/*
 * The cap on the statistics threads of a worker's large profile jobs
 * (task_profile_set_thread_cap): jobs take threads while the cap leaves
 * some, fewer or none after that, give them back when destroyed, and give
 * the same result whatever they got.
 */
#include <criterion/criterion.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "task.h"

/* An input size that makes a profile job large (at least 4 MiB). */
#define LARGE (UINT64_C(1) << 30)

/* One profile job fed record by record; its result gathered in text. */
struct job {
	struct task_output out;
	void *task;
	char *text;
	size_t len;
	uint64_t line;
};

static int job_write(void *ctx, const char *buf, size_t len)
{
	struct job *j = ctx;

	j->text = realloc(j->text, j->len + len + 1);
	cr_assert_not_null(j->text);
	memcpy(j->text + j->len, buf, len);
	j->len += len;
	j->text[j->len] = '\0';
	return 0;
}

/* job_record feeds the n cells as one record. */
static void job_record(struct job *j, size_t n, const char *const *cells)
{
	for (size_t i = 0; i < n; i++)
		cr_assert_eq(task_profile.field(j->task, cells[i], strlen(cells[i])), 0);
	cr_assert_eq(task_profile.record_end(j->task, ++j->line), 0);
}

/* job_start makes a profile job of an input of bytes_total bytes with
 * columns columns and feeds its header record, where a large job takes its
 * statistics threads. */
static void job_start(struct job *j, uint64_t bytes_total, size_t columns)
{
	struct task_params params = {.delimiter = ',', .header = true, .bytes_total = bytes_total};
	struct task_error err;
	const char *names[8] = {"a", "b", "c", "d", "e", "f", "g", "h"};

	cr_assert_leq(columns, 8);
	memset(j, 0, sizeof *j);
	j->out = (struct task_output){job_write, j};
	j->task = task_profile.create(&params, &j->out, &err);
	cr_assert_not_null(j->task, "%s", err.message);
	job_record(j, columns, names);
}

/* job_rows feeds n records of generated cells to a job of 5 columns. */
static void job_rows(struct job *j, size_t n)
{
	char cell[5][32];
	const char *cells[5] = {cell[0], cell[1], cell[2], cell[3], cell[4]};

	for (size_t i = 0; i < n; i++) {
		snprintf(cell[0], sizeof cell[0], "%zu", i * 7919 % 10007);
		snprintf(cell[1], sizeof cell[1], "%.3f", (double)i / 7.0);
		snprintf(cell[2], sizeof cell[2], "%s", i % 3 ? "true" : "false");
		snprintf(cell[3], sizeof cell[3], "w%zx", i % 4099);
		snprintf(cell[4], sizeof cell[4], "%s", i % 5 ? "x" : "");
		job_record(j, 5, cells);
	}
}

/* job_finish ends the job, destroys it and returns its result (caller
 * frees). */
static char *job_finish(struct job *j)
{
	struct task_error err;

	cr_assert_eq(task_profile.finish(j->task, &err), 0, "%s", err.message);
	task_profile.destroy(j->task);
	j->task = NULL;
	return j->text;
}

Test(profile_threads, large_jobs_share_the_cap_and_the_last_ones_run_on_their_own_thread)
{
	struct job a, b, c, d, ref;

	task_profile_set_threads(2);
	task_profile_set_thread_cap(3);
	job_start(&a, LARGE, 5);
	cr_assert_eq(task_profile_threads_in_use(), 2, "the first job gets what it asks");
	job_start(&b, LARGE, 5);
	cr_assert_eq(task_profile_threads_in_use(), 3, "the second gets what is left");
	job_start(&c, LARGE, 5);
	cr_assert_eq(task_profile_threads_in_use(), 3, "the third gets none");
	job_start(&ref, 0, 5);
	cr_assert_eq(task_profile_threads_in_use(), 3, "a small job takes none");
	job_rows(&a, 30000);
	job_rows(&b, 30000);
	job_rows(&c, 30000);
	job_rows(&ref, 30000);
	char *want = job_finish(&ref), *got = job_finish(&a);
	cr_assert_str_eq(got, want, "two threads");
	free(got);
	cr_assert_eq(task_profile_threads_in_use(), 1, "a destroyed job gives its threads back");
	job_start(&d, LARGE, 5);
	cr_assert_eq(task_profile_threads_in_use(), 3, "the next job takes what was given back");
	job_rows(&d, 30000);
	got = job_finish(&b);
	cr_assert_str_eq(got, want, "one thread");
	free(got);
	got = job_finish(&c);
	cr_assert_str_eq(got, want, "no thread but its own");
	free(got);
	got = job_finish(&d);
	cr_assert_str_eq(got, want, "two threads again");
	free(got);
	free(want);
	cr_assert_eq(task_profile_threads_in_use(), 0);
}

/* A job's result is stored after finish, which may take long while Redis
 * is away: its statistics threads, joined by then, are given back at
 * finish, not held until the job is destroyed. */
Test(profile_threads, a_finished_job_gives_its_threads_back_before_it_is_destroyed)
{
	struct job a;
	struct task_error err;

	task_profile_set_threads(2);
	task_profile_set_thread_cap(2);
	job_start(&a, LARGE, 5);
	cr_assert_eq(task_profile_threads_in_use(), 2);
	job_rows(&a, 30000);
	cr_assert_eq(task_profile.finish(a.task, &err), 0, "%s", err.message);
	cr_assert_eq(task_profile_threads_in_use(), 0, "finish gives the threads back");
	task_profile.destroy(a.task);
	cr_assert_eq(task_profile_threads_in_use(), 0, "and destroy does not give them twice");
	free(a.text);
}

Test(profile_threads, without_a_cap_every_large_job_gets_what_it_asks)
{
	struct job j[3];

	task_profile_set_threads(2);
	task_profile_set_thread_cap(0);
	for (int i = 0; i < 3; i++)
		job_start(&j[i], LARGE, 5);
	cr_assert_eq(task_profile_threads_in_use(), 6);
	for (int i = 0; i < 3; i++)
		free(job_finish(&j[i]));
	cr_assert_eq(task_profile_threads_in_use(), 0);
}

/* job_start_alone starts a large job of columns columns, with threads
 * statistics threads a job and the cap cap, alone in the process, and
 * asserts it took want threads. */
static void job_start_alone(struct job *j, unsigned threads, unsigned cap, size_t columns,
			    unsigned want)
{
	task_profile_set_threads(threads);
	task_profile_set_thread_cap(cap);
	job_start(j, LARGE, columns);
	cr_assert_eq(task_profile_threads_in_use(), want);
}

Test(profile_threads, a_job_takes_no_more_threads_than_it_has_columns)
{
	struct job j;

	job_start_alone(&j, 4, 8, 2, 2);
	free(job_finish(&j));
	cr_assert_eq(task_profile_threads_in_use(), 0);
}

Test(profile_threads, a_job_stopped_before_its_end_gives_its_threads_back)
{
	struct job j;

	job_start_alone(&j, 3, 3, 5, 3);
	job_rows(&j, 1000);
	task_profile.destroy(j.task); /* no finish: a cancelled or failed job */
	free(j.text);
	cr_assert_eq(task_profile_threads_in_use(), 0);
}
