/*
 * Integration: job_store_enqueue_batch, which runs enqueue.lua once for a
 * whole batch. Each job must get the answer it would get from a call of
 * its own, in order: the depth limit refuses exactly the jobs beyond it,
 * Idempotency-Keys replay even against a job earlier in the same batch, a
 * staged job is renamed into its input, and a refused job leaves nothing.
 */
#include <criterion/criterion.h>
#include <stdio.h>
#include <string.h>

#include "harness.h"
#include "ids.h"
#include "job_store.h"

static struct job_store *st;

/* open_store opens the suite's store with a queue depth limit (0: none). */
static void open_store(int64_t max_depth)
{
	struct job_store_config cfg = {.url = harness.redis_url, .prefix = "jobq",
				       .timeout_ms = 2000, .max_queue_depth = max_depth};
	job_store_close(st);
	st = job_store_open(&cfg, NULL);
	cr_assert_not_null(st);
}

static void setup(void)
{
	memset(&harness, 0, sizeof harness);
	harness_start_redis();
	st = NULL;
	open_store(0);
}

static void teardown(void)
{
	job_store_close(st);
	harness_teardown();
}

TestSuite(enqueue_batch, .init = setup, .fini = teardown, .timeout = 30);

static struct job_spec spec_for(const char *queue)
{
	struct job_spec s = {.delimiter = ',', .header = true, .rows = 1, .columns = 1,
			     .bytes = 4, .max_attempts = 3, .timeout_s = 600};
	cr_assert_eq(ids_random_hex(s.id, 16), 0);
	snprintf(s.task, sizeof s.task, "profile");
	snprintf(s.queue, sizeof s.queue, "%s", queue);
	snprintf(s.request_id, sizeof s.request_id, "req-1");
	s.created_at_ms = job_now_ms();
	return s;
}

/* run_batch builds one command per spec (small, unstaged, keyed when
 * idem[i] is not NULL) and sends them as one batch into out. */
static void run_batch(struct job_spec *specs, struct job_store_idem **idem, size_t n,
		      enum job_store_status *out)
{
	struct job_store_enqueue_cmd *cmds[16];

	cr_assert(n <= 16);
	for (size_t i = 0; i < n; i++) {
		cmds[i] = job_store_enqueue_cmd_new(st, &specs[i], "a\n1\n", 4, false,
						    idem != NULL ? idem[i] : NULL);
		cr_assert_not_null(cmds[i]);
	}
	cr_assert_eq(job_store_enqueue_batch(st, cmds, n, out), n, "%s", job_store_errstr(st));
	for (size_t i = 0; i < n; i++)
		job_store_enqueue_cmd_free(cmds[i]);
}

/* queue_ids returns the ids of queue, in the order a worker takes them
 * (rightmost first). Free with freeReplyObject. */
static redisReply *queue_ids(const char *queue)
{
	redisReply *r = redis_cmd("LRANGE jobq:queue:%s 0 -1", queue);
	cr_assert_eq(r->type, REDIS_REPLY_ARRAY);
	return r;
}

Test(enqueue_batch, jobs_are_queued_in_batch_order_with_one_wake_token_each)
{
	struct job_spec s[3] = {spec_for("default"), spec_for("other"), spec_for("default")};
	enum job_store_status out[3];

	run_batch(s, NULL, 3, out);
	for (int i = 0; i < 3; i++)
		cr_assert_eq(out[i], JOB_STORE_OK, "job %d: %d", i, out[i]);
	redisReply *r = queue_ids("default");
	cr_assert_eq(r->elements, 2);
	cr_assert_str_eq(r->element[1]->str, s[0].id, "the first job is not taken first");
	cr_assert_str_eq(r->element[0]->str, s[2].id);
	freeReplyObject(r);
	r = redis_cmd("LLEN jobq:wake:default");
	cr_assert_eq(r->integer, 2);
	freeReplyObject(r);
	r = redis_cmd("SMEMBERS jobq:queues");
	cr_assert_eq(r->elements, 2);
	freeReplyObject(r);
	r = redis_cmd("HGET jobq:job:%s tenant", s[1].id);
	cr_assert_eq(r->type, REDIS_REPLY_NIL, "a tenant field without auth");
	freeReplyObject(r);
	r = redis_cmd("HGET jobq:job:%s status", s[1].id);
	cr_assert_str_eq(r->str, "queued");
	freeReplyObject(r);
}

Test(enqueue_batch, the_depth_limit_refuses_exactly_the_jobs_beyond_it)
{
	struct job_spec s[5] = {spec_for("default"), spec_for("default"), spec_for("other"),
				spec_for("default"), spec_for("default")};
	enum job_store_status out[5];
	struct job_spec first = spec_for("default");

	open_store(3);
	cr_assert_eq(job_store_enqueue(st, &first, "a\n1\n", 4, false), JOB_STORE_OK);
	run_batch(s, NULL, 5, out);
	cr_assert_eq(out[0], JOB_STORE_OK);
	cr_assert_eq(out[1], JOB_STORE_OK);
	cr_assert_eq(out[2], JOB_STORE_OK, "another queue's limit counted this one");
	cr_assert_eq(out[3], JOB_STORE_FULL);
	cr_assert_eq(out[4], JOB_STORE_FULL);
	redisReply *r = redis_cmd("LLEN jobq:queue:default");
	cr_assert_eq(r->integer, 3);
	freeReplyObject(r);
	cr_assert_eq(redis_count_keys("jobq:job:????????????????????????????????"), 4);
	cr_assert_eq(redis_count_keys("jobq:job:*:input"), 4);
}

Test(enqueue_batch, keyed_and_plain_jobs_mix_and_a_key_repeated_in_the_batch_replays)
{
	struct job_spec s[4] = {spec_for("default"), spec_for("default"), spec_for("default"),
				spec_for("default")};
	struct job_store_idem k1 = {"", "k1", "h1", 3600, ""}, again = {"", "k1", "h1", 3600, ""};
	struct job_store_idem other = {"", "k1", "h2", 3600, ""};
	struct job_store_idem *idem[4] = {&k1, NULL, &again, &other};
	enum job_store_status out[4];

	run_batch(s, idem, 4, out);
	cr_assert_eq(out[0], JOB_STORE_OK);
	cr_assert_eq(out[1], JOB_STORE_OK);
	cr_assert_eq(out[2], JOB_STORE_REPLAYED);
	cr_assert_str_eq(again.job_id, s[0].id);
	cr_assert_eq(out[3], JOB_STORE_MISMATCH);
	cr_assert_str_eq(other.job_id, s[0].id);
	redisReply *r = queue_ids("default");
	cr_assert_eq(r->elements, 2);
	freeReplyObject(r);
	r = redis_cmd("HGET jobq:idem:-:k1 job");
	cr_assert_str_eq(r->str, s[0].id);
	freeReplyObject(r);
	cr_assert_eq(redis_count_keys("jobq:job:*:input"), 2, "a replay wrote an input");
}

Test(enqueue_batch, a_staged_job_and_an_expired_one_in_a_batch_each_get_their_answer)
{
	struct job_spec small = spec_for("default"), staged = spec_for("default");
	struct job_spec expired = spec_for("default");
	struct job_store_enqueue_cmd *cmds[3];
	enum job_store_status out[3];

	cr_assert_eq(job_store_stage_append(st, staged.id, "a\n1\n", 4, true, 60), JOB_STORE_OK);
	cmds[0] = job_store_enqueue_cmd_new(st, &small, "a\n1\n", 4, false, NULL);
	cmds[1] = job_store_enqueue_cmd_new(st, &staged, "2\n", 2, true, NULL);
	cmds[2] = job_store_enqueue_cmd_new(st, &expired, "3\n", 2, true, NULL);
	cr_assert_eq(job_store_enqueue_batch(st, cmds, 3, out), 3);
	for (int i = 0; i < 3; i++)
		job_store_enqueue_cmd_free(cmds[i]);
	cr_assert_eq(out[0], JOB_STORE_OK);
	cr_assert_eq(out[1], JOB_STORE_OK);
	cr_assert_eq(out[2], JOB_STORE_NOT_FOUND);
	redisReply *r = redis_cmd("GET jobq:job:%s:input", staged.id);
	cr_assert_str_eq(r->str, "a\n1\n2\n");
	freeReplyObject(r);
	r = redis_cmd("TTL jobq:job:%s:input", staged.id);
	cr_assert_eq(r->integer, -1, "the input kept the staging TTL");
	freeReplyObject(r);
	cr_assert_eq(redis_count_keys("jobq:staging:*"), 0);
	char expired_keys[64];
	snprintf(expired_keys, sizeof expired_keys, "jobq:job:%s*", expired.id);
	cr_assert_eq(redis_count_keys(expired_keys), 0);
	r = queue_ids("default");
	cr_assert_eq(r->elements, 2);
	freeReplyObject(r);
}

Test(enqueue_batch, a_taken_id_is_refused_without_touching_the_other_jobs)
{
	struct job_spec s[2] = {spec_for("default"), spec_for("default")};
	enum job_store_status out[2];

	freeReplyObject(redis_cmd("SET jobq:job:%s:input old", s[0].id));
	run_batch(s, NULL, 2, out);
	cr_assert_eq(out[0], JOB_STORE_EPROTO);
	cr_assert(strstr(job_store_errstr(st), "in use") != NULL, "%s", job_store_errstr(st));
	cr_assert_eq(out[1], JOB_STORE_OK);
	redisReply *r = redis_cmd("GET jobq:job:%s:input", s[0].id);
	cr_assert_str_eq(r->str, "old");
	freeReplyObject(r);
	r = redis_cmd("EXISTS jobq:job:%s", s[0].id);
	cr_assert_eq(r->integer, 0);
	freeReplyObject(r);
	r = queue_ids("default");
	cr_assert_eq(r->elements, 1);
	cr_assert_str_eq(r->element[0]->str, s[1].id);
	freeReplyObject(r);
}

Test(enqueue_batch, more_jobs_than_one_script_call_takes_are_all_answered)
{
	enum { N = 300 };
	static struct job_spec s[N];
	static struct job_store_enqueue_cmd *cmds[N];
	static enum job_store_status out[N];

	for (int i = 0; i < N; i++) {
		s[i] = spec_for("default");
		cmds[i] = job_store_enqueue_cmd_new(st, &s[i], "a\n1\n", 4, false, NULL);
		cr_assert_not_null(cmds[i]);
	}
	cr_assert_eq(job_store_enqueue_batch(st, cmds, N, out), N);
	for (int i = 0; i < N; i++) {
		cr_assert_eq(out[i], JOB_STORE_OK, "job %d: %d", i, out[i]);
		job_store_enqueue_cmd_free(cmds[i]);
	}
	redisReply *r = redis_cmd("LLEN jobq:queue:default");
	cr_assert_eq(r->integer, N);
	freeReplyObject(r);
	r = redis_cmd("LLEN jobq:wake:default");
	cr_assert_eq(r->integer, 64, "the wake tokens are not capped");
	freeReplyObject(r);
}
