// Thread creation for the server's threads, with a seam for tests: creating a thread fails when the
// process is out of threads (RLIMIT_NPROC, memory), and the code that creates them must be shown
// to survive that. Every thread is named and starts by dropping every capability it did not ask
// for: the threads that parse network input hold none.
#pragma once

#include <atomic>
#include <cerrno>
#include <system_error>
#include <thread>
#include <utility>

#include "server/privilege.hpp"

namespace wgsd::server {

namespace testing {
/// Tests: how many more threads may be created before spawn_thread() throws (negative: no limit).
inline std::atomic<int> spawns_left{-1};
}  // namespace testing

/// std::thread(f) named `name` (at most 15 characters), with exactly `caps` (effective and permitted,
/// empty inheritable) from its first line; throws std::system_error as std::thread does when no
/// thread can be created.
template <typename F>
std::thread spawn_thread(const char* name, privilege::Caps caps, F&& f) {
  int left = testing::spawns_left.load(std::memory_order_relaxed);
  while (left >= 0) {
    if (left == 0) throw std::system_error(EAGAIN, std::generic_category(), "cannot create a thread");
    if (testing::spawns_left.compare_exchange_weak(left, left - 1, std::memory_order_relaxed)) break;
  }
  return std::thread([name, caps, f = std::forward<F>(f)]() mutable {
    privilege::enter_thread(name, caps);
    f();
  });
}

/// spawn_thread() of a thread that holds no capability.
template <typename F>
std::thread spawn_thread(const char* name, F&& f) {
  return spawn_thread(name, privilege::Caps{0}, std::forward<F>(f));
}

}  // namespace wgsd::server
