// Encodes the published peers of a zone into its snapshot: every answer precomputed in wire form.
#include "dns/zone_build.hpp"

#include <sodium.h>

#include <algorithm>
#include <array>
#include <stdexcept>
#include <unordered_map>

#include "dns/ixfr_journal.hpp"
#include "dns/names.hpp"
#include "dns/pool_build.hpp"
#include "dns/wire.hpp"

namespace wgsd::dns {
namespace {

constexpr std::size_t max_character_string = 255;
constexpr std::size_t max_txt_rdata = 60000;

std::string wire_of(const std::string& text) {
  // Names here come from the validated Corefile or from base32 keys. One that is not a valid name
  // is refused loudly: publishing the root in its place would be a wrong answer, not an error.
  auto wire = name_to_wire(text);
  if (!wire) throw std::invalid_argument("not a valid DNS name: '" + text + "'");
  return *std::move(wire);
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

std::int64_t unix_seconds(wg::Clock::time_point t) {
  return std::chrono::duration_cast<std::chrono::seconds>(t.time_since_epoch()).count();
}

// "txtvers=1" "pub=..." "allowed=a,b" ["allowed2=c,..." "allowed3=..."] ["handshake=N"]: an allowed
// list longer than one character-string continues in the next, split only between CIDRs, each
// continuation under a key of its own (RFC 6763 §6.4: a reader ignores every repeat of a key).
// RDATA cannot pass 65,535 bytes, and the record must fit a TCP message with its question: a peer
// with thousands of allowed IPs publishes those that fit in max_txt_rdata, whole CIDRs, in device order.
std::string txt_rdata(const PublishedPeer& peer) {
  std::vector<std::string> strings = {"txtvers=1", "pub=" + peer.key.to_base64()};
  std::size_t size = 2 + strings[0].size() + strings[1].size() + 1 + 8 + 1 + 30;  // with "handshake=N"
  std::string current = "allowed=";
  std::size_t part = 1;
  bool first = true;
  for (const auto& prefix : peer.allowed_ips) {
    const std::string cidr = prefix.to_string();
    const bool next_string = current.size() + (first ? 0 : 1) + cidr.size() > max_character_string;
    const std::string next_key = next_string ? "allowed" + std::to_string(part + 1) + "=" : std::string();
    const std::size_t added = next_string ? 1 + next_key.size() + cidr.size() : (first ? 0 : 1) + cidr.size();
    if (size + added > max_txt_rdata) break;
    size += added;
    if (next_string) {
      strings.push_back(current);
      current = next_key;
      ++part;
      first = true;
    }
    current += (first ? "" : ",") + cidr;
    first = false;
  }
  strings.push_back(current);
  if (peer.handshake) strings.push_back("handshake=" + std::to_string(unix_seconds(*peer.handshake)));
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

class Builder {
public:
  Builder(const ZoneSettings& settings, Zone& zone) : settings_(settings), zone_(zone) {
    if (settings.ns.empty()) throw std::invalid_argument("zone " + settings.zone + " has no name server");
    zone_.apex = settings.zone;
    zone_.apex_wire = wire_of(settings.zone);
    zone_.data_ttl = settings.ttl.data;
    service_wire_ = wire_of(service_name(settings.zone));
    if (instance_wire_length(settings.zone) > max_name) {
      throw std::length_error("zone '" + settings.zone + "' is too long: its peers' names would be " +
                              std::to_string(instance_wire_length(settings.zone)) + " octets");
    }
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

  // SOA and NS at the apex; the A/AAAA of each name server inside the zone at its name, and as
  // additional records (glue) of the NS answer.
  void apex(std::uint32_t serial) {
    const Ttls& ttl = settings_.ttl;
    RRset ns_set;
    ns_set.type = type::ns;
    for (const auto& server : settings_.ns) {
      const std::string ns_wire = wire_of(server.name);
      add_rr(ns_set, rr_tail(type::ns, ttl.ns, ns_wire));
      if (server.addresses.empty()) continue;
      NodeDraft& host = node(ns_wire);
      for (const std::uint16_t family : {type::a, type::aaaa}) {
        RRset addresses;
        addresses.type = family;
        for (const auto& address : server.addresses) {
          if (address_type(address) != family) continue;
          const auto tail = rr_tail(family, ttl.ns, address_rdata(address));
          ns_set.extras.push_back({static_cast<std::uint16_t>(ns_set.count() - 1), 10, false, tail});
          add_rr(addresses, tail);
        }
        if (addresses.count() > 0) host.rrsets.push_back(std::move(addresses));
      }
    }
    std::string soa = wire_of(settings_.ns.front().name) + wire_of("postmaster." + settings_.zone);
    put_u32(soa, serial);
    put_u32(soa, 86400);
    put_u32(soa, 7200);
    put_u32(soa, 3600000);
    put_u32(soa, ttl.negative);  // MINIMUM; with the SOA's own TTL it bounds negative caching (RFC 2308 §5)
    zone_.serial = serial;
    NodeDraft& apex = node(zone_.apex_wire);
    apex.rrsets.push_back(single(type::soa, rr_tail(type::soa, ttl.negative, soa)));
    apex.rrsets.push_back(std::move(ns_set));
  }

  struct Entry {
    std::array<std::uint64_t, 2> source{};  // hash of the peer: equal means an equal node
    const PublishedPeer* peer{};            // the caller's: outlives the build
  };

  void peer(const Entry& e, RRset& ptr, const Zone* previous) {
    const std::string label = e.peer->key.to_base32(true);
    std::string owner;
    owner.reserve(1 + label.size() + service_wire_.size());
    owner.push_back(static_cast<char>(label.size()));
    owner += label;
    owner += service_wire_;
    if (e.peer->endpoint || e.peer->listed) {
      // PTR target: the label, then a pointer to the question (the service name itself).
      std::string target = static_cast<char>(label.size()) + label;
      target += "\xc0\x0c";
      add_rr(ptr, rr_tail(type::ptr, settings_.ttl.data, target));
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
    build_peer(*e.peer, owner, draft);
    auto node = std::make_shared<Node>(owner, draft.rrsets, draft.dynamic_address);
    node->source = e.source;
    zone_.nodes.push_back(std::move(node));
  }

  void build_peer(const PublishedPeer& p, const std::string& owner, NodeDraft& n) {
    const std::uint32_t ttl = settings_.ttl.data;
    const auto txt = rr_tail(type::txt, ttl, txt_rdata(p));
    n.rrsets.push_back(single(type::txt, txt));
    if (!p.endpoint) return;

    std::string srv;
    put_u16(srv, 0);
    put_u16(srv, 0);
    put_u16(srv, p.endpoint->port);
    srv += owner;  // RFC 2782: the target is never compressed
    RRset srv_set = single(type::srv, rr_tail(type::srv, ttl, srv));
    constexpr std::uint16_t target_offset = 10 + 6;
    if (!p.local_address) {
      const auto address = p.endpoint->address.unmapped();  // IPv4-mapped IPv6 answers as A
      const auto tail = rr_tail(address_type(address), ttl, address_rdata(address));
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

std::uint32_t now_seconds(wg::Clock::time_point now) { return static_cast<std::uint32_t>(unix_seconds(now)); }

}  // namespace

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
  std::string view_digest;  // the same without handshake times
};

// What the zone publishes, before any wire encoding: cheap enough to run on every refresh.
Collected collect(const std::vector<PublishedPeer>& peers, const std::vector<PoolView>& pools) {
  Collected c;
  auto& entries = c.entries;
  entries.reserve(peers.size());
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
  std::array<std::uint64_t, 2> sum{}, view_sum{};
  std::string record;
  for (const auto& p : peers) {
    Builder::Entry& e = entries.emplace_back(Builder::Entry{{}, &p});
    record.assign(reinterpret_cast<const char*>(p.key.bytes().data()), p.key.bytes().size());
    if (p.endpoint) {
      record.push_back(p.local_address ? 'L' : p.endpoint->address.is_v4() ? '4' : '6');
      if (!p.local_address) record.append(reinterpret_cast<const char*>(p.endpoint->address.data()), p.endpoint->address.size());
      put_u16(record, p.endpoint->port);
    } else {
      record.push_back(p.listed ? '+' : '-');
    }
    for (const auto& a : p.allowed_ips) {
      record.push_back(a.address().is_v4() ? '4' : '6');
      record.append(reinterpret_cast<const char*>(a.address().data()), a.address().size());
      record.push_back(static_cast<char>(a.length()));
    }
    // The transfer view first (no handshake), then the whole record.
    std::array<std::uint64_t, 2> view{};
    crypto_shorthash_siphashx24(reinterpret_cast<unsigned char*>(view.data()), reinterpret_cast<const unsigned char*>(record.data()),
                                record.size(), hash_key.data());
    const std::int64_t handshake = p.handshake ? unix_seconds(*p.handshake) : -1;
    put_u32(record, static_cast<std::uint32_t>(handshake >> 32));
    put_u32(record, static_cast<std::uint32_t>(handshake));
    auto& h = e.source;
    static_assert(sizeof h == crypto_shorthash_siphashx24_BYTES);
    crypto_shorthash_siphashx24(reinterpret_cast<unsigned char*>(h.data()), reinterpret_cast<const unsigned char*>(record.data()),
                                record.size(), hash_key.data());
    for (std::size_t i = 0; i < sum.size(); ++i) {
      sum[i] += h[i];
      view_sum[i] += view[i];
    }
  }
  c.digest.assign(reinterpret_cast<const char*>(sum.data()), sizeof sum);
  c.digest += std::to_string(entries.size());
  c.view_digest.assign(reinterpret_cast<const char*>(view_sum.data()), sizeof view_sum);
  c.view_digest += std::to_string(entries.size());
  if (!pools.empty()) {
    // Health changes rebuild (and change what is transferred); a zone without pools digests as before.
    c.digest += pools_digest(pools);
    c.view_digest += pools_digest(pools);
  }
  return c;
}

}  // namespace

std::string published_digest(const std::vector<PublishedPeer>& peers, const std::vector<PoolView>& pools) {
  return collect(peers, pools).digest;
}

namespace {

std::shared_ptr<const Zone> build_from(const ZoneSettings& settings, Collected c, wg::Clock::time_point now, const Zone* previous,
                                       const std::vector<PoolView>& pools) {
  auto zone = std::make_shared<Zone>();
  zone->loaded = true;
  Builder b(settings, *zone);
  zone->digest = std::move(c.digest);
  zone->view_digest = std::move(c.view_digest);
  // The serial follows the clock (unix seconds) and moves only when the transfer view changes;
  // it never goes back, and grows by at least one on every change.
  std::uint32_t serial = now_seconds(now);
  if (previous != nullptr) {
    serial = previous->loaded && previous->view_digest == zone->view_digest ? previous->serial : std::max(previous->serial + 1, serial);
  }
  b.apex(serial);

  RRset ptr;
  ptr.type = type::ptr;
  ptr.wire.reserve(c.entries.size() * 69);
  ptr.ends.reserve(c.entries.size());
  zone->nodes.reserve(c.entries.size() + 8);
  NodeDraft& service = b.node(b.service_wire());  // the service name and _udp exist even with no peer
  // A peer's node depends on its peer and on the data TTL only.
  const Zone* reuse =
      previous != nullptr && previous->loaded && previous->apex == zone->apex && previous->data_ttl == zone->data_ttl ? previous : nullptr;
  for (const auto& e : c.entries) b.peer(e, ptr, reuse);
  if (ptr.count() > 0) service.rrsets.push_back(std::move(ptr));
  for (const auto& p : pools) {
    PoolRecords records = build_pool(p, settings.zone);
    auto& address = b.node(records.snapshot.address_wire).rrsets;
    std::move(records.address.begin(), records.address.end(), std::back_inserter(address));
    auto& srv = b.node(records.snapshot.service_wire).rrsets;
    std::move(records.service.begin(), records.service.end(), std::back_inserter(srv));
    zone->pools.push_back(std::move(records.snapshot));
  }
  b.finish();
  for (auto& p : zone->pools) {
    p.address_block = zone->find(p.address_wire).block();
    p.service_block = zone->find(p.service_wire).block();
  }
  // The IXFR journal: the previous version's, and the step from it to this one.
  if (previous != nullptr) zone->journal = next_journal(*previous, *zone);
  return zone;
}

}  // namespace

std::shared_ptr<const Zone> build_zone(const ZoneSettings& settings, const std::vector<PublishedPeer>& peers,
                                       wg::Clock::time_point now, const Zone* previous, const std::vector<PoolView>& pools) {
  return build_from(settings, collect(peers, pools), now, previous, pools);
}

std::shared_ptr<const Zone> refresh_zone(const ZoneSettings& settings, const std::vector<PublishedPeer>& peers,
                                         wg::Clock::time_point now, const std::shared_ptr<const Zone>& previous,
                                         const std::vector<PoolView>& pools) {
  Collected c = collect(peers, pools);
  if (previous && previous->loaded && previous->digest == c.digest) return previous;
  return build_from(settings, std::move(c), now, previous.get(), pools);
}

}  // namespace wgsd::dns
