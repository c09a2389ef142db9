/*
 * job.c — status names, job times, and the JSON views of a job.
 *
 * The JSON builders add every member with json_object_set_new, which
 * steals the value even when it fails and accepts a NULL value or object;
 * so each builder ORs the results together and, on any failure, releases
 * the one object it made and returns NULL. Nothing leaks on out-of-memory.
 */
#include "job.h"

#include "flatjson.h"

#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

/* Latest time RFC 3339 can write with a four-digit year:
 * 9999-12-31T23:59:59.999Z. */
#define JOB_TIME_MAX_MS 253402300799999LL

static const char *const job_status_names[] = {
	[JOB_QUEUED] = "queued",
	[JOB_RUNNING] = "running",
	[JOB_SUCCEEDED] = "succeeded",
	[JOB_FAILED] = "failed",
	[JOB_CANCELLED] = "cancelled",
};
#define JOB_STATUS_COUNT (sizeof job_status_names / sizeof job_status_names[0])

const char *job_status_name(enum job_status s)
{
	if ((unsigned)s >= JOB_STATUS_COUNT)
		return "unknown";
	return job_status_names[s];
}

int job_status_parse(const char *name, enum job_status *out)
{
	if (name == NULL)
		return -1;
	for (size_t i = 0; i < JOB_STATUS_COUNT; i++) {
		if (strcmp(name, job_status_names[i]) == 0) {
			*out = (enum job_status)i;
			return 0;
		}
	}
	return -1;
}

bool job_status_is_terminal(enum job_status s)
{
	return s == JOB_SUCCEEDED || s == JOB_FAILED || s == JOB_CANCELLED;
}

/* The date and time to the second that this thread wrote last. Log lines
 * and job views come many to a second, and gmtime_r with strftime costs
 * about a hundred times what copying their 19 bytes does. Per thread, so
 * no lock; -1: none yet. */
static _Thread_local int64_t job_time_cached_secs = -1;
static _Thread_local char job_time_cached[20];

/* job_time_seconds writes secs as "YYYY-MM-DDTHH:MM:SS" (19 bytes and a
 * NUL) into out. Returns false when gmtime_r or strftime could not. */
static bool job_time_seconds(int64_t secs, char out[20])
{
	time_t t = (time_t)secs;
	struct tm tm;

	return gmtime_r(&t, &tm) != NULL && strftime(out, 20, "%Y-%m-%dT%H:%M:%S", &tm) == 19;
}

/* job_time_format clamps ms to 1970..9999 so that the result is always a
 * valid RFC 3339 time that fits in out. */
void job_time_format(int64_t ms, char out[32])
{
	int millis;

	if (ms < 0)
		ms = 0;
	if (ms > JOB_TIME_MAX_MS)
		ms = JOB_TIME_MAX_MS;
	if (ms / 1000 != job_time_cached_secs) {
		if (!job_time_seconds(ms / 1000, job_time_cached)) {
			job_time_cached_secs = -1;
			snprintf(out, 32, "1970-01-01T00:00:00.000Z");
			return;
		}
		job_time_cached_secs = ms / 1000;
	}
	millis = (int)(ms % 1000);
	memcpy(out, job_time_cached, 19);
	out[19] = '.';
	out[20] = (char)('0' + millis / 100);
	out[21] = (char)('0' + millis / 10 % 10);
	out[22] = (char)('0' + millis % 10);
	out[23] = 'Z';
	out[24] = '\0';
}

int64_t job_now_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_REALTIME, &ts);
	return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

bool job_task_builtin(const char *name)
{
	return name != NULL && (strcmp(name, "profile") == 0 || strcmp(name, "ndjson") == 0);
}

/* ---- JSON values -------------------------------------------------------- */

/* job_json_text returns a JSON string of the at most cap bytes at s, or NULL
 * when out of memory. A record read back from Redis may hold bytes that are
 * not UTF-8 (jansson refuses those); they are shown as '?' rather than
 * making the whole job unreadable. */
static json_t *job_json_text(const char *s, size_t cap)
{
	size_t len = strnlen(s, cap);
	json_t *str = json_stringn(s, len);
	char *ascii;

	if (str != NULL)
		return str;
	ascii = malloc(len + 1);
	if (ascii == NULL)
		return NULL;
	for (size_t i = 0; i < len; i++)
		ascii[i] = (unsigned char)s[i] < 0x80 ? s[i] : '?';
	str = json_stringn(ascii, len);
	free(ascii);
	return str;
}

/* job_text_uint caps n at the largest integer jansson holds, so that the
 * text body and the JSON views agree. */
static uint64_t job_text_uint(uint64_t n)
{
	return n > INT64_MAX ? INT64_MAX : n;
}

/* job_json_uint returns n, capped, as a JSON integer, or NULL when out of
 * memory. */
static json_t *job_json_uint(uint64_t n)
{
	return json_integer((json_int_t)job_text_uint(n));
}

/* job_json_time returns ms as an RFC 3339 string, JSON null when ms is 0
 * (not reached), or NULL when out of memory. */
static json_t *job_json_time(int64_t ms)
{
	char text[32];

	if (ms == 0)
		return json_null();
	job_time_format(ms, text);
	return json_string(text);
}

/* job_percent returns how far rec has read its input, in percent rounded to
 * one decimal: 100 once succeeded, 0 when the input size is unknown. */
static double job_percent(const struct job_record *rec)
{
	uint64_t done = rec->progress_bytes, total = rec->spec.bytes;

	if (rec->status == JOB_SUCCEEDED)
		return 100.0;
	if (total == 0)
		return 0.0;
	if (done >= total)
		return 100.0;
	/* Tenths of a percent, rounded half up; doubles keep this exact enough
	 * and spare us libm. */
	return (double)(uint64_t)((double)done * 1000.0 / (double)total + 0.5) / 10.0;
}

/* ---- JSON views --------------------------------------------------------- */

/* job_json_head adds the members both views open with. Returns 0, or -1
 * when out of memory (o may then hold some of them). */
static int job_json_head(json_t *o, const struct job_spec *s, enum job_status status)
{
	int rc = 0;

	rc |= json_object_set_new(o, "id", job_json_text(s->id, sizeof s->id));
	rc |= json_object_set_new(o, "status", json_string(job_status_name(status)));
	rc |= json_object_set_new(o, "task", job_json_text(s->task, sizeof s->task));
	rc |= json_object_set_new(o, "queue", job_json_text(s->queue, sizeof s->queue));
	if (s->tenant[0] != '\0') /* only with auth on (api/auth.h) */
		rc |= json_object_set_new(o, "tenant", job_json_text(s->tenant, sizeof s->tenant));
	rc |= json_object_set_new(o, "rows", job_json_uint(s->rows));
	rc |= json_object_set_new(o, "columns", job_json_uint(s->columns));
	rc |= json_object_set_new(o, "bytes", job_json_uint(s->bytes));
	return rc ? -1 : 0;
}

/* job_json_progress returns {"rows","bytes","bytes_total","percent"}, or
 * NULL when out of memory. */
static json_t *job_json_progress(const struct job_record *rec)
{
	json_t *p = json_object();
	int rc = 0;

	rc |= json_object_set_new(p, "rows", job_json_uint(rec->progress_rows));
	rc |= json_object_set_new(p, "bytes", job_json_uint(rec->progress_bytes));
	rc |= json_object_set_new(p, "bytes_total", job_json_uint(rec->spec.bytes));
	rc |= json_object_set_new(p, "percent", json_real(job_percent(rec)));
	if (rc) {
		json_decref(p);
		return NULL;
	}
	return p;
}

/* job_json_error returns {"code","message"}, JSON null when rec has no
 * error code, or NULL when out of memory. */
static json_t *job_json_error(const struct job_record *rec)
{
	json_t *e;
	int rc = 0;

	if (rec->error_code[0] == '\0')
		return json_null();
	e = json_object();
	rc |= json_object_set_new(e, "code", job_json_text(rec->error_code, sizeof rec->error_code));
	rc |= json_object_set_new(e, "message",
				  job_json_text(rec->error_message, sizeof rec->error_message));
	if (rc) {
		json_decref(e);
		return NULL;
	}
	return e;
}

/* job_json_result_url returns "/v1/jobs/{id}/result" for a succeeded job,
 * JSON null otherwise, or NULL when out of memory. */
static json_t *job_json_result_url(const struct job_record *rec)
{
	char url[sizeof "/v1/jobs//result" + JOB_ID_HEX];
	int len;

	if (rec->status != JOB_SUCCEEDED)
		return json_null();
	len = (int)strnlen(rec->spec.id, sizeof rec->spec.id);
	snprintf(url, sizeof url, "/v1/jobs/%.*s/result", len, rec->spec.id);
	return job_json_text(url, sizeof url);
}

json_t *job_record_to_json(const struct job_record *rec)
{
	json_t *o = json_object();
	int rc = job_json_head(o, &rec->spec, rec->status);

	rc |= json_object_set_new(o, "attempts", json_integer(rec->attempts));
	rc |= json_object_set_new(o, "created_at", job_json_time(rec->spec.created_at_ms));
	rc |= json_object_set_new(o, "started_at", job_json_time(rec->started_at_ms));
	rc |= json_object_set_new(o, "finished_at", job_json_time(rec->finished_at_ms));
	rc |= json_object_set_new(o, "request_id",
				  rec->spec.request_id[0] == '\0' ? json_null() :
				  job_json_text(rec->spec.request_id, sizeof rec->spec.request_id));
	rc |= json_object_set_new(o, "progress", job_json_progress(rec));
	rc |= json_object_set_new(o, "error", job_json_error(rec));
	rc |= json_object_set_new(o, "result_url", job_json_result_url(rec));
	if (rec->cancel_requested)
		rc |= json_object_set_new(o, "cancel_requested", json_true());
	rc |= json_object_set_new(o, "max_attempts", json_integer(rec->spec.max_attempts));
	rc |= json_object_set_new(o, "timeout", json_integer(rec->spec.timeout_s));
	rc |= json_object_set_new(o, "retry_at", job_json_time(rec->retry_at_ms));
	if (rc) {
		json_decref(o);
		return NULL;
	}
	return o;
}

/* job_text_member appends ,"name":"value" (value at most cap bytes) to j. */
static void job_text_member(struct flatjson *j, const char *name, const char *value, size_t cap)
{
	flatjson_raw(j, name, strlen(name));
	flatjson_string(j, value, strnlen(value, cap));
}

/* The longest 202 body of a submitted job: names of the longest length
 * with nothing to escape, the largest integers, a four-digit year. */
#define JOB_ACCEPTED_LONGEST                                                               \
	(sizeof "{\"id\":\"\",\"status\":\"queued\",\"task\":\"\",\"queue\":\"\","   \
		"\"tenant\":\"\",\"rows\":,\"columns\":,\"bytes\":,\"created_at\":\"\"}" +   \
	 JOB_ID_HEX + 2 * JOB_NAME_MAX + JOB_TENANT_MAX + 3 * sizeof "9223372036854775807" + \
	 sizeof "9999-12-31T23:59:59.999Z")
_Static_assert(JOB_ACCEPTED_LONGEST <= JOB_ACCEPTED_TEXT_MAX,
	       "every submitted job's 202 body fits JOB_ACCEPTED_TEXT_MAX");

size_t job_accepted_text(const struct job_spec *spec, char *out, size_t cap)
{
	const struct job_spec *s = spec;
	struct flatjson j;
	char created[32];
	size_t len = 0;

	if (s->created_at_ms == 0 || cap == 0)
		return 0;
	job_time_format(s->created_at_ms, created);
	/* One byte is kept back for the NUL. */
	flatjson_init(&j, out, cap - 1);
	job_text_member(&j, "{\"id\":", s->id, sizeof s->id);
	flatjson_lit(&j, ",\"status\":\"queued\"");
	job_text_member(&j, ",\"task\":", s->task, sizeof s->task);
	job_text_member(&j, ",\"queue\":", s->queue, sizeof s->queue);
	if (s->tenant[0] != '\0')
		job_text_member(&j, ",\"tenant\":", s->tenant, sizeof s->tenant);
	flatjson_lit(&j, ",\"rows\":");
	flatjson_int(&j, (int64_t)job_text_uint(s->rows));
	flatjson_lit(&j, ",\"columns\":");
	flatjson_int(&j, (int64_t)job_text_uint(s->columns));
	flatjson_lit(&j, ",\"bytes\":");
	flatjson_int(&j, (int64_t)job_text_uint(s->bytes));
	job_text_member(&j, ",\"created_at\":", created, sizeof created);
	flatjson_lit(&j, "}");
	/* A text that outgrew out moved to the heap: it is not the caller's. */
	if (flatjson_ok(&j) && j.heap == NULL) {
		len = j.len;
		out[len] = '\0';
	}
	flatjson_free(&j);
	return len;
}
