// The snapshot the responder fuzzer answers from: IPv4, IPv6 and endpoint-less peers, self with a
// dynamic address, long allowed-IP lists, two zones.
#pragma once

#include <vector>

#include "dns/names.hpp"
#include "dns/wire.hpp"
#include "dns/zone.hpp"

namespace wgsd::fuzz {

inline wg::Key key(unsigned n) {
  std::array<std::uint8_t, 32> b{};
  for (std::size_t i = 0; i < b.size(); ++i) b[i] = static_cast<std::uint8_t>(n * 31 + i);
  return wg::Key(b);
}

inline dns::ZoneSet zones() {
  wg::Device d;
  d.name = "wgfuzz0";
  d.public_key = key(999);
  d.listen_port = 51820;
  for (unsigned i = 0; i < 40; ++i) {
    wg::Peer p;
    p.public_key = key(i);
    if (i % 5 != 4) p.endpoint = wg::Endpoint::parse(i % 2 ? "198.51.100.7:40001" : "[2001:db8::7]:40002");
    for (unsigned j = 0; j < i % 30; ++j) p.allowed_ips.push_back(*wg::Prefix::parse("10." + std::to_string(j) + ".0.0/16"));
    if (i % 3 == 0) p.last_handshake = wg::Clock::now();
    d.peers.push_back(p);
  }
  dns::ZoneSettings a;
  a.zone = "example.com.";
  a.device = d.name;
  a.self = dns::ZoneSettings::Self{};
  a.ns.push_back({"ns1.example.com.", wg::IpAddress::parse("192.0.2.53")});
  dns::ZoneSettings b = a;
  b.zone = "sub.example.com.";
  b.self->endpoint = wg::Endpoint::parse("192.0.2.1:51820");
  b.max_age = std::chrono::seconds(60);
  b.ns.clear();
  dns::ZoneSet set;
  set.zones.push_back(dns::build_zone(a, d, wg::Clock::now(), nullptr));
  set.zones.push_back(dns::build_zone(b, d, wg::Clock::now(), nullptr));
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
