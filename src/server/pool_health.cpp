#include "server/pool_health.hpp"

namespace wgsd::server {

std::vector<dns::PoolView> PoolHealth::update(const std::vector<PoolConfig>& pools, const wg::Device& device, Steady::time_point now,
                                              wg::Clock::time_point wall, std::vector<std::string>& log) {
  std::vector<dns::PoolView> views;
  if (pools.empty()) return views;
  std::unordered_map<wg::Key, const wg::Peer*, wg::KeyHash> peers;
  for (const auto& p : device.peers) peers.emplace(p.public_key, &p);
  // Note every member once, however many pools it is in.
  for (const auto& pool : pools) {
    for (const auto& m : pool.members) {
      const auto it = peers.find(m.key);
      if (it == peers.end()) continue;
      const wg::Peer& peer = *it->second;
      auto [seen, first] = seen_.try_emplace(m.key);
      Seen& s = seen->second;
      if (first) {
        // No history yet: a handshake proves that something arrived then.
        s.rx = peer.rx_bytes;
        if (peer.rx_bytes > 0 && peer.last_handshake) {
          const auto age = std::chrono::duration_cast<Steady::duration>(wall - *peer.last_handshake);
          s.grew = true;
          s.last_growth = now - std::max(age, Steady::duration::zero());
        }
      } else if (peer.rx_bytes != s.rx) {
        // A counter that went down belongs to a peer removed and added again: what it holds arrived since.
        if (peer.rx_bytes > s.rx || peer.rx_bytes > 0) {
          s.grew = true;
          s.last_growth = now;
        }
        s.rx = peer.rx_bytes;
      }
    }
  }
  for (const auto& pool : pools) {
    dns::PoolView v;
    v.name = pool.name;
    v.ttl = pool.ttl;
    v.answers = pool.answers;
    for (const auto& m : pool.members) {
      dns::PoolMemberView mv;
      mv.key = m.key;
      mv.weight = m.weight;
      if (const auto it = peers.find(m.key); it != peers.end()) {
        mv.endpoint = it->second->endpoint;
        const Seen& s = seen_[m.key];
        mv.healthy = s.grew && now - s.last_growth <= pool.max_age;
      }
      v.members.push_back(std::move(mv));
    }
    const bool open = v.fail_open();
    Episodes& e = failing_open_[pool.name];
    bool& was = e.failing;
    if (open && !was) {
      ++fail_open_episodes_;
      ++e.count;
      log.push_back("pool " + pool.name + ": no healthy member, answering every member (fail open)");
    } else if (!open && was) {
      log.push_back("pool " + pool.name + ": healthy members again, answering only those");
    }
    was = open;
    v.fail_open_episodes = e.count;
    views.push_back(std::move(v));
  }
  return views;
}

std::vector<PoolStatus> PoolHealth::status(const std::vector<dns::PoolView>& views) const {
  std::vector<PoolStatus> out;
  out.reserve(views.size());
  for (const auto& v : views) {
    PoolStatus p;
    p.name = v.name;
    p.fail_open = v.fail_open();
    p.fail_open_episodes = v.fail_open_episodes;
    for (const auto& m : v.members) {
      PoolMemberStatus s;
      s.key = m.key;
      s.healthy = m.healthy;
      if (const auto it = seen_.find(m.key); it != seen_.end() && it->second.grew) s.last_received = it->second.last_growth;
      p.members.push_back(std::move(s));
    }
    out.push_back(std::move(p));
  }
  return out;
}

}  // namespace wgsd::server
