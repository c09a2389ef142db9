/*
 * Unit: service — the address a socket-activated API names in its
 * "listening" line, and what service_listen_fd does when no socket (or
 * another process's) was passed.
 */
#include <arpa/inet.h>
#include <criterion/criterion.h>
#include <netinet/in.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>

#include "service.h"

Test(service, describes_a_tcp_socket_as_address_and_port)
{
	struct sockaddr_in a = {.sin_family = AF_INET};
	socklen_t len = sizeof a;
	char out[128], want[64];
	int fd = socket(AF_INET, SOCK_STREAM, 0);

	inet_pton(AF_INET, "127.0.0.1", &a.sin_addr);
	cr_assert_eq(bind(fd, (struct sockaddr *)&a, sizeof a), 0);
	cr_assert_eq(getsockname(fd, (struct sockaddr *)&a, &len), 0);
	snprintf(want, sizeof want, "127.0.0.1:%u", (unsigned)ntohs(a.sin_port));
	cr_assert_eq(service_describe_socket(fd, out, sizeof out), 0);
	cr_assert_str_eq(out, want);
	close(fd);
}

Test(service, describes_unix_sockets_by_path_and_abstract_name)
{
	struct sockaddr_un a = {.sun_family = AF_UNIX};
	char dir[] = "/tmp/jobq-unit-XXXXXX", want[160], out[160];
	int fd = socket(AF_UNIX, SOCK_STREAM, 0);

	cr_assert_not_null(mkdtemp(dir));
	snprintf(a.sun_path, sizeof a.sun_path, "%s/s", dir);
	cr_assert_eq(bind(fd, (struct sockaddr *)&a, sizeof a), 0);
	snprintf(want, sizeof want, "unix:%s", a.sun_path);
	cr_assert_eq(service_describe_socket(fd, out, sizeof out), 0);
	cr_assert_str_eq(out, want);
	close(fd);
	unlink(a.sun_path);
	rmdir(dir);

	fd = socket(AF_UNIX, SOCK_STREAM, 0);
	memset(a.sun_path, 0, sizeof a.sun_path);
	snprintf(want, sizeof want, "jobq-unit-%ld", (long)getpid());
	memcpy(a.sun_path + 1, want, strlen(want));
	cr_assert_eq(bind(fd, (struct sockaddr *)&a,
			  (socklen_t)(offsetof(struct sockaddr_un, sun_path) + 1 + strlen(want))), 0);
	cr_assert_eq(service_describe_socket(fd, out, sizeof out), 0);
	cr_assert_str_eq(out + strlen("unix:@"), want);
	cr_assert_eq(strncmp(out, "unix:@", 6), 0, "got %s", out);
	close(fd);
}

Test(service, no_socket_passed_means_bind_listen_yourself)
{
	char err[160];
	int fd = 7;

	unsetenv("LISTEN_FDS");
	unsetenv("LISTEN_PID");
	cr_assert_eq(service_listen_fd(&fd, err, sizeof err), 0);
	cr_assert_eq(fd, -1);
}

Test(service, sockets_passed_to_another_process_are_not_taken)
{
	char err[160], pid[32];
	int fd = 7;

	snprintf(pid, sizeof pid, "%ld", (long)getppid());
	setenv("LISTEN_PID", pid, 1);
	setenv("LISTEN_FDS", "1", 1);
	cr_assert_eq(service_listen_fd(&fd, err, sizeof err), 0);
	cr_assert_eq(fd, -1);
}
