/*
 * Integration: Idempotency-Key on POST /v1/jobs. The same key with the
 * same CSV and options gives back the first job (200, Idempotent-Replayed)
 * and stores nothing more; with anything else, 422 idempotency_mismatch;
 * concurrent submissions with one key make one job; a refused or failed
 * submission leaves the key free. (The enqueue script's part alone is
 * tested with the other scripts, in test_store.c.)
 */
#include <criterion/criterion.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "harness.h"

static void setup(void)
{
	harness_setup_with(1);
}

TestSuite(idempotency, .init = setup, .fini = harness_teardown, .timeout = 90);

#define CSV "name,n\nada,1\nbob,2\n"
#define JOB_HASHES "jobq:job:" \
	"????????????????????????????????"

/* post_keyed posts csv as text/csv to path with the Idempotency-Key key. */
static struct http_reply post_keyed(const char *path, const char *key, const char *csv,
				    size_t len)
{
	char h[512];
	snprintf(h, sizeof h, "Idempotency-Key: %s", key);
	const char *headers[] = {h, NULL};
	return http_request("POST", path, "text/csv", csv, len, headers);
}

/* job_id_of returns the "id" of r's JSON body (caller frees). */
static char *job_id_of(const struct http_reply *r)
{
	json_t *j = http_json(r);
	const char *id = json_string_value(json_object_get(j, "id"));
	cr_assert_not_null(id, "no id in %s", r->body);
	char *copy = strdup(id);
	json_decref(j);
	return copy;
}

/* submit_keyed posts CSV with key and returns the new job's id; aborts
 * unless the reply is 202. */
static char *submit_keyed(const char *key)
{
	struct http_reply r = post_keyed("/v1/jobs", key, CSV, strlen(CSV));
	cr_assert_eq(r.status, 202, "first submission answered %ld: %s", r.status, r.body);
	char *id = job_id_of(&r);
	http_reply_free(&r);
	return id;
}

/* expect_replay checks that r replays job id: 200, Location, the header
 * Idempotent-Replayed: true, and the job's view. Returns its status. */
static char *expect_replay(const struct http_reply *r, const char *id)
{
	char location[64];
	cr_assert_eq(r->status, 200, "replay answered %ld: %s", r->status, r->body);
	char *replayed = http_header(r, "Idempotent-Replayed");
	cr_assert(replayed && strcmp(replayed, "true") == 0, "Idempotent-Replayed: %s", replayed);
	free(replayed);
	char *loc = http_header(r, "Location");
	snprintf(location, sizeof location, "/v1/jobs/%s", id);
	cr_assert(loc && strcmp(loc, location) == 0, "Location %s", loc);
	free(loc);
	json_t *j = http_json(r);
	cr_assert_str_eq(json_string_value(json_object_get(j, "id")), id);
	char *status = strdup(json_string_value(json_object_get(j, "status")));
	json_decref(j);
	return status;
}

/* expect_error_code checks r's status and error code. */
static void expect_error_code(const struct http_reply *r, long status, const char *code)
{
	cr_assert_eq(r->status, status, "want %ld, got %ld: %s", status, r->status, r->body);
	json_t *j = http_json(r);
	const char *got = json_string_value(json_object_get(json_object_get(j, "error"), "code"));
	cr_assert(got && strcmp(got, code) == 0, "want code %s: %s", code, r->body);
	json_decref(j);
}

/* recorded_job returns the job id the key's record names (caller frees),
 * or NULL when there is no record. */
static char *recorded_job(const char *key)
{
	redisReply *rep = redis_cmd("HGET jobq:idem:-:%s job", key);
	char *id = rep->type == REDIS_REPLY_STRING ? strdup(rep->str) : NULL;
	freeReplyObject(rep);
	return id;
}

Test(idempotency, same_key_and_csv_returns_the_first_job_and_stores_nothing_more)
{
	char *id = submit_keyed("order-42");
	struct http_reply r = post_keyed("/v1/jobs", "order-42", CSV, strlen(CSV));
	free(expect_replay(&r, id));
	http_reply_free(&r);

	cr_assert_eq(redis_count_keys(JOB_HASHES), 1, "a second job was stored");
	cr_assert_eq(redis_count_keys("jobq:staging:*"), 0);
	char *rec = recorded_job("order-42");
	cr_assert(rec && strcmp(rec, id) == 0, "the record names %s, not %s", rec, id);
	redisReply *ttl = redis_cmd("TTL jobq:idem:-:order-42");
	cr_assert(ttl->integer > 0 && ttl->integer <= 24 * 3600, "TTL %lld", ttl->integer);
	freeReplyObject(ttl);
	free(rec);
	free(id);
}

/* calls_of returns the calls= count of cmd in an INFO commandstats text. */
static long long calls_of(const char *info, const char *cmd)
{
	char name[64];
	snprintf(name, sizeof name, "cmdstat_%s:calls=", cmd);
	const char *p = strstr(info, name);
	return p ? atoll(p + strlen(name)) : 0;
}

/* write_calls returns how many SET and APPEND commands Redis has run: the
 * commands that stage an upload. */
static long long write_calls(void)
{
	redisReply *r = redis_cmd("INFO commandstats");
	long long n = calls_of(r->str, "set") + calls_of(r->str, "append");
	freeReplyObject(r);
	return n;
}

Test(idempotency, a_large_replay_stages_nothing)
{
	size_t len;
	char *csv = harness_csv_rows(40000, &len); /* 640 KB: more than the first buffer */
	struct http_reply r = post_keyed("/v1/jobs", "big", csv, len);
	cr_assert_eq(r.status, 202, "%ld: %s", r.status, r.body);
	char *id = job_id_of(&r);
	http_reply_free(&r);
	json_decref(wait_for_status(id, "succeeded", 30000));

	long long before = write_calls();
	cr_assert_gt(before, 0, "the first upload was not staged: the test proves nothing");
	r = post_keyed("/v1/jobs", "big", csv, len);
	free(expect_replay(&r, id));
	http_reply_free(&r);
	cr_assert_eq(write_calls(), before, "the replay wrote to Redis");
	free(id);
	free(csv);
}

/* The record is {p}:idem:{tenant}:{key} whatever the job's numbers: a
 * four-digit timeout once overflowed the command's number storage into
 * the record's name (a NUL for its first byte), so that a replay missed
 * the record at the start and staged its upload again. */
Test(idempotency, the_record_is_named_by_its_key_whatever_the_jobs_options)
{
	size_t len;
	char *csv = harness_csv_rows(40000, &len); /* 640 KB: more than the first buffer */
	const char *path = "/v1/jobs?timeout=86400&max_attempts=10";
	struct http_reply r = post_keyed(path, "numbers", csv, len);
	cr_assert_eq(r.status, 202, "%ld: %s", r.status, r.body);
	char *id = job_id_of(&r);
	http_reply_free(&r);

	char *rec = recorded_job("numbers");
	cr_assert(rec && strcmp(rec, id) == 0, "jobq:idem:-:numbers names %s, not %s", rec, id);
	cr_assert_eq(redis_count_keys("jobq:idem:*"), 1);
	long long before = write_calls();
	r = post_keyed(path, "numbers", csv, len);
	free(expect_replay(&r, id));
	http_reply_free(&r);
	cr_assert_eq(write_calls(), before, "the replay staged its upload again");
	free(rec);
	free(id);
	free(csv);
}

Test(idempotency, replay_after_the_job_succeeded_returns_it_succeeded)
{
	char *id = submit_keyed("retry-after-done");
	json_t *done = wait_for_status(id, "succeeded", 30000);
	cr_assert_str_eq(json_string_value(json_object_get(done, "status")), "succeeded");
	json_decref(done);

	struct http_reply r = post_keyed("/v1/jobs", "retry-after-done", CSV, strlen(CSV));
	char *status = expect_replay(&r, id);
	cr_assert_str_eq(status, "succeeded");
	free(status);
	http_reply_free(&r);
	cr_assert_eq(redis_count_keys(JOB_HASHES), 1);
	free(id);
}

Test(idempotency, same_key_with_another_csv_or_options_is_422_mismatch)
{
	const char *other = "name,n\nada,1\nbob,3\n";
	char *id = submit_keyed("k1");

	struct http_reply r = post_keyed("/v1/jobs", "k1", other, strlen(other));
	expect_error_code(&r, 422, "idempotency_mismatch");
	json_t *j = http_json(&r);
	cr_assert_str_eq(json_string_value(json_object_get(json_object_get(j, "error"), "job_id")), id);
	json_decref(j);
	http_reply_free(&r);

	r = post_keyed("/v1/jobs?queue=other", "k1", CSV, strlen(CSV));
	expect_error_code(&r, 422, "idempotency_mismatch");
	http_reply_free(&r);
	r = post_keyed("/v1/jobs?header=false", "k1", CSV, strlen(CSV));
	expect_error_code(&r, 422, "idempotency_mismatch");
	http_reply_free(&r);
	r = post_keyed("/v1/jobs?max_attempts=3", "k1", CSV, strlen(CSV));
	expect_error_code(&r, 422, "idempotency_mismatch"); /* given differs from left to the operator */
	http_reply_free(&r);
	r = post_keyed("/v1/jobs?header=true&task=profile", "k1", CSV, strlen(CSV));
	free(expect_replay(&r, id)); /* the defaults, spelt out: the same submission */
	http_reply_free(&r);

	cr_assert_eq(redis_count_keys(JOB_HASHES), 1, "a mismatch stored a job");
	cr_assert_eq(redis_count_keys("jobq:queue:other"), 0);
	free(id);
}

/* form_body writes a multipart body holding CSV as its file part, with
 * boundary b, into out; returns its length. */
static size_t form_body(char *out, size_t cap, const char *b)
{
	return (size_t)snprintf(out, cap,
				"--%s\r\nContent-Disposition: form-data; name=\"file\"; filename=\"a.csv\"\r\n"
				"Content-Type: text/csv\r\n\r\n%s\r\n--%s--\r\n", b, CSV, b);
}

Test(idempotency, the_csv_counts_not_the_form_around_it)
{
	char body[512], type[128];
	const char *headers[] = {"Idempotency-Key: form-1", NULL};
	char *id = submit_keyed("form-1");

	size_t len = form_body(body, sizeof body, "boundary-one");
	snprintf(type, sizeof type, "multipart/form-data; boundary=boundary-one");
	struct http_reply r = http_request("POST", "/v1/jobs", type, body, len, headers);
	free(expect_replay(&r, id));
	http_reply_free(&r);

	len = form_body(body, sizeof body, "another-boundary-2");
	snprintf(type, sizeof type, "multipart/form-data; boundary=another-boundary-2");
	r = http_request("POST", "/v1/jobs", type, body, len, headers);
	free(expect_replay(&r, id));
	http_reply_free(&r);
	cr_assert_eq(redis_count_keys(JOB_HASHES), 1);
	free(id);
}

/* ---- Concurrency ---------------------------------------------------------- */

#define RACERS 6

struct racer {
	const char *csv;
	size_t len;
	pthread_barrier_t *start;
	long status;
	char id[33];
};

static void *race(void *arg)
{
	struct racer *r = arg;
	pthread_barrier_wait(r->start);
	struct http_reply rep = post_keyed("/v1/jobs", "race", r->csv, r->len);
	r->status = rep.status;
	json_t *j = json_loads(rep.body, 0, NULL);
	snprintf(r->id, sizeof r->id, "%s", j ? json_string_value(json_object_get(j, "id")) ?: "" : "");
	json_decref(j);
	http_reply_free(&rep);
	return NULL;
}

Test(idempotency, concurrent_submissions_with_one_key_make_one_job)
{
	size_t len;
	char *csv = harness_csv_rows(40000, &len); /* 640 KB: staged in pieces */
	pthread_barrier_t start;
	pthread_t t[RACERS];
	struct racer racers[RACERS];
	int accepted = 0;

	pthread_barrier_init(&start, NULL, RACERS);
	for (int i = 0; i < RACERS; i++) {
		racers[i] = (struct racer){ csv, len, &start, 0, "" };
		cr_assert_eq(pthread_create(&t[i], NULL, race, &racers[i]), 0);
	}
	for (int i = 0; i < RACERS; i++)
		pthread_join(t[i], NULL);
	pthread_barrier_destroy(&start);
	for (int i = 0; i < RACERS; i++) {
		cr_assert(racers[i].status == 202 || racers[i].status == 200, "racer %d: %ld", i,
			  racers[i].status);
		accepted += racers[i].status == 202;
		cr_assert_str_eq(racers[i].id, racers[0].id, "racer %d got another job", i);
	}
	cr_assert_eq(accepted, 1, "%d submissions were accepted as new jobs", accepted);
	cr_assert_eq(redis_count_keys(JOB_HASHES), 1);
	cr_assert_eq(redis_count_keys("jobq:staging:*"), 0, "a racer's staged upload was left");
	free(csv);
}

/* ---- What does not record the key ---------------------------------------- */

Test(idempotency, a_refused_submission_leaves_the_key_free)
{
	const char *ragged = "a,b\n1,2\n3\n";
	struct http_reply r = post_keyed("/v1/jobs", "free-1", ragged, strlen(ragged));
	expect_error_code(&r, 422, "ragged_record");
	http_reply_free(&r);
	r = post_keyed("/v1/jobs?task=nope", "free-1", CSV, strlen(CSV));
	expect_error_code(&r, 400, "unknown_task");
	http_reply_free(&r);
	cr_assert_eq(redis_count_keys("jobq:idem:*"), 0, "a refused submission recorded its key");

	char *id = submit_keyed("free-1"); /* 202: the key was still free */
	free(id);
}

Test(idempotency, an_upload_failing_midway_leaves_the_key_free)
{
	size_t len;
	char *csv = harness_csv_rows(40000, &len);
	char *bad = malloc(len + 16);
	memcpy(bad, csv, len);
	memcpy(bad + len, "x,y,z\n", 7); /* ragged after 640 KB were staged */

	struct http_reply r = post_keyed("/v1/jobs", "midway", bad, len + 6);
	expect_error_code(&r, 422, "ragged_record");
	http_reply_free(&r);
	cr_assert_eq(redis_count_keys("jobq:idem:*"), 0);
	cr_assert_eq(redis_count_keys("jobq:staging:*"), 0);

	r = post_keyed("/v1/jobs", "midway", csv, len);
	cr_assert_eq(r.status, 202, "%ld: %s", r.status, r.body);
	http_reply_free(&r);
	free(bad);
	free(csv);
}

Test(idempotency, a_key_whose_job_is_gone_makes_a_new_job)
{
	char *first = submit_keyed("gone-1");
	json_t *done = wait_for_status(first, "succeeded", 30000);
	json_decref(done);
	freeReplyObject(redis_cmd("DEL jobq:job:%s", first)); /* as if it had expired */

	struct http_reply r = post_keyed("/v1/jobs", "gone-1", CSV, strlen(CSV));
	cr_assert_eq(r.status, 202, "%ld: %s", r.status, r.body);
	char *second = job_id_of(&r);
	http_reply_free(&r);
	cr_assert_str_neq(second, first);
	char *rec = recorded_job("gone-1");
	cr_assert(rec && strcmp(rec, second) == 0, "the record names %s", rec);
	free(rec);
	free(second);
	free(first);
}

/* ---- The header's syntax ------------------------------------------------- */

Test(idempotency, one_key_of_1_to_128_allowed_characters_only)
{
	char key[130], h[160];
	const char *headers[] = {h, NULL};
	const char *bad[] = {"has space", "slash/no", "star*", NULL};

	memset(key, 'k', 129);
	key[129] = '\0';
	struct http_reply r = post_keyed("/v1/jobs", key, CSV, strlen(CSV));
	expect_error_code(&r, 400, "invalid_idempotency_key");
	http_reply_free(&r);
	for (int i = 0; bad[i]; i++) {
		r = post_keyed("/v1/jobs", bad[i], CSV, strlen(CSV));
		expect_error_code(&r, 400, "invalid_idempotency_key");
		http_reply_free(&r);
	}
	snprintf(h, sizeof h, "Idempotency-Key;"); /* curl: the header, empty */
	r = http_request("POST", "/v1/jobs", "text/csv", CSV, strlen(CSV), headers);
	expect_error_code(&r, 400, "invalid_idempotency_key");
	http_reply_free(&r);
	const char *twice[] = {"Idempotency-Key: a", "Idempotency-Key: b", NULL};
	r = http_request("POST", "/v1/jobs", "text/csv", CSV, strlen(CSV), twice);
	expect_error_code(&r, 400, "invalid_idempotency_key");
	http_reply_free(&r);
	cr_assert_eq(redis_count_keys(JOB_HASHES), 0);

	key[128] = '\0';
	free(submit_keyed(key));
}
