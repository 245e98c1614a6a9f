#!/usr/bin/env bash
# Sets up a fresh Debian 12 machine (packages only when missing) and runs everything that checks
# wgsd, stopping at the first failure:
#   1. the whole suite built with AddressSanitizer + UndefinedBehaviorSanitizer (build-asan/)
#   2. the server and client tests built with ThreadSanitizer (build-tsan/): every thread the
#      listeners, the refresher, the reload and the client start, over loopback and namespaces
#   3. each libFuzzer target for WGSD_FUZZ_SECONDS (default 30) from the seed corpora (build-fuzz/)
#   4. the whole suite in the normal build with warnings as errors (build/), last, so its ctest
#      summary closes the output
# Tests that need root, network namespaces or wireguard-go run when this runs as root; in CI
# (CI=true) they must run, and fail rather than skip.
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/setup.sh
jobs=$(nproc)

echo "== sanitizers: ASan + UBSan build and the whole suite"
cmake -S . -B build-asan -DCMAKE_BUILD_TYPE=Debug -DWGSD_SANITIZE=ON -DWGSD_WERROR=ON >/dev/null
cmake --build build-asan -j"$jobs" >/dev/null
(cd build-asan && ASAN_OPTIONS=detect_leaks=1 UBSAN_OPTIONS=print_stacktrace=1 ctest --output-on-failure --timeout 300 -j1)

echo "== ThreadSanitizer: the server and client tests"
cmake -S . -B build-tsan -DCMAKE_BUILD_TYPE=RelWithDebInfo -DWGSD_TSAN=ON -DWGSD_WERROR=ON >/dev/null
cmake --build build-tsan -j"$jobs" >/dev/null
# halt_on_error: the first race fails its test (exit 66), in the test binary and in the
# wgsd-server and wgsd-client it starts.
(cd build-tsan && TSAN_OPTIONS="halt_on_error=1 second_deadlock_stack=1" ctest --output-on-failure --timeout 300 -j1)

echo "== fuzzers: ${WGSD_FUZZ_SECONDS:-30}s each"
bash scripts/fuzz.sh "${WGSD_FUZZ_SECONDS:-30}"

echo "== the suite"
cmake -S . -B build -DCMAKE_BUILD_TYPE=RelWithDebInfo -DWGSD_WERROR=ON >/dev/null
cmake --build build -j"$jobs"
cd build
ctest --output-on-failure --timeout 300 -j1
