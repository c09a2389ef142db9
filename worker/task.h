/*
 * task — what a worker can do with a job's CSV.
 *
 * A task is a set of operations over the records of one input: the worker
 * reads the input from Redis in pieces, runs it through csv_reader, and
 * hands each field and record end to the task. The task writes its result
 * through a task_output (the worker's sink streams it into Redis). A task
 * knows nothing of Redis, threads or cancellation: the worker checks those
 * between pieces of input.
 *
 * Built-in tasks:
 *   profile  one JSON object of per-column statistics (application/json)
 *   ndjson   one JSON object per record, keys from the header
 *            (application/x-ndjson)
 *
 * Ownership: create returns an instance the worker frees with destroy, on
 * every path. The output is borrowed; it outlives the instance.
 */
#ifndef JOBQ_TASK_H
#define JOBQ_TASK_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

/* Where a task writes its result. write returns 0, or -1 when the bytes
 * could not be stored (the task then fails with code "output_failed"). */
struct task_output {
	int (*write)(void *ctx, const char *buf, size_t len);
	void *ctx;
};

struct task_params {
	unsigned char delimiter;
	bool header;         /* the first record names the columns */
	uint64_t bytes_total;
};

/* Why a task failed: a stable code and a sentence. */
struct task_error {
	char code[65];
	char message[256];
};

struct task_ops {
	const char *name;
	const char *result_type; /* media type of the result */
	/* create returns an instance, or NULL with *err set. */
	void *(*create)(const struct task_params *params, const struct task_output *out,
			struct task_error *err);
	/* field and record_end follow csv_reader_callbacks: 0 to go on,
	 * non-zero to stop (then error() says why). */
	int (*field)(void *self, const char *data, size_t len);
	int (*record_end)(void *self, uint64_t line);
	/* finish is called after the last record: it writes whatever the
	 * result still lacks. Returns 0, or -1 with *err set. */
	int (*finish)(void *self, struct task_error *err);
	/* error fills *err after field or record_end returned non-zero. */
	void (*error)(void *self, struct task_error *err);
	/* rows returns the data records seen so far (for progress). */
	uint64_t (*rows)(void *self);
	/* threads returns the statistics threads the job ran on besides its
	 * own, also once it gave them back (0: it ran alone); NULL for a task
	 * that never takes any. The "job finished" log line says it. */
	unsigned (*threads)(void *self);
	/* destroy frees the instance. It writes no output: the consumer may
	 * still hold the job's unflushed result in the sink (consumer.c). */
	void (*destroy)(void *self);
};

/* task_find returns the built-in task called name, or NULL. */
const struct task_ops *task_find(const char *name);

/* task_builtin_list writes the built-in tasks' names to out as a comma
 * list with a comma at each end (",profile,ndjson,"), the form claim.lua
 * takes for a batch. Returns 0, or -1 when cap bytes are too few. */
int task_builtin_list(char *out, size_t cap);

/* task_profile_set_threads sets how many statistics threads one large
 * profile job starts (stats_pipe.h); the worker calls it once at start-up
 * from --profile-threads. It is an atomic, read by each job as it starts.
 * 0 means task_profile_default_threads of the online CPUs. */
void task_profile_set_threads(unsigned n);

/* task_profile_set_thread_cap caps the statistics threads of all large
 * profile jobs running at once (0: no cap); the worker sets it once at
 * start-up (worker/main.c: the CPUs, or --profile-threads when larger).
 * A job that starts when the others hold the cap's threads takes what is
 * left, or none and adds its cells itself. task_profile_threads_in_use
 * returns how many the running jobs hold (for tests). */
void task_profile_set_thread_cap(unsigned cap);
unsigned task_profile_threads_in_use(void);

/* task_profile_default_threads returns the statistics threads a machine of
 * cpus CPUs gets by default: one less than cpus (the parser has one), but
 * 2 on two CPUs, where the parser's thread also waits on Redis for input
 * and two statistics threads fill that time; 1 on one CPU. */
int task_profile_default_threads(int cpus);

/* task_profile_thread_cap returns the cap (task_profile_set_thread_cap) of
 * a worker of cpus CPUs whose jobs ask for threads statistics threads
 * each: one a CPU, so that --concurrency large jobs do not start
 * --concurrency x --profile-threads of them; or threads when that asks for
 * more (up to the STATS_PIPE_MAX_THREADS one job can use), which one job
 * at a time then gets. */
int task_profile_thread_cap(int threads, int cpus);

/* The built-ins, for tests. */
extern const struct task_ops task_profile;
extern const struct task_ops task_ndjson;

#endif
