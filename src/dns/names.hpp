// DNS-SD names of WireGuard peers (SPEC §1).
#pragma once

#include <string>

#include "wg/key.hpp"

namespace wgsd::dns {

/// "_wireguard._udp." + zone, where `zone` is normalised text with a trailing dot.
std::string service_name(const std::string& zone);
/// "<base32 of key>._wireguard._udp." + zone; the base32 label in upper case when `upper`
/// (what clients ask), lower case otherwise (what the server writes).
std::string instance_name(const wg::Key& key, const std::string& zone, bool upper = false);

}  // namespace wgsd::dns
