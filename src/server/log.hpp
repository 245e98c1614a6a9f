// The server's log: CoreDNS-style "[INFO]"/"[ERROR]" lines. The threads that answer queries never
// wait for it: lines go into a bounded lock-free queue that a writer thread empties onto the
// output; when the queue is full a line is dropped and counted, and the count is logged later.
#pragma once

#include <atomic>
#include <chrono>
#include <condition_variable>
#include <cstdint>
#include <functional>
#include <memory>
#include <mutex>
#include <string>
#include <thread>

namespace wgsd::server {

struct LogLimits {
  std::size_t queue_lines{4096};                  ///< lines waiting for the writer (rounded up to a power of 2)
  unsigned error_burst{20};                       ///< rate-limited error lines let through per interval
  std::chrono::milliseconds error_interval{1000}; ///< the rate limit's window
  std::chrono::steady_clock::time_point (*clock)() = &std::chrono::steady_clock::now;  ///< the rate limit's clock (tests set their own)
};

class Log {
public:
  /// Lines go to standard error (file descriptor 2), written by a thread of the log's own.
  Log() : Log(2) {}
  /// Lines go to `fd`, which must outlive the log, written by a thread of the log's own.
  explicit Log(int fd, LogLimits limits = {});
  /// Tests: lines go to `sink` at once, on the caller's thread, one at a time.
  explicit Log(std::function<void(const std::string&)> sink, LogLimits limits = {});
  Log(const Log&) = delete;
  Log& operator=(const Log&) = delete;
  /// Writes what is queued, and the count of suppressed error lines if any; an output that takes
  /// nothing is waited for at most 2 s, then the lines left are dropped.
  ~Log();

  void info(const std::string& line);
  void error(const std::string& line);
  void write(std::string line);
  /// The writer thread drops every capability it holds; returns once it has (at most 2 s). The
  /// writer starts with its creator's: it must still hold them when the process switches users
  /// (glibc makes every thread change its ids), so it drops them when told.
  void drop_capabilities();

  /// For lines a remote party can cause (a packet dropped, a reply not sent): whether one more may
  /// be logged now. At most `error_burst` per `error_interval`; the others are counted, and the
  /// count is logged once the interval ends ("[ERROR] N error lines suppressed ..."). Ask first,
  /// then build the line: a flood of bad packets costs no string.
  [[nodiscard]] bool admit_limited();
  /// Lines dropped so far because the queue was full.
  [[nodiscard]] std::uint64_t dropped() const noexcept { return dropped_total_.load(std::memory_order_relaxed); }

private:
  struct Cell {
    std::atomic<std::size_t> sequence;
    std::string line;
  };
  void start_writer();
  bool try_push(std::string& line);
  bool try_pop(std::string& line);
  void run();
  void deliver(std::string& batch);
  void roll_window(std::chrono::steady_clock::time_point now, bool force);

  LogLimits limits_;
  int fd_{-1};
  std::function<void(const std::string&)> sink_;
  std::mutex sink_mutex_;
  // Bounded multi-producer queue (Vyukov): a cell is free for the producer whose ticket equals its
  // sequence, and full for the writer once its sequence is the ticket + 1.
  std::unique_ptr<Cell[]> cells_;
  std::size_t mask_{};
  std::atomic<std::size_t> enqueue_{0};
  std::size_t dequeue_{0};  // the writer's alone
  std::atomic<std::uint64_t> dropped_{0};
  std::atomic<std::uint64_t> dropped_total_{0};
  // Rate limit of admit_limited(): the window's start (steady clock, ns), lines let through in it
  // and lines suppressed since the last summary.
  std::atomic<std::int64_t> window_start_{0};
  std::atomic<unsigned> admitted_{0};
  std::atomic<std::uint64_t> suppressed_{0};
  std::atomic<bool> writer_asleep_{false};
  std::mutex wake_mutex_;
  std::condition_variable wake_;
  bool drop_caps_{};     // asked of the writer, under wake_mutex_
  bool caps_dropped_{};  // done, under wake_mutex_
  std::condition_variable caps_dropped_cv_;
  bool stop_{};
  std::atomic<bool> closing_{false};  // the destructor runs: a stuck output gets a bounded wait
  std::thread writer_;
};

}  // namespace wgsd::server
