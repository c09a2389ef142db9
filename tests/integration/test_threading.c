/*
 * test_threading.c — jobq-api under --threading per-connection: a thread
 * per connection, submissions that wait for the committer on their own
 * thread, and job stores lent per request.
 *
 * The other suites run in whichever mode JOBQ_THREADING names (the
 * harness's children inherit it); these pin per-connection on the command
 * line, whatever the environment says.
 */
#include <criterion/criterion.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>

#include "harness.h"

#define TH_CSV "a,b\n1,2\n"
#define TH_WAITERS 6

static void setup_per_connection(void)
{
	memset(&harness, 0, sizeof harness);
	harness_start_redis();
	const char *args[] = {"--threading", "per-connection", "--breaker-threshold", "1000", NULL};
	harness_start_api(args);
}

/* teardown wakes a Redis a test left stopped, so that it can be stopped. */
static void teardown(void)
{
	if (harness.redis_pid > 0)
		kill(harness.redis_pid, SIGCONT);
	harness_teardown();
}

TestSuite(per_connection, .init = setup_per_connection, .fini = teardown, .timeout = 60);

/* th_job_status returns the job's status field in Redis ("" when none). */
static const char *th_job_status(const char *id, char out[32])
{
	redisReply *r = redis_cmd("HGET jobq:job:%s status", id);

	snprintf(out, 32, "%s", r->type == REDIS_REPLY_STRING ? r->str : "");
	freeReplyObject(r);
	return out;
}

/* th_redis_connections_made returns how many connections Redis has
 * accepted since it started (INFO stats: total_connections_received). */
static long th_redis_connections_made(void)
{
	redisReply *r = redis_cmd("INFO stats");
	const char *p = r->type == REDIS_REPLY_STRING ? strstr(r->str, "total_connections_received:")
						      : NULL;
	long n = p != NULL ? strtol(p + strlen("total_connections_received:"), NULL, 10) : -1;

	freeReplyObject(r);
	return n;
}

/* th_send_submission sends a whole POST /v1/jobs of TH_CSV on a new raw
 * connection and returns the socket. */
static int th_send_submission(void)
{
	int fd = raw_connect();

	raw_csv_head(fd, strlen(TH_CSV));
	raw_send_text(fd, TH_CSV);
	return fd;
}

Test(per_connection, the_server_says_it_runs_a_thread_per_connection)
{
	cr_assert(harness_log_has("api", "\"threading\":\"per-connection\""),
		  "the \"server started\" line does not name the threading mode");
}

Test(per_connection, submission_gets_202_its_job_is_queued_and_get_reads_it)
{
	char *id = submit_csv("", TH_CSV);
	char st[32];
	char path[64];
	struct http_reply r;
	json_t *job;

	cr_assert_str_eq(th_job_status(id, st), "queued");
	snprintf(path, sizeof path, "/v1/jobs/%s", id);
	r = http_get(path);
	cr_assert_eq(r.status, 200);
	job = http_json(&r);
	cr_assert_str_eq(json_string_value(json_object_get(job, "status")), "queued");
	json_decref(job);
	http_reply_free(&r);
	r = http_get("/healthz");
	cr_assert_eq(r.status, 200);
	http_reply_free(&r);
	free(id);
}

/* Each read here comes on a new HTTP connection, and so a new thread,
 * and reads the job from Redis: the stores are lent per request, so Redis
 * is not connected to again for each. A few connections may be made: the
 * reply goes out before the request's completion gives its store back, so
 * the next request can find the pool empty (a store per thread would make
 * 30). */
Test(per_connection, short_lived_connections_reuse_redis_connections)
{
	char *id = submit_csv("", TH_CSV);
	char get[160];
	long before = th_redis_connections_made();

	snprintf(get, sizeof get, "GET /v1/jobs/%s HTTP/1.1\r\nHost: t\r\n\r\n", id);
	for (int i = 0; i < 30; i++) {
		int fd = raw_connect();

		raw_send_text(fd, get);
		cr_assert_eq(raw_read_reply(fd, 10000), 200);
		close(fd);
	}
	cr_assert_leq(th_redis_connections_made() - before, 5,
		      "30 HTTP connections made %ld Redis connections",
		      th_redis_connections_made() - before);
	free(id);
}

/* The client hangs up while Redis is stopped, so while its job waits for
 * the committer: the job is made all the same, and the access log says 499
 * with the 202 it was given and the job's id. */
Test(per_connection, client_that_leaves_while_its_job_commits_is_logged_499)
{
	int fd;

	kill(harness.redis_pid, SIGSTOP);
	fd = th_send_submission();
	sleep_ms(300);
	shutdown(fd, SHUT_RDWR);
	close(fd);
	kill(harness.redis_pid, SIGCONT);
	cr_assert(harness_log_wait("api", "\"status\":499", 10000), "no 499 access line");
	cr_assert(harness_log_has("api", "\"reply_status\":202"),
		  "the 499 line does not say the job was given its 202");
	redisReply *r = redis_cmd("LLEN jobq:queue:default");
	cr_assert_eq(r->integer, 1, "the job of a client that left is not queued");
	freeReplyObject(r);
}

/* Submissions wait on their threads for a Redis that is stopped; SIGTERM
 * comes, then Redis resumes: every one is answered 202, each job is
 * queued, and the API exits 0. */
Test(per_connection, sigterm_answers_every_waiting_submission_then_exits_zero)
{
	int fds[TH_WAITERS], status = -1;

	kill(harness.redis_pid, SIGSTOP);
	for (int i = 0; i < TH_WAITERS; i++)
		fds[i] = th_send_submission();
	sleep_ms(300);
	kill(harness.api_pid, SIGTERM);
	sleep_ms(200);
	kill(harness.redis_pid, SIGCONT);
	for (int i = 0; i < TH_WAITERS; i++) {
		cr_assert_eq(raw_read_reply(fds[i], 15000), 202, "submission %d was not answered 202", i);
		close(fds[i]);
	}
	for (long long end = monotonic_ms() + 20000; monotonic_ms() < end; sleep_ms(20))
		if (waitpid(harness.api_pid, &status, WNOHANG) == harness.api_pid)
			break;
	harness.api_pid = 0; /* reaped, or to be left to the PDEATHSIG of this test */
	cr_assert(status != -1 && WIFEXITED(status) && WEXITSTATUS(status) == 0,
		  "jobq-api did not exit 0 after SIGTERM (status %d)", status);
	redisReply *r = redis_cmd("LLEN jobq:queue:default");
	cr_assert_eq(r->integer, TH_WAITERS);
	freeReplyObject(r);
}

/* Past --max-connections the thread that accepts connections closes a new
 * one at once (libmicrohttpd's way in this mode; a polling pool leaves it
 * in the backlog instead): the client learns it, no thread is made. */
static void setup_redis_only(void)
{
	memset(&harness, 0, sizeof harness);
	harness_start_redis();
}

TestSuite(per_connection_limits, .init = setup_redis_only, .fini = teardown, .timeout = 60);

/* th_healthz_on_new_connection returns the status of GET /healthz on a new
 * connection (-1: closed without a reply). */
static int th_healthz_on_new_connection(void)
{
	int fd = raw_connect(), status;

	raw_send_some(fd, "GET /healthz HTTP/1.1\r\nHost: x\r\n\r\n", 35);
	status = raw_read_reply(fd, 10000);
	close(fd);
	return status;
}

Test(per_connection_limits, past_max_connections_a_new_connection_is_closed_at_once)
{
	int held[2], extra, status = -1;
	bool closed = false;
	char *got;

	const char *args[] = {"--threading", "per-connection", "--max-connections", "2", NULL};
	harness_start_api(args);
	for (int i = 0; i < 2; i++) {
		held[i] = raw_connect();
		raw_send_text(held[i], "GET /healthz HTTP/1.1\r\nHost: x\r\n\r\n");
		cr_assert_eq(raw_read_reply(held[i], 10000), 200);
	}
	extra = raw_connect();
	raw_send_some(extra, "GET /healthz HTTP/1.1\r\nHost: x\r\n\r\n", 35);
	got = raw_read_until_closed(extra, 10000, &closed);
	cr_assert(closed && got[0] == '\0', "a connection past the limit was served: %s", got);
	free(got);
	close(extra);
	close(held[0]); /* a slot frees once the server has seen the close */
	for (long long end = monotonic_ms() + 10000; status != 200 && monotonic_ms() < end;)
		if ((status = th_healthz_on_new_connection()) != 200)
			sleep_ms(50);
	cr_assert_eq(status, 200, "no connection was served after a slot freed");
	close(held[1]);
}
