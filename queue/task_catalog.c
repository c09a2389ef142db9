/*
 * task_catalog — see task_catalog.h.
 */
#include "task_catalog.h"

#include <jansson.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "job.h"

static struct task_catalog *catalog_global;

/* One field of a definition: its name and the function that reads it. */
typedef int (*field_fn)(struct task_def *d, json_t *v);

/* catalog_err writes "task \"name\": field \"f\" msg" into err and returns -1. */
__attribute__((format(printf, 5, 6)))
static int catalog_err(char *err, size_t errlen, const char *task, const char *field,
		       const char *fmt, ...)
{
	char msg[256];
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(msg, sizeof msg, fmt, ap);
	va_end(ap);
	if (field != NULL)
		snprintf(err, errlen, "task \"%s\": field \"%s\" %s", task, field, msg);
	else
		snprintf(err, errlen, "task \"%s\": %s", task, msg);
	return -1;
}

/* catalog_name_ok returns true for [A-Za-z0-9_.-]{1,64}. */
static bool catalog_name_ok(const char *s)
{
	size_t n = strlen(s);

	if (n == 0 || n > JOB_NAME_MAX)
		return false;
	return strspn(s, "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789_.-") == n;
}

/* catalog_strv frees a NULL-terminated list of strings. */
static void catalog_strv_free(char **v)
{
	for (size_t i = 0; v != NULL && v[i] != NULL; i++)
		free(v[i]);
	free(v);
}

static void catalog_def_free(struct task_def *d)
{
	free(d->name);
	catalog_strv_free(d->argv);
	catalog_strv_free(d->env);
	free(d->cwd);
	free(d->result_type);
}

void task_catalog_free(struct task_catalog *c)
{
	if (c == NULL)
		return;
	for (size_t i = 0; i < c->len; i++)
		catalog_def_free(&c->defs[i]);
	free(c->defs);
	free(c);
}

/* catalog_argv reads "argv": a non-empty array of strings. 0 or -1. */
static int catalog_argv(struct task_def *d, json_t *v, const char **why)
{
	size_t n = json_is_array(v) ? json_array_size(v) : 0;

	*why = "must be a non-empty array of strings";
	if (n == 0)
		return -1;
	d->argv = calloc(n + 1, sizeof *d->argv);
	for (size_t i = 0; d->argv != NULL && i < n; i++) {
		json_t *s = json_array_get(v, i);

		if (!json_is_string(s) || strlen(json_string_value(s)) != json_string_length(s))
			return -1;
		d->argv[i] = strdup(json_string_value(s));
		if (d->argv[i] == NULL)
			break;
	}
	*why = "cannot be stored: out of memory";
	return d->argv != NULL && d->argv[n - 1] != NULL ? 0 : -1;
}

/* catalog_env reads "env": an object of string values, as "K=V". */
static int catalog_env(struct task_def *d, json_t *v, const char **why)
{
	const char *k;
	json_t *val;
	size_t i = 0;

	*why = "must be an object of strings with names free of '='";
	if (!json_is_object(v))
		return -1;
	d->env = calloc(json_object_size(v) + 1, sizeof *d->env);
	if (d->env == NULL)
		return -1;
	json_object_foreach(v, k, val) {
		if (!json_is_string(val) || k[0] == '\0' || strchr(k, '=') != NULL ||
		    strlen(json_string_value(val)) != json_string_length(val))
			return -1;
		if (asprintf(&d->env[i], "%s=%s", k, json_string_value(val)) < 0) {
			d->env[i] = NULL;
			return -1;
		}
		i++;
	}
	return 0;
}

/* catalog_string reads a non-empty string of at most max bytes into *dst. */
static int catalog_string(char **dst, json_t *v, size_t max, const char **why)
{
	*why = "must be a non-empty string";
	if (!json_is_string(v) || json_string_length(v) == 0 || json_string_length(v) > max ||
	    strlen(json_string_value(v)) != json_string_length(v))
		return -1;
	*dst = strdup(json_string_value(v));
	return *dst != NULL ? 0 : -1;
}

/* catalog_positive reads a positive integer into *dst. */
static int catalog_positive(int64_t *dst, json_t *v, const char **why)
{
	*why = "must be a positive integer";
	if (!json_is_integer(v) || json_integer_value(v) <= 0)
		return -1;
	*dst = json_integer_value(v);
	return 0;
}

/* catalog_field reads field k of definition d. Returns 0, or -1 with *why. */
static int catalog_field(struct task_def *d, const char *k, json_t *v, const char **why)
{
	int64_t n = 0;

	if (strcmp(k, "argv") == 0)
		return catalog_argv(d, v, why);
	if (strcmp(k, "env") == 0)
		return catalog_env(d, v, why);
	if (strcmp(k, "cwd") == 0)
		return catalog_string(&d->cwd, v, 4096, why);
	if (strcmp(k, "result_type") == 0)
		return catalog_string(&d->result_type, v, JOB_NAME_MAX, why);
	if (strcmp(k, "timeout") == 0)
		return catalog_positive(&d->timeout_s, v, why);
	if (strcmp(k, "cpu_seconds") == 0)
		return catalog_positive(&d->cpu_seconds, v, why);
	if (strcmp(k, "memory_bytes") == 0)
		return catalog_positive(&d->memory_bytes, v, why);
	if (strcmp(k, "open_files") == 0)
		return catalog_positive(&d->open_files, v, why);
	if (strcmp(k, "max_output") == 0) {
		if (catalog_positive(&n, v, why) != 0)
			return -1;
		d->max_output = (uint64_t)n;
		return 0;
	}
	*why = "is not a known field (argv, env, cwd, timeout, max_output, cpu_seconds, memory_bytes, open_files, result_type)";
	return -1;
}

/* catalog_def reads the definition v of task name into d. */
static int catalog_def(struct task_def *d, const char *name, json_t *v, char *err,
		       size_t errlen)
{
	const char *k, *why = "";
	json_t *f;

	if (!catalog_name_ok(name))
		return catalog_err(err, errlen, name, NULL, "is not a valid name ([A-Za-z0-9_.-], 1 to 64)");
	if (job_task_builtin(name))
		return catalog_err(err, errlen, name, NULL, "is a built-in task's name");
	if (!json_is_object(v))
		return catalog_err(err, errlen, name, NULL, "must be an object");
	d->name = strdup(name);
	d->max_output = TASK_CATALOG_MAX_OUTPUT_DEFAULT;
	json_object_foreach(v, k, f) {
		if (catalog_field(d, k, f, &why) != 0)
			return catalog_err(err, errlen, name, k, "%s", why);
	}
	if (d->argv == NULL)
		return catalog_err(err, errlen, name, "argv", "is required");
	if (d->env == NULL && (d->env = calloc(1, sizeof *d->env)) == NULL)
		return catalog_err(err, errlen, name, NULL, "out of memory");
	if (d->result_type == NULL && (d->result_type = strdup(TASK_CATALOG_RESULT_TYPE_DEFAULT)) == NULL)
		return catalog_err(err, errlen, name, NULL, "out of memory");
	return d->name != NULL ? 0 : catalog_err(err, errlen, name, NULL, "out of memory");
}

/* catalog_from_json builds a catalog from the parsed file root. */
static struct task_catalog *catalog_from_json(json_t *root, char *err, size_t errlen)
{
	struct task_catalog *c;
	const char *name;
	json_t *v;

	if (!json_is_object(root)) {
		snprintf(err, errlen, "must be a JSON object of task name -> definition");
		return NULL;
	}
	c = calloc(1, sizeof *c);
	if (c != NULL)
		c->defs = calloc(json_object_size(root) + 1, sizeof *c->defs);
	if (c == NULL || c->defs == NULL) {
		snprintf(err, errlen, "out of memory");
		task_catalog_free(c);
		return NULL;
	}
	json_object_foreach(root, name, v) {
		c->len++;
		if (catalog_def(&c->defs[c->len - 1], name, v, err, errlen) != 0) {
			task_catalog_free(c);
			return NULL;
		}
	}
	return c;
}

struct task_catalog *task_catalog_parse(const char *text, char *err, size_t errlen)
{
	json_error_t jerr;
	json_t *root = json_loads(text, JSON_REJECT_DUPLICATES, &jerr);
	struct task_catalog *c;

	if (root == NULL) {
		snprintf(err, errlen, "not valid JSON: %s (line %d)", jerr.text, jerr.line);
		return NULL;
	}
	c = catalog_from_json(root, err, errlen);
	json_decref(root);
	return c;
}

struct task_catalog *task_catalog_load(const char *path, char *err, size_t errlen)
{
	json_error_t jerr;
	json_t *root = json_load_file(path, JSON_REJECT_DUPLICATES, &jerr);
	struct task_catalog *c;

	if (root == NULL) {
		if (jerr.line > 0)
			snprintf(err, errlen, "not valid JSON: %s (line %d)", jerr.text, jerr.line);
		else
			snprintf(err, errlen, "%s", jerr.text);
		return NULL;
	}
	c = catalog_from_json(root, err, errlen);
	json_decref(root);
	return c;
}

const struct task_def *task_catalog_find(const struct task_catalog *c, const char *name)
{
	for (size_t i = 0; c != NULL && name != NULL && i < c->len; i++)
		if (strcmp(c->defs[i].name, name) == 0)
			return &c->defs[i];
	return NULL;
}

const struct task_catalog *task_catalog_global(void)
{
	return catalog_global;
}

int task_catalog_config_parse(const char *text, void *dst, char *err, size_t errlen)
{
	struct task_catalog *c;
	char why[400];

	(void)dst;
	if (text == NULL || text[0] == '\0')
		return 0;
	c = task_catalog_load(text, why, sizeof why);
	if (c == NULL) {
		snprintf(err, errlen, "is not a usable tasks file: %s", why);
		return -1;
	}
	task_catalog_free(catalog_global);
	catalog_global = c;
	return 0;
}

int task_catalog_known(const char *name)
{
	return job_task_builtin(name) || task_catalog_find(catalog_global, name) != NULL;
}
