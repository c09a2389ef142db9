#!/bin/sh
# slow_with_grandchild.sh — an example jobq task that misbehaves, for the
# tests: it starts a grandchild that ignores SIGTERM, writes "PID GRANDCHILD"
# to $PID_DIR/pids when PID_DIR is set, and runs for five minutes without
# ever reading its input. Only SIGKILL to its process group ends both.
( trap '' TERM; exec sleep 300 ) &
gc=$!
if [ -n "${PID_DIR:-}" ]; then
	echo "$$ $gc" > "$PID_DIR/pids.tmp" && mv "$PID_DIR/pids.tmp" "$PID_DIR/pids"
fi
sleep 300
