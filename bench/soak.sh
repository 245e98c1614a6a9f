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
while (($#)); do
  case "$1" in
    --peers) peers="$2"; shift ;;
    --minutes) minutes="$2"; shift ;;
    *) echo "soak: unknown argument '$1'" >&2; exit 2 ;;
  esac
  shift
done
[[ $(id -u) -eq 0 ]] || { echo "soak: needs root (network namespaces)" >&2; exit 1; }
bash scripts/setup.sh >/dev/null
dpkg-query -W -f='${Status}' dnsperf 2>/dev/null | grep -q 'install ok installed' || \
  DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends dnsperf >/dev/null
cmake -S . -B build-bench -DCMAKE_BUILD_TYPE=Release >/dev/null
cmake --build build-bench -j"$(nproc)" --target wgsd-server >/dev/null

ns="wgsdsoak$$"; dev="wgsoak$$"; dev=${dev:0:15}
work=$(mktemp -d /tmp/wgsd-soak.XXXXXX)
pids=()
cleanup() {
  for pid in "${pids[@]}"; do kill "$pid" 2>/dev/null || true; done
  # Anything else still running in the namespace (daemons' own children) goes too.
  ip netns pids "$ns" 2>/dev/null | xargs -r kill 2>/dev/null || true
  sleep 0.5
  ip netns del "$ns" 2>/dev/null || true
  rm -f "/var/run/wireguard/$dev.sock"
  rm -rf "$work"
}
trap cleanup EXIT
ip netns add "$ns"
ip netns exec "$ns" ip link set lo up
python3 bench/gen.py "$peers" "$work"
ip netns exec "$ns" wireguard-go -f "$dev" >/dev/null 2>&1 &
pids+=($!)
for _ in $(seq 1 100); do [[ -S "/var/run/wireguard/$dev.sock" ]] && break; sleep 0.1; done
ip netns exec "$ns" wg setconf "$dev" "$work/wg.conf"
printf '.:5300 {\n    bind 127.0.0.1\n    wgsd example.com. %s {\n        refresh 200ms\n    }\n}\n' "$dev" >"$work/Corefile"
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
