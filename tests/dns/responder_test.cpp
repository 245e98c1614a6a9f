// Every rule of docs/records.md, checked by parsing wgsd's answers with ldns.
#include <catch2/catch.hpp>

#include <cctype>
#include <cstdio>

#include "dns/fixtures.hpp"
#include "dns/lookup.hpp"
#include "dns/responder.hpp"
#include "dns/wire.hpp"
#include "support/dns_case.hpp"
#include "support/keys.hpp"

using namespace wgsd;
using namespace wgsd::test;

namespace {

const std::string soa = "example.com. 5 IN SOA ns1.example.com. postmaster.example.com. 1700000000 86400 7200 3600000 5";
const std::string txt1 = " 0 IN TXT \"txtvers=1\" \"pub=En9Uj9hQdUDPzXA8+29PYXZDUY7uoWByieEUhcB313Q=\" \"allowed=10.0.0.1/32,192.168.50.0/24\"";
const std::string txt2 = " 0 IN TXT \"txtvers=1\" \"pub=uxRkYvNHLZ+Mrm+ngTLFIvypoBI/X3r2UUR0HTAY/kM=\" \"allowed=10.0.0.2/32,fd00::2/128\"";
const std::string name3 = "32eqswpsef6f6qivhfgmnmwip7ccwx4xifkjn5eflbyre6lkj5cq====._wireguard._udp.example.com.";  // no endpoint
const std::string unknown = key_n(999).to_base32() + "._wireguard._udp.example.com.";

struct DnsCase {
  std::string name;
  std::string qname;
  ldns_rr_type qtype;
  ldns_pkt_rcode rcode;
  std::vector<std::string> answer, authority, additional;
};

PktPtr ask(const dns::ZoneSet& zones, const std::string& qname, ldns_rr_type qtype, const QueryOptions& o = {},
           dns::Transport transport = dns::Transport::udp) {
  const auto response = dns::respond(make_query(qname, qtype, o), zones, {transport, std::nullopt});
  auto pkt = parse_response(response);
  REQUIRE(pkt);
  return pkt;
}

}  // namespace

TEST_CASE("responder answers every query type the records table lists", "[dns][responder]") {
  const auto zones = reference_zones();
  const std::vector<DnsCase> cases = {
      {"PTR lists published peers in device order, self last", "_wireguard._udp.example.com.", LDNS_RR_TYPE_PTR, LDNS_RCODE_NOERROR,
       rrs({"_wireguard._udp.example.com. 0 IN PTR " + name1, "_wireguard._udp.example.com. 0 IN PTR " + name2,
            "_wireguard._udp.example.com. 0 IN PTR " + name_self}),
       {}, {}},
      {"SRV with A then TXT as additional", name1, LDNS_RR_TYPE_SRV, LDNS_RCODE_NOERROR, rrs({name1 + " 0 IN SRV 0 0 40001 " + name1}), {},
       rrs({name1 + " 0 IN A 198.51.100.7", name1 + txt1})},
      {"SRV with AAAA then TXT as additional", name2, LDNS_RR_TYPE_SRV, LDNS_RCODE_NOERROR, rrs({name2 + " 0 IN SRV 0 0 40002 " + name2}),
       {}, rrs({name2 + " 0 IN AAAA 2001:db8::7", name2 + txt2})},
      {"SRV of self", name_self, LDNS_RR_TYPE_SRV, LDNS_RCODE_NOERROR, rrs({name_self + " 0 IN SRV 0 0 51820 " + name_self}), {},
       rrs({name_self + " 0 IN A 192.0.2.1",
            name_self + " 0 IN TXT \"txtvers=1\" \"pub=Jcnz3ft/3hEXxufWP4s77BNARZ+8AaLybNZGS6AN638=\" \"allowed=10.0.0.254/32\""})},
      {"A of an IPv4 peer", name1, LDNS_RR_TYPE_A, LDNS_RCODE_NOERROR, rrs({name1 + " 0 IN A 198.51.100.7"}), {}, {}},
      {"AAAA of an IPv4 peer is NODATA, never an A", name1, LDNS_RR_TYPE_AAAA, LDNS_RCODE_NOERROR, {}, rrs({soa}), {}},
      {"AAAA of an IPv6 peer", name2, LDNS_RR_TYPE_AAAA, LDNS_RCODE_NOERROR, rrs({name2 + " 0 IN AAAA 2001:db8::7"}), {}, {}},
      {"A of an IPv6 peer is NODATA", name2, LDNS_RR_TYPE_A, LDNS_RCODE_NOERROR, {}, rrs({soa}), {}},
      {"TXT", name1, LDNS_RR_TYPE_TXT, LDNS_RCODE_NOERROR, rrs({name1 + txt1}), {}, {}},
      {"MX of a peer is NODATA", name1, LDNS_RR_TYPE_MX, LDNS_RCODE_NOERROR, {}, rrs({soa}), {}},
      {"unknown peer is NXDOMAIN", unknown, LDNS_RR_TYPE_SRV, LDNS_RCODE_NXDOMAIN, {}, rrs({soa}), {}},
      {"unknown peer TXT is NXDOMAIN", unknown, LDNS_RR_TYPE_TXT, LDNS_RCODE_NXDOMAIN, {}, rrs({soa}), {}},
      {"peer without endpoint: SRV is NODATA", name3, LDNS_RR_TYPE_SRV, LDNS_RCODE_NOERROR, {}, rrs({soa}), {}},
      {"nosuch is NXDOMAIN", "nosuch._wireguard._udp.example.com.", LDNS_RR_TYPE_SRV, LDNS_RCODE_NXDOMAIN, {}, rrs({soa}), {}},
      {"names match by labels, not length", "cj7vjd6ykb2ubt6noa6pw32pmf3egumo52qwa4uj4ekilqdx252a====.junk._udp.example.com.", LDNS_RR_TYPE_SRV,
       LDNS_RCODE_NXDOMAIN, {}, rrs({soa}), {}},
      {"below a peer is NXDOMAIN", "x." + name1, LDNS_RR_TYPE_A, LDNS_RCODE_NXDOMAIN, {}, rrs({soa}), {}},
      {"the _udp empty non-terminal is NODATA", "_udp.example.com.", LDNS_RR_TYPE_A, LDNS_RCODE_NOERROR, {}, rrs({soa}), {}},
      {"TXT on the service name is NODATA", "_wireguard._udp.example.com.", LDNS_RR_TYPE_TXT, LDNS_RCODE_NOERROR, {}, rrs({soa}), {}},
      {"SOA at the apex", "example.com.", LDNS_RR_TYPE_SOA, LDNS_RCODE_NOERROR, rrs({soa}), {}, {}},
      {"NS at the apex", "example.com.", LDNS_RR_TYPE_NS, LDNS_RCODE_NOERROR, rrs({"example.com. 3600 IN NS ns1.example.com."}), {}, {}},
      {"A at the apex is NODATA", "example.com.", LDNS_RR_TYPE_A, LDNS_RCODE_NOERROR, {}, rrs({soa}), {}},
      {"outside every zone is REFUSED", "other.test.", LDNS_RR_TYPE_A, LDNS_RCODE_REFUSED, {}, {}, {}},
      {"a parent of the zone is REFUSED", "com.", LDNS_RR_TYPE_SOA, LDNS_RCODE_REFUSED, {}, {}, {}},
      {"AXFR is REFUSED until transfer is configured", "example.com.", LDNS_RR_TYPE_AXFR, LDNS_RCODE_REFUSED, {}, {}, {}},
  };
  for (const auto& c : cases) {
    DYNAMIC_SECTION(c.name) {
      auto pkt = ask(zones, c.qname, c.qtype);
      CHECK(ldns_pkt_get_rcode(pkt.get()) == c.rcode);
      CHECK(section(pkt.get(), LDNS_SECTION_ANSWER) == c.answer);
      CHECK(section(pkt.get(), LDNS_SECTION_AUTHORITY) == c.authority);
      CHECK(section(pkt.get(), LDNS_SECTION_ADDITIONAL) == c.additional);
      CHECK(ldns_pkt_qr(pkt.get()));
      CHECK_FALSE(ldns_pkt_ra(pkt.get()));
      CHECK_FALSE(ldns_pkt_tc(pkt.get()));
      CHECK(ldns_pkt_aa(pkt.get()) == (c.rcode != LDNS_RCODE_REFUSED));
    }
  }
}

TEST_CASE("a peer without a fresh endpoint answers TXT only", "[dns][responder]") {
  const auto zones = reference_zones();
  const std::string name = key_from_b64(key3).to_base32() + "._wireguard._udp.example.com.";
  auto txt = ask(zones, name, LDNS_RR_TYPE_TXT);
  CHECK(section(txt.get(), LDNS_SECTION_ANSWER) ==
        rrs({name + " 0 IN TXT \"txtvers=1\" \"pub=3okJWfIhfF9BFTlMxrLIf8QrX5dBVJb0hVhxEnlqT0U=\" \"allowed=10.0.0.3/32\""}));
  for (auto t : {LDNS_RR_TYPE_SRV, LDNS_RR_TYPE_A, LDNS_RR_TYPE_AAAA}) {
    auto pkt = ask(zones, name, t);
    CHECK(ldns_pkt_get_rcode(pkt.get()) == LDNS_RCODE_NOERROR);
    CHECK(ldns_pkt_ancount(pkt.get()) == 0);
    CHECK(ldns_pkt_nscount(pkt.get()) == 1);
  }
}

TEST_CASE("a peer with more allowed IPs than a TXT record can hold publishes those that fit, whole", "[dns][responder]") {
  auto device = reference_device();
  device.peers[0].allowed_ips.clear();
  std::vector<std::string> cidrs;
  for (unsigned i = 0; i < 5000; ++i) {
    char text[64];
    std::snprintf(text, sizeof text, "2001:db8::%x:%x/128", i / 256 + 1, i % 256 + 1);
    cidrs.emplace_back(text);
    device.peers[0].allowed_ips.push_back(*wg::Prefix::parse(text));
  }
  const auto zones = zone_set(make_zone(reference_settings(), device, wg::Clock::time_point(std::chrono::seconds(1700000000)), nullptr));
  auto pkt = ask(zones, name1, LDNS_RR_TYPE_TXT, {}, dns::Transport::tcp);
  REQUIRE(ldns_pkt_ancount(pkt.get()) == 1);
  const ldns_rr* txt = ldns_rr_list_rr(ldns_pkt_answer(pkt.get()), 0);
  std::size_t rdata = 0;
  std::string allowed;
  std::size_t parts = 0;
  for (std::size_t i = 0; i < ldns_rr_rd_count(txt); ++i) {
    const ldns_rdf* f = ldns_rr_rdf(txt, i);
    rdata += ldns_rdf_size(f);
    const std::string text(reinterpret_cast<const char*>(ldns_rdf_data(f)) + 1, ldns_rdf_size(f) - 1);
    // allowed=, allowed2=, allowed3=, ... in order
    const std::string key = parts == 0 ? "allowed=" : "allowed" + std::to_string(parts + 1) + "=";
    if (text.rfind(key, 0) != 0) continue;
    allowed += (allowed.empty() ? "" : ",") + text.substr(key.size());
    ++parts;
  }
  CHECK(parts > 200);
  CHECK(rdata <= 60000);
  CHECK(rdata > 59000);
  // What is published is the device's list from its start, whole CIDRs only.
  std::string expected;
  std::size_t n = 0;
  while (expected.size() < allowed.size()) {
    if (n > 0) expected += ",";
    expected += cidrs[n];
    ++n;
  }
  CHECK(allowed == expected);
  CHECK(n < cidrs.size());
  // The other records of the peer are whole and the SRV still answers over UDP (without the TXT).
  auto srv = ask(zones, name1, LDNS_RR_TYPE_SRV);
  CHECK(ldns_pkt_ancount(srv.get()) == 1);
}

TEST_CASE("max-age unpublishes stale peers and hide removes peers entirely", "[dns][responder]") {
  const auto now = wg::Clock::time_point(std::chrono::seconds(1700000000));
  auto device = reference_device();
  device.peers[0].last_handshake = now - std::chrono::seconds(30);
  device.peers[1].last_handshake = now - std::chrono::seconds(600);
  auto settings = reference_settings();
  settings.publish.max_age = std::chrono::seconds(120);
  settings.publish.hide.push_back(key_from_b64(key3));
  const auto zones = zone_set(make_zone(settings, device, now, nullptr));

  auto ptr = ask(zones, "_wireguard._udp.example.com.", LDNS_RR_TYPE_PTR);
  CHECK(section(ptr.get(), LDNS_SECTION_ANSWER) ==
        rrs({"_wireguard._udp.example.com. 0 IN PTR " + name1, "_wireguard._udp.example.com. 0 IN PTR " + name_self}));
  auto stale_srv = ask(zones, name2, LDNS_RR_TYPE_SRV);
  CHECK(ldns_pkt_get_rcode(stale_srv.get()) == LDNS_RCODE_NOERROR);
  CHECK(ldns_pkt_ancount(stale_srv.get()) == 0);
  auto stale_txt = ask(zones, name2, LDNS_RR_TYPE_TXT);
  CHECK(section(stale_txt.get(), LDNS_SECTION_ANSWER) == rrs({name2 + txt2 + " \"handshake=1699999400\""}));
  auto fresh_txt = ask(zones, name1, LDNS_RR_TYPE_TXT);
  CHECK(section(fresh_txt.get(), LDNS_SECTION_ANSWER) == rrs({name1 + txt1 + " \"handshake=1699999970\""}));
  const std::string hidden = key_from_b64(key3).to_base32() + "._wireguard._udp.example.com.";
  CHECK(ldns_pkt_get_rcode(ask(zones, hidden, LDNS_RR_TYPE_TXT).get()) == LDNS_RCODE_NXDOMAIN);
}

TEST_CASE("the question is echoed exactly as asked (0x20)", "[dns][responder]") {
  const auto zones = reference_zones();
  const std::string mixed = "Cj7VjD6yKb2UbT6nOa6Pw32PmF3eGuMo52QwA4Uj4EkIlQdX252a====._WireGuard._UDP.ExAmPlE.cOm.";
  const auto query = make_query(mixed, LDNS_RR_TYPE_SRV);
  const auto response = dns::respond(query, zones, {});
  REQUIRE(response.size() > query.size());
  // Same question bytes, letter for letter.
  CHECK(std::equal(query.begin() + 12, query.end(), response.begin() + 12));
  auto pkt = parse_response(response);
  const ldns_rr* answer = ldns_rr_list_rr(ldns_pkt_answer(pkt.get()), 0);
  char* owner = ldns_rdf2str(ldns_rr_owner(answer));
  CHECK(std::string(owner) == mixed);  // owner of the answer = the question as asked
  std::free(owner);
  char* target = ldns_rdf2str(ldns_rr_rdf(answer, 3));
  CHECK(std::string(target) == name1);  // data the server generates is lower case
  std::free(target);
}

TEST_CASE("header rules: RD copied, opcodes, counts, QR, short packets", "[dns][responder]") {
  const auto zones = reference_zones();
  SECTION("RD copied, RA clear") {
    auto pkt = ask(zones, name1, LDNS_RR_TYPE_A, {.rd = true});
    CHECK(ldns_pkt_rd(pkt.get()));
    CHECK_FALSE(ldns_pkt_ra(pkt.get()));
    CHECK(ldns_pkt_id(pkt.get()) == 0x1234);
  }
  auto query = make_query(name1, LDNS_RR_TYPE_A);
  SECTION("opcode STATUS and others are NOTIMP") {
    for (std::uint8_t opcode : {1, 2, 3, 4, 5, 6, 15}) {
      auto q = query;
      q[2] = static_cast<std::uint8_t>(opcode << 3);
      auto pkt = parse_response(dns::respond(q, zones, {}));
      REQUIRE(pkt);
      CHECK(ldns_pkt_get_rcode(pkt.get()) == LDNS_RCODE_NOTIMPL);
    }
  }
  SECTION("QDCOUNT 0 and 2 are FORMERR") {
    for (std::uint8_t qd : {0, 2}) {
      auto q = query;
      q[5] = qd;
      const auto r = dns::respond(q, zones, {});
      REQUIRE(r.size() == 12);
      CHECK((r[3] & 0x0f) == LDNS_RCODE_FORMERR);
      CHECK(r[0] == 0x12);
    }
  }
  SECTION("answer records in a query are FORMERR") {
    auto q = query;
    q[7] = 1;
    CHECK((dns::respond(q, zones, {})[3] & 0x0f) == LDNS_RCODE_FORMERR);
  }
  SECTION("a compression pointer in the question is FORMERR") {
    std::vector<std::uint8_t> q = {0, 1, 0, 0, 0, 1, 0, 0, 0, 0, 0, 0, 0xc0, 0x0c, 0, 1, 0, 1};
    CHECK((dns::respond(q, zones, {})[3] & 0x0f) == LDNS_RCODE_FORMERR);
  }
  SECTION("QR=1 is never answered") {
    auto q = query;
    q[2] |= 0x80;
    CHECK(dns::respond(q, zones, {}).empty());
  }
  SECTION("too short for a header is dropped") {
    CHECK(dns::respond(std::vector<std::uint8_t>(query.begin(), query.begin() + 11), zones, {}).empty());
  }
  SECTION("class CH, ANY and NONE are REFUSED") {
    for (std::uint16_t c : {3, 255, 254}) {
      auto pkt = ask(zones, name1, LDNS_RR_TYPE_A, {.qclass = c});
      CHECK(ldns_pkt_get_rcode(pkt.get()) == LDNS_RCODE_REFUSED);
    }
  }
  SECTION("truncated question is FORMERR") {
    auto q = query;
    q.resize(q.size() - 3);
    CHECK((dns::respond(q, zones, {})[3] & 0x0f) == LDNS_RCODE_FORMERR);
  }
}

TEST_CASE("EDNS(0): OPT echoed, sizes, BADVERS, one OPT only", "[dns][responder]") {
  const auto zones = reference_zones();
  SECTION("OPT echoed with our size and DO copied") {
    auto pkt = ask(zones, name1, LDNS_RR_TYPE_SRV, {.edns = true, .udp_size = 4096, .dnssec_ok = true});
    CHECK(ldns_pkt_edns(pkt.get()));
    CHECK(ldns_pkt_edns_udp_size(pkt.get()) == 1232);
    CHECK(ldns_pkt_edns_version(pkt.get()) == 0);
    CHECK(ldns_pkt_edns_do(pkt.get()));
    CHECK(ldns_pkt_arcount(pkt.get()) == 2);  // A, TXT (ldns keeps the OPT apart)
  }
  SECTION("no OPT without EDNS") {
    auto pkt = ask(zones, name1, LDNS_RR_TYPE_SRV);
    CHECK_FALSE(ldns_pkt_edns(pkt.get()));
  }
  SECTION("version 1 is BADVERS") {
    auto q = make_query(name1, LDNS_RR_TYPE_A, {.edns = true});
    q[q.size() - 5] = 1;  // OPT TTL: ext-rcode, VERSION, flags; then RDLENGTH
    const auto r = dns::respond(q, zones, {});
    auto pkt = parse_response(r);
    REQUIRE(pkt);
    CHECK(ldns_pkt_ancount(pkt.get()) == 0);
    CHECK((r[3] & 0x0f) == 0);
    CHECK(ldns_pkt_edns_extended_rcode(pkt.get()) == 1);  // 16 >> 4: BADVERS
  }
  SECTION("two OPT records are FORMERR") {
    auto q = make_query(name1, LDNS_RR_TYPE_A, {.edns = true});
    const std::vector<std::uint8_t> opt(q.end() - 11, q.end());
    q.insert(q.end(), opt.begin(), opt.end());
    q[11] = 2;
    CHECK((dns::respond(q, zones, {})[3] & 0x0f) == LDNS_RCODE_FORMERR);
  }
  SECTION("an OPT with a lying RDLENGTH is FORMERR") {
    auto q = make_query(name1, LDNS_RR_TYPE_A, {.edns = true});
    q[q.size() - 1] = 40;
    CHECK((dns::respond(q, zones, {})[3] & 0x0f) == LDNS_RCODE_FORMERR);
  }
}

TEST_CASE("truncation: additional first, then TC with whole RRsets, TCP gets more", "[dns][responder]") {
  auto device = reference_device();
  for (unsigned i = 0; i < 1000; ++i) {
    wg::Peer p;
    p.public_key = key_n(i + 100);
    p.endpoint = wg::Endpoint{*wg::IpAddress::parse("198.51.100.9"), static_cast<std::uint16_t>(1000 + i)};
    for (unsigned j = 0; j < 20; ++j) p.allowed_ips.push_back(*wg::Prefix::parse("10." + std::to_string(j) + ".0.0/16"));
    device.peers.push_back(p);
  }
  const auto zones = zone_set(make_zone(reference_settings(), device, wg::Clock::now(), nullptr));
  const std::string svc = "_wireguard._udp.example.com.";

  SECTION("PTR over UDP without EDNS: TC, no partial RRset, within 512") {
    const auto r = dns::respond(make_query(svc, LDNS_RR_TYPE_PTR), zones, {});
    CHECK(r.size() <= 512);
    auto pkt = parse_response(r);
    CHECK(ldns_pkt_tc(pkt.get()));
    CHECK(ldns_pkt_ancount(pkt.get()) == 0);
  }
  SECTION("PTR over UDP with EDNS 1232: TC within 1232, OPT kept") {
    const auto r = dns::respond(make_query(svc, LDNS_RR_TYPE_PTR, {.edns = true, .udp_size = 65000}), zones, {});
    CHECK(r.size() <= 1232);
    auto pkt = parse_response(r);
    CHECK(ldns_pkt_tc(pkt.get()));
    CHECK(ldns_pkt_edns(pkt.get()));
  }
  SECTION("a tiny EDNS size counts as 512") {
    const auto r = dns::respond(make_query(name1, LDNS_RR_TYPE_SRV, {.edns = true, .udp_size = 100}), zones, {});
    CHECK(r.size() <= 512);
    CHECK(r.size() > 100);
  }
  SECTION("PTR over TCP: as many whole PTRs as fit, then TC") {
    const auto r = dns::respond(make_query(svc, LDNS_RR_TYPE_PTR), zones, {dns::Transport::tcp, std::nullopt});
    CHECK(r.size() <= 65535);
    auto pkt = parse_response(r);
    CHECK(ldns_pkt_tc(pkt.get()));
    CHECK(ldns_pkt_ancount(pkt.get()) > 900);
    CHECK(ldns_pkt_ancount(pkt.get()) < 1003);
  }
  SECTION("SRV with a long TXT without EDNS: SRV and address kept, TXT dropped, no TC") {
    const std::string name = key_n(100).to_base32() + "._wireguard._udp.example.com.";
    auto pkt = parse_response(dns::respond(make_query(name, LDNS_RR_TYPE_SRV), zones, {}));
    REQUIRE(pkt);
    CHECK_FALSE(ldns_pkt_tc(pkt.get()));
    CHECK(ldns_pkt_ancount(pkt.get()) == 1);
    REQUIRE(ldns_pkt_arcount(pkt.get()) == 1);
    CHECK(ldns_rr_get_type(ldns_rr_list_rr(ldns_pkt_additional(pkt.get()), 0)) == LDNS_RR_TYPE_A);
  }
  SECTION("TXT longer than 255 bytes is split between CIDRs") {
    const std::string name = key_n(100).to_base32() + "._wireguard._udp.example.com.";
    auto pkt = ask(zones, name, LDNS_RR_TYPE_TXT, {.edns = true});
    const ldns_rr* txt = ldns_rr_list_rr(ldns_pkt_answer(pkt.get()), 0);
    REQUIRE(ldns_rr_rd_count(txt) == 4);
    std::string joined;
    for (std::size_t i = 2; i < 4; ++i) {
      const ldns_rdf* rdf = ldns_rr_rdf(txt, i);
      const std::string s(reinterpret_cast<const char*>(ldns_rdf_data(rdf)) + 1, ldns_rdf_size(rdf) - 1);
      const std::string key = i == 2 ? "allowed=" : "allowed2=";
      REQUIRE(s.rfind(key, 0) == 0);
      CHECK(s.back() != ',');
      joined += (joined.empty() ? "" : ",") + s.substr(key.size());
    }
    std::string expected;
    for (unsigned j = 0; j < 20; ++j) expected += (j ? "," : "") + std::string("10.") + std::to_string(j) + ".0.0/16";
    CHECK(joined == expected);
  }
}

TEST_CASE("ANY: HINFO over UDP (RFC 8482), every RRset over TCP", "[dns][responder]") {
  const auto zones = reference_zones();
  auto udp = ask(zones, name1, LDNS_RR_TYPE_ANY);
  CHECK(section(udp.get(), LDNS_SECTION_ANSWER) == rrs({name1 + " 0 IN HINFO \"RFC8482\" \"\""}));
  auto tcp = ask(zones, name1, LDNS_RR_TYPE_ANY, {}, dns::Transport::tcp);
  auto answer = section(tcp.get(), LDNS_SECTION_ANSWER);
  std::sort(answer.begin(), answer.end());
  auto expected = rrs({name1 + txt1, name1 + " 0 IN A 198.51.100.7", name1 + " 0 IN SRV 0 0 40001 " + name1});
  std::sort(expected.begin(), expected.end());
  CHECK(answer == expected);
  auto missing = ask(zones, unknown, LDNS_RR_TYPE_ANY);
  CHECK(ldns_pkt_get_rcode(missing.get()) == LDNS_RCODE_NXDOMAIN);
}

TEST_CASE("self without endpoint answers with the address the query arrived on", "[dns][responder]") {
  auto settings = reference_settings();
  settings.publish.self->endpoint.reset();
  const auto zones = zone_set(make_zone(settings, reference_device(), wg::Clock::now(), nullptr));
  const auto q_srv = make_query(name_self, LDNS_RR_TYPE_SRV);
  auto v4 = parse_response(dns::respond(q_srv, zones, {dns::Transport::udp, wg::IpAddress::parse("203.0.113.5")}));
  CHECK(section(v4.get(), LDNS_SECTION_ANSWER) == rrs({name_self + " 0 IN SRV 0 0 51820 " + name_self}));
  REQUIRE(section(v4.get(), LDNS_SECTION_ADDITIONAL).size() == 2);
  CHECK(section(v4.get(), LDNS_SECTION_ADDITIONAL)[0] == rr(name_self + " 0 IN A 203.0.113.5"));
  auto mapped = parse_response(dns::respond(make_query(name_self, LDNS_RR_TYPE_A), zones, {dns::Transport::udp, wg::IpAddress::parse("::ffff:203.0.113.6")}));
  CHECK(section(mapped.get(), LDNS_SECTION_ANSWER) == rrs({name_self + " 0 IN A 203.0.113.6"}));
  auto v6 = parse_response(dns::respond(make_query(name_self, LDNS_RR_TYPE_AAAA), zones, {dns::Transport::udp, wg::IpAddress::parse("2001:db8::53")}));
  CHECK(section(v6.get(), LDNS_SECTION_ANSWER) == rrs({name_self + " 0 IN AAAA 2001:db8::53"}));
  auto v6_a = parse_response(dns::respond(make_query(name_self, LDNS_RR_TYPE_A), zones, {dns::Transport::udp, wg::IpAddress::parse("2001:db8::53")}));
  CHECK(ldns_pkt_ancount(v6_a.get()) == 0);
  CHECK(ldns_pkt_nscount(v6_a.get()) == 1);
}

TEST_CASE("IPv4-mapped endpoints answer as A", "[dns][responder]") {
  auto device = reference_device();
  device.peers[1].endpoint = wg::Endpoint::parse("[::ffff:198.51.100.8]:40002");
  const auto zones = zone_set(make_zone(reference_settings(), device, wg::Clock::now(), nullptr));
  CHECK(section(ask(zones, name2, LDNS_RR_TYPE_A).get(), LDNS_SECTION_ANSWER) == rrs({name2 + " 0 IN A 198.51.100.8"}));
  CHECK(ldns_pkt_ancount(ask(zones, name2, LDNS_RR_TYPE_AAAA).get()) == 0);
}

TEST_CASE("SERIAL grows on change, stays on no change, never goes back", "[dns][responder]") {
  const auto t0 = wg::Clock::time_point(std::chrono::seconds(1700000000));
  auto settings = reference_settings();
  auto device = reference_device();
  auto z1 = make_zone(settings, device, t0, nullptr);
  CHECK(z1->serial == 1700000000);
  std::reverse(device.peers.begin(), device.peers.end());  // wireguard-go reorders between reads
  auto z2 = make_zone(settings, device, t0 + std::chrono::seconds(5), z1.get());
  CHECK(z2->serial == z1->serial);
  device.peers[0].endpoint = wg::Endpoint::parse("192.0.2.77:1");
  auto z3 = make_zone(settings, device, t0 + std::chrono::seconds(5), z2.get());
  CHECK(z3->serial == 1700000005);
  device.peers[0].endpoint = wg::Endpoint::parse("192.0.2.78:1");
  auto z4 = make_zone(settings, device, t0 + std::chrono::seconds(5), z3.get());
  CHECK(z4->serial == 1700000006);
  // The clock going backwards does not take the serial with it.
  device.peers.pop_back();
  auto z5 = make_zone(settings, device, t0 - std::chrono::seconds(3600), z4.get());
  CHECK(z5->serial == 1700000007);
}

TEST_CASE("a zone not yet read answers SERVFAIL", "[dns][responder]") {
  const auto zones = zone_set(make_empty_zone(reference_settings()));
  CHECK(ldns_pkt_get_rcode(ask(zones, name1, LDNS_RR_TYPE_SRV).get()) == LDNS_RCODE_SERVFAIL);
  CHECK(ldns_pkt_get_rcode(ask(zones, "other.test.", LDNS_RR_TYPE_SRV).get()) == LDNS_RCODE_REFUSED);
}

TEST_CASE("several zones: the longest match answers", "[dns][responder]") {
  auto outer = reference_settings();
  auto inner = reference_settings();
  inner.settings.zone = "sub.example.com.";
  inner.settings.ns = {{"ns.sub.example.com.", {*wg::IpAddress::parse("192.0.2.53")}}};
  dns::ZoneSet zones;
  zones.zones.push_back(make_zone(outer, reference_device(), wg::Clock::now(), nullptr));
  zones.zones.push_back(make_zone(inner, reference_device(), wg::Clock::now(), nullptr));
  const std::string inner_name = "cj7vjd6ykb2ubt6noa6pw32pmf3egumo52qwa4uj4ekilqdx252a====._wireguard._udp.sub.example.com.";
  auto pkt = ask(zones, inner_name, LDNS_RR_TYPE_SRV);
  CHECK(section(pkt.get(), LDNS_SECTION_ANSWER) == rrs({inner_name + " 0 IN SRV 0 0 40001 " + inner_name}));
  auto ns = ask(zones, "sub.example.com.", LDNS_RR_TYPE_NS);
  CHECK(section(ns.get(), LDNS_SECTION_ANSWER) == rrs({"sub.example.com. 3600 IN NS ns.sub.example.com."}));
  CHECK(section(ns.get(), LDNS_SECTION_ADDITIONAL) == rrs({"ns.sub.example.com. 3600 IN A 192.0.2.53"}));
  CHECK(section(ask(zones, "ns.sub.example.com.", LDNS_RR_TYPE_A).get(), LDNS_SECTION_ANSWER) == rrs({"ns.sub.example.com. 3600 IN A 192.0.2.53"}));
  auto soa = ask(zones, "sub.example.com.", LDNS_RR_TYPE_SOA);
  CHECK_THAT(section(soa.get(), LDNS_SECTION_ANSWER).at(0), Catch::StartsWith("sub.example.com. 5 in soa ns.sub.example.com. postmaster.sub.example.com."));
}

TEST_CASE("jwhited/wgsd client shape: upper-case SRV, RD, no EDNS, UDP", "[dns][responder][compat]") {
  const auto zones = reference_zones();
  std::string upper = name1;
  std::transform(upper.begin(), upper.end(), upper.begin(), [](unsigned char c) { return static_cast<char>(std::toupper(c)); });
  const auto r = dns::respond(make_query(upper, LDNS_RR_TYPE_SRV, {.rd = true}), zones, {});
  CHECK(r.size() <= 512);
  auto pkt = parse_response(r);
  REQUIRE(ldns_pkt_ancount(pkt.get()) >= 1);
  CHECK(ldns_rr_get_type(ldns_rr_list_rr(ldns_pkt_answer(pkt.get()), 0)) == LDNS_RR_TYPE_SRV);
  REQUIRE(ldns_pkt_arcount(pkt.get()) >= 1);
  CHECK(section(pkt.get(), LDNS_SECTION_ADDITIONAL).at(0) == rr(name1 + " 0 IN A 198.51.100.7"));
  CHECK(ldns_pkt_rd(pkt.get()));
}

TEST_CASE("lookup: outcome, zone and node for each kind of name", "[dns][lookup]") {
  const auto zones = reference_zones();
  auto wire = [](const std::string& n) { return *dns::name_to_wire(n); };
  auto r = dns::lookup(zones, wire(name1), 33);
  CHECK(r.outcome == dns::Outcome::answer);
  REQUIRE(r.rrset);
  CHECK(r.rrset.type() == 33);
  CHECK(r.rrset.count() == 1);
  CHECK(r.rrset.extra_count() == 2);  // the target's A and TXT
  CHECK(r.node.name() == wire(name1));
  CHECK(r.apex_offset == wire(name1).size() - wire("example.com.").size());
  CHECK(dns::lookup(zones, wire(name1), 28).outcome == dns::Outcome::nodata);
  CHECK(dns::lookup(zones, wire(unknown), 33).outcome == dns::Outcome::nxdomain);
  CHECK(dns::lookup(zones, wire("other.test."), 1).outcome == dns::Outcome::refused);
  CHECK(dns::lookup(zones, wire("_udp.example.com."), 255).outcome == dns::Outcome::nodata);
  CHECK(dns::lookup(zones, wire(name1), 255).outcome == dns::Outcome::answer);
  const auto empty = zone_set(make_empty_zone(reference_settings()));
  CHECK(dns::lookup(empty, wire(name1), 33).outcome == dns::Outcome::servfail);
}

TEST_CASE("the name index finds every node by its own name, and nothing else", "[dns][zone]") {
  // Enough names that probes wrap around and neighbours collide on the low hash bits.
  auto device = reference_device();
  for (unsigned i = 0; i < 3000; ++i) {
    wg::Peer p;
    p.public_key = key_n(100 + i);
    p.endpoint = wg::Endpoint::parse("192.0.2.9:9");
    p.allowed_ips.push_back(*wg::Prefix::parse("10.9.0.0/16"));
    device.peers.push_back(p);
  }
  const auto zone = make_zone(reference_settings(), device, wg::Clock::time_point(std::chrono::seconds(1700000000)), nullptr);
  std::size_t found = 0;
  for (const auto& node : zone->nodes) {
    const auto ref = node->ref();
    const auto hit = zone->find(ref.name());
    REQUIRE(hit);
    CHECK(hit == ref);
    CHECK(zone->shared(ref.name())->get() == node.get());
    found += hit == ref ? 1 : 0;
  }
  CHECK(found == zone->nodes.size());
  CHECK(found >= 3003 + 4);  // the peers, self, the apex, the service name, _udp, ns1
  auto wire = [](const std::string& n) { return *dns::name_to_wire(n); };
  CHECK(!zone->find(wire("x.example.com.")));
  CHECK(!zone->find(wire("example.net.")));
  CHECK(zone->shared(wire("x.example.com.")) == nullptr);
  CHECK(zone->soa().type() == 6);
}

TEST_CASE("a rebuild shares the nodes of unchanged peers and rebuilds changed ones", "[dns][zone]") {
  auto device = reference_device();
  const auto t0 = wg::Clock::time_point(std::chrono::seconds(1700000000));
  auto z1 = make_zone(reference_settings(), device, t0, nullptr);
  device.peers[1].endpoint = wg::Endpoint::parse("[2001:db8::8]:40003");
  auto z2 = make_zone(reference_settings(), device, t0, z1.get());
  auto wire = [](const std::string& n) { return *dns::name_to_wire(n); };
  CHECK(z2->find(wire(name1)) == z1->find(wire(name1)));        // shared
  CHECK(z2->find(wire(name2)) != z1->find(wire(name2)));        // rebuilt
  CHECK(z2->find(wire("example.com.")) != z1->find(wire("example.com.")));  // the apex carries the new serial
  const auto zones = zone_set(z2);
  CHECK(section(ask(zones, name2, LDNS_RR_TYPE_AAAA).get(), LDNS_SECTION_ANSWER) == rrs({name2 + " 0 IN AAAA 2001:db8::8"}));
  CHECK(section(ask(zones, name1, LDNS_RR_TYPE_A).get(), LDNS_SECTION_ANSWER) == rrs({name1 + " 0 IN A 198.51.100.7"}));
  // A different zone never shares nodes.
  auto other = reference_settings();
  other.settings.zone = "example.net.";
  auto z3 = make_zone(other, device, t0, z2.get());
  CHECK(z3->nodes.size() == z2->nodes.size());
  CHECK(!z3->find(wire(name1)));
}

TEST_CASE("refresh_zone returns the previous zone itself when nothing published changed", "[dns][zone]") {
  auto device = reference_device();
  const auto t0 = wg::Clock::time_point(std::chrono::seconds(1700000000));
  const auto z1 = make_refresh(reference_settings(), device, t0, nullptr);
  REQUIRE(z1->loaded);
  std::reverse(device.peers.begin(), device.peers.end());
  CHECK(make_refresh(reference_settings(), device, t0 + std::chrono::seconds(1), z1) == z1);
  device.peers[0].endpoint = wg::Endpoint::parse("192.0.2.7:7");
  const auto z2 = make_refresh(reference_settings(), device, t0 + std::chrono::seconds(2), z1);
  CHECK(z2 != z1);
  CHECK(z2->serial > z1->serial);
  // A zone never read before is always replaced.
  const auto empty = make_empty_zone(reference_settings());
  CHECK(make_refresh(reference_settings(), device, t0, empty) != empty);
}

TEST_CASE("prefetch takes any batch and changes no answer", "[dns][responder]") {
  const auto zones = reference_zones();
  std::string name2_upper = name2;
  for (auto& c : name2_upper) c = static_cast<char>(std::toupper(static_cast<unsigned char>(c)));
  std::vector<std::vector<std::uint8_t>> packets = {
      make_query(name1, LDNS_RR_TYPE_SRV),
      make_query(name2_upper, LDNS_RR_TYPE_AAAA),
      make_query(unknown, LDNS_RR_TYPE_SRV),
      make_query("_wireguard._udp.example.com.", LDNS_RR_TYPE_PTR),
      make_query("example.org.", LDNS_RR_TYPE_A),
      {},
      {0x12, 0x34, 0, 0, 0},
      {0x12, 0x34, 0x80, 0, 0, 1, 0, 0, 0, 0, 0, 0, 3, 'c', 'o', 'm', 0, 0, 1, 0, 1},   // a response
      {0x12, 0x34, 0, 0, 0, 1, 0, 0, 0, 0, 0, 0, 0xc0, 0x0c, 0, 1, 0, 1},                 // pointer as the name
      {0x12, 0x34, 0, 0, 0, 1, 0, 0, 0, 0, 0, 0, 63, 'a', 'b'},                           // label past the end
      {0x12, 0x34, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0},                                         // no question
  };
  while (packets.size() < 2 * dns::max_prefetch) packets.push_back(make_query(name1, LDNS_RR_TYPE_TXT));
  std::vector<std::span<const std::uint8_t>> batch(packets.begin(), packets.end());
  const dns::QueryContext ctx{dns::Transport::udp, wg::IpAddress::parse("192.0.2.1")};
  std::vector<std::vector<std::uint8_t>> before;
  for (const auto q : batch) before.push_back(dns::respond(q, zones, ctx));
  CHECK(!before[0].empty());
  CHECK(before[5].empty());
  dns::prefetch(batch, zones);
  dns::prefetch(std::span(batch).first(0), zones);
  for (std::size_t i = 0; i < batch.size(); ++i) CHECK(dns::respond(batch[i], zones, ctx) == before[i]);
}
