#!/bin/sh
# entrypoint.sh — the jobq image's entry point.
#
#   jobq-entrypoint api [FLAG...]      exec jobq-api with the flags
#   jobq-entrypoint worker [FLAG...]   exec jobq-worker with the flags
#   jobq-entrypoint healthcheck        the image's HEALTHCHECK (below)
#   jobq-entrypoint --version          both binaries' versions
#
# The binary replaces this shell (exec), so it is the container's main
# process and gets SIGTERM from `docker stop` itself: the worker finishes or
# requeues its running jobs, the API drains requests in flight, each within
# JOBQ_SHUTDOWN_GRACE (give the container a longer stop_grace_period).
# Configuration is the JOBQ_* environment (or flags): see docker/README.md.
set -eu

usage() {
	echo "usage: jobq-entrypoint api|worker [FLAG...] | healthcheck | --version" >&2
	exit 2
}

# main_process prints the name of the jobq binary this container runs
# (PID 1, or a child of an init such as `docker run --init`), or nothing.
main_process() {
	for f in /proc/1/comm /proc/[0-9]*/comm; do
		name=$(cat "$f" 2>/dev/null || true)
		case "$name" in
		jobq-api|jobq-worker) echo "$name"; return 0 ;;
		esac
	done
}

# healthcheck exits 0 when the container's jobq process is healthy: for
# jobq-api, GET /healthz on the port of JOBQ_LISTEN answers 200 (a Redis
# outage does not fail it: that is /readyz, for load balancers); for
# jobq-worker, the process exists (it has no HTTP port).
healthcheck() {
	case "$(main_process)" in
	jobq-api)
		listen=${JOBQ_LISTEN:-127.0.0.1:8080}
		port=${listen##*:}
		case "$listen" in
		\[*) host='[::1]' ;;
		*) host=127.0.0.1 ;;
		esac
		exec curl -fsS -o /dev/null --max-time 2 "http://$host:$port/healthz" ;;
	jobq-worker)
		exit 0 ;;
	*)
		echo "healthcheck: neither jobq-api nor jobq-worker is running" >&2
		exit 1 ;;
	esac
}

[ $# -ge 1 ] || usage
role=$1
shift
case "$role" in
api) exec /usr/local/bin/jobq-api "$@" ;;
worker) exec /usr/local/bin/jobq-worker "$@" ;;
healthcheck) healthcheck ;;
--version)
	/usr/local/bin/jobq-api --version
	exec /usr/local/bin/jobq-worker --version ;;
*) usage ;;
esac
