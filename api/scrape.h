/*
 * scrape — GET /metrics: every metric of jobq in the Prometheus text
 * format (exposition.h).
 *
 * A page has two parts. This API process's own counters (metrics.h) and
 * its circuit breaker's state (jobq_redis_circuit_open). Then what is the
 * same for the whole cluster, read from Redis on each scrape: queue depths
 * from overview.lua (the data GET /v1/queues shows), running jobs, and the
 * finished-job counters and run-time buckets the scripts keep as they end
 * jobs ({p}:metrics:*, keys.h). Workers publish nothing else: they touch
 * those hashes inside the Lua scripts that end jobs, at no extra round
 * trip.
 *
 * Redis down. The page is still 200: jobq_redis_scrape_ok is 0 and the
 * cluster-wide families are left out, so an outage shows on the graphs
 * instead of as a failed scrape. While the breaker is not closed Redis is
 * not even asked. /metrics does not go through the server's breaker gate
 * and reports nothing to the breaker: a scrape neither waits for nor
 * probes Redis on the clients' behalf.
 */
#ifndef JOBQ_API_SCRAPE_H
#define JOBQ_API_SCRAPE_H

#include <stddef.h>

#include "router.h"

/* Queues shown one by one on a page; the rest are summed under
 * queue="other", since clients name queues. */
#define SCRAPE_QUEUES_MAX 100

/* scrape_handle is the route handler of GET /metrics (router.h). */
enum MHD_Result scrape_handle(struct api_request *req, const char *upload_data,
			      size_t *upload_data_size);

#endif
