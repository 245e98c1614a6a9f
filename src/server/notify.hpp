// systemd's notify protocol (sd_notify(3)): READY=1 once every zone has its first snapshot,
// RELOADING=1 and READY=1 around a SIGHUP, STOPPING=1, a STATUS= line kept current, and WATCHDOG=1
// while the server's threads are alive, when the unit sets WatchdogSec=. Without NOTIFY_SOCKET in
// the environment (not started by systemd as Type=notify) every call does nothing.
#pragma once

#include <atomic>
#include <chrono>
#include <condition_variable>
#include <mutex>
#include <string>
#include <thread>

#include "server/query_log.hpp"
#include "server/server.hpp"

namespace wgsd::server {

/// "zones N, peers published M", with the zones still waiting for their device when there are any.
std::string status_line(const Server::Summary& summary);

class Notifier {
public:
  /// Reads NOTIFY_SOCKET and WATCHDOG_USEC from the environment.
  explicit Notifier(Log& log);
  Notifier(const Notifier&) = delete;
  Notifier& operator=(const Notifier&) = delete;
  ~Notifier();

  [[nodiscard]] bool enabled() const noexcept { return enabled_; }
  /// The watchdog period systemd asked for; zero when it asked for none.
  [[nodiscard]] std::chrono::microseconds watchdog() const noexcept { return watchdog_; }

  /// READY=1 with the status line. The first call starts the thread that keeps STATUS= current and
  /// sends WATCHDOG=1 every half period while `server.alive()`; `server` must outlive this.
  void ready(const Server& server);
  /// RELOADING=1 with MONOTONIC_USEC (a SIGHUP); ready() follows when the reload is done.
  void reloading();
  /// STOPPING=1. The thread goes on sending WATCHDOG=1 (the server still answers during a
  /// lameduck wait, and systemd must not kill it then) until finish().
  void stopping();
  /// The thread ends: no WATCHDOG=1 while the server stops.
  void finish();

private:
  void send(const std::string& message);
  void run();

  Log& log_;
  bool enabled_{};
  std::chrono::microseconds watchdog_{0};
  const Server* server_{};
  std::thread thread_;
  std::mutex mutex_;
  std::condition_variable wake_;
  bool stop_{};
  bool stopping_{};  // STOPPING=1 sent: the status line stays "stopping"
  bool failed_{};  // a send failed: said once
};

}  // namespace wgsd::server
