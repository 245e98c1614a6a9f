#!/usr/bin/env bash
# Benchmark: wgsd-server reading a live WireGuard device against Knot DNS and NSD serving the same
# records as a static zone, and against the floor (bench/floor.cpp: the same UDP I/O as wgsd-server,
# no DNS work), all on 127.0.0.1 inside one network namespace, driven by dnsperf with the same query
# files, servers alternating within each round. Prints medians, the ratios measured in this run,
# and writes a chart.
#
# Only a verified comparison is printed: each server's log must show its zone loaded with no error;
# before each server's timed runs, wgsd, Knot and NSD must give the same answers to a sample of each
# query file (bench/verify.py; the floor must answer each); after each round their rcode shares
# must agree within one percentage point. Anything else stops the run with what differed.
#
# usage: bench/run.sh [--peers "10000 50000 100000"] [--seconds 10] [--rounds 3] [--sample 300]
#                     [--also-refresh DURATION] [--break-zone knot|nsd]
# --also-refresh adds a fourth latency condition: wgsd with `refresh DURATION`.
# --break-zone gives that server a wrong zone file on purpose, to see the run refuse it.
# Needs root (network namespace). Installs knot, nsd, dnsperf, python3-dnspython (the answer check)
# and gnuplot-nox (the chart) when missing.
set -euo pipefail
cd "$(dirname "$0")/.."
command_line="bash bench/run.sh"
for arg in "$@"; do [[ $arg == *" "* ]] && command_line+=" \"$arg\"" || command_line+=" $arg"; done
peers_list="10000 50000 100000"
seconds=10
rounds=3
sample=300
break_zone=""
also_refresh=""
source bench/lib.sh
bench_options bench "peers_list=--peers seconds=--seconds rounds=--rounds sample=--sample break_zone=--break-zone also_refresh=--also-refresh" "$@"
[[ -z $break_zone || $break_zone == knot || $break_zone == nsd ]] ||
  { echo "bench: --break-zone takes knot or nsd, got '$break_zone'" >&2; exit 2; }
((sample >= 200)) || { echo "bench: --sample must be at least 200, got '$sample'" >&2; exit 2; }
source bench/servers.sh
bench_prepare bench knot nsd dnsperf python3 python3-dnspython gnuplot-nox
cmake --build build-bench -j"$(nproc)" --target wgsd-floor >/dev/null
bench_namespace bench
out="bench/out"
mkdir -p "$out"
stamp=$(date -u +%Y%m%dT%H%M%SZ)
results="$out/results-$stamp.txt"
chart_data="$out/chart-$stamp.dat"
checks_log="$out/checks-$stamp.log"
: >"$chart_data"
table="$out/table-$stamp.md"  # the same figures as Markdown tables, assembled at the end
: >"$work/t.speed"; : >"$work/t.memory"; : >"$work/t.latency"

servers="wgsd knot nsd floor"
port_of() { case $1 in wgsd) echo 5300 ;; knot) echo 5301 ;; nsd) echo 5302 ;; floor) echo 5304 ;; esac; }
fail() { echo "bench: $*; nothing is printed for this comparison" >&2; exit 1; }
# The refresh wgsd-server chooses without `refresh` (ZoneConfig::refresh_for): 1s up to 10,000
# peers, then 1s per 10,000 peers, at most 10s.
default_refresh() { awk -v n="$1" 'BEGIN {ms = int(n * 1000 / 10000); if (ms < 1000) ms = 1000; if (ms > 10000) ms = 10000; printf "%gs", ms / 1000}'; }
progress() { echo "bench: $(date -u +%H:%M:%S) $*" >&2; }
# verify FILE SEED: the same answers from wgsd, Knot and NSD, an answer from the floor.
verify() {
  in_ns /usr/bin/python3 bench/verify.py "$1" --sample "$sample" --seed "$2" \
    --server wgsd=5300 --server knot=5301 --server nsd=5302 --echo floor=5304 >>"$checks_log"
}
corefile() {  # PORT [REFRESH]
  printf '.:%s {\n    bind 127.0.0.1\n    wgsd example.com. %s {\n        ns ns1.example.com. 127.0.0.1\n' "$1" "$dev"
  if [[ -n ${2:-} ]]; then printf '        refresh %s\n' "$2"; fi
  printf '    }\n}\n'
}

{
  echo "# wgsd benchmark $(date -u +%Y-%m-%dT%H:%M:%SZ): $command_line"
  echo "# machine: $(nproc) cores, $(awk '/MemTotal/ {printf "%.0f GiB", $2/1048576}' /proc/meminfo), $(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2 | sed 's/^ //')"
  echo "# wgsd $(git describe --always --dirty 2>/dev/null || echo '?'), dnsperf $(dnsperf -h 2>&1 | awk '/Version/ {print $2}'), knot $(knotd -V | awk '{print $NF}'), nsd $(nsd -v 2>&1 | awk 'NR==1 {print $3}'), wireguard-go $(wireguard-go --version | awk 'NR==1 {print $2}')"
  echo "# ${seconds}s per dnsperf run (8 clients, 200 outstanding), ${rounds} rounds, servers alternating; medians shown"
  [[ -z $break_zone ]] || echo "# --break-zone $break_zone: $break_zone is given a wrong zone file on purpose"
} | tee "$results"

# What wgsd-server takes with a one-peer device, after answering for two seconds: subtracted from
# its RSS at N peers, the snapshot's bytes per peer.
python3 bench/gen.py 1 "$work/base"
start_device 1 "$work/base/wg.conf"
corefile 5300 >"$work/Corefile"
start_wgsd "$work/Corefile" 5300 "$work/wgsd-base.log"
seconds_timed=$seconds; seconds=2
run_dnsperf 5300 "$work/base/mix.txt" udp >/dev/null
seconds=$seconds_timed
rss_base=$(rss_kb "$wgsd_pid")
kill "$wgsd_pid" "$wgpid"; wait "$wgsd_pid" "$wgpid" 2>/dev/null || true
rm -f "/var/run/wireguard/$dev.sock"

for n in $peers_list; do
  data="$work/$n"
  progress "$n peers: generating the data"
  python3 bench/gen.py "$n" "$data"
  zone="$data/example.com.zone"
  knot_zone=$zone nsd_zone=$zone
  [[ $break_zone == knot ]] && knot_zone=$(broken_zone knot "$zone")
  [[ $break_zone == nsd ]] && nsd_zone=$(broken_zone nsd "$zone")
  # A wireguard-go device with N peers, which wgsd reads every second as configured by default.
  # wireguard-go refuses more than 65,536 peers: past that, a UAPI stand-in serves the same dump.
  progress "$n peers: starting the device and the servers"
  start_device "$n" "$data/wg.conf"
  corefile 5300 >"$work/Corefile"
  corefile 5303 1h >"$work/Corefile.norefresh"  # no refresh during a run: the latency baseline
  [[ -z $also_refresh ]] || corefile 5305 "$also_refresh" >"$work/Corefile.also"
  : >"$work/wgsd.log"
  ip netns exec "$ns" build-bench/wgsd-server --conf "$work/Corefile" >"$work/wgsd.log" 2>&1 &
  pids+=($!); wgsd_pid=$!
  start_knot "$knot_zone" 5301
  start_nsd "$nsd_zone" 5302
  start_floor 5304
  loaded=yes
  for server in wgsd knot nsd; do
    wait_loaded "$server" "$(port_of "$server")" "$work/$server.log" || loaded=no
    progress "$n peers: $server answers"
  done
  grep -q '\[example.com.\] loaded' "$work/knot.log" || { echo "bench: Knot's log does not say the zone loaded" >&2; loaded=no; }
  if [[ $loaded == no ]]; then
    verify "$data/mix.txt" 1 || true  # shows how the answers differ, when they do
    fail "$n peers: a server did not load the zone"
  fi

  # What wgsd's refresher costs by itself: wgsd's CPU over 5 s without queries. It is part of every
  # wgsd figure below (a live device is read whole every second); shown apart as well.
  c0=$(cpu_ticks "$wgsd_pid"); sleep 5; c1=$(cpu_ticks "$wgsd_pid")
  refresh_ms=$(awk -v d=$((c1 - c0)) -v hz="$hz" 'BEGIN {printf "%.1f", d / hz * 1000 / 5}')
  progress "$n peers: servers loaded; wgsd idle uses $refresh_ms ms of CPU a second; timed rounds"
  declare -A qps lat lost cpu rcodes bytes
  spread_max=(0 0)  # mix, srv: the largest rcode spread seen between wgsd, Knot and NSD
  checked=0
  for round in $(seq 1 "$rounds"); do
    # Each round starts with a different server, so that none is always first or last.
    order=($servers); shift_by=$(((round - 1) % ${#order[@]}))
    order=("${order[@]:shift_by}" "${order[@]:0:shift_by}")
    for server in "${order[@]}"; do
      port=$(port_of "$server")
      for load in mix srv; do
        verify "$data/$load.txt" $((round * 100 + checked)) ||
          fail "$n peers, round $round: the servers answer differently (above; all checks: $checks_log)"
        checked=$((checked + 1))
      done
      for load in mix srv; do
        c0=$(server_cpu "$server")
        read -r q a l c r b < <(run_dnsperf "$port" "$data/$load.txt" udp)
        c1=$(server_cpu "$server")
        k="$server.$load"
        qps[$k]+=" $q"; lat[$k]+=" $a"; lost[$k]+=" $l"; bytes[$k]=$b
        cpu[$k]+=" $(us_per_query $((c1 - c0)) "$c")"
        rcodes[$k.$round]=$r
        ((c > 0)) || fail "$n peers, round $round: $server answered no $load query"
      done
    done
    for i in 0 1; do
      load=$([[ $i == 0 ]] && echo mix || echo srv)
      s=$(rcode_spread "${rcodes[wgsd.$load.$round]}" "${rcodes[knot.$load.$round]}" "${rcodes[nsd.$load.$round]}")
      if awk -v s="$s" 'BEGIN {exit !(s > 1.0)}'; then
        fail "$n peers, round $round, $load: rcode shares differ by $s percentage points (wgsd ${rcodes[wgsd.$load.$round]}, knot ${rcodes[knot.$load.$round]}, nsd ${rcodes[nsd.$load.$round]})"
      fi
      spread_max[i]=$(awk -v a="${spread_max[i]}" -v b="$s" 'BEGIN {printf "%.2f", (b > a) ? b : a}')
    done
  done
  declare -A rss
  for server in $servers; do rss[$server]=$(server_rss "$server"); done
  # PTR over TCP: the servers do not give the same answer, so it is shown, not raced. wgsd sends as
  # many whole PTRs as fit in 64 KB with TC; Knot and NSD send TC with none when the set does not
  # fit. dnsperf cannot read 64 KB answers, which is why this is a probe.
  ptr_probe="PTR over TCP:"
  for server in wgsd knot nsd; do
    ptr_probe+=" $server=$(in_ns dig +tcp +norec -p "$(port_of "$server")" @127.0.0.1 _wireguard._udp.example.com. PTR 2>/dev/null |
      awk '/^;; flags:/ {tc = ($0 ~ / tc/) ? "+TC" : ""; for (i = 1; i <= NF; i++) if ($i == "ANSWER:") a = $(i+1)} /MSG SIZE/ {s = $NF} END {printf "%s answers in %s bytes%s", a, s, tc}' | tr -d ',')"
  done
  kill "$knot_pid" "$nsd_pid" "$floor_pid" 2>/dev/null || true
  # Latency at a paced 20,000 SRV queries a second, three ways, each round: (a) a wgsd that reads
  # the device once an hour, so not during the run; (b) the same while wg(8) reads the whole device
  # once a second: what a refresh asks of the device's daemon, without any of wgsd's own work;
  # (c) wgsd with its default refresh (default_refresh above). Medians of the rounds: p99 of one run moves a lot here.
  progress "$n peers: latency rounds"
  declare -A p50 p99
  for round in $(seq 1 "$rounds"); do
    ((round == 1)) || start_wgsd "$work/Corefile" 5300 "$work/wgsd.log"
    read -r a b < <(latency 5300 "$data/srv.txt" 20000); p50[c]+=" $a"; p99[c]+=" $b"
    kill "$wgsd_pid"; wait "$wgsd_pid" 2>/dev/null || true
    start_wgsd "$work/Corefile.norefresh" 5303 "$work/wgsd-norefresh.log"
    read -r a b < <(latency 5303 "$data/srv.txt" 20000); p50[a]+=" $a"; p99[a]+=" $b"
    ( while :; do in_ns wg show "$dev" dump >/dev/null 2>&1 || true; sleep 1; done ) &
    reader=$!; pids+=($reader)
    read -r a b < <(latency 5303 "$data/srv.txt" 20000); p50[b]+=" $a"; p99[b]+=" $b"
    kill "$reader" 2>/dev/null || true
    kill "$wgsd_pid"; wait "$wgsd_pid" 2>/dev/null || true
    if [[ -n $also_refresh ]]; then
      start_wgsd "$work/Corefile.also" 5305 "$work/wgsd-also.log"
      read -r a b < <(latency 5305 "$data/srv.txt" 20000); p50[d]+=" $a"; p99[d]+=" $b"
      kill "$wgsd_pid"; wait "$wgsd_pid" 2>/dev/null || true
    fi
    sleep 0.5
  done
  for k in a b c ${also_refresh:+d}; do
    eval "p50_$k=$(echo "${p50[$k]}" | median); p99_$k=$(echo "${p99[$k]}" | median)"
  done
  med() { echo "${!1}" | median; }  # the median of an array element's values, named as "arr[key]"
  {
    echo
    echo "## $n peers (device: $device_kind)"
    printf '%-5s %-4s %9s %8s %6s %10s %8s %7s  %s\n' server load qps avg_ms lost cpu_us/q x_floor resp_B "rcodes (last round)"
    for server in $servers; do
      for load in mix srv; do
        k="$server.$load"
        printf '%-5s %-4s %9s %8s %6s %10s %8s %7s  %s\n' "$server" "$load" "$(med "qps[$k]")" "$(med "lat[$k]")" \
          "$(med "lost[$k]")" "$(med "cpu[$k]")" "$(awk -v a="$(med "cpu[$k]")" -v f="$(med "cpu[floor.$load]")" 'BEGIN {printf "%.2f", a / f}')" \
          "${bytes[$k]}" "${rcodes[$k.$rounds]}"
      done
    done
    for load in mix srv; do
      awk -v l="$load" -v w="$(med "qps[wgsd.$load]")" -v k="$(med "qps[knot.$load]")" -v d="$(med "qps[nsd.$load]")" \
          -v cw="$(med "cpu[wgsd.$load]")" -v ck="$(med "cpu[knot.$load]")" -v cd="$(med "cpu[nsd.$load]")" -v cf="$(med "cpu[floor.$load]")" \
        'BEGIN {printf "ratios %s: QPS wgsd/knot %.2f wgsd/nsd %.2f; CPU per query wgsd/knot %.2f wgsd/nsd %.2f, over the floor wgsd %.2f knot %.2f nsd %.2f\n",
                l, w / k, w / d, cw / ck, cw / cd, cw / cf, ck / cf, cd / cf}'
    done
    for load in mix srv; do
      awk -v l="$load" -v r="$refresh_ms" -v q="$(med "qps[wgsd.$load]")" -v c="$(med "cpu[wgsd.$load]")" -v f="$(med "cpu[floor.$load]")" \
        'BEGIN {x = r * 1000 / q; printf "wgsd %s: of its %.2f µs/query, its refresher (%.1f ms of CPU a second when idle) is %.2f at %d q/s; without it %.2f, %.2f over the floor\n", l, c, r, x, q, c - x, (c - x) / f}'
    done
    echo "rss_kb wgsd ${rss[wgsd]} knot ${rss[knot]} nsd ${rss[nsd]} floor ${rss[floor]}; wgsd/knot $(awk -v w="${rss[wgsd]}" -v k="${rss[knot]}" 'BEGIN {printf "%.2f", w / k}')"
    echo "wgsd snapshot: $(awk -v r="${rss[wgsd]}" -v b="$rss_base" -v n="$n" 'BEGIN {printf "%.0f", (r - b) * 1024 / n}') bytes per peer (RSS ${rss[wgsd]} kB less ${rss_base} kB with a one-peer device, over $n peers)"
    echo "checked: $checked samples of $sample queries (mix and srv, before each server's timed runs) answered the same by wgsd, knot and nsd, and answered by the floor; zone logs clean"
    echo "rcode shares of wgsd, knot and nsd agree: largest difference in any round mix ${spread_max[0]} pp, srv ${spread_max[1]} pp (limit 1)"
    echo "$ptr_probe"
    echo "latency at 20000 q/s (SRV), p99 (p50) in ms, medians of $rounds rounds: (a) no refresh ${p99_a} (${p50_a});" \
         "(b) wg(8) reads the device every second, no wgsd refresh ${p99_b} (${p50_b}); (c) wgsd's default refresh ($(default_refresh "$n")) ${p99_c} (${p50_c});" \
         "(c)/(b) $(awk -v c="$p99_c" -v b="$p99_b" 'BEGIN {printf "%.2f", c / b}') (target at most 1.5)"
    [[ -z $also_refresh ]] ||
      echo "latency with wgsd's refresh at $also_refresh: (d) ${p99_d} (${p50_d}); (d)/(b) $(awk -v d="$p99_d" -v b="$p99_b" 'BEGIN {printf "%.2f", d / b}')"
  } | tee -a "$results"
  commas() { echo "$1" | sed ':a;s/\B[0-9]\{3\}\>/,&/;ta'; }
  ratio() { awk -v a="$1" -v b="$2" 'BEGIN {printf "%.2f", a / b}'; }
  for load in mix srv; do
    w=wgsd.$load k=knot.$load d=nsd.$load f=floor.$load
    printf '| %s | %s | %s · %s · %s · %s | %s · %s | %s · %s · %s · %s | %s · %s · %s | %s | %s · %s · %s |\n' \
      "$(commas "$n")" "$load" "$(commas "$(med "qps[$w]")")" "$(commas "$(med "qps[$k]")")" "$(commas "$(med "qps[$d]")")" "$(commas "$(med "qps[$f]")")" \
      "$(ratio "$(med "qps[$w]")" "$(med "qps[$k]")")" "$(ratio "$(med "qps[$w]")" "$(med "qps[$d]")")" \
      "$(med "cpu[$w]")" "$(med "cpu[$k]")" "$(med "cpu[$d]")" "$(med "cpu[$f]")" \
      "$(ratio "$(med "cpu[$w]")" "$(med "cpu[$f]")")" "$(ratio "$(med "cpu[$k]")" "$(med "cpu[$f]")")" "$(ratio "$(med "cpu[$d]")" "$(med "cpu[$f]")")" \
      "$(ratio "$(med "cpu[$w]")" "$(med "cpu[$k]")")" "$(med "lost[$w]")" "$(med "lost[$k]")" "$(med "lost[$d]")" >>"$work/t.speed"
  done
  printf '| %s | %.1f MB | %.1f MB | %.1f MB | %s | %s |\n' "$(commas "$n")" "$(awk -v k="${rss[wgsd]}" 'BEGIN {print k / 1000}')" \
    "$(awk -v k="${rss[knot]}" 'BEGIN {print k / 1000}')" "$(awk -v k="${rss[nsd]}" 'BEGIN {print k / 1000}')" \
    "$(ratio "${rss[wgsd]}" "${rss[knot]}")" "$(awk -v r="${rss[wgsd]}" -v b="$rss_base" -v n="$n" 'BEGIN {printf "%.0f", (r - b) * 1024 / n}')" >>"$work/t.memory"
  printf '| %s | %s | %s | %s | %s |%s\n' "$(commas "$n")" "$p99_a" "$p99_b" "$p99_c" "$(ratio "$p99_c" "$p99_b")" \
    "${also_refresh:+ $p99_d | $(ratio "$p99_d" "$p99_b") |}" >>"$work/t.latency"
  for server in $servers; do
    echo "$n $server $(med "qps[$server.mix]") $(med "cpu[$server.mix]") $(med "qps[$server.srv]") $(med "cpu[$server.srv]")" >>"$chart_data"
  done
  unset qps lat lost cpu rcodes bytes rss p50 p99
  for pid in $wgsd_pid $knot_pid $nsd_pid $floor_pid $wgpid; do kill "$pid" 2>/dev/null || true; done
  ip netns pids "$ns" 2>/dev/null | xargs -r kill 2>/dev/null || true
  sleep 1
  rm -f "/var/run/wireguard/$dev.sock"
done
{
  echo "Throughput and CPU (\`$command_line\`, $stamp; medians of $rounds rounds of ${seconds} s):"
  echo
  echo "| peers | load | QPS wgsd · Knot · NSD · floor | QPS wgsd/Knot · wgsd/NSD | CPU µs/query wgsd · Knot · NSD · floor | CPU over the floor wgsd · Knot · NSD | CPU wgsd/Knot | lost wgsd · Knot · NSD |"
  echo "|---|---|---|---|---|---|---|---|"
  cat "$work/t.speed"
  echo
  echo "| peers | RSS wgsd | RSS Knot | RSS NSD | RSS wgsd/Knot | wgsd bytes per peer |"
  echo "|---|---|---|---|---|---|"
  cat "$work/t.memory"
  echo
  echo "| peers | p99 (a) no refresh | p99 (b) wg(8) reads each second | p99 (c) wgsd's default refresh | (c)/(b) |${also_refresh:+ p99 (d) refresh $also_refresh | (d)/(b) |}"
  echo "|---|---|---|---|---|${also_refresh:+---|---|}"
  cat "$work/t.latency"
} >"$table"
bash bench/chart.sh "$chart_data" "$out/chart-$stamp.png" "wgsd-server, Knot DNS, NSD and the floor, $(nproc) cores shared with dnsperf ($stamp)" >/dev/null
echo "results: $results; tables: $table; chart: $out/chart-$stamp.png; answer checks: $checks_log"
