/* Unit tests: auth — parsing the auth file and looking tokens up in
 * constant time. */
#include <criterion/criterion.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <fcntl.h>
#include <unistd.h>

#include "auth.h"

#define TOKEN_A "aaaaaaaaaaaaaaaa-token-a"
#define TOKEN_B "bbbbbbbbbbbbbbbb-token-b"

static struct auth_table *parse(const char *text, char *err)
{
	return auth_table_parse(text, strlen(text), err, 200);
}

Test(auth, keys_comments_blank_lines_and_operators_parse)
{
	char err[200] = "";
	struct auth_table *t = parse("# keys\n\n" TOKEN_A " acme\r\n  " TOKEN_B "\tops operator\n", err);
	struct auth_identity who;

	cr_assert_not_null(t, "%s", err);
	cr_assert_eq(t->len, 2);
	cr_assert(auth_table_find(t, TOKEN_A, &who));
	cr_assert_str_eq(who.tenant, "acme");
	cr_assert_not(who.operator_);
	cr_assert(auth_table_find(t, TOKEN_B, &who));
	cr_assert_str_eq(who.tenant, "ops");
	cr_assert(who.operator_);
	auth_table_free(t);
}

Test(auth, unknown_prefix_and_longer_tokens_are_not_found)
{
	char err[200] = "";
	struct auth_table *t = parse(TOKEN_A " acme\n", err);
	struct auth_identity who;

	cr_assert_not_null(t);
	cr_assert_not(auth_table_find(t, "aaaaaaaaaaaaaaaa-token-", &who));
	cr_assert_not(auth_table_find(t, TOKEN_A "x", &who));
	cr_assert_not(auth_table_find(t, "", &who));
	auth_table_free(t);
}

Test(auth, malformed_line_names_its_number_not_the_token)
{
	static const char *const bad[] = {
		TOKEN_A "\n",                        /* no tenant */
		TOKEN_A " acme admin\n",             /* third word not "operator" */
		TOKEN_A " acme operator extra\n",    /* four words */
		"short acme\n",                      /* token too short */
		TOKEN_A " ac/me\n",                  /* tenant with a bad byte */
		TOKEN_A " acme\n" TOKEN_A " other\n", /* duplicate token */
		TOKEN_A " -\n",                      /* the no-auth idempotency scope */
	};
	static const char *const where[] = {
		"line 2:", "line 2:", "line 2:", "line 2:", "line 2:", "line 3:", "line 2:",
	};

	for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
		char text[300], err[200] = "";

		snprintf(text, sizeof text, "# header\n%s", bad[i]);
		cr_assert_null(parse(text, err), "case %zu parsed", i);
		cr_assert(strncmp(err, where[i], strlen(where[i])) == 0, "case %zu: %s", i, err);
		cr_assert_null(strstr(err, "token-a"), "case %zu leaks the token: %s", i, err);
		cr_assert_null(strstr(err, "short"), "case %zu leaks the token: %s", i, err);
	}
}

/* One entry holding token, for the comparison tests. */
static struct auth_entry entry_of(const char *token)
{
	struct auth_entry e;

	memset(&e, 0, sizeof e);
	memcpy(e.token, token, strlen(token));
	e.token_len = strlen(token);
	return e;
}

Test(auth, token_equal_compares_every_byte_and_the_length)
{
	struct auth_entry e = entry_of(TOKEN_A);
	char longest[AUTH_TOKEN_MAX + 2];

	cr_assert(auth_token_equal(&e, TOKEN_A, strlen(TOKEN_A)));
	cr_assert_not(auth_token_equal(&e, "xaaaaaaaaaaaaaaa-token-a", strlen(TOKEN_A)));
	cr_assert_not(auth_token_equal(&e, "aaaaaaaaaaaaaaaa-token-x", strlen(TOKEN_A)));
	cr_assert_not(auth_token_equal(&e, TOKEN_A, strlen(TOKEN_A) - 1));
	/* Zero padding must not make a token with trailing NULs equal. */
	cr_assert_not(auth_token_equal(&e, TOKEN_A "\0", strlen(TOKEN_A) + 1));
	memset(longest, 'a', sizeof longest);
	cr_assert_not(auth_token_equal(&e, longest, sizeof longest));
}

Test(auth, keys_check_wants_a_bearer_header)
{
	char path[] = "/tmp/jobq-auth-test-XXXXXX", err[200] = "";
	int fd = mkstemp(path);
	struct auth_keys k;
	struct auth_identity who;

	cr_assert_geq(fd, 0);
	cr_assert_eq(write(fd, TOKEN_A " acme\n", strlen(TOKEN_A) + 6), (ssize_t)strlen(TOKEN_A) + 6);
	close(fd);
	cr_assert_eq(auth_keys_init(&k, path, err, sizeof err), 0, "%s", err);
	cr_assert(auth_keys_enabled(&k));
	cr_assert(auth_keys_check(&k, "Bearer " TOKEN_A, &who));
	cr_assert(auth_keys_check(&k, "bearer " TOKEN_A, &who));
	cr_assert_not(auth_keys_check(&k, TOKEN_A, &who));
	cr_assert_not(auth_keys_check(&k, "Basic " TOKEN_A, &who));
	cr_assert_not(auth_keys_check(&k, NULL, &who));
	/* A reload that fails keeps the keys in use. */
	cr_assert_eq(truncate(path, 0), 0);
	fd = open(path, O_WRONLY);
	cr_assert_eq(write(fd, "bad\n", 4), 4);
	close(fd);
	cr_assert_eq(auth_keys_reload(&k, err, sizeof err), -1);
	cr_assert_not_null(strstr(err, "line 1:"), "%s", err);
	cr_assert(auth_keys_check(&k, "Bearer " TOKEN_A, &who));
	unlink(path);
	auth_keys_destroy(&k);
}

Test(auth, no_file_means_auth_off)
{
	struct auth_keys k;
	char err[200] = "";

	cr_assert_eq(auth_keys_init(&k, "", err, sizeof err), 0);
	cr_assert_not(auth_keys_enabled(&k));
	auth_keys_destroy(&k);
}

Test(auth, unreadable_file_fails_with_its_path)
{
	struct auth_keys k;
	char err[200] = "";

	cr_assert_eq(auth_keys_init(&k, "/nonexistent/jobq-keys", err, sizeof err), -1);
	cr_assert_not_null(strstr(err, "/nonexistent/jobq-keys"), "%s", err);
}

Test(auth, short_lines_after_the_last_key_are_parsed_within_the_table)
{
	char err[200] = "";
	struct auth_table *t = parse("\n\n# c\n" TOKEN_A " acme\n# end\n\n", err);

	cr_assert_not_null(t, "%s", err);
	cr_assert_eq(t->len, 1);
	auth_table_free(t);
	cr_assert_null(parse(TOKEN_A " acme\nshort x\n", err));
	cr_assert_str_eq(err, "line 2: the token must be 16 to 128 printable ASCII characters");
	t = parse("# no keys: every request is refused\n", err);
	cr_assert_not_null(t, "%s", err);
	cr_assert_eq(t->len, 0);
	auth_table_free(t);
}

/* auth_key_line writes line i of a file of distinct keys into buf:
 * "key-<i, 16 digits> t<i>\n". */
static int auth_key_line(char *buf, size_t cap, size_t i)
{
	return snprintf(buf, cap, "key-%016zu t%zu\n", i, i);
}

Test(auth, a_repeated_token_is_found_wherever_it_is_and_named_by_its_later_line)
{
	char err[200] = "";

	cr_assert_null(parse(TOKEN_A " acme\n" TOKEN_B " b\n" TOKEN_A " other\n", err));
	cr_assert_str_eq(err, "line 3: this token is already on an earlier line");
	/* Two tokens repeated: the repeat that comes first in the file. */
	cr_assert_null(parse(TOKEN_A " a\n" TOKEN_B " b\n" TOKEN_B " c\n" TOKEN_A " d\n", err));
	cr_assert_str_eq(err, "line 3: this token is already on an earlier line");
	cr_assert_null(parse(TOKEN_A " a\n" TOKEN_A " b\n" TOKEN_A " c\n", err));
	cr_assert_str_eq(err, "line 2: this token is already on an earlier line");
}

Test(auth, the_first_error_in_file_order_is_reported_duplicate_or_malformed)
{
	char err[200] = "";

	cr_assert_null(parse(TOKEN_A " a\n" TOKEN_A " b\nshort x\n", err));
	cr_assert_str_eq(err, "line 2: this token is already on an earlier line");
	cr_assert_null(parse(TOKEN_A " a\nshort x\n" TOKEN_A " b\n", err));
	cr_assert_str_eq(err, "line 2: the token must be 16 to 128 printable ASCII characters");
}

Test(auth, a_token_that_extends_another_is_not_a_duplicate)
{
	char err[200] = "";
	struct auth_table *t = parse(TOKEN_A " a\n" TOKEN_A "x b\n" TOKEN_A "xy c\n", err);
	struct auth_identity who;

	cr_assert_not_null(t, "%s", err);
	cr_assert_eq(t->len, 3);
	cr_assert(auth_table_find(t, TOKEN_A "x", &who));
	cr_assert_str_eq(who.tenant, "b");
	auth_table_free(t);
}

Test(auth, twenty_thousand_distinct_keys_parse_and_one_repeat_among_them_is_found)
{
	enum { KEYS = 20000 };
	size_t cap = (KEYS + 1) * 48, len = 0;
	char *text = malloc(cap), err[200] = "";
	struct auth_table *t;

	cr_assert_not_null(text);
	for (size_t i = 0; i < KEYS; i++) /* reversed: the sort has work to do */
		len += (size_t)auth_key_line(text + len, cap - len, KEYS - 1 - i);
	t = auth_table_parse(text, len, err, sizeof err);
	cr_assert_not_null(t, "%s", err);
	cr_assert_eq(t->len, KEYS);
	auth_table_free(t);
	len += (size_t)auth_key_line(text + len, cap - len, 12345);
	cr_assert_null(auth_table_parse(text, len, err, sizeof err));
	cr_assert_str_eq(err, "line 20001: this token is already on an earlier line");
	free(text);
}
