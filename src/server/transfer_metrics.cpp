#include "server/transfer_metrics.hpp"

#include <cstdio>

#include "server/ops_pages.hpp"
#include "server/prom_text.hpp"

namespace wgsd::server::ops {
namespace {

constexpr std::array<const char*, 2> type_names = {"axfr", "ixfr"};
constexpr std::array<const char*, metrics::transfer_result_count> result_names = {"complete", "refused", "interrupted"};

std::string seconds(wg::Clock::time_point t) {
  char buf[32];
  std::snprintf(buf, sizeof buf, "%.3f", std::chrono::duration<double>(t.time_since_epoch()).count());
  return buf;
}


}  // namespace

void render_transfer_metrics(std::string& out, const metrics::TransferCounts& transfers, const std::vector<std::string>& zone_names,
                             const std::vector<NotifyTargetStatus>& notifies, const std::vector<ZoneStatus>& zones) {
  prom::Family xfr(out, "wgsd_transfers_total", "counter",
                   "Zone transfers over TCP by type and result: complete (the last message went out), refused, interrupted (the connection closed first).");
  // Slot 0 is the "dropped" label: requests for a zone this server does not serve.
  for (std::size_t slot = 0; slot < zone_names.size() && slot < metrics::max_zones; ++slot) {
    for (std::size_t t = 0; t < type_names.size(); ++t) {
      for (std::size_t r = 0; r < result_names.size(); ++r) {
        const auto n = transfers.get(static_cast<std::uint8_t>(slot), static_cast<metrics::TransferType>(t), static_cast<metrics::TransferResult>(r));
        if (n == 0 && slot == 0) continue;
        xfr.sample({{"zone", zone_names[slot]}, {"type", type_names[t]}, {"result", result_names[r]}}, static_cast<double>(n));
      }
    }
  }
  prom::Family notify(out, "wgsd_notifies_total", "counter",
                      "NOTIFY messages to the secondaries by result: sent (every try), acknowledged, failed (answered with an error, or not sent).");
  for (const auto& n : notifies) {
    const std::string to = n.target.to_string();
    notify.sample({{"zone", n.zone}, {"secondary", to}, {"result", "sent"}}, static_cast<double>(n.sent));
    notify.sample({{"zone", n.zone}, {"secondary", to}, {"result", "acknowledged"}}, static_cast<double>(n.acknowledged));
    notify.sample({{"zone", n.zone}, {"secondary", to}, {"result", "failed"}}, static_cast<double>(n.failed));
  }
  prom::Family acked(out, "wgsd_notify_acknowledged_serial", "gauge", "The serial of the last NOTIFY each secondary acknowledged (absent: none yet).");
  for (const auto& n : notifies) {
    if (n.acked_serial) acked.sample({{"zone", n.zone}, {"secondary", n.target.to_string()}}, *n.acked_serial);
  }
  prom::Family bytes(out, "wgsd_ixfr_journal_bytes", "gauge", "Bytes of IXFR differences the zone's current snapshot keeps, about.");
  for (const auto& z : zones) bytes.sample({{"zone", z.zone}, {"device", z.device}}, static_cast<double>(z.journal_bytes));
  prom::Family steps(out, "wgsd_ixfr_journal_steps", "gauge", "Serial-to-serial steps of the zone's IXFR journal.");
  for (const auto& z : zones) steps.sample({{"zone", z.zone}, {"device", z.device}}, static_cast<double>(z.journal_steps));
}

std::string transfer_status_json(const ZoneStatus& zone, const std::vector<NotifyTargetStatus>& notifies) {
  std::string out = "{\"serial\":" + std::to_string(zone.serial) + ",\"journal_steps\":" + std::to_string(zone.journal_steps) +
                    ",\"journal_bytes\":" + std::to_string(zone.journal_bytes) + ",\"secondaries\":[";
  bool first = true;
  for (const auto& n : notifies) {
    if (n.zone != zone.zone) continue;
    out += first ? "" : ",";
    first = false;
    out += "{\"address\":" + json_string(n.target.to_string()) + ",\"notifies_sent\":" + std::to_string(n.sent) +
           ",\"notifies_acknowledged\":" + std::to_string(n.acknowledged) + ",\"notifies_failed\":" + std::to_string(n.failed) +
           ",\"acknowledged_serial\":" + (n.acked_serial ? std::to_string(*n.acked_serial) : "null") +
           ",\"acknowledged_at\":" + (n.acked_at ? seconds(*n.acked_at) : "null") +
           ",\"pending_serial\":" + (n.pending_serial ? std::to_string(*n.pending_serial) : "null") + "}";
  }
  return out + "]}";
}

}  // namespace wgsd::server::ops
