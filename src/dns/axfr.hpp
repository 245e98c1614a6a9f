// A zone transfer as a stream of messages (RFC 5936 AXFR, RFC 1995 IXFR), made one message at a
// time as the connection drains: the stream holds one snapshot and a cursor into it, never the
// whole answer. What a transfer carries is the zone's transfer view: every record the server
// answers, except that TXT records leave out `handshake=` (see docs/transfer.md).
#pragma once

#include <array>
#include <cstddef>
#include <cstdint>
#include <memory>
#include <optional>
#include <span>
#include <string>
#include <string_view>
#include <vector>

#include "dns/tsig.hpp"
#include "dns/zone.hpp"

namespace wgsd::dns {

struct JournalDelta;

/// How a transfer signs its messages: the request's key and MAC (RFC 8945 §5.3.1), and the fudge.
struct TransferSigning {
  tsig::Key key;
  std::vector<std::uint8_t> request_mac;
  std::uint16_t original_id{};
  std::uint16_t fudge{tsig::default_fudge};
};

class TransferStream {
public:
  /// The whole zone (AXFR, or IXFR's AXFR-style answer): SOA, every other record, SOA.
  /// `query` is the request: its ID and question are repeated in every message.
  TransferStream(std::shared_ptr<const Zone> zone, std::span<const std::uint8_t> query, std::optional<TransferSigning> signing);
  /// IXFR (RFC 1995 §4): the current SOA, then per step the old SOA, what went, the new SOA, what
  /// came, and the current SOA again. No step: the current SOA alone (the requester is up to date).
  TransferStream(std::shared_ptr<const Zone> zone, std::vector<std::shared_ptr<const JournalDelta>> steps,
                 std::span<const std::uint8_t> query, std::optional<TransferSigning> signing);

  /// Writes the next message into `out` (max_message bytes) and returns its size; 0 once done.
  /// `now` (unix seconds) is the time a signed message says it was signed: the moment it is made,
  /// since a slow reader may drain a transfer for longer than the fudge.
  std::size_t next(std::span<std::uint8_t> out, std::uint64_t now);
  [[nodiscard]] bool done() const { return done_; }
  [[nodiscard]] std::size_t messages() const { return messages_; }
  [[nodiscard]] std::size_t records() const { return records_; }

private:
  struct Record {
    std::string_view owner;  // lower-case wire, uncompressed
    std::string_view tail;   // TYPE CLASS TTL RDLENGTH RDATA as the snapshot holds it
  };
  bool peek(Record& r);   // the record at the cursor; false when there is none left
  void advance();
  void start(std::span<const std::uint8_t> query, std::optional<TransferSigning> signing);

  std::shared_ptr<const Zone> zone_;
  std::vector<std::shared_ptr<const JournalDelta>> steps_;
  bool incremental_{};
  std::vector<std::uint8_t> question_;  // QNAME QTYPE QCLASS as asked
  std::uint16_t id_{};
  bool rd_{};
  std::optional<TransferSigning> signing_;
  std::array<std::uint8_t, tsig::max_mac> prior_mac_{};
  std::size_t prior_mac_size_{};
  std::string service_wire_;
  std::string soa_tail_;
  // The cursor. AXFR: phase 0 the first SOA, 1 the nodes, 2 the last SOA. IXFR: phase 0 the first
  // SOA, 1 the steps (`node_` the step, `rrset_` its part 0-3, `rr_` the record), 2 the last SOA.
  int phase_{};
  std::size_t node_{}, rrset_{}, rr_{};
  bool done_{};
  std::size_t messages_{}, records_{};
};

struct ResponseInfo;

/// The stream for a transfer respond() allowed (`info.transfer`): AXFR, or for IXFR the journal's
/// steps from the requester's serial (the whole zone when the journal does not reach back to it).
/// nullptr when the zone is no longer in `zones`.
std::unique_ptr<TransferStream> open_transfer(std::span<const std::uint8_t> query, const ZoneSet& zones, const ResponseInfo& info);

/// The serial of the SOA in the authority section of an IXFR request; nullopt when there is none.
std::optional<std::uint32_t> ixfr_serial(std::span<const std::uint8_t> query);

/// The transfer view of one RR tail, in `buf`: a TXT without its `handshake=` string; any other
/// record as it is (the view `tail` then points into). Used by AXFR, IXFR and the journal alike.
std::string_view transfer_tail(std::string_view tail, std::string& buf);

}  // namespace wgsd::dns
