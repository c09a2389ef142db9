#!/bin/sh
# smoke.sh — jobq as an operator runs it: redis-server on a TCP port,
# jobq-api and jobq-worker configured only through JOBQ_* variables, curl as
# the client. Complements the Criterion suites (which use a Unix socket):
# this checks the redis:// URL path, the environment variables and the
# README's tour. Stops everything it started, by PID, even on failure.
set -u
bin=${JOBQ_TEST_BIN_DIR:-bin}
dir=$(mktemp -d /tmp/jobq-smoke-XXXXXX)
pids=""
passed=0
failed=0

cleanup() {
	for p in $pids; do kill -TERM "$p" 2>/dev/null; done
	for p in $pids; do wait "$p" 2>/dev/null; done
	rm -rf "$dir"
}
trap cleanup EXIT INT TERM

free_port() {
	python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'
}

check() { # check NAME COMMAND...
	name=$1; shift
	if "$@"; then passed=$((passed + 1)); echo "ok   $name"
	else failed=$((failed + 1)); echo "FAIL $name"; fi
}

rport=$(free_port)
redis-server --port "$rport" --bind 127.0.0.1 --save "" --appendonly no --dir "$dir" >"$dir/redis.log" 2>&1 &
pids="$pids $!"
i=0
until redis-cli -p "$rport" ping >/dev/null 2>&1; do
	i=$((i + 1)); [ $i -gt 100 ] && { echo "redis-server did not start"; exit 1; }; sleep 0.05
done

aport=$(free_port)
export JOBQ_REDIS_URL="redis://127.0.0.1:$rport/3" JOBQ_LISTEN="127.0.0.1:$aport" JOBQ_PREFIX=smoke
"$bin/jobq-api" >"$dir/api.log" 2>&1 &
pids="$pids $!"
JOBQ_CONCURRENCY=1 "$bin/jobq-worker" >"$dir/worker.log" 2>&1 &
pids="$pids $!"
base="http://127.0.0.1:$aport"
i=0
until curl -fs "$base/healthz" >/dev/null 2>&1; do
	i=$((i + 1)); [ $i -gt 200 ] && { echo "jobq-api did not start"; cat "$dir/api.log"; exit 1; }; sleep 0.05
done

printf 'city,pop\nOslo,709000\nBergen,291000\n' >"$dir/cities.csv"
reply=$(curl -s -H 'Content-Type: text/csv' --data-binary @"$dir/cities.csv" "$base/v1/jobs")
id=$(printf '%s' "$reply" | python3 -c 'import json,sys; print(json.load(sys.stdin)["id"])')
check "submit returns a 32-hex id" sh -c "printf '%s' '$id' | grep -Eq '^[0-9a-f]{32}$'"
check "the job hash lives in Redis db 3 under the prefix" \
	sh -c "[ \"\$(redis-cli -p $rport -n 3 hget smoke:job:$id task)\" = profile ]"

status=""
i=0
while [ $i -lt 200 ]; do
	status=$(curl -s "$base/v1/jobs/$id" | python3 -c 'import json,sys; print(json.load(sys.stdin)["status"])')
	[ "$status" = succeeded ] || [ "$status" = failed ] && break
	i=$((i + 1)); sleep 0.05
done
check "the job succeeds" [ "$status" = succeeded ]
mean=$(curl -s "$base/v1/jobs/$id/result" | python3 -c '
import json,sys
p=json.load(sys.stdin)
print([c for c in p["columns"] if c["name"]=="pop"][0]["mean"])')
check "the profile's mean is right" [ "$mean" = "500000.0" ]
check "multipart upload with curl -F" sh -c \
	"curl -s -o /dev/null -w '%{http_code}' -F file=@$dir/cities.csv '$base/v1/jobs?task=ndjson' | grep -q 202"
check "--help names every JOBQ_ variable it reads" sh -c \
	"$bin/jobq-api --help | grep -q JOBQ_MAX_UPLOAD && $bin/jobq-worker --help | grep -q JOBQ_CONCURRENCY"
refused() { # refused VAR=VALUE FLAG: the API exits non-zero naming FLAG
	out=$(env "$1" "$bin/jobq-api" 2>&1) && return 1
	printf '%s' "$out" | grep -q -- "$2"
}
check "a bad value is refused at start-up naming the flag" refused JOBQ_MAX_UPLOAD=12X --max-upload
# A Redis whose longest string (proto-max-bulk-len, lowered here to 1 MiB,
# its least) is shorter than a 4 MiB piece of input is refused at start-up,
# naming both; --max-upload is no longer bounded by it.
check "a proto-max-bulk-len shorter than a piece of input is refused at start-up" sh -c \
	"redis-cli -p $rport CONFIG SET proto-max-bulk-len 1mb >/dev/null &&
	 ! out=\$(JOBQ_MAX_UPLOAD=600M '$bin/jobq-api' 2>&1);
	 redis-cli -p $rport CONFIG SET proto-max-bulk-len 512mb >/dev/null;
	 printf '%s' \"\$out\" | grep -q -- 'proto-max-bulk-len (1048576 bytes).*piece of input (4194304 bytes'"

echo "smoke: $passed passed, $failed failed"
[ "$failed" -eq 0 ]
