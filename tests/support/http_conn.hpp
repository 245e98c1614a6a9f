// Raw HTTP/1.1 connections from the tests' side, for what a client does between the bytes: from a
// chosen loopback address, one answer at a time, and whether the server closed.
#pragma once

#include <catch2/catch.hpp>
#include <netinet/in.h>
#include <poll.h>
#include <sys/socket.h>
#include <unistd.h>

#include <chrono>
#include <cstdlib>
#include <string>

namespace wgsd::test {

using namespace std::chrono_literals;

// A TCP connection to 127.0.0.1:port from the loopback address `from` (127.0.0.x).
inline int connect_from(std::uint16_t port, std::uint8_t from) {
  const int fd = ::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
  sockaddr_in src{};
  src.sin_family = AF_INET;
  src.sin_addr.s_addr = htonl(0x7f000000U | from);
  sockaddr_in dst{};
  dst.sin_family = AF_INET;
  dst.sin_port = htons(port);
  dst.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  if (::bind(fd, reinterpret_cast<sockaddr*>(&src), sizeof src) != 0 || ::connect(fd, reinterpret_cast<sockaddr*>(&dst), sizeof dst) != 0) {
    ::close(fd);
    return -1;
  }
  return fd;
}

inline void send_all(int fd, const std::string& s) { REQUIRE(::send(fd, s.data(), s.size(), MSG_NOSIGNAL) == static_cast<ssize_t>(s.size())); }

struct Answer {
  int status{};
  std::string head;
  std::string body;
};

// Reads exactly one answer from `fd` (its head, then Content-Length bytes), within `wait`;
// `rest` keeps what came after it. status 0 when the connection closed or nothing came.
inline Answer read_one(int fd, std::string& rest, std::chrono::milliseconds wait = 3000ms, bool head_only = false) {
  const auto until = std::chrono::steady_clock::now() + wait;
  std::size_t need = std::string::npos;
  Answer a;
  for (;;) {
    const auto end = rest.find("\r\n\r\n");
    if (end != std::string::npos && need == std::string::npos) {
      a.head = rest.substr(0, end + 4);
      const auto cl = a.head.find("Content-Length: ");
      need = end + 4 + (head_only || cl == std::string::npos ? 0 : std::stoul(a.head.substr(cl + 16)));
    }
    if (need != std::string::npos && rest.size() >= need) {
      a.status = std::atoi(a.head.substr(9, 3).c_str());
      a.body = rest.substr(a.head.size(), need - a.head.size());
      rest.erase(0, need);
      return a;
    }
    const auto left = std::chrono::duration_cast<std::chrono::milliseconds>(until - std::chrono::steady_clock::now()).count();
    pollfd p{fd, POLLIN, 0};
    if (left <= 0 || ::poll(&p, 1, static_cast<int>(left)) != 1) return {};
    char buf[65536];
    const ssize_t n = ::recv(fd, buf, sizeof buf, 0);
    if (n <= 0) return {};
    rest.append(buf, static_cast<std::size_t>(n));
  }
}

// Whether the server closed `fd` within `wait` (reading and dropping whatever came first).
inline bool closed_within(int fd, std::chrono::milliseconds wait) {
  const auto until = std::chrono::steady_clock::now() + wait;
  char buf[65536];
  for (;;) {
    const auto left = std::chrono::duration_cast<std::chrono::milliseconds>(until - std::chrono::steady_clock::now()).count();
    pollfd p{fd, POLLIN, 0};
    if (left <= 0 || ::poll(&p, 1, static_cast<int>(left)) != 1) return false;
    if (::recv(fd, buf, sizeof buf, 0) <= 0) return true;
  }
}

}  // namespace wgsd::test
