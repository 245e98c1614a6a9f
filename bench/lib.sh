# Shared by the benchmark scripts (sourced): prerequisites, the build, one network namespace with
# everything started in it stopped by PID on exit, and a wireguard-go device in it.

# bench_options NAME "VAR=--flag ..." "$@": each --flag VALUE given sets VAR (its default is what
# VAR held before); anything else, or a flag without its value, stops the script naming it.
bench_options() {
  local name=$1 spec=$2 pair matched
  shift 2
  while (($#)); do
    matched=0
    for pair in $spec; do
      [[ "$1" == "${pair#*=}" ]] || continue
      (($# >= 2)) || { echo "$name: $1 needs a value" >&2; exit 2; }
      printf -v "${pair%%=*}" '%s' "$2"
      matched=1
      shift
      break
    done
    ((matched)) || { echo "$name: unknown argument '$1'" >&2; exit 2; }
    shift
  done
}

# bench_prepare NAME PACKAGE...: root, the project's packages plus these, a Release build of wgsd-server.
bench_prepare() {
  local name=$1; shift
  [[ $(id -u) -eq 0 ]] || { echo "$name: needs root (network namespaces)" >&2; exit 1; }
  bash scripts/setup.sh >/dev/null
  local p
  for p in "$@"; do
    dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q 'install ok installed' || \
      DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends "$p" >/dev/null
  done
  cmake -S . -B build-bench -DCMAKE_BUILD_TYPE=Release >/dev/null
  cmake --build build-bench -j"$(nproc)" --target wgsd-server >/dev/null
}

# bench_namespace PREFIX: sets ns, dev (an interface name unique to this run), work (a scratch
# directory) and pids (append every background PID); all of it goes on exit.
bench_namespace() {
  ns="${1}ns$$"
  dev="wg${1:0:6}$(printf %x $$)"  # at most 14 characters, unique among live runs
  work=$(mktemp -d "/tmp/wgsd-$1.XXXXXX")
  pids=()
  trap bench_cleanup EXIT
  ip netns add "$ns"
  ip netns exec "$ns" ip link set lo up
}

bench_cleanup() {
  local pid
  for pid in "${pids[@]}"; do kill "$pid" 2>/dev/null || true; done
  # Anything else still running in the namespace (daemons' own children) goes too.
  ip netns pids "$ns" 2>/dev/null | xargs -r kill 2>/dev/null || true
  sleep 0.5
  for pid in "${pids[@]}"; do kill -9 "$pid" 2>/dev/null || true; done
  ip netns del "$ns" 2>/dev/null || true
  rm -f "/var/run/wireguard/$dev.sock"
  rm -rf "$work"
}

in_ns() { ip netns exec "$ns" "$@"; }

# start_wireguard_go CONF: wireguard-go in the foreground in the namespace, configured from a
# wg(8) config file; sets wgpid.
start_wireguard_go() {
  ip netns exec "$ns" wireguard-go -f "$dev" >"$work/wg.log" 2>&1 &
  pids+=($!); wgpid=$!
  local _
  for _ in $(seq 1 100); do [[ -S "/var/run/wireguard/$dev.sock" ]] && break; sleep 0.1; done
  in_ns wg setconf "$dev" "$1"
}

# start_device N CONF: the device of N peers from a wg(8) config file: wireguard-go, or past its
# limit of 65,536 peers bench/uapi_standin.py serving the same dump. Sets wgpid and device_kind.
start_device() {
  if (($1 <= 65536)); then
    start_wireguard_go "$2"
    device_kind="wireguard-go"
    return
  fi
  start_standin "$2"
  device_kind="UAPI stand-in (bench/uapi_standin.py)"
}

# start_standin WG_CONF [OPTION...]: bench/uapi_standin.py serving WG_CONF's peers on $dev's UAPI
# socket (OPTIONs go to it: --churn SECONDS), until the socket is there (at most a minute); sets wgpid.
start_standin() {
  rm -f "/var/run/wireguard/$dev.sock"  # a stopped stand-in's: not waited for as if it were the new one's
  python3 bench/uapi_standin.py "/var/run/wireguard/$dev.sock" "$@" 2>>"$work/standin.log" &
  pids+=($!); wgpid=$!
  local _
  for _ in $(seq 1 600); do [[ -S "/var/run/wireguard/$dev.sock" ]] && break; sleep 0.1; done
}

# start_wgsd CONF PORT LOG [BINARY]: wgsd-server (build-bench's unless BINARY is given) in the
# namespace, until it answers on PORT; sets wgsd_pid.
start_wgsd() {
  ip netns exec "$ns" "${4:-build-bench/wgsd-server}" --conf "$1" >>"$3" 2>&1 &
  pids+=($!); wgsd_pid=$!
  wait_answering "$2"
}

# Measurements shared by run.sh, ab.sh and interference.sh (they set `seconds`).

# utime + stime; the fields are counted after the command name, which may hold spaces ("nsd: main").
cpu_ticks() { sed 's/.*) //' "/proc/$1/stat" | awk '{print $12 + $13}'; }
rss_kb() { awk '/VmRSS/ {print $2}' "/proc/$1/status"; }
hz=$(getconf CLK_TCK)
# us_per_query TICKS COMPLETED -> server CPU microseconds per completed query
us_per_query() { awk -v d="$1" -v hz="$hz" -v c="$2" 'BEGIN {printf "%.2f", c ? d / hz / c * 1e6 : 0}'; }
median() { tr ' ' '\n' | grep -v '^$' | sort -g | awk '{v[NR]=$1} END {print v[int((NR+1)/2)]}'; }

# wait_answering PORT: until the server on 127.0.0.1:PORT answers the zone's SOA (at most 2 min).
wait_answering() {
  local _
  for _ in $(seq 1 600); do
    [[ "$(in_ns dig +short +time=1 +tries=1 -p "$1" @127.0.0.1 example.com. SOA 2>/dev/null)" == ns1.* ]] && return
    sleep 0.2
  done
}

# wait_loaded NAME PORT LOG: like wait_answering, but gives up as soon as LOG shows an error, and
# fails (with the log shown) unless the server answers the SOA and its log has no error.
wait_loaded() {
  local _
  for _ in $(seq 1 600); do
    grep -qiE 'error:|\[ERROR\]' "$3" && break
    [[ "$(in_ns dig +short +time=1 +tries=1 -p "$2" @127.0.0.1 example.com. SOA 2>/dev/null)" == ns1.* ]] && break
    sleep 0.2
  done
  if grep -qiE 'error:|\[ERROR\]' "$3" ||
     [[ "$(in_ns dig +short +time=1 +tries=1 -p "$2" @127.0.0.1 example.com. SOA 2>/dev/null)" != ns1.* ]]; then
    echo "bench: $1 did not load the zone (no SOA on port $2, or an error in its log); $3:" >&2
    if grep -qiE 'error:|\[ERROR\]' "$3"; then
      grep -iE -m 5 'error:|\[ERROR\]' "$3" >&2
      echo "($(grep -ciE 'error:|\[ERROR\]' "$3") error lines in all)" >&2
    else
      tail -n 5 "$3" >&2
    fi
    return 1
  fi
}

# run_dnsperf PORT FILE MODE [FLAG...] -> "qps avg_ms lost completed rcodes response_bytes", rcodes
# as "NOERROR:89.95,NXDOMAIN:10.05" (each code's share of the answers, in percent). FLAGs go to
# dnsperf as they are (-e: queries with EDNS).
run_dnsperf() {
  in_ns dnsperf -s 127.0.0.1 -p "$1" -d "$2" -m "$3" -l "$seconds" -c 8 -T 1 -q 200 -t 2 "${@:4}" 2>&1 |
    awk '/Queries completed:/ {c=$3} /Queries lost:/ {l=$3} /Queries per second:/ {q=$4} /Average Latency/ {a=$4*1000}
         /Response codes:/ {sub(/.*Response codes: */, ""); n = split($0, f, /, /); r = "";
                            for (i = 1; i <= n; i++) {split(f[i], w, " "); gsub(/[(%)]/, "", w[3]); r = r (i > 1 ? "," : "") w[1] ":" w[3]}}
         /Average packet size:/ {b=$NF}
         END {printf "%.0f %.3f %d %d %s %d\n", q, a, l, c, r == "" ? "none" : r, b}'
}

# rcode_spread SHARES... -> the largest difference, in percentage points, between the shares of
# any rcode in the lists given (each as run_dnsperf prints them; a code missing from one is 0%).
rcode_spread() {
  printf '%s\n' "$@" | awk -F, '{for (i = 1; i <= NF; i++) {split($i, kv, ":"); v[NR, kv[1]] = kv[2]; codes[kv[1]] = 1}}
    END {m = 0; for (k in codes) {lo = 100; hi = 0; for (r = 1; r <= NR; r++) {x = v[r, k] + 0; if (x < lo) lo = x; if (x > hi) hi = x}
         if (hi - lo > m) m = hi - lo}; printf "%.2f\n", m}'
}

# latency PORT FILE QPS -> "p50_ms p99_ms": a paced run with per-query latencies
latency() {
  in_ns dnsperf -s 127.0.0.1 -p "$1" -d "$2" -l "$seconds" -Q "$3" -c 4 -T 1 -v 2>/dev/null |
    awk '$1 == ">" {print $NF * 1000}' | sort -n |
    awk '{v[NR]=$1} END {if (NR == 0) {print "nan nan"} else {printf "%.3f %.3f\n", v[int(NR*0.5)+1], v[int(NR*0.99)+1]}}'
}
