/*
 * main.c — the integration tests' own main: Criterion's, plus one check.
 *
 * Each test's teardown stops jobq-api and jobq-worker with SIGTERM and
 * expects exit status 0: that is how a leak (LeakSanitizer makes the
 * process exit non-zero), a crash or a hang at shutdown shows. Criterion
 * does not turn a failure inside .fini into a failed test, so a teardown
 * that sees one leaves a file in JOBQ_TEST_TEARDOWN_DIR, and this main
 * fails the run when any file is there.
 */
#include <criterion/criterion.h>
#include <dirent.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

/* count_and_remove returns the number of files in dir, printing and removing
 * each, then removes dir. */
static int count_and_remove(const char *dir)
{
	DIR *d = opendir(dir);
	int n = 0;
	struct dirent *e;
	while (d && (e = readdir(d))) {
		if (e->d_name[0] == '.')
			continue;
		char path[600];
		snprintf(path, sizeof path, "%s/%s", dir, e->d_name);
		fprintf(stderr, "teardown failure in test process %s\n", e->d_name);
		unlink(path);
		n++;
	}
	if (d)
		closedir(d);
	rmdir(dir);
	return n;
}

int main(int argc, char *argv[])
{
	char dir[] = "/tmp/jobq-teardown-XXXXXX";
	if (!mkdtemp(dir)) {
		perror("mkdtemp");
		return 2;
	}
	setenv("JOBQ_TEST_TEARDOWN_DIR", dir, 1);
	struct criterion_test_set *tests = criterion_initialize();
	int ok = 1;
	if (criterion_handle_args(argc, argv, true))
		ok = criterion_run_all_tests(tests);
	criterion_finalize(tests);
	int teardown_failures = count_and_remove(dir);
	if (teardown_failures)
		fprintf(stderr, "%d test(s) left a jobq process that did not exit cleanly\n",
			teardown_failures);
	return ok && teardown_failures == 0 ? 0 : 1;
}
