/*
 * ratelimit.c — token-bucket arithmetic and the fixed, striped table of
 * buckets (see ratelimit.h).
 */
#include "ratelimit.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

/* A Retry-After beyond a day says nothing more useful than a day. */
#define RATELIMIT_RETRY_MAX_S 86400

bool ratelimit_bucket_take(struct ratelimit_bucket *b, double rate, double burst, int64_t now_ns,
			   int *retry_after_s)
{
	double wait_s;

	if (now_ns > b->last_ns) {
		b->tokens += (double)(now_ns - b->last_ns) * rate / 1e9;
		if (b->tokens > burst)
			b->tokens = burst;
		b->last_ns = now_ns;
	}
	if (b->tokens >= 1.0) {
		b->tokens -= 1.0;
		return true;
	}
	wait_s = ceil((1.0 - b->tokens) / rate);
	*retry_after_s = wait_s < 1.0 ? 1 : wait_s > RATELIMIT_RETRY_MAX_S ? RATELIMIT_RETRY_MAX_S
									   : (int)wait_s;
	return false;
}

static int64_t ratelimit_monotonic_ns(void *ctx)
{
	struct timespec ts;

	(void)ctx;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (int64_t)ts.tv_sec * 1000000000 + ts.tv_nsec;
}

/* ratelimit_hash is FNV-1a: spreads client names over the stripes. */
static uint32_t ratelimit_hash(const char *s)
{
	uint32_t h = 2166136261u;

	for (; *s != '\0'; s++)
		h = (h ^ (unsigned char)*s) * 16777619u;
	return h;
}

int ratelimit_init(struct ratelimit *rl, const struct ratelimit_limit limits[RATELIMIT_CLASSES],
		   int64_t (*now_ns)(void *ctx), void *clock_ctx)
{
	bool any = false;

	memset(rl, 0, sizeof *rl);
	rl->now_ns = now_ns != NULL ? now_ns : ratelimit_monotonic_ns;
	rl->clock_ctx = clock_ctx;
	for (int c = 0; c < RATELIMIT_CLASSES; c++) {
		rl->limits[c] = limits[c];
		if (rl->limits[c].burst < 1.0)
			rl->limits[c].burst = fmax(1.0, ceil(limits[c].rate));
		any |= limits[c].rate > 0;
	}
	if (!any)
		return 0;
	rl->stripes = calloc(RATELIMIT_STRIPES, sizeof *rl->stripes);
	if (rl->stripes == NULL)
		return -1;
	for (; rl->stripes_made < RATELIMIT_STRIPES; rl->stripes_made++)
		if (pthread_mutex_init(&rl->stripes[rl->stripes_made].lock, NULL) != 0) {
			ratelimit_destroy(rl);
			return -1;
		}
	return 0;
}

/* ratelimit_slot_for returns the slot of name in st; when name has none,
 * it takes a free slot or else the least recently used one, with a full
 * bucket. st->lock is held. */
static struct ratelimit_slot *ratelimit_slot_for(struct ratelimit_stripe *st, const char *name,
						 double burst, int64_t now)
{
	struct ratelimit_slot *lru = &st->slots[0];

	for (int i = 0; i < RATELIMIT_SLOTS; i++) {
		struct ratelimit_slot *s = &st->slots[i];

		if (strcmp(s->name, name) == 0 && s->name[0] != '\0')
			return s;
		if (s->name[0] == '\0' || (lru->name[0] != '\0' && s->used_ns < lru->used_ns))
			lru = s;
	}
	snprintf(lru->name, sizeof lru->name, "%s", name);
	lru->bucket = (struct ratelimit_bucket){ burst, now };
	return lru;
}

bool ratelimit_take(struct ratelimit *rl, enum ratelimit_class cls, const char *client,
		    int *retry_after_s)
{
	const struct ratelimit_limit *lim = &rl->limits[cls];
	char name[RATELIMIT_NAME_MAX + 1];
	struct ratelimit_stripe *st;
	struct ratelimit_slot *slot;
	int64_t now;
	bool ok;

	if (!ratelimit_limited(rl, cls))
		return true;
	snprintf(name, sizeof name, "%c:%.*s", cls == RATELIMIT_SUBMIT ? 's' : 'r',
		 RATELIMIT_NAME_MAX - 2, client);
	st = &rl->stripes[ratelimit_hash(name) % RATELIMIT_STRIPES];
	now = rl->now_ns(rl->clock_ctx);
	pthread_mutex_lock(&st->lock);
	slot = ratelimit_slot_for(st, name, lim->burst, now);
	slot->used_ns = now;
	ok = ratelimit_bucket_take(&slot->bucket, lim->rate, lim->burst, now, retry_after_s);
	pthread_mutex_unlock(&st->lock);
	return ok;
}

bool ratelimit_limited(const struct ratelimit *rl, enum ratelimit_class cls)
{
	return rl->limits[cls].rate > 0 && rl->stripes != NULL;
}

void ratelimit_destroy(struct ratelimit *rl)
{
	for (int i = 0; i < rl->stripes_made; i++)
		pthread_mutex_destroy(&rl->stripes[i].lock);
	free(rl->stripes);
	rl->stripes = NULL;
	rl->stripes_made = 0;
}
