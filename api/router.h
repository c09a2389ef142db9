/*
 * router — maps a request's method and path to a handler through a table.
 *
 * A route is {method, pattern, handler}. A pattern is a path whose segments
 * are either literal ("v1", "jobs") or a parameter in braces ("{id}") that
 * matches any one non-empty segment. The first route whose pattern and
 * method both match wins. When the path matches some pattern but no route
 * for it has the method, the answer is "method not allowed" together with
 * the methods that are (for the Allow header); when no pattern matches the
 * path at all, "not found".
 *
 * HEAD is served by GET routes: libmicrohttpd sends a HEAD reply's headers
 * and leaves its body out.
 *
 * Each route also carries its properties as flags (enum route_flag), set
 * once in the table: the gate and the server read them from the match
 * instead of working them out from the pattern on every request.
 *
 * A match copies parameter values out of the path, so it owns nothing and
 * points only into the static route table.
 */
#ifndef JOBQ_API_ROUTER_H
#define JOBQ_API_ROUTER_H

#include <microhttpd.h>
#include <stddef.h>

#define ROUTER_PARAMS_MAX 2    /* parameters one pattern may have */
#define ROUTER_PARAM_LEN 128   /* longest parameter value kept */

struct api_request;

/* A route handler is called for every call of the access handler about its
 * request: first with upload_data NULL and req->started false, then once
 * per piece of body (upload_data_size > 0; it must set *upload_data_size to
 * 0 after taking the bytes), then with *upload_data_size == 0 at the end of
 * the body. It returns MHD_YES, or MHD_NO to have the connection closed. */
typedef enum MHD_Result (*route_handler_fn)(struct api_request *req, const char *upload_data,
					    size_t *upload_data_size);

/* What a route asks of the request ahead of its handler. */
enum route_flag {
	ROUTE_KEY = 1u << 0,      /* with auth on, an API key; always a rate-limit token */
	ROUTE_OPERATOR = 1u << 1, /* with auth on, an operator's key (implies ROUTE_KEY) */
	ROUTE_SUBMIT = 1u << 2,   /* the token is of the submit class, not read */
	ROUTE_STORE = 1u << 3,    /* the handler uses Redis: the circuit breaker is asked */
};

struct route {
	const char *method;       /* "GET", "POST", ... */
	const char *pattern;      /* "/v1/jobs/{id}" */
	route_handler_fn handler;
	unsigned flags;           /* enum route_flag bits */
};

enum router_result {
	ROUTER_FOUND,
	ROUTER_NOT_FOUND,
	ROUTER_METHOD_NOT_ALLOWED,
};

struct router_match {
	const struct route *route;  /* ROUTER_FOUND only */
	size_t nparams;
	/* Parameter values in pattern order; "" when the segment was longer
	 * than ROUTER_PARAM_LEN (no valid id is that long). */
	char params[ROUTER_PARAMS_MAX][ROUTER_PARAM_LEN + 1];
	char allow[64];             /* ROUTER_METHOD_NOT_ALLOWED: "GET, HEAD" */
};

/* router_match looks method and path up in the n routes of table and fills
 * *m. Returns ROUTER_FOUND (m->route and m->params set),
 * ROUTER_METHOD_NOT_ALLOWED (m->allow set) or ROUTER_NOT_FOUND. */
enum router_result router_match(const struct route *table, size_t n, const char *method,
				const char *path, struct router_match *m);

#endif
