#!/usr/bin/env bash
# Benchmark (not a test): throughput of oxcd against etcd 3.5.1 over the
# main workloads, as one table of ratios (issue 12: "twice etcd's
# throughput"). Every run is on a fresh single member on 127.0.0.1 (same
# disk, same flags for both: etcd's defaults but --quota-backend-bytes=8 GiB),
# driven by oxbench over 256-byte values; etcd and oxcd alternate (each round
# starts with the other one), ROUNDS rounds.
#
# Workloads (SECS seconds each unless said):
#   put                     1, 16, 256 clients
#   range serializable      16, 256 clients (one key, like etcd's benchmark range)
#   range linearizable      16, 256 clients
#   lease keep-alive        16 clients, each its own lease and stream
#   lease grant             16 clients
#   watch, 1,000 watchers   on one prefix over 10 streams; 1 putter writes a
#                           fixed SECS*200 puts (SECS*200,000 events to deliver)
#   watch, 10,000 watchers  over 100 streams; 1 putter writes SECS*20 puts
#                           (again SECS*200,000 events)
#   The watch workloads count events delivered per second, from the first
#   put to the last event; a fixed number of puts keeps the work the same
#   for both servers. Their p99 is of event delivery (put sent -> event
#   received).
#
# The table: medians over the rounds of ops/s and of p99 latency, and the
# median of the per-round oxcd/etcd ratios (above 1: oxcd is faster).
# Usage: bash scripts/bench-table.sh [seconds-per-run (default 5)] [rounds (default 3)]
set -euo pipefail
cd "$(dirname "$0")/.."
SECS=${1:-5}
ROUNDS=${2:-3}
[[ $SECS =~ ^[0-9]+$ && $SECS -ge 1 && $ROUNDS =~ ^[0-9]+$ && $ROUNDS -ge 1 ]] || {
  echo "usage: bash scripts/bench-table.sh [seconds-per-run >= 1] [rounds >= 1]" >&2; exit 2; }
. scripts/bench-common.sh
FLAGS=(--quota-backend-bytes=8589934592)

WATCH1K=$((SECS * 200))
WATCH10K=$((SECS * 20))
# label|oxbench arguments
WORKLOADS=(
  "put, 1 client|--op put --clients 1"
  "put, 16 clients|--op put --clients 16"
  "put, 256 clients|--op put --clients 256"
  "range serializable, 16 clients|--op range --consistency s --clients 16"
  "range serializable, 256 clients|--op range --consistency s --clients 256"
  "range linearizable, 16 clients|--op range --consistency l --clients 16"
  "range linearizable, 256 clients|--op range --consistency l --clients 256"
  "lease keep-alive, 16 clients|--op keepalive --clients 16"
  "lease grant, 16 clients|--op grant --clients 16"
  "watch, 1,000 watchers, 1 putter|--op watch --watchers 1000 --clients 1 --total $WATCH1K"
  "watch, 10,000 watchers, 1 putter|--op watch --watchers 10000 --clients 1 --total $WATCH10K"
)

runs=$((ROUNDS * 2 * ${#WORKLOADS[@]}))
est=$((ROUNDS * 2 * ((${#WORKLOADS[@]} - 2) * (SECS + 2) + 2 * (SECS + 6))))
echo "== oxcd vs etcd 3.5.1, single member, 256-byte values, ${SECS}s per run, $ROUNDS round(s):" \
  "$runs runs, about $((est / 60)) min $((est % 60)) s =="

results=$work/results
: >"$results"
# run <bin> <server> <round> <workload index>: one fresh member, one oxbench
run() {
  local bin=$1 server=$2 r=$3 w=$4 label args out rate p99
  label=${WORKLOADS[$w]%%|*}
  read -r -a args <<<"${WORKLOADS[$w]#*|}"
  start "$bin" "$server-$r-$w" "${FLAGS[@]}"
  if out=$(timeout $((SECS * 4 + 120)) "$BENCH" --endpoint "127.0.0.1:$PORT" --seconds "$SECS" \
    --value-size 256 "${args[@]}" 2>"$work/bench.err"); then
    rate=$(sed -nE 's/.*(ops|puts)_per_sec=([0-9]+).*/\2/p' <<<"$out")
    p99=$(sed -nE 's/.*p99_ms=([0-9.]+).*/\1/p' <<<"$out")
    printf '  [%s] %-34s %s: %s\n' "$r" "$label" "$server" "$out"
  else
    rate=nan p99=nan
    printf '  [%s] %-34s %s: FAILED: %s\n' "$r" "$label" "$server" "$(tail -n 2 "$work/bench.err" | tr '\n' ' ')"
  fi
  stop
  rm -rf "${work:?}/$server-$r-$w"
  printf '%s\t%s\t%s\t%s\t%s\n' "$w" "$r" "$server" "${rate:-nan}" "${p99:-nan}" >>"$results"
}

for r in $(seq "$ROUNDS"); do
  for w in "${!WORKLOADS[@]}"; do
    if [ $((r % 2)) = 1 ]; then
      run "$ETCD" etcd "$r" "$w"; run "$OXCD" oxcd "$r" "$w"
    else
      run "$OXCD" oxcd "$r" "$w"; run "$ETCD" etcd "$r" "$w"
    fi
  done
done

echo
printf '%s\n' "${WORKLOADS[@]%%|*}" >"$work/labels"
python3 - "$results" "$work/labels" "$ROUNDS" <<'PY'
import math, statistics, sys
from collections import defaultdict
res, labels, rounds = sys.argv[1], open(sys.argv[2]).read().splitlines(), int(sys.argv[3])
rate, p99 = defaultdict(dict), defaultdict(dict)
for line in open(res):
    w, r, s, x, p = line.split("\t")
    rate[(int(w), s)][int(r)] = float(x)
    p99[(int(w), s)][int(r)] = float(p)
def med(xs):
    xs = [x for x in xs if not math.isnan(x)]
    return statistics.median(xs) if xs else float("nan")
def f(x, fmt):
    return "failed" if math.isnan(x) else format(x, fmt)
head = ("workload", "etcd ops/s", "oxcd ops/s", "ratio", "p99 ms etcd", "p99 ms oxcd")
rows = []
for w, label in enumerate(labels):
    e, o = rate[(w, "etcd")], rate[(w, "oxcd")]
    ratios = [o[r] / e[r] for r in e if r in o and e[r] > 0 and not math.isnan(o[r])]
    rows.append((label, f(med(e.values()), ".0f"), f(med(o.values()), ".0f"),
                 f(med(ratios), ".2f"), f(med(p99[(w, "etcd")].values()), ".2f"),
                 f(med(p99[(w, "oxcd")].values()), ".2f")))
width = [max(len(r[i]) for r in rows + [head]) for i in range(len(head))]
def show(r):
    print("  ".join([r[0].ljust(width[0])] + [c.rjust(width[i + 1]) for i, c in enumerate(r[1:])]))
show(head)
show(tuple("-" * n for n in width))
for r in rows:
    show(r)
print(f"(medians over {rounds} round(s); ratio = median of the per-round oxcd/etcd ops/s;"
      " watch: ops = events delivered, p99 = event delivery latency)")
PY
