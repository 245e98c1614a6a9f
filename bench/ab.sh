#!/usr/bin/env bash
# A/B: two wgsd-server binaries on the same device, one at a time, alternating round by round, with
# the same dnsperf loads as run.sh. For a change whose effect is smaller than the noise between two
# runs of run.sh: both sides see the same machine minutes apart, several times.
#
# usage: bench/ab.sh BINARY_A BINARY_B [--peers N] [--seconds 10] [--rounds 3]
# Needs root (network namespace). Prints per round: QPS, lost, server CPU µs per query, p50/p99 at
# a paced 20,000 q/s with the default 1 s refresh, RSS; then the medians.
set -euo pipefail
(($# >= 2)) || { echo "usage: bench/ab.sh BINARY_A BINARY_B [--peers N] [--seconds S] [--rounds R]" >&2; exit 2; }
a_bin=$(realpath "$1"); b_bin=$(realpath "$2"); shift 2
cd "$(dirname "$0")/.."
n=100000
seconds=10
rounds=3
source bench/lib.sh
bench_options ab "n=--peers seconds=--seconds rounds=--rounds" "$@"
for bin in "$a_bin" "$b_bin"; do [[ -x "$bin" ]] || { echo "ab: '$bin' is not an executable" >&2; exit 2; }; done
bench_prepare ab dnsperf python3
bench_namespace ab
data="$work/$n"
python3 bench/gen.py "$n" "$data"
start_device "$n" "$data/wg.conf"
printf '.:5300 {\n    bind 127.0.0.1\n    wgsd example.com. %s {\n        ns ns1.example.com. 127.0.0.1\n    }\n}\n' "$dev" >"$work/Corefile"

declare -A figures
for round in $(seq 1 "$rounds"); do
  for side in A B; do
    bin=$([[ $side == A ]] && echo "$a_bin" || echo "$b_bin")
    start_wgsd "$work/Corefile" 5300 "$work/$side.log" "$bin"
    spid=$wgsd_pid
    line="round $round $side:"
    for load in mix srv; do
      c0=$(cpu_ticks "$spid")
      read -r q _ l c _ < <(run_dnsperf 5300 "$data/$load.txt" udp)
      c1=$(cpu_ticks "$spid")
      u=$(us_per_query $((c1 - c0)) "$c")
      figures[$side.$load.qps]+=" $q"; figures[$side.$load.lost]+=" $l"; figures[$side.$load.cpu]+=" $u"
      line+=" $load $q q/s, lost $l, $u µs/q;"
    done
    read -r p50 p99 < <(latency 5300 "$data/srv.txt" 20000)
    rss=$(rss_kb "$spid")
    figures[$side.p99]+=" $p99"; figures[$side.rss]+=" $rss"
    echo "$line p50/p99 $p50/$p99 ms, RSS $rss kB"
    kill "$spid"; wait "$spid" 2>/dev/null || true
  done
done
echo "A = $a_bin"
echo "B = $b_bin"
for side in A B; do
  echo "median $side: mix $(echo "${figures[$side.mix.qps]}" | median) q/s $(echo "${figures[$side.mix.cpu]}" | median) µs/q lost $(echo "${figures[$side.mix.lost]}" | median);" \
       "srv $(echo "${figures[$side.srv.qps]}" | median) q/s $(echo "${figures[$side.srv.cpu]}" | median) µs/q lost $(echo "${figures[$side.srv.lost]}" | median);" \
       "p99 $(echo "${figures[$side.p99]}" | median) ms; RSS $(echo "${figures[$side.rss]}" | median) kB"
done
