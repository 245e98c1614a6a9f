#include "client/client.hpp"

#include <algorithm>
#include <mutex>
#include <thread>

#include "client/reply.hpp"
#include "client/resolver.hpp"
#include "dns/names.hpp"
#include "dns/wire.hpp"
#include "wg/error.hpp"

namespace wgsd::client {
namespace {

struct Found {
  wg::Endpoint endpoint;
  std::optional<std::int64_t> handshake;
  std::string registry;
};

// Asks one registry; returns nullopt when it does not know the peer. Throws LookupError.
std::optional<Found> ask(const Resolver& resolver, const std::string& qname) {
  const auto srv = read_srv_reply(resolver.query(qname, dns::type::srv), qname);
  if (srv.kind == SrvReply::Kind::not_found) return std::nullopt;
  if (srv.kind == SrvReply::Kind::error) throw LookupError(srv.error);
  std::optional<wg::IpAddress> address = srv.address;
  // A recursive resolver may have stripped the additional section: ask for the target's address.
  for (const std::uint16_t t : {dns::type::a, dns::type::aaaa}) {
    if (address) break;
    try {
      address = read_address_reply(resolver.query(srv.target, t), srv.target, t);
    } catch (const std::runtime_error& e) {
      throw LookupError(std::string("address of ") + srv.target + ": " + e.what());
    }
  }
  if (!address) throw LookupError("SRV target " + srv.target + " has no address");
  return Found{{address->unmapped(), srv.port}, srv.handshake, resolver.server().to_string()};
}

bool same_endpoint(const std::optional<wg::Endpoint>& a, const wg::Endpoint& b) {
  return a && a->port == b.port && a->address.unmapped() == b.address.unmapped();
}

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

}  // namespace

const char* outcome_name(Outcome outcome) {
  switch (outcome) {
    case Outcome::skipped: return "skipped";
    case Outcome::fresh: return "fresh";
    case Outcome::unknown: return "unknown";
    case Outcome::unchanged: return "unchanged";
    case Outcome::updated: return "updated";
    case Outcome::lookup_failed: return "lookup_failed";
    case Outcome::write_failed: return "write_failed";
  }
  return "?";
}

int RunReport::exit_code() const {
  if (device_failed) return 3;
  int code = 0;
  for (const auto& p : peers) {
    if (p.outcome == Outcome::write_failed) return 3;
    if (p.outcome == Outcome::lookup_failed) code = 2;
  }
  return code;
}

RunReport run_once(const Options& options, wg::Backend& backend, const std::atomic<bool>* stop) {
  RunReport report;
  report.device = options.device;
  wg::Device device;
  try {
    device = backend.get_device(options.device);
  } catch (const std::exception& e) {
    report.device_failed = true;
    report.error = e.what();
    return report;
  }
  const auto now = wg::Clock::now();
  report.peers.resize(device.peers.size());
  std::vector<Resolver> resolvers;
  for (const auto& r : options.registries) resolvers.emplace_back(r, ResolverOptions{options.timeout, options.retries, stop});

  std::mutex write_mutex;  // one device write at a time
  auto handle = [&](std::size_t i) {
    const wg::Peer& peer = device.peers[i];
    PeerReport& out = report.peers[i];
    out.public_key = peer.public_key;
    out.previous = peer.endpoint;
    if (std::find(options.skip.begin(), options.skip.end(), peer.public_key) != options.skip.end()) {
      out.outcome = Outcome::skipped;
      out.message = "skipped (--skip)";
      return;
    }
    if (!options.force && peer.last_handshake && now - *peer.last_handshake < options.fresh) {
      const auto age = std::chrono::duration_cast<std::chrono::seconds>(now - *peer.last_handshake).count();
      out.outcome = Outcome::fresh;
      out.message = "left alone: handshake " + std::to_string(age) + "s ago is younger than --fresh";
      return;
    }
    const std::string qname = dns::instance_name(peer.public_key, options.zone, true);
    std::optional<Found> best;
    std::vector<std::string> failures;
    for (const auto& resolver : resolvers) {
      try {
        auto found = ask(resolver, qname);
        // The freshest answer wins: the newest handshake the registries report; ties keep --dns order.
        if (found && (!best || found->handshake.value_or(-1) > best->handshake.value_or(-1))) best = std::move(found);
      } catch (const LookupError& e) {
        failures.push_back(resolver.server().to_string() + ": " + e.what());
      }
    }
    if (!best) {
      if (failures.size() == resolvers.size()) {
        out.outcome = Outcome::lookup_failed;
        out.message = "lookup failed: ";
        for (std::size_t f = 0; f < failures.size(); ++f) out.message += (f ? "; " : "") + failures[f];
      } else {
        out.outcome = Outcome::unknown;
        out.message = "not known to the registry";
      }
      return;
    }
    out.endpoint = best->endpoint;
    out.handshake = best->handshake;
    out.registry = best->registry;
    if (same_endpoint(peer.endpoint, best->endpoint)) {
      out.outcome = Outcome::unchanged;
      out.message = "endpoint " + best->endpoint.to_string() + " unchanged";
      return;
    }
    const std::string was = peer.endpoint ? peer.endpoint->to_string() : "none";
    if (options.dry_run) {
      out.outcome = Outcome::updated;
      out.message = "would set endpoint " + best->endpoint.to_string() + " (was " + was + ")";
      return;
    }
    try {
      std::lock_guard lock(write_mutex);
      backend.apply(wg::DeviceUpdate{options.device, {{peer.public_key, true, best->endpoint}}});
      out.outcome = Outcome::updated;
      out.message = "endpoint set to " + best->endpoint.to_string() + " (was " + was + ")";
    } catch (const std::exception& e) {
      out.outcome = Outcome::write_failed;
      out.message = std::string("could not set endpoint: ") + e.what();
    }
  };

  std::atomic<std::size_t> next{0};
  const std::size_t workers = std::max<std::size_t>(1, std::min<std::size_t>(options.concurrency, device.peers.size()));
  std::vector<std::thread> threads;
  for (std::size_t w = 0; w < workers; ++w) {
    threads.emplace_back([&] {
      for (std::size_t i = next++; i < device.peers.size(); i = next++) handle(i);
    });
  }
  for (auto& t : threads) t.join();
  return report;
}

void print_messages(const RunReport& report, bool, std::ostream& out) {
  if (report.device_failed) {
    out << "wgsd-client: device '" << report.device << "': " << report.error << "\n";
    return;
  }
  for (const auto& p : report.peers) out << "wgsd-client: " << p.public_key.to_base64() << ": " << p.message << "\n";
}

void print_json(const RunReport& report, bool dry_run, std::ostream& out) {
  out << "{\"device\":\"" << json_escape(report.device) << "\",\"dry_run\":" << (dry_run ? "true" : "false")
      << ",\"exit_code\":" << report.exit_code();
  if (report.device_failed) out << ",\"error\":\"" << json_escape(report.error) << "\"";
  out << ",\"peers\":[";
  for (std::size_t i = 0; i < report.peers.size(); ++i) {
    const auto& p = report.peers[i];
    out << (i ? "," : "") << "{\"public_key\":\"" << p.public_key.to_base64() << "\",\"outcome\":\"" << outcome_name(p.outcome) << "\"";
    if (p.previous) out << ",\"previous\":\"" << p.previous->to_string() << "\"";
    if (p.endpoint) out << ",\"endpoint\":\"" << p.endpoint->to_string() << "\"";
    if (p.handshake) out << ",\"handshake\":" << *p.handshake;
    if (!p.registry.empty()) out << ",\"registry\":\"" << json_escape(p.registry) << "\"";
    out << ",\"message\":\"" << json_escape(p.message) << "\"}";
  }
  out << "]}\n";
}

}  // namespace wgsd::client
