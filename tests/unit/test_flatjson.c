/*
 * flatjson: every value is written as the very bytes jansson's json_dumps
 * writes for it (compact, reals at precision 17), and the first error
 * sticks.
 */
#include <criterion/criterion.h>

#include <float.h>
#include <jansson.h>
#include <math.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "flatjson.h"

/* expect_as_jansson checks that j holds what jansson writes for value
 * (stolen), and empties j for the next value. */
static void expect_as_jansson(struct flatjson *j, json_t *value, const char *what)
{
	char *want = json_dumps(value, JSON_ENCODE_ANY | JSON_COMPACT | JSON_REAL_PRECISION(17));

	cr_assert_not_null(want, "%s", what);
	cr_assert(flatjson_ok(j), "%s", what);
	cr_assert_eq(j->len, strlen(want), "%s: %.*s, jansson %s", what, (int)j->len, j->data, want);
	cr_assert(memcmp(j->data, want, j->len) == 0, "%s: %.*s, jansson %s", what, (int)j->len,
		  j->data, want);
	free(want);
	json_decref(value);
	j->len = 0;
}

static uint64_t next_random(uint64_t *state)
{
	*state ^= *state << 13;
	*state ^= *state >> 7;
	*state ^= *state << 17;
	return *state;
}

Test(flatjson, integers_are_written_as_jansson_writes_them)
{
	static const int64_t edges[] = {0, 1, -1, 9, 10, -10, 999999, INT64_MAX, INT64_MIN,
					INT64_MIN + 1, 1000000000000000000};
	uint64_t state = 88172645463325252ull;
	char buf[8];
	struct flatjson j;

	flatjson_init(&j, buf, sizeof buf); /* small: every value moves it to the heap */
	for (size_t i = 0; i < sizeof edges / sizeof edges[0]; i++) {
		flatjson_int(&j, edges[i]);
		expect_as_jansson(&j, json_integer(edges[i]), "edge");
	}
	for (int i = 0; i < 20000; i++) {
		int64_t v = (int64_t)next_random(&state) >> (i % 64);
		flatjson_int(&j, v);
		expect_as_jansson(&j, json_integer(v), "random");
	}
	flatjson_free(&j);
}

Test(flatjson, reals_are_written_as_jansson_writes_them)
{
	static const double edges[] = {0.0, -0.0, 1.0, -1.0, 0.1, 500000.0, 1e21, 1e22, 1e-5,
				       1e-7, 123456789012345678.0, 1e100, 1.5e-300, 1e308,
				       DBL_MAX, DBL_MIN, 4.9e-324, -2.5e-320, 3.0e17, 1e16};
	uint64_t state = 0x2545f4914f6cdd1dull;
	struct flatjson j;

	flatjson_init(&j, NULL, 0);
	for (size_t i = 0; i < sizeof edges / sizeof edges[0]; i++) {
		flatjson_real(&j, edges[i]);
		expect_as_jansson(&j, json_real(edges[i]), "edge");
	}
	for (int i = 0; i < 50000; i++) {
		uint64_t bits = next_random(&state);
		double v;
		memcpy(&v, &bits, sizeof v);
		if (i % 2) /* also ordinary magnitudes and short decimals */
			v = (double)(int64_t)(bits % 2000001) / (double)(1u << (i % 20)) - 1000.0;
		if (!isfinite(v))
			continue;
		flatjson_real(&j, v);
		expect_as_jansson(&j, json_real(v), "random");
	}
	flatjson_free(&j);
}

Test(flatjson, a_real_that_is_not_finite_fails_as_json_real_does)
{
	struct flatjson j;

	cr_assert_null(json_real(NAN));
	flatjson_init(&j, NULL, 0);
	flatjson_real(&j, INFINITY);
	cr_assert_not(flatjson_ok(&j));
	flatjson_free(&j);
}

Test(flatjson, strings_are_written_as_jansson_writes_them)
{
	static const char *const cases[] = {"", "Oslo", "a\"b", "back\\slash", "/slash/",
					    "tab\there", "nl\n", "\x01\x1f", "del\x7f",
					    "caf\xc3\xa9", "\xe2\x82\xac 5", "\xf0\x9f\x98\x80",
					    "\"\\\"", "2024-01-31"};
	uint64_t state = 0x9e3779b97f4a7c15ull;
	struct flatjson j;
	char s[24];

	flatjson_init(&j, NULL, 0);
	for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
		flatjson_string(&j, cases[i], strlen(cases[i]));
		expect_as_jansson(&j, json_string(cases[i]), cases[i]);
	}
	for (int i = 0; i < 20000; i++) { /* random ASCII, control bytes included */
		size_t len = next_random(&state) % sizeof s;
		for (size_t k = 0; k < len; k++)
			s[k] = (char)(1 + next_random(&state) % 127);
		flatjson_string(&j, s, len);
		expect_as_jansson(&j, json_stringn(s, len), "random");
	}
	flatjson_free(&j);
}

/* Each byte value at each place of a 40-byte string: the scan takes eight
 * bytes at a time, so a byte that needs escaping must be seen in any lane. */
Test(flatjson, every_byte_value_at_every_place_is_written_as_jansson_writes_it)
{
	char s[40];
	struct flatjson j;

	flatjson_init(&j, NULL, 0);
	for (unsigned c = 1; c < 0x80; c++) {
		for (size_t at = 0; at < sizeof s; at++) {
			memset(s, 'a', sizeof s);
			s[at] = (char)c;
			flatjson_string(&j, s, sizeof s);
			expect_as_jansson(&j, json_stringn(s, sizeof s), "one byte");
		}
	}
	for (size_t at = 0; at + 1 < sizeof s; at++) { /* and a two-byte UTF-8 letter */
		memset(s, 'a', sizeof s);
		memcpy(s + at, "\xc3\xa9", 2);
		flatjson_string(&j, s, sizeof s);
		expect_as_jansson(&j, json_stringn(s, sizeof s), "e acute");
	}
	flatjson_free(&j);
}

Test(flatjson, invalid_utf8_fails_as_json_string_does)
{
	static const char bad[] = "ab\xc3(";
	struct flatjson j;

	cr_assert_null(json_stringn(bad, 4));
	flatjson_init(&j, NULL, 0);
	flatjson_string(&j, bad, 4);
	cr_assert_not(flatjson_ok(&j));
	flatjson_lit(&j, "x"); /* the error sticks */
	cr_assert_not(flatjson_ok(&j));
	flatjson_free(&j);
}

Test(flatjson, text_outgrows_the_lent_buffer_intact)
{
	char buf[16];
	struct flatjson j;
	json_t *want = json_array();

	flatjson_init(&j, buf, sizeof buf);
	flatjson_lit(&j, "[");
	for (int i = 0; i < 1000; i++) {
		if (i > 0)
			flatjson_lit(&j, ",");
		flatjson_int(&j, i * 7919);
		json_array_append_new(want, json_integer(i * 7919));
	}
	flatjson_lit(&j, "]");
	cr_assert_neq(j.data, buf);
	expect_as_jansson(&j, want, "array");
	flatjson_free(&j);
}

/* ---- The buffer as plain text -------------------------------------------- */

Test(flatjson, text_is_nul_terminated_and_the_next_append_writes_over_the_nul)
{
	char buf[8];
	struct flatjson j;

	flatjson_init(&j, NULL, 0);
	cr_assert_str_eq(flatjson_text(&j), "", "an empty buffer with nothing lent");
	flatjson_free(&j);
	flatjson_init(&j, buf, sizeof buf);
	flatjson_lit(&j, "1234567");
	cr_assert_str_eq(flatjson_text(&j), "1234567");
	cr_assert_eq(j.len, 7);
	cr_assert_eq(j.data, buf, "the NUL fitted the lent buffer");
	flatjson_lit(&j, "8");
	cr_assert_str_eq(flatjson_text(&j), "12345678", "the NUL moved the text to the heap");
	cr_assert_neq(j.data, buf);
	flatjson_free(&j);
}

Test(flatjson, take_hands_over_the_text_from_the_heap_or_lent_storage)
{
	char buf[64], *text;
	struct flatjson j;
	size_t len;

	flatjson_init(&j, buf, sizeof buf);
	flatjson_lit(&j, "lent");
	text = flatjson_take(&j, &len);
	cr_assert_neq(text, buf, "lent storage is copied, not handed over");
	cr_assert_str_eq(text, "lent");
	cr_assert_eq(len, 4);
	cr_assert_eq(j.len, 0);
	cr_assert_null(j.heap);
	free(text);
	flatjson_init(&j, NULL, 0);
	for (int i = 0; i < 100; i++)
		flatjson_lit(&j, "0123456789");
	text = flatjson_take(&j, &len);
	cr_assert_eq(len, 1000);
	cr_assert_eq(strlen(text), 1000);
	cr_assert_null(j.heap, "the block is the caller's: flatjson_free must not free it");
	flatjson_free(&j);
	free(text);
}

Test(flatjson, a_failed_buffer_has_no_text_to_take)
{
	struct flatjson j;
	size_t len = 99;

	flatjson_init(&j, NULL, 0);
	flatjson_lit(&j, "ok");
	flatjson_real(&j, NAN);
	cr_assert_null(flatjson_text(&j));
	cr_assert_null(flatjson_take(&j, &len));
	cr_assert_eq(len, 0);
	cr_assert_null(j.heap, "take frees a failed buffer");
}

/* ---- Whole objects (log lines) -------------------------------------------- */

/* expect_object_as_jansson appends o (released) to a j lent a buffer of cap
 * bytes and checks the text is json_dumpb(o, ..., JSON_COMPACT), the way
 * log.c dumps a line that flatjson declines. */
static void expect_object_as_jansson(json_t *o, size_t cap)
{
	char lent[512], want[512];
	struct flatjson j;
	size_t m;

	cr_assert_not_null(o);
	cr_assert_leq(cap, sizeof lent);
	m = json_dumpb(o, want, sizeof want, JSON_COMPACT);
	cr_assert(m > 0 && m <= sizeof want);
	flatjson_init(&j, lent, cap);
	cr_assert(flatjson_object(&j, o), "declined %.*s", (int)m, want);
	cr_assert(flatjson_ok(&j));
	cr_assert_eq(j.len, m, "%.*s\nagainst %.*s", (int)j.len, j.data, (int)m, want);
	cr_assert_eq(memcmp(j.data, want, m), 0, "%.*s\nagainst %.*s", (int)j.len, j.data, (int)m,
		     want);
	flatjson_free(&j);
	json_decref(o);
}

/* expect_object_declined checks that flatjson_object leaves o (released) to
 * jansson and takes back what it wrote: the text before it stays. */
static void expect_object_declined(json_t *o)
{
	char lent[512];
	struct flatjson j;

	cr_assert_not_null(o);
	flatjson_init(&j, lent, sizeof lent);
	flatjson_lit(&j, "before");
	cr_assert_not(flatjson_object(&j, o));
	cr_assert(flatjson_ok(&j));
	cr_assert_eq(j.len, 6);
	cr_assert_eq(memcmp(j.data, "before", 6), 0);
	flatjson_free(&j);
	json_decref(o);
}

Test(flatjson, a_flat_object_of_strings_and_integers_is_jansson_byte_for_byte)
{
	expect_object_as_jansson(json_pack("{s:s, s:s, s:s, s:s, s:s, s:I, s:I, s:I}", "time",
					   "2026-11-29T03:53:02.992Z", "level", "info", "component",
					   "api", "msg", "request", "request_id", "10c475ef6aff332b",
					   "status", (json_int_t)202, "bytes_in", (json_int_t)0,
					   "duration_ms", (json_int_t)-4),
				 512);
	expect_object_as_jansson(json_pack("{s:I, s:I}", "max", (json_int_t)INT64_MAX, "min",
					   (json_int_t)INT64_MIN),
				 512);
	expect_object_as_jansson(json_pack("{s:s}", "printable",
					   " !#$%&'()*+,-./09:;<=>?@AZ[]^_`az{|}~"),
				 512);
	expect_object_as_jansson(json_pack("{s:s}", "", ""), 512);
	expect_object_as_jansson(json_object(), 512);
}

Test(flatjson, object_names_and_texts_that_need_escaping_are_jansson_byte_for_byte)
{
	expect_object_as_jansson(json_pack("{s:s}", "msg", "say \"hi\""), 512);
	expect_object_as_jansson(json_pack("{s:s}", "path", "C:\\tmp"), 512);
	expect_object_as_jansson(json_pack("{s:s}", "lines", "a\nb"), 512);
	expect_object_as_jansson(json_pack("{s:s}", "caf\xc3\xa9", "x"), 512);
	expect_object_as_jansson(json_pack("{s:s}", "name", "caf\xc3\xa9"), 512);
	expect_object_as_jansson(json_pack("{s:s}", "del", "\x7f"), 512);
	expect_object_as_jansson(json_pack("{s:s#}", "nul", "a\0b", (int)3), 512);
	expect_object_as_jansson(json_pack("{s:s}", "a \"name\"", "and\\a\ttab"), 512);

	json_t *o = json_object();
	cr_assert_eq(json_object_setn_new(o, "k\0ey", 4, json_integer(7)), 0);
	expect_object_as_jansson(o, 512);
}

Test(flatjson, an_object_holding_other_types_is_declined)
{
	expect_object_declined(json_pack("{s:f}", "real", 1.5));
	expect_object_declined(json_pack("{s:b}", "flag", 1));
	expect_object_declined(json_pack("{s:n}", "none"));
	expect_object_declined(json_pack("{s:{s:i}}", "nested", "a", 1));
	expect_object_declined(json_pack("{s:s, s:i, s:[]}", "msg", "late", "n", 2, "list"));
	expect_object_declined(json_pack("[i]", 1));
}

Test(flatjson, an_object_longer_than_the_lent_buffer_is_written_whole)
{
	expect_object_as_jansson(json_pack("{s:s}", "msg", "a long enough text"), 8);
	expect_object_as_jansson(json_pack("{s:s, s:I}", "msg", "a long enough text", "n",
					   (json_int_t)123456789),
				 0);
}
