// NOTIFY to a secondary that the test plays: one per burst, retried with backoff until answered,
// signed with the zone's key; and the serial a transferred zone keeps across a restart.
#include <catch2/catch.hpp>
#include <netinet/in.h>
#include <poll.h>
#include <sys/socket.h>
#include <unistd.h>

#include <cstring>
#include <fstream>
#include <optional>

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

// A UDP socket on 127.0.0.1, playing a secondary. Arrival times are the kernel's (SO_TIMESTAMPNS),
// so a test thread that runs late on a loaded machine does not shift them.
struct FakeSecondary {
  struct Notify {
    std::vector<std::uint8_t> message;
    sockaddr_in from{};
    std::chrono::nanoseconds arrived{};  // CLOCK_REALTIME, stamped by the kernel
  };
  int fd{::socket(AF_INET, SOCK_DGRAM, 0)};
  unsigned short port{};
  FakeSecondary() {
    sockaddr_in a = loopback_address(0);
    REQUIRE(::bind(fd, reinterpret_cast<sockaddr*>(&a), sizeof a) == 0);
    socklen_t len = sizeof a;
    ::getsockname(fd, reinterpret_cast<sockaddr*>(&a), &len);
    port = ntohs(a.sin_port);
    const int on = 1;
    REQUIRE(::setsockopt(fd, SOL_SOCKET, SO_TIMESTAMPNS, &on, sizeof on) == 0);
  }
  ~FakeSecondary() { ::close(fd); }
  // The next NOTIFY within `wait`; nullopt when none came.
  std::optional<Notify> next(std::chrono::milliseconds wait) {
    pollfd p{fd, POLLIN, 0};
    if (::poll(&p, 1, static_cast<int>(wait.count())) <= 0) return std::nullopt;
    Notify n;
    n.message.resize(4096);
    iovec iov{n.message.data(), n.message.size()};
    alignas(cmsghdr) char control[CMSG_SPACE(sizeof(timespec))];
    msghdr h{};
    h.msg_name = &n.from;
    h.msg_namelen = sizeof n.from;
    h.msg_iov = &iov;
    h.msg_iovlen = 1;
    h.msg_control = control;
    h.msg_controllen = sizeof control;
    const ssize_t got = ::recvmsg(fd, &h, 0);
    if (got <= 0) return std::nullopt;
    n.message.resize(static_cast<std::size_t>(got));
    for (cmsghdr* c = CMSG_FIRSTHDR(&h); c != nullptr; c = CMSG_NXTHDR(&h, c)) {
      if (c->cmsg_level == SOL_SOCKET && c->cmsg_type == SCM_TIMESTAMPNS) {
        timespec ts{};
        std::memcpy(&ts, CMSG_DATA(c), sizeof ts);
        n.arrived = std::chrono::seconds(ts.tv_sec) + std::chrono::nanoseconds(ts.tv_nsec);
      }
    }
    return n;
  }
  // An acknowledgement: the header with QR set, and no records.
  void answer(const Notify& n) {
    std::vector<std::uint8_t> m(n.message.begin(), n.message.begin() + dns::header_size);
    m[2] |= 0x80;
    for (std::size_t i = 4; i < dns::header_size; ++i) m[i] = 0;
    ::sendto(fd, m.data(), m.size(), 0, reinterpret_cast<const sockaddr*>(&n.from), sizeof n.from);
  }
};

}  // namespace

TEST_CASE("NOTIFY: one per burst, retried with backoff until acknowledged, signed with the zone's key", "[server][xfr][notify]") {
  // Every wait below polls for the expected state with a limit far above what it needs, and every
  // interval is checked from the kernel's arrival stamps as a lower bound only: a loaded machine
  // can make the sender late, never early.
  constexpr auto first_retry = 300ms;
  FakeSecondary secondary;
  server::Log log{[](const std::string&) {}};
  server::NotifySender sender(log, {50ms, first_retry, 60000ms});
  std::string error;
  auto key = dns::tsig::make_key("key.example.", "hmac-sha256", xfr_secret, error);
  REQUIRE(key);
  const std::string apex = *dns::name_to_wire("example.com.");
  sender.configure({{"example.com.", apex, {{*wg::IpAddress::parse("127.0.0.1"), secondary.port}}, *key}});
  sender.start();
  for (std::uint32_t s = 100; s < 110; ++s) sender.changed(apex, s);  // a burst
  // Not answered: the first NOTIFY, then tries after the first retry interval and after twice that.
  std::vector<FakeSecondary::Notify> got;
  for (int i = 0; i < 3; ++i) {
    auto n = secondary.next(10000ms);
    REQUIRE(n);
    got.push_back(std::move(*n));
  }
  for (const auto& n : got) {
    REQUIRE(n.message.size() > dns::header_size);
    CHECK(((n.message[2] >> 3) & 0x0f) == 4);  // opcode NOTIFY
    CHECK((n.message[2] & 0x04) != 0);         // AA
    const auto rec = record_of(n.message);
    CHECK(dns::tsig::verify_request(n.message, rec, &*key, static_cast<std::uint64_t>(std::time(nullptr))) == dns::tsig::Check::ok);
  }
  // The ten changes made one NOTIFY: had they made more, two would have come closer together than
  // the retry interval.
  CHECK(got[1].arrived - got[0].arrived >= first_retry);
  CHECK(got[2].arrived - got[1].arrived >= 2 * first_retry);
  // Acknowledge the latest try (its id is the one the sender waits for; a try that crossed the
  // answer is simply acknowledged in the next round).
  FakeSecondary::Notify last = got.back();
  std::uint64_t received = got.size();
  bool acked = false;
  for (int round = 0; round < 10 && !acked; ++round) {
    while (auto more = secondary.next(0ms)) {
      last = std::move(*more);
      ++received;
    }
    secondary.answer(last);
    acked = eventually([&] { return sender.acknowledged() == 1; }, 3000ms);
  }
  REQUIRE(acked);
  // Acknowledged: no more tries, though the next one was due 4 intervals after the third.
  const auto sent = sender.sent();
  while (secondary.next(0ms)) ++received;
  CHECK_FALSE(secondary.next(8 * first_retry));
  CHECK(sender.sent() == sent);
  CHECK(received == sent);  // every NOTIFY sent is one the secondary saw: none beyond the retries
  CHECK(sender.acknowledged() == 1);
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
