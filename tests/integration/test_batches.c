/*
 * Integration: a consumer's batches of small jobs (worker/consumer.h),
 * against the real binaries. A consumer holds up to 16 small jobs (a
 * built-in task, input inline) claimed by one finish_next.lua call, runs
 * them one after the other and reports their successes together:
 *
 *   a long job queued among small ones is claimed alone, and the small
 *     ones never wait behind it;
 *   results too big to sit together in the consumer's tails are reported
 *     early, and every result is stored whole and right;
 *   a held job cancelled before its turn ends cancelled, the others
 *     succeed;
 *   a worker killed while it holds a batch loses none of it: the held
 *     jobs are reaped when their leases end and succeed on their next
 *     attempt.
 *
 * "Slow" small jobs make the window a test acts in: an ndjson job whose
 * 4 KiB input has a column name of hundreds of bytes writes a result of
 * 0.6 to 2 MiB, milliseconds of work each. Results of 0.6 to 0.9 MiB
 * stay whole in the worker until the report (two do not fit its 1 MiB of
 * tails together); one of 2 MiB is stored in pieces as it is written.
 */
#include <criterion/criterion.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "harness.h"

/* A batch's most jobs (CONSUMER_BATCH). */
#define BATCH 16

/* name_len returns the length of the column name of slow job seed:
 * results of about 0.6, 0.7, 0.9 and 2 MiB in turn. */
static int name_len(unsigned seed)
{
	return seed % 4 == 3 ? 2000 : 300 + (int)(seed % 3) * 100;
}

/* The largest input sent with a claim (JOB_CLAIM_INLINE). */
#define INLINE_MAX 4096

static void setup(void)
{
	harness_setup_sleep_tasks();
}

TestSuite(batches, .init = setup, .fini = harness_teardown, .timeout = 120);

/* slow_csv returns a CSV (caller frees) of one column named name_len(seed)
 * bytes of letters chosen by seed, then one-digit rows up to INLINE_MAX
 * bytes in all; *rows gets how many rows. */
static char *slow_csv(unsigned seed, size_t *rows)
{
	char *csv = malloc(INLINE_MAX + 1);
	size_t len = 0, name = (size_t)name_len(seed);

	cr_assert_not_null(csv);
	for (; len < name; len++)
		csv[len] = (char)('a' + (seed + len) % 26);
	csv[len++] = '\n';
	*rows = 0;
	while (len + 2 <= INLINE_MAX) {
		csv[len++] = (char)('0' + (seed + *rows) % 10);
		csv[len++] = '\n';
		(*rows)++;
	}
	csv[len] = '\0';
	return csv;
}

/* slow_ndjson returns the ndjson task's result for slow_csv(seed)
 * (caller frees): {"<name>":"<digit>"} per row. */
static char *slow_ndjson(unsigned seed, size_t *len)
{
	size_t rows;
	char *csv = slow_csv(seed, &rows);
	int name = name_len(seed);
	size_t line = (size_t)name + sizeof "{\"\":\"0\"}\n" - 1;
	char *out = malloc(rows * line + 1), *p = out;

	cr_assert_not_null(out);
	for (size_t i = 0; i < rows; i++)
		p += sprintf(p, "{\"%.*s\":\"%c\"}\n", name, csv, csv[name + 1 + 2 * i]);
	*len = (size_t)(p - out);
	free(csv);
	return out;
}

/* submit_slow queues a slow job (ndjson of slow_csv(seed)); returns its id
 * (caller frees). */
static char *submit_slow(unsigned seed)
{
	size_t rows;
	char *csv = slow_csv(seed, &rows);
	char *id = submit_csv("task=ndjson", csv);

	free(csv);
	return id;
}

/* job_str returns a copy of member key of job id's GET view (caller frees;
 * "" when absent). */
static char *job_str(const char *id, const char *key)
{
	json_t *job = wait_for_status(id, "-", 0);
	const char *v = json_string_value(json_object_get(job, key));
	char *out = strdup(v != NULL ? v : "");

	json_decref(job);
	return out;
}

/* job_attempts returns job id's attempts field in Redis. */
static long job_attempts(const char *id)
{
	redisReply *r = redis_cmd("HGET jobq:job:%s attempts", id);
	long n = r->type == REDIS_REPLY_STRING ? strtol(r->str, NULL, 10) : -1;

	freeReplyObject(r);
	return n;
}

/* assert_ends asserts that job id reaches status want within timeout_ms. */
static void assert_ends(const char *id, const char *want, int timeout_ms)
{
	json_t *job = wait_for_status(id, want, timeout_ms);
	const char *status = json_string_value(json_object_get(job, "status"));

	cr_assert_str_eq(status, want, "job %s ended %s", id, status);
	json_decref(job);
}

/* assert_slow_result asserts that job id (submit_slow(seed)) succeeded
 * with exactly slow_ndjson(seed) as its result. */
static void assert_slow_result(const char *id, unsigned seed)
{
	char path[96];
	size_t len;
	char *want = slow_ndjson(seed, &len);
	struct http_reply r;

	assert_ends(id, "succeeded", 30000);
	snprintf(path, sizeof path, "/v1/jobs/%s/result", id);
	r = http_get(path);
	cr_assert_eq(r.status, 200, "result of %s: %ld", id, r.status);
	cr_assert_eq(r.len, len, "result of %s: %zu bytes, want %zu", id, r.len, len);
	cr_assert(memcmp(r.body, want, len) == 0, "result of %s differs", id);
	http_reply_free(&r);
	free(want);
}

/* running_count returns how many jobs Redis has running (claimed). */
static long running_count(void)
{
	redisReply *r = redis_cmd("ZCARD jobq:running");
	long n = r->integer;

	freeReplyObject(r);
	return n;
}

/* wait_running waits (polling every millisecond, at most timeout_ms) until
 * at least n jobs are running; returns whether they were. */
static bool wait_running(long n, int timeout_ms)
{
	long long end = monotonic_ms() + timeout_ms;

	while (running_count() < n) {
		if (monotonic_ms() > end)
			return false;
		sleep_ms(1);
	}
	return true;
}

/* wait_claimed waits (polling Redis every millisecond, at most timeout_ms)
 * until job id is running; returns whether it was. */
static bool wait_claimed(const char *id, int timeout_ms)
{
	long long end = monotonic_ms() + timeout_ms;

	for (;;) {
		redisReply *r = redis_cmd("HGET jobq:job:%s status", id);
		bool running = r->type == REDIS_REPLY_STRING && strcmp(r->str, "running") == 0;

		freeReplyObject(r);
		if (running)
			return true;
		if (monotonic_ms() > end)
			return false;
		sleep_ms(1);
	}
}

/* start_worker starts a worker knowing the sleep tasks, with the given
 * concurrency and lease. */
static void start_worker(const char *concurrency, const char *lease)
{
	const char *args[] = {"--tasks", harness_sleep_tasks(), "--concurrency", concurrency,
			      "--lease", lease, NULL};
	harness_start_worker(args);
}

/* submit_around queues 5 small jobs, one that sleeps 3 s, and 5 small
 * ones again; the ids go to before, *slow and after (caller frees). */
static void submit_around(char *before[5], char **slow, char *after[5])
{
	for (int i = 0; i < 5; i++)
		before[i] = submit_csv("task=ndjson", "v\n1\n");
	*slow = submit_csv("task=sleep3", "v\n1\n");
	for (int i = 0; i < 5; i++)
		after[i] = submit_csv("task=profile", "v\n2\n");
}

/* finished_at returns job id's finished_at once it succeeded (caller
 * frees): RFC 3339 UTC with milliseconds, whose text order is time order. */
static char *finished_at(const char *id)
{
	assert_ends(id, "succeeded", 30000);
	cr_assert_eq(job_attempts(id), 1, "job %s was claimed twice", id);
	return job_str(id, "finished_at");
}

/* With one consumer, the small jobs queued before the long one are
 * reported by the time it is claimed: none waits for it, held or done. */
Test(batches, small_jobs_queued_before_a_long_one_are_done_when_it_is_claimed)
{
	char *before[5], *after[5], *slow;

	submit_around(before, &slow, after);
	start_worker("1", "30s");
	char *slow_done = finished_at(slow);
	char *slow_claimed = job_str(slow, "started_at");
	for (int i = 0; i < 5; i++) {
		char *b = finished_at(before[i]);
		cr_assert_leq(strcmp(b, slow_claimed), 0,
			      "small job %d finished at %s, after the long one's claim at %s", i, b,
			      slow_claimed);
		free(finished_at(after[i]));
		free(b);
		free(before[i]);
		free(after[i]);
	}
	free(slow_claimed);
	free(slow_done);
	free(slow);
}

/* With two consumers, one runs the long job and the other every small
 * one: all are done before the long one ends. */
Test(batches, small_jobs_queued_around_a_long_one_never_wait_for_it)
{
	char *before[5], *after[5], *slow;

	submit_around(before, &slow, after);
	start_worker("2", "30s");
	char *slow_done = finished_at(slow);
	for (int i = 0; i < 5; i++) {
		char *b = finished_at(before[i]), *a = finished_at(after[i]);
		cr_assert_lt(strcmp(b, slow_done), 0, "small job %d finished at %s, behind the long one (%s)",
			     i, b, slow_done);
		cr_assert_lt(strcmp(a, slow_done), 0, "small job %d finished at %s, behind the long one (%s)",
			     i + 5, a, slow_done);
		free(a);
		free(b);
		free(before[i]);
		free(after[i]);
	}
	free(slow_done);
	free(slow);
}

#define TAIL_JOBS 40

Test(batches, results_too_big_to_wait_together_are_reported_early_and_stored_whole)
{
	char *ids[TAIL_JOBS];

	/* Small results among the slow ones: a batch mixes tails of 1 MiB
	 * (each fills the tails alone) with tails of a few bytes. */
	for (int i = 0; i < TAIL_JOBS; i++)
		ids[i] = i % 3 == 2 ? submit_csv("task=ndjson", "v\n7\n") : submit_slow((unsigned)i);
	start_worker("1", "30s");
	for (int i = 0; i < TAIL_JOBS; i++) {
		if (i % 3 == 2) {
			char path[96];
			assert_ends(ids[i], "succeeded", 30000);
			snprintf(path, sizeof path, "/v1/jobs/%s/result", ids[i]);
			struct http_reply r = http_get(path);
			cr_assert_eq(r.status, 200);
			cr_assert_str_eq(r.body, "{\"v\":\"7\"}\n");
			http_reply_free(&r);
		} else {
			assert_slow_result(ids[i], (unsigned)i);
		}
		cr_assert_eq(job_attempts(ids[i]), 1, "job %d was claimed twice", i);
		free(ids[i]);
	}
	cr_assert_eq(redis_count_keys("jobq:job:*:partial:*"), 0, "a partial result was left");
	cr_assert_eq(running_count(), 0);
}

/* wait_listening waits (at most timeout_ms) until a worker listens for
 * cancels on jobq:cancel; returns whether one did. A cancel published
 * before that reaches a running job only through its lease renewal. */
static bool wait_listening(int timeout_ms)
{
	long long end = monotonic_ms() + timeout_ms;

	for (;;) {
		redisReply *r = redis_cmd("PUBSUB NUMSUB jobq:cancel");
		long long n = r->type == REDIS_REPLY_ARRAY && r->elements == 2 ? r->element[1]->integer : 0;

		freeReplyObject(r);
		if (n > 0)
			return true;
		if (monotonic_ms() > end)
			return false;
		sleep_ms(5);
	}
}

/* cancel_held asks to cancel job id as soon as Redis shows it claimed.
 * Returns true when the cancel was asked while it was running (202);
 * false when the job had ended first (409), as can be on a loaded
 * machine. */
static bool cancel_held(const char *id)
{
	char path[96];
	struct http_reply r;
	bool asked;

	cr_assert(wait_claimed(id, 20000), "job %s was never claimed", id);
	snprintf(path, sizeof path, "/v1/jobs/%s", id);
	r = http_request("DELETE", path, NULL, NULL, 0, NULL);
	asked = r.status == 202;
	cr_assert(asked || r.status == 409, "DELETE of a held job: %ld %s", r.status, r.body);
	http_reply_free(&r);
	return asked;
}

/* held_cancel_round queues a slow job and a batch of BATCH after it (the
 * worker frozen meanwhile, so that all are queued when it claims), cancels
 * the batch's last job once it is claimed, and checks the ends: the
 * others succeed with their results; the last one is returned, with its
 * end in *status (caller frees both). */
static char *held_cancel_round(unsigned round, char **status)
{
	char *first, *ids[BATCH];
	bool asked;

	cr_assert_eq(kill(harness.worker_pids[0], SIGSTOP), 0);
	first = submit_slow(99 + round);
	for (int i = 0; i < BATCH; i++)
		ids[i] = submit_slow(round * BATCH + (unsigned)i);
	cr_assert_eq(kill(harness.worker_pids[0], SIGCONT), 0);
	asked = cancel_held(ids[BATCH - 1]);
	for (int i = 0; i < BATCH - 1; i++) {
		assert_slow_result(ids[i], round * BATCH + (unsigned)i);
		free(ids[i]);
	}
	assert_slow_result(first, 99 + round);
	free(first);
	json_t *job = wait_for_status(ids[BATCH - 1], "cancelled", 30000);
	*status = strdup(asked ? json_string_value(json_object_get(job, "status")) : "too late");
	json_decref(job);
	return ids[BATCH - 1];
}

/* The first job is claimed alone (through the buffer), the batch when it
 * ends; the cancel goes out as soon as Redis shows the batch's last job
 * claimed, behind 15 slow ones, so it normally reaches the worker while
 * the job waits for its turn. A cancel that comes after the job ran is
 * not the case under test: the round is played again, three times at
 * most. (Freezing the worker while the cancel is sent would widen the
 * window, but then the message and the reply of the claim wait in two
 * sockets, and at SIGCONT the cancel listener may read the message before
 * the consumer has read the claim and held the batch: an id the worker
 * does not hold is ignored, so the job runs, and it ends cancelled only
 * at its finish, which reads the flag (finish_one.lua). That is the
 * README's "a message that came before the worker held the job"; a slow
 * TSan build hit it. This test is about a job that never runs.) */
Test(batches, a_held_job_cancelled_before_its_turn_ends_cancelled_and_the_others_succeed)
{
	char *status = NULL, *id = NULL;

	start_worker("1", "30s");
	cr_assert(wait_listening(10000), "the worker never subscribed to cancels");
	for (unsigned round = 0; round < 3; round++) {
		free(status);
		free(id);
		id = held_cancel_round(round, &status);
		if (strcmp(status, "cancelled") == 0)
			break;
		cr_log_warn("round %u: the held job %s ended %s", round, id, status);
	}
	cr_assert_str_eq(status, "cancelled", "job %s, cancelled while held, ended %s", id, status);
	json_t *job = wait_for_status(id, "cancelled", 0);
	json_t *progress = json_object_get(job, "progress");
	cr_assert_eq(json_integer_value(json_object_get(progress, "rows")), 0, "it ran");
	cr_assert_eq(json_integer_value(json_object_get(progress, "bytes")), 0, "it ran");
	json_decref(job);
	cr_assert_eq(running_count(), 0);
	free(status);
	free(id);
}

Test(batches, a_worker_killed_holding_a_batch_loses_none_of_it)
{
	char *first = submit_slow(99), *ids[BATCH];
	int reaped = 0;

	for (int i = 0; i < BATCH; i++)
		ids[i] = submit_slow((unsigned)i);
	start_worker("1", "2s");
	/* Half a batch claimed and not reported: the kill leaves them held. */
	cr_assert(wait_running(BATCH / 2, 20000), "the batch was never claimed");
	cr_assert_neq(harness_stop_worker(0, SIGKILL, 5000), -1, "the worker outlived SIGKILL");
	start_worker("1", "2s");
	for (int i = 0; i < BATCH; i++) {
		assert_slow_result(ids[i], (unsigned)i);
		long attempts = job_attempts(ids[i]);
		cr_assert(attempts == 1 || attempts == 2, "job %d: %ld attempts", i, attempts);
		reaped += attempts == 2;
		free(ids[i]);
	}
	assert_slow_result(first, 99);
	free(first);
	cr_assert_gt(reaped, 0, "no held job was left to its lease: the kill came too late");
	cr_assert_eq(running_count(), 0);
}
