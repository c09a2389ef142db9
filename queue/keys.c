/* keys.c — builders for the Redis key names of keys.h, and the schema table
 * the README is checked against. */
#include "keys.h"

#include <stdio.h>
#include <string.h>

const struct keys_entry keys_schema[] = {
	{"{p}:job:{id}", "hash", "the job record: status, task, queue, times, progress, error; "
				 "a small input (field input)"},
	{"{p}:job:{id}:input:{n}", "string", "piece n (4 MiB each, the last shorter) of an input not kept in the hash: any staged upload, or one of more than 4 KiB; byte for byte"},
	{"{p}:job:{id}:input", "string", "such an input in one string: a job enqueued before data layout 3"},
	{"{p}:job:{id}:result", "string", "the result of a succeeded job, unless small (field result)"},
	{"{p}:job:{id}:partial:{token}", "string", "a result still being written by attempt {token}"},
	{"{p}:staging:{id}:{n}", "string", "piece n of an upload still streaming in; expires by itself"},
	{"{p}:queue:{name}", "list", "ids of jobs waiting on queue {name}, oldest at the right"},
	{"{p}:queues", "set", "every queue name that ever had a job"},
	{"{p}:running", "zset", "ids of running jobs, scored by lease deadline (ms since epoch)"},
	{"{p}:wake:{name}", "list", "wake-up tokens that unblock idle workers of queue {name}"},
	{"{p}:scheduled", "zset", "ids of jobs waiting to be retried, scored by due time (ms since epoch)"},
	{"{p}:dead", "zset", "ids of jobs that failed for good (dead letters), scored by time of death"},
	{"{p}:job:{id}:errors", "list", "one JSON object per failed attempt, oldest first (the last 20)"},
	{"{p}:cancel", "channel", "pub/sub: ids of running jobs whose cancel was just asked"},
	{"{p}:worker:{id}", "hash", "a live worker: queues, concurrency, heartbeat (TTL)"},
	{"{p}:workers", "zset", "ids of workers, scored by last heartbeat (ms); dead ones pruned when listed"},
	{"{p}:schema_version", "string", "the data layout version of everything under the prefix (jobq-api raises it)"},
	{"{p}:idem:{tenant}:{key}", "hash", "an Idempotency-Key: the job it made and the submission's fingerprint (24 h TTL)"},
	{"{p}:metrics:finished", "hash", "jobs ended, by \"<task>|<status>\" (succeeded, failed, cancelled)"},
	{"{p}:metrics:duration", "hash", "attempt run times by task: \"<task>|<le>\" bucket counts, \"<task>|count\", \"<task>|sum_ms\""},
};
const size_t keys_schema_len = sizeof keys_schema / sizeof keys_schema[0];

char *keys_job(char *out, const char *prefix, const char *id)
{
	snprintf(out, KEYS_MAX, "%s:job:%s", prefix, id);
	return out;
}

char *keys_input(char *out, const char *prefix, const char *id)
{
	snprintf(out, KEYS_MAX, "%s:job:%s:input", prefix, id);
	return out;
}

char *keys_result(char *out, const char *prefix, const char *id)
{
	snprintf(out, KEYS_MAX, "%s:job:%s:result", prefix, id);
	return out;
}

char *keys_input_piece(char *out, const char *prefix, const char *id, unsigned long long n)
{
	snprintf(out, KEYS_MAX, "%s:job:%s:input:%llu", prefix, id, n);
	return out;
}

char *keys_staging_piece(char *out, const char *prefix, const char *id, unsigned long long n)
{
	snprintf(out, KEYS_MAX, "%s:staging:%s:%llu", prefix, id, n);
	return out;
}

char *keys_queue(char *out, const char *prefix, const char *queue)
{
	snprintf(out, KEYS_MAX, "%s:queue:%s", prefix, queue);
	return out;
}

char *keys_wake(char *out, const char *prefix, const char *queue)
{
	snprintf(out, KEYS_MAX, "%s:wake:%s", prefix, queue);
	return out;
}

char *keys_running(char *out, const char *prefix)
{
	snprintf(out, KEYS_MAX, "%s:running", prefix);
	return out;
}

char *keys_queues(char *out, const char *prefix)
{
	snprintf(out, KEYS_MAX, "%s:queues", prefix);
	return out;
}

char *keys_cancel_channel(char *out, const char *prefix)
{
	snprintf(out, KEYS_MAX, "%s:cancel", prefix);
	return out;
}

/* ---- Retries and dead letters ---- */

char *keys_scheduled(char *out, const char *prefix)
{
	snprintf(out, KEYS_MAX, "%s:scheduled", prefix);
	return out;
}

char *keys_dead(char *out, const char *prefix)
{
	snprintf(out, KEYS_MAX, "%s:dead", prefix);
	return out;
}

char *keys_errors(char *out, const char *prefix, const char *id)
{
	snprintf(out, KEYS_MAX, "%s:job:%s:errors", prefix, id);
	return out;
}

/* ---- The worker registry ---- */

char *keys_worker(char *out, const char *prefix, const char *worker_id)
{
	snprintf(out, KEYS_MAX, "%s:worker:%s", prefix, worker_id);
	return out;
}

char *keys_workers(char *out, const char *prefix)
{
	snprintf(out, KEYS_MAX, "%s:workers", prefix);
	return out;
}

bool keys_enqueue_writes(const char *key, const char *prefix, const char *queue)
{
	char k[KEYS_MAX];

	return strcmp(key, keys_queues(k, prefix)) == 0 ||
	       strcmp(key, keys_queue(k, prefix, queue)) == 0 ||
	       strcmp(key, keys_wake(k, prefix, queue)) == 0;
}

char *keys_schema_version(char *out, const char *prefix)
{
	snprintf(out, KEYS_MAX, "%s:schema_version", prefix);
	return out;
}

/* ---- Idempotency keys ---- */

char *keys_idem(char *out, const char *prefix, const char *tenant, const char *key)
{
	snprintf(out, KEYS_IDEM_MAX, "%s:idem:%s:%s", prefix, tenant[0] != '\0' ? tenant : "-", key);
	return out;
}

/* ---- Metrics ---- */

char *keys_metrics_finished(char *out, const char *prefix)
{
	snprintf(out, KEYS_MAX, "%s:metrics:finished", prefix);
	return out;
}

char *keys_metrics_duration(char *out, const char *prefix)
{
	snprintf(out, KEYS_MAX, "%s:metrics:duration", prefix);
	return out;
}

int keys_prefix_valid(const char *prefix)
{
	size_t n = strlen(prefix);
	if (n == 0 || n > 64)
		return 0;
	for (size_t i = 0; i < n; i++) {
		char c = prefix[i];
		if (!((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
		      c == '_' || c == '.' || c == '-' || c == ':'))
			return 0;
	}
	return 1;
}
