#!/bin/sh
# run.sh — jobq's benchmarks; `make bench` runs it after building bin/.
#
# One run measures, on this machine, in about two minutes (up to five when
# other test runs share the CPUs):
#   1. ingest      POST /v1/jobs of a 1 KiB CSV, 50 keep-alive connections,
#                  2 s warm-up then 10 s (wrk + post.lua), no worker; beside
#                  it the same load on ceiling.c (one LPUSH per request) in
#                  its two threading modes;
#   2. end to end  20,000 small jobs through the API (wrk + submit_n.lua),
#                  one worker: jobs/s from the first created_at to the last
#                  finished_at, and finished_at - created_at per job;
#   3. profile     a ~200 MB mixed CSV (gen_csv.c): the profile task on it
#                  (started_at to finished_at), raw libcsv and csv_reader
#                  field counting, and wc -l, on the same file;
#   4. memory      peak RSS (VmHWM) of jobq-api while a 1 GiB upload streams
#                  in (tried a second time when refused; both attempts are
#                  reported), and of a fresh jobq-worker profiling that job;
#                  the speed of that lone 1 GiB profile beside raw libcsv on
#                  one core over the same bytes (written to a file after the
#                  job, best of two);
#   5. cancel      DELETE of a running job to its status "cancelled", when
#                  the API has a DELETE route.
# It prints one table and writes it as JSON to
# tests/bench/results/<YYYY-MM-DD>.json (bench.py does the arithmetic;
# `python3 tests/bench/bench.py markdown FILE` prints README's table). Each
# phase also records how much CPU other processes took meanwhile, so that a
# run on a shared machine says so.
#
# Everything listens on 127.0.0.1 only, on ports picked free; every process
# it starts is stopped by PID on exit (trap), and every wait has a deadline,
# so it ends by itself. Environment: JOBQ_BENCH_BIN_DIR (default bin/),
# CC and CFLAGS (the Makefile's defaults: cc, -O2 -g) for the helper
# programs, JOBQ_BENCH_KEEP=1 to keep the work directory and its logs,
# BENCH_ONLY=e2e,profile to run only those parts (names: ingest, e2e,
# profile, memory, cancel). A partial run prints its table but writes its
# JSON to $TMPDIR (/tmp), not to tests/bench/results/: only a full run is
# a result to keep.
set -u

root=$(cd "$(dirname "$0")/../.." && pwd)
here=$root/tests/bench
bin=${JOBQ_BENCH_BIN_DIR:-$root/bin}
build=$root/build/bench
work=$(mktemp -d /tmp/jobq-bench-XXXXXX)
facts=$work/facts
pids=""
prefix=jobq

# ---- Processes ---------------------------------------------------------------

# alive PID: true while PID runs (a zombie waiting to be reaped does not).
alive() {
	[ -r "/proc/$1/stat" ] && [ "$(awk '{print $3}' "/proc/$1/stat" 2>/dev/null)" != Z ]
}

# stop PID: SIGTERM, SIGKILL after 10 s, then reap; PID leaves $pids.
stop() {
	kill -TERM "$1" 2>/dev/null
	_n=0
	while alive "$1" && [ $_n -lt 100 ]; do sleep 0.1; _n=$((_n + 1)); done
	alive "$1" && kill -KILL "$1" 2>/dev/null
	wait "$1" 2>/dev/null
	pids=$(echo " $pids " | sed "s/ $1 / /; s/^ *//; s/ *$//")
}

cleanup() {
	for p in $pids; do stop "$p"; done
	if [ "${JOBQ_BENCH_KEEP:-0}" = 1 ]; then echo "bench: work directory kept: $work"
	else rm -rf "$work"; fi
}
trap cleanup EXIT
trap 'exit 130' INT TERM

die() {
	echo "bench: $*" >&2
	exit 1
}

# wait_for SECONDS COMMAND...: polls COMMAND until it succeeds; 1 at the deadline.
wait_for() {
	end=$(($(date +%s) + $1)); shift
	until "$@" >/dev/null 2>&1; do
		[ "$(date +%s)" -ge "$end" ] && return 1
		sleep 0.05
	done
}

free_port() {
	python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'
}

now_ms() { echo $(($(date +%s%N) / 1000000)); }

vmhwm() { awk '/^VmHWM:/{print $2}' "/proc/$1/status"; }

# fact KEY VALUE: records a raw figure for bench.py (VALUE is JSON, or a string).
fact() { printf '%s %s\n' "$1" "$2" >>"$facts"; }

start_redis() {
	rport=$(free_port)
	# Redis's defaults: an input is kept in 4 MiB pieces, none near
	# proto-max-bulk-len even for the 1 GiB upload (part 4).
	redis-server --port "$rport" --bind 127.0.0.1 --save "" --appendonly no \
		--dir "$work" --logfile "$work/redis.log" &
	redis_pid=$!; pids="$pids $redis_pid"
	wait_for 10 rcli ping || die "redis-server did not start"
}

rcli() { redis-cli -h 127.0.0.1 -p "$rport" "$@"; }

flush() { rcli flushall >/dev/null; }

# start_api ARGS...: jobq-api on a free port; sets api_pid and api.
api_n=0
start_api() {
	api_n=$((api_n + 1)); log=$work/api.$api_n.log
	"$bin/jobq-api" --redis-url "redis://127.0.0.1:$rport/0" --listen 127.0.0.1:0 \
		--prefix "$prefix" --shutdown-grace 2s "$@" >"$log" 2>&1 &
	api_pid=$!; pids="$pids $api_pid"
	wait_for 10 grep -q '"listening"' "$log" || die "jobq-api did not start: $(tail -3 "$log")"
	api=http://$(grep '"listening"' "$log" | grep -o '127\.0\.0\.1:[0-9]*' | head -1)
}

# start_worker ARGS...: a fresh jobq-worker; sets worker_pid.
worker_n=0
start_worker() {
	worker_n=$((worker_n + 1)); log=$work/worker.$worker_n.log
	"$bin/jobq-worker" --redis-url "redis://127.0.0.1:$rport/0" --prefix "$prefix" \
		--shutdown-grace 1s "$@" >"$log" 2>&1 &
	worker_pid=$!; pids="$pids $worker_pid"
	wait_for 10 grep -q '"worker started"' "$log" || die "jobq-worker did not start: $(tail -3 "$log")"
}

# start_ceiling MODE: ceiling.c in MODE with 2 threads; sets ceiling_pid and ceiling.
start_ceiling() {
	"$build/ceiling" "$1" "$rport" 2 >"$work/ceiling.$1.log" 2>&1 &
	ceiling_pid=$!; pids="$pids $ceiling_pid"
	wait_for 5 grep -q listening "$work/ceiling.$1.log" || die "ceiling $1 did not start"
	ceiling=http://127.0.0.1:$(awk '/listening/{print $2}' "$work/ceiling.$1.log")
}

# job_status ID / job_times ID: fields of a job hash (times as JSON).
job_status() { rcli hget "$prefix:job:$1" status; }
job_finished() { case $(job_status "$1") in succeeded|failed|cancelled) return 0;; esac; return 1; }
job_times() {
	rcli --raw hmget "$prefix:job:$1" status created_at started_at finished_at |
		awk 'function n(v) { return v ~ /^[0-9]+$/ ? v : 0 }
		     NR==1{s=$0} NR==2{c=$0} NR==3{b=$0} NR==4{f=$0}
		     END{printf "{\"status\":\"%s\",\"created_at\":%s,\"started_at\":%s,\"finished_at\":%s}\n", s, n(c), n(b), n(f)}'
}

# upload FILE [QUERY]: POSTs FILE as text/csv; prints the job id, or nothing.
upload() {
	curl -sS -H 'Content-Type: text/csv' --data-binary @"$1" "$api/v1/jobs${2:-}" |
		python3 -c 'import json,sys; print(json.load(sys.stdin).get("id",""))' 2>/dev/null
}

# ---- Phases --------------------------------------------------------------------

phase_name=""
phase_t0=0
phase_cpu0=""
bench_t0=$(now_ms)

# phase NAME: closes the running phase (its duration and how much CPU other
# processes took meanwhile become facts) and opens NAME, noting the test or
# build processes running then that this run did not start.
phase() {
	t=$(now_ms)
	if [ -n "$phase_name" ]; then
		fact "phase_seconds.$phase_name" "$(((t - phase_t0) / 100))e-1"
		fact "interference.$phase_name" "$(cpu_share "$phase_cpu0" $((t - phase_t0)))"
	fi
	phase_name=$1; phase_t0=$t; phase_cpu0=$(cpu_now)
	[ "$1" = done ] && return
	echo "bench: $1..." >&2
	fact "busy.$1" "$(foreign)"
}

# cpu_now prints "busy steal ours" in clock ticks: the machine's busy time
# (user, nice, system), its steal time, and the time of this run's own
# processes (this shell with every child it has reaped, plus the ones in
# $pids still running). Busy minus ours is what other processes took.
cpu_now() {
	ours=$(awk '{print $14 + $15 + $16 + $17}' "/proc/$$/stat")
	for p in $pids; do ours=$((ours + $(ticks "$p" 2>/dev/null || echo 0))); done
	awk -v ours="$ours" '/^cpu /{print $2 + $3 + $4, $9, ours; exit}' /proc/stat
}

# cpu_share CPU0 MS: JSON with the share of the machine's CPUs that other
# processes took (and the hypervisor stole) since the cpu_now snapshot
# CPU0, taken MS milliseconds ago.
cpu_share() {
	echo "$1 $(cpu_now)" | awk -v ms="$2" -v hz="$(getconf CLK_TCK)" -v n="$(nproc)" '{
		cap = ms / 1000 * hz * n; if (cap <= 0) cap = 1
		f = ($4 - $1 - ($6 - $3)) / cap; if (f < 0) f = 0
		printf "{\"foreign_cpu_share\":%.3f,\"steal_share\":%.3f}", f, ($5 - $2) / cap }'
}

# ticks PID: the CPU time PID has used so far, in clock ticks.
ticks() { awk '{print $14 + $15}' "/proc/$1/stat"; }

foreign() {
	ps -eo pid=,comm= | while read -r p c; do
		case " $pids " in *" $p "*) continue ;; esac
		case $c in
		redis-server|jobq-api|jobq-worker|*-tests|cc1|cc1plus|wrk|valgrind*|perf|memcheck*)
			printf '%s ' "$c" ;;
		esac
	done
}

build_tools() {
	cc=${CC:-cc}
	cflags="-std=c11 -Wall -Wextra -Werror -Wshadow -Wstrict-prototypes -Wpointer-arith -Wformat=2 ${CFLAGS:--O2 -g} -pthread -D_GNU_SOURCE"
	mkdir -p "$build"
	# shellcheck disable=SC2086
	$cc $cflags -o "$build/gen_csv" "$here/gen_csv.c" &&
	$cc $cflags -o "$build/libcsv_count" "$here/libcsv_count.c" -lcsv &&
	$cc $cflags -I"$root/queue" -o "$build/reader_count" "$here/reader_count.c" "$root/queue/csv_reader.c" &&
	$cc $cflags -I"$root/queue" -I"$root/worker" -o "$build/profile_file" "$here/profile_file.c" \
		"$root/queue/csv_reader.c" "$root/queue/flatjson.c" "$root/queue/config.c" "$root/queue/ids.c" \
		"$root/worker/task_profile.c" "$root/worker/column_stats.c" \
		"$root/worker/stats_pipe.c" "$root/worker/hll.c" -ljansson -lm &&
	$cc $cflags $(pkg-config --cflags libmicrohttpd hiredis) -o "$build/ceiling" "$here/ceiling.c" \
		$(pkg-config --libs libmicrohttpd hiredis) &&
	# Not run by the bench: built so that it keeps building (README,
	# "How the time was cut", measures enqueue.lua with it).
	$cc $cflags -I"$root/queue" -o "$build/enqueue_cost" "$here/enqueue_cost.c" \
		"$root/build/libjobq.a" $(pkg-config --libs hiredis jansson) -lm ||
		die "cannot build the benchmark's helper programs"
}

machine_facts() {
	fact date "$(date -u +%Y-%m-%d)"
	fact machine.nproc "$(nproc)"
	fact machine.cpu "$(sed -n 's/^model name[[:space:]]*: //p' /proc/cpuinfo | head -1)"
	fact machine.mem "$(awk '/^MemTotal/{printf "%.1f GiB", $2 / 1048576}' /proc/meminfo)"
	fact machine.kernel "$(uname -sr)"
	fact machine.os "$(sed -n 's/^PRETTY_NAME="\(.*\)"/\1/p' /etc/os-release)"
	fact versions.jobq "$("$bin/jobq-api" --version)"
	# Quoted: a short hash of digits only would be read back as a number.
	fact versions.git "\"$(git -C "$root" describe --always --dirty 2>/dev/null || echo unknown)\""
	fact versions.redis "$(redis-server --version)"
	fact versions.wrk "$(dpkg-query -W -f='${Version}' wrk 2>/dev/null)"
	fact versions.cc "$(${CC:-cc} --version | head -1)"
	fact versions.cflags "${CFLAGS:--O2 -g}"
	fact versions.libmicrohttpd "$(pkg-config --modversion libmicrohttpd)"
	fact versions.hiredis "$(pkg-config --modversion hiredis)"
	fact versions.libcsv "$(dpkg-query -W -f='${Version}' libcsv3 2>/dev/null)"
	fact load.start "$(cut -d' ' -f1-3 /proc/loadavg)"
	fact machine.clk_tck "$(getconf CLK_TCK)"
}

# ---- 1. Ingest -----------------------------------------------------------------

# wrk_post URL SECONDS OUT: post.lua's load; prints its JSON line.
wrk_post() {
	wrk -t2 -c50 -d"$2"s --latency -s "$here/post.lua" "$1" -- "$work/body1k.csv" >"$3" 2>&1
	sed -n 's/^BENCH_JSON //p' "$3"
}

# ingest_measure NAME BASE PID: warm-up, then the measured run on a flushed
# Redis; also the CPU time the server (PID) and Redis used meanwhile.
ingest_measure() {
	flush
	wrk_post "$2/v1/jobs" 2 "$work/wrk.$1.warm" >/dev/null
	flush
	cpu0=$(cpu_now); t0=$(now_ms); s0=$(ticks "$3"); r0=$(ticks "$redis_pid")
	r=$(wrk_post "$2/v1/jobs" 10 "$work/wrk.$1")
	fact "ingest.cpu_ticks.$1" "{\"server\":$(($(ticks "$3") - s0)),\"redis\":$(($(ticks "$redis_pid") - r0))}"
	[ -n "$r" ] || echo "bench: wrk gave no figures for $1: $(tail -3 "$work/wrk.$1")" >&2
	fact "ingest.$1" "${r:-null}"
	fact "ingest.interference.$1" "$(cpu_share "$cpu0" $(($(now_ms) - t0)))"
}

bench_ingest() {
	python3 "$here/bench.py" body1k "$work/body1k.csv"
	fact ingest.setup '{"body_bytes":1024,"connections":50,"wrk_threads":2,"warmup_s":2,"duration_s":10,"api_threads":2,"ceiling_threads":2}'
	start_api --max-queue-depth 0  # raw ingest: no worker drains the queue
	ingest_measure jobq "$api" "$api_pid"
	fact ingest.jobq_queued "$(rcli llen "$prefix:queue:default")"
	stop "$api_pid"
	for mode in pool thread; do
		start_ceiling "$mode"
		ingest_measure "ceiling_$mode" "$ceiling" "$ceiling_pid"
		stop "$ceiling_pid"
	done
	flush
}

# ---- 2. End to end -------------------------------------------------------------

drained() {
	[ "$(rcli llen "$prefix:queue:default")" = 0 ] && [ "$(rcli zcard "$prefix:running")" = 0 ]
}

done_files() { [ "$(ls "$work/done" | wc -l)" -ge 2 ]; }

bench_e2e() {
	n=20000
	printf 'city,pop,founded\nOslo,709000,1040-01-01\nBergen,291000,1070-01-01\n' >"$work/small.csv"
	fact e2e.setup "{\"jobs\":$n,\"connections\":16,\"wrk_threads\":2,\"workers\":1,\"concurrency\":\"default\",\"body_bytes\":$(wc -c <"$work/small.csv")}"
	flush
	rcli config resetstat >/dev/null # commandstats of this part alone
	start_api
	start_worker
	mkdir -p "$work/done"
	r0=$(ticks "$redis_pid"); w0=$(ticks "$worker_pid"); a0=$(ticks "$api_pid")
	wrk -t2 -c16 -d90s -s "$here/submit_n.lua" "$api/v1/jobs" -- "$work/small.csv" "$n" "$work/done" 2 \
		>"$work/wrk.e2e" 2>&1 &
	wrk_pid=$!; pids="$pids $wrk_pid"
	wait_for 90 done_files || echo "bench: not every submission was answered" >&2
	stop "$wrk_pid"
	fact e2e.submit_failures "$(cat "$work"/done/done.* 2>/dev/null | awk '{s += $1} END {print s + 0}')"
	wait_for 90 drained || echo "bench: the worker did not finish the jobs in time" >&2
	# Where Redis spent its time: calls and microseconds per command (the
	# scripts' inner commands are counted too, under their own names).
	fact e2e.redis_commandstats "$(rcli info commandstats | python3 "$here/bench.py" commandstats)"
	fact e2e.cpu_ticks "{\"api\":$(($(ticks "$api_pid") - a0)),\"worker\":$(($(ticks "$worker_pid") - w0)),\"redis\":$(($(ticks "$redis_pid") - r0))}"
	rcli --raw eval "$(python3 "$here/bench.py" jobs-lua)" 0 "$prefix" | python3 "$here/bench.py" jobs >"$work/e2e.json"
	fact e2e.jobs "$(cat "$work/e2e.json")"
	if grep -q "\"by_status\": {\"succeeded\": $n}" "$work/e2e.json"; then fact e2e.complete true
	else fact e2e.complete false; fi
	stop "$worker_pid"
	stop "$api_pid"
	flush
}

# ---- 3. Profile speed ------------------------------------------------------------

bench_profile() {
	csv=$work/profile.csv
	t0=$(now_ms)
	"$build/gen_csv" 200000000 >"$csv" || die "gen_csv failed"
	fact profile.generate_s "$((($(now_ms) - t0) / 10))e-2"
	fact profile.bytes "$(wc -c <"$csv")"
	flush
	start_api --max-upload 1G
	for i in 1 2 3; do
		t0=$(now_ms)
		id=$(upload "$csv" "?queue=bench$i")
		[ $i = 1 ] && fact profile.upload_s "$((($(now_ms) - t0) / 10))e-2"
		[ -n "$id" ] || { echo "bench: the 200 MB upload was refused" >&2; stop "$api_pid"; return; }
		eval "id_$i=$id"
	done
	stop "$api_pid"
	cat "$csv" >/dev/null # in the page cache for every reader alike
	# Three rounds. Each runs the raw readers and then, on a fresh worker,
	# one job that waits alone on its own queue: raw and jobq figures are
	# taken side by side under the same conditions; the best of three of
	# each is kept.
	for i in 1 2 3; do
		"$build/libcsv_count" "$csv" >>"$work/libcsv.lines"
		"$build/reader_count" "$csv" >>"$work/reader.lines"
		python3 "$here/bench.py" timeit 1 wc -l "$csv" >>"$work/wc.lines"
		eval "id=\$id_$i"
		start_worker --queue "bench$i"
		wait_for 120 job_finished "$id" || echo "bench: a profile job did not finish in time" >&2
		fact "profile.jobs.$i" "$(job_times "$id")"
		fact "profile.worker_vmhwm_kib.$i" "$(vmhwm "$worker_pid")"
		stop "$worker_pid"
	done
	fact profile.libcsv "$(python3 "$here/bench.py" best <"$work/libcsv.lines")"
	fact profile.reader "$(python3 "$here/bench.py" best <"$work/reader.lines")"
	fact profile.wc "$(python3 "$here/bench.py" best <"$work/wc.lines")"
	flush
}

# ---- 4. Memory -------------------------------------------------------------------

# upload_1g: streams 1 GiB from gen_csv through one chunked upload to a
# fresh API; prints the HTTP status.
upload_1g() {
	"$build/gen_csv" 1073741824 |
		curl -sS -X POST -T - -H 'Content-Type: text/csv' -o "$work/mem.json" -w '%{http_code}' \
			"$api/v1/jobs"
}

# memory_attempt N: one 1 GiB upload to a fresh API; its figures become
# the fact memory.attempts.N; sets code to the HTTP status.
memory_attempt() {
	flush
	rcli config set latency-monitor-threshold 100 >/dev/null
	rcli latency reset >/dev/null
	rm -f "$work/mem.json"
	start_api --max-upload 2G  # the default --redis-timeout: staged in 4 MiB pieces, no command takes long
	hwm0=$(vmhwm "$api_pid")
	t0=$(now_ms); r0=$(ticks "$redis_pid"); a0=$(ticks "$api_pid")
	code=$(upload_1g)
	t1=$(now_ms)
	hwm=$(vmhwm "$api_pid")
	cpu="{\"api\":$(($(ticks "$api_pid") - a0)),\"redis\":$(($(ticks "$redis_pid") - r0))}"
	stop "$api_pid"
	# Redis's own latency monitor: its slowest command (APPEND counts as a
	# "fast-command") and how many seconds had one of 100 ms or more.
	lat=$(rcli --raw latency latest | awk 'NR % 4 == 0 && $0 + 0 > m {m = $0 + 0} END {print m + 0}')
	spikes=$( (rcli --raw latency history command; rcli --raw latency history fast-command) |
		awk 'NR % 2 == 0' | wc -l)
	reply=$(head -c 300 "$work/mem.json" 2>/dev/null | python3 -c 'import json,sys; print(json.dumps(sys.stdin.read()))')
	fact "memory.attempts.$1" "{\"http_status\":${code:-0},\"upload_s\":$(((t1 - t0) / 10))e-2,\"api_vmhwm_start_kib\":$hwm0,\"api_vmhwm_kib\":$hwm,\"redis_latency_max_ms\":$lat,\"redis_latency_spikes\":$spikes,\"cpu_ticks\":$cpu,\"reply\":$reply}"
}

# bench_memory_libcsv times libcsv on one core over the same GiB, written
# to a file and synced first (so that no write-back runs meanwhile), best
# of two: the target is that the lone job profiles faster than that.
bench_memory_libcsv() {
	"$build/gen_csv" 1073741824 >"$work/mem.csv" && sync &&
		"$build/libcsv_count" "$work/mem.csv" >"$work/mem_libcsv.lines" &&
		"$build/libcsv_count" "$work/mem.csv" >>"$work/mem_libcsv.lines" &&
		fact memory.libcsv "$(python3 "$here/bench.py" best <"$work/mem_libcsv.lines")"
	rm -f "$work/mem.csv"
}

bench_memory() {
	code=""
	memory_attempt 1
	[ "$code" = 202 ] || memory_attempt 2
	if [ "$code" != 202 ]; then
		flush
		return
	fi
	id=$(python3 -c 'import json,sys; print(json.load(open(sys.argv[1]))["id"])' "$work/mem.json")
	fact memory.bytes "$(python3 -c 'import json,sys; print(json.load(open(sys.argv[1]))["bytes"])' "$work/mem.json")"
	start_worker
	w0=$(ticks "$worker_pid"); r0=$(ticks "$redis_pid")
	wait_for 180 job_finished "$id" || echo "bench: the 1 GiB profile did not finish in time" >&2
	# CPU the job took, which other processes move less than its seconds.
	fact memory.job_cpu_ticks "{\"worker\":$(($(ticks "$worker_pid") - w0)),\"redis\":$(($(ticks "$redis_pid") - r0))}"
	fact memory.job "$(job_times "$id")"
	fact memory.worker_vmhwm_kib "$(vmhwm "$worker_pid")"
	stop "$worker_pid"
	bench_memory_libcsv
	flush
}

# ---- 5. Cancel -------------------------------------------------------------------

bench_cancel() {
	# 200 cancels of each kind (issue 4): a built-in task on a 16 MB input
	# (ndjson runs long enough to be caught running), and a tasks-file
	# program that honours SIGTERM (/bin/sleep); latency runs from the
	# DELETE reply until the job reads cancelled and the worker has no child.
	printf '{"sleeper": {"argv": ["/bin/sleep", "60"]}}\n' >"$work/tasks.json"
	{ echo v; seq 1 1000000 | awk '{printf "%015d\n", $1}'; } >"$work/cancel16.csv"
	printf 'a\n1\n' >"$work/tiny.csv"
	start_api --tasks "$work/tasks.json"
	flush
	start_worker --concurrency 1 --tasks "$work/tasks.json" --kill-grace 5s
	fact cancel.builtin "$(python3 "$here/bench.py" cancel-loop "$api" "$prefix" "$rport" \
		"$worker_pid" ndjson "$work/cancel16.csv" 200)"
	fact cancel.program "$(python3 "$here/bench.py" cancel-loop "$api" "$prefix" "$rport" \
		"$worker_pid" sleeper "$work/tiny.csv" 200)"
	stop "$worker_pid"
	stop "$api_pid"
}

# ---- Main ------------------------------------------------------------------------

for c in wrk redis-server redis-cli curl python3 pkg-config; do
	command -v "$c" >/dev/null || die "$c is missing: run make deps"
done
[ -x "$bin/jobq-api" ] && [ -x "$bin/jobq-worker" ] || die "no binaries in $bin: run make"
build_tools
machine_facts
start_redis
# wanted PART: true when BENCH_ONLY is unset or names PART.
wanted() {
	case ",${BENCH_ONLY:-$1}," in *",$1,"*) return 0 ;; esac
	return 1
}
for part in $(echo "${BENCH_ONLY:-}" | tr ',' ' '); do
	case $part in ingest|e2e|profile|memory|cancel) ;; *) die "BENCH_ONLY: no part called $part" ;; esac
done
for part in ingest e2e profile memory cancel; do
	wanted "$part" && { phase "$part"; "bench_$part"; }
done
phase done
fact load.end "$(cut -d' ' -f1-3 /proc/loadavg)"
fact total_seconds "$((($(now_ms) - bench_t0) / 100))e-1"
stop "$redis_pid"
out=$here/results/$(date -u +%Y-%m-%d).json
[ -n "${BENCH_ONLY:-}" ] && out=${TMPDIR:-/tmp}/jobq-bench-$(date -u +%Y%m%dT%H%M%S)-$(echo "$BENCH_ONLY" | tr ',' '-').json
python3 "$here/bench.py" report "$facts" "$out" || die "bench.py report failed"
echo "results: $out"
