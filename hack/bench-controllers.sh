#!/usr/bin/env bash
# The controllers benchmark: Deployments created and rolled out by a separate controller
# manager against a fresh etcd and apiserver. Prints a markdown table for docs/benchmarks.md.
# BENCH_DEPLOYMENTS and BENCH_REPLICAS change the sizes (default 1000 x 10).
set -euo pipefail
cd "$(dirname "$0")/.."
./hack/install-deps.sh
export PROTOC="${PROTOC:-$(command -v protoc)}"
cargo build --release -p ferrokube
FERROKUBE_BIN="$PWD/target/release/ferrokube" cargo bench -p controllers --bench deployments
