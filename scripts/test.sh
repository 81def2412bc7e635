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
CI=${CI:-} cargo test --workspace --no-fail-fast
