/*
 * json_line.c — the flat-object writer (see json_line.h).
 */
#include "json_line.h"

#include <stdbool.h>
#include <stdio.h>
#include <string.h>

/* The output being written: buf of cap bytes, len used so far. */
struct json_line_out {
	char *buf;
	size_t cap;
	size_t len;
};

/* line_plain returns true when the n bytes at s need no escaping. */
static bool line_plain(const char *s, size_t n)
{
	for (size_t i = 0; i < n; i++) {
		unsigned char c = (unsigned char)s[i];
		if (c < 0x20 || c > 0x7e || c == '"' || c == '\\')
			return false;
	}
	return true;
}

/* line_put appends n bytes. Returns false when they do not fit. */
static bool line_put(struct json_line_out *out, const char *s, size_t n)
{
	if (out->cap - out->len < n)
		return false;
	memcpy(out->buf + out->len, s, n);
	out->len += n;
	return true;
}

/* line_string appends "s" (n bytes). Returns false when s needs escaping
 * or does not fit. */
static bool line_string(struct json_line_out *out, const char *s, size_t n)
{
	return line_plain(s, n) && line_put(out, "\"", 1) && line_put(out, s, n) &&
	       line_put(out, "\"", 1);
}

/* line_value appends v. Returns false for a type this writer leaves to
 * jansson, or when it does not fit. */
static bool line_value(struct json_line_out *out, const json_t *v)
{
	char num[32];
	int n;

	if (json_is_string(v))
		return line_string(out, json_string_value(v), json_string_length(v));
	if (!json_is_integer(v))
		return false;
	n = snprintf(num, sizeof num, "%" JSON_INTEGER_FORMAT, json_integer_value(v));
	return n > 0 && (size_t)n < sizeof num && line_put(out, num, (size_t)n);
}

size_t json_line_dump(const json_t *o, char *buf, size_t cap)
{
	struct json_line_out out = { buf, cap, 0 };
	const char *key;
	json_t *v;
	bool first = true;

	if (!json_is_object(o) || !line_put(&out, "{", 1))
		return 0;
	/* json_object_foreach takes a non-const object; it does not change it. */
	json_object_foreach((json_t *)o, key, v) {
		if ((!first && !line_put(&out, ",", 1)) || !line_string(&out, key, strlen(key)) ||
		    !line_put(&out, ":", 1) || !line_value(&out, v))
			return 0;
		first = false;
	}
	return line_put(&out, "}", 1) ? out.len : 0;
}
