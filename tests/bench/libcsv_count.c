/*
 * libcsv_count — the raw speed of libcsv on a file: counts fields and
 * records with libcsv's default options, nothing else.
 *
 * usage: libcsv_count FILE
 *
 * Reads FILE in 1 MiB pieces (the piece size jobq's worker reads from Redis)
 * and prints one JSON line: {"bytes":B,"fields":F,"records":R,"seconds":S}.
 * The time covers reading and parsing, one thread. Exits 1 on an error.
 * It is the reference that the profile task's speed is compared with.
 */
#include <csv.h>
#include <stdio.h>
#include <stdlib.h>
#include <time.h>

#define COUNT_CHUNK (1u << 20)

struct count {
	unsigned long long fields, records;
};

static void count_field(void *s, size_t len, void *ctx)
{
	(void)s;
	(void)len;
	((struct count *)ctx)->fields++;
}

static void count_record(int c, void *ctx)
{
	(void)c;
	((struct count *)ctx)->records++;
}

static double count_now(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

int main(int argc, char **argv)
{
	static char buf[COUNT_CHUNK];
	struct csv_parser p;
	struct count c = { 0, 0 };
	unsigned long long bytes = 0;
	size_t n;
	FILE *f;
	double t0;

	if (argc != 2 || (f = fopen(argv[1], "rb")) == NULL || csv_init(&p, 0) != 0) {
		fprintf(stderr, "usage: libcsv_count FILE\n");
		return 1;
	}
	t0 = count_now();
	while ((n = fread(buf, 1, sizeof buf, f)) > 0) {
		if (csv_parse(&p, buf, n, count_field, count_record, &c) != n) {
			fprintf(stderr, "libcsv_count: %s\n", csv_strerror(csv_error(&p)));
			return 1;
		}
		bytes += n;
	}
	csv_fini(&p, count_field, count_record, &c);
	printf("{\"bytes\":%llu,\"fields\":%llu,\"records\":%llu,\"seconds\":%.6f}\n",
	       bytes, c.fields, c.records, count_now() - t0);
	csv_free(&p);
	fclose(f);
	return 0;
}
