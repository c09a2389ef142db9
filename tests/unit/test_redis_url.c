/* Unit tests: redis_url — which Redis URLs are accepted and what they mean. */
#include <criterion/criterion.h>
#include <string.h>

#include "redis_url.h"

Test(redis_url, plain_host_gets_default_port_and_db)
{
	struct redis_url u;
	cr_assert_eq(redis_url_parse("redis://127.0.0.1", &u, NULL), 0);
	cr_assert_str_eq(u.host, "127.0.0.1");
	cr_assert_eq(u.port, 6379);
	cr_assert_eq(u.db, 0);
	cr_assert_not(u.unix_socket);
}

Test(redis_url, port_db_and_password_are_read)
{
	struct redis_url u;
	cr_assert_eq(redis_url_parse("redis://:s3cret@redis.local:6380/4", &u, NULL), 0);
	cr_assert_str_eq(u.host, "redis.local");
	cr_assert_eq(u.port, 6380);
	cr_assert_eq(u.db, 4);
	cr_assert_str_eq(u.password, "s3cret");
	cr_assert_str_eq(u.user, "");
}

Test(redis_url, user_and_password_are_split)
{
	struct redis_url u;
	cr_assert_eq(redis_url_parse("redis://app:pw@h/0", &u, NULL), 0);
	cr_assert_str_eq(u.user, "app");
	cr_assert_str_eq(u.password, "pw");
}

Test(redis_url, ipv6_host_in_brackets)
{
	struct redis_url u;
	cr_assert_eq(redis_url_parse("redis://[::1]:7000", &u, NULL), 0);
	cr_assert_str_eq(u.host, "::1");
	cr_assert_eq(u.port, 7000);
}

Test(redis_url, unix_socket_with_db)
{
	struct redis_url u;
	cr_assert_eq(redis_url_parse("unix:///run/redis/redis.sock?db=2", &u, NULL), 0);
	cr_assert(u.unix_socket);
	cr_assert_str_eq(u.host, "/run/redis/redis.sock");
	cr_assert_eq(u.db, 2);
}

Test(redis_url, malformed_urls_are_refused_with_a_reason)
{
	const char *bad[] = {"http://h", "redis://", "redis://h:0", "redis://h:65536",
			     "redis://h:12x", "redis://h/x", "unix://relative.sock",
			     "unix:///s.sock?database=1", "redis://[::1", ""};
	for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
		struct redis_url u;
		const char *err = NULL;
		cr_expect_eq(redis_url_parse(bad[i], &u, &err), -1, "accepted %s", bad[i]);
		cr_expect_not_null(err, "no reason for %s", bad[i]);
	}
}

Test(redis_url, the_flag_parser_keeps_a_good_url_and_refuses_a_bad_one_with_why)
{
	char dst[256] = "", err[200] = "";

	cr_assert_eq(redis_url_config_parse("redis://:pw@127.0.0.1:6380/2", dst, err, sizeof err), 0);
	cr_assert_str_eq(dst, "redis://:pw@127.0.0.1:6380/2");
	cr_assert_eq(redis_url_config_parse("http://127.0.0.1:6379", dst, err, sizeof err), -1);
	cr_assert(strstr(err, "redis:// or unix://") != NULL, "err: %s", err);
	cr_assert_str_eq(dst, "redis://:pw@127.0.0.1:6380/2", "a refused URL was copied");
	cr_assert_eq(redis_url_config_parse("redis://h:0", dst, err, sizeof err), -1);
}
