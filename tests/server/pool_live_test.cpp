// A pool over real tunnels: a registry and three VPN servers, each in a network namespace of its
// own with wireguard-go, keeping a tunnel to the registry with a keepalive of 1 s.
#include <catch2/catch.hpp>

#include <algorithm>
#include <fstream>

#include "support/dig.hpp"
#include "support/lab.hpp"

using namespace wgsd;
using namespace wgsd::test;
using namespace std::chrono_literals;

namespace {

std::string pubkey(const std::string& private_key) {
  auto k = sh_out("echo " + private_key + " | wg pubkey");
  while (!k.empty() && k.back() == '\n') k.pop_back();
  return k;
}

constexpr unsigned registry_port = 51900;

// One VPN server: its namespace, joined to the registry's by a veth pair 10.77.I.1 (registry side)
// and 10.77.I.2 (server side).
struct VpnServer {
  unsigned index;
  Netns ns{"wgsdv"};
  WireguardGo wg{ns, "wgv"};
  std::string private_key = genkey();
  std::string public_key = pubkey(private_key);
  std::string address() const { return "10.77." + std::to_string(index) + ".2"; }

  VpnServer(unsigned i, const Netns& registry, const std::string& registry_key) : index(i) {
    const std::string outer = unique_name("wgsdr"), inner = unique_name("wgsdi");
    REQUIRE(sh("ip link add " + outer + " netns " + registry.name() + " type veth peer name " + inner + " netns " + ns.name()) == 0);
    REQUIRE(registry.exec("ip addr add 10.77." + std::to_string(i) + ".1/24 dev " + outer) == 0);
    REQUIRE(registry.exec("ip link set " + outer + " up") == 0);
    REQUIRE(ns.exec("ip addr add " + address() + "/24 dev " + inner) == 0);
    REQUIRE(ns.exec("ip link set " + inner + " up") == 0);
    configure(registry_key);
  }
  // After start or restart: the same key, the registry as peer with a keepalive of 1 s.
  void configure(const std::string& registry_key) {
    const std::string conf = "/tmp/" + wg.ifname() + ".conf";
    std::ofstream(conf) << "[Interface]\nPrivateKey = " << private_key << "\nListenPort = 51820\n[Peer]\nPublicKey = " << registry_key
                        << "\nEndpoint = 10.77." << index << ".1:" << registry_port << "\nAllowedIPs = 10.78.0.1/32\nPersistentKeepalive = 1\n";
    REQUIRE(ns.exec("wg setconf " + wg.ifname() + " " + conf) == 0);
    std::remove(conf.c_str());
    REQUIRE(ns.exec("ip link set " + wg.ifname() + " up") == 0);
  }
};

struct PoolLab {
  Netns registry{"wgsdg"};
  WireguardGo registry_wg{registry, "wgg"};
  std::string registry_private = genkey();
  std::string registry_public = pubkey(registry_private);
  std::vector<std::unique_ptr<VpnServer>> servers;
  TempDir dir;
  Process server;

  PoolLab() {
    for (unsigned i = 1; i <= 3; ++i) servers.push_back(std::make_unique<VpnServer>(i, registry, registry_public));
    std::ofstream conf(dir.path() + "/registry.conf");
    conf << "[Interface]\nPrivateKey = " << registry_private << "\nListenPort = " << registry_port << "\n";
    for (const auto& s : servers) conf << "[Peer]\nPublicKey = " << s->public_key << "\nAllowedIPs = 10.78.1." << s->index << "/32\n";
    conf.close();
    REQUIRE(registry.exec("wg setconf " + registry_wg.ifname() + " " + dir.path() + "/registry.conf") == 0);
    REQUIRE(registry.exec("ip link set " + registry_wg.ifname() + " up") == 0);
    std::ofstream core(dir.path() + "/Corefile");
    core << ".:5353 {\n bind 127.0.0.1\n wgsd example.com. " << registry_wg.ifname() << " {\n  refresh 200ms\n  ns ns1.example.com. 127.0.0.1\n"
         << "  pool vpn {\n";
    for (const auto& s : servers) core << "   member " << s->public_key << "\n";
    core << "   max-age 3s\n  }\n }\n}\n";
    core.close();
    server = Process(registry.wrap({WGSD_SERVER_BIN, "--conf", dir.path() + "/Corefile"}), dir.path() + "/server.log");
    for (int i = 0; i < 100 && registry.exec("dig +short +time=1 +tries=1 @127.0.0.1 -p 5353 example.com. SOA >/dev/null 2>&1") != 0; ++i) {
      std::this_thread::sleep_for(50ms);
    }
  }

  // The pool's A answer as sorted addresses, and its SRV answer as sorted "port target" pairs.
  std::vector<std::string> addresses() {
    const auto r = dig(registry, "@127.0.0.1 -p 5353 vpn.example.com. A +norec");
    std::vector<std::string> out;
    for (const auto& line : r.answer) out.push_back(line.substr(line.rfind(' ') + 1));
    std::sort(out.begin(), out.end());
    return out;
  }
  std::size_t srv_count() { return dig(registry, "@127.0.0.1 -p 5353 _wireguard._udp.vpn.example.com. SRV +norec").answer.size(); }
  std::vector<std::string> expect(std::initializer_list<unsigned> which) {
    std::vector<std::string> out;
    for (unsigned i : which) out.push_back(servers[i - 1]->address());
    std::sort(out.begin(), out.end());
    return out;
  }
};

}  // namespace

TEST_CASE("a pool follows its servers' tunnels: a dead one leaves within max-age, returns, and all dead fail open", "[server][live][pool]") {
  require_live({"wireguard-go", "wg", "ip", "dig"});
  PoolLab lab;
  // Every server reaches the registry within a handshake.
  CHECK(eventually([&] { return lab.addresses() == lab.expect({1, 2, 3}); }, 10s));
  CHECK(lab.srv_count() == 3);

  // Server 2 dies: gone from A and SRV within max-age (3 s) and a refresh, with room for a loaded machine.
  lab.servers[1]->wg.kill();
  const auto killed = std::chrono::steady_clock::now();
  CHECK(eventually([&] { return lab.addresses() == lab.expect({1, 3}); }, 8s));
  CHECK(std::chrono::steady_clock::now() - killed >= 2500ms);  // not before max-age: a quiet second is no death
  CHECK(lab.srv_count() == 2);

  // It comes back (a new device with the same key: its first packet is a handshake).
  lab.servers[1]->wg.restart();
  lab.servers[1]->configure(lab.registry_public);
  CHECK(eventually([&] { return lab.addresses() == lab.expect({1, 2, 3}); }, 8s));

  // All three die: the pool fails open and answers every member it knows an endpoint of.
  for (auto& s : lab.servers) s->wg.kill();
  CHECK(eventually([&] { return sh("grep -q 'fail open' " + lab.dir.path() + "/server.log") == 0; }, 8s));
  CHECK(lab.addresses() == lab.expect({1, 2, 3}));
  CHECK(lab.srv_count() == 3);
}
