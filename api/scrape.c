/*
 * scrape.c — GET /metrics (see scrape.h).
 *
 * Layout: the cluster-wide families read from Redis (queues, finished
 * jobs, run times), then the page and the handler.
 */
#include "scrape.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "exposition.h"
#include "handlers.h"
#include "job_store.h"
#include "log.h"
#include "metrics.h"
#include "reply.h"
#include "server.h"

/* The most run-time bounds job_store_run_bounds may hold. */
#define SCRAPE_BOUNDS_MAX 32

/* ---- Queues ------------------------------------------------------------- */

/* Indexes of scrape_states. */
enum { SCRAPE_QUEUED, SCRAPE_RUNNING, SCRAPE_SCHEDULED, SCRAPE_DEAD };
static const char *const scrape_states[] = {
	[SCRAPE_QUEUED] = "queued", [SCRAPE_RUNNING] = "running",
	[SCRAPE_SCHEDULED] = "scheduled", [SCRAPE_DEAD] = "dead",
};
#define SCRAPE_STATES (sizeof scrape_states / sizeof scrape_states[0])

/* scrape_queue_counts adds queue q's count of each state to into. */
static void scrape_queue_counts(json_t *q, uint64_t *into)
{
	for (size_t k = 0; k < SCRAPE_STATES; k++)
		into[k] += (uint64_t)json_integer_value(json_object_get(q, scrape_states[k]));
}

/* scrape_queue_write writes queue name's jobq_queue_jobs samples. */
static void scrape_queue_write(struct expo_buf *b, const char *name, const uint64_t *counts)
{
	for (size_t k = 0; k < SCRAPE_STATES; k++) {
		struct expo_label l[] = { { "queue", name }, { "state", scrape_states[k] } };
		expo_sample_u64(b, "jobq_queue_jobs", l, 2, counts[k]);
	}
}

/* scrape_queues writes jobq_queue_jobs and jobq_jobs_running from the
 * overview (job_store_overview): the first SCRAPE_QUEUES_MAX queues by
 * name one by one, the rest summed as "other". */
static void scrape_queues(struct expo_buf *b, json_t *overview)
{
	json_t *queues = json_object_get(overview, "queues"), *q;
	uint64_t other[SCRAPE_STATES] = { 0 }, total[SCRAPE_STATES] = { 0 };
	size_t i;

	expo_family(b, "jobq_queue_jobs", "gauge",
		    "Jobs per queue and state (queued, running, scheduled for a retry, dead letters), cluster-wide.");
	json_array_foreach(queues, i, q) {
		uint64_t counts[SCRAPE_STATES] = { 0 };
		scrape_queue_counts(q, counts);
		scrape_queue_counts(q, total);
		if (i < SCRAPE_QUEUES_MAX)
			scrape_queue_write(b, json_string_value(json_object_get(q, "name")), counts);
		else
			scrape_queue_counts(q, other);
	}
	if (json_array_size(queues) > SCRAPE_QUEUES_MAX)
		scrape_queue_write(b, "other", other);
	expo_family(b, "jobq_jobs_running", "gauge", "Jobs running on some worker now, cluster-wide.");
	expo_sample_u64(b, "jobq_jobs_running", NULL, 0, total[SCRAPE_RUNNING]);
}

/* ---- Finished jobs and run times ---------------------------------------- */

/* scrape_split copies field "<a>|<b>" into buf (cap bytes) and returns a
 * pointer to b within it, the '|' (the last one) made a NUL; NULL when
 * field has no '|' or does not fit. */
static char *scrape_split(const char *field, char *buf, size_t cap)
{
	char *bar;

	if (strlen(field) >= cap)
		return NULL;
	strcpy(buf, field);
	bar = strrchr(buf, '|');
	if (bar == NULL)
		return NULL;
	*bar = '\0';
	return bar + 1;
}

/* scrape_finished writes jobq_jobs_finished_total from finished
 * ({"<task>|<status>": n}). */
static void scrape_finished(struct expo_buf *b, json_t *finished)
{
	const char *field;
	json_t *n;
	char task[256];

	expo_family(b, "jobq_jobs_finished_total", "counter",
		    "Jobs ended, by task and final status (succeeded, failed, cancelled), cluster-wide.");
	json_object_foreach(finished, field, n) {
		const char *status = scrape_split(field, task, sizeof task);
		if (status == NULL)
			continue;
		struct expo_label l[] = { { "task", task }, { "status", status } };
		expo_sample_u64(b, "jobq_jobs_finished_total", l, 2, (uint64_t)json_integer_value(n));
	}
}

/* The run-time bounds, parsed from job_store_run_bounds. */
struct scrape_bounds {
	char text[256];
	const char *names[SCRAPE_BOUNDS_MAX];  /* into text: the hash's field suffixes */
	double values[SCRAPE_BOUNDS_MAX];
	size_t n;
};

static void scrape_bounds_parse(struct scrape_bounds *sb)
{
	char *save = NULL;

	snprintf(sb->text, sizeof sb->text, "%s", job_store_run_bounds);
	sb->n = 0;
	for (char *t = strtok_r(sb->text, ",", &save); t != NULL && sb->n < SCRAPE_BOUNDS_MAX;
	     t = strtok_r(NULL, ",", &save)) {
		sb->names[sb->n] = t;
		sb->values[sb->n++] = strtod(t, NULL);
	}
}

/* scrape_task_field returns the integer at "<task>|<suffix>" in duration,
 * 0 when absent. */
static uint64_t scrape_task_field(json_t *duration, const char *task, const char *suffix)
{
	char field[320];

	snprintf(field, sizeof field, "%s|%s", task, suffix);
	return (uint64_t)json_integer_value(json_object_get(duration, field));
}

/* scrape_task_histogram writes task's jobq_job_duration_seconds. */
static void scrape_task_histogram(struct expo_buf *b, json_t *duration, const char *task,
				  const struct scrape_bounds *sb)
{
	uint64_t counts[SCRAPE_BOUNDS_MAX + 1];
	struct expo_label l[] = { { "task", task } };
	struct expo_histogram h = { sb->values, sb->n, counts, 0 };

	for (size_t i = 0; i < sb->n; i++)
		counts[i] = scrape_task_field(duration, task, sb->names[i]);
	counts[sb->n] = scrape_task_field(duration, task, "+Inf");
	h.sum = (double)scrape_task_field(duration, task, "sum_ms") / 1000.0;
	expo_histogram(b, "jobq_job_duration_seconds", l, 1, &h);
}

/* scrape_durations writes jobq_job_duration_seconds, one histogram per
 * task that has a "<task>|count" field in duration. */
static void scrape_durations(struct expo_buf *b, json_t *duration)
{
	struct scrape_bounds sb;
	const char *field;
	json_t *n;
	char task[256];

	scrape_bounds_parse(&sb);
	expo_family(b, "jobq_job_duration_seconds", "histogram",
		    "Run time of job attempts (claim to end, retried attempts too), by task, cluster-wide.");
	json_object_foreach(duration, field, n) {
		const char *suffix = scrape_split(field, task, sizeof task);
		if (suffix != NULL && strcmp(suffix, "count") == 0)
			scrape_task_histogram(b, duration, task, &sb);
	}
}

/* ---- The page ----------------------------------------------------------- */

/* The cluster-wide figures as Redis gave them: both owned, released by
 * scrape_cluster_free. */
struct scrape_cluster {
	json_t *overview;  /* overview.lua's */
	json_t *jobs;      /* job_store_metrics' */
};

/* scrape_cluster_read reads the figures of the cluster-wide families into
 * *c. Returns 0, or -1 (logged) when Redis could not give them; *c then
 * holds nothing. */
static int scrape_cluster_read(struct api_request *req, struct scrape_cluster *c)
{
	struct job_store *st = api_server_store(req->server);
	enum job_store_status s = JOB_STORE_ENOMEM;

	if (st != NULL)
		s = job_store_overview(st, &c->overview);
	if (s == JOB_STORE_OK)
		s = job_store_metrics(st, &c->jobs);
	if (s == JOB_STORE_OK)
		return 0;
	log_job(LOG_WARN, "metrics: the cluster-wide figures could not be read", req->request_id,
		NULL, json_pack("{s:i, s:s}", "status", (int)s,
				"error", st != NULL ? job_store_errstr(st) : "out of memory"));
	json_decref(c->overview);
	json_decref(c->jobs);
	c->overview = c->jobs = NULL;
	return -1;
}

/* scrape_cluster_write writes the families of c (read) into b. */
static void scrape_cluster_write(struct expo_buf *b, const struct scrape_cluster *c)
{
	scrape_queues(b, c->overview);
	scrape_finished(b, json_object_get(c->jobs, "finished"));
	scrape_durations(b, json_object_get(c->jobs, "duration"));
}

static void scrape_cluster_free(struct scrape_cluster *c)
{
	json_decref(c->overview);
	json_decref(c->jobs);
}

/* scrape_page writes the whole page into b. Redis is read first, so that
 * a failure to read it is already in jobq_redis_errors_total; what it gave
 * is written straight into b after this process's own families. */
static void scrape_page(struct api_request *req, struct expo_buf *b)
{
	struct api_server *srv = req->server;
	bool closed = breaker_state(&srv->breaker) == BREAKER_CLOSED;
	bool redis_ok = false;
	struct scrape_cluster cluster = { NULL, NULL };

	if (closed && scrape_cluster_read(req, &cluster) == 0)
		redis_ok = true;
	else if (closed)
		metrics_redis_error(srv->metrics);
	metrics_write(srv->metrics, b);
	expo_family(b, "jobq_redis_circuit_open", "gauge",
		    "1 while this API process's circuit breaker refuses requests that need Redis (open or half-open), else 0.");
	expo_sample_u64(b, "jobq_redis_circuit_open", NULL, 0, closed ? 0 : 1);
	expo_family(b, "jobq_redis_scrape_ok", "gauge",
		    "1 when this page's cluster-wide families (queues, finished jobs, run times) were read from Redis, else 0 and they are left out.");
	expo_sample_u64(b, "jobq_redis_scrape_ok", NULL, 0, redis_ok ? 1 : 0);
	if (redis_ok)
		scrape_cluster_write(b, &cluster);
	scrape_cluster_free(&cluster);
}

/* scrape_reply queues b's text (taken over) as the 200 reply. */
static enum MHD_Result scrape_reply(struct api_request *req, struct expo_buf *b)
{
	struct reply_error e = { 0 };
	struct MHD_Response *resp = NULL;
	size_t len;
	char *text = expo_take(b, &len);

	if (text != NULL)
		resp = MHD_create_response_from_buffer(len, text, MHD_RESPMEM_MUST_FREE);
	if (resp == NULL)
		free(text); /* else the response owns it now */
	if (resp == NULL ||
	    MHD_add_response_header(resp, MHD_HTTP_HEADER_CONTENT_TYPE, EXPO_CONTENT_TYPE) != MHD_YES) {
		if (resp != NULL)
			MHD_destroy_response(resp);
		reply_error_oom(&e);
		return reply_send_error(req, &e);
	}
	return reply_queue(req, MHD_HTTP_OK, resp, len);
}

enum MHD_Result scrape_handle(struct api_request *req, const char *upload_data,
			      size_t *upload_data_size)
{
	struct expo_buf b;
	int wait;

	(void)upload_data;
	if ((wait = handlers_wait(req, upload_data_size)) != 0)
		return wait > 0 ? MHD_YES : MHD_NO;
	expo_init(&b);
	scrape_page(req, &b);
	return scrape_reply(req, &b);
}
