/* Unit tests: task_catalog — reading a tasks file, and refusing a bad one
 * with a sentence that names the task and the field. */
#include <criterion/criterion.h>
#include <string.h>

#include "task_catalog.h"

/* refused asserts that text is refused with a message containing want. */
static void refused(const char *text, const char *want)
{
	char err[400] = "";
	struct task_catalog *c = task_catalog_parse(text, err, sizeof err);

	cr_assert_null(c, "accepted %s", text);
	cr_assert(strstr(err, want) != NULL, "message \"%s\" lacks \"%s\"", err, want);
}

Test(task_catalog, reads_every_field)
{
	char err[400] = "";
	struct task_catalog *c = task_catalog_parse(
		"{\"sort\":{\"argv\":[\"/bin/sort\",\"-t,\"],\"env\":{\"PATH\":\"/bin\",\"LANG\":\"C\"},"
		"\"cwd\":\"/tmp\",\"timeout\":60,\"max_output\":1024,\"cpu_seconds\":5,"
		"\"memory_bytes\":1000000,\"open_files\":32,\"result_type\":\"text/csv\"}}",
		err, sizeof err);
	const struct task_def *d;

	cr_assert_not_null(c, "%s", err);
	d = task_catalog_find(c, "sort");
	cr_assert_not_null(d);
	cr_assert_str_eq(d->argv[0], "/bin/sort");
	cr_assert_str_eq(d->argv[1], "-t,");
	cr_assert_null(d->argv[2]);
	cr_assert_str_eq(d->env[0], "PATH=/bin");
	cr_assert_str_eq(d->env[1], "LANG=C");
	cr_assert_null(d->env[2]);
	cr_assert_str_eq(d->cwd, "/tmp");
	cr_assert_eq(d->timeout_s, 60);
	cr_assert_eq(d->max_output, 1024);
	cr_assert_eq(d->cpu_seconds, 5);
	cr_assert_eq(d->memory_bytes, 1000000);
	cr_assert_eq(d->open_files, 32);
	cr_assert_str_eq(d->result_type, "text/csv");
	cr_assert_null(task_catalog_find(c, "nope"));
	task_catalog_free(c);
}

Test(task_catalog, defaults_are_an_empty_environment_and_64_mib)
{
	char err[400] = "";
	struct task_catalog *c = task_catalog_parse("{\"t\":{\"argv\":[\"/bin/cat\"]}}", err,
						    sizeof err);

	cr_assert_not_null(c, "%s", err);
	cr_assert_null(c->defs[0].env[0]);
	cr_assert_null(c->defs[0].cwd);
	cr_assert_eq(c->defs[0].max_output, TASK_CATALOG_MAX_OUTPUT_DEFAULT);
	cr_assert_eq(c->defs[0].timeout_s, 0);
	cr_assert_str_eq(c->defs[0].result_type, "application/octet-stream");
	task_catalog_free(c);
}

Test(task_catalog, refuses_bad_files_naming_task_and_field)
{
	refused("[1]", "JSON object");
	refused("{", "not valid JSON");
	refused("{\"t\":{}}", "task \"t\": field \"argv\" is required");
	refused("{\"t\":{\"argv\":[]}}", "task \"t\": field \"argv\"");
	refused("{\"t\":{\"argv\":[1]}}", "field \"argv\"");
	refused("{\"t\":{\"argv\":[\"/x\"],\"timeout\":0}}", "task \"t\": field \"timeout\"");
	refused("{\"t\":{\"argv\":[\"/x\"],\"max_output\":\"1M\"}}", "field \"max_output\"");
	refused("{\"t\":{\"argv\":[\"/x\"],\"env\":{\"A=B\":\"c\"}}}", "field \"env\"");
	refused("{\"t\":{\"argv\":[\"/x\"],\"env\":{\"A\":1}}}", "field \"env\"");
	refused("{\"t\":{\"argv\":[\"/x\"],\"shell\":true}}", "field \"shell\" is not a known field");
	refused("{\"t\":\"/bin/cat\"}", "task \"t\": must be an object");
}

Test(task_catalog, refuses_bad_names_and_built_in_names)
{
	refused("{\"profile\":{\"argv\":[\"/x\"]}}", "built-in");
	refused("{\"ndjson\":{\"argv\":[\"/x\"]}}", "built-in");
	refused("{\"a b\":{\"argv\":[\"/x\"]}}", "not a valid name");
	refused("{\"\":{\"argv\":[\"/x\"]}}", "not a valid name");
	refused("{\"aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa\":{\"argv\":[\"/x\"]}}",
		"not a valid name");
	refused("{\"t\":{\"argv\":[\"/x\"]},\"t\":{\"argv\":[\"/y\"]}}", "not valid JSON");
}
