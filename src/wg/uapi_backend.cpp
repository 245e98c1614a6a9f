// UAPI transport: one unix-socket conversation per call, bounded by a deadline.
#include <poll.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <unistd.h>

#include <sodium.h>

#include <algorithm>
#include <cerrno>
#include <cstring>
#include <memory>

#include "wg/backend.hpp"
#include "wg/backend_testing.hpp"
#include "wg/error.hpp"
#include "wg/uapi_codec.hpp"
#include "wg/unique_fd.hpp"
#include "wg/wipe.hpp"

namespace wgsd::wg {
namespace {

using SteadyClock = std::chrono::steady_clock;

// A 100,000-peer device is about 30 MB of text; anything far beyond is a broken daemon.
constexpr std::size_t max_reply = 256U << 20;
constexpr std::size_t recv_size = 65536;

class UapiBackend final : public Backend {
public:
  explicit UapiBackend(BackendOptions options) : options_(std::move(options)) {}

  Device get_device(const std::string& name) override {
    // Parsed as it arrives: a 100,000-peer reply is 30 MB that is never held whole, and the parse
    // runs while the daemon is still writing rather than in one burst after it.
    UapiGetParser parser(name, last_peers_);
    converse(name, "get=1\n\n", "get", [&parser](std::string_view chunk) { return parser.feed(chunk); });
    Device dev = parser.finish();
    last_peers_ = dev.peers.size();
    return dev;
  }

  [[nodiscard]] bool retains(std::string_view text) const {
    return buf_ && std::string_view(buf_.get(), recv_size).find(text) != std::string_view::npos;
  }

  void apply(const DeviceUpdate& update) override {
    std::string reply;
    converse(update.name, format_uapi_set(update), "set", [&reply](std::string_view chunk) {
      reply.append(chunk);
      // The reply ends with an empty line after errno=N: stop there, do not wait for EOF.
      return reply.ends_with("\n\n") && reply.find("errno=") != std::string::npos;
    });
    parse_uapi_set_reply(reply, update.name);
  }

  [[nodiscard]] Access access(const std::string& name) const override {
    return Access{Access::Kind::uapi, options_.uapi_dir + "/" + name + ".sock"};
  }

private:
  // Sends `request` and hands each piece of the reply to `sink` until it says the reply is
  // complete, the daemon closes the socket (the codec then reports the truncation precisely), or
  // the deadline passes.
  template <typename Sink>
  void converse(const std::string& name, const std::string& request, const char* op, Sink&& sink) {
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
    if (!buf_) buf_ = std::make_unique<char[]>(recv_size);
    char* const buf = buf_.get();
    std::size_t used = 0;  // the most the kernel wrote into buf
    const WipeOnExit wipe(buf, used);
    std::size_t total = 0;
    for (;;) {
      wait(fd.get(), POLLIN, deadline, where);
      const ssize_t n = ::recv(fd.get(), buf, recv_size, 0);
      if (n < 0) {
        if (errno == EAGAIN || errno == EINTR) continue;
        throw Error(errno, where + ": recv");
      }
      if (n == 0) return;
      used = std::max(used, static_cast<std::size_t>(n));
      total += static_cast<std::size_t>(n);
      if (total > max_reply) throw Error(std::errc::message_size, where + ": reply larger than 256 MiB");
      if (sink(std::string_view(buf, static_cast<std::size_t>(n)))) return;
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
  std::size_t last_peers_{};
  std::unique_ptr<char[]> buf_;  // the receive buffer, kept between reads, zeroed after each
};

}  // namespace

bool uapi_backend_retains(const Backend& backend, std::string_view text) {
  const auto* uapi = dynamic_cast<const UapiBackend*>(&backend);
  return uapi != nullptr && uapi->retains(text);
}

std::unique_ptr<Backend> make_uapi_backend(const BackendOptions& options) {
  return std::make_unique<UapiBackend>(options);
}

}  // namespace wgsd::wg
