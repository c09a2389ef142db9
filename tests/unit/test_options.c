/* Unit tests: options — a submission's options from (name, value) byte
 * strings, as query parameters and form fields give them. */
#include <criterion/criterion.h>
#include <stdio.h>
#include <string.h>

#include "options.h"

/* apply applies name=value (C strings) to o and returns the error code,
 * NULL when it was taken. */
static const char *apply(struct options *o, const char *name, const char *value)
{
	static char code[64];
	struct reply_error e = { 0 };
	int rc = options_apply(o, name, strlen(name), value, strlen(value), &e);

	cr_assert_eq(rc == 0, e.status == 0);
	snprintf(code, sizeof code, "%s", rc == 0 ? "" : e.code);
	reply_error_clear(&e);
	return rc == 0 ? NULL : code;
}

Test(options, every_option_is_taken_once)
{
	struct options o;
	options_default(&o);
	cr_assert_null(apply(&o, "task", "ndjson"));
	cr_assert_null(apply(&o, "queue", "q.1-a_b"));
	cr_assert_null(apply(&o, "delimiter", ";"));
	cr_assert_null(apply(&o, "header", "false"));
	cr_assert_null(apply(&o, "max_attempts", "7"));
	cr_assert_null(apply(&o, "timeout", "30"));
	cr_assert_str_eq(o.task, "ndjson");
	cr_assert_str_eq(o.queue, "q.1-a_b");
	cr_assert_eq(o.delimiter, ';');
	cr_assert_eq(o.header, false);
	cr_assert_eq(o.max_attempts, 7);
	cr_assert_eq(o.timeout_s, 30);
	cr_assert_str_eq(apply(&o, "queue", "again"), "duplicate_parameter");
}

Test(options, a_refused_value_leaves_the_option_as_it_was)
{
	struct options o;
	options_default(&o);
	cr_assert_str_eq(apply(&o, "task", "../../bin/sh"), "unknown_task");
	cr_assert_str_eq(o.task, "profile");
	options_default(&o);
	cr_assert_str_eq(apply(&o, "queue", "no spaces"), "invalid_queue");
	cr_assert_str_eq(o.queue, "default");
	options_default(&o);
	cr_assert_str_eq(apply(&o, "header", "maybe"), "invalid_header");
	cr_assert_eq(o.header, true);
}

Test(options, a_nul_inside_a_name_or_value_is_refused)
{
	struct options o;
	struct reply_error e = { 0 };
	options_default(&o);
	cr_assert_eq(options_apply(&o, "queue", 5, "a\0b", 3, &e), -1);
	cr_assert_str_eq(e.code, "invalid_queue");
	reply_error_clear(&e);
	cr_assert_eq(options_apply(&o, "queue\0x", 7, "a", 1, &e), -1);
	cr_assert_str_eq(e.code, "unknown_parameter");
	reply_error_clear(&e);
}
