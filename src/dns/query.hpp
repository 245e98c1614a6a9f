// What the responder reads from a query: the header, the question, and the OPT and TSIG records of
// the additional section. Pure; never throws; allocates nothing.
#pragma once

#include <cstddef>
#include <cstdint>
#include <span>

namespace wgsd::dns {

struct Query {
  std::uint16_t id{};
  std::uint8_t opcode{};
  bool rd{};
  bool cd{};
  std::uint16_t qdcount{}, ancount{}, nscount{}, arcount{};
  bool has_question{};             ///< exactly one question, well formed
  std::size_t qname_length{};
  std::uint16_t qtype{}, qclass{};
  /// The message breaks a rule of its format: a name or record runs past the end, a second OPT,
  /// an OPT not owned by the root or outside the additional section, a TSIG that is not the last
  /// record or whose RDATA does not add up, or (opcode QUERY) not one question or answer records.
  bool formerr{};
  bool edns{};                     ///< a well-formed OPT was read (echoed even on FORMERR)
  bool dnssec_ok{};
  std::uint8_t edns_version{};
  std::uint16_t udp_size{512};
  bool tsig{};                     ///< a well-formed TSIG record ends the message
  std::size_t tsig_owner{};        ///< offset of its owner name (may be compressed)
  std::size_t tsig_algorithm{};    ///< offset of its algorithm name, the start of its RDATA
  std::size_t tsig_time{};         ///< offset of Time Signed (6 bytes) then Fudge (2)
};

/// Reads `q`, which holds at least a header. Every question and record the counts announce is
/// walked, whatever the opcode, so that an OPT is found (and echoed) even in a query refused as
/// NOTIMP or FORMERR; the walk stops at the first malformed one.
Query parse_query(std::span<const std::uint8_t> q);

}  // namespace wgsd::dns
