#include "server/server.hpp"

#include <algorithm>
#include <map>

namespace wgsd::server {

std::unique_ptr<wg::Backend> default_backend(const ZoneConfig& zone) { return wg::make_backend(zone.backend); }

Server::Server(const ServerConfig& config, BackendFactory factory, Log& log, ServerLimits limits) {
  // Blocks that share a port share its sockets; their zones are told apart by the longest match.
  std::map<std::uint16_t, std::size_t> port_index;
  std::vector<ListenerOptions> options;
  std::vector<bool> wildcard;
  std::vector<ZoneConfig> zones;
  std::vector<std::size_t> port_of;
  for (const auto& b : config.blocks) {
    auto [it, added] = port_index.try_emplace(b.port, options.size());
    if (added) {
      ListenerOptions o;
      o.port = b.port;
      o.udp_workers = limits.udp_workers;
      o.max_tcp_connections = limits.max_tcp_connections;
      o.tcp_idle_timeout = limits.tcp_idle_timeout;
      options.push_back(o);
      wildcard.push_back(false);
    }
    ListenerOptions& o = options[it->second];
    if (b.bind.empty()) wildcard[it->second] = true;
    for (const auto& a : b.bind) {
      if (std::find(o.addresses.begin(), o.addresses.end(), a) == o.addresses.end()) o.addresses.push_back(a);
    }
    o.log = o.log || b.log;
    o.errors = o.errors || b.errors;
    for (const auto& z : b.wgsd) {
      zones.push_back(z);
      port_of.push_back(it->second);
    }
  }
  std::vector<SnapshotHolder*> raw;
  for (std::size_t p = 0; p < options.size(); ++p) {
    if (wildcard[p]) options[p].addresses.clear();
    holders_.push_back(std::make_unique<SnapshotHolder>());
    raw.push_back(holders_.back().get());
  }
  cache_ = std::make_unique<PeerCache>(std::move(zones), std::move(port_of), raw, std::move(factory), log, limits.max_peers);
  cache_->refresh(true);
  for (std::size_t p = 0; p < options.size(); ++p) listeners_.push_back(std::make_unique<Listener>(options[p], *holders_[p], log));
}

Server::~Server() { stop(); }

void Server::start() {
  cache_->start();
  for (auto& l : listeners_) l->start();
}

void Server::stop() {
  for (auto& l : listeners_) l->stop();
  if (cache_) cache_->stop();
}

}  // namespace wgsd::server
