/*
 * hll — HyperLogLog with 4096 one-byte registers. See hll.h for the design.
 */
#include "hll.h"

#include <math.h>
#include <string.h>

/* ---- Hash ----------------------------------------------------------------- */

/* wyhash's default secret: odd 64-bit constants with balanced bits. */
static const uint64_t hll_secret[3] = {
	0x2d358dccaa6c78a5ull, 0x8bb84b93962eacc9ull, 0x4b33a62ed433d4a3ull,
};

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

uint64_t hll_hash(const void *data, size_t len)
{
	const unsigned char *p = data;
	uint64_t seed = hll_mix(hll_secret[0], hll_secret[1]);
	uint64_t a, b;

	if (len <= 16) {
		hll_read_short(p, len, &a, &b);
	} else {
		size_t i = len;
		while (i > 16) {
			seed = hll_mix(hll_read8(p) ^ hll_secret[1], hll_read8(p + 8) ^ seed);
			p += 16;
			i -= 16;
		}
		/* The last 16 bytes, overlapping what the loop took. */
		a = hll_read8(p + i - 16);
		b = hll_read8(p + i - 8);
	}
	a ^= hll_secret[1];
	b ^= seed;
	hll_mum(&a, &b);
	return hll_mix(a ^ hll_secret[0] ^ (uint64_t)len, b ^ hll_secret[1]);
}

/* ---- Sketch --------------------------------------------------------------- */

void hll_init(struct hll *h)
{
	memset(h->registers, 0, sizeof h->registers);
}

void hll_add_hash(struct hll *h, uint64_t hash)
{
	uint32_t index = (uint32_t)(hash >> (64 - HLL_PRECISION));
	/* The low 52 bits with a sentinel bit below them: the rank is at most
	 * 53, and clz never sees zero. */
	uint64_t rest = (hash << HLL_PRECISION) | (1ull << (HLL_PRECISION - 1));
	uint8_t rank = (uint8_t)(__builtin_clzll(rest) + 1);

	if (rank > h->registers[index])
		h->registers[index] = rank;
}

void hll_add(struct hll *h, const void *data, size_t len)
{
	hll_add_hash(h, hll_hash(data, len));
}

/* hll_raw_estimate returns alpha * m^2 / sum(2^-register) and counts the
 * zero registers into *zeros. Summing by a histogram of register values
 * keeps the result independent of register order and needs no ldexp. */
static double hll_raw_estimate(const struct hll *h, unsigned *zeros)
{
	unsigned histogram[64] = {0};
	for (unsigned i = 0; i < HLL_REGISTERS; i++)
		histogram[h->registers[i]]++;

	double sum = 0.0, weight = 1.0;
	for (unsigned k = 0; k < 64; k++) {
		sum += histogram[k] * weight;
		weight *= 0.5;
	}
	*zeros = histogram[0];

	const double m = HLL_REGISTERS;
	const double alpha = 0.7213 / (1.0 + 1.079 / m);
	return alpha * m * m / sum;
}

uint64_t hll_estimate(const struct hll *h)
{
	unsigned zeros;
	double estimate = hll_raw_estimate(h, &zeros);
	const double m = HLL_REGISTERS;

	if (zeros == HLL_REGISTERS)
		return 0;
	if (estimate <= 2.5 * m && zeros > 0)
		estimate = m * log(m / zeros);
	return (uint64_t)(estimate + 0.5);
}
