#!/usr/bin/env bash
# Builds the libFuzzer targets (clang, ASan+UBSan) and runs each for SECONDS (default 60), one
# after another, starting from the seed corpora in fuzz/corpus. Any finding fails the run and is
# written to build-fuzz/findings/. Longer runs on demand: bash scripts/fuzz.sh 600
set -euo pipefail
cd "$(dirname "$0")/.."
seconds=${1:-60}
targets=(respond tsig client_reply corefile uapi netlink http)
CC=clang CXX=clang++ cmake -S . -B build-fuzz -DWGSD_FUZZ=ON -DCMAKE_BUILD_TYPE=RelWithDebInfo >/dev/null
cmake --build build-fuzz -j"$(nproc)" >/dev/null
mkdir -p build-fuzz/findings build-fuzz/work
failed=0
for t in "${targets[@]}"; do
  # A scratch copy of the corpus: new inputs stay out of the repository.
  rm -rf "build-fuzz/work/$t" && cp -r "fuzz/corpus/$t" "build-fuzz/work/$t"
  if build-fuzz/fuzz/fuzz_"$t" -max_total_time="$seconds" -timeout=10 -rss_limit_mb=2048 -print_final_stats=1 \
      -artifact_prefix="build-fuzz/findings/$t-" "build-fuzz/work/$t" >"build-fuzz/$t.log" 2>&1; then
    runs=$(grep -o 'stat::number_of_executed_units: [0-9]*' "build-fuzz/$t.log" | awk '{print $2}')
    echo "fuzz_$t: ${seconds}s, ${runs} executions, no findings"
  else
    echo "fuzz_$t: FINDING (see build-fuzz/$t.log and build-fuzz/findings/)"
    grep -A8 -E 'ERROR: |runtime error' "build-fuzz/$t.log" | head -20
    failed=1
  fi
done
exit "$failed"
