/*
 * task — the table of built-in tasks. See task.h.
 */
#include "task.h"

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
