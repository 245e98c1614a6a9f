#!/usr/bin/env bash
# Signed answers: wgsd-server and Knot DNS with the same hmac-sha256 key, both answering a signed
# query mix (dnsperf -y) at N peers, in one run, on 127.0.0.1 inside one network namespace,
# servers alternating within each round. wgsd reads a live wireguard-go device; Knot serves the
# same records as a static zone.
#
# Only a verified comparison is printed: both servers must load the zone; before each round they
# must give the same answers to a sample of each query file, every answer signed and verifying with
# the key (bench/verify.py --tsig); after each round their rcode shares must agree within one
# percentage point. Then per load: server CPU µs per query of each, the ratio wgsd/Knot, QPS, lost.
#
# usage: bench/tsig.sh [--peers 10000] [--seconds 10] [--rounds 3] [--sample 300]
# Needs root (network namespace). Installs knot, dnsperf and python3-dnspython when missing.
set -euo pipefail
cd "$(dirname "$0")/.."
command_line="bash bench/tsig.sh $*"
n=10000
seconds=10
rounds=3
sample=300
source bench/lib.sh
bench_options tsig "n=--peers seconds=--seconds rounds=--rounds sample=--sample" "$@"
source bench/servers.sh
bench_prepare tsig knot dnsperf python3 python3-dnspython
bench_namespace tsig
fail() { echo "tsig: $*; nothing is printed for this comparison" >&2; exit 1; }
key_name="bench-key.example."
key_secret=$(head -c 32 /dev/urandom | base64)
key="hmac-sha256:$key_name:$key_secret"

data="$work/$n"
python3 bench/gen.py "$n" "$data"
start_device "$n" "$data/wg.conf"
printf '.:5300 {\n    bind 127.0.0.1\n    wgsd example.com. %s {\n        ns ns1.example.com. 127.0.0.1\n    }\n    tsig {\n        secret %s %s\n    }\n}\n' \
  "$dev" "$key_name" "$key_secret" >"$work/Corefile"
: >"$work/wgsd.log"
ip netns exec "$ns" build-bench/wgsd-server --conf "$work/Corefile" >"$work/wgsd.log" 2>&1 &
pids+=($!); wgsd_pid=$!
start_knot "$data/example.com.zone" 5301 "$key_name" "$key_secret"
wait_loaded wgsd 5300 "$work/wgsd.log" || fail "wgsd did not load the zone"
wait_loaded knot 5301 "$work/knot.log" || fail "Knot did not load the zone"
grep -q '\[example.com.\] loaded' "$work/knot.log" || fail "Knot's log does not say the zone loaded"
grep -q "$key_secret" "$work/wgsd.log" && fail "wgsd's log shows the secret"

echo "# signed answers $(date -u +%Y-%m-%dT%H:%M:%SZ): $command_line"
echo "# machine: $(nproc) cores, load average $(cut -d' ' -f1-3 /proc/loadavg) at the start"
echo "# wgsd $(git describe --always --dirty 2>/dev/null || echo '?'), knot $(knotd -V | awk '{print $NF}'), dnsperf -y $key_name (hmac-sha256), ${seconds}s per run, ${rounds} rounds"
port_of() { case $1 in wgsd) echo 5300 ;; knot) echo 5301 ;; esac; }
declare -A qps lost cpu rcodes
for round in $(seq 1 "$rounds"); do
  for load in mix srv; do
    in_ns /usr/bin/python3 bench/verify.py "$data/$load.txt" --sample "$sample" --seed "$round" --tsig "$key" \
      --server wgsd=5300 --server knot=5301 || fail "round $round: the servers answer differently"
  done
  order=(wgsd knot); ((round % 2)) || order=(knot wgsd)
  for server in "${order[@]}"; do
    pid_var="${server}_pid"
    for load in mix srv; do
      c0=$(cpu_ticks "${!pid_var}")
      read -r q _ l c r _ < <(in_ns dnsperf -y "$key" -s 127.0.0.1 -p "$(port_of "$server")" -d "$data/$load.txt" -m udp \
        -l "$seconds" -c 8 -T 1 -q 200 -t 2 2>&1 | awk '/Queries completed:/ {c=$3} /Queries lost:/ {l=$3} /Queries per second:/ {q=$4}
          /Response codes:/ {sub(/.*Response codes: */, ""); n = split($0, f, /, /); r = "";
                             for (i = 1; i <= n; i++) {split(f[i], w, " "); gsub(/[(%)]/, "", w[3]); r = r (i > 1 ? "," : "") w[1] ":" w[3]}}
          END {printf "%.0f 0 %d %d %s 0\n", q, l, c, r == "" ? "none" : r}')
      c1=$(cpu_ticks "${!pid_var}")
      ((c > 0)) || fail "round $round: $server answered no signed $load query"
      k="$server.$load"
      qps[$k]+=" $q"; lost[$k]+=" $l"; cpu[$k]+=" $(us_per_query $((c1 - c0)) "$c")"; rcodes[$k.$round]=$r
      echo "round $round $server $load: $q q/s, lost $l, $(us_per_query $((c1 - c0)) "$c") µs/q, rcodes $r"
    done
  done
  for load in mix srv; do
    s=$(rcode_spread "${rcodes[wgsd.$load.$round]}" "${rcodes[knot.$load.$round]}")
    awk -v s="$s" 'BEGIN {exit !(s > 1.0)}' &&
      fail "round $round, $load: rcode shares differ by $s percentage points (wgsd ${rcodes[wgsd.$load.$round]}, knot ${rcodes[knot.$load.$round]})"
  done
done
grep -q "$key_secret" "$work/wgsd.log" && fail "wgsd's log shows the secret"
echo "# medians of $rounds rounds, $n peers, signed queries:"
printf '%-5s %-5s %10s %8s %12s\n' load server "q/s" lost "CPU µs/q"
for load in mix srv; do
  for server in wgsd knot; do
    k="$server.$load"
    printf '%-5s %-5s %10s %8s %12s\n' "$load" "$server" "$(echo "${qps[$k]}" | median)" "$(echo "${lost[$k]}" | median)" "$(echo "${cpu[$k]}" | median)"
  done
  echo "$load: wgsd/Knot CPU per query $(awk -v a="$(echo "${cpu[wgsd.$load]}" | median)" -v b="$(echo "${cpu[knot.$load]}" | median)" 'BEGIN {printf "%.2f", a / b}')x"
done
