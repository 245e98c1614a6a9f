// Reads the devices on a timer and publishes immutable snapshots; queries never touch a device.
#pragma once

#include <atomic>
#include <cstdint>
#include <condition_variable>
#include <functional>
#include <memory>
#include <mutex>
#include <optional>
#include <thread>
#include <vector>

#include "dns/zone_build.hpp"
#include "server/config.hpp"
#include "server/pool_health.hpp"
#include "server/dns_metrics.hpp"
#include "server/privilege.hpp"
#include "server/query_log.hpp"
#include "server/zone_stats.hpp"
#include "wg/backend.hpp"

namespace wgsd::server {

/// The current ZoneSet of one port. Readers pay one atomic load per batch; they copy the
/// shared_ptr only when the generation moved (dnsdist LockGuarded + a generation counter), or
/// after they let go of it before blocking (release()).
class SnapshotHolder {
public:
  SnapshotHolder();
  void publish(std::shared_ptr<const dns::ZoneSet> zones) noexcept;
  [[nodiscard]] std::shared_ptr<const dns::ZoneSet> get() const;
  /// The `acl` every ZoneSet published from now on carries (it reaches readers with the next publish).
  void set_acl(std::shared_ptr<const dns::Acl> acl) noexcept;
  [[nodiscard]] std::shared_ptr<const dns::Acl> acl() const;
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
  std::shared_ptr<const dns::Acl> acl_;
  std::atomic<std::uint64_t> generation_{0};
};

/// Factory for a zone's backend; tests pass fakes.
using BackendFactory = std::function<std::unique_ptr<wg::Backend>(const ZoneConfig&)>;

/// One refresher for every zone of the process.
class PeerCache {
public:
  /// `holders[h]` publishes the zones whose indices `members[h]` lists (a zone may be in several:
  /// a block without `bind` is served beside every block bound on its port). Creates each zone's
  /// backend (the factory may throw) and publishes nothing: load() and take_over() come next. A
  /// device with more than `max_peers` peers is treated as a failed read (the last good data stays).
  PeerCache(std::vector<ZoneConfig> zones, std::vector<std::vector<std::size_t>> members, std::vector<SnapshotHolder*> holders,
            BackendFactory factory, Log& log, std::size_t max_peers = 1000000);
  ~PeerCache();

  /// Where reads, builds and peer states are reported, and the registry whose zone slots every
  /// published ZoneSet carries (set before load(); either may be null).
  void observe(ZoneStats* stats, metrics::Registry* metrics);

  /// The TSIG keys and rules every snapshot of `holder` carries (set before take_over()).
  void set_tsig(std::size_t holder, std::shared_ptr<const dns::tsig::Policy> policy);
  /// Serials for zone transfers (set before load()): `floor` gives the lowest serial a zone may
  /// start from (the last one published before a restart); `changed` hears of each new serial of a
  /// loaded zone, after it is published, from prepare() and from the refresher.
  struct SerialHooks {
    std::function<std::uint32_t(const std::string& zone)> floor;
    std::function<void(const dns::Zone& zone)> changed;
  };
  void set_serial_hooks(SerialHooks hooks) { hooks_ = std::move(hooks); }
  /// Who may transfer the zones of `holder` (set before take_over()); null: nobody.
  void set_transfer(std::size_t holder, std::shared_ptr<const dns::TransferPolicy> policy);

  /// Reads the device of every zone that `previous` (null at start-up) does not serve with the same
  /// settings. `previous` may go on running meanwhile: only its settings are looked at here. Throws
  /// when a zone `previous` serves with data gets settings whose device cannot be read now.
  void load(const PeerCache* previous = nullptr);
  /// Builds the zones load() read and publishes every holder. A zone `previous` (stopped) served
  /// with the same settings carries its snapshot on; a zone of that name with other settings gets a
  /// serial above the old one; a zone whose device could not be read is published unloaded (SERVFAIL).
  void take_over(const PeerCache* previous = nullptr);
  /// take_over() in two steps, for a reload. prepare() does everything that may fail (building the
  /// zones and every holder's new ZoneSet) and publishes nothing; `previous` must not be refreshing
  /// meanwhile (hold() it). commit() then publishes every holder and cannot fail. The snapshots
  /// `previous` retired or no longer serves move to this cache's retired list, so that they are
  /// freed by this refresher, never by the query thread that lets go of them last.
  /// `acls[h]`, when given, is the acl holder h gets at commit(), with its zones.
  void prepare(const PeerCache* previous, std::vector<std::shared_ptr<const dns::Acl>> acls = {});
  void commit() noexcept;
  /// While the returned lock is held the refresher does not refresh (it finishes a refresh first).
  [[nodiscard]] std::unique_lock<std::mutex> hold() const { return std::unique_lock(refresh_mutex_); }

  /// Reads every zone whose refresh is due at `now` (all of them when `force`) and publishes.
  void refresh(bool force = false);
  /// Starts the background thread; stop() or the destructor ends it. A stopped cache may start again.
  void start() {
    spawn();
    open();
  }
  /// start() in two steps: spawn() creates the thread (it may fail: std::system_error), which
  /// waits until open(), which cannot fail.
  void spawn();
  void open() noexcept;
  /// Tells the thread to end without waiting for it (a caller that hold()s it), then stop().
  void request_stop() noexcept;
  void stop();

  /// Counts for the status line, as of the last publish. Any thread may ask.
  struct Tally {
    std::size_t zones{};
    std::size_t loaded{};     ///< zones whose device has been read once
    std::size_t published{};  ///< peers published, over every zone
  };
  [[nodiscard]] Tally tally() const noexcept {
    return {zones_.size(), loaded_.load(std::memory_order_relaxed), published_.load(std::memory_order_relaxed)};
  }
  /// The thread has been spawned and has not ended, and is not in one refresh for `stall` or longer.
  [[nodiscard]] bool alive(std::chrono::microseconds stall) const noexcept;

private:
  struct State {
    ZoneConfig config;
    std::unique_ptr<wg::Backend> backend;
    std::shared_ptr<const dns::Zone> zone;
    std::chrono::steady_clock::time_point due;
    bool failing{};
    std::size_t peers{};             ///< the device's peers at the last good read: the default refresh follows it
    std::optional<wg::Device> read;  ///< what load() read, until take_over() builds it
    wg::Clock::time_point read_at;
    PoolHealth pools;                ///< the `pool` members' received bytes, across refreshes
    std::uint8_t metric_slot{};  ///< the zone's label slot in the metrics
  };
  /// A new ZoneSet for holder `h` with its zones, tsig, transfer policy and metric slots (no acl).
  std::shared_ptr<dns::ZoneSet> zone_set(std::size_t h) const;
  void report_snapshot(const State& s, bool built);
  void publish(std::size_t holder);
  /// What reading each zone's device takes, for the user the process runs as now.
  [[nodiscard]] std::vector<privilege::Need> needs() const;
  /// Reads the zone's device; throws when it cannot be read or has too many peers.
  wg::Device fetch(State& s);
  /// Reads the zone's device; nullopt (logged once per failure streak) when it cannot be used.
  std::optional<wg::Device> read(State& s);
  /// The zone built from `device` replaces the snapshot; false when nothing published changed.
  bool install(State& s, wg::Device& device, wg::Clock::time_point now);
  void run();
  void sweep();
  /// Recounts what tally() reports (by the thread that changed the zones).
  void count() noexcept;

  std::vector<State> zones_;
  // Replaced snapshots, kept until no reader holds them and freed here: dropping a 100,000-peer
  // zone takes tens of milliseconds, which must not land on the query thread that lets go last.
  std::vector<std::shared_ptr<const dns::Zone>> retired_;
  std::vector<std::vector<std::size_t>> members_;     // per holder: its zones
  std::vector<std::vector<std::size_t>> holders_of_;  // per zone: its holders
  std::vector<SnapshotHolder*> holders_;
  std::vector<std::shared_ptr<const dns::ZoneSet>> staged_;  // per holder: what commit() publishes
  std::vector<std::shared_ptr<const dns::Acl>> staged_acls_;  // per holder, or empty: the acl commit() sets
  std::vector<std::shared_ptr<const dns::tsig::Policy>> tsig_;  // per holder
  std::vector<std::shared_ptr<const dns::TransferPolicy>> transfer_;  // per holder
  SerialHooks hooks_;
  std::vector<std::shared_ptr<const dns::Zone>> announce_;  // new serials prepare() found, told at commit()
  Log& log_;
  std::size_t max_peers_;
  ZoneStats* stats_{};
  std::thread thread_;
  std::mutex mutex_;
  mutable std::mutex refresh_mutex_;  // held by the thread while it refreshes, or by hold()
  std::condition_variable wake_;
  std::atomic<bool> stop_{};
  std::atomic<bool> open_{};
  std::atomic<bool> running_{};                  // spawned and run() has not returned
  std::atomic<std::int64_t> refreshing_since_{0};  // steady_clock ticks when a refresh began; 0 between refreshes
  std::atomic<std::size_t> loaded_{0};
  std::atomic<std::size_t> published_{0};
};

}  // namespace wgsd::server
