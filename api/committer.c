/*
 * committer.c — the group-commit thread: its pending list, its batches,
 * and its start and stop (see committer.h).
 */
#include "committer.h"

#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>

#include "log.h"

struct committer {
	pthread_mutex_t lock;          /* guards head, tail, stopping */
	pthread_cond_t wake;           /* signalled when an entry is queued or stop is asked */
	struct committer_entry *head;  /* pending entries, oldest first */
	struct committer_entry *tail;
	bool stopping;
	bool joined;                   /* committer_stop's own: the thread is gone */
	pthread_t thread;
	struct job_store *st;          /* owned; used by the committer thread only */
};

int committer_submit(struct committer *c, struct committer_entry *e)
{
	if (c == NULL)
		return -1;
	pthread_mutex_lock(&c->lock);
	if (c->stopping) {
		pthread_mutex_unlock(&c->lock);
		return -1;
	}
	/* Suspended before the committer can see the entry: a resume that came
	 * first would be cancelled by the suspension, and the request would
	 * hang. */
	MHD_suspend_connection(e->conn);
	e->next = NULL;
	if (c->tail != NULL)
		c->tail->next = e;
	else
		c->head = e;
	c->tail = e;
	pthread_cond_signal(&c->wake);
	pthread_mutex_unlock(&c->lock);
	return 0;
}

/* committer_take waits for pending entries and moves up to
 * COMMITTER_BATCH_MAX of them into batch. Returns how many, 0 when the
 * committer is stopping and nothing is pending. */
static size_t committer_take(struct committer *c, struct committer_entry **batch)
{
	size_t n = 0;

	pthread_mutex_lock(&c->lock);
	while (c->head == NULL && !c->stopping)
		pthread_cond_wait(&c->wake, &c->lock);
	while (c->head != NULL && n < COMMITTER_BATCH_MAX) {
		batch[n++] = c->head;
		c->head = c->head->next;
	}
	if (c->head == NULL)
		c->tail = NULL;
	pthread_mutex_unlock(&c->lock);
	return n;
}

/* committer_commit sends the n entries' commands as one batch, sets each
 * entry's result and resumes its connection (after which the entry is not
 * touched again). */
static void committer_commit(struct committer *c, struct committer_entry **batch, size_t n)
{
	struct job_store_enqueue_cmd *cmds[COMMITTER_BATCH_MAX];
	enum job_store_status status[COMMITTER_BATCH_MAX];

	for (size_t i = 0; i < n; i++)
		cmds[i] = batch[i]->cmd;
	job_store_enqueue_batch(c->st, cmds, n, status);
	for (size_t i = 0; i < n; i++) {
		struct committer_entry *e = batch[i];
		struct MHD_Connection *conn = e->conn;

		e->status = status[i];
		MHD_resume_connection(conn);
	}
}

/* committer_run is the committer thread: batches until stopped and
 * drained. */
static void *committer_run(void *arg)
{
	struct committer *c = arg;
	struct committer_entry *batch[COMMITTER_BATCH_MAX];
	size_t n;

	while ((n = committer_take(c, batch)) > 0)
		committer_commit(c, batch, n);
	return NULL;
}

/* committer_new makes a committer that is not running yet. Returns it, or
 * NULL with *err set. */
static struct committer *committer_new(const struct job_store_config *cfg, const char **err)
{
	struct committer *c = calloc(1, sizeof *c);

	if (c == NULL) {
		*err = "out of memory";
		return NULL;
	}
	c->st = job_store_open(cfg, err);
	if (c->st == NULL) {
		free(c);
		return NULL;
	}
	if (pthread_mutex_init(&c->lock, NULL) != 0) {
		job_store_close(c->st);
		free(c);
		*err = "the committer's mutex could not be made";
		return NULL;
	}
	if (pthread_cond_init(&c->wake, NULL) != 0) {
		pthread_mutex_destroy(&c->lock);
		job_store_close(c->st);
		free(c);
		*err = "the committer's condition variable could not be made";
		return NULL;
	}
	return c;
}

struct committer *committer_start(const struct job_store_config *cfg, const char **err)
{
	struct committer *c = committer_new(cfg, err);

	if (c == NULL)
		return NULL;
	if (pthread_create(&c->thread, NULL, committer_run, c) != 0) {
		c->joined = true; /* there is no thread to join */
		committer_free(c);
		*err = "the committer thread could not be started";
		return NULL;
	}
	return c;
}

void committer_stop(struct committer *c)
{
	if (c == NULL || c->joined)
		return;
	pthread_mutex_lock(&c->lock);
	c->stopping = true;
	pthread_cond_signal(&c->wake);
	pthread_mutex_unlock(&c->lock);
	pthread_join(c->thread, NULL);
	c->joined = true;
}

void committer_free(struct committer *c)
{
	if (c == NULL)
		return;
	committer_stop(c);
	pthread_cond_destroy(&c->wake);
	pthread_mutex_destroy(&c->lock);
	job_store_close(c->st);
	free(c);
}
