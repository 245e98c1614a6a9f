// The Corefile: every directive and option, and every error message with file:line and the bad value.
#include <catch2/catch.hpp>

#include "server/config.hpp"
#include "server/config_case.hpp"
#include "util/duration.hpp"

using namespace wgsd;
using namespace wgsd::server;
using namespace wgsd::test;

namespace {

// A zone of `chars` characters (without the trailing dot), in labels of at most 63.
std::string zone_of(std::size_t chars) {
  std::string z;
  while (z.size() < chars) {
    if (!z.empty()) z += '.';
    z += std::string(std::min<std::size_t>(63, chars - z.size()), 'z');
    if (z.size() + 1 == chars) z += 'z';
  }
  return z;
}

}  // namespace

TEST_CASE("a zone whose names would pass 255 octets is refused, naming the zone and the length", "[corefile]") {
  const std::string z211 = zone_of(211);
  CHECK(corefile_error(".:53 {\n wgsd " + z211 + " wg0\n}\n") ==
        "Corefile:2: wgsd: zone '" + z211 + ".' is too long: a peer's name '<56 characters>._wireguard._udp." + z211 +
            ".' would be 286 octets, over the 255 a DNS name can have");
  // The longest zone that fits: peer names of exactly 255 octets.
  CHECK(corefile_error(".:53 {\n bind 192.0.2.53\n wgsd " + zone_of(180) + " wg0\n}\n") == "(no error)");
  CHECK_THAT(corefile_error(".:53 {\n wgsd " + zone_of(181) + " wg0\n}\n"), Catch::Contains("would be 256 octets"));
  const std::string z300 = zone_of(300);
  CHECK(corefile_error(".:53 {\n\n wgsd " + z300 + " wg0\n}\n") == "Corefile:3: wgsd: zone '" + z300 + "' is 302 octets, over the 255 a DNS name can have");
  const std::string ns = zone_of(260);
  CHECK(corefile_error(".:53 {\n wgsd example.com. wg0 {\n  ns " + ns + "\n }\n}\n") ==
        "Corefile:3: wgsd: ns: name '" + ns + "' is 262 octets, over the 255 a DNS name can have");
}

TEST_CASE("a Corefile with every wgsd option", "[corefile]") {
  const auto config = parse_config(R"(# registry
.:5353 {
    bind 127.0.0.1 ::1
    log
    errors
    wgsd Example.COM wg0 {
        self 192.0.2.1:51820 10.0.0.254/32 fd00::fe/128
        hide En9Uj9hQdUDPzXA8+29PYXZDUY7uoWByieEUhcB313Q= uxRkYvNHLZ+Mrm+ngTLFIvypoBI/X3r2UUR0HTAY/kM=
        hide 3okJWfIhfF9BFTlMxrLIf8QrX5dBVJb0hVhxEnlqT0U=
        max-age 2m30s
        refresh 500ms
        ns ns1.example.com. 192.0.2.53
        ns "ns2.other.net"
        backend uapi
        ttl data 10s
        ttl negative 2
        ttl ns 1h
    }
    wgsd second.example. wg1 {
        ns ns.example.net.
    }
}
example.net:53 dns://example.org:53 {
    wgsd wg.example.net wg2 {
        self
        ns ns1.wg.example.net 192.0.2.54
    }
}
)", "Corefile");
  REQUIRE(config.blocks.size() == 2);
  const auto& b = config.blocks[0];
  CHECK(b.port == 5353);
  CHECK(b.zones == std::vector<std::string>{"."});
  REQUIRE(b.bind.size() == 2);
  CHECK(b.bind[1].to_string() == "::1");
  CHECK(b.log);
  CHECK(b.errors);
  REQUIRE(b.wgsd.size() == 2);
  const auto& z = b.wgsd[0];
  CHECK(z.where == "Corefile:6");
  CHECK(z.settings.zone == "example.com.");
  CHECK(z.device == "wg0");
  REQUIRE(z.publish.self);
  CHECK(z.publish.self->endpoint->to_string() == "192.0.2.1:51820");
  CHECK(z.publish.self->allowed_ips.size() == 2);
  CHECK(z.publish.hide.size() == 3);
  CHECK(z.publish.max_age == std::chrono::seconds(150));
  CHECK(z.refresh == std::chrono::milliseconds(500));
  REQUIRE(z.settings.ns.size() == 2);
  CHECK(z.settings.ns[0].addresses.at(0).to_string() == "192.0.2.53");
  CHECK(z.settings.ns[1].name == "ns2.other.net.");
  CHECK(z.backend == wg::BackendKind::uapi);
  CHECK(z.settings.ttl == dns::Ttls{10, 2, 3600});
  CHECK(b.wgsd[1].settings.ttl == dns::Ttls{0, 5, 3600});  // the defaults
  CHECK_FALSE(b.wgsd[1].refresh);  // the default: refresh_for() follows the device's size
  CHECK_FALSE(b.wgsd[1].publish.self);
  const auto& b2 = config.blocks[1];
  CHECK(b2.port == 53);
  CHECK(b2.zones == std::vector<std::string>{"example.net.", "example.org."});
  CHECK(b2.bind.empty());
  REQUIRE(b2.wgsd[0].publish.self);
  CHECK_FALSE(b2.wgsd[0].publish.self->endpoint);
}

TEST_CASE("Corefile errors name the place and the bad value", "[corefile]") {
  struct Case { std::string name, text, error; };
  const std::vector<Case> cases = {
      {"self endpoint", ".:53 {\n  wgsd example.com. wg0 {\n    self 192.0.2.1\n  }\n}\n", "Corefile:3: wgsd: self: endpoint must be IP:PORT, got '192.0.2.1'"},
      {"self allowed", ".:53 {\n wgsd example.com. wg0 {\n self 192.0.2.1:1 10.0.0.1\n }\n}", "Corefile:3: wgsd: self: allowed IP must be a CIDR such as 10.0.0.1/32, got '10.0.0.1'"},
      {"self twice", ".:53 {\n wgsd example.com. wg0 {\n self\n self\n }\n}", "Corefile:4: wgsd: self: self given twice"},
      {"wgsd arity", ".:53 {\n  wgsd example.com.\n}\n", "Corefile:2: wgsd: expected 2 arguments (ZONE DEVICE), got 1"},
      {"wgsd arity 3", ".:53 {\n  wgsd a. b c\n}\n", "Corefile:2: wgsd: expected 2 arguments (ZONE DEVICE), got 3"},
      {"bad zone", ".:53 {\n  wgsd exa..mple wg0\n}\n", "Corefile:2: wgsd: not a valid zone name: 'exa..mple'"},
      {"bad device", ".:53 {\n  wgsd example.com. a-name-that-is-too-long\n}\n", "Corefile:2: wgsd: device must be an interface name of 1-15 characters without '/', got 'a-name-that-is-too-long'"},
      {"typo in block", ".:53 {\n wgsd example.com. wg0 {\n  self\n\n  slef\n }\n}", "Corefile:5: unknown property 'slef' in wgsd block"},
      {"hide bad key", ".:53 {\n wgsd example.com. wg0 {\n hide abc\n }\n}", "Corefile:3: wgsd: hide: expected a base64 public key of 32 bytes, got 'abc'"},
      {"hide nothing", ".:53 {\n wgsd example.com. wg0 {\n hide\n }\n}", "Corefile:3: wgsd: hide: expected at least 1 arguments (PUBKEY...), got 0"},
      {"max-age", ".:53 {\n wgsd example.com. wg0 {\n max-age forever\n }\n}", "Corefile:3: wgsd: max-age: expected a duration such as 1s, 500ms or 2m, got 'forever'"},
      {"max-age tiny", ".:53 {\n wgsd example.com. wg0 {\n max-age 10ms\n }\n}", "Corefile:3: wgsd: max-age: must be at least 1s, got '10ms'"},
      {"max-age twice", ".:53 {\n wgsd example.com. wg0 {\n max-age 1m\n max-age 2m\n }\n}", "Corefile:4: wgsd: max-age: given twice"},
      {"refresh", ".:53 {\n wgsd example.com. wg0 {\n refresh 0s\n }\n}", "Corefile:3: wgsd: refresh: expected a duration such as 1s, 500ms or 2m, got '0s'"},
      {"refresh small", ".:53 {\n wgsd example.com. wg0 {\n refresh 1ms\n }\n}", "Corefile:3: wgsd: refresh: must be at least 10ms, got '1ms'"},
      {"refresh arity", ".:53 {\n wgsd example.com. wg0 {\n refresh 1s 2s\n }\n}", "Corefile:3: wgsd: refresh: expected 1 argument (DURATION), got 2"},
      {"ns address", ".:53 {\n wgsd example.com. wg0 {\n ns ns1.example.com. nowhere\n }\n}", "Corefile:3: wgsd: ns: ADDRESS must be an IP address, got 'nowhere'"},
      {"ns glue out of zone", ".:53 {\n wgsd example.com. wg0 {\n ns ns1.other.net 192.0.2.1\n }\n}", "Corefile:3: wgsd: ns: ADDRESS (glue) is only for names inside example.com., got 'ns1.other.net.'"},
      {"ttl kind", ".:53 {\n wgsd example.com. wg0 {\n ttl nx 5s\n }\n}", "Corefile:3: wgsd: ttl: expected data, negative or ns, got 'nx'"},
      {"ttl arity", ".:53 {\n wgsd example.com. wg0 {\n ttl 5s\n }\n}", "Corefile:3: wgsd: ttl: expected 2 arguments (data|negative|ns DURATION), got 1"},
      {"ttl fraction", ".:53 {\n wgsd example.com. wg0 {\n ttl negative 500ms\n }\n}",
       "Corefile:3: wgsd: ttl negative: expected whole seconds such as 0, 5s, 300 or 1h, got '500ms'"},
      {"ttl word", ".:53 {\n wgsd example.com. wg0 {\n ttl data soon\n }\n}",
       "Corefile:3: wgsd: ttl data: expected whole seconds such as 0, 5s, 300 or 1h, got 'soon'"},
      {"ttl too long", ".:53 {\n wgsd example.com. wg0 {\n ttl ns 3000000000\n }\n}",
       "Corefile:3: wgsd: ttl ns: must be at most 2147483647 seconds (68 years), got '3000000000'"},
      {"ttl twice", ".:53 {\n wgsd example.com. wg0 {\n ttl data 0\n ttl negative 0s\n ttl data 1s\n }\n}", "Corefile:5: wgsd: ttl: data given twice"},
      {"backend", ".:53 {\n wgsd example.com. wg0 {\n backend kernel\n }\n}", "Corefile:3: wgsd: backend: expected auto, uapi or netlink, got 'kernel'"},
      {"bind", ".:53 {\n bind localhost\n wgsd example.com. wg0\n}", "Corefile:2: bind: expected an IP address, got 'localhost'"},
      {"bind empty", ".:53 {\n bind\n wgsd example.com. wg0\n}", "Corefile:2: bind: expected at least 1 arguments (ADDRESS...), got 0"},
      {"log args", ".:53 {\n log stdout\n wgsd example.com. wg0\n}", "Corefile:2: log: expected 0 arguments (none), got 1"},
      {"unknown directive", ".:53 {\n  forward . 8.8.8.8\n}\n", "Corefile:2: unknown directive 'forward'"},
      {"acl net", ".:53 {\n wgsd example.com. wg0\n acl {\n allow net 10.0.0.0/33\n }\n}", "Corefile:4: acl: net: expected a CIDR, got '10.0.0.0/33'"},
      {"acl net word", ".:53 {\n wgsd example.com. wg0\n acl {\n block net 10.0.0.0/8 tunnel\n }\n}", "Corefile:4: acl: net: expected a CIDR, got 'tunnel'"},
      {"acl action", ".:53 {\n wgsd example.com. wg0\n acl {\n deny net 10.0.0.0/8\n }\n}", "Corefile:4: acl: expected allow, block, filter or drop, got 'deny'"},
      {"acl type", ".:53 {\n wgsd example.com. wg0\n acl {\n block type SRV BOGUS\n }\n}", "Corefile:4: acl: type: unknown query type 'BOGUS'"},
      {"acl empty type", ".:53 {\n wgsd example.com. wg0\n acl {\n block type net 10.0.0.0/8\n }\n}", "Corefile:4: acl: type: expected at least one value after it"},
      {"acl empty net", ".:53 {\n wgsd example.com. wg0\n acl {\n block net\n }\n}", "Corefile:4: acl: net: expected at least one value after it"},
      {"acl section", ".:53 {\n wgsd example.com. wg0\n acl {\n block 10.0.0.0/8\n }\n}", "Corefile:4: acl: block: expected type or net, got '10.0.0.0/8'"},
      {"acl twice", ".:53 {\n wgsd example.com. wg0\n acl {\n block net 10.0.0.0/8 net ::1\n }\n}", "Corefile:4: acl: block: net given twice in one statement"},
      {"acl zone", ".:53 {\n wgsd example.com. wg0\n acl exa..mple {\n block\n }\n}", "Corefile:3: acl: not a valid zone name: 'exa..mple'"},
      {"acl no block", ".:53 {\n wgsd example.com. wg0\n acl\n}", "Corefile:3: acl: expected a block of statements { allow|block|filter|drop [type QTYPE...] [net CIDR...] }"},
      {"tsig bad secret", ".:53 {\n wgsd a. wg0\n tsig {\n secret k. ???\n }\n}", "Corefile:4: tsig: secret: the secret of TSIG key 'k.' is not base64"},
      {"transfer without to", ".:53 {\n wgsd a. wg0\n transfer\n}", "Corefile:3: transfer: expected a block with 'to ADDRESS...' or 'to *'"},
      {"transfer bad address", ".:53 {\n wgsd a. wg0\n transfer {\n to 192.0.2.300\n }\n}",
       "Corefile:4: transfer: to: expected an IP address, ADDRESS:PORT ([IPv6]:PORT) or *, got '192.0.2.300'"},
      {"transfer unknown property", ".:53 {\n wgsd a. wg0\n transfer {\n from 192.0.2.1\n }\n}",
       "Corefile:4: transfer: unknown property 'from' (expected 'to ADDRESS[:PORT]...' or 'to *')"},
      {"transfer bad zone", ".:53 {\n wgsd a. wg0\n transfer exa..mple {\n to *\n }\n}", "Corefile:3: transfer: not a valid zone name: 'exa..mple'"},
      {"tsig bad zone", ".:53 {\n wgsd a. wg0\n tsig a. exa..mple {\n  secret k. c2VjcmV0c2VjcmV0c2VjcmV0c2VjcmV0\n }\n}", "Corefile:3: tsig: not a valid zone name: 'exa..mple'"},
      {"prometheus twice", ".:53 {\n wgsd example.org. wg0 {\n  ns ns.example.\n }\n prometheus\n prometheus :9253\n}", "Corefile:6: prometheus: given twice in one server block"},
      {"health without port", ".:53 {\n health localhost\n}", "Corefile:2: health: ADDRESS must be HOST:PORT such as :8080, [::1]:8080 or :PORT, got 'localhost'"},
      {"lameduck differs", ".:53 {\n wgsd example.org. wg0 {\n  ns ns.example.\n }\n health :8080 {\n  lameduck 1s\n }\n}\n"
                           "example.net:53 {\n wgsd example.net. wg0 {\n  ns ns.example.\n }\n health :8080 {\n  lameduck 2s\n }\n}",
       "Corefile:13: health: lameduck differs from the one at Corefile:5 (one process, one delay)"},
      {"reload bad interval", ".:53 {\n reload often\n wgsd a. wg0\n}", "Corefile:2: reload: expected a duration such as 1s, 500ms or 2m, got 'often'"},
      {"reload too often", ".:53 {\n reload 100ms\n wgsd a. wg0\n}", "Corefile:2: reload: interval must be at least 1s, got '100ms'"},
      {"reload jitter", ".:53 {\n reload 30s 15s\n wgsd a. wg0\n}", "Corefile:2: reload: expected at most 1 argument ([INTERVAL]), got 2"},
      {"reload twice", ".:53 {\n reload\n reload\n wgsd a. wg0\n}", "Corefile:3: reload: given twice in one server block"},
      {"reload intervals differ", ".:53 {\n reload 10s\n wgsd a. wg0\n}\n.:54 {\n wgsd b. wg1\n reload 20s\n}",
       "Corefile:7: reload: interval differs from the one at Corefile:2 (one Corefile, one interval)"},
      {"bad port", ".:99999 {\n wgsd example.com. wg0\n}", "Corefile:1: server block: port must be 1-65535, got '99999'"},
      {"mixed ports", "a.:53 b.:54 {\n wgsd a. wg0\n}", "Corefile:1: server block: all keys must use one port, got 53 and 54"},
      {"scheme", "tls://.:853 {\n wgsd a. wg0\n}", "Corefile:1: unsupported scheme in 'tls://.:853' (only dns:// is served)"},
      {"zone outside block", "example.org:53 {\n wgsd example.com. wg0\n}", "Corefile:2: wgsd: zone 'example.com.' is not inside the server block's zones"},
      {"same zone and port twice", ".:53 {\n wgsd example.com. wg0\n}\n.:53 {\n wgsd EXAMPLE.com wg1\n}", "Corefile:5: wgsd: zone 'example.com.' on port 53 is already served"},
      {"same zone twice in a block", ".:53 {\n wgsd example.com. wg0\n wgsd example.com. wg1\n}", "Corefile:3: wgsd: zone 'example.com.' on port 53 is already served"},
      {"same zone on a shared address", ".:53 {\n bind 127.0.0.1 127.0.0.2\n wgsd example.com. wg0\n}\n.:53 {\n bind 127.0.0.2\n wgsd example.com. wg1\n}",
       "Corefile:7: wgsd: zone 'example.com.' on port 53 is already served on an address this block binds (Corefile:3)"},
      {"same zone bound and everywhere", ".:53 {\n wgsd example.com. wg0\n}\n.:53 {\n bind ::1\n wgsd example.com. wg1\n}",
       "Corefile:6: wgsd: zone 'example.com.' on port 53 is already served on an address this block binds (Corefile:2)"},
      {"same zone bound and on the unspecified address", ".:53 {\n bind 0.0.0.0\n wgsd example.com. wg0\n}\n.:53 {\n bind 127.0.0.1\n wgsd example.com. wg1\n}",
       "Corefile:7: wgsd: zone 'example.com.' on port 53 is already served on an address this block binds (Corefile:3)"},
      {"nothing to serve", ".:53 {\n log\n}", "Corefile:1: server block has no wgsd directive: nothing to serve"},
      {"empty file", "# nothing\n", "Corefile: no server blocks: nothing to serve"},
      {"missing brace", ".:53\n wgsd a. wg0\n", "Corefile:1: expected '{' after server block keys, got '.:53'"},
      {"unclosed block", ".:53 {\n wgsd a. wg0 {\n self\n}\n", "Corefile:1: '{' is never closed"},
      {"stray brace", "}\n", "Corefile:1: unexpected '}'"},
      {"unterminated quote", ".:53 {\n wgsd \"a. wg0\n}", "Corefile:2: unterminated quoted string"},
      {"directive twice", ".:53 {\n log\n log\n wgsd a. wg0\n}", "Corefile:3: log: given twice in one server block"},
      {"block on a plain directive", ".:53 {\n log {\n }\n wgsd a. wg0\n}", "Corefile:2: log: does not take a block"},
  };
  for (const auto& c : cases) {
    DYNAMIC_SECTION(c.name) { CHECK(corefile_error(c.text) == c.error); }
  }
}

TEST_CASE("transfer directive: zones, addresses with and without port, to *", "[corefile][xfr]") {
  const auto config = parse_config(".:53 {\n bind 192.0.2.53\n wgsd example.com. wg0\n transfer example.com {\n to 192.0.2.7 [2001:db8::7]:5300\n to 198.51.100.1:53\n }\n"
                                   " transfer {\n to *\n }\n}\n", "Corefile");
  REQUIRE(config.blocks[0].transfer.size() == 2);
  const auto& t = config.blocks[0].transfer[0].rule;
  CHECK(t.zones == std::vector<std::string>{std::string("\x07" "example\x03" "com", 12) + '\0'});
  CHECK_FALSE(t.anyone);
  REQUIRE(t.to.size() == 3);
  CHECK(t.to[0] == *wg::Endpoint::parse("192.0.2.7:53"));
  CHECK(t.to[1] == *wg::Endpoint::parse("[2001:db8::7]:5300"));
  CHECK(t.to[2] == *wg::Endpoint::parse("198.51.100.1:53"));
  CHECK(config.blocks[0].transfer[1].rule.anyone);
  CHECK(config.blocks[0].transfer[1].rule.zones == std::vector<std::string>{std::string(1, '\0')});
}

TEST_CASE("several zones on one port and same zone on two ports", "[corefile]") {
  const auto config = parse_config(".:53 {\n bind 192.0.2.53\n wgsd example.com. wg0\n}\nsub.example.com:53 {\n bind 192.0.2.53\n wgsd sub.example.com. wg1\n}\n.:54 {\n bind 192.0.2.53\n wgsd example.com. wg0\n}\n", "C");
  CHECK(config.blocks.size() == 3);
}

TEST_CASE("the same zone on one port from blocks bound to addresses apart", "[corefile][bind]") {
  const std::string ns = " {\n  ns ns.example.\n }";  // a name server outside the zones: bound to loopback, they know no address
  const auto config = parse_config(".:53 {\n bind 127.0.0.1\n wgsd example.com. wg0" + ns + "\n}\n.:53 {\n bind 127.0.0.2 ::1\n wgsd example.com. wg1" + ns +
                                       "\n}\n.:53 {\n bind 0.0.0.0\n wgsd example.org. wg0" + ns + "\n}\n.:53 {\n bind ::\n wgsd example.org. wg1" + ns + "\n}\n",
                                   "C");
  CHECK(config.blocks.size() == 4);
}

TEST_CASE("the default refresh follows the peer count, and an explicit refresh always wins", "[corefile][refresh]") {
  using std::chrono::milliseconds;
  server::ZoneConfig z;
  CHECK(z.refresh_for(0) == milliseconds(1000));
  CHECK(z.refresh_for(10000) == milliseconds(1000));  // 1s up to 10,000 peers
  CHECK(z.refresh_for(15000) == milliseconds(1500));  // then 1s for every 10,000
  CHECK(z.refresh_for(50000) == milliseconds(5000));
  CHECK(z.refresh_for(100000) == milliseconds(10000));
  CHECK(z.refresh_for(1000000) == milliseconds(10000));  // at most 10s
  z.refresh = milliseconds(250);
  CHECK(z.refresh_for(100000) == milliseconds(250));
  z.refresh = milliseconds(30000);
  CHECK(z.refresh_for(10) == milliseconds(30000));
  const auto config = parse_config(".:53 {\n bind 192.0.2.53\n wgsd a. wg0 {\n  refresh 1s\n }\n}\n", "C");
  CHECK(config.blocks.at(0).wgsd.at(0).refresh_for(100000) == milliseconds(1000));  // given, even when it is the default's value
}

TEST_CASE("reload applies to the whole Corefile", "[corefile]") {
  CHECK_FALSE(parse_config(".:53 {\n bind 192.0.2.53\n wgsd a. wg0\n}\n", "C").reload);
  CHECK(parse_config(".:53 {\n bind 192.0.2.53\n wgsd a. wg0\n}\n.:54 {\n bind 192.0.2.53\n reload\n wgsd b. wg0\n}\n", "C").reload == std::chrono::seconds(30));
  CHECK(parse_config(".:53 {\n bind 192.0.2.53\n reload 2s\n wgsd a. wg0\n}\n.:54 {\n bind 192.0.2.53\n reload 2000ms\n wgsd b. wg0\n}\n", "C").reload == std::chrono::seconds(2));
}

TEST_CASE("quotes, comments and glued braces", "[corefile]") {
  const auto blocks = parse_corefile("example.org:53{ # comment\n wgsd \"example.org\" \"w\\\"g\" # more\n}\n", "F");
  REQUIRE(blocks.size() == 1);
  REQUIRE(blocks[0].directives.size() == 1);
  CHECK(blocks[0].directives[0].args[1].text == "w\"g");
  CHECK(blocks[0].directives[0].args[1].quoted);
}

TEST_CASE("Go durations", "[corefile]") {
  using std::chrono::milliseconds;
  using util::parse_duration;
  CHECK(parse_duration("1s") == milliseconds(1000));
  CHECK(parse_duration("500ms") == milliseconds(500));
  CHECK(parse_duration("1m30s") == milliseconds(90000));
  CHECK(parse_duration("1.5h") == milliseconds(5400000));
  for (const char* bad : {"", "1", "s", "-1s", "0s", "1d", "1 s", "1s2"}) {
    INFO(bad);
    CHECK_FALSE(parse_duration(bad));
  }
}
