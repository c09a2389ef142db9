/*
 * metrics — jobq-api's own counters for GET /metrics, kept in process
 * memory.
 *
 * What is counted here: HTTP requests by route, method and status, their
 * duration by route (a histogram), upload bytes, jobs submitted by queue
 * and task, submissions rejected by error code, and requests that Redis
 * failed. Job and queue figures that are the same for the whole cluster
 * (queue depths, finished jobs, job durations, running jobs) come from
 * Redis instead (scrape.h). With several API processes each serves its own
 * HTTP counters.
 *
 * Bounded series. Every labelled family is a table of at most a fixed
 * number of series. Label values come from validated input (queue names,
 * tasks of the catalog, error codes, route patterns), yet a client can
 * still make many queue names: once a table is one short of full, any new
 * combination is counted under the series whose labels are all "other",
 * which takes the last slot. A value longer than METRICS_VALUE_MAX is
 * "other" too.
 *
 * Sharing. One struct metrics serves all of libmicrohttpd's threads.
 * Counting is lock-free: each series' numbers are atomics, and the series
 * [0, used) of a table are complete and never change their labels, so
 * they are looked up without a lock. Adding a series takes the table's
 * mutex, which guards only the slot being filled and the store to used
 * (a release store, read with acquire).
 */
#ifndef JOBQ_API_METRICS_H
#define JOBQ_API_METRICS_H

#include <stdint.h>

#include "exposition.h"

#define METRICS_VALUE_MAX 64 /* longest label value kept as is */

/* The buckets of jobq_http_request_duration_seconds, in seconds. */
extern const double metrics_http_bounds[];
extern const size_t metrics_http_bounds_len;

struct metrics;

/* metrics_new returns an empty set of counters (the caller frees it with
 * metrics_free), or NULL when out of memory. */
struct metrics *metrics_new(void);
void metrics_free(struct metrics *m);

/* metrics_http_request counts a finished request: route is its pattern
 * (NULL: it matched none, counted as "unmatched"), method as sent (methods
 * other than the usual ones count as "other"), status the one logged
 * (499: the client went away), seconds from first call to completion. */
void metrics_http_request(struct metrics *m, const char *route, const char *method,
			  unsigned status, double seconds);

/* metrics_upload_bytes counts n body bytes received by POST /v1/jobs. */
void metrics_upload_bytes(struct metrics *m, uint64_t n);

/* metrics_job_submitted counts a job accepted onto queue for task. */
void metrics_job_submitted(struct metrics *m, const char *queue, const char *task);

/* metrics_job_rejected counts a submission refused with error code
 * reason (invalid_csv, payload_too_large, queue_full, ...). */
void metrics_job_rejected(struct metrics *m, const char *reason);

/* metrics_redis_error counts a request that Redis failed (unreachable,
 * timed out, or an error reply). */
void metrics_redis_error(struct metrics *m);

/* metrics_header_timeout counts a connection closed because its request
 * headers did not arrive within --header-timeout. */
void metrics_header_timeout(struct metrics *m);

/* metrics_write appends every family kept here to b. */
void metrics_write(struct metrics *m, struct expo_buf *b);

#endif
