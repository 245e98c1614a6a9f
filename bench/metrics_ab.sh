#!/usr/bin/env bash
# What counting costs: one wgsd-server binary on the same device with `prometheus` off and on,
# alternating round by round, with the dnsperf loads of ab.sh (the mix and SRV only). While on, a
# scrape every second reads /metrics, as a Prometheus server would (more often than usual).
#
# usage: bench/metrics_ab.sh [BINARY] [--peers N] [--seconds 10] [--rounds 5]
# Needs root (network namespace). Prints per round: QPS, lost, server CPU µs per query; then the
# medians and the difference on − off.
set -euo pipefail
cd "$(dirname "$0")/.."
bin=""  # default: the Release build bench_prepare makes
if (($#)) && [[ "$1" != --* ]]; then bin=$(realpath "$1"); shift; fi
n=10000
seconds=10
rounds=5
source bench/lib.sh
bench_options metrics_ab "n=--peers seconds=--seconds rounds=--rounds" "$@"
[[ -z $bin || -x $bin ]] || { echo "metrics_ab: '$bin' is not an executable (give the wgsd-server to measure)" >&2; exit 2; }
bench_prepare metrics dnsperf python3 curl
bin=${bin:-$PWD/build-bench/wgsd-server}
bench_namespace metrics
data="$work/$n"
python3 bench/gen.py "$n" "$data"
start_device "$n" "$data/wg.conf"
for side in off on; do
  extra=""
  [[ $side == on ]] && extra="    prometheus 127.0.0.1:9153"
  printf '.:5300 {\n    bind 127.0.0.1\n    wgsd example.com. %s {\n        ns ns1.example.com. 127.0.0.1\n    }\n%s\n}\n' "$dev" "$extra" >"$work/Corefile.$side"
done

declare -A figures
for round in $(seq 1 "$rounds"); do
  for side in off on; do
    start_wgsd "$work/Corefile.$side" 5300 "$work/$side.log" "$bin"
    spid=$wgsd_pid
    scraper=""
    if [[ $side == on ]]; then
      (while sleep 1; do in_ns curl -s -o /dev/null http://127.0.0.1:9153/metrics || true; done) &
      scraper=$!; pids+=("$scraper")
    fi
    line="round $round prometheus $side:"
    for load in mix srv; do
      c0=$(cpu_ticks "$spid")
      read -r q _ l c _ < <(run_dnsperf 5300 "$data/$load.txt" udp)
      c1=$(cpu_ticks "$spid")
      u=$(us_per_query $((c1 - c0)) "$c")
      figures[$side.$load.qps]+=" $q"; figures[$side.$load.lost]+=" $l"; figures[$side.$load.cpu]+=" $u"
      line+=" $load $q q/s, lost $l, $u µs/q;"
    done
    [[ -n "$scraper" ]] && { kill "$scraper"; wait "$scraper" 2>/dev/null || true; }
    echo "$line"
    kill "$spid"; wait "$spid" 2>/dev/null || true
  done
done
echo "binary = $bin, $n peers, $rounds rounds of ${seconds}s per load"
for side in off on; do
  echo "median prometheus $side: mix $(echo "${figures[$side.mix.qps]}" | median) q/s $(echo "${figures[$side.mix.cpu]}" | median) µs/q;" \
       "srv $(echo "${figures[$side.srv.qps]}" | median) q/s $(echo "${figures[$side.srv.cpu]}" | median) µs/q"
done
for load in mix srv; do
  awk -v a="$(echo "${figures[off.$load.qps]}" | median)" -v b="$(echo "${figures[on.$load.qps]}" | median)" \
      -v ca="$(echo "${figures[off.$load.cpu]}" | median)" -v cb="$(echo "${figures[on.$load.cpu]}" | median)" -v l="$load" \
      'BEGIN {printf "%s: QPS on/off %+.1f%%, CPU per query on/off %+.1f%%\n", l, (b / a - 1) * 100, (cb / ca - 1) * 100}'
done
