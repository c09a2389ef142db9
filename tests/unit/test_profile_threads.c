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

#include "profile_run.h"
#include "task.h"

/* An input size that makes a profile job large (at least 4 MiB). */
#define LARGE (UINT64_C(1) << 30)

/* job_start starts a profile job (profile_run.h) of an input of
 * bytes_total bytes with columns columns and feeds its header record,
 * where a large job takes its statistics threads. */
static void job_start(struct profile_run *j, uint64_t bytes_total, size_t columns)
{
	const char *names[8] = {"a", "b", "c", "d", "e", "f", "g", "h"};

	cr_assert_leq(columns, 8);
	profile_run_start(j, true, bytes_total);
	cr_assert_eq(profile_run_record(j, columns, names), 0);
}

/* job_rows feeds n records of generated cells to a job of 5 columns. */
static void job_rows(struct profile_run *j, size_t n)
{
	char cell[5][32];
	const char *cells[5] = {cell[0], cell[1], cell[2], cell[3], cell[4]};

	for (size_t i = 0; i < n; i++) {
		snprintf(cell[0], sizeof cell[0], "%zu", i * 7919 % 10007);
		snprintf(cell[1], sizeof cell[1], "%.3f", (double)i / 7.0);
		snprintf(cell[2], sizeof cell[2], "%s", i % 3 ? "true" : "false");
		snprintf(cell[3], sizeof cell[3], "w%zx", i % 4099);
		snprintf(cell[4], sizeof cell[4], "%s", i % 5 ? "x" : "");
		cr_assert_eq(profile_run_record(j, 5, cells), 0);
	}
}

Test(profile_threads, large_jobs_share_the_cap_and_the_last_ones_run_on_their_own_thread)
{
	struct profile_run a, b, c, d, ref;

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
	cr_assert_eq(task_profile.threads(a.task), 2);
	cr_assert_eq(task_profile.threads(b.task), 1);
	cr_assert_eq(task_profile.threads(c.task), 0);
	cr_assert_eq(task_profile.threads(ref.task), 0);
	job_rows(&a, 30000);
	job_rows(&b, 30000);
	job_rows(&c, 30000);
	job_rows(&ref, 30000);
	const char *want = profile_run_finish(&ref);
	cr_assert_str_eq(profile_run_finish(&a), want, "two threads");
	profile_run_free(&a);
	cr_assert_eq(task_profile_threads_in_use(), 1, "a destroyed job gives its threads back");
	job_start(&d, LARGE, 5);
	cr_assert_eq(task_profile_threads_in_use(), 3, "the next job takes what was given back");
	job_rows(&d, 30000);
	cr_assert_str_eq(profile_run_finish(&b), want, "one thread");
	cr_assert_str_eq(profile_run_finish(&c), want, "no thread but its own");
	cr_assert_str_eq(profile_run_finish(&d), want, "two threads again");
	profile_run_free(&b);
	profile_run_free(&c);
	profile_run_free(&d);
	profile_run_free(&ref);
	cr_assert_eq(task_profile_threads_in_use(), 0);
}

/* A job's result is stored after finish, which may take long while Redis
 * is away: its statistics threads, joined by then, are given back at
 * finish, not held until the job is destroyed. */
Test(profile_threads, a_finished_job_gives_its_threads_back_before_it_is_destroyed)
{
	struct profile_run a;
	struct task_error err;

	task_profile_set_threads(2);
	task_profile_set_thread_cap(2);
	job_start(&a, LARGE, 5);
	cr_assert_eq(task_profile_threads_in_use(), 2);
	job_rows(&a, 30000);
	cr_assert_eq(task_profile.finish(a.task, &err), 0, "%s", err.message);
	cr_assert_eq(task_profile_threads_in_use(), 0, "finish gives the threads back");
	cr_assert_eq(task_profile.threads(a.task), 2, "and the job still says it ran on them");
	task_profile.destroy(a.task);
	a.task = NULL;
	cr_assert_eq(task_profile_threads_in_use(), 0, "and destroy does not give them twice");
	profile_run_free(&a);
}

Test(profile_threads, without_a_cap_every_large_job_gets_what_it_asks)
{
	struct profile_run j[3];

	task_profile_set_threads(2);
	task_profile_set_thread_cap(0);
	for (int i = 0; i < 3; i++)
		job_start(&j[i], LARGE, 5);
	cr_assert_eq(task_profile_threads_in_use(), 6);
	for (int i = 0; i < 3; i++) {
		profile_run_finish(&j[i]);
		profile_run_free(&j[i]);
	}
	cr_assert_eq(task_profile_threads_in_use(), 0);
}

/* job_start_alone starts a large job of columns columns, with threads
 * statistics threads a job and the cap cap, alone in the process, and
 * asserts it took want threads. */
static void job_start_alone(struct profile_run *j, unsigned threads, unsigned cap, size_t columns,
			    unsigned want)
{
	task_profile_set_threads(threads);
	task_profile_set_thread_cap(cap);
	job_start(j, LARGE, columns);
	cr_assert_eq(task_profile_threads_in_use(), want);
}

/* The worker's cap, whatever the CPUs of the machine the tests run on. */
Test(profile_threads, the_cap_is_one_thread_a_cpu_whatever_a_job_asks_for_below_that)
{
	cr_assert_eq(task_profile_thread_cap(1, 2), 2);
	cr_assert_eq(task_profile_thread_cap(2, 2), 2);
	cr_assert_eq(task_profile_thread_cap(1, 32), 32);
	cr_assert_eq(task_profile_thread_cap(16, 32), 32);
	cr_assert_eq(task_profile_thread_cap(40, 32), 32);
}

Test(profile_threads, a_job_asking_for_more_than_the_cpus_raises_the_cap_to_what_it_can_use)
{
	cr_assert_eq(task_profile_thread_cap(4, 2), 4);
	cr_assert_eq(task_profile_thread_cap(16, 2), 16);
	cr_assert_eq(task_profile_thread_cap(40, 2), 16, "one job uses at most 16");
	cr_assert_eq(task_profile_thread_cap(17, 16), 16);
	cr_assert_eq(task_profile_thread_cap(40, 17), 17);
}

Test(profile_threads, a_job_takes_no_more_threads_than_it_has_columns)
{
	struct profile_run j;

	job_start_alone(&j, 4, 8, 2, 2);
	profile_run_finish(&j);
	profile_run_free(&j);
	cr_assert_eq(task_profile_threads_in_use(), 0);
}

Test(profile_threads, a_job_stopped_before_its_end_gives_its_threads_back)
{
	struct profile_run j;

	job_start_alone(&j, 3, 3, 5, 3);
	job_rows(&j, 1000);
	profile_run_free(&j); /* no finish: a cancelled or failed job */
	cr_assert_eq(task_profile_threads_in_use(), 0);
}
