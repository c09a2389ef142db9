/*
 * ceiling — the naive ingest server jobq-api is measured against.
 *
 * usage: ceiling pool|thread REDIS_PORT [THREADS]
 *
 * A minimal libmicrohttpd program: every POST reads its whole body into
 * memory, does one synchronous LPUSH of it onto the list "ceiling:queue" of
 * the Redis on 127.0.0.1:REDIS_PORT, and answers 202 with a small JSON body
 * (about the size of jobq's). No validation, no staging, no job record: it
 * is the most a server on the same libraries could do with the same
 * threading, so the ratio jobq/ceiling says what jobq's own work costs.
 *
 * Threading modes, the two libmicrohttpd offers for this:
 *   pool    MHD_USE_EPOLL with an internal thread pool of THREADS (default
 *           2) threads, the mode jobq-api uses;
 *   thread  one thread per connection (MHD_USE_THREAD_PER_CONNECTION).
 *
 * Listens on 127.0.0.1, on a port the kernel picks, printed on stdout as
 * "listening PORT". Runs until SIGTERM or SIGINT.
 *
 * Each thread owns its hiredis context (a thread-specific key frees it when
 * the thread ends); nothing is shared between threads but the daemon.
 * A failed allocation or Redis call is a 503, never an abort.
 */
#include <microhttpd.h>
#include <hiredis/hiredis.h>

#include <arpa/inet.h>
#include <netinet/in.h>
#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define CEILING_MAX_BODY ((size_t)16 << 20)

/* One request's body, grown as it arrives; owned by the connection. */
struct ceiling_body {
	char *data;
	size_t len, cap;
	int too_large;
};

static int ceiling_redis_port;
static pthread_key_t ceiling_redis_key; /* this thread's redisContext */

static void ceiling_redis_free(void *ctx)
{
	redisFree(ctx);
}

/* ceiling_redis returns this thread's Redis connection, connecting it on
 * first use, or NULL when Redis cannot be reached. */
static redisContext *ceiling_redis(void)
{
	redisContext *c = pthread_getspecific(ceiling_redis_key);

	if (c != NULL && c->err == 0)
		return c;
	if (c != NULL)
		redisFree(c);
	c = redisConnect("127.0.0.1", ceiling_redis_port);
	if (c != NULL && c->err != 0) {
		redisFree(c);
		c = NULL;
	}
	pthread_setspecific(ceiling_redis_key, c);
	return c;
}

/* ceiling_body_add appends n bytes; past CEILING_MAX_BODY or out of memory
 * it only marks the body as refused. */
static void ceiling_body_add(struct ceiling_body *b, const char *data, size_t n)
{
	if (b->too_large || b->len + n > CEILING_MAX_BODY) {
		b->too_large = 1;
		return;
	}
	if (b->len + n > b->cap) {
		size_t cap = b->cap ? b->cap : 4096;
		char *p;

		while (cap < b->len + n)
			cap *= 2;
		if ((p = realloc(b->data, cap)) == NULL) {
			b->too_large = 1;
			return;
		}
		b->data = p;
		b->cap = cap;
	}
	memcpy(b->data + b->len, data, n);
	b->len += n;
}

static enum MHD_Result ceiling_reply(struct MHD_Connection *conn, unsigned status,
				     const char *json)
{
	struct MHD_Response *r = MHD_create_response_from_buffer(strlen(json), (void *)json,
								 MHD_RESPMEM_MUST_COPY);
	enum MHD_Result ret;

	if (r == NULL)
		return MHD_NO;
	MHD_add_response_header(r, "Content-Type", "application/json");
	ret = MHD_queue_response(conn, status, r);
	MHD_destroy_response(r);
	return ret;
}

/* ceiling_push LPUSHes the body and answers. */
static enum MHD_Result ceiling_push(struct MHD_Connection *conn, struct ceiling_body *b)
{
	redisContext *c = ceiling_redis();
	redisReply *r;
	char json[160];

	if (b->too_large)
		return ceiling_reply(conn, MHD_HTTP_CONTENT_TOO_LARGE, "{\"error\":\"too_large\"}");
	if (c == NULL)
		return ceiling_reply(conn, MHD_HTTP_SERVICE_UNAVAILABLE, "{\"error\":\"redis\"}");
	r = redisCommand(c, "LPUSH ceiling:queue %b", b->data ? b->data : "", b->len);
	if (r == NULL || r->type != REDIS_REPLY_INTEGER) {
		if (r != NULL)
			freeReplyObject(r);
		return ceiling_reply(conn, MHD_HTTP_SERVICE_UNAVAILABLE, "{\"error\":\"redis\"}");
	}
	snprintf(json, sizeof json,
		 "{\"id\":\"%032lld\",\"status\":\"queued\",\"task\":\"profile\","
		 "\"queue\":\"default\",\"bytes\":%zu}", r->integer, b->len);
	freeReplyObject(r);
	return ceiling_reply(conn, MHD_HTTP_ACCEPTED, json);
}

static enum MHD_Result ceiling_access(void *cls, struct MHD_Connection *conn, const char *url,
				      const char *method, const char *version,
				      const char *upload_data, size_t *upload_data_size,
				      void **con_cls)
{
	struct ceiling_body *b = *con_cls;

	(void)cls;
	(void)url;
	(void)version;
	if (strcmp(method, "POST") != 0)
		return ceiling_reply(conn, MHD_HTTP_OK, "{}");
	if (b == NULL) {
		if ((b = calloc(1, sizeof *b)) == NULL)
			return MHD_NO;
		*con_cls = b;
		return MHD_YES;
	}
	if (*upload_data_size != 0) {
		ceiling_body_add(b, upload_data, *upload_data_size);
		*upload_data_size = 0;
		return MHD_YES;
	}
	return ceiling_push(conn, b);
}

static void ceiling_completed(void *cls, struct MHD_Connection *conn, void **con_cls,
			      enum MHD_RequestTerminationCode toe)
{
	struct ceiling_body *b = *con_cls;

	(void)cls;
	(void)conn;
	(void)toe;
	if (b != NULL) {
		free(b->data);
		free(b);
		*con_cls = NULL;
	}
}

/* ceiling_start starts the daemon in the given mode on 127.0.0.1:0. */
static struct MHD_Daemon *ceiling_start(const char *mode, unsigned threads)
{
	struct sockaddr_in addr = { .sin_family = AF_INET };
	unsigned flags = MHD_USE_INTERNAL_POLLING_THREAD | MHD_USE_ERROR_LOG;

	addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
	if (strcmp(mode, "pool") == 0)
		return MHD_start_daemon(flags | MHD_USE_EPOLL, 0, NULL, NULL, ceiling_access, NULL,
					MHD_OPTION_SOCK_ADDR, &addr,
					MHD_OPTION_THREAD_POOL_SIZE, threads,
					MHD_OPTION_NOTIFY_COMPLETED, ceiling_completed, NULL,
					MHD_OPTION_END);
	if (strcmp(mode, "thread") == 0)
		return MHD_start_daemon(flags | MHD_USE_THREAD_PER_CONNECTION | MHD_USE_POLL, 0,
					NULL, NULL, ceiling_access, NULL,
					MHD_OPTION_SOCK_ADDR, &addr,
					MHD_OPTION_NOTIFY_COMPLETED, ceiling_completed, NULL,
					MHD_OPTION_END);
	return NULL;
}

int main(int argc, char **argv)
{
	struct MHD_Daemon *d;
	const union MHD_DaemonInfo *info;
	sigset_t stop;
	int sig;

	if (argc < 3 || argc > 4 || (ceiling_redis_port = atoi(argv[2])) <= 0) {
		fprintf(stderr, "usage: ceiling pool|thread REDIS_PORT [THREADS]\n");
		return 2;
	}
	/* Block the stop signals in every thread; main waits for them. */
	sigemptyset(&stop);
	sigaddset(&stop, SIGTERM);
	sigaddset(&stop, SIGINT);
	pthread_sigmask(SIG_BLOCK, &stop, NULL);
	signal(SIGPIPE, SIG_IGN);
	if (pthread_key_create(&ceiling_redis_key, ceiling_redis_free) != 0)
		return 1;
	d = ceiling_start(argv[1], argc == 4 ? (unsigned)atoi(argv[3]) : 2);
	if (d == NULL || (info = MHD_get_daemon_info(d, MHD_DAEMON_INFO_BIND_PORT)) == NULL) {
		fprintf(stderr, "ceiling: cannot start the %s daemon\n", argv[1]);
		return 1;
	}
	printf("listening %u\n", (unsigned)info->port);
	fflush(stdout);
	sigwait(&stop, &sig);
	MHD_stop_daemon(d);
	return 0;
}
