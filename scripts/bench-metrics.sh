#!/usr/bin/env bash
# Benchmark (not a test): put throughput with /metrics scraped every second
# against the same with nobody scraping, oxcd and etcd 3.5.1, interleaved
# (quiet, scraped, quiet, scraped, ...) on fresh single members.
# Usage: bash scripts/bench-metrics.sh [seconds-per-run (default 5)] [rounds (default 3)] [clients (default 16)]
set -euo pipefail
cd "$(dirname "$0")/.."
SECS=${1:-5}
ROUNDS=${2:-3}
CLIENTS=${3:-16}
. scripts/bench-common.sh

# run <bin> <name> <scrape 0|1>: puts/s of one run
run() {
  local bin=$1 name=$2 scrape=$3 spid="" out
  start "$bin" "$name"
  if [ "$scrape" = 1 ]; then
    ( while true; do curl -s "http://127.0.0.1:$PORT/metrics" >/dev/null; sleep 1; done ) &
    spid=$!
  fi
  out=$("$BENCH" --endpoint "127.0.0.1:$PORT" --clients "$CLIENTS" --seconds "$SECS")
  [ -n "$spid" ] && { kill "$spid" 2>/dev/null || true; wait "$spid" 2>/dev/null || true; }
  stop
  sed -E 's/.*puts_per_sec=([0-9]+).*/\1/' <<<"$out"
}

echo "== put throughput, $CLIENTS clients, ${SECS}s per run, /metrics scraped every second or not =="
printf '%-6s %-5s %12s %12s %7s\n' server round quiet_put_s scraped_put_s ratio
for bin in "$OXCD" "$ETCD"; do
  name=$(basename "$bin")
  qs=(); ss=()
  for r in $(seq "$ROUNDS"); do
    q=$(run "$bin" "$name-q$r" 0)
    s=$(run "$bin" "$name-s$r" 1)
    qs+=("$q"); ss+=("$s")
    printf '%-6s %-5s %12s %12s %7s\n' "$name" "$r" "$q" "$s" "$(python3 -c "print(f'{$s/max($q,1):.3f}')")"
  done
  python3 - "$name" "${qs[*]}" "${ss[*]}" <<'PY'
import sys, statistics
name, q, s = sys.argv[1], list(map(int, sys.argv[2].split())), list(map(int, sys.argv[3].split()))
mq, ms = statistics.median(q), statistics.median(s)
print(f"{name}: median quiet {mq:.0f} puts/s, median scraped {ms:.0f} puts/s, scraped/quiet {ms/mq:.3f}")
PY
done
