// What the transfer tests share: a zone of many peers, the AXFR/IXFR request, and the whole stream
// of messages a transfer answers, as wgsd's TCP loop would send them.
#pragma once

#include <catch2/catch.hpp>
#include <netinet/in.h>
#include <sys/socket.h>

#include <ctime>
#include <memory>
#include <string>
#include <vector>

#include "dns/axfr.hpp"
#include "dns/responder.hpp"
#include "dns/transfer.hpp"
#include "dns/wire.hpp"
#include "dns/zone_build.hpp"
#include "support/dns_case.hpp"
#include "support/keys.hpp"

namespace wgsd::test {

inline dns::ZoneSettings xfr_settings() {
  dns::ZoneSettings s;
  s.zone = "example.com.";
  s.ns = {{"ns1.example.com.", {*wg::IpAddress::parse("192.0.2.53")}}};
  return s;
}

/// `n` peers with endpoints (every tenth IPv6) and a handshake, `first` the first key number.
inline std::vector<dns::PublishedPeer> many_peers(unsigned n, unsigned first = 1) {
  std::vector<dns::PublishedPeer> peers;
  for (unsigned i = first; i < first + n; ++i) {
    dns::PublishedPeer p;
    p.key = key_n(i);
    const std::string addr = i % 10 == 0 ? "[2001:db8::" + std::to_string(i % 9999 + 1) + "]" : "198.51.100." + std::to_string(i % 250 + 1);
    p.endpoint = wg::Endpoint::parse(addr + ":" + std::to_string(1024 + i % 60000));
    p.allowed_ips = {wg::Prefix(*wg::IpAddress::parse("10.0.0.1"), 32)};
    p.handshake = wg::Clock::time_point(std::chrono::seconds(1700000000 + i));
    peers.push_back(p);
  }
  return peers;
}

/// A device `name` whose peers are many_peers(n), as a transfer test's server reads it.
inline wg::Device many_peers_device(const std::string& name, unsigned n) {
  wg::Device d;
  d.name = name;
  d.public_key = key_n(999999);
  for (const auto& p : many_peers(n)) {
    wg::Peer peer;
    peer.public_key = p.key;
    peer.endpoint = p.endpoint;
    peer.allowed_ips = p.allowed_ips;
    d.peers.push_back(peer);
  }
  return d;
}

inline std::shared_ptr<const dns::Zone> many_zone(unsigned n, const dns::Zone* previous = nullptr,
                                                  wg::Clock::time_point now = wg::Clock::time_point(std::chrono::seconds(1800000000))) {
  return dns::build_zone(xfr_settings(), many_peers(n), now, previous);
}

/// The zones with a `transfer` that lets everybody (or only `to`) transfer them.
inline dns::ZoneSet transferable(std::shared_ptr<const dns::Zone> zone, std::vector<wg::Endpoint> to = {}) {
  dns::ZoneSet set;
  set.zones.push_back(std::move(zone));
  auto policy = std::make_shared<dns::TransferPolicy>();
  dns::TransferRule rule;
  rule.zones = {*dns::name_to_wire("example.com.")};
  rule.anyone = to.empty();
  rule.to = std::move(to);
  policy->rules.push_back(rule);
  set.transfer = policy;
  return set;
}

/// An IXFR request carrying `serial` in its authority SOA.
inline std::vector<std::uint8_t> ixfr_query(std::uint32_t serial) {
  ldns_rdf* dname = ldns_dname_new_frm_str("example.com.");
  PktPtr pkt(ldns_pkt_query_new(dname, LDNS_RR_TYPE_IXFR, LDNS_RR_CLASS_IN, 0));
  ldns_pkt_set_id(pkt.get(), 0x4242);
  ldns_rr* soa = nullptr;
  const std::string text = "example.com. 5 IN SOA ns1.example.com. postmaster.example.com. " + std::to_string(serial) + " 1 1 1 1";
  REQUIRE(ldns_rr_new_frm_str(&soa, text.c_str(), 0, nullptr, nullptr) == LDNS_STATUS_OK);
  ldns_pkt_push_rr(pkt.get(), LDNS_SECTION_AUTHORITY, soa);
  std::uint8_t* wire = nullptr;
  std::size_t size = 0;
  REQUIRE(ldns_pkt2wire(&wire, pkt.get(), &size) == LDNS_STATUS_OK);
  std::vector<std::uint8_t> out(wire, wire + size);
  std::free(wire);
  return out;
}

/// 127.0.0.1 as a source address.
inline sockaddr_in loopback_source() { return loopback_address(40000); }

/// Every message of the transfer `query` asks over TCP; empty when respond() did not allow one
/// (then `refusal` holds its answer).
inline std::vector<std::vector<std::uint8_t>> transfer_messages(const std::vector<std::uint8_t>& query, const dns::ZoneSet& zones,
                                                                std::vector<std::uint8_t>* refusal = nullptr) {
  const sockaddr_in src = loopback_source();
  std::vector<std::uint8_t> out(dns::max_message);
  dns::ResponseInfo info;
  const std::size_t n = dns::respond(query, zones, {dns::Transport::tcp, std::nullopt, reinterpret_cast<const sockaddr*>(&src)}, out, &info);
  if (info.transfer == nullptr) {
    if (refusal != nullptr) refusal->assign(out.begin(), out.begin() + static_cast<std::ptrdiff_t>(n));
    return {};
  }
  auto stream = dns::open_transfer(query, zones, info);
  REQUIRE(stream);
  std::vector<std::vector<std::uint8_t>> messages;
  while (!stream->done()) {
    const std::size_t size = stream->next(out, static_cast<std::uint64_t>(std::time(nullptr)));
    REQUIRE(size > 0);
    REQUIRE(size <= dns::max_message);
    messages.emplace_back(out.begin(), out.begin() + static_cast<std::ptrdiff_t>(size));
    REQUIRE(messages.size() < 100000);
  }
  return messages;
}

/// The answer records of every message, as normalised text, in order.
inline std::vector<std::string> transfer_records(const std::vector<std::vector<std::uint8_t>>& messages) {
  std::vector<std::string> out;
  for (const auto& m : messages) {
    auto pkt = parse_response(m);
    REQUIRE(pkt);
    for (auto& r : section(pkt.get(), LDNS_SECTION_ANSWER)) out.push_back(std::move(r));
  }
  return out;
}

}  // namespace wgsd::test
