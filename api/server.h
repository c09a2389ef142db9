/*
 * server — jobq-api's HTTP daemon, its threads, and the requests it serves.
 *
 * Threads. libmicrohttpd runs a pool of --threads polling threads
 * (epoll where the library has it, else poll). Each connection lives on one
 * of them for its whole life, so every callback about a request (access
 * handler, content reader, completion) runs on that one thread. Each such
 * thread gets its own job_store, opened on the thread's first use and
 * closed by a pthread key destructor when the thread exits: a hiredis
 * context belongs to exactly one thread.
 *
 * Shared state. struct api_server is the process's one place of state
 * shared between threads. main fills cfg before the daemon starts; after
 * that everything in it is read-only except the members marked "shared",
 * which are atomics.
 *
 * Requests. The access handler's first call about a request creates a
 * struct api_request (owned by the server), routes it and hands it to the
 * route's handler; later calls (pieces of body, then the end of the body)
 * go to the same handler. At completion the server writes the access log
 * line, counts the request in the metrics (metrics.h), lets the handler
 * release its state through ctx_free, and frees the request.
 *
 * The gate. Before the breaker, gate.h checks the request's API key,
 * operator-only routes and rate limits, and fills req->tenant.
 *
 * Redis outages. Every route but /healthz and /metrics (scrape.h) needs
 * Redis, and asks the process's one circuit breaker (breaker.h) before
 * its handler runs: while
 * the breaker is open the server answers 503 unavailable with Retry-After
 * itself. At completion a request the breaker let through reports how it
 * ended: failed when it answered "unavailable" (the store could not reach
 * Redis), ok when Redis sent this thread's store a reply since the request
 * was admitted, and unknown otherwise (it never reached Redis, e.g. a 400,
 * so it proves nothing; a half-open probe then hands its turn on). Each
 * thread's Redis connection (and the committer's, committer.h, through
 * which submissions enqueue: it sets redis_answered) has cfg.redis_timeout_ms as its connect and
 * command timeout, so a hung Redis costs one request at most that (twice
 * for a read, which reconnects once) until the breaker opens.
 *
 * Socket activation. When main sets inherited_fd (a listening socket a
 * service manager passed, see service.h), the daemon serves it instead of
 * binding cfg.listen. The socket is shared with the manager: quiesce then
 * stops accepting but leaves it listening, so that connections arriving
 * while no API runs wait in its backlog for the next one.
 *
 * Idleness. The server counts open connections and remembers when one was
 * last open; api_server_unused_ms tells main (--exit-when-idle) how long
 * it has had none, and api_server_idle_wait_ms how long it may sleep.
 *
 * Shutdown. api_server_quiesce stops accepting connections and makes every
 * later reply close its connection; api_server_idle tells when nothing is
 * left to wait for (a submission suspended for the committer is in flight);
 * api_server_stop lets the committer answer what it holds, then closes what
 * remains and joins the threads (whose stores are closed on the way out).
 */
#ifndef JOBQ_API_SERVER_H
#define JOBQ_API_SERVER_H

#include <microhttpd.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdint.h>

#include "breaker.h"
#include "committer.h"
#include "config.h"
#include "gate.h"
#include "job.h"
#include "job_store.h"
#include "log.h"
#include "metrics.h"
#include "router.h"

/* Each connection's memory in libmicrohttpd (MHD_OPTION_CONNECTION_MEMORY_LIMIT):
 * it holds the request line, the headers and the read buffer (half of it),
 * and libmicrohttpd zeroes all of it at every request. Its default, 32 KiB,
 * made that memset 29 % of jobq-api's instructions on 1 KiB submissions
 * (callgrind); at 16 KiB a request costs 16 % fewer instructions. The price:
 * a request line and headers of more than about 16 KiB get 431 (README,
 * "Limits and timeouts"), and bodies are read 8 KiB at a time. */
#define SERVER_CONNECTION_MEMORY (16 * 1024)

/* Everything the API is configured with (main's option table fills it). */
struct api_config {
	char redis_url[256];
	struct config_listen listen;
	char prefix[256];
	uint64_t max_upload;      /* most CSV bytes one submission may carry */
	uint64_t max_field;       /* longest CSV field, in bytes */
	int result_ttl_s;         /* how long a job cancelled while queued is kept */
	int threads;              /* libmicrohttpd polling threads */
	int staging_ttl_s;        /* TTL of each staging piece of a half-received upload */
	int shutdown_grace_s;     /* how long requests in flight may finish */
	int max_attempts;         /* a job's attempts when the submission names none */
	int job_timeout_s;        /* a job's timeout when the submission names none */
	int64_t redis_timeout_ms; /* connect and command timeout of each thread's Redis */
	int breaker_threshold;    /* Redis failures in a row that open the breaker */
	int max_queue_depth;      /* ids a queue may hold before submissions get 503; 0: none */
	struct gate_config gate;  /* API keys and rate limits */
	int exit_when_idle_s;     /* exit after this long with no connection; 0: never */
	int max_connections;      /* connections open at once (edge.h) */
	int max_per_ip;           /* connections from one client address; 0: no limit */
	int idle_timeout_s;       /* a connection silent this long is closed */
	int upload_timeout_s;     /* one request's body must end within this */
	int header_timeout_s;     /* a request's headers must arrive within this; 0: no limit */
	enum log_level log_level;
};

struct api_server {
	struct api_config cfg;
	struct job_store_config store_cfg; /* strings point into cfg */
	struct MHD_Daemon *daemon;
	MHD_socket quiesced_fd;            /* listen socket after quiesce, closed after stop */
	pthread_key_t store_key;           /* each polling thread's job_store */
	bool store_key_made;
	int inherited_fd;                  /* socket-activation listen socket, or -1 (main sets it) */
	uint16_t port;                     /* the port bound (the one picked for port 0) */
	char address[128];                 /* what the "listening" line names */
	atomic_uint connections;           /* shared: connections open now */
	atomic_int_fast64_t last_open_ms;  /* shared: monotonic ms a connection was last open */
	atomic_uint in_flight;             /* shared: requests between first call and completion */
	atomic_bool draining;              /* shared: set by quiesce; replies then close */
	struct breaker breaker;            /* shared: guarded by its own mutex (breaker.h) */
	bool breaker_made;
	struct metrics *metrics;           /* shared: lock-free counters (metrics.h) */
	struct gate gate;                  /* shared: keys and buckets, each guarded (gate.h) */
	struct committer *committer;       /* shared: thread-safe (committer.h); NULL before start */
	struct header_deadline *headers;   /* shared: thread-safe (header_deadline.h); NULL when off */
};

/* One HTTP request, from the access handler's first call to completion. */
struct api_request {
	struct api_server *server;         /* not owned */
	struct MHD_Connection *conn;       /* not owned */
	char method[16];
	const char *route;                 /* pattern of the matched route (static), or NULL */
	const struct route *matched;       /* the matched route (static), or NULL */
	route_handler_fn handler;          /* NULL once a reply was queued without one */
	bool started;                      /* the handler has had its first call */
	char id[ROUTER_PARAM_LEN + 1];     /* the route's {id}, "" when none */
	char request_id[JOB_REQUEST_ID_MAX + 1];
	char job_id[JOB_ID_HEX + 1];       /* the job created, "" when none */
	/* The job a 202 queued, for its fields on the access line (borrowed
	 * from the handler's state, which lives until after that line), or NULL. */
	const struct job_spec *queued;
	char tenant[65];                   /* the API key's tenant; "" when auth is off */
	bool is_operator;                  /* the API key is an operator's */
	int64_t start_ns;                  /* monotonic */
	/* Status of the queued reply, 0 while none. Also set, with no reply,
	 * when the server closes the connection on purpose (an upload cut off
	 * while its rejection waited for the body to end). */
	unsigned status;
	const char *error_code;            /* code of an error reply (static), or NULL */
	enum breaker_ticket ticket;        /* what the breaker let through; REFUSED when not asked */
	uint64_t replies_at_admit;         /* job_store_replies of this thread's store then */
	bool redis_answered;               /* Redis replied to the committer about this request */
	bool client_left;                  /* the client hung up while the request was suspended */
	uint64_t bytes_in;                 /* body bytes received */
	uint64_t bytes_out;                /* body bytes of the reply queued */
	bool timeout_shortened;            /* the upload deadline set the connection's timeout */
	/* Handler state: owned by the request, released by ctx_free (called
	 * once, at completion, with the termination code) when set. */
	void *ctx;
	void (*ctx_free)(struct api_request *req, enum MHD_RequestTerminationCode toe);
};

/* api_server_init prepares srv (cfg already filled) before start and checks
 * that a job_store can be made from the Redis URL and prefix, so that later
 * a store that cannot be opened means out of memory. Returns 0, or -1 with
 * *err pointing to a static sentence. Undo with api_server_stop. */
int api_server_init(struct api_server *srv, const char **err);

/* api_server_start starts the daemon on the inherited socket, if any, else
 * on cfg.listen, and logs the "listening" line with the address actually
 * served. Returns 0, or -1 after logging why. The calling
 * thread's signal mask is inherited by the daemon's threads. */
int api_server_start(struct api_server *srv);

/* api_server_store returns the calling thread's job_store, opening it on
 * first use; NULL when out of memory (logged). Only for the daemon's
 * threads: the store is closed when the thread exits. */
struct job_store *api_server_store(struct api_server *srv);

/* api_server_client_gone returns true when the client of req has closed
 * its side of the connection or reset it: a non-blocking peek finds end of
 * file or an error (any bytes, a pipelined request, or none yet mean it is
 * still there). For a submission resumed after the committer answered,
 * whose socket nobody read while it was suspended: libmicrohttpd would
 * write the reply before reading the client's EOF, and the request would
 * look served. Call it on the request's own thread. */
bool api_server_client_gone(const struct api_request *req);

/* api_server_quiesce stops accepting new connections; replies queued from
 * now on carry "Connection: close". */
void api_server_quiesce(struct api_server *srv);

/* api_server_idle returns true when no request is in flight or no
 * connection is open: nothing that a grace period would let finish. */
bool api_server_idle(struct api_server *srv);

/* api_server_unused_ms returns how long the server has had no connection
 * open and no request in flight, in ms (at least 1 then); 0 while it has one. */
int64_t api_server_unused_ms(struct api_server *srv);

/* api_server_idle_wait_ms returns how long main may sleep before an idle
 * exit could be due, given unused_ms (api_server_unused_ms) and the
 * --exit-when-idle span idle_ms: 0 when the exit is due now, what is left
 * of the span while nothing is open, the whole span while something is.
 * The last is safe because the moment of the exit only ever moves later
 * (a connection that closes at some instant sets it to that instant plus
 * the span), so waking at the earliest possible moment is never late, and
 * main needs no wake-up from the connection threads. */
int64_t api_server_idle_wait_ms(int64_t unused_ms, int64_t idle_ms);

/* api_server_stop closes every connection (requests still in flight end
 * with MHD_REQUEST_TERMINATED_DAEMON_SHUTDOWN), joins the threads and
 * releases everything api_server_init and _start made. Safe to call after
 * a failed start. */
void api_server_stop(struct api_server *srv);

#endif
