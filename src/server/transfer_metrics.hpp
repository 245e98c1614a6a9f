// What `prometheus` and `status` show of zone transfers: transfers served by type and result,
// NOTIFYs by result, the IXFR journal of each zone, and each secondary's last acknowledged NOTIFY.
// Transfers are counted by the TCP threads with relaxed atomic adds, once per transfer (never per
// query); NOTIFYs by the NOTIFY thread; the journal by the refresher.
#pragma once

#include <array>
#include <atomic>
#include <cstdint>
#include <optional>
#include <string>
#include <vector>

#include "server/dns_metrics.hpp"
#include "server/notify_sender.hpp"
#include "server/zone_stats.hpp"

namespace wgsd::server::metrics {

enum class TransferType : std::uint8_t { axfr, ixfr };
/// complete: the last message was handed to the connection; refused: not allowed (REFUSED);
/// interrupted: the connection closed (or the server stopped) before the last message.
enum class TransferResult : std::uint8_t { complete, refused, interrupted };
inline constexpr std::size_t transfer_result_count = 3;

/// Transfers per zone slot (Registry::zone_slot), type and result.
class TransferCounts {
public:
  void count(std::uint8_t slot, TransferType type, TransferResult result) noexcept {
    counts_[index(slot, type, result)].fetch_add(1, std::memory_order_relaxed);
  }
  [[nodiscard]] std::uint64_t get(std::uint8_t slot, TransferType type, TransferResult result) const noexcept {
    return counts_[index(slot, type, result)].load(std::memory_order_relaxed);
  }

private:
  static std::size_t index(std::uint8_t slot, TransferType type, TransferResult result) noexcept {
    return ((slot % max_zones) * 2 + static_cast<std::size_t>(type)) * transfer_result_count + static_cast<std::size_t>(result);
  }
  std::array<std::atomic<std::uint64_t>, max_zones * 2 * transfer_result_count> counts_{};
};

}  // namespace wgsd::server::metrics

namespace wgsd::server {

namespace ops {

/// wgsd_transfers_total, wgsd_notifies_total, wgsd_ixfr_journal_bytes and wgsd_ixfr_journal_steps.
/// `zone_names`: Registry::zone_names(), slot by slot.
void render_transfer_metrics(std::string& out, const metrics::TransferCounts& transfers, const std::vector<std::string>& zone_names,
                             const std::vector<NotifyTargetStatus>& notifies, const std::vector<ZoneStatus>& zones);

/// The "transfer" member of a zone in /status.json: serial, journal, and each secondary.
std::string transfer_status_json(const ZoneStatus& zone, const std::vector<NotifyTargetStatus>& notifies);

}  // namespace ops
}  // namespace wgsd::server
