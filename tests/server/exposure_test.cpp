// The server block is the unit of exposure: a zone is answered only on the addresses its own block
// binds (every address when it has no `bind`), over UDP and TCP, whatever else shares the port.
#include <catch2/catch.hpp>
#include <arpa/inet.h>
#include <netinet/in.h>
#include <poll.h>
#include <sys/socket.h>
#include <unistd.h>

#include <chrono>
#include <string>

#include "dns/fixtures.hpp"
#include "server/listener.hpp"
#include "server/server.hpp"
#include "support/dns_case.hpp"
#include "support/fake_backend.hpp"
#include "support/lab.hpp"
#include "support/serving.hpp"

using namespace wgsd;
using namespace wgsd::test;

namespace {

bool send_all(int fd, const std::vector<std::uint8_t>& data) {
  std::size_t sent = 0;
  while (sent < data.size()) {
    const ssize_t n = ::send(fd, data.data() + sent, data.size() - sent, MSG_NOSIGNAL);
    if (n <= 0) return false;
    sent += static_cast<std::size_t>(n);
  }
  return true;
}

bool recv_all(int fd, std::uint8_t* out, std::size_t size) {
  std::size_t got = 0;
  while (got < size) {
    const ssize_t n = ::recv(fd, out + got, size - got, 0);
    if (n <= 0) return false;
    got += static_cast<std::size_t>(n);
  }
  return true;
}

// The rcode of the answer to `zone SOA` asked at address:port, or -1 when nothing came back.
int rcode_at(const std::string& address, std::uint16_t port, const std::string& zone, bool tcp) {
  sockaddr_storage ss{};
  const auto ip = wg::IpAddress::parse(address);
  REQUIRE(ip);
  const auto len = wg::Endpoint{*ip, port}.to_sockaddr(ss);
  const int fd = ::socket(ip->is_v4() ? AF_INET : AF_INET6, tcp ? SOCK_STREAM : SOCK_DGRAM, 0);
  timeval tv{10, 0};  // generous: a sanitizer build on a loaded machine answers slowly
  ::setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof tv);
  const auto q = make_query(zone, LDNS_RR_TYPE_SOA);
  std::vector<std::uint8_t> reply;
  if (::connect(fd, reinterpret_cast<sockaddr*>(&ss), static_cast<socklen_t>(len)) == 0) {
    if (tcp) {
      std::vector<std::uint8_t> framed{static_cast<std::uint8_t>(q.size() >> 8), static_cast<std::uint8_t>(q.size() & 0xff)};
      framed.insert(framed.end(), q.begin(), q.end());
      std::uint8_t head[2];
      if (send_all(fd, framed) && recv_all(fd, head, 2)) {
        reply.resize((static_cast<std::size_t>(head[0]) << 8) | head[1]);
        if (!recv_all(fd, reply.data(), reply.size())) reply.clear();
      }
    } else if (::send(fd, q.data(), q.size(), 0) == static_cast<ssize_t>(q.size())) {
      reply.resize(2048);
      const ssize_t n = ::recv(fd, reply.data(), reply.size(), 0);
      reply.resize(n > 0 ? static_cast<std::size_t>(n) : 0);
    }
  }
  ::close(fd);
  const auto pkt = parse_response(reply);
  return pkt ? static_cast<int>(ldns_pkt_get_rcode(pkt.get())) : -1;
}

constexpr int noerror = LDNS_RCODE_NOERROR;
constexpr int refused = LDNS_RCODE_REFUSED;

std::string block(std::uint16_t port, const std::string& bind, const std::string& zone) {
  return ".:" + std::to_string(port) + " {\n" + (bind.empty() ? "" : " bind " + bind + "\n") + " wgsd " + zone + " wgref0 {\n  ns ns.example.\n }\n}\n";
}

}  // namespace

TEST_CASE("two blocks on one port bound to different addresses: each zone only on its own address", "[server][bind]") {
  const auto port = free_port();
  const std::string internal = block(port, "127.0.0.1", "internal.test.");
  const std::string external = block(port, "127.0.0.2", "public.test.");
  // Both orders of the blocks: which one comes first must not matter.
  const bool internal_first = GENERATE(true, false);
  Serving s(internal_first ? internal + external : external + internal);
  for (const bool tcp : {false, true}) {
    INFO((tcp ? "tcp" : "udp") << (internal_first ? ", internal block first" : ", public block first"));
    CHECK(rcode_at("127.0.0.1", port, "internal.test.", tcp) == noerror);
    CHECK(rcode_at("127.0.0.2", port, "public.test.", tcp) == noerror);
    CHECK(rcode_at("127.0.0.2", port, "internal.test.", tcp) == refused);
    CHECK(rcode_at("127.0.0.1", port, "public.test.", tcp) == refused);
  }
}

TEST_CASE("a block without bind beside a bound block: the bound zone stays on its address", "[server][bind]") {
  const auto port = free_port();
  const std::string everywhere = block(port, "", "public.test.");
  const std::string bound = block(port, "127.0.0.1", "internal.test.");
  const bool bound_first = GENERATE(true, false);
  Serving s(bound_first ? bound + everywhere : everywhere + bound);
  for (const bool tcp : {false, true}) {
    INFO((tcp ? "tcp" : "udp") << (bound_first ? ", bound block first" : ", wildcard block first"));
    CHECK(rcode_at("127.0.0.1", port, "internal.test.", tcp) == noerror);
    CHECK(rcode_at("127.0.0.2", port, "internal.test.", tcp) == refused);
    // A block without bind serves every address, the one another block binds included.
    CHECK(rcode_at("127.0.0.2", port, "public.test.", tcp) == noerror);
    CHECK(rcode_at("127.0.0.1", port, "public.test.", tcp) == noerror);
  }
}

TEST_CASE("IPv6: a zone bound to ::1 is not answered on the IPv4 wildcard, and the wildcard zone is on ::1", "[server][bind]") {
  if (!has_ipv6_loopback()) skip("no IPv6 loopback here");
  const auto port = free_port();
  Serving s(block(port, "::1", "internal.test.") + block(port, "", "public.test."));
  for (const bool tcp : {false, true}) {
    INFO((tcp ? "tcp" : "udp"));
    CHECK(rcode_at("::1", port, "internal.test.", tcp) == noerror);
    CHECK(rcode_at("127.0.0.1", port, "internal.test.", tcp) == refused);
    CHECK(rcode_at("::1", port, "public.test.", tcp) == noerror);
    CHECK(rcode_at("127.0.0.1", port, "public.test.", tcp) == noerror);
  }
}

TEST_CASE("an address two blocks bind answers both their zones, an address one block binds only its own", "[server][bind]") {
  const auto port = free_port();
  Serving s(block(port, "127.0.0.1", "internal.test.") + block(port, "127.0.0.1 127.0.0.2", "public.test."));
  for (const bool tcp : {false, true}) {
    INFO((tcp ? "tcp" : "udp"));
    CHECK(rcode_at("127.0.0.1", port, "internal.test.", tcp) == noerror);
    CHECK(rcode_at("127.0.0.1", port, "public.test.", tcp) == noerror);
    CHECK(rcode_at("127.0.0.2", port, "public.test.", tcp) == noerror);
    CHECK(rcode_at("127.0.0.2", port, "internal.test.", tcp) == refused);
  }
}

TEST_CASE("a reload that binds a zone to one address takes it off the others", "[server][bind][reload]") {
  const auto port = free_port();
  Serving s(block(port, "", "public.test.") + block(port, "", "internal.test."));
  CHECK(rcode_at("127.0.0.2", port, "internal.test.", false) == noerror);
  s.server->reload(server::parse_config(block(port, "", "public.test.") + block(port, "127.0.0.1", "internal.test."), "Corefile"));
  for (const bool tcp : {false, true}) {
    INFO((tcp ? "tcp" : "udp"));
    CHECK(rcode_at("127.0.0.1", port, "internal.test.", tcp) == noerror);
    CHECK(rcode_at("127.0.0.2", port, "internal.test.", tcp) == refused);
    CHECK(rcode_at("127.0.0.2", port, "public.test.", tcp) == noerror);
  }
  // And back: the bound socket goes, the wildcard answers for both again.
  s.server->reload(server::parse_config(block(port, "", "public.test.") + block(port, "", "internal.test."), "Corefile"));
  CHECK(rcode_at("127.0.0.2", port, "internal.test.", false) == noerror);
  CHECK(rcode_at("127.0.0.1", port, "internal.test.", true) == noerror);
}

TEST_CASE("one zone from two devices on one port: each address answers from its own block's device", "[server][bind]") {
  const auto port = free_port();
  wg::Device other = reference_device();
  other.name = "wgref1";
  // The public view hides a peer the internal one publishes.
  Serving s(block(port, "127.0.0.1", "example.com.") + ".:" + std::to_string(port) + " {\n bind 127.0.0.2\n wgsd example.com. wgref1 {\n  ns ns.example.\n  hide " +
                key1 + "\n }\n}\n",
            {other});
  for (const bool tcp : {false, true}) {
    INFO((tcp ? "tcp" : "udp"));
    CHECK(rcode_at("127.0.0.1", port, name1, tcp) == noerror);
    CHECK(rcode_at("127.0.0.2", port, name1, tcp) == LDNS_RCODE_NXDOMAIN);
    CHECK(rcode_at("127.0.0.2", port, name2, tcp) == noerror);
  }
}

TEST_CASE("a host without IPv6: `::` that no block names may fail, as the wildcard's does", "[server][bind]") {
  const auto port = free_port();
  server::testing::no_ipv6 = true;
  const std::string unbound = block(port, "", "example.com.");
  SECTION("a block without bind beside one bound to 0.0.0.0") {
    std::unique_ptr<Serving> s;
    CHECK_NOTHROW(s = std::make_unique<Serving>(unbound + block(port, "0.0.0.0", "other.example.")));
    server::testing::no_ipv6 = false;
    if (s) CHECK(rcode_at("127.0.0.1", port, name1, false) == noerror);
  }
  SECTION("a block that binds :: wants it") {
    CHECK_THROWS_WITH(Serving(unbound + block(port, "::", "other.example.")), Catch::Contains("listen udp [::]:"));
  }
  server::testing::no_ipv6 = false;
}
