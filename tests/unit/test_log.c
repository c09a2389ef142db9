/*
 * log: a flat line (log_job_flat) is the very line log_job writes for the
 * same members, but for the time, which the two calls read separately.
 */
#include <criterion/criterion.h>

#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "log.h"

/* capture_start points stderr at a new temporary file; returns the saved
 * stderr for capture_end. */
static int capture_start(FILE **file)
{
	int saved = dup(STDERR_FILENO);

	*file = tmpfile();
	cr_assert_not_null(*file);
	cr_assert_geq(saved, 0);
	cr_assert_eq(dup2(fileno(*file), STDERR_FILENO), STDERR_FILENO);
	return saved;
}

/* capture_end restores stderr and returns what was written (caller frees). */
static char *capture_end(FILE *file, int saved)
{
	long size;
	char *text;

	cr_assert_eq(dup2(saved, STDERR_FILENO), STDERR_FILENO);
	close(saved);
	size = ftell(file);
	text = calloc(1, (size_t)size + 1);
	rewind(file);
	cr_assert_eq(fread(text, 1, (size_t)size, file), (size_t)size);
	fclose(file);
	return text;
}

/* without_time returns line past its "time" member, which both lines
 * have first and at the same width. */
static const char *without_time(const char *line)
{
	static const char prefix[] = "{\"time\":\"";
	const char *end;

	cr_assert(strncmp(line, prefix, sizeof prefix - 1) == 0, "line %s", line);
	end = strchr(line + sizeof prefix - 1, '"');
	cr_assert_not_null(end);
	cr_assert_eq(end - line, (long)strlen("{\"time\":\"2026-11-29T04:15:02.123Z"), "%s", line);
	return end;
}

/* expect_same_line writes the line both ways and compares them. fields is
 * the jansson object for log_job (stolen). */
static void expect_same_line(enum log_level level, const char *msg, const char *request_id,
			     const char *job_id, json_t *fields, const struct log_field *flat,
			     size_t n)
{
	FILE *file;
	int saved = capture_start(&file);

	log_job(level, msg, request_id, job_id, fields);
	log_job_flat(level, msg, request_id, job_id, flat, n);
	char *text = capture_end(file, saved);
	char *second = strchr(text, '\n');

	cr_assert_not_null(second, "one line only: %s", text);
	*second++ = '\0';
	cr_assert_str_eq(second + strlen(second) - 1, "\n", "%s", second);
	second[strlen(second) - 1] = '\0';
	cr_assert_str_eq(without_time(second), without_time(text));
	free(text);
}

Test(log, job_started_line_is_the_same_flat)
{
	const struct log_field f[] = {{"task", "profile", 0}, {"queue", "default", 0},
				      {"attempt", NULL, 2}};

	log_init("worker", LOG_INFO);
	expect_same_line(LOG_INFO, "job started", "req-1", "0123abcd",
			 json_pack("{s:s, s:s, s:i}", "task", "profile", "queue", "default",
				   "attempt", 2),
			 f, 3);
}

Test(log, job_finished_line_is_the_same_flat)
{
	const struct log_field f[] = {{"status", "failed", 0}, {"rows", NULL, 123456789012},
				      {"bytes", NULL, 0}, {"result_bytes", NULL, 7},
				      {"duration_ms", NULL, -3}, {"error_code", "ragged_record", 0}};

	log_init("worker", LOG_DEBUG);
	expect_same_line(LOG_WARN, "job finished", "", NULL,
			 json_pack("{s:s, s:I, s:I, s:I, s:I, s:s}", "status", "failed", "rows",
				   (json_int_t)123456789012, "bytes", (json_int_t)0,
				   "result_bytes", (json_int_t)7, "duration_ms", (json_int_t)-3,
				   "error_code", "ragged_record"),
			 f, 6);
}

/* Quotes, backslashes, control bytes and UTF-8 are escaped as jansson
 * escapes them; a field named like a standard member is left out. */
Test(log, escapes_and_shadowed_names_are_the_same_flat)
{
	const struct log_field f[] = {{"msg", "shadowed", 0}, {"job_id", "shadowed", 0},
				      {"request_id", "kept: no request id", 0},
				      {"note", "a \"b\" \\ c\td caf\xc3\xa9 \x01", 0}};

	log_init("api", LOG_INFO);
	expect_same_line(LOG_ERROR, "m\xc3\xa9ssage \"x\"", NULL, "j1",
			 json_pack("{s:s, s:s, s:s, s:s}", "msg", "shadowed", "job_id", "shadowed",
				   "request_id", "kept: no request id", "note",
				   "a \"b\" \\ c\td caf\xc3\xa9 \x01"),
			 f, 4);
}

/* Every standard member shadows a field of its name; names that only
 * start like one (or are one with an empty id) do not. */
Test(log, every_standard_name_is_shadowed_the_same_flat)
{
	const struct log_field f[] = {{"time", "t", 0}, {"level", "l", 0},
				      {"component", "c", 0}, {"request_id", "r", 0},
				      {"job_id", "kept: empty job id", 0}, {"times", NULL, 1},
				      {"lev", NULL, 2}, {"jobs", NULL, 3}, {"rows", NULL, 4},
				      {"", "empty name", 0}};

	log_init("api", LOG_INFO);
	expect_same_line(LOG_INFO, "m", "req-9", "",
			 json_pack("{s:s, s:s, s:s, s:s, s:s, s:i, s:i, s:i, s:i, s:s}",
				   "time", "t", "level", "l", "component", "c", "request_id", "r",
				   "job_id", "kept: empty job id", "times", 1, "lev", 2, "jobs", 3,
				   "rows", 4, "", "empty name"),
			 f, 10);
}

Test(log, text_not_utf8_drops_the_line_the_same_way)
{
	const struct log_field f[] = {{"task", "bad \xff", 0}};

	log_init("worker", LOG_INFO);
	expect_same_line(LOG_INFO, "bad \xff", "r", "j", NULL, f, 1);
}

Test(log, flat_line_below_the_minimum_level_is_not_written)
{
	FILE *file;
	int saved;
	char *text;

	log_init("worker", LOG_WARN);
	saved = capture_start(&file);
	log_job_flat(LOG_INFO, "job started", "r", "j", NULL, 0);
	text = capture_end(file, saved);
	cr_assert_str_eq(text, "");
	free(text);
}

/* jobq-api's access line: a request that matched no route has "route":null. */
Test(log, access_line_with_a_null_route_is_the_same_flat)
{
	const struct log_field f[] = {{"method", "GET", 0}, {"route", log_null, 0},
				      {"status", NULL, 404}};

	log_init("api", LOG_INFO);
	expect_same_line(LOG_INFO, "request", "req-2", NULL,
			 json_pack("{s:s, s:n, s:i}", "method", "GET", "route", "status", 404), f, 3);
}
