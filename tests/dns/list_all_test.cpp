// `list-all`: the PTR set names every peer the device holds (hidden ones excepted), those without
// a fresh endpoint too, so a listing can provision peers that never connected. Their SRV and
// A/AAAA stay NODATA; their TXT answers.
#include <catch2/catch.hpp>

#include "dns/fixtures.hpp"
#include "dns/responder.hpp"
#include "server/config.hpp"
#include "support/dns_case.hpp"
#include "support/keys.hpp"

using namespace wgsd;
using namespace wgsd::test;

namespace {

const wg::Clock::time_point t0(std::chrono::seconds(1700000000));
const std::string service = "_wireguard._udp.example.com.";
const std::string name3 = key_from_b64(key3).to_base32() + "." + service;

PktPtr ask(const dns::ZoneSet& zones, const std::string& qname, ldns_rr_type qtype) {
  auto pkt = parse_response(dns::respond(make_query(qname, qtype), zones, {dns::Transport::tcp, std::nullopt}));
  REQUIRE(pkt);
  return pkt;
}

std::vector<std::string> ptr_targets(const ldns_pkt* pkt) {
  std::vector<std::string> out;
  for (std::size_t i = 0; i < ldns_pkt_ancount(pkt); ++i) {
    char* s = ldns_rdf2str(ldns_rr_rdf(ldns_rr_list_rr(ldns_pkt_answer(pkt), i), 0));
    out.emplace_back(s);
    std::free(s);
  }
  return out;
}

}  // namespace

TEST_CASE("list-all: PTR lists peers without an endpoint or with a stale one, whose SRV and A stay NODATA", "[dns][zone][list-all]") {
  auto z = reference_settings();
  auto device = reference_device();
  device.peers[0].last_handshake = t0 - std::chrono::hours(1);  // stale under max-age
  device.peers[1].last_handshake = t0;
  z.publish.max_age = std::chrono::minutes(3);
  z.publish.hide = {key_from_b64(key2)};

  const auto without = ptr_targets(ask(zone_set(make_zone(z, device, t0, nullptr)), service, LDNS_RR_TYPE_PTR).get());
  CHECK(without == std::vector<std::string>{name_self});

  z.publish.list_all = true;
  const auto zones = zone_set(make_zone(z, device, t0, nullptr));
  // Device order, self last; the hidden peer is never listed.
  CHECK(ptr_targets(ask(zones, service, LDNS_RR_TYPE_PTR).get()) == std::vector<std::string>{name1, name3, name_self});
  for (const auto& name : {name1, name3}) {
    auto srv = ask(zones, name, LDNS_RR_TYPE_SRV);
    CHECK(ldns_pkt_get_rcode(srv.get()) == LDNS_RCODE_NOERROR);
    CHECK(ldns_pkt_ancount(srv.get()) == 0);
    CHECK(ldns_pkt_ancount(ask(zones, name, LDNS_RR_TYPE_A).get()) == 0);
    CHECK(ldns_pkt_ancount(ask(zones, name, LDNS_RR_TYPE_TXT).get()) == 1);
  }
  // A digest that ignored the flag would let a refresh keep the old PTR set.
  CHECK(make_digest(z, device, t0) != [&] {
    auto off = z;
    off.publish.list_all = false;
    return make_digest(off, device, t0);
  }());
}

TEST_CASE("list-all in the wgsd block: no arguments, once", "[corefile][list-all]") {
  const auto config = server::parse_config(".:53 {\n wgsd example.com. wg0 {\n list-all\n ns ns1.example.com. 192.0.2.53\n }\n}", "Corefile");
  REQUIRE(config.blocks.size() == 1);
  REQUIRE(config.blocks[0].wgsd.size() == 1);
  CHECK(config.blocks[0].wgsd[0].publish.list_all);
  CHECK_THROWS_WITH(server::parse_config(".:53 {\n wgsd example.com. wg0 {\n list-all yes\n }\n}", "Corefile"),
                    Catch::Contains("Corefile:3: wgsd: list-all: takes no arguments, got 'yes'"));
  CHECK_THROWS_WITH(server::parse_config(".:53 {\n wgsd example.com. wg0 {\n list-all\n list-all\n }\n}", "Corefile"),
                    Catch::Contains("Corefile:4: wgsd: list-all: given twice"));
}
