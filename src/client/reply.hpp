// Reads a registry's replies (parsed by ldns, which bounds compression pointers) into what the
// client needs: the SRV port and target, the target's address, the TXT handshake time.
#pragma once

#include <cstdint>
#include <optional>
#include <span>
#include <string>

#include "wg/address.hpp"

namespace wgsd::client {

struct SrvReply {
  enum class Kind { found, not_found, error };
  Kind kind{Kind::error};
  std::string error;                      ///< for Kind::error: what was wrong, in words
  std::string target;                     ///< SRV target, lower case, trailing dot
  std::uint16_t port{};
  std::optional<wg::IpAddress> address;   ///< from an A/AAAA in additional owned by the target
  std::optional<std::int64_t> handshake;  ///< TXT handshake= owned by the target, seconds
};

/// Reads the reply to an SRV query for `qname`. NXDOMAIN or NODATA is `not_found`; another rcode,
/// an unparsable packet, SRV port 0 or an unspecified address is `error`. Records owned by other
/// names are never used.
SrvReply read_srv_reply(std::span<const std::uint8_t> reply, const std::string& qname);

/// The address in the answer to an A or AAAA query for `target`; nullopt if there is none.
/// Throws std::runtime_error for a failed (non NOERROR/NXDOMAIN) or unparsable reply.
std::optional<wg::IpAddress> read_address_reply(std::span<const std::uint8_t> reply, const std::string& target, std::uint16_t qtype);

}  // namespace wgsd::client
