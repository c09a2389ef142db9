/*
 * resp: a command is written as the very bytes hiredis's
 * redisFormatCommandArgv writes for it, and numbers as "%llu" writes them.
 */
#include <criterion/criterion.h>

#include <hiredis/hiredis.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "resp.h"

/* expect_as_hiredis checks resp_command's bytes for argv against hiredis's. */
static void expect_as_hiredis(int argc, const char **argv, const size_t *lens)
{
	char *want = NULL, *got;
	int want_len = redisFormatCommandArgv(&want, argc, argv, lens);
	size_t got_len = 0;

	cr_assert_gt(want_len, 0);
	got = resp_command(argc, argv, lens, &got_len);
	cr_assert_not_null(got);
	cr_assert_eq(got_len, (size_t)want_len, "%zu bytes, hiredis %d", got_len, want_len);
	cr_assert(memcmp(got, want, got_len) == 0, "%.*s\nhiredis: %s", (int)got_len, got, want);
	free(got);
	free(want);
}

Test(resp, a_command_is_written_as_hiredis_writes_it)
{
	const char *argv[] = { "EVALSHA", "0123456789abcdef0123456789abcdef01234567", "0", "jobq" };
	size_t lens[] = { 7, 40, 1, 4 };

	expect_as_hiredis(4, argv, lens);
}

Test(resp, empty_and_binary_arguments_keep_their_bytes)
{
	const char *argv[] = { "SET", "k\0ey", "", "a\r\nb" };
	size_t lens[] = { 3, 4, 0, 4 };

	expect_as_hiredis(4, argv, lens);
}

Test(resp, lengths_of_every_width_and_many_arguments)
{
	enum { N = 1500 };
	static char big[100001];
	static const char *argv[N];
	static size_t lens[N];

	memset(big, 'x', sizeof big);
	/* 0, 9, 10, 99, 100, ... 100000 bytes: every count of length digits;
	 * 1,500 arguments: a four-digit argument count. */
	for (int i = 0; i < N; i++) {
		static const size_t widths[] = { 0, 9, 10, 99, 100, 999, 1000, 9999, 10000, 100000 };

		argv[i] = big;
		lens[i] = widths[i % 10];
	}
	expect_as_hiredis(N, argv, lens);
}

Test(resp, numbers_are_written_as_printf_writes_them)
{
	const uint64_t values[] = { 0, 1, 9, 10, 99, 100, 1234567890123ULL, UINT64_MAX - 1,
				    UINT64_MAX };

	for (size_t i = 0; i < sizeof values / sizeof values[0]; i++) {
		char got[RESP_U64_MAX], want[32];
		size_t n = resp_u64(got, values[i]);

		snprintf(want, sizeof want, "%" PRIu64, values[i]);
		cr_assert_str_eq(got, want);
		cr_assert_eq(n, strlen(want));
	}
}
