// The listener's threads: what they hold while idle, how many there are, what they count.
#include <catch2/catch.hpp>
#include <arpa/inet.h>
#include <netinet/in.h>
#include <poll.h>
#include <sys/socket.h>
#include <unistd.h>

#include <chrono>
#include <thread>

#include "dns/fixtures.hpp"
#include "server/listener.hpp"
#include "support/dns_case.hpp"
#include "support/lab.hpp"

using namespace wgsd;
using namespace wgsd::test;
using namespace std::chrono_literals;

namespace {

sockaddr_in loopback(std::uint16_t port) {
  sockaddr_in sin{};
  sin.sin_family = AF_INET;
  sin.sin_port = htons(port);
  sin.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  return sin;
}

// One query over UDP from a new socket (a new source port); true when a reply came.
bool udp_answered(std::uint16_t port, const std::vector<std::uint8_t>& query) {
  const int fd = ::socket(AF_INET, SOCK_DGRAM, 0);
  const sockaddr_in to = loopback(port);
  ::sendto(fd, query.data(), query.size(), 0, reinterpret_cast<const sockaddr*>(&to), sizeof to);
  pollfd p{fd, POLLIN, 0};
  const bool answered = ::poll(&p, 1, 3000) == 1;
  ::close(fd);
  return answered;
}

// One query over TCP; the connection stays open (a client that keeps it) until `fd` is closed.
bool tcp_answered(std::uint16_t port, const std::vector<std::uint8_t>& query, int& fd) {
  fd = ::socket(AF_INET, SOCK_STREAM, 0);
  const sockaddr_in to = loopback(port);
  if (::connect(fd, reinterpret_cast<const sockaddr*>(&to), sizeof to) != 0) return false;
  std::vector<std::uint8_t> framed{static_cast<std::uint8_t>(query.size() >> 8), static_cast<std::uint8_t>(query.size() & 0xff)};
  framed.insert(framed.end(), query.begin(), query.end());
  if (::send(fd, framed.data(), framed.size(), 0) != static_cast<ssize_t>(framed.size())) return false;
  pollfd p{fd, POLLIN, 0};
  return ::poll(&p, 1, 3000) == 1;
}

server::ListenerOptions loopback_options(unsigned workers) {
  server::ListenerOptions o;
  o.port = free_port();
  o.addresses = {*wg::IpAddress::parse("127.0.0.1")};
  o.udp_workers = workers;
  return o;
}

}  // namespace

TEST_CASE("idle UDP workers and the TCP thread let go of a replaced snapshot", "[server][udp][tcp][refresh]") {
  server::SnapshotHolder holder;
  auto first = std::make_shared<dns::ZoneSet>();
  const std::weak_ptr<const dns::ZoneSet> watch = first;
  holder.publish(std::move(first));
  server::Log log([](const std::string&) {});
  const auto options = loopback_options(4);
  server::Listener listener(options, holder, log);
  listener.start();

  // From many source ports: SO_REUSEPORT spreads them over the workers, and each reads the
  // snapshot to answer (REFUSED: the set is empty). The TCP client keeps its connection open.
  const auto query = make_query(name1, LDNS_RR_TYPE_SRV);
  for (int i = 0; i < 32; ++i) REQUIRE(udp_answered(options.port, query));
  int tcp = -1;
  REQUIRE(tcp_answered(options.port, query, tcp));

  // A refresh replaces it while every thread is idle: nothing may keep the old one alive.
  holder.publish(std::make_shared<dns::ZoneSet>());
  CHECK(eventually([&] { return watch.expired(); }, 2000ms));
  ::close(tcp);
}
