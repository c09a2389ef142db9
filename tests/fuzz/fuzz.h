/*
 * fuzz.h — what every fuzz target in tests/fuzz/ offers, and the one rule
 * they share.
 *
 * Each target defines LLVMFuzzerTestOneInput, libFuzzer's entry point. The
 * same file is built twice: with clang and -fsanitize=fuzzer,address,
 * undefined for `make fuzz`, and with the project's compiler against
 * replay.c, a plain main that runs each file of a corpus once, for
 * `make test` (so the committed corpus, crash regressions included, is
 * checked without libFuzzer's runtime).
 *
 * A target reports a broken invariant with FUZZ_ASSERT, which aborts: a
 * crash to libFuzzer, a failed run to the replay.
 */
#ifndef JOBQ_FUZZ_H
#define JOBQ_FUZZ_H

#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

#define FUZZ_ASSERT(cond)                                                              \
	do {                                                                           \
		if (!(cond)) {                                                         \
			fprintf(stderr, "%s:%d: invariant broken: %s\n", __FILE__, __LINE__, \
				#cond);                                                \
			abort();                                                       \
		}                                                                      \
	} while (0)

#endif
