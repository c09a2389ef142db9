/*
 * store_pool.c — the idle stores and their lending (see store_pool.h).
 */
#include "store_pool.h"

int store_pool_init(struct store_pool *p, const struct job_store_config *cfg)
{
	p->n_idle = 0;
	p->cfg = cfg;
	return pthread_mutex_init(&p->lock, NULL) == 0 ? 0 : -1;
}

struct job_store *store_pool_borrow(struct store_pool *p, const char **err)
{
	struct job_store *st = NULL;

	pthread_mutex_lock(&p->lock);
	if (p->n_idle > 0)
		st = p->idle[--p->n_idle];
	pthread_mutex_unlock(&p->lock);
	if (st != NULL)
		return st;
	return job_store_open(p->cfg, err); /* outside the lock: it allocates */
}

void store_pool_give_back(struct store_pool *p, struct job_store *st)
{
	if (st == NULL)
		return;
	pthread_mutex_lock(&p->lock);
	if (p->n_idle < STORE_POOL_IDLE_MAX) {
		p->idle[p->n_idle++] = st;
		st = NULL;
	}
	pthread_mutex_unlock(&p->lock);
	job_store_close(st); /* the pool was full (NULL otherwise) */
}

void store_pool_destroy(struct store_pool *p)
{
	while (p->n_idle > 0)
		job_store_close(p->idle[--p->n_idle]);
	pthread_mutex_destroy(&p->lock);
}
