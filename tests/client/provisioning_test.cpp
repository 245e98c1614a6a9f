// Provisioning over signed DNS, as programs: a master device whose registry has `list-all` and
// TSIG with `require all` and `fudge 5`, and two VPN servers (wireguard-go devices) each running
// `wgsd-client --sync --prune --interval 2s`, all in one namespace.
#include <catch2/catch.hpp>

#include <signal.h>

#include <fstream>
#include <thread>

#include "support/keys.hpp"
#include "support/lab.hpp"

using namespace wgsd;
using namespace wgsd::test;
using namespace std::chrono_literals;

namespace {

constexpr const char* secret = "c2VjcmV0LWZvci13Z3NkLXRzaWctdGVzdHMtMzItYnl0ZXM=";
constexpr auto interval = 2s;

struct Provisioning {
  Netns ns;
  WireguardGo master{ns, "wgm"};
  WireguardGo server1{ns, "wgv"};
  WireguardGo server2{ns, "wgv"};
  TempDir dir;
  Process registry;
  std::vector<Process> clients;

  Provisioning() {
    for (unsigned n : {1u, 2u, 3u}) add_user(n);
    std::ofstream(dir.path() + "/Corefile") << "example.com:5353 {\n bind 127.0.0.1\n wgsd example.com. " << master.ifname()
                                            << " {\n  list-all\n  refresh 100ms\n  ns ns.example.\n }\n"
                                            << " tsig {\n  secret key.example. " << secret << "\n  require all\n  fudge 5\n }\n"
                                            << " transfer {\n  to 127.0.0.1\n }\n}\n";
    registry = Process(ns.wrap({WGSD_SERVER_BIN, "--conf", dir.path() + "/Corefile"}), dir.path() + "/server.log");
    for (int i = 0; i < 100 && ns.exec("dig +short +time=1 +tries=1 -y hmac-sha256:key.example.:" + std::string(secret) +
                                       " @127.0.0.1 -p 5353 example.com. SOA | grep -q ns.example") != 0; ++i) {
      std::this_thread::sleep_for(50ms);
    }
    for (auto* s : {&server1, &server2}) {
      clients.emplace_back(ns.wrap({WGSD_CLIENT_BIN, "--device", s->ifname(), "--dns", "127.0.0.1:5353", "--zone", "example.com.", "-y",
                                    std::string("key.example.:") + secret, "--sync", "--prune", "--interval", "2s", "--allowed-within",
                                    "10.8.0.0/16", "--max-prune", "50%", "--state", dir.path() + "/" + s->ifname() + ".sync"}),
                           dir.path() + "/" + s->ifname() + ".log");
    }
  }
  void add_user(unsigned n) {
    REQUIRE(ns.exec("wg set " + master.ifname() + " peer " + key_n(n).to_base64() + " allowed-ips 10.8.0." + std::to_string(n) + "/32") == 0);
  }
  void remove_user(unsigned n) { REQUIRE(ns.exec("wg set " + master.ifname() + " peer " + key_n(n).to_base64() + " remove") == 0); }
  bool has(const WireguardGo& s, unsigned n) {
    return ns.exec_out("wg show " + s.ifname() + " allowed-ips").find(key_n(n).to_base64() + "\t10.8.0." + std::to_string(n) + "/32") !=
           std::string::npos;
  }
  bool both_have(unsigned n) { return has(server1, n) && has(server2, n); }
  bool neither_has(unsigned n) { return !has(server1, n) && !has(server2, n); }
  std::string log(const WireguardGo& s) { return sh_out("cat " + dir.path() + "/" + s.ifname() + ".log"); }
};

}  // namespace

TEST_CASE("provisioning: users added on the master appear on both VPN servers, removed ones go, an empty listing wipes nothing",
          "[client][live][sync]") {
  require_live({"wireguard-go", "wg", "ip", "dig"});
  Provisioning p;
  REQUIRE(eventually([&] { return p.both_have(1) && p.both_have(2) && p.both_have(3); }, 2 * interval + 2s));

  // A user added on the master: on both servers within two intervals (and the slack of a loaded machine).
  p.add_user(4);
  auto start = std::chrono::steady_clock::now();
  CHECK(eventually([&] { return p.both_have(4); }, 2 * interval + 1s));
  INFO("added after " << std::chrono::duration_cast<std::chrono::milliseconds>(std::chrono::steady_clock::now() - start).count() << " ms");

  // A user removed: gone from both (1 of 4 is within --max-prune 50%, so at once).
  p.remove_user(1);
  CHECK(eventually([&] { return p.neither_has(1); }, 2 * interval + 1s));
  CHECK(p.both_have(2));

  // The master suddenly lists nobody: the first round holds the prune, so every user stays.
  for (unsigned n : {2u, 3u, 4u}) p.remove_user(n);
  // Each client is stopped the moment its log shows the hold, before its next round could confirm
  // it: otherwise the one that held first may have confirmed while the other is waited for.
  const WireguardGo* servers[] = {&p.server1, &p.server2};
  bool stopped[] = {false, false};
  int status[] = {-1, -1};
  CHECK(eventually([&] {
    for (std::size_t i = 0; i < 2; ++i) {
      if (!stopped[i] && p.log(*servers[i]).find("held until the next round confirms") != std::string::npos) {
        status[i] = p.clients[i].stop(SIGTERM, 3000ms);
        stopped[i] = true;
      }
    }
    return stopped[0] && stopped[1];
  }, 2 * interval + 1s));
  for (std::size_t i = 0; i < 2; ++i) {
    CHECK(status[i] != -1);
    for (unsigned n : {2u, 3u, 4u}) CHECK(p.has(*servers[i], n));  // the next round, 2 s on, would have confirmed
  }
  // The master lets the servers transfer the zone: the listing is by AXFR, every message verified.
  CHECK_THAT(p.log(p.server1), Catch::Contains("by AXFR"));
  CHECK_THAT(p.log(p.server1), !Catch::Contains("REFUSED") && !Catch::Contains("BAD"));
}
