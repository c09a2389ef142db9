/*
 * redis_url — where Redis is, parsed from a URL.
 *
 *   redis://[[user]:password@]host[:port][/db]   TCP, port 6379, db 0
 *   unix:///path/to/redis.sock[?db=N]             Unix socket
 *
 * The host may be a name, an IPv4 address or [IPv6]. Nothing else is
 * accepted: a typo is an error at start-up, not a surprise later.
 */
#ifndef JOBQ_REDIS_URL_H
#define JOBQ_REDIS_URL_H

#include <stdbool.h>
#include <stddef.h>

struct redis_url {
	bool unix_socket;
	char host[256];     /* TCP host, or the socket path */
	int port;
	int db;
	char user[128];     /* empty unless given */
	char password[256]; /* empty unless given */
};

/* redis_url_parse fills *out from text. Returns 0, or -1 with *err (if not
 * NULL) pointing to a static sentence. */
int redis_url_parse(const char *text, struct redis_url *out, const char **err);

/* redis_url_config_parse is a config_parse_fn for --redis-url: it copies
 * text into dst (char[256]) when redis_url_parse accepts it, so that a
 * malformed URL stops start-up as a bad flag (exit status 2). Returns 0, or
 * -1 with the reason in err. */
int redis_url_config_parse(const char *text, void *dst, char *err, size_t errlen);

#endif
