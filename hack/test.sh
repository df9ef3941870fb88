#!/usr/bin/env bash
# Runs every test: formatting and lints, unit tests, integration tests against a real etcd,
# and end-to-end tests that drive `ferrokube up` with the real kubectl binaries.
set -euo pipefail
cd "$(dirname "$0")/.."
./hack/install-deps.sh
export PROTOC="${PROTOC:-$(command -v protoc)}"

echo "--- cargo fmt --check"
cargo fmt --all -- --check
echo "--- cargo clippy"
cargo clippy --workspace --all-targets -- -D warnings
echo "--- cargo test"
cargo build -p ferrokube
cargo test --workspace
