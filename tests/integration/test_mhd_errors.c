/*
 * Integration: the two answers libmicrohttpd 0.9.75 gives on its own, not
 * jobq (README, "HTTP API"): 431 for headers and 414 for a request line
 * that do not fit the connection's memory. They carry the library's HTML
 * body, no X-Request-ID and no access log line, because jobq's callbacks
 * never see the request. Should a newer libmicrohttpd let jobq answer
 * them, these tests say that the README is to change.
 */
#include <criterion/criterion.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <unistd.h>

#include "harness.h"

static void setup(void)
{
	memset(&harness, 0, sizeof harness);
	harness_start_redis();
	harness_start_api(NULL);
}

TestSuite(mhd_errors, .init = setup, .fini = harness_teardown, .timeout = 60);

/* send_and_read sends head then fill bytes of 'a' then tail, and returns
 * what the server answered before closing (caller frees). */
static char *send_and_read(const char *head, size_t fill, const char *tail)
{
	char *big = malloc(fill);
	bool closed;

	cr_assert_not_null(big);
	memset(big, 'a', fill);
	int fd = raw_connect();
	raw_send_text(fd, head);
	raw_send_some(fd, big, fill); /* the server may answer before the end */
	raw_send_some(fd, tail, strlen(tail));
	free(big);
	char *reply = raw_read_until_closed(fd, 10000, &closed);
	close(fd);
	return reply;
}

/* assert_not_jobqs asserts that reply has status want, an HTML body and no
 * X-Request-ID, and that the API logged no request with that status. */
static void assert_not_jobqs(const char *reply, int want)
{
	char pattern[64];

	cr_assert_eq(raw_status_of(reply), want, "%.200s", reply);
	const char *body = strstr(reply, "\r\n\r\n");
	cr_assert_not_null(body, "%.200s", reply);
	cr_assert(strncasecmp(body + 4, "<html>", 6) == 0, "not libmicrohttpd's HTML: %.200s", body + 4);
	for (const char *p = reply; p < body; p++)
		cr_assert(strncasecmp(p, "\r\nX-Request-ID:", 15) != 0, "jobq answered: %.200s", reply);
	snprintf(pattern, sizeof pattern, "\"msg\":\"request\".*\"status\":%d", want);
	sleep_ms(100); /* a line, had there been one, is written after the reply */
	cr_assert_not(harness_log_has("api", pattern), "an access log line for %d", want);
}

Test(mhd_errors, headers_past_the_connection_memory_get_libmicrohttpds_431)
{
	char *reply = send_and_read("GET /healthz HTTP/1.1\r\nHost: x\r\nX-Big: ", 100 * 1024,
				    "\r\n\r\n");

	assert_not_jobqs(reply, 431);
	free(reply);
}

Test(mhd_errors, a_request_line_past_the_connection_memory_gets_libmicrohttpds_414)
{
	char *reply = send_and_read("GET /", 100 * 1024, " HTTP/1.1\r\nHost: x\r\n\r\n");

	assert_not_jobqs(reply, 414);
	free(reply);
}
