// Who may transfer which zone: the compiled `transfer` directives of the server blocks that share a
// listening group, and where NOTIFY goes. Pure; deciding allocates nothing.
#pragma once

#include <string>
#include <string_view>
#include <vector>

#include "wg/address.hpp"

struct sockaddr;

namespace wgsd::dns {

struct Zone;
struct ZoneSet;

/// One `transfer [ZONE...] { to ADDRESS[:PORT]... | to * }`.
struct TransferRule {
  std::vector<std::string> zones;   ///< lower-case wire form; a zone whose apex is inside one of them
  bool anyone{};                    ///< `to *`: every address may transfer (and none is notified)
  std::vector<wg::Endpoint> to;     ///< these addresses may transfer; NOTIFY goes to each (port 53 by default)
};

struct TransferPolicy {
  std::vector<TransferRule> rules;
  /// Whether `source` may transfer the zone with apex `apex_wire` (lower-case wire form): the first
  /// rule covering the zone decides; no rule, nobody.
  [[nodiscard]] bool allows(std::string_view apex_wire, const sockaddr* source) const noexcept;
  /// The rule covering the zone, or nullptr.
  [[nodiscard]] const TransferRule* rule_for(std::string_view apex_wire) const noexcept;
};

/// The zone an AXFR or IXFR for `qname` (lower-case wire) from `source` transfers: its apex must be
/// `qname` and `zones.transfer` must allow `source`. nullptr otherwise (the answer is REFUSED).
const Zone* transfer_zone(const ZoneSet& zones, std::string_view qname, const sockaddr* source) noexcept;

}  // namespace wgsd::dns
