/*
 * Integration: the worker's cap on the statistics threads of its large
 * profile jobs together (worker/main.c): one a CPU, or --profile-threads
 * when that asks for more (up to the 16 one job can use). The worker
 * states both in its "worker started" line. These check that the flag and
 * the host's CPUs reach it; on a host of 16 CPUs or more both give the
 * CPUs, so the cap's cases are told apart for any CPU count by the unit
 * tests of task_profile_thread_cap (tests/unit/test_profile_threads.c).
 */
#include <criterion/criterion.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

#include "harness.h"

static void setup(void)
{
	harness_setup_with(0);
}

TestSuite(profile_cap, .init = setup, .fini = harness_teardown, .timeout = 60);

/* assert_cap starts a worker with --profile-threads threads and --concurrency
 * 8 and asserts its started line states the cap want. */
static void assert_cap(const char *threads, long want)
{
	const char *args[] = {"--profile-threads", threads, "--concurrency", "8", NULL};
	int i = harness_start_worker(args);
	char name[32], pattern[96];

	snprintf(name, sizeof name, "worker%d", i);
	snprintf(pattern, sizeof pattern, "\"msg\":\"worker started\".*\"profile_thread_cap\":%ld[,}]",
		 want);
	cr_assert(harness_log_wait(name, pattern, 10000), "no started line with the cap %ld", want);
}

Test(profile_cap, the_cap_is_one_thread_a_cpu_whatever_the_concurrency)
{
	assert_cap("1", sysconf(_SC_NPROCESSORS_ONLN));
}

Test(profile_cap, more_threads_asked_for_one_job_raise_the_cap_to_what_one_job_can_use)
{
	long cpus = sysconf(_SC_NPROCESSORS_ONLN);

	assert_cap("40", cpus > 16 ? cpus : 16);
}
