/*
 * Integration: retries and dead letters — a failed attempt is retried after
 * a jittered, growing backoff until max_attempts, then the job is a dead
 * letter with every attempt's error; POST /v1/jobs/{id}/retry brings it
 * back; GET /v1/dead lists it; a worker killed mid-job loses nothing.
 *
 * The store-level tests drive fail.lua, retry.lua and claim.lua's reaper
 * and promotion directly (job_store against the test's Redis), next to a
 * real jobq-api, so they are fast and exact; the others run real workers.
 */
#include <criterion/criterion.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "backoff.h"
#include "harness.h"
#include "job_store.h"

static struct job_store *st;

/* open_store opens a job_store on the test's Redis with dead_max. */
static struct job_store *open_store(int dead_max)
{
	struct job_store_config cfg = {.url = harness.redis_url, .prefix = "jobq",
				       .timeout_ms = 2000, .result_ttl_s = 3600,
				       .dead_max = dead_max};
	struct job_store *s = job_store_open(&cfg, NULL);
	cr_assert_not_null(s);
	return s;
}

static void setup(void)
{
	harness_setup_sleep_tasks();
	st = open_store(0);
}

static void teardown(void)
{
	job_store_close(st);
	harness_teardown();
}

TestSuite(retries, .init = setup, .fini = teardown, .timeout = 120);

static const char *const default_queue[] = {"default"};

/* claim_one claims the one job waiting, as worker "test:1:abc". */
static struct job_claim claim_one(int lease_ms)
{
	struct job_claim c;
	int n = job_store_claim(st, "test:1:abc", default_queue, 1, lease_ms, &c, 1);
	cr_assert_eq(n, 1, "claim found %d jobs: %s", n, job_store_errstr(st));
	return c;
}

/* fail_now fails the attempt of c with code "boom" and delay_ms. Returns
 * whether it was scheduled for another attempt. */
static bool fail_now(struct job_store *s, const struct job_claim *c, int64_t delay_ms)
{
	bool scheduled = true;
	cr_assert_eq(job_store_fail(s, c, "boom", "it broke", 0, 0, delay_ms, 3600, &scheduled),
		     JOB_STORE_OK, "%s", job_store_errstr(s));
	return scheduled;
}

/* get_job returns GET /v1/jobs/{id} (caller releases). */
static json_t *get_job(const char *id)
{
	char path[96];
	snprintf(path, sizeof path, "/v1/jobs/%s", id);
	struct http_reply r = http_get(path);
	cr_assert_eq(r.status, 200, "GET %s answered %ld: %s", path, r.status, r.body);
	json_t *j = http_json(&r);
	http_reply_free(&r);
	return j;
}

/* post_retry sends POST /v1/jobs/{id}/retry; returns the reply's JSON and
 * sets *status. */
static json_t *post_retry(const char *id, long *status)
{
	char path[96];
	snprintf(path, sizeof path, "/v1/jobs/%s/retry", id);
	struct http_reply r = http_request("POST", path, NULL, NULL, 0, NULL);
	*status = r.status;
	json_t *j = http_json(&r);
	http_reply_free(&r);
	return j;
}

static const char *str_of(json_t *o, const char *key)
{
	const char *s = json_string_value(json_object_get(o, key));
	return s ? s : "";
}

static long long int_of(json_t *o, const char *key)
{
	return json_integer_value(json_object_get(o, key));
}

static long long redis_int(const char *fmt, const char *arg)
{
	redisReply *r = redis_cmd(fmt, arg);
	long long v = r->type == REDIS_REPLY_INTEGER ? r->integer :
		      r->type == REDIS_REPLY_STRING ? atoll(r->str) : -1;
	freeReplyObject(r);
	return v;
}

/* ---- Through the store ------------------------------------------------ */

Test(retries, a_failed_attempt_with_attempts_left_waits_in_scheduled_then_is_promoted)
{
	char *id = submit_csv("max_attempts=3", "a\n1\n");
	struct job_claim c = claim_one(30000);
	cr_assert(fail_now(st, &c, 60000), "the first of 3 attempts must be retried");
	json_t *job = get_job(id);
	cr_assert_str_eq(str_of(job, "status"), "queued");
	cr_assert_eq(int_of(job, "attempts"), 1);
	cr_assert_str_eq(str_of(json_object_get(job, "error"), "code"), "boom");
	cr_assert(json_is_string(json_object_get(job, "retry_at")), "retry_at must be a time");
	long long due = redis_int("ZSCORE jobq:scheduled %s", id);
	cr_assert_eq(redis_int("HGET jobq:job:%s retry_at", id), due);
	cr_assert_eq(redis_int("LLEN jobq:queue:%s", "default"), 0, "not queued before it is due");
	cr_assert_eq(redis_int("TTL jobq:job:%s", id), -1, "a job with attempts left must not expire");
	json_decref(job);

	/* Not due: a claim finds nothing. Due: the same claim promotes it. */
	struct job_claim again;
	cr_assert_eq(job_store_claim(st, "w", default_queue, 1, 30000, &again, 1), 0);
	redisReply *r = redis_cmd("ZADD jobq:scheduled 1 %s", id);
	freeReplyObject(r);
	cr_assert_eq(job_store_claim(st, "w", default_queue, 1, 30000, &again, 1), 1);
	cr_assert_str_eq(again.id, id);
	cr_assert_eq(again.attempts, 2);
	cr_assert_gt(again.token, c.token);
	cr_assert_eq(redis_int("ZCARD jobq:%s", "scheduled"), 0);
	cr_assert_eq(redis_int("HGET jobq:job:%s retry_at", id), 0);
	free(id);
}

Test(retries, the_last_attempt_fails_for_good_into_dead_with_every_error_kept)
{
	char *id = submit_csv("max_attempts=2", "a\n1\n");
	struct job_claim c = claim_one(30000);
	cr_assert(fail_now(st, &c, 0));
	c = claim_one(30000);
	cr_assert_eq(c.attempts, 2);
	cr_assert_not(fail_now(st, &c, 0), "the last attempt must not be retried");
	json_t *job = get_job(id);
	cr_assert_str_eq(str_of(job, "status"), "failed");
	cr_assert(json_is_null(json_object_get(job, "retry_at")));
	json_t *errors = json_object_get(job, "errors");
	cr_assert_eq(json_array_size(errors), 2);
	for (size_t i = 0; i < 2; i++) {
		json_t *e = json_array_get(errors, i);
		cr_assert_eq(int_of(e, "attempt"), (long long)i + 1, "errors are oldest first");
		cr_assert_str_eq(str_of(e, "code"), "boom");
		cr_assert_str_eq(str_of(e, "message"), "it broke");
		cr_assert_str_eq(str_of(e, "worker"), "test:1:abc");
		cr_assert_gt(int_of(e, "at"), 0);
	}
	json_decref(job);
	cr_assert_gt(redis_int("ZSCORE jobq:dead %s", id), 0);
	cr_assert_gt(redis_int("TTL jobq:job:%s", id), 0);
	char key[128];
	snprintf(key, sizeof key, "jobq:job:%s:errors", id);
	cr_assert_gt(redis_int("TTL %s", key), 0, "the errors expire with the job");
	free(id);
}

Test(retries, a_stale_token_cannot_fail_or_reschedule_the_job)
{
	char *id = submit_csv("max_attempts=3", "a\n1\n");
	struct job_claim first = claim_one(1);
	sleep_ms(20);
	struct job_claim second = claim_one(30000); /* reaps first's lease, then claims */
	cr_assert_eq(job_store_fail(st, &first, "late", "stale", 0, 0, 0, 3600, NULL),
		     JOB_STORE_LOST);
	cr_assert_eq(redis_int("ZCARD jobq:%s", "scheduled"), 0);
	json_t *job = get_job(id);
	cr_assert_str_eq(str_of(job, "status"), "running");
	cr_assert_eq(int_of(job, "attempts"), 2);
	json_decref(job);
	(void)second;
	free(id);
}

Test(retries, a_job_with_a_cancel_request_is_never_retried)
{
	char *id = submit_csv("max_attempts=5", "a\n1\n");
	struct job_claim c = claim_one(30000);
	redisReply *r = redis_cmd("HSET jobq:job:%s cancel_requested 1", id);
	freeReplyObject(r);
	cr_assert_not(fail_now(st, &c, 0));
	cr_assert_eq(redis_int("ZCARD jobq:%s", "scheduled"), 0);
	json_t *job = get_job(id);
	cr_assert_str_eq(str_of(job, "status"), "failed");
	json_decref(job);
	free(id);
}

Test(retries, an_expired_lease_on_the_last_attempt_is_a_dead_letter_naming_the_worker)
{
	char *id = submit_csv("max_attempts=2", "a\n1\n");
	claim_one(1);
	sleep_ms(20);
	struct job_claim second = claim_one(1); /* first lease expired: requeued, counted */
	cr_assert_eq(second.attempts, 2);
	sleep_ms(20);
	struct job_claim none;
	cr_assert_eq(job_store_claim(st, "reaper", default_queue, 1, 30000, &none, 1), 0);
	json_t *job = get_job(id);
	cr_assert_str_eq(str_of(job, "status"), "failed");
	json_t *err = json_object_get(job, "error");
	cr_assert_str_eq(str_of(err, "code"), "lease_expired");
	cr_assert(strstr(str_of(err, "message"), "test:1:abc") != NULL, "%s",
		  str_of(err, "message"));
	json_t *errors = json_object_get(job, "errors");
	cr_assert_eq(json_array_size(errors), 2);
	cr_assert_str_eq(str_of(json_array_get(errors, 0), "code"), "lease_expired");
	cr_assert_eq(int_of(json_array_get(errors, 1), "attempt"), 2);
	json_decref(job);
	cr_assert_gt(redis_int("ZSCORE jobq:dead %s", id), 0);
	free(id);
}

Test(retries, dead_letters_are_capped_by_count_and_listed_newest_first)
{
	struct job_store *capped = open_store(2);
	char *ids[3];
	for (int i = 0; i < 3; i++) {
		ids[i] = submit_csv("max_attempts=1", "a\n1\n");
		struct job_claim c = claim_one(30000);
		cr_assert_not(fail_now(capped, &c, 0));
		sleep_ms(5); /* distinct times of death */
	}
	job_store_close(capped);
	cr_assert_eq(redis_int("ZCARD jobq:%s", "dead"), 2);
	cr_assert_eq(redis_int("ZSCORE jobq:dead %s", ids[0]), -1, "the oldest dropped out");

	struct http_reply r = http_get("/v1/dead");
	cr_assert_eq(r.status, 200, "%s", r.body);
	json_t *body = http_json(&r);
	http_reply_free(&r);
	json_t *jobs = json_object_get(body, "jobs");
	cr_assert_eq(json_array_size(jobs), 2);
	cr_assert_str_eq(str_of(json_array_get(jobs, 0), "id"), ids[2]);
	cr_assert_str_eq(str_of(json_array_get(jobs, 1), "id"), ids[1]);
	cr_assert_str_eq(str_of(json_array_get(jobs, 0), "status"), "failed");
	json_decref(body);

	r = http_get("/v1/dead?limit=1");
	body = http_json(&r);
	cr_assert_eq(json_array_size(json_object_get(body, "jobs")), 1);
	json_decref(body);
	http_reply_free(&r);
	const char *bad[] = {"0", "1001", "abc", "-1", "", "10x"};
	for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
		char path[64];
		snprintf(path, sizeof path, "/v1/dead?limit=%s", bad[i]);
		r = http_get(path);
		cr_expect_eq(r.status, 400, "limit=%s answered %ld", bad[i], r.status);
		cr_expect(strstr(r.body, "invalid_limit") != NULL, "%s", r.body);
		http_reply_free(&r);
	}
	for (int i = 0; i < 3; i++)
		free(ids[i]);
}

Test(retries, retry_endpoint_brings_a_failed_job_back_and_refuses_the_others)
{
	char *id = submit_csv("max_attempts=1", "a\n1\n");
	long status;
	json_t *j = post_retry(id, &status);
	cr_assert_eq(status, 409, "a queued job is not failed");
	cr_assert_str_eq(str_of(json_object_get(j, "error"), "code"), "job_not_failed");
	cr_assert_str_eq(str_of(json_object_get(j, "error"), "status"), "queued");
	json_decref(j);

	struct job_claim c = claim_one(30000);
	cr_assert_not(fail_now(st, &c, 0));
	j = post_retry(id, &status);
	cr_assert_eq(status, 202);
	cr_assert_str_eq(str_of(j, "status"), "queued");
	cr_assert_eq(int_of(j, "attempts"), 0);
	cr_assert(json_is_null(json_object_get(j, "error")));
	cr_assert_eq(json_array_size(json_object_get(j, "errors")), 1, "the history stays");
	json_decref(j);
	cr_assert_eq(redis_int("ZSCORE jobq:dead %s", id), -1);
	cr_assert_eq(redis_int("TTL jobq:job:%s", id), -1);
	/* Its small input is a field of the hash, which lives on. */
	cr_assert_eq(redis_int("HEXISTS jobq:job:%s input", id), 1);
	cr_assert_eq(redis_int("EXISTS jobq:job:%s:input", id), 0);
	cr_assert_eq(redis_int("EXISTS jobq:job:%s:input:0", id), 0);

	/* It runs again, to success, with a new token. */
	harness_start_worker(NULL);
	j = wait_for_status(id, "succeeded", 20000);
	cr_assert_str_eq(str_of(j, "status"), "succeeded");
	cr_assert_eq(int_of(j, "attempts"), 1);
	cr_assert(json_is_null(json_object_get(j, "error")));
	json_decref(j);

	j = post_retry(id, &status);
	cr_assert_eq(status, 409);
	cr_assert_str_eq(str_of(json_object_get(j, "error"), "status"), "succeeded");
	json_decref(j);
	j = post_retry("0123456789abcdef0123456789abcdef", &status);
	cr_assert_eq(status, 404);
	json_decref(j);
	free(id);
}

/* Only a staged (or large) input has a key of its own that can expire
 * before the hash: a small one is a field of the hash. */
Test(retries, retry_of_a_failed_job_whose_input_expired_is_410)
{
	size_t len;
	char *csv = harness_csv_rows(40000, &len); /* 640 KB: staged, its input a key */
	char *id = submit_csv("max_attempts=1", csv);
	free(csv);
	struct job_claim c = claim_one(30000);
	cr_assert_not(fail_now(st, &c, 0));
	char key[128];
	snprintf(key, sizeof key, "jobq:job:%s:input:0", id);
	long long ttl = redis_int("TTL %s", key);
	cr_assert(ttl > 0, "the failed job's input key has no TTL (%lld)", ttl);
	freeReplyObject(redis_cmd("DEL %s", key));
	long status;
	json_t *j = post_retry(id, &status);
	cr_assert_eq(status, 410);
	cr_assert_str_eq(str_of(json_object_get(j, "error"), "code"), "input_expired");
	json_decref(j);
	cr_assert_gt(redis_int("ZSCORE jobq:dead %s", id), 0, "nothing changed");
	free(id);
}

Test(retries, submission_checks_max_attempts_and_timeout)
{
	const char *bad[][2] = {
		{"max_attempts=0", "invalid_max_attempts"}, {"max_attempts=101", "invalid_max_attempts"},
		{"max_attempts=x", "invalid_max_attempts"}, {"max_attempts=-1", "invalid_max_attempts"},
		{"timeout=0", "invalid_timeout"}, {"timeout=604801", "invalid_timeout"},
		{"timeout=1s", "invalid_timeout"},
	};
	for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
		char path[96];
		snprintf(path, sizeof path, "/v1/jobs?%s", bad[i][0]);
		struct http_reply r = http_post_csv(path, "a\n1\n");
		cr_expect_eq(r.status, 400, "%s answered %ld", bad[i][0], r.status);
		cr_expect(strstr(r.body, bad[i][1]) != NULL, "%s: %s", bad[i][0], r.body);
		http_reply_free(&r);
	}
	char *id = submit_csv("max_attempts=100&timeout=604800", "a\n1\n");
	json_t *j = get_job(id);
	cr_assert_eq(int_of(j, "max_attempts"), 100);
	cr_assert_eq(int_of(j, "timeout"), 604800);
	json_decref(j);
	free(id);
	id = submit_csv(NULL, "a\n1\n");
	j = get_job(id);
	cr_assert_eq(int_of(j, "max_attempts"), 3, "the default of --max-attempts");
	cr_assert_eq(int_of(j, "timeout"), 600, "the default of --job-timeout");
	json_decref(j);
	free(id);
}

/* ---- With real workers -------------------------------------------------- */

/* retry_delays reads worker i's log: out[n] gets the retry_in_ms it logged
 * when attempt n failed and was scheduled again, -1 when it logged none. The
 * log is the witness of every draw, while polling the job may miss a
 * backoff that happened to be drawn shorter than the poll. */
static void retry_delays(int i, const char *id, long long out[4])
{
	char path[320];
	char line[8192];

	for (int n = 0; n < 4; n++)
		out[n] = -1;
	snprintf(path, sizeof path, "%s/worker%d.log", harness.dir, i);
	FILE *f = fopen(path, "r");
	cr_assert_not_null(f, "no log for worker %d", i);
	while (fgets(line, sizeof line, f)) {
		json_t *j = json_loads(line, 0, NULL);
		long long n = int_of(j, "attempt");
		if (strcmp(str_of(j, "msg"), "attempt failed, retry scheduled") == 0 &&
		    strcmp(str_of(j, "job_id"), id) == 0 && n >= 1 && n <= 3)
			out[n] = int_of(j, "retry_in_ms");
		json_decref(j);
	}
	fclose(f);
}


Test(retries, a_job_that_always_times_out_is_retried_with_backoff_then_dead_lettered)
{
	/* sleep60 runs far past its 1 s timeout on any machine. */
	char *id = submit_csv("task=sleep60&timeout=1&max_attempts=3", "a,b\n1,2\n");
	const char *args[] = {"--retry-base", "300ms", "--retry-cap", "10s", "--concurrency", "1",
			      "--tasks", harness_sleep_tasks(), NULL};
	int worker = harness_start_worker(args);

	/* Watch it: each time it waits out a backoff, note its retry_at. */
	long long due[4] = {0};
	json_t *job = NULL;
	long long end = monotonic_ms() + 60000;
	while (monotonic_ms() < end) {
		json_decref(job);
		job = get_job(id);
		long long attempts = int_of(job, "attempts");
		if (strcmp(str_of(job, "status"), "failed") == 0)
			break;
		if (strcmp(str_of(job, "status"), "queued") == 0 && attempts >= 1 && attempts <= 3 &&
		    due[attempts] == 0) {
			due[attempts] = redis_int("ZSCORE jobq:scheduled %s", id);
		}
		sleep_ms(10);
	}
	cr_assert_str_eq(str_of(job, "status"), "failed");
	cr_assert_eq(int_of(job, "attempts"), 3);
	cr_assert_str_eq(str_of(json_object_get(job, "error"), "code"), "timeout");
	json_t *errors = json_object_get(job, "errors");
	cr_assert_eq(json_array_size(errors), 3, "one error per attempt");
	for (int n = 1; n <= 3; n++) {
		json_t *e = json_array_get(errors, (size_t)n - 1);
		cr_assert_eq(int_of(e, "attempt"), n);
		cr_assert_str_eq(str_of(e, "code"), "timeout");
	}
	/* The wait after attempt n is drawn from [0, 300ms * 2^(n-1)]: full
	 * jitter, so the ceilings grow while a draw may be small. */
	long long delay[4];
	retry_delays(worker, id, delay);
	for (int n = 1; n <= 2; n++) {
		long long failed_at = int_of(json_array_get(errors, (size_t)n - 1), "at");
		long long ceiling = backoff_ceiling_ms(300, 10000, (unsigned)n - 1);
		cr_assert(delay[n] >= 0 && delay[n] <= ceiling,
			  "retry %d drawn %lld ms after the failure, outside [0, %lld]", n, delay[n],
			  ceiling);
		/* When the poll saw it waiting, Redis held the same due time. */
		if (due[n] != 0)
			cr_assert(due[n] >= failed_at && due[n] <= failed_at + ceiling,
				  "retry %d due %lld ms after the failure, outside [0, %lld]", n,
				  due[n] - failed_at, ceiling);
	}
	cr_assert_eq(delay[3], -1, "the last attempt must not be scheduled again");
	json_decref(job);

	struct http_reply r = http_get("/v1/dead");
	json_t *body = http_json(&r);
	http_reply_free(&r);
	cr_assert_eq(json_array_size(json_object_get(body, "jobs")), 1);
	cr_assert_str_eq(str_of(json_array_get(json_object_get(body, "jobs"), 0), "id"), id);
	json_decref(body);

	/* Without a worker, so that nothing claims it before we look. */
	cr_assert_eq(harness_stop_worker(worker, SIGTERM, 10000), 0);
	long status;
	json_t *j = post_retry(id, &status);
	cr_assert_eq(status, 202);
	cr_assert_str_eq(str_of(j, "status"), "queued");
	cr_assert_eq(int_of(j, "attempts"), 0);
	json_decref(j);
	cr_assert_eq(redis_int("ZCARD jobq:%s", "dead"), 0);
	cr_assert_eq(redis_int("LLEN jobq:queue:%s", "default"), 1);
	free(id);
}

Test(retries, a_job_whose_worker_is_killed_completes_on_another_after_the_lease)
{
	/* sleep3 is still running when the worker is killed, on any machine
	 * (its orphaned sleep ends by itself). */
	char *id = submit_csv("task=sleep3", "a,b\n1,2\n");
	const char *args[] = {"--lease", "2s", "--concurrency", "1", "--tasks", harness_sleep_tasks(),
			      NULL};
	int first = harness_start_worker(args);
	json_t *job = wait_for_status(id, "running", 10000);
	cr_assert_str_eq(str_of(job, "status"), "running");
	json_decref(job);
	harness_stop_worker(first, SIGKILL, 5000);

	harness_start_worker(args);
	job = wait_for_status(id, "succeeded", 60000);
	cr_assert_str_eq(str_of(job, "status"), "succeeded");
	cr_assert_eq(int_of(job, "attempts"), 2);
	cr_assert(json_is_null(json_object_get(job, "error")));
	json_t *errors = json_object_get(job, "errors");
	cr_assert_eq(json_array_size(errors), 1);
	cr_assert_str_eq(str_of(json_array_get(errors, 0), "code"), "lease_expired");
	json_decref(job);
	free(id);
}

/* A cancel asked while the job ran, then a failure (a failure wins,
 * fail.lua): a retry by hand clears the request, so the job runs again
 * rather than being ended cancelled, unrun, by its next claim. */
Test(retries, a_retry_after_a_failure_that_won_over_a_cancel_runs_the_job_again)
{
	char *id = submit_csv("max_attempts=3", "a\n1\n");
	struct job_claim c = claim_one(30000);
	struct job_record rec;
	cr_assert_eq(job_store_cancel(st, id, 60, "cancelled by test", "", &rec),
		     JOB_STORE_CANCEL);
	cr_assert_not(fail_now(st, &c, 0), "a job with a cancel request is not retried");
	char status[16];
	cr_assert_eq(job_store_retry(st, id, "", status), JOB_STORE_OK, "%s",
		     job_store_errstr(st));
	struct job_claim again = claim_one(30000);
	cr_assert_str_eq(again.id, id);
	cr_assert_eq(again.attempts, 1);
	json_t *job = get_job(id);
	cr_assert_str_eq(str_of(job, "status"), "running");
	cr_assert_null(json_object_get(job, "cancel_requested"),
		       "the old cancel request still shows");
	json_decref(job);
	free(id);
}

/* dead_page fetches GET /v1/dead?limit=limit (after cursor, when given)
 * and appends the ids listed to seen (*n of them so far). Returns the
 * page's "next" cursor (caller frees), or NULL at the end of the list. */
static char *dead_page(int limit, const char *cursor, char seen[][JOB_ID_HEX + 1], size_t *n)
{
	char path[128];

	snprintf(path, sizeof path, "/v1/dead?limit=%d%s%s", limit, cursor ? "&before=" : "",
		 cursor ? cursor : "");
	struct http_reply r = http_get(path);
	cr_assert_eq(r.status, 200, "%s: %s", path, r.body);
	json_t *body = http_json(&r), *jobs = json_object_get(body, "jobs");
	http_reply_free(&r);
	json_t *next = json_object_get(body, "next");
	cr_assert(json_is_string(next) || json_is_null(next), "no next cursor");
	cr_assert_leq(json_array_size(jobs), (size_t)limit);
	for (size_t i = 0; i < json_array_size(jobs); i++)
		snprintf(seen[(*n)++], JOB_ID_HEX + 1, "%s", str_of(json_array_get(jobs, i), "id"));
	char *out = json_is_string(next) ? strdup(json_string_value(next)) : NULL;
	json_decref(body);
	return out;
}

/* dead_walk follows the pages of limit dead letters from the newest to
 * the end, appending every id to seen (*n of them); fails the test past
 * max_pages pages. */
static void dead_walk(int limit, size_t max_pages, char seen[][JOB_ID_HEX + 1], size_t *n)
{
	char *cursor = NULL;
	size_t pages = 0;

	do {
		char *next = dead_page(limit, cursor, seen, n);
		free(cursor);
		cursor = next;
		cr_assert_lt(++pages, max_pages, "the pages do not end");
	} while (cursor != NULL);
}

/* Pages of dead letters follow one another through every entry, newest
 * first, ties of the same millisecond included, whatever leaves the list
 * between two pages; a bad cursor is a 400. */
Test(retries, dead_letters_page_with_a_cursor)
{
	static const int when[] = {300, 100, 200, 100, 400, 100, 300};
	enum { N = sizeof when / sizeof when[0] };
	char seen[N][JOB_ID_HEX + 1], *ids[N], *cursor;
	size_t n = 0;

	for (int i = 0; i < N; i++) {
		ids[i] = submit_csv("queue=manual", "v\n1\n");
		freeReplyObject(redis_cmd("HSET jobq:job:%s status failed", ids[i]));
		freeReplyObject(redis_cmd("LREM jobq:queue:manual 0 %s", ids[i]));
		freeReplyObject(redis_cmd("ZADD jobq:dead %d %s", when[i], ids[i]));
	}
	dead_walk(2, 10, seen, &n);
	redisReply *all = redis_cmd("ZREVRANGE jobq:dead 0 -1");
	cr_assert_eq(n, all->elements, "%zu listed of %zu", n, all->elements);
	for (size_t i = 0; i < n; i++)
		cr_assert_str_eq(seen[i], all->element[i]->str, "entry %zu out of order", i);

	/* The cursor's own entry is retried (it leaves the list) between two
	 * pages: the next page starts where it was. */
	n = 0;
	cursor = dead_page(3, NULL, seen, &n);
	cr_assert_not_null(cursor);
	freeReplyObject(redis_cmd("ZREM jobq:dead %s", seen[2]));
	free(dead_page(N, cursor, seen, &n));
	cr_assert_eq(n, all->elements, "%zu listed", n);
	for (size_t i = 3; i < n; i++)
		cr_assert_str_eq(seen[i], all->element[i]->str, "entry %zu after a removed cursor", i);
	free(cursor);
	freeReplyObject(all);

	const char *bad[] = {"", "abc", "100", "100-xyz", "-0123456789abcdef0123456789abcdef",
			     "100-0123456789ABCDEF0123456789ABCDEF",
			     "1234567890123456-0123456789abcdef0123456789abcdef"};
	for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
		char path[160];
		snprintf(path, sizeof path, "/v1/dead?before=%s", bad[i]);
		struct http_reply r = http_get(path);
		cr_expect_eq(r.status, 400, "before=%s answered %ld", bad[i], r.status);
		cr_expect(strstr(r.body, "invalid_cursor") != NULL, "%s", r.body);
		http_reply_free(&r);
	}
	for (int i = 0; i < N; i++)
		free(ids[i]);
}

/* Within one millisecond the order is the ids' bytes, whatever the
 * server's locale; a member that is not an id is skipped without ending
 * the list early. */
Test(retries, dead_letter_pages_hold_ties_in_byte_order_and_skip_junk)
{
	static const char *const fake[] = {"ff000000000000000000000000000000",
					   "ab000000000000000000000000000000",
					   "aa000000000000000000000000000000",
					   "0a000000000000000000000000000000"};
	char seen[8][JOB_ID_HEX + 1];
	size_t n = 0;

	/* Real jobs, moved to ids of our choosing. */
	for (size_t i = 0; i < 4; i++) {
		char *id = submit_csv("queue=manual", "v\n1\n");
		freeReplyObject(redis_cmd("LREM jobq:queue:manual 0 %s", id));
		freeReplyObject(redis_cmd("RENAME jobq:job:%s jobq:job:%s", id, fake[i]));
		freeReplyObject(redis_cmd("HSET jobq:job:%s status failed id %s", fake[i], fake[i]));
		freeReplyObject(redis_cmd("ZADD jobq:dead 100 %s", fake[i]));
		free(id);
	}
	freeReplyObject(redis_cmd("ZADD jobq:dead 100 junk"));
	dead_walk(1, 12, seen, &n);
	cr_assert_eq(n, 4, "%zu listed", n);
	for (size_t i = 0; i < 4; i++)
		cr_assert_str_eq(seen[i], fake[i], "entry %zu", i);
}
