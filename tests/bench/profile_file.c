/*
 * profile_file — the profile task on a file, without Redis: what the
 * task's own threads cost, for callgrind and perf stat.
 *
 * usage: profile_file FILE [header] [THREADS] [REPEAT]
 *
 * Reads FILE in 1 MiB pieces (the worker's piece size), feeds them through
 * csv_reader to task_profile, writes the task's JSON result to stdout and
 * the seconds it took to stderr. THREADS is --profile-threads (default:
 * the worker's). REPEAT (default 1) profiles the file that many times, one
 * job after another as one worker thread runs them, so that callgrind can
 * count what a small job costs once the process is warm (lazy binding,
 * first allocations). Exits 1 on any error.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>

#include "csv_reader.h"
#include "task.h"

#define PF_CHUNK (1u << 20)
#define PF_MAX_FIELD (1u << 20) /* jobq's default --max-field */

static int pf_write(void *ctx, const char *buf, size_t len)
{
	(void)ctx;
	return fwrite(buf, 1, len, stdout) == len ? 0 : -1;
}

static double pf_now(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

/* pf_run profiles f; returns 0 or 1 with a message on stderr. */
static int pf_run(FILE *f, const struct task_params *params)
{
	static char buf[PF_CHUNK];
	const struct task_output out = {pf_write, NULL};
	struct task_error err = {.code = ""};
	void *task = task_profile.create(params, &out, &err);
	const struct csv_reader_callbacks cbs = {task_profile.field, task_profile.record_end};
	struct csv_reader *r = task ? csv_reader_new(params->delimiter, PF_MAX_FIELD, &cbs, task) : NULL;
	enum csv_error e = r ? CSV_OK : CSV_ERR_NOMEM;
	size_t n;
	int rc = 1;

	while (e == CSV_OK && (n = fread(buf, 1, sizeof buf, f)) > 0)
		e = csv_reader_feed(r, buf, n);
	if (e == CSV_OK)
		e = csv_reader_finish(r);
	if (e == CSV_ERR_ABORTED)
		task_profile.error(task, &err);
	else if (e != CSV_OK)
		snprintf(err.code, sizeof err.code, "%s", csv_error_code(e));
	else if (task_profile.finish(task, &err) == 0)
		rc = 0;
	if (rc != 0)
		fprintf(stderr, "profile_file: %s: %s\n", err.code, err.message);
	csv_reader_free(r);
	if (task)
		task_profile.destroy(task);
	return rc;
}

int main(int argc, char **argv)
{
	struct task_params params = {',', argc > 2 && strcmp(argv[2], "header") == 0, 0};
	struct stat st;
	FILE *f;

	if (argc < 2 || (f = fopen(argv[1], "rb")) == NULL || fstat(fileno(f), &st) != 0) {
		fprintf(stderr, "usage: profile_file FILE [header] [THREADS] [REPEAT]\n");
		return 1;
	}
	params.bytes_total = (uint64_t)st.st_size;
	if (argc > 3)
		task_profile_set_threads((unsigned)strtoul(argv[3], NULL, 10));
	unsigned long repeat = argc > 4 ? strtoul(argv[4], NULL, 10) : 1;
	double t0 = pf_now();
	int rc = 0;

	for (unsigned long i = 0; i < repeat && rc == 0; i++) {
		rc = pf_run(f, &params);
		rewind(f);
	}
	fprintf(stderr, "{\"bytes\":%lld,\"seconds\":%.6f}\n", (long long)st.st_size, pf_now() - t0);
	fclose(f);
	return rc;
}
