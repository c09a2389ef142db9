/*
 * Integration: GET /metrics. After jobs are submitted (some refused), run
 * by a worker, failed for good and cancelled, the page parses with
 * Prometheus's own parser (tests/check_metrics.py) and its figures are
 * what was done: HTTP counts, submissions and rejections by code, upload
 * bytes, queue depths, and jobs ended by task and status with their run
 * times. With Redis gone the page is still served, without the cluster-wide
 * figures.
 */
#include <criterion/criterion.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#include "harness.h"
#include "job_store.h"

/* The checker needs python3-prometheus-client, a Debian package: it is
 * the system's python3, whatever else PATH may put first. */
#define METRICS_PYTHON "/usr/bin/python3"

static void setup(void)
{
	memset(&harness, 0, sizeof harness);
	harness_start_redis();
	harness_start_api(NULL);
}

/* setup_fragile starts an API whose breaker opens at the first Redis
 * failure. */
static void setup_fragile(void)
{
	const char *args[] = {"--redis-timeout", "500ms", "--breaker-threshold", "1", NULL};

	memset(&harness, 0, sizeof harness);
	harness_start_redis();
	harness_start_api(args);
}

TestSuite(metrics, .fini = harness_teardown, .timeout = 60);

/* fetch_metrics GETs /metrics, checks its status and media type, and
 * writes the page to a file of the test directory, whose path it returns
 * (static storage). */
static const char *fetch_metrics(void)
{
	static char path[320];
	struct http_reply r = http_get("/metrics");
	char *type = http_header(&r, "Content-Type");

	cr_assert_eq(r.status, 200, "GET /metrics: %ld %s", r.status, r.body);
	cr_assert(type != NULL && strcmp(type, "text/plain; version=0.0.4; charset=utf-8") == 0,
		  "Content-Type %s", type);
	free(type);
	snprintf(path, sizeof path, "%s/metrics.txt", harness.dir);
	FILE *f = fopen(path, "w");
	cr_assert_not_null(f);
	cr_assert_eq(fwrite(r.body, 1, r.len, f), r.len);
	fclose(f);
	http_reply_free(&r);
	return path;
}

/* run_check runs tests/check_metrics.py on the page with the expected
 * samples (NULL-terminated); redis_down: the cluster-wide families must be
 * absent. Returns true when it passes. */
static bool run_check(const char *page, bool redis_down, const char *const *expect)
{
	const char *argv[32] = {METRICS_PYTHON, "tests/check_metrics.py"};
	size_t n = 2;
	int status = 0;

	if (redis_down)
		argv[n++] = "--redis-down";
	argv[n++] = page;
	for (; *expect != NULL && n < 31; expect++)
		argv[n++] = *expect;
	argv[n] = NULL;
	pid_t pid = fork();
	cr_assert(pid >= 0);
	if (pid == 0) {
		execv(argv[0], (char *const *)argv);
		_exit(127);
	}
	cr_assert_eq(waitpid(pid, &status, 0), pid);
	cr_assert(WIFEXITED(status) && WEXITSTATUS(status) <= 1, "check_metrics.py did not run");
	return WEXITSTATUS(status) == 0;
}

/* check_page fetches /metrics until run_check passes, for at most 5 s: a
 * request is counted when libmicrohttpd reports it complete, which may be
 * just after its client has read the reply. */
static void check_page(bool redis_down, const char *const *expect)
{
	long long end = monotonic_ms() + 5000;

	while (!run_check(fetch_metrics(), redis_down, expect)) {
		cr_assert(monotonic_ms() < end, "check_metrics.py failed; see its lines above");
		sleep_ms(100);
	}
}

/* test_store opens a store of the test's own, to play a worker. */
static struct job_store *test_store(void)
{
	struct job_store_config cfg = {.url = harness.redis_url, .prefix = "jobq", .timeout_ms = 2000};
	struct job_store *st = job_store_open(&cfg, NULL);

	cr_assert_not_null(st);
	return st;
}

/* fail_one_for_good plays a worker on queue "manual": claims its one job
 * and fails it with no retry, so that it ends "failed" through fail.lua. */
static void fail_one_for_good(void)
{
	struct job_store *st = test_store();
	const char *queues[] = {"manual"};
	struct job_claim c;

	cr_assert_eq(job_store_claim(st, "test:1:abc", queues, 1, 30000, &c, 1), 1);
	cr_assert_eq(job_store_fail(st, &c, "boom", "it broke", 0, 0, -1, 3600, NULL), JOB_STORE_OK);
	job_store_close(st);
}

/* post_expect posts csv with the query and asserts the status. */
static void post_expect(const char *path, const char *csv, long want)
{
	struct http_reply r = http_post_csv(path, csv);
	cr_assert_eq(r.status, want, "POST %s: %ld %s", path, r.status, r.body);
	http_reply_free(&r);
}

/* delete_job cancels id and asserts 200. */
static void delete_job(const char *id)
{
	char path[128];
	snprintf(path, sizeof path, "/v1/jobs/%s", id);
	struct http_reply r = http_request("DELETE", path, NULL, NULL, 0, NULL);
	cr_assert_eq(r.status, 200, "DELETE: %ld %s", r.status, r.body);
	http_reply_free(&r);
}

Test(metrics, the_page_parses_and_counts_what_was_done, .init = setup)
{
	char *ids[3];
	for (int i = 0; i < 3; i++)
		ids[i] = submit_csv(NULL, "a,b\n1,2\n");              /* 8 bytes each */
	char *parked = submit_csv("queue=parked", "a\n1\n");      /* 4 bytes */
	char *doomed = submit_csv("queue=manual", "a\n1\n");      /* 4 bytes */
	post_expect("/v1/jobs", "a,b\n1,2,3\n", 422);             /* 10 bytes, ragged_record */
	post_expect("/v1/jobs?task=nope", "a\n1\n", 400);         /* unknown_task: no body read */
	post_expect("/v1/jobs?queue=bad%20name", "a\n1\n", 400);  /* invalid_queue */
	delete_job(parked);
	fail_one_for_good();
	harness_start_worker(NULL);
	for (int i = 0; i < 3; i++) {
		json_t *j = wait_for_status(ids[i], "succeeded", 20000);
		cr_assert_str_eq(json_string_value(json_object_get(j, "status")), "succeeded");
		json_decref(j);
		free(ids[i]);
	}
	struct http_reply nf = http_get("/no/such/path");
	http_reply_free(&nf);

	const char *expect[] = {
		"jobq_jobs_submitted_total{queue=\"default\",task=\"profile\"}=3",
		"jobq_jobs_submitted_total{queue=\"parked\",task=\"profile\"}=1",
		"jobq_jobs_rejected_total{reason=\"ragged_record\"}=1",
		"jobq_jobs_rejected_total{reason=\"unknown_task\"}=1",
		"jobq_jobs_rejected_total{reason=\"invalid_queue\"}=1",
		"jobq_http_requests_total{route=\"/v1/jobs\",method=\"POST\",code=\"202\"}=5",
		"jobq_http_requests_total{route=\"/v1/jobs\",method=\"POST\",code=\"400\"}=2",
		"jobq_http_requests_total{route=\"/v1/jobs/{id}\",method=\"DELETE\",code=\"200\"}=1",
		"jobq_http_requests_total{route=\"unmatched\",method=\"GET\",code=\"404\"}=1",
		"jobq_http_request_duration_seconds_count{route=\"/v1/jobs\"}=8",
		"jobq_upload_bytes_total=42",
		"jobq_jobs_finished_total{task=\"profile\",status=\"succeeded\"}=3",
		"jobq_jobs_finished_total{task=\"profile\",status=\"cancelled\"}=1",
		"jobq_jobs_finished_total{task=\"profile\",status=\"failed\"}=1",
		"jobq_job_duration_seconds_count{task=\"profile\"}=4",
		"jobq_queue_jobs{queue=\"default\",state=\"queued\"}=0",
		"jobq_queue_jobs{queue=\"manual\",state=\"dead\"}=1",
		"jobq_jobs_running=0",
		"jobq_redis_circuit_open=0",
		"jobq_redis_scrape_ok=1",
		"jobq_redis_errors_total=0",
		NULL,
	};
	check_page(false, expect);
	free(parked);
	free(doomed);
}

Test(metrics, with_redis_gone_the_page_is_served_without_the_cluster_figures, .init = setup)
{
	free(submit_csv(NULL, "a\n1\n"));
	harness_kill_redis();
	const char *expect[] = {
		"jobq_jobs_submitted_total{queue=\"default\",task=\"profile\"}=1",
		"jobq_redis_scrape_ok=0",
		"jobq_redis_errors_total=>=1", /* each scrape that fails to read Redis counts */
		NULL,
	};
	check_page(true, expect);
}

Test(metrics, a_job_whose_last_lease_expires_counts_as_failed, .init = setup)
{
	struct job_store *st = test_store();
	const char *queues[] = {"default"};
	struct job_claim c;
	char *id = submit_csv("max_attempts=1", "a\n1\n");

	cr_assert_eq(job_store_claim(st, "test:1:abc", queues, 1, 1, &c, 1), 1);
	sleep_ms(20);
	/* The next claim reaps the expired lease: the last attempt, so failed. */
	cr_assert_eq(job_store_claim(st, "reaper", queues, 1, 30000, &c, 1), 0);
	job_store_close(st);
	json_t *job = wait_for_status(id, "failed", 5000);
	cr_assert_str_eq(json_string_value(json_object_get(job, "status")), "failed");
	json_decref(job);
	free(id);
	const char *expect[] = {
		"jobq_jobs_finished_total{task=\"profile\",status=\"failed\"}=1",
		"jobq_queue_jobs{queue=\"default\",state=\"dead\"}=1",
		NULL,
	};
	check_page(false, expect);
}

Test(metrics, an_open_breaker_shows_and_refusals_count_as_unavailable, .init = setup_fragile)
{
	harness_kill_redis();
	post_expect("/v1/jobs", "a\n1\n", 503);  /* Redis fails: the breaker opens */
	/* Refused by the open breaker, or (its cooldown is jittered from 0) the
	 * half-open probe, which fails and opens it again. */
	post_expect("/v1/jobs", "a\n1\n", 503);
	const char *expect[] = {
		"jobq_redis_circuit_open=1",
		"jobq_redis_scrape_ok=0",
		"jobq_redis_errors_total=>=1",
		"jobq_jobs_rejected_total{reason=\"unavailable\"}=2",
		"jobq_http_requests_total{route=\"/v1/jobs\",method=\"POST\",code=\"503\"}=2",
		NULL,
	};
	check_page(true, expect);
}
