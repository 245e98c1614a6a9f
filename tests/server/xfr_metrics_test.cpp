// What /metrics and /status.json say of transfers, NOTIFYs and the IXFR journal, after real ones:
// dig's AXFR and IXFR, a refused requester, a reader that vanishes mid-stream, and a secondary that
// acknowledges a NOTIFY. promtool checks the scrape.
#include <catch2/catch.hpp>
#include <netinet/in.h>
#include <poll.h>
#include <sys/socket.h>
#include <unistd.h>

#include <fstream>
#include <regex>

#include "dns/xfr_case.hpp"
#include "support/prom_sample.hpp"
#include "support/secondaries.hpp"
#include "support/serving.hpp"

using namespace wgsd;
using namespace wgsd::test;
using namespace std::chrono_literals;

namespace {

wg::Device xfr_device(unsigned n, std::uint16_t moved_port = 0) {
  wg::Device d = many_peers_device("wgxfrm1", n);
  if (moved_port != 0) d.peers.front().endpoint->port = moved_port;
  return d;
}

// A UDP socket on 127.0.0.1 that acknowledges every NOTIFY it gets.
struct AckingSecondary {
  int fd{::socket(AF_INET, SOCK_DGRAM, 0)};
  unsigned short port{};
  AckingSecondary() {
    sockaddr_in a = loopback_address(0);
    REQUIRE(::bind(fd, reinterpret_cast<sockaddr*>(&a), sizeof a) == 0);
    socklen_t len = sizeof a;
    ::getsockname(fd, reinterpret_cast<sockaddr*>(&a), &len);
    port = ntohs(a.sin_port);
  }
  ~AckingSecondary() { ::close(fd); }
  void answer_all() {
    pollfd p{fd, POLLIN, 0};
    while (::poll(&p, 1, 0) > 0) {
      std::uint8_t m[4096];
      sockaddr_in from{};
      socklen_t flen = sizeof from;
      const ssize_t got = ::recvfrom(fd, m, sizeof m, 0, reinterpret_cast<sockaddr*>(&from), &flen);
      if (got < static_cast<ssize_t>(dns::header_size)) continue;
      m[2] |= 0x80;
      for (std::size_t i = 4; i < dns::header_size; ++i) m[i] = 0;
      ::sendto(fd, m, dns::header_size, 0, reinterpret_cast<sockaddr*>(&from), flen);
    }
  }
};

}  // namespace

TEST_CASE("metrics: transfers by type and result, NOTIFYs acknowledged, the IXFR journal, in /metrics and /status.json", "[server][xfr][prometheus]") {
  require_live({"dig", "promtool"});
  const unsigned n = 20000;  // megabytes: more than the socket buffers hold, so a reader can vanish mid-stream
  const auto port = free_port();
  AckingSecondary secondary;
  Serving s("example.com.:" + std::to_string(port) + " {\n bind 127.0.0.1\n wgsd example.com. wgxfrm1 {\n  refresh 100ms\n  ns ns1.example.com. 192.0.2.53\n }\n" +
                " transfer {\n  to 127.0.0.1:" + std::to_string(secondary.port) + "\n }\n prometheus 127.0.0.1:" + std::to_string(free_port()) + "\n}\n",
            {xfr_device(n)});
  const server::HttpRoutes routes{true, false, false, true};
  const auto scrape = [&] { return s.server->serve_http(routes, "/metrics").body; };
  const std::string zone = "{zone=\"example.com.\",type=";
  CHECK(prom_sample(scrape(), "wgsd_transfers_total" + zone + "\"axfr\",result=\"complete\"}") == 0);

  // dig's AXFR, whole.
  const std::string at = "@127.0.0.1 -p " + std::to_string(port) + " ";
  const std::string axfr = sh_out("dig +noall +stats +time=3 +tries=1 " + at + "example.com. AXFR 2>&1; true");
  REQUIRE(axfr.find("XFR size:") != std::string::npos);
  // An IXFR from the current serial: the single SOA, a complete IXFR.
  const auto serial = soa_serial(port);
  REQUIRE(serial != 0);
  const std::string ixfr = sh_out("dig +time=3 +tries=1 +tcp " + at + "example.com. IXFR=" + std::to_string(serial) + " 2>&1; true");
  REQUIRE(ixfr.find("SOA") != std::string::npos);
  // 127.0.0.2 is not listed: refused.
  const std::string refused = sh_out("dig +time=3 +tries=1 -b 127.0.0.2 " + at + "example.com. AXFR 2>&1; true");
  CHECK(refused.find("Transfer failed") != std::string::npos);
  // A reader that takes one message and resets the connection.
  {
    const int fd = ::socket(AF_INET, SOCK_STREAM, 0);
    const int small = 4096;
    ::setsockopt(fd, SOL_SOCKET, SO_RCVBUF, &small, sizeof small);
    const sockaddr_in to = loopback_address(port);
    REQUIRE(::connect(fd, reinterpret_cast<const sockaddr*>(&to), sizeof to) == 0);
    const auto f = framed(make_query("example.com.", LDNS_RR_TYPE_AXFR));
    REQUIRE(::send(fd, f.data(), f.size(), MSG_NOSIGNAL) == static_cast<ssize_t>(f.size()));
    REQUIRE_FALSE(read_message(fd).empty());
    const linger reset{1, 0};
    ::setsockopt(fd, SOL_SOCKET, SO_LINGER, &reset, sizeof reset);
    ::close(fd);
  }
  std::string m;
  CHECK(eventually(
      [&] {
        m = scrape();
        return prom_sample(m, "wgsd_transfers_total" + zone + "\"axfr\",result=\"interrupted\"}") == 1;
      },
      5000ms));
  INFO(m);
  CHECK(prom_sample(m, "wgsd_transfers_total" + zone + "\"axfr\",result=\"complete\"}") == 1);
  CHECK(prom_sample(m, "wgsd_transfers_total" + zone + "\"axfr\",result=\"refused\"}") == 1);
  CHECK(prom_sample(m, "wgsd_transfers_total" + zone + "\"ixfr\",result=\"complete\"}") == 1);
  CHECK(prom_sample(m, "wgsd_transfers_total" + zone + "\"ixfr\",result=\"interrupted\"}") == 0);

  // An endpoint moves: a new serial, a journal step, a NOTIFY of it the secondary acknowledges.
  s.backend.put(xfr_device(n, 40000));
  const std::string secondary_label = "secondary=\"127.0.0.1:" + std::to_string(secondary.port) + "\"";
  const std::string acked_serial = "wgsd_notify_acknowledged_serial{zone=\"example.com.\"," + secondary_label + "}";
  CHECK(eventually(
      [&] {
        secondary.answer_all();
        m = scrape();
        return prom_sample(m, acked_serial) > static_cast<double>(serial);
      },
      10000ms));
  INFO(m);
  CHECK(prom_sample(m, "wgsd_notifies_total{zone=\"example.com.\"," + secondary_label + ",result=\"acknowledged\"}") >= 1);
  CHECK(prom_sample(m, "wgsd_notifies_total{zone=\"example.com.\"," + secondary_label + ",result=\"sent\"}") >= 1);
  CHECK(prom_sample(m, "wgsd_notifies_total{zone=\"example.com.\"," + secondary_label + ",result=\"failed\"}") == 0);
  CHECK(prom_sample(m, "wgsd_ixfr_journal_steps{zone=\"example.com.\",device=\"wgxfrm1\"}") >= 1);
  CHECK(prom_sample(m, "wgsd_ixfr_journal_bytes{zone=\"example.com.\",device=\"wgxfrm1\"}") > 0);

  // The secondary's IXFR from the old serial: one step, a complete IXFR.
  const std::string step = sh_out("dig +time=3 +tries=1 " + at + "example.com. IXFR=" + std::to_string(serial) + " 2>&1; true");
  CHECK(step.find("40000") != std::string::npos);
  CHECK(eventually([&] { return prom_sample(scrape(), "wgsd_transfers_total" + zone + "\"ixfr\",result=\"complete\"}") == 2; }, 5000ms));

  // /status.json: the serial, the journal and the secondary's last acknowledged NOTIFY.
  const std::string json = s.server->serve_http(routes, "/status.json").body;
  INFO(json);
  CHECK(std::regex_search(json, std::regex("\"transfer\":\\{\"serial\":[0-9]+,\"journal_steps\":[1-9][0-9]*,\"journal_bytes\":[1-9][0-9]*,\"secondaries\":\\[\\{\"address\":\"127.0.0.1:" +
                                            std::to_string(secondary.port) + "\",\"notifies_sent\":[1-9][0-9]*,\"notifies_acknowledged\":[1-9][0-9]*,\"notifies_failed\":0,"
                                            "\"acknowledged_serial\":[0-9]+,\"acknowledged_at\":[0-9.]+,")));

  // promtool accepts the whole scrape.
  TempDir dir;
  std::ofstream(dir.path() + "/scrape.txt") << scrape();
  const std::string lint = sh_out("promtool check metrics < " + dir.path() + "/scrape.txt 2>&1; echo status=$?");
  INFO(lint);
  CHECK(lint == "status=0\n");
}
