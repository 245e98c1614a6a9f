// What --roam placed: its state file, and the step that makes the backbone match what a round
// wants, measured against what the device and the routing table actually hold.
#include <algorithm>
#include <cerrno>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <iterator>
#include <set>
#include <sstream>

#include "client/roam.hpp"
#include "client/state_file.hpp"
#include "client/sync.hpp"
#include "client/sync.hpp"

namespace wgsd::client {
namespace {

std::string list(const std::set<wg::Prefix>& prefixes) {
  std::string out;
  for (const auto& p : prefixes) out += (out.empty() ? "" : ",") + p.to_string();
  return out;
}

bool holds(const std::vector<wg::Prefix>& v, const wg::Prefix& p) { return std::find(v.begin(), v.end(), p) != v.end(); }

}  // namespace

std::string default_roam_state_file(const std::string& device) { return default_state_dir() + "/" + device + ".roam"; }

RoamState load_roam_state(const std::string& path) {
  RoamState s;
  // Read as less than it held, a damaged file would leave what it names on the backbone for good.
  for (const StateLine& entry : read_state_lines(path)) {
    const std::size_t n = entry.number;  // named, not bound: a lambda below may capture it
    const std::string& line = entry.text;
    std::istringstream words(line);
    std::string kind, client, via, prefixes, extra;
    words >> kind >> client >> via >> prefixes;
    const auto bad = [&] {
      return std::runtime_error(path + ":" + std::to_string(n) + ": expected 'placed CLIENT-KEY VIA-KEY PREFIX[,PREFIX...]', got '" + line + "'");
    };
    const auto k = wg::Key::from_base64(client);
    const auto v = wg::Key::from_base64(via);
    if (kind != "placed" || !k || !v || prefixes.empty() || (words >> extra)) throw bad();
    Placement p{*v, {}};
    std::istringstream items(prefixes);
    for (std::string item; std::getline(items, item, ',');) {
      const auto prefix = wg::Prefix::parse(item);
      if (!prefix) throw bad();
      p.prefixes.push_back(*prefix);
    }
    s[*k] = p;
  }
  return s;
}

void save_roam_state(const RoamState& state, const std::string& path) {
  std::string text = "# wgsd-client --roam: the allowed IPs and routes it placed on the backbone (only these are ever taken back)\n";
  for (const auto& [k, p] : state) {
    if (p.prefixes.empty()) continue;
    text += "placed " + k.to_base64() + " " + p.via.to_base64() + " ";
    for (std::size_t i = 0; i < p.prefixes.size(); ++i) text += (i ? "," : "") + p.prefixes[i].to_string();
    text += "\n";
  }
  write_state_file(path, text);
}

namespace detail {

void settle(const Options& options, const RoamOptions& roam, RoamState& state, const RoamState& want, wg::Backend& backend, Router& router,
            RoamReport& report) {
  const RoamState& placed = state;
  // The backbone as it is now, not as it was before the registries were asked: each changed
  // peer's whole list is written from it, and what an operator added meanwhile must survive.
  wg::Device backbone;
  try {
    backbone = backend.get_device(roam.backbone);
  } catch (const std::exception& e) {
    report.device_failed = true;
    report.error = "could not read the backbone '" + roam.backbone + "': " + e.what() + ": nothing changed";
    return;
  }
  // Ours: whatever the state or the wish names. Anything else on the backbone is someone else's.
  std::set<wg::Prefix> ours;
  for (const auto* m : {&placed, &want}) {
    for (const auto& [k, p] : *m) ours.insert(p.prefixes.begin(), p.prefixes.end());
  }
  std::map<wg::Key, std::vector<wg::Prefix>> actual;
  for (const auto& p : backbone.peers) actual[p.public_key] = p.allowed_ips;
  std::set<wg::Prefix> routed;
  try {
    for (const auto& p : router.list(roam.backbone)) routed.insert(p);
  } catch (const std::exception& e) {
    report.device_failed = true;
    report.error = "could not read the routes through the backbone '" + roam.backbone + "': " + e.what() + ": nothing changed";
    return;
  }

  // Where each prefix is ours: on the peer the state records it at, and on the peer it is wanted
  // at. The same prefix on any other peer is someone else's.
  std::map<wg::Key, std::set<wg::Prefix>> ours_at;
  for (const auto* m : {&placed, &want}) {
    for (const auto& [k, p] : *m) ours_at[p.via].insert(p.prefixes.begin(), p.prefixes.end());
  }

  // The backbone as it should be: each peer keeps what is not ours there, and gets what is wanted
  // there; the routes wanted, and those of ours not wanted (a route wgsd's protocol carries that
  // neither the state nor the wish names is not ours to delete).
  std::map<wg::Key, std::vector<wg::Prefix>> target;
  std::set<wg::Prefix> wanted;
  std::vector<wg::Key> changed;
  std::vector<wg::Prefix> unroute, route;
  const auto plan = [&](const RoamState& w) {
    target.clear();
    wanted.clear();
    changed.clear();
    unroute.clear();
    route.clear();
    for (const auto& [peer, allowed] : actual) {
      auto& t = target[peer];
      const auto mine = ours_at.find(peer);
      for (const auto& a : allowed) {
        if (mine == ours_at.end() || mine->second.count(a) == 0) t.push_back(a);
      }
    }
    for (const auto& [k, p] : w) {
      auto it = target.find(p.via);
      if (it == target.end()) continue;  // the server left the backbone
      for (const auto& prefix : p.prefixes) {
        if (!holds(it->second, prefix)) it->second.push_back(prefix);
        wanted.insert(prefix);
      }
    }
    for (const auto& [peer, t] : target) {
      const std::set<wg::Prefix> a(actual[peer].begin(), actual[peer].end()), b(t.begin(), t.end());
      if (a != b) changed.push_back(peer);
    }
    for (const auto& r : routed) {
      if (wanted.count(r) == 0 && ours.count(r) != 0) unroute.push_back(r);
    }
    for (const auto& r : wanted) {
      if (routed.count(r) == 0) route.push_back(r);
    }
  };
  plan(want);

  // What was placed earlier and is missing now was taken away by someone else: it is put back.
  for (const auto& [k, p] : want) {
    auto was = state.find(k);
    if (was == state.end() || !(was->second == p) || actual.count(p.via) == 0) continue;
    std::set<wg::Prefix> gone_allowed, gone_route;
    for (const auto& prefix : p.prefixes) {
      if (!holds(actual[p.via], prefix)) gone_allowed.insert(prefix);
      if (routed.count(prefix) == 0) gone_route.insert(prefix);
    }
    std::string why;
    if (!gone_allowed.empty()) why = list(gone_allowed) + " had gone from the allowed IPs of backbone peer " + p.via.to_base64();
    if (!gone_route.empty()) why += (why.empty() ? "" : ", and the route ") + std::string(why.empty() ? "the route " : "") + list(gone_route) +
                                    " dev " + roam.backbone + " had gone";
    if (!why.empty()) report.peers.push_back({k, true, "put back: " + why, "repaired"});
  }
  for (const auto& r : routed) {
    if (ours.count(r) == 0) {
      report.notes.push_back("route " + r.to_string() + " dev " + roam.backbone + " carries wgsd's protocol but the state file does not " +
                             "record it: left alone (another program's, or a run whose state file was lost)");
    }
  }
  if (options.dry_run) return;

  // The state file first names everything that may be there once the writes are done (what is
  // placed and what is about to be): a crash in between leaves nothing it does not know of. It is
  // written only when it would name more than it does; if it cannot be, nothing new is added, but
  // what is no longer wanted is still taken back.
  RoamState claims = state;
  for (const auto& [k, p] : want) {
    auto& c = claims[k];
    c.via = p.via;
    for (const auto& prefix : p.prefixes) {
      if (!holds(c.prefixes, prefix)) c.prefixes.push_back(prefix);
    }
  }
  if (!roam.state_file.empty() && claims != state && (!changed.empty() || !route.empty())) {
    try {
      save_roam_state(claims, roam.state_file);
    } catch (const std::exception& e) {
      report.state_failed = true;
      report.error = std::string(e.what()) + ": nothing is added to the backbone until it can be";
      RoamState known;  // of the wish, only what the state file already records where it is wanted
      for (const auto& [k, p] : want) {
        const auto was = state.find(k);
        if (was == state.end() || was->second.via != p.via) continue;
        auto& n = known[k];
        n.via = p.via;
        for (const auto& prefix : p.prefixes) {
          if (holds(was->second.prefixes, prefix)) n.prefixes.push_back(prefix);
        }
      }
      plan(known);
    }
  }

  // The device: one update for the peers whose allowed IPs change.
  auto effective = actual;
  bool unknown = false;  // an update failed and the backbone could not be read again
  if (!changed.empty()) {
    wg::DeviceUpdate update{roam.backbone, {}};
    for (const auto& k : changed) {
      wg::PeerUpdate u{k, true, std::nullopt};
      u.allowed_ips = target[k];
      update.peers.push_back(u);
    }
    try {
      backend.apply(update);
      for (const auto& k : changed) effective[k] = target[k];
    } catch (const std::exception& e) {
      report.device_failed = true;
      report.error = "could not set the allowed IPs of the backbone '" + roam.backbone + "': " + e.what() + ": tried again next round";
      // An update split into several messages may have been taken in part: what is there now is
      // read again, so nothing that was written is forgotten. Unreadable: all of it may be there.
      try {
        effective.clear();
        for (const auto& p : backend.get_device(roam.backbone).peers) effective[p.public_key] = p.allowed_ips;
      } catch (const std::exception&) {
        effective = actual;
        unknown = true;
      }
    }
  }
  // The routes: deletions first, so a prefix never has two.
  const auto owner = [&](const wg::Prefix& prefix) {
    for (const auto* m : {&want, &placed}) {
      for (const auto& [k, p] : *m) {
        if (holds(p.prefixes, prefix)) return std::optional<wg::Key>(k);
      }
    }
    return std::optional<wg::Key>();
  };
  const auto failed = [&](const wg::Prefix& prefix, const std::string& what) {
    report.device_failed = true;
    if (auto k = owner(prefix)) {
      report.peers.push_back({*k, false, what + ": tried again next round", "failed"});
    } else {
      report.notes.push_back(what);
    }
  };
  for (const auto& r : unroute) {
    try {
      router.remove(roam.backbone, r);
      routed.erase(r);
    } catch (const std::exception& e) {
      failed(r, std::string("route delete failed: ") + e.what());
    }
  }
  for (const auto& r : route) {
    // A route to a prefix that no backbone peer takes would only lose its packets: it waits for
    // the allowed IPs, which the next round writes again.
    bool taken = false;
    for (const auto& [k, p] : want) taken = taken || (holds(p.prefixes, r) && effective.count(p.via) != 0 && holds(effective[p.via], r));
    if (!taken) continue;
    try {
      router.add(roam.backbone, r);
      routed.insert(r);
    } catch (const std::exception& e) {
      failed(r, std::string("route add failed: ") + e.what());
    }
  }

  // Recorded: what is there. A wish whose writes all succeeded is placed; of the rest, what is
  // still on the backbone stays recorded (so it is still ours to take back or complete).
  const auto present = [&](const wg::Prefix& prefix, const wg::Key& via) {
    return unknown || routed.count(prefix) != 0 || (effective.count(via) != 0 && holds(effective[via], prefix));
  };
  RoamState next;
  for (const auto& [k, p] : want) {
    bool whole = effective.count(p.via) != 0;
    for (const auto& prefix : p.prefixes) whole = whole && holds(effective[p.via], prefix) && routed.count(prefix) != 0;
    if (whole) next[k] = p;
  }
  for (const auto* m : {&want, &placed}) {
    for (const auto& [k, p] : *m) {
      const auto w = want.find(k);
      if (w != want.end() && next.count(k) != 0 && next[k] == w->second) continue;
      for (const auto& prefix : p.prefixes) {
        auto& n = next[k];
        if (n.prefixes.empty()) n.via = p.via;
        if (present(prefix, p.via) && !holds(n.prefixes, prefix)) n.prefixes.push_back(prefix);
      }
    }
  }
  std::erase_if(next, [](const auto& e) { return e.second.prefixes.empty(); });
  const bool moved = next != state;
  state = std::move(next);
  if (!roam.state_file.empty() && (moved || !changed.empty() || !route.empty() || !unroute.empty())) {
    try {
      save_roam_state(state, roam.state_file);
    } catch (const std::exception& e) {
      report.state_failed = true;
      report.notes.push_back(e.what());
    }
  }
}

}  // namespace detail
}  // namespace wgsd::client
