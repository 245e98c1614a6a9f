// Puts a ServerConfig to work: one PeerCache for all zones, and one Listener with its SnapshotHolder
// per port and set of addresses that serve the same zones. The server block is the unit of exposure:
// a zone is answered only on the addresses its own block binds (every address without `bind`).
#pragma once

#include <atomic>
#include <chrono>
#include <memory>
#include <mutex>
#include <vector>

#include "server/config.hpp"
#include "server/dns_metrics.hpp"
#include "server/http.hpp"
#include "server/listener.hpp"
#include "server/peer_cache.hpp"
#include "server/zone_stats.hpp"
#include "server/secondaries.hpp"

namespace wgsd::server {

/// Limits and threads, the same for every listening group.
struct ServerLimits {
  unsigned udp_workers{0};                            ///< 0: one per core
  std::size_t max_tcp_connections{256};               ///< per listening group; past it the longest-idle one is closed
  std::chrono::milliseconds tcp_idle_timeout{10000};  ///< an idle TCP connection is closed after this
  std::size_t max_peers{1000000};                     ///< a device read with more peers is refused whole
  HttpLimits http{};                                  ///< connections and timeouts of each HTTP address
  std::string state_dir{};                            ///< where transferred zones keep their serial; "": nowhere
};

class Server {
public:
  /// Reads every device once, then binds every port. Throws std::runtime_error if a port cannot be bound.
  Server(const ServerConfig& config, BackendFactory factory, Log& log, ServerLimits limits = {});
  ~Server();
  void start();
  void stop();

  /// Serves `config` from now on (a reload; the server must be started). New and changed zones are
  /// read and new addresses bound while the running configuration goes on answering; then
  /// everything switches at once. Addresses kept keep their sockets; zones whose settings did not
  /// change keep their snapshot. If anything fails before the switch (a backend that cannot be
  /// made, an address that cannot be bound) this throws and the running configuration is untouched.
  void reload(const ServerConfig& config);
  /// NOTIFY and the serials kept for secondaries.
  [[nodiscard]] const Secondaries& secondaries() const { return *secondaries_; }

  /// What the server publishes now, for the status line. Any thread may ask, during a reload too.
  struct Summary {
    std::size_t zones{};      ///< zones served
    std::size_t loaded{};     ///< of them, those whose device has been read once
    std::size_t published{};  ///< peers published, over every zone
  };
  [[nodiscard]] Summary summary() const;
  /// Whether the refresher is running and not stuck in one refresh for `stall` or longer, and
  /// every listener thread is running. Any thread may ask, during a reload too.
  [[nodiscard]] bool alive(std::chrono::microseconds stall) const;
  /// The port an HTTP address of the running configuration is bound to (0: none such).
  [[nodiscard]] std::uint16_t http_port(const HttpAddress& address) const;
  /// The shutdown has begun (SIGTERM, before the lameduck wait): /ready answers 503 from now on, so
  /// a load balancer drains this node while DNS and /health still answer.
  void drain() noexcept { draining_.store(true, std::memory_order_relaxed); }
  /// What the HTTP addresses answer (also for tests).
  [[nodiscard]] HttpResponse serve_http(const HttpRoutes& routes, std::string_view path) const;
  [[nodiscard]] const ZoneStats& stats() const noexcept { return stats_; }

private:
  struct Http {
    HttpAddress address;
    HttpRoutes routes;
    std::unique_ptr<HttpServer> server;
  };
  /// The HTTP addresses `config` names, each with what it serves; new ones bound, running ones
  /// left to switch_http() (server null). Throws "Corefile:7: prometheus: cannot listen on ...".
  [[nodiscard]] std::vector<Http> bind_http(const ServerConfig& config) const;
  /// Serves `next` from now on (cannot fail): running addresses kept, the others closed.
  void switch_http(std::vector<Http> next);
  void configure_stats(const ServerConfig& config);
  /// The sockets of one port and set of addresses, and the zones they answer.
  struct Group {
    ListenerOptions options;
    std::unique_ptr<SnapshotHolder> holder;
    std::unique_ptr<Listener> listener;
  };
  struct Plan {
    std::vector<ListenerOptions> groups;
    std::vector<ZoneConfig> zones;
    std::vector<std::vector<std::size_t>> members;  ///< per group: indices into zones
    std::vector<std::shared_ptr<const dns::tsig::Policy>> tsig;  ///< per group: its blocks' keys and rules, or null
    std::vector<std::shared_ptr<const dns::TransferPolicy>> transfer;  ///< per group: its blocks' `transfer`, or null
  };
  [[nodiscard]] Plan plan(const ServerConfig& config) const;

  BackendFactory factory_;
  Log& log_;
  ServerLimits limits_;
  // Before what counts into them: the listeners' threads and the refresher end first.
  metrics::Registry metrics_;
  ZoneStats stats_;
  std::vector<std::pair<std::string, std::string>> zones_;  // (zone, device) of the running configuration
  std::vector<Group> groups_;
  std::unique_ptr<PeerCache> cache_;
  mutable std::mutex swap_mutex_;  // held while reload() replaces groups_ or cache_, and by summary() and alive()
  std::vector<Http> http_;
  std::unique_ptr<Secondaries> secondaries_;
  std::atomic<bool> draining_{};  // drain() was called
  bool started_{};  // start() ran: an HTTP address a reload adds answers at once
};

/// The default factory: the backend the zone's `backend` option names.
std::unique_ptr<wg::Backend> default_backend(const ZoneConfig& zone);

}  // namespace wgsd::server
