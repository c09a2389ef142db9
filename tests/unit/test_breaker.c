/* Unit tests: breaker — the API's circuit breaker for Redis, driven by an
 * injected clock and an injected random source. */
#include <criterion/criterion.h>

#include "breaker.h"

static int64_t fake_now;
static uint64_t fake_random_value;

static int64_t fake_clock(void *ctx)
{
	(void)ctx;
	return fake_now;
}

/* fake_random returns the value the test set: a draw is that value modulo
 * (ceiling + 1), so setting it to the ceiling draws the whole ceiling. */
static uint64_t fake_random(void *ctx)
{
	(void)ctx;
	return fake_random_value;
}

/* breaker_fresh makes b closed at a fixed time with draws of 0. */
static void breaker_fresh(struct breaker *b, int threshold)
{
	struct breaker_config cfg = {
		.threshold = threshold, .base_ms = 500, .cap_ms = 30000,
		.now_ms = fake_clock, .random = fake_random,
	};
	fake_now = 1000000;
	fake_random_value = 0;
	cr_assert_eq(breaker_init(b, &cfg), 0);
}

/* breaker_fail_n admits and fails n requests. */
static void breaker_fail_n(struct breaker *b, int n)
{
	for (int i = 0; i < n; i++) {
		enum breaker_ticket t = breaker_admit(b, NULL);
		cr_assert_eq(t, BREAKER_PASS);
		breaker_report(b, t, BREAKER_FAILED, NULL);
	}
}

Test(breaker, opens_after_threshold_failures_in_a_row)
{
	struct breaker b;
	breaker_fresh(&b, 5);
	breaker_fail_n(&b, 4);
	cr_assert_eq(breaker_state(&b), BREAKER_CLOSED);
	breaker_fail_n(&b, 1);
	cr_assert_eq(breaker_state(&b), BREAKER_OPEN);
	breaker_destroy(&b);
}

Test(breaker, a_success_resets_the_count_of_failures)
{
	struct breaker b;
	breaker_fresh(&b, 3);
	breaker_fail_n(&b, 2);
	breaker_report(&b, breaker_admit(&b, NULL), BREAKER_OK, NULL);
	breaker_fail_n(&b, 2);
	cr_assert_eq(breaker_state(&b), BREAKER_CLOSED);
	breaker_destroy(&b);
}

Test(breaker, fails_fast_while_open_with_retry_after_of_at_least_one_second)
{
	struct breaker b;
	int retry = 0;
	breaker_fresh(&b, 1);
	fake_random_value = 2000; /* cooldown 2000 % 501 = 496 ms */
	breaker_fail_n(&b, 1);
	cr_assert_eq(breaker_admit(&b, &retry), BREAKER_REFUSED);
	cr_assert_eq(retry, 1);
	fake_now += 495;
	cr_assert_eq(breaker_admit(&b, &retry), BREAKER_REFUSED);
	cr_assert_eq(retry, 1);
	breaker_destroy(&b);
}

Test(breaker, retry_after_counts_whole_seconds_until_the_probe)
{
	struct breaker b;
	int retry = 0;
	breaker_fresh(&b, 1);
	breaker_fail_n(&b, 1);            /* cooldown 0: half-open at once */
	fake_random_value = 2600;         /* next ceiling 1000: 2600 % 1001 = 598 */
	breaker_report(&b, breaker_admit(&b, NULL), BREAKER_FAILED, NULL);
	fake_random_value = 0;
	cr_assert_eq(breaker_state(&b), BREAKER_OPEN);
	cr_assert_eq(breaker_admit(&b, &retry), BREAKER_REFUSED);
	cr_assert_eq(retry, 1);
	breaker_destroy(&b);
}

Test(breaker, half_open_lets_exactly_one_probe_through)
{
	struct breaker b;
	int retry = 0;
	breaker_fresh(&b, 2);
	breaker_fail_n(&b, 2);
	fake_now += 1000;                 /* past any first cooldown (<= 500 ms) */
	cr_assert_eq(breaker_admit(&b, NULL), BREAKER_PROBE);
	cr_assert_eq(breaker_state(&b), BREAKER_HALF_OPEN);
	for (int i = 0; i < 10; i++) {
		cr_assert_eq(breaker_admit(&b, &retry), BREAKER_REFUSED);
		cr_assert_geq(retry, 1);
	}
	breaker_destroy(&b);
}

Test(breaker, the_probes_success_closes_it)
{
	struct breaker b;
	breaker_fresh(&b, 1);
	breaker_fail_n(&b, 1);
	fake_now += 1000;
	breaker_report(&b, breaker_admit(&b, NULL), BREAKER_OK, NULL);
	cr_assert_eq(breaker_state(&b), BREAKER_CLOSED);
	cr_assert_eq(breaker_admit(&b, NULL), BREAKER_PASS);
	cr_assert_eq(breaker_admit(&b, NULL), BREAKER_PASS);
	cr_assert_eq(b.backoff.attempt, 0);
	breaker_destroy(&b);
}

Test(breaker, the_probes_failure_reopens_it_with_a_longer_cooldown)
{
	struct breaker b;
	int64_t opened;
	breaker_fresh(&b, 1);
	fake_random_value = UINT64_MAX;
	breaker_fail_n(&b, 1);
	for (unsigned n = 1; n < 8; n++) {
		int64_t ceiling = backoff_ceiling_ms(500, 30000, n);
		fake_now = b.open_until_ms;       /* the cooldown is over */
		enum breaker_ticket t = breaker_admit(&b, NULL);
		cr_assert_eq(t, BREAKER_PROBE);
		opened = fake_now;
		fake_random_value = (uint64_t)ceiling; /* draw the whole ceiling */
		breaker_report(&b, t, BREAKER_FAILED, NULL);
		cr_assert_eq(breaker_state(&b), BREAKER_OPEN);
		cr_assert_eq(b.open_until_ms - opened, ceiling, "attempt %u: cooldown %lld, want %lld",
			     n, (long long)(b.open_until_ms - opened), (long long)ceiling);
	}
	cr_assert_eq(backoff_ceiling_ms(500, 30000, 7), 30000, "the cap was reached");
	breaker_destroy(&b);
}

Test(breaker, cooldowns_stay_within_zero_and_the_ceiling)
{
	struct breaker b;
	struct breaker_config cfg = { .threshold = 1, .base_ms = 500, .cap_ms = 30000,
				      .now_ms = fake_clock };
	fake_now = 0;
	cr_assert_eq(breaker_init(&b, &cfg), 0); /* the real jitter source */
	breaker_fail_n(&b, 1);
	for (unsigned n = 1; n < 200; n++) {
		int64_t ceiling = backoff_ceiling_ms(500, 30000, n);
		fake_now = b.open_until_ms;
		enum breaker_ticket t = breaker_admit(&b, NULL);
		cr_assert_eq(t, BREAKER_PROBE);
		int64_t start = fake_now;
		breaker_report(&b, t, BREAKER_FAILED, NULL);
		int64_t cooldown = b.open_until_ms - start;
		cr_assert(cooldown >= 0 && cooldown <= ceiling, "cooldown %lld outside [0, %lld]",
			  (long long)cooldown, (long long)ceiling);
	}
	breaker_destroy(&b);
}

Test(breaker, a_late_outcome_from_before_it_opened_changes_nothing)
{
	struct breaker b;
	breaker_fresh(&b, 1);
	enum breaker_ticket early = breaker_admit(&b, NULL);
	breaker_fail_n(&b, 1);
	fake_now += 1000;
	enum breaker_ticket probe = breaker_admit(&b, NULL);
	cr_assert_eq(probe, BREAKER_PROBE);
	breaker_report(&b, early, BREAKER_OK, NULL);      /* not the probe: ignored */
	cr_assert_eq(breaker_state(&b), BREAKER_HALF_OPEN);
	breaker_report(&b, probe, BREAKER_OK, NULL);
	cr_assert_eq(breaker_state(&b), BREAKER_CLOSED);
	breaker_destroy(&b);
}

Test(breaker, a_probe_that_ends_with_no_reply_hands_its_turn_to_the_next_request)
{
	struct breaker b;
	enum breaker_state before;
	breaker_fresh(&b, 1);
	breaker_fail_n(&b, 1);
	fake_now += 1000;
	enum breaker_ticket probe = breaker_admit(&b, NULL);
	cr_assert_eq(probe, BREAKER_PROBE);
	cr_assert_eq(breaker_report(&b, probe, BREAKER_UNKNOWN, &before), BREAKER_HALF_OPEN);
	cr_assert_eq(before, BREAKER_HALF_OPEN);
	cr_assert_eq(breaker_admit(&b, NULL), BREAKER_PROBE, "the next request is the probe");
	breaker_destroy(&b);
}

Test(breaker, report_returns_the_states_before_and_after)
{
	struct breaker b;
	enum breaker_state before;
	breaker_fresh(&b, 1);
	enum breaker_ticket t = breaker_admit(&b, NULL);
	cr_assert_eq(breaker_report(&b, t, BREAKER_FAILED, &before), BREAKER_OPEN);
	cr_assert_eq(before, BREAKER_CLOSED);
	breaker_destroy(&b);
}
