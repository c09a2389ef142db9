/*
 * test_csv_reader.c — the CSV dialect of csv_reader.h, case by case.
 *
 * Every expectation is checked with the input fed whole, cut in two at
 * every byte position, fed one byte at a time and (for short inputs) cut in
 * three at every pair of positions: the callbacks, the error and the error
 * line must not depend on how the input arrives. Each chunk is a fresh
 * allocation freed right after its feed, so ASan catches a reader that
 * keeps pointers into old chunks.
 *
 * The callbacks write a trace: each field as [bytes] (CR, LF and tab as
 * \r \n \t, other unprintable bytes as \xhh, [ ] \ escaped) and each record
 * end as @line followed by a space.
 *
 * The last section checks the reader against libcsv on generated inputs
 * that both dialects read the same way.
 */
#include <criterion/criterion.h>
#include <csv.h>

#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "csv_reader.h"

/* ---- Trace --------------------------------------------------------------- */

struct trace {
	char *s;
	size_t len, cap;
	bool lines;          /* write the record's line after @ */
	long abort_field;    /* stop at this 1-based field, 0 for never */
	long abort_record;   /* stop at this 1-based record end, 0 for never */
	long fields, records;
	bool after_stop;     /* a callback came after one asked to stop */
};

static void trace_put(struct trace *t, const char *s, size_t n)
{
	if (t->len + n + 1 > t->cap) {
		t->cap = (t->len + n + 1) * 2;
		t->s = realloc(t->s, t->cap);
		cr_assert_not_null(t->s);
	}
	memcpy(t->s + t->len, s, n);
	t->len += n;
	t->s[t->len] = '\0';
}

static void trace_escape(struct trace *t, unsigned char c)
{
	char tmp[8];

	if (c == '\n')
		trace_put(t, "\\n", 2);
	else if (c == '\r')
		trace_put(t, "\\r", 2);
	else if (c == '\t')
		trace_put(t, "\\t", 2);
	else if (c == '[' || c == ']' || c == '\\' || c < 0x20 || c >= 0x7f)
		trace_put(t, tmp, (size_t)snprintf(tmp, sizeof tmp, "\\x%02x", c));
	else
		trace_put(t, (const char *)&c, 1);
}

static bool trace_stopped(const struct trace *t)
{
	return (t->abort_field && t->fields >= t->abort_field) ||
	       (t->abort_record && t->records >= t->abort_record);
}

static int trace_field(void *ctx, const char *data, size_t len)
{
	struct trace *t = ctx;

	if (trace_stopped(t))
		t->after_stop = true;
	cr_assert_not_null(data, "field data is never NULL");
	trace_put(t, "[", 1);
	for (size_t i = 0; i < len; i++)
		trace_escape(t, (unsigned char)data[i]);
	trace_put(t, "]", 1);
	t->fields++;
	return t->abort_field && t->fields == t->abort_field;
}

static int trace_record_end(void *ctx, uint64_t line)
{
	struct trace *t = ctx;
	char tmp[32];

	if (trace_stopped(t))
		t->after_stop = true;
	if (t->lines)
		trace_put(t, tmp, (size_t)snprintf(tmp, sizeof tmp, "@%" PRIu64 " ", line));
	else
		trace_put(t, "@ ", 2);
	t->records++;
	return t->abort_record && t->records == t->abort_record;
}

static const struct csv_reader_callbacks trace_cbs = { trace_field, trace_record_end };

/* ---- Running a reader over chunks ---------------------------------------- */

struct opts {
	unsigned char delim;
	size_t max_field;
	long abort_field, abort_record;
	bool no_lines;
};

struct outcome {
	char *log;            /* owned */
	enum csv_error err;   /* first error of feed or finish */
	uint64_t line;        /* csv_reader_line at the end */
};

static struct opts default_opts(void)
{
	return (struct opts){ .delim = ',', .max_field = 1 << 20 };
}

/* run feeds in[0..len) cut at the ascending offsets cuts[0..ncuts), each
 * chunk in its own allocation, then finishes. It checks that an error is
 * sticky and that no callback runs after one asked to stop. */
static struct outcome run(const char *in, size_t len, const size_t *cuts, size_t ncuts,
			  const struct opts *o)
{
	struct trace t = { .lines = !o->no_lines, .abort_field = o->abort_field,
			   .abort_record = o->abort_record };
	struct csv_reader *r = csv_reader_new(o->delim, o->max_field, &trace_cbs, &t);
	struct outcome out = { .err = CSV_OK };
	size_t from = 0;

	cr_assert_not_null(r);
	trace_put(&t, "", 0);
	for (size_t i = 0; i <= ncuts; i++) {
		size_t to = i < ncuts ? cuts[i] : len;
		char *chunk = malloc(to - from ? to - from : 1);
		enum csv_error e;

		memcpy(chunk, in + from, to - from);
		e = csv_reader_feed(r, chunk, to - from);
		free(chunk);
		if (out.err != CSV_OK)
			cr_assert_eq(e, out.err, "an error must be sticky");
		out.err = e;
		from = to;
	}
	enum csv_error fin = csv_reader_finish(r);
	if (out.err != CSV_OK)
		cr_assert_eq(fin, out.err, "finish must repeat the feed error");
	out.err = fin;
	out.line = csv_reader_line(r);
	cr_assert_not(t.after_stop, "a callback ran after the reader was stopped");
	csv_reader_free(r);
	out.log = t.s;
	return out;
}

static void assert_same(const struct outcome *a, const struct outcome *b, const char *how)
{
	cr_assert_str_eq(a->log, b->log, "%s: trace differs", how);
	cr_assert_eq(a->err, b->err, "%s: error %s vs %s", how, csv_error_code(a->err),
		     csv_error_code(b->err));
	cr_assert_eq(a->line, b->line, "%s: line %" PRIu64 " vs %" PRIu64, how, a->line, b->line);
}

/* check_splits returns the outcome of feeding in whole, after asserting that
 * every way of cutting it (in two anywhere, byte by byte, in three when short,
 * or only at every stride-th offset when stride > 1) gives the same. */
static struct outcome check_splits(const char *in, size_t len, const struct opts *o, size_t stride)
{
	struct outcome whole = run(in, len, NULL, 0, o);
	char how[64];

	for (size_t i = 0; i <= len; i += stride) {
		struct outcome two = run(in, len, &i, 1, o);
		snprintf(how, sizeof how, "cut at %zu", i);
		assert_same(&whole, &two, how);
		free(two.log);
	}
	size_t *each = calloc(len ? len : 1, sizeof *each);
	for (size_t i = 0; i < len; i++)
		each[i] = i;
	struct outcome bytes = run(in, len, each, len, o);
	assert_same(&whole, &bytes, "byte by byte");
	free(bytes.log);
	free(each);
	for (size_t i = 1; stride == 1 && len <= 24 && i < len; i++) {
		for (size_t j = i + 1; j < len; j++) {
			size_t cuts[2] = { i, j };
			struct outcome three = run(in, len, cuts, 2, o);
			snprintf(how, sizeof how, "cut at %zu and %zu", i, j);
			assert_same(&whole, &three, how);
			free(three.log);
		}
	}
	return whole;
}

/* expect_n asserts what in[0..len) reads as, however it is cut. */
static void expect_n(const char *in, size_t len, const struct opts *o, const char *log,
		     enum csv_error err, uint64_t line)
{
	struct outcome out = check_splits(in, len, o, 1);

	cr_assert_str_eq(out.log, log, "input %zu bytes", len);
	cr_assert_eq(out.err, err, "error %s, wanted %s", csv_error_code(out.err), csv_error_code(err));
	cr_assert_eq(out.line, line, "line %" PRIu64 ", wanted %" PRIu64, out.line, line);
	free(out.log);
}

static void expect(const char *in, const char *log, enum csv_error err, uint64_t line)
{
	struct opts o = default_opts();

	expect_n(in, strlen(in), &o, log, err, line);
}

static void expect_max(const char *in, size_t max_field, const char *log, enum csv_error err,
		       uint64_t line)
{
	struct opts o = default_opts();

	o.max_field = max_field;
	expect_n(in, strlen(in), &o, log, err, line);
}

/* ---- Records and fields -------------------------------------------------- */

Test(csv_reader, delimiters_split_fields_and_line_ends_split_records)
{
	expect("a,b\nc,d\n", "[a][b]@1 [c][d]@2 ", CSV_OK, 3);
}

Test(csv_reader, last_record_needs_no_line_end)
{
	expect("a,b\nc,d", "[a][b]@1 [c][d]@2 ", CSV_OK, 2);
	expect("x", "[x]@1 ", CSV_OK, 1);
	expect("\"x\"", "[x]@1 ", CSV_OK, 1);
}

Test(csv_reader, empty_input_has_no_records)
{
	expect("", "", CSV_OK, 1);
}

Test(csv_reader, empty_fields_are_delivered)
{
	expect(",a,,\n", "[][a][][]@1 ", CSV_OK, 2);
	expect("a,\n", "[a][]@1 ", CSV_OK, 2);
	expect("a,", "[a][]@1 ", CSV_OK, 1);
	expect(",", "[][]@1 ", CSV_OK, 1);
	expect("\"\"\n", "[]@1 ", CSV_OK, 2);
	expect("\"\",\"\"", "[][]@1 ", CSV_OK, 1);
}

Test(csv_reader, spaces_and_tabs_around_fields_are_kept)
{
	expect(" a ,\tb\t, \n", "[ a ][\\tb\\t][ ]@1 ", CSV_OK, 2);
}

Test(csv_reader, other_delimiters_are_honoured)
{
	struct opts o = default_opts();

	o.delim = ';';
	expect_n("a;b,c\n\"x;y\";z", 13, &o, "[a][b,c]@1 [x;y][z]@2 ", CSV_OK, 2);
	o.delim = '\t';
	expect_n("a\tb c\n", 6, &o, "[a][b c]@1 ", CSV_OK, 2);
}

Test(csv_reader, quote_inside_unquoted_field_is_literal)
{
	expect("ab\"c,d\"\n", "[ab\"c][d\"]@1 ", CSV_OK, 2);
	expect(" \"a\",b", "[ \"a\"][b]@1 ", CSV_OK, 1);
	expect("a\"\"b", "[a\"\"b]@1 ", CSV_OK, 1);
}

Test(csv_reader, nul_bytes_are_data)
{
	struct opts o = default_opts();

	expect_n("a\0b,\0\n", 6, &o, "[a\\x00b][\\x00]@1 ", CSV_OK, 2);
}

/* ---- Quoted fields ------------------------------------------------------- */

Test(csv_reader, quoted_field_may_hold_the_delimiter)
{
	expect("\"a,b\",c\n", "[a,b][c]@1 ", CSV_OK, 2);
}

Test(csv_reader, doubled_quote_is_one_quote)
{
	expect("\"a\"\"b\"\n", "[a\"b]@1 ", CSV_OK, 2);
	expect("\"\"\"\"", "[\"]@1 ", CSV_OK, 1);
	expect("\"\"\"\"\"\",\"x\"\"\"", "[\"\"][x\"]@1 ", CSV_OK, 1);
}

Test(csv_reader, quoted_field_may_hold_line_ends)
{
	expect("\"a\nb\",c\r\nd,e\n", "[a\\nb][c]@1 [d][e]@3 ", CSV_OK, 4);
	expect("\"a\r\nb\"\nx", "[a\\r\\nb]@1 [x]@3 ", CSV_OK, 3);
	expect("\"a\rb\"\nx", "[a\\rb]@1 [x]@3 ", CSV_OK, 3);
	expect("\"\n\n\"", "[\\n\\n]@1 ", CSV_OK, 3);
}

/* ---- Line ends and blank lines ------------------------------------------- */

Test(csv_reader, lf_crlf_and_lone_cr_each_end_a_record)
{
	expect("a\nb\r\nc\rd", "[a]@1 [b]@2 [c]@3 [d]@4 ", CSV_OK, 4);
	expect("\"a\"\r\"b\"\r\n\"c\"\n", "[a]@1 [b]@2 [c]@3 ", CSV_OK, 4);
}

Test(csv_reader, blank_lines_are_skipped)
{
	expect("\n\na\n\n\r\n\rb\n\n", "[a]@3 [b]@7 ", CSV_OK, 9);
	expect("\r\n\r\n", "", CSV_OK, 3);
}

Test(csv_reader, line_counts_the_next_byte_after_success)
{
	expect("a\r\n", "[a]@1 ", CSV_OK, 2);
	expect("a\r", "[a]@1 ", CSV_OK, 2);
}

/* ---- Byte order mark ----------------------------------------------------- */

Test(csv_reader, bom_at_start_is_dropped)
{
	expect("\xef\xbb\xbf" "a,b\n", "[a][b]@1 ", CSV_OK, 2);
	expect("\xef\xbb\xbf\"a\"", "[a]@1 ", CSV_OK, 1);
	expect("\xef\xbb\xbf", "", CSV_OK, 1);
	expect("\xef\xbb\xbf\n\nx", "[x]@3 ", CSV_OK, 3);
}

Test(csv_reader, bom_anywhere_else_is_data)
{
	expect("a\n\xef\xbb\xbf", "[a]@1 [\\xef\\xbb\\xbf]@2 ", CSV_OK, 2);
	expect("x\xef\xbb\xbf", "[x\\xef\\xbb\\xbf]@1 ", CSV_OK, 1);
	expect("\xef\xbb\xbf\xef\xbb\xbf", "[\\xef\\xbb\\xbf]@1 ", CSV_OK, 1);
	expect("\"\xef\xbb\xbf\"", "[\\xef\\xbb\\xbf]@1 ", CSV_OK, 1);
}

Test(csv_reader, partial_bom_at_start_is_data)
{
	expect("\xef\xbb", "[\\xef\\xbb]@1 ", CSV_OK, 1);
	expect("\xef", "[\\xef]@1 ", CSV_OK, 1);
	expect("\xef\xbbx,y", "[\\xef\\xbbx][y]@1 ", CSV_OK, 1);
	expect("\xef,\n", "[\\xef][]@1 ", CSV_OK, 2);
	expect("\xef\xbb\n", "[\\xef\\xbb]@1 ", CSV_OK, 2);
	expect("\xef\xbb\"", "[\\xef\\xbb\"]@1 ", CSV_OK, 1);
}

/* ---- Errors -------------------------------------------------------------- */

Test(csv_reader, text_after_closing_quote_is_an_error_on_its_line)
{
	expect("a\n\"b\"x\n", "[a]@1 ", CSV_ERR_AFTER_QUOTE, 2);
	expect("\"b\" ,c", "", CSV_ERR_AFTER_QUOTE, 1);
	expect("x,\"a\nb\"c,d", "[x]", CSV_ERR_AFTER_QUOTE, 2);
	expect("\"a\"\"\"b", "", CSV_ERR_AFTER_QUOTE, 1);
}

Test(csv_reader, unterminated_quote_is_an_error_on_the_line_it_opened)
{
	expect("a\n\"bc\nd", "[a]@1 ", CSV_ERR_UNTERMINATED_QUOTE, 2);
	expect("\"", "", CSV_ERR_UNTERMINATED_QUOTE, 1);
	expect("x,\"a\"\"", "[x]", CSV_ERR_UNTERMINATED_QUOTE, 1);
}

Test(csv_reader, unterminated_quote_is_reported_by_finish_not_feed)
{
	struct trace t = { 0 };
	struct csv_reader *r = csv_reader_new(',', 100, &trace_cbs, &t);

	cr_assert_eq(csv_reader_feed(r, "a\n\"b", 4), CSV_OK);
	cr_assert_eq(csv_reader_finish(r), CSV_ERR_UNTERMINATED_QUOTE);
	cr_assert_eq(csv_reader_line(r), 2);
	cr_assert_eq(csv_reader_feed(r, "\"", 1), CSV_ERR_UNTERMINATED_QUOTE);
	csv_reader_free(r);
	free(t.s);
}

Test(csv_reader, field_of_exactly_max_field_bytes_is_accepted)
{
	expect_max("abcd,ab\n", 4, "[abcd][ab]@1 ", CSV_OK, 2);
	expect_max("\"ab\"\"c\"", 4, "[ab\"c]@1 ", CSV_OK, 1);
	expect_max(",\"\"\n", 0, "[][]@1 ", CSV_OK, 2);
}

Test(csv_reader, field_longer_than_max_field_is_an_error_on_its_first_line)
{
	expect_max("ab\nabcde\n", 4, "[ab]@1 ", CSV_ERR_FIELD_TOO_LARGE, 2);
	expect_max("\"ab\"\"cd\"", 4, "", CSV_ERR_FIELD_TOO_LARGE, 1);
	expect_max("x\n\"a\nbcdef\"", 4, "[x]@1 ", CSV_ERR_FIELD_TOO_LARGE, 2);
	expect_max("\"\"\"\"\"\"", 1, "", CSV_ERR_FIELD_TOO_LARGE, 1);
	expect_max("a", 0, "", CSV_ERR_FIELD_TOO_LARGE, 1);
	/* Too large comes first: it is found before the stray x is read. */
	expect_max("\"abcde\"x", 4, "", CSV_ERR_FIELD_TOO_LARGE, 1);
	/* And before the end of input finds the quote open. */
	expect_max("\"abcde", 4, "", CSV_ERR_FIELD_TOO_LARGE, 1);
}

Test(csv_reader, field_too_large_is_found_within_one_chunk)
{
	struct trace t = { 0 };
	struct csv_reader *r = csv_reader_new(',', 3, &trace_cbs, &t);

	cr_assert_eq(csv_reader_feed(r, "ab,abcd,x\n", 10), CSV_ERR_FIELD_TOO_LARGE);
	cr_assert_str_eq(t.s, "[ab]");
	csv_reader_free(r);
	free(t.s);
}

Test(csv_reader, field_too_large_is_found_across_chunks)
{
	struct trace t = { 0 };
	struct csv_reader *r = csv_reader_new(',', 3, &trace_cbs, &t);

	cr_assert_eq(csv_reader_feed(r, "x\n\"a", 4), CSV_OK);
	cr_assert_eq(csv_reader_feed(r, "\nb", 2), CSV_OK);
	cr_assert_eq(csv_reader_feed(r, "c", 1), CSV_ERR_FIELD_TOO_LARGE);
	cr_assert_eq(csv_reader_line(r), 2);
	cr_assert_eq(csv_reader_feed(r, "\"", 1), CSV_ERR_FIELD_TOO_LARGE);
	cr_assert_eq(csv_reader_finish(r), CSV_ERR_FIELD_TOO_LARGE);
	csv_reader_free(r);
	free(t.s);
}

Test(csv_reader, field_callback_can_stop_the_reader)
{
	struct opts o = default_opts();
	struct outcome out;

	o.abort_field = 2;
	out = check_splits("a,b,c\nd\n", 8, &o, 1);
	cr_assert_str_eq(out.log, "[a][b]");
	cr_assert_eq(out.err, CSV_ERR_ABORTED);
	cr_assert_eq(out.line, 1);
	free(out.log);
}

Test(csv_reader, record_callback_can_stop_the_reader)
{
	struct opts o = default_opts();
	struct outcome out;

	o.abort_record = 2;
	out = check_splits("a\n\"b\nc\"\nd\n", 10, &o, 1);
	cr_assert_str_eq(out.log, "[a]@1 [b\\nc]@2 ");
	cr_assert_eq(out.err, CSV_ERR_ABORTED);
	cr_assert_eq(out.line, 3);
	free(out.log);
}

Test(csv_reader, callback_can_stop_the_reader_during_finish)
{
	struct opts o = default_opts();
	struct outcome out;

	o.abort_record = 1;
	out = check_splits("a,b", 3, &o, 1);
	cr_assert_str_eq(out.log, "[a][b]@1 ");
	cr_assert_eq(out.err, CSV_ERR_ABORTED);
	free(out.log);
}

Test(csv_reader, rejects_delimiters_that_make_the_dialect_ambiguous)
{
	cr_assert_null(csv_reader_new('"', 10, &trace_cbs, NULL));
	cr_assert_null(csv_reader_new('\n', 10, &trace_cbs, NULL));
	cr_assert_null(csv_reader_new('\r', 10, &trace_cbs, NULL));
}

Test(csv_reader, error_codes_are_the_stable_names)
{
	cr_assert_str_eq(csv_error_code(CSV_ERR_UNTERMINATED_QUOTE), "unterminated_quote");
	cr_assert_str_eq(csv_error_code(CSV_ERR_AFTER_QUOTE), "text_after_quote");
	cr_assert_str_eq(csv_error_code(CSV_ERR_FIELD_TOO_LARGE), "field_too_large");
	cr_assert_str_eq(csv_error_code(CSV_ERR_NOMEM), "out_of_memory");
	cr_assert_str_eq(csv_error_code(CSV_ERR_ABORTED), "aborted");
	cr_assert_gt(strlen(csv_error_message(CSV_ERR_AFTER_QUOTE)), 0);
}

/* ---- Memory -------------------------------------------------------------- */

struct where {
	const char *chunk;
	size_t chunk_len;
	int inside, outside;
};

static int where_field(void *ctx, const char *data, size_t len)
{
	struct where *w = ctx;

	if (data >= w->chunk && data + len <= w->chunk + w->chunk_len)
		w->inside++;
	else
		w->outside++;
	return 0;
}

Test(csv_reader, field_inside_one_chunk_is_not_copied)
{
	static const struct csv_reader_callbacks cbs = { where_field, NULL };
	const char *in = "abc,\"d,e\",f\n";
	struct where w = { in, strlen(in), 0, 0 };
	struct csv_reader *r = csv_reader_new(',', 100, &cbs, &w);

	cr_assert_eq(csv_reader_feed(r, in, strlen(in)), CSV_OK);
	cr_assert_eq(csv_reader_finish(r), CSV_OK);
	cr_assert_eq(w.inside, 3);
	cr_assert_eq(w.outside, 0);
	csv_reader_free(r);
}

Test(csv_reader, field_spanning_chunks_or_unescaped_is_assembled)
{
	static const struct csv_reader_callbacks cbs = { where_field, NULL };
	struct where w = { "abcd", 4, 0, 0 };
	struct csv_reader *r = csv_reader_new(',', 100, &cbs, &w);

	cr_assert_eq(csv_reader_feed(r, w.chunk, 2), CSV_OK);
	w.chunk = "cd,\"x\"\"y\"\n";
	w.chunk_len = strlen(w.chunk);
	cr_assert_eq(csv_reader_feed(r, w.chunk, w.chunk_len), CSV_OK);
	cr_assert_eq(csv_reader_finish(r), CSV_OK);
	cr_assert_eq(w.outside, 2, "abcd spans chunks, x\"y has a doubled quote");
	cr_assert_eq(w.inside, 0);
	csv_reader_free(r);
}

/* ---- Every split point, on a corpus -------------------------------------- */

static const char *const corpus[] = {
	"a,b,c\n1,2,3\n",
	"\"a\"\"b\",\"c\nd\"\r\n\"\",x",
	"\xef\xbb\xbf\"q\",\xef\xbb\xbf\r\r\n\n",
	"\"a\"\r\n\"b\"\rc\r",
	"x\"y\"z,\"\",\"\"\"\"\n \"a\" ,b",
	"\"abc\"def",
	"a,\"b\nc\nd\ne\"f",
	"\"long field here\",and,another one\n\"x\"",
	"\"unterminated\nfield",
	"\xef\xbb\"x\"",
	",,,\n,,\n\"\"\n",
	"\r\n\r\n\"\"\"\",\"a\r\nb\"\r\n",
};

Test(csv_reader, every_split_point_gives_the_same_result)
{
	for (size_t i = 0; i < sizeof corpus / sizeof *corpus; i++) {
		for (size_t max = 0; max <= 8; max++) {
			struct opts o = default_opts();
			o.max_field = max == 8 ? 1 << 20 : max;
			struct outcome out = check_splits(corpus[i], strlen(corpus[i]), &o, 1);
			free(out.log);
		}
	}
}

Test(csv_reader, long_fields_read_the_same_across_word_boundaries)
{
	char *in = malloc(8192), *want = malloc(8192);
	size_t len = 0, wlen = 0;
	uint64_t line = 1, record_line = 1;

	/* Fields of every length 0..70 put the specials at every offset of an
	 * eight-byte word; every third one is quoted and holds line ends. */
	for (int n = 0; n < 71; n++) {
		bool quoted = n % 3 == 0;
		if (quoted)
			in[len++] = '"';
		want[wlen++] = '[';
		for (int k = 0; k < n; k++) {
			bool lf = quoted && k % 17 == 5;
			in[len++] = lf ? '\n' : (char)('a' + k % 26);
			if (lf)
				want[wlen++] = '\\';
			want[wlen++] = lf ? 'n' : in[len - 1];
			line += lf;
		}
		if (quoted)
			in[len++] = '"';
		want[wlen++] = ']';
		bool last = n % 5 == 4 || n == 70;
		in[len++] = last ? '\n' : ',';
		if (last) {
			wlen += (size_t)sprintf(want + wlen, "@%" PRIu64 " ", record_line);
			record_line = ++line;
		}
	}
	want[wlen] = '\0';
	struct opts o = default_opts();
	struct outcome out = check_splits(in, len, &o, 7);
	cr_assert_eq(out.err, CSV_OK);
	cr_assert_str_eq(out.log, want);
	cr_assert_eq(out.line, line);
	free(out.log);
	free(in);
	free(want);
}

/* ---- Differential test against libcsv ------------------------------------ */

/* A small fixed PRNG (xorshift64*) so the inputs are the same everywhere. */
static uint64_t rng_state;

static uint32_t rng(uint32_t n)
{
	rng_state ^= rng_state >> 12;
	rng_state ^= rng_state << 25;
	rng_state ^= rng_state >> 27;
	return (uint32_t)((rng_state * UINT64_C(2685821657736338717)) >> 33) % n;
}

/* gen is a generated CSV, and the 1-based line on which each record
 * starts, as csv_reader must report them. */
struct gen {
	char *s;
	size_t len, cap;
	uint64_t line;
	bool prev_cr;
	uint64_t starts[64];
	size_t nrecords;
};

static void gen_put(struct gen *g, const char *s, size_t n)
{
	if (g->len + n > g->cap) {
		g->cap = (g->len + n) * 2;
		g->s = realloc(g->s, g->cap);
	}
	for (size_t i = 0; i < n; i++) {
		if (s[i] == '\r' || (s[i] == '\n' && !g->prev_cr))
			g->line++;
		g->prev_cr = s[i] == '\r';
	}
	memcpy(g->s + g->len, s, n);
	g->len += n;
}

static const char *const plain_bits[] = { "a", "b", "z", "0", "9", " ", "\t", "\xc3\xa9",
					   "\xe2\x82\xac", "\xf0\x9f\x98\x80", "x.y", "-" };
static const char *const quoted_bits[] = { "a", " ", "\"\"", "\n", "\r", "\r\n", ",", ";",
					   "\t", "\xc3\xa9", "q" };

static void gen_field(struct gen *g, char delim, bool only_field)
{
	uint32_t n = rng(12);

	if (rng(3) == 0 || (only_field && n == 0)) {
		gen_put(g, "\"", 1);
		for (uint32_t i = 0; i < n; i++) {
			const char *b = quoted_bits[rng(sizeof quoted_bits / sizeof *quoted_bits)];
			gen_put(g, b, strlen(b));
		}
		gen_put(g, "\"", 1);
		return;
	}
	for (uint32_t i = 0; i < n; i++) {
		const char *b = plain_bits[rng(sizeof plain_bits / sizeof *plain_bits)];
		if (delim == '\t' && *b == '\t')
			b = "t";
		gen_put(g, b, strlen(b));
	}
}

static void gen_csv(struct gen *g, char delim)
{
	static const char *const ends[] = { "\n", "\r\n", "\r" };
	uint32_t records = rng(20), width = 1 + rng(5);

	g->len = 0;
	g->line = 1;
	g->prev_cr = false;
	g->nrecords = 0;
	for (uint32_t r = 0; r < records; r++) {
		while (rng(6) == 0) {
			const char *e = ends[rng(3)];
			gen_put(g, e, strlen(e));
		}
		uint32_t n = rng(8) == 0 ? 1 + rng(5) : width;
		g->starts[g->nrecords++] = g->line;
		for (uint32_t f = 0; f < n; f++) {
			if (f)
				gen_put(g, &delim, 1);
			gen_field(g, delim, n == 1);
		}
		if (r + 1 < records || rng(2)) {
			const char *e = ends[rng(3)];
			gen_put(g, e, strlen(e));
		}
	}
}

static void libcsv_field(void *s, size_t len, void *ctx)
{
	trace_field(ctx, s ? s : "", len);
}

static void libcsv_record(int c, void *ctx)
{
	(void)c;
	trace_record_end(ctx, 0);
}

static int libcsv_no_space(unsigned char c)
{
	(void)c;
	return 0;
}

/* libcsv_read returns libcsv's trace of in, fed in random chunks. */
static char *libcsv_read(const char *in, size_t len, char delim)
{
	struct csv_parser p;
	struct trace t = { 0 };
	size_t at = 0;

	cr_assert_eq(csv_init(&p, CSV_STRICT | CSV_STRICT_FINI | CSV_APPEND_NULL), 0);
	csv_set_space_func(&p, libcsv_no_space);
	csv_set_delim(&p, (unsigned char)delim);
	trace_put(&t, "", 0);
	while (at < len) {
		size_t n = 1 + rng(64);
		if (n > len - at)
			n = len - at;
		cr_assert_eq(csv_parse(&p, in + at, n, libcsv_field, libcsv_record, &t), n,
			     "libcsv: %s", csv_strerror(csv_error(&p)));
		at += n;
	}
	cr_assert_eq(csv_fini(&p, libcsv_field, libcsv_record, &t), 0);
	csv_free(&p);
	return t.s;
}

/* our_read returns csv_reader's trace of in, fed in random chunks, and
 * checks the record lines against what the generator wrote. */
static char *our_read(const struct gen *g, char delim)
{
	struct opts o = default_opts();
	size_t cuts[4096], ncuts = 0, at = 0;

	o.delim = (unsigned char)delim;
	o.no_lines = true;
	while ((at += 1 + rng(64)) < g->len && ncuts < 4096)
		cuts[ncuts++] = at;
	struct outcome out = run(g->s, g->len, cuts, ncuts, &o);
	cr_assert_eq(out.err, CSV_OK);

	o.no_lines = false;
	struct outcome lined = run(g->s, g->len, NULL, 0, &o);
	char tmp[32];
	size_t r = 0;
	for (const char *p = lined.log; *p; p++) {
		if (*p != '@')
			continue;
		cr_assert_lt(r, g->nrecords);
		snprintf(tmp, sizeof tmp, "@%" PRIu64 " ", g->starts[r++]);
		cr_assert_eq(strncmp(p, tmp, strlen(tmp)), 0, "record %zu starts on line %" PRIu64, r,
			     g->starts[r - 1]);
	}
	cr_assert_eq(r, g->nrecords);
	free(lined.log);
	return out.log;
}

Test(csv_reader, agrees_with_libcsv_on_well_formed_input)
{
	static const char delims[] = { ',', ';', '\t' };
	struct gen g = { 0 };

	rng_state = UINT64_C(0x9e3779b97f4a7c15);
	for (int i = 0; i < 400; i++) {
		char delim = delims[i % 3];
		gen_csv(&g, delim);
		char *theirs = libcsv_read(g.s, g.len, delim);
		char *ours = our_read(&g, delim);
		cr_assert_str_eq(ours, theirs, "input %d differs", i);
		free(theirs);
		free(ours);
	}
	free(g.s);
}
