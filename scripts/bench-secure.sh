#!/usr/bin/env bash
# Benchmark (not a test): put throughput of oxcd vs etcd 3.5.1 as the seed
# runs them — clients over TLS with client-certificate auth, and auth on
# (simple tokens, the puts sent by a user with write permission, not root).
# Fresh single member per run; etcd and oxcd alternate in each round.
# Usage: bash scripts/bench-secure.sh [seconds-per-run (default 5)] [rounds (default 1)]
set -euo pipefail
cd "$(dirname "$0")/.."
SECS=${1:-5}
ROUNDS=${2:-1}
bash .ci/install-etcd.sh >/dev/null
command -v openssl >/dev/null || { echo "the openssl command is needed to make certificates" >&2; exit 1; }
cargo build --release --workspace --bins -q
ETCD=.ci/etcd/v3.5.1/etcd
ETCDCTL=.ci/etcd/v3.5.1/etcdctl
OXCD=target/release/oxcd
BENCH=target/release/oxbench
work=$(mktemp -d -p "$PWD/target" bench-secure.XXXXXX)
pids=()
cleanup() { for p in "${pids[@]+"${pids[@]}"}"; do kill "$p" 2>/dev/null || true; wait "$p" 2>/dev/null || true; done; rm -rf "$work"; }
trap cleanup EXIT

# a CA, a server certificate for 127.0.0.1 and a client certificate
pki="$work/pki"; mkdir -p "$pki"
openssl req -x509 -newkey rsa:2048 -nodes -keyout "$pki/ca.key" -out "$pki/ca.crt" -days 2 -subj /CN=bench-ca 2>/dev/null
printf 'subjectAltName=IP:127.0.0.1,DNS:localhost\nextendedKeyUsage=serverAuth,clientAuth\n' >"$pki/ext"
for who in server client; do
  openssl req -newkey rsa:2048 -nodes -keyout "$pki/$who.key" -out "$pki/$who.csr" -subj "/CN=$who" 2>/dev/null
  openssl x509 -req -in "$pki/$who.csr" -CA "$pki/ca.crt" -CAkey "$pki/ca.key" -CAcreateserial \
    -out "$pki/$who.crt" -days 2 -extfile "$pki/ext" 2>/dev/null
done
TLS=(--cacert "$pki/ca.crt" --cert "$pki/client.crt" --key "$pki/client.key")

port() { python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1]); s.close()'; }

# start <binary> <name>: a fresh https member with client cert auth, then
# root, a writer of bench/ and auth on; sets PORT and PID
start() {
  local bin=$1 name=$2 pp
  PORT=$(port); pp=$(port)
  "$bin" --name default --data-dir "$work/$name" \
    --listen-client-urls "https://127.0.0.1:$PORT" --advertise-client-urls "https://127.0.0.1:$PORT" \
    --listen-peer-urls "http://127.0.0.1:$pp" --initial-advertise-peer-urls http://localhost:2380 \
    --initial-cluster default=http://localhost:2380 \
    --cert-file "$pki/server.crt" --key-file "$pki/server.key" \
    --trusted-ca-file "$pki/ca.crt" --client-cert-auth >"$work/$name.log" 2>&1 &
  PID=$!
  pids+=("$PID")
  local ctl=("$ETCDCTL" --endpoints="https://127.0.0.1:$PORT" "${TLS[@]}")
  for _ in $(seq 100); do
    if "${ctl[@]}" --dial-timeout=200ms get x >/dev/null 2>&1; then
      "${ctl[@]}" user add root:rootpw >/dev/null
      "${ctl[@]}" user add bench:benchpw >/dev/null
      "${ctl[@]}" role add writer >/dev/null
      "${ctl[@]}" role grant-permission writer readwrite bench/ --prefix >/dev/null
      "${ctl[@]}" user grant-role bench writer >/dev/null
      "${ctl[@]}" auth enable >/dev/null 2>&1
      return
    fi
    sleep 0.1
  done
  echo "server $name did not start" >&2; cat "$work/$name.log" >&2; exit 1
}

stop() { kill "$PID" 2>/dev/null || true; wait "$PID" 2>/dev/null || true; }

run() { "$BENCH" --endpoint "https://127.0.0.1:$PORT" "${TLS[@]}" --user bench:benchpw --clients "$1" --seconds "$SECS"; }
rate() { sed -E 's/.*puts_per_sec=([0-9]+).*/\1/' <<<"$1"; }

echo "== put throughput over TLS (client cert auth) with auth on, 256-byte values, ${SECS}s per run =="
printf '%-6s %-8s %14s %14s %7s\n' round clients etcd_puts_s oxcd_puts_s ratio
for r in $(seq "$ROUNDS"); do
  for n in 1 16 256; do
    start "$ETCD" "etcd-$r-$n"; e=$(run "$n"); stop
    start "$OXCD" "oxcd-$r-$n"; o=$(run "$n"); stop
    printf '%-6s %-8s %14s %14s %7s\n' "$r" "$n" "$(rate "$e")" "$(rate "$o")" \
      "$(python3 -c "print(f'{$(rate "$o")/max($(rate "$e"),1):.2f}')")"
    echo "  etcd: $e"
    echo "  oxcd: $o"
  done
done
