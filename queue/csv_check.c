/*
 * csv_check.c — the streaming upload checker of csv_check.h.
 *
 * Each chunk is first checked as bytes: the UTF-8 validator and a search
 * for NUL find the first bad byte, if any. Only the bytes before it go to
 * the csv_reader, whose callbacks count fields and records. So the problem
 * reported is always the one earliest in the input, whatever the chunk
 * sizes, and after those bytes the reader's line counter is the line of
 * the bad byte.
 *
 * Problems found at the end of input are checked in input order: a UTF-8
 * sequence cut short, then the reader's own end (unterminated quote, and
 * the last record's field count), then whether any data record was seen.
 */
#include "csv_check.h"

#include <inttypes.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "csv_reader.h"
#include "utf8.h"

struct csv_check {
	struct csv_reader *reader; /* owned */
	struct utf8_validator utf8;
	struct csv_check_problem problem;
	struct csv_check_summary summary;
	bool header;
	size_t max_field;
	uint64_t records;       /* records seen, the header included */
	uint64_t record_fields; /* fields seen so far in the current record */
};

/* set_problem records the checker's first problem: code (static storage),
 * the line it is on, and a sentence formatted from fmt. */
__attribute__((format(printf, 4, 5)))
static void set_problem(struct csv_check *c, const char *code, uint64_t line,
			const char *fmt, ...)
{
	va_list ap;

	c->problem.code = code;
	c->problem.line = line;
	va_start(ap, fmt);
	vsnprintf(c->problem.message, sizeof c->problem.message, fmt, ap);
	va_end(ap);
}

/* on_field counts a field of the current record. Always returns 0. */
static int on_field(void *ctx, const char *data, size_t len)
{
	struct csv_check *c = ctx;

	(void)data;
	(void)len;
	c->record_fields++;
	return 0;
}

/* on_record_end checks a record's field count against the first record's.
 * Returns 0 to go on, 1 to stop the reader with ragged_record set. */
static int on_record_end(void *ctx, uint64_t line)
{
	struct csv_check *c = ctx;
	uint64_t found = c->record_fields;

	c->record_fields = 0;
	if (c->records == 0) {
		c->summary.columns = found;
	} else if (found != c->summary.columns) {
		set_problem(c, "ragged_record", line,
			    "Record on line %" PRIu64 " has %" PRIu64 " fields; the first record has %" PRIu64 ".",
			    line, found, c->summary.columns);
		c->problem.expected = c->summary.columns;
		c->problem.found = found;
		return 1;
	}
	if (c->records > 0 || !c->header)
		c->summary.rows++;
	c->records++;
	return 0;
}

struct csv_check *csv_check_new(unsigned char delimiter, bool header, size_t max_field)
{
	static const struct csv_reader_callbacks cbs = { on_field, on_record_end };
	struct csv_check *c = calloc(1, sizeof *c);

	if (!c)
		return NULL;
	c->reader = csv_reader_new(delimiter, max_field, &cbs, c);
	if (!c->reader) {
		free(c);
		return NULL;
	}
	utf8_validator_init(&c->utf8);
	c->header = header;
	c->max_field = max_field;
	return c;
}

/* reader_problem turns the reader's error e into the checker's problem,
 * unless a callback already set one (CSV_ERR_ABORTED). Returns -1. */
static int reader_problem(struct csv_check *c, enum csv_error e)
{
	uint64_t line = csv_reader_line(c->reader);

	if (c->problem.code)
		return -1;
	switch (e) {
	case CSV_ERR_UNTERMINATED_QUOTE:
		set_problem(c, csv_error_code(e), line,
			    "The quoted field that starts on line %" PRIu64 " is never closed.", line);
		break;
	case CSV_ERR_AFTER_QUOTE:
		set_problem(c, csv_error_code(e), line,
			    "Line %" PRIu64 " has text after a closing quote; a quoted field must end at a delimiter or a line end.",
			    line);
		break;
	case CSV_ERR_FIELD_TOO_LARGE:
		set_problem(c, csv_error_code(e), line,
			    "The field that starts on line %" PRIu64 " is longer than %zu bytes.",
			    line, c->max_field);
		break;
	default: /* CSV_ERR_NOMEM; CSV_ERR_ABORTED always comes with a problem */
		set_problem(c, csv_error_code(CSV_ERR_NOMEM), 0,
			    "Out of memory while checking the upload.");
		break;
	}
	return -1;
}

/* first_bad_byte returns the offset of the first byte of buf that is not
 * valid UTF-8 or is NUL, or len. *is_nul tells which. A NUL that cuts a
 * multi-byte sequence short is reported as invalid UTF-8. */
static size_t first_bad_byte(struct csv_check *c, const char *buf, size_t len, bool *is_nul)
{
	size_t good = utf8_validator_feed(&c->utf8, (const unsigned char *)buf, len);
	const char *nul = good ? memchr(buf, '\0', good) : NULL;

	*is_nul = nul != NULL;
	return nul ? (size_t)(nul - buf) : good;
}

int csv_check_feed(struct csv_check *c, const char *buf, size_t len)
{
	enum csv_error e;
	bool is_nul;
	size_t good;
	uint64_t line;

	if (c->problem.code)
		return -1;
	c->summary.bytes += len;
	good = first_bad_byte(c, buf, len, &is_nul);
	e = csv_reader_feed(c->reader, buf, good);
	if (e != CSV_OK)
		return reader_problem(c, e);
	if (good == len)
		return 0;
	line = csv_reader_line(c->reader);
	if (is_nul)
		set_problem(c, "nul_byte", line, "Line %" PRIu64 " contains a NUL byte.", line);
	else
		set_problem(c, "invalid_utf8", line, "Line %" PRIu64 " is not valid UTF-8.", line);
	return -1;
}

int csv_check_finish(struct csv_check *c)
{
	enum csv_error e;
	uint64_t line;

	if (c->problem.code)
		return -1;
	if (!utf8_validator_finish(&c->utf8)) {
		line = csv_reader_line(c->reader);
		set_problem(c, "invalid_utf8", line,
			    "Line %" PRIu64 " ends inside a UTF-8 sequence.", line);
		return -1;
	}
	e = csv_reader_finish(c->reader);
	if (e != CSV_OK)
		return reader_problem(c, e);
	if (c->summary.rows == 0) {
		set_problem(c, "no_data_records", 0, "%s",
			    c->records ? "The upload has a header but no data records."
				       : "The upload has no data records.");
		return -1;
	}
	return 0;
}

const struct csv_check_problem *csv_check_problem(const struct csv_check *c)
{
	return &c->problem;
}

const struct csv_check_summary *csv_check_summary(const struct csv_check *c)
{
	return &c->summary;
}

void csv_check_free(struct csv_check *c)
{
	if (!c)
		return;
	csv_reader_free(c->reader);
	free(c);
}
