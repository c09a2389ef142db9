/*
 * The ndjson task: one JSON object per record, escaping, keys, output
 * chunking, and failures.
 */
#include <criterion/criterion.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <jansson.h>

#include "csv_reader.h"
#include "task.h"

#define CHUNK 65536

/* ---- Helpers -------------------------------------------------------------- */

/* A growable string for expected output. */
struct text {
	char *data;
	size_t len, cap;
};

static void text_add(struct text *t, const char *s, size_t n)
{
	if (t->len + n + 1 > t->cap) {
		t->cap = (t->len + n + 1) * 2;
		t->data = realloc(t->data, t->cap);
		cr_assert_not_null(t->data);
	}
	memcpy(t->data + t->len, s, n);
	t->len += n;
	t->data[t->len] = '\0';
}

static void text_adds(struct text *t, const char *s)
{
	text_add(t, s, strlen(s));
}

/* reference_escape appends s escaped the plain way, one byte at a time, to
 * check the task's word-at-a-time scan against. */
static void reference_escape(struct text *t, const char *s, size_t len)
{
	for (size_t i = 0; i < len; i++) {
		unsigned char c = (unsigned char)s[i];
		char u[8];
		switch (c) {
		case '"': text_adds(t, "\\\""); break;
		case '\\': text_adds(t, "\\\\"); break;
		case '\b': text_adds(t, "\\b"); break;
		case '\f': text_adds(t, "\\f"); break;
		case '\n': text_adds(t, "\\n"); break;
		case '\r': text_adds(t, "\\r"); break;
		case '\t': text_adds(t, "\\t"); break;
		default:
			if (c < 0x20) {
				snprintf(u, sizeof u, "\\u%04x", c);
				text_adds(t, u);
			} else {
				text_add(t, (const char *)&c, 1);
			}
		}
	}
}

/* A task_output that keeps every write and its size, or refuses. */
struct collector {
	struct text all;
	size_t *sizes;
	size_t writes;
	bool refuse;
};

static int collector_write(void *ctx, const char *buf, size_t len)
{
	struct collector *c = ctx;

	if (c->refuse)
		return -1;
	text_add(&c->all, buf, len);
	c->sizes = realloc(c->sizes, (c->writes + 1) * sizeof *c->sizes);
	cr_assert_not_null(c->sizes);
	c->sizes[c->writes++] = len;
	return 0;
}

struct run {
	struct collector sink;
	struct task_output out;
	void *task;
	uint64_t line;
};

static void run_start(struct run *r, bool header)
{
	struct task_params params = {.delimiter = ',', .header = header};
	struct task_error err;

	memset(r, 0, sizeof *r);
	r->out = (struct task_output){collector_write, &r->sink};
	r->task = task_ndjson.create(&params, &r->out, &err);
	cr_assert_not_null(r->task, "%s", err.message);
}

static int run_record(struct run *r, size_t n, const char *const *cells)
{
	for (size_t i = 0; i < n; i++) {
		int rc = task_ndjson.field(r->task, cells[i], strlen(cells[i]));
		if (rc != 0)
			return rc;
	}
	return task_ndjson.record_end(r->task, ++r->line);
}

#define RECORD(r, ...) \
	run_record((r), sizeof((const char *[]){__VA_ARGS__}) / sizeof(const char *), \
		   (const char *const[]){__VA_ARGS__})

/* run_finish ends the run and returns the whole output (owned by r). */
static const char *run_finish(struct run *r)
{
	struct task_error err;

	cr_assert_eq(task_ndjson.finish(r->task, &err), 0, "%s: %s", err.code, err.message);
	return r->sink.all.data ? r->sink.all.data : "";
}

static void run_free(struct run *r)
{
	task_ndjson.destroy(r->task);
	free(r->sink.all.data);
	free(r->sink.sizes);
}

/* one_record returns the output for a header "k" and one record {cell}. */
static char *one_record(const char *cell, size_t len)
{
	struct run r;

	run_start(&r, true);
	cr_assert_eq(RECORD(&r, "k"), 0);
	cr_assert_eq(task_ndjson.field(r.task, cell, len), 0);
	cr_assert_eq(task_ndjson.record_end(r.task, 2), 0);
	char *out = strdup(run_finish(&r));
	run_free(&r);
	return out;
}

/* parse_line parses one output line as a JSON object. */
static json_t *parse_line(const char *line, size_t len)
{
	json_error_t err;
	json_t *o = json_loadb(line, len, JSON_ALLOW_NUL, &err);

	cr_assert_not_null(o, "not JSON: %s in %.*s", err.text, (int)len, line);
	cr_assert(json_is_object(o));
	return o;
}

/* ---- Records -------------------------------------------------------------- */

Test(ndjson, one_object_per_record_keyed_by_the_header)
{
	struct run r;

	run_start(&r, true);
	cr_assert_eq(RECORD(&r, "id", "name"), 0);
	cr_assert_eq(RECORD(&r, "1", "Ann"), 0);
	cr_assert_eq(RECORD(&r, "007", ""), 0);
	cr_assert_eq(task_ndjson.rows(r.task), 2);
	cr_assert_str_eq(run_finish(&r),
			 "{\"id\":\"1\",\"name\":\"Ann\"}\n"
			 "{\"id\":\"007\",\"name\":\"\"}\n");
	run_free(&r);
}

Test(ndjson, without_header_keys_are_c1_to_cn_and_the_first_record_is_data)
{
	struct run r;

	run_start(&r, false);
	cr_assert_eq(RECORD(&r, "a", "b", "c"), 0);
	cr_assert_eq(RECORD(&r, "d", "e", "f"), 0);
	cr_assert_eq(task_ndjson.rows(r.task), 2);
	cr_assert_str_eq(run_finish(&r),
			 "{\"c1\":\"a\",\"c2\":\"b\",\"c3\":\"c\"}\n"
			 "{\"c1\":\"d\",\"c2\":\"e\",\"c3\":\"f\"}\n");
	run_free(&r);
}

Test(ndjson, header_only_input_writes_nothing)
{
	struct run r;

	run_start(&r, true);
	cr_assert_eq(RECORD(&r, "a", "b"), 0);
	cr_assert_str_eq(run_finish(&r), "");
	cr_assert_eq(r.sink.writes, 0);
	cr_assert_eq(task_ndjson.rows(r.task), 0);
	run_free(&r);
}

/* ---- Escaping ------------------------------------------------------------- */

Test(ndjson, quotes_and_backslashes_are_escaped)
{
	char *out = one_record("say \"hi\" \\o/", 12);

	cr_assert_str_eq(out, "{\"k\":\"say \\\"hi\\\" \\\\o/\"}\n");
	free(out);
}

Test(ndjson, control_characters_use_short_forms_or_unicode_escapes)
{
	char *out = one_record("\b\f\n\r\t\x01\x0b\x1f", 8);

	cr_assert_str_eq(out, "{\"k\":\"\\b\\f\\n\\r\\t\\u0001\\u000b\\u001f\"}\n");
	free(out);
}

Test(ndjson, nul_byte_is_escaped)
{
	char *out = one_record("a\0b", 3);

	cr_assert_str_eq(out, "{\"k\":\"a\\u0000b\"}\n");
	free(out);
}

Test(ndjson, utf8_and_other_printable_bytes_pass_through)
{
	const char *cell = "日本 é 😀 \x7f /<>'";
	char *out = one_record(cell, strlen(cell));

	cr_assert_str_eq(out, "{\"k\":\"日本 é 😀 \x7f /<>'\"}\n");
	free(out);
}

Test(ndjson, embedded_newline_stays_inside_its_line)
{
	struct run r;

	run_start(&r, true);
	cr_assert_eq(RECORD(&r, "note", "n"), 0);
	cr_assert_eq(RECORD(&r, "line one\nline two", "1"), 0);
	cr_assert_eq(RECORD(&r, "crlf\r\ninside", "2"), 0);
	const char *out = run_finish(&r);
	cr_assert_str_eq(out,
			 "{\"note\":\"line one\\nline two\",\"n\":\"1\"}\n"
			 "{\"note\":\"crlf\\r\\ninside\",\"n\":\"2\"}\n");
	run_free(&r);
}

/* A byte that needs escaping at every offset of strings of every length up
 * to 40 (around and across the 8-byte words the scan reads). */
Test(ndjson, escapes_at_every_offset_match_the_reference)
{
	static const char specials[] = {'"', '\\', '\n', 0x1f, 0x01, ' ' - 1};
	char cell[40];

	for (size_t len = 1; len <= sizeof cell; len++) {
		for (size_t at = 0; at < len; at++) {
			for (size_t k = 0; k < sizeof specials; k++) {
				memset(cell, 'x', len);
				cell[at] = specials[k];
				struct text want = {0};
				text_adds(&want, "{\"k\":\"");
				reference_escape(&want, cell, len);
				text_adds(&want, "\"}\n");
				char *out = one_record(cell, len);
				cr_assert_str_eq(out, want.data, "len %zu at %zu special %d", len, at, specials[k]);
				free(out);
				free(want.data);
			}
		}
	}
}

/* Random cells of every byte from 1 to 127 plus multi-byte UTF-8: every line
 * parses back to exactly the cells. */
Test(ndjson, every_line_parses_back_to_its_cells)
{
	enum { ROWS = 2000, COLS = 3 };
	static const char *const wide[] = {"é", "日", "😀", "\xe2\x80\xa8"};
	static char cells[ROWS][COLS][64];
	uint64_t state = 1;
	struct run r;

	run_start(&r, true);
	cr_assert_eq(RECORD(&r, "a", "b", "c"), 0);
	for (int row = 0; row < ROWS; row++) {
		for (int col = 0; col < COLS; col++) {
			char *c = cells[row][col];
			size_t n = 0;
			state = state * 6364136223846793005ull + 1442695040888963407ull;
			size_t len = (state >> 33) % 40;
			while (n < len) {
				state = state * 6364136223846793005ull + 1442695040888963407ull;
				unsigned v = (unsigned)(state >> 40);
				if (v % 10 == 0) {
					const char *w = wide[(v / 10) % 4];
					memcpy(c + n, w, strlen(w));
					n += strlen(w);
				} else {
					c[n++] = (char)(1 + v % 127);
				}
			}
			c[n] = '\0';
		}
		cr_assert_eq(RECORD(&r, cells[row][0], cells[row][1], cells[row][2]), 0);
	}
	const char *out = run_finish(&r);
	static const char *const keys[] = {"a", "b", "c"};
	for (int row = 0; row < ROWS; row++) {
		const char *end = strchr(out, '\n');
		cr_assert_not_null(end, "line %d missing", row);
		json_t *o = parse_line(out, (size_t)(end - out));
		for (int col = 0; col < COLS; col++) {
			json_t *v = json_object_get(o, keys[col]);
			cr_assert(json_is_string(v));
			cr_assert_eq(json_string_length(v), strlen(cells[row][col]));
			cr_assert_eq(memcmp(json_string_value(v), cells[row][col], json_string_length(v)), 0,
				     "row %d col %d", row, col);
		}
		json_decref(o);
		out = end + 1;
	}
	cr_assert_str_eq(out, "");
	run_free(&r);
}

/* ---- Keys ----------------------------------------------------------------- */

Test(ndjson, duplicate_header_names_get_numbered_suffixes)
{
	struct run r;

	run_start(&r, true);
	cr_assert_eq(RECORD(&r, "a", "a", "b", "a"), 0);
	cr_assert_eq(RECORD(&r, "1", "2", "3", "4"), 0);
	cr_assert_str_eq(run_finish(&r), "{\"a\":\"1\",\"a_2\":\"2\",\"b\":\"3\",\"a_3\":\"4\"}\n");
	run_free(&r);
}

Test(ndjson, suffixes_skip_names_already_taken)
{
	struct run r;

	run_start(&r, true);
	cr_assert_eq(RECORD(&r, "a", "a_2", "a", "a", "a_2", "", ""), 0);
	cr_assert_eq(RECORD(&r, "1", "2", "3", "4", "5", "6", "7"), 0);
	cr_assert_str_eq(run_finish(&r),
			 "{\"a\":\"1\",\"a_2\":\"2\",\"a_3\":\"3\",\"a_4\":\"4\",\"a_2_2\":\"5\","
			 "\"\":\"6\",\"_2\":\"7\"}\n");
	run_free(&r);
}

Test(ndjson, header_names_are_escaped_as_keys)
{
	struct run r;

	run_start(&r, true);
	cr_assert_eq(RECORD(&r, "a\"b\\c", "tab\there", "é"), 0);
	cr_assert_eq(RECORD(&r, "1", "2", "3"), 0);
	cr_assert_str_eq(run_finish(&r), "{\"a\\\"b\\\\c\":\"1\",\"tab\\there\":\"2\",\"é\":\"3\"}\n");
	run_free(&r);
}

Test(ndjson, ten_thousand_copies_of_one_name_get_distinct_keys)
{
	enum { N = 10000 };
	struct run r;
	char value[16];

	run_start(&r, true);
	for (int i = 0; i < N; i++)
		cr_assert_eq(task_ndjson.field(r.task, "x", 1), 0);
	cr_assert_eq(task_ndjson.record_end(r.task, 1), 0);
	for (int i = 0; i < N; i++) {
		int n = snprintf(value, sizeof value, "%d", i);
		cr_assert_eq(task_ndjson.field(r.task, value, (size_t)n), 0);
	}
	cr_assert_eq(task_ndjson.record_end(r.task, 2), 0);
	const char *out = run_finish(&r);
	json_t *o = parse_line(out, strlen(out) - 1);
	cr_assert_eq(json_object_size(o), N);
	cr_assert_str_eq(json_string_value(json_object_get(o, "x")), "0");
	cr_assert_str_eq(json_string_value(json_object_get(o, "x_2")), "1");
	cr_assert_str_eq(json_string_value(json_object_get(o, "x_10000")), "9999");
	json_decref(o);
	run_free(&r);
}

/* ---- Output chunks -------------------------------------------------------- */

/* Every write but the last is exactly 64 KiB, and the writes together are
 * exactly the expected lines. */
Test(ndjson, output_is_written_in_64_kib_chunks)
{
	struct run r;
	struct text want = {0};
	char a[32], b[32];

	run_start(&r, true);
	cr_assert_eq(RECORD(&r, "n", "s"), 0);
	for (int i = 0; i < 20000; i++) {
		snprintf(a, sizeof a, "%d", i);
		snprintf(b, sizeof b, "row \"%d\"\t", i * 7);
		cr_assert_eq(RECORD(&r, a, b), 0);
		text_adds(&want, "{\"n\":\"");
		reference_escape(&want, a, strlen(a));
		text_adds(&want, "\",\"s\":\"");
		reference_escape(&want, b, strlen(b));
		text_adds(&want, "\"}\n");
	}
	cr_assert_gt(r.sink.writes, 1, "20000 records should need several writes");
	size_t before_finish = r.sink.writes;
	cr_assert_str_eq(run_finish(&r), want.data);
	cr_assert_eq(r.sink.writes, before_finish + 1, "finish flushes the rest once");
	for (size_t i = 0; i + 1 < r.sink.writes; i++)
		cr_assert_eq(r.sink.sizes[i], CHUNK, "write %zu has %zu bytes", i, r.sink.sizes[i]);
	cr_assert_gt(r.sink.sizes[r.sink.writes - 1], 0);
	cr_assert_leq(r.sink.sizes[r.sink.writes - 1], CHUNK);
	free(want.data);
	run_free(&r);
}

Test(ndjson, a_cell_larger_than_a_chunk_spans_several_writes)
{
	enum { LEN = 300000 };
	char *cell = malloc(LEN);
	struct text want = {0};
	struct run r;

	cr_assert_not_null(cell);
	for (size_t i = 0; i < LEN; i++)
		cell[i] = i % 1000 == 999 ? '"' : i % 777 == 0 ? '\n' : (char)('a' + i % 26);
	run_start(&r, false);
	cr_assert_eq(task_ndjson.field(r.task, cell, LEN), 0);
	cr_assert_eq(task_ndjson.record_end(r.task, 1), 0);
	text_adds(&want, "{\"c1\":\"");
	reference_escape(&want, cell, LEN);
	text_adds(&want, "\"}\n");
	cr_assert_str_eq(run_finish(&r), want.data);
	cr_assert_eq(r.sink.writes, (want.len + CHUNK - 1) / CHUNK);
	free(want.data);
	free(cell);
	run_free(&r);
}

/* ---- Failures ------------------------------------------------------------- */

Test(ndjson, short_record_fails_with_ragged_record)
{
	struct run r;
	struct task_error err;

	run_start(&r, true);
	cr_assert_eq(RECORD(&r, "a", "b"), 0);
	cr_assert_neq(RECORD(&r, "1"), 0);
	task_ndjson.error(r.task, &err);
	cr_assert_str_eq(err.code, "ragged_record");
	cr_assert_str_eq(err.message, "The record on line 2 has 1 fields; the first record has 2.");
	run_free(&r);
}

Test(ndjson, long_record_fails_with_ragged_record)
{
	struct run r;
	struct task_error err;

	run_start(&r, false);
	cr_assert_eq(RECORD(&r, "1", "2"), 0);
	cr_assert_eq(RECORD(&r, "3", "4"), 0);
	cr_assert_neq(RECORD(&r, "5", "6", "7"), 0);
	task_ndjson.error(r.task, &err);
	cr_assert_str_eq(err.code, "ragged_record");
	cr_assert(strstr(err.message, "line 3 has 3 fields") != NULL, "%s", err.message);
	run_free(&r);
}

Test(ndjson, refused_output_stops_the_task_with_output_failed)
{
	struct run r;
	struct task_error err;
	int rc = 0;

	run_start(&r, true);
	r.sink.refuse = true;
	cr_assert_eq(RECORD(&r, "k"), 0);
	for (int i = 0; i < 100000 && rc == 0; i++)
		rc = RECORD(&r, "some value that fills the buffer");
	cr_assert_neq(rc, 0, "a full buffer must be flushed, and the refusal reported");
	task_ndjson.error(r.task, &err);
	cr_assert_str_eq(err.code, "output_failed");
	run_free(&r);
}

Test(ndjson, refused_final_flush_fails_finish)
{
	struct run r;
	struct task_error err;

	run_start(&r, false);
	cr_assert_eq(RECORD(&r, "1"), 0);
	r.sink.refuse = true;
	cr_assert_eq(task_ndjson.finish(r.task, &err), -1);
	cr_assert_str_eq(err.code, "output_failed");
	run_free(&r);
}

Test(ndjson, input_ending_inside_a_record_fails)
{
	struct run r;
	struct task_error err;

	run_start(&r, false);
	cr_assert_eq(task_ndjson.field(r.task, "1", 1), 0);
	cr_assert_eq(task_ndjson.finish(r.task, &err), -1);
	cr_assert_str_eq(err.code, "ragged_record");
	run_free(&r);
}

/* ---- Through csv_reader --------------------------------------------------- */

/* ndjson_csv runs the ndjson task over csv fed to csv_reader in pieces of
 * piece bytes; returns the output (caller frees), or NULL with *err set. */
static char *ndjson_csv(const char *csv, bool header, size_t piece, struct task_error *err)
{
	struct run r;

	run_start(&r, header);
	struct csv_reader_callbacks cbs = {task_ndjson.field, task_ndjson.record_end};
	struct csv_reader *reader = csv_reader_new(';', 1 << 20, &cbs, r.task);
	cr_assert_not_null(reader);
	enum csv_error e = CSV_OK;
	for (size_t at = 0, len = strlen(csv); e == CSV_OK && at < len; at += piece)
		e = csv_reader_feed(reader, csv + at, len - at < piece ? len - at : piece);
	if (e == CSV_OK)
		e = csv_reader_finish(reader);
	csv_reader_free(reader);
	char *text = NULL;
	if (e == CSV_OK && task_ndjson.finish(r.task, err) == 0)
		text = strdup(r.sink.all.data ? r.sink.all.data : "");
	else if (e == CSV_ERR_ABORTED)
		task_ndjson.error(r.task, err);
	run_free(&r);
	return text;
}

/* Header names and cells assembled in the reader's reused buffer (one byte
 * per feed) come out the same as when the input is fed whole. */
Test(ndjson, reader_pieces_of_any_size_give_the_same_lines)
{
	const char *csv = "\"na;me\";\"q\"\"uote\";t\r\n"
			  "\"multi\nline\";\"say \"\"hi\"\"\";\t\r\n"
			  "plain;;\"\"\n";
	const char *want = "{\"na;me\":\"multi\\nline\",\"q\\\"uote\":\"say \\\"hi\\\"\",\"t\":\"\\t\"}\n"
			   "{\"na;me\":\"plain\",\"q\\\"uote\":\"\",\"t\":\"\"}\n";
	struct task_error err;

	for (size_t piece = 1; piece <= strlen(csv); piece++) {
		char *text = ndjson_csv(csv, true, piece, &err);
		cr_assert_not_null(text, "%s: %s", err.code, err.message);
		cr_assert_str_eq(text, want, "pieces of %zu", piece);
		free(text);
	}
}

Test(ndjson, ragged_record_through_the_reader_names_its_line)
{
	struct task_error err;
	char *text = ndjson_csv("a;b\n\"1\n2\";3;4\n", true, 2, &err);

	cr_assert_null(text);
	cr_assert_str_eq(err.code, "ragged_record");
	cr_assert_str_eq(err.message, "The record on line 2 has 3 fields; the first record has 2.");
}

Test(ndjson, without_header_through_the_reader_every_record_is_a_line)
{
	struct task_error err;
	char *text = ndjson_csv("a;b\n\n\"c\";d", false, 3, &err);

	cr_assert_str_eq(text, "{\"c1\":\"a\",\"c2\":\"b\"}\n{\"c1\":\"c\",\"c2\":\"d\"}\n");
	free(text);
}
