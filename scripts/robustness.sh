#!/usr/bin/env bash
# The long tier of the fault runs (server/tests/cluster/faults.rs): OXCD
# iterations against oxcd (default 100) and ETCD against etcd 3.5.1
# (default 20), cycling through every fault kind (kills, pauses, isolated
# leader or follower, a one-way cut, delays, a lossy network), each run
# checked for linearizability, lost writes, watch guarantees, monotonic
# revisions and convergence. Prints a table per fault kind and writes it to
# target/robustness.md; exits non-zero on any violation.
# Usage: bash scripts/robustness.sh [OXCD] [ETCD]
set -euo pipefail
cd "$(dirname "$0")/.."
OXCD=${1:-100}
ETCD=${2:-20}
[[ $OXCD =~ ^[0-9]+$ && $ETCD =~ ^[0-9]+$ ]] || { echo "usage: bash scripts/robustness.sh [OXCD] [ETCD]" >&2; exit 2; }
[ -x .ci/etcd/v3.5.1/etcd ] || bash .ci/install-etcd.sh
cargo build --workspace --bins
ROBUSTNESS_OXCD=$OXCD ROBUSTNESS_ETCD=$ETCD ROBUSTNESS_OUT="$PWD/target/robustness.md" \
  cargo test -p oxcd --test cluster robustness_long -- --ignored --nocapture
