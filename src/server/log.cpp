#include "server/log.hpp"

#include <limits.h>
#include <poll.h>
#include <pthread.h>

#include <optional>

#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstddef>

#include "server/privilege.hpp"

namespace wgsd::server {
namespace {

// The writer wakes at least this often: for the rate limit's summary, and in case a wake-up was
// missed (producers signal without taking the writer's lock, so that they never wait for it).
constexpr auto writer_tick = std::chrono::milliseconds(100);
constexpr std::size_t write_chunk = 64 * 1024;
// At shutdown, how long an output that takes nothing is waited for before its lines are left.
constexpr auto shutdown_drain = std::chrono::seconds(2);

std::int64_t ns_of(std::chrono::steady_clock::time_point t) {
  return std::chrono::duration_cast<std::chrono::nanoseconds>(t.time_since_epoch()).count();
}

}  // namespace

Log::Log(int fd, LogLimits limits) : limits_(limits), fd_(fd) { start_writer(); }

Log::Log(std::function<void(const std::string&)> sink, LogLimits limits) : limits_(limits), sink_(std::move(sink)) {
  window_start_.store(ns_of(limits_.clock()), std::memory_order_relaxed);
  if (!sink_) {
    fd_ = 2;
    start_writer();
  }
}

void Log::start_writer() {
  std::size_t size = 2;
  while (size < limits_.queue_lines) size <<= 1;
  cells_ = std::make_unique<Cell[]>(size);
  mask_ = size - 1;
  for (std::size_t i = 0; i < size; ++i) cells_[i].sequence.store(i, std::memory_order_relaxed);
  window_start_.store(ns_of(limits_.clock()), std::memory_order_relaxed);
  writer_ = std::thread([this] { run(); });
}

Log::~Log() {
  closing_.store(true, std::memory_order_relaxed);
  if (writer_.joinable()) {
    {
      std::lock_guard lock(wake_mutex_);
      stop_ = true;
    }
    wake_.notify_one();
    writer_.join();
    return;
  }
  roll_window(limits_.clock(), true);
}

void Log::info(const std::string& line) { write("[INFO] " + line); }
void Log::error(const std::string& line) { write("[ERROR] " + line); }

void Log::write(std::string line) {
  if (sink_) {
    std::lock_guard lock(sink_mutex_);
    sink_(line);
    return;
  }
  if (!try_push(line)) {
    dropped_.fetch_add(1, std::memory_order_relaxed);
    dropped_total_.fetch_add(1, std::memory_order_relaxed);
    return;
  }
  // Without the writer's lock: a wake-up lost to the race costs at most one tick of delay.
  if (writer_asleep_.load(std::memory_order_seq_cst)) wake_.notify_one();
}

bool Log::admit_limited() {
  roll_window(limits_.clock(), false);
  if (admitted_.fetch_add(1, std::memory_order_relaxed) < limits_.error_burst) return true;
  suppressed_.fetch_add(1, std::memory_order_relaxed);
  return false;
}

void Log::roll_window(std::chrono::steady_clock::time_point now, bool force) {
  auto start = window_start_.load(std::memory_order_relaxed);
  const auto at = ns_of(now);
  if (!force && at - start < std::chrono::nanoseconds(limits_.error_interval).count()) return;
  if (!window_start_.compare_exchange_strong(start, at, std::memory_order_relaxed)) return;  // another thread rolled it
  admitted_.store(0, std::memory_order_relaxed);
  if (const auto n = suppressed_.exchange(0, std::memory_order_relaxed); n > 0) {
    write("[ERROR] " + std::to_string(n) + (n == 1 ? " error line" : " error lines") + " suppressed: at most " +
          std::to_string(limits_.error_burst) + " are logged every " + std::to_string(limits_.error_interval.count()) + "ms");
  }
}

bool Log::try_push(std::string& line) {
  std::size_t ticket = enqueue_.load(std::memory_order_relaxed);
  for (;;) {
    Cell& cell = cells_[ticket & mask_];
    const std::size_t sequence = cell.sequence.load(std::memory_order_acquire);
    const auto lag = static_cast<std::ptrdiff_t>(sequence - ticket);
    if (lag == 0) {
      if (enqueue_.compare_exchange_weak(ticket, ticket + 1, std::memory_order_relaxed)) {
        cell.line = std::move(line);  // the cell's string is empty: nothing is freed here
        cell.sequence.store(ticket + 1, std::memory_order_release);
        return true;
      }
    } else if (lag < 0) {
      return false;  // full: the writer has not taken this cell's previous line yet
    } else {
      ticket = enqueue_.load(std::memory_order_relaxed);
    }
  }
}

bool Log::try_pop(std::string& line) {
  Cell& cell = cells_[dequeue_ & mask_];
  const std::size_t sequence = cell.sequence.load(std::memory_order_acquire);
  if (static_cast<std::ptrdiff_t>(sequence - (dequeue_ + 1)) < 0) return false;
  line.swap(cell.line);  // `line` comes in empty: the cell is left without a buffer
  cell.sequence.store(dequeue_ + mask_ + 1, std::memory_order_release);
  ++dequeue_;
  return true;
}

void Log::deliver(std::string& batch) {
  // Written only when the output can take it, at most a pipe's atomic size at a time, so that a
  // stuck output (a terminal on hold, a pipe nobody reads) never blocks this thread in write():
  // at shutdown it gets a bounded time to drain, and what it cannot take is left.
  std::size_t done = 0;
  std::optional<std::chrono::steady_clock::time_point> deadline;
  while (done < batch.size()) {
    pollfd p{fd_, POLLOUT, 0};
    const int ready = ::poll(&p, 1, static_cast<int>(writer_tick.count()));
    if (ready < 0 && errno != EINTR) break;
    if (ready <= 0) {
      if (!closing_.load(std::memory_order_relaxed)) continue;
      const auto now = std::chrono::steady_clock::now();
      if (!deadline) deadline = now + shutdown_drain;
      if (now >= *deadline) break;
      continue;
    }
    if ((p.revents & (POLLERR | POLLHUP | POLLNVAL)) != 0 && (p.revents & POLLOUT) == 0) break;
    const ssize_t n = ::write(fd_, batch.data() + done, std::min<std::size_t>(batch.size() - done, PIPE_BUF));
    if (n < 0 && (errno == EINTR || errno == EAGAIN)) continue;
    if (n <= 0) break;  // the output is gone: nothing better to do with the lines
    done += static_cast<std::size_t>(n);
  }
  batch.clear();
}

void Log::drop_capabilities() {
  if (!writer_.joinable()) return;
  std::unique_lock lock(wake_mutex_);
  drop_caps_ = true;
  wake_.notify_one();
  caps_dropped_cv_.wait_for(lock, std::chrono::seconds(2), [this] { return caps_dropped_; });
}

void Log::run() {
  (void)::pthread_setname_np(::pthread_self(), "wgsd-log");
  std::string batch;
  for (;;) {
    bool stopping = false;
    {
      std::lock_guard lock(wake_mutex_);
      stopping = stop_;
      if (drop_caps_ && !caps_dropped_) {
        privilege::enter_thread("wgsd-log", 0);
        caps_dropped_ = true;
        caps_dropped_cv_.notify_all();
      }
    }
    roll_window(limits_.clock(), stopping);
    for (;;) {
      std::string line;
      if (!try_pop(line)) break;
      batch += line;
      batch += '\n';
      if (batch.size() >= write_chunk) deliver(batch);
    }
    if (const auto n = dropped_.exchange(0, std::memory_order_relaxed); n > 0) {
      batch += "[ERROR] log: " + std::to_string(n) + (n == 1 ? " line" : " lines") + " dropped: the output did not keep up\n";
    }
    deliver(batch);
    if (stopping) return;
    std::unique_lock lock(wake_mutex_);
    writer_asleep_.store(true, std::memory_order_seq_cst);
    if (!stop_ && !(drop_caps_ && !caps_dropped_) && enqueue_.load(std::memory_order_seq_cst) == dequeue_) wake_.wait_for(lock, writer_tick);
    writer_asleep_.store(false, std::memory_order_relaxed);
  }
}

}  // namespace wgsd::server
