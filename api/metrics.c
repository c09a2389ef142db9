/*
 * metrics.c — jobq-api's in-memory counters (see metrics.h).
 *
 * Layout: the series tables, then one recording function per family, then
 * writing them out.
 */
#include "metrics.h"

#include <pthread.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

const double metrics_http_bounds[] = {
	0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10,
};
const size_t metrics_http_bounds_len = sizeof metrics_http_bounds / sizeof metrics_http_bounds[0];

#define METRICS_BUCKETS (sizeof metrics_http_bounds / sizeof metrics_http_bounds[0] + 1)
#define METRICS_LABELS_MAX 3

/* Series per family: routes x methods x statuses seen fit in 256; queue x
 * task pairs and rejection codes in 128. */
#define METRICS_HTTP_SERIES 256
#define METRICS_JOB_SERIES 128

/* ---- Series tables ------------------------------------------------------ */

struct metrics_series {
	char values[METRICS_LABELS_MAX][METRICS_VALUE_MAX + 1];
	atomic_uint_fast64_t count;                    /* counters (a histogram's _count is its buckets' sum) */
	atomic_uint_fast64_t sum_ns;                   /* histograms: sum of observations */
	atomic_uint_fast64_t buckets[METRICS_BUCKETS]; /* histograms: per bucket, not cumulative */
};

struct metrics_table {
	const char *labels[METRICS_LABELS_MAX];
	size_t nlabels;
	size_t cap;
	pthread_mutex_t grow;   /* guards filling series[used] and storing used */
	atomic_size_t used;     /* shared: series below are complete */
	struct metrics_series *series;
};

struct metrics {
	struct metrics_table http;       /* route, method, code */
	struct metrics_table duration;   /* route */
	struct metrics_table submitted;  /* queue, task */
	struct metrics_table rejected;   /* reason */
	atomic_uint_fast64_t upload_bytes;
	atomic_uint_fast64_t redis_errors;
	atomic_uint_fast64_t header_timeouts;
};

static const char *const metrics_other[METRICS_LABELS_MAX] = { "other", "other", "other" };

/* metrics_table_init makes t empty with room for cap series labelled by
 * the nlabels names. Returns 0, or -1 when out of memory. */
static int metrics_table_init(struct metrics_table *t, size_t cap, size_t nlabels,
			      const char *l0, const char *l1, const char *l2)
{
	t->labels[0] = l0;
	t->labels[1] = l1;
	t->labels[2] = l2;
	t->nlabels = nlabels;
	t->cap = cap;
	atomic_init(&t->used, 0);
	t->series = calloc(cap, sizeof *t->series);
	if (t->series == NULL)
		return -1;
	if (pthread_mutex_init(&t->grow, NULL) != 0) {
		free(t->series);
		t->series = NULL;
		return -1;
	}
	return 0;
}

static void metrics_table_destroy(struct metrics_table *t)
{
	if (t->series == NULL)
		return;
	pthread_mutex_destroy(&t->grow);
	free(t->series);
	t->series = NULL;
}

/* metrics_series_is returns true when s has exactly the label values v. */
static bool metrics_series_is(const struct metrics_table *t, const struct metrics_series *s,
			      const char *const *v)
{
	for (size_t i = 0; i < t->nlabels; i++)
		if (strcmp(s->values[i], v[i]) != 0)
			return false;
	return true;
}

/* metrics_scan returns the series of t below used with values v, or NULL. */
static struct metrics_series *metrics_scan(struct metrics_table *t, size_t used,
					   const char *const *v)
{
	for (size_t i = 0; i < used; i++)
		if (metrics_series_is(t, &t->series[i], v))
			return &t->series[i];
	return NULL;
}

/* metrics_add returns the series of t with values v, adding it when there
 * is room (the last slot only for the all-"other" series); NULL when full. */
static struct metrics_series *metrics_add(struct metrics_table *t, const char *const *v)
{
	struct metrics_series *s;
	size_t used;

	pthread_mutex_lock(&t->grow);
	used = atomic_load_explicit(&t->used, memory_order_relaxed);
	s = metrics_scan(t, used, v);
	if (s == NULL && (used + 1 < t->cap || (used < t->cap && v == metrics_other))) {
		s = &t->series[used];
		for (size_t i = 0; i < t->nlabels; i++)
			snprintf(s->values[i], sizeof s->values[i], "%s", v[i]);
		atomic_store_explicit(&t->used, used + 1, memory_order_release);
	}
	pthread_mutex_unlock(&t->grow);
	return s;
}

/* metrics_find returns the series of t for the label values v, adding it
 * when new, or the all-"other" series when t is full or a value is too
 * long. Never NULL. */
static struct metrics_series *metrics_find(struct metrics_table *t, const char *const *v)
{
	size_t used = atomic_load_explicit(&t->used, memory_order_acquire);
	struct metrics_series *s;

	for (size_t i = 0; i < t->nlabels; i++)
		if (strlen(v[i]) > METRICS_VALUE_MAX)
			v = metrics_other;
	s = metrics_scan(t, used, v);
	if (s == NULL && used == t->cap) /* full: no lock for a client making up names */
		s = metrics_scan(t, used, metrics_other);
	if (s == NULL)
		s = metrics_add(t, v);
	if (s == NULL)
		s = metrics_add(t, metrics_other);
	return s;
}

struct metrics *metrics_new(void)
{
	struct metrics *m = calloc(1, sizeof *m);

	if (m == NULL)
		return NULL;
	if (metrics_table_init(&m->http, METRICS_HTTP_SERIES, 3, "route", "method", "code") != 0 ||
	    metrics_table_init(&m->duration, METRICS_JOB_SERIES, 1, "route", NULL, NULL) != 0 ||
	    metrics_table_init(&m->submitted, METRICS_JOB_SERIES, 2, "queue", "task", NULL) != 0 ||
	    metrics_table_init(&m->rejected, METRICS_JOB_SERIES, 1, "reason", NULL, NULL) != 0) {
		metrics_free(m);
		return NULL;
	}
	atomic_init(&m->upload_bytes, 0);
	atomic_init(&m->redis_errors, 0);
	atomic_init(&m->header_timeouts, 0);
	return m;
}

void metrics_free(struct metrics *m)
{
	if (m == NULL)
		return;
	metrics_table_destroy(&m->http);
	metrics_table_destroy(&m->duration);
	metrics_table_destroy(&m->submitted);
	metrics_table_destroy(&m->rejected);
	free(m);
}

/* ---- Recording ---------------------------------------------------------- */

/* metrics_method returns method when it is one of the usual ones, else
 * "other": a client may send any token as a method. */
static const char *metrics_method(const char *method)
{
	static const char *const known[] = { "GET", "HEAD", "POST", "PUT", "DELETE", "PATCH",
					     "OPTIONS" };

	for (size_t i = 0; i < sizeof known / sizeof known[0]; i++)
		if (strcmp(method, known[i]) == 0)
			return known[i];
	return "other";
}

/* metrics_observe adds seconds to histogram series s. */
static void metrics_observe(struct metrics_series *s, double seconds)
{
	size_t i = 0;

	while (i < metrics_http_bounds_len && seconds > metrics_http_bounds[i])
		i++;
	atomic_fetch_add_explicit(&s->buckets[i], 1, memory_order_relaxed);
	atomic_fetch_add_explicit(&s->sum_ns, (uint64_t)(seconds * 1e9), memory_order_relaxed);
}

void metrics_http_request(struct metrics *m, const char *route, const char *method,
			  unsigned status, double seconds)
{
	char code[16];
	const char *v[METRICS_LABELS_MAX] = { route != NULL ? route : "unmatched",
					      metrics_method(method), code };

	snprintf(code, sizeof code, "%u", status);
	atomic_fetch_add_explicit(&metrics_find(&m->http, v)->count, 1, memory_order_relaxed);
	metrics_observe(metrics_find(&m->duration, v), seconds < 0 ? 0 : seconds);
}

void metrics_upload_bytes(struct metrics *m, uint64_t n)
{
	atomic_fetch_add_explicit(&m->upload_bytes, n, memory_order_relaxed);
}

void metrics_job_submitted(struct metrics *m, const char *queue, const char *task)
{
	const char *v[METRICS_LABELS_MAX] = { queue, task, NULL };

	atomic_fetch_add_explicit(&metrics_find(&m->submitted, v)->count, 1, memory_order_relaxed);
}

void metrics_job_rejected(struct metrics *m, const char *reason)
{
	const char *v[METRICS_LABELS_MAX] = { reason, NULL, NULL };

	atomic_fetch_add_explicit(&metrics_find(&m->rejected, v)->count, 1, memory_order_relaxed);
}

void metrics_redis_error(struct metrics *m)
{
	atomic_fetch_add_explicit(&m->redis_errors, 1, memory_order_relaxed);
}

void metrics_header_timeout(struct metrics *m)
{
	atomic_fetch_add_explicit(&m->header_timeouts, 1, memory_order_relaxed);
}

/* ---- Writing ------------------------------------------------------------ */

/* metrics_labels fills out with s's labels in t. */
static void metrics_labels(const struct metrics_table *t, const struct metrics_series *s,
			   struct expo_label *out)
{
	for (size_t i = 0; i < t->nlabels; i++)
		out[i] = (struct expo_label){ t->labels[i], s->values[i] };
}

/* metrics_write_counters writes family name (a counter) from table t. */
static void metrics_write_counters(struct expo_buf *b, struct metrics_table *t,
				   const char *name, const char *help)
{
	size_t used = atomic_load_explicit(&t->used, memory_order_acquire);
	struct expo_label l[METRICS_LABELS_MAX];

	expo_family(b, name, "counter", help);
	for (size_t i = 0; i < used; i++) {
		metrics_labels(t, &t->series[i], l);
		expo_sample_u64(b, name, l, t->nlabels,
				atomic_load_explicit(&t->series[i].count, memory_order_relaxed));
	}
}

/* metrics_write_histograms writes the request duration family. The
 * numbers are read one by one while requests go on, so a bucket may be a
 * request ahead of another; _count is their sum, so the page stays
 * consistent. */
static void metrics_write_histograms(struct expo_buf *b, struct metrics_table *t)
{
	size_t used = atomic_load_explicit(&t->used, memory_order_acquire);
	struct expo_label l[METRICS_LABELS_MAX];
	uint64_t counts[METRICS_BUCKETS];
	struct expo_histogram h = { metrics_http_bounds, metrics_http_bounds_len, counts, 0 };

	expo_family(b, "jobq_http_request_duration_seconds", "histogram",
		    "Time from a request's headers being read to its completion, by route pattern.");
	for (size_t i = 0; i < used; i++) {
		struct metrics_series *s = &t->series[i];
		for (size_t k = 0; k < METRICS_BUCKETS; k++)
			counts[k] = atomic_load_explicit(&s->buckets[k], memory_order_relaxed);
		h.sum = (double)atomic_load_explicit(&s->sum_ns, memory_order_relaxed) / 1e9;
		metrics_labels(t, s, l);
		expo_histogram(b, "jobq_http_request_duration_seconds", l, t->nlabels, &h);
	}
}

/* metrics_write_total writes a counter family with one unlabelled sample. */
static void metrics_write_total(struct expo_buf *b, const char *name, const char *help,
				atomic_uint_fast64_t *v)
{
	expo_family(b, name, "counter", help);
	expo_sample_u64(b, name, NULL, 0, atomic_load_explicit(v, memory_order_relaxed));
}

void metrics_write(struct metrics *m, struct expo_buf *b)
{
	metrics_write_counters(b, &m->http, "jobq_http_requests_total",
			       "HTTP requests this API process answered, by route pattern, method and status (499: the client went away).");
	metrics_write_histograms(b, &m->duration);
	metrics_write_total(b, "jobq_upload_bytes_total",
			    "Body bytes received by POST /v1/jobs in this API process.",
			    &m->upload_bytes);
	metrics_write_counters(b, &m->submitted, "jobq_jobs_submitted_total",
			       "Jobs this API process accepted (202), by queue and task.");
	metrics_write_counters(b, &m->rejected, "jobq_jobs_rejected_total",
			       "Submissions this API process refused, by error code.");
	metrics_write_total(b, "jobq_redis_errors_total",
			    "Requests of this API process that Redis failed: unreachable, timed out, or an error reply.",
			    &m->redis_errors);
	metrics_write_total(b, "jobq_http_header_timeouts_total",
			    "Connections this API process closed because a request's headers did not arrive within --header-timeout.",
			    &m->header_timeouts);
}
