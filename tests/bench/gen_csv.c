/*
 * gen_csv — writes a deterministic CSV of mixed types to stdout, fast.
 *
 * usage: gen_csv BYTES [SEED]
 *
 * Writes a header and then whole records until at least BYTES bytes are
 * out (the last record is completed, so the output is a little longer).
 * The same BYTES and SEED always give the same bytes.
 *
 * Every column keeps one type, so the profile task sees each kind:
 *   id        integer, increasing
 *   qty       integer, signed, sometimes empty
 *   price     float with two decimals
 *   ratio     float in exponent form
 *   active    boolean, in mixed letter case
 *   day       date, a real calendar date
 *   city      text with multi-byte UTF-8
 *   note      text, often quoted: embedded commas, line ends (LF and CRLF)
 *             and doubled quotes
 * Records end with LF. Every record has the same field count and the
 * output is valid for jobq's dialect (UTF-8, no NUL, no text after quotes).
 *
 * Numbers are formatted by hand: snprintf would make generating a 1 GiB
 * stream take longer than uploading it.
 */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#define GEN_BUF (1u << 20)

struct gen {
	char buf[GEN_BUF + 4096]; /* room for one record past GEN_BUF */
	size_t len;
	uint64_t rng;
	unsigned long long written;
};

/* gen_next returns the next value of an xorshift64* sequence. */
static uint64_t gen_next(struct gen *g)
{
	g->rng ^= g->rng >> 12;
	g->rng ^= g->rng << 25;
	g->rng ^= g->rng >> 27;
	return g->rng * 2685821657736338717ull;
}

/* gen_below returns a value in [0, n). */
static unsigned gen_below(struct gen *g, unsigned n)
{
	return (unsigned)((gen_next(g) >> 32) % n);
}

/* gen_flush writes the buffer to stdout. Exits on a write error (a closed
 * pipe when the reader had enough is a normal way to end). */
static void gen_flush(struct gen *g)
{
	size_t off = 0;

	while (off < g->len) {
		ssize_t n = write(1, g->buf + off, g->len - off);

		if (n <= 0)
			exit(n < 0 ? 1 : 0);
		off += (size_t)n;
	}
	g->written += g->len;
	g->len = 0;
}

static void gen_put(struct gen *g, const char *s, size_t n)
{
	memcpy(g->buf + g->len, s, n);
	g->len += n;
}

static void gen_putc(struct gen *g, char c)
{
	g->buf[g->len++] = c;
}

/* gen_uint writes v in decimal, at least width digits (zero-padded). */
static void gen_uint(struct gen *g, unsigned long long v, int width)
{
	char tmp[24];
	int n = 0;

	do {
		tmp[n++] = (char)('0' + v % 10);
		v /= 10;
	} while (v != 0);
	while (n < width)
		tmp[n++] = '0';
	while (n > 0)
		gen_putc(g, tmp[--n]);
}

static void gen_int(struct gen *g, long long v)
{
	if (v < 0) {
		gen_putc(g, '-');
		gen_uint(g, (unsigned long long)-v, 1);
	} else {
		gen_uint(g, (unsigned long long)v, 1);
	}
}

static const char *const gen_cities[] = {
	"Oslo", "Bergen", "Tromsø", "Zürich", "Kraków", "São Paulo", "Malmö",
	"Ålesund", "Reykjavík", "Łódź", "København", "İstanbul", "東京", "Москва",
};
static const char *const gen_words[] = {
	"alpha", "bravo", "charlie", "delta", "echo", "foxtrot", "golf", "hotel",
	"india", "juliett", "kilo", "lima", "mike", "november", "oscar", "papa",
};
static const char *const gen_bools[] = { "true", "false", "TRUE", "False" };

/* gen_word writes one of the words. */
static void gen_word(struct gen *g)
{
	const char *w = gen_words[gen_below(g, 16)];

	gen_put(g, w, strlen(w));
}

/* gen_note writes the note field: plain text, or a quoted field holding
 * delimiters, line ends and doubled quotes in some mix. */
static void gen_note(struct gen *g)
{
	unsigned kind = gen_below(g, 8);

	if (kind < 3) { /* plain */
		gen_word(g);
		gen_putc(g, ' ');
		gen_uint(g, gen_below(g, 100000), 1);
		return;
	}
	gen_putc(g, '"');
	gen_word(g);
	if (kind == 3 || kind == 7)
		gen_put(g, ", ", 2);
	if (kind == 4 || kind == 7)
		gen_put(g, "\n", 1);
	if (kind == 5)
		gen_put(g, "\r\n", 2);
	if (kind == 6 || kind == 7)
		gen_put(g, " \"\"quoted\"\" ", 12);
	gen_word(g);
	gen_putc(g, ' ');
	gen_uint(g, gen_below(g, 1000000), 1);
	gen_putc(g, '"');
}

/* gen_date writes a valid YYYY-MM-DD (days 1-28 are valid in every month). */
static void gen_date(struct gen *g)
{
	gen_uint(g, 1970 + gen_below(g, 60), 4);
	gen_putc(g, '-');
	gen_uint(g, 1 + gen_below(g, 12), 2);
	gen_putc(g, '-');
	gen_uint(g, 1 + gen_below(g, 28), 2);
}

static void gen_record(struct gen *g, unsigned long long id)
{
	const char *s;

	gen_uint(g, id, 1);
	gen_putc(g, ',');
	if (gen_below(g, 20) != 0)
		gen_int(g, (long long)gen_below(g, 2000000) - 1000000);
	gen_putc(g, ',');
	gen_uint(g, gen_below(g, 100000), 1);
	gen_putc(g, '.');
	gen_uint(g, gen_below(g, 100), 2);
	gen_putc(g, ',');
	gen_uint(g, 1 + gen_below(g, 9), 1);
	gen_putc(g, '.');
	gen_uint(g, gen_below(g, 1000), 3);
	gen_put(g, "e-", 2);
	gen_uint(g, gen_below(g, 12), 1);
	gen_putc(g, ',');
	s = gen_bools[gen_below(g, 4)];
	gen_put(g, s, strlen(s));
	gen_putc(g, ',');
	gen_date(g);
	gen_putc(g, ',');
	s = gen_cities[gen_below(g, sizeof gen_cities / sizeof gen_cities[0])];
	gen_put(g, s, strlen(s));
	gen_putc(g, ',');
	gen_note(g);
	gen_putc(g, '\n');
}

int main(int argc, char **argv)
{
	static struct gen g;
	unsigned long long want, id = 1;
	static const char header[] = "id,qty,price,ratio,active,day,city,note\n";

	if (argc < 2 || argc > 3) {
		fprintf(stderr, "usage: gen_csv BYTES [SEED]\n");
		return 2;
	}
	want = strtoull(argv[1], NULL, 10);
	g.rng = argc == 3 ? strtoull(argv[2], NULL, 10) | 1 : 0x9e3779b97f4a7c15ull;
	gen_put(&g, header, sizeof header - 1);
	while (g.written + g.len < want) {
		gen_record(&g, id++);
		if (g.len >= GEN_BUF)
			gen_flush(&g);
	}
	gen_flush(&g);
	return 0;
}
