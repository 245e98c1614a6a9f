// `self` without an endpoint publishes the address the query arrived on, and never one that no
// remote peer can reach.
#include <catch2/catch.hpp>

#include "dns/fixtures.hpp"
#include "dns/responder.hpp"
#include "support/dns_case.hpp"

using namespace wgsd;
using namespace wgsd::test;

namespace {

PktPtr ask(const dns::ZoneSet& zones, const std::string& qname, ldns_rr_type qtype, std::optional<wg::IpAddress> local,
           dns::Transport transport = dns::Transport::udp) {
  auto pkt = parse_response(dns::respond(make_query(qname, qtype), zones, {transport, local}));
  REQUIRE(pkt);
  return pkt;
}

std::vector<ldns_rr_type> types(const ldns_pkt* pkt) {
  std::vector<ldns_rr_type> out;
  const ldns_rr_list* list = ldns_pkt_answer(pkt);
  for (std::size_t i = 0; i < ldns_rr_list_rr_count(list); ++i) out.push_back(ldns_rr_get_type(ldns_rr_list_rr(list, i)));
  std::sort(out.begin(), out.end());
  return out;
}

}  // namespace

TEST_CASE("self without endpoint is NODATA for SRV, A and AAAA when the query arrived on loopback", "[dns][responder][self]") {
  auto settings = reference_settings();
  settings.publish.self->endpoint.reset();
  const auto zones = zone_set(make_zone(settings, reference_device(), wg::Clock::now(), nullptr));
  const char* unreachable[] = {"127.0.0.1", "127.3.2.1", "::1", "::ffff:127.0.0.1", "0.0.0.0", "::", "0.1.2.3",
                               "169.254.7.7", "fe80::1", "224.0.0.251", "ff02::fb", "255.255.255.255"};
  for (const char* text : unreachable) {
    DYNAMIC_SECTION("arrived on " << text) {
      const auto local = wg::IpAddress::parse(text);
      REQUIRE(local);
      for (auto t : {LDNS_RR_TYPE_SRV, LDNS_RR_TYPE_A, LDNS_RR_TYPE_AAAA}) {
        auto pkt = ask(zones, name_self, t, local);
        CHECK(ldns_pkt_get_rcode(pkt.get()) == LDNS_RCODE_NOERROR);
        CHECK(ldns_pkt_ancount(pkt.get()) == 0);
        CHECK(ldns_pkt_arcount(pkt.get()) == 0);
        CHECK(ldns_pkt_nscount(pkt.get()) == 1);  // the SOA: NODATA
      }
      // The TXT stays, as for a peer without endpoint; ANY over TCP has the TXT alone.
      CHECK(ldns_pkt_ancount(ask(zones, name_self, LDNS_RR_TYPE_TXT, local).get()) == 1);
      CHECK(types(ask(zones, name_self, LDNS_RR_TYPE_ANY, local, dns::Transport::tcp).get()) == std::vector<ldns_rr_type>{LDNS_RR_TYPE_TXT});
    }
  }
  SECTION("an unknown local address is the same") {
    CHECK(ldns_pkt_ancount(ask(zones, name_self, LDNS_RR_TYPE_SRV, std::nullopt).get()) == 0);
  }
  SECTION("any other address answers, SRV with the address in additional") {
    for (const char* text : {"203.0.113.5", "10.9.0.1", "2001:db8::53", "fd00::53"}) {
      auto pkt = ask(zones, name_self, LDNS_RR_TYPE_SRV, wg::IpAddress::parse(text));
      CHECK(ldns_pkt_ancount(pkt.get()) == 1);
      REQUIRE(ldns_pkt_arcount(pkt.get()) == 2);
      CHECK(section(pkt.get(), LDNS_SECTION_ADDITIONAL)[0].find(text) != std::string::npos);
      auto any = ask(zones, name_self, LDNS_RR_TYPE_ANY, wg::IpAddress::parse(text), dns::Transport::tcp);
      CHECK(types(any.get()).size() == 3);  // SRV, TXT and the address
    }
  }
  SECTION("a configured endpoint is published whatever the query arrived on") {
    const auto fixed = reference_zones();
    auto pkt = ask(fixed, name_self, LDNS_RR_TYPE_SRV, wg::IpAddress::parse("127.0.0.1"));
    CHECK(ldns_pkt_ancount(pkt.get()) == 1);
    CHECK(section(pkt.get(), LDNS_SECTION_ADDITIONAL).at(0).find("192.0.2.1") != std::string::npos);
  }
}
