// Error replies, from queries written byte by byte: which rcode, whether the OPT is echoed, and the
// TSIG record a signed query gets back.
#include <catch2/catch.hpp>

#include "dns/fixtures.hpp"
#include "dns/responder.hpp"
#include "dns/wire.hpp"
#include "support/dns_case.hpp"

using namespace wgsd;
using namespace wgsd::test;

namespace {

using Bytes = std::vector<std::uint8_t>;

Bytes operator+(Bytes a, const Bytes& b) {
  a.insert(a.end(), b.begin(), b.end());
  return a;
}

Bytes u16(std::uint16_t v) { return {static_cast<std::uint8_t>(v >> 8), static_cast<std::uint8_t>(v & 0xff)}; }
Bytes u32(std::uint32_t v) { return u16(static_cast<std::uint16_t>(v >> 16)) + u16(static_cast<std::uint16_t>(v & 0xffff)); }

Bytes wire(const std::string& text) {  // keeps the case, unlike dns::name_to_wire
  Bytes out;
  std::size_t start = 0;
  while (start < text.size()) {
    const auto dot = text.find('.', start);
    out.push_back(static_cast<std::uint8_t>(dot - start));
    out.insert(out.end(), text.begin() + static_cast<std::ptrdiff_t>(start), text.begin() + static_cast<std::ptrdiff_t>(dot));
    start = dot + 1;
  }
  out.push_back(0);
  return out;
}

struct Counts {
  std::uint16_t qd = 1, an = 0, ns = 0, ar = 0;
  std::uint8_t opcode = 0;
};

Bytes header(Counts c) {
  return u16(0x1234) + Bytes{static_cast<std::uint8_t>(c.opcode << 3 | 0x01), 0} + u16(c.qd) + u16(c.an) + u16(c.ns) + u16(c.ar);
}
Bytes question(const std::string& name, std::uint16_t qtype, std::uint16_t qclass = 1) { return wire(name) + u16(qtype) + u16(qclass); }
Bytes rr(const Bytes& owner, std::uint16_t rrtype, std::uint16_t rrclass, std::uint32_t ttl, const Bytes& rdata) {
  return owner + u16(rrtype) + u16(rrclass) + u32(ttl) + u16(static_cast<std::uint16_t>(rdata.size())) + rdata;
}
const Bytes opt = rr({0}, 41, 1232, 0, {});
Bytes opt_version(std::uint8_t v) { return rr({0}, 41, 1232, static_cast<std::uint32_t>(v) << 16, {}); }
Bytes soa(const std::string& zone) {
  return rr(wire(zone), 6, 1, 0, wire("ns1." + zone) + wire("postmaster." + zone) + u32(1) + u32(2) + u32(3) + u32(4) + u32(5));
}
Bytes a_rr(const std::string& name) { return rr(wire(name), 1, 1, 0, {192, 0, 2, 9}); }

// A TSIG record as a client signs with it: time signed 0x0000_6553_f100, fudge 300, a 32-byte MAC,
// original ID 0x1234, no error, no other data.
Bytes tsig_rdata(const Bytes& algorithm, std::size_t mac = 32) {
  return algorithm + u16(0) + u32(0x6553f100) + u16(300) + u16(static_cast<std::uint16_t>(mac)) + Bytes(mac, 0xaa) + u16(0x1234) + u16(0) + u16(0);
}
Bytes tsig(const std::string& key = "Key.Example.", const std::string& algorithm = "hmac-sha256.") {
  return rr(wire(key), 250, 255, 0, tsig_rdata(wire(algorithm)));
}

Bytes shortened(Bytes b, std::size_t by) {
  b.resize(b.size() - by);
  return b;
}

const std::string www = "WWW.example.com.";  // a name that does not exist: the error decides before
const std::string peer = name1;

struct ErrorCase {
  std::string name;
  Bytes query;
  int rcode;             // with the extended bits, as the requester reads it
  bool opt;              // an OPT in the reply
  bool tsig;             // a TSIG of error BADKEY in the reply, last
  bool question = true;  // the question echoed
};

// The rcode as the reply carries it: header bits, and with an OPT the extended bits.
int full_rcode(const Bytes& r, const PktPtr& pkt) {
  return (r[3] & 0x0f) | (ldns_pkt_edns(pkt.get()) ? ldns_pkt_edns_extended_rcode(pkt.get()) << 4 : 0);
}

}  // namespace

TEST_CASE("error replies: rcode, OPT echoed whatever the error, TSIG never answered unsigned", "[dns][responder][errors]") {
  const auto zones = reference_zones();
  const std::string zone = "example.com.";
  const std::vector<ErrorCase> cases = {
      {"IXFR (SOA in authority) is REFUSED", header({.ns = 1}) + question(zone, 251) + soa(zone), 5, false, false},
      {"IXFR with EDNS is REFUSED, OPT echoed", header({.ns = 1, .ar = 1}) + question(zone, 251) + soa(zone) + opt, 5, true, false},
      {"AXFR is REFUSED", header({}) + question(zone, 252), 5, false, false},
      {"an authority record in a query is read and skipped", header({.ns = 1}) + question(peer, 33) + a_rr(peer), 0, false, false},
      {"an answer record in a query is FORMERR, OPT echoed", header({.an = 1, .ar = 1}) + question(peer, 1) + a_rr(peer) + opt, 1, true, false},
      {"opcode STATUS is NOTIMP, OPT echoed", header({.ar = 1, .opcode = 2}) + question(peer, 1) + opt, 4, true, false},
      {"opcode NOTIFY is NOTIMP, OPT echoed", header({.ar = 1, .opcode = 4}) + question(zone, 6) + opt, 4, true, false},
      {"opcode UPDATE is NOTIMP, OPT echoed past its records", header({.ns = 1, .ar = 1, .opcode = 5}) + question(zone, 6) + a_rr(www) + opt, 4,
       true, false},
      {"opcode 15 without question is NOTIMP, OPT echoed", header({.qd = 0, .ar = 1, .opcode = 15}) + opt, 4, true, false, false},
      {"no question is FORMERR, OPT echoed", header({.qd = 0, .ar = 1}) + opt, 1, true, false, false},
      {"two questions are FORMERR, OPT echoed", header({.qd = 2, .ar = 1}) + question(peer, 1) + question(www, 1) + opt, 1, true, false, false},
      {"two OPT records are FORMERR, the first echoed", header({.ar = 2}) + question(peer, 1) + opt + opt, 1, true, false},
      // RFC 6891 §7: when the OPT itself is the problem, the FORMERR carries an OPT.
      {"an OPT in the authority section is FORMERR, OPT echoed", header({.ns = 1}) + question(peer, 1) + opt, 1, true, false},
      {"an OPT not owned by the root is FORMERR, OPT echoed", header({.ar = 1}) + question(peer, 1) + rr(wire("x."), 41, 1232, 0, {}), 1, true, false},
      {"an OPT whose option overruns its RDATA is FORMERR, OPT echoed",
       header({.ar = 1}) + question(peer, 1) + rr({0}, 41, 1232, 0, {0, 10, 0, 8, 1, 2}), 1, true, false},
      {"an OPT with a cut option header is FORMERR, OPT echoed", header({.ar = 1}) + question(peer, 1) + rr({0}, 41, 1232, 0, {0, 10, 0}), 1, true,
       false},
      {"an OPT whose options fill its RDATA is read", header({.ar = 1}) + question(peer, 1) + rr({0}, 41, 1232, 0, {0, 10, 0, 8, 1, 2, 3, 4, 5, 6, 7, 8, 0, 12, 0, 0}),
       0, true, false},
      {"an OPT in the authority section beside a good one is FORMERR, OPT echoed", header({.ns = 1, .ar = 1}) + question(peer, 1) + opt + opt, 1, true,
       false},
      {"EDNS version 1 is BADVERS", header({.ar = 1}) + question(peer, 1) + opt_version(1), 16, true, false},
      {"QTYPE OPT is FORMERR", header({.ar = 1}) + question(peer, 41) + opt, 1, true, false},
      {"QTYPE TSIG is FORMERR", header({.ar = 1}) + question(peer, 250) + opt, 1, true, false},
      {"QTYPE TKEY is FORMERR", header({.ar = 1}) + question(peer, 249) + opt, 1, true, false},
      {"QTYPE MAILB is NOTIMP", header({.ar = 1}) + question(peer, 253) + opt, 4, true, false},
      {"QTYPE MAILA is NOTIMP", header({.ar = 1}) + question(peer, 254) + opt, 4, true, false},
      {"QTYPE TSIG outside every zone is FORMERR too", header({}) + question("other.test.", 250), 1, false, false},
      {"a signed query is NOTAUTH with BADKEY", header({.ar = 1}) + question(peer, 33) + tsig(), 9, false, true},
      {"a signed query with EDNS: OPT then TSIG", header({.ar = 2}) + question(peer, 33) + opt + tsig(), 9, true, true},
      {"a signed query outside every zone is NOTAUTH too", header({.ar = 1}) + question("other.test.", 1) + tsig(), 9, false, true},
      {"a signed query of class CH is NOTAUTH too", header({.ar = 1}) + question(peer, 16, 3) + tsig(), 9, false, true},
      {"a signed IXFR is NOTAUTH", header({.ns = 1, .ar = 1}) + question(zone, 251) + soa(zone) + tsig(), 9, false, true},
      {"a signed STATUS is NOTAUTH", header({.ar = 1, .opcode = 2}) + question(peer, 1) + tsig(), 9, false, true},
      {"a signed query of EDNS version 1 is NOTAUTH", header({.ar = 2}) + question(peer, 1) + opt_version(1) + tsig(), 9, true, true},
      {"a TSIG before the OPT is FORMERR", header({.ar = 2}) + question(peer, 33) + tsig() + opt, 1, true, false},
      {"two TSIG records are FORMERR", header({.ar = 2}) + question(peer, 33) + tsig() + tsig(), 1, false, false},
      {"a TSIG in the authority section is FORMERR", header({.ns = 1}) + question(peer, 33) + tsig(), 1, false, false},
      {"a TSIG whose MAC runs past its RDATA is FORMERR",
       header({.ar = 1}) + question(peer, 33) + rr(wire("k."), 250, 255, 0, shortened(tsig_rdata(wire("hmac-sha256.")), 3)), 1, false, false},
      {"a TSIG whose MAC size is 0 is still read", header({.ar = 1}) + question(peer, 33) + rr(wire("k."), 250, 255, 0, tsig_rdata(wire("hmac-sha256."), 0)),
       9, false, true},
      {"a TSIG of CLASS IN is FORMERR", header({.ar = 1}) + question(peer, 33) + rr(wire("k."), 250, 1, 0, tsig_rdata(wire("hmac-sha256."))), 1,
       false, false},
      {"a TSIG of CLASS ANY with TTL 1 is FORMERR", header({.ar = 1}) + question(peer, 33) + rr(wire("k."), 250, 255, 1, tsig_rdata(wire("hmac-sha256."))),
       1, false, false},
      {"a TSIG with TTL 0x10000 is FORMERR",
       header({.ar = 1}) + question(peer, 33) + rr(wire("k."), 250, 255, 0x10000, tsig_rdata(wire("hmac-sha256."))), 1, false, false},
      {"a TSIG with a signed query of no question is FORMERR", header({.qd = 0, .ar = 1}) + tsig(), 1, false, false, false},
      {"a record past the end is FORMERR", header({.ar = 2}) + question(peer, 33) + opt, 1, true, false},
  };
  for (const auto& c : cases) {
    DYNAMIC_SECTION(c.name) {
      const auto r = dns::respond(c.query, zones, {dns::Transport::udp, std::nullopt});
      REQUIRE(r.size() >= 12);
      auto pkt = parse_response(r);
      REQUIRE(pkt);
      CHECK(full_rcode(r, pkt) == c.rcode);
      CHECK(ldns_pkt_id(pkt.get()) == 0x1234);
      CHECK(ldns_pkt_qr(pkt.get()));
      CHECK(ldns_pkt_rd(pkt.get()));
      CHECK(ldns_pkt_edns(pkt.get()) == c.opt);
      CHECK((ldns_pkt_tsig(pkt.get()) != nullptr) == c.tsig);
      CHECK(ldns_pkt_qdcount(pkt.get()) == (c.question ? 1 : 0));
      if (c.question) {
        const auto length = static_cast<std::ptrdiff_t>(dns::uncompressed_name_length(std::span(c.query).subspan(12)) + 4);
        CHECK(Bytes(r.begin() + 12, r.begin() + 12 + length) == Bytes(c.query.begin() + 12, c.query.begin() + 12 + length));
      }
      if (c.rcode != 0) CHECK(ldns_pkt_ancount(pkt.get()) == 0);
      if (c.rcode == 9) CHECK_FALSE(ldns_pkt_aa(pkt.get()));
    }
  }
}

TEST_CASE("the BADKEY TSIG repeats the request's key, algorithm, time and fudge with an empty MAC", "[dns][responder][errors]") {
  const auto zones = reference_zones();
  // The key name as a compression pointer to the question: written out in full in the reply.
  const Bytes q = header({.ar = 2}) + question(peer, 33) + opt + rr({0xc0, 0x0c}, 250, 255, 0, tsig_rdata(wire("HMAC-SHA256.")));
  const auto r = dns::respond(q, zones, {});
  const Bytes expected_tsig = rr(wire(peer), 250, 255, 0,
                                 wire("HMAC-SHA256.") + u16(0) + u32(0x6553f100) + u16(300) + u16(0) + u16(0x1234) + u16(17) + u16(0));
  REQUIRE(r.size() > expected_tsig.size());
  CHECK(Bytes(r.end() - static_cast<std::ptrdiff_t>(expected_tsig.size()), r.end()) == expected_tsig);
  CHECK((r[3] & 0x0f) == 9);
  CHECK(r[11] == 2);  // OPT, then the TSIG last
  // ldns reads the same record.
  auto pkt = parse_response(r);
  REQUIRE(pkt);
  REQUIRE(ldns_pkt_tsig(pkt.get()) != nullptr);
  CHECK(rr_text(ldns_pkt_tsig(pkt.get())).find("hmac-sha256. 1700000000  300 0  4660 17 0") != std::string::npos);
}

TEST_CASE("a BADKEY reply fits the requester's limit: the question goes first, then TC", "[dns][responder][errors]") {
  const auto zones = reference_zones();
  const std::string long_name = std::string(63, 'k') + "." + std::string(63, 'k') + "." + std::string(63, 'k') + "." + std::string(60, 'k') + ".";
  const std::string long_peer = std::string(63, 'q') + "." + std::string(63, 'q') + "." + std::string(63, 'q') + ".example.com.";
  SECTION("key and question together pass 512: the question is left out") {
    const Bytes q = header({.ar = 1}) + question(long_peer, 33) + tsig(long_name);
    const auto r = dns::respond(q, zones, {});
    REQUIRE(r.size() <= 512);
    auto pkt = parse_response(r);
    REQUIRE(pkt);
    CHECK(ldns_pkt_qdcount(pkt.get()) == 0);
    CHECK(ldns_pkt_get_rcode(pkt.get()) == 9);
    CHECK(ldns_pkt_tsig(pkt.get()) != nullptr);
    CHECK_FALSE(ldns_pkt_tc(pkt.get()));
  }
  SECTION("key and algorithm alone pass 512: TC, and TCP gets the record") {
    const Bytes q = header({.ar = 1}) + question(peer, 33) + tsig(long_name, long_name);
    const auto r = dns::respond(q, zones, {});
    REQUIRE(r.size() <= 512);
    auto pkt = parse_response(r);
    REQUIRE(pkt);
    CHECK(ldns_pkt_tc(pkt.get()));
    CHECK(ldns_pkt_get_rcode(pkt.get()) == 9);
    auto tcp = parse_response(dns::respond(q, zones, {dns::Transport::tcp, std::nullopt}));
    REQUIRE(tcp);
    CHECK_FALSE(ldns_pkt_tc(tcp.get()));
    CHECK(ldns_pkt_tsig(tcp.get()) != nullptr);
  }
}
