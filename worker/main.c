/*
 * jobq-worker — runs jobs from jobq's Redis queues.
 *
 * main reads the settings, starts one producer, one cancel listener and
 * --concurrency consumer threads (see worker.h), and then does nothing but
 * wait for signals. The cancel listener is stopped last, after the
 * consumers and the producer: a running job can be cancelled until the end.
 * SIGTERM, SIGINT and WORKER_SIG_DRAINED are blocked in every thread before
 * any thread starts, so only main's sigwait sees them; SIGPIPE is ignored,
 * so a dropped Redis connection is an error return, not a death.
 *
 * --exit-when-idle: the producer sends WORKER_SIG_STOP to the process when
 * it has had nothing to do for that long (producer.h); main takes it as it
 * takes a first SIGTERM. It sends the same when the data layout in use is
 * newer than this worker's: main shuts down the same way and exits 2.
 * systemd hears READY=1 once the threads claim and STOPPING=1 when the
 * shutdown starts (service.h).
 *
 * Shutdown:
 *   first SIGTERM/SIGINT   phase DRAINING: the producer stops claiming and
 *                          closes the buffer; idle consumers exit; running
 *                          jobs go on
 *   every consumer gone,   done: join, free, exit 0
 *   or grace over, or a    phase INTERRUPTING: every running job stops at
 *   second signal          its next checkpoint and is requeued; then join,
 *                          free, exit 0
 * (exit 2 instead when the shutdown came from a newer data layout).
 */
#include <errno.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "config.h"
#include "task_catalog.h"
#include "cancel_listener.h"
#include "consumer.h"
#include "ids.h"
#include "job_buffer.h"
#include "log.h"
#include "producer.h"
#include "redis_url.h"
#include "running.h"
#include "service.h"
#include "task.h"
#include "worker.h"

struct worker {
	struct worker_settings settings;
	struct job_store_config store_cfg; /* points into settings */
	struct job_buffer buffer;
	struct running running;
	struct producer producer;
	bool producer_started;
	struct cancel_listener cancel_listener;
	bool cancel_listener_started;
	struct consumer *consumers;        /* concurrency entries */
	size_t consumers_started;
};

/* worker_parse_log_level is the config_parse_fn of --log-level. */
static int worker_parse_log_level(const char *text, void *dst, char *err, size_t errlen)
{
	static const char *const names[] = {"debug", "info", "warn", "error"};
	static const enum log_level levels[] = {LOG_DEBUG, LOG_INFO, LOG_WARN, LOG_ERROR};

	for (size_t i = 0; text != NULL && i < sizeof names / sizeof names[0]; i++) {
		if (strcmp(text, names[i]) == 0) {
			*(enum log_level *)dst = levels[i];
			return 0;
		}
	}
	snprintf(err, errlen, "must be debug, info, warn or error");
	return -1;
}

/* worker_configure fills s from flags, environment and defaults (the
 * table below is also the --help text). Returns config_load's result. */
static enum config_result worker_configure(struct worker_settings *s, int argc, char **argv)
{
	char cpus[16], stats_threads[16];
	enum config_result r;

	snprintf(cpus, sizeof cpus, "%d", config_cpu_count());
	snprintf(stats_threads, sizeof stats_threads, "%d", task_profile_default_threads(config_cpu_count()));
	const struct config_option opts[] = {
		{"redis-url", "JOBQ_REDIS_URL", "URL", "redis://127.0.0.1:6379/0",
		 "Redis to use: redis://[:password@]host[:port][/db] or unix:///path[?db=N].",
		 redis_url_config_parse, s->redis_url, false},
		{"prefix", "JOBQ_PREFIX", "PREFIX", "jobq", "Prefix of every Redis key jobq uses.",
		 config_parse_prefix, s->prefix, false},
		{"concurrency", "JOBQ_CONCURRENCY", "N", cpus,
		 "Jobs run at once, one thread each (default: the number of CPUs).",
		 config_parse_positive_int, &s->concurrency, false},
		{"queue", "JOBQ_QUEUES", "NAME", "default",
		 "Queue to take jobs from; repeat the flag (or give a comma list) for several, in order of preference.",
		 config_parse_queue_list, &s->queues, true},
		{"result-ttl", "JOBQ_RESULT_TTL", "DURATION", "7d",
		 "How long a finished job and its result are kept.", config_parse_seconds,
		 &s->result_ttl_s, false},
		{"lease", "JOBQ_LEASE", "DURATION", "30s",
		 "Lease of a running job, renewed every third of it; a job whose worker vanished is requeued when it expires.",
		 config_parse_seconds, &s->lease_s, false},
		{"shutdown-grace", "JOBQ_SHUTDOWN_GRACE", "DURATION", "30s",
		 "After SIGTERM, how long running jobs may go on before they are interrupted and requeued.",
		 config_parse_seconds, &s->shutdown_grace_s, false},
		{"retry-base", "JOBQ_RETRY_BASE", "DURATION", "1s",
		 "Backoff before the second attempt of a failed job (ms, s, m, h, d; plain = seconds): the wait before attempt n+1 is random in [0, min(cap, base * 2^(n-1))].",
		 config_parse_millis, &s->retry_base_ms, false},
		{"retry-cap", "JOBQ_RETRY_CAP", "DURATION", "5m",
		 "Longest backoff between two attempts of a failed job.", config_parse_millis,
		 &s->retry_cap_ms, false},
		{"dead-max", "JOBQ_DEAD_MAX", "N", "10000",
		 "Most dead letters (jobs failed for good) listed in {prefix}:dead; older ones drop out.",
		 config_parse_positive_int, &s->dead_max, false},
		{"dead-ttl", "JOBQ_DEAD_TTL", "DURATION", "30d",
		 "How long a dead letter stays listed in {prefix}:dead (its job still expires after --result-ttl).",
		 config_parse_seconds, &s->dead_ttl_s, false},
		{"max-field", "JOBQ_MAX_FIELD", "SIZE", "1M",
		 "Longest CSV field a task accepts, in bytes (K, M, G suffixes).", config_parse_size,
		 &s->max_field, false},
		{"tasks", "JOBQ_TASKS", "FILE", NULL,
		 "JSON file of external programs declared as tasks (see the README).",
		 task_catalog_config_parse, NULL, false},
		{"kill-grace", "JOBQ_KILL_GRACE", "DURATION", "5s",
		 "How long a stopped external task's process group has between SIGTERM and SIGKILL.",
		 config_parse_seconds, &s->kill_grace_s, false},
		{"exit-when-idle", "JOBQ_EXIT_WHEN_IDLE", "DURATION", "0",
		 "Exit (as on SIGTERM, status 0) once no job has run and the queues stayed empty for this long; 0 = never.",
		 config_parse_seconds_or_off, &s->exit_when_idle_s, false},
		{"profile-threads", "JOBQ_PROFILE_THREADS", "N", stats_threads,
		 "Statistics threads of one profile job of 4 MiB or more, besides the thread that parses it (default: the number of CPUs less one, but 2 on two CPUs and 1 on one; at most 16). All such jobs of the worker share at most one a CPU (or N, when larger): a job starting while others hold them gets fewer, or none and runs on its own thread.",
		 config_parse_positive_int, &s->profile_threads, false},
		{"log-level", "JOBQ_LOG_LEVEL", "LEVEL", "info",
		 "Least severe log lines written: debug, info, warn or error.",
		 worker_parse_log_level, &s->log_level, false},
	};
	r = config_load(opts, sizeof opts / sizeof opts[0], argc, argv, "jobq-worker",
			"Runs the jobs of jobq's Redis queues.");
	for (size_t i = 0; i < s->queues.len; i++)
		s->queue_names[i] = s->queues.items[i];
	return r;
}

/* worker_make_id writes "host:pid:8-hex-random" into s->worker_id.
 * Returns 0, or -1 when no random bytes could be had. */
static int worker_make_id(struct worker_settings *s)
{
	char host[256] = "", hex[9];

	if (gethostname(host, sizeof host - 1) != 0 || host[0] == '\0')
		snprintf(host, sizeof host, "unknown");
	if (ids_random_hex(hex, 4) != 0)
		return -1;
	snprintf(s->worker_id, sizeof s->worker_id, "%.64s:%ld:%s", host, (long)getpid(), hex);
	return 0;
}

/* worker_block_signals blocks the signals main waits for (in this thread
 * and so in every thread started later) and ignores SIGPIPE. */
static void worker_block_signals(sigset_t *set)
{
	struct sigaction ignore;

	sigemptyset(set);
	sigaddset(set, SIGTERM);
	sigaddset(set, SIGINT);
	sigaddset(set, WORKER_SIG_DRAINED);
	sigaddset(set, WORKER_SIG_STOP);
	pthread_sigmask(SIG_BLOCK, set, NULL);
	memset(&ignore, 0, sizeof ignore);
	ignore.sa_handler = SIG_IGN;
	sigaction(SIGPIPE, &ignore, NULL);
}

/* worker_init makes what the threads share. Returns 0, or -1 with *err set
 * (then nothing is left to free). */
static int worker_init(struct worker *w, const char **err)
{
	struct worker_settings *s = &w->settings;
	size_t n = (size_t)s->concurrency;
	int lease_third = worker_lease_ms(s) / 3;

	*err = "no random bytes for the worker id";
	if (worker_make_id(s) != 0)
		return -1;
	/* A command must time out well before a renewal is overdue. */
	w->store_cfg = (struct job_store_config){
		.url = s->redis_url, .prefix = s->prefix,
		.timeout_ms = lease_third < 5000 ? lease_third : 5000,
		.result_ttl_s = s->result_ttl_s, .dead_max = s->dead_max,
		.dead_ttl_s = s->dead_ttl_s};
	*err = "out of memory";
	w->consumers = calloc(n, sizeof *w->consumers);
	if (w->consumers == NULL)
		return -1;
	if (job_buffer_init(&w->buffer, n) == 0) {
		if (running_init(&w->running, n * CONSUMER_BATCH) == 0)
			return 0;
		job_buffer_destroy(&w->buffer);
	}
	free(w->consumers);
	return -1;
}

/* worker_start_threads starts the producer and the consumers. Returns 0,
 * or -1 with *err set; what was started is recorded for
 * worker_stop_threads either way. */
static int worker_start_threads(struct worker *w, const char **err)
{
	struct worker_settings *s = &w->settings;

	if (producer_start(&w->producer, s, &w->store_cfg, &w->buffer, &w->running, err) != 0)
		return -1;
	w->producer_started = true;
	if (cancel_listener_start(&w->cancel_listener, &w->store_cfg, &w->running, err) != 0)
		return -1;
	w->cancel_listener_started = true;
	for (size_t i = 0; i < (size_t)s->concurrency; i++) {
		if (consumer_start(&w->consumers[i], s, &w->store_cfg, &w->buffer, &w->running,
				   err) != 0)
			return -1;
		w->consumers_started++;
	}
	return 0;
}

/* worker_stop_threads interrupts whatever still runs and joins every
 * thread that was started: consumers first, then the producer, which keeps
 * their leases until they are gone. */
static void worker_stop_threads(struct worker *w)
{
	running_advance(&w->running, RUNNING_INTERRUPTING);
	job_buffer_close(&w->buffer);
	for (size_t i = 0; i < w->consumers_started; i++)
		consumer_join(&w->consumers[i]);
	running_advance(&w->running, RUNNING_DONE);
	if (w->producer_started)
		producer_join(&w->producer);
	if (w->cancel_listener_started)
		cancel_listener_stop(&w->cancel_listener);
}

/* worker_free frees what worker_init made. */
static void worker_free(struct worker *w)
{
	running_destroy(&w->running);
	job_buffer_destroy(&w->buffer);
	free(w->consumers);
}

/* worker_profile_thread_cap returns how many statistics threads the large
 * profile jobs of this worker may run at once (task_profile_thread_cap of
 * this machine's CPUs). */
static int worker_profile_thread_cap(const struct worker_settings *s)
{
	return task_profile_thread_cap(s->profile_threads, config_cpu_count());
}

static void worker_log_started(const struct worker *w)
{
	const struct worker_settings *s = &w->settings;
	json_t *queues = json_array();

	for (size_t i = 0; i < s->queues.len; i++)
		json_array_append_new(queues, json_string(s->queue_names[i]));
	log_event(LOG_INFO, "worker started",
		  json_pack("{s:s, s:o, s:i, s:i, s:i, s:s}", "worker_id", s->worker_id,
			    "queues", queues, "concurrency", s->concurrency,
			    "profile_threads", s->profile_threads,
			    "profile_thread_cap", worker_profile_thread_cap(s),
			    "version", config_version));
}

/* worker_wait_signal returns the first SIGTERM or SIGINT, or
 * WORKER_SIG_STOP when this process's producer sent it. */
static int worker_wait_signal(const sigset_t *set)
{
	siginfo_t info;
	int sig = 0;

	while (sig != SIGTERM && sig != SIGINT && sig != WORKER_SIG_STOP) {
		sig = sigwaitinfo(set, &info);
		if (sig == WORKER_SIG_STOP && info.si_pid != getpid())
			sig = 0;
	}
	return sig;
}

/* worker_log_stopping tells the log and systemd that the shutdown starts,
 * and why: signal sig, or the producer's reason why for WORKER_SIG_STOP. */
static void worker_log_stopping(const struct worker_settings *s, int sig, enum producer_stop why)
{
	service_notify("STOPPING=1\nSTATUS=Shutting down");
	if (sig == WORKER_SIG_STOP && why == PRODUCER_STOP_SCHEMA)
		log_event(LOG_ERROR, "shutting down",
			  json_pack("{s:s, s:i}", "reason", "schema", "grace_s",
				    s->shutdown_grace_s));
	else if (sig == WORKER_SIG_STOP)
		log_event(LOG_INFO, "shutting down",
			  json_pack("{s:s, s:i, s:i}", "reason", "idle", "exit_when_idle_s",
				    s->exit_when_idle_s, "grace_s", s->shutdown_grace_s));
	else
		log_event(LOG_INFO, "shutting down",
			  json_pack("{s:s, s:i}", "signal", sigabbrev_np(sig), "grace_s",
				    s->shutdown_grace_s));
}

/* worker_drain lets running jobs finish for up to the shutdown grace, then
 * (or at a second signal) interrupts them. main waits for signals and for
 * the last consumer's WORKER_SIG_DRAINED in one sigtimedwait. */
static void worker_drain(struct worker *w, const sigset_t *set)
{
	int64_t deadline = worker_clock_ms() + (int64_t)w->settings.shutdown_grace_s * 1000;

	running_advance(&w->running, RUNNING_DRAINING);
	while (running_consumers(&w->running) > 0) {
		int64_t left = deadline - worker_clock_ms();
		struct timespec ts = {left / 1000, (left % 1000) * 1000000};
		int sig;

		if (left <= 0) {
			log_event(LOG_WARN, "shutdown grace over, interrupting running jobs", NULL);
			break;
		}
		sig = sigtimedwait(set, NULL, &ts);
		if (sig == SIGTERM || sig == SIGINT) {
			log_event(LOG_WARN, "second signal, interrupting running jobs",
				  json_pack("{s:s}", "signal", sigabbrev_np(sig)));
			break;
		}
	}
	running_advance(&w->running, RUNNING_INTERRUPTING);
}

/* worker_run starts the threads, waits for the first SIGTERM or SIGINT
 * (or the producer's WORKER_SIG_STOP), drains and stops. Returns the
 * process's exit status: 2 when the data layout in use is newer than its
 * own (as for a bad configuration: a restart will not help), else 0. */
static int worker_run(struct worker *w, const sigset_t *signals)
{
	const char *err = NULL;
	enum producer_stop why;
	int sig;

	if (worker_start_threads(w, &err) != 0) {
		log_event(LOG_ERROR, "cannot start", json_pack("{s:s}", "error", err));
		worker_stop_threads(w);
		return 1;
	}
	worker_log_started(w);
	service_notify("READY=1\nSTATUS=Claiming jobs from %s", w->producer.queues);
	sig = worker_wait_signal(signals);
	why = sig == WORKER_SIG_STOP ? producer_stop_reason(&w->producer) : PRODUCER_STOP_NONE;
	worker_log_stopping(&w->settings, sig, why);
	worker_drain(w, signals);
	worker_stop_threads(w);
	log_event(LOG_INFO, "worker stopped", json_pack("{s:s}", "worker_id", w->settings.worker_id));
	/* Read again: a heartbeat during the drain may have seen a newer layout. */
	return producer_stop_reason(&w->producer) == PRODUCER_STOP_SCHEMA ? 2 : 0;
}

int main(int argc, char **argv)
{
	struct worker w = {0};
	sigset_t signals;
	const char *err = NULL;
	int rc;

	/* First of all, so that a SIGTERM during start-up is handled by the
	 * shutdown path instead of killing a half-started process. */
	worker_block_signals(&signals);
	switch (worker_configure(&w.settings, argc, argv)) {
	case CONFIG_EXIT:
		return 0;
	case CONFIG_ERROR:
		return 2;
	case CONFIG_OK:
		break;
	}
	log_init("worker", w.settings.log_level);
	task_profile_set_threads((unsigned)w.settings.profile_threads);
	task_profile_set_thread_cap((unsigned)worker_profile_thread_cap(&w.settings));
	if (worker_init(&w, &err) != 0) {
		log_event(LOG_ERROR, "cannot start", json_pack("{s:s}", "error", err));
		return 1;
	}
	rc = worker_run(&w, &signals);
	worker_free(&w);
	return rc;
}
