#!/usr/bin/env bash
# Builds and runs bench/micro.cpp: what a snapshot build, a refresh that changes nothing and one
# query cost in process, without a device or a network. Figures only, on whatever else the
# machine is doing: run it on a quiet machine and compare medians, not single runs.
#   bash bench/micro.sh [build|refresh|query|acl|tsig|pool|memory]...   (build, refresh and query when none is named)
set -euo pipefail
cd "$(dirname "$0")/.."
cmake -S . -B build -DCMAKE_BUILD_TYPE=RelWithDebInfo >/dev/null
cmake --build build --target wgsd-micro -j"$(nproc)" >/dev/null
build/wgsd-micro "$@"
