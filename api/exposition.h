/*
 * exposition — writing the Prometheus text exposition format, version
 * 0.0.4 (what GET /metrics answers).
 *
 * A page is a sequence of families: "# HELP" and "# TYPE" lines, then the
 * family's samples, one a line: name{label="value",...} value. Label
 * values are escaped (backslash, double quote and newline become \\, \"
 * and \n); HELP text escapes backslash and newline. Histograms are written
 * whole from per-bucket counts: the _bucket lines are cumulative, the last
 * is le="+Inf" and equals _count.
 *
 * Memory. A struct expo_buf owns its text, in a flatjson buffer
 * (queue/flatjson.h: jobq's one growable text buffer), malloc'd and grown
 * as needed. Writing never fails loudly: out of memory marks the buffer
 * failed, later writes do nothing, and expo_take returns NULL at the end.
 */
#ifndef JOBQ_API_EXPOSITION_H
#define JOBQ_API_EXPOSITION_H

#include "flatjson.h"

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

/* The Content-Type of a page in this format. */
#define EXPO_CONTENT_TYPE "text/plain; version=0.0.4; charset=utf-8"

struct expo_buf {
	struct flatjson text; /* owned; the page so far */
};

struct expo_label {
	const char *name;   /* [a-zA-Z_][a-zA-Z0-9_]*, written as is */
	const char *value;  /* any bytes but NUL; escaped */
};

/* A histogram's data: nbounds upper bounds (ascending, seconds) and
 * nbounds + 1 per-bucket counts, the last one above every bound; not
 * cumulative. */
struct expo_histogram {
	const double *bounds;
	size_t nbounds;
	const uint64_t *counts;
	double sum;
};

/* expo_init makes b empty. Its text is released by expo_take, the one
 * way a page ends, which empties b even when it fails. */
void expo_init(struct expo_buf *b);

/* expo_take returns the page as a malloc'd, NUL-terminated block the
 * caller frees, its length in *len, and leaves b empty; NULL when b has
 * failed or out of memory (b is emptied all the same). */
char *expo_take(struct expo_buf *b, size_t *len);

/* expo_family writes the HELP and TYPE lines of family name; type is
 * "counter", "gauge" or "histogram". */
void expo_family(struct expo_buf *b, const char *name, const char *type, const char *help);

/* expo_sample_u64 and expo_sample_f64 write one sample of name with the n
 * labels (n may be 0). */
void expo_sample_u64(struct expo_buf *b, const char *name, const struct expo_label *labels,
		     size_t n, uint64_t value);
void expo_sample_f64(struct expo_buf *b, const char *name, const struct expo_label *labels,
		     size_t n, double value);

/* expo_histogram writes name_bucket (with le added to the n labels, at
 * most 7), name_sum and name_count for h. */
void expo_histogram(struct expo_buf *b, const char *name, const struct expo_label *labels,
		    size_t n, const struct expo_histogram *h);

#endif
