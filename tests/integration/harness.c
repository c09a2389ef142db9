/*
 * harness.c — process management, HTTP and Redis helpers for the
 * integration tests (see harness.h).
 */
#include "harness.h"

#include <arpa/inet.h>
#include <criterion/criterion.h>
#include <curl/curl.h>
#include <errno.h>
#include <fcntl.h>
#include <ftw.h>
#include <netinet/in.h>
#include <poll.h>
#include <regex.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

struct harness harness;

void sleep_ms(int ms)
{
	struct timespec ts = {.tv_sec = ms / 1000, .tv_nsec = (long)(ms % 1000) * 1000000L};
	while (nanosleep(&ts, &ts) < 0 && errno == EINTR)
		;
}

char *harness_csv_rows(size_t rows, size_t *len)
{
	size_t n = 2 + rows * 16;
	char *s = malloc(n + 1);
	cr_assert_not_null(s);
	memcpy(s, "v\n", 2);
	for (size_t i = 0; i < rows; i++) {
		char line[32]; /* room for any size_t: no truncation to reason about */
		snprintf(line, sizeof line, "%015zu\n", i % 1000000000000000u);
		memcpy(s + 2 + i * 16, line, 16);
	}
	s[n] = '\0';
	if (len)
		*len = n;
	return s;
}

long long monotonic_ms(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (long long)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

static const char *bin_dir(void)
{
	const char *d = getenv("JOBQ_TEST_BIN_DIR");
	return d && *d ? d : "bin";
}

/* inherit_listen_fd passes fd to the exec'd program as systemd does for
 * socket activation: as fd 3, with LISTEN_FDS=1 and LISTEN_PID = its pid.
 * Runs in the forked child. */
static void inherit_listen_fd(int fd)
{
	char pid[32];
	if (fd != 3) {
		if (dup2(fd, 3) < 0)
			_exit(127);
		close(fd);
	}
	fcntl(3, F_SETFD, 0); /* not close-on-exec */
	snprintf(pid, sizeof pid, "%ld", (long)getpid());
	setenv("LISTEN_FDS", "1", 1);
	setenv("LISTEN_PID", pid, 1);
}

/* spawn_with starts argv[0] with stdout and stderr appended to log_path
 * and, when listen_fd >= 0, that socket passed as systemd would. The child
 * dies with the test process (PR_SET_PDEATHSIG). */
static pid_t spawn_with(const char *const *argv, const char *log_path, int listen_fd)
{
	pid_t parent = getpid();
	pid_t pid = fork();
	cr_assert_neq(pid, -1, "fork: %s", strerror(errno));
	if (pid == 0) {
		prctl(PR_SET_PDEATHSIG, SIGKILL);
		if (getppid() != parent)
			_exit(127);
		if (listen_fd >= 0)
			inherit_listen_fd(listen_fd);
		int fd = open(log_path, O_WRONLY | O_CREAT | O_APPEND, 0644);
		if (fd >= 0) {
			dup2(fd, 1);
			dup2(fd, 2);
			close(fd);
		}
		int null = open("/dev/null", O_RDONLY);
		if (null >= 0)
			dup2(null, 0);
		execvp(argv[0], (char *const *)argv);
		_exit(127);
	}
	return pid;
}

static pid_t spawn(const char *const *argv, const char *log_path)
{
	return spawn_with(argv, log_path, -1);
}

/* stop_pid sends sig and waits up to timeout_ms; then SIGKILL. Returns the
 * wait status, or -1 when it had to be killed. */
static int stop_pid(pid_t pid, int sig, int timeout_ms)
{
	int status = 0;
	if (pid <= 0)
		return 0;
	kill(pid, sig);
	long long end = monotonic_ms() + timeout_ms;
	while (monotonic_ms() < end) {
		pid_t r = waitpid(pid, &status, WNOHANG);
		if (r == pid || (r < 0 && errno == ECHILD))
			return status;
		sleep_ms(10);
	}
	kill(pid, SIGKILL);
	waitpid(pid, &status, 0);
	return -1;
}

static void log_path(char *out, size_t cap, const char *name)
{
	snprintf(out, cap, "%s/%s.log", harness.dir, name);
}

/* redis_spawn starts redis-server on harness.redis_sock (AOF as
 * harness.redis_aof says) and connects harness.redis. */
static void redis_spawn(void)
{
	char log[320];
	log_path(log, sizeof log, "redis");
	const char *argv[] = {"redis-server", "--port", "0", "--unixsocket", harness.redis_sock,
			      "--dir", harness.dir, "--save", "",
			      "--appendonly", harness.redis_aof ? "yes" : "no",
			      "--appendfsync", "always", NULL};
	harness.redis_pid = spawn(argv, log);
	for (int i = 0; i < 500 && !harness.redis; i++) {
		redisContext *c = redisConnectUnix(harness.redis_sock);
		if (c && !c->err)
			harness.redis = c;
		else {
			if (c)
				redisFree(c);
			sleep_ms(10);
		}
	}
	cr_assert_not_null(harness.redis, "redis-server did not start (see %s)", log);
}

void harness_start_redis(void)
{
	signal(SIGPIPE, SIG_IGN); /* the test's own hiredis connections */
	snprintf(harness.dir, sizeof harness.dir, "/tmp/jobq-test-XXXXXX");
	cr_assert_not_null(mkdtemp(harness.dir), "mkdtemp: %s", strerror(errno));
	snprintf(harness.redis_sock, sizeof harness.redis_sock, "%s/redis.sock", harness.dir);
	snprintf(harness.redis_url, sizeof harness.redis_url, "unix://%s", harness.redis_sock);
	redis_spawn();
}

void harness_start_redis_aof(void)
{
	harness.redis_aof = true;
	harness_start_redis();
}

void harness_kill_redis(void)
{
	if (harness.redis)
		redisFree(harness.redis);
	harness.redis = NULL;
	stop_pid(harness.redis_pid, SIGKILL, 2000);
	harness.redis_pid = 0;
}

void harness_restart_redis(void)
{
	cr_assert_null(harness.redis, "harness_restart_redis without harness_kill_redis");
	unlink(harness.redis_sock);
	redis_spawn();
	/* Wait until the AOF is loaded: until then Redis answers -LOADING. */
	for (int i = 0; i < 500; i++) {
		redisReply *r = redisCommand(harness.redis, "PING");
		bool up = r && r->type == REDIS_REPLY_STATUS;
		if (r)
			freeReplyObject(r);
		if (up)
			return;
		sleep_ms(10);
	}
	cr_assert_fail("redis-server did not load its AOF");
}

/* read_listen_port scans the API log for its "listening" line. */
static int read_listen_port(const char *log)
{
	FILE *f = fopen(log, "r");
	if (!f)
		return 0;
	char line[4096];
	int port = 0;
	while (!port && fgets(line, sizeof line, f)) {
		json_t *j = json_loads(line, 0, NULL);
		const char *msg = json_string_value(json_object_get(j, "msg"));
		const char *addr = json_string_value(json_object_get(j, "address"));
		if (msg && addr && strcmp(msg, "listening") == 0) {
			const char *colon = strrchr(addr, ':');
			port = colon ? atoi(colon + 1) : 0;
		}
		json_decref(j);
	}
	fclose(f);
	return port;
}

/* build_argv puts base then extra (NULL-terminated) into out. */
static void build_argv(const char **out, size_t cap, const char *const *base,
		       const char *const *extra)
{
	size_t n = 0;
	for (; base[n] && n < cap - 1; n++)
		out[n] = base[n];
	for (size_t i = 0; extra && extra[i] && n < cap - 1; i++)
		out[n++] = extra[i];
	out[n] = NULL;
}

/* api_spawn starts jobq-api (on listen_fd when >= 0) logging to
 * <dir>/<name>.log, and waits until it logs its port into harness.api_port. */
static void api_spawn(const char *name, int listen_fd, const char *const *extra_args)
{
	char exe[300], log[320];
	snprintf(exe, sizeof exe, "%s/jobq-api", bin_dir());
	log_path(log, sizeof log, name);
	const char *base[] = {exe, "--redis-url", harness.redis_url, "--listen", "127.0.0.1:0",
			      "--threads", "2", NULL};
	const char *argv[64];
	build_argv(argv, 64, base, extra_args);
	harness.api_port = 0;
	harness.api_pid = spawn_with(argv, log, listen_fd);
	for (int i = 0; i < 1000 && !harness.api_port; i++) {
		harness.api_port = read_listen_port(log);
		if (!harness.api_port) {
			int status;
			cr_assert_eq(waitpid(harness.api_pid, &status, WNOHANG), 0,
				     "jobq-api exited at start (see %s)", log);
			sleep_ms(10);
		}
	}
	cr_assert_gt(harness.api_port, 0, "jobq-api did not report its port (see %s)", log);
}

void harness_start_api(const char *const *extra_args)
{
	api_spawn("api", -1, extra_args);
}

void harness_start_api_activated(int listen_fd, const char *log_name,
				 const char *const *extra_args)
{
	api_spawn(log_name, listen_fd, extra_args);
}

int harness_start_worker(const char *const *extra_args)
{
	cr_assert_lt(harness.nworkers, HARNESS_MAX_WORKERS);
	int i = harness.nworkers++;
	char exe[300], log[320], name[32];
	snprintf(exe, sizeof exe, "%s/jobq-worker", bin_dir());
	snprintf(name, sizeof name, "worker%d", i);
	log_path(log, sizeof log, name);
	const char *base[] = {exe, "--redis-url", harness.redis_url, "--concurrency", "2", NULL};
	const char *argv[64];
	build_argv(argv, 64, base, extra_args);
	harness.worker_pids[i] = spawn(argv, log);
	/* Wait until it runs: a signal sent before then would hit a process
	 * that has not set up its handling yet (slow under ASan). */
	for (int tries = 0; tries < 1000 && harness_log_count(name, "worker started", NULL) == 0;
	     tries++) {
		int status;
		cr_assert_eq(waitpid(harness.worker_pids[i], &status, WNOHANG), 0,
			     "jobq-worker exited at start (see %s)", log);
		sleep_ms(10);
	}
	cr_assert(harness_log_count(name, "worker started", NULL) > 0,
		  "jobq-worker did not start (see %s)", log);
	return i;
}

int harness_run(const char *program, const char *name, const char *const *extra_args,
		int timeout_ms)
{
	char exe[300], log[320];
	const char *api[] = {exe, "--redis-url", harness.redis_url, "--listen", "127.0.0.1:0", NULL};
	const char *worker[] = {exe, "--redis-url", harness.redis_url, NULL};
	const char *argv[64];
	long long end = monotonic_ms() + timeout_ms;
	int status;

	snprintf(exe, sizeof exe, "%s/%s", bin_dir(), program);
	log_path(log, sizeof log, name);
	build_argv(argv, 64, strcmp(program, "jobq-api") == 0 ? api : worker, extra_args);
	pid_t pid = spawn(argv, log);
	while (monotonic_ms() < end) {
		if (waitpid(pid, &status, WNOHANG) == pid)
			return status;
		if (read_listen_port(log) > 0) {
			stop_pid(pid, SIGTERM, 10000);
			return HARNESS_RUN_READY;
		}
		sleep_ms(10);
	}
	stop_pid(pid, SIGKILL, 10000);
	return HARNESS_RUN_TIMEOUT;
}

int harness_wait_exit(pid_t pid, int timeout_ms)
{
	int status;

	for (long long end = monotonic_ms() + timeout_ms; monotonic_ms() < end; sleep_ms(20))
		if (waitpid(pid, &status, WNOHANG) == pid)
			return status;
	return -1;
}

void harness_assert_exited(int status, int code, const char *who)
{
	cr_assert(status >= 0, "%s did not exit (%s)", who,
		  status == HARNESS_RUN_READY ? "it served" : "timed out");
	cr_assert(WIFEXITED(status) && WEXITSTATUS(status) == code,
		  "%s ended with status %d, not exit %d", who, status, code);
}

int harness_stop_worker(int i, int sig, int timeout_ms)
{
	int status = stop_pid(harness.worker_pids[i], sig, timeout_ms);
	harness.worker_pids[i] = 0;
	return status;
}

/* harness_setup_redis starts a test afresh with its own Redis (and the
 * test's directory). */
static void harness_setup_redis(void)
{
	memset(&harness, 0, sizeof harness);
	curl_global_init(CURL_GLOBAL_DEFAULT);
	harness_start_redis();
}

void harness_setup_with(int nworkers)
{
	harness_setup_redis();
	harness_start_api(NULL);
	for (int i = 0; i < nworkers; i++)
		harness_start_worker(NULL);
}

void harness_setup_sleep_tasks(void)
{
	harness_setup_redis();
	const char *const args[] = {"--tasks", harness_sleep_tasks(), NULL};
	harness_start_api(args);
}

void harness_setup_aof_with(int nworkers)
{
	memset(&harness, 0, sizeof harness);
	curl_global_init(CURL_GLOBAL_DEFAULT);
	harness_start_redis_aof();
	harness_start_api(NULL);
	for (int i = 0; i < nworkers; i++)
		harness_start_worker(NULL);
}

const char *harness_sleep_tasks(void)
{
	static char path[320];
	snprintf(path, sizeof path, "%s/sleep-tasks.json", harness.dir);
	FILE *f = fopen(path, "w");
	cr_assert_not_null(f);
	fputs("{\"sleep3\":{\"argv\":[\"/bin/sh\",\"-c\",\"cat >/dev/null; exec sleep 3\"],"
	      "\"env\":{\"PATH\":\"/usr/bin:/bin\"}},"
	      " \"sleep60\":{\"argv\":[\"/bin/sh\",\"-c\",\"cat >/dev/null; exec sleep 60\"],"
	      "\"env\":{\"PATH\":\"/usr/bin:/bin\"}},"
	      " \"stall3\":{\"argv\":[\"/bin/sh\",\"-c\","
	      "\"head -c 1048576 >/dev/null && sleep 3 && exec cat >/dev/null\"],"
	      "\"env\":{\"PATH\":\"/usr/bin:/bin\"}}}",
	      f);
	cr_assert_eq(fclose(f), 0);
	return path;
}



static int remove_entry(const char *path, const struct stat *sb, int flag, struct FTW *ftw)
{
	(void)sb, (void)flag, (void)ftw;
	return remove(path);
}

/* dump_logs copies the children's logs to stderr when a test keeps them. */
static void dump_logs(void)
{
	if (!getenv("JOBQ_TEST_SHOW_LOGS"))
		return;
	char cmd[400];
	snprintf(cmd, sizeof cmd, "tail -n 50 %s/*.log >&2", harness.dir);
	if (system(cmd) != 0)
		fprintf(stderr, "could not show logs\n");
}

/* stop_checked stops a jobq process with SIGTERM and records a failure
 * unless it exits 0 in time: that is how a leak (LeakSanitizer exits
 * non-zero) or a hang at shutdown in the real binaries fails a test. */
static bool stop_checked(pid_t pid, const char *name)
{
	if (pid <= 0)
		return true;
	int status = stop_pid(pid, SIGTERM, 15000);
	if (status != -1 && WIFEXITED(status) && WEXITSTATUS(status) == 0)
		return true;
	fprintf(stderr, "%s (pid %d) did not exit 0 on SIGTERM (status %d)\n", name, (int)pid, status);
	return false;
}

void harness_teardown(void)
{
	bool clean = true;
	for (int i = 0; i < harness.nworkers; i++)
		clean &= stop_checked(harness.worker_pids[i], "jobq-worker");
	clean &= stop_checked(harness.api_pid, "jobq-api");
	if (harness.redis)
		redisFree(harness.redis);
	stop_pid(harness.redis_pid, SIGKILL, 2000);
	if (!clean)
		setenv("JOBQ_TEST_SHOW_LOGS", "1", 1);
	dump_logs();
	if (harness.dir[0])
		nftw(harness.dir, remove_entry, 8, FTW_DEPTH | FTW_PHYS);
	curl_global_cleanup();
	if (!clean)
		harness_record_teardown_failure();
}

/* harness_record_teardown_failure leaves a file in the run's teardown
 * directory: Criterion does not fail a test for what happens in .fini, so
 * main (tests/integration/main.c) counts these files after the run. */
void harness_record_teardown_failure(void)
{
	const char *dir = getenv("JOBQ_TEST_TEARDOWN_DIR");
	char path[512];
	snprintf(path, sizeof path, "%s/%d", dir ? dir : "/tmp", (int)getpid());
	FILE *f = fopen(path, "w");
	if (f) {
		fprintf(f, "logs were in %s\n", harness.dir);
		fclose(f);
	}
	fprintf(stderr, "TEARDOWN FAILURE: a jobq process did not exit 0 on SIGTERM "
			"(leak, crash or hang at shutdown)\n");
}

/* ---- HTTP ------------------------------------------------------------- */

struct buffer {
	char *data;
	size_t len;
};

static size_t buffer_write(char *ptr, size_t size, size_t n, void *ud)
{
	struct buffer *b = ud;
	size_t add = size * n;
	char *grown = realloc(b->data, b->len + add + 1);
	if (!grown)
		return 0;
	b->data = grown;
	memcpy(b->data + b->len, ptr, add);
	b->len += add;
	b->data[b->len] = '\0';
	return add;
}

static struct http_reply http_perform(CURL *curl, struct curl_slist *hdrs)
{
	struct buffer body = {0}, head = {0};
	curl_easy_setopt(curl, CURLOPT_HTTPHEADER, hdrs);
	curl_easy_setopt(curl, CURLOPT_WRITEFUNCTION, buffer_write);
	curl_easy_setopt(curl, CURLOPT_WRITEDATA, &body);
	curl_easy_setopt(curl, CURLOPT_HEADERFUNCTION, buffer_write);
	curl_easy_setopt(curl, CURLOPT_HEADERDATA, &head);
	curl_easy_setopt(curl, CURLOPT_TIMEOUT, 30L);
	CURLcode rc = curl_easy_perform(curl);
	cr_assert_eq(rc, CURLE_OK, "HTTP request failed: %s", curl_easy_strerror(rc));
	struct http_reply r = {0};
	curl_easy_getinfo(curl, CURLINFO_RESPONSE_CODE, &r.status);
	r.body = body.data ? body.data : strdup("");
	r.len = body.len;
	r.headers = head.data ? head.data : strdup("");
	curl_slist_free_all(hdrs);
	curl_easy_cleanup(curl);
	return r;
}

static CURL *http_easy(const char *method, const char *path)
{
	char url[2048];
	snprintf(url, sizeof url, "http://127.0.0.1:%d%s", harness.api_port, path);
	CURL *curl = curl_easy_init();
	cr_assert_not_null(curl);
	curl_easy_setopt(curl, CURLOPT_URL, url);
	curl_easy_setopt(curl, CURLOPT_CUSTOMREQUEST, method);
	return curl;
}

struct http_reply http_request(const char *method, const char *path, const char *content_type,
			       const char *body, size_t len, const char *const *headers)
{
	CURL *curl = http_easy(method, path);
	struct curl_slist *hdrs = curl_slist_append(NULL, "Expect:");
	if (content_type) {
		char h[256];
		snprintf(h, sizeof h, "Content-Type: %s", content_type);
		hdrs = curl_slist_append(hdrs, h);
	}
	for (size_t i = 0; headers && headers[i]; i++)
		hdrs = curl_slist_append(hdrs, headers[i]);
	if (body) {
		curl_easy_setopt(curl, CURLOPT_POSTFIELDS, body);
		curl_easy_setopt(curl, CURLOPT_POSTFIELDSIZE_LARGE, (curl_off_t)len);
	}
	return http_perform(curl, hdrs);
}

struct http_reply http_get(const char *path)
{
	return http_request("GET", path, NULL, NULL, 0, NULL);
}

struct http_reply http_post_csv(const char *path, const char *csv)
{
	return http_request("POST", path, "text/csv", csv, strlen(csv), NULL);
}

struct http_reply http_post_multipart(const char *path, const char *const *fields,
				      const char *file_field, const char *file, size_t file_len)
{
	CURL *curl = http_easy("POST", path);
	curl_mime *mime = curl_mime_init(curl);
	for (size_t i = 0; fields && fields[i]; i += 2) {
		curl_mimepart *part = curl_mime_addpart(mime);
		curl_mime_name(part, fields[i]);
		curl_mime_data(part, fields[i + 1], CURL_ZERO_TERMINATED);
	}
	if (file) {
		curl_mimepart *part = curl_mime_addpart(mime);
		curl_mime_name(part, file_field);
		curl_mime_filename(part, "upload.csv");
		curl_mime_type(part, "text/csv");
		curl_mime_data(part, file, file_len);
	}
	curl_easy_setopt(curl, CURLOPT_MIMEPOST, mime);
	struct http_reply r = http_perform(curl, curl_slist_append(NULL, "Expect:"));
	curl_mime_free(mime);
	return r;
}

char *http_header(const struct http_reply *r, const char *name)
{
	size_t n = strlen(name);
	for (const char *line = r->headers; line && *line;) {
		const char *end = strstr(line, "\r\n");
		if (!end)
			end = line + strlen(line);
		if ((size_t)(end - line) > n && strncasecmp(line, name, n) == 0 && line[n] == ':') {
			const char *v = line + n + 1;
			while (*v == ' ')
				v++;
			return strndup(v, (size_t)(end - v));
		}
		line = *end ? end + 2 : end;
	}
	return NULL;
}

json_t *http_json(const struct http_reply *r)
{
	json_error_t err;
	json_t *j = json_loadb(r->body, r->len, 0, &err);
	cr_assert_not_null(j, "reply is not JSON (%s): %.300s", err.text, r->body);
	return j;
}

void http_reply_free(struct http_reply *r)
{
	free(r->body);
	free(r->headers);
	r->body = r->headers = NULL;
}

char *accepted_id(struct http_reply *r)
{
	cr_assert_eq(r->status, 202, "submit answered %ld: %s", r->status, r->body);
	json_t *j = http_json(r);
	char *id = strdup(json_string_value(json_object_get(j, "id")));
	json_decref(j);
	http_reply_free(r);
	return id;
}

char *submit_csv(const char *query, const char *csv)
{
	char path[1024];
	snprintf(path, sizeof path, "/v1/jobs%s%s", query && *query ? "?" : "", query ? query : "");
	struct http_reply r = http_post_csv(path, csv);
	return accepted_id(&r);
}

static bool is_terminal(const char *s)
{
	return strcmp(s, "succeeded") == 0 || strcmp(s, "failed") == 0 ||
	       strcmp(s, "cancelled") == 0;
}

json_t *wait_for_status(const char *id, const char *want, int timeout_ms)
{
	char path[128];
	snprintf(path, sizeof path, "/v1/jobs/%s", id);
	long long end = monotonic_ms() + timeout_ms;
	for (;;) {
		struct http_reply r = http_get(path);
		cr_assert_eq(r.status, 200, "GET %s answered %ld: %s", path, r.status, r.body);
		json_t *j = http_json(&r);
		http_reply_free(&r);
		const char *s = json_string_value(json_object_get(j, "status"));
		if (!s || strcmp(s, want) == 0 || is_terminal(s) || monotonic_ms() > end)
			return j;
		json_decref(j);
		sleep_ms(20);
	}
}

/* ---- Redis ------------------------------------------------------------ */

redisReply *redis_cmd(const char *fmt, ...)
{
	va_list ap;
	va_start(ap, fmt);
	redisReply *r = redisvCommand(harness.redis, fmt, ap);
	va_end(ap);
	cr_assert_not_null(r, "redis: %s", harness.redis->errstr);
	return r;
}

long long redis_integer(const char *fmt, const char *arg)
{
	redisReply *r = redis_cmd(fmt, arg);
	cr_assert(r->type == REDIS_REPLY_INTEGER, "%s: not an integer reply", fmt);
	long long v = r->integer;
	freeReplyObject(r);
	return v;
}

long redis_count_keys(const char *pattern)
{
	long count = 0;
	char cursor[32] = "0";
	do {
		redisReply *r = redis_cmd("SCAN %s MATCH %s COUNT 1000", cursor, pattern);
		snprintf(cursor, sizeof cursor, "%s", r->element[0]->str);
		count += (long)r->element[1]->elements;
		freeReplyObject(r);
	} while (strcmp(cursor, "0") != 0);
	return count;
}

/* ---- Raw sockets -------------------------------------------------------- */

int raw_try_connect(int port, const char *src)
{
	struct sockaddr_in a = {.sin_family = AF_INET, .sin_port = htons((uint16_t)port)};
	int fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
	cr_assert_geq(fd, 0, "socket: %s", strerror(errno));
	if (src != NULL) {
		struct sockaddr_in s = {.sin_family = AF_INET};
		inet_pton(AF_INET, src, &s.sin_addr);
		cr_assert_eq(bind(fd, (struct sockaddr *)&s, sizeof s), 0, "bind %s: %s", src,
			     strerror(errno));
	}
	inet_pton(AF_INET, "127.0.0.1", &a.sin_addr);
	if (connect(fd, (struct sockaddr *)&a, sizeof a) == 0)
		return fd;
	close(fd);
	return -1;
}

int raw_connect(void)
{
	int fd = raw_try_connect(harness.api_port, NULL);
	cr_assert_geq(fd, 0, "connect to the API: %s", strerror(errno));
	return fd;
}

bool raw_send_some(int fd, const char *buf, size_t len)
{
	while (len > 0) {
		ssize_t n = send(fd, buf, len, MSG_NOSIGNAL);
		if (n <= 0)
			return false;
		buf += n;
		len -= (size_t)n;
	}
	return true;
}

void raw_send(int fd, const char *buf, size_t len)
{
	cr_assert(raw_send_some(fd, buf, len), "send failed: %s", strerror(errno));
}

void raw_send_text(int fd, const char *text)
{
	raw_send(fd, text, strlen(text));
}

void raw_csv_head(int fd, size_t content_length)
{
	char head[256];
	int n = snprintf(head, sizeof head,
			 "POST /v1/jobs HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Type: text/csv\r\n"
			 "Content-Length: %zu\r\n\r\n", content_length);
	raw_send(fd, head, (size_t)n);
}

char *raw_read_until_closed(int fd, int timeout_ms, bool *closed)
{
	size_t cap = 1 << 16, len = 0;
	char *buf = malloc(cap + 1);
	long long end = monotonic_ms() + timeout_ms;
	cr_assert_not_null(buf);
	*closed = false;
	while (monotonic_ms() < end && len < cap) {
		struct pollfd p = {.fd = fd, .events = POLLIN};
		if (poll(&p, 1, 100) <= 0)
			continue;
		ssize_t n = recv(fd, buf + len, cap - len, 0);
		if (n <= 0) {
			*closed = true;
			break;
		}
		len += (size_t)n;
	}
	buf[len] = '\0';
	return buf;
}

/* raw_reply_whole tells whether the len bytes of buf (NUL-terminated) hold
 * a reply's headers and its whole Content-Length body. */
static bool raw_reply_whole(const char *buf, size_t len)
{
	const char *body = strstr(buf, "\r\n\r\n");
	const char *cl = strcasestr(buf, "\r\nContent-Length:");
	return body != NULL && cl != NULL &&
	       (size_t)(buf + len - (body + 4)) >= strtoul(cl + 17, NULL, 10);
}

int raw_read_reply(int fd, int timeout_ms)
{
	char buf[8192];
	size_t len = 0;
	long long end = monotonic_ms() + timeout_ms;
	while (monotonic_ms() < end && len < sizeof buf - 1) {
		struct pollfd p = {.fd = fd, .events = POLLIN};
		if (poll(&p, 1, 100) <= 0)
			continue;
		ssize_t n = recv(fd, buf + len, sizeof buf - 1 - len, 0);
		if (n <= 0)
			return -1;
		len += (size_t)n;
		buf[len] = '\0';
		if (raw_reply_whole(buf, len))
			return raw_status_of(buf);
	}
	return -1;
}

int raw_status_of(const char *text)
{
	if (strncmp(text, "HTTP/1.", 7) != 0 || (text[7] != '0' && text[7] != '1') ||
	    text[8] != ' ')
		return -1;
	for (int i = 9; i < 12; i++)
		if (text[i] < '0' || text[i] > '9')
			return -1;
	if (text[12] != ' ' && text[12] != '\r')
		return -1;
	return atoi(text + 9);
}

/* ---- Logs --------------------------------------------------------------- */

bool harness_log_has(const char *name, const char *pattern)
{
	char path[320], *line = NULL;
	size_t cap = 0;
	bool found = false;
	regex_t re;
	log_path(path, sizeof path, name);
	cr_assert_eq(regcomp(&re, pattern, REG_NOSUB), 0, "bad pattern %s", pattern);
	FILE *f = fopen(path, "r");
	while (f != NULL && !found && getline(&line, &cap, f) >= 0)
		found = regexec(&re, line, 0, NULL, 0) == 0;
	if (f != NULL)
		fclose(f);
	free(line);
	regfree(&re);
	return found;
}

bool harness_log_wait(const char *name, const char *pattern, int timeout_ms)
{
	long long end = monotonic_ms() + timeout_ms;
	while (!harness_log_has(name, pattern)) {
		if (monotonic_ms() > end)
			return false;
		sleep_ms(20);
	}
	return true;
}

/* harness_json_str returns o's string member key, or "" when it has none. */
static const char *harness_json_str(json_t *o, const char *key)
{
	const char *s = json_string_value(json_object_get(o, key));
	return s != NULL ? s : "";
}

int harness_log_count(const char *name, const char *msg, const char *job_id)
{
	char path[320], *line = NULL;
	size_t cap = 0;
	int n = 0;
	log_path(path, sizeof path, name);
	FILE *f = fopen(path, "r");
	while (f != NULL && getline(&line, &cap, f) >= 0) {
		json_t *j = json_loads(line, 0, NULL);
		n += strcmp(harness_json_str(j, "msg"), msg) == 0 &&
		     (job_id == NULL || strcmp(harness_json_str(j, "job_id"), job_id) == 0);
		json_decref(j);
	}
	if (f != NULL)
		fclose(f);
	free(line);
	return n;
}

bool harness_log_wait_msg(const char *name, const char *msg, const char *job_id, int timeout_ms)
{
	long long end = monotonic_ms() + timeout_ms;
	while (harness_log_count(name, msg, job_id) == 0) {
		if (monotonic_ms() > end)
			return false;
		sleep_ms(20);
	}
	return true;
}
