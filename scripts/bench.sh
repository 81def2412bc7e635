#!/usr/bin/env bash
# Benchmarks (not tests): oxctl vs etcdctl 3.5.1 whole-process time, and put
# throughput of oxcd vs etcd 3.5.1 (single node, same disk), in one run.
# Usage: bash scripts/bench.sh [seconds-per-throughput-run (default 5)]
set -euo pipefail
cd "$(dirname "$0")/.."
SECS=${1:-5}
. scripts/bench-common.sh

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
