/*
 * task_exec — see task_exec.h.
 */
#include "task_exec.h"

#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <poll.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "worker.h"

#define EXEC_READ_CHUNK 65536

/* One running child and its pipes, owned by the calling thread. */
struct exec_child {
	const struct task_def *d;
	const struct task_exec_io *io;
	pid_t pid;          /* also the process group id */
	int in, out, errp;  /* parent ends; -1 once closed */
	const char *piece;  /* input not yet written */
	size_t piece_len;
	uint64_t offset;    /* input bytes read from the store */
	uint64_t fed;       /* input bytes written to stdin */
	bool input_end;     /* the store has no more input */
	uint64_t out_bytes;
	char tail[TASK_EXEC_STDERR_TAIL];
	size_t tail_len;
	bool exited;        /* waited for with WNOWAIT: a zombie, not reaped */
	int status;
};

__attribute__((format(printf, 3, 4)))
static void exec_error(struct task_error *err, const char *code, const char *fmt, ...)
{
	va_list ap;

	snprintf(err->code, sizeof err->code, "%s", code);
	va_start(ap, fmt);
	vsnprintf(err->message, sizeof err->message, fmt, ap);
	va_end(ap);
}

static void exec_close(int *fd)
{
	if (*fd >= 0)
		close(*fd);
	*fd = -1;
}

/* ---- The child, between fork and exec: async-signal-safe calls only ---- */

static void exec_limit(int resource, int64_t value)
{
	struct rlimit rl = {(rlim_t)value, (rlim_t)value};

	if (value > 0)
		setrlimit(resource, &rl);
}

/* exec_child_main sets the child up and execs d; on failure it writes
 * errno to report (close-on-exec, so it reads EOF on success) and exits. */
static void exec_child_main(const struct task_def *d, const int in[2], const int out[2],
			    const int errp[2], int report)
{
	sigset_t none;
	int e;

	setsid();
	sigemptyset(&none);
	sigprocmask(SIG_SETMASK, &none, NULL); /* the worker blocks TERM and INT */
	signal(SIGPIPE, SIG_DFL);              /* the worker ignores it */
	if (dup2(in[0], 0) < 0 || dup2(out[1], 1) < 0 || dup2(errp[1], 2) < 0)
		goto fail;
	/* Every other descriptor, Redis sockets included, closes at exec. */
	if (close_range(3, ~0u, CLOSE_RANGE_CLOEXEC) != 0) {
		struct rlimit rl;
		int max = getrlimit(RLIMIT_NOFILE, &rl) == 0 && rl.rlim_cur < 65536 ?
				  (int)rl.rlim_cur : 65536;

		for (int fd = 3; fd < max; fd++)
			if (fd != report)
				close(fd);
	}
	exec_limit(RLIMIT_CPU, d->cpu_seconds);
	exec_limit(RLIMIT_AS, d->memory_bytes);
	exec_limit(RLIMIT_NOFILE, d->open_files);
	if (d->cwd != NULL && chdir(d->cwd) != 0)
		goto fail;
	execve(d->argv[0], d->argv, d->env);
fail:
	e = errno;
	if (write(report, &e, sizeof e) < 0)
		_exit(127);
	_exit(127);
}

/* ---- The parent ------------------------------------------------------------ */

static int exec_pipes(int in[2], int out[2], int errp[2], int report[2])
{
	in[0] = in[1] = out[0] = out[1] = errp[0] = errp[1] = report[0] = report[1] = -1;
	return pipe2(in, O_CLOEXEC) | pipe2(out, O_CLOEXEC) | pipe2(errp, O_CLOEXEC) |
	       pipe2(report, O_CLOEXEC);
}

static void exec_close_all(int *fds, size_t n)
{
	for (size_t i = 0; i < n; i++)
		exec_close(&fds[i]);
}

/* exec_spawn forks and execs d. Returns 0 with ch's pid and pipes set, or
 * -1 with *err set (the child, if any, is reaped). */
static int exec_spawn(struct exec_child *ch, struct task_error *err)
{
	int p[8], e = 0;
	ssize_t n;

	if (exec_pipes(&p[0], &p[2], &p[4], &p[6]) != 0) {
		exec_error(err, "spawn_failed", "cannot make pipes: %s", strerror(errno));
		exec_close_all(p, 8);
		return -1;
	}
	ch->pid = fork();
	if (ch->pid == 0)
		exec_child_main(ch->d, &p[0], &p[2], &p[4], p[7]);
	if (ch->pid < 0) {
		exec_error(err, "spawn_failed", "cannot fork: %s", strerror(errno));
		exec_close_all(p, 8);
		return -1;
	}
	exec_close(&p[0]), exec_close(&p[3]), exec_close(&p[5]), exec_close(&p[7]);
	do
		n = read(p[6], &e, sizeof e);
	while (n < 0 && errno == EINTR);
	exec_close(&p[6]);
	ch->in = p[1], ch->out = p[2], ch->errp = p[4];
	if (n > 0) {
		exec_error(err, "exec_failed", "cannot run %s: %s", ch->d->argv[0], strerror(e));
		return -1; /* the caller closes and reaps */
	}
	fcntl(ch->in, F_SETFL, O_NONBLOCK);
	fcntl(ch->out, F_SETFL, O_NONBLOCK);
	fcntl(ch->errp, F_SETFL, O_NONBLOCK);
	return 0;
}

/* exec_poll_exit notes (without reaping) whether the child has exited. */
static bool exec_poll_exit(struct exec_child *ch)
{
	siginfo_t si = {0};

	if (!ch->exited && waitid(P_PID, (id_t)ch->pid, &si, WEXITED | WNOHANG | WNOWAIT) == 0 &&
	    si.si_pid == ch->pid)
		ch->exited = true;
	return ch->exited;
}

/* exec_reap kills what is left of the group and reaps the child. While the
 * child is unreaped its pid cannot be reused, so kill(-pid) hits only its
 * group. */
static void exec_reap(struct exec_child *ch)
{
	kill(-ch->pid, SIGKILL);
	while (waitpid(ch->pid, &ch->status, 0) < 0 && errno == EINTR)
		;
	exec_close(&ch->in), exec_close(&ch->out), exec_close(&ch->errp);
}

/* exec_drain_fd reads what fd has without keeping it (after a stop). */
static void exec_discard(int *fd)
{
	char buf[4096];
	ssize_t n;

	while (*fd >= 0 && (n = read(*fd, buf, sizeof buf)) != 0) {
		if (n < 0 && errno != EINTR) {
			if (errno != EAGAIN)
				exec_close(fd);
			return;
		}
	}
	exec_close(fd);
}

/* exec_terminate stops the group: SIGTERM, then SIGKILL after grace_s
 * unless the child has exited and closed its pipes (they may be held by a
 * grandchild too); then reaps. */
static void exec_terminate(struct exec_child *ch, int grace_s)
{
	int64_t until = worker_clock_ms() + (int64_t)grace_s * 1000;

	exec_close(&ch->in);
	kill(-ch->pid, SIGTERM);
	while (worker_clock_ms() < until) {
		struct pollfd p[2] = {{ch->out, POLLIN, 0}, {ch->errp, POLLIN, 0}};

		exec_discard(&ch->out);
		exec_discard(&ch->errp);
		if (exec_poll_exit(ch) && ch->out < 0 && ch->errp < 0)
			break;
		poll(p, 2, TASK_EXEC_TICK_MS);
	}
	exec_reap(ch);
}

/* exec_tail keeps the last TASK_EXEC_STDERR_TAIL bytes of stderr. */
static void exec_tail(struct exec_child *ch, const char *buf, size_t n)
{
	size_t keep;

	if (n >= sizeof ch->tail) {
		memcpy(ch->tail, buf + n - sizeof ch->tail, sizeof ch->tail);
		ch->tail_len = sizeof ch->tail;
		return;
	}
	keep = ch->tail_len + n <= sizeof ch->tail ? ch->tail_len : sizeof ch->tail - n;
	memmove(ch->tail, ch->tail + ch->tail_len - keep, keep);
	memcpy(ch->tail + keep, buf, n);
	ch->tail_len = keep + n;
}

/* exec_feed writes pending input to stdin, reading the next piece when the
 * last one is written. Returns 0, or -1 when read said stop. */
static int exec_feed(struct exec_child *ch)
{
	while (ch->in >= 0) {
		ssize_t n;

		if (ch->piece_len == 0 && !ch->input_end) {
			if (ch->io->read(ch->io->ctx, ch->offset, &ch->piece, &ch->piece_len) != 0)
				return -1;
			ch->offset += ch->piece_len;
			ch->input_end = ch->piece_len == 0;
		}
		if (ch->piece_len == 0) { /* all fed: the program sees EOF */
			exec_close(&ch->in);
			return 0;
		}
		n = write(ch->in, ch->piece, ch->piece_len);
		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0 && errno == EAGAIN)
			return 0;
		if (n < 0) { /* EPIPE: the program does not want the rest */
			exec_close(&ch->in);
			return 0;
		}
		ch->piece += n, ch->piece_len -= (size_t)n, ch->fed += (uint64_t)n;
	}
	return 0;
}

/* exec_read_out moves stdout to the result and stderr to the tail.
 * Returns 0, or -1 with *err set (output cap, output failed). */
static int exec_read_out(struct exec_child *ch, char *buf, struct task_error *err)
{
	ssize_t n = -1;

	while (ch->out >= 0 && (n = read(ch->out, buf, EXEC_READ_CHUNK)) != 0) {
		if (n < 0) {
			if (errno == EINTR)
				continue;
			if (errno != EAGAIN)
				exec_close(&ch->out);
			break;
		}
		ch->out_bytes += (uint64_t)n;
		if (ch->out_bytes > ch->d->max_output) {
			exec_error(err, "output_too_large", "the program wrote more than %llu bytes",
				   (unsigned long long)ch->d->max_output);
			return -1;
		}
		if (ch->io->write(ch->io->ctx, buf, (size_t)n) != 0) {
			exec_error(err, "output_failed", "the result could not be stored");
			return -1;
		}
	}
	if (n == 0)
		exec_close(&ch->out);
	n = -1;
	while (ch->errp >= 0 && (n = read(ch->errp, buf, EXEC_READ_CHUNK)) != 0) {
		if (n < 0) {
			if (errno != EINTR && errno != EAGAIN)
				exec_close(&ch->errp);
			if (errno != EINTR)
				break;
			continue;
		}
		exec_tail(ch, buf, (size_t)n);
	}
	if (n == 0)
		exec_close(&ch->errp);
	return 0;
}

/* exec_tail_text returns the stderr tail as a C string in buf (printable,
 * one line per line). */
static const char *exec_tail_text(struct exec_child *ch, char *buf, size_t cap)
{
	size_t n = ch->tail_len < cap - 1 ? ch->tail_len : cap - 1;
	const char *src = ch->tail + ch->tail_len - n;

	for (size_t i = 0; i < n; i++)
		buf[i] = src[i] == '\n' || src[i] == '\t' || (unsigned char)src[i] >= 0x20 ? src[i] : '?';
	while (n > 0 && buf[n - 1] == '\n')
		n--;
	buf[n] = '\0';
	return buf;
}

/* exec_outcome turns the child's wait status into the end. */
static enum task_exec_end exec_outcome(struct exec_child *ch, struct task_error *err)
{
	char tail[TASK_EXEC_STDERR_TAIL + 1];

	if (WIFEXITED(ch->status) && WEXITSTATUS(ch->status) == 0)
		return TASK_EXEC_SUCCEEDED;
	exec_tail_text(ch, tail, sizeof tail);
	if (WIFEXITED(ch->status))
		exec_error(err, "exit_status", "%s exited with status %d%s%s", ch->d->argv[0],
			   WEXITSTATUS(ch->status), tail[0] ? ": " : "", tail);
	else
		exec_error(err, "signal", "%s was killed by SIG%s%s%s", ch->d->argv[0],
			   sigabbrev_np(WTERMSIG(ch->status)) ? sigabbrev_np(WTERMSIG(ch->status)) : "?",
			   tail[0] ? ": " : "", tail);
	return TASK_EXEC_FAILED;
}

/* exec_loop runs the child until it exits with its pipes closed, or until
 * it must stop. Returns the end; the child is reaped either way. */
static enum task_exec_end exec_loop(struct exec_child *ch, int grace_s, char *buf,
				    struct task_error *err)
{
	int64_t next_check = worker_clock_ms();

	for (;;) {
		struct pollfd p[3] = {{ch->in, POLLOUT, 0}, {ch->out, POLLIN, 0},
				      {ch->errp, POLLIN, 0}};
		bool stop = false;

		if (worker_clock_ms() >= next_check) {
			stop = !ch->io->check(ch->io->ctx, ch->fed);
			next_check = worker_clock_ms() + TASK_EXEC_TICK_MS;
		}
		if (stop || exec_feed(ch) != 0) {
			exec_terminate(ch, grace_s);
			return TASK_EXEC_STOPPED;
		}
		if (exec_read_out(ch, buf, err) != 0) {
			exec_terminate(ch, grace_s);
			return TASK_EXEC_FAILED;
		}
		if (ch->out < 0 && ch->errp < 0 && exec_poll_exit(ch))
			break;
		if (ch->in >= 0 && ch->piece_len == 0 && !ch->input_end)
			p[0].fd = -1; /* nothing to write until the next read */
		poll(p, 3, TASK_EXEC_TICK_MS);
	}
	exec_reap(ch);
	return exec_outcome(ch, err);
}

enum task_exec_end task_exec_run(const struct task_def *d, const struct task_exec_io *io,
				 int kill_grace_s, uint64_t *fed, struct task_error *err)
{
	struct exec_child ch = {.d = d, .io = io, .in = -1, .out = -1, .errp = -1};
	enum task_exec_end end;
	char *buf;

	*fed = 0;
	buf = malloc(EXEC_READ_CHUNK);
	if (buf == NULL) {
		exec_error(err, "out_of_memory", "the worker ran out of memory");
		return TASK_EXEC_FAILED;
	}
	if (exec_spawn(&ch, err) != 0) {
		if (ch.pid > 0)
			exec_reap(&ch);
		free(buf);
		return TASK_EXEC_FAILED;
	}
	end = exec_loop(&ch, kill_grace_s, buf, err);
	*fed = ch.fed;
	free(buf);
	return end;
}
