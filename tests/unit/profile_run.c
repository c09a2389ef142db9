/*
 * profile_run: a profile task driven record by record for the unit tests
 * (see profile_run.h).
 */
#include "profile_run.h"

#include <criterion/criterion.h>

#include <stdlib.h>
#include <string.h>

static int sink_write(void *ctx, const char *buf, size_t len)
{
	struct profile_sink *s = ctx;

	if (s->refuse)
		return -1;
	s->data = realloc(s->data, s->len + len + 1);
	cr_assert_not_null(s->data);
	memcpy(s->data + s->len, buf, len);
	s->len += len;
	s->data[s->len] = '\0';
	s->writes++;
	return 0;
}

void profile_run_start(struct profile_run *r, bool header, uint64_t bytes_total)
{
	struct task_params params = {.delimiter = ',', .header = header, .bytes_total = bytes_total};
	struct task_error err = {0};

	memset(r, 0, sizeof *r);
	r->out = (struct task_output){sink_write, &r->sink};
	r->task = task_profile.create(&params, &r->out, &err);
	cr_assert_not_null(r->task, "%s", err.message);
}

int profile_run_record(struct profile_run *r, size_t n, const char *const *cells)
{
	for (size_t i = 0; i < n; i++) {
		int rc = task_profile.field(r->task, cells[i], strlen(cells[i]));
		if (rc != 0)
			return rc;
	}
	return task_profile.record_end(r->task, ++r->line);
}

const char *profile_run_finish(struct profile_run *r)
{
	struct task_error err = {0};

	cr_assert_eq(task_profile.finish(r->task, &err), 0, "%s: %s", err.code, err.message);
	task_profile.destroy(r->task);
	r->task = NULL;
	return r->sink.data;
}

void profile_run_free(struct profile_run *r)
{
	if (r->task)
		task_profile.destroy(r->task);
	r->task = NULL;
	free(r->sink.data);
	r->sink.data = NULL;
}
