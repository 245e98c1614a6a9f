// Packing a node's RRsets into one block, the zone's name index, and the longest-match of zones.
#include "dns/zone.hpp"

#include <cstring>
#include <limits>
#include <stdexcept>
#include <string_view>
#include <vector>

#include "dns/wire.hpp"

namespace wgsd::dns {
namespace {

template <typename T>
void put_at(std::byte* block, std::size_t offset, const T& value) {
  std::memcpy(block + offset, &value, sizeof value);
}

std::uint32_t offset32(std::size_t n) {
  // A node holds a few RRs, the service node the PTR set; a block past 4 GiB cannot happen
  // under --max-peers, and must not wrap silently if it did.
  if (n > std::numeric_limits<std::uint32_t>::max()) throw std::length_error("a node's RRsets exceed 4 GiB");
  return static_cast<std::uint32_t>(n);
}

}  // namespace

const Zone* ZoneSet::match(std::string_view wire, std::size_t& apex_offset) const {
  // Walk label boundaries from the full name towards the root: the first apex that matches is the
  // longest. Names are compared whole and by labels, never by a length shortcut.
  for (std::size_t pos = 0; pos < wire.size();) {
    const auto suffix = wire.substr(pos);
    for (const auto& z : zones) {
      if (z->apex_wire == suffix) {
        apex_offset = pos;
        return z.get();
      }
    }
    if (wire[pos] == 0) break;
    pos += static_cast<std::uint8_t>(wire[pos]) + 1U;
  }
  return nullptr;
}

namespace {

// Where `tail` already is among the RRs of `rrsets` (an additional record that is also an answer
// of the same name, as a peer's TXT in its SRV answer), as an offset into the RRs' bytes laid back
// to back; npos when it is not.
std::size_t among_rrs(const std::vector<RRset>& rrsets, std::string_view tail) {
  std::size_t base = 0;
  for (const auto& r : rrsets) {
    std::uint32_t begin = 0;
    for (const std::uint32_t end : r.ends) {
      if (std::string_view(r.wire).substr(begin, end - begin) == tail) return base + begin;
      begin = end;
    }
    base += r.wire.size();
  }
  return std::string_view::npos;
}

}  // namespace

Node::Node(std::string_view name, const std::vector<RRset>& rrsets, bool dynamic_address) {
  if (name.size() > std::numeric_limits<std::uint16_t>::max() || rrsets.size() > std::numeric_limits<std::uint8_t>::max()) {
    throw std::length_error("a node's name or RRset count is out of range");
  }
  // Sizes first, then one allocation: head and name, the RRset table, per RRset its end offsets
  // and its extras, every RRset's RR tails, then the extras' tails that are not one of those RRs
  // already (a peer's TXT is both an answer and an additional record of its SRV: held once).
  const std::size_t first_table = packed::rrsets_offset(name.size()) + rrsets.size() * sizeof(packed::RRset);
  std::size_t size = first_table;
  for (const auto& r : rrsets) {
    size += r.ends.size() * sizeof(std::uint32_t) + r.extras.size() * sizeof(packed::Extra);
  }
  const std::size_t tables = size;
  for (const auto& r : rrsets) size += r.wire.size();
  const std::size_t wires_end = size;
  std::vector<std::size_t> shared_tail;  // per extra in order: its offset among the RRs, or npos
  for (const auto& r : rrsets) {
    for (const auto& e : r.extras) {
      shared_tail.push_back(e.tail.empty() ? std::string_view::npos : among_rrs(rrsets, e.tail));
      if (shared_tail.back() == std::string_view::npos) size += e.tail.size();
    }
  }
  block_ = std::make_unique<std::byte[]>(size);
  std::byte* b = block_.get();
  put_at(b, 0, packed::Head{static_cast<std::uint16_t>(name.size()), static_cast<std::uint8_t>(rrsets.size()), dynamic_address ? std::uint8_t{1} : std::uint8_t{0}});
  std::memcpy(b + sizeof(packed::Head), name.data(), name.size());
  std::size_t table = first_table;
  std::size_t wires = tables;     // where the next RRset's RR tails go
  std::size_t tails = wires_end;  // where the next extra's own tail goes
  std::size_t extra_index = 0;
  for (std::size_t i = 0; i < rrsets.size(); ++i) {
    const RRset& r = rrsets[i];
    if (r.extras.size() > std::numeric_limits<std::uint16_t>::max()) throw std::length_error("an RRset has too many additional records");
    packed::RRset head{r.type, static_cast<std::uint16_t>(r.extras.size()), offset32(r.ends.size()), offset32(wires), offset32(table), 0};
    std::memcpy(b + wires, r.wire.data(), r.wire.size());
    wires += r.wire.size();
    for (std::uint32_t end : r.ends) {
      put_at(b, table, end);
      table += sizeof end;
    }
    head.extras = offset32(table);
    for (const auto& e : r.extras) {
      std::size_t at = shared_tail[extra_index++];
      if (at != std::string_view::npos) {
        at += tables;
      } else {
        at = tails;
        std::memcpy(b + tails, e.tail.data(), e.tail.size());
        tails += e.tail.size();
      }
      put_at(b, table, packed::Extra{e.answer_rr, e.name_offset, e.dynamic_address ? 1U : 0U, offset32(e.tail.size()), offset32(at)});
      table += sizeof(packed::Extra);
    }
    put_at(b, packed::rrsets_offset(name.size()) + i * sizeof(packed::RRset), head);
  }
}

void Zone::index() {
  std::size_t capacity = 16;
  while (capacity < 2 * nodes.size()) capacity *= 2;
  slots_.assign(capacity, Slot{});
  mask_ = capacity - 1;
  for (std::size_t n = 0; n < nodes.size(); ++n) {
    const NodeRef ref = nodes[n]->ref();
    const std::uint64_t h = hash(ref.name());
    Slot& s = slots_[probe(ref.name(), h)];
    if (s.block == nullptr) s = {ref.block(), check_of(h), static_cast<std::uint32_t>(n)};  // else the first node of a name stays
  }
  soa_ = find(apex_wire).find(type::soa);
}

const std::shared_ptr<const Node>* Zone::shared(std::string_view wire) const {
  const Slot* s = slot(wire);
  return s != nullptr ? &nodes[s->node] : nullptr;
}

}  // namespace wgsd::dns
