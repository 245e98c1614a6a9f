// NOTIFY to a secondary that the test plays: one per burst, retried with backoff until answered,
// signed with the zone's key; and the serial a transferred zone keeps across a restart.
#include <catch2/catch.hpp>
#include <netinet/in.h>
#include <poll.h>
#include <sys/socket.h>
#include <unistd.h>

#include <fstream>

#include "dns/wire.hpp"
#include "dns/tsig_case.hpp"
#include "dns/xfr_case.hpp"
#include "server/notify_sender.hpp"
#include "support/lab.hpp"
#include "support/secondaries.hpp"
#include "support/serving.hpp"

using namespace wgsd;
using namespace wgsd::test;
using namespace std::chrono_literals;

namespace {

// A UDP socket on 127.0.0.1, playing a secondary.
struct FakeSecondary {
  int fd{::socket(AF_INET, SOCK_DGRAM, 0)};
  unsigned short port{};
  FakeSecondary() {
    sockaddr_in a = loopback_address(0);
    REQUIRE(::bind(fd, reinterpret_cast<sockaddr*>(&a), sizeof a) == 0);
    socklen_t len = sizeof a;
    ::getsockname(fd, reinterpret_cast<sockaddr*>(&a), &len);
    port = ntohs(a.sin_port);
  }
  ~FakeSecondary() { ::close(fd); }
  // The next NOTIFY within `wait`, and who sent it; empty when none came.
  std::vector<std::uint8_t> next(std::chrono::milliseconds wait, sockaddr_in* from = nullptr) {
    pollfd p{fd, POLLIN, 0};
    if (::poll(&p, 1, static_cast<int>(wait.count())) <= 0) return {};
    std::vector<std::uint8_t> m(4096);
    sockaddr_in f{};
    socklen_t len = sizeof f;
    const ssize_t n = ::recvfrom(fd, m.data(), m.size(), 0, reinterpret_cast<sockaddr*>(&f), &len);
    m.resize(n > 0 ? static_cast<std::size_t>(n) : 0);
    if (from != nullptr) *from = f;
    return m;
  }
  // An acknowledgement: the header with QR set, and no records.
  void answer(std::vector<std::uint8_t> m, const sockaddr_in& to) {
    m[2] |= 0x80;
    for (std::size_t i = 4; i < dns::header_size; ++i) m[i] = 0;
    ::sendto(fd, m.data(), dns::header_size, 0, reinterpret_cast<const sockaddr*>(&to), sizeof to);
  }
};

}  // namespace

TEST_CASE("NOTIFY: one per burst, retried with backoff until acknowledged, signed with the zone's key", "[server][xfr][notify]") {
  FakeSecondary secondary;
  server::Log log{[](const std::string&) {}};
  server::NotifySender sender(log, {50ms, 200ms, 60000ms});
  std::string error;
  auto key = dns::tsig::make_key("key.example.", "hmac-sha256", xfr_secret, error);
  REQUIRE(key);
  const std::string apex = *dns::name_to_wire("example.com.");
  sender.configure({{"example.com.", apex, {{*wg::IpAddress::parse("127.0.0.1"), secondary.port}}, *key}});
  sender.start();
  for (std::uint32_t s = 100; s < 110; ++s) sender.changed(apex, s);  // a burst
  sockaddr_in from{};
  const auto first = secondary.next(2000ms, &from);
  REQUIRE(first.size() > dns::header_size);
  CHECK(((first[2] >> 3) & 0x0f) == 4);  // opcode NOTIFY
  CHECK((first[2] & 0x04) != 0);         // AA
  const auto rec = record_of(first);
  CHECK(dns::tsig::verify_request(first, rec, &*key, static_cast<std::uint64_t>(std::time(nullptr))) == dns::tsig::Check::ok);
  // Not answered: it comes again after the first retry interval, then after twice that.
  const auto t1 = std::chrono::steady_clock::now();
  const auto second = secondary.next(2000ms);
  REQUIRE_FALSE(second.empty());
  const auto t2 = std::chrono::steady_clock::now();
  CHECK(t2 - t1 >= 150ms);
  const auto third = secondary.next(2000ms, &from);
  REQUIRE_FALSE(third.empty());
  CHECK(std::chrono::steady_clock::now() - t2 >= 350ms);
  CHECK(sender.sent() == 3);  // the burst made one NOTIFY, and it was retried twice
  // Acknowledged: no more.
  secondary.answer(third, from);
  CHECK(eventually([&] { return sender.acknowledged() == 1; }, 2000ms));
  CHECK(secondary.next(800ms).empty());
  CHECK(sender.sent() == 3);
  sender.stop();
}

TEST_CASE("a transferred zone keeps its serial in --state-dir: a restart never serves a lower one", "[server][xfr][serial]") {
  TempDir dir;
  const auto port = free_port();
  // A serial far ahead of the clock, as many changes per second would make.
  const std::uint32_t ahead = static_cast<std::uint32_t>(std::time(nullptr)) + 100000;
  std::ofstream(dir.path() + "/example.com.serial") << ahead << "\n";
  const std::string corefile = "example.com.:" + std::to_string(port) + " {\n bind 127.0.0.1\n wgsd example.com. wgref0 {\n  ns ns1.example.com. 192.0.2.53\n }\n" +
                               " transfer {\n  to 127.0.0.1\n }\n}\n";
  FakeBackend backend;
  backend.put(reference_device());
  server::Log log{[](const std::string&) {}};
  server::ServerLimits limits;
  limits.state_dir = dir.path();
  {
    server::Server s(server::parse_config(corefile, "Corefile"), sharing(backend), log, limits);
    s.start();
    CHECK(soa_serial(port) > ahead);
    s.stop();
  }
  std::ifstream in(dir.path() + "/example.com.serial");
  std::uint64_t kept = 0;
  in >> kept;
  CHECK(kept > ahead);
  // Without the state file the serial would follow the clock: below it.
  CHECK(static_cast<std::uint32_t>(std::time(nullptr)) < ahead);
}
