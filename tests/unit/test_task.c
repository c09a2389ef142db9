/*
 * Unit: the table of built-in tasks (worker/task.c) — the comma list that a
 * consumer's batch claim carries.
 */
#include <criterion/criterion.h>
#include <string.h>

#include "task.h"

Test(task, the_builtin_list_names_each_builtin_between_commas)
{
	char list[256];

	cr_assert_eq(task_builtin_list(list, sizeof list), 0);
	cr_assert_eq(list[0], ',');
	cr_assert_eq(list[strlen(list) - 1], ',');
	cr_assert_not_null(strstr(list, ",profile,"));
	cr_assert_not_null(strstr(list, ",ndjson,"));
	/* Every name in it is a built-in task. */
	char copy[256], *save = NULL;
	memcpy(copy, list, sizeof copy);
	for (char *name = strtok_r(copy, ",", &save); name; name = strtok_r(NULL, ",", &save))
		cr_assert_not_null(task_find(name), "%s is not a built-in task", name);
}

Test(task, the_builtin_list_refuses_a_buffer_too_small)
{
	char list[256];

	cr_assert_eq(task_builtin_list(list, sizeof list), 0);
	size_t need = strlen(list) + 1;
	for (size_t cap = 0; cap < need; cap++)
		cr_assert_eq(task_builtin_list(list, cap), -1, "cap %zu", cap);
	cr_assert_eq(task_builtin_list(list, need), 0);
}
