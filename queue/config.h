/*
 * config — command-line flags and JOBQ_* environment variables.
 *
 * Each binary describes its options as a table of struct config_option.
 * config_load applies, for each option, the first of: the flag (last one
 * wins, or every one for a repeatable option), the environment variable,
 * the default text. A value that does not parse stops start-up with a
 * message naming the flag and the variable. --help prints the table: each
 * flag with its variable, default and sentence; --version prints the
 * version.
 *
 * The parse functions below are the value types options use; each returns
 * 0, or -1 with a sentence in err.
 */
#ifndef JOBQ_CONFIG_H
#define JOBQ_CONFIG_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#define CONFIG_LIST_MAX 32 /* most values a repeatable option keeps */

/* A parse function reads text into dst. For a repeatable option it is called
 * once per value, in order, after a reset call with text == NULL. */
typedef int (*config_parse_fn)(const char *text, void *dst, char *err, size_t errlen);

struct config_option {
	const char *flag;         /* without dashes: "redis-url" */
	const char *env;          /* "JOBQ_REDIS_URL", or NULL */
	const char *metavar;      /* "URL" */
	const char *default_text; /* parsed when neither flag nor env is set; NULL = none */
	const char *help;         /* one sentence */
	config_parse_fn parse;
	void *dst;
	bool repeatable;          /* flag may be given many times; env is a comma list */
};

/* A list of strings (repeatable options). */
struct config_list {
	size_t len;
	char items[CONFIG_LIST_MAX][65];
};

enum config_result {
	CONFIG_OK = 0,     /* go on */
	CONFIG_EXIT = 1,   /* --help or --version printed: exit 0 */
	CONFIG_ERROR = -1, /* message printed to stderr: exit 2 */
};

/* config_load parses argv and the environment into the options' dst.
 * program and summary head the --help text. */
enum config_result config_load(const struct config_option *opts, size_t nopts,
			       int argc, char **argv, const char *program,
			       const char *summary);

/* Value types. */
int config_parse_string(const char *text, void *dst /* char[256] */, char *err, size_t errlen);
int config_parse_size(const char *text, void *dst /* uint64_t; K/M/G suffixes, 1024-based */, char *err, size_t errlen);
int config_parse_seconds(const char *text, void *dst /* int, 1..10 years */, char *err, size_t errlen);
int config_parse_seconds_or_off(const char *text, void *dst /* int, 0 = off, else as seconds */, char *err, size_t errlen);
int config_parse_millis(const char *text, void *dst /* int64_t ms; ms/s/m/h/d, 1ms..3650d */, char *err, size_t errlen);
int config_parse_positive_int(const char *text, void *dst /* int, 1..1e6 */, char *err, size_t errlen);
int config_parse_listen(const char *text, void *dst /* struct config_listen */, char *err, size_t errlen);
int config_parse_queue_list(const char *text, void *dst /* struct config_list */, char *err, size_t errlen);
int config_parse_prefix(const char *text, void *dst /* char[256] */, char *err, size_t errlen);

struct config_listen {
	char host[64];  /* numeric IPv4 or IPv6 address */
	unsigned port;  /* 0 = any free port (the API logs the one it got) */
};

/* config_cpu_count returns the number of CPUs online (at least 1). */
int config_cpu_count(void);

/* config_version is the version string baked in at build time. */
extern const char config_version[];

#endif
