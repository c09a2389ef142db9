/*
 * Integration: Redis's longest string (proto-max-bulk-len) lowered after
 * jobq-api started. The API read the old limit at start, so only Redis
 * refusing the input stops the job, at enqueue (enqueue.lua's APPEND of
 * the tail) or earlier, mid-upload (the staging key's APPEND): either way
 * the client gets 413 payload_too_large as JSON, nothing of the job stays
 * in Redis, and the other jobs are queued as usual.
 */
#include <criterion/criterion.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "harness.h"

/* The limit the test sets in Redis, below the API's --max-upload. */
#define REDIS_LIMIT (1024 * 1024)

/* Rows of harness_csv_rows making an upload just past REDIS_LIMIT: its
 * first REDIS_LIMIT bytes are staged in whole 256 KiB appends (each within
 * the limit), and the tail sent with the enqueue makes the input too long. */
#define ROWS_PAST_LIMIT (REDIS_LIMIT / 16 + 64)

/* Rows making an upload of about 2 MiB: Redis refuses the staging key's
 * fifth 256 KiB append, long before the enqueue. */
#define ROWS_TWICE_LIMIT (REDIS_LIMIT / 8)

static void setup(void)
{
	memset(&harness, 0, sizeof harness);
	harness_start_redis();
	const char *args[] = {"--max-upload", "8M", NULL};
	harness_start_api(args);
}

TestSuite(redis_limit, .init = setup, .fini = harness_teardown, .timeout = 60);

/* set_redis_limit sets Redis's proto-max-bulk-len (a CONFIG SET value). */
static void set_redis_limit(const char *value)
{
	redisReply *r = redis_cmd("CONFIG SET proto-max-bulk-len %s", value);

	cr_assert_eq(r->type, REDIS_REPLY_STATUS, "CONFIG SET refused: %s", r->str);
	freeReplyObject(r);
}

/* assert_queued asserts that job id is queued in the default queue. */
static void assert_queued(const char *id)
{
	json_t *job = wait_for_status(id, "queued", 2000);

	cr_assert_str_eq(json_string_value(json_object_get(job, "status")), "queued");
	json_decref(job);
	redisReply *r = redis_cmd("LPOS jobq:queue:default %s", id);
	cr_assert_eq(r->type, REDIS_REPLY_INTEGER, "job %s is not in its queue", id);
	freeReplyObject(r);
}

/* assert_refused_413 posts rows rows with Redis's limit lowered to
 * REDIS_LIMIT and checks the answer: 413 payload_too_large as JSON with a
 * message. Returns the error's "limit" detail, or -1 without one. */
static long long assert_refused_413(size_t rows)
{
	size_t len;
	char *big = harness_csv_rows(rows, &len);

	cr_assert_gt(len, REDIS_LIMIT);
	set_redis_limit("1mb");
	struct http_reply r = http_post_csv("/v1/jobs", big);
	free(big);
	cr_assert_eq(r.status, 413, "%ld: %s", r.status, r.body);
	char *type = http_header(&r, "Content-Type");
	cr_assert(type != NULL && strncmp(type, "application/json", 16) == 0, "Content-Type %s", type);
	free(type);
	json_t *body = http_json(&r);
	json_t *err = json_object_get(body, "error");
	cr_assert_str_eq(json_string_value(json_object_get(err, "code")), "payload_too_large", "%s",
			 r.body);
	cr_assert_not_null(json_string_value(json_object_get(err, "message")));
	json_t *limit = json_object_get(err, "limit");
	long long got = limit != NULL ? json_integer_value(limit) : -1;
	json_decref(body);
	http_reply_free(&r);
	return got;
}

/* assert_only_before_and_after checks that of the jobs submitted, only
 * before and after (small: their inputs are fields of their hashes) left
 * keys, both queued, and that no staging key is left. */
static void assert_only_before_and_after(const char *before, const char *after)
{
	cr_assert_eq(redis_count_keys("jobq:staging:*"), 0, "the refused upload left its staging key");
	cr_assert_eq(redis_count_keys("jobq:job:*"), 2, "only the two small jobs have keys");
	redisReply *q = redis_cmd("LLEN jobq:queue:default");
	cr_assert_eq(q->integer, 2, "the queue holds %lld ids", q->integer);
	freeReplyObject(q);
	assert_queued(before);
	assert_queued(after);
}

/* refused_between submits a job, then rows rows that Redis's lowered limit
 * refuses (a 413 naming that limit), then another job, and checks that only
 * the two jobs are stored. */
static void refused_between(size_t rows)
{
	char *before = submit_csv("", "v\n1\n");
	cr_assert_eq(assert_refused_413(rows), REDIS_LIMIT, "the 413 does not name Redis's limit");
	char *after = submit_csv("", "v\n2\n");
	assert_only_before_and_after(before, after);
	free(before);
	free(after);
	set_redis_limit("512mb");
}

/* Redis refuses the tail enqueue.lua appends: the 413 names the limit
 * Redis has now, as mid-upload. */
Test(redis_limit, an_input_past_a_lowered_redis_limit_is_413_json_and_stores_nothing)
{
	size_t len;
	free(harness_csv_rows(ROWS_PAST_LIMIT, &len));
	cr_assert_lt(len, REDIS_LIMIT + 256 * 1024, "the tail is what passes the limit");
	refused_between(ROWS_PAST_LIMIT);
}

/* Redis refuses the staging key's APPEND while the upload still streams:
 * the answer is 413 too, naming the limit Redis has now, and the staging
 * key is deleted. */
Test(redis_limit, an_upload_refused_mid_upload_is_413_json_naming_the_limit)
{
	refused_between(ROWS_TWICE_LIMIT);
}
