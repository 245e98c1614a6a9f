// Puts a ServerConfig to work: one SnapshotHolder and Listener per port, one PeerCache for all zones.
#pragma once

#include <memory>
#include <vector>

#include "server/config.hpp"
#include "server/listener.hpp"
#include "server/peer_cache.hpp"

namespace wgsd::server {

/// Limits and threads, the same for every port.
struct ServerLimits {
  unsigned udp_workers{0};                            ///< 0: one per core
  std::size_t max_tcp_connections{256};               ///< per port; past it the longest-idle one is closed
  std::chrono::milliseconds tcp_idle_timeout{10000};  ///< an idle TCP connection is closed after this
  std::size_t max_peers{1000000};                     ///< a device read with more peers is refused whole
};

class Server {
public:
  /// Reads every device once, then binds every port. Throws std::runtime_error if a port cannot be bound.
  Server(const ServerConfig& config, BackendFactory factory, Log& log, ServerLimits limits = {});
  ~Server();
  void start();
  void stop();

private:
  std::vector<std::unique_ptr<SnapshotHolder>> holders_;
  std::unique_ptr<PeerCache> cache_;
  std::vector<std::unique_ptr<Listener>> listeners_;
};

/// The default factory: the backend the zone's `backend` option names.
std::unique_ptr<wg::Backend> default_backend(const ZoneConfig& zone);

}  // namespace wgsd::server
