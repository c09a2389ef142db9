/* redis_url.c — parsing of redis:// and unix:// URLs (see redis_url.h). */
#include "redis_url.h"
#include "config.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* copy_span copies [s, s+n) into out (cap bytes). Returns 0, or -1 when it
 * does not fit. */
static int copy_span(char *out, size_t cap, const char *s, size_t n)
{
	if (n >= cap)
		return -1;
	memcpy(out, s, n);
	out[n] = '\0';
	return 0;
}

/* parse_int reads a decimal in [lo, hi] from [s, s+n). Returns 0 or -1. */
static int parse_int(const char *s, size_t n, int lo, int hi, int *out)
{
	if (n == 0 || n > 9)
		return -1;
	int v = 0;
	for (size_t i = 0; i < n; i++) {
		if (s[i] < '0' || s[i] > '9')
			return -1;
		v = v * 10 + (s[i] - '0');
	}
	if (v < lo || v > hi)
		return -1;
	*out = v;
	return 0;
}

static int fail(const char **err, const char *why)
{
	if (err)
		*err = why;
	return -1;
}

/* parse_userinfo splits "user:password" or ":password" or "password". */
static int parse_userinfo(const char *s, size_t n, struct redis_url *out)
{
	const char *colon = memchr(s, ':', n);
	if (!colon)
		return copy_span(out->password, sizeof out->password, s, n);
	if (copy_span(out->user, sizeof out->user, s, (size_t)(colon - s)) < 0)
		return -1;
	return copy_span(out->password, sizeof out->password, colon + 1,
			 n - (size_t)(colon - s) - 1);
}

/* parse_hostport reads "host", "host:port", "[v6]" or "[v6]:port". */
static int parse_hostport(const char *s, size_t n, struct redis_url *out)
{
	const char *port = NULL;
	if (n > 0 && s[0] == '[') {
		const char *close = memchr(s, ']', n);
		if (!close || copy_span(out->host, sizeof out->host, s + 1, (size_t)(close - s) - 1) < 0)
			return -1;
		if ((size_t)(close - s) + 1 < n) {
			if (close[1] != ':')
				return -1;
			port = close + 2;
		}
	} else {
		const char *colon = memchr(s, ':', n);
		size_t hn = colon ? (size_t)(colon - s) : n;
		if (copy_span(out->host, sizeof out->host, s, hn) < 0)
			return -1;
		port = colon ? colon + 1 : NULL;
	}
	if (out->host[0] == '\0')
		return -1;
	if (port && parse_int(port, (size_t)(s + n - port), 1, 65535, &out->port) < 0)
		return -1;
	return 0;
}

static int parse_tcp(const char *rest, struct redis_url *out, const char **err)
{
	const char *slash = strchr(rest, '/');
	size_t authority = slash ? (size_t)(slash - rest) : strlen(rest);
	const char *at = memchr(rest, '@', authority);
	if (at) {
		if (parse_userinfo(rest, (size_t)(at - rest), out) < 0)
			return fail(err, "the user or password in the Redis URL is too long");
		authority -= (size_t)(at - rest) + 1;
		rest = at + 1;
	}
	if (parse_hostport(rest, authority, out) < 0)
		return fail(err, "the Redis URL needs host[:port] with a port from 1 to 65535");
	if (slash && slash[1] != '\0' &&
	    parse_int(slash + 1, strlen(slash + 1), 0, 1000000, &out->db) < 0)
		return fail(err, "the database in the Redis URL must be a number");
	return 0;
}

static int parse_unix(const char *rest, struct redis_url *out, const char **err)
{
	const char *query = strchr(rest, '?');
	size_t n = query ? (size_t)(query - rest) : strlen(rest);
	if (n == 0 || rest[0] != '/')
		return fail(err, "a unix:// Redis URL needs an absolute socket path");
	if (copy_span(out->host, sizeof out->host, rest, n) < 0)
		return fail(err, "the socket path in the Redis URL is too long");
	out->unix_socket = true;
	if (query) {
		if (strncmp(query, "?db=", 4) != 0 ||
		    parse_int(query + 4, strlen(query + 4), 0, 1000000, &out->db) < 0)
			return fail(err, "the only query a unix:// Redis URL takes is ?db=N");
	}
	return 0;
}

int redis_url_parse(const char *text, struct redis_url *out, const char **err)
{
	memset(out, 0, sizeof *out);
	out->port = 6379;
	if (strncmp(text, "redis://", 8) == 0)
		return parse_tcp(text + 8, out, err);
	if (strncmp(text, "unix://", 7) == 0)
		return parse_unix(text + 7, out, err);
	return fail(err, "the Redis URL must start with redis:// or unix://");
}

int redis_url_config_parse(const char *text, void *dst, char *err, size_t errlen)
{
	struct redis_url url;
	const char *why = NULL;

	if (redis_url_parse(text, &url, &why) != 0) {
		snprintf(err, errlen, "is not a Redis URL: %s", why != NULL ? why : "malformed");
		return -1;
	}
	return config_parse_string(text, dst, err, errlen);
}
