/*
 * breaker.c — the API's circuit breaker for Redis (see breaker.h).
 */
#include "breaker.h"

#include <time.h>

static int64_t breaker_clock_ms(void *ctx)
{
	struct timespec ts;

	(void)ctx;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

int breaker_init(struct breaker *b, const struct breaker_config *cfg)
{
	b->cfg = *cfg;
	if (b->cfg.threshold < 1)
		b->cfg.threshold = 1;
	if (b->cfg.now_ms == NULL)
		b->cfg.now_ms = breaker_clock_ms;
	backoff_init(&b->backoff, b->cfg.base_ms, b->cfg.cap_ms);
	if (b->cfg.random != NULL) {
		b->backoff.random = b->cfg.random;
		b->backoff.random_ctx = b->cfg.random_ctx;
	}
	b->state = BREAKER_CLOSED;
	b->failures = 0;
	b->open_until_ms = 0;
	b->probe_out = false;
	return pthread_mutex_init(&b->lock, NULL) == 0 ? 0 : -1;
}

void breaker_destroy(struct breaker *b)
{
	pthread_mutex_destroy(&b->lock);
}

/* breaker_open_locked opens b with the next cooldown from now. Caller
 * holds b->lock. */
static void breaker_open_locked(struct breaker *b, int64_t now)
{
	b->state = BREAKER_OPEN;
	b->probe_out = false;
	b->failures = 0;
	b->open_until_ms = now + backoff_next_ms(&b->backoff);
}

/* breaker_retry_after_s returns whole seconds until the next probe may go,
 * rounded up, at least 1. Caller holds b->lock. */
static int breaker_retry_after_s(const struct breaker *b, int64_t now)
{
	int64_t ms = b->open_until_ms - now;
	int64_t s = ms > 0 ? (ms + 999) / 1000 : 1;

	return s < 1 ? 1 : (int)s;
}

enum breaker_ticket breaker_admit(struct breaker *b, int *retry_after_s)
{
	enum breaker_ticket t = BREAKER_PASS;
	int64_t now = b->cfg.now_ms(b->cfg.clock_ctx);

	pthread_mutex_lock(&b->lock);
	if (b->state == BREAKER_OPEN && now >= b->open_until_ms)
		b->state = BREAKER_HALF_OPEN;
	if (b->state == BREAKER_HALF_OPEN && !b->probe_out) {
		b->probe_out = true;
		t = BREAKER_PROBE;
	} else if (b->state != BREAKER_CLOSED) {
		t = BREAKER_REFUSED;
		if (retry_after_s != NULL)
			*retry_after_s = breaker_retry_after_s(b, now);
	}
	pthread_mutex_unlock(&b->lock);
	return t;
}

enum breaker_state breaker_report(struct breaker *b, enum breaker_ticket t,
				  enum breaker_outcome o, enum breaker_state *before)
{
	int64_t now = b->cfg.now_ms(b->cfg.clock_ctx);
	bool unavailable = o == BREAKER_FAILED;
	enum breaker_state after;

	pthread_mutex_lock(&b->lock);
	if (before != NULL)
		*before = b->state;
	if (t == BREAKER_REFUSED) {
		/* nothing to record */
	} else if (t == BREAKER_PROBE && b->state == BREAKER_HALF_OPEN && o == BREAKER_UNKNOWN) {
		b->probe_out = false;
	} else if (o == BREAKER_UNKNOWN) {
		/* proves nothing either way */
	} else if (t == BREAKER_PROBE && b->state == BREAKER_HALF_OPEN) {
		if (unavailable) {
			breaker_open_locked(b, now);
		} else {
			b->state = BREAKER_CLOSED;
			b->probe_out = false;
			b->failures = 0;
			backoff_reset(&b->backoff);
		}
	} else if (t == BREAKER_PASS && b->state == BREAKER_CLOSED) {
		b->failures = unavailable ? b->failures + 1 : 0;
		if (b->failures >= b->cfg.threshold)
			breaker_open_locked(b, now);
	}
	after = b->state;
	pthread_mutex_unlock(&b->lock);
	return after;
}

enum breaker_state breaker_state(struct breaker *b)
{
	enum breaker_state s;

	pthread_mutex_lock(&b->lock);
	s = b->state;
	pthread_mutex_unlock(&b->lock);
	return s;
}

const char *breaker_state_name(enum breaker_state s)
{
	switch (s) {
	case BREAKER_CLOSED: return "closed";
	case BREAKER_OPEN: return "open";
	case BREAKER_HALF_OPEN: return "half_open";
	}
	return "unknown";
}
