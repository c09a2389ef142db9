/*
 * Integration: API keys, tenants and rate limits at the HTTP edge.
 *
 * The auth suite starts jobq-api with --auth-file naming two tenants'
 * keys (acme, globex) and an operator's (ops); the file lives in the
 * test's directory so that a test can rewrite it and send SIGHUP. The
 * ratelimit suite starts it with buckets so small, and refills so slow,
 * that no machine is slow enough to refill one during a test.
 */
#include <criterion/criterion.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "harness.h"

#define ACME "Authorization: Bearer acme-0123456789abcdef"
#define GLOBEX "Authorization: Bearer globex-0123456789abcdef"
#define OPS "Authorization: Bearer ops-0123456789abcdef"
#define NEWKEY "Authorization: Bearer newkey-0123456789abcdef"
#define KEYS_V1 "# tenants\nacme-0123456789abcdef acme\nglobex-0123456789abcdef globex\n\n" \
		"ops-0123456789abcdef ops operator\n"
#define MISSING_ID "00000000000000000000000000000000"

/* write_keys (re)writes the auth file in the test's directory, atomically
 * (a new file renamed over the old, as the README advises), so that a
 * reload never reads half of it. */
static void write_keys(const char *text)
{
	char path[300], tmp[310];
	FILE *f;

	snprintf(path, sizeof path, "%s/keys", harness.dir);
	snprintf(tmp, sizeof tmp, "%s.new", path);
	f = fopen(tmp, "w");
	cr_assert_not_null(f);
	cr_assert_eq(fputs(text, f) >= 0, 1);
	cr_assert_eq(fclose(f), 0);
	cr_assert_eq(rename(tmp, path), 0);
}

/* start_with_keys starts Redis, writes KEYS_V1 and starts the API with
 * --auth-file and then the extra arguments (NULL-terminated, at most 10). */
static void start_with_keys(const char *const *extra)
{
	char path[300];
	const char *args[13] = {"--auth-file", path};
	size_t n = 2;

	memset(&harness, 0, sizeof harness);
	harness_start_redis();
	write_keys(KEYS_V1);
	snprintf(path, sizeof path, "%s/keys", harness.dir);
	for (size_t i = 0; extra != NULL && extra[i] != NULL && n < 12; i++)
		args[n++] = extra[i];
	args[n] = NULL;
	harness_start_api(args);
}

static void setup_auth(void)
{
	start_with_keys(NULL);
}

TestSuite(auth, .init = setup_auth, .fini = harness_teardown, .timeout = 60);

/* call sends method path with one header line (may be NULL) and no body. */
static struct http_reply call(const char *method, const char *path, const char *header)
{
	const char *headers[] = {header, NULL};

	return http_request(method, path, NULL, NULL, 0, header != NULL ? headers : NULL);
}

/* submit_as posts a small CSV with key's header; returns the job id. */
static char *submit_as(const char *key)
{
	const char *headers[] = {key, NULL};
	struct http_reply r = http_request("POST", "/v1/jobs", "text/csv", "a\n1\n", 4, headers);

	return accepted_id(&r);
}

/* expect_error asserts that r has status and error code. */
static void expect_error(struct http_reply *r, long status, const char *code)
{
	cr_assert_eq(r->status, status, "want %ld, got %ld: %s", status, r->status, r->body);
	json_t *j = http_json(r);
	const char *got = json_string_value(json_object_get(json_object_get(j, "error"), "code"));
	cr_assert(got != NULL && strcmp(got, code) == 0, "want %s: %s", code, r->body);
	json_decref(j);
}

Test(auth, a_request_without_a_known_key_is_401_with_www_authenticate)
{
	static const char *const keys[] = {
		NULL, "Authorization: Bearer not-a-key-0123456789",
		"Authorization: Basic acme-0123456789abcdef", "Authorization: Bearer acme-0123456789abcde",
	};
	static const char *const paths[][2] = {
		{"GET", "/v1/dead"}, {"GET", "/v1/queues"}, {"GET", "/v1/jobs/" MISSING_ID},
		{"DELETE", "/v1/jobs/" MISSING_ID}, {"POST", "/v1/jobs/" MISSING_ID "/retry"},
		{"POST", "/v1/jobs"},
	};

	for (size_t k = 0; k < sizeof keys / sizeof keys[0]; k++)
		for (size_t p = 0; p < sizeof paths / sizeof paths[0]; p++) {
			struct http_reply r = call(paths[p][0], paths[p][1], keys[k]);
			expect_error(&r, 401, "unauthorized");
			char *www = http_header(&r, "WWW-Authenticate");
			cr_assert(www != NULL && strcmp(www, "Bearer realm=\"jobq\"") == 0,
				  "WWW-Authenticate: %s", www);
			free(www);
			http_reply_free(&r);
		}
	cr_assert_eq(redis_count_keys("jobq:job:*"), 0, "nothing was submitted");
}

Test(auth, health_checks_stay_open)
{
	struct http_reply r = call("GET", "/healthz", NULL);
	cr_assert_eq(r.status, 200);
	http_reply_free(&r);
	r = call("GET", "/readyz", NULL);
	cr_assert_eq(r.status, 200);
	http_reply_free(&r);
}

/* body_of returns r's body and frees the rest of r (the caller frees). */
static char *body_of(struct http_reply *r)
{
	char *body = strdup(r->body);

	http_reply_free(r);
	return body;
}

Test(auth, another_tenants_job_is_404_exactly_like_a_missing_one_on_every_job_route)
{
	static const char *const routes[][2] = {
		{"GET", ""}, {"GET", "/result"}, {"DELETE", ""}, {"POST", "/retry"},
	};
	char *id = submit_as(ACME);

	for (size_t i = 0; i < sizeof routes / sizeof routes[0]; i++) {
		char mine[128], missing[128];
		snprintf(mine, sizeof mine, "/v1/jobs/%s%s", id, routes[i][1]);
		snprintf(missing, sizeof missing, "/v1/jobs/%s%s", MISSING_ID, routes[i][1]);
		struct http_reply r = call(routes[i][0], mine, GLOBEX);
		struct http_reply m = call(routes[i][0], missing, GLOBEX);
		cr_assert_eq(r.status, 404, "%s %s: %ld %s", routes[i][0], mine, r.status, r.body);
		cr_assert_eq(m.status, 404);
		char *rb = body_of(&r), *mb = body_of(&m);
		cr_assert_str_eq(rb, mb, "%s %s: the bodies must not tell the two apart",
				 routes[i][0], mine);
		free(rb);
		free(mb);
	}
	/* Nothing happened to it, and its owner and the operator see it. */
	char path[128];
	snprintf(path, sizeof path, "/v1/jobs/%s", id);
	struct http_reply r = call("GET", path, ACME);
	cr_assert_eq(r.status, 200, "%s", r.body);
	json_t *j = http_json(&r);
	cr_assert_str_eq(json_string_value(json_object_get(j, "status")), "queued");
	cr_assert_str_eq(json_string_value(json_object_get(j, "tenant")), "acme");
	json_decref(j);
	http_reply_free(&r);
	r = call("GET", path, OPS);
	cr_assert_eq(r.status, 200, "operators see every tenant's jobs: %s", r.body);
	http_reply_free(&r);
	redisReply *t = redis_cmd("HGET jobq:job:%s tenant", id);
	cr_assert(t->type == REDIS_REPLY_STRING && strcmp(t->str, "acme") == 0, "tenant in the hash");
	freeReplyObject(t);
	free(id);
}

Test(auth, the_access_log_names_the_tenant)
{
	free(submit_as(GLOBEX));
	cr_assert(harness_log_wait("api", "\"tenant\":\"globex\"", 5000),
		  "no access log line with the tenant");
	cr_assert_not(harness_log_has("api", "acme-0123456789abcdef"), "a token was logged");
	cr_assert_not(harness_log_has("api", "globex-0123456789abcdef"), "a token was logged");
}

/* make_dead turns job id into a dead letter, as fail.lua leaves one. */
static void make_dead(const char *id, int when)
{
	freeReplyObject(redis_cmd("HSET jobq:job:%s status failed", id));
	freeReplyObject(redis_cmd("LREM jobq:queue:default 0 %s", id));
	freeReplyObject(redis_cmd("ZADD jobq:dead %d %s", when, id));
}

/* dead_ids returns how many dead letters key sees, and whether id is one. */
static size_t dead_count(const char *key, const char *id, bool *has)
{
	struct http_reply r = call("GET", "/v1/dead", key);
	cr_assert_eq(r.status, 200, "%s", r.body);
	json_t *j = http_json(&r), *jobs = json_object_get(j, "jobs");
	size_t n = json_array_size(jobs);
	*has = false;
	for (size_t i = 0; i < n; i++)
		*has |= strcmp(json_string_value(json_object_get(json_array_get(jobs, i), "id")), id) == 0;
	json_decref(j);
	http_reply_free(&r);
	return n;
}

Test(auth, dead_letters_are_listed_per_tenant_and_operators_see_all)
{
	char *a = submit_as(ACME), *g = submit_as(GLOBEX);
	bool has;

	make_dead(a, 1000);
	make_dead(g, 2000);
	cr_assert_eq(dead_count(ACME, a, &has), 1);
	cr_assert(has);
	cr_assert_eq(dead_count(GLOBEX, g, &has), 1);
	cr_assert(has);
	cr_assert_eq(dead_count(OPS, a, &has), 2);
	cr_assert(has);
	/* Only the owner may bring it back. */
	char path[128];
	snprintf(path, sizeof path, "/v1/jobs/%s/retry", a);
	struct http_reply r = call("POST", path, GLOBEX);
	expect_error(&r, 404, "job_not_found");
	http_reply_free(&r);
	r = call("POST", path, ACME);
	cr_assert_eq(r.status, 202, "%s", r.body);
	http_reply_free(&r);
	free(a);
	free(g);
}

/* A tenant's dead letter older than the newest 1000 of all tenants is not
 * on its first page, which says so with a "next" cursor; following it
 * finds the letter. */
Test(auth, a_tenants_old_dead_letter_is_found_by_following_next)
{
	char *a = submit_as(ACME), path[128];
	json_t *body;

	make_dead(a, 1);
	/* 1000 newer dead letters of another tenant (their hashes hold no
	 * more than the tenant: a tenant's key never reads the rest). */
	freeReplyObject(redis_cmd(
		"EVAL %s 0",
		"for i = 1, 1000 do local id = string.format('%032x', i) "
		"redis.call('HSET', 'jobq:job:' .. id, 'tenant', 'globex') "
		"redis.call('ZADD', 'jobq:dead', 1 + i, id) end"));
	struct http_reply r = call("GET", "/v1/dead", ACME);
	cr_assert_eq(r.status, 200, "%s", r.body);
	body = http_json(&r);
	http_reply_free(&r);
	cr_assert_eq(json_array_size(json_object_get(body, "jobs")), 0, "another tenant's letters");
	cr_assert_str_eq(json_string_value(json_object_get(body, "next")),
			 "2-00000000000000000000000000000001");
	snprintf(path, sizeof path, "/v1/dead?before=%s",
		 json_string_value(json_object_get(body, "next")));
	json_decref(body);
	r = call("GET", path, ACME);
	cr_assert_eq(r.status, 200, "%s", r.body);
	body = http_json(&r);
	http_reply_free(&r);
	json_t *jobs = json_object_get(body, "jobs");
	cr_assert_eq(json_array_size(jobs), 1);
	cr_assert_str_eq(json_string_value(json_object_get(json_array_get(jobs, 0), "id")), a);
	cr_assert(json_is_null(json_object_get(body, "next")), "a page past the end");
	json_decref(body);
	free(a);
}

Test(auth, queues_is_an_operator_view)
{
	struct http_reply r = call("GET", "/v1/queues", ACME);
	expect_error(&r, 403, "forbidden");
	http_reply_free(&r);
	r = call("GET", "/v1/queues", OPS);
	cr_assert_eq(r.status, 200, "%s", r.body);
	http_reply_free(&r);
}

/* status_with returns the status of GET /v1/dead with key. */
static long status_with(const char *key)
{
	struct http_reply r = call("GET", "/v1/dead", key);
	long status = r.status;

	http_reply_free(&r);
	return status;
}

/* wait_status_with polls until GET /v1/dead with key answers want (the
 * reload happens on the API's main thread, some time after the signal);
 * returns the last status. */
static long wait_status_with(const char *key, long want)
{
	long status = 0;

	for (int i = 0; i < 500 && (status = status_with(key)) != want; i++)
		sleep_ms(10);
	return status;
}

Test(auth, sighup_reloads_the_keys_and_a_bad_file_keeps_the_old_ones)
{
	cr_assert_eq(status_with(NEWKEY), 401);
	write_keys("newkey-0123456789abcdef acme\nops-0123456789abcdef ops operator\n");
	cr_assert_eq(kill(harness.api_pid, SIGHUP), 0);
	cr_assert_eq(wait_status_with(NEWKEY, 200), 200, "an added key works after SIGHUP");
	cr_assert_eq(status_with(GLOBEX), 401, "a removed key is refused after SIGHUP");

	write_keys("newkey-0123456789abcdef acme\nthis line is malformed\n");
	cr_assert_eq(kill(harness.api_pid, SIGHUP), 0);
	cr_assert(harness_log_wait("api", "auth file not reloaded.*line 2", 5000),
		  "the failed reload is logged with its line");
	cr_assert_eq(status_with(OPS), 200, "the old keys stay in use");
}

Test(auth, reloads_under_traffic_never_refuse_a_key_kept_in_both_files)
{
	/* The file alternates between two versions that both hold ops; every
	 * request races a reload on the API's main thread (and ThreadSanitizer,
	 * under make tsan, watches the swap). */
	for (int i = 0; i < 200; i++) {
		write_keys(i % 2 ? KEYS_V1 : "ops-0123456789abcdef ops operator\n");
		cr_assert_eq(kill(harness.api_pid, SIGHUP), 0);
		cr_assert_eq(status_with(OPS), 200, "request %d", i);
	}
}

Test(auth, a_malformed_file_stops_startup_naming_the_line_not_the_token)
{
	char cmd[800], out[600] = "";
	const char *bin = getenv("JOBQ_TEST_BIN_DIR") ? getenv("JOBQ_TEST_BIN_DIR") : "bin";

	write_keys("# keys\nsecret-0123456789abcdef acme admin\n");
	snprintf(cmd, sizeof cmd, "%s/jobq-api --auth-file %s/keys --listen 127.0.0.1:0 "
		 "--redis-url '%s' 2>&1; echo \"exit=$?\"", bin, harness.dir, harness.redis_url);
	FILE *p = popen(cmd, "r");
	cr_assert_not_null(p);
	size_t n = fread(out, 1, sizeof out - 1, p);
	out[n] = '\0';
	pclose(p);
	cr_assert_not_null(strstr(out, "line 2:"), "%s", out);
	cr_assert_not_null(strstr(out, "exit=2"), "%s", out);
	cr_assert_null(strstr(out, "secret-"), "the token was printed: %s", out);
}

/* ---- Rate limits -------------------------------------------------------- */

static void setup_rates(void)
{
	/* One token per 1000 s: nothing refills while a test runs. */
	const char *args[] = {"--rate-submit", "0.001", "--burst-submit", "2",
			      "--rate-read", "0.001", "--burst-read", "3", NULL};
	start_with_keys(args);
}

TestSuite(ratelimit, .init = setup_rates, .fini = harness_teardown, .timeout = 60);

/* expect_limited asserts a 429 rate_limited with a Retry-After of at least 1. */
static void expect_limited(struct http_reply *r)
{
	expect_error(r, 429, "rate_limited");
	char *retry = http_header(r, "Retry-After");
	cr_assert(retry != NULL && atoi(retry) >= 1, "Retry-After: %s", retry);
	free(retry);
}

Test(ratelimit, a_tenant_over_its_submit_rate_gets_429_and_stores_nothing)
{
	free(submit_as(ACME));
	free(submit_as(ACME));
	const char *headers[] = {ACME, NULL};
	struct http_reply r = http_request("POST", "/v1/jobs", "text/csv", "a\n1\n", 4, headers);
	expect_limited(&r);
	http_reply_free(&r);
	cr_assert_eq(redis_count_keys("jobq:job:*"), 2,
		     "two hashes (a small input is a field of its hash)");
	cr_assert_eq(redis_count_keys("jobq:staging:*"), 0);
	/* Another tenant has its own bucket; reads have theirs. */
	free(submit_as(GLOBEX));
	cr_assert_eq(status_with(ACME), 200);
}

Test(ratelimit, reads_have_their_own_bucket_and_health_checks_none)
{
	for (int i = 0; i < 3; i++)
		cr_assert_eq(status_with(GLOBEX), 200, "read %d", i);
	struct http_reply r = call("GET", "/v1/dead", GLOBEX);
	expect_limited(&r);
	http_reply_free(&r);
	r = call("GET", "/v1/jobs/" MISSING_ID, GLOBEX);
	expect_limited(&r);
	http_reply_free(&r);
	for (int i = 0; i < 5; i++) {
		r = call("GET", "/healthz", NULL);
		cr_assert_eq(r.status, 200);
		http_reply_free(&r);
	}
	free(submit_as(GLOBEX));
}

Test(ratelimit, guessing_keys_spends_the_address_bucket)
{
	for (int i = 0; i < 3; i++)
		cr_assert_eq(status_with("Authorization: Bearer guess-0123456789abcdef"), 401, "guess %d", i);
	struct http_reply r = call("GET", "/v1/dead", "Authorization: Bearer guess-0123456789abcdef");
	expect_limited(&r);
	cr_assert_null(http_header(&r, "WWW-Authenticate"));
	http_reply_free(&r);
	cr_assert_eq(status_with(ACME), 200, "a tenant's bucket is its own");
}

/* /metrics tells a tenant's key (403) from an unknown one (401), so
 * guessing there must cost read tokens too. */
Test(ratelimit, guessing_keys_at_metrics_spends_the_address_bucket)
{
	const char *guess = "Authorization: Bearer guess-0123456789abcdef";
	for (int i = 0; i < 3; i++) {
		struct http_reply r = call("GET", "/metrics", guess);
		cr_assert_eq(r.status, 401, "guess %d", i);
		http_reply_free(&r);
	}
	struct http_reply r = call("GET", "/metrics", guess);
	expect_limited(&r);
	http_reply_free(&r);
}

static void setup_rates_no_auth(void)
{
	memset(&harness, 0, sizeof harness);
	harness_start_redis();
	const char *args[] = {"--rate-read", "0.001", "--burst-read", "1", NULL};
	harness_start_api(args);
}

TestSuite(ratelimit_open, .init = setup_rates_no_auth, .fini = harness_teardown, .timeout = 60);

Test(ratelimit_open, without_auth_the_client_address_has_the_bucket)
{
	cr_assert_eq(status_with(NULL), 200);
	struct http_reply r = call("GET", "/v1/queues", NULL);
	expect_limited(&r);
	http_reply_free(&r);
}
