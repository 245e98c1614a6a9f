#include "server/zone_stats.hpp"

#include <algorithm>

namespace wgsd::server {

namespace {

bool hidden(const PublishPolicy& policy, const wg::Key& k) { return std::find(policy.hide.begin(), policy.hide.end(), k) != policy.hide.end(); }

// The order of published_peers(): hidden first, then no endpoint, then too old.
PeerState state_of(const PublishPolicy& policy, const wg::Peer& p, wg::Clock::time_point now) {
  if (hidden(policy, p.public_key)) return PeerState::hidden;
  if (!p.endpoint) return PeerState::no_endpoint;
  if (policy.max_age && !(p.last_handshake && now - *p.last_handshake <= *policy.max_age)) return PeerState::stale;
  return PeerState::published;
}

// The device itself under `self`; nullopt when it is not published at all.
std::optional<PeerStatus> self_status(const PublishPolicy& policy, const wg::Device& device) {
  if (!policy.self || device.public_key.is_zero()) return std::nullopt;
  PeerStatus s{device.public_key, policy.self->endpoint, std::nullopt, PeerState::published, true};
  if (!s.endpoint && device.listen_port != 0) s.endpoint = wg::Endpoint{wg::IpAddress(), device.listen_port};
  if (hidden(policy, device.public_key)) s.state = PeerState::hidden;
  else if (!s.endpoint) s.state = PeerState::no_endpoint;
  return s;
}

}  // namespace

std::vector<PeerStatus> classify(const PublishPolicy& policy, const wg::Device& device, wg::Clock::time_point now) {
  std::vector<PeerStatus> out;
  out.reserve(device.peers.size() + 1);
  for (const auto& p : device.peers) out.push_back(PeerStatus{p.public_key, p.endpoint, p.last_handshake, state_of(policy, p, now), false});
  if (auto s = self_status(policy, device)) out.push_back(std::move(*s));
  return out;
}

PeerCounts count_states(const PublishPolicy& policy, const wg::Device& device, wg::Clock::time_point now) {
  // On every read, also when `status` is not configured: no copy of the peers.
  PeerCounts counts{};
  for (const auto& p : device.peers) ++counts[static_cast<std::size_t>(state_of(policy, p, now))];
  if (const auto s = self_status(policy, device)) ++counts[static_cast<std::size_t>(s->state)];
  return counts;
}

void ZoneStats::configure(const std::vector<std::pair<std::string, std::string>>& zones) {
  std::lock_guard lock(mutex_);
  std::vector<ZoneStatus> next;
  for (const auto& entry : zones) {
    // Named copies of the pair's parts: clang 14 cannot capture structured bindings in a lambda.
    const std::string& zone = entry.first;
    const std::string& device = entry.second;
    const auto old = std::find_if(zones_.begin(), zones_.end(), [&](const ZoneStatus& z) { return z.zone == zone && z.device == device; });
    if (old != zones_.end()) {
      next.push_back(std::move(*old));
    } else {
      ZoneStatus z;
      z.zone = zone;
      z.device = device;
      next.push_back(std::move(z));
    }
  }
  zones_ = std::move(next);
}

void ZoneStats::keep_peers(bool keep) {
  std::lock_guard lock(mutex_);
  keep_peers_ = keep;
  if (!keep) {
    for (auto& z : zones_) z.peer_list = {};
  }
}

bool ZoneStats::keeping_peers() const {
  std::lock_guard lock(mutex_);
  return keep_peers_;
}

ZoneStatus* ZoneStats::find(const std::string& zone, const std::string& device) {
  const auto it = std::find_if(zones_.begin(), zones_.end(), [&](const ZoneStatus& z) { return z.zone == zone && z.device == device; });
  if (it != zones_.end()) return &*it;
  // A zone a reload is setting up: configure() keeps it if the reload goes through.
  ZoneStatus z;
  z.zone = zone;
  z.device = device;
  zones_.push_back(std::move(z));
  return &zones_.back();
}

void ZoneStats::read(const std::string& zone, const std::string& device, std::chrono::nanoseconds took, wg::Clock::time_point at,
                     const PeerCounts* counts, std::vector<PeerStatus> list, const std::string& error) {
  std::lock_guard lock(mutex_);
  ZoneStatus* z = find(zone, device);
  z->last_read = at;
  z->read_duration = took;
  z->last_read_ok = counts != nullptr;
  const double seconds = std::chrono::duration<double>(took).count();
  const auto bucket = std::lower_bound(read_time_bounds.begin(), read_time_bounds.end(), seconds) - read_time_bounds.begin();
  ++z->read_buckets[static_cast<std::size_t>(bucket)];
  z->read_seconds += seconds;
  if (counts == nullptr) {
    ++z->reads_failed;
    z->last_error = error;
    return;
  }
  ++z->reads_ok;
  z->last_error.clear();
  z->last_good = at;
  z->peers = *counts;
  if (keep_peers_) z->peer_list = std::move(list);
}

void ZoneStats::snapshot(const std::string& zone, const std::string& device, std::uint32_t serial, bool loaded, bool built) {
  std::lock_guard lock(mutex_);
  ZoneStatus* z = find(zone, device);
  z->serial = serial;
  z->loaded = loaded;
  if (built) ++z->builds;
}

void ZoneStats::journal(const std::string& zone, const std::string& device, std::size_t steps, std::size_t bytes) {
  std::lock_guard lock(mutex_);
  ZoneStatus* z = find(zone, device);
  z->journal_steps = steps;
  z->journal_bytes = bytes;
}

void ZoneStats::pools(const std::string& zone, const std::string& device, std::vector<PoolStatus> pools) {
  std::lock_guard lock(mutex_);
  find(zone, device)->pools = std::move(pools);
}

std::vector<ZoneStatus> ZoneStats::zones() const {
  std::lock_guard lock(mutex_);
  return zones_;
}

std::vector<std::string> ZoneStats::not_ready() const {
  std::lock_guard lock(mutex_);
  std::vector<std::string> out;
  for (const auto& z : zones_) {
    if (!z.loaded && std::find(out.begin(), out.end(), z.zone) == out.end()) out.push_back(z.zone);
  }
  return out;
}

}  // namespace wgsd::server
