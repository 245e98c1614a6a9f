// Pools: names that balance over a set of members (VPN servers) by health and weight. The builder
// turns what the server decided (who is healthy) into records; each query draws its own order.
#pragma once

#include <cstddef>
#include <cstdint>
#include <optional>
#include <span>
#include <string>
#include <vector>

#include "wg/types.hpp"

namespace wgsd::dns {

/// At most this many members per pool: an order is drawn on the stack, without allocating.
inline constexpr std::size_t max_pool_members = 64;

/// One member as the refresher sees it at a refresh.
struct PoolMemberView {
  wg::Key key;
  std::uint16_t weight{1};
  std::optional<wg::Endpoint> endpoint;  ///< as the registry's device sees it; nullopt: not on the device or never reached
  bool healthy{};                        ///< something arrived from it within the pool's max-age
  friend bool operator==(const PoolMemberView&, const PoolMemberView&) = default;
};

/// One `pool` as the next snapshot publishes it.
struct PoolView {
  std::string name;            ///< relative to the zone, lower case, no trailing dot ("vpn")
  std::uint32_t ttl{10};       ///< of every record of the pool
  std::uint32_t answers{0};    ///< at most this many records per answer; 0: every one
  std::vector<PoolMemberView> members;
  std::uint64_t fail_open_episodes{};  ///< how often this pool has started failing open, for metrics; not published
  friend bool operator==(const PoolView&, const PoolView&) = default;

  /// No member is both healthy and reachable: every member with an endpoint is answered instead.
  [[nodiscard]] bool fail_open() const;
  /// Whether member `i` is in the pool's answers.
  [[nodiscard]] bool answered(std::size_t i) const;
};

/// A pool in a snapshot: which nodes answer for it and the weight of each of their records, and
/// the health of every member (for status pages and metrics).
struct PoolSnapshot {
  struct Member {
    wg::Key key;
    std::uint16_t weight{};
    std::optional<wg::Endpoint> endpoint;
    bool healthy{};
    bool answered{};
  };
  std::string name;                  ///< as in PoolView
  std::string address_wire;          ///< NAME.ZONE, lower-case wire
  std::string service_wire;          ///< _wireguard._udp.NAME.ZONE
  const std::byte* address_block{};  ///< the nodes of those names in the zone (their identity)
  const std::byte* service_block{};
  std::uint32_t answers{};           ///< 0: every one
  bool fail_open{};
  std::uint64_t fail_open_episodes{};  ///< since the server started (as of this snapshot's build)
  /// The weights of the records of the A, AAAA and SRV RRsets, in the order the RRsets hold them.
  std::vector<std::uint16_t> weights_a, weights_aaaa, weights_srv;
  std::vector<Member> members;       ///< every configured member, in Corefile order

  /// The weights of the records of `qtype` at the node `block`; empty when this pool has none there.
  [[nodiscard]] std::span<const std::uint16_t> weights(const std::byte* block, std::uint16_t qtype) const;
};

/// Writes into `order` the indices 0..weights.size()-1 in a weighted random order (the chance of
/// coming next is proportional to the weight among those not drawn yet), at most order.size() of
/// them, and returns how many it wrote. weights.size() must not exceed max_pool_members. Uses the
/// calling thread's generator; allocates nothing.
std::size_t draw_order(std::span<const std::uint16_t> weights, std::span<std::uint16_t> order);

/// Seeds the calling thread's generator, for tests that want a repeatable draw. Without it each
/// thread seeds itself from the kernel (getrandom) the first time it draws.
void seed_pool_random(std::uint64_t seed);

}  // namespace wgsd::dns
