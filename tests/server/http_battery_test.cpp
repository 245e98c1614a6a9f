// The hostile battery's HTTP side: what a scanner or an attacker sends to the metrics and health
// addresses gets a 4xx or a closed connection, never a crash, and DNS goes on being answered.
#include <catch2/catch.hpp>
#include <poll.h>
#include <sys/socket.h>
#include <unistd.h>

#include <string>
#include <thread>
#include <vector>

#include "dns/fixtures.hpp"
#include "server/server.hpp"
#include "support/dns_case.hpp"
#include "support/http_get.hpp"
#include "support/lab.hpp"
#include "support/serving.hpp"

using namespace wgsd;
using namespace wgsd::test;

namespace {

// The SRV of peer 1 over UDP: true when answered.
bool dns_answers(std::uint16_t port) {
  const auto q = make_query(name1, LDNS_RR_TYPE_SRV);
  const int fd = ::socket(AF_INET, SOCK_DGRAM | SOCK_CLOEXEC, 0);
  const auto to = loopback_address(port);
  (void)::sendto(fd, q.data(), q.size(), 0, reinterpret_cast<const sockaddr*>(&to), sizeof to);
  pollfd pf{fd, POLLIN, 0};
  const bool answered = ::poll(&pf, 1, 2000) == 1;
  ::close(fd);
  return answered;
}

}  // namespace

TEST_CASE("hostile HTTP gets 4xx or a closed connection, and DNS and /health go on", "[server][http][battery]") {
  const auto dns = free_port();
  const auto http = free_port();
  const std::string text = "example.com:" + std::to_string(dns) + " {\n bind 127.0.0.1\n wgsd example.com. wgref0 {\n  ns ns.example.\n }\n" +
                           " prometheus 127.0.0.1:" + std::to_string(http) + "\n health 127.0.0.1:" + std::to_string(http) + "\n}\n";
  FakeBackend backend;
  backend.put(reference_device());
  server::Log log{[](const std::string&) {}};
  server::ServerLimits limits;
  limits.http.timeout = std::chrono::seconds(1);
  limits.http.max_connections = 8;
  server::Server server(server::parse_config(text, "Corefile"), sharing(backend), log, limits);
  server.start();

  SECTION("oversized headers") {
    const auto r = http_raw(http, "GET /health HTTP/1.1\r\nHost: x\r\nX-Big: " + std::string(200000, 'a') + "\r\n\r\n");
    CHECK((r.status == 0 ? r.closed : (r.status >= 400 && r.status < 500)));
    const auto many = [] {
      std::string h;
      for (int i = 0; i < 5000; ++i) h += "X-" + std::to_string(i) + ": v\r\n";
      return h;
    }();
    const auto r2 = http_raw(http, "GET /metrics HTTP/1.1\r\nHost: x\r\n" + many + "\r\n");
    CHECK((r2.status == 0 ? r2.closed : (r2.status >= 400 && r2.status < 500)));
  }
  SECTION("garbage and malformed request lines") {
    for (const std::string& junk : {std::string("\x16\x03\x01\x02\x00\x01\x00\x01\xfc\x03\x03", 11) + "\r\n\r\n", std::string("HELLO\r\n\r\n"),
                                   std::string("GET\r\n\r\n"), std::string("GET /health HTTP/9.9\r\nHost: x\r\n\r\n"),
                                   std::string("GET /health HTTP/1.1\r\nHost: x\r\nContent-Length: -5\r\n\r\n"),
                                   std::string("GET /health HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\nZZZ\r\n"),
                                   std::string("GET /health HTTP/1.1\r\n\r\n") /* no Host */, std::string(1, '\0') + "\r\n\r\n"}) {
      const auto r = http_raw(http, junk);
      INFO(junk);
      // 4xx, or 505 for a version that is not HTTP/1.x
      CHECK((r.status == 0 ? r.closed : ((r.status >= 400 && r.status < 500) || r.status == 505)));
    }
  }
  SECTION("a request never finished is closed by the timeout, and connections past the limit do not stop the server") {
    std::vector<int> slow;
    for (int i = 0; i < 12; ++i) {  // more than max_connections
      const int fd = connect_loopback(http);
      if (fd < 0) continue;
      (void)::send(fd, "GET /health HTTP/1.1\r\nHost: x\r\n", 31, MSG_NOSIGNAL);  // and never the end
      slow.push_back(fd);
    }
    REQUIRE(!slow.empty());
    const auto start = std::chrono::steady_clock::now();
    const auto r = read_reply(slow.front(), std::chrono::milliseconds(5000));
    CHECK(r.closed);
    CHECK(std::chrono::steady_clock::now() - start < std::chrono::seconds(4));
    for (const int fd : slow) ::close(fd);
  }

  // Whatever came before: DNS answers, and the HTTP address still serves.
  CHECK(dns_answers(dns));
  HttpReply ok;
  for (int i = 0; i < 40 && ok.status != 200; ++i) {  // closed connections leave the daemon's count within a poll
    ok = http_raw(http, "GET /health HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n");
    if (ok.status != 200) std::this_thread::sleep_for(std::chrono::milliseconds(50));
  }
  CHECK(ok.status == 200);
  CHECK(ok.body == "OK");
}
