/*
 * json_line — a fast path for writing a flat JSON object as text.
 *
 * jansson's dump is general: it checks for reference loops (a formatted
 * key and a hash-table entry per object), validates and escapes every
 * string character by character, and goes through a callback per piece.
 * A log line is a flat object of short, plain strings and integers, and
 * two of them are written per request. json_line_dump writes exactly what
 * json_dumpb(o, ..., JSON_COMPACT) would, byte for byte, for such an
 * object, and declines anything else, for the caller to hand to jansson.
 *
 * Thread-safe (no state); it only reads o.
 */
#ifndef JOBQ_JSON_LINE_H
#define JOBQ_JSON_LINE_H

#include <jansson.h>
#include <stddef.h>

/* json_line_dump writes object o compactly into buf (cap bytes, not
 * NUL-terminated) when every member is an integer or a string of printable
 * ASCII without '"' or '\\' (and so is every name). Returns the length, or
 * 0 when o is something else or does not fit: then use json_dumpb. */
size_t json_line_dump(const json_t *o, char *buf, size_t cap);

#endif
