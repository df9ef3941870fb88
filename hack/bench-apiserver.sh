#!/usr/bin/env bash
# The apiserver benchmark: raw etcd versus the API on a fresh etcd, list and watch latencies,
# RSS and readiness time. Prints a markdown table for docs/benchmarks.md.
set -euo pipefail
cd "$(dirname "$0")/.."
./hack/install-deps.sh
export PROTOC="${PROTOC:-$(command -v protoc)}"
cargo build --release -p ferrokube
FERROKUBE_BIN="$PWD/target/release/ferrokube" cargo bench -p apiserver --bench apiserver
