/*
 * hll — a HyperLogLog sketch: how many distinct byte strings were seen.
 *
 * The sketch has 2^12 = 4096 registers of one byte each, so it takes 4 KiB
 * whatever the input, and its estimates have a standard error of about
 * 1.04 / sqrt(4096) = 1.6%. Each string is hashed to 64 bits (hll_hash);
 * the top 12 bits pick a register, and the register keeps the largest rank
 * (1 + the number of leading zero bits of the other 52) it has seen.
 * Adding a string twice changes nothing, so duplicates do not count.
 *
 * The estimate is the standard one of Flajolet et al. (2007) with the
 * small-range correction: while the raw estimate is at most 2.5 * 4096 and
 * some register is still zero, linear counting over the empty registers
 * is used instead. A 64-bit hash needs no large-range correction.
 *
 * The hash is written here, after wyhash (Wang Yi, public domain, final
 * version 4) with one lane instead of three: every input byte goes through
 * a 64x64->128-bit multiply, which mixes well even for the short strings
 * (one to a dozen bytes) that CSV cells mostly are. Its values depend on
 * the machine's byte order; sketches are never stored or compared across
 * machines.
 *
 * hll_hash and hll_add are inline in this header because the profile task
 * calls them once per CSV cell, its hottest path.
 *
 * Memory: struct hll is a plain value with no pointers; embed it or copy it.
 */
#ifndef JOBQ_HLL_H
#define JOBQ_HLL_H

#include <stddef.h>
#include <stdint.h>
#include <string.h>

#define HLL_PRECISION 12
#define HLL_REGISTERS (1u << HLL_PRECISION)

struct hll {
	uint8_t registers[HLL_REGISTERS];
};

/* hll_init empties h. */
void hll_init(struct hll *h);

/* hll_estimate returns the estimated number of distinct values recorded,
 * rounded to the nearest integer: exactly 0 for an empty sketch. */
uint64_t hll_estimate(const struct hll *h);

/* ---- Hash (inline) -------------------------------------------------------- */

/* wyhash's default secret: odd 64-bit constants with balanced bits. */
#define HLL_SECRET0 0x2d358dccaa6c78a5ull
#define HLL_SECRET1 0x8bb84b93962eacc9ull

/* hll_mum multiplies *a by *b as 128-bit numbers: *a gets the low half,
 * *b the high half. */
static inline void hll_mum(uint64_t *a, uint64_t *b)
{
	__uint128_t r = (__uint128_t)*a * *b;
	*a = (uint64_t)r;
	*b = (uint64_t)(r >> 64);
}

/* hll_mix folds the 128-bit product of a and b to 64 bits. */
static inline uint64_t hll_mix(uint64_t a, uint64_t b)
{
	hll_mum(&a, &b);
	return a ^ b;
}

/* Unaligned loads in native byte order: memcpy compiles to one mov. */
static inline uint64_t hll_read8(const unsigned char *p)
{
	uint64_t v;
	memcpy(&v, p, 8);
	return v;
}

static inline uint64_t hll_read4(const unsigned char *p)
{
	uint32_t v;
	memcpy(&v, p, 4);
	return v;
}

/* hll_read_short packs a string of 0 to 16 bytes into *a and *b. Reading
 * overlapping words (first and last four bytes, and the two in between)
 * covers every byte without a loop or a branch per byte. */
static inline void hll_read_short(const unsigned char *p, size_t len, uint64_t *a, uint64_t *b)
{
	if (len >= 4) {
		size_t mid = (len >> 3) << 2; /* 0 for 4..7 bytes, 4 for 8..16 */
		*a = (hll_read4(p) << 32) | hll_read4(p + mid);
		*b = (hll_read4(p + len - 4) << 32) | hll_read4(p + len - 4 - mid);
	} else if (len > 0) {
		*a = ((uint64_t)p[0] << 16) | ((uint64_t)p[len >> 1] << 8) | p[len - 1];
		*b = 0;
	} else {
		*a = *b = 0;
	}
}

/* hll_hash returns a 64-bit hash of the len bytes at data (len 0 allowed).
 * The same bytes always give the same hash on one machine. */
static inline uint64_t hll_hash(const void *data, size_t len)
{
	const unsigned char *p = data;
	uint64_t seed = hll_mix(HLL_SECRET0, HLL_SECRET1);
	uint64_t a, b;

	if (len <= 16) {
		hll_read_short(p, len, &a, &b);
	} else {
		size_t i = len;
		while (i > 16) {
			seed = hll_mix(hll_read8(p) ^ HLL_SECRET1, hll_read8(p + 8) ^ seed);
			p += 16;
			i -= 16;
		}
		/* The last 16 bytes, overlapping what the loop took. */
		a = hll_read8(p + i - 16);
		b = hll_read8(p + i - 8);
	}
	a ^= HLL_SECRET1;
	b ^= seed;
	hll_mum(&a, &b);
	return hll_mix(a ^ HLL_SECRET0 ^ (uint64_t)len, b ^ HLL_SECRET1);
}

/* hll_add_hash records a value whose hll_hash is hash. The rank comes from
 * the low 52 bits with a sentinel bit below them: it is at most 53, and
 * clz never sees zero. */
static inline void hll_add_hash(struct hll *h, uint64_t hash)
{
	uint32_t index = (uint32_t)(hash >> (64 - HLL_PRECISION));
	uint64_t rest = (hash << HLL_PRECISION) | (1ull << (HLL_PRECISION - 1));
	uint8_t rank = (uint8_t)(__builtin_clzll(rest) + 1);

	if (rank > h->registers[index])
		h->registers[index] = rank;
}

/* hll_add records the len bytes at data. */
static inline void hll_add(struct hll *h, const void *data, size_t len)
{
	hll_add_hash(h, hll_hash(data, len));
}

#endif
