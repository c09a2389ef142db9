/*
 * Integration: jobq under a service manager, without one — socket
 * activation (the test makes the listening socket and passes it as systemd
 * does), --exit-when-idle of both binaries, sd_notify states read from a
 * NOTIFY_SOCKET the test binds, and the API's SIGTERM shutdown of uploads
 * in flight.
 */
#include <arpa/inet.h>
#include <criterion/criterion.h>
#include <curl/curl.h>
#include <errno.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <sys/wait.h>
#include <unistd.h>

#include "harness.h"

#define EXIT_WAIT_MS 20000 /* bound of every wait for a process to exit */
#define JOB_KEYS "jobq:job:" "????????????????????????????????" /* job hashes only */

static void setup(void)
{
	memset(&harness, 0, sizeof harness);
	curl_global_init(CURL_GLOBAL_DEFAULT);
	harness_start_redis();
}

TestSuite(systemd, .init = setup, .fini = harness_teardown, .timeout = 90);

/* listen_loopback returns a socket listening on 127.0.0.1 and a free port,
 * which it writes to *port. */
static int listen_loopback(int *port)
{
	struct sockaddr_in a = {.sin_family = AF_INET};
	socklen_t len = sizeof a;
	int fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
	cr_assert_geq(fd, 0);
	inet_pton(AF_INET, "127.0.0.1", &a.sin_addr);
	cr_assert_eq(bind(fd, (struct sockaddr *)&a, sizeof a), 0, "bind: %s", strerror(errno));
	cr_assert_eq(listen(fd, 16), 0);
	cr_assert_eq(getsockname(fd, (struct sockaddr *)&a, &len), 0);
	*port = ntohs(a.sin_port);
	return fd;
}

static void assert_exited_zero(int status, const char *what)
{
	cr_assert_neq(status, -1, "%s did not exit within %d ms", what, EXIT_WAIT_MS);
	cr_assert(WIFEXITED(status) && WEXITSTATUS(status) == 0, "%s: wait status %d", what, status);
}

static const char healthz[] = "GET /healthz HTTP/1.1\r\nHost: 127.0.0.1\r\nConnection: close\r\n\r\n";

/* ---- Socket activation and --exit-when-idle of the API ---------------- */

Test(systemd, socket_activated_api_serves_the_inherited_socket)
{
	int port;
	int fd = listen_loopback(&port);
	harness_start_api_activated(fd, "api", NULL);
	cr_assert_eq(harness.api_port, port, "the listening line names port %d, not the inherited %d",
		     harness.api_port, port);
	char *id = submit_csv(NULL, "a,b\n1,2\n");
	cr_assert_eq(strlen(id), 32);
	cr_assert(harness_log_has("api", "\"socket_activated\":true"));
	free(id);
	close(fd);
}

/* systemd's hand-over: the API exits when idle while the socket stays open
 * (here in the test, there in systemd); a client that connects meanwhile
 * waits in the backlog and the next API, started on the same socket,
 * answers it. */
Test(systemd, idle_api_exits_and_the_next_one_serves_the_backlog)
{
	int port;
	int fd = listen_loopback(&port);
	const char *args[] = {"--exit-when-idle", "1", NULL};
	harness_start_api_activated(fd, "api", args);
	struct http_reply r = http_get("/healthz");
	cr_assert_eq(r.status, 200);
	http_reply_free(&r);
	assert_exited_zero(harness_wait_exit(harness.api_pid, EXIT_WAIT_MS), "the idle jobq-api");
	harness.api_pid = 0;
	cr_assert(harness_log_has("api", "\"reason\":\"idle\""), "no idle shutdown line in api.log");

	int c = raw_try_connect(port, NULL);
	cr_assert_geq(c, 0, "the inherited socket stopped listening when the API exited");
	raw_send(c, healthz, sizeof healthz - 1);
	harness_start_api_activated(fd, "api2", NULL);
	int status = raw_read_reply(c, EXIT_WAIT_MS);
	cr_assert_eq(status, 200, "the queued client got %d", status);
	close(c);
	close(fd);
}

Test(systemd, idle_api_waits_while_a_connection_is_open)
{
	int port;
	int fd = listen_loopback(&port);
	const char *args[] = {"--exit-when-idle", "1", NULL};
	harness_start_api_activated(fd, "api", args);
	int c = raw_try_connect(port, NULL);
	cr_assert_geq(c, 0);
	cr_assert_eq(harness_wait_exit(harness.api_pid, 2500), -1,
		     "the API exited with a connection open");
	close(c);
	assert_exited_zero(harness_wait_exit(harness.api_pid, EXIT_WAIT_MS), "the idle jobq-api");
	harness.api_pid = 0;
	close(fd);
}

Test(systemd, api_without_socket_activation_exits_when_idle_too)
{
	const char *args[] = {"--exit-when-idle", "1", NULL};
	harness_start_api(args);
	assert_exited_zero(harness_wait_exit(harness.api_pid, EXIT_WAIT_MS), "the idle jobq-api");
	harness.api_pid = 0;
}

/* run_api_on_fds runs jobq-api with fds[0..n-1] passed as fds 3.. the way
 * systemd passes sockets, output to <dir>/bad.log, and returns its wait
 * status once it exits (bounded: -1 if it does not, then it is killed). */
static int run_api_on_fds(const int *fds, int n)
{
	char exe[300], log[320];
	const char *bin = getenv("JOBQ_TEST_BIN_DIR");
	snprintf(exe, sizeof exe, "%s/jobq-api", bin && *bin ? bin : "bin");
	snprintf(log, sizeof log, "%s/bad.log", harness.dir);
	pid_t pid = fork();
	cr_assert_neq(pid, -1);
	if (pid == 0) {
		char env[32];
		int out = open(log, O_WRONLY | O_CREAT | O_APPEND, 0644);
		int high[8];
		for (int i = 0; i < n && i < 8; i++) /* out of the way of 3.. first */
			high[i] = fcntl(fds[i], F_DUPFD, 100);
		for (int i = 0; i < n && i < 8; i++)
			dup2(high[i], 3 + i);
		dup2(out, 2);
		snprintf(env, sizeof env, "%ld", (long)getpid());
		setenv("LISTEN_PID", env, 1);
		snprintf(env, sizeof env, "%d", n);
		setenv("LISTEN_FDS", env, 1);
		execl(exe, exe, "--redis-url", harness.redis_url, (char *)NULL);
		_exit(127);
	}
	int status = harness_wait_exit(pid, EXIT_WAIT_MS);
	if (status == -1) {
		kill(pid, SIGKILL);
		waitpid(pid, NULL, 0);
	}
	return status;
}

Test(systemd, api_refuses_two_inherited_sockets)
{
	int p1, p2;
	int fds[2] = {listen_loopback(&p1), listen_loopback(&p2)};
	int status = run_api_on_fds(fds, 2);
	/* 2: the socket unit is wrong, and systemd would pass the same again. */
	cr_assert(WIFEXITED(status) && WEXITSTATUS(status) == 2, "wait status %d", status);
	cr_assert(harness_log_has("bad", "2 sockets were passed"));
	close(fds[0]), close(fds[1]);
}

Test(systemd, api_refuses_an_inherited_socket_that_does_not_listen)
{
	int fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
	cr_assert_geq(fd, 0);
	int status = run_api_on_fds(&fd, 1);
	cr_assert(WIFEXITED(status) && WEXITSTATUS(status) == 2, "wait status %d", status);
	cr_assert(harness_log_has("bad", "not a listening TCP or Unix stream socket"));
	close(fd);
}

/* ---- --exit-when-idle of the worker ----------------------------------- */

Test(systemd, idle_worker_exits_zero_after_its_queue_stays_empty)
{
	const char *args[] = {"--exit-when-idle", "1", NULL};
	int w = harness_start_worker(args);
	assert_exited_zero(harness_wait_exit(harness.worker_pids[w], EXIT_WAIT_MS), "the idle jobq-worker");
	harness.worker_pids[w] = 0;
	cr_assert(harness_log_has("worker0", "\"reason\":\"idle\""),
		  "no idle shutdown line in worker0.log");
}

Test(systemd, worker_does_not_exit_while_jobs_keep_arriving)
{
	const char *args[] = {"--exit-when-idle", "3", "--concurrency", "1", NULL};
	harness_start_api(NULL);
	int w = harness_start_worker(args);
	char *id = NULL;
	long long end = monotonic_ms() + 6000;
	while (monotonic_ms() < end) {
		free(id);
		id = submit_csv(NULL, "a,b\n1,2\n");
		sleep_ms(250);
	}
	cr_assert_eq(harness_wait_exit(harness.worker_pids[w], 0), -1,
		     "the worker exited while jobs kept arriving");
	json_t *job = wait_for_status(id, "succeeded", 20000);
	cr_assert_str_eq(json_string_value(json_object_get(job, "status")), "succeeded");
	json_decref(job);
	assert_exited_zero(harness_wait_exit(harness.worker_pids[w], EXIT_WAIT_MS), "the idle jobq-worker");
	harness.worker_pids[w] = 0;
	free(id);
}

/* A job waiting out a retry backoff is no reason to stay for the queue
 * lists (they are empty), but exiting would strand it: nothing starts an
 * idle-exited worker again. */
Test(systemd, idle_worker_waits_for_a_scheduled_retry)
{
	static const char move_to_scheduled[] =
		"local t = redis.call('TIME') "
		"local due = t[1] * 1000 + math.floor(t[2] / 1000) + 4000 "
		"redis.call('LREM', KEYS[1], 0, ARGV[1]) "
		"redis.call('ZADD', KEYS[2], due, ARGV[1]) "
		"redis.call('HSET', KEYS[3], 'retry_at', due) return 1";
	const char *args[] = {"--exit-when-idle", "1", "--concurrency", "1", NULL};
	char job_key[64];

	harness_start_api(NULL);
	char *id = submit_csv(NULL, "a,b\n1,2\n");
	snprintf(job_key, sizeof job_key, "jobq:job:%s", id);
	freeReplyObject(redis_cmd("EVAL %s 3 jobq:queue:default jobq:scheduled %s %s",
				  move_to_scheduled, job_key, id));
	int w = harness_start_worker(args);
	json_t *job = wait_for_status(id, "succeeded", 20000);
	cr_assert_str_eq(json_string_value(json_object_get(job, "status")), "succeeded",
			 "the worker left before the retry was due");
	json_decref(job);
	assert_exited_zero(harness_wait_exit(harness.worker_pids[w], EXIT_WAIT_MS), "the idle jobq-worker");
	harness.worker_pids[w] = 0;
	free(id);
}

/* ---- sd_notify -------------------------------------------------------- */

/* notify_socket binds a datagram socket in the test directory and points
 * NOTIFY_SOCKET (inherited by what the test starts) at it. */
static int notify_socket(void)
{
	struct sockaddr_un a = {.sun_family = AF_UNIX};
	struct timeval tv = {.tv_sec = 20};
	int fd = socket(AF_UNIX, SOCK_DGRAM | SOCK_CLOEXEC, 0);
	cr_assert_geq(fd, 0);
	cr_assert_lt(strlen(harness.dir) + sizeof "/notify.sock", sizeof a.sun_path);
	memcpy(a.sun_path, harness.dir, strlen(harness.dir));
	strcat(a.sun_path, "/notify.sock");
	cr_assert_eq(bind(fd, (struct sockaddr *)&a, sizeof a), 0, "bind: %s", strerror(errno));
	setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof tv);
	setenv("NOTIFY_SOCKET", a.sun_path, 1);
	return fd;
}

/* expect_notify reads datagrams until one holds state; fails the test
 * when 20 s pass without any. */
static void expect_notify(int fd, const char *state)
{
	char msg[1024];
	for (;;) {
		ssize_t n = recv(fd, msg, sizeof msg - 1, 0);
		cr_assert_gt(n, 0, "no notification %s: %s", state, strerror(errno));
		msg[n] = '\0';
		if (strstr(msg, state) != NULL)
			return;
	}
}

Test(systemd, api_notifies_ready_and_stopping)
{
	int fd = notify_socket();
	harness_start_api(NULL);
	expect_notify(fd, "READY=1");
	kill(harness.api_pid, SIGTERM);
	expect_notify(fd, "STOPPING=1");
	assert_exited_zero(harness_wait_exit(harness.api_pid, EXIT_WAIT_MS), "jobq-api after SIGTERM");
	harness.api_pid = 0;
	close(fd);
}

Test(systemd, worker_notifies_ready_and_stopping)
{
	int fd = notify_socket();
	int w = harness_start_worker(NULL);
	expect_notify(fd, "READY=1");
	kill(harness.worker_pids[w], SIGTERM);
	expect_notify(fd, "STOPPING=1");
	assert_exited_zero(harness_wait_exit(harness.worker_pids[w], EXIT_WAIT_MS), "jobq-worker after SIGTERM");
	harness.worker_pids[w] = 0;
	close(fd);
}

/* ---- SIGTERM with an upload in flight --------------------------------- */

/* start_half_upload starts the API with --shutdown-grace grace, sends the
 * headers and half of a 1.6 MB CSV, and waits until a staging piece is in
 * Redis: the upload is in flight. Returns the connection; *csv and *len
 * get the whole body (caller frees). */
static int start_half_upload(const char *grace, char **csv, size_t *len)
{
	const char *args[] = {"--shutdown-grace", grace, NULL};
	harness_start_api(args);
	*csv = harness_csv_rows(100000, len);
	int c = raw_connect();
	raw_csv_head(c, *len);
	raw_send(c, *csv, *len / 2);
	long long end = monotonic_ms() + EXIT_WAIT_MS;
	while (redis_count_keys("jobq:staging:*") == 0 && monotonic_ms() < end)
		sleep_ms(20);
	cr_assert_eq(redis_count_keys("jobq:staging:*"), 1, "the upload never reached Redis");
	return c;
}

Test(systemd, sigterm_refuses_new_connections_and_lets_an_upload_finish)
{
	char *csv;
	size_t len;
	int c = start_half_upload("20", &csv, &len);
	kill(harness.api_pid, SIGTERM);
	cr_assert(harness_log_wait("api", "\"msg\":\"shutting down\"", EXIT_WAIT_MS),
		  "api.log never showed the shutdown");
	int refused = 0;
	long long end = monotonic_ms() + EXIT_WAIT_MS;
	while (!refused && monotonic_ms() < end) {
		int other = raw_try_connect(harness.api_port, NULL);
		refused = other < 0;
		if (other >= 0)
			close(other);
		sleep_ms(20);
	}
	cr_assert(refused, "a new connection was still accepted after SIGTERM");
	raw_send(c, csv + len / 2, len - len / 2);
	int status = raw_read_reply(c, EXIT_WAIT_MS);
	cr_assert_eq(status, 202, "the upload in flight got %d", status);
	assert_exited_zero(harness_wait_exit(harness.api_pid, EXIT_WAIT_MS), "jobq-api after SIGTERM");
	harness.api_pid = 0;
	cr_assert_eq(redis_count_keys("jobq:staging:*"), 0);
	cr_assert_eq(redis_count_keys(JOB_KEYS), 1);
	close(c);
	free(csv);
}

Test(systemd, sigterm_grace_cuts_an_upload_and_leaves_no_staging_key)
{
	char *csv;
	size_t len;
	int c = start_half_upload("1", &csv, &len);
	kill(harness.api_pid, SIGTERM);
	assert_exited_zero(harness_wait_exit(harness.api_pid, EXIT_WAIT_MS), "jobq-api after SIGTERM");
	harness.api_pid = 0;
	cr_assert(harness_log_wait("api", "requests still in flight are cut off", EXIT_WAIT_MS),
		  "api.log never showed the cut-off");
	cr_assert_eq(redis_count_keys("jobq:staging:*"), 0, "the cut upload left its staging key");
	cr_assert_eq(redis_count_keys(JOB_KEYS), 0, "the cut upload became a job");
	close(c);
	free(csv);
}
