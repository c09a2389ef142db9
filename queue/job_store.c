/*
 * job_store.c — jobq's Redis state: the connection, the script calls, and
 * the reading and writing of jobs (see job_store.h for the contracts and
 * keys.h for the key schema).
 *
 * Layout: connection handling, then script calls, then one section per
 * caller (submission, reading, running).
 */
#include "job_store.h"

#include <hiredis/hiredis.h>
#include <errno.h>
#include <inttypes.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "config.h" /* CONFIG_LIST_MAX: the most queues a claim names */
#include "keys.h"
#include "redis_url.h"
#include "resp.h"
#include "scripts.h"

enum script_id {
	SCRIPT_ENQUEUE,
	SCRIPT_CLAIM,
	SCRIPT_PROGRESS,
	SCRIPT_RENEW,
	SCRIPT_FINISH,
	SCRIPT_REQUEUE,
	SCRIPT_CANCEL,
	SCRIPT_FAIL,
	SCRIPT_RETRY,
	SCRIPT_HEARTBEAT,
	SCRIPT_OVERVIEW,
	SCRIPT_FINISH_NEXT,
	SCRIPT_SCHEMA,
	SCRIPT_DEAD_PAGE,
	SCRIPT_COUNT
};

static const char *const script_names[SCRIPT_COUNT] = {
	"enqueue", "claim", "progress", "renew", "finish", "requeue",
	"cancel",
	"fail", "retry", "heartbeat", "overview", "finish_next",
	"schema", "dead_page",
};

/* Codes the scripts return; see each script's header. */
enum { SCRIPT_REPLY_LOST = 2, SCRIPT_REPLY_CANCEL = 3 };

struct job_store {
	redisContext *ctx;       /* NULL while disconnected */
	struct redis_url url;
	char prefix[65];
	int timeout_ms;
	int result_ttl_s;        /* dead letters: see job_store_config */
	int dead_max;
	int dead_ttl_s;
	int64_t max_queue_depth; /* 0: no limit */
	uint64_t max_input;      /* enqueue.lua's ARGV[3] */
	bool schema_owner;       /* claim the layout at each connection (schema.lua) */
	bool layout_newer;       /* the last refusal: the data is newer, not its readers older */
	uint64_t replies;        /* replies Redis sent so far (job_store_replies) */
	redisReply *input;       /* the last input read, kept for its bytes (job_store_read_input) */
	char sha[SCRIPT_COUNT][41];
	char err[256];
};

/* ======================= Connection ======================= */

struct job_store *job_store_open(const struct job_store_config *cfg, const char **err)
{
	struct job_store *st = calloc(1, sizeof *st);
	if (!st) {
		if (err)
			*err = "out of memory";
		return NULL;
	}
	if (redis_url_parse(cfg->url, &st->url, err) < 0 || !keys_prefix_valid(cfg->prefix)) {
		if (err && keys_prefix_valid(cfg->prefix) == 0)
			*err = "the key prefix must be 1 to 64 bytes of [A-Za-z0-9_.:-]";
		free(st);
		return NULL;
	}
	snprintf(st->prefix, sizeof st->prefix, "%s", cfg->prefix);
	st->timeout_ms = cfg->timeout_ms > 0 ? cfg->timeout_ms : 2000;
	st->result_ttl_s = cfg->result_ttl_s > 0 ? cfg->result_ttl_s : 7 * 86400;
	st->dead_max = cfg->dead_max > 0 ? cfg->dead_max : 10000;
	st->dead_ttl_s = cfg->dead_ttl_s > 0 ? cfg->dead_ttl_s : 30 * 86400;
	st->max_queue_depth = cfg->max_queue_depth > 0 ? cfg->max_queue_depth : 0;
	st->max_input = cfg->max_input > 0 ? cfg->max_input : JOB_STORE_MAX_BULK_DEFAULT;
	st->schema_owner = cfg->schema_owner;
	return st;
}

static void store_disconnect(struct job_store *st)
{
	if (st->ctx) {
		redisFree(st->ctx);
		st->ctx = NULL;
	}
}

void job_store_close(struct job_store *st)
{
	if (!st)
		return;
	store_disconnect(st);
	if (st->input)
		freeReplyObject(st->input);
	free(st);
}

uint64_t job_store_replies(const struct job_store *st)
{
	return st->replies;
}

const char *job_store_prefix(const struct job_store *st)
{
	return st->prefix;
}

const char *job_store_errstr(const struct job_store *st)
{
	return st->err;
}

static struct timeval ms_to_timeval(int64_t ms)
{
	struct timeval tv = {.tv_sec = (time_t)(ms / 1000), .tv_usec = (suseconds_t)(ms % 1000) * 1000};
	return tv;
}

/* store_fail drops the connection after an I/O error and records why. */
static enum job_store_status store_fail(struct job_store *st, const char *what)
{
	snprintf(st->err, sizeof st->err, "redis %s: %s", what,
		 st->ctx && st->ctx->errstr[0] ? st->ctx->errstr : "connection lost");
	store_disconnect(st);
	return JOB_STORE_EUNAVAILABLE;
}

/* store_simple runs one command during connection set-up. Returns 0, or -1
 * with st->err set. The caller drops the connection on -1. */
static int store_simple(struct job_store *st, int argc, const char **argv, redisReply **keep)
{
	redisReply *r = redisCommandArgv(st->ctx, argc, argv, NULL);
	if (!r) {
		snprintf(st->err, sizeof st->err, "redis %s: %s", argv[0], st->ctx->errstr);
		return -1;
	}
	if (r->type == REDIS_REPLY_ERROR) {
		snprintf(st->err, sizeof st->err, "redis %s: %s", argv[0], r->str);
		freeReplyObject(r);
		return -1;
	}
	if (keep)
		*keep = r;
	else
		freeReplyObject(r);
	return 0;
}

/* embedded_source returns the Lua text of the embedded script name, or
 * NULL when it is not built in. */
static const char *embedded_source(const char *name)
{
	for (unsigned i = 0; i < scripts_embedded_len; i++)
		if (strcmp(scripts_embedded[i].name, name) == 0)
			return scripts_embedded[i].source;
	return NULL;
}

/* store_load_scripts loads every embedded script and keeps their SHA1s. */
static int store_load_scripts(struct job_store *st)
{
	for (int id = 0; id < SCRIPT_COUNT; id++) {
		const char *source = embedded_source(script_names[id]);
		if (!source) {
			snprintf(st->err, sizeof st->err, "script %s is not built in",
				 script_names[id]);
			return -1;
		}
		redisReply *r = NULL;
		const char *argv[] = {"SCRIPT", "LOAD", source};
		if (store_simple(st, 3, argv, &r) < 0)
			return -1;
		int ok = r->type == REDIS_REPLY_STRING && r->len == 40;
		if (ok)
			memcpy(st->sha[id], r->str, 41);
		freeReplyObject(r);
		if (!ok) {
			snprintf(st->err, sizeof st->err, "SCRIPT LOAD gave no SHA1");
			return -1;
		}
	}
	return 0;
}

/* schema_answer returns schema.lua's code in r (0, 1 or 2), or -1 when r
 * is not one of its answers. */
static int schema_answer(const redisReply *r)
{
	int code;

	if (r->type != REDIS_REPLY_ARRAY || r->elements < 2 ||
	    r->element[0]->type != REDIS_REPLY_INTEGER)
		return -1;
	code = (int)r->element[0]->integer;
	if (code < 0 || code > 2)
		return -1;
	for (size_t i = 1; i < r->elements; i++)
		if (r->element[i]->type != (code == 2 ? REDIS_REPLY_STRING : REDIS_REPLY_INTEGER))
			return -1;
	return code;
}

/* schema_refusal writes into st->err why schema.lua's answer r, of code
 * 1 or 2, refuses the layout. */
static void schema_refusal(struct job_store *st, const redisReply *r)
{
	size_t len;

	st->layout_newer = r->element[0]->integer == 1;
	if (st->layout_newer) {
		snprintf(st->err, sizeof st->err,
			 "the data under prefix %s has layout version %lld, newer than this "
			 "binary's %d: run a jobq-api at least as new as the workers",
			 st->prefix, r->element[1]->integer, JOB_STORE_SCHEMA);
		return;
	}
	len = (size_t)snprintf(st->err, sizeof st->err,
			       "live workers older than layout version %d would misread the jobs "
			       "this jobq-api writes; upgrade them first:", JOB_STORE_SCHEMA);
	for (size_t i = 1; i < r->elements && len < sizeof st->err; i++)
		len += (size_t)snprintf(st->err + len, sizeof st->err - len, " %s",
					r->element[i]->str);
}

/* store_schema_claim runs schema.lua on st's connection. Returns OK;
 * EREFUSED with st->err saying why (the layout in use is newer than this
 * binary's, or live workers are older); or EUNAVAILABLE / EPROTO when the
 * call itself failed (the caller drops the connection, so that the next
 * one loads the scripts again: NOSCRIPT after a SCRIPT FLUSH). */
static enum job_store_status store_schema_claim(struct job_store *st)
{
	char k_version[KEYS_MAX], k_workers[KEYS_MAX], version[16];
	const char *argv[] = {"EVALSHA", st->sha[SCRIPT_SCHEMA], "2",
			      keys_schema_version(k_version, st->prefix),
			      keys_workers(k_workers, st->prefix), st->prefix, version};
	enum job_store_status s = JOB_STORE_EREFUSED;
	redisReply *r;
	int code;

	snprintf(version, sizeof version, "%d", JOB_STORE_SCHEMA);
	r = redisCommandArgv(st->ctx, 7, argv, NULL);
	if (!r) {
		snprintf(st->err, sizeof st->err, "redis schema: %s", st->ctx->errstr);
		return JOB_STORE_EUNAVAILABLE;
	}
	st->replies++;
	code = schema_answer(r);
	if (code > 0)
		schema_refusal(st, r);
	else if (code == 0)
		s = JOB_STORE_OK;
	else {
		snprintf(st->err, sizeof st->err, "redis schema: %s",
			 r->type == REDIS_REPLY_ERROR ? r->str : "unexpected reply type");
		s = JOB_STORE_EPROTO;
	}
	freeReplyObject(r);
	return s;
}

/* store_handshake authenticates, selects the database, loads scripts and,
 * for a layout owner, claims the layout. Returns OK, EREFUSED (the
 * layout) or another error, with st->err set. */
static enum job_store_status store_handshake(struct job_store *st)
{
	if (st->url.password[0]) {
		const char *with_user[] = {"AUTH", st->url.user, st->url.password};
		const char *without[] = {"AUTH", st->url.password};
		int rc = st->url.user[0] ? store_simple(st, 3, with_user, NULL)
					 : store_simple(st, 2, without, NULL);
		if (rc < 0)
			return JOB_STORE_EUNAVAILABLE;
	}
	if (st->url.db != 0) {
		char db[16];
		snprintf(db, sizeof db, "%d", st->url.db);
		const char *argv[] = {"SELECT", db};
		if (store_simple(st, 2, argv, NULL) < 0)
			return JOB_STORE_EUNAVAILABLE;
	}
	if (store_load_scripts(st) < 0)
		return JOB_STORE_EUNAVAILABLE;
	return st->schema_owner ? store_schema_claim(st) : JOB_STORE_OK;
}

/* store_connect makes sure st has a live connection. */
static enum job_store_status store_connect(struct job_store *st)
{
	if (st->ctx)
		return JOB_STORE_OK;
	struct timeval tv = ms_to_timeval(st->timeout_ms);
	st->ctx = st->url.unix_socket ? redisConnectUnixWithTimeout(st->url.host, tv)
				      : redisConnectWithTimeout(st->url.host, st->url.port, tv);
	if (!st->ctx) {
		snprintf(st->err, sizeof st->err, "redis connect: out of memory");
		return JOB_STORE_ENOMEM;
	}
	if (st->ctx->err)
		return store_fail(st, "connect");
	if (redisSetTimeout(st->ctx, tv) != REDIS_OK)
		return store_fail(st, "set timeout");
	if (!st->url.unix_socket)
		redisEnableKeepAlive(st->ctx);
	enum job_store_status s = store_handshake(st);
	if (s != JOB_STORE_OK)
		store_disconnect(st);
	return s;
}

bool job_store_layout_newer(const struct job_store *st)
{
	return st->layout_newer;
}

enum job_store_status job_store_claim_layout(struct job_store *st)
{
	bool was_connected = st->ctx != NULL;
	enum job_store_status s = store_connect(st);

	/* A new connection of a layout owner has just claimed it. */
	if (s != JOB_STORE_OK || (!was_connected && st->schema_owner))
		return s;
	s = store_schema_claim(st);
	if (s != JOB_STORE_OK && s != JOB_STORE_EREFUSED)
		store_disconnect(st);
	return s;
}

/* store_roundtrip sends one command on st's connection and returns its
 * reply (caller frees), or NULL with *status set: ENOMEM when the command
 * could not be formatted (the connection is kept), else what store_fail
 * says after an I/O error. With lens, the command is formatted by
 * resp_command (hiredis's own formatting costs an sdscatfmt per
 * argument); without, argv holds strings and hiredis formats them. */
static redisReply *store_roundtrip(struct job_store *st, int argc, const char **argv,
				   const size_t *lens, enum job_store_status *status)
{
	redisReply *r = NULL;
	size_t len;
	char *cmd;

	if (lens == NULL) {
		r = redisCommandArgv(st->ctx, argc, argv, NULL);
	} else {
		cmd = resp_command(argc, argv, lens, &len);
		if (cmd == NULL) {
			snprintf(st->err, sizeof st->err, "redis %s: out of memory", argv[0]);
			*status = JOB_STORE_ENOMEM;
			return NULL;
		}
		if (redisAppendFormattedCommand(st->ctx, cmd, len) == REDIS_OK)
			(void)redisGetReply(st->ctx, (void **)&r);
		free(cmd);
	}
	if (r == NULL)
		*status = store_fail(st, argv[0]);
	return r;
}

/* store_command sends one command and returns its reply, which the caller
 * frees with freeReplyObject; NULL after an I/O error (connection dropped,
 * *status set) or when out of memory — an error reply is returned like any
 * other. */
static redisReply *store_command(struct job_store *st, int argc, const char **argv,
				 const size_t *lens, enum job_store_status *status)
{
	*status = store_connect(st);
	if (*status != JOB_STORE_OK)
		return NULL;
	redisReply *r = store_roundtrip(st, argc, argv, lens, status);
	if (!r)
		return NULL;
	st->replies++;
	return r;
}

/* store_read sends a command that changes nothing (a read, PING, a
 * blocking pop of a wake-up token). When a connection that was up turns out
 * to be dead (Redis restarted since the last call), it reconnects and sends
 * it once more: safe because repeating it cannot change anything. Writes are
 * never repeated this way: an APPEND whose reply was lost may have been
 * applied. */
static redisReply *store_read(struct job_store *st, int argc, const char **argv,
			      const size_t *lens, enum job_store_status *status)
{
	bool was_connected = st->ctx != NULL;
	redisReply *r = store_command(st, argc, argv, lens, status);
	if (!r && was_connected && *status == JOB_STORE_EUNAVAILABLE)
		r = store_command(st, argc, argv, lens, status);
	return r;
}

/* store_reply_error turns an error reply into EPROTO with its text; or
 * into EREFUSED when a script refused to act on a newer data layout
 * ("JOBQLAYOUT ...": claim.lua). */
static enum job_store_status store_reply_error(struct job_store *st, redisReply *r, const char *what)
{
	bool layout = r->type == REDIS_REPLY_ERROR && strncmp(r->str, "JOBQLAYOUT ", 11) == 0;

	snprintf(st->err, sizeof st->err, "redis %s: %s", what,
		 r->type == REDIS_REPLY_ERROR ? r->str + (layout ? 11 : 0) : "unexpected reply type");
	return layout ? JOB_STORE_EREFUSED : JOB_STORE_EPROTO;
}

enum job_store_status job_store_ping(struct job_store *st)
{
	enum job_store_status s;
	const char *argv[] = {"PING"};
	redisReply *r = store_read(st, 1, argv, NULL, &s);
	if (!r)
		return s;
	s = r->type == REDIS_REPLY_STATUS ? JOB_STORE_OK : store_reply_error(st, r, "PING");
	freeReplyObject(r);
	return s;
}

/* ======================= Script calls ======================= */

/* Arguments of one EVALSHA call: "EVALSHA sha numkeys keys... args...". */
#define SCRIPT_ARGS_MAX 200

/* The largest call is finish_next.lua's: EVALSHA, sha, numkeys, 3 keys and
 * 4 values (10), nine per attempt, then claim.lua's 11 values and one per
 * queue. */
_Static_assert(10 + 9 * JOB_STORE_BATCH_MAX + 11 + CONFIG_LIST_MAX <= SCRIPT_ARGS_MAX,
	       "SCRIPT_ARGS_MAX cannot hold a finish_next.lua call of a full batch");

/* One script call being built. An argument beyond SCRIPT_ARGS_MAX is not
 * dropped: it sets overflow, and store_eval then refuses the call. */
struct script_call {
	bool overflow;
	int argc;
	const char *argv[SCRIPT_ARGS_MAX];
	size_t lens[SCRIPT_ARGS_MAX];
	char numkeys[8];
	char numbers[SCRIPT_ARGS_MAX][RESP_U64_MAX]; /* storage for arguments that are numbers */
	int nnumbers;
};

static void call_init(struct script_call *c, int nkeys)
{
	c->overflow = false;
	c->argc = 3;
	c->argv[0] = "EVALSHA";
	c->lens[0] = 7;
	snprintf(c->numkeys, sizeof c->numkeys, "%d", nkeys);
	c->argv[2] = c->numkeys;
	c->lens[2] = strlen(c->numkeys);
	c->nnumbers = 0;
}

/* call_bytes appends an argument of n bytes (borrowed until the call), or
 * sets c->overflow when c is full. */
static void call_bytes(struct script_call *c, const char *s, size_t n)
{
	if (c->argc >= SCRIPT_ARGS_MAX) {
		c->overflow = true;
		return;
	}
	c->argv[c->argc] = s;
	c->lens[c->argc++] = n;
}

static void call_str(struct script_call *c, const char *s)
{
	call_bytes(c, s, strlen(s));
}

static void call_u64(struct script_call *c, uint64_t v)
{
	if (c->nnumbers >= SCRIPT_ARGS_MAX) {
		c->overflow = true;
		return;
	}
	char *buf = c->numbers[c->nnumbers++];

	call_bytes(c, buf, resp_u64(buf, v));
}

/* store_eval_argv runs script id with argv (argv[1] is set here to its
 * SHA1), loading the scripts again when Redis has forgotten them (NOSCRIPT
 * after a restart). Returns the reply (caller frees) or NULL with *status
 * set. Error replies other than NOSCRIPT are turned into NULL with EPROTO. */
static redisReply *store_eval_argv(struct job_store *st, enum script_id id, int argc,
				   const char **argv, size_t *lens, enum job_store_status *status)
{
	for (int attempt = 0; attempt < 2; attempt++) {
		*status = store_connect(st);
		if (*status != JOB_STORE_OK)
			return NULL;
		argv[1] = st->sha[id];
		lens[1] = 40;
		redisReply *r = store_command(st, argc, argv, lens, status);
		if (!r)
			return NULL;
		if (r->type != REDIS_REPLY_ERROR)
			return r;
		int noscript = strncmp(r->str, "NOSCRIPT", 8) == 0;
		*status = store_reply_error(st, r, script_names[id]);
		freeReplyObject(r);
		if (!noscript || store_load_scripts(st) < 0)
			return NULL;
	}
	return NULL;
}

/* store_eval is store_eval_argv with the arguments in c; a call that did
 * not fit (c->overflow) is not sent: NULL with *status EPROTO. */
static redisReply *store_eval(struct job_store *st, enum script_id id, struct script_call *c,
			      enum job_store_status *status)
{
	if (c->overflow) {
		snprintf(st->err, sizeof st->err, "%s: more than %d arguments",
			 script_names[id], SCRIPT_ARGS_MAX);
		*status = JOB_STORE_EPROTO;
		return NULL;
	}
	return store_eval_argv(st, id, c->argc, c->argv, c->lens, status);
}

/* store_eval_code runs a script that answers one integer and maps the
 * script's codes (0, 2 lost, 3 cancel) to statuses. */
static enum job_store_status store_eval_code(struct job_store *st, enum script_id id,
					     struct script_call *c)
{
	enum job_store_status s;
	redisReply *r = store_eval(st, id, c, &s);
	if (!r)
		return s;
	if (r->type != REDIS_REPLY_INTEGER)
		s = store_reply_error(st, r, script_names[id]);
	else if (r->integer == SCRIPT_REPLY_LOST)
		s = JOB_STORE_LOST;
	else if (r->integer == SCRIPT_REPLY_CANCEL)
		s = JOB_STORE_CANCEL;
	else
		s = JOB_STORE_OK;
	freeReplyObject(r);
	return s;
}

const char job_store_run_bounds[] =
	"0.005,0.01,0.025,0.05,0.1,0.25,0.5,1,2.5,5,10,30,60,120,300,600,1800,3600";

/* ======================= Submission ======================= */

/* stage_error maps a staging command's error reply r: TOO_LARGE when Redis
 * refused to make the string longer than its proto-max-bulk-len (lowered
 * after the API read it at start; enqueue.lua matches the same words),
 * else EPROTO. Either way with the sentence in st->err. */
static enum job_store_status stage_error(struct job_store *st, redisReply *r, const char *what)
{
	if (strstr(r->str, "maximum allowed size") == NULL)
		return store_reply_error(st, r, what);
	snprintf(st->err, sizeof st->err, "the staged input would be longer than Redis's "
		 "longest string (proto-max-bulk-len): redis %s: %s", what, r->str);
	return JOB_STORE_TOO_LARGE;
}

/* stage_piece writes len bytes into staging piece n of id, at byte at of
 * the piece: SET with the TTL at 0 (the piece's first bytes), else APPEND. */
static enum job_store_status stage_piece(struct job_store *st, const char *id, uint64_t n,
					 uint64_t at, const char *buf, size_t len, int ttl_s)
{
	char key[KEYS_MAX], ttl[16];
	keys_staging_piece(key, st->prefix, id, n);
	snprintf(ttl, sizeof ttl, "%d", ttl_s);
	const char *set_argv[] = {"SET", key, buf, "EX", ttl};
	size_t set_lens[] = {3, strlen(key), len, 2, strlen(ttl)};
	const char *append_argv[] = {"APPEND", key, buf};
	size_t append_lens[] = {6, strlen(key), len};
	enum job_store_status s;
	redisReply *r = at == 0 ? store_command(st, 5, set_argv, set_lens, &s)
				: store_command(st, 3, append_argv, append_lens, &s);
	if (!r)
		return s;
	s = r->type == REDIS_REPLY_ERROR ? stage_error(st, r, at == 0 ? "SET" : "APPEND")
					 : JOB_STORE_OK;
	freeReplyObject(r);
	return s;
}

enum job_store_status job_store_stage_append(struct job_store *st, const char *id,
					     uint64_t offset, const char *buf, size_t len,
					     int ttl_s)
{
	while (len > 0) {
		uint64_t at = offset % JOB_INPUT_PIECE;
		size_t n = JOB_INPUT_PIECE - at < len ? (size_t)(JOB_INPUT_PIECE - at) : len;
		enum job_store_status s = stage_piece(st, id, offset / JOB_INPUT_PIECE, at, buf, n,
						      ttl_s);
		if (s != JOB_STORE_OK)
			return s;
		offset += n, buf += n, len -= n;
	}
	return JOB_STORE_OK;
}

uint64_t job_store_staging_pieces(uint64_t staged)
{
	return (staged + JOB_INPUT_PIECE - 1) / JOB_INPUT_PIECE;
}

/* Arguments of one job in enqueue.lua's ARGV: a group of this many. */
#define ENQUEUE_STRIDE 18

/* Most jobs in one enqueue.lua call: bounds the script's unpack of a
 * queue's ids and how long one call holds Redis. */
#define ENQUEUE_CALL_MAX 256

/* The arguments of a job's group that are numbers (cmd_u64): the bytes
 * staged, the record's TTL and the six of cmd_spec_fields. */
#define ENQUEUE_NUMBERS 8

/* One job's enqueue, ready to send (job_store.h, "Group commit"): its
 * group of enqueue.lua's ARGV, pointing into the command itself (its copy
 * of the spec, its numbers, its record's name), into the borrowed tail and
 * into the borrowed idem's strings. */
struct job_store_enqueue_cmd {
	const char *argv[ENQUEUE_STRIDE];
	size_t lens[ENQUEUE_STRIDE];
	int argc;
	struct job_spec spec;
	char delimiter[1];
	char numbers[ENQUEUE_NUMBERS][RESP_U64_MAX]; /* storage for the arguments that are numbers */
	int nnumbers;
	char idem_key[KEYS_IDEM_MAX];
	struct job_store_idem *idem; /* borrowed, NULL without a key; its job_id is written */
	char err[256];               /* this job's failure in its last batch, "" if none */
};

/* cmd_bytes appends an argument of n bytes (borrowed until the call); one
 * past the group's ENQUEUE_STRIDE marks the command as no whole group. */
static void cmd_bytes(struct job_store_enqueue_cmd *cmd, const char *s, size_t n)
{
	if (cmd->argc >= ENQUEUE_STRIDE) {
		cmd->argc = ENQUEUE_STRIDE + 1;
		return;
	}
	cmd->argv[cmd->argc] = s;
	cmd->lens[cmd->argc++] = n;
}

static void cmd_str(struct job_store_enqueue_cmd *cmd, const char *s)
{
	cmd_bytes(cmd, s, strlen(s));
}

/* cmd_u64 appends a number. One more than ENQUEUE_NUMBERS would write
 * over the record's name that follows (it did once): it is dropped, and
 * job_store_enqueue_cmd_new refuses the command, as call_u64 does. */
static void cmd_u64(struct job_store_enqueue_cmd *cmd, uint64_t v)
{
	char *buf;

	if (cmd->nnumbers >= ENQUEUE_NUMBERS) {
		cmd->argc = ENQUEUE_STRIDE + 1; /* no whole group */
		return;
	}
	buf = cmd->numbers[cmd->nnumbers++];
	cmd_bytes(cmd, buf, resp_u64(buf, v));
}

/* cmd_spec_fields appends the job hash's values, +7 to +17 of the group. */
static void cmd_spec_fields(struct job_store_enqueue_cmd *cmd)
{
	const struct job_spec *sp = &cmd->spec;

	cmd_str(cmd, sp->task);
	cmd_str(cmd, sp->request_id);
	cmd_str(cmd, sp->tenant);
	cmd_bytes(cmd, cmd->delimiter, 1);
	cmd_str(cmd, sp->header ? "1" : "0");
	cmd_u64(cmd, sp->rows);
	cmd_u64(cmd, sp->columns);
	cmd_u64(cmd, sp->bytes);
	cmd_u64(cmd, (uint64_t)sp->created_at_ms);
	cmd_u64(cmd, (uint64_t)sp->max_attempts);
	cmd_u64(cmd, (uint64_t)sp->timeout_s);
}

struct job_store_enqueue_cmd *job_store_enqueue_cmd_new(const struct job_store *st,
							const struct job_spec *spec,
							const char *tail, size_t tail_len,
							uint64_t staged, struct job_store_idem *idem)
{
	struct job_store_enqueue_cmd *cmd = malloc(sizeof *cmd);

	if (cmd == NULL)
		return NULL;
	cmd->argc = 0;
	cmd->nnumbers = 0;
	cmd->spec = *spec;
	cmd->idem = idem;
	cmd->delimiter[0] = (char)cmd->spec.delimiter;
	cmd->idem_key[0] = '\0';
	cmd->err[0] = '\0';
	if (idem != NULL)
		keys_idem(cmd->idem_key, st->prefix, idem->tenant, idem->key);
	cmd_str(cmd, cmd->spec.id);
	cmd_str(cmd, cmd->spec.queue);
	cmd_u64(cmd, staged);
	cmd_bytes(cmd, tail_len ? tail : "", tail_len);
	cmd_str(cmd, cmd->idem_key);
	cmd_str(cmd, idem != NULL ? idem->hash : "");
	cmd_u64(cmd, idem != NULL ? (uint64_t)idem->ttl_s : 0);
	cmd_spec_fields(cmd);
	if (cmd->argc != ENQUEUE_STRIDE) { /* a bug: refused as out of memory is (503) */
		free(cmd);
		return NULL;
	}
	return cmd;
}

const char *job_store_enqueue_cmd_errstr(const struct job_store_enqueue_cmd *cmd)
{
	return cmd->err;
}

bool job_store_enqueue_cmd_wrong_key(const struct job_store_enqueue_cmd *cmd, char *out,
				     size_t cap)
{
	const char *wrong = strstr(cmd->err, "WRONGTYPE");
	const char *key = wrong != NULL ? strstr(wrong, "enqueue: ") : NULL;
	size_t len;

	if (cap > 0)
		out[0] = '\0';
	if (key == NULL)
		return false;
	key += strlen("enqueue: ");
	len = strcspn(key, " ;)");
	/* No end found: the sentence was cut short, and so may the key be. */
	if (len == 0 || len >= cap || key[len] == '\0')
		return false;
	memcpy(out, key, len);
	out[len] = '\0';
	return true;
}

void job_store_enqueue_cmd_free(struct job_store_enqueue_cmd *cmd)
{
	free(cmd);
}

/* enqueue_seen reads the {code, id} answer of a replay or mismatch into
 * cmd's idem, or the {7, why} of a queue key of the wrong type into
 * cmd->err, worded as the batch-wide refusal is (so that
 * job_store_enqueue_cmd_wrong_key finds the key). Returns REPLAYED,
 * MISMATCH, or EPROTO for anything else. */
static enum job_store_status enqueue_seen(struct job_store_enqueue_cmd *cmd, const redisReply *r)
{
	struct job_store_idem *idem = cmd->idem;

	if (r->elements == 2 && r->element[0]->type == REDIS_REPLY_INTEGER &&
	    r->element[0]->integer == 7 && r->element[1]->type == REDIS_REPLY_STRING) {
		snprintf(cmd->err, sizeof cmd->err,
			 "WRONGTYPE (enqueue: %s; nothing of this job was written)",
			 r->element[1]->str);
		return JOB_STORE_EPROTO;
	}

	if (idem != NULL && r->elements == 2 && r->element[0]->type == REDIS_REPLY_INTEGER &&
	    r->element[1]->type == REDIS_REPLY_STRING && r->element[1]->len == JOB_ID_HEX &&
	    (r->element[0]->integer == 3 || r->element[0]->integer == 4)) {
		memcpy(idem->job_id, r->element[1]->str, JOB_ID_HEX + 1);
		return r->element[0]->integer == 3 ? JOB_STORE_REPLAYED : JOB_STORE_MISMATCH;
	}
	snprintf(cmd->err, sizeof cmd->err, "enqueue answered an unexpected array");
	return JOB_STORE_EPROTO;
}

/* enqueue_status maps enqueue.lua's answer r for cmd's job to a status,
 * with the sentence of a failure in cmd->err. */
static enum job_store_status enqueue_status(const struct job_store *st,
					    struct job_store_enqueue_cmd *cmd, const redisReply *r)
{
	char *e = cmd->err;
	size_t cap = sizeof cmd->err;

	if (r->type == REDIS_REPLY_ARRAY)
		return enqueue_seen(cmd, r);
	if (r->type != REDIS_REPLY_INTEGER) {
		snprintf(e, cap, "enqueue answered an unexpected type");
		return JOB_STORE_EPROTO;
	}
	switch (r->integer) {
	case 1:
		return JOB_STORE_OK;
	case 0:
		snprintf(e, cap, "the staged upload expired before it was complete");
		return JOB_STORE_NOT_FOUND;
	case 2:
		snprintf(e, cap, "the queue holds %lld jobs, its limit", (long long)st->max_queue_depth);
		return JOB_STORE_FULL;
	case 5:
		snprintf(e, cap, "redis enqueue: job id already in use");
		return JOB_STORE_EPROTO;
	case 6:
		snprintf(e, cap, "a piece of the input would be longer than Redis's longest "
			 "string (proto-max-bulk-len, %" PRIu64 " bytes when jobq-api started)",
			 st->max_input);
		return JOB_STORE_TOO_LARGE;
	default:
		snprintf(e, cap, "enqueue answered %lld", (long long)r->integer);
		return JOB_STORE_EPROTO;
	}
}

/* The largest input enqueue.lua keeps in the job hash (its ARGV[4]): the
 * same bound as the claim's, so every job whose input lives in the hash
 * gets it with its claim. */
#define ENQUEUE_INLINE_STR(n) #n
#define ENQUEUE_INLINE_ARG(n) ENQUEUE_INLINE_STR(n)
static const char enqueue_inline[] = ENQUEUE_INLINE_ARG(JOB_CLAIM_INLINE);

/* enqueue_argv makes the argument vector of one enqueue.lua call of the n
 * jobs (EVALSHA, SHA1 left for store_eval_argv, no keys, prefix, the three
 * limits, the piece size, then each job's group) in *argv and *lens, one allocation the caller
 * frees with free(*argv). Returns the count, or 0 when out of memory. */
static int enqueue_argv(const struct job_store *st, struct job_store_enqueue_cmd *const *cmds,
			size_t n, const char *depth, const char *bytes, const char *piece,
			const char ***argv, size_t **lens)
{
	size_t argc = 8 + n * ENQUEUE_STRIDE, k = 8;
	void *mem = malloc(argc * (sizeof **argv + sizeof **lens));

	if (mem == NULL)
		return 0;
	*argv = mem;
	*lens = (size_t *)((char *)mem + argc * sizeof **argv);
	(*argv)[0] = "EVALSHA", (*lens)[0] = 7;
	(*argv)[2] = "0", (*lens)[2] = 1;
	(*argv)[3] = st->prefix, (*lens)[3] = strlen(st->prefix);
	(*argv)[4] = depth, (*lens)[4] = strlen(depth);
	(*argv)[5] = bytes, (*lens)[5] = strlen(bytes);
	(*argv)[6] = enqueue_inline, (*lens)[6] = sizeof enqueue_inline - 1;
	(*argv)[7] = piece, (*lens)[7] = strlen(piece);
	for (size_t i = 0; i < n; i++) {
		memcpy(*argv + k, cmds[i]->argv, ENQUEUE_STRIDE * sizeof **argv);
		memcpy(*lens + k, cmds[i]->lens, ENQUEUE_STRIDE * sizeof **lens);
		k += ENQUEUE_STRIDE;
	}
	return (int)argc;
}

/* enqueue_call runs enqueue.lua once for n <= ENQUEUE_CALL_MAX jobs and
 * sets out[i] to job i's status (and its sentence); every job gets the
 * call's status and sentence when the call itself fails. Returns n when
 * Redis answered, else 0. */
static size_t enqueue_call(struct job_store *st, struct job_store_enqueue_cmd *const *cmds,
			   size_t n, enum job_store_status *out)
{
	const char **argv = NULL;
	size_t *lens = NULL;
	char depth[24], bytes[24], piece[24];
	enum job_store_status s = JOB_STORE_ENOMEM;
	redisReply *r = NULL;
	int argc;

	snprintf(depth, sizeof depth, "%" PRId64, st->max_queue_depth);
	snprintf(bytes, sizeof bytes, "%" PRIu64, st->max_input);
	snprintf(piece, sizeof piece, "%llu", (unsigned long long)JOB_INPUT_PIECE);
	argc = enqueue_argv(st, cmds, n, depth, bytes, piece, &argv, &lens);
	if (argc == 0)
		snprintf(st->err, sizeof st->err, "redis enqueue: out of memory");
	else
		r = store_eval_argv(st, SCRIPT_ENQUEUE, argc, argv, lens, &s);
	free(argv);
	if (r != NULL && (r->type != REDIS_REPLY_ARRAY || r->elements != n)) {
		snprintf(st->err, sizeof st->err, "enqueue answered %zu answers for %zu jobs",
			 r->type == REDIS_REPLY_ARRAY ? r->elements : 0, n);
		s = JOB_STORE_EPROTO;
	}
	for (size_t i = 0; i < n; i++) {
		cmds[i]->err[0] = '\0';
		if (s != JOB_STORE_OK)
			snprintf(cmds[i]->err, sizeof cmds[i]->err, "%s", st->err);
		out[i] = s == JOB_STORE_OK ? enqueue_status(st, cmds[i], r->element[i]) : s;
	}
	freeReplyObject(r);
	return r != NULL ? n : 0;
}

size_t job_store_enqueue_batch(struct job_store *st, struct job_store_enqueue_cmd *const *cmds,
			       size_t n, enum job_store_status *out)
{
	size_t answered = 0;

	for (size_t i = 0; i < n; i += ENQUEUE_CALL_MAX) {
		size_t k = n - i < ENQUEUE_CALL_MAX ? n - i : ENQUEUE_CALL_MAX;
		answered += enqueue_call(st, cmds + i, k, out + i);
	}
	return answered;
}

enum job_store_status job_store_enqueue_idem(struct job_store *st, const struct job_spec *spec,
					     const char *tail, size_t tail_len, uint64_t staged,
					     struct job_store_idem *idem)
{
	struct job_store_enqueue_cmd *cmd = job_store_enqueue_cmd_new(st, spec, tail, tail_len,
								      staged, idem);
	enum job_store_status s;

	if (cmd == NULL) {
		snprintf(st->err, sizeof st->err, "out of memory");
		return JOB_STORE_ENOMEM;
	}
	job_store_enqueue_batch(st, &cmd, 1, &s);
	if (s != JOB_STORE_OK) /* its sentence, for job_store_errstr */
		snprintf(st->err, sizeof st->err, "%s", cmd->err);
	job_store_enqueue_cmd_free(cmd);
	return s;
}

enum job_store_status job_store_enqueue(struct job_store *st, const struct job_spec *spec,
					const char *tail, size_t tail_len, uint64_t staged)
{
	return job_store_enqueue_idem(st, spec, tail, tail_len, staged, NULL);
}

/* idem_record_read reads the record at key k (see job_store_idem_lookup).
 * Returns OK, NOT_FOUND when there is none, or an error. */
static enum job_store_status idem_record_read(struct job_store *st, const char *k,
					      char job_id[JOB_ID_HEX + 1], char *hash,
					      size_t hash_cap)
{
	const char *argv[] = {"HMGET", k, "job", "hash"};
	enum job_store_status s;
	redisReply *r = store_read(st, 4, argv, NULL, &s);
	if (!r)
		return s;
	if (r->type != REDIS_REPLY_ARRAY || r->elements != 2)
		s = store_reply_error(st, r, "HMGET");
	else if (r->element[0]->type != REDIS_REPLY_STRING || r->element[0]->len != JOB_ID_HEX ||
		 r->element[1]->type != REDIS_REPLY_STRING)
		s = JOB_STORE_NOT_FOUND;
	else {
		memcpy(job_id, r->element[0]->str, JOB_ID_HEX + 1);
		snprintf(hash, hash_cap, "%s", r->element[1]->str);
		s = JOB_STORE_OK;
	}
	freeReplyObject(r);
	return s;
}

enum job_store_status job_store_idem_lookup(struct job_store *st, const char *tenant,
					    const char *key, char job_id[JOB_ID_HEX + 1],
					    char *hash, size_t hash_cap)
{
	char k_idem[KEYS_IDEM_MAX], k_job[KEYS_MAX];
	enum job_store_status s = idem_record_read(st, keys_idem(k_idem, st->prefix, tenant, key),
						   job_id, hash, hash_cap);
	if (s != JOB_STORE_OK)
		return s;
	const char *argv[] = {"EXISTS", keys_job(k_job, st->prefix, job_id)};
	redisReply *r = store_read(st, 2, argv, NULL, &s);
	if (!r)
		return s;
	if (r->type != REDIS_REPLY_INTEGER)
		s = store_reply_error(st, r, "EXISTS");
	else
		s = r->integer == 1 ? JOB_STORE_OK : JOB_STORE_NOT_FOUND;
	freeReplyObject(r);
	return s;
}

/* Staging pieces job_store_discard_staging frees at once; the rest expire
 * as many a second after, as lib/input.lua's INPUT_EXPIRE_PER_SECOND does
 * for a job's input (README, Performance: one pass of the expire cycle
 * over a whole 1 GiB input held Redis for up to 99 ms, 16 a second 8 ms). */
#define STAGING_FREE_PER_SECOND 16

enum job_store_status job_store_discard_staging(struct job_store *st, const char *id,
						uint64_t pieces)
{
	char key[KEYS_MAX];
	enum job_store_status s = store_connect(st);

	if (s != JOB_STORE_OK)
		return s;
	/* One round trip for the whole upload: the commands are pipelined. */
	for (uint64_t n = 0; n < pieces; n++) {
		uint64_t later = n / STAGING_FREE_PER_SECOND;
		int rc;

		keys_staging_piece(key, st->prefix, id, n);
		rc = later == 0 ? redisAppendCommand(st->ctx, "UNLINK %s", key)
				: redisAppendCommand(st->ctx, "EXPIRE %s %llu", key,
						     (unsigned long long)later);
		if (rc != REDIS_OK)
			return store_fail(st, "UNLINK");
	}
	for (uint64_t n = 0; n < pieces; n++) {
		void *reply = NULL;

		if (redisGetReply(st->ctx, &reply) != REDIS_OK || !reply)
			return store_fail(st, "UNLINK");
		freeReplyObject(reply);
	}
	st->replies++;
	return JOB_STORE_OK;
}

enum job_store_status job_store_max_bulk(struct job_store *st, uint64_t *bytes)
{
	const char *argv[] = {"CONFIG", "GET", "proto-max-bulk-len"};
	enum job_store_status s;
	redisReply *r = store_read(st, 3, argv, NULL, &s);
	char *end = NULL;

	if (!r)
		return s;
	if (r->type == REDIS_REPLY_ARRAY && r->elements == 2 &&
	    r->element[1]->type == REDIS_REPLY_STRING) {
		errno = 0;
		*bytes = strtoull(r->element[1]->str, &end, 10);
		s = errno == 0 && end != r->element[1]->str && *end == '\0' ? JOB_STORE_OK
									    : JOB_STORE_EPROTO;
		if (s != JOB_STORE_OK)
			snprintf(st->err, sizeof st->err, "CONFIG GET answered %s",
				 r->element[1]->str);
	} else {
		s = store_reply_error(st, r, "CONFIG GET proto-max-bulk-len");
	}
	freeReplyObject(r);
	return s;
}

/* ======================= Reading ======================= */

static uint64_t parse_u64(const char *s)
{
	return strtoull(s, NULL, 10);
}

#define COPY_FIELD(dst, src) snprintf((dst), sizeof(dst), "%s", (src))

/* How a hash field's text becomes a member of struct job_record. */
enum record_kind {
	RECORD_STR,    /* char array, truncated to fit */
	RECORD_U64,    /* uint64_t */
	RECORD_I64,    /* int64_t, written unsigned (times in ms) */
	RECORD_INT,    /* int */
	RECORD_FLAG,   /* bool, "1" is true */
	RECORD_DELIM,  /* unsigned char, "" is ',' */
	RECORD_STATUS, /* enum job_status by name */
};

struct record_field {
	const char *name;
	enum record_kind kind;
	size_t off, size; /* of the member in struct job_record */
};

#define RECORD_FIELD(name, kind, member)                                                   \
	{name, kind, offsetof(struct job_record, member), sizeof(((struct job_record *)0)->member)}

/* The one table of the job hash's fields a record holds: job_store_fetch
 * and cancel.lua read these by name with HMGET (not HGETALL: a small
 * job's input and result are fields of the hash too, and a status read
 * has no use for them), and record_from_values sets them. Other fields
 * are not read, so that newer writers do not break older readers. */
static const struct record_field record_fields[] = {
	RECORD_FIELD("id", RECORD_STR, spec.id),
	RECORD_FIELD("status", RECORD_STATUS, status),
	RECORD_FIELD("task", RECORD_STR, spec.task),
	RECORD_FIELD("queue", RECORD_STR, spec.queue),
	RECORD_FIELD("request_id", RECORD_STR, spec.request_id),
	RECORD_FIELD("tenant", RECORD_STR, spec.tenant),
	RECORD_FIELD("delimiter", RECORD_DELIM, spec.delimiter),
	RECORD_FIELD("header", RECORD_FLAG, spec.header),
	RECORD_FIELD("rows", RECORD_U64, spec.rows),
	RECORD_FIELD("columns", RECORD_U64, spec.columns),
	RECORD_FIELD("bytes", RECORD_U64, spec.bytes),
	RECORD_FIELD("created_at", RECORD_I64, spec.created_at_ms),
	RECORD_FIELD("max_attempts", RECORD_INT, spec.max_attempts),
	RECORD_FIELD("timeout", RECORD_INT, spec.timeout_s),
	RECORD_FIELD("attempts", RECORD_INT, attempts),
	RECORD_FIELD("started_at", RECORD_I64, started_at_ms),
	RECORD_FIELD("finished_at", RECORD_I64, finished_at_ms),
	RECORD_FIELD("progress_rows", RECORD_U64, progress_rows),
	RECORD_FIELD("progress_bytes", RECORD_U64, progress_bytes),
	RECORD_FIELD("cancel_requested", RECORD_FLAG, cancel_requested),
	RECORD_FIELD("error_code", RECORD_STR, error_code),
	RECORD_FIELD("error_message", RECORD_STR, error_message),
	RECORD_FIELD("result_type", RECORD_STR, result_type),
	RECORD_FIELD("result_bytes", RECORD_U64, result_bytes),
	RECORD_FIELD("retry_at", RECORD_I64, retry_at_ms),
};
#define RECORD_NFIELDS (sizeof record_fields / sizeof record_fields[0])

/* record_set_field stores the value v (vlen bytes, NUL-terminated) of
 * field f into rec. */
static void record_set_field(struct job_record *rec, const struct record_field *f, const char *v,
			     size_t vlen)
{
	void *at = (char *)rec + f->off;

	switch (f->kind) {
	case RECORD_STR: snprintf(at, f->size, "%s", v); break;
	case RECORD_U64: *(uint64_t *)at = parse_u64(v); break;
	case RECORD_I64: *(int64_t *)at = (int64_t)parse_u64(v); break;
	case RECORD_INT: *(int *)at = atoi(v); break;
	case RECORD_FLAG: *(bool *)at = strcmp(v, "1") == 0; break;
	case RECORD_DELIM: *(unsigned char *)at = vlen ? (unsigned char)v[0] : ','; break;
	case RECORD_STATUS: job_status_parse(v, at); break;
	}
}

/* record_argv appends the names of record_fields to argv and, unless
 * lens is NULL, their lengths to lens (room for RECORD_NFIELDS more): the
 * fields HMGET and cancel.lua read, in the order record_from_values takes
 * their values. */
static void record_argv(const char **argv, size_t *lens)
{
	for (size_t i = 0; i < RECORD_NFIELDS; i++) {
		argv[i] = record_fields[i].name;
		if (lens != NULL)
			lens[i] = strlen(argv[i]);
	}
}

/* call_record_names appends the names of record_fields to c, or sets
 * c->overflow when they do not fit. */
static void call_record_names(struct script_call *c)
{
	if ((size_t)c->argc + RECORD_NFIELDS > SCRIPT_ARGS_MAX) {
		c->overflow = true;
		return;
	}
	record_argv(c->argv + c->argc, c->lens + c->argc);
	c->argc += (int)RECORD_NFIELDS;
}

/* record_from_values fills *rec from r, HMGET's answer for record_fields
 * (a field that is not there is nil). Returns NOT_FOUND when the hash has
 * no id (there is no such job), OK, or EPROTO when r is not that answer. */
static enum job_store_status record_from_values(struct job_store *st, const redisReply *r,
						struct job_record *rec)
{
	if (r->type != REDIS_REPLY_ARRAY || r->elements != RECORD_NFIELDS)
		return store_reply_error(st, (redisReply *)r, "HMGET");
	memset(rec, 0, sizeof *rec);
	rec->spec.delimiter = ',';
	for (size_t i = 0; i < RECORD_NFIELDS; i++)
		if (r->element[i]->type == REDIS_REPLY_STRING)
			record_set_field(rec, &record_fields[i], r->element[i]->str,
					 r->element[i]->len);
	return rec->spec.id[0] == '\0' ? JOB_STORE_NOT_FOUND : JOB_STORE_OK;
}

enum job_store_status job_store_fetch(struct job_store *st, const char *id,
				      struct job_record *rec)
{
	char key[KEYS_MAX];
	const char *argv[2 + RECORD_NFIELDS] = {"HMGET", keys_job(key, st->prefix, id)};
	enum job_store_status s;

	record_argv(argv + 2, NULL);
	redisReply *r = store_read(st, 2 + RECORD_NFIELDS, argv, NULL, &s);
	if (!r)
		return s;
	s = record_from_values(st, r, rec);
	freeReplyObject(r);
	return s;
}

/* store_getrange_reply reads cap (above 0) bytes of key from offset. Returns
 * OK with *reply set to a string reply, which the caller frees with
 * freeReplyObject, or an error with *reply NULL. */
static enum job_store_status store_getrange_reply(struct job_store *st, const char *key,
						  uint64_t offset, size_t cap, redisReply **reply)
{
	char from[24], to[24];
	const char *argv[] = {"GETRANGE", key, from, to};
	enum job_store_status s;

	snprintf(from, sizeof from, "%" PRIu64, offset);
	snprintf(to, sizeof to, "%" PRIu64, offset + cap - 1);
	*reply = store_read(st, 4, argv, NULL, &s);
	if (*reply == NULL || (*reply)->type == REDIS_REPLY_STRING)
		return s;
	s = store_reply_error(st, *reply, "GETRANGE");
	freeReplyObject(*reply);
	*reply = NULL;
	return s;
}

/* store_getrange copies a byte range of key into buf. */
static enum job_store_status store_getrange(struct job_store *st, const char *key,
					    uint64_t offset, char *buf, size_t cap, size_t *n)
{
	redisReply *r;
	enum job_store_status s;

	*n = 0;
	if (cap == 0)
		return JOB_STORE_OK;
	s = store_getrange_reply(st, key, offset, cap, &r);
	if (s != JOB_STORE_OK)
		return s;
	*n = r->len < cap ? r->len : cap;
	memcpy(buf, r->str, *n);
	freeReplyObject(r);
	return JOB_STORE_OK;
}

/* read_result_field copies up to cap bytes from offset of the hash field
 * result of job id into buf. Returns OK with *found set (false: no such
 * field), or an error. */
static enum job_store_status read_result_field(struct job_store *st, const char *id,
					       uint64_t offset, char *buf, size_t cap,
					       size_t *n, bool *found)
{
	char key[KEYS_MAX];
	const char *argv[] = {"HGET", keys_job(key, st->prefix, id), "result"};
	enum job_store_status s;

	*n = 0;
	*found = false;
	redisReply *r = store_read(st, 3, argv, NULL, &s);
	if (!r)
		return s;
	if (r->type == REDIS_REPLY_STRING) {
		*found = true;
		if (offset < r->len) {
			*n = r->len - offset < cap ? r->len - offset : cap;
			memcpy(buf, r->str + offset, *n);
		}
	} else if (r->type != REDIS_REPLY_NIL) {
		s = store_reply_error(st, r, "HGET");
	}
	freeReplyObject(r);
	return s;
}

enum job_store_status job_store_read_result(struct job_store *st, const char *id, uint64_t total,
					    uint64_t offset, char *buf, size_t cap,
					    size_t *n)
{
	char key[KEYS_MAX];
	bool found = false;

	if (total <= JOB_RESULT_INLINE) {
		enum job_store_status s = read_result_field(st, id, offset, buf, cap, n, &found);
		if (s != JOB_STORE_OK || found)
			return s;
	}
	return store_getrange(st, keys_result(key, st->prefix, id), offset, buf, cap, n);
}

/* input_getrange reads up to cap bytes at offset of key into st->input
 * (freeing the last one read) and points *data, *n at them; at "" and 0
 * when the read fails. */
static enum job_store_status input_getrange(struct job_store *st, const char *key,
					    uint64_t offset, size_t cap, const char **data,
					    size_t *n)
{
	enum job_store_status s;

	if (st->input)
		freeReplyObject(st->input);
	st->input = NULL;
	*data = "";
	*n = 0;
	s = store_getrange_reply(st, key, offset, cap, &st->input);
	if (s != JOB_STORE_OK)
		return s;
	*data = st->input->str;
	*n = st->input->len < cap ? st->input->len : cap;
	return JOB_STORE_OK;
}

/* The input is not copied out of its reply, as a result is: a worker reads
 * every byte of a large input once, and a copy of each piece would cost as
 * much as the hiredis reader's own. The reply is kept instead, and freed
 * by the next read. The piece is read first: a job of layout 2 costs one
 * more round trip a read, to a key that is not there. */
enum job_store_status job_store_read_input(struct job_store *st, const char *id,
					   uint64_t offset, size_t cap, const char **data,
					   size_t *n)
{
	char key[KEYS_MAX];
	uint64_t at = offset % JOB_INPUT_PIECE;
	enum job_store_status s;

	*data = "";
	*n = 0;
	if (cap == 0)
		return JOB_STORE_OK;
	if (cap > JOB_INPUT_PIECE - at)
		cap = (size_t)(JOB_INPUT_PIECE - at);
	s = input_getrange(st, keys_input_piece(key, st->prefix, id, offset / JOB_INPUT_PIECE),
			   at, cap, data, n);
	if (s != JOB_STORE_OK || *n > 0)
		return s;
	return input_getrange(st, keys_input(key, st->prefix, id), offset, cap, data, n);
}

/* ======================= Running ======================= */

/* CLAIM_VALUES is how many values claim.lua's reply has per job. */
#define CLAIM_VALUES 11

/* claim_from_reply fills *c from e[0..CLAIM_VALUES-1], one job's values in
 * claim.lua's flat reply. Returns 0, or -1 when they are not a claim. */
static int claim_from_reply(redisReply *const *e, struct job_claim *c)
{
	for (size_t i = 0; i < CLAIM_VALUES - 1; i++)
		if (e[i]->type != REDIS_REPLY_STRING && e[i]->type != REDIS_REPLY_INTEGER)
			return -1;
	memset(c, 0, offsetof(struct job_claim, input));
	COPY_FIELD(c->id, e[0]->str);
	c->token = (uint64_t)e[1]->integer;
	COPY_FIELD(c->task, e[2]->str);
	COPY_FIELD(c->queue, e[3]->str);
	c->delimiter = e[4]->len ? (unsigned char)e[4]->str[0] : ',';
	c->header = strcmp(e[5]->str, "1") == 0;
	c->bytes = parse_u64(e[6]->str);
	COPY_FIELD(c->request_id, e[7]->str);
	c->attempts = (int)e[8]->integer;
	c->deadline_ms = e[9]->integer;
	/* An input that changed size since the enqueue (it cannot) or that
	 * is gone is read from its key instead, and the worker fails the job
	 * input_missing when that key holds fewer than bytes. */
	c->inlined = e[10]->type == REDIS_REPLY_STRING && e[10]->len == c->bytes &&
		     c->bytes <= sizeof c->input;
	if (c->inlined)
		memcpy(c->input, e[10]->str, e[10]->len);
	return 0;
}

/* claims_from_reply fills out with up to max claims from claim.lua's reply
 * r (CLAIM_VALUES values per job). Returns how many, or EPROTO when r is
 * not an array of whole claims. */
static int claims_from_reply(struct job_store *st, const redisReply *r, struct job_claim *out,
			     int max)
{
	int n = 0;
	int64_t now = job_now_ms();

	if (r->type != REDIS_REPLY_ARRAY || r->elements % CLAIM_VALUES != 0)
		return store_reply_error(st, (redisReply *)r, "claim");
	for (size_t i = 0; i < r->elements && n < max; i += CLAIM_VALUES)
		if (claim_from_reply(r->element + i, &out[n]) == 0)
			out[n++].claimed_ms = now;
	return n;
}

/* call_claim_argv appends claim.lua's ARGV for req. */
static void call_claim_argv(struct script_call *c, struct job_store *st,
			    const struct job_store_claim_req *req)
{
	call_str(c, st->prefix);
	call_u64(c, (uint64_t)req->lease_ms);
	call_str(c, req->worker_id);
	call_u64(c, (uint64_t)req->max);
	call_u64(c, (uint64_t)st->result_ttl_s);
	call_u64(c, (uint64_t)st->dead_max);
	call_u64(c, (uint64_t)st->dead_ttl_s);
	call_u64(c, JOB_CLAIM_INLINE);
	call_str(c, req->batch ? req->batch : "");
	call_str(c, req->housekeep ? "1" : "0");
	call_u64(c, JOB_STORE_SCHEMA);
	for (size_t i = 0; i < req->nqueues; i++)
		call_str(c, req->queues[i]);
}

int job_store_claim(struct job_store *st, const char *worker_id,
		    const char *const *queues, size_t nqueues, int lease_ms,
		    struct job_claim *out, int max)
{
	struct job_store_claim_req req = {worker_id, queues, nqueues, lease_ms, max, NULL, true};
	return job_store_claim_with(st, &req, out);
}

int job_store_claim_with(struct job_store *st, const struct job_store_claim_req *req,
			 struct job_claim *out)
{
	char k_running[KEYS_MAX];
	struct script_call c;
	enum job_store_status s;

	call_init(&c, 1);
	call_str(&c, keys_running(k_running, st->prefix));
	call_claim_argv(&c, st, req);
	redisReply *r = store_eval(st, SCRIPT_CLAIM, &c, &s);
	if (!r)
		return s;
	int n = claims_from_reply(st, r, out, req->max);
	freeReplyObject(r);
	return n;
}

/* Most queues one worker blocks on (as many as a queue list holds). */
#define WAIT_QUEUES_MAX 32

enum job_store_status job_store_wait(struct job_store *st, const char *const *queues,
				     size_t nqueues, double timeout_s)
{
	const char *argv[WAIT_QUEUES_MAX + 2];
	char keys[WAIT_QUEUES_MAX][KEYS_MAX], timeout[32];
	int argc = 0;
	argv[argc++] = "BLPOP";
	for (size_t i = 0; i < nqueues && i < WAIT_QUEUES_MAX; i++)
		argv[argc++] = keys_wake(keys[i], st->prefix, queues[i]);
	snprintf(timeout, sizeof timeout, "%.3f", timeout_s);
	argv[argc++] = timeout;
	enum job_store_status s = store_connect(st);
	if (s != JOB_STORE_OK)
		return s;
	/* The socket timeout must outlast the blocking wait. */
	redisSetTimeout(st->ctx, ms_to_timeval((int64_t)(timeout_s * 1000) + st->timeout_ms));
	redisReply *r = store_command(st, argc, argv, NULL, &s);
	if (!r)
		return s;
	s = r->type == REDIS_REPLY_ERROR ? store_reply_error(st, r, "BLPOP") : JOB_STORE_OK;
	freeReplyObject(r);
	if (st->ctx)
		redisSetTimeout(st->ctx, ms_to_timeval(st->timeout_ms));
	return s;
}

enum job_store_status job_store_progress(struct job_store *st, const struct job_claim *cl,
					 uint64_t rows, uint64_t bytes, int lease_ms)
{
	char k_job[KEYS_MAX], k_running[KEYS_MAX];
	struct script_call c;
	call_init(&c, 2);
	call_str(&c, keys_job(k_job, st->prefix, cl->id));
	call_str(&c, keys_running(k_running, st->prefix));
	call_str(&c, cl->id);
	call_u64(&c, cl->token);
	call_u64(&c, rows);
	call_u64(&c, bytes);
	call_u64(&c, (uint64_t)lease_ms);
	return store_eval_code(st, SCRIPT_PROGRESS, &c);
}

/* script_code maps one code of renew.lua's or finish_next.lua's reply to a
 * status. */
static enum job_store_status script_code(const redisReply *e)
{
	if (e->type != REDIS_REPLY_INTEGER)
		return JOB_STORE_EPROTO;
	if (e->integer == SCRIPT_REPLY_LOST)
		return JOB_STORE_LOST;
	return e->integer == SCRIPT_REPLY_CANCEL ? JOB_STORE_CANCEL : JOB_STORE_OK;
}

enum job_store_status job_store_renew(struct job_store *st, const struct job_claim *cl,
				      size_t n, int lease_ms, enum job_store_status *status)
{
	if (n == 0)
		return JOB_STORE_OK;
	char k_running[KEYS_MAX];
	struct script_call c;
	/* Pairs that fit one call: more than any worker runs at once, so this
	 * is one round trip in practice. */
	const size_t per_call = (SCRIPT_ARGS_MAX - 6) / 2;
	enum job_store_status s = JOB_STORE_OK;
	for (size_t done = 0; done < n && s == JOB_STORE_OK;) {
		size_t batch = n - done < per_call ? n - done : per_call;
		call_init(&c, 1);
		call_str(&c, keys_running(k_running, st->prefix));
		call_str(&c, st->prefix);
		call_u64(&c, (uint64_t)lease_ms);
		for (size_t i = 0; i < batch; i++) {
			call_str(&c, cl[done + i].id);
			call_u64(&c, cl[done + i].token);
		}
		redisReply *r = store_eval(st, SCRIPT_RENEW, &c, &s);
		if (!r)
			break;
		if (r->type != REDIS_REPLY_ARRAY || r->elements != batch)
			s = store_reply_error(st, r, "renew");
		for (size_t i = 0; s == JOB_STORE_OK && i < batch; i++)
			status[done + i] = script_code(r->element[i]);
		freeReplyObject(r);
		done += batch;
	}
	return s;
}

/* partial_key names the result an attempt is writing. */
static char *partial_key(char *out, const char *prefix, const struct job_claim *cl)
{
	snprintf(out, KEYS_MAX, "%s:job:%s:partial:%" PRIu64, prefix, cl->id, cl->token);
	return out;
}

/* A partial result outlives a crashed attempt only this long. */
#define PARTIAL_TTL "86400"

enum job_store_status job_store_result_append(struct job_store *st, const struct job_claim *cl,
					      const char *buf, size_t len)
{
	char key[KEYS_MAX];
	partial_key(key, st->prefix, cl);
	const char *append_argv[] = {"APPEND", key, buf};
	size_t append_lens[] = {6, strlen(key), len};
	const char *expire_argv[] = {"EXPIRE", key, PARTIAL_TTL};
	enum job_store_status s = store_connect(st);
	if (s != JOB_STORE_OK)
		return s;
	/* One round trip: APPEND and EXPIRE pipelined. */
	redisAppendCommandArgv(st->ctx, 3, append_argv, append_lens);
	redisAppendCommandArgv(st->ctx, 3, expire_argv, NULL);
	for (int i = 0; i < 2; i++) {
		void *reply = NULL;
		if (redisGetReply(st->ctx, &reply) != REDIS_OK || !reply)
			return store_fail(st, "APPEND");
		redisReply *r = reply;
		if (r->type != REDIS_REPLY_INTEGER && s == JOB_STORE_OK)
			s = store_reply_error(st, r, "APPEND");
		freeReplyObject(r);
	}
	return s;
}

/* finish.lua's KEYS for one attempt. */
struct finish_keys {
	char job[KEYS_MAX], running[KEYS_MAX], finished[KEYS_MAX], duration[KEYS_MAX];
};

/* FINISH_KEYS is how many KEYS finish.lua takes. */
#define FINISH_KEYS 4

/* call_finish_keys appends finish.lua's KEYS for cl, built in k. */
static void call_finish_keys(struct script_call *c, struct job_store *st,
			     const struct job_claim *cl, struct finish_keys *k)
{
	call_str(c, keys_job(k->job, st->prefix, cl->id));
	call_str(c, keys_running(k->running, st->prefix));
	call_str(c, keys_metrics_finished(k->finished, st->prefix));
	call_str(c, keys_metrics_duration(k->duration, st->prefix));
}

/* call_finish_argv appends finish.lua's ARGV (strings borrowed; NULL is ""). */
static void call_finish_argv(struct script_call *c, const struct job_claim *cl,
			     enum job_status status, const char *result_type,
			     const char *error_code, const char *error_message,
			     uint64_t rows, uint64_t bytes, int ttl_s)
{
	call_str(c, cl->id);
	call_u64(c, cl->token);
	call_str(c, job_status_name(status));
	call_u64(c, (uint64_t)ttl_s);
	call_str(c, result_type ? result_type : "");
	call_str(c, error_code ? error_code : "");
	call_str(c, error_message ? error_message : "");
	call_u64(c, rows);
	call_u64(c, bytes);
	call_str(c, job_store_run_bounds);
}

enum job_store_status job_store_finish(struct job_store *st, const struct job_claim *cl,
				       enum job_status status, const char *result_type,
				       const char *error_code, const char *error_message,
				       uint64_t rows, uint64_t bytes, int ttl_s)
{
	struct finish_keys k;
	struct script_call c;

	/* A failure is a dead letter, with its error in the errors list. */
	if (status == JOB_FAILED)
		return job_store_fail(st, cl, error_code, error_message, rows, bytes, -1, ttl_s,
				      NULL);
	call_init(&c, FINISH_KEYS);
	call_finish_keys(&c, st, cl, &k);
	call_finish_argv(&c, cl, status, result_type, error_code, error_message, rows, bytes,
			 ttl_s);
	return store_eval_code(st, SCRIPT_FINISH, &c);
}

/* finish_next_reply reads finish_next.lua's reply { codes, claims } into
 * codes (n entries), out and *claimed. Returns OK or EPROTO. */
static enum job_store_status finish_next_reply(struct job_store *st, redisReply *r, size_t n,
					       enum job_store_status *codes,
					       struct job_claim *out, int max, int *claimed)
{
	if (r->type != REDIS_REPLY_ARRAY || r->elements != 2 ||
	    r->element[0]->type != REDIS_REPLY_ARRAY || r->element[0]->elements != n)
		return store_reply_error(st, r, "finish_next");
	for (size_t i = 0; i < n; i++) {
		const redisReply *e = r->element[0]->element[i];
		if (e->type != REDIS_REPLY_INTEGER)
			return store_reply_error(st, r, "finish_next");
		codes[i] = script_code(e);
	}
	int got = claims_from_reply(st, r->element[1], out, max);
	if (got < 0)
		return (enum job_store_status)got;
	*claimed = got;
	return JOB_STORE_OK;
}

/* call_done_argv appends finish_next.lua's nine values for attempt d,
 * whose run time ends at now (job_now_ms). */
static void call_done_argv(struct script_call *c, const struct job_store_done *d, int64_t now)
{
	int64_t run_ms = now - d->claim->claimed_ms;

	call_str(c, d->claim->id);
	call_u64(c, d->claim->token);
	call_str(c, d->result_type ? d->result_type : "");
	call_u64(c, d->rows);
	call_u64(c, d->bytes);
	call_str(c, d->whole ? "1" : "0");
	call_bytes(c, d->tail_len > 0 ? d->tail : "", d->tail_len);
	call_str(c, d->claim->task);
	call_u64(c, run_ms > 0 ? (uint64_t)run_ms : 0);
}

enum job_store_status job_store_finish_batch(struct job_store *st,
					     const struct job_store_done *done, size_t n,
					     int ttl_s, const struct job_store_claim_req *req,
					     enum job_store_status *codes, struct job_claim *out,
					     int *claimed)
{
	char k_running[KEYS_MAX], k_finished[KEYS_MAX], k_duration[KEYS_MAX];
	struct script_call c;
	enum job_store_status s;

	*claimed = 0;
	if (n > JOB_STORE_BATCH_MAX) {
		snprintf(st->err, sizeof st->err, "finish_next: %zu attempts in one call", n);
		return JOB_STORE_EPROTO;
	}
	call_init(&c, 3);
	call_str(&c, keys_running(k_running, st->prefix));
	call_str(&c, keys_metrics_finished(k_finished, st->prefix));
	call_str(&c, keys_metrics_duration(k_duration, st->prefix));
	call_u64(&c, n);
	call_u64(&c, (uint64_t)ttl_s);
	call_str(&c, job_store_run_bounds);
	call_u64(&c, JOB_RESULT_INLINE);
	int64_t now = job_now_ms();
	for (size_t i = 0; i < n; i++)
		call_done_argv(&c, &done[i], now);
	call_claim_argv(&c, st, req);
	redisReply *r = store_eval(st, SCRIPT_FINISH_NEXT, &c, &s);
	if (!r)
		return s;
	s = finish_next_reply(st, r, n, codes, out, req->max, claimed);
	freeReplyObject(r);
	return s;
}

enum job_store_status job_store_requeue(struct job_store *st, const struct job_claim *cl)
{
	char k_job[KEYS_MAX], k_running[KEYS_MAX], k_queue[KEYS_MAX], k_partial[KEYS_MAX],
		k_wake[KEYS_MAX];
	struct script_call c;
	call_init(&c, 5);
	call_str(&c, keys_job(k_job, st->prefix, cl->id));
	call_str(&c, keys_running(k_running, st->prefix));
	call_str(&c, keys_queue(k_queue, st->prefix, cl->queue));
	call_str(&c, partial_key(k_partial, st->prefix, cl));
	call_str(&c, keys_wake(k_wake, st->prefix, cl->queue));
	call_str(&c, cl->id);
	call_u64(&c, cl->token);
	return store_eval_code(st, SCRIPT_REQUEUE, &c);
}

/* ======================= Cancelling ======================= */

/* Codes of cancel.lua (see its header). */
enum {
	CANCEL_REPLY_DONE = 0,
	CANCEL_REPLY_ALREADY = 1,
	CANCEL_REPLY_REQUESTED = 3,
	CANCEL_REPLY_FINISHED = 4,
	CANCEL_REPLY_NO_JOB = 5,
};

/* cancel_status maps cancel.lua's code to the status job_store_cancel
 * returns. */
static enum job_store_status cancel_status(long long code)
{
	switch (code) {
	case CANCEL_REPLY_DONE:
	case CANCEL_REPLY_ALREADY:
		return JOB_STORE_OK;
	case CANCEL_REPLY_REQUESTED:
		return JOB_STORE_CANCEL;
	case CANCEL_REPLY_FINISHED:
		return JOB_STORE_CONFLICT;
	case CANCEL_REPLY_NO_JOB:
		return JOB_STORE_NOT_FOUND;
	default:
		return JOB_STORE_EPROTO;
	}
}

/* cancel_read_reply turns cancel.lua's { code, values } (the values of
 * record_fields) into a status and *rec. */
static enum job_store_status cancel_read_reply(struct job_store *st, redisReply *r,
					       struct job_record *rec)
{
	enum job_store_status s;

	if (r->type != REDIS_REPLY_ARRAY || r->elements != 2 ||
	    r->element[0]->type != REDIS_REPLY_INTEGER || r->element[1]->type != REDIS_REPLY_ARRAY)
		return store_reply_error(st, r, "cancel");
	s = cancel_status(r->element[0]->integer);
	if (s == JOB_STORE_NOT_FOUND || s == JOB_STORE_EPROTO) {
		memset(rec, 0, sizeof *rec);
		rec->spec.delimiter = ',';
		return s;
	}
	return record_from_values(st, r->element[1], rec) == JOB_STORE_EPROTO ? JOB_STORE_EPROTO : s;
}

enum job_store_status job_store_cancel(struct job_store *st, const char *id, int ttl_s,
				       const char *message, const char *owner,
				       struct job_record *rec)
{
	char k_job[KEYS_MAX], k_input[KEYS_MAX], k_scheduled[KEYS_MAX], channel[KEYS_MAX];
	struct script_call c;
	enum job_store_status s;

	/* {p}:scheduled belongs to the retry work; cancel.lua only removes
	 * the job from it, which is harmless while it does not exist. */
	snprintf(k_scheduled, sizeof k_scheduled, "%s:scheduled", st->prefix);
	call_init(&c, 3);
	call_str(&c, keys_job(k_job, st->prefix, id));
	call_str(&c, keys_input(k_input, st->prefix, id));
	call_str(&c, k_scheduled);
	call_str(&c, st->prefix);
	call_str(&c, id);
	call_u64(&c, (uint64_t)(ttl_s > 0 ? ttl_s : 1));
	call_str(&c, message);
	call_str(&c, keys_cancel_channel(channel, st->prefix));
	call_str(&c, owner);
	call_record_names(&c);
	redisReply *r = store_eval(st, SCRIPT_CANCEL, &c, &s);
	if (!r)
		return s;
	s = cancel_read_reply(st, r, rec);
	freeReplyObject(r);
	return s;
}

/* ======================= Retries and dead letters ======================= */

/* Codes of fail.lua and retry.lua (see their headers). */
enum { FAIL_REPLY_DEAD = 0, FAIL_REPLY_SCHEDULED = 1 };
enum { RETRY_REPLY_QUEUED = 0, RETRY_REPLY_NO_JOB = 1, RETRY_REPLY_NOT_FAILED = 4,
       RETRY_REPLY_INPUT_GONE = 5 };

enum job_store_status job_store_fail(struct job_store *st, const struct job_claim *cl,
				     const char *code, const char *message, uint64_t rows,
				     uint64_t bytes, int64_t retry_delay_ms, int ttl_s,
				     bool *scheduled)
{
	char k_job[KEYS_MAX], k_running[KEYS_MAX], k_partial[KEYS_MAX], k_input[KEYS_MAX],
		k_errors[KEYS_MAX], k_scheduled[KEYS_MAX], k_dead[KEYS_MAX], delay[24],
		k_finished[KEYS_MAX], k_duration[KEYS_MAX];
	struct script_call c;
	enum job_store_status s;

	call_init(&c, 9);
	call_str(&c, keys_job(k_job, st->prefix, cl->id));
	call_str(&c, keys_running(k_running, st->prefix));
	call_str(&c, partial_key(k_partial, st->prefix, cl));
	call_str(&c, keys_input(k_input, st->prefix, cl->id));
	call_str(&c, keys_errors(k_errors, st->prefix, cl->id));
	call_str(&c, keys_scheduled(k_scheduled, st->prefix));
	call_str(&c, keys_dead(k_dead, st->prefix));
	call_str(&c, keys_metrics_finished(k_finished, st->prefix));
	call_str(&c, keys_metrics_duration(k_duration, st->prefix));
	call_str(&c, cl->id);
	call_u64(&c, cl->token);
	call_u64(&c, (uint64_t)(ttl_s > 0 ? ttl_s : 1));
	call_str(&c, code ? code : "");
	call_str(&c, message ? message : "");
	call_u64(&c, rows);
	call_u64(&c, bytes);
	snprintf(delay, sizeof delay, "%" PRId64, retry_delay_ms < 0 ? (int64_t)-1 : retry_delay_ms);
	call_str(&c, delay);
	call_u64(&c, (uint64_t)st->dead_max);
	call_u64(&c, (uint64_t)st->dead_ttl_s);
	call_str(&c, job_store_run_bounds);
	redisReply *r = store_eval(st, SCRIPT_FAIL, &c, &s);
	if (!r)
		return s;
	if (r->type != REDIS_REPLY_INTEGER)
		s = store_reply_error(st, r, "fail");
	else
		s = r->integer == SCRIPT_REPLY_LOST ? JOB_STORE_LOST : JOB_STORE_OK;
	if (s == JOB_STORE_OK && scheduled)
		*scheduled = r->integer == FAIL_REPLY_SCHEDULED;
	freeReplyObject(r);
	return s;
}

/* retry_status maps retry.lua's { code, status } to a status and copies
 * the job's status name into status. */
static enum job_store_status retry_status(struct job_store *st, redisReply *r, char status[16])
{
	if (r->type != REDIS_REPLY_ARRAY || r->elements != 2 ||
	    r->element[0]->type != REDIS_REPLY_INTEGER || r->element[1]->type != REDIS_REPLY_STRING)
		return store_reply_error(st, r, "retry");
	snprintf(status, 16, "%s", r->element[1]->str);
	switch (r->element[0]->integer) {
	case RETRY_REPLY_QUEUED: return JOB_STORE_OK;
	case RETRY_REPLY_NO_JOB: return JOB_STORE_NOT_FOUND;
	case RETRY_REPLY_NOT_FAILED: return JOB_STORE_CONFLICT;
	case RETRY_REPLY_INPUT_GONE: return JOB_STORE_INPUT_GONE;
	default: return store_reply_error(st, r, "retry");
	}
}

enum job_store_status job_store_retry(struct job_store *st, const char *id, const char *owner,
				      char status[16])
{
	char k_job[KEYS_MAX], k_input[KEYS_MAX], k_errors[KEYS_MAX], k_dead[KEYS_MAX],
		k_scheduled[KEYS_MAX];
	struct script_call c;
	enum job_store_status s;

	status[0] = '\0';
	call_init(&c, 5);
	call_str(&c, keys_job(k_job, st->prefix, id));
	call_str(&c, keys_input(k_input, st->prefix, id));
	call_str(&c, keys_errors(k_errors, st->prefix, id));
	call_str(&c, keys_dead(k_dead, st->prefix));
	call_str(&c, keys_scheduled(k_scheduled, st->prefix));
	call_str(&c, st->prefix);
	call_str(&c, id);
	call_str(&c, owner);
	redisReply *r = store_eval(st, SCRIPT_RETRY, &c, &s);
	if (!r)
		return s;
	s = retry_status(st, r, status);
	freeReplyObject(r);
	return s;
}

/* errors_from_reply turns LRANGE's JSON lines into a JSON array; a line
 * that is not JSON (written by hand) is kept as a string. */
static json_t *errors_from_reply(const redisReply *r)
{
	json_t *arr = json_array();

	for (size_t i = 0; arr != NULL && i < r->elements; i++) {
		const redisReply *e = r->element[i];
		json_t *v;
		if (e->type != REDIS_REPLY_STRING)
			continue;
		v = json_loadb(e->str, e->len, JSON_DECODE_ANY, NULL);
		if (v == NULL)
			v = json_stringn(e->str, e->len);
		if (v == NULL || json_array_append_new(arr, v) != 0) {
			json_decref(arr);
			return NULL;
		}
	}
	return arr;
}

enum job_store_status job_store_errors(struct job_store *st, const char *id, json_t **out)
{
	char key[KEYS_MAX];
	const char *argv[] = {"LRANGE", keys_errors(key, st->prefix, id), "0", "-1"};
	enum job_store_status s;
	redisReply *r = store_read(st, 4, argv, NULL, &s);

	*out = NULL;
	if (!r)
		return s;
	if (r->type != REDIS_REPLY_ARRAY) {
		s = store_reply_error(st, r, "LRANGE");
	} else {
		*out = errors_from_reply(r);
		s = *out != NULL ? JOB_STORE_OK : JOB_STORE_ENOMEM;
	}
	freeReplyObject(r);
	return s;
}

/* dead_entry_read fills e from dead_page.lua's pair at page->element[i]
 * (id, then ms: the script passes over anything else). Returns 0, or -1
 * when the pair is not that. */
static int dead_entry_read(const redisReply *page, size_t i, struct job_store_dead_entry *e)
{
	const redisReply *id = page->element[i], *at = page->element[i + 1];
	char *end;
	long long ms;

	if (id->type != REDIS_REPLY_STRING || id->len != JOB_ID_HEX || at->type != REDIS_REPLY_STRING)
		return -1;
	ms = strtoll(at->str, &end, 10);
	if (end == at->str || *end != '\0' || ms < 0)
		return -1;
	memcpy(e->id, id->str, JOB_ID_HEX + 1);
	e->at_ms = (int64_t)ms;
	return 0;
}

/* dead_page_valid tells whether r is dead_page.lua's answer {more, {id,
 * ms, ...}} of at most max pairs. */
static bool dead_page_valid(const redisReply *r, size_t max)
{
	return r->type == REDIS_REPLY_ARRAY && r->elements == 2 &&
	       r->element[0]->type == REDIS_REPLY_INTEGER &&
	       r->element[1]->type == REDIS_REPLY_ARRAY && r->element[1]->elements % 2 == 0 &&
	       r->element[1]->elements / 2 <= max;
}

enum job_store_status job_store_dead(struct job_store *st, const struct job_store_dead_entry *after,
				     struct job_store_dead_entry *out, size_t max, size_t *n,
				     bool *more)
{
	char key[KEYS_MAX];
	struct script_call c;
	enum job_store_status s;
	redisReply *r;

	*n = 0;
	*more = false;
	if (max == 0)
		return JOB_STORE_OK;
	call_init(&c, 1);
	call_str(&c, keys_dead(key, st->prefix));
	call_u64(&c, max);
	if (after != NULL)
		call_u64(&c, (uint64_t)after->at_ms);
	else
		call_str(&c, "");
	call_str(&c, after != NULL ? after->id : "");
	r = store_eval(st, SCRIPT_DEAD_PAGE, &c, &s);
	if (!r)
		return s;
	s = dead_page_valid(r, max) ? JOB_STORE_OK
				    : store_reply_error(st, r, script_names[SCRIPT_DEAD_PAGE]);
	for (size_t i = 0; s == JOB_STORE_OK && i < r->element[1]->elements; i += 2)
		if (dead_entry_read(r->element[1], i, &out[(*n)++]) != 0)
			s = store_reply_error(st, r->element[1]->element[i], "dead_page");
	*more = s == JOB_STORE_OK && r->element[0]->integer == 1;
	freeReplyObject(r);
	return s;
}

enum job_store_status job_store_keep_tenant(struct job_store *st, const char *tenant,
					   struct job_store_dead_entry *entries, size_t *n)
{
	char key[KEYS_MAX];
	size_t kept = 0;
	enum job_store_status s = store_connect(st);

	if (s != JOB_STORE_OK)
		return s;
	/* One round trip for the whole list: the HGETs are pipelined. */
	for (size_t i = 0; i < *n; i++)
		if (redisAppendCommand(st->ctx, "HGET %s tenant",
				       keys_job(key, st->prefix, entries[i].id)) != REDIS_OK)
			return store_fail(st, "HGET");
	for (size_t i = 0; i < *n; i++) {
		void *reply = NULL;
		if (redisGetReply(st->ctx, &reply) != REDIS_OK || !reply)
			return store_fail(st, "HGET");
		redisReply *r = reply;
		if (r->type == REDIS_REPLY_STRING && strcmp(r->str, tenant) == 0)
			memmove(&entries[kept++], &entries[i], sizeof entries[i]);
		else if (r->type == REDIS_REPLY_ERROR && s == JOB_STORE_OK)
			s = store_reply_error(st, r, "HGET");
		freeReplyObject(r);
	}
	st->replies++;
	*n = kept;
	return s;
}

enum job_store_status job_store_pending(struct job_store *st, const char *const *queues,
					size_t n, bool *pending)
{
	char key[KEYS_MAX];
	enum job_store_status s = store_connect(st);

	*pending = false;
	if (s != JOB_STORE_OK)
		return s;
	for (size_t i = 0; i < n; i++)
		if (redisAppendCommand(st->ctx, "LLEN %s", keys_queue(key, st->prefix, queues[i])) !=
		    REDIS_OK)
			return store_fail(st, "LLEN");
	if (redisAppendCommand(st->ctx, "ZCARD %s", keys_running(key, st->prefix)) != REDIS_OK ||
	    redisAppendCommand(st->ctx, "ZCARD %s", keys_scheduled(key, st->prefix)) != REDIS_OK)
		return store_fail(st, "ZCARD");
	for (size_t i = 0; i < n + 2; i++) {
		void *reply = NULL;
		if (redisGetReply(st->ctx, &reply) != REDIS_OK || !reply)
			return store_fail(st, "LLEN");
		redisReply *r = reply;
		if (r->type == REDIS_REPLY_INTEGER && r->integer > 0)
			*pending = true;
		else if (r->type != REDIS_REPLY_INTEGER && s == JOB_STORE_OK)
			s = store_reply_error(st, r, "LLEN");
		freeReplyObject(r);
	}
	st->replies++;
	return s;
}

/* ======================= The worker registry ======================= */

enum job_store_status job_store_heartbeat(struct job_store *st, const struct job_store_worker *w,
					  int64_t ttl_ms, long long *schema)
{
	char k_worker[KEYS_MAX], k_workers[KEYS_MAX], k_version[KEYS_MAX];
	struct script_call c;
	enum job_store_status s;
	redisReply *r;

	call_init(&c, 3);
	call_str(&c, keys_worker(k_worker, st->prefix, w->id));
	call_str(&c, keys_workers(k_workers, st->prefix));
	call_str(&c, keys_schema_version(k_version, st->prefix));
	call_str(&c, w->id);
	call_u64(&c, (uint64_t)w->started_at_ms);
	call_str(&c, w->queues);
	call_u64(&c, (uint64_t)w->concurrency);
	call_u64(&c, (uint64_t)job_now_ms());
	call_u64(&c, (uint64_t)ttl_ms);
	call_u64(&c, JOB_STORE_SCHEMA);
	r = store_eval(st, SCRIPT_HEARTBEAT, &c, &s);
	if (!r)
		return s;
	s = r->type == REDIS_REPLY_INTEGER ? JOB_STORE_OK
					   : store_reply_error(st, r, script_names[SCRIPT_HEARTBEAT]);
	if (s == JOB_STORE_OK)
		*schema = r->integer;
	freeReplyObject(r);
	return s;
}

enum job_store_status job_store_unregister(struct job_store *st, const char *id)
{
	char k_worker[KEYS_MAX], k_workers[KEYS_MAX];
	const char *del[] = {"DEL", keys_worker(k_worker, st->prefix, id)};
	const char *zrem[] = {"ZREM", keys_workers(k_workers, st->prefix), id};
	enum job_store_status s;
	redisReply *r = store_command(st, 2, del, NULL, &s);

	if (!r)
		return s;
	freeReplyObject(r);
	r = store_command(st, 3, zrem, NULL, &s);
	if (!r)
		return s;
	freeReplyObject(r);
	return JOB_STORE_OK;
}

/* overview_arrays turns the empty objects cjson makes of empty Lua tables
 * into arrays: the members named in o, and each element's "running" and
 * "queues". Returns 0, or -1 when out of memory. */
static int overview_arrays(json_t *o, const char *const *names)
{
	for (; *names != NULL; names++) {
		json_t *v = json_object_get(o, *names);
		if (json_is_object(v) && json_object_size(v) == 0 &&
		    json_object_set_new(o, *names, json_array()) != 0)
			return -1;
	}
	return 0;
}

enum job_store_status job_store_overview(struct job_store *st, json_t **out)
{
	static const char *const top[] = {"queues", "workers", NULL};
	static const char *const inner[] = {"queues", "running", NULL};
	char k_queues[KEYS_MAX], k_running[KEYS_MAX], k_sched[KEYS_MAX], k_dead[KEYS_MAX],
		k_workers[KEYS_MAX];
	struct script_call c;
	enum job_store_status s;
	redisReply *r;
	size_t i;
	json_t *w;

	call_init(&c, 5);
	call_str(&c, keys_queues(k_queues, st->prefix));
	call_str(&c, keys_running(k_running, st->prefix));
	call_str(&c, keys_scheduled(k_sched, st->prefix));
	call_str(&c, keys_dead(k_dead, st->prefix));
	call_str(&c, keys_workers(k_workers, st->prefix));
	call_str(&c, st->prefix);
	r = store_eval(st, SCRIPT_OVERVIEW, &c, &s);
	if (!r)
		return s;
	if (r->type != REDIS_REPLY_STRING) {
		s = store_reply_error(st, r, "overview");
		freeReplyObject(r);
		return s;
	}
	*out = json_loadb(r->str, r->len, 0, NULL);
	freeReplyObject(r);
	if (*out == NULL || overview_arrays(*out, top) != 0)
		goto oom;
	json_array_foreach(json_object_get(*out, "workers"), i, w)
		if (overview_arrays(w, inner) != 0)
			goto oom;
	return JOB_STORE_OK;
oom:
	json_decref(*out);
	*out = NULL;
	snprintf(st->err, sizeof st->err, "out of memory (or overview.lua answered bad JSON)");
	return JOB_STORE_ENOMEM;
}

/* ======================= Metrics ======================= */

/* metrics_hash reads hash key with HGETALL into a new object of integers
 * set as member name of out. Returns OK, ENOMEM or an error. */
static enum job_store_status metrics_hash(struct job_store *st, const char *key,
					  const char *name, json_t *out)
{
	const char *argv[] = {"HGETALL", key};
	enum job_store_status s;
	redisReply *r = store_read(st, 2, argv, NULL, &s);
	json_t *h = json_object();

	if (r != NULL && r->type != REDIS_REPLY_ARRAY)
		s = store_reply_error(st, r, "HGETALL");
	else if (r != NULL)
		s = h != NULL ? JOB_STORE_OK : JOB_STORE_ENOMEM;
	for (size_t i = 0; s == JOB_STORE_OK && i + 1 < r->elements; i += 2)
		if (json_object_set_new(h, r->element[i]->str,
					json_integer((json_int_t)parse_u64(r->element[i + 1]->str))) != 0)
			s = JOB_STORE_ENOMEM;
	freeReplyObject(r);
	if (s == JOB_STORE_OK && json_object_set_new(out, name, h) == 0)
		return JOB_STORE_OK;
	if (s == JOB_STORE_OK)
		s = JOB_STORE_ENOMEM;
	json_decref(h);
	return s;
}

enum job_store_status job_store_metrics(struct job_store *st, json_t **out)
{
	char k_finished[KEYS_MAX], k_duration[KEYS_MAX];
	enum job_store_status s = JOB_STORE_ENOMEM;

	*out = json_object();
	if (*out != NULL)
		s = metrics_hash(st, keys_metrics_finished(k_finished, st->prefix), "finished", *out);
	if (s == JOB_STORE_OK)
		s = metrics_hash(st, keys_metrics_duration(k_duration, st->prefix), "duration", *out);
	if (s == JOB_STORE_ENOMEM)
		snprintf(st->err, sizeof st->err, "out of memory");
	if (s != JOB_STORE_OK) {
		json_decref(*out);
		*out = NULL;
	}
	return s;
}
