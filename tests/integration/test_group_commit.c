/*
 * Integration: group commit (api/committer.h). Concurrent submissions are
 * enqueued in pipelined batches by one committer thread, and every
 * guarantee of one-at-a-time enqueueing still holds: each 202 means the job
 * is in Redis; Redis dying mid-batch turns those submissions into 503
 * (never a 202 without a job) and later ones recover; SIGTERM answers every
 * submission the committer holds before the API exits 0.
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
#include <sys/wait.h>

#include "harness.h"

#define GC_MAX_CLIENTS 20
#define GC_MAX_PER_CLIENT 10

/* One client thread: n submissions in a row on one keep-alive handle. */
struct gc_client {
	pthread_t thread;
	int n;
	long status[GC_MAX_PER_CLIENT];      /* 0: no reply (transport error) */
	char id[GC_MAX_PER_CLIENT][33];      /* the job id of a 202, else "" */
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
	snprintf(c->id[i], sizeof c->id[i], "%s", status == 202 && id != NULL ? id : "");
	snprintf(c->code[i], sizeof c->code[i], "%s", code != NULL ? code : "");
	json_decref(j);
}

static void *gc_client_run(void *arg)
{
	struct gc_client *c = arg;
	char url[128];
	CURL *curl = curl_easy_init();
	struct curl_slist *h = curl_slist_append(NULL, "Content-Type: text/csv");

	snprintf(url, sizeof url, "http://127.0.0.1:%d/v1/jobs", harness.api_port);
	for (int i = 0; curl != NULL && h != NULL && i < c->n; i++) {
		struct gc_buf b = { .len = 0 };
		long status = 0;
		curl_easy_setopt(curl, CURLOPT_URL, url);
		curl_easy_setopt(curl, CURLOPT_HTTPHEADER, h);
		curl_easy_setopt(curl, CURLOPT_POSTFIELDS, "a,b\n1,2\n");
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

/* gc_start starts nclients threads of per submissions each. */
static void gc_start(struct gc_client *cl, int nclients, int per)
{
	memset(cl, 0, sizeof *cl * (size_t)nclients);
	for (int i = 0; i < nclients; i++) {
		cl[i].n = per;
		cr_assert_eq(pthread_create(&cl[i].thread, NULL, gc_client_run, &cl[i]), 0);
	}
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

/* gc_wait_exit waits (bounded) for the API to exit; returns its wait
 * status, or -1 when it is still running after timeout_ms. */
static int gc_wait_exit(int timeout_ms)
{
	int status;

	for (long long end = monotonic_ms() + timeout_ms; monotonic_ms() < end; sleep_ms(20))
		if (waitpid(harness.api_pid, &status, WNOHANG) == harness.api_pid)
			return status;
	return -1;
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
	status = gc_wait_exit(20000);
	if (status != -1)
		harness.api_pid = 0; /* reaped: the teardown must not signal the PID again */
	cr_assert(status != -1 && WIFEXITED(status) && WEXITSTATUS(status) == 0,
		  "jobq-api did not exit 0 after SIGTERM (status %d)", status);
	cr_assert_eq(gc_count(cl, 10, 202), 10, "want ten 202s, got %d (503: %d, none: %d)",
		     gc_count(cl, 10, 202), gc_count(cl, 10, 503), gc_count(cl, 10, 0));
	gc_check_every_202_is_queued(cl, 10, true);
}
