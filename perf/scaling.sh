#!/usr/bin/env bash
# Thread-per-core scaling: ringserve's bench (and the raw glommio floor) with 1 shard and with
# 4 shards, the load generator on other cores, GET / in a closed loop. The target is 4 shards
# >= 3.6x one shard; it needs a machine with 8 or more cores (server on 0-3, load on 8+).
#
#   perf/scaling.sh                  # LOAD_CORES=8-15 CONNECTIONS=256 by default
set -euo pipefail
cd "$(dirname "$0")"
export SERVERS=${SERVERS:-"ringserve glommio-raw"} SCENARIOS=plaintext
export LOAD_CORES=${LOAD_CORES:-8-15} CONNECTIONS=${CONNECTIONS:-256}
if [ "$(nproc)" -lt 8 ]; then
  echo "scaling needs 8 or more cores (this machine has $(nproc)); the command is:" >&2
  echo "  perf/scaling.sh   # on a machine with 8+ cores" >&2
  exit 2
fi
echo "## 1 shard"
SERVER_CORES=0 ./compare.sh
echo
echo "## 4 shards"
BUILD=0 SERVER_CORES=0-3 ./compare.sh
