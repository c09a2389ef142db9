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
