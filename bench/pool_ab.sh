#!/usr/bin/env bash
# What a pool answer costs end to end: one wgsd-server, queried by dnsperf over UDP with EDNS, with
# three loads alternating round by round: SRV of random instances (the reference), the SRV of a
# pool of 8 members of equal weights, and of a pool of 8 members of weights 1 to 8. A pool's order
# is drawn for each query, and its answer holds 8 SRV records and 8 addresses.
#
# usage: bench/pool_ab.sh [BINARY] [--peers N] [--seconds 10] [--rounds 3]
# Needs root (network namespace). Prints per round: QPS, lost, server CPU µs per query; then the
# medians and each pool's CPU per query against the instance SRV's.
#
# The benchmark device receives nothing from its peers, so no member is healthy and both pools
# fail open: they answer every member, drawn and built exactly as a pool of healthy members is.
set -euo pipefail
cd "$(dirname "$0")/.."
bin=""  # default: the Release build bench_prepare makes
if (($#)) && [[ "$1" != --* ]]; then bin=$(realpath "$1"); shift; fi
n=1000
seconds=10
rounds=3
source bench/lib.sh
bench_options pool_ab "n=--peers seconds=--seconds rounds=--rounds" "$@"
((n >= 8)) || { echo "pool_ab: --peers must be at least 8 (the pools' members)" >&2; exit 2; }
[[ -z $bin || -x $bin ]] || { echo "pool_ab: '$bin' is not an executable (give the wgsd-server to measure)" >&2; exit 2; }
bench_prepare pool dnsperf python3
bin=${bin:-$PWD/build-bench/wgsd-server}
bench_namespace pool
data="$work/$n"
python3 bench/gen.py "$n" "$data"
start_device "$n" "$data/wg.conf"

# The first 8 peers of the device are the members of both pools.
mapfile -t members < <(awk '/^PublicKey = / {print $3}' "$data/wg.conf" | head -n 8)
{
  printf '.:5300 {\n    bind 127.0.0.1\n    wgsd example.com. %s {\n        ns ns1.example.com. 127.0.0.1\n' "$dev"
  printf '        pool vpn {\n'
  for k in "${members[@]}"; do printf '            member %s\n' "$k"; done
  printf '        }\n        pool vpnw {\n'
  for i in "${!members[@]}"; do printf '            member %s weight %d\n' "${members[$i]}" $((i + 1)); done
  printf '        }\n    }\n}\n'
} >"$work/Corefile"
# The pools' names with random 0x20 case, as gen.py writes the instances'.
for pool in vpn vpnw; do
  python3 -c 'import random, sys
rng = random.Random(1)
name = "_wireguard._udp." + sys.argv[1] + ".example.com."
for _ in range(1000):
    print("".join(c.upper() if c.isalpha() and rng.random() < 0.5 else c for c in name), "SRV")' "$pool" >"$work/$pool.txt"
done

start_wgsd "$work/Corefile" 5300 "$work/wgsd.log" "$bin"
# Every answer of each load must be NOERROR with records (not TC): a pool answer too big for the
# EDNS size would be cheap and wrong.
for pool in vpn vpnw; do
  count=$(in_ns dig +norec +bufsize=1232 -p 5300 @127.0.0.1 "_wireguard._udp.$pool.example.com." SRV | awk '$4 == "SRV"' | wc -l)
  ((count == 8)) || { echo "pool_ab: _wireguard._udp.$pool.example.com. SRV answers $count records, not 8; $work/wgsd.log:" >&2; tail -n 5 "$work/wgsd.log" >&2; exit 1; }
done

loads=(srv vpn vpnw)
declare -A file=([srv]="$data/srv.txt" [vpn]="$work/vpn.txt" [vpnw]="$work/vpnw.txt")
declare -A figures
for round in $(seq 1 "$rounds"); do
  line="round $round:"
  for load in "${loads[@]}"; do
    c0=$(cpu_ticks "$wgsd_pid")
    read -r q _ l c r b < <(run_dnsperf 5300 "${file[$load]}" udp -e)
    c1=$(cpu_ticks "$wgsd_pid")
    u=$(us_per_query $((c1 - c0)) "$c")
    figures[$load.qps]+=" $q"; figures[$load.cpu]+=" $u"
    line+=" $load $q q/s, lost $l, $u µs/q, $b bytes, $r;"
  done
  echo "$line"
done
echo "binary = $bin, $n peers, $rounds rounds of ${seconds}s per load, UDP with EDNS"
base=$(echo "${figures[srv.cpu]}" | median)
for load in "${loads[@]}"; do
  cpu=$(echo "${figures[$load.cpu]}" | median)
  awk -v l="$load" -v q="$(echo "${figures[$load.qps]}" | median)" -v c="$cpu" -v b="$base" \
      'BEGIN {printf "median %s: %s q/s, %s µs/q (%.2fx the instance SRV)\n", l, q, c, c / b}'
done
