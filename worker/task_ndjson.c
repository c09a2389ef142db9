/*
 * task_ndjson — the "ndjson" task: one JSON object per data record, one per
 * line (application/x-ndjson).
 *
 * Each line is {"key1":"cell1","key2":"cell2",...} followed by "\n", keys
 * in column order, every value a JSON string holding exactly the cell's
 * bytes (numbers are not guessed: "007" stays "007"). Keys come from the
 * header record, or are c1, c2, ... with header=false.
 *
 * Decisions:
 *   - Duplicate header names would give duplicate JSON keys, which most
 *     parsers collapse to the last one. A name equal to an earlier key gets
 *     the first free suffix "_2", "_3", ...: a,a,b,a gives a,a_2,b,a_3, and
 *     a,a,a_2 gives a,a_2,a_2_2. A hash set with a next-suffix counter per
 *     key keeps this linear in the number of columns, so a header of 10^5
 *     copies of one name costs no more than 10^5 distinct ones.
 *   - Escaping is written here rather than built with jansson per record:
 *     `"` and `\` get a backslash; \b \f \n \r \t use the short forms, the
 *     other bytes below 0x20 are \u00xx (lower-case hex); everything else,
 *     UTF-8 included, passes through as is (the input is valid UTF-8).
 *     A word-at-a-time scan finds the bytes that need escaping, so plain
 *     runs are copied with one memcpy.
 *   - Output goes through a 64 KiB buffer: task_output.write is called with
 *     exactly 64 KiB each time the buffer fills, and once at finish with the
 *     rest (not at all when nothing is left). A line may span two writes.
 *   - A record whose field count differs from the first record's (which the
 *     upload check prevents) stops the task with "ragged_record"; surplus
 *     fields are skipped until the record ends, so the error names the line.
 *
 * Memory: the 64 KiB buffer, each column's key prefix, and during the
 * header record the raw names. Nothing per record.
 */
#include "task.h"

#include <inttypes.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "hll.h" /* hll_hash, for the set of keys */

#define NDJSON_CHUNK ((size_t)64 * 1024)

/* An owned byte string. */
struct ndjson_text {
	char *data;
	size_t len;
};

struct ndjson {
	struct task_output out;     /* borrowed */
	bool header;
	bool shaped;                /* the first record ended: ncols is final */
	size_t field;               /* index of the next field in this record */
	size_t ncols, cap;
	struct ndjson_text *keys;   /* owned: `{"key":"` for column 0, `,"key":"` after */
	struct ndjson_text *names;  /* owned: header names, only during the first record */
	uint64_t rows;
	char *buf;                  /* owned, NDJSON_CHUNK bytes */
	size_t len;                 /* bytes waiting in buf */
	struct task_error err;      /* why field or record_end stopped */
};

/* ndjson_set_error fills *err with code and a formatted sentence. */
__attribute__((format(printf, 3, 4)))
static void ndjson_set_error(struct task_error *err, const char *code, const char *fmt, ...)
{
	va_list ap;

	snprintf(err->code, sizeof err->code, "%s", code);
	va_start(ap, fmt);
	vsnprintf(err->message, sizeof err->message, fmt, ap);
	va_end(ap);
}

static int ndjson_nomem(struct ndjson *t)
{
	ndjson_set_error(&t->err, "out_of_memory", "The ndjson task ran out of memory.");
	return -1;
}

/* ---- Output buffer -------------------------------------------------------- */

/* ndjson_flush hands the buffered bytes to the output. Returns 0, or -1
 * with t->err set when the output refused them. */
static int ndjson_flush(struct ndjson *t)
{
	if (t->len == 0)
		return 0;
	if (t->out.write(t->out.ctx, t->buf, t->len) != 0) {
		ndjson_set_error(&t->err, "output_failed", "The ndjson result could not be stored.");
		return -1;
	}
	t->len = 0;
	return 0;
}

/* ndjson_put_slow appends n bytes that do not fit in what is left of the
 * buffer, flushing each time it fills. Returns 0, or -1 (see flush). */
static int ndjson_put_slow(struct ndjson *t, const char *p, size_t n)
{
	while (n > 0) {
		size_t k = NDJSON_CHUNK - t->len < n ? NDJSON_CHUNK - t->len : n;
		memcpy(t->buf + t->len, p, k);
		t->len += k;
		p += k;
		n -= k;
		if (t->len == NDJSON_CHUNK && ndjson_flush(t) != 0)
			return -1;
	}
	return 0;
}

/* ndjson_put appends n bytes to the output. Returns 0, or -1 (see flush).
 * The buffer is never left full, so a fitting append needs no flush. */
static inline int ndjson_put(struct ndjson *t, const char *p, size_t n)
{
	if (n < NDJSON_CHUNK - t->len) {
		memcpy(t->buf + t->len, p, n);
		t->len += n;
		return 0;
	}
	return ndjson_put_slow(t, p, n);
}

/* ---- Escaping ------------------------------------------------------------- */

/* For each byte: 0 when it passes through, else the letter after the
 * backslash ('u' for \u00xx). */
static const char ndjson_escapes[256] = {
	['\b'] = 'b', ['\f'] = 'f', ['\n'] = 'n', ['\r'] = 'r', ['\t'] = 't',
	[0x00] = 'u', [0x01] = 'u', [0x02] = 'u', [0x03] = 'u', [0x04] = 'u',
	[0x05] = 'u', [0x06] = 'u', [0x07] = 'u', [0x0b] = 'u', [0x0e] = 'u',
	[0x0f] = 'u', [0x10] = 'u', [0x11] = 'u', [0x12] = 'u', [0x13] = 'u',
	[0x14] = 'u', [0x15] = 'u', [0x16] = 'u', [0x17] = 'u', [0x18] = 'u',
	[0x19] = 'u', [0x1a] = 'u', [0x1b] = 'u', [0x1c] = 'u', [0x1d] = 'u',
	[0x1e] = 'u', [0x1f] = 'u', ['"'] = '"', ['\\'] = '\\',
};

/* ndjson_plain_run returns how many bytes from p on need no escaping. Eight
 * bytes at a time: a word passes when no byte is below 0x20 and none equals
 * '"' or '\' (the classic has-zero-byte test, which has no false negatives);
 * a word that fails is rescanned byte by byte. */
static size_t ndjson_plain_run(const unsigned char *p, size_t n)
{
	const uint64_t ones = 0x0101010101010101ull, highs = 0x8080808080808080ull;
	size_t i = 0;

	for (; i + 8 <= n; i += 8) {
		uint64_t w, quote, slash;
		memcpy(&w, p + i, 8);
		quote = w ^ (ones * '"');
		slash = w ^ (ones * '\\');
		uint64_t hit = ((w - ones * 0x20) & ~w) | ((quote - ones) & ~quote) |
			       ((slash - ones) & ~slash);
		if (hit & highs)
			break;
	}
	while (i < n && !ndjson_escapes[p[i]])
		i++;
	return i;
}

/* ndjson_format_escape writes the escape for byte c (which needs one) to
 * out and returns its length: 2, or 6 for \u00xx. */
static size_t ndjson_format_escape(unsigned char c, char out[6])
{
	static const char hex[] = "0123456789abcdef";
	char e = ndjson_escapes[c];

	out[0] = '\\';
	out[1] = e;
	if (e != 'u')
		return 2;
	memcpy(out + 2, "00", 2);
	out[4] = hex[c >> 4];
	out[5] = hex[c & 15];
	return 6;
}

/* ndjson_put_escaped appends s as the inside of a JSON string. Returns 0,
 * or -1 (see flush). */
static int ndjson_put_escaped(struct ndjson *t, const char *s, size_t len)
{
	char esc[6];
	size_t i = 0;

	while (i < len) {
		size_t run = ndjson_plain_run((const unsigned char *)s + i, len - i);
		if (ndjson_put(t, s + i, run) != 0)
			return -1;
		i += run;
		if (i < len && ndjson_put(t, esc, ndjson_format_escape((unsigned char)s[i++], esc)) != 0)
			return -1;
	}
	return 0;
}

/* ndjson_escape_into writes s escaped to dst, which has room for 6 * len
 * bytes, and returns the bytes written. */
static size_t ndjson_escape_into(char *dst, const char *s, size_t len)
{
	size_t i = 0, out = 0;

	while (i < len) {
		size_t run = ndjson_plain_run((const unsigned char *)s + i, len - i);
		memcpy(dst + out, s + i, run);
		out += run;
		i += run;
		if (i < len)
			out += ndjson_format_escape((unsigned char)s[i++], dst + out);
	}
	return out;
}

/* ---- Keys ----------------------------------------------------------------- */

/* ndjson_make_key sets keys[i] to the prefix of column i named name:
 * `{"name":"` for the first column, `,"name":"` for the others. Returns 0,
 * or -1 out of memory. */
static int ndjson_make_key(struct ndjson_text *key, size_t i, const char *name, size_t len)
{
	char *p = malloc(6 * len + 5);

	if (!p)
		return -1;
	p[0] = i == 0 ? '{' : ',';
	p[1] = '"';
	size_t n = 2 + ndjson_escape_into(p + 2, name, len);
	memcpy(p + n, "\":\"", 3);
	key->data = p;
	key->len = n + 3;
	return 0;
}

/* ndjson_grow makes room for column index i in keys and names. Returns 0,
 * or -1 out of memory. */
static int ndjson_grow(struct ndjson *t, size_t i)
{
	if (i < t->cap)
		return 0;
	size_t cap = t->cap ? t->cap * 2 : 8;
	struct ndjson_text *keys = realloc(t->keys, cap * sizeof *keys);
	if (!keys)
		return -1;
	t->keys = keys;
	struct ndjson_text *names = realloc(t->names, cap * sizeof *names);
	if (!names)
		return -1;
	t->names = names;
	memset(keys + t->cap, 0, (cap - t->cap) * sizeof *keys);
	memset(names + t->cap, 0, (cap - t->cap) * sizeof *names);
	t->cap = cap;
	return 0;
}

/* A set of the keys given so far: open addressing over column indices,
 * each with the next suffix to try when a later name equals that key. */
struct ndjson_slot {
	size_t column; /* SIZE_MAX when empty */
	uint64_t next_suffix;
};

struct ndjson_keyset {
	struct ndjson_slot *slots; /* owned, mask + 1 of them */
	size_t mask;
	const struct ndjson_text *names; /* borrowed: the unique names so far */
};

/* ndjson_keyset_find returns the slot holding s, or the empty slot where s
 * would go. The table is never more than half full. */
static struct ndjson_slot *ndjson_keyset_find(const struct ndjson_keyset *set, const char *s, size_t len)
{
	size_t i = (size_t)hll_hash(s, len) & set->mask;

	for (;; i = (i + 1) & set->mask) {
		struct ndjson_slot *slot = &set->slots[i];
		if (slot->column == SIZE_MAX)
			return slot;
		const struct ndjson_text *n = &set->names[slot->column];
		if (n->len == len && (len == 0 || memcmp(n->data, s, len) == 0))
			return slot;
	}
}

/* ndjson_suffixed replaces *name, which equals the key in slot, with the
 * first "name_K" (K from the slot's counter on) that is not a key yet.
 * Returns 0, or -1 out of memory. */
static int ndjson_suffixed(struct ndjson_keyset *set, struct ndjson_slot *slot, struct ndjson_text *name)
{
	char *s = malloc(name->len + 22);
	size_t len;

	if (!s)
		return -1;
	if (name->len > 0)
		memcpy(s, name->data, name->len);
	do {
		len = name->len + (size_t)sprintf(s + name->len, "_%" PRIu64, slot->next_suffix++);
	} while (ndjson_keyset_find(set, s, len)->column != SIZE_MAX);
	free(name->data);
	name->data = s;
	name->len = len;
	return 0;
}

/* ndjson_unique_names renames t->names[0..ncols) in place so that no two
 * are equal (see the decision above). Returns 0, or -1 out of memory. */
static int ndjson_unique_names(struct ndjson *t)
{
	size_t size = 4;
	while (size < 2 * t->ncols)
		size *= 2;
	struct ndjson_keyset set = {calloc(size, sizeof(struct ndjson_slot)), size - 1, t->names};
	int rc = set.slots ? 0 : -1;

	for (size_t i = 0; i < size && set.slots; i++)
		set.slots[i].column = SIZE_MAX;
	for (size_t i = 0; rc == 0 && i < t->ncols; i++) {
		struct ndjson_slot *slot = ndjson_keyset_find(&set, t->names[i].data, t->names[i].len);
		if (slot->column != SIZE_MAX) {
			if ((rc = ndjson_suffixed(&set, slot, &t->names[i])) != 0)
				break;
			slot = ndjson_keyset_find(&set, t->names[i].data, t->names[i].len);
		}
		*slot = (struct ndjson_slot){.column = i, .next_suffix = 2};
	}
	free(set.slots);
	return rc;
}

/* ndjson_header_keys turns the collected header names into key prefixes and
 * frees the names. Returns 0, or -1 out of memory. */
static int ndjson_header_keys(struct ndjson *t)
{
	int rc = ndjson_unique_names(t);

	for (size_t i = 0; rc == 0 && i < t->ncols; i++)
		rc = ndjson_make_key(&t->keys[i], i, t->names[i].data, t->names[i].len);
	for (size_t i = 0; i < t->ncols; i++) {
		free(t->names[i].data);
		t->names[i] = (struct ndjson_text){0};
	}
	return rc;
}

/* ---- Records -------------------------------------------------------------- */

/* ndjson_first_field handles field i of the first record: a header name to
 * keep, or with header=false a new column c<i+1> whose value is written. */
static int ndjson_first_field(struct ndjson *t, size_t i, const char *data, size_t len)
{
	if (ndjson_grow(t, i) != 0)
		return ndjson_nomem(t);
	t->ncols = i + 1;
	if (t->header) {
		struct ndjson_text *n = &t->names[i];
		if (len > 0 && !(n->data = malloc(len)))
			return ndjson_nomem(t);
		if (len > 0)
			memcpy(n->data, data, len);
		n->len = len;
		return 0;
	}
	char name[32];
	int n = snprintf(name, sizeof name, "c%zu", i + 1);
	if (ndjson_make_key(&t->keys[i], i, name, (size_t)n) != 0)
		return ndjson_nomem(t);
	return 1; /* the value still has to be written */
}

static int ndjson_field(void *self, const char *data, size_t len)
{
	struct ndjson *t = self;
	size_t i = t->field++;

	if (!t->shaped) {
		int rc = ndjson_first_field(t, i, data, len);
		if (rc <= 0)
			return rc;
	} else if (i >= t->ncols) {
		return 0; /* a surplus field, reported at record_end */
	}
	if (ndjson_put(t, t->keys[i].data, t->keys[i].len) != 0 ||
	    ndjson_put_escaped(t, data, len) != 0 || ndjson_put(t, "\"", 1) != 0)
		return -1;
	return 0;
}

static int ndjson_record_end(void *self, uint64_t line)
{
	struct ndjson *t = self;
	size_t fields = t->field;

	t->field = 0;
	if (!t->shaped) {
		t->shaped = true;
		if (t->header)
			return ndjson_header_keys(t) != 0 ? ndjson_nomem(t) : 0;
	} else if (fields != t->ncols) {
		ndjson_set_error(&t->err, "ragged_record",
				 "The record on line %" PRIu64 " has %zu fields; the first record has %zu.",
				 line, fields, t->ncols);
		return -1;
	}
	if (ndjson_put(t, "}\n", 2) != 0)
		return -1;
	t->rows++;
	return 0;
}

static int ndjson_finish(void *self, struct task_error *err)
{
	struct ndjson *t = self;

	if (t->field != 0) {
		ndjson_set_error(err, "ragged_record", "The input ended inside a record.");
		return -1;
	}
	if (ndjson_flush(t) != 0) {
		*err = t->err;
		return -1;
	}
	return 0;
}

/* ---- Instance ------------------------------------------------------------- */

static void *ndjson_create(const struct task_params *params, const struct task_output *out,
			   struct task_error *err)
{
	struct ndjson *t = calloc(1, sizeof *t);

	if (t)
		t->buf = malloc(NDJSON_CHUNK);
	if (!t || !t->buf) {
		free(t);
		ndjson_set_error(err, "out_of_memory", "The ndjson task could not start: out of memory.");
		return NULL;
	}
	t->out = *out;
	t->header = params->header;
	return t;
}

static void ndjson_error(void *self, struct task_error *err)
{
	struct ndjson *t = self;
	*err = t->err;
}

static uint64_t ndjson_rows(void *self)
{
	struct ndjson *t = self;
	return t->rows;
}

static void ndjson_destroy(void *self)
{
	struct ndjson *t = self;

	if (!t)
		return;
	for (size_t i = 0; i < t->ncols; i++) {
		free(t->keys[i].data);
		free(t->names[i].data);
	}
	free(t->keys);
	free(t->names);
	free(t->buf);
	free(t);
}

const struct task_ops task_ndjson = {
	.name = "ndjson",
	.result_type = "application/x-ndjson",
	.create = ndjson_create,
	.field = ndjson_field,
	.record_end = ndjson_record_end,
	.finish = ndjson_finish,
	.error = ndjson_error,
	.rows = ndjson_rows,
	.destroy = ndjson_destroy,
};
