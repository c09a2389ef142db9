/*
 * Integration: what happens around a job when clients and workers come and
 * go — an upload cut halfway leaves nothing, a client that hangs up after
 * sending everything still gets its job done, a worker stops cleanly.
 */
#include <criterion/criterion.h>
#include <signal.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>

#include "harness.h"

/* The API also knows harness_sleep_tasks() (for stall3); the built-in tasks
 * stay as they are. */
TestSuite(lifecycle, .init = harness_setup_sleep_tasks, .fini = harness_teardown, .timeout = 60);

/* An upload cut after more than one staging piece (256 KiB) has been written
 * to Redis must leave no key behind. */
Test(lifecycle, upload_cut_halfway_leaves_no_key)
{
	size_t len;
	char *csv = harness_csv_rows(100000, &len); /* 1.6 MB */
	int fd = raw_connect();
	raw_csv_head(fd, len);
	raw_send(fd, csv, len / 2);
	sleep_ms(300);
	close(fd);
	long long end = monotonic_ms() + 5000;
	long staging = -1, jobs = -1;
	while (monotonic_ms() < end) {
		staging = redis_count_keys("jobq:staging:*");
		jobs = redis_count_keys("jobq:job:*");
		if (staging == 0 && jobs == 0)
			break;
		sleep_ms(50);
	}
	cr_assert_eq(staging, 0, "the staging key of a cut upload is still there");
	cr_assert_eq(jobs, 0, "a cut upload became a job");
	free(csv);
}

/* A client that sends a whole upload and hangs up without reading the reply
 * still gets its job: the API enqueues before it replies. */
Test(lifecycle, client_that_hangs_up_after_sending_still_gets_its_job_done)
{
	size_t len;
	char *csv = harness_csv_rows(50000, &len);
	int fd = raw_connect();
	raw_csv_head(fd, len);
	raw_send(fd, csv, len);
	shutdown(fd, SHUT_RDWR);
	close(fd);
	harness_start_worker(NULL);
	long long end = monotonic_ms() + 20000;
	char status[32] = "";
	while (monotonic_ms() < end && strcmp(status, "succeeded") != 0) {
		redisReply *keys = redis_cmd("KEYS jobq:job:????????????????????????????????");
		if (keys->elements == 1) {
			redisReply *s = redis_cmd("HGET %s status", keys->element[0]->str);
			if (s->type == REDIS_REPLY_STRING)
				snprintf(status, sizeof status, "%s", s->str);
			freeReplyObject(s);
		}
		cr_assert_leq(keys->elements, 1);
		freeReplyObject(keys);
		sleep_ms(50);
	}
	cr_assert_str_eq(status, "succeeded");
	/* The access log counts the hang-up as the client's (499), not as a
	 * server error, and names the job it created. */
	char log[400], cmd[600];
	snprintf(log, sizeof log, "%s/api.log", harness.dir);
	snprintf(cmd, sizeof cmd,
		 "grep '\"msg\":\"request\"' %s | grep '\"job_id\"' | grep -q '\"status\":499'", log);
	cr_assert_eq(system(cmd), 0, "no 499 access log line with the job id in %s", log);
	free(csv);
}

Test(lifecycle, worker_exits_zero_on_sigterm_when_idle)
{
	int w = harness_start_worker(NULL);
	sleep_ms(300);
	int status = harness_stop_worker(w, SIGTERM, 10000);
	cr_assert_neq(status, -1, "worker did not exit after SIGTERM");
	cr_assert(WIFEXITED(status) && WEXITSTATUS(status) == 0, "worker exit status %d", status);
}

/* SIGTERM lets a running job finish (within the grace) before exiting. */
Test(lifecycle, worker_finishes_its_running_job_before_exiting_on_sigterm)
{
	size_t len;
	char *csv = harness_csv_rows(400000, &len); /* 6.4 MB: long enough to be running */
	char *id = submit_csv("task=ndjson", csv);
	int w = harness_start_worker(NULL);
	json_t *job = wait_for_status(id, "running", 10000);
	json_decref(job);
	int status = harness_stop_worker(w, SIGTERM, 30000);
	cr_assert(WIFEXITED(status) && WEXITSTATUS(status) == 0, "worker exit status %d", status);
	job = wait_for_status(id, "succeeded", 1000);
	cr_assert_str_eq(json_string_value(json_object_get(job, "status")), "succeeded");
	json_decref(job);
	free(id), free(csv);
}

/* progress_bytes returns the job's progress.bytes. */
static long long progress_bytes(json_t *job)
{
	return json_integer_value(json_object_get(json_object_get(job, "progress"), "bytes"));
}

/* A large job's progress is written while it runs (every 250 ms), so it
 * can be seen partway. How long a built-in task takes on 24 MB
 * depends on the machine (a fast run can end before the first write), so
 * the job is stall3: it reads 1 MiB, stops reading for 3 s, then reads the
 * rest. For those 3 s the worker can feed it no more than 1 MiB and a pipe
 * buffer, on any machine, so a running job with partial progress is there
 * to be seen. */
Test(lifecycle, progress_moves_while_a_large_job_runs)
{
	size_t len;
	char *csv = harness_csv_rows(1500000, &len); /* 24 MB */
	char *id = submit_csv("task=stall3", csv);
	const char *const args[] = {"--tasks", harness_sleep_tasks(), NULL};
	harness_start_worker(args);
	json_t *job = wait_for_status(id, "running", 10000);
	long long seen = 0, end = monotonic_ms() + 30000;
	while (strcmp(json_string_value(json_object_get(job, "status")), "running") == 0 &&
	       monotonic_ms() < end) {
		seen = progress_bytes(job);
		if (seen > 0)
			break;
		json_decref(job);
		sleep_ms(20);
		job = wait_for_status(id, "running", 1000);
	}
	cr_assert_str_eq(json_string_value(json_object_get(job, "status")), "running",
			 "the job ended before any progress was seen");
	cr_assert_gt(seen, 0, "never saw progress on a running job");
	cr_assert_lt(seen, (long long)len, "the running job had read all of its input");
	json_decref(job);
	job = wait_for_status(id, "succeeded", 60000);
	cr_assert_str_eq(json_string_value(json_object_get(job, "status")), "succeeded");
	json_decref(job);
	free(id), free(csv);
}

/* mixed_csv returns about rows records of six mixed columns: integers,
 * floats, booleans, dates, quoted text holding commas, LF, CRLF and
 * doubled quotes, and a mostly empty column. Records end with CRLF. */
static char *mixed_csv(size_t rows)
{
	size_t cap = 64 + rows * 96, len = 0;
	char *s = malloc(cap);
	uint64_t x = 0x9e3779b97f4a7c15ull;

	cr_assert_not_null(s);
	len += (size_t)snprintf(s, cap, "id,price,ok,day,note,rare\r\n");
	for (size_t i = 0; i < rows; i++) {
		x ^= x << 13, x ^= x >> 7, x ^= x << 17;
		len += (size_t)snprintf(s + len, cap - len,
					"%zu,%llu.%02u,%s,20%02u-%02u-%02u,\"n%llx, \"\"q\"\"\n%s\",%s\r\n",
					i, (unsigned long long)(x % 100000), (unsigned)(x % 100),
					x & 1 ? "true" : "False", (unsigned)(x % 100), (unsigned)(x % 12) + 1,
					(unsigned)(x % 28) + 1, (unsigned long long)(x % 4096),
					x & 2 ? "\r\nx" : "y", i % 97 ? "" : "r");
	}
	return s;
}

/* profile_result returns the result body of the succeeded job id. */
static char *profile_result(const char *id)
{
	char path[80];

	json_decref(wait_for_status(id, "succeeded", 60000));
	snprintf(path, sizeof path, "/v1/jobs/%s/result", id);
	struct http_reply r = http_get(path);
	cr_assert_eq(r.status, 200);
	char *body = strndup(r.body, r.len);
	http_reply_free(&r);
	return body;
}

/* expect_stats_threads asserts that worker w's "job finished" line for
 * job id says it ran on n statistics threads. */
static void expect_stats_threads(int w, const char *id, int n)
{
	char log[16], pattern[160];

	snprintf(log, sizeof log, "worker%d", w);
	snprintf(pattern, sizeof pattern,
		 "\"msg\":\"job finished\".*\"job_id\":\"%s\".*\"stats_threads\":%d[,}]", id, n);
	cr_assert(harness_log_wait(log, pattern, 5000), "%s.log has no line matching %s", log, pattern);
}

/* The statistics threads of a large profile split the columns; however
 * many there are, the result is the same bytes. Each job says how many
 * it ran on: the flag reached it (the 6 columns and the worker's cap,
 * at least the flag's 4, leave it whole). */
Test(lifecycle, profile_result_is_the_same_with_one_or_four_stats_threads)
{
	char *csv = mixed_csv(100000); /* about 6 MB: above the 4 MiB pipe threshold */
	char *one = submit_csv("task=profile&queue=one", csv);
	char *four = submit_csv("task=profile&queue=four", csv);
	int w1 = harness_start_worker((const char *const[]){"--queue", "one", "--profile-threads", "1", NULL});
	int w4 = harness_start_worker((const char *const[]){"--queue", "four", "--profile-threads", "4", NULL});
	char *a = profile_result(one), *b = profile_result(four);

	expect_stats_threads(w1, one, 1);
	expect_stats_threads(w4, four, 4);
	json_t *res = json_loads(a, 0, NULL);

	cr_assert_gt(strlen(csv), 4u << 20);
	json_t *cols = json_object_get(res, "columns");
	json_t *id = json_array_get(cols, 0), *ok = json_array_get(cols, 2), *rare = json_array_get(cols, 5);

	cr_assert_eq(json_integer_value(json_object_get(res, "rows")), 100000);
	cr_assert_eq(json_integer_value(json_object_get(id, "max")), 99999);
	cr_assert_str_eq(json_string_value(json_object_get(ok, "type")), "boolean");
	cr_assert_eq(json_integer_value(json_object_get(rare, "count")), 1031); /* i % 97 == 0 */
	cr_assert_eq(json_integer_value(json_object_get(rare, "empty")), 100000 - 1031);
	cr_assert_str_eq(a, b);
	json_decref(res);
	free(a), free(b), free(one), free(four), free(csv);
}

/* A profile of an input large enough for two threads (stats_pipe) ends
 * with every row counted and the statistics of all of them. */
Test(lifecycle, profile_of_a_large_input_counts_every_row_on_two_threads)
{
	char *csv = harness_csv_rows(400000, NULL); /* 6.4 MB */
	char *id = submit_csv("task=profile", csv);
	harness_start_worker(NULL);
	json_t *job = wait_for_status(id, "succeeded", 60000);
	json_decref(job);
	char path[80];
	snprintf(path, sizeof path, "/v1/jobs/%s/result", id);
	struct http_reply r = http_get(path);
	json_t *res = http_json(&r);
	http_reply_free(&r);
	json_t *col = json_array_get(json_object_get(res, "columns"), 0);
	cr_assert_eq(json_integer_value(json_object_get(res, "rows")), 400000);
	cr_assert_eq(json_integer_value(json_object_get(col, "count")), 400000);
	cr_assert_eq(json_integer_value(json_object_get(col, "min")), 0);
	cr_assert_eq(json_integer_value(json_object_get(col, "max")), 399999);
	cr_assert_str_eq(json_string_value(json_object_get(col, "type")), "integer");
	json_decref(res);
	free(id), free(csv);
}

/* The field that straddles each piece boundary in boundary_csv: 30 bytes
 * between its quotes, the longest value of its column. */
#define STRADDLER "first half\nsecond half, quoted"

/* boundary_csv returns an "id,text" input of about 5 MiB (free it) with
 * *rows records. Each text is "abcdefgh" padded with 'x', except that at
 * each MiB boundary k (1..4) a record quotes STRADDLER so that its newline
 * is the last byte of the piece before the boundary (k odd) or the first
 * byte of the piece after it (k even). */
static char *boundary_csv(size_t *rows)
{
	size_t cap = 6u << 20, len = 0, i = 0;
	char *s = malloc(cap);

	cr_assert_not_null(s);
	len += (size_t)snprintf(s, cap, "id,text\n");
	for (size_t k = 1; k <= 4; k++) {
		/* The record starts 19 bytes before its newline: "%07zu,\"first half". */
		size_t nl = (k << 20) - 1 + (k % 2 == 0), start = nl - 19;

		while (len + 2 * 17 <= start)
			len += (size_t)snprintf(s + len, cap - len, "%07zu,abcdefgh\n", i++);
		len += (size_t)snprintf(s + len, cap - len, "%07zu,abcdefgh%.*s\n", i++,
					(int)(start - len - 17), "xxxxxxxxxxxxxxxxx");
		cr_assert_eq(len, start);
		len += (size_t)snprintf(s + len, cap - len, "%07zu,\"" STRADDLER "\"\n", i++);
		cr_assert_eq(s[nl], '\n');
	}
	while (len < (5u << 20) + 7)
		len += (size_t)snprintf(s + len, cap - len, "%07zu,abcdefgh\n", i++);
	*rows = i;
	return s;
}

/* An input the worker reads in several 1 MiB pieces profiles as one
 * whole: a quoted field with a newline in it that a piece boundary cuts
 * is one value, and no row is lost or counted twice. */
Test(lifecycle, profile_of_pieces_cut_inside_a_quoted_newline_sees_each_value_whole)
{
	size_t rows;
	char *csv = boundary_csv(&rows);
	char *id = submit_csv("task=profile", csv);
	harness_start_worker(NULL);
	char *body = profile_result(id);
	json_t *res = json_loads(body, 0, NULL);
	json_t *cols = json_object_get(res, "columns");
	json_t *num = json_array_get(cols, 0), *text = json_array_get(cols, 1);

	cr_assert_not_null(res, "%s", body);
	cr_assert_eq(json_integer_value(json_object_get(res, "rows")), (json_int_t)rows);
	cr_assert_eq(json_integer_value(json_object_get(num, "count")), (json_int_t)rows);
	cr_assert_eq(json_integer_value(json_object_get(num, "max")), (json_int_t)rows - 1);
	cr_assert_eq(json_integer_value(json_object_get(text, "count")), (json_int_t)rows);
	cr_assert_eq(json_integer_value(json_object_get(text, "min_length")), 8);
	cr_assert_eq(json_integer_value(json_object_get(text, "max_length")),
		     (json_int_t)strlen(STRADDLER));
	cr_assert_str_eq(json_string_value(json_object_get(text, "type")), "text");
	json_decref(res);
	free(body), free(id), free(csv);
}

/* run_with_input_cut submits rows of CSV (past the 4 KiB kept in the job
 * hash, so its input is a key) to task, then, before any worker runs,
 * leaves keep bytes of the input key (-1: deletes it), starts a worker
 * and returns the job once it ended (caller releases). */
static json_t *run_with_input_cut(const char *task, size_t rows, long keep)
{
	char query[64], key[128];
	size_t len;
	char *csv = harness_csv_rows(rows, &len);
	snprintf(query, sizeof query, "task=%s", task);
	char *id = submit_csv(query, csv);
	snprintf(key, sizeof key, "jobq:job:%s:input:0", id);
	redisReply *r = keep < 0 ? redis_cmd("DEL %s", key) : redis_cmd("SET %s %b", key, csv, (size_t)keep);
	cr_assert(keep < 0 ? r->integer == 1 : r->type == REDIS_REPLY_STATUS, "the input key of %s was not there", id);
	freeReplyObject(r);
	const char *const args[] = {"--tasks", harness_sleep_tasks(), NULL};
	harness_start_worker(args);
	json_t *job = wait_for_status(id, "failed", 20000);
	free(id);
	free(csv);
	return job;
}

/* expect_input_missing checks that job failed for good with input_missing
 * after its one attempt, and releases it. */
static void expect_input_missing(json_t *job)
{
	json_t *err = json_object_get(job, "error");
	char *dump = json_dumps(job, 0);
	cr_assert_str_eq(json_string_value(json_object_get(job, "status")), "failed", "%s", dump);
	cr_assert_str_eq(json_string_value(json_object_get(err, "code")), "input_missing", "%s", dump);
	cr_assert_eq(json_integer_value(json_object_get(job, "attempts")), 1, "%s", dump);
	free(dump);
	json_decref(job);
}

/* GETRANGE answers "" for a key that is gone: a job whose input key was
 * deleted must fail, not succeed on no rows. */
Test(lifecycle, a_job_whose_input_key_was_deleted_fails_input_missing)
{
	expect_input_missing(run_with_input_cut("profile", 1000, -1));
}

/* An input key shorter than the job's bytes is as good as gone. */
Test(lifecycle, a_job_whose_input_key_is_shorter_than_its_bytes_fails_input_missing)
{
	expect_input_missing(run_with_input_cut("profile", 1000, 5000));
}

/* An external program reads its input through the same check. */
Test(lifecycle, an_external_program_whose_input_key_was_deleted_fails_input_missing)
{
	expect_input_missing(run_with_input_cut("sleep3", 1000, -1));
}
