/*
 * gate.c — auth, operator-only routes and rate limits ahead of every
 * handler (see gate.h).
 */
#include "gate.h"
#include "edge.h"

#include <arpa/inet.h>
#include <netinet/in.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>

#include "log.h"
#include "reply.h"
#include "router.h"
#include "server.h"

#define GATE_RATE_MAX 1000000.0

/* A key's tenant is copied whole into the request, and from there into the
 * job it submits. */
_Static_assert(AUTH_TENANT_MAX == JOB_TENANT_MAX, "a tenant fits a job's tenant");
_Static_assert(sizeof ((struct api_request *)0)->tenant == AUTH_TENANT_MAX + 1,
	       "a tenant fits a request's tenant");

int gate_init(struct gate *g, const struct gate_config *cfg, char *err, size_t errlen)
{
	char why[300];
	int rc;

	memset(g, 0, sizeof *g);
	rc = auth_keys_init(&g->keys, cfg->auth_file, why, sizeof why);
	if (rc != 0) {
		snprintf(err, errlen, "%s (--auth-file, JOBQ_AUTH_FILE)", why);
		return rc == AUTH_ERESOURCE ? GATE_ERESOURCE : -1;
	}
	g->keys_made = true;
	if (ratelimit_init(&g->limits, cfg->limits, NULL, NULL) != 0) {
		snprintf(err, errlen, "out of memory for the rate limit buckets");
		return GATE_ERESOURCE;
	}
	g->limits_made = true;
	log_event(LOG_INFO, "gate",
		  json_pack("{s:b, s:I, s:f, s:f}", "auth", auth_keys_enabled(&g->keys),
			    "keys", (json_int_t)(g->keys.table != NULL ? g->keys.table->len : 0),
			    "rate_submit", cfg->limits[RATELIMIT_SUBMIT].rate,
			    "rate_read", cfg->limits[RATELIMIT_READ].rate));
	return 0;
}

void gate_destroy(struct gate *g)
{
	if (g->keys_made)
		auth_keys_destroy(&g->keys);
	if (g->limits_made)
		ratelimit_destroy(&g->limits);
	g->keys_made = g->limits_made = false;
}

void gate_reload(struct gate *g)
{
	char err[400];
	long n;

	if (!auth_keys_enabled(&g->keys)) {
		log_event(LOG_INFO, "SIGHUP: no --auth-file is set, nothing to reload", NULL);
		return;
	}
	n = auth_keys_reload(&g->keys, err, sizeof err);
	if (n < 0)
		log_event(LOG_ERROR, "auth file not reloaded: the old keys stay in use",
			  json_pack("{s:s}", "error", err));
	else
		log_event(LOG_INFO, "auth file reloaded", json_pack("{s:I}", "keys", (json_int_t)n));
}

/* ---- The checks --------------------------------------------------------- */

/* gate_auth checks req's key and fills req->tenant and req->is_operator.
 * Returns 0, or -1 with *e set to 401 or 403. */
static int gate_auth(struct gate *g, struct api_request *req, struct reply_error *e)
{
	const char *h = MHD_lookup_connection_value(req->conn, MHD_HEADER_KIND,
						    MHD_HTTP_HEADER_AUTHORIZATION);
	struct auth_identity who;

	if (!auth_keys_check(&g->keys, h, &who)) {
		reply_error_set(e, MHD_HTTP_UNAUTHORIZED, "unauthorized",
				"This needs an API key: Authorization: Bearer <token>.");
		e->authenticate = "Bearer realm=\"jobq\"";
		return -1;
	}
	memcpy(req->tenant, who.tenant, sizeof req->tenant);
	req->is_operator = who.operator_;
	if ((req->matched->flags & ROUTE_OPERATOR) && !req->is_operator) {
		reply_error_set(e, MHD_HTTP_FORBIDDEN, "forbidden",
				"This is an operator view; this API key is not an operator's.");
		return -1;
	}
	return 0;
}

/* gate_client_ip writes req's client address as text into out ("?" when
 * unknown). */
static void gate_client_ip(struct api_request *req, char out[INET6_ADDRSTRLEN])
{
	const union MHD_ConnectionInfo *ci =
		MHD_get_connection_info(req->conn, MHD_CONNECTION_INFO_CLIENT_ADDRESS);

	edge_client_text(ci != NULL ? ci->client_addr : NULL, out);
}

/* gate_rate takes req's token: from its tenant's bucket, or, with no
 * tenant (auth off, or a key that failed), from its address's ("ip:..."; a
 * tenant name has no ':'). Returns 0, or -1 with *e replaced by 429. With
 * no limit for the request's class nothing is taken, and the address is not
 * written out (inet_ntop and the "ip:" were 3 % of a submission's
 * instructions). */
static int gate_rate(struct gate *g, struct api_request *req, struct reply_error *e)
{
	bool submit = (req->matched->flags & ROUTE_SUBMIT) != 0;
	enum ratelimit_class cls = submit ? RATELIMIT_SUBMIT : RATELIMIT_READ;
	char ip[INET6_ADDRSTRLEN], addr[INET6_ADDRSTRLEN + 3];
	const char *client = req->tenant;
	int retry_after_s = 1;

	if (!ratelimit_limited(&g->limits, cls))
		return 0;
	if (client[0] == '\0') {
		gate_client_ip(req, ip);
		snprintf(addr, sizeof addr, "ip:%s", ip);
		client = addr;
	}
	if (ratelimit_take(&g->limits, cls, client, &retry_after_s))
		return 0;
	reply_error_set(e, MHD_HTTP_TOO_MANY_REQUESTS, "rate_limited",
			"Too many %s requests; try again in %d s.", submit ? "submit" : "read",
			retry_after_s);
	e->retry_after_s = retry_after_s;
	return -1;
}

/* gate_admit spends a token even for a request whose key failed (from
 * its address's bucket), so that guessing keys is as slow as the limits;
 * every route that asks for a key (/metrics too, which tells a tenant's
 * key from an unknown one by 403 vs 401) takes a read token. */
int gate_admit(struct gate *g, struct api_request *req, enum MHD_Result *ret)
{
	struct reply_error e = { 0 };
	bool refused = false;

	if (!(req->matched->flags & ROUTE_KEY))
		return 0;
	if (auth_keys_enabled(&g->keys))
		refused = gate_auth(g, req, &e) != 0;
	if (gate_rate(g, req, &e) != 0)
		refused = true;
	if (!refused)
		return 0;
	*ret = reply_send_error(req, &e);
	return -1;
}

/* ---- Option values ------------------------------------------------------ */

/* gate_parse_number reads a decimal from 0 to GATE_RATE_MAX into *out.
 * Returns 0, or -1 with err set. */
static int gate_parse_number(const char *text, double *out, char *err, size_t errlen)
{
	char *end = NULL;
	double v;

	if (text[0] < '0' || text[0] > '9') {
		snprintf(err, errlen, "is not a number");
		return -1;
	}
	v = strtod(text, &end);
	if (*end != '\0' || !(v >= 0 && v <= GATE_RATE_MAX)) {
		snprintf(err, errlen, "is not a number from 0 to 1000000");
		return -1;
	}
	*out = v;
	return 0;
}

int gate_parse_rate(const char *text, void *dst, char *err, size_t errlen)
{
	return gate_parse_number(text, dst, err, errlen);
}

int gate_parse_burst(const char *text, void *dst, char *err, size_t errlen)
{
	double v = 0;

	if (gate_parse_number(text, &v, err, errlen) != 0)
		return -1;
	if (v != (double)(long)v) {
		snprintf(err, errlen, "is not a whole number");
		return -1;
	}
	*(double *)dst = v;
	return 0;
}
