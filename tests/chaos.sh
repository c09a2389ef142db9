#!/usr/bin/env bash
# chaos.sh — issue 3 at random: every job that got a 202 reaches a terminal
# state, whatever happens to workers or Redis.
#
# Starts redis-server with AOF (appendfsync always) on a Unix socket in a
# temporary directory, jobq-api on a free loopback port and 3 jobq-workers
# (--lease 3s). A python3 client (standard library only) submits a stream of
# small CSVs from two threads; meanwhile a random worker is SIGKILLed and
# restarted every second, and Redis is SIGKILLed and restarted on the same
# AOF once in the middle. Then it waits (bounded) until every accepted job is
# terminal and prints:
#
#   accepted    submissions answered 202
#   terminal    of those, jobs now succeeded, failed or cancelled
#   lost        accepted but not terminal, or missing
#   re-executed jobs with attempts > 1 (allowed: delivery is at-least-once)
#   completed-twice  jobs with more than one "job finished" line across all
#               worker logs (must be 0: completion is fenced)
#
# Exits 1 when lost > 0 or completed-twice > 0. Stops everything it started
# by PID (trap EXIT); a watchdog bounds the whole run to 170 s.
#
# Environment: JOBQ_TEST_BIN_DIR (default bin), CHAOS_JOBS (default 2400),
# CHAOS_KEEP=1 keeps the directory.
set -u
bin=${JOBQ_TEST_BIN_DIR:-bin}
jobs=${CHAOS_JOBS:-2400}
dir=$(mktemp -d /tmp/jobq-chaos-XXXXXX)
sock="$dir/redis.sock"
redis_pid=""
api_pid=""
client_pid=""
watchdog_pid=""
worker_pids=("" "" "")

cleanup() {
	trap - EXIT INT TERM
	local p
	for p in "$client_pid" "${worker_pids[@]}" "$api_pid"; do
		[ -n "$p" ] && kill -KILL "$p" 2>/dev/null
	done
	[ -n "$redis_pid" ] && kill -KILL "$redis_pid" 2>/dev/null
	[ -n "$watchdog_pid" ] && kill -TERM "$watchdog_pid" 2>/dev/null
	wait 2>/dev/null
	if [ "${CHAOS_KEEP:-0}" = 1 ]; then echo "logs kept in $dir"; else rm -rf "$dir"; fi
}
trap cleanup EXIT
trap 'echo "chaos: interrupted"; exit 2' INT TERM

# watchdog ends a run that hangs (its TERM runs the trap above); a TERM to
# the watchdog ends it and its sleep.
watchdog() {
	sleep 170 >/dev/null 2>&1 &
	local sp=$!
	trap 'kill -KILL $sp 2>/dev/null; exit 0' TERM
	wait $sp
	echo "chaos: watchdog: 170 s passed, giving up"
	kill -TERM $$
}
watchdog &
watchdog_pid=$!

free_port() {
	python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'
}

start_redis() {
	rm -f "$sock"
	redis-server --port 0 --unixsocket "$sock" --dir "$dir" --save "" \
		--appendonly yes --appendfsync always >>"$dir/redis.log" 2>&1 &
	redis_pid=$!
	local i=0
	until [ "$(redis-cli -s "$sock" ping 2>/dev/null)" = PONG ]; do
		i=$((i + 1)); [ $i -gt 200 ] && { echo "chaos: redis-server did not start"; exit 2; }
		sleep 0.05
	done
}

start_worker() { # start_worker SLOT
	"$bin/jobq-worker" --redis-url "unix://$sock" --concurrency 2 --lease 3s \
		--retry-base 100ms --retry-cap 1s >>"$dir/worker$1.log" 2>&1 &
	worker_pids[$1]=$!
}

start_redis
aport=$(free_port)
"$bin/jobq-api" --redis-url "unix://$sock" --listen "127.0.0.1:$aport" --threads 4 \
	>"$dir/api.log" 2>&1 &
api_pid=$!
for s in 0 1 2; do start_worker $s; done
i=0
until curl -fs "http://127.0.0.1:$aport/healthz" >/dev/null 2>&1; do
	i=$((i + 1)); [ $i -gt 200 ] && { echo "chaos: jobq-api did not start"; exit 2; }
	sleep 0.05
done
echo "chaos: redis (AOF always), jobq-api on 127.0.0.1:$aport, 3 workers (lease 3s), $jobs submissions"

# ---- The client ------------------------------------------------------------
# Submits jobs from two threads, paced so the stream lasts ~25 s; writes
# each accepted id to accepted.txt and a summary of the replies.
cat >"$dir/client.py" <<'EOF'
import http.client, json, sys, threading, time
port, total, out = int(sys.argv[1]), int(sys.argv[2]), sys.argv[3]
lock = threading.Lock()
stats = {"202": 0, "503": 0, "other": 0, "transport": 0, "max_s": 0.0}
accepted = open(out, "w")
def submit(n):
    body = "id,v\n%d,%d\n%d,%d\n" % (n, n * 7, n + 1, n * 3)
    t0 = time.monotonic()
    try:
        c = http.client.HTTPConnection("127.0.0.1", port, timeout=5)
        c.request("POST", "/v1/jobs", body, {"Content-Type": "text/csv"})
        r = c.getresponse(); data = r.read(); c.close()
        key, jid = str(r.status), None
        if r.status == 202:
            jid = json.loads(data)["id"]
        elif r.status != 503:
            key = "other"
    except Exception:
        key, jid = "transport", None
    dt = time.monotonic() - t0
    with lock:
        stats[key] = stats.get(key, 0) + 1
        stats["max_s"] = max(stats["max_s"], dt)
        if jid:
            accepted.write(jid + "\n"); accepted.flush()
def loop(start, step):
    for n in range(start, total, step):
        submit(n)
        time.sleep(0.02)
ts = [threading.Thread(target=loop, args=(k, 2)) for k in range(2)]
for t in ts: t.start()
for t in ts: t.join()
accepted.close()
print("chaos: submissions: %d accepted (202), %d refused (503), %d other, %d transport errors; slowest %.2f s"
      % (stats["202"], stats["503"], stats["other"], stats["transport"], stats["max_s"]))
EOF
python3 "$dir/client.py" "$aport" "$jobs" "$dir/accepted.txt" &
client_pid=$!

# ---- The chaos -------------------------------------------------------------
kills=0
t0=$SECONDS
redis_restarted=0
while kill -0 "$client_pid" 2>/dev/null; do
	sleep 1
	s=$((RANDOM % 3))
	kill -KILL "${worker_pids[$s]}" 2>/dev/null
	wait "${worker_pids[$s]}" 2>/dev/null
	start_worker "$s"
	kills=$((kills + 1))
	if [ $redis_restarted = 0 ] && [ $((SECONDS - t0)) -ge 10 ]; then
		echo "chaos: SIGKILL redis-server at $((SECONDS - t0)) s"
		kill -KILL "$redis_pid"; wait "$redis_pid" 2>/dev/null
		sleep 1
		start_redis
		echo "chaos: redis-server restarted on its AOF"
		redis_restarted=1
	fi
done
wait "$client_pid"
client_pid=""
echo "chaos: $kills worker SIGKILLs, redis restarted $redis_restarted time(s)"

# ---- The verdict -----------------------------------------------------------
# Waits until every accepted job is terminal (at most 90 s), then counts.
cat >"$dir/check.py" <<'EOF'
import glob, json, subprocess, sys, time
sock, accepted_path, logdir = sys.argv[1], sys.argv[2], sys.argv[3]
ids = [l.strip() for l in open(accepted_path) if l.strip()]
def statuses():
    script = "\n".join("HMGET jobq:job:%s status attempts" % i for i in ids)
    out = subprocess.run(["redis-cli", "-s", sock], input=script, capture_output=True,
                         text=True, timeout=30).stdout.split("\n")
    return [(out[2 * k], out[2 * k + 1]) for k in range(len(ids))]
terminal_states = {"succeeded", "failed", "cancelled"}
deadline = time.monotonic() + 90
while True:
    st = statuses()
    pending = sum(1 for s, _ in st if s not in terminal_states)
    if pending == 0 or time.monotonic() > deadline:
        break
    time.sleep(1)
terminal = len(ids) - pending
failed = sum(1 for s, _ in st if s == "failed")
reexec = sum(1 for _, a in st if a.isdigit() and int(a) > 1)
finished = {}
for path in glob.glob(logdir + "/worker*.log"):
    for line in open(path, errors="replace"):
        try:
            j = json.loads(line)
        except ValueError:
            continue
        if j.get("msg") == "job finished":
            finished[j.get("job_id")] = finished.get(j.get("job_id"), 0) + 1
twice = sum(1 for n in finished.values() if n > 1)
print("chaos: accepted %d" % len(ids))
print("chaos: terminal %d (failed %d)" % (terminal, failed))
print("chaos: lost %d" % pending)
for (s, a), i in zip(st, ids):
    if s not in terminal_states and pending <= 20:
        print("chaos:   lost job %s status=%r attempts=%r" % (i, s, a))
print("chaos: re-executed (attempts > 1) %d" % reexec)
print("chaos: completed-twice %d" % twice)
ok = pending == 0 and twice == 0 and len(ids) > 0
print("chaos: %s" % ("PASS" if ok else "FAIL"))
sys.exit(0 if ok else 1)
EOF
python3 "$dir/check.py" "$sock" "$dir/accepted.txt" "$dir"
status=$?
[ $status = 0 ] || CHAOS_KEEP=1
exit $status
