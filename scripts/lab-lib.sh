# What the network-namespace labs (nat-lab.sh, roam-lab.sh) share: their arguments, the checks that
# they can run here, narration, bounded waits, veth links, wireguard-go, and the cleanup that stops
# what they started (by PID) and deletes the namespaces they made. Sourced, never run.
#
#   lab_init NAME ID-PREFIX "$@"    parses [--demo] [--build-dir DIR]; sets demo, build, server_bin,
#                                   client_bin, id (unique among live labs), work, and the EXIT trap
#   lab_netns NS...                 creates namespaces (loopback up), deleted on exit
#   lab_wireguard NS IFNAME         starts wireguard-go -f IFNAME in NS, waits for its UAPI socket

# NAME: FAILED/SKIPPED; exit 77 tells ctest the lab skipped. In CI a lab must run.
cannot_run() {
  if [[ "${CI:-}" == "true" ]]; then echo "$lab: FAILED: must run in CI but $1" >&2; exit 1; fi
  echo "$lab: SKIPPED: $1"
  exit 77
}
say() { if ((demo)); then printf '\n\033[1m==> %s\033[0m\n' "$*"; fi; }
show() { if ((demo)); then sed 's/^/    /'; else cat >/dev/null; fi; }
fail() { echo "$lab: FAILED: $*" >&2; exit 1; }
in_ns() { local ns=$1; shift; ip netns exec "$ns" "$@"; }
# Waits up to $1 tenths of a second for the command to succeed. The command runs afresh each try:
# pass a function, never a $(...) that the shell would read once.
wait_for() { local n=$1; shift; for _ in $(seq 1 "$n"); do if "$@" >/dev/null 2>&1; then return 0; fi; sleep 0.1; done; return 1; }

lab_init() {
  lab=$1
  local prefix=$2
  shift 2
  demo=0
  build=""
  while (($#)); do
    case "$1" in
      --demo) demo=1 ;;
      --build-dir) build="$2"; shift ;;
      *) echo "$lab: unknown argument '$1'" >&2; exit 2 ;;
    esac
    shift
  done
  build=${build:-$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)/build}
  server_bin="$build/wgsd-server"
  client_bin="$build/wgsd-client"
  [[ $(id -u) -eq 0 ]] || cannot_run "needs root for network namespaces"
  for tool in ip iptables wireguard-go wg dig ping; do
    command -v "$tool" >/dev/null || cannot_run "needs $tool (run scripts/setup.sh)"
  done
  [[ -x "$server_bin" && -x "$client_bin" ]] || cannot_run "wgsd binaries not built in $build"
  # A PID is at most 0x3fffff: unique among live labs, and short enough for interface names.
  id="$prefix$(printf %x $$)"
  work=$(mktemp -d "/tmp/wgsd-$lab.XXXXXX")
  pids=()
  lab_namespaces=()
  lab_devices=()
  trap lab_cleanup EXIT
  trap 'exit 130' INT TERM
}

lab_cleanup() {
  local rc=$?
  for pid in "${pids[@]}"; do kill "$pid" 2>/dev/null || true; done
  for pid in "${pids[@]}"; do
    for _ in $(seq 1 30); do kill -0 "$pid" 2>/dev/null || break; sleep 0.1; done
    kill -9 "$pid" 2>/dev/null || true
  done
  for ns in "${lab_namespaces[@]}"; do ip netns del "$ns" 2>/dev/null || true; done
  for dev in "${lab_devices[@]}"; do rm -f "/var/run/wireguard/$dev.sock"; done
  if ((rc != 0 && rc != 77)); then
    echo "$lab: logs kept in $work" >&2
    tail -n 20 "$work"/*.log >&2 2>/dev/null || true
  else
    rm -rf "$work"
  fi
  exit "$rc"
}

lab_netns() {
  for ns in "$@"; do
    ip netns add "$ns"
    lab_namespaces+=("$ns")
    in_ns "$ns" ip link set lo up
  done
}

link() {  # link NS_A IF_A NS_B IF_B: a veth between two namespaces
  ip link add "$2-$id" type veth peer name "$4-$id"
  ip link set "$2-$id" netns "$1"; ip link set "$4-$id" netns "$3"
  in_ns "$1" ip link set "$2-$id" name "$2"; in_ns "$3" ip link set "$4-$id" name "$4"
  in_ns "$1" ip link set "$2" up; in_ns "$3" ip link set "$4" up
}

lab_wireguard() {  # lab_wireguard NS IFNAME: its log is $work/IFNAME.log
  ip netns exec "$1" wireguard-go -f "$2" >"$work/$2.log" 2>&1 &
  pids+=($!)
  lab_devices+=("$2")
  wait_for 100 test -S "/var/run/wireguard/$2.sock" || fail "wireguard-go did not start for $2"
}
