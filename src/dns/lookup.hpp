// Which data answers a question: the CoreDNS file plugin's Lookup over an immutable ZoneSet. Pure.
#pragma once

#include <cstdint>
#include <string_view>

#include "dns/zone.hpp"

namespace wgsd::dns {

enum class Outcome {
  answer,     ///< `rrset` answers (or, for ANY and for the dynamic address of self, `node` does)
  nodata,     ///< the name exists without that type: NOERROR, SOA in authority
  nxdomain,   ///< the name does not exist in `zone`
  refused,    ///< outside every zone
  servfail,   ///< the zone's device has never been read
};

struct LookupResult {
  Outcome outcome{Outcome::refused};
  const Zone* zone{};          ///< set unless refused
  std::size_t apex_offset{};   ///< where the apex starts in the name
  NodeRef node;                ///< set for answer and nodata
  RRsetRef rrset;              ///< the answering RRset; empty for ANY and for the dynamic address
};

/// Looks up a lower-case, uncompressed wire name. `qtype` ANY answers with the node; A or AAAA of
/// a node with a dynamic address answers with the node (the responder knows the local address).
LookupResult lookup(const ZoneSet& zones, std::string_view lower_qname, std::uint16_t qtype);

}  // namespace wgsd::dns
