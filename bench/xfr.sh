#!/usr/bin/env bash
# Zone transfers (docs/transfer.md), three rows, each run RUNS times (medians quoted):
#  1. AXFR of the 100,000-peer zone to a Knot DNS secondary, from wgsd-server and from NSD as the
#     primary of the same zone, same run: the transfer time Knot logs, and the primary's CPU time.
#  2. Propagation at 10,000 peers: an endpoint moved on a wireguard-go device, until the Knot
#     secondary answers the new address (NOTIFY, then IXFR); p50 and p99 over CHANGES changes.
#  3. The IXFR journal at 100,000 peers and 10 changes a second: wgsd-server's resident memory before
#     and after a minute of changes (the journal is bounded: 64 steps, 16 MB).
# Usage: bench/xfr.sh [RUNS] [CHANGES]     (root; uses a namespace of its own)
set -euo pipefail
cd "$(dirname "$0")/.."
source bench/lib.sh
source bench/servers.sh
runs=${1:-3}
changes=${2:-100}
bench_prepare xfr
bench_namespace xfr
secret=$(head -c 32 /dev/urandom | base64)

median() { sort -n | awk '{a[NR]=$1} END {print (NR % 2) ? a[(NR+1)/2] : (a[NR/2] + a[NR/2+1]) / 2}'; }
pct() { sort -n | awk -v p="$1" '{a[NR]=$1} END {i = int((NR * p + 99) / 100); if (i < 1) i = 1; print a[i]}'; }

# knot_secondary NAME PORT PRIMARY_PORT [KEY]: a Knot secondary of example.com.; sets knot_pid.
knot_secondary() {
  local d="$work/$1"; rm -rf "$d"; mkdir -p "$d"
  {
    echo "server:"; echo "    listen: 127.0.0.1@$2"; echo "    rundir: \"$d\""
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
# axfr_seconds NAME: waits for the secondary's first transfer and prints the seconds Knot logged.
axfr_seconds() {
  local i
  for i in $(seq 1 600); do
    if grep -q "AXFR, incoming.*finished" "$work/$1/log"; then
      grep -o "finished, [0-9.]* seconds" "$work/$1/log" | head -1 | awk '{print $2}'; return
    fi
    if grep -q "AXFR, incoming.*failed" "$work/$1/log"; then echo "failed: $(grep -m1 'failed' "$work/$1/log")" >&2; echo NaN; return; fi
    sleep 0.1
  done
  echo NaN
}

echo "== 1. AXFR of 100,000 peers to a Knot secondary: wgsd-server against NSD as the primary"
python3 bench/gen.py 100000 "$work/d100k" >/dev/null
mkdir -p /var/run/wireguard
python3 bench/uapi_standin.py "/var/run/wireguard/$dev.sock" "$work/d100k/wg.conf" & pids+=($!)
cat >"$work/Corefile" <<COREFILE
example.com.:5400 {
    bind 127.0.0.1
    wgsd example.com. $dev {
        backend uapi
        ns ns1.example.com. 192.0.2.53
    }
    transfer {
        to 127.0.0.1
    }
}
COREFILE
sleep 1
ip netns exec "$ns" build-bench/wgsd-server --conf "$work/Corefile" --state-dir "$work/state" >"$work/wgsd.log" 2>&1 &
pids+=($!); wgsd_pid=$!
start_nsd "$work/d100k/example.com.zone" 5401
for i in $(seq 1 300); do ip netns exec "$ns" kdig +short @127.0.0.1 -p 5401 example.com. SOA 2>/dev/null | grep -q . && break; sleep 0.2; done
for i in $(seq 1 300); do ip netns exec "$ns" kdig +short @127.0.0.1 -p 5400 example.com. SOA 2>/dev/null | grep -q . && break; sleep 0.2; done
: >"$work/row1"
for r in $(seq 1 "$runs"); do
  t0=$(cpu_ticks "$wgsd_pid"); knot_secondary "kw$r" $((5410 + r)) 5400; w=$(axfr_seconds "kw$r"); t1=$(cpu_ticks "$wgsd_pid")
  kill "$knot_pid"
  n0=0; for p in $(nsd_family); do n0=$((n0 + $(cpu_ticks "$p"))); done
  knot_secondary "kn$r" $((5420 + r)) 5401; s=$(axfr_seconds "kn$r")
  n1=0; for p in $(nsd_family); do n1=$((n1 + $(cpu_ticks "$p"))); done
  kill "$knot_pid"
  echo "$w $(( (t1 - t0) * 1000 / hz )) $s $(( (n1 - n0) * 1000 / hz ))" | tee -a "$work/row1"
done
echo "run: wgsd seconds, wgsd CPU ms, NSD seconds, NSD CPU ms (NSD's zone holds 65,535 PTRs: it refuses a larger RRset)"
echo "median: wgsd $(cut -d' ' -f1 "$work/row1" | median) s ($(cut -d' ' -f2 "$work/row1" | median) ms CPU), NSD $(cut -d' ' -f3 "$work/row1" | median) s ($(cut -d' ' -f4 "$work/row1" | median) ms CPU)"
grep -h "AXFR, incoming.*finished" "$work"/kw1/log "$work"/kn1/log | sed 's/^/  knot: /'

echo "== 3. the journal at 100,000 peers, 10 changes a second for 60 s"
rss() { awk '/^VmRSS/ {print $2}' "/proc/$1/status"; }
before=$(rss "$wgsd_pid")
# The stand-in serves its config file as read at start: a second stand-in per change set would be
# slow, so the changes are made by restarting it on an edited copy every second (10 endpoints each).
for s in $(seq 1 60); do
  python3 - "$work/d100k/wg.conf" "$s" <<'PY'
import re, sys
path, step = sys.argv[1], int(sys.argv[2])
text = open(path).read().split("[Peer]")
for i in range(1, 11):
    k = (step * 10 + i) % (len(text) - 1) + 1
    text[k] = re.sub(r"Endpoint = [^\n]*", f"Endpoint = 203.0.113.{i}:{10000 + step}", text[k])
open(path, "w").write("[Peer]".join(text))
PY
  kill "${pids[1]}" 2>/dev/null || true
  python3 bench/uapi_standin.py "/var/run/wireguard/$dev.sock" "$work/d100k/wg.conf" & pids[1]=$!
  sleep 1
done
after=$(rss "$wgsd_pid")
echo "wgsd-server RSS: $before kB before, $after kB after 60 s of changes"
kill "$wgsd_pid" "$nsd_pid" 2>/dev/null || true

echo "== 2. propagation at 10,000 peers: device change -> Knot secondary answers, $changes changes"
python3 bench/gen.py 10000 "$work/d10k" >/dev/null
ip netns exec "$ns" wireguard-go -f "$dev" >"$work/wggo.log" 2>&1 & pids+=($!)
for i in $(seq 1 100); do ip netns exec "$ns" wg show "$dev" >/dev/null 2>&1 && break; sleep 0.1; done
kill "${pids[1]}" 2>/dev/null || true
grep -v '^\(ListenPort\|PrivateKey\)' "$work/d10k/wg.conf" | sed 's/^\[Interface\]/[Interface]\nListenPort = 51820/' >"$work/d10k/set.conf"
ip netns exec "$ns" wg setconf "$dev" "$work/d10k/set.conf"
sed -i 's/backend uapi/backend uapi\n        refresh 250ms/; s/to 127.0.0.1/to 127.0.0.1:5431/' "$work/Corefile"
sed -i "s/^example.com.:5400 {/example.com.:5400 {\n    tsig {\n        secret key.example. $secret\n    }/" "$work/Corefile"
ip netns exec "$ns" build-bench/wgsd-server --conf "$work/Corefile" --state-dir "$work/state" >"$work/wgsd2.log" 2>&1 &
pids+=($!); wgsd_pid=$!
for i in $(seq 1 300); do ip netns exec "$ns" kdig +short @127.0.0.1 -p 5400 example.com. SOA 2>/dev/null | grep -q . && break; sleep 0.2; done
knot_secondary kp 5431 5400 key
axfr_seconds kp >/dev/null
keys=($(grep PublicKey "$work/d10k/wg.conf" | awk '{print $3}' | head -n "$changes"))
: >"$work/row2"
for i in $(seq 0 $((changes - 1))); do
  key=${keys[$i]}
  name=$(python3 -c "import base64,sys; print(base64.b32encode(base64.b64decode(sys.argv[1])).decode() + '._wireguard._udp.example.com.')" "$key")
  addr="203.0.113.$((i % 250 + 1))"
  start=$(date +%s%N)
  ip netns exec "$ns" wg set "$dev" peer "$key" endpoint "$addr:$((20000 + i))"
  for t in $(seq 1 200); do
    [[ $(ip netns exec "$ns" kdig +short +time=1 @127.0.0.1 -p 5431 "$name" A 2>/dev/null) == "$addr" ]] && break
    sleep 0.02
  done
  echo $(( ($(date +%s%N) - start) / 1000000 )) >>"$work/row2"
done
echo "propagation ms: p50 $(pct 50 <"$work/row2"), p99 $(pct 99 <"$work/row2"), max $(sort -n "$work/row2" | tail -1) (refresh 250ms)"
echo "knot: $(grep -c 'IXFR, incoming.*finished' "$work/kp/log") IXFR, $(grep -c 'AXFR, incoming.*finished' "$work/kp/log") AXFR"
echo "machine: $(nproc) CPUs, load $(cut -d' ' -f1-3 /proc/loadavg)"
