// `status`: /status.json for tools and / for a person. Peer data come from the device, and a zone
// name may carry escaped bytes: every value is escaped for where it goes.
#include <cstdio>

#include "server/ops_pages.hpp"
#include "server/transfer_metrics.hpp"

namespace wgsd::server::ops {

std::string json_string(std::string_view s) {
  std::string out = "\"";
  for (const char ch : s) {
    const auto c = static_cast<unsigned char>(ch);
    if (c == '"') out += "\\\"";
    else if (c == '\\') out += "\\\\";
    else if (c < 0x20 || c >= 0x7f || c == '<' || c == '>' || c == '&') {
      char buf[8];
      std::snprintf(buf, sizeof buf, "\\u%04x", c);
      out += buf;
    } else {
      out.push_back(ch);
    }
  }
  return out + "\"";
}

std::string html(std::string_view s) {
  std::string out;
  for (const char c : s) {
    switch (c) {
      case '&': out += "&amp;"; break;
      case '<': out += "&lt;"; break;
      case '>': out += "&gt;"; break;
      case '"': out += "&quot;"; break;
      case '\'': out += "&#39;"; break;
      default:
        if (static_cast<unsigned char>(c) < 0x20) out += "?";
        else out.push_back(c);
    }
  }
  return out;
}

namespace {


std::string fixed(double v, int digits) {
  char buf[64];
  std::snprintf(buf, sizeof buf, "%.*f", digits, v);
  return buf;
}

double unix_seconds(wg::Clock::time_point t) { return std::chrono::duration<double>(t.time_since_epoch()).count(); }

std::string utc(wg::Clock::time_point t) {
  const std::time_t s = wg::Clock::to_time_t(t);
  std::tm tm{};
  ::gmtime_r(&s, &tm);
  char buf[32];
  std::strftime(buf, sizeof buf, "%Y-%m-%d %H:%M:%S UTC", &tm);
  return buf;
}

// Seconds since the handshake; nullopt: never.
std::optional<long long> age(const PeerStatus& p, wg::Clock::time_point now) {
  if (!p.handshake) return std::nullopt;
  return std::max<long long>(0, std::chrono::duration_cast<std::chrono::seconds>(now - *p.handshake).count());
}

std::string endpoint_text(const PeerStatus& p) {
  if (!p.endpoint) return {};
  if (p.self && p.endpoint->address.is_unspecified()) return "(the address asked):" + std::to_string(p.endpoint->port);
  return p.endpoint->to_string();
}

}  // namespace

std::string status_json(const std::vector<ZoneStatus>& zones, wg::Clock::time_point now, const std::vector<NotifyTargetStatus>& notifies) {
  std::string out = "{\"time\":" + fixed(unix_seconds(now), 3) + ",\"zones\":[";
  bool first_zone = true;
  for (const auto& z : zones) {
    out += first_zone ? "" : ",";
    first_zone = false;
    out += "{\"zone\":" + json_string(z.zone) + ",\"device\":" + json_string(z.device) + ",\"serial\":" + std::to_string(z.serial) +
           ",\"loaded\":" + (z.loaded ? "true" : "false");
    out += ",\"last_read\":" + (z.last_read ? fixed(unix_seconds(*z.last_read), 3) : "null");
    out += ",\"last_read_ok\":" + std::string(z.last_read_ok ? "true" : "false");
    out += ",\"read_duration_seconds\":" + fixed(std::chrono::duration<double>(z.read_duration).count(), 6);
    out += ",\"last_good_read\":" + (z.last_good ? fixed(unix_seconds(*z.last_good), 3) : "null");
    out += ",\"error\":" + (z.last_error.empty() ? std::string("null") : json_string(z.last_error));
    out += ",\"peer_counts\":{";
    for (std::size_t s = 0; s < peer_state_names.size(); ++s) {
      out += (s == 0 ? "\"" : ",\"") + std::string(peer_state_names[s]) + "\":" + std::to_string(z.peers[s]);
    }
    out += "},\"transfer\":" + transfer_status_json(z, notifies);
    out += ",\"peers\":[";
    bool first = true;
    for (const auto& p : z.peer_list) {
      out += first ? "" : ",";
      first = false;
      const auto a = age(p, now);
      out += "{\"key\":" + json_string(p.key.to_base64()) + ",\"endpoint\":" + (p.endpoint ? json_string(endpoint_text(p)) : "null") +
             ",\"handshake_age_seconds\":" + (a ? std::to_string(*a) : "null") +
             ",\"published\":" + (p.state == PeerState::published ? "true" : "false") +
             ",\"withheld\":" + (p.state == PeerState::published ? "null" : json_string(peer_state_names[static_cast<std::size_t>(p.state)])) +
             ",\"self\":" + (p.self ? "true" : "false") + "}";
    }
    out += "],\"pools\":" + pools_json(z, std::chrono::steady_clock::now()) + "}";
  }
  return out + "]}\n";
}

std::string status_html(const std::vector<ZoneStatus>& zones, wg::Clock::time_point now) {
  std::string out =
      "<!DOCTYPE html>\n<html lang=\"en\"><head><meta charset=\"utf-8\"><title>wgsd status</title>\n"
      "<meta name=\"viewport\" content=\"width=device-width, initial-scale=1\">\n<style>\n"
      "body{font-family:system-ui,sans-serif;margin:1.5em;color:#222;background:#fafafa}\n"
      "h1{font-size:1.4em}h2{font-size:1.15em;margin-top:1.6em}\n"
      "table{border-collapse:collapse;margin:.5em 0}th,td{border:1px solid #ccc;padding:.3em .6em;text-align:left}\n"
      "th{background:#eee}td.key{font-family:monospace}.published{color:#1a7f37}.withheld{color:#9a6700}\n"
      ".bad{color:#cf222e;font-weight:bold}dl{display:grid;grid-template-columns:max-content auto;gap:.2em 1em}dt{font-weight:bold}\n"
      "</style></head><body>\n<h1>wgsd status</h1>\n<p>As of " +
      html(utc(now)) + ".</p>\n";
  for (const auto& z : zones) {
    out += "<h2>" + html(z.zone) + " <small>(device " + html(z.device) + ")</small></h2>\n<dl>\n";
    out += "<dt>Serial</dt><dd>" + std::to_string(z.serial) + "</dd>\n";
    out += "<dt>Answering</dt><dd>" + std::string(z.loaded ? "yes" : "<span class=\"bad\">no (SERVFAIL until the device can be read)</span>") + "</dd>\n";
    out += "<dt>Last read</dt><dd>" + (z.last_read ? html(utc(*z.last_read)) : std::string("never")) + ", took " +
           fixed(std::chrono::duration<double>(z.read_duration).count() * 1000, 2) + " ms" +
           (z.last_read_ok || !z.last_read ? "" : ", <span class=\"bad\">failed: " + html(z.last_error) + "</span>") + "</dd>\n";
    out += "<dt>Last good read</dt><dd>" + (z.last_good ? html(utc(*z.last_good)) : std::string("never")) + "</dd>\n";
    out += "<dt>Peers</dt><dd>";
    for (std::size_t s = 0; s < peer_state_names.size(); ++s) {
      out += (s == 0 ? "" : ", ") + std::to_string(z.peers[s]) + " " + peer_state_names[s];
    }
    out += "</dd>\n</dl>\n<table>\n<tr><th>Public key</th><th>Endpoint</th><th>Latest handshake</th><th>Published</th></tr>\n";
    for (const auto& p : z.peer_list) {
      const auto a = age(p, now);
      const bool published = p.state == PeerState::published;
      out += "<tr><td class=\"key\">" + html(p.key.to_base64()) + (p.self ? " (this device)" : "") + "</td><td>" +
             (p.endpoint ? html(endpoint_text(p)) : std::string("none")) + "</td><td>" + (a ? std::to_string(*a) + " s ago" : std::string("never")) +
             "</td><td class=\"" + (published ? "published\">yes" : "withheld\">no: " + html(peer_state_names[static_cast<std::size_t>(p.state)])) +
             "</td></tr>\n";
    }
    out += "</table>\n";
    out += pools_html(z, std::chrono::steady_clock::now());
  }
  return out + "</body></html>\n";
}

}  // namespace wgsd::server::ops
