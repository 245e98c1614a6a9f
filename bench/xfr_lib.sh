# The helpers of bench/xfr.sh (sourced after lib.sh, inside its namespace; they use work, ns, dev,
# secret, pids): Knot secondaries, the comparison of a secondary's zone with its primary's,
# wgsd-server's configuration and its metrics.

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
      # A query's TXT answer carries the handshake time, which the transfer leaves out by design.
      a=$(in_ns kdig +short +tcp @127.0.0.1 -p "$p" "$name" "$t" | sed 's/ "handshake=[0-9]*"//' | sort)
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

# metric NAME [LABEL...]: the value of the first sample of NAME whose labels hold every LABEL
# (as written in the scrape: 'type="ixfr"'), from wgsd-server's /metrics; empty when none.
metric() {
  in_ns curl -s -m 5 http://127.0.0.1:9153/metrics |
    awk -v m="$1" -v want="${*:2}" 'index($0, m "{") == 1 {n = split(want, w, " "); ok = 1
      for (i = 1; i <= n; i++) if (index($1, w[i]) == 0) ok = 0
      if (ok) {print $2; exit}}'
}

# standin_check WG_CONF: the stand-in on $dev applies what wg(8) sets (an endpoint, a new peer with
# allowed IPs, its removal) and shows it to `wg show`, and refuses a malformed request with a
# nonzero errno; the device is as before afterwards. Returns 1, saying what went wrong, otherwise.
standin_check() {
  local key old new got
  key=$(awk '/^PublicKey/ {print $3; exit}' "$1")
  old=$(in_ns wg show "$dev" endpoints | awk -v k="$key" '$1 == k {print $2}')
  in_ns wg set "$dev" peer "$key" endpoint 192.0.2.1:4242
  got=$(in_ns wg show "$dev" endpoints | awk -v k="$key" '$1 == k {print $2}')
  [[ $got == 192.0.2.1:4242 ]] || { echo "  stand-in: endpoint set, wg show says '$got'" >&2; return 1; }
  in_ns wg set "$dev" peer "$key" endpoint "$old"
  new=$(wg genkey | wg pubkey)
  in_ns wg set "$dev" peer "$new" allowed-ips 10.255.0.1/32,fd00:ff::1/128 endpoint '[2001:db8::1]:51820'
  got=$(in_ns wg show "$dev" allowed-ips | awk -v k="$new" '$1 == k {$1 = ""; print}')
  [[ $got == " 10.255.0.1/32 fd00:ff::1/128" ]] || { echo "  stand-in: new peer's allowed IPs '$got'" >&2; return 1; }
  in_ns wg set "$dev" peer "$new" remove
  got=$(in_ns wg show "$dev" peers | grep -c -- "$new" || true)
  [[ $got == 0 ]] || { echo "  stand-in: a removed peer is still listed" >&2; return 1; }
  got=$(python3 - "/var/run/wireguard/$dev.sock" <<'PY'
import socket, sys
s = socket.socket(socket.AF_UNIX); s.connect(sys.argv[1])
s.sendall(b"set=1\npublic_key=" + b"0" * 63 + b"\nendpoint=192.0.2.1\n\n")  # a short key, an endpoint without a port
print(s.recv(100).decode().strip())
PY
)
  [[ $got == errno=-22 ]] || { echo "  stand-in: a malformed set=1 got '$got', not errno=-22" >&2; return 1; }
  got=$(in_ns wg show "$dev" peers | wc -l)
  echo "  stand-in checked: wg set of an endpoint, of a new peer with allowed IPs and its removal applied; a malformed set=1 refused ($got peers)"
}

# get_times LOG [FROM_LINE] -> "median max" milliseconds of the stand-in's get=1 builds it logged.
get_times() {
  tail -n +"${2:-1}" "$1" | awk '/^built get=1/ {print $(NF - 1)}' | sort -g |
    awk '{v[NR] = $1} END {if (NR) printf "%s %s (%d builds)\n", v[int((NR + 1) / 2)], v[NR], NR; else print "none"}'
}
