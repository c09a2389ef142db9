/*
 * flatjson — JSON text appended into one buffer. See flatjson.h for the
 * bytes it writes and why they equal jansson's.
 */
#include "flatjson.h"

#include <jansson.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

void flatjson_init(struct flatjson *j, char *buf, size_t cap)
{
	j->data = buf;
	j->len = 0;
	j->cap = buf != NULL ? cap : 0;
	j->heap = NULL;
	j->failed = false;
}

void flatjson_free(struct flatjson *j)
{
	free(j->heap);
	j->heap = NULL;
	j->data = NULL;
	j->len = j->cap = 0;
}

bool flatjson_ok(const struct flatjson *j)
{
	return !j->failed;
}

/* flatjson_grow makes room for n more bytes at least doubling the buffer.
 * Returns false, with j failed, out of memory. */
static bool flatjson_grow(struct flatjson *j, size_t n)
{
	size_t cap = j->cap > 128 ? j->cap : 128;
	char *p;

	while (cap - j->len < n) {
		if (cap > SIZE_MAX / 2) {
			j->failed = true;
			return false;
		}
		cap *= 2;
	}
	p = j->heap != NULL ? realloc(j->heap, cap) : malloc(cap);
	if (p == NULL) {
		j->failed = true;
		return false;
	}
	if (j->heap == NULL && j->len > 0)
		memcpy(p, j->data, j->len);
	j->heap = j->data = p;
	j->cap = cap;
	return true;
}

/* flatjson_room returns where n more bytes may be written, or NULL when j
 * has failed (now or before). */
static char *flatjson_room(struct flatjson *j, size_t n)
{
	if (j->failed)
		return NULL;
	if (j->cap - j->len < n && !flatjson_grow(j, n))
		return NULL;
	return j->data + j->len;
}

const char *flatjson_text(struct flatjson *j)
{
	char *p = flatjson_room(j, 1);

	if (p == NULL)
		return NULL;
	*p = '\0';
	return j->data;
}

char *flatjson_take(struct flatjson *j, size_t *len)
{
	char *out = NULL;

	*len = 0;
	if (flatjson_text(j) == NULL) {
		flatjson_free(j);
		return NULL;
	}
	if (j->heap != NULL) {
		out = j->heap;
		j->heap = NULL; /* the caller's now: flatjson_free must not free it */
	} else if ((out = malloc(j->len + 1)) != NULL) {
		memcpy(out, j->data, j->len + 1);
	}
	if (out != NULL)
		*len = j->len;
	flatjson_free(j);
	return out;
}

void flatjson_raw(struct flatjson *j, const char *text, size_t len)
{
	char *p = flatjson_room(j, len);

	if (p != NULL && len > 0) {
		memcpy(p, text, len);
		j->len += len;
	}
}

void flatjson_int(struct flatjson *j, int64_t v)
{
	char digits[24], *end = digits + sizeof digits, *p = end;
	uint64_t u = v < 0 ? 0 - (uint64_t)v : (uint64_t)v;

	do {
		*--p = (char)('0' + u % 10);
		u /= 10;
	} while (u != 0);
	if (v < 0)
		*--p = '-';
	flatjson_raw(j, p, (size_t)(end - p));
}

/* flatjson_trim_exponent removes the '+' and the leading zeros of the
 * exponent in the len bytes of text (NUL-terminated), as jansson does.
 * Returns the new length. */
static size_t flatjson_trim_exponent(char *text, size_t len)
{
	char *start = strchr(text, 'e'), *end;

	if (start == NULL)
		return len;
	start++;
	end = start + 1;
	if (*start == '-')
		start++;
	while (*end == '0')
		end++;
	if (end != start) {
		memmove(start, end, len - (size_t)(end - text) + 1);
		len -= (size_t)(end - start);
	}
	return len;
}

/* The "C" locale's decimal point is '.': jobq never calls setlocale, so
 * jansson's replacement of the locale's point has nothing to do here. */
void flatjson_real(struct flatjson *j, double v)
{
	char text[40];
	int n;

	if (!isfinite(v)) {
		j->failed = true;
		return;
	}
	n = snprintf(text, sizeof text - 2, "%.17g", v);
	if (n <= 0 || (size_t)n >= sizeof text - 2) {
		j->failed = true;
		return;
	}
	if (strchr(text, '.') == NULL && strchr(text, 'e') == NULL) {
		memcpy(text + n, ".0", 3);
		n += 2;
	}
	flatjson_raw(j, text, flatjson_trim_exponent(text, (size_t)n));
}

#define FLATJSON_ONES 0x0101010101010101ull
#define FLATJSON_HIGH 0x8080808080808080ull

/* flatjson_word_plain returns whether all eight bytes of w are printable
 * ASCII other than '"' and '\\'. (x - ONES) & ~x has a high bit set in
 * some byte exactly when x has a zero byte, and (x - 0x20 ONES) & ~x when
 * x has a byte below 0x20; bytes of 0x80 and up show in w's own high bits. */
static bool flatjson_word_plain(uint64_t w)
{
	uint64_t quote = w ^ ('"' * FLATJSON_ONES);
	uint64_t backslash = w ^ ('\\' * FLATJSON_ONES);
	uint64_t del = w ^ (0x7f * FLATJSON_ONES);
	uint64_t flags = w | ((w - 0x20 * FLATJSON_ONES) & ~w) |
			 ((quote - FLATJSON_ONES) & ~quote) |
			 ((backslash - FLATJSON_ONES) & ~backslash) | ((del - FLATJSON_ONES) & ~del);

	return (flags & FLATJSON_HIGH) == 0;
}

/* flatjson_scan returns how many of the len bytes at s are printable ASCII
 * other than '"' and '\\' (copied as they are), stopping at the first
 * that is not: eight at a time, then one by one. */
static size_t flatjson_scan(const char *s, size_t len)
{
	size_t i = 0;
	uint64_t w;

	for (; i + 8 <= len; i += 8) {
		memcpy(&w, s + i, sizeof w);
		if (!flatjson_word_plain(w))
			break;
	}
	for (; i < len; i++) {
		unsigned char c = (unsigned char)s[i];
		if (c < 0x20 || c >= 0x7f || c == '"' || c == '\\')
			break;
	}
	return i;
}

/* flatjson_plain returns whether the len bytes at s are printable ASCII. */
static bool flatjson_plain(const char *s, size_t len)
{
	for (size_t i = 0; i < len; i++) {
		unsigned char c = (unsigned char)s[i];
		if (c < 0x20 || c >= 0x7f)
			return false;
	}
	return true;
}

/* flatjson_string_jansson appends s as jansson's dump writes it. */
static void flatjson_string_jansson(struct flatjson *j, const char *s, size_t len)
{
	json_t *str = json_stringn(s, len);
	size_t n = str != NULL ? json_dumpb(str, NULL, 0, JSON_ENCODE_ANY) : 0;
	char *p = n > 0 ? flatjson_room(j, n) : NULL;

	if (p != NULL && json_dumpb(str, p, n, JSON_ENCODE_ANY) == n)
		j->len += n;
	else
		j->failed = true;
	json_decref(str);
}

/* flatjson_string_escaped appends s, printable ASCII, with a backslash
 * before each '"' and '\\'. */
static void flatjson_string_escaped(struct flatjson *j, const char *s, size_t len)
{
	char *p;

	if (len > (SIZE_MAX - 2) / 2 || (p = flatjson_room(j, 2 * len + 2)) == NULL) {
		j->failed = true;
		return;
	}
	*p++ = '"';
	for (size_t i = 0; i < len; i++) {
		if (s[i] == '"' || s[i] == '\\')
			*p++ = '\\';
		*p++ = s[i];
	}
	*p++ = '"';
	j->len = (size_t)(p - j->data);
}

/* Most strings need no escape at all: one scan finds that, one copy
 * writes them. */
void flatjson_string(struct flatjson *j, const char *s, size_t len)
{
	size_t plain = flatjson_scan(s, len);
	char *p;

	if (plain < len) {
		if (flatjson_plain(s + plain, len - plain))
			flatjson_string_escaped(j, s, len);
		else
			flatjson_string_jansson(j, s, len);
		return;
	}
	if (len > SIZE_MAX - 2 || (p = flatjson_room(j, len + 2)) == NULL) {
		j->failed = true;
		return;
	}
	p[0] = '"';
	memcpy(p + 1, s, len);
	p[len + 1] = '"';
	j->len += len + 2;
}

/* flatjson_member appends "key":v. Returns false when v is neither a
 * string nor an integer; the key is written then, for the caller to take
 * back. */
static bool flatjson_member(struct flatjson *j, const char *key, size_t key_len,
			    const json_t *v)
{
	flatjson_string(j, key, key_len);
	flatjson_lit(j, ":");
	if (json_is_string(v))
		flatjson_string(j, json_string_value(v), json_string_length(v));
	else if (json_is_integer(v))
		flatjson_int(j, json_integer_value(v));
	else
		return false;
	return true;
}

/* jansson's compact dump writes an object's members in insertion order,
 * the order json_object_foreach visits them, with "," and ":" alone. */
bool flatjson_object(struct flatjson *j, const json_t *o)
{
	size_t start = j->len, key_len;
	bool first = true;
	const char *key;
	json_t *v;

	if (!json_is_object(o))
		return false;
	flatjson_lit(j, "{");
	/* The macro takes a non-const object; it does not change it. A key's
	 * length, not strlen, so a key holding a NUL is whole, as jansson's. */
	json_object_keylen_foreach((json_t *)o, key, key_len, v) {
		if (!first)
			flatjson_lit(j, ",");
		if (!flatjson_member(j, key, key_len, v)) {
			j->len = start;
			return false;
		}
		first = false;
	}
	flatjson_lit(j, "}");
	return flatjson_ok(j);
}
