/*
 * options — the options of one submission (task, queue, delimiter, header,
 * max_attempts, timeout), read from query parameters or form fields.
 *
 * Both come as (name, value) byte strings, which may hold any byte, NUL
 * included: names and values are taken with their lengths, never as C
 * strings. Each option may be given once; an unknown name is an error (a
 * typo must not pass silently as a default). Every refusal is the 400 the
 * submission is answered with (reply.h), with a stable code.
 *
 * struct options is plain data, owned by its caller; nothing here
 * allocates.
 */
#ifndef JOBQ_API_OPTIONS_H
#define JOBQ_API_OPTIONS_H

#include <stdbool.h>
#include <stddef.h>

#include "job.h"
#include "reply.h"

enum option_id {
	OPT_TASK, OPT_QUEUE, OPT_DELIMITER, OPT_HEADER, OPT_MAX_ATTEMPTS, OPT_TIMEOUT, OPT_COUNT
};

struct options {
	char task[JOB_NAME_MAX + 1];
	char queue[JOB_NAME_MAX + 1];
	unsigned char delimiter;
	bool header;
	int max_attempts;        /* 0: --max-attempts */
	int timeout_s;           /* 0: --job-timeout */
	bool given[OPT_COUNT];   /* each option may be given once */
};

/* options_default sets every option of o to its default and marks none
 * given. */
void options_default(struct options *o);

/* options_find returns the option named by the len bytes at name, or -1
 * when there is none. */
int options_find(const char *name, size_t len);

/* options_name returns option which's name (static). */
const char *options_name(enum option_id which);

/* options_set sets option which of o from the len bytes at v. Returns 0,
 * or -1 with *e set (400 duplicate_parameter or the option's own 400); a
 * refused value leaves the option as it was. */
int options_set(struct options *o, enum option_id which, const char *v, size_t len,
		struct reply_error *e);

/* options_unknown makes *e the 400 unknown_parameter for the name of len
 * bytes at name. */
void options_unknown(struct reply_error *e, const char *name, size_t len);

/* options_apply applies one parameter: the name (name_len bytes) and value
 * (value_len bytes). Returns 0, or -1 with *e set (unknown_parameter, or
 * as options_set). */
int options_apply(struct options *o, const char *name, size_t name_len, const char *value,
		  size_t value_len, struct reply_error *e);

#endif
