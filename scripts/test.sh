#!/usr/bin/env bash
# Runs every check and test: formatting, lints, the unit and integration
# tests, and the compatibility suite against real etcd 3.5.1.
# Needs real etcd installed first (.ci/install-etcd.sh; `bash .ci/run` does both).
set -euo pipefail
cd "$(dirname "$0")/.."
cargo fmt --all -- --check
cargo clippy --workspace --all-targets -q -- -D warnings
# the integration tests start the built binaries
cargo build --workspace --bins -q
log=$(mktemp)
trap 'rm -f "$log"' EXIT
status=0
CI=${CI:-} cargo test --workspace --all-targets --no-fail-fast 2>&1 | tee "$log" || status=$?
# one closing line over every test binary
awk '/^test result:/ { p += $4; f += $6; s += $8 } END { printf "\n%d passed, %d failed, %d skipped\n", p, f, s }' "$log"
exit "$status"
