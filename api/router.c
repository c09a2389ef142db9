/*
 * router.c — pattern matching over the route table (see router.h).
 *
 * Paths are compared segment by segment with no decoding of their own:
 * libmicrohttpd has already unescaped the path, and a segment that held an
 * escaped '/' simply fails to match, which is the right answer for ids.
 */
#include "router.h"

#include <stdbool.h>
#include <stdio.h>
#include <string.h>

/* router_copy_param keeps the len bytes at seg as the next parameter of m,
 * or "" when they do not fit. */
static void router_copy_param(struct router_match *m, const char *seg, size_t len)
{
	char *dst = m->params[m->nparams++];

	if (len > ROUTER_PARAM_LEN)
		len = 0;
	memcpy(dst, seg, len);
	dst[len] = '\0';
}

/* router_pattern_matches returns true when path has pattern's shape, with
 * m's parameters set from it. Both must start with '/'; a trailing '/' on
 * either side is a segment of its own, so "/healthz/" is not "/healthz". */
static bool router_pattern_matches(const char *pattern, const char *path,
				   struct router_match *m)
{
	m->nparams = 0;
	while (*pattern == '/' && *path == '/') {
		size_t plen = strcspn(++pattern, "/");
		size_t len = strcspn(++path, "/");

		if (pattern[0] == '{') {
			if (len == 0 || m->nparams == ROUTER_PARAMS_MAX)
				return false;
			router_copy_param(m, path, len);
		} else if (plen != len || memcmp(pattern, path, len) != 0) {
			return false;
		}
		pattern += plen;
		path += len;
	}
	return *pattern == '\0' && *path == '\0';
}

/* router_method_matches returns true when a request with method may use a
 * route for route_method (HEAD rides on GET). */
static bool router_method_matches(const char *route_method, const char *method)
{
	return strcmp(route_method, method) == 0 ||
	       (strcmp(route_method, "GET") == 0 && strcmp(method, "HEAD") == 0);
}

/* router_allow_add appends method (and HEAD after GET) to the Allow list
 * unless it is already there. */
static void router_allow_add(char *allow, size_t cap, const char *method)
{
	size_t used = strlen(allow);

	if (strstr(allow, method) != NULL)
		return;
	snprintf(allow + used, cap - used, "%s%s%s", used ? ", " : "", method,
		 strcmp(method, "GET") == 0 ? ", HEAD" : "");
}

enum router_result router_match(const struct route *table, size_t n, const char *method,
				const char *path, struct router_match *m)
{
	bool path_known = false;

	m->route = NULL;
	m->allow[0] = '\0';
	for (size_t i = 0; i < n; i++) {
		if (!router_pattern_matches(table[i].pattern, path, m))
			continue;
		if (router_method_matches(table[i].method, method)) {
			m->route = &table[i];
			return ROUTER_FOUND;
		}
		path_known = true;
		router_allow_add(m->allow, sizeof m->allow, table[i].method);
	}
	return path_known ? ROUTER_METHOD_NOT_ALLOWED : ROUTER_NOT_FOUND;
}
