# The other servers of bench/run.sh (sourced after lib.sh, inside its namespace): Knot DNS and NSD
# serving a zone file on 127.0.0.1 with one UDP worker per core, and the floor (bench/floor.cpp).
# Each start_* appends its PID to pids and sets NAME_pid; logs go to $work/NAME.log.

# start_knot ZONEFILE PORT [KEY_NAME KEY_SECRET]: with a key, Knot verifies queries signed with it
# (hmac-sha256) and signs their answers (Knot knows a key for queries only when an acl of the zone
# names it).
start_knot() {
  rm -rf "$work/knot"; mkdir -p "$work/knot"
  local key="" zone_acl=""
  if [[ -n ${3:-} ]]; then
    key=$(printf 'key:\n  - id: %s\n    algorithm: hmac-sha256\n    secret: %s\nacl:\n  - id: signed\n    key: %s\n    action: transfer\n' "$3" "$4" "$3")
    zone_acl="    acl: signed"
  fi
  cat >"$work/knot.conf" <<KNOT
$key
server:
    listen: 127.0.0.1@$2
    rundir: "$work/knot"
    udp-workers: $(nproc)
    tcp-workers: 1
    background-workers: 1
database:
    storage: "$work/knot"
zone:
  - domain: example.com.
    file: "$1"
    journal-content: none
    zonefile-sync: -1
    semantic-checks: off
$zone_acl
log:
  - target: stderr
    any: info
KNOT
  ip netns exec "$ns" knotd -c "$work/knot.conf" >"$work/knot.log" 2>&1 &
  pids+=($!); knot_pid=$!
}

# start_nsd ZONEFILE PORT [xfr]: with xfr, NSD lets 127.0.0.1 transfer the zone (bench/xfr.sh).
start_nsd() {
  cat >"$work/nsd.conf" <<NSD
server:
    ip-address: 127.0.0.1@$2
    server-count: $(nproc)
    username: ""
    chroot: ""
    zonesdir: "$(dirname "$1")"
    pidfile: "$work/nsd.pid"
    database: ""
    xfrdfile: "$work/xfrd.state"
    zonelistfile: "$work/zone.list"
    verbosity: 0
    hide-version: yes
    # Response rate limiting would drop the benchmark's NXDOMAIN answers: off, as in Knot's default.
    rrl-ratelimit: 0
remote-control:
    control-enable: no
zone:
    name: example.com.
    zonefile: "$(basename "$1")"
NSD
  [[ ${3:-} == xfr ]] && echo "    provide-xfr: 127.0.0.1 NOKEY" >>"$work/nsd.conf"
  : >"$work/nsd.log"
  ip netns exec "$ns" nsd -d -c "$work/nsd.conf" >"$work/nsd.log" 2>&1 &
  pids+=($!); nsd_pid=$!
}

# start_floor PORT
start_floor() {
  ip netns exec "$ns" build-bench/wgsd-floor 127.0.0.1 "$1" >"$work/floor.log" 2>&1 &
  pids+=($!); floor_pid=$!
  local _
  for _ in $(seq 1 50); do grep -q answering "$work/floor.log" && return; sleep 0.1; done
  echo "bench: the floor did not start:" >&2; cat "$work/floor.log" >&2; return 1
}

# NSD forks a server process per core under its main process: count the whole family.
nsd_family() { pgrep -f "nsd -d -c $work/nsd.conf"; }
# server_cpu NAME, server_rss NAME: CPU ticks and RSS (kB) of a server, all its processes.
server_cpu() {
  local t=0 p
  if [[ $1 == nsd ]]; then for p in $(nsd_family); do t=$((t + $(cpu_ticks "$p"))); done
  else p="${1}_pid"; t=$(cpu_ticks "${!p}"); fi
  echo "$t"
}
server_rss() {
  local t=0 p
  if [[ $1 == nsd ]]; then for p in $(nsd_family); do t=$((t + $(rss_kb "$p"))); done
  else p="${1}_pid"; t=$(rss_kb "${!p}"); fi
  echo "$t"
}

# broken_zone SERVER ZONEFILE -> a zone file for SERVER that is deliberately wrong, to show that
# the comparison refuses it (run.sh --break-zone): Knot gets the owner names with a bare '='
# (which it refuses as a whole), NSD a zone without every tenth SRV record (which it loads).
broken_zone() {
  local bad="$work/broken-$1.zone"
  case $1 in
    knot) sed 's/\\=/=/g' "$2" >"$bad" ;;
    nsd) awk '/ IN SRV / && n++ % 10 == 0 {next} {print}' "$2" >"$bad" ;;
    *) echo "bench: --break-zone takes knot or nsd, got '$1'" >&2; return 2 ;;
  esac
  echo "$bad"
}
