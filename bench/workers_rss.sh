#!/usr/bin/env bash
# Resident memory of wgsd-server with 1 and with 8 UDP workers, same load: a device of PEERS peers
# (20,000 by default) whose endpoints change on every read, read every REFRESH, and a light query
# load spread over the workers (a new source port per query). Idle workers must not keep replaced
# snapshots alive, so the two figures should be close.
#
# usage: bench/workers_rss.sh [SERVER-BINARY] (default build/wgsd-server; root, for the UAPI socket dir)
# env: PEERS (20000) REFRESH (200ms) SECONDS_RUN (20) QPS (200)
set -euo pipefail
cd "$(dirname "$0")/.."
server=${1:-build/wgsd-server}
peers=${PEERS:-20000}
refresh=${REFRESH:-200ms}
run=${SECONDS_RUN:-20}
qps=${QPS:-200}
[[ -x $server ]] || { echo "workers_rss.sh: no server binary at $server" >&2; exit 1; }
[[ $(id -u) -eq 0 ]] || { echo "workers_rss.sh: needs root (/var/run/wireguard)" >&2; exit 1; }

work=$(mktemp -d /tmp/wgsd-rss.XXXXXX)
dev="wgrss$$"; dev=${dev:0:15}
sock="/var/run/wireguard/$dev.sock"
pids=()
cleanup() {
  local pid
  for pid in "${pids[@]}"; do kill "$pid" 2>/dev/null || true; done
  sleep 0.3
  for pid in "${pids[@]}"; do kill -9 "$pid" 2>/dev/null || true; done
  rm -f "$sock"
  rm -rf "$work"
}
trap cleanup EXIT
mkdir -p /var/run/wireguard

# A UAPI device whose every `get` reply carries other endpoint ports: a new snapshot per read.
cat >"$work/standin.py" <<'EOF'
import os, socket, sys, threading
path, peers = sys.argv[1], int(sys.argv[2])
head = "private_key=" + "08" * 31 + "40\nlisten_port=51820\nfwmark=0\n"
keys = [os.urandom(32).hex() for _ in range(peers)]
reads = [0]
def reply():
    reads[0] += 1
    r = reads[0]
    out = [head]
    for i, k in enumerate(keys):
        out.append("public_key=%s\nendpoint=198.51.%d.%d:%d\nlast_handshake_time_sec=0\n"
                   "last_handshake_time_nsec=0\nallowed_ip=10.%d.%d.0/24\n"
                   % (k, (i >> 8) & 255, i & 255, 1024 + (i + r) % 60000, (i >> 8) & 255, i & 255))
    out.append("errno=0\n\n")
    return "".join(out).encode()
def serve(conn):
    with conn:
        request = b""
        while b"\n\n" not in request:
            chunk = conn.recv(65536)
            if not chunk:
                return
            request += chunk
        conn.sendall(reply() if request.startswith(b"get=1") else b"errno=0\n\n")
if os.path.exists(path):
    os.unlink(path)
s = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
s.bind(path)
s.listen(16)
while True:
    c, _ = s.accept()
    threading.Thread(target=serve, args=(c,), daemon=True).start()
EOF

# Queries from a new source port each (SO_REUSEPORT spreads them over the workers), QPS a second.
cat >"$work/load.py" <<'EOF'
import socket, struct, sys, time
port, qps, seconds = int(sys.argv[1]), int(sys.argv[2]), float(sys.argv[3])
name = b"".join(bytes([len(l)]) + l for l in b"_wireguard._udp.rss.test".split(b".")) + b"\0"
query = struct.pack("!6H", 0x1234, 0, 1, 0, 0, 0) + name + struct.pack("!2H", 12, 1)
end = time.time() + seconds
while time.time() < end:
    s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    s.settimeout(1)
    s.sendto(query, ("127.0.0.1", port))
    try:
        s.recv(65535)
    except OSError:
        pass
    s.close()
    time.sleep(1.0 / qps)
EOF

python3 "$work/standin.py" "$sock" "$peers" &
pids+=($!)
for _ in $(seq 1 100); do [[ -S $sock ]] && break; sleep 0.1; done

measure() {
  local workers=$1 port=$2
  printf '.:%s {\n bind 127.0.0.1\n wgsd rss.test. %s {\n  backend uapi\n  refresh %s\n  ns ns1.rss.test. 127.0.0.1\n }\n}\n' "$port" "$dev" "$refresh" >"$work/Corefile"
  "$server" --conf "$work/Corefile" --workers "$workers" >"$work/server-$workers.log" 2>&1 &
  local pid=$!
  pids+=($pid)
  sleep 2
  python3 "$work/load.py" "$port" "$qps" "$run"
  local rss hwm
  rss=$(awk '/^VmRSS/ {print $2}' "/proc/$pid/status")
  hwm=$(awk '/^VmHWM/ {print $2}' "/proc/$pid/status")
  kill "$pid"
  wait "$pid" 2>/dev/null || true
  echo "$workers $rss $hwm"
}

port=$((20000 + $$ % 20000))
read -r _ rss1 hwm1 < <(measure 1 "$port")
read -r _ rss8 hwm8 < <(measure 8 "$((port + 1))")
echo "peers=$peers refresh=$refresh load=${qps}/s for ${run}s server=$server"
echo "--workers 1: VmRSS $((rss1 / 1024)) MB (peak $((hwm1 / 1024)) MB)"
echo "--workers 8: VmRSS $((rss8 / 1024)) MB (peak $((hwm8 / 1024)) MB)"
awk -v a="$rss8" -v b="$rss1" 'BEGIN { printf "ratio 8/1: %.2f\n", a / b }'
