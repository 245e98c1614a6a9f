#!/usr/bin/env python3
"""A UAPI device stand-in for peer counts wireguard-go refuses (it stops at 65,536 peers): serves
the `get=1` reply for the peers of a wg(8) config file on a unix socket, as wireguard-go would,
and answers `set=1` with errno=0. When the file changes (its modification time), the next `get=1`
serves the new peers. Only for benchmarks.

usage: uapi_standin.py SOCKET WG.CONF"""
import base64, os, socket, sys, threading, time

path, conf = sys.argv[1], sys.argv[2]
def build():
    lines = ["private_key=" + "08" * 31 + "40", "listen_port=51820", "fwmark=0"]
    for block in open(conf).read().split("[Peer]")[1:]:
        fields = dict(l.split(" = ", 1) for l in block.strip().splitlines() if " = " in l)
        lines.append("public_key=" + base64.b64decode(fields["PublicKey"]).hex())
        lines += ["preshared_key=" + "0" * 64, "protocol_version=1"]
        if "Endpoint" in fields:
            lines.append("endpoint=" + fields["Endpoint"])
        lines += ["last_handshake_time_sec=0", "last_handshake_time_nsec=0", "tx_bytes=0", "rx_bytes=0", "persistent_keepalive_interval=0"]
        lines += ["allowed_ip=" + a.strip() for a in fields.get("AllowedIPs", "").split(",") if a.strip()]
    return ("\n".join(lines) + "\nerrno=0\n\n").encode()

state = {"mtime": os.stat(conf).st_mtime_ns, "reply": build()}

def watch():
    """Rebuilds the reply when the file changes, beside the readers: a get=1 is answered at once
    with the reply of the last whole file, never held up by a rebuild."""
    while True:
        time.sleep(0.05)
        try:
            mtime = os.stat(conf).st_mtime_ns
            if mtime != state["mtime"]:
                state["reply"], state["mtime"] = build(), mtime
        except (OSError, KeyError, ValueError):
            pass

threading.Thread(target=watch, daemon=True).start()

def current():
    return state["reply"]

def serve(conn):
    with conn:
        request = b""
        while b"\n\n" not in request:
            chunk = conn.recv(65536)
            if not chunk:
                return
            request += chunk
        conn.sendall(current() if request.startswith(b"get=1") else b"errno=0\n\n")

if os.path.exists(path):
    os.unlink(path)
server = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
server.bind(path)
server.listen(16)
while True:
    c, _ = server.accept()
    threading.Thread(target=serve, args=(c,), daemon=True).start()
