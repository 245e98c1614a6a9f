#!/usr/bin/env bash
# Memory soak: wgsd-server on a wireguard-go device with N peers (default 10,000), refreshing every
# 200 ms while endpoints keep changing (so snapshots are rebuilt and swapped), under a steady query
# load, for MINUTES (default 10). Prints the server's RSS every 30 s.
#
# usage: bench/soak.sh [--peers N] [--minutes M]
set -euo pipefail
cd "$(dirname "$0")/.."
peers=10000
minutes=10
source bench/lib.sh
bench_options soak "peers=--peers minutes=--minutes" "$@"
bench_prepare soak dnsperf
bench_namespace soak
python3 bench/gen.py "$peers" "$work"
start_wireguard_go "$work/wg.conf"
printf '.:5300 {\n    bind 127.0.0.1\n    wgsd example.com. %s {\n        refresh 200ms\n        ns ns1.example.com. 127.0.0.1\n    }\n}\n' "$dev" >"$work/Corefile"
ip netns exec "$ns" build-bench/wgsd-server --conf "$work/Corefile" >"$work/wgsd.log" 2>&1 &
pids+=($!); server=$!
sleep 2
keys=($(awk '/PublicKey/ && n++ < 200 {print $3}' "$work/wg.conf"))
# Endpoints keep changing: every snapshot differs from the last.
(
  i=0
  while :; do
    k=${keys[$((i % ${#keys[@]}))]}
    ip netns exec "$ns" wg set "$dev" peer "$k" endpoint "192.0.2.$((i % 250 + 1)):$((i % 60000 + 1024))"
    i=$((i + 1)); sleep 0.1
  done
) &
pids+=($!)
ip netns exec "$ns" dnsperf -s 127.0.0.1 -p 5300 -d "$work/mix.txt" -l $((minutes * 60)) -Q 5000 -c 4 >"$work/dnsperf.log" 2>&1 &
pids+=($!); load=$!
echo "# soak: $peers peers, refresh 200ms, 10 endpoint changes/s, 5000 queries/s, $minutes min"
echo "# minute rss_kb"
for t in $(seq 0 30 $((minutes * 60))); do
  printf '%5.1f %s\n' "$(awk -v t="$t" 'BEGIN {print t / 60}')" "$(awk '/VmRSS/ {print $2}' "/proc/$server/status")"
  [[ $t -lt $((minutes * 60)) ]] && sleep 30
done
wait "$load" || true
grep -E 'Queries (sent|completed|lost)' "$work/dnsperf.log"
