#include "server/peer_cache.hpp"

#include <sys/resource.h>
#include <unistd.h>

#include <algorithm>
#include <stdexcept>

#include "dns/ixfr_journal.hpp"
#include "dns/transfer.hpp"
#include "server/memory.hpp"
#include "server/privilege.hpp"
#include "server/spawn.hpp"
#include "wg/error.hpp"

namespace wgsd::server {
namespace {

constexpr int refresher_nice = 10;

}  // namespace

SnapshotHolder::SnapshotHolder() : zones_(std::make_shared<dns::ZoneSet>()) {}

void SnapshotHolder::publish(std::shared_ptr<const dns::ZoneSet> zones) noexcept {
  {
    std::lock_guard lock(mutex_);
    zones_ = std::move(zones);
  }
  generation_.fetch_add(1, std::memory_order_acq_rel);
}

void SnapshotHolder::set_acl(std::shared_ptr<const dns::Acl> acl) noexcept {
  std::lock_guard lock(mutex_);
  acl_ = std::move(acl);
}

std::shared_ptr<const dns::Acl> SnapshotHolder::acl() const {
  std::lock_guard lock(mutex_);
  return acl_;
}

std::shared_ptr<const dns::ZoneSet> SnapshotHolder::get() const {
  std::lock_guard lock(mutex_);
  return zones_;
}

PeerCache::PeerCache(std::vector<ZoneConfig> zones, std::vector<std::vector<std::size_t>> members, std::vector<SnapshotHolder*> holders,
                     BackendFactory factory, Log& log, std::size_t max_peers)
    : members_(std::move(members)), holders_of_(zones.size()), holders_(std::move(holders)), log_(log), max_peers_(max_peers) {
  for (std::size_t h = 0; h < members_.size(); ++h) {
    for (const std::size_t z : members_[h]) holders_of_.at(z).push_back(h);
  }
  for (auto& z : zones) {
    State s;
    s.backend = factory(z);
    s.config = std::move(z);
    zones_.push_back(std::move(s));
  }
}

PeerCache::~PeerCache() { stop(); }

void PeerCache::observe(ZoneStats* stats, metrics::Registry* metrics) {
  stats_ = stats;
  for (auto& s : zones_) s.metric_slot = metrics != nullptr ? metrics->zone_slot(s.config.settings.zone) : 0;
}

std::shared_ptr<dns::ZoneSet> PeerCache::zone_set(std::size_t h) const {
  auto set = std::make_shared<dns::ZoneSet>();
  for (const std::size_t z : members_[h]) {
    set->zones.push_back(zones_[z].zone);
    set->metric_slots.push_back(zones_[z].metric_slot);
  }
  if (h < tsig_.size()) set->tsig = tsig_[h];
  if (h < transfer_.size()) set->transfer = transfer_[h];
  return set;
}

void PeerCache::report_snapshot(const State& s, bool built) {
  if (stats_ != nullptr && s.zone) stats_->snapshot(s.config.settings.zone, s.config.device, s.zone->serial, s.zone->loaded, built);
  if (stats_ != nullptr && s.zone) {
    stats_->journal(s.config.settings.zone, s.config.device, s.zone->journal ? s.zone->journal->steps.size() : 0,
                    s.zone->journal ? s.zone->journal->bytes : 0);
  }
}

std::vector<privilege::Need> PeerCache::needs() const {
  const uid_t uid = ::geteuid();
  const auto groups = privilege::process_groups();
  std::vector<privilege::Need> out;
  for (const auto& s : zones_) out.push_back(privilege::need_of(s.config.device, s.backend->access(s.config.device), uid, groups));
  return out;
}

void PeerCache::load(const PeerCache* previous) {
  // Read here, by the thread that loads (the main thread, whose capabilities are held in its
  // permitted set only): raised for the reads, and a device this process cannot read is said now.
  const auto needs = this->needs();
  const privilege::Caps permitted = privilege::current().permitted;
  privilege::check(needs, permitted);
  const privilege::Raised raised(privilege::reader_caps(needs, permitted), "reading the devices");
  // The zones `previous` answers with data, looked at while its refresher is between refreshes.
  std::vector<std::string> served;
  if (previous != nullptr) {
    const auto paused = previous->hold();
    for (const auto& p : previous->zones_) {
      if (p.zone && p.zone->loaded) served.push_back(p.config.settings.zone);
    }
  }
  for (auto& s : zones_) {
    // A zone may be served on two ports (two devices): the one with equal settings carries on.
    const bool carried = previous != nullptr && std::any_of(previous->zones_.begin(), previous->zones_.end(), [&](const State& p) {
                           return p.config.same_zone(s.config);
                         });
    if (carried) continue;
    // A zone served now whose new settings' device cannot be read would go from answering to
    // SERVFAIL: the reload is refused instead. A zone no one serves yet starts unloaded, as at start-up.
    if (std::find(served.begin(), served.end(), s.config.settings.zone) != served.end()) {
      try {
        s.read = fetch(s);
      } catch (const std::exception& e) {
        throw std::runtime_error("wgsd: zone " + s.config.settings.zone + ": " + e.what() +
                                 " (the zone is being served and its new device cannot be read now: the running configuration stays)");
      }
    } else {
      s.read = read(s);
    }
    s.read_at = wg::Clock::now();
  }
}

void PeerCache::take_over(const PeerCache* previous) {
  prepare(previous);
  commit();
}

void PeerCache::prepare(const PeerCache* previous, std::vector<std::shared_ptr<const dns::Acl>> acls) {
  const auto now = std::chrono::steady_clock::now();
  for (auto& s : zones_) {
    const State* same = nullptr;
    std::uint32_t serial = 0;
    if (previous != nullptr) {
      for (const auto& p : previous->zones_) {
        if (p.config.settings.zone != s.config.settings.zone || !p.zone) continue;
        serial = std::max(serial, p.zone->serial);
        if (p.config.same_zone(s.config)) same = &p;
      }
    }
    s.due = now;
    if (same != nullptr) {
      s.zone = same->zone;
      s.failing = same->failing;
      s.peers = same->peers;
      s.pools = same->pools;
      report_snapshot(s, false);
      continue;
    }
    // Data published under other settings is never shown under these: unloaded until read.
    if (hooks_.floor) serial = std::max(serial, hooks_.floor(s.config.settings.zone));
    s.zone = dns::build_empty_zone(s.config.settings, serial);
    if (!s.read || !install(s, *s.read, s.read_at)) report_snapshot(s, false);
    if (s.read) {
      s.peers = s.read->peers.size();
      s.due = now + s.config.refresh_for(s.peers);
    }
    s.read.reset();
  }
  if (previous != nullptr) {
    // What the previous cache would have freed itself: its retired snapshots and the zones no one
    // serves any more. A zone carried on is not listed twice (it would never be freed).
    for (const auto& z : previous->retired_) retired_.push_back(z);
    for (const auto& p : previous->zones_) {
      if (!p.zone) continue;
      const bool carried = std::any_of(zones_.begin(), zones_.end(), [&](const State& s) { return s.zone == p.zone; });
      const bool listed = std::find(retired_.begin(), retired_.end(), p.zone) != retired_.end();
      if (!carried && !listed) retired_.push_back(p.zone);
    }
  }
  announce_.clear();
  for (const auto& s : zones_) {
    if (s.zone && s.zone->loaded) announce_.push_back(s.zone);
  }
  staged_.clear();
  if (acls.size() != holders_.size()) acls.clear();
  for (std::size_t h = 0; h < holders_.size(); ++h) {
    auto set = zone_set(h);
    set->acl = acls.empty() ? holders_[h]->acl() : acls[h];
    staged_.push_back(std::move(set));
  }
  staged_acls_ = std::move(acls);
}

void PeerCache::commit() noexcept {
  for (std::size_t h = 0; h < staged_.size() && h < holders_.size(); ++h) {
    if (h < staged_acls_.size()) holders_[h]->set_acl(std::move(staged_acls_[h]));
    holders_[h]->publish(std::move(staged_[h]));
  }
  staged_.clear();
  staged_acls_.clear();
  count();
  for (const auto& z : announce_) {
    if (hooks_.changed) hooks_.changed(*z);
  }
  announce_.clear();
}

void PeerCache::count() noexcept {
  std::size_t loaded = 0;
  std::size_t published = 0;
  for (const auto& s : zones_) {
    if (!s.zone || !s.zone->loaded) continue;
    ++loaded;
    published += s.zone->published;
  }
  loaded_.store(loaded, std::memory_order_relaxed);
  published_.store(published, std::memory_order_relaxed);
}

bool PeerCache::alive(std::chrono::microseconds stall) const noexcept {
  if (!running_.load()) return false;
  const std::int64_t since = refreshing_since_.load();
  if (since == 0) return true;
  const auto busy = std::chrono::steady_clock::now() - std::chrono::steady_clock::time_point(std::chrono::steady_clock::duration(since));
  return busy < stall;
}

void PeerCache::set_tsig(std::size_t holder, std::shared_ptr<const dns::tsig::Policy> policy) {
  if (tsig_.size() < holders_.size()) tsig_.resize(holders_.size());
  tsig_.at(holder) = std::move(policy);
}

void PeerCache::set_transfer(std::size_t holder, std::shared_ptr<const dns::TransferPolicy> policy) {
  if (transfer_.size() < holders_.size()) transfer_.resize(holders_.size());
  transfer_.at(holder) = std::move(policy);
}

void PeerCache::publish(std::size_t holder) {
  auto set = zone_set(holder);
  set->acl = holders_[holder]->acl();
  holders_[holder]->publish(std::move(set));
}

void PeerCache::sweep() {
  // use_count() == 1: only this list holds it, and nothing can take a new reference from here.
  std::erase_if(retired_, [](const std::shared_ptr<const dns::Zone>& z) { return z.use_count() == 1; });
}

wg::Device PeerCache::fetch(State& s) {
  const std::string& device = s.config.device;
  const auto start = std::chrono::steady_clock::now();
  const auto at = wg::Clock::now();
  try {
    wg::Device dev = s.backend->get_device(device);
    if (dev.peers.size() > max_peers_) {
      throw std::runtime_error("device '" + device + "' has " + std::to_string(dev.peers.size()) + " peers, more than the limit of " +
                               std::to_string(max_peers_) + " (--max-peers)");
    }
    if (stats_ != nullptr) {
      // The list of peers only for `status`: the counts need no copy of every peer.
      const auto counts = count_states(s.config.publish, dev, at);
      auto list = stats_->keeping_peers() ? classify(s.config.publish, dev, at) : std::vector<PeerStatus>{};
      stats_->read(s.config.settings.zone, device, std::chrono::steady_clock::now() - start, at, &counts, std::move(list), {});
    }
    return dev;
  } catch (const std::exception& e) {
    if (stats_ != nullptr) stats_->read(s.config.settings.zone, device, std::chrono::steady_clock::now() - start, at, nullptr, {}, e.what());
    throw;
  }
}

std::optional<wg::Device> PeerCache::read(State& s) {
  try {
    wg::Device dev = fetch(s);
    if (s.failing) {
      log_.info("wgsd: zone " + s.config.settings.zone + ": device '" + s.config.device + "' is readable again");
      s.failing = false;
    }
    return dev;
  } catch (const std::exception& e) {
    // Keep serving the last good data; say so once per failure streak.
    if (!s.failing) {
      const bool loaded = s.zone && s.zone->loaded;
      log_.error("wgsd: zone " + s.config.settings.zone + ": " + e.what() +
                 (loaded ? " (serving the last good data)" : " (answering SERVFAIL until the device can be read)"));
      s.failing = true;
    }
    return std::nullopt;
  }
}

bool PeerCache::install(State& s, wg::Device& device, wg::Clock::time_point now) {
  try {
    std::vector<std::string> pool_log;
    const auto pools = s.pools.update(s.config.pools, device, std::chrono::steady_clock::now(), now, pool_log);
    for (const auto& line : pool_log) log_.info("wgsd: zone " + s.config.settings.zone + ": " + line);
    if (stats_ != nullptr) stats_->pools(s.config.settings.zone, s.config.device, s.pools.status(pools));
    // Same published data: the old snapshot comes back and nothing is published.
    auto zone = dns::refresh_zone(s.config.settings, published_peers(s.config.publish, device, now), now, s.zone, pools);
    if (zone == s.zone) return false;
    retired_.push_back(std::move(s.zone));
    s.zone = std::move(zone);
    report_snapshot(s, true);
    return true;
  } catch (const std::exception& e) {
    if (!s.failing) {
      log_.error("wgsd: zone " + s.config.settings.zone + ": " + e.what() +
                 (s.zone->loaded ? " (serving the last good data)" : " (answering SERVFAIL until the device can be read)"));
      s.failing = true;
    }
    return false;
  }
}

void PeerCache::refresh(bool force) {
  const std::size_t retired = retired_.size();
  sweep();
  const bool freed = retired_.size() < retired;
  const auto now = std::chrono::steady_clock::now();
  std::vector<bool> changed(holders_.size(), false);
  std::vector<std::shared_ptr<const dns::Zone>> moved;  // zones with a new serial, told once published
  bool read_any = false;
  for (std::size_t i = 0; i < zones_.size(); ++i) {
    State& s = zones_[i];
    if (!s.zone) s.zone = dns::build_empty_zone(s.config.settings);  // refreshed without take_over()
    if (!force && now < s.due) continue;
    read_any = true;
    auto dev = read(s);
    if (dev) s.peers = dev->peers.size();
    s.due = now + s.config.refresh_for(s.peers);
    const std::uint32_t serial = s.zone->serial;
    const bool was_loaded = s.zone->loaded;
    if (!dev || !install(s, *dev, wg::Clock::now())) continue;
    for (const std::size_t h : holders_of_[i]) changed[h] = true;
    if (s.zone->serial != serial || !was_loaded) moved.push_back(s.zone);
  }
  for (std::size_t h = 0; h < holders_.size(); ++h) {
    if (changed[h]) publish(h);
  }
  count();
  for (const auto& z : moved) {
    if (hooks_.changed) hooks_.changed(*z);
  }
  // The parsed devices, and any snapshot sweep() dropped, are free now: back to the system, or
  // the process would hold a whole parse beside the snapshot until the next refresh. glibc gives
  // back by itself only the top of a heap: a freed snapshot below the current one would stay
  // resident too (tens of MB at 100,000 peers).
  if (read_any || freed) release_free_memory();
}

void PeerCache::spawn() {
  stop_ = false;
  open_ = false;
  running_ = true;
  try {
    // The reader keeps what its backends need, as the user the process runs as now, and nothing else.
    thread_ = spawn_thread("wgsd-reader", privilege::reader_caps(needs(), privilege::current().permitted), [this] {
      run();
      running_ = false;
    });
  } catch (...) {
    running_ = false;
    throw;
  }
}

void PeerCache::open() noexcept {
  open_.store(true);
  open_.notify_all();
}

void PeerCache::request_stop() noexcept {
  stop_.store(true);
  open();
}

void PeerCache::stop() {
  {
    std::lock_guard lock(mutex_);
    stop_ = true;
  }
  wake_.notify_all();
  open();
  if (thread_.joinable()) thread_.join();
}

void PeerCache::run() {
  open_.wait(false);
  // Reading and building yield to the threads that answer: under load, queries come first and
  // a refresh takes a little longer (the threads of a process have their own nice values on Linux).
  ::setpriority(PRIO_PROCESS, static_cast<id_t>(::gettid()), refresher_nice);
  std::unique_lock lock(mutex_);
  while (!stop_) {
    auto next = std::chrono::steady_clock::time_point::max();
    for (const auto& s : zones_) next = std::min(next, s.due);
    wake_.wait_until(lock, next, [this] { return stop_.load(); });
    if (stop_) break;
    lock.unlock();
    {
      const std::lock_guard refreshing(refresh_mutex_);
      if (stop_) return;  // stopped while a reload held it
      refreshing_since_.store(std::chrono::steady_clock::now().time_since_epoch().count());
      refresh();
      refreshing_since_.store(0);
    }
    lock.lock();
  }
}

}  // namespace wgsd::server
