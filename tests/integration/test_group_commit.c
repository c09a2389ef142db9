/*
 * Integration: group commit (api/committer.h). Concurrent submissions are
 * enqueued in pipelined batches by one committer thread, and every
 * guarantee of one-at-a-time enqueueing still holds: each 202 means the job
 * is in Redis; Redis dying mid-batch turns those submissions into 503
 * (never a 202 without a job) and later ones recover; SIGTERM answers every
 * submission the committer holds before the API exits 0. Idempotency-Key
 * submissions racing through one batch make one job (the others replay it
 * or mismatch), and /metrics counts each submission once, with the status
 * the committer's answer gave it. A client that hangs up while the
 * committer holds its job still gets the job, and is logged 499.
 *
 * Clients run on threads of their own, with their own libcurl handles; they
 * only record what they saw, and the test thread asserts afterwards.
 */
#include <criterion/criterion.h>
#include <curl/curl.h>
#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>

#include "harness.h"

#define GC_MAX_CLIENTS 20
#define GC_MAX_PER_CLIENT 10

/* One client thread: n submissions in a row on one keep-alive handle. */
struct gc_client {
	pthread_t thread;
	int n;
	const char *key;                     /* the Idempotency-Key sent, NULL: none */
	const char *csv;                     /* the body; NULL: a two-column default */
	long status[GC_MAX_PER_CLIENT];      /* 0: no reply (transport error) */
	char id[GC_MAX_PER_CLIENT][33];      /* the job id of a 202 or 200, else "" */
	char code[GC_MAX_PER_CLIENT][32];    /* the error code of another reply */
};

struct gc_buf {
	char data[4096];
	size_t len;
};

static size_t gc_write(char *p, size_t size, size_t n, void *arg)
{
	struct gc_buf *b = arg;
	size_t len = size * n;

	if (len > sizeof b->data - 1 - b->len)
		len = sizeof b->data - 1 - b->len;
	memcpy(b->data + b->len, p, len);
	b->len += len;
	b->data[b->len] = '\0';
	return size * n;
}

/* gc_record keeps what reply i of c said: its status and id or code. */
static void gc_record(struct gc_client *c, int i, long status, const char *body)
{
	json_t *j = json_loads(body, 0, NULL);
	const char *id = json_string_value(json_object_get(j, "id"));
	const char *code = json_string_value(json_object_get(json_object_get(j, "error"), "code"));

	c->status[i] = status;
	snprintf(c->id[i], sizeof c->id[i], "%s",
		 (status == 202 || status == 200) && id != NULL ? id : "");
	snprintf(c->code[i], sizeof c->code[i], "%s", code != NULL ? code : "");
	json_decref(j);
}

static void *gc_client_run(void *arg)
{
	struct gc_client *c = arg;
	char url[128], key[160];
	CURL *curl = curl_easy_init();
	struct curl_slist *h = curl_slist_append(NULL, "Content-Type: text/csv");

	snprintf(url, sizeof url, "http://127.0.0.1:%d/v1/jobs", harness.api_port);
	snprintf(key, sizeof key, "Idempotency-Key: %s", c->key != NULL ? c->key : "");
	if (h != NULL && c->key != NULL)
		h = curl_slist_append(h, key);
	for (int i = 0; curl != NULL && h != NULL && i < c->n; i++) {
		struct gc_buf b = { .len = 0 };
		long status = 0;
		curl_easy_setopt(curl, CURLOPT_URL, url);
		curl_easy_setopt(curl, CURLOPT_HTTPHEADER, h);
		curl_easy_setopt(curl, CURLOPT_POSTFIELDS, c->csv != NULL ? c->csv : "a,b\n1,2\n");
		curl_easy_setopt(curl, CURLOPT_WRITEFUNCTION, gc_write);
		curl_easy_setopt(curl, CURLOPT_WRITEDATA, &b);
		curl_easy_setopt(curl, CURLOPT_TIMEOUT, 30L);
		if (curl_easy_perform(curl) == CURLE_OK)
			curl_easy_getinfo(curl, CURLINFO_RESPONSE_CODE, &status);
		gc_record(c, i, status, b.data);
	}
	curl_slist_free_all(h);
	curl_easy_cleanup(curl);
	return NULL;
}

/* gc_start_keyed starts nclients threads of per submissions each, all
 * with the Idempotency-Key key (NULL: none); client i sends csv[i % 2]
 * (NULL: the default body). */
static void gc_start_keyed(struct gc_client *cl, int nclients, int per, const char *key,
			   const char *const csv[2])
{
	memset(cl, 0, sizeof *cl * (size_t)nclients);
	for (int i = 0; i < nclients; i++) {
		cl[i].n = per;
		cl[i].key = key;
		cl[i].csv = csv != NULL ? csv[i % 2] : NULL;
		cr_assert_eq(pthread_create(&cl[i].thread, NULL, gc_client_run, &cl[i]), 0);
	}
}

/* gc_start starts nclients threads of per plain submissions each. */
static void gc_start(struct gc_client *cl, int nclients, int per)
{
	gc_start_keyed(cl, nclients, per, NULL, NULL);
}

static void gc_join(struct gc_client *cl, int nclients)
{
	for (int i = 0; i < nclients; i++)
		pthread_join(cl[i].thread, NULL);
}

/* gc_job_status returns the status field of job id in Redis ("" when the
 * job does not exist), in out (16 bytes). */
static const char *gc_job_status(const char *id, char *out)
{
	redisReply *r = redis_cmd("HGET jobq:job:%s status", id);

	snprintf(out, 16, "%s", r->type == REDIS_REPLY_STRING ? r->str : "");
	freeReplyObject(r);
	return out;
}

/* gc_check_all_202_in_redis asserts that every one of n clients' replies is
 * a 202 whose job is queued in Redis, with no id twice. */
static void gc_check_every_202_is_queued(struct gc_client *cl, int nclients, bool want_all)
{
	char st[16];

	for (int i = 0; i < nclients; i++)
		for (int k = 0; k < cl[i].n; k++) {
			if (cl[i].status[k] != 202) {
				cr_assert(!want_all, "client %d submission %d: status %ld (%s)", i, k,
					  cl[i].status[k], cl[i].code[k]);
				continue;
			}
			cr_assert_str_eq(gc_job_status(cl[i].id[k], st), "queued",
					 "202 for job %s, which Redis does not have queued", cl[i].id[k]);
		}
}

/* gc_count counts the replies with status. */
static int gc_count(const struct gc_client *cl, int nclients, long status)
{
	int n = 0;

	for (int i = 0; i < nclients; i++)
		for (int k = 0; k < cl[i].n; k++)
			n += cl[i].status[k] == status;
	return n;
}

static long gc_llen(const char *key)
{
	redisReply *r = redis_cmd("LLEN %s", key);
	long n = (long)r->integer;

	freeReplyObject(r);
	return n;
}

static void setup_plain(void)
{
	memset(&harness, 0, sizeof harness);
	harness_start_redis_aof();
	const char *args[] = {"--threads", "2", "--breaker-threshold", "1000", NULL};
	harness_start_api(args);
}

/* teardown wakes a Redis a test left stopped, so that it can be stopped. */
static void teardown(void)
{
	if (harness.redis_pid > 0)
		kill(harness.redis_pid, SIGCONT);
	harness_teardown();
}

TestSuite(group_commit, .init = setup_plain, .fini = teardown, .timeout = 90);

Test(group_commit, two_hundred_concurrent_submissions_all_get_202_and_all_are_queued)
{
	static struct gc_client cl[GC_MAX_CLIENTS];

	gc_start(cl, 20, 10);
	gc_join(cl, 20);
	gc_check_every_202_is_queued(cl, 20, true);
	cr_assert_eq(gc_count(cl, 20, 202), 200);
	cr_assert_eq(gc_llen("jobq:queue:default"), 200, "the queue holds %ld ids, want 200",
		     gc_llen("jobq:queue:default"));
}

/* Redis is stopped before any submission, so none can be acknowledged; it
 * is killed while the committer waits on a batch. */
Test(group_commit, redis_killed_mid_batch_gives_503_never_202_without_a_job_then_recovers)
{
	static struct gc_client cl[GC_MAX_CLIENTS];
	char st[16];

	kill(harness.redis_pid, SIGSTOP);
	gc_start(cl, 10, 1);
	sleep_ms(300); /* bounded: a submission not in the batch yet gets 503 all the same */
	harness_kill_redis();
	gc_join(cl, 10);
	cr_assert_eq(gc_count(cl, 10, 503), 10, "want ten 503s, got %d", gc_count(cl, 10, 503));
	for (int i = 0; i < 10; i++)
		cr_assert_str_eq(cl[i].code[0], "unavailable");
	harness_restart_redis();
	cr_assert_eq(gc_llen("jobq:queue:default"), 0);
	/* Later submissions recover by themselves (the connection is made
	 * again on the next batch). */
	char *id = NULL;
	for (long long end = monotonic_ms() + 10000; id == NULL && monotonic_ms() < end;) {
		id = submit_csv("", "a\n1\n");
		if (id == NULL)
			sleep_ms(100);
	}
	cr_assert_not_null(id, "no submission got 202 after Redis came back");
	cr_assert_str_eq(gc_job_status(id, st), "queued");
	free(id);
}

Test(group_commit, sigterm_answers_every_suspended_submission_then_exits_zero)
{
	static struct gc_client cl[GC_MAX_CLIENTS];
	int status;

	kill(harness.redis_pid, SIGSTOP); /* the submissions wait in the committer */
	gc_start(cl, 10, 1);
	sleep_ms(300);
	kill(harness.api_pid, SIGTERM);
	sleep_ms(200);
	kill(harness.redis_pid, SIGCONT);
	gc_join(cl, 10);
	status = harness_wait_exit(harness.api_pid, 20000);
	if (status != -1)
		harness.api_pid = 0; /* reaped: the teardown must not signal the PID again */
	cr_assert(status != -1 && WIFEXITED(status) && WEXITSTATUS(status) == 0,
		  "jobq-api did not exit 0 after SIGTERM (status %d)", status);
	cr_assert_eq(gc_count(cl, 10, 202), 10, "want ten 202s, got %d (503: %d, none: %d)",
		     gc_count(cl, 10, 202), gc_count(cl, 10, 503), gc_count(cl, 10, 0));
	gc_check_every_202_is_queued(cl, 10, true);
}

/* The client hangs up while Redis is stopped, so while its suspended
 * submission waits for the committer: the job is made all the same, and
 * the request's thread, resumed, finds the client gone (nobody read its
 * socket meanwhile), so the access line says 499 with the 202 it was
 * given. */
Test(group_commit, client_that_leaves_while_its_job_commits_is_logged_499)
{
	const char *csv = "a,b\n1,2\n";
	int fd;

	kill(harness.redis_pid, SIGSTOP);
	fd = raw_connect();
	raw_csv_head(fd, strlen(csv));
	raw_send_text(fd, csv);
	sleep_ms(300);
	shutdown(fd, SHUT_RDWR);
	close(fd);
	kill(harness.redis_pid, SIGCONT);
	cr_assert(harness_log_wait("api", "\"status\":499,.*\"reply_status\":202", 10000),
		  "no 499 access line saying the job was given its 202");
	cr_assert_eq(gc_llen("jobq:queue:default"), 1, "the job of a client that left is not queued");
}

/* Twenty submissions with one key, half with one CSV and half with
 * another, reach the committer together: one makes the job; those with the
 * winner's CSV replay it (200), the others mismatch (422). Submissions that
 * start after the key is recorded take the replay path on their own thread;
 * the outcome must be the same. */
Test(group_commit, one_idempotency_key_racing_through_a_batch_makes_one_job)
{
	static struct gc_client cl[GC_MAX_CLIENTS];
	const char *const csv[2] = {"a,b\n1,2\n", "a,b\n3,4\n"};
	int winner = -1;

	gc_start_keyed(cl, 20, 1, "gc-race-1", csv);
	gc_join(cl, 20);
	cr_assert_eq(gc_count(cl, 20, 202), 1, "want one 202, got %d", gc_count(cl, 20, 202));
	for (int i = 0; i < 20; i++)
		if (cl[i].status[0] == 202)
			winner = i;
	for (int i = 0; i < 20; i++) {
		if (i == winner)
			continue;
		if (i % 2 == winner % 2) {
			cr_assert_eq(cl[i].status[0], 200, "client %d (same CSV): %ld %s", i,
				     cl[i].status[0], cl[i].code[0]);
			cr_assert_str_eq(cl[i].id[0], cl[winner].id[0]);
		} else {
			cr_assert_eq(cl[i].status[0], 422, "client %d (other CSV): %ld", i,
				     cl[i].status[0]);
			cr_assert_str_eq(cl[i].code[0], "idempotency_mismatch");
		}
	}
	cr_assert_eq(gc_llen("jobq:queue:default"), 1);
	cr_assert_eq(redis_count_keys("jobq:staging:*"), 0, "a replay left its staging key");
}

/* gc_sample returns the value of the sample line of page that starts with
 * sample (name and labels, as printed), or -1 when there is none. */
static long gc_sample(const char *page, const char *sample)
{
	size_t n = strlen(sample);
	long v = -1;

	for (const char *p = page; p != NULL && *p != '\0'; p = strchr(p, '\n'), p = p ? p + 1 : p)
		if (strncmp(p, sample, n) == 0 && p[n] == ' ')
			v = strtol(p + n + 1, NULL, 10);
	return v;
}

/* Scrapes of /metrics that could not read Redis so far (the page says
 * jobq_redis_scrape_ok 0): each is a Redis error on the page too. */
static long gc_scrape_failures;

/* gc_metric returns sample's value on the /metrics page (-1: absent),
 * counting the page in gc_scrape_failures when it could not read Redis. */
static long gc_metric(const char *sample)
{
	struct http_reply r = http_get("/metrics");
	long v;

	cr_assert_eq(r.status, 200, "GET /metrics: %ld", r.status);
	v = gc_sample(r.body, sample);
	gc_scrape_failures += gc_sample(r.body, "jobq_redis_scrape_ok") == 0;
	http_reply_free(&r);
	return v;
}

/* gc_expect_metric waits (bounded: requests are counted as they complete,
 * just after their reply) until sample reads want, and asserts it does. */
static void gc_expect_metric(const char *sample, long want)
{
	long v = gc_metric(sample);

	for (long long end = monotonic_ms() + 10000; v != want && monotonic_ms() < end; sleep_ms(50))
		v = gc_metric(sample);
	cr_assert_eq(v, want, "%s is %ld, want %ld", sample, v, want);
}

/* gc_expect_redis_errors waits (bounded) until jobq_redis_errors_total
 * reads want plus the scrapes that failed to read Redis so far (a polling
 * thread's connection to a Redis that was killed fails once), and asserts
 * it does. */
static void gc_expect_redis_errors(long want)
{
	long v = gc_metric("jobq_redis_errors_total");

	for (long long end = monotonic_ms() + 10000;
	     v != want + gc_scrape_failures && monotonic_ms() < end; sleep_ms(50))
		v = gc_metric("jobq_redis_errors_total");
	cr_assert_eq(v, want + gc_scrape_failures,
		     "jobq_redis_errors_total is %ld, want %ld and %ld failed scrapes", v, want,
		     gc_scrape_failures);
}

/* Each submission the committer answers is counted once, with the status
 * and reason of that answer: accepted ones as submitted and 202, refused
 * ones (Redis gone mid-batch) as rejected, unavailable, 503 and a Redis
 * error. /metrics is read once Redis is back; the scrapes that still
 * failed to read it are Redis errors too, and are counted. */
Test(group_commit, metrics_count_each_committed_submission_once_with_its_answer)
{
	static struct gc_client cl[GC_MAX_CLIENTS];

	gc_start(cl, 10, 5);
	gc_join(cl, 10);
	cr_assert_eq(gc_count(cl, 10, 202), 50);
	gc_expect_metric("jobq_jobs_submitted_total{queue=\"default\",task=\"profile\"}", 50);
	gc_expect_metric("jobq_http_requests_total{route=\"/v1/jobs\",method=\"POST\",code=\"202\"}",
			 50);
	kill(harness.redis_pid, SIGSTOP);
	gc_start(cl, 5, 1);
	sleep_ms(300); /* bounded: a submission not in the batch yet gets 503 all the same */
	harness_kill_redis();
	gc_join(cl, 5);
	cr_assert_eq(gc_count(cl, 5, 503), 5);
	harness_restart_redis();
	gc_expect_metric("jobq_jobs_rejected_total{reason=\"unavailable\"}", 5);
	gc_expect_metric("jobq_http_requests_total{route=\"/v1/jobs\",method=\"POST\",code=\"503\"}",
			 5);
	gc_expect_redis_errors(5);
	gc_expect_metric("jobq_jobs_submitted_total{queue=\"default\",task=\"profile\"}", 50);
}

/* gc_restart_idle replaces the suite's API with one that exits after 1 s
 * without connections, with a Redis timeout long enough for a stopped
 * Redis to be woken first. */
static void gc_restart_idle(void)
{
	const char *args[] = {"--threads", "2", "--exit-when-idle", "1", "--redis-timeout", "20s",
			      NULL};
	int status;

	kill(harness.api_pid, SIGTERM);
	status = harness_wait_exit(harness.api_pid, 20000);
	cr_assert(status != -1 && WIFEXITED(status) && WEXITSTATUS(status) == 0,
		  "the suite's jobq-api did not exit 0 on SIGTERM (status %d)", status);
	harness.api_pid = 0;
	harness_start_api_activated(-1, "api-idle", args);
}

/* --exit-when-idle: a submission the committer holds keeps its connection
 * open and is in flight, so the API does not count as idle; once every one
 * is answered, it exits 0 by itself. */
Test(group_commit, exit_when_idle_waits_for_submissions_the_committer_holds)
{
	static struct gc_client cl[GC_MAX_CLIENTS];
	int status;

	gc_restart_idle();
	kill(harness.redis_pid, SIGSTOP); /* the submissions wait in the committer */
	gc_start(cl, 5, 1);
	cr_assert_eq(harness_wait_exit(harness.api_pid, 2500), -1, "the API exited while the committer held submissions");
	kill(harness.redis_pid, SIGCONT);
	gc_join(cl, 5);
	cr_assert_eq(gc_count(cl, 5, 202), 5, "want five 202s, got %d (503: %d, none: %d)",
		     gc_count(cl, 5, 202), gc_count(cl, 5, 503), gc_count(cl, 5, 0));
	gc_check_every_202_is_queued(cl, 5, true);
	status = harness_wait_exit(harness.api_pid, 20000);
	if (status != -1)
		harness.api_pid = 0; /* reaped: the teardown must not signal the PID again */
	cr_assert(status != -1 && WIFEXITED(status) && WEXITSTATUS(status) == 0,
		  "the idle jobq-api did not exit 0 (status %d)", status);
}
