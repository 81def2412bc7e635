#!/usr/bin/env bash
# Benchmarks (not tests): oxctl vs etcdctl 3.5.1 whole-process time, and put
# throughput of oxcd vs etcd 3.5.1 (single node, same disk), in one run.
# Usage: bash scripts/bench.sh [seconds-per-throughput-run (default 5)]
set -euo pipefail
cd "$(dirname "$0")/.."
SECS=${1:-5}
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

# time_cmd N cmd...: wall seconds for N sequential runs
time_cmd() {
  local n=$1; shift
  local t0 t1
  t0=$(date +%s.%N)
  for _ in $(seq "$n"); do "$@" >/dev/null; done
  t1=$(date +%s.%N)
  python3 -c "print(f'{($t1-$t0):.3f}')"
}

echo "== client: whole-process time, 200 runs each, against etcd 3.5.1 =="
start "$ETCD" etcd-cli; EP=$PORT
for i in $(seq 100); do "$ETCDCTL" --endpoints="127.0.0.1:$EP" put "web/$i" "value-$i" >/dev/null; done
printf '%-22s %10s %10s %7s\n' command etcdctl_s oxctl_s ratio
for c in "put foo bar" "get foo" "get web --prefix"; do
  # shellcheck disable=SC2086
  e=$(time_cmd 200 "$ETCDCTL" --endpoints="127.0.0.1:$EP" $c)
  # shellcheck disable=SC2086
  o=$(time_cmd 200 "$OXCTL" --endpoints="127.0.0.1:$EP" $c)
  printf '%-22s %10s %10s %7s\n' "$c" "$e" "$o" "$(python3 -c "print(f'{$o/$e:.2f}')")"
done

stop

echo
echo "== server: put throughput, 256-byte values, ${SECS}s per run =="
printf '%-8s %14s %14s %7s\n' clients etcd_puts_s oxcd_puts_s ratio
for n in 1 16 256; do
  start "$ETCD" "etcd-$n"
  e=$("$BENCH" --endpoint "127.0.0.1:$PORT" --clients "$n" --seconds "$SECS")
  stop
  start "$OXCD" "oxcd-$n"
  o=$("$BENCH" --endpoint "127.0.0.1:$PORT" --clients "$n" --seconds "$SECS")
  stop
  er=$(sed -E 's/.*puts_per_sec=([0-9]+).*/\1/' <<<"$e")
  or=$(sed -E 's/.*puts_per_sec=([0-9]+).*/\1/' <<<"$o")
  printf '%-8s %14s %14s %7s\n' "$n" "$er" "$or" "$(python3 -c "print(f'{$or/max($er,1):.2f}')")"
  echo "  etcd: $e"
  echo "  oxcd: $o"
done
