// TSIG outcomes in /metrics: each signed query is counted as verified or under the TSIG error it
// was refused with, per server and zone, as an operator scrapes them with curl.
#include <catch2/catch.hpp>

#include <signal.h>

#include <fstream>
#include <sstream>

#include "support/http_get.hpp"
#include "support/lab.hpp"
#include "support/prom_sample.hpp"
#include "support/tsig_key.hpp"

using namespace wgsd::test;
using namespace std::chrono_literals;

namespace {

constexpr const char* secret = test_tsig_secret;
constexpr const char* wrong = "d3Jvbmctc2VjcmV0LWZvci13Z3NkLXRzaWctdGVzdHMtMzI=";

}  // namespace

TEST_CASE("metrics count TSIG outcomes: verified, BADSIG and BADKEY, per server and zone", "[server][main][tsig][http]") {
  TempDir dir;
  const auto port = free_port();
  const auto metrics = free_port();
  std::ofstream(dir.path() + "/Corefile") << ".:" << port << " {\n  bind 127.0.0.1\n  wgsd example.org. wgabsent2 {\n    backend uapi\n"
                                          << "    ns ns.example.\n  }\n  tsig {\n    secret key.example. " << secret << "\n  }\n"
                                          << "  prometheus 127.0.0.1:" << metrics << "\n}\n";
  Process server({WGSD_SERVER_BIN, "--conf", dir.path() + "/Corefile"}, dir.path() + "/log");
  const std::string at = " @127.0.0.1 -p " + std::to_string(port) + " ";
  const std::string dig = "dig +nocookie +time=1 +tries=1";
  REQUIRE(eventually([&] { return sh(dig + at + "example.org. A 2>/dev/null | grep -q 'status: SERVFAIL'") == 0; }, 3000ms));

  CHECK_THAT(sh_out(dig + " -y hmac-sha256:key.example.:" + secret + at + "example.org. SOA 2>&1"), Catch::Contains("TSIG\thmac-sha256."));
  CHECK_THAT(sh_out(dig + " -y hmac-sha256:key.example.:" + secret + at + "example.org. A 2>&1"), Catch::Contains("TSIG\thmac-sha256."));
  sh(dig + " -y hmac-sha256:key.example.:" + wrong + at + "example.org. SOA >/dev/null 2>&1");    // BADSIG
  sh(dig + " -y hmac-sha256:other.example.:" + secret + at + "example.org. SOA >/dev/null 2>&1");  // BADKEY

  const std::string server_label = "dns://127.0.0.1:" + std::to_string(port);
  const std::string labels = "server=\"" + server_label + "\",zone=\"example.org.\"";
  std::string scrape;
  // Counted by the answering thread; a scrape sums them (bounded wait for the last query's count).
  const bool counted = eventually([&] {
    scrape = curl(metrics, "/metrics").body;
    return prom_sample(scrape, "wgsd_tsig_failures_total{" + labels + ",error=\"BADKEY\"}") == 1;
  }, 3000ms);
  INFO(scrape);
  CHECK(counted);
  CHECK(prom_sample(scrape, "wgsd_tsig_verified_total{" + labels + "}") == 2);
  CHECK(prom_sample(scrape, "wgsd_tsig_failures_total{" + labels + ",error=\"BADSIG\"}") == 1);
  CHECK(prom_sample(scrape, "wgsd_tsig_failures_total{" + labels + ",error=\"BADKEY\"}") == 1);
  CHECK_THAT(scrape, Catch::Contains("# TYPE wgsd_tsig_verified_total counter"));
  CHECK(server.stop(SIGTERM) == 0);
}
