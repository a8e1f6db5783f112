#!/usr/bin/env bash
# Cross-core forwarding measured (issue 7): examples/bench.rs serves `GET /` from a replica on
# every shard and `GET /single/` from one replica on the first shard, so most `/single/`
# requests cross cores. Both are loaded in turn, same cores, same connections:
#   - closed loop: throughput when one replica serves traffic arriving on every shard;
#   - open loop at a fixed rate: p50/p99 with and without the hop.
#
#   perf/forwarding.sh                     # SERVER_CORES=0-3 LOAD_CORES=4-15 by default
#
# Settings (environment): SERVER_CORES, LOAD_CORES, CONNECTIONS (default 64), DURATION,
# WARMUP, RUNS, RATE (open loop, default 20000), PORT, BIN_DIR (default: target/release and
# perf/target/release, built here when missing).
set -euo pipefail
cd "$(dirname "$0")/.."
SERVER_CORES=${SERVER_CORES:-0-3}
LOAD_CORES=${LOAD_CORES:-4-15}
CONNECTIONS=${CONNECTIONS:-64}
DURATION=${DURATION:-4s}
WARMUP=${WARMUP:-1s}
RUNS=${RUNS:-3}
RATE=${RATE:-20000}
PORT=${PORT:-8093}
BIN_DIR=${BIN_DIR:-}
if [ -z "$BIN_DIR" ]; then
  CARGO_TARGET_DIR=target cargo build --release --example bench >&2
  CARGO_TARGET_DIR=perf/target cargo build --release --manifest-path perf/loadgen/Cargo.toml >&2
  bench=target/release/examples/bench loadgen=perf/target/release/loadgen
else
  bench=$BIN_DIR/bench loadgen=$BIN_DIR/loadgen
fi
RINGSERVE_HOST=127.0.0.1 RINGSERVE_PORT=$PORT RINGSERVE_CORES=$SERVER_CORES "$bench" &
server=$!
trap 'kill $server 2>/dev/null; wait $server 2>/dev/null' EXIT
until curl -s -o /dev/null "http://127.0.0.1:$PORT/-/healthz"; do sleep 0.2; done
echo "| path | mode | run | req/s | p50 µs | p99 µs | errors |"
echo "|---|---|---|---|---|---|---|"
for path in / /single/; do
  for run in $(seq "$RUNS"); do
    "$loadgen" --url "http://127.0.0.1:$PORT$path" -c "$CONNECTIONS" -d "$DURATION" -w "$WARMUP" \
      --cores "$LOAD_CORES" > /tmp/forwarding-$$.json
    python3 -c "import json,sys; r=json.load(open(sys.argv[1])); print(f\"| $path | closed | $run | {r['rps']:.0f} | {r['latency_us']['p50']} | {r['latency_us']['p99']} | {r['errors']['total']} |\")" /tmp/forwarding-$$.json
    "$loadgen" --url "http://127.0.0.1:$PORT$path" -c "$CONNECTIONS" -d "$DURATION" -w "$WARMUP" \
      --cores "$LOAD_CORES" --rate "$RATE" > /tmp/forwarding-$$.json
    python3 -c "import json,sys; r=json.load(open(sys.argv[1])); print(f\"| $path | rate $RATE | $run | {r['rps']:.0f} | {r['latency_us']['p50']} | {r['latency_us']['p99']} | {r['errors']['total']} |\")" /tmp/forwarding-$$.json
  done
done
rm -f /tmp/forwarding-$$.json
