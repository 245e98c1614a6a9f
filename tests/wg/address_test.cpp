#include <catch2/catch.hpp>

#include "wg/address.hpp"

using namespace wgsd::wg;

TEST_CASE("endpoints parse and print in wg(8) form", "[wg][address]") {
  struct Case { std::string in, out; };
  const std::vector<Case> good = {
      {"192.0.2.1:51820", "192.0.2.1:51820"},
      {"[2001:db8::1]:1", "[2001:db8::1]:1"},
      {"[2001:0db8:0:0::7]:65535", "[2001:db8::7]:65535"},
      {"[::ffff:192.0.2.1]:53", "[::ffff:192.0.2.1]:53"},
  };
  for (const auto& c : good) {
    DYNAMIC_SECTION(c.in) {
      auto ep = Endpoint::parse(c.in);
      REQUIRE(ep);
      CHECK(ep->to_string() == c.out);
    }
  }
  for (const char* bad : {"192.0.2.1", "192.0.2.1:0", "192.0.2.1:65536", "2001:db8::1:53", "[192.0.2.1]:53", "[2001:db8::1]53",
                          "[2001:db8::1]:", "host:53", ":53", "192.0.2.1:-1", "192.0.2.1: 53", ""}) {
    INFO(bad);
    CHECK_FALSE(Endpoint::parse(bad));
  }
}

TEST_CASE("v4-mapped addresses are recognised", "[wg][address]") {
  auto a = IpAddress::parse("::ffff:198.51.100.7");
  REQUIRE(a);
  CHECK(a->is_v4_mapped());
  CHECK(a->unmapped().to_string() == "198.51.100.7");
  CHECK_FALSE(IpAddress::parse("2001:db8::1")->is_v4_mapped());
}

TEST_CASE("prefixes are canonical", "[wg][address]") {
  struct Case { std::string in, out; };
  const std::vector<Case> good = {
      {"10.0.0.1/32", "10.0.0.1/32"},   {"192.168.50.77/24", "192.168.50.0/24"}, {"0.0.0.0/0", "0.0.0.0/0"},
      {"fd00::2/128", "fd00::2/128"},   {"2001:db8:0:0:1::1/64", "2001:db8::/64"}, {"10.1.2.3/9", "10.0.0.0/9"},
  };
  for (const auto& c : good) {
    DYNAMIC_SECTION(c.in) {
      auto p = Prefix::parse(c.in);
      REQUIRE(p);
      CHECK(p->to_string() == c.out);
    }
  }
  CHECK(Prefix::parse("10.0.0.1", true)->to_string() == "10.0.0.1/32");
  for (const char* bad : {"10.0.0.1", "10.0.0.1/33", "fd00::/129", "10.0.0.1/", "10.0.0.1/a", "/24", "x/1"}) {
    INFO(bad);
    CHECK_FALSE(Prefix::parse(bad));
  }
}
