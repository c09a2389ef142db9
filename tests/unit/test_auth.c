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
