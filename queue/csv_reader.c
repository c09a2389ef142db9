/*
 * csv_reader.c — the streaming tokenizer of csv_reader.h.
 *
 * Sections: scanning (finding the next byte that matters), the field
 * buffer, delivering fields and records, one step function per state, and
 * the public entry points.
 *
 * The reader is a five-state machine:
 *
 *   RECORD_START  between records; CR and LF here are blank lines, skipped
 *   FIELD_START   a field begins at the next byte (quoted if it is `"`)
 *   UNQUOTED      inside an unquoted field; ends at delimiter, CR or LF
 *   QUOTED        inside a quoted field; only `"` matters (CR/LF are
 *                 data but are counted as line ends)
 *   QUOTE_SEEN    a `"` ended a run of quoted data: `"` next makes it a
 *                 literal quote, delimiter/CR/LF end the field, anything
 *                 else is CSV_ERR_AFTER_QUOTE
 *
 * The loop in tokenize dispatches on the state, but the common paths do
 * not go back to it for every field: step_unquoted runs on through a row
 * of unquoted fields, step_quoted through doubled quotes, line ends and a
 * row of quoted fields.
 *
 * Within one feed, the data of the current field is the reader's buffer
 * (when in_buf) followed by the span cur.seg..cur.seg_end of the chunk.
 * When a field ends inside the chunk it started in and never hit a doubled
 * quote, in_buf is false and the callback gets a pointer into the chunk.
 * At the end of a chunk the pending span is appended to the buffer.
 *
 * Every error is found at a byte position that does not depend on how the
 * input was cut into chunks: max_field is checked each time a scan stops,
 * which is before any later byte can cause another event. Feeding an input
 * whole or one byte at a time gives the same callbacks and the same error.
 *
 * Lines: a CR, or an LF not preceded by CR, ends a physical line, inside
 * quotes as well as outside. The line counter moves past a line end as
 * soon as its first byte is read, so csv_reader_line is always the line of
 * the next byte.
 *
 * Error lines: CSV_ERR_AFTER_QUOTE and CSV_ERR_ABORTED report the line of
 * the byte being read; CSV_ERR_UNTERMINATED_QUOTE and
 * CSV_ERR_FIELD_TOO_LARGE report the line on which the field started,
 * which is where a person looks for the opening quote or the long value.
 */
#include "csv_reader.h"

#include <stdlib.h>
#include <string.h>

enum csv_state {
	S_RECORD_START,
	S_FIELD_START,
	S_UNQUOTED,
	S_QUOTED,
	S_QUOTE_SEEN,
};

/* The BOM is matched a byte at a time, so that it may be split across
 * feeds; bom_seen counts its bytes matched so far, BOM_DECIDED ends that. */
static const unsigned char utf8_bom[3] = { 0xef, 0xbb, 0xbf };
#define BOM_DECIDED 4

#define WORD_LOW_BITS UINT64_C(0x0101010101010101)
#define WORD_HIGH_BITS UINT64_C(0x8080808080808080)
#define WORD_OF(byte) (WORD_LOW_BITS * (unsigned char)(byte))

struct csv_reader {
	struct csv_reader_callbacks cbs;
	void *ctx;
	size_t max_field;
	unsigned char delimiter;

	enum csv_state state;
	enum csv_error err;
	unsigned bom_seen;
	bool prev_cr;     /* the last byte of the previous chunk was CR */
	bool in_buf;      /* part of the current field is in buf */
	/* buf_len is 0 unless in_buf. */

	uint64_t line;        /* line of the next byte */
	uint64_t record_line; /* line where the current record started */
	uint64_t field_line;  /* line where the current field started */
	uint64_t err_line;

	char *buf; /* field assembly, owned, grows up to max_field */
	size_t buf_len, buf_cap;

	/* special_unquoted marks delimiter, CR, LF; special_quoted marks `"`,
	 * CR, LF: the bytes where scanning an unquoted or quoted field stops. */
	bool special_unquoted[256];
	bool special_quoted[256];
	uint64_t delimiter_word; /* the delimiter in every byte of a word */
};

/* cursor is the reader's view of the chunk being fed; it lives on the
 * stack of one feed, and holds the state while the chunk is read so that
 * the compiler can keep it in a register. seg..seg_end is field data not
 * yet in buf. */
struct cursor {
	const unsigned char *begin, *p, *end;
	const unsigned char *seg, *seg_end;
	enum csv_state state;
};

/* ---- Scanning ------------------------------------------------------------ */

/* word_has_byte returns a word whose high bit is set in the lowest byte of
 * w that equals the byte filling pattern, or 0 when none does. Higher bits
 * may be set wrongly (a borrow only runs upwards from a true match), the
 * lowest one never is. */
static inline uint64_t word_has_byte(uint64_t w, uint64_t pattern)
{
	uint64_t x = w ^ pattern;

	return (x - WORD_LOW_BITS) & ~x & WORD_HIGH_BITS;
}

/* load_le64 returns the eight bytes at p with p[0] in the lowest byte,
 * whatever the machine's byte order. Compilers turn this into one load on
 * little-endian machines. */
static inline uint64_t load_le64(const unsigned char *p)
{
	return (uint64_t)p[0] | (uint64_t)p[1] << 8 | (uint64_t)p[2] << 16 |
	       (uint64_t)p[3] << 24 | (uint64_t)p[4] << 32 | (uint64_t)p[5] << 40 |
	       (uint64_t)p[6] << 48 | (uint64_t)p[7] << 56;
}

/* scan returns the first position in p..end whose byte is CR, LF or the
 * byte filling pattern, or end. special marks the same three bytes; it
 * serves the last few bytes of the chunk, where no whole word is left.
 * Eight bytes are tested at a time, and the lowest flagged byte of a word
 * is the first match. */
static inline const unsigned char *scan(const unsigned char *p, const unsigned char *end,
					const bool *special, uint64_t pattern)
{
	while (end - p >= 8) {
		uint64_t w = load_le64(p);
		uint64_t hits = word_has_byte(w, pattern) | word_has_byte(w, WORD_OF('\r')) |
				word_has_byte(w, WORD_OF('\n'));

		if (hits)
			return p + (__builtin_ctzll(hits) >> 3);
		p += 8;
	}
	while (p < end && !special[*p])
		p++;
	return p;
}

/* ---- Field buffer -------------------------------------------------------- */

/* buf_append appends n bytes to the field buffer. The callers have checked
 * that the field stays within max_field, so the buffer never grows past it.
 * Returns 0, or -1 when out of memory (the buffer is unchanged). */
static int buf_append(struct csv_reader *r, const unsigned char *data, size_t n)
{
	size_t need = r->buf_len + n;

	if (need > r->buf_cap) {
		size_t cap = r->buf_cap ? r->buf_cap * 2 : 256;
		char *grown;

		if (cap < need)
			cap = need;
		if (cap > r->max_field)
			cap = r->max_field;
		grown = realloc(r->buf, cap);
		if (!grown)
			return -1;
		r->buf = grown;
		r->buf_cap = cap;
	}
	if (n)
		memcpy(r->buf + r->buf_len, data, n);
	r->buf_len = need;
	return 0;
}

/* field_length returns how long the current field is when its pending span
 * runs from cur->seg to upto. */
static inline size_t field_length(const struct csv_reader *r, const struct cursor *cur,
				  const unsigned char *upto)
{
	return r->buf_len + (size_t)(upto - cur->seg);
}

/* ---- Delivering ---------------------------------------------------------- */

/* fail records e as the reader's sticky error, found on line, and returns
 * it. */
static enum csv_error fail(struct csv_reader *r, enum csv_error e, uint64_t line)
{
	r->err = e;
	r->err_line = line;
	return e;
}

/* emit_callback hands len bytes at data to the field callback. Returns
 * CSV_OK or CSV_ERR_ABORTED. */
static inline enum csv_error emit_callback(struct csv_reader *r, const char *data, size_t len)
{
	if (r->cbs.field && r->cbs.field(r->ctx, data, len) != 0)
		return fail(r, CSV_ERR_ABORTED, r->line);
	return CSV_OK;
}

/* emit_buffered is emit_field for a field partly in buf: it appends the
 * last span, hands the whole buffer over and empties it. Out of line: few
 * fields need the buffer. */
__attribute__((noinline))
static enum csv_error emit_buffered(struct csv_reader *r, const unsigned char *seg, size_t len)
{
	if (buf_append(r, seg, len) != 0)
		return fail(r, CSV_ERR_NOMEM, r->field_line);
	r->in_buf = false;
	len = r->buf_len;
	r->buf_len = 0;
	return emit_callback(r, r->buf ? r->buf : "", len);
}

/* emit_field hands the field whose last span is seg..seg_end (after what
 * is in buf) to the field callback and empties the buffer. Returns CSV_OK
 * or the error. Inline: it runs once per field, and most fields lie whole
 * in the chunk, so that the callback gets a pointer into it. */
static inline enum csv_error emit_field(struct csv_reader *r, const unsigned char *seg,
					const unsigned char *seg_end)
{
	size_t len = (size_t)(seg_end - seg);

	if (__builtin_expect(r->in_buf, 0))
		return emit_buffered(r, seg, len);
	return emit_callback(r, (const char *)seg, len);
}

/* emit_record_end tells the callback that the current record is complete.
 * Returns CSV_OK or CSV_ERR_ABORTED. */
static enum csv_error emit_record_end(struct csv_reader *r)
{
	if (r->cbs.record_end && r->cbs.record_end(r->ctx, r->record_line) != 0)
		return fail(r, CSV_ERR_ABORTED, r->line);
	return CSV_OK;
}

/* count_line_end moves the line counter past the CR or LF at `at`, unless it
 * is the LF of a CRLF whose CR was already counted (that CR may have been
 * the last byte of the previous chunk). */
static inline void count_line_end(struct csv_reader *r, const struct cursor *cur,
				  const unsigned char *at)
{
	if (*at == '\n') {
		bool after_cr = at > cur->begin ? at[-1] == '\r' : r->prev_cr;

		if (after_cr)
			return;
	}
	r->line++;
}

/* open_field opens the field at cur->p (before cur->end), consuming its
 * opening quote when it has one. */
static inline void open_field(struct csv_reader *r, struct cursor *cur)
{
	r->field_line = r->line;
	if (*cur->p == '"') {
		cur->p++;
		cur->state = S_QUOTED;
	} else {
		cur->state = S_UNQUOTED;
	}
	cur->seg = cur->p;
}

/* end_field is called with cur->p just past the byte that ended the field
 * (delimiter, CR or LF): it emits the field, and the record too when the
 * byte was a line end. Returns CSV_OK or the error. */
static inline enum csv_error end_field(struct csv_reader *r, struct cursor *cur)
{
	const unsigned char *at = cur->p - 1;
	enum csv_error e = emit_field(r, cur->seg, cur->seg_end);

	if (e != CSV_OK)
		return e;
	if (*at == r->delimiter) {
		if (cur->p < cur->end)
			open_field(r, cur);
		else
			cur->state = S_FIELD_START;
		return CSV_OK;
	}
	cur->state = S_RECORD_START;
	e = emit_record_end(r);
	count_line_end(r, cur, at);
	return e;
}

/* ---- States -------------------------------------------------------------- */

/* Each step reads from cur->p (which is before cur->end), moves it on and
 * sets cur->state. Errors go to r->err through fail. */

/* step_record_start skips one blank-line byte, or starts a record. */
static inline void step_record_start(struct csv_reader *r, struct cursor *cur)
{
	if (*cur->p == '\r' || *cur->p == '\n') {
		count_line_end(r, cur, cur->p);
		cur->p++;
		return;
	}
	r->record_line = r->line;
	cur->state = S_FIELD_START;
}

/* step_unquoted reads unquoted fields up to the end of the record or of
 * the chunk. Unquoted fields in a row are the bulk of most CSV, so it goes
 * on to the next one itself rather than through the state loop. */
static inline void step_unquoted(struct csv_reader *r, struct cursor *cur)
{
	do {
		cur->p = scan(cur->p, cur->end, r->special_unquoted, r->delimiter_word);
		if (field_length(r, cur, cur->p) > r->max_field) {
			fail(r, CSV_ERR_FIELD_TOO_LARGE, r->field_line);
			return;
		}
		if (cur->p == cur->end)
			return;
		cur->seg_end = cur->p++;
	} while (end_field(r, cur) == CSV_OK && cur->state == S_UNQUOTED);
}

/* after_quote decides what the `"` at cur->seg_end, inside a quoted field,
 * was from the byte at cur->p: the first half of a doubled quote, or the
 * closing quote. */
static inline void after_quote(struct csv_reader *r, struct cursor *cur)
{
	unsigned char c = *cur->p;

	if (c == '"') {
		/* Keep the second quote as the first byte of the next span. */
		if (buf_append(r, cur->seg, (size_t)(cur->seg_end - cur->seg)) != 0) {
			fail(r, CSV_ERR_NOMEM, r->field_line);
			return;
		}
		r->in_buf = true;
		cur->seg = cur->p++;
		cur->state = S_QUOTED;
	} else if (c == r->delimiter || c == '\r' || c == '\n') {
		cur->p++;
		end_field(r, cur);
	} else {
		fail(r, CSV_ERR_AFTER_QUOTE, r->line);
	}
}

/* step_quoted reads quoted data up to the end of the chunk or of the
 * field, and goes on with the next field while that is quoted too. CR and
 * LF are data here; they only move the line counter. */
static inline void step_quoted(struct csv_reader *r, struct cursor *cur)
{
	for (;;) {
		cur->p = scan(cur->p, cur->end, r->special_quoted, WORD_OF('"'));
		if (field_length(r, cur, cur->p) > r->max_field) {
			fail(r, CSV_ERR_FIELD_TOO_LARGE, r->field_line);
			return;
		}
		if (cur->p == cur->end)
			return;
		if (*cur->p != '"') {
			count_line_end(r, cur, cur->p++);
			continue;
		}
		cur->seg_end = cur->p++;
		if (cur->p == cur->end) {
			cur->state = S_QUOTE_SEEN;
			return;
		}
		after_quote(r, cur);
		if (r->err != CSV_OK || cur->state != S_QUOTED)
			return;
	}
}

/* save_pending moves the pending span of a field that continues past the
 * end of the chunk into the buffer. The length check matters when the chunk
 * ended right after a doubled quote, which no scan has counted yet. */
static void save_pending(struct csv_reader *r, const struct cursor *cur)
{
	const unsigned char *upto;

	if (cur->state == S_UNQUOTED || cur->state == S_QUOTED)
		upto = cur->end;
	else if (cur->state == S_QUOTE_SEEN)
		upto = cur->seg_end;
	else
		return;
	if (field_length(r, cur, upto) > r->max_field)
		fail(r, CSV_ERR_FIELD_TOO_LARGE, r->field_line);
	else if (buf_append(r, cur->seg, (size_t)(upto - cur->seg)) != 0)
		fail(r, CSV_ERR_NOMEM, r->field_line);
	else
		r->in_buf = true;
}

/* tokenize runs the machine over begin..end (not empty). A field that was
 * open when the chunk started continues with an empty pending span at
 * begin. Returns CSV_OK or the first error. */
static enum csv_error tokenize(struct csv_reader *r, const unsigned char *begin,
			       const unsigned char *end)
{
	struct cursor cur = { begin, begin, end, begin, begin, r->state };

	while (r->err == CSV_OK && cur.p < cur.end) {
		switch (cur.state) {
		case S_RECORD_START: step_record_start(r, &cur); break;
		case S_FIELD_START: open_field(r, &cur); break;
		case S_UNQUOTED: step_unquoted(r, &cur); break;
		case S_QUOTED: step_quoted(r, &cur); break;
		case S_QUOTE_SEEN: after_quote(r, &cur); break;
		}
	}
	if (r->err == CSV_OK)
		save_pending(r, &cur);
	r->state = cur.state;
	r->prev_cr = end[-1] == '\r';
	return r->err;
}

/* ---- Byte order mark ----------------------------------------------------- */

/* skip_bom consumes the bytes of p..end that may still be a BOM at the very
 * start of the input. When the input turns out not to start with one, the
 * bytes held back are tokenized as data. Returns where tokenizing resumes
 * in p..end; check r->err. */
static const unsigned char *skip_bom(struct csv_reader *r, const unsigned char *p,
				     const unsigned char *end)
{
	while (p < end && r->bom_seen < 3 && *p == utf8_bom[r->bom_seen]) {
		r->bom_seen++;
		p++;
	}
	if (r->bom_seen == 3) {
		r->bom_seen = BOM_DECIDED;
	} else if (p < end) {
		unsigned held = r->bom_seen;

		r->bom_seen = BOM_DECIDED;
		if (held)
			tokenize(r, utf8_bom, utf8_bom + held);
	}
	return p;
}

/* ---- Public entry points ------------------------------------------------- */

/* csv_reader_new also returns NULL when the delimiter is `"`, CR or LF:
 * with those the dialect would be ambiguous. */
struct csv_reader *csv_reader_new(unsigned char delimiter, size_t max_field,
				  const struct csv_reader_callbacks *cbs, void *ctx)
{
	struct csv_reader *r;

	if (delimiter == '"' || delimiter == '\r' || delimiter == '\n')
		return NULL;
	r = calloc(1, sizeof *r);
	if (!r)
		return NULL;
	r->cbs = *cbs;
	r->ctx = ctx;
	r->max_field = max_field;
	r->delimiter = delimiter;
	r->delimiter_word = WORD_OF(delimiter);
	r->state = S_RECORD_START;
	r->line = 1;
	r->special_unquoted[delimiter] = true;
	r->special_quoted['"'] = true;
	r->special_unquoted['\r'] = r->special_quoted['\r'] = true;
	r->special_unquoted['\n'] = r->special_quoted['\n'] = true;
	return r;
}

enum csv_error csv_reader_feed(struct csv_reader *r, const char *buf, size_t len)
{
	const unsigned char *p = (const unsigned char *)buf;
	const unsigned char *end;

	if (r->err != CSV_OK || len == 0)
		return r->err;
	end = p + len;
	if (r->bom_seen != BOM_DECIDED) {
		p = skip_bom(r, p, end);
		if (r->err != CSV_OK || p == end)
			return r->err;
	}
	return tokenize(r, p, end);
}

/* csv_reader_finish leaves the reader between records, so a second call
 * delivers nothing more. */
enum csv_error csv_reader_finish(struct csv_reader *r)
{
	static const unsigned char nothing[1];
	enum csv_state state = r->state;

	if (r->err != CSV_OK)
		return r->err;
	if (r->bom_seen != BOM_DECIDED) {
		unsigned held = r->bom_seen;

		r->bom_seen = BOM_DECIDED;
		if (held && tokenize(r, utf8_bom, utf8_bom + held) != CSV_OK)
			return r->err;
		state = r->state;
	}
	if (state == S_QUOTED)
		return fail(r, CSV_ERR_UNTERMINATED_QUOTE, r->field_line);
	if (state == S_RECORD_START)
		return CSV_OK;
	if (state == S_FIELD_START)
		r->field_line = r->line; /* the empty field after a final delimiter */
	r->state = S_RECORD_START;
	if (emit_field(r, nothing, nothing) != CSV_OK)
		return r->err;
	return emit_record_end(r);
}

uint64_t csv_reader_line(const struct csv_reader *r)
{
	return r->err != CSV_OK ? r->err_line : r->line;
}

void csv_reader_free(struct csv_reader *r)
{
	if (!r)
		return;
	free(r->buf);
	free(r);
}

const char *csv_error_code(enum csv_error e)
{
	switch (e) {
	case CSV_OK: return "ok";
	case CSV_ERR_UNTERMINATED_QUOTE: return "unterminated_quote";
	case CSV_ERR_AFTER_QUOTE: return "text_after_quote";
	case CSV_ERR_FIELD_TOO_LARGE: return "field_too_large";
	case CSV_ERR_NOMEM: return "out_of_memory";
	case CSV_ERR_ABORTED: return "aborted";
	}
	return "unknown";
}

const char *csv_error_message(enum csv_error e)
{
	switch (e) {
	case CSV_OK: return "The CSV is well formed.";
	case CSV_ERR_UNTERMINATED_QUOTE:
		return "A quoted field is still open at the end of the input.";
	case CSV_ERR_AFTER_QUOTE:
		return "A closing quote is followed by something other than a delimiter or a line end.";
	case CSV_ERR_FIELD_TOO_LARGE: return "A field is longer than the largest allowed.";
	case CSV_ERR_NOMEM: return "Out of memory while reading a field.";
	case CSV_ERR_ABORTED: return "Reading was stopped by the caller.";
	}
	return "Unknown CSV error.";
}
