#include "server/http_loop.hpp"

#include <netinet/in.h>
#include <netinet/tcp.h>
#include <sys/epoll.h>
#include <sys/eventfd.h>
#include <sys/socket.h>
#include <sys/uio.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstring>
#include <exception>
#include <iostream>
#include <stdexcept>
#include <thread>

#include "server/http_request.hpp"

namespace wgsd::server::http {
namespace {

// After an answer that closes the connection, what the client still sends is read and dropped for
// this long at most, so that closing with unread bytes does not reset the answer away.
constexpr std::chrono::seconds linger{2};
// Out of descriptors: how long accepting pauses before it is tried again.
constexpr std::chrono::milliseconds accept_pause{100};
// Pipelined requests answered for one connection before the others get their turn.
constexpr int requests_per_turn = 16;
// A failure no connection could be blamed for is logged at most this often.
constexpr std::chrono::seconds log_interval{60};

}  // namespace

std::string client_key(const sockaddr_storage& ss) {
  std::string peer;
  if (ss.ss_family == AF_INET6) {
    // A host is given a /64 and may use any address in it; an IPv4 client on a dual-stack socket
    // is counted by its IPv4 address.
    const auto& a = reinterpret_cast<const sockaddr_in6&>(ss).sin6_addr;
    if (IN6_IS_ADDR_V4MAPPED(&a)) {
      peer.assign(reinterpret_cast<const char*>(&a) + 12, 4);
    } else {
      peer.assign(reinterpret_cast<const char*>(&a), 8);
    }
  } else if (ss.ss_family == AF_INET) {
    const auto& a = reinterpret_cast<const sockaddr_in&>(ss).sin_addr;
    peer.assign(reinterpret_cast<const char*>(&a), sizeof a);
  }
  return peer;
}

struct Loop::Connection {
  wg::UniqueFd fd;
  std::string peer;         // the client's address bytes
  std::string in;           // received, not yet answered (bounded by memory_per_connection)
  std::string head;         // the answer being sent: its head,
  std::string body;         // then its body
  std::size_t sent{};       // bytes of head + body sent
  bool writing{};           // an answer is being sent: nothing more is read meanwhile
  bool close_after{};       // the connection closes once the answer is sent
  bool draining{};          // answered and shut for writing: reading until the client closes
  bool eof{};               // the client sent all it will send
  bool yielded{};           // requests are left to answer once the others had their turn
  std::size_t scanned{};    // how far `in` was searched for the end of a head
  unsigned events{};        // what epoll watches for it
  Clock::time_point since;  // when it began waiting for its current request (accepted or answered)
  // Closed then: an idle connection or a head from its first byte after the timeout, never
  // extended by more bytes; an answer after the timeout plus its size at the minimum rate.
  Clock::time_point deadline;
};

Loop::Loop(wg::UniqueFd listener, HttpLimits limits, Answer answer)
    : listener_(std::move(listener)), limits_(limits), answer_(std::move(answer)) {
  epoll_ = wg::UniqueFd(::epoll_create1(EPOLL_CLOEXEC));
  wake_ = wg::UniqueFd(::eventfd(0, EFD_NONBLOCK | EFD_CLOEXEC));
  if (!epoll_ || !wake_) throw std::runtime_error(std::string("cannot start the HTTP server: ") + std::strerror(errno));
  for (const int fd : {listener_.get(), wake_.get()}) {
    epoll_event ev{};
    ev.events = EPOLLIN;
    ev.data.fd = fd;
    if (::epoll_ctl(epoll_.get(), EPOLL_CTL_ADD, fd, &ev) != 0) throw std::runtime_error(std::string("cannot start the HTTP server: ") + std::strerror(errno));
  }
}

Loop::~Loop() = default;

void Loop::stop() noexcept {
  const std::uint64_t one = 1;
  (void)!::write(wake_.get(), &one, sizeof one);
}

void Loop::run() {
  epoll_event events[64];
  for (;;) {
    const int n = ::epoll_wait(epoll_.get(), events, 64, wait_ms(Clock::now()));
    if (n < 0 && errno != EINTR) std::this_thread::sleep_for(accept_pause);  // cannot happen with valid descriptors
    const auto now = Clock::now();
    for (int i = 0; i < n; ++i) {
      const int fd = events[i].data.fd;
      if (fd == wake_.get()) return;
      if (fd == listener_.get()) {
        try {
          accept_all(now);
        } catch (...) {  // accept_all catches per connection; this is the last resort
          log_failure();
        }
        continue;
      }
      const auto it = connections_.find(fd);
      if (it == connections_.end()) continue;  // closed by an earlier event of this round
      try {
        on_event(*it->second, events[i].events, now);
      } catch (...) {  // out of memory for one answer: that connection goes
        if (const auto again = connections_.find(fd); again != connections_.end()) close(*again->second);
      }
    }
    try {
      expire(Clock::now());
    } catch (...) {  // nothing there throws; should it ever, the thread serves on
      log_failure();
    }
    if (accept_paused_ && Clock::now() >= accept_paused_until_) {
      epoll_event ev{};
      ev.events = EPOLLIN;
      ev.data.fd = listener_.get();
      ::epoll_ctl(epoll_.get(), EPOLL_CTL_MOD, listener_.get(), &ev);
      accept_paused_ = false;
    }
  }
}

void Loop::accept_all(Clock::time_point now) {
  for (;;) {
    sockaddr_storage ss{};
    socklen_t len = sizeof ss;
    const int fd = ::accept4(listener_.get(), reinterpret_cast<sockaddr*>(&ss), &len, SOCK_NONBLOCK | SOCK_CLOEXEC);
    if (fd < 0) {
      if (errno == EINTR || errno == ECONNABORTED) continue;
      if (errno == EMFILE || errno == ENFILE || errno == ENOBUFS || errno == ENOMEM) {
        // The pending connection stays queued: stop watching the socket for a moment rather than spin.
        epoll_event ev{};
        ev.data.fd = listener_.get();
        ::epoll_ctl(epoll_.get(), EPOLL_CTL_MOD, listener_.get(), &ev);
        accept_paused_ = true;
        accept_paused_until_ = now + accept_pause;
      }
      return;
    }
    wg::UniqueFd owned(fd);
    try {
      admit(std::move(owned), ss, now);
    } catch (...) {  // out of memory for this one: it is closed, the others are served on
    }
  }
}

void Loop::admit(wg::UniqueFd fd, const sockaddr_storage& address, Clock::time_point now) {
  // Past its client's share the connection is closed at once, unanswered; past max_connections
  // the oldest connection waiting for a request makes room, or else the newcomer is closed.
  const std::string peer = client_key(address);
  const unsigned per_peer_limit = std::max(1U, limits_.max_connections / 4);
  if (const auto it = per_peer_.find(peer); it != per_peer_.end() && it->second >= per_peer_limit) return;
  if (connections_.size() >= limits_.max_connections && !evict_one()) return;
  const int raw = fd.get();
  const int one = 1;
  ::setsockopt(raw, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
  auto& share = per_peer_[peer];
  try {
    auto c = std::make_unique<Connection>();
    c->fd = std::move(fd);
    c->peer = peer;
    c->since = now;
    c->deadline = now + limits_.timeout;
    c->events = EPOLLIN;
    const auto [it, inserted] = connections_.emplace(raw, std::move(c));
    epoll_event ev{};
    ev.events = EPOLLIN;
    ev.data.fd = raw;
    if (!inserted || ::epoll_ctl(epoll_.get(), EPOLL_CTL_ADD, raw, &ev) != 0) {
      if (inserted) connections_.erase(it);
      if (share == 0) per_peer_.erase(peer);
      return;
    }
    ++share;
  } catch (...) {
    if (share == 0) per_peer_.erase(peer);
    throw;
  }
}

bool Loop::evict_one() {
  // Idle between requests, still reading a head, or lingering after its answer: an answer being
  // written stays (its own deadline bounds it).
  Connection* oldest = nullptr;
  for (const auto& [fd, c] : connections_) {
    if (c->writing) continue;
    if (oldest == nullptr || c->since < oldest->since) oldest = c.get();
  }
  if (oldest == nullptr) return false;
  close(*oldest);
  return true;
}

void Loop::log_failure() noexcept {
  ++failures_;
  const auto now = Clock::now();
  if (logged_ != Clock::time_point{} && now - logged_ < log_interval) return;
  logged_ = now;
  try {
    std::cerr << "wgsd-server: HTTP: unexpected failure (" << failures_ << " so far); serving on\n";
  } catch (...) {
  }
}

void Loop::on_event(Connection& c, unsigned events, Clock::time_point now) {
  if (c.writing && (events & (EPOLLOUT | EPOLLERR | EPOLLHUP)) != 0) {
    if (send_pending(c, now) == Sent::done) serve(c, now);  // a request that came in meanwhile (pipelined)
    return;
  }
  if (c.yielded) {  // the others had their turn: on with the requests already read
    c.yielded = false;
    serve(c, now);
    return;
  }
  if ((events & (EPOLLIN | EPOLLERR | EPOLLHUP)) != 0) receive(c, now);
}

void Loop::receive(Connection& c, Clock::time_point now) {
  const int fd = c.fd.get();
  char buf[16384];
  if (c.draining) {  // the answer is out: what comes now is dropped until the client closes
    for (;;) {
      const ssize_t n = ::recv(fd, buf, sizeof buf, 0);
      if (n > 0) continue;
      if (n < 0 && (errno == EAGAIN || errno == EINTR)) return;
      close(c);
      return;
    }
  }
  // Never more than the limit plus one byte is held: a head not ended by then is a 431.
  while (!c.eof && c.in.size() <= limits_.memory_per_connection) {
    const std::size_t room = std::min(sizeof buf, limits_.memory_per_connection + 1 - c.in.size());
    const ssize_t n = ::recv(fd, buf, room, 0);
    if (n > 0) {
      if (c.in.empty()) c.deadline = now + limits_.timeout;  // a head's first byte: its deadline, for good
      c.in.append(buf, static_cast<std::size_t>(n));
      continue;
    }
    if (n == 0) {
      c.eof = true;
      break;
    }
    if (errno == EINTR) continue;
    if (errno == EAGAIN) break;
    close(c);
    return;
  }
  serve(c, now);
}

void Loop::serve(Connection& c, Clock::time_point now) {
  // Requests are answered one after another, in order; the next is read once its predecessor's
  // answer is sent. After requests_per_turn of them, the others get their turn first.
  for (int served = 0; !c.writing && !c.draining; ++served) {
    const Parsed p = parse_request(c.in, limits_.memory_per_connection, c.scanned);
    if (p.kind == Parsed::Kind::incomplete) {
      c.scanned = p.scanned;
      if (c.eof) {
        close(c);
        return;
      }
      if (c.in.size() > limits_.memory_per_connection) {  // cannot happen: parse_request said 431
        close(c);
        return;
      }
      watch(c, EPOLLIN);
      return;
    }
    if (served == requests_per_turn) {  // writable at once: back here after one round of epoll
      c.yielded = true;
      watch(c, EPOLLOUT);
      return;
    }
    c.scanned = 0;
    HttpResponse response;
    bool keep_alive = false;
    bool head_only = false;
    if (p.kind == Parsed::Kind::error) {
      response = {p.status, "text/plain; charset=utf-8", p.reason + "\n"};
      c.in.clear();
    } else {
      c.in.erase(0, p.consumed);
      bool failed = false;
      try {
        response = answer_(p.request.path);
      } catch (...) {
        failed = true;
      }
      if (failed) {
        response = {500, "text/plain; charset=utf-8", "internal error\n"};
      } else {
        // A client that sent all it will send gets its complete requests answered; the last one
        // says the connection closes.
        keep_alive = p.request.keep_alive && (!c.eof || parse_request(c.in, limits_.memory_per_connection).kind != Parsed::Kind::incomplete);
        head_only = p.request.head;
      }
    }
    c.head = response_head(response, keep_alive, p.kind == Parsed::Kind::error && p.status == 405);
    c.body = head_only ? std::string() : std::move(response.body);
    c.sent = 0;
    c.writing = true;
    c.close_after = !keep_alive;
    // Its own deadline: the timeout, plus its size at the minimum rate.
    const auto size = static_cast<double>(c.head.size() + c.body.size());
    c.deadline = now + limits_.timeout +
                 std::chrono::duration_cast<Clock::duration>(std::chrono::duration<double>(size / static_cast<double>(std::max<std::size_t>(1, limits_.min_send_rate))));
    if (send_pending(c, now) == Sent::closed) return;
  }
}

Loop::Sent Loop::send_pending(Connection& c, Clock::time_point now) {
  const std::size_t total = c.head.size() + c.body.size();
  while (c.sent < total) {
    iovec iov[2];
    int count = 0;
    if (c.sent < c.head.size()) iov[count++] = {c.head.data() + c.sent, c.head.size() - c.sent};
    const std::size_t body_from = c.sent > c.head.size() ? c.sent - c.head.size() : 0;
    if (body_from < c.body.size()) iov[count++] = {c.body.data() + body_from, c.body.size() - body_from};
    msghdr msg{};
    msg.msg_iov = iov;
    msg.msg_iovlen = static_cast<std::size_t>(count);
    const ssize_t n = ::sendmsg(c.fd.get(), &msg, MSG_NOSIGNAL);
    if (n > 0) {
      c.sent += static_cast<std::size_t>(n);
      continue;
    }
    if (n < 0 && errno == EINTR) continue;
    if (n < 0 && errno == EAGAIN) {  // the client reads slowly: go on when it has read
      watch(c, EPOLLOUT);
      return Sent::pending;
    }
    close(c);
    return Sent::closed;
  }
  std::string().swap(c.head);
  std::string().swap(c.body);  // a large page's memory goes back at once
  c.writing = false;
  c.since = now;
  c.deadline = now + limits_.timeout;  // idle, or the next head (pipelined) from now
  if (c.close_after) {
    if (c.eof) {
      close(c);
      return Sent::closed;
    }
    ::shutdown(c.fd.get(), SHUT_WR);
    c.draining = true;
    c.in.clear();
    c.deadline = now + std::min<Clock::duration>(linger, limits_.timeout);
  }
  watch(c, EPOLLIN);
  return Sent::done;
}

void Loop::watch(Connection& c, unsigned events) {
  if (c.events == events) return;
  epoll_event ev{};
  ev.events = events;
  ev.data.fd = c.fd.get();
  if (::epoll_ctl(epoll_.get(), EPOLL_CTL_MOD, c.fd.get(), &ev) == 0) c.events = events;
}

void Loop::close(Connection& c) {
  const int fd = c.fd.get();
  ::epoll_ctl(epoll_.get(), EPOLL_CTL_DEL, fd, nullptr);
  if (const auto it = per_peer_.find(c.peer); it != per_peer_.end() && --it->second == 0) per_peer_.erase(it);
  connections_.erase(fd);  // closes it; `c` is gone
}

int Loop::wait_ms(Clock::time_point now) const {
  auto next = Clock::time_point::max();
  for (const auto& [fd, c] : connections_) next = std::min(next, c->deadline);
  if (accept_paused_) next = std::min(next, accept_paused_until_);
  if (next == Clock::time_point::max()) return -1;
  if (next <= now) return 0;
  return static_cast<int>(std::chrono::duration_cast<std::chrono::milliseconds>(next - now).count()) + 1;
}

void Loop::expire(Clock::time_point now) {
  // Idle, a head unfinished, or an answer unread past their deadlines: closed.
  for (auto it = connections_.begin(); it != connections_.end();) {
    Connection& c = *it->second;
    ++it;
    if (c.deadline > now) continue;
    if (c.writing) {  // reset rather than leave what is queued to the reader that did not read it
      const struct linger reset{1, 0};
      ::setsockopt(c.fd.get(), SOL_SOCKET, SO_LINGER, &reset, sizeof reset);
    }
    close(c);
  }
}

}  // namespace wgsd::server::http
