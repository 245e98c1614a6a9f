#!/usr/bin/env bash
# The demo: sets up a fresh Debian 12 machine (packages only when missing), builds wgsd, and runs
# the NAT lab with narration: two peers behind two NATs find each other through a wgsd registry
# and ping over a direct tunnel. Needs root (network namespaces); cleans up everything it starts.
set -euo pipefail
cd "$(dirname "$0")/.."
if [[ $(id -u) -ne 0 ]]; then
  echo "demo: needs root for network namespaces; run it as root (sudo bash scripts/demo.sh)" >&2
  exit 1
fi
bash scripts/setup.sh
cmake -S . -B build -DCMAKE_BUILD_TYPE=RelWithDebInfo >/dev/null
cmake --build build -j"$(nproc)" --target wgsd-server wgsd-client
bash scripts/nat-lab.sh --demo --build-dir build
