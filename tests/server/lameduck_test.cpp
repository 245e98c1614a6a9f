// `health { lameduck }`: after SIGTERM wgsd-server goes on answering DNS (and /health) for the
// configured time, so a load balancer sees the health check go and moves traffic first.
#include <catch2/catch.hpp>
#include <signal.h>

#include <algorithm>
#include <fstream>
#include <thread>

#include "support/http_get.hpp"
#include "support/lab.hpp"
#include "support/uapi_server.hpp"

using namespace wgsd::test;
using namespace std::chrono_literals;

TEST_CASE("wgsd-server with lameduck answers DNS for that long after SIGTERM, then stops", "[server][main][http]") {
  TempDir dir;
  const auto port = free_port();
  const auto health = free_port();
  std::ofstream(dir.path() + "/Corefile") << ".:" << port << " {\n  bind 127.0.0.1\n  wgsd example.org. wgabsent1 {\n    backend uapi\n    ns ns.example.\n  }\n"
                                          << "  health 127.0.0.1:" << health << " {\n    lameduck 1500ms\n  }\n}\n";
  Process server({WGSD_SERVER_BIN, "--conf", dir.path() + "/Corefile"}, dir.path() + "/log");
  const std::string dig = "dig +time=1 +tries=1 @127.0.0.1 -p " + std::to_string(port) + " example.org. SOA 2>/dev/null | grep -q 'status: SERVFAIL'";
  REQUIRE(eventually([&] { return sh(dig) == 0; }, 3000ms));
  REQUIRE(curl(health, "/health").status == 200);

  const auto start = std::chrono::steady_clock::now();
  REQUIRE(::kill(server.pid(), SIGTERM) == 0);
  std::this_thread::sleep_for(300ms);
  CHECK(sh(dig) == 0);                            // still answering
  CHECK(curl(health, "/health").status == 200);   // and the health check too
  CHECK(server.running());
  CHECK(server.stop(0, 3000ms) == 0);             // exits by itself once the lameduck time is over
  CHECK(std::chrono::steady_clock::now() - start >= 1400ms);
  CHECK_THAT(sh_out("cat " + dir.path() + "/log"), Catch::Contains("lameduck: answering for 1500ms more"));
}

TEST_CASE("wgsd-server: /ready is 503 during the lameduck while /health still answers", "[server][main][http]") {
  require_live({});
  TempDir dir;
  const auto port = free_port();
  const auto health = free_port();
  const auto ready = free_port();
  // A stand-in UAPI daemon where the default backend looks (root only): the zone loads, /ready is 200.
  sh("mkdir -p /var/run/wireguard");
  const auto device = unique_name("wglmd");
  UapiServer uapi("/var/run/wireguard", device);
  uapi.set_reply("listen_port=51820\nerrno=0\n\n");
  std::ofstream(dir.path() + "/Corefile") << ".:" << port << " {\n  bind 127.0.0.1\n  wgsd example.org. " << device << " {\n    backend uapi\n"
                                          << "    ns ns.example.\n  }\n  health 127.0.0.1:" << health << " {\n    lameduck 2s\n  }\n"
                                          << "  ready 127.0.0.1:" << ready << "\n}\n";
  Process server({WGSD_SERVER_BIN, "--conf", dir.path() + "/Corefile"}, dir.path() + "/log");
  REQUIRE(eventually([&] { return curl(ready, "/ready").status == 200; }, 3000ms));

  REQUIRE(::kill(server.pid(), SIGTERM) == 0);
  // Not ready from the moment the shutdown starts: the load balancer drains the node first.
  REQUIRE(eventually([&] { return curl(ready, "/ready").status == 503; }, 1000ms));
  const auto during = curl(ready, "/ready");
  CHECK(during.status == 503);
  CHECK(during.body == "shutting down\n");
  CHECK(curl(health, "/health").status == 200);  // alive, still answering
  CHECK(server.running());
  CHECK(server.stop(0, 4000ms) == 0);
}

TEST_CASE("wgsd-server: a ready address a SIGHUP adds answers 200 at once for zones the reload keeps", "[server][main][http][reload]") {
  require_live({});
  TempDir dir;
  const auto port = free_port();
  const auto ready = free_port();
  sh("mkdir -p /var/run/wireguard");
  const auto device = unique_name("wgrhp");
  UapiServer uapi("/var/run/wireguard", device);
  uapi.set_reply("listen_port=51820\nerrno=0\n\n");
  const auto write = [&](const std::string& extra) {
    std::ofstream(dir.path() + "/Corefile.new") << ".:" << port << " {\n  bind 127.0.0.1\n  wgsd example.org. " << device << " {\n    backend uapi\n"
                                                << "    ns ns.example.\n  }\n" << extra << "}\n";
    REQUIRE(std::rename((dir.path() + "/Corefile.new").c_str(), (dir.path() + "/Corefile").c_str()) == 0);
  };
  write("");
  Process server({WGSD_SERVER_BIN, "--conf", dir.path() + "/Corefile"}, dir.path() + "/log");
  const std::string dig = "dig +time=1 +tries=1 @127.0.0.1 -p " + std::to_string(port) + " example.org. SOA 2>/dev/null | grep -q 'status: NOERROR'";
  REQUIRE(eventually([&] { return sh(dig) == 0; }, 3000ms));

  write("  ready 127.0.0.1:" + std::to_string(ready) + "\n");
  const auto sighup = std::chrono::steady_clock::now();
  REQUIRE(::kill(server.pid(), SIGHUP) == 0);
  // The address opens with the reload; from its first answer on, the kept zone is ready.
  std::vector<int> seen;
  for (int i = 0; i < 100; ++i) {
    const int status = curl(ready, "/ready").status;
    if (status != 0) seen.push_back(status);
    if (status == 200) break;
    std::this_thread::sleep_for(20ms);
  }
  INFO("log:\n" << sh_out("cat " + dir.path() + "/log"));
  REQUIRE_FALSE(seen.empty());
  CHECK(seen.front() == 200);
  CHECK(std::count(seen.begin(), seen.end(), 200) == 1);
  CHECK(std::chrono::steady_clock::now() - sighup < 1000ms);
  CHECK(server.stop(SIGTERM) == 0);
}
