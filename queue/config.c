/*
 * config.c — the option loader, its --help text, and the value types.
 *
 * config_load works in two passes over argv. The first checks that every
 * argument is a known option with a value, and answers --help and
 * --version; nothing is parsed yet, so `--max-upload 12X --help` still
 * prints the help. The second pass goes option by option: the flag(s), else
 * the environment variable, else the default text, through the option's
 * parse function. An environment variable that is set but empty counts as
 * unset, because compose files and unit files often define variables empty.
 *
 * Every parse function writes its complaint as a phrase that follows the
 * quoted value: `"12X" is not a size (...)`. The loader puts the program,
 * the flag and the variable in front.
 */
#include "config.h"

#include "ids.h"

#include <arpa/inet.h>
#include <limits.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <unistd.h>

#ifndef JOBQ_VERSION
#define JOBQ_VERSION "unknown"
#endif

const char config_version[] = JOBQ_VERSION;

#define CONFIG_ERR_MAX 256
#define CONFIG_STRING_MAX 255 /* string and prefix destinations are char[256] */

/* ---- Reporting ---------------------------------------------------------- */

/* config_fail writes a complaint into err and returns -1, for parse
 * functions to end with. */
__attribute__((format(printf, 3, 4)))
static int config_fail(char *err, size_t errlen, const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(err, errlen, fmt, ap);
	va_end(ap);
	return -1;
}

/* config_report prints why value is wrong for opt, naming the flag and the
 * environment variable either of which may have supplied it. */
static void config_report(const char *program, const struct config_option *opt,
			  const char *value, const char *err)
{
	if (opt->env != NULL)
		fprintf(stderr, "%s: --%s (%s): \"%s\" %s\n", program, opt->flag, opt->env, value, err);
	else
		fprintf(stderr, "%s: --%s: \"%s\" %s\n", program, opt->flag, value, err);
}

/* config_report_missing prints that opt was given without a value. */
static void config_report_missing(const char *program, const struct config_option *opt)
{
	const char *metavar = opt->metavar != NULL ? opt->metavar : "VALUE";

	if (opt->env != NULL)
		fprintf(stderr, "%s: --%s (%s): needs a value (%s)\n", program, opt->flag, opt->env, metavar);
	else
		fprintf(stderr, "%s: --%s: needs a value (%s)\n", program, opt->flag, metavar);
}

/* ---- Scanning argv ------------------------------------------------------ */

enum config_arg_kind { CONFIG_ARG_OPTION, CONFIG_ARG_HELP, CONFIG_ARG_VERSION };

/* One argument read as an option and its value. */
struct config_arg {
	enum config_arg_kind kind;
	const struct config_option *opt;
	const char *value; /* points into argv */
};

static const struct config_option *config_find(const struct config_option *opts, size_t nopts,
					       const char *name, size_t len)
{
	for (size_t k = 0; k < nopts; k++)
		if (strlen(opts[k].flag) == len && strncmp(opts[k].flag, name, len) == 0)
			return &opts[k];
	return NULL;
}

/* config_arg_value takes the value of the option at argv[*i]: after '=' in
 * the same argument, else the next argument. A next argument that starts
 * with "--" is taken as the next option, not a value: a forgotten value is
 * far more likely than a value that starts with "--" (which can still be
 * given as --name=--value). Returns the value, or NULL when there is none. */
static const char *config_arg_value(int argc, char **argv, int *i, const char *eq)
{
	if (eq != NULL) {
		*i += 1;
		return eq + 1;
	}
	if (*i + 1 < argc && strncmp(argv[*i + 1], "--", 2) != 0) {
		*i += 2;
		return argv[*i - 1];
	}
	return NULL;
}

/* config_arg_read reads the argument at argv[*i] into *arg and moves *i past
 * it and its value. Returns 0, or -1 after printing why it is not an
 * option. */
static int config_arg_read(const struct config_option *opts, size_t nopts, int argc,
			   char **argv, int *i, const char *program, struct config_arg *arg)
{
	const char *a = argv[*i], *name = a + 2, *eq;
	size_t len;

	arg->kind = strcmp(a, "--help") == 0 || strcmp(a, "-h") == 0 ? CONFIG_ARG_HELP :
		    strcmp(a, "--version") == 0 ? CONFIG_ARG_VERSION : CONFIG_ARG_OPTION;
	if (arg->kind != CONFIG_ARG_OPTION) {
		*i += 1;
		return 0;
	}
	if (strncmp(a, "--", 2) != 0 || a[2] == '\0') {
		fprintf(stderr, "%s: \"%s\": unexpected argument (options are --name value; see --help)\n",
			program, a);
		return -1;
	}
	eq = strchr(name, '=');
	len = eq != NULL ? (size_t)(eq - name) : strlen(name);
	arg->opt = config_find(opts, nopts, name, len);
	if (arg->opt == NULL) {
		fprintf(stderr, "%s: --%.*s: unknown option (see --help)\n", program, (int)len, name);
		return -1;
	}
	arg->value = config_arg_value(argc, argv, i, eq);
	if (arg->value == NULL) {
		config_report_missing(program, arg->opt);
		return -1;
	}
	return 0;
}

/* ---- --help and --version ----------------------------------------------- */

static const char *config_metavar(const struct config_option *opt)
{
	return opt->metavar != NULL ? opt->metavar : "VALUE";
}

/* config_print_option prints one option's two lines of --help, its flag
 * column padded to width when something follows it. */
static void config_print_option(const struct config_option *opt, int width)
{
	const char *list = opt->repeatable ? " as a comma list" : "";
	const char *again = opt->repeatable ? "; may be repeated" : "";
	char head[128], where[256] = "";

	snprintf(head, sizeof head, "--%s %s", opt->flag, config_metavar(opt));
	if (opt->env != NULL && opt->default_text != NULL)
		snprintf(where, sizeof where, "(env %s%s, default %s%s)", opt->env, list,
			 opt->default_text, again);
	else if (opt->env != NULL)
		snprintf(where, sizeof where, "(env %s%s, no default%s)", opt->env, list, again);
	else if (opt->default_text != NULL)
		snprintf(where, sizeof where, "(default %s%s)", opt->default_text, again);
	else if (opt->repeatable)
		snprintf(where, sizeof where, "(may be repeated)");
	if (where[0] != '\0')
		printf("  %-*s   %s\n", width, head, where);
	else
		printf("  %s\n", head);
	printf("      %s\n", opt->help != NULL ? opt->help : "");
}

static void config_print_help(const struct config_option *opts, size_t nopts,
			      const char *program, const char *summary)
{
	int width = 0;

	for (size_t k = 0; k < nopts; k++) {
		int w = (int)(strlen(opts[k].flag) + strlen(config_metavar(&opts[k])) + 3);
		if (w > width)
			width = w;
	}
	printf("usage: %s [--option value ...]\n%s\n\noptions:\n", program, summary);
	for (size_t k = 0; k < nopts; k++)
		config_print_option(&opts[k], width);
	printf("  --help, -h\n      Print this help and exit.\n");
	printf("  --version\n      Print the version and exit.\n");
	fflush(stdout);
}

/* config_scan checks every argument and answers --help and --version. */
static enum config_result config_scan(const struct config_option *opts, size_t nopts,
				      int argc, char **argv, const char *program,
				      const char *summary)
{
	struct config_arg arg;

	for (int i = 1; i < argc;) {
		if (config_arg_read(opts, nopts, argc, argv, &i, program, &arg) != 0)
			return CONFIG_ERROR;
		if (arg.kind == CONFIG_ARG_HELP) {
			config_print_help(opts, nopts, program, summary);
			return CONFIG_EXIT;
		}
		if (arg.kind == CONFIG_ARG_VERSION) {
			printf("%s %s\n", program, config_version);
			fflush(stdout);
			return CONFIG_EXIT;
		}
	}
	return CONFIG_OK;
}

/* ---- Applying values ---------------------------------------------------- */

/* config_apply_one parses value into opt->dst. Returns 0, or -1 after
 * printing why. */
static int config_apply_one(const struct config_option *opt, const char *value,
			    const char *program)
{
	char err[CONFIG_ERR_MAX] = "is not valid";

	if (opt->parse(value, opt->dst, err, sizeof err) == 0)
		return 0;
	config_report(program, opt, value, err);
	return -1;
}

/* config_apply_text applies an environment or default text: the whole text,
 * or for a repeatable option each item of its comma list. */
static int config_apply_text(const struct config_option *opt, const char *text,
			     const char *program)
{
	char item[CONFIG_STRING_MAX + 1];

	if (!opt->repeatable)
		return config_apply_one(opt, text, program);
	for (;;) {
		size_t n = strcspn(text, ",");
		if (n >= sizeof item) {
			config_report(program, opt, text, "has an item longer than 255 bytes");
			return -1;
		}
		memcpy(item, text, n);
		item[n] = '\0';
		if (config_apply_one(opt, item, program) != 0)
			return -1;
		if (text[n] == '\0')
			return 0;
		text += n + 1;
	}
}

/* config_apply_flags applies opt's flags: every one for a repeatable option,
 * the last one otherwise. argv has passed config_scan. Returns how many
 * flags were given, or -1 after printing why a value is wrong. */
static int config_apply_flags(const struct config_option *opts, size_t nopts,
			      const struct config_option *opt, int argc, char **argv,
			      const char *program)
{
	const char *last = NULL;
	struct config_arg arg;
	int count = 0;

	for (int i = 1; i < argc;) {
		config_arg_read(opts, nopts, argc, argv, &i, program, &arg);
		if (arg.kind != CONFIG_ARG_OPTION || arg.opt != opt)
			continue;
		count++;
		if (opt->repeatable && config_apply_one(opt, arg.value, program) != 0)
			return -1;
		last = arg.value;
	}
	if (last != NULL && !opt->repeatable && config_apply_one(opt, last, program) != 0)
		return -1;
	return count;
}

/* config_apply sets opt->dst from the first of: flags, environment, default.
 * Returns 0, or -1 after printing why. */
static int config_apply(const struct config_option *opts, size_t nopts,
			const struct config_option *opt, int argc, char **argv,
			const char *program)
{
	char err[CONFIG_ERR_MAX] = "";
	const char *env = opt->env != NULL ? getenv(opt->env) : NULL;
	int flags;

	if (opt->repeatable && opt->parse(NULL, opt->dst, err, sizeof err) != 0) {
		config_report(program, opt, "", err);
		return -1;
	}
	flags = config_apply_flags(opts, nopts, opt, argc, argv, program);
	if (flags != 0)
		return flags < 0 ? -1 : 0;
	if (env != NULL && env[0] != '\0')
		return config_apply_text(opt, env, program);
	if (opt->default_text != NULL)
		return config_apply_text(opt, opt->default_text, program);
	return 0;
}

enum config_result config_load(const struct config_option *opts, size_t nopts,
			       int argc, char **argv, const char *program,
			       const char *summary)
{
	enum config_result r = config_scan(opts, nopts, argc, argv, program, summary);

	if (r != CONFIG_OK)
		return r;
	for (size_t k = 0; k < nopts; k++)
		if (config_apply(opts, nopts, &opts[k], argc, argv, program) != 0)
			return CONFIG_ERROR;
	return CONFIG_OK;
}

/* ---- Numbers ------------------------------------------------------------ */

/* A suffix a number may carry and what it multiplies by. */
struct config_unit {
	const char *suffix;
	uint64_t factor;
};

enum config_number_result { CONFIG_NUMBER_OK, CONFIG_NUMBER_BAD, CONFIG_NUMBER_TOO_LARGE };

/* config_unit_factor returns the factor of suffix in units (compared without
 * case when fold), or 0 when it is not one of them. */
static uint64_t config_unit_factor(const char *suffix, const struct config_unit *units,
				   size_t nunits, bool fold)
{
	for (size_t k = 0; k < nunits; k++)
		if ((fold ? strcasecmp(suffix, units[k].suffix) : strcmp(suffix, units[k].suffix)) == 0)
			return units[k].factor;
	return 0;
}

/* config_number reads text as decimal digits and one of units' suffixes
 * into *out = digits * factor. No sign, space, point or exponent: a value
 * that looks unusual is refused rather than guessed at. */
static enum config_number_result config_number(const char *text, const struct config_unit *units,
					       size_t nunits, bool fold, uint64_t *out)
{
	uint64_t n = 0, factor;
	bool overflow = false;
	const char *p = text;

	if (*p < '0' || *p > '9')
		return CONFIG_NUMBER_BAD;
	for (; *p >= '0' && *p <= '9'; p++) {
		unsigned d = (unsigned)(*p - '0');
		if (n > (UINT64_MAX - d) / 10)
			overflow = true;
		else
			n = n * 10 + d;
	}
	factor = config_unit_factor(p, units, nunits, fold);
	if (factor == 0)
		return CONFIG_NUMBER_BAD;
	if (overflow || n > UINT64_MAX / factor)
		return CONFIG_NUMBER_TOO_LARGE;
	*out = n * factor;
	return CONFIG_NUMBER_OK;
}

static const struct config_unit config_plain_units[] = { { "", 1 } };

/* config_int_in reads a plain number in min..max into *out. Returns 0, or
 * -1 with what (a noun phrase) in the complaint. */
static int config_int_in(const char *text, uint64_t min, uint64_t max, const char *what,
			 uint64_t *out, char *err, size_t errlen)
{
	switch (config_number(text, config_plain_units, 1, false, out)) {
	case CONFIG_NUMBER_OK:
		if (*out >= min && *out <= max)
			return 0;
		break;
	case CONFIG_NUMBER_TOO_LARGE:
		break;
	case CONFIG_NUMBER_BAD:
		return config_fail(err, errlen, "is not %s (a whole number)", what);
	}
	return config_fail(err, errlen, "is out of range for %s (%llu to %llu)", what,
			   (unsigned long long)min, (unsigned long long)max);
}

/* ---- Value types -------------------------------------------------------- */

int config_parse_string(const char *text, void *dst, char *err, size_t errlen)
{
	size_t len = strlen(text);

	if (len > CONFIG_STRING_MAX)
		return config_fail(err, errlen, "is longer than %d bytes", CONFIG_STRING_MAX);
	memcpy(dst, text, len + 1);
	return 0;
}

/* config_parse_size accepts bytes, or K, M, G (1024-based, any case, with or
 * without B or iB after them): 1024, 10K, 256M, 256MiB, 1G. At least 1. */
int config_parse_size(const char *text, void *dst, char *err, size_t errlen)
{
	static const struct config_unit units[] = {
		{ "", 1 }, { "B", 1 },
		{ "K", 1ULL << 10 }, { "KB", 1ULL << 10 }, { "KiB", 1ULL << 10 },
		{ "M", 1ULL << 20 }, { "MB", 1ULL << 20 }, { "MiB", 1ULL << 20 },
		{ "G", 1ULL << 30 }, { "GB", 1ULL << 30 }, { "GiB", 1ULL << 30 },
	};
	uint64_t n;

	switch (config_number(text, units, sizeof units / sizeof units[0], true, &n)) {
	case CONFIG_NUMBER_BAD:
		return config_fail(err, errlen, "is not a size (bytes, or a number with K, M or G)");
	case CONFIG_NUMBER_TOO_LARGE:
		return config_fail(err, errlen, "is too large a size");
	case CONFIG_NUMBER_OK:
		break;
	}
	if (n == 0)
		return config_fail(err, errlen, "is too small a size (at least 1 byte)");
	*(uint64_t *)dst = n;
	return 0;
}

/* config_parse_seconds accepts seconds, or a number with s, m, h or d
 * (lower case: 10M could as well mean months), from 1s to 3650d. */
int config_parse_seconds(const char *text, void *dst, char *err, size_t errlen)
{
	static const struct config_unit units[] = {
		{ "", 1 }, { "s", 1 }, { "m", 60 }, { "h", 3600 }, { "d", 86400 },
	};
	uint64_t n = 0;

	switch (config_number(text, units, sizeof units / sizeof units[0], false, &n)) {
	case CONFIG_NUMBER_BAD:
		return config_fail(err, errlen,
				   "is not a duration (seconds, or a number with s, m, h or d)");
	case CONFIG_NUMBER_TOO_LARGE:
	case CONFIG_NUMBER_OK:
		break;
	}
	if (n < 1 || n > 315360000)
		return config_fail(err, errlen, "is out of range for a duration (1s to 3650d)");
	*(int *)dst = (int)n;
	return 0;
}

/* config_parse_seconds_or_off is config_parse_seconds that also takes a
 * zero duration ("0", "0s", "0m", ...), meaning off (e.g. --exit-when-idle
 * 0: never). */
int config_parse_seconds_or_off(const char *text, void *dst, char *err, size_t errlen)
{
	size_t zeros = strspn(text, "0");

	if (zeros > 0 && (text[zeros] == '\0' ||
			  (strchr("smhd", text[zeros]) != NULL && text[zeros + 1] == '\0'))) {
		*(int *)dst = 0;
		return 0;
	}
	return config_parse_seconds(text, dst, err, errlen);
}

/* config_parse_millis accepts a duration with ms, s, m, h or d (lower
 * case), or plain seconds, from 1ms to 3650d, into an int64_t of ms. No
 * decimal point: 0.1s is written 100ms. */
int config_parse_millis(const char *text, void *dst, char *err, size_t errlen)
{
	static const struct config_unit units[] = {
		{ "", 1000 }, { "ms", 1 }, { "s", 1000 }, { "m", 60000 }, { "h", 3600000 },
		{ "d", 86400000 },
	};
	uint64_t n = 0;

	switch (config_number(text, units, sizeof units / sizeof units[0], false, &n)) {
	case CONFIG_NUMBER_BAD:
		return config_fail(err, errlen,
				   "is not a duration (seconds, or a number with ms, s, m, h or d)");
	case CONFIG_NUMBER_TOO_LARGE:
		n = UINT64_MAX;
		break;
	case CONFIG_NUMBER_OK:
		break;
	}
	if (n < 1 || n > 315360000000ULL)
		return config_fail(err, errlen, "is out of range for a duration (1ms to 3650d)");
	*(int64_t *)dst = (int64_t)n;
	return 0;
}

int config_parse_positive_int(const char *text, void *dst, char *err, size_t errlen)
{
	uint64_t n;

	if (config_int_in(text, 1, 1000000, "a count", &n, err, errlen) != 0)
		return -1;
	*(int *)dst = (int)n;
	return 0;
}

/* ---- Listen addresses --------------------------------------------------- */

/* config_listen_split finds the host and port of "a.b.c.d:port" or
 * "[v6]:port": copies the host into host[64], sets *family and *port.
 * Returns 0, or -1 when text has neither shape. */
static int config_listen_split(const char *text, char host[64], int *family, const char **port)
{
	const char *end;

	if (text[0] == '[') {
		text++;
		end = strchr(text, ']');
		if (end == NULL || end[1] != ':')
			return -1;
		*family = AF_INET6;
		*port = end + 2;
	} else {
		end = strrchr(text, ':');
		if (end == NULL)
			return -1;
		*family = AF_INET;
		*port = end + 1;
	}
	if (end == text || (size_t)(end - text) >= 64)
		return -1;
	memcpy(host, text, (size_t)(end - text));
	host[end - text] = '\0';
	return 0;
}

/* config_parse_listen accepts a numeric host and a port, 0 for any free one:
 * 127.0.0.1:8080, [::1]:8080, 0.0.0.0:0. Names are refused so that what
 * the server binds never depends on the resolver. */
int config_parse_listen(const char *text, void *dst, char *err, size_t errlen)
{
	struct config_listen *out = dst;
	unsigned char addr[16];
	char host[64];
	const char *port;
	uint64_t n;
	int family;

	if (config_listen_split(text, host, &family, &port) != 0 ||
	    inet_pton(family, host, addr) != 1)
		return config_fail(err, errlen,
				   "is not a listen address (IPv4:port or [IPv6]:port, numeric)");
	if (config_int_in(port, 0, 65535, "a port", &n, err, errlen) != 0)
		return -1;
	memcpy(out->host, host, sizeof host);
	out->port = (unsigned)n;
	return 0;
}

/* ---- Names -------------------------------------------------------------- */

/* config_list_add appends the n bytes at name to list. Returns 0, or -1 when
 * the name is bad, already there, or the list is full. */
static int config_list_add(struct config_list *list, const char *name, size_t n,
			   char *err, size_t errlen)
{
	char item[sizeof list->items[0]];

	if (n >= sizeof item)
		return config_fail(err, errlen, "has a queue name longer than 64 characters");
	memcpy(item, name, n);
	item[n] = '\0';
	if (!ids_queue_name_valid(item))
		return config_fail(err, errlen,
				   "has a bad queue name \"%s\" (1 to 64 of A-Z a-z 0-9 _ . -)", item);
	for (size_t k = 0; k < list->len; k++)
		if (strcmp(list->items[k], item) == 0)
			return config_fail(err, errlen, "names queue \"%s\" twice", item);
	if (list->len == CONFIG_LIST_MAX)
		return config_fail(err, errlen, "makes more than %d queues", CONFIG_LIST_MAX);
	memcpy(list->items[list->len++], item, n + 1);
	return 0;
}

/* config_parse_queue_list appends the queue names of a comma list to the
 * struct config_list at dst, all or none; text == NULL empties it. */
int config_parse_queue_list(const char *text, void *dst, char *err, size_t errlen)
{
	struct config_list *list = dst, next;

	if (text == NULL) {
		list->len = 0;
		return 0;
	}
	next = *list;
	for (;;) {
		size_t n = strcspn(text, ",");
		if (config_list_add(&next, text, n, err, errlen) != 0)
			return -1;
		if (text[n] == '\0')
			break;
		text += n + 1;
	}
	*list = next;
	return 0;
}

/* config_parse_prefix accepts 1 to 64 bytes of [A-Za-z0-9_.:-], the same
 * rule as keys_prefix_valid; it is spelled out here so that config does not
 * depend on the key schema. */
int config_parse_prefix(const char *text, void *dst, char *err, size_t errlen)
{
	static const char extra[] = "_.:-";
	size_t len = strlen(text);

	for (size_t i = 0; i < len; i++) {
		char c = text[i];
		bool alnum = (c >= '0' && c <= '9') || (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z');
		if (!alnum && strchr(extra, c) == NULL)
			len = 0; /* refused below */
	}
	if (len < 1 || len > 64)
		return config_fail(err, errlen,
				   "is not a key prefix (1 to 64 of A-Z a-z 0-9 _ . : -)");
	memcpy(dst, text, len + 1);
	return 0;
}

int config_cpu_count(void)
{
	long n = sysconf(_SC_NPROCESSORS_ONLN);

	if (n < 1)
		return 1;
	return n > INT_MAX ? INT_MAX : (int)n;
}
