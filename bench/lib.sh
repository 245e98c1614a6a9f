# Shared by the benchmark scripts (sourced): prerequisites, the build, one network namespace with
# everything started in it stopped by PID on exit, and a wireguard-go device in it.

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
  dev="wg${1}$$"; dev=${dev:0:15}
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
