/*
 * options.c — parsing and checking a submission's options (see options.h).
 */
#include "options.h"

#include <stdio.h>
#include <string.h>

#include "ids.h"
#include "task_catalog.h"

static const char *const option_names[OPT_COUNT] = {
	[OPT_TASK] = "task",
	[OPT_QUEUE] = "queue",
	[OPT_DELIMITER] = "delimiter",
	[OPT_HEADER] = "header",
	[OPT_MAX_ATTEMPTS] = "max_attempts",
	[OPT_TIMEOUT] = "timeout",
};

void options_default(struct options *o)
{
	memset(o, 0, sizeof *o);
	snprintf(o->task, sizeof o->task, "profile");
	snprintf(o->queue, sizeof o->queue, "default");
	o->delimiter = ',';
	o->header = true;
}

/* options_find returns the option named by the len bytes at name, or
 * -1 when there is none. */
int options_find(const char *name, size_t len)
{
	for (int i = 0; i < OPT_COUNT; i++)
		if (strlen(option_names[i]) == len && memcmp(option_names[i], name, len) == 0)
			return i;
	return -1;
}

/* options_name_copy copies a name of len bytes into out (JOB_NAME_MAX + 1
 * bytes). Returns 0, or -1 when it is empty, too long or holds a NUL. */
static int options_name_copy(char *out, const char *v, size_t len)
{
	if (len == 0 || len > JOB_NAME_MAX || memchr(v, '\0', len) != NULL)
		return -1;
	memcpy(out, v, len);
	out[len] = '\0';
	return 0;
}

/* options_delimiter_ok returns true for a usable delimiter byte. Besides the
 * bytes the CSV dialect reserves, non-ASCII bytes are refused: alone, such a
 * byte is never valid UTF-8, so every upload using it would be rejected. */
static bool options_delimiter_ok(char c)
{
	return c != '"' && c != '\r' && c != '\n' && c != '\0' && (unsigned char)c < 0x80;
}

/* options_int_in reads the len bytes at v as a decimal number in 1..max
 * into *out. Returns 0, or -1 when they are anything else. */
static int options_int_in(const char *v, size_t len, int max, int *out)
{
	long n = 0;

	if (len == 0 || len > 9)
		return -1;
	for (size_t i = 0; i < len; i++) {
		if (v[i] < '0' || v[i] > '9')
			return -1;
		n = n * 10 + (v[i] - '0');
	}
	if (n < 1 || n > max)
		return -1;
	*out = (int)n;
	return 0;
}

/* options_retry_parse sets max_attempts or timeout (which) of o.
 * Returns 0, or -1 with *e set to the option's 400. */
static int options_retry_parse(struct options *o, int which, const char *v,
				     size_t len, struct reply_error *e)
{
	if (which == OPT_MAX_ATTEMPTS) {
		if (options_int_in(v, len, JOB_MAX_ATTEMPTS_MAX, &o->max_attempts) == 0)
			return 0;
		reply_error_set(e, MHD_HTTP_BAD_REQUEST, "invalid_max_attempts",
				"max_attempts must be a whole number from 1 to %d.", JOB_MAX_ATTEMPTS_MAX);
		return -1;
	}
	if (options_int_in(v, len, JOB_TIMEOUT_MAX_S, &o->timeout_s) == 0)
		return 0;
	reply_error_set(e, MHD_HTTP_BAD_REQUEST, "invalid_timeout",
			"timeout must be a whole number of seconds from 1 to %d.", JOB_TIMEOUT_MAX_S);
	return -1;
}

/* options_parse sets option which of o from the len bytes at v.
 * Returns 0, or -1 with *e set to the option's 400 and o unchanged. */
static int options_parse(struct options *o, int which, const char *v, size_t len,
			 struct reply_error *e)
{
	char name[JOB_NAME_MAX + 1];

	switch (which) {
	case OPT_TASK:
		if (options_name_copy(name, v, len) == 0 && task_catalog_known(name)) {
			memcpy(o->task, name, sizeof o->task);
			return 0;
		}
		reply_error_set(e, MHD_HTTP_BAD_REQUEST, "unknown_task",
				"Unknown task; the built-in tasks are profile and ndjson, others come from the operator's tasks file.");
		return -1;
	case OPT_QUEUE:
		if (options_name_copy(name, v, len) == 0 && ids_queue_name_valid(name)) {
			memcpy(o->queue, name, sizeof o->queue);
			return 0;
		}
		reply_error_set(e, MHD_HTTP_BAD_REQUEST, "invalid_queue",
				"A queue name is 1 to 64 characters of A-Z a-z 0-9 _ . -.");
		return -1;
	case OPT_DELIMITER:
		if (len == 1 && options_delimiter_ok(v[0])) {
			o->delimiter = (unsigned char)v[0];
			return 0;
		}
		reply_error_set(e, MHD_HTTP_BAD_REQUEST, "invalid_delimiter",
				"The delimiter must be exactly one ASCII character other than a double quote, CR, LF or NUL.");
		return -1;
	case OPT_MAX_ATTEMPTS:
	case OPT_TIMEOUT:
		return options_retry_parse(o, which, v, len, e);
	default:
		if ((len == 4 && memcmp(v, "true", 4) == 0) || (len == 5 && memcmp(v, "false", 5) == 0)) {
			o->header = len == 4;
			return 0;
		}
		reply_error_set(e, MHD_HTTP_BAD_REQUEST, "invalid_header",
				"The header option must be true or false.");
		return -1;
	}
}

/* options_set applies a query parameter or form field. Returns 0, or
 * -1 with *e set (400 duplicate_parameter or the option's own 400). */
int options_set(struct options *o, enum option_id which, const char *v, size_t len,
			     struct reply_error *e)
{
	const char *name = option_names[which];

	if (o->given[which]) {
		reply_error_set(e, MHD_HTTP_BAD_REQUEST, "duplicate_parameter",
				"The option %s is given more than once.", name);
		reply_error_detail_text(e, "parameter", name, strlen(name));
		return -1;
	}
	o->given[which] = true;
	return options_parse(o, which, v, len, e);
}

/* options_unknown makes *e the 400 for a parameter (len bytes at
 * name) that is no option: most likely a typo, which must not pass
 * silently as a default. */
void options_unknown(struct reply_error *e, const char *name, size_t len)
{
	reply_error_set(e, MHD_HTTP_BAD_REQUEST, "unknown_parameter",
			"Unknown parameter; the options are task, queue, delimiter, header, max_attempts and timeout.");
	reply_error_detail_text(e, "parameter", name, len);
}

const char *options_name(enum option_id which)
{
	return option_names[which];
}

int options_apply(struct options *o, const char *name, size_t name_len, const char *value,
		  size_t value_len, struct reply_error *e)
{
	int which = options_find(name, name_len);

	if (which < 0) {
		options_unknown(e, name, name_len);
		return -1;
	}
	return options_set(o, (enum option_id)which, value, value_len, e);
}
