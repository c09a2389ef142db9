/*
 * Integration: external programs as tasks (--tasks). A declared program
 * gets the CSV on stdin and its stdout is the result; cancelling or timing
 * out a job kills the program's whole process group, grandchildren that
 * ignore SIGTERM included; a program that writes too much, cannot be run
 * or exits non-zero fails the job with a code that says so; a task name
 * nobody declared is refused at submission.
 */
#include <criterion/criterion.h>
#include <errno.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#include "harness.h"

#define KILL_GRACE_S 1

/* exec_write_tasks writes the tests' tasks file into the test's directory
 * and returns its path (static). Scripts are found from the repository's
 * root, the tests' working directory. */
static const char *exec_write_tasks(void)
{
	static char path[512];
	char cwd[256];
	FILE *f;

	cr_assert_not_null(getcwd(cwd, sizeof cwd));
	snprintf(path, sizeof path, "%s/tasks.json", harness.dir);
	f = fopen(path, "w");
	cr_assert_not_null(f);
	fprintf(f,
		"{\"sort\":{\"argv\":[\"%s/tests/tasks/sort_by_column.sh\",\"2\"],"
		"  \"env\":{\"PATH\":\"/usr/bin:/bin\",\"LC_ALL\":\"C\"},\"result_type\":\"text/csv\"},"
		" \"slow\":{\"argv\":[\"%s/tests/tasks/slow_with_grandchild.sh\"],"
		"  \"env\":{\"PATH\":\"/usr/bin:/bin\",\"PID_DIR\":\"%s\"}},"
		" \"slow_timeout\":{\"argv\":[\"%s/tests/tasks/slow_with_grandchild.sh\"],"
		"  \"env\":{\"PATH\":\"/usr/bin:/bin\",\"PID_DIR\":\"%s\"},\"timeout\":1},"
		" \"chatty\":{\"argv\":[\"/usr/bin/yes\",\"0123456789\"],\"max_output\":100000},"
		" \"fds\":{\"argv\":[\"/bin/sh\",\"-c\",\"cat >/dev/null; for f in /proc/$$/fd/*; do if [ -S $f ] || [ -p $f ]; then echo ${f##*/}; fi; done\"]},"
		" \"missing\":{\"argv\":[\"/nonexistent/jobq-no-such-program\"]},"
		" \"fails\":{\"argv\":[\"/bin/sh\",\"-c\",\"cat >/dev/null; echo something went wrong >&2; exit 3\"]}}",
		cwd, cwd, harness.dir, cwd, harness.dir);
	cr_assert_eq(fclose(f), 0);
	return path;
}

static void setup(void)
{
	const char *tasks;

	memset(&harness, 0, sizeof harness);
	harness_start_redis();
	tasks = exec_write_tasks();
	const char *const api_args[] = {"--tasks", tasks, NULL};
	const char *const worker_args[] = {"--tasks", tasks, "--kill-grace", "1s",
					       "--shutdown-grace", "1s", NULL};
	harness_start_api(api_args);
	harness_start_worker(worker_args);
}

TestSuite(exec, .init = setup, .fini = harness_teardown, .timeout = 90);

static const char *error_field(json_t *job, const char *field)
{
	return json_string_value(json_object_get(json_object_get(job, "error"), field));
}

/* finished_job waits for the job to end and asserts its status. */
static json_t *finished_job(const char *id, const char *want, int timeout_ms)
{
	json_t *job = wait_for_status(id, want, timeout_ms);
	const char *status = json_string_value(json_object_get(job, "status"));

	cr_assert_str_eq(status, want, "job %s is %s, not %s (error %s: %s)", id, status, want,
			 error_field(job, "code"), error_field(job, "message"));
	return job;
}

/* process_alive returns true while pid exists and is not a zombie. */
static bool process_alive(pid_t pid)
{
	char path[64], stat[512];
	FILE *f;
	char *p;
	size_t n;

	snprintf(path, sizeof path, "/proc/%d/stat", (int)pid);
	f = fopen(path, "r");
	if (f == NULL)
		return false;
	n = fread(stat, 1, sizeof stat - 1, f);
	fclose(f);
	stat[n] = '\0';
	p = strrchr(stat, ')');
	return p != NULL && p[1] == ' ' && p[2] != 'Z' && p[2] != 'X';
}

/* read_pids waits for slow_with_grandchild.sh's pids file. */
static void read_pids(pid_t *child, pid_t *grandchild)
{
	char path[512];
	long long deadline = monotonic_ms() + 10000;
	int c = 0, g = 0;

	snprintf(path, sizeof path, "%s/pids", harness.dir);
	while (monotonic_ms() < deadline) {
		FILE *f = fopen(path, "r");
		if (f != NULL) {
			int got = fscanf(f, "%d %d", &c, &g);
			fclose(f);
			if (got == 2)
				break;
		}
		sleep_ms(20);
	}
	cr_assert(c > 0 && g > 0, "the task never wrote its pids");
	*child = c;
	*grandchild = g;
}

/* wait_gone waits up to ms for pid to be gone; returns true when it is. */
static bool wait_gone(pid_t pid, int ms)
{
	long long deadline = monotonic_ms() + ms;

	while (process_alive(pid) && monotonic_ms() < deadline)
		sleep_ms(20);
	return !process_alive(pid);
}

Test(exec, a_program_sorts_the_csv_and_its_stdout_is_the_result)
{
	char *id = submit_csv("task=sort", "city,rank\nOslo,1\nBergen,3\nAlta,2\n");
	json_t *job = finished_job(id, "succeeded", 20000);
	char path[128];

	snprintf(path, sizeof path, "/v1/jobs/%s/result", id);
	struct http_reply r = http_get(path);
	cr_assert_eq(r.status, 200);
	cr_assert_str_eq(r.body, "city,rank\nOslo,1\nAlta,2\nBergen,3\n");
	char *type = http_header(&r, "Content-Type");
	cr_assert(type != NULL && strncmp(type, "text/csv", 8) == 0, "type %s", type);
	free(type);
	http_reply_free(&r);
	/* The program took all of its input: progress says so, not what the
	 * last checkpoint (every 50 ms) had seen. */
	json_t *progress = json_object_get(job, "progress");
	cr_assert_eq(json_integer_value(json_object_get(progress, "bytes")),
		     json_integer_value(json_object_get(progress, "bytes_total")),
		     "progress.bytes is not bytes_total at success");
	cr_assert_eq(json_integer_value(json_object_get(progress, "bytes_total")), 33);
	json_decref(job);
	free(id);
}

/* The listing shows pipes and sockets: the three pipes, and any Redis
 * socket or pipe of the worker that leaked. */
Test(exec, the_program_gets_its_three_pipes_and_no_socket_or_other_pipe)
{
	char *id = submit_csv("task=fds", "a\n1\n");
	json_t *job = finished_job(id, "succeeded", 20000);
	char path[128];

	snprintf(path, sizeof path, "/v1/jobs/%s/result", id);
	struct http_reply r = http_get(path);
	cr_assert_eq(r.status, 200);
	cr_assert_str_eq(r.body, "0\n1\n2\n", "the program had descriptors %s", r.body);
	http_reply_free(&r);
	json_decref(job);
	free(id);
}

Test(exec, cancel_kills_the_program_and_its_grandchild_that_ignores_sigterm)
{
	char *id = submit_csv("task=slow", "a\n1\n");
	pid_t child, grandchild;

	read_pids(&child, &grandchild);
	cr_assert(process_alive(child) && process_alive(grandchild));
	char path[128];
	snprintf(path, sizeof path, "/v1/jobs/%s", id);
	struct http_reply r = http_request("DELETE", path, NULL, NULL, 0, NULL);
	cr_assert_eq(r.status, 202, "DELETE answered %ld: %s", r.status, r.body);
	http_reply_free(&r);
	long long t0 = monotonic_ms();
	json_t *job = finished_job(id, "cancelled", (KILL_GRACE_S + 5) * 1000);
	cr_assert(wait_gone(child, 1000), "the program %d is still there", (int)child);
	cr_assert(wait_gone(grandchild, 1000), "the grandchild %d is still there", (int)grandchild);
	cr_assert_lt(monotonic_ms() - t0, (KILL_GRACE_S + 4) * 1000);
	cr_assert_str_eq(error_field(job, "code"), "cancelled");
	json_decref(job);
	free(id);
}

Test(exec, worker_shutdown_kills_the_program_and_requeues_the_job)
{
	char *id = submit_csv("task=slow", "a\n1\n");
	pid_t child, grandchild;

	read_pids(&child, &grandchild);
	int status = harness_stop_worker(0, SIGTERM, (1 + KILL_GRACE_S + 5) * 1000);
	cr_assert(WIFEXITED(status) && WEXITSTATUS(status) == 0, "worker status %d", status);
	cr_assert(wait_gone(child, 1000), "the program %d is still there", (int)child);
	cr_assert(wait_gone(grandchild, 1000), "the grandchild %d is still there", (int)grandchild);
	json_t *job = wait_for_status(id, "queued", 2000);
	cr_assert_str_eq(json_string_value(json_object_get(job, "status")), "queued");
	json_decref(job);
	free(id);
}

Test(exec, past_its_timeout_the_program_is_killed_and_the_job_fails_with_timeout)
{
	char *id = submit_csv("task=slow_timeout&max_attempts=1", "a\n1\n");
	pid_t child, grandchild;

	read_pids(&child, &grandchild);
	json_t *job = finished_job(id, "failed", (1 + KILL_GRACE_S + 5) * 1000);
	cr_assert_str_eq(error_field(job, "code"), "timeout");
	cr_assert(wait_gone(child, 1000), "the program %d is still there", (int)child);
	cr_assert(wait_gone(grandchild, 1000), "the grandchild %d is still there", (int)grandchild);
	json_decref(job);
	free(id);
}

Test(exec, output_past_max_output_fails_with_output_too_large)
{
	char *id = submit_csv("task=chatty&max_attempts=1", "a\n1\n");
	json_t *job = finished_job(id, "failed", 20000);

	cr_assert_str_eq(error_field(job, "code"), "output_too_large");
	cr_assert(strstr(error_field(job, "message"), "100000") != NULL, "%s",
		  error_field(job, "message"));
	json_decref(job);
	free(id);
}

Test(exec, a_program_that_does_not_exist_fails_with_exec_failed)
{
	char *id = submit_csv("task=missing&max_attempts=1", "a\n1\n");
	json_t *job = finished_job(id, "failed", 20000);
	const char *msg = error_field(job, "message");

	cr_assert_str_eq(error_field(job, "code"), "exec_failed");
	cr_assert(strstr(msg, "/nonexistent/jobq-no-such-program") != NULL &&
		  strstr(msg, "No such file or directory") != NULL, "message: %s", msg);
	json_decref(job);
	free(id);
}

Test(exec, a_non_zero_exit_fails_with_the_status_and_the_end_of_stderr)
{
	char *id = submit_csv("task=fails&max_attempts=1", "a\n1\n");
	json_t *job = finished_job(id, "failed", 20000);
	const char *msg = error_field(job, "message");

	cr_assert_str_eq(error_field(job, "code"), "exit_status");
	cr_assert(strstr(msg, "status 3") != NULL && strstr(msg, "something went wrong") != NULL,
		  "message: %s", msg);
	json_decref(job);
	free(id);
}

Test(exec, a_task_nobody_declared_is_refused_at_submission)
{
	struct http_reply r = http_post_csv("/v1/jobs?task=nope", "a\n1\n");
	json_t *body;

	cr_assert_eq(r.status, 400);
	body = http_json(&r);
	cr_assert_str_eq(error_field(body, "code"), "unknown_task");
	json_decref(body);
	http_reply_free(&r);
}

/* The README's example tasks file, with paths relative to the repository. */
static void setup_example(void)
{
	const char *const args[] = {"--tasks", "tests/tasks/tasks.example.json", NULL};

	memset(&harness, 0, sizeof harness);
	harness_start_redis();
	harness_start_api(args);
	harness_start_worker(args);
}

TestSuite(exec_example, .init = setup_example, .fini = harness_teardown, .timeout = 60);

Test(exec_example, the_example_sort_by_city_task_sorts_by_the_first_column)
{
	char *id = submit_csv("task=sort_by_city", "city,pop\nOslo,709000\nBergen,291000\nAlta,21000\n");
	json_t *job = finished_job(id, "succeeded", 20000);
	char path[128];

	snprintf(path, sizeof path, "/v1/jobs/%s/result", id);
	struct http_reply r = http_get(path);
	cr_assert_eq(r.status, 200);
	cr_assert_str_eq(r.body, "city,pop\nAlta,21000\nBergen,291000\nOslo,709000\n");
	http_reply_free(&r);
	json_decref(job);
	free(id);
}
