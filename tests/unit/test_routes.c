/* Unit tests: the route table's flags (handlers.h, router.h) — which
 * routes ask for a key, which are the operator's, which rate class each
 * takes and which need Redis, stated route by route so that a row added
 * to the table without thought fails here. */
#include <criterion/criterion.h>
#include <string.h>

#include "handlers.h"

/* routes_find returns the table's route for method and pattern (NULL when
 * there is none). */
static const struct route *routes_find(const char *method, const char *pattern)
{
	for (size_t i = 0; i < handlers_routes_len; i++)
		if (strcmp(handlers_routes[i].method, method) == 0 &&
		    strcmp(handlers_routes[i].pattern, pattern) == 0)
			return &handlers_routes[i];
	return NULL;
}

/* routes_flags returns the flags of method and pattern's route, failing
 * the test when the table has none. */
static unsigned routes_flags(const char *method, const char *pattern)
{
	const struct route *r = routes_find(method, pattern);

	cr_assert_not_null(r, "%s %s is in the table", method, pattern);
	return r->flags;
}

Test(routes, every_v1_route_needs_a_key_and_the_health_checks_do_not)
{
	for (size_t i = 0; i < handlers_routes_len; i++) {
		const struct route *r = &handlers_routes[i];
		bool v1 = strncmp(r->pattern, "/v1/", 4) == 0;

		if (v1)
			cr_expect(r->flags & ROUTE_KEY, "%s %s needs a key", r->method, r->pattern);
	}
	cr_expect_eq(routes_flags("GET", "/healthz") & ROUTE_KEY, 0);
	cr_expect_eq(routes_flags("GET", "/readyz") & ROUTE_KEY, 0);
}

Test(routes, every_operator_only_route_needs_a_key)
{
	for (size_t i = 0; i < handlers_routes_len; i++) {
		const struct route *r = &handlers_routes[i];

		if (r->flags & ROUTE_OPERATOR)
			cr_expect(r->flags & ROUTE_KEY, "%s %s: operator-only needs a key",
				  r->method, r->pattern);
	}
}

Test(routes, the_operator_views_are_queues_and_metrics_only)
{
	size_t n = 0;

	for (size_t i = 0; i < handlers_routes_len; i++)
		n += (handlers_routes[i].flags & ROUTE_OPERATOR) != 0;
	cr_expect_eq(n, 2);
	cr_expect(routes_flags("GET", "/v1/queues") & ROUTE_OPERATOR);
	cr_expect(routes_flags("GET", "/metrics") & ROUTE_OPERATOR);
}

Test(routes, metrics_needs_a_key_and_takes_a_read_token)
{
	unsigned f = routes_flags("GET", "/metrics");

	cr_expect(f & ROUTE_KEY);
	cr_expect_eq(f & ROUTE_SUBMIT, 0);
}

Test(routes, only_post_v1_jobs_takes_a_submit_token)
{
	for (size_t i = 0; i < handlers_routes_len; i++) {
		const struct route *r = &handlers_routes[i];
		bool submit = strcmp(r->method, "POST") == 0 && strcmp(r->pattern, "/v1/jobs") == 0;

		cr_expect_eq((r->flags & ROUTE_SUBMIT) != 0, submit, "%s %s", r->method,
			     r->pattern);
	}
}

Test(routes, every_route_but_healthz_and_metrics_needs_the_store)
{
	for (size_t i = 0; i < handlers_routes_len; i++) {
		const struct route *r = &handlers_routes[i];
		bool own = strcmp(r->pattern, "/healthz") == 0 || strcmp(r->pattern, "/metrics") == 0;

		cr_expect_eq((r->flags & ROUTE_STORE) == 0, own, "%s %s", r->method, r->pattern);
	}
}
