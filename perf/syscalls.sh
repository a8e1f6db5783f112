#!/usr/bin/env bash
# System calls and server CPU per request, for both data paths, side by side: the bench example
# (one shard) under perf/loadgen, counted by `perf stat` (the raw_syscalls tracepoint and
# task-clock) over a 2 s window in the middle of each run. Needs Linux perf (Debian's
# linux-perf) and permission to trace (root, or perf_event_paranoid <= 1).
#
#   perf/syscalls.sh                      # 1 and 64 connections closed loop, 16 at 5,000 req/s
#   RUNS=5 SERVER_CORE=0 LOAD_CORE=1 perf/syscalls.sh
#   LOADS="16 5000" PATHS=io_uring BUILD=0 perf/syscalls.sh   # one load, one path
#
# Settings (environment): RUNS (default 3; medians), SERVER_CORE (0), LOAD_CORE (1), PORT
# (8095), LOADS (comma-separated "CONNECTIONS [RATE]" items; default "1,64,16 5000"), PATHS
# (default "io_uring glommio"), BUILD=0 to use the release binaries already built, BENCH (the
# server binary; default this checkout's release build of examples/bench.rs), TRACE=0 to
# measure CPU alone: tracing every system call costs CPU of its own, more on the path that
# makes more of them, so the CPU column is fairest without it (the call columns then say -).
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
RUNS=${RUNS:-3}
SERVER_CORE=${SERVER_CORE:-0}
LOAD_CORE=${LOAD_CORE:-1}
PORT=${PORT:-8095}
if [ "${BUILD:-1}" != 0 ]; then
  (cd "$root" && CARGO_TARGET_DIR="$root/target" cargo build --release --example bench >&2)
  (cd "$root/perf/loadgen" && CARGO_TARGET_DIR="$root/perf/target" cargo build --release >&2)
fi
bench=${BENCH:-$root/target/release/examples/bench}
loadgen=$root/perf/target/release/loadgen
out=$(mktemp -d)
trap 'rm -rf "$out"' EXIT

one_run() { # one_run IO CONNECTIONS [RATE]: prints "cpu_us syscalls enters rps"
  local io=$1 connections=$2 rate=${3:-} server
  RINGSERVE_IO=$io RINGSERVE_PORT=$PORT RINGSERVE_CORES=$SERVER_CORE-$SERVER_CORE "$bench" >/dev/null 2>&1 &
  server=$!
  for _ in $(seq 1 200); do (exec 3<>"/dev/tcp/127.0.0.1/$PORT") 2>/dev/null && break; sleep 0.05; done
  "$loadgen" --url "http://127.0.0.1:$PORT/" -c "$connections" ${rate:+--rate "$rate"} -w 1s -d 4s \
    --cores "$LOAD_CORE" --json "$out/load.json" >/dev/null 2>&1 &
  local loader=$!
  sleep 1.5
  local events=task-clock
  [ "${TRACE:-1}" = 0 ] || events=task-clock,raw_syscalls:sys_enter,syscalls:sys_enter_io_uring_enter
  perf stat -x, -e "$events" \
    -p "$server" -o "$out/perf.txt" -- sleep 2
  wait "$loader"
  kill -INT "$server"
  wait "$server" 2>/dev/null || true
  python3 - "$out" <<'PY'
import json, sys
out = sys.argv[1]
rps = json.load(open(f"{out}/load.json"))["rps"]
values = {}
for line in open(f"{out}/perf.txt"):
    parts = line.strip().split(",")
    if len(parts) > 3 and parts[0][:1].isdigit():
        values[parts[2].split(":")[-1]] = float(parts[0])
requests = rps * 2
per_request = lambda name: f"{values[name] / requests:.2f}" if name in values else "-"
print(f"{values['task-clock'] * 1000 / requests:.2f} {per_request('sys_enter')} "
      f"{per_request('sys_enter_io_uring_enter')} {rps:.0f}")
PY
}

median() { sort -n | awk '{ v[NR] = $1 } END { print v[int((NR + 1) / 2)] }'; }

echo "| load | path | server CPU µs/request | system calls/request | of which io_uring_enter | req/s |"
echo "|---|---|---|---|---|---|"
IFS=, read -r -a loads <<< "${LOADS:-1,64,16 5000}"
for load in "${loads[@]}"; do
  for io in ${PATHS:-io_uring glommio}; do
    : > "$out/runs"
    for _ in $(seq 1 "$RUNS"); do
      # shellcheck disable=SC2086
      one_run "$io" $load >> "$out/runs"
    done
    label="$(echo "$load" | awk '{ if (NF == 2) print $1 " conn. at " $2 "/s"; else print $1 " conn. closed loop" }')"
    echo "| $label | $io | $(awk '{print $1}' "$out/runs" | median) | $(awk '{print $2}' "$out/runs" | median) | $(awk '{print $3}' "$out/runs" | median) | $(awk '{print $4}' "$out/runs" | median) |"
  done
done
