/*
 * csv_check — validates an upload while it streams.
 *
 * The API feeds each received chunk of a CSV upload to a checker and keeps
 * nothing else of it in memory. The checker enforces, in one pass:
 *   - the CSV dialect of csv_reader.h (well-formed quotes, max_field);
 *   - valid UTF-8 (no overlongs, no surrogates, nothing above U+10FFFF, no
 *     sequence cut by the end of input) and no NUL byte;
 *   - every record has as many fields as the first record;
 *   - at least one data record (with header=true the first record is the
 *     header and does not count).
 * On the first failure it stops and keeps a description of the problem:
 * a stable code, a sentence, the 1-based physical line, and for a ragged
 * record the expected and found field counts.
 *
 * Error codes (the API returns them as 422 with this code):
 *   invalid_utf8, nul_byte, unterminated_quote, text_after_quote,
 *   field_too_large, ragged_record, no_data_records
 *   (and out_of_memory, which the API turns into a 503).
 */
#ifndef JOBQ_CSV_CHECK_H
#define JOBQ_CSV_CHECK_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

struct csv_check_problem {
	const char *code;    /* stable code (static storage), NULL when no problem */
	char message[160];   /* human sentence */
	uint64_t line;       /* 1-based physical line, 0 when not tied to a line */
	uint64_t expected;   /* ragged_record only: fields in the first record */
	uint64_t found;      /* ragged_record only: fields in this record */
};

struct csv_check_summary {
	uint64_t rows;    /* data records (without the header when header=true) */
	uint64_t columns; /* fields per record */
	uint64_t bytes;   /* input bytes fed, BOM included */
};

struct csv_check;

/* csv_check_new returns a checker, or NULL when out of memory. Free it with
 * csv_check_free. */
struct csv_check *csv_check_new(unsigned char delimiter, bool header, size_t max_field);

/* csv_check_feed checks the next len bytes. Returns 0 while the input is
 * still good, -1 once a problem is found (see csv_check_problem). */
int csv_check_feed(struct csv_check *c, const char *buf, size_t len);

/* csv_check_finish ends the input. Returns 0 when the whole upload is good
 * (the summary is then final), -1 with the problem set otherwise. */
int csv_check_finish(struct csv_check *c);

/* csv_check_problem returns the problem found (code NULL while none). The
 * pointer is owned by c. */
const struct csv_check_problem *csv_check_problem(const struct csv_check *c);

/* csv_check_summary returns the counts so far (final after a successful
 * csv_check_finish). The pointer is owned by c. */
const struct csv_check_summary *csv_check_summary(const struct csv_check *c);

/* csv_check_free frees c. NULL is allowed. */
void csv_check_free(struct csv_check *c);

#endif
