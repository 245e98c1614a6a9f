#include "support/lab.hpp"

#include <fcntl.h>
#include <netinet/in.h>
#include <signal.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include <atomic>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <filesystem>
#include <iostream>
#include <stdexcept>
#include <thread>
#include <utility>

namespace wgsd::test {

bool in_ci() {
  const char* ci = std::getenv("CI");
  return ci != nullptr && std::string(ci) == "true";
}

void skip(const std::string& why) {
  std::cout << "SKIPPED: " << why << std::endl;
  std::exit(77);
}

void require_live(const std::vector<std::string>& programs) {
  std::string missing;
  if (::geteuid() != 0) missing = "root (network namespaces)";
  for (const auto& p : programs) {
    if (sh("command -v " + p + " >/dev/null 2>&1") != 0) missing += (missing.empty() ? "" : ", ") + p;
  }
  if (missing.empty()) return;
  if (in_ci()) {
    std::cerr << "FAILED: this test must run in CI but needs " << missing << std::endl;
    std::exit(1);
  }
  skip("needs " + missing + "; run as root after scripts/setup.sh");
}

int sh(const std::string& command) {
  const int status = std::system(command.c_str());
  if (status == -1 || !WIFEXITED(status)) return -1;
  return WEXITSTATUS(status);
}

std::string sh_out(const std::string& command) {
  FILE* f = ::popen(command.c_str(), "r");
  if (f == nullptr) throw std::runtime_error("popen failed: " + command);
  std::string out;
  char buf[4096];
  std::size_t n = 0;
  while ((n = std::fread(buf, 1, sizeof buf, f)) > 0) out.append(buf, n);
  const int status = ::pclose(f);
  if (status != 0) throw std::runtime_error("command failed (" + std::to_string(status) + "): " + command);
  return out;
}

std::string unique_name(const std::string& prefix) {
  static std::atomic<unsigned> counter{0};
  std::string name = prefix + std::to_string(::getpid() % 100000) + "x" + std::to_string(counter++);
  if (name.size() > 15) name = name.substr(name.size() - 15);
  return name;
}

Process::Process(const std::vector<std::string>& argv, const std::string& log) {
  std::vector<char*> args;
  for (const auto& a : argv) args.push_back(const_cast<char*>(a.c_str()));
  args.push_back(nullptr);
  pid_ = ::fork();
  if (pid_ < 0) throw std::runtime_error("fork failed");
  if (pid_ == 0) {
    ::setpgid(0, 0);
    if (!log.empty()) {
      const int fd = ::open(log.c_str(), O_WRONLY | O_CREAT | O_APPEND, 0644);
      if (fd >= 0) {
        ::dup2(fd, 1);
        ::dup2(fd, 2);
        ::close(fd);
      }
    }
    const int devnull = ::open("/dev/null", O_RDONLY);
    if (devnull >= 0) ::dup2(devnull, 0);
    ::execvp(args[0], args.data());
    std::_Exit(127);
  }
}

Process::Process(Process&& other) noexcept : pid_(std::exchange(other.pid_, -1)), status_(other.status_) {}

Process& Process::operator=(Process&& other) noexcept {
  if (this != &other) {
    stop(SIGTERM);
    pid_ = std::exchange(other.pid_, -1);
    status_ = other.status_;
  }
  return *this;
}

Process::~Process() { stop(SIGTERM); }

bool Process::running() {
  if (pid_ <= 0) return false;
  int status = 0;
  if (::waitpid(pid_, &status, WNOHANG) == pid_) {
    status_ = WIFEXITED(status) ? WEXITSTATUS(status) : 128 + WTERMSIG(status);
    pid_ = -1;
    return false;
  }
  return true;
}

int Process::stop(int sig, std::chrono::milliseconds wait) {
  if (pid_ <= 0) return status_;
  ::kill(pid_, sig);
  const auto deadline = std::chrono::steady_clock::now() + wait;
  while (std::chrono::steady_clock::now() < deadline) {
    if (!running()) return status_;
    std::this_thread::sleep_for(std::chrono::milliseconds(10));
  }
  ::kill(pid_, SIGKILL);
  int status = 0;
  ::waitpid(pid_, &status, 0);
  pid_ = -1;
  status_ = -1;
  return status_;
}

Netns::Netns(const std::string& prefix) : name_(unique_name(prefix)) {
  if (sh("ip netns add " + name_) != 0) throw std::runtime_error("ip netns add " + name_ + " failed");
  exec("ip link set lo up");
}

Netns::~Netns() {
  // Processes started with wrap() are owned and stopped by their Process objects; this catches strays.
  sh("ip netns pids " + name_ + " 2>/dev/null | xargs -r kill -9 2>/dev/null");
  sh("ip netns del " + name_ + " 2>/dev/null");
}

int Netns::exec(const std::string& command) const { return sh("ip netns exec " + name_ + " " + command); }

std::string Netns::exec_out(const std::string& command) const { return sh_out("ip netns exec " + name_ + " " + command); }

std::vector<std::string> Netns::wrap(const std::vector<std::string>& argv) const {
  std::vector<std::string> out{"ip", "netns", "exec", name_};
  out.insert(out.end(), argv.begin(), argv.end());
  return out;
}

WireguardGo::WireguardGo(const Netns& ns, const std::string& prefix) : ns_(ns), ifname_(unique_name(prefix)) { start(); }

WireguardGo::~WireguardGo() { kill(); }

void WireguardGo::start() {
  const std::string sock = "/var/run/wireguard/" + ifname_ + ".sock";
  proc_ = Process(ns_.wrap({"wireguard-go", "-f", ifname_}), "/tmp/" + ifname_ + ".wireguard-go.log");
  for (int i = 0; i < 300; ++i) {
    struct stat st{};
    if (::stat(sock.c_str(), &st) == 0) return;
    if (!proc_.running()) break;
    std::this_thread::sleep_for(std::chrono::milliseconds(20));
  }
  throw std::runtime_error("wireguard-go did not create " + sock + " (see /tmp/" + ifname_ + ".wireguard-go.log)");
}

void WireguardGo::kill() {
  proc_.stop(SIGTERM);
  std::filesystem::remove("/var/run/wireguard/" + ifname_ + ".sock");
  ns_.exec("ip link del " + ifname_ + " 2>/dev/null");
}

void WireguardGo::restart() { start(); }

TempDir::TempDir() {
  char tmpl[] = "/tmp/wgsd-test-XXXXXX";
  if (::mkdtemp(tmpl) == nullptr) throw std::runtime_error("mkdtemp failed");
  path_ = tmpl;
}

TempDir::~TempDir() {
  std::error_code ec;
  std::filesystem::remove_all(path_, ec);
}

std::string genkey() {
  auto k = sh_out("wg genkey");
  while (!k.empty() && k.back() == '\n') k.pop_back();
  return k;
}

// Binding ::1 is the test: a kernel or namespace without IPv6 refuses it.
bool has_ipv6_loopback() {
  const int fd = ::socket(AF_INET6, SOCK_DGRAM, 0);
  sockaddr_in6 sin6{};
  sin6.sin6_family = AF_INET6;
  sin6.sin6_addr = in6addr_loopback;
  const bool ok = fd >= 0 && ::bind(fd, reinterpret_cast<sockaddr*>(&sin6), sizeof sin6) == 0;
  if (fd >= 0) ::close(fd);
  return ok;
}

unsigned short free_port() {
  for (int attempt = 0; attempt < 50; ++attempt) {
    const int u = ::socket(AF_INET, SOCK_DGRAM, 0);
    sockaddr_in sin{};
    sin.sin_family = AF_INET;
    sin.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    socklen_t len = sizeof sin;
    ::bind(u, reinterpret_cast<sockaddr*>(&sin), sizeof sin);
    ::getsockname(u, reinterpret_cast<sockaddr*>(&sin), &len);
    const int t = ::socket(AF_INET, SOCK_STREAM, 0);
    const bool ok = ::bind(t, reinterpret_cast<sockaddr*>(&sin), sizeof sin) == 0;
    ::close(t);
    ::close(u);
    if (ok) return ntohs(sin.sin_port);
  }
  throw std::runtime_error("no free port");
}

}  // namespace wgsd::test
