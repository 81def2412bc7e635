#!/usr/bin/env bash
# Benchmark (not a test): memory and disk of oxcd against etcd 3.5.1 as the
# store grows (issue 12: "half etcd's memory"). For each count N and each
# server (etcd then oxcd, a fresh single member each, same flags:
# etcd's defaults but --quota-backend-bytes=8589934592):
#   1. load N keys of 256-byte values (oxbench --clients 64 --total N);
#   2. wait 5 s for the server to settle, then read from /proc/PID/status
#      VmRSS (with its RssAnon/RssFile parts) and VmHWM (the peak so far),
#      and the data dir's size: apparent (du -sb) and on disk (du -sk,
#      allocated blocks: redb grows its file sparsely, by doubling);
#   3. time `etcdctl snapshot save` (wall s; its size and the peak RSS after);
#   4. stop it (SIGTERM, wait; wall s), restart it on the same data dir and
#      time until `etcdctl get x` answers (wall s, polled every 0.1 s);
#      VmRSS right then.
# Prints a table per N (metric | etcd | oxcd | ratio = oxcd/etcd) and a
# memory curve over all N; with BENCH_CSV=path, also the raw numbers as CSV
# (n,server,metric,value).
# Usage: bash scripts/bench-memory.sh ["N1 N2 ..." (default "100000 1000000")]
set -euo pipefail
cd "$(dirname "$0")/.."
COUNTS=${1:-100000 1000000}
for n in $COUNTS; do
  [[ $n =~ ^[0-9]+$ && $n -ge 1 ]] || { echo "usage: bash scripts/bench-memory.sh [\"N1 N2 ...\"]" >&2; exit 2; }
done
. scripts/bench-common.sh
FLAGS=(--quota-backend-bytes=8589934592)
START_TRIES=3000 # a restart on a big store may take a while

raw=$work/raw.csv
echo "n,server,metric,value" >"$raw"
rec() { echo "$1,$2,$3,$4" >>"$raw"; }
now() { date +%s%N; }
secs() { python3 -c "print(f'{($2 - $1) / 1e9:.2f}')"; }
# status_kb FIELD: a field of /proc/$PID/status, in kB
status_kb() { awk -v f="$1:" '$1 == f {print $2}' "/proc/$PID/status"; }

echo "== memory and disk, oxcd vs etcd 3.5.1, keys of 256-byte values, N = $COUNTS =="
for n in $COUNTS; do
  for server in etcd oxcd; do
    bin=$ETCD; [ $server = oxcd ] && bin=$OXCD
    name=$server-$n
    start "$bin" "$name" "${FLAGS[@]}"
    out=$("$BENCH" --endpoint "127.0.0.1:$PORT" --clients 64 --total "$n" --value-size 256) || {
      echo "loading $n keys into $server failed" >&2; exit 1; }
    echo "  $server, N=$n: load: $out"
    rec "$n" $server load_puts_per_sec "$(sed -E 's/.*puts_per_sec=([0-9]+).*/\1/' <<<"$out")"
    sleep 5
    rec "$n" $server rss_kb "$(status_kb VmRSS)"
    rec "$n" $server rss_anon_kb "$(status_kb RssAnon)"
    rec "$n" $server rss_file_kb "$(status_kb RssFile)"
    rec "$n" $server hwm_kb "$(status_kb VmHWM)"
    rec "$n" $server data_dir_bytes "$(du -sb "$work/$name" | cut -f1)"
    rec "$n" $server data_dir_disk_bytes "$(( $(du -sk "$work/$name" | cut -f1) * 1024 ))"
    # the split: the store (etcd's bbolt db, oxcd's redb file and raft
    # snapshot files) and the WAL, on disk
    rec "$n" $server snap_dir_disk_bytes "$(( $(du -sk "$work/$name/member/snap" | cut -f1) * 1024 ))"
    rec "$n" $server wal_dir_disk_bytes "$(( $(du -sk "$work/$name/member/wal" | cut -f1) * 1024 ))"
    t0=$(now)
    "$ETCDCTL" --endpoints="127.0.0.1:$PORT" snapshot save "$work/snap.db" >/dev/null 2>"$work/snap.err" || {
      echo "etcdctl snapshot save from $server failed:" >&2; cat "$work/snap.err" >&2; exit 1; }
    t1=$(now)
    rec "$n" $server snapshot_save_s "$(secs "$t0" "$t1")"
    rec "$n" $server snapshot_bytes "$(stat -c %s "$work/snap.db")"
    rec "$n" $server hwm_after_snapshot_kb "$(status_kb VmHWM)"
    rm -f "$work/snap.db"
    t0=$(now); stop; t1=$(now)
    rec "$n" $server stop_s "$(secs "$t0" "$t1")"
    start "$bin" "$name" "${FLAGS[@]}"
    rec "$n" $server restart_s "$START_SECS"
    rec "$n" $server rss_after_restart_kb "$(status_kb VmRSS)"
    c=$("$ETCDCTL" --endpoints="127.0.0.1:$PORT" get bench/ --prefix --count-only -w fields |
      sed -nE 's/^"Count" : ([0-9]+)/\1/p') || true
    [ "$c" = "$n" ] || echo "  warning: $server has $c keys under bench/ after the restart, not $n" >&2
    stop
    rm -rf "${work:?}/$name"
  done
done

if [ -n "${BENCH_CSV:-}" ]; then cp "$raw" "$BENCH_CSV"; fi
echo
python3 - "$raw" <<'PY'
import csv, sys
from collections import defaultdict
v = defaultdict(dict)
ns = []
for row in csv.DictReader(open(sys.argv[1])):
    n = int(row["n"])
    if n not in ns:
        ns.append(n)
    v[(n, row["server"])][row["metric"]] = float(row["value"])
MB = 1 << 20
metrics = [  # (label, metric, scale, format)
    ("load puts/s (64 clients)", "load_puts_per_sec", 1, ".0f"),
    ("RSS MB, 5 s after the load", "rss_kb", 1024 / MB, ".1f"),
    ("  of which anonymous MB", "rss_anon_kb", 1024 / MB, ".1f"),
    ("  of which file-backed MB", "rss_file_kb", 1024 / MB, ".1f"),
    ("peak RSS MB (VmHWM) after the load", "hwm_kb", 1024 / MB, ".1f"),
    ("data dir MB (du -sb, apparent)", "data_dir_bytes", 1 / MB, ".1f"),
    ("data dir MB on disk (du -sk)", "data_dir_disk_bytes", 1 / MB, ".1f"),
    ("  of which member/snap (the store) MB", "snap_dir_disk_bytes", 1 / MB, ".1f"),
    ("  of which member/wal MB", "wal_dir_disk_bytes", 1 / MB, ".1f"),
    ("etcdctl snapshot save s", "snapshot_save_s", 1, ".2f"),
    ("snapshot MB", "snapshot_bytes", 1 / MB, ".1f"),
    ("peak RSS MB after snapshot save", "hwm_after_snapshot_kb", 1024 / MB, ".1f"),
    ("stop (SIGTERM) s", "stop_s", 1, ".2f"),
    ("restart until get answers s", "restart_s", 1, ".2f"),
    ("RSS MB right after restart", "rss_after_restart_kb", 1024 / MB, ".1f"),
]
def table(head, rows):
    w = [max(len(r[i]) for r in rows + [head]) for i in range(len(head))]
    for r in [head, tuple("-" * x for x in w)] + rows:
        print("  ".join([r[0].ljust(w[0])] + [c.rjust(w[i + 1]) for i, c in enumerate(r[1:])]))
for n in ns:
    e, o = v[(n, "etcd")], v[(n, "oxcd")]
    rows = []
    for label, m, scale, fmt in metrics:
        if m not in e or m not in o:
            continue
        ratio = f"{o[m] / e[m]:.2f}" if e[m] else "-"
        rows.append((label, format(e[m] * scale, fmt), format(o[m] * scale, fmt), ratio))
    print(f"== N = {n:,} keys ==")
    table(("metric", "etcd", "oxcd", "ratio"), rows)
    print()
print("== memory curve (RSS 5 s after the load; data dir on disk; bytes/key = RSS or data dir / N) ==")
rows = []
for n in ns:
    e, o = v[(n, "etcd")], v[(n, "oxcd")]
    rows.append((f"{n:,}", f"{e['rss_kb'] * 1024 / MB:.1f}", f"{o['rss_kb'] * 1024 / MB:.1f}",
                 f"{e['data_dir_disk_bytes'] / MB:.1f}", f"{o['data_dir_disk_bytes'] / MB:.1f}",
                 f"{e['rss_kb'] * 1024 / n:.0f}", f"{o['rss_kb'] * 1024 / n:.0f}",
                 f"{e['data_dir_disk_bytes'] / n:.0f}", f"{o['data_dir_disk_bytes'] / n:.0f}"))
table(("N", "etcd RSS MB", "oxcd RSS MB", "etcd dir MB", "oxcd dir MB",
       "etcd RSS B/key", "oxcd RSS B/key", "etcd dir B/key", "oxcd dir B/key"), rows)
print("(ratio = oxcd / etcd: below 1 is better except for load puts/s)")
PY
