/*
 * test_csv_check.c — the upload checker of csv_check.h.
 *
 * Like the reader's tests, every expectation holds whether the upload is fed
 * whole, cut in two at any byte or fed one byte at a time: the same problem
 * (code, line, expected, found) or the same summary.
 */
#include <criterion/criterion.h>

#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "csv_check.h"

struct check_opts {
	unsigned char delim;
	bool header;
	size_t max_field;
};

/* checked is everything a checker reports about one upload. */
struct checked {
	int result; /* of finish, or of the feed that found the problem */
	const char *code;
	uint64_t line, expected, found;
	struct csv_check_summary summary;
	char message[160];
};

static struct check_opts plain(bool header)
{
	return (struct check_opts){ ',', header, 1 << 20 };
}

/* run_check feeds in[0..len) cut at the ascending offsets cuts[0..ncuts),
 * each chunk in its own allocation, and finishes unless a feed failed. It
 * checks that feed keeps failing once it has failed. */
static struct checked run_check(const char *in, size_t len, const size_t *cuts, size_t ncuts,
				const struct check_opts *o)
{
	struct csv_check *c = csv_check_new(o->delim, o->header, o->max_field);
	struct checked out = { 0 };
	size_t from = 0;

	cr_assert_not_null(c);
	for (size_t i = 0; i <= ncuts && out.result == 0; i++) {
		size_t to = i < ncuts ? cuts[i] : len;
		char *chunk = malloc(to - from ? to - from : 1);
		memcpy(chunk, in + from, to - from);
		out.result = csv_check_feed(c, chunk, to - from);
		free(chunk);
		from = to;
	}
	if (out.result == 0) {
		cr_assert_null(csv_check_problem(c)->code, "no problem before finish");
		out.result = csv_check_finish(c);
	} else {
		cr_assert_eq(csv_check_feed(c, "x", 1), -1, "feed keeps failing");
		cr_assert_eq(csv_check_finish(c), -1, "finish fails after a problem");
	}
	const struct csv_check_problem *p = csv_check_problem(c);
	cr_assert_eq(out.result == 0, p->code == NULL, "result and problem agree");
	out.code = p->code;
	out.line = p->line;
	out.expected = p->expected;
	out.found = p->found;
	memcpy(out.message, p->message, sizeof out.message);
	out.summary = *csv_check_summary(c);
	csv_check_free(c);
	return out;
}

static void assert_same_check(const struct checked *a, const struct checked *b, const char *how)
{
	cr_assert_eq(a->result, b->result, "%s: result", how);
	cr_assert_str_eq(a->code ? a->code : "none", b->code ? b->code : "none", "%s: code", how);
	cr_assert_eq(a->line, b->line, "%s: line %" PRIu64 " vs %" PRIu64, how, a->line, b->line);
	cr_assert_eq(a->expected, b->expected, "%s: expected", how);
	cr_assert_eq(a->found, b->found, "%s: found", how);
	if (a->result == 0) {
		cr_assert_eq(a->summary.rows, b->summary.rows, "%s: rows", how);
		cr_assert_eq(a->summary.columns, b->summary.columns, "%s: columns", how);
		cr_assert_eq(a->summary.bytes, b->summary.bytes, "%s: bytes", how);
	}
}

/* check_upload returns what the checker says about in[0..len) fed whole,
 * after asserting that every way of cutting it says the same. */
static struct checked check_upload(const char *in, size_t len, const struct check_opts *o)
{
	struct checked whole = run_check(in, len, NULL, 0, o);
	size_t *each = calloc(len ? len : 1, sizeof *each);
	char how[32];

	for (size_t i = 0; i <= len; i++) {
		struct checked two = run_check(in, len, &i, 1, o);
		snprintf(how, sizeof how, "cut at %zu", i);
		assert_same_check(&whole, &two, how);
		if (i < len)
			each[i] = i;
	}
	struct checked bytes = run_check(in, len, each, len, o);
	assert_same_check(&whole, &bytes, "byte by byte");
	free(each);
	return whole;
}

/* expect_problem asserts that in (a literal) fails with code on line. */
#define expect_problem(lit, opts, want_code, want_line)                                  \
	do {                                                                             \
		struct check_opts o_ = (opts);                                           \
		struct checked r_ = check_upload(lit, sizeof lit - 1, &o_);              \
		cr_assert_eq(r_.result, -1, "upload accepted");                          \
		cr_assert_str_eq(r_.code ? r_.code : "none", want_code);                 \
		cr_assert_eq(r_.line, (uint64_t)(want_line), "line %" PRIu64, r_.line);  \
		cr_assert_gt(strlen(r_.message), 0, "a problem has a sentence");         \
	} while (0)

/* ---- Summary ------------------------------------------------------------- */

Test(csv_check, header_is_not_counted_as_a_row)
{
	const char in[] = "name,age\nann,31\nbob,42\n";
	struct check_opts o = plain(true);
	struct checked r = check_upload(in, sizeof in - 1, &o);

	cr_assert_eq(r.result, 0);
	cr_assert_eq(r.summary.rows, 2);
	cr_assert_eq(r.summary.columns, 2);
	cr_assert_eq(r.summary.bytes, sizeof in - 1);
}

Test(csv_check, without_header_every_record_is_a_row)
{
	const char in[] = "ann,31,x\r\n\r\nbob,\"4\n2\",y";
	struct check_opts o = plain(false);
	struct checked r = check_upload(in, sizeof in - 1, &o);

	cr_assert_eq(r.result, 0);
	cr_assert_eq(r.summary.rows, 2);
	cr_assert_eq(r.summary.columns, 3);
	cr_assert_eq(r.summary.bytes, sizeof in - 1);
}

Test(csv_check, bytes_count_the_bom)
{
	const char in[] = "\xef\xbb\xbf" "a\n1\n";
	struct check_opts o = plain(true);
	struct checked r = check_upload(in, sizeof in - 1, &o);

	cr_assert_eq(r.result, 0);
	cr_assert_eq(r.summary.rows, 1);
	cr_assert_eq(r.summary.bytes, 7);
}

Test(csv_check, other_delimiters_are_honoured)
{
	const char in[] = "a;b,c\n1;2\n";
	struct check_opts o = { ';', true, 100 };
	struct checked r = check_upload(in, sizeof in - 1, &o);

	cr_assert_eq(r.result, 0);
	cr_assert_eq(r.summary.columns, 2);
	cr_assert_eq(r.summary.rows, 1);
}

/* ---- Ragged records ------------------------------------------------------ */

Test(csv_check, ragged_record_reports_its_line_and_both_counts)
{
	const char in[] = "a,b\n1,2\n3\n4,5\n";
	struct check_opts o = plain(true);
	struct checked r = check_upload(in, sizeof in - 1, &o);

	cr_assert_eq(r.result, -1);
	cr_assert_str_eq(r.code, "ragged_record");
	cr_assert_eq(r.line, 3);
	cr_assert_eq(r.expected, 2);
	cr_assert_eq(r.found, 1);
}

Test(csv_check, ragged_record_line_is_where_the_record_starts)
{
	const char in[] = "a,b\n\"x\ny\",2\n\n1,\"2\n\",3\n";
	struct check_opts o = plain(false);
	struct checked r = check_upload(in, sizeof in - 1, &o);

	cr_assert_str_eq(r.code, "ragged_record");
	cr_assert_eq(r.line, 5);
	cr_assert_eq(r.expected, 2);
	cr_assert_eq(r.found, 3);
}

Test(csv_check, ragged_last_record_without_line_end_is_found_at_finish)
{
	const char in[] = "a,b,c\n1,2";
	struct check_opts o = plain(true);
	struct checked r = check_upload(in, sizeof in - 1, &o);

	cr_assert_str_eq(r.code, "ragged_record");
	cr_assert_eq(r.line, 2);
	cr_assert_eq(r.expected, 3);
	cr_assert_eq(r.found, 2);
}

/* ---- Bytes --------------------------------------------------------------- */

Test(csv_check, invalid_utf8_reports_the_line_of_the_bad_byte)
{
	expect_problem("a,b\n1,2\n\xc0\x80,3\n", plain(true), "invalid_utf8", 3);
	expect_problem("a\n\xed\xa0\x80\n", plain(true), "invalid_utf8", 2);
	expect_problem("\xf4\x90\x80\x80", plain(false), "invalid_utf8", 1);
}

Test(csv_check, invalid_utf8_inside_a_multi_line_quoted_field_reports_its_own_line)
{
	expect_problem("a,b\n\"x\r\ny\n\xff\",2\n", plain(true), "invalid_utf8", 4);
	expect_problem("a,b\n\"x\r\xe2\x82\n\",2\n", plain(true), "invalid_utf8", 3);
}

Test(csv_check, utf8_sequence_cut_by_the_end_of_input_is_invalid)
{
	expect_problem("a\nb\xe2\x82", plain(true), "invalid_utf8", 2);
}

Test(csv_check, nul_byte_is_refused_on_its_line)
{
	expect_problem("a,b\n1,2\n3,x\0y\n", plain(true), "nul_byte", 3);
	expect_problem("\"a\n\0\"", plain(false), "nul_byte", 2);
}

Test(csv_check, the_first_problem_in_the_input_wins)
{
	/* A ragged record before an invalid byte in the same chunk. */
	struct check_opts o = plain(true);
	struct checked r = check_upload("a,b\n1\n\xff\n", 8, &o);
	cr_assert_str_eq(r.code, "ragged_record");
	cr_assert_eq(r.line, 2);
	/* An invalid byte before a ragged record. */
	expect_problem("a,b\n\xff,2\n1\n", plain(true), "invalid_utf8", 2);
	/* An invalid byte before text after a quote on the same line. */
	expect_problem("\"\xff\"x", plain(false), "invalid_utf8", 1);
	expect_problem("\"a\"x\xff", plain(false), "text_after_quote", 1);
	/* An invalid byte before a NUL, and a NUL that cuts a sequence short. */
	expect_problem("a\n\xff\n\0", plain(false), "invalid_utf8", 2);
	expect_problem("a\n\xe2\0", plain(false), "invalid_utf8", 2);
	expect_problem("a\n\0\xff", plain(false), "nul_byte", 2);
}

/* ---- Dialect errors ------------------------------------------------------ */

Test(csv_check, reader_errors_keep_their_codes_and_lines)
{
	expect_problem("a\n\"b\nc", plain(false), "unterminated_quote", 2);
	expect_problem("a\nb\n\"c\"d\n", plain(false), "text_after_quote", 3);
	expect_problem("a\nbb\nccccc\n", ((struct check_opts){ ',', false, 4 }), "field_too_large", 3);
}

/* ---- No data ------------------------------------------------------------- */

Test(csv_check, header_alone_has_no_data_records)
{
	expect_problem("a,b\n", plain(true), "no_data_records", 0);
	expect_problem("a,b", plain(true), "no_data_records", 0);
}

Test(csv_check, empty_upload_has_no_data_records)
{
	expect_problem("", plain(true), "no_data_records", 0);
	expect_problem("", plain(false), "no_data_records", 0);
	expect_problem("\n\r\n\r", plain(false), "no_data_records", 0);
	expect_problem("\xef\xbb\xbf", plain(false), "no_data_records", 0);
}

Test(csv_check, one_record_is_data_without_header)
{
	const char in[] = "a,b";
	struct check_opts o = plain(false);
	struct checked r = check_upload(in, sizeof in - 1, &o);

	cr_assert_eq(r.result, 0);
	cr_assert_eq(r.summary.rows, 1);
	cr_assert_eq(r.summary.columns, 2);
}

/* ---- Every split point, on a corpus -------------------------------------- */

Test(csv_check, every_split_point_gives_the_same_verdict)
{
	static const char *const corpus[] = {
		"h1,h2\n\"a\nb\",\xc3\xa9\r\n\"\",\xe2\x82\xac\n",
		"h\n\xf0\x9f\x98\x80\n\xf0\x9f\x98",
		"\xef\xbb\xbfh,i\r\n1,2\r\n3",
		"a,b\n1,2,3\n\xff",
		"x\n\"y\"z\n\xc3",
		"\xef\xbb",
		"\xef\xbb\xbf\xef\xbb\xbf,x\n1,2\n",
	};

	for (size_t i = 0; i < sizeof corpus / sizeof *corpus; i++) {
		for (int header = 0; header < 2; header++) {
			for (size_t max = 1; max <= 4; max++) {
				struct check_opts o = { ',', header, max == 4 ? 1000 : max };
				check_upload(corpus[i], strlen(corpus[i]), &o);
			}
		}
	}
}
