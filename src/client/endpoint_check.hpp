// Whether an address the registry gave may be written as a peer's endpoint.
#pragma once

#include <optional>
#include <string>

#include "wg/types.hpp"

namespace wgsd::client {

/// Why `address` cannot be a remote peer's endpoint on `device`, in words; nullopt if it can.
/// Refused: unspecified, loopback, multicast, broadcast and link-local addresses (IPv4, IPv6 and
/// IPv4-mapped IPv6), and addresses inside any peer's allowed IPs on the device: packets to such
/// an endpoint would be routed into the tunnel itself. A default route (/0) is not counted: the
/// setups that route everything through a peer (wg-quick's fwmark rule) keep the endpoint out.
std::optional<std::string> why_unusable(const wg::IpAddress& address, const wg::Device& device);

}  // namespace wgsd::client
