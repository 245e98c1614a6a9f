#include "client/exchanges.hpp"

#include <poll.h>

#include <algorithm>
#include <cerrno>
#include <cstring>

namespace wgsd::client {

std::string run_exchanges(std::vector<std::unique_ptr<Exchange>>& exchanges, unsigned concurrency, int stop_fd) {
  std::size_t next = 0;
  std::vector<Exchange*> running;
  std::vector<pollfd> fds;
  for (;;) {
    const auto now = SteadyClock::now();
    std::erase_if(running, [](Exchange* e) { return e->state() != Exchange::State::running; });
    while (running.size() < std::max(1u, concurrency) && next < exchanges.size()) {
      Exchange* e = exchanges[next++].get();
      e->start(now);
      if (e->state() == Exchange::State::running) running.push_back(e);
    }
    if (running.empty()) return "";
    fds.clear();
    auto wake = now + std::chrono::milliseconds(100);
    for (auto* e : running) {
      fds.push_back({e->fd(), e->events(), 0});
      wake = std::min(wake, e->deadline());
    }
    if (stop_fd >= 0) fds.push_back({stop_fd, POLLIN, 0});
    const auto wait = std::chrono::ceil<std::chrono::milliseconds>(wake - now).count();
    const int r = ::poll(fds.data(), fds.size(), static_cast<int>(std::max<long long>(0, wait)));
    if (r < 0 && errno != EINTR) return std::string("poll: ") + std::strerror(errno);
    if (stop_fd >= 0 && r > 0 && (fds.back().revents & POLLIN) != 0) return "stopped";
    const auto then = SteadyClock::now();
    for (std::size_t i = 0; i < running.size(); ++i) {
      if (r > 0 && fds[i].revents != 0) running[i]->on_ready(fds[i].revents, then);
      running[i]->on_deadline(then);
    }
  }
}

}  // namespace wgsd::client
