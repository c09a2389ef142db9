/*
 * Integration: the worker registry and GET /v1/queues. Live workers are
 * listed with their queues and the jobs Redis says they run (in the same
 * snapshot as the queue counts; a heartbeat names no jobs); a
 * worker killed with SIGKILL disappears once its entry's TTL (one lease)
 * ends; one that exits cleanly removes its entry at once.
 *
 * The jobs are harness_sleep_tasks() programs: they run a fixed time on any
 * machine, so a test that needs a job still running when it looks gets one.
 */
#include <criterion/criterion.h>
#include <criterion/logging.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "harness.h"
#include "job_store.h"

TestSuite(registry, .init = harness_setup_sleep_tasks, .fini = harness_teardown, .timeout = 120);

/* start_worker starts a worker of concurrency 1 with the sleep tasks and
 * lease (heartbeats every lease/3, an entry lives one lease after the
 * last); a 1 s shutdown grace lets the teardown interrupt a sleep60.
 * Returns its index in harness.worker_pids. */
static int start_worker(const char *lease)
{
	const char *const args[] = {"--lease", lease, "--concurrency", "1", "--shutdown-grace", "1s",
				    "--tasks", harness_sleep_tasks(), NULL};
	return harness_start_worker(args);
}

/* get_queues returns GET /v1/queues's body (caller releases). */
static json_t *get_queues(void)
{
	struct http_reply r = http_get("/v1/queues");
	cr_assert_eq(r.status, 200, "%s", r.body);
	json_t *j = http_json(&r);
	http_reply_free(&r);
	cr_assert(json_is_array(json_object_get(j, "queues")), "no queues array");
	cr_assert(json_is_array(json_object_get(j, "workers")), "no workers array");
	return j;
}

/* worker_entry returns the entry of the worker with pid in overview, or
 * NULL (borrowed). */
static json_t *worker_entry(json_t *overview, pid_t pid)
{
	char needle[32];
	size_t i;
	json_t *w;

	snprintf(needle, sizeof needle, ":%ld:", (long)pid);
	json_array_foreach(json_object_get(overview, "workers"), i, w)
		if (strstr(json_string_value(json_object_get(w, "id")), needle) != NULL)
			return w;
	return NULL;
}

/* running_one returns the id of the one job w runs, or NULL. */
static const char *running_one(json_t *w)
{
	json_t *running = json_object_get(w, "running");
	return json_array_size(running) == 1 ? json_string_value(json_array_get(running, 0)) : NULL;
}

/* queue_entry returns the counts of queue name (borrowed), or NULL. */
static json_t *queue_entry(json_t *overview, const char *name)
{
	size_t i;
	json_t *q;

	json_array_foreach(json_object_get(overview, "queues"), i, q)
		if (strcmp(json_string_value(json_object_get(q, "name")), name) == 0)
			return q;
	return NULL;
}

Test(registry, two_workers_are_listed_with_their_running_job_and_a_killed_one_expires)
{
	/* sleep60 outlasts the test on any machine: both jobs are still
	 * running whenever the test looks. */
	char *ids[2] = {submit_csv("task=sleep60", "v\n1\n"), submit_csv("task=sleep60", "v\n2\n")};
	json_t *o = get_queues();
	json_t *q = queue_entry(o, "default");
	cr_assert_not_null(q, "no default queue");
	cr_assert_eq(json_integer_value(json_object_get(q, "queued")), 2);
	cr_assert_eq(json_array_size(json_object_get(o, "workers")), 0);
	json_decref(o);

	start_worker("2s");
	start_worker("2s");
	bool both = false;
	long long end = monotonic_ms() + 20000;
	while (!both && monotonic_ms() < end) {
		o = get_queues();
		json_t *w0 = worker_entry(o, harness.worker_pids[0]);
		json_t *w1 = worker_entry(o, harness.worker_pids[1]);
		const char *r0 = w0 ? running_one(w0) : NULL, *r1 = w1 ? running_one(w1) : NULL;
		both = r0 && r1 && strcmp(r0, r1) != 0;
		if (both) {
			cr_assert(strcmp(r0, ids[0]) == 0 || strcmp(r0, ids[1]) == 0, "%s", r0);
			cr_assert(strcmp(r1, ids[0]) == 0 || strcmp(r1, ids[1]) == 0, "%s", r1);
			q = queue_entry(o, "default");
			cr_assert_eq(json_integer_value(json_object_get(q, "running")), 2, "%s",
				     json_dumps(o, 0));
			cr_assert_eq(json_integer_value(json_object_get(q, "queued")), 0);
			cr_assert_eq(json_integer_value(json_object_get(w0, "concurrency")), 1);
			cr_assert_str_eq(json_string_value(json_array_get(json_object_get(w0, "queues"), 0)),
					 "default");
			cr_assert_gt(json_integer_value(json_object_get(w0, "heartbeat_at")), 0);
			cr_assert_eq(json_integer_value(json_object_get(w0, "schema")), JOB_STORE_SCHEMA);
		}
		json_decref(o);
		if (!both)
			sleep_ms(100);
	}
	cr_assert(both, "the two workers were never listed running one job each");

	pid_t killed = harness.worker_pids[0], alive = harness.worker_pids[1];
	harness_stop_worker(0, SIGKILL, 5000);
	long long t0 = monotonic_ms(), gone_ms = -1;
	while (monotonic_ms() - t0 < 10000) {
		o = get_queues();
		bool gone = worker_entry(o, killed) == NULL, other = worker_entry(o, alive) != NULL;
		json_decref(o);
		cr_assert(other || !gone, "the live worker vanished too");
		if (gone) {
			gone_ms = monotonic_ms() - t0;
			break;
		}
		sleep_ms(100);
	}
	cr_log_info("the killed worker left the listing %lld ms after SIGKILL", gone_ms);
	cr_assert_geq(gone_ms, 0, "the killed worker was still listed 10 s after SIGKILL");
	cr_assert_lt(gone_ms, 4000, "listed %lld ms after SIGKILL (TTL 2 s)", gone_ms);
	redisReply *r = redis_cmd("ZCARD jobq:workers");
	cr_assert_eq(r->integer, 1, "the dead worker was not pruned from jobq:workers");
	freeReplyObject(r);
	free(ids[0]), free(ids[1]);
}

Test(registry, a_worker_that_exits_cleanly_leaves_no_entry)
{
	start_worker("2s");
	json_t *o = NULL;
	long long end = monotonic_ms() + 10000;
	while (monotonic_ms() < end) {
		o = get_queues();
		if (worker_entry(o, harness.worker_pids[0]) != NULL)
			break;
		json_decref(o);
		o = NULL;
		sleep_ms(50);
	}
	cr_assert_not_null(o, "the worker was never listed");
	json_decref(o);
	cr_assert_eq(harness_stop_worker(0, SIGTERM, 10000), 0, "the worker did not exit 0");
	cr_assert_eq(redis_count_keys("jobq:worker:*"), 0, "the worker's hash is left");
	redisReply *r = redis_cmd("ZCARD jobq:workers");
	cr_assert_eq(r->integer, 0, "the worker is left in jobq:workers");
	freeReplyObject(r);
}

/* assert_heartbeat_fields checks that worker id's hash holds what a
 * heartbeat writes and nothing else: no list of running jobs, which
 * would lag behind {p}:running and which nothing reads. */
static void assert_heartbeat_fields(const char *worker_id)
{
	static const char *const want[] = {"concurrency", "heartbeat", "id", "queues",
					   "schema", "started_at"};
	redisReply *r = redis_cmd("HKEYS jobq:worker:%s", worker_id);
	cr_assert_eq(r->type, REDIS_REPLY_ARRAY);
	cr_assert_eq(r->elements, 6, "the worker's hash has %zu fields", r->elements);
	for (size_t i = 0; i < 6; i++) {
		bool found = false;
		for (size_t k = 0; k < r->elements; k++)
			found = found || strcmp(r->element[k]->str, want[i]) == 0;
		cr_assert(found, "the worker's hash lacks %s", want[i]);
	}
	freeReplyObject(r);
}

/* A worker's running jobs come from {p}:running, read in the same step as
 * the counts: a claimed job is listed at once and a finished one is gone,
 * wherever the heartbeats (every 10 s here) fall; the heartbeat itself
 * names no jobs. */
Test(registry, a_workers_running_jobs_are_the_ones_redis_runs_under_it_not_a_heartbeat_list)
{
	char *id = submit_csv("task=sleep3", "v\n1\n");
	start_worker("30s");
	json_t *o = NULL, *w = NULL;
	long long end = monotonic_ms() + 10000;
	while ((w = o ? worker_entry(o, harness.worker_pids[0]) : NULL) == NULL &&
	       monotonic_ms() < end) {
		json_decref(o);
		sleep_ms(20);
		o = get_queues();
	}
	cr_assert_not_null(w, "the worker was never listed");
	char *worker_id = strdup(json_string_value(json_object_get(w, "id")));
	json_decref(o);

	json_t *job = wait_for_status(id, "running", 10000);
	cr_assert_str_eq(json_string_value(json_object_get(job, "status")), "running");
	json_decref(job);
	assert_heartbeat_fields(worker_id);
	o = get_queues();
	w = worker_entry(o, harness.worker_pids[0]);
	cr_assert_not_null(w);
	cr_assert_str_eq(running_one(w) ? running_one(w) : "(none)", id, "%s", json_dumps(o, 0));
	cr_assert_eq(json_integer_value(json_object_get(queue_entry(o, "default"), "running")), 1);
	json_decref(o);

	job = wait_for_status(id, "succeeded", 20000);
	cr_assert_str_eq(json_string_value(json_object_get(job, "status")), "succeeded");
	json_decref(job);
	o = get_queues();
	w = worker_entry(o, harness.worker_pids[0]);
	cr_assert_not_null(w);
	cr_assert_eq(json_array_size(json_object_get(w, "running")), 0, "%s", json_dumps(o, 0));
	cr_assert_eq(json_integer_value(json_object_get(queue_entry(o, "default"), "running")), 0);
	json_decref(o);
	free(worker_id), free(id);
}
