/*
 * fuzz_csv_check.c — the streaming CSV checker (queue/csv_check.h), fed
 * the same input whole and in random chunk splits.
 *
 * Input: byte 0 picks the delimiter and header flag, byte 1 the longest
 * field, byte 2 seeds the chunk sizes; the rest is the upload.
 *
 * Invariant: the verdict (the problem's code and line, or the summary)
 * does not depend on how the upload is split, as an upload arriving over
 * the network is split however TCP pleases.
 */
#include <string.h>

#include "csv_check.h"
#include "fuzz.h"

struct verdict {
	const char *code;   /* NULL: good */
	uint64_t line, rows, columns, bytes;
};

/* check_split runs a checker over data cut into chunks of 1 to 16 bytes
 * (from seed; seed 0: one chunk) and returns its verdict. */
static struct verdict check_split(const uint8_t *data, size_t size, unsigned char delim,
				  bool header, size_t max_field, unsigned seed)
{
	struct csv_check *c = csv_check_new(delim, header, max_field);
	struct verdict v = { 0 };
	size_t off = 0;
	int rc = 0;

	FUZZ_ASSERT(c != NULL);
	while (rc == 0 && off < size) {
		size_t n = seed == 0 ? size : 1 + (seed = seed * 1103515245u + 12345u) % 16;
		if (n > size - off)
			n = size - off;
		rc = csv_check_feed(c, (const char *)data + off, n);
		off += n;
	}
	if (rc == 0)
		rc = csv_check_finish(c);
	v.code = csv_check_problem(c)->code;
	FUZZ_ASSERT((rc == 0) == (v.code == NULL));
	v.line = v.code != NULL ? csv_check_problem(c)->line : 0;
	if (v.code == NULL) {
		v.rows = csv_check_summary(c)->rows;
		v.columns = csv_check_summary(c)->columns;
		v.bytes = csv_check_summary(c)->bytes;
		FUZZ_ASSERT(v.bytes == size);
		FUZZ_ASSERT(v.rows >= 1);
	}
	csv_check_free(c);
	return v;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	static const unsigned char delims[] = { ',', ';', '\t', '|' };
	struct verdict whole, split;

	if (size < 3)
		return 0;
	unsigned char delim = delims[data[0] & 3];
	bool header = (data[0] & 4) != 0;
	size_t max_field = data[1] < 128 ? (size_t)data[1] + 1 : (size_t)1 << 20;
	unsigned seed = data[2] | 1u;

	whole = check_split(data + 3, size - 3, delim, header, max_field, 0);
	split = check_split(data + 3, size - 3, delim, header, max_field, seed);
	FUZZ_ASSERT((whole.code == NULL) == (split.code == NULL));
	FUZZ_ASSERT(whole.code == NULL || strcmp(whole.code, split.code) == 0);
	FUZZ_ASSERT(whole.line == split.line);
	FUZZ_ASSERT(whole.rows == split.rows && whole.columns == split.columns);
	FUZZ_ASSERT(whole.bytes == split.bytes);
	return 0;
}
