/*
 * test_exit_status.c - how jobq-api's start ends: a bad setting exits 2
 * (the systemd units do not restart on it), and a Redis that does not
 * answer at start is waited for once, not once per thing main reads.
 */
#include <arpa/inet.h>
#include <criterion/criterion.h>
#include <errno.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <stdio.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>

#include "harness.h"

static void setup(void)
{
	harness_setup_with(0);
}

TestSuite(exit_status, .init = setup, .fini = harness_teardown, .timeout = 60);

Test(exit_status, a_malformed_redis_url_exits_2)
{
	const char *args[] = {"--redis-url", "http://127.0.0.1:1", NULL};

	harness_assert_exited(harness_run("jobq-api", "bad_url", args, 20000), 2, "jobq-api");
	cr_assert(harness_log_has("bad_url", "--redis-url"), "the message does not name the flag");
}

Test(exit_status, a_malformed_prefix_exits_2)
{
	const char *args[] = {"--prefix", "no spaces allowed", NULL};

	harness_assert_exited(harness_run("jobq-api", "bad_prefix", args, 20000), 2, "jobq-api");
	cr_assert(harness_log_has("bad_prefix", "--prefix"), "the message does not name the flag");
}

/* silent_listener returns a socket listening on a free loopback port
 * (*port) that never accepts: the kernel completes each connection, so
 * a client connects and then waits for an answer that never comes, as
 * with a Redis that hangs. */
static int silent_listener(int *port)
{
	struct sockaddr_in a = { .sin_family = AF_INET, .sin_addr.s_addr = htonl(INADDR_LOOPBACK) };
	socklen_t len = sizeof a;
	int fd = socket(AF_INET, SOCK_STREAM | SOCK_NONBLOCK, 0);

	cr_assert(fd >= 0);
	cr_assert(bind(fd, (struct sockaddr *)&a, sizeof a) == 0);
	cr_assert(listen(fd, 16) == 0);
	cr_assert(getsockname(fd, (struct sockaddr *)&a, &len) == 0);
	*port = ntohs(a.sin_port);
	return fd;
}

/* connections_waiting accepts and closes every connection queued on fd
 * and returns how many there were. */
static int connections_waiting(int fd)
{
	int n = 0, c;

	while ((c = accept(fd, NULL, NULL)) >= 0) {
		close(c);
		n++;
	}
	cr_assert(errno == EAGAIN || errno == EWOULDBLOCK, "accept: %s", strerror(errno));
	return n;
}

Test(exit_status, a_redis_that_does_not_answer_at_start_is_waited_for_once)
{
	char url[64];
	int port, fd = silent_listener(&port);
	const char *args[] = {"--redis-url", url, "--redis-timeout", "300ms", NULL};

	snprintf(url, sizeof url, "redis://127.0.0.1:%d", port);
	cr_assert_eq(harness_run("jobq-api", "silent", args, 20000), HARNESS_RUN_READY,
		     "jobq-api did not serve with Redis silent at start");
	cr_assert_eq(connections_waiting(fd), 1,
		     "jobq-api connected more than once at start (each connection waits --redis-timeout)");
	close(fd);
}

/* Redis's longest string cannot be read while Redis is down, and its
 * default (512 MiB, longer than a piece of input) is assumed: a large
 * --max-upload is no reason to exit 2, which a supervisor would not
 * restart once Redis is back. */
Test(exit_status, a_large_max_upload_starts_while_redis_is_down)
{
	char url[64];
	int port, fd = silent_listener(&port);
	const char *args[] = {"--redis-url", url, "--redis-timeout", "300ms", "--max-upload", "1G",
			      NULL};

	snprintf(url, sizeof url, "redis://127.0.0.1:%d", port);
	cr_assert_eq(harness_run("jobq-api", "assumed", args, 20000), HARNESS_RUN_READY,
		     "jobq-api did not serve");
	close(fd);
}

/* A Redis that says its longest string is shorter than a piece of input
 * is a bad setting: exit 2. */
Test(exit_status, a_redis_whose_longest_string_is_below_a_piece_exits_2)
{
	int status;

	freeReplyObject(redis_cmd("CONFIG SET proto-max-bulk-len 1mb"));
	status = harness_run("jobq-api", "toolarge", NULL, 20000);
	freeReplyObject(redis_cmd("CONFIG SET proto-max-bulk-len 512mb"));
	harness_assert_exited(status, 2, "jobq-api");
	cr_assert(harness_log_has("toolarge", "proto-max-bulk-len"), "the message does not say why");
}
