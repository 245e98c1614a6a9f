#include "client/roam.hpp"

#include <ifaddrs.h>
#include <netinet/in.h>

#include <algorithm>
#include <array>
#include <cerrno>
#include <cstring>
#include <ctime>
#include <optional>
#include <set>

#include "client/exchanges.hpp"
#include "client/reply.hpp"
#include "client/resolver.hpp"
#include "client/sync.hpp"
#include "dns/names.hpp"
#include "dns/tsig.hpp"
#include "dns/wire.hpp"
#include "wg/route.hpp"

namespace wgsd::client {
namespace {

class KernelRouter final : public Router {
public:
  void add(const std::string& device, const wg::Prefix& prefix) override { wg::add_route(device, prefix); }
  void remove(const std::string& device, const wg::Prefix& prefix) override { wg::delete_route(device, prefix); }
  std::vector<wg::Prefix> list(const std::string& device) override { return wg::list_routes(device); }
  std::vector<wg::IpAddress> addresses(const std::string& device) override {
    ifaddrs* all = nullptr;
    if (::getifaddrs(&all) != 0) throw std::runtime_error("the addresses of '" + device + "': getifaddrs: " + std::strerror(errno));
    std::vector<wg::IpAddress> out;
    for (const ifaddrs* i = all; i != nullptr; i = i->ifa_next) {
      if (i->ifa_addr == nullptr || device != i->ifa_name) continue;
      if (i->ifa_addr->sa_family == AF_INET) {
        std::array<std::uint8_t, 4> b{};
        std::memcpy(b.data(), &reinterpret_cast<const sockaddr_in*>(i->ifa_addr)->sin_addr, 4);
        out.push_back(wg::IpAddress::v4(b));
      } else if (i->ifa_addr->sa_family == AF_INET6) {
        std::array<std::uint8_t, 16> b{};
        std::memcpy(b.data(), &reinterpret_cast<const sockaddr_in6*>(i->ifa_addr)->sin6_addr, 16);
        out.push_back(wg::IpAddress::v6(b));
      }
    }
    ::freeifaddrs(all);
    return out;
  }
};

std::string list(const std::vector<wg::Prefix>& prefixes) {
  std::string out;
  for (const auto& p : prefixes) out += (out.empty() ? "" : ",") + p.to_string();
  return out.empty() ? "none" : out;
}

std::string ago(std::optional<std::int64_t> handshake, std::int64_t now) {
  return handshake ? std::to_string(now - *handshake) + " s ago" : "never";
}

RoamReport round(const Options& options, const RoamOptions& roam, RoamState& state, wg::Backend& backend, Router& router, int stop_fd) {
  RoamReport report;
  const auto clients_read = read_device_or_report(backend, options.device, report);
  if (!clients_read) return report;
  const auto backbone_read = read_device_or_report(backend, roam.backbone, report);
  if (!backbone_read) return report;
  const wg::Device& clients = *clients_read;
  const wg::Device& backbone = *backbone_read;
  std::set<wg::Prefix> ours;
  for (const auto& [k, p] : state) ours.insert(p.prefixes.begin(), p.prefixes.end());

  // Each registry names a server: the backbone peer whose own allowed IPs hold its address.
  const std::size_t nreg = options.registries.size();
  std::vector<std::optional<wg::Key>> via(nreg);
  for (std::size_t r = 0; r < nreg; ++r) {
    const auto address = options.registries[r].address.unmapped();
    const wg::Prefix host(address, address.is_v4() ? 32 : 128);
    for (const auto& p : backbone.peers) {
      for (const auto& a : p.allowed_ips) {
        if (ours.count(a) == 0 && prefix_within(host, a)) via[r] = p.public_key;
      }
    }
    if (!via[r]) {
      report.notes.push_back("registry " + options.registries[r].to_string() + " lies inside no allowed IP of a peer of '" + roam.backbone +
                             "': it names no server to route to, and is not asked");
    }
  }

  // Every client's TXT at every registry that names a server.
  std::vector<wg::Key> keys;
  for (const auto& p : clients.peers) {
    if (std::find(options.skip.begin(), options.skip.end(), p.public_key) == options.skip.end()) keys.push_back(p.public_key);
  }
  const ResolverOptions resolver{options.timeout, options.retries, options.tsig ? &*options.tsig : nullptr, false};
  std::vector<std::unique_ptr<Exchange>> exchanges;
  std::vector<std::pair<std::size_t, std::size_t>> asked;  // (client, registry)
  for (std::size_t c = 0; c < keys.size(); ++c) {
    const auto qname = dns::instance_name(keys[c], options.zone, true);
    for (std::size_t r = 0; r < nreg; ++r) {
      if (!via[r]) continue;
      exchanges.push_back(std::make_unique<Exchange>(options.registries[r], qname, dns::type::txt, resolver));
      asked.emplace_back(c, r);
    }
  }
  if (auto why = run_exchanges(exchanges, options.concurrency, stop_fd); !why.empty()) {
    report.error = "round ended early (" + why + "): nothing changed";
    return report;
  }
  const auto now = static_cast<std::int64_t>(std::time(nullptr));
  const auto skew_limit = static_cast<std::int64_t>(roam.max_skew.count());
  std::vector<std::vector<std::optional<std::int64_t>>> handshake(keys.size(), std::vector<std::optional<std::int64_t>>(nreg));
  std::vector<bool> usable(nreg, true);
  std::vector<bool> failed(nreg, false);
  std::vector<bool> skew_known(nreg, false);
  for (std::size_t i = 0; i < exchanges.size(); ++i) {
    const auto [c, r] = asked[i];
    const std::string registry = options.registries[r].to_string();
    if (exchanges[i]->state() != Exchange::State::done) {
      if (!failed[r]) report.notes.push_back("registry " + registry + ": " + exchanges[i]->error() + ": its handshakes are not known this round");
      failed[r] = true;
      continue;
    }
    const auto& reply = exchanges[i]->reply();
    // A signed answer carries the registry's clock: the skew is measured, not guessed.
    std::size_t owner = 0;
    if (options.tsig && !skew_known[r] && dns::tsig::locate(reply, owner) == dns::tsig::Found::last) {
      if (const auto rec = dns::tsig::read_record(reply, owner)) {
        skew_known[r] = true;
        const auto skew = static_cast<std::int64_t>(rec->time_signed) - now;
        if (skew > skew_limit || -skew > skew_limit) {
          usable[r] = false;
          report.notes.push_back("registry " + registry + ": its clock is " + std::to_string(skew < 0 ? -skew : skew) + " s " +
                                 (skew < 0 ? "behind" : "ahead of") + " ours, over --max-skew " + std::to_string(skew_limit) +
                                 "s: its handshakes are not used");
        }
      }
    }
    try {
      const auto txt = read_txt_reply(reply, dns::instance_name(keys[c], options.zone, true));
      handshake[c][r] = txt.handshake;
      if (txt.handshake && *txt.handshake > now + skew_limit && usable[r]) {
        usable[r] = false;
        report.notes.push_back("registry " + registry + ": a handshake " + std::to_string(*txt.handshake - now) +
                               " s in the future: its clock is ahead of ours by more than --max-skew " + std::to_string(skew_limit) +
                               "s, its handshakes are not used");
      }
    } catch (const std::exception& e) {
      if (!failed[r]) report.notes.push_back("registry " + registry + ": " + e.what() + ": its handshakes are not known this round");
      failed[r] = true;
    }
  }

  // This server's own addresses, on the client device and on the backbone: a client whose allowed
  // IPs cover one would take this server's own traffic over the backbone.
  std::vector<std::pair<wg::IpAddress, std::string>> own;
  for (const auto* dev : {&options.device, &roam.backbone}) {
    for (const auto& a : router.addresses(*dev)) own.emplace_back(a, *dev);
  }

  RoamState want = state;
  const auto here_again = [&](const wg::Key& k, const std::string& why, const char* outcome) {
    auto it = want.find(k);
    if (it == want.end()) return;
    report.peers.push_back({k, true, why + ": " + list(it->second.prefixes) + " no longer routed via the backbone", outcome});
    want.erase(it);
  };
  for (std::size_t c = 0; c < keys.size(); ++c) {
    const auto& k = keys[c];
    const auto peer = std::find_if(clients.peers.begin(), clients.peers.end(), [&](const wg::Peer& p) { return p.public_key == k; });
    std::optional<std::int64_t> best;
    if (peer->last_handshake) best = std::chrono::duration_cast<std::chrono::seconds>(peer->last_handshake->time_since_epoch()).count();
    const auto local = best;
    std::optional<std::size_t> at;
    for (std::size_t r = 0; r < nreg; ++r) {
      if (!via[r] || !usable[r] || !handshake[c][r]) continue;
      if (!best || *handshake[c][r] > *best) {
        best = handshake[c][r];
        at = r;
      }
    }
    if (!at) {
      // Placed at a server whose registry could not be asked or believed: nothing is known, left as it is.
      const auto placed = state.find(k);
      bool unknown = false;
      for (std::size_t r = 0; placed != state.end() && r < nreg; ++r) {
        if (via[r] && *via[r] == placed->second.via && (failed[r] || !usable[r])) unknown = true;
      }
      if (local && !unknown) here_again(k, "here (handshake " + ago(local, now) + ")", "here");
      continue;  // seen nowhere: left as it is
    }
    const Placement placement{*via[*at], peer->allowed_ips};
    // Never send this server's own addresses away.
    std::string covers;
    for (const auto& p : placement.prefixes) {
      for (const auto& [address, dev] : own) {
        const wg::Prefix host(address.unmapped(), address.unmapped().is_v4() ? 32 : 128);
        if (covers.empty() && prefix_within(host, p)) {
          covers = "its allowed IP " + p.to_string() + " covers " + address.to_string() + ", an address of this server's own '" + dev +
                   "': routing it via the backbone would cut this server off; narrow the client's allowed IPs";
        }
      }
    }
    if (!covers.empty()) {
      if (auto it = want.find(k); it != want.end()) want.erase(it);
      report.peers.push_back({k, false, "not routed via the backbone: " + covers, "refused"});
      continue;
    }
    // Never take an address another backbone peer routes for its own sake.
    std::string conflict;
    for (const auto& bp : backbone.peers) {
      for (const auto& a : bp.allowed_ips) {
        if (ours.count(a) != 0) continue;
        for (const auto& p : placement.prefixes) {
          if (prefixes_overlap(p, a)) conflict = p.to_string() + " overlaps " + a.to_string() + " of backbone peer " + bp.public_key.to_base64();
        }
      }
    }
    if (!conflict.empty()) {
      want.erase(k);  // refused: its old placement goes too
      report.peers.push_back({k, false, "not routed via the backbone: " + conflict, "refused"});
      continue;
    }
    auto it = state.find(k);
    if (it == state.end() || !(it->second == placement)) {
      report.peers.push_back({k, true, "lives at " + options.registries[*at].to_string() + " (handshake " + ago(handshake[c][*at], now) +
                                           " there, " + ago(local, now) + " here): " + list(placement.prefixes) + " via backbone peer " +
                                           placement.via.to_base64(), "placed"});
    }
    want[k] = placement;
  }
  // Clients that left the device: what was added for them goes.
  std::vector<wg::Key> gone;
  for (const auto& [k, p] : want) {
    if (std::find(keys.begin(), keys.end(), k) == keys.end()) gone.push_back(k);
  }
  for (const auto& k : gone) here_again(k, "no longer a client", "gone");
  detail::settle(options, roam, state, want, backend, router, report);
  return report;
}

}  // namespace

std::unique_ptr<Router> make_kernel_router() { return std::make_unique<KernelRouter>(); }

int RoamReport::exit_code() const {
  if (device_failed || state_failed) return 3;
  if (!error.empty()) return 2;
  for (const auto& p : peers) {
    if (!p.changed) return 2;
  }
  return 0;
}

RoamReport roam_once(const Options& options, const RoamOptions& roam, RoamState& state, wg::Backend& backend, Router& router, int stop_fd) {
  try {
    if (options.dry_run) {  // what would be done is reported; nothing is recorded as added
      RoamState scratch = state;
      return round(options, roam, scratch, backend, router, stop_fd);
    }
    return round(options, roam, state, backend, router, stop_fd);
  } catch (const std::exception& e) {
    RoamReport report;
    report.error = std::string("roam round failed: ") + e.what();
    return report;
  }
}

RoamReport roam_undo(const Options& options, const RoamOptions& roam, RoamState& state, wg::Backend& backend, Router& router) {
  RoamReport report;
  try {
    detail::settle(options, roam, state, {}, backend, router, report);
  } catch (const std::exception& e) {
    report.device_failed = true;
    report.error = std::string("could not take back the backbone routes: ") + e.what();
  }
  return report;
}

void print_roam_messages(const RoamReport& report, std::ostream& out) {
  for (const auto& n : report.notes) out << "wgsd-client: roam: " << n << "\n";
  if (!report.error.empty()) out << "wgsd-client: roam: " << report.error << "\n";
  for (const auto& p : report.peers) out << "wgsd-client: " << p.public_key.to_base64() << ": " << p.message << "\n";
}

}  // namespace wgsd::client
