/*
 * committer — group commit of submissions: the enqueues of concurrent
 * requests go to Redis as one script call (one write, one read).
 *
 * Why. Enqueueing on the HTTP thread costs each request a synchronous
 * round trip, during which the thread serves nobody, and costs Redis one
 * read and one write per job. The committer is one thread with its own
 * job_store (a hiredis context of its own, server.h): an HTTP thread that
 * has a job ready hands over its already-built enqueue command
 * (job_store_enqueue_cmd, made by upload_commit_prepare) and waits; the
 * committer takes everything pending at once, sends it with
 * job_store_enqueue_batch, and gives each submitter its own status.
 * Nothing waits for a batch to fill: while one batch is in Redis the next
 * one gathers, so batches grow with the load and an idle server adds no
 * delay.
 *
 * Two ways to wait. Under --threading pool a polling thread serves many
 * connections and must not block: the entry names its connection, which
 * committer_submit suspends and the committer resumes. Under --threading
 * per-connection the thread serves that one connection and simply blocks
 * in committer_wait (a semaphore the committer posts): no suspension, so
 * none of libmicrohttpd's epoll_ctl calls and inter-thread wake-up.
 *
 * Guarantees. A batch is one EVALSHA of enqueue.lua, in which each job is
 * atomic on its own and refused (queue full, replay, staging expired) on
 * its own. A submission is answered 202 only when Redis's reply says its
 * job was queued; when the connection is lost mid-batch every job of the
 * batch gets EUNAVAILABLE (503), exactly like one synchronous call that
 * timed out.
 *
 * Entries. A committer_entry belongs to the submission (submit.c), which
 * cannot complete while it waits: from committer_submit until the
 * committer resumes the connection (or posts the semaphore), the committer
 * owns the entry's result fields and the submitter does not touch them.
 * Afterwards the committer never touches the entry again (a waiter's
 * semaphore post is its last access). The libmicrohttpd mutex that guards
 * suspension, or the semaphore, orders the committer's writes before the
 * submitter's reads.
 *
 * Clients that leave are not the committer's business: a client that hung
 * up while its job was being committed is noticed by the submitter on its
 * own thread (api_server_client_gone), which keeps that system call off
 * the one thread every submission goes through.
 *
 * Shutdown. committer_stop commits every pending entry (each is answered,
 * none is leaked), then refuses further entries: committer_submit then
 * returns -1 and the submitter enqueues on its own thread instead. It must
 * run before the daemon stops, as a suspended connection cannot be closed.
 */
#ifndef JOBQ_API_COMMITTER_H
#define JOBQ_API_COMMITTER_H

#include <microhttpd.h>
#include <semaphore.h>
#include <stdbool.h>

#include "job_store.h"

/* Most jobs in one batch (one enqueue.lua call): bounds the committer's stack and
 * how long the first command of a batch waits for the last one. */
#define COMMITTER_BATCH_MAX 256

struct committer_entry {
	/* Set by the submitter before committer_submit. */
	struct job_store_enqueue_cmd *cmd;   /* borrowed until the connection is resumed */
	struct MHD_Connection *conn;         /* suspended by committer_submit; NULL: committer_wait */
	/* Set by the committer before it resumes conn (or posts done). */
	enum job_store_status status;        /* as job_store_enqueue would return it */
	bool replied;                        /* Redis sent a reply for this command */
	char err[256];                       /* this job's sentence when status is not OK */
	/* The committer's: its list of pending entries, and the waiter's wake-up. */
	struct committer_entry *next;
	sem_t done;                          /* conn NULL: posted once the result is set */
};

struct committer;

/* committer_start starts the committer thread with a job_store made from
 * cfg (copied; it connects on the first batch). Returns the committer (end
 * it with committer_stop, then committer_free), or NULL with *err pointing to a static sentence. */
struct committer *committer_start(const struct job_store_config *cfg, const char **err);

/* committer_submit queues e for the next batch. When e->conn is set it
 * suspends it (call it from that connection's access handler), and resumes
 * it once e's result is set; when e->conn is NULL the caller must call
 * committer_wait(e) next. Returns 0, or -1 when the committer is stopping
 * (or c is NULL): then nothing was suspended or queued and there is
 * nothing to wait for. Thread-safe. */
int committer_submit(struct committer *c, struct committer_entry *e);

/* committer_wait blocks until the committer has set the result of e,
 * which was submitted with e->conn NULL; call it exactly once for each
 * such successful committer_submit. It returns without a deadline of its
 * own: every batch ends within the store's command timeout, and
 * committer_stop answers whatever is still pending. */
void committer_wait(struct committer_entry *e);

/* committer_stop commits everything pending, resumes those connections
 * and joins the thread; later committer_submit calls return -1. NULL and a
 * second call are allowed. */
void committer_stop(struct committer *c);

/* committer_free frees a stopped committer, once no thread can call
 * committer_submit any more (after the daemon stopped). NULL is allowed. */
void committer_free(struct committer *c);

#endif
