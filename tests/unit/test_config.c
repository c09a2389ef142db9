/*
 * test_config.c — flags, JOBQ_* variables, defaults, --help, and the value
 * types. Criterion runs each test in its own process, so setenv here does
 * not leak into other tests; the suite's init clears the variables the table
 * uses in case the caller's environment sets them.
 */
#include <criterion/criterion.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "config.h"

/* What the test table loads into. */
static struct {
	struct config_listen listen;
	char redis_url[256];
	uint64_t max_upload;
	int result_ttl;
	int concurrency;
	struct config_list queues;
	char prefix[256];
	char label[256];
} st;

static const struct config_option opts[] = {
	{ "listen", "JOBQ_LISTEN", "ADDR", "127.0.0.1:8080", "Address and port to serve on.",
	  config_parse_listen, &st.listen, false },
	{ "redis-url", "JOBQ_REDIS_URL", "URL", "redis://127.0.0.1:6379", "Redis server to use.",
	  config_parse_string, st.redis_url, false },
	{ "max-upload", "JOBQ_MAX_UPLOAD", "SIZE", "256M", "Largest CSV accepted.",
	  config_parse_size, &st.max_upload, false },
	{ "result-ttl", "JOBQ_RESULT_TTL", "DURATION", "7d", "How long results are kept.",
	  config_parse_seconds, &st.result_ttl, false },
	{ "concurrency", "JOBQ_CONCURRENCY", "N", "4", "Jobs run at once.",
	  config_parse_positive_int, &st.concurrency, false },
	{ "queue", "JOBQ_QUEUES", "NAME", "default", "Queue to take jobs from.",
	  config_parse_queue_list, &st.queues, true },
	{ "prefix", "JOBQ_PREFIX", "PREFIX", "jobq", "Prefix of every Redis key.",
	  config_parse_prefix, st.prefix, false },
	{ "label", NULL, "TEXT", NULL, "A free-form label.",
	  config_parse_string, st.label, false },
};
#define NOPTS (sizeof opts / sizeof opts[0])

static void clear_env(void)
{
	for (size_t k = 0; k < NOPTS; k++)
		if (opts[k].env != NULL)
			unsetenv(opts[k].env);
}

TestSuite(config, .init = clear_env);

/* load runs config_load on "jobq-test" followed by the NULL-terminated args. */
static enum config_result load_args(const char *const *args)
{
	char *argv[32];
	int argc = 0;

	argv[argc++] = "jobq-test";
	for (size_t i = 0; args[i] != NULL; i++)
		argv[argc++] = (char *)args[i];
	argv[argc] = NULL;
	return config_load(opts, NOPTS, argc, argv, "jobq-test", "Runs the config tests.");
}
#define LOAD(...) load_args((const char *const[]){ __VA_ARGS__, NULL })

/* ---- Capturing stdout and stderr ----------------------------------------- */

struct capture {
	int fd;     /* 1 or 2 */
	int saved;  /* the fd's previous target */
	FILE *file; /* where it points meanwhile */
	char text[16384];
};

static void capture_begin(struct capture *c, int fd)
{
	fflush(NULL);
	c->fd = fd;
	c->file = tmpfile();
	cr_assert_not_null(c->file);
	c->saved = dup(fd);
	cr_assert(c->saved >= 0 && dup2(fileno(c->file), fd) == fd);
}

/* capture_end restores the fd and returns what was written to it. */
static const char *capture_end(struct capture *c)
{
	size_t n;

	fflush(NULL);
	dup2(c->saved, c->fd);
	close(c->saved);
	rewind(c->file);
	n = fread(c->text, 1, sizeof c->text - 1, c->file);
	c->text[n] = '\0';
	fclose(c->file);
	return c->text;
}

/* load_error runs LOAD on args, asserts that it fails, and returns stderr. */
static const char *load_error(struct capture *c, const char *const *args)
{
	enum config_result r;

	capture_begin(c, 2);
	r = load_args(args);
	capture_end(c);
	cr_assert_eq(r, CONFIG_ERROR, "accepted; stderr: %s", c->text);
	return c->text;
}
#define LOAD_ERROR(c, ...) load_error(c, (const char *const[]){ __VA_ARGS__, NULL })

/* ---- Precedence ---------------------------------------------------------- */

Test(config, defaults_apply_when_neither_flag_nor_environment_is_set)
{
	cr_assert_eq(LOAD(NULL), CONFIG_OK);
	cr_assert_str_eq(st.listen.host, "127.0.0.1");
	cr_assert_eq(st.listen.port, 8080);
	cr_assert_str_eq(st.redis_url, "redis://127.0.0.1:6379");
	cr_assert_eq(st.max_upload, 256ULL << 20);
	cr_assert_eq(st.result_ttl, 604800);
	cr_assert_eq(st.concurrency, 4);
	cr_assert_eq(st.queues.len, 1);
	cr_assert_str_eq(st.queues.items[0], "default");
	cr_assert_str_eq(st.prefix, "jobq");
}

Test(config, environment_beats_default)
{
	setenv("JOBQ_CONCURRENCY", "16", 1);
	setenv("JOBQ_PREFIX", "staging", 1);
	cr_assert_eq(LOAD(NULL), CONFIG_OK);
	cr_assert_eq(st.concurrency, 16);
	cr_assert_str_eq(st.prefix, "staging");
}

Test(config, flag_beats_environment)
{
	setenv("JOBQ_CONCURRENCY", "16", 1);
	cr_assert_eq(LOAD("--concurrency", "2"), CONFIG_OK);
	cr_assert_eq(st.concurrency, 2);
}

Test(config, empty_environment_variable_counts_as_unset)
{
	setenv("JOBQ_CONCURRENCY", "", 1);
	cr_assert_eq(LOAD(NULL), CONFIG_OK);
	cr_assert_eq(st.concurrency, 4);
}

Test(config, name_equals_value_form_sets_the_option)
{
	cr_assert_eq(LOAD("--max-upload=10K", "--listen=[::1]:0"), CONFIG_OK);
	cr_assert_eq(st.max_upload, 10240);
	cr_assert_str_eq(st.listen.host, "::1");
	cr_assert_eq(st.listen.port, 0);
}

Test(config, last_flag_wins_for_a_single_value_option)
{
	cr_assert_eq(LOAD("--concurrency", "2", "--concurrency=3"), CONFIG_OK);
	cr_assert_eq(st.concurrency, 3);
}

Test(config, option_without_variable_or_default_is_left_alone_unless_given)
{
	struct capture c;

	strcpy(st.label, "preset");
	cr_assert_eq(LOAD(NULL), CONFIG_OK);
	cr_assert_str_eq(st.label, "preset");
	cr_assert_eq(LOAD("--label", "blue"), CONFIG_OK);
	cr_assert_str_eq(st.label, "blue");
	capture_begin(&c, 1);
	LOAD("--help");
	capture_end(&c);
	cr_assert(strstr(c.text, "--label TEXT\n      A free-form label.") != NULL, "%s", c.text);
}

/* ---- Repeatable options -------------------------------------------------- */

Test(config, repeated_queue_flags_collect_every_value_in_order)
{
	cr_assert_eq(LOAD("--queue", "high", "--queue=low"), CONFIG_OK);
	cr_assert_eq(st.queues.len, 2);
	cr_assert_str_eq(st.queues.items[0], "high");
	cr_assert_str_eq(st.queues.items[1], "low");
}

Test(config, queue_flag_takes_a_comma_list)
{
	cr_assert_eq(LOAD("--queue", "a,b", "--queue", "c"), CONFIG_OK);
	cr_assert_eq(st.queues.len, 3);
	cr_assert_str_eq(st.queues.items[2], "c");
}

Test(config, queues_variable_is_a_comma_list)
{
	setenv("JOBQ_QUEUES", "high,default,low", 1);
	cr_assert_eq(LOAD(NULL), CONFIG_OK);
	cr_assert_eq(st.queues.len, 3);
	cr_assert_str_eq(st.queues.items[0], "high");
	cr_assert_str_eq(st.queues.items[1], "default");
	cr_assert_str_eq(st.queues.items[2], "low");
}

Test(config, queue_flags_replace_the_variable_list)
{
	setenv("JOBQ_QUEUES", "high,low", 1);
	cr_assert_eq(LOAD("--queue", "only"), CONFIG_OK);
	cr_assert_eq(st.queues.len, 1);
	cr_assert_str_eq(st.queues.items[0], "only");
}

Test(config, repeated_queue_is_rejected)
{
	struct capture c;

	LOAD_ERROR(&c, "--queue", "a", "--queue", "a");
	cr_assert(strstr(c.text, "--queue (JOBQ_QUEUES)") != NULL, "%s", c.text);
	cr_assert(strstr(c.text, "twice") != NULL, "%s", c.text);
}

Test(config, bad_item_in_queues_variable_names_flag_and_variable)
{
	struct capture c;

	setenv("JOBQ_QUEUES", "good,b@d", 1);
	LOAD_ERROR(&c, NULL);
	cr_assert(strstr(c.text, "jobq-test: --queue (JOBQ_QUEUES): \"b@d\"") != NULL, "%s", c.text);
}

/* ---- Errors -------------------------------------------------------------- */

Test(config, bad_size_message_names_flag_variable_and_value)
{
	struct capture c;

	LOAD_ERROR(&c, "--max-upload", "12X");
	cr_assert_str_eq(c.text, "jobq-test: --max-upload (JOBQ_MAX_UPLOAD): \"12X\" is not a size "
				 "(bytes, or a number with K, M or G)\n");
}

Test(config, bad_value_from_environment_names_flag_and_variable)
{
	struct capture c;

	setenv("JOBQ_RESULT_TTL", "forever", 1);
	LOAD_ERROR(&c, NULL);
	cr_assert(strstr(c.text, "--result-ttl (JOBQ_RESULT_TTL): \"forever\"") != NULL, "%s", c.text);
}

Test(config, each_value_type_rejects_a_bad_value_naming_the_flag)
{
	static const struct { const char *flag, *value, *named; } cases[] = {
		{ "--listen", "localhost:80", "--listen (JOBQ_LISTEN)" },
		{ "--max-upload", "1.5M", "--max-upload (JOBQ_MAX_UPLOAD)" },
		{ "--result-ttl", "0", "--result-ttl (JOBQ_RESULT_TTL)" },
		{ "--concurrency", "-1", "--concurrency (JOBQ_CONCURRENCY)" },
		{ "--queue", "a b", "--queue (JOBQ_QUEUES)" },
		{ "--prefix", "a/b", "--prefix (JOBQ_PREFIX)" },
		{ "--redis-url", "", NULL }, /* filled below: 256 bytes */
	};
	char long_text[257];
	struct capture c;

	memset(long_text, 'u', 256);
	long_text[256] = '\0';
	for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
		const char *value = cases[i].named != NULL ? cases[i].value : long_text;
		const char *named = cases[i].named != NULL ? cases[i].named : "--redis-url (JOBQ_REDIS_URL)";
		load_error(&c, (const char *const[]){ cases[i].flag, value, NULL });
		cr_expect(strstr(c.text, named) != NULL, "%s %s: %s", cases[i].flag, value, c.text);
		cr_expect(strstr(c.text, value) != NULL, "value missing: %s", c.text);
	}
}

Test(config, unknown_flag_is_rejected_by_name)
{
	struct capture c;

	LOAD_ERROR(&c, "--concurency", "2");
	cr_assert(strstr(c.text, "--concurency") != NULL, "%s", c.text);
	cr_assert(strstr(c.text, "unknown option") != NULL, "%s", c.text);
	LOAD_ERROR(&c, "--concurrency-max=2");
	cr_assert(strstr(c.text, "--concurrency-max: unknown") != NULL, "%s", c.text);
}

Test(config, flag_at_the_end_without_value_is_rejected)
{
	struct capture c;

	LOAD_ERROR(&c, "--concurrency");
	cr_assert(strstr(c.text, "--concurrency (JOBQ_CONCURRENCY): needs a value") != NULL, "%s", c.text);
}

Test(config, flag_followed_by_another_flag_has_no_value)
{
	struct capture c;

	LOAD_ERROR(&c, "--prefix", "--concurrency", "2");
	cr_assert(strstr(c.text, "--prefix (JOBQ_PREFIX): needs a value") != NULL, "%s", c.text);
}

Test(config, bare_argument_and_single_dash_flag_are_rejected)
{
	struct capture c;

	LOAD_ERROR(&c, "extra");
	cr_assert(strstr(c.text, "\"extra\": unexpected argument") != NULL, "%s", c.text);
	LOAD_ERROR(&c, "-v");
	cr_assert(strstr(c.text, "\"-v\"") != NULL, "%s", c.text);
}

/* ---- --help and --version ------------------------------------------------ */

Test(config, help_lists_every_flag_variable_and_default)
{
	struct capture c;
	enum config_result r;

	capture_begin(&c, 1);
	r = LOAD("--help");
	capture_end(&c);
	cr_assert_eq(r, CONFIG_EXIT);
	cr_assert(strstr(c.text, "jobq-test") != NULL, "%s", c.text);
	cr_assert(strstr(c.text, "Runs the config tests.") != NULL, "%s", c.text);
	for (size_t k = 0; k < NOPTS; k++) {
		char flag[64];
		const char *at;
		snprintf(flag, sizeof flag, "\n  --%s %s", opts[k].flag, opts[k].metavar);
		at = strstr(c.text, flag);
		cr_expect(at != NULL && (at[strlen(flag)] == ' ' || at[strlen(flag)] == '\n'),
			  "no %s in:\n%s", flag + 1, c.text);
		cr_expect(strstr(c.text, opts[k].help) != NULL, "no help for %s", flag);
		if (opts[k].env != NULL)
			cr_expect(strstr(c.text, opts[k].env) != NULL, "no %s", opts[k].env);
	}
	cr_assert(strstr(c.text, "(env JOBQ_MAX_UPLOAD, default 256M)\n") != NULL, "%s", c.text);
	cr_assert(strstr(c.text, "(env JOBQ_QUEUES as a comma list, default default; may be repeated)")
		  != NULL, "%s", c.text);
	cr_assert(strstr(c.text, "--help") != NULL && strstr(c.text, "--version") != NULL);
}

Test(config, short_help_flag_prints_help_before_values_are_checked)
{
	struct capture c;
	enum config_result r;

	capture_begin(&c, 1);
	r = LOAD("--max-upload", "12X", "-h");
	capture_end(&c);
	cr_assert_eq(r, CONFIG_EXIT);
	cr_assert(strstr(c.text, "--max-upload SIZE") != NULL, "%s", c.text);
}

Test(config, version_prints_program_and_version)
{
	struct capture c;
	char want[128];
	enum config_result r;

	capture_begin(&c, 1);
	r = LOAD("--version");
	capture_end(&c);
	cr_assert_eq(r, CONFIG_EXIT);
	snprintf(want, sizeof want, "jobq-test %s\n", config_version);
	cr_assert_str_eq(c.text, want);
	cr_assert_neq(config_version[0], '\0');
}

/* ---- Sizes --------------------------------------------------------------- */

/* size_of parses text as a size and returns it, asserting it is accepted. */
static uint64_t size_of(const char *text)
{
	char err[256] = "";
	uint64_t n = 0;

	cr_assert_eq(config_parse_size(text, &n, err, sizeof err), 0, "refused %s: %s", text, err);
	return n;
}

/* size_refused returns true when text is refused as a size with a reason. */
static bool size_refused(const char *text)
{
	char err[256] = "";
	uint64_t n = 7;

	if (config_parse_size(text, &n, err, sizeof err) == 0)
		return false;
	cr_assert_neq(err[0], '\0', "refused %s without saying why", text);
	cr_assert_eq(n, 7, "refused %s but changed the destination", text);
	return true;
}

Test(config, size_accepts_bytes_and_1024_based_suffixes)
{
	cr_assert_eq(size_of("1024"), 1024);
	cr_assert_eq(size_of("1"), 1);
	cr_assert_eq(size_of("10K"), 10240);
	cr_assert_eq(size_of("256M"), 256ULL << 20);
	cr_assert_eq(size_of("256MiB"), 256ULL << 20);
	cr_assert_eq(size_of("256mb"), 256ULL << 20);
	cr_assert_eq(size_of("1G"), 1ULL << 30);
	cr_assert_eq(size_of("16GiB"), 16ULL << 30);
	cr_assert_eq(size_of("512B"), 512);
}

Test(config, size_rejects_fractions_signs_zero_and_unknown_suffixes)
{
	const char *bad[] = { "1.5M", "-1", "+1", "", "0", "0K", "12X", "1T", " 1", "1 M", "M", "1iB", "0x10" };

	for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++)
		cr_expect(size_refused(bad[i]), "accepted \"%s\"", bad[i]);
}

Test(config, size_rejects_overflow)
{
	cr_assert_eq(size_of("18446744073709551615"), UINT64_MAX);
	cr_assert(size_refused("18446744073709551616"));
	cr_assert(size_refused("99999999999999999999999"));
	cr_assert(size_refused("17179869184G"), "2^34 GiB is 2^64 bytes");
	cr_assert(size_refused("17179869185G"), "would wrap around to 1 GiB");
	cr_assert_eq(size_of("17179869183G"), 17179869183ULL << 30);
}

/* ---- Durations and counts ------------------------------------------------ */

/* seconds_of parses text as seconds; returns them, or -1 when refused. */
static int seconds_of(const char *text)
{
	char err[256] = "";
	int n = -1;

	if (config_parse_seconds(text, &n, err, sizeof err) != 0) {
		cr_assert_neq(err[0], '\0', "refused %s without saying why", text);
		return -1;
	}
	return n;
}

Test(config, seconds_accept_plain_numbers_and_s_m_h_d)
{
	cr_assert_eq(seconds_of("604800"), 604800);
	cr_assert_eq(seconds_of("7d"), 604800);
	cr_assert_eq(seconds_of("30s"), 30);
	cr_assert_eq(seconds_of("10m"), 600);
	cr_assert_eq(seconds_of("2h"), 7200);
	cr_assert_eq(seconds_of("1"), 1);
	cr_assert_eq(seconds_of("3650d"), 315360000);
}

Test(config, seconds_or_off_takes_zero_as_off_and_otherwise_a_duration)
{
	char err[128];
	int n = -1;

	cr_assert_eq(config_parse_seconds_or_off("0", &n, err, sizeof err), 0);
	cr_assert_eq(n, 0);
	cr_assert_eq(config_parse_seconds_or_off("5m", &n, err, sizeof err), 0);
	cr_assert_eq(n, 300);
	cr_assert_eq(config_parse_seconds_or_off("00m", &n, err, sizeof err), 0,
		     "a zero duration with a unit is off too");
	cr_assert_eq(n, 0);
	cr_assert_eq(config_parse_seconds_or_off("5m", &n, err, sizeof err), 0);
	cr_assert_eq(config_parse_seconds_or_off("0x", &n, err, sizeof err), -1);
	cr_assert_eq(config_parse_seconds_or_off("0sd", &n, err, sizeof err), -1);
	cr_assert_eq(config_parse_seconds_or_off("-1", &n, err, sizeof err), -1);
	cr_assert_eq(n, 300, "a rejected value left n changed");
}

Test(config, seconds_reject_zero_more_than_ten_years_and_odd_forms)
{
	const char *bad[] = { "0", "0s", "3651d", "315360001", "99999999999999999999", "-1",
			      "1.5h", "7 d", "10M", "1w", "", "d" };

	for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++)
		cr_expect_eq(seconds_of(bad[i]), -1, "accepted \"%s\"", bad[i]);
}

Test(config, positive_int_accepts_1_to_a_million_only)
{
	char err[256];
	int n = 0;

	cr_assert_eq(config_parse_positive_int("1", &n, err, sizeof err), 0);
	cr_assert_eq(n, 1);
	cr_assert_eq(config_parse_positive_int("1000000", &n, err, sizeof err), 0);
	cr_assert_eq(n, 1000000);
	cr_assert_eq(config_parse_positive_int("0", &n, err, sizeof err), -1);
	cr_assert_eq(config_parse_positive_int("1000001", &n, err, sizeof err), -1);
	cr_assert_eq(config_parse_positive_int("5x", &n, err, sizeof err), -1);
	cr_assert_eq(config_parse_positive_int("+5", &n, err, sizeof err), -1);
	cr_assert_eq(config_parse_positive_int("", &n, err, sizeof err), -1);
	cr_assert_eq(n, 1000000, "a refused value changed the destination");
}

/* ---- Listen addresses ---------------------------------------------------- */

Test(config, listen_accepts_numeric_ipv4_and_bracketed_ipv6)
{
	struct config_listen l;
	char err[256];

	cr_assert_eq(config_parse_listen("127.0.0.1:8080", &l, err, sizeof err), 0);
	cr_assert_str_eq(l.host, "127.0.0.1");
	cr_assert_eq(l.port, 8080);
	cr_assert_eq(config_parse_listen("[::1]:0", &l, err, sizeof err), 0);
	cr_assert_str_eq(l.host, "::1");
	cr_assert_eq(l.port, 0);
	cr_assert_eq(config_parse_listen("0.0.0.0:65535", &l, err, sizeof err), 0);
	cr_assert_eq(l.port, 65535);
	cr_assert_eq(config_parse_listen("[2001:db8::42]:443", &l, err, sizeof err), 0);
	cr_assert_str_eq(l.host, "2001:db8::42");
}

Test(config, listen_rejects_names_missing_ports_and_bad_ports)
{
	const char *bad[] = { "localhost:8080", "127.0.0.1", "127.0.0.1:", "127.0.0.1:65536",
			      "127.0.0.1:-1", "127.0.0.1:80x", ":8080", "::1:8080", "[::1]8080",
			      "[::1]", "[127.0.0.1]:80", "1.2.3.4.5:80", "[]:80", "" };
	struct config_listen l;
	char err[256];

	for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++)
		cr_expect_eq(config_parse_listen(bad[i], &l, err, sizeof err), -1, "accepted \"%s\"", bad[i]);
}

/* ---- Names and strings --------------------------------------------------- */

Test(config, queue_list_reset_empties_and_values_append)
{
	struct config_list list = { .len = 5 };
	char err[256];

	cr_assert_eq(config_parse_queue_list(NULL, &list, err, sizeof err), 0);
	cr_assert_eq(list.len, 0);
	cr_assert_eq(config_parse_queue_list("a,b", &list, err, sizeof err), 0);
	cr_assert_eq(config_parse_queue_list("c", &list, err, sizeof err), 0);
	cr_assert_eq(list.len, 3);
	cr_assert_str_eq(list.items[1], "b");
}

Test(config, queue_list_is_all_or_nothing)
{
	struct config_list list = { 0 };
	char err[256];

	cr_assert_eq(config_parse_queue_list("a,b,a", &list, err, sizeof err), -1);
	cr_assert_eq(list.len, 0);
	cr_assert_eq(config_parse_queue_list("a,,b", &list, err, sizeof err), -1);
	cr_assert_eq(config_parse_queue_list("a,", &list, err, sizeof err), -1);
	cr_assert_eq(list.len, 0);
}

Test(config, queue_list_holds_at_most_32_names_of_at_most_64_chars)
{
	struct config_list list = { 0 };
	char err[256], name[80];

	for (int i = 0; i < CONFIG_LIST_MAX; i++) {
		snprintf(name, sizeof name, "q%d", i);
		cr_assert_eq(config_parse_queue_list(name, &list, err, sizeof err), 0, "%s", err);
	}
	cr_assert_eq(config_parse_queue_list("one-more", &list, err, sizeof err), -1);
	cr_assert_eq(list.len, CONFIG_LIST_MAX);

	list.len = 0;
	memset(name, 'n', 64);
	name[64] = '\0';
	cr_assert_eq(config_parse_queue_list(name, &list, err, sizeof err), 0);
	name[64] = 'n';
	name[65] = '\0';
	cr_assert_eq(config_parse_queue_list(name, &list, err, sizeof err), -1);
}

Test(config, prefix_is_1_to_64_of_key_characters)
{
	char dst[256], err[256], text[80];

	cr_assert_eq(config_parse_prefix("jobq", dst, err, sizeof err), 0);
	cr_assert_eq(config_parse_prefix("a:b-c.d_E9", dst, err, sizeof err), 0);
	cr_assert_str_eq(dst, "a:b-c.d_E9");
	memset(text, 'p', 64);
	text[64] = '\0';
	cr_assert_eq(config_parse_prefix(text, dst, err, sizeof err), 0);
	text[64] = 'p';
	text[65] = '\0';
	cr_assert_eq(config_parse_prefix(text, dst, err, sizeof err), -1);
	cr_assert_eq(config_parse_prefix("", dst, err, sizeof err), -1);
	cr_assert_eq(config_parse_prefix("a b", dst, err, sizeof err), -1);
	cr_assert_eq(config_parse_prefix("a/b", dst, err, sizeof err), -1);
	cr_assert_eq(config_parse_prefix("{a}", dst, err, sizeof err), -1);
}

Test(config, string_keeps_up_to_255_bytes)
{
	char dst[256], err[256], text[300];

	memset(text, 's', 255);
	text[255] = '\0';
	cr_assert_eq(config_parse_string(text, dst, err, sizeof err), 0);
	cr_assert_str_eq(dst, text);
	text[255] = 's';
	text[256] = '\0';
	cr_assert_eq(config_parse_string(text, dst, err, sizeof err), -1);
	cr_assert(strstr(err, "255") != NULL, "%s", err);
}

Test(config, cpu_count_is_at_least_one)
{
	cr_assert_geq(config_cpu_count(), 1);
	cr_assert_eq(config_cpu_count(), (int)sysconf(_SC_NPROCESSORS_ONLN));
}

/* millis_of parses text with config_parse_millis; -1 when refused. */
static int64_t millis_of(const char *text)
{
	char err[256] = "";
	int64_t n = -1;

	if (config_parse_millis(text, &n, err, sizeof err) != 0) {
		cr_assert_neq(err[0], '\0', "refused %s without saying why", text);
		return -1;
	}
	return n;
}

Test(config, millis_accept_ms_and_the_second_based_units)
{
	cr_assert_eq(millis_of("100ms"), 100);
	cr_assert_eq(millis_of("1ms"), 1);
	cr_assert_eq(millis_of("1"), 1000);
	cr_assert_eq(millis_of("1s"), 1000);
	cr_assert_eq(millis_of("5m"), 300000);
	cr_assert_eq(millis_of("2h"), 7200000);
	cr_assert_eq(millis_of("3650d"), 315360000000LL);
}

Test(config, millis_reject_zero_more_than_ten_years_and_odd_forms)
{
	const char *bad[] = { "0", "0ms", "0s", "3651d", "315360000001ms", "99999999999999999999",
			      "99999999999999999999ms", "-1", "0.1", "0.1s", "1.5h", "7 ms",
			      "10MS", "1us", "", "ms" };

	for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++)
		cr_expect_eq(millis_of(bad[i]), -1, "accepted \"%s\"", bad[i]);
}
