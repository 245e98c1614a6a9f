// wgsd-server's HTTP side against clients that would hold its slots: a head trickled byte by byte,
// an answer read too slowly, every slot held by idle keep-alive connections; and a handler that
// throws, a client that half-closes. Short limits (timeout 1 s, few slots), on loopback.
#include <catch2/catch.hpp>
#include <arpa/inet.h>
#include <netinet/in.h>
#include <poll.h>
#include <sys/socket.h>
#include <unistd.h>

#include <atomic>
#include <string>
#include <vector>

#include "server/http.hpp"
#include "server/http_loop.hpp"
#include "support/http_conn.hpp"
#include "support/http_served.hpp"
#include "support/http_get.hpp"
#include "support/lab.hpp"

using namespace wgsd;
using namespace wgsd::test;
using namespace std::chrono_literals;

namespace {

server::HttpLimits short_limits(unsigned slots) {
  server::HttpLimits limits;
  limits.max_connections = slots;
  limits.timeout = 1s;
  return limits;
}

// Whether `fd` was closed by the server (EOF or reset); waits at most `wait` for a sign.
bool closed_now(int fd, std::chrono::milliseconds wait) {
  pollfd p{fd, POLLIN, 0};
  if (::poll(&p, 1, static_cast<int>(wait.count())) != 1) return false;
  char buf[4096];
  const ssize_t n = ::recv(fd, buf, sizeof buf, MSG_DONTWAIT);
  return n == 0 || (n < 0 && errno != EAGAIN);
}

}  // namespace

TEST_CASE("HTTP: a client trickling its request head is closed at the head's deadline although it keeps sending", "[server][http]") {
  Served s(short_limits(4));
  const int fd = connect_loopback(s.port());
  REQUIRE(fd >= 0);
  const auto start = std::chrono::steady_clock::now();
  send_all(fd, "GET /health HTTP/1.1\r\nX: ");
  bool closed = false;
  // A byte every 100 ms, far more often than the timeout: only the head's own deadline ends it.
  while (!closed && std::chrono::steady_clock::now() - start < 6s) {
    closed = closed_now(fd, 100ms) || ::send(fd, "a", 1, MSG_NOSIGNAL) != 1;
  }
  CHECK(closed);
  CHECK(std::chrono::steady_clock::now() - start >= 900ms);
  ::close(fd);
}

TEST_CASE("HTTP: an answer read too slowly is closed at its deadline, timeout plus size at the minimum rate", "[server][http]") {
  auto limits = short_limits(4);
  limits.min_send_rate = 8 * 1024 * 1024;  // 16 MiB: 1 s + 2 s
  Served s(limits);
  const int fd = ::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
  const int small = 4096;
  ::setsockopt(fd, SOL_SOCKET, SO_RCVBUF, &small, sizeof small);
  sockaddr_in sin{};
  sin.sin_family = AF_INET;
  sin.sin_port = htons(s.port());
  sin.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  REQUIRE(::connect(fd, reinterpret_cast<sockaddr*>(&sin), sizeof sin) == 0);
  send_all(fd, "GET /big HTTP/1.1\r\nHost: x\r\n\r\n");
  const auto start = std::chrono::steady_clock::now();
  std::size_t got = 0;
  bool closed = false;
  // About 20 KB/s: always some progress, far below the rate.
  char buf[2000];
  while (!closed && std::chrono::steady_clock::now() - start < 8s) {
    std::this_thread::sleep_for(100ms);
    const ssize_t n = ::recv(fd, buf, sizeof buf, MSG_DONTWAIT);
    if (n > 0) got += static_cast<std::size_t>(n);
    closed = n == 0 || (n < 0 && errno != EAGAIN);
  }
  CHECK(closed);
  CHECK(got < big_size);
  ::close(fd);
}

TEST_CASE("HTTP: when every slot holds an idle keep-alive connection, a newcomer gets /health and the oldest is closed", "[server][http]") {
  auto limits = short_limits(4);
  limits.timeout = 10s;  // none of them expires during the test
  Served s(limits);
  std::vector<int> idle;
  std::string rest;
  for (std::uint8_t from = 1; from <= 4; ++from) {
    const int fd = connect_from(s.port(), from);
    REQUIRE(fd >= 0);
    send_all(fd, "GET /health HTTP/1.1\r\nHost: x\r\n\r\n");
    REQUIRE(read_one(fd, rest).status == 200);
    idle.push_back(fd);
  }
  const int newcomer = connect_from(s.port(), 5);
  REQUIRE(newcomer >= 0);
  send_all(newcomer, "GET /health HTTP/1.1\r\nHost: x\r\n\r\n");
  const auto answer = read_one(newcomer, rest);
  CHECK(answer.status == 200);
  CHECK(answer.body == "OK");
  CHECK(closed_within(idle[0], 2000ms));
  // The others are still served.
  send_all(idle[3], "GET /health HTTP/1.1\r\nHost: x\r\n\r\n");
  CHECK(read_one(idle[3], rest).status == 200);
  for (const int fd : idle) ::close(fd);
  ::close(newcomer);
}

TEST_CASE("HTTP: an answer being written is not closed to make room, so past every slot a newcomer is refused", "[server][http]") {
  auto limits = short_limits(1);
  limits.timeout = 10s;
  Served s(limits);
  const int slow = connect_loopback(s.port());
  send_all(slow, "GET /big HTTP/1.1\r\nHost: x\r\n\r\n");
  REQUIRE(eventually([&] { return s.requests.load() == 1; }, 3000ms));
  const auto refused = http_raw(s.port(), "GET /health HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n", 1000ms);
  CHECK(refused.status == 0);
  std::string rest;
  const auto big = read_one(slow, rest, 10000ms);
  CHECK(big.status == 200);
  CHECK(big.body.size() == big_size);
  ::close(slow);
}

TEST_CASE("HTTP clients are counted per IPv4 address and per IPv6 /64, IPv4-mapped IPv6 as IPv4", "[server][http]") {
  const auto key = [](const char* text) {
    sockaddr_storage ss{};
    if (::inet_pton(AF_INET, text, &reinterpret_cast<sockaddr_in&>(ss).sin_addr) == 1) {
      ss.ss_family = AF_INET;
    } else {
      REQUIRE(::inet_pton(AF_INET6, text, &reinterpret_cast<sockaddr_in6&>(ss).sin6_addr) == 1);
      ss.ss_family = AF_INET6;
    }
    return server::http::client_key(ss);
  };
  CHECK(key("2001:db8:1:2::1") == key("2001:db8:1:2:ffff:1:2:3"));
  CHECK(key("2001:db8:1:2::1") != key("2001:db8:1:3::1"));
  CHECK(key("::ffff:192.0.2.1") == key("192.0.2.1"));
  CHECK(key("::ffff:192.0.2.1") != key("::ffff:192.0.2.2"));
  CHECK(key("192.0.2.1") != key("192.0.2.2"));
}

TEST_CASE("HTTP: a handler throwing something that is no std::exception gets 500 and the server goes on answering", "[server][http]") {
  Served s(short_limits(4));
  const auto thrown = http_raw(s.port(), "GET /throw HTTP/1.1\r\nHost: x\r\n\r\n", 3000ms);
  CHECK(thrown.status == 500);
  CHECK(thrown.closed);
  CHECK(http_raw(s.port(), "GET /health HTTP/1.1\r\nHost: x\r\n\r\n", 3000ms).status == 200);
}

TEST_CASE("HTTP: after the client half-closes, the requests it already sent are answered, the last with Connection: close", "[server][http]") {
  Served s(short_limits(4));
  const int fd = connect_loopback(s.port());
  send_all(fd, "GET /health HTTP/1.1\r\nHost: x\r\n\r\nGET /nothing HTTP/1.1\r\nHost: x\r\n\r\nGET /health HTTP/1.1\r\nHost: x\r\n\r\n");
  ::shutdown(fd, SHUT_WR);
  std::string rest;
  const auto a = read_one(fd, rest);
  const auto b = read_one(fd, rest);
  const auto c = read_one(fd, rest);
  CHECK(a.status == 200);
  CHECK(b.status == 404);
  CHECK(c.status == 200);
  CHECK(a.head.find("Connection: keep-alive\r\n") != std::string::npos);
  CHECK(c.head.find("Connection: close\r\n") != std::string::npos);
  CHECK(closed_within(fd, 2000ms));
  ::close(fd);
}

TEST_CASE("HTTP: many pipelined requests on one connection are all answered, in order, across turns", "[server][http]") {
  Served s(short_limits(4));
  const int fd = connect_loopback(s.port());
  std::string burst;
  for (int i = 0; i < 39; ++i) burst += (i % 2 == 0 ? "GET /health HTTP/1.1\r\nHost: x\r\n\r\n" : "GET /nothing HTTP/1.1\r\nHost: x\r\n\r\n");
  burst += "GET /health HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n";
  send_all(fd, burst);
  std::string rest;
  int in_order = 0;
  for (int i = 0; i < 40; ++i) {
    const int status = read_one(fd, rest).status;
    if (status == (i % 2 == 0 || i == 39 ? 200 : 404)) {
      ++in_order;
    } else {
      UNSCOPED_INFO("answer " << i << ": " << status);
    }
  }
  CHECK(in_order == 40);
  CHECK(closed_within(fd, 2000ms));
  ::close(fd);
}
