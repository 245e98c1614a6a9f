// What the snapshot builder publishes beyond the peers' data: TTLs, the TXT layout of long
// allowed-IP lists, and the name servers' own records.
#include <catch2/catch.hpp>

#include "dns/fixtures.hpp"
#include "dns/responder.hpp"
#include "dns/wire.hpp"
#include "support/dns_case.hpp"
#include "support/keys.hpp"

using namespace wgsd;
using namespace wgsd::test;

namespace {

const wg::Clock::time_point t0(std::chrono::seconds(1700000000));
const std::string unknown = key_n(999).to_base32() + "._wireguard._udp.example.com.";

ReferenceZone with_name_server() {
  auto z = reference_settings();
  z.settings.ns = {{"ns1.example.com.", {*wg::IpAddress::parse("192.0.2.53"), *wg::IpAddress::parse("2001:db8::53")}}};
  return z;
}

PktPtr ask(const dns::ZoneSet& zones, const std::string& qname, ldns_rr_type qtype, std::optional<wg::IpAddress> local = std::nullopt,
           dns::Transport transport = dns::Transport::udp) {
  auto pkt = parse_response(dns::respond(make_query(qname, qtype), zones, {transport, local}));
  REQUIRE(pkt);
  return pkt;
}

std::vector<std::string> txt_strings(const ldns_pkt* pkt) {
  std::vector<std::string> out;
  REQUIRE(ldns_pkt_ancount(pkt) == 1);
  const ldns_rr* txt = ldns_rr_list_rr(ldns_pkt_answer(pkt), 0);
  for (std::size_t i = 0; i < ldns_rr_rd_count(txt); ++i) {
    const ldns_rdf* f = ldns_rr_rdf(txt, i);
    out.emplace_back(reinterpret_cast<const char*>(ldns_rdf_data(f)) + 1, ldns_rdf_size(f) - 1);
  }
  return out;
}

}  // namespace

TEST_CASE("default TTLs: data 0, negative answers 5 s, NS and the name servers' addresses 1 h", "[dns][zone][ttl]") {
  const auto zones = zone_set(make_zone(with_name_server(), reference_device(), t0, nullptr));
  const std::string soa = "example.com. 5 IN SOA ns1.example.com. postmaster.example.com. 1700000000 86400 7200 3600000 5";
  // RFC 2308 §5: a resolver caches a negative answer for min(SOA TTL, MINIMUM); both are 5.
  CHECK(section(ask(zones, unknown, LDNS_RR_TYPE_SRV).get(), LDNS_SECTION_AUTHORITY) == rrs({soa}));
  CHECK(section(ask(zones, name1, LDNS_RR_TYPE_AAAA).get(), LDNS_SECTION_AUTHORITY) == rrs({soa}));
  CHECK(section(ask(zones, "example.com.", LDNS_RR_TYPE_SOA).get(), LDNS_SECTION_ANSWER) == rrs({soa}));

  const auto ns = ask(zones, "example.com.", LDNS_RR_TYPE_NS);
  CHECK(section(ns.get(), LDNS_SECTION_ANSWER) == rrs({"example.com. 3600 IN NS ns1.example.com."}));
  CHECK(section(ns.get(), LDNS_SECTION_ADDITIONAL) ==
        rrs({"ns1.example.com. 3600 IN A 192.0.2.53", "ns1.example.com. 3600 IN AAAA 2001:db8::53"}));
  CHECK(section(ask(zones, "ns1.example.com.", LDNS_RR_TYPE_A).get(), LDNS_SECTION_ANSWER) == rrs({"ns1.example.com. 3600 IN A 192.0.2.53"}));
  CHECK(section(ask(zones, "ns1.example.com.", LDNS_RR_TYPE_AAAA).get(), LDNS_SECTION_ANSWER) ==
        rrs({"ns1.example.com. 3600 IN AAAA 2001:db8::53"}));

  const auto srv = ask(zones, name1, LDNS_RR_TYPE_SRV);
  CHECK(section(srv.get(), LDNS_SECTION_ANSWER) == rrs({name1 + " 0 IN SRV 0 0 40001 " + name1}));
  CHECK(section(srv.get(), LDNS_SECTION_ADDITIONAL).at(0) == rr(name1 + " 0 IN A 198.51.100.7"));
  CHECK(section(ask(zones, "_wireguard._udp.example.com.", LDNS_RR_TYPE_PTR).get(), LDNS_SECTION_ANSWER).at(0) ==
        rr("_wireguard._udp.example.com. 0 IN PTR " + name1));
}

TEST_CASE("configured TTLs reach every record, the address of self included", "[dns][zone][ttl]") {
  auto z = with_name_server();
  z.settings.ttl = {30, 2, 600};
  z.publish.self->endpoint.reset();  // self answers with the address the query came to
  const auto zones = zone_set(make_zone(z, reference_device(), t0, nullptr));
  const auto local = wg::IpAddress::parse("203.0.113.5");

  CHECK(section(ask(zones, unknown, LDNS_RR_TYPE_TXT).get(), LDNS_SECTION_AUTHORITY) ==
        rrs({"example.com. 2 IN SOA ns1.example.com. postmaster.example.com. 1700000000 86400 7200 3600000 2"}));
  CHECK(section(ask(zones, "example.com.", LDNS_RR_TYPE_NS).get(), LDNS_SECTION_ANSWER) == rrs({"example.com. 600 IN NS ns1.example.com."}));
  CHECK(section(ask(zones, "ns1.example.com.", LDNS_RR_TYPE_A).get(), LDNS_SECTION_ANSWER) == rrs({"ns1.example.com. 600 IN A 192.0.2.53"}));
  CHECK(section(ask(zones, name1, LDNS_RR_TYPE_A).get(), LDNS_SECTION_ANSWER) == rrs({name1 + " 30 IN A 198.51.100.7"}));
  CHECK(section(ask(zones, name_self, LDNS_RR_TYPE_A, local).get(), LDNS_SECTION_ANSWER) == rrs({name_self + " 30 IN A 203.0.113.5"}));
  const auto srv = ask(zones, name_self, LDNS_RR_TYPE_SRV, local);
  CHECK(section(srv.get(), LDNS_SECTION_ANSWER) == rrs({name_self + " 30 IN SRV 0 0 51820 " + name_self}));
  CHECK(section(srv.get(), LDNS_SECTION_ADDITIONAL).at(0) == rr(name_self + " 30 IN A 203.0.113.5"));

  // A rebuild with another data TTL does not reuse the nodes built with the old one.
  auto z0 = z;
  z0.settings.ttl.data = 0;
  const auto first = make_zone(z0, reference_device(), t0, nullptr);
  const auto second = make_zone(z, reference_device(), t0, first.get());
  CHECK(section(ask(zone_set(second), name1, LDNS_RR_TYPE_A).get(), LDNS_SECTION_ANSWER) == rrs({name1 + " 30 IN A 198.51.100.7"}));
}

TEST_CASE("a long allowed-IP list continues in allowed2=, allowed3=, ...: distinct keys, split between CIDRs", "[dns][zone][txt]") {
  auto device = reference_device();
  device.peers[0].allowed_ips.clear();
  device.peers[0].last_handshake = t0 - std::chrono::seconds(7);
  std::string expected;
  for (unsigned i = 0; i < 200; ++i) {
    const std::string cidr = "10.0." + std::to_string(i / 50) + "." + std::to_string(i % 50 * 5) + "/32";
    expected += (i == 0 ? "" : ",") + cidr;
    device.peers[0].allowed_ips.push_back(*wg::Prefix::parse(cidr));
  }
  const auto zones = zone_set(make_zone(reference_settings(), device, t0, nullptr));
  const auto strings = txt_strings(ask(zones, name1, LDNS_RR_TYPE_TXT, std::nullopt, dns::Transport::tcp).get());
  REQUIRE(strings.size() >= 5);
  CHECK(strings[0] == "txtvers=1");
  CHECK(strings[1] == std::string("pub=") + key1);
  CHECK(strings.back() == "handshake=1699999993");
  // RFC 6763 §6.4: a reader keeps the first of repeated keys, so every continuation has its own.
  std::string joined;
  for (std::size_t i = 2; i + 1 < strings.size(); ++i) {
    const std::string key = i == 2 ? "allowed=" : "allowed" + std::to_string(i - 1) + "=";
    INFO("string " << i << ": " << strings[i]);
    REQUIRE(strings[i].rfind(key, 0) == 0);
    CHECK(strings[i].size() <= 255);
    const std::string part = strings[i].substr(key.size());
    CHECK(part.front() != ',');
    CHECK(part.back() != ',');
    if (i + 2 < strings.size()) CHECK(strings[i].size() + 1 + 13 > 255);  // full: the next CIDR would not have fitted
    joined += (i == 2 ? "" : ",") + part;
  }
  CHECK(joined == expected);  // in device order, no CIDR cut in two
}

TEST_CASE("a peer's block holds its TXT and address once: the SRV's additional records point at its own answers", "[dns][zone]") {
  const auto zone = make_zone(reference_settings(), reference_device(), t0, nullptr);
  const auto wire = dns::name_to_wire(name1);
  REQUIRE(wire);
  const dns::NodeRef node = zone->find(*wire);
  REQUIRE(node);
  const dns::RRsetRef srv = node.find(LDNS_RR_TYPE_SRV);
  const dns::RRsetRef txt = node.find(LDNS_RR_TYPE_TXT);
  const dns::RRsetRef a = node.find(LDNS_RR_TYPE_A);
  REQUIRE(srv);
  REQUIRE(txt);
  REQUIRE(a);
  REQUIRE(srv.extra_count() == 2);
  // The same bytes, at the same place: nothing in the block was copied twice.
  CHECK(srv.extra(0).tail == a.rr(0));
  CHECK(srv.extra(0).tail.data() == a.rr(0).data());
  CHECK(srv.extra(1).tail == txt.rr(0));
  CHECK(srv.extra(1).tail.data() == txt.rr(0).data());
}
