// Reads the devices on a timer and publishes immutable snapshots; queries never touch a device.
#pragma once

#include <atomic>
#include <condition_variable>
#include <functional>
#include <memory>
#include <mutex>
#include <thread>
#include <vector>

#include "dns/zone_build.hpp"
#include "server/config.hpp"
#include "server/query_log.hpp"
#include "wg/backend.hpp"

namespace wgsd::server {

/// The current ZoneSet of one port. Readers pay one atomic load per batch; they copy the
/// shared_ptr only when the generation moved (dnsdist LockGuarded + a generation counter), or
/// after they let go of it before blocking (release()).
class SnapshotHolder {
public:
  SnapshotHolder();
  void publish(std::shared_ptr<const dns::ZoneSet> zones);
  [[nodiscard]] std::shared_ptr<const dns::ZoneSet> get() const;
  [[nodiscard]] std::uint64_t generation() const noexcept { return generation_.load(std::memory_order_acquire); }

  /// A reader's cached view: refreshes itself when the holder's generation moved.
  class Reader {
  public:
    explicit Reader(const SnapshotHolder& holder) : holder_(holder) {}
    const dns::ZoneSet& current() {
      const auto g = holder_.generation();
      if (g != seen_ || !zones_) {
        zones_ = holder_.get();
        seen_ = g;
      }
      return *zones_;
    }
    /// Lets go of the snapshot (the next current() takes the holder's again). Called before a
    /// reader blocks: a thread idle for hours must not keep a replaced snapshot alive.
    void release() noexcept { zones_.reset(); }

  private:
    const SnapshotHolder& holder_;
    std::shared_ptr<const dns::ZoneSet> zones_;
    std::uint64_t seen_{~0ULL};
  };

private:
  mutable std::mutex mutex_;
  std::shared_ptr<const dns::ZoneSet> zones_;
  std::atomic<std::uint64_t> generation_{0};
};

/// Factory for a zone's backend; tests pass fakes.
using BackendFactory = std::function<std::unique_ptr<wg::Backend>(const ZoneConfig&)>;

/// One refresher for every zone of the process.
class PeerCache {
public:
  /// `zones[i]` is published through `holders[port_of[i]]`, at once. Every zone starts unloaded
  /// (SERVFAIL) unless `previous` (a stopped cache: a reload) served it with the same settings: then
  /// its snapshot carries on; a zone of that name with other settings starts unloaded, its serial
  /// carried on. A device with more than `max_peers` peers is treated as a failed read (the last
  /// good data stays).
  PeerCache(std::vector<ZoneConfig> zones, std::vector<std::size_t> port_of, std::vector<SnapshotHolder*> holders,
            BackendFactory factory, Log& log, std::size_t max_peers = 1000000, const PeerCache* previous = nullptr);
  ~PeerCache();

  /// Reads every zone whose refresh is due at `now` (all of them when `force`) and publishes.
  void refresh(bool force = false);
  /// Starts the background thread; stop() or the destructor ends it.
  void start();
  void stop();

private:
  struct State {
    ZoneConfig config;
    std::unique_ptr<wg::Backend> backend;
    std::shared_ptr<const dns::Zone> zone;
    std::chrono::steady_clock::time_point due;
    bool failing{};
  };
  void publish(std::size_t port);
  void run();
  void sweep();

  std::vector<State> zones_;
  // Replaced snapshots, kept until no reader holds them and freed here: dropping a 100,000-peer
  // zone takes tens of milliseconds, which must not land on the query thread that lets go last.
  std::vector<std::shared_ptr<const dns::Zone>> retired_;
  std::vector<std::size_t> port_of_;
  std::vector<SnapshotHolder*> holders_;
  Log& log_;
  std::size_t max_peers_;
  std::thread thread_;
  std::mutex mutex_;
  std::condition_variable wake_;
  bool stop_{};
};

}  // namespace wgsd::server
