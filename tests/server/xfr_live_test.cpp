// wgsd-server as the hidden primary of Knot DNS and NSD, over a wireguard-go device in a namespace:
// a peer added, moved and removed reaches both secondaries within 3 s by NOTIFY and IXFR, and a
// restart of wgsd-server keeps them following.
#include <catch2/catch.hpp>

#include <csignal>
#include <fstream>

#include "dns/names.hpp"
#include "support/keys.hpp"
#include "support/secondaries.hpp"

using namespace wgsd;
using namespace wgsd::test;
using namespace std::chrono_literals;

namespace {

constexpr unsigned short primary = 5300;

struct Mesh {
  Netns ns;
  WireguardGo dev{ns, "wgx"};
  TempDir dir;
  Process server;
  std::string prefix = "ip netns exec " + ns.name() + " ";

  Mesh() {
    const std::string set = "wg set " + dev.ifname();
    REQUIRE(ns.exec(set + " listen-port 51820") == 0);
    for (unsigned i = 1; i <= 20; ++i) {
      REQUIRE(ns.exec(set + " peer " + key_n(i).to_base64() + " endpoint 198.51.100." + std::to_string(i) + ":4000" + " allowed-ips 10.0.0." +
                      std::to_string(i) + "/32") == 0);
    }
    std::ofstream(dir.path() + "/Corefile") << "example.com.:" << primary << " {\n bind 127.0.0.1\n wgsd example.com. " << dev.ifname()
                                            << " {\n  backend uapi\n  refresh 200ms\n  ns ns1.example.com. 192.0.2.53\n }\n"
                                            << " tsig {\n  secret key.example. " << xfr_secret << "\n }\n"
                                            << " transfer {\n  to 127.0.0.1:5301 127.0.0.1:5302\n }\n}\n";
    start();
  }
  void start() {
    server = Process(ns.wrap({WGSD_SERVER_BIN, "--conf", dir.path() + "/Corefile", "--state-dir", dir.path() + "/state"}), dir.path() + "/server.log");
    REQUIRE(eventually([&] { return soa_serial(primary, prefix) != 0; }, 5000ms));
  }
  std::string name(unsigned i) const { return dns::instance_name(key_n(i), "example.com.", true); }
};

}  // namespace

TEST_CASE("Knot and NSD follow a live device within 3 s by NOTIFY and IXFR, and across a restart of wgsd-server", "[server][xfr][live]") {
  require_live({"wireguard-go", "wg", "ip", "knotd", "nsd", "kdig"});
  Mesh m;
  Secondary knot, nsd;
  start_knot(knot, 5301, primary, m.ns.wrap({}));
  start_nsd(nsd, 5302, primary, m.ns.wrap({}));
  const auto serial = soa_serial(primary, m.prefix);
  for (Secondary* s : {&knot, &nsd}) {
    INFO(s->name << ":\n" << s->log());
    REQUIRE(eventually([&] { return soa_serial(s->port, m.prefix) == serial; }, 10000ms));
  }
  const std::string set = "wg set " + m.dev.ifname() + " peer " + key_n(100).to_base64();
  const auto both_answer = [&](const std::string& type, const std::vector<std::string>& expected) {
    return eventually([&] {
      return short_answer(knot.port, m.name(100), type, m.prefix) == expected && short_answer(nsd.port, m.name(100), type, m.prefix) == expected;
    }, 3000ms);
  };
  // Added.
  REQUIRE(m.ns.exec(set + " endpoint 203.0.113.9:999 allowed-ips 10.0.0.100/32") == 0);
  CHECK(both_answer("A", {"203.0.113.9"}));
  // Moved.
  REQUIRE(m.ns.exec(set + " endpoint 203.0.113.10:1000") == 0);
  CHECK(both_answer("A", {"203.0.113.10"}));
  const auto port_of = [&](const Secondary& s) {
    const auto srv = short_answer(s.port, m.name(100), "SRV", m.prefix);
    return srv.size() == 1 ? srv[0].substr(0, srv[0].find(' ', 4)) : std::string();
  };
  CHECK(eventually([&] { return port_of(knot) == "0 0 1000" && port_of(nsd) == "0 0 1000"; }, 3000ms));
  // Removed: gone from both.
  REQUIRE(m.ns.exec(set + " remove") == 0);
  CHECK(both_answer("TXT", {}));
  INFO("knot:\n" << knot.log() << "\nnsd:\n" << nsd.log());
  CHECK_THAT(knot.log(), Catch::Contains("IXFR, incoming") && Catch::Contains("notify, incoming"));
  CHECK_THAT(nsd.log(), Catch::Contains("TSIG verified"));

  // A restart: the serial does not go back, and the secondaries follow the next change.
  const auto before = soa_serial(primary, m.prefix);
  REQUIRE(m.server.stop(SIGTERM) == 0);
  m.start();
  CHECK(soa_serial(primary, m.prefix) >= before);
  REQUIRE(m.ns.exec(set + " endpoint 203.0.113.11:1001 allowed-ips 10.0.0.100/32") == 0);
  CHECK(both_answer("A", {"203.0.113.11"}));
  CHECK(soa_serial(knot.port, m.prefix) > before);
}
