// What a round did, for people (one line per peer) and for programs (one JSON object).
#include <cstdio>

#include "client/client.hpp"
#include "client/roam.hpp"
#include "client/sync.hpp"

namespace wgsd::client {
namespace {

std::string json_escape(const std::string& s) {
  std::string out;
  for (char c : s) {
    if (c == '"' || c == '\\') {
      out.push_back('\\');
      out.push_back(c);
    } else if (static_cast<unsigned char>(c) < 0x20) {
      char buf[8];
      std::snprintf(buf, sizeof buf, "\\u%04x", c);
      out += buf;
    } else {
      out.push_back(c);
    }
  }
  return out;
}

const char* sync_outcome_name(SyncOutcome outcome) {
  switch (outcome) {
    case SyncOutcome::added: return "added";
    case SyncOutcome::refused: return "refused";
    case SyncOutcome::failed: return "failed";
    case SyncOutcome::write_failed: return "write_failed";
    case SyncOutcome::pruned: return "pruned";
    case SyncOutcome::held: return "held";
  }
  return "?";
}

void print_strings(const char* name, const std::vector<std::string>& items, std::ostream& out) {
  out << ",\"" << name << "\":[";
  for (std::size_t i = 0; i < items.size(); ++i) out << (i ? "," : "") << "\"" << json_escape(items[i]) << "\"";
  out << "]";
}

void print_sync_json(const SyncReport& sync, std::ostream& out) {
  out << "{\"exit_code\":" << sync.exit_code() << ",\"listed\":" << sync.listed;
  if (!sync.error.empty()) out << ",\"error\":\"" << json_escape(sync.error) << "\"";
  print_strings("notes", sync.notes, out);
  out << ",\"peers\":[";
  for (std::size_t i = 0; i < sync.peers.size(); ++i) {
    const auto& p = sync.peers[i];
    out << (i ? "," : "") << "{\"public_key\":\"" << p.public_key.to_base64() << "\",\"outcome\":\"" << sync_outcome_name(p.outcome)
        << "\",\"message\":\"" << json_escape(p.message) << "\"}";
  }
  out << "]}";
}

}  // namespace

const char* outcome_name(Outcome outcome) {
  switch (outcome) {
    case Outcome::skipped: return "skipped";
    case Outcome::fresh: return "fresh";
    case Outcome::unknown: return "unknown";
    case Outcome::unchanged: return "unchanged";
    case Outcome::updated: return "updated";
    case Outcome::lookup_failed: return "lookup_failed";
    case Outcome::refused: return "refused";
    case Outcome::write_failed: return "write_failed";
    case Outcome::stopped: return "stopped";
  }
  return "?";
}

int RunReport::exit_code() const {
  if (device_failed) return 3;
  if (round_failed) return 2;
  int code = 0;
  for (const auto& p : peers) {
    if (p.outcome == Outcome::write_failed) return 3;
    if (p.outcome == Outcome::lookup_failed || p.outcome == Outcome::refused) code = 2;
  }
  return code;
}

void print_messages(const RunReport& report, bool, std::ostream& out) {
  if (report.device_failed || report.round_failed) {
    out << "wgsd-client: device '" << report.device << "': " << report.error << "\n";
    return;
  }
  for (const auto& p : report.peers) out << "wgsd-client: " << p.public_key.to_base64() << ": " << p.message << "\n";
}

void print_json(const RunReport& report, bool dry_run, std::ostream& out, const SyncReport* sync) {
  out << "{\"device\":\"" << json_escape(report.device) << "\",\"dry_run\":" << (dry_run ? "true" : "false")
      << ",\"exit_code\":" << report.exit_code();
  if (report.device_failed || report.round_failed) out << ",\"error\":\"" << json_escape(report.error) << "\"";
  out << ",\"peers\":[";
  for (std::size_t i = 0; i < report.peers.size(); ++i) {
    const auto& p = report.peers[i];
    out << (i ? "," : "") << "{\"public_key\":\"" << p.public_key.to_base64() << "\",\"outcome\":\"" << outcome_name(p.outcome) << "\"";
    if (p.previous) out << ",\"previous\":\"" << p.previous->to_string() << "\"";
    if (p.endpoint) out << ",\"endpoint\":\"" << p.endpoint->to_string() << "\"";
    if (p.handshake) out << ",\"handshake\":" << *p.handshake;
    if (p.endpoint) {
      out << ",\"allowed\":[";
      for (std::size_t a = 0; a < p.allowed.size(); ++a) out << (a ? "," : "") << "\"" << p.allowed[a].to_string() << "\"";
      out << "]";
    }
    if (!p.registry.empty()) out << ",\"registry\":\"" << json_escape(p.registry) << "\"";
    out << ",\"message\":\"" << json_escape(p.message) << "\"}";
  }
  out << "]";
  if (sync) {
    out << ",\"sync\":";
    print_sync_json(*sync, out);
  }
  out << "}\n";
}

void print_roam_json(const RoamReport& report, const Options& options, const RoamOptions& roam, std::ostream& out) {
  out << "{\"device\":\"" << json_escape(options.device) << "\",\"backbone\":\"" << json_escape(roam.backbone)
      << "\",\"dry_run\":" << (options.dry_run ? "true" : "false") << ",\"exit_code\":" << report.exit_code();
  if (!report.error.empty()) out << ",\"error\":\"" << json_escape(report.error) << "\"";
  print_strings("notes", report.notes, out);
  out << ",\"peers\":[";
  for (std::size_t i = 0; i < report.peers.size(); ++i) {
    const auto& p = report.peers[i];
    out << (i ? "," : "") << "{\"public_key\":\"" << p.public_key.to_base64() << "\",\"outcome\":\"" << json_escape(p.outcome)
        << "\",\"message\":\"" << json_escape(p.message) << "\"}";
  }
  out << "]}\n";
}

std::string status_line(const RunReport& report) {
  if (report.device_failed || report.round_failed) return report.device + ": " + report.error;
  std::size_t updated = 0;
  std::size_t failed = 0;
  for (const auto& p : report.peers) {
    if (p.outcome == Outcome::updated) ++updated;
    if (p.outcome == Outcome::lookup_failed || p.outcome == Outcome::refused || p.outcome == Outcome::write_failed) ++failed;
  }
  return report.device + ": " + std::to_string(report.peers.size()) + " peers, " + std::to_string(updated) + " updated, " +
         std::to_string(failed) + " failed";
}

}  // namespace wgsd::client
