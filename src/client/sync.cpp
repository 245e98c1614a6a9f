#include "client/sync.hpp"

#include <fcntl.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <charconv>
#include <ctime>
#include <cmath>
#include <cstring>
#include <cstdlib>
#include <filesystem>
#include <iterator>
#include <fstream>
#include <map>
#include <sstream>

#include "client/axfr_listing.hpp"
#include "client/endpoint_check.hpp"
#include "client/exchanges.hpp"
#include "client/lookup.hpp"
#include "client/reply.hpp"
#include "client/resolver.hpp"
#include "client/state_file.hpp"
#include "dns/names.hpp"
#include "dns/wire.hpp"

namespace wgsd::client {
namespace {

// Peers created or removed per device update.
constexpr std::size_t write_batch = 64;

struct Listing {
  std::vector<wg::Key> keys;        // the union of what the registries listed, in their order
  std::set<wg::Key> seen;           // the same keys, to find them fast
  bool complete{true};              // every registry answered with its whole list
  std::size_t answered{};           // registries that gave a listing
  std::vector<std::string> notes;
};

void add_keys(Listing& out, const std::vector<wg::Key>& keys) {
  for (const auto& k : keys) {
    if (out.seen.insert(k).second) out.keys.push_back(k);
  }
}

// Lists every registry: by zone transfer (AXFR) first, which carries however many peers the zone
// holds; a registry that refuses transfers is asked for the PTR set of the service name over TCP
// instead (a UDP answer holds about 16 names, a TCP one about a thousand), those side by side in
// one loop. A registry whose listing is cut short (TC over TCP) or that fails makes the listing
// incomplete: what it did list is still added, but nothing is pruned. A note says which way each
// registry was listed.
Listing list_registries(const Options& options, const SyncOptions& sync, int stop_fd) {
  const std::string service = "_wireguard._udp." + options.zone;
  const dns::tsig::Key* key = options.tsig ? &*options.tsig : nullptr;
  Listing out;
  std::vector<wg::Endpoint> by_ptr;
  AxfrLimits limits = sync.axfr_limits;
  limits.message_timeout = options.timeout;
  for (const auto& r : options.registries) {
    const auto axfr = axfr_listing(r, options.zone, key, limits, stop_fd);
    if (axfr.result == AxfrListing::Result::refused) {
      out.notes.push_back(axfr.error + ": listing by PTR over TCP");
      by_ptr.push_back(r);
      continue;
    }
    if (axfr.result == AxfrListing::Result::failed) {
      out.complete = false;
      out.notes.push_back("listing from " + r.to_string() + " failed: " + axfr.error);
      continue;
    }
    ++out.answered;
    out.notes.push_back("listing from " + r.to_string() + ": by AXFR, " + std::to_string(axfr.keys.size()) + " peers in " +
                        std::to_string(axfr.messages) + " messages");
    if (axfr.ignored != 0) out.notes.push_back("listing from " + r.to_string() + ": " + std::to_string(axfr.ignored) + " names that are not peers ignored");
    add_keys(out, axfr.keys);
  }
  if (by_ptr.empty()) return out;
  ResolverOptions resolver{options.timeout, options.retries, key, true};
  std::vector<std::unique_ptr<Exchange>> exchanges;
  for (const auto& r : by_ptr) exchanges.push_back(std::make_unique<Exchange>(r, service, dns::type::ptr, resolver));
  if (auto why = run_exchanges(exchanges, options.concurrency, stop_fd); !why.empty()) {
    out.complete = false;
    out.notes.push_back("listing: " + why);
    return out;
  }
  for (std::size_t i = 0; i < exchanges.size(); ++i) {
    const std::string registry = by_ptr[i].to_string();
    if (exchanges[i]->state() != Exchange::State::done) {
      out.complete = false;
      out.notes.push_back("listing from " + registry + " failed: " + exchanges[i]->error());
      continue;
    }
    PtrReply ptr;
    try {
      ptr = read_ptr_reply(exchanges[i]->reply(), service);
    } catch (const std::runtime_error& e) {
      out.complete = false;
      out.notes.push_back("listing from " + registry + " failed: " + e.what());
      continue;
    }
    ++out.answered;
    if (ptr.truncated) {
      out.complete = false;
      out.notes.push_back("listing from " + registry + " was cut at " + std::to_string(ptr.keys.size()) +
                          " peers (the whole PTR set does not fit one TCP message; a registry that allows this client to "
                          "transfer the zone lists them all): nothing is pruned");
    } else {
      out.notes.push_back("listing from " + registry + ": by PTR over TCP, " + std::to_string(ptr.keys.size()) + " peers");
    }
    if (ptr.ignored != 0) out.notes.push_back("listing from " + registry + ": " + std::to_string(ptr.ignored) + " names that are not peers ignored");
    add_keys(out, ptr.keys);
  }
  return out;
}

std::string joined(const std::vector<wg::Prefix>& prefixes) {
  std::string out;
  for (const auto& p : prefixes) out += (out.empty() ? "" : ",") + p.to_string();
  return out.empty() ? "none" : out;
}

// The answer a peer is added from: the freshest that has an endpoint (newest handshake=, ties in
// --dns order), else the first that knows the peer without one.
const RegistryAnswer* pick(const std::vector<RegistryAnswer>& answers, std::string& failures) {
  const RegistryAnswer* best = nullptr;
  for (std::size_t r = 0; r < answers.size(); ++r) {
    const auto& a = answers[r];
    if (a.kind == RegistryAnswer::Kind::failed || a.kind == RegistryAnswer::Kind::stopped) {
      failures += (failures.empty() ? "" : "; ") + a.error;
      continue;
    }
    if (a.kind == RegistryAnswer::Kind::not_found) continue;
    if (best == nullptr) {
      best = &a;
      continue;
    }
    const bool has = a.kind == RegistryAnswer::Kind::found;
    const bool best_has = best->kind == RegistryAnswer::Kind::found;
    if ((has && !best_has) || (has == best_has && a.handshake.value_or(-1) > best->handshake.value_or(-1))) best = &a;
  }
  return best;
}

// Why `allowed` may not be given to a new peer; empty if it may. `taken` holds every allowed IP
// the device's peers (and the peers added before in this round) already route.
std::string why_refused(const std::vector<wg::Prefix>& allowed, const SyncOptions& sync,
                        const std::vector<std::pair<wg::Prefix, wg::Key>>& taken) {
  for (const auto& a : allowed) {
    const bool inside = std::any_of(sync.allowed_within.begin(), sync.allowed_within.end(), [&](const wg::Prefix& w) { return prefix_within(a, w); });
    if (!inside) return "allowed IP " + a.to_string() + " is outside --allowed-within " + joined(sync.allowed_within);
    for (const auto& [t, owner] : taken) {
      if (prefixes_overlap(a, t)) {
        return "allowed IP " + a.to_string() + " overlaps " + t.to_string() + " of peer " + owner.to_base64() +
               " (WireGuard would move the route to the new peer)";
      }
    }
  }
  return "";
}

void apply_batches(const Options& options, wg::Backend& backend, std::vector<wg::PeerUpdate>& updates, std::vector<SyncPeer*>& entries,
                   SyncState& state, bool adding) {
  for (std::size_t from = 0; from < updates.size(); from += write_batch) {
    const std::size_t n = std::min(write_batch, updates.size() - from);
    wg::DeviceUpdate update{options.device, {updates.begin() + static_cast<std::ptrdiff_t>(from), updates.begin() + static_cast<std::ptrdiff_t>(from + n)}};
    try {
      backend.apply(update);
      for (std::size_t i = from; i < from + n; ++i) {
        if (adding) {
          state.added.insert(updates[i].public_key);
        } else {
          state.added.erase(updates[i].public_key);
          state.held.erase(updates[i].public_key);
        }
      }
    } catch (const std::exception& e) {
      // A large batch goes to the kernel as several messages, and those before a refused one are
      // applied: the device, read again, says which peers of the batch made it.
      std::optional<wg::Device> after;
      try {
        after = backend.get_device(options.device);
      } catch (const std::exception&) {
      }
      for (std::size_t i = from; i < from + n; ++i) {
        const wg::Key& k = updates[i].public_key;
        const bool present = after && std::any_of(after->peers.begin(), after->peers.end(), [&](const wg::Peer& p) { return p.public_key == k; });
        if (after && present == adding) {
          entries[i]->message += std::string(" (the rest of its batch failed: ") + e.what() + ")";
          if (adding) {
            state.added.insert(k);
          } else {
            state.added.erase(k);
            state.held.erase(k);
          }
          continue;
        }
        entries[i]->outcome = SyncOutcome::write_failed;
        entries[i]->message = std::string(adding ? "could not add: " : "could not remove: ") + e.what();
      }
    }
  }
}

void prune(const Options& options, const SyncOptions& sync, SyncState& state, const Listing& listing, wg::Backend& backend,
           SyncReport& report) {
  wg::Device device;
  try {
    device = backend.get_device(options.device);  // as it is after this round's additions
  } catch (const std::exception& e) {
    report.device_failed = true;
    report.notes.push_back(std::string("nothing is pruned: could not read the device again: ") + e.what());
    return;
  }
  // A peer someone else took off the device is no longer ours to remember.
  std::erase_if(state.added, [&](const wg::Key& k) {
    return std::none_of(device.peers.begin(), device.peers.end(), [&](const wg::Peer& p) { return p.public_key == k; });
  });
  std::erase_if(state.held, [&](const wg::Key& k) { return state.added.count(k) == 0; });
  if (!listing.complete) {
    report.notes.push_back("the listing is incomplete: nothing is pruned this round");
    if (!state.held.empty() && !options.dry_run) {
      report.notes.push_back("the prunes held are released: only consecutive whole listings confirm them");
      state.held.clear();
      state.held_since = 0;
    }
    return;
  }
  std::vector<wg::Key> gone;
  for (const auto& k : state.added) {
    if (std::find(listing.keys.begin(), listing.keys.end(), k) == listing.keys.end()) gone.push_back(k);
  }
  // Held last round and still gone: confirmed. The rest may go now if they are few enough.
  // A hold is confirmed only by a round at least sync.min_confirm after the one that made it.
  const auto now = static_cast<std::int64_t>(std::time(nullptr));
  const bool ripe = now - state.held_since >= static_cast<std::int64_t>(sync.min_confirm.count());
  std::vector<wg::Key> confirmed;
  std::vector<wg::Key> fresh;
  std::set<wg::Key> waiting;
  for (const auto& k : gone) {
    if (state.held.count(k) == 0) {
      fresh.push_back(k);
    } else if (ripe) {
      confirmed.push_back(k);
    } else {
      waiting.insert(k);
    }
  }
  const auto limit = static_cast<std::size_t>(std::floor(sync.max_prune * static_cast<double>(state.added.size()) + 1e-9));
  std::set<wg::Key> hold = waiting;
  std::int64_t since = waiting.empty() ? 0 : state.held_since;
  if (!waiting.empty()) {
    report.notes.push_back(std::to_string(waiting.size()) + " held prunes wait: they are confirmed by a round at least " +
                           std::to_string(sync.min_confirm.count()) + " s after the one that held them");
  }
  if (gone.size() > limit && !fresh.empty()) {
    hold.insert(fresh.begin(), fresh.end());
    since = now;  // newly missing peers join: the wait starts again for all
    fresh.clear();
    report.notes.push_back(std::to_string(gone.size()) + " of " + std::to_string(state.added.size()) +
                           " synced peers are no longer listed, over --max-prune (" + std::to_string(limit) +
                           "): the newly missing ones are removed only if the next round agrees");
  }
  std::vector<wg::PeerUpdate> updates;
  std::vector<SyncPeer*> entries;
  report.peers.reserve(report.peers.size() + gone.size());
  for (const auto& k : hold) report.peers.push_back({k, SyncOutcome::held, "no longer listed: held until the next round confirms"});
  for (const auto* list : {&confirmed, &fresh}) {
    for (const auto& k : *list) {
      report.peers.push_back({k, SyncOutcome::pruned, options.dry_run ? "would remove: no longer listed" : "removed: no longer listed"});
      wg::PeerUpdate u{k, true, std::nullopt};
      u.remove = true;
      updates.push_back(u);
    }
  }
  for (std::size_t i = report.peers.size() - updates.size(); i < report.peers.size(); ++i) entries.push_back(&report.peers[i]);
  if (options.dry_run) return;
  state.held = hold;
  state.held_since = hold.empty() ? 0 : since;
  apply_batches(options, backend, updates, entries, state, false);
}

SyncReport round(const Options& options, const SyncOptions& sync, SyncState& state, wg::Backend& backend, int stop_fd) {
  SyncReport report;
  auto read = read_device_or_report(backend, options.device, report);
  if (!read) return report;
  const wg::Device& device = *read;
  Listing listing = list_registries(options, sync, stop_fd);
  report.notes = listing.notes;
  report.listed = listing.keys.size();
  if (listing.answered == 0) {
    report.listing_failed = true;
    report.error = "no registry gave a listing: nothing is added or pruned";
    if (!options.dry_run) {  // a hold is confirmed only by the next whole round
      state.held.clear();
      state.held_since = 0;
    }
    return report;
  }

  std::vector<std::pair<wg::Prefix, wg::Key>> taken;
  for (const auto& p : device.peers) {
    for (const auto& a : p.allowed_ips) taken.emplace_back(a, p.public_key);
  }
  std::vector<wg::Key> wanted;
  std::vector<std::string> qnames;
  for (const auto& k : listing.keys) {
    if (k == device.public_key) continue;  // the device itself, as `self` publishes it
    if (std::find(options.skip.begin(), options.skip.end(), k) != options.skip.end()) continue;
    if (std::any_of(device.peers.begin(), device.peers.end(), [&](const wg::Peer& p) { return p.public_key == k; })) continue;
    wanted.push_back(k);
    qnames.push_back(dns::instance_name(k, options.zone, true));
  }
  LookupOptions lookup{options.timeout, options.retries, options.concurrency, nullptr, stop_fd, {}, options.tsig ? &*options.tsig : nullptr, true};
  const auto answers = lookup_all(qnames, options.registries, lookup);

  std::vector<wg::PeerUpdate> updates;
  report.peers.reserve(wanted.size() + state.added.size());
  for (std::size_t i = 0; i < wanted.size(); ++i) {
    std::string failures;
    const RegistryAnswer* a = pick(answers[i], failures);
    if (a == nullptr) {
      if (!failures.empty()) report.peers.push_back({wanted[i], SyncOutcome::failed, "not added: " + failures});
      continue;  // listed, then gone by the time it was asked about: the next round sees
    }
    if (a->allowed.empty()) {
      report.peers.push_back({wanted[i], SyncOutcome::refused, "not added: its TXT gives no allowed IPs (no allowed=): it could receive nothing"});
      continue;
    }
    if (auto why = why_refused(a->allowed, sync, taken); !why.empty()) {
      report.peers.push_back({wanted[i], SyncOutcome::refused, "not added: " + why});
      continue;
    }
    wg::PeerUpdate u{wanted[i], false, std::nullopt};
    u.allowed_ips = a->allowed;
    u.persistent_keepalive = sync.keepalive;
    std::string where = "no endpoint";
    if (a->kind == RegistryAnswer::Kind::found) {
      if (auto why = why_unusable(a->endpoint.address, device)) {
        where = "endpoint " + a->endpoint.to_string() + " refused: " + *why;
      } else {
        u.endpoint = a->endpoint;
        where = "endpoint " + a->endpoint.to_string();
      }
    }
    for (const auto& p : a->allowed) taken.emplace_back(p, wanted[i]);
    updates.push_back(u);
    report.peers.push_back({wanted[i], SyncOutcome::added,
                            std::string(options.dry_run ? "would add" : "added") + ": allowed IPs " + joined(a->allowed) + ", " + where});
  }
  if (!options.dry_run) {
    std::vector<SyncPeer*> entries;
    for (auto& p : report.peers) {
      if (p.outcome == SyncOutcome::added) entries.push_back(&p);
    }
    // Recorded before they are written: a crash mid-round leaves no peer on the device that the
    // state file does not name (a key that never reached the device is dropped by the next prune).
    bool recorded = true;
    if (!updates.empty() && !sync.state_file.empty()) {
      SyncState before = state;
      for (const auto& u : updates) before.added.insert(u.public_key);
      try {
        before.save(sync.state_file);
        state = std::move(before);
      } catch (const std::exception& e) {
        recorded = false;
        report.state_failed = true;
        report.notes.push_back(std::string(e.what()) + ": nothing is added this round");
        for (auto* p : entries) {
          p->outcome = SyncOutcome::write_failed;
          p->message = "not added: the state file could not record it first";
        }
      }
    }
    if (recorded) apply_batches(options, backend, updates, entries, state, true);
  }
  if (sync.prune) prune(options, sync, state, listing, backend, report);
  return report;
}

}  // namespace

bool prefix_within(const wg::Prefix& inner, const wg::Prefix& outer) {
  if (inner.address().family() != outer.address().family() || inner.length() < outer.length()) return false;
  return wg::Prefix(inner.address(), outer.length()) == outer;
}

bool prefixes_overlap(const wg::Prefix& a, const wg::Prefix& b) { return prefix_within(a, b) || prefix_within(b, a); }

std::string default_state_dir() {
  const char* env = std::getenv("STATE_DIRECTORY");
  if (env != nullptr) {
    const std::string_view dirs(env);
    const std::string_view first = dirs.substr(0, dirs.find(':'));
    if (!first.empty()) return std::string(first);
  }
  return "/var/lib/wgsd-client";
}

std::string default_state_file(const std::string& device) { return default_state_dir() + "/" + device + ".sync"; }

SyncState SyncState::load(const std::string& path) {
  SyncState s;
  // Read as less than it held, a damaged file would let peers go unpruned, or be taken for another's.
  for (const StateLine& entry : read_state_lines(path)) {
    const std::size_t n = entry.number;  // named, not bound: a lambda below may capture it
    const std::string& line = entry.text;
    std::istringstream words(line);
    std::string kind;
    std::string text;
    std::string extra;
    words >> kind >> text;
    if (kind == "held-since") {
      std::int64_t t = -1;
      auto [ptr, ec] = std::from_chars(text.data(), text.data() + text.size(), t);
      if (ec != std::errc() || ptr != text.data() + text.size() || t < 0 || (words >> extra)) {
        throw std::runtime_error(path + ":" + std::to_string(n) + ": expected 'held-since UNIXTIME', got '" + line + "'");
      }
      s.held_since = t;
      continue;
    }
    auto key = wg::Key::from_base64(text);
    if ((kind != "added" && kind != "held") || !key || (words >> extra)) {
      throw std::runtime_error(path + ":" + std::to_string(n) + ": expected 'added KEY' or 'held KEY', got '" + line + "'");
    }
    (kind == "added" ? s.added : s.held).insert(*key);
  }
  return s;
}

void SyncState::save(const std::string& path) const {
  std::string text = "# wgsd-client --sync: the peers it added (only these are ever pruned), and prunes held for confirmation\n";
  for (const auto& k : added) text += "added " + k.to_base64() + "\n";
  for (const auto& k : held) text += "held " + k.to_base64() + "\n";
  if (!held.empty()) text += "held-since " + std::to_string(held_since) + "\n";
  write_state_file(path, text);
}

wg::UniqueFd SyncState::lock(const std::string& path) { return lock_state_file(path, "wgsd-client --sync"); }

int SyncReport::exit_code() const {
  if (device_failed || state_failed) return 3;
  bool lookup = listing_failed;
  for (const auto& p : peers) {
    if (p.outcome == SyncOutcome::write_failed) return 3;
    if (p.outcome == SyncOutcome::failed || p.outcome == SyncOutcome::refused) lookup = true;
  }
  return lookup ? 2 : 0;
}

SyncReport sync_once(const Options& options, const SyncOptions& sync, SyncState& state, wg::Backend& backend, int stop_fd) {
  try {
    return round(options, sync, state, backend, stop_fd);
  } catch (const std::exception& e) {
    SyncReport report;
    report.listing_failed = true;
    report.error = std::string("sync round failed: ") + e.what();
    return report;
  }
}

void print_sync_messages(const SyncReport& report, bool dry_run, std::ostream& out) {
  const std::string prefix = dry_run ? "wgsd-client: sync (dry run): " : "wgsd-client: sync: ";
  for (const auto& n : report.notes) out << prefix << n << "\n";
  if (!report.error.empty()) out << prefix << report.error << "\n";
  for (const auto& p : report.peers) out << "wgsd-client: " << p.public_key.to_base64() << ": " << p.message << "\n";
}

}  // namespace wgsd::client
