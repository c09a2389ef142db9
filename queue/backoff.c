/* backoff.c — exponential backoff with full jitter (see backoff.h). */
#include "backoff.h"

#include <sys/random.h>
#include <time.h>

/* xorshift64 is the default random source: fast, and good enough to spread
 * retries; it is not used for anything secret. */
static uint64_t xorshift64(void *ctx)
{
	uint64_t *s = ctx;
	uint64_t x = *s;
	x ^= x << 13;
	x ^= x >> 7;
	x ^= x << 17;
	*s = x;
	return x;
}

void backoff_init(struct backoff *b, int64_t base_ms, int64_t cap_ms)
{
	b->base_ms = base_ms > 0 ? base_ms : 1;
	b->cap_ms = cap_ms >= b->base_ms ? cap_ms : b->base_ms;
	b->attempt = 0;
	if (getrandom(&b->rng_state, sizeof b->rng_state, 0) != (ssize_t)sizeof b->rng_state)
		b->rng_state = (uint64_t)time(NULL) * 0x9e3779b97f4a7c15ull;
	if (b->rng_state == 0)
		b->rng_state = 0x9e3779b97f4a7c15ull;
	b->random = xorshift64;
	b->random_ctx = &b->rng_state;
}

int64_t backoff_ceiling_ms(int64_t base_ms, int64_t cap_ms, unsigned attempt)
{
	int64_t ceiling = base_ms;
	for (unsigned i = 0; i < attempt && ceiling < cap_ms; i++)
		ceiling = ceiling > cap_ms / 2 ? cap_ms : ceiling * 2;
	return ceiling < cap_ms ? ceiling : cap_ms;
}

int64_t backoff_next_ms(struct backoff *b)
{
	int64_t ceiling = backoff_ceiling_ms(b->base_ms, b->cap_ms, b->attempt);
	if (b->attempt < 64)
		b->attempt++;
	return (int64_t)(b->random(b->random_ctx) % ((uint64_t)ceiling + 1));
}

int64_t backoff_retry_delay_ms(struct backoff *b, int attempts)
{
	unsigned n = attempts > 1 ? (unsigned)(attempts - 1) : 0;
	int64_t ceiling = backoff_ceiling_ms(b->base_ms, b->cap_ms, n);

	return (int64_t)(b->random(b->random_ctx) % ((uint64_t)ceiling + 1));
}

void backoff_reset(struct backoff *b)
{
	b->attempt = 0;
}
