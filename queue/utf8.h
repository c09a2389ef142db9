/*
 * utf8 — a streaming UTF-8 validator.
 *
 * Accepts exactly the well-formed UTF-8 of RFC 3629 (Unicode table 3-7): no
 * overlong forms, no UTF-16 surrogates (U+D800..U+DFFF), nothing above
 * U+10FFFF. A sequence may be split across calls; utf8_validator_finish
 * reports one that the end of input cut short. NUL is valid UTF-8; callers
 * that forbid it check for it themselves.
 */
#ifndef JOBQ_UTF8_H
#define JOBQ_UTF8_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

struct utf8_validator {
	uint32_t state; /* 0 between code points; private otherwise */
};

/* utf8_validator_init resets v to the start of a stream. */
void utf8_validator_init(struct utf8_validator *v);

/* utf8_validator_feed checks len more bytes. Returns the number of bytes
 * that are good: len when all of them are, otherwise the offset of the first
 * byte at which the input can no longer be valid UTF-8. */
size_t utf8_validator_feed(struct utf8_validator *v, const unsigned char *buf, size_t len);

/* utf8_validator_finish returns true when the stream did not end inside a
 * multi-byte sequence. */
bool utf8_validator_finish(const struct utf8_validator *v);

/* utf8_count_code_points returns how many code points the (valid) UTF-8 in
 * buf holds: the bytes that are not continuation bytes. */
size_t utf8_count_code_points(const char *buf, size_t len);

#endif
