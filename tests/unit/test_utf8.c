/*
 * test_utf8.c — the streaming UTF-8 validator of utf8.h.
 *
 * Each verdict is checked fed whole, cut in two at every byte and fed one
 * byte at a time: the offset of the first bad byte (counted from the start
 * of the stream) and the verdict of finish must not depend on the cuts. A
 * plain decoder written from RFC 3629 serves as the reference for the
 * exhaustive tests.
 */
#include <criterion/criterion.h>

#include <stdlib.h>
#include <string.h>

#include "utf8.h"

/* verdict is what a validator says about a whole stream. */
struct verdict {
	size_t first_bad; /* offset in the stream, or its length */
	bool complete;    /* finish said no sequence was cut short */
};

/* validate feeds s[0..len) cut at the ascending offsets cuts[0..ncuts),
 * each chunk in its own allocation, and stops at the first bad byte. */
static struct verdict validate(const unsigned char *s, size_t len, const size_t *cuts, size_t ncuts)
{
	struct utf8_validator v;
	struct verdict out = { len, false };
	size_t from = 0;

	utf8_validator_init(&v);
	for (size_t i = 0; i <= ncuts; i++) {
		size_t to = i < ncuts ? cuts[i] : len;
		unsigned char *chunk = malloc(to - from ? to - from : 1);
		memcpy(chunk, s + from, to - from);
		size_t good = utf8_validator_feed(&v, chunk, to - from);
		free(chunk);
		cr_assert_leq(good, to - from);
		if (good < to - from) {
			out.first_bad = from + good;
			return out;
		}
		from = to;
	}
	out.complete = utf8_validator_finish(&v);
	return out;
}

/* check returns the verdict on s[0..len) after asserting that every way of
 * cutting it gives the same one. */
static struct verdict check(const char *str, size_t len)
{
	const unsigned char *s = (const unsigned char *)str;
	struct verdict whole = validate(s, len, NULL, 0);
	size_t *each = calloc(len ? len : 1, sizeof *each);

	for (size_t i = 0; i <= len; i++) {
		struct verdict two = validate(s, len, &i, 1);
		cr_assert_eq(two.first_bad, whole.first_bad, "cut at %zu", i);
		cr_assert_eq(two.complete, whole.complete, "cut at %zu", i);
		if (i < len)
			each[i] = i;
	}
	struct verdict bytes = validate(s, len, each, len);
	cr_assert_eq(bytes.first_bad, whole.first_bad, "byte by byte");
	cr_assert_eq(bytes.complete, whole.complete, "byte by byte");
	free(each);
	return whole;
}

static void expect_valid(const char *s, size_t len)
{
	struct verdict v = check(s, len);

	cr_assert_eq(v.first_bad, len, "valid input rejected at %zu", v.first_bad);
	cr_assert(v.complete, "valid input reported as cut short");
}

static void expect_bad_at(const char *s, size_t len, size_t at)
{
	struct verdict v = check(s, len);

	cr_assert_eq(v.first_bad, at, "first bad byte at %zu, wanted %zu", v.first_bad, at);
}

#define VALID(lit) expect_valid(lit, sizeof lit - 1)
#define BAD_AT(lit, at) expect_bad_at(lit, sizeof lit - 1, at)

Test(utf8, ascii_and_nul_are_valid)
{
	VALID("");
	VALID("plain ascii, with \"quotes\"\r\n");
	VALID("a\0b");
}

Test(utf8, well_formed_multi_byte_sequences_are_valid)
{
	VALID("caf\xc3\xa9 \xe2\x82\xac \xf0\x9f\x98\x80");
	VALID("\xc2\x80");             /* U+0080 */
	VALID("\xdf\xbf");             /* U+07FF */
	VALID("\xe0\xa0\x80");         /* U+0800 */
	VALID("\xed\x9f\xbf");         /* U+D7FF, just below the surrogates */
	VALID("\xee\x80\x80");         /* U+E000, just above them */
	VALID("\xef\xbf\xbf");         /* U+FFFF */
	VALID("\xef\xbb\xbf");         /* the BOM is a code point like any other */
	VALID("\xf0\x90\x80\x80");     /* U+10000 */
	VALID("\xf4\x8f\xbf\xbf");     /* U+10FFFF */
}

Test(utf8, overlong_forms_are_rejected)
{
	BAD_AT("\xc0\x80", 0);
	BAD_AT("\xc1\xbf", 0);
	BAD_AT("\xe0\x80\x80", 1);
	BAD_AT("\xe0\x9f\xbf", 1);
	BAD_AT("\xf0\x80\x80\x80", 1);
	BAD_AT("\xf0\x8f\xbf\xbf", 1);
}

Test(utf8, surrogates_are_rejected)
{
	BAD_AT("\xed\xa0\x80", 1);     /* U+D800 */
	BAD_AT("ab\xed\xbf\xbf", 3);   /* U+DFFF */
}

Test(utf8, code_points_above_10ffff_are_rejected)
{
	BAD_AT("\xf4\x90\x80\x80", 1);
	BAD_AT("\xf5\x80\x80\x80", 0);
	BAD_AT("x\xff", 1);
	BAD_AT("x\xfe", 1);
}

Test(utf8, lone_continuation_byte_is_rejected)
{
	BAD_AT("\x80", 0);
	BAD_AT("a\xbf", 1);
	BAD_AT("\xc3\xa9\xa9", 2);
}

Test(utf8, sequence_interrupted_by_another_byte_is_rejected_at_that_byte)
{
	BAD_AT("\xe2\x82" "a", 2);
	BAD_AT("\xc3\n", 1);
	BAD_AT("\xf0\x9f\x98\xc3\xa9", 3);
	BAD_AT("\xe2\x00", 1);
}

Test(utf8, sequence_cut_by_the_end_of_input_fails_at_finish)
{
	struct verdict v;

	v = check("a\xe2\x82", 3);
	cr_assert_eq(v.first_bad, 3, "every byte fed can still be valid");
	cr_assert_not(v.complete);
	v = check("\xf0\x9f\x98", 3);
	cr_assert_eq(v.first_bad, 3);
	cr_assert_not(v.complete);
	v = check("\xc3", 1);
	cr_assert_not(v.complete);
}

Test(utf8, init_resets_a_validator_mid_sequence)
{
	struct utf8_validator v;

	utf8_validator_init(&v);
	cr_assert_eq(utf8_validator_feed(&v, (const unsigned char *)"\xe2", 1), 1);
	cr_assert_not(utf8_validator_finish(&v));
	utf8_validator_init(&v);
	cr_assert(utf8_validator_finish(&v));
	cr_assert_eq(utf8_validator_feed(&v, (const unsigned char *)"a", 1), 1);
}

Test(utf8, ascii_fast_path_finds_the_bad_byte_at_every_offset)
{
	unsigned char s[64];

	for (size_t at = 0; at < 48; at++) {
		memset(s, 'a', sizeof s);
		s[at] = 0x80;
		struct verdict v = validate(s, sizeof s, NULL, 0);
		cr_assert_eq(v.first_bad, at);
		/* A valid sequence at the same place is passed over. */
		s[at] = 0xc3;
		s[at + 1] = 0xa9;
		v = validate(s, sizeof s, NULL, 0);
		cr_assert_eq(v.first_bad, sizeof s, "valid sequence at %zu", at);
		cr_assert(v.complete);
	}
}

/* ---- Exhaustive comparison with a reference decoder ---------------------- */

/* ref_valid says whether s[0..len) is well-formed UTF-8 by decoding each
 * sequence and checking the code point: shortest form, not a surrogate, not
 * above U+10FFFF. */
static bool ref_valid(const unsigned char *s, size_t len)
{
	size_t i = 0;

	while (i < len) {
		unsigned char b = s[i];
		size_t n = b < 0x80 ? 1 : (b & 0xe0) == 0xc0 ? 2 : (b & 0xf0) == 0xe0 ? 3
			 : (b & 0xf8) == 0xf0 ? 4 : 0;
		static const uint32_t min_cp[5] = { 0, 0, 0x80, 0x800, 0x10000 };
		uint32_t cp;

		if (n == 0 || i + n > len)
			return false;
		cp = n == 1 ? b : (uint32_t)(b & (0x7f >> n));
		for (size_t k = 1; k < n; k++) {
			if ((s[i + k] & 0xc0) != 0x80)
				return false;
			cp = cp << 6 | (s[i + k] & 0x3f);
		}
		if (cp < min_cp[n] || (cp >= 0xd800 && cp <= 0xdfff) || cp > 0x10ffff)
			return false;
		i += n;
	}
	return true;
}

static bool our_valid(const unsigned char *s, size_t len)
{
	struct utf8_validator v;

	utf8_validator_init(&v);
	return utf8_validator_feed(&v, s, len) == len && utf8_validator_finish(&v);
}

Test(utf8, agrees_with_a_reference_decoder_on_every_short_input)
{
	unsigned char s[3];

	for (uint32_t x = 0; x < 1u << 24; x++) {
		s[0] = (unsigned char)(x >> 16);
		s[1] = (unsigned char)(x >> 8);
		s[2] = (unsigned char)x;
		if (x < 256)
			cr_assert_eq(our_valid(s + 2, 1), ref_valid(s + 2, 1), "%02x", s[2]);
		if (x < 65536)
			cr_assert_eq(our_valid(s + 1, 2), ref_valid(s + 1, 2), "%02x %02x", s[1], s[2]);
		if (our_valid(s, 3) != ref_valid(s, 3))
			cr_assert_fail("%02x %02x %02x", s[0], s[1], s[2]);
	}
}

Test(utf8, agrees_with_a_reference_decoder_on_four_byte_inputs)
{
	static const unsigned char tails[] = { 0x00, 0x41, 0x7f, 0x80, 0x8f, 0x90,
					       0x9f, 0xa0, 0xbf, 0xc0, 0xf4, 0xff };
	const size_t n = sizeof tails;
	unsigned char s[4];

	for (unsigned lead = 0xe0; lead <= 0xff; lead++) {
		for (size_t a = 0; a < n * n * n; a++) {
			s[0] = (unsigned char)lead;
			s[1] = tails[a % n];
			s[2] = tails[a / n % n];
			s[3] = tails[a / n / n];
			cr_assert_eq(our_valid(s, 4), ref_valid(s, 4), "%02x %02x %02x %02x", s[0],
				     s[1], s[2], s[3]);
		}
	}
}

/* ---- Counting code points ------------------------------------------------ */

Test(utf8, counts_code_points_not_bytes)
{
	const char *s = "a\xc3\xa9\xe2\x82\xac\xf0\x9f\x98\x80";

	cr_assert_eq(utf8_count_code_points(s, strlen(s)), 4);
	cr_assert_eq(utf8_count_code_points("", 0), 0);
	cr_assert_eq(utf8_count_code_points("plain", 5), 5);
}

Test(utf8, counts_the_same_across_word_boundaries)
{
	static const char *const bits[] = { "a", "\xc3\xa9", "\xe2\x82\xac", "\xf0\x9f\x98\x80" };
	char s[512];
	size_t len = 0, want = 0;

	for (size_t i = 0; len < sizeof s - 4; i++) {
		const char *b = bits[(i * 7 + i / 3) % 4];
		memcpy(s + len, b, strlen(b));
		len += strlen(b);
		want++;
		for (size_t start = 0; start < 9 && start <= len; start++) {
			size_t skipped = 0;
			for (size_t k = 0; k < start; k++)
				skipped += ((unsigned char)s[k] & 0xc0) != 0x80;
			cr_assert_eq(utf8_count_code_points(s + start, len - start), want - skipped,
				     "len %zu from %zu", len, start);
		}
	}
}
