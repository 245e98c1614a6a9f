// What the HTTP addresses answer: /metrics, /health, /ready, /status.json and the status page.
// Everything comes from what the workers counted and what the refresher reported: nothing here
// reads a device.
#pragma once

#include <string>
#include <string_view>

#include "server/dns_metrics.hpp"
#include "server/http.hpp"
#include "server/notify_sender.hpp"
#include "server/zone_stats.hpp"

namespace wgsd::server::ops {

/// The answer to a GET of `path` on an address serving `routes`: 404 for what it does not serve.
/// `notifier`: the NOTIFY thread whose secondaries are shown (null: none).
HttpResponse answer(const HttpRoutes& routes, std::string_view path, const metrics::Registry& metrics, const ZoneStats& stats,
                    const NotifySender* notifier = nullptr);

/// The Prometheus text of every metric: coredns_dns_*, wgsd_*, process_*.
std::string render_metrics(const metrics::Registry& metrics, const ZoneStats& stats, const NotifySender* notifier = nullptr);
/// wgsd_* of the zones.
void render_zone_metrics(std::string& out, const std::vector<ZoneStatus>& zones);
/// wgsd_pool_* of the zones' pools.
void render_pool_metrics(std::string& out, const std::vector<ZoneStatus>& zones);
/// process_* from /proc/self, and wgsd_build_info.
void render_process_metrics(std::string& out);

/// /status.json and / (HTML, no script, no external asset; every value escaped).
/// `notifies`: the secondaries shown under each zone's "transfer".
/// A string as JSON, quotes included: printable ASCII passes; anything else, and <, > and &, is
/// escaped (\u00XX), so that device data never closes a script or a tag around it.
std::string json_string(std::string_view s);
/// Text for HTML: & < > " ' as entities, control characters as '?'.
std::string html(std::string_view s);

std::string status_json(const std::vector<ZoneStatus>& zones, wg::Clock::time_point now, const std::vector<NotifyTargetStatus>& notifies = {});
std::string status_html(const std::vector<ZoneStatus>& zones, wg::Clock::time_point now);
/// A zone's pools: a JSON array, and HTML (one table per pool); `now` on the steady clock.
std::string pools_json(const ZoneStatus& zone, std::chrono::steady_clock::time_point now);
std::string pools_html(const ZoneStatus& zone, std::chrono::steady_clock::time_point now);

}  // namespace wgsd::server::ops
