/* Unit tests: keys — the key schema, and the README's table of it. */
#include <criterion/criterion.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "keys.h"

Test(keys, names_are_built_from_the_prefix)
{
	char k[KEYS_MAX];
	const char *id = "0123456789abcdef0123456789abcdef";
	cr_assert_str_eq(keys_job(k, "jobq", id), "jobq:job:0123456789abcdef0123456789abcdef");
	cr_assert_str_eq(keys_input(k, "jobq", id), "jobq:job:0123456789abcdef0123456789abcdef:input");
	cr_assert_str_eq(keys_result(k, "t1", id), "t1:job:0123456789abcdef0123456789abcdef:result");
	cr_assert_str_eq(keys_staging_piece(k, "jobq", id, 0), "jobq:staging:0123456789abcdef0123456789abcdef:0");
	cr_assert_str_eq(keys_input_piece(k, "jobq", id, 12), "jobq:job:0123456789abcdef0123456789abcdef:input:12");
	cr_assert_str_eq(keys_queue(k, "jobq", "default"), "jobq:queue:default");
	cr_assert_str_eq(keys_wake(k, "jobq", "fast"), "jobq:wake:fast");
	cr_assert_str_eq(keys_running(k, "jobq"), "jobq:running");
	cr_assert_str_eq(keys_queues(k, "jobq"), "jobq:queues");
	cr_assert_str_eq(keys_worker(k, "jobq", "h:42:0a1b2c3d"), "jobq:worker:h:42:0a1b2c3d");
	cr_assert_str_eq(keys_workers(k, "jobq"), "jobq:workers");
}

Test(keys, longest_names_fit)
{
	char prefix[65], k[KEYS_MAX];
	memset(prefix, 'p', 64);
	prefix[64] = '\0';
	cr_assert(keys_prefix_valid(prefix));
	keys_result(k, prefix, "0123456789abcdef0123456789abcdef");
	cr_assert_eq(strlen(k), 64 + 5 + 32 + 7);
}

Test(keys, idempotency_key_names_carry_the_tenant_or_a_dash)
{
	char k[KEYS_IDEM_MAX], prefix[65], tenant[65], key[129];
	cr_assert_str_eq(keys_idem(k, "jobq", "", "order-42"), "jobq:idem:-:order-42");
	cr_assert_str_eq(keys_idem(k, "jobq", "acme", "order-42"), "jobq:idem:acme:order-42");
	memset(prefix, 'p', 64);
	prefix[64] = '\0';
	memset(tenant, 't', 64);
	tenant[64] = '\0';
	memset(key, 'k', 128);
	key[128] = '\0';
	keys_idem(k, prefix, tenant, key);
	cr_assert_eq(strlen(k), 64 + 6 + 64 + 1 + 128, "the longest name is cut");
}

Test(keys, prefix_rules)
{
	cr_assert(keys_prefix_valid("jobq"));
	cr_assert(keys_prefix_valid("prod:jobq-2.a_b"));
	cr_assert_not(keys_prefix_valid(""));
	cr_assert_not(keys_prefix_valid("has space"));
	cr_assert_not(keys_prefix_valid("star*"));
	char long_prefix[66];
	memset(long_prefix, 'a', 65);
	long_prefix[65] = '\0';
	cr_assert_not(keys_prefix_valid(long_prefix));
}

/* The README documents every key of the schema; this test fails when a key
 * is added to keys.c without being documented (tests run from the repo). */
Test(keys, readme_documents_every_key)
{
	FILE *f = fopen("README.md", "r");
	cr_assert_not_null(f, "README.md not found (run tests from the repository root)");
	static char text[1 << 20];
	size_t n = fread(text, 1, sizeof text - 1, f);
	fclose(f);
	text[n] = '\0';
	for (size_t i = 0; i < keys_schema_len; i++) {
		char want[128];
		snprintf(want, sizeof want, "`%s`", keys_schema[i].pattern);
		cr_expect_not_null(strstr(text, want), "README lacks key %s", want);
	}
}

Test(keys, retry_and_dead_letter_names_are_built_from_the_prefix)
{
	char out[KEYS_MAX];

	cr_assert_str_eq(keys_scheduled(out, "jobq"), "jobq:scheduled");
	cr_assert_str_eq(keys_dead(out, "a.b"), "a.b:dead");
	cr_assert_str_eq(keys_errors(out, "jobq", "abc"), "jobq:job:abc:errors");
}

Test(keys, cancel_channel_is_built_from_the_prefix)
{
	char k[KEYS_MAX];
	cr_assert_str_eq(keys_cancel_channel(k, "jobq"), "jobq:cancel");
	cr_assert_str_eq(keys_cancel_channel(k, "t1"), "t1:cancel");
}

Test(keys, enqueue_writes_names_only_its_own_queues_keys)
{
	cr_assert(keys_enqueue_writes("jobq:queues", "jobq", "default"));
	cr_assert(keys_enqueue_writes("jobq:queue:default", "jobq", "default"));
	cr_assert(keys_enqueue_writes("jobq:wake:default", "jobq", "default"));
	/* Another queue's keys, even one called "queues", and records whose
	 * Idempotency-Key ends like a queue's key, are not its own. */
	cr_assert_not(keys_enqueue_writes("jobq:queue:queues", "jobq", "default"));
	cr_assert_not(keys_enqueue_writes("jobq:wake:queues", "jobq", "default"));
	cr_assert_not(keys_enqueue_writes("jobq:queue:other", "jobq", "default"));
	cr_assert_not(keys_enqueue_writes("jobq:idem:acme:x:queue:default", "jobq", "default"));
	cr_assert_not(keys_enqueue_writes("jobq:idem:acme:x:queues", "jobq", "default"));
	cr_assert_not(keys_enqueue_writes("other:queues", "jobq", "default"));
}
