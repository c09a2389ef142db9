/*
 * The profile task and its column statistics: type inference, numeric
 * values, string extremes, lengths, the JSON result, and failures.
 */
#include <criterion/criterion.h>

#include <errno.h>
#include <float.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include <jansson.h>

#include "column_stats.h"
#include "csv_reader.h"
#include "stats_pipe.h"
#include "profile_run.h"
#include "task.h"

/* ---- Helpers -------------------------------------------------------------- */

/* summarize_cells adds the NULL-terminated list of cells to fresh stats and
 * summarises them. The stats are left in *c for the caller to free (the
 * summary's strings point into them). */
static void summarize_cells(struct column_stats *c, struct column_summary *s, const char *const *cells)
{
	column_stats_init(c);
	for (; *cells; cells++)
		cr_assert_eq(column_stats_add(c, *cells, strlen(*cells)), 0);
	column_stats_summarize(c, s);
}

/* type_of returns the type of a column holding the given cells. */
static enum column_type type_of(const char *const *cells)
{
	struct column_stats c;
	struct column_summary s;

	summarize_cells(&c, &s, cells);
	column_stats_free(&c);
	return s.type;
}

#define TYPE_OF(...) type_of((const char *const[]){__VA_ARGS__, NULL})

static void expect_string(const struct column_value *v, const char *want)
{
	cr_assert_eq(v->kind, COLUMN_VALUE_STRING);
	cr_assert_eq(v->len, strlen(want), "got %.*s, want %s", (int)v->len, v->str, want);
	cr_assert_eq(memcmp(v->str, want, v->len), 0, "got %.*s, want %s", (int)v->len, v->str, want);
}

/* A profile run (profile_run.h) of a small input. */
#define run_start(r, header) profile_run_start((r), (header), 0)

#define RECORD(r, ...) \
	profile_run_record((r), sizeof((const char *[]){__VA_ARGS__}) / sizeof(const char *), \
			   (const char *const[]){__VA_ARGS__})

/* run_finish ends the run and returns the parsed result (caller decrefs);
 * its text stays the run's. */
static json_t *run_finish(struct profile_run *r)
{
	json_error_t jerr;
	const char *text = profile_run_finish(r);
	json_t *root = json_loadb(text, r->sink.len, 0, &jerr);

	cr_assert_not_null(root, "result is not JSON: %s (%s)", jerr.text, text);
	return root;
}

static json_t *column(json_t *root, size_t i)
{
	json_t *c = json_array_get(json_object_get(root, "columns"), i);
	cr_assert_not_null(c, "no column %zu", i);
	return c;
}

/* ---- Type inference ------------------------------------------------------- */

Test(profile, signed_zero_and_plus_sign_are_integers)
{
	cr_assert_eq(TYPE_OF("-0", "+5", "007", "42"), COLUMN_INTEGER);
}

Test(profile, integer_overflow_falls_back_to_float)
{
	cr_assert_eq(TYPE_OF("9223372036854775807"), COLUMN_INTEGER);
	cr_assert_eq(TYPE_OF("-9223372036854775808"), COLUMN_INTEGER);
	cr_assert_eq(TYPE_OF("9223372036854775808"), COLUMN_FLOAT);
	cr_assert_eq(TYPE_OF("-9223372036854775809"), COLUMN_FLOAT);
	cr_assert_eq(TYPE_OF("1", "123456789012345678901234567890"), COLUMN_FLOAT);
}

Test(profile, int64_limits_are_exact)
{
	struct column_stats c;
	struct column_summary s;

	summarize_cells(&c, &s, (const char *const[]){"9223372036854775807", "-9223372036854775808", NULL});
	cr_assert_eq(s.min.kind, COLUMN_VALUE_INTEGER);
	cr_assert_eq(s.min.integer, INT64_MIN);
	cr_assert_eq(s.max.integer, INT64_MAX);
	column_stats_free(&c);
}

/* Leading zeros count as digits but not towards overflow. */
Test(profile, long_runs_of_leading_zeros_stay_integers)
{
	struct column_stats c;
	struct column_summary s;

	summarize_cells(&c, &s, (const char *const[]){"0000000000000000000000042", "-00000000000000000000009223372036854775808", NULL});
	cr_assert_eq(s.type, COLUMN_INTEGER);
	cr_assert_eq(s.min.integer, INT64_MIN);
	cr_assert_eq(s.max.integer, 42);
	column_stats_free(&c);
	cr_assert_eq(TYPE_OF("000000000000000000000.5"), COLUMN_FLOAT);
}

Test(profile, exponents_and_fractions_are_floats)
{
	cr_assert_eq(TYPE_OF("1e3"), COLUMN_FLOAT);
	cr_assert_eq(TYPE_OF("1.5e-3"), COLUMN_FLOAT);
	cr_assert_eq(TYPE_OF("-2.25E+2"), COLUMN_FLOAT);
	cr_assert_eq(TYPE_OF(".5"), COLUMN_FLOAT);
	cr_assert_eq(TYPE_OF("5."), COLUMN_FLOAT);
	cr_assert_eq(TYPE_OF("+0.0"), COLUMN_FLOAT);
}

Test(profile, integers_and_floats_together_are_float)
{
	cr_assert_eq(TYPE_OF("1", "2.5", "3"), COLUMN_FLOAT);
	cr_assert_eq(TYPE_OF("2.5", "1"), COLUMN_FLOAT);
}

Test(profile, spaces_are_data_so_padded_numbers_are_text)
{
	cr_assert_eq(TYPE_OF(" 5"), COLUMN_TEXT);
	cr_assert_eq(TYPE_OF("5 "), COLUMN_TEXT);
	cr_assert_eq(TYPE_OF("1", " 2"), COLUMN_TEXT);
	cr_assert_eq(TYPE_OF(" true"), COLUMN_TEXT);
}

Test(profile, inf_nan_hex_and_out_of_range_are_text)
{
	static const char *const cells[] = {
		"inf", "-inf", "Infinity", "nan", "NaN", "0x10", "0x1p3", "1e400", "-1e999",
	};
	for (size_t i = 0; i < sizeof cells / sizeof cells[0]; i++)
		cr_expect_eq(TYPE_OF(cells[i]), COLUMN_TEXT, "%s", cells[i]);
}

Test(profile, underflow_is_a_finite_float)
{
	struct column_stats c;
	struct column_summary s;

	summarize_cells(&c, &s, (const char *const[]){"1e-400", NULL});
	cr_assert_eq(s.type, COLUMN_FLOAT);
	cr_assert_eq(s.min.real, 0.0);
	column_stats_free(&c);
}

Test(profile, malformed_numbers_are_text)
{
	static const char *const cells[] = {
		"+", "-", ".", "+.", "1e", "1e+", "e5", "1.2.3", "--1", "+-1", "1_000", "1,5", "١٢",
		"1e5.0", "1.e", "12a",
	};
	for (size_t i = 0; i < sizeof cells / sizeof cells[0]; i++)
		cr_expect_eq(TYPE_OF(cells[i]), COLUMN_TEXT, "%s", cells[i]);
}

Test(profile, booleans_in_any_letter_case)
{
	cr_assert_eq(TYPE_OF("TRUE", "False", "tRuE", "false"), COLUMN_BOOLEAN);
	cr_assert_eq(TYPE_OF("yes"), COLUMN_TEXT);
	cr_assert_eq(TYPE_OF("truth"), COLUMN_TEXT);
	cr_assert_eq(TYPE_OF("t"), COLUMN_TEXT);
	cr_assert_eq(TYPE_OF("1", "true"), COLUMN_TEXT);
}

Test(profile, leap_day_is_a_date_only_in_leap_years)
{
	cr_assert_eq(TYPE_OF("2024-02-29"), COLUMN_DATE);
	cr_assert_eq(TYPE_OF("2000-02-29"), COLUMN_DATE);
	cr_assert_eq(TYPE_OF("2023-02-29"), COLUMN_TEXT);
	cr_assert_eq(TYPE_OF("1900-02-29"), COLUMN_TEXT);
	cr_assert_eq(TYPE_OF("2024-02-29", "2023-02-29"), COLUMN_TEXT);
}

Test(profile, dates_must_be_real_days_in_iso_form)
{
	static const char *const bad[] = {
		"2024-13-01", "2024-00-10", "2024-04-31", "2024-01-00", "2024-01-32",
		"2024-4-01", "2024/01/01", "2024-01-01T00:00", " 2024-01-01",
		"2024-1a-01",
	};
	for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++)
		cr_expect_eq(TYPE_OF(bad[i]), COLUMN_TEXT, "%s", bad[i]);
	cr_assert_eq(TYPE_OF("2024-01-31", "2024-12-31", "2024-04-30", "0001-01-01"), COLUMN_DATE);
	cr_assert_eq(TYPE_OF("20240101"), COLUMN_INTEGER); /* a number, not a date */
}

/* ref_is_date is the date rule written plainly, byte by byte: the
 * reference the eight-bytes-at-a-time test in column_stats must match. */
static bool ref_is_date(const char *s, size_t len)
{
	static const unsigned days[12] = {31, 28, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31};
	unsigned v[10];

	if (len != 10)
		return false;
	for (int i = 0; i < 10; i++) {
		if (i == 4 || i == 7) {
			if (s[i] != '-')
				return false;
			continue;
		}
		if (s[i] < '0' || s[i] > '9')
			return false;
		v[i] = (unsigned)(s[i] - '0');
	}
	unsigned year = v[0] * 1000 + v[1] * 100 + v[2] * 10 + v[3];
	unsigned month = v[5] * 10 + v[6], day = v[8] * 10 + v[9];
	bool leap = (year % 4 == 0 && year % 100 != 0) || year % 400 == 0;
	if (month < 1 || month > 12 || day < 1)
		return false;
	return day <= (month == 2 && leap ? 29u : days[month - 1]);
}

/* type_of_exact is type_of for one cell copied into a buffer of exactly its
 * length, so that a read past it is caught under AddressSanitizer. */
static enum column_type type_of_exact(const char *cell, size_t len)
{
	struct column_stats c;
	struct column_summary s;
	char *copy = malloc(len ? len : 1);

	cr_assert_not_null(copy);
	memcpy(copy, cell, len);
	column_stats_init(&c);
	cr_assert_eq(column_stats_add(&c, copy, len), 0);
	column_stats_summarize(&c, &s);
	column_stats_free(&c);
	free(copy);
	return s.type;
}

/* Every month and day number from 00 to 39 in years around the leap rules,
 * and every byte value at each of the ten positions of a valid date: the
 * word-at-a-time date test agrees with the plain rule on all of them. */
Test(profile, date_test_matches_the_plain_rule_byte_by_byte)
{
	static const unsigned years[] = {0, 1, 4, 100, 400, 1900, 1970, 2000, 2023, 2024, 9999};
	char cell[11];

	for (size_t y = 0; y < sizeof years / sizeof years[0]; y++)
		for (unsigned m = 0; m < 40; m++)
			for (unsigned d = 0; d < 40; d++) {
				snprintf(cell, sizeof cell, "%04u-%02u-%02u", years[y], m, d);
				enum column_type want = ref_is_date(cell, 10) ? COLUMN_DATE : COLUMN_TEXT;
				cr_assert_eq(type_of_exact(cell, 10), want, "%s", cell);
			}
	for (int pos = 0; pos < 10; pos++)
		for (int b = 1; b < 256; b++) {
			memcpy(cell, "2024-02-29", 10);
			cell[pos] = (char)b;
			enum column_type want = ref_is_date(cell, 10) ? COLUMN_DATE : COLUMN_TEXT;
			cr_assert_eq(type_of_exact(cell, 10), want, "byte %d at %d", b, pos);
		}
	for (size_t len = 0; len <= 13; len++) /* only ten bytes can be a date */
		cr_assert_eq(type_of_exact("2024-02-29-01", len) == COLUMN_DATE, len == 10, "length %zu", len);
}

/* Every byte value at each position of "true", "false" and "FALSE": the
 * word-at-a-time boolean test accepts exactly the letter-case variants. */
Test(profile, boolean_test_accepts_only_true_and_false_in_any_case)
{
	static const char *const words[] = {"true", "false", "FALSE"};
	char cell[8];

	for (size_t w = 0; w < 3; w++) {
		size_t len = strlen(words[w]);
		for (size_t pos = 0; pos < len; pos++)
			for (int b = 1; b < 256; b++) {
				memcpy(cell, words[w], len);
				cell[pos] = (char)b;
				bool want = strncasecmp(cell, "true", len) == 0 && len == 4;
				want |= strncasecmp(cell, "false", len) == 0 && len == 5;
				want &= b < 0x80;
				enum column_type got = type_of_exact(cell, len);
				cr_assert_eq(got == COLUMN_BOOLEAN, want, "byte %d at %zu of %s", b, pos, words[w]);
			}
	}
}

/* Classification edge cases, each cell in a buffer of exactly its length:
 * signs, leading zeros, exponents, int64 overflow, inf/nan, spaces. */
Test(profile, cell_kinds_at_their_edges_in_exact_buffers)
{
	static const struct { const char *cell; enum column_type type; } cases[] = {
		{"0", COLUMN_INTEGER}, {"-0", COLUMN_INTEGER}, {"+7", COLUMN_INTEGER},
		{"0000000000000000000000012", COLUMN_INTEGER}, {"12345678", COLUMN_INTEGER},
		{"123456789", COLUMN_INTEGER}, {"9223372036854775807", COLUMN_INTEGER},
		{"-9223372036854775808", COLUMN_INTEGER}, {"9223372036854775808", COLUMN_FLOAT},
		{"99999999999999999999999", COLUMN_FLOAT}, {"1.", COLUMN_FLOAT}, {".5", COLUMN_FLOAT},
		{"-.5e+3", COLUMN_FLOAT}, {"1E5", COLUMN_FLOAT}, {"1e-400", COLUMN_FLOAT},
		{"1e400", COLUMN_TEXT}, {"1e", COLUMN_TEXT}, {"1e+", COLUMN_TEXT}, {".", COLUMN_TEXT},
		{"+", COLUMN_TEXT}, {"-", COLUMN_TEXT}, {"--1", COLUMN_TEXT}, {"1-", COLUMN_TEXT},
		{"inf", COLUMN_TEXT}, {"-Infinity", COLUMN_TEXT}, {"nan", COLUMN_TEXT},
		{"0x10", COLUMN_TEXT}, {" 5", COLUMN_TEXT}, {"5 ", COLUMN_TEXT}, {"1 000", COLUMN_TEXT},
		{"12345678:", COLUMN_TEXT}, {"1234567/", COLUMN_TEXT}, {"TRUE", COLUMN_BOOLEAN},
		{"fAlSe", COLUMN_BOOLEAN}, {"truee", COLUMN_TEXT}, {"0000-01-01", COLUMN_DATE},
		{"9999-12-31", COLUMN_DATE}, {"2024-02-30", COLUMN_TEXT}, {"é", COLUMN_TEXT},
	};
	for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++)
		cr_expect_eq(type_of_exact(cases[i].cell, strlen(cases[i].cell)), cases[i].type,
			     "%s", cases[i].cell);
	cr_assert_eq(type_of_exact("", 0), COLUMN_EMPTY);
}

Test(profile, mixed_column_is_text)
{
	cr_assert_eq(TYPE_OF("1", "2", "x"), COLUMN_TEXT);
	cr_assert_eq(TYPE_OF("1", "2024-01-01"), COLUMN_TEXT);
	cr_assert_eq(TYPE_OF("true", "2024-01-01"), COLUMN_TEXT);
	cr_assert_eq(TYPE_OF("2024-01-01", "1.5"), COLUMN_TEXT);
}

Test(profile, empty_cells_do_not_decide_the_type)
{
	struct column_stats c;
	struct column_summary s;

	summarize_cells(&c, &s, (const char *const[]){"", "3", "", NULL});
	cr_assert_eq(s.type, COLUMN_INTEGER);
	cr_assert_eq(s.count, 1);
	cr_assert_eq(s.empty, 2);
	column_stats_free(&c);
}

Test(profile, column_without_values_is_empty_with_nulls)
{
	struct column_stats c;
	struct column_summary s;

	summarize_cells(&c, &s, (const char *const[]){"", "", NULL});
	cr_assert_eq(s.type, COLUMN_EMPTY);
	cr_assert_str_eq(column_type_name(s.type), "empty");
	cr_assert_eq(s.count, 0);
	cr_assert_eq(s.empty, 2);
	cr_assert_eq(s.min.kind, COLUMN_VALUE_NONE);
	cr_assert_eq(s.max.kind, COLUMN_VALUE_NONE);
	cr_assert(!s.has_mean && !s.has_stddev && !s.has_length);
	cr_assert_eq(s.distinct_approx, 0);
	column_stats_free(&c);
}

/* ---- Numbers -------------------------------------------------------------- */

/* next_random is a fixed LCG so that every run sees the same numbers. */
static uint64_t next_random(uint64_t *state)
{
	*state = *state * 6364136223846793005ull + 1442695040888963407ull;
	return *state >> 11;
}

/* Every decimal the profile reads is the double strtod gives: the exact
 * fast path and the strtod fallback must agree bit for bit. */
Test(profile, float_values_match_strtod_exactly)
{
	uint64_t state = 7;
	char cell[128];

	for (int i = 0; i < 20000; i++) {
		uint64_t r = next_random(&state);
		int digits = 1 + (int)(r % 20), point = (int)((r >> 5) % 22), exp = (int)((r >> 10) % 80) - 40;
		int n = 0;
		cell[n++] = (r >> 20) & 1 ? '-' : '+';
		for (int d = 0; d < digits; d++) {
			if (d == point)
				cell[n++] = '.';
			cell[n++] = (char)('0' + next_random(&state) % 10);
		}
		n += snprintf(cell + n, sizeof cell - (size_t)n, "e%d", exp);
		struct column_stats c;
		struct column_summary s;
		summarize_cells(&c, &s, (const char *const[]){cell, NULL});
		double want = strtod(cell, NULL);
		cr_assert(s.min.kind == COLUMN_VALUE_REAL || s.min.kind == COLUMN_VALUE_INTEGER, "%s", cell);
		cr_assert(memcmp(&s.min.real, &want, sizeof want) == 0, "%s: got %.17g want %.17g",
			  cell, s.min.real, want);
		column_stats_free(&c);
	}
}

/* ref_number_type is the number rule written plainly: the grammar checked
 * byte by byte, the value left to strtoll and strtod. */
static enum column_type ref_number_type(const char *cell, int64_t *integer, double *real)
{
	const char *p = cell;
	size_t digits = 0;

	if (*p == '+' || *p == '-')
		p++;
	for (; *p >= '0' && *p <= '9'; p++)
		digits++;
	bool integer_form = *p == '\0' && digits > 0;
	if (*p == '.')
		for (p++; *p >= '0' && *p <= '9'; p++)
			digits++;
	if (digits == 0)
		return COLUMN_TEXT;
	if (*p == 'e' || *p == 'E') {
		p++;
		if (*p == '+' || *p == '-')
			p++;
		if (!(*p >= '0' && *p <= '9'))
			return COLUMN_TEXT;
		while (*p >= '0' && *p <= '9')
			p++;
	}
	if (*p != '\0')
		return COLUMN_TEXT;
	errno = 0;
	*integer = strtoll(cell, NULL, 10);
	if (integer_form && errno == 0)
		return COLUMN_INTEGER;
	*real = strtod(cell, NULL);
	return isfinite(*real) ? COLUMN_FLOAT : COLUMN_TEXT;
}

/* Random short cells of digits, signs, points, exponents and other bytes,
 * around the eight bytes that numbers are read in at once: the type and
 * the value agree with the plain rule, strtoll and strtod. */
Test(profile, short_numbers_match_the_plain_rule_and_strtod)
{
	static const char alphabet[] = "0123456789000111+-.eE x";
	uint64_t state = 11;
	char cell[16];

	for (int i = 0; i < 200000; i++) {
		size_t len = 1 + next_random(&state) % 12;
		for (size_t j = 0; j < len; j++)
			cell[j] = alphabet[next_random(&state) % (sizeof alphabet - 1)];
		cell[len] = '\0';
		int64_t integer = 0;
		double real = 0;
		enum column_type want = ref_number_type(cell, &integer, &real);
		if (want == COLUMN_TEXT && ref_is_date(cell, len)) /* the alphabet can write one */
			want = COLUMN_DATE;
		struct column_stats c;
		struct column_summary s;
		summarize_cells(&c, &s, (const char *const[]){cell, NULL});
		cr_assert_eq(s.type, want, "%s", cell);
		if (want == COLUMN_INTEGER)
			cr_assert_eq(s.min.integer, integer, "%s", cell);
		if (want == COLUMN_FLOAT)
			cr_assert(memcmp(&s.min.real, &real, sizeof real) == 0, "%s: %.17g, want %.17g",
				  cell, s.min.real, real);
		column_stats_free(&c);
	}
}

Test(profile, long_float_cells_are_parsed_whole)
{
	char cell[300];
	struct column_stats c;
	struct column_summary s;

	memset(cell, '0', sizeof cell);
	cell[0] = '0';
	cell[1] = '.';
	cell[sizeof cell - 2] = '7';
	cell[sizeof cell - 1] = '\0';
	summarize_cells(&c, &s, (const char *const[]){cell, NULL});
	cr_assert_eq(s.type, COLUMN_FLOAT);
	cr_assert_eq(s.min.real, strtod(cell, NULL));
	cr_assert_gt(s.min.real, 0.0);
	column_stats_free(&c);
}

/* Welford's one-pass mean and sample deviation agree with the textbook two
 * passes, here on values with a large common offset where the naive
 * sum-of-squares formula would lose most of its digits. */
Test(profile, welford_mean_and_stddev_match_two_pass)
{
	enum { N = 10000 };
	static double values[N];
	static char cells[N][32];
	uint64_t state = 42;
	struct column_stats c;
	struct column_summary s;

	column_stats_init(&c);
	for (int i = 0; i < N; i++) {
		snprintf(cells[i], sizeof cells[i], "%.6f", 1e9 + (double)(next_random(&state) % 1000000) / 1000.0);
		values[i] = strtod(cells[i], NULL);
		cr_assert_eq(column_stats_add(&c, cells[i], strlen(cells[i])), 0);
	}
	double sum = 0, squares = 0;
	for (int i = 0; i < N; i++)
		sum += values[i];
	double mean = sum / N;
	for (int i = 0; i < N; i++)
		squares += (values[i] - mean) * (values[i] - mean);
	double stddev = sqrt(squares / (N - 1));

	column_stats_summarize(&c, &s);
	cr_assert_eq(s.type, COLUMN_FLOAT);
	cr_assert(s.has_mean && s.has_stddev);
	cr_assert(fabs(s.mean - mean) <= 1e-12 * mean, "mean %.17g vs %.17g", s.mean, mean);
	cr_assert(fabs(s.stddev - stddev) <= 1e-9 * stddev, "stddev %.17g vs %.17g", s.stddev, stddev);
	column_stats_free(&c);
}

Test(profile, integer_mean_and_stddev)
{
	struct column_stats c;
	struct column_summary s;

	summarize_cells(&c, &s, (const char *const[]){"2", "4", "4", "4", "5", "5", "7", "9", NULL});
	cr_assert_eq(s.mean, 5.0);
	cr_assert(fabs(s.stddev - sqrt(32.0 / 7.0)) < 1e-15);
	column_stats_free(&c);
}

Test(profile, stddev_needs_two_values)
{
	struct column_stats c;
	struct column_summary s;

	summarize_cells(&c, &s, (const char *const[]){"5", "", NULL});
	cr_assert(s.has_mean);
	cr_assert_eq(s.mean, 5.0);
	cr_assert(!s.has_stddev);
	column_stats_free(&c);
}

Test(profile, non_numeric_columns_have_no_mean)
{
	struct column_stats c;
	struct column_summary s;

	summarize_cells(&c, &s, (const char *const[]){"1", "2", "x", NULL});
	cr_assert(!s.has_mean && !s.has_stddev);
	column_stats_free(&c);
}

Test(profile, overflowing_mean_is_left_out)
{
	struct column_stats c;
	struct column_summary s;

	summarize_cells(&c, &s, (const char *const[]){"1e308", "-1.7e308", "1.7e308", NULL});
	cr_assert_eq(s.type, COLUMN_FLOAT);
	cr_assert(!s.has_mean && !s.has_stddev);
	cr_assert_eq(s.min.real, -1.7e308);
	cr_assert_eq(s.max.real, 1.7e308);
	column_stats_free(&c);
}

/* ---- Extremes, lengths, distinct ------------------------------------------ */

Test(profile, integer_min_max_are_exact_integers)
{
	struct column_stats c;
	struct column_summary s;

	summarize_cells(&c, &s, (const char *const[]){"10", "-3", "+7", "9007199254740993", NULL});
	cr_assert_eq(s.min.kind, COLUMN_VALUE_INTEGER);
	cr_assert_eq(s.min.integer, -3);
	cr_assert_eq(s.max.integer, 9007199254740993);
	column_stats_free(&c);
}

Test(profile, float_min_max_compare_numerically)
{
	struct column_stats c;
	struct column_summary s;

	summarize_cells(&c, &s, (const char *const[]){"10", "9.5", "-1e2", "1e1", "", NULL});
	cr_assert_eq(s.min.kind, COLUMN_VALUE_REAL);
	cr_assert_eq(s.min.real, -100.0);
	cr_assert_eq(s.max.real, 10.0);
	column_stats_free(&c);
}

Test(profile, text_min_max_compare_bytewise)
{
	struct column_stats c;
	struct column_summary s;

	summarize_cells(&c, &s, (const char *const[]){"b", "ab", "a", "B", "é", "", NULL});
	expect_string(&s.min, "B");
	expect_string(&s.max, "é");
	column_stats_free(&c);
}

Test(profile, a_prefix_sorts_first)
{
	struct column_stats c;
	struct column_summary s;

	summarize_cells(&c, &s, (const char *const[]){"abc", "ab", "abcd", NULL});
	expect_string(&s.min, "ab");
	expect_string(&s.max, "abcd");
	column_stats_free(&c);
}

Test(profile, date_min_max_are_chronological_strings)
{
	struct column_stats c;
	struct column_summary s;

	summarize_cells(&c, &s, (const char *const[]){"2024-01-02", "2023-12-31", "2024-01-10", NULL});
	expect_string(&s.min, "2023-12-31");
	expect_string(&s.max, "2024-01-10");
	column_stats_free(&c);
}

Test(profile, boolean_min_max_are_strings_as_written)
{
	struct column_stats c;
	struct column_summary s;

	summarize_cells(&c, &s, (const char *const[]){"true", "FALSE", "False", NULL});
	expect_string(&s.min, "FALSE");
	expect_string(&s.max, "true");
	column_stats_free(&c);
}

/* A column that turns to text late still knows its least and greatest
 * strings from before. */
Test(profile, text_extremes_cover_cells_seen_while_numeric)
{
	struct column_stats c;
	struct column_summary s;

	summarize_cells(&c, &s, (const char *const[]){"5", "10", "200", "n/a", NULL});
	cr_assert_eq(s.type, COLUMN_TEXT);
	expect_string(&s.min, "10");
	expect_string(&s.max, "n/a");
	column_stats_free(&c);
}

/* Extremes are copies: the caller's buffer may change after add. */
Test(profile, extremes_survive_reuse_of_the_cell_buffer)
{
	struct column_stats c;
	struct column_summary s;
	char buf[8];

	column_stats_init(&c);
	strcpy(buf, "mmm");
	column_stats_add(&c, buf, 3);
	strcpy(buf, "zz");
	column_stats_add(&c, buf, 2);
	strcpy(buf, "aaaa");
	column_stats_add(&c, buf, 4);
	memset(buf, 'q', sizeof buf);
	column_stats_summarize(&c, &s);
	expect_string(&s.min, "aaaa");
	expect_string(&s.max, "zz");
	column_stats_free(&c);
}

Test(profile, lengths_count_code_points_not_bytes)
{
	struct column_stats c;
	struct column_summary s;

	/* é is 2 bytes, 日本語 9 bytes, 😀 4 bytes. */
	summarize_cells(&c, &s, (const char *const[]){"é", "日本語", "a😀", "", NULL});
	cr_assert(s.has_length);
	cr_assert_eq(s.min_length, 1);
	cr_assert_eq(s.max_length, 3);
	column_stats_free(&c);
}

Test(profile, lengths_of_numbers_are_their_characters)
{
	struct column_stats c;
	struct column_summary s;

	summarize_cells(&c, &s, (const char *const[]){"-12.5", "7", NULL});
	cr_assert_eq(s.min_length, 1);
	cr_assert_eq(s.max_length, 5);
	column_stats_free(&c);
}

Test(profile, distinct_counts_cell_strings)
{
	struct column_stats c;
	struct column_summary s;

	summarize_cells(&c, &s, (const char *const[]){"1", "01", "1", "", "", "x", NULL});
	cr_assert_eq(s.distinct_approx, 3);
	column_stats_free(&c);
}

/* ---- The task ------------------------------------------------------------- */

/* A small file, its whole result compared byte for byte. Expected reals
 * worked out by hand: score {3.5, 4.5} has mean 4 and sample deviation
 * sqrt(0.5), printed with 17 significant digits. */
Test(profile, result_json_for_a_small_file_is_exact)
{
	struct profile_run r;

	run_start(&r, true);
	cr_assert_eq(RECORD(&r, "id", "name", "score", "ok", "day", "note"), 0);
	cr_assert_eq(RECORD(&r, "1", "Ann", "3.5", "true", "2024-01-02", ""), 0);
	cr_assert_eq(RECORD(&r, "2", "Éva", "4.5", "FALSE", "2024-02-29", ""), 0);
	cr_assert_eq(RECORD(&r, "3", "Bo", "", "true", "2023-12-31", ""), 0);
	cr_assert_eq(task_profile.rows(r.task), 3);
	json_decref(run_finish(&r));
	cr_assert_str_eq(r.sink.data,
		"{\"rows\":3,\"columns\":["
		"{\"name\":\"id\",\"type\":\"integer\",\"count\":3,\"empty\":0,\"min\":1,\"max\":3,"
		"\"mean\":2.0,\"stddev\":1.0,\"min_length\":1,\"max_length\":1,\"distinct_approx\":3},"
		"{\"name\":\"name\",\"type\":\"text\",\"count\":3,\"empty\":0,\"min\":\"Ann\",\"max\":\"Éva\","
		"\"mean\":null,\"stddev\":null,\"min_length\":2,\"max_length\":3,\"distinct_approx\":3},"
		"{\"name\":\"score\",\"type\":\"float\",\"count\":2,\"empty\":1,\"min\":3.5,\"max\":4.5,"
		"\"mean\":4.0,\"stddev\":0.70710678118654757,\"min_length\":3,\"max_length\":3,\"distinct_approx\":2},"
		"{\"name\":\"ok\",\"type\":\"boolean\",\"count\":3,\"empty\":0,\"min\":\"FALSE\",\"max\":\"true\","
		"\"mean\":null,\"stddev\":null,\"min_length\":4,\"max_length\":5,\"distinct_approx\":2},"
		"{\"name\":\"day\",\"type\":\"date\",\"count\":3,\"empty\":0,\"min\":\"2023-12-31\",\"max\":\"2024-02-29\","
		"\"mean\":null,\"stddev\":null,\"min_length\":10,\"max_length\":10,\"distinct_approx\":3},"
		"{\"name\":\"note\",\"type\":\"empty\",\"count\":0,\"empty\":3,\"min\":null,\"max\":null,"
		"\"mean\":null,\"stddev\":null,\"min_length\":null,\"max_length\":null,\"distinct_approx\":0}"
		"]}");
	cr_assert_eq(r.sink.writes, 1);
	profile_run_free(&r);
}

Test(profile, without_header_columns_are_c1_to_cn_and_every_record_is_a_row)
{
	struct profile_run r;

	run_start(&r, false);
	cr_assert_eq(RECORD(&r, "a", "1", "x"), 0);
	cr_assert_eq(RECORD(&r, "b", "2", "y"), 0);
	json_t *root = run_finish(&r);
	cr_assert_eq(json_integer_value(json_object_get(root, "rows")), 2);
	cr_assert_eq(json_array_size(json_object_get(root, "columns")), 3);
	cr_assert_str_eq(json_string_value(json_object_get(column(root, 0), "name")), "c1");
	cr_assert_str_eq(json_string_value(json_object_get(column(root, 2), "name")), "c3");
	cr_assert_str_eq(json_string_value(json_object_get(column(root, 1), "type")), "integer");
	cr_assert_eq(json_integer_value(json_object_get(column(root, 0), "count")), 2);
	json_decref(root);
	profile_run_free(&r);
}

Test(profile, header_names_are_kept_as_written)
{
	struct profile_run r;

	run_start(&r, true);
	cr_assert_eq(RECORD(&r, "x", "x", "", "a \"q\""), 0);
	cr_assert_eq(RECORD(&r, "1", "2", "3", "4"), 0);
	json_t *root = run_finish(&r);
	cr_assert_str_eq(json_string_value(json_object_get(column(root, 0), "name")), "x");
	cr_assert_str_eq(json_string_value(json_object_get(column(root, 1), "name")), "x");
	cr_assert_str_eq(json_string_value(json_object_get(column(root, 2), "name")), "");
	cr_assert_str_eq(json_string_value(json_object_get(column(root, 3), "name")), "a \"q\"");
	json_decref(root);
	profile_run_free(&r);
}

Test(profile, min_max_json_types_follow_the_column_type)
{
	struct profile_run r;

	run_start(&r, true);
	cr_assert_eq(RECORD(&r, "i", "f", "t"), 0);
	cr_assert_eq(RECORD(&r, "-9223372036854775808", "1", "z"), 0);
	cr_assert_eq(RECORD(&r, "9223372036854775807", "0.25", "a"), 0);
	json_t *root = run_finish(&r);
	json_t *i = column(root, 0), *f = column(root, 1), *t = column(root, 2);
	cr_assert(json_is_integer(json_object_get(i, "min")));
	cr_assert_eq(json_integer_value(json_object_get(i, "min")), INT64_MIN);
	cr_assert_eq(json_integer_value(json_object_get(i, "max")), INT64_MAX);
	cr_assert(json_is_real(json_object_get(f, "min")));
	cr_assert(json_is_real(json_object_get(f, "max")));
	cr_assert_eq(json_real_value(json_object_get(f, "min")), 0.25);
	cr_assert_eq(json_real_value(json_object_get(f, "max")), 1.0);
	cr_assert_str_eq(json_string_value(json_object_get(t, "min")), "a");
	json_decref(root);
	profile_run_free(&r);
}

/* Reals are printed so that they read back to the same double. */
Test(profile, reals_round_trip_exactly)
{
	struct profile_run r;

	run_start(&r, false);
	cr_assert_eq(RECORD(&r, "0.1"), 0);
	cr_assert_eq(RECORD(&r, "0.30000000000000004"), 0);
	cr_assert_eq(RECORD(&r, "1e-300"), 0);
	json_t *root = run_finish(&r);
	json_t *c = column(root, 0);
	cr_assert_eq(json_real_value(json_object_get(c, "min")), 1e-300);
	cr_assert_eq(json_real_value(json_object_get(c, "max")), 0.30000000000000004);
	cr_assert_eq(json_real_value(json_object_get(c, "mean")), (0.1 + (0.30000000000000004 - 0.1) / 2 +
		(1e-300 - (0.1 + (0.30000000000000004 - 0.1) / 2)) / 3));
	json_decref(root);
	profile_run_free(&r);
}

Test(profile, header_only_input_has_zero_rows_and_empty_columns)
{
	struct profile_run r;

	run_start(&r, true);
	cr_assert_eq(RECORD(&r, "a", "b"), 0);
	json_t *root = run_finish(&r);
	cr_assert_eq(json_integer_value(json_object_get(root, "rows")), 0);
	cr_assert_str_eq(json_string_value(json_object_get(column(root, 1), "type")), "empty");
	json_decref(root);
	profile_run_free(&r);
}

Test(profile, no_input_gives_no_columns)
{
	struct profile_run r;

	run_start(&r, true);
	json_t *root = run_finish(&r);
	cr_assert_str_eq(r.sink.data, "{\"rows\":0,\"columns\":[]}");
	json_decref(root);
	profile_run_free(&r);
}

Test(profile, short_record_fails_with_ragged_record)
{
	struct profile_run r;
	struct task_error err;

	run_start(&r, true);
	cr_assert_eq(RECORD(&r, "a", "b", "c"), 0);
	cr_assert_eq(RECORD(&r, "1", "2", "3"), 0);
	cr_assert_neq(RECORD(&r, "1", "2"), 0);
	task_profile.error(r.task, &err);
	cr_assert_str_eq(err.code, "ragged_record");
	cr_assert_str_eq(err.message, "The record on line 3 has 2 fields; the first record has 3.");
	profile_run_free(&r);
}

Test(profile, long_record_fails_with_ragged_record)
{
	struct profile_run r;
	struct task_error err;

	run_start(&r, false);
	cr_assert_eq(RECORD(&r, "1", "2"), 0);
	cr_assert_neq(RECORD(&r, "1", "2", "3", "4"), 0);
	task_profile.error(r.task, &err);
	cr_assert_str_eq(err.code, "ragged_record");
	cr_assert(strstr(err.message, "line 2 has 4 fields") != NULL, "%s", err.message);
	profile_run_free(&r);
}

Test(profile, input_ending_inside_a_record_fails)
{
	struct profile_run r;
	struct task_error err;

	run_start(&r, false);
	cr_assert_eq(RECORD(&r, "1", "2"), 0);
	cr_assert_eq(task_profile.field(r.task, "3", 1), 0);
	cr_assert_eq(task_profile.finish(r.task, &err), -1);
	cr_assert_str_eq(err.code, "ragged_record");
	profile_run_free(&r);
}

Test(profile, refused_output_fails_with_output_failed)
{
	struct profile_run r;
	struct task_error err;

	run_start(&r, false);
	cr_assert_eq(RECORD(&r, "1"), 0);
	r.sink.refuse = true;
	cr_assert_eq(task_profile.finish(r.task, &err), -1);
	cr_assert_str_eq(err.code, "output_failed");
	profile_run_free(&r);
}

Test(profile, many_columns_grow_without_limit)
{
	enum { N = 1000 };
	struct profile_run r;
	char cell[16];

	run_start(&r, false);
	for (int row = 0; row < 3; row++) {
		for (int i = 0; i < N; i++) {
			int n = snprintf(cell, sizeof cell, "%d", i * row);
			cr_assert_eq(task_profile.field(r.task, cell, (size_t)n), 0);
		}
		cr_assert_eq(task_profile.record_end(r.task, (uint64_t)row + 1), 0);
	}
	json_t *root = run_finish(&r);
	cr_assert_eq(json_array_size(json_object_get(root, "columns")), N);
	cr_assert_str_eq(json_string_value(json_object_get(column(root, N - 1), "name")), "c1000");
	cr_assert_eq(json_integer_value(json_object_get(column(root, N - 1), "max")), 2 * (N - 1));
	json_decref(root);
	profile_run_free(&r);
}

/* ---- The table ------------------------------------------------------------ */

Test(task, find_returns_the_builtins_by_name)
{
	cr_assert_eq(task_find("profile"), &task_profile);
	cr_assert_eq(task_find("ndjson"), &task_ndjson);
	cr_assert_str_eq(task_profile.result_type, "application/json");
	cr_assert_str_eq(task_ndjson.result_type, "application/x-ndjson");
}

Test(task, find_returns_null_for_unknown_names)
{
	cr_assert_null(task_find("Profile"));
	cr_assert_null(task_find(""));
	cr_assert_null(task_find("csv"));
	cr_assert_null(task_find(NULL));
}

/* ---- Properties ----------------------------------------------------------- */

/* bytewise_less is the plain definition: memcmp over the common length,
 * then the shorter first. */
static bool bytewise_less(const char *a, size_t alen, const char *b, size_t blen)
{
	int cmp = memcmp(a, b, alen < blen ? alen : blen);
	return cmp < 0 || (cmp == 0 && alen < blen);
}

/* Random strings over a small alphabet, lengths 1 to 20, so that many share
 * prefixes of every length around the eight bytes compared at once: the
 * least and greatest agree with a plain bytewise scan. */
Test(profile, string_extremes_match_a_plain_bytewise_scan)
{
	static const char alphabet[] = {'a', 'b', 0x7f, (char)0xc3, (char)0xa9};
	uint64_t state = 99;
	char cells[400][24];
	size_t lens[400];

	for (int round = 0; round < 50; round++) {
		struct column_stats c;
		struct column_summary s;
		size_t least = 0, greatest = 0;
		column_stats_init(&c);
		for (size_t i = 0; i < 400; i++) {
			lens[i] = 1 + next_random(&state) % 20;
			for (size_t k = 0; k < lens[i]; k++)
				cells[i][k] = alphabet[next_random(&state) % (round % 4 + 2)];
			cr_assert_eq(column_stats_add(&c, cells[i], lens[i]), 0);
			if (bytewise_less(cells[i], lens[i], cells[least], lens[least]))
				least = i;
			if (bytewise_less(cells[greatest], lens[greatest], cells[i], lens[i]))
				greatest = i;
		}
		column_stats_summarize(&c, &s);
		cr_assert_eq(s.min.len, lens[least]);
		cr_assert_eq(memcmp(s.min.str, cells[least], lens[least]), 0, "round %d", round);
		cr_assert_eq(s.max.len, lens[greatest]);
		cr_assert_eq(memcmp(s.max.str, cells[greatest], lens[greatest]), 0, "round %d", round);
		column_stats_free(&c);
	}
}

/* Code points counted eight bytes at a time agree with counting the bytes
 * that are not 10xxxxxx one by one, for text of every length up to 40. */
Test(profile, code_point_lengths_match_a_bytewise_count)
{
	static const char *const pieces[] = {"a", "é", "日", "😀", " "};
	uint64_t state = 5;

	for (int round = 0; round < 500; round++) {
		char cell[200];
		size_t len = 0, want = 0, target = next_random(&state) % 40 + 1;
		while (len < target) {
			const char *p = pieces[next_random(&state) % 5];
			memcpy(cell + len, p, strlen(p));
			len += strlen(p);
			want++;
		}
		cell[len++] = 'x'; /* never a number, boolean or date */
		want++;
		struct column_stats c;
		struct column_summary s;
		column_stats_init(&c);
		cr_assert_eq(column_stats_add(&c, cell, len), 0);
		column_stats_summarize(&c, &s);
		cr_assert_eq(s.type, COLUMN_TEXT);
		cr_assert_eq(s.min_length, want, "%.*s", (int)len, cell);
		column_stats_free(&c);
	}
}

/* ---- Through csv_reader --------------------------------------------------- */

/* profile_csv runs the profile task over csv fed to csv_reader in pieces of
 * piece bytes, and returns the result text (caller frees), or NULL when the
 * reader stopped; then *err says why. */
static char *profile_csv(const char *csv, bool header, size_t piece, struct task_error *err)
{
	struct profile_run r;

	run_start(&r, header);
	struct csv_reader_callbacks cbs = {task_profile.field, task_profile.record_end};
	struct csv_reader *reader = csv_reader_new(',', 1 << 20, &cbs, r.task);
	cr_assert_not_null(reader);
	enum csv_error e = CSV_OK;
	for (size_t at = 0, len = strlen(csv); e == CSV_OK && at < len; at += piece)
		e = csv_reader_feed(reader, csv + at, len - at < piece ? len - at : piece);
	if (e == CSV_OK)
		e = csv_reader_finish(reader);
	csv_reader_free(reader);
	char *text = NULL;
	if (e == CSV_OK && task_profile.finish(r.task, err) == 0)
		text = strdup(r.sink.data);
	else if (e == CSV_ERR_ABORTED)
		task_profile.error(r.task, err);
	profile_run_free(&r);
	return text;
}

/* Quoted fields, doubled quotes, embedded line ends, CRLF and a BOM, fed
 * whole and in pieces down to one byte, where every field is assembled in
 * the reader's reused buffer: the task must copy what it keeps (names,
 * least and greatest values), so every way gives the same result. */
Test(profile, reader_pieces_of_any_size_give_the_same_result)
{
	const char *csv = "\xef\xbb\xbf" "id,\"full name\",amount\r\n"
			  "1,\"Smith, \"\"Jo\"\"\",10\r\n"
			  "2,\"two\nlines\",-2.5\r\n"
			  "3,zed,\"7\"\r\n";
	struct task_error err;
	char *whole = profile_csv(csv, true, strlen(csv), &err);

	cr_assert_not_null(whole, "%s: %s", err.code, err.message);
	for (size_t piece = 1; piece <= 9; piece++) {
		char *text = profile_csv(csv, true, piece, &err);
		cr_assert_not_null(text, "%s: %s", err.code, err.message);
		cr_assert_str_eq(text, whole, "pieces of %zu", piece);
		free(text);
	}
	json_t *root = json_loads(whole, 0, NULL);
	cr_assert_eq(json_integer_value(json_object_get(root, "rows")), 3);
	json_t *name = column(root, 1), *amount = column(root, 2);
	cr_assert_str_eq(json_string_value(json_object_get(column(root, 0), "name")), "id");
	cr_assert_str_eq(json_string_value(json_object_get(name, "name")), "full name");
	cr_assert_str_eq(json_string_value(json_object_get(name, "min")), "Smith, \"Jo\"");
	cr_assert_str_eq(json_string_value(json_object_get(name, "max")), "zed");
	cr_assert_eq(json_integer_value(json_object_get(name, "max_length")), 11);
	cr_assert_str_eq(json_string_value(json_object_get(amount, "type")), "float");
	cr_assert_eq(json_real_value(json_object_get(amount, "min")), -2.5);
	cr_assert_eq(json_real_value(json_object_get(amount, "max")), 10.0);
	json_decref(root);
	free(whole);
}

Test(profile, ragged_record_through_the_reader_names_its_line)
{
	struct task_error err;
	char *text = profile_csv("a,b\n1,2\n\"x\ny\",3\n4\n", true, 4, &err);

	cr_assert_null(text);
	cr_assert_str_eq(err.code, "ragged_record");
	cr_assert_str_eq(err.message, "The record on line 5 has 1 fields; the first record has 2.");
}

/* ---- Two threads for a large input (stats_pipe) --------------------------- */

/* profile_generated profiles rows of mixed generated cells (the same ones
 * each call) as an input of bytes_total bytes, which decides whether the
 * statistics run on a second thread, and returns the result's text (caller
 * frees). */
static char *profile_generated(uint64_t bytes_total, size_t rows)
{
	struct profile_run r;
	char cell[5][64];
	uint64_t x = 88172645463325252ull;

	profile_run_start(&r, true, bytes_total);
	cr_assert_eq(RECORD(&r, "int", "float", "bool", "date", "text"), 0);
	for (size_t i = 0; i < rows; i++) {
		x ^= x << 13, x ^= x >> 7, x ^= x << 17; /* xorshift64 */
		snprintf(cell[0], sizeof cell[0], "%lld", (long long)(x % 2000001) - 1000000);
		snprintf(cell[1], sizeof cell[1], "%.6f", (double)(x % 1000003) / 7.0);
		snprintf(cell[2], sizeof cell[2], "%s", x & 1 ? "true" : "FALSE");
		snprintf(cell[3], sizeof cell[3], "%04u-%02u-%02u", (unsigned)(x % 3000),
			 (unsigned)(x % 12) + 1, (unsigned)(x % 28) + 1);
		snprintf(cell[4], sizeof cell[4], "%s%llx", i % 7 ? "w" : "", (unsigned long long)(x % 50000));
		const char *cells[5] = {cell[0], cell[1], cell[2], cell[3], i % 11 ? cell[4] : ""};
		cr_assert_eq(profile_run_record(&r, 5, cells), 0);
	}
	profile_run_finish(&r);
	return r.sink.data;
}

Test(profile, a_large_input_profiled_on_two_threads_gives_the_same_bytes)
{
	/* 200,000 rows of 5 cells: many batches of the pipe, so the ring
	 * wraps and the parser waits on it. */
	char *one = profile_generated(0, 200000);
	char *two = profile_generated(UINT64_C(1) << 30, 200000);

	cr_assert_gt(strlen(one), 100);
	cr_assert_str_eq(one, two);
	free(one);
	free(two);
}

Test(profile, any_number_of_stats_threads_gives_the_same_bytes)
{
	/* Each thread owns the columns c % n == k; 5 columns over 1, 2, 3, 4
	 * threads, and more threads than columns (capped at 5). */
	char *one = profile_generated(0, 60000);

	for (unsigned n = 1; n <= 7; n++) {
		task_profile_set_threads(n);
		char *many = profile_generated(UINT64_C(1) << 30, 60000);
		cr_assert_str_eq(one, many, "with %u stats threads", n);
		free(many);
	}
	free(one);
}

/* profile_long_cells profiles 3 columns whose middle one sometimes holds
 * a cell longer than a whole batch of the pipe, as an input of bytes_total
 * bytes, and returns the result's text (caller frees). */
static char *profile_long_cells(uint64_t bytes_total)
{
	struct profile_run r;
	size_t long_len = STATS_PIPE_BATCH_BYTES + 4321;
	char *long_cell = malloc(long_len + 1), num[32];

	cr_assert_not_null(long_cell);
	profile_run_start(&r, false, bytes_total);
	for (size_t i = 0; i < 3000; i++) {
		memset(long_cell, 'a' + (int)(i % 26), long_len);
		long_cell[i % 7 == 3 ? long_len : 5 + i % 11] = '\0';
		snprintf(num, sizeof num, "%zu", i * 7919 % 3001);
		cr_assert_eq(profile_run_record(&r, 3, (const char *const[]){num, long_cell, i % 2 ? "x" : ""}), 0);
	}
	profile_run_finish(&r);
	free(long_cell);
	return r.sink.data;
}

Test(profile, cells_longer_than_a_batch_pass_the_pipe_whole)
{
	char *one = profile_long_cells(0), want[64];

	snprintf(want, sizeof want, "\"max_length\":%d,", STATS_PIPE_BATCH_BYTES + 4321);
	cr_assert_not_null(strstr(one, want), "the long cells reach their column whole");
	for (unsigned n = 1; n <= 3; n++) {
		task_profile_set_threads(n);
		char *piped = profile_long_cells(UINT64_C(1) << 30);
		cr_assert_str_eq(one, piped, "with %u stats threads", n);
		free(piped);
	}
	free(one);
}

/* expect_columns_alike asserts that the ncols columns fed directly and
 * through a pipe of n threads summarise alike, then frees both. */
static void expect_columns_alike(struct column_stats *direct, struct column_stats *piped,
				 size_t ncols, unsigned n)
{
	for (size_t c = 0; c < ncols; c++) {
		struct column_summary a, b;
		column_stats_summarize(&direct[c], &a);
		column_stats_summarize(&piped[c], &b);
		cr_assert_eq(a.type, b.type, "column %zu, %u threads", c, n);
		cr_assert_eq(a.count, b.count, "column %zu, %u threads", c, n);
		cr_assert_eq(a.empty, b.empty, "column %zu, %u threads", c, n);
		cr_assert_eq(a.max_length, b.max_length, "column %zu, %u threads", c, n);
		cr_assert_eq(a.min.len, b.min.len, "column %zu, %u threads", c, n);
		cr_assert_eq(a.max.len, b.max.len, "column %zu, %u threads", c, n);
		cr_assert_eq(a.min.integer, b.min.integer, "column %zu, %u threads", c, n);
		cr_assert_eq(a.max.integer, b.max.integer, "column %zu, %u threads", c, n);
		cr_assert(memcmp(&a.mean, &b.mean, sizeof a.mean) == 0, "column %zu, %u threads", c, n);
		cr_assert_eq(a.distinct_approx, b.distinct_approx, "column %zu, %u threads", c, n);
		column_stats_free(&direct[c]);
		column_stats_free(&piped[c]);
	}
}

/* The pipe itself, without the task's fallback to one thread (which would
 * make the comparisons above pass even if no pipe ever started): it runs
 * min(n, columns) threads, and each column ends as direct adds leave it. */
Test(profile, a_stats_pipe_runs_its_threads_and_each_column_sees_its_cells)
{
	enum { COLS = 5, ROWS = 20000 };
	char cell[32];

	for (unsigned n = 1; n <= 7; n++) {
		struct column_stats direct[COLS], piped[COLS];
		for (size_t c = 0; c < COLS; c++) {
			column_stats_init(&direct[c]);
			column_stats_init(&piped[c]);
		}
		struct stats_pipe *p = stats_pipe_start(piped, COLS, n);
		cr_assert_not_null(p, "with %u threads", n);
		cr_assert_eq(stats_pipe_threads(p), n < COLS ? n : COLS);
		for (size_t i = 0; i < ROWS; i++)
			for (size_t c = 0; c < COLS; c++) {
				int len = snprintf(cell, sizeof cell, "%zu", (i * 31 + c * 7) % (c * 1000 + 13));
				if ((i + c) % 17 == 0)
					len = 0;
				cr_assert_eq(column_stats_add(&direct[c], cell, (size_t)len), 0);
				cr_assert_eq(stats_pipe_add(p, c, cell, (size_t)len), 0);
			}
		cr_assert_eq(stats_pipe_finish(p), 0);
		stats_pipe_free(p);
		expect_columns_alike(direct, piped, COLS, n);
	}
}

/* One wide column and two narrow ones: the wide column's part fills long
 * before the others, so batches are handed over with the narrow parts
 * partly filled, and every column must still end as direct adds leave it. */
Test(profile, uneven_columns_fill_their_parts_unevenly_and_lose_nothing)
{
	enum { COLS = 3, ROWS = 3000 };
	static char wide[4100];
	char narrow[32];

	memset(wide, 'w', sizeof wide);
	for (unsigned n = 1; n <= 3; n++) {
		struct column_stats direct[COLS], piped[COLS];
		for (size_t c = 0; c < COLS; c++) {
			column_stats_init(&direct[c]);
			column_stats_init(&piped[c]);
		}
		struct stats_pipe *p = stats_pipe_start(piped, COLS, n);
		cr_assert_not_null(p);
		for (size_t i = 0; i < ROWS; i++) {
			size_t wide_len = 1000 + (i * 7919) % 3000;
			wide[wide_len - 1] = (char)('a' + i % 26);
			int len = snprintf(narrow, sizeof narrow, "%zu", i * 2654435761u % 100003);
			cr_assert_eq(column_stats_add(&direct[0], wide, wide_len), 0);
			cr_assert_eq(stats_pipe_add(p, 0, wide, wide_len), 0);
			wide[wide_len - 1] = 'w';
			for (size_t c = 1; c < COLS; c++) {
				cr_assert_eq(column_stats_add(&direct[c], narrow, (size_t)len - c + 1), 0);
				cr_assert_eq(stats_pipe_add(p, c, narrow, (size_t)len - c + 1), 0);
			}
		}
		cr_assert_eq(stats_pipe_finish(p), 0);
		stats_pipe_free(p);
		expect_columns_alike(direct, piped, COLS, n);
	}
}

/* pipe_long_cells feeds ROWS records of COLS cells of cell_len bytes (a
 * few short ones among them) through a pipe of COLS threads and directly,
 * checks the columns end alike and returns the most bytes the pipe held. */
static size_t pipe_long_cells(size_t cell_len)
{
	enum { COLS = 16, ROWS = 6 };
	struct column_stats direct[COLS], piped[COLS];
	char *cell = malloc(cell_len);

	cr_assert_not_null(cell);
	for (size_t c = 0; c < COLS; c++) {
		column_stats_init(&direct[c]);
		column_stats_init(&piped[c]);
	}
	struct stats_pipe *p = stats_pipe_start(piped, COLS, COLS);
	cr_assert_not_null(p);
	cr_assert_eq(stats_pipe_threads(p), COLS);
	for (size_t i = 0; i < ROWS; i++)
		for (size_t c = 0; c < COLS; c++) {
			size_t len = (i + c) % 5 == 0 ? 3 : cell_len - (i * 31 + c) % 97;
			memset(cell, 'a' + (int)((i + c) % 26), len);
			cr_assert_eq(column_stats_add(&direct[c], cell, len), 0);
			cr_assert_eq(stats_pipe_add(p, c, cell, len), 0);
		}
	cr_assert_eq(stats_pipe_finish(p), 0);
	size_t peak = stats_pipe_peak_bytes(p);
	stats_pipe_free(p);
	expect_columns_alike(direct, piped, COLS, COLS);
	free(cell);
	return peak;
}

/* A cell longer than its part grows the part; on 16 threads that must not
 * make the ring hold 4 x 16 long cells: the bound does not depend on the
 * thread count. */
Test(profile, long_cells_on_many_threads_keep_the_pipe_within_its_bound)
{
	const size_t lens[] = {100 * 1024, 600 * 1024};

	for (size_t i = 0; i < sizeof lens / sizeof lens[0]; i++) {
		size_t peak = pipe_long_cells(lens[i]);
		cr_assert_leq(peak, stats_pipe_bound(lens[i]),
			      "cells of %zu bytes: the pipe held %zu bytes, past its bound %zu",
			      lens[i], peak, stats_pipe_bound(lens[i]));
	}
}

Test(profile, default_stats_threads_leave_a_cpu_to_the_parser)
{
	cr_assert_eq(task_profile_default_threads(1), 1);
	cr_assert_eq(task_profile_default_threads(2), 2);
	cr_assert_eq(task_profile_default_threads(3), 2);
	cr_assert_eq(task_profile_default_threads(8), 7);
}

Test(profile, a_large_input_stopped_early_frees_its_stats_threads)
{
	task_profile_set_threads(3);
	struct profile_run r;

	profile_run_start(&r, false, UINT64_C(1) << 30);
	for (int i = 0; i < 50000; i++)
		cr_assert_eq(RECORD(&r, "1", "x"), 0);
	cr_assert_neq(RECORD(&r, "1"), 0, "a ragged record must stop the task");
	profile_run_free(&r); /* destroy without finish: the pipe's thread is stopped and joined */
}
