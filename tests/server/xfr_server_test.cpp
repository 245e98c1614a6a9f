// Transfers over wgsd-server's TCP loop: who is refused, and what a slow or vanished reader does
// to everybody else (nothing).
#include <catch2/catch.hpp>
#include <netinet/in.h>
#include <poll.h>
#include <sys/socket.h>
#include <unistd.h>

#include <thread>

#include "dns/tsig.hpp"
#include "dns/xfr_case.hpp"
#include "support/secondaries.hpp"
#include "support/serving.hpp"

using namespace wgsd;
using namespace wgsd::test;
using namespace std::chrono_literals;

namespace {

wg::Device big_device(unsigned n) { return many_peers_device("wgxfr1", n); }

// A TCP connection to 127.0.0.1:port from `source` (127.0.0.x).
int connect_from(const char* source, unsigned short port) {
  const int fd = ::socket(AF_INET, SOCK_STREAM, 0);
  REQUIRE(fd >= 0);
  timeval tv{3, 0};
  ::setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof tv);
  sockaddr_in src{};
  src.sin_family = AF_INET;
  REQUIRE(inet_pton(AF_INET, source, &src.sin_addr) == 1);
  REQUIRE(::bind(fd, reinterpret_cast<sockaddr*>(&src), sizeof src) == 0);
  const sockaddr_in to = loopback_address(port);
  REQUIRE(::connect(fd, reinterpret_cast<const sockaddr*>(&to), sizeof to) == 0);
  return fd;
}

void send_all(int fd, const std::vector<std::uint8_t>& q) {
  const auto f = framed(q);
  REQUIRE(::send(fd, f.data(), f.size(), MSG_NOSIGNAL) == static_cast<ssize_t>(f.size()));
}

// A whole transfer over a new connection: the answer records, or the single refusal.
std::vector<std::string> transfer(const char* source, unsigned short port, const std::vector<std::uint8_t>& q, int* rcode = nullptr) {
  const int fd = connect_from(source, port);
  send_all(fd, q);
  std::vector<std::string> records;
  int soas = 0;
  while (soas < 2) {
    const auto m = read_message(fd);
    if (m.empty()) break;
    auto pkt = parse_response(m);
    REQUIRE(pkt);
    if (rcode != nullptr) *rcode = ldns_pkt_get_rcode(pkt.get());
    if (ldns_pkt_get_rcode(pkt.get()) != LDNS_RCODE_NOERROR) break;
    for (auto& r : section(pkt.get(), LDNS_SECTION_ANSWER)) {
      if (r.find(" in soa ") != std::string::npos) ++soas;
      records.push_back(std::move(r));
    }
  }
  ::close(fd);
  return records;
}

std::vector<std::uint8_t> signed_query(const std::vector<std::uint8_t>& q, const char* secret) {
  std::string error;
  auto key = dns::tsig::make_key("key.example.", "hmac-sha256", secret, error);
  REQUIRE(key);
  std::vector<std::uint8_t> out = q;
  out.resize(q.size() + 200);
  dns::tsig::SignParams p;
  p.time_signed = static_cast<std::uint64_t>(std::time(nullptr));
  p.original_id = dns::get_u16(q.data());
  out.resize(dns::tsig::sign(out, q.size(), *key, p));
  return out;
}

std::size_t ptrs(const std::vector<std::string>& records) {
  return static_cast<std::size_t>(std::count_if(records.begin(), records.end(), [](const std::string& r) { return r.find(" in ptr ") != std::string::npos; }));
}

}  // namespace

TEST_CASE("transfer over TCP: unlisted addresses and wrong keys are refused, slow and vanished readers hold up nobody", "[server][xfr]") {
  const unsigned n = 10000;
  const auto port = free_port();
  Serving wgsd("example.com.:" + std::to_string(port) + " {\n bind 127.0.0.1\n wgsd example.com. wgxfr1 {\n  ns ns1.example.com. 192.0.2.53\n }\n" +
                   " tsig {\n  secret key.example. " + xfr_secret + "\n }\n transfer {\n  to 127.0.0.2\n }\n}\n",
               {big_device(n)});
  const auto axfr = make_query("example.com.", LDNS_RR_TYPE_AXFR);
  int rcode = -1;
  CHECK(transfer("127.0.0.1", port, axfr, &rcode).empty());
  CHECK(rcode == LDNS_RCODE_REFUSED);
  CHECK(transfer("127.0.0.2", port, signed_query(axfr, "d3Jvbmctc2VjcmV0LXdyb25nLXNlY3JldC13cm9uZy0="), &rcode).empty());
  CHECK(rcode == LDNS_RCODE_NOTAUTH);
  CHECK(ptrs(transfer("127.0.0.2", port, axfr)) == n);
  CHECK(ptrs(transfer("127.0.0.2", port, signed_query(axfr, xfr_secret))) == n);

  // A reader that takes one message and then nothing: the zone goes on answering over UDP and TCP.
  const int slow = connect_from("127.0.0.2", port);
  send_all(slow, axfr);
  REQUIRE_FALSE(read_message(slow).empty());
  const auto soa = make_query("example.com.", LDNS_RR_TYPE_SOA);
  for (int i = 0; i < 20; ++i) {
    const auto start = std::chrono::steady_clock::now();
    const int fd = connect_from("127.0.0.1", port);
    send_all(fd, soa);
    auto pkt = parse_response(read_message(fd));
    ::close(fd);
    REQUIRE(pkt);
    CHECK(ldns_pkt_get_rcode(pkt.get()) == LDNS_RCODE_NOERROR);
    CHECK(std::chrono::steady_clock::now() - start < 1s);
  }
  // Another transfer completes beside it, and the slow one vanishes mid-stream (a reset).
  CHECK(ptrs(transfer("127.0.0.2", port, axfr)) == n);
  const linger reset{1, 0};
  ::setsockopt(slow, SOL_SOCKET, SO_LINGER, &reset, sizeof reset);
  ::close(slow);
  CHECK(ptrs(transfer("127.0.0.2", port, axfr)) == n);
  CHECK(short_answer(port, "example.com.", "SOA").size() == 1);
}

TEST_CASE("transfer over TCP: a secondary that stops reading for longer than the idle timeout mid-transfer still gets the whole zone", "[server][xfr]") {
  // A secondary busy loading a large RRset reads nothing for many seconds (Knot, ingesting a PTR
  // set of 65,535 records on a loaded machine, for more than 10 s); the transfer must wait for it.
  // An idle connection is still closed at the idle timeout.
  const unsigned n = 10000;
  const auto port = free_port();
  FakeBackend backend;
  backend.put(reference_device());
  backend.put(big_device(n));
  server::Log log{[](const std::string&) {}};
  server::ServerLimits limits;
  limits.tcp_idle_timeout = 300ms;
  server::Server s(server::parse_config("example.com.:" + std::to_string(port) + " {\n bind 127.0.0.1\n wgsd example.com. wgxfr1 {\n  ns ns1.example.com. 192.0.2.53\n }\n" +
                                            " transfer {\n  to 127.0.0.2\n }\n}\n",
                                        "Corefile"),
                   sharing(backend), log, limits);
  s.start();
  const int idle = connect_from("127.0.0.1", port);
  const int fd = connect_from("127.0.0.2", port);
  send_all(fd, make_query("example.com.", LDNS_RR_TYPE_AXFR));
  std::vector<std::string> records;
  int soas = 0;
  bool paused = false;
  while (soas < 2) {
    if (soas == 1 && !paused) {
      std::this_thread::sleep_for(1500ms);  // five idle timeouts without reading
      paused = true;
    }
    const auto m = read_message(fd);
    if (m.empty()) break;
    auto pkt = parse_response(m);
    REQUIRE(pkt);
    for (auto& r : section(pkt.get(), LDNS_SECTION_ANSWER)) {
      if (r.find(" in soa ") != std::string::npos) ++soas;
      records.push_back(std::move(r));
    }
  }
  ::close(fd);
  CHECK(paused);
  CHECK(soas == 2);
  CHECK(ptrs(records) == n);
  // The connection that sent nothing was closed: it reads end of file at once.
  char byte = 0;
  CHECK(::recv(idle, &byte, 1, 0) == 0);
  ::close(idle);
  s.stop();
}
