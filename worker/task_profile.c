/*
 * task_profile — the "profile" task: statistics for every column, as one
 * JSON object (application/json).
 *
 * The result, written at finish in one write, compact, keys in this order:
 *   {"rows":N,"columns":[{"name":..,"type":..,"count":..,"empty":..,
 *     "min":..,"max":..,"mean":..,"stddev":..,"min_length":..,
 *     "max_length":..,"distinct_approx":..}, ...]}
 * rows counts data records (not the header). The meaning of each column
 * field is column_stats.h's; a value that does not apply is null. min and
 * max are JSON integers for integer columns, reals for float columns and
 * strings otherwise.
 *
 * Decisions:
 *   - Names: with header=true the first record names the columns, as
 *     written (duplicates stay duplicates: each column is its own object in
 *     an array, so nothing is lost); with header=false they are c1, c2, ...
 *   - Reals are dumped with 17 significant digits, made explicit with
 *     JSON_REAL_PRECISION(17): every double reads back exactly, and the same
 *     input always gives the same bytes (the statistics are computed in
 *     input order with strict IEEE double arithmetic; -std=c11 turns off
 *     FMA contraction). 0.1 therefore prints as 0.10000000000000001.
 *   - A record whose field count differs from the first record's cannot
 *     reach a task (the upload check rejects it), but if one does the task
 *     stops with "ragged_record" instead of reading past its arrays. Extra
 *     fields are skipped until the record ends, so that the error can name
 *     the line.
 *
 *   - Several cores for a large input: from the end of the first record of
 *     an input of at least PROFILE_PIPE_MIN_BYTES, cells go through a
 *     stats_pipe to --profile-threads statistics threads, each owning some
 *     columns, while this one goes on parsing. Cells reach each column in
 *     the same order either way, so the result is the same bytes. A small
 *     input stays on one thread (a thread costs more than it saves there),
 *     and so does a large one when the threads cannot be started, or
 *     when the worker's other large jobs hold every statistics thread the
 *     cap allows (task_profile_set_thread_cap): a job takes what is left,
 *     down to none, rather than wait or oversubscribe the CPUs.
 *   - Why the parsing itself is not split: csv_reader parses this dialect
 *     about three times as fast as libcsv counts fields, so the parser is
 *     not what limits a job; the statistics are, and they split by column
 *     without changing a bit of the result. Splitting the input by byte
 *     ranges would need each range's quote state, and the dialect keeps a
 *     `"` inside an unquoted field as data, so quote parity from the start
 *     does not give it; and the worker, not the task, reads the input.
 *
 * Memory: one column_stats per column (about 4.2 KiB each plus the longest
 * cell twice, see column_stats.h), the header names, and at finish the JSON
 * document. Nothing per record.
 */
#include "task.h"

#include <inttypes.h>
#include <stdarg.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "column_stats.h"
#include "flatjson.h"
#include "config.h"
#include "stats_pipe.h"

#define PROFILE_PIPE_MIN_BYTES (4u << 20)

/* Statistics threads per large job (task_profile_set_threads): shared by
 * every consumer thread, set once at start-up, hence atomic. 0: default. */
static atomic_uint profile_threads;

void task_profile_set_threads(unsigned n)
{
	atomic_store_explicit(&profile_threads, n, memory_order_relaxed);
}

int task_profile_default_threads(int cpus)
{
	if (cpus <= 1)
		return 1;
	return cpus > 2 ? cpus - 1 : 2;
}

int task_profile_thread_cap(int threads, int cpus)
{
	int one_job = threads < STATS_PIPE_MAX_THREADS ? threads : STATS_PIPE_MAX_THREADS;

	return one_job > cpus ? one_job : cpus;
}

/* profile_stats_threads returns the statistics threads a job asks for. */
static unsigned profile_stats_threads(void)
{
	unsigned n = atomic_load_explicit(&profile_threads, memory_order_relaxed);

	return n > 0 ? n : (unsigned)task_profile_default_threads(config_cpu_count());
}

/* The statistics threads of all large jobs of the process together: at
 * most profile_thread_cap (0: no cap), set once at start-up; the jobs
 * running hold profile_threads_used of them. Both shared by every
 * consumer thread, hence atomic; a job takes its share with one
 * compare-and-swap and gives it back when it is destroyed. */
static atomic_uint profile_thread_cap;
static atomic_uint profile_threads_used;

void task_profile_set_thread_cap(unsigned cap)
{
	atomic_store_explicit(&profile_thread_cap, cap, memory_order_relaxed);
}

unsigned task_profile_threads_in_use(void)
{
	return atomic_load(&profile_threads_used);
}

/* profile_take_threads reserves up to want statistics threads under the
 * cap and returns how many it reserved: fewer, or 0, when other jobs hold
 * the rest. The caller gives them back with profile_give_threads. */
static unsigned profile_take_threads(unsigned want)
{
	unsigned cap = atomic_load_explicit(&profile_thread_cap, memory_order_relaxed);
	unsigned used = atomic_load(&profile_threads_used), grant;

	do {
		grant = cap == 0 || used + want <= cap ? want : used < cap ? cap - used : 0;
		if (grant == 0)
			return 0;
	} while (!atomic_compare_exchange_weak(&profile_threads_used, &used, used + grant));
	return grant;
}

static void profile_give_threads(unsigned n)
{
	if (n > 0)
		atomic_fetch_sub(&profile_threads_used, n);
}

struct profile_name {
	char *data; /* owned */
	size_t len;
};

struct profile {
	struct task_output out;        /* borrowed */
	bool header;
	uint64_t bytes_total;          /* the input's size, from the claim */
	struct stats_pipe *pipe;       /* owned; NULL: cells are added here */
	unsigned threads;              /* statistics threads taken for pipe */
	unsigned threads_ran;          /* threads, kept once given back */
	bool shaped;                   /* the first record ended: ncols is final */
	size_t field;                  /* index of the next field in this record */
	size_t ncols;
	size_t cols_cap;
	struct column_stats *cols;     /* owned, ncols of them */
	struct profile_name *names;    /* owned, ncols of them when header */
	uint64_t rows;
	struct task_error err;         /* why field or record_end stopped */
};

/* profile_set_error fills *err with code and a formatted sentence. */
__attribute__((format(printf, 3, 4)))
static void profile_set_error(struct task_error *err, const char *code, const char *fmt, ...)
{
	va_list ap;

	snprintf(err->code, sizeof err->code, "%s", code);
	va_start(ap, fmt);
	vsnprintf(err->message, sizeof err->message, fmt, ap);
	va_end(ap);
}

__attribute__((cold))
static int profile_nomem(struct profile *p)
{
	profile_set_error(&p->err, "out_of_memory", "The profile task ran out of memory.");
	return -1;
}

/* ---- Records -------------------------------------------------------------- */

/* profile_add_column appends an initialised column (and, with a header, its
 * name). Returns 0, or -1 out of memory with p->err set. */
static int profile_add_column(struct profile *p, const char *name, size_t len)
{
	if (p->ncols == p->cols_cap) {
		size_t cap = p->cols_cap ? p->cols_cap * 2 : 8;
		struct column_stats *cols = realloc(p->cols, cap * sizeof *cols);
		if (!cols)
			return profile_nomem(p);
		p->cols = cols;
		struct profile_name *names = realloc(p->names, cap * sizeof *names);
		if (!names)
			return profile_nomem(p);
		p->names = names;
		p->cols_cap = cap;
	}
	struct profile_name *n = &p->names[p->ncols];
	n->data = NULL;
	n->len = len;
	if (p->header && len > 0 && !(n->data = malloc(len)))
		return profile_nomem(p);
	if (n->data)
		memcpy(n->data, name, len);
	column_stats_init(&p->cols[p->ncols++]);
	return 0;
}

/* profile_field_first handles the fields profile_field's fast path does
 * not: those of the first record (names or the first cells) and surplus
 * ones (reported at record_end). Out of line so that the fast path stays
 * a few instructions. Returns 0 or -1 with p->err set. */
__attribute__((noinline))
static int profile_field_first(struct profile *p, size_t i, const char *data, size_t len)
{
	if (!p->shaped && profile_add_column(p, data, len) != 0)
		return -1;
	if (i >= p->ncols || (!p->shaped && p->header))
		return 0; /* a surplus field (reported at record_end), or a name */
	if (column_stats_add(&p->cols[i], data, len) != 0)
		return profile_nomem(p);
	return 0;
}

/* profile_field adds a data cell to its column, through the pipe when it
 * runs. The pipe starts only once the first record has ended, so the
 * first record never goes through it. */
static int profile_field(void *self, const char *data, size_t len)
{
	struct profile *p = self;
	size_t i = p->field++;

	if (__builtin_expect(!p->shaped || i >= p->ncols, 0))
		return profile_field_first(p, i, data, len);
	if (p->pipe != NULL)
		return stats_pipe_add(p->pipe, i, data, len) != 0 ? profile_nomem(p) : 0;
	if (column_stats_add(&p->cols[i], data, len) != 0)
		return profile_nomem(p);
	return 0;
}

/* profile_start_pipe starts the statistics threads of a large input, as
 * many as it asks for and the cap leaves (stats_pipe_start runs no more
 * than one a column). With none left, or none started, the cells are
 * added on this thread, as for a small input. */
static void profile_start_pipe(struct profile *p)
{
	unsigned want = profile_stats_threads();

	if (want > p->ncols)
		want = p->ncols > 0 ? (unsigned)p->ncols : 1;
	if (want > STATS_PIPE_MAX_THREADS)
		want = STATS_PIPE_MAX_THREADS;
	p->threads = profile_take_threads(want);
	if (p->threads > 0)
		p->pipe = stats_pipe_start(p->cols, p->ncols, p->threads);
	if (p->pipe == NULL) {
		profile_give_threads(p->threads);
		p->threads = 0;
	}
	p->threads_ran = p->threads;
}

static int profile_record_end(void *self, uint64_t line)
{
	struct profile *p = self;
	size_t fields = p->field;

	p->field = 0;
	if (!p->shaped) {
		p->shaped = true;
		p->rows += !p->header;
		/* The columns are final now: the pipe may have them. */
		if (p->bytes_total >= PROFILE_PIPE_MIN_BYTES)
			profile_start_pipe(p);
		return 0;
	}
	if (fields != p->ncols) {
		profile_set_error(&p->err, "ragged_record",
				  "The record on line %" PRIu64 " has %zu fields; the first record has %zu.",
				  line, fields, p->ncols);
		return -1;
	}
	p->rows++;
	return 0;
}

/* ---- Result --------------------------------------------------------------- */

/* The result is written with flatjson, not built as a jansson tree: for a
 * small job the tree's allocations and key hashing cost more than the job
 * itself. The bytes are those json_dumps wrote for the tree (flatjson.h),
 * members in this order. */

/* profile_value_json appends v (JSON null when it has none). */
static void profile_value_json(struct flatjson *j, const struct column_value *v)
{
	switch (v->kind) {
	case COLUMN_VALUE_INTEGER:
		flatjson_int(j, v->integer);
		return;
	case COLUMN_VALUE_REAL:
		flatjson_real(j, v->real);
		return;
	case COLUMN_VALUE_STRING:
		flatjson_string(j, v->str, v->len);
		return;
	case COLUMN_VALUE_NONE:
		break;
	}
	flatjson_lit(j, "null");
}

/* profile_optional_real appends x, or null when has is false. */
static void profile_optional_real(struct flatjson *j, bool has, double x)
{
	if (has)
		flatjson_real(j, x);
	else
		flatjson_lit(j, "null");
}

/* profile_optional_count appends n, or null when has is false. */
static void profile_optional_count(struct flatjson *j, bool has, uint64_t n)
{
	if (has)
		flatjson_int(j, (int64_t)n);
	else
		flatjson_lit(j, "null");
}

/* profile_column_name appends column i's name. */
static void profile_column_name(struct flatjson *j, const struct profile *p, size_t i)
{
	char generated[32];
	int n;

	if (p->header) {
		flatjson_string(j, p->names[i].data ? p->names[i].data : "", p->names[i].len);
		return;
	}
	n = snprintf(generated, sizeof generated, "c%zu", i + 1);
	flatjson_string(j, generated, (size_t)n);
}

/* profile_column_json appends column i's object. */
static void profile_column_json(struct flatjson *j, const struct profile *p, size_t i)
{
	struct column_summary s;
	const char *type;

	column_stats_summarize(&p->cols[i], &s);
	type = column_type_name(s.type);
	flatjson_lit(j, "{\"name\":");
	profile_column_name(j, p, i);
	flatjson_lit(j, ",\"type\":");
	flatjson_string(j, type, strlen(type));
	flatjson_lit(j, ",\"count\":");
	flatjson_int(j, (int64_t)s.count);
	flatjson_lit(j, ",\"empty\":");
	flatjson_int(j, (int64_t)s.empty);
	flatjson_lit(j, ",\"min\":");
	profile_value_json(j, &s.min);
	flatjson_lit(j, ",\"max\":");
	profile_value_json(j, &s.max);
	flatjson_lit(j, ",\"mean\":");
	profile_optional_real(j, s.has_mean, s.mean);
	flatjson_lit(j, ",\"stddev\":");
	profile_optional_real(j, s.has_stddev, s.stddev);
	flatjson_lit(j, ",\"min_length\":");
	profile_optional_count(j, s.has_length, s.min_length);
	flatjson_lit(j, ",\"max_length\":");
	profile_optional_count(j, s.has_length, s.max_length);
	flatjson_lit(j, ",\"distinct_approx\":");
	flatjson_int(j, (int64_t)s.distinct_approx);
	flatjson_lit(j, "}");
}

/* profile_result_json appends the whole result document; check
 * flatjson_ok afterwards. */
static void profile_result_json(struct flatjson *j, const struct profile *p)
{
	flatjson_lit(j, "{\"rows\":");
	flatjson_int(j, (int64_t)p->rows);
	flatjson_lit(j, ",\"columns\":[");
	for (size_t i = 0; i < p->ncols; i++) {
		if (i > 0)
			flatjson_lit(j, ",");
		profile_column_json(j, p, i);
	}
	flatjson_lit(j, "]}");
}

/* profile_end_pipe waits for the statistics threads to add every cell,
 * then frees the pipe and gives its threads back to the cap at once: the
 * job still has its result to store, which may take long while Redis is
 * away, and another job may use them meanwhile. Returns 0, or -1 when a
 * cell could not be added. */
static int profile_end_pipe(struct profile *p)
{
	int rc;

	if (p->pipe == NULL)
		return 0;
	rc = stats_pipe_finish(p->pipe);
	stats_pipe_free(p->pipe);
	p->pipe = NULL;
	profile_give_threads(p->threads);
	p->threads = 0;
	return rc;
}

static int profile_finish(void *self, struct task_error *err)
{
	struct profile *p = self;

	if (p->field != 0) {
		profile_set_error(err, "ragged_record", "The input ended inside a record.");
		return -1;
	}
	if (profile_end_pipe(p) != 0) {
		profile_set_error(err, "out_of_memory", "The profile task ran out of memory.");
		return -1;
	}
	char stack[2048];
	struct flatjson j;
	flatjson_init(&j, stack, sizeof stack);
	profile_result_json(&j, p);
	if (!flatjson_ok(&j)) {
		flatjson_free(&j);
		profile_set_error(err, "out_of_memory", "The profile result could not be built.");
		return -1;
	}
	int rc = p->out.write(p->out.ctx, j.data, j.len);
	flatjson_free(&j);
	if (rc != 0) {
		profile_set_error(err, "output_failed", "The profile result could not be stored.");
		return -1;
	}
	return 0;
}

/* ---- Instance ------------------------------------------------------------- */

static void *profile_create(const struct task_params *params, const struct task_output *out,
			    struct task_error *err)
{
	struct profile *p = calloc(1, sizeof *p);

	if (!p) {
		profile_set_error(err, "out_of_memory", "The profile task could not start: out of memory.");
		return NULL;
	}
	p->out = *out;
	p->header = params->header;
	p->bytes_total = params->bytes_total;
	return p;
}

static void profile_error(void *self, struct task_error *err)
{
	struct profile *p = self;
	*err = p->err;
}

static uint64_t profile_rows(void *self)
{
	struct profile *p = self;
	return p->rows;
}

static unsigned profile_threads_ran(void *self)
{
	struct profile *p = self;
	return p->threads_ran;
}

static void profile_destroy(void *self)
{
	struct profile *p = self;

	if (!p)
		return;
	stats_pipe_free(p->pipe); /* first: its thread may still use the columns */
	profile_give_threads(p->threads);
	for (size_t i = 0; i < p->ncols; i++) {
		column_stats_free(&p->cols[i]);
		free(p->names[i].data);
	}
	free(p->cols);
	free(p->names);
	free(p);
}

const struct task_ops task_profile = {
	.name = "profile",
	.result_type = "application/json",
	.create = profile_create,
	.field = profile_field,
	.record_end = profile_record_end,
	.finish = profile_finish,
	.error = profile_error,
	.rows = profile_rows,
	.threads = profile_threads_ran,
	.destroy = profile_destroy,
};
