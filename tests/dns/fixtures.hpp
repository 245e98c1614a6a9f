// The reference device of shared/reference/jwhited-wgsd-transcripts.txt, as zones for tests.
#pragma once

#include "dns/zone_build.hpp"
#include "server/publish.hpp"
#include "support/keys.hpp"

namespace wgsd::test {

inline const char* const key1 = "En9Uj9hQdUDPzXA8+29PYXZDUY7uoWByieEUhcB313Q=";
inline const char* const key2 = "uxRkYvNHLZ+Mrm+ngTLFIvypoBI/X3r2UUR0HTAY/kM=";
inline const char* const key3 = "3okJWfIhfF9BFTlMxrLIf8QrX5dBVJb0hVhxEnlqT0U=";
inline const char* const self_key = "Jcnz3ft/3hEXxufWP4s77BNARZ+8AaLybNZGS6AN638=";
inline const std::string name1 = "cj7vjd6ykb2ubt6noa6pw32pmf3egumo52qwa4uj4ekilqdx252a====._wireguard._udp.example.com.";
inline const std::string name2 = "xmkgiyxti4wz7dfon6tycmwfel6ktiash5pxv5srir2b2may7zbq====._wireguard._udp.example.com.";
inline const std::string name_self = "exe7hxp3p7pbcf6g47ld7cz35qjuarm7xqa2f4tm2zdexian5n7q====._wireguard._udp.example.com.";

inline wg::Peer make_peer(const char* key, const char* endpoint, std::vector<const char*> allowed) {
  wg::Peer p;
  p.public_key = key_from_b64(key);
  if (endpoint != nullptr) p.endpoint = wg::Endpoint::parse(endpoint);
  for (const char* a : allowed) p.allowed_ips.push_back(*wg::Prefix::parse(a));
  return p;
}

inline wg::Device reference_device() {
  wg::Device d;
  d.name = "wgref0";
  d.public_key = key_from_b64(self_key);
  d.listen_port = 51820;
  d.peers.push_back(make_peer(key1, "198.51.100.7:40001", {"10.0.0.1/32", "192.168.50.0/24"}));
  d.peers.push_back(make_peer(key2, "[2001:db8::7]:40002", {"10.0.0.2/32", "fd00::2/128"}));
  d.peers.push_back(make_peer(key3, nullptr, {"10.0.0.3/32"}));
  return d;
}

/// reference_device() and `n` more peers (keys key_n(10) on), each with an endpoint on
/// 198.51.100.9 and, when given, the allowed IP `allowed`: a device large enough for what the
/// refresher does by size (its interval, its memory).
inline wg::Device large_reference_device(unsigned n, const char* allowed = nullptr) {
  wg::Device d = reference_device();
  for (unsigned i = 0; i < n; ++i) {
    wg::Peer& p = d.peers.emplace_back();
    p.public_key = key_n(i + 10);
    p.endpoint = wg::Endpoint{*wg::IpAddress::parse("198.51.100.9"), static_cast<std::uint16_t>(1024 + i % 60000)};
    if (allowed != nullptr) p.allowed_ips.push_back(*wg::Prefix::parse(allowed));
  }
  return d;
}

/// A zone as the Corefile describes it: what src/dns encodes, and the server's publishing policy.
struct ReferenceZone {
  dns::ZoneSettings settings;
  server::PublishPolicy publish;
};

inline ReferenceZone reference_settings() {
  ReferenceZone s;
  s.settings.zone = "example.com.";
  s.settings.ns = {{"ns1.example.com.", {}}};
  s.publish.self = server::PublishPolicy::Self{wg::Endpoint::parse("192.0.2.1:51820"), {*wg::Prefix::parse("10.0.0.254/32")}};
  return s;
}

/// The zone the server would build from `device` read at `now`.
inline std::shared_ptr<const dns::Zone> make_zone(const ReferenceZone& z, wg::Device device, wg::Clock::time_point now,
                                                  const dns::Zone* previous) {
  return dns::build_zone(z.settings, server::published_peers(z.publish, device, now), now, previous);
}
inline std::shared_ptr<const dns::Zone> make_refresh(const ReferenceZone& z, wg::Device device, wg::Clock::time_point now,
                                                     const std::shared_ptr<const dns::Zone>& previous) {
  return dns::refresh_zone(z.settings, server::published_peers(z.publish, device, now), now, previous);
}
inline std::string make_digest(const ReferenceZone& z, wg::Device device, wg::Clock::time_point now) {
  return dns::published_digest(server::published_peers(z.publish, device, now));
}
inline std::shared_ptr<const dns::Zone> make_empty_zone(const ReferenceZone& z) { return dns::build_empty_zone(z.settings); }

inline dns::ZoneSet zone_set(std::shared_ptr<const dns::Zone> zone) {
  dns::ZoneSet set;
  set.zones.push_back(std::move(zone));
  return set;
}

inline dns::ZoneSet reference_zones(wg::Clock::time_point now = wg::Clock::time_point(std::chrono::seconds(1700000000))) {
  return zone_set(make_zone(reference_settings(), reference_device(), now, nullptr));
}

}  // namespace wgsd::test
