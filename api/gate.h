/*
 * gate — what a routed request must pass before its handler runs: API
 * keys, operator-only routes, and rate limits.
 *
 * In order, for a request the router matched:
 *
 *   1. Auth (when --auth-file is set). Every route flagged ROUTE_KEY
 *      (router.h: /v1/ and /metrics) needs "Authorization: Bearer <token>"
 *      naming a key of the auth file (auth.h); missing or unknown: 401
 *      unauthorized with WWW-Authenticate: Bearer realm="jobq". The key's
 *      tenant goes into req->tenant, its operator flag into
 *      req->is_operator. /healthz and /readyz stay open. Without an auth file everything is open and
 *      req->tenant stays "".
 *   2. Operator-only routes (ROUTE_OPERATOR: /v1/queues, /metrics): with
 *      auth on, a valid key that is not an operator's gets 403 forbidden.
 *   3. Rate limits (ratelimit.h): every route that asks for a key
 *      (ROUTE_KEY: /v1/ and /metrics) takes a token from the bucket of its
 *      class (ROUTE_SUBMIT, POST /v1/jobs: submit; the rest: read) and its
 *      client (the tenant, or the client's IP address when auth is off or
 *      the key failed); an empty bucket answers 429 rate_limited with
 *      Retry-After, in place of any 401 or 403, so that guessing keys is
 *      no faster than the limits.
 *
 * All of this happens on the request's first call, before any body is
 * read. The state it uses (struct gate in struct api_server) is shared by
 * every HTTP thread; see auth.h and ratelimit.h for how each part guards
 * itself.
 */
#ifndef JOBQ_API_GATE_H
#define JOBQ_API_GATE_H

#include <microhttpd.h>
#include <stddef.h>

#include "auth.h"
#include "ratelimit.h"

struct api_request;

/* What the gate is configured with (main's option table fills it). */
struct gate_config {
	char auth_file[256];                         /* "" = auth off */
	struct ratelimit_limit limits[RATELIMIT_CLASSES];
};

struct gate {
	struct auth_keys keys;   /* shared: guarded by its own rwlock */
	struct ratelimit limits; /* shared: guarded by its stripes' mutexes */
	bool keys_made, limits_made;
};

/* gate_init's answer when what failed may pass (out of memory). */
#define GATE_ERESOURCE (-2)

/* gate_init loads the auth file and makes the buckets, and logs a "gate"
 * line (auth on or off, how many keys, the rates). Returns 0, or with a
 * sentence in err (never naming a token) -1 for a bad auth file or
 * GATE_ERESOURCE. Undo with gate_destroy. */
int gate_init(struct gate *g, const struct gate_config *cfg, char *err, size_t errlen);

/* gate_admit runs the checks above for req (routed). Returns 0 to go on, or
 * -1 after queueing the refusal in *ret. */
int gate_admit(struct gate *g, struct api_request *req, enum MHD_Result *ret);

/* gate_reload reads the auth file again (SIGHUP) and logs the outcome; a
 * file that cannot be read or is malformed leaves the old keys in use. */
void gate_reload(struct gate *g);

void gate_destroy(struct gate *g);

/* gate_parse_rate reads a rate: requests per second, a decimal from 0
 * (unlimited) to 1000000 (a config_parse_fn into a double). */
int gate_parse_rate(const char *text, void *dst, char *err, size_t errlen);

/* gate_parse_burst reads a burst: 0 (one second's worth) to 1000000 (a
 * config_parse_fn into a double). */
int gate_parse_burst(const char *text, void *dst, char *err, size_t errlen);

#endif
