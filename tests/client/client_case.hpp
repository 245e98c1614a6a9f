// What the client's tests build a round from: options aimed at registries on loopback, a device
// with numbered peers, and a registry's answer for whichever peer a query asks about.
#pragma once

#include <chrono>
#include <cstdint>
#include <string>
#include <vector>

#include "client/client.hpp"
#include "client/scripted_dns.hpp"
#include "support/keys.hpp"
#include "wg/types.hpp"

namespace wgsd::test {

/// The zone the client tests ask about.
inline const std::string zone = "example.com.";

inline wg::Endpoint loopback(std::uint16_t port) { return {*wg::IpAddress::parse("127.0.0.1"), port}; }

/// Options for `device` that ask the registries on these loopback ports, once each, within 300 ms.
inline client::Options client_options(const std::string& device, const std::vector<std::uint16_t>& ports) {
  client::Options o;
  o.device = device;
  for (auto p : ports) o.registries.push_back(loopback(p));
  o.zone = zone;
  o.timeout = std::chrono::milliseconds(300);
  o.retries = 0;
  return o;
}

/// The device `name` with peers key_n(1) .. key_n(peers), none with an endpoint.
inline wg::Device device_with(const std::string& name, unsigned peers) {
  wg::Device d;
  d.name = name;
  for (unsigned i = 1; i <= peers; ++i) {
    wg::Peer p;
    p.public_key = key_n(i);
    d.peers.push_back(p);
  }
  return d;
}

/// An answer for whatever peer the query asks about (as it asked it, the case kept), with its
/// address (A or AAAA) and TXT in the additional section.
inline std::vector<ScriptedDns::Send> answer(const std::vector<std::uint8_t>& q, const std::string& address,
                                             const std::string& txt = "\"txtvers=1\"") {
  const std::string name = qname_of(q);
  const bool v6 = address.find(':') != std::string::npos;
  return {{reply_to(q, LDNS_RCODE_NOERROR, {name + " 0 IN SRV 0 0 40001 " + name},
                    {name + (v6 ? " 0 IN AAAA " : " 0 IN A ") + address, name + " 0 IN TXT " + txt})}};
}

}  // namespace wgsd::test
