// DNS-SD names of WireGuard peers, and the names a zone publishes.
#pragma once

#include <cstddef>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "wg/key.hpp"

namespace wgsd::dns {

/// "_wireguard._udp." + zone, where `zone` is normalised text with a trailing dot.
std::string service_name(const std::string& zone);
/// "<base32 of key>._wireguard._udp." + zone; the base32 label in upper case when `upper`
/// (what clients ask), lower case otherwise (what the server writes).
std::string instance_name(const wg::Key& key, const std::string& zone, bool upper = false);

/// Octets the wire form of dotted text takes (labels with their length bytes, and the root byte),
/// counted without checking, so that a message can say how far over 255 octets a name is.
std::size_t wire_length(std::string_view text);
/// Octets of a peer's instance name in `zone`: its label is always 56 characters (base32 of a key).
std::size_t instance_wire_length(const std::string& zone);

/// A name a zone would publish that does not fit in the 255 octets of a DNS name.
struct OverlongName {
  std::string what;     ///< "a peer's name", "the SOA mailbox", "the NS name"
  std::string name;     ///< text; a peer's label shown as <56 characters>
  std::size_t octets{};
};
/// The first name `zone` would publish that passes 255 octets: a peer's instance name (the longest
/// of them), postmaster.<zone> (the SOA mailbox), or an NS name (`ns_names`, ns1.<zone> when empty).
/// nullopt when every one fits.
std::optional<OverlongName> overlong_name(const std::string& zone, const std::vector<std::string>& ns_names);

}  // namespace wgsd::dns
