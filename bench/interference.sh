#!/usr/bin/env bash
# What each part of a refresh does to query latency. Each part is done once a second by a separate
# process (bench/interference.cpp; ACTION,once: a new process each time, as wg(8) is;
# ACTION,thread: a new thread each time) while a wgsd-server that does not refresh (`refresh 1h`)
# answers SRV queries at a paced 20,000 a second; for comparison: nothing, wg(8) reading the
# device, and a wgsd-server that refreshes itself. Prints p99 per action and round, and medians.
#
# usage: bench/interference.sh [--peers 100000] [--rounds 3] [--seconds 10] [--actions "..."]
# Needs root (network namespace). Above 65,536 peers the device is bench/uapi_standin.py.
set -euo pipefail
cd "$(dirname "$0")/.."
peers=100000
rounds=3
seconds=10
actions="idle wg drain read parse burn read+burn read+parse read+parse,once refresh"
source bench/lib.sh
bench_options interference "peers=--peers rounds=--rounds seconds=--seconds actions=--actions" "$@"
for action in $actions; do
  [[ $action =~ ^(idle|wg|refresh|(drain|read|parse|burn|read\+burn|read\+parse)(,once|,thread)?)$ ]] ||
    { echo "interference: unknown action '$action'" >&2; exit 2; }
done
bench_prepare interference dnsperf python3
cmake --build build-bench -j"$(nproc)" --target wgsd-interference >/dev/null
bench_namespace ifr
data="$work/data"
python3 bench/gen.py "$peers" "$data"
start_device "$peers" "$data/wg.conf"
corefile() {  # PORT REFRESH
  printf '.:%s {\n    bind 127.0.0.1\n    wgsd example.com. %s {\n        refresh %s\n        ns ns1.example.com. 127.0.0.1\n    }\n}\n' "$1" "$dev" "$2"
}
corefile 5303 1h >"$work/quiet.cf"
corefile 5304 1s >"$work/refreshing.cf"
start_wgsd "$work/quiet.cf" 5303 "$work/wgsd.log"
declare -A p99
for round in $(seq 1 "$rounds"); do
  line="round $round:"
  for action in $actions; do
    helper=
    port=5303
    case $action in
      idle) ;;
      wg) ( while :; do in_ns wg show "$dev" dump >/dev/null 2>&1 || true; sleep 1; done ) & helper=$! ;;
      # Helpers are started directly (ip execs them), so that $! is the helper and `kill` stops it.
      *,thread) ip netns exec "$ns" build-bench/wgsd-interference "${action%,thread}" "$dev" thread 2>>"$work/$action.log" & helper=$! ;;
      *,once) ( while :; do in_ns build-bench/wgsd-interference "${action%,once}" "$dev" once 2>>"$work/$action.log" || true; sleep 0.9; done ) & helper=$! ;;
      refresh) kill "$wgsd_pid"; start_wgsd "$work/refreshing.cf" 5304 "$work/wgsd.log"; port=5304 ;;
      *) ip netns exec "$ns" build-bench/wgsd-interference "$action" "$dev" 2>>"$work/$action.log" & helper=$! ;;
    esac
    [[ -n $helper ]] && pids+=("$helper")
    read -r _ b < <(latency "$port" "$data/srv.txt" 20000)
    p99[$action]+=" $b"
    line+=" $action $b"
    if [[ -n $helper ]]; then kill "$helper" 2>/dev/null || true; wait "$helper" 2>/dev/null || true; fi
    if [[ $action == refresh ]]; then kill "$wgsd_pid"; start_wgsd "$work/quiet.cf" 5303 "$work/wgsd.log"; fi
    sleep 0.5
  done
  echo "$line"
done
echo "p99 ms at 20,000 q/s (SRV), median of $rounds rounds, $peers peers:"
for action in $actions; do
  took=""
  [[ -f "$work/$action.log" ]] && took=" (each action $(awk '{print $2}' "$work/$action.log" | median) ms)"
  printf '  %-11s %s%s\n' "$action" "$(echo "${p99[$action]}" | median)" "$took"
done
