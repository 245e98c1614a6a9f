#include "server/http.hpp"

#include <netinet/in.h>
#include <sys/socket.h>
#include <unistd.h>

#include <cerrno>
#include <charconv>
#include <cstring>
#include <exception>
#include <optional>
#include <stdexcept>

#include "server/http_loop.hpp"
#include "server/privilege.hpp"
#include "server/spawn.hpp"
#include "wg/unique_fd.hpp"

namespace wgsd::server {
namespace {

unsigned pack(const HttpRoutes& r) {
  return (r.metrics ? 1U : 0U) | (r.health ? 2U : 0U) | (r.ready ? 4U : 0U) | (r.status ? 8U : 0U);
}

HttpRoutes unpack(unsigned bits) { return {(bits & 1U) != 0, (bits & 2U) != 0, (bits & 4U) != 0, (bits & 8U) != 0}; }

// A listening TCP socket on `address`; every address: IPv6 with IPv4 mapped in, or IPv4 alone on
// a host without IPv6.
wg::UniqueFd listen_on(const HttpAddress& address) {
  const auto fail = [&](int error) {
    throw std::runtime_error("cannot listen on " + address.to_string() + ": " + std::strerror(error));
  };
  const auto attempt = [&](const wg::IpAddress& ip, bool dual) -> wg::UniqueFd {
    wg::UniqueFd fd(::socket(ip.is_v4() ? AF_INET : AF_INET6, SOCK_STREAM | SOCK_CLOEXEC | SOCK_NONBLOCK, 0));
    if (!fd) return fd;
    const int one = 1;
    const int zero = 0;
    ::setsockopt(fd.get(), SOL_SOCKET, SO_REUSEADDR, &one, sizeof one);
    if (ip.is_v6()) ::setsockopt(fd.get(), IPPROTO_IPV6, IPV6_V6ONLY, dual ? &zero : &one, sizeof one);
    sockaddr_storage ss{};
    const auto len = wg::Endpoint{ip, address.port}.to_sockaddr(ss);
    if (::bind(fd.get(), reinterpret_cast<sockaddr*>(&ss), static_cast<socklen_t>(len)) != 0 || ::listen(fd.get(), 64) != 0) {
      const int error = errno;
      fd.reset();
      errno = error;
    }
    return fd;
  };
  if (address.ip) {
    auto fd = attempt(*address.ip, false);
    if (!fd) fail(errno);
    return fd;
  }
  auto fd = attempt(wg::IpAddress::v6({}), true);
  if (fd) return fd;
  const int v6_error = errno;
  if (v6_error != EAFNOSUPPORT && v6_error != EADDRNOTAVAIL) fail(v6_error);
  fd = attempt(wg::IpAddress(), false);
  if (!fd) fail(errno);
  return fd;
}

}  // namespace

std::optional<HttpAddress> HttpAddress::parse(std::string_view text) {
  const auto colon = text.rfind(':');
  if (colon == std::string_view::npos) return std::nullopt;
  std::string_view host = text.substr(0, colon);
  const std::string_view port = text.substr(colon + 1);
  unsigned value = 0;
  const auto [ptr, ec] = std::from_chars(port.data(), port.data() + port.size(), value);
  if (port.empty() || ec != std::errc() || ptr != port.data() + port.size() || value == 0 || value > 65535) return std::nullopt;
  HttpAddress a;
  a.port = static_cast<std::uint16_t>(value);
  if (host.empty()) return a;
  if (host == "localhost") {
    a.ip = wg::IpAddress::v4({127, 0, 0, 1});
    return a;
  }
  const bool bracketed = host.size() >= 2 && host.front() == '[' && host.back() == ']';
  if (bracketed) host = host.substr(1, host.size() - 2);
  auto ip = wg::IpAddress::parse(host);
  if (!ip || (ip->is_v6() && !bracketed)) return std::nullopt;
  a.ip = *ip;
  return a;
}

std::string HttpAddress::to_string() const {
  if (!ip) return ":" + std::to_string(port);
  return wg::Endpoint{*ip, port}.to_string();
}

HttpServer::HttpServer(const HttpAddress& address, HttpRoutes routes, HttpHandler handler, HttpLimits limits)
    : address_(address), routes_(pack(routes)), handler_(std::move(handler)), limits_(limits) {
  std::optional<privilege::Raised> raised;
  if (address.port != 0 && address.port < 1024 && (privilege::current().permitted & privilege::cap_net_bind_service) != 0) {
    raised.emplace(privilege::cap_net_bind_service, "listen on " + address.to_string());
  }
  wg::UniqueFd fd = listen_on(address);
  raised.reset();
  sockaddr_storage ss{};
  socklen_t len = sizeof ss;
  if (::getsockname(fd.get(), reinterpret_cast<sockaddr*>(&ss), &len) == 0) {
    if (const auto bound = wg::Endpoint::from_sockaddr(reinterpret_cast<sockaddr*>(&ss), len)) port_ = bound->port;
  }
  loop_ = std::make_unique<http::Loop>(std::move(fd), limits_, [this](std::string_view path) { return answer(path); });
}

void HttpServer::start() {
  if (thread_.joinable()) return;
  // A thread inherits its creator's capabilities: this one, which parses network input, starts
  // from none.
  thread_ = spawn_thread("wgsd-http", [this] { loop_->run(); });
}

HttpServer::~HttpServer() {
  if (thread_.joinable()) {
    loop_->stop();
    thread_.join();
  }
}

void HttpServer::set_routes(HttpRoutes routes) noexcept { routes_.store(pack(routes), std::memory_order_relaxed); }

HttpRoutes HttpServer::routes() const noexcept { return unpack(routes_.load(std::memory_order_relaxed)); }

}  // namespace wgsd::server
