#!/usr/bin/env bash
# User-space instructions the server executes per request: the bench example (one shard, the
# io_uring data path) under valgrind's callgrind, loaded by perf/loadgen. The counters are
# zeroed after a warm-up and dumped after the measured requests, so start-up and idle turns
# before the load do not count. Unlike time, the count hardly moves between runs (two runs of
# one binary agree to 0.05%), so it settles a change on the hot path that wall-clock rounds on
# a shared machine cannot. The kernel's share (the system calls and loopback TCP) is not in it:
# perf/syscalls.sh counts that. Needs valgrind (Debian's valgrind).
#
#   perf/instructions.sh                                  # this checkout, 64 connections
#   BENCH=<other checkout>/target/release/examples/bench BUILD=0 perf/instructions.sh
#   CONNECTIONS=1 REQUESTS=5000 perf/instructions.sh
#
# Settings (environment): CONNECTIONS (64), REQUESTS (20000, measured), WARMUP (2000), PORT
# (8096), KEEP (a directory to keep the dump in, for callgrind_annotate), BUILD=0 to use the release binaries already built, BENCH (the server binary; default
# this checkout's release build of examples/bench.rs). Under valgrind the server runs some
# fifty times slower; a run takes about a minute.
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
CONNECTIONS=${CONNECTIONS:-64}
REQUESTS=${REQUESTS:-20000}
WARMUP=${WARMUP:-2000}
PORT=${PORT:-8096}
if [ "${BUILD:-1}" != 0 ]; then
  (cd "$root" && CARGO_TARGET_DIR="$root/target" cargo build --release --example bench >&2)
  (cd "$root/perf/loadgen" && CARGO_TARGET_DIR="$root/perf/target" cargo build --release >&2)
fi
bench=${BENCH:-$root/target/release/examples/bench}
loadgen=$root/perf/target/release/loadgen
command -v callgrind_control >/dev/null || { echo "instructions.sh: needs valgrind" >&2; exit 1; }
out=$(mktemp -d)
trap 'rm -rf "$out"' EXIT
# KEEP=<dir>: keep callgrind's dump there, for `callgrind_annotate` (per-function counts).
KEEP=${KEEP:-}

# The server binds with SO_REUSEPORT: a server still on the port (an earlier run's, not yet
# gone) would share the load unseen, and the count would cover a fraction of the requests.
if (exec 3<>"/dev/tcp/127.0.0.1/$PORT") 2>/dev/null; then
  echo "instructions.sh: something already listens on port $PORT; set PORT" >&2
  exit 1
fi
RINGSERVE_IO=io_uring RINGSERVE_PORT=$PORT RINGSERVE_CORES=0-0 \
  valgrind --tool=callgrind --callgrind-out-file="$out/callgrind.%p" "$bench" >/dev/null 2>"$out/valgrind.txt" &
server=$!
for _ in $(seq 1 600); do (exec 3<>"/dev/tcp/127.0.0.1/$PORT") 2>/dev/null && break; sleep 0.1; done
load() { # load REQUESTS: a closed loop of exactly that many requests
  "$loadgen" --url "http://127.0.0.1:$PORT/" -c "$CONNECTIONS" -w 0s -d 600s --max-requests "$1" \
    --wait park --json "$out/load.json" >/dev/null 2>&1
}
load "$WARMUP"
callgrind_control --zero "$server" >/dev/null 2>&1
load "$REQUESTS"
callgrind_control --dump "$server" >/dev/null 2>&1
# The counts are dumped: stop the server. Under valgrind a SIGINT is sometimes never
# delivered to the server's signal thread (its shard sleeps in io_uring_enter, which valgrind
# does not interrupt); the dump is already written, so after 10 s it is killed.
kill -INT "$server"
for _ in $(seq 1 100); do kill -0 "$server" 2>/dev/null || break; sleep 0.1; done
kill -KILL "$server" 2>/dev/null || true
wait "$server" 2>/dev/null || true
python3 - "$out" "$REQUESTS" "$CONNECTIONS" <<'PY'
import glob, json, sys
out, requests, connections = sys.argv[1], int(sys.argv[2]), sys.argv[3]
answered = json.load(open(f"{out}/load.json"))["requests"]
if answered != requests:
    sys.exit(f"instructions.sh: {answered} of {requests} requests were answered")
dump = next(path for path in glob.glob(f"{out}/callgrind.*") if path.endswith(".1"))
total = next(int(line.split()[1]) for line in open(dump) if line.startswith(("summary:", "totals:")))
print(f"{total / requests:.0f} instructions per request "
      f"({total} over {requests} requests on {connections} connections)")
PY
if [ -n "$KEEP" ]; then mkdir -p "$KEEP" && cp "$out"/callgrind.*.1 "$KEEP/callgrind.out"; fi
