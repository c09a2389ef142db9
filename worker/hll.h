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
 * Memory: struct hll is a plain value with no pointers; embed it or copy it.
 */
#ifndef JOBQ_HLL_H
#define JOBQ_HLL_H

#include <stddef.h>
#include <stdint.h>

#define HLL_PRECISION 12
#define HLL_REGISTERS (1u << HLL_PRECISION)

struct hll {
	uint8_t registers[HLL_REGISTERS];
};

/* hll_init empties h. */
void hll_init(struct hll *h);

/* hll_hash returns a 64-bit hash of the len bytes at data (len 0 allowed).
 * The same bytes always give the same hash on one machine. */
uint64_t hll_hash(const void *data, size_t len);

/* hll_add_hash records a value whose hll_hash is hash. */
void hll_add_hash(struct hll *h, uint64_t hash);

/* hll_add records the len bytes at data. */
void hll_add(struct hll *h, const void *data, size_t len);

/* hll_estimate returns the estimated number of distinct values recorded,
 * rounded to the nearest integer: exactly 0 for an empty sketch. */
uint64_t hll_estimate(const struct hll *h);

#endif
