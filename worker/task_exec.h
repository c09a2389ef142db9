/*
 * task_exec — runs an external program (a task_catalog definition) as a
 * job's task.
 *
 * The program runs in its own session and process group (setsid), with its
 * definition's argv (no shell), environment (only what the definition
 * gives), directory and rlimits, and exactly three descriptors: the CSV on
 * stdin, the result on stdout, diagnostics on stderr. Every other
 * descriptor of the worker is made close-on-exec in the child
 * (close_range), so no Redis socket leaks into it.
 *
 * task_exec_run drives the child from the calling thread with
 * non-blocking pipes and poll(): input comes from io->read piece by piece,
 * stdout goes to io->write (up to max_output bytes), the last
 * TASK_EXEC_STDERR_TAIL bytes of stderr are kept for the error message, and
 * io->check is called at least every TASK_EXEC_TICK_MS ms.
 *
 * Ending: when check says stop, or the output passes max_output, the whole
 * process group gets SIGTERM, then SIGKILL after kill_grace_s unless the
 * program has exited and closed its pipes. When the program exits on its
 * own, whatever is left of its process group gets SIGKILL. The child is
 * always reaped before task_exec_run returns. A process that leaves the
 * group (setsid, setpgid) escapes all of this.
 */
#ifndef JOBQ_TASK_EXEC_H
#define JOBQ_TASK_EXEC_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "task.h"
#include "task_catalog.h"

/* How often the loop looks at the stop flags, and how long it waits for a
 * signalled child to be reapable. It bounds cancel latency for programs
 * (twice it, at worst, before the group is gone) and costs 100 wake-ups a
 * second per running program: nothing. At 50 ms, `make bench` measured a
 * p99 of 103 ms from DELETE to "cancelled and reaped". */
#define TASK_EXEC_TICK_MS 10
#define TASK_EXEC_STDERR_TAIL 4096

struct task_exec_io {
	void *ctx;
	/* read gives the input at offset: *buf and *n (0 at the end). Returns
	 * 0, or -1 to stop (the caller has decided why). */
	int (*read)(void *ctx, uint64_t offset, const char **buf, size_t *n);
	/* write stores result bytes. Returns 0, or -1 (output_failed). */
	int (*write)(void *ctx, const char *buf, size_t len);
	/* check is told the input bytes fed so far; returns true to go on,
	 * false to stop the program (the caller has decided why). */
	bool (*check)(void *ctx, uint64_t fed);
};

enum task_exec_end {
	TASK_EXEC_SUCCEEDED, /* exit status 0 */
	TASK_EXEC_FAILED,    /* *err says why: exec_failed, exit_status, signal,
	                        output_too_large, output_failed, spawn_failed */
	TASK_EXEC_STOPPED,   /* read or check said stop */
};

/* task_exec_run runs d to its end as described above and sets *fed to the
 * input bytes written to the program's stdin, whatever the end (check only
 * hears of them every TASK_EXEC_TICK_MS). */
enum task_exec_end task_exec_run(const struct task_def *d, const struct task_exec_io *io,
				 int kill_grace_s, uint64_t *fed, struct task_error *err);

#endif
