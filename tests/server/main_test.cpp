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
  std::ofstream(good) << ".:5353 {\n  wgsd example.org. wg0 {\n    ns ns1.example.org. 192.0.2.53\n  }\n}\n";
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
  std::ofstream(dir.path() + "/Corefile") << ".:" << port << " {\n  bind 127.0.0.1\n  wgsd example.org. wgabsent0 {\n    backend uapi\n    ns ns.example.\n  }\n}\n";
  Process server({WGSD_SERVER_BIN, "--conf", dir.path() + "/Corefile"}, dir.path() + "/log");
  const std::string dig = "dig +time=1 +tries=1 @127.0.0.1 -p " + std::to_string(port) + " example.org. SOA";
  REQUIRE(eventually([&] { return sh(dig + " 2>/dev/null | grep -q 'status: SERVFAIL'") == 0; }, 3000ms));
  CHECK_THAT(sh_out("cat " + dir.path() + "/log"),
             Catch::Contains("[ERROR] wgsd: zone example.org.: no such device 'wgabsent0' (answering SERVFAIL until the device can be read)"));
  const auto start = std::chrono::steady_clock::now();
  CHECK(server.stop(SIGTERM) == 0);
  CHECK(std::chrono::steady_clock::now() - start < 1000ms);
}

TEST_CASE("wgsd-server re-reads its Corefile every reload interval and on SIGHUP, and keeps serving through a broken one", "[server][main][reload]") {
  TempDir dir;
  const auto port = std::to_string(free_port());
  const std::string path = dir.path() + "/Corefile";
  const std::string log = dir.path() + "/log";
  auto corefile = [&](const std::string& zone, const std::string& extra) {
    std::ofstream(path) << ".:" << port << " {\n  bind 127.0.0.1\n  reload 1s\n" << extra << "  wgsd " << zone << " wgabsent1 {\n    backend uapi\n    ns ns.example.\n  }\n}\n";
  };
  auto status = [&](const std::string& zone) {
    return sh_out("dig +time=1 +tries=1 @127.0.0.1 -p " + port + " " + zone + " SOA 2>&1 | sed -n 's/.*status: \\([A-Z]*\\).*/\\1/p'");
  };
  auto said = [&](const std::string& needle) {  // needle: no single quotes
    return std::stoi(sh_out("grep -cF -- '" + needle + "' " + log + " || true"));
  };
  corefile("example.org.", "");
  Process server({WGSD_SERVER_BIN, "--conf", path}, log);
  REQUIRE(eventually([&] { return status("example.org.") == "SERVFAIL\n"; }, 3000ms));  // served, device absent
  CHECK(status("example.net.") == "REFUSED\n");

  // Broken: the timer finds it within an interval and says so once; the zone is still served.
  corefile("example.org.", "  log stdout\n");
  const std::string error = "[ERROR] reload: " + path + ":4: log: expected 0 arguments (none), got 1; keeping the running configuration";
  CHECK(eventually([&] { return said(error) == 1; }, 3000ms));
  std::this_thread::sleep_for(2500ms);
  CHECK(said(error) == 1);
  CHECK(status("example.org.") == "SERVFAIL\n");

  // Fixed with another zone: applied by the timer.
  corefile("example.net.", "");
  CHECK(eventually([&] { return status("example.net.") == "SERVFAIL\n"; }, 3000ms));
  CHECK(status("example.org.") == "REFUSED\n");
  CHECK(said("[INFO] reload: " + path + " applied") == 1);
  CHECK(said("[INFO] serving example.net. from device") == 1);

  // Without `reload` only SIGHUP reads the file; the timer is gone with the directive.
  std::ofstream(path) << ".:" << port << " {\n  bind 127.0.0.1\n  wgsd example.com. wgabsent1 {\n    ns ns.example.\n  }\n}\n";
  CHECK(eventually([&] { return status("example.com.") == "SERVFAIL\n"; }, 3000ms));
  std::ofstream(path) << ".:" << port << " {\n  bind 127.0.0.1\n  wgsd example.edu. wgabsent1 {\n    ns ns.example.\n  }\n}\n";
  std::this_thread::sleep_for(2500ms);
  CHECK(status("example.edu.") == "REFUSED\n");
  ::kill(server.pid(), SIGHUP);
  CHECK(eventually([&] { return status("example.edu.") == "SERVFAIL\n"; }, 3000ms));
  CHECK(said("[INFO] SIGHUP: re-reading " + path) == 1);
  CHECK(server.stop(SIGTERM) == 0);
}
