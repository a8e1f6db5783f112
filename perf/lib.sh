# Shared by the perf scripts that start servers (sourced, not run): whether a port is
# listened on, waiting for a server to listen, and stopping it with its children.
# The caller keeps the server's pid in `server_pid`.

server_pid=""

listening() { # listening PORT: whether something accepts connections on 127.0.0.1:PORT
  (exec 3<>"/dev/tcp/127.0.0.1/$1") 2>/dev/null
}

wait_listening() { # wait_listening PORT NAME: up to 10 s, or fail naming the server
  for _ in $(seq 1 200); do
    if listening "$1"; then return 0; fi
    sleep 0.05
  done
  echo "server $2 did not start listening on port $1" >&2
  return 1
}

stop_server() { # stops `server_pid` and its children, and waits for them
  if [ -n "$server_pid" ]; then
    pkill -TERM -P "$server_pid" 2>/dev/null || true
    kill -TERM "$server_pid" 2>/dev/null || true
    wait "$server_pid" 2>/dev/null || true
    server_pid=""
  fi
}
