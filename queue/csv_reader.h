/*
 * csv_reader — jobq's one CSV dialect, as a streaming tokenizer.
 *
 * The API's upload checker and every worker task read CSV through this
 * module, so that what was accepted at upload is exactly what a task sees.
 *
 * The dialect (the README's "CSV dialect" section says the same):
 *   - RFC 4180 records; a record ends at LF or CRLF (a lone CR outside
 *     quotes also ends a record).
 *   - A UTF-8 byte order mark (EF BB BF) at the very start of the input is
 *     dropped; anywhere else it is data.
 *   - Spaces and tabs around unquoted fields are data and are kept.
 *   - A field that starts with `"` is quoted: it runs to the next `"` that
 *     is not doubled; `""` inside it is one `"`; delimiters, CR and LF
 *     inside it are data.
 *   - A `"` inside an unquoted field (`ab"c`) is a literal character.
 *   - After a closing quote only the delimiter, a line end or the end of
 *     input may follow; anything else is CSV_ERR_AFTER_QUOTE.
 *   - A quote still open at the end of input is CSV_ERR_UNTERMINATED_QUOTE.
 *   - Blank lines (a line end right after a line end, or at the very start)
 *     are skipped: they are not records. A one-column file writes an empty
 *     value as `""`.
 *   - A field longer than max_field bytes (after unquoting) is
 *     CSV_ERR_FIELD_TOO_LARGE.
 *   - The last record needs no line end.
 *
 * Why not libcsv: libcsv 3.0.3 cannot express this dialect. Its one switch,
 * CSV_STRICT, both rejects a literal quote inside an unquoted field (which we
 * accept) and is the only way to reject text after a closing quote (which
 * we must); without it such text silently swallows the rest of the input.
 * It also copies every field into its own buffer. The tests use libcsv as a
 * differential oracle on inputs where both dialects agree.
 *
 * Memory: a field that lies whole inside one fed chunk is handed to the
 * callback as a pointer into that chunk (no copy). A field that spans chunks,
 * or a quoted field with doubled quotes, is assembled in an internal buffer
 * that grows up to max_field and is reused. The pointer given to a callback
 * is valid only during that call.
 */
#ifndef JOBQ_CSV_READER_H
#define JOBQ_CSV_READER_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

enum csv_error {
	CSV_OK = 0,
	CSV_ERR_UNTERMINATED_QUOTE, /* end of input inside a quoted field */
	CSV_ERR_AFTER_QUOTE,        /* a byte other than delimiter/line end after a closing quote */
	CSV_ERR_FIELD_TOO_LARGE,    /* a field longer than max_field */
	CSV_ERR_NOMEM,              /* the field buffer could not grow */
	CSV_ERR_ABORTED,            /* a callback returned non-zero */
};

struct csv_reader_callbacks {
	/* Called once per field, in order. Returns 0 to go on, non-zero to
	 * stop the reader (feed then returns CSV_ERR_ABORTED). */
	int (*field)(void *ctx, const char *data, size_t len);
	/* Called after the last field of each record. line is the 1-based
	 * physical line on which the record started. Same return rule. */
	int (*record_end)(void *ctx, uint64_t line);
};

struct csv_reader;

/* csv_reader_new returns a reader for the given delimiter, or NULL when out
 * of memory or when the delimiter is '"', CR or LF (which would make the
 * dialect ambiguous; callers validate the delimiter first). The caller frees
 * it with csv_reader_free. cbs is copied (a NULL callback means "not
 * interested"); ctx is passed to every callback and not owned. */
struct csv_reader *csv_reader_new(unsigned char delimiter, size_t max_field,
				  const struct csv_reader_callbacks *cbs, void *ctx);

/* csv_reader_feed tokenizes the next len bytes of input. Returns CSV_OK, or
 * the first error; after an error every later call returns the same error. */
enum csv_error csv_reader_feed(struct csv_reader *r, const char *buf, size_t len);

/* csv_reader_finish ends the input: delivers a last record that has no line
 * end, and reports an unterminated quote. Returns CSV_OK or the error. */
enum csv_error csv_reader_finish(struct csv_reader *r);

/* csv_reader_line returns the 1-based physical line the reader is on. After
 * an error it is the line where the problem is: for an unterminated quote or
 * a field too large, the line where that field started; for text after a
 * closing quote, the line of the offending byte. CRLF is one line end even
 * when a chunk boundary splits it. */
uint64_t csv_reader_line(const struct csv_reader *r);

/* csv_reader_free frees r and its buffer. NULL is allowed. */
void csv_reader_free(struct csv_reader *r);

/* csv_error_code returns a stable machine-readable name for e (static
 * storage), e.g. "unterminated_quote". */
const char *csv_error_code(enum csv_error e);

/* csv_error_message returns a human sentence for e (static storage). */
const char *csv_error_message(enum csv_error e);

#endif
