// Reads a registry's replies (parsed by ldns, which bounds compression pointers) into what the
// client needs: the SRV port and target, the target's address, the TXT handshake time and allowed IPs.
#pragma once

#include <cstdint>
#include <optional>
#include <span>
#include <string>
#include <vector>

#include "wg/address.hpp"
#include "wg/key.hpp"

namespace wgsd::client {

struct SrvReply {
  enum class Kind { found, not_found, error };
  Kind kind{Kind::error};
  std::string error;                      ///< for Kind::error: what was wrong, in words
  std::string target;                     ///< SRV target, lower case, trailing dot
  std::uint16_t port{};
  std::optional<wg::IpAddress> address;   ///< from an A/AAAA in additional owned by the target
  std::optional<std::int64_t> handshake;  ///< TXT handshake= owned by the target, seconds
  std::vector<wg::Prefix> allowed;        ///< TXT allowed=, allowed2=, ... owned by the target, joined
};

/// The allowed IPs a TXT record's character-strings carry: `allowed=` continued by `allowed2=`,
/// `allowed3=`, ... in the order of their numbers (keys are distinct, as RFC 6763 section 6.4
/// requires), and, from older servers, `allowed=` repeated, taken in the order given. Keys are
/// compared without case; CIDRs that do not parse are left out.
std::vector<wg::Prefix> allowed_of_txt(const std::vector<std::string>& strings);

/// Reads the reply to an SRV query for `qname`. NXDOMAIN, NODATA or SRV target "." (RFC 2782: no
/// service at this name) is `not_found`; another rcode,
/// an unparsable packet or SRV port 0 is `error`. Records owned by other names are never used.
/// Whether the address may be written is the caller's judgement (endpoint_check.hpp).
SrvReply read_srv_reply(std::span<const std::uint8_t> reply, const std::string& qname);

/// The address in the answer to an A or AAAA query for `target`; nullopt if there is none.
/// Throws std::runtime_error for a failed (non NOERROR/NXDOMAIN) or unparsable reply.
std::optional<wg::IpAddress> read_address_reply(std::span<const std::uint8_t> reply, const std::string& target, std::uint16_t qtype);

/// What the TXT of an instance name says: whether there is one, its allowed IPs and handshake time.
struct TxtReply {
  bool found{};
  std::vector<wg::Prefix> allowed;
  std::optional<std::int64_t> handshake;
};

/// Reads the reply to a TXT query for `qname`: NXDOMAIN or NODATA is not found. Throws
/// std::runtime_error for another rcode or an unparsable packet.
TxtReply read_txt_reply(std::span<const std::uint8_t> reply, const std::string& qname);

/// The peers a listing names: the PTR records of the service name, read as keys.
struct PtrReply {
  std::vector<wg::Key> keys;       ///< in the order given, each once
  std::size_t ignored{};           ///< PTR targets that are not `<base32 key>.<service name>`
  bool truncated{};                ///< TC set: the registry could not fit the whole set
};

/// Reads the reply to a PTR query for `service` (`_wireguard._udp.<zone>`). NXDOMAIN or NODATA is
/// an empty listing. Throws std::runtime_error for another rcode or an unparsable packet.
PtrReply read_ptr_reply(std::span<const std::uint8_t> reply, const std::string& service);

}  // namespace wgsd::client
