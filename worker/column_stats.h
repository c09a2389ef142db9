/*
 * column_stats — statistics over the cells of one CSV column, in one pass.
 *
 * The profile task keeps one column_stats per column and adds every cell
 * to it as the reader delivers it; at the end column_stats_summarize says
 * what the column holds. Cells are byte strings (valid UTF-8, no NUL, as
 * the upload check guarantees); a cell of length 0 is empty, every other
 * cell is non-empty.
 *
 * Type: the first of integer, float, boolean, date, text that every
 * non-empty cell satisfies; "empty" when there is no non-empty cell.
 *   integer  optional + or -, then one or more ASCII digits, fitting int64
 *            ("-0", "+5" and "007" are integers).
 *   float    optional sign, digits with an optional '.', at least one digit,
 *            an optional exponent e/E with optional sign and digits; the value
 *            must be finite. No inf, nan, hex, or spaces: " 5" is text,
 *            because spaces are data. An integer is also a float, so a
 *            column of integers and decimals is float, and an integer too
 *            large for int64 makes its column float. "1e-400" underflows
 *            to 0 and is a float (finite); "1e400" overflows and is text.
 *   boolean  "true" or "false" in any letter case.
 *   date     YYYY-MM-DD, a real proleptic Gregorian date with any four-digit
 *            year (0000 is a leap year); "2023-02-29" is text.
 *   text     anything.
 * The set of types every cell so far satisfies only shrinks, so after the
 * first non-empty cell each cell is tested for one type family at most, and
 * once a column is text it is not classified at all. A number is
 * recognised and its value computed in one scan of its bytes; strtod runs
 * only for a cell that scanned as a number and that the exact fast path
 * (Clinger's: mantissa below 2^53 and |power of ten| <= 22) cannot take.
 * Numbers are parsed in the "C" locale's syntax; jobq never calls
 * setlocale, so strtod agrees.
 *
 * count is the number of non-empty cells, empty the number of empty ones.
 * min/max are numbers for integer columns (exact int64) and float columns
 * (doubles), otherwise the bytewise least and greatest cell strings (ISO
 * dates sort correctly that way; booleans compare as written: "FALSE" <
 * "false"). mean and the sample standard deviation are kept by Welford's
 * method for numeric columns (stddev needs two cells; either is left out
 * when it overflows a double, as cells near +-1e308 can make it).
 * min_length and max_length are in Unicode code points over the non-empty
 * cells: an empty cell is counted in `empty` and would only make
 * min_length 0.
 * distinct_approx counts distinct non-empty cell strings with a
 * HyperLogLog sketch (hll.h): "1" and "01" are two values.
 *
 * Memory: a column_stats is about 4.2 KiB (the sketch is 4 KiB) plus two
 * string buffers for the least and greatest cell, copied only when the
 * least or greatest value changes and each smaller than twice the longest
 * cell (so bounded by the upload's max field size), and a scratch buffer
 * for numbers longer than 63 bytes. Nothing is allocated per cell. The
 * buffers belong to the column_stats and are freed by column_stats_free;
 * a summary borrows them.
 */
#ifndef JOBQ_COLUMN_STATS_H
#define JOBQ_COLUMN_STATS_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "hll.h"

enum column_type {
	COLUMN_EMPTY,
	COLUMN_INTEGER,
	COLUMN_FLOAT,
	COLUMN_BOOLEAN,
	COLUMN_DATE,
	COLUMN_TEXT,
};

/* A growable byte string owned by a column_stats. key holds its first
 * eight bytes big-endian, zero-padded, so that most comparisons are one
 * integer compare. */
struct column_bytes {
	char *data;
	size_t len, cap;
	uint64_t key;
};

/* The state of one column. Its fields are private to column_stats.c; the
 * type is public only so that callers can keep an array of them. */
struct column_stats {
	uint64_t count, empty;
	unsigned candidates;         /* COLUMN_CAN_* bits every non-empty cell satisfies */
	int64_t int_min, int_max;    /* while every cell is an integer */
	double real_min, real_max;   /* over every numeric cell, as doubles */
	double mean, m2;             /* Welford's running mean and sum of squares */
	uint64_t min_length, max_length;
	struct column_bytes least, greatest;
	struct column_bytes scratch; /* NUL-terminated copy of a long number for strtod */
	struct hll distinct;
};

enum column_value_kind {
	COLUMN_VALUE_NONE,    /* no value: JSON null */
	COLUMN_VALUE_INTEGER,
	COLUMN_VALUE_REAL,
	COLUMN_VALUE_STRING,
};

struct column_value {
	enum column_value_kind kind;
	int64_t integer;
	double real;
	const char *str; /* borrowed from the column_stats; not NUL-terminated */
	size_t len;
};

/* What a column holds; has_* false means JSON null. */
struct column_summary {
	enum column_type type;
	uint64_t count, empty;
	struct column_value min, max;
	bool has_mean, has_stddev, has_length;
	double mean, stddev;
	uint64_t min_length, max_length;
	uint64_t distinct_approx;
};

/* column_stats_init prepares c for its first cell. It allocates nothing. */
void column_stats_init(struct column_stats *c);

/* column_stats_add adds one cell of len bytes. Returns 0, or -1 when a
 * buffer could not grow (out of memory); after -1 the statistics are no
 * longer meaningful, but c can still be freed. */
int column_stats_add(struct column_stats *c, const char *data, size_t len);

/* column_stats_summarize fills *out from c. The strings in out->min and
 * out->max point into c and are valid until c changes or is freed. */
void column_stats_summarize(const struct column_stats *c, struct column_summary *out);

/* column_stats_free frees c's buffers (not c itself). c may then be
 * initialised again. */
void column_stats_free(struct column_stats *c);

/* column_type_name returns "empty", "integer", "float", "boolean", "date"
 * or "text" (static storage). */
const char *column_type_name(enum column_type type);

#endif
