/*
 * ratelimit — token buckets per client and route class, in memory.
 *
 * A bucket holds up to burst tokens and gains rate tokens per second; a
 * request takes one, and finds the bucket empty when it holds less than
 * one: it is then told how many whole seconds (at least 1) until it would
 * hold one again (Retry-After). A rate of 0 means unlimited: no bucket is
 * kept at all.
 *
 * Clients. A bucket is named by its class ("submit" or "read") and a
 * client: the tenant when auth is on, the client's IP address otherwise.
 *
 * Bounded memory. The table is fixed: RATELIMIT_STRIPES stripes of
 * RATELIMIT_SLOTS buckets each, a client's stripe chosen by hashing its
 * name. A client not in its stripe takes the slot used least recently;
 * the client evicted from it starts again with a full bucket when it comes
 * back. So memory never grows, and with many more active clients than
 * slots a client may get more than its rate (never less).
 *
 * Sharing. One table serves all HTTP threads; each stripe has its own
 * mutex, which guards that stripe's slots. The clock is injected so that
 * tests can drive time.
 *
 * Per process: with N API processes behind a balancer a client can get up
 * to N times the rate.
 */
#ifndef JOBQ_API_RATELIMIT_H
#define JOBQ_API_RATELIMIT_H

#include <pthread.h>
#include <stdbool.h>
#include <stdint.h>

#define RATELIMIT_STRIPES 64
#define RATELIMIT_SLOTS 64
#define RATELIMIT_NAME_MAX 80   /* class + client, e.g. "r:192.0.2.1" */

enum ratelimit_class { RATELIMIT_SUBMIT, RATELIMIT_READ, RATELIMIT_CLASSES };

/* One bucket: plain arithmetic, no locking of its own. */
struct ratelimit_bucket {
	double tokens;
	int64_t last_ns;   /* when tokens was last brought up to date */
};

/* ratelimit_bucket_take refills b for the time since b->last_ns (never
 * beyond burst) and takes one token. Returns true when it had one;
 * otherwise false with *retry_after_s the whole seconds (at least 1) until
 * it will. A bucket starts as { burst, now }. rate > 0, burst >= 1. */
bool ratelimit_bucket_take(struct ratelimit_bucket *b, double rate, double burst, int64_t now_ns,
			   int *retry_after_s);

struct ratelimit_limit {
	double rate;    /* tokens per second; 0 = unlimited */
	double burst;   /* bucket size, >= 1 */
};

struct ratelimit_slot {
	char name[RATELIMIT_NAME_MAX + 1]; /* "" when free */
	struct ratelimit_bucket bucket;
	int64_t used_ns;                   /* last request: for eviction */
};

struct ratelimit_stripe {
	pthread_mutex_t lock;              /* guards slots */
	struct ratelimit_slot slots[RATELIMIT_SLOTS];
};

struct ratelimit {
	struct ratelimit_limit limits[RATELIMIT_CLASSES]; /* read-only after init */
	int64_t (*now_ns)(void *ctx);      /* monotonic clock; NULL for CLOCK_MONOTONIC */
	void *clock_ctx;
	struct ratelimit_stripe *stripes;  /* owned; NULL when every class is unlimited */
	int stripes_made;                  /* stripes whose mutex exists */
};

/* ratelimit_init sets rl up with one limit per class (a burst of 0 becomes
 * one second's worth, at least 1) and the clock (NULL: CLOCK_MONOTONIC).
 * Returns 0, or -1 when out of memory. Undo with ratelimit_destroy. */
int ratelimit_init(struct ratelimit *rl, const struct ratelimit_limit limits[RATELIMIT_CLASSES],
		   int64_t (*now_ns)(void *ctx), void *clock_ctx);

/* ratelimit_take takes one token from the bucket of class and client
 * (NUL-terminated; cut at RATELIMIT_NAME_MAX - 2 bytes). Returns true to
 * let the request through; false with *retry_after_s set when the bucket is
 * empty. Safe from any thread. */
bool ratelimit_take(struct ratelimit *rl, enum ratelimit_class cls, const char *client,
		    int *retry_after_s);

/* ratelimit_limited returns whether class cls has a limit, i.e. whether
 * ratelimit_take can refuse it; a caller may then skip naming the client. */
bool ratelimit_limited(const struct ratelimit *rl, enum ratelimit_class cls);

void ratelimit_destroy(struct ratelimit *rl);

#endif
