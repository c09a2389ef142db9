/*
 * Integration: the API's circuit breaker. A hung Redis (SIGSTOP) costs a
 * request at most the Redis timeout until the breaker opens; then requests
 * get 503 unavailable at once, without touching Redis; once Redis answers
 * again (SIGCONT) the API recovers by itself, without a restart.
 */
#include <criterion/criterion.h>
#include <signal.h>
#include <stdlib.h>
#include <string.h>

#include "harness.h"

/* The Redis timeout and threshold the API runs with here. */
#define BREAKER_TEST_TIMEOUT_MS 500
#define BREAKER_TEST_THRESHOLD 3

static void setup(void)
{
	memset(&harness, 0, sizeof harness);
	harness_start_redis();
	const char *args[] = {"--redis-timeout", "500ms", "--breaker-threshold", "3",
			      "--threads", "2", NULL};
	harness_start_api(args);
}

/* teardown wakes a Redis the test left stopped, so that it can be stopped. */
static void teardown(void)
{
	if (harness.redis_pid > 0)
		kill(harness.redis_pid, SIGCONT);
	harness_teardown();
}

TestSuite(breaker, .init = setup, .fini = teardown, .timeout = 90);

/* expect_unavailable checks that r is 503 unavailable with a Retry-After
 * of at least one second. */
static void expect_unavailable(struct http_reply *r)
{
	cr_assert_eq(r->status, 503, "want 503, got %ld: %s", r->status, r->body);
	json_t *body = http_json(r);
	const char *code = json_string_value(json_object_get(json_object_get(body, "error"), "code"));
	cr_assert(code != NULL && strcmp(code, "unavailable") == 0, "code %s", code);
	json_decref(body);
	char *retry = http_header(r, "Retry-After");
	cr_assert(retry != NULL && atoi(retry) >= 1, "Retry-After %s", retry);
	free(retry);
}

/* timed_post submits a small CSV; *ms gets how long the reply took. */
static struct http_reply timed_post(long long *ms)
{
	long long t0 = monotonic_ms();
	struct http_reply r = http_post_csv("/v1/jobs", "a\n1\n");
	*ms = monotonic_ms() - t0;
	return r;
}

Test(breaker, a_hung_redis_costs_the_timeout_then_the_breaker_answers_at_once_then_recovers)
{
	long long ms;
	struct http_reply r = timed_post(&ms);
	cr_assert_eq(r.status, 202, "%s", r.body);
	http_reply_free(&r);

	cr_assert_eq(kill(harness.redis_pid, SIGSTOP), 0);
	for (int i = 0; i < BREAKER_TEST_THRESHOLD; i++) {
		r = timed_post(&ms);
		expect_unavailable(&r);
		http_reply_free(&r);
		cr_log_info("while closed: POST %d answered 503 in %lld ms", i + 1, ms);
		cr_assert_lt(ms, 3 * BREAKER_TEST_TIMEOUT_MS, "POST %d took %lld ms", i + 1, ms);
	}
	/* Open: at most the odd request is the half-open probe (the cooldown
	 * has full jitter, so it may be short); the others are answered at
	 * once. */
	int fast = 0;
	for (int i = 0; i < 8; i++) {
		r = timed_post(&ms);
		expect_unavailable(&r);
		http_reply_free(&r);
		fast += ms < 100;
		cr_log_info("while open: POST answered 503 in %lld ms", ms);
	}
	cr_assert_geq(fast, 6, "only %d of 8 requests were answered in under 100 ms", fast);
	r = http_get("/healthz");
	cr_assert_eq(r.status, 200, "/healthz must not depend on Redis");
	http_reply_free(&r);

	cr_assert_eq(kill(harness.redis_pid, SIGCONT), 0);
	long long t0 = monotonic_ms(), ready_ms = -1;
	while (monotonic_ms() - t0 < 20000) {
		r = http_get("/readyz");
		long status = r.status;
		http_reply_free(&r);
		if (status == 200) {
			ready_ms = monotonic_ms() - t0;
			break;
		}
		sleep_ms(100);
	}
	cr_log_info("ready again %lld ms after SIGCONT", ready_ms);
	cr_assert_geq(ready_ms, 0, "/readyz did not recover within 20 s of SIGCONT");
	r = timed_post(&ms);
	cr_assert_eq(r.status, 202, "a submission after recovery: %s", r.body);
	http_reply_free(&r);
}

Test(breaker, readyz_answers_503_at_once_while_the_breaker_is_open)
{
	cr_assert_eq(kill(harness.redis_pid, SIGSTOP), 0);
	long long ms;
	for (int i = 0; i < BREAKER_TEST_THRESHOLD; i++) {
		struct http_reply r = timed_post(&ms);
		expect_unavailable(&r);
		http_reply_free(&r);
	}
	int fast = 0;
	for (int i = 0; i < 8; i++) {
		long long t0 = monotonic_ms();
		struct http_reply r = http_get("/readyz");
		expect_unavailable(&r);
		http_reply_free(&r);
		fast += monotonic_ms() - t0 < 100;
	}
	cr_assert_geq(fast, 6, "only %d of 8 /readyz were answered in under 100 ms", fast);
	cr_assert_eq(kill(harness.redis_pid, SIGCONT), 0);
}
