#!/usr/bin/env bash
# The main job: build, start a local oxcd on loopback, run oxctl against it, stop.
set -euo pipefail
cd "$(dirname "$0")/.."
cargo build --release --bins -q -p oxcd -p oxctl
data=$(mktemp -d)
port() { python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1]); s.close()'; }
cp=$(port); pp=$(port)
target/release/oxcd --name default --data-dir "$data/default.etcd" \
  --listen-client-urls "http://127.0.0.1:$cp" --advertise-client-urls "http://127.0.0.1:$cp" \
  --listen-peer-urls "http://127.0.0.1:$pp" >"$data/oxcd.log" 2>&1 &
pid=$!
trap 'kill $pid 2>/dev/null; wait $pid 2>/dev/null; rm -rf "$data"' EXIT
ox() { printf '$ oxctl'; printf ' %q' "$@"; echo; target/release/oxctl --endpoints="127.0.0.1:$cp" "$@"; }
for _ in $(seq 50); do target/release/oxctl --endpoints="127.0.0.1:$cp" --dial-timeout=200ms get x >/dev/null 2>&1 && break; sleep 0.1; done
ox version
ox put foo "Hello World"
ox get foo
ox -w json get foo
ox put web/1 a; ox put web/2 b
ox get web --prefix
ox del web --prefix
ox endpoint status -w table
ox endpoint health
ox member list -w table
ox snapshot save "$data/backup.db"
ox snapshot status "$data/backup.db" -w table
