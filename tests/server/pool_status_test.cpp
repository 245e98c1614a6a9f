// Pool member health where an operator looks: /metrics (checked by promtool) and /status.json and
// the page, from what the refresher read of the device.
#include <catch2/catch.hpp>

#include <sstream>
#include <string>

#include "dns/fixtures.hpp"
#include "server/ops_pages.hpp"
#include "support/http_get.hpp"
#include "support/keys.hpp"
#include "support/lab.hpp"
#include "support/prom_sample.hpp"
#include "support/serving.hpp"

using namespace wgsd;
using namespace wgsd::test;

namespace {

// `text` matched literally in a regular expression (base64 holds + and /).
std::string quote(const std::string& text) {
  std::string out;
  for (const char c : text) {
    if (std::string_view("\\^$.|?*+()[]{}").find(c) != std::string_view::npos) out += '\\';
    out += c;
  }
  return out;
}

}  // namespace

TEST_CASE("pool member health shows in /metrics, /status.json and the page", "[server][http][pool][status]") {
  require_live({"promtool", "curl"});
  const auto dns = free_port();
  const auto metrics = free_port();
  const auto status = free_port();
  // key1 has received bytes, with a handshake a moment ago: healthy. key2 never received: not.
  wg::Device device = reference_device();
  device.peers.at(0).rx_bytes = 1000;
  device.peers.at(0).last_handshake = wg::Clock::now() - std::chrono::seconds(2);
  device.peers.at(1).rx_bytes = 0;
  const std::string text = "example.com:" + std::to_string(dns) + " {\n bind 127.0.0.1\n wgsd example.com. wgref0 {\n  ns ns.example.\n" +
                           "  pool vpn {\n   member " + key1 + "\n   member " + key2 + "\n   max-age 60s\n  }\n }\n prometheus 127.0.0.1:" +
                           std::to_string(metrics) + "\n status 127.0.0.1:" + std::to_string(status) + "\n}\n";
  // At start no member has received anything: the pool fails open once, then key1's bytes arrive.
  Serving s(text);
  s.backend.put(device);
  REQUIRE(eventually([&] { return curl(metrics, "/metrics").body.find("state=\"healthy\"} 1") != std::string::npos; }, std::chrono::milliseconds(5000)));

  TempDir dir;
  REQUIRE(sh("curl -s -m 5 -o " + dir.path() + "/scrape.txt http://127.0.0.1:" + std::to_string(metrics) + "/metrics") == 0);
  const std::string scrape = sh_out("cat " + dir.path() + "/scrape.txt");
  CHECK(prom_sample(scrape, "wgsd_pool_members{zone=\"example.com.\",device=\"wgref0\",pool=\"vpn\",state=\"healthy\"}") == 1);
  CHECK(prom_sample(scrape, "wgsd_pool_members{zone=\"example.com.\",device=\"wgref0\",pool=\"vpn\",state=\"unhealthy\"}") == 1);
  CHECK(prom_sample(scrape, "wgsd_pool_fail_open_total{zone=\"example.com.\",device=\"wgref0\",pool=\"vpn\"}") == 1);
  CHECK_THAT(scrape, Catch::Contains("# TYPE wgsd_pool_members gauge") && Catch::Contains("# TYPE wgsd_pool_fail_open_total counter"));
  const std::string lint = sh_out("promtool check metrics < " + dir.path() + "/scrape.txt 2>&1; echo status=$?");
  INFO(lint);
  CHECK(lint == "status=0\n");

  const auto json = curl(status, "/status.json");
  REQUIRE(json.status == 200);
  // The pool, each member's key, health and seconds since it last received (never: null).
  CHECK_THAT(json.body, Catch::Matches(".*\"pools\":\\[\\{\"name\":\"vpn\",\"fail_open\":false,\"fail_open_episodes\":1,\"members\":\\[" +
                                        std::string("\\{\"key\":\"") + quote(key1) + "\",\"healthy\":true,\"last_received_seconds\":[0-9]+\\}," +
                                        "\\{\"key\":\"" + quote(key2) + "\",\"healthy\":false,\"last_received_seconds\":null\\}\\]\\}\\]\\}\\]\\}\n"));
  const auto page = curl(status, "/");
  REQUIRE(page.status == 200);
  CHECK_THAT(page.body, Catch::Contains("<h3>Pool vpn</h3>") && Catch::Contains(std::string(key2) + "</td><td class=\"withheld\">no</td><td>never</td>"));
}

TEST_CASE("pool metrics of one zone served from two devices are two series, told apart by device", "[server][pool][metrics]") {
  // One zone in two server blocks (an inside and an outside view), each with a pool named vpn.
  std::vector<server::ZoneStatus> zones(2);
  for (std::size_t i = 0; i < 2; ++i) {
    zones[i].zone = "example.com.";
    zones[i].device = i == 0 ? "wg-in" : "wg-out";
    zones[i].pools.resize(1);
    zones[i].pools[0].name = "vpn";
    zones[i].pools[0].fail_open_episodes = i + 1;
  }
  std::string out;
  server::ops::render_pool_metrics(out, zones);
  INFO(out);
  CHECK(prom_sample(out, "wgsd_pool_fail_open_total{zone=\"example.com.\",device=\"wg-in\",pool=\"vpn\"}") == 1);
  CHECK(prom_sample(out, "wgsd_pool_fail_open_total{zone=\"example.com.\",device=\"wg-out\",pool=\"vpn\"}") == 2);
  CHECK(prom_sample(out, "wgsd_pool_members{zone=\"example.com.\",device=\"wg-out\",pool=\"vpn\",state=\"healthy\"}") == 0);
}
