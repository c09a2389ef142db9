/*
 * Unit: json_line_dump writes a flat object exactly as jansson's compact
 * dump does, and declines what it does not write.
 */
#include <criterion/criterion.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "json_line.h"

/* assert_same dumps o both ways and compares; o is released. */
static void assert_same(json_t *o)
{
	char fast[512], slow[512];
	size_t n, m;

	cr_assert_not_null(o);
	n = json_line_dump(o, fast, sizeof fast);
	m = json_dumpb(o, slow, sizeof slow, JSON_COMPACT);
	cr_assert_gt(n, 0, "declined %.*s", (int)m, slow);
	cr_assert_eq(n, m, "%.*s\nagainst %.*s", (int)n, fast, (int)m, slow);
	cr_assert_eq(memcmp(fast, slow, n), 0, "%.*s\nagainst %.*s", (int)n, fast, (int)m, slow);
	json_decref(o);
}

/* assert_declined checks that json_line_dump leaves o to jansson. */
static void assert_declined(json_t *o)
{
	char buf[512];

	cr_assert_not_null(o);
	cr_assert_eq(json_line_dump(o, buf, sizeof buf), 0);
	json_decref(o);
}

Test(json_line, a_flat_line_of_strings_and_integers_is_jansson_byte_for_byte)
{
	assert_same(json_pack("{s:s, s:s, s:s, s:s, s:s, s:I, s:I, s:I}", "time",
			      "2026-11-29T03:53:02.992Z", "level", "info", "component", "api",
			      "msg", "request", "request_id", "10c475ef6aff332b", "status",
			      (json_int_t)202, "bytes_in", (json_int_t)0, "duration_ms",
			      (json_int_t)-4));
	assert_same(json_pack("{s:I, s:I}", "max", (json_int_t)INT64_MAX, "min",
			      (json_int_t)INT64_MIN));
	assert_same(json_pack("{s:s}", "printable", " !#$%&'()*+,-./09:;<=>?@AZ[]^_`az{|}~"));
	assert_same(json_pack("{s:s}", "", ""));
	assert_same(json_object());
}

Test(json_line, names_and_texts_that_need_escaping_are_declined)
{
	assert_declined(json_pack("{s:s}", "msg", "say \"hi\""));
	assert_declined(json_pack("{s:s}", "path", "C:\\tmp"));
	assert_declined(json_pack("{s:s}", "lines", "a\nb"));
	assert_declined(json_pack("{s:s}", "caf\xc3\xa9", "x"));
	assert_declined(json_pack("{s:s}", "name", "caf\xc3\xa9"));
	assert_declined(json_pack("{s:s}", "del", "\x7f"));
	assert_declined(json_pack("{s:s#}", "nul", "a\0b", (int)3));
}

Test(json_line, other_types_and_lines_too_long_are_declined)
{
	char small[8];
	json_t *o = json_pack("{s:s}", "msg", "a long enough text");

	assert_declined(json_pack("{s:f}", "real", 1.5));
	assert_declined(json_pack("{s:b}", "flag", 1));
	assert_declined(json_pack("{s:n}", "none"));
	assert_declined(json_pack("{s:{s:i}}", "nested", "a", 1));
	assert_declined(json_pack("[i]", 1));
	cr_assert_eq(json_line_dump(o, small, sizeof small), 0);
	json_decref(o);
}
