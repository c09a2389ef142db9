/*
 * HyperLogLog: estimates within three standard errors (3 * 1.04 / 64 =
 * 4.9%) at every scale, duplicates ignored, and a hash that mixes short
 * strings well.
 */
#include <criterion/criterion.h>

#include <math.h>
#include <stdio.h>
#include <string.h>

#include "hll.h"

#define HLL_STATED_ERROR (1.04 / 64.0)

/* add_keys adds n distinct keys "<prefix><i>" for i in [from, from + n). */
static void add_keys(struct hll *h, const char *prefix, unsigned long from, unsigned long n)
{
	char key[64];

	for (unsigned long i = from; i < from + n; i++) {
		int len = snprintf(key, sizeof key, "%s%lu", prefix, i);
		hll_add(h, key, (size_t)len);
	}
}

static void expect_within_three_errors(const struct hll *h, unsigned long truth)
{
	double estimate = (double)hll_estimate(h);
	double relative = (estimate - (double)truth) / (double)truth;

	cr_expect(relative < 3 * HLL_STATED_ERROR && relative > -3 * HLL_STATED_ERROR,
		  "estimate %.0f for %lu distinct keys is off by %.2f%%", estimate, truth,
		  100 * relative);
}

static void check_scale(unsigned long n)
{
	struct hll numbers, words;

	hll_init(&numbers);
	hll_init(&words);
	add_keys(&numbers, "", 0, n);          /* "0", "1", ...: a typical id column */
	add_keys(&words, "customer-", 1000000, n);
	expect_within_three_errors(&numbers, n);
	expect_within_three_errors(&words, n);
}

Test(hll, sketch_is_4_kib_whatever_the_input)
{
	cr_assert_eq(sizeof(struct hll), 4096);
}

Test(hll, empty_sketch_estimates_zero)
{
	struct hll h;

	hll_init(&h);
	cr_assert_eq(hll_estimate(&h), 0);
}

Test(hll, one_value_estimates_one)
{
	struct hll h;

	hll_init(&h);
	hll_add(&h, "x", 1);
	cr_assert_eq(hll_estimate(&h), 1);
}

Test(hll, estimate_within_three_errors_at_1e3) { check_scale(1000); }
Test(hll, estimate_within_three_errors_at_1e4) { check_scale(10000); }
Test(hll, estimate_within_three_errors_at_1e5) { check_scale(100000); }
Test(hll, estimate_within_three_errors_at_1e6) { check_scale(1000000); }

Test(hll, duplicates_do_not_count)
{
	struct hll once, many;

	hll_init(&once);
	hll_init(&many);
	add_keys(&once, "k", 0, 5000);
	for (int round = 0; round < 20; round++)
		add_keys(&many, "k", 0, 5000);
	cr_assert_eq(memcmp(&once, &many, sizeof once), 0);
	expect_within_three_errors(&many, 5000);
}

Test(hll, empty_string_is_a_value)
{
	struct hll h;

	hll_init(&h);
	hll_add(&h, "", 0);
	cr_assert_eq(hll_estimate(&h), 1);
}

Test(hll, hash_is_deterministic)
{
	cr_assert_eq(hll_hash("hello", 5), hll_hash("hello", 5));
	cr_assert_eq(hll_hash("", 0), hll_hash("", 0));
}

/* Changing any one byte of a string of any length up to 64 changes its
 * hash: the overlapping reads of short strings and the tail of long ones
 * cover every byte. */
Test(hll, every_byte_of_every_length_affects_the_hash)
{
	unsigned char buf[64];

	for (size_t len = 1; len <= sizeof buf; len++) {
		memset(buf, 'a', len);
		uint64_t base = hll_hash(buf, len);
		for (size_t i = 0; i < len; i++) {
			buf[i] = 'b';
			cr_assert_neq(hll_hash(buf, len), base, "len %zu byte %zu", len, i);
			buf[i] = 'a';
		}
	}
}

Test(hll, length_is_part_of_the_hash)
{
	static const char zeros[16] = {0};

	for (size_t len = 0; len < 16; len++)
		cr_assert_neq(hll_hash(zeros, len), hll_hash(zeros, len + 1), "len %zu", len);
}

/* Avalanche on short strings: flipping one input bit flips each output bit
 * with probability near 1/2, so on average about 32 of 64. */
Test(hll, one_bit_flip_in_a_short_string_flips_half_the_hash)
{
	unsigned long flipped = 0, trials = 0;
	unsigned char buf[8];

	for (unsigned v = 0; v < 2000; v++) {
		size_t len = 1 + v % 8;
		for (size_t i = 0; i < len; i++)
			buf[i] = (unsigned char)('0' + (v * 7 + i * 13) % 75);
		uint64_t base = hll_hash(buf, len);
		for (size_t bit = 0; bit < len * 8; bit++) {
			buf[bit / 8] ^= (unsigned char)(1u << (bit % 8));
			flipped += (unsigned long)__builtin_popcountll(hll_hash(buf, len) ^ base);
			buf[bit / 8] ^= (unsigned char)(1u << (bit % 8));
			trials++;
		}
	}
	double mean = (double)flipped / (double)trials;
	cr_assert(mean > 31.5 && mean < 32.5, "mean flipped bits %.3f", mean);
}

/* Each register is equally likely for consecutive numbers written as text:
 * no register stays empty after 100000 of them (expected empty: about
 * 4096 * exp(-24), i.e. none). */
Test(hll, short_numeric_keys_fill_every_register)
{
	struct hll h;

	hll_init(&h);
	add_keys(&h, "", 0, 100000);
	for (unsigned i = 0; i < HLL_REGISTERS; i++)
		cr_assert_neq(h.registers[i], 0, "register %u empty", i);
}

/* reference_estimate is hll_estimate as first written: a histogram counted
 * register by register, then the same sum and corrections. hll_estimate
 * counts runs of zero registers in blocks; its result must not move. */
static uint64_t reference_estimate(const struct hll *h)
{
	unsigned histogram[64] = {0};
	double sum = 0.0, weight = 1.0;
	const double m = HLL_REGISTERS;

	for (unsigned i = 0; i < HLL_REGISTERS; i++)
		histogram[h->registers[i]]++;
	for (unsigned k = 0; k < 64; k++) {
		sum += histogram[k] * weight;
		weight *= 0.5;
	}
	if (histogram[0] == HLL_REGISTERS)
		return 0;
	double estimate = 0.7213 / (1.0 + 1.079 / m) * m * m / sum;
	if (estimate <= 2.5 * m && histogram[0] > 0)
		estimate = m * log(m / histogram[0]);
	return (uint64_t)(estimate + 0.5);
}

/* xorshift64 — a fixed sequence, so a failure can be reproduced. */
static uint64_t next_random(uint64_t *state)
{
	*state ^= *state << 13;
	*state ^= *state >> 7;
	*state ^= *state << 17;
	return *state;
}

/* Register states from nearly empty to full, with ranks up to the largest
 * a register can hold (53) and set registers alone, in runs and at block
 * edges: hll_estimate equals the register-by-register reference exactly. */
Test(hll, estimate_equals_the_register_by_register_count)
{
	uint64_t state = 0x9e3779b97f4a7c15ull;
	struct hll h;

	for (unsigned trial = 0; trial < 4000; trial++) {
		unsigned set = (unsigned)(next_random(&state) % (trial % 2 ? 64 : HLL_REGISTERS + 1));
		hll_init(&h);
		for (unsigned i = 0; i < set; i++) {
			unsigned index = (unsigned)(next_random(&state) % HLL_REGISTERS);
			h.registers[index] = (uint8_t)(1 + next_random(&state) % 53);
		}
		if (trial % 7 == 0)
			h.registers[HLL_REGISTERS - 1] = (uint8_t)(1 + trial % 53);
		cr_assert_eq(hll_estimate(&h), reference_estimate(&h), "trial %u, %u set", trial, set);
	}
}

Test(hll, estimate_of_filled_sketches_equals_the_reference)
{
	struct hll h;

	for (unsigned long n = 1; n <= 300000; n = n * 3 + 1) {
		hll_init(&h);
		add_keys(&h, "k", 0, n);
		cr_assert_eq(hll_estimate(&h), reference_estimate(&h), "%lu keys", n);
	}
}
