/*
 * job_buffer: the hand-off between the worker's producer and consumers.
 */
#include <criterion/criterion.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <time.h>

#include "job_buffer.h"

/* claim_numbered returns a claim whose id is n written in decimal. */
static struct job_claim claim_numbered(unsigned n)
{
	struct job_claim c = {0};

	snprintf(c.id, sizeof c.id, "%u", n);
	c.token = n;
	return c;
}

static void sleep_ms(long ms)
{
	struct timespec ts = {ms / 1000, (ms % 1000) * 1000000L};

	nanosleep(&ts, NULL);
}

/* A thread that takes one job (or sees the end) and records what it got. */
struct taker {
	struct job_buffer *b;
	int rc;
	struct job_claim got;
};

static void *take_once(void *arg)
{
	struct taker *t = arg;

	t->rc = job_buffer_take(t->b, &t->got);
	return NULL;
}

/* wait_idle_at_least waits (up to 5 s) until wait_idle reports n: the
 * takers are threads that may not have reached job_buffer_take yet. */
static size_t wait_idle_at_least(struct job_buffer *b, size_t n)
{
	size_t got = job_buffer_wait_idle(b, 50);

	for (int i = 0; i < 500 && got < n; i++) {
		sleep_ms(10);
		got = job_buffer_wait_idle(b, 50);
	}
	return got;
}

Test(job_buffer, jobs_are_taken_in_the_order_they_were_put)
{
	struct job_buffer b;
	struct job_claim out;

	cr_assert_eq(job_buffer_init(&b, 3), 0);
	for (unsigned i = 1; i <= 3; i++) {
		struct job_claim c = claim_numbered(i);
		cr_assert_eq(job_buffer_put(&b, &c), 0);
	}
	for (unsigned i = 1; i <= 3; i++) {
		cr_assert_eq(job_buffer_take(&b, &out), 0);
		cr_expect_eq(out.token, i);
	}
	job_buffer_destroy(&b);
}

Test(job_buffer, ring_wraps_around)
{
	struct job_buffer b;
	struct job_claim out;

	cr_assert_eq(job_buffer_init(&b, 2), 0);
	for (unsigned i = 1; i <= 7; i++) {
		struct job_claim c = claim_numbered(i);
		cr_assert_eq(job_buffer_put(&b, &c), 0);
		cr_assert_eq(job_buffer_take(&b, &out), 0);
		cr_expect_str_eq(out.id, c.id);
	}
	job_buffer_destroy(&b);
}

Test(job_buffer, put_on_a_full_buffer_fails)
{
	struct job_buffer b;
	struct job_claim c = claim_numbered(1);

	cr_assert_eq(job_buffer_init(&b, 1), 0);
	cr_expect_eq(job_buffer_put(&b, &c), 0);
	cr_expect_eq(job_buffer_put(&b, &c), -1);
	job_buffer_destroy(&b);
}

Test(job_buffer, put_after_close_fails)
{
	struct job_buffer b;
	struct job_claim c = claim_numbered(1);

	cr_assert_eq(job_buffer_init(&b, 4), 0);
	job_buffer_close(&b);
	cr_expect_eq(job_buffer_put(&b, &c), -1);
	job_buffer_destroy(&b);
}

Test(job_buffer, close_lets_consumers_drain_then_ends)
{
	struct job_buffer b;
	struct job_claim c = claim_numbered(9), out;

	cr_assert_eq(job_buffer_init(&b, 4), 0);
	cr_assert_eq(job_buffer_put(&b, &c), 0);
	job_buffer_close(&b);
	cr_expect_eq(job_buffer_take(&b, &out), 0);
	cr_expect_eq(out.token, 9);
	cr_expect_eq(job_buffer_take(&b, &out), -1);
	job_buffer_destroy(&b);
}

Test(job_buffer, wait_idle_times_out_with_no_idle_consumer)
{
	struct job_buffer b;

	cr_assert_eq(job_buffer_init(&b, 4), 0);
	cr_expect_eq(job_buffer_wait_idle(&b, 20), 0);
	job_buffer_destroy(&b);
}

Test(job_buffer, wait_idle_counts_idle_consumers_minus_buffered_jobs)
{
	struct job_buffer b;
	struct taker t[2];
	pthread_t th[2];
	struct job_claim c = claim_numbered(1);

	cr_assert_eq(job_buffer_init(&b, 4), 0);
	for (int i = 0; i < 2; i++) {
		t[i] = (struct taker){.b = &b};
		cr_assert_eq(pthread_create(&th[i], NULL, take_once, &t[i]), 0);
	}
	cr_assert_eq(wait_idle_at_least(&b, 2), 2);
	/* Whether or not a taker has picked the job up yet, one consumer is
	 * idle and unpromised: 2 idle - 1 buffered, or 1 idle - 0 buffered. */
	cr_assert_eq(job_buffer_put(&b, &c), 0);
	cr_expect_eq(job_buffer_wait_idle(&b, 0), 1);
	c = claim_numbered(2);
	cr_assert_eq(job_buffer_put(&b, &c), 0);
	cr_expect_eq(job_buffer_wait_idle(&b, 20), 0);
	for (int i = 0; i < 2; i++) {
		pthread_join(th[i], NULL);
		cr_expect_eq(t[i].rc, 0);
	}
	cr_expect_eq(t[0].got.token + t[1].got.token, 3);
	job_buffer_destroy(&b);
}

Test(job_buffer, close_wakes_a_blocked_taker)
{
	struct job_buffer b;
	struct taker t;
	pthread_t th;

	cr_assert_eq(job_buffer_init(&b, 4), 0);
	t = (struct taker){.b = &b, .rc = 1};
	cr_assert_eq(pthread_create(&th, NULL, take_once, &t), 0);
	cr_assert_eq(wait_idle_at_least(&b, 1), 1);
	job_buffer_close(&b);
	pthread_join(th, NULL);
	cr_expect_eq(t.rc, -1);
	job_buffer_destroy(&b);
}

struct idle_waiter {
	struct job_buffer *b;
	atomic_bool returned;
	size_t n;
};

static void *wait_idle_forever(void *arg)
{
	struct idle_waiter *w = arg;

	w->n = job_buffer_wait_idle(w->b, -1);
	atomic_store(&w->returned, true);
	return NULL;
}

Test(job_buffer, close_wakes_a_blocked_wait_idle)
{
	struct job_buffer b;
	struct idle_waiter w;
	pthread_t th;

	cr_assert_eq(job_buffer_init(&b, 4), 0);
	w = (struct idle_waiter){.b = &b, .n = 99};
	cr_assert_eq(pthread_create(&th, NULL, wait_idle_forever, &w), 0);
	sleep_ms(50);
	cr_expect_not(atomic_load(&w.returned), "wait_idle returned with no idle consumer");
	job_buffer_close(&b);
	pthread_join(th, NULL);
	cr_expect_eq(w.n, 0);
	job_buffer_destroy(&b);
}

/* ---- Many threads ------------------------------------------------------ */

#define MANY_JOBS 10000
#define MANY_CONSUMERS 4

struct tally {
	struct job_buffer *b;
	atomic_int seen[MANY_JOBS];
	atomic_int unknown; /* jobs taken that were never put */
};

static void *consume_all(void *arg)
{
	struct tally *t = arg;
	struct job_claim c;

	/* Criterion's asserts belong to the test's thread: only count here. */
	while (job_buffer_take(t->b, &c) == 0) {
		if (c.token < MANY_JOBS)
			atomic_fetch_add(&t->seen[c.token], 1);
		else
			atomic_fetch_add(&t->unknown, 1);
	}
	return NULL;
}

/* produce_all plays the worker's producer: it puts only as many jobs as
 * wait_idle allows, so the buffer can never overflow. */
static void produce_all(struct job_buffer *b)
{
	unsigned next = 0;

	while (next < MANY_JOBS) {
		size_t n = job_buffer_wait_idle(b, -1);

		for (size_t i = 0; i < n && next < MANY_JOBS; i++, next++) {
			struct job_claim c = claim_numbered(next);
			cr_assert_eq(job_buffer_put(b, &c), 0, "put %u failed", next);
		}
	}
	job_buffer_close(b);
}

Test(job_buffer, every_job_is_taken_exactly_once_by_many_consumers)
{
	static struct tally t;
	struct job_buffer b;
	pthread_t th[MANY_CONSUMERS];

	cr_assert_eq(job_buffer_init(&b, MANY_CONSUMERS), 0);
	t.b = &b;
	atomic_init(&t.unknown, 0);
	for (int i = 0; i < MANY_JOBS; i++)
		atomic_init(&t.seen[i], 0);
	for (int i = 0; i < MANY_CONSUMERS; i++)
		cr_assert_eq(pthread_create(&th[i], NULL, consume_all, &t), 0);
	produce_all(&b);
	for (int i = 0; i < MANY_CONSUMERS; i++)
		pthread_join(th[i], NULL);
	cr_expect_eq(atomic_load(&t.unknown), 0);
	for (int i = 0; i < MANY_JOBS; i++)
		cr_expect_eq(atomic_load(&t.seen[i]), 1, "job %d taken %d times", i,
			     atomic_load(&t.seen[i]));
	job_buffer_destroy(&b);
}
