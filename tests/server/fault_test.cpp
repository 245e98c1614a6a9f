// Fault injection: the device's daemon fails in every way while the server is answering.
#include <catch2/catch.hpp>
#include <arpa/inet.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <unistd.h>

#include <atomic>
#include <fstream>
#include <iostream>
#include <mutex>
#include <thread>

#include "dns/fixtures.hpp"
#include "server/reload.hpp"
#include "server/server.hpp"
#include "server/spawn.hpp"
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

std::vector<std::uint8_t> ask_udp(std::uint16_t port, const std::vector<std::uint8_t>& q, std::chrono::milliseconds* took = nullptr,
                                  const char* address = "127.0.0.1", long timeout_ms = 5000) {
  const int fd = ::socket(AF_INET, SOCK_DGRAM, 0);
  sockaddr_in sin{};
  sin.sin_family = AF_INET;
  sin.sin_port = htons(port);
  ::inet_pton(AF_INET, address, &sin.sin_addr);
  timeval tv{timeout_ms / 1000, (timeout_ms % 1000) * 1000};
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

std::string a_of(std::uint16_t port, const std::string& name, const char* address = "127.0.0.1", long timeout_ms = 5000) {
  auto pkt = parse_response(ask_udp(port, make_query(name, LDNS_RR_TYPE_A), nullptr, address, timeout_ms));
  if (!pkt) return "(no answer)";
  auto answer = section(pkt.get(), LDNS_SECTION_ANSWER);
  return answer.empty() ? "(" + std::to_string(ldns_pkt_get_rcode(pkt.get())) + ")" : answer[0];
}

// What a registry runs beside: a UAPI stand-in for its device (answering good_dump), a free port,
// and a log whose lines a test can count.
class Rig {
public:
  explicit Rig(const std::string& device) : daemon(dir.path(), device) { daemon.set_reply(good_dump); }
  [[nodiscard]] server::BackendFactory factory() const {
    return [this](const server::ZoneConfig&) { return wg::make_uapi_backend({dir.path(), 400ms}); };
  }
  long count(const std::string& needle) {
    std::lock_guard lock(mutex_);
    return std::count_if(lines_.begin(), lines_.end(), [&](const std::string& l) { return l.find(needle) != std::string::npos; });
  }

  TempDir dir;
  UapiServer daemon;
  const std::uint16_t port = free_port();
  server::Log log{[this](const std::string& l) {
    std::lock_guard lock(mutex_);
    lines_.push_back(l);
  }};

private:
  std::mutex mutex_;
  std::vector<std::string> lines_;
};

std::uint32_t serial_of(std::uint16_t port, const std::string& zone) {
  auto pkt = parse_response(ask_udp(port, make_query(zone, LDNS_RR_TYPE_SOA)));
  if (!pkt || ldns_pkt_ancount(pkt.get()) != 1) return 0;
  return ldns_rdf2native_int32(ldns_rr_rdf(ldns_rr_list_rr(ldns_pkt_answer(pkt.get()), 0), 2));
}

}  // namespace

TEST_CASE("a failing device daemon never stops the answers, and each failure is said once", "[server][fault]") {
  Rig rig("wgfault0");
  const auto port = rig.port;
  const auto config = server::parse_config(".:" + std::to_string(port) + " {\n bind 127.0.0.1\n wgsd example.com. wgfault0 {\n  refresh 50ms\n  ns ns.example.\n }\n}\n", "C");
  server::ServerLimits limits;
  limits.max_peers = 3;
  server::Server server(config, rig.factory(), rig.log, limits);
  server.start();
  const std::string expected = name1 + " 0 IN A 198.51.100.7";
  REQUIRE(a_of(port, name1) == rr(expected));

  SECTION("the daemon hangs up mid-reply") {
    rig.daemon.set_reply(good_dump.substr(0, 100));
    CHECK(eventually([&] { return rig.count("truncated reply") > 0; }, 10000ms));
  }
  SECTION("the daemon accepts but never answers: queries are still answered at once") {
    rig.daemon.set_reply("", UapiServer::Mode::silent);
    CHECK(eventually([&] { return rig.count("daemon did not answer in time") > 0; }, 3000ms));
    for (int i = 0; i < 20; ++i) {
      std::chrono::milliseconds took{};
      CHECK(!ask_udp(port, make_query(name1, LDNS_RR_TYPE_A), &took).empty());
      CHECK(took < 100ms);
    }
  }
  SECTION("a malformed dump") {
    rig.daemon.set_reply("listen_port=1\npublic_key=" + std::string(64, 'a') + "\nendpoint=not-an-endpoint\nerrno=0\n\n");
    CHECK(eventually([&] { return rig.count("line 3: bad or duplicate endpoint 'not-an-endpoint'") > 0; }, 10000ms));
  }
  SECTION("more peers than --max-peers") {
    std::string dump = "listen_port=1\n";
    for (unsigned i = 0; i < 4; ++i) dump += "public_key=" + wg::hex_encode(key_n(i).bytes()) + "\n";
    rig.daemon.set_reply(dump + "errno=0\n\n");
    CHECK(eventually([&] { return rig.count("has 4 peers, more than the limit of 3") > 0; }, 10000ms));
  }
  SECTION("the daemon is gone") {
    rig.daemon.set_reply("", UapiServer::Mode::close);
    CHECK(eventually([&] { return rig.count("[ERROR] wgsd: zone example.com.") > 0; }, 10000ms));
  }
  std::this_thread::sleep_for(500ms);  // several more failed refreshes
  CHECK(a_of(port, name1) == rr(expected));
  CHECK(rig.count("[ERROR] wgsd: zone example.com.") == 1);
  CHECK(rig.count("serving the last good data") == 1);
  // It comes back with a change: picked up, said once.
  rig.daemon.set_reply(good_dump.substr(0, good_dump.find("198.51.100.7")) + "192.0.2.9:1" + good_dump.substr(good_dump.find(":40001") + 6));
  CHECK(eventually([&] { return a_of(port, name1) == rr(name1 + " 0 IN A 192.0.2.9"); }, 3000ms));
  CHECK(rig.count("is readable again") == 1);
  server.stop();
}

TEST_CASE("a Corefile that becomes invalid on reload changes nothing, and is reported once per version", "[server][fault][reload]") {
  Rig rig("wgrel0");
  const auto port = rig.port;
  const std::string path = rig.dir.path() + "/Corefile";
  const std::string head = ".:" + std::to_string(port) + " {\n bind 127.0.0.1\n wgsd example.com. wgrel0 {\n  refresh 50ms\n  ns ns.example.\n";
  const std::string good = head + " }\n}\n";
  std::ofstream(path) << good;
  const auto config = server::parse_config(server::read_corefile(path), path);
  server::Server server(config, rig.factory(), rig.log);
  server.start();
  server::Reloader reloader(path, good, config, server, rig.log);
  const std::string expected = rr(name1 + " 0 IN A 198.51.100.7");
  REQUIRE(a_of(port, name1) == expected);
  const auto serial = serial_of(port, "example.com.");
  CHECK(reloader.check(false) == server::Reloader::Outcome::unchanged);
  CHECK(rig.count("reload:") == 0);

  // A typo: refused with the place and the value; the timer does not repeat it, SIGHUP does.
  std::ofstream(path) << head << "  self 192.0.2.1\n }\n}\n";
  const std::string said = "[ERROR] reload: " + path + ":6: wgsd: self: endpoint must be IP:PORT, got '192.0.2.1'; keeping the running configuration";
  CHECK(reloader.check(false) == server::Reloader::Outcome::rejected);
  for (int i = 0; i < 5; ++i) CHECK(reloader.check(false) == server::Reloader::Outcome::rejected);
  CHECK(rig.count(said) == 1);
  CHECK(rig.count("reload:") == 1);
  std::this_thread::sleep_for(200ms);  // refreshes go on under the running configuration
  CHECK(a_of(port, name1) == expected);
  CHECK(reloader.check(true) == server::Reloader::Outcome::rejected);
  CHECK(rig.count(said) == 2);

  // Another broken version is a new problem: said once more.
  std::ofstream(path) << good << "}\n";
  CHECK(reloader.check(false) == server::Reloader::Outcome::rejected);
  CHECK(rig.count("[ERROR] reload: " + path + ":8: unexpected '}'; keeping the running configuration") == 1);

  // The file vanishes (an editor's rename): said once, still serving.
  ::unlink(path.c_str());
  for (int i = 0; i < 3; ++i) CHECK(reloader.check(false) == server::Reloader::Outcome::rejected);
  CHECK(rig.count("[ERROR] reload: " + path + ": cannot read: No such file or directory; keeping the running configuration") == 1);
  CHECK(a_of(port, name1) == expected);

  // Back as it was: nothing to apply, and the all-clear is said.
  std::ofstream(path) << good;
  CHECK(reloader.check(false) == server::Reloader::Outcome::unchanged);
  CHECK(rig.count("[INFO] reload: " + path + " is back to the running configuration") == 1);
  CHECK(rig.count("applied") == 0);

  // A valid change is applied: the peer is hidden at once, the serial goes on growing.
  std::ofstream(path) << head << "  hide " << key1 << "\n }\n}\n";
  CHECK(reloader.check(false) == server::Reloader::Outcome::applied);
  CHECK(rig.count("[INFO] reload: " + path + " applied") == 1);
  CHECK(a_of(port, name1) == "(3)");  // NXDOMAIN
  CHECK(serial_of(port, "example.com.") > serial);
  CHECK(rig.count("[ERROR]") == 4);  // nothing else went wrong

  // The daemon dies. A reload that leaves the zone's settings alone keeps its last good data; one
  // that changes them cannot show old data under new rules, and would leave the zone SERVFAIL: it
  // is refused, and applies on SIGHUP once the device answers.
  rig.daemon.set_reply("", UapiServer::Mode::close);
  REQUIRE(eventually([&] { return rig.count("[ERROR] wgsd: zone example.com.") == 1; }, 10000ms));
  const auto hidden_serial = serial_of(port, "example.com.");
  std::ofstream(path) << head << "  hide " << key1 << "\n }\n errors\n}\n";
  CHECK(reloader.check(false) == server::Reloader::Outcome::applied);
  CHECK(a_of(port, name1) == "(3)");
  CHECK(serial_of(port, "example.com.") == hidden_serial);
  std::ofstream(path) << good;
  CHECK(reloader.check(false) == server::Reloader::Outcome::rejected);
  CHECK(a_of(port, name1) == "(3)");  // still the running configuration, never SERVFAIL
  CHECK(rig.count("the zone is being served and its new device cannot be read now: the running configuration stays") == 1);
  rig.daemon.set_reply(good_dump);
  CHECK(reloader.check(true) == server::Reloader::Outcome::applied);
  CHECK(a_of(port, name1) == expected);
  CHECK(serial_of(port, "example.com.") > hidden_serial);
  server.stop();
}

TEST_CASE("a reload keeps answering: unchanged zones carry on, ports come and go, addresses change", "[server][reload]") {
  Rig rig("wgrel1");
  const auto port = rig.port;
  const auto port2 = free_port();
  const std::string p1 = std::to_string(port);
  const std::string zone_a = " wgsd example.com. wgrel1 {\n  refresh 50ms\n  ns ns.example.\n }\n";
  auto config_of = [&](const std::string& text) { return server::parse_config(text, "C"); };
  server::Server server(config_of(".:" + p1 + " {\n bind 127.0.0.1\n" + zone_a + "}\n"), rig.factory(), rig.log);
  server.start();
  const std::string expected = rr(name1 + " 0 IN A 198.51.100.7");
  REQUIRE(a_of(port, name1) == expected);

  // Someone asks all the time; on a kept port no question may go unanswered or get another answer.
  std::atomic<bool> done{false};
  std::atomic<int> asked{0};
  std::atomic<int> wrong{0};
  std::thread asker([&] {
    while (!done) {
      if (a_of(port, name1, "127.0.0.1", 500) != expected) ++wrong;
      ++asked;
    }
  });

  // A second zone on the same device and port, and `log`: the port keeps its sockets.
  const std::string zone_b = " wgsd other.example. wgrel1 {\n  ns ns.example.\n }\n";
  server.reload(config_of(".:" + p1 + " {\n bind 127.0.0.1\n log\n" + zone_a + zone_b + "}\n"));
  const std::string other = name1.substr(0, name1.find("._wireguard")) + "._wireguard._udp.other.example.";
  CHECK(a_of(port, other) == rr(other + " 0 IN A 198.51.100.7"));
  CHECK(a_of(port, "x." + other) == "(3)");
  CHECK(eventually([&] { return rig.count("\"A IN ") > 0; }, 1000ms));  // `log` took effect

  // A new port is bound; the old one keeps answering.
  const std::string two_ports = ".:" + p1 + " {\n bind 127.0.0.1\n" + zone_a + "}\n.:" + std::to_string(port2) + " {\n bind 127.0.0.1\n" + zone_a + "}\n";
  server.reload(config_of(two_ports));
  CHECK(a_of(port2, name1) == expected);

  // A port that cannot be bound: nothing changes, the error names the address.
  const int taken = ::socket(AF_INET, SOCK_STREAM, 0);
  sockaddr_in sin{};
  sin.sin_family = AF_INET;
  sin.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  socklen_t len = sizeof sin;
  REQUIRE(::bind(taken, reinterpret_cast<sockaddr*>(&sin), sizeof sin) == 0);
  REQUIRE(::listen(taken, 1) == 0);
  ::getsockname(taken, reinterpret_cast<sockaddr*>(&sin), &len);
  const std::string port3 = std::to_string(ntohs(sin.sin_port));
  try {
    server.reload(config_of(two_ports + ".:" + port3 + " {\n bind 127.0.0.1\n" + zone_a + "}\n"));
    FAIL("a taken port was accepted");
  } catch (const std::runtime_error& e) {
    CHECK(std::string(e.what()) == "listen tcp 127.0.0.1:" + port3 + ": Address already in use");
  }
  ::close(taken);
  CHECK(a_of(port2, name1) == expected);

  done = true;
  asker.join();
  CHECK(asked > 3);  // a few, even under a sanitizer on a loaded machine
  CHECK(wrong == 0);

  // The second port goes away; the first listens on one more address (bound again).
  server.reload(config_of(".:" + p1 + " {\n bind 127.0.0.2 127.0.0.1\n" + zone_a + "}\n"));
  CHECK(a_of(port, name1, "127.0.0.2") == expected);
  CHECK(a_of(port, name1) == expected);
  CHECK(a_of(port2, name1, "127.0.0.1", 300) == "(no answer)");

  server.stop();
}

TEST_CASE("a reload against a slow device daemon never answers SERVFAIL", "[server][reload]") {
  Rig rig("wgrel2");
  const auto port = rig.port;
  // The daemon takes a second to answer: the backend waits for it.
  const server::BackendFactory patient = [&](const server::ZoneConfig&) { return wg::make_uapi_backend({rig.dir.path(), 3000ms}); };
  const std::string head = ".:" + std::to_string(port) + " {\n bind 127.0.0.1\n wgsd example.com. wgrel2 {\n  refresh 50ms\n  ns ns.example.\n";
  server::Server server(server::parse_config(head + " }\n}\n", "C"), patient, rig.log);
  server.start();
  const std::string expected = rr(name1 + " 0 IN A 198.51.100.7");
  REQUIRE(a_of(port, name1) == expected);
  rig.daemon.set_delay(1000ms);

  std::atomic<bool> done{false};
  std::atomic<int> asked{0};
  std::atomic<int> servfail{0};
  std::atomic<int> other{0};
  std::thread asker([&] {
    for (int i = 0; i < 100000 && !done; ++i) {
      const std::string got = a_of(port, name1, "127.0.0.1", 10000);
      if (got == "(2)") ++servfail;
      else if (got != expected) ++other;
      ++asked;
    }
  });
  // A changed zone (one more hidden key, not this peer's): read while the old zone answers.
  const auto start = std::chrono::steady_clock::now();
  server.reload(server::parse_config(head + "  hide " + key2 + "\n }\n}\n", "C"));
  const auto took = std::chrono::steady_clock::now() - start;
  std::this_thread::sleep_for(100ms);
  done = true;
  asker.join();
  std::cout << "figure: " << asked << " queries during a " << std::chrono::duration_cast<std::chrono::milliseconds>(took).count()
            << " ms reload against a 1 s daemon: " << servfail << " SERVFAIL, " << other << " other wrong answers\n";
  CHECK(took >= 1000ms);  // the device was read during the reload, not after it
  CHECK(asked > 3);  // a few, even under a sanitizer on a loaded machine
  CHECK(servfail == 0);
  CHECK(other == 0);
  CHECK(a_of(port, name1) == expected);
  server.stop();
}

TEST_CASE("a reload that fails midway leaves the running configuration answering and refreshing", "[server][reload]") {
  Rig rig("wgrel3");
  const auto port = rig.port;
  const std::string p1 = std::to_string(port);
  // The backend of one zone cannot be made (e.g. a device that is not there at all).
  const server::BackendFactory factory = [&](const server::ZoneConfig& z) -> std::unique_ptr<wg::Backend> {
    if (z.settings.zone == "broken.example.") throw std::runtime_error("no backend for broken.example.");
    return wg::make_uapi_backend({rig.dir.path(), 400ms});
  };
  const std::string zone_a = " wgsd example.com. wgrel3 {\n  refresh 50ms\n  ns ns.example.\n }\n";
  const std::string hidden = " wgsd example.com. wgrel3 {\n  refresh 50ms\n  ns ns.example.\n  hide " + std::string(key1) + "\n }\n";
  server::Server server(server::parse_config(".:" + p1 + " {\n bind 127.0.0.1\n" + zone_a + "}\n", "C"), factory, rig.log);
  server.start();
  const std::string expected = rr(name1 + " 0 IN A 198.51.100.7");
  REQUIRE(a_of(port, name1) == expected);

  const auto port2 = free_port();
  SECTION("a backend that cannot be made") {
    const std::string text = ".:" + p1 + " {\n bind 127.0.0.1\n" + hidden + " wgsd broken.example. wgrel3 {\n  ns ns.example.\n }\n}\n.:" + std::to_string(port2) +
                             " {\n bind 127.0.0.1\n" + zone_a + "}\n";
    CHECK_THROWS_WITH(server.reload(server::parse_config(text, "C")), "no backend for broken.example.");
  }
  SECTION("an address that cannot be bound, on a port already served") {
    const std::string text = ".:" + p1 + " {\n bind 192.0.2.1\n" + hidden + "}\n.:" + std::to_string(port2) + " {\n bind 127.0.0.1\n" + zone_a + "}\n";
    CHECK_THROWS_WITH(server.reload(server::parse_config(text, "C")), "listen udp 192.0.2.1:" + p1 + ": Cannot assign requested address");
  }
  // Nothing of the new configuration: the peer is not hidden, the new port does not answer.
  CHECK(a_of(port, name1) == expected);
  CHECK(a_of(port2, name1, "127.0.0.1", 300) == "(no answer)");
  // The running refresher goes on: a change of the device is published.
  rig.daemon.set_reply(good_dump.substr(0, good_dump.find("198.51.100.7")) + "192.0.2.9:1" + good_dump.substr(good_dump.find(":40001") + 6));
  CHECK(eventually([&] { return a_of(port, name1) == rr(name1 + " 0 IN A 192.0.2.9"); }, 10000ms));
  // And a good reload afterwards applies.
  server.reload(server::parse_config(".:" + p1 + " {\n bind 127.0.0.1\n" + hidden + "}\n", "C"));
  CHECK(a_of(port, name1) == "(3)");
  server.stop();
}

TEST_CASE("a reload that cannot create its threads changes nothing and leaves the running configuration whole", "[server][reload]") {
  Rig rig("wgrel4");
  const auto port = rig.port;
  const std::string p1 = std::to_string(port);
  const std::string zone_a = " wgsd example.com. wgrel4 {\n  refresh 50ms\n  ns ns.example.\n }\n";
  const std::string hidden = " wgsd example.com. wgrel4 {\n  refresh 50ms\n  ns ns.example.\n  hide " + std::string(key1) + "\n }\n";
  server::ServerLimits limits;
  limits.udp_workers = 2;
  server::Server server(server::parse_config(".:" + p1 + " {\n bind 127.0.0.1\n" + zone_a + "}\n", "C"), rig.factory(), rig.log, limits);
  server.start();
  const std::string expected = rr(name1 + " 0 IN A 198.51.100.7");
  REQUIRE(a_of(port, name1) == expected);

  // A changed zone and a new port: a new refresher, two UDP workers and a TCP thread to create.
  const auto port2 = free_port();
  const std::string text = ".:" + p1 + " {\n bind 127.0.0.1\n" + hidden + "}\n.:" + std::to_string(port2) + " {\n bind 127.0.0.1\n" + zone_a + "}\n";
  for (int allowed = 0; allowed < 4; ++allowed) {
    INFO("threads that could be created: " << allowed);
    server::testing::spawns_left = allowed;
    CHECK_THROWS_AS(server.reload(server::parse_config(text, "C")), std::system_error);
    server::testing::spawns_left = -1;
    CHECK(a_of(port, name1) == expected);
    CHECK(a_of(port2, name1, "127.0.0.1", 300) == "(no answer)");
  }
  // The running refresher goes on: a change of the device is published.
  rig.daemon.set_reply(good_dump.substr(0, good_dump.find("198.51.100.7")) + "192.0.2.9:1" + good_dump.substr(good_dump.find(":40001") + 6));
  CHECK(eventually([&] { return a_of(port, name1) == rr(name1 + " 0 IN A 192.0.2.9"); }, 5000ms));
  // And the same reload applies once threads can be created.
  server.reload(server::parse_config(text, "C"));
  CHECK(a_of(port, name1) == "(3)");
  CHECK(a_of(port2, name1) == rr(name1 + " 0 IN A 192.0.2.9"));
  server.stop();
}

TEST_CASE("a reload is refused when a served zone's new settings cannot be read now, a new zone may start unloaded", "[server][reload]") {
  Rig rig("wgrel5");
  const auto port = rig.port;
  const std::string p1 = std::to_string(port);
  const std::string zone_a = " wgsd example.com. wgrel5 {\n  refresh 1h\n  ns ns.example.\n }\n";
  const std::string hidden = " wgsd example.com. wgrel5 {\n  refresh 1h\n  ns ns.example.\n  hide " + std::string(key2) + "\n }\n";
  server::Server server(server::parse_config(".:" + p1 + " {\n bind 127.0.0.1\n" + zone_a + "}\n", "C"), rig.factory(), rig.log);
  server.start();
  const std::string expected = rr(name1 + " 0 IN A 198.51.100.7");
  REQUIRE(a_of(port, name1) == expected);
  rig.daemon.set_reply("", UapiServer::Mode::close);  // the daemon hangs up without a reply: every read fails
  SECTION("a changed zone") {
    CHECK_THROWS_WITH(server.reload(server::parse_config(".:" + p1 + " {\n bind 127.0.0.1\n" + hidden + "}\n", "C")),
                      Catch::Contains("wgsd: zone example.com.: ") && Catch::Contains("the running configuration stays"));
    CHECK(a_of(port, name1) == expected);
  }
  SECTION("a new zone beside it") {
    server.reload(server::parse_config(".:" + p1 + " {\n bind 127.0.0.1\n" + zone_a + " wgsd other.example. wgrel5 {\n  ns ns.example.\n }\n}\n", "C"));
    CHECK(a_of(port, name1) == expected);
    CHECK(a_of(port, "other.example.") == "(2)");
  }
  server.stop();
}
