// Every name server inside a zone resolves: its address comes from `ns NAME ADDRESS...` or from the
// server block's `bind`, and a Corefile that gives neither is refused, naming the place and the name.
#include <catch2/catch.hpp>

#include "dns/responder.hpp"
#include "dns/zone_build.hpp"
#include "server/config.hpp"
#include "server/config_case.hpp"
#include "support/dns_case.hpp"

using namespace wgsd;
using namespace wgsd::server;
using namespace wgsd::test;

namespace {

std::vector<std::string> addresses(const dns::ZoneSettings::NameServer& ns) {
  std::vector<std::string> out;
  for (const auto& a : ns.addresses) out.push_back(a.to_string());
  return out;
}

}  // namespace

TEST_CASE("the default ns1 of a zone answers A and AAAA with the block's bound addresses", "[corefile][ns]") {
  const auto config = parse_config(".:53 {\n bind 203.0.113.1 127.0.0.1 2001:db8::1\n wgsd example.com. wg0\n}\n", "Corefile");
  const auto& z = config.blocks.at(0).wgsd.at(0);
  REQUIRE(z.settings.ns.size() == 1);
  CHECK(z.settings.ns[0].name == "ns1.example.com.");
  CHECK(addresses(z.settings.ns[0]) == std::vector<std::string>{"203.0.113.1", "2001:db8::1"});  // not loopback

  // What a resolver sees: the NS name and the SOA MNAME resolve, and the NS answer carries glue.
  dns::ZoneSet zones;
  zones.zones.push_back(dns::build_zone(z.settings, {}, wg::Clock::now(), nullptr));
  auto ask = [&](const std::string& name, ldns_rr_type type) {
    auto pkt = parse_response(dns::respond(make_query(name, type), zones, {}));
    REQUIRE(pkt);
    return pkt;
  };
  const auto a = ask("ns1.example.com.", LDNS_RR_TYPE_A);
  CHECK(ldns_pkt_get_rcode(a.get()) == LDNS_RCODE_NOERROR);
  CHECK(section(a.get(), LDNS_SECTION_ANSWER) == rrs({"ns1.example.com. 3600 IN A 203.0.113.1"}));
  CHECK(section(ask("ns1.example.com.", LDNS_RR_TYPE_AAAA).get(), LDNS_SECTION_ANSWER) == rrs({"ns1.example.com. 3600 IN AAAA 2001:db8::1"}));
  CHECK(section(ask("example.com.", LDNS_RR_TYPE_NS).get(), LDNS_SECTION_ADDITIONAL) ==
        rrs({"ns1.example.com. 3600 IN A 203.0.113.1", "ns1.example.com. 3600 IN AAAA 2001:db8::1"}));
}

TEST_CASE("ns NAME ADDRESS... gives a name server its addresses, and names outside the zone need none", "[corefile][ns]") {
  const auto config = parse_config(R"(.:53 {
    wgsd example.com. wg0 {
        ns ns1.example.com. 192.0.2.53 2001:db8::53
        ns ns2.example.net.
    }
    wgsd example.org. wg1 {
        ns a.example.net.
    }
}
.:54 {
    bind 127.0.0.1
    wgsd example.edu. wg2 {
        ns ns.example.edu. 127.0.0.1
    }
}
.:55 {
    bind 198.51.100.1
    wgsd example.info. wg3 {
        ns ns.example.info.
        ns glue.example.info. 192.0.2.9
    }
}
)", "Corefile");
  const auto& ns = config.blocks[0].wgsd[0].settings.ns;
  REQUIRE(ns.size() == 2);
  CHECK(addresses(ns[0]) == std::vector<std::string>{"192.0.2.53", "2001:db8::53"});
  CHECK(ns[1].addresses.empty());
  CHECK(config.blocks[0].wgsd[1].settings.ns.at(0).addresses.empty());
  // Loopback given on purpose is the operator's word.
  CHECK(addresses(config.blocks[1].wgsd[0].settings.ns.at(0)) == std::vector<std::string>{"127.0.0.1"});
  // An in-zone name without ADDRESS takes the bound address; one with ADDRESS keeps its own.
  const auto& info = config.blocks[2].wgsd[0].settings.ns;
  CHECK(addresses(info.at(0)) == std::vector<std::string>{"198.51.100.1"});
  CHECK(addresses(info.at(1)) == std::vector<std::string>{"192.0.2.9"});
}

TEST_CASE("an in-zone name server without an address is refused, naming the place and the name", "[corefile][ns]") {
  struct Case {
    std::string name, text, error;
  };
  const std::vector<Case> cases = {
      {"default ns1 on loopback", ".:5353 {\n bind 127.0.0.1 ::1\n wgsd example.com. wg0\n}\n",
       "Corefile:3: wgsd: zone example.com.: the default name server ns1.example.com. needs an address and the server block binds only "
       "127.0.0.1 ::1 (wildcard, loopback or link-local: not what resolvers reach); give its address with 'ns ns1.example.com. "
       "ADDRESS...', or bind the block to the address resolvers reach it at, or name a server outside the zone with 'ns NAME'"},
      {"default ns1 without bind", ".:53 {\n wgsd example.com. wg0\n}\n",
       "Corefile:2: wgsd: zone example.com.: the default name server ns1.example.com. needs an address and the server block has no "
       "bind line (every address: which one resolvers reach is unknown); give its address with 'ns ns1.example.com. ADDRESS...', or "
       "bind the block to the address resolvers reach it at, or name a server outside the zone with 'ns NAME'"},
      {"explicit in-zone name on a wildcard", ".:53 {\n bind 0.0.0.0 fe80::1\n wgsd example.com. wg0 {\n  ns ns.example.net.\n  ns ns2.example.com.\n }\n}\n",
       "Corefile:5: wgsd: ns: ns2.example.com. is inside example.com. and needs an address, and the server block binds only 0.0.0.0 "
       "fe80::1 (wildcard, loopback or link-local: not what resolvers reach); give its address with 'ns ns2.example.com. ADDRESS...', "
       "or bind the block to the address resolvers reach it at"},
      {"the same name twice", ".:53 {\n wgsd example.com. wg0 {\n  ns ns1.example.com. 192.0.2.1\n  ns NS1.example.com 192.0.2.2\n }\n}\n",
       "Corefile:4: wgsd: ns: ns1.example.com. given twice (list its addresses on one line)"},
      {"the wildcard as address", ".:53 {\n wgsd example.com. wg0 {\n  ns ns1.example.com. 192.0.2.1 ::\n }\n}\n",
       "Corefile:3: wgsd: ns: ADDRESS must be an address resolvers can reach, got '::'"},
      {"an address twice", ".:53 {\n wgsd example.com. wg0 {\n  ns ns1.example.com. 192.0.2.1 192.0.2.1\n }\n}\n",
       "Corefile:3: wgsd: ns: ADDRESS given twice: '192.0.2.1'"},
  };
  for (const auto& c : cases) {
    DYNAMIC_SECTION(c.name) { CHECK(corefile_error(c.text) == c.error); }
  }
}
