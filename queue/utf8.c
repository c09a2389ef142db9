/*
 * utf8.c — the streaming UTF-8 validator of utf8.h and a code point counter.
 *
 * The validator's state packs what the next byte must be: how many
 * continuation bytes the current sequence still needs, and the range the
 * next one must fall in. Table 3-7 of the Unicode standard narrows that
 * range only for the first continuation byte after E0, ED, F0 and F4; this is
 * how overlongs, surrogates and code points above U+10FFFF are refused
 * without decoding anything.
 *
 * Most of what jobq validates is ASCII CSV, so between code points the
 * validator skips ASCII eight or sixteen bytes at a time.
 */
#include "utf8.h"

#include <string.h>

/* A state is need | lo << 8 | hi << 16: need continuation bytes are still
 * due, and the next one must lie in lo..hi. 0 means between code points. */
#define UTF8_STATE(need, lo, hi) ((uint32_t)(need) | (uint32_t)(lo) << 8 | (uint32_t)(hi) << 16)
#define UTF8_NEED(s) ((s) & 0xffu)
#define UTF8_LO(s) (((s) >> 8) & 0xffu)
#define UTF8_HI(s) (((s) >> 16) & 0xffu)

/* Once a stream has gone bad it stays bad: feed returns 0, finish false. */
#define UTF8_REJECT UINT32_C(0xffffffff)

#define WORD_HIGH_BITS UINT64_C(0x8080808080808080)
#define WORD_LOW_BITS UINT64_C(0x0101010101010101)

void utf8_validator_init(struct utf8_validator *v)
{
	v->state = 0;
}

/* lead_state returns the state after the non-ASCII byte b starts a code
 * point, or UTF8_REJECT when b can never start one (a continuation byte,
 * C0/C1 which only start overlongs, F5..FF which lead past U+10FFFF). */
static uint32_t lead_state(unsigned char b)
{
	if (b >= 0xc2 && b <= 0xdf)
		return UTF8_STATE(1, 0x80, 0xbf);
	if (b == 0xe0)
		return UTF8_STATE(2, 0xa0, 0xbf); /* below A0 is overlong */
	if (b == 0xed)
		return UTF8_STATE(2, 0x80, 0x9f); /* above 9F is a surrogate */
	if (b >= 0xe1 && b <= 0xef)
		return UTF8_STATE(2, 0x80, 0xbf);
	if (b == 0xf0)
		return UTF8_STATE(3, 0x90, 0xbf); /* below 90 is overlong */
	if (b >= 0xf1 && b <= 0xf3)
		return UTF8_STATE(3, 0x80, 0xbf);
	if (b == 0xf4)
		return UTF8_STATE(3, 0x80, 0x8f); /* above 8F is past U+10FFFF */
	return UTF8_REJECT;
}

/* next_state returns the state after byte b arrives in state s, or
 * UTF8_REJECT when b cannot come next. */
static uint32_t next_state(uint32_t s, unsigned char b)
{
	if (s == 0)
		return b < 0x80 ? 0 : lead_state(b);
	if (b < UTF8_LO(s) || b > UTF8_HI(s))
		return UTF8_REJECT;
	if (UTF8_NEED(s) == 1)
		return 0;
	return UTF8_STATE(UTF8_NEED(s) - 1, 0x80, 0xbf);
}

/* skip_ascii returns the offset of the first byte at or after i that is not
 * ASCII, or len. Words are loaded with memcpy because buf has no alignment
 * guarantee; compilers turn that into a plain load. */
static size_t skip_ascii(const unsigned char *buf, size_t i, size_t len)
{
	uint64_t a, b;

	while (len - i >= 16) {
		memcpy(&a, buf + i, 8);
		memcpy(&b, buf + i + 8, 8);
		if ((a | b) & WORD_HIGH_BITS)
			break;
		i += 16;
	}
	if (len - i >= 8) {
		memcpy(&a, buf + i, 8);
		if (!(a & WORD_HIGH_BITS))
			i += 8;
	}
	while (i < len && buf[i] < 0x80)
		i++;
	return i;
}

size_t utf8_validator_feed(struct utf8_validator *v, const unsigned char *buf, size_t len)
{
	uint32_t s = v->state;
	size_t i = 0;

	if (s == UTF8_REJECT)
		return 0;
	while (i < len) {
		if (s == 0) {
			i = skip_ascii(buf, i, len);
			if (i == len)
				break;
		}
		s = next_state(s, buf[i]);
		if (s == UTF8_REJECT)
			break;
		i++;
	}
	v->state = s;
	return i;
}

bool utf8_validator_finish(const struct utf8_validator *v)
{
	return v->state == 0;
}

/* continuation_bytes returns how many bytes of the word w are 10xxxxxx:
 * the high bit set and the next bit clear. Shifting ~w left by one moves
 * each byte's bit 6 under its bit 7; the bit that crosses into the next
 * byte lands on bit 0 and is masked off. */
static size_t continuation_bytes(uint64_t w)
{
	uint64_t marks = w & (~w << 1) & WORD_HIGH_BITS;

	/* Sum the 0/1 byte flags into the top byte. */
	return (size_t)(((marks >> 7) * WORD_LOW_BITS) >> 56);
}

size_t utf8_count_code_points(const char *buf, size_t len)
{
	const unsigned char *p = (const unsigned char *)buf;
	size_t continuations = 0, i = 0;
	uint64_t w;

	for (; len - i >= 8; i += 8) {
		memcpy(&w, p + i, 8);
		continuations += continuation_bytes(w);
	}
	for (; i < len; i++)
		continuations += (p[i] & 0xc0) == 0x80;
	return len - continuations;
}
