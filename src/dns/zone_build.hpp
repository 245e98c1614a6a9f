// Building a zone's snapshot from the peers the server decided to publish. What to publish (hidden
// peers, stale endpoints, the device itself) is the server's policy; this only encodes the result.
#pragma once

#include <cstdint>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "dns/pool.hpp"
#include "dns/zone.hpp"
#include "wg/types.hpp"

namespace wgsd::dns {

/// How long resolvers may keep what a zone answers, in seconds.
struct Ttls {
  std::uint32_t data{0};        ///< PTR, SRV, TXT and the peers' A/AAAA: endpoints move at any moment
  std::uint32_t negative{5};    ///< SOA TTL and MINIMUM: how long NXDOMAIN and NODATA are cached (RFC 2308)
  std::uint32_t ns{3600};       ///< NS and the addresses of the name servers inside the zone (glue)
  friend bool operator==(const Ttls&, const Ttls&) = default;
};

/// What a zone is, apart from its peers.
struct ZoneSettings {
  struct NameServer {
    std::string name;                      ///< normalised, trailing dot
    std::vector<wg::IpAddress> addresses;  ///< its A/AAAA and glue; only for names inside the zone
    friend bool operator==(const NameServer&, const NameServer&) = default;
  };
  std::string zone;                        ///< normalised: lower case, trailing dot
  std::vector<NameServer> ns;              ///< at least one; the first is also the SOA MNAME
  Ttls ttl;
  friend bool operator==(const ZoneSettings&, const ZoneSettings&) = default;
};

/// One peer as the zone publishes it.
struct PublishedPeer {
  wg::Key key;
  /// The SRV port and the A/AAAA. nullopt: the peer answers TXT only and is not in the PTR set
  /// unless `listed`.
  std::optional<wg::Endpoint> endpoint;
  /// The endpoint's address is not published: A/AAAA answer the local address each query came to.
  bool local_address{};
  /// In the PTR set even without an endpoint (`list-all`): a listing names every peer.
  bool listed{};
  std::vector<wg::Prefix> allowed_ips;                ///< the TXT `allowed=` list, in this order
  std::optional<wg::Clock::time_point> handshake;     ///< TXT `handshake=`; nullopt: none
  friend bool operator==(const PublishedPeer&, const PublishedPeer&) = default;
};

/// A zone with only SOA and NS: what is served before the device was first read (`loaded` false).
/// `serial` carries on the serial of a zone of the same name served before (a reload).
std::shared_ptr<const Zone> build_empty_zone(const ZoneSettings& settings, std::uint32_t serial = 0);

/// A digest of what `build_zone` would publish for these peers, computed without building: equal
/// digests mean equal zones (apart from the serial), so a refresh can skip the build.
std::string published_digest(const std::vector<PublishedPeer>& peers, const std::vector<PoolView>& pools = {});

/// Builds the zone at `now` (the serial's clock). `peers` in publishing order (PTR order).
/// `previous` (may be null) carries the serial on: it grows by at least 1 when what is published
/// changes, and never goes backwards. The nodes of peers that did not change since `previous` are
/// shared with it rather than built again. `pools` adds the `pool` names with their members' health.
std::shared_ptr<const Zone> build_zone(const ZoneSettings& settings, const std::vector<PublishedPeer>& peers,
                                       wg::Clock::time_point now, const Zone* previous, const std::vector<PoolView>& pools = {});

/// What the refresher calls: `previous` itself when nothing published changed (nothing is built,
/// readers need not move), else build_zone's result.
std::shared_ptr<const Zone> refresh_zone(const ZoneSettings& settings, const std::vector<PublishedPeer>& peers,
                                         wg::Clock::time_point now, const std::shared_ptr<const Zone>& previous,
                                         const std::vector<PoolView>& pools = {});

}  // namespace wgsd::dns
