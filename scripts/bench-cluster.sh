#!/usr/bin/env bash
# Cluster benchmarks (not tests): three etcd 3.5.1 members vs three oxcd
# members on loopback (same disk, same flags as the seed: --name mK,
# --initial-cluster m1=…,m2=…,m3=…, --initial-cluster-token, state new).
#
#  1. put throughput (oxbench, 256-byte values) at 16 and 256 clients spread
#     over the three endpoints, SECS seconds each, a fresh cluster per run;
#  2. catch-up: SIGKILL a follower, TOTAL puts (oxbench --total) through the
#     two others, restart it, and time until its raft_applied_index reaches
#     the leader's raft_index as of the restart (polled every 50 ms with
#     `oxctl endpoint status -w json`).
#
# Usage: SECS=10 TOTAL=100000 bash scripts/bench-cluster.sh
# Env: SECS (default 10), TOTAL (default 100000), CATCHUP_CLIENTS (64),
#      OXCD (default target/release/oxcd, built here when missing).
# A side that does not come up (or fails) prints "failed"; every step has a
# timeout, and every process started here is stopped on exit.
set -uo pipefail
cd "$(dirname "$0")/.."
SECS=${SECS:-10}
TOTAL=${TOTAL:-100000}
CATCHUP_CLIENTS=${CATCHUP_CLIENTS:-64}
START_TIMEOUT=30   # seconds for a cluster to elect a leader
CATCHUP_TIMEOUT=300

bash .ci/install-etcd.sh >/dev/null || { echo "cannot install etcd 3.5.1" >&2; exit 1; }
cargo build --release -q -p oxbench -p oxctl || exit 1
ETCD=.ci/etcd/v3.5.1/etcd
OXCTL=target/release/oxctl
BENCH=target/release/oxbench
OXCD=${OXCD:-target/release/oxcd}
if [ ! -x "$OXCD" ] && ! cargo build --release -q -p oxcd; then
  echo "warning: oxcd does not build; its side will read 'failed'" >&2
fi

work=$(mktemp -d -p "$PWD/target" bench-cluster.XXXXXX)
pids=()
# stop <pid> [signal]: SIGTERM (or the signal), SIGKILL after 5 s; reaps it
# and forgets it (so that a reused pid is never signalled).
stop() {
  local p=$1 q rest=()
  if [ "${2:-TERM}" = KILL ]; then
    kill -9 "$p" 2>/dev/null
  elif kill "$p" 2>/dev/null; then
    for _ in $(seq 50); do kill -0 "$p" 2>/dev/null || break; sleep 0.1; done
    kill -9 "$p" 2>/dev/null
  fi
  wait "$p" 2>/dev/null
  for q in "${pids[@]+"${pids[@]}"}"; do [ "$q" = "$p" ] || rest+=("$q"); done
  pids=("${rest[@]+"${rest[@]}"}")
}
cleanup() {
  for p in "${pids[@]+"${pids[@]}"}"; do stop "$p"; done
  rm -rf "$work"
}
trap cleanup EXIT
trap 'exit 130' INT TERM

# six distinct free ports (all held until every one is chosen)
ports6() {
  python3 -c 'import socket
ss=[socket.socket() for _ in range(6)]
for s in ss: s.bind(("127.0.0.1",0))
print(" ".join(str(s.getsockname()[1]) for s in ss))'
}

# The current cluster: binary, label, ports and pids of members 1..3.
BIN='' LABEL='' IC=''
CP=() PP=() MPID=()

# start_member K: (re)starts member K of the current cluster on its data dir.
start_member() {
  local k=$1
  "$BIN" --name "m$k" --data-dir "$work/$LABEL/m$k.etcd" \
    --listen-client-urls "http://127.0.0.1:${CP[$k]}" --advertise-client-urls "http://127.0.0.1:${CP[$k]}" \
    --listen-peer-urls "http://127.0.0.1:${PP[$k]}" --initial-advertise-peer-urls "http://127.0.0.1:${PP[$k]}" \
    --initial-cluster "$IC" --initial-cluster-token "bench-$LABEL" --initial-cluster-state new \
    >>"$work/$LABEL/m$k.log" 2>&1 &
  MPID[$k]=$!
  pids+=("${MPID[$k]}")
}

ep() { echo "127.0.0.1:${CP[$1]}"; }

# status_field K FIELD: FIELD (raftIndex, raftAppliedIndex, leader, member_id)
# of member K, or nothing when it does not answer.
status_field() {
  local out
  out=$(timeout 5 "$OXCTL" --endpoints="$(ep "$1")" --dial-timeout=1s --command-timeout=1s \
    endpoint status -w json 2>/dev/null) || return 1
  [[ $out =~ \"$2\":([0-9]+) ]] && echo "${BASH_REMATCH[1]}"
}

# leader_member: K of the member every member names as leader (fails if
# they disagree, or one does not answer).
leader_member() {
  local k l first='' lid=''
  for k in 1 2 3; do
    l=$(status_field "$k" leader) || return 1
    [ -n "$l" ] && [ "$l" != 0 ] || return 1
    [ -z "$first" ] && first=$l
    [ "$l" = "$first" ] || return 1
  done
  for k in 1 2 3; do
    lid=$(status_field "$k" member_id) || return 1
    [ "$lid" = "$first" ] && { echo "$k"; return 0; }
  done
  return 1
}

# start_cluster BIN LABEL: three fresh members; waits for a leader.
start_cluster() {
  BIN=$1 LABEL=$2
  mkdir -p "$work/$LABEL"
  local k p
  read -r -a p <<<"$(ports6)"
  for k in 1 2 3; do CP[$k]=${p[$((k - 1))]}; PP[$k]=${p[$((k + 2))]}; done
  IC="m1=http://127.0.0.1:${PP[1]},m2=http://127.0.0.1:${PP[2]},m3=http://127.0.0.1:${PP[3]}"
  for k in 1 2 3; do start_member "$k"; done
  local deadline=$((SECONDS + START_TIMEOUT))
  while [ $SECONDS -lt $deadline ]; do
    for k in 1 2 3; do
      kill -0 "${MPID[$k]}" 2>/dev/null || { echo "  $LABEL: m$k exited: $(tail -n 3 "$work/$LABEL/m$k.log")"; return 1; }
    done
    leader_member >/dev/null && return 0
    sleep 0.2
  done
  echo "  $LABEL: no leader within ${START_TIMEOUT}s"
  return 1
}

stop_cluster() {
  local k
  for k in 1 2 3; do [ -n "${MPID[$k]:-}" ] && stop "${MPID[$k]}"; MPID[$k]=''; done
}

# The functions below start processes, so they are called directly (not in
# $(...), where the cleanup would not see the pids) and leave their result
# in RES.

# throughput BIN LABEL CLIENTS: RES = puts/s, or "failed". A failed run
# (a put error ends oxbench) is tried once more on a fresh cluster.
throughput() {
  local out attempt
  RES=failed
  for attempt in 1 2; do
    start_cluster "$1" "$2-$3-$attempt" || { stop_cluster; return; }
    out=$(timeout $((SECS + 60)) "$BENCH" --endpoint "$(ep 1),$(ep 2),$(ep 3)" \
      --clients "$3" --seconds "$SECS" 2>>"$work/bench.err")
    stop_cluster
    if [[ $out =~ puts_per_sec=([0-9]+) ]]; then
      echo "  $2, $3 clients: $out"
      RES=${BASH_REMATCH[1]}
      return
    fi
    echo "  $2, $3 clients: oxbench failed (attempt $attempt): $(tail -n 1 "$work/bench.err")"
  done
}

# catchup BIN LABEL: RES = seconds for a restarted follower to catch up, or
# "failed".
catchup() {
  local label=$2-catchup leader f others k out target t0 t1 applied
  RES=failed
  start_cluster "$1" "$label" || { stop_cluster; return; }
  leader=$(leader_member) || { stop_cluster; return; }
  f=$((leader % 3 + 1))
  others=''
  for k in 1 2 3; do [ "$k" = "$f" ] || others+="${others:+,}$(ep "$k")"; done
  stop "${MPID[$f]}" KILL
  out=$(timeout 600 "$BENCH" --endpoint "$others" --clients "$CATCHUP_CLIENTS" --total "$TOTAL" \
    2>>"$work/bench.err")
  if [[ ! $out =~ puts= ]]; then
    echo "  $2 catch-up: the $TOTAL puts failed: $(tail -n 2 "$work/bench.err")"
    stop_cluster; return
  fi
  echo "  $2 catch-up: m$f killed, leader m$leader; puts: $out"
  target=$(status_field "$leader" raftIndex) || { stop_cluster; return; }
  t0=$(date +%s%N)
  start_member "$f"
  while :; do
    applied=$(status_field "$f" raftAppliedIndex) || applied=0
    [ "${applied:-0}" -ge "$target" ] && break
    if ! kill -0 "${MPID[$f]}" 2>/dev/null || [ $(( ($(date +%s%N) - t0) / 1000000000 )) -ge $CATCHUP_TIMEOUT ]; then
      echo "  $2 catch-up: m$f at applied index ${applied:-?} of $target, gave up"
      stop_cluster; return
    fi
    sleep 0.05
  done
  t1=$(date +%s%N)
  RES=$(python3 -c "print(f'{($t1 - $t0) / 1e9:.2f}')")
  echo "  $2 catch-up: m$f applied index $applied >= leader's $target at restart, after ${RES}s"
  stop_cluster
}

ratio() {
  if [[ $1 =~ ^[0-9.]+$ && $2 =~ ^[0-9.]+$ ]]; then
    python3 -c "print(f'{$2 / max($1, 1e-9):.2f}')"
  else
    echo -
  fi
}

echo "== 3-member clusters on loopback: put throughput (256-byte values, ${SECS}s per run," \
  "clients spread over the 3 endpoints), catch-up after $TOTAL puts =="
declare -A R
RES=''
for n in 16 256; do
  for s in etcd oxcd; do
    if [ $s = etcd ]; then throughput "$ETCD" etcd "$n"; else throughput "$OXCD" oxcd "$n"; fi
    R[$s-$n]=$RES
  done
done
catchup "$ETCD" etcd; R[etcd-c]=$RES
catchup "$OXCD" oxcd; R[oxcd-c]=$RES

echo
printf '%-36s %10s %10s %7s\n' what etcd oxcd ratio
for n in 16 256; do
  printf '%-36s %10s %10s %7s\n' "puts/s, $n clients" "${R[etcd-$n]}" "${R[oxcd-$n]}" \
    "$(ratio "${R[etcd-$n]}" "${R[oxcd-$n]}")"
done
printf '%-36s %10s %10s %7s\n' "catch-up after $TOTAL puts (s)" "${R[etcd-c]}" "${R[oxcd-c]}" \
  "$(ratio "${R[etcd-c]}" "${R[oxcd-c]}")"
echo "(ratio = oxcd / etcd: above 1 is better for puts/s, below 1 is better for catch-up)"
