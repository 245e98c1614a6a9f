// The listener's threads: what they hold while idle, how many there are, what they count.
#include <catch2/catch.hpp>
#include <arpa/inet.h>
#include <netinet/in.h>
#include <fcntl.h>
#include <poll.h>
#include <sched.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <unistd.h>

#include <atomic>
#include <chrono>
#include <filesystem>
#include <fstream>
#include <mutex>
#include <thread>

#include "dns/fixtures.hpp"
#include "server/cpus.hpp"
#include "server/listener.hpp"
#include "support/dns_case.hpp"
#include "support/lab.hpp"

using namespace wgsd;
using namespace wgsd::test;
using namespace std::chrono_literals;

namespace {

// One query over UDP from a new socket (a new source port); true when a reply came.
bool udp_answered(std::uint16_t port, const std::vector<std::uint8_t>& query) {
  const int fd = ::socket(AF_INET, SOCK_DGRAM, 0);
  const sockaddr_in to = loopback_address(port);
  ::sendto(fd, query.data(), query.size(), 0, reinterpret_cast<const sockaddr*>(&to), sizeof to);
  pollfd p{fd, POLLIN, 0};
  const bool answered = ::poll(&p, 1, 3000) == 1;
  ::close(fd);
  return answered;
}

// One query over TCP; the connection stays open (a client that keeps it) until `fd` is closed.
bool tcp_answered(std::uint16_t port, const std::vector<std::uint8_t>& query, int& fd) {
  fd = ::socket(AF_INET, SOCK_STREAM, 0);
  const sockaddr_in to = loopback_address(port);
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
  CHECK(eventually([&] { return watch.expired(); }, 10000ms));
  ::close(tcp);
}

TEST_CASE("the default worker count follows the CPU affinity and the cgroup CPU quota", "[server][udp]") {
  SECTION("a quota caps the CPUs of the affinity mask, rounded up") {
    CHECK(server::worker_count(8, std::nullopt) == 8);
    CHECK(server::worker_count(8, 1.5) == 2);
    CHECK(server::worker_count(8, 2.0) == 2);
    CHECK(server::worker_count(8, 0.25) == 1);
    CHECK(server::worker_count(2, 16.0) == 2);
    CHECK(server::worker_count(0, std::nullopt) == 1);
  }
  SECTION("cpu.max") {
    CHECK(server::parse_cpu_max("150000 100000\n") == 1.5);
    CHECK(server::parse_cpu_max("max 100000\n") == std::nullopt);
    CHECK(server::parse_cpu_max("") == std::nullopt);
    CHECK(server::parse_cpu_max("-5 100000") == std::nullopt);
    CHECK(server::parse_cpu_max("100000 0") == std::nullopt);
  }
  SECTION("the tightest quota on the way up from the process's own cgroup") {
    TempDir root;
    std::filesystem::create_directories(root.path() + "/a/b/c");
    std::ofstream(root.path() + "/cpu.max") << "max 100000\n";
    std::ofstream(root.path() + "/a/cpu.max") << "300000 100000\n";
    std::ofstream(root.path() + "/a/b/cpu.max") << "150000 100000\n";
    std::ofstream(root.path() + "/a/b/c/cpu.max") << "max 100000\n";
    CHECK(server::cgroup_cpu_quota(root.path(), "0::/a/b/c\n") == 1.5);
    CHECK(server::cgroup_cpu_quota(root.path(), "12:cpu:/x\n0::/a\n") == 3.0);
    CHECK(server::cgroup_cpu_quota(root.path(), "0::/\n") == std::nullopt);
    CHECK(server::cgroup_cpu_quota(root.path(), "12:cpu:/a/b\n") == std::nullopt);  // cgroup v1 only
  }
  SECTION("a listener started on one CPU (taskset -c N) starts one worker") {
    cpu_set_t all;
    CPU_ZERO(&all);
    REQUIRE(::sched_getaffinity(0, sizeof all, &all) == 0);
    int first = 0;
    while (!CPU_ISSET(first, &all)) ++first;
    unsigned workers = 0;
    std::thread pinned([&] {
      cpu_set_t one;
      CPU_ZERO(&one);
      CPU_SET(first, &one);
      if (::sched_setaffinity(0, sizeof one, &one) != 0) return;
      server::SnapshotHolder holder;
      server::Log log([](const std::string&) {});
      server::Listener listener(loopback_options(0), holder, log);
      workers = listener.udp_workers();
    });
    pinned.join();
    CHECK(workers == 1);
  }
}

TEST_CASE("the listener says which call failed when it runs out of file descriptors", "[server]") {
  server::SnapshotHolder holder;
  server::Log log([](const std::string&) {});
  const auto options = loopback_options(1);
  rlimit saved{};
  REQUIRE(::getrlimit(RLIMIT_NOFILE, &saved) == 0);
  const int lowest = ::dup(0);  // the next descriptor; none may be opened from here
  REQUIRE(lowest >= 0);
  ::close(lowest);
  const rlimit low{static_cast<rlim_t>(lowest), saved.rlim_max};
  REQUIRE(::setrlimit(RLIMIT_NOFILE, &low) == 0);
  std::string what;
  try {
    server::Listener listener(options, holder, log);
  } catch (const std::exception& e) {
    // The limit goes back up before anything looks at the exception: UBSan's vptr check probes
    // memory through a pipe, and without a free descriptor it calls every object invalid.
    ::setrlimit(RLIMIT_NOFILE, &saved);
    what = e.what();
  }
  ::setrlimit(RLIMIT_NOFILE, &saved);
  INFO(what);
  CHECK(what.find("eventfd: Too many open files") != std::string::npos);
}

TEST_CASE("a UDP reply the kernel refuses to send is counted and logged", "[server][udp][live]") {
  require_live({"ip", "iptables"});
  Netns ns("wgsdsf");
  const std::uint16_t port = 5300;
  // Every reply from the server's port is refused at the output hook: sendmmsg fails with EPERM.
  REQUIRE(ns.exec("iptables -A OUTPUT -p udp --sport " + std::to_string(port) + " -j DROP") == 0);
  std::mutex mutex;
  std::vector<std::string> lines;
  std::uint64_t failures = 0;
  bool answered = true;
  std::thread inside([&] {
    const int nsfd = ::open(("/var/run/netns/" + ns.name()).c_str(), O_RDONLY | O_CLOEXEC);
    if (nsfd < 0 || ::setns(nsfd, CLONE_NEWNET) != 0) return;
    ::close(nsfd);
    server::SnapshotHolder holder;
    server::Log log([&](const std::string& line) {
      std::lock_guard lock(mutex);
      lines.push_back(line);
    });
    auto options = loopback_options(1);
    options.port = port;
    options.errors = true;
    server::Listener listener(options, holder, log);
    listener.start();
    answered = udp_answered(port, make_query(name1, LDNS_RR_TYPE_SRV));
    eventually([&] { return listener.send_failures() >= 1; }, 10000ms);
    failures = listener.send_failures();
    listener.stop();
  });
  inside.join();
  CHECK_FALSE(answered);
  CHECK(failures == 1);
  std::lock_guard lock(mutex);
  CHECK(std::any_of(lines.begin(), lines.end(), [](const std::string& l) {
    return l.find("[ERROR] could not send a ") != std::string::npos && l.find("-byte UDP reply to 127.0.0.1:") != std::string::npos &&
           l.find("Operation not permitted") != std::string::npos;
  }));
}

TEST_CASE("a UDP worker whose poll fails says so and goes on serving", "[server][udp]") {
  server::SnapshotHolder holder;
  std::mutex mutex;
  std::vector<std::string> lines;
  server::Log log([&](const std::string& line) {
    std::lock_guard lock(mutex);
    lines.push_back(line);
  });
  const auto options = loopback_options(1);
  server::Listener listener(options, holder, log);
  server::testing::failed_polls = 3;
  listener.start();
  CHECK(eventually([&] { return server::testing::failed_polls == 0; }, 10000ms));
  server::testing::failed_polls = 0;
  // The only worker still answers.
  CHECK(udp_answered(options.port, make_query(name1, LDNS_RR_TYPE_SRV)));
  listener.stop();
  std::lock_guard lock(mutex);
  CHECK(std::count_if(lines.begin(), lines.end(), [](const std::string& l) {
          return l.find("[ERROR] UDP worker: poll: Cannot allocate memory (retrying)") != std::string::npos;
        }) == 3);
}

TEST_CASE("TCP out of file descriptors: the pending connection is closed, the thread does not spin", "[server][tcp]") {
  server::SnapshotHolder holder;
  server::Log log([](const std::string&) {});
  const auto options = loopback_options(1);
  server::Listener listener(options, holder, log);
  listener.start();
  // Every accept fails with EMFILE from now on.
  server::testing::failed_accepts = 1000;
  const int fd = ::socket(AF_INET, SOCK_STREAM, 0);
  const sockaddr_in to = loopback_address(options.port);
  REQUIRE(::connect(fd, reinterpret_cast<const sockaddr*>(&to), sizeof to) == 0);
  // The server takes it with its spare descriptor and closes it: the client sees the end.
  pollfd p{fd, POLLIN, 0};
  const bool closed = ::poll(&p, 1, 5000) == 1 && ::recv(fd, nullptr, 0, MSG_DONTWAIT) == 0;
  CHECK(closed);
  // Not retried in a loop: one failed accept for the one connection.
  std::this_thread::sleep_for(100ms);
  CHECK(server::testing::failed_accepts >= 998);
  server::testing::failed_accepts = 0;
  ::close(fd);
  // Descriptors back: served as before.
  int tcp = -1;
  CHECK(tcp_answered(options.port, make_query(name1, LDNS_RR_TYPE_SRV), tcp));
  ::close(tcp);
  listener.stop();
}
