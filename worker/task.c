/*
 * task — the table of built-in tasks. See task.h.
 */
#include "task.h"

#include <stdio.h>
#include <string.h>

static const struct task_ops *const task_builtins[] = {
	&task_profile,
	&task_ndjson,
};

const struct task_ops *task_find(const char *name)
{
	if (!name)
		return NULL;
	for (size_t i = 0; i < sizeof task_builtins / sizeof task_builtins[0]; i++)
		if (strcmp(task_builtins[i]->name, name) == 0)
			return task_builtins[i];
	return NULL;
}

int task_builtin_list(char *out, size_t cap)
{
	size_t len = 0;
	int n = snprintf(out, cap, ",");

	for (size_t i = 0; n >= 0 && i < sizeof task_builtins / sizeof task_builtins[0]; i++) {
		len += (size_t)n;
		if (len >= cap)
			return -1;
		n = snprintf(out + len, cap - len, "%s,", task_builtins[i]->name);
	}
	return n < 0 || len + (size_t)n >= cap ? -1 : 0;
}
