/*
 * keys — the Redis key schema, written once.
 *
 * Every key jobq uses is below, under a prefix (--prefix, default "jobq").
 * The Lua scripts build the same names from the prefix they are given; the
 * README's key table is checked against keys_schema by a test.
 *
 *   {p}:job:{id}              hash    the job record (fields: KEYS_F_*)
 *   {p}:job:{id}:input        string  the uploaded CSV, byte for byte
 *   {p}:job:{id}:result       string  the result of a succeeded job
 *   {p}:job:{id}:partial:{token} string result being written by that attempt
 *   {p}:staging:{id}          string  an upload still streaming (TTL)
 *   {p}:queue:{name}          list    ids waiting, oldest at the right
 *   {p}:queues                set     every queue name ever used
 *   {p}:running               zset    id -> lease deadline (ms since epoch)
 *   {p}:wake:{name}           list    wake-up tokens for blocked workers
 *
 * Ownership of the staging key: the API thread that receives the upload
 * writes it; the enqueue script renames it to the input key; its TTL removes
 * it if the API dies before either.
 */
#ifndef JOBQ_KEYS_H
#define JOBQ_KEYS_H

#include <stddef.h>

/* Longest key name we build: prefix (<= 64) + ":job:" + id + ":partial:" + token. */
#define KEYS_MAX 192

struct keys_entry {
	const char *pattern;     /* e.g. "{p}:job:{id}" */
	const char *type;        /* Redis type */
	const char *description; /* one line */
};

/* keys_schema is the table above as data; keys_schema_len its length. */
extern const struct keys_entry keys_schema[];
extern const size_t keys_schema_len;

/* Each keys_* builder writes a key name into out (KEYS_MAX bytes) and
 * returns out. */
char *keys_job(char *out, const char *prefix, const char *id);
char *keys_input(char *out, const char *prefix, const char *id);
char *keys_result(char *out, const char *prefix, const char *id);
char *keys_staging(char *out, const char *prefix, const char *id);
char *keys_queue(char *out, const char *prefix, const char *queue);
char *keys_wake(char *out, const char *prefix, const char *queue);
char *keys_running(char *out, const char *prefix);
char *keys_queues(char *out, const char *prefix);

/* keys_prefix_valid returns 1 when prefix is 1..64 bytes of [A-Za-z0-9_.-:]. */
int keys_prefix_valid(const char *prefix);

#endif
