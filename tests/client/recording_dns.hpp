// A DNS proxy on loopback in front of a real registry: forwards every query over the transport it
// came by and records the answers, and can instead replay a recorded answer to a later query, as an
// attacker on the path would (the header ID set to the new query's, the rest byte for byte).
#pragma once

#include <netinet/in.h>
#include <poll.h>
#include <sys/socket.h>
#include <unistd.h>

#include <map>
#include <mutex>
#include <optional>
#include <utility>

#include "scripted_dns.hpp"

namespace wgsd::test {

/// One exchange with a DNS server on 127.0.0.1:`port`; empty when it does not answer within 2 s.
inline std::vector<std::uint8_t> ask_loopback(std::uint16_t port, const std::vector<std::uint8_t>& query, bool tcp) {
  const int fd = ::socket(AF_INET, tcp ? SOCK_STREAM : SOCK_DGRAM, 0);
  if (fd < 0) return {};
  const timeval tv{2, 0};
  ::setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof tv);
  const sockaddr_in to = loopback_address(port);
  std::vector<std::uint8_t> out;
  if (::connect(fd, reinterpret_cast<const sockaddr*>(&to), sizeof to) == 0) {
    if (tcp) {
      const auto f = framed(query);
      if (::send(fd, f.data(), f.size(), MSG_NOSIGNAL) == static_cast<ssize_t>(f.size())) out = read_message(fd);
    } else if (::send(fd, query.data(), query.size(), 0) == static_cast<ssize_t>(query.size())) {
      out.resize(65535);
      const ssize_t n = ::recv(fd, out.data(), out.size(), 0);
      out.resize(n > 0 ? static_cast<std::size_t>(n) : 0);
    }
  }
  ::close(fd);
  return out;
}

class RecordingDns {
public:
  /// One (query, answer) pair as it went through.
  struct Exchange {
    std::vector<std::uint8_t> query;
    std::vector<std::uint8_t> answer;
    bool tcp{};
  };

  explicit RecordingDns(std::uint16_t upstream)
      : upstream_(upstream), dns_([this](const std::vector<std::uint8_t>& q, bool tcp, unsigned) { return handle(q, tcp); }) {}

  std::uint16_t port() const { return dns_.port(); }

  /// The last exchange of `qtype` over `tcp` recorded so far.
  std::optional<Exchange> last(std::uint16_t qtype, bool tcp) const {
    std::lock_guard lock(mutex_);
    for (auto it = log_.rbegin(); it != log_.rend(); ++it) {
      if (it->tcp == tcp && qtype_of(it->query) == qtype) return *it;
    }
    return std::nullopt;
  }
  /// From now on, queries of `qtype` over `tcp` get `answer` (its ID set to theirs) instead of the
  /// registry's; every other query still goes to the registry.
  void replay(std::uint16_t qtype, bool tcp, std::vector<std::uint8_t> answer) {
    std::lock_guard lock(mutex_);
    replays_[{qtype, tcp}] = std::move(answer);
  }
  /// The queries answered by a replay so far.
  std::vector<std::vector<std::uint8_t>> replayed_to() const {
    std::lock_guard lock(mutex_);
    return replayed_to_;
  }

private:
  // The bytes of a message's one question (name, type, class) after the header; 0 if unreadable.
  static std::size_t question_size(const std::vector<std::uint8_t>& m) {
    std::size_t at = 12;
    while (at < m.size() && m[at] != 0) {
      if ((m[at] & 0xc0) != 0) return 0;
      at += 1 + m[at];
    }
    return at + 5 <= m.size() ? at + 5 - 12 : 0;
  }

  std::vector<ScriptedDns::Send> handle(const std::vector<std::uint8_t>& q, bool tcp) {
    {
      std::lock_guard lock(mutex_);
      if (const auto it = replays_.find({qtype_of(q), tcp}); it != replays_.end() && q.size() >= 2) {
        auto answer = it->second;
        std::copy(q.begin(), q.begin() + 2, answer.begin());  // the ID is outside the MAC: a replayer sets it
        // The question too, with the new query's letter case (a client that mixes the case of the
        // names it asks checks it is echoed): a replayer who can change bytes changes these.
        const std::size_t question = question_size(q);
        if (question != 0 && question == question_size(answer)) std::copy(q.begin() + 12, q.begin() + 12 + question, answer.begin() + 12);
        replayed_to_.push_back(q);
        return {{answer}};
      }
    }
    auto answer = ask_loopback(upstream_, q, tcp);
    if (answer.empty()) return {};
    std::lock_guard lock(mutex_);
    log_.push_back({q, answer, tcp});
    return {{answer}};
  }

  std::uint16_t upstream_;
  mutable std::mutex mutex_;
  std::vector<Exchange> log_;
  std::map<std::pair<std::uint16_t, bool>, std::vector<std::uint8_t>> replays_;
  std::vector<std::vector<std::uint8_t>> replayed_to_;
  ScriptedDns dns_;  // last: its thread starts once the rest is ready, and stops before the rest goes
};

}  // namespace wgsd::test
