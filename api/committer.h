/*
 * committer — group commit of submissions: the enqueues of concurrent
 * requests go to Redis as one script call (one write, one read).
 *
 * Why. Enqueueing on the polling thread costs each request a synchronous
 * round trip, during which the thread serves nobody, and costs Redis one
 * read and one write per job. The committer is one thread with its own
 * job_store (a hiredis context of its own, server.h): a polling thread
 * that has a job ready hands over its already-built enqueue command
 * (job_store_enqueue_cmd, made by upload_commit_prepare) and suspends the
 * connection; the committer takes everything pending at once, sends it with
 * job_store_enqueue_batch, and resumes each connection with its own status.
 * Nothing waits for a batch to fill: while one batch is in Redis the next
 * one gathers, so batches grow with the load and an idle server adds no
 * delay.
 *
 * Guarantees. A batch is one EVALSHA of enqueue.lua, in which each job is
 * atomic on its own and refused (queue full, replay, staging expired) on
 * its own. A submission is answered 202 only when Redis's reply says its
 * job was queued; when the connection is lost mid-batch every job of the
 * batch gets EUNAVAILABLE (503), exactly like one synchronous call that
 * timed out.
 *
 * Entries. A committer_entry belongs to the submission (submit.c), which
 * cannot complete while its connection is suspended: from committer_submit
 * until the connection is resumed, the committer owns the entry's result
 * fields and the submitter does not touch the entry. After resuming a
 * connection the committer never touches its entry again. The
 * libmicrohttpd mutex that guards suspension also orders the committer's
 * writes before the polling thread's reads.
 *
 * Clients that leave are not the committer's business: a client that hung
 * up while its job was being committed is noticed by the submitter on its
 * own thread once resumed (api_server_client_gone), which keeps that
 * system call off the one thread every submission goes through.
 *
 * Shutdown. committer_stop commits every pending entry (each is answered,
 * none is leaked), then refuses further entries: committer_submit then
 * returns -1 and the submitter enqueues on its own thread instead. It must
 * run before the daemon stops, as a suspended connection cannot be closed.
 */
#ifndef JOBQ_API_COMMITTER_H
#define JOBQ_API_COMMITTER_H

#include <microhttpd.h>
#include <stdbool.h>

#include "job_store.h"

/* Most jobs in one batch (one enqueue.lua call): bounds the committer's stack and
 * how long the first command of a batch waits for the last one. */
#define COMMITTER_BATCH_MAX 256

struct committer_entry {
	/* Set by the submitter before committer_submit. */
	struct job_store_enqueue_cmd *cmd;   /* borrowed until the connection is resumed */
	struct MHD_Connection *conn;         /* suspended by committer_submit */
	/* Set by the committer before it resumes conn. */
	enum job_store_status status;        /* as job_store_enqueue would return it; the
					      * job's sentence is cmd's (job_store_enqueue_cmd_errstr) */
	/* The committer's: its list of pending entries. */
	struct committer_entry *next;
};

struct committer;

/* committer_start starts the committer thread with a job_store made from
 * cfg (copied; it connects on the first batch). Returns the committer (end
 * it with committer_stop, then committer_free), or NULL with *err pointing to a static sentence. */
struct committer *committer_start(const struct job_store_config *cfg, const char **err);

/* committer_submit suspends e->conn and queues e for the next batch; the
 * connection is resumed once e's result is set. Call it from the access
 * handler of e->conn. Returns 0, or -1 when the committer is stopping (or
 * c is NULL): then nothing was suspended or queued. Thread-safe. */
int committer_submit(struct committer *c, struct committer_entry *e);

/* committer_stop commits everything pending, resumes those connections
 * and joins the thread; later committer_submit calls return -1. NULL and a
 * second call are allowed. */
void committer_stop(struct committer *c);

/* committer_free frees a stopped committer, once no thread can call
 * committer_submit any more (after the daemon stopped). NULL is allowed. */
void committer_free(struct committer *c);

#endif
