#!/usr/bin/env bash
# The scheduler benchmark, after upstream's scheduler_perf: a separate `ferrokube scheduler`
# against a fresh etcd and apiserver with simulated nodes (Node objects without kubelets), timed
# until every pod is bound, beside the floor (pods bound through `pods/binding` as fast as the
# apiserver allows) measured in the same run. Prints a markdown table for docs/benchmarks.md.
#
# Sizes and selections (environment):
#   BENCH_NODES              nodes (default 5000)
#   BENCH_ZONES              zones the nodes are spread over (default 10)
#   BENCH_PODS               pods of the floor, basic and node-affinity shapes (default 10000)
#   BENCH_ANTI_PODS          pods of the pod-anti-affinity shape (default 1000)
#   BENCH_ANTI_GROUP         pods per anti-affinity group (default min(BENCH_ANTI_PODS, BENCH_NODES))
#   BENCH_SPREAD_PODS        pods of the topology-spread shape (default BENCH_PODS)
#   BENCH_FLOOR_CONCURRENCY  concurrencies of the floor's binder (default 16,64,256)
#   BENCH_SHAPES             shapes to run (default basic,node-affinity,pod-anti-affinity,topology-spread)
#   BENCH_TIMEOUT            seconds each shape may take (default 900)
#   BENCH_PERF_DIR           record each shape's scheduler with `perf record` (DWARF) there
#   BENCH_PERF_FREQ          samples per second of those recordings (default 99)
#   BENCH_PERF_APISERVER     with BENCH_PERF_DIR, also record the apiserver (floor rounds and shapes)
#   BENCH_KEEP_DIR           keep the temporary directory (the schedulers' logs)
set -euo pipefail
cd "$(dirname "$0")/.."
./hack/install-deps.sh
export PROTOC="${PROTOC:-$(command -v protoc)}"
cargo build --release -p ferrokube
FERROKUBE_BIN="$PWD/target/release/ferrokube" cargo bench -p scheduler --bench scheduling
