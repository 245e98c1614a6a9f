// The listeners in process, on loopback, over a fake device: TCP per RFC 7766 and the local address of UDP.
#include <catch2/catch.hpp>
#include <arpa/inet.h>
#include <netinet/in.h>
#include <poll.h>
#include <sys/socket.h>
#include <unistd.h>

#include <algorithm>
#include <chrono>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <functional>
#include <map>
#include <mutex>
#include <thread>

#include "dns/fixtures.hpp"
#include "dns/names.hpp"
#include "server/server.hpp"
#include "support/dns_case.hpp"
#include "support/fake_backend.hpp"
#include "support/lab.hpp"
#include "support/serving.hpp"

using namespace wgsd;
using namespace wgsd::test;
using namespace std::chrono_literals;

namespace {

struct Running {
  FakeBackend backend;
  server::Log log;
  std::uint16_t port = free_port();
  std::unique_ptr<server::Server> server;

  // `sink` receives the log (stderr when empty).
  Running(const std::string& bind, server::ServerLimits limits, std::function<void(const std::string&)> sink = {}) : log(std::move(sink)) {
    backend.put(reference_device());
    const auto config = server::parse_config(".:" + std::to_string(port) + " {\n" + bind +
                                                 "\n wgsd example.com. wgref0 {\n  self\n  refresh 50ms\n  ns ns.example.\n }\n}\n", "Corefile");
    server = std::make_unique<server::Server>(config, sharing(backend), log, limits);
    server->start();
  }
};

int tcp_connect(std::uint16_t port) {
  const int fd = ::socket(AF_INET, SOCK_STREAM, 0);
  sockaddr_in sin{};
  sin.sin_family = AF_INET;
  sin.sin_port = htons(port);
  sin.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  REQUIRE(::connect(fd, reinterpret_cast<sockaddr*>(&sin), sizeof sin) == 0);
  timeval tv{3, 0};
  ::setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof tv);
  return fd;
}



bool closed_by_peer(int fd, std::chrono::milliseconds within) {
  pollfd p{fd, POLLIN, 0};
  if (::poll(&p, 1, static_cast<int>(within.count())) <= 0) return false;
  char c;
  return ::recv(fd, &c, 1, MSG_DONTWAIT) == 0;
}

std::vector<std::uint8_t> udp_ask(const char* to, std::uint16_t port, const std::vector<std::uint8_t>& q) {
  const int fd = ::socket(AF_INET, SOCK_DGRAM, 0);
  sockaddr_in sin{};
  sin.sin_family = AF_INET;
  sin.sin_port = htons(port);
  ::inet_pton(AF_INET, to, &sin.sin_addr);
  timeval tv{3, 0};
  ::setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof tv);
  ::sendto(fd, q.data(), q.size(), 0, reinterpret_cast<sockaddr*>(&sin), sizeof sin);
  std::vector<std::uint8_t> buf(2048);
  sockaddr_in from{};
  socklen_t len = sizeof from;
  const ssize_t n = ::recvfrom(fd, buf.data(), buf.size(), 0, reinterpret_cast<sockaddr*>(&from), &len);
  ::close(fd);
  buf.resize(n > 0 ? static_cast<std::size_t>(n) : 0);
  char text[INET_ADDRSTRLEN];
  ::inet_ntop(AF_INET, &from.sin_addr, text, sizeof text);
  if (n > 0) CHECK(std::string(text) == to);  // the reply leaves from the address asked
  return buf;
}

}  // namespace

TEST_CASE("TCP: pipelined queries are answered in order, split frames are reassembled", "[server][tcp]") {
  Running r(" bind 127.0.0.1", {});
  const int fd = tcp_connect(r.port);
  std::vector<std::uint8_t> all;
  for (auto [name, id] : {std::pair{name1, 1}, std::pair{name2, 2}, std::pair{std::string("other.test."), 3}}) {
    auto f = framed(make_query(name, LDNS_RR_TYPE_SRV, {.id = static_cast<std::uint16_t>(id)}));
    all.insert(all.end(), f.begin(), f.end());
  }
  // One byte first (a partial length prefix), then the rest in one write.
  REQUIRE(::send(fd, all.data(), 1, 0) == 1);
  std::this_thread::sleep_for(50ms);
  REQUIRE(::send(fd, all.data() + 1, all.size() - 1, 0) == static_cast<ssize_t>(all.size() - 1));
  for (std::uint16_t id : {1, 2, 3}) {
    auto pkt = parse_response(read_message(fd));
    REQUIRE(pkt);
    CHECK(ldns_pkt_id(pkt.get()) == id);
    CHECK(ldns_pkt_get_rcode(pkt.get()) == (id == 3 ? LDNS_RCODE_REFUSED : LDNS_RCODE_NOERROR));
  }
  ::close(fd);
}

TEST_CASE("TCP: idle connections are closed, and the cap closes the longest idle", "[server][tcp]") {
  Running r(" bind 127.0.0.1", {1, 3, 300ms});
  SECTION("idle timeout") {
    const int fd = tcp_connect(r.port);
    CHECK(closed_by_peer(fd, 2000ms));
    ::close(fd);
  }
  SECTION("a length that never arrives does not hold the connection forever") {
    const int fd = tcp_connect(r.port);
    const std::uint8_t half[3] = {0, 40, 0};
    ::send(fd, half, sizeof half, 0);
    CHECK(closed_by_peer(fd, 2000ms));
    ::close(fd);
  }
  SECTION("connection cap") {
    std::vector<int> idle;
    for (int i = 0; i < 3; ++i) idle.push_back(tcp_connect(r.port));
    std::this_thread::sleep_for(50ms);
    const int fresh = tcp_connect(r.port);
    const auto q = framed(make_query(name1, LDNS_RR_TYPE_A));
    ::send(fresh, q.data(), q.size(), 0);
    CHECK(parse_response(read_message(fresh)));
    CHECK(closed_by_peer(idle[0], 1000ms));  // the oldest made room
    for (int fd : idle) ::close(fd);
    ::close(fresh);
  }
}

TEST_CASE("UDP on a wildcard socket: replies from the address asked, and self asked on loopback has no address", "[server][udp]") {
  Running r("", {});
  const std::string self_name = dns::instance_name(key_from_b64(self_key), "example.com.");
  for (const char* to : {"127.0.0.1", "127.0.0.2"}) {
    CHECK(section(parse_response(udp_ask(to, r.port, make_query(name1, LDNS_RR_TYPE_A))).get(), LDNS_SECTION_ANSWER) ==
          rrs({name1 + " 0 IN A 198.51.100.7"}));
    // The local address of the packet is what self without endpoint would publish; a loopback one
    // never is (the live e2e test asks on other addresses of a namespace).
    auto pkt = parse_response(udp_ask(to, r.port, make_query(self_name, LDNS_RR_TYPE_A)));
    REQUIRE(pkt);
    CHECK(ldns_pkt_get_rcode(pkt.get()) == LDNS_RCODE_NOERROR);
    CHECK(ldns_pkt_ancount(pkt.get()) == 0);
    CHECK(ldns_pkt_nscount(pkt.get()) == 1);
  }
  // A zone refresh is picked up without restarting anything.
  auto d = reference_device();
  d.peers[0].endpoint = wg::Endpoint::parse("192.0.2.200:1");
  r.backend.put(d);
  CHECK(eventually([&] {
    auto pkt = parse_response(udp_ask("127.0.0.1", r.port, make_query(name1, LDNS_RR_TYPE_A)));
    return pkt && section(pkt.get(), LDNS_SECTION_ANSWER) == rrs({name1 + " 0 IN A 192.0.2.200"});
  }, 2000ms));
}

TEST_CASE("UDP: a datagram larger than the buffer is dropped and logged, the query beside it answered", "[server][udp]") {
  std::mutex mutex;
  std::vector<std::string> lines;
  Running r(" bind 127.0.0.1\n errors\n log", {}, [&](const std::string& line) {
    std::lock_guard lock(mutex);
    lines.push_back(line);
  });
  auto logged = [&](const std::string& text) {
    std::lock_guard lock(mutex);
    return std::any_of(lines.begin(), lines.end(), [&](const std::string& l) { return l.find(text) != std::string::npos; });
  };
  // Back to back from one socket, so that the worker usually reads both in one batch (and
  // prefetches the batch's names first, in a zone large enough).
  const int fd = ::socket(AF_INET, SOCK_DGRAM, 0);
  const sockaddr_in sin = loopback_address(r.port);
  REQUIRE(::connect(fd, reinterpret_cast<const sockaddr*>(&sin), sizeof sin) == 0);
  auto big = make_query(name1, LDNS_RR_TYPE_SRV);
  big.resize(5000, 0);
  const auto query = make_query(name1, LDNS_RR_TYPE_SRV);
  REQUIRE(::send(fd, big.data(), big.size(), 0) == static_cast<ssize_t>(big.size()));
  REQUIRE(::send(fd, query.data(), query.size(), 0) == static_cast<ssize_t>(query.size()));
  pollfd p{fd, POLLIN, 0};
  REQUIRE(::poll(&p, 1, 3000) == 1);
  std::vector<std::uint8_t> reply(2048);
  const ssize_t n = ::recv(fd, reply.data(), reply.size(), 0);
  REQUIRE(n > 12);
  reply.resize(static_cast<std::size_t>(n));
  auto pkt = parse_response(reply);
  REQUIRE(pkt);
  CHECK(ldns_pkt_ancount(pkt.get()) == 1);
  CHECK(::poll(&p, 1, 300) == 0);  // one reply only: nothing for the 5,000 bytes
  ::close(fd);
  // The kernel reports the bytes it kept, the buffer's 4,096.
  CHECK(eventually([&] { return logged("dropped a 4096-byte UDP packet from 127.0.0.1:"); }, 2000ms));
  CHECK(logged("\"SRV IN " + name1 + " udp "));
}

TEST_CASE("UDP sockets queue a burst: a receive buffer larger than the default", "[server][udp]") {
  Running r("bind 127.0.0.1", {});
  auto sysctl = [](const char* name) {
    std::ifstream in(std::string("/proc/sys/net/core/") + name);
    long v = 0;
    in >> v;
    return v;
  };
  // Without CAP_NET_ADMIN the kernel caps the request at rmem_max; it reports twice what it grants.
  const long wanted = ::geteuid() == 0 ? (4L << 20) : std::min(4L << 20, sysctl("rmem_max"));
  if (wanted <= sysctl("rmem_default")) {
    WARN("skipped: net.core.rmem_max is not above rmem_default, so there is nothing larger to ask for");
    return;
  }
  unsigned udp = 0;
  for (const auto& entry : std::filesystem::directory_iterator("/proc/self/fd")) {
    const int fd = std::atoi(entry.path().filename().c_str());
    int type = 0;
    socklen_t len = sizeof type;
    sockaddr_in sin{};
    socklen_t slen = sizeof sin;
    if (::getsockopt(fd, SOL_SOCKET, SO_TYPE, &type, &len) != 0 || type != SOCK_DGRAM) continue;
    if (::getsockname(fd, reinterpret_cast<sockaddr*>(&sin), &slen) != 0 || sin.sin_family != AF_INET || ntohs(sin.sin_port) != r.port) continue;
    int buffer = 0;
    len = sizeof buffer;
    REQUIRE(::getsockopt(fd, SOL_SOCKET, SO_RCVBUF, &buffer, &len) == 0);
    CHECK(buffer >= 2 * wanted);
    ++udp;
  }
  CHECK(udp == std::max(1U, std::thread::hardware_concurrency()));  // one per worker
}

TEST_CASE("UDP: a burst of different queries gets, for each, the answer it gets alone", "[server][udp]") {
  // The worker answers a batch with state it keeps from one query to the next (what the last one
  // asked, the names it prefetched): none of it may reach the next answer.
  Running r(" bind 127.0.0.1", {});
  std::vector<std::vector<std::uint8_t>> queries;
  std::uint16_t id = 0x100;
  for (int round = 0; round < 2; ++round) {
    for (const auto& [name, type] : std::vector<std::pair<std::string, ldns_rr_type>>{
             {name1, LDNS_RR_TYPE_SRV}, {name1, LDNS_RR_TYPE_A}, {name2, LDNS_RR_TYPE_TXT}, {name2, LDNS_RR_TYPE_AAAA},
             {"nobody._wireguard._udp.example.com.", LDNS_RR_TYPE_SRV}, {name1, LDNS_RR_TYPE_ANY},
             {"_wireguard._udp.example.com.", LDNS_RR_TYPE_PTR}, {"example.com.", LDNS_RR_TYPE_SOA}, {"example.org.", LDNS_RR_TYPE_A}}) {
      queries.push_back(make_query(name, type, {.edns = round == 1, .id = id++}));
    }
  }
  const std::size_t answered = queries.size();
  // Never answered, among the others: a response, and a datagram too short for a header.
  std::vector<std::uint8_t> response = make_query(name1, LDNS_RR_TYPE_SRV, {.id = id++});
  response[2] |= 0x80;
  queries.insert(queries.begin() + 3, response);
  queries.insert(queries.begin() + 7, std::vector<std::uint8_t>{0x12, 0x34, 0, 0, 0});

  const int fd = ::socket(AF_INET, SOCK_DGRAM, 0);
  const sockaddr_in sin = loopback_address(r.port);
  REQUIRE(::connect(fd, reinterpret_cast<const sockaddr*>(&sin), sizeof sin) == 0);
  for (const auto& q : queries) REQUIRE(::send(fd, q.data(), q.size(), 0) == static_cast<ssize_t>(q.size()));
  std::map<std::uint16_t, std::vector<std::uint8_t>> replies;
  pollfd p{fd, POLLIN, 0};
  while (replies.size() < answered + 1 && ::poll(&p, 1, replies.size() < answered ? 3000 : 300) == 1) {
    std::vector<std::uint8_t> reply(2048);
    const ssize_t n = ::recv(fd, reply.data(), reply.size(), 0);
    REQUIRE(n >= 12);
    reply.resize(static_cast<std::size_t>(n));
    const auto reply_id = static_cast<std::uint16_t>((reply[0] << 8) | reply[1]);
    CHECK(replies.count(reply_id) == 0);
    replies[reply_id] = reply;
  }
  ::close(fd);
  REQUIRE(replies.size() == answered);  // one for each query, none for the two others
  for (const auto& q : queries) {
    if (q.size() < 12 || (q[2] & 0x80) != 0) continue;
    const auto query_id = static_cast<std::uint16_t>((q[0] << 8) | q[1]);
    INFO("query id " << query_id);
    REQUIRE(replies.count(query_id) == 1);
    CHECK(replies[query_id] == udp_ask("127.0.0.1", r.port, q));
  }
}
