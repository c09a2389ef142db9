/*
 * header_deadline — closes connections whose request headers take too long
 * to arrive (--header-timeout), however steadily they trickle.
 *
 * libmicrohttpd's own timeout (--idle-timeout) only bounds silence: a
 * client that sends one header byte just inside each idle timeout keeps
 * its connection, and enough of them take every connection the server has.
 * libmicrohttpd has no deadline of its own for the headers and calls
 * nothing until they are complete, so this module keeps one: each open
 * connection has a watch, armed when the connection opens (its first
 * request's headers are due within the timeout) and when a request
 * completes on a connection kept alive (the next request's headers are
 * due within --idle-timeout plus the timeout: the client may wait that
 * long before it starts, as the idle timeout allows). The access handler's
 * first call about a request disarms it. A sweeper thread looks at every
 * watch a few times per timeout and shuts down the socket of a connection
 * past its deadline (shutdown(2), not close: the descriptor stays
 * libmicrohttpd's, which sees the end of the stream and closes the
 * connection on its own thread).
 *
 * Safety of the shutdown: a watch leaves the registry in libmicrohttpd's
 * "connection closed" notification, which it sends before it closes the
 * descriptor, and the sweeper shuts sockets down only under the registry's
 * lock, so it never touches a descriptor number that was closed and reused.
 *
 * Cost on the request path: two relaxed atomic stores per request (disarm,
 * re-arm); the lock is taken when a connection opens or closes and by the
 * sweeper.
 */
#ifndef JOBQ_API_HEADER_DEADLINE_H
#define JOBQ_API_HEADER_DEADLINE_H

#include <sys/socket.h>

struct header_deadline;
struct header_watch;

struct metrics;

/* header_deadline_start starts the sweeper for header_timeout_s (> 0)
 * with idle_timeout_s as the keep-alive wait; each connection it cuts off
 * is logged and counted in m (borrowed; it must outlive hd). Returns the
 * registry (the caller frees it with header_deadline_stop), or NULL when
 * out of memory or no thread could start. */
struct header_deadline *header_deadline_start(int header_timeout_s, int idle_timeout_s,
					      struct metrics *m);

/* header_deadline_stop stops the sweeper and frees hd and any watch left
 * (call it after the HTTP daemon stopped). NULL is allowed. */
void header_deadline_stop(struct header_deadline *hd);

/* header_deadline_open registers the connection on socket fd from addr
 * (copied; may be NULL) with its first request's headers due within the
 * timeout. Returns its watch, freed by header_deadline_close, or NULL when
 * out of memory (the connection then goes unwatched). */
struct header_watch *header_deadline_open(struct header_deadline *hd, int fd,
					  const struct sockaddr *addr);

/* header_deadline_close unregisters and frees w (NULL is allowed); called
 * before the descriptor is closed. */
void header_deadline_close(struct header_deadline *hd, struct header_watch *w);

/* header_deadline_arrived disarms w: a request's headers are complete.
 * NULL is allowed. */
void header_deadline_arrived(struct header_watch *w);

/* header_deadline_rearm arms w for the next request of a connection kept
 * alive after one completed. NULL is allowed. */
void header_deadline_rearm(struct header_deadline *hd, struct header_watch *w);

#endif
