/*
 * log.c — JSON lines on stderr.
 *
 * A line is built as a jansson object, written compactly (by flatjson when
 * it is flat, else by jansson's dump), given its '\n' and handed to
 * write(2) whole (the lines every job writes skip the object and are
 * written as the same text straight into one buffer, with flatjson), so
 * lines from several threads do not interleave (a write to a pipe is atomic up to PIPE_BUF bytes; longer lines
 * to a pipe are the kernel's to split). When a line cannot be built (out of
 * memory, or text that is not UTF-8) a fixed line saying so is written in
 * its place: logging never aborts and never fails silently.
 *
 * log_component and log_min are written by log_init before any thread
 * starts and only read afterwards, so they need no lock.
 */
#include "log.h"

#include "flatjson.h"
#include "job.h"

#include <errno.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

static const char *log_component = "jobq";
static enum log_level log_min = LOG_INFO;

static const char *log_level_name(enum log_level level)
{
	switch (level) {
	case LOG_DEBUG: return "debug";
	case LOG_INFO: return "info";
	case LOG_WARN: return "warn";
	case LOG_ERROR: return "error";
	}
	return "error";
}

/* log_init also seeds jansson's hash function: jansson would otherwise do it
 * on first use, possibly from two threads at once. */
void log_init(const char *component, enum log_level min)
{
	log_component = component != NULL ? component : "jobq";
	log_min = min;
	json_object_seed(0);
}

/* log_write_all writes len bytes of buf to stderr, resuming after EINTR and
 * partial writes. Best-effort: if stderr is gone there is nowhere left to
 * report that. */
static void log_write_all(const char *buf, size_t len)
{
	while (len > 0) {
		ssize_t n = write(STDERR_FILENO, buf, len);
		if (n < 0) {
			if (errno == EINTR)
				continue;
			return;
		}
		buf += n;
		len -= (size_t)n;
	}
}

/* log_component_plain returns the component when it can be written into JSON
 * without escaping, else "jobq". */
static const char *log_component_plain(void)
{
	size_t i;

	for (i = 0; log_component[i] != '\0'; i++) {
		char c = log_component[i];
		if (i == 32 || !((c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '-' || c == '_'))
			return "jobq";
	}
	return i > 0 ? log_component : "jobq";
}

/* log_write_dropped writes the fixed line that stands in for one that could
 * not be built. It needs no allocation. */
static void log_write_dropped(enum log_level level)
{
	char now[32], line[256];
	int n;

	job_time_format(job_now_ms(), now);
	n = snprintf(line, sizeof line,
		     "{\"time\":\"%s\",\"level\":\"%s\",\"component\":\"%s\","
		     "\"msg\":\"log line dropped: out of memory or text not UTF-8\"}\n",
		     now, log_level_name(level), log_component_plain());
	if (n > 0 && (size_t)n < sizeof line)
		log_write_all(line, (size_t)n);
}

/* log_write_dumped writes line as jansson's compact dump and a '\n':
 * serialised on the stack when small, else in one heap buffer. */
static void log_write_dumped(enum log_level level, const json_t *line)
{
	char stack[2048];
	char *heap;
	size_t n = json_dumpb(line, stack, sizeof stack - 1, JSON_COMPACT);

	if (n == 0) {
		log_write_dropped(level);
		return;
	}
	if (n < sizeof stack) {
		stack[n] = '\n';
		log_write_all(stack, n + 1);
		return;
	}
	heap = malloc(n + 1);
	if (heap == NULL || json_dumpb(line, heap, n, JSON_COMPACT) != n) {
		free(heap);
		log_write_dropped(level);
		return;
	}
	heap[n] = '\n';
	log_write_all(heap, n + 1);
	free(heap);
}

/* log_write_json writes line as one compact JSON line. A flat line
 * (strings and integers: nearly all of them) is written by flatjson, on
 * the stack when it fits; any other goes through jansson's dump. */
static void log_write_json(enum log_level level, const json_t *line)
{
	char stack[2048];
	struct flatjson j;

	flatjson_init(&j, stack, sizeof stack);
	if (flatjson_object(&j, line)) {
		flatjson_lit(&j, "\n");
		if (flatjson_ok(&j))
			log_write_all(j.data, j.len);
		else
			log_write_dropped(level);
		flatjson_free(&j);
		return;
	}
	flatjson_free(&j);
	log_write_dumped(level, line);
}

/* log_merge adds to dst each member of src whose name dst lacks. Returns 0,
 * or -1 when out of memory. (json_object_update_missing would ignore a
 * failed insertion and drop a field without a word.) */
static int log_merge(json_t *dst, json_t *src)
{
	const char *key;
	json_t *value;

	if (!json_is_object(dst))
		return -1;
	json_object_foreach(src, key, value) {
		if (json_object_get(dst, key) == NULL && json_object_set(dst, key, value) != 0)
			return -1;
	}
	return 0;
}

/* log_line_ids adds request_id and job_id (either may be NULL or empty,
 * then it is left out) to line. Returns 0, or -1 when out of memory. */
static int log_line_ids(json_t *line, const char *request_id, const char *job_id)
{
	int rc = 0;

	if (request_id != NULL && request_id[0] != '\0')
		rc |= json_object_set_new(line, "request_id", json_string(request_id));
	if (job_id != NULL && job_id[0] != '\0')
		rc |= json_object_set_new(line, "job_id", json_string(job_id));
	return rc;
}

/* log_line_new returns the object for one line, or NULL when out of memory.
 * It steals fields; the standard members (the ids among them) win over
 * fields of the same name. One object is built: a request's two lines are
 * on the hot path of every submission. */
static json_t *log_line_new(enum log_level level, const char *msg, const char *request_id,
			    const char *job_id, json_t *fields)
{
	char now[32];
	json_t *line = json_object();
	int rc = 0;

	job_time_format(job_now_ms(), now);
	rc |= json_object_set_new(line, "time", json_string(now));
	rc |= json_object_set_new(line, "level", json_string(log_level_name(level)));
	rc |= json_object_set_new(line, "component", json_string(log_component));
	rc |= json_object_set_new(line, "msg", json_string(msg != NULL ? msg : ""));
	rc |= log_line_ids(line, request_id, job_id);
	if (json_is_object(fields))
		rc |= log_merge(line, fields);
	json_decref(fields);
	if (rc) {
		json_decref(line);
		return NULL;
	}
	return line;
}

/* log_emit writes one line (see log_line_new), or the stand-in line when
 * it cannot be built. */
static void log_emit(enum log_level level, const char *msg, const char *request_id,
		     const char *job_id, json_t *fields)
{
	json_t *line;

	if (level < log_min) {
		json_decref(fields);
		return;
	}
	line = log_line_new(level, msg, request_id, job_id, fields);
	if (line == NULL) {
		log_write_dropped(level);
		return;
	}
	log_write_json(level, line);
	json_decref(line);
}

void log_event(enum log_level level, const char *msg, json_t *fields)
{
	log_emit(level, msg, NULL, NULL, fields);
}

void log_job(enum log_level level, const char *msg, const char *request_id,
	     const char *job_id, json_t *fields)
{
	log_emit(level, msg, request_id, job_id, fields);
}

/* ---- Flat lines ----------------------------------------------------------- */

/* log_flat_member appends ,"name": to j. */
static void log_flat_member(struct flatjson *j, const char *name)
{
	flatjson_lit(j, ",");
	flatjson_string(j, name, strlen(name));
	flatjson_lit(j, ":");
}

/* log_flat_id appends ,"name":"value" unless value is NULL or empty. */
static void log_flat_id(struct flatjson *j, const char *name, const char *value)
{
	if (value == NULL || value[0] == '\0')
		return;
	log_flat_member(j, name);
	flatjson_string(j, value, strlen(value));
}

/* log_flat_shadowed returns whether a field called name is left out: the
 * line has a standard member of that name (log_merge's rule). Dispatched on
 * the first byte: an access line has a dozen fields, and six strcmps each
 * were a tenth of the line's cost. */
static bool log_flat_shadowed(const char *name, const char *request_id, const char *job_id)
{
	switch (name[0]) {
	case 't': return strcmp(name, "time") == 0;
	case 'l': return strcmp(name, "level") == 0;
	case 'c': return strcmp(name, "component") == 0;
	case 'm': return strcmp(name, "msg") == 0;
	case 'r':
		return request_id != NULL && request_id[0] != '\0' &&
		       strcmp(name, "request_id") == 0;
	case 'j': return job_id != NULL && job_id[0] != '\0' && strcmp(name, "job_id") == 0;
	default: return false;
	}
}

const char log_null[] = "null";

/* log_flat_line appends the whole line, '\n' included, to j. */
static void log_flat_line(struct flatjson *j, enum log_level level, const char *msg,
			  const char *request_id, const char *job_id,
			  const struct log_field *fields, size_t n)
{
	char now[32];
	const char *name = log_level_name(level);

	job_time_format(job_now_ms(), now);
	flatjson_lit(j, "{\"time\":");
	flatjson_string(j, now, strlen(now));
	log_flat_member(j, "level");
	flatjson_string(j, name, strlen(name));
	log_flat_member(j, "component");
	flatjson_string(j, log_component, strlen(log_component));
	msg = msg != NULL ? msg : "";
	log_flat_member(j, "msg");
	flatjson_string(j, msg, strlen(msg));
	log_flat_id(j, "request_id", request_id);
	log_flat_id(j, "job_id", job_id);
	for (size_t i = 0; i < n; i++) {
		if (log_flat_shadowed(fields[i].name, request_id, job_id))
			continue;
		log_flat_member(j, fields[i].name);
		if (fields[i].str == log_null)
			flatjson_lit(j, "null");
		else if (fields[i].str != NULL)
			flatjson_string(j, fields[i].str, strlen(fields[i].str));
		else
			flatjson_int(j, fields[i].integer);
	}
	flatjson_lit(j, "}\n");
}

void log_job_flat(enum log_level level, const char *msg, const char *request_id,
		  const char *job_id, const struct log_field *fields, size_t n)
{
	char stack[2048];
	struct flatjson j;

	if (level < log_min)
		return;
	flatjson_init(&j, stack, sizeof stack);
	log_flat_line(&j, level, msg, request_id, job_id, fields, n);
	if (flatjson_ok(&j))
		log_write_all(j.data, j.len);
	else
		log_write_dropped(level);
	flatjson_free(&j);
}
