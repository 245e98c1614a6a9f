// CoreDNS's DNS metrics (coredns_dns_*), counted by the threads that answer. Each thread writes
// its own cache-line-aligned block with plain relaxed stores (it is the block's only writer); a
// scrape sums every block with relaxed loads. Counting takes no lock, allocates nothing and shares
// no cache line between threads; labels are small fixed indices (a table of query types plus
// "other", as CoreDNS keeps).
#pragma once

#include <sys/socket.h>

#include <array>
#include <atomic>
#include <cstdint>
#include <memory>
#include <mutex>
#include <string>
#include <vector>

#include "dns/responder.hpp"
#include "dns/zone.hpp"

namespace wgsd::server::metrics {

/// Zone labels a process can count under; slot 0 is CoreDNS's "dropped" (no zone of ours).
inline constexpr std::size_t max_zones = 64;
/// CoreDNS's query types (plugin/metrics/vars), then "other".
inline constexpr std::array<std::uint16_t, 17> known_types = {1, 28, 5, 48, 43, 15, 50, 47, 2, 12, 46, 6, 33, 16, 251, 252, 255};
inline constexpr std::size_t type_count = known_types.size() + 1;
inline constexpr std::size_t rcode_count = 24;  ///< 0-23; any other is "other" (index 24)
/// The `plugin` label: who wrote the response ("" is the server itself, as in CoreDNS).
enum class Writer : std::uint8_t { server, wgsd, acl, tsig };
inline constexpr std::size_t writer_count = 4;
/// CoreDNS's TimeBuckets: 0.25 ms doubling to 8.192 s.
inline constexpr std::size_t time_buckets = 16;
/// CoreDNS's size buckets (bytes).
inline constexpr std::array<std::uint32_t, 14> size_bounds = {0, 100, 200, 300, 400, 511, 1023, 2047, 4095, 8291, 16000, 32000, 48000, 64000};
/// TSIG errors counted: BADSIG, BADKEY, BADTIME, BADTRUNC, then FORMERR (a malformed TSIG).
inline constexpr std::size_t tsig_error_count = 5;

std::size_t type_index(std::uint16_t qtype) noexcept;

class TransferCounts;  // server/transfer_metrics.hpp

/// One thread's counts for one server address and zone. Histogram buckets are not cumulative here.
struct Counts {
  std::uint64_t requests[2][2][type_count];     ///< [proto udp/tcp][family 1/2][type]
  std::uint64_t do_requests;
  std::uint64_t responses[rcode_count + 1][writer_count];
  std::uint64_t duration[type_count][time_buckets + 1];
  std::uint64_t duration_ns[type_count];
  std::uint64_t request_size[2][size_bounds.size() + 1];
  std::uint64_t request_bytes[2];
  std::uint64_t response_size[2][size_bounds.size() + 1];
  std::uint64_t response_bytes[2];
  std::uint64_t acl[4];                         ///< allowed, blocked, filtered, dropped
  std::uint64_t tsig[tsig_error_count];
  std::uint64_t tsig_verified;
};

/// A thread's block: Counts per zone slot, for one server label.
struct alignas(64) Block {
  std::string server;                           ///< "dns://:53", "dns://127.0.0.1:5300"
  Counts* zones{};                              ///< max_zones of them
  bool in_use{};
};

/// What the thread knows of one answered (or dropped) query.
struct Query {
  dns::Transport proto;
  int family;                                   ///< AF_INET or AF_INET6
  std::size_t request_size;
  std::size_t response_size;                    ///< 0: nothing sent
  std::uint64_t duration_ns;
};

/// The zone slot a query counts under: the zone it was answered from, else the one its name falls
/// in, else 0 ("dropped").
std::uint8_t query_zone_slot(const dns::ZoneSet& zones, std::span<const std::uint8_t> query, const dns::ResponseInfo& info) noexcept;

/// Counts `q` into `block` (the calling thread's own). `zones` is the set it was answered from.
void count(Block& block, const dns::ZoneSet& zones, std::span<const std::uint8_t> query, const dns::ResponseInfo& info, const Query& q) noexcept;

class Registry {
public:
  Registry();
  ~Registry();
  Registry(const Registry&) = delete;
  Registry& operator=(const Registry&) = delete;

  /// The slot of a zone label (registered on first use; the refresher calls this, never a query).
  std::uint8_t zone_slot(const std::string& zone);
  /// A block for a thread answering on `server`; give it back with release() when the thread ends
  /// (its counts stay, and the next thread on that server goes on from them).
  Block* acquire(const std::string& server);
  void release(Block* block) noexcept;
  /// The coredns_dns_* families in the Prometheus text format.
  void render(std::string& out) const;
  /// The zone labels, slot by slot.
  [[nodiscard]] std::vector<std::string> zone_names() const;
  /// Zone transfers served, counted by the TCP threads (server/transfer_metrics.hpp).
  [[nodiscard]] TransferCounts& transfers() const noexcept { return *transfers_; }

private:
  mutable std::mutex mutex_;
  std::vector<std::string> zone_names_;
  std::vector<std::unique_ptr<Block>> blocks_;
  std::unique_ptr<TransferCounts> transfers_;
};

/// The label a listener's address gets: "dns://:53" for every address, "dns://192.0.2.1:53".
std::string server_label(const std::optional<wg::IpAddress>& address, std::uint16_t port);

}  // namespace wgsd::server::metrics
