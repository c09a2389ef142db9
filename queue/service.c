/*
 * service.c — sd_notify and socket activation (see service.h).
 */
#include "service.h"

#include <arpa/inet.h>
#include <netinet/in.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <systemd/sd-daemon.h>

void service_notify(const char *fmt, ...)
{
	char state[512];
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(state, sizeof state, fmt, ap);
	va_end(ap);
	(void)sd_notify(0, state); /* keep NOTIFY_SOCKET: STOPPING=1 comes later */
}

/* service_is_stream_listener returns true when fd is a listening stream
 * socket of family AF_INET, AF_INET6 or AF_UNIX. */
static int service_is_stream_listener(int fd)
{
	static const int families[] = { AF_INET, AF_INET6, AF_UNIX };

	for (size_t i = 0; i < sizeof families / sizeof families[0]; i++)
		if (sd_is_socket(fd, families[i], SOCK_STREAM, 1) > 0)
			return 1;
	return 0;
}

int service_listen_fd(int *fd, char *err, size_t errlen)
{
	int n = sd_listen_fds(1); /* 1: unset LISTEN_* for whatever we start */

	*fd = -1;
	if (n == 0)
		return 0;
	if (n < 0) {
		snprintf(err, errlen, "LISTEN_FDS does not parse: %s", strerror(-n));
		return -1;
	}
	if (n > 1) {
		snprintf(err, errlen, "%d sockets were passed (LISTEN_FDS); jobq-api serves exactly one", n);
		return -1;
	}
	if (!service_is_stream_listener(SD_LISTEN_FDS_START)) {
		snprintf(err, errlen, "the socket passed as fd %d is not a listening TCP or Unix stream socket",
			 SD_LISTEN_FDS_START);
		return -1;
	}
	*fd = SD_LISTEN_FDS_START;
	return 0;
}

/* service_describe_unix writes "unix:/path", or "unix:@name" for an
 * abstract socket (whose name starts with a NUL and is len bytes long). */
static void service_describe_unix(const struct sockaddr_un *un, socklen_t len, char *out,
				  size_t outlen)
{
	size_t name_len = len > offsetof(struct sockaddr_un, sun_path) ?
			  len - offsetof(struct sockaddr_un, sun_path) : 0;

	if (name_len > 0 && un->sun_path[0] == '\0')
		snprintf(out, outlen, "unix:@%.*s", (int)(name_len - 1), un->sun_path + 1);
	else
		snprintf(out, outlen, "unix:%.*s", (int)strnlen(un->sun_path, sizeof un->sun_path),
			 un->sun_path);
}

int service_describe_socket(int fd, char *out, size_t outlen)
{
	struct sockaddr_storage ss;
	socklen_t len = sizeof ss;
	char host[INET6_ADDRSTRLEN];
	const struct sockaddr_in *in4 = (const struct sockaddr_in *)&ss;
	const struct sockaddr_in6 *in6 = (const struct sockaddr_in6 *)&ss;

	if (getsockname(fd, (struct sockaddr *)&ss, &len) != 0)
		return -1;
	if (ss.ss_family == AF_INET && inet_ntop(AF_INET, &in4->sin_addr, host, sizeof host))
		snprintf(out, outlen, "%s:%u", host, (unsigned)ntohs(in4->sin_port));
	else if (ss.ss_family == AF_INET6 && inet_ntop(AF_INET6, &in6->sin6_addr, host, sizeof host))
		snprintf(out, outlen, "[%s]:%u", host, (unsigned)ntohs(in6->sin6_port));
	else if (ss.ss_family == AF_UNIX)
		service_describe_unix((const struct sockaddr_un *)&ss, len, out, outlen);
	else
		return -1;
	return 0;
}
