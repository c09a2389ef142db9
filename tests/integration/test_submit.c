/*
 * Integration: upload -> 202 -> Redis -> worker -> result, over real HTTP
 * against real processes. Results are compared with values the test
 * computes itself from the data it generated.
 */
#include <criterion/criterion.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "harness.h"

static void setup(void)
{
	harness_setup_with(1);
}

TestSuite(submit, .init = setup, .fini = harness_teardown, .timeout = 60);

/* A CSV with one column of each type; n data rows. Values are chosen so the
 * test can compute every statistic itself. Caller frees. */
static char *mixed_csv(int n)
{
	size_t cap = 128 + (size_t)n * 96;
	char *s = malloc(cap);
	size_t len = (size_t)snprintf(s, cap, "id,price,flag,day,name,note\n");
	for (int i = 1; i <= n; i++)
		len += (size_t)snprintf(s + len, cap - len, "%d,%d.25,%s,2024-01-%02d,\"n%d, \"\"q\"\"\",%s\n",
					i, i, i % 2 ? "true" : "FALSE", 1 + i % 28, i,
					i % 10 == 0 ? "" : "x");
	return s;
}

static json_t *column(json_t *result, const char *name)
{
	json_t *cols = json_object_get(result, "columns");
	size_t i;
	json_t *c;
	json_array_foreach(cols, i, c)
		if (strcmp(json_string_value(json_object_get(c, "name")), name) == 0)
			return c;
	cr_assert_fail("no column %s in the profile", name);
	return NULL;
}

static json_t *fetch_result(const char *id, const char *want_type)
{
	char path[128];
	snprintf(path, sizeof path, "/v1/jobs/%s/result", id);
	struct http_reply r = http_get(path);
	cr_assert_eq(r.status, 200, "result answered %ld: %s", r.status, r.body);
	char *type = http_header(&r, "Content-Type");
	cr_assert_not_null(type);
	cr_assert(strncmp(type, want_type, strlen(want_type)) == 0, "Content-Type %s", type);
	free(type);
	json_t *j = http_json(&r);
	http_reply_free(&r);
	return j;
}

/* check_mixed_profile compares a profile of mixed_csv(n) with the values
 * computed here. */
static void check_mixed_profile(json_t *p, int n)
{
	cr_assert_eq(json_integer_value(json_object_get(p, "rows")), n);
	json_t *id = column(p, "id");
	cr_assert_str_eq(json_string_value(json_object_get(id, "type")), "integer");
	cr_assert_eq(json_integer_value(json_object_get(id, "min")), 1);
	cr_assert_eq(json_integer_value(json_object_get(id, "max")), n);
	double mean = (n + 1) / 2.0, var = 0;
	for (int i = 1; i <= n; i++)
		var += (i - mean) * (i - mean);
	double sd = sqrt(var / (n - 1));
	cr_assert_float_eq(json_number_value(json_object_get(id, "mean")), mean, 1e-9);
	cr_assert_float_eq(json_number_value(json_object_get(id, "stddev")), sd, 1e-6);
	json_t *price = column(p, "price");
	cr_assert_str_eq(json_string_value(json_object_get(price, "type")), "float");
	cr_assert_float_eq(json_number_value(json_object_get(price, "max")), n + 0.25, 1e-9);
	cr_assert_str_eq(json_string_value(json_object_get(column(p, "flag"), "type")), "boolean");
	json_t *day = column(p, "day");
	cr_assert_str_eq(json_string_value(json_object_get(day, "type")), "date");
	cr_assert_str_eq(json_string_value(json_object_get(day, "min")), "2024-01-01");
	cr_assert_str_eq(json_string_value(json_object_get(day, "max")), "2024-01-28");
	json_t *name = column(p, "name");
	cr_assert_str_eq(json_string_value(json_object_get(name, "type")), "text");
	double distinct = (double)json_integer_value(json_object_get(name, "distinct_approx"));
	cr_assert(fabs(distinct - n) <= n * 0.05, "distinct_approx %g for %d values", distinct, n);
	json_t *note = column(p, "note");
	cr_assert_eq(json_integer_value(json_object_get(note, "empty")), n / 10);
	cr_assert_eq(json_integer_value(json_object_get(note, "count")), n - n / 10);
}

Test(submit, raw_csv_is_accepted_profiled_and_the_result_matches)
{
	char *csv = mixed_csv(1000);
	const char *hdr[] = {"X-Request-ID: test-req-42", NULL};
	struct http_reply r = http_request("POST", "/v1/jobs", "text/csv", csv, strlen(csv), hdr);
	cr_assert_eq(r.status, 202, "%s", r.body);
	char *loc = http_header(&r, "Location"), *rid = http_header(&r, "X-Request-ID");
	json_t *acc = http_json(&r);
	const char *id = json_string_value(json_object_get(acc, "id"));
	char want_loc[64];
	snprintf(want_loc, sizeof want_loc, "/v1/jobs/%s", id);
	cr_assert_str_eq(loc, want_loc);
	cr_assert_str_eq(rid, "test-req-42");
	cr_assert_str_eq(json_string_value(json_object_get(acc, "status")), "queued");
	cr_assert_eq(json_integer_value(json_object_get(acc, "rows")), 1000);
	cr_assert_eq(json_integer_value(json_object_get(acc, "columns")), 6);
	cr_assert_eq(json_integer_value(json_object_get(acc, "bytes")), (json_int_t)strlen(csv));

	json_t *job = wait_for_status(id, "succeeded", 20000);
	cr_assert_str_eq(json_string_value(json_object_get(job, "status")), "succeeded");
	cr_assert_str_eq(json_string_value(json_object_get(job, "request_id")), "test-req-42");
	cr_assert_eq(json_integer_value(json_object_get(job, "attempts")), 1);
	cr_assert_not_null(json_string_value(json_object_get(job, "finished_at")));
	json_t *profile = fetch_result(id, "application/json");
	check_mixed_profile(profile, 1000);
	json_decref(profile);

	redisReply *rr = redis_cmd("HGET jobq:job:%s request_id", id);
	cr_assert_str_eq(rr->str, "test-req-42");
	freeReplyObject(rr);
	rr = redis_cmd("STRLEN jobq:job:%s:input:0", id);
	cr_assert_eq(rr->integer, (long long)strlen(csv));
	freeReplyObject(rr);
	rr = redis_cmd("TTL jobq:job:%s", id);
	cr_assert(rr->integer > 6 * 86400 && rr->integer <= 7 * 86400, "TTL %lld", rr->integer);
	freeReplyObject(rr);
	json_decref(job);
	json_decref(acc);
	free(loc), free(rid), free(csv);
	http_reply_free(&r);
}

Test(submit, multipart_upload_with_form_fields_is_accepted)
{
	char *csv = mixed_csv(300);
	const char *fields[] = {"task", "profile", "queue", "default", NULL};
	struct http_reply r = http_post_multipart("/v1/jobs", fields, "file", csv, strlen(csv));
	cr_assert_eq(r.status, 202, "%s", r.body);
	json_t *acc = http_json(&r);
	const char *id = json_string_value(json_object_get(acc, "id"));
	json_t *job = wait_for_status(id, "succeeded", 20000);
	cr_assert_str_eq(json_string_value(json_object_get(job, "status")), "succeeded");
	json_t *profile = fetch_result(id, "application/json");
	check_mixed_profile(profile, 300);
	json_decref(profile);
	json_decref(job), json_decref(acc);
	free(csv);
	http_reply_free(&r);
}

Test(submit, ndjson_gives_one_object_per_record_with_the_cells_as_strings)
{
	const char *csv = "a,b\r\n1,\"x,y\"\r\n2,\"line\nbreak\"\r\n3,\"say \"\"hi\"\"\"\r\n";
	char *id = submit_csv("task=ndjson", csv);
	json_t *job = wait_for_status(id, "succeeded", 20000);
	cr_assert_str_eq(json_string_value(json_object_get(job, "status")), "succeeded");
	char path[128];
	snprintf(path, sizeof path, "/v1/jobs/%s/result", id);
	struct http_reply r = http_get(path);
	cr_assert_eq(r.status, 200);
	char *type = http_header(&r, "Content-Type");
	cr_assert(strncmp(type, "application/x-ndjson", 20) == 0);
	const char *want[] = {"{\"a\":\"1\",\"b\":\"x,y\"}", "{\"a\":\"2\",\"b\":\"line\\nbreak\"}",
			      "{\"a\":\"3\",\"b\":\"say \\\"hi\\\"\"}"};
	char *save = NULL, *line = strtok_r(r.body, "\n", &save);
	for (int i = 0; i < 3; i++, line = strtok_r(NULL, "\n", &save)) {
		cr_assert_not_null(line, "missing line %d", i + 1);
		json_t *got = json_loads(line, 0, NULL), *exp = json_loads(want[i], 0, NULL);
		cr_assert(json_equal(got, exp), "line %d: %s", i + 1, line);
		json_decref(got), json_decref(exp);
	}
	cr_assert_null(line, "extra line: %s", line);
	free(type), free(id);
	json_decref(job);
	http_reply_free(&r);
}

Test(submit, header_false_names_columns_c1_c2_and_counts_every_record)
{
	char *id = submit_csv("header=false", "1,a\n2,b\n3,c\n");
	json_t *job = wait_for_status(id, "succeeded", 20000);
	json_t *p = fetch_result(id, "application/json");
	cr_assert_eq(json_integer_value(json_object_get(p, "rows")), 3);
	cr_assert_str_eq(json_string_value(json_object_get(column(p, "c1"), "type")), "integer");
	cr_assert_str_eq(json_string_value(json_object_get(column(p, "c2"), "type")), "text");
	json_decref(p), json_decref(job);
	free(id);
}

Test(submit, tab_delimiter_is_honoured)
{
	char *id = submit_csv("delimiter=%09&task=ndjson", "k\tv\nx\t1,2\n");
	json_t *job = wait_for_status(id, "succeeded", 20000);
	char path[128];
	snprintf(path, sizeof path, "/v1/jobs/%s/result", id);
	struct http_reply r = http_get(path);
	json_t *got = json_loads(r.body, JSON_DISABLE_EOF_CHECK, NULL);
	json_t *exp = json_pack("{s:s,s:s}", "k", "x", "v", "1,2");
	cr_assert(json_equal(got, exp), "%s", r.body);
	json_decref(got), json_decref(exp), json_decref(job);
	http_reply_free(&r);
	free(id);
}

Test(submit, large_result_is_streamed_whole)
{
	/* About 3 MB of output: several pieces of the streamed reply. */
	int n = 40000;
	size_t cap = (size_t)n * 40 + 16;
	char *csv = malloc(cap);
	size_t len = (size_t)snprintf(csv, cap, "k,v\n");
	for (int i = 0; i < n; i++)
		len += (size_t)snprintf(csv + len, cap - len, "%d,value-%d-abcdefghijklmnop\n", i, i);
	char *id = submit_csv("task=ndjson", csv);
	json_t *job = wait_for_status(id, "succeeded", 30000);
	cr_assert_str_eq(json_string_value(json_object_get(job, "status")), "succeeded");
	char path[128];
	snprintf(path, sizeof path, "/v1/jobs/%s/result", id);
	struct http_reply r = http_get(path);
	cr_assert_eq(r.status, 200);
	int lines = 0;
	for (size_t i = 0; i < r.len; i++)
		lines += r.body[i] == '\n';
	cr_assert_eq(lines, n);
	char want[96];
	snprintf(want, sizeof want, "{\"k\":\"%d\",\"v\":\"value-%d-abcdefghijklmnop\"}\n", n - 1, n - 1);
	cr_assert(r.len > strlen(want) && strcmp(r.body + r.len - strlen(want), want) == 0);
	http_reply_free(&r);
	json_decref(job);
	free(id), free(csv);
}

Test(submit, job_view_has_every_documented_field)
{
	char *id = submit_csv(NULL, "a\n1\n");
	json_t *job = wait_for_status(id, "succeeded", 20000);
	const char *fields[] = {"id", "status", "task", "queue", "attempts", "created_at",
				"started_at", "finished_at", "request_id", "progress", "error",
				"result_url"};
	for (size_t i = 0; i < sizeof fields / sizeof fields[0]; i++)
		cr_expect(json_object_get(job, fields[i]) != NULL, "missing %s", fields[i]);
	json_t *progress = json_object_get(job, "progress");
	const char *pf[] = {"rows", "bytes", "bytes_total", "percent"};
	for (size_t i = 0; i < 4; i++)
		cr_expect(json_object_get(progress, pf[i]) != NULL, "missing progress.%s", pf[i]);
	cr_assert(json_is_null(json_object_get(job, "error")));
	char want[80];
	snprintf(want, sizeof want, "/v1/jobs/%s/result", id);
	cr_assert_str_eq(json_string_value(json_object_get(job, "result_url")), want);
	const char *created = json_string_value(json_object_get(job, "created_at"));
	cr_assert_eq(strlen(created), 24, "not RFC 3339 with ms: %s", created);
	cr_assert_eq(created[23], 'Z');
	json_decref(job);
	free(id);
}

Test(submit, generated_request_id_is_returned_when_client_sends_none_or_a_bad_one)
{
	const char *bad[] = {"X-Request-ID: has spaces in it", NULL};
	struct http_reply r = http_request("GET", "/healthz", NULL, NULL, 0, bad);
	char *rid = http_header(&r, "X-Request-ID");
	cr_assert_not_null(rid);
	cr_assert_str_neq(rid, "has spaces in it");
	cr_assert_gt(strlen(rid), 8);
	free(rid);
	http_reply_free(&r);
}

/* The access line of a 202 stands for the job's "job queued" line too: it
 * carries, after the six members every access line has, the job's task,
 * queue, rows and bytes, and no other line is written about the
 * submission. */
Test(submit, access_line_of_a_202_carries_the_jobs_task_queue_rows_and_bytes)
{
	char *id = submit_csv("queue=q1", "a,b\n1,2\n3,4\n");
	char pattern[300];

	cr_assert(harness_log_wait_msg("api", "request", id, 5000), "no access line for %s", id);
	snprintf(pattern, sizeof pattern,
		 "\"job_id\":\"%s\",\"method\":\"POST\",\"route\":\"/v1/jobs\",\"status\":202,"
		 "\"bytes_in\":[1-9][0-9]*,\"bytes_out\":[1-9][0-9]*,\"duration_ms\":[0-9][0-9]*,"
		 "\"task\":\"profile\",\"queue\":\"q1\",\"rows\":2,\"bytes\":12}", id);
	cr_assert(harness_log_has("api", pattern), "the access line lacks the job's fields");
	cr_assert_eq(harness_log_count("api", "job queued", NULL), 0);
	free(id);
}
