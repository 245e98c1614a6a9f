// `pool` in the Corefile and in the refresher: --check errors, health from received bytes, fail open.
#include <catch2/catch.hpp>

#include "dns/fixtures.hpp"
#include "dns/responder.hpp"
#include "server/config_case.hpp"
#include "server/peer_cache.hpp"
#include "server/pool_health.hpp"
#include "support/dns_case.hpp"
#include "support/fake_backend.hpp"
#include "support/serving.hpp"

using namespace wgsd;
using namespace wgsd::test;
using namespace std::chrono_literals;

namespace {

using Both = std::pair<bool, bool>;

std::string corefile_with_pool(const std::string& pool_lines) {
  return ".:53 {\n bind 192.0.2.53\n wgsd example.com. wg0 {\n" + pool_lines + " }\n}\n";
}

server::PoolConfig pool_of(std::initializer_list<std::pair<const char*, std::uint16_t>> members, std::chrono::milliseconds max_age = 3s) {
  server::PoolConfig p;
  p.name = "vpn";
  p.max_age = max_age;
  for (const auto& [key, weight] : members) p.members.push_back({key_from_b64(key), weight});
  return p;
}

}  // namespace

TEST_CASE("pool: the Corefile's settings and defaults", "[corefile][pool]") {
  const auto config = server::parse_config(corefile_with_pool(std::string("  pool VPN {\n   member ") + key1 + " weight 5\n   member " + key2 +
                                                              "\n   max-age 3s\n   ttl 30\n   answers 2\n  }\n  pool eu.vpn {\n   member " + key3 +
                                                              "\n  }\n"),
                                           "Corefile");
  const auto& pools = config.blocks.at(0).wgsd.at(0).pools;
  REQUIRE(pools.size() == 2);
  CHECK(pools[0].name == "vpn");
  REQUIRE(pools[0].members.size() == 2);
  CHECK(pools[0].members[0].weight == 5);
  CHECK(pools[0].members[1].weight == 1);
  CHECK(pools[0].max_age == 3s);
  CHECK(pools[0].ttl == 30);
  CHECK(pools[0].answers == 2);
  CHECK(pools[0].where == "Corefile:4");
  CHECK(pools[1].name == "eu.vpn");
  CHECK(pools[1].max_age == 60s);
  CHECK(pools[1].ttl == 10);
  CHECK(pools[1].answers == 0);
}

TEST_CASE("pool: --check names the line and the bad value", "[corefile][pool]") {
  const std::string k1 = key1, k2 = key2;
  CHECK(corefile_error(corefile_with_pool("  pool vpn {\n   member xyz\n  }\n")) ==
        "Corefile:5: pool vpn: member 'xyz': not a WireGuard public key (44 characters of base64)");
  CHECK(corefile_error(corefile_with_pool("  pool vpn {\n   member " + k1 + "\n   member " + k1 + " weight 2\n  }\n")) ==
        "Corefile:6: pool vpn: member '" + k1 + "': given twice");
  CHECK(corefile_error(corefile_with_pool("  pool vpn {\n   member " + k1 + " weight 0\n  }\n")) ==
        "Corefile:5: pool vpn: member '" + k1 + "': weight must be a whole number from 1 to 65535, got '0'");
  CHECK(corefile_error(corefile_with_pool("  pool vpn {\n   member " + k1 + " weight 65536\n  }\n")) ==
        "Corefile:5: pool vpn: member '" + k1 + "': weight must be a whole number from 1 to 65535, got '65536'");
  CHECK(corefile_error(corefile_with_pool("  pool vpn {\n   member " + k1 + " heavy 2\n  }\n")) ==
        "Corefile:5: pool vpn: member '" + k1 + "': expected 'weight N' after the key, got 'heavy'");
  for (const char* name : {"_wireguard._udp", "_udp", "x._wireguard._udp", "_WireGuard._UDP"}) {
    CHECK(corefile_error(corefile_with_pool(std::string("  pool ") + name + " {\n   member " + k1 + "\n  }\n")) ==
          std::string("Corefile:4: pool ") + name + ": the name collides with the peers' names under _wireguard._udp.example.com.");
  }
  CHECK(corefile_error(corefile_with_pool("  pool vpn {\n   member " + k1 + "\n  }\n  pool VPN {\n   member " + k2 + "\n  }\n")) ==
        "Corefile:7: pool VPN: the name collides with the pool at Corefile:4");
  CHECK(corefile_error(corefile_with_pool("  pool ns1 {\n   member " + k1 + "\n  }\n")) ==
        "Corefile:4: pool ns1: the name collides with the name server ns1.example.com.");
  CHECK(corefile_error(corefile_with_pool("  pool vpn {\n  }\n")) == "Corefile:4: pool vpn: no member: expected at least one 'member PUBKEY'");
  CHECK(corefile_error(corefile_with_pool("  pool vpn.example.com. {\n   member " + k1 + "\n  }\n")) ==
        "Corefile:4: pool: NAME must be a name relative to the zone such as vpn, got 'vpn.example.com.'");
  CHECK(corefile_error(corefile_with_pool("  pool vpn {\n   member " + k1 + "\n   max-age soon\n  }\n")) ==
        "Corefile:6: pool vpn: max-age: expected a duration of at least 1s such as 3s or 1m, got 'soon'");
  CHECK(corefile_error(corefile_with_pool("  pool vpn {\n   member " + k1 + "\n   answers 0\n  }\n")) ==
        "Corefile:6: pool vpn: answers must be a whole number from 1 to 64, got '0'");
  CHECK(corefile_error(corefile_with_pool("  pool vpn {\n   member " + k1 + "\n   colour red\n  }\n")) ==
        "Corefile:6: unknown property 'colour' in pool block (member, max-age, ttl, answers)");
  CHECK(corefile_error(corefile_with_pool("  pool vpn\n")) == "Corefile:4: pool vpn: expected a block { member PUBKEY ... }");
}

TEST_CASE("pool health: healthy while the received bytes move, out after max-age, back with the first packet", "[server][pool]") {
  const auto pools = std::vector{pool_of({{key1, 1}, {key2, 1}})};
  wg::Device device = reference_device();  // key1 and key2 have endpoints; no handshake yet
  server::PoolHealth health;
  std::vector<std::string> log;
  const auto t = std::chrono::steady_clock::time_point(1000s);
  const wg::Clock::time_point wall(1700000000s);
  auto healthy = [&](std::chrono::seconds at) {
    const auto views = health.update(pools, device, t + at, wall + at, log);
    return Both{views.at(0).members.at(0).healthy, views.at(0).members.at(1).healthy};
  };
  // Never heard from: neither is healthy, and the pool fails open (once).
  CHECK(healthy(0s) == Both{false, false});
  CHECK(health.fail_open_episodes() == 1);
  REQUIRE(log.size() == 1);
  CHECK(log[0] == "pool vpn: no healthy member, answering every member (fail open)");
  CHECK(healthy(1s) == Both{false, false});
  CHECK(health.fail_open_episodes() == 1);  // the same episode: counted and logged once
  CHECK(log.size() == 1);

  device.peers[0].rx_bytes = 148;
  device.peers[1].rx_bytes = 92;
  CHECK(healthy(2s) == Both{true, true});
  CHECK(log.back() == "pool vpn: healthy members again, answering only those");
  device.peers[0].rx_bytes += 32;  // key1 keeps sending keepalives; key2 went quiet
  CHECK(healthy(4s) == Both{true, true});
  device.peers[0].rx_bytes += 32;
  CHECK(healthy(5s) == Both{true, true});   // 3 s since key2's last packet: still within max-age
  device.peers[0].rx_bytes += 32;
  CHECK(healthy(6s) == Both{true, false});  // past max-age
  device.peers[1].rx_bytes += 32;                // key2 is back
  CHECK(healthy(7s) == Both{true, true});
  // A member removed and added again on the registry starts its counter from zero: what it holds now arrived since.
  device.peers[1].rx_bytes = 0;
  CHECK_FALSE(healthy(20s).second);
  device.peers[1].rx_bytes = 60;
  CHECK(healthy(21s).second);
  // A member missing from the device is not healthy, and has no endpoint.
  device.peers.erase(device.peers.begin() + 1);
  const auto views = health.update(pools, device, t + 22s, wall + 22s, log);
  CHECK_FALSE(views[0].members[1].healthy);
  CHECK_FALSE(views[0].members[1].endpoint);
}

TEST_CASE("pool health at start-up: a recent handshake counts as a packet received then", "[server][pool]") {
  const auto pools = std::vector{pool_of({{key1, 1}, {key2, 1}})};
  wg::Device device = reference_device();
  const wg::Clock::time_point wall(1700000000s);
  device.peers[0].rx_bytes = 1000;
  device.peers[0].last_handshake = wall - 2s;
  device.peers[1].rx_bytes = 1000;
  device.peers[1].last_handshake = wall - 100s;
  server::PoolHealth health;
  std::vector<std::string> log;
  const auto t = std::chrono::steady_clock::time_point(1000s);
  auto views = health.update(pools, device, t, wall, log);
  CHECK(views[0].members[0].healthy);
  CHECK_FALSE(views[0].members[1].healthy);
  CHECK(log.empty());
  views = health.update(pools, device, t + 2s, wall + 2s, log);  // nothing more arrived: out after max-age
  CHECK_FALSE(views[0].members[0].healthy);
}

TEST_CASE("the refresher publishes a pool, rebuilds it only when health changes, and fails open", "[server][pool][refresh]") {
  auto backend = std::make_shared<FakeBackend>();
  wg::Device device = reference_device();
  device.peers[0].rx_bytes = 10;
  device.peers[0].last_handshake = wg::Clock::now();
  device.peers[1].rx_bytes = 10;
  device.peers[1].last_handshake = wg::Clock::now();
  backend->put(device);
  server::ZoneConfig zone = reference_zone_config(device.name);
  zone.pools = {pool_of({{key1, 1}, {key2, 1}}, 1s)};
  server::SnapshotHolder holder;
  std::vector<std::string> lines;
  server::Log log([&](const std::string& l) { lines.push_back(l); });
  server::PeerCache cache({zone}, {{0}}, {&holder}, sharing(*backend), log);
  cache.refresh(true);
  server::SnapshotHolder::Reader reader(holder);
  auto answers = [&](ldns_rr_type type) {
    auto p = parse_response(dns::respond(make_query("vpn.example.com.", type), reader.current(), {}));
    REQUIRE(p);
    return section(p.get(), LDNS_SECTION_ANSWER);
  };
  CHECK(answers(LDNS_RR_TYPE_A) == rrs({"vpn.example.com. 10 IN A 198.51.100.7"}));
  CHECK(answers(LDNS_RR_TYPE_AAAA) == rrs({"vpn.example.com. 10 IN AAAA 2001:db8::7"}));
  const auto first = reader.current().zones[0];
  device.peers[0].rx_bytes += 32;
  device.peers[1].rx_bytes += 32;
  backend->put(device);
  cache.refresh(true);
  CHECK(reader.current().zones[0] == first);  // both still healthy: nothing rebuilt

  // key2 goes quiet for longer than max-age: gone from the answers.
  for (int i = 0; i < 15; ++i) {
    std::this_thread::sleep_for(100ms);
    device.peers[0].rx_bytes += 32;
    backend->put(device);
    cache.refresh(true);
  }
  CHECK(answers(LDNS_RR_TYPE_AAAA).empty());
  CHECK(answers(LDNS_RR_TYPE_A).size() == 1);
  const auto& members = reader.current().zones[0]->pools.at(0).members;
  CHECK((members.at(0).healthy && !members.at(1).healthy));

  // Both quiet: fail open, logged once.
  std::this_thread::sleep_for(1100ms);
  cache.refresh(true);
  cache.refresh(true);
  CHECK(answers(LDNS_RR_TYPE_A).size() == 1);
  CHECK(answers(LDNS_RR_TYPE_AAAA).size() == 1);
  CHECK(reader.current().zones[0]->pools.at(0).fail_open);
  CHECK(reader.current().zones[0]->pools.at(0).fail_open_episodes == 1);
  CHECK(std::count_if(lines.begin(), lines.end(), [](const std::string& l) { return l.find("fail open") != std::string::npos; }) == 1);
}
