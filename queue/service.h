/*
 * service — what jobq says to, and takes from, a service manager (systemd).
 *
 * Notifications. service_notify sends sd_notify(3) states: READY=1 once a
 * binary serves (the API listens, the worker claims), STOPPING=1 when its
 * shutdown starts, STATUS=... lines a human reads in `systemctl status`.
 * They go to $NOTIFY_SOCKET only; without it (not started by systemd, or
 * not Type=notify) they are no-ops. Best effort by design: a manager that
 * misses READY=1 times the unit out and restarts it, which is the durable
 * fallback. The variable stays set, so programs the worker runs see it
 * too; systemd ignores their messages (NotifyAccess=main is the default).
 *
 * Socket activation. service_listen_fd takes over the listening socket a
 * manager passed with systemd's LISTEN_FDS/LISTEN_PID protocol (fd 3), and
 * unsets those variables so that nothing the process starts takes it too.
 *
 * The module has no state of its own: everything is in the environment.
 */
#ifndef JOBQ_SERVICE_H
#define JOBQ_SERVICE_H

#include <stddef.h>

/* service_notify sends the states in fmt (printf-style; newline-separated
 * "NAME=value" assignments) to the service manager, if there is one.
 * Best effort: failures are ignored (see above). */
void service_notify(const char *fmt, ...) __attribute__((format(printf, 1, 2)));

/* service_listen_fd reads the socket-activation variables. Returns 0 with
 * *fd = -1 when none were passed for this process, 0 with *fd the
 * inherited socket (owned by the caller from then on) when exactly one
 * listening TCP or Unix stream socket was, and -1 with a sentence in err
 * otherwise (more than one fd, or not a listening stream socket). */
int service_listen_fd(int *fd, char *err, size_t errlen);

/* service_describe_socket writes fd's local address into out: "a.b.c.d:port",
 * "[v6]:port" or "unix:/path". Returns 0, or -1 when it has none of those. */
int service_describe_socket(int fd, char *out, size_t outlen);

#endif
