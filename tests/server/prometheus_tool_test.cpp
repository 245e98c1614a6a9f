// The real tools on a scrape of the running server: promtool checks the exposition, and a real
// Prometheus server scrapes wgsd for a few seconds and answers a query over its HTTP API.
#include <catch2/catch.hpp>
#include <poll.h>
#include <sys/socket.h>
#include <unistd.h>

#include <fstream>
#include <string>
#include <thread>

#include "dns/fixtures.hpp"
#include "server/server.hpp"
#include "support/dns_case.hpp"
#include "support/http_get.hpp"
#include "support/lab.hpp"
#include "support/serving.hpp"

using namespace wgsd;
using namespace wgsd::test;

namespace {

void ask_udp(std::uint16_t port, const std::vector<std::uint8_t>& q) {
  const int fd = ::socket(AF_INET, SOCK_DGRAM | SOCK_CLOEXEC, 0);
  const auto to = loopback_address(port);
  (void)::sendto(fd, q.data(), q.size(), 0, reinterpret_cast<const sockaddr*>(&to), sizeof to);
  pollfd pf{fd, POLLIN, 0};
  REQUIRE(::poll(&pf, 1, 2000) == 1);
  ::close(fd);
}

std::string serving(std::uint16_t dns, std::uint16_t metrics) {
  return "example.com:" + std::to_string(dns) + " {\n bind 127.0.0.1\n wgsd example.com. wgref0 {\n  ns ns.example.\n  hide " + key2 +
         "\n }\n prometheus 127.0.0.1:" + std::to_string(metrics) + "\n acl {\n  block type TXT\n }\n}\n";
}

}  // namespace

TEST_CASE("promtool check metrics accepts a scrape of the running server", "[server][http][prometheus]") {
  require_live({"promtool", "curl"});
  const auto dns = free_port();
  const auto metrics = free_port();
  Serving s(serving(dns, metrics));
  // Something in every family: answers, refusals, an acl block, sizes and durations.
  ask_udp(dns, make_query(name1, LDNS_RR_TYPE_SRV));
  ask_udp(dns, make_query(name1, LDNS_RR_TYPE_TXT));
  ask_udp(dns, make_query("example.net.", LDNS_RR_TYPE_A));
  TempDir dir;
  const std::string scrape = dir.path() + "/scrape.txt";
  REQUIRE(sh("curl -s -m 5 -o " + scrape + " http://127.0.0.1:" + std::to_string(metrics) + "/metrics") == 0);
  // promtool prints problems (lint included) and exits non-zero on any.
  const std::string out = sh_out("promtool check metrics < " + scrape + " 2>&1; echo status=$?");
  INFO(out);
  CHECK(out == "status=0\n");
}

TEST_CASE("a real Prometheus server scrapes wgsd-server and counts the queries sent", "[server][http][prometheus]") {
  require_live({"prometheus", "curl"});
  const auto dns = free_port();
  const auto metrics = free_port();
  const auto web = free_port();
  Serving s(serving(dns, metrics));
  constexpr int sent = 5;
  for (int i = 0; i < sent; ++i) ask_udp(dns, make_query(name1, LDNS_RR_TYPE_SRV));

  TempDir dir;
  {
    std::ofstream config(dir.path() + "/prometheus.yml");
    config << "global:\n  scrape_interval: 1s\n  scrape_timeout: 1s\nscrape_configs:\n  - job_name: wgsd\n    static_configs:\n"
              "      - targets: ['127.0.0.1:"
           << metrics << "']\n";
  }
  Process prometheus({"prometheus", "--config.file=" + dir.path() + "/prometheus.yml", "--storage.tsdb.path=" + dir.path() + "/data",
                      "--web.listen-address=127.0.0.1:" + std::to_string(web), "--log.level=warn"},
                     dir.path() + "/prometheus.log");
  const std::string query = "curl -s -m 3 -G --data-urlencode 'query=sum(coredns_dns_requests_total{type=\"SRV\",zone=\"example.com.\"})' http://127.0.0.1:" +
                            std::to_string(web) + "/api/v1/query; true";
  std::string answer;
  const auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(30);
  while (std::chrono::steady_clock::now() < deadline) {
    answer = sh_out(query);
    if (answer.find("\"result\":[{") != std::string::npos) break;
    std::this_thread::sleep_for(std::chrono::milliseconds(250));
  }
  INFO(answer);
  INFO(sh_out("cat " + dir.path() + "/prometheus.log; true"));
  // {"status":"success","data":{"resultType":"vector","result":[{"metric":{},"value":[1795927079.387,"5"]}]}}
  CHECK(answer.find("\"status\":\"success\"") != std::string::npos);
  CHECK(answer.find(",\"" + std::to_string(sent) + "\"]") != std::string::npos);
  // And the target is up.
  const auto up = sh_out("curl -s -m 3 -G --data-urlencode 'query=up{job=\"wgsd\"}' http://127.0.0.1:" + std::to_string(web) + "/api/v1/query; true");
  CHECK(up.find(",\"1\"]") != std::string::npos);
}
