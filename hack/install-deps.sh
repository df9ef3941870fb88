#!/usr/bin/env bash
# Installs the Debian packages ferrokube needs to build and test, when missing.
# Idempotent; run as root (CI) or with sudo available.
set -euo pipefail

packages=(etcd-server etcd-client protobuf-compiler)
missing=()
for p in "${packages[@]}"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
done
if [ ${#missing[@]} -gt 0 ]; then
  echo "Installing: ${missing[*]}"
  sudo=""
  [ "$(id -u)" -eq 0 ] || sudo="sudo"
  $sudo env DEBIAN_FRONTEND=noninteractive apt-get update -qq
  $sudo env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "${missing[@]}" >/dev/null
fi
# The official Python client, for the client end-to-end tests.
if ! python3 -c "import kubernetes" 2>/dev/null; then
  python3 -m pip install -q --disable-pip-version-check kubernetes
fi
# The Debian package may start a system etcd on 2379; tests start their own on free ports.
if command -v systemctl >/dev/null 2>&1 && systemctl is-active --quiet etcd 2>/dev/null; then
  systemctl stop etcd || true
fi
export PROTOC="${PROTOC:-$(command -v protoc)}"
