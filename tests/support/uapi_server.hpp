// A unix-socket UAPI daemon stand-in: answers each request with canned text and keeps what it was sent.
#pragma once

#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>

#include <atomic>
#include <chrono>
#include <cstring>
#include <mutex>
#include <string>
#include <thread>
#include <vector>

namespace wgsd::test {

class UapiServer {
public:
  enum class Mode { reply, silent, close };

  UapiServer(const std::string& dir, const std::string& name) : path_(dir + "/" + name + ".sock") {
    fd_ = ::socket(AF_UNIX, SOCK_STREAM, 0);
    sockaddr_un addr{};
    addr.sun_family = AF_UNIX;
    std::strncpy(addr.sun_path, path_.c_str(), sizeof addr.sun_path - 1);
    ::bind(fd_, reinterpret_cast<sockaddr*>(&addr), sizeof addr);
    ::listen(fd_, 8);
    thread_ = std::thread([this] { run(); });
  }
  ~UapiServer() {
    stop_ = true;
    ::shutdown(fd_, SHUT_RDWR);
    thread_.join();
    ::close(fd_);
    ::unlink(path_.c_str());
  }

  void set_reply(std::string text, Mode mode = Mode::reply) {
    std::lock_guard lock(mutex_);
    reply_ = std::move(text);
    mode_ = mode;
  }
  /// Every reply from now on waits this long: a slow daemon.
  void set_delay(std::chrono::milliseconds delay) {
    std::lock_guard lock(mutex_);
    delay_ = delay;
  }
  std::vector<std::string> requests() const {
    std::lock_guard lock(mutex_);
    return requests_;
  }

private:
  void run() {
    while (!stop_) {
      const int c = ::accept(fd_, nullptr, nullptr);
      if (c < 0) return;
      std::string req;
      char buf[4096];
      while (req.find("\n\n") == std::string::npos) {
        const ssize_t n = ::read(c, buf, sizeof buf);
        if (n <= 0) break;
        req.append(buf, static_cast<std::size_t>(n));
      }
      std::string reply;
      Mode mode;
      std::chrono::milliseconds delay{};
      {
        std::lock_guard lock(mutex_);
        requests_.push_back(req);
        reply = reply_;
        mode = mode_;
        delay = delay_;
      }
      if (delay.count() > 0) std::this_thread::sleep_for(delay);
      if (mode == Mode::silent) {
        // Hold the connection open without a word until the client gives up.
        while (!stop_ && ::read(c, buf, sizeof buf) > 0) {
        }
      } else if (mode == Mode::reply) {
        (void)::write(c, reply.data(), reply.size());
      }
      ::close(c);
    }
  }

  std::string path_;
  int fd_{-1};
  std::atomic<bool> stop_{false};
  mutable std::mutex mutex_;
  std::string reply_ = "errno=0\n\n";
  Mode mode_{Mode::reply};
  std::chrono::milliseconds delay_{};
  std::vector<std::string> requests_;
  std::thread thread_;
};

}  // namespace wgsd::test
