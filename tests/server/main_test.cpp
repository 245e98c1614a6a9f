// wgsd-server as a program: --check, --version, a bad Corefile, a missing device, SIGTERM.
#include <catch2/catch.hpp>
#include <signal.h>

#include <fstream>
#include <thread>

#include "support/lab.hpp"

using namespace wgsd::test;
using namespace std::chrono_literals;

TEST_CASE("wgsd-server --check, --version and a broken Corefile", "[server][main]") {
  TempDir dir;
  const std::string good = dir.path() + "/good";
  const std::string bad = dir.path() + "/bad";
  std::ofstream(good) << ".:5353 {\n  wgsd example.org. wg0\n}\n";
  std::ofstream(bad) << ".:5353 {\n  wgsd example.org. wg0 {\n    self 192.0.2.1\n  }\n}\n";
  const std::string bin = WGSD_SERVER_BIN;
  CHECK(sh_out(bin + " --conf " + good + " --check") == "OK\n");
  CHECK(sh(bin + " --conf " + bad + " --check 2>" + dir.path() + "/err") == 1);
  CHECK(sh_out("cat " + dir.path() + "/err") == bad + ":3: wgsd: self: endpoint must be IP:PORT, got '192.0.2.1'\n");
  CHECK(sh(bin + " --conf " + bad + " 2>/dev/null") == 1);  // the same error refuses to start
  CHECK(sh(bin + " --conf " + dir.path() + "/missing --check 2>" + dir.path() + "/err") == 1);
  CHECK_THAT(sh_out("cat " + dir.path() + "/err"), Catch::Contains("/missing: cannot read: No such file or directory"));
  CHECK(sh_out(bin + " --version").rfind("wgsd-server ", 0) == 0);
  CHECK(sh_out(WGSD_CLIENT_BIN " --version").rfind("wgsd-client ", 0) == 0);
  CHECK(sh_out(WGSD_CLIENT_BIN " --help").find("Usage: wgsd-client") != std::string::npos);
  CHECK(sh_out(bin + " --conf " WGSD_SOURCE_DIR "/Corefile.example --check") == "OK\n");
}

TEST_CASE("wgsd-server without its device serves SERVFAIL, says why, and stops cleanly on SIGTERM", "[server][main]") {
  TempDir dir;
  const auto port = free_port();
  std::ofstream(dir.path() + "/Corefile") << ".:" << port << " {\n  bind 127.0.0.1\n  wgsd example.org. wgabsent0 {\n    backend uapi\n  }\n}\n";
  Process server({WGSD_SERVER_BIN, "--conf", dir.path() + "/Corefile"}, dir.path() + "/log");
  const std::string dig = "dig +time=1 +tries=1 @127.0.0.1 -p " + std::to_string(port) + " example.org. SOA";
  REQUIRE(eventually([&] { return sh(dig + " 2>/dev/null | grep -q 'status: SERVFAIL'") == 0; }, 3000ms));
  CHECK_THAT(sh_out("cat " + dir.path() + "/log"),
             Catch::Contains("[ERROR] wgsd: zone example.org.: no such device 'wgabsent0' (answering SERVFAIL until the device can be read)"));
  const auto start = std::chrono::steady_clock::now();
  CHECK(server.stop(SIGTERM) == 0);
  CHECK(std::chrono::steady_clock::now() - start < 1000ms);
}
