# Shared by the single-member benchmarks (sourced): a work dir cleaned up
# on exit, free ports, and start/stop of a fresh single member. Expects
# ETCDCTL to be set.
work=$(mktemp -d -p "$PWD/target" bench.XXXXXX)
pids=()
cleanup() { for p in "${pids[@]+"${pids[@]}"}"; do kill "$p" 2>/dev/null || true; wait "$p" 2>/dev/null || true; done; rm -rf "$work"; }
trap cleanup EXIT

port() { python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1]); s.close()'; }

# start <binary> <name>: starts a fresh single-node server; sets PORT and PID
# (called directly, not in $(...), so that cleanup sees the pid)
start() {
  local bin=$1 name=$2 pp
  PORT=$(port); pp=$(port)
  "$bin" --name default --data-dir "$work/$name" \
    --listen-client-urls "http://127.0.0.1:$PORT" --advertise-client-urls "http://127.0.0.1:$PORT" \
    --listen-peer-urls "http://127.0.0.1:$pp" --initial-advertise-peer-urls http://localhost:2380 \
    --initial-cluster default=http://localhost:2380 >"$work/$name.log" 2>&1 &
  PID=$!
  pids+=("$PID")
  for _ in $(seq 100); do
    "$ETCDCTL" --endpoints="127.0.0.1:$PORT" --dial-timeout=200ms get x >/dev/null 2>&1 && return
    sleep 0.1
  done
  echo "server $name did not start" >&2; cat "$work/$name.log" >&2; exit 1
}

stop() { kill "$PID" 2>/dev/null || true; wait "$PID" 2>/dev/null || true; }
