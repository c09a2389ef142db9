/*
 * backoff — exponential backoff with full jitter.
 *
 * The n-th wait (n from 0) is a uniform random duration in
 * [0, min(cap, base * 2^n)]: "full jitter". The randomness is the point: it
 * spreads out processes that failed at the same moment (a Redis restart
 * seen by every worker) so that they do not all retry at the same moment.
 *
 * The random source is a function pointer so that tests can fix it.
 */
#ifndef JOBQ_BACKOFF_H
#define JOBQ_BACKOFF_H

#include <stdint.h>

struct backoff {
	int64_t base_ms;
	int64_t cap_ms;
	unsigned attempt;                    /* failures so far */
	uint64_t (*random)(void *ctx);       /* uniform 64-bit values */
	void *random_ctx;
	uint64_t rng_state;                  /* used by the default source */
};

/* backoff_init sets b to its first attempt, with the default random source
 * (a xorshift generator seeded from getrandom). */
void backoff_init(struct backoff *b, int64_t base_ms, int64_t cap_ms);

/* backoff_ceiling_ms returns min(cap, base * 2^attempt) without overflow. */
int64_t backoff_ceiling_ms(int64_t base_ms, int64_t cap_ms, unsigned attempt);

/* backoff_next_ms returns the next wait and counts one more attempt. */
int64_t backoff_next_ms(struct backoff *b);

/* backoff_retry_delay_ms returns the wait before a job's next attempt
 * after attempt number attempts (1-based) failed: uniform in
 * [0, min(cap, base * 2^(attempts - 1))], drawn from b's random source.
 * Unlike backoff_next_ms it does not count anything in b: the job's
 * attempt count lives in Redis. */
int64_t backoff_retry_delay_ms(struct backoff *b, int attempts);

/* backoff_reset starts again from the first attempt (after a success). */
void backoff_reset(struct backoff *b);

#endif
