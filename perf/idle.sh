#!/usr/bin/env bash
# Memory per idle keep-alive connection, ringserve beside nginx: each server gets CONNECTIONS
# connections that have each made one request (GET /, answered) and then stay open and
# silent; the server's resident memory (VmRSS, summed over its processes) is read before, while
# they are open, and after they close — ROUNDS times, so memory that is not given back shows
# as a level that climbs.
#
#   perf/idle.sh                         # build the bench example, then measure
#   CONNECTIONS=1000 ROUNDS=2 SERVERS=ringserve perf/idle.sh
#
# Settings (environment):
#   SERVERS       ringserve ringserve-glommio nginx (default: ringserve nginx; nginx only
#                 when installed)
#   CONNECTIONS   idle connections per round (default 10000)
#   ROUNDS        open-then-close rounds per server (default 3)
#   SERVER_CORES  one core list for the server (default 0); one shard / one nginx worker
#   PORT          (default 8091); BUILD=0 uses the bench binary already built
#
# Prints one Markdown table: RSS at start, with the connections open (the highest of the
# rounds) and after the last round closed them (MiB), bytes per idle connection (the first
# round's growth over the count: later rounds reuse memory the first one left), and the
# after-close RSS against the start. Each round's own figures go to stderr.
set -euo pipefail
cd "$(dirname "$0")/.."
root=$(pwd)
# shellcheck source=perf/lib.sh
source "$root/perf/lib.sh"

SERVERS=${SERVERS:-"ringserve nginx"}
CONNECTIONS=${CONNECTIONS:-10000}
ROUNDS=${ROUNDS:-3}
SERVER_CORES=${SERVER_CORES:-0}
PORT=${PORT:-8091}
BUILD=${BUILD:-1}
out_dir=$(mktemp -d)
trap 'stop_server; rm -rf "$out_dir"' EXIT

if listening "$PORT"; then
  echo "port $PORT is already in use: another server would share it (SO_REUSEPORT); set PORT" >&2
  exit 1
fi
if [ "$BUILD" = 1 ]; then
  echo "building (release)..." >&2
  CARGO_TARGET_DIR="$root/target" cargo build --release --example bench >&2
fi
# The client holds every connection open; the servers raise their own limits.
ulimit -n $((CONNECTIONS + 1024))

start_server() { # start_server NAME
  case "$1" in
    ringserve|ringserve-glommio)
      local io=io_uring
      [ "$1" = ringserve-glommio ] && io=glommio
      local cores=$SERVER_CORES
      case "$cores" in *[,-]*) ;; *) cores="$cores-$cores" ;; esac
      RINGSERVE_IO=$io RINGSERVE_HOST=127.0.0.1 RINGSERVE_PORT=$PORT RINGSERVE_CORES=$cores \
        "$root/target/release/examples/bench" >/dev/null 2>&1 & ;;
    nginx)
      sed "s/127.0.0.1:8000/127.0.0.1:$PORT/; s#/tmp/ringserve-peer-nginx.pid#$out_dir/nginx.pid#; s/^worker_processes 1;/worker_processes 1;\nworker_rlimit_nofile $((CONNECTIONS + 1024));/" \
        "$root/perf/peers/nginx.conf" > "$out_dir/nginx.conf"
      taskset -c "$SERVER_CORES" nginx -c "$out_dir/nginx.conf" -g 'daemon off;' >/dev/null 2>&1 & ;;
  esac
  server_pid=$!
  wait_listening "$PORT" "$1"
}

# Opens, measures and closes: prints "start open closed per_connection" per round (KiB, bytes).
cat > "$out_dir/idle.py" <<'EOF'
import os, socket, sys, time

pid, port, count, rounds = int(sys.argv[1]), int(sys.argv[2]), int(sys.argv[3]), int(sys.argv[4])
REQUEST = b"GET / HTTP/1.1\r\nhost: idle\r\n\r\n"

def pids():
    found, todo = [], [pid]
    while todo:
        p = todo.pop()
        found.append(p)
        try:
            for task in os.listdir(f"/proc/{p}/task"):
                with open(f"/proc/{p}/task/{task}/children") as f:
                    todo += [int(c) for c in f.read().split()]
        except FileNotFoundError:
            pass
    return found

def rss_kib():
    total = 0
    for p in pids():
        try:
            with open(f"/proc/{p}/status") as f:
                total += next(int(l.split()[1]) for l in f if l.startswith("VmRSS:"))
        except (FileNotFoundError, StopIteration):
            pass
    return total

def answered(sock):
    # A whole response to GET /: its head and its declared body.
    data = b""
    while b"\r\n\r\n" not in data:
        piece = sock.recv(4096)
        if not piece:
            raise SystemExit("the server closed a connection before answering")
        data += piece
    head, _, body = data.partition(b"\r\n\r\n")
    if not head.startswith(b"HTTP/1.1 200"):
        raise SystemExit(f"unexpected answer: {head[:60]!r}")
    length = next(int(l.split(b":")[1]) for l in head.split(b"\r\n") if l.lower().startswith(b"content-length:"))
    while len(body) < length:
        body += sock.recv(4096)

def settle():
    # Let the server finish its work (and the allocator its trimming) before a reading.
    time.sleep(3.0)

warm = socket.create_connection(("127.0.0.1", port))
warm.sendall(REQUEST)
answered(warm)
warm.close()
settle()
for _ in range(rounds):
    start = rss_kib()
    conns = []
    for _ in range(count):
        sock = socket.create_connection(("127.0.0.1", port))
        sock.sendall(REQUEST)
        answered(sock)
        conns.append(sock)
    settle()
    opened = rss_kib()
    for sock in conns:
        sock.close()
    conns = None
    settle()
    closed = rss_kib()
    print(start, opened, closed, (opened - start) * 1024 // count, flush=True)
EOF

echo "| server | RSS at start MiB | with $CONNECTIONS idle MiB | after close MiB | bytes per idle connection | after close vs start |"
echo "|---|---:|---:|---:|---:|---:|"
for server in $SERVERS; do
  if [ "$server" = nginx ] && ! command -v nginx >/dev/null; then
    echo "nginx is not installed: skipped" >&2
    continue
  fi
  start_server "$server"
  python3 "$out_dir/idle.py" "$server_pid" "$PORT" "$CONNECTIONS" "$ROUNDS" > "$out_dir/$server.txt"
  stop_server
  echo "$server, per round (start, open, closed KiB; bytes per connection):" >&2
  cat "$out_dir/$server.txt" >&2
  read -r first_start _ _ per_connection < "$out_dir/$server.txt"
  opened=$(awk '{print $2}' "$out_dir/$server.txt" | sort -g | tail -n 1)
  read -r _ _ closed _ < <(tail -n 1 "$out_dir/$server.txt")
  awk -v s="$server" -v a="$first_start" -v o="$opened" -v c="$closed" -v p="$per_connection" \
    'BEGIN { printf "| %s | %.1f | %.1f | %.1f | %d | %+.0f%% |\n", s, a / 1024, o / 1024, c / 1024, p, (c - a) * 100 / a }'
done
