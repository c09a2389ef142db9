/*
 * task_catalog — the external programs an operator declares as tasks.
 *
 * A tasks file (--tasks FILE / JOBQ_TASKS, read by both binaries) is one
 * JSON object: task name -> definition. The API only needs the names, to
 * accept or refuse a submission's task; the worker runs the definitions
 * (task_exec.h). Clients choose a task by name and nothing else: no part of
 * a request ever reaches a program's argv, environment or directory.
 *
 *   {"sort": {"argv": ["/usr/local/bin/sort-csv", "2"],  required, no shell
 *             "env": {"PATH": "/usr/bin", "LANG": "C"},  the whole environment
 *             "cwd": "/var/lib/jobq",
 *             "timeout": 60,             seconds; caps the job's own timeout
 *             "max_output": 1048576,     bytes of stdout kept (default 64 MiB)
 *             "cpu_seconds": 30,         RLIMIT_CPU
 *             "memory_bytes": 1073741824, RLIMIT_AS
 *             "open_files": 64,          RLIMIT_NOFILE
 *             "result_type": "text/csv"}} default application/octet-stream
 *
 * Names are [A-Za-z0-9_.-]{1,64} and may not be a built-in task's. Unknown
 * fields are refused, so that a typo does not silently drop a limit.
 *
 * Ownership: task_catalog_load returns a catalog the caller frees with
 * task_catalog_free; definitions point into it. The process-wide catalog
 * (task_catalog_global) is set once at start-up, before any thread starts,
 * and is read-only afterwards, so threads read it without a lock.
 */
#ifndef JOBQ_TASK_CATALOG_H
#define JOBQ_TASK_CATALOG_H

#include <stddef.h>
#include <stdint.h>

#define TASK_CATALOG_MAX_OUTPUT_DEFAULT (64ull * 1024 * 1024)
#define TASK_CATALOG_RESULT_TYPE_DEFAULT "application/octet-stream"

struct task_def {
	char *name;
	char **argv;          /* NULL-terminated; argv[0] is the program's path */
	char **env;           /* NULL-terminated "K=V" list: the whole environment */
	char *cwd;            /* NULL: the worker's */
	int64_t timeout_s;    /* 0: none of its own */
	uint64_t max_output;  /* bytes */
	int64_t cpu_seconds;  /* 0: no limit set */
	int64_t memory_bytes; /* 0: no limit set */
	int64_t open_files;   /* 0: no limit set */
	char *result_type;
};

struct task_catalog {
	struct task_def *defs;
	size_t len;
};

/* task_catalog_parse reads the JSON text of a tasks file. Returns the
 * catalog, or NULL with a sentence naming the task and field in err. */
struct task_catalog *task_catalog_parse(const char *text, char *err, size_t errlen);

/* task_catalog_load reads the tasks file at path; as task_catalog_parse. */
struct task_catalog *task_catalog_load(const char *path, char *err, size_t errlen);

/* task_catalog_free frees c and its definitions. NULL is allowed. */
void task_catalog_free(struct task_catalog *c);

/* task_catalog_find returns the definition called name, or NULL (also
 * when c is NULL). */
const struct task_def *task_catalog_find(const struct task_catalog *c, const char *name);

/* task_catalog_global returns the process-wide catalog (NULL: none). */
const struct task_catalog *task_catalog_global(void);

/* task_catalog_config_parse is the config_parse_fn of --tasks: it loads
 * the file and makes it the process-wide catalog (dst is unused). Call it
 * only at start-up, before threads start. */
int task_catalog_config_parse(const char *text, void *dst, char *err, size_t errlen);

/* task_catalog_known returns true when name is a built-in task or one of
 * the process-wide catalog. */
int task_catalog_known(const char *name);

#endif
