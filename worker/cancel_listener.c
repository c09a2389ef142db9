/*
 * cancel_listener — see cancel_listener.h.
 */
#include "cancel_listener.h"

#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

#include "log.h"

/* What a wait in poll(2) ended with. */
enum listen_event { LISTEN_STOP, LISTEN_READABLE, LISTEN_TIMEOUT };

/* listen_poll waits up to ms (-1: no limit) for the stop pipe or, when fd
 * is not -1, for fd to be readable (or broken). */
static enum listen_event listen_poll(struct cancel_listener *l, int fd, int ms)
{
	struct pollfd p[2] = {{.fd = l->wake[0], .events = POLLIN}, {.fd = fd, .events = POLLIN}};
	int n;

	do
		n = poll(p, fd >= 0 ? 2 : 1, ms);
	while (n < 0 && errno == EINTR);
	if (n < 0 || (p[0].revents & (POLLIN | POLLHUP | POLLERR)))
		return LISTEN_STOP; /* poll itself failing cannot be waited out */
	return n > 0 ? LISTEN_READABLE : LISTEN_TIMEOUT;
}

static void listen_disconnect(struct cancel_listener *l)
{
	if (l->ctx != NULL) {
		redisFree(l->ctx);
		l->ctx = NULL;
	}
}

/* listen_command sends one command during set-up and checks its reply is
 * not an error. Returns 0, or -1 with why set. */
static int listen_command(struct cancel_listener *l, int argc, const char **argv,
			  char *why, size_t cap)
{
	redisReply *r = redisCommandArgv(l->ctx, argc, argv, NULL);
	int rc = 0;

	if (r == NULL) {
		snprintf(why, cap, "redis %s: %s", argv[0], l->ctx->errstr);
		return -1;
	}
	if (r->type == REDIS_REPLY_ERROR) {
		snprintf(why, cap, "redis %s: %s", argv[0], r->str);
		rc = -1;
	}
	freeReplyObject(r);
	return rc;
}

/* listen_auth sends AUTH when the URL has a password. */
static int listen_auth(struct cancel_listener *l, char *why, size_t cap)
{
	const char *with_user[] = {"AUTH", l->url.user, l->url.password};
	const char *without[] = {"AUTH", l->url.password};

	if (l->url.password[0] == '\0')
		return 0;
	return l->url.user[0] ? listen_command(l, 3, with_user, why, cap)
			      : listen_command(l, 2, without, why, cap);
}

/* listen_subscribe connects and subscribes to the channel. Returns 0, or
 * -1 with why set and no connection. (SELECT is not needed: pub/sub
 * channels are not scoped by database.) */
static int listen_subscribe(struct cancel_listener *l, char *why, size_t cap)
{
	struct timeval tv = {.tv_sec = l->timeout_ms / 1000,
			     .tv_usec = (suseconds_t)(l->timeout_ms % 1000) * 1000};
	const char *argv[] = {"SUBSCRIBE", l->channel};

	l->ctx = l->url.unix_socket ? redisConnectUnixWithTimeout(l->url.host, tv)
				    : redisConnectWithTimeout(l->url.host, l->url.port, tv);
	if (l->ctx == NULL || l->ctx->err) {
		snprintf(why, cap, "redis connect: %s", l->ctx ? l->ctx->errstr : "out of memory");
		listen_disconnect(l);
		return -1;
	}
	if (!l->url.unix_socket)
		redisEnableKeepAlive(l->ctx);
	if (redisSetTimeout(l->ctx, tv) != REDIS_OK || listen_auth(l, why, cap) != 0 ||
	    listen_command(l, 2, argv, why, cap) != 0) {
		if (why[0] == '\0')
			snprintf(why, cap, "redis: cannot set the socket timeout");
		listen_disconnect(l);
		return -1;
	}
	return 0;
}

/* listen_message handles one reply pushed on the subscription: a
 * "message" carrying a job id stops that job if this worker runs it. */
static void listen_message(struct cancel_listener *l, const redisReply *r)
{
	const redisReply *id;

	if (r->type != REDIS_REPLY_ARRAY || r->elements != 3 ||
	    r->element[0]->type != REDIS_REPLY_STRING || strcmp(r->element[0]->str, "message") != 0)
		return;
	id = r->element[2];
	if (id->type != REDIS_REPLY_STRING || running_cancel_id(l->running, id->str) == 0)
		return;
	log_job(LOG_INFO, "cancel requested, stopping job", NULL, id->str,
		json_pack("{s:s}", "via", "pubsub"));
}

/* listen_drain handles every complete reply already read from the socket.
 * Returns 0, or -1 with why set when the stream is garbled. */
static int listen_drain(struct cancel_listener *l, char *why, size_t cap)
{
	void *reply = NULL;

	for (;;) {
		if (redisReaderGetReply(l->ctx->reader, &reply) != REDIS_OK) {
			snprintf(why, cap, "redis subscription: %s", l->ctx->reader->errstr);
			return -1;
		}
		if (reply == NULL)
			return 0;
		listen_message(l, reply);
		freeReplyObject(reply);
	}
}

/* listen_read reads what the socket has and handles every complete reply.
 * Returns 0, or -1 with why set when the connection is broken. */
static int listen_read(struct cancel_listener *l, char *why, size_t cap)
{
	if (redisBufferRead(l->ctx) != REDIS_OK) {
		snprintf(why, cap, "redis subscription: %s", l->ctx->errstr);
		return -1;
	}
	return listen_drain(l, why, cap);
}

/* listen_outage logs the start of an outage once. */
static void listen_outage(struct cancel_listener *l, const char *why)
{
	if (!l->outage)
		log_event(LOG_WARN, "cancel listener: redis unavailable, retrying with backoff",
			  json_pack("{s:s}", "error", why));
	l->outage = true;
}

/* listen_session subscribes and handles messages until the connection
 * breaks (returns false) or stop is asked (returns true). */
static bool listen_session(struct cancel_listener *l)
{
	char why[256] = "";

	if (listen_subscribe(l, why, sizeof why) != 0) {
		listen_outage(l, why);
		return false;
	}
	log_event(l->outage ? LOG_INFO : LOG_DEBUG, "cancel listener subscribed",
		  json_pack("{s:s}", "channel", l->channel));
	l->outage = false;
	backoff_reset(&l->backoff);
	/* Messages may have come in with the SUBSCRIBE reply. */
	for (int rc = listen_drain(l, why, sizeof why); rc == 0;
	     rc = listen_read(l, why, sizeof why))
		if (listen_poll(l, l->ctx->fd, -1) == LISTEN_STOP)
			return true;
	listen_disconnect(l);
	listen_outage(l, why);
	return false;
}

static void *listen_main(void *arg)
{
	struct cancel_listener *l = arg;

	while (!listen_session(l))
		if (listen_poll(l, -1, (int)backoff_next_ms(&l->backoff)) == LISTEN_STOP)
			break;
	listen_disconnect(l);
	return NULL;
}

int cancel_listener_start(struct cancel_listener *l, const struct job_store_config *cfg,
			  struct running *running, const char **err)
{
	*l = (struct cancel_listener){.running = running, .wake = {-1, -1}};
	if (redis_url_parse(cfg->url, &l->url, err) != 0)
		return -1;
	keys_cancel_channel(l->channel, cfg->prefix);
	l->timeout_ms = cfg->timeout_ms > 0 ? cfg->timeout_ms : 2000;
	backoff_init(&l->backoff, 100, 5000);
	*err = "cannot make the cancel listener's pipe";
	if (pipe2(l->wake, O_CLOEXEC) != 0)
		return -1;
	if (pthread_create(&l->thread, NULL, listen_main, l) == 0)
		return 0;
	*err = "cannot start the cancel listener thread";
	close(l->wake[0]);
	close(l->wake[1]);
	return -1;
}

void cancel_listener_stop(struct cancel_listener *l)
{
	const char byte = 1;
	ssize_t n;

	do
		n = write(l->wake[1], &byte, 1);
	while (n < 0 && errno == EINTR);
	pthread_join(l->thread, NULL);
	close(l->wake[0]);
	close(l->wake[1]);
}
