/* Unit tests: ratelimit — token-bucket arithmetic and the bounded table,
 * driven by an injected clock. */
#include <criterion/criterion.h>
#include <stdio.h>

#include "ratelimit.h"

#define SEC 1000000000LL

static int64_t fake_now;

static int64_t fake_clock(void *ctx)
{
	(void)ctx;
	return fake_now;
}

Test(ratelimit, bucket_spends_its_burst_then_refuses_with_retry_after)
{
	struct ratelimit_bucket b = { 3, 0 };
	int retry = 0;

	for (int i = 0; i < 3; i++)
		cr_assert(ratelimit_bucket_take(&b, 1, 3, 0, &retry), "take %d", i);
	cr_assert_not(ratelimit_bucket_take(&b, 1, 3, 0, &retry));
	cr_assert_eq(retry, 1);
}

Test(ratelimit, bucket_refills_at_the_rate_and_never_beyond_burst)
{
	struct ratelimit_bucket b = { 0, 0 };
	int retry = 0;

	cr_assert_not(ratelimit_bucket_take(&b, 2, 4, SEC / 4, &retry)); /* 0.5 token */
	cr_assert(ratelimit_bucket_take(&b, 2, 4, SEC / 2, &retry));      /* 1 token */
	cr_assert_not(ratelimit_bucket_take(&b, 2, 4, SEC / 2, &retry));
	/* An hour idle fills it to the burst, not to 7200. */
	for (int i = 0; i < 4; i++)
		cr_assert(ratelimit_bucket_take(&b, 2, 4, 3600 * SEC, &retry), "take %d", i);
	cr_assert_not(ratelimit_bucket_take(&b, 2, 4, 3600 * SEC, &retry));
}

Test(ratelimit, retry_after_is_whole_seconds_rounded_up)
{
	struct ratelimit_bucket b = { 0, 0 };
	int retry = 0;

	cr_assert_not(ratelimit_bucket_take(&b, 0.25, 1, 0, &retry));
	cr_assert_eq(retry, 4);
	cr_assert_not(ratelimit_bucket_take(&b, 0.25, 1, SEC, &retry)); /* 0.25 held */
	cr_assert_eq(retry, 3);
	cr_assert_not(ratelimit_bucket_take(&b, 100, 1, SEC + SEC / 200, &retry));
	cr_assert_eq(retry, 1); /* never 0 */
}

Test(ratelimit, a_clock_going_back_adds_nothing)
{
	struct ratelimit_bucket b = { 1, 10 * SEC };
	int retry = 0;

	cr_assert(ratelimit_bucket_take(&b, 1, 5, 10 * SEC, &retry));
	cr_assert_not(ratelimit_bucket_take(&b, 1, 5, 5 * SEC, &retry));
}

/* table_with makes rl with the given submit limit and reads unlimited. */
static void table_with(struct ratelimit *rl, double rate, double burst)
{
	const struct ratelimit_limit limits[RATELIMIT_CLASSES] = {
		[RATELIMIT_SUBMIT] = { rate, burst },
		[RATELIMIT_READ] = { 0, 0 },
	};

	fake_now = 1000 * SEC;
	cr_assert_eq(ratelimit_init(rl, limits, fake_clock, NULL), 0);
}

Test(ratelimit, clients_and_classes_have_their_own_buckets)
{
	struct ratelimit rl;
	int retry = 0;

	table_with(&rl, 1, 2);
	cr_assert(ratelimit_take(&rl, RATELIMIT_SUBMIT, "acme", &retry));
	cr_assert(ratelimit_take(&rl, RATELIMIT_SUBMIT, "acme", &retry));
	cr_assert_not(ratelimit_take(&rl, RATELIMIT_SUBMIT, "acme", &retry));
	cr_assert(ratelimit_take(&rl, RATELIMIT_SUBMIT, "globex", &retry));
	for (int i = 0; i < 100; i++) /* reads are unlimited */
		cr_assert(ratelimit_take(&rl, RATELIMIT_READ, "acme", &retry));
	fake_now += SEC;
	cr_assert(ratelimit_take(&rl, RATELIMIT_SUBMIT, "acme", &retry));
	ratelimit_destroy(&rl);
}

Test(ratelimit, burst_zero_means_one_seconds_worth)
{
	struct ratelimit rl;
	int retry = 0;

	table_with(&rl, 3, 0);
	for (int i = 0; i < 3; i++)
		cr_assert(ratelimit_take(&rl, RATELIMIT_SUBMIT, "acme", &retry), "take %d", i);
	cr_assert_not(ratelimit_take(&rl, RATELIMIT_SUBMIT, "acme", &retry));
	ratelimit_destroy(&rl);
}

Test(ratelimit, unlimited_everywhere_keeps_no_table)
{
	struct ratelimit rl;
	int retry = 0;

	table_with(&rl, 0, 0);
	cr_assert_null(rl.stripes);
	cr_assert(ratelimit_take(&rl, RATELIMIT_SUBMIT, "acme", &retry));
	ratelimit_destroy(&rl);
}

Test(ratelimit, limited_tells_which_classes_can_be_refused)
{
	struct ratelimit rl;

	table_with(&rl, 1, 2);
	cr_assert(ratelimit_limited(&rl, RATELIMIT_SUBMIT));
	cr_assert_not(ratelimit_limited(&rl, RATELIMIT_READ));
	ratelimit_destroy(&rl);
	table_with(&rl, 0, 0);
	cr_assert_not(ratelimit_limited(&rl, RATELIMIT_SUBMIT));
	cr_assert_not(ratelimit_limited(&rl, RATELIMIT_READ));
	ratelimit_destroy(&rl);
}

Test(ratelimit, many_clients_evict_the_least_recent_and_memory_stays_fixed)
{
	const int clients = RATELIMIT_STRIPES * RATELIMIT_SLOTS * 4;
	struct ratelimit rl;
	char name[32];
	int retry = 0;

	table_with(&rl, 1, 1);
	cr_assert(ratelimit_take(&rl, RATELIMIT_SUBMIT, "first", &retry));
	cr_assert_not(ratelimit_take(&rl, RATELIMIT_SUBMIT, "first", &retry));
	for (int i = 0; i < clients; i++) {
		fake_now += 1000; /* 1 us apart: no bucket refills */
		snprintf(name, sizeof name, "10.0.%d.%d", i / 256, i % 256);
		cr_assert(ratelimit_take(&rl, RATELIMIT_SUBMIT, name, &retry), "client %d", i);
	}
	/* "first" was the least recently used in its stripe, so it was evicted
	 * and comes back with a full bucket; the last client is still held. */
	cr_assert(ratelimit_take(&rl, RATELIMIT_SUBMIT, "first", &retry));
	cr_assert_not(ratelimit_take(&rl, RATELIMIT_SUBMIT, name, &retry));
	ratelimit_destroy(&rl);
}
