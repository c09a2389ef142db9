/*
 * test_job.c — status names, job times and the exact JSON views of a job.
 */
#include <criterion/criterion.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "job.h"

#define ID "0123456789abcdef0123456789abcdef"
#define T_CREATED 1700000000000LL  /* 2023-11-14T22:13:20.000Z */
#define T_STARTED 1700000001500LL  /* 2023-11-14T22:13:21.500Z */
#define T_FINISHED 1700000012345LL /* 2023-11-14T22:13:32.345Z */

/* record returns a job of 1000 rows, 4 columns and 50000 bytes in status. */
static struct job_record record(enum job_status status)
{
	struct job_record rec;

	memset(&rec, 0, sizeof rec);
	strcpy(rec.spec.id, ID);
	strcpy(rec.spec.task, "profile");
	strcpy(rec.spec.queue, "default");
	strcpy(rec.spec.request_id, "req-1");
	rec.spec.delimiter = ',';
	rec.spec.header = true;
	rec.spec.rows = 1000;
	rec.spec.columns = 4;
	rec.spec.bytes = 50000;
	rec.spec.created_at_ms = T_CREATED;
	rec.spec.max_attempts = 3;
	rec.spec.timeout_s = 300;
	rec.status = status;
	return rec;
}

/* assert_json_is asserts that got (released here) equals the JSON text want. */
static void assert_json_is(json_t *got, const char *want_text)
{
	json_error_t error;
	json_t *want = json_loads(want_text, 0, &error);
	char *got_text;

	cr_assert_not_null(want, "expected text is not JSON: %s", error.text);
	cr_assert_not_null(got, "no JSON produced");
	got_text = json_dumps(got, JSON_SORT_KEYS);
	cr_assert(json_equal(got, want), "got  %s\nwant %s", got_text, want_text);
	free(got_text);
	json_decref(got);
	json_decref(want);
}

/* percent_of returns progress.percent of rec's JSON view. */
static double percent_of(const struct job_record *rec)
{
	json_t *j = job_record_to_json(rec);
	json_t *p = json_object_get(json_object_get(j, "progress"), "percent");
	double percent;

	cr_assert(json_is_real(p), "percent is not a JSON real");
	percent = json_real_value(p);
	json_decref(j);
	return percent;
}

/* ---- Statuses ------------------------------------------------------------ */

Test(job, status_names_parse_back_to_their_status)
{
	for (enum job_status s = JOB_QUEUED; s <= JOB_CANCELLED; s++) {
		enum job_status back = JOB_QUEUED;
		cr_assert_eq(job_status_parse(job_status_name(s), &back), 0, "%s", job_status_name(s));
		cr_assert_eq(back, s);
	}
	cr_assert_str_eq(job_status_name(JOB_CANCELLED), "cancelled");
}

Test(job, status_parse_rejects_other_names)
{
	enum job_status s = JOB_RUNNING;

	cr_assert_eq(job_status_parse("Queued", &s), -1);
	cr_assert_eq(job_status_parse("", &s), -1);
	cr_assert_eq(job_status_parse("done", &s), -1);
	cr_assert_eq(job_status_parse(NULL, &s), -1);
	cr_assert_eq(s, JOB_RUNNING, "a failed parse changed the output");
}

Test(job, only_succeeded_failed_and_cancelled_are_terminal)
{
	cr_assert_not(job_status_is_terminal(JOB_QUEUED));
	cr_assert_not(job_status_is_terminal(JOB_RUNNING));
	cr_assert(job_status_is_terminal(JOB_SUCCEEDED));
	cr_assert(job_status_is_terminal(JOB_FAILED));
	cr_assert(job_status_is_terminal(JOB_CANCELLED));
}

Test(job, builtin_tasks_are_profile_and_ndjson)
{
	cr_assert(job_task_builtin("profile"));
	cr_assert(job_task_builtin("ndjson"));
	cr_assert_not(job_task_builtin("Profile"));
	cr_assert_not(job_task_builtin("sql"));
	cr_assert_not(job_task_builtin(""));
	cr_assert_not(job_task_builtin(NULL));
}

/* ---- Times --------------------------------------------------------------- */

Test(job, time_of_epoch_is_1970)
{
	char out[32];

	job_time_format(0, out);
	cr_assert_str_eq(out, "1970-01-01T00:00:00.000Z");
}

Test(job, time_pads_milliseconds_to_three_digits)
{
	char out[32];

	job_time_format(1700000000007LL, out);
	cr_assert_str_eq(out, "2023-11-14T22:13:20.007Z");
	job_time_format(1700000000070LL, out);
	cr_assert_str_eq(out, "2023-11-14T22:13:20.070Z");
	job_time_format(T_FINISHED, out);
	cr_assert_str_eq(out, "2023-11-14T22:13:32.345Z");
}

Test(job, time_is_utc_whatever_the_local_zone)
{
	char out[32];

	setenv("TZ", "America/New_York", 1);
	tzset();
	job_time_format(1782000000999LL, out);
	cr_assert_str_eq(out, "2026-06-21T00:00:00.999Z");
}

/* reference_time is job_time_format without its per-thread cache. */
static void reference_time(int64_t ms, char out[32])
{
	time_t secs = (time_t)(ms / 1000);
	struct tm tm;

	cr_assert_not_null(gmtime_r(&secs, &tm));
	cr_assert_eq(strftime(out, 32, "%Y-%m-%dT%H:%M:%S", &tm), 19);
	snprintf(out + 19, 13, ".%03dZ", (int)(ms % 1000));
}

/* Times within one second (the cached date reused), across seconds, days
 * and years, and far apart: each as gmtime_r and strftime write it. */
Test(job, time_equals_gmtime_for_times_near_and_far_apart)
{
	uint64_t state = 0x853c49e6748fea9bull;
	int64_t ms = 1782000000000LL - 2500;
	char out[32], want[32];

	for (int i = 0; i < 20000; i++) {
		state ^= state << 13;
		state ^= state >> 7;
		state ^= state << 17;
		ms = i % 3 ? ms + (int64_t)(state % 700) : (int64_t)(state % 253402300799999ULL);
		job_time_format(ms, out);
		reference_time(ms, want);
		cr_assert_str_eq(out, want, "ms %lld", (long long)ms);
	}
}

Test(job, time_outside_four_digit_years_is_clamped)
{
	char out[32];

	job_time_format(-1, out);
	cr_assert_str_eq(out, "1970-01-01T00:00:00.000Z");
	job_time_format(INT64_MAX, out);
	cr_assert_str_eq(out, "9999-12-31T23:59:59.999Z");
}

Test(job, now_is_the_wall_clock_in_milliseconds)
{
	int64_t before = (int64_t)time(NULL) * 1000;
	int64_t now = job_now_ms();
	int64_t after = ((int64_t)time(NULL) + 1) * 1000;

	cr_assert(now >= before && now <= after, "%lld not in [%lld, %lld]",
		  (long long)now, (long long)before, (long long)after);
}

/* ---- JSON views ---------------------------------------------------------- */

Test(job, queued_job_json_has_nulls_for_times_not_reached)
{
	struct job_record rec = record(JOB_QUEUED);

	assert_json_is(job_record_to_json(&rec),
		"{\"id\":\"" ID "\",\"status\":\"queued\",\"task\":\"profile\","
		"\"queue\":\"default\",\"rows\":1000,\"columns\":4,\"bytes\":50000,"
		"\"attempts\":0,\"created_at\":\"2023-11-14T22:13:20.000Z\","
		"\"started_at\":null,\"finished_at\":null,\"request_id\":\"req-1\","
		"\"progress\":{\"rows\":0,\"bytes\":0,\"bytes_total\":50000,\"percent\":0.0},"
		"\"error\":null,\"result_url\":null,\"max_attempts\":3,\"timeout\":300,\"retry_at\":null}");
}

Test(job, running_job_json_shows_progress)
{
	struct job_record rec = record(JOB_RUNNING);

	rec.attempts = 1;
	rec.started_at_ms = T_STARTED;
	rec.progress_rows = 250;
	rec.progress_bytes = 12500;
	assert_json_is(job_record_to_json(&rec),
		"{\"id\":\"" ID "\",\"status\":\"running\",\"task\":\"profile\","
		"\"queue\":\"default\",\"rows\":1000,\"columns\":4,\"bytes\":50000,"
		"\"attempts\":1,\"created_at\":\"2023-11-14T22:13:20.000Z\","
		"\"started_at\":\"2023-11-14T22:13:21.500Z\",\"finished_at\":null,"
		"\"request_id\":\"req-1\","
		"\"progress\":{\"rows\":250,\"bytes\":12500,\"bytes_total\":50000,\"percent\":25.0},"
		"\"error\":null,\"result_url\":null,\"max_attempts\":3,\"timeout\":300,\"retry_at\":null}");
}

Test(job, succeeded_job_json_has_result_url_and_full_percent)
{
	struct job_record rec = record(JOB_SUCCEEDED);

	rec.attempts = 2;
	rec.started_at_ms = T_STARTED;
	rec.finished_at_ms = T_FINISHED;
	rec.progress_rows = 1000;
	rec.progress_bytes = 49990; /* the last progress report came a little early */
	strcpy(rec.result_type, "application/json");
	rec.result_bytes = 321;
	assert_json_is(job_record_to_json(&rec),
		"{\"id\":\"" ID "\",\"status\":\"succeeded\",\"task\":\"profile\","
		"\"queue\":\"default\",\"rows\":1000,\"columns\":4,\"bytes\":50000,"
		"\"attempts\":2,\"created_at\":\"2023-11-14T22:13:20.000Z\","
		"\"started_at\":\"2023-11-14T22:13:21.500Z\","
		"\"finished_at\":\"2023-11-14T22:13:32.345Z\",\"request_id\":\"req-1\","
		"\"progress\":{\"rows\":1000,\"bytes\":49990,\"bytes_total\":50000,\"percent\":100.0},"
		"\"error\":null,\"result_url\":\"/v1/jobs/" ID "/result\",\"max_attempts\":3,\"timeout\":300,\"retry_at\":null}");
}

Test(job, failed_job_json_has_error_code_and_message)
{
	struct job_record rec = record(JOB_FAILED);

	rec.attempts = 3;
	rec.started_at_ms = T_STARTED;
	rec.finished_at_ms = T_FINISHED;
	rec.progress_rows = 10;
	rec.progress_bytes = 500;
	strcpy(rec.error_code, "timeout");
	strcpy(rec.error_message, "the task ran longer than 300 s");
	assert_json_is(job_record_to_json(&rec),
		"{\"id\":\"" ID "\",\"status\":\"failed\",\"task\":\"profile\","
		"\"queue\":\"default\",\"rows\":1000,\"columns\":4,\"bytes\":50000,"
		"\"attempts\":3,\"created_at\":\"2023-11-14T22:13:20.000Z\","
		"\"started_at\":\"2023-11-14T22:13:21.500Z\","
		"\"finished_at\":\"2023-11-14T22:13:32.345Z\",\"request_id\":\"req-1\","
		"\"progress\":{\"rows\":10,\"bytes\":500,\"bytes_total\":50000,\"percent\":1.0},"
		"\"error\":{\"code\":\"timeout\",\"message\":\"the task ran longer than 300 s\"},"
		"\"result_url\":null,\"max_attempts\":3,\"timeout\":300,\"retry_at\":null}");
}

Test(job, cancel_requested_appears_only_when_set)
{
	struct job_record rec = record(JOB_RUNNING);
	json_t *j = job_record_to_json(&rec);

	cr_assert_null(json_object_get(j, "cancel_requested"));
	json_decref(j);
	rec.cancel_requested = true;
	j = job_record_to_json(&rec);
	cr_assert(json_is_true(json_object_get(j, "cancel_requested")));
	json_decref(j);
}

Test(job, empty_request_id_is_null)
{
	struct job_record rec = record(JOB_QUEUED);
	json_t *j;

	rec.spec.request_id[0] = '\0';
	j = job_record_to_json(&rec);
	cr_assert(json_is_null(json_object_get(j, "request_id")));
	json_decref(j);
}

Test(job, error_message_that_is_not_utf8_is_shown_with_question_marks)
{
	struct job_record rec = record(JOB_FAILED);
	json_t *j;

	strcpy(rec.error_code, "bad_csv");
	strcpy(rec.error_message, "bad byte \xff in row 3");
	j = job_record_to_json(&rec);
	cr_assert_not_null(j);
	cr_assert_str_eq(json_string_value(json_object_get(json_object_get(j, "error"), "message")),
			 "bad byte ? in row 3");
	json_decref(j);
}

Test(job, percent_rounds_to_one_decimal)
{
	struct job_record rec = record(JOB_RUNNING);

	rec.spec.bytes = 3;
	rec.progress_bytes = 1;
	cr_assert_float_eq(percent_of(&rec), 33.3, 1e-9);
	rec.progress_bytes = 2;
	cr_assert_float_eq(percent_of(&rec), 66.7, 1e-9);
	rec.spec.bytes = 8;
	rec.progress_bytes = 1;
	cr_assert_float_eq(percent_of(&rec), 12.5, 1e-9);
	rec.spec.bytes = 1000;
	rec.progress_bytes = 999;
	cr_assert_float_eq(percent_of(&rec), 99.9, 1e-9);
	rec.spec.bytes = 2000;
	rec.progress_bytes = 1;
	cr_assert_float_eq(percent_of(&rec), 0.1, 1e-9, "0.05 rounds half up");
}

Test(job, percent_is_zero_without_input_size_and_capped_at_100)
{
	struct job_record rec = record(JOB_RUNNING);

	rec.spec.bytes = 0;
	rec.progress_bytes = 10;
	cr_assert_float_eq(percent_of(&rec), 0.0, 1e-9);
	rec.spec.bytes = 100;
	rec.progress_bytes = 150;
	cr_assert_float_eq(percent_of(&rec), 100.0, 1e-9);
}

Test(job, accepted_text_is_the_queued_summary)
{
	struct job_record rec = record(JOB_QUEUED);
	char text[JOB_ACCEPTED_TEXT_MAX];

	strcpy(rec.spec.task, "ndjson");
	strcpy(rec.spec.queue, "bulk");
	cr_assert_gt(job_accepted_text(&rec.spec, text, sizeof text), 0);
	cr_assert_str_eq(text,
		"{\"id\":\"" ID "\",\"status\":\"queued\",\"task\":\"ndjson\","
		"\"queue\":\"bulk\",\"rows\":1000,\"columns\":4,\"bytes\":50000,"
		"\"created_at\":\"2023-11-14T22:13:20.000Z\"}");
}

/* json_capped is a uint64_t as the views show it: INT64_MAX past it. */
static json_t *json_capped(uint64_t n)
{
	return json_integer(n > INT64_MAX ? INT64_MAX : (json_int_t)n);
}

/* accepted_reference returns the 202 body of spec built with jansson (the
 * caller releases it): what job_accepted_text must equal once dumped. */
static json_t *accepted_reference(const struct job_spec *spec)
{
	char created[32];
	json_t *o;

	job_time_format(spec->created_at_ms, created);
	o = json_pack("{s:s, s:s, s:s, s:s}", "id", spec->id, "status", "queued",
		      "task", spec->task, "queue", spec->queue);
	cr_assert_not_null(o, "a name is not UTF-8");
	if (spec->tenant[0] != '\0')
		json_object_set_new(o, "tenant", json_string(spec->tenant));
	json_object_set_new(o, "rows", json_capped(spec->rows));
	json_object_set_new(o, "columns", json_capped(spec->columns));
	json_object_set_new(o, "bytes", json_capped(spec->bytes));
	json_object_set_new(o, "created_at", json_string(created));
	return o;
}

/* assert_text_matches_json asserts that job_accepted_text writes exactly
 * what json_dumps of accepted_reference writes for spec. */
static void assert_text_matches_json(const struct job_spec *spec)
{
	char text[JOB_ACCEPTED_TEXT_MAX];
	size_t len = job_accepted_text(spec, text, sizeof text);
	json_t *o = accepted_reference(spec);
	char *want = json_dumps(o, JSON_COMPACT);

	cr_assert_not_null(want);
	cr_assert_gt(len, 0, "no text for %s", want);
	cr_assert_eq(len, strlen(text));
	cr_assert_str_eq(text, want);
	free(want);
	json_decref(o);
}

Test(job, accepted_text_is_the_jansson_reference_byte_for_byte)
{
	struct job_record rec = record(JOB_QUEUED);

	assert_text_matches_json(&rec.spec);
	strcpy(rec.spec.tenant, "acme-corp.eu");
	strcpy(rec.spec.queue, "q:with/odd chars~");
	rec.spec.rows = UINT64_MAX;
	rec.spec.columns = 0;
	rec.spec.bytes = (uint64_t)INT64_MAX + 1;
	rec.spec.created_at_ms = 1;
	assert_text_matches_json(&rec.spec);
	memset(rec.spec.task, 'x', sizeof rec.spec.task - 1);
	memset(rec.spec.queue, 'y', sizeof rec.spec.queue - 1);
	memset(rec.spec.tenant, 'z', sizeof rec.spec.tenant - 1);
	assert_text_matches_json(&rec.spec);
}

Test(job, accepted_text_escapes_names_as_jansson_does)
{
	struct job_record rec = record(JOB_QUEUED);
	char text[JOB_ACCEPTED_TEXT_MAX];

	strcpy(rec.spec.task, "say \"hi\"");
	assert_text_matches_json(&rec.spec);
	rec = record(JOB_QUEUED);
	strcpy(rec.spec.tenant, "caf\xc3\xa9\x01");
	assert_text_matches_json(&rec.spec);
	rec = record(JOB_QUEUED);
	strcpy(rec.spec.queue, "a\\b");
	assert_text_matches_json(&rec.spec);
	rec = record(JOB_QUEUED);
	cr_assert_eq(job_accepted_text(&rec.spec, text, 40), 0, "a cut body was returned");
}

/* ---- Out of memory ------------------------------------------------------- */

static int allocs_left; /* allocations fail_after lets through */
static int allocs_live; /* blocks fail_after gave out and counted_free has not freed */

static void *fail_after(size_t size)
{
	void *p;

	if (allocs_left-- <= 0)
		return NULL;
	p = malloc(size);
	allocs_live += p != NULL;
	return p;
}

static void counted_free(void *p)
{
	allocs_live -= p != NULL;
	free(p);
}

/* Every allocation jansson makes for the views is refused in turn: each
 * view must come back NULL or whole, and leave nothing allocated. */
Test(job, json_views_are_null_not_partial_when_memory_runs_out)
{
	struct job_record rec = record(JOB_FAILED);
	int full = 0;

	rec.started_at_ms = T_STARTED;
	rec.finished_at_ms = T_FINISHED;
	rec.cancel_requested = true;
	strcpy(rec.error_code, "timeout");
	strcpy(rec.error_message, "too slow \xff");
	json_set_alloc_funcs(fail_after, counted_free);
	for (int n = 0; n < 200 && full < 2; n++) {
		json_t *view;
		allocs_left = n;
		view = job_record_to_json(&rec);
		if (view != NULL)
			cr_assert_eq(json_object_size(view), 19, "partial view after %d allocations", n);
		full = view != NULL ? full + 1 : 0;
		json_decref(view);
		cr_assert_eq(allocs_live, 0, "%d blocks leaked with %d allocations allowed", allocs_live, n);
	}
	json_set_alloc_funcs(malloc, free);
	cr_assert_eq(full, 2, "never succeeded within 200 allocations");
}

Test(job, a_job_waiting_for_a_retry_shows_when_it_runs_again)
{
	struct job_record rec = record(JOB_QUEUED);
	json_t *j;

	rec.attempts = 1;
	rec.retry_at_ms = T_FINISHED;
	strcpy(rec.error_code, "timeout");
	strcpy(rec.error_message, "the job ran longer than its timeout");
	j = job_record_to_json(&rec);
	cr_assert_str_eq(json_string_value(json_object_get(j, "retry_at")),
			 "2023-11-14T22:13:32.345Z");
	cr_assert_str_eq(json_string_value(json_object_get(json_object_get(j, "error"), "code")),
			 "timeout");
	cr_assert_eq(json_integer_value(json_object_get(j, "max_attempts")), 3);
	json_decref(j);
}

Test(job, a_tenants_job_shows_its_tenant_and_others_show_none)
{
	struct job_record rec = record(JOB_QUEUED);
	char text[JOB_ACCEPTED_TEXT_MAX];
	json_t *j = job_record_to_json(&rec);

	cr_assert_null(json_object_get(j, "tenant"), "auth off: no tenant member");
	json_decref(j);
	strcpy(rec.spec.tenant, "acme");
	j = job_record_to_json(&rec);
	cr_assert_str_eq(json_string_value(json_object_get(j, "tenant")), "acme");
	json_decref(j);
	cr_assert_gt(job_accepted_text(&rec.spec, text, sizeof text), 0);
	cr_assert_not_null(strstr(text, ",\"tenant\":\"acme\","), "%s", text);
}
