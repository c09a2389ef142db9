/*
 * Integration: failures — every job that got a 202 reaches a terminal
 * state, whatever happens to workers or Redis (issue 3).
 *
 *   a worker frozen past its lease cannot complete the job another worker
 *     took over (fencing): the job completes exactly once;
 *   a worker stopped with SIGTERM gives its job back at once, uncounted;
 *   Redis killed and restarted on its AOF (appendfsync always) in the
 *     middle of a stream of submissions loses no accepted job, answers 503
 *     quickly while it is down, and the workers reconnect by themselves.
 *
 * All with real processes on loopback; tests/chaos.sh does the same at
 * random for longer.
 */
#include <criterion/criterion.h>
#include <curl/curl.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>

#include "harness.h"

/* setup_sleep: the API knows harness_sleep_tasks(), whose jobs take a fixed
 * time however fast the machine is. */
static void setup_sleep(void)
{
	harness_setup_sleep_tasks();
}

/* setup_aof: Redis with AOF (appendfsync always) and two workers whose
 * short lease bounds the wait for a job whose claim reply Redis never sent
 * (the claim was written, Redis died before answering). */
static void setup_aof(void)
{
	harness_setup_aof_with(0);
	const char *args[] = {"--lease", "3s", NULL};
	harness_start_worker(args);
	harness_start_worker(args);
}

/* Each test names its own .init (Criterion runs a suite's .init too). */
TestSuite(failures, .fini = harness_teardown, .timeout = 180);

static const char *str_of(json_t *o, const char *key)
{
	const char *s = json_string_value(json_object_get(o, key));
	return s ? s : "";
}

static long long int_of(json_t *o, const char *key)
{
	return json_integer_value(json_object_get(o, key));
}

/* log_count counts the JSON lines of worker i's log whose msg is msg and
 * whose job_id is id. */
static int log_count(int i, const char *msg, const char *id)
{
	char name[32];
	snprintf(name, sizeof name, "worker%d", i);
	return harness_log_count(name, msg, id);
}

/* wait_log waits up to timeout_ms for worker i to log msg for id. */
static bool wait_log(int i, const char *msg, const char *id, int timeout_ms)
{
	char name[32];
	snprintf(name, sizeof name, "worker%d", i);
	return harness_log_wait_msg(name, msg, id, timeout_ms);
}

/* worker_of returns the job hash's worker field (caller frees). */
static char *worker_of(const char *id)
{
	redisReply *r = redis_cmd("HGET jobq:job:%s worker", id);
	char *w = strdup(r->type == REDIS_REPLY_STRING ? r->str : "");
	freeReplyObject(r);
	return w;
}

Test(failures, a_worker_frozen_past_its_lease_cannot_complete_the_job_it_lost, .init = setup_sleep)
{
	/* sleep3 is still running when the worker is frozen, on any machine. */
	char *id = submit_csv("task=sleep3", "a,b\n1,2\n");
	const char *args[] = {"--lease", "2s", "--concurrency", "1", "--tasks", harness_sleep_tasks(),
			      NULL};
	int first = harness_start_worker(args);
	json_t *job = wait_for_status(id, "running", 10000);
	cr_assert_str_eq(str_of(job, "status"), "running");
	json_decref(job);
	cr_assert_eq(kill(harness.worker_pids[first], SIGSTOP), 0);
	char *frozen = worker_of(id);
	sleep_ms(2500); /* past the lease */

	int second = harness_start_worker(args);
	job = wait_for_status(id, "succeeded", 60000);
	cr_assert_str_eq(str_of(job, "status"), "succeeded");
	cr_assert_eq(int_of(job, "attempts"), 2);
	json_decref(job);
	char *winner = worker_of(id);
	cr_assert_str_neq(winner, frozen, "the result must be the second worker's");

	cr_assert_eq(kill(harness.worker_pids[first], SIGCONT), 0);
	cr_assert(wait_log(first, "lease lost, job abandoned", id, 30000),
		  "the stale worker must find its lease lost");
	cr_assert_eq(log_count(first, "job finished", id), 0, "the stale worker completed it");
	cr_assert_eq(log_count(second, "job finished", id), 1);

	job = wait_for_status(id, "succeeded", 1000);
	cr_assert_str_eq(str_of(job, "status"), "succeeded");
	cr_assert_eq(int_of(job, "attempts"), 2, "the stale worker changed the job");
	json_decref(job);
	char *after = worker_of(id);
	cr_assert_str_eq(after, winner, "the stale worker overwrote the result");
	free(after);
	free(winner);
	free(frozen);
	free(id);
}

Test(failures, a_worker_stopped_mid_job_requeues_it_at_once_uncounted, .init = setup_sleep)
{
	/* sleep3 outlasts the 1 s shutdown grace on any machine. */
	char *id = submit_csv("task=sleep3", "a,b\n1,2\n");
	const char *args[] = {"--lease", "30s", "--shutdown-grace", "1s", "--concurrency", "1",
			      "--tasks", harness_sleep_tasks(), NULL};
	int first = harness_start_worker(args);
	json_t *job = wait_for_status(id, "running", 10000);
	cr_assert_str_eq(str_of(job, "status"), "running");
	cr_assert_eq(int_of(job, "attempts"), 1);
	json_decref(job);

	long long t0 = monotonic_ms();
	int status = harness_stop_worker(first, SIGTERM, 10000);
	cr_assert(status != -1 && WIFEXITED(status) && WEXITSTATUS(status) == 0,
		  "the worker did not exit 0 within 10 s of SIGTERM");
	cr_assert_eq(log_count(first, "job requeued", id), 1);
	job = wait_for_status(id, "queued", 1000);
	cr_assert_str_eq(str_of(job, "status"), "queued");
	cr_assert_eq(int_of(job, "attempts"), 0, "the interrupted attempt must not count");
	json_decref(job);

	int second = harness_start_worker(args);
	job = wait_for_status(id, "succeeded", 60000);
	long long took = monotonic_ms() - t0;
	cr_assert_str_eq(str_of(job, "status"), "succeeded");
	cr_assert_eq(int_of(job, "attempts"), 1);
	cr_assert(json_is_null(json_object_get(job, "error")));
	json_decref(job);
	cr_assert_lt(took, 25000, "finished %lld ms after SIGTERM: it waited for the lease", took);
	cr_assert_eq(log_count(second, "job finished", id), 1);
	free(id);
}

/* ---- Redis killed ------------------------------------------------------ */

#define STREAM_JOBS 300

static size_t collect_body(char *ptr, size_t size, size_t n, void *ud)
{
	struct http_reply *r = ud;
	char *grown = realloc(r->body, r->len + size * n + 1);
	if (!grown)
		return 0;
	r->body = grown;
	memcpy(r->body + r->len, ptr, size * n);
	r->len += size * n;
	r->body[r->len] = '\0';
	return size * n;
}

/* try_submit posts a small CSV with a 5 s bound on the whole request.
 * Returns the HTTP status (0 on a transport error) and sets *id to the new
 * job's id on 202 (caller frees), *took_ms to the request's duration. */
static long try_submit(int n, char **id, long long *took_ms)
{
	char url[128], csv[96];
	snprintf(url, sizeof url, "http://127.0.0.1:%d/v1/jobs", harness.api_port);
	snprintf(csv, sizeof csv, "id,v\n%d,%d\n", n, n * 7);
	struct http_reply r = {0};
	CURL *curl = curl_easy_init();
	cr_assert_not_null(curl);
	struct curl_slist *h = curl_slist_append(NULL, "Content-Type: text/csv");
	curl_easy_setopt(curl, CURLOPT_URL, url);
	curl_easy_setopt(curl, CURLOPT_HTTPHEADER, h);
	curl_easy_setopt(curl, CURLOPT_POSTFIELDS, csv);
	curl_easy_setopt(curl, CURLOPT_WRITEFUNCTION, collect_body);
	curl_easy_setopt(curl, CURLOPT_WRITEDATA, &r);
	curl_easy_setopt(curl, CURLOPT_TIMEOUT_MS, 5000L);
	long long t0 = monotonic_ms();
	CURLcode rc = curl_easy_perform(curl);
	*took_ms = monotonic_ms() - t0;
	if (rc == CURLE_OK)
		curl_easy_getinfo(curl, CURLINFO_RESPONSE_CODE, &r.status);
	*id = NULL;
	if (r.status == 202) {
		json_t *j = http_json(&r);
		*id = strdup(str_of(j, "id"));
		json_decref(j);
	}
	free(r.body);
	curl_slist_free_all(h);
	curl_easy_cleanup(curl);
	return r.status;
}

/* job_status returns the job hash's status (caller frees). */
static char *job_status(const char *id)
{
	redisReply *r = redis_cmd("HGET jobq:job:%s status", id);
	char *s = strdup(r->type == REDIS_REPLY_STRING ? r->str : "(missing)");
	freeReplyObject(r);
	return s;
}

/* count_not_succeeded returns how many of ids are not succeeded yet. */
static int count_not_succeeded(char **ids, int n)
{
	int left = 0;
	for (int i = 0; i < n; i++) {
		char *s = job_status(ids[i]);
		left += strcmp(s, "succeeded") != 0;
		free(s);
	}
	return left;
}

Test(failures, redis_killed_mid_stream_loses_no_accepted_job, .init = setup_aof)
{
	char *ids[STREAM_JOBS];
	int accepted = 0, refused = 0;
	long long killed_at = 0, slowest = 0;
	bool restarted = false;

	for (int n = 0; n < STREAM_JOBS; n++) {
		if (n == STREAM_JOBS / 2) {
			harness_kill_redis();
			killed_at = monotonic_ms();
		}
		if (killed_at && !restarted && monotonic_ms() - killed_at > 1000) {
			harness_restart_redis();
			restarted = true;
		}
		char *id;
		long long took;
		long st = try_submit(n, &id, &took);
		cr_assert(st == 202 || st == 503, "submission %d answered %ld", n, st);
		cr_assert_lt(took, 5000, "submission %d took %lld ms", n, took);
		slowest = took > slowest ? took : slowest;
		if (st == 202)
			ids[accepted++] = id;
		else
			refused++;
		if (killed_at && !restarted)
			sleep_ms(20); /* the outage lasts about a second either way */
	}
	if (!restarted)
		harness_restart_redis();
	cr_assert_gt(refused, 0, "no submission met the outage");
	cr_assert_lt(slowest, 5000);

	long long end = monotonic_ms() + 60000;
	int left;
	while ((left = count_not_succeeded(ids, accepted)) > 0 && monotonic_ms() < end)
		sleep_ms(200);
	for (int i = 0; i < accepted && left > 0; i++) {
		char *s = job_status(ids[i]);
		if (strcmp(s, "succeeded") != 0)
			cr_log_error("accepted job %s is %s", ids[i], s);
		free(s);
	}
	cr_assert_eq(left, 0, "%d of %d accepted jobs did not succeed (%d refused)", left,
		     accepted, refused);
	int reexecuted = 0;
	for (int i = 0; i < accepted; i++) {
		redisReply *r = redis_cmd("HGET jobq:job:%s attempts", ids[i]);
		reexecuted += r->type == REDIS_REPLY_STRING && atoi(r->str) > 1;
		freeReplyObject(r);
	}
	cr_log_info("%d accepted, %d refused with 503 (slowest %lld ms), %d run more than once",
		    accepted, refused, slowest, reexecuted);
	for (int i = 0; i < accepted; i++)
		free(ids[i]);
}
