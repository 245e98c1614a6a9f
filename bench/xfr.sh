#!/usr/bin/env bash
# Zone transfers (docs/transfer.md), four rows; medians over RUNS runs:
#  1. AXFR to a Knot DNS secondary, from wgsd-server and from NSD as the primary of the same zone,
#     same run: the transfer time Knot logs, and the primary's CPU time. At PEERS1 peers (65,535 by
#     default): Knot and NSD hold at most 65,535 records in one RRset (its count is 16 bits), so no
#     secondary of either loads a zone whose PTR set is larger.
#  1b. AXFR at PEERS1B (100,000) peers, which no Knot or NSD secondary can load (Knot refuses the
#     PTR set: "not enough space provided"): wgsd-server's AXFR received by kdig, which keeps no
#     zone and so has no such limit: wall time, wgsd CPU, and the records counted by type against
#     the expected (a PTR, SRV, A or AAAA and TXT per peer; SOA first and last, NS and its address).
#     Then NSD as the primary of the same records (written from wgsd's transfer), to the same kdig,
#     if NSD loads them. NSD 4.6 does not: it holds 65,535 records in an RRset as primary too ("too
#     many RRs for domain RRset" for every PTR past it), and the row prints that reason. So at
#     100,000 peers there is wgsd's transfer alone, and no comparison with NSD can be measured.
#  2. Propagation at PEERS2 (10,000) peers with the mesh's handshake churn running: the device is
#     bench/uapi_standin.py with --churn CHURN (120 s: every peer's handshake renews every 2
#     minutes, each at its own phase, so about PEERS2/120 handshake times move every second) and
#     wgsd-server publishes with `max-age MAXAGE` (3m), as a live registry would. An endpoint is
#     moved with `wg set` until the Knot secondary answers the new address (NOTIFY, then IXFR); p50
#     and p99 over CHANGES changes. Then what the churn cost: wgsd's device reads, the snapshots it
#     built, its CPU, the stand-in's time to build a get=1 reply, and the serials (Knot's IXFRs,
#     against CHANGES: the serial moves with endpoints, not with handshakes). CHURN=0 runs the row
#     on wireguard-go instead, with no handshakes and no max-age.
#  3. The IXFR journal at PEERS3 (100,000) peers under changes (10 endpoints a step, as fast as the
#     device stand-in serves them, for 60 s): wgsd_ixfr_journal_bytes and _steps, and wgsd-server's
#     resident memory before, its peak during (while a snapshot is built the one it replaces is
#     alive too) and after, once the serial has stopped moving (the journal is bounded: 64 steps, 16 MB).
# A row of Knot figures is printed only when the secondary is shown to hold the primary's zone: the
# same SOA serial, the same records (the secondary's copy read with knotc zone-read, the primary's
# with kdig AXFR, compared record by record), and equal answers for sample names.
# Usage: bench/xfr.sh [RUNS] [CHANGES]     (root; uses a namespace of its own)
#   ROWS="3 2" runs only those rows (default "1 1b 3 2"); PEERS1, PEERS1B, PEERS2, PEERS3 change the
#   sizes (small ones try it out); CHURN, MAXAGE as above.
set -euo pipefail
cd "$(dirname "$0")/.."
source bench/lib.sh
source bench/servers.sh
runs=${1:-3}
changes=${2:-100}
peers1=${PEERS1:-65535}
peers2=${PEERS2:-10000}
peers3=${PEERS3:-100000}
peers1b=${PEERS1B:-100000}
churn=${CHURN:-120}
maxage=${MAXAGE:-3m}
rows=${ROWS:-1 1b 3 2}  # which rows to run
bench_prepare xfr
bench_namespace xfr
secret=$(head -c 32 /dev/urandom | base64)

source bench/xfr_lib.sh

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

if [[ " $rows " == *" 1b "* ]]; then
echo "== 1b. AXFR of $peers1b peers received by kdig: wgsd-server, then NSD as the primary of the same records"
python3 bench/gen.py "$peers1b" "$work/d1b" >/dev/null
start_standin "$work/d1b/wg.conf"; standin=$wgpid
# One device read at start and none during the transfers: the CPU measured is the transfer's.
corefile 5400 127.0.0.1:5409 "refresh 1h" >"$work/Corefile1b"
ip netns exec "$ns" build-bench/wgsd-server --conf "$work/Corefile1b" >"$work/wgsd1b.log" 2>&1 &
pids+=($!); wgsd_pid=$!
wait_soa 5400
# kdig_axfr PORT FILE -> "seconds records messages bytes" of one AXFR into FILE.
kdig_axfr() {
  local s e
  s=$(date +%s%N)
  in_ns kdig +tcp +time=300 @127.0.0.1 -p "$1" example.com. AXFR >"$2" 2>&1 || true
  e=$(date +%s%N)
  awk -v t="$(( (e - s) / 1000000 ))" '/^;; Received/ {r = $0; sub(/.*\(/, "", r); split(r, f, /[ ,)]+/); m = f[1]; n = f[3]; b = $3 " " $4}
    END {printf "%.2f %s %s %s\n", t / 1000, n == "" ? 0 : n, m == "" ? 0 : m, b == "" ? "?" : b}' "$2"
}
# records_by_type FILE -> "PTR:n SRV:n ..." of the records kdig printed.
records_by_type() { awk '!/^;/ && NF >= 4 {c[$4]++} END {for (t in c) printf "%s:%d ", t, c[t]; print ""}' "$1" | tr ' ' '\n' | sort | tr '\n' ' '; }
expected=$((4 * peers1b + 4))  # PTR, SRV, A/AAAA, TXT per peer; SOA twice, NS, the NS's A
: >"$work/row1b"
for r in $(seq 1 "$runs"); do
  t0=$(cpu_ticks "$wgsd_pid"); read -r secs n msgs bytes <<<"$(kdig_axfr 5400 "$work/axfr-wgsd.txt")"; t1=$(cpu_ticks "$wgsd_pid")
  types=$(records_by_type "$work/axfr-wgsd.txt")
  if ((n != expected)); then
    echo "run $r: wgsd: $n records, expected $expected ($types); not counted"; grep -m2 '^;;.*\(ERROR\|failed\)' "$work/axfr-wgsd.txt" || true; continue
  fi
  echo "run $r: wgsd ${secs} s, $(( (t1 - t0) * 1000 / hz )) ms CPU, $n records as expected ($types), $msgs messages, $bytes"
  echo "$secs $(( (t1 - t0) * 1000 / hz ))" >>"$work/row1b"
done
if [[ -s $work/row1b ]]; then
  echo "row 1b ($(wc -l <"$work/row1b") of $runs runs verified), median: wgsd $(cut -d' ' -f1 "$work/row1b" | median) s, $(cut -d' ' -f2 "$work/row1b" | median) ms CPU (kdig's time to receive and print included)"
else
  echo "row 1b: no run received the expected $expected records: not printed"
fi
# NSD as the primary of what wgsd transferred: its records, the closing SOA left out.
awk '!/^;/ && NF >= 4 {if (seen++ && $4 == "SOA") next; print}' "$work/axfr-wgsd.txt" >"$work/d1b/full.zone"
check=$(nsd-checkzone example.com. "$work/d1b/full.zone" 2>&1 | tail -3 || true)
echo "  nsd-checkzone of the $(grep -c . "$work/d1b/full.zone") records: $check"
start_nsd "$work/d1b/full.zone" 5401 xfr
for _ in $(seq 1 600); do
  grep -qiE 'error|fail' "$work/nsd.log" && break
  [[ $(in_ns kdig +short +time=1 @127.0.0.1 -p 5401 example.com. SOA 2>/dev/null) ]] && break
  sleep 0.2
done
if [[ $(in_ns kdig +short +time=1 @127.0.0.1 -p 5401 example.com. SOA 2>/dev/null) ]]; then
  n0=$(server_cpu nsd); read -r secs n msgs bytes <<<"$(kdig_axfr 5401 "$work/axfr-nsd.txt")"; n1=$(server_cpu nsd)
  echo "row 1b NSD: ${secs} s, $(( (n1 - n0) * 1000 / hz )) ms CPU, $n records (expected $expected; by type: $(records_by_type "$work/axfr-nsd.txt")), $msgs messages, $bytes"
else
  echo "row 1b NSD: does not serve the zone of $peers1b peers; its log: $(grep -m3 -iE 'error|fail|too many' "$work/nsd.log" | tr '\n' ' ')"
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
before=$(rss_kb "$wgsd_pid"); serial0=$(in_ns kdig +short @127.0.0.1 -p 5400 example.com. SOA | awk '{print $3}')
end=$((SECONDS + 60)); step=0; peak=0; rss_peak=$before
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
  b=$(metric wgsd_ixfr_journal_bytes); [[ -n $b ]] && ((b > peak)) && peak=$b
  m=$(rss_kb "$wgsd_pid"); ((m > rss_peak)) && rss_peak=$m
done
# Settled: the serial has not moved for 3 s (the stand-in has served the last file, wgsd has built
# it and freed the snapshot before): one snapshot alive, as between changes.
serial1=""; quiet=0
for _ in $(seq 1 60); do
  cur=$(in_ns kdig +short @127.0.0.1 -p 5400 example.com. SOA | awk '{print $3}')
  if [[ $cur == "$serial1" ]]; then quiet=$((quiet + 1)); ((quiet >= 6)) && break; else quiet=0; serial1=$cur; fi
  sleep 0.5
done
after=$(rss_kb "$wgsd_pid")
bytes=$(metric wgsd_ixfr_journal_bytes); steps=$(metric wgsd_ixfr_journal_steps)
ixfr_records=$(in_ns kdig +tcp @127.0.0.1 -p 5400 example.com. IXFR="$serial0" +noall +answer 2>/dev/null | wc -l)
if [[ -n $bytes && -n $steps ]] && ((steps > 0 && bytes <= 16 * 1024 * 1024)); then
  echo "row 3: $step device changes in 60 s, serial $serial0 -> $serial1; journal $steps steps, $bytes bytes (peak seen $peak);" \
       "RSS $before kB before, at most $rss_peak kB during (two snapshots while one is built), $after kB settled after; an IXFR from the first serial: $ixfr_records records"
else
  echo "row 3: not printed: the journal metrics read '$steps' steps, '$bytes' bytes"
fi
kill "$wgsd_pid" "$standin" 2>/dev/null || true
wait "$wgsd_pid" "$standin" 2>/dev/null || true
rm -f "/var/run/wireguard/$dev.sock"
fi

if [[ " $rows " == *" 2 "* ]]; then
python3 bench/gen.py "$peers2" "$work/d2" >/dev/null
if ((churn > 0)); then
  echo "== 2. propagation at $peers2 peers with handshakes renewed every ${churn} s (max-age $maxage): device change -> the Knot secondary answers it, $changes changes"
  start_standin "$work/d2/wg.conf" --churn "$churn"; device2=$wgpid
  standin_check "$work/d2/wg.conf"
  publish=("refresh 250ms" "max-age $maxage")
else
  echo "== 2. propagation at $peers2 peers on wireguard-go, no handshakes: device change -> the Knot secondary answers it, $changes changes"
  grep -v '^\(ListenPort\|PrivateKey\)' "$work/d2/wg.conf" | sed 's/^\[Interface\]/[Interface]\nListenPort = 51820/' >"$work/d2/set.conf"
  start_wireguard_go "$work/d2/set.conf"; device2=$wgpid
  publish=("refresh 250ms")
fi
corefile 5400 127.0.0.1:5431 "${publish[@]}" >"$work/Corefile2"
ip netns exec "$ns" build-bench/wgsd-server --conf "$work/Corefile2" --state-dir "$work/state" >"$work/wgsd2.log" 2>&1 &
pids+=($!); wgsd_pid=$!
wait_soa 5400
knot_secondary kp 5431 5400 key
axfr_seconds kp >/dev/null
keys=($(awk -v n="$changes" '/^PublicKey/ && c++ < n {print $3}' "$work/d2/wg.conf"))  # no head: SIGPIPE under pipefail
# What the churn costs, counted over the changes only (the first AXFR done).
sleep 1
reads0=$(metric wgsd_device_reads_total 'result="ok"'); builds0=$(metric wgsd_snapshot_builds_total)
ixfr0=$(grep -c 'IXFR, incoming.*finished' "$work/kp/log" || true); axfr0=$(grep -c 'AXFR, incoming.*finished' "$work/kp/log" || true)
served0=$(metric wgsd_transfers_total 'type="ixfr"' 'result="complete"'); cpu0=$(cpu_ticks "$wgsd_pid"); since=$SECONDS
log0=$(($(wc -l <"$work/standin.log") + 1))
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
elapsed=$((SECONDS - since)); cpu1=$(cpu_ticks "$wgsd_pid")
reads1=$(metric wgsd_device_reads_total 'result="ok"'); builds1=$(metric wgsd_snapshot_builds_total)
served1=$(metric wgsd_transfers_total 'type="ixfr"' 'result="complete"')
ixfr=$(( $(grep -c 'IXFR, incoming.*finished' "$work/kp/log" || true) - ixfr0 )); axfr=$(( $(grep -c 'AXFR, incoming.*finished' "$work/kp/log" || true) - axfr0 ))
if v=$(same_zone kp 5400 5431) && ((missed == 0)); then
  echo "row 2: propagation ms over $changes changes: p50 $(pct 50 <"$work/row2"), p99 $(pct 99 <"$work/row2"), max $(sort -n "$work/row2" | tail -1)" \
       "(refresh 250ms; the secondary then holds the primary's zone: $v)"
else
  echo "row 2: not printed: $missed changes not seen within 10 s, or the secondary's zone differs (above)"
fi
echo "  during the ${elapsed} s of changes: wgsd read the device $((reads1 - reads0)) times and built $((builds1 - builds0)) snapshots," \
     "$(( (cpu1 - cpu0) * 1000 / hz )) ms CPU ($(awk -v c=$((cpu1 - cpu0)) -v hz="$hz" -v s="$elapsed" 'BEGIN {printf "%.1f", s ? c / hz / s * 100 : 0}')% of a core);" \
     "serials: Knot made $ixfr IXFRs and $axfr AXFRs for $changes endpoint changes (wgsd served $((served1 - served0)) IXFRs)"
echo "  published peers at the end: $(metric wgsd_peers 'state="published"'), stale (handshake older than max-age): $(metric wgsd_peers 'state="stale"')"
if ((churn > 0)); then
  echo "  the stand-in's get=1 of $peers2 peers, built once a second for the handshake times: median, max ms $(get_times "$work/standin.log" "$log0")"
fi
kill "$wgsd_pid" "$device2" 2>/dev/null || true
wait "$wgsd_pid" "$device2" 2>/dev/null || true
fi
echo "machine: $(nproc) CPUs, load $(cut -d' ' -f1-3 /proc/loadavg)"
