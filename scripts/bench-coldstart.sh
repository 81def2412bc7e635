#!/usr/bin/env bash
# Benchmark (not a test): cold start of a fresh three-member cluster, etcd
# 3.5.1 against oxcd, alternating, ROUNDS rounds (default 5). Each round
# starts three members on loopback at once (the seed's flags: --name mK,
# --initial-cluster of the three, state new, default timeouts) and times
# from launch until every member has answered a linearizable
# `etcdctl get x` (each polled every 50 ms). Prints each round's seconds,
# the medians, and the median of the per-round oxcd/etcd ratios.
# Usage: bash scripts/bench-coldstart.sh [ROUNDS]
set -euo pipefail
cd "$(dirname "$0")/.."
ROUNDS=${1:-5}
[[ $ROUNDS =~ ^[0-9]+$ && $ROUNDS -ge 1 ]] || { echo "usage: bash scripts/bench-coldstart.sh [ROUNDS]" >&2; exit 2; }
. scripts/bench-common.sh
LIMIT=30 # seconds before a round counts as failed

# ports6: six distinct free ports, all held until every one is chosen
ports6() {
  python3 -c 'import socket
ss=[socket.socket() for _ in range(6)]
for s in ss: s.bind(("127.0.0.1",0))
print(" ".join(str(s.getsockname()[1]) for s in ss))'
}

# round BIN LABEL: prints the seconds until all three answered, or "failed"
round() {
  local bin=$1 label=$2 p k ic t0 now up=() ok=0 mp=()
  read -r -a p <<<"$(ports6)"
  ic="m1=http://127.0.0.1:${p[3]},m2=http://127.0.0.1:${p[4]},m3=http://127.0.0.1:${p[5]}"
  t0=$(date +%s%N)
  for k in 0 1 2; do
    "$bin" --name "m$((k + 1))" --data-dir "$work/$label/m$k" \
      --listen-client-urls "http://127.0.0.1:${p[$k]}" --advertise-client-urls "http://127.0.0.1:${p[$k]}" \
      --listen-peer-urls "http://127.0.0.1:${p[$((k + 3))]}" \
      --initial-advertise-peer-urls "http://127.0.0.1:${p[$((k + 3))]}" \
      --initial-cluster "$ic" --initial-cluster-token "cold-$label" --initial-cluster-state new \
      >>"$work/$label.log" 2>&1 &
    mp+=($!)
    pids+=($!)
    up+=(0)
  done
  while [ $ok -lt 3 ]; do
    for k in 0 1 2; do
      [ "${up[$k]}" = 1 ] && continue
      if "$ETCDCTL" --endpoints="127.0.0.1:${p[$k]}" --dial-timeout=200ms --command-timeout=500ms \
        get x >/dev/null 2>&1; then
        up[$k]=1; ok=$((ok + 1))
      fi
    done
    now=$(date +%s%N)
    if [ $(((now - t0) / 1000000000)) -ge $LIMIT ]; then break; fi
    [ $ok -lt 3 ] && sleep 0.05
  done
  now=$(date +%s%N)
  for k in 0 1 2; do kill "${mp[$k]}" 2>/dev/null || true; wait "${mp[$k]}" 2>/dev/null || true; done
  pids=()
  rm -rf "${work:?}/$label"
  if [ $ok -lt 3 ]; then echo failed; else python3 -c "print(f'{($now - $t0) / 1e9:.2f}')"; fi
}

echo "== cold start of a fresh three-member cluster until every member answers a linearizable get =="
es=() os=()
for r in $(seq "$ROUNDS"); do
  e=$(round "$ETCD" etcd-$r); o=$(round "$OXCD" oxcd-$r)
  echo "  round $r: etcd $e s, oxcd $o s"
  es+=("$e"); os+=("$o")
done
python3 - "${es[*]}" "${os[*]}" <<'PY'
import sys, statistics as st
e = [float(x) for x in sys.argv[1].split() if x != "failed"]
o = [float(x) for x in sys.argv[2].split() if x != "failed"]
pairs = [(float(a), float(b)) for a, b in zip(sys.argv[1].split(), sys.argv[2].split())
         if a != "failed" and b != "failed"]
if not pairs:
    sys.exit("every round failed")
print(f"median: etcd {st.median(e):.2f} s, oxcd {st.median(o):.2f} s, "
      f"oxcd/etcd {st.median(b / a for a, b in pairs):.2f} (median of per-round ratios)")
PY
