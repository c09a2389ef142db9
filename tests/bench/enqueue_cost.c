/*
 * enqueue_cost — enqueues jobs through job_store_enqueue_batch, as the
 * API's committer does, in batches of a fixed size: what enqueue.lua costs
 * Redis per job, for callgrind on redis-server (a committer's batches vary
 * with the load; these do not).
 *
 * usage: enqueue_cost PORT N BATCH BODY_FILE [keyed]
 *
 * Sends N jobs of BODY_FILE's bytes (unstaged, task profile, queue
 * default) to the Redis on 127.0.0.1:PORT under the prefix jobq, BATCH
 * jobs per enqueue.lua call; with "keyed", each with an Idempotency-Key of
 * its own. Exits 1 unless every job was queued. Built with the binaries'
 * libjobq.a, so it runs the enqueue.lua they embed:
 *
 *   cc -std=c11 -O2 -D_GNU_SOURCE -Iqueue -o /tmp/enqueue_cost \
 *      tests/bench/enqueue_cost.c build/libjobq.a \
 *      $(pkg-config --libs hiredis jansson) -lm
 *
 * Under callgrind, run it once to warm Redis up, then zero the counters
 * (callgrind_control -z), run it again and dump (callgrind_control -d):
 * Ir of the dump / N is Redis's instructions per job.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "ids.h"
#include "job.h"
#include "job_store.h"

#define EC_BATCH_MAX 256

/* ec_slurp reads path whole into a malloc'd buffer (the caller frees it)
 * and its length into *n. Returns NULL on error, with a message. */
static char *ec_slurp(const char *path, size_t *n)
{
	FILE *f = fopen(path, "rb");
	char *buf = NULL;
	long len;

	if (f == NULL || fseek(f, 0, SEEK_END) != 0 || (len = ftell(f)) < 0 ||
	    fseek(f, 0, SEEK_SET) != 0 || (buf = malloc((size_t)len + 1)) == NULL ||
	    fread(buf, 1, (size_t)len, f) != (size_t)len) {
		perror(path);
		free(buf);
		buf = NULL;
	}
	if (f != NULL)
		fclose(f);
	*n = buf != NULL ? (size_t)len : 0;
	return buf;
}

/* ec_spec makes the spec of a job of len bytes, as the API would for the
 * bench's 1 KiB CSV (the field values matter only by their length). */
static struct job_spec ec_spec(size_t len)
{
	struct job_spec s = {.delimiter = ',', .header = true, .rows = 23, .columns = 6,
			     .bytes = len, .max_attempts = 3, .timeout_s = 600};

	ids_random_hex(s.id, JOB_ID_HEX / 2);
	ids_random_hex(s.request_id, JOB_ID_HEX / 2);
	snprintf(s.task, sizeof s.task, "profile");
	snprintf(s.queue, sizeof s.queue, "default");
	s.created_at_ms = job_now_ms();
	return s;
}

/* ec_batch enqueues k jobs of body as one batch; the i-th of the run (from
 * first) gets the key "k<i>" when keyed. Returns 0 when all were queued. */
static int ec_batch(struct job_store *st, const char *body, size_t len, size_t first,
		    size_t k, int keyed)
{
	static struct job_spec specs[EC_BATCH_MAX];
	static struct job_store_idem idem[EC_BATCH_MAX];
	static char keys[EC_BATCH_MAX][32];
	struct job_store_enqueue_cmd *cmds[EC_BATCH_MAX] = {NULL};
	enum job_store_status out[EC_BATCH_MAX];
	size_t made = 0, queued = 0;

	for (; made < k; made++) {
		specs[made] = ec_spec(len);
		snprintf(keys[made], sizeof keys[made], "k%zu", first + made);
		idem[made] = (struct job_store_idem){"", keys[made], specs[made].id, 86400, ""};
		cmds[made] = job_store_enqueue_cmd_new(st, &specs[made], body, len, 0,
						       keyed ? &idem[made] : NULL);
		if (cmds[made] == NULL)
			break;
	}
	if (made == k && job_store_enqueue_batch(st, cmds, k, out) == k)
		for (size_t i = 0; i < k; i++)
			queued += out[i] == JOB_STORE_OK;
	for (size_t i = 0; i < made; i++)
		job_store_enqueue_cmd_free(cmds[i]);
	if (queued != k)
		fprintf(stderr, "enqueue_cost: %zu of %zu jobs queued: %s\n", queued, k,
			job_store_errstr(st));
	return queued == k ? 0 : -1;
}

int main(int argc, char **argv)
{
	if (argc < 5 || atoi(argv[3]) < 1 || atoi(argv[3]) > EC_BATCH_MAX) {
		fprintf(stderr, "usage: enqueue_cost PORT N BATCH(1-%d) BODY_FILE [keyed]\n",
			EC_BATCH_MAX);
		return 2;
	}
	char url[64];
	size_t n = strtoul(argv[2], NULL, 10), batch = (size_t)atoi(argv[3]), len;
	char *body = ec_slurp(argv[4], &len);
	int keyed = argc > 5 && strcmp(argv[5], "keyed") == 0, rc = 0;

	snprintf(url, sizeof url, "redis://127.0.0.1:%s/0", argv[1]);
	struct job_store_config cfg = {.url = url, .prefix = "jobq", .timeout_ms = 600000};
	struct job_store *st = body != NULL ? job_store_open(&cfg, NULL) : NULL;
	for (size_t done = 0; st != NULL && rc == 0 && done < n; done += batch)
		rc = ec_batch(st, body, len, done, n - done < batch ? n - done : batch, keyed);
	job_store_close(st);
	free(body);
	return st != NULL && rc == 0 ? 0 : 1;
}
