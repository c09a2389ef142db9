/*
 * hll — HyperLogLog with 4096 one-byte registers. See hll.h for the design.
 */
#include "hll.h"

#include <math.h>
#include <string.h>

void hll_init(struct hll *h)
{
	memset(h->registers, 0, sizeof h->registers);
}

/* HLL_BLOCK registers are tested for zero together. */
#define HLL_BLOCK 32
/* hll_histogram tests a block as four 64-bit words. */
_Static_assert(HLL_BLOCK == 4 * sizeof(uint64_t), "a block is four words");

/* hll_histogram counts the registers of each value into histogram[64]
 * (zeroed by the caller). A small job leaves almost every register zero,
 * so a block of HLL_BLOCK registers that are all zero counts as one step:
 * the counts, and so the estimate, are exactly those of a byte-by-byte
 * count, at a fraction of the work (and without 4096 increments of one
 * counter in a row, each waiting for the last). */
static void hll_histogram(const struct hll *h, unsigned histogram[64])
{
	unsigned zero_blocks = 0;

	for (unsigned i = 0; i < HLL_REGISTERS; i += HLL_BLOCK) {
		uint64_t words[HLL_BLOCK / 8];
		memcpy(words, h->registers + i, sizeof words);
		if ((words[0] | words[1] | words[2] | words[3]) == 0) {
			zero_blocks++;
			continue;
		}
		for (unsigned j = 0; j < HLL_BLOCK; j++)
			histogram[h->registers[i + j]]++;
	}
	histogram[0] += HLL_BLOCK * zero_blocks;
}

/* hll_raw_estimate returns alpha * m^2 / sum(2^-register) and counts the
 * zero registers into *zeros. Summing by a histogram of register values
 * keeps the result independent of register order and needs no ldexp. */
static double hll_raw_estimate(const struct hll *h, unsigned *zeros)
{
	unsigned histogram[64] = {0};
	hll_histogram(h, histogram);

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
