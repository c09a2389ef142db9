/* Unit tests: task_exec — what task_exec_run tells its caller about the
 * input it fed a real program (/bin/cat, /bin/sh). */
#include <criterion/criterion.h>
#include <signal.h>
#include <stdlib.h>
#include <string.h>

#include "task_exec.h"

/* The worker ignores SIGPIPE (a program may exit before it read all of
 * its stdin); so must the process that runs task_exec_run here. */
static void ignore_sigpipe(void)
{
	signal(SIGPIPE, SIG_IGN);
}

TestSuite(task_exec, .init = ignore_sigpipe);

/* A job's input in memory, read in pieces as the worker reads Redis. */
struct exec_fixture {
	const char *input;
	uint64_t len;
	size_t piece;    /* bytes per read */
	uint64_t output; /* bytes the program wrote */
};

static int fixture_read(void *ctx, uint64_t offset, const char **buf, size_t *n)
{
	struct exec_fixture *f = ctx;
	uint64_t left = offset < f->len ? f->len - offset : 0;

	*buf = f->input + offset;
	*n = (size_t)(left < f->piece ? left : f->piece);
	return 0;
}

static int fixture_write(void *ctx, const char *buf, size_t len)
{
	struct exec_fixture *f = ctx;

	(void)buf;
	f->output += len;
	return 0;
}

static bool fixture_check(void *ctx, uint64_t fed)
{
	(void)ctx;
	(void)fed;
	return true;
}

/* run_program runs argv on f's input and returns the end; *fed as told. */
static enum task_exec_end run_program(char **argv, struct exec_fixture *f, uint64_t *fed,
				      struct task_error *err)
{
	char *env[] = {NULL};
	struct task_def d = {.name = "t", .argv = argv, .env = env, .max_output = 1u << 30,
			     .result_type = "text/plain"};
	struct task_exec_io io = {f, fixture_read, fixture_write, fixture_check};

	return task_exec_run(&d, &io, 1, fed, err);
}

Test(task_exec, a_program_that_reads_all_its_input_is_told_all_of_it_fed)
{
	size_t len = 3u << 20; /* three pieces of 1 MiB, as the worker reads */
	char *input = malloc(len);
	struct exec_fixture f = {input, len, 1u << 20, 0};
	struct task_error err = {.code = ""};
	char *argv[] = {"/bin/cat", NULL};
	uint64_t fed = 1;

	cr_assert_not_null(input);
	memset(input, 'x', len);
	cr_assert_eq(run_program(argv, &f, &fed, &err), TASK_EXEC_SUCCEEDED, "%s", err.message);
	cr_assert_eq(fed, len, "fed %llu of %zu", (unsigned long long)fed, len);
	cr_assert_eq(f.output, len);
	free(input);
}

Test(task_exec, a_program_that_exits_at_once_is_told_what_it_took_at_most)
{
	const char *csv = "a,b\n1,2\n";
	struct exec_fixture f = {csv, strlen(csv), 1u << 20, 0};
	struct task_error err = {.code = ""};
	char *argv[] = {"/bin/sh", "-c", "exit 0", NULL};
	uint64_t fed = 99;

	cr_assert_eq(run_program(argv, &f, &fed, &err), TASK_EXEC_SUCCEEDED, "%s", err.message);
	cr_assert_leq(fed, strlen(csv));
	cr_assert_eq(f.output, 0);
}
