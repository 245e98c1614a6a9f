// Pool member health for `prometheus` and `status`: kept in functions of its own, apart from the
// zone's and the queries' metrics. Everything comes from the last device read; nothing here is on
// the query path.
#include <cstdio>

#include "server/ops_pages.hpp"
#include "server/prom_text.hpp"

namespace wgsd::server::ops {
namespace {

// Whole seconds since the member's received bytes last grew; nullopt: never seen to.
std::optional<long long> since(const PoolMemberStatus& m, std::chrono::steady_clock::time_point now) {
  if (!m.last_received) return std::nullopt;
  return std::max<long long>(0, std::chrono::duration_cast<std::chrono::seconds>(now - *m.last_received).count());
}

}  // namespace

void render_pool_metrics(std::string& out, const std::vector<ZoneStatus>& zones) {
  prom::Family members(out, "wgsd_pool_members", "gauge", "Members of each pool by health (received from within the pool's max-age), as of the last device read.");
  for (const auto& z : zones) {
    for (const auto& p : z.pools) {
      std::size_t healthy = 0;
      for (const auto& m : p.members) healthy += m.healthy ? 1 : 0;
      members.sample({{"zone", z.zone}, {"device", z.device}, {"pool", p.name}, {"state", "healthy"}}, static_cast<double>(healthy));
      members.sample({{"zone", z.zone}, {"device", z.device}, {"pool", p.name}, {"state", "unhealthy"}}, static_cast<double>(p.members.size() - healthy));
    }
  }
  prom::Family open(out, "wgsd_pool_fail_open_total", "counter", "Times a pool started failing open (no healthy member: every member answered).");
  for (const auto& z : zones) {
    for (const auto& p : z.pools) open.sample({{"zone", z.zone}, {"device", z.device}, {"pool", p.name}}, static_cast<double>(p.fail_open_episodes));
  }
}

std::string pools_json(const ZoneStatus& zone, std::chrono::steady_clock::time_point now) {
  std::string out = "[";
  bool first_pool = true;
  for (const auto& p : zone.pools) {
    out += first_pool ? "" : ",";
    first_pool = false;
    out += "{\"name\":" + json_string(p.name) + ",\"fail_open\":" + (p.fail_open ? "true" : "false") +
           ",\"fail_open_episodes\":" + std::to_string(p.fail_open_episodes) + ",\"members\":[";
    bool first = true;
    for (const auto& m : p.members) {
      out += first ? "" : ",";
      first = false;
      const auto s = since(m, now);
      out += "{\"key\":" + json_string(m.key.to_base64()) + ",\"healthy\":" + (m.healthy ? "true" : "false") +
             ",\"last_received_seconds\":" + (s ? std::to_string(*s) : "null") + "}";
    }
    out += "]}";
  }
  return out + "]";
}

std::string pools_html(const ZoneStatus& zone, std::chrono::steady_clock::time_point now) {
  std::string out;
  for (const auto& p : zone.pools) {
    out += "<h3>Pool " + html(p.name) + "</h3>\n<p>" +
           (p.fail_open ? std::string("<span class=\"bad\">No healthy member: answering every member (fail open).</span>")
                        : std::string("Answering the healthy members.")) +
           " Failed open " + std::to_string(p.fail_open_episodes) + " times since the server started.</p>\n";
    out += "<table>\n<tr><th>Member</th><th>Healthy</th><th>Last received</th></tr>\n";
    for (const auto& m : p.members) {
      const auto s = since(m, now);
      out += "<tr><td class=\"key\">" + html(m.key.to_base64()) + "</td><td class=\"" +
             (m.healthy ? "published\">yes" : "withheld\">no") + "</td><td>" + (s ? std::to_string(*s) + " s ago" : std::string("never")) +
             "</td></tr>\n";
    }
    out += "</table>\n";
  }
  return out;
}

}  // namespace wgsd::server::ops
