/*
 * producer — see producer.h.
 */
#include "producer.h"

#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "log.h"

#define PRODUCER_WAIT_MAX_MS 1000  /* longest idle wait and BLPOP */
#define PRODUCER_BLPOP_MIN_MS 100  /* a shorter BLPOP is not worth a round trip */

/* producer_renewal_interval_ms is lease/3: a lease survives two missed
 * renewals in a row. */
static int64_t producer_renewal_interval_ms(const struct producer *p)
{
	int64_t ms = worker_lease_ms(p->settings) / 3;

	return ms > 0 ? ms : 1;
}

/* producer_wait_ms returns how long the loop may block now: at most 1 s,
 * and never past the next renewal. */
static int producer_wait_ms(const struct producer *p)
{
	int64_t left = p->next_renewal_ms - worker_clock_ms();

	if (left < 0)
		return 0;
	return left < PRODUCER_WAIT_MAX_MS ? (int)left : PRODUCER_WAIT_MAX_MS;
}

/* producer_failed handles a failed Redis call: it logs the start of an
 * outage once, then waits one backoff step (cut short by a phase change). */
static void producer_failed(struct producer *p)
{
	if (!p->outage)
		log_event(LOG_WARN, "redis unavailable, retrying with backoff",
			  json_pack("{s:s}", "error", job_store_errstr(p->store)));
	p->outage = true;
	p->busy_ms = worker_clock_ms(); /* the queues may not be empty: unknown */
	running_sleep(p->running, NULL, backoff_next_ms(&p->backoff));
}

/* producer_answered passes on the status s of a Redis call; when Redis
 * did answer, it ends the outage, if there was one. Only a call that was
 * made can end an outage: a loop turn that made none proves nothing. */
static enum job_store_status producer_answered(struct producer *p, enum job_store_status s)
{
	if (s < 0)
		return s;
	if (p->outage)
		log_event(LOG_INFO, "redis available again", NULL);
	p->outage = false;
	backoff_reset(&p->backoff);
	return s;
}

/* producer_ask_stop records why and sends WORKER_SIG_STOP, unless a stop
 * was asked already. */
static void producer_ask_stop(struct producer *p, enum producer_stop why)
{
	int none = PRODUCER_STOP_NONE;

	if (atomic_compare_exchange_strong(&p->stop, &none, (int)why))
		kill(getpid(), WORKER_SIG_STOP); /* main's sigwait takes it: blocked everywhere else */
}

enum producer_stop producer_stop_reason(struct producer *p)
{
	return (enum producer_stop)atomic_load(&p->stop);
}

/* producer_stop_for_layout logs that the data layout in use is newer
 * than this worker's, with fields (taken), and stops claiming. Once a stop
 * was asked for (idle, or this) the worker is on its way out already. */
static void producer_stop_for_layout(struct producer *p, json_t *fields)
{
	if (producer_stop_reason(p) != PRODUCER_STOP_NONE) {
		json_decref(fields);
		return;
	}
	log_event(LOG_ERROR, "the data layout in use is newer than this worker's: "
		  "claiming stops; upgrade this worker", fields);
	producer_ask_stop(p, PRODUCER_STOP_SCHEMA);
}

/* producer_check_schema stops claiming when the layout version in use,
 * schema (from the heartbeat), is newer than this worker's. */
static void producer_check_schema(struct producer *p, long long schema)
{
	if (schema > JOB_STORE_SCHEMA)
		producer_stop_for_layout(p, json_pack("{s:I, s:i}", "schema_version",
						      (json_int_t)schema, "worker_schema_version",
						      JOB_STORE_SCHEMA));
}

/* producer_renew renews the leases of every running job in one round trip
 * when lease/3 has passed since the last renewal, then writes the
 * worker's heartbeat. Returns OK (also when
 * nothing was due) or the store's error; the renewal stays due then. */
static enum job_store_status producer_renew(struct producer *p)
{
	int64_t now = worker_clock_ms();
	size_t n;
	enum job_store_status s;
	long long schema = 0;

	if (now < p->next_renewal_ms)
		return JOB_STORE_OK;
	n = running_snapshot(p->running, p->claims, p->running->capacity);
	if (n > 0) {
		s = producer_answered(p, job_store_renew(p->store, p->claims, n,
							 worker_lease_ms(p->settings), p->answers));
		if (s != JOB_STORE_OK)
			return s;
		running_apply_renewal(p->running, p->claims, p->answers, n, now);
	}
	s = producer_answered(p, job_store_heartbeat(p->store, &p->self,
						     3 * producer_renewal_interval_ms(p), &schema));
	if (s != JOB_STORE_OK)
		return s;
	producer_check_schema(p, schema);
	p->next_renewal_ms = now + producer_renewal_interval_ms(p);
	return JOB_STORE_OK;
}

/* producer_give_back returns a claimed job that no consumer will run (the
 * buffer closed under us). Best effort: if Redis refuses, the job's lease
 * expires and the reaper requeues it. */
static void producer_give_back(struct producer *p, const struct job_claim *c)
{
	enum job_store_status s = job_store_requeue(p->store, c);

	if (s == JOB_STORE_OK)
		log_job(LOG_INFO, "job requeued", c->request_id, c->id,
			json_pack("{s:s}", "reason", "shutdown"));
	else
		log_job(LOG_WARN, "could not requeue job; its lease will expire",
			c->request_id, c->id,
			json_pack("{s:s}", "error", job_store_errstr(p->store)));
}

/* producer_claim claims up to want jobs and hands them to the consumers;
 * *claimed tells whether there was any. Returns OK or the store's error. */
static enum job_store_status producer_claim(struct producer *p, size_t want, bool *claimed)
{
	const struct worker_settings *s = p->settings;
	struct job_store_claim_req req = {
		.worker_id = s->worker_id, .queues = s->queue_names, .nqueues = s->queues.len,
		.lease_ms = worker_lease_ms(s), .max = (int)want,
	};
	int64_t now = worker_clock_ms();

	req.housekeep = worker_housekeep_due(&p->housekeep_at, now);
	int n = job_store_claim_with(p->store, &req, p->claims);

	if (n == JOB_STORE_EREFUSED) { /* claim.lua saw a newer layout: nothing claimed */
		producer_answered(p, JOB_STORE_OK);
		producer_stop_for_layout(p, json_pack("{s:s}", "error",
						      job_store_errstr(p->store)));
		return JOB_STORE_OK;
	}
	if (n < 0)
		return producer_answered(p, (enum job_store_status)n);
	producer_answered(p, JOB_STORE_OK);
	for (int i = 0; i < n; i++)
		if (job_buffer_put(p->buffer, &p->claims[i]) != 0)
			producer_give_back(p, &p->claims[i]);
	*claimed = n > 0;
	return JOB_STORE_OK;
}

/* producer_step is one turn of the claiming loop (see producer.h).
 * Returns OK or the error of the Redis call that failed. */
static enum job_store_status producer_step(struct producer *p)
{
	const struct worker_settings *s = p->settings;
	enum job_store_status st = producer_renew(p);
	size_t idle;
	bool claimed = false;
	int wait_ms;

	if (st != JOB_STORE_OK)
		return st;
	if (producer_stop_reason(p) == PRODUCER_STOP_SCHEMA) {
		/* Claim nothing; main moves the phase on at once. */
		running_sleep(p->running, NULL, producer_wait_ms(p));
		return JOB_STORE_OK;
	}
	idle = job_buffer_wait_idle(p->buffer, producer_wait_ms(p));
	if (idle == 0 || running_phase_now(p->running) != RUNNING_CLAIMING)
		return JOB_STORE_OK;
	st = producer_claim(p, idle, &claimed);
	if (claimed)
		p->busy_ms = worker_clock_ms();
	wait_ms = producer_wait_ms(p);
	/* Stopping for the layout: no wait that would take a wake-up token a
	 * newer worker needs. */
	if (st != JOB_STORE_OK || claimed || wait_ms < PRODUCER_BLPOP_MIN_MS ||
	    producer_stop_reason(p) == PRODUCER_STOP_SCHEMA)
		return st;
	return producer_answered(p, job_store_wait(p->store, s->queue_names, s->queues.len,
						   wait_ms / 1000.0));
}

/* producer_keep_leases renews the leases of the jobs still running after
 * claiming has stopped, until every consumer has exited. */
static void producer_keep_leases(struct producer *p)
{
	while (running_phase_now(p->running) < RUNNING_DONE) {
		if (producer_renew(p) != JOB_STORE_OK) {
			producer_failed(p);
			continue;
		}
		running_sleep(p->running, NULL, p->next_renewal_ms - worker_clock_ms());
	}
}

/* producer_jobs_pending returns true when a job may still come this
 * worker's way although every claim found its queues empty: one waiting
 * out a retry backoff, or running under a lease that may expire (counted
 * cluster-wide, which errs on the side of staying). Exiting then could
 * strand it, as nothing starts an idle-exited worker again. A failed read
 * counts as pending. Asked only when an idle exit is due. */
static bool producer_jobs_pending(struct producer *p)
{
	const struct worker_settings *s = p->settings;
	bool pending = true;

	if (job_store_pending(p->store, s->queue_names, s->queues.len, &pending) != JOB_STORE_OK)
		return true;
	return pending;
}

/* producer_check_idle tells main, once, that --exit-when-idle is due: no
 * job ran or waited, every claim found the queues empty, and none of its
 * queues' jobs waits for a retry or runs elsewhere, for that long. */
static void producer_check_idle(struct producer *p)
{
	int64_t limit_ms = (int64_t)p->settings->exit_when_idle_s * 1000;

	if (limit_ms == 0 || producer_stop_reason(p) != PRODUCER_STOP_NONE)
		return;
	/* A job runs or waits for a consumer (one may have claimed its next
	 * job itself). */
	if (job_buffer_wait_idle(p->buffer, 0) < (size_t)p->settings->concurrency)
		p->busy_ms = worker_clock_ms();
	if (worker_clock_ms() - p->busy_ms < limit_ms)
		return;
	if (producer_jobs_pending(p)) {
		p->busy_ms = worker_clock_ms();
		return;
	}
	producer_ask_stop(p, PRODUCER_STOP_IDLE);
}

static void *producer_main(void *arg)
{
	struct producer *p = arg;

	while (running_phase_now(p->running) == RUNNING_CLAIMING) {
		if (producer_step(p) != JOB_STORE_OK)
			producer_failed(p);
		producer_check_idle(p);
	}
	/* Consumers still waiting for a job see the end and exit. */
	job_buffer_close(p->buffer);
	producer_keep_leases(p);
	if (job_store_unregister(p->store, p->self.id) != JOB_STORE_OK)
		log_event(LOG_WARN, "could not remove this worker from the registry; its entry expires",
			  json_pack("{s:s}", "error", job_store_errstr(p->store)));
	return NULL;
}

/* producer_self fills p->self, the worker's heartbeat description. */
static void producer_self(struct producer *p)
{
	const struct worker_settings *s = p->settings;
	size_t len = 0;

	p->queues[0] = '\0';
	for (size_t i = 0; i < s->queues.len; i++)
		len += (size_t)snprintf(p->queues + len, sizeof p->queues - len, "%s%s",
					i > 0 ? "," : "", s->queues.items[i]);
	p->self = (struct job_store_worker){
		.id = s->worker_id, .started_at_ms = job_now_ms(), .queues = p->queues,
		.concurrency = s->concurrency,
	};
}

int producer_start(struct producer *p, const struct worker_settings *s,
		   const struct job_store_config *store_cfg, struct job_buffer *buffer,
		   struct running *running, const char **err)
{
	size_t n = running->capacity; /* scratch for a renewal of every held job */

	*p = (struct producer){.settings = s, .buffer = buffer, .running = running};
	backoff_init(&p->backoff, 100, 5000);
	p->next_renewal_ms = worker_clock_ms(); /* the first turn writes the heartbeat */
	p->busy_ms = p->next_renewal_ms;        /* idle time counts from the start */
	producer_self(p);
	p->claims = calloc(n, sizeof *p->claims);
	p->answers = calloc(n, sizeof *p->answers);
	*err = "out of memory";
	if (p->claims == NULL || p->answers == NULL)
		goto fail;
	p->store = job_store_open(store_cfg, err);
	if (p->store == NULL)
		goto fail;
	*err = "cannot start the producer thread";
	if (pthread_create(&p->thread, NULL, producer_main, p) != 0)
		goto fail;
	return 0;

fail:
	job_store_close(p->store);
	free(p->answers);
	free(p->claims);
	return -1;
}

void producer_join(struct producer *p)
{
	pthread_join(p->thread, NULL);
	job_store_close(p->store);
	free(p->answers);
	free(p->claims);
}
