/*
 * Integration: inputs kept in pieces of 4 MiB (data layout 3). An upload
 * of several pieces runs byte for byte (an external `cat` gives it back
 * whole), the pieces are where the key schema says with the job's TTL once
 * it ends, a cancel (queued, running, or reaped after its worker died), a
 * failure for good (or a lease that ran out) gives every piece the TTL and
 * a retry takes it away, an upload cut off or refused leaves no piece,
 * and a job of layout 2 (its input one key) written by hand is still run
 * and expired.
 */
#include <criterion/criterion.h>
#include <curl/curl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "harness.h"
#include "job.h"
#include "job_store.h"

#define RESULT_TTL_S 3600
#define PIECE ((size_t)JOB_INPUT_PIECE)

static struct job_store *st; /* the test's own store, to play a worker */
static char tasks_path[320];

/* write_tasks writes a tasks file with "cat", which gives its input back
 * as its result, byte for byte. */
static const char *write_tasks(void)
{
	snprintf(tasks_path, sizeof tasks_path, "%s/cat-tasks.json", harness.dir);
	FILE *f = fopen(tasks_path, "w");
	cr_assert_not_null(f);
	fputs("{\"cat\":{\"argv\":[\"/bin/cat\"],\"env\":{\"PATH\":\"/usr/bin:/bin\"},"
	      "\"result_type\":\"text/csv\"}}", f);
	cr_assert_eq(fclose(f), 0);
	return tasks_path;
}

static void setup(void)
{
	memset(&harness, 0, sizeof harness);
	curl_global_init(CURL_GLOBAL_DEFAULT);
	harness_start_redis();
	const char *const api_args[] = {"--result-ttl", "1h", "--tasks", write_tasks(), NULL};
	harness_start_api(api_args);
	struct job_store_config cfg = {.url = harness.redis_url, .prefix = "jobq", .timeout_ms = 5000,
				       .result_ttl_s = RESULT_TTL_S};
	st = job_store_open(&cfg, NULL);
	cr_assert_not_null(st);
}

static void teardown(void)
{
	job_store_close(st);
	harness_teardown();
}

TestSuite(pieces, .init = setup, .fini = teardown, .timeout = 120);

static void start_worker(void)
{
	const char *const args[] = {"--tasks", tasks_path, "--result-ttl", "1h", NULL};
	harness_start_worker(args);
}

/* csv_of makes a CSV of exactly len bytes: lines of 16 bytes, a header
 * "v" first and a last line cut to fit (len >= 32). Caller frees. */
static char *csv_of(size_t len)
{
	char *s = malloc(len + 1);
	cr_assert_not_null(s);
	for (size_t i = 0; i < len; i += 16) {
		char line[32];
		snprintf(line, sizeof line, i == 0 ? "vvvvvvvvvvvvvvv\n" : "%015zu\n", i / 16);
		memcpy(s + i, line, len - i < 16 ? len - i : 16);
	}
	s[len - 1] = '\n';
	s[len] = '\0';
	return s;
}

/* assert_pieces checks that job id's input is its pieces, each holding
 * what it should of len bytes, with ttl_min..ttl_max as TTL (-1: none),
 * and nothing past them. */
static void assert_pieces(const char *id, size_t len, long long ttl_min, long long ttl_max)
{
	char key[128];
	size_t n = (len + PIECE - 1) / PIECE;

	snprintf(key, sizeof key, "jobq:job:%s", id);
	redisReply *r = redis_cmd("HMGET %s input_key input_pieces input", key);
	cr_assert_str_eq(r->element[0]->str, "1");
	cr_assert_eq(strtoull(r->element[1]->str, NULL, 10), n, "input_pieces %s", r->element[1]->str);
	cr_assert_eq(r->element[2]->type, REDIS_REPLY_NIL, "the input is in the hash too");
	freeReplyObject(r);
	for (size_t i = 0; i <= n; i++) {
		size_t want = i == n ? 0 : (i + 1 < n ? PIECE : len - i * PIECE);
		snprintf(key, sizeof key, "jobq:job:%s:input:%zu", id, i);
		cr_assert_eq(redis_integer("STRLEN %s", key), (long long)want, "%s", key);
		if (i == n)
			break;
		long long ttl = redis_integer("TTL %s", key);
		cr_assert(ttl >= ttl_min && ttl <= ttl_max, "%s: TTL %lld", key, ttl);
	}
	cr_assert_eq(redis_integer("EXISTS jobq:job:%s:input", id), 0, "a one-key input too");
	cr_assert_eq(redis_count_keys("jobq:staging:*"), 0, "a staging piece was left");
}

/* submit_len posts a CSV of len bytes to task and returns the job id and,
 * in *csv, the CSV (caller frees both). */
static char *submit_len(const char *task, size_t len, char **csv)
{
	char query[64];
	*csv = csv_of(len);
	snprintf(query, sizeof query, "task=%s", task);
	return submit_csv(query, *csv);
}

/* run_cat submits len bytes to cat, checks the pieces, runs the job and
 * checks that its result is the input byte for byte and that every piece
 * then has the job's TTL. */
static void run_cat(size_t len)
{
	char *csv, path[128];
	char *id = submit_len("cat", len, &csv);

	assert_pieces(id, len, -1, -1);
	start_worker();
	json_decref(wait_for_status(id, "succeeded", 60000));
	snprintf(path, sizeof path, "/v1/jobs/%s/result", id);
	struct http_reply r = http_get(path);
	cr_assert_eq(r.status, 200, "result answered %ld", r.status);
	cr_assert_eq(r.len, len, "the result has %zu bytes, the input %zu", r.len, len);
	cr_assert(memcmp(r.body, csv, len) == 0, "the result is not the input");
	http_reply_free(&r);
	assert_pieces(id, len, 1, RESULT_TTL_S);
	free(id), free(csv);
}

Test(pieces, an_upload_of_three_pieces_the_last_short_runs_byte_for_byte_and_each_expires)
{
	run_cat(2 * PIECE + PIECE / 4 + 37);
}

Test(pieces, an_upload_of_exactly_two_pieces_makes_no_third)
{
	run_cat(2 * PIECE);
}

Test(pieces, a_profile_of_several_pieces_counts_every_row)
{
	char *csv;
	size_t len = 2 * PIECE + 16 * 5;
	char *id = submit_len("profile", len, &csv);
	start_worker();
	json_t *job = wait_for_status(id, "succeeded", 60000);
	json_t *progress = json_object_get(job, "progress");
	cr_assert_eq(json_integer_value(json_object_get(job, "rows")), (json_int_t)(len / 16 - 1));
	cr_assert_eq(json_integer_value(json_object_get(progress, "bytes")), (json_int_t)len);
	json_decref(job);
	free(id), free(csv);
}

/* job_request sends method to /v1/jobs/{id}{suffix} without a body and
 * checks its status code. */
static void job_request(const char *method, const char *id, const char *suffix, long want)
{
	char path[128];
	snprintf(path, sizeof path, "/v1/jobs/%s%s", id, suffix);
	struct http_reply r = http_request(method, path, NULL, NULL, 0, NULL);
	cr_assert_eq(r.status, want, "%s %s answered %ld: %s", method, path, r.status, r.body);
	http_reply_free(&r);
}

static void cancel(const char *id, long want)
{
	job_request("DELETE", id, "", want);
}

Test(pieces, a_queued_job_cancelled_gives_every_piece_the_ttl)
{
	char *csv;
	size_t len = 2 * PIECE + 100;
	char *id = submit_len("profile", len, &csv);
	cancel(id, 200);
	assert_pieces(id, len, 1, RESULT_TTL_S);
	free(id), free(csv);
}

/* claim_it claims the one queued job with the test's store, a lease of
 * lease_ms. */
static struct job_claim claim_it(int lease_ms)
{
	const char *queues[] = {"default"};
	struct job_claim c;
	cr_assert_eq(job_store_claim(st, "test:1:abc", queues, 1, lease_ms, &c, 1), 1,
		     "%s", job_store_errstr(st));
	return c;
}

Test(pieces, a_running_job_cancelled_gives_every_piece_the_ttl_when_it_ends)
{
	char *csv;
	size_t len = 2 * PIECE + 100;
	char *id = submit_len("profile", len, &csv);
	struct job_claim c = claim_it(30000);
	cr_assert_str_eq(c.id, id);
	cancel(id, 202);
	assert_pieces(id, len, -1, -1);
	cr_assert_eq(job_store_finish(st, &c, JOB_CANCELLED, NULL, "cancelled", "stopped", 0, 0,
				      RESULT_TTL_S), JOB_STORE_OK, "%s", job_store_errstr(st));
	json_decref(wait_for_status(id, "cancelled", 5000));
	assert_pieces(id, len, 1, RESULT_TTL_S);
	free(id), free(csv);
}

/* reaped claims a job of PIECE + 100 bytes submitted with query under a
 * lease of 200 ms (cancelling it when cancelled), lets the lease run out,
 * and checks that the next claim's reaper ends it in status end and gives
 * every piece the TTL. */
static void reaped(const char *query, bool cancelled, const char *end)
{
	char *csv;
	size_t len = PIECE + 100;
	char *id = submit_len(query, len, &csv);
	struct job_claim c = claim_it(200), none;
	const char *queues[] = {"default"};

	cr_assert_str_eq(c.id, id);
	if (cancelled)
		cancel(id, 202);
	sleep_ms(400);
	cr_assert_eq(job_store_claim(st, "test:2:abc", queues, 1, 30000, &none, 1), 0);
	json_decref(wait_for_status(id, end, 5000));
	assert_pieces(id, len, 1, RESULT_TTL_S);
	free(id), free(csv);
}

/* A worker that dies with a job whose cancel was asked: the next claim's
 * reaper ends it cancelled. */
Test(pieces, a_cancelled_job_whose_worker_died_gives_every_piece_the_ttl)
{
	reaped("profile", true, "cancelled");
}

/* A job that fails for good gives every piece the TTL (fail.lua); a retry
 * takes it away from every one; once one piece is gone a retry is 410. */
Test(pieces, a_failed_job_s_pieces_expire_and_a_retry_keeps_them_all)
{
	char *csv;
	size_t len = 2 * PIECE + 100;
	char *id = submit_len("profile", len, &csv);
	struct job_claim c = claim_it(30000);
	bool scheduled = true;
	cr_assert_eq(job_store_fail(st, &c, "boom", "it broke", 0, 0, -1, RESULT_TTL_S, &scheduled),
		     JOB_STORE_OK, "%s", job_store_errstr(st));
	cr_assert_not(scheduled);
	assert_pieces(id, len, 1, RESULT_TTL_S);
	job_request("POST", id, "/retry", 202);
	assert_pieces(id, len, -1, -1);
	c = claim_it(30000);
	cr_assert_eq(job_store_fail(st, &c, "boom", "it broke", 0, 0, -1, RESULT_TTL_S, &scheduled),
		     JOB_STORE_OK, "%s", job_store_errstr(st));
	freeReplyObject(redis_cmd("DEL jobq:job:%s:input:1", id));
	job_request("POST", id, "/retry", 410);
	free(id), free(csv);
}

/* A job whose lease ran out on its last attempt is failed for good by the
 * next claim's reaper. */
Test(pieces, a_job_reaped_for_good_gives_every_piece_the_ttl)
{
	reaped("profile&max_attempts=1", false, "failed");
}

Test(pieces, an_upload_cut_off_after_two_pieces_leaves_no_piece)
{
	size_t len = 3 * PIECE;
	char *csv = csv_of(len);
	int fd = raw_connect();
	raw_csv_head(fd, len);
	raw_send(fd, csv, PIECE + PIECE / 2);
	long long end = monotonic_ms() + 10000;
	while (redis_count_keys("jobq:staging:*") < 2 && monotonic_ms() < end)
		sleep_ms(20);
	cr_assert_eq(redis_count_keys("jobq:staging:*"), 2, "the upload never staged two pieces");
	/* As lifecycle's cut upload does: the API reads what is left of the
	 * bytes sent before it sees the hang-up. */
	sleep_ms(300);
	close(fd);
	end = monotonic_ms() + 10000;
	while (redis_count_keys("jobq:staging:*") > 0 && monotonic_ms() < end)
		sleep_ms(20);
	cr_assert_eq(redis_count_keys("jobq:staging:*"), 0, "a cut upload left a piece");
	cr_assert_eq(redis_count_keys("jobq:job:*"), 0, "a cut upload became a job");
	free(csv);
}

/* Two uploads with one Idempotency-Key: the second one starts first (the
 * key names no job yet, so it stages), the first ends first; the second,
 * a replay, leaves none of its pieces. */
Test(pieces, a_staged_replay_leaves_no_piece)
{
	size_t len = 2 * PIECE + 100;
	char *csv = csv_of(len);
	char head[256];
	int fd = raw_connect();
	int n = snprintf(head, sizeof head,
			 "POST /v1/jobs HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Type: text/csv\r\n"
			 "Idempotency-Key: twice\r\nContent-Length: %zu\r\n\r\n", len);
	raw_send(fd, head, (size_t)n);
	raw_send(fd, csv, PIECE + PIECE / 2);
	long long end = monotonic_ms() + 10000;
	while (redis_count_keys("jobq:staging:*") < 2 && monotonic_ms() < end)
		sleep_ms(20);
	cr_assert_eq(redis_count_keys("jobq:staging:*"), 2, "the upload never staged two pieces");

	const char *headers[] = {"Idempotency-Key: twice", NULL};
	struct http_reply first = http_request("POST", "/v1/jobs", "text/csv", csv, len, headers);
	cr_assert_eq(first.status, 202, "%s", first.body);
	http_reply_free(&first);
	raw_send(fd, csv + PIECE + PIECE / 2, len - PIECE - PIECE / 2);
	cr_assert_eq(raw_read_reply(fd, 10000), 200, "the second upload was not a replay");
	close(fd);
	cr_assert_eq(redis_count_keys("jobq:staging:*"), 0, "the replay left a piece");
	cr_assert_eq(redis_count_keys("jobq:job:*:input:*"), 3, "the job's pieces");
	free(csv);
}

/* A job of data layout 2, written by hand as a v2 jobq-api wrote it: its
 * input one key, input_key = 1, no input_pieces. A v3 worker runs it (two
 * reads of 1 MiB fall past the first piece's size) and expires the key. */
Test(pieces, a_job_of_layout_2_is_run_and_its_input_key_expires)
{
	const char *id = "0123456789abcdef0123456789abcdef";
	size_t len = PIECE + 3 * 1024 * 1024 + 48;
	char *csv = csv_of(len);
	char key[128], bytes[24], now[24];

	snprintf(key, sizeof key, "jobq:job:%s:input", id);
	freeReplyObject(redis_cmd("SET %s %b", key, csv, len));
	snprintf(bytes, sizeof bytes, "%zu", len);
	snprintf(now, sizeof now, "%lld", (long long)job_now_ms());
	freeReplyObject(redis_cmd("HSET jobq:job:%s status queued id %s task cat queue default "
				  "request_id r header 1 rows 1 columns 1 bytes %s created_at %s "
				  "max_attempts 1 timeout 0 input_key 1",
				  id, id, bytes, now));
	freeReplyObject(redis_cmd("LPUSH jobq:queue:default %s", id));
	start_worker();
	json_decref(wait_for_status(id, "succeeded", 60000));
	char path[128];
	snprintf(path, sizeof path, "/v1/jobs/%s/result", id);
	struct http_reply r = http_get(path);
	cr_assert_eq(r.len, len, "the result has %zu bytes, the input %zu", r.len, len);
	cr_assert(memcmp(r.body, csv, len) == 0, "the result is not the input");
	http_reply_free(&r);
	long long ttl = redis_integer("TTL %s", key);
	cr_assert(ttl > 0 && ttl <= RESULT_TTL_S, "the one key's TTL is %lld", ttl);
	free(csv);
}

/* A retry checks every piece is there; an input of more pieces than Lua
 * unpacks at once (8000: over 31 GiB) is checked too, not an error, the
 * last slice of keys as well as the first, and a whole one is kept. */
Test(pieces, a_retry_of_a_job_of_9000_pieces_checks_them_all)
{
	const char *id = "fedcba9876543210fedcba9876543210";
	char now[24], input[80];
	redisReply *r;

	snprintf(now, sizeof now, "%lld", (long long)job_now_ms());
	freeReplyObject(redis_cmd("HSET jobq:job:%s status failed id %s task cat queue default "
				  "request_id r header 1 rows 1 columns 1 bytes 37748736000 "
				  "created_at %s finished_at %s max_attempts 1 timeout 0 "
				  "input_key 1 input_pieces 9000 attempts 1 token 1",
				  id, id, now, now));
	snprintf(input, sizeof input, "jobq:job:%s:input", id);
	/* Every piece but the last, each with a TTL as a failed job's has. */
	freeReplyObject(redis_cmd("EVAL %s 1 %s", "for i = 0, 8998 do redis.call('SET', "
				  "KEYS[1] .. ':' .. i, 'a', 'EX', 3600) end", input));
	job_request("POST", id, "/retry", 410);
	freeReplyObject(redis_cmd("SET %s:8999 a EX 3600", input));
	job_request("POST", id, "/retry", 202);
	r = redis_cmd("TTL %s:8999", input);
	cr_assert_eq(r->integer, -1, "the last piece kept its TTL: %lld", r->integer);
	freeReplyObject(r);
	r = redis_cmd("TTL %s:0", input);
	cr_assert_eq(r->integer, -1, "the first piece kept its TTL: %lld", r->integer);
	freeReplyObject(r);
}

/* A large input's pieces do not all expire in the same second: past the
 * first 16, each 16 a second later, so that Redis's expire cycle never
 * frees a whole large input in one pass (README, Performance). */
Test(pieces, the_pieces_of_a_large_input_expire_16_a_second)
{
	const char *id = "00112233445566778899aabbccddeeff";
	char now[24];
	long long first;

	snprintf(now, sizeof now, "%lld", (long long)job_now_ms());
	freeReplyObject(redis_cmd("HSET jobq:job:%s status queued id %s task profile queue default "
				  "request_id r header 1 rows 1 columns 1 bytes 80 created_at %s "
				  "max_attempts 1 timeout 0 input_key 1 input_pieces 40",
				  id, id, now));
	for (int i = 0; i < 40; i++)
		freeReplyObject(redis_cmd("SET jobq:job:%s:input:%d a\n", id, i));
	freeReplyObject(redis_cmd("LPUSH jobq:queue:default %s", id));
	cancel(id, 200);
	redisReply *r = redis_cmd("PTTL jobq:job:%s:input:0", id);
	first = r->integer;
	freeReplyObject(r);
	cr_assert(first > 0 && first <= RESULT_TTL_S * 1000LL, "piece 0's PTTL is %lld", first);
	for (int i = 1; i < 40; i++) {
		r = redis_cmd("PTTL jobq:job:%s:input:%d", id, i);
		long long later = r->integer - first, want = (i / 16) * 1000LL;
		freeReplyObject(r);
		cr_assert(later > want - 500 && later < want + 500,
			  "piece %d ends %lld ms after piece 0, not about %lld", i, later, want);
	}
}

/* A discarded upload's staging pieces go in one round trip: the first 16
 * at once, the others by a TTL ending 16 of them a second, so that no
 * command or expire pass frees a whole large upload at once. */
Test(pieces, a_discarded_upload_frees_16_pieces_at_once_and_the_rest_by_ttl)
{
	const char *id = "99887766554433221100ffeeddccbbaa";
	redisReply *r;

	for (int i = 0; i < 40; i++)
		freeReplyObject(redis_cmd("SET jobq:staging:%s:%d a EX 3600", id, i));
	cr_assert_eq(job_store_discard_staging(st, id, 40), JOB_STORE_OK);
	for (int i = 0; i < 40; i++) {
		r = redis_cmd("PTTL jobq:staging:%s:%d", id, i);
		long long want = (i / 16) * 1000LL;
		if (i < 16)
			cr_assert_eq(r->integer, -2, "piece %d is still there", i);
		else
			cr_assert(r->integer > want - 500 && r->integer <= want,
				  "piece %d: PTTL %lld, not about %lld", i, r->integer, want);
		freeReplyObject(r);
	}
}
