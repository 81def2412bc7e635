#!/usr/bin/env bash
# Static (musl) release builds of oxcd and oxctl, for copying onto machines
# without the build's libraries. Needs the musl target and musl-gcc (ring
# builds C): installs them when missing (rustup, Debian's musl-tools).
# Then checks the binaries need nothing: each runs `--version` / `version`
# in an empty root (chroot, when run as root).
# Usage: bash scripts/build-static.sh   → target/x86_64-unknown-linux-musl/release/{oxcd,oxctl}
set -euo pipefail
cd "$(dirname "$0")/.."
TARGET=x86_64-unknown-linux-musl
rustup target list --installed | grep -qx "$TARGET" || rustup target add "$TARGET"
command -v musl-gcc >/dev/null || { apt-get update -qq && apt-get install -y -qq musl-tools >/dev/null; }
CC_x86_64_unknown_linux_musl=musl-gcc cargo build --release --target "$TARGET" -p oxcd -p oxctl --bins
out=target/$TARGET/release
file "$out/oxcd" "$out/oxctl"
if [ "$(id -u)" = 0 ]; then
  root=$(mktemp -d)
  trap 'rm -rf "$root"' EXIT
  cp "$out/oxcd" "$out/oxctl" "$root/"
  chroot "$root" /oxcd --version
  chroot "$root" /oxctl version
  echo "both run in an empty root"
fi
