// The IXFR journal (RFC 1995): the differences between successive snapshots of a zone, in its
// transfer view, bounded in steps and bytes. Each snapshot carries the journal that leads to it, so
// a transfer reads one immutable snapshot and nothing else.
#pragma once

#include <cstddef>
#include <cstdint>
#include <memory>
#include <string>
#include <vector>

namespace wgsd::dns {

struct Zone;

/// One record of a step: owner and tail (TYPE CLASS TTL RDLENGTH RDATA) as the transfer view has
/// them, names uncompressed.
struct JournalRecord {
  std::string owner;
  std::string tail;
  friend bool operator==(const JournalRecord&, const JournalRecord&) = default;
};

/// What changed from one serial to the next.
struct JournalDelta {
  std::uint32_t from_serial{}, to_serial{};
  std::string from_soa, to_soa;          ///< the SOA tails of both versions
  std::vector<JournalRecord> removed, added;
  std::size_t bytes{};                   ///< what this step holds, about
};

/// The steps that lead to a snapshot, oldest first; each starts where the one before ended.
struct Journal {
  std::vector<std::shared_ptr<const JournalDelta>> steps;
  std::size_t bytes{};
};

/// Bounds of a zone's journal: the oldest steps go first when either is passed. A single step
/// larger than `max_bytes` clears the journal (a requester that far behind gets the whole zone).
struct JournalLimits {
  std::size_t max_steps{64};
  std::size_t max_bytes{16U << 20};
};

/// The difference between two snapshots of a zone, or nullptr when it would pass `max_bytes`.
std::shared_ptr<const JournalDelta> diff_zones(const Zone& from, const Zone& to, std::size_t max_bytes);

/// The journal of `to`: `from`'s with the step from `from` to `to` added, within `limits`. Empty
/// when `from` is not a loaded earlier version of the same zone.
std::shared_ptr<const Journal> next_journal(const Zone& from, const Zone& to, const JournalLimits& limits = {});

/// The steps from `serial` to the zone's current one, or nullopt when the journal does not reach
/// back to it (the answer is then the whole zone). Empty: `serial` is current.
bool journal_steps(const Zone& zone, std::uint32_t serial, std::vector<std::shared_ptr<const JournalDelta>>& out);

}  // namespace wgsd::dns
