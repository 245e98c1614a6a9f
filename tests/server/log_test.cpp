// The server's log: names escaped in query lines, error lines a remote party causes rate-limited,
// and a query thread that never waits for a slow or stuck output.
#include <catch2/catch.hpp>
#include <fcntl.h>
#include <netinet/in.h>
#include <poll.h>
#include <sys/socket.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <chrono>
#include <future>
#include <mutex>
#include <thread>

#include "dns/fixtures.hpp"
#include "server/listener.hpp"
#include "server/query_log.hpp"
#include "support/dns_case.hpp"
#include "support/lab.hpp"

using namespace wgsd;
using namespace wgsd::test;
using namespace std::chrono_literals;

namespace {

struct Lines {
  std::mutex mutex;
  std::vector<std::string> all;
  std::function<void(const std::string&)> sink() {
    return [this](const std::string& l) {
      std::lock_guard lock(mutex);
      all.push_back(l);
    };
  }
  long count(const std::string& needle) {
    std::lock_guard lock(mutex);
    return std::count_if(all.begin(), all.end(), [&](const std::string& l) { return l.find(needle) != std::string::npos; });
  }
};

server::ListenerOptions loopback_options() {
  server::ListenerOptions o;
  o.port = free_port();
  o.addresses = {*wg::IpAddress::parse("127.0.0.1")};
  o.udp_workers = 1;
  return o;
}

}  // namespace

TEST_CASE("a query log line escapes the name: quote, backslash, dot, space and control bytes", "[server][log]") {
  // Header, then the question a"b<space>\.<BEL>.example.com. SRV IN.
  std::vector<std::uint8_t> query{0x12, 0x34, 0x01, 0x00, 0x00, 0x01, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00};
  const std::vector<std::uint8_t> name{7, 'a', '"', 'b', ' ', '\\', '.', 0x07, 7, 'e', 'x', 'a', 'm', 'p', 'l', 'e', 3, 'c', 'o', 'm', 0};
  query.insert(query.end(), name.begin(), name.end());
  query.insert(query.end(), {0x00, 0x21, 0x00, 0x01});
  dns::ResponseInfo info;
  info.has_question = true;
  info.qname_offset = 12;
  info.qname_length = name.size();
  info.qtype = 33;
  info.qclass = 1;
  info.id = 0x1234;
  info.udp_size = 512;
  info.rcode = 3;
  info.authoritative = true;
  info.rd = true;
  info.size = 120;
  const auto line = server::format_query(*wg::Endpoint::parse("192.0.2.1:5300"), query, info, dns::Transport::udp, 71us);
  CHECK(line == R"(192.0.2.1:5300 - 4660 "SRV IN a\"b\032\\\.\007.example.com. udp 37 false 512" NXDOMAIN qr,aa,rd 120 0.000071000s)");
  CHECK(server::log_name(std::vector<std::uint8_t>{0}) == ".");
}

TEST_CASE("error lines a remote party causes are rate-limited, and what was suppressed is counted", "[server][log]") {
  SECTION("within one interval: the burst, then a summary") {
    Lines lines;
    {
      server::Log log(lines.sink(), {.error_burst = 3, .error_interval = 1h});
      for (int i = 0; i < 10; ++i) {
        if (log.admit_limited()) log.error("dropped packet " + std::to_string(i));
      }
      log.error("a failed device read is never limited");
    }
    CHECK(lines.all == std::vector<std::string>{"[ERROR] dropped packet 0", "[ERROR] dropped packet 1", "[ERROR] dropped packet 2",
                                                "[ERROR] a failed device read is never limited",
                                                "[ERROR] 7 error lines suppressed: at most 3 are logged every 3600000ms"});
  }
  SECTION("from the listener: a flood of malformed packets under `errors`") {
    // The rate limit's clock stands still until the test moves it: however slowly the flood is
    // read (a loaded machine, a sanitizer), it all falls into one interval.
    static std::atomic<std::int64_t> now_ms{0};
    Lines lines;
    server::Log log(lines.sink(), {.clock = [] { return std::chrono::steady_clock::time_point(std::chrono::milliseconds(now_ms.load())); }});
    server::SnapshotHolder holder;
    auto options = loopback_options();
    options.errors = true;
    server::Listener listener(options, holder, log);
    listener.start();
    const int fd = ::socket(AF_INET, SOCK_DGRAM, 0);
    const sockaddr_in to = loopback_address(options.port);
    const std::uint8_t junk[3] = {1, 2, 3};
    for (int i = 0; i < 50; ++i) ::sendto(fd, junk, sizeof junk, 0, reinterpret_cast<const sockaddr*>(&to), sizeof to);
    // A query behind them: once it is answered, the one worker has read every packet before it.
    const auto query = make_query(name1, LDNS_RR_TYPE_SRV);
    ::sendto(fd, query.data(), query.size(), 0, reinterpret_cast<const sockaddr*>(&to), sizeof to);
    pollfd p{fd, POLLIN, 0};
    REQUIRE(::poll(&p, 1, 30000) == 1);
    CHECK(lines.count("dropped a 3-byte UDP packet") == 20);
    now_ms += 1001;  // the interval ends; the next line brings the summary
    ::sendto(fd, junk, sizeof junk, 0, reinterpret_cast<const sockaddr*>(&to), sizeof to);
    CHECK(eventually([&] { return lines.count("dropped a 3-byte UDP packet") == 21; }, 30000ms));
    CHECK(lines.count("[ERROR] 30 error lines suppressed") == 1);
    ::close(fd);
  }
}

TEST_CASE("a stuck log output never holds up the query threads", "[server][log][udp]") {
  SECTION("the log: a full queue drops lines, counts them and says so") {
    int pipefd[2];
    REQUIRE(::pipe2(pipefd, O_CLOEXEC | O_NONBLOCK) == 0);
    ::fcntl(pipefd[1], F_SETFL, 0);  // the writer blocks on a full pipe, as on a stuck terminal
    std::uint64_t dropped = 0;
    {
      server::Log log(pipefd[1], {.queue_lines = 64});
      auto flood = std::async(std::launch::async, [&] {
        for (int i = 0; i < 20000; ++i) log.info(std::string(100, 'x'));
      });
      CHECK(flood.wait_for(5s) == std::future_status::ready);
      dropped = log.dropped();
      // Read the pipe while the log writes what it still holds, and its note of the drops.
      std::string text;
      std::thread reader([&] {
        char buf[65536];
        pollfd p{pipefd[0], POLLIN, 0};
        while (::poll(&p, 1, 1000) == 1) {
          const ssize_t n = ::read(pipefd[0], buf, sizeof buf);
          if (n <= 0) break;
          text.append(buf, static_cast<std::size_t>(n));
        }
      });
      reader.join();
      CHECK(text.find(" lines dropped: the output did not keep up") != std::string::npos);
    }
    CHECK(dropped > 0);
    ::close(pipefd[0]);
    ::close(pipefd[1]);
  }
  SECTION("the listener: queries are answered while standard error is not read") {
    int pipefd[2];
    REQUIRE(::pipe2(pipefd, O_CLOEXEC) == 0);
    const int saved = ::dup(2);
    REQUIRE(::dup2(pipefd[1], 2) == 2);
    int answered = 0;
    std::thread drain;
    const int asked = 3000;  // ~130-byte lines: far more than a pipe holds
    {
      server::Log log;  // standard error: the pipe nobody reads
      server::SnapshotHolder holder;
      auto options = loopback_options();
      options.log = true;
      server::Listener listener(options, holder, log);
      listener.start();
      const int fd = ::socket(AF_INET, SOCK_DGRAM, 0);
      const sockaddr_in to = loopback_address(options.port);
      REQUIRE(::connect(fd, reinterpret_cast<const sockaddr*>(&to), sizeof to) == 0);
      const auto query = make_query(name1, LDNS_RR_TYPE_SRV);
      std::uint8_t reply[2048];
      for (int i = 0; i < asked; ++i) {
        ::send(fd, query.data(), query.size(), 0);
        pollfd p{fd, POLLIN, 0};
        if (::poll(&p, 1, 1000) != 1) break;
        if (::recv(fd, reply, sizeof reply, 0) > 0) ++answered;
      }
      ::close(fd);
      // Let the log finish: the pipe is read from here until standard error is restored and the
      // last write end closed.
      drain = std::thread([&] {
        char buf[65536];
        while (::read(pipefd[0], buf, sizeof buf) > 0) {
        }
      });
      listener.stop();
    }
    ::dup2(saved, 2);
    ::close(saved);
    ::close(pipefd[1]);
    drain.join();
    ::close(pipefd[0]);
    CHECK(answered == asked);
  }
}

TEST_CASE("a log whose output is stuck ends within a bounded time", "[server][log]") {
  int pipefd[2];
  REQUIRE(::pipe2(pipefd, O_CLOEXEC) == 0);
  // Nobody reads the pipe: its buffer fills and a blocking write would wait forever.
  auto log = std::make_unique<server::Log>(pipefd[1]);
  for (int i = 0; i < 2000; ++i) log->info(std::string(100, 'x'));
  auto ended = std::async(std::launch::async, [&] { log.reset(); });
  const bool in_time = ended.wait_for(30s) == std::future_status::ready;
  CHECK(in_time);
  if (!in_time) {
    // Unblock the writer so that the test can end.
    char buf[65536];
    while (ended.wait_for(10ms) != std::future_status::ready) (void)::read(pipefd[0], buf, sizeof buf);
  }
  ::close(pipefd[0]);
  ::close(pipefd[1]);
}
