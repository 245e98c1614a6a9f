#!/usr/bin/env python3
"""A UAPI device stand-in for benchmarks: serves a WireGuard device on a unix socket as
wireguard-go would, for peer counts wireguard-go refuses (it stops at 65,536 peers) and for a
mesh whose handshakes move.

- `get=1` answers the device's peers, as wireguard-go does.
- `set=1` applies what `wg set` and `wg setconf` send (an endpoint, a new peer with its allowed
  IPs, `remove`, keepalive, preshared key, listen port, `replace_peers`, `update_only`) to the
  served peers and answers errno=0. A request with an unknown or malformed line, or an unknown
  operation, changes nothing and gets errno=-22 (-EINVAL, what wireguard-go answers it).
- When WG.CONF changes (its modification time), the peers are read from it again: what `set=1`
  changed is replaced, as `wg setconf` would.
- `--churn SECONDS`: every peer's last handshake renews every SECONDS (120 is WireGuard's rekey),
  each at its own phase (from its key), so that at any second about N/SECONDS peers show a new
  handshake time, as in a live mesh. Without it no peer has a handshake (time 0).

A reply is built at most once per second and per change (handshake times have whole seconds), from
text kept per peer; each build's time goes to stderr as "built get=1 of N peers in X ms".

usage: uapi_standin.py SOCKET WG.CONF [--churn SECONDS]"""
import argparse, base64, ipaddress, os, socket, sys, threading, time, zlib

EINVAL = 22

parser = argparse.ArgumentParser(description="UAPI device stand-in (benchmarks only)")
parser.add_argument("socket")
parser.add_argument("conf")
parser.add_argument("--churn", type=int, default=0, metavar="SECONDS", help="renew each peer's handshake every SECONDS (0: none)")
args = parser.parse_args()
if args.churn < 0:
    parser.error(f"--churn must be 0 or more seconds, got {args.churn}")


class Bad(Exception):
    pass


def key_hex(value):
    if len(value) != 64:
        raise Bad(f"key of {len(value)} hex digits")
    bytes.fromhex(value)  # ValueError when not hex
    return value.lower()


def endpoint(value):
    """'IP:PORT' or '[IPv6]:PORT' -> the text wireguard-go prints for it."""
    host, sep, port = value.rpartition(":")
    if not sep or not port.isdigit() or int(port) > 65535:
        raise Bad(f"endpoint {value!r}")
    if host.startswith("[") and host.endswith("]"):
        host = host[1:-1]
    address = ipaddress.ip_address(host)
    return f"[{address.compressed}]:{int(port)}" if address.version == 6 else f"{address}:{int(port)}"


def number(value, limit):
    if not value.isdigit() or int(value) > limit:
        raise Bad(f"number {value!r}")
    return int(value)


def one(value):
    if value != "1":
        raise Bad(f"protocol_version {value!r}")
    return 1


def true(value):
    if value != "true":
        raise Bad(f"flag {value!r}")
    return True


class Peer:
    __slots__ = ("key", "endpoint", "psk", "keepalive", "allowed", "phase", "pre", "post")

    def __init__(self, key):
        self.key, self.endpoint, self.psk, self.keepalive, self.allowed = key, None, "0" * 64, 0, []
        self.phase = zlib.crc32(bytes.fromhex(key)) % args.churn if args.churn else 0
        self.render()

    def render(self):
        """The peer's reply text around its handshake line, kept until the peer changes."""
        self.pre = f"public_key={self.key}\npreshared_key={self.psk}\nprotocol_version=1\n" + (f"endpoint={self.endpoint}\n" if self.endpoint else "")
        self.post = (f"last_handshake_time_nsec=0\ntx_bytes=0\nrx_bytes=0\npersistent_keepalive_interval={self.keepalive}\n" +
                     "".join(f"allowed_ip={a}\n" for a in self.allowed))


class Device:
    def __init__(self):
        self.private_key, self.listen_port, self.fwmark = "08" * 31 + "40", 51820, 0
        self.peers = {}  # hex key -> Peer, in the order they were added


lock = threading.Lock()
device = Device()
version = [0]  # bumped by every change
cache = {"at": None, "reply": b""}


def read_conf(path):
    peers = {}
    for block in open(path).read().split("[Peer]")[1:]:
        fields = dict(l.split(" = ", 1) for l in block.strip().splitlines() if " = " in l)
        p = Peer(base64.b64decode(fields["PublicKey"]).hex())
        if "Endpoint" in fields:
            p.endpoint = endpoint(fields["Endpoint"].strip())
        p.allowed = [ipaddress.ip_network(a.strip(), strict=False).compressed for a in fields.get("AllowedIPs", "").split(",") if a.strip()]
        p.render()
        peers[p.key] = p
    return peers


def reply():
    """The get=1 answer now: rebuilt when a second has passed (with --churn) or the peers changed."""
    now = int(time.time())
    with lock:
        at = (now if args.churn else 0, version[0])
        if cache["at"] == at:
            return cache["reply"]
        start = time.perf_counter()
        d, churn = device, args.churn
        head = f"private_key={d.private_key}\nlisten_port={d.listen_port}\n" + (f"fwmark={d.fwmark}\n" if d.fwmark else "")
        if churn:
            body = "".join([f"{p.pre}last_handshake_time_sec={now - (now - p.phase) % churn}\n{p.post}" for p in d.peers.values()])
        else:
            body = "".join([f"{p.pre}last_handshake_time_sec=0\n{p.post}" for p in d.peers.values()])
        cache["reply"], cache["at"] = (head + body + "errno=0\n\n").encode(), at
        print(f"built get=1 of {len(d.peers)} peers in {(time.perf_counter() - start) * 1000:.1f} ms", file=sys.stderr, flush=True)
        return cache["reply"]


def apply_set(lines):
    """Applies a set=1 request's lines, all or nothing; raises Bad (or ValueError) on a bad line."""
    changes = []  # (peer key or None for the device, [(name, value)...])
    for line in lines:
        name, sep, value = line.partition("=")
        if not sep:
            raise Bad(f"line {line!r}")
        if name == "public_key":
            changes.append((key_hex(value), []))
        elif changes:
            parse = {"remove": true, "update_only": true, "replace_allowed_ips": true, "preshared_key": key_hex, "endpoint": endpoint,
                     "persistent_keepalive_interval": lambda v: number(v, 65535), "protocol_version": one,
                     "allowed_ip": lambda v: ipaddress.ip_network(v, strict=False).compressed}.get(name)
            if parse is None:
                raise Bad(f"peer key {name!r}")
            changes[-1][1].append((name, parse(value)))
        else:
            parse = {"private_key": key_hex, "listen_port": lambda v: number(v, 65535), "fwmark": lambda v: number(v, 2**32 - 1),
                     "replace_peers": true}.get(name)
            if parse is None:
                raise Bad(f"device key {name!r}")
            changes.append((None, [(name, parse(value))]))
    with lock:
        for key, fields in changes:
            if key is None:
                name, value = fields[0]
                if name == "replace_peers":
                    device.peers = {}
                else:
                    setattr(device, name, value)
                continue
            f = dict(fields)
            if "remove" in f:
                device.peers.pop(key, None)
                continue
            p = device.peers.get(key)
            if p is None:
                if "update_only" in f:
                    continue
                p = device.peers[key] = Peer(key)
            if "replace_allowed_ips" in f:
                p.allowed = []
            for name, value in fields:
                if name == "endpoint":
                    p.endpoint = value
                elif name == "preshared_key":
                    p.psk = value
                elif name == "persistent_keepalive_interval":
                    p.keepalive = value
                elif name == "allowed_ip" and value not in p.allowed:
                    p.allowed.append(value)
            p.render()
        version[0] += 1


def load():
    peers = read_conf(args.conf)  # outside the lock: a get=1 meanwhile gets the peers before
    with lock:
        device.peers = peers
        version[0] += 1


def watch():
    """Reads WG.CONF again when it changes, beside the readers: a get=1 is answered at once with
    the peers of the last whole file, never held up by the re-read."""
    mtime = os.stat(args.conf).st_mtime_ns
    while True:
        time.sleep(0.05)
        try:
            now = os.stat(args.conf).st_mtime_ns
            if now != mtime:
                mtime = now
                load()
                reply()  # built here, not by the next reader
        except (OSError, KeyError, ValueError, Bad) as e:
            print(f"uapi_standin: {args.conf}: {e}", file=sys.stderr, flush=True)


def serve(conn):
    with conn:
        request = b""
        while b"\n\n" not in request:
            chunk = conn.recv(65536)
            if not chunk:
                return
            request += chunk
        lines = request.split(b"\n\n", 1)[0].decode("utf-8", "replace").split("\n")
        if lines[0] == "get=1" and len(lines) == 1:
            conn.sendall(reply())
            return
        errno = -EINVAL
        if lines[0] == "set=1":
            try:
                apply_set(lines[1:])
                errno = 0
            except (Bad, ValueError) as e:
                print(f"uapi_standin: set=1 refused: {e}", file=sys.stderr, flush=True)
        else:
            print(f"uapi_standin: unknown operation {lines[0]!r}", file=sys.stderr, flush=True)
        conn.sendall(f"errno={errno}\n\n".encode())


load()
reply()
threading.Thread(target=watch, daemon=True).start()
if os.path.exists(args.socket):
    os.unlink(args.socket)
server = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
server.bind(args.socket)
server.listen(64)
while True:
    c, _ = server.accept()
    threading.Thread(target=serve, args=(c,), daemon=True).start()
