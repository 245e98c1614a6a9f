#!/usr/bin/env python3
"""Generates one benchmark data set: a WireGuard config with N peers, the same records as a static
zone for Knot DNS and NSD (what wgsd-server serves for that device, byte for byte in meaning), and
dnsperf query files (a mix, and SRV only) with random 0x20 case.

usage: gen.py N OUTDIR"""
import base64, ipaddress, os, random, sys

n, out = int(sys.argv[1]), sys.argv[2]
rng = random.Random(n)
zone = "example.com."
os.makedirs(out, exist_ok=True)

def key():
    return base64.b64encode(bytes(rng.getrandbits(8) for _ in range(32))).decode()

def b32(k):
    return base64.b32encode(base64.b64decode(k)).decode().lower()

def zname(name):
    """A name as written in a zone file: the base32 padding `=` is escaped (RFC 1035, section 5.1),
    which every zone parser reads; Knot refuses the zone when it is bare."""
    return name.replace("=", "\\=")

def case20(name):
    return "".join(c.upper() if c.isalpha() and rng.random() < 0.5 else c for c in name)

private = key()
peers = []
for i in range(n):
    v6 = i % 10 == 0
    port = 1024 + i % 60000
    allowed = [f"10.{(i >> 16) & 0xff}.{(i >> 8) & 0xff}.{i & 0xff}/32"] + ([f"fd00::{i >> 16:x}:{i & 0xffff:x}/128"] if i % 3 == 0 else [])
    allowed = [ipaddress.ip_network(a).compressed for a in allowed]  # the canonical form wgsd publishes
    peers.append({"key": key(), "v6": v6, "addr": ipaddress.ip_address(f"2001:db8::{i >> 16:x}:{i & 0xffff:x}").compressed if v6 else f"198.51.100.{i % 250 + 1}",
                  "port": port, "allowed": allowed})

with open(os.path.join(out, "wg.conf"), "w") as f:
    f.write(f"[Interface]\nPrivateKey = {private}\nListenPort = 51820\n")
    for p in peers:
        ep = f"[{p['addr']}]:{p['port']}" if p["v6"] else f"{p['addr']}:{p['port']}"
        f.write(f"[Peer]\nPublicKey = {p['key']}\nEndpoint = {ep}\nAllowedIPs = {', '.join(p['allowed'])}\n")

svc = "_wireguard._udp." + zone
with open(os.path.join(out, "example.com.zone"), "w") as f:
    f.write(f"$ORIGIN {zone}\n")
    f.write(f"{zone} 5 IN SOA ns1.{zone} postmaster.{zone} 1 86400 7200 3600000 5\n")
    f.write(f"{zone} 3600 IN NS ns1.{zone}\n")
    f.write(f"ns1.{zone} 3600 IN A 127.0.0.1\n")
    # Knot DNS and NSD hold at most 65,535 records in one RRset (the count of a DNS message's
    # section is 16 bits); past that they refuse the zone. No server can send a PTR set that large
    # anyway: over UDP every server answers it with TC and no record, the same answer, which is
    # what the benchmark asks. So the zone's PTR set stops at 65,535 peers; their other records
    # are all there.
    for p in peers[:65535]:
        f.write(f"{svc} 0 IN PTR {zname(b32(p['key']))}.{svc}\n")
    for p in peers:
        name = zname(f"{b32(p['key'])}.{svc}")
        f.write(f"{name} 0 IN SRV 0 0 {p['port']} {name}\n")
        f.write(f"{name} 0 IN {'AAAA' if p['v6'] else 'A'} {p['addr']}\n")
        f.write(f'{name} 0 IN TXT "txtvers=1" "pub={p["key"]}" "allowed={",".join(p["allowed"])}"\n')

queries = 200000
with open(os.path.join(out, "mix.txt"), "w") as mix, open(os.path.join(out, "srv.txt"), "w") as srv:
    for _ in range(queries):
        p = rng.choice(peers)
        name = f"{b32(p['key']).upper()}.{svc}"
        srv.write(f"{case20(name)} SRV\n")
        r = rng.random()
        if r < 0.60:
            mix.write(f"{case20(name)} SRV\n")
        elif r < 0.85:
            mix.write(f"{case20(name)} {'AAAA' if p['v6'] else 'A'}\n")
        elif r < 0.90:
            mix.write(f"{case20(svc)} PTR\n")
        else:
            mix.write(f"{case20(b32(key()) + '.' + svc)} SRV\n")  # NXDOMAIN
