/* Unit tests: backoff — bounds and spread of exponential backoff with full
 * jitter. */
#include <criterion/criterion.h>

#include "backoff.h"

Test(backoff, ceiling_doubles_then_stops_at_the_cap)
{
	cr_assert_eq(backoff_ceiling_ms(100, 5000, 0), 100);
	cr_assert_eq(backoff_ceiling_ms(100, 5000, 1), 200);
	cr_assert_eq(backoff_ceiling_ms(100, 5000, 5), 3200);
	cr_assert_eq(backoff_ceiling_ms(100, 5000, 6), 5000);
	cr_assert_eq(backoff_ceiling_ms(100, 5000, 1000), 5000);
}

Test(backoff, ceiling_does_not_overflow)
{
	cr_assert_eq(backoff_ceiling_ms(INT64_MAX / 3, INT64_MAX, 10), INT64_MAX);
}

Test(backoff, every_wait_is_within_zero_and_the_ceiling)
{
	struct backoff b;
	backoff_init(&b, 100, 5000);
	for (unsigned i = 0; i < 200; i++) {
		int64_t ceiling = backoff_ceiling_ms(100, 5000, b.attempt);
		int64_t w = backoff_next_ms(&b);
		cr_assert(w >= 0 && w <= ceiling, "wait %lld outside [0, %lld]", (long long)w,
			  (long long)ceiling);
	}
}

/* Full jitter spreads waits over the whole range: over many draws at the
 * cap, both the lowest and the highest tenth of [0, cap] are hit. */
Test(backoff, jitter_spreads_over_the_whole_range)
{
	struct backoff b;
	backoff_init(&b, 1000, 1000);
	int low = 0, high = 0;
	for (int i = 0; i < 2000; i++) {
		int64_t w = backoff_next_ms(&b);
		low += w < 100;
		high += w > 900;
	}
	cr_assert_gt(low, 50);
	cr_assert_gt(high, 50);
}

static uint64_t fixed_random(void *ctx)
{
	return *(uint64_t *)ctx;
}

Test(backoff, reset_starts_again_from_base)
{
	struct backoff b;
	uint64_t value = UINT64_MAX;
	backoff_init(&b, 10, 10000);
	b.random = fixed_random;
	b.random_ctx = &value;
	for (int i = 0; i < 5; i++)
		backoff_next_ms(&b);
	backoff_reset(&b);
	int64_t w = backoff_next_ms(&b);
	cr_assert_leq(w, 10);
}

Test(backoff, retry_delay_ceiling_doubles_per_attempt_from_base_up_to_the_cap)
{
	struct backoff b;
	uint64_t value = 0;
	backoff_init(&b, 1000, 300000);
	b.random = fixed_random;
	b.random_ctx = &value;
	/* The largest possible draw for each ceiling is the ceiling itself. */
	const int64_t ceilings[] = {1000, 2000, 4000, 8000, 16000, 32000, 64000, 128000,
				    256000, 300000, 300000};
	for (int attempts = 1; attempts <= 11; attempts++) {
		value = (uint64_t)ceilings[attempts - 1];
		cr_assert_eq(backoff_retry_delay_ms(&b, attempts), ceilings[attempts - 1],
			     "attempt %d", attempts);
		value = (uint64_t)ceilings[attempts - 1] + 1;
		cr_assert_eq(backoff_retry_delay_ms(&b, attempts), 0, "attempt %d wraps to 0",
			     attempts);
	}
	cr_assert_eq(b.attempt, 0, "a retry delay counts nothing in b");
}

Test(backoff, retry_delays_stay_within_zero_and_the_ceiling_and_use_the_range)
{
	struct backoff b;
	backoff_init(&b, 100, 300000);
	for (int attempts = 1; attempts <= 12; attempts++) {
		int64_t ceiling = backoff_ceiling_ms(100, 300000, (unsigned)attempts - 1);
		int64_t lowest = ceiling, highest = 0;
		for (int i = 0; i < 500; i++) {
			int64_t d = backoff_retry_delay_ms(&b, attempts);
			cr_assert(d >= 0 && d <= ceiling, "delay %lld outside [0, %lld]",
				  (long long)d, (long long)ceiling);
			lowest = d < lowest ? d : lowest;
			highest = d > highest ? d : highest;
		}
		cr_assert_lt(lowest, ceiling / 4 + 1, "attempt %d never drew low", attempts);
		cr_assert_gt(highest, ceiling * 3 / 4, "attempt %d never drew high", attempts);
	}
}
