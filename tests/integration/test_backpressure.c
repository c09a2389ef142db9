/*
 * Integration: backpressure. With --max-queue-depth 3 and no worker, the
 * fourth submission to a queue gets 503 queue_full with Retry-After and
 * stores nothing (not even a staging key); the jobs before it are intact,
 * and other queues still take jobs.
 */
#include <criterion/criterion.h>
#include <stdlib.h>
#include <string.h>

#include "harness.h"

static void setup(void)
{
	memset(&harness, 0, sizeof harness);
	harness_start_redis();
	const char *args[] = {"--max-queue-depth", "3", NULL};
	harness_start_api(args);
}

TestSuite(backpressure, .init = setup, .fini = harness_teardown, .timeout = 60);

/* expect_queue_full checks that r is 503 queue_full with Retry-After and
 * the limit in details. */
static void expect_queue_full(struct http_reply *r)
{
	cr_assert_eq(r->status, 503, "want 503, got %ld: %s", r->status, r->body);
	json_t *body = http_json(r);
	json_t *err = json_object_get(body, "error");
	const char *code = json_string_value(json_object_get(err, "code"));
	cr_assert(code != NULL && strcmp(code, "queue_full") == 0, "code %s", code);
	cr_assert_eq(json_integer_value(json_object_get(err, "limit")), 3, "%s", r->body);
	json_decref(body);
	char *retry = http_header(r, "Retry-After");
	cr_assert(retry != NULL && atoi(retry) >= 1, "Retry-After %s", retry);
	free(retry);
}

/* big_csv returns a CSV larger than the upload buffer, so that it is staged
 * in Redis before the enqueue script runs. Free it. */
static char *big_csv(void)
{
	size_t rows = 60000, len = 0;
	char *csv = malloc(rows * 8 + 16);
	len += (size_t)sprintf(csv, "a,b\n");
	for (size_t i = 0; i < rows; i++)
		len += (size_t)sprintf(csv + len, "%05zu,x\n", i % 100000);
	return csv;
}

Test(backpressure, a_submission_to_a_full_queue_is_503_queue_full_and_stores_nothing)
{
	char *ids[3];
	for (int i = 0; i < 3; i++)
		ids[i] = submit_csv(NULL, "a\n1\n");
	struct http_reply r = http_post_csv("/v1/jobs", "a\n2\n");
	expect_queue_full(&r);
	http_reply_free(&r);

	/* A small input is a field of its job's hash: one key per job. */
	cr_assert_eq(redis_count_keys("jobq:job:*"), 3, "3 hashes, nothing more");
	cr_assert_eq(redis_count_keys("jobq:staging:*"), 0);
	redisReply *len = redis_cmd("LLEN jobq:queue:default");
	cr_assert_eq(len->integer, 3);
	freeReplyObject(len);
	for (int i = 0; i < 3; i++) {
		json_t *j = wait_for_status(ids[i], "queued", 1000);
		const char *status = json_string_value(json_object_get(j, "status"));
		cr_assert(status != NULL && strcmp(status, "queued") == 0, "job %d is %s", i, status);
		json_decref(j);
		free(ids[i]);
	}
}

Test(backpressure, a_staged_upload_to_a_full_queue_leaves_no_staging_key)
{
	for (int i = 0; i < 3; i++)
		free(submit_csv(NULL, "a\n1\n"));
	char *csv = big_csv();
	cr_assert_gt(strlen(csv), 256 * 1024, "the CSV must be staged");
	struct http_reply r = http_post_csv("/v1/jobs", csv);
	free(csv);
	expect_queue_full(&r);
	http_reply_free(&r);
	cr_assert_eq(redis_count_keys("jobq:staging:*"), 0, "the script deletes the staging key");
	cr_assert_eq(redis_count_keys("jobq:job:*"), 3);
}

Test(backpressure, the_limit_is_per_queue)
{
	for (int i = 0; i < 3; i++)
		free(submit_csv(NULL, "a\n1\n"));
	free(submit_csv("queue=other", "a\n1\n"));
	redisReply *len = redis_cmd("LLEN jobq:queue:other");
	cr_assert_eq(len->integer, 1);
	freeReplyObject(len);
}
