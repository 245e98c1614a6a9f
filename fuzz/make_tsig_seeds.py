#!/usr/bin/env python3
"""Writes seeds for fuzz_tsig: queries signed at the fuzzer's clock (1700000000) with its keys, and
the hostile forms of them (a cut or padded MAC, a wrong secret, a stale time, an unknown algorithm
or key, two TSIGs, a TSIG before the OPT, huge other data), and signed queries the fuzzer's acl
blocks, filters or drops. Built here byte by byte (RFC 8945 §4.3),
so that the seeds do not depend on the signer under test."""
import base64, hashlib, hmac, os, struct, sys

TIME = 1700000000
KEYS = {
    "key.example.": ("hmac-sha256.", hashlib.sha256, "c2VjcmV0LWZvci13Z3NkLXRzaWctdGVzdHMtMzItYnl0ZXM="),
    "k512.example.": ("hmac-sha512.", hashlib.sha512,
                      "bG9uZ2VyLXNlY3JldC1mb3ItaG1hYy1zaGE1MTItaW4td2dzZC10c2lnLXRlc3RzLTY0LWJ5dGVzLW9mLWtleQ=="),
    "sub.example.": ("hmac-sha256.", hashlib.sha256, "c3ViLXpvbmUta2V5LWZvci13Z3NkLWZ1enppbmctMzI="),
}


def name(text):
    out = b""
    for label in text.rstrip(".").split("."):
        if label:
            out += bytes([len(label)]) + label.encode()
    return out + b"\0"


def peer(zone):
    # The instance name of fuzz::key(1) (bytes 31..62), as wgsd writes it.
    return base64.b32encode(bytes(range(31, 63))).decode().lower() + "._wireguard._udp." + zone


def query(qname, qtype, edns=False, qid=0x1234):
    q = struct.pack("!HHHHHH", qid, 0x0100, 1, 0, 0, 1 if edns else 0) + name(qname) + struct.pack("!HH", qtype, 1)
    if edns:
        q += b"\0" + struct.pack("!HHIH", 41, 1232, 0, 0)
    return q


def tsig(msg, key, when=TIME, alg=None, mac_cut=None, other=b"", secret=None, error=0):
    """`msg` with a TSIG record signed by `key` appended (ARCOUNT + 1)."""
    alg_text, digest, b64 = KEYS[key]
    alg_text = alg or alg_text
    qid = struct.unpack("!H", msg[:2])[0]
    variables = name(key) + struct.pack("!HI", 255, 0) + name(alg_text) + struct.pack("!HIH", when >> 32, when & 0xffffffff, 300)
    variables += struct.pack("!HH", error, len(other)) + other
    mac = hmac.new(base64.b64decode(secret or b64), msg + variables, digest).digest()
    if mac_cut is not None:
        mac = (mac + b"\xaa" * 80)[:mac_cut]
    rdata = name(alg_text) + struct.pack("!HIH", when >> 32, when & 0xffffffff, 300) + struct.pack("!H", len(mac)) + mac
    rdata += struct.pack("!HHH", qid, error, len(other)) + other
    record = name(key) + struct.pack("!HHIH", 250, 255, 0, len(rdata)) + rdata
    arcount = struct.unpack("!H", msg[10:12])[0] + 1
    return msg[:10] + struct.pack("!H", arcount) + msg[12:] + record


def main(out):
    os.makedirs(out, exist_ok=True)
    srv = query(peer("example.com."), 33)
    seeds = {
        "srv-sha256": tsig(srv, "key.example."),
        "srv-sha512-edns": tsig(query(peer("example.com."), 33, edns=True), "k512.example."),
        "ptr-sha256-edns": tsig(query("_wireguard._udp.example.com.", 12, edns=True), "key.example."),
        "sub-own-key": tsig(query("_wireguard._udp.sub.example.com.", 12), "sub.example."),
        "sub-other-key": tsig(query("_wireguard._udp.sub.example.com.", 12), "key.example."),
        "txt-unsigned": query(peer("example.com."), 16),
        "txt-signed-acl-filter": tsig(query(peer("example.com."), 16), "key.example."),
        "aaaa-signed-acl-block": tsig(query(peer("example.com."), 28, edns=True), "key.example."),
        "ns-signed-acl-drop": tsig(query("example.com.", 2), "key.example."),
        "mac-cut-16": tsig(srv, "key.example.", mac_cut=16),
        "mac-cut-9": tsig(srv, "key.example.", mac_cut=9),
        "mac-padded-40": tsig(srv, "key.example.", mac_cut=40),
        "wrong-secret": tsig(srv, "key.example.", secret="d3Jvbmctc2VjcmV0LWZvci10aGUtc2FtZS1rZXktbmFtZQ=="),
        "stale": tsig(srv, "key.example.", when=TIME - 1000),
        "md5": tsig(srv, "key.example.", alg="hmac-md5.sig-alg.reg.int."),
        "other-data": tsig(srv, "key.example.", other=b"\x55" * 300),
        "error-set": tsig(srv, "key.example.", error=16),
        "two-tsigs": tsig(tsig(srv, "key.example."), "key.example."),
    }
    before_opt = tsig(srv, "key.example.")
    seeds["before-opt"] = before_opt[:10] + struct.pack("!H", 2) + before_opt[12:] + b"\0" + struct.pack("!HHIH", 41, 1232, 0, 0)
    for file, data in seeds.items():
        with open(os.path.join(out, file), "wb") as f:
            f.write(data)


if __name__ == "__main__":
    main(sys.argv[1] if len(sys.argv) > 1 else os.path.join(os.path.dirname(os.path.abspath(__file__)), "corpus", "tsig"))
