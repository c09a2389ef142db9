/*
 * fuzz_options.c — the option parser of submissions (api/options.h), fed
 * a query string split the way a query is: '&' between parameters, the
 * first '=' between name and value. Names and values keep every byte,
 * NUL included, as libmicrohttpd hands them over.
 *
 * Invariants: every parameter is taken (0) or refused with a 400 and a
 * code; whatever was taken leaves the options valid (a known task, a
 * valid queue name, a usable delimiter, counts in range).
 */
#include <string.h>

#include "fuzz.h"
#include "ids.h"
#include "options.h"
#include "task_catalog.h"

/* apply_one applies the parameter of len bytes at p. Returns what
 * options_apply did. */
static int apply_one(struct options *o, const char *p, size_t len)
{
	struct reply_error e = { 0 };
	const char *eq = memchr(p, '=', len);
	size_t name_len = eq != NULL ? (size_t)(eq - p) : len;
	const char *value = eq != NULL ? eq + 1 : "";
	size_t value_len = eq != NULL ? len - name_len - 1 : 0;
	int rc = options_apply(o, p, name_len, value, value_len, &e);

	FUZZ_ASSERT(rc == 0 || rc == -1);
	FUZZ_ASSERT(rc == 0 ? e.status == 0 : e.status == 400 && e.code != NULL);
	reply_error_clear(&e);
	return rc;
}

/* check_valid checks that o holds only values a job may have. */
static void check_valid(const struct options *o)
{
	FUZZ_ASSERT(task_catalog_known(o->task));
	FUZZ_ASSERT(ids_queue_name_valid(o->queue));
	FUZZ_ASSERT(o->delimiter != '"' && o->delimiter != '\n' && o->delimiter != '\r' &&
		    o->delimiter != '\0' && o->delimiter < 0x80);
	FUZZ_ASSERT(o->max_attempts >= 0 && o->max_attempts <= JOB_MAX_ATTEMPTS_MAX);
	FUZZ_ASSERT(o->timeout_s >= 0 && o->timeout_s <= JOB_TIMEOUT_MAX_S);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	const char *p = (const char *)data, *end = p + size;
	struct options o;

	options_default(&o);
	while (p < end) {
		const char *amp = memchr(p, '&', (size_t)(end - p));
		size_t len = amp != NULL ? (size_t)(amp - p) : (size_t)(end - p);

		if (apply_one(&o, p, len) != 0)
			break; /* the server stops at the first refusal too */
		p += len + 1;
	}
	check_valid(&o);
	return 0;
}
