// The publishing policy of a zone: which peers of the device the zone publishes, and how.
#pragma once

#include <chrono>
#include <optional>
#include <vector>

#include "dns/zone_build.hpp"
#include "wg/types.hpp"

namespace wgsd::server {

/// `self`, `hide`, `max-age` and `list-all` of a `wgsd` block.
struct PublishPolicy {
  struct Self {
    std::optional<wg::Endpoint> endpoint;      ///< nullopt: listen port + the address the query came to
    std::vector<wg::Prefix> allowed_ips;       ///< published in TXT; empty: "allowed="
    friend bool operator==(const Self&, const Self&) = default;
  };
  std::optional<Self> self;                    ///< nullopt: the device itself is not published
  std::vector<wg::Key> hide;                   ///< never published, not even TXT
  std::optional<std::chrono::seconds> max_age; ///< nullopt: any endpoint is published, however old
  bool list_all{};                             ///< `list-all`: PTR lists peers without a fresh endpoint too
  friend bool operator==(const PublishPolicy&, const PublishPolicy&) = default;
};

/// The peers of `device`, read at `now`, as the zone publishes them: device order, `self` last.
/// A hidden peer is left out; a peer without an endpoint, or whose latest handshake is older than
/// `max_age`, answers TXT only (and is in the PTR set with `list_all`). The allowed IPs are moved out of `device`.
std::vector<dns::PublishedPeer> published_peers(const PublishPolicy& policy, wg::Device& device, wg::Clock::time_point now);

}  // namespace wgsd::server
