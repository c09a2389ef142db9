/*
 * main.c — jobq-api: options, start-up, and the shutdown sequence.
 *
 * Signals: SIGTERM, SIGINT and SIGHUP are blocked before the daemon starts
 * its threads (which inherit the mask), and the main thread takes them with
 * sigwait; no work happens in an asynchronous signal handler. SIGHUP
 * reloads the auth file (gate.h), at any time, also while draining. SIGPIPE is
 * ignored: a client or Redis connection that closes under a write must
 * give EPIPE, not kill the process.
 *
 * Shutdown: on the first SIGTERM or SIGINT the server stops accepting
 * connections, requests in flight get up to --shutdown-grace to finish,
 * then the daemon stops, everything is freed, and the process exits 0. A
 * second signal during the grace period ends the wait at once.
 *
 * With --exit-when-idle the same shutdown starts by itself once no
 * connection has been open for that long. Under socket activation (the
 * socket comes from systemd, see service.h) the next client starts the API
 * again; its connection waits in the socket's backlog meanwhile.
 *
 * systemd is told READY=1 once the server listens and STOPPING=1 when the
 * shutdown starts (service.h; nothing happens without NOTIFY_SOCKET).
 *
 * Exit codes: 0 after a shutdown, --help or --version; 1 when the server
 * cannot start (or the inherited socket is unusable); 2 for a bad option.
 */
#include <inttypes.h>
#include <signal.h>
#include <stdio.h>
#include <string.h>
#include <time.h>

#include "config.h"
#include "gate.h"
#include "job_store.h"
#include "log.h"
#include "redis_url.h"
#include "server.h"
#include "service.h"
#include "task_catalog.h"

#define MAIN_PROGRAM "jobq-api"
#define MAIN_GRACE_POLL_MS 100
/* How often main checks the data layout (main_wait_signal). */
#define MAIN_LAYOUT_CHECK_MS 5000
/* main_wait_signal's answer when the data layout stops this API. */
#define MAIN_STOP_LAYOUT (-1)
/* Exit statuses beside 0. A supervisor restarts on MAIN_EXIT_FAILURE (out
 * of memory, a socket that cannot be had: it may pass) but not on
 * MAIN_EXIT_CONFIG (a bad flag, or a data layout this binary cannot serve:
 * the same binary started again fails again; RestartPreventExitStatus=2). */
#define MAIN_EXIT_FAILURE 1
#define MAIN_EXIT_CONFIG 2

/* main_parse_log_level reads debug|info|warn|error into the enum log_level
 * at dst (a config_parse_fn). */
static int main_parse_log_level(const char *text, void *dst, char *err, size_t errlen)
{
	static const char *const names[] = { "debug", "info", "warn", "error" };
	static const enum log_level levels[] = { LOG_DEBUG, LOG_INFO, LOG_WARN, LOG_ERROR };

	for (size_t i = 0; i < sizeof names / sizeof names[0]; i++) {
		if (strcmp(text, names[i]) == 0) {
			*(enum log_level *)dst = levels[i];
			return 0;
		}
	}
	snprintf(err, errlen, "is not a log level (debug, info, warn or error)");
	return -1;
}

/* main_parse_max_attempts reads --max-attempts: 1..100 (a config_parse_fn
 * into an int), the range POST /v1/jobs accepts too. */
static int main_parse_max_attempts(const char *text, void *dst, char *err, size_t errlen)
{
	int n = 0;

	if (config_parse_positive_int(text, &n, err, errlen) != 0)
		return -1;
	if (n > JOB_MAX_ATTEMPTS_MAX) {
		snprintf(err, errlen, "is out of range (1 to %d)", JOB_MAX_ATTEMPTS_MAX);
		return -1;
	}
	*(int *)dst = n;
	return 0;
}

/* main_parse_limit reads a limit where 0 means none (--max-queue-depth,
 * --max-connections-per-ip): 0 to 1000000 (a config_parse_fn into an
 * int). */
static int main_parse_limit(const char *text, void *dst, char *err, size_t errlen)
{
	int n = 0;

	if (strcmp(text, "0") != 0 && config_parse_positive_int(text, &n, err, errlen) != 0)
		return -1;
	*(int *)dst = n;
	return 0;
}

/* main_parse_job_timeout reads --job-timeout: a duration of 1 s to 7 days
 * (a config_parse_fn into an int of seconds). */
static int main_parse_job_timeout(const char *text, void *dst, char *err, size_t errlen)
{
	int n = 0;

	if (config_parse_seconds(text, &n, err, errlen) != 0)
		return -1;
	if (n > JOB_TIMEOUT_MAX_S) {
		snprintf(err, errlen, "is out of range (1s to 7d)");
		return -1;
	}
	*(int *)dst = n;
	return 0;
}

/* MAIN_OPTION_COUNT is the length of the table main_options fills. */
#define MAIN_OPTION_COUNT 27

/* main_options fills opts with jobq-api's option table, writing into cfg;
 * threads_default (which must outlive opts) gets the CPU count as text. */
static void main_options(struct config_option opts[MAIN_OPTION_COUNT], struct api_config *cfg,
			 char threads_default[16])
{
	snprintf(threads_default, 16, "%d", config_cpu_count());
	const struct config_option table[MAIN_OPTION_COUNT] = {
		{ "redis-url", "JOBQ_REDIS_URL", "URL", "redis://127.0.0.1:6379/0",
		  "Redis to keep jobs in: redis://[[user]:password@]host[:port][/db] or unix:///path/to/sock[?db=N].",
		  redis_url_config_parse, cfg->redis_url, false },
		{ "listen", "JOBQ_LISTEN", "ADDR:PORT", "127.0.0.1:8080",
		  "Address to serve HTTP on (numeric IPv4:port or [IPv6]:port); port 0 picks a free port, logged as \"listening\".",
		  config_parse_listen, &cfg->listen, false },
		{ "prefix", "JOBQ_PREFIX", "PREFIX", "jobq",
		  "Prefix of every Redis key; the worker must use the same.",
		  config_parse_prefix, cfg->prefix, false },
		{ "max-upload", "JOBQ_MAX_UPLOAD", "SIZE", "256M",
		  "Largest CSV upload accepted (bytes, or with K, M, G); larger ones get 413.",
		  config_parse_size, &cfg->max_upload, false },
		{ "max-field", "JOBQ_MAX_FIELD", "SIZE", "1M",
		  "Longest CSV field accepted; a longer one gets 422 field_too_large.",
		  config_parse_size, &cfg->max_field, false },
		{ "result-ttl", "JOBQ_RESULT_TTL", "DURATION", "7d",
		  "How long finished jobs are kept: the worker applies it to jobs it finishes, the API to jobs cancelled before they ran.",
		  config_parse_seconds, &cfg->result_ttl_s, false },
		{ "threads", "JOBQ_THREADS", "N", threads_default,
		  "HTTP threads, each with its own Redis connection (default: the number of CPUs).",
		  config_parse_positive_int, &cfg->threads, false },
		{ "staging-ttl", "JOBQ_STAGING_TTL", "DURATION", "1h",
		  "TTL of each staging piece of a half-received upload; an upload must finish within it.",
		  config_parse_seconds, &cfg->staging_ttl_s, false },
		{ "shutdown-grace", "JOBQ_SHUTDOWN_GRACE", "DURATION", "30s",
		  "On SIGTERM or SIGINT, how long requests in flight may take to finish.",
		  config_parse_seconds, &cfg->shutdown_grace_s, false },
		{ "log-level", "JOBQ_LOG_LEVEL", "LEVEL", "info",
		  "Least severe log lines written: debug, info, warn or error.",
		  main_parse_log_level, &cfg->log_level, false },
		{ "max-attempts", "JOBQ_MAX_ATTEMPTS", "N", "3",
		  "Attempts a job gets when its submission names none (1 to 100); after the last failed one it is a dead letter.",
		  main_parse_max_attempts, &cfg->max_attempts, false },
		{ "job-timeout", "JOBQ_JOB_TIMEOUT", "DURATION", "600",
		  "Longest one attempt of a job may run when its submission names no timeout (1s to 7d).",
		  main_parse_job_timeout, &cfg->job_timeout_s, false },
		{ "redis-timeout", "JOBQ_REDIS_TIMEOUT", "DURATION", "2s",
		  "Connect and command timeout of each HTTP thread's Redis connection (e.g. 500ms, 2s): the most a hung Redis costs one request.",
		  config_parse_millis, &cfg->redis_timeout_ms, false },
		{ "breaker-threshold", "JOBQ_BREAKER_THRESHOLD", "N", "5",
		  "Redis failures in a row (unreachable, timed out) that open the circuit breaker: requests then get 503 unavailable at once until a probe succeeds.",
		  config_parse_positive_int, &cfg->breaker_threshold, false },
		{ "max-queue-depth", "JOBQ_MAX_QUEUE_DEPTH", "N", "100000",
		  "Backpressure: a submission to a queue already holding N jobs gets 503 queue_full (0 to 1000000; 0 = no limit).",
		  main_parse_limit, &cfg->max_queue_depth, false },
		{ "max-connections", "JOBQ_MAX_CONNECTIONS", "N", "4096",
		  "Connections open at once, split evenly among the threads; past it new ones wait unanswered in the backlog. The open files limit is raised to the hard limit at start to allow it.",
		  config_parse_positive_int, &cfg->max_connections, false },
		{ "max-connections-per-ip", "JOBQ_MAX_CONNECTIONS_PER_IP", "N", "256",
		  "Connections open at once from one client address; past it new ones are closed as soon as accepted (0 = no limit).",
		  main_parse_limit, &cfg->max_per_ip, false },
		{ "idle-timeout", "JOBQ_IDLE_TIMEOUT", "DURATION", "60s",
		  "A connection that sends nothing for this long (in its headers, its body or between requests) is closed.",
		  config_parse_seconds, &cfg->idle_timeout_s, false },
		{ "upload-timeout", "JOBQ_UPLOAD_TIMEOUT", "DURATION", "600s",
		  "A request's body must end within this after its headers, however steadily it trickles; past it the connection is closed and nothing is stored.",
		  config_parse_seconds, &cfg->upload_timeout_s, false },
		{ "header-timeout", "JOBQ_HEADER_TIMEOUT", "DURATION", "30s",
		  "A request's headers must arrive within this, however steadily they trickle (on a kept-alive connection: within --idle-timeout plus this after the last reply); past it the connection is closed. 0 = no limit.",
		  config_parse_seconds_or_off, &cfg->header_timeout_s, false },
		{ "tasks", "JOBQ_TASKS", "FILE", NULL,
		  "JSON file of external programs declared as tasks (see the README); submissions may name them.",
		  task_catalog_config_parse, NULL, false },
		{ "auth-file", "JOBQ_AUTH_FILE", "FILE", NULL,
		  "API keys, one \"token tenant [operator]\" per line (see the README); when set, /v1/ and /metrics need Authorization: Bearer. Reloaded on SIGHUP. Unset: no auth, for trusted networks only.",
		  config_parse_string, cfg->gate.auth_file, false },
		{ "rate-submit", "JOBQ_RATE_SUBMIT", "N", "0",
		  "Submissions (POST /v1/jobs) per second each tenant (or client IP without auth) may make, per API process; 0 = unlimited.",
		  gate_parse_rate, &cfg->gate.limits[RATELIMIT_SUBMIT].rate, false },
		{ "burst-submit", "JOBQ_BURST_SUBMIT", "N", "0",
		  "Submissions a client may make at once before --rate-submit applies; 0 = one second's worth.",
		  gate_parse_burst, &cfg->gate.limits[RATELIMIT_SUBMIT].burst, false },
		{ "rate-read", "JOBQ_RATE_READ", "N", "0",
		  "Other /v1/ requests per second each tenant (or client IP without auth) may make, per API process; 0 = unlimited.",
		  gate_parse_rate, &cfg->gate.limits[RATELIMIT_READ].rate, false },
		{ "burst-read", "JOBQ_BURST_READ", "N", "0",
		  "Other /v1/ requests a client may make at once before --rate-read applies; 0 = one second's worth.",
		  gate_parse_burst, &cfg->gate.limits[RATELIMIT_READ].burst, false },
		{ "exit-when-idle", "JOBQ_EXIT_WHEN_IDLE", "DURATION", "0",
		  "Exit (as on SIGTERM, status 0) after this long with no connection open; 0 = never. Meant for socket activation, where the next client starts the API again.",
		  config_parse_seconds_or_off, &cfg->exit_when_idle_s, false },
	};

	memcpy(opts, table, sizeof table);
}

/* main_block_signals blocks SIGTERM, SIGINT and SIGHUP in the calling
 * thread (and the threads it starts later) and puts them in *set for
 * sigwait. */
static void main_block_signals(sigset_t *set)
{
	sigemptyset(set);
	sigaddset(set, SIGTERM);
	sigaddset(set, SIGINT);
	sigaddset(set, SIGHUP);
	pthread_sigmask(SIG_BLOCK, set, NULL);
	signal(SIGPIPE, SIG_IGN);
}

/* main_redis_max_bulk returns Redis's proto-max-bulk-len, read with st
 * unless reachable is false (Redis was just found down: one wait of
 * --redis-timeout at start is enough); when Redis refuses CONFIG (renamed,
 * as on managed Redis) or cannot be reached, it logs a warning and returns
 * Redis's default. */
static uint64_t main_redis_max_bulk(struct job_store *st, bool reachable)
{
	uint64_t bytes = JOB_STORE_MAX_BULK_DEFAULT;

	if (reachable && job_store_max_bulk(st, &bytes) == JOB_STORE_OK)
		return bytes;
	log_event(LOG_WARN, "Redis's proto-max-bulk-len is unknown: assuming 512 MiB",
		  json_pack("{s:s}", "error", job_store_errstr(st)));
	return JOB_STORE_MAX_BULK_DEFAULT;
}

/* main_claim_layout claims the data layout with st (job_store_claim_layout).
 * Returns 0, also when Redis cannot be reached (each new connection
 * claims it then; *reachable is then false), or -1 with the reason printed
 * when it was refused. */
static int main_claim_layout(struct job_store *st, bool *reachable)
{
	enum job_store_status s = job_store_claim_layout(st);

	*reachable = s != JOB_STORE_EUNAVAILABLE;
	if (s == JOB_STORE_EREFUSED) {
		fprintf(stderr, "%s: %s\n", MAIN_PROGRAM, job_store_errstr(st));
		return -1;
	}
	if (s != JOB_STORE_OK)
		log_event(LOG_WARN, "the data layout could not be checked at start: each "
			  "connection to Redis checks it",
			  json_pack("{s:s}", "error", job_store_errstr(st)));
	return 0;
}

/* main_layout_exit is the exit status for a data layout that st (main's
 * store) was refused: only a layout newer than this binary's never passes. */
static int main_layout_exit(const struct job_store *st)
{
	return job_store_layout_newer(st) ? MAIN_EXIT_CONFIG : MAIN_EXIT_FAILURE;
}

/* main_check_redis claims the data layout, gives the stores Redis's
 * longest string as the enqueue limit of one piece and refuses a Redis
 * whose longest string is shorter than the longest one this API writes: a
 * piece of input (JOB_INPUT_PIECE), or a whole upload when --max-upload is
 * smaller. Such an upload could only fail while it is staged or enqueued.
 * While Redis cannot be asked its default is assumed, which is longer.
 * st is main's own store. Returns 0, or the exit status with the reason
 * printed. */
static int main_check_redis(struct api_server *srv, struct job_store *st)
{
	bool reachable;
	uint64_t bulk, longest;

	if (main_claim_layout(st, &reachable) != 0)
		return main_layout_exit(st);
	bulk = main_redis_max_bulk(st, reachable);
	srv->store_cfg.max_input = bulk;
	longest = srv->cfg.max_upload < JOB_INPUT_PIECE ? srv->cfg.max_upload : JOB_INPUT_PIECE;
	if (longest <= bulk)
		return 0;
	fprintf(stderr,
		"%s: Redis's proto-max-bulk-len (%" PRIu64 " bytes), the longest string Redis "
		"stores, is shorter than a piece of input (%" PRIu64 " bytes, or --max-upload "
		"when smaller): raise proto-max-bulk-len to at least %" PRIu64 " bytes\n",
		MAIN_PROGRAM, bulk, longest, longest);
	return MAIN_EXIT_CONFIG;
}

/* main_layout_refused checks the data layout with st now (main's own
 * store: connections already open are not checked again by themselves)
 * and tells whether it no longer lets this API run. A request whose new
 * connection was refused gets 503 layout_refused meanwhile. A check that
 * could not be made is logged when that starts (*failing) and ends. */
static bool main_layout_refused(struct job_store *st, bool *failing)
{
	enum job_store_status s = job_store_claim_layout(st);
	bool failed = s != JOB_STORE_OK && s != JOB_STORE_EREFUSED;

	if (failed && !*failing)
		log_event(LOG_WARN, "the data layout cannot be checked; retrying every 5 s",
			  json_pack("{s:s}", "error", job_store_errstr(st)));
	else if (!failed && *failing)
		log_event(LOG_INFO, "the data layout is checked again", NULL);
	*failing = failed;
	return s == JOB_STORE_EREFUSED;
}

/* main_wait_signal waits for SIGTERM or SIGINT and returns it; each SIGHUP
 * on the way reloads the auth file. It wakes every MAIN_LAYOUT_CHECK_MS to
 * check the data layout with st (connections already open are not checked
 * by themselves) and returns MAIN_STOP_LAYOUT when it no longer lets this
 * API run. With --exit-when-idle it returns 0 instead once the server has
 * had no connection for that long: it sleeps until the earliest moment that
 * can be (api_server_idle_wait_ms) or the next check, not on a short tick. */
static int main_wait_signal(struct api_server *srv, const sigset_t *set, struct job_store *st)
{
	int64_t idle_ms = (int64_t)srv->cfg.exit_when_idle_s * 1000;
	bool failing = false;
	int sig;

	for (;;) {
		int64_t wait_ms = MAIN_LAYOUT_CHECK_MS;

		if (idle_ms > 0) {
			int64_t idle_wait = api_server_idle_wait_ms(api_server_unused_ms(srv), idle_ms);
			if (idle_wait == 0)
				return 0;
			wait_ms = idle_wait < wait_ms ? idle_wait : wait_ms;
		}
		struct timespec ts = { wait_ms / 1000, (wait_ms % 1000) * 1000000L };
		sig = sigtimedwait(set, NULL, &ts);
		if (sig == SIGHUP)
			gate_reload(&srv->gate);
		else if (sig > 0)
			return sig;
		else if (main_layout_refused(st, &failing))
			return MAIN_STOP_LAYOUT;
	}
}

/* main_drain lets requests in flight finish: polls until the server is
 * idle, grace_s has passed, or another signal (not SIGHUP, which reloads
 * the auth file) arrives. Returns true when the server went idle. With
 * all_connections, idle means no connection open either: an idle exit then
 * serves a client accepted just before the quiesce instead of dropping it
 * (there were none open a moment ago, so none is a keep-alive connection
 * that could hold the wait up). */
static bool main_drain(struct api_server *srv, const sigset_t *set, int grace_s,
		       bool all_connections)
{
	const struct timespec poll = { 0, MAIN_GRACE_POLL_MS * 1000000L };
	long waited_ms = 0;

	while (all_connections ? api_server_unused_ms(srv) == 0 : !api_server_idle(srv)) {
		int sig;

		if (waited_ms >= (long)grace_s * 1000)
			return false;
		sig = sigtimedwait(set, NULL, &poll);
		if (sig == SIGHUP) {
			gate_reload(&srv->gate);
		} else if (sig > 0) {
			log_event(LOG_WARN, "second signal: stopping without waiting", NULL);
			return false;
		}
		waited_ms += MAIN_GRACE_POLL_MS;
	}
	return true;
}

/* main_shutdown runs the shutdown sequence after signal sig, after
 * --exit-when-idle when sig is 0, or when the data layout stops this API
 * (MAIN_STOP_LAYOUT: layout, main's store, says why). */
static void main_shutdown(struct api_server *srv, const sigset_t *set, int sig,
			  struct job_store *layout)
{
	bool idle;

	service_notify("STOPPING=1\nSTATUS=Shutting down");
	if (sig == MAIN_STOP_LAYOUT)
		log_event(LOG_ERROR, "shutting down",
			  json_pack("{s:s, s:s, s:i}", "reason", "layout", "error",
				    job_store_errstr(layout), "grace_s", srv->cfg.shutdown_grace_s));
	else if (sig == 0)
		log_event(LOG_INFO, "shutting down",
			  json_pack("{s:s, s:i, s:i}", "reason", "idle",
				    "exit_when_idle_s", srv->cfg.exit_when_idle_s,
				    "grace_s", srv->cfg.shutdown_grace_s));
	else
		log_event(LOG_INFO, "shutting down",
			  json_pack("{s:s, s:i}", "signal", sig == SIGTERM ? "SIGTERM" : "SIGINT",
				    "grace_s", srv->cfg.shutdown_grace_s));
	api_server_quiesce(srv);
	idle = main_drain(srv, set, srv->cfg.shutdown_grace_s, sig == 0);
	if (!idle)
		log_event(LOG_WARN, "requests still in flight are cut off",
			  json_pack("{s:i}", "in_flight", (int)atomic_load(&srv->in_flight)));
	api_server_stop(srv);
	log_event(LOG_INFO, "stopped", NULL);
}

int main(int argc, char **argv)
{
	struct config_option opts[MAIN_OPTION_COUNT];
	char threads_default[16];
	struct api_server srv;
	const char *err = NULL;
	char gate_err[400];
	char listen_err[160];
	struct job_store *layout;
	sigset_t set;
	int sig, rc;

	/* First of all, so that a SIGTERM during start-up is handled by the
	 * shutdown path instead of killing a half-started process. */
	main_block_signals(&set);
	memset(&srv, 0, sizeof srv);
	main_options(opts, &srv.cfg, threads_default);
	switch (config_load(opts, MAIN_OPTION_COUNT, argc, argv, MAIN_PROGRAM,
			    "The HTTP API of jobq: takes CSV uploads as jobs and serves their status and results.")) {
	case CONFIG_EXIT:
		return 0;
	case CONFIG_ERROR:
		return MAIN_EXIT_CONFIG;
	case CONFIG_OK:
		break;
	}
	log_init("api", srv.cfg.log_level);
	rc = gate_init(&srv.gate, &srv.cfg.gate, gate_err, sizeof gate_err);
	if (rc != 0) {
		fprintf(stderr, "%s: %s\n", MAIN_PROGRAM, gate_err);
		gate_destroy(&srv.gate);
		return rc == GATE_ERESOURCE ? MAIN_EXIT_FAILURE : MAIN_EXIT_CONFIG;
	}
	if (service_listen_fd(&srv.inherited_fd, listen_err, sizeof listen_err) != 0) {
		log_event(LOG_ERROR, "socket activation", json_pack("{s:s}", "error", listen_err));
		gate_destroy(&srv.gate);
		return MAIN_EXIT_CONFIG; /* the socket unit's: the same sockets come again */
	}
	if (api_server_init(&srv, &err) != 0) { /* the URL was checked with the flags */
		fprintf(stderr, "%s: %s\n", MAIN_PROGRAM, err);
		api_server_stop(&srv);
		return MAIN_EXIT_FAILURE;
	}
	layout = job_store_open(&srv.store_cfg, &err); /* the same settings: a layout owner */
	if (layout == NULL) {
		fprintf(stderr, "%s: %s\n", MAIN_PROGRAM, err); /* settings checked: out of memory */
		api_server_stop(&srv);
		return MAIN_EXIT_FAILURE;
	}
	rc = main_check_redis(&srv, layout);
	if (rc != 0) {
		job_store_close(layout);
		api_server_stop(&srv);
		return rc;
	}
	if (api_server_start(&srv) != 0) {
		job_store_close(layout);
		api_server_stop(&srv);
		return MAIN_EXIT_FAILURE;
	}
	service_notify("READY=1\nSTATUS=Serving HTTP on %s", srv.address);
	sig = main_wait_signal(&srv, &set, layout);
	main_shutdown(&srv, &set, sig, layout);
	/* As at start: this binary cannot serve this data, or not yet. */
	rc = sig == MAIN_STOP_LAYOUT ? main_layout_exit(layout) : 0;
	job_store_close(layout);
	return rc;
}
