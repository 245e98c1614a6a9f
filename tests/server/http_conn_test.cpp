// wgsd-server's own HTTP/1.1 server, connection by connection: keep-alive and pipelining, HEAD,
// refused bodies, a slow reader that holds up nobody else, and the limits per client address and
// in all. Driven through HttpServer with a handler of the test's own, on loopback.
#include <catch2/catch.hpp>
#include <netinet/in.h>
#include <poll.h>
#include <sys/socket.h>
#include <unistd.h>

#include <string>
#include <vector>

#include "server/http.hpp"
#include "support/http_conn.hpp"
#include "support/http_served.hpp"
#include "support/http_get.hpp"
#include "support/lab.hpp"

using namespace wgsd;
using namespace wgsd::test;
using namespace std::chrono_literals;

TEST_CASE("HTTP keep-alive: two requests on one connection, pipelined ones answered in order, Connection: close honoured", "[server][http]") {
  Served s;
  const int fd = connect_loopback(s.port());
  REQUIRE(fd >= 0);
  std::string rest;
  send_all(fd, "GET /count HTTP/1.1\r\nHost: x\r\n\r\n");
  const auto first = read_one(fd, rest);
  CHECK(first.status == 200);
  CHECK(first.body == "1");
  send_all(fd, "GET /count HTTP/1.1\r\nHost: x\r\n\r\n");
  const auto second = read_one(fd, rest);
  CHECK(second.status == 200);
  CHECK(second.body == "2");
  // Three at once: three answers, in the order asked; the last asks to close.
  send_all(fd, "GET /count HTTP/1.1\r\nHost: x\r\n\r\nGET /nothing HTTP/1.1\r\nHost: x\r\n\r\nGET /health HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n");
  const auto a = read_one(fd, rest);
  const auto b = read_one(fd, rest);
  const auto c = read_one(fd, rest);
  CHECK(a.status == 200);
  CHECK(a.body == "3");
  CHECK(b.status == 404);
  CHECK(c.status == 200);
  CHECK(c.body == "OK");
  CHECK(c.head.find("Connection: close\r\n") != std::string::npos);
  CHECK(closed_within(fd, 2000ms));
  ::close(fd);

  // HTTP/1.0 closes after its answer unless it asks to keep the connection.
  const int old = connect_loopback(s.port());
  send_all(old, "GET /health HTTP/1.0\r\n\r\n");
  rest.clear();
  CHECK(read_one(old, rest).status == 200);
  CHECK(closed_within(old, 2000ms));
  ::close(old);
  const int kept = connect_loopback(s.port());
  send_all(kept, "GET /health HTTP/1.0\r\nConnection: keep-alive\r\n\r\n");
  CHECK(read_one(kept, rest).status == 200);
  send_all(kept, "GET /health HTTP/1.0\r\nConnection: keep-alive\r\n\r\n");
  CHECK(read_one(kept, rest).status == 200);
  ::close(kept);
}

TEST_CASE("HTTP HEAD: the headers of the GET, its Content-Length, and no body", "[server][http]") {
  Served s;
  const int fd = connect_loopback(s.port());
  std::string rest;
  send_all(fd, "GET /health HTTP/1.1\r\nHost: x\r\n\r\n");
  const auto get = read_one(fd, rest);
  send_all(fd, "HEAD /health HTTP/1.1\r\nHost: x\r\n\r\n");
  const auto head = read_one(fd, rest, 3000ms, true);
  REQUIRE(get.status == 200);
  REQUIRE(head.status == 200);
  CHECK(head.head.find("Content-Length: 2\r\n") != std::string::npos);
  CHECK(head.head.find("Content-Type: text/plain; charset=utf-8\r\n") != std::string::npos);
  CHECK(head.head.find("Cache-Control: no-store\r\n") != std::string::npos);
  CHECK(head.head.find("X-Content-Type-Options: nosniff\r\n") != std::string::npos);
  // No body came: the next answer starts right after the head.
  send_all(fd, "GET /health HTTP/1.1\r\nHost: x\r\n\r\n");
  const auto after = read_one(fd, rest);
  CHECK(after.status == 200);
  CHECK(after.body == "OK");
  CHECK(rest.empty());
  ::close(fd);
}

TEST_CASE("HTTP requests with a body, other methods, versions and a missing Host are refused and the connection closed", "[server][http]") {
  Served s;
  const auto refused = [&](const std::string& request, int status) {
    const int fd = connect_loopback(s.port());
    send_all(fd, request);
    std::string rest;
    const auto a = read_one(fd, rest);
    INFO(request);
    CHECK(a.status == status);
    CHECK(closed_within(fd, 2000ms));
    ::close(fd);
    return a;
  };
  refused("GET /health HTTP/1.1\r\nHost: x\r\nContent-Length: 5\r\n\r\nhello", 413);
  refused("GET /health HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\n5\r\nhello\r\n0\r\n\r\n", 413);
  refused("GET /health HTTP/1.1\r\nHost: x\r\nContent-Length: five\r\n\r\n", 400);
  const auto post = refused("POST /health HTTP/1.1\r\nHost: x\r\nContent-Length: 5\r\n\r\nhello", 405);
  CHECK(post.head.find("Allow: GET, HEAD\r\n") != std::string::npos);
  refused("GET /health HTTP/2.0\r\nHost: x\r\n\r\n", 505);
  refused("GET /health HTTP/1.1\r\n\r\n", 400);
  refused("GET /health HTTP/1.1\r\nHost: x\r\nHost: y\r\n\r\n", 400);
  refused("GET /health HTTP/1.1\r\nHost: x\r\n folded\r\n\r\n", 400);
  refused("GET /health HTTP/1.1\r\nHost: x\r\nX-Big: " + std::string(40000, 'a') + "\r\n\r\n", 431);
  // A Content-Length of 0 is no body; the query string is not part of the path.
  const int fd = connect_loopback(s.port());
  send_all(fd, "GET /health?x=1 HTTP/1.1\r\nHost: x\r\nContent-Length: 0\r\n\r\n");
  std::string rest;
  const auto ok = read_one(fd, rest);
  CHECK(ok.status == 200);
  CHECK(ok.body == "OK");
  ::close(fd);
}

TEST_CASE("HTTP: a client that does not read a large answer does not stop another from getting /health", "[server][http]") {
  server::HttpLimits limits;
  limits.timeout = 5s;
  Served s(limits);
  const int slow = connect_loopback(s.port());
  send_all(slow, "GET /big HTTP/1.1\r\nHost: x\r\n\r\n");
  REQUIRE(eventually([&] { return s.requests.load() == 1; }, 3000ms));
  // The answer is far larger than the socket buffers (a few MiB each way): the server is now
  // waiting on `slow`.
  const auto start = std::chrono::steady_clock::now();
  const auto health = http_raw(s.port(), "GET /health HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n", 3000ms);
  CHECK(health.status == 200);
  CHECK(health.body == "OK");
  CHECK(std::chrono::steady_clock::now() - start < 2s);
  // And the slow client gets all of it once it reads.
  std::string rest;
  const auto big = read_one(slow, rest, 10000ms);
  CHECK(big.status == 200);
  CHECK(big.body.size() == big_size);
  ::close(slow);
}

TEST_CASE("HTTP limits: a quarter of max_connections per client address, idle connections closed after the timeout", "[server][http]") {
  server::HttpLimits limits;
  limits.max_connections = 8;
  limits.timeout = 3s;  // longer than the steps before the last connection opens
  Served s(limits);
  std::vector<int> open;
  // Two from 127.0.0.1 are kept; the third is closed at once, unanswered.
  for (int i = 0; i < 2; ++i) open.push_back(connect_from(s.port(), 1));
  const int third = connect_from(s.port(), 1);
  REQUIRE(third >= 0);
  send_all(third, "GET /health HTTP/1.1\r\nHost: x\r\n\r\n");
  std::string rest;
  CHECK(read_one(third, rest, 500ms).status == 0);
  ::close(third);
  // Another address still gets in, up to its own two.
  const int other = connect_from(s.port(), 2);
  send_all(other, "GET /health HTTP/1.1\r\nHost: x\r\n\r\n");
  CHECK(read_one(other, rest).status == 200);
  open.push_back(other);
  // Every connection idle past the timeout is closed, and then anyone gets in again.
  for (const int fd : open) {
    CHECK(closed_within(fd, 5000ms));
    ::close(fd);
  }
  CHECK(eventually([&] { return http_raw(s.port(), "GET /health HTTP/1.1\r\nHost: x\r\n\r\n", 1000ms).status == 200; }, 3000ms));
}
