/* header_deadline.c — the registry of open connections and the sweeper
 * that cuts off those whose request headers are late (header_deadline.h). */
#include "header_deadline.h"

#include <arpa/inet.h>
#include <jansson.h>
#include <netinet/in.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "edge.h"
#include "log.h"
#include "metrics.h"

/* Sweeps per timeout: a late connection is cut within a quarter of the
 * timeout after its deadline (and at most a second after it). */
#define HEADER_SWEEPS_PER_TIMEOUT 4
#define HEADER_SWEEP_MAX_MS 1000

struct header_watch {
	struct header_watch *prev, *next; /* the registry's list: under its lock */
	int fd;
	atomic_int_fast64_t due_ms;       /* monotonic ms; 0 while not waiting for headers */
	atomic_bool kept_alive;           /* waiting for a request after another one */
	struct sockaddr_storage client;   /* AF_UNSPEC when unknown; text only when cut */
};

struct header_deadline {
	int64_t timeout_ms;         /* --header-timeout */
	int64_t idle_ms;            /* --idle-timeout: the keep-alive wait */
	int64_t sweep_ms;
	pthread_mutex_t lock;       /* guards watches and stopping */
	pthread_cond_t wake;        /* signalled by header_deadline_stop */
	struct header_watch *watches;
	bool stopping;
	pthread_t sweeper;
	struct metrics *metrics;    /* not owned */
};

static int64_t header_now_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

/* header_client copies addr (NULL allowed) into out, formatted only
 * when the connection is cut (inet_ntop on every connection would cost
 * what gate_rate saves). */
static void header_client(const struct sockaddr *addr, struct sockaddr_storage *out)
{
	memset(out, 0, sizeof *out);
	out->ss_family = AF_UNSPEC;
	if (addr != NULL && addr->sa_family == AF_INET)
		memcpy(out, addr, sizeof(struct sockaddr_in));
	else if (addr != NULL && addr->sa_family == AF_INET6)
		memcpy(out, addr, sizeof(struct sockaddr_in6));
}

/* Connections cut in one sweep whose log lines are written after the
 * registry's lock is let go; any more are counted in one line. */
#define HEADER_CUT_LOGGED 16

/* What a sweep cut, to be logged outside the lock. */
struct header_cuts {
	size_t n;
	struct {
		struct sockaddr_storage client;
		bool kept_alive;
	} cut[HEADER_CUT_LOGGED];
};

/* header_cut shuts down w's socket if it is still past its deadline at
 * now, noting it in cuts; the caller holds the registry's lock. The
 * exchange makes a request whose headers arrived meanwhile (due_ms 0)
 * win. */
static void header_cut(struct header_deadline *hd, struct header_watch *w, int64_t now,
		       struct header_cuts *cuts)
{
	int_fast64_t due = atomic_load_explicit(&w->due_ms, memory_order_relaxed);

	if (due == 0 || now < due)
		return;
	if (!atomic_compare_exchange_strong(&w->due_ms, &due, 0))
		return;
	shutdown(w->fd, SHUT_RDWR);
	metrics_header_timeout(hd->metrics);
	if (cuts->n < HEADER_CUT_LOGGED) {
		cuts->cut[cuts->n].client = w->client;
		cuts->cut[cuts->n].kept_alive = atomic_load(&w->kept_alive);
	}
	cuts->n++;
}

/* header_log_cuts logs what one sweep cut. */
static void header_log_cuts(const struct header_deadline *hd, const struct header_cuts *cuts)
{
	json_int_t timeout_s = (json_int_t)(hd->timeout_ms / 1000);
	char client[INET6_ADDRSTRLEN];

	for (size_t i = 0; i < cuts->n && i < HEADER_CUT_LOGGED; i++) {
		edge_client_text((const struct sockaddr *)&cuts->cut[i].client, client);
		log_event(LOG_WARN, "connection closed: its request headers did not arrive in time",
			  json_pack("{s:s, s:I, s:b}", "client", client,
				    "header_timeout_s", timeout_s, "kept_alive",
				    cuts->cut[i].kept_alive));
	}
	if (cuts->n > HEADER_CUT_LOGGED)
		log_event(LOG_WARN, "more connections closed: their request headers did not arrive in time",
			  json_pack("{s:I, s:I}", "connections", (json_int_t)(cuts->n - HEADER_CUT_LOGGED),
				    "header_timeout_s", timeout_s));
}

static void *header_sweep(void *arg)
{
	struct header_deadline *hd = arg;
	struct timespec until;

	pthread_mutex_lock(&hd->lock);
	while (!hd->stopping) {
		struct header_cuts cuts = {.n = 0};
		int64_t now = header_now_ms();

		for (struct header_watch *w = hd->watches; w != NULL; w = w->next)
			header_cut(hd, w, now, &cuts);
		if (cuts.n > 0) { /* logging may block: not under the lock */
			pthread_mutex_unlock(&hd->lock);
			header_log_cuts(hd, &cuts);
			pthread_mutex_lock(&hd->lock);
		}
		clock_gettime(CLOCK_MONOTONIC, &until);
		until.tv_sec += hd->sweep_ms / 1000;
		until.tv_nsec += (hd->sweep_ms % 1000) * 1000000L;
		if (until.tv_nsec >= 1000000000L) {
			until.tv_sec++;
			until.tv_nsec -= 1000000000L;
		}
		if (!hd->stopping)
			pthread_cond_timedwait(&hd->wake, &hd->lock, &until);
	}
	pthread_mutex_unlock(&hd->lock);
	return NULL;
}

/* header_wake_init makes hd->wake wait on the monotonic clock, as the
 * deadlines do. Returns 0 or -1. */
static int header_wake_init(struct header_deadline *hd)
{
	pthread_condattr_t attr;
	int rc;

	if (pthread_condattr_init(&attr) != 0)
		return -1;
	rc = pthread_condattr_setclock(&attr, CLOCK_MONOTONIC);
	if (rc == 0)
		rc = pthread_cond_init(&hd->wake, &attr);
	pthread_condattr_destroy(&attr);
	return rc == 0 ? 0 : -1;
}

struct header_deadline *header_deadline_start(int header_timeout_s, int idle_timeout_s,
					      struct metrics *m)
{
	struct header_deadline *hd = calloc(1, sizeof *hd);

	if (hd == NULL)
		return NULL;
	hd->metrics = m;
	hd->timeout_ms = (int64_t)header_timeout_s * 1000;
	hd->idle_ms = (int64_t)idle_timeout_s * 1000;
	hd->sweep_ms = hd->timeout_ms / HEADER_SWEEPS_PER_TIMEOUT;
	if (hd->sweep_ms > HEADER_SWEEP_MAX_MS)
		hd->sweep_ms = HEADER_SWEEP_MAX_MS;
	if (pthread_mutex_init(&hd->lock, NULL) != 0) {
		free(hd);
		return NULL;
	}
	if (header_wake_init(hd) != 0) {
		pthread_mutex_destroy(&hd->lock);
		free(hd);
		return NULL;
	}
	if (pthread_create(&hd->sweeper, NULL, header_sweep, hd) != 0) {
		pthread_cond_destroy(&hd->wake);
		pthread_mutex_destroy(&hd->lock);
		free(hd);
		return NULL;
	}
	return hd;
}

void header_deadline_stop(struct header_deadline *hd)
{
	if (hd == NULL)
		return;
	pthread_mutex_lock(&hd->lock);
	hd->stopping = true;
	pthread_cond_signal(&hd->wake);
	pthread_mutex_unlock(&hd->lock);
	pthread_join(hd->sweeper, NULL);
	while (hd->watches != NULL) {
		struct header_watch *w = hd->watches;
		hd->watches = w->next;
		free(w);
	}
	pthread_cond_destroy(&hd->wake);
	pthread_mutex_destroy(&hd->lock);
	free(hd);
}

struct header_watch *header_deadline_open(struct header_deadline *hd, int fd,
					  const struct sockaddr *addr)
{
	struct header_watch *w = calloc(1, sizeof *w);

	if (w == NULL)
		return NULL;
	w->fd = fd;
	atomic_init(&w->due_ms, header_now_ms() + hd->timeout_ms);
	atomic_init(&w->kept_alive, false);
	header_client(addr, &w->client);
	pthread_mutex_lock(&hd->lock);
	w->next = hd->watches;
	if (hd->watches != NULL)
		hd->watches->prev = w;
	hd->watches = w;
	pthread_mutex_unlock(&hd->lock);
	return w;
}

void header_deadline_close(struct header_deadline *hd, struct header_watch *w)
{
	if (w == NULL)
		return;
	pthread_mutex_lock(&hd->lock);
	if (w->prev != NULL)
		w->prev->next = w->next;
	else
		hd->watches = w->next;
	if (w->next != NULL)
		w->next->prev = w->prev;
	pthread_mutex_unlock(&hd->lock);
	free(w);
}

void header_deadline_arrived(struct header_watch *w)
{
	if (w != NULL)
		atomic_store_explicit(&w->due_ms, 0, memory_order_relaxed);
}

void header_deadline_rearm(struct header_deadline *hd, struct header_watch *w)
{
	if (w == NULL)
		return;
	atomic_store_explicit(&w->kept_alive, true, memory_order_relaxed);
	atomic_store_explicit(&w->due_ms, header_now_ms() + hd->idle_ms + hd->timeout_ms,
			      memory_order_relaxed);
}

