// What a Corefile means to wgsd-server: the only place that knows the directives.
#pragma once

#include <chrono>
#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "dns/acl.hpp"
#include "dns/zone_build.hpp"
#include "server/corefile.hpp"
#include "server/pool_config.hpp"
#include "server/http.hpp"
#include "server/publish.hpp"
#include "server/transfer_config.hpp"
#include "server/tsig_keys.hpp"
#include "wg/backend.hpp"

namespace wgsd::server {

/// One `wgsd ZONE DEVICE { ... }`.
struct ZoneConfig {
  dns::ZoneSettings settings;
  std::string device;
  PublishPolicy publish;
  std::optional<std::chrono::milliseconds> refresh;  ///< `refresh`; nullopt: refresh_for() follows the device's size
  wg::BackendKind backend{wg::BackendKind::automatic};
  std::string where;   ///< "Corefile:3", for messages
  std::vector<std::string> ns_where;  ///< where each of settings.ns was given; "" for the default ns1
  std::vector<PoolConfig> pools;      ///< `pool` directives, in order
  /// How long after a read of a device of `peers` peers the next read comes: `refresh` when it is
  /// given; otherwise 1s up to 10,000 peers, then 1s for every 10,000 peers, at most 10s.
  [[nodiscard]] std::chrono::milliseconds refresh_for(std::size_t peers) const;
  /// Everything that decides what the zone publishes (not how often or how it is read).
  [[nodiscard]] bool same_zone(const ZoneConfig& o) const {
    return settings == o.settings && device == o.device && publish == o.publish && pools == o.pools;
  }
};

/// One `prometheus`, `health`, `ready` or `status` directive.
struct HttpConfig {
  enum class Kind { metrics, health, ready, status };
  Kind kind{Kind::metrics};
  HttpAddress address;
  std::string where;  ///< "Corefile:7", for messages
  friend bool operator==(const HttpConfig&, const HttpConfig&) = default;
};

/// One server block.
struct BlockConfig {
  std::vector<std::string> zones;             ///< the block's keys, normalised ("." for all)
  std::uint16_t port{53};
  std::vector<wg::IpAddress> bind;            ///< empty: every address (0.0.0.0 and ::)
  bool log{};
  bool errors{};
  std::optional<std::chrono::milliseconds> reload;
  std::string reload_where;                   ///< "Corefile:4", for messages
  std::vector<ZoneConfig> wgsd;
  std::vector<dns::AclRule> acl;              ///< `acl` directives in order; empty: everybody may ask
  std::vector<TsigConfig> tsig;               ///< `tsig` directives, in order
  std::vector<TransferConfig> transfer;       ///< `transfer` directives, in order
  std::vector<HttpConfig> http;               ///< `prometheus`, `health`, `ready`, `status`
  std::optional<std::chrono::milliseconds> lameduck;  ///< `health { lameduck DURATION }`
  std::string where;
};

struct ServerConfig {
  std::vector<BlockConfig> blocks;
  /// `reload [INTERVAL]` in any block: how often the Corefile is checked for changes. It applies to
  /// the whole process, as in CoreDNS; nullopt: only SIGHUP re-reads it.
  std::optional<std::chrono::milliseconds> reload;
  /// Every HTTP directive of every block; one listener per address serves all that name it.
  std::vector<HttpConfig> http;
  /// How long DNS goes on being answered after SIGTERM (`health { lameduck }`); nullopt: stop at once.
  std::optional<std::chrono::milliseconds> lameduck;
};

/// Parses and validates a whole Corefile. Throws ConfigError whose message names the file, line,
/// directive, what was expected and the bad value:
/// "Corefile:3: wgsd: self: endpoint must be IP:PORT, got '192.0.2.1'".
ServerConfig parse_config(std::string_view text, const std::string& file);

}  // namespace wgsd::server
