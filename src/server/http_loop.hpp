// The thread of one HTTP address: epoll over the listening socket and its connections, every
// socket non-blocking, so that a slow or hostile client never holds up another. Internal to
// HttpServer (src/server/http.cpp).
#pragma once

#include <chrono>
#include <functional>
#include <memory>
#include <string>
#include <string_view>
#include <unordered_map>

#include "server/http.hpp"
#include "wg/unique_fd.hpp"

struct sockaddr_storage;

namespace wgsd::server::http {

/// What a client's connections are counted under: its IPv4 address (IPv4-mapped IPv6 included), or
/// the /64 of its IPv6 address.
std::string client_key(const sockaddr_storage& address);

class Loop {
public:
  using Answer = std::function<HttpResponse(std::string_view path)>;
  /// Serves `listener` (listening, non-blocking) once run() is called. Throws std::runtime_error
  /// when the epoll or wake-up descriptors cannot be made.
  Loop(wg::UniqueFd listener, HttpLimits limits, Answer answer);
  ~Loop();
  Loop(const Loop&) = delete;
  Loop& operator=(const Loop&) = delete;

  /// Answers until stop(); on the HTTP thread.
  void run();
  /// From any thread: run() returns soon after.
  void stop() noexcept;

private:
  using Clock = std::chrono::steady_clock;
  struct Connection;

  void accept_all(Clock::time_point now);
  void admit(wg::UniqueFd fd, const sockaddr_storage& address, Clock::time_point now);
  /// Closes the oldest connection not writing an answer; false when every one is.
  bool evict_one();
  void log_failure() noexcept;
  void on_event(Connection& c, unsigned events, Clock::time_point now);
  void receive(Connection& c, Clock::time_point now);
  void serve(Connection& c, Clock::time_point now);
  enum class Sent { pending, done, closed };
  /// Sends what it can of the answer; done: all of it (the connection may be draining).
  Sent send_pending(Connection& c, Clock::time_point now);
  void watch(Connection& c, unsigned events);
  void close(Connection& c);
  int wait_ms(Clock::time_point now) const;
  void expire(Clock::time_point now);

  wg::UniqueFd listener_;
  wg::UniqueFd epoll_;
  wg::UniqueFd wake_;
  HttpLimits limits_;
  Answer answer_;
  std::unordered_map<int, std::unique_ptr<Connection>> connections_;
  std::unordered_map<std::string, unsigned> per_peer_;  // open connections by client address
  Clock::time_point accept_paused_until_{};  // out of descriptors: accepting resumes then
  bool accept_paused_{};
  unsigned long failures_{};     // failures no connection could be blamed for
  Clock::time_point logged_{};   // when the last of them was logged
};

}  // namespace wgsd::server::http
