#include "dns/zone.hpp"

#include <sodium.h>

#include <algorithm>
#include <array>
#include <cstring>
#include <limits>
#include <stdexcept>

#include "dns/names.hpp"
#include "dns/wire.hpp"

namespace wgsd::dns {
namespace {

constexpr std::uint32_t data_ttl = 0;    // endpoints change any second (SPEC §2)
constexpr std::uint32_t soa_ttl = 60;
constexpr std::size_t max_character_string = 255;
constexpr std::size_t max_txt_rdata = 60000;

std::string wire_of(const std::string& text) {
  // Names here come from the validated Corefile or from base32 keys: always valid.
  return name_to_wire(text).value_or(std::string(1, '\0'));
}

std::string rr_tail(std::uint16_t rrtype, std::uint32_t ttl, const std::string& rdata) {
  std::string out;
  out.reserve(10 + rdata.size());
  put_u16(out, rrtype);
  put_u16(out, class_in);
  put_u32(out, ttl);
  put_u16(out, static_cast<std::uint16_t>(rdata.size()));
  out += rdata;
  return out;
}

std::string address_rdata(const wg::IpAddress& address) {
  return std::string(reinterpret_cast<const char*>(address.data()), address.size());
}

std::uint16_t address_type(const wg::IpAddress& address) { return address.is_v4() ? type::a : type::aaaa; }

void add_rr(RRset& set, std::string tail) {
  set.wire += tail;
  set.ends.push_back(static_cast<std::uint32_t>(set.wire.size()));
}

RRset single(std::uint16_t rrtype, std::string tail) {
  RRset set;
  set.type = rrtype;
  add_rr(set, std::move(tail));
  return set;
}

// "txtvers=1" "pub=..." "allowed=a,b" ["allowed=c,..."] ["handshake=N"]: an allowed list longer
// than one character-string continues in the next, split only between CIDRs. RDATA cannot pass
// 65,535 bytes, and the record must fit a TCP message with its question: a peer with thousands of
// allowed IPs publishes those that fit in max_txt_rdata, whole CIDRs, in device order.
std::string txt_rdata(const wg::Key& key, const std::vector<wg::Prefix>& allowed, std::optional<std::int64_t> handshake) {
  std::vector<std::string> strings = {"txtvers=1", "pub=" + key.to_base64()};
  std::size_t size = 2 + strings[0].size() + strings[1].size() + 1 + 8 + 1 + 30;  // with "handshake=N"
  std::string current = "allowed=";
  bool first = true;
  for (const auto& prefix : allowed) {
    const std::string cidr = prefix.to_string();
    const bool next_string = current.size() + (first ? 0 : 1) + cidr.size() > max_character_string;
    const std::size_t added = next_string ? 1 + 8 + cidr.size() : (first ? 0 : 1) + cidr.size();
    if (size + added > max_txt_rdata) break;
    size += added;
    if (next_string) {
      strings.push_back(current);
      current = "allowed=";
      first = true;
    }
    current += (first ? "" : ",") + cidr;
    first = false;
  }
  strings.push_back(current);
  if (handshake) strings.push_back("handshake=" + std::to_string(*handshake));
  std::string rdata;
  for (const auto& s : strings) {
    rdata.push_back(static_cast<char>(s.size()));
    rdata += s;
  }
  return rdata;
}

// A node as the builder assembles it, packed into a Node when the zone is finished.
struct NodeDraft {
  std::vector<RRset> rrsets;
  bool dynamic_address{};
};

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

class Builder {
public:
  Builder(const ZoneSettings& settings, Zone& zone) : settings_(settings), zone_(zone) {
    zone_.apex = settings.zone;
    zone_.apex_wire = wire_of(settings.zone);
    service_wire_ = wire_of(service_name(settings.zone));
  }

  // Creates the node and every empty non-terminal between it and the apex (RFC 8020: they exist).
  // These nodes are few and built anew each time; peer nodes go straight into the zone.
  NodeDraft& node(const std::string& wire) {
    for (std::size_t pos = 0; pos < wire.size() - zone_.apex_wire.size();) {
      own_.try_emplace(wire.substr(pos));
      pos += static_cast<std::uint8_t>(wire[pos]) + 1U;
    }
    return own_[wire];
  }

  // Packs the nodes built with node() into the zone, ahead of the peers' (a name both have keeps
  // the Corefile's node), and indexes every name.
  void finish() {
    std::vector<std::shared_ptr<const Node>> all;
    all.reserve(own_.size() + zone_.nodes.size());
    for (const auto& [wire, draft] : own_) all.push_back(std::make_shared<const Node>(wire, draft.rrsets, draft.dynamic_address));
    own_.clear();
    std::move(zone_.nodes.begin(), zone_.nodes.end(), std::back_inserter(all));
    zone_.nodes = std::move(all);
    zone_.index();
  }

  void apex(std::uint32_t serial) {
    std::vector<ZoneSettings::NameServer> ns = settings_.ns;
    if (ns.empty()) ns.push_back({"ns1." + settings_.zone, std::nullopt});
    RRset ns_set;
    ns_set.type = type::ns;
    for (const auto& server : ns) {
      const std::string ns_wire = wire_of(server.name);
      add_rr(ns_set, rr_tail(type::ns, data_ttl, ns_wire));
      if (!server.address) continue;
      const auto tail = rr_tail(address_type(*server.address), data_ttl, address_rdata(*server.address));
      ns_set.extras.push_back({static_cast<std::uint16_t>(ns_set.count() - 1), 10, false, tail});
      node(ns_wire).rrsets.push_back(single(address_type(*server.address), tail));
    }
    std::string soa = wire_of(ns.front().name) + wire_of("postmaster." + settings_.zone);
    put_u32(soa, serial);
    put_u32(soa, 86400);
    put_u32(soa, 7200);
    put_u32(soa, 3600000);
    put_u32(soa, 60);
    zone_.serial = serial;
    NodeDraft& apex = node(zone_.apex_wire);
    apex.rrsets.push_back(single(type::soa, rr_tail(type::soa, soa_ttl, soa)));
    apex.rrsets.push_back(std::move(ns_set));
  }

  struct Entry {
    std::array<std::uint64_t, 2> source{};    // hash of everything below: equal means an equal node
    wg::Key key;
    const std::vector<wg::Prefix>* allowed;   // the device's or the Corefile's: outlives the build
    std::optional<std::int64_t> handshake;
    bool published{};
    std::optional<wg::Endpoint> endpoint;  // nullopt with published: the dynamic address of self
    std::uint16_t port{};
  };

  void peer(const Entry& e, RRset& ptr, const Zone* previous) {
    const std::string label = e.key.to_base32(true);
    std::string owner;
    owner.reserve(1 + label.size() + service_wire_.size());
    owner.push_back(static_cast<char>(label.size()));
    owner += label;
    owner += service_wire_;
    if (e.published) {
      // PTR target: the label, then a pointer to the question (the service name itself).
      std::string target = static_cast<char>(label.size()) + label;
      target += "\xc0\x0c";
      add_rr(ptr, rr_tail(type::ptr, data_ttl, target));
      ++zone_.published;
    }
    // Unchanged since the last build: share its node (its ancestors exist already).
    if (previous != nullptr) {
      const auto* old = previous->shared(owner);
      if (old != nullptr && (*old)->source == e.source) {
        zone_.nodes.push_back(*old);
        return;
      }
    }
    NodeDraft draft;
    build_peer(e, owner, draft);
    auto node = std::make_shared<Node>(owner, draft.rrsets, draft.dynamic_address);
    node->source = e.source;
    zone_.nodes.push_back(std::move(node));
  }

  void build_peer(const Entry& e, const std::string& owner, NodeDraft& n) {
    const auto txt = rr_tail(type::txt, data_ttl, txt_rdata(e.key, *e.allowed, e.handshake));
    n.rrsets.push_back(single(type::txt, txt));
    if (!e.published) return;

    std::string srv;
    put_u16(srv, 0);
    put_u16(srv, 0);
    put_u16(srv, e.port);
    srv += owner;  // RFC 2782: the target is never compressed
    RRset srv_set = single(type::srv, rr_tail(type::srv, data_ttl, srv));
    constexpr std::uint16_t target_offset = 10 + 6;
    if (e.endpoint) {
      const auto address = e.endpoint->address.unmapped();  // v4-mapped answers as A (SPEC §2)
      const auto tail = rr_tail(address_type(address), data_ttl, address_rdata(address));
      srv_set.extras.push_back({0, target_offset, false, tail});
      n.rrsets.push_back(single(address_type(address), tail));
    } else {
      srv_set.extras.push_back({0, target_offset, true, {}});
      n.dynamic_address = true;
    }
    srv_set.extras.push_back({0, target_offset, false, txt});
    n.rrsets.push_back(std::move(srv_set));
  }

  const std::string& service_wire() const { return service_wire_; }

private:
  const ZoneSettings& settings_;
  Zone& zone_;
  std::string service_wire_;
  std::unordered_map<std::string, NodeDraft> own_;
};

std::uint32_t now_seconds(wg::Clock::time_point now) {
  return static_cast<std::uint32_t>(std::chrono::duration_cast<std::chrono::seconds>(now.time_since_epoch()).count());
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

Node::Node(std::string_view name, const std::vector<RRset>& rrsets, bool dynamic_address) {
  if (name.size() > std::numeric_limits<std::uint16_t>::max() || rrsets.size() > std::numeric_limits<std::uint8_t>::max()) {
    throw std::length_error("a node's name or RRset count is out of range");
  }
  // Sizes first, then one allocation: head and name, the RRset table, then per RRset its end
  // offsets, its extras, its RR tails and its extras' tails.
  const std::size_t first_table = packed::rrsets_offset(name.size()) + rrsets.size() * sizeof(packed::RRset);
  std::size_t size = first_table;
  for (const auto& r : rrsets) {
    size += r.ends.size() * sizeof(std::uint32_t) + r.extras.size() * sizeof(packed::Extra);
  }
  const std::size_t tables = size;
  for (const auto& r : rrsets) {
    size += r.wire.size();
    for (const auto& e : r.extras) size += e.tail.size();
  }
  block_ = std::make_unique<std::byte[]>(size);
  std::byte* b = block_.get();
  put_at(b, 0, packed::Head{static_cast<std::uint16_t>(name.size()), static_cast<std::uint8_t>(rrsets.size()), dynamic_address ? std::uint8_t{1} : std::uint8_t{0}});
  std::memcpy(b + sizeof(packed::Head), name.data(), name.size());
  std::size_t table = first_table;
  std::size_t bytes = tables;
  for (std::size_t i = 0; i < rrsets.size(); ++i) {
    const RRset& r = rrsets[i];
    if (r.extras.size() > std::numeric_limits<std::uint16_t>::max()) throw std::length_error("an RRset has too many additional records");
    packed::RRset head{r.type, static_cast<std::uint16_t>(r.extras.size()), offset32(r.ends.size()), offset32(bytes), offset32(table), 0};
    std::memcpy(b + bytes, r.wire.data(), r.wire.size());
    bytes += r.wire.size();
    for (std::uint32_t end : r.ends) {
      put_at(b, table, end);
      table += sizeof end;
    }
    head.extras = offset32(table);
    for (const auto& e : r.extras) {
      put_at(b, table, packed::Extra{e.answer_rr, e.name_offset, e.dynamic_address ? 1U : 0U, offset32(e.tail.size()), offset32(bytes)});
      table += sizeof(packed::Extra);
      std::memcpy(b + bytes, e.tail.data(), e.tail.size());
      bytes += e.tail.size();
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
    if (s.block == nullptr) s = {h, ref.block(), static_cast<std::uint32_t>(n)};  // else the first node of a name stays
  }
  soa_ = find(apex_wire).find(type::soa);
}

const std::shared_ptr<const Node>* Zone::shared(std::string_view wire) const {
  const Slot* s = slot(wire);
  return s != nullptr ? &nodes[s->node] : nullptr;
}

std::shared_ptr<const Zone> build_empty_zone(const ZoneSettings& settings, std::uint32_t serial) {
  auto zone = std::make_shared<Zone>();
  Builder b(settings, *zone);
  b.apex(std::max(serial, now_seconds(wg::Clock::now())));
  b.finish();
  return zone;
}

namespace {

struct Collected {
  std::vector<Builder::Entry> entries;
  std::string digest;
};

// What the zone publishes, before any wire encoding: cheap enough to run on every refresh.
Collected collect(const ZoneSettings& settings, const wg::Device& device, wg::Clock::time_point now) {
  Collected c;
  auto& entries = c.entries;
  entries.reserve(device.peers.size() + 1);
  auto hidden = [&](const wg::Key& k) { return std::find(settings.hide.begin(), settings.hide.end(), k) != settings.hide.end(); };
  for (const auto& p : device.peers) {
    if (hidden(p.public_key)) continue;
    Builder::Entry e{{}, p.public_key, &p.allowed_ips, std::nullopt, false, p.endpoint, 0};
    if (p.last_handshake) e.handshake = std::chrono::duration_cast<std::chrono::seconds>(p.last_handshake->time_since_epoch()).count();
    const bool fresh = !settings.max_age || (p.last_handshake && now - *p.last_handshake <= *settings.max_age);
    e.published = p.endpoint.has_value() && fresh;
    if (p.endpoint) e.port = p.endpoint->port;
    entries.push_back(std::move(e));
  }
  if (settings.self && !device.public_key.is_zero() && !hidden(device.public_key)) {
    Builder::Entry e{{}, device.public_key, &settings.self->allowed_ips, std::nullopt, false, settings.self->endpoint, 0};
    e.port = settings.self->endpoint ? settings.self->endpoint->port : device.listen_port;
    e.published = e.port != 0;
    entries.push_back(std::move(e));
  }
  // The digest covers what is published, independent of order: wireguard-go lists peers in a
  // different order on every read, and that alone must not look like a change. Each entry is
  // hashed in binary and the hashes are summed (a multiset hash): no text, no sort. SipHash-2-4
  // (128-bit output) under a key drawn once per process is a PRF: no peer can aim for a collision,
  // and it costs a fifth of BLAKE2b on records this short (it runs for every peer, every refresh).
  static const auto hash_key = [] {
    std::array<unsigned char, crypto_shorthash_siphashx24_KEYBYTES> k{};
    randombytes_buf(k.data(), k.size());
    return k;
  }();
  std::array<std::uint64_t, 2> sum{};
  std::string record;
  for (auto& e : entries) {
    record.assign(reinterpret_cast<const char*>(e.key.bytes().data()), e.key.bytes().size());
    record.push_back(e.published ? 'P' : '-');
    if (e.endpoint) {
      record.push_back(e.endpoint->address.is_v4() ? '4' : '6');
      record.append(reinterpret_cast<const char*>(e.endpoint->address.data()), e.endpoint->address.size());
    }
    put_u16(record, e.port);
    put_u32(record, static_cast<std::uint32_t>(e.handshake.value_or(-1) >> 32));
    put_u32(record, static_cast<std::uint32_t>(e.handshake.value_or(-1)));
    for (const auto& a : *e.allowed) {
      record.push_back(a.address().is_v4() ? '4' : '6');
      record.append(reinterpret_cast<const char*>(a.address().data()), a.address().size());
      record.push_back(static_cast<char>(a.length()));
    }
    auto& h = e.source;
    static_assert(sizeof h == crypto_shorthash_siphashx24_BYTES);
    crypto_shorthash_siphashx24(reinterpret_cast<unsigned char*>(h.data()), reinterpret_cast<const unsigned char*>(record.data()),
                                record.size(), hash_key.data());
    for (std::size_t i = 0; i < sum.size(); ++i) sum[i] += h[i];
  }
  c.digest.assign(reinterpret_cast<const char*>(sum.data()), sizeof sum);
  c.digest += std::to_string(entries.size());
  return c;
}

}  // namespace

std::string published_digest(const ZoneSettings& settings, const wg::Device& device, wg::Clock::time_point now) {
  return collect(settings, device, now).digest;
}

namespace {

std::shared_ptr<const Zone> build_from(const ZoneSettings& settings, Collected c, wg::Clock::time_point now, const Zone* previous) {
  auto zone = std::make_shared<Zone>();
  zone->loaded = true;
  Builder b(settings, *zone);
  zone->digest = std::move(c.digest);
  std::uint32_t serial = now_seconds(now);
  if (previous != nullptr) {
    serial = previous->loaded && previous->digest == zone->digest ? previous->serial : std::max(previous->serial + 1, serial);
  }
  b.apex(serial);

  RRset ptr;
  ptr.type = type::ptr;
  ptr.wire.reserve(c.entries.size() * 69);
  ptr.ends.reserve(c.entries.size());
  zone->nodes.reserve(c.entries.size() + 8);
  NodeDraft& service = b.node(b.service_wire());  // the service name and _udp exist even with no peer
  const Zone* reuse = previous != nullptr && previous->loaded && previous->apex == zone->apex ? previous : nullptr;
  for (const auto& e : c.entries) b.peer(e, ptr, reuse);
  if (ptr.count() > 0) service.rrsets.push_back(std::move(ptr));
  b.finish();
  return zone;
}

}  // namespace

std::shared_ptr<const Zone> build_zone(const ZoneSettings& settings, const wg::Device& device, wg::Clock::time_point now,
                                       const Zone* previous) {
  return build_from(settings, collect(settings, device, now), now, previous);
}

std::shared_ptr<const Zone> refresh_zone(const ZoneSettings& settings, const wg::Device& device, wg::Clock::time_point now,
                                         const std::shared_ptr<const Zone>& previous) {
  Collected c = collect(settings, device, now);
  if (previous && previous->loaded && previous->digest == c.digest) return previous;
  return build_from(settings, std::move(c), now, previous.get());
}

}  // namespace wgsd::dns
