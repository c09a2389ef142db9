/*
 * Integration: DELETE /v1/jobs/{id} — a queued job is cancelled at once and
 * never runs, a running job is stopped by its worker through pub/sub within
 * milliseconds (or through the flag when the message is lost), a finished
 * job cannot be cancelled, and asking twice answers the same.
 */
#include <criterion/criterion.h>
#include <criterion/logging.h>
#include <curl/curl.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "harness.h"
#include "job_store.h"

/* The API keeps a job cancelled while queued this long. */
#define RESULT_TTL_S 3600

static struct job_store *st; /* the test's own store, to play a worker */

/* ---- A slow Redis --------------------------------------------------------
 * A built-in task reads its input from Redis 1 MiB at a time, so how long it
 * runs is the machine's speed: a job that must still be running when the
 * test cancels it cannot be made long enough by size alone. While a stall
 * runs, a thread of the test keeps Redis busy in a Lua loop of STALL_MS
 * with a short gap between loops, so every call the worker makes (each
 * input read, result write, progress write, renewal) waits up to STALL_MS.
 * The gap is shorter than the task's work on one 1 MiB piece on any
 * machine, so each gap lets about one read through: the 40 input reads of
 * a 40 MB job alone take seconds, whatever the CPU (a job made about 60
 * calls to Redis), while a check must see it running after its first
 * progress write (250 ms) and stop it through the next. What the task does
 * between those calls (its work and its checkpoints) is unchanged. */
#define STALL_MS 50
#define STALL_GAP_MS 1

/* The loop is bounded by a count as well as the clock: from Redis 7.2 on,
 * TIME stands still inside a script, and the clock alone would never end
 * it. */
static const char stall_script[] =
	"local t = redis.call('TIME') "
	"local stop = t[1] * 1000000 + t[2] + tonumber(ARGV[1]) * 1000 "
	"for i = 1, 200000 do "
	"  t = redis.call('TIME') "
	"  if t[1] * 1000000 + t[2] >= stop then break end "
	"end";

static pthread_t stall_thread;
static atomic_bool stall_on; /* shared: the test thread clears it to stop the loop */
static bool stall_started;   /* only the test thread reads or writes it */

/* stall_loop is the stall thread: its own connection (contexts belong to
 * one thread), closed when stall_on clears or Redis fails. */
static void *stall_loop(void *unused)
{
	(void)unused;
	redisContext *c = redisConnectUnix(harness.redis_sock);
	/* A Redis that stopped answering must not hold stall_stop's join. */
	const struct timeval limit = {.tv_sec = 2};
	if (c != NULL && !c->err)
		redisSetTimeout(c, limit);
	while (c != NULL && !c->err && atomic_load(&stall_on)) {
		redisReply *r = redisCommand(c, "EVAL %s 0 %d", stall_script, STALL_MS);
		bool ok = r != NULL && r->type != REDIS_REPLY_ERROR;
		freeReplyObject(r);
		if (!ok)
			break;
		sleep_ms(STALL_GAP_MS);
	}
	if (c != NULL)
		redisFree(c);
	return NULL;
}

/* stall_start starts keeping Redis busy until stall_stop. */
static void stall_start(void)
{
	atomic_store(&stall_on, true);
	cr_assert_eq(pthread_create(&stall_thread, NULL, stall_loop, NULL), 0);
	stall_started = true;
}

/* stall_stop ends the stall and joins its thread; safe to call twice. */
static void stall_stop(void)
{
	if (!stall_started)
		return;
	atomic_store(&stall_on, false);
	pthread_join(stall_thread, NULL);
	stall_started = false;
}

static void setup(void)
{
	const char *const api_args[] = {"--result-ttl", "1h", NULL};

	memset(&harness, 0, sizeof harness);
	curl_global_init(CURL_GLOBAL_DEFAULT);
	harness_start_redis();
	harness_start_api(api_args);
	struct job_store_config cfg = {.url = harness.redis_url, .prefix = "jobq", .timeout_ms = 2000};
	st = job_store_open(&cfg, NULL);
	cr_assert_not_null(st);
}

static void teardown(void)
{
	stall_stop();
	job_store_close(st);
	harness_teardown();
}

TestSuite(cancel, .init = setup, .fini = teardown, .timeout = 90);

/* cancel_job sends DELETE /v1/jobs/{id}, asserts the status and returns
 * the body as JSON (caller releases). */
static json_t *cancel_job(const char *id, long want)
{
	char path[128];
	snprintf(path, sizeof path, "/v1/jobs/%s", id);
	struct http_reply r = http_request("DELETE", path, NULL, NULL, 0, NULL);
	cr_assert_eq(r.status, want, "DELETE %s answered %ld, not %ld: %s", path, r.status, want,
		     r.body);
	json_t *j = http_json(&r);
	http_reply_free(&r);
	return j;
}

static const char *status_of(json_t *job)
{
	const char *s = json_string_value(json_object_get(job, "status"));
	cr_assert_not_null(s, "no status in the job");
	return s;
}

static const char *error_field(json_t *body, const char *field)
{
	return json_string_value(json_object_get(json_object_get(body, "error"), field));
}

/* wait_subscribed waits until a worker listens on jobq:cancel. */
static void wait_subscribed(void)
{
	long long end = monotonic_ms() + 10000, n = 0;
	while (n == 0 && monotonic_ms() < end) {
		redisReply *r = redis_cmd("PUBSUB NUMSUB jobq:cancel");
		n = r->type == REDIS_REPLY_ARRAY && r->elements == 2 ? r->element[1]->integer : 0;
		freeReplyObject(r);
		if (n == 0)
			sleep_ms(10);
	}
	cr_assert_gt(n, 0, "no worker subscribed to jobq:cancel");
}

/* wait_not_running polls the job every 2 ms until it leaves "running"
 * (or timeout_ms passes) and returns it (caller releases). */
static json_t *wait_not_running(const char *id, int timeout_ms)
{
	char path[128];
	snprintf(path, sizeof path, "/v1/jobs/%s", id);
	long long end = monotonic_ms() + timeout_ms;
	for (;;) {
		struct http_reply r = http_get(path);
		cr_assert_eq(r.status, 200);
		json_t *j = http_json(&r);
		http_reply_free(&r);
		if (strcmp(status_of(j), "running") != 0 || monotonic_ms() > end)
			return j;
		json_decref(j);
		sleep_ms(2);
	}
}

/* progress_rows returns the job's progress.rows. */
static json_int_t progress_rows(json_t *job)
{
	return json_integer_value(json_object_get(json_object_get(job, "progress"), "rows"));
}

/* start_large_task submits rows*16 bytes for task, stalls Redis (see
 * stall_start; the test stops it), starts a worker with args and returns
 * the id once the job runs and has recorded some progress. */
static char *start_large_task(const char *task, size_t rows, const char *const *worker_args)
{
	stall_start();
	char *csv = harness_csv_rows(rows, NULL);
	char query[64];
	snprintf(query, sizeof query, "task=%s", task);
	char *id = submit_csv(query, csv);
	free(csv);
	harness_start_worker(worker_args);
	json_t *job = wait_for_status(id, "running", 20000);
	long long end = monotonic_ms() + 10000;
	while (strcmp(status_of(job), "running") == 0 && progress_rows(job) == 0 &&
	       monotonic_ms() < end) {
		json_decref(job);
		sleep_ms(10);
		job = wait_for_status(id, "running", 1000);
	}
	cr_assert_str_eq(status_of(job), "running", "the job is no longer running");
	cr_assert_gt(progress_rows(job), 0, "the job recorded no progress");
	json_decref(job);
	return id;
}

/* start_large_job is start_large_task for ~40 MB of ndjson. */
static char *start_large_job(const char *const *worker_args)
{
	return start_large_task("ndjson", 2500000, worker_args);
}

/* assert_cancelled_partway checks a job stopped by its worker: cancelled,
 * some rows done but not all, no result. */
static void assert_cancelled_partway(const char *id, json_t *job)
{
	cr_assert_str_eq(status_of(job), "cancelled");
	cr_assert_str_eq(error_field(job, "code"), "cancelled");
	json_int_t rows = progress_rows(job);
	cr_assert_gt(rows, 0, "no progress kept");
	cr_assert_lt(rows, json_integer_value(json_object_get(job, "rows")), "the job ran to the end");
	char path[128];
	snprintf(path, sizeof path, "/v1/jobs/%s/result", id);
	struct http_reply r = http_get(path);
	cr_assert_eq(r.status, 409);
	json_t *body = http_json(&r);
	cr_assert_str_eq(error_field(body, "code"), "job_not_succeeded");
	json_decref(body);
	http_reply_free(&r);
}

Test(cancel, a_queued_staged_job_s_input_key_gets_the_result_ttl)
{
	size_t len;
	char *csv = harness_csv_rows(40000, &len); /* 640 KB: staged, its input a key */
	char *id = submit_csv("task=profile", csv);
	free(csv);
	char key[128];
	snprintf(key, sizeof key, "jobq:job:%s", id);
	cr_assert_eq(redis_integer("HEXISTS %s input", key), 0, "a staged input is in the hash");
	json_decref(cancel_job(id, 200));
	snprintf(key, sizeof key, "jobq:job:%s:input:0", id);
	long long ttl = redis_integer("TTL %s", key);
	cr_assert(ttl > 0 && ttl <= RESULT_TTL_S, "input TTL %lld, not within --result-ttl", ttl);
	free(id);
}

Test(cancel, queued_job_is_cancelled_at_once_and_never_runs)
{
	char *id = submit_csv("task=profile", "a,b\n1,2\n");
	json_t *job = cancel_job(id, 200);
	cr_assert_str_eq(status_of(job), "cancelled");
	cr_assert_str_eq(error_field(job, "code"), "cancelled");
	cr_assert(json_is_string(json_object_get(job, "finished_at")), "no finished_at");
	json_decref(job);
	cr_assert_eq(redis_integer("LLEN jobq:queue:%s", "default"), 0, "the id is still queued");
	char key[128];
	snprintf(key, sizeof key, "jobq:job:%s", id);
	long long ttl = redis_integer("TTL %s", key);
	cr_assert(ttl > 0 && ttl <= RESULT_TTL_S, "job TTL %lld, not within --result-ttl", ttl);
	/* A small input is a field of the hash: it has the hash's TTL. */
	cr_assert_eq(redis_integer("HEXISTS %s input", key), 1, "the small input is not in the hash");
	snprintf(key, sizeof key, "jobq:job:%s:input", id);
	cr_assert_eq(redis_integer("EXISTS %s", key), 0, "a small input has a key of its own");
	snprintf(key, sizeof key, "jobq:job:%s:input:0", id);
	cr_assert_eq(redis_integer("EXISTS %s", key), 0, "a small input has a piece of its own");

	/* A worker that comes later runs the next job, not the cancelled one. */
	harness_start_worker(NULL);
	char *next = submit_csv("task=profile", "a,b\n3,4\n");
	job = wait_for_status(next, "succeeded", 20000);
	cr_assert_str_eq(status_of(job), "succeeded");
	json_decref(job);
	snprintf(key, sizeof key, "/v1/jobs/%s", id);
	struct http_reply r = http_get(key);
	job = http_json(&r);
	http_reply_free(&r);
	cr_assert_str_eq(status_of(job), "cancelled");
	cr_assert_eq(json_integer_value(json_object_get(job, "attempts")), 0, "it ran");
	json_decref(job);
	free(next), free(id);
}

Test(cancel, running_job_stops_within_milliseconds_through_pubsub)
{
	/* Default lease 30 s: renewals every 10 s cannot explain a fast stop. */
	char *id = start_large_job(NULL);
	wait_subscribed();
	long long t0 = monotonic_ms();
	json_t *job = cancel_job(id, 202);
	cr_assert_str_eq(status_of(job), "running");
	cr_assert(json_is_true(json_object_get(job, "cancel_requested")), "no cancel_requested");
	json_decref(job);
	job = wait_not_running(id, 10000);
	long long took = monotonic_ms() - t0;
	stall_stop();
	cr_log_info("cancel of a running job: %lld ms from DELETE to cancelled", took);
	fprintf(stderr, "cancel latency: %lld ms from DELETE to status cancelled\n", took);
	assert_cancelled_partway(id, job);
	cr_assert_lt(took, 5000, "cancel took %lld ms", took);
	json_decref(job);
	cr_assert(harness_log_wait("worker0", "\"via\":\"pubsub\"", 5000), "the worker was not woken by pub/sub");
	free(id);
}

Test(cancel, running_profile_on_a_large_input_stops_partway_with_no_result)
{
	/* ~40 MB read through the stalled Redis: seconds, on any machine. */
	char *id = start_large_task("profile", 2500000, NULL);
	long long t0 = monotonic_ms();
	json_t *job = cancel_job(id, 202);
	json_decref(job);
	job = wait_not_running(id, 10000);
	long long took = monotonic_ms() - t0;
	stall_stop();
	fprintf(stderr, "profile cancel latency: %lld ms from DELETE to status cancelled\n", took);
	assert_cancelled_partway(id, job);
	cr_assert_lt(took, 5000, "cancel took %lld ms", took);
	json_decref(job);
	free(id);
}

Test(cancel, running_job_stops_through_the_flag_when_the_message_is_lost)
{
	/* Lease 3 s: renewals every 1 s; progress writes see the flag too. */
	const char *const args[] = {"--lease", "3s", NULL};
	char *id = start_large_job(args);
	char key[128];
	snprintf(key, sizeof key, "jobq:job:%s", id);
	long long t0 = monotonic_ms();
	redisReply *r = redis_cmd("HSET %s cancel_requested 1", key);
	freeReplyObject(r);
	json_t *job = wait_not_running(id, 10000);
	long long took = monotonic_ms() - t0;
	stall_stop();
	fprintf(stderr, "cancel latency without a message: %lld ms\n", took);
	assert_cancelled_partway(id, job);
	cr_assert_lt(took, 5000, "cancel through the flag took %lld ms", took);
	json_decref(job);
	cr_assert_not(harness_log_has("worker0", "\"via\":\"pubsub\""), "a message was published");
	free(id);
}

Test(cancel, finished_job_cannot_be_cancelled)
{
	char *id = submit_csv("task=profile", "a,b\n1,2\n");
	harness_start_worker(NULL);
	json_t *job = wait_for_status(id, "succeeded", 20000);
	cr_assert_str_eq(status_of(job), "succeeded");
	json_decref(job);
	json_t *body = cancel_job(id, 409);
	cr_assert_str_eq(error_field(body, "code"), "job_finished");
	cr_assert_str_eq(error_field(body, "status"), "succeeded");
	json_decref(body);
	/* Nothing changed. */
	char path[128];
	snprintf(path, sizeof path, "/v1/jobs/%s/result", id);
	struct http_reply r = http_get(path);
	cr_assert_eq(r.status, 200);
	http_reply_free(&r);
	free(id);
}

Test(cancel, unknown_or_malformed_id_is_job_not_found)
{
	json_t *body = cancel_job("0123456789abcdef0123456789abcdef", 404);
	cr_assert_str_eq(error_field(body, "code"), "job_not_found");
	json_decref(body);
	body = cancel_job("not-an-id", 404);
	cr_assert_str_eq(error_field(body, "code"), "job_not_found");
	json_decref(body);
}

Test(cancel, second_delete_of_a_queued_job_answers_the_same)
{
	char *id = submit_csv("task=profile", "a\n1\n");
	json_t *first = cancel_job(id, 200);
	json_t *second = cancel_job(id, 200);
	cr_assert_str_eq(status_of(second), "cancelled");
	cr_assert(json_equal(json_object_get(first, "finished_at"),
			     json_object_get(second, "finished_at")), "the second DELETE changed the job");
	json_decref(first), json_decref(second);
	free(id);
}

/* DELETE answers the job as GET shows it afterwards, field for field
 * (but the attempts' error history, which only GET gives): cancel.lua
 * returns the record's fields by name, as a status read takes them. */
Test(cancel, the_delete_body_is_the_job_as_get_shows_it)
{
	char *id = submit_csv("task=profile&max_attempts=5&timeout=60", "a;b\n1;2\n");
	json_t *deleted = cancel_job(id, 200);
	char path[128];
	snprintf(path, sizeof path, "/v1/jobs/%s", id);
	struct http_reply r = http_get(path);
	json_t *got = http_json(&r);
	http_reply_free(&r);
	cr_assert(json_is_array(json_object_get(got, "errors")));
	json_object_del(got, "errors");
	char *a = json_dumps(deleted, JSON_SORT_KEYS), *b = json_dumps(got, JSON_SORT_KEYS);
	cr_assert(json_equal(deleted, got), "DELETE %s\nGET    %s", a, b);
	cr_assert_eq(json_integer_value(json_object_get(deleted, "max_attempts")), 5);
	cr_assert_str_eq(json_string_value(json_object_get(deleted, "request_id")),
			 json_string_value(json_object_get(got, "request_id")));
	free(a), free(b);
	json_decref(deleted), json_decref(got);
	free(id);
}

/* Here the test plays the worker (no jobq-worker runs): it claims the job,
 * listens on the channel, sees the cancel through its renewal, and
 * finishes the job as cancelled. */
Test(cancel, running_job_cancel_is_published_and_repeatable)
{
	static const char *const queues[] = {"default"};
	char *id = submit_csv("task=profile", "a\n1\n");
	struct job_claim c;
	cr_assert_eq(job_store_claim(st, "test:1:abc", queues, 1, 30000, &c, 1), 1);
	cr_assert_str_eq(c.id, id);
	redisContext *sub = redisConnectUnix(harness.redis_sock);
	cr_assert(sub && !sub->err);
	redisReply *r = redisCommand(sub, "SUBSCRIBE jobq:cancel");
	freeReplyObject(r);
	struct timeval tv = {2, 0};
	redisSetTimeout(sub, tv);

	for (int i = 0; i < 2; i++) {
		json_t *job = cancel_job(id, 202);
		cr_assert_str_eq(status_of(job), "running");
		cr_assert(json_is_true(json_object_get(job, "cancel_requested")));
		json_decref(job);
		void *reply = NULL;
		cr_assert_eq(redisGetReply(sub, &reply), REDIS_OK, "no message on jobq:cancel");
		r = reply;
		cr_assert(r->type == REDIS_REPLY_ARRAY && r->elements == 3);
		cr_assert_str_eq(r->element[0]->str, "message");
		cr_assert_str_eq(r->element[2]->str, id);
		freeReplyObject(r);
	}
	redisFree(sub);

	enum job_store_status answer;
	cr_assert_eq(job_store_renew(st, &c, 1, 30000, &answer), JOB_STORE_OK);
	cr_assert_eq(answer, JOB_STORE_CANCEL);
	cr_assert_eq(job_store_finish(st, &c, JOB_CANCELLED, "", "cancelled",
				      "the job was cancelled", 0, 0, 60), JOB_STORE_OK);
	json_t *job = cancel_job(id, 200);
	cr_assert_str_eq(status_of(job), "cancelled");
	json_decref(job);
	free(id);
}
