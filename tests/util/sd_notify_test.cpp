// systemd's notify protocol as wgsd speaks it without libsystemd: where a message goes for each
// form of NOTIFY_SOCKET, and when WATCHDOG_USEC/WATCHDOG_PID ask for watchdog pings.
#include <catch2/catch.hpp>
#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>

#include <cerrno>
#include <cstddef>
#include <cstdlib>
#include <cstring>
#include <optional>
#include <string>

#include "server/log.hpp"
#include "server/notify.hpp"
#include "support/lab.hpp"
#include "support/notify_socket.hpp"
#include "util/sd_notify.hpp"

using namespace wgsd;
using namespace wgsd::test;

namespace {

// Sets (or unsets) an environment variable for the scope, then puts back what was there.
class EnvVar {
public:
  EnvVar(const char* name, std::optional<std::string> value) : name_(name) {
    if (const char* old = std::getenv(name)) old_ = old;
    if (value) ::setenv(name, value->c_str(), 1);
    else ::unsetenv(name);
  }
  EnvVar(const EnvVar&) = delete;
  EnvVar& operator=(const EnvVar&) = delete;
  ~EnvVar() {
    if (old_) ::setenv(name_, old_->c_str(), 1);
    else ::unsetenv(name_);
  }

private:
  const char* name_;
  std::optional<std::string> old_;
};

// A datagram socket bound to an abstract address (no file): what NOTIFY_SOCKET=@name names.
class AbstractSocket {
public:
  explicit AbstractSocket(const std::string& name) {
    fd_ = ::socket(AF_UNIX, SOCK_DGRAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
    sockaddr_un addr{};
    addr.sun_family = AF_UNIX;
    std::memcpy(addr.sun_path + 1, name.data(), name.size());
    const auto len = static_cast<socklen_t>(offsetof(sockaddr_un, sun_path) + 1 + name.size());
    if (fd_ < 0 || ::bind(fd_, reinterpret_cast<sockaddr*>(&addr), len) != 0) FAIL("abstract socket @" << name << ": " << std::strerror(errno));
  }
  AbstractSocket(const AbstractSocket&) = delete;
  AbstractSocket& operator=(const AbstractSocket&) = delete;
  ~AbstractSocket() { ::close(fd_); }
  /// The next datagram, or nullopt when none is waiting.
  std::optional<std::string> receive() {
    char buf[4096];
    const ssize_t n = ::recv(fd_, buf, sizeof buf, 0);
    if (n < 0) return std::nullopt;
    return std::string(buf, static_cast<std::size_t>(n));
  }

private:
  int fd_{-1};
};

}  // namespace

TEST_CASE("sd_notify sends one datagram to a NOTIFY_SOCKET path", "[util][notify]") {
  TempDir dir;
  NotifySocket socket(dir.path() + "/notify");
  EnvVar env("NOTIFY_SOCKET", dir.path() + "/notify");
  CHECK(util::sd_notify("READY=1\nSTATUS=zones 1") > 0);
  CHECK(util::sd_notify("WATCHDOG=1") > 0);
  REQUIRE(socket.messages().size() == 2);
  CHECK(socket.messages()[0] == "READY=1\nSTATUS=zones 1");
  CHECK(socket.messages()[1] == "WATCHDOG=1");
}

TEST_CASE("sd_notify sends to an abstract address when NOTIFY_SOCKET starts with '@'", "[util][notify]") {
  const std::string name = unique_name("wgsd-notify-test-");
  AbstractSocket socket(name);
  EnvVar env("NOTIFY_SOCKET", "@" + name);
  CHECK(util::sd_notify("READY=1") > 0);
  CHECK(socket.receive() == std::optional<std::string>("READY=1"));
  CHECK_FALSE(socket.receive().has_value());
  // The address is the name's exact length: the same name with a trailing byte is another socket.
  EnvVar longer("NOTIFY_SOCKET", "@" + name + "x");
  CHECK(util::sd_notify("READY=1") < 0);
  CHECK_FALSE(socket.receive().has_value());
}

TEST_CASE("sd_notify does nothing without NOTIFY_SOCKET, and says why it cannot send", "[util][notify]") {
  {
    EnvVar env("NOTIFY_SOCKET", std::nullopt);
    CHECK(util::sd_notify("READY=1") == 0);
  }
  {
    EnvVar env("NOTIFY_SOCKET", "");
    CHECK(util::sd_notify("READY=1") == 0);
  }
  TempDir dir;
  {
    EnvVar env("NOTIFY_SOCKET", dir.path() + "/nobody-listens");
    CHECK(util::sd_notify("READY=1") == -ENOENT);
  }
  {
    EnvVar env("NOTIFY_SOCKET", "relative/path");
    CHECK(util::sd_notify("READY=1") == -EINVAL);
  }
  {
    EnvVar env("NOTIFY_SOCKET", "/" + std::string(200, 'a'));  // longer than a unix socket path can be
    CHECK(util::sd_notify("READY=1") == -EINVAL);
  }
  {
    NotifySocket socket(dir.path() + "/notify");
    EnvVar env("NOTIFY_SOCKET", dir.path() + "/notify");
    CHECK(util::sd_notify("") == -EINVAL);
    CHECK(socket.messages().empty());
  }
}

TEST_CASE("sd_watchdog_enabled reads WATCHDOG_USEC, for this process only when WATCHDOG_PID is set", "[util][notify]") {
  std::uint64_t usec = 7;
  SECTION("unset: no watchdog") {
    EnvVar env("WATCHDOG_USEC", std::nullopt);
    CHECK(util::sd_watchdog_enabled(&usec) == 0);
    CHECK(usec == 7);
  }
  SECTION("set, no WATCHDOG_PID: the period") {
    EnvVar env("WATCHDOG_USEC", "30000000");
    EnvVar pid("WATCHDOG_PID", std::nullopt);
    CHECK(util::sd_watchdog_enabled(&usec) == 1);
    CHECK(usec == 30000000);
  }
  SECTION("WATCHDOG_PID is this process: the period") {
    EnvVar env("WATCHDOG_USEC", "400000");
    EnvVar pid("WATCHDOG_PID", std::to_string(::getpid()));
    CHECK(util::sd_watchdog_enabled(&usec) == 1);
    CHECK(usec == 400000);
  }
  SECTION("WATCHDOG_PID is another process: no watchdog for this one") {
    EnvVar env("WATCHDOG_USEC", "400000");
    EnvVar pid("WATCHDOG_PID", std::to_string(::getpid() + 1));
    CHECK(util::sd_watchdog_enabled(&usec) == 0);
    CHECK(usec == 7);
  }
  SECTION("garbage: an error, no period") {
    for (const char* text : {"", "abc", "400000x", "-5", " 400000", "0", "99999999999999999999999"}) {
      INFO("WATCHDOG_USEC=" << text);
      EnvVar env("WATCHDOG_USEC", text);
      EnvVar pid("WATCHDOG_PID", std::nullopt);
      CHECK(util::sd_watchdog_enabled(&usec) == -EINVAL);
      CHECK(usec == 7);
    }
    EnvVar env("WATCHDOG_USEC", "400000");
    EnvVar pid("WATCHDOG_PID", "me");
    CHECK(util::sd_watchdog_enabled(&usec) == -EINVAL);
    CHECK(usec == 7);
  }
}

TEST_CASE("wgsd-server's notifier pings no watchdog for a garbage WATCHDOG_USEC or another process's WATCHDOG_PID", "[server][notify]") {
  server::Log log{[](const std::string&) {}};
  TempDir dir;
  NotifySocket socket(dir.path() + "/notify");
  EnvVar env("NOTIFY_SOCKET", dir.path() + "/notify");
  {
    EnvVar usec("WATCHDOG_USEC", "soon");
    EnvVar pid("WATCHDOG_PID", std::nullopt);
    server::Notifier notifier(log);
    CHECK(notifier.enabled());
    CHECK(notifier.watchdog().count() == 0);
  }
  {
    EnvVar usec("WATCHDOG_USEC", "400000");
    EnvVar pid("WATCHDOG_PID", std::to_string(::getpid() + 1));
    server::Notifier notifier(log);
    CHECK(notifier.watchdog().count() == 0);
  }
  {
    EnvVar usec("WATCHDOG_USEC", "400000");
    EnvVar pid("WATCHDOG_PID", std::to_string(::getpid()));
    server::Notifier notifier(log);
    CHECK(notifier.watchdog() == std::chrono::microseconds(400000));
  }
}
