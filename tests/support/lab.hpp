// Helpers for tests that run real programs: network namespaces, wireguard-go, child processes.
// Everything started here is stopped by PID and every namespace is deleted when its owner goes.
#pragma once

#include <sys/types.h>

#include <chrono>
#include <string>
#include <thread>
#include <vector>

namespace wgsd::test {

bool in_ci();
/// Skips (exit 77, reported by ctest as skipped) unless root and the named programs exist. In CI a
/// missing prerequisite fails the test instead: CI must run these tests.
void require_live(const std::vector<std::string>& programs);
/// Exits 77 with `why` printed: this test cannot run here.
[[noreturn]] void skip(const std::string& why);

/// Runs a shell command; returns its exit status.
int sh(const std::string& command);
/// Runs a shell command and returns its standard output; throws if it exits non-zero.
std::string sh_out(const std::string& command);
/// "<prefix><pid><n>", unique in this process and at most 15 characters (an interface name).
std::string unique_name(const std::string& prefix);

/// A child process, killed (SIGTERM, then SIGKILL) and reaped when this goes.
class Process {
public:
  Process() = default;
  /// Starts argv[0] with argv; stdout and stderr go to `log` (a file path) if not empty.
  Process(const std::vector<std::string>& argv, const std::string& log = "");
  Process(Process&& other) noexcept;
  Process& operator=(Process&& other) noexcept;
  ~Process();
  pid_t pid() const { return pid_; }
  bool running();
  /// Sends `sig`; waits up to `wait` for exit; returns the exit status (or -1 if still running).
  int stop(int sig, std::chrono::milliseconds wait = std::chrono::milliseconds(3000));

private:
  pid_t pid_{-1};
  int status_{-1};
};

/// A network namespace with loopback up, deleted (with its processes) when this goes.
class Netns {
public:
  explicit Netns(const std::string& prefix = "wgsdt");
  Netns(const Netns&) = delete;
  Netns& operator=(const Netns&) = delete;
  ~Netns();
  const std::string& name() const { return name_; }
  /// "ip netns exec NAME " + command, through sh.
  int exec(const std::string& command) const;
  std::string exec_out(const std::string& command) const;
  /// argv prefixed with ip netns exec NAME.
  std::vector<std::string> wrap(const std::vector<std::string>& argv) const;

private:
  std::string name_;
};

/// wireguard-go in the foreground inside a namespace, with a unique interface name.
class WireguardGo {
public:
  WireguardGo(const Netns& ns, const std::string& prefix = "wgt");
  ~WireguardGo();
  const std::string& ifname() const { return ifname_; }
  /// Kills the daemon (the device vanishes) and, with restart(), brings it back empty.
  void kill();
  void restart();

private:
  void start();
  const Netns& ns_;
  std::string ifname_;
  Process proc_;
};

/// A scratch directory removed when this goes.
class TempDir {
public:
  TempDir();
  ~TempDir();
  const std::string& path() const { return path_; }

private:
  std::string path_;
};

/// Whether ::1 is there to bind (IPv6 may be off on the machine or in a namespace).
bool has_ipv6_loopback();

/// A free UDP+TCP port on 127.0.0.1.
unsigned short free_port();

/// A new private key from `wg genkey`, base64.
std::string genkey();

/// Polls `f` every 50 ms until it is true or `limit` has passed; returns its last value.
template <typename F>
bool eventually(F f, std::chrono::milliseconds limit) {
  const auto end = std::chrono::steady_clock::now() + limit;
  while (std::chrono::steady_clock::now() < end) {
    if (f()) return true;
    std::this_thread::sleep_for(std::chrono::milliseconds(50));
  }
  return f();
}

}  // namespace wgsd::test
