// The fixture of the --roam round tests: a FakeBackend with a client device (wgc0) and a backbone
// (wgb0), a FakeRouter, and two other servers' registries (scripted, on 127.0.0.2 and 127.0.0.3)
// that answer each client's TXT handshake=; the backbone peers whose allowed IPs hold those
// addresses are the servers.
#pragma once

#include <catch2/catch.hpp>

#include <ctime>
#include <map>
#include <mutex>
#include <optional>

#include "client/roam.hpp"
#include "client/scripted_dns.hpp"
#include "support/fake_backend.hpp"
#include "support/keys.hpp"
#include "support/lab.hpp"
#include "wg/error.hpp"

namespace wgsd::test {

const wg::Key server2 = key_n(202);
const wg::Key server3 = key_n(203);

// The routes wgsd added (all of them carry its protocol), and the devices' own addresses.
struct FakeRouter : client::Router {
  std::map<std::string, std::string> routes;  // prefix -> device
  std::vector<std::string> calls;
  std::map<std::string, std::vector<wg::IpAddress>> own;  // device -> its addresses
  std::optional<std::string> fail_add;                    // the next add of this prefix throws
  void add(const std::string& device, const wg::Prefix& prefix) override {
    if (fail_add == prefix.to_string()) {
      fail_add.reset();
      throw wg::Error(std::errc::no_buffer_space, "rtnetlink: add route " + prefix.to_string() + " dev " + device);
    }
    routes[prefix.to_string()] = device;
    calls.push_back("add " + prefix.to_string());
  }
  void remove(const std::string& device, const wg::Prefix& prefix) override {
    if (auto it = routes.find(prefix.to_string()); it != routes.end() && it->second == device) routes.erase(it);
    calls.push_back("del " + prefix.to_string() + " dev " + device);
  }
  std::vector<wg::Prefix> list(const std::string& device) override {
    std::vector<wg::Prefix> out;
    for (const auto& [p, d] : routes) {
      if (d == device) out.push_back(*wg::Prefix::parse(p));
    }
    return out;
  }
  std::vector<wg::IpAddress> addresses(const std::string& device) override { return own[device]; }
};

// A registry that answers every TXT question with the handshake its map holds for the key (none:
// no handshake= key).
struct Registry {
  std::mutex mutex;
  std::map<std::string, std::int64_t> handshake;  // lower-case qname -> unix seconds
  ScriptedDns dns;
  explicit Registry(std::uint32_t address)
      : dns([this](const std::vector<std::uint8_t>& q, bool, unsigned) {
          std::string name = qname_of(q);
          std::string lower = name;
          for (auto& c : lower) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
          std::string txt = "\"txtvers=1\"";
          {
            std::lock_guard lock(mutex);
            if (auto it = handshake.find(lower); it != handshake.end()) txt += " \"handshake=" + std::to_string(it->second) + "\"";
          }
          return std::vector<ScriptedDns::Send>{{reply_to(q, LDNS_RCODE_NOERROR, {name + " 0 IN TXT " + txt}, {})}};
        }, 0, address) {}
  void set(unsigned client, std::int64_t when) {
    std::lock_guard lock(mutex);
    std::string name = wg::Key(key_n(client)).to_base32(true) + "._wireguard._udp.clients.example.";
    handshake[name] = when;
  }
};

inline std::int64_t now() { return static_cast<std::int64_t>(std::time(nullptr)); }

inline wg::Peer peer(const wg::Key& k, std::vector<const char*> allowed, std::optional<std::int64_t> handshake = std::nullopt) {
  wg::Peer p;
  p.public_key = k;
  for (const char* a : allowed) p.allowed_ips.push_back(*wg::Prefix::parse(a));
  if (handshake) p.last_handshake = wg::Clock::time_point(std::chrono::seconds(*handshake));
  return p;
}

struct RoamCase {
  Registry r2{0x7f000002};
  Registry r3{0x7f000003};
  FakeBackend backend;
  FakeRouter router;
  client::Options options;
  client::RoamOptions roam;
  client::RoamState state;

  RoamCase() {
    wg::Device clients;
    clients.name = "wgc0";
    clients.peers = {peer(key_n(1), {"10.100.0.1/32"}, now() - 100), peer(key_n(2), {"10.100.0.2/32"}, now() - 5),
                     peer(key_n(3), {"127.0.0.3/32"}, now() - 100)};
    backend.put(clients);
    wg::Device backbone;
    backbone.name = "wgb0";
    backbone.peers = {peer(server2, {"127.0.0.2/32"}), peer(server3, {"127.0.0.3/32", "192.0.2.128/25"})};
    backend.put(backbone);
    options.device = "wgc0";
    options.zone = "clients.example.";
    options.registries = {{*wg::IpAddress::parse("127.0.0.2"), r2.dns.port()}, {*wg::IpAddress::parse("127.0.0.3"), r3.dns.port()}};
    options.timeout = std::chrono::milliseconds(1000);
    options.retries = 1;
    roam.backbone = "wgb0";
  }
  client::RoamReport round() { return client::roam_once(options, roam, state, backend, router); }
  std::vector<std::string> allowed_of(const wg::Key& k) {
    std::vector<std::string> out;
    for (const auto& p : backend.get_device("wgb0").peers) {
      if (p.public_key == k) {
        for (const auto& a : p.allowed_ips) out.push_back(a.to_string());
      }
    }
    return out;
  }
  void local(unsigned client, std::int64_t when) {
    auto d = backend.get_device("wgc0");
    for (auto& p : d.peers) {
      if (p.public_key == key_n(client)) p.last_handshake = wg::Clock::time_point(std::chrono::seconds(when));
    }
    backend.put(d);
  }
};

using Strings = std::vector<std::string>;

}  // namespace wgsd::test
