/*
 * breaker — the API's circuit breaker for Redis.
 *
 * States. CLOSED: every request goes to Redis; each failure that means
 * "Redis is unreachable" (JOB_STORE_EUNAVAILABLE: refused, reset, timed
 * out) counts, any success resets the count, and threshold failures in a
 * row OPEN the breaker. OPEN: requests that need Redis are refused at once
 * (503 unavailable with Retry-After) without touching it, until a cooldown
 * drawn from backoff.h (exponential, full jitter) has passed. HALF_OPEN:
 * exactly one request is let through as the probe; every other request is
 * refused as while open. The probe's success CLOSES the breaker (and resets
 * the backoff); its failure OPENS it again with the next, longer, cooldown.
 *
 * Tickets. breaker_admit hands each admitted request a ticket, and the
 * request reports its outcome with that ticket. Only the probe's ticket can
 * close or re-open a half-open breaker: the late outcome of a request let
 * through while the breaker was still closed changes nothing once it has
 * opened.
 *
 * Sharing. One breaker serves the whole API process, all of libmicrohttpd's
 * threads: every function here takes b->lock, which protects all of the
 * struct's mutable members (state, failures, backoff, open_until_ms,
 * probe_out). The clock and the random source are injected so that tests
 * can drive time and jitter.
 */
#ifndef JOBQ_API_BREAKER_H
#define JOBQ_API_BREAKER_H

#include <pthread.h>
#include <stdbool.h>
#include <stdint.h>

#include "backoff.h"

#define BREAKER_DEFAULT_THRESHOLD 5
#define BREAKER_DEFAULT_BASE_MS 500
#define BREAKER_DEFAULT_CAP_MS 30000

enum breaker_state { BREAKER_CLOSED, BREAKER_OPEN, BREAKER_HALF_OPEN };

/* What breaker_admit decided about a request. */
enum breaker_ticket {
	BREAKER_REFUSED = 0, /* answer 503 now; report nothing */
	BREAKER_PASS,        /* go ahead; report the outcome */
	BREAKER_PROBE,       /* go ahead as the half-open probe; report the outcome */
};

struct breaker_config {
	int threshold;                      /* failures in a row that open it (>= 1) */
	int64_t base_ms, cap_ms;            /* cooldown backoff */
	int64_t (*now_ms)(void *ctx);       /* monotonic clock; NULL for CLOCK_MONOTONIC */
	void *clock_ctx;
	uint64_t (*random)(void *ctx);      /* jitter source; NULL for backoff.h's own */
	void *random_ctx;
};

struct breaker {
	struct breaker_config cfg;
	pthread_mutex_t lock;               /* guards everything below */
	enum breaker_state state;
	int failures;                       /* in a row, while closed */
	struct backoff backoff;             /* cooldowns drawn so far */
	int64_t open_until_ms;              /* while open: when the probe may go */
	bool probe_out;                     /* while half-open: the probe is in flight */
};

/* breaker_init makes b closed. Returns 0, or -1 when the mutex cannot be
 * made. Undo with breaker_destroy. */
int breaker_init(struct breaker *b, const struct breaker_config *cfg);

void breaker_destroy(struct breaker *b);

/* breaker_admit decides whether a request that needs Redis may go. On
 * BREAKER_REFUSED, *retry_after_s (when not NULL) is the number of whole
 * seconds until the next probe may go, at least 1. */
enum breaker_ticket breaker_admit(struct breaker *b, int *retry_after_s);

/* How a request the breaker let through ended. */
enum breaker_outcome {
	BREAKER_OK,          /* Redis answered (whatever the HTTP status) */
	BREAKER_FAILED,      /* Redis could not be reached (EUNAVAILABLE) */
	BREAKER_UNKNOWN,     /* it never reached Redis: proves nothing */
};

/* breaker_report records outcome o of a request admitted with ticket t
 * and returns the state after it; *before (when not NULL) gets the state
 * before, both read under the one lock. BREAKER_REFUSED changes nothing. A
 * probe whose outcome is UNKNOWN gives its turn to the next request (the
 * breaker stays half-open); UNKNOWN changes nothing else. */
enum breaker_state breaker_report(struct breaker *b, enum breaker_ticket t,
				  enum breaker_outcome o, enum breaker_state *before);

/* breaker_state returns the current state (for logs and tests). */
enum breaker_state breaker_state(struct breaker *b);

const char *breaker_state_name(enum breaker_state s);

#endif
