/*
 * cancel_listener — the worker thread that hears cancel requests at once.
 *
 * DELETE /v1/jobs/{id} on a running job sets cancel_requested=1 in the
 * job's hash and PUBLISHes the id on {p}:cancel, in one step (cancel.lua).
 * This thread SUBSCRIBEs to that channel on its own Redis connection and,
 * for an id the worker is running, sets the job's STOP_CANCEL flag in the
 * running registry: the consumer stops at its next checkpoint (every 64 KiB
 * of input) and finishes the job as cancelled. An id this worker does not
 * run is ignored.
 *
 * Best effort, with a durable fallback: pub/sub keeps nothing for a
 * subscriber that is not connected, so a message sent while this thread is
 * reconnecting is lost. The flag in Redis stays the truth: the producer's
 * renewals (every lease/3) and the consumer's progress writes (every
 * 250 ms) answer CANCEL for it, so a lost message costs latency, never the
 * cancel.
 *
 * Its loop: connect, AUTH if the URL has a password, SUBSCRIBE; then sleep
 * in poll(2) on the socket and on a wake-up pipe. A broken connection is
 * dropped and made again after a backoff step (100 ms doubling to 5 s,
 * full jitter), logged when the outage starts and when it ends. No timeout
 * wakes the thread while all is quiet; over TCP, keepalive finds a dead
 * peer. cancel_listener_stop writes to the pipe, so shutdown is immediate
 * (at worst one connect timeout, when Redis is unreachable over TCP).
 *
 * Ownership: the hiredis context and the read end of the pipe belong to
 * the listener's thread; cancel_listener_stop (called by main after the
 * thread was started) writes the pipe, joins the thread and frees all.
 * The registry is borrowed and shared.
 */
#ifndef JOBQ_CANCEL_LISTENER_H
#define JOBQ_CANCEL_LISTENER_H

#include <hiredis/hiredis.h>
#include <pthread.h>
#include <stdbool.h>

#include "backoff.h"
#include "job_store.h"
#include "keys.h"
#include "redis_url.h"
#include "running.h"

struct cancel_listener {
	struct running *running;  /* shared */
	struct redis_url url;
	char channel[KEYS_MAX];   /* {p}:cancel */
	int timeout_ms;           /* connect, AUTH and SUBSCRIBE */
	redisContext *ctx;        /* the thread's; NULL while disconnected */
	int wake[2];              /* pipe: [1] written by stop, [0] polled by the thread */
	struct backoff backoff;
	bool outage;              /* connecting or reading is failing */
	pthread_t thread;
};

/* cancel_listener_start starts the listener for the store configuration
 * cfg (its URL, prefix and timeout). Returns 0, or -1 with *err set to a
 * static sentence (nothing is left to free). It does not wait for the
 * subscription: a cancel sent before it is caught by the flag. */
int cancel_listener_start(struct cancel_listener *l, const struct job_store_config *cfg,
			  struct running *running, const char **err);

/* cancel_listener_stop makes the thread exit at once, joins it and frees
 * what cancel_listener_start made. */
void cancel_listener_stop(struct cancel_listener *l);

#endif
