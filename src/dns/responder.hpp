// Bytes in, bytes out: answers one DNS query from a ZoneSet, with the records and error replies
// docs/records.md describes. Pure; never throws on bad input; allocates nothing.
#pragma once

#include <cstdint>
#include <optional>
#include <span>
#include <vector>

#include "dns/zone.hpp"
#include "wg/address.hpp"

namespace wgsd::dns {

namespace tsig {
struct Key;
}

enum class Transport { udp, tcp };

/// Where a query came in: the transport decides the size limit, the local address answers `self`
/// without a configured endpoint.
struct QueryContext {
  Transport transport{Transport::udp};
  std::optional<wg::IpAddress> local_address;   ///< nullopt: unknown (dynamic self then gets NODATA)
  const sockaddr* source{};                     ///< who asked, for `acl`; null: unknown (only `net`-less statements match)
  std::uint64_t now{};                          ///< unix seconds for TSIG; 0: read the clock when a query is signed
};

/// What happened, for the query log. Offsets point into the query.
struct ResponseInfo {
  bool answered{};                 ///< false: dropped (too short, or a response, or by `acl`)
  bool dropped_by_acl{};           ///< an `acl` drop statement matched: nothing is sent, nothing is wrong
  bool has_question{};
  std::size_t qname_offset{};
  std::size_t qname_length{};
  std::uint16_t qtype{};
  std::uint16_t qclass{};
  std::uint16_t id{};
  std::uint16_t rcode{};           ///< with the EDNS extended bits (BADVERS is 16)
  bool edns{};
  bool dnssec_ok{};
  std::uint16_t udp_size{};        ///< the requester's EDNS size, or 512
  bool authoritative{};
  bool truncated{};
  bool rd{};
  std::uint16_t answers{};
  std::size_t size{};
  /// An allowed AXFR or IXFR over TCP: nothing was written, the caller streams this zone
  /// (dns/axfr.hpp), signed with `transfer_key` (null: unsigned) and `transfer_fudge`, each message
  /// at the time it is made.
  const Zone* transfer{};
  const tsig::Key* transfer_key{};
  std::uint16_t transfer_fudge{};
  // For the metrics:
  const Zone* zone{};              ///< the zone the answer came from; null when none was looked up
  bool acl_checked{};              ///< an `acl` applies here and decided `acl`
  AclAction acl{AclAction::allow};
  bool tsig_verified{};            ///< a signed query whose TSIG verified (the answer is signed)
  std::uint16_t tsig_error{};      ///< a signed query refused: BADSIG, BADKEY, BADTIME, or FORMERR (malformed, or a MAC cut too short)
};

inline constexpr std::size_t max_message = 65535;
inline constexpr std::size_t max_udp_payload = 1232;  // DNS flag day 2020

/// Writes the response to `query` into `out` (which should hold max_message bytes for TCP and at
/// least max_udp_payload for UDP) and returns its size; 0 means "send nothing" (a packet too short
/// for a header, or one with QR set).
std::size_t respond(std::span<const std::uint8_t> query, const ZoneSet& zones, const QueryContext& ctx,
                    std::span<std::uint8_t> out, ResponseInfo* info = nullptr);

/// Hints for a batch of queries about to be answered from `zones`: brings each question's index
/// slot, then its name's block, towards the cache, so that a batch's cache misses overlap instead
/// of following one another. Under load the kernel's work between two batches evicts even a small
/// zone from the cache, so every zone gets the hints. Changes nothing and answers nothing;
/// malformed queries are skipped; at most max_prefetch queries are looked at.
inline constexpr std::size_t max_prefetch = 64;
void prefetch(std::span<const std::span<const std::uint8_t>> queries, const ZoneSet& zones);

/// Convenience for tests and tools: the response as a vector (empty: nothing sent).
std::vector<std::uint8_t> respond(std::span<const std::uint8_t> query, const ZoneSet& zones, const QueryContext& ctx);

}  // namespace wgsd::dns
