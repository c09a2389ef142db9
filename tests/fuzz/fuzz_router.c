/*
 * fuzz_router.c — the router (api/router.h) over jobq's own route table,
 * behind the server's unescaping of the path (edge_unescape).
 *
 * Input: a method up to the first newline, then the raw path, which is
 * unescaped in place first, as libmicrohttpd does with the server's
 * unescape callback.
 *
 * Invariants: a found route has the request's method (or GET for HEAD)
 * and parameters that fit and hold no '/'; "method not allowed" names the
 * allowed methods; the unescaped path is never longer than the raw one
 * and holds no NUL.
 */
#include <string.h>

#include "edge.h"
#include "fuzz.h"
#include "handlers.h"
#include "router.h"

/* check_found checks a ROUTER_FOUND match for method. */
static void check_found(const struct router_match *m, const char *method)
{
	FUZZ_ASSERT(m->route != NULL);
	FUZZ_ASSERT(strcmp(m->route->method, method) == 0 ||
		    (strcmp(method, "HEAD") == 0 && strcmp(m->route->method, "GET") == 0));
	FUZZ_ASSERT(m->nparams <= ROUTER_PARAMS_MAX);
	for (size_t i = 0; i < m->nparams; i++) {
		FUZZ_ASSERT(strlen(m->params[i]) <= ROUTER_PARAM_LEN);
		FUZZ_ASSERT(strchr(m->params[i], '/') == NULL);
	}
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	const uint8_t *nl = memchr(data, '\n', size);
	char method[16], *path;
	size_t mlen, plen, unescaped;
	struct router_match m;
	enum router_result r;

	if (nl == NULL)
		return 0;
	mlen = (size_t)(nl - data) < sizeof method - 1 ? (size_t)(nl - data) : sizeof method - 1;
	memcpy(method, data, mlen);
	method[mlen] = '\0';
	plen = size - (size_t)(nl - data) - 1;
	path = malloc(plen + 1);
	FUZZ_ASSERT(path != NULL);
	memcpy(path, nl + 1, plen);
	path[plen] = '\0';
	plen = strlen(path); /* a NUL on the wire ends the path there */
	unescaped = edge_unescape(NULL, NULL, path);
	FUZZ_ASSERT(unescaped <= plen && strlen(path) == unescaped); /* no NUL decoded */
	r = router_match(handlers_routes, handlers_routes_len, method, path, &m);
	if (r == ROUTER_FOUND)
		check_found(&m, method);
	else if (r == ROUTER_METHOD_NOT_ALLOWED)
		FUZZ_ASSERT(m.allow[0] != '\0');
	else
		FUZZ_ASSERT(r == ROUTER_NOT_FOUND);
	free(path);
	return 0;
}
