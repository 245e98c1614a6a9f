#!/usr/bin/env bash
# Zone transfers (docs/transfer.md), three rows; medians over RUNS runs:
#  1. AXFR to a Knot DNS secondary, from wgsd-server and from NSD as the primary of the same zone,
#     same run: the transfer time Knot logs, and the primary's CPU time. At PEERS1 peers (65,535 by
#     default: Knot and NSD hold at most 65,535 records in one RRset, so no secondary of either
#     loads a zone whose PTR set is larger; at 100,000 peers Knot refuses wgsd's zone with "not
#     enough space provided", and the row says so).
#  2. Propagation at PEERS2 (10,000) peers: an endpoint moved on a wireguard-go device, until the
#     Knot secondary answers the new address (NOTIFY, then IXFR); p50 and p99 over CHANGES changes.
#  3. The IXFR journal at PEERS3 (100,000) peers under changes (10 endpoints a step, as fast as the
#     device stand-in serves them, for 60 s): wgsd_ixfr_journal_bytes and _steps, and wgsd-server's
#     resident memory before and after (the journal is bounded: 64 steps, 16 MB).
# A row is printed only when the secondary is shown to hold the primary's zone: the same SOA serial,
# the same records (the secondary's copy read with knotc zone-read, the primary's with kdig AXFR,
# compared record by record), and equal answers for sample names.
# Usage: bench/xfr.sh [RUNS] [CHANGES]     (root; uses a namespace of its own)
#   ROWS="3 2" runs only those rows; PEERS1, PEERS2, PEERS3 change the sizes (small ones try it out).
set -euo pipefail
cd "$(dirname "$0")/.."
source bench/lib.sh
source bench/servers.sh
runs=${1:-3}
changes=${2:-100}
peers1=${PEERS1:-65535}
peers2=${PEERS2:-10000}
peers3=${PEERS3:-100000}
rows=${ROWS:-1 3 2}  # which rows to run
bench_prepare xfr
bench_namespace xfr
secret=$(head -c 32 /dev/urandom | base64)

pct() { sort -n | awk -v p="$1" '{a[NR]=$1} END {i = int((NR * p + 99) / 100); if (i < 1) i = 1; print a[i]}'; }

# knot_secondary NAME PORT PRIMARY_PORT [KEY]: a Knot secondary of example.com.; sets knot_pid.
knot_secondary() {
  local d="$work/$1"; rm -rf "$d"; mkdir -p "$d"
  {
    echo "server:"; echo "    listen: 127.0.0.1@$2"; echo "    rundir: \"$d\""
    echo "control:"; echo "    listen: \"$d/knot.sock\""
    echo "key:"; echo "  - id: key.example."; echo "    algorithm: hmac-sha256"; echo "    secret: $secret"
    echo "remote:"; echo "  - id: primary"; echo "    address: 127.0.0.1@$3"
    [[ ${4:-} ]] && echo "    key: key.example."
    echo "acl:"; echo "  - id: notify"; echo "    address: 127.0.0.1"; echo "    action: notify"
    [[ ${4:-} ]] && echo "    key: key.example."
    echo "template:"; echo "  - id: default"; echo "    storage: \"$d\""
    echo "database:"; echo "    storage: \"$d/db\""
    echo "zone:"; echo "  - domain: example.com."; echo "    master: primary"; echo "    acl: notify"
    echo "    journal-content: none"; echo "    zonefile-sync: -1"; echo "    semantic-checks: off"
    echo "log:"; echo "  - target: stderr"; echo "    any: info"
  } >"$d/knot.conf"
  ip netns exec "$ns" knotd -c "$d/knot.conf" >"$d/log" 2>&1 &
  pids+=($!); knot_pid=$!
}
stop_knot() { kill "$knot_pid" 2>/dev/null || true; wait "$knot_pid" 2>/dev/null || true; }

# axfr_seconds NAME: waits (at most 5 min) for the secondary's first transfer; prints the seconds
# Knot logged, or NaN with the reason on stderr.
axfr_seconds() {
  local i
  for i in $(seq 1 3000); do
    if grep -q "AXFR, incoming.*finished" "$work/$1/log"; then
      grep -o "finished, [0-9.]* seconds" "$work/$1/log" | head -1 | awk '{print $2}'; return
    fi
    if grep -qE "AXFR, incoming.*failed|refresh, .*failed|failed to process record" "$work/$1/log"; then
      echo "  $1: the transfer failed: $(grep -m1 -E 'failed' "$work/$1/log")" >&2; echo NaN; return
    fi
    sleep 0.1
  done
  echo "  $1: no transfer within 5 minutes" >&2; echo NaN
}

# normalise < RECORDS: one record a line as "owner TYPE RDATA", owner lower-cased, TTL and class
# left out; reads kdig's and knotc zone-read's output alike.
normalise() {
  awk '/^;/ || NF < 4 {next}
       {if ($1 ~ /^\[/) {$1 = ""; $0 = $0; $1 = $1}
        owner = tolower($1); $1 = ""; $2 = ""; if ($3 == "IN") $3 = ""; $0 = $0; $1 = $1; print owner, $0}' | sort -u
}

# same_zone NAME PRIMARY_PORT SECONDARY_PORT: the secondary NAME holds what the primary serves.
# Prints "serial records" when it does; else the difference on stderr and returns 1.
same_zone() {
  local d="$work/$1" p=$2 s=$3
  in_ns kdig +tcp +time=60 @127.0.0.1 -p "$p" example.com. AXFR 2>/dev/null | normalise >"$d/primary.txt"
  in_ns knotc -s "$d/knot.sock" zone-read example.com. 2>/dev/null | normalise >"$d/secondary.txt"
  local ps ss
  ps=$(in_ns kdig +short @127.0.0.1 -p "$p" example.com. SOA | awk '{print $3}')
  ss=$(in_ns kdig +short @127.0.0.1 -p "$s" example.com. SOA | awk '{print $3}')
  local np ns_
  np=$(wc -l <"$d/primary.txt"); ns_=$(wc -l <"$d/secondary.txt")
  if [[ -z $ps || $ps != "$ss" ]]; then echo "  $1: SOA serial $ss, the primary's $ps" >&2; return 1; fi
  if ((np < 10)) || ! cmp -s "$d/primary.txt" "$d/secondary.txt"; then
    echo "  $1: $ns_ records, the primary $np; first differences:" >&2
    diff "$d/primary.txt" "$d/secondary.txt" | head -4 >&2 || true
    return 1
  fi
  # Sample answers, over the network from both: SRV, address and TXT of five peers.
  local name t a b
  for name in $(awk '$2 == "SRV" {print $1}' "$d/primary.txt" | shuf -n 5 --random-source=<(yes)); do
    for t in SRV A AAAA TXT; do
      a=$(in_ns kdig +short +tcp @127.0.0.1 -p "$p" "$name" "$t" | sort)
      b=$(in_ns kdig +short +tcp @127.0.0.1 -p "$s" "$name" "$t" | sort)
      if [[ $a != "$b" ]]; then echo "  $1: $name $t: '$b', the primary '$a'" >&2; return 1; fi
    done
  done
  echo "serial $ss, $np records"
}

wait_soa() { local _; for _ in $(seq 1 1500); do in_ns kdig +short +time=1 @127.0.0.1 -p "$1" example.com. SOA 2>/dev/null | grep -q . && return; sleep 0.2; done; }

# corefile PORT TRANSFER_TO EXTRA...: wgsd-server's configuration, the device of this run.
corefile() {
  local port=$1 to=$2; shift 2
  printf 'example.com.:%s {\n    bind 127.0.0.1\n    wgsd example.com. %s {\n        backend uapi\n' "$port" "$dev"
  local x; for x in "$@"; do printf '        %s\n' "$x"; done
  printf '        ns ns1.example.com. 192.0.2.53\n    }\n    tsig {\n        secret key.example. %s\n    }\n' "$secret"
  printf '    transfer {\n        to %s\n    }\n    prometheus 127.0.0.1:9153\n}\n' "$to"
}

mkdir -p /var/run/wireguard
if [[ " $rows " == *" 1 "* ]]; then
echo "== 1. AXFR of $peers1 peers to a Knot secondary: wgsd-server against NSD as the primary of the same zone"
python3 bench/gen.py "$peers1" "$work/d1" >/dev/null
start_standin "$work/d1/wg.conf"; standin=$wgpid
corefile 5400 127.0.0.1:5409 "refresh 5s" >"$work/Corefile1"
ip netns exec "$ns" build-bench/wgsd-server --conf "$work/Corefile1" >"$work/wgsd1.log" 2>&1 &
pids+=($!); wgsd_pid=$!
start_nsd "$work/d1/example.com.zone" 5401 xfr
wait_soa 5401; wait_soa 5400
: >"$work/row1"
for r in $(seq 1 "$runs"); do
  t0=$(cpu_ticks "$wgsd_pid"); knot_secondary "kw$r" $((5410 + r)) 5400; w=$(axfr_seconds "kw$r"); t1=$(cpu_ticks "$wgsd_pid")
  vw=$(same_zone "kw$r" 5400 $((5410 + r))) || vw=""
  stop_knot
  n0=$(server_cpu nsd)
  knot_secondary "kn$r" $((5420 + r)) 5401; s=$(axfr_seconds "kn$r")
  n1=$(server_cpu nsd)
  vn=$(same_zone "kn$r" 5401 $((5420 + r))) || vn=""
  stop_knot
  if [[ -z $vw || -z $vn || $w == NaN || $s == NaN ]]; then
    echo "run $r: not counted (a secondary did not load its primary's zone; see above)"
    continue
  fi
  echo "run $r: wgsd ${w} s, $(( (t1 - t0) * 1000 / hz )) ms CPU ($vw); NSD ${s} s, $(( (n1 - n0) * 1000 / hz )) ms CPU ($vn)"
  echo "$w $(( (t1 - t0) * 1000 / hz )) $s $(( (n1 - n0) * 1000 / hz ))" >>"$work/row1"
done
if [[ -s $work/row1 ]]; then
  echo "row 1 ($(wc -l <"$work/row1") of $runs runs verified), median: wgsd $(cut -d' ' -f1 "$work/row1" | median) s, $(cut -d' ' -f2 "$work/row1" | median) ms CPU;" \
       "NSD $(cut -d' ' -f3 "$work/row1" | median) s, $(cut -d' ' -f4 "$work/row1" | median) ms CPU"
  awk '{r = $1 / $3; print r}' "$work/row1" | median | xargs printf '  wgsd/NSD transfer time, median of the runs: %.2fx\n'
else
  echo "row 1: no run verified: not printed"
fi
kill "$wgsd_pid" "$nsd_pid" "$standin" 2>/dev/null || true
wait "$wgsd_pid" "$nsd_pid" "$standin" 2>/dev/null || true
fi

if [[ " $rows " == *" 3 "* ]]; then
echo "== 3. the IXFR journal at $peers3 peers, 10 endpoints moved a step, 60 s"
python3 bench/gen.py "$peers3" "$work/d3" >/dev/null
start_standin "$work/d3/wg.conf"; standin=$wgpid
corefile 5400 127.0.0.1:5409 "refresh 100ms" >"$work/Corefile3"
ip netns exec "$ns" build-bench/wgsd-server --conf "$work/Corefile3" >"$work/wgsd3.log" 2>&1 &
pids+=($!); wgsd_pid=$!
wait_soa 5400
metric() { in_ns curl -s -m 5 http://127.0.0.1:9153/metrics | awk -v m="$1" 'index($0, m) == 1 {print $2}' | head -1; }
before=$(rss_kb "$wgsd_pid"); serial0=$(in_ns kdig +short @127.0.0.1 -p 5400 example.com. SOA | awk '{print $3}')
end=$((SECONDS + 60)); step=0; peak=0
while ((SECONDS < end)); do
  step=$((step + 1))
  python3 - "$work/d3/wg.conf" "$step" <<'PY'
import os, re, sys
path, step = sys.argv[1], int(sys.argv[2])
text = open(path).read().split("[Peer]")
for i in range(1, 11):
    k = (step * 10 + i) % (len(text) - 1) + 1
    text[k] = re.sub(r"Endpoint = [^\n]*", f"Endpoint = 203.0.113.{i}:{10000 + step % 50000}", text[k])
open(path + ".new", "w").write("[Peer]".join(text))
os.replace(path + ".new", path)  # whole: the stand-in never reads half a file
PY
  b=$(metric 'wgsd_ixfr_journal_bytes{'); [[ -n $b ]] && ((b > peak)) && peak=$b
done
sleep 2
after=$(rss_kb "$wgsd_pid"); serial1=$(in_ns kdig +short @127.0.0.1 -p 5400 example.com. SOA | awk '{print $3}')
bytes=$(metric 'wgsd_ixfr_journal_bytes{'); steps=$(metric 'wgsd_ixfr_journal_steps{')
ixfr_records=$(in_ns kdig +tcp @127.0.0.1 -p 5400 example.com. IXFR="$serial0" +noall +answer 2>/dev/null | wc -l)
if [[ -n $bytes && -n $steps ]] && ((steps > 0 && bytes <= 16 * 1024 * 1024)); then
  echo "row 3: $step device changes in 60 s, serial $serial0 -> $serial1; journal $steps steps, $bytes bytes (peak seen $peak);" \
       "RSS $before kB before, $after kB after; an IXFR from the first serial: $ixfr_records records"
else
  echo "row 3: not printed: the journal metrics read '$steps' steps, '$bytes' bytes"
fi
kill "$wgsd_pid" "$standin" 2>/dev/null || true
wait "$wgsd_pid" "$standin" 2>/dev/null || true
rm -f "/var/run/wireguard/$dev.sock"
fi

if [[ " $rows " == *" 2 "* ]]; then
echo "== 2. propagation at $peers2 peers: device change -> the Knot secondary answers it, $changes changes"
python3 bench/gen.py "$peers2" "$work/d2" >/dev/null
grep -v '^\(ListenPort\|PrivateKey\)' "$work/d2/wg.conf" | sed 's/^\[Interface\]/[Interface]\nListenPort = 51820/' >"$work/d2/set.conf"
start_wireguard_go "$work/d2/set.conf"
corefile 5400 127.0.0.1:5431 "refresh 250ms" >"$work/Corefile2"
ip netns exec "$ns" build-bench/wgsd-server --conf "$work/Corefile2" --state-dir "$work/state" >"$work/wgsd2.log" 2>&1 &
pids+=($!); wgsd_pid=$!
wait_soa 5400
knot_secondary kp 5431 5400 key
axfr_seconds kp >/dev/null
keys=($(awk -v n="$changes" '/^PublicKey/ && c++ < n {print $3}' "$work/d2/wg.conf"))  # no head: SIGPIPE under pipefail
: >"$work/row2"; missed=0
for i in $(seq 0 $((changes - 1))); do
  key=${keys[$i]}
  name=$(python3 -c "import base64,sys; print(base64.b32encode(base64.b64decode(sys.argv[1])).decode() + '._wireguard._udp.example.com.')" "$key")
  addr="203.0.113.$((i % 250 + 1))"
  start=$(date +%s%N); seen=""
  in_ns wg set "$dev" peer "$key" endpoint "$addr:$((20000 + i))"
  for _ in $(seq 1 500); do
    if [[ $(in_ns kdig +short +time=1 @127.0.0.1 -p 5431 "$name" A 2>/dev/null) == "$addr" ]]; then seen=1; break; fi
    sleep 0.02
  done
  if [[ -z $seen ]]; then missed=$((missed + 1)); continue; fi
  echo $(( ($(date +%s%N) - start) / 1000000 )) >>"$work/row2"
done
sleep 1
if v=$(same_zone kp 5400 5431) && ((missed == 0)); then
  echo "row 2: propagation ms over $changes changes: p50 $(pct 50 <"$work/row2"), p99 $(pct 99 <"$work/row2"), max $(sort -n "$work/row2" | tail -1)" \
       "(refresh 250ms; the secondary then holds the primary's zone: $v)"
else
  echo "row 2: not printed: $missed changes not seen within 10 s, or the secondary's zone differs (above)"
fi
echo "  knot: $(grep -c 'IXFR, incoming.*finished' "$work/kp/log") IXFR, $(grep -c 'AXFR, incoming.*finished' "$work/kp/log") AXFR"
fi
echo "machine: $(nproc) CPUs, load $(cut -d' ' -f1-3 /proc/loadavg)"
