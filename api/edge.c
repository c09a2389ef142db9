/*
 * edge.c — timeouts of one connection and the open files limit (see
 * edge.h).
 */
#include "edge.h"

#include <arpa/inet.h>
#include <errno.h>
#include <stdio.h>
#include <string.h>
#include <sys/resource.h>

#include "log.h"

#define EDGE_NS_PER_S 1000000000LL

unsigned edge_timeout_s(int64_t elapsed_ns, int idle_s, int upload_s)
{
	int64_t left_ns = (int64_t)upload_s * EDGE_NS_PER_S - elapsed_ns;
	int64_t left_s;

	if (left_ns <= 0)
		return 0;
	left_s = (left_ns + EDGE_NS_PER_S - 1) / EDGE_NS_PER_S;
	if (left_s > idle_s)
		left_s = idle_s;
	return left_s < 1 ? 1 : (unsigned)left_s;
}

bool edge_body_piece(struct MHD_Connection *conn, int64_t elapsed_ns, int idle_s, int upload_s)
{
	unsigned t = edge_timeout_s(elapsed_ns, idle_s, upload_s);

	if (t == 0)
		return false;
	MHD_set_connection_option(conn, MHD_CONNECTION_OPTION_TIMEOUT, t);
	return true;
}

void edge_restore_timeout(struct MHD_Connection *conn, int idle_s)
{
	MHD_set_connection_option(conn, MHD_CONNECTION_OPTION_TIMEOUT, (unsigned)idle_s);
}

/* edge_hex returns the value of hex digit c, or -1. */
static int edge_hex(char c)
{
	if (c >= '0' && c <= '9')
		return c - '0';
	if (c >= 'a' && c <= 'f')
		return c - 'a' + 10;
	if (c >= 'A' && c <= 'F')
		return c - 'A' + 10;
	return -1;
}

size_t edge_unescape(void *cls, struct MHD_Connection *conn, char *s)
{
	char *out = s;

	(void)cls;
	(void)conn;
	for (const char *in = s; *in != '\0'; out++) {
		int hi = in[0] == '%' ? edge_hex(in[1]) : -1;
		int lo = hi >= 0 ? edge_hex(in[2]) : -1;

		if (lo >= 0 && (hi | lo) != 0) {
			*out = (char)(hi * 16 + lo);
			in += 3;
		} else {
			*out = *in++;
		}
	}
	*out = '\0';
	return (size_t)(out - s);
}

/* edge_nofile_warn warns when the connection limit cannot be reached with
 * soft descriptors. */
static void edge_nofile_warn(rlim_t soft, int max_connections)
{
	if (soft == RLIM_INFINITY || (rlim_t)max_connections + EDGE_FD_RESERVE <= soft)
		return;
	log_event(LOG_WARN, "--max-connections cannot be reached: too few open files allowed",
		  json_pack("{s:i, s:I, s:i}", "max_connections", max_connections,
			    "nofile", (json_int_t)soft, "reserve", EDGE_FD_RESERVE));
}

void edge_raise_nofile(int max_connections)
{
	struct rlimit rl;
	rlim_t before;

	if (getrlimit(RLIMIT_NOFILE, &rl) != 0) {
		log_event(LOG_WARN, "open files limit unknown",
			  json_pack("{s:s}", "error", strerror(errno)));
		return;
	}
	before = rl.rlim_cur;
	rl.rlim_cur = rl.rlim_max;
	if (before != rl.rlim_max && setrlimit(RLIMIT_NOFILE, &rl) != 0) {
		log_event(LOG_WARN, "open files limit not raised",
			  json_pack("{s:s}", "error", strerror(errno)));
		rl.rlim_cur = before;
	}
	log_event(LOG_INFO, "open files limit",
		  json_pack("{s:I, s:I, s:I}", "from", (json_int_t)before,
			    "to", (json_int_t)rl.rlim_cur, "hard", (json_int_t)rl.rlim_max));
	edge_nofile_warn(rl.rlim_cur, max_connections);
}

void edge_client_text(const struct sockaddr *addr, char out[INET6_ADDRSTRLEN])
{
	const void *a = NULL;

	if (addr != NULL && addr->sa_family == AF_INET)
		a = &((const struct sockaddr_in *)(const void *)addr)->sin_addr;
	else if (addr != NULL && addr->sa_family == AF_INET6)
		a = &((const struct sockaddr_in6 *)(const void *)addr)->sin6_addr;
	if (a == NULL || inet_ntop(addr->sa_family, a, out, INET6_ADDRSTRLEN) == NULL)
		snprintf(out, INET6_ADDRSTRLEN, "?");
}
