#!/usr/bin/env bash
# Benchmark (not a test): snapshot save and restore of a store of N keys
# (default 1,000,000; 256-byte values), oxctl against etcdctl/etcdutl 3.5.1,
# with real etcd 3.5.1 and with oxcd as the server, in one run.
# Usage: bash scripts/bench-snapshot.sh [N]
set -euo pipefail
cd "$(dirname "$0")/.."
N=${1:-1000000}
bash .ci/install-etcd.sh >/dev/null
cargo build --release --workspace --bins -q
ETCD=.ci/etcd/v3.5.1/etcd
ETCDCTL=.ci/etcd/v3.5.1/etcdctl
ETCDUTL=.ci/etcd/v3.5.1/etcdutl
OXCTL=target/release/oxctl
OXCD=target/release/oxcd
BENCH=target/release/oxbench
work=$(mktemp -d -p "$PWD/target" bench-snap.XXXXXX)
PID=
cleanup() { [ -n "$PID" ] && { kill "$PID" 2>/dev/null || true; wait "$PID" 2>/dev/null || true; }; rm -rf "$work"; }
trap cleanup EXIT
port() { python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1]); s.close()'; }

start() {
  local bin=$1 name=$2 pp
  PORT=$(port); pp=$(port)
  "$bin" --name default --data-dir "$work/$name" --quota-backend-bytes=$((8 * 1024 * 1024 * 1024)) \
    --listen-client-urls "http://127.0.0.1:$PORT" --advertise-client-urls "http://127.0.0.1:$PORT" \
    --listen-peer-urls "http://127.0.0.1:$pp" >"$work/$name.log" 2>&1 &
  PID=$!
  for _ in $(seq 100); do
    "$ETCDCTL" --endpoints="127.0.0.1:$PORT" --dial-timeout=200ms get x >/dev/null 2>&1 && return
    sleep 0.1
  done
  echo "server $name did not start" >&2; cat "$work/$name.log" >&2; exit 1
}
stop() { kill "$PID" 2>/dev/null || true; wait "$PID" 2>/dev/null || true; PID=; }

# measure LABEL cmd...: wall seconds and peak RSS (MB) of one run
measure() {
  local label=$1; shift
  /usr/bin/time -f "%e %M" -o "$work/time" "$@" >/dev/null 2>"$work/err" || { cat "$work/err" >&2; exit 1; }
  read -r secs kb <"$work/time"
  printf '%-44s %8.2f s %8d MB\n' "$label" "$secs" $((kb / 1024))
}

for server in etcd oxcd; do
  bin=$ETCD; [ "$server" = oxcd ] && bin=$OXCD
  start "$bin" "$server"
  "$BENCH" --endpoint "127.0.0.1:$PORT" --clients 64 --total "$N" >/dev/null
  echo "== server: $server, $N keys of 256 bytes =="
  measure "etcdctl snapshot save" "$ETCDCTL" --endpoints="127.0.0.1:$PORT" snapshot save "$work/$server-etcdctl.db"
  measure "oxctl snapshot save" "$OXCTL" --endpoints="127.0.0.1:$PORT" snapshot save "$work/$server-oxctl.db"
  printf '%-44s %8d MB\n' "$server server peak RSS after both saves" $(( $(awk '/VmHWM/{print $2}' /proc/"$PID"/status) / 1024 ))
  ls -l "$work/$server-etcdctl.db" "$work/$server-oxctl.db" | awk '{print "  " $5 " bytes  " $9}'
  stop
  measure "etcdutl snapshot restore" "$ETCDUTL" snapshot restore "$work/$server-etcdctl.db" --data-dir "$work/r-$server-etcdutl"
  measure "oxctl snapshot restore" "$OXCTL" snapshot restore "$work/$server-etcdctl.db" --data-dir "$work/r-$server-oxctl"
  measure "etcdutl snapshot status" "$ETCDUTL" snapshot status "$work/$server-etcdctl.db"
  measure "oxctl snapshot status" "$OXCTL" snapshot status "$work/$server-etcdctl.db"
done
