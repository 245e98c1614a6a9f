#include "server/server.hpp"

#include <algorithm>
#include <map>

namespace wgsd::server {
namespace {

bool same_sockets(const ListenerOptions& a, const ListenerOptions& b) { return a.port == b.port && a.addresses == b.addresses; }

}  // namespace

std::unique_ptr<wg::Backend> default_backend(const ZoneConfig& zone) { return wg::make_backend(zone.backend); }

Server::Plan Server::plan(const ServerConfig& config) const {
  // Blocks that share a port share its sockets; their zones are told apart by the longest match.
  Plan plan;
  std::map<std::uint16_t, std::size_t> port_index;
  std::vector<bool> wildcard;
  for (const auto& b : config.blocks) {
    auto [it, added] = port_index.try_emplace(b.port, plan.ports.size());
    if (added) {
      ListenerOptions o;
      o.port = b.port;
      o.udp_workers = limits_.udp_workers;
      o.max_tcp_connections = limits_.max_tcp_connections;
      o.tcp_idle_timeout = limits_.tcp_idle_timeout;
      plan.ports.push_back(o);
      wildcard.push_back(false);
    }
    ListenerOptions& o = plan.ports[it->second];
    if (b.bind.empty()) wildcard[it->second] = true;
    for (const auto& a : b.bind) {
      if (std::find(o.addresses.begin(), o.addresses.end(), a) == o.addresses.end()) o.addresses.push_back(a);
    }
    o.log = o.log || b.log;
    o.errors = o.errors || b.errors;
    for (const auto& z : b.wgsd) {
      plan.zones.push_back(z);
      plan.port_of.push_back(it->second);
    }
  }
  for (std::size_t p = 0; p < plan.ports.size(); ++p) {
    auto& a = plan.ports[p].addresses;
    if (wildcard[p]) a.clear();
    // Order does not matter to the sockets; sorted, a reload that only reorders keeps them.
    std::sort(a.begin(), a.end(), [](const wg::IpAddress& x, const wg::IpAddress& y) { return x.to_string() < y.to_string(); });
  }
  return plan;
}

std::vector<SnapshotHolder*> Server::holders_of(const std::vector<Port>& ports) {
  std::vector<SnapshotHolder*> raw;
  for (const auto& port : ports) raw.push_back(port.holder.get());
  return raw;
}

Server::Server(const ServerConfig& config, BackendFactory factory, Log& log, ServerLimits limits)
    : factory_(std::move(factory)), log_(log), limits_(limits) {
  Plan p = plan(config);
  for (auto& options : p.ports) ports_.push_back(Port{std::move(options), std::make_unique<SnapshotHolder>(), nullptr});
  cache_ = std::make_unique<PeerCache>(std::move(p.zones), std::move(p.port_of), holders_of(ports_), factory_, log_, limits_.max_peers);
  cache_->refresh(true);
  for (auto& port : ports_) port.listener = std::make_unique<Listener>(port.options, *port.holder, log_);
}

Server::~Server() { stop(); }

void Server::start() {
  cache_->start();
  for (auto& p : ports_) p.listener->start();
}

void Server::stop() {
  for (auto& p : ports_) {
    if (p.listener) p.listener->stop();  // null: a port a reload could not bind again
  }
  if (cache_) cache_->stop();
}

void Server::reload(const ServerConfig& config) {
  Plan p = plan(config);
  const std::size_t n = p.ports.size();
  std::vector<Port> next(n);
  std::vector<bool> bound_now(n, false);
  auto serving = [this](std::uint16_t port) {
    return std::find_if(ports_.begin(), ports_.end(), [&](const Port& o) { return o.listener && o.options.port == port; });
  };

  // 1. What may fail comes first, while nothing has changed: ports that were not served before.
  std::vector<std::size_t> rebind;
  for (std::size_t i = 0; i < n; ++i) {
    next[i].options = p.ports[i];
    const auto old = serving(p.ports[i].port);
    if (old != ports_.end() && same_sockets(old->options, p.ports[i])) {
      next[i].holder = std::move(old->holder);
      next[i].listener = std::move(old->listener);
      continue;
    }
    next[i].holder = std::make_unique<SnapshotHolder>();
    if (old != ports_.end()) {
      rebind.push_back(i);  // its sockets are still open: bound again in step 3
      continue;
    }
    try {
      next[i].listener = std::make_unique<Listener>(p.ports[i], *next[i].holder, log_);
      bound_now[i] = true;
    } catch (...) {
      // Put back what was taken: the running configuration goes on as it was.
      for (std::size_t j = 0; j < i; ++j) {
        if (bound_now[j] || !next[j].listener) continue;
        for (auto& o : ports_) {
          if (!o.listener && o.options.port == next[j].options.port) {
            o.holder = std::move(next[j].holder);
            o.listener = std::move(next[j].listener);
          }
        }
      }
      throw;
    }
  }

  // 2. The new zones: unchanged ones carry their snapshot on; the rest are read now. Kept ports go
  //    on answering from the old snapshots meanwhile.
  cache_->stop();
  auto cache = std::make_unique<PeerCache>(std::move(p.zones), std::move(p.port_of), holders_of(next), factory_, log_, limits_.max_peers, cache_.get());
  cache->refresh(true);
  cache_ = std::move(cache);
  cache_->start();

  // 3. Ports whose addresses changed: the old sockets close before the new ones bind.
  for (const std::size_t i : rebind) {
    auto old = serving(next[i].options.port);
    old->listener->stop();
    old->listener.reset();
    try {
      next[i].listener = std::make_unique<Listener>(next[i].options, *next[i].holder, log_);
    } catch (const std::exception& e) {
      ListenerOptions fallback = old->options;
      fallback.log = next[i].options.log;
      fallback.errors = next[i].options.errors;
      try {
        next[i].listener = std::make_unique<Listener>(fallback, *next[i].holder, log_);
        next[i].options = fallback;
        log_.error(std::string("reload: ") + e.what() + "; port " + std::to_string(fallback.port) + " stays on its previous addresses");
      } catch (const std::exception& again) {
        log_.error(std::string("reload: ") + e.what() + "; port " + std::to_string(fallback.port) + " is not served: " + again.what());
        continue;
      }
    }
    bound_now[i] = true;
  }

  // 4. Switch: kept ports log as now configured, new ports answer, ports no longer configured close.
  for (std::size_t i = 0; i < n; ++i) {
    if (!next[i].listener) continue;
    if (bound_now[i]) next[i].listener->start();
    else next[i].listener->set_logging(next[i].options.log, next[i].options.errors);
  }
  for (auto& old : ports_) {
    if (old.listener) old.listener->stop();
  }
  ports_ = std::move(next);
}

}  // namespace wgsd::server
