/*
 * exposition.c — the Prometheus text format writer (see exposition.h).
 */
#include "exposition.h"

#include <inttypes.h>
#include <stdio.h>
#include <string.h>

/* The most labels a histogram sample may carry besides le. */
#define EXPO_HISTOGRAM_LABELS_MAX 7

void expo_init(struct expo_buf *b)
{
	flatjson_init(&b->text, NULL, 0);
}

char *expo_take(struct expo_buf *b, size_t *len)
{
	return flatjson_take(&b->text, len);
}

/* expo_put appends the n bytes at s. */
static void expo_put(struct expo_buf *b, const char *s, size_t n)
{
	flatjson_raw(&b->text, s, n);
}

static void expo_puts(struct expo_buf *b, const char *s)
{
	expo_put(b, s, strlen(s));
}

/* expo_escaped appends s with backslash and newline escaped, and the
 * double quote too when quote is set (label values; not HELP text). */
static void expo_escaped(struct expo_buf *b, const char *s, bool quote)
{
	for (; *s != '\0'; s++) {
		if (*s == '\\')
			expo_puts(b, "\\\\");
		else if (*s == '\n')
			expo_puts(b, "\\n");
		else if (*s == '"' && quote)
			expo_puts(b, "\\\"");
		else
			expo_put(b, s, 1);
	}
}

void expo_family(struct expo_buf *b, const char *name, const char *type, const char *help)
{
	expo_puts(b, "# HELP ");
	expo_puts(b, name);
	expo_puts(b, " ");
	expo_escaped(b, help, false);
	expo_puts(b, "\n# TYPE ");
	expo_puts(b, name);
	expo_puts(b, " ");
	expo_puts(b, type);
	expo_puts(b, "\n");
}

/* expo_head writes a sample's name and labels, up to the value. */
static void expo_head(struct expo_buf *b, const char *name, const struct expo_label *labels,
		      size_t n)
{
	expo_puts(b, name);
	for (size_t i = 0; i < n; i++) {
		expo_puts(b, i == 0 ? "{" : ",");
		expo_puts(b, labels[i].name);
		expo_puts(b, "=\"");
		expo_escaped(b, labels[i].value, true);
		expo_puts(b, "\"");
	}
	expo_puts(b, n > 0 ? "} " : " ");
}

void expo_sample_u64(struct expo_buf *b, const char *name, const struct expo_label *labels,
		     size_t n, uint64_t value)
{
	char v[24];

	expo_head(b, name, labels, n);
	snprintf(v, sizeof v, "%" PRIu64 "\n", value);
	expo_puts(b, v);
}

void expo_sample_f64(struct expo_buf *b, const char *name, const struct expo_label *labels,
		     size_t n, double value)
{
	char v[40];

	expo_head(b, name, labels, n);
	snprintf(v, sizeof v, "%.15g\n", value);
	expo_puts(b, v);
}

/* expo_suffixed writes name with suffix into out (cap bytes). */
static const char *expo_suffixed(char *out, size_t cap, const char *name, const char *suffix)
{
	snprintf(out, cap, "%s%s", name, suffix);
	return out;
}

void expo_histogram(struct expo_buf *b, const char *name, const struct expo_label *labels,
		    size_t n, const struct expo_histogram *h)
{
	struct expo_label all[EXPO_HISTOGRAM_LABELS_MAX + 1];
	char metric[128], le[32];
	uint64_t total = 0;

	if (n > EXPO_HISTOGRAM_LABELS_MAX)
		n = EXPO_HISTOGRAM_LABELS_MAX;
	memcpy(all, labels, n * sizeof *labels);
	all[n].name = "le";
	expo_suffixed(metric, sizeof metric, name, "_bucket");
	for (size_t i = 0; i <= h->nbounds; i++) {
		total += h->counts[i];
		if (i < h->nbounds)
			snprintf(le, sizeof le, "%g", h->bounds[i]);
		all[n].value = i < h->nbounds ? le : "+Inf";
		expo_sample_u64(b, metric, all, n + 1, total);
	}
	expo_sample_f64(b, expo_suffixed(metric, sizeof metric, name, "_sum"), labels, n, h->sum);
	expo_sample_u64(b, expo_suffixed(metric, sizeof metric, name, "_count"), labels, n, total);
}
