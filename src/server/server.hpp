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

  /// Serves `config` from now on (a reload; the server must be started). Ports whose addresses did
  /// not change keep their sockets and go on answering throughout; zones whose settings did not
  /// change keep their snapshot; new and changed zones are read before this returns. A new port is
  /// bound before anything changes: if that fails this throws std::runtime_error and the running
  /// configuration is untouched. A port whose addresses changed is closed and bound again; if the
  /// new addresses cannot be bound, it goes on listening on the old ones and that is logged.
  void reload(const ServerConfig& config);

private:
  struct Port {
    ListenerOptions options;
    std::unique_ptr<SnapshotHolder> holder;
    std::unique_ptr<Listener> listener;
  };
  struct Plan {
    std::vector<ListenerOptions> ports;
    std::vector<ZoneConfig> zones;
    std::vector<std::size_t> port_of;
  };
  [[nodiscard]] Plan plan(const ServerConfig& config) const;
  static std::vector<SnapshotHolder*> holders_of(const std::vector<Port>& ports);

  BackendFactory factory_;
  Log& log_;
  ServerLimits limits_;
  std::vector<Port> ports_;
  std::unique_ptr<PeerCache> cache_;
};

/// The default factory: the backend the zone's `backend` option names.
std::unique_ptr<wg::Backend> default_backend(const ZoneConfig& zone);

}  // namespace wgsd::server
