/*
 * Integration: every bad input gets its status and a JSON error naming the
 * problem, and a rejected upload stores nothing.
 */
#include <criterion/criterion.h>
#include <signal.h>
#include <stdio.h>
#include <sys/wait.h>
#include <stdlib.h>
#include <string.h>

#include "harness.h"

static void setup(void)
{
	memset(&harness, 0, sizeof harness);
	harness_start_redis();
	const char *args[] = {"--max-upload", "64K", "--max-field", "1K", NULL};
	harness_start_api(args);
}

TestSuite(errors, .init = setup, .fini = harness_teardown, .timeout = 60);

/* expect_error checks status, the error code, and returns the error object
 * (borrowed from *owner, which the caller releases). */
static json_t *expect_error(struct http_reply *r, long status, const char *code, json_t **owner)
{
	cr_assert_eq(r->status, status, "want %ld, got %ld: %s", status, r->status, r->body);
	char *type = http_header(r, "Content-Type");
	cr_assert(type && strncmp(type, "application/json", 16) == 0, "Content-Type %s", type);
	free(type);
	char *rid = http_header(r, "X-Request-ID");
	cr_assert_not_null(rid, "no X-Request-ID");
	free(rid);
	*owner = http_json(r);
	json_t *err = json_object_get(*owner, "error");
	cr_assert_not_null(err, "no error object: %s", r->body);
	cr_assert_str_eq(json_string_value(json_object_get(err, "code")), code);
	const char *msg = json_string_value(json_object_get(err, "message"));
	cr_assert(msg && strlen(msg) > 5, "no message");
	return err;
}

static void post_expect(const char *path, const char *csv, long status, const char *code)
{
	struct http_reply r = http_post_csv(path, csv);
	json_t *owner;
	expect_error(&r, status, code, &owner);
	json_decref(owner);
	http_reply_free(&r);
}

static void assert_nothing_stored(void)
{
	cr_assert_eq(redis_count_keys("jobq:job:*"), 0, "a job key was stored");
	cr_assert_eq(redis_count_keys("jobq:staging:*"), 0, "a staging key was left");
	cr_assert_eq(redis_count_keys("jobq:queue:*"), 0, "a queue was written");
}

Test(errors, bad_parameters_are_400_and_store_nothing)
{
	post_expect("/v1/jobs?task=nope", "a\n1\n", 400, "unknown_task");
	post_expect("/v1/jobs?queue=bad%20name", "a\n1\n", 400, "invalid_queue");
	post_expect("/v1/jobs?delimiter=ab", "a\n1\n", 400, "invalid_delimiter");
	post_expect("/v1/jobs?delimiter=%22", "a\n1\n", 400, "invalid_delimiter");
	post_expect("/v1/jobs?header=maybe", "a\n1\n", 400, "invalid_header");
	post_expect("/v1/jobs?tsak=profile", "a\n1\n", 400, "unknown_parameter");
	assert_nothing_stored();
}

Test(errors, other_content_types_are_415)
{
	struct http_reply r = http_request("POST", "/v1/jobs", "application/json", "{}", 2, NULL);
	json_t *owner;
	expect_error(&r, 415, "unsupported_media_type", &owner);
	json_decref(owner);
	http_reply_free(&r);
	assert_nothing_stored();
}

Test(errors, ragged_record_is_422_with_line_expected_and_found)
{
	struct http_reply r = http_post_csv("/v1/jobs", "a,b,c\n1,2,3\n\"x\ny\",2,3\n4,5\n");
	json_t *owner;
	json_t *err = expect_error(&r, 422, "ragged_record", &owner);
	cr_assert_eq(json_integer_value(json_object_get(err, "line")), 5);
	cr_assert_eq(json_integer_value(json_object_get(err, "expected")), 3);
	cr_assert_eq(json_integer_value(json_object_get(err, "found")), 2);
	json_decref(owner);
	http_reply_free(&r);
	assert_nothing_stored();
}

Test(errors, malformed_csv_is_422_with_the_line)
{
	struct {
		const char *csv;
		const char *code;
		long line;
	} cases[] = {
		{"a,b\n1,\"open\n2,3\n", "unterminated_quote", 0},
		{"a,b\n1,\"x\"y\n", "text_after_quote", 2},
		{"a,b\n1,\xc3\x28\n", "invalid_utf8", 2},
		{"a,b\n1,\xed\xa0\x80\n", "invalid_utf8", 2},
		{"a,b\n1,\xc0\xaf\n", "invalid_utf8", 2},
		{"a,b\n\n1,x\0y\n", "nul_byte", 3},
		{"a,b\n", "no_data_records", 0},
	};
	for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
		size_t len = strlen(cases[i].csv);
		if (strcmp(cases[i].code, "nul_byte") == 0)
			len = 11;
		struct http_reply r = http_request("POST", "/v1/jobs", "text/csv", cases[i].csv, len, NULL);
		json_t *owner;
		json_t *err = expect_error(&r, 422, cases[i].code, &owner);
		if (cases[i].line)
			cr_expect_eq(json_integer_value(json_object_get(err, "line")), cases[i].line,
				     "%s: line", cases[i].code);
		json_decref(owner);
		http_reply_free(&r);
	}
	assert_nothing_stored();
}

Test(errors, empty_body_is_422_no_data_records)
{
	post_expect("/v1/jobs", "", 422, "no_data_records");
}

Test(errors, field_larger_than_max_field_is_422_field_too_large)
{
	char *csv = malloc(4096);
	strcpy(csv, "a\n");
	memset(csv + 2, 'x', 2000);
	strcpy(csv + 2002, "\n");
	post_expect("/v1/jobs", csv, 422, "field_too_large");
	free(csv);
	assert_nothing_stored();
}

Test(errors, upload_beyond_max_upload_is_413)
{
	size_t n = 200 * 1024;
	char *csv = malloc(n + 1);
	memcpy(csv, "a\n", 2);
	for (size_t i = 2; i < n; i += 2)
		memcpy(csv + i, "1\n", 2);
	csv[n] = '\0';
	post_expect("/v1/jobs", csv, 413, "payload_too_large");
	free(csv);
	assert_nothing_stored();
}

Test(errors, unknown_job_and_malformed_id_are_404)
{
	struct http_reply r = http_get("/v1/jobs/0123456789abcdef0123456789abcdef");
	json_t *owner;
	expect_error(&r, 404, "job_not_found", &owner);
	json_decref(owner);
	http_reply_free(&r);
	r = http_get("/v1/jobs/not-an-id");
	expect_error(&r, 404, "job_not_found", &owner);
	json_decref(owner);
	http_reply_free(&r);
	r = http_get("/v1/jobs/0123456789abcdef0123456789abcdef/result");
	expect_error(&r, 404, "job_not_found", &owner);
	json_decref(owner);
	http_reply_free(&r);
}

Test(errors, unknown_route_is_404_and_wrong_method_is_405_with_allow)
{
	struct http_reply r = http_get("/v2/nothing");
	json_t *owner;
	expect_error(&r, 404, "not_found", &owner);
	json_decref(owner);
	http_reply_free(&r);
	r = http_request("PUT", "/v1/jobs", NULL, NULL, 0, NULL);
	expect_error(&r, 405, "method_not_allowed", &owner);
	char *allow = http_header(&r, "Allow");
	cr_assert_not_null(allow);
	cr_assert_not_null(strstr(allow, "POST"), "Allow: %s", allow);
	free(allow);
	json_decref(owner);
	http_reply_free(&r);
}

Test(errors, result_of_an_unfinished_job_is_409_with_its_status)
{
	/* No worker runs in this suite: the job stays queued. */
	char *id = submit_csv(NULL, "a\n1\n");
	char path[128];
	snprintf(path, sizeof path, "/v1/jobs/%s/result", id);
	struct http_reply r = http_get(path);
	json_t *owner;
	json_t *err = expect_error(&r, 409, "job_not_finished", &owner);
	cr_assert_str_eq(json_string_value(json_object_get(err, "status")), "queued");
	json_decref(owner);
	http_reply_free(&r);
	free(id);
}

Test(errors, redis_down_gives_503_unavailable_and_readyz_503)
{
	struct http_reply r = http_get("/readyz");
	cr_assert_eq(r.status, 200, "%s", r.body);
	http_reply_free(&r);
	redisFree(harness.redis);
	harness.redis = NULL;
	kill(harness.redis_pid, SIGKILL);
	waitpid(harness.redis_pid, NULL, 0);
	harness.redis_pid = 0;

	long long t0 = monotonic_ms();
	r = http_post_csv("/v1/jobs", "a\n1\n");
	json_t *owner;
	expect_error(&r, 503, "unavailable", &owner);
	char *retry = http_header(&r, "Retry-After");
	cr_assert_not_null(retry, "503 without Retry-After");
	free(retry);
	json_decref(owner);
	http_reply_free(&r);
	r = http_get("/readyz");
	cr_assert_eq(r.status, 503);
	http_reply_free(&r);
	r = http_get("/healthz");
	cr_assert_eq(r.status, 200);
	http_reply_free(&r);
	cr_assert_lt(monotonic_ms() - t0, 10000, "the API hung while Redis was down");
}

Test(errors, one_character_multipart_boundary_is_400_not_503)
{
	const char *body = "--b\r\nContent-Disposition: form-data; name=\"file\"; filename=\"x.csv\"\r\n"
			   "\r\na\n1\n\r\n--b--\r\n";
	struct http_reply r = http_request("POST", "/v1/jobs", "multipart/form-data; boundary=b",
					   body, strlen(body), NULL);
	json_t *owner;
	expect_error(&r, 400, "invalid_multipart", &owner);
	json_decref(owner);
	http_reply_free(&r);
	assert_nothing_stored();
}

/* A queue key of the wrong type (put there by hand) fails the submissions
 * to that queue: 500, with the key named in the body as in the log, so
 * that whoever reads the answer knows what an operator must fix. */
Test(errors, a_queue_key_of_the_wrong_type_is_500_naming_the_key)
{
	freeReplyObject(redis_cmd("SET jobq:queue:other x"));
	struct http_reply r = http_post_csv("/v1/jobs?queue=other", "a\n1\n");
	json_t *owner;
	json_t *err = expect_error(&r, 500, "internal_error", &owner);

	cr_assert_str_eq(json_string_value(json_object_get(err, "key")), "jobq:queue:other", "%s",
			 r.body);
	cr_assert_not_null(strstr(json_string_value(json_object_get(err, "message")),
				  "jobq:queue:other"), "%s", r.body);
	json_decref(owner);
	http_reply_free(&r);
	cr_assert_eq(redis_count_keys("jobq:job:*"), 0, "a job key was stored");
	cr_assert_eq(redis_count_keys("jobq:staging:*"), 0, "a staging key was left");
}

/* The longest queue name (64 bytes) is named whole, and a wake list of the
 * wrong type too: the key in the body is never cut short into the name of
 * another, healthy key. */
Test(errors, a_long_queue_keys_wrong_type_is_named_whole)
{
	char q[65], path[128], key[96];

	memset(q, 'q', 64);
	q[64] = '\0';
	snprintf(key, sizeof key, "jobq:wake:%s", q);
	freeReplyObject(redis_cmd("SET %s x", key));
	snprintf(path, sizeof path, "/v1/jobs?queue=%s", q);
	struct http_reply r = http_post_csv(path, "a\n1\n");
	json_t *owner;
	json_t *err = expect_error(&r, 500, "internal_error", &owner);

	cr_assert_str_eq(json_string_value(json_object_get(err, "key")), key, "%s", r.body);
	json_decref(owner);
	http_reply_free(&r);
}
