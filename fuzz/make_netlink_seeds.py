#!/usr/bin/env python3
"""Writes netlink seeds for fuzz_netlink: WG_CMD_GET_DEVICE dumps shaped as the kernel sends them
(device attributes, nested peers, allowed IPs, a peer split over two messages, NLMSG_DONE/ERROR).
The kernel module is not on the machines that made this corpus, so the bytes are built here."""
import os, socket, struct, sys

def attr(t, payload, nested=False):
    t |= 0x8000 if nested else 0
    n = 4 + len(payload)
    return struct.pack("=HH", n, t) + payload + b"\0" * ((4 - n % 4) % 4)

def msg(payload, typ=0x1b, flags=2, seq=1):
    body = struct.pack("=BBH", 0, 1, 0) + payload  # genlmsghdr: WG_CMD_GET_DEVICE, version 1
    return struct.pack("=IHHII", 16 + len(body), typ, flags, seq, 4242) + body

def sockaddr4(ip, port):
    return struct.pack("=H", socket.AF_INET) + struct.pack("!H", port) + socket.inet_aton(ip) + b"\0" * 8

def sockaddr6(ip, port):
    return struct.pack("=H", socket.AF_INET6) + struct.pack("!HI", port, 0) + socket.inet_pton(socket.AF_INET6, ip) + struct.pack("=I", 0)

def allowed(family, ip, cidr):
    raw = socket.inet_pton(family, ip)
    return attr(0, attr(1, struct.pack("=H", family)) + attr(2, raw) + attr(3, bytes([cidr])), nested=True)

def peer(index, key, extra=b"", ips=b""):
    return attr(index, attr(1, key) + extra + attr(9, ips, nested=True), nested=True)

def device(peers, first=True):
    head = attr(1, struct.pack("=I", 7)) + attr(2, b"wg0\0") if first else b""
    if first:
        head += attr(4, bytes(range(32))) + attr(6, struct.pack("=H", 51820)) + attr(7, struct.pack("=I", 0))
    return head + attr(8, peers, nested=True)

done = struct.pack("=IHHII", 20, 3, 2, 1, 4242) + struct.pack("=i", 0)
k1, k2 = bytes([1] * 32), bytes([2] * 32)
p1 = peer(0, k1, attr(4, sockaddr4("198.51.100.7", 40001)) + attr(5, struct.pack("=H", 25)) +
          attr(6, struct.pack("=qq", 1700000000, 5)) + attr(7, struct.pack("=Q", 10)) + attr(8, struct.pack("=Q", 20)),
          allowed(socket.AF_INET, "10.0.0.1", 32))
p2 = peer(1, k2, attr(4, sockaddr6("2001:db8::7", 40002)), allowed(socket.AF_INET6, "fd00::2", 128))
seeds = {
    "two-peers": msg(device(p1 + p2)) + done,
    "split-peer": msg(device(p1)) + msg(device(peer(0, k1, ips=allowed(socket.AF_INET, "192.168.50.0", 24)) + p2, first=False)) + done,
    "no-peers": msg(device(b"")) + done,
    "enodev": struct.pack("=IHHII", 36, 2, 0, 1, 4242) + struct.pack("=i", -19) + b"\0" * 16,
    "family": struct.pack("=IHHII", 0, 0x10, 0, 1, 4242),
}
out = sys.argv[1] if len(sys.argv) > 1 else os.path.join(os.path.dirname(__file__), "corpus", "netlink")
for name, data in seeds.items():
    if name == "family":
        body = struct.pack("=BBH", 1, 2, 0) + attr(2, b"wireguard\0") + attr(1, struct.pack("=H", 0x1b))
        data = struct.pack("=IHHII", 16 + len(body), 0x10, 0, 1, 4242) + body
    open(os.path.join(out, name), "wb").write(data)
