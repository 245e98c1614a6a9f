#include "client/client.hpp"

#include <algorithm>
#include <span>
#include <unordered_map>

#include "client/endpoint_check.hpp"
#include "client/lookup.hpp"
#include "dns/names.hpp"

namespace wgsd::client {
namespace {

// Peers written per device update.
constexpr std::size_t write_batch = 256;
// A read of the device older than this is not trusted to judge a batch by: it is read again.
constexpr std::chrono::milliseconds reread_after{100};

bool same_endpoint(const std::optional<wg::Endpoint>& a, const wg::Endpoint& b) {
  return a && a->port == b.port && a->address.unmapped() == b.address.unmapped();
}

std::string age_of(wg::Clock::time_point now, wg::Clock::time_point then) {
  return std::to_string(std::chrono::duration_cast<std::chrono::seconds>(now - then).count()) + "s";
}

bool is_fresh(const Options& options, const wg::Peer& peer, wg::Clock::time_point now) {
  return !options.force && peer.last_handshake && now - *peer.last_handshake < options.fresh;
}

// Picks what to do with one peer from every registry's answer: the freshest usable answer (the
// newest TXT handshake=; ties, and answers without one, keep --dns order).
void judge(const Options& options, const wg::Device& device, const std::vector<RegistryAnswer>& answers, PeerReport& out) {
  const RegistryAnswer* best = nullptr;
  std::size_t best_at = 0;
  std::string refusal;
  std::vector<std::string> failures;
  std::vector<std::string> not_known;
  for (std::size_t r = 0; r < answers.size(); ++r) {
    const auto& a = answers[r];
    const std::string registry = options.registries[r].to_string();
    if (a.kind == RegistryAnswer::Kind::stopped) {
      // Half the registries' answers could pick a staler endpoint than all of them: nothing is used.
      out.outcome = Outcome::stopped;
      out.message = "stopped before the lookup finished";
      return;
    }
    if (a.kind == RegistryAnswer::Kind::failed) failures.push_back(registry + ": " + a.error);
    if (a.kind == RegistryAnswer::Kind::not_found) not_known.push_back(registry);
    if (a.kind != RegistryAnswer::Kind::found) continue;
    if (auto why = why_unusable(a.endpoint.address, device)) {
      if (refusal.empty()) {
        refusal = a.endpoint.to_string() + " refused: " + *why + (answers.size() > 1 ? " (from " + registry + ")" : "");
        out.endpoint = a.endpoint;
        out.registry = registry;
      }
      continue;
    }
    if (best == nullptr || a.handshake.value_or(-1) > best->handshake.value_or(-1)) {
      best = &a;
      best_at = r;
    }
  }
  if (best == nullptr) {
    if (!refusal.empty()) {
      out.outcome = Outcome::refused;
      out.message = refusal;
    } else if (!failures.empty()) {
      // No registry knows the peer, and one could not be asked: it may be the one that knows it.
      out.outcome = Outcome::lookup_failed;
      out.message = "lookup failed: ";
      for (std::size_t f = 0; f < failures.size(); ++f) out.message += (f ? "; " : "") + failures[f];
      for (std::size_t n = 0; n < not_known.size(); ++n) out.message += (n ? ", " : "; not known to ") + not_known[n];
    } else {
      out.outcome = Outcome::unknown;
      out.message = "not known to the registry";
    }
    return;
  }
  out.endpoint = best->endpoint;
  out.handshake = best->handshake;
  out.allowed = best->allowed;
  out.registry = options.registries[best_at].to_string();
  if (same_endpoint(out.previous, best->endpoint)) {
    out.outcome = Outcome::unchanged;
    out.message = "endpoint " + best->endpoint.to_string() + " unchanged";
    return;
  }
  out.outcome = Outcome::updated;  // provisional: written (or not) by write_endpoints()
  const std::string was = out.previous ? out.previous->to_string() : "none";
  out.message = "would set endpoint " + best->endpoint.to_string() + " (was " + was + ")";
}

// Writes the endpoints `report` decided on, up to `write_batch` peers per device update. Before a
// batch the device is read again unless the last read is younger than `reread_after`: a peer whose
// tunnel came up during the lookups is left alone, and the read a batch is judged by is at most
// `reread_after` old when judging starts. The read is indexed by key: judging a peer does not scan
// the device.
void write_endpoints(const Options& options, wg::Backend& backend, std::vector<PeerReport*> pending) {
  wg::Device device;
  std::unordered_map<wg::Key, const wg::Peer*, wg::KeyHash> by_key;
  std::optional<std::chrono::steady_clock::time_point> read_at;
  for (std::size_t from = 0; from < pending.size(); from += write_batch) {
    const std::span<PeerReport*> batch(pending.data() + from, std::min(write_batch, pending.size() - from));
    if (!read_at || std::chrono::steady_clock::now() - *read_at > reread_after) {
      read_at.reset();
      by_key.clear();
      try {
        device = backend.get_device(options.device);
      } catch (const std::exception& e) {
        for (auto* out : batch) {
          out->outcome = Outcome::write_failed;
          out->message = std::string("could not read the device again before writing: ") + e.what();
        }
        continue;
      }
      read_at = std::chrono::steady_clock::now();
      by_key.reserve(device.peers.size());
      for (const auto& p : device.peers) by_key.emplace(p.public_key, &p);
    }
    const auto now = wg::Clock::now();
    wg::DeviceUpdate update{options.device, {}};
    std::vector<PeerReport*> written;
    for (auto* out : batch) {
      const auto found = by_key.find(out->public_key);
      const wg::Peer* peer = found == by_key.end() ? nullptr : found->second;
      if (peer == nullptr) {
        out->outcome = Outcome::skipped;
        out->message = "left alone: the peer left the device during the lookup";
      } else if (is_fresh(options, *peer, now)) {
        out->outcome = Outcome::fresh;
        out->message = "left alone: a handshake " + age_of(now, *peer->last_handshake) + " ago came up during the lookup";
      } else if (same_endpoint(peer->endpoint, *out->endpoint)) {
        out->outcome = Outcome::unchanged;
        out->message = "endpoint " + out->endpoint->to_string() + " unchanged";
      } else if (auto why = why_unusable(out->endpoint->address, device)) {
        out->outcome = Outcome::refused;
        out->message = out->endpoint->to_string() + " refused: " + *why;
      } else {
        out->previous = peer->endpoint;
        update.peers.push_back({out->public_key, true, *out->endpoint});
        written.push_back(out);
      }
    }
    if (written.empty()) continue;
    try {
      backend.apply(update);
      for (auto* out : written) {
        out->message = "endpoint set to " + out->endpoint->to_string() + " (was " + (out->previous ? out->previous->to_string() : "none") + ")";
      }
    } catch (const std::exception& e) {
      for (auto* out : written) {
        out->outcome = Outcome::write_failed;
        out->message = std::string("could not set endpoint: ") + e.what();
      }
    }
  }
}

RunReport round(const Options& options, wg::Backend& backend, const std::atomic<bool>* stop, int stop_fd) {
  RunReport report;
  report.device = options.device;
  auto read = read_device_or_report(backend, options.device, report);
  if (!read) return report;
  const wg::Device& device = *read;
  const auto now = wg::Clock::now();
  report.peers.resize(device.peers.size());
  std::vector<std::size_t> asked;  // peers to look up
  std::vector<std::string> qnames;
  for (std::size_t i = 0; i < device.peers.size(); ++i) {
    const wg::Peer& peer = device.peers[i];
    PeerReport& out = report.peers[i];
    out.public_key = peer.public_key;
    out.previous = peer.endpoint;
    if (std::find(options.skip.begin(), options.skip.end(), peer.public_key) != options.skip.end()) {
      out.outcome = Outcome::skipped;
      out.message = "skipped (--skip)";
    } else if (is_fresh(options, peer, now)) {
      out.outcome = Outcome::fresh;
      out.message = "left alone: handshake " + age_of(now, *peer.last_handshake) + " ago is younger than --fresh";
    } else {
      asked.push_back(i);
      qnames.push_back(dns::instance_name(peer.public_key, options.zone, true));
    }
  }
  const LookupOptions lookup{options.timeout, options.retries, options.concurrency, stop, stop_fd, {},
                             options.tsig ? &*options.tsig : nullptr};
  const auto answers = lookup_all(qnames, options.registries, lookup);
  std::vector<PeerReport*> pending;
  for (std::size_t k = 0; k < asked.size(); ++k) {
    PeerReport& out = report.peers[asked[k]];
    judge(options, device, answers[k], out);
    if (out.outcome == Outcome::updated && !options.dry_run) pending.push_back(&out);
  }
  if (stop_requested(lookup)) {  // the caller stops: nothing more is written, and the report says so
    for (auto* out : pending) {
      out->outcome = Outcome::stopped;
      out->message = "stopped before writing " + out->endpoint->to_string() + " (was " + (out->previous ? out->previous->to_string() : "none") + ")";
    }
    return report;
  }
  write_endpoints(options, backend, std::move(pending));
  return report;
}

}  // namespace

RunReport run_once(const Options& options, wg::Backend& backend, const std::atomic<bool>* stop, int stop_fd) {
  try {
    return round(options, backend, stop, stop_fd);
  } catch (const std::exception& e) {
    RunReport report;
    report.device = options.device;
    report.round_failed = true;
    report.error = std::string("round failed: ") + e.what();
    return report;
  }
}

}  // namespace wgsd::client
