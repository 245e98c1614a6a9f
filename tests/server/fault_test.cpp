// Fault injection: the device's daemon fails in every way while the server is answering.
#include <catch2/catch.hpp>
#include <arpa/inet.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <unistd.h>

#include <mutex>

#include "dns/fixtures.hpp"
#include "server/server.hpp"
#include "support/dns_case.hpp"
#include "support/lab.hpp"
#include "support/uapi_server.hpp"

using namespace wgsd;
using namespace wgsd::test;
using namespace std::chrono_literals;

namespace {

const std::string good_dump =
    "private_key=" + std::string(62, '0') + "40\nlisten_port=51820\npublic_key=" + wg::hex_encode(key_from_b64(key1).bytes()) +
    "\nendpoint=198.51.100.7:40001\nallowed_ip=10.0.0.1/32\nerrno=0\n\n";

std::vector<std::uint8_t> ask_udp(std::uint16_t port, const std::vector<std::uint8_t>& q, std::chrono::milliseconds* took = nullptr) {
  const int fd = ::socket(AF_INET, SOCK_DGRAM, 0);
  sockaddr_in sin{};
  sin.sin_family = AF_INET;
  sin.sin_port = htons(port);
  sin.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  timeval tv{2, 0};
  ::setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof tv);
  const auto start = std::chrono::steady_clock::now();
  ::sendto(fd, q.data(), q.size(), 0, reinterpret_cast<sockaddr*>(&sin), sizeof sin);
  std::vector<std::uint8_t> buf(2048);
  const ssize_t n = ::recv(fd, buf.data(), buf.size(), 0);
  if (took != nullptr) *took = std::chrono::duration_cast<std::chrono::milliseconds>(std::chrono::steady_clock::now() - start);
  ::close(fd);
  buf.resize(n > 0 ? static_cast<std::size_t>(n) : 0);
  return buf;
}

std::string a_of(std::uint16_t port, const std::string& name) {
  auto pkt = parse_response(ask_udp(port, make_query(name, LDNS_RR_TYPE_A)));
  if (!pkt) return "(no answer)";
  auto answer = section(pkt.get(), LDNS_SECTION_ANSWER);
  return answer.empty() ? "(" + std::to_string(ldns_pkt_get_rcode(pkt.get())) + ")" : answer[0];
}

}  // namespace

TEST_CASE("a failing device daemon never stops the answers, and each failure is said once", "[server][fault]") {
  TempDir dir;
  UapiServer daemon(dir.path(), "wgfault0");
  daemon.set_reply(good_dump);
  std::mutex mutex;
  std::vector<std::string> lines;
  server::Log log([&](const std::string& l) {
    std::lock_guard lock(mutex);
    lines.push_back(l);
  });
  auto count = [&](const std::string& needle) {
    std::lock_guard lock(mutex);
    return std::count_if(lines.begin(), lines.end(), [&](const std::string& l) { return l.find(needle) != std::string::npos; });
  };
  const auto port = free_port();
  const auto config = server::parse_config(".:" + std::to_string(port) + " {\n bind 127.0.0.1\n wgsd example.com. wgfault0 {\n  refresh 50ms\n }\n}\n", "C");
  server::ServerLimits limits;
  limits.max_peers = 3;
  server::Server server(config, [&](const server::ZoneConfig&) { return wg::make_uapi_backend({dir.path(), 400ms}); }, log, limits);
  server.start();
  const std::string expected = name1 + " 0 IN A 198.51.100.7";
  REQUIRE(a_of(port, name1) == rr(expected));

  SECTION("the daemon hangs up mid-reply") {
    daemon.set_reply(good_dump.substr(0, 100));
    CHECK(eventually([&] { return count("truncated reply") > 0; }, 2000ms));
  }
  SECTION("the daemon accepts but never answers: queries are still answered at once") {
    daemon.set_reply("", UapiServer::Mode::silent);
    CHECK(eventually([&] { return count("daemon did not answer in time") > 0; }, 3000ms));
    for (int i = 0; i < 20; ++i) {
      std::chrono::milliseconds took{};
      CHECK(!ask_udp(port, make_query(name1, LDNS_RR_TYPE_A), &took).empty());
      CHECK(took < 100ms);
    }
  }
  SECTION("a malformed dump") {
    daemon.set_reply("listen_port=1\npublic_key=" + std::string(64, 'a') + "\nendpoint=not-an-endpoint\nerrno=0\n\n");
    CHECK(eventually([&] { return count("line 3: bad or duplicate endpoint 'not-an-endpoint'") > 0; }, 2000ms));
  }
  SECTION("more peers than --max-peers") {
    std::string dump = "listen_port=1\n";
    for (unsigned i = 0; i < 4; ++i) dump += "public_key=" + wg::hex_encode(key_n(i).bytes()) + "\n";
    daemon.set_reply(dump + "errno=0\n\n");
    CHECK(eventually([&] { return count("has 4 peers, more than the limit of 3") > 0; }, 2000ms));
  }
  SECTION("the daemon is gone") {
    daemon.set_reply("", UapiServer::Mode::close);
    CHECK(eventually([&] { return count("[ERROR] wgsd: zone example.com.") > 0; }, 2000ms));
  }
  std::this_thread::sleep_for(500ms);  // several more failed refreshes
  CHECK(a_of(port, name1) == rr(expected));
  CHECK(count("[ERROR] wgsd: zone example.com.") == 1);
  CHECK(count("serving the last good data") == 1);
  // It comes back with a change: picked up, said once.
  daemon.set_reply(good_dump.substr(0, good_dump.find("198.51.100.7")) + "192.0.2.9:1" + good_dump.substr(good_dump.find(":40001") + 6));
  CHECK(eventually([&] { return a_of(port, name1) == rr(name1 + " 0 IN A 192.0.2.9"); }, 3000ms));
  CHECK(count("is readable again") == 1);
  server.stop();
}
