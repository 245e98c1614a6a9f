// UAPI transport: one unix-socket conversation per call, bounded by a deadline.
#include <poll.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>

#include "wg/backend.hpp"
#include "wg/error.hpp"
#include "wg/uapi_codec.hpp"
#include "wg/unique_fd.hpp"

namespace wgsd::wg {
namespace {

using SteadyClock = std::chrono::steady_clock;

// A 100,000-peer device is about 30 MB of text; anything far beyond is a broken daemon.
constexpr std::size_t max_reply = 256U << 20;

class UapiBackend final : public Backend {
public:
  explicit UapiBackend(BackendOptions options) : options_(std::move(options)) {}

  Device get_device(const std::string& name) override {
    // The reply buffer is kept between reads: a refresher reads the same 30 MB (100,000 peers)
    // every second, and a fresh buffer each time costs as many page faults, in the kernel, as the
    // parse costs in user space.
    try {
      converse(name, "get=1\n\n", "get", get_reply_);
    } catch (...) {
      std::string().swap(get_reply_);  // a runaway reply must not keep its memory
      throw;
    }
    // A device that shrank for good gives its memory back.
    if (get_reply_.capacity() > 4 * get_reply_.size() + (1U << 20)) get_reply_.shrink_to_fit();
    return parse_uapi_get(get_reply_, name);
  }

  void apply(const DeviceUpdate& update) override {
    std::string reply;
    converse(update.name, format_uapi_set(update), "set", reply);
    parse_uapi_set_reply(reply, update.name);
  }

private:
  void converse(const std::string& name, const std::string& request, const char* op, std::string& reply) {
    reply.clear();
    check_device_name(name);
    const std::string path = options_.uapi_dir + "/" + name + ".sock";
    const std::string where = std::string("uapi: ") + op + " device '" + name + "'";
    sockaddr_un addr{};
    if (path.size() >= sizeof addr.sun_path) throw Error(std::errc::filename_too_long, where + ": socket path too long");
    addr.sun_family = AF_UNIX;
    std::memcpy(addr.sun_path, path.c_str(), path.size() + 1);

    UniqueFd fd(::socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC | SOCK_NONBLOCK, 0));
    if (!fd) throw Error(errno, where + ": socket");
    if (::connect(fd.get(), reinterpret_cast<const sockaddr*>(&addr), sizeof addr) != 0) {
      const int err = errno;
      // A missing socket, or one whose daemon died, means the device is not there.
      if (err == ENOENT || err == ECONNREFUSED) throw Error(std::errc::no_such_device, "no such device '" + name + "'");
      throw Error(err, where + ": connect " + path);
    }
    const auto deadline = SteadyClock::now() + options_.timeout;
    std::size_t sent = 0;
    while (sent < request.size()) {
      wait(fd.get(), POLLOUT, deadline, where);
      const ssize_t n = ::send(fd.get(), request.data() + sent, request.size() - sent, MSG_NOSIGNAL);
      if (n < 0) {
        if (errno == EAGAIN || errno == EINTR) continue;
        throw Error(errno, where + ": send");
      }
      sent += static_cast<std::size_t>(n);
    }
    char buf[65536];
    // The reply ends with an empty line after errno=N: stop there, do not wait for EOF.
    while (!(reply.size() >= 2 && reply.compare(reply.size() - 2, 2, "\n\n") == 0 &&
             reply.rfind("errno=") != std::string::npos)) {
      wait(fd.get(), POLLIN, deadline, where);
      const ssize_t n = ::recv(fd.get(), buf, sizeof buf, 0);
      if (n < 0) {
        if (errno == EAGAIN || errno == EINTR) continue;
        throw Error(errno, where + ": recv");
      }
      if (n == 0) break;  // the codec reports the truncation precisely
      reply.append(buf, static_cast<std::size_t>(n));
      if (reply.size() > max_reply) throw Error(std::errc::message_size, where + ": reply larger than 256 MiB");
    }
  }

  static void wait(int fd, short events, SteadyClock::time_point deadline, const std::string& where) {
    for (;;) {
      const auto left = std::chrono::duration_cast<std::chrono::milliseconds>(deadline - SteadyClock::now()).count();
      if (left <= 0) throw Error(std::errc::timed_out, where + ": daemon did not answer in time");
      pollfd p{fd, events, 0};
      const int r = ::poll(&p, 1, static_cast<int>(left));
      if (r > 0) return;
      if (r < 0 && errno != EINTR) throw Error(errno, where + ": poll");
    }
  }

  BackendOptions options_;
  std::string get_reply_;
};

}  // namespace

std::unique_ptr<Backend> make_uapi_backend(const BackendOptions& options) {
  return std::make_unique<UapiBackend>(options);
}

}  // namespace wgsd::wg
