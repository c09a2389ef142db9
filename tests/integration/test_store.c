/*
 * Integration: the state transitions of job_store against a real Redis —
 * each Lua script, fencing, lease reaping and script reloading; batches of
 * enqueues in one script call; at the end the worker's one-round-trip path
 * (small inputs that come with their claim, and finish_next.lua, which
 * finishes a batch of attempts and claims the next batch).
 */
#include <criterion/criterion.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <sys/wait.h>
#include <string.h>

#include "harness.h"
#include "ids.h"
#include "job_store.h"
#include "keys.h"
#include "scripts.h"

static struct job_store *st;

static void setup(void)
{
	memset(&harness, 0, sizeof harness);
	harness_start_redis();
	struct job_store_config cfg = {.url = harness.redis_url, .prefix = "jobq", .timeout_ms = 2000};
	st = job_store_open(&cfg, NULL);
	cr_assert_not_null(st);
}

static void teardown(void)
{
	job_store_close(st);
	harness_teardown();
}

TestSuite(store, .init = setup, .fini = teardown, .timeout = 30);

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

static const char *const default_queue[] = {"default"};

static struct job_claim claim_one(int lease_ms)
{
	struct job_claim c;
	int n = job_store_claim(st, "test:1:abc", default_queue, 1, lease_ms, &c, 1);
	cr_assert_eq(n, 1, "claim found %d jobs: %s", n, job_store_errstr(st));
	return c;
}

static void enqueue_small(struct job_spec *s)
{
	cr_assert_eq(job_store_enqueue(st, s, "a\n1\n", 4, 0), JOB_STORE_OK, "%s",
		     job_store_errstr(st));
}

Test(store, enqueue_makes_hash_input_and_queue_entry_visible_together)
{
	struct job_spec s = spec_for("default");
	enqueue_small(&s);
	struct job_record rec;
	cr_assert_eq(job_store_fetch(st, s.id, &rec), JOB_STORE_OK);
	cr_assert_eq(rec.status, JOB_QUEUED);
	cr_assert_str_eq(rec.spec.request_id, "req-1");
	/* A small input is the hash's field input, with no key of its own. */
	redisReply *r = redis_cmd("HGET jobq:job:%s input", s.id);
	cr_assert_str_eq(r->str, "a\n1\n");
	freeReplyObject(r);
	r = redis_cmd("HEXISTS jobq:job:%s input_key", s.id);
	cr_assert_eq(r->integer, 0);
	freeReplyObject(r);
	cr_assert_eq(redis_count_keys("jobq:job:*:input*"), 0);
	r = redis_cmd("LRANGE jobq:queue:default 0 -1");
	cr_assert_eq(r->elements, 1);
	cr_assert_str_eq(r->element[0]->str, s.id);
	freeReplyObject(r);
}

/* enqueue.lua leaves out the fields whose value is the readers' default
 * (attempts and token before the first claim, a ',' delimiter); status
 * reads and the claim still see 0 and ','. Another delimiter is written. */
Test(store, enqueue_leaves_out_default_fields_and_readers_see_their_defaults)
{
	struct job_spec s = spec_for("default"), tab = spec_for("default");
	struct job_record rec;

	tab.delimiter = '\t';
	enqueue_small(&s);
	cr_assert_eq(job_store_enqueue(st, &tab, "a\n1\n", 4, 0), JOB_STORE_OK);
	redisReply *r = redis_cmd("HMGET jobq:job:%s attempts token delimiter", s.id);
	for (size_t i = 0; i < 3; i++)
		cr_assert_eq(r->element[i]->type, REDIS_REPLY_NIL, "field %zu was written", i);
	freeReplyObject(r);
	r = redis_cmd("HGET jobq:job:%s delimiter", tab.id);
	cr_assert_str_eq(r->str, "\t");
	freeReplyObject(r);
	cr_assert_eq(job_store_fetch(st, s.id, &rec), JOB_STORE_OK);
	cr_assert_eq(rec.attempts, 0);
	cr_assert_eq(rec.spec.delimiter, ',');
	cr_assert_str_eq(rec.spec.id, s.id);
	struct job_claim c = claim_one(30000);
	cr_assert_str_eq(c.id, s.id);
	cr_assert_eq(c.delimiter, ',');
	cr_assert_eq(c.token, 1);
	cr_assert_eq(c.attempts, 1);
	c = claim_one(30000);
	cr_assert_eq(c.delimiter, '\t');
}

/* assert_staged_input checks that job id's input is the staged "a\n1\n"
 * plus its tail "2\n", without the staging key's TTL, and that no staging
 * key is left. */
static void assert_staged_input(const char *id)
{
	redisReply *r = redis_cmd("GET jobq:job:%s:input:0", id);
	cr_assert_str_eq(r->str, "a\n1\n2\n");
	freeReplyObject(r);
	r = redis_cmd("TTL jobq:job:%s:input:0", id);
	cr_assert_eq(r->integer, -1, "the input kept the staging TTL");
	freeReplyObject(r);
	r = redis_cmd("HMGET jobq:job:%s input input_key input_pieces", id);
	cr_assert_eq(r->element[0]->type, REDIS_REPLY_NIL, "a staged input is in the hash too");
	cr_assert_str_eq(r->element[1]->str, "1", "the hash does not say its input is a key");
	cr_assert_str_eq(r->element[2]->str, "1", "the hash does not count its input's pieces");
	freeReplyObject(r);
	cr_assert_eq(redis_count_keys("jobq:staging:*"), 0);
}

/* assert_staging_left_then_discarded checks that a job enqueue.lua
 * refused left its one staging piece as the API wrote it (the API deletes
 * it, one command a piece, not the script), and that
 * job_store_discard_staging then deletes it. */
static void assert_staging_left_then_discarded(const char *id)
{
	char pattern[80];

	snprintf(pattern, sizeof pattern, "jobq:staging:%.*s:*", JOB_ID_HEX, id);
	cr_assert_eq(redis_count_keys(pattern), 1, "the staging piece is not as the API left it");
	cr_assert_eq(job_store_discard_staging(st, id, 1), JOB_STORE_OK);
	cr_assert_eq(redis_count_keys("jobq:staging:*"), 0, "a staging piece was left");
}

Test(store, staged_upload_is_renamed_into_the_input)
{
	struct job_spec s = spec_for("default");
	cr_assert_eq(job_store_stage_append(st, s.id, 0, "a\n", 2, 60), JOB_STORE_OK);
	cr_assert_eq(job_store_stage_append(st, s.id, 2, "1\n", 2, 60), JOB_STORE_OK);
	cr_assert_eq(job_store_enqueue(st, &s, "2\n", 2, 4), JOB_STORE_OK);
	assert_staged_input(s.id);
}

/* ttl_of answers the TTL of the key fmt names with id (-2: no key). */
static long long ttl_of(const char *fmt, const char *id)
{
	redisReply *r = redis_cmd(fmt, id);
	long long ttl = r->integer;
	freeReplyObject(r);
	return ttl;
}

Test(store, a_small_input_comes_with_the_claim_from_the_hash_and_expires_with_it)
{
	struct job_spec s = spec_for("default");
	enqueue_small(&s);
	struct job_claim c = claim_one(30000);
	cr_assert(c.inlined, "the small input did not come with the claim");
	cr_assert_eq(c.bytes, 4);
	cr_assert_eq(memcmp(c.input, "a\n1\n", 4), 0);
	cr_assert_eq(job_store_finish(st, &c, JOB_SUCCEEDED, "t", NULL, NULL, 1, 4, 60),
		     JOB_STORE_OK);
	long long ttl = ttl_of("TTL jobq:job:%s", s.id);
	cr_assert(ttl > 0 && ttl <= 60, "hash TTL %lld", ttl);
	cr_assert_eq(ttl_of("TTL jobq:job:%s:input", s.id), -2, "a small input has a key");
	cr_assert_eq(ttl_of("TTL jobq:job:%s:input:0", s.id), -2, "a small input has a piece");
}

Test(store, a_staged_input_is_a_key_that_comes_with_the_claim_and_gets_the_ttl)
{
	struct job_spec s = spec_for("default");
	s.bytes = 6;
	cr_assert_eq(job_store_stage_append(st, s.id, 0, "a\n1\n", 4, 60), JOB_STORE_OK);
	cr_assert_eq(job_store_enqueue(st, &s, "2\n", 2, 4), JOB_STORE_OK);
	struct job_claim c = claim_one(30000);
	cr_assert(c.inlined, "a small staged input did not come with the claim");
	cr_assert_eq(memcmp(c.input, "a\n1\n2\n", 6), 0);
	struct job_store_done d = {&c, "t", "r", 1, true, 1, 6};
	struct job_store_claim_req none = {"test:1:abc", default_queue, 1, 30000, 0, NULL, true};
	enum job_store_status code;
	int claimed = -1;
	cr_assert_eq(job_store_finish_batch(st, &d, 1, 60, &none, &code, NULL, &claimed),
		     JOB_STORE_OK);
	cr_assert_eq(code, JOB_STORE_OK);
	long long ttl = ttl_of("TTL jobq:job:%s:input:0", s.id);
	cr_assert(ttl > 0 && ttl <= 60, "input key TTL %lld", ttl);
}

/* A worker reads a large input in pieces that point into the store's
 * last reply instead of being copied: each read gives the bytes at its
 * offset, the end of the input gives fewer or none, and a missing key
 * none. */
Test(store, read_input_gives_each_piece_of_a_staged_input_in_place)
{
	struct job_spec s = spec_for("default");
	const char *piece;
	size_t n = 99;

	s.bytes = 10;
	cr_assert_eq(job_store_stage_append(st, s.id, 0, "a\n1\n2\n", 6, 60), JOB_STORE_OK);
	cr_assert_eq(job_store_enqueue(st, &s, "3\n4\n", 4, 6), JOB_STORE_OK);
	cr_assert_eq(job_store_read_input(st, s.id, 0, 4, &piece, &n), JOB_STORE_OK);
	cr_assert_eq(n, 4);
	cr_assert_eq(memcmp(piece, "a\n1\n", 4), 0);
	cr_assert_eq(job_store_read_input(st, s.id, 4, 4, &piece, &n), JOB_STORE_OK);
	cr_assert_eq(n, 4);
	cr_assert_eq(memcmp(piece, "2\n3\n", 4), 0);
	cr_assert_eq(job_store_read_input(st, s.id, 8, 4, &piece, &n), JOB_STORE_OK);
	cr_assert_eq(n, 2, "the last piece holds %zu bytes", n);
	cr_assert_eq(memcmp(piece, "4\n", 2), 0);
	cr_assert_eq(job_store_read_input(st, s.id, 10, 4, &piece, &n), JOB_STORE_OK);
	cr_assert_eq(n, 0, "a read past the end gave %zu bytes", n);
	cr_assert_eq(job_store_read_input(st, "0123456789abcdef0123456789abcdef", 0, 4, &piece, &n),
		     JOB_STORE_OK);
	cr_assert_eq(n, 0, "a missing input gave %zu bytes", n);
}

/* A read that finds another type under the input key is an error, and
 * leaves no bytes behind. */
Test(store, read_input_of_a_key_of_another_type_is_an_error)
{
	const char *piece = NULL;
	size_t n = 99;

	freeReplyObject(redis_cmd("RPUSH jobq:job:%s:input x", "0123456789abcdef0123456789abcdef"));
	cr_assert_eq(job_store_read_input(st, "0123456789abcdef0123456789abcdef", 0, 4, &piece, &n),
		     JOB_STORE_EPROTO);
	cr_assert_eq(n, 0);
	cr_assert_str_eq(piece, "");
}

/* A job enqueued before small inputs moved into the hash has an input key
 * and no input_key field: the claim marks it, so that the end expires it. */
Test(store, a_job_of_the_old_layout_is_claimed_and_its_input_key_expires)
{
	struct job_spec s = spec_for("default");
	cr_assert_eq(job_store_stage_append(st, s.id, 0, "a\n1\n", 4, 60), JOB_STORE_OK);
	cr_assert_eq(job_store_enqueue(st, &s, "", 0, 4), JOB_STORE_OK);
	freeReplyObject(redis_cmd("HDEL jobq:job:%s input_key", s.id));
	struct job_claim c = claim_one(30000);
	cr_assert(c.inlined);
	redisReply *r = redis_cmd("HGET jobq:job:%s input_key", s.id);
	cr_assert_str_eq(r->str, "1", "the claim did not mark the input key");
	freeReplyObject(r);
	cr_assert_eq(job_store_finish(st, &c, JOB_FAILED, NULL, "x", "y", 0, 0, 60), JOB_STORE_OK);
	long long ttl = ttl_of("TTL jobq:job:%s:input:0", s.id);
	cr_assert(ttl > 0 && ttl <= 60, "input key TTL %lld", ttl);
}

Test(store, expired_staging_key_enqueues_nothing)
{
	struct job_spec s = spec_for("default");
	cr_assert_eq(job_store_enqueue(st, &s, "x", 1, 2), JOB_STORE_NOT_FOUND);
	cr_assert_eq(redis_count_keys("jobq:*"), 0);
}

Test(store, claim_gives_a_lease_and_a_new_token_each_time)
{
	struct job_spec s = spec_for("default");
	enqueue_small(&s);
	struct job_claim c = claim_one(30000);
	cr_assert_str_eq(c.id, s.id);
	cr_assert_eq(c.token, 1);
	cr_assert_eq(c.attempts, 1);
	cr_assert_str_eq(c.request_id, "req-1");
	cr_assert_gt(c.deadline_ms, job_now_ms() + 500 * 1000);
	redisReply *r = redis_cmd("ZSCORE jobq:running %s", s.id);
	cr_assert_not_null(r->str, "no lease");
	freeReplyObject(r);
	struct job_claim none;
	cr_assert_eq(job_store_claim(st, "w", default_queue, 1, 30000, &none, 1), 0);
}

Test(store, finish_with_a_stale_token_is_refused)
{
	struct job_spec s = spec_for("default");
	enqueue_small(&s);
	struct job_claim c = claim_one(30000);
	struct job_claim stale = c;
	stale.token = c.token + 7;
	cr_assert_eq(job_store_finish(st, &stale, JOB_SUCCEEDED, "application/json", NULL, NULL,
				      1, 4, 60),
		     JOB_STORE_LOST);
	cr_assert_eq(job_store_progress(st, &stale, 1, 1, 30000), JOB_STORE_LOST);
	cr_assert_eq(job_store_result_append(st, &c, "{}", 2), JOB_STORE_OK);
	cr_assert_eq(job_store_finish(st, &c, JOB_SUCCEEDED, "application/json", NULL, NULL, 1, 4, 60),
		     JOB_STORE_OK);
	struct job_record rec;
	job_store_fetch(st, s.id, &rec);
	cr_assert_eq(rec.status, JOB_SUCCEEDED);
	cr_assert_eq(rec.result_bytes, 2);
	/* A second finish by the same attempt is refused: exactly once. */
	cr_assert_eq(job_store_finish(st, &c, JOB_FAILED, NULL, "x", "y", 1, 4, 60), JOB_STORE_LOST);
	job_store_fetch(st, s.id, &rec);
	cr_assert_eq(rec.status, JOB_SUCCEEDED);
}

Test(store, expired_lease_puts_the_job_back_and_fences_the_old_worker)
{
	struct job_spec s = spec_for("default");
	enqueue_small(&s);
	struct job_claim first = claim_one(1);
	sleep_ms(20);
	/* The next claim reaps the expired lease and hands the job out again. */
	struct job_claim second = claim_one(30000);
	cr_assert_str_eq(second.id, first.id);
	cr_assert_eq(second.token, first.token + 1);
	cr_assert_eq(second.attempts, 2);
	cr_assert_eq(job_store_progress(st, &first, 1, 1, 30000), JOB_STORE_LOST);
	cr_assert_eq(job_store_result_append(st, &first, "stale", 5), JOB_STORE_OK);
	cr_assert_eq(job_store_finish(st, &first, JOB_SUCCEEDED, "t", NULL, NULL, 1, 1, 60),
		     JOB_STORE_LOST);
	cr_assert_eq(job_store_result_append(st, &second, "fresh", 5), JOB_STORE_OK);
	cr_assert_eq(job_store_finish(st, &second, JOB_SUCCEEDED, "t", NULL, NULL, 1, 1, 60),
		     JOB_STORE_OK);
	char buf[16];
	size_t n;
	/* Written in pieces, a small result is a key: found behind the hash. */
	cr_assert_eq(job_store_read_result(st, s.id, 5, 0, buf, sizeof buf, &n), JOB_STORE_OK);
	cr_assert_eq(n, 5);
	cr_assert(memcmp(buf, "fresh", 5) == 0);
	cr_assert_eq(redis_count_keys("jobq:job:*:partial:*"), 0, "a partial result was left");
}

Test(store, renew_reports_each_job_and_flags_cancel_requests)
{
	struct job_spec a = spec_for("default"), b = spec_for("default");
	enqueue_small(&a);
	enqueue_small(&b);
	struct job_claim c[3];
	cr_assert_eq(job_store_claim(st, "w", default_queue, 1, 30000, c, 2), 2);
	c[2] = c[1];
	c[2].token = 99;
	redisReply *r = redis_cmd("HSET jobq:job:%s cancel_requested 1", c[1].id);
	freeReplyObject(r);
	enum job_store_status status[3];
	cr_assert_eq(job_store_renew(st, c, 3, 30000, status), JOB_STORE_OK);
	cr_assert_eq(status[0], JOB_STORE_OK);
	cr_assert_eq(status[1], JOB_STORE_CANCEL);
	cr_assert_eq(status[2], JOB_STORE_LOST);
}

Test(store, requeue_puts_the_job_first_in_line_without_counting_the_attempt)
{
	struct job_spec a = spec_for("default"), b = spec_for("default");
	enqueue_small(&a);
	enqueue_small(&b);
	struct job_claim c = claim_one(30000);
	cr_assert_str_eq(c.id, a.id);
	cr_assert_eq(job_store_requeue(st, &c), JOB_STORE_OK);
	struct job_claim again = claim_one(30000);
	cr_assert_str_eq(again.id, a.id, "the requeued job was not first in line");
	cr_assert_eq(again.attempts, 1);
}

Test(store, scripts_are_loaded_again_after_script_flush)
{
	struct job_spec s = spec_for("default");
	enqueue_small(&s);
	redisReply *r = redis_cmd("SCRIPT FLUSH");
	freeReplyObject(r);
	struct job_claim c = claim_one(30000);
	cr_assert_str_eq(c.id, s.id);
}

Test(store, claim_prefers_queues_in_the_order_given)
{
	struct job_spec low = spec_for("low"), high = spec_for("high");
	enqueue_small(&low);
	enqueue_small(&high);
	const char *const queues[] = {"high", "low"};
	struct job_claim c[2];
	cr_assert_eq(job_store_claim(st, "w", queues, 2, 30000, c, 2), 2);
	cr_assert_str_eq(c[0].id, high.id);
	cr_assert_str_eq(c[1].id, low.id);
}

Test(store, a_read_after_the_connection_was_killed_reconnects_at_once)
{
	cr_assert_eq(job_store_ping(st), JOB_STORE_OK);
	redisReply *r = redis_cmd("CLIENT KILL TYPE normal SKIPME yes");
	freeReplyObject(r);
	cr_assert_eq(job_store_ping(st), JOB_STORE_OK, "%s", job_store_errstr(st));
}

Test(store, a_dead_redis_is_reported_as_unavailable_not_hung)
{
	redisFree(harness.redis);
	harness.redis = NULL;
	kill(harness.redis_pid, SIGKILL);
	waitpid(harness.redis_pid, NULL, 0);
	harness.redis_pid = 0;
	long long t0 = monotonic_ms();
	cr_assert_eq(job_store_ping(st), JOB_STORE_EUNAVAILABLE);
	struct job_record rec;
	cr_assert_eq(job_store_fetch(st, "0123456789abcdef0123456789abcdef", &rec),
		     JOB_STORE_EUNAVAILABLE);
	cr_assert_lt(monotonic_ms() - t0, 5000);
}

Test(store, a_job_requeued_with_a_cancel_request_ends_cancelled_instead_of_running)
{
	struct job_spec s = spec_for("default");
	enqueue_small(&s);
	struct job_claim first = claim_one(1);
	redisReply *r = redis_cmd("HSET jobq:job:%s cancel_requested 1", first.id);
	freeReplyObject(r);
	sleep_ms(20);
	/* The claim reaps the expired lease, requeues the job, and then finds
	 * it cancelled on its way out of the queue. */
	struct job_claim c;
	cr_assert_eq(job_store_claim(st, "w", default_queue, 1, 30000, &c, 1), 0);
	struct job_record rec;
	cr_assert_eq(job_store_fetch(st, s.id, &rec), JOB_STORE_OK);
	cr_assert_eq(rec.status, JOB_CANCELLED);
	cr_assert_str_eq(rec.error_code, "cancelled");
	r = redis_cmd("TTL jobq:job:%s", s.id);
	cr_assert_gt(r->integer, 0, "a cancelled job must expire");
	freeReplyObject(r);
}

/* ---- Idempotency keys (enqueue.lua with a record to check) ---- */

Test(store, enqueue_with_a_recorded_idempotency_key_replays_or_mismatches)
{
	struct job_spec a = spec_for("default"), b = spec_for("default"), c = spec_for("default");
	struct job_store_idem idem = {"", "k", "h1", 3600, ""};

	cr_assert_eq(job_store_enqueue_idem(st, &a, "a\n1\n", 4, 0, &idem), JOB_STORE_OK);
	cr_assert_eq(job_store_stage_append(st, b.id, 0, "a\n", 2, 60), JOB_STORE_OK);
	cr_assert_eq(job_store_enqueue_idem(st, &b, "1\n", 2, 2, &idem), JOB_STORE_REPLAYED);
	cr_assert_str_eq(idem.job_id, a.id);
	assert_staging_left_then_discarded(b.id);

	idem.hash = "h2";
	cr_assert_eq(job_store_enqueue_idem(st, &c, "a\n2\n", 4, 0, &idem), JOB_STORE_MISMATCH);
	cr_assert_str_eq(idem.job_id, a.id);
	cr_assert_eq(redis_count_keys("jobq:job:????????????????????????????????"), 1);
	redisReply *r = redis_cmd("LLEN jobq:queue:default");
	cr_assert_eq(r->integer, 1, "%lld ids queued", r->integer);
	freeReplyObject(r);

	char id[JOB_ID_HEX + 1], hash[8];
	cr_assert_eq(job_store_idem_lookup(st, "", "k", id, hash, sizeof hash), JOB_STORE_OK);
	cr_assert_str_eq(id, a.id);
	cr_assert_str_eq(hash, "h1");
}

Test(store, an_idempotency_key_whose_job_is_gone_is_replaced)
{
	struct job_spec a = spec_for("default"), b = spec_for("default");
	struct job_store_idem idem = {"acme", "k", "h1", 3600, ""};
	char id[JOB_ID_HEX + 1], hash[8];

	cr_assert_eq(job_store_idem_lookup(st, "acme", "k", id, hash, sizeof hash), JOB_STORE_NOT_FOUND);
	cr_assert_eq(job_store_enqueue_idem(st, &a, "a\n1\n", 4, 0, &idem), JOB_STORE_OK);
	freeReplyObject(redis_cmd("DEL jobq:job:%s", a.id));
	cr_assert_eq(job_store_idem_lookup(st, "acme", "k", id, hash, sizeof hash), JOB_STORE_NOT_FOUND);

	idem.hash = "h2";
	cr_assert_eq(job_store_enqueue_idem(st, &b, "a\n1\n", 4, 0, &idem), JOB_STORE_OK);
	redisReply *r = redis_cmd("HGET jobq:idem:acme:k job");
	cr_assert_str_eq(r->str, b.id);
	freeReplyObject(r);
	r = redis_cmd("TTL jobq:idem:acme:k");
	cr_assert(r->integer > 0 && r->integer <= 3600, "TTL %lld", r->integer);
	freeReplyObject(r);
}

/* ---- Batches: enqueue.lua with many jobs in one call ----------------------
 * job_store_enqueue_batch must give each job the answer it would get from a
 * call of its own, in order: the depth limit refuses exactly the jobs
 * beyond it, an Idempotency-Key replays even against a job earlier in the
 * same batch, a staged job is renamed into its input, and a refused job
 * leaves nothing. */

/* open_store_with_limits replaces the suite's store with one whose queues
 * hold at most max_depth ids and whose inputs have at most max_input bytes
 * (as if Redis's proto-max-bulk-len); 0 means the default. */
static void open_store_with_limits(int64_t max_depth, uint64_t max_input)
{
	struct job_store_config cfg = {.url = harness.redis_url, .prefix = "jobq",
				       .timeout_ms = 2000, .max_queue_depth = max_depth,
				       .max_input = max_input};
	job_store_close(st);
	st = job_store_open(&cfg, NULL);
	cr_assert_not_null(st);
}

/* Each job's sentence from the last run_batch (job_store_enqueue_cmd_errstr). */
static char batch_err[16][256];

/* run_batch builds one command per spec (small, unstaged, keyed when
 * idem[i] is not NULL) and sends them as one batch into out, each job's
 * sentence into batch_err. */
static void run_batch(struct job_spec *specs, struct job_store_idem **idem, size_t n,
		      enum job_store_status *out)
{
	struct job_store_enqueue_cmd *cmds[16];

	cr_assert(n <= 16);
	for (size_t i = 0; i < n; i++) {
		cmds[i] = job_store_enqueue_cmd_new(st, &specs[i], "a\n1\n", 4, 0,
						    idem != NULL ? idem[i] : NULL);
		cr_assert_not_null(cmds[i]);
	}
	cr_assert_eq(job_store_enqueue_batch(st, cmds, n, out), n, "%s", job_store_errstr(st));
	for (size_t i = 0; i < n; i++) {
		snprintf(batch_err[i], sizeof batch_err[i], "%s",
			 job_store_enqueue_cmd_errstr(cmds[i]));
		job_store_enqueue_cmd_free(cmds[i]);
	}
}

/* queue_ids returns the ids of queue, in the order a worker takes them
 * (rightmost first). Free with freeReplyObject. */
static redisReply *queue_ids(const char *queue)
{
	redisReply *r = redis_cmd("LRANGE jobq:queue:%s 0 -1", queue);
	cr_assert_eq(r->type, REDIS_REPLY_ARRAY);
	return r;
}

Test(store, batch_jobs_are_queued_in_batch_order_with_one_wake_token_each)
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

Test(store, batch_the_depth_limit_refuses_exactly_the_jobs_beyond_it)
{
	struct job_spec s[5] = {spec_for("default"), spec_for("default"), spec_for("other"),
				spec_for("default"), spec_for("default")};
	enum job_store_status out[5];
	struct job_spec first = spec_for("default");

	open_store_with_limits(3, 0);
	cr_assert_eq(job_store_enqueue(st, &first, "a\n1\n", 4, 0), JOB_STORE_OK);
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
	cr_assert_eq(redis_count_keys("jobq:job:*"), 4, "a small input has a key");
}

Test(store, batch_keyed_and_plain_jobs_mix_and_a_key_repeated_in_the_batch_replays)
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
	cr_assert_eq(redis_count_keys("jobq:job:*"), 2, "a replay wrote a job");
}

Test(store, batch_a_staged_job_and_an_expired_one_in_a_batch_each_get_their_answer)
{
	struct job_spec small = spec_for("default"), staged = spec_for("default");
	struct job_spec expired = spec_for("default");
	struct job_store_enqueue_cmd *cmds[3];
	enum job_store_status out[3];

	cr_assert_eq(job_store_stage_append(st, staged.id, 0, "a\n1\n", 4, 60), JOB_STORE_OK);
	cmds[0] = job_store_enqueue_cmd_new(st, &small, "a\n1\n", 4, 0, NULL);
	cmds[1] = job_store_enqueue_cmd_new(st, &staged, "2\n", 2, 4, NULL);
	cmds[2] = job_store_enqueue_cmd_new(st, &expired, "3\n", 2, 2, NULL);
	cr_assert_eq(job_store_enqueue_batch(st, cmds, 3, out), 3);
	for (int i = 0; i < 3; i++)
		job_store_enqueue_cmd_free(cmds[i]);
	cr_assert_eq(out[0], JOB_STORE_OK);
	cr_assert_eq(out[1], JOB_STORE_OK);
	cr_assert_eq(out[2], JOB_STORE_NOT_FOUND);
	assert_staged_input(staged.id);
	char expired_keys[64];
	snprintf(expired_keys, sizeof expired_keys, "jobq:job:%s*", expired.id);
	cr_assert_eq(redis_count_keys(expired_keys), 0);
	redisReply *r = queue_ids("default");
	cr_assert_eq(r->elements, 2);
	freeReplyObject(r);
}

/* A large unstaged input is a key, written with SET NX after the hash's
 * guard: a stray key of that name refuses the job and takes the guard's
 * field back, so nothing of the job is left. */
Test(store, a_large_input_whose_key_is_taken_leaves_no_hash)
{
	struct job_spec s = spec_for("default");
	char big[JOB_CLAIM_INLINE + 2];
	memset(big, 'x', sizeof big - 1);
	big[sizeof big - 1] = '\0';
	freeReplyObject(redis_cmd("SET jobq:job:%s:input:0 old", s.id));
	cr_assert_eq(job_store_enqueue(st, &s, big, strlen(big), 0), JOB_STORE_EPROTO);
	redisReply *r = redis_cmd("GET jobq:job:%s:input:0", s.id);
	cr_assert_str_eq(r->str, "old");
	freeReplyObject(r);
	r = redis_cmd("EXISTS jobq:job:%s", s.id);
	cr_assert_eq(r->integer, 0, "the guard's field was left");
	freeReplyObject(r);
	cr_assert_eq(redis_count_keys("jobq:queue:*"), 0);

	/* The same input under a free id is a key, marked in the hash. */
	struct job_spec ok = spec_for("default");
	cr_assert_eq(job_store_enqueue(st, &ok, big, strlen(big), 0), JOB_STORE_OK);
	r = redis_cmd("HMGET jobq:job:%s input input_key", ok.id);
	cr_assert_eq(r->element[0]->type, REDIS_REPLY_NIL);
	cr_assert_str_eq(r->element[1]->str, "1");
	freeReplyObject(r);
	r = redis_cmd("STRLEN jobq:job:%s:input:0", ok.id);
	cr_assert_eq(r->integer, (long long)strlen(big));
	freeReplyObject(r);
}

Test(store, batch_a_taken_id_is_refused_without_touching_the_other_jobs)
{
	struct job_spec s[2] = {spec_for("default"), spec_for("default")};
	enum job_store_status out[2];

	/* The id guard is the hash: a small job's input has no key to collide. */
	freeReplyObject(redis_cmd("HSET jobq:job:%s status succeeded", s[0].id));
	run_batch(s, NULL, 2, out);
	cr_assert_eq(out[0], JOB_STORE_EPROTO);
	cr_assert(strstr(batch_err[0], "in use") != NULL, "%s", batch_err[0]);
	cr_assert_eq(out[1], JOB_STORE_OK);
	cr_assert_str_eq(batch_err[1], "", "the queued job carries another's failure");
	redisReply *r = redis_cmd("HGETALL jobq:job:%s", s[0].id);
	cr_assert_eq(r->elements, 2, "the taken job's hash was written");
	cr_assert_str_eq(r->element[1]->str, "succeeded");
	freeReplyObject(r);
	r = queue_ids("default");
	cr_assert_eq(r->elements, 1);
	cr_assert_str_eq(r->element[0]->str, s[1].id);
	freeReplyObject(r);
}

/* A job refused as it is written (its id taken) was never queued: a later
 * job of the batch with the same Idempotency-Key is not its replay, and
 * the depth limit does not count it. Each gets what its own call would. */
Test(store, batch_a_job_refused_as_taken_is_neither_replayed_nor_counted_by_later_jobs)
{
	struct job_spec s[3] = {spec_for("default"), spec_for("default"), spec_for("default")};
	struct job_store_idem k = {"", "k", "h1", 3600, ""}, again = {"", "k", "h1", 3600, ""};
	struct job_store_idem *idem[3] = {&k, &again, NULL};
	enum job_store_status out[3];

	open_store_with_limits(2, 0);
	freeReplyObject(redis_cmd("HSET jobq:job:%s status succeeded", s[0].id));
	run_batch(s, idem, 3, out);
	cr_assert_eq(out[0], JOB_STORE_EPROTO);
	cr_assert(strstr(batch_err[0], "in use") != NULL, "%s", batch_err[0]);
	cr_assert_eq(out[1], JOB_STORE_OK, "replayed as %s, a job never queued", again.job_id);
	cr_assert_eq(out[2], JOB_STORE_OK, "the taken job counted towards the depth");
	redisReply *r = redis_cmd("HGET jobq:idem:-:k job");
	cr_assert_str_eq(r->str, s[1].id);
	freeReplyObject(r);
	r = queue_ids("default");
	cr_assert_eq(r->elements, 2);
	cr_assert_str_eq(r->element[1]->str, s[1].id);
	cr_assert_str_eq(r->element[0]->str, s[2].id);
	freeReplyObject(r);
}

/* count_job_keys returns how many keys of job id exist (hash, input,
 * staging). */
static long count_job_keys(const char *id)
{
	char pattern[80];

	snprintf(pattern, sizeof pattern, "jobq:job:%.*s*", JOB_ID_HEX, id);
	return redis_count_keys(pattern);
}

Test(store, batch_a_job_past_the_string_limit_gets_its_own_answer_and_the_others_queue)
{
	struct job_spec a = spec_for("default"), big = spec_for("default");
	struct job_spec big_plain = spec_for("default"), c = spec_for("default");
	struct job_store_idem k = {"", "big", "h1", 3600, ""};
	struct job_store_enqueue_cmd *cmds[4];
	enum job_store_status out[4];

	open_store_with_limits(0, 8);
	/* 4 staged bytes plus a 6-byte tail: 10, past 8, as an APPEND past
	 * proto-max-bulk-len would fail. */
	cr_assert_eq(job_store_stage_append(st, big.id, 0, "a\n1\n", 4, 60), JOB_STORE_OK);
	cmds[0] = job_store_enqueue_cmd_new(st, &a, "a\n1\n", 4, 0, NULL);
	cmds[1] = job_store_enqueue_cmd_new(st, &big, "22222\n", 6, 4, &k);
	cmds[2] = job_store_enqueue_cmd_new(st, &big_plain, "a\n123456\n", 9, 0, NULL);
	cmds[3] = job_store_enqueue_cmd_new(st, &c, "a\n3\n", 4, 0, NULL);
	cr_assert_eq(job_store_enqueue_batch(st, cmds, 4, out), 4);
	cr_assert_eq(out[0], JOB_STORE_OK);
	cr_assert_eq(out[1], JOB_STORE_TOO_LARGE);
	cr_assert(strstr(job_store_enqueue_cmd_errstr(cmds[1]), "8 bytes when jobq-api started") != NULL, "%s",
		  job_store_enqueue_cmd_errstr(cmds[1]));
	cr_assert_eq(out[2], JOB_STORE_TOO_LARGE);
	cr_assert_eq(out[3], JOB_STORE_OK);
	cr_assert_str_eq(job_store_enqueue_cmd_errstr(cmds[3]), "");
	for (int i = 0; i < 4; i++)
		job_store_enqueue_cmd_free(cmds[i]);
	cr_assert_eq(count_job_keys(big.id), 0, "the refused job left a key");
	assert_staging_left_then_discarded(big.id);
	cr_assert_eq(count_job_keys(big_plain.id), 0);
	cr_assert_eq(redis_count_keys("jobq:idem:*"), 0, "a record names a job never queued");
	redisReply *r = queue_ids("default");
	cr_assert_eq(r->elements, 2);
	cr_assert_str_eq(r->element[1]->str, a.id);
	cr_assert_str_eq(r->element[0]->str, c.id);
	freeReplyObject(r);
}

/* The bytes stage_past_a_lowered_limit stages. */
#define STAGED_PAST ((uint64_t)1024 * 1024 - 2)

/* stage_past_a_lowered_limit stages 1 MiB less 2 bytes as job id's upload,
 * then lowers Redis's proto-max-bulk-len to 1 MiB, past which an APPEND of
 * its tail fails (the caller sets it back to 512mb). */
static void stage_past_a_lowered_limit(const char *id)
{
	size_t staged = STAGED_PAST;
	char *body = malloc(staged);

	cr_assert_not_null(body);
	memset(body, '1', staged);
	cr_assert_eq(job_store_stage_append(st, id, 0, body, staged, 60), JOB_STORE_OK);
	free(body);
	freeReplyObject(redis_cmd("CONFIG SET proto-max-bulk-len 1mb"));
}

/* The limit the store passes is what jobq-api read at its start; a Redis
 * whose proto-max-bulk-len was lowered since refuses the staged APPEND
 * mid-batch, after the first job was written. That costs the one job. */
Test(store, batch_an_append_redis_refuses_mid_batch_costs_only_its_job)
{
	struct job_spec a = spec_for("default"), big = spec_for("default");
	struct job_spec c = spec_for("default");
	struct job_store_enqueue_cmd *cmds[3];
	enum job_store_status out[3];

	stage_past_a_lowered_limit(big.id);
	cmds[0] = job_store_enqueue_cmd_new(st, &a, "a\n1\n", 4, 0, NULL);
	cmds[1] = job_store_enqueue_cmd_new(st, &big, "22222\n", 6, STAGED_PAST, NULL);
	cmds[2] = job_store_enqueue_cmd_new(st, &c, "a\n3\n", 4, 0, NULL);
	cr_assert_eq(job_store_enqueue_batch(st, cmds, 3, out), 3, "%s", job_store_errstr(st));
	freeReplyObject(redis_cmd("CONFIG SET proto-max-bulk-len 512mb"));
	cr_assert_eq(out[0], JOB_STORE_OK);
	cr_assert_eq(out[1], JOB_STORE_TOO_LARGE);
	cr_assert_eq(out[2], JOB_STORE_OK);
	for (int i = 0; i < 3; i++)
		job_store_enqueue_cmd_free(cmds[i]);
	cr_assert_eq(count_job_keys(big.id), 0, "the refused job left a key");
	assert_staging_left_then_discarded(big.id);
	redisReply *r = queue_ids("default");
	cr_assert_eq(r->elements, 2);
	cr_assert_str_eq(r->element[1]->str, a.id);
	cr_assert_str_eq(r->element[0]->str, c.id);
	freeReplyObject(r);
}

/* The same refusal, of a keyed job: the next job with its key is queued and
 * recorded (its own call would find no record), and a depth limit of one
 * still has room for it. */
Test(store, batch_an_append_refused_mid_batch_leaves_its_key_and_its_place_to_the_next_job)
{
	struct job_spec big = spec_for("default"), next = spec_for("default");
	struct job_store_idem k = {"", "k", "h1", 3600, ""}, again = {"", "k", "h1", 3600, ""};
	struct job_store_enqueue_cmd *cmds[2];
	enum job_store_status out[2];

	open_store_with_limits(1, 0);
	stage_past_a_lowered_limit(big.id);
	cmds[0] = job_store_enqueue_cmd_new(st, &big, "22222\n", 6, STAGED_PAST, &k);
	cmds[1] = job_store_enqueue_cmd_new(st, &next, "a\n3\n", 4, 0, &again);
	cr_assert_eq(job_store_enqueue_batch(st, cmds, 2, out), 2, "%s", job_store_errstr(st));
	freeReplyObject(redis_cmd("CONFIG SET proto-max-bulk-len 512mb"));
	for (int i = 0; i < 2; i++)
		job_store_enqueue_cmd_free(cmds[i]);
	cr_assert_eq(out[0], JOB_STORE_TOO_LARGE);
	cr_assert_eq(out[1], JOB_STORE_OK, "answered %d (%s), not queued", out[1], again.job_id);
	cr_assert_eq(count_job_keys(big.id), 0, "the refused job left a key");
	assert_staging_left_then_discarded(big.id);
	redisReply *r = redis_cmd("HGET jobq:idem:-:k job");
	cr_assert_eq(r->type, REDIS_REPLY_STRING, "no record for the queued job");
	cr_assert_str_eq(r->str, next.id);
	freeReplyObject(r);
	r = queue_ids("default");
	cr_assert_eq(r->elements, 1);
	cr_assert_str_eq(r->element[0]->str, next.id);
	freeReplyObject(r);
}

/* Only Redis's size refusal is a job's own 413: an OOM at the staged
 * APPEND (Redis reports it at a script's first write) fails the batch as it
 * comes, and the upload stays staged. (Redis also refuses the DEL that
 * would follow a caught OOM, so this outcome holds even without
 * enqueue.lua's check of the error text; the check states the intent.) */
Test(store, batch_an_append_refused_for_memory_fails_the_batch_and_keeps_the_upload)
{
	struct job_spec big = spec_for("default");
	struct job_store_enqueue_cmd *cmd;
	enum job_store_status out[1];

	cr_assert_eq(job_store_stage_append(st, big.id, 0, "a\n1\n", 4, 60), JOB_STORE_OK);
	freeReplyObject(redis_cmd("CONFIG SET maxmemory-policy noeviction"));
	freeReplyObject(redis_cmd("CONFIG SET maxmemory 1"));
	cmd = job_store_enqueue_cmd_new(st, &big, "2\n", 2, 4, NULL);
	cr_assert_not_null(cmd);
	size_t answered = job_store_enqueue_batch(st, &cmd, 1, out);
	freeReplyObject(redis_cmd("CONFIG SET maxmemory 0"));
	cr_assert(answered == 0 || out[0] != JOB_STORE_TOO_LARGE,
		  "an OOM was answered as too large");
	cr_assert(strstr(job_store_enqueue_cmd_errstr(cmd), "OOM") != NULL ||
		  strstr(job_store_errstr(st), "OOM") != NULL, "%s / %s",
		  job_store_enqueue_cmd_errstr(cmd), job_store_errstr(st));
	job_store_enqueue_cmd_free(cmd);
	cr_assert_eq(count_job_keys(big.id), 0, "a job was written");
	assert_staging_left_then_discarded(big.id);
}

/* The key of the wrong type each job of run_wrong_type_batch was told of
 * (job_store_enqueue_cmd_wrong_key), "" for none. */
static char batch_wrong_key[3][KEYS_MAX];

/* run_wrong_type_batch sends a batch of three: a keyed job on default, a
 * staged one on default and one on other, with each job's sentence into
 * batch_err and the key it names into batch_wrong_key. answered is how
 * many jobs Redis must answer one by one (0: the call failed whole). */
static void run_wrong_type_batch(struct job_spec *s, enum job_store_status *out, size_t answered)
{
	struct job_store_idem k = {"", "k", "h1", 3600, ""};
	struct job_store_enqueue_cmd *cmds[3];

	cr_assert_eq(job_store_stage_append(st, s[1].id, 0, "a\n1\n", 4, 60), JOB_STORE_OK);
	cmds[0] = job_store_enqueue_cmd_new(st, &s[0], "a\n1\n", 4, 0, &k);
	cmds[1] = job_store_enqueue_cmd_new(st, &s[1], "2\n", 2, 4, NULL);
	cmds[2] = job_store_enqueue_cmd_new(st, &s[2], "a\n1\n", 4, 0, NULL);
	cr_assert_eq(job_store_enqueue_batch(st, cmds, 3, out), answered);
	for (int i = 0; i < 3; i++) {
		snprintf(batch_err[i], sizeof batch_err[i], "%s",
			 job_store_enqueue_cmd_errstr(cmds[i]));
		job_store_enqueue_cmd_wrong_key(cmds[i], batch_wrong_key[i], KEYS_MAX);
		job_store_enqueue_cmd_free(cmds[i]);
	}
}

/* assert_wrong_type_writes_nothing puts a string at key, one the batch of
 * run_wrong_type_batch writes, sends that batch and checks that every job
 * got the batch's error naming key and that nothing was written: no job
 * key but job 1's staging key, no record, no queue entry or wake token. */
static void assert_wrong_type_writes_nothing(const char *key)
{
	struct job_spec s[3] = {spec_for("default"), spec_for("default"), spec_for("other")};
	enum job_store_status out[3];

	freeReplyObject(redis_cmd("SET %s planted-by-hand", key));
	run_wrong_type_batch(s, out, 0);
	for (size_t i = 0; i < 3; i++) {
		cr_assert_eq(out[i], JOB_STORE_EPROTO, "job %zu: %d", i, out[i]);
		cr_assert(strstr(batch_err[i], key) != NULL, "%s", batch_err[i]);
		cr_assert_str_eq(batch_wrong_key[i], key, "%s", batch_err[i]);
		cr_assert_eq(count_job_keys(s[i].id), 0, "job %zu left keys", i);
	}
	cr_assert_eq(redis_count_keys("jobq:staging:*"), 1, "the staged job's piece is gone");
	cr_assert_eq(redis_count_keys("jobq:idem:*"), strcmp(key, "jobq:idem:-:k") == 0,
		     "a record names a job never queued");
	cr_assert_eq(redis_count_keys("jobq:queue:default"), 0);
	cr_assert_eq(redis_count_keys("jobq:wake:default"), 0);
	cr_assert_eq(redis_count_keys("jobq:queues"), strcmp(key, "jobq:queues") == 0);
}

/* assert_wrong_queue_fails_its_jobs_only puts a string at key, one of
 * queue other's keys, sends run_wrong_type_batch's batch and checks that
 * only the job on other failed, with the key named and nothing of it
 * written, while the two jobs on default were queued as usual. */
static void assert_wrong_queue_fails_its_jobs_only(const char *key)
{
	struct job_spec s[3] = {spec_for("default"), spec_for("default"), spec_for("other")};
	enum job_store_status out[3];
	redisReply *r;

	freeReplyObject(redis_cmd("SET %s planted-by-hand", key));
	run_wrong_type_batch(s, out, 3);
	cr_assert_eq(out[0], JOB_STORE_OK, "%s", batch_err[0]);
	cr_assert_eq(out[1], JOB_STORE_OK, "%s", batch_err[1]);
	cr_assert_eq(out[2], JOB_STORE_EPROTO, "job 2: %d", out[2]);
	cr_assert(strstr(batch_err[2], key) != NULL, "%s", batch_err[2]);
	cr_assert_str_eq(batch_wrong_key[2], key, "%s", batch_err[2]);
	cr_assert_str_eq(batch_wrong_key[0], "");
	cr_assert_eq(count_job_keys(s[2].id), 0, "the refused job left keys");
	r = redis_cmd("LLEN jobq:queue:default");
	cr_assert_eq(r->integer, 2, "the jobs of the healthy queue were not queued");
	freeReplyObject(r);
	cr_assert_eq(redis_count_keys("jobq:idem:*"), 1);
	r = redis_cmd("TYPE %s", key);
	cr_assert_str_eq(r->str, "string", "the key put there by hand was touched");
	freeReplyObject(r);
}

Test(store, batch_a_queue_key_of_the_wrong_type_fails_that_queues_jobs_only)
{
	assert_wrong_queue_fails_its_jobs_only("jobq:queue:other");
}

Test(store, batch_a_queue_key_of_the_wrong_type_fails_that_queues_jobs_only_with_a_depth_limit)
{
	open_store_with_limits(100, 0);
	assert_wrong_queue_fails_its_jobs_only("jobq:queue:other");
}

Test(store, batch_a_wake_list_of_the_wrong_type_fails_that_queues_jobs_only)
{
	assert_wrong_queue_fails_its_jobs_only("jobq:wake:other");
}

Test(store, batch_the_queue_set_of_the_wrong_type_writes_nothing)
{
	assert_wrong_type_writes_nothing("jobq:queues");
}

Test(store, batch_a_record_of_the_wrong_type_writes_nothing)
{
	assert_wrong_type_writes_nothing("jobq:idem:-:k");
}

Test(store, batch_more_jobs_than_one_script_call_takes_are_all_answered)
{
	enum { N = 300 };
	static struct job_spec s[N];
	static struct job_store_enqueue_cmd *cmds[N];
	static enum job_store_status out[N];

	for (int i = 0; i < N; i++) {
		s[i] = spec_for("default");
		cmds[i] = job_store_enqueue_cmd_new(st, &s[i], "a\n1\n", 4, 0, NULL);
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

/* ---- The one-round-trip path (finish_next.lua) ---------------------------- */

/* two_small_jobs enqueues two small jobs, claims the first and returns its
 * claim; the second stays queued. */
static struct job_claim two_small_jobs(struct job_spec *first, struct job_spec *second)
{
	*first = spec_for("default");
	*second = spec_for("default");
	enqueue_small(first);
	cr_assert_eq(job_store_enqueue(st, second, "a\n2\n", 4, 0), JOB_STORE_OK);
	return claim_one(30000);
}

/* finish_next_req asks the finish to claim up to max jobs of "default"
 * (any jobs: no batch list). */
static struct job_store_claim_req finish_next_req(int max)
{
	return (struct job_store_claim_req){"test:1:abc", default_queue, 1, 30000, max, NULL, true};
}

/* finish_next finishes attempt c alone (the tail appended to what was
 * stored) with job_store_finish_batch and claims per req into next.
 * Returns the attempt's code, or the call's error. */
static enum job_store_status finish_next(const struct job_claim *c, const char *type,
					 const char *tail, const struct job_store_claim_req *req,
					 struct job_claim *next, int *claimed)
{
	struct job_store_done d = {.claim = c, .result_type = type, .tail = tail,
				   .tail_len = strlen(tail), .rows = 1, .bytes = 4};
	enum job_store_status code = JOB_STORE_EPROTO;
	enum job_store_status s = job_store_finish_batch(st, &d, 1, 60, req, &code, next, claimed);
	return s == JOB_STORE_OK ? code : s;
}

static void assert_status(const char *id, const char *want)
{
	redisReply *r = redis_cmd("HGET jobq:job:%s status", id);
	cr_assert_not_null(r->str);
	cr_assert_str_eq(r->str, want);
	freeReplyObject(r);
}

Test(store, a_small_input_comes_with_its_claim)
{
	struct job_spec s = spec_for("default");
	enqueue_small(&s);
	struct job_claim c = claim_one(30000);
	cr_assert(c.inlined);
	cr_assert_eq(c.bytes, 4);
	cr_assert_eq(memcmp(c.input, "a\n1\n", 4), 0);
}

Test(store, a_large_input_is_left_to_be_read_in_pieces)
{
	struct job_spec s = spec_for("default");
	char *body = malloc(JOB_CLAIM_INLINE + 1);
	cr_assert_not_null(body);
	memset(body, 'x', JOB_CLAIM_INLINE + 1);
	s.bytes = JOB_CLAIM_INLINE + 1;
	cr_assert_eq(job_store_enqueue(st, &s, body, JOB_CLAIM_INLINE + 1, 0), JOB_STORE_OK);
	free(body);
	struct job_claim c = claim_one(30000);
	cr_assert_not(c.inlined);
	cr_assert_eq(c.bytes, JOB_CLAIM_INLINE + 1);
}

Test(store, finish_next_stores_the_result_tail_finishes_and_claims_the_next_job)
{
	struct job_spec first, second;
	struct job_claim c = two_small_jobs(&first, &second), next;
	struct job_store_claim_req req = finish_next_req(1);
	int claimed = -1;
	cr_assert_eq(job_store_result_append(st, &c, "{\"x\":", 5), JOB_STORE_OK);
	cr_assert_eq(finish_next(&c, "application/json", "1}", &req, &next, &claimed),
		     JOB_STORE_OK, "%s", job_store_errstr(st));
	assert_status(first.id, "succeeded");
	redisReply *r = redis_cmd("GET jobq:job:%s:result", first.id);
	cr_assert_str_eq(r->str, "{\"x\":1}");
	freeReplyObject(r);
	cr_assert_eq(claimed, 1);
	cr_assert_str_eq(next.id, second.id);
	cr_assert(next.inlined);
	cr_assert_eq(memcmp(next.input, "a\n2\n", 4), 0);
	assert_status(second.id, "running");
	cr_assert_eq(redis_count_keys("jobq:job:*:partial:*"), 0);
}

Test(store, finish_next_claims_nothing_when_asked_for_none)
{
	struct job_spec first, second;
	struct job_claim c = two_small_jobs(&first, &second), next;
	struct job_store_claim_req req = finish_next_req(0);
	int claimed = -1;
	cr_assert_eq(finish_next(&c, "text/plain", "", &req, &next, &claimed), JOB_STORE_OK);
	cr_assert_eq(claimed, 0);
	assert_status(first.id, "succeeded");
	assert_status(second.id, "queued");
}

/* A stale attempt's finish changes nothing of its job, but its consumer is
 * free all the same: the claim half still hands it the next job. */
Test(store, finish_next_of_a_stale_attempt_changes_nothing_but_claims_the_next_job)
{
	struct job_spec first, second;
	struct job_claim c = two_small_jobs(&first, &second), next;
	struct job_store_claim_req req = finish_next_req(1);
	int claimed = -1;
	c.token += 7;
	cr_assert_eq(finish_next(&c, "text/plain", "stale", &req, &next, &claimed),
		     JOB_STORE_LOST);
	assert_status(first.id, "running");
	cr_assert_eq(redis_count_keys("jobq:job:*:partial:*"), 0);
	cr_assert_eq(redis_count_keys("jobq:job:*:result"), 0);
	cr_assert_eq(claimed, 1);
	cr_assert_str_eq(next.id, second.id);
	assert_status(second.id, "running");
}

Test(store, finish_next_does_not_start_a_job_whose_cancel_was_requested)
{
	struct job_spec first, second;
	struct job_claim c = two_small_jobs(&first, &second), next;
	struct job_store_claim_req req = finish_next_req(1);
	int claimed = -1;
	/* As claim.lua finds a job whose worker died after its cancel was
	 * requested: queued, with cancel_requested set. */
	freeReplyObject(redis_cmd("HSET jobq:job:%s cancel_requested 1", second.id));
	cr_assert_eq(finish_next(&c, "text/plain", "", &req, &next, &claimed), JOB_STORE_OK);
	cr_assert_eq(claimed, 0);
	assert_status(second.id, "cancelled");
}

/* ---- Batches: several attempts finished in one call ------------------------ */

/* batch_of enqueues n small profile jobs (inputs "a\n<i>\n") into specs. */
static void batch_of(struct job_spec *specs, int n)
{
	for (int i = 0; i < n; i++) {
		char body[8];
		specs[i] = spec_for("default");
		snprintf(body, sizeof body, "a\n%d\n", i % 10);
		cr_assert_eq(job_store_enqueue(st, &specs[i], body, 4, 0), JOB_STORE_OK);
	}
}

/* batch_req asks for up to max jobs as a consumer's batch: after the first,
 * only small jobs of the built-in tasks. */
static struct job_store_claim_req batch_req(int max)
{
	return (struct job_store_claim_req){"test:1:abc", default_queue, 1, 30000, max,
					    ",profile,ndjson,", true};
}

/* A consumer's report reaps expired leases only when it asks to (at most
 * every WORKER_HOUSEKEEP_MS); the one that asks reaps them. */
Test(store, a_report_reaps_expired_leases_only_when_it_housekeeps)
{
	struct job_spec s = spec_for("default");
	enqueue_small(&s);
	struct job_claim first = claim_one(1), next;
	sleep_ms(20);
	struct job_store_claim_req req = batch_req(1);
	enum job_store_status codes[1];
	int claimed = -1;
	req.housekeep = false;
	cr_assert_eq(job_store_finish_batch(st, NULL, 0, 60, &req, codes, &next, &claimed),
		     JOB_STORE_OK);
	cr_assert_eq(claimed, 0, "a report that does not housekeep reaped a lease");
	assert_status(s.id, "running");
	req.housekeep = true;
	cr_assert_eq(job_store_finish_batch(st, NULL, 0, 60, &req, codes, &next, &claimed),
		     JOB_STORE_OK);
	cr_assert_eq(claimed, 1, "the housekeeping report did not reap the lease");
	cr_assert_str_eq(next.id, first.id);
	cr_assert_eq(next.token, first.token + 1);
}

/* done_whole describes attempt c as succeeded with tail as its whole result. */
static struct job_store_done done_whole(const struct job_claim *c, const char *tail)
{
	return (struct job_store_done){.claim = c, .result_type = "text/plain", .tail = tail,
				       .tail_len = strlen(tail), .whole = true, .rows = 1,
				       .bytes = 4};
}

/* finish_batch_ok finishes the n attempts d in one call, claiming up to max
 * jobs as a batch into next; asserts the call succeeded and returns how
 * many it claimed. */
static int finish_batch_ok(const struct job_store_done *d, size_t n, int max,
			   enum job_store_status *codes, struct job_claim *next)
{
	struct job_store_claim_req req = batch_req(max);
	int claimed = -1;
	cr_assert_eq(job_store_finish_batch(st, d, n, 60, &req, codes, next, &claimed),
		     JOB_STORE_OK, "%s", job_store_errstr(st));
	return claimed;
}

static long long hget_int(const char *key, const char *field)
{
	redisReply *r = redis_cmd("HGET %s %s", key, field);
	long long v = r->str ? atoll(r->str) : 0;
	freeReplyObject(r);
	return v;
}

Test(store, a_batch_claim_takes_several_small_jobs_in_queue_order)
{
	struct job_spec s[4];
	struct job_claim c[4];
	batch_of(s, 4);
	cr_assert_eq(finish_batch_ok(NULL, 0, 3, NULL, c), 3);
	for (int i = 0; i < 3; i++) {
		cr_assert_str_eq(c[i].id, s[i].id);
		cr_assert(c[i].inlined);
		cr_assert_eq(c[i].token, 1);
		cr_assert_eq(c[i].attempts, 1);
		assert_status(s[i].id, "running");
	}
	assert_status(s[3].id, "queued");
	redisReply *r = redis_cmd("ZCARD jobq:running");
	cr_assert_eq(r->integer, 3);
	freeReplyObject(r);
}

/* assert_result checks job id's result through job_store_read_result, and
 * where it lives: the hash's field result when stored whole (then
 * inlined), else its key; either way with the job's TTL. */
static void assert_result(const char *id, const char *want, bool inlined)
{
	char buf[64];
	size_t n;
	cr_assert_eq(job_store_read_result(st, id, strlen(want), 0, buf, sizeof buf, &n),
		     JOB_STORE_OK);
	cr_assert_eq(n, strlen(want));
	cr_assert_eq(memcmp(buf, want, n), 0);
	redisReply *r = redis_cmd("HEXISTS jobq:job:%s result", id);
	cr_assert_eq(r->integer, inlined, "result in the hash: %lld", r->integer);
	freeReplyObject(r);
	r = redis_cmd("TTL jobq:job:%s%s", id, inlined ? "" : ":result");
	cr_assert(r->integer > 0 && r->integer <= 60, "TTL %lld", r->integer);
	freeReplyObject(r);
	r = redis_cmd("EXISTS jobq:job:%s:result", id);
	cr_assert_eq(r->integer, !inlined, "result key: %lld", r->integer);
	freeReplyObject(r);
}

Test(store, a_whole_result_larger_than_the_inline_limit_is_a_key_with_the_ttl)
{
	struct job_spec s[2];
	struct job_claim c[2];
	static char big[JOB_RESULT_INLINE + 2], edge[JOB_RESULT_INLINE + 1];
	memset(big, 'b', sizeof big - 1);
	memset(edge, 'e', sizeof edge - 1);
	batch_of(s, 2);
	cr_assert_eq(job_store_claim(st, "test:1:abc", default_queue, 1, 30000, c, 2), 2);
	struct job_store_done d[2] = {done_whole(&c[0], big), done_whole(&c[1], edge)};
	enum job_store_status codes[2];
	cr_assert_eq(finish_batch_ok(d, 2, 0, codes, NULL), 0);
	cr_assert_eq(codes[0], JOB_STORE_OK);
	cr_assert_eq(codes[1], JOB_STORE_OK);
	redisReply *r = redis_cmd("STRLEN jobq:job:%s:result", s[0].id);
	cr_assert_eq(r->integer, JOB_RESULT_INLINE + 1, "the large result is not a key");
	freeReplyObject(r);
	r = redis_cmd("TTL jobq:job:%s:result", s[0].id);
	cr_assert(r->integer > 0 && r->integer <= 60, "TTL %lld", r->integer);
	freeReplyObject(r);
	r = redis_cmd("HSTRLEN jobq:job:%s result", s[1].id);
	cr_assert_eq(r->integer, JOB_RESULT_INLINE, "a result of the limit is not in the hash");
	freeReplyObject(r);
	char buf[JOB_RESULT_INLINE + 2];
	size_t n;
	cr_assert_eq(job_store_read_result(st, s[0].id, JOB_RESULT_INLINE + 1, 0, buf, sizeof buf, &n),
		     JOB_STORE_OK);
	cr_assert_eq(n, JOB_RESULT_INLINE + 1);
	/* Read in pieces from an offset, as the API streams it. */
	cr_assert_eq(job_store_read_result(st, s[1].id, JOB_RESULT_INLINE, 4000, buf, 1000, &n),
		     JOB_STORE_OK);
	cr_assert_eq(n, JOB_RESULT_INLINE - 4000);
	cr_assert_eq(buf[0], 'e');
}

Test(store, several_attempts_are_finished_in_one_call_and_counted_once_each)
{
	struct job_spec s[3];
	struct job_claim c[3];
	batch_of(s, 3);
	cr_assert_eq(job_store_claim(st, "test:1:abc", default_queue, 1, 30000, c, 3), 3);
	struct job_store_done d[3] = {done_whole(&c[0], "r0"), done_whole(&c[1], "r1"),
				      done_whole(&c[2], "")};
	/* The third stored a piece before: its tail is appended to that. */
	cr_assert_eq(job_store_result_append(st, &c[2], "piece", 5), JOB_STORE_OK);
	d[2].tail = "+end";
	d[2].tail_len = 4;
	d[2].whole = false;
	enum job_store_status codes[3];
	cr_assert_eq(finish_batch_ok(d, 3, 0, codes, NULL), 0);
	const char *want[] = {"r0", "r1", "piece+end"};
	for (int i = 0; i < 3; i++) {
		cr_assert_eq(codes[i], JOB_STORE_OK);
		assert_status(s[i].id, "succeeded");
		assert_result(s[i].id, want[i], i < 2);
		redisReply *r;
		r = redis_cmd("HGET jobq:job:%s result_bytes", s[i].id);
		cr_assert_eq(atoll(r->str), (long long)strlen(want[i]));
		freeReplyObject(r);
	}
	cr_assert_eq(hget_int("jobq:metrics:finished", "profile|succeeded"), 3);
	cr_assert_eq(hget_int("jobq:metrics:duration", "profile|count"), 3);
	redisReply *r = redis_cmd("ZCARD jobq:running");
	cr_assert_eq(r->integer, 0);
	freeReplyObject(r);
	cr_assert_eq(redis_count_keys("jobq:job:*:partial:*"), 0);
}

/* A batch's success is counted under the task its claim named, with the
 * run time the worker measured from its claim (claimed_ms): finish_next.lua
 * reads neither task nor started_at from the hash. */
Test(store, a_batch_success_counts_the_claims_task_and_run_time)
{
	struct job_spec s[1];
	struct job_claim c[1];
	batch_of(s, 1);
	int64_t before = job_now_ms();
	cr_assert_eq(job_store_claim(st, "test:1:abc", default_queue, 1, 30000, c, 1), 1);
	cr_assert(c[0].claimed_ms >= before && c[0].claimed_ms <= job_now_ms());
	redisReply *r = redis_cmd("HDEL jobq:job:%s task started_at", s[0].id);
	freeReplyObject(r);
	c[0].claimed_ms -= 1500; /* as if it had run for 1.5 s */
	struct job_store_done d[1] = {done_whole(&c[0], "r0")};
	enum job_store_status codes[1];
	cr_assert_eq(finish_batch_ok(d, 1, 0, codes, NULL), 0);
	cr_assert_eq(codes[0], JOB_STORE_OK);
	cr_assert_eq(hget_int("jobq:metrics:finished", "profile|succeeded"), 1);
	cr_assert_eq(hget_int("jobq:metrics:duration", "profile|count"), 1);
	long long ms = hget_int("jobq:metrics:duration", "profile|sum_ms");
	cr_assert(ms >= 1500 && ms < 1500 + 10000, "sum_ms %lld", ms);
}

/* One attempt in the batch lost its job to another attempt: only it is
 * refused; the others finish and the next batch is claimed all the same. */
Test(store, one_stale_token_in_a_batch_does_not_spoil_the_others)
{
	struct job_spec s[4];
	struct job_claim c[3], next[2];
	batch_of(s, 4);
	cr_assert_eq(job_store_claim(st, "test:1:abc", default_queue, 1, 30000, c, 3), 3);
	struct job_store_done d[3] = {done_whole(&c[0], "r0"), done_whole(&c[1], "stale"),
				      done_whole(&c[2], "r2")};
	freeReplyObject(redis_cmd("HINCRBY jobq:job:%s token 1", s[1].id)); /* a newer attempt */
	enum job_store_status codes[3];
	int claimed = finish_batch_ok(d, 3, 2, codes, next);
	cr_assert_eq(codes[0], JOB_STORE_OK);
	cr_assert_eq(codes[1], JOB_STORE_LOST);
	cr_assert_eq(codes[2], JOB_STORE_OK);
	assert_status(s[0].id, "succeeded");
	assert_status(s[1].id, "running");
	assert_status(s[2].id, "succeeded");
	redisReply *r = redis_cmd("EXISTS jobq:job:%s:result", s[1].id);
	cr_assert_eq(r->integer, 0);
	freeReplyObject(r);
	r = redis_cmd("ZSCORE jobq:running %s", s[1].id);
	cr_assert_not_null(r->str, "the newer attempt keeps its lease");
	freeReplyObject(r);
	cr_assert_eq(hget_int("jobq:metrics:finished", "profile|succeeded"), 2);
	cr_assert_eq(claimed, 1);
	cr_assert_str_eq(next[0].id, s[3].id);
}

/* A cancel of one job of a batch: the API's cancel flags it while it is
 * held; the consumer reports it cancelled on its own, and the rest of the
 * batch finishes as succeeded. */
Test(store, a_cancel_of_one_job_in_a_batch_leaves_the_others_alone)
{
	struct job_spec s[3];
	struct job_claim c[3];
	struct job_record rec;
	batch_of(s, 3);
	cr_assert_eq(job_store_claim(st, "test:1:abc", default_queue, 1, 30000, c, 3), 3);
	cr_assert_eq(job_store_cancel(st, s[1].id, 60, "cancelled by test", "", &rec),
		     JOB_STORE_CANCEL);
	cr_assert_eq(job_store_finish(st, &c[1], JOB_CANCELLED, "", "cancelled",
				      "the job was cancelled", 0, 0, 60),
		     JOB_STORE_OK);
	struct job_store_done d[2] = {done_whole(&c[0], "r0"), done_whole(&c[2], "r2")};
	enum job_store_status codes[2];
	cr_assert_eq(finish_batch_ok(d, 2, 0, codes, NULL), 0);
	cr_assert_eq(codes[0], JOB_STORE_OK);
	cr_assert_eq(codes[1], JOB_STORE_OK);
	assert_status(s[0].id, "succeeded");
	assert_status(s[1].id, "cancelled");
	assert_status(s[2].id, "succeeded");
	cr_assert_eq(hget_int("jobq:metrics:finished", "profile|succeeded"), 2);
	cr_assert_eq(hget_int("jobq:metrics:finished", "profile|cancelled"), 1);
}

/* running_with_cancel_requested enqueues a small job of max_attempts
 * attempts, claims it with a lease of lease_ms and requests its cancel
 * (answered CANCEL: it is running). Returns the claim; its id is the
 * job's. */
static struct job_claim running_with_cancel_requested(int max_attempts, int lease_ms)
{
	struct job_spec s = spec_for("default");
	struct job_record rec;
	s.max_attempts = max_attempts;
	enqueue_small(&s);
	struct job_claim c = claim_one(lease_ms);
	cr_assert_eq(job_store_cancel(st, s.id, 60, "cancelled by test", "", &rec),
		     JOB_STORE_CANCEL);
	return c;
}

/* assert_cancelled_without_result checks that job id ended as a cancelled
 * attempt ends it: status cancelled, error "cancelled", the progress the
 * attempt reported, no result in the hash or in keys, off {p}:running, and
 * a TTL of at most 60 s. */
static void assert_cancelled_without_result(const char *id, long long rows)
{
	char key[80];
	snprintf(key, sizeof key, "jobq:job:%s", id);
	assert_status(id, "cancelled");
	redisReply *r = redis_cmd("HMGET %s error_code error_message result result_type", key);
	cr_assert_str_eq(r->element[0]->str, "cancelled");
	cr_assert_str_eq(r->element[1]->str, "the job was cancelled");
	cr_assert_eq(r->element[2]->type, REDIS_REPLY_NIL, "a cancelled job kept its result");
	cr_assert_eq(r->element[3]->type, REDIS_REPLY_NIL, "a cancelled job has a result type");
	freeReplyObject(r);
	cr_assert_eq(hget_int(key, "progress_rows"), rows);
	cr_assert(hget_int(key, "finished_at") > 0);
	cr_assert_eq(redis_count_keys("jobq:job:*:result"), 0, "a result key was stored");
	cr_assert_eq(redis_count_keys("jobq:job:*:partial:*"), 0, "a partial result was left");
	r = redis_cmd("ZSCORE jobq:running %s", id);
	cr_assert_eq(r->type, REDIS_REPLY_NIL, "the cancelled job is still in jobq:running");
	freeReplyObject(r);
	long long ttl = ttl_of("TTL jobq:job:%s", id);
	cr_assert(ttl > 0 && ttl <= 60, "hash TTL %lld", ttl);
}

/* A DELETE answered 202 (cancel requested) whose pub/sub message the
 * worker missed (it came before the job was in its registry) still ends
 * the job cancelled: the success report reads the flag and ends the job
 * as a cancelled attempt, dropping its result, answering CANCEL. */
Test(store, a_success_reported_after_a_cancel_request_ends_the_job_cancelled)
{
	struct job_claim c = running_with_cancel_requested(3, 30000);
	/* Round 1 is the same report sent again (its reply was lost, its last
	 * piece of result sent again too): it answers the same, deletes that
	 * piece and changes nothing else. */
	for (int round = 0; round < 2; round++) {
		cr_assert_eq(job_store_result_append(st, &c, "{}", 2), JOB_STORE_OK);
		cr_assert_eq(job_store_finish(st, &c, JOB_SUCCEEDED, "application/json", NULL, NULL,
					      1, 4, 60),
			     JOB_STORE_CANCEL, "round %d", round);
		assert_cancelled_without_result(c.id, 1);
		cr_assert_eq(hget_int("jobq:metrics:finished", "profile|cancelled"), 1);
		cr_assert_eq(hget_int("jobq:metrics:finished", "profile|succeeded"), 0);
		cr_assert_eq(hget_int("jobq:metrics:duration", "profile|count"), 1);
	}
}

/* The same in a batch report (finish_next.lua): the job whose cancel was
 * requested while it was held ends cancelled, answered CANCEL; the others
 * succeed; a stale token is still refused, cancel or not. */
Test(store, a_batch_report_ends_a_job_with_a_cancel_request_cancelled)
{
	struct job_spec s[3];
	struct job_claim c[3];
	struct job_record rec;
	batch_of(s, 3);
	cr_assert_eq(job_store_claim(st, "test:1:abc", default_queue, 1, 30000, c, 3), 3);
	for (int i = 1; i < 3; i++)
		cr_assert_eq(job_store_cancel(st, s[i].id, 60, "cancelled by test", "", &rec),
			     JOB_STORE_CANCEL);
	freeReplyObject(redis_cmd("HINCRBY jobq:job:%s token 1", s[2].id)); /* a newer attempt */
	struct job_store_done d[3] = {done_whole(&c[0], "r0"), done_whole(&c[1], "r1"),
				      done_whole(&c[2], "r2")};
	enum job_store_status codes[3];
	for (int round = 0; round < 2; round++) {
		cr_assert_eq(finish_batch_ok(d, 3, 0, codes, NULL), 0);
		cr_assert_eq(codes[0], JOB_STORE_OK, "round %d", round);
		cr_assert_eq(codes[1], JOB_STORE_CANCEL, "round %d", round);
		cr_assert_eq(codes[2], JOB_STORE_LOST, "round %d", round);
	}
	assert_status(s[0].id, "succeeded");
	assert_status(s[2].id, "running");
	assert_cancelled_without_result(s[1].id, 1);
	cr_assert_eq(hget_int("jobq:metrics:finished", "profile|succeeded"), 1);
	cr_assert_eq(hget_int("jobq:metrics:finished", "profile|cancelled"), 1);
}

/* After its first job a batch takes only small jobs of the listed tasks:
 * the first other one, and those behind it, stay at the head of the queue
 * in their order. */
Test(store, a_batch_claim_stops_before_a_job_that_is_not_small)
{
	struct job_spec s[4];
	struct job_claim c[4];
	batch_of(s, 1);
	s[1] = spec_for("default");
	snprintf(s[1].task, sizeof s[1].task, "sleepy"); /* not a built-in task */
	cr_assert_eq(job_store_enqueue(st, &s[1], "a\n1\n", 4, 0), JOB_STORE_OK);
	batch_of(&s[2], 2);
	cr_assert_eq(finish_batch_ok(NULL, 0, 4, NULL, c), 1);
	cr_assert_str_eq(c[0].id, s[0].id);
	assert_status(s[1].id, "queued");
	redisReply *r = redis_cmd("LRANGE jobq:queue:default 0 -1");
	cr_assert_eq(r->elements, 3);
	cr_assert_str_eq(r->element[2]->str, s[1].id, "the next job out is the one put back");
	cr_assert_str_eq(r->element[1]->str, s[2].id);
	cr_assert_str_eq(r->element[0]->str, s[3].id);
	freeReplyObject(r);
	/* A batch's first job that could not join a batch is claimed alone:
	 * the small jobs behind it stay queued for other consumers. */
	cr_assert_eq(finish_batch_ok(NULL, 0, 4, NULL, c), 1);
	cr_assert_str_eq(c[0].id, s[1].id);
	assert_status(s[2].id, "queued");
	cr_assert_eq(finish_batch_ok(NULL, 0, 4, NULL, c), 2);
	cr_assert_str_eq(c[0].id, s[2].id);
	cr_assert_str_eq(c[1].id, s[3].id);
}

/* A large job at the head of the queue is claimed alone, and the small
 * jobs behind it stay at the head of the queue in their order, unleased:
 * a long job never holds small ones that another consumer could run. */
Test(store, a_batch_whose_first_job_is_large_claims_it_alone)
{
	struct job_spec s[3];
	struct job_claim c[4];
	size_t big = JOB_CLAIM_INLINE + 1;
	char *input = malloc(big);
	cr_assert_not_null(input);
	memset(input, 'x', big);
	input[big - 1] = '\n';
	s[0] = spec_for("default");
	s[0].bytes = big;
	cr_assert_eq(job_store_enqueue(st, &s[0], input, big, 0), JOB_STORE_OK);
	free(input);
	batch_of(&s[1], 2);
	cr_assert_eq(finish_batch_ok(NULL, 0, 4, NULL, c), 1);
	cr_assert_str_eq(c[0].id, s[0].id);
	cr_assert_not(c[0].inlined);
	assert_status(s[0].id, "running");
	for (int i = 1; i < 3; i++) {
		char key[80];
		snprintf(key, sizeof key, "jobq:job:%s", s[i].id);
		assert_status(s[i].id, "queued");
		cr_assert_eq(hget_int(key, "attempts"), 0, "no attempt used by a job not claimed");
	}
	redisReply *r = queue_ids("default");
	cr_assert_eq(r->elements, 2);
	cr_assert_str_eq(r->element[1]->str, s[1].id, "the next job out is the first small one");
	cr_assert_str_eq(r->element[0]->str, s[2].id);
	freeReplyObject(r);
	r = redis_cmd("ZCARD jobq:running");
	cr_assert_eq(r->integer, 1);
	freeReplyObject(r);
}

/* A batch report sent again after its reply was lost (the worker retries
 * on a timeout) answers OK again for the successes it stored, and counts
 * them once: the retry reports the truth, not "lease lost". */
Test(store, a_batch_report_sent_again_answers_ok_and_counts_once)
{
	struct job_spec s[2];
	struct job_claim c[2];
	batch_of(s, 2);
	cr_assert_eq(job_store_claim(st, "test:1:abc", default_queue, 1, 30000, c, 2), 2);
	struct job_store_done d[2] = {done_whole(&c[0], "r0"), done_whole(&c[1], "r1")};
	enum job_store_status codes[2];
	for (int round = 0; round < 2; round++) {
		cr_assert_eq(finish_batch_ok(d, 2, 0, codes, NULL), 0);
		cr_assert_eq(codes[0], JOB_STORE_OK, "round %d", round);
		cr_assert_eq(codes[1], JOB_STORE_OK, "round %d", round);
	}
	for (int i = 0; i < 2; i++)
		assert_status(s[i].id, "succeeded");
	cr_assert_eq(hget_int("jobq:metrics:finished", "profile|succeeded"), 2);
	cr_assert_eq(hget_int("jobq:metrics:duration", "profile|count"), 2);
	redisReply *r = redis_cmd("HGET jobq:job:%s result", s[1].id);
	cr_assert_str_eq(r->str, "r1");
	freeReplyObject(r);
	/* A failure or cancel by the same attempt after its success is still
	 * refused: only the very same end is a repeat. */
	cr_assert_eq(job_store_finish(st, &c[0], JOB_FAILED, NULL, "x", "y", 1, 4, 60),
		     JOB_STORE_LOST);
	assert_status(s[0].id, "succeeded");
}

/* A call with more arguments than one script call holds is refused with
 * EPROTO, not sent with some of them dropped. */
Test(store, a_claim_naming_more_queues_than_a_call_holds_is_refused)
{
	enum { NQ = 200 };
	const char *queues[NQ];
	struct job_spec s[1];
	struct job_claim c[1];
	for (int i = 0; i < NQ; i++)
		queues[i] = "default";
	batch_of(s, 1);
	cr_assert_eq(job_store_claim(st, "test:1:abc", queues, NQ, 30000, c, 1),
		     JOB_STORE_EPROTO);
	cr_assert(strstr(job_store_errstr(st), "arguments") != NULL, "%s", job_store_errstr(st));
	assert_status(s[0].id, "queued");
}

/* The errors list of an earlier attempt gets the job's TTL when a later
 * attempt succeeds (only attempts after the first can have one). */
Test(store, a_later_attempt_that_succeeds_puts_the_ttl_on_the_errors_list)
{
	struct job_spec s[1];
	struct job_claim c[1];
	bool scheduled = false;
	batch_of(s, 1);
	*c = claim_one(30000);
	cr_assert_eq(job_store_fail(st, c, "task_failed", "boom", 0, 0, 0, 60, &scheduled),
		     JOB_STORE_OK);
	cr_assert(scheduled);
	*c = claim_one(30000);
	cr_assert_eq(c->token, 2);
	struct job_store_done d = done_whole(c, "ok");
	enum job_store_status code;
	cr_assert_eq(finish_batch_ok(&d, 1, 0, &code, NULL), 0);
	cr_assert_eq(code, JOB_STORE_OK);
	redisReply *r = redis_cmd("TTL jobq:job:%s:errors", s[0].id);
	cr_assert(r->integer > 0 && r->integer <= 60, "TTL %lld", r->integer);
	freeReplyObject(r);
	r = redis_cmd("HMGET jobq:job:%s error_code error_message", s[0].id);
	cr_assert_str_eq(r->element[0]->str, "", "the earlier attempt's error was kept");
	cr_assert_str_eq(r->element[1]->str, "");
	freeReplyObject(r);
}

/* A first attempt has no earlier error to clear and no errors list, and a
 * claim leaves finished_at unset, as a queued job has it: a job that
 * succeeds at once reads with no error and its finish time only. */
Test(store, a_first_attempt_that_succeeds_writes_no_error_fields)
{
	struct job_spec s[1];
	struct job_claim c[1];
	struct job_record rec;
	batch_of(s, 1);
	*c = claim_one(30000);
	cr_assert_eq(c->token, 1);
	redisReply *r = redis_cmd("HEXISTS jobq:job:%s finished_at", s[0].id);
	cr_assert_eq(r->integer, 0, "a claim wrote finished_at");
	freeReplyObject(r);
	cr_assert_eq(job_store_fetch(st, s[0].id, &rec), JOB_STORE_OK);
	cr_assert_eq(rec.finished_at_ms, 0);
	struct job_store_done d = done_whole(c, "ok");
	enum job_store_status code;
	cr_assert_eq(finish_batch_ok(&d, 1, 0, &code, NULL), 0);
	cr_assert_eq(code, JOB_STORE_OK);
	r = redis_cmd("HMGET jobq:job:%s error_code error_message result", s[0].id);
	cr_assert_eq(r->element[0]->type, REDIS_REPLY_NIL);
	cr_assert_eq(r->element[1]->type, REDIS_REPLY_NIL);
	cr_assert_str_eq(r->element[2]->str, "ok");
	freeReplyObject(r);
	cr_assert_eq(job_store_fetch(st, s[0].id, &rec), JOB_STORE_OK);
	cr_assert_str_eq(rec.error_code, "");
	cr_assert(rec.finished_at_ms > 0);
}

/* After a mass failure, one housekeeping claim promotes up to 256 due
 * retries and reaps up to 64 expired leases (lib/claim_jobs.lua), so a
 * backlog drains in a few calls rather than 16 at a time. */
Test(store, one_housekeeping_claim_promotes_256_retries_and_reaps_64_leases)
{
	for (int i = 0; i < 300; i++) {
		freeReplyObject(redis_cmd("HSET jobq:job:s%d status queued queue default task profile", i));
		freeReplyObject(redis_cmd("ZADD jobq:scheduled %d s%d", 1000 + i, i));
	}
	for (int i = 0; i < 100; i++) {
		freeReplyObject(redis_cmd("HSET jobq:job:r%d status running queue other attempts 1 "
					  "max_attempts 3 token 1 task profile", i));
		freeReplyObject(redis_cmd("ZADD jobq:running %d r%d", 1000 + i, i));
	}
	const char *const none[] = {"none"};
	struct job_store_claim_req req = {.worker_id = "test:1:abc", .queues = none, .nqueues = 1,
					  .lease_ms = 30000, .max = 1, .housekeep = true};
	struct job_claim c;
	cr_assert_eq(job_store_claim_with(st, &req, &c), 0, "%s", job_store_errstr(st));
	redisReply *r = redis_cmd("ZCARD jobq:scheduled");
	cr_assert_eq(r->integer, 300 - 256, "due retries left scheduled");
	freeReplyObject(r);
	r = redis_cmd("LLEN jobq:queue:default");
	cr_assert_eq(r->integer, 256, "retries promoted");
	freeReplyObject(r);
	r = redis_cmd("LLEN jobq:queue:other");
	cr_assert_eq(r->integer, 64, "expired leases put back");
	freeReplyObject(r);
}

/* cancel_source returns the embedded text of cancel.lua. */
static const char *cancel_source(void)
{
	for (unsigned i = 0; i < scripts_embedded_len; i++)
		if (strcmp(scripts_embedded[i].name, "cancel") == 0)
			return scripts_embedded[i].source;
	cr_assert_fail("cancel.lua is not embedded");
	return NULL;
}

/* cancel.lua answers the fields it is asked for, not the whole hash: a
 * small job's input (and result) are fields of the hash too. */
Test(store, cancel_answers_only_the_fields_it_is_asked_for)
{
	struct job_spec s = spec_for("default");
	enqueue_small(&s);
	char key[128];
	snprintf(key, sizeof key, "jobq:job:%s", s.id);
	const char *argv[] = {"EVAL", cancel_source(), "3", key, "jobq:job:x:input", "jobq:scheduled",
			      "jobq", s.id, "60", "cancelled by a test", "jobq:cancel", "",
			      "status", "id", "no_such_field"};
	redisReply *r = redisCommandArgv(harness.redis, 15, argv, NULL);
	cr_assert_not_null(r);
	cr_assert_eq(r->type, REDIS_REPLY_ARRAY, "%s", r->type == REDIS_REPLY_ERROR ? r->str : "");
	cr_assert_eq(r->element[0]->integer, 0, "cancelled now");
	const redisReply *v = r->element[1];
	cr_assert_eq(v->elements, 3, "the reply has %zu values, not the 3 asked for", v->elements);
	cr_assert_str_eq(v->element[0]->str, "cancelled");
	cr_assert_str_eq(v->element[1]->str, s.id);
	cr_assert_eq(v->element[2]->type, REDIS_REPLY_NIL);
	freeReplyObject(r);
}

/* job_store_claim_with claims a batch when req->batch says so: a job whose
 * task is not listed ends it and stays queued. */
Test(store, claim_with_a_batch_stops_at_a_task_not_listed)
{
	struct job_spec a = spec_for("default"), b = spec_for("default");
	snprintf(b.task, sizeof b.task, "ndjson");
	enqueue_small(&a);
	enqueue_small(&b);
	struct job_store_claim_req req = {.worker_id = "test:1:abc", .queues = default_queue,
					  .nqueues = 1, .lease_ms = 30000, .max = 4,
					  .batch = ",profile,"};
	struct job_claim c[4];
	cr_assert_eq(job_store_claim_with(st, &req, c), 1, "%s", job_store_errstr(st));
	cr_assert_str_eq(c[0].id, a.id);
	redisReply *r = redis_cmd("LLEN jobq:queue:default");
	cr_assert_eq(r->integer, 1, "the ndjson job stays queued");
	freeReplyObject(r);
}

/* ---- A cancel request whose worker died (lib/claim_jobs.lua) ---- */

/* reap_cancel_requested claims a job of max_attempts attempts, requests
 * its cancel, stores a piece of its result, lets the lease run out and
 * has a claim of queue "other" reap it: the job is never claimed again,
 * so whatever it becomes is the reaper's doing. Returns the claim reaped. */
static struct job_claim reap_cancel_requested(int max_attempts)
{
	struct job_claim c = running_with_cancel_requested(max_attempts, 1);
	cr_assert_eq(job_store_result_append(st, &c, "{", 1), JOB_STORE_OK);
	sleep_ms(20);
	const char *const other[] = {"other"};
	struct job_claim none;
	cr_assert_eq(job_store_claim(st, "reaper", other, 1, 30000, &none, 1), 0, "%s",
		     job_store_errstr(st));
	return c;
}

/* assert_reaped_cancelled checks that job id ended cancelled (not failed,
 * not a dead letter, not queued again), counted once, and expires. */
static void assert_reaped_cancelled(const char *id)
{
	assert_status(id, "cancelled");
	redisReply *r = redis_cmd("HGET jobq:job:%s error_code", id);
	cr_assert_str_eq(r->str, "cancelled");
	freeReplyObject(r);
	r = redis_cmd("ZSCORE jobq:dead %s", id);
	cr_assert_eq(r->type, REDIS_REPLY_NIL, "a cancelled job is a dead letter");
	freeReplyObject(r);
	r = redis_cmd("LLEN jobq:queue:default");
	cr_assert_eq(r->integer, 0, "a cancelled job was queued again");
	freeReplyObject(r);
	cr_assert_eq(hget_int("jobq:metrics:finished", "profile|cancelled"), 1);
	cr_assert_eq(hget_int("jobq:metrics:finished", "profile|failed"), 0);
	cr_assert_gt(ttl_of("TTL jobq:job:%s", id), 0, "a cancelled job must expire");
	cr_assert_eq(redis_count_keys("jobq:job:*:partial:*"), 0, "a partial result was left");
}

/* A DELETE answered 202 whose worker then dies on its last attempt: the
 * reaper ends the job cancelled, not failed for lease_expired. */
Test(store, a_cancel_requested_job_whose_worker_dies_on_its_last_attempt_ends_cancelled)
{
	struct job_claim c = reap_cancel_requested(1);
	assert_reaped_cancelled(c.id);
}

/* The same with attempts left: ended by the reaper itself, not queued
 * again to wait for a claim of its own queue. */
Test(store, a_cancel_requested_job_whose_worker_dies_with_attempts_left_ends_cancelled)
{
	struct job_claim c = reap_cancel_requested(3);
	assert_reaped_cancelled(c.id);
}

/* assert_late_success_is_lost checks that a success reported by attempt c
 * after a claim ended its job cancelled is LOST: the job stays as the
 * claim left it and nothing more is counted. */
static void assert_late_success_is_lost(const struct job_claim *c)
{
	cr_assert_eq(job_store_finish(st, c, JOB_SUCCEEDED, "application/json", NULL, NULL,
				      1, 4, 60),
		     JOB_STORE_LOST, "a stale attempt's success was taken for a repeat");
	assert_status(c->id, "cancelled");
	cr_assert_eq(hget_int("jobq:metrics:finished", "profile|cancelled"), 1);
	cr_assert_eq(hget_int("jobq:metrics:duration", "profile|count"), 0);
}

/* The reaper ended the job cancelled (its worker seemed dead); the worker
 * was only slow, and its success comes late, with its old token. */
Test(store, a_late_success_after_the_reaper_cancelled_the_job_is_lost)
{
	struct job_claim c = running_with_cancel_requested(3, 1);
	sleep_ms(20);
	struct job_claim none;
	cr_assert_eq(job_store_claim(st, "reaper", default_queue, 1, 30000, &none, 1), 0);
	assert_late_success_is_lost(&c);
}

/* The same when a claim finds the job queued with its cancel requested
 * (requeue.lua keeps the flag) and ends it cancelled unrun. */
Test(store, a_late_success_after_a_claim_cancelled_the_queued_job_is_lost)
{
	struct job_claim c = running_with_cancel_requested(3, 30000);
	cr_assert_eq(job_store_requeue(st, &c), JOB_STORE_OK);
	struct job_claim none;
	cr_assert_eq(job_store_claim(st, "w", default_queue, 1, 30000, &none, 1), 0);
	assert_late_success_is_lost(&c);
}
