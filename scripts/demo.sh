#!/usr/bin/env bash
# The main job: build, start a local three-member oxcd cluster on loopback as
# the seed deploys it (https end to end: client and peer certificates from
# one CA, client and peer cert auth), run oxctl against it through the
# seed's alias, turn auth on, stop it.
set -euo pipefail
cd "$(dirname "$0")/.."
command -v openssl >/dev/null || { apt-get update -qq && apt-get install -y -qq openssl >/dev/null; }
cargo build --release --bins -q -p oxcd -p oxctl
data=$(mktemp -d)
port() { python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1]); s.close()'; }
pids=()
trap 'for p in "${pids[@]}"; do kill "$p" 2>/dev/null || true; wait "$p" 2>/dev/null || true; done; rm -rf "$data"' EXIT

# the certificates: a CA, one certificate per member (server and peer
# client), one for the operator
ssl="$data/ssl"; mkdir -p "$ssl"
openssl req -x509 -newkey rsa:2048 -nodes -keyout "$ssl/ca.key" -out "$ssl/ca.pem" -days 2 -subj /CN=demo-ca 2>/dev/null
printf 'subjectAltName=IP:127.0.0.1,DNS:localhost\nextendedKeyUsage=serverAuth,clientAuth\n' >"$ssl/ext"
for who in m1 m2 m3 operator; do
  openssl req -newkey rsa:2048 -nodes -keyout "$ssl/$who-key.pem" -out "$ssl/$who.csr" -subj "/CN=$who" 2>/dev/null
  openssl x509 -req -in "$ssl/$who.csr" -CA "$ssl/ca.pem" -CAkey "$ssl/ca.key" -CAcreateserial \
    -out "$ssl/$who.pem" -days 2 -extfile "$ssl/ext" 2>/dev/null
done

cps=(); pps=()
for i in 1 2 3; do cps+=("$(port)"); pps+=("$(port)"); done
cluster="m1=https://127.0.0.1:${pps[0]},m2=https://127.0.0.1:${pps[1]},m3=https://127.0.0.1:${pps[2]}"
for i in 0 1 2; do
  n=m$((i + 1))
  target/release/oxcd --name "$n" --data-dir "$data/$n.etcd" \
    --listen-client-urls "https://127.0.0.1:${cps[$i]}" --advertise-client-urls "https://127.0.0.1:${cps[$i]}" \
    --listen-peer-urls "https://127.0.0.1:${pps[$i]}" --initial-advertise-peer-urls "https://127.0.0.1:${pps[$i]}" \
    --initial-cluster "$cluster" --initial-cluster-token demo-cluster --initial-cluster-state new \
    --cert-file "$ssl/$n.pem" --key-file "$ssl/$n-key.pem" --trusted-ca-file "$ssl/ca.pem" --client-cert-auth \
    --peer-cert-file "$ssl/$n.pem" --peer-key-file "$ssl/$n-key.pem" --peer-trusted-ca-file "$ssl/ca.pem" \
    --peer-client-cert-auth >"$data/$n.log" 2>&1 &
  pids+=("$!")
done
endpoints="https://127.0.0.1:${cps[0]},https://127.0.0.1:${cps[1]},https://127.0.0.1:${cps[2]}"
# the seed's alias: alias etcdctl='etcdctl --cacert=… --cert=… --key=…'
alias_flags=(--cacert="$ssl/ca.pem" --cert="$ssl/operator.pem" --key="$ssl/operator-key.pem")
ox() { printf '$ oxctl'; printf ' %q' "$@"; echo; target/release/oxctl "${alias_flags[@]}" --endpoints="$endpoints" "$@"; }
for _ in $(seq 100); do target/release/oxctl "${alias_flags[@]}" --endpoints="$endpoints" --dial-timeout=200ms put ready 1 >/dev/null 2>&1 && break; sleep 0.1; done
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
one() { printf '$ oxctl --endpoints=https://127.0.0.1:%s' "${cps[0]}"; printf ' %q' "$@"; echo; target/release/oxctl "${alias_flags[@]}" --endpoints="https://127.0.0.1:${cps[0]}" "$@"; }
one snapshot save "$data/backup.db"
ox snapshot status "$data/backup.db" -w table

echo "# auth: root, a reader of web/, auth on"
ox user add root:rootpw
ox user add reader:readerpw
ox role add web-reader
ox role grant-permission web-reader read web/ --prefix
ox user grant-role reader web-reader
ox auth enable
ox --user root:rootpw put web/3 c
ox --user reader:readerpw get web/ --prefix
ox --user reader:readerpw put web/4 d || true
ox --user root:rootpw role get web-reader
ox --user root:rootpw auth status
