// The names a zone publishes: how long they are, and that an invalid one is refused, never
// published as the root.
#include <catch2/catch.hpp>

#include "dns/fixtures.hpp"
#include "dns/names.hpp"
#include "dns/wire.hpp"

using namespace wgsd;
using namespace wgsd::test;

namespace {

// A zone of `chars` characters (without the trailing dot), in labels of at most 63.
std::string zone_of(std::size_t chars) {
  std::string z;
  while (z.size() < chars) {
    if (!z.empty()) z += '.';
    z += std::string(std::min<std::size_t>(63, chars - z.size()), 'z');
    if (z.size() + 1 == chars) z += 'z';  // no empty last label
  }
  return z + ".";
}

}  // namespace

TEST_CASE("wire lengths of the names a zone publishes", "[dns][names]") {
  CHECK(dns::wire_length(".") == 1);
  CHECK(dns::wire_length("example.com.") == dns::name_to_wire("example.com.")->size());
  CHECK(dns::wire_length("example.com") == 13);
  CHECK(dns::instance_wire_length("example.com.") == dns::name_to_wire(name1)->size());
  CHECK(dns::instance_wire_length(".") == dns::name_to_wire("cj7vjd6ykb2ubt6noa6pw32pmf3egumo52qwa4uj4ekilqdx252a====._wireguard._udp.")->size());
  REQUIRE(zone_of(211).size() == 212);
  CHECK(dns::instance_wire_length(zone_of(211)) == 286);
  CHECK(dns::instance_wire_length(zone_of(180)) == 255);

  CHECK_FALSE(dns::overlong_name("example.com.", {}));
  CHECK_FALSE(dns::overlong_name(zone_of(180), {}));
  const auto peer = dns::overlong_name(zone_of(181), {});
  REQUIRE(peer);
  CHECK(peer->what == "a peer's name");
  CHECK(peer->name == "<56 characters>._wireguard._udp." + zone_of(181));
  CHECK(peer->octets == 256);
  const std::string long_ns = zone_of(150) + zone_of(110);
  const auto ns = dns::overlong_name("example.com.", {"ns1.example.com.", long_ns});
  REQUIRE(ns);
  CHECK(ns->what == "the NS name");
  CHECK(ns->octets == 263);
}

TEST_CASE("a name that cannot be published stops the build, and the root never stands in for it", "[dns][names]") {
  auto reference = reference_settings();
  auto& settings = reference.settings;
  SECTION("a zone whose peer names pass 255 octets") {
    settings.zone = zone_of(211);
    CHECK_THROWS_WITH(dns::build_empty_zone(settings), Catch::Contains("286 octets"));
    CHECK_THROWS_WITH(make_zone(reference, reference_device(), wg::Clock::now(), nullptr), Catch::Contains("286 octets"));
  }
  SECTION("a zone whose SOA mailbox passes 255 octets") {
    settings.zone = zone_of(245);
    CHECK_THROWS(dns::build_empty_zone(settings));
  }
  SECTION("an NS name that is not a name") {
    settings.ns.push_back({"bad..name.", {}});
    CHECK_THROWS_WITH(dns::build_empty_zone(settings), Catch::Contains("bad..name."));
  }
  SECTION("an NS name over 255 octets") {
    settings.ns.push_back({zone_of(150) + zone_of(110), {}});
    CHECK_THROWS(dns::build_empty_zone(settings));
  }
}
