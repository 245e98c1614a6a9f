#include "server/notify.hpp"

#include <time.h>

#include <cstdlib>
#include <cstring>

#include "server/spawn.hpp"
#include "util/sd_notify.hpp"

namespace wgsd::server {
namespace {

// How often the status line is looked at when no watchdog asks for more.
constexpr std::chrono::milliseconds status_period{1000};

}  // namespace

std::string status_line(const Server::Summary& s) {
  std::string line = "zones " + std::to_string(s.zones);
  if (s.loaded < s.zones) line += " (" + std::to_string(s.zones - s.loaded) + " waiting for the device)";
  return line + ", peers published " + std::to_string(s.published);
}

Notifier::Notifier(Log& log) : log_(log) {
  const char* socket = std::getenv("NOTIFY_SOCKET");
  enabled_ = socket != nullptr && *socket != '\0';
  std::uint64_t usec = 0;
  if (enabled_ && util::sd_watchdog_enabled(&usec) > 0 && usec > 0) watchdog_ = std::chrono::microseconds(usec);
}

Notifier::~Notifier() {
  {
    std::lock_guard lock(mutex_);
    stop_ = true;
  }
  wake_.notify_all();
  if (thread_.joinable()) thread_.join();
}

void Notifier::send(const std::string& message) {
  if (!enabled_) return;
  const int r = util::sd_notify(message);
  if (r > 0) return;
  std::lock_guard lock(mutex_);
  if (failed_) return;
  failed_ = true;
  log_.error("systemd notify: cannot send to NOTIFY_SOCKET: " + std::string(r < 0 ? std::strerror(-r) : "no socket"));
}

void Notifier::ready(const Server& server) {
  if (!enabled_) return;
  send("READY=1\nSTATUS=" + status_line(server.summary()));
  if (thread_.joinable()) return;
  server_ = &server;
  thread_ = spawn_thread("wgsd-notify", [this] { run(); });
}

void Notifier::reloading() {
  timespec now{};
  ::clock_gettime(CLOCK_MONOTONIC, &now);
  const auto usec = static_cast<std::uint64_t>(now.tv_sec) * 1000000U + static_cast<std::uint64_t>(now.tv_nsec) / 1000U;
  send("RELOADING=1\nMONOTONIC_USEC=" + std::to_string(usec) + "\nSTATUS=reloading the Corefile");
}

void Notifier::stopping() {
  {
    std::lock_guard lock(mutex_);
    stopping_ = true;
  }
  send("STOPPING=1\nSTATUS=stopping");
}

void Notifier::finish() {
  {
    std::lock_guard lock(mutex_);
    stop_ = true;
  }
  wake_.notify_all();
  if (thread_.joinable()) thread_.join();
}

void Notifier::run() {
  // Half the watchdog period, as sd_watchdog_enabled(3) advises; the status line at least every second.
  const auto half = std::chrono::duration_cast<std::chrono::milliseconds>(watchdog_ / 2);
  const auto period = watchdog_.count() > 0 ? std::min(half, status_period) : status_period;
  auto next_ping = std::chrono::steady_clock::now();
  std::string shown;
  bool withheld = false;
  std::unique_lock lock(mutex_);
  while (!stop_) {
    const bool stopping = stopping_;
    lock.unlock();
    const std::string line = status_line(server_->summary());
    if (!stopping && line != shown) {
      send("STATUS=" + line);
      shown = line;
    }
    const auto now = std::chrono::steady_clock::now();
    if (watchdog_.count() > 0 && now >= next_ping) {
      // A refresher stuck in one device read, or a listener thread gone, stops the pings: systemd
      // then restarts the service (WatchdogSec=, Restart=).
      if (server_->alive(watchdog_)) {
        send("WATCHDOG=1");
        if (withheld) log_.info("systemd watchdog: the server's threads are alive again");
        withheld = false;
      } else if (!withheld) {
        log_.error("systemd watchdog: a refresher or listener thread is stuck or gone; not pinging the watchdog");
        withheld = true;
      }
      next_ping = now + half;
    }
    lock.lock();
    wake_.wait_for(lock, period, [this] { return stop_; });
  }
}

}  // namespace wgsd::server
