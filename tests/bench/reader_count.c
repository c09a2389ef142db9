/*
 * reader_count — the raw speed of jobq's own tokenizer (queue/csv_reader.c)
 * on a file: counts fields and records, nothing else.
 *
 * usage: reader_count FILE
 *
 * Reads FILE in 1 MiB pieces (the piece size jobq's worker reads from Redis)
 * and prints one JSON line: {"bytes":B,"fields":F,"records":R,"seconds":S}.
 * Set beside the profile task's speed it separates what parsing costs from
 * what the statistics cost. Exits 1 on a CSV error.
 */
#include <stdio.h>
#include <stdlib.h>
#include <time.h>

#include "csv_reader.h"

#define COUNT_CHUNK (1u << 20)
#define COUNT_MAX_FIELD (1u << 20) /* jobq's default --max-field */

struct count {
	unsigned long long fields, records;
};

static int count_field(void *ctx, const char *data, size_t len)
{
	(void)data;
	(void)len;
	((struct count *)ctx)->fields++;
	return 0;
}

static int count_record(void *ctx, uint64_t line)
{
	(void)line;
	((struct count *)ctx)->records++;
	return 0;
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
	const struct csv_reader_callbacks cbs = { count_field, count_record };
	struct count c = { 0, 0 };
	unsigned long long bytes = 0;
	enum csv_error e = CSV_OK;
	struct csv_reader *r;
	size_t n;
	FILE *f;
	double t0;

	if (argc != 2 || (f = fopen(argv[1], "rb")) == NULL) {
		fprintf(stderr, "usage: reader_count FILE\n");
		return 1;
	}
	if ((r = csv_reader_new(',', COUNT_MAX_FIELD, &cbs, &c)) == NULL)
		return 1;
	t0 = count_now();
	while (e == CSV_OK && (n = fread(buf, 1, sizeof buf, f)) > 0) {
		e = csv_reader_feed(r, buf, n);
		bytes += n;
	}
	if (e == CSV_OK)
		e = csv_reader_finish(r);
	if (e != CSV_OK) {
		fprintf(stderr, "reader_count: line %llu: %s\n",
			(unsigned long long)csv_reader_line(r), csv_error_message(e));
		return 1;
	}
	printf("{\"bytes\":%llu,\"fields\":%llu,\"records\":%llu,\"seconds\":%.6f}\n",
	       bytes, c.fields, c.records, count_now() - t0);
	csv_reader_free(r);
	fclose(f);
	return 0;
}
