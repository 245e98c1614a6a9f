#!/usr/bin/python3
"""Checks that the servers of a benchmark give the same answers before they are timed: a sample of
the query file is asked of each server over UDP, as dnsperf asks it (no EDNS), and each answer is
reduced to its rcode, its AA and TC flags and its answer section as a set of RRsets (owner names
and names inside the data compared without regard to case, TTLs ignored, RRsets as sets). Every
server must give the same for every query. An echo server (the floor, which answers each query
with its own question and nothing else) is only checked to answer each query with its ID, QR set
and NOERROR.

With --tsig [ALG:]NAME:SECRET (as dig -y takes it) every query is signed with that key, and
every answer must carry a TSIG that verifies with it (the MAC chained to the query's, the time
within the fudge): an answer unsigned or badly signed counts as a difference.

Prints one line on success; on a difference, the queries that differ with each server's answer,
and exits 1.

usage: verify.py QUERYFILE [--sample 300] [--seed 1] [--address 127.0.0.1] [--tsig ALG:NAME:SECRET]
                 --server NAME=PORT ... [--echo NAME=PORT ...]
Needs dnspython (Debian python3-dnspython)."""
import argparse, collections, random, sys

import dns.exception, dns.flags, dns.message, dns.name, dns.query, dns.rcode, dns.rdatatype, dns.tsig


silent = set()  # ports that gave no answer three times in a row: not asked again


class BadTsig:
    """An answer to a signed query that is not signed, or whose signature does not verify."""

    def __init__(self, why):
        self.why = why


def ask(query, address, port):
    """The reply to `query`, or None after three timeouts (then the server is not asked again); for a
    signed query, a BadTsig when the answer's TSIG is missing or does not verify."""
    if port in silent:
        return None
    for _ in range(3):
        try:
            reply = dns.query.udp(query, address, port=port, timeout=2, ignore_unexpected=True)
        except dns.exception.Timeout:
            continue
        except (dns.tsig.BadSignature, dns.tsig.BadTime, dns.tsig.PeerError, dns.message.UnknownTSIGKey, dns.tsig.BadAlgorithm,
                dns.tsig.BadKey) as e:
            return BadTsig(f"{type(e).__name__}: {e}")
        if query.keyring is not None and not reply.had_tsig:
            return BadTsig("the answer is not signed")
        return reply
    silent.add(port)
    return None


def tsig_key(text):
    """dig -y's [ALG:]NAME:SECRET as a dnspython key."""
    parts = text.split(":")
    if len(parts) == 2:
        parts = ["hmac-sha256"] + parts
    if len(parts) != 3 or not all(parts):
        raise argparse.ArgumentTypeError(f"expected [ALG:]NAME:SECRET, got '{parts[0] if parts else ''}...'")
    return dns.tsig.Key(dns.name.from_text(parts[1]), parts[2], dns.name.from_text(parts[0]))


def reduced(reply):
    """What must be the same on every server: rcode, AA, TC, and the answer's RRsets as a set."""
    if reply is None:
        return ("no answer",)
    if isinstance(reply, BadTsig):
        return ("bad TSIG", reply.why)
    rrsets = frozenset(
        (rrset.name.to_text().lower(), rrset.rdclass, rrset.rdtype,
         frozenset(rdata.to_digestable() for rdata in rrset))  # canonical form: names in lower case
        for rrset in reply.answer)
    return (dns.rcode.to_text(reply.rcode()), bool(reply.flags & dns.flags.AA), bool(reply.flags & dns.flags.TC), rrsets)


def shown(reply):
    if reply is None:
        return ["    (no answer: 3 tries of 2 s, now or on an earlier query)"]
    if isinstance(reply, BadTsig):
        return [f"    (TSIG: {reply.why})"]
    flags = dns.flags.to_text(reply.flags)
    lines = [f"    rcode {dns.rcode.to_text(reply.rcode())}, flags {flags}, {sum(len(r) for r in reply.answer)} answer records"]
    for rrset in sorted(reply.answer, key=lambda r: (r.name.to_text().lower(), r.rdtype)):
        for rdata in sorted(rrset, key=lambda d: d.to_text()):
            lines.append(f"    {rrset.name.to_text().lower()} {dns.rdatatype.to_text(rrset.rdtype)} {rdata.to_text()}")
    return lines


def server(text):
    name, _, port = text.partition("=")
    if not name or not port.isdigit():
        raise argparse.ArgumentTypeError(f"expected NAME=PORT, got '{text}'")
    return name, int(port)


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("queries")
    ap.add_argument("--sample", type=int, default=300)
    ap.add_argument("--seed", type=int, default=1)
    ap.add_argument("--address", default="127.0.0.1")
    ap.add_argument("--server", type=server, action="append", default=[])
    ap.add_argument("--echo", type=server, action="append", default=[])
    ap.add_argument("--show", type=int, default=5, help="differing queries shown at most")
    ap.add_argument("--tsig", type=tsig_key, help="sign every query with [ALG:]NAME:SECRET; every answer must verify")
    args = ap.parse_args()
    if len(args.server) < 2 and not args.echo:
        ap.error("give at least two --server to compare, or an --echo")

    with open(args.queries) as f:
        lines = [l.split() for l in f if l.strip()]
    bad = [l for l in lines if len(l) != 2]
    if bad:
        sys.exit(f"verify: {args.queries}: expected 'NAME TYPE' lines, got '{' '.join(bad[0])}'")
    sample = random.Random(args.seed).sample(lines, min(args.sample, len(lines)))

    differing, silent_echo, rcodes = [], [], collections.Counter()
    for name, qtype in sample:
        query = dns.message.make_query(name, qtype, use_edns=False)
        if args.tsig:
            query.use_tsig(args.tsig)
        replies = {s: ask(query, args.address, port) for s, port in args.server}
        forms = {s: reduced(r) for s, r in replies.items()}
        if len(set(forms.values())) > 1:
            differing.append((name, qtype, replies))
        elif replies:
            rcodes[next(iter(forms.values()))[0]] += 1
        for s, port in args.echo:
            r = ask(query, args.address, port)
            if r is None or isinstance(r, BadTsig) or r.id != query.id or not r.flags & dns.flags.QR or r.rcode() != dns.rcode.NOERROR:
                silent_echo.append((s, name, qtype, r))

    names = ", ".join(s for s, _ in args.server)
    if differing or silent_echo:
        print(f"verify: {args.queries}: {len(differing)} of {len(sample)} queries answered differently by {names}"
              f" (seed {args.seed}); {len(silent_echo)} not echoed", file=sys.stderr)
        for name, qtype, replies in differing[:args.show]:
            print(f"  {name} {qtype}", file=sys.stderr)
            for s, r in replies.items():
                print(f"   {s}:", file=sys.stderr)
                for line in shown(r):
                    print(line, file=sys.stderr)
        for s, name, qtype, r in silent_echo[:args.show]:
            print(f"  {s} did not echo {name} {qtype} as NOERROR: {'no answer' if r is None else dns.rcode.to_text(r.rcode())}", file=sys.stderr)
        sys.exit(1)
    summary = ", ".join(f"{k} {v}" for k, v in sorted(rcodes.items()))
    echoed = f"; {', '.join(s for s, _ in args.echo)} echoed all" if args.echo else ""
    signed = f", signed with {args.tsig.name} and every answer verified" if args.tsig else ""
    print(f"verify: {len(sample)} queries from {args.queries} (seed {args.seed}){signed}, the same answers from {names} ({summary}){echoed}")


if __name__ == "__main__":
    main()
