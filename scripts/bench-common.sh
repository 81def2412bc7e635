# Shared by the single-member benchmarks (sourced from the repository's
# root): etcd 3.5.1 installed and the release binaries built, their paths
# (ETCD, ETCDCTL, OXCTL, OXCD, BENCH), a work dir cleaned up on exit, free
# ports, and start/stop of a fresh single member.
bash .ci/install-etcd.sh >/dev/null
cargo build --release --workspace --bins -q
ETCD=.ci/etcd/v3.5.1/etcd
ETCDCTL=.ci/etcd/v3.5.1/etcdctl
OXCTL=target/release/oxctl
OXCD=target/release/oxcd
BENCH=target/release/oxbench
work=$(mktemp -d -p "$PWD/target" bench.XXXXXX)
pids=()
cleanup() { for p in "${pids[@]+"${pids[@]}"}"; do kill "$p" 2>/dev/null || true; wait "$p" 2>/dev/null || true; done; rm -rf "$work"; }
trap cleanup EXIT

port() { python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1]); s.close()'; }

# start <binary> <name> [extra server flags...]: starts a single-node server
# on the data dir $work/<name> (fresh the first time; a second start with
# the same name restarts on it); sets PORT, PID and START_SECS (wall seconds
# from launch until `etcdctl get x` answers). Polls up to START_TRIES (100)
# times, 0.1 s apart.
# (called directly, not in $(...), so that cleanup sees the pid)
start() {
  local bin=$1 name=$2 pp t0 t1
  shift 2
  PORT=$(port); pp=$(port)
  t0=$(date +%s%N)
  "$bin" --name default --data-dir "$work/$name" \
    --listen-client-urls "http://127.0.0.1:$PORT" --advertise-client-urls "http://127.0.0.1:$PORT" \
    --listen-peer-urls "http://127.0.0.1:$pp" --initial-advertise-peer-urls http://localhost:2380 \
    --initial-cluster default=http://localhost:2380 "$@" >>"$work/$name.log" 2>&1 &
  PID=$!
  pids+=("$PID")
  for _ in $(seq "${START_TRIES:-100}"); do
    if "$ETCDCTL" --endpoints="127.0.0.1:$PORT" --dial-timeout=200ms get x >/dev/null 2>&1; then
      t1=$(date +%s%N)
      START_SECS=$(python3 -c "print(f'{($t1 - $t0) / 1e9:.2f}')")
      return
    fi
    kill -0 "$PID" 2>/dev/null || break
    sleep 0.1
  done
  echo "server $name did not start" >&2; cat "$work/$name.log" >&2; exit 1
}

# stop: SIGTERM to the last server started, waits for it, and forgets it
stop() {
  local p rest=()
  kill "$PID" 2>/dev/null || true; wait "$PID" 2>/dev/null || true
  for p in "${pids[@]+"${pids[@]}"}"; do [ "$p" = "$PID" ] || rest+=("$p"); done
  pids=("${rest[@]+"${rest[@]}"}")
}
