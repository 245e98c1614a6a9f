// Encodes a pool's answered members into RRsets; which are answered is decided by their health.
#include "dns/pool_build.hpp"

#include <stdexcept>

#include "dns/names.hpp"
#include "dns/wire.hpp"

namespace wgsd::dns {
namespace {

std::string wire_of(const std::string& text) {
  auto wire = name_to_wire(text);
  if (!wire) throw std::invalid_argument("not a valid DNS name: '" + text + "'");
  return *std::move(wire);
}

std::string rr_tail(std::uint16_t rrtype, std::uint32_t ttl, std::string_view rdata) {
  std::string out;
  put_u16(out, rrtype);
  put_u16(out, class_in);
  put_u32(out, ttl);
  put_u16(out, static_cast<std::uint16_t>(rdata.size()));
  out += rdata;
  return out;
}

void add_rr(RRset& set, const std::string& tail) {
  set.wire += tail;
  set.ends.push_back(static_cast<std::uint32_t>(set.wire.size()));
}

}  // namespace

PoolRecords build_pool(const PoolView& pool, const std::string& zone) {
  if (pool.members.size() > max_pool_members) {
    throw std::length_error("pool " + pool.name + " has " + std::to_string(pool.members.size()) + " members, more than " +
                            std::to_string(max_pool_members));
  }
  PoolRecords out;
  PoolSnapshot& s = out.snapshot;
  s.name = pool.name;
  s.address_wire = wire_of(pool.name + "." + zone);
  s.service_wire = wire_of("_wireguard._udp." + pool.name + "." + zone);
  s.answers = pool.answers;
  s.fail_open = pool.fail_open();
  s.fail_open_episodes = pool.fail_open_episodes;
  RRset a, aaaa, srv;
  a.type = type::a;
  aaaa.type = type::aaaa;
  srv.type = type::srv;
  for (std::size_t i = 0; i < pool.members.size(); ++i) {
    const PoolMemberView& m = pool.members[i];
    const bool answered = pool.answered(i);
    s.members.push_back({m.key, m.weight, m.endpoint, m.healthy, answered});
    if (!answered) continue;
    // One address per member, whatever else it has: a server is never favoured for having more.
    const wg::IpAddress address = m.endpoint->address.unmapped();
    const std::string address_tail =
        rr_tail(address.is_v4() ? type::a : type::aaaa, pool.ttl, {reinterpret_cast<const char*>(address.data()), address.size()});
    add_rr(address.is_v4() ? a : aaaa, address_tail);
    (address.is_v4() ? s.weights_a : s.weights_aaaa).push_back(m.weight);

    std::string rdata;
    put_u16(rdata, 0);
    put_u16(rdata, m.weight);
    put_u16(rdata, m.endpoint->port);
    rdata += wire_of(instance_name(m.key, zone));  // RFC 2782: the target is never compressed
    add_rr(srv, rr_tail(type::srv, pool.ttl, rdata));
    constexpr std::uint16_t target_offset = 10 + 6;
    // Exactly one additional record per SRV record, in the same order: the responder relies on it.
    srv.extras.push_back({static_cast<std::uint16_t>(srv.count() - 1), target_offset, false, address_tail});
    s.weights_srv.push_back(m.weight);
  }
  if (a.count() > 0) out.address.push_back(std::move(a));
  if (aaaa.count() > 0) out.address.push_back(std::move(aaaa));
  if (srv.count() > 0) out.service.push_back(std::move(srv));
  return out;
}

std::string pools_digest(const std::vector<PoolView>& pools) {
  std::string d;
  for (const auto& p : pools) {
    d += p.name;
    d.push_back('\0');
    put_u32(d, p.ttl);
    put_u32(d, p.answers);
    for (std::size_t i = 0; i < p.members.size(); ++i) {
      const PoolMemberView& m = p.members[i];
      d.append(reinterpret_cast<const char*>(m.key.bytes().data()), m.key.bytes().size());
      put_u16(d, m.weight);
      d.push_back(m.healthy ? 'h' : '-');
      d.push_back(p.answered(i) ? 'a' : '-');
      if (m.endpoint) {
        d.push_back(m.endpoint->address.is_v4() ? '4' : '6');
        d.append(reinterpret_cast<const char*>(m.endpoint->address.data()), m.endpoint->address.size());
        put_u16(d, m.endpoint->port);
      }
    }
  }
  return d;
}

}  // namespace wgsd::dns
