// systemd's notify protocol: what wgsd-server and wgsd-client's daemon mode tell the socket in
// NOTIFY_SOCKET, in which order, and the liveness the server's watchdog pings depend on.
#include <catch2/catch.hpp>
#include <signal.h>

#include <algorithm>
#include <condition_variable>
#include <fstream>
#include <mutex>

#include "dns/fixtures.hpp"
#include "server/notify.hpp"
#include "server/server.hpp"
#include "support/fake_backend.hpp"
#include "support/lab.hpp"
#include "support/notify_socket.hpp"
#include "support/serving.hpp"
#include "support/uapi_server.hpp"
#include "wg/key.hpp"

using namespace wgsd;
using namespace wgsd::test;
using namespace std::chrono_literals;

namespace {

// A device of one peer, as a UAPI daemon prints it.
std::string one_peer_dump() {
  return "private_key=" + std::string(62, '0') + "40\nlisten_port=51820\npublic_key=" + wg::hex_encode(key_from_b64(key1).bytes()) +
         "\nendpoint=198.51.100.7:40001\nallowed_ip=10.0.0.1/32\nerrno=0\n\n";
}

// A stand-in daemon in the directory the default backend looks in (root only).
std::string uapi_dir() {
  sh("mkdir -p /var/run/wireguard");
  return "/var/run/wireguard";
}

// Forwards to the test's FakeBackend, but a read waits while the gate is shut: a device read that hangs.
struct Gate {
  std::mutex mutex;
  std::condition_variable changed;
  bool shut{};
  void set(bool s) {
    {
      std::lock_guard lock(mutex);
      shut = s;
    }
    changed.notify_all();
  }
};
struct GatedBackend : wg::Backend {
  FakeBackend& inner;
  Gate& gate;
  GatedBackend(FakeBackend& b, Gate& g) : inner(b), gate(g) {}
  wg::Device get_device(const std::string& n) override {
    std::unique_lock lock(gate.mutex);
    gate.changed.wait(lock, [this] { return !gate.shut; });
    lock.unlock();
    return inner.get_device(n);
  }
  void apply(const wg::DeviceUpdate& u) override { inner.apply(u); }
};

}  // namespace

TEST_CASE("wgsd-server: READY=1 only after the device's first read, RELOADING=1 then READY=1 on SIGHUP, STOPPING=1 on SIGTERM", "[server][notify]") {
  require_live({});
  TempDir dir;
  const std::string device = unique_name("wgn");
  UapiServer daemon(uapi_dir(), device);
  daemon.set_reply(one_peer_dump());
  daemon.set_delay(800ms);  // a slow first read: READY must wait for it
  const auto port = std::to_string(free_port());
  std::ofstream(dir.path() + "/Corefile") << ".:" << port << " {\n  bind 127.0.0.1\n  wgsd example.org. " << device
                                          << " {\n    backend uapi\n    ns ns.example.\n  }\n}\n";
  NotifySocket notify(dir.path() + "/notify");
  const auto start = std::chrono::steady_clock::now();
  Process server({"/usr/bin/env", notify.env(), WGSD_SERVER_BIN, "--conf", dir.path() + "/Corefile"}, dir.path() + "/log");

  const int ready = notify.wait_for("READY=1", 10000ms);
  INFO("messages:\n" << notify.dump() << "log:\n" << sh_out("cat " + dir.path() + "/log"));
  REQUIRE(ready >= 0);
  CHECK(std::chrono::steady_clock::now() - start >= 800ms);
  CHECK_FALSE(daemon.requests().empty());
  CHECK_THAT(notify.messages()[static_cast<std::size_t>(ready)], Catch::Contains("STATUS=zones 1, peers published 1"));
  // Answering by then: the zone is loaded.
  CHECK(sh("dig +time=2 +tries=1 @127.0.0.1 -p " + port + " example.org. SOA | grep -q 'status: NOERROR'") == 0);

  REQUIRE(::kill(server.pid(), SIGHUP) == 0);
  const int reloading = notify.wait_for("RELOADING=1", 5000ms, ready + 1);
  REQUIRE(reloading > ready);
  CHECK_THAT(notify.messages()[static_cast<std::size_t>(reloading)], Catch::Matches("RELOADING=1\nMONOTONIC_USEC=[0-9]+\n[^]*"));
  const int ready_again = notify.wait_for("READY=1", 5000ms, reloading + 1);
  CHECK(ready_again > reloading);

  CHECK(server.stop(SIGTERM) == 0);
  const int stopping = notify.wait_for("STOPPING=1", 1000ms, ready + 1);
  CHECK(stopping > ready_again);
  CHECK(notify.count("WATCHDOG=1") == 0);  // not asked for
}

TEST_CASE("wgsd-server pings the systemd watchdog at half of WATCHDOG_USEC", "[server][notify]") {
  TempDir dir;
  const auto port = std::to_string(free_port());
  std::ofstream(dir.path() + "/Corefile") << ".:" << port << " {\n  bind 127.0.0.1\n  wgsd example.org. wgabsentw0 {\n    backend uapi\n    ns ns.example.\n  }\n}\n";
  NotifySocket notify(dir.path() + "/notify");
  Process server({"/usr/bin/env", notify.env(), "WATCHDOG_USEC=400000", WGSD_SERVER_BIN, "--conf", dir.path() + "/Corefile"},
                 dir.path() + "/log");
  INFO("messages:\n" << notify.dump());
  // A device missing at start does not hold readiness back: the zone answers SERVFAIL, and says why.
  const int ready = notify.wait_for("READY=1", 15000ms);  // slow sanitizer builds on a loaded machine
  REQUIRE(ready >= 0);
  CHECK_THAT(notify.messages()[static_cast<std::size_t>(ready)], Catch::Contains("STATUS=zones 1 (1 waiting for the device), peers published 0"));
  const auto since = std::chrono::steady_clock::now();
  CHECK(eventually([&] { return notify.count("WATCHDOG=1") >= 4; }, 5000ms));
  // Every 200 ms: four pings take at least 600 ms after the first.
  CHECK(std::chrono::steady_clock::now() - since >= 550ms);
  CHECK(server.stop(SIGTERM) == 0);
}

TEST_CASE("wgsd-server keeps pinging the systemd watchdog during the lameduck wait", "[server][notify]") {
  TempDir dir;
  const auto port = std::to_string(free_port());
  const auto health = std::to_string(free_port());
  std::ofstream(dir.path() + "/Corefile") << ".:" << port << " {\n  bind 127.0.0.1\n  wgsd example.org. wgabsentw1 {\n    backend uapi\n    ns ns.example.\n  }\n"
                                          << "  health 127.0.0.1:" << health << " {\n    lameduck 1500ms\n  }\n}\n";
  NotifySocket notify(dir.path() + "/notify");
  Process server({"/usr/bin/env", notify.env(), "WATCHDOG_USEC=400000", WGSD_SERVER_BIN, "--conf", dir.path() + "/Corefile"},
                 dir.path() + "/log");
  INFO("messages:\n" << notify.dump());
  REQUIRE(notify.wait_for("READY=1", 5000ms) >= 0);
  REQUIRE(::kill(server.pid(), SIGTERM) == 0);
  const int stopping = notify.wait_for("STOPPING=1", 3000ms);
  REQUIRE(stopping >= 0);
  // 1.5 s of lameduck with a ping every 200 ms: a watchdog of 400 ms would fire without them.
  const auto pings_after = [&] {
    const auto& m = notify.messages();
    return std::count_if(m.begin() + stopping, m.end(), [](const std::string& x) { return x.find("WATCHDOG=1") != std::string::npos; });
  };
  CHECK(eventually([&] { return pings_after() >= 4; }, 1400ms));
  CHECK(server.stop(0, 3000ms) == 0);  // exits by itself once the lameduck time is over
}

TEST_CASE("Server::alive is false while the refresher is stuck in a device read, and summary() counts zones and published peers", "[server][notify]") {
  FakeBackend backend;
  backend.put(reference_device());
  Gate gate;
  server::Log log{[](const std::string&) {}};
  const auto config = server::parse_config(".:" + std::to_string(free_port()) + " {\n bind 127.0.0.1\n wgsd example.com. wgref0 {\n  refresh 20ms\n  ns ns.example.\n }\n}\n", "C");
  server::ServerLimits limits;
  limits.udp_workers = 1;
  server::Server server(config, [&](const server::ZoneConfig&) { return std::make_unique<GatedBackend>(backend, gate); }, log, limits);
  CHECK_FALSE(server.alive(200ms));  // nothing runs yet
  server.start();
  CHECK(server.alive(200ms));
  const auto s = server.summary();
  const auto peers = reference_device().peers;
  const auto with_endpoint = static_cast<std::size_t>(std::count_if(peers.begin(), peers.end(), [](const wg::Peer& p) { return p.endpoint.has_value(); }));
  REQUIRE(with_endpoint < peers.size());  // one is withheld: it has no endpoint
  CHECK(s.zones == 1);
  CHECK(s.loaded == 1);
  CHECK(s.published == with_endpoint);
  CHECK(server::status_line(s) == "zones 1, peers published " + std::to_string(with_endpoint));

  gate.set(true);  // the next read hangs
  CHECK(eventually([&] { return !server.alive(200ms); }, 3000ms));
  CHECK(server.alive(60s));  // stuck for less than that
  gate.set(false);
  CHECK(eventually([&] { return server.alive(200ms); }, 3000ms));
  server.stop();
  CHECK_FALSE(server.alive(60s));
}

TEST_CASE("wgsd-client --interval: READY=1 with the round's STATUS after the first round, STOPPING=1 on SIGTERM", "[client][notify]") {
  require_live({});
  TempDir dir;
  const std::string device = unique_name("wgc");
  UapiServer daemon(uapi_dir(), device);
  daemon.set_reply("private_key=" + std::string(62, '0') + "40\nlisten_port=51820\nerrno=0\n\n");  // no peers: nothing to ask
  NotifySocket notify(dir.path() + "/notify");
  Process client({"/usr/bin/env", notify.env(), WGSD_CLIENT_BIN, "--device", device, "--dns", "127.0.0.1:9", "--zone", "example.org.",
                  "--backend", "uapi", "--interval", "1s"},
                 dir.path() + "/log");
  const int ready = notify.wait_for("READY=1", 15000ms);  // slow sanitizer builds on a loaded machine
  // After the wait: the client has written its log by then (read any earlier, the file may not exist yet).
  INFO("messages:\n" << notify.dump() << "log:\n" << sh_out("cat " + dir.path() + "/log 2>/dev/null; true"));
  REQUIRE(ready >= 0);
  CHECK_FALSE(daemon.requests().empty());  // after the round read the device
  CHECK_THAT(notify.messages()[static_cast<std::size_t>(ready)], Catch::Contains("STATUS=" + device + ": 0 peers, 0 updated, 0 failed"));
  CHECK(notify.wait_for("STATUS=", 15000ms, ready + 1) > ready);  // the next round reports too
  CHECK(client.stop(SIGTERM) == 0);
  CHECK(notify.wait_for("STOPPING=1", 5000ms, ready + 1) > ready);
  CHECK(notify.count("READY=1") == 1);
}

TEST_CASE("wgsd-client --roam --interval: READY=1 with the round's STATUS after the first round, STOPPING=1 on SIGTERM", "[client][notify]") {
  require_live({});
  TempDir dir;
  const std::string device = unique_name("wgr");
  const std::string backbone = unique_name("wgb");
  const std::string no_peers = "private_key=" + std::string(62, '0') + "40\nlisten_port=51820\nerrno=0\n\n";
  UapiServer clients(uapi_dir(), device);
  clients.set_reply(no_peers);
  UapiServer servers(uapi_dir(), backbone);
  servers.set_reply(no_peers);
  NotifySocket notify(dir.path() + "/notify");
  Process client({"/usr/bin/env", notify.env(), WGSD_CLIENT_BIN, "--device", device, "--backbone", backbone, "--dns", "127.0.0.1:9",
                  "--zone", "example.org.", "--backend", "uapi", "--roam", "--insecure", "--interval", "1s", "--state", dir.path() + "/roam.state"},
                 dir.path() + "/log");
  const int ready = notify.wait_for("READY=1", 15000ms);  // slow sanitizer builds on a loaded machine
  // After the wait: the client has written its log by then (read any earlier, the file may not exist yet).
  INFO("messages:\n" << notify.dump() << "log:\n" << sh_out("cat " + dir.path() + "/log 2>/dev/null; true"));
  REQUIRE(ready >= 0);
  CHECK_THAT(notify.messages()[static_cast<std::size_t>(ready)], Catch::Contains("STATUS=" + device + ": roam, 0 moved, 0 failed"));
  CHECK(notify.wait_for("STATUS=", 15000ms, ready + 1) > ready);  // the next round reports too
  // The fake backbone has no kernel link whose routes could be read: what was placed cannot be
  // known to be taken back, and a stop that could not take it back is not a clean one.
  CHECK(client.stop(SIGTERM) == 3);
  CHECK(notify.wait_for("STOPPING=1", 5000ms, ready + 1) > ready);
  CHECK(notify.count("READY=1") == 1);
}
