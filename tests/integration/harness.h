/*
 * harness — starts a real jobq for an integration test and talks to it.
 *
 * Each test gets its own temporary directory, its own redis-server on a
 * Unix socket inside it (no port to collide on), its own jobq-api on
 * 127.0.0.1 with a port the kernel picks (read back from the API's
 * "listening" log line) and as many jobq-worker processes as it asks for.
 * Every child is started with PR_SET_PDEATHSIG, so nothing outlives a test
 * process that crashes; harness_stop ends them all by PID and removes the
 * directory.
 *
 * The binaries come from $JOBQ_TEST_BIN_DIR (default "bin").
 *
 * Criterion runs each test in its own process, so the one harness per test
 * process below is plain static state of that process.
 */
#ifndef JOBQ_TEST_HARNESS_H
#define JOBQ_TEST_HARNESS_H

#include <hiredis/hiredis.h>
#include <jansson.h>
#include <stdbool.h>
#include <stddef.h>
#include <sys/types.h>

#define HARNESS_MAX_WORKERS 8

struct harness {
	char dir[256];          /* temporary directory of this test */
	char redis_sock[300];
	char redis_url[320];
	pid_t redis_pid;
	pid_t api_pid;
	int api_port;
	pid_t worker_pids[HARNESS_MAX_WORKERS];
	int nworkers;
	redisContext *redis;    /* the test's own connection */
	bool redis_aof;         /* started with AOF, appendfsync always */
};

/* The harness of the current test process. */
extern struct harness harness;

/* harness_start_redis starts redis-server (with AOF off, on a socket in the
 * test directory) and connects harness.redis. Aborts the test on failure. */
void harness_start_redis(void);

/* harness_start_redis_aof is harness_start_redis with --appendonly yes
 * --appendfsync always, so that every write Redis acknowledged survives a
 * SIGKILL of Redis. */
void harness_start_redis_aof(void);

/* harness_kill_redis SIGKILLs redis-server and drops the test's connection;
 * harness_restart_redis starts it again on the same socket, directory and
 * AOF, and reconnects. */
void harness_kill_redis(void);
void harness_restart_redis(void);

/* harness_start_api starts jobq-api with extra arguments (NULL-terminated
 * list, may be NULL) and waits until it listens. */
void harness_start_api(const char *const *extra_args);

/* harness_start_api_activated starts jobq-api as systemd's socket
 * activation would: listen_fd (a listening socket the test made; it stays
 * open in the test) is passed as fd 3 with LISTEN_FDS and LISTEN_PID. It
 * logs to <dir>/<log_name>.log; waits until it listens and sets
 * harness.api_pid and harness.api_port. */
void harness_start_api_activated(int listen_fd, const char *log_name,
				 const char *const *extra_args);

/* harness_start_worker starts one more jobq-worker with extra arguments and
 * returns its index in harness.worker_pids. */
int harness_start_worker(const char *const *extra_args);

/* harness_run starts bin/<program> ("jobq-api" or "jobq-worker") against
 * the test's Redis (the API on 127.0.0.1:0) with extra arguments, logging
 * to <dir>/<name>.log, and waits up to timeout_ms. Returns its exit status
 * (as from waitpid) when it exits first; HARNESS_RUN_READY when the API
 * logs "listening" first (it is then stopped with SIGTERM), or
 * HARNESS_RUN_TIMEOUT (killed). For a program expected to refuse to run.
 * Give each run a name of its own: "listening" is looked for in the log. */
#define HARNESS_RUN_READY (-2)
#define HARNESS_RUN_TIMEOUT (-1)
int harness_run(const char *program, const char *name, const char *const *extra_args,
		int timeout_ms);

/* harness_wait_exit waits up to timeout_ms for child pid to exit by
 * itself and returns its wait status, or -1 when it is still running (it
 * is left running). */
int harness_wait_exit(pid_t pid, int timeout_ms);

/* harness_assert_exited fails the test unless status (from harness_run or
 * harness_wait_exit) is an exit with code; who names the process. */
void harness_assert_exited(int status, int code, const char *who);

/* harness_stop_worker sends sig to worker i and waits for it to exit.
 * Returns its exit status (as from waitpid), or -1 when it did not exit
 * within timeout_ms (then it is killed). */
int harness_stop_worker(int i, int sig, int timeout_ms);

/* harness_setup starts Redis, the API and nworkers workers; harness_teardown
 * stops everything and removes the directory. Suited to .init / .fini. */
void harness_setup_with(int nworkers);
void harness_setup_aof_with(int nworkers);

/* harness_sleep_tasks writes a tasks file into the test's directory and
 * returns its path (static storage). Its programs take a fixed time whatever
 * the machine's speed, for tests that need a job still running when they act:
 * "sleep3" reads its input, sleeps 3 s and succeeds; "sleep60" sleeps 60 s;
 * "stall3" reads 1 MiB of its input, sleeps 3 s, then reads the rest and
 * succeeds, so that a larger input is known to be partly read for 3 s.
 * Pass it as --tasks to the API and to each worker. */
const char *harness_sleep_tasks(void);

/* harness_setup_sleep_tasks is harness_setup_with(0) with the API started
 * with --tasks harness_sleep_tasks(). */
void harness_setup_sleep_tasks(void);
void harness_teardown(void);

/* harness_record_teardown_failure marks this test as failed at teardown
 * (see tests/integration/main.c). */
void harness_record_teardown_failure(void);

/* An HTTP reply: status, body (NUL-terminated, owned) and headers. */
struct http_reply {
	long status;
	char *body;
	size_t len;
	char *headers; /* raw header block, NUL-terminated, owned */
};

/* http_request sends method path with the body (may be NULL) and extra
 * header lines (NULL-terminated list, may be NULL). Returns the reply; the
 * caller frees it with http_reply_free. Aborts the test on transport
 * errors. */
struct http_reply http_request(const char *method, const char *path, const char *content_type,
			       const char *body, size_t len, const char *const *headers);

/* http_get is http_request("GET", path, ...) with no body. */
struct http_reply http_get(const char *path);

/* http_post_csv posts CSV as text/csv to path (which may carry a query). */
struct http_reply http_post_csv(const char *path, const char *csv);

/* http_post_multipart posts one form with the given fields (name, value
 * pairs, NULL-terminated) and, when file is not NULL, a part named
 * file_field holding it. */
struct http_reply http_post_multipart(const char *path, const char *const *fields,
				      const char *file_field, const char *file, size_t file_len);

/* http_header returns a copy of header name's value (caller frees) or
 * NULL. */
char *http_header(const struct http_reply *r, const char *name);

/* http_json parses the body; aborts the test when it is not JSON. The
 * caller releases the result with json_decref. */
json_t *http_json(const struct http_reply *r);

void http_reply_free(struct http_reply *r);

/* accepted_id returns the new job's id (a malloc'd string) from the reply
 * to a submission, and frees r; aborts the test unless r is 202. */
char *accepted_id(struct http_reply *r);

/* submit_csv posts csv with the query and returns the new job's id (a
 * malloc'd string); aborts the test unless the reply is 202. */
char *submit_csv(const char *query, const char *csv);

/* wait_for_status polls GET /v1/jobs/{id} until the job's status is one of
 * the terminal states or want, or timeout_ms passes; returns the last job
 * JSON (caller releases). */
json_t *wait_for_status(const char *id, const char *want, int timeout_ms);

/* redis_cmd runs a command on the test's own Redis connection; the caller
 * frees the reply. */
redisReply *redis_cmd(const char *fmt, ...);

/* redis_integer sends fmt with arg and returns its integer reply,
 * asserting that it is one. */
long long redis_integer(const char *fmt, const char *arg);

/* redis_count_keys returns how many keys match pattern (via SCAN). */
long redis_count_keys(const char *pattern);

/* harness_csv_rows returns a CSV of one column: "v\n" then rows lines of
 * 16 bytes, NUL-terminated (caller frees); *len (if not NULL) gets its
 * length. rows * 16 bytes of input make jobs of a predictable size. */
char *harness_csv_rows(size_t rows, size_t *len);

/* sleep_ms sleeps that long. */
void sleep_ms(int ms);

/* monotonic_ms returns a monotonic clock in ms. */
long long monotonic_ms(void);

/* ---- Raw sockets ------------------------------------------------------------
 * For tests that must speak HTTP byte by byte (half an upload, a pipelined
 * pair, a slow client), where libcurl would do it right for them. */

/* raw_try_connect connects to 127.0.0.1:port, from source address src
 * (127.0.0.x) when src is not NULL. Returns the socket (the caller closes
 * it), or -1 when connect fails; aborts the test when socket or bind do. */
int raw_try_connect(int port, const char *src);

/* raw_connect connects to the API (harness.api_port); aborts the test when
 * it cannot. Returns the socket (the caller closes it). */
int raw_connect(void);

/* raw_send_some sends len bytes of buf; returns false when the server has
 * closed the connection first. */
bool raw_send_some(int fd, const char *buf, size_t len);

/* raw_send sends len bytes of buf and raw_send_text a string; both abort
 * the test when the send fails. */
void raw_send(int fd, const char *buf, size_t len);
void raw_send_text(int fd, const char *text);

/* raw_csv_head sends the headers of POST /v1/jobs with a text/csv body of
 * content_length bytes (the body is the caller's to send). */
void raw_csv_head(int fd, size_t content_length);

/* raw_read_until_closed reads what the server sends until it closes the
 * connection or timeout_ms passes (at most 64 KiB); returns it
 * NUL-terminated (caller frees). *closed tells which ended it. */
char *raw_read_until_closed(int fd, int timeout_ms, bool *closed);

/* raw_read_reply reads one reply whose headers and Content-Length body
 * arrive within timeout_ms and returns its status, or -1 when the
 * connection closed (or the time ran out) first. */
int raw_read_reply(int fd, int timeout_ms);

/* raw_status_of returns the status of the reply whose status line starts
 * text ("HTTP/1.x NNN ..."), or -1 when text does not start with one. */
int raw_status_of(const char *text);

/* ---- Logs ---------------------------------------------------------------------
 * Each process the harness starts logs to <dir>/<name>.log: "api",
 * "worker0", ..., or the name given to harness_start_api_activated. */

/* harness_log_has tells whether a line of <name>.log matches pattern, a
 * basic regular expression as grep's (false when there is no log). */
bool harness_log_has(const char *name, const char *pattern);

/* harness_log_wait waits up to timeout_ms for a line of <name>.log to
 * match pattern (as harness_log_has); returns true when one did. The
 * processes write some lines after the reply or after a signal, so a test
 * waits for them rather than looking once. */
bool harness_log_wait(const char *name, const char *pattern, int timeout_ms);

/* harness_log_count counts the JSON lines of <name>.log whose "msg" is msg
 * and, when job_id is not NULL, whose "job_id" is job_id. */
int harness_log_count(const char *name, const char *msg, const char *job_id);

/* harness_log_wait_msg waits up to timeout_ms until harness_log_count of
 * the same arguments is above 0; returns true when it was. */
bool harness_log_wait_msg(const char *name, const char *msg, const char *job_id, int timeout_ms);

#endif
