/*
 * Integration: the data layout version, {p}:schema_version (job_store.h's
 * JOB_STORE_SCHEMA). jobq-api records it; it refuses to start on data
 * newer than itself and while a live worker is older, and stops (exit 2)
 * when the version moves past it while it runs; a worker reports its own
 * in each heartbeat and stops (exit 2), claiming nothing, when the version
 * in use is newer than its own.
 */
#include <criterion/criterion.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>

#include "harness.h"
#include "job_store.h"

TestSuite(schema, .init = harness_setup_sleep_tasks, .fini = harness_teardown, .timeout = 60);

/* assert_version checks that {p}:schema_version holds want. */
static void assert_version(const char *want)
{
	redisReply *r = redis_cmd("GET jobq:schema_version");

	cr_assert_eq(r->type, REDIS_REPLY_STRING, "jobq:schema_version is not set");
	cr_assert_str_eq(r->str, want);
	freeReplyObject(r);
}

Test(schema, the_api_records_the_layout_version_it_writes)
{
	char want[16];

	snprintf(want, sizeof want, "%d", JOB_STORE_SCHEMA);
	assert_version(want);
}

Test(schema, an_api_refuses_to_start_on_data_newer_than_itself)
{
	char newer[16];

	snprintf(newer, sizeof newer, "%d", JOB_STORE_SCHEMA + 1);
	freeReplyObject(redis_cmd("SET jobq:schema_version %s", newer));
	harness_assert_exited(harness_run("jobq-api", "api2", NULL, 20000), 2, "a second jobq-api");
	cr_assert(harness_log_has("api2", "has layout version"), "the refusal does not say why");
	assert_version(newer);
}

Test(schema, an_api_refuses_to_raise_the_version_while_an_older_worker_lives)
{
	char want[16];

	/* An older layout in use, and a live worker from before workers
	 * reported their version (no field schema: version 1). */
	freeReplyObject(redis_cmd("SET jobq:schema_version 1"));
	freeReplyObject(redis_cmd("HSET jobq:worker:old-host:1:aa id old-host:1:aa queues default"));
	freeReplyObject(redis_cmd("ZADD jobq:workers 1 old-host:1:aa"));
	/* 1, not 2: it passes once the worker is upgraded or gone (below). */
	harness_assert_exited(harness_run("jobq-api", "api2", NULL, 20000), 1, "a second jobq-api");
	cr_assert(harness_log_has("api2", "upgrade them first: old-host:1:aa"),
		  "the refusal does not name the old worker");
	assert_version("1");

	/* Once that worker is gone (its entry expired), the API starts and
	 * raises the version. */
	freeReplyObject(redis_cmd("DEL jobq:worker:old-host:1:aa"));
	cr_assert_eq(harness_run("jobq-api", "api3", NULL, 20000), HARNESS_RUN_READY,
		     "jobq-api did not start once the old worker was gone");
	snprintf(want, sizeof want, "%d", JOB_STORE_SCHEMA);
	assert_version(want);
}

Test(schema, a_worker_of_the_current_version_does_not_hold_the_api_back)
{
	const char *const args[] = {"--tasks", harness_sleep_tasks(), NULL};
	int w = harness_start_worker(args);

	/* Its heartbeat says its version... */
	for (int i = 0; i < 500 && redis_count_keys("jobq:worker:*") == 0; i++)
		sleep_ms(10);
	redisReply *r = redis_cmd("KEYS jobq:worker:*");
	cr_assert_eq(r->elements, 1);
	redisReply *v = redis_cmd("HGET %s schema", r->element[0]->str);
	cr_assert_eq(v->type, REDIS_REPLY_STRING, "the heartbeat has no schema field");
	cr_assert_eq(atoi(v->str), JOB_STORE_SCHEMA);
	freeReplyObject(v);
	freeReplyObject(r);
	/* ...so an API raising the version to its own is not refused. */
	freeReplyObject(redis_cmd("SET jobq:schema_version 1"));
	cr_assert_eq(harness_run("jobq-api", "api2", NULL, 20000), HARNESS_RUN_READY);
	harness_stop_worker(w, SIGTERM, 10000);
}

Test(schema, a_worker_claims_nothing_from_data_newer_than_itself_and_exits_2)
{
	const char *const args[] = {"--tasks", harness_sleep_tasks(), "--lease", "3s", NULL};
	char newer[16];
	char *id = submit_csv("task=sleep3", "v\n1\n");

	snprintf(newer, sizeof newer, "%d", JOB_STORE_SCHEMA + 1);
	freeReplyObject(redis_cmd("SET jobq:schema_version %s", newer));
	harness_assert_exited(harness_run("jobq-worker", "worker-new", args, 20000), 2, "jobq-worker");
	cr_assert(harness_log_has("worker-new", "\"reason\":\"schema\""), "the worker does not say why");
	/* Read from Redis: the running API would now refuse to serve too. */
	redisReply *r = redis_cmd("HMGET jobq:job:%s status attempts", id);
	cr_assert_str_eq(r->element[0]->str, "queued");
	cr_assert(r->element[1]->type == REDIS_REPLY_NIL || strcmp(r->element[1]->str, "0") == 0,
		  "the worker claimed the job");
	freeReplyObject(r);
	free(id);
}

Test(schema, a_running_worker_stops_when_the_version_in_use_moves_past_it)
{
	const char *const args[] = {"--tasks", harness_sleep_tasks(), "--lease", "3s", NULL};
	int w = harness_start_worker(args), status = 0;
	char newer[16];

	snprintf(newer, sizeof newer, "%d", JOB_STORE_SCHEMA + 1);
	freeReplyObject(redis_cmd("SET jobq:schema_version %s", newer));
	/* Its next heartbeat, within a third of the lease, tells it. */
	status = harness_wait_exit(harness.worker_pids[w], 15000);
	harness_assert_exited(status, 2, "the worker");
	harness.worker_pids[w] = 0;
}

Test(schema, a_running_api_stops_with_2_when_the_version_moves_past_it)
{
	char newer[16];
	int status;

	/* A connection opened before the raise is not refused by itself... */
	free(submit_csv("", "v\n1\n"));
	snprintf(newer, sizeof newer, "%d", JOB_STORE_SCHEMA + 1);
	freeReplyObject(redis_cmd("SET jobq:schema_version %s", newer));
	/* A thread whose connection is new meanwhile says why it refuses,
	 * not that Redis is down. */
	for (int i = 0; i < 8; i++) {
		struct http_reply r = http_get(i % 2 ? "/v1/dead" : "/readyz");
		cr_assert(r.status == 200 || (r.status == 503 && strstr(r.body, "layout_refused")),
			  "%ld %s", r.status, r.body);
		http_reply_free(&r);
	}
	/* Not an outage: the circuit breaker stayed closed. */
	cr_assert_not(harness_log_has("api", "\"msg\":\"circuit breaker\""), "the breaker opened");
	/* ...but main's check, every 5 s, stops the whole process. */
	status = harness_wait_exit(harness.api_pid, 20000);
	harness_assert_exited(status, 2, "jobq-api");
	harness.api_pid = 0;
	cr_assert(harness_log_has("api", "\"reason\":\"layout\""), "the API does not say why it stopped");
}

/* Redis lost the version (a restart without persistence) while an older
 * worker lives: the API stops too, but with 1, since that passes once the
 * worker is upgraded or gone, and a supervisor should start it again. */
Test(schema, a_running_api_stops_with_1_when_older_workers_hold_the_version_back)
{
	int status;

	freeReplyObject(redis_cmd("HSET jobq:worker:old-host:1:aa id old-host:1:aa schema 1"));
	freeReplyObject(redis_cmd("ZADD jobq:workers 1 old-host:1:aa"));
	freeReplyObject(redis_cmd("DEL jobq:schema_version"));
	status = harness_wait_exit(harness.api_pid, 20000);
	harness_assert_exited(status, 1, "jobq-api");
	harness.api_pid = 0;
	cr_assert(harness_log_has("api", "upgrade them first: old-host:1:aa"), "the log does not say why");
}

/* Only digits make a version: anything else (written by hand) counts as
 * unset, so an API starts and writes its own. */
Test(schema, a_version_that_is_no_number_counts_as_unset)
{
	static const char *const bad[] = {"two", "nan", "inf", "0x3", "2.5", " 3 "};
	char want[16];

	snprintf(want, sizeof want, "%d", JOB_STORE_SCHEMA);
	for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
		char name[16];

		snprintf(name, sizeof name, "api-bad%zu", i); /* a log of its own */
		freeReplyObject(redis_cmd("SET jobq:schema_version %s", bad[i]));
		cr_assert_eq(harness_run("jobq-api", name, NULL, 20000), HARNESS_RUN_READY,
			     "jobq-api did not start on version \"%s\"", bad[i]);
		assert_version(want);
	}
}

/* claim_refused_under checks that a worker whose next heartbeat is far off
 * (lease 60 s: every 20 s), with version set to version after its first
 * heartbeat, claims nothing when a job comes and stops with 2: the claim
 * itself refuses, not only the heartbeat. */
static void claim_refused_under(const char *version)
{
	const char *const args[] = {"--tasks", harness_sleep_tasks(), "--lease", "60s", NULL};
	int w = harness_start_worker(args), status;

	for (int i = 0; i < 500 && redis_count_keys("jobq:worker:*") == 0; i++)
		sleep_ms(10);
	freeReplyObject(redis_cmd("SET jobq:schema_version %s", version));
	/* Written straight to Redis: the API would refuse it now. */
	freeReplyObject(redis_cmd("HSET jobq:job:00000000000000000000000000000abc status queued "
				  "id 00000000000000000000000000000abc task sleep3 queue default "
				  "bytes 4 input v\\n1\\n"));
	freeReplyObject(redis_cmd("LPUSH jobq:queue:default 00000000000000000000000000000abc"));
	freeReplyObject(redis_cmd("RPUSH jobq:wake:default 1 1"));
	status = harness_wait_exit(harness.worker_pids[w], 15000);
	harness_assert_exited(status, 2, "the worker");
	harness.worker_pids[w] = 0;
	redisReply *r = redis_cmd("HGET jobq:job:00000000000000000000000000000abc status");
	cr_assert_str_eq(r->str, "queued", "the worker claimed the job");
	freeReplyObject(r);
	cr_assert(harness_log_has("worker0", "\"error\":\"redis claim: the data layout in use"),
		  "the claim did not say why (see worker0.log)");
	/* It took one wake-up token, to wake; not the one a newer worker needs. */
	r = redis_cmd("LLEN jobq:wake:default");
	cr_assert_eq(r->integer, 1, "the stopping worker took %lld tokens", 2 - r->integer);
	freeReplyObject(r);
}

Test(schema, a_claim_under_a_newer_layout_takes_nothing_and_stops_the_worker)
{
	char newer[16];

	snprintf(newer, sizeof newer, "%d", JOB_STORE_SCHEMA + 1);
	claim_refused_under(newer);
}

