#include "server/server.hpp"

#include <algorithm>
#include <map>
#include <set>

#include "server/acl.hpp"
#include "dns/transfer.hpp"
#include "server/ops_pages.hpp"
#include "dns/tsig.hpp"

namespace wgsd::server {
namespace {

bool same_sockets(const ListenerOptions& a, const ListenerOptions& b) { return a.port == b.port && a.addresses == b.addresses; }

const wg::IpAddress any_v4{};
const wg::IpAddress any_v6 = wg::IpAddress::v6({});

// What a block listens on: its `bind` addresses, or every address of both families.
std::vector<wg::IpAddress> addresses_of(const BlockConfig& b) {
  if (b.bind.empty()) return {any_v4, any_v6};
  return b.bind;
}

// Whether a block listening on `bound` receives what comes to `a`: an unspecified address takes
// every address of its family that no socket of its own is bound to.
bool covers(const std::vector<wg::IpAddress>& bound, const wg::IpAddress& a) {
  const wg::IpAddress& any = a.is_v4() ? any_v4 : any_v6;
  return std::find(bound.begin(), bound.end(), a) != bound.end() || std::find(bound.begin(), bound.end(), any) != bound.end();
}

}  // namespace

std::unique_ptr<wg::Backend> default_backend(const ZoneConfig& zone) { return wg::make_backend(zone.backend); }

Server::Plan Server::plan(const ServerConfig& config) const {
  // Each address of a port gets its own sockets, answering the zones of exactly the blocks that
  // listen on it. A packet goes to the socket bound to its destination address, and only when
  // there is none to the port's unspecified-address socket (Linux delivers to the most specific
  // bound socket, UDP and TCP alike): so a zone bound elsewhere never answers here. Addresses that
  // answer the same blocks share one group of sockets.
  Plan plan;
  std::vector<std::size_t> block_of;  // per zone
  std::map<std::uint16_t, std::vector<std::size_t>> blocks_on;
  for (std::size_t b = 0; b < config.blocks.size(); ++b) {
    blocks_on[config.blocks[b].port].push_back(b);
    for (const auto& z : config.blocks[b].wgsd) {
      plan.zones.push_back(z);
      block_of.push_back(b);
    }
  }
  for (const auto& [port, blocks] : blocks_on) {
    std::set<wg::IpAddress> all;
    for (const std::size_t b : blocks) {
      for (const auto& a : addresses_of(config.blocks[b])) all.insert(a);
    }
    // Sorted, so a reload that only reorders keeps the same groups and sockets.
    std::map<std::vector<std::size_t>, std::vector<wg::IpAddress>> groups;
    for (const auto& a : all) {
      std::vector<std::size_t> who;
      for (const std::size_t b : blocks) {
        if (covers(addresses_of(config.blocks[b]), a)) who.push_back(b);
      }
      groups[who].push_back(a);
    }
    for (const auto& [who, addresses] : groups) {
      ListenerOptions o;
      o.port = port;
      o.udp_workers = limits_.udp_workers;
      o.max_tcp_connections = limits_.max_tcp_connections;
      o.tcp_idle_timeout = limits_.tcp_idle_timeout;
      o.count = std::any_of(config.http.begin(), config.http.end(), [](const HttpConfig& h) { return h.kind == HttpConfig::Kind::metrics; });
      // Both unspecified addresses: the listener's wildcard, which goes on without IPv6 on a host
      // that has none.
      if (addresses != std::vector<wg::IpAddress>{any_v4, any_v6}) o.addresses = addresses;
      // `::` that only blocks without `bind` listen on (another block binds 0.0.0.0 on the port)
      // may fail like the wildcard's; a block that names `::` wants it.
      o.ipv6_optional = std::none_of(who.begin(), who.end(), [&](std::size_t b) {
        const auto& bind = config.blocks[b].bind;
        return std::find(bind.begin(), bind.end(), any_v6) != bind.end();
      });
      std::vector<std::size_t> members;
      std::vector<const BlockConfig*> listening;
      auto transfer = std::make_shared<dns::TransferPolicy>();
      for (const std::size_t b : who) {
        for (const auto& t : config.blocks[b].transfer) transfer->rules.push_back(t.rule);
        o.log = o.log || config.blocks[b].log;
        o.errors = o.errors || config.blocks[b].errors;
        for (std::size_t z = 0; z < plan.zones.size(); ++z) {
          if (block_of[z] == b) members.push_back(z);
        }
        listening.push_back(&config.blocks[b]);
      }
      o.acl = compile_acl(listening);
      plan.tsig.push_back(compile_tsig(listening));
      plan.groups.push_back(std::move(o));
      plan.members.push_back(std::move(members));
      plan.transfer.push_back(transfer->rules.empty() ? nullptr : std::move(transfer));
    }
  }
  return plan;
}

void Server::configure_stats(const ServerConfig& config) {
  zones_.clear();
  for (const auto& b : config.blocks) {
    for (const auto& z : b.wgsd) zones_.emplace_back(z.settings.zone, z.device);
  }
  stats_.configure(zones_);
  stats_.keep_peers(std::any_of(config.http.begin(), config.http.end(), [](const HttpConfig& h) { return h.kind == HttpConfig::Kind::status; }));
}

std::vector<Server::Http> Server::bind_http(const ServerConfig& config) const {
  // Every address's routes first: a new address starts with what it serves, so from its first
  // answer on it says what the configuration it comes with says (not 404, nor a wait), even while
  // a reload is still waiting for a device read in progress before the switch.
  std::vector<Http> out;
  std::vector<const HttpConfig*> first;  // per address, the directive that named it first
  for (const auto& h : config.http) {
    auto it = std::find_if(out.begin(), out.end(), [&](const Http& x) { return x.address == h.address; });
    if (it == out.end()) {
      out.push_back(Http{h.address, {}, nullptr});
      first.push_back(&h);
      it = std::prev(out.end());
    }
    switch (h.kind) {
      case HttpConfig::Kind::metrics: it->routes.metrics = true; break;
      case HttpConfig::Kind::health: it->routes.health = true; break;
      case HttpConfig::Kind::ready: it->routes.ready = true; break;
      case HttpConfig::Kind::status: it->routes.status = true; break;
    }
  }
  for (std::size_t i = 0; i < out.size(); ++i) {
    Http& h = out[i];
    const bool running = std::any_of(http_.begin(), http_.end(), [&](const Http& x) { return x.address == h.address; });
    if (running) continue;
    static constexpr const char* names[] = {"prometheus", "health", "ready", "status"};
    try {
      h.server = std::make_unique<HttpServer>(
          h.address, h.routes, [this](const HttpRoutes& r, std::string_view path) { return serve_http(r, path); }, limits_.http);
      // Before start() the daemon waits: its thread must not inherit what the main thread
      // holds before it drops to its permitted set.
      if (started_) h.server->start();
    } catch (const std::exception& e) {
      throw std::runtime_error(first[i]->where + ": " + names[static_cast<int>(first[i]->kind)] + ": " + e.what());
    }
  }
  return out;
}

void Server::switch_http(std::vector<Http> next) {
  for (auto& h : next) {
    if (!h.server) {
      const auto old = std::find_if(http_.begin(), http_.end(), [&](const Http& x) { return x.address == h.address; });
      h.server = std::move(old->server);
    }
    h.server->set_routes(h.routes);
  }
  http_ = std::move(next);  // addresses no longer named close here
}

std::uint16_t Server::http_port(const HttpAddress& address) const {
  for (const auto& h : http_) {
    if (h.address == address && h.server) return h.server->port();
  }
  return 0;
}

HttpResponse Server::serve_http(const HttpRoutes& routes, std::string_view path) const {
  if (routes.ready && path == "/ready" && draining_.load(std::memory_order_relaxed)) return {503, "text/plain; charset=utf-8", "shutting down\n"};
  return ops::answer(routes, path, metrics_, stats_, secondaries_ ? &secondaries_->notifier() : nullptr);
}

Server::Server(const ServerConfig& config, BackendFactory factory, Log& log, ServerLimits limits)
    : factory_(std::move(factory)), log_(log), limits_(limits), secondaries_(std::make_unique<Secondaries>(log, limits_.state_dir)) {
  configure_stats(config);
  Plan p = plan(config);
  secondaries_->configure(config);
  std::vector<SnapshotHolder*> holders;
  for (auto& options : p.groups) {
    groups_.push_back(Group{std::move(options), std::make_unique<SnapshotHolder>(), nullptr});
    groups_.back().holder->set_acl(groups_.back().options.acl);
    holders.push_back(groups_.back().holder.get());
  }
  cache_ = std::make_unique<PeerCache>(std::move(p.zones), std::move(p.members), std::move(holders), factory_, log_, limits_.max_peers);
  cache_->observe(&stats_, &metrics_);
  for (std::size_t g = 0; g < p.tsig.size(); ++g) cache_->set_tsig(g, p.tsig[g]);
  for (std::size_t g = 0; g < p.transfer.size(); ++g) cache_->set_transfer(g, p.transfer[g]);
  cache_->set_serial_hooks(secondaries_->hooks());
  cache_->load();
  cache_->take_over();
  for (auto& g : groups_) g.listener = std::make_unique<Listener>(g.options, *g.holder, log_, &metrics_);
  switch_http(bind_http(config));
}

Server::~Server() { stop(); }

void Server::start() {
  secondaries_->start();
  cache_->start();
  for (auto& g : groups_) g.listener->start();
  for (auto& h : http_) h.server->start();
  started_ = true;
}

void Server::stop() {
  http_.clear();
  for (auto& g : groups_) {
    if (g.listener) g.listener->stop();
  }
  if (cache_) cache_->stop();
  if (secondaries_) secondaries_->stop();
}

void Server::reload(const ServerConfig& config) {
  Plan p = plan(config);
  const std::size_t n = p.groups.size();
  std::vector<Group> next(n);
  std::vector<Group*> kept(n, nullptr);  // the running group whose sockets serve next[i]
  std::vector<SnapshotHolder*> holders(n);
  for (std::size_t i = 0; i < n; ++i) {
    next[i].options = p.groups[i];
    const auto old = std::find_if(groups_.begin(), groups_.end(), [&](const Group& g) { return same_sockets(g.options, p.groups[i]); });
    if (old != groups_.end()) {
      kept[i] = &*old;
      holders[i] = old->holder.get();
    } else {
      next[i].holder = std::make_unique<SnapshotHolder>();
      holders[i] = next[i].holder.get();
    }
  }

  // 1. Everything that may fail or take long, while the running configuration answers and its
  //    refresher goes on: the backends, the devices of new and changed zones, the new sockets and
  //    every new thread (they wait to be opened). An exception leaves nothing changed: new
  //    sockets close and new threads end unopened.
  auto cache = std::make_unique<PeerCache>(std::move(p.zones), std::move(p.members), holders, factory_, log_, limits_.max_peers);
  cache->observe(&stats_, &metrics_);
  for (std::size_t g = 0; g < p.tsig.size(); ++g) cache->set_tsig(g, p.tsig[g]);
  for (std::size_t g = 0; g < p.transfer.size(); ++g) cache->set_transfer(g, p.transfer[g]);
  cache->set_serial_hooks(secondaries_->hooks());
  secondaries_->configure(config);
  std::vector<Http> http;
  try {
    cache->load(cache_.get());
    for (std::size_t i = 0; i < n; ++i) {
      // Beside a running socket on the same address (SO_REUSEPORT) they share its queries until it closes.
      if (kept[i] == nullptr) next[i].listener = std::make_unique<Listener>(next[i].options, *next[i].holder, log_, &metrics_);
    }
    http = bind_http(config);
  } catch (...) {
    stats_.configure(zones_);  // forget the zones the new configuration read
    throw;
  }
  for (std::size_t i = 0; i < n; ++i) {
    if (kept[i] == nullptr) next[i].listener->spawn();
  }
  cache->spawn();
  {
    // The running refresher pauses (it finishes a refresh first) while the new zones are built.
    auto paused = cache_->hold();
    std::vector<std::shared_ptr<const dns::Acl>> acls(n);
    for (std::size_t i = 0; i < n; ++i) acls[i] = next[i].options.acl;
    cache->prepare(cache_.get(), std::move(acls));

    // 2. The switch, which cannot fail: every holder gets its new zones and acl at once; unchanged
    //    zones carry their snapshot.
    cache->commit();
    cache_->request_stop();
  }
  {
    const std::lock_guard swapping(swap_mutex_);
    cache_->stop();
    cache_ = std::move(cache);
    cache_->open();
  }

  // 3. New sockets answer, kept ones log as now configured, those no longer configured close.
  const std::lock_guard swapping(swap_mutex_);
  for (std::size_t i = 0; i < n; ++i) {
    if (kept[i] != nullptr) {
      next[i].holder = std::move(kept[i]->holder);
      next[i].listener = std::move(kept[i]->listener);
      next[i].listener->set_logging(next[i].options.log, next[i].options.errors);
      next[i].listener->set_counting(next[i].options.count);
    } else {
      next[i].listener->open();
    }
  }
  for (auto& old : groups_) {
    if (old.listener) old.listener->stop();
  }
  groups_ = std::move(next);
  configure_stats(config);
  // HTTP addresses: kept ones serve what is configured now, new ones start, the others close.
  switch_http(std::move(http));
}

Server::Summary Server::summary() const {
  const std::lock_guard swapping(swap_mutex_);
  Summary s;
  if (!cache_) return s;
  const auto t = cache_->tally();
  s.zones = t.zones;
  s.loaded = t.loaded;
  s.published = t.published;
  return s;
}

bool Server::alive(std::chrono::microseconds stall) const {
  const std::lock_guard swapping(swap_mutex_);
  if (!cache_ || !cache_->alive(stall)) return false;
  return std::all_of(groups_.begin(), groups_.end(), [](const Group& g) { return g.listener && g.listener->alive(); });
}

}  // namespace wgsd::server
