#!/usr/bin/env bash
# Starts a complete local cluster in the foreground and prints how to use it.
#   ./hack/up.sh [ferrokube up flags, e.g. --state-dir DIR --port 6443]
set -euo pipefail
cd "$(dirname "$0")/.."
./hack/install-deps.sh
export PROTOC="${PROTOC:-$(command -v protoc)}"
cargo build --release -p ferrokube
exec ./target/release/ferrokube up "$@"
