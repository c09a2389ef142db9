/*
 * column_stats — per-column statistics in one pass. See column_stats.h for
 * the type rules and what is kept.
 */
#include "column_stats.h"

#include <float.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

/* The types every non-empty cell so far satisfies (text always holds). */
enum {
	COLUMN_CAN_INTEGER = 1u << 0,
	COLUMN_CAN_FLOAT = 1u << 1,
	COLUMN_CAN_BOOLEAN = 1u << 2,
	COLUMN_CAN_DATE = 1u << 3,
	COLUMN_CAN_ALL = (1u << 4) - 1,
};

/* What one cell is: the most specific type it satisfies. The families
 * (numbers, booleans, dates) exclude each other, so one cell has one kind. */
enum cell_kind {
	CELL_INTEGER,
	CELL_FLOAT,
	CELL_BOOLEAN,
	CELL_DATE,
	CELL_TEXT,
	CELL_NOMEM = -1, /* a buffer could not grow */
};

/* The candidate bits a cell of each kind leaves standing. */
static const unsigned cell_keeps[] = {
	[CELL_INTEGER] = COLUMN_CAN_INTEGER | COLUMN_CAN_FLOAT,
	[CELL_FLOAT] = COLUMN_CAN_FLOAT,
	[CELL_BOOLEAN] = COLUMN_CAN_BOOLEAN,
	[CELL_DATE] = COLUMN_CAN_DATE,
	[CELL_TEXT] = 0,
};

/* ---- Eight bytes at a time ----------------------------------------------- */

/* Most cells are a few bytes long, so the scans below test and convert up
 * to eight bytes with a handful of word operations instead of a loop with
 * a branch per byte. A word holds s[0] in its lowest byte on any machine. */
#define WORD_ONES 0x0101010101010101ull

/* word_load returns the first min(len, 8) bytes at s as a word, s[0] in
 * the lowest byte and the bytes past len zero. It reads only inside s:
 * short cells with overlapping loads. */
static inline uint64_t word_load(const char *s, size_t len)
{
	const bool little = __BYTE_ORDER__ == __ORDER_LITTLE_ENDIAN__;

	if (len >= 8) {
		uint64_t w;
		memcpy(&w, s, 8);
		return little ? w : __builtin_bswap64(w);
	}
	if (len >= 4) {
		uint32_t head, tail;
		memcpy(&head, s, 4);
		memcpy(&tail, s + len - 4, 4);
		if (!little) {
			head = __builtin_bswap32(head);
			tail = __builtin_bswap32(tail);
		}
		return (uint64_t)head | (uint64_t)tail << (8 * (len - 4));
	}
	if (len == 0)
		return 0;
	return (uint64_t)(unsigned char)s[0] | (uint64_t)(unsigned char)s[len >> 1] << (8 * (len >> 1)) |
	       (uint64_t)(unsigned char)s[len - 1] << (8 * (len - 1));
}

/* word_nondigits returns a word that is zero exactly in the bytes of w
 * that are ASCII digits, up to its lowest non-digit byte (which is
 * non-zero); bytes above that may be wrong. A byte is a digit when its
 * high nibble is 3 and stays 3 once 6 is added ('9' + 6 is 0x3F, ':' + 6
 * is 0x40). Adding 6 carries only out of a byte of 0xFA or more, which is
 * no digit, and only upwards: never into a byte below the first non-digit. */
static inline uint64_t word_nondigits(uint64_t w)
{
	const uint64_t high = 0xF0 * WORD_ONES, threes = 0x30 * WORD_ONES;

	return ((w & high) ^ threes) | (((w + 6 * WORD_ONES) & high) ^ threes);
}

/* word_digit_run returns how many of w's lowest bytes are digits, 0 to 8. */
static inline unsigned word_digit_run(uint64_t w)
{
	uint64_t t = word_nondigits(w);

	return t ? (unsigned)__builtin_ctzll(t) >> 3 : 8;
}

/* word_digits_value returns the number the k (1..8) lowest bytes of w
 * write in decimal, the lowest byte the most significant digit. The k
 * digits are moved to the top of the word, so that the bytes below them
 * read as leading zeros; then neighbouring digits are combined into pairs,
 * quadruples and the whole in three multiplications. */
static inline uint64_t word_digits_value(uint64_t w, unsigned k)
{
	w <<= 8 * (8 - k);
	w = ((w & 0x0F * WORD_ONES) * (10 * 256 + 1)) >> 8;
	w = ((w & 0x00FF00FF00FF00FFull) * (100 * 65536 + 1)) >> 16;
	return ((w & 0x0000FFFF0000FFFFull) * (10000 * 4294967296ull + 1)) >> 32;
}

/* ---- Owned byte strings --------------------------------------------------- */

/* bytes_reserve makes room for need bytes in b. Returns 0, or -1 when out
 * of memory (b unchanged). Capacity at least doubles when it grows, so a
 * column whose greatest value keeps getting longer reallocates O(log n)
 * times, and stays below twice the longest cell. */
static int bytes_reserve(struct column_bytes *b, size_t need)
{
	if (need <= b->cap)
		return 0;
	size_t cap = b->cap * 2 > need ? b->cap * 2 : need;
	if (cap < 32)
		cap = 32;
	char *data = realloc(b->data, cap);
	if (!data)
		return -1;
	b->data = data;
	b->cap = cap;
	return 0;
}

/* bytes_key returns the first eight bytes of the non-empty s as a
 * big-endian number, zero-padded: comparing keys as integers compares
 * those bytes in order. */
static inline uint64_t bytes_key(const char *s, size_t len)
{
	return __builtin_bswap64(word_load(s, len));
}

/* bytes_assign makes b a copy of the len bytes at s, whose key is key.
 * Returns 0, or -1 when out of memory (b unchanged). */
static int bytes_assign(struct column_bytes *b, const char *s, size_t len, uint64_t key)
{
	if (bytes_reserve(b, len) != 0)
		return -1;
	memcpy(b->data, s, len);
	b->len = len;
	b->key = key;
	return 0;
}

/* bytes_compare orders the non-empty b against the non-empty s (whose key
 * is key) bytewise, a prefix first: <0, 0, >0. Equal keys mean equal first
 * eight bytes (or a zero-padded prefix), so only then do the lengths or
 * the rest decide. */
static inline int bytes_compare(const struct column_bytes *b, const char *s, size_t len, uint64_t key)
{
	if (b->key != key)
		return b->key < key ? -1 : 1;
	if (b->len > 8 && len > 8) {
		size_t n = b->len < len ? b->len : len;
		int cmp = memcmp(b->data + 8, s + 8, n - 8);
		if (cmp != 0)
			return cmp;
	}
	return (b->len > len) - (b->len < len);
}

/* ---- Numbers -------------------------------------------------------------- */

/* Powers of ten that a double holds exactly (5^22 < 2^53). */
static const double pow10_exact[] = {
	1e0, 1e1, 1e2, 1e3, 1e4, 1e5, 1e6, 1e7, 1e8, 1e9, 1e10, 1e11,
	1e12, 1e13, 1e14, 1e15, 1e16, 1e17, 1e18, 1e19, 1e20, 1e21, 1e22,
};

/* A cell scanned as a number. */
struct number {
	bool negative;
	bool integer;       /* no point and no exponent */
	bool overflow;      /* more digits than mantissa holds */
	uint64_t mantissa;  /* every digit, point removed, while !overflow */
	int64_t exponent;   /* value = mantissa * 10^exponent */
};

/* number_digits consumes ASCII digits from *p on (up to end), appending
 * them to *m modulo 2^64, and returns where they stop. Up to 19 digits
 * cannot wrap; number_scan rechecks longer mantissas. */
static inline const char *number_digits(const char *p, const char *end, uint64_t *m)
{
	uint64_t v = *m;
	unsigned d;

	while (p < end && (d = (unsigned)((unsigned char)*p - '0')) <= 9) {
		v = v * 10 + d;
		p++;
	}
	*m = v;
	return p;
}

/* number_exact_mantissa recomputes n->mantissa from the digits between
 * from and to (a '.' among them is skipped), setting n->overflow when they
 * do not fit in 64 bits. For mantissas of more than 19 digits only. */
static void number_exact_mantissa(const char *from, const char *to, struct number *n)
{
	uint64_t m = 0;

	for (; from < to; from++) {
		unsigned d = (unsigned)((unsigned char)*from - '0');
		if (d > 9)
			continue;
		if (m > (UINT64_MAX - d) / 10) {
			n->overflow = true;
			return;
		}
		m = m * 10 + d;
	}
	n->mantissa = m;
}

/* number_exponent consumes "e[+-]digits" at *p into n->exponent and
 * returns where it stops, or NULL when no digit follows the e. Huge
 * exponents are clamped: the value is then 0 or out of range, which
 * strtod decides. */
static const char *number_exponent(const char *p, const char *end, struct number *n)
{
	bool negative = false;
	int64_t e = 0;

	p++;
	if (p < end && (*p == '+' || *p == '-'))
		negative = *p++ == '-';
	const char *start = p;
	for (; p < end && (unsigned)((unsigned char)*p - '0') <= 9; p++)
		if (e < 100000)
			e = e * 10 + (*p - '0');
	n->exponent += negative ? -e : e;
	return p > start ? p : NULL;
}

/* number_mantissa_bytes reads digits[.digits] from p on into n (mantissa,
 * exponent, integer, overflow) and *digits, a byte at a time; returns
 * where it stops. */
static const char *number_mantissa_bytes(const char *p, const char *end, struct number *n,
					 size_t *digits)
{
	const char *first = p;

	p = number_digits(p, end, &n->mantissa);
	*digits = (size_t)(p - first);
	n->integer = p == end;
	if (p < end && *p == '.') {
		const char *fraction = ++p;
		p = number_digits(p, end, &n->mantissa);
		n->exponent = -(int64_t)(p - fraction);
		*digits += (size_t)(p - fraction);
	}
	if (*digits > 19)
		number_exact_mantissa(first, p, n);
	return p;
}

/* number_mantissa_word is number_mantissa_bytes for at most eight bytes
 * (so at most eight digits, which cannot overflow): they are loaded as one
 * word, the runs of digits found without a loop, the point's byte cut out
 * so that the digits are contiguous, and all of them converted at once. */
static const char *number_mantissa_word(const char *p, const char *end, struct number *n,
					size_t *digits)
{
	uint64_t w = word_load(p, (size_t)(end - p)); /* bytes past end read as zero: no digit */
	unsigned k = word_digit_run(w), total = k;
	uint64_t mantissa_bytes = w;

	p += k;
	n->integer = p == end;
	if (p < end && *p == '.') { /* then k <= 7 */
		uint64_t rest = k < 7 ? w >> (8 * (k + 1)) : 0; /* the bytes after the point */
		unsigned f = word_digit_run(rest);
		mantissa_bytes = (w & ((1ull << (8 * k)) - 1)) | rest << (8 * k);
		n->exponent = -(int64_t)f;
		total += f;
		p += 1 + f;
	}
	n->mantissa = total ? word_digits_value(mantissa_bytes, total) : 0;
	*digits = total;
	return p;
}

/* number_scan reads s as [+-]digits[.digits][e[+-]digits] with at least one
 * mantissa digit. Returns true and fills *n when all of s matches. Most
 * numbers in CSV are short enough for number_mantissa_word. */
static bool number_scan(const char *s, size_t len, struct number *n)
{
	const char *p = s, *end = s + len;
	size_t digits;

	memset(n, 0, sizeof *n);
	if (*p == '+' || *p == '-')
		n->negative = *p++ == '-';
	if (end - p <= 8)
		p = number_mantissa_word(p, end, n, &digits);
	else
		p = number_mantissa_bytes(p, end, n, &digits);
	if (digits == 0)
		return false;
	if (p < end && (*p | 0x20) == 'e' && !(p = number_exponent(p, end, n)))
		return false;
	return p == end;
}

/* number_to_int64 stores the integer n in *out when it fits in int64. */
static bool number_to_int64(const struct number *n, int64_t *out)
{
	const uint64_t magnitude_min = (uint64_t)INT64_MAX + 1;

	if (n->overflow || n->mantissa > (n->negative ? magnitude_min : (uint64_t)INT64_MAX))
		return false;
	if (!n->negative)
		*out = (int64_t)n->mantissa;
	else if (n->mantissa == magnitude_min)
		*out = INT64_MIN;
	else
		*out = -(int64_t)n->mantissa;
	return true;
}

/* number_fast computes n exactly with one IEEE operation when Clinger's
 * conditions hold (mantissa and power of ten both exact doubles, and no
 * extended-precision evaluation). Returns false when they do not. */
static bool number_fast(const struct number *n, double *out)
{
	if (FLT_EVAL_METHOD != 0 || n->overflow || n->mantissa > (1ull << 53) ||
	    n->exponent < -22 || n->exponent > 22)
		return false;
	double m = (double)n->mantissa;
	double v = n->exponent < 0 ? m / pow10_exact[-n->exponent] : m * pow10_exact[n->exponent];
	*out = n->negative ? -v : v;
	return true;
}

/* number_slow parses s with strtod through a NUL-terminated copy: on the
 * stack when short, else in c->scratch. Returns 0, or -1 out of memory. */
static int number_slow(struct column_stats *c, const char *s, size_t len, double *out)
{
	char small[64];
	char *buf = small;

	if (len >= sizeof small) {
		if (bytes_reserve(&c->scratch, len + 1) != 0)
			return -1;
		buf = c->scratch.data;
	}
	memcpy(buf, s, len);
	buf[len] = '\0';
	*out = strtod(buf, NULL);
	return 0;
}

/* number_parse says what kind of number s is (CELL_INTEGER, CELL_FLOAT or
 * CELL_TEXT for no number) and stores its value in *integer and *real, or
 * returns CELL_NOMEM. */
static int number_parse(struct column_stats *c, const char *s, size_t len,
			int64_t *integer, double *real)
{
	struct number n;

	if (!number_scan(s, len, &n))
		return CELL_TEXT;
	if (n.integer && number_to_int64(&n, integer)) {
		*real = (double)*integer;
		return CELL_INTEGER;
	}
	if (!number_fast(&n, real) && number_slow(c, s, len, real) != 0)
		return CELL_NOMEM;
	return isfinite(*real) ? CELL_FLOAT : CELL_TEXT;
}

/* column_add_number adds s to the numeric statistics when it is a number.
 * Returns its kind (CELL_TEXT when it is not a number) or CELL_NOMEM.
 * Welford's update: mean moves by delta/n, and m2 gains delta times the
 * distance to the new mean; it never cancels the way sum-of-squares does.
 * While a column is numeric, every non-empty cell so far went through
 * here, so count is Welford's n. */
static int column_add_number(struct column_stats *c, const char *s, size_t len)
{
	int64_t integer = 0;
	double real;
	int kind = number_parse(c, s, len, &integer, &real);

	if (kind != CELL_INTEGER && kind != CELL_FLOAT)
		return kind;
	if (kind == CELL_INTEGER) {
		if (integer < c->int_min)
			c->int_min = integer;
		if (integer > c->int_max)
			c->int_max = integer;
	}
	if (real < c->real_min)
		c->real_min = real;
	if (real > c->real_max)
		c->real_max = real;
	double delta = real - c->mean;
	c->mean += delta / (double)c->count;
	c->m2 += delta * (real - c->mean);
	return kind;
}

/* ---- Booleans and dates --------------------------------------------------- */

/* cell_is_boolean says whether s is "true" or "false" in any letter case,
 * comparing the cell as one word. b | 0x20 equals a lower-case letter only
 * for that letter and its upper case, so the test is exact. */
static bool cell_is_boolean(const char *s, size_t len)
{
	const uint64_t word_true = 't' | 'r' << 8 | 'u' << 16 | (uint64_t)'e' << 24;
	const uint64_t word_false = 'f' | 'a' << 8 | 'l' << 16 | (uint64_t)'s' << 24 | (uint64_t)'e' << 32;

	if (len != 4 && len != 5)
		return false;
	uint64_t lower = word_load(s, len) | (0x20 * WORD_ONES & ((1ull << (8 * len)) - 1));
	return lower == (len == 4 ? word_true : word_false);
}

/* days_in_month returns the length of month (1..12) of year, proleptic
 * Gregorian. */
static unsigned days_in_month(unsigned year, unsigned month)
{
	static const unsigned char days[12] = {31, 28, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31};
	bool leap = (year % 4 == 0 && year % 100 != 0) || year % 400 == 0;

	return month == 2 && leap ? 29 : days[month - 1];
}

/* cell_is_date says whether s is YYYY-MM-DD naming a real day. Its first
 * eight bytes are tested as one word, the dashes replaced by '0' so that
 * one digit test covers the rest. */
static bool cell_is_date(const char *s, size_t len)
{
	const uint64_t dash_bytes = 0xFFull << 32 | 0xFFull << 56;

	if (len != 10)
		return false;
	uint64_t w = word_load(s, 8);
	if ((w & dash_bytes) != ('-' * WORD_ONES & dash_bytes))
		return false;
	w = (w & ~dash_bytes) | ('0' * WORD_ONES & dash_bytes);
	uint64_t day_word = word_load(s + 8, 2);
	if (word_digit_run(w) != 8 || word_digit_run(day_word) < 2)
		return false;
	unsigned year = (unsigned)word_digits_value(w, 4);
	unsigned month = (unsigned)word_digits_value(w >> 40, 2);
	unsigned day = (unsigned)word_digits_value(day_word, 2);
	return month >= 1 && month <= 12 && day >= 1 && day <= days_in_month(year, month);
}

/* ---- Cells ---------------------------------------------------------------- */

/* column_classify returns the kind of the non-empty cell s among the types
 * c can still be, adding numbers to the numeric statistics, or CELL_NOMEM.
 * After the first cell at most one family is still possible, so at most
 * one test runs. */
static int column_classify(struct column_stats *c, const char *s, size_t len)
{
	if (c->candidates & COLUMN_CAN_FLOAT) {
		int kind = column_add_number(c, s, len);
		if (kind != CELL_TEXT)
			return kind;
	}
	if ((c->candidates & COLUMN_CAN_BOOLEAN) && cell_is_boolean(s, len))
		return CELL_BOOLEAN;
	if ((c->candidates & COLUMN_CAN_DATE) && cell_is_date(s, len))
		return CELL_DATE;
	return CELL_TEXT;
}

/* count_code_points counts the code points of valid UTF-8: the bytes that
 * are not continuation bytes (10xxxxxx). Eight bytes at a time, since text
 * cells take this path on every cell: a continuation byte has bit 7 set and
 * bit 6 clear, and the multiply sums the eight 0/1 flags into the top byte.
 * (utf8_count_code_points says the same; this copy is inlined here.) */
static uint64_t count_code_points(const char *s, size_t len)
{
	const uint64_t highs = 0x8080808080808080ull, ones = 0x0101010101010101ull;
	uint64_t continuation = 0;
	size_t i = 0;

	for (; i + 8 <= len; i += 8) {
		uint64_t w;
		memcpy(&w, s + i, 8);
		continuation += (((w & ~(w << 1) & highs) >> 7) * ones) >> 56;
	}
	if (i < len) { /* the last 0..7 bytes, zero-padded: a zero is no continuation */
		uint64_t w = word_load(s + i, len - i);
		continuation += (((w & ~(w << 1) & highs) >> 7) * ones) >> 56;
	}
	return len - continuation;
}

/* column_track_extremes keeps copies of the bytewise least and greatest
 * cells. Returns 0, or -1 out of memory. */
static int column_track_extremes(struct column_stats *c, const char *s, size_t len)
{
	uint64_t key = bytes_key(s, len);

	if (c->count == 1) {
		if (bytes_assign(&c->least, s, len, key) != 0)
			return -1;
		return bytes_assign(&c->greatest, s, len, key);
	}
	if (bytes_compare(&c->greatest, s, len, key) < 0)
		return bytes_assign(&c->greatest, s, len, key);
	if (bytes_compare(&c->least, s, len, key) > 0)
		return bytes_assign(&c->least, s, len, key);
	return 0;
}

void column_stats_init(struct column_stats *c)
{
	memset(c, 0, sizeof *c);
	c->candidates = COLUMN_CAN_ALL;
	c->int_min = INT64_MAX;
	c->int_max = INT64_MIN;
	c->real_min = INFINITY;
	c->real_max = -INFINITY;
	c->min_length = UINT64_MAX;
	hll_init(&c->distinct);
}

int column_stats_add(struct column_stats *c, const char *data, size_t len)
{
	int kind = CELL_TEXT;

	if (len == 0) {
		c->empty++;
		return 0;
	}
	c->count++;
	if (c->candidates) {
		kind = column_classify(c, data, len);
		if (kind == CELL_NOMEM)
			return -1;
		c->candidates &= cell_keeps[kind];
	}
	/* Numbers, booleans and dates are ASCII: one byte per code point. */
	uint64_t length = kind == CELL_TEXT ? count_code_points(data, len) : len;
	if (length < c->min_length)
		c->min_length = length;
	if (length > c->max_length)
		c->max_length = length;
	hll_add(&c->distinct, data, len);
	return column_track_extremes(c, data, len);
}

/* ---- Results -------------------------------------------------------------- */

/* column_stats_type returns the first type every non-empty cell satisfies. */
static enum column_type column_stats_type(const struct column_stats *c)
{
	if (c->count == 0)
		return COLUMN_EMPTY;
	if (c->candidates & COLUMN_CAN_INTEGER)
		return COLUMN_INTEGER;
	if (c->candidates & COLUMN_CAN_FLOAT)
		return COLUMN_FLOAT;
	if (c->candidates & COLUMN_CAN_BOOLEAN)
		return COLUMN_BOOLEAN;
	if (c->candidates & COLUMN_CAN_DATE)
		return COLUMN_DATE;
	return COLUMN_TEXT;
}

/* summarize_extremes fills min and max by type: int64, double, or the
 * least and greatest strings. */
static void summarize_extremes(const struct column_stats *c, struct column_summary *out)
{
	if (out->type == COLUMN_INTEGER) {
		out->min = (struct column_value){.kind = COLUMN_VALUE_INTEGER, .integer = c->int_min};
		out->max = (struct column_value){.kind = COLUMN_VALUE_INTEGER, .integer = c->int_max};
	} else if (out->type == COLUMN_FLOAT) {
		out->min = (struct column_value){.kind = COLUMN_VALUE_REAL, .real = c->real_min};
		out->max = (struct column_value){.kind = COLUMN_VALUE_REAL, .real = c->real_max};
	} else {
		out->min = (struct column_value){.kind = COLUMN_VALUE_STRING,
						 .str = c->least.data, .len = c->least.len};
		out->max = (struct column_value){.kind = COLUMN_VALUE_STRING,
						 .str = c->greatest.data, .len = c->greatest.len};
	}
}

/* summarize_moments fills mean and stddev for numeric columns. A value that
 * overflowed a double (cells near +-1e308) is left out: JSON has no inf. */
static void summarize_moments(const struct column_stats *c, struct column_summary *out)
{
	if (out->type != COLUMN_INTEGER && out->type != COLUMN_FLOAT)
		return;
	out->mean = c->mean;
	out->has_mean = isfinite(c->mean);
	if (c->count >= 2) {
		out->stddev = sqrt(c->m2 / (double)(c->count - 1));
		out->has_stddev = isfinite(out->stddev);
	}
}

void column_stats_summarize(const struct column_stats *c, struct column_summary *out)
{
	memset(out, 0, sizeof *out);
	out->type = column_stats_type(c);
	out->count = c->count;
	out->empty = c->empty;
	out->distinct_approx = hll_estimate(&c->distinct);
	if (c->count == 0)
		return;
	out->has_length = true;
	out->min_length = c->min_length;
	out->max_length = c->max_length;
	summarize_extremes(c, out);
	summarize_moments(c, out);
}

void column_stats_free(struct column_stats *c)
{
	free(c->least.data);
	free(c->greatest.data);
	free(c->scratch.data);
	c->least = c->greatest = c->scratch = (struct column_bytes){0};
}

const char *column_type_name(enum column_type type)
{
	static const char *const names[] = {
		[COLUMN_EMPTY] = "empty",   [COLUMN_INTEGER] = "integer",
		[COLUMN_FLOAT] = "float",   [COLUMN_BOOLEAN] = "boolean",
		[COLUMN_DATE] = "date",     [COLUMN_TEXT] = "text",
	};
	return (unsigned)type < sizeof names / sizeof names[0] ? names[type] : "text";
}
