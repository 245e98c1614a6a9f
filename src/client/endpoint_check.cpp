#include "client/endpoint_check.hpp"

#include <cstring>

namespace wgsd::client {
namespace {

bool inside(const wg::IpAddress& address, const wg::Prefix& prefix) {
  if (address.family() != prefix.address().family()) return false;
  const wg::Prefix own(address, prefix.length());  // the address with the prefix's host bits cleared
  return own == prefix;
}

std::optional<std::string> why_special_v4(const std::uint8_t* b) {
  if (b[0] == 0) return b[1] == 0 && b[2] == 0 && b[3] == 0 ? "the unspecified address" : "an address of 'this network' (0.0.0.0/8)";
  if (b[0] == 127) return "a loopback address";
  if (b[0] >= 224 && b[0] <= 239) return "a multicast address";
  if (b[0] == 255 && b[1] == 255 && b[2] == 255 && b[3] == 255) return "the broadcast address";
  if (b[0] == 169 && b[1] == 254) return "a link-local address";
  return std::nullopt;
}

std::optional<std::string> why_special_v6(const std::uint8_t* b) {
  static constexpr std::uint8_t zero[16] = {};
  if (std::memcmp(b, zero, 16) == 0) return "the unspecified address";
  if (std::memcmp(b, zero, 15) == 0 && b[15] == 1) return "a loopback address";
  if (b[0] == 0xff) return "a multicast address";
  if (b[0] == 0xfe && (b[1] & 0xc0) == 0x80) return "a link-local address";
  return std::nullopt;
}

}  // namespace

std::optional<std::string> why_unusable(const wg::IpAddress& given, const wg::Device& device) {
  const wg::IpAddress address = given.unmapped();
  auto special = address.is_v4() ? why_special_v4(address.data()) : why_special_v6(address.data());
  if (special) return *special + " cannot be a remote peer";
  for (const auto& peer : device.peers) {
    for (const auto& prefix : peer.allowed_ips) {
      if (prefix.length() == 0 || !inside(address, prefix)) continue;
      return "inside the allowed IPs " + prefix.to_string() + " of peer " + peer.public_key.to_base64() +
             " on " + device.name + ": it would be routed into the tunnel (a routing loop)";
    }
  }
  return std::nullopt;
}

}  // namespace wgsd::client
