/*
 * store_pool — job_stores lent to threads one request at a time.
 *
 * Why. In --threading per-connection every HTTP connection has a thread of
 * its own, and a store per thread would be a Redis connection (and a
 * connect) per HTTP connection: short-lived clients would make Redis accept
 * as many connections as the API does. The pool instead lends a store to a
 * request for its duration and takes it back at completion, so the API holds
 * about as many Redis connections as it has requests in flight at once, and
 * reconnects only when that number grows.
 *
 * Ownership. A store is either idle in the pool or lent to exactly one
 * thread, which alone uses it until it gives it back: the rule that a
 * hiredis context belongs to one thread holds at every moment, and the
 * pool's mutex orders the last use by one thread before the first by the
 * next. At most STORE_POOL_IDLE_MAX idle stores are kept; a store given back
 * beyond that is closed, so a burst of connections does not keep its Redis
 * connections for ever.
 */
#ifndef JOBQ_API_STORE_POOL_H
#define JOBQ_API_STORE_POOL_H

#include <pthread.h>
#include <stddef.h>

#include "job_store.h"

/* Most idle stores (Redis connections) the pool keeps. */
#define STORE_POOL_IDLE_MAX 64

struct store_pool {
	pthread_mutex_t lock;                        /* guards idle and n_idle */
	struct job_store *idle[STORE_POOL_IDLE_MAX]; /* owned; the most recently given back last */
	size_t n_idle;
	const struct job_store_config *cfg;          /* not owned; outlives the pool */
};

/* store_pool_init prepares an empty pool whose stores are made from cfg
 * (borrowed: it must outlive the pool). Returns 0, or -1 when the mutex
 * cannot be made. Undo with store_pool_destroy. */
int store_pool_init(struct store_pool *p, const struct job_store_config *cfg);

/* store_pool_borrow lends the calling thread a store: the most recently
 * given back (its connection is the likeliest to be warm), else a new one
 * (which connects on first use). Returns it, or NULL when out of memory,
 * with *err pointing to a static sentence. Give it back with
 * store_pool_give_back. Thread-safe. */
struct job_store *store_pool_borrow(struct store_pool *p, const char **err);

/* store_pool_give_back takes st (may be NULL) back: kept idle, or closed
 * when the pool is full. The caller must not use st afterwards.
 * Thread-safe. */
void store_pool_give_back(struct store_pool *p, struct job_store *st);

/* store_pool_destroy closes every idle store. No store may be lent out. */
void store_pool_destroy(struct store_pool *p);

#endif
