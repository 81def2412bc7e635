#!/usr/bin/env bash
# The main job: build, start a local three-member oxcd cluster on loopback
# (the seed's flags), run oxctl against it, stop it.
set -euo pipefail
cd "$(dirname "$0")/.."
cargo build --release --bins -q -p oxcd -p oxctl
data=$(mktemp -d)
port() { python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1]); s.close()'; }
pids=()
trap 'for p in "${pids[@]}"; do kill "$p" 2>/dev/null || true; wait "$p" 2>/dev/null || true; done; rm -rf "$data"' EXIT
cps=(); pps=()
for i in 1 2 3; do cps+=("$(port)"); pps+=("$(port)"); done
cluster="m1=http://127.0.0.1:${pps[0]},m2=http://127.0.0.1:${pps[1]},m3=http://127.0.0.1:${pps[2]}"
for i in 0 1 2; do
  n=m$((i + 1))
  target/release/oxcd --name "$n" --data-dir "$data/$n.etcd" \
    --listen-client-urls "http://127.0.0.1:${cps[$i]}" --advertise-client-urls "http://127.0.0.1:${cps[$i]}" \
    --listen-peer-urls "http://127.0.0.1:${pps[$i]}" --initial-advertise-peer-urls "http://127.0.0.1:${pps[$i]}" \
    --initial-cluster "$cluster" --initial-cluster-token demo-cluster --initial-cluster-state new \
    >"$data/$n.log" 2>&1 &
  pids+=("$!")
done
endpoints="127.0.0.1:${cps[0]},127.0.0.1:${cps[1]},127.0.0.1:${cps[2]}"
ox() { printf '$ oxctl'; printf ' %q' "$@"; echo; target/release/oxctl --endpoints="$endpoints" "$@"; }
for _ in $(seq 100); do target/release/oxctl --endpoints="$endpoints" --dial-timeout=200ms put ready 1 >/dev/null 2>&1 && break; sleep 0.1; done
ox version
ox endpoint status -w table
ox member list -w table
ox put foo "Hello World"
ox get foo
ox -w json get foo
ox put web/1 a; ox put web/2 b
ox get web --prefix
ox del web --prefix
ox endpoint health
ox endpoint hashkv --cluster -w table
one() { printf '$ oxctl --endpoints=127.0.0.1:%s' "${cps[0]}"; printf ' %q' "$@"; echo; target/release/oxctl --endpoints="127.0.0.1:${cps[0]}" "$@"; }
one snapshot save "$data/backup.db"
ox snapshot status "$data/backup.db" -w table
