/*
 * Integration: hostile and odd clients at the HTTP edge, over raw sockets —
 * slow headers and slow bodies are cut off, oversized and malformed
 * requests get their 4xx, connection limits hold, and through all of it
 * the server keeps answering a fresh client and leaves nothing in Redis.
 *
 * Every wait is bounded; every socket a test opens is closed by it.
 */
#include <criterion/criterion.h>
#include <errno.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <unistd.h>

#include "harness.h"

static void setup(void)
{
	memset(&harness, 0, sizeof harness);
	harness_start_redis();
}

TestSuite(hostile, .init = setup, .fini = harness_teardown, .timeout = 120);

/* ---- Raw sockets ---------------------------------------------------------- */

/* peer_closed waits up to timeout_ms for the server to close fd (or send
 * something, which no test here expects). Returns true when it did. */
static bool peer_closed(int fd, int timeout_ms)
{
	struct pollfd p = {.fd = fd, .events = POLLIN};
	char c;
	if (poll(&p, 1, timeout_ms) <= 0)
		return false;
	return recv(fd, &c, 1, MSG_DONTWAIT) <= 0;
}

static void assert_healthz_ok(void)
{
	struct http_reply r = http_get("/healthz");
	cr_assert_eq(r.status, 200, "a fresh client got %ld", r.status);
	http_reply_free(&r);
}

static void assert_nothing_stored(void)
{
	cr_assert_eq(redis_count_keys("jobq:job:*"), 0, "a job key was stored");
	cr_assert_eq(redis_count_keys("jobq:staging:*"), 0, "a staging key was left");
}

/* wait_no_staging waits (bounded) until no staging key is left: the
 * server discards one when the request completes, just after the close. */
static void wait_no_staging(void)
{
	for (int i = 0; i < 100 && redis_count_keys("jobq:staging:*") > 0; i++)
		sleep_ms(50);
	assert_nothing_stored();
}

/* assert_closed_unanswered waits (bounded: 15 s) for the server to close
 * fd without a reply, then closes it. */
static void assert_closed_unanswered(int fd)
{
	bool closed;
	char *got = raw_read_until_closed(fd, 15000, &closed);
	cr_assert(closed, "the connection was still open after 15 s");
	cr_assert(got[0] == '\0', "the server replied: %s", got);
	free(got);
	close(fd);
}

/* ---- Slow clients ----------------------------------------------------------- */

/* Header bytes that stop coming: the idle timeout closes the connection
 * without a reply. */
Test(hostile, slowloris_headers_are_cut_off_by_the_idle_timeout)
{
	const char *args[] = {"--idle-timeout", "1", NULL};
	harness_start_api(args);
	int fd = raw_connect();
	const char *head = "GET /healthz HTTP/1.1\r\nHost: x\r\nX-Slow: ";
	for (const char *p = head; *p; p++) { /* trickled, then nothing */
		raw_send_some(fd, p, 1);
		sleep_ms(20);
	}
	assert_closed_unanswered(fd);
	assert_healthz_ok();
}

/* trickle_until_closed sends text one byte every gap_ms until the server
 * closes fd or the text runs out; returns true when it closed. */
static bool trickle_until_closed(int fd, const char *text, int gap_ms)
{
	for (const char *p = text; *p; p++) {
		if (!raw_send_some(fd, p, 1) || peer_closed(fd, gap_ms))
			return true;
	}
	return false;
}

/* header_timeouts returns jobq_http_header_timeouts_total from /metrics. */
static long header_timeouts(void)
{
	struct http_reply r = http_get("/metrics");
	const char *name = "\njobq_http_header_timeouts_total ";
	char *at = r.body != NULL ? strstr(r.body, name) : NULL;
	long n;

	cr_assert_eq(r.status, 200);
	cr_assert_not_null(at, "no jobq_http_header_timeouts_total in /metrics");
	n = strtol(at + strlen(name), NULL, 10);
	http_reply_free(&r);
	return n;
}

/* Forty header bytes, one every 500 ms: each well inside the idle timeout,
 * 20 s in all (the bound of the test). */
static const char slow_head[] = "GET /healthz HTTP/1.1\r\nHost: x\r\nX-Slow: ";

/* Header bytes trickled just inside the idle timeout: --header-timeout
 * cuts the connection off without a reply, and says so in the log and in
 * /metrics. */
Test(hostile, slowloris_headers_inside_the_idle_timeout_are_cut_at_the_header_deadline)
{
	const char *args[] = {"--idle-timeout", "2", "--header-timeout", "2", NULL};
	harness_start_api(args);
	int fd = raw_connect();

	cr_assert(trickle_until_closed(fd, slow_head, 500),
		  "headers trickled for 20 s were not cut off");
	close(fd);
	cr_assert(harness_log_wait("api", "did not arrive in time", 5000), "no log line");
	cr_assert_eq(header_timeouts(), 1);
	assert_healthz_ok();
}

/* The same after one whole request on a kept-alive connection: the next
 * request's headers are due within the idle timeout plus the header
 * timeout after the reply. */
Test(hostile, slowloris_headers_of_a_kept_alive_connection_are_cut_too)
{
	const char *args[] = {"--idle-timeout", "2", "--header-timeout", "1", NULL};
	harness_start_api(args);
	int fd = raw_connect();

	raw_send_text(fd, "GET /healthz HTTP/1.1\r\nHost: x\r\n\r\n");
	cr_assert_eq(raw_read_reply(fd, 10000), 200);
	cr_assert(trickle_until_closed(fd, slow_head, 500),
		  "the next request's headers trickled for 20 s were not cut off");
	close(fd);
	cr_assert(harness_log_wait("api", "\"kept_alive\":true", 5000), "no log line");
}

/* A client may wait for most of the idle timeout between two requests,
 * longer than the header timeout, and is served. */
Test(hostile, a_kept_alive_client_may_wait_past_the_header_timeout_between_requests)
{
	const char *args[] = {"--idle-timeout", "4", "--header-timeout", "1", NULL};
	harness_start_api(args);
	int fd = raw_connect();

	raw_send_text(fd, "GET /healthz HTTP/1.1\r\nHost: x\r\n\r\n");
	cr_assert_eq(raw_read_reply(fd, 10000), 200);
	sleep_ms(2000);
	raw_send_text(fd, "GET /healthz HTTP/1.1\r\nHost: x\r\n\r\n");
	cr_assert_eq(raw_read_reply(fd, 10000), 200, "the second request was not served");
	close(fd);
	cr_assert_eq(header_timeouts(), 0);
}

/* A body trickled faster than the idle timeout is cut off by
 * --upload-timeout: no reply, no job, no staging key (more than the
 * 256 KiB buffer was sent first, so one existed). */
Test(hostile, slowloris_body_is_cut_off_at_the_upload_deadline)
{
	const char *args[] = {"--idle-timeout", "2", "--upload-timeout", "3", NULL};
	harness_start_api(args);
	size_t len;
	char *csv = harness_csv_rows(20000, &len); /* 320 KB */
	int fd = raw_connect();
	raw_csv_head(fd, len + 100000);
	raw_send_some(fd, csv, len);
	/* A row every 500 ms, well inside the idle timeout, until the server
	 * closes the connection (bounded: 30 rows, 15 s). */
	bool closed = false;
	for (int i = 0; i < 30 && !closed; i++) {
		closed = !raw_send_some(fd, "0123456789abcde\n", 16) || peer_closed(fd, 500);
	}
	cr_assert(closed, "a body trickled for 15 s was not cut off");
	free(csv);
	close(fd);
	wait_no_staging();
	assert_healthz_ok();
}

/* Headers, then silence: with an idle timeout far off, the upload deadline
 * (armed when the headers end) closes the connection. */
Test(hostile, a_body_that_never_starts_is_cut_off_at_the_upload_deadline)
{
	const char *args[] = {"--idle-timeout", "60", "--upload-timeout", "2", NULL};
	harness_start_api(args);
	int fd = raw_connect();
	raw_csv_head(fd, 1000);
	assert_closed_unanswered(fd);
	assert_nothing_stored();
	assert_healthz_ok();
}

/* ---- Sizes ---------------------------------------------------------------- */

/* hostile_header_status sends GET /healthz with one X-Big header of n
 * bytes and returns the reply's status (-1: closed without one). */
static int hostile_header_status(size_t n)
{
	char *big = malloc(n + 64);
	cr_assert_not_null(big);
	int len = sprintf(big, "X-Big: ");
	memset(big + len, 'a', n);
	strcpy(big + len + n, "\r\n\r\n");
	int fd = raw_connect();
	raw_send_text(fd, "GET /healthz HTTP/1.1\r\nHost: x\r\n");
	raw_send_some(fd, big, strlen(big)); /* the server may close before the end */
	free(big);
	int status = raw_read_reply(fd, 10000);
	close(fd);
	return status;
}

/* The connection's memory (SERVER_CONNECTION_MEMORY, 16 KiB) bounds the
 * request line and headers: 12 KiB of headers are served, 20 KiB are not. */
Test(hostile, header_of_12_kib_is_served_and_of_20_kib_gets_431)
{
	harness_start_api(NULL);
	cr_assert_eq(hostile_header_status(12 * 1024), 200);
	cr_assert_eq(hostile_header_status(20 * 1024), 431);
	assert_healthz_ok();
}

Test(hostile, header_of_100_kib_gets_431)
{
	harness_start_api(NULL);
	char *big = malloc(100 * 1024 + 64);
	cr_assert_not_null(big);
	int n = sprintf(big, "X-Big: ");
	memset(big + n, 'a', 100 * 1024);
	strcpy(big + n + 100 * 1024, "\r\n\r\n");
	int fd = raw_connect();
	raw_send_text(fd, "GET /healthz HTTP/1.1\r\nHost: x\r\n");
	raw_send_some(fd, big, strlen(big)); /* the server may close before the end */
	free(big);
	cr_assert_eq(raw_read_reply(fd, 10000), 431);
	close(fd);
	assert_healthz_ok();
}

/* A body shorter than its Content-Length, then a hang-up, after a staging
 * piece was written: nothing is left. */
Test(hostile, content_length_beyond_the_body_then_hangup_leaves_nothing)
{
	harness_start_api(NULL);
	size_t len;
	char *csv = harness_csv_rows(20000, &len);
	int fd = raw_connect();
	raw_csv_head(fd, 1000000);
	raw_send_some(fd, csv, len);
	sleep_ms(200); /* let the server take the bytes in before the hang-up */
	close(fd);
	free(csv);
	wait_no_staging();
	assert_healthz_ok();
}

Test(hostile, content_length_beyond_max_upload_gets_413_before_the_body)
{
	const char *args[] = {"--max-upload", "64K", NULL};
	harness_start_api(args);
	int fd = raw_connect();
	raw_csv_head(fd, 65537);
	cr_assert_eq(raw_read_reply(fd, 10000), 413);
	close(fd);
	assert_nothing_stored();
}

Test(hostile, an_id_of_10_kib_is_refused)
{
	harness_start_api(NULL);
	char *path = malloc(10 * 1024 + 16);
	cr_assert_not_null(path);
	strcpy(path, "/v1/jobs/");
	memset(path + 9, 'a', 10 * 1024);
	path[9 + 10 * 1024] = '\0';
	struct http_reply r = http_get(path);
	cr_assert(r.status == 404 || r.status == 400 || r.status == 414, "got %ld", r.status);
	http_reply_free(&r);
	free(path);
	assert_healthz_ok();
}

/* ---- Framing ---------------------------------------------------------------- */

Test(hostile, a_chunked_upload_is_accepted)
{
	harness_start_api(NULL);
	int fd = raw_connect();
	raw_send_text(fd, "POST /v1/jobs HTTP/1.1\r\nHost: x\r\nContent-Type: text/csv\r\n"
		     "Transfer-Encoding: chunked\r\n\r\n");
	raw_send_text(fd, "4\r\na,b\n\r\n");
	raw_send_text(fd, "8\r\n1,2\n3,4\n\r\n");
	raw_send_text(fd, "0\r\n\r\n");
	cr_assert_eq(raw_read_reply(fd, 10000), 202);
	close(fd);
	cr_assert_eq(redis_count_keys("jobq:job:*"), 1,
		     "the job's hash (its small input is a field of it)");
}

/* post_form posts body as multipart/form-data with boundary and returns
 * the reply. */
static struct http_reply post_form(const char *boundary, const char *body)
{
	char type[128];
	snprintf(type, sizeof type, "multipart/form-data; boundary=%s", boundary);
	return http_request("POST", "/v1/jobs", type, body, strlen(body), NULL);
}

static void assert_error(struct http_reply *r, long status, const char *code)
{
	cr_assert_eq(r->status, status, "want %ld, got %ld: %s", status, r->status, r->body);
	json_t *j = http_json(r);
	const char *got = json_string_value(json_object_get(json_object_get(j, "error"), "code"));
	cr_assert(got && strcmp(got, code) == 0, "want code %s: %s", code, r->body);
	json_decref(j);
	http_reply_free(r);
}

Test(hostile, forms_with_no_file_or_two_files_or_a_bad_boundary_get_400)
{
	harness_start_api(NULL);
	struct http_reply r = post_form("XyZ", "--XyZ\r\nContent-Disposition: form-data; name=\"queue\"\r\n\r\n"
					       "q1\r\n--XyZ--\r\n");
	assert_error(&r, 400, "missing_file");
	r = post_form("XyZ", "--XyZ\r\nContent-Disposition: form-data; name=\"file\"\r\n\r\na,b\n1,2\n\r\n"
			     "--XyZ\r\nContent-Disposition: form-data; name=\"file\"\r\n\r\na,b\n3,4\n\r\n"
			     "--XyZ--\r\n");
	assert_error(&r, 400, "duplicate_file");
	r = post_form("a", "--a\r\nContent-Disposition: form-data; name=\"file\"\r\n\r\na\n1\n\r\n--a--\r\n");
	assert_error(&r, 400, "invalid_multipart");
	r = post_form("", "--\r\n");
	assert_error(&r, 400, "invalid_multipart");
	r = post_form("XyZ", "--Other\r\nContent-Disposition: form-data; name=\"file\"\r\n\r\na\n1\n\r\n--Other--\r\n");
	cr_assert(r.status == 400, "a body under another boundary got %ld: %s", r.status, r.body);
	http_reply_free(&r);
	assert_nothing_stored();
}

/* raw_status sends one raw request on a fresh connection and returns the
 * reply's status (-1: closed without one). */
static int raw_status(const char *request)
{
	int fd = raw_connect();
	raw_send_text(fd, request);
	int status = raw_read_reply(fd, 10000);
	close(fd);
	return status;
}

Test(hostile, paths_with_dot_dot_or_nul_are_refused_without_a_crash)
{
	harness_start_api(NULL);
	const char *reqs[] = {
		"GET /v1/jobs/../healthz HTTP/1.1\r\nHost: x\r\n\r\n",
		"GET /v1/../../etc/passwd HTTP/1.1\r\nHost: x\r\n\r\n",
		"GET /v1/jobs/%00 HTTP/1.1\r\nHost: x\r\n\r\n",
		"GET /v1/jobs/abc%00def HTTP/1.1\r\nHost: x\r\n\r\n",
		"GET /healthz%00 HTTP/1.1\r\nHost: x\r\n\r\n",
	};
	for (size_t i = 0; i < sizeof reqs / sizeof reqs[0]; i++) {
		int s = raw_status(reqs[i]);
		cr_assert(s == 404 || s == 400, "%s got %d", reqs[i], s);
	}
	assert_healthz_ok();
}

Test(hostile, http_1_0_is_answered_and_the_connection_closes)
{
	harness_start_api(NULL);
	int fd = raw_connect();
	raw_send_text(fd, "GET /healthz HTTP/1.0\r\n\r\n");
	bool closed;
	char *got = raw_read_until_closed(fd, 10000, &closed);
	cr_assert_eq(raw_status_of(got), 200, "%s", got);
	cr_assert(closed, "an HTTP/1.0 connection stayed open");
	free(got);
	close(fd);
}

Test(hostile, pipelined_requests_are_answered_in_order)
{
	harness_start_api(NULL);
	int fd = raw_connect();
	raw_send_text(fd, "GET /healthz HTTP/1.1\r\nHost: x\r\n\r\n"
		     "GET /v1/jobs/0123456789abcdef0123456789abcdef HTTP/1.1\r\nHost: x\r\n"
		     "Connection: close\r\n\r\n");
	bool closed;
	char *got = raw_read_until_closed(fd, 10000, &closed);
	cr_assert(closed, "the second request's Connection: close was not honoured");
	cr_assert_eq(raw_status_of(got), 200, "first reply: %s", got);
	char *second = strstr(got + 1, "HTTP/1.1 ");
	cr_assert_not_null(second, "one reply only: %s", got);
	cr_assert_eq(raw_status_of(second), 404, "second reply: %s", second);
	cr_assert_null(strstr(second + 1, "HTTP/1.1 "), "more than two replies");
	free(got);
	close(fd);
}

/* ---- Connection limits ------------------------------------------------------ */

/* hold_open opens a connection from src and proves the server took it with
 * one keep-alive request. Returns the socket. */
static int hold_open(const char *src)
{
	int fd = raw_try_connect(harness.api_port, src);
	cr_assert_geq(fd, 0, "connect from %s: %s", src, strerror(errno));
	raw_send_text(fd, "GET /healthz HTTP/1.1\r\nHost: x\r\n\r\n");
	cr_assert_eq(raw_read_reply(fd, 10000), 200, "a connection under the limit was refused");
	return fd;
}

Test(hostile, connections_past_the_per_ip_limit_are_refused_other_addresses_are_not)
{
	const char *args[] = {"--max-connections-per-ip", "4", NULL};
	harness_start_api(args);
	int held[4];
	for (int i = 0; i < 4; i++)
		held[i] = hold_open("127.0.0.1");
	/* the kernel accepts; the server closes */
	int extra = raw_try_connect(harness.api_port, "127.0.0.1");
	if (extra >= 0) {
		raw_send_some(extra, "GET /healthz HTTP/1.1\r\nHost: x\r\n\r\n", 35);
		bool closed;
		char *got = raw_read_until_closed(extra, 10000, &closed);
		cr_assert(closed && got[0] == '\0', "a fifth connection was served: %s", got);
		free(got);
		close(extra);
	}
	int other = hold_open("127.0.0.2");
	close(other);
	for (int i = 0; i < 4; i++)
		close(held[i]);
}

/* Past --max-connections libmicrohttpd stops accepting: a new connection
 * waits in the kernel's backlog, unanswered, until a slot frees. */
Test(hostile, past_max_connections_a_client_waits_until_a_slot_frees)
{
	const char *args[] = {"--max-connections", "4", "--threads", "1",
			      "--max-connections-per-ip", "0", NULL};
	harness_start_api(args);
	int held[4];
	for (int i = 0; i < 4; i++)
		held[i] = hold_open("127.0.0.1");
	int waiting = raw_connect(); /* the kernel completes the handshake */
	raw_send_text(waiting, "GET /healthz HTTP/1.1\r\nHost: x\r\n\r\n");
	cr_assert_eq(raw_read_reply(waiting, 1000), -1, "a fifth connection was served at once");
	close(held[0]);
	cr_assert_eq(raw_read_reply(waiting, 10000), 200, "the waiting client was not served");
	close(waiting);
	for (int i = 1; i < 4; i++)
		close(held[i]);
}

#define IDLE_CONNECTIONS 2000
#define IDLE_SOURCES 10 /* 200 connections each, under the default per-IP 256 */

/* raise_nofile lets this test process hold n more descriptors. */
static void raise_nofile(rlim_t n)
{
	struct rlimit rl;
	cr_assert_eq(getrlimit(RLIMIT_NOFILE, &rl), 0);
	if (rl.rlim_cur < n + 64) {
		rl.rlim_cur = rl.rlim_max < n + 64 ? rl.rlim_max : n + 64;
		cr_assert_eq(setrlimit(RLIMIT_NOFILE, &rl), 0);
	}
	cr_assert_geq(rl.rlim_cur, n + 64, "the hard open files limit is too low for this test");
}

Test(hostile, two_thousand_idle_connections_do_not_stop_a_fresh_client)
{
	raise_nofile(IDLE_CONNECTIONS);
	harness_start_api(NULL);
	int *fds = malloc(IDLE_CONNECTIONS * sizeof *fds);
	cr_assert_not_null(fds);
	for (int i = 0; i < IDLE_CONNECTIONS; i++) {
		char src[32];
		snprintf(src, sizeof src, "127.0.0.%d", 2 + i % IDLE_SOURCES);
		fds[i] = raw_try_connect(harness.api_port, src);
		cr_assert_geq(fds[i], 0, "connection %d: %s", i, strerror(errno));
	}
	assert_healthz_ok();
	/* The idle ones are still held, not dropped to make room. */
	int probe = fds[IDLE_CONNECTIONS - 1];
	raw_send_text(probe, "GET /healthz HTTP/1.1\r\nHost: x\r\n\r\n");
	cr_assert_eq(raw_read_reply(probe, 10000), 200);
	for (int i = 0; i < IDLE_CONNECTIONS; i++)
		close(fds[i]);
	free(fds);
}
