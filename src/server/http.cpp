#include "server/http.hpp"

#include <microhttpd.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <unistd.h>

#include <cerrno>
#include <charconv>
#include <cstring>
#include <exception>
#include <optional>
#include <stdexcept>

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

MHD_Result send(MHD_Connection* connection, const HttpResponse& r, bool allow_header) {
  MHD_Response* response = MHD_create_response_from_buffer(r.body.size(), const_cast<char*>(r.body.data()), MHD_RESPMEM_MUST_COPY);
  if (response == nullptr) return MHD_NO;
  MHD_add_response_header(response, MHD_HTTP_HEADER_CONTENT_TYPE, r.content_type.c_str());
  MHD_add_response_header(response, MHD_HTTP_HEADER_CACHE_CONTROL, "no-store");
  MHD_add_response_header(response, "X-Content-Type-Options", "nosniff");
  if (allow_header) MHD_add_response_header(response, MHD_HTTP_HEADER_ALLOW, "GET, HEAD");
  const MHD_Result result = MHD_queue_response(connection, r.status, response);
  MHD_destroy_response(response);
  return result;
}

MHD_Result on_request(void* cls, MHD_Connection* connection, const char* url, const char* method, const char* /*version*/,
                      const char* /*upload_data*/, std::size_t* upload_data_size, void** state) {
  const auto& self = *static_cast<const HttpServer*>(cls);
  const std::string_view m(method);
  if (m != MHD_HTTP_METHOD_GET && m != MHD_HTTP_METHOD_HEAD) {
    // Answered at once, body unread: the connection closes after the answer.
    *upload_data_size = 0;
    return send(connection, {MHD_HTTP_METHOD_NOT_ALLOWED, "text/plain; charset=utf-8", "method not allowed\n"}, true);
  }
  if (*state == nullptr) {  // the headers are in; a GET's (empty) body comes next
    static int seen = 0;
    *state = &seen;
    return MHD_YES;
  }
  if (*upload_data_size != 0) {  // a GET with a body: ignored
    *upload_data_size = 0;
    return MHD_YES;
  }
  try {
    return send(connection, self.answer(url), false);
  } catch (const std::exception&) {
    return send(connection, {500, "text/plain; charset=utf-8", "internal error\n"}, false);
  }
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
  fd_ = fd.release();
}

void HttpServer::start() {
  if (daemon_ != nullptr) return;
  // A thread inherits its creator's capabilities: libmicrohttpd's is created from one that holds
  // none (it parses network input), named wgsd-http until libmicrohttpd names its own.
  std::exception_ptr error;
  spawn_thread("wgsd-http", [this, &error] {
    try {
      // One thread of its own polls every connection (epoll): no thread per connection, and a slow
      // or hostile client costs a descriptor and a bounded buffer until the timeout closes it.
      daemon_ = MHD_start_daemon(MHD_USE_INTERNAL_POLLING_THREAD | MHD_USE_EPOLL, 0, nullptr, nullptr, &on_request, this,
                                 MHD_OPTION_LISTEN_SOCKET, fd_,
                                 MHD_OPTION_CONNECTION_LIMIT, static_cast<unsigned>(limits_.max_connections),
                                 MHD_OPTION_CONNECTION_TIMEOUT, static_cast<unsigned>(limits_.timeout.count()),
                                 MHD_OPTION_CONNECTION_MEMORY_LIMIT, limits_.memory_per_connection,
                                 MHD_OPTION_PER_IP_CONNECTION_LIMIT, static_cast<unsigned>(limits_.max_connections / 2),
                                 MHD_OPTION_STRICT_FOR_CLIENT, 1,  // HTTP/1.1 as written: a request without Host is a 400
                                 MHD_OPTION_END);
    } catch (...) {
      error = std::current_exception();
    }
  }).join();
  if (error) std::rethrow_exception(error);
  if (daemon_ == nullptr) throw std::runtime_error("cannot listen on " + address_.to_string() + ": the HTTP server did not start");
  fd_ = -1;  // the daemon owns it now and closes it when stopped
}

HttpServer::~HttpServer() {
  if (daemon_ != nullptr) MHD_stop_daemon(daemon_);
  if (fd_ >= 0) ::close(fd_);
}

void HttpServer::set_routes(HttpRoutes routes) noexcept { routes_.store(pack(routes), std::memory_order_relaxed); }

HttpRoutes HttpServer::routes() const noexcept { return unpack(routes_.load(std::memory_order_relaxed)); }

}  // namespace wgsd::server
