/*
 * Integration: several workers share the queues without ever running the
 * same job twice.
 */
#include <criterion/criterion.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "harness.h"

static void setup(void)
{
	harness_setup_with(0);
}

TestSuite(workers, .init = setup, .fini = harness_teardown, .timeout = 90);

#define JOBS 300

Test(workers, two_workers_never_run_the_same_job)
{
	char *ids[JOBS];
	for (int i = 0; i < JOBS; i++) {
		char csv[64];
		snprintf(csv, sizeof csv, "n\n%d\n%d\n", i, i + 1);
		ids[i] = submit_csv(NULL, csv);
	}
	harness_start_worker(NULL);
	harness_start_worker(NULL);
	for (int i = 0; i < JOBS; i++) {
		json_t *job = wait_for_status(ids[i], "succeeded", 30000);
		cr_assert_str_eq(json_string_value(json_object_get(job, "status")), "succeeded");
		json_decref(job);
		/* One claim each: attempts and the fencing token count claims. */
		redisReply *r = redis_cmd("HMGET jobq:job:%s attempts token", ids[i]);
		cr_assert_str_eq(r->element[0]->str, "1", "job %s was claimed twice", ids[i]);
		cr_assert_str_eq(r->element[1]->str, "1", "job %s was claimed twice", ids[i]);
		freeReplyObject(r);
		free(ids[i]);
	}
	redisReply *r = redis_cmd("ZCARD jobq:running");
	cr_assert_eq(r->integer, 0, "finished jobs still hold leases");
	freeReplyObject(r);
	r = redis_cmd("LLEN jobq:queue:default");
	cr_assert_eq(r->integer, 0);
	freeReplyObject(r);
}

Test(workers, a_worker_only_takes_jobs_from_its_queues)
{
	char *other = submit_csv("queue=other", "a\n1\n");
	char *mine = submit_csv("queue=mine", "a\n1\n");
	const char *args[] = {"--queue", "mine", NULL};
	harness_start_worker(args);
	json_t *job = wait_for_status(mine, "succeeded", 20000);
	cr_assert_str_eq(json_string_value(json_object_get(job, "status")), "succeeded");
	json_decref(job);
	sleep_ms(300);
	job = wait_for_status(other, "queued", 100);
	cr_assert_str_eq(json_string_value(json_object_get(job, "status")), "queued");
	json_decref(job);
	free(other), free(mine);
}
