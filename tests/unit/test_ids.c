/*
 * test_ids.c — random job ids and the checks on job ids, request ids and
 * queue names.
 */
#include <criterion/criterion.h>
#include <sys/wait.h>
#include <unistd.h>
#include <string.h>

#include "ids.h"

/* repeat returns a string of n copies of c (n < 256). */
static const char *repeat(char c, size_t n)
{
	static char buf[256];

	memset(buf, c, n);
	buf[n] = '\0';
	return buf;
}

Test(ids, random_id_is_32_lowercase_hex)
{
	char id[33];

	cr_assert_eq(ids_random_hex(id, 16), 0);
	cr_assert_eq(strlen(id), 32);
	for (size_t i = 0; i < 32; i++)
		cr_assert(strchr("0123456789abcdef", id[i]) != NULL, "char %zu of %s", i, id);
	cr_assert(ids_job_id_valid(id), "%s", id);
}

Test(ids, random_ids_differ)
{
	char ids[50][33];

	for (size_t i = 0; i < 50; i++) {
		cr_assert_eq(ids_random_hex(ids[i], 16), 0);
		for (size_t j = 0; j < i; j++)
			cr_assert_str_neq(ids[i], ids[j]);
	}
}

Test(ids, random_hex_longer_than_one_chunk_is_filled_and_terminated)
{
	char out[2 * 200 + 2];

	memset(out, 'X', sizeof out);
	cr_assert_eq(ids_random_hex(out, 200), 0);
	cr_assert_eq(strlen(out), 400);
	cr_assert_eq(out[401], 'X', "wrote past the NUL");
	for (size_t i = 0; i < 400; i++)
		cr_assert(strchr("0123456789abcdef", out[i]) != NULL, "char %zu is %c", i, out[i]);
}

Test(ids, random_hex_of_zero_bytes_is_empty)
{
	char out[4] = "abc";

	cr_assert_eq(ids_random_hex(out, 0), 0);
	cr_assert_str_eq(out, "");
}

Test(ids, job_id_of_32_lowercase_hex_is_valid)
{
	cr_assert(ids_job_id_valid("0123456789abcdef0123456789abcdef"));
	cr_assert(ids_job_id_valid(repeat('f', 32)));
}

Test(ids, job_id_of_wrong_length_is_invalid)
{
	cr_assert_not(ids_job_id_valid(repeat('a', 31)));
	cr_assert_not(ids_job_id_valid(repeat('a', 33)));
	cr_assert_not(ids_job_id_valid(""));
	cr_assert_not(ids_job_id_valid(NULL));
}

Test(ids, job_id_with_uppercase_or_non_hex_is_invalid)
{
	cr_assert_not(ids_job_id_valid("0123456789ABCDEF0123456789abcdef"));
	cr_assert_not(ids_job_id_valid("0123456789abcdeg0123456789abcdef"));
	cr_assert_not(ids_job_id_valid("0123456789abcdef0123456789abcde "));
	cr_assert_not(ids_job_id_valid("../../../../../../../etc/passwd.."));
}

Test(ids, request_id_of_allowed_characters_is_sane)
{
	cr_assert(ids_request_id_sane("a"));
	cr_assert(ids_request_id_sane("req-2026.01:abc_DEF-9"));
	cr_assert(ids_request_id_sane(repeat('r', 128)));
}

Test(ids, request_id_that_is_empty_or_too_long_is_not_sane)
{
	cr_assert_not(ids_request_id_sane(""));
	cr_assert_not(ids_request_id_sane(NULL));
	cr_assert_not(ids_request_id_sane(repeat('r', 129)));
}

Test(ids, request_id_with_space_quote_or_control_is_not_sane)
{
	cr_assert_not(ids_request_id_sane("abc def"));
	cr_assert_not(ids_request_id_sane("abc\"def"));
	cr_assert_not(ids_request_id_sane("abc\r\nX-Injected: 1"));
	cr_assert_not(ids_request_id_sane("caf\xc3\xa9"));
	cr_assert_not(ids_request_id_sane("a/b"));
}

Test(ids, queue_name_of_1_to_64_allowed_characters_is_valid)
{
	cr_assert(ids_queue_name_valid("default"));
	cr_assert(ids_queue_name_valid("Bulk_imports.v2-eu"));
	cr_assert(ids_queue_name_valid(repeat('q', 64)));
}

Test(ids, queue_name_that_is_empty_too_long_or_has_other_characters_is_invalid)
{
	cr_assert_not(ids_queue_name_valid(""));
	cr_assert_not(ids_queue_name_valid(NULL));
	cr_assert_not(ids_queue_name_valid(repeat('q', 65)));
	cr_assert_not(ids_queue_name_valid("a:b"), "':' separates parts of Redis keys");
	cr_assert_not(ids_queue_name_valid("a b"));
	cr_assert_not(ids_queue_name_valid("a,b"));
	cr_assert_not(ids_queue_name_valid("a/b"));
}

/* The per-thread pool of random bytes must not hand a forked child the
 * bytes its parent hands out next. */
Test(ids, a_forked_child_does_not_repeat_its_parents_next_id)
{
	char parent[33], child[33] = "";
	int fds[2];
	pid_t pid;

	cr_assert_eq(ids_random_hex(parent, 16), 0); /* fills this thread's pool */
	cr_assert_eq(pipe(fds), 0);
	pid = fork();
	cr_assert_neq(pid, -1);
	if (pid == 0) {
		char id[33];
		ssize_t n = ids_random_hex(id, 16) == 0 ? write(fds[1], id, 33) : -1;
		_exit(n == 33 ? 0 : 1);
	}
	close(fds[1]);
	cr_assert_eq(read(fds[0], child, sizeof child), 33);
	close(fds[0]);
	waitpid(pid, NULL, 0);
	cr_assert_eq(ids_random_hex(parent, 16), 0);
	cr_assert_str_neq(parent, child);
}

Test(ids, many_ids_across_pool_refills_all_differ)
{
	static char ids[300][33];

	for (size_t i = 0; i < 300; i++) {
		cr_assert_eq(ids_random_hex(ids[i], 16), 0);
		for (size_t j = 0; j < i; j++)
			cr_assert_str_neq(ids[i], ids[j]);
	}
}
