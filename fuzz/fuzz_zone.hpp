// The snapshot the responder fuzzer answers from: IPv4, IPv6 and endpoint-less peers, self with a
// dynamic address, long allowed-IP lists, three zones, one of them with an apex so long that its
// instance names are exactly 255 octets, the most a DNS name may have.
#pragma once

#include <vector>

#include "dns/names.hpp"
#include "dns/wire.hpp"
#include "dns/pool.hpp"
#include "dns/zone_build.hpp"

namespace wgsd::fuzz {

inline wg::Key key(unsigned n) {
  std::array<std::uint8_t, 32> b{};
  for (std::size_t i = 0; i < b.size(); ++i) b[i] = static_cast<std::uint8_t>(n * 31 + i);
  return wg::Key(b);
}

// 64 + 64 + 53 + 1 = 182 octets: <56-character label>._wireguard._udp.<apex> is then 255.
inline const std::string long_apex = std::string(63, 'a') + "." + std::string(63, 'b') + "." + std::string(52, 'c') + ".";

inline std::vector<dns::PublishedPeer> peers(wg::Clock::time_point now) {
  std::vector<dns::PublishedPeer> peers;
  for (unsigned i = 0; i < 40; ++i) {
    dns::PublishedPeer p;
    p.key = key(i);
    if (i % 5 != 4) p.endpoint = wg::Endpoint::parse(i % 2 ? "198.51.100.7:40001" : "[2001:db8::7]:40002");
    for (unsigned j = 0; j < i % 30; ++j) p.allowed_ips.push_back(*wg::Prefix::parse("10." + std::to_string(j) + ".0.0/16"));
    if (i % 3 == 0) p.handshake = now;
    peers.push_back(p);
  }
  peers.push_back({key(999), wg::Endpoint{wg::IpAddress(), 51820}, true, false, {}, std::nullopt});  // self: the local address
  return peers;
}

inline dns::ZoneSet zones() {
  const auto now = wg::Clock::now();
  const auto peers = fuzz::peers(now);
  auto with_self_endpoint = peers;
  with_self_endpoint.back() = {key(999), wg::Endpoint::parse("192.0.2.1:51820"), false, false, {}, std::nullopt};
  dns::ZoneSettings a;
  a.zone = "example.com.";
  a.ns.push_back({"ns1.example.com.", {*wg::IpAddress::parse("192.0.2.53")}});
  dns::ZoneSettings b = a;
  b.zone = "sub.example.com.";
  b.ns = {{"ns.example.net.", {}}};
  dns::ZoneSettings c = a;
  c.zone = long_apex;
  c.ns = {{"ns." + long_apex, {*wg::IpAddress::parse("192.0.2.54")}}};
  // A pool of IPv4 and IPv6 members, some unhealthy and one without an endpoint: its answers are
  // drawn per query.
  dns::PoolView pool;
  pool.name = "vpn";
  pool.answers = 3;
  for (unsigned i = 0; i < 6; ++i) {
    dns::PoolMemberView m;
    m.key = key(i);
    m.weight = static_cast<std::uint16_t>(1 + i * 1000);
    m.endpoint = peers[i].endpoint;
    m.healthy = i % 3 != 2;
    pool.members.push_back(m);
  }
  dns::ZoneSet set;
  set.zones.push_back(dns::build_zone(a, peers, now, nullptr, {pool}));
  set.zones.push_back(dns::build_zone(b, with_self_endpoint, now, nullptr));
  set.zones.push_back(dns::build_zone(c, peers, now, nullptr));
  return set;
}

// An SRV query for a peer of zones(), in wire form.
inline std::vector<std::uint8_t> srv_query() {
  std::vector<std::uint8_t> q = {0x12, 0x34, 0, 0, 0, 1, 0, 0, 0, 0, 0, 0};
  const std::string name = *dns::name_to_wire(dns::instance_name(key(1), "example.com."));
  q.insert(q.end(), name.begin(), name.end());
  q.insert(q.end(), {0, 33, 0, 1});
  return q;
}

}  // namespace wgsd::fuzz
