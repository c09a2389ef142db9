/* Unit tests: edge — the connection timeout under an upload deadline, and
 * the unescaping of paths and queries that keeps "%00" as it is. */
#include <arpa/inet.h>
#include <criterion/criterion.h>
#include <stdio.h>
#include <string.h>

#include "edge.h"

#define S 1000000000LL

Test(edge, the_idle_timeout_applies_while_the_deadline_is_far)
{
	cr_assert_eq(edge_timeout_s(0, 60, 600), 60);
	cr_assert_eq(edge_timeout_s(500 * S, 60, 600), 60);
}

Test(edge, what_is_left_of_the_deadline_applies_near_it_rounded_up)
{
	cr_assert_eq(edge_timeout_s(580 * S, 60, 600), 20);
	cr_assert_eq(edge_timeout_s(599 * S + 1, 60, 600), 1);
	cr_assert_eq(edge_timeout_s(598 * S + S / 2, 60, 600), 2);
}

Test(edge, a_passed_deadline_gives_zero)
{
	cr_assert_eq(edge_timeout_s(600 * S, 60, 600), 0);
	cr_assert_eq(edge_timeout_s(601 * S, 60, 600), 0);
}

Test(edge, an_upload_deadline_shorter_than_the_idle_timeout_wins_from_the_start)
{
	cr_assert_eq(edge_timeout_s(0, 60, 3), 3);
}

/* unescape copies in, unescapes it and checks the result and its length. */
static void unescape(const char *in, const char *want, size_t want_len)
{
	char buf[128];
	snprintf(buf, sizeof buf, "%s", in);
	size_t len = edge_unescape(NULL, NULL, buf);
	cr_assert_eq(len, want_len, "%s: length %zu", in, len);
	cr_assert(memcmp(buf, want, want_len + 1) == 0, "%s gave %s", in, buf);
}

Test(edge, escapes_are_decoded_in_place)
{
	unescape("/v1/jobs/a%2Fb", "/v1/jobs/a/b", 12);
	unescape("q%3d1%26x", "q=1&x", 5);
	unescape("%41%62", "Ab", 2);
	unescape("a+b", "a+b", 3);
}

Test(edge, percent_zero_zero_is_kept_so_that_no_nul_cuts_a_path_short)
{
	unescape("/healthz%00", "/healthz%00", 11);
	unescape("%00%41", "%00A", 4);
}

Test(edge, malformed_escapes_are_kept)
{
	unescape("%", "%", 1);
	unescape("%4", "%4", 2);
	unescape("%zz%4g", "%zz%4g", 6);
	unescape("100%", "100%", 4);
}

Test(edge, a_client_address_is_written_as_text_and_an_unknown_one_as_a_question_mark)
{
	struct sockaddr_in v4 = {.sin_family = AF_INET, .sin_addr.s_addr = htonl(0x7f000001)};
	struct sockaddr_in6 v6 = {.sin6_family = AF_INET6, .sin6_addr = IN6ADDR_LOOPBACK_INIT};
	struct sockaddr other = {.sa_family = AF_UNSPEC};
	char out[INET6_ADDRSTRLEN];

	edge_client_text((const struct sockaddr *)&v4, out);
	cr_assert_str_eq(out, "127.0.0.1");
	edge_client_text((const struct sockaddr *)&v6, out);
	cr_assert_str_eq(out, "::1");
	edge_client_text(&other, out);
	cr_assert_str_eq(out, "?");
	edge_client_text(NULL, out);
	cr_assert_str_eq(out, "?");
}
