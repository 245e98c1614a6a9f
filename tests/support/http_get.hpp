// HTTP from the tests' side: curl(1) for what an operator would type, and a raw socket for what a
// hostile client sends.
#pragma once

#include <netinet/in.h>
#include <poll.h>
#include <sys/socket.h>
#include <unistd.h>

#include <chrono>
#include <string>

#include "support/lab.hpp"

namespace wgsd::test {

struct HttpReply {
  int status{};          ///< 0: no answer (closed or timed out without a status line)
  std::string body;
  std::string raw;
  bool closed{};         ///< the server closed the connection
};

/// curl -X METHOD on 127.0.0.1:PORT/PATH: the status and the body.
inline HttpReply curl(std::uint16_t port, const std::string& path, const std::string& method = "GET") {
  const std::string out = sh_out("curl -s -m 5 -X " + method + " -w '\\n%{http_code}' 'http://127.0.0.1:" + std::to_string(port) + path + "'; true");
  HttpReply r;
  const auto nl = out.rfind('\n');
  r.body = nl == std::string::npos ? std::string() : out.substr(0, nl);
  r.status = std::atoi(out.substr(nl == std::string::npos ? 0 : nl + 1).c_str());
  r.raw = out;
  return r;
}

/// A TCP connection to 127.0.0.1:PORT.
inline int connect_loopback(std::uint16_t port) {
  const int fd = ::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
  sockaddr_in sin{};
  sin.sin_family = AF_INET;
  sin.sin_port = htons(port);
  sin.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  if (::connect(fd, reinterpret_cast<sockaddr*>(&sin), sizeof sin) != 0) {
    ::close(fd);
    return -1;
  }
  return fd;
}

/// Reads what comes on `fd` until the server closes it or `wait` passes without a byte.
inline HttpReply read_reply(int fd, std::chrono::milliseconds wait) {
  HttpReply r;
  char buf[4096];
  for (;;) {
    pollfd p{fd, POLLIN, 0};
    if (::poll(&p, 1, static_cast<int>(wait.count())) != 1) break;
    const ssize_t n = ::recv(fd, buf, sizeof buf, 0);
    if (n <= 0) {
      r.closed = true;
      break;
    }
    r.raw.append(buf, static_cast<std::size_t>(n));
  }
  if (r.raw.rfind("HTTP/1.", 0) == 0 && r.raw.size() >= 12) r.status = std::atoi(r.raw.substr(9, 3).c_str());
  const auto end = r.raw.find("\r\n\r\n");
  if (end != std::string::npos) r.body = r.raw.substr(end + 4);
  return r;
}

/// Sends `request` as is and reads the reply.
inline HttpReply http_raw(std::uint16_t port, const std::string& request, std::chrono::milliseconds wait = std::chrono::milliseconds(3000)) {
  const int fd = connect_loopback(port);
  if (fd < 0) return {};
  (void)::send(fd, request.data(), request.size(), MSG_NOSIGNAL);
  auto r = read_reply(fd, wait);
  ::close(fd);
  return r;
}

}  // namespace wgsd::test
