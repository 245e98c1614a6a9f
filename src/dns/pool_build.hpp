// The records of a pool, as the zone builder adds them to a snapshot.
#pragma once

#include <string>
#include <vector>

#include "dns/pool.hpp"
#include "dns/zone.hpp"

namespace wgsd::dns {

struct PoolRecords {
  std::vector<RRset> address;  ///< at NAME.ZONE: A and AAAA, each only when some answered member has one
  std::vector<RRset> service;  ///< at _wireguard._udp.NAME.ZONE: the SRV set, when some member is answered
  PoolSnapshot snapshot;       ///< without the node blocks, which exist once the zone is packed
};

/// The records of `pool` in `zone` (normalised text, trailing dot): one A or AAAA per answered
/// member (its endpoint's address) and one SRV per answered member (priority 0, its weight, its
/// endpoint's port, its instance name), with the member's address as additional record.
PoolRecords build_pool(const PoolView& pool, const std::string& zone);

/// A digest of what build_pool publishes for `pools`, so that a refresh can tell whether anything changed.
std::string pools_digest(const std::vector<PoolView>& pools);

}  // namespace wgsd::dns
