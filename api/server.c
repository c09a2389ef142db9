/*
 * server.c — the libmicrohttpd daemon, per-thread stores, the request
 * lifecycle and the access log (see server.h).
 */
#include "server.h"

#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include "edge.h"
#include "handlers.h"
#include "header_deadline.h"
#include "ids.h"
#include "reply.h"
#include "service.h"
#include "submit.h"

/* ---- Per-thread stores -------------------------------------------------- */

/* server_store_close is the store key's destructor: it runs when a daemon
 * thread exits with a store (pthread_key_create). */
static void server_store_close(void *st)
{
	job_store_close(st);
}

struct job_store *api_server_store(struct api_server *srv)
{
	struct job_store *st = pthread_getspecific(srv->store_key);
	const char *err = "out of memory";

	if (st != NULL)
		return st;
	st = job_store_open(&srv->store_cfg, &err);
	if (st != NULL && pthread_setspecific(srv->store_key, st) != 0) {
		job_store_close(st);
		st = NULL;
	}
	if (st == NULL)
		log_event(LOG_ERROR, "this thread's job store could not be opened",
			  json_pack("{s:s}", "error", err));
	return st;
}

/* server_breaker_init makes srv's circuit breaker with the configured
 * threshold and the default cooldowns. Returns 0 or -1. */
static int server_breaker_init(struct api_server *srv)
{
	const struct breaker_config bc = {
		.threshold = srv->cfg.breaker_threshold > 0 ? srv->cfg.breaker_threshold
							    : BREAKER_DEFAULT_THRESHOLD,
		.base_ms = BREAKER_DEFAULT_BASE_MS,
		.cap_ms = BREAKER_DEFAULT_CAP_MS,
	};

	if (breaker_init(&srv->breaker, &bc) != 0)
		return -1;
	srv->breaker_made = true;
	return 0;
}

int api_server_init(struct api_server *srv, const char **err)
{
	struct job_store *st;

	srv->store_cfg = (struct job_store_config){
		.url = srv->cfg.redis_url,
		.prefix = srv->cfg.prefix,
		.timeout_ms = (int)srv->cfg.redis_timeout_ms,
		.max_queue_depth = srv->cfg.max_queue_depth,
		.schema_owner = true,
	};
	srv->daemon = NULL;
	srv->quiesced_fd = MHD_INVALID_SOCKET;
	srv->store_key_made = false;
	srv->breaker_made = false;
	srv->metrics = NULL;
	srv->committer = NULL;
	srv->headers = NULL;
	atomic_init(&srv->in_flight, 0);
	atomic_init(&srv->draining, false);
	atomic_init(&srv->connections, 0);
	atomic_init(&srv->last_open_ms, 0);
	st = job_store_open(&srv->store_cfg, err); /* does not connect */
	if (st == NULL)
		return -1;
	job_store_close(st);
	if (pthread_key_create(&srv->store_key, server_store_close) != 0) {
		*err = "no thread-specific key is left for the job stores";
		return -1;
	}
	srv->store_key_made = true;
	if (server_breaker_init(srv) != 0) {
		*err = "the circuit breaker's mutex could not be made";
		return -1;
	}
	srv->metrics = metrics_new();
	if (srv->metrics == NULL) {
		*err = "out of memory for the metrics";
		return -1;
	}
	return 0;
}

/* ---- Requests ----------------------------------------------------------- */

static int64_t server_now_ns(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (int64_t)ts.tv_sec * 1000000000 + ts.tv_nsec;
}

/* server_request_id sets req's id: the client's X-Request-ID when sane,
 * else 16 random bytes in hex. */
static void server_request_id(struct api_request *req)
{
	const char *given = MHD_lookup_connection_value(req->conn, MHD_HEADER_KIND, "X-Request-ID");

	if (given != NULL && ids_request_id_sane(given)) {
		snprintf(req->request_id, sizeof req->request_id, "%s", given);
		return;
	}
	if (ids_random_hex(req->request_id, 16) != 0) /* getrandom failed: still unique per process */
		snprintf(req->request_id, sizeof req->request_id, "t%lld", (long long)req->start_ns);
}

/* server_request_init fills a new request. The method is kept as printable
 * ASCII so that the access log can always show it. */
static void server_request_init(struct api_request *req, struct api_server *srv,
				struct MHD_Connection *conn, const char *method)
{
	size_t i;

	memset(req, 0, sizeof *req);
	req->server = srv;
	req->conn = conn;
	for (i = 0; method[i] != '\0' && i < sizeof req->method - 1; i++)
		req->method[i] = method[i] > 0x20 && method[i] < 0x7f ? method[i] : '?';
	req->start_ns = server_now_ns();
	server_request_id(req);
}

/* server_reply_oom answers 503 for a request that could not even be
 * allocated: with a request on the stack, not tracked and not logged
 * beyond reply.c's out-of-memory line. */
static enum MHD_Result server_reply_oom(struct api_server *srv, struct MHD_Connection *conn,
					const char *method)
{
	struct api_request req;
	struct reply_error e = { 0 };

	server_request_init(&req, srv, conn, method);
	reply_error_oom(&e);
	return reply_send_error(&req, &e);
}

/* server_route_error answers a request no route takes: 404 not_found or
 * 405 method_not_allowed with Allow. */
static enum MHD_Result server_route_error(struct api_request *req, enum router_result r,
					  const char *allow)
{
	struct reply_error e = { 0 };

	if (r == ROUTER_NOT_FOUND) {
		reply_error_set(&e, MHD_HTTP_NOT_FOUND, "not_found", "There is nothing at this path.");
	} else {
		reply_error_set(&e, MHD_HTTP_METHOD_NOT_ALLOWED, "method_not_allowed",
				"This path does not take that method; it takes %s.", allow);
		e.allow = allow;
	}
	return reply_send_error(req, &e);
}

/* server_store_replies returns job_store_replies of the calling thread's
 * store, 0 when it has none yet (it does not open one). */
static uint64_t server_store_replies(struct api_server *srv)
{
	struct job_store *st = pthread_getspecific(srv->store_key);

	return st != NULL ? job_store_replies(st) : 0;
}

/* server_breaker_gate asks the breaker whether req (routed) may reach
 * Redis. Returns 0 to go on, or -1 after queueing 503 unavailable with
 * Retry-After (seconds until the next probe) without touching Redis. */
static int server_breaker_gate(struct api_request *req, enum MHD_Result *ret)
{
	struct reply_error e = { 0 };
	int retry_after_s = 1;

	req->ticket = BREAKER_REFUSED;
	if (!(req->matched->flags & ROUTE_STORE))
		return 0;
	req->ticket = breaker_admit(&req->server->breaker, &retry_after_s);
	if (req->ticket != BREAKER_REFUSED) {
		req->replies_at_admit = server_store_replies(req->server);
		return 0;
	}
	reply_error_store(&e, JOB_STORE_EUNAVAILABLE); /* the same 503 unavailable as an outage */
	e.retry_after_s = retry_after_s;
	*ret = reply_send_error(req, &e);
	return -1;
}

/* server_breaker_report tells the breaker how a request it let through
 * ended (see server.h, "Redis outages"). */
static void server_breaker_report(struct api_request *req)
{
	struct api_server *srv = req->server;
	enum breaker_outcome o = BREAKER_UNKNOWN;
	enum breaker_state before, after;

	if (req->ticket == BREAKER_REFUSED)
		return;
	if (req->error_code != NULL && strcmp(req->error_code, "unavailable") == 0)
		o = BREAKER_FAILED;
	else if (req->redis_answered || server_store_replies(srv) > req->replies_at_admit)
		o = BREAKER_OK;
	after = breaker_report(&srv->breaker, req->ticket, o, &before);
	if (after != before)
		log_event(after == BREAKER_CLOSED ? LOG_INFO : LOG_WARN, "circuit breaker",
			  json_pack("{s:s, s:s}", "from", breaker_state_name(before),
				    "to", breaker_state_name(after)));
}

/* server_upload_deadline applies --upload-timeout at the end of the
 * headers and at each piece of body (edge.h). Returns 0 to go on, or -1 once the deadline has passed: the
 * request is marked 408 upload_timeout for the access log and the caller
 * closes the connection; completion discards the upload. */
static int server_upload_deadline(struct api_request *req)
{
	const struct api_config *cfg = &req->server->cfg;

	req->timeout_shortened = true;
	if (edge_body_piece(req->conn, server_now_ns() - req->start_ns, cfg->idle_timeout_s,
			    cfg->upload_timeout_s))
		return 0;
	req->status = MHD_HTTP_REQUEST_TIMEOUT;
	req->error_code = "upload_timeout";
	log_job(LOG_WARN, "upload cut off: --upload-timeout passed", req->request_id, NULL,
		json_pack("{s:i, s:I}", "upload_timeout_s", cfg->upload_timeout_s,
			  "bytes_in", (json_int_t)req->bytes_in));
	return -1;
}

/* server_watch returns conn's header_watch (header_deadline.h), or NULL
 * when there is none (--header-timeout 0, or no memory for it). */
static struct header_watch *server_watch(struct MHD_Connection *conn)
{
	const union MHD_ConnectionInfo *info =
		MHD_get_connection_info(conn, MHD_CONNECTION_INFO_SOCKET_CONTEXT);

	return info != NULL ? info->socket_context : NULL;
}

/* server_request_start handles the first call about a request: creates
 * it, routes it and gives the handler its first call. */
static enum MHD_Result server_request_start(struct api_server *srv, struct MHD_Connection *conn,
					    const char *url, const char *method,
					    const char *upload_data, size_t *upload_data_size,
					    void **con_cls)
{
	struct api_request *req = malloc(sizeof *req);
	struct router_match m;
	enum router_result r;
	enum MHD_Result ret;

	header_deadline_arrived(server_watch(conn));
	if (req == NULL)
		return server_reply_oom(srv, conn, method);
	server_request_init(req, srv, conn, method);
	atomic_fetch_add(&srv->in_flight, 1);
	*con_cls = req;
	(void)server_upload_deadline(req); /* arms the deadline: it cannot have passed yet */
	r = router_match(handlers_routes, handlers_routes_len, method, url, &m);
	if (r != ROUTER_FOUND)
		return server_route_error(req, r, m.allow);
	req->route = m.route->pattern;
	req->matched = m.route;
	if (m.nparams > 0)
		memcpy(req->id, m.params[0], sizeof req->id);
	if (gate_admit(&srv->gate, req, &ret) != 0)
		return ret;
	if (server_breaker_gate(req, &ret) != 0)
		return ret;
	req->handler = m.route->handler;
	ret = req->handler(req, upload_data, upload_data_size);
	req->started = true;
	return ret;
}

/* server_access is libmicrohttpd's access handler (MHD_AccessHandlerCallback). */
static enum MHD_Result server_access(void *cls, struct MHD_Connection *conn, const char *url,
				     const char *method, const char *version,
				     const char *upload_data, size_t *upload_data_size,
				     void **con_cls)
{
	struct api_request *req = *con_cls;

	(void)version;
	if (req == NULL)
		return server_request_start(cls, conn, url, method, upload_data, upload_data_size,
					    con_cls);
	if (req->handler == NULL) /* answered on the first call; not called again */
		return MHD_NO;
	req->bytes_in += *upload_data_size;
	if (*upload_data_size > 0 && server_upload_deadline(req) != 0)
		return MHD_NO;
	return req->handler(req, upload_data, upload_data_size);
}

/* ---- Completion and the access log -------------------------------------- */

static const char *server_termination_name(enum MHD_RequestTerminationCode toe)
{
	switch (toe) {
	case MHD_REQUEST_TERMINATED_COMPLETED_OK: return "completed";
	case MHD_REQUEST_TERMINATED_WITH_ERROR: return "error";
	case MHD_REQUEST_TERMINATED_TIMEOUT_REACHED: return "timeout";
	case MHD_REQUEST_TERMINATED_DAEMON_SHUTDOWN: return "daemon_shutdown";
	case MHD_REQUEST_TERMINATED_READ_ERROR: return "read_error";
	case MHD_REQUEST_TERMINATED_CLIENT_ABORT: return "client_abort";
	}
	return "unknown";
}

/* server_client_left returns true when the request ended because the
 * client went away (or stopped talking) before the reply was sent whole. */
static bool server_client_left(enum MHD_RequestTerminationCode toe)
{
	return toe == MHD_REQUEST_TERMINATED_WITH_ERROR ||
	       toe == MHD_REQUEST_TERMINATED_READ_ERROR ||
	       toe == MHD_REQUEST_TERMINATED_CLIENT_ABORT ||
	       toe == MHD_REQUEST_TERMINATED_TIMEOUT_REACHED;
}

/* server_status returns the status a finished request is logged and
 * counted with: the reply's, or 499 when the client went away before it
 * was sent whole (or, for a submission, while it waited for the committer:
 * req->client_left), or when no reply was queued at all. */
static unsigned server_status(const struct api_request *req, enum MHD_RequestTerminationCode toe)
{
	bool left = server_client_left(toe) || req->client_left;

	return req->status != 0 && !left ? req->status : 499;
}

/* server_count adds a finished request to the metrics: the request and
 * its duration, a refused submission under its error code, and a request
 * that Redis failed (an error reply from the store that the breaker had
 * let through). */
static void server_count(const struct api_request *req, enum MHD_RequestTerminationCode toe)
{
	struct metrics *m = req->server->metrics;
	const char *code = req->error_code;

	metrics_http_request(m, req->route, req->method, server_status(req, toe),
			     (double)(server_now_ns() - req->start_ns) / 1e9);
	if (code != NULL && req->matched != NULL && req->matched->handler == submit_handle)
		metrics_job_rejected(m, code);
	if (code != NULL && req->ticket != BREAKER_REFUSED &&
	    (strcmp(code, "unavailable") == 0 || strcmp(code, "internal_error") == 0))
		metrics_redis_error(m);
}

/* The members every access line has, in this order: their count,
 * SERVER_ACCESS_FIXED, is known when compiling, and each has its place
 * in server_access_log's initializer. */
enum { ACCESS_METHOD, ACCESS_ROUTE, ACCESS_STATUS, ACCESS_BYTES_IN, ACCESS_BYTES_OUT,
       ACCESS_DURATION_MS, SERVER_ACCESS_FIXED };

/* SERVER_ACCESS_FIELDS is the most members server_access_log adds: the
 * fixed ones, 4 that depend on the request, 4 of a queued job. */
#define SERVER_ACCESS_FIELDS (SERVER_ACCESS_FIXED + 4 + 4)

/* server_access_add appends x to f (SERVER_ACCESS_FIELDS of them) at *n.
 * The bound is checked, not trusted: a field added without raising the
 * count is left off the line, never written past f. */
static void server_access_add(struct log_field *f, size_t *n, struct log_field x)
{
	if (*n < SERVER_ACCESS_FIELDS)
		f[(*n)++] = x;
}

/* server_access_queued adds the fields of the job a 202 queued to f at *n:
 * the access line stands for the job's "job queued" line too, so that a
 * submission costs one write(2) of the log, not two. */
static void server_access_queued(const struct api_request *req, struct log_field *f, size_t *n)
{
	const struct job_spec *spec = req->queued;

	if (spec == NULL)
		return;
	server_access_add(f, n, (struct log_field){ "task", spec->task, 0 });
	server_access_add(f, n, (struct log_field){ "queue", spec->queue, 0 });
	server_access_add(f, n, (struct log_field){ "rows", NULL, (int64_t)spec->rows });
	server_access_add(f, n, (struct log_field){ "bytes", NULL, (int64_t)spec->bytes });
}

/* server_access_log writes the request's access log line. A request whose
 * client went away before the reply was sent whole (or, for a submission,
 * while it waited for the committer: req->client_left) is logged as 499, with
 * the reply it was given in "reply_status" (a 202 there means the job was
 * created and runs anyway: its job_id is on the line). A request that ended
 * with no reply at all (the daemon stopped first) is 499 too.
 * "termination" says how any request that did not complete normally ended,
 * so monitoring does not count a client's hang-up as a server error. The
 * line is written flat (log_job_flat): no JSON tree per request. */
static void server_access_log(const struct api_request *req, enum MHD_RequestTerminationCode toe)
{
	unsigned status = server_status(req, toe);
	/* Whole milliseconds: a real would print as 4.0359999999999996. */
	int64_t ms = (server_now_ns() - req->start_ns + 500000) / 1000000;
	struct log_field f[SERVER_ACCESS_FIELDS] = {
		[ACCESS_METHOD] = { "method", req->method, 0 },
		[ACCESS_ROUTE] = { "route", req->route != NULL ? req->route : log_null, 0 },
		[ACCESS_STATUS] = { "status", NULL, status },
		[ACCESS_BYTES_IN] = { "bytes_in", NULL, (int64_t)req->bytes_in },
		[ACCESS_BYTES_OUT] = { "bytes_out", NULL, (int64_t)req->bytes_out },
		[ACCESS_DURATION_MS] = { "duration_ms", NULL, ms },
	};
	size_t n = SERVER_ACCESS_FIXED;
	if (req->tenant[0] != '\0')
		server_access_add(f, &n, (struct log_field){ "tenant", req->tenant, 0 });
	if (req->error_code != NULL)
		server_access_add(f, &n, (struct log_field){ "error_code", req->error_code, 0 });
	if (toe != MHD_REQUEST_TERMINATED_COMPLETED_OK)
		server_access_add(f, &n, (struct log_field){ "termination",
							     server_termination_name(toe), 0 });
	else if (req->client_left)
		server_access_add(f, &n, (struct log_field){ "termination", "client_abort", 0 });
	if (status == 499 && req->status != 0)
		server_access_add(f, &n, (struct log_field){ "reply_status", NULL, req->status });
	server_access_queued(req, f, &n);
	log_job_flat(LOG_INFO, "request", req->request_id, req->job_id, f, n);
}

/* server_completed is libmicrohttpd's completion callback: it runs on the
 * request's own thread, once per request the access handler saw. */
static void server_completed(void *cls, struct MHD_Connection *conn, void **con_cls,
			     enum MHD_RequestTerminationCode toe)
{
	struct api_server *srv = cls;
	struct api_request *req = *con_cls;

	/* Also after a reply made without a request (out of memory): the
	 * connection may stay open for another. */
	if (conn != NULL)
		header_deadline_rearm(srv->headers, server_watch(conn));
	if (req == NULL)
		return;
	*con_cls = NULL;
	server_access_log(req, toe);
	server_count(req, toe);
	server_breaker_report(req);
	if (req->timeout_shortened && conn != NULL)
		edge_restore_timeout(conn, srv->cfg.idle_timeout_s);
	if (req->ctx_free != NULL)
		req->ctx_free(req, toe);
	free(req);
	atomic_fetch_sub(&srv->in_flight, 1);
}

/* server_watch_open gives conn a header_watch as its socket context
 * when --header-timeout is on. */
static void server_watch_open(struct api_server *srv, struct MHD_Connection *conn,
			      void **socket_context)
{
	const union MHD_ConnectionInfo *fd, *addr;

	if (srv->headers == NULL)
		return;
	fd = MHD_get_connection_info(conn, MHD_CONNECTION_INFO_CONNECTION_FD);
	addr = MHD_get_connection_info(conn, MHD_CONNECTION_INFO_CLIENT_ADDRESS);
	if (fd != NULL)
		*socket_context = header_deadline_open(srv->headers, fd->connect_fd,
						       addr != NULL ? addr->client_addr : NULL);
}

/* server_connection is libmicrohttpd's connection callback: it counts
 * open connections for api_server_unused_ms and keeps their header
 * watches. The time is written before the count drops, so a reader that
 * sees no connection sees its end. libmicrohttpd calls it about a closed
 * connection before it closes the socket, as header_deadline needs. */
static void server_connection(void *cls, struct MHD_Connection *conn, void **socket_context,
			      enum MHD_ConnectionNotificationCode toe)
{
	struct api_server *srv = cls;

	if (toe == MHD_CONNECTION_NOTIFY_STARTED) {
		server_watch_open(srv, conn, socket_context);
		atomic_fetch_add(&srv->connections, 1);
		return;
	}
	header_deadline_close(srv->headers, *socket_context);
	*socket_context = NULL;
	atomic_store(&srv->last_open_ms, server_now_ns() / 1000000);
	atomic_fetch_sub(&srv->connections, 1);
}

/* server_mhd_log passes libmicrohttpd's own messages to the log. */
__attribute__((format(printf, 2, 0)))
static void server_mhd_log(void *cls, const char *fm, va_list ap)
{
	char text[512];
	size_t len;

	(void)cls;
	vsnprintf(text, sizeof text, fm, ap);
	len = strlen(text);
	while (len > 0 && (text[len - 1] == '\n' || text[len - 1] == '\r'))
		text[--len] = '\0';
	log_event(LOG_WARN, "libmicrohttpd", json_pack("{s:s}", "detail", text));
}

/* ---- Start and stop ----------------------------------------------------- */

union server_addr {
	struct sockaddr sa;
	struct sockaddr_in in4;
	struct sockaddr_in6 in6;
};

static bool server_is_ipv6(const struct config_listen *l)
{
	return strchr(l->host, ':') != NULL;
}

/* server_addr_make fills *a from the listen option (already checked by
 * config_parse_listen). Returns 0, or -1 when the host does not parse. */
static int server_addr_make(const struct config_listen *l, union server_addr *a)
{
	memset(a, 0, sizeof *a);
	if (server_is_ipv6(l)) {
		a->in6.sin6_family = AF_INET6;
		a->in6.sin6_port = htons((uint16_t)l->port);
		return inet_pton(AF_INET6, l->host, &a->in6.sin6_addr) == 1 ? 0 : -1;
	}
	a->in4.sin_family = AF_INET;
	a->in4.sin_port = htons((uint16_t)l->port);
	return inet_pton(AF_INET, l->host, &a->in4.sin_addr) == 1 ? 0 : -1;
}

/* server_flags returns the daemon's flags: internal polling threads with
 * epoll where libmicrohttpd has it (poll otherwise), an inter-thread
 * channel (MHD_quiesce_daemon and resuming from the committer need it),
 * suspension (submissions wait for the committer), errors through our
 * logger. */
static unsigned server_flags(const struct api_server *srv, bool *epoll)
{
	unsigned flags = MHD_USE_INTERNAL_POLLING_THREAD | MHD_USE_ITC | MHD_USE_ERROR_LOG |
			 MHD_ALLOW_SUSPEND_RESUME;

	*epoll = MHD_is_feature_supported(MHD_FEATURE_EPOLL) == MHD_YES;
	flags |= *epoll ? MHD_USE_EPOLL : MHD_USE_POLL;
	if (srv->inherited_fd < 0 && server_is_ipv6(&srv->cfg.listen))
		flags |= MHD_USE_IPv6;
	return flags;
}

bool api_server_client_gone(const struct api_request *req)
{
	const union MHD_ConnectionInfo *info =
		MHD_get_connection_info(req->conn, MHD_CONNECTION_INFO_CONNECTION_FD);
	char byte;
	ssize_t n;

	if (info == NULL)
		return false;
	n = recv(info->connect_fd, &byte, 1, MSG_PEEK | MSG_DONTWAIT);
	return n == 0 || (n < 0 && errno != EAGAIN && errno != EWOULDBLOCK && errno != EINTR);
}

/* server_log_started writes the "listening" line (which the integration
 * tests parse: msg, then address) and one line with the settings. */
static void server_log_started(const struct api_server *srv, bool epoll)
{
	const struct api_config *cfg = &srv->cfg;

	log_event(LOG_INFO, "listening",
		  json_pack("{s:s, s:b}", "address", srv->address,
			    "socket_activated", srv->inherited_fd >= 0));
	log_event(LOG_INFO, "server started",
		  json_pack("{s:i, s:s, s:I, s:I, s:i, s:s, s:s, s:i, s:i, s:i, s:i}",
			    "threads", cfg->threads, "polling", epoll ? "epoll" : "poll",
			    "max_upload", (json_int_t)cfg->max_upload,
			    "max_field", (json_int_t)cfg->max_field,
			    "staging_ttl_s", cfg->staging_ttl_s, "prefix", cfg->prefix,
			    "version", config_version, "max_connections", cfg->max_connections,
			    "max_connections_per_ip", cfg->max_per_ip,
			    "idle_timeout_s", cfg->idle_timeout_s,
			    "upload_timeout_s", cfg->upload_timeout_s));
}

/* server_listen_option fills opt[0..1] (an MHD_OPTION_ARRAY) with where
 * to listen: the inherited socket, else the --listen address in *addr.
 * Returns 0, or -1 (logged) when the --listen host does not parse. */
static int server_listen_option(struct api_server *srv, union server_addr *addr,
				struct MHD_OptionItem opt[2])
{
	opt[1] = (struct MHD_OptionItem){ MHD_OPTION_END, 0, NULL };
	if (srv->inherited_fd >= 0) {
		opt[0] = (struct MHD_OptionItem){ MHD_OPTION_LISTEN_SOCKET, srv->inherited_fd, NULL };
		return 0;
	}
	if (server_addr_make(&srv->cfg.listen, addr) != 0) {
		log_event(LOG_ERROR, "listen address does not parse",
			  json_pack("{s:s}", "host", srv->cfg.listen.host));
		return -1;
	}
	opt[0] = (struct MHD_OptionItem){ MHD_OPTION_SOCK_ADDR, 0, &addr->sa };
	return 0;
}

/* server_note_address sets srv->port and srv->address from the daemon: the
 * inherited socket's own address, or the --listen host with the port bound. */
static void server_note_address(struct api_server *srv)
{
	const union MHD_DaemonInfo *info = MHD_get_daemon_info(srv->daemon, MHD_DAEMON_INFO_BIND_PORT);
	const struct config_listen *l = &srv->cfg.listen;

	srv->port = info != NULL ? info->port : (uint16_t)l->port;
	if (srv->inherited_fd >= 0 &&
	    service_describe_socket(srv->inherited_fd, srv->address, sizeof srv->address) == 0)
		return;
	snprintf(srv->address, sizeof srv->address, server_is_ipv6(l) ? "[%s]:%u" : "%s:%u",
		 l->host, (unsigned)srv->port);
}

int api_server_start(struct api_server *srv)
{
	union server_addr addr;
	struct MHD_OptionItem listen[2];
	bool epoll;
	unsigned flags = server_flags(srv, &epoll);
	const char *err = NULL;

	edge_raise_nofile(srv->cfg.max_connections);
	if (server_listen_option(srv, &addr, listen) != 0)
		return -1;
	atomic_store(&srv->last_open_ms, server_now_ns() / 1000000); /* idle from now on */
	srv->committer = committer_start(&srv->store_cfg, &err);
	if (srv->committer == NULL) {
		log_event(LOG_ERROR, "the committer could not start", json_pack("{s:s}", "error", err));
		return -1;
	}
	if (srv->cfg.header_timeout_s > 0) {
		srv->headers = header_deadline_start(srv->cfg.header_timeout_s,
						     srv->cfg.idle_timeout_s, srv->metrics);
		if (srv->headers == NULL) {
			log_event(LOG_ERROR, "the header deadline's thread could not start", NULL);
			return -1;
		}
	}
	srv->daemon = MHD_start_daemon(flags, (uint16_t)srv->cfg.listen.port, NULL, NULL,
				       server_access, srv,
				       /* First, so that no option's complaint bypasses it. */
				       MHD_OPTION_EXTERNAL_LOGGER, server_mhd_log, srv,
				       MHD_OPTION_ARRAY, listen,
				       MHD_OPTION_THREAD_POOL_SIZE, (unsigned int)srv->cfg.threads,
				       MHD_OPTION_CONNECTION_MEMORY_LIMIT, (size_t)SERVER_CONNECTION_MEMORY,
				       MHD_OPTION_NOTIFY_COMPLETED, server_completed, srv,
				       MHD_OPTION_NOTIFY_CONNECTION, server_connection, srv,
				       MHD_OPTION_CONNECTION_TIMEOUT, (unsigned int)srv->cfg.idle_timeout_s,
				       MHD_OPTION_UNESCAPE_CALLBACK, edge_unescape, NULL,
				       MHD_OPTION_CONNECTION_LIMIT, (unsigned int)srv->cfg.max_connections,
				       MHD_OPTION_PER_IP_CONNECTION_LIMIT, (unsigned int)srv->cfg.max_per_ip,
				       MHD_OPTION_END);
	if (srv->daemon == NULL) {
		log_event(LOG_ERROR, "the HTTP server could not start (see libmicrohttpd's line above)",
			  json_pack("{s:s, s:i, s:b}", "host", srv->cfg.listen.host,
				    "port", (int)srv->cfg.listen.port,
				    "socket_activated", srv->inherited_fd >= 0));
		return -1;
	}
	server_note_address(srv);
	server_log_started(srv, epoll);
	return 0;
}
void api_server_quiesce(struct api_server *srv)
{
	atomic_store(&srv->draining, true);
	if (srv->daemon == NULL || srv->quiesced_fd != MHD_INVALID_SOCKET)
		return;
	srv->quiesced_fd = MHD_quiesce_daemon(srv->daemon);
	/* An inherited socket is the service manager's too: it must go on
	 * listening, and queue connections for the next API it starts. */
	if (srv->inherited_fd >= 0)
		return;
	/* The socket stays open until the daemon stops, and the kernel would go
	 * on completing handshakes into its backlog that nobody accepts: those
	 * clients would hang, then be reset. Shutting the listening socket down
	 * (it is not closed, so its number cannot be reused under a daemon
	 * thread) makes new connections fail at once with "refused". */
	if (srv->quiesced_fd != MHD_INVALID_SOCKET)
		shutdown(srv->quiesced_fd, SHUT_RDWR);
}

/* api_server_idle counts requests as well as connections: an idle
 * keep-alive connection has nothing in flight, and waiting for its client
 * to close it would spend the whole grace period for nothing. */
bool api_server_idle(struct api_server *srv)
{
	const union MHD_DaemonInfo *info;

	if (atomic_load(&srv->in_flight) == 0)
		return true;
	info = MHD_get_daemon_info(srv->daemon, MHD_DAEMON_INFO_CURRENT_CONNECTIONS);
	return info != NULL && info->num_connections == 0;
}

int64_t api_server_unused_ms(struct api_server *srv)
{
	int64_t since;

	if (atomic_load(&srv->connections) > 0 || atomic_load(&srv->in_flight) > 0)
		return 0;
	since = server_now_ns() / 1000000 - atomic_load(&srv->last_open_ms);
	return since > 0 ? since : 1; /* 1: none open, if only just */
}

int64_t api_server_idle_wait_ms(int64_t unused_ms, int64_t idle_ms)
{
	if (unused_ms >= idle_ms)
		return 0;
	return unused_ms > 0 ? idle_ms - unused_ms : idle_ms;
}

void api_server_stop(struct api_server *srv)
{
	/* First: a suspended connection cannot be closed, so every submission
	 * the committer holds is answered before the daemon stops; later ones
	 * enqueue on their own thread. */
	committer_stop(srv->committer);
	if (srv->daemon != NULL)
		MHD_stop_daemon(srv->daemon); /* joins the threads: their stores close */
	srv->daemon = NULL;
	committer_free(srv->committer);
	srv->committer = NULL;
	header_deadline_stop(srv->headers); /* after the daemon: no connection is left */
	srv->headers = NULL;
	/* MHD_quiesce_daemon hands the listen socket over; it may be closed only
	 * once no daemon thread can use it any more. */
	if (srv->quiesced_fd != MHD_INVALID_SOCKET)
		close(srv->quiesced_fd);
	srv->quiesced_fd = MHD_INVALID_SOCKET;
	if (srv->store_key_made)
		pthread_key_delete(srv->store_key);
	srv->store_key_made = false;
	if (srv->breaker_made)
		breaker_destroy(&srv->breaker);
	srv->breaker_made = false;
	metrics_free(srv->metrics);
	srv->metrics = NULL;
	gate_destroy(&srv->gate);
}
