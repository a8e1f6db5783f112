#!/usr/bin/env bash
# Side-by-side comparison: ringserve's bench example and each peer server, run in turn on the
# same cores under the same loads from perf/loadgen, interleaved run by run. Prints one
# Markdown table (medians of RUNS runs): requests/s, p50/p99 latency, server CPU seconds,
# requests per server CPU-second, requests per machine CPU-second (server, load generator and
# kernel together), peak RSS.
#
#   perf/compare.sh                        # build everything, then measure
#   SERVER_CORES=0 LOAD_CORES=1 RUNS=3 DURATION=10s perf/compare.sh
#
# Settings (environment):
#   SERVERS       servers to run, in order (default: ringserve glommio-raw hyper actix axum nginx;
#                 nginx only when installed); ringserve-glommio is ringserve on glommio's streams
#                 (RINGSERVE_IO=glommio) instead of its own io_uring data path; uring-raw (not
#                 in the default) is a raw io_uring loop, the ceiling for GET / on this machine;
#                 ringserve-busy is ringserve with HttpOptions::busy_poll of BUSY_POLL_US
#                 microseconds (default 50); ringserve-alt is the bench binary at ALT_BENCH (one
#                 built from another commit), for before-and-after rounds interleaved
#   SCENARIOS     plaintext (GET /, closed loop), items (GET /items/5, closed loop),
#                 latency (GET / at a fixed rate: half of the slowest server's plaintext rate,
#                 or RATE) — default: all three; also file-small (GET /static/small.html, a
#                 4 KiB file) and file-large (GET /static/large.bin, 10 MiB), served by
#                 ringserve's builtin::Files and nginx's `root` only; and proxy (GET /proxy/,
#                 passed on to a glommio-raw upstream on UPSTREAM_PORT, pinned to LOAD_CORES,
#                 kept alive): ringserve's builtin::Upstreams and nginx's proxy_pass only
#   SERVER_CORES  core list for the server, e.g. 0 or 0-3 (default 0)
#   LOAD_CORES    core list for the load generator (default 1)
#   CONNECTIONS   keep-alive connections (default 64); PIPELINE depth (default 1)
#   DURATION, WARMUP  per run, in seconds with an s (default 10s, 2s); RUNS per server and
#                 scenario (default 3)
#   PORT          (default 8090); BUILD=0 uses binaries already in BIN_DIR
#   BIN_DIR       where the binaries are (default: built into perf/target/release and
#                 target/release/examples)
set -euo pipefail
cd "$(dirname "$0")/.."
root=$(pwd)
# shellcheck source=perf/lib.sh
source "$root/perf/lib.sh"

SERVERS=${SERVERS:-"ringserve glommio-raw hyper actix axum nginx"}
SCENARIOS=${SCENARIOS:-"plaintext items latency"}
SERVER_CORES=${SERVER_CORES:-0}
LOAD_CORES=${LOAD_CORES:-1}
CONNECTIONS=${CONNECTIONS:-64}
PIPELINE=${PIPELINE:-1}
DURATION=${DURATION:-10s}
WARMUP=${WARMUP:-2s}
RUNS=${RUNS:-3}
PORT=${PORT:-8090}
UPSTREAM_PORT=${UPSTREAM_PORT:-$((PORT + 1))}
BUILD=${BUILD:-1}
RATE=${RATE:-}
BUSY_POLL_US=${BUSY_POLL_US:-50}
out_dir=$(mktemp -d)
upstream_pid=""
stop_upstream() { [ -z "$upstream_pid" ] || { kill "$upstream_pid" 2>/dev/null; wait "$upstream_pid" 2>/dev/null || true; upstream_pid=""; }; }
trap 'stop_server; stop_upstream; rm -rf "$out_dir"' EXIT
# The files of the file scenarios, made afresh (from /dev/urandom: nothing compresses them).
files_dir="$out_dir/files"
mkdir -p "$files_dir"
head -c 4096 /dev/urandom | base64 -w 100 | head -c 4096 > "$files_dir/small.html"
head -c $((10 * 1024 * 1024)) /dev/urandom > "$files_dir/large.bin"
# nginx's workers drop root: they read the files as its unprivileged user.
chmod 755 "$out_dir" "$files_dir"
chmod 644 "$files_dir"/*

if [ "$BUILD" = 1 ]; then
  echo "building (release)..." >&2
  CARGO_TARGET_DIR="$root/target" cargo build --release --example bench >&2
  for crate in loadgen peers/glommio-raw peers/uring-raw peers/hyper peers/actix peers/axum; do
    CARGO_TARGET_DIR="$root/perf/target" cargo build --release \
      --manifest-path "perf/$crate/Cargo.toml" >&2
  done
fi
BIN_DIR=${BIN_DIR:-}
bin() { # bin NAME: path of a binary
  if [ -n "$BIN_DIR" ]; then echo "$BIN_DIR/$1"
  elif [ "$1" = bench ]; then echo "$root/target/release/examples/bench"
  else echo "$root/perf/target/release/$1"; fi
}

# ringserve reads a plain number as a count of cores: a single core id is written N-N.
ringserve_cores() { case "$1" in *[,-]*) echo "$1" ;; *) echo "$1-$1" ;; esac; }
count_cores() { # count_cores LIST: how many cores a list like 0,2-3 names
  local total=0 part
  for part in ${1//,/ }; do
    case "$part" in *-*) total=$((total + ${part#*-} - ${part%-*} + 1)) ;; *) total=$((total + 1)) ;; esac
  done
  echo "$total"
}

start_server() { # start_server NAME
  case "$1" in
    ringserve|ringserve-glommio|ringserve-busy|ringserve-alt)
      local io=io_uring busy_poll=0 binary
      binary=$(bin bench)
      [ "$1" = ringserve-glommio ] && io=glommio
      [ "$1" = ringserve-busy ] && busy_poll=$BUSY_POLL_US
      [ "$1" = ringserve-alt ] && binary=${ALT_BENCH:?ringserve-alt needs ALT_BENCH, a bench binary}
      BENCH_STATIC_ROOT=$files_dir BENCH_UPSTREAM=127.0.0.1:$UPSTREAM_PORT \
        BENCH_BUSY_POLL_US=$busy_poll RINGSERVE_IO=$io \
        RINGSERVE_HOST=127.0.0.1 RINGSERVE_PORT=$PORT \
        RINGSERVE_CORES=$(ringserve_cores "$SERVER_CORES") "$binary" >/dev/null 2>&1 & ;;
    glommio-raw|uring-raw|hyper|actix|axum)
      HOST=127.0.0.1 PORT=$PORT CORES=$SERVER_CORES "$(bin "peer-$1")" >/dev/null 2>&1 & ;;
    nginx)
      sed "s/127.0.0.1:8000/127.0.0.1:$PORT/; s/^worker_processes 1;/worker_processes $(count_cores "$SERVER_CORES");/; s#/tmp/ringserve-peer-nginx.pid#$out_dir/nginx.pid#; s#/tmp/ringserve-perf-files/#$files_dir/#; s/127.0.0.1:8001/127.0.0.1:$UPSTREAM_PORT/" \
        "$root/perf/peers/nginx.conf" > "$out_dir/nginx.conf"
      taskset -c "$SERVER_CORES" nginx -c "$out_dir/nginx.conf" -g 'daemon off;' >/dev/null 2>&1 & ;;
  esac
  server_pid=$!
  wait_listening "$PORT" "$1"
}


# CPU seconds (user + system) used so far by the server and its children.
cpu_seconds() {
  local ticks=0 pid
  for pid in "$server_pid" $(pgrep -P "$server_pid" 2>/dev/null); do
    if [ -r "/proc/$pid/stat" ]; then
      ticks=$((ticks + $(awk '{print $14 + $15}' "/proc/$pid/stat")))
    fi
  done
  awk -v t="$ticks" -v hz="$(getconf CLK_TCK)" 'BEGIN { printf "%.3f", t / hz }'
}

# CPU seconds (user, system, interrupts, steal) the whole machine has used so far: the server,
# the load generator and the kernel's work for both. On loopback the receiving side's protocol
# work runs on whichever core transmits, so the server's own figure alone can favour a server
# that leaves its transmits to the peer's ACKs; this one cannot.
machine_cpu_seconds() {
  awk -v hz="$(getconf CLK_TCK)" '/^cpu / { printf "%.3f", ($2 + $3 + $4 + $7 + $8 + $9) / hz }' /proc/stat
}

# Peak resident memory of the server and its children, in MiB.
peak_rss_mib() {
  local kib=0 pid
  for pid in "$server_pid" $(pgrep -P "$server_pid" 2>/dev/null); do
    if [ -r "/proc/$pid/status" ]; then
      kib=$((kib + $(awk '/^VmHWM:/ {print $2}' "/proc/$pid/status")))
    fi
  done
  awk -v k="$kib" 'BEGIN { printf "%.1f", k / 1024 }'
}

json_number() { # json_number FILE KEY: the first numeric value of "KEY" in a JSON file
  grep -o "\"$2\": *[0-9.eE+-]*" "$1" | head -n 1 | sed 's/.*: *//'
}

median() { sort -g | awk '{ v[NR] = $1 } END { if (NR == 0) print "-"; else if (NR % 2) print v[(NR + 1) / 2]; else print (v[NR / 2] + v[NR / 2 + 1]) / 2 }'; }

# One load run against the running server; writes its JSON report to $1.
load() { # load REPORT PATH [extra loadgen flags...]
  local report=$1 path=$2
  shift 2
  "$(bin loadgen)" --url "http://127.0.0.1:$PORT$path" --connections "$CONNECTIONS" \
    --pipeline "$PIPELINE" --duration "$DURATION" --warmup "$WARMUP" --cores "$LOAD_CORES" \
    --json "$report" "$@" 2>>"$out_dir/loadgen.log"
}

declare -A result
measure_once() { # measure_once SERVER SCENARIO PATH RUN [extra loadgen flags...]
  local server=$1 scenario=$2 path=$3 run=$4
  shift 4
  start_server "$server"
  local before after machine_before machine_after loader report="$out_dir/$server-$scenario-$run.json"
  # CPU is sampled over the measured window only: from the end of the warm-up to the end
  # of the run, the window the load generator's request count covers.
  load "$report" "$path" "$@" &
  loader=$!
  sleep "${WARMUP%s}"
  before=$(cpu_seconds)
  machine_before=$(machine_cpu_seconds)
  wait "$loader"
  after=$(cpu_seconds)
  machine_after=$(machine_cpu_seconds)
  echo "$(json_number "$report" rps) $(json_number "$report" p50) $(json_number "$report" p99) \
$(awk -v a="$after" -v b="$before" 'BEGIN { printf "%.3f", a - b }') \
$(json_number "$report" requests) $(peak_rss_mib) \
$(awk -v a="$machine_after" -v b="$machine_before" 'BEGIN { printf "%.3f", a - b }')" >> "$out_dir/$server-$scenario.runs"
  stop_server
  echo "  $server $scenario run $run: $(tail -n 1 "$out_dir/$server-$scenario.runs")" >&2
}

# Runs every server of a scenario in turn, RUNS times over (run 1 of each, then run 2 of
# each, ...), so that a machine that gets slower or faster during the scenario moves every
# server's figures alike; then takes each server's medians.
measure() { # measure SCENARIO PATH SERVERS... -- [extra loadgen flags...]
  local scenario=$1 path=$2 run server
  shift 2
  local servers=()
  while [ "$#" -gt 0 ] && [ "$1" != -- ]; do servers+=("$1"); shift; done
  [ "$#" -gt 0 ] && shift
  for run in $(seq 1 "$RUNS"); do
    for server in "${servers[@]}"; do measure_once "$server" "$scenario" "$path" "$run" "$@"; done
  done
  local column
  for server in "${servers[@]}"; do
    for column in 1 2 3 4 5 6 7; do
      result[$server,$scenario,$column]=$(awk -v c="$column" '{ print $c }' "$out_dir/$server-$scenario.runs" | median)
    done
  done
}

available=()
for server in $SERVERS; do
  if [ "$server" = nginx ] && ! command -v nginx >/dev/null; then
    echo "nginx is not installed: skipped" >&2
    continue
  fi
  available+=("$server")
done

for scenario in $SCENARIOS; do
  case "$scenario" in
    plaintext) measure plaintext / "${available[@]}" ;;
    items)
      routed=()
      for server in "${available[@]}"; do
        case "$server" in glommio-raw|uring-raw|nginx) continue ;; esac
        routed+=("$server")
      done
      measure items /items/5 "${routed[@]}" ;;
    file-small|file-large)
      servers_with_files=()
      for server in "${available[@]}"; do
        case "$server" in ringserve|ringserve-alt|ringserve-busy|ringserve-glommio|nginx) servers_with_files+=("$server") ;; esac
      done
      file=small.html
      [ "$scenario" = file-large ] && file=large.bin
      measure "$scenario" "/static/$file" "${servers_with_files[@]}" ;;
    proxy)
      proxies=()
      for server in "${available[@]}"; do
        case "$server" in ringserve|ringserve-alt|ringserve-busy|ringserve-glommio|nginx) proxies+=("$server") ;; esac
      done
      HOST=127.0.0.1 PORT=$UPSTREAM_PORT CORES=$LOAD_CORES "$(bin peer-glommio-raw)" >/dev/null 2>&1 &
      upstream_pid=$!
      wait_listening "$UPSTREAM_PORT" upstream
      measure proxy /proxy/ "${proxies[@]}"
      stop_upstream ;;
    latency)
      rate=$RATE
      if [ -z "$rate" ]; then
        slowest=""
        for server in "${available[@]}"; do
          value=${result[$server,plaintext,1]:-}
          if [ -n "$value" ] && { [ -z "$slowest" ] || awk -v a="$value" -v b="$slowest" 'BEGIN { exit !(a < b) }'; }; then
            slowest=$value
          fi
        done
        rate=$(awk -v r="${slowest:-20000}" 'BEGIN { printf "%d", r / 2 }')
      fi
      echo "latency scenario at a fixed $rate req/s" >&2
      measure latency / "${available[@]}" -- --rate "$rate" ;;
  esac
done

echo
echo "Server cores: $SERVER_CORES; load cores: $LOAD_CORES; $CONNECTIONS connections, pipeline $PIPELINE;"
echo "$RUNS runs of $DURATION after $WARMUP warm-up, servers interleaved run by run; medians. Machine: $(nproc) cores, $(uname -r)."
echo
echo "| server | scenario | req/s | p50 µs | p99 µs | server CPU s | req per CPU-s | req per machine CPU-s | peak RSS MiB |"
echo "|---|---|---|---|---|---|---|---|---|"
for scenario in $SCENARIOS; do
  for server in "${available[@]}"; do
    [ -n "${result[$server,$scenario,1]:-}" ] || continue
    cpu=${result[$server,$scenario,4]}
    per_cpu=$(awk -v r="${result[$server,$scenario,5]}" -v c="$cpu" 'BEGIN { if (c > 0) printf "%.0f", r / c; else print "-" }')
    machine=${result[$server,$scenario,7]}
    per_machine_cpu=$(awk -v r="${result[$server,$scenario,5]}" -v c="$machine" 'BEGIN { if (c > 0) printf "%.0f", r / c; else print "-" }')
    printf '| %s | %s | %.0f | %s | %s | %s | %s | %s | %s |\n' "$server" "$scenario" \
      "${result[$server,$scenario,1]}" "${result[$server,$scenario,2]}" "${result[$server,$scenario,3]}" \
      "$cpu" "$per_cpu" "$per_machine_cpu" "${result[$server,$scenario,6]}"
  done
done
