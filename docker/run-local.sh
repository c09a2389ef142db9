#!/bin/sh
# run-local.sh — what `make run` does: a local jobq in the foreground.
#
# Without JOBQ_REDIS_URL it starts its own redis-server: data under ./var/,
# AOF on with appendfsync everysec, listening on a Unix socket only. Then it
# starts jobq-api (JOBQ_LISTEN, default 127.0.0.1:8080) and one jobq-worker,
# all logging to this terminal. Ctrl-C (or SIGTERM) stops the three: the API
# and the worker first (they finish what is in flight), Redis last.
set -eu
here=$(pwd)
bin=${JOBQ_BIN_DIR:-$here/bin}
redis_pid=""
api_pid=""
worker_pid=""

stop() {
	trap - INT TERM
	echo "run-local: stopping" >&2
	[ -n "$api_pid" ] && kill -TERM "$api_pid" 2>/dev/null || true
	[ -n "$worker_pid" ] && kill -TERM "$worker_pid" 2>/dev/null || true
	[ -n "$api_pid" ] && wait "$api_pid" 2>/dev/null || true
	[ -n "$worker_pid" ] && wait "$worker_pid" 2>/dev/null || true
	if [ -n "$redis_pid" ]; then
		kill -TERM "$redis_pid" 2>/dev/null || true
		wait "$redis_pid" 2>/dev/null || true
	fi
	exit 0
}
trap stop INT TERM

if [ -z "${JOBQ_REDIS_URL:-}" ]; then
	mkdir -p "$here/var/redis"
	sock="$here/var/redis.sock"
	# Its own session: Ctrl-C reaches the API and the worker, which finish
	# what they are doing, and Redis is stopped only after them.
	setsid redis-server --port 0 --unixsocket "$sock" --unixsocketperm 700 \
		--dir "$here/var/redis" --appendonly yes --appendfsync everysec \
		--save "" --maxmemory-policy noeviction &
	redis_pid=$!
	i=0
	until redis-cli -s "$sock" ping >/dev/null 2>&1; do
		i=$((i + 1))
		if [ "$i" -gt 100 ] || ! kill -0 "$redis_pid" 2>/dev/null; then
			echo "run-local: redis-server did not start" >&2
			stop
		fi
		sleep 0.1
	done
	JOBQ_REDIS_URL="unix://$sock"
	export JOBQ_REDIS_URL
	echo "run-local: embedded Redis at $JOBQ_REDIS_URL (data in var/redis, AOF everysec)" >&2
fi

"$bin/jobq-api" &
api_pid=$!
"$bin/jobq-worker" &
worker_pid=$!
echo "run-local: API on http://${JOBQ_LISTEN:-127.0.0.1:8080} — Ctrl-C stops everything" >&2

# Wait until one of them exits (or a signal comes), then stop the rest.
while kill -0 "$api_pid" 2>/dev/null && kill -0 "$worker_pid" 2>/dev/null; do
	sleep 1
done
echo "run-local: jobq-api or jobq-worker exited" >&2
stop
