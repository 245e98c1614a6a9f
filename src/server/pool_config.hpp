// `pool NAME { member PUBKEY [weight N] ; max-age ; ttl ; answers }` inside a `wgsd` block.
#pragma once

#include <chrono>
#include <cstdint>
#include <string>
#include <vector>

#include "server/corefile.hpp"
#include "wg/key.hpp"

namespace wgsd::server {

struct PoolConfig {
  struct Member {
    wg::Key key;
    std::uint16_t weight{1};
    friend bool operator==(const Member&, const Member&) = default;
  };
  std::string name;                               ///< relative to the zone, lower case, no trailing dot
  std::vector<Member> members;                    ///< in Corefile order
  std::chrono::milliseconds max_age{60000};       ///< healthy: received from within this
  std::uint32_t ttl{10};                          ///< of the pool's records, seconds
  std::uint32_t answers{0};                       ///< at most this many records per answer; 0: all
  std::string where;                              ///< "Corefile:5", for messages
  friend bool operator==(const PoolConfig& a, const PoolConfig& b) {
    return a.name == b.name && a.members == b.members && a.max_age == b.max_age && a.ttl == b.ttl && a.answers == b.answers;
  }
};

/// Parses one `pool` directive of the `wgsd` block for `zone` (normalised, trailing dot). `others`
/// are the pools parsed before it, and `ns_names` the zone's name servers: a pool's names collide
/// with none of them, nor with the peers' `_wireguard._udp` names. Throws ConfigError naming the line
/// and the bad value: "Corefile:5: pool vpn: member 'xyz': not a WireGuard public key".
PoolConfig parse_pool(const Directive& d, const std::string& zone, const std::vector<PoolConfig>& others,
                      const std::vector<std::string>& ns_names);

}  // namespace wgsd::server
