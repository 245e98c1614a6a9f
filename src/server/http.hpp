// The HTTP side of wgsd-server (`prometheus`, `health`, `ready`, `status`): one small HTTP/1.1
// server per listening address, GET and HEAD only, in one thread of its own that polls every
// connection (epoll), with bounded connections, headers and timeouts. It never touches the query path: it only reads what the refresher and the workers
// already counted.
#pragma once

#include <atomic>
#include <chrono>
#include <cstddef>
#include <cstdint>
#include <functional>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <thread>

#include "wg/address.hpp"

namespace wgsd::server {

namespace http {
class Loop;
}

/// Where an HTTP directive listens: "localhost:9153", ":8080" (every address), "[::1]:8181".
struct HttpAddress {
  std::optional<wg::IpAddress> ip;  ///< nullopt: every address (IPv6 and IPv4)
  std::uint16_t port{};             ///< 0 only in tests: any free port

  /// HOST:PORT with HOST an IP address, [IPv6], "localhost" (127.0.0.1) or empty. nullopt otherwise.
  static std::optional<HttpAddress> parse(std::string_view text);
  /// "127.0.0.1:9153", "[::1]:8181", ":8080".
  [[nodiscard]] std::string to_string() const;
  friend bool operator==(const HttpAddress&, const HttpAddress&) = default;
  friend auto operator<=>(const HttpAddress&, const HttpAddress&) = default;
};

/// What one HTTP address serves; several directives naming one address share it.
struct HttpRoutes {
  bool metrics{};  ///< /metrics (`prometheus`)
  bool health{};   ///< /health
  bool ready{};    ///< /ready
  bool status{};   ///< /status.json and /
  friend bool operator==(const HttpRoutes&, const HttpRoutes&) = default;
};

struct HttpResponse {
  unsigned status{200};
  std::string content_type{"text/plain; charset=utf-8"};
  std::string body;
};

/// Answers a GET for `path` with the routes the address serves now.
using HttpHandler = std::function<HttpResponse(const HttpRoutes& routes, std::string_view path)>;

/// The minimum rate, in bytes per second, a client is expected to read an answer at: an answer
/// not read within the timeout plus its size at this rate is cut off (16 KiB/s: a 1 MiB page has
/// 64 s more than the timeout).
inline constexpr std::size_t http_min_send_rate = 16 * 1024;

struct HttpLimits {
  /// Past it, a newcomer closes the oldest connection waiting for a request (idle between requests,
  /// or still sending its head), or is itself closed at once when every one is being answered; one
  /// client (an IPv4 address, an IPv6 /64) holds at most a quarter of it (at least 1), past which
  /// its new connections are closed at once.
  unsigned max_connections{64};
  /// An idle connection is closed this long after its last answer; a request head this long after
  /// its first byte, however many bytes follow; an answer after this plus its size at min_send_rate.
  std::chrono::seconds timeout{10};
  std::size_t memory_per_connection{32 * 1024}; ///< bounds a request's headers: past it, 431/413
  std::size_t min_send_rate{http_min_send_rate}; ///< bytes/s; see http_min_send_rate
};

class HttpServer {
public:
  /// Binds `address` (CAP_NET_BIND_SERVICE raised around the bind for a port below 1024, when
  /// permitted); answers nothing until start(). Throws std::runtime_error
  /// "cannot listen on 127.0.0.1:9153: Address already in use".
  HttpServer(const HttpAddress& address, HttpRoutes routes, HttpHandler handler, HttpLimits limits = {});
  ~HttpServer();
  HttpServer(const HttpServer&) = delete;
  HttpServer& operator=(const HttpServer&) = delete;

  /// Starts answering in a thread of its own (wgsd-http) that holds no capability, whatever the
  /// caller holds. Does nothing the second time. Throws std::system_error when no thread can be
  /// created.
  void start();
  [[nodiscard]] bool started() const noexcept { return thread_.joinable(); }

  /// The routes from now on (a reload).
  void set_routes(HttpRoutes routes) noexcept;
  [[nodiscard]] HttpRoutes routes() const noexcept;
  /// The port bound (the one asked for, or the one the kernel chose for port 0).
  [[nodiscard]] std::uint16_t port() const noexcept { return port_; }
  [[nodiscard]] const HttpAddress& address() const noexcept { return address_; }

  /// For the HTTP thread: what to answer.
  [[nodiscard]] HttpResponse answer(std::string_view path) const { return handler_(routes(), path); }

private:
  HttpAddress address_;
  std::atomic<unsigned> routes_;
  HttpHandler handler_;
  HttpLimits limits_;
  std::uint16_t port_{};
  std::unique_ptr<http::Loop> loop_;  // owns the listening socket
  std::thread thread_;
};

}  // namespace wgsd::server
