// The receiving end of systemd's notify protocol, as a test owns it: a datagram unix socket whose
// path goes into the child's NOTIFY_SOCKET. Every datagram is kept, in order of arrival.
#pragma once

#include <fcntl.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>

#include <chrono>
#include <cstring>
#include <stdexcept>
#include <string>
#include <vector>

#include "support/lab.hpp"

namespace wgsd::test {

class NotifySocket {
public:
  explicit NotifySocket(std::string path) : path_(std::move(path)) {
    fd_ = ::socket(AF_UNIX, SOCK_DGRAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
    sockaddr_un addr{};
    addr.sun_family = AF_UNIX;
    if (path_.size() >= sizeof addr.sun_path) throw std::runtime_error("notify socket path too long: " + path_);
    std::strncpy(addr.sun_path, path_.c_str(), sizeof addr.sun_path - 1);
    if (fd_ < 0 || ::bind(fd_, reinterpret_cast<sockaddr*>(&addr), sizeof addr) != 0) {
      throw std::runtime_error("notify socket " + path_ + ": " + std::strerror(errno));
    }
  }
  NotifySocket(const NotifySocket&) = delete;
  NotifySocket& operator=(const NotifySocket&) = delete;
  ~NotifySocket() {
    ::close(fd_);
    ::unlink(path_.c_str());
  }
  /// "NOTIFY_SOCKET=<path>", for env(1) in front of the program.
  [[nodiscard]] std::string env() const { return "NOTIFY_SOCKET=" + path_; }

  /// Every message so far.
  const std::vector<std::string>& messages() {
    char buf[4096];
    for (;;) {
      const ssize_t n = ::recv(fd_, buf, sizeof buf, 0);
      if (n < 0) break;
      messages_.emplace_back(buf, static_cast<std::size_t>(n));
    }
    return messages_;
  }
  /// The index of the first message at or after `from` that contains `needle`, waiting up to
  /// `limit` for it; -1 when none came.
  int wait_for(const std::string& needle, std::chrono::milliseconds limit, int from = 0) {
    int found = -1;
    eventually(
        [&] {
          const auto& m = messages();
          for (std::size_t i = static_cast<std::size_t>(from); i < m.size(); ++i) {
            if (m[i].find(needle) != std::string::npos) {
              found = static_cast<int>(i);
              return true;
            }
          }
          return false;
        },
        limit);
    return found;
  }
  /// How many messages so far contain `needle`.
  int count(const std::string& needle) {
    int n = 0;
    for (const auto& m : messages()) n += m.find(needle) != std::string::npos ? 1 : 0;
    return n;
  }
  /// Every message so far, one per line, for a failure message.
  std::string dump() {
    std::string out;
    for (const auto& m : messages()) out += "[" + m + "]\n";
    return out;
  }

private:
  std::string path_;
  int fd_{-1};
  std::vector<std::string> messages_;
};

}  // namespace wgsd::test
