// UDP and TCP listeners of one port. UDP: one SO_REUSEPORT socket per worker thread and address,
// batched with recvmmsg/sendmmsg. TCP (RFC 7766): one epoll thread with pipelining, an idle
// timeout and a connection cap. Neither ever touches a device: they answer from SnapshotHolder.
#pragma once

#include <atomic>
#include <chrono>
#include <cstdint>
#include <memory>
#include <thread>
#include <vector>

#include "server/dns_metrics.hpp"
#include "server/peer_cache.hpp"
#include "server/query_log.hpp"
#include "wg/unique_fd.hpp"

namespace wgsd::server {

struct ListenerOptions {
  std::uint16_t port{53};
  std::vector<wg::IpAddress> addresses;                  ///< empty: 0.0.0.0 and ::
  unsigned udp_workers{0};                               ///< 0: one per usable CPU (affinity, cgroup quota)
  std::size_t max_tcp_connections{256};                  ///< past it, the longest-idle connection is closed
  std::chrono::milliseconds tcp_idle_timeout{10000};     ///< RFC 7766 §6.2.3 suggests seconds, not minutes
  bool log{};                                            ///< one line per query
  bool errors{};                                         ///< log dropped and malformed queries
  std::shared_ptr<const dns::Acl> acl;                   ///< who may ask here (the blocks' `acl`); null: everybody
  bool ipv6_optional{};                                  ///< `::` among `addresses` may fail (a host without IPv6), as with the wildcard
  bool count{};                                          ///< count every query into the metrics (`prometheus`)
};

namespace testing {
/// Tests: this many of the UDP workers' next polls fail with ENOMEM.
inline std::atomic<int> failed_polls{0};
/// Tests: this many of the TCP thread's next accepts fail with EMFILE (the spare descriptor's
/// accept, which closes the connection, is real).
inline std::atomic<int> failed_accepts{0};
/// Tests: IPv6 sockets cannot be made, as on a host booted without IPv6.
inline std::atomic<bool> no_ipv6{false};
}  // namespace testing

class Listener {
public:
  /// Binds every socket at once; throws std::runtime_error naming the address on failure. With
  /// `metrics`, each thread counts its queries into a block of its own while `count` is set.
  Listener(ListenerOptions options, const SnapshotHolder& holder, Log& log, metrics::Registry* metrics = nullptr);
  ~Listener();
  void start() {
    spawn();
    open();
  }
  /// start() in two steps: spawn() creates every thread (it may fail: std::system_error; stop() or
  /// the destructor ends those made), and they read nothing until open(), which cannot fail.
  void spawn();
  void open() noexcept;
  void stop();
  /// `log` and `errors` change without rebinding (a reload).
  void set_logging(bool log, bool errors);
  /// Every thread spawn() made is still running (false before spawn() and after stop()).
  [[nodiscard]] bool alive() const noexcept {
    const auto n = running_.load();
    return n > 0 && n == spawned_.load();
  }
  /// `prometheus` turned on or off (a reload).
  void set_counting(bool count) noexcept { count_.store(count, std::memory_order_relaxed); }
  /// UDP worker threads (one socket per address each).
  [[nodiscard]] unsigned udp_workers() const noexcept { return static_cast<unsigned>(udp_.size()); }
  /// UDP replies the kernel refused to send (unreachable, filtered, no buffer), since the start.
  [[nodiscard]] std::uint64_t send_failures() const noexcept { return send_failures_.load(std::memory_order_relaxed); }

private:
  void udp_worker(std::vector<int> fds);
  void tcp_loop();

  ListenerOptions options_;
  const SnapshotHolder& holder_;
  Log& log_;
  std::vector<std::vector<wg::UniqueFd>> udp_;  // [worker][address]
  std::vector<wg::UniqueFd> tcp_;
  wg::UniqueFd stop_event_;
  wg::UniqueFd epoll_;  // the TCP thread's: listening sockets and stop_event_
  std::vector<std::thread> threads_;
  std::atomic<bool> stopping_{false};
  std::atomic<bool> open_{false};
  std::atomic<bool> log_queries_;
  std::atomic<bool> log_errors_;
  metrics::Registry* metrics_;
  std::vector<std::string> labels_;  // per address (index of tcp_ and of each worker's UDP sockets): the `server` label
  std::atomic<bool> count_;
  std::atomic<std::uint64_t> send_failures_{0};
  std::atomic<std::size_t> spawned_{0};  // threads spawn() made
  std::atomic<std::size_t> running_{0};  // of them, those whose function has not returned
};

}  // namespace wgsd::server
