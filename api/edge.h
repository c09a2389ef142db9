/*
 * edge — the limits jobq-api puts on clients at its HTTP edge.
 *
 * What one client may cost the server is bounded five ways, each by an
 * option (README, "Limits and timeouts"):
 *   - connections in all (--max-connections: libmicrohttpd stops
 *     accepting, so new ones wait in the kernel's backlog) and per client
 *     address (--max-connections-per-ip: libmicrohttpd closes the ones past
 *     it as soon as they are accepted);
 *   - silence (--idle-timeout): a connection that sends nothing for that
 *     long is closed, in the headers, in a body, or between requests;
 *   - a request's headers as a whole (--header-timeout): header_deadline.h
 *     keeps that deadline, which libmicrohttpd has not;
 *   - one upload as a whole (--upload-timeout): from the end of a
 *     request's headers, its body must end within the deadline, however
 *     steadily it trickles. At each piece of body the connection's own
 *     timeout becomes the smaller of the idle timeout and what is left of
 *     the deadline, so a client gone quiet is cut off at the deadline too;
 *     a piece that arrives after it closes the connection without a reply
 *     (the reply could not be sent before the body ends anyway, submit.h).
 *     The request's completion then discards the upload: no staging piece,
 *     no job.
 *
 * Escapes: the path and the query arrive %-escaped. edge_unescape decodes
 * them as libmicrohttpd would, except that "%00" is kept as it is: a NUL
 * decoded into a path would cut it short ("/healthz%00x" would read as
 * "/healthz"), so such a path matches no route and gets 404, and such a
 * query value is no valid option (400).
 *
 * The open files limit: every connection is a descriptor, so at start the
 * soft RLIMIT_NOFILE is raised to the hard one (edge_raise_nofile) and a
 * --max-connections beyond it is logged as unreachable.
 *
 * The functions here keep no state of their own.
 */
#ifndef JOBQ_API_EDGE_H
#define JOBQ_API_EDGE_H

#include <microhttpd.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <netinet/in.h>
#include <sys/socket.h>

/* Descriptors the process needs besides its connections: Redis (one per
 * thread), the listening socket, the log, libmicrohttpd's channels. */
#define EDGE_FD_RESERVE 64

/* edge_timeout_s returns the connection timeout, in whole seconds, for a
 * request elapsed_ns after its headers ended: the smaller of idle_s and
 * what remains of upload_s (rounded up, at least 1: libmicrohttpd reads 0
 * as "never"). Returns 0 when the upload deadline has passed. */
unsigned edge_timeout_s(int64_t elapsed_ns, int idle_s, int upload_s);

/* edge_body_piece applies the upload deadline to conn for a request
 * elapsed_ns old that is receiving body: returns true while it may go on
 * (the connection's timeout is set as above), false once the deadline has
 * passed (the caller closes the connection). */
bool edge_body_piece(struct MHD_Connection *conn, int64_t elapsed_ns, int idle_s,
		     int upload_s);

/* edge_restore_timeout gives conn back the idle timeout after a request
 * whose pieces shortened it, for the next request on the connection. */
void edge_restore_timeout(struct MHD_Connection *conn, int idle_s);

/* edge_unescape decodes the %-escapes of the NUL-terminated s in place,
 * leaving "%00" and malformed escapes as they are ('+' is not touched
 * either, as libmicrohttpd leaves it). Returns the new length. It is the
 * daemon's MHD_OPTION_UNESCAPE_CALLBACK (cls and conn unused). */
size_t edge_unescape(void *cls, struct MHD_Connection *conn, char *s);

/* edge_raise_nofile raises the soft RLIMIT_NOFILE to the hard limit and
 * logs both, with a warning when max_connections plus EDGE_FD_RESERVE
 * does not fit. Best effort: a failure is logged and the process goes on
 * with the limit it has. */
void edge_raise_nofile(int max_connections);

/* edge_client_text writes a client's address (IPv4 or IPv6; NULL allowed)
 * as text into out, "?" when it is neither. */
void edge_client_text(const struct sockaddr *addr, char out[INET6_ADDRSTRLEN]);

#endif
