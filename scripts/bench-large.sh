#!/usr/bin/env bash
# Benchmark (not a test): a large store, oxcd against etcd 3.5.1 (issue 12:
# "a large store stays usable"). For each server, on a fresh single member
# with --quota-backend-bytes raised to 16 GiB:
#   1. load KEYS keys of VALUE-byte values (default 1,000,000 x 4 KiB: 4 GB),
#      64 clients;
#   2. overwrite a quarter of them (so a compaction has a quarter to free);
#   3. puts for 10 s at 16 clients over the same keys, alone: the baseline;
#   4. the same 10 s of puts, with `etcdctl compact <current> --physical`
#      started 1 s in: how long the compaction takes, and the puts' p99 and
#      rate while it runs;
#   5. `etcdctl defrag`: how long, and the data dir before and after.
# etcd runs first, then oxcd (one round: loading 4 GB twice takes minutes).
# Usage: bash scripts/bench-large.sh [KEYS (1000000)] [VALUE bytes (4096)]
# Env: SERVERS (default "etcd oxcd"): run only these.
set -euo pipefail
cd "$(dirname "$0")/.."
KEYS=${1:-1000000}
VALUE=${2:-4096}
[[ $KEYS =~ ^[0-9]+$ && $KEYS -ge 100 && $VALUE =~ ^[0-9]+$ && $VALUE -ge 1 ]] || {
  echo "usage: bash scripts/bench-large.sh [keys >= 100] [value bytes >= 1]" >&2; exit 2; }
. scripts/bench-common.sh
FLAGS=(--quota-backend-bytes=17179869184)
START_TRIES=3000

raw=$work/raw.csv
: >"$raw"
rec() { echo "$1,$2,$3" >>"$raw"; }
now() { date +%s%N; }
secs() { python3 -c "print(f'{($2 - $1) / 1e9:.2f}')"; }
field() { sed -nE "s/.*$1=([0-9.]+).*/\\1/p" <<<"$2"; }
ctl() { "$ETCDCTL" --endpoints="127.0.0.1:$PORT" --command-timeout=600s "$@"; }
disk() { echo $(( $(du -sk "$work/$1" | cut -f1) * 1024 )); }
# bench ARGS...: oxbench over the loaded keys, fails the script on error
bench() {
  "$BENCH" --endpoint "127.0.0.1:$PORT" --value-size "$VALUE" "$@" 2>>"$work/bench.err" || {
    echo "oxbench $* failed: $(tail -n 2 "$work/bench.err")" >&2; exit 1; }
}

echo "== large store: $KEYS keys of $VALUE bytes, a quarter overwritten, oxcd vs etcd 3.5.1 =="
for server in ${SERVERS:-etcd oxcd}; do
  bin=$ETCD; [ $server = oxcd ] && bin=$OXCD
  start "$bin" "$server" "${FLAGS[@]}"
  out=$(bench --clients 64 --total "$KEYS")
  echo "  $server: load: $out"
  rec $server load_puts_per_sec "$(field puts_per_sec "$out")"
  out=$(bench --clients 64 --total $((KEYS / 4)) --key-space "$KEYS")
  echo "  $server: overwrite: $out"
  rec $server data_dir_loaded "$(disk "$server")"
  out=$(bench --clients 16 --seconds 10 --key-space "$KEYS")
  echo "  $server: puts alone: $out"
  rec $server base_puts_per_sec "$(field puts_per_sec "$out")"
  rec $server base_p99_ms "$(field p99_ms "$out")"
  rev=$(ctl endpoint status -w json | sed -nE 's/.*"revision":([0-9]+).*/\1/p')
  bench --clients 16 --seconds 10 --key-space "$KEYS" >"$work/during.out" &
  bp=$!
  sleep 1
  t0=$(now)
  ctl compact "$rev" --physical >/dev/null
  t1=$(now)
  wait "$bp" || { echo "oxbench during the compaction failed: $(tail -n 2 "$work/bench.err")" >&2; exit 1; }
  out=$(cat "$work/during.out")
  echo "  $server: compact $rev --physical: $(secs "$t0" "$t1") s; puts meanwhile: $out"
  rec $server compact_s "$(secs "$t0" "$t1")"
  rec $server during_puts_per_sec "$(field puts_per_sec "$out")"
  rec $server during_p99_ms "$(field p99_ms "$out")"
  rec $server data_dir_compacted "$(disk "$server")"
  t0=$(now)
  ctl defrag >/dev/null
  t1=$(now)
  echo "  $server: defrag: $(secs "$t0" "$t1") s"
  rec $server defrag_s "$(secs "$t0" "$t1")"
  rec $server data_dir_defragged "$(disk "$server")"
  rec $server rss_kb "$(awk '$1 == "VmRSS:" {print $2}' "/proc/$PID/status")"
  stop
  rm -rf "${work:?}/$server"
done

echo
python3 - "$raw" <<'PY'
import csv, sys
v = {}
for server, metric, value in csv.reader(open(sys.argv[1])):
    v.setdefault(server, {})[metric] = float(value)
MB = 1 << 20
rows = [  # (label, metric, scale, format)
    ("load puts/s (64 clients)", "load_puts_per_sec", 1, ".0f"),
    ("data dir MB on disk, loaded", "data_dir_loaded", 1 / MB, ".0f"),
    ("puts/s alone (16 clients)", "base_puts_per_sec", 1, ".0f"),
    ("put p99 ms alone", "base_p99_ms", 1, ".2f"),
    ("compact --physical s", "compact_s", 1, ".2f"),
    ("puts/s during the compaction", "during_puts_per_sec", 1, ".0f"),
    ("put p99 ms during the compaction", "during_p99_ms", 1, ".2f"),
    ("data dir MB after compaction", "data_dir_compacted", 1 / MB, ".0f"),
    ("defrag s", "defrag_s", 1, ".2f"),
    ("data dir MB after defrag", "data_dir_defragged", 1 / MB, ".0f"),
    ("RSS MB at the end", "rss_kb", 1 / 1024, ".0f"),
]
e, o = v.get("etcd", {}), v.get("oxcd", {})
out = [("metric", "etcd", "oxcd", "ratio")]
for label, m, scale, fmt in rows:
    ratio = f"{o[m] / e[m]:.2f}" if m in e and m in o and e[m] else "-"
    show = lambda d: format(d[m] * scale, fmt) if m in d else "-"
    out.append((label, show(e), show(o), ratio))
w = [max(len(r[i]) for r in out) for i in range(4)]
for i, r in enumerate(out):
    print("  ".join([r[0].ljust(w[0])] + [c.rjust(w[j + 1]) for j, c in enumerate(r[1:])]))
    if i == 0:
        print("  ".join("-" * x for x in w))
print("(ratio = oxcd / etcd: above 1 is better for puts/s, below 1 for times, p99 and sizes)")
PY
