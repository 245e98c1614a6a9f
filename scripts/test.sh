#!/usr/bin/env bash
# Sets up a fresh Debian 12 machine (packages only when missing), builds wgsd with warnings as
# errors, and runs the whole test suite with ctest. Tests that need root, network namespaces or
# wireguard-go run when this is run as root; in CI (CI=true) they must run and fail otherwise.
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/setup.sh
build=${WGSD_BUILD_DIR:-build}
cmake -S . -B "$build" -DCMAKE_BUILD_TYPE=RelWithDebInfo -DWGSD_WERROR=ON >/dev/null
cmake --build "$build" -j"$(nproc)"
cd "$build"
ctest --output-on-failure --timeout 300 -j1
