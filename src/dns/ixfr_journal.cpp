// Differences between two snapshots, node by node: a peer's node that the rebuild shared is the
// same object in both, so a diff looks only at the few nodes that were built again, and at the
// PTR set, which is rebuilt every time.
#include "dns/ixfr_journal.hpp"

#include <algorithm>
#include <string_view>
#include <unordered_set>
#include <string>

#include "dns/axfr.hpp"
#include "dns/wire.hpp"
#include "dns/zone.hpp"

namespace wgsd::dns {
namespace {

constexpr std::size_t record_overhead = 64;  // what a JournalRecord costs besides its bytes, about

// A record as a journal keeps it: the transfer view, and a PTR's target written out whole.
JournalRecord journal_record(std::string_view owner, std::string_view tail, const std::string& service) {
  std::string buf;
  std::string view(transfer_tail(tail, buf));
  if (get_u16(reinterpret_cast<const std::uint8_t*>(view.data())) == type::ptr && view.size() >= 12 &&
      static_cast<std::uint8_t>(view[view.size() - 2]) == 0xc0 && view.back() == 0x0c) {
    view.resize(view.size() - 2);
    view += service;
    const std::size_t rdlength = view.size() - 10;
    view[8] = static_cast<char>(rdlength >> 8);
    view[9] = static_cast<char>(rdlength & 0xff);
  }
  return {std::string(owner), std::move(view)};
}

// The RR tails of a node (its SOA left out: a step carries both SOAs itself).
std::vector<std::string_view> tails(NodeRef node) {
  std::vector<std::string_view> out;
  for (std::size_t i = 0; node && i < node.rrset_count(); ++i) {
    const RRsetRef set = node.rrset(i);
    if (set.type() == type::soa) continue;
    for (std::size_t r = 0; r < set.count(); ++r) out.push_back(set.rr(r));
  }
  return out;
}

class Differ {
public:
  Differ(JournalDelta& d, std::string service, std::size_t max_bytes) : d_(d), service_(std::move(service)), max_bytes_(max_bytes) {}

  // What went from `old_node` and came in `new_node` (either may be empty), both of name `owner`.
  bool node(std::string_view owner, NodeRef old_node, NodeRef new_node) {
    const auto before = tails(old_node);
    const auto after = tails(new_node);
    const std::unordered_set<std::string_view> old_set(before.begin(), before.end());
    const std::unordered_set<std::string_view> new_set(after.begin(), after.end());
    for (const auto t : before) {
      if (!new_set.count(t) && !add(d_.removed, owner, t)) return false;
    }
    for (const auto t : after) {
      if (!old_set.count(t) && !add(d_.added, owner, t)) return false;
    }
    return true;
  }

private:
  bool add(std::vector<JournalRecord>& to, std::string_view owner, std::string_view tail) {
    JournalRecord r = journal_record(owner, tail, service_);
    // A TXT that differs only in its handshake= is the same record in the transfer view.
    d_.bytes += r.owner.size() + r.tail.size() + record_overhead;
    to.push_back(std::move(r));
    return d_.bytes <= max_bytes_;
  }

  JournalDelta& d_;
  std::string service_;
  std::size_t max_bytes_;
};

// A node that the index answers for (the builder never makes two of one name; the index keeps the first).
bool answered(const Zone& z, NodeRef node) { return z.find(node.name()) == node; }

}  // namespace

std::shared_ptr<const JournalDelta> diff_zones(const Zone& from, const Zone& to, std::size_t max_bytes) {
  auto d = std::make_shared<JournalDelta>();
  d->from_serial = from.serial;
  d->to_serial = to.serial;
  if (from.soa()) d->from_soa = from.soa().rr(0);
  if (to.soa()) d->to_soa = to.soa().rr(0);
  Differ differ(*d, std::string("\x0a_wireguard\x04_udp", 16) + to.apex_wire, max_bytes);
  for (const auto& n : to.nodes) {
    const NodeRef node = n->ref();
    if (!answered(to, node)) continue;
    const auto* old = from.shared(node.name());
    if (old != nullptr && old->get() == n.get()) continue;  // shared by the rebuild: unchanged
    if (!differ.node(node.name(), old != nullptr ? (*old)->ref() : NodeRef(), node)) return nullptr;
  }
  for (const auto& n : from.nodes) {
    const NodeRef node = n->ref();
    if (!answered(from, node) || to.find(node.name())) continue;
    if (!differ.node(node.name(), node, NodeRef())) return nullptr;
  }
  // Records that differ only where the transfer view does not look (handshake=) cancel out.
  std::unordered_multiset<std::string> came;
  for (const auto& r : d->added) came.insert(r.owner + r.tail);
  std::unordered_multiset<std::string> cancelled;
  std::erase_if(d->removed, [&](const JournalRecord& r) {
    const auto it = came.find(r.owner + r.tail);
    if (it == came.end()) return false;
    cancelled.insert(*it);
    came.erase(it);
    return true;
  });
  std::erase_if(d->added, [&](const JournalRecord& r) {
    const auto it = cancelled.find(r.owner + r.tail);
    if (it == cancelled.end()) return false;
    cancelled.erase(it);
    return true;
  });
  d->bytes = 0;
  for (const auto* part : {&d->removed, &d->added}) {
    for (const auto& r : *part) d->bytes += r.owner.size() + r.tail.size() + record_overhead;
  }
  return d;
}

std::shared_ptr<const Journal> next_journal(const Zone& from, const Zone& to, const JournalLimits& limits) {
  if (!from.loaded || !to.loaded || from.apex_wire != to.apex_wire) return nullptr;
  if (from.serial == to.serial) return from.journal;  // the same transfer view
  auto delta = diff_zones(from, to, limits.max_bytes);
  if (!delta) return nullptr;  // a change too large to keep: older serials get the whole zone
  auto j = std::make_shared<Journal>();
  if (from.journal && !from.journal->steps.empty() && from.journal->steps.back()->to_serial == from.serial) {
    j->steps = from.journal->steps;
    j->bytes = from.journal->bytes;
  }
  j->steps.push_back(delta);
  j->bytes += delta->bytes;
  while (!j->steps.empty() && (j->steps.size() > limits.max_steps || j->bytes > limits.max_bytes)) {
    j->bytes -= j->steps.front()->bytes;
    j->steps.erase(j->steps.begin());
  }
  return j;
}

bool journal_steps(const Zone& zone, std::uint32_t serial, std::vector<std::shared_ptr<const JournalDelta>>& out) {
  out.clear();
  if (serial == zone.serial) return true;
  if (!zone.journal) return false;
  const auto& steps = zone.journal->steps;
  for (std::size_t i = 0; i < steps.size(); ++i) {
    if (steps[i]->from_serial != serial) continue;
    out.assign(steps.begin() + static_cast<std::ptrdiff_t>(i), steps.end());
    return !out.empty() && out.back()->to_serial == zone.serial;
  }
  return false;
}

}  // namespace wgsd::dns
